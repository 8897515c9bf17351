"""Terraform end to end: the hashicorp/aws provider, pointed at a real `fort server` with only
its `endpoints` block, applies each configuration here, plans no changes, destroys, and leaves
nothing behind (issue 11).

Terraform comes from PATH (or $TERRAFORM) and the provider from a filesystem mirror
($FORT_TF_PLUGINS, default /opt/tf-plugins); nothing is fetched from the network. Each test
has its own server, port, data directory and Terraform directories, so they run in parallel.
A failing command is run once more with TF_LOG=DEBUG, and the failing requests and Fort's
answers are quoted in the failure; set $FORT_TF_ARTIFACTS to a directory to keep the logs.
"""

import glob
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FORT_BIN = os.environ.get("FORT_BIN", os.path.join(ROOT, "target", "debug", "fort"))
TERRAFORM = os.environ.get("TERRAFORM") or shutil.which("terraform")
PLUGINS = os.environ.get("FORT_TF_PLUGINS", "/opt/tf-plugins")
PROVIDER = "registry.terraform.io/hashicorp/aws"
ACCESS_KEY = "AKIAFORTTFTEST000001"
SECRET_KEY = "fort-terraform-secret-0000000000000000000"
ACCOUNT = "123456789012"
REGION = "us-east-1"
TIMEOUT = 600  # seconds, per terraform command


def _missing():
    if not TERRAFORM or not os.access(TERRAFORM, os.X_OK):
        return "terraform is not on PATH (set $TERRAFORM to its path)"
    if not glob.glob(os.path.join(PLUGINS, PROVIDER, "*", "*", "terraform-provider-aws*")):
        return f"the hashicorp/aws provider is not in the filesystem mirror {PLUGINS}"
    if not os.path.exists(FORT_BIN):
        return f"no fort binary at {FORT_BIN}: cargo build -p fort"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fort:
    """`fort server --dataplane off` on a free port, with a credentials file."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.creds = os.path.join(data_dir, "credentials")
        with open(self.creds, "w") as f:
            f.write(f"[default]\naws_access_key_id = {ACCESS_KEY}\n"
                    f"aws_secret_access_key = {SECRET_KEY}\naws_account_id = {ACCOUNT}\n")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(data_dir, "server.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.setdefault("FORT_LOG", "info,fort_ec2_api=debug")  # one line per request
        env["NO_COLOR"] = "1"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [FORT_BIN, "server", "--listen", f"127.0.0.1:{self.port}",
                 "--mapping-listen", "127.0.0.1:0", "--data-dir", data_dir,
                 "--credentials", self.creds, "--dataplane", "off"],
                stdout=log, stderr=log, env=env)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fort exited with {self.proc.returncode}: see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("fort did not start listening")
                time.sleep(0.05)
        self.ec2 = boto3.client(
            "ec2", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1}))
        self.iam = boto3.client(
            "iam", endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1}))
        self.services = {s: boto3.client(
            s, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1}))
            for s in ("rds", "elasticache", "redshift")}

    def failed_requests(self, n=20):
        """The server log's last requests that Fort answered with an error."""
        try:
            with open(self.log_path, errors="replace") as f:
                lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in f]
            lines = [ln for ln in lines if "ok=false" in ln or "ERROR" in ln or "panick" in ln]
        except OSError:
            return ""
        return "".join(lines[-n:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# What the sweep looks at: (name, describe call, the list in its answer, the id field, live?).
_alive = lambda r: True  # noqa: E731
SWEEP = [
    ("vpc", "describe_vpcs", "Vpcs", "VpcId", _alive),
    ("subnet", "describe_subnets", "Subnets", "SubnetId", _alive),
    ("internet gateway", "describe_internet_gateways", "InternetGateways", "InternetGatewayId", _alive),
    ("nat gateway", "describe_nat_gateways", "NatGateways", "NatGatewayId",
     lambda r: r.get("State") not in ("deleted", "failed")),
    ("route table", "describe_route_tables", "RouteTables", "RouteTableId", _alive),
    ("security group", "describe_security_groups", "SecurityGroups", "GroupId", _alive),
    ("security group rule", "describe_security_group_rules", "SecurityGroupRules",
     "SecurityGroupRuleId", _alive),
    ("network acl", "describe_network_acls", "NetworkAcls", "NetworkAclId", _alive),
    ("dhcp options", "describe_dhcp_options", "DhcpOptions", "DhcpOptionsId", _alive),
    ("peering connection", "describe_vpc_peering_connections", "VpcPeeringConnections",
     "VpcPeeringConnectionId",
     lambda r: r.get("Status", {}).get("Code") not in ("deleted", "rejected", "failed", "expired")),
    ("network interface", "describe_network_interfaces", "NetworkInterfaces", "NetworkInterfaceId", _alive),
    ("address", "describe_addresses", "Addresses", "AllocationId", _alive),
    ("instance", "describe_instances", None, "InstanceId",
     lambda r: r.get("State", {}).get("Name") not in ("terminated", "shutting-down")),
    ("key pair", "describe_key_pairs", "KeyPairs", "KeyPairId", _alive),
    ("placement group", "describe_placement_groups", "PlacementGroups", "GroupId", _alive),
    ("launch template", "describe_launch_templates", "LaunchTemplates", "LaunchTemplateId", _alive),
    ("vpc endpoint", "describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId",
     lambda r: r.get("State") not in ("deleted", "Deleted")),
    ("prefix list", "describe_managed_prefix_lists", "PrefixLists", "PrefixListId",
     lambda r: r.get("OwnerId") != "AWS" and r.get("State") != "delete-complete"),
    ("flow log", "describe_flow_logs", "FlowLogs", "FlowLogId", _alive),
    ("vpn gateway", "describe_vpn_gateways", "VpnGateways", "VpnGatewayId",
     lambda r: r.get("State") != "deleted"),
    ("customer gateway", "describe_customer_gateways", "CustomerGateways", "CustomerGatewayId",
     lambda r: r.get("State") != "deleted"),
    ("vpn connection", "describe_vpn_connections", "VpnConnections", "VpnConnectionId",
     lambda r: r.get("State") != "deleted"),
    ("egress-only internet gateway", "describe_egress_only_internet_gateways",
     "EgressOnlyInternetGateways", "EgressOnlyInternetGatewayId", _alive),
    ("transit gateway", "describe_transit_gateways", "TransitGateways", "TransitGatewayId",
     lambda r: r.get("State") not in ("deleting", "deleted")),
    ("transit gateway attachment", "describe_transit_gateway_attachments",
     "TransitGatewayAttachments", "TransitGatewayAttachmentId",
     lambda r: r.get("State") not in ("deleting", "deleted", "rejected", "failed")),
    ("transit gateway route table", "describe_transit_gateway_route_tables",
     "TransitGatewayRouteTables", "TransitGatewayRouteTableId",
     lambda r: r.get("State") not in ("deleting", "deleted")),
    ("volume", "describe_volumes", "Volumes", "VolumeId",
     lambda r: r.get("State") not in ("deleting", "deleted")),
    ("carrier gateway", "describe_carrier_gateways", "CarrierGateways", "CarrierGatewayId",
     lambda r: r.get("State") not in ("deleting", "deleted")),
    ("traffic mirror filter", "describe_traffic_mirror_filters", "TrafficMirrorFilters",
     "TrafficMirrorFilterId", _alive),
    ("traffic mirror target", "describe_traffic_mirror_targets", "TrafficMirrorTargets",
     "TrafficMirrorTargetId", _alive),
    ("traffic mirror session", "describe_traffic_mirror_sessions", "TrafficMirrorSessions",
     "TrafficMirrorSessionId", _alive),
    ("bpa exclusion", "describe_vpc_block_public_access_exclusions",
     "VpcBlockPublicAccessExclusions", "ExclusionId",
     lambda r: r.get("State") != "delete-complete"),
]


# IAM's entities: (name, list call, the list in its answer, the name field).
IAM_SWEEP = [
    ("iam role", "list_roles", "Roles", "RoleName"),
    ("iam policy", "list_policies", "Policies", "Arn"),
    ("iam instance profile", "list_instance_profiles", "InstanceProfiles", "InstanceProfileName"),
]


# The subnet groups of RDS, ElastiCache and Redshift: (name, service, describe call, list, name).
SUBNET_GROUP_SWEEP = [
    ("db subnet group", "rds", "describe_db_subnet_groups", "DBSubnetGroups", "DBSubnetGroupName"),
    ("cache subnet group", "elasticache", "describe_cache_subnet_groups", "CacheSubnetGroups",
     "CacheSubnetGroupName"),
    ("cluster subnet group", "redshift", "describe_cluster_subnet_groups", "ClusterSubnetGroups",
     "ClusterSubnetGroupName"),
]


def inventory(ec2, iam=None, services=None):
    """Every live resource id by kind (kinds Fort does not describe are left out).
    `services`: clients by service name, for the subnet groups of RDS, ElastiCache, Redshift."""
    found = {}
    for name, call, key, id_field in IAM_SWEEP if iam else ():
        found[name] = {i[id_field] for i in getattr(iam, call)()[key]}
    for name, service, call, key, id_field in SUBNET_GROUP_SWEEP if services else ():
        found[name] = {i[id_field] for i in getattr(services[service], call)()[key]}
    for name, call, key, id_field, alive in SWEEP:
        try:
            answer = getattr(ec2, call)()
        except ClientError as e:
            if e.response["Error"]["Code"] == "InvalidAction":
                continue
            raise
        if key is None:  # DescribeInstances: reservations of instances
            items = [i for r in answer["Reservations"] for i in r["Instances"]]
        else:
            items = answer[key]
        found[name] = {i[id_field] for i in items if alive(i)}
    return found


_RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[(\w+)\] ")


def _records(log_path):
    """TF_LOG's records (a record's continuation lines, such as bodies, joined to it)."""
    records = []
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                if _RECORD.match(line) or not records:
                    records.append(line)
                else:
                    records[-1] += line
    except (OSError, TypeError):
        pass
    return records


def _field(record, name):
    m = re.search(rf"{re.escape(name)}=(\S+)", record)
    return m.group(1) if m else ""


def _body(record, name):
    m = re.search(rf"{re.escape(name)}=\n((?:  \|.*\n?)+)", record)
    return " ".join(ln.strip()[2:] for ln in m.group(1).splitlines()) if m else ""


def _excerpt(log_path, limit=12, width=1200):
    """The failing calls of a TF_LOG=DEBUG log (request and Fort's answer) and its errors."""
    last_request, out = {}, []
    for r in _records(log_path):
        key = (_field(r, "tf_req_id"), _field(r, "rpc.method"))
        if "HTTP Request Sent" in r:
            last_request[key] = _body(r, "http.request.body")
        elif "HTTP Response Received" in r and _field(r, "http.status_code")[:1] in "45":
            out.append(f"{key[1]} {last_request.get(key, '')[:width]}\n"
                       f"  -> {_field(r, 'http.status_code')} {_body(r, 'http.response.body')[:width]}")
        elif r.startswith(tuple("0123456789")) and "[ERROR] vertex" in r:
            out.append(r.strip()[:width])
    return "\n".join(out[-limit:])


class Workspace:
    """One configuration copied into a temporary directory, with its own CLI configuration."""

    def __init__(self, config, fort, tmp):
        self.config = config
        self.fort = fort
        self.dir = os.path.join(tmp, config)
        shutil.copytree(os.path.join(HERE, config), self.dir,
                        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
        # every configuration uses the one provider block users would write for Fort
        shutil.copy(os.path.join(HERE, "provider.tf"), self.dir)
        self.logs = os.path.join(tmp, "logs")
        os.makedirs(self.logs, exist_ok=True)
        cli_config = os.path.join(tmp, "terraformrc")
        with open(cli_config, "w") as f:
            f.write('provider_installation {\n'
                    f'  filesystem_mirror {{\n    path    = "{PLUGINS}"\n'
                    '    include = ["registry.terraform.io/*/*"]\n  }\n'
                    '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n')
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AWS_", "TF_"))}
        self.env.update({
            "HOME": tmp,
            "TF_CLI_CONFIG_FILE": cli_config,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "TF_VAR_endpoint": fort.endpoint,
            "TF_VAR_access_key": ACCESS_KEY,
            "TF_VAR_secret_key": SECRET_KEY,
        })
        self.applied = False
        self.destroyed = False
        self.runs = 0

    def var(self, name, value):
        self.env[f"TF_VAR_{name}"] = value

    def tf(self, *args, debug=False):
        self.runs += 1
        env = dict(self.env)
        log = None
        if debug:
            log = os.path.join(self.logs, f"{self.runs:02d}-{args[0]}.log")
            env.update({"TF_LOG": "DEBUG", "TF_LOG_PATH": log})
        p = subprocess.run([TERRAFORM, *args, "-no-color"], cwd=self.dir, env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        return p, log

    def step(self, *args, ok=(0,)):
        """Runs terraform; on an unexpected exit, runs it again with TF_LOG and fails."""
        p, _ = self.tf(*args)
        if p.returncode in ok:
            return p
        again, log = self.tf(*args, debug=True)
        keep = os.environ.get("FORT_TF_ARTIFACTS")
        if keep:
            dest = os.path.join(keep, self.config)
            os.makedirs(dest, exist_ok=True)
            shutil.copy(log, dest)
            shutil.copy(self.fort.log_path, os.path.join(dest, "server.log"))
        pytest.fail(
            f"[{self.config}] terraform {' '.join(args)} exited {p.returncode}\n"
            f"--- output ---\n{_tail(p.stdout, 10)}\n{_tail(p.stderr, 60)}\n"
            f"--- again with TF_LOG=DEBUG (exit {again.returncode}): failing requests ---\n"
            f"{_excerpt(log)}\n--- requests fort failed (server log) ---\n{self.fort.failed_requests()}",
            pytrace=False)

    def destroy_quietly(self):
        try:
            self.tf("destroy", "-auto-approve", "-input=false")
        except Exception:  # noqa: BLE001 - cleanup after a failure must not mask it
            pass


def _tail(text, n):
    return "\n".join(text.strip().splitlines()[-n:])


@pytest.fixture
def workspace(request):
    tmp = tempfile.mkdtemp(prefix="fort-tf-")
    fort = None
    made = []

    def make(config):
        nonlocal fort
        data = os.path.join(tmp, "fort-data")
        os.makedirs(data)
        fort = Fort(data)
        ws = Workspace(config, fort, tmp)
        made.append(ws)
        return ws

    try:
        yield make
    finally:
        for ws in made:
            if ws.applied and not ws.destroyed:
                ws.destroy_quietly()
        if fort:
            fort.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def outputs(ws):
    """The configuration's outputs after an apply, as values."""
    p = ws.step("output", "-json")
    return {k: v["value"] for k, v in json.loads(p.stdout).items()}


def lifecycle(ws, updates=(), expect=None):
    """init, apply, plan with no changes (again after each update: a set of variables applied
    in place), destroy, then a sweep that finds nothing left. `expect` checks the outputs
    after the first apply (what the data sources and computed attributes read back)."""
    before = inventory(ws.fort.ec2, ws.fort.iam, ws.fort.services)
    ws.step("init", "-input=false")
    ws.applied = True
    ws.step("apply", "-auto-approve", "-input=false")
    if expect:
        expect(outputs(ws))
    p = ws.step("plan", "-detailed-exitcode", "-input=false", ok=(0, 2))
    if p.returncode == 2:
        pytest.fail(f"[{ws.config}] plan after apply wants changes:\n{_tail(p.stdout, 120)}",
                    pytrace=False)
    for update in updates:
        for k, v in update.items():
            ws.var(k, v)
        p = ws.step("apply", "-auto-approve", "-input=false")
        if "to add" in p.stdout and not re.search(r"0 to add, \d+ to change, 0 to destroy", p.stdout):
            pytest.fail(f"[{ws.config}] update {update} replaced resources:\n{_tail(p.stdout, 40)}",
                        pytrace=False)
        p = ws.step("plan", "-detailed-exitcode", "-input=false", ok=(0, 2))
        if p.returncode == 2:
            pytest.fail(f"[{ws.config}] plan after update {update} wants changes:\n"
                        f"{_tail(p.stdout, 120)}", pytrace=False)
    ws.step("destroy", "-auto-approve", "-input=false")
    ws.destroyed = True
    after = inventory(ws.fort.ec2, ws.fort.iam, ws.fort.services)
    left = {k: sorted(v - before.get(k, set())) for k, v in after.items()}
    left = {k: v for k, v in left.items() if v}
    assert not left, f"[{ws.config}] destroy left resources behind: {left}"


def test_vpc_with_public_and_private_subnets_and_nat(workspace):
    lifecycle(workspace("vpc_nat"))


def test_security_groups_nacls_and_dhcp_options(workspace):
    lifecycle(workspace("security"))


def test_vpc_peering_with_routes(workspace):
    lifecycle(workspace("peering"))


def test_instances_enis_eips_key_pairs_and_launch_templates(workspace):
    ws = workspace("instances")
    key = os.path.join(os.path.dirname(ws.dir), "deployer")
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen is not installed (openssh-client)")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deployer@fort",
                    "-f", key], check=True)
    with open(key + ".pub") as f:
        ws.var("public_key", f.read().strip())

    def expect(out):
        # the image the provider's own acceptance tests launch from
        assert out["amzn2_minimal"] == "amzn2-ami-minimal-hvm-2.0.20241217.0-x86_64-ebs", out

    lifecycle(ws, expect=expect)


def test_default_vpc_data_sources(workspace):
    lifecycle(workspace("default_vpc"))


def test_instance_from_a_launch_template(workspace):
    lifecycle(workspace("launch_template"))


def test_vpc_endpoints_and_prefix_lists(workspace):
    lifecycle(workspace("endpoints"))


def test_flow_log_iam_role_and_policies(workspace):
    lifecycle(workspace("flow_logs"), updates=[{"revision": "2"}])


def test_flow_logs_on_a_vpc_and_a_subnet(workspace):
    lifecycle(workspace("flow_log_api"), updates=[{"revision": "2"}])


def test_private_hosted_zone_with_records(workspace):
    lifecycle(workspace("route53"), updates=[{"revision": "2"}])


def test_nat_gateways_with_secondary_addresses(workspace):
    lifecycle(workspace("nat_secondary"), updates=[{"revision": "2"}])


def test_vpc_block_public_access(workspace):
    lifecycle(workspace("block_public_access"), updates=[{"revision": "2"}])


def test_traffic_mirror_filter_rules_target_and_session(workspace):
    def expect(out):
        assert out["session_virtual_network_id"] == 4242

    lifecycle(workspace("traffic_mirror"), updates=[{"revision": "2"}], expect=expect)


def test_virtual_private_and_customer_gateways_and_a_vpn_connection(workspace):
    lifecycle(workspace("vpn_gateway"))


def test_transit_gateways_peering_vpn_and_prefix_lists(workspace):
    def expect(out):
        c = out["checks"]
        assert c["hub_asn"] == 64600
        assert c["peer_by_tag"] is True
        # the hub's attachments: two VPCs, the peering and the VPN
        assert (c["vpc_attachments"], c["attachments"], c["route_tables"]) == (2, 4, 1)
        assert c["attachment_b_type"] == "vpc"
        assert (c["associations"], c["propagations"]) == (3, 2)
        assert c["blackholes"] == ["10.99.0.0/16"]
        assert c["peering_peer_tgw"].startswith("tgw-")
        assert c["vpn_attachment"].startswith("tgw-attach-")
        assert c["s3_prefix_list_name"] == f"com.amazonaws.{REGION}.s3"
        assert len(c["route_table_a_assoc"]) == 2
        assert c["spokes_default_assoc"] is False
        assert c["vpn_attachment_name"] == "tf-transit-office-vpn"  # aws_ec2_tag on EC2's attachment
        assert c["peer_default_tables"] == [True, True]  # both defaults moved off the original

    lifecycle(workspace("transit_gateway"), updates=[{"revision": "2"}], expect=expect)


def test_ipv6_dual_stack_and_ipv6_only_subnets(workspace):
    def expect(out):
        c = out["checks"]
        vpc = ipaddress.ip_network(c["vpc_ipv6"])
        assert vpc.prefixlen == 56 and ipaddress.ip_network(c["second_block"]).prefixlen == 56
        assert c["vpc_ipv6"] != c["second_block"]
        public = list(vpc.subnets(new_prefix=64))[1]
        private = list(vpc.subnets(new_prefix=64))[2]
        assert len(c["instance_ipv6"]) == 2
        assert all(ipaddress.ip_address(a) in public for a in c["instance_ipv6"])
        assert c["pinned_ipv6"] == [str(private[100])]
        assert len(c["eni_ipv6"]) == 1 and ipaddress.ip_address(c["eni_ipv6"][0]) in private
        assert c["border_group"] == REGION
        assert c["ipv6_association"].startswith("vpc-cidr-assoc-")

    lifecycle(workspace("ipv6"), updates=[{"revision": "2"}], expect=expect)


def test_default_resources_enis_dhcp_options_and_endpoint_associations(workspace):
    ws = workspace("vpc_defaults")

    def expect(out):
        c = out["checks"]
        default = ws.fort.ec2.describe_vpcs(
            Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        assert c["default_subnet_vpc"] == default["VpcId"]
        assert c["default_dhcp"] == default["DhcpOptionsId"]
        assert c["default_sg"].startswith("sg-")
        assert c["main_original"].startswith("rtb-")
        assert c["eni_attachment"].startswith("eni-attach-")
        assert c["s3_prefix_list"].startswith("pl-")

    lifecycle(ws, updates=[{"revision": "2"}], expect=expect)
