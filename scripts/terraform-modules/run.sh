#!/usr/bin/env bash
# Runs the examples of terraform-aws-modules/terraform-aws-vpc and terraform-aws-security-group
# (checkouts at $VPC_MODULE and $SG_MODULE) and Fort's own configs here against a fresh
# `fort server --dataplane off` each: init, apply, plan -detailed-exitcode, destroy, sweep.
# Prints a pass/fail table; logs per example under $OUT (default /tmp/fort-tfmodules).
# Not part of CI (it needs the module checkouts). Terraform from PATH, the hashicorp/aws
# provider from $FORT_TF_PLUGINS (default /opt/tf-plugins); nothing is fetched.
#   FORT_BIN=target/debug/fort VPC_MODULE=/path/terraform-aws-vpc \
#     SG_MODULE=/path/terraform-aws-security-group scripts/terraform-modules/run.sh [vpc/simple ...]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${FORT_BIN:?set FORT_BIN to a fort binary}"
FORT_BIN="$(realpath "$FORT_BIN")"; export FORT_BIN
exec "${PYTHON:-python3}" "$here/tfmodules.py" "$@"
