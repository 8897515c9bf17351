#!/usr/bin/env bash
# Runs LocalStack's EC2 tests (a checkout of github.com/localstack/localstack at $LOCALSTACK,
# with a Python at $PYTHON that has `localstack-core` and the checkout's requirements-test.txt
# installed) against one `fort server --dataplane off`, LocalStack's snapshots (recorded
# against AWS) checked as they are in LocalStack's own CI. Not part of CI (it needs the checkout).
#   FORT_BIN=target/debug/fort LOCALSTACK=/path/to/localstack PYTHON=/path/to/venv/bin/python \
#     scripts/localstack/run.sh [pytest args]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${FORT_BIN:?set FORT_BIN to a fort binary}" "${LOCALSTACK:?set LOCALSTACK to a localstack checkout}"
FORT_BIN="$(realpath "$FORT_BIN")"
data="$(mktemp -d /tmp/fort-localstack.XXXXXX)"
# LocalStack's test credentials: the primary account and the secondary one its fixtures use.
cat > "$data/credentials" <<'CREDS'
[default]
aws_access_key_id = test
aws_secret_access_key = test
aws_account_id = 000000000000

[secondary]
aws_access_key_id = 000000000002
aws_secret_access_key = test2
aws_account_id = 000000000002
CREDS
port="${FORT_PORT:-18566}"
"$FORT_BIN" server --listen "127.0.0.1:$port" --mapping-listen "127.0.0.1:$((port + 1))" \
    --data-dir "$data" --credentials "$data/credentials" --dataplane off >"$data/server.log" 2>&1 &
fort=$!
trap 'kill "$fort" 2>/dev/null; wait "$fort" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(tests/aws/services/ec2/test_ec2.py)
cd "$LOCALSTACK"
env -u AWS_PROFILE -u AWS_ENDPOINT_URL TEST_SKIP_LOCALSTACK_START=1 \
    TEST_AWS_ENDPOINT_URL="http://127.0.0.1:$port" PYTHONPATH="$here" \
    "${PYTHON:-python3}" -m pytest -p fortls -p no:cacheprovider -q --no-header -rfE \
    -o log_level=WARNING --junitxml="${JUNIT:-/tmp/localstack.xml}" "${args[@]}"
