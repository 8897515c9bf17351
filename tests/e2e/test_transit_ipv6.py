"""IPv6 through a transit gateway with real packets: two dual-stack VPCs attached with
IPv6 support propagate their IPv6 blocks into the gateway's default table and route each
other's /56 to the gateway; their instances ping each other over IPv6 both ways, and
taking one propagation away cuts the path within about a second."""

import os
import subprocess
import sys
import tempfile
import time

from .fort_e2e import TcpServer, nsexec


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
from .test_ipv6 import _dual_stack_vpc, ping6, ping6_eventually, pytestmark, ready6  # noqa: F401


def launch(fort, ec2, world, vpc, subnet, peer_block):
    sg = world.group(vpc, "v6-tgw", [
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": str(peer_block)}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "Ipv6Ranges": [{"CidrIpv6": str(peer_block)}]},
    ])
    inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet, SecurityGroupIds=[sg], Ipv6AddressCount=1)["Instances"][0]
    iid = inst["InstanceId"]
    world.instances.append(iid)
    fort.instances.add(iid)
    world.wait_ready(iid, inst["PrivateIpAddress"])
    six = inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]
    assert ready6(iid, six)
    return iid, six


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
