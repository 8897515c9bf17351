"""Two regions with real packets: `fort up` runs a host in us-east-1 and a second agent
(`fort agent --zone us-west-2a`, as a second region's host would run) joins the same
mapping service. A VPC in each region, joined by an inter-region VPC peering (requested
with PeerRegion, accepted in the peer's region) and then by two transit gateways, one a
region, peered across regions: the instances reach each other over both, and only while
the connection and the routes are there."""

import os
import shutil
import subprocess
import tempfile
import time

import pytest

from .fort_e2e import (
    ALL_FROM, FORT_BIN, REGION, FortUp, TcpServer, World, free_port, free_underlay_base, host_of,
    main_table, never_pings, ping, ping_eventually, silenced, stop_process, tcp_get,
)

WEST = "us-west-2"


class SecondRegion:
    """A `fort agent` serving us-west-2a, on the mapping service of `fort`."""

    def __init__(self, fort):
        self.run_dir = tempfile.mkdtemp(prefix="fort-e2e-west-")
        self.log_path = os.path.join(self.run_dir, "agent.log")
        self.log = open(self.log_path, "ab")
        self.metrics = f"127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.setdefault("FORT_LOG", "info")
        self.proc = subprocess.Popen(
            [FORT_BIN, "agent", "--host-id", "w1", "--zone", f"{WEST}a",
             "--underlay", free_underlay_base(1), "--mapping", f"http://{fort.mapping}",
             "--metrics-listen", self.metrics, "--run-dir", self.run_dir],
            stdout=self.log, stderr=self.log, env=env,
        )

    def serves(self, eni, within=10.0):
        """Whether this agent's /metrics shows `eni` (its instance runs here)."""
        import urllib.request
        deadline = time.time() + within
        while True:
            with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=5) as r:
                if f'eni="{eni}"' in r.read().decode():
                    return True
            if time.time() > deadline:
                return False
            time.sleep(0.1)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("latin-1")[-3000:]

    def close(self):
        stop_process(self.proc)
        self.log.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def regions():
    f = FortUp(hosts=1, zones=1, mapping_port=free_port())
    west = SecondRegion(f)
    yield f, west
    west.close()
    leftovers = f.close()
    assert not leftovers, f"fort up left namespaces behind: {leftovers}"


@pytest.fixture
def two(regions):
    fort, west = regions
    east_w, west_w = World(fort, fort.client()), World(fort, fort.client(WEST))
    yield fort, west, east_w, west_w
    west_w.close()
    east_w.close()


def launch_pair(west, east_w, west_w, east_cidr, west_cidr):
    """A VPC, subnet, group and instance in each region, each admitting the other's block;
    the west instance runs on the west agent, the east one on `fort up`'s."""
    ve, vw = east_w.vpc(east_cidr), west_w.vpc(west_cidr)
    se = east_w.subnet(ve, east_cidr.replace(".0.0/16", ".1.0/24"), f"{REGION}a")
    sw = west_w.subnet(vw, west_cidr.replace(".0.0/16", ".1.0/24"), f"{WEST}a")
    ge = east_w.group(ve, "from-west", [ALL_FROM(west_cidr)])
    gw = west_w.group(vw, "from-east", [ALL_FROM(east_cidr)])
    e, e_ip = east_w.launch(se, [ge])
    w, w_ip = west_w.launch(sw, [gw])
    [west_eni] = [n["NetworkInterfaceId"] for r in west_w.ec2.describe_instances(InstanceIds=[w])["Reservations"]
                  for i in r["Instances"] for n in i["NetworkInterfaces"]]
    assert west.serves(west_eni) and host_of(east_w.fort, west_eni, timeout=0) is None
    return (ve, e, e_ip), (vw, w, w_ip)


def test_an_inter_region_peering_carries_traffic_while_it_is_active(two):
    fort, west, east_w, west_w = two
    (ve, e, e_ip), (vw, w, w_ip) = launch_pair(west, east_w, west_w, "10.90.0.0/16", "10.91.0.0/16")
    assert never_pings(e, w_ip, 1.0), "two regions, no connection: nothing crosses"

    east, westc = east_w.ec2, west_w.ec2
    pcx = east.create_vpc_peering_connection(VpcId=ve, PeerVpcId=vw, PeerRegion=WEST)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    east_w.cleanups.append(lambda: east.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx))
    east.create_route(RouteTableId=main_table(east, ve), DestinationCidrBlock="10.91.0.0/16",
                      VpcPeeringConnectionId=pcx)
    # the accepter sees the request in its own region
    deadline = time.time() + 10
    while time.time() < deadline:
        [p] = westc.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"]
        if p["Status"]["Code"] == "pending-acceptance":
            break
        time.sleep(0.2)
    assert p["Status"]["Code"] == "pending-acceptance", p
    assert p["RequesterVpcInfo"]["Region"] == REGION and p["AccepterVpcInfo"]["Region"] == WEST
    westc.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    westc.create_route(RouteTableId=main_table(westc, vw), DestinationCidrBlock="10.90.0.0/16",
                       VpcPeeringConnectionId=pcx)

    assert ping_eventually(e, w_ip, within=10), fort.log_text()[-3000:] + west.log_text()
    assert ping(w, e_ip)
    with TcpServer(w, w_ip) as _:
        assert tcp_get(e, w_ip) == f"hello from {w}\n"

    # the accepter's route gone: the replies have no way back
    westc.delete_route(RouteTableId=main_table(westc, vw), DestinationCidrBlock="10.90.0.0/16")
    assert silenced(e, w_ip)
    westc.create_route(RouteTableId=main_table(westc, vw), DestinationCidrBlock="10.90.0.0/16",
                       VpcPeeringConnectionId=pcx)
    assert ping_eventually(e, w_ip)

    westc.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert silenced(e, w_ip), "a connection deleted in the peer's region carries nothing"


def test_transit_gateways_peered_across_regions_carry_traffic(two):
    fort, west, east_w, west_w = two
    (ve, e, e_ip), (vw, w, w_ip) = launch_pair(west, east_w, west_w, "10.92.0.0/16", "10.93.0.0/16")
    east, westc = east_w.ec2, west_w.ec2
    no_defaults = {"DefaultRouteTableAssociation": "disable", "DefaultRouteTablePropagation": "disable"}
    gateways, tables, vpc_att = {}, {}, {}
    for name, ec2, world, vpc in (("east", east, east_w, ve), ("west", westc, west_w, vw)):
        g = ec2.create_transit_gateway(Description=name, Options=no_defaults)["TransitGateway"]["TransitGatewayId"]
        world.cleanups.append(lambda ec2=ec2, g=g: ec2.delete_transit_gateway(TransitGatewayId=g))
        [sub] = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        att = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=g, VpcId=vpc, SubnetIds=[sub["SubnetId"]]
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        world.cleanups.append(lambda ec2=ec2, att=att: ec2.delete_transit_gateway_vpc_attachment(
            TransitGatewayAttachmentId=att))
        t = ec2.create_transit_gateway_route_table(TransitGatewayId=g)[
            "TransitGatewayRouteTable"]["TransitGatewayRouteTableId"]
        world.cleanups.append(lambda ec2=ec2, t=t: ec2.delete_transit_gateway_route_table(
            TransitGatewayRouteTableId=t))
        ec2.associate_transit_gateway_route_table(TransitGatewayRouteTableId=t, TransitGatewayAttachmentId=att)
        world.cleanups.append(lambda ec2=ec2, t=t, att=att: ec2.disassociate_transit_gateway_route_table(
            TransitGatewayRouteTableId=t, TransitGatewayAttachmentId=att))
        gateways[name], tables[name], vpc_att[name] = g, t, att

    owner = westc.describe_transit_gateways(TransitGatewayIds=[gateways["west"]])["TransitGateways"][0]["OwnerId"]
    peering = east.create_transit_gateway_peering_attachment(
        TransitGatewayId=gateways["east"], PeerTransitGatewayId=gateways["west"], PeerAccountId=owner,
        PeerRegion=WEST,
    )["TransitGatewayPeeringAttachment"]["TransitGatewayAttachmentId"]
    # the peering's cleanups run with the west world's, which closes first: the
    # associations, then the peering, then the gateways
    west_w.cleanups.append(lambda: east.delete_transit_gateway_peering_attachment(
        TransitGatewayAttachmentId=peering))
    # accepted in the peer's region, where the same attachment id is known
    westc.accept_transit_gateway_peering_attachment(TransitGatewayAttachmentId=peering)
    for name, ec2 in (("east", east), ("west", westc)):
        ec2.associate_transit_gateway_route_table(
            TransitGatewayRouteTableId=tables[name], TransitGatewayAttachmentId=peering)
        west_w.cleanups.append(lambda ec2=ec2, t=tables[name]: ec2.disassociate_transit_gateway_route_table(
            TransitGatewayRouteTableId=t, TransitGatewayAttachmentId=peering))
    routes = (("east", east, "10.93.0.0/16", peering), ("east", east, "10.92.0.0/16", vpc_att["east"]),
              ("west", westc, "10.92.0.0/16", peering), ("west", westc, "10.93.0.0/16", vpc_att["west"]))
    for name, ec2, dst, att in routes:
        ec2.create_transit_gateway_route(TransitGatewayRouteTableId=tables[name], DestinationCidrBlock=dst,
                                         TransitGatewayAttachmentId=att)
    east.create_route(RouteTableId=main_table(east, ve), DestinationCidrBlock="10.93.0.0/16",
                      TransitGatewayId=gateways["east"])
    westc.create_route(RouteTableId=main_table(westc, vw), DestinationCidrBlock="10.92.0.0/16",
                       TransitGatewayId=gateways["west"])

    assert ping_eventually(e, w_ip, within=10), fort.log_text()[-3000:] + west.log_text()
    assert ping_eventually(w, e_ip)
    with TcpServer(w, w_ip) as _:
        assert tcp_get(e, w_ip) == f"hello from {w}\n"

    # the west gateway's route back across the peering removed: silence
    westc.delete_transit_gateway_route(TransitGatewayRouteTableId=tables["west"],
                                       DestinationCidrBlock="10.92.0.0/16")
    assert silenced(e, w_ip)
    westc.create_transit_gateway_route(TransitGatewayRouteTableId=tables["west"],
                                       DestinationCidrBlock="10.92.0.0/16", TransitGatewayAttachmentId=peering)
    assert ping_eventually(e, w_ip)
