#!/usr/bin/env bash
# Runs moto's EC2 tests (a checkout of github.com/getmoto/moto at $MOTO, installed in the
# Python that runs this, with freezegun) against the real Fort binary: moto's mock is
# disabled and every test gets a fresh `fort server`. Not part of CI (it needs moto's source).
#   FORT_BIN=target/debug/fort MOTO=/path/to/moto scripts/moto/run.sh [pytest args]
#   python3 scripts/moto/classify.py "${JUNIT:-/tmp/moto.xml}" x   # counts per file, failures by message
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${FORT_BIN:?set FORT_BIN to a fort binary}" "${MOTO:?set MOTO to a moto checkout}"
FORT_BIN="$(realpath "$FORT_BIN")"; export FORT_BIN
cd "$MOTO"
export PYTHONPATH="$here"
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
    for t in $(cat "$here/suites.txt"); do args+=("tests/test_ec2/$t.py"); done
    args+=(-n 2)
fi
exec "${PYTHON:-python3}" -m pytest -p fortmoto -p no:cacheprovider -q --no-header -rfE -o addopts= \
    --junitxml="${JUNIT:-/tmp/moto.xml}" "${args[@]}"
