#!/usr/bin/env python3
"""Pulls the HCL configurations out of the hashicorp/aws provider's EC2 acceptance tests.

The provider's tests (internal/service/ec2/*_test.go) build each step's configuration with Go:
string constants, `fmt.Sprintf` templates, `acctest.ConfigCompose(...)` and helpers from
internal/acctest. This is a small evaluator for that subset of Go: it reads every test file of
the package (a configuration function may live in another file), finds each test's
`Steps: []resource.TestStep{...}`, and evaluates every step's `Config:` expression with the
test's own local variables (`rName := sdkacctest.RandomWithPrefix(acctest.ResourcePrefix)`
becomes `tf-acc-test-<n>`). A test whose configuration needs something Fort is not (another
account or region, Outposts, IPAM, Wavelength or Local Zones, customer-owned IPs, services
other than EC2/IAM/STS/Route 53) is kept with a skip reason.

    extract.py PROVIDER_SRC OUT_DIR

writes OUT_DIR/cases.json: a list of {name, file, steps: [{config, expect_error,
expect_non_empty_plan, plan_only}], skip}.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The VPC-centred test files (issue 11), and how many tests of the big EC2 files to sample.
FILES = [
    "vpc_test.go", "vpc_subnet_test.go", "vpc_route_table_test.go", "vpc_route_test.go",
    "vpc_security_group_test.go", "vpc_security_group_rule_test.go",
    "vpc_security_group_ingress_rule_test.go", "vpc_security_group_egress_rule_test.go",
    "vpc_network_acl_test.go", "vpc_network_acl_rule_test.go",
    "vpc_network_acl_association_test.go", "vpc_internet_gateway_test.go",
    "vpc_internet_gateway_attachment_test.go", "vpc_nat_gateway_test.go",
    "vpc_eip_test.go", "ec2_eip_test.go", "ec2_eip_association_test.go",
    "vpc_network_interface_test.go", "vpc_network_interface_attachment_test.go",
    "vpc_network_interface_sg_attachment_test.go", "vpc_peering_connection_test.go",
    "vpc_peering_connection_options_test.go", "vpc_dhcp_options_test.go",
    "vpc_dhcp_options_association_test.go", "vpc_default_network_acl_test.go",
    "vpc_default_route_table_test.go", "vpc_default_security_group_test.go",
    "vpc_default_subnet_test.go", "vpc_default_vpc_dhcp_options_test.go",
    "vpc_default_vpc_test.go", "vpc_egress_only_internet_gateway_test.go",
    "vpc_endpoint_test.go", "vpc_route_table_association_test.go",
    "vpc_main_route_table_association_test.go", "vpc_ipv4_cidr_block_association_test.go",
    "ec2_instance_test.go", "ec2_launch_template_test.go", "ec2_key_pair_test.go",
    # instances, launch templates, EBS, images and the rest (issue 11, second round)
    "ebs_volume_test.go", "ebs_volume_attachment_test.go", "ebs_snapshot_test.go",
    "ebs_snapshot_copy_test.go", "ebs_snapshot_create_volume_permission_test.go",
    "ec2_ami_test.go", "ec2_ami_copy_test.go", "ec2_ami_from_instance_test.go",
    "ec2_ami_launch_permission_test.go", "vpc_flow_log_test.go",
    "vpc_managed_prefix_list_test.go", "vpc_managed_prefix_list_entry_test.go",
    "vpc_endpoint_route_table_association_test.go", "vpc_endpoint_subnet_association_test.go",
    "vpc_endpoint_security_group_association_test.go", "vpc_endpoint_policy_test.go",
    "vpc_endpoint_service_test.go", "vpc_endpoint_service_allowed_principal_test.go",
    "vpc_endpoint_connection_notification_test.go", "vpc_endpoint_connection_accepter_test.go",
    "transitgateway_test.go", "transitgateway_vpc_attachment_test.go",
    "transitgateway_route_table_test.go", "transitgateway_route_test.go",
    "transitgateway_route_table_association_test.go",
    "transitgateway_route_table_propagation_test.go",
    "vpnsite_customer_gateway_test.go", "vpnsite_gateway_test.go",
    "vpnsite_gateway_attachment_test.go", "vpnsite_gateway_route_propagation_test.go",
    "vpnsite_connection_test.go", "vpnsite_connection_route_test.go",
    # their data sources
    "ec2_instance_data_source_test.go", "ec2_instances_data_source_test.go",
    "ec2_launch_template_data_source_test.go", "ebs_volume_data_source_test.go",
    "ebs_volumes_data_source_test.go", "ebs_snapshot_data_source_test.go",
    "ebs_snapshot_ids_data_source_test.go", "ec2_ami_data_source_test.go",
    "ec2_ami_ids_data_source_test.go", "ec2_key_pair_data_source_test.go",
    "ec2_eip_data_source_test.go", "ec2_eips_data_source_test.go",
    "vpc_managed_prefix_list_data_source_test.go", "vpc_managed_prefix_lists_data_source_test.go",
    "vpc_endpoint_data_source_test.go", "vpc_endpoint_service_data_source_test.go",
    "vpc_network_interface_data_source_test.go", "vpc_network_interfaces_data_source_test.go",
    "transitgateway_data_source_test.go", "transitgateway_attachment_data_source_test.go",
    "transitgateway_attachments_data_source_test.go",
    "transitgateway_vpc_attachment_data_source_test.go",
    "transitgateway_vpc_attachments_data_source_test.go",
    "transitgateway_route_table_data_source_test.go",
    "transitgateway_route_tables_data_source_test.go",
    "transitgateway_route_table_associations_data_source_test.go",
    "transitgateway_route_table_propagations_data_source_test.go",
    "transitgateway_route_table_routes_data_source_test.go",
    "transitgateway_vpn_attachment_data_source_test.go",
    "vpnsite_customer_gateway_data_source_test.go", "vpnsite_gateway_data_source_test.go",
]
SAMPLE = {}  # every test of every file (the first round sampled the two big EC2 files)

# Resource and data source types Fort serves (EC2, IAM, STS, Route 53); anything else is
# another AWS service and the configuration is skipped.
FORT_TYPES = re.compile(
    r"^aws_(vpc|subnet|route|security_group|network_|internet_gateway|nat_gateway|eip|"
    r"egress_only|default_|ec2_|instance|launch_template|key_pair|ami|availability_zone|"
    r"placement_group|ebs_|customer_gateway|vpn_|flow_log|main_route_table|prefix_list|"
    r"region|partition|caller_identity|iam_|route53_|volume_attachment|arn|"
    r"default_tags|ip_ranges|snapshot_create_volume_permission|cloudwatch_log_group|"
    r"ssm_parameter)")
# Skipped for what the test case asks of its harness (its PreCheck and provider factories)...
CASE_SKIPS = [
    (r"ProtoV5Factories(Alternate|PlusProviders|MultipleRegions|Named)|PreCheck(AlternateAccount|MultipleRegion)",
     "another account or region (alternate provider)"),
    (r"PreCheckOutposts", "AWS Outposts"),
    (r"PreCheckWavelength", "Wavelength zones"),
    (r"PreCheckLocalZone", "Local Zones"),
    (r"PreCheckRegion \(", "a specific region"),
    (r"PreCheckELBv", "Elastic Load Balancing"),
    (r"PreCheckDefaultVPCNotFound|PreCheckDefaultSubnetNotFound|testAccEmptyDefaultVPC",
     "needs a region without a default VPC"),
]
# ... and for what its configuration names.
HCL_SKIPS = [
    (r'provider\s*=\s*"?aws(alternate|\w*region|\.)', "another account or region (alternate provider)"),
    (r'^provider "aws"', "its own provider block (provider default_tags / ignore_tags)"),
    (r"outpost", "AWS Outposts"),
    (r"ipam", "IPAM"),
    (r"carrier_gateway|wavelength", "Wavelength zones"),
    (r"local_gateway|opted-in", "Local Zones"),
    (r"customer_owned|coip", "customer-owned IPs"),
]

# ---------------------------------------------------------------------------------------
# A Go tokenizer (enough for test files: strings, raw strings, runes, numbers, comments).

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<rune>'(?:[^'\\\n]|\\.)+')
  | (?P<num>\d[\w.]*)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<op>:=|\.\.\.|&&|\|\||==|!=|<=|>=|<-|\+\+|--|[-+*/%&|^<>=!:;,.(){}\[\]])
""", re.S | re.X)


class Tok:
    __slots__ = ("kind", "text")

    def __init__(self, kind, text):
        self.kind, self.text = kind, text

    def __repr__(self):
        return f"{self.kind}:{self.text}"


def tokenize(src):
    out, pos = [], 0
    while pos < len(src):
        m = TOKEN.match(src, pos)
        if not m:
            out.append(Tok("op", src[pos]))
            pos += 1
            continue
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            # a newline matters to Go's statement ends: keep one marker
            if "\n" in m.group():
                out.append(Tok("nl", "\n"))
            continue
        out.append(Tok(kind, m.group()))
    return out


def match_close(toks, i):
    """Index of the bracket closing toks[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    opening = toks[i].text
    closing = pairs[opening]
    depth = 0
    for j in range(i, len(toks)):
        t = toks[j]
        if t.kind != "op":
            continue
        if t.text in pairs:
            depth += 1
        elif t.text in (")", "}", "]"):
            depth -= 1
            if depth == 0:
                if t.text != closing:
                    raise SyntaxError("bracket mismatch")
                return j
    raise SyntaxError("unclosed bracket")


class Func:
    def __init__(self, name, params, body, file, variadic=False):
        self.name, self.params, self.body, self.file = name, params, body, file
        self.variadic = variadic  # the last parameter is `name ...T`


def declarations(toks, file, prefix=""):
    """Top-level funcs (name -> Func) and consts/vars (name -> expression tokens)."""
    funcs, consts = {}, {}
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if t.kind == "ident" and t.text == "func" and toks[i + 1].kind in ("ident", "op"):
            try:
                i = func_decl(toks, i, funcs, file, prefix)
            except (SyntaxError, KeyError, IndexError):
                i += 1
            continue
        if t.kind == "ident" and t.text == "type":
            j = i + 1
            while j < n and toks[j].text not in ("{", "(") and toks[j].kind != "nl":
                j += 1
            i = match_close(toks, j) + 1 if j < n and toks[j].text in ("{", "(") else j
            continue
        if t.kind == "ident" and t.text in ("const", "var"):
            j = i + 1
            if toks[j].text == "(":
                close = match_close(toks, j)
                for line in split_lines(toks[j + 1:close]):
                    add_const(consts, line, prefix)
                i = close + 1
            else:
                k = j
                while k < n and toks[k].kind != "nl":
                    if toks[k].kind == "op" and toks[k].text in "({[":
                        k = match_close(toks, k)
                    k += 1
                add_const(consts, toks[j:k], prefix)
                i = k
            continue
        i += 1
    return funcs, consts


def func_decl(toks, i, funcs, file, prefix):
    j = i + 1
    if toks[j].text == "(":  # a method: skip its receiver and the rest
        j = match_close(toks, j) + 1
        method = True
    else:
        method = False
    name = toks[j].text
    j += 1
    if toks[j].text == "[":  # type parameters
        j = match_close(toks, j) + 1
    pclose = match_close(toks, j)
    params, cur = [], []
    for tk in toks[j + 1:pclose]:
        if tk.text == "," and tk.kind == "op":
            params.append(cur)
            cur = []
        elif tk.kind != "nl":
            cur.append(tk)
    if cur:
        params.append(cur)
    names = [p[0].text for p in params if p]
    variadic = bool(params) and any(t.text == "..." for t in params[-1])
    j = pclose + 1
    while toks[j].text != "{":
        if toks[j].text == "(":
            j = match_close(toks, j)
        j += 1
    bclose = match_close(toks, j)
    if not method:
        funcs[prefix + name] = Func(name, names, toks[j + 1:bclose], file, variadic)
    return bclose + 1


def split_lines(toks):
    """Statements: split at newlines and semicolons outside brackets."""
    out, cur, i = [], [], 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "op" and t.text in "({[":
            j = match_close(toks, i)
            cur.extend(toks[i:j + 1])
            i = j + 1
            continue
        if t.kind == "nl" or (t.kind == "op" and t.text == ";"):
            # Go continues a line that ends in an operator or comma
            if cur and cur[-1].kind == "op" and cur[-1].text in ("+", ",", "(", "&&", "||", "{"):
                i += 1
                continue
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
        i += 1
    if cur:
        out.append(cur)
    return out


def add_const(consts, line, prefix):
    if "=" not in [t.text for t in line]:
        return
    eq = [t.text for t in line].index("=")
    names = [t.text for t in line[:eq] if t.kind == "ident"]
    if names:
        consts[prefix + names[0]] = line[eq + 1:]


# ---------------------------------------------------------------------------------------
# Evaluation of Go expressions that build strings.

class Unsupported(Exception):
    pass


def snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class Go:
    def __init__(self, src):
        self.funcs, self.consts = {}, {}
        self.counter = int.from_bytes(os.urandom(2), "big")
        ec2 = os.path.join(src, "internal", "service", "ec2")
        for f in sorted(os.listdir(ec2)):
            if f.endswith("_test.go"):
                self.load(os.path.join(ec2, f), "")
        acc = os.path.join(src, "internal", "acctest")
        for f in sorted(os.listdir(acc)):
            if f.endswith(".go") and not f.endswith("_test.go"):
                self.load(os.path.join(acc, f), "acctest.")
        self.ssh_key = None

    def load(self, path, prefix):
        with open(path, encoding="utf-8") as fh:
            toks = tokenize(fh.read())
        try:
            funcs, consts = declarations(toks, os.path.basename(path), prefix)
        except (SyntaxError, IndexError):
            return
        self.funcs.update(funcs)
        self.consts.update(consts)

    def unique(self):
        self.counter += 1
        return self.counter

    def rand_ssh_key(self):
        if self.ssh_key is None:
            d = tempfile.mkdtemp()
            subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C",
                            "tf-acc@example.com", "-f", os.path.join(d, "k")], check=True)
            with open(os.path.join(d, "k.pub")) as f:
                pub = f.read().strip()
            with open(os.path.join(d, "k")) as f:
                priv = f.read()
            self.ssh_key = (pub, priv)
        return self.ssh_key

    # -- expressions ----------------------------------------------------------------------

    def eval(self, toks, env):
        toks = [t for t in toks if t.kind != "nl"]
        val, i = self.binary(toks, 0, env)
        if i != len(toks):
            raise Unsupported(f"trailing tokens: {' '.join(t.text for t in toks[i:i + 5])}")
        return val

    def binary(self, toks, i, env):
        left, i = self.unary(toks, i, env)
        while i < len(toks) and toks[i].kind == "op" and toks[i].text in ("+", "-", "*", "==", "!="):
            op = toks[i].text
            right, i = self.unary(toks, i + 1, env)
            if op == "+":
                left = left + right
            elif op == "-":
                left = left - right
            elif op == "*":
                left = left * right
            elif op == "==":
                left = left == right
            else:
                left = left != right
        return left, i

    def unary(self, toks, i, env):
        t = toks[i]
        if t.kind == "op" and t.text == "&":
            return self.unary(toks, i + 1, env)
        if t.kind == "op" and t.text == "-":
            v, i = self.unary(toks, i + 1, env)
            return -v, i
        if t.kind == "op" and t.text == "(":
            close = match_close(toks, i)
            return self.eval(toks[i + 1:close], env), close + 1
        if t.kind == "raw":
            return t.text[1:-1], i + 1
        if t.kind == "str":
            return json.loads(t.text) if "\\x" not in t.text else eval(t.text), i + 1  # noqa: S307
        if t.kind == "num":
            return int(t.text, 0), i + 1
        if t.kind == "op" and t.text == "[":  # []string{...} and friends
            j = i
            while toks[j].text != "{":
                j += 1
            close = match_close(toks, j)
            items = [self.eval(part, env) for part in split_commas(toks[j + 1:close])]
            return items, close + 1
        if t.kind != "ident":
            raise Unsupported(f"expression at {t.text!r}")
        # a dotted name, then an optional call
        name, j = t.text, i + 1
        while j + 1 < len(toks) and toks[j].text == "." and toks[j + 1].kind == "ident":
            name += "." + toks[j + 1].text
            j += 2
        if j < len(toks) and toks[j].text == "(":
            close = match_close(toks, j)
            parts = split_commas(toks[j + 1:close])
            spread = bool(parts) and parts[-1] and parts[-1][-1].text == "..."
            if spread:
                parts[-1] = parts[-1][:-1]
            args = [self.eval(p, env) for p in parts]
            if spread:
                args = args[:-1] + list(args[-1])
            return self.call(name, args, env), close + 1
        if j < len(toks) and toks[j].text == "{":  # a composite literal we do not model
            raise Unsupported(f"composite literal {name}")
        return self.name(name, env), j

    def name(self, name, env):
        if name in env:
            return env[name]
        if name == "ruleLimit":  # the account's rules-per-group quota, read at test time
            return 60
        if name == "testAccProviderConfigBase":
            raise Unsupported("provider default_tags (its own provider block)")
        if name in ("true", "false"):
            return name == "true"
        if name == "nil":
            return None
        if name in self.consts:
            return self.eval(self.consts[name], {})
        if name == "acctest.ResourcePrefix":
            return "tf-acc-test"
        if name.startswith("names.Attr"):
            return snake(name[len("names.Attr"):])
        m = re.fullmatch(r"acctest\.Ct([A-Z][a-z]+)(\d*)(Updated)?", name)
        if m:
            return m.group(1).lower() + m.group(2) + ("updated" if m.group(3) else "")
        if name in ("acctest.CtTrue", "acctest.CtFalse"):
            return name[len("acctest.Ct"):].lower()
        m = re.fullmatch(r"ec2\.\w+Value(Enable|Disable)", name)
        if m:  # the SDK's enum constants the configurations print
            return m.group(1).lower()
        if name == "ec2.CapacityReservationInstancePlatformLinuxUnix":
            return "Linux/UNIX"
        if name == "ec2.AmdSevSnpSpecificationEnabled":
            return "enabled"
        if name.startswith("ec2.ArchitectureValues"):
            return {"X8664": "x86_64", "Arm64": "arm64", "I386": "i386"}[name.split("Values")[1]]
        if name.startswith("acctest.") and name[len("acctest."):] in self.consts:
            return self.eval(self.consts[name[len("acctest."):]], {})
        raise Unsupported(f"name {name}")

    def call(self, name, args, env):
        if name.startswith("acctest.") and name[8:] in ("ConfigCompose",):
            name = name[8:]
        if name == "ConfigCompose":
            return "".join(args)
        if name in ("AvailableEC2InstanceTypeForAvailabilityZone",
                    "acctest.AvailableEC2InstanceTypeForAvailabilityZone"):
            az = args[0] if "." in args[0] else go_quote(args[0])
            types = '", "'.join(args[1:])
            return (f'\ndata "aws_ec2_instance_type_offering" "available" {{\n'
                    f'  filter {{\n    name   = "instance-type"\n    values = ["{types}"]\n  }}\n\n'
                    f'  filter {{\n    name   = "location"\n    values = [{az}]\n  }}\n\n'
                    f'  location_type            = "availability-zone"\n'
                    f'  preferred_instance_types = ["{types}"]\n}}\n')
        if name == "fmt.Sprintf":
            return sprintf(args[0], args[1:])
        if name == "fmt.Sprint":
            return "".join(str(a) for a in args)
        if name == "acctest.ConfigCompose":
            return "".join(args)
        if name in ("strconv.Quote",):
            return go_quote(args[0])
        if name == "strconv.Itoa":
            return str(args[0])
        if name == "strconv.FormatBool":
            return "true" if args[0] else "false"
        if name == "strings.Join":
            return args[1].join(args[0])
        if name == "strings.Repeat":
            return args[0] * args[1]
        if name == "strings.Contains":
            return args[1] in args[0]
        if name == "sdkacctest.RandomWithPrefix":
            return f"{args[0]}-{self.unique()}"
        if name == "sdkacctest.RandIntRange":
            return args[0] + self.unique() % max(1, args[1] - args[0])
        if name == "sdkacctest.RandInt":
            return self.unique()
        if name == "sdkacctest.RandString":
            return ("tfacc" + str(self.unique()) + "x" * args[0])[:args[0]]
        if name in ("acctest.RandomDomainName", "acctest.RandomFQDomainName"):
            return f"tf-acc-{self.unique()}.example.test" + ("." if "FQ" in name else "")
        if name == "acctest.RandomSubdomain":
            return f"sub-{self.unique()}.tf-acc.example.test"
        if name == "acctest.Region":
            return "us-east-1"
        if name == "acctest.Partition":
            return "aws"
        if name == "acctest.PartitionDNSSuffix":
            return "amazonaws.com"
        if name in ("acctest.AlternateRegion", "acctest.ThirdRegion", "acctest.AlternateAccountID"):
            raise Unsupported("another region or account")
        if name == "os.Getenv":
            raise Unsupported("a BYOIP pool or other account resource from the environment")
        if name == "aws.String":
            return args[0]
        fn = self.funcs.get(name) or self.funcs.get(name.replace("acctest.", "", 1))
        if fn is None:
            fn = self.funcs.get("acctest." + name)
        if fn is None:
            raise Unsupported(f"call {name}")
        if fn.variadic:
            n = len(fn.params) - 1
            args = list(args[:n]) + [list(args[n:])]
        local = dict(zip(fn.params, args))
        return self.run_body(fn, local)

    def run_body(self, fn, env):
        for stmt in split_lines(fn.body):
            texts = [t.text for t in stmt]
            if texts[0] == "return":
                return self.eval(stmt[1:], env)
            if ":=" in texts:
                k = texts.index(":=")
                names = [t.text for t in stmt[:k] if t.kind == "ident"]
                val = self.eval(stmt[k + 1:], env)
                env[names[0]] = val
                continue
            if texts[0] == "var" and "=" in texts:
                k = texts.index("=")
                env[texts[1]] = self.eval(stmt[k + 1:], env)
                continue
            if len(texts) > 2 and texts[1] == "=" and texts[0] in env:  # `x = value`
                env[texts[0]] = self.eval(stmt[2:], env)
                continue
            if texts[0] == "if" and texts[-1] == "}" and "else" not in texts:
                # `if a == b { x = v }`: the defaults-to-null idiom of the configuration functions
                k = texts.index("{")
                cond = stmt[1:k]
                ops = [n for n, t in enumerate(cond) if t.text in ("==", "!=")]
                if len(ops) != 1:
                    raise Unsupported(f"condition in {fn.name}")
                left, right = self.eval(cond[:ops[0]], env), self.eval(cond[ops[0] + 1:], env)
                if (left == right) == (cond[ops[0]].text == "=="):
                    inner = Func(fn.name, [], stmt[k + 1:match_close(stmt, k)], fn.file)
                    for sub in split_lines(inner.body):
                        st = [t.text for t in sub]
                        if len(st) > 2 and st[1] == "=" and st[0] in env:
                            env[st[0]] = self.eval(sub[2:], env)
                        else:
                            raise Unsupported(f"statement in {fn.name}: {' '.join(st[:6])}")
                continue
            raise Unsupported(f"statement in {fn.name}: {' '.join(texts[:6])}")
        raise Unsupported(f"no return in {fn.name}")


def split_commas(toks):
    parts, cur, i = [], [], 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "op" and t.text in "({[":
            j = match_close(toks, i)
            cur.extend(toks[i:j + 1])
            i = j + 1
            continue
        if t.kind == "op" and t.text == ",":
            parts.append(cur)
            cur = []
        elif t.kind != "nl":
            cur.append(t)
        i += 1
    if cur:
        parts.append(cur)
    return parts


def go_quote(s):
    return json.dumps(s, ensure_ascii=False)


VERB = re.compile(r"%(?:\[(\d+)\])?([-+# 0]*\d*(?:\.\d+)?)([a-zA-Z%])")


def sprintf(fmt, args):
    out, pos, nxt = [], 0, 0
    for m in VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        verb = m.group(3)
        if verb == "%":
            out.append("%")
            continue
        if m.group(1):
            nxt = int(m.group(1)) - 1
        if nxt >= len(args):
            raise Unsupported("missing Sprintf argument")
        a = args[nxt]
        nxt += 1
        if verb == "q":
            out.append(go_quote(a))
        elif verb == "t":
            out.append("true" if a else "false")
        elif isinstance(a, bool):
            out.append("true" if a else "false")
        else:
            out.append(str(a))
    out.append(fmt[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------
# Tests and their steps.

def find_seq(toks, texts, start=0):
    for i in range(start, len(toks) - len(texts) + 1):
        if all(toks[i + k].text == texts[k] for k in range(len(texts))):
            return i
    return -1


def fields(toks):
    """`Key: value,` pairs of a composite literal's body."""
    out = {}
    for part in split_commas(toks):
        if len(part) >= 2 and part[0].kind == "ident" and part[1].text == ":":
            out[part[0].text] = part[2:]
    return out


def test_cases(go, file):
    cases = []
    for fn in go.funcs.values():
        if fn.file != file or fn.name.startswith("acctest."):
            continue
        body = fn.body
        if "t" not in fn.params or not (fn.name.startswith("TestAcc") or fn.name.startswith("testAcc")):
            continue
        s = find_seq(body, ["Steps", ":", "[", "]", "resource", ".", "TestStep", "{"])
        if s < 0:
            continue
        text = " ".join(t.text for t in body)
        case = {"name": fn.name, "file": file, "steps": [], "skip": None}
        # the test's local variables, evaluated lazily (only those a Config names)
        env_src = {}
        try:
            stmts = split_lines(body)
        except SyntaxError:
            continue
        for stmt in stmts:
            texts = [t.text for t in stmt]
            if ":=" in texts and "Steps" not in texts:
                k = texts.index(":=")
                names = [t.text for t in stmt[:k] if t.kind == "ident"]
                env_src[tuple(names)] = stmt[k + 1:]
        env = LazyEnv(go, env_src)
        harness = text[text.find("PreCheck"):text.find("Steps")]
        for pat, why in CASE_SKIPS:
            if re.search(pat, harness):
                case["skip"] = why
                break
        if fn.name.endswith("_disappears") or "_disappears_" in fn.name:
            case["skip"] = case["skip"] or "removes the resource behind Terraform's back (a CheckResourceDisappears test)"
        open_ = s + 7
        close = match_close(body, open_)
        for step in split_commas(body[open_ + 1:close]):
            step = [t for t in step if t.kind != "nl"]
            if not step or step[0].text != "{":
                continue
            f = fields(step[1:match_close(step, 0)])
            if "Config" not in f:
                continue
            if "Check" in f and re.search(r"test(Add|Remove)\w*Cycle", " ".join(t.text for t in f["Check"])):
                case["skip"] = case["skip"] or "a Check function changes rules behind Terraform's back"
            if "SkipFunc" in f or "PreConfig" in f or "ExternalProviders" in f:
                case["skip"] = case["skip"] or "a step with PreConfig/SkipFunc/ExternalProviders"
            entry = {
                "expect_error": " ".join(t.text for t in f["ExpectError"]) if "ExpectError" in f else None,
                "expect_non_empty_plan": "ExpectNonEmptyPlan" in f and f["ExpectNonEmptyPlan"][0].text == "true",
                "plan_only": "PlanOnly" in f and f["PlanOnly"][0].text == "true",
            }
            try:
                entry["config"] = go.eval(f["Config"], env)
            except (Unsupported, SyntaxError, KeyError, IndexError, TypeError, ValueError) as e:
                case["skip"] = case["skip"] or f"extractor: {e}"
                entry["config"] = None
            case["steps"].append(entry)
        if not case["steps"]:
            continue
        if not case["skip"]:
            for st in case["steps"]:
                for kind, typ in re.findall(r'^\s*(resource|data)\s+"(\w+)"', st["config"], re.M):
                    if not FORT_TYPES.match(typ):
                        case["skip"] = f"another AWS service ({typ})"
                        break
                if not case["skip"]:
                    for pat, why in HCL_SKIPS:
                        if re.search(pat, st["config"], re.M):
                            case["skip"] = why
                            break
                if case["skip"]:
                    break
        cases.append(case)
    return cases


class LazyEnv(dict):
    """A test's locals: evaluated the first time a configuration names one."""

    def __init__(self, go, src):
        super().__init__()
        self.go, self.src = go, src

    def __contains__(self, key):
        if dict.__contains__(self, key):
            return True
        return any(key in names for names in self.src)

    def __getitem__(self, key):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        for names, toks in self.src.items():
            if key in names:
                texts = [t.text for t in toks]
                if texts[:3] == ["sdkacctest", ".", "RandSSHKeyPair"]:
                    pub, priv = self.go.rand_ssh_key()
                    vals = [pub, priv, None]
                    for n, v in zip(names, vals):
                        dict.__setitem__(self, n, v)
                    return dict.__getitem__(self, key)
                if texts[:3] == ["testAccSecurityGroupRuleLimit", "(", "t"] or "Meta" in texts:
                    raise Unsupported("reads an account quota from AWS at test time")
                if len(names) != 1:
                    raise Unsupported(f"multi-value local {key}")
                v = self.go.eval(toks, self)
                dict.__setitem__(self, key, v)
                return v
        raise KeyError(key)


def main():
    src, out = sys.argv[1], sys.argv[2]
    go = Go(src)
    ec2 = os.path.join(src, "internal", "service", "ec2")
    all_cases = []
    for f in FILES:
        if not os.path.exists(os.path.join(ec2, f)):
            continue
        cases = sorted(test_cases(go, f), key=lambda c: c["name"])
        limit = SAMPLE.get(f)
        if limit and len(cases) > limit:
            runnable = [c for c in cases if not c["skip"]]
            step = max(1, len(runnable) // limit)
            keep = {c["name"] for c in runnable[::step][:limit]}
            cases = [c for c in cases if c["name"] in keep]
        all_cases.extend(cases)
    os.makedirs(out, exist_ok=True)
    # the user-data files some configurations read with filebase64("test-fixtures/...")
    fixtures = os.path.join(ec2, "test-fixtures")
    if os.path.isdir(fixtures):
        shutil.copytree(fixtures, os.path.join(out, "test-fixtures"), dirs_exist_ok=True)
    with open(os.path.join(out, "cases.json"), "w") as fh:
        json.dump(all_cases, fh, indent=1)
    skipped = [c for c in all_cases if c["skip"]]
    print(f"{len(all_cases)} tests, {len(all_cases) - len(skipped)} to run, {len(skipped)} skipped")
    reasons = {}
    for c in skipped:
        reasons.setdefault(re.sub(r"(call|name|statement in) .*", r"\1 …", c["skip"]), []).append(c["name"])
    for r, names in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(names):4d}  {r}")


if __name__ == "__main__":
    main()
