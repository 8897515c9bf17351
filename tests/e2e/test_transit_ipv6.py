"""IPv6 through a transit gateway with real packets: two dual-stack VPCs attached with
IPv6 support propagate their IPv6 blocks into the gateway's default table and route each
other's /56 to the gateway; their instances ping each other over IPv6 both ways, and
taking one propagation away cuts the path within about a second. An attachment subnet's
IPv6 ACL entries judge what leaves the gateway by it; a blackhole drops. Across a
peering of two gateways, IPv6 static routes carry two VPCs to each other."""

import ipaddress
import os
import subprocess
import sys
import tempfile
import time

from .fort_e2e import TcpServer, main_table, nsexec


class TcpServer6(TcpServer):
    """`TcpServer` on an IPv6 address (its listening socket is in /proc/net/tcp6)."""

    def __init__(self, ns, ip, port=8080):
        self.ns, self.ip, self.port = ns, ip, port
        self.dir = tempfile.mkdtemp(prefix="fort-e2e-www6-")
        with open(os.path.join(self.dir, "hello.txt"), "w") as f:
            f.write(f"hello from {ns}\n")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", str(port), "--bind", ip,
             "--directory", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            r = nsexec(ns, "sh", "-c", f"grep -qi ':{port:04X} 00000000000000000000000000000000:0000 0A' /proc/net/tcp6")
            if r.returncode == 0:
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"http.server did not start on {ip} in {ns}")
from .test_ipv6 import _dual_stack_vpc, launch6, ping6, ping6_eventually, pytestmark  # noqa: F401


def launch(fort, ec2, world, vpc, subnet, peer_block):
    sg = world.group(vpc, "v6-tgw", [
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": str(peer_block)}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "Ipv6Ranges": [{"CidrIpv6": str(peer_block)}]},
    ])
    return launch6(fort, ec2, world, subnet, [sg])


def test_ipv6_through_a_transit_gateway(fort, ec2, world):
    va, sa, ba = _dual_stack_vpc(ec2, world, "10.86.0.0/16")
    vb, sb, bb = _dual_stack_vpc(ec2, world, "10.87.0.0/16")
    a, a6 = launch(fort, ec2, world, va, sa, bb)
    b, b6 = launch(fort, ec2, world, vb, sb, ba)
    tgw = ec2.create_transit_gateway(Description="ipv6")["TransitGateway"]
    world.cleanups.append(lambda: ec2.delete_transit_gateway(TransitGatewayId=tgw["TransitGatewayId"]))
    table = tgw["Options"]["AssociationDefaultRouteTableId"]
    att = {}
    for k, vpc, subnet in (("a", va, sa), ("b", vb, sb)):
        att[k] = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw["TransitGatewayId"], VpcId=vpc, SubnetIds=[subnet],
            Options={"Ipv6Support": "enable"},
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        world.cleanups.append(
            lambda x=att[k]: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=x))
    for vpc, peer_block in ((va, bb), (vb, ba)):
        [t] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                 {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
        ec2.create_route(RouteTableId=t["RouteTableId"], DestinationIpv6CidrBlock=str(peer_block),
                         TransitGatewayId=tgw["TransitGatewayId"])
    assert ping6_eventually(a, b6, within=15), fort.log_text()[-3000:]
    assert ping6(b, a6)
    # and TCP
    with TcpServer6(b, b6):
        r = nsexec(a, "curl", "-s", "-m", "3", f"http://[{b6}]:8080/hello.txt", timeout=8)
        assert r.returncode == 0 and r.stdout == f"hello from {b}\n", r

    # B's block leaves the table: A's pings stop (a live path answers within 0.2 s)
    assert ping6(a, b6, wait=0.2)
    ec2.disable_transit_gateway_route_table_propagation(
        TransitGatewayRouteTableId=table, TransitGatewayAttachmentId=att["b"])
    start = time.time()
    while time.time() - start < 5 and ping6(a, b6, wait=0.2):
        pass
    cut = time.time() - start
    assert cut < 1.5, f"path cut after {cut:.2f} s"
    print(f"IPv6 propagation removed: pings stopped after {cut:.2f} s")
    time.sleep(0.5)
    assert not ping6(a, b6)
    ec2.enable_transit_gateway_route_table_propagation(
        TransitGatewayRouteTableId=table, TransitGatewayAttachmentId=att["b"])
    assert ping6_eventually(a, b6)


def never_pings6(src, ip, for_s=1.5):
    deadline = time.time() + for_s
    while time.time() < deadline:
        if ping6(src, ip, wait=0.3):
            return False
    return True


def test_ipv6_acl_of_an_attachment_subnet_and_a_blackhole(fort, ec2, world):
    """B's attachment is in a subnet of its own: that subnet's IPv6 ACL entries (outbound)
    decide what the gateway lets into B's VPC, ICMPv6 cut, TCP through; a more specific
    IPv6 blackhole route in the gateway's table drops."""
    va, sa, ba = _dual_stack_vpc(ec2, world, "10.88.0.0/16")
    vb, sb, bb = _dual_stack_vpc(ec2, world, "10.89.0.0/16")
    sb_t = ec2.create_subnet(VpcId=vb, CidrBlock="10.89.2.0/24",
                             Ipv6CidrBlock=str(list(bb.subnets(new_prefix=64))[2]),
                             AvailabilityZone=f"{ec2.meta.region_name}a")["Subnet"]["SubnetId"]
    world.cleanups.append(lambda: ec2.delete_subnet(SubnetId=sb_t))
    a, a6 = launch(fort, ec2, world, va, sa, bb)
    b, b6 = launch(fort, ec2, world, vb, sb, ba)
    tgw = ec2.create_transit_gateway(Description="ipv6 acl")["TransitGateway"]
    world.cleanups.append(lambda: ec2.delete_transit_gateway(TransitGatewayId=tgw["TransitGatewayId"]))
    table = tgw["Options"]["AssociationDefaultRouteTableId"]
    for vpc, subnet in ((va, sa), (vb, sb_t)):
        att = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw["TransitGatewayId"], VpcId=vpc, SubnetIds=[subnet],
            Options={"Ipv6Support": "enable"},
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        world.cleanups.append(lambda x=att: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=x))
    for vpc, peer_block in ((va, bb), (vb, ba)):
        ec2.create_route(RouteTableId=main_table(ec2, vpc), DestinationIpv6CidrBlock=str(peer_block),
                         TransitGatewayId=tgw["TransitGatewayId"])
    assert ping6_eventually(a, b6, within=15), fort.log_text()[-3000:]

    # an ACL on B's attachment subnet: no ICMPv6 out (to B's subnet), the rest allowed
    acl = ec2.create_network_acl(VpcId=vb)["NetworkAcl"]["NetworkAclId"]
    world.cleanups.append(lambda: ec2.delete_network_acl(NetworkAclId=acl))
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Protocol="58", RuleAction="deny", Egress=True,
                                 Ipv6CidrBlock="::/0", IcmpTypeCode={"Type": -1, "Code": -1})
    for egress in (True, False):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                     Egress=egress, Ipv6CidrBlock="::/0")
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=110, Protocol="-1", RuleAction="allow",
                                     Egress=egress, CidrBlock="0.0.0.0/0")
    [default] = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vb]},
                                                   {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    [assoc] = [x["NetworkAclAssociationId"] for x in default["Associations"] if x["SubnetId"] == sb_t]
    new = ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)["NewAssociationId"]
    world.cleanups.append(lambda: ec2.replace_network_acl_association(
        AssociationId=new, NetworkAclId=default["NetworkAclId"]))
    start = time.time()
    while time.time() - start < 5 and ping6(a, b6, wait=0.2):
        pass
    assert never_pings6(a, b6), "ICMPv6 still crosses B's attachment subnet"
    with TcpServer6(b, b6):
        r = nsexec(a, "curl", "-s", "-m", "3", f"http://[{b6}]:8080/hello.txt", timeout=8)
        assert r.returncode == 0 and r.stdout == f"hello from {b}\n", r
    # the ACL back to the default: pings pass again
    ec2.replace_network_acl_association(AssociationId=new, NetworkAclId=default["NetworkAclId"])
    assert ping6_eventually(a, b6)

    # a blackhole for B's subnet's /64, more specific than B's propagated /56
    b64 = str(ipaddress.ip_network(f"{b6}/64", strict=False))
    ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock=b64, Blackhole=True)
    start = time.time()
    while time.time() - start < 5 and ping6(a, b6, wait=0.2):
        pass
    assert never_pings6(a, b6), "the blackhole did not drop"
    ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock=b64)
    assert ping6_eventually(a, b6)


def test_ipv6_across_a_transit_gateway_peering(fort, ec2, world):
    """VPC A on tgw-1, VPC B on tgw-2, the gateways peered: tgw-1's table sends B's /56
    to the peering, tgw-2's table associated with the peering sends it to B (and A's
    back across); ping -6 and TCP both ways; a blackhole on the peer side and the loss of
    tgw-1's route to the peering stop the pings."""
    va, sa, ba = _dual_stack_vpc(ec2, world, "10.90.0.0/16")
    vb, sb, bb = _dual_stack_vpc(ec2, world, "10.91.0.0/16")
    a, a6 = launch(fort, ec2, world, va, sa, bb)
    b, b6 = launch(fort, ec2, world, vb, sb, ba)
    no_defaults = {"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"}
    tgw1, tgw2 = (ec2.create_transit_gateway(Description=d, Options=no_defaults)["TransitGateway"]["TransitGatewayId"]
                  for d in ("v6 one", "v6 two"))
    for g in (tgw1, tgw2):
        world.cleanups.append(lambda g=g: ec2.delete_transit_gateway(TransitGatewayId=g))
    att = {}
    for k, tgw, vpc, subnet in (("a", tgw1, va, sa), ("b", tgw2, vb, sb)):
        att[k] = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet], Options={"Ipv6Support": "enable"},
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        world.cleanups.append(lambda x=att[k]: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=x))
    owner = ec2.describe_transit_gateways(TransitGatewayIds=[tgw2])["TransitGateways"][0]["OwnerId"]
    peering = ec2.create_transit_gateway_peering_attachment(
        TransitGatewayId=tgw1, PeerTransitGatewayId=tgw2, PeerAccountId=owner, PeerRegion=ec2.meta.region_name,
    )["TransitGatewayPeeringAttachment"]["TransitGatewayAttachmentId"]
    ec2.accept_transit_gateway_peering_attachment(TransitGatewayAttachmentId=peering)
    world.cleanups.append(lambda: ec2.delete_transit_gateway_peering_attachment(TransitGatewayAttachmentId=peering))
    tables = {}
    for name, tgw in (("t1", tgw1), ("t2", tgw2)):
        t = ec2.create_transit_gateway_route_table(TransitGatewayId=tgw)[
            "TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
        world.cleanups.append(lambda t=t: ec2.delete_transit_gateway_route_table(TransitGatewayRouteTableId=t))
        tables[name] = t
    for table, x in (("t1", att["a"]), ("t1", peering), ("t2", att["b"]), ("t2", peering)):
        ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=tables[table],
                                                  TransitGatewayAttachmentId=x)
        world.cleanups.append(lambda table=table, x=x: ec2.disassociate_transit_gateway_route_table(
            TransitGatewayRouteTableId=tables[table], TransitGatewayAttachmentId=x))

    def route(table, dst, x=None):
        kw = {"TransitGatewayAttachmentId": x} if x else {"Blackhole": True}
        ec2.create_transit_gateway_route(TransitGatewayRouteTableId=tables[table], DestinationCidrBlock=str(dst), **kw)

    def unroute(table, dst):
        ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=tables[table], DestinationCidrBlock=str(dst))

    for table, dst, x in (("t1", bb, peering), ("t1", ba, att["a"]), ("t2", bb, att["b"]), ("t2", ba, peering)):
        route(table, dst, x)
    ec2.create_route(RouteTableId=main_table(ec2, va), DestinationIpv6CidrBlock=str(bb), TransitGatewayId=tgw1)
    ec2.create_route(RouteTableId=main_table(ec2, vb), DestinationIpv6CidrBlock=str(ba), TransitGatewayId=tgw2)

    assert ping6_eventually(a, b6, within=15), fort.log_text()[-3000:]
    assert ping6(b, a6)
    with TcpServer6(b, b6):
        r = nsexec(a, "curl", "-s", "-m", "3", f"http://[{b6}]:8080/hello.txt", timeout=8)
        assert r.returncode == 0 and r.stdout == f"hello from {b}\n", r

    # a blackhole on the peer side, more specific than its route to B, drops
    b64 = ipaddress.ip_network(f"{b6}/64", strict=False)
    route("t2", b64)
    start = time.time()
    while time.time() - start < 5 and ping6(a, b6, wait=0.2):
        pass
    assert never_pings6(a, b6), "the peer side's blackhole did not drop"
    unroute("t2", b64)
    assert ping6_eventually(a, b6)

    # tgw-1's route to the peering goes: the path is cut within about a second
    assert ping6(a, b6, wait=0.2)
    unroute("t1", bb)
    start = time.time()
    while time.time() - start < 5 and ping6(a, b6, wait=0.2):
        pass
    cut = time.time() - start
    assert cut < 1.5, f"path cut after {cut:.2f} s"
    print(f"IPv6 peering route deleted: pings stopped after {cut:.2f} s")
    assert never_pings6(a, b6)
    route("t1", bb, peering)
    assert ping6_eventually(a, b6)
