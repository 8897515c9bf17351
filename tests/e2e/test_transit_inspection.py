"""Centralised inspection through a transit gateway, with real packets (AWS's "inspection
VPC" pattern, appliance mode on): spoke VPCs A and B route 0.0.0.0/0 to the gateway; the
spokes' gateway table sends 0.0.0.0/0 to the inspection VPC's attachment; in the
inspection VPC the attachment subnet's table sends 0.0.0.0/0 to the appliance's ENI (an
instance with its source/dest check off, forwarding with ip_forward=1 in its namespace),
whose own subnet's table sends 10.0.0.0/8 back to the gateway; the gateway's table
associated with the inspection attachment reaches both spokes by their propagations.

The spokes talk only through the appliance: with forwarding off in it, silence; on, ping
and TCP both ways, and its namespace's forwarding counter counts them; its security group
and its subnet's ACL decide; removing the attachment subnet's route to it cuts the path
within about a second. Root only; its own `fort up`."""

import pytest

from .fort_e2e import (
    ALL_FROM, FortUp, TcpServer, World, drops, never_pings, nsexec, ping, ping_eventually, tcp_get,
    time_to_silence,
)

SPOKES = "10.0.0.0/8"


@pytest.fixture(scope="module")
def ifort():
    f = FortUp(hosts=2, zones=1)
    yield f
    leftovers = f.close()
    assert not leftovers, f"fort up left namespaces behind: {leftovers}"


@pytest.fixture
def iworld(ifort):
    w = World(ifort, ifort.client())
    yield w
    w.close()


def forwarded(ns):
    """The IPv4 datagrams the namespace `ns` has forwarded (Ip: ForwDatagrams)."""
    lines = [line.split() for line in nsexec(ns, "cat", "/proc/net/snmp").stdout.splitlines()
             if line.startswith("Ip:")]
    names, values = lines[0], lines[1]
    return int(values[names.index("ForwDatagrams")])


class Inspection:
    """Inspection VPC I (10.90/16: attachment subnet 10.90.200/24, appliance subnet
    10.90.1/24), spokes A (10.91/16) and B (10.92/16)."""

    def __init__(self, w):
        ec2 = self.ec2 = w.ec2
        self.w = w
        self.tgw = ec2.create_transit_gateway(
            Description="centralised inspection",
            Options={"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"},
        )["TransitGateway"]["TransitGatewayId"]
        w.cleanups.append(lambda: ec2.delete_transit_gateway(TransitGatewayId=self.tgw))
        self.vpcs = {"i": w.vpc("10.90.0.0/16"), "a": w.vpc("10.91.0.0/16"), "b": w.vpc("10.92.0.0/16")}
        self.tgw_subnet = w.subnet(self.vpcs["i"], "10.90.200.0/24")
        self.appliance_subnet = w.subnet(self.vpcs["i"], "10.90.1.0/24")
        subnets = {"i": self.tgw_subnet, "a": w.subnet(self.vpcs["a"], "10.91.1.0/24"),
                   "b": w.subnet(self.vpcs["b"], "10.92.1.0/24")}
        self.att = {}
        for k, v in self.vpcs.items():
            options = {"ApplianceModeSupport": "enable"} if k == "i" else {}
            att = ec2.create_transit_gateway_vpc_attachment(
                TransitGatewayId=self.tgw, VpcId=v, SubnetIds=[subnets[k]], Options=options,
            )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
            w.cleanups.append(
                lambda att=att: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att))
            self.att[k] = att
        self.tables = {}
        for name in ("spokes", "inspection"):
            t = ec2.create_transit_gateway_route_table(TransitGatewayId=self.tgw)[
                "TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
            w.cleanups.append(lambda t=t: ec2.delete_transit_gateway_route_table(TransitGatewayRouteTableId=t))
            self.tables[name] = t
        for table, k in (("inspection", "i"), ("spokes", "a"), ("spokes", "b")):
            ec2.associate_transit_gateway_route_table(
                TransitGatewayRouteTableId=self.tables[table], TransitGatewayAttachmentId=self.att[k])
        for k in ("a", "b"):
            ec2.enable_transit_gateway_route_table_propagation(
                TransitGatewayRouteTableId=self.tables["inspection"], TransitGatewayAttachmentId=self.att[k])
        ec2.create_transit_gateway_route(TransitGatewayRouteTableId=self.tables["spokes"],
                                         DestinationCidrBlock="0.0.0.0/0", TransitGatewayAttachmentId=self.att["i"])
        mains = {}
        for k, v in self.vpcs.items():
            [main] = ec2.describe_route_tables(Filters=[
                {"Name": "vpc-id", "Values": [v]}, {"Name": "association.main", "Values": ["true"]}
            ])["RouteTables"]
            mains[k] = main["RouteTableId"]
        for k in ("a", "b"):
            ec2.create_route(RouteTableId=mains[k], DestinationCidrBlock="0.0.0.0/0", TransitGatewayId=self.tgw)
        # the appliance's subnet (the main table) sends the spokes back to the gateway
        ec2.create_route(RouteTableId=mains["i"], DestinationCidrBlock=SPOKES, TransitGatewayId=self.tgw)
        self.groups = {k: w.group(v, f"inspect-{k}", [ALL_FROM(SPOKES)]) for k, v in self.vpcs.items()}
        self.mb, self.mb_ip = w.launch(self.appliance_subnet, [self.groups["i"]])
        r = ec2.describe_instances(InstanceIds=[self.mb])["Reservations"][0]["Instances"][0]
        self.mb_eni = r["NetworkInterfaces"][0]["NetworkInterfaceId"]
        ec2.modify_network_interface_attribute(NetworkInterfaceId=self.mb_eni, SourceDestCheck={"Value": False})
        # (forwarding out the interface it came in by: no redirects)
        for key in ("net.ipv4.conf.all.send_redirects", "net.ipv4.conf.eth0.send_redirects"):
            nsexec(self.mb, "sysctl", "-qw", f"{key}=0")
        # the attachment subnet's own table: 0.0.0.0/0 to the appliance
        self.tgw_rtb = ec2.create_route_table(VpcId=self.vpcs["i"])["RouteTable"]["RouteTableId"]
        w.cleanups.append(lambda: ec2.delete_route_table(RouteTableId=self.tgw_rtb))
        assoc = ec2.associate_route_table(RouteTableId=self.tgw_rtb, SubnetId=self.tgw_subnet)["AssociationId"]
        w.cleanups.append(lambda: ec2.disassociate_route_table(AssociationId=assoc))
        self.route_to_appliance(True)
        self.a, self.a_ip = w.launch(subnets["a"], [self.groups["a"]])
        self.b, self.b_ip = w.launch(subnets["b"], [self.groups["b"]])

    def forwarding(self, on):
        nsexec(self.mb, "sysctl", "-qw", f"net.ipv4.ip_forward={1 if on else 0}")

    def route_to_appliance(self, on):
        if on:
            self.ec2.create_route(RouteTableId=self.tgw_rtb, DestinationCidrBlock="0.0.0.0/0",
                                  NetworkInterfaceId=self.mb_eni)
        else:
            self.ec2.delete_route(RouteTableId=self.tgw_rtb, DestinationCidrBlock="0.0.0.0/0")


def test_two_spokes_talk_only_through_the_inspection_appliance(ifort, iworld):
    n = Inspection(iworld)
    # the appliance does not forward: the spokes hear nothing of each other
    n.forwarding(False)
    assert never_pings(n.a, n.b_ip, 2.0) and never_pings(n.b, n.a_ip, 1.0)

    # it forwards: ping and TCP both ways, every packet through it
    n.forwarding(True)
    assert ping_eventually(n.a, n.b_ip, within=10), ifort.log_text()[-3000:] + "\n".join(drops(ifort))
    before = forwarded(n.mb)
    assert ping(n.a, n.b_ip, count=5, wait=1) and ping(n.b, n.a_ip, count=5, wait=1)
    # each echo and each reply crossed it once
    assert forwarded(n.mb) - before >= 20, (before, forwarded(n.mb))
    with TcpServer(n.b, n.b_ip) as _:
        assert tcp_get(n.a, n.b_ip) == f"hello from {n.b}\n", drops(ifort)
    with TcpServer(n.a, n.a_ip) as _:
        assert tcp_get(n.b, n.a_ip) == f"hello from {n.a}\n", drops(ifort)

    # removing the attachment subnet's route to the appliance cuts the path
    n.route_to_appliance(False)
    cut = time_to_silence(n.a, n.b_ip)
    assert cut is not None and cut < 1.5, f"path cut after {cut} s"
    print(f"route to the appliance removed: pings stopped after {cut:.2f} s")
    n.route_to_appliance(True)
    assert ping_eventually(n.a, n.b_ip)

    # the appliance stops forwarding: silence again
    n.forwarding(False)
    assert time_to_silence(n.a, n.b_ip) is not None


def test_the_appliances_group_and_subnet_acl_decide(ifort, iworld):
    n = Inspection(iworld)
    ec2 = iworld.ec2
    n.forwarding(True)
    assert ping_eventually(n.a, n.b_ip, within=10), drops(ifort)
    # the appliance's group lets only B's block in: A's pings stop at it (B's replies,
    # once A sends nothing, have nothing to answer)
    g = n.groups["i"]
    ec2.revoke_security_group_ingress(GroupId=g, IpPermissions=[ALL_FROM(SPOKES)])
    ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[ALL_FROM("10.92.0.0/16")])
    assert time_to_silence(n.a, n.b_ip) is not None, drops(ifort)
    ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[ALL_FROM("10.91.0.0/16")])
    assert ping_eventually(n.a, n.b_ip)

    # an ACL on the appliance's subnet that lets nothing in from A's block
    acl = ec2.create_network_acl(VpcId=n.vpcs["i"])["NetworkAcl"]["NetworkAclId"]
    iworld.cleanups.append(lambda: ec2.delete_network_acl(NetworkAclId=acl))
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Protocol="-1", RuleAction="deny",
                                 Egress=False, CidrBlock="10.91.0.0/16")
    for egress in (True, False):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                     Egress=egress, CidrBlock="0.0.0.0/0")
    [default] = ec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [n.vpcs["i"]]}, {"Name": "default", "Values": ["true"]}
    ])["NetworkAcls"]
    [assoc] = [x["NetworkAclAssociationId"] for x in default["Associations"]
               if x["SubnetId"] == n.appliance_subnet]
    new = ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)["NewAssociationId"]
    iworld.cleanups.append(lambda: ec2.replace_network_acl_association(
        AssociationId=new, NetworkAclId=default["NetworkAclId"]))
    assert time_to_silence(n.a, n.b_ip) is not None, drops(ifort)
    # B's pings to A enter the appliance's subnet from B's block: through, but A's
    # replies come back from A's block: cut too
    assert never_pings(n.b, n.a_ip, 1.0)
    assert any("nacl_ingress" in line for line in drops(ifort)), drops(ifort)
