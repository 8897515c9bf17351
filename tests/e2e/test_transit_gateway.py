"""Transit gateways with real packets: three VPCs on one gateway in the classic "shared
services" layout. Two gateway route tables: the spokes' (associated with both spokes,
the shared VPC propagating to it) and the shared VPC's (both spokes propagating to it).
Spokes reach the shared VPC and not each other; a blackhole route drops; removing a
propagation cuts the path within about a second; a flow that crosses zones enters the
destination VPC through the attachment subnet of the sender's zone, under its ACL."""

import pytest

from .fort_e2e import (
    ALL_FROM, REGION, FortUp, TcpServer, World, drops, never_pings, ping, ping_eventually, tcp_get,
    time_to_silence,
)

ZA, ZB = f"{REGION}a", f"{REGION}b"
JOINED = "10.80.0.0/14"


@pytest.fixture(scope="module")
def tfort():
    # two hosts, one in each zone
    f = FortUp(hosts=2, zones=2)
    yield f
    leftovers = f.close()
    assert not leftovers, f"fort up left namespaces behind: {leftovers}"


@pytest.fixture(scope="module")
def tec2(tfort):
    return tfort.client()


@pytest.fixture
def tworld(tfort, tec2):
    w = World(tfort, tec2)
    yield w
    w.close()


class Layout:
    """Shared VPC S (instance in zone a; attachment subnets in zones a and b), spoke A
    (zone a), spoke B (zone b), each routing 10.80.0.0/14 to the gateway."""

    def __init__(self, w):
        ec2 = self.ec2 = w.ec2
        self.w = w
        self.tgw = ec2.create_transit_gateway(
            Description="shared services",
            Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"},
        )["TransitGateway"]["TransitGatewayId"]
        w.cleanups.append(lambda: ec2.delete_transit_gateway(TransitGatewayId=self.tgw))
        s, a, b = w.vpc("10.80.0.0/16"), w.vpc("10.81.0.0/16"), w.vpc("10.82.0.0/16")
        self.vpcs = {"s": s, "a": a, "b": b}
        self.s_a = w.subnet(s, "10.80.1.0/24", ZA)
        self.s_b = w.subnet(s, "10.80.2.0/24", ZB)
        a_sub = w.subnet(a, "10.81.1.0/24", ZA)
        b_sub = w.subnet(b, "10.82.1.0/24", ZB)
        groups = {k: w.group(v, f"joined-{k}", [ALL_FROM(JOINED)]) for k, v in self.vpcs.items()}
        self.tables = {
            name: ec2.create_transit_gateway_route_table(TransitGatewayId=self.tgw)[
                "TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
            for name in ("spokes", "shared")
        }
        for t in self.tables.values():
            w.cleanups.append(lambda t=t: ec2.delete_transit_gateway_route_table(TransitGatewayRouteTableId=t))
        self.att = {}
        for k, subnets in (("s", [self.s_a, self.s_b]), ("a", [a_sub]), ("b", [b_sub])):
            att = ec2.create_transit_gateway_vpc_attachment(
                TransitGatewayId=self.tgw, VpcId=self.vpcs[k], SubnetIds=subnets
            )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
            w.cleanups.append(
                lambda att=att: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att))
            self.att[k] = att
        for table, k in (("shared", "s"), ("spokes", "a"), ("spokes", "b")):
            ec2.associate_transit_gateway_route_table(
                TransitGatewayRouteTableId=self.tables[table], TransitGatewayAttachmentId=self.att[k])
        for table, k in (("spokes", "s"), ("shared", "a"), ("shared", "b")):
            self.propagate(table, k, True)
        for v in self.vpcs.values():
            [main] = ec2.describe_route_tables(Filters=[
                {"Name": "vpc-id", "Values": [v]}, {"Name": "association.main", "Values": ["true"]}
            ])["RouteTables"]
            ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock=JOINED,
                             TransitGatewayId=self.tgw)
        self.s, self.s_ip = w.launch(self.s_a, [groups["s"]])
        self.a, self.a_ip = w.launch(a_sub, [groups["a"]])
        self.b, self.b_ip = w.launch(b_sub, [groups["b"]])

    def propagate(self, table, k, on):
        call = (self.ec2.enable_transit_gateway_route_table_propagation if on
                else self.ec2.disable_transit_gateway_route_table_propagation)
        call(TransitGatewayRouteTableId=self.tables[table], TransitGatewayAttachmentId=self.att[k])


def test_shared_services_through_one_transit_gateway(tfort, tworld):
    n = Layout(tworld)
    ec2 = tworld.ec2
    # spokes reach the shared VPC, both ways, ping and TCP
    assert ping_eventually(n.a, n.s_ip), tfort.log_text()[-3000:]
    assert ping_eventually(n.b, n.s_ip)
    assert ping(n.s, n.a_ip) and ping(n.s, n.b_ip)
    with TcpServer(n.s, n.s_ip) as _:
        assert tcp_get(n.a, n.s_ip) == f"hello from {n.s}\n"
        assert tcp_get(n.b, n.s_ip) == f"hello from {n.s}\n"
    # the spokes are isolated from each other
    assert never_pings(n.a, n.b_ip, 1.0) and never_pings(n.b, n.a_ip, 1.0)

    # a blackhole route, more specific than the propagated one, drops
    ec2.create_transit_gateway_route(TransitGatewayRouteTableId=n.tables["spokes"],
                                     DestinationCidrBlock="10.80.1.0/24", Blackhole=True)
    assert time_to_silence(n.a, n.s_ip) is not None
    ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=n.tables["spokes"],
                                     DestinationCidrBlock="10.80.1.0/24")
    assert ping_eventually(n.a, n.s_ip)

    # removing the shared VPC's propagation to the spokes' table cuts the path
    n.propagate("spokes", "s", False)
    cut = time_to_silence(n.a, n.s_ip)
    assert cut is not None and cut < 1.5, f"path cut after {cut} s"
    print(f"propagation removed: pings stopped after {cut:.2f} s")
    assert never_pings(n.b, n.s_ip, 0.5)
    n.propagate("spokes", "s", True)
    assert ping_eventually(n.a, n.s_ip)


def test_a_cross_zone_flow_uses_the_senders_zone_attachment(tfort, tworld):
    n = Layout(tworld)
    ec2 = tworld.ec2
    assert ping_eventually(n.b, n.s_ip), tfort.log_text()[-3000:]
    # an ACL on the shared VPC's zone-b attachment subnet that lets no ICMP out
    acl = ec2.create_network_acl(VpcId=n.vpcs["s"])["NetworkAcl"]["NetworkAclId"]
    tworld.cleanups.append(lambda: ec2.delete_network_acl(NetworkAclId=acl))
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Protocol="1", RuleAction="deny",
                                 Egress=True, CidrBlock="0.0.0.0/0", IcmpTypeCode={"Type": -1, "Code": -1})
    for egress in (True, False):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                     Egress=egress, CidrBlock="0.0.0.0/0")
    [default] = ec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [n.vpcs["s"]]}, {"Name": "default", "Values": ["true"]}
    ])["NetworkAcls"]
    [assoc] = [x["NetworkAclAssociationId"] for x in default["Associations"] if x["SubnetId"] == n.s_b]
    new = ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)["NewAssociationId"]
    tworld.cleanups.append(lambda: ec2.replace_network_acl_association(
        AssociationId=new, NetworkAclId=default["NetworkAclId"]))
    # B (zone b) enters the shared VPC by its zone-b subnet: cut; A (zone a) by the zone-a
    # subnet, S's own (no ACL between them): still through; TCP from B still passes
    assert time_to_silence(n.b, n.s_ip) is not None
    assert ping(n.a, n.s_ip)
    with TcpServer(n.s, n.s_ip) as _:
        assert tcp_get(n.b, n.s_ip) == f"hello from {n.s}\n", drops(tfort)
    # S's pings reach B (S is in zone a), but B's replies come back from zone b, by the
    # zone-b subnet: each direction keeps its own sender's zone (without appliance mode)
    assert never_pings(n.s, n.b_ip, 1.0)


PEERED = "10.84.0.0/14"


class Peered:
    """Two transit gateways joined by a peering attachment (static routes only, as in AWS).
    VPC A (zone a) on tgw-1; VPC B (zone b) and VPC C (zone a) on tgw-2. tgw-1's table
    (A's and the peering's) sends B's and C's blocks to the peering and A's to A; tgw-2's
    table associated with the peering sends B's block to B and A's back across; C's
    attachment has a table of its own with no routes."""

    def __init__(self, w):
        ec2 = self.ec2 = w.ec2
        self.w = w
        no_defaults = {"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"}
        self.tgw1, self.tgw2 = (
            ec2.create_transit_gateway(Description=d, Options=no_defaults)["TransitGateway"]["TransitGatewayId"]
            for d in ("peered one", "peered two"))
        for g in (self.tgw1, self.tgw2):
            w.cleanups.append(lambda g=g: ec2.delete_transit_gateway(TransitGatewayId=g))
        a, b, c = w.vpc("10.84.0.0/16"), w.vpc("10.85.0.0/16"), w.vpc("10.86.0.0/16")
        self.vpcs = {"a": a, "b": b, "c": c}
        subnets = {"a": w.subnet(a, "10.84.1.0/24", ZA), "b": w.subnet(b, "10.85.1.0/24", ZB),
                   "c": w.subnet(c, "10.86.1.0/24", ZA)}
        groups = {k: w.group(v, f"peered-{k}", [ALL_FROM(PEERED)]) for k, v in self.vpcs.items()}
        self.att = {}
        for k, tgw in (("a", self.tgw1), ("b", self.tgw2), ("c", self.tgw2)):
            att = ec2.create_transit_gateway_vpc_attachment(
                TransitGatewayId=tgw, VpcId=self.vpcs[k], SubnetIds=[subnets[k]]
            )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
            w.cleanups.append(
                lambda att=att: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att))
            self.att[k] = att
        owner = ec2.describe_transit_gateways(TransitGatewayIds=[self.tgw2])["TransitGateways"][0]["OwnerId"]
        self.peering = ec2.create_transit_gateway_peering_attachment(
            TransitGatewayId=self.tgw1, PeerTransitGatewayId=self.tgw2, PeerAccountId=owner, PeerRegion=REGION,
        )["TransitGatewayPeeringAttachment"]["TransitGatewayAttachmentId"]
        ec2.accept_transit_gateway_peering_attachment(TransitGatewayAttachmentId=self.peering)
        w.cleanups.append(lambda: ec2.delete_transit_gateway_peering_attachment(
            TransitGatewayAttachmentId=self.peering))
        self.tables = {}
        for name, tgw in (("t1", self.tgw1), ("t2", self.tgw2), ("t3", self.tgw2)):
            t = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)[
                "TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
            w.cleanups.append(lambda t=t: ec2.delete_transit_gateway_route_table(TransitGatewayRouteTableId=t))
            self.tables[name] = t
        for table, att in (("t1", self.att["a"]), ("t1", self.peering), ("t2", self.att["b"]),
                           ("t2", self.peering), ("t3", self.att["c"])):
            ec2.associate_transit_gateway_route_table(
                TransitGatewayRouteTableId=self.tables[table], TransitGatewayAttachmentId=att)
            w.cleanups.append(lambda table=table, att=att: ec2.disassociate_transit_gateway_route_table(
                TransitGatewayRouteTableId=self.tables[table], TransitGatewayAttachmentId=att))
        for table, dst, att in (("t1", "10.85.0.0/16", self.peering), ("t1", "10.86.0.0/16", self.peering),
                                ("t1", "10.84.0.0/16", self.att["a"]), ("t2", "10.85.0.0/16", self.att["b"]),
                                ("t2", "10.84.0.0/16", self.peering)):
            self.route(table, dst, att)
        for v in self.vpcs.values():
            [main] = ec2.describe_route_tables(Filters=[
                {"Name": "vpc-id", "Values": [v]}, {"Name": "association.main", "Values": ["true"]}
            ])["RouteTables"]
            ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock=PEERED,
                             TransitGatewayId=self.tgw1 if v == a else self.tgw2)
        self.a, self.a_ip = w.launch(subnets["a"], [groups["a"]])
        self.b, self.b_ip = w.launch(subnets["b"], [groups["b"]])
        self.c, self.c_ip = w.launch(subnets["c"], [groups["c"]])

    def route(self, table, dst, att=None):
        kw = {"TransitGatewayAttachmentId": att} if att else {"Blackhole": True}
        self.ec2.create_transit_gateway_route(
            TransitGatewayRouteTableId=self.tables[table], DestinationCidrBlock=dst, **kw)

    def unroute(self, table, dst):
        self.ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=self.tables[table],
                                              DestinationCidrBlock=dst)


def test_peered_transit_gateways_carry_vpcs_across_the_peering(tfort, tworld):
    n = Peered(tworld)
    # A and B, on gateways peered, reach each other both ways, ping and TCP
    assert ping_eventually(n.a, n.b_ip), tfort.log_text()[-3000:] + "\n".join(drops(tfort))
    assert ping_eventually(n.b, n.a_ip), drops(tfort)
    with TcpServer(n.b, n.b_ip) as _:
        assert tcp_get(n.a, n.b_ip) == f"hello from {n.b}\n", drops(tfort)
    with TcpServer(n.a, n.a_ip) as _:
        assert tcp_get(n.b, n.a_ip) == f"hello from {n.a}\n", drops(tfort)
    # C is attached to tgw-2, but tgw-2's table for the peering has no route to it (nor
    # C's table a route anywhere): silence both ways
    assert never_pings(n.a, n.c_ip, 1.0) and never_pings(n.c, n.a_ip, 1.0)

    # a blackhole route on the peer side, more specific than the route to B, drops
    n.route("t2", "10.85.1.0/24")
    assert time_to_silence(n.a, n.b_ip) is not None
    n.unroute("t2", "10.85.1.0/24")
    assert ping_eventually(n.a, n.b_ip)

    # deleting tgw-1's route to the peering cuts the path
    n.unroute("t1", "10.85.0.0/16")
    cut = time_to_silence(n.a, n.b_ip)
    assert cut is not None and cut < 1.5, f"path cut after {cut} s"
    print(f"peering route deleted: pings stopped after {cut:.2f} s")
    n.route("t1", "10.85.0.0/16", n.peering)
    assert ping_eventually(n.a, n.b_ip)
