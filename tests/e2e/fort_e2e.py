"""End-to-end helpers: a real `fort up` with host agents, instances as network
namespaces, real packets sent with ordinary tools. (A module of its own, not conftest,
so that it never collides with tests/api's conftest when both suites run together.)

Needs root (TAP devices and network namespaces); skipped with a message otherwise. Each
`fort up` gets its own data directory, API and mapping ports, and a distinct underlay
range on loopback, so several can run side by side. Everything a test creates is removed
on teardown, even when the test fails.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORT_BIN = os.environ.get("FORT_BIN", os.path.join(ROOT, "target", "debug", "fort"))
ACCESS_KEY = "AKIAFORTE2ETESTKEY01"
SECRET_KEY = "fort-e2e-secret-key-000000000000000000000"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_underlay_base(hosts):
    """A 127.x.y.10 whose next `hosts` addresses have UDP 6081 free."""
    for _ in range(100):
        base = (127, random.randint(100, 250), random.randint(0, 255), 10)
        socks = []
        try:
            for i in range(hosts):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((f"{base[0]}.{base[1]}.{base[2]}.{base[3] + i}", 6081))
            return ".".join(map(str, base))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free underlay range on loopback")


def sh(*cmd, timeout=10, check=False):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=check)


def netns_list():
    out = sh("ip", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def links():
    out = sh("ip", "-o", "link", "show").stdout
    return {m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)", out, re.M)}


class FortUp:
    """`fort up` with host agents on a private underlay range."""

    def __init__(self, hosts=2, zones=1, extra=(), mapping_port=0):
        self.data_dir = tempfile.mkdtemp(prefix="fort-e2e-")
        self.creds = os.path.join(self.data_dir, "test-credentials")
        with open(self.creds, "w") as f:
            f.write(
                f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
                "aws_account_id = 123456789012\n"
            )
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.base = free_underlay_base(hosts)
        self.hosts = hosts
        self.zones_n = zones
        self.instances = set()
        self.metrics = {}
        self.extra = list(extra)
        self.mapping = f"127.0.0.1:{mapping_port}"
        self.log_path = os.path.join(self.data_dir, "fort.log")
        self.start()

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.setdefault("FORT_LOG", "info")
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [FORT_BIN, "up", "--listen", f"127.0.0.1:{self.port}", "--mapping-listen", self.mapping,
             "--data-dir", self.data_dir, "--credentials", self.creds, "--hosts", str(self.hosts),
             "--zones", str(self.zones_n), "--underlay-base", self.base, *self.extra],
            stdout=self.log, stderr=self.log, env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fort up exited with {self.proc.returncode}:\n{self.log_text()}")
            text = self.log_text()[offset:]
            found = re.findall(r"agent (h\d+):\s+(\S+), underlay (\S+), metrics (\S+)", text)
            if len(found) == self.hosts:
                self.metrics = {h: m for h, _, _, m in found}
                self.zones = {h: z.rstrip(",") for h, z, _, _ in found}
                self.underlays = {h: u.rstrip(",") for h, _, u, _ in found}
                return
            time.sleep(0.1)
        raise RuntimeError(f"fort up did not start its agents:\n{self.log_text()}")

    def restart(self):
        """Stops `fort up` and starts it again on the same data directory and addresses."""
        self.stop()
        self.start()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("latin-1")

    def client(self, region=REGION):
        return boto3.client(
            "ec2", endpoint_url=self.endpoint, region_name=region,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def service(self, name):
        """A boto3 client of another service Fort serves on the same endpoint (logs, s3)."""
        return boto3.client(
            name, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                          s3={"addressing_style": "path"}),
        )

    def metrics_text(self, host):
        import urllib.request
        with urllib.request.urlopen(self.metrics[host], timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """Sum of a metric over every agent, for samples whose labels match."""
        total = 0
        for h in self.metrics:
            for line in self.metrics_text(h).splitlines():
                if not line.startswith(name + "{"):
                    continue
                lab, value = line[len(name):].rsplit(" ", 1)
                if all(f'{k}="{v}"' in lab for k, v in labels.items()):
                    total += float(value)
        return total

    def stop(self):
        stop_process(self.proc)
        self.log.close()

    def close(self):
        self.stop()
        # Whatever the agents left (they should leave nothing) is removed here.
        leftovers = self.instances & netns_list()
        for ns in leftovers:
            for pid in sh("ip", "netns", "pids", ns).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            sh("ip", "netns", "del", ns)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return leftovers


def stop_process(proc):
    """SIGTERM, then SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nsexec(ns, *cmd, timeout=10):
    return sh("ip", "netns", "exec", ns, *cmd, timeout=timeout)


def ping(src, dst_ip, count=1, wait=1):
    r = nsexec(src, "ping", "-c", str(count), "-W", str(wait), "-n", dst_ip, timeout=count * wait + 5)
    return r.returncode == 0


def ping_eventually(src, dst_ip, within=5.0):
    deadline = time.time() + within
    while time.time() < deadline:
        if ping(src, dst_ip):
            return True
    return False


def never_pings(src, dst_ip, for_s=2.0):
    """No ping answered for `for_s` seconds."""
    deadline = time.time() + for_s
    while time.time() < deadline:
        if ping(src, dst_ip):
            return False
    return True


def silenced(src, dst_ip, within=3.0):
    """Pings stop within `within` seconds (the change reaches the hosts) and stay stopped."""
    deadline = time.time() + within
    while time.time() < deadline and ping(src, dst_ip):
        pass
    return never_pings(src, dst_ip, 1.5)


def time_to_silence(src, dst_ip, within=5.0):
    """Seconds until pings stop (and stay stopped for 1.5 s), or None."""
    start = time.time()
    while time.time() - start < within:
        if not ping(src, dst_ip, wait=0.2):
            cut = time.time() - start
            return cut if never_pings(src, dst_ip, 1.5) else None
    return None


def main_table(ec2, vpc):
    """The id of a VPC's main route table."""
    [t] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                             {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return t["RouteTableId"]


def drops(fort):
    """The agents' drop counters that are not zero (for failure messages)."""
    return [line for h in fort.metrics for line in fort.metrics_text(h).splitlines()
            if "drops_total" in line and not line.startswith("#") and not line.endswith(" 0")]


class TcpServer:
    """A TCP server (python's http.server) in an instance's namespace."""

    def __init__(self, ns, ip, port=8080):
        self.ns, self.ip, self.port = ns, ip, port
        self.dir = tempfile.mkdtemp(prefix="fort-e2e-www-")
        with open(os.path.join(self.dir, "hello.txt"), "w") as f:
            f.write(f"hello from {ns}\n")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", str(port), "--bind", ip,
             "--directory", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            r = nsexec(ns, "sh", "-c", f"cat /proc/net/tcp | grep -qi ':{port:04X} 00000000:0000 0A'")
            if r.returncode == 0:
                return
            time.sleep(0.05)
        self.close()
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        raise RuntimeError(f"http.server did not start in {ns}: {err}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tcp_get(src, ip, port=8080, timeout=2):
    """Fetches hello.txt over TCP from `src`; the body, or None."""
    r = nsexec(src, "curl", "-s", "-m", str(timeout), f"http://{ip}:{port}/hello.txt", timeout=timeout + 5)
    return r.stdout if r.returncode == 0 else None


class World:
    """Builds VPC resources and instances for one test and removes them afterwards."""

    def __init__(self, fort, ec2):
        self.fort, self.ec2 = fort, ec2
        self.instances = []
        self.cleanups = []

    def vpc(self, cidr="10.0.0.0/16"):
        v = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        self.cleanups.append(lambda: self.ec2.delete_vpc(VpcId=v))
        return v

    def subnet(self, vpc, cidr, zone=f"{REGION}a"):
        s = self.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        self.cleanups.append(lambda: self.ec2.delete_subnet(SubnetId=s))
        return s

    def group(self, vpc, name, ingress=()):
        g = self.ec2.create_security_group(VpcId=vpc, GroupName=name, Description=name)["GroupId"]
        self.cleanups.append(lambda: self.ec2.delete_security_group(GroupId=g))
        if ingress:
            self.ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=list(ingress))
        return g

    def run(self, subnet, groups=None, ip=None):
        kw = {"ImageId": "ami-12345678", "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1,
              "SubnetId": subnet}
        if groups:
            kw["SecurityGroupIds"] = groups
        if ip:
            kw["PrivateIpAddress"] = ip
        inst = self.ec2.run_instances(**kw)["Instances"][0]
        iid = inst["InstanceId"]
        self.instances.append(iid)
        self.fort.instances.add(iid)
        return iid, inst["PrivateIpAddress"]

    def wait_ready(self, iid, ip, within=30.0):
        """Waits for the namespace, eth0 with the address (by DHCP), and the default route."""
        deadline = time.time() + within
        while time.time() < deadline:
            if os.path.exists(f"/run/netns/{iid}"):
                a = nsexec(iid, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
                r = nsexec(iid, "ip", "route", "show", "default").stdout
                if f"inet {ip}/" in a and "default via" in r:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{iid} not ready with {ip}:\n{self.fort.log_text()[-4000:]}")

    def launch(self, subnet, groups=None, ip=None):
        iid, addr = self.run(subnet, groups, ip)
        self.wait_ready(iid, addr)
        return iid, addr

    def elastic_ip(self, vpc, iid):
        """An internet gateway on `vpc` and an elastic IP on `iid`: its public address."""
        ec2 = self.ec2
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        self.cleanups.append(lambda: ec2.delete_internet_gateway(InternetGatewayId=igw))
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        self.cleanups.append(lambda: ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc))
        alloc = ec2.allocate_address(Domain="vpc")
        self.cleanups.append(lambda: ec2.release_address(AllocationId=alloc["AllocationId"]))
        assoc = ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)["AssociationId"]
        self.cleanups.append(lambda: ec2.disassociate_address(AssociationId=assoc))
        return alloc["PublicIp"]

    def terminate(self, *iids):
        if iids:
            self.ec2.terminate_instances(InstanceIds=list(iids))

    def close(self):
        if self.instances:
            try:
                self.ec2.terminate_instances(InstanceIds=self.instances)
            except Exception:
                pass
            deadline = time.time() + 15
            while time.time() < deadline and any(os.path.exists(f"/run/netns/{i}") for i in self.instances):
                time.sleep(0.1)
        for c in reversed(self.cleanups):
            for _ in range(3):
                try:
                    c()
                    break
                except Exception:
                    time.sleep(0.5)


ALL_FROM = lambda cidr: {"IpProtocol": "-1", "IpRanges": [{"CidrIp": cidr}]}  # noqa: E731


def eni_of(ec2, iid):
    r = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return r["NetworkInterfaces"][0]["NetworkInterfaceId"], r["NetworkInterfaces"][0]["MacAddress"]


def host_of(fort, eni, timeout=10.0):
    """The agent an ENI is attached to (from its /metrics, once the agent shows it)."""
    deadline = time.time() + timeout
    while True:
        for h in fort.metrics:
            if f'eni="{eni}"' in fort.metrics_text(h):
                return h
        if time.time() > deadline:
            return None
        time.sleep(0.1)


def neighbour_mac(ns, ip):
    out = nsexec(ns, "ip", "neigh", "show", ip, "dev", "eth0").stdout
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return m.group(1) if m else None
