#!/usr/bin/env python3
"""Applies the provider's acceptance-test configurations (extract.py's cases.json) against one
`fort server --dataplane off`, the way the provider's test harness does: each step applied in
order and followed by a plan that must be empty (unless the step expects a non-empty plan),
a step with ExpectError applied and expected to fail, then one destroy.

    run.py CASES_DIR [NAME_REGEX]

Environment: FORT_BIN (the fort binary), TERRAFORM (default: terraform on PATH),
FORT_TF_PLUGINS (the provider's filesystem mirror, default /opt/tf-plugins), FIRST (a file
of case names to run before the others, e.g. the last run's failures), JOBS (terraform
runs at once, default 2), STEP_TIMEOUT (seconds a terraform command may take, default 900),
BATCH (cases applied together as modules of one workspace, default 16).
Writes CASES_DIR/results.json and prints a table and the failures grouped by cause.
"""

import concurrent.futures
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FORT_BIN = os.environ.get("FORT_BIN", os.path.join(ROOT, "target", "debug", "fort"))
TERRAFORM = os.environ.get("TERRAFORM") or shutil.which("terraform")
PLUGINS = os.environ.get("FORT_TF_PLUGINS", "/opt/tf-plugins")
JOBS = int(os.environ.get("JOBS", "2"))
TIMEOUT = int(os.environ.get("STEP_TIMEOUT", "900"))
BATCH = int(os.environ.get("BATCH", "16"))  # cases applied together, each as a module
ACCESS_KEY = "AKIAFORTTFTEST000001"
SECRET_KEY = "fort-terraform-secret-0000000000000000000"
ACCOUNT = "123456789012"

PROVIDER = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "%s"
  secret_key                  = "%s"
  skip_metadata_api_check     = true
  endpoints {
    ec2     = "%s"
    sts     = "%s"
    iam     = "%s"
    route53 = "%s"
    logs    = "%s"
    ssm     = "%s"
  }
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fort(data):
    creds = os.path.join(data, "credentials")
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {ACCESS_KEY}\n"
                f"aws_secret_access_key = {SECRET_KEY}\naws_account_id = {ACCOUNT}\n")
    port = free_port()
    log = open(os.path.join(data, "server.log"), "ab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.setdefault("FORT_LOG", "info,fort_ec2_api=debug")
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [FORT_BIN, "server", "--listen", f"127.0.0.1:{port}", "--mapping-listen", "127.0.0.1:0",
         "--data-dir", data, "--credentials", creds, "--dataplane", "off"],
        stdout=log, stderr=log, env=env)
    deadline = time.time() + 30
    while True:
        if proc.poll() is not None:
            sys.exit(f"fort exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.time() > deadline:
                sys.exit("fort did not start listening")
            time.sleep(0.05)


class Runner:
    def __init__(self, tmp, endpoint, cases_dir):
        self.tmp, self.endpoint, self.cases_dir = tmp, endpoint, cases_dir
        self.cli = os.path.join(tmp, "terraformrc")
        with open(self.cli, "w") as f:
            f.write('provider_installation {\n'
                    f'  filesystem_mirror {{\n    path    = "{PLUGINS}"\n'
                    '    include = ["registry.terraform.io/*/*"]\n  }\n'
                    '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n')
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        self.env.update({"HOME": tmp, "TF_CLI_CONFIG_FILE": self.cli, "TF_IN_AUTOMATION": "1",
                         "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
                         "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                         "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
        # one `terraform init`; every case links its .terraform to it
        self.base = os.path.join(tmp, "base")
        os.makedirs(self.base)
        self.write_provider(self.base)
        p = self.tf(self.base, "init", "-input=false")
        if p.returncode:
            sys.exit(f"terraform init failed:\n{p.stdout}\n{p.stderr}")

    def write_provider(self, d):
        e = self.endpoint
        with open(os.path.join(d, "provider.tf"), "w") as f:
            f.write(PROVIDER % (ACCESS_KEY, SECRET_KEY, e, e, e, e, e, e))

    def tf(self, d, *args):
        try:
            return subprocess.run([TERRAFORM, *args, "-no-color"], cwd=d, env=self.env,
                                  capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(args, 124, (e.stdout or b"").decode(errors="replace")
                                               if isinstance(e.stdout, bytes) else (e.stdout or ""),
                                               f"Error: timed out after {TIMEOUT}s")

    def run_batch(self, batch_no, cases):
        """Each case a module of one workspace: step k of every case applied together (a case
        with fewer steps keeps its last), each apply followed by a plan, then one destroy."""
        d = os.path.join(self.tmp, f"batch{batch_no:03d}")
        os.makedirs(d)
        self.write_provider(d)
        os.makedirs(os.path.join(d, ".terraform"))
        os.symlink(os.path.join(self.base, ".terraform", "providers"),
                   os.path.join(d, ".terraform", "providers"))
        shutil.copy(os.path.join(self.base, ".terraform.lock.hcl"), d)
        # the package's test-fixtures/ (user data files), which configurations name relative
        # to the working directory
        fixtures = os.path.join(self.cases_dir, "test-fixtures")
        if os.path.isdir(fixtures):
            os.symlink(fixtures, os.path.join(d, "test-fixtures"))
        mods = {f"t{i:02d}": c for i, c in enumerate(cases)}
        # a case with ExpectError steps is alone in its batch and runs every step
        errors = len(cases) == 1 and any(st["expect_error"] for st in cases[0]["steps"])
        steps_of = (lambda c: c["steps"]) if errors else plain_steps
        results = {m: {"name": c["name"], "file": c["file"], "status": "pass", "phase": None,
                       "detail": "", "steps": len(steps_of(c)), "batch": batch_no}
                   for m, c in mods.items()}
        with open(os.path.join(d, "modules.tf"), "w") as f:
            for m in mods:
                f.write(f'module "{m}" {{\n  source = "./{m}"\n}}\n')
        t0 = time.time()
        dropped = set()  # modules that failed: emptied, so the others' steps still apply
        for k in range(max(len(steps_of(c)) for c in cases)):
            for m, c in mods.items():
                steps = steps_of(c)
                if k < len(steps) or k == 0:
                    os.makedirs(os.path.join(d, m), exist_ok=True)
                    with open(os.path.join(d, m, "main.tf"), "w") as f:
                        f.write("" if m in dropped else steps[min(k, len(steps) - 1)]["config"])
            if k == 0:
                p = self.tf(d, "init", "-input=false")  # modules only: providers are linked
                if p.returncode:
                    for r in results.values():
                        r.update(status="fail", phase="init", detail=p.stderr[-3000:])
                    break
            p = self.tf(d, "apply", "-auto-approve", "-input=false")
            if errors and cases[0]["steps"][k]["expect_error"]:
                expect_error(results["t00"], cases[0]["steps"][k]["expect_error"], p, k + 1)
                # what is in the state stays the last good step's (or nothing)
                good = [st for st in cases[0]["steps"][:k] if not st["expect_error"]]
                with open(os.path.join(d, "t00", "main.tf"), "w") as f:
                    f.write(good[-1]["config"] if good else "")
                continue
            # An error found while planning (a data source that finds nothing, a value the
            # provider rejects) stops the whole apply: drop the modules it names and apply
            # again, so the others are not counted as passing without being applied.
            for _ in range(len(mods)):
                if not p.returncode:
                    break
                before = {m for m, r in results.items() if r["status"] != "pass"}
                blame(results, p.stderr, f"step {k + 1} apply")
                failed = {m for m, r in results.items() if r["status"] != "pass"}
                if failed == before or failed == set(mods):
                    break
                for m in failed - dropped:
                    with open(os.path.join(d, m, "main.tf"), "w") as f:
                        f.write("")
                dropped |= failed
                p = self.tf(d, "apply", "-auto-approve", "-input=false")
            p = self.tf(d, "plan", "-detailed-exitcode", "-input=false")
            if p.returncode == 2:
                for m, changes in plan_changes(p.stdout).items():
                    steps = steps_of(mods[m]) if m in mods else []
                    if m in results and results[m]["status"] == "pass" and \
                            not steps[min(k, len(steps) - 1)]["expect_non_empty_plan"]:
                        results[m].update(status="fail", phase=f"step {k + 1} plan",
                                          detail="\n".join(changes))
            elif p.returncode:
                blame(results, p.stderr, f"step {k + 1} plan")
        p = self.tf(d, "destroy", "-auto-approve", "-input=false")
        if p.returncode:
            blame(results, p.stderr, "destroy")
        secs = round(time.time() - t0, 1)
        for r in results.values():
            r["seconds"] = secs
        shutil.rmtree(d, ignore_errors=True)
        return list(results.values())


def plain_steps(case):
    """The steps a batch of several cases applies (not those with ExpectError)."""
    return [s for s in case["steps"] if not s["expect_error"]]


def expect_error(r, expect, p, n):
    """An ExpectError step: the apply must fail with an error the test's pattern matches."""
    if r["status"] != "pass":
        return
    if p.returncode == 0:
        r.update(status="fail", phase=f"step {n} expect-error",
                 detail=f"apply succeeded; the test expects {expect}")
        return
    m = re.search(r'MustCompile \( ("(?:[^"\\]|\\.)*"|`[^`]*`) \)', expect)
    text = re.sub(r"\s+", " ", p.stderr.replace("│", " "))
    if m:
        pat = json.loads(m.group(1)) if m.group(1)[0] == '"' else m.group(1)[1:-1]
        pat = re.sub(r" ", r"\\s+", pat.replace("\\b", ""))
        if not re.search(pat, text):
            r.update(status="fail", phase=f"step {n} expect-error",
                     detail=f"expected /{pat}/, got: {first_error(p.stderr)}")


def blame(results, stderr, phase):
    """Splits terraform's errors by the module they name; unattributed ones go to all."""
    blocks = re.split(r"(?m)^(?:╷\n│ )?Error: ", stderr.replace("│ ", ""))
    hit = False
    for block in blocks[1:]:
        m = re.search(r"module\.(t\d+)", block)
        if not m:
            continue
        hit = True
        r = results.get(m.group(1))
        if r and r["status"] == "pass":
            r.update(status="fail", phase=phase, detail="Error: " + block[:3000])
    if not hit:
        for r in results.values():
            if r["status"] == "pass":
                r.update(status="fail", phase=phase, detail=stderr[-3000:])


def first_error(text):
    m = re.search(r"Error: (.*)", text)
    rest = text[m.end():m.end() + 600] if m else ""
    api = re.search(r"api error (\w+): ([^\n]*)", rest)
    return (m.group(1) if m else text.strip()[:200]) + (f" [{api.group(1)}: {api.group(2)[:160]}]" if api else "")


def plan_changes(stdout):
    """What the plan wants, by module: each resource and its changed attributes."""
    out, mod = {}, None
    for ln in stdout.splitlines():
        m = re.match(r"\s*# module\.(t\d+)\.(\S+) (will be|must be)(.*)", ln)
        if m:
            mod = m.group(1)
            out.setdefault(mod, []).append(f"{m.group(2)} {m.group(3)}{m.group(4)}")
            continue
        if re.match(r"^(Plan:|Changes to Outputs)", ln):
            mod = None
        m = re.match(r"\s*([~+-]|-/\+) (\S+)\s*(=|\{|\[)?(.*)", ln)
        if m and mod and len(out[mod]) < 40:
            out[mod].append(f"  {m.group(1)} {m.group(2)} {m.group(3) or ''}{m.group(4).strip()[:140]}")
    return out


def cause(r):
    """A failure's group: the error or the drifting attributes, without ids and names."""
    if r["phase"].endswith("plan"):
        attrs = sorted({re.sub(r"\[\d+\]|\.\d+", "", ln.split()[1]).strip('"')
                        for ln in r["detail"].splitlines()
                        if ln.startswith("  ") and not ln.startswith("   ")})
        kinds = sorted({re.sub(r"^([\w]+)\..*", r"\1", ln.split()[0]) for ln in r["detail"].splitlines()
                        if not ln.startswith(" ") and ln.strip()})
        return f"plan not empty: {','.join(kinds)} {','.join(attrs)}"
    if "expect-error" in r["phase"]:
        if r["detail"].startswith("apply succeeded"):
            return "apply succeeded where AWS fails"
        return "a different error than the test expects: " + re.sub(r"^expected /.*?/, got: ", "", r["detail"])[:160]
    text = r["detail"]
    err = first_error(text)
    err = re.sub(r"\b(vpc|subnet|sg|sgr|rtb|acl|igw|eigw|nat|eni|eipalloc|eipassoc|i|lt|pcx|dopt|"
                 r"vpce|key|r|rtbassoc|aclassoc|pl|ami|vol|subnet-cidr-assoc|vpc-cidr-assoc)-[0-9a-f]+",
                 r"\1-…", err)
    err = re.sub(r"tf-acc-test-\d+|\d+\.\d+\.\d+\.\d+(/\d+)?|\(\d+\)|RequestID: \S+|"
                 r"https://\S+", "…", err)
    return f"{r['phase'].split()[-1]}: {err[:220]}"


# Configurations that manage a region-wide singleton (the default VPC and its subnets, the
# default DHCP options) each get a workspace of their own.
EXCLUSIVE = re.compile(r'"aws_default_(vpc|subnet|vpc_dhcp_options)"|"aws_ec2_serial_console_access"|'
                       r'"aws_ebs_encryption_by_default"')


def batches(cases):
    """Batches for the pool (cases with ExpectError steps alone in theirs), and the cases
    that manage a region-wide singleton, to run one by one after everything else."""
    exclusive = [c for c in cases if any(EXCLUSIVE.search(s["config"]) for s in c["steps"])]
    alone = [c for c in cases if c not in exclusive and any(s["expect_error"] for s in c["steps"])]
    rest = [c for c in cases if c not in exclusive and c not in alone]
    out = [rest[i:i + BATCH] for i in range(0, len(rest), BATCH)]
    return out + [[c] for c in alone], [[c] for c in exclusive]


def main():
    cases_dir = sys.argv[1]
    pattern = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    with open(os.path.join(cases_dir, "cases.json")) as f:
        cases = json.load(f)
    run = [c for c in cases if not c["skip"]
           and (not pattern or pattern.search(c["name"]))]
    if os.environ.get("FIRST"):  # a file of case names to run before the others
        with open(os.environ["FIRST"]) as f:
            first = set(f.read().split())
        run.sort(key=lambda c: c["name"] not in first)
    tmp = tempfile.mkdtemp(prefix="fort-tfacc-")
    if os.path.exists(os.path.join(cases_dir, "results.jsonl")):
        os.unlink(os.path.join(cases_dir, "results.jsonl"))
    data = os.path.join(tmp, "fort-data")
    os.makedirs(data)
    proc, endpoint = start_fort(data)
    results = []
    lock = threading.Lock()
    try:
        runner = Runner(tmp, endpoint, os.path.abspath(cases_dir))
        pooled, serial = batches(run)

        def done(rs):
            for r in rs:
                with lock:
                    results.append(r)
                    with open(os.path.join(cases_dir, "results.jsonl"), "a") as f:
                        f.write(json.dumps(r) + "\n")
                    print(f"[{len(results):3d}/{len(run)}] {r['status']:4s} batch {r['batch']:3d} "
                          f"{r['seconds']:6.1f}s {r['name']} {r['phase'] or ''}", flush=True)

        with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
            futs = [pool.submit(runner.run_batch, n, b) for n, b in enumerate(pooled)]
            for fut in concurrent.futures.as_completed(futs):
                done(fut.result())
        for n, b in enumerate(serial, len(pooled)):  # the default VPC's cases: one at a time
            done(runner.run_batch(n, b))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.copy(os.path.join(data, "server.log"), os.path.join(cases_dir, "server.log"))
        shutil.rmtree(tmp, ignore_errors=True)
    results.sort(key=lambda r: (r["file"], r["name"]))
    with open(os.path.join(cases_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    report(results, cases)


def report(results, cases):
    passed = [r for r in results if r["status"] == "pass"]
    print(f"\n{len(passed)} / {len(results)} passed "
          f"({len([c for c in cases if c['skip']])} of {len(cases)} tests skipped)\n")
    by_file = {}
    for r in results:
        by_file.setdefault(r["file"], [0, 0])
        by_file[r["file"]][0] += r["status"] == "pass"
        by_file[r["file"]][1] += 1
    for f, (p, n) in sorted(by_file.items()):
        print(f"  {f:48s} {p:4d} / {n}")
    groups = {}
    for r in results:
        if r["status"] != "pass":
            groups.setdefault(cause(r), []).append(r["name"])
    print("\nFailures by cause:")
    for c, names in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"\n{len(names):4d}  {c}")
        for n in names[:8]:
            print(f"        {n}")
        if len(names) > 8:
            print(f"        … and {len(names) - 8} more")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--report":
        with open(os.path.join(sys.argv[2], "results.json")) as f:
            res = json.load(f)
        with open(os.path.join(sys.argv[2], "cases.json")) as f:
            report(res, json.load(f))
    else:
        main()
