#!/usr/bin/env bash
# Runs integration targets of Ansible's amazon.aws collection (github.com/ansible-collections/
# amazon.aws, tests/integration/targets: written against, and run on, real AWS) against one
# `fort server --dataplane off`, each target's role played as ansible-test would play it,
# with the endpoint given as the modules' AWS_URL. Not part of CI (it needs the checkout).
#   FORT_BIN=target/debug/fort AMAZON_AWS=/path/to/amazon.aws ANSIBLE_UTILS=/path/to/ansible.utils \
#     COMMUNITY_GENERAL=/path/to/community.general COMMUNITY_AWS=/path/to/community.aws \
#     scripts/ansible/run.sh [target...]
# Needs ansible-core (2.17+), boto3, netaddr and jmespath in the Python that runs
# ansible-playbook, the collections whose filters the targets use: ansible.utils and
# community.general, and community.aws, whose modules some use (its customer gateways)
# (github.com/ansible-collections/…). A target is looked for in amazon.aws, then in
# community.aws (its own targets).
set -uo pipefail
: "${FORT_BIN:?set FORT_BIN to a fort binary}" "${AMAZON_AWS:?set AMAZON_AWS to an amazon.aws checkout}"
: "${ANSIBLE_UTILS:?set ANSIBLE_UTILS to an ansible.utils checkout}"
: "${COMMUNITY_GENERAL:?set COMMUNITY_GENERAL to a community.general checkout}"
: "${COMMUNITY_AWS:?set COMMUNITY_AWS to a community.aws checkout}"
FORT_BIN="$(realpath "$FORT_BIN")"
AMAZON_AWS="$(realpath "$AMAZON_AWS")"
here="$(cd "$(dirname "$0")" && pwd)"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < "$here/targets.txt"
data="$(mktemp -d /tmp/fort-ansible.XXXXXX)"
cat > "$data/credentials" <<'CREDS'
[default]
aws_access_key_id = AKIDANSIBLETEST00001
aws_secret_access_key = ansible-secret
aws_account_id = 123456789012
CREDS
port="${FORT_PORT:-18766}"
"$FORT_BIN" server --listen "127.0.0.1:$port" --mapping-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$data" --credentials "$data/credentials" --dataplane off >"$data/server.log" 2>&1 &
fort=$!
trap 'kill "$fort" 2>/dev/null; wait "$fort" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
# the collection where Ansible looks for it
mkdir -p "$data/collections/ansible_collections/amazon"
mkdir -p "$data/collections/ansible_collections/ansible" "$data/collections/ansible_collections/community"
ln -s "$AMAZON_AWS" "$data/collections/ansible_collections/amazon/aws"
ln -s "$(realpath "$ANSIBLE_UTILS")" "$data/collections/ansible_collections/ansible/utils"
ln -s "$(realpath "$COMMUNITY_GENERAL")" "$data/collections/ansible_collections/community/general"
ln -s "$(realpath "$COMMUNITY_AWS")" "$data/collections/ansible_collections/community/aws"
pass=0; fail=0
for t in "${targets[@]}"; do
    roles=""
    for c in "$AMAZON_AWS" "$(realpath "$COMMUNITY_AWS")"; do
        [ -f "$c/tests/integration/targets/$t/tasks/main.yml" ] && { roles="$c/tests/integration/targets"; break; }
    done
    [ -n "$roles" ] || { echo "SKIP $t (no tasks/main.yml)"; continue; }
    prefix="ansible-test-$RANDOM"
    cat > "$data/play.yml" <<PLAY
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    aws_access_key: AKIDANSIBLETEST00001
    aws_secret_key: ansible-secret
    aws_region: us-east-1
    ec2_region: us-east-1
    ansible_python_interpreter: $(command -v python3)
    resource_prefix: $prefix
    tiny_prefix: ${prefix: -8}
  roles:
    - $t
PLAY
    log="$data/$t.log"
    # (ansible-test's AWS setup turns on the botocore logs the targets check actions in)
    # (site/: the log those actions are read from names EC2's URL; see sitecustomize.py)
    if env -u AWS_PROFILE AWS_URL="http://127.0.0.1:$port" ANSIBLE_DEBUG_BOTOCORE_LOGS=True \
        PYTHONPATH="$here/site${PYTHONPATH:+:$PYTHONPATH}" \
        ANSIBLE_COLLECTIONS_PATH="$data/collections" \
        ANSIBLE_ROLES_PATH="$roles" \
        ANSIBLE_PYTHON_INTERPRETER="$(command -v python3)" \
        timeout "${TARGET_TIMEOUT:-1200}" ansible-playbook -i localhost, "$data/play.yml" >"$log" 2>&1; then
        echo "PASS $t"; pass=$((pass + 1))
    else
        echo "FAIL $t"; fail=$((fail + 1))
        # the failures the play did not expect (`...ignoring` follows the expected ones)
        awk '/^(fatal|failed):/ { if (held) print held; held = $0; next }
             /^\.\.\.ignoring/ { held = ""; next }
             held { print held; held = "" }
             END { if (held) print held }' "$log" | cut -c1-${WIDTH:-400} | head -"${SHOW:-3}" | sed 's/^/    /'
        cp "$log" "/tmp/ansible-$t.log"
    fi
done
echo "passed $pass, failed $fail"
