"""Centralised egress through a transit gateway, with real packets (AWS's "centralized
egress to internet" pattern): spoke VPCs A and B have private subnets only and route
0.0.0.0/0 to the gateway; the spokes' gateway table sends 0.0.0.0/0 to the egress VPC's
attachment and blackholes 10.0.0.0/8 (the spokes stay apart); in the egress VPC the
attachment subnet's table sends 0.0.0.0/0 to a NAT gateway in the public subnet, whose
table sends 0.0.0.0/0 to the internet gateway and 10.0.0.0/8 back to the transit gateway;
the egress table reaches both spokes by their propagations. Both spokes ping and fetch
from the simulated internet, which sees the NAT gateway's elastic IP and cannot open a
connection in; removing the spokes' 0.0.0.0/0 gateway route cuts them off within about
a second. Root only; its own `fort up` and internet namespace."""

import os
import time

import pytest

from .fort_e2e import ALL_FROM, World, netns_list, ping, sh, time_to_silence
from .test_edge import HELLO, INET_HOST, WEB, FortUpWithEdge, Net, WebServer, eventually, fetch, fetch_eventually


@pytest.fixture(scope="module")
def gfort():
    ns = f"fort-inet-g{os.getpid() % 100000}"
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
def gw(gfort):
    world = World(gfort, gfort.client())
    yield world
    world.close()


@pytest.fixture
def gweb(gfort):
    with WebServer(gfort.ns) as s:
        yield s


def pings_within(src, ip, within=8.0):
    deadline = time.time() + within
    while time.time() < deadline:
        if ping(src, ip):
            return True
    return False


class Egress:
    def __init__(self, w):
        ec2 = self.ec2 = w.ec2
        self.w = w
        self.tgw = ec2.create_transit_gateway(
            Description="centralised egress",
            Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"},
        )["TransitGateway"]["TransitGatewayId"]
        w.cleanups.append(lambda: ec2.delete_transit_gateway(TransitGatewayId=self.tgw))
        # the egress VPC: public subnet (NAT gateway, 0/0 → igw), attachment subnet
        self.net = Net(w, "10.70.0.0/16")
        self.nat, self.nat_ip = self.net.nat(self.net.private_rtb)
        self.vpcs = {"e": self.net.vpc, "a": w.vpc("10.71.0.0/16"), "b": w.vpc("10.72.0.0/16")}
        subnets = {
            "e": self.net.private,
            "a": w.subnet(self.vpcs["a"], "10.71.1.0/24"),
            "b": w.subnet(self.vpcs["b"], "10.72.1.0/24"),
        }
        self.att = {}
        for k, v in self.vpcs.items():
            att = ec2.create_transit_gateway_vpc_attachment(
                TransitGatewayId=self.tgw, VpcId=v, SubnetIds=[subnets[k]]
            )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
            w.cleanups.append(
                lambda att=att: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att))
            self.att[k] = att
        self.tables = {}
        for name in ("spokes", "egress"):
            t = ec2.create_transit_gateway_route_table(TransitGatewayId=self.tgw)[
                "TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
            w.cleanups.append(lambda t=t: ec2.delete_transit_gateway_route_table(TransitGatewayRouteTableId=t))
            self.tables[name] = t
        for table, k in (("egress", "e"), ("spokes", "a"), ("spokes", "b")):
            ec2.associate_transit_gateway_route_table(
                TransitGatewayRouteTableId=self.tables[table], TransitGatewayAttachmentId=self.att[k])
        for k in ("a", "b"):
            ec2.enable_transit_gateway_route_table_propagation(
                TransitGatewayRouteTableId=self.tables["egress"], TransitGatewayAttachmentId=self.att[k])
        self.default_route(True)
        ec2.create_transit_gateway_route(TransitGatewayRouteTableId=self.tables["spokes"],
                                         DestinationCidrBlock="10.0.0.0/8", Blackhole=True)
        # the way back: the public subnet sends the spokes to the gateway
        ec2.create_route(RouteTableId=self.net.public_rtb, DestinationCidrBlock="10.0.0.0/8",
                         TransitGatewayId=self.tgw)
        for k in ("a", "b"):
            [main] = ec2.describe_route_tables(Filters=[
                {"Name": "vpc-id", "Values": [self.vpcs[k]]}, {"Name": "association.main", "Values": ["true"]}
            ])["RouteTables"]
            ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                             TransitGatewayId=self.tgw)
        groups = {k: w.group(self.vpcs[k], f"egress-{k}", [ALL_FROM("10.0.0.0/8")]) for k in ("a", "b")}
        self.a, self.a_ip = w.launch(subnets["a"], [groups["a"]])
        self.b, self.b_ip = w.launch(subnets["b"], [groups["b"]])

    def default_route(self, on):
        call = (self.ec2.create_transit_gateway_route if on else self.ec2.delete_transit_gateway_route)
        extra = {"TransitGatewayAttachmentId": self.att["e"]} if on else {}
        call(TransitGatewayRouteTableId=self.tables["spokes"], DestinationCidrBlock="0.0.0.0/0", **extra)


def test_spokes_reach_the_internet_through_the_egress_vpcs_nat_gateway(gfort, gw, gweb):
    n = Egress(gw)
    for i in (n.a, n.b):
        assert fetch_eventually(i, WEB, within=15) == HELLO, gfort.log_text()[-3000:]
        # the internet sees the NAT gateway's elastic IP
        assert gweb.clients()[-1] == n.nat_ip
        assert pings_within(i, INET_HOST)
    assert eventually(lambda: gfort.edge_metric("fort_edge_nat_events_total", event="flow_created") >= 2)
    # nothing gets in from the internet
    assert fetch(gfort.ns, f"http://{n.nat_ip}:8080/", timeout=1) is None
    assert eventually(lambda: gfort.edge_metric("fort_edge_drops_total", reason="nat_no_flow") > 0)
    # the spokes' table blackholes 10/8: they stay apart
    assert not pings_within(n.a, n.b_ip, within=2) and not pings_within(n.b, n.a_ip, within=2)

    # removing the spokes' default route at the gateway cuts them off (a live path
    # answers within 0.2 s)
    assert ping(n.a, INET_HOST, wait=0.2)
    n.default_route(False)
    cut = time_to_silence(n.a, INET_HOST)
    assert cut is not None and cut < 1.5, f"path cut after {cut} s"
    print(f"transit gateway 0.0.0.0/0 route removed: pings stopped after {cut:.2f} s")
    assert fetch(n.b, WEB, timeout=1) is None
    n.default_route(True)
    assert pings_within(n.a, INET_HOST)
    assert fetch_eventually(n.b, WEB) == HELLO


def test_the_nat_subnets_acl_decides_the_spokes_egress(gfort, gw, gweb):
    n = Egress(gw)
    ec2 = gw.ec2
    assert fetch_eventually(n.a, WEB, within=15) == HELLO, gfort.log_text()[-3000:]
    # an ACL on the NAT gateway's subnet that lets nothing in from the spokes' blocks
    acl = ec2.create_network_acl(VpcId=n.net.vpc)["NetworkAcl"]["NetworkAclId"]
    gw.cleanups.append(lambda: ec2.delete_network_acl(NetworkAclId=acl))
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Protocol="-1", RuleAction="deny",
                                 Egress=False, CidrBlock="10.71.0.0/16")
    for egress in (True, False):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                     Egress=egress, CidrBlock="0.0.0.0/0")
    [default] = ec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [n.net.vpc]}, {"Name": "default", "Values": ["true"]}
    ])["NetworkAcls"]
    [assoc] = [x["NetworkAclAssociationId"] for x in default["Associations"] if x["SubnetId"] == n.net.public]
    new = ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)["NewAssociationId"]
    gw.cleanups.append(lambda: ec2.replace_network_acl_association(
        AssociationId=new, NetworkAclId=default["NetworkAclId"]))
    # A (10.71/16) is cut, B goes on
    assert time_to_silence(n.a, INET_HOST) is not None
    assert pings_within(n.b, INET_HOST)
    assert fetch(n.b, WEB) == HELLO
