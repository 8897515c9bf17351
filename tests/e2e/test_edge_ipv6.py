"""IPv6 beyond the VPC with real packets: an instance with an Amazon-provided IPv6 address
reaches the simulated internet's IPv6 hosts (2001:db8:ffff::/48 in the internet
namespace) through an internet gateway as its own address (no NAT for IPv6, as in AWS),
and is reached from there where its security group allows; through an egress-only
internet gateway it still reaches out and gets its replies, while nothing from outside
gets in; removing the route cuts each path.

Root only (skipped otherwise, see conftest). This module runs its own `fort up` with its
own internet namespace, removed on teardown even when a test fails; every server it
starts is killed on the way out.
"""

import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from .fort_e2e import World, netns_list, nsexec, sh
from .test_edge import FortUpWithEdge, eventually
from .test_ipv6 import ping6, ping6_eventually, ready6

pytestmark = pytest.mark.skipif(shutil.which("dhclient") is None, reason="dhclient is not installed")

INET6 = "2001:db8:ffff::1"
PORT = 8000


class Server6:
    """python's http.server bound to an IPv6 address in namespace `ns`; remembers its
    clients' addresses."""

    def __init__(self, ns, ip, port, text):
        self.ns, self.ip, self.port = ns, ip, port
        self.dir = tempfile.mkdtemp(prefix="fort-e2e-v6-")
        with open(os.path.join(self.dir, "hello.txt"), "w") as f:
            f.write(text)
        self.log = open(os.path.join(self.dir, "access.log"), "w+")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-u", "-m", "http.server", str(port),
             "--bind", ip, "--directory", self.dir],
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            if nsexec(ns, "sh", "-c", f"grep -qi ':{port:04X} 0*:0000 0A' /proc/net/tcp6").returncode == 0:
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"http.server did not start on [{ip}]:{port} in {ns}")

    def clients(self):
        with open(os.path.join(self.dir, "access.log")) as f:
            return [line.split(" - - ")[0] for line in f if " - - " in line]

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fetch6(ns, ip, port, timeout=3):
    url = f"http://[{ip}]:{port}/hello.txt"
    r = nsexec(ns, "curl", "-6", "-g", "-s", "-m", str(timeout), url, timeout=timeout + 5)
    return r.stdout if r.returncode == 0 else None


def fetch6_eventually(ns, ip, port, within=10.0):
    deadline = time.time() + within
    while time.time() < deadline:
        body = fetch6(ns, ip, port, timeout=2)
        if body is not None:
            return body
        time.sleep(0.2)
    return None


def never6(ns, ip, port, for_s=2.0):
    """True if no fetch succeeds for `for_s` seconds (after the change has had 1 s)."""
    time.sleep(1.0)
    deadline = time.time() + for_s
    while time.time() < deadline:
        if fetch6(ns, ip, port, timeout=1) is not None:
            return False
    return True


@pytest.fixture(scope="module")
def efort():
    ns = f"fort-inet6-{os.getpid() % 100000}"
    f = FortUpWithEdge(ns, hosts=2, zones=1)
    try:
        yield f
    finally:
        leftovers = f.close()
        left_ns = ns in netns_list()
        if left_ns:
            sh("ip", "netns", "del", ns)
        assert not leftovers, f"fort up left namespaces behind: {leftovers}"
        assert not left_ns, f"fort up left the internet namespace {ns} behind"


@pytest.fixture
def w(efort):
    world = World(efort, efort.client())
    yield world
    world.close()


def dual_stack(w, cidr):
    """A VPC with an Amazon-provided /56 and a dual-stack subnet with its own route
    table; (vpc, subnet, route table, the subnet's /64, the VPC's /56)."""
    ec2 = w.ec2
    vpc = ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    w.cleanups.append(lambda: ec2.delete_vpc(VpcId=vpc))
    block = None
    deadline = time.time() + 10
    while block is None and time.time() < deadline:
        v = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
        assoc = [a for a in v.get("Ipv6CidrBlockAssociationSet", [])
                 if a["Ipv6CidrBlockState"]["State"] == "associated"]
        block = ipaddress.ip_network(assoc[0]["Ipv6CidrBlock"]) if assoc else None
        time.sleep(0.2)
    assert block is not None
    # the VPC's addresses are none of the internet's
    assert not block.overlaps(ipaddress.ip_network("2001:db8::/32")), block
    net6 = list(block.subnets(new_prefix=64))[1]
    base = cidr.split(".")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base[0]}.{base[1]}.1.0/24", Ipv6CidrBlock=str(net6),
                               AvailabilityZone=f"{ec2.meta.region_name}a")["Subnet"]["SubnetId"]
    w.cleanups.append(lambda: ec2.delete_subnet(SubnetId=subnet))
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    w.cleanups.append(lambda: ec2.delete_route_table(RouteTableId=rtb))
    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)["AssociationId"]
    w.cleanups.append(lambda: ec2.disassociate_route_table(AssociationId=assoc))
    return vpc, subnet, rtb, net6, block


def launch6(w, subnet, sg):
    ec2 = w.ec2
    inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet, SecurityGroupIds=[sg], Ipv6AddressCount=1)["Instances"][0]
    iid = inst["InstanceId"]
    w.instances.append(iid)
    w.fort.instances.add(iid)
    w.wait_ready(iid, inst["PrivateIpAddress"])
    six = inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]
    assert ready6(iid, six), nsexec(iid, "ip", "-6", "addr").stdout + nsexec(iid, "ip", "-6", "route").stdout
    return iid, six


def group6(w, vpc):
    """A group letting ICMPv6 in from the internet's hosts (for its errors and pings) and
    everything out over IPv6."""
    ec2 = w.ec2
    sg = w.group(vpc, "edge-v6", [
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "2001:db8:ffff::/48"}]},
    ])
    try:
        ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    except Exception as e:  # the group has it already, as AWS gives it in an IPv6 VPC
        if "InvalidPermission.Duplicate" not in str(e):
            raise
    return sg


def test_ipv6_through_the_internet_gateway_both_ways(efort, w):
    ec2 = w.ec2
    vpc, subnet, rtb, _, _ = dual_stack(w, "10.70.0.0/16")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    w.cleanups.append(lambda: ec2.delete_internet_gateway(InternetGatewayId=igw))
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    w.cleanups.append(lambda: ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc))
    ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", GatewayId=igw)
    sg = group6(w, vpc)
    a, a6 = launch6(w, subnet, sg)

    # out: ping and TCP to an internet host, as the instance's own address
    assert ping6_eventually(a, INET6, within=10), efort.edge_metrics_text()
    with Server6(efort.ns, INET6, PORT, "hello over IPv6\n") as web:
        assert fetch6_eventually(a, INET6, PORT) == "hello over IPv6\n", efort.edge_metrics_text()
        assert ipaddress.ip_address(web.clients()[-1]) == ipaddress.ip_address(a6)
    assert eventually(lambda: efort.edge_metric("fort_edge_packets_total", path="igw_outbound_ipv6") > 0)
    assert eventually(lambda: efort.edge_metric("fort_edge_packets_total", path="igw_inbound_ipv6") > 0)

    # in: the internet reaches the instance's address where its group allows
    with Server6(a, a6, 8080, f"hello from {a}\n"):
        assert never6(efort.ns, a6, 8080)
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
             "Ipv6Ranges": [{"CidrIpv6": "2001:db8:ffff::/48"}]}])
        assert fetch6_eventually(efort.ns, a6, 8080) == f"hello from {a}\n"
        assert ping6(efort.ns, a6)

        # removing the route cuts the path (replies included)
        ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0")
        assert never6(efort.ns, a6, 8080)
        assert not ping6(a, INET6)


def test_egress_only_gateway_lets_out_and_nothing_in(efort, w):
    ec2 = w.ec2
    vpc, subnet, rtb, _, _ = dual_stack(w, "10.71.0.0/16")
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vpc)["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    w.cleanups.append(lambda: ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=eigw))
    ec2.create_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    sg = group6(w, vpc)
    # the group would let the internet in: the gateway does not
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    a, a6 = launch6(w, subnet, sg)

    # out and back: ping and TCP
    assert ping6_eventually(a, INET6, within=10), efort.edge_metrics_text()
    with Server6(efort.ns, INET6, PORT, "hello through eigw\n") as web:
        assert fetch6_eventually(a, INET6, PORT) == "hello through eigw\n", efort.edge_metrics_text()
        assert ipaddress.ip_address(web.clients()[-1]) == ipaddress.ip_address(a6)
    assert eventually(lambda: efort.edge_metric("fort_edge_packets_total", path="eigw_outbound") > 0)
    assert eventually(lambda: efort.edge_metric("fort_edge_packets_total", path="eigw_inbound") > 0)

    # nothing starts from outside: neither a connection nor a ping
    with Server6(a, a6, 8080, f"hello from {a}\n"):
        assert never6(efort.ns, a6, 8080)
        assert not ping6(efort.ns, a6)
        assert eventually(lambda: efort.edge_metric("fort_edge_drops_total", reason="egress_only_no_flow") > 0)

    # removing the route cuts the way out
    ec2.delete_route(RouteTableId=rtb, DestinationIpv6CidrBlock="::/0")
    time.sleep(1.0)
    assert not ping6(a, INET6)
    with Server6(efort.ns, INET6, PORT, "hello\n"):
        assert never6(a, INET6, PORT)
