"""The edge with real packets: instances reach a simulated internet (a namespace of its
own, test hosts in 203.0.113.0/24) through an internet gateway with their public or
elastic IP, or through a NAT gateway with its elastic IP; the internet reaches instances
through their public addresses where security groups allow; removing a route, detaching
the gateway or disassociating the address cuts the path; an elastic IP moved to another
instance moves the traffic.

Root only (skipped otherwise, see conftest). This module runs its own `fort up` with its
own internet namespace, removed on teardown even when a test fails.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from .fort_e2e import FortUp, World, netns_list, nsexec, sh

WEB_PORT = 8000
INET_HOST = "203.0.113.1"


class FortUpWithEdge(FortUp):
    """`fort up` whose edge uses the internet namespace `ns`."""

    def __init__(self, ns, **kw):
        self.ns = ns
        super().__init__(extra=["--internet-ns", ns], **kw)

    def start(self):
        super().start()
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"edge:\s+underlay (\S+), metrics (\S+)", self.log_text())
            if m:
                self.edge_metrics_url = m.group(2)
                return
            time.sleep(0.1)
        raise RuntimeError(f"fort up did not start its edge:\n{self.log_text()}")

    def edge_metrics_text(self):
        with urllib.request.urlopen(self.edge_metrics_url, timeout=5) as r:
            return r.read().decode()

    def edge_metric(self, name, **labels):
        text = self.edge_metrics_text()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{"):
                lab, value = line[len(name):].rsplit(" ", 1)
                if all(f'{k}="{v}"' in lab for k, v in labels.items()):
                    total += float(value)
        return total


class WebServer:
    """python's http.server in the internet namespace; remembers its clients' addresses."""

    def __init__(self, ns, ip=INET_HOST, port=WEB_PORT):
        self.ns, self.ip, self.port = ns, ip, port
        self.dir = tempfile.mkdtemp(prefix="fort-e2e-inet-")
        with open(os.path.join(self.dir, "hello.txt"), "w") as f:
            f.write("hello from the internet\n")
        self.log = open(os.path.join(self.dir, "access.log"), "w+")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-u", "-m", "http.server", str(port),
             "--bind", ip, "--directory", self.dir],
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            if nsexec(ns, "sh", "-c", f"grep -qi ':{port:04X} 00000000:0000 0A' /proc/net/tcp").returncode == 0:
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError("http.server did not start in the internet namespace")

    def clients(self):
        with open(os.path.join(self.dir, "access.log")) as f:
            return re.findall(r"^(\d+\.\d+\.\d+\.\d+) - - ", f.read(), re.M)

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


def eventually(cond, within=3.0):
    deadline = time.time() + within
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def fetch(ns, url, timeout=3):
    r = nsexec(ns, "curl", "-s", "-m", str(timeout), url, timeout=timeout + 5)
    return r.stdout if r.returncode == 0 else None


def fetch_eventually(ns, url, within=8.0):
    deadline = time.time() + within
    while time.time() < deadline:
        body = fetch(ns, url, timeout=2)
        if body is not None:
            return body
        time.sleep(0.2)
    return None


def never_fetches(ns, url, for_s=3.0):
    """True if no fetch succeeds for `for_s` seconds (after the change has had 1 s)."""
    time.sleep(1.0)
    deadline = time.time() + for_s
    while time.time() < deadline:
        if fetch(ns, url, timeout=1) is not None:
            return False
    return True


@pytest.fixture(scope="module")
def efort():
    ns = f"fort-inet-{os.getpid() % 100000}"
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


@pytest.fixture(scope="module")
def eec2(efort):
    return efort.client()


@pytest.fixture
def w(efort, eec2):
    world = World(efort, eec2)
    yield world
    world.close()


@pytest.fixture
def web(efort):
    with WebServer(efort.ns) as s:
        yield s


class Net:
    """A VPC with a public subnet (0.0.0.0/0 → attached igw, public IPs on launch) and a
    private one (its own route table), every resource removed by the world's cleanups."""

    def __init__(self, w, cidr, sg_ingress=()):
        ec2 = self.ec2 = w.ec2
        self.w = w
        self.vpc = w.vpc(cidr)
        base = cidr.split(".")
        self.public = w.subnet(self.vpc, f"{base[0]}.{base[1]}.1.0/24")
        self.private = w.subnet(self.vpc, f"{base[0]}.{base[1]}.2.0/24")
        ec2.modify_subnet_attribute(SubnetId=self.public, MapPublicIpOnLaunch={"Value": True})
        self.igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        w.cleanups.append(lambda: ec2.delete_internet_gateway(InternetGatewayId=self.igw))
        ec2.attach_internet_gateway(InternetGatewayId=self.igw, VpcId=self.vpc)
        w.cleanups.append(self._detach)
        self.public_rtb = self._table(self.public)
        ec2.create_route(RouteTableId=self.public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=self.igw)
        self.private_rtb = self._table(self.private)
        self.sg = w.group(self.vpc, "edge-test", list(sg_ingress))

    def _detach(self):
        try:
            self.ec2.detach_internet_gateway(InternetGatewayId=self.igw, VpcId=self.vpc)
        except Exception as e:  # already detached by the test
            if "Gateway.NotAttached" not in str(e):
                raise

    def _table(self, subnet):
        ec2 = self.ec2
        rtb = ec2.create_route_table(VpcId=self.vpc)["RouteTable"]["RouteTableId"]
        self.w.cleanups.append(lambda: ec2.delete_route_table(RouteTableId=rtb))
        assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)["AssociationId"]
        self.w.cleanups.append(lambda: ec2.disassociate_route_table(AssociationId=assoc))
        return rtb

    def eip(self):
        a = self.ec2.allocate_address(Domain="vpc")
        self.w.cleanups.append(lambda: self.ec2.release_address(AllocationId=a["AllocationId"]))
        return a["AllocationId"], a["PublicIp"]

    def nat(self, table=None):
        """A NAT gateway in the public subnet, the default route of `table` (the private
        subnet's by default): (its id, its elastic IP)."""
        alloc, ip = self.eip()
        ec2 = self.ec2
        nat = ec2.create_nat_gateway(SubnetId=self.public, AllocationId=alloc)["NatGateway"]["NatGatewayId"]

        def delete():
            ec2.delete_nat_gateway(NatGatewayId=nat)
            deadline = time.time() + 10
            while time.time() < deadline:
                s = ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"]
                if s == "deleted":
                    return
                time.sleep(0.2)

        # runs before the address is released (cleanups run in reverse)
        self.w.cleanups.append(delete)
        deadline = time.time() + 15
        while time.time() < deadline:
            s = ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"]
            if s == "available":
                break
            time.sleep(0.2)
        ec2.create_route(RouteTableId=table or self.private_rtb, DestinationCidrBlock="0.0.0.0/0",
                         NatGatewayId=nat)
        return nat, ip

    def public_ip(self, iid):
        i = self.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        return i.get("PublicIpAddress")


WEB = f"http://{INET_HOST}:{WEB_PORT}/hello.txt"
HELLO = "hello from the internet\n"


def test_instance_with_public_ip_reaches_the_internet_as_its_public_ip(efort, w, web):
    net = Net(w, "10.60.0.0/16")
    a, _ = w.launch(net.public, [net.sg])
    pub = net.public_ip(a)
    assert pub and pub.startswith("198.51.100."), pub
    assert fetch_eventually(a, WEB) == HELLO, efort.log_text()[-3000:]
    assert web.clients()[-1] == pub
    assert eventually(lambda: efort.edge_metric("fort_edge_packets_total", path="igw_outbound") > 0)
    assert eventually(lambda: efort.edge_metric("fort_edge_packets_total", path="igw_inbound") > 0)
    # no public IP: no path, counted with its reason
    b, _ = w.launch(net.private, [net.sg])
    net.ec2.create_route(RouteTableId=net.private_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=net.igw)
    assert never_fetches(b, WEB, for_s=2)
    assert eventually(lambda: efort.edge_metric("fort_edge_drops_total", reason="no_public_mapping") > 0)
    # removing the route cuts the path
    net.ec2.delete_route(RouteTableId=net.public_rtb, DestinationCidrBlock="0.0.0.0/0")
    assert never_fetches(a, WEB)
    net.ec2.create_route(RouteTableId=net.public_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=net.igw)
    assert fetch_eventually(a, WEB) == HELLO
    # as in AWS, the gateway cannot be detached while public addresses are mapped
    with pytest.raises(Exception, match="DependencyViolation"):
        net.ec2.detach_internet_gateway(InternetGatewayId=net.igw, VpcId=net.vpc)
    assert fetch(a, WEB) == HELLO


def test_internet_reaches_an_elastic_ip_where_the_security_group_allows(efort, w):
    from .fort_e2e import TcpServer

    net = Net(w, "10.61.0.0/16")
    a, a_ip = w.launch(net.private, [net.sg])  # no public IP of its own
    alloc, eip = net.eip()
    net.ec2.create_route(RouteTableId=net.private_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=net.igw)
    assoc = net.ec2.associate_address(AllocationId=alloc, InstanceId=a)["AssociationId"]
    url = f"http://{eip}:8080/hello.txt"
    with TcpServer(a, a_ip, 8080):
        # the group allows nothing from outside yet
        assert never_fetches(efort.ns, url, for_s=2)
        net.ec2.authorize_security_group_ingress(
            GroupId=net.sg,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                            "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}],
        )
        assert fetch_eventually(efort.ns, url) == f"hello from {a}\n"
        # the instance reaches out as its elastic IP
        with WebServer(efort.ns) as web:
            assert fetch_eventually(a, WEB) == HELLO
            assert web.clients()[-1] == eip
        # disassociating the address cuts the path
        net.ec2.disassociate_address(AssociationId=assoc)
        assert never_fetches(efort.ns, url)


def _two_instances_and_an_eip(net, w, web):
    net.ec2.create_route(RouteTableId=net.private_rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=net.igw)
    a, _ = w.launch(net.private, [net.sg])
    b, _ = w.launch(net.private, [net.sg])
    alloc, eip = net.eip()
    assoc = net.ec2.associate_address(AllocationId=alloc, InstanceId=a)["AssociationId"]
    assert fetch_eventually(a, WEB) == HELLO
    assert web.clients()[-1] == eip
    assert fetch(b, WEB, timeout=1) is None
    return a, b, alloc, eip, assoc


def test_elastic_ip_moves_to_another_instance(efort, w, web):
    net = Net(w, "10.62.0.0/16")
    a, b, alloc, eip, assoc = _two_instances_and_an_eip(net, w, web)
    net.ec2.disassociate_address(AssociationId=assoc)
    net.ec2.associate_address(AllocationId=alloc, InstanceId=b)
    assert fetch_eventually(b, WEB, within=3) == HELLO, efort.edge_metrics_text()
    assert web.clients()[-1] == eip
    assert never_fetches(a, WEB, for_s=2)


def test_elastic_ip_reassociation_in_one_call_moves_the_traffic(efort, w, web):
    net = Net(w, "10.64.0.0/16")
    a, b, alloc, eip, _ = _two_instances_and_an_eip(net, w, web)
    net.ec2.associate_address(AllocationId=alloc, InstanceId=b, AllowReassociation=True)
    assert fetch_eventually(b, WEB, within=3) == HELLO, efort.edge_metrics_text()
    assert web.clients()[-1] == eip
    assert never_fetches(a, WEB, for_s=2)


def test_private_instance_reaches_the_internet_through_a_nat_gateway(efort, w, web):
    net = Net(w, "10.63.0.0/16")
    nat, nat_ip = net.nat()
    a, _ = w.launch(net.private, [net.sg])
    b, _ = w.launch(net.private, [net.sg])
    for i in (a, b):
        assert fetch_eventually(i, WEB) == HELLO, efort.log_text()[-3000:]
        assert web.clients()[-1] == nat_ip
    assert eventually(lambda: efort.edge_metric("fort_edge_packets_total", path="nat_outbound") > 0)
    assert eventually(lambda: efort.edge_metric("fort_edge_nat_events_total", event="flow_created") >= 2)
    # inbound connections to the NAT's address are impossible
    assert fetch(efort.ns, f"http://{nat_ip}:8080/", timeout=1) is None
    assert eventually(lambda: efort.edge_metric("fort_edge_drops_total", reason="nat_no_flow") > 0)
    # removing the route cuts the path
    net.ec2.delete_route(RouteTableId=net.private_rtb, DestinationCidrBlock="0.0.0.0/0")
    assert never_fetches(a, WEB, for_s=2)


def test_each_private_subnet_leaves_through_the_nat_gateway_its_route_names(efort, w, web):
    """Two NAT gateways in one VPC (the one-per-zone layout): each private subnet's flows
    leave with the elastic IP of the gateway its own route table names."""
    net = Net(w, "10.66.0.0/16")
    second = w.subnet(net.vpc, "10.66.3.0/24")
    second_rtb = net._table(second)
    _, ip1 = net.nat()
    _, ip2 = net.nat(second_rtb)
    a, _ = w.launch(net.private, [net.sg])
    b, _ = w.launch(second, [net.sg])
    for i, ip in ((a, ip1), (b, ip2), (a, ip1)):
        assert fetch_eventually(i, WEB) == HELLO, efort.edge_metrics_text()
        assert web.clients()[-1] == ip
    assert efort.edge_metric("fort_edge_drops_total", reason="ambiguous_gateway") == 0


def test_a_nat_gateways_secondary_address_carries_flows_too(efort, w, web):
    """AssociateNatGatewayAddress adds a source address: the edge spreads pairs of hosts
    over the gateway's addresses (by a hash of the pair: .10 and .12 take different ones
    toward the web host), and once the address is disassociated every flow leaves from
    the primary again."""
    net = Net(w, "10.67.0.0/16")
    nat, primary = net.nat()
    alloc, secondary = net.eip()
    ec2 = net.ec2
    ec2.associate_nat_gateway_address(NatGatewayId=nat, AllocationIds=[alloc])

    def disassociate():
        gw = ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]
        ids = [a["AssociationId"] for a in gw["NatGatewayAddresses"]
               if a.get("AllocationId") == alloc and a.get("AssociationId")]
        if ids:
            ec2.disassociate_nat_gateway_address(NatGatewayId=nat, AssociationIds=ids)
        deadline = time.time() + 10
        while time.time() < deadline:
            gw = ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]
            if not any(a.get("AllocationId") == alloc for a in gw["NatGatewayAddresses"]):
                return
            time.sleep(0.2)

    w.cleanups.append(disassociate)  # before the address is released
    a, _ = w.launch(net.private, [net.sg], ip="10.67.2.10")
    b, _ = w.launch(net.private, [net.sg], ip="10.67.2.12")
    seen = set()
    for i in (a, b):
        assert fetch_eventually(i, WEB) == HELLO, efort.edge_metrics_text()
        seen.add(web.clients()[-1])
    assert seen == {primary, secondary}
    disassociate()
    for i in (a, b):
        assert fetch_eventually(i, WEB) == HELLO
        assert web.clients()[-1] == primary


def test_prefix_lists_in_routes_and_security_groups(efort, w, web):
    """A route and a security group rule naming a customer-managed prefix list carry
    traffic for its entries; a change of the entries moves both within a second."""
    from .fort_e2e import TcpServer

    net = Net(w, "10.65.0.0/16")
    ec2 = net.ec2
    pl = ec2.create_managed_prefix_list(
        PrefixListName="internet-hosts", AddressFamily="IPv4", MaxEntries=2,
        Entries=[{"Cidr": "203.0.113.0/24"}])["PrefixList"]["PrefixListId"]
    w.cleanups.append(lambda: ec2.delete_managed_prefix_list(PrefixListId=pl))
    a, a_ip = w.launch(net.private, [net.sg])
    alloc, eip = net.eip()
    ec2.associate_address(AllocationId=alloc, InstanceId=a)
    # no route to the internet but the list's
    ec2.create_route(RouteTableId=net.private_rtb, DestinationPrefixListId=pl, GatewayId=net.igw)
    w.cleanups.append(lambda: ec2.delete_route(RouteTableId=net.private_rtb, DestinationPrefixListId=pl))
    assert fetch_eventually(a, WEB) == HELLO, efort.log_text()[-3000:]
    url = f"http://{eip}:8080/hello.txt"
    rule = {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "PrefixListIds": [{"PrefixListId": pl}]}
    with TcpServer(a, a_ip, 8080):
        assert never_fetches(efort.ns, url, for_s=2)
        ec2.authorize_security_group_ingress(GroupId=net.sg, IpPermissions=[rule])
        w.cleanups.append(lambda: ec2.revoke_security_group_ingress(GroupId=net.sg, IpPermissions=[rule]))
        assert fetch_eventually(efort.ns, url) == f"hello from {a}\n"
        # the internet's block leaves the list: neither the route nor the rule covers it
        ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=1,
                                       AddEntries=[{"Cidr": "192.0.2.0/24"}],
                                       RemoveEntries=[{"Cidr": "203.0.113.0/24"}])
        assert never_fetches(a, WEB, for_s=2)
        assert never_fetches(efort.ns, url, for_s=1)
        # and back
        ec2.modify_managed_prefix_list(PrefixListId=pl, CurrentVersion=2,
                                       AddEntries=[{"Cidr": "203.0.113.0/24"}])
        assert fetch_eventually(a, WEB, within=3) == HELLO
        assert fetch_eventually(efort.ns, url, within=3) == f"hello from {a}\n"
