"""Runs the examples of the community Terraform modules people use most for VPCs
(terraform-aws-modules/terraform-aws-vpc and terraform-aws-security-group) against a real
`fort server --dataplane off`, unchanged but for an override file that points the provider at
Fort (and, where an example needs a registry module or a provider not in the mirror, drops that
part, as PATCHES says): for each, init, apply, plan with
`-detailed-exitcode` (0: no drift), destroy, and a sweep that finds nothing left. Prints a
pass/fail table. Not part of CI: it needs checkouts of the modules (see README.md here).

  FORT_BIN=target/debug/fort VPC_MODULE=/path/to/terraform-aws-vpc \
    SG_MODULE=/path/to/terraform-aws-security-group python3 tfmodules.py [vpc/simple ...]
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "terraform"))
import boto3  # noqa: E402
import test_terraform as tt  # noqa: E402  (Fort, inventory, the provider mirror)

OUT = os.environ.get("OUT", "/tmp/fort-tfmodules")

# The examples run, by module; the others are left out for the reason given.
EXAMPLES = {
    "vpc": ["simple", "complete", "ipv6-dualstack", "ipv6-only", "network-acls",
            "secondary-cidr-blocks", "separate-route-tables", "manage-default-vpc",
            "vpc-flow-logs", "block-public-access",
            # the same examples' names in the module's v3 releases
            "complete-vpc", "simple-vpc", "ipv6", "vpc-separate-private-route-tables"],
    "sg": ["complete", "computed", "disabled", "dynamic", "http", "rules-only"],
}
# Fort's own configurations (configs/ here) that call the modules with the options their
# examples leave out: run as fort/NAME with both checkouts.
CONFIGS = os.path.join(HERE, "configs")
EXAMPLES["fort"] = sorted(os.listdir(CONFIGS))
LEFT_OUT = {
    "vpc/outpost": "needs an AWS Outpost (data \"aws_outposts_outpost\")",
    "vpc/ipam": "needs VPC IP Address Manager, which Fort does not serve",
    "vpc/issues": "fails at plan in the module itself (issue 46's VPC has database subnets and no "
                  "private ones: coalescelist() of two empty lists), whatever the endpoint",
}

def _drop_block(text, header):
    """`text` without the top-level block that starts with `header` (to its closing brace)."""
    start = text.find(header)
    if start < 0:
        return text
    depth, i = 0, text.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
        if depth == 0:
            return text[:start] + text[i:]


def _flow_logs(example_dir):
    """vpc-flow-logs: the S3 bucket comes from a registry module (and S3 bucket policies, which
    Fort does not serve) and its name from hashicorp/random (not in the mirror): the two
    VPCs that log to S3 and the bucket are dropped; the three that log to CloudWatch Logs stay."""
    path = os.path.join(example_dir, "main.tf")
    with open(path) as f:
        text = f.read()
    dropped = ("vpc_with_flow_logs_s3_bucket", "vpc_with_flow_logs_s3_bucket_parquet", "s3_bucket")
    for header in [f'module "{m}"' for m in dropped] + [
            'data "aws_iam_policy_document" "flow_log_s3"', 'resource "random_pet" "this"']:
        text = _drop_block(text, header + " {")
    text = text.replace("${random_pet.this.id}", "fort")
    with open(path, "w") as f:
        f.write(text)
    # Its two VPCs with a made log group name the same group (prefix and suffix "my-test"
    # both): the second apply of CreateLogGroup fails against AWS as here
    # (ResourceAlreadyExistsException), so the second gets a suffix of its own.
    if 'module "vpc_with_flow_logs_cloudwatch_logs_prefix" {' in text:  # v5 only
        with open(os.path.join(example_dir, "fort_flow_logs_override.tf"), "w") as f:
            f.write('module "vpc_with_flow_logs_cloudwatch_logs_prefix" {\n'
                    '  flow_log_cloudwatch_log_group_name_suffix = "my-test-prefix"\n}\n')
    path = os.path.join(example_dir, "versions.tf")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(_drop_block(text, "random = {"))
    path = os.path.join(example_dir, "outputs.tf")
    with open(path) as f:
        blocks = re.split(r"(?m)^(?=output )", f.read())
    with open(path, "w") as f:
        f.write("".join(b for b in blocks
                        if not any(f"module.{m}." in b for m in dropped)))


def _sg_complete(example_dir):
    """sg/complete takes its VPC from the registry's terraform-aws-modules/vpc/aws: the local
    checkout of that module (VPC_MODULE) instead."""
    path = os.path.join(example_dir, "main.tf")
    with open(path) as f:
        text = f.read()
    text = re.sub(r'source\s*=\s*"terraform-aws-modules/vpc/aws"\n\s*version\s*=\s*"[^"]*"',
                  'source = "../../../vpc"', text)
    with open(path, "w") as f:
        f.write(text)


PATCHES = {"vpc/vpc-flow-logs": _flow_logs, "sg/complete": _sg_complete}

PROVIDER_OVERRIDE = """\
# Fort's endpoint and credentials (an override file: the example's own files are unchanged).
provider "aws" {{
  access_key              = "{access_key}"
  secret_key              = "{secret_key}"
  skip_metadata_api_check = true
  s3_use_path_style       = true
  endpoints {{
    ec2         = "{endpoint}"
    sts         = "{endpoint}"
    iam         = "{endpoint}"
    logs        = "{endpoint}"
    rds         = "{endpoint}"
    elasticache = "{endpoint}"
    redshift    = "{endpoint}"
    s3          = "{endpoint}"
    route53     = "{endpoint}"
  }}
}}
"""


def _cli_config(path):
    with open(path, "w") as f:
        f.write('provider_installation {\n'
                f'  filesystem_mirror {{\n    path    = "{tt.PLUGINS}"\n'
                '    include = ["registry.terraform.io/*/*"]\n  }\n'
                '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n')


def others(fort):
    """What the EC2 sweep does not see: log groups and the services' subnet groups."""
    def client(service):
        return boto3.client(service, endpoint_url=fort.endpoint, region_name=fort.region,
                            aws_access_key_id=tt.ACCESS_KEY, aws_secret_access_key=tt.SECRET_KEY)
    return {
        "log group": {g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]},
        "db subnet group": {g["DBSubnetGroupName"] for g in
                            client("rds").describe_db_subnet_groups()["DBSubnetGroups"]},
        "cache subnet group": {g["CacheSubnetGroupName"] for g in
                               client("elasticache").describe_cache_subnet_groups()["CacheSubnetGroups"]},
        "cluster subnet group": {g["ClusterSubnetGroupName"] for g in
                                 client("redshift").describe_cluster_subnet_groups()["ClusterSubnetGroups"]},
    }


def run(name, modules, keep):
    """One example: returns {step: "ok"/"FAIL"/"-"} and the path of its logs."""
    module, example = name.split("/")
    tmp = tempfile.mkdtemp(prefix="fort-tfmod-")
    logs = os.path.join(keep, name.replace("/", "-"))
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    result = {"apply": "-", "plan": "-", "destroy": "-", "clean": "-"}
    for m, src in dict(modules, fort=HERE).items():
        shutil.copytree(src if m != "fort" else CONFIGS,
                        os.path.join(tmp, m, "examples") if m == "fort" else os.path.join(tmp, m),
                        ignore=shutil.ignore_patterns(".git", ".terraform*", "*.tfstate*"))
    wd = os.path.join(tmp, module, "examples", example)
    if name in PATCHES:
        PATCHES[name](wd)
    data = os.path.join(tmp, "fort-data")
    os.makedirs(data)
    fort = tt.Fort(data)
    fort.region = "eu-west-1"  # the examples' region
    fort.ec2 = boto3.client("ec2", endpoint_url=fort.endpoint, region_name=fort.region,
                            aws_access_key_id=tt.ACCESS_KEY, aws_secret_access_key=tt.SECRET_KEY)
    with open(os.path.join(wd, "fort_override.tf"), "w") as f:
        f.write(PROVIDER_OVERRIDE.format(access_key=tt.ACCESS_KEY, secret_key=tt.SECRET_KEY,
                                         endpoint=fort.endpoint))
    shutil.copy(os.path.join(wd, "fort_override.tf"), logs)
    cli = os.path.join(tmp, "terraformrc")
    _cli_config(cli)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update({"HOME": tmp, "TF_CLI_CONFIG_FILE": cli, "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})

    def tf(step, *args, ok=(0,)):
        e = dict(env, TF_LOG="DEBUG", TF_LOG_PATH=os.path.join(logs, f"{step}.tflog"))
        p = subprocess.run([tt.TERRAFORM, *args, "-no-color"], cwd=wd, env=e,
                           capture_output=True, text=True, timeout=1800)
        with open(os.path.join(logs, f"{step}.out"), "w") as f:
            f.write(p.stdout + "\n--- stderr ---\n" + p.stderr)
        if p.returncode not in ok:
            with open(os.path.join(logs, f"{step}.failed"), "w") as f:
                f.write(tt._excerpt(os.path.join(logs, f"{step}.tflog"), limit=30) + "\n")
        return p.returncode

    try:
        before = tt.inventory(fort.ec2, fort.iam)
        before.update(others(fort))
        if tf("init", "init", "-input=false") != 0:
            result["apply"] = "FAIL(init)"
            return result, logs
        rc = tf("apply", "apply", "-auto-approve", "-input=false")
        result["apply"] = "ok" if rc == 0 else "FAIL"
        if rc == 0:
            rc = tf("plan", "plan", "-detailed-exitcode", "-input=false", ok=(0,))
            result["plan"] = {0: "ok", 2: "DRIFT"}.get(rc, "FAIL")
        rc = tf("destroy", "destroy", "-auto-approve", "-input=false")
        result["destroy"] = "ok" if rc == 0 else "FAIL"
        after = tt.inventory(fort.ec2, fort.iam)
        after.update(others(fort))
        left = {k: sorted(v - before.get(k, set())) for k, v in after.items()}
        left = {k: v for k, v in left.items() if v}
        result["clean"] = "ok" if not left else "LEFT"
        if left:
            with open(os.path.join(logs, "left.txt"), "w") as f:
                f.write(repr(left) + "\n")
        return result, logs
    finally:
        fort.stop()
        shutil.copy(fort.log_path, os.path.join(logs, "server.log"))
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    modules = {}
    if os.environ.get("VPC_MODULE"):
        modules["vpc"] = os.path.realpath(os.environ["VPC_MODULE"])
    if os.environ.get("SG_MODULE"):
        modules["sg"] = os.path.realpath(os.environ["SG_MODULE"])
    missing = tt._missing()
    if missing or not modules:
        sys.exit(missing or "set VPC_MODULE and/or SG_MODULE to checkouts of the modules")
    names = sys.argv[1:] or [f"{m}/{e}" for m in modules for e in EXAMPLES[m]
                             if os.path.isdir(os.path.join(modules[m], "examples", e))]
    if not sys.argv[1:] and set(modules) == {"vpc", "sg"}:
        names += [f"fort/{e}" for e in EXAMPLES["fort"]]
    if any(n.startswith(("sg/", "fort/")) for n in names) and set(modules) != {"vpc", "sg"}:
        sys.exit("sg/ and fort/ need both VPC_MODULE and SG_MODULE (sg/complete builds its VPC "
                 "with the vpc module)")
    os.makedirs(OUT, exist_ok=True)
    rows, failed = [], 0
    for name in names:
        t0 = time.time()
        r, logs = run(name, modules, OUT)
        ok = all(v == "ok" for v in r.values())
        failed += not ok
        rows.append((name, r, time.time() - t0))
        print(f"{name:28} apply={r['apply']:6} plan={r['plan']:6} destroy={r['destroy']:6} "
              f"clean={r['clean']:5} {time.time() - t0:5.0f}s  {'' if ok else logs}", flush=True)
    print("\n| example | apply | plan (no drift) | destroy | nothing left |\n|---|---|---|---|---|")
    for name, r, _ in rows:
        print(f"| {name} | {r['apply']} | {r['plan']} | {r['destroy']} | {r['clean']} |")
    for name, why in LEFT_OUT.items():
        print(f"| {name} | left out: {why} | | | |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
