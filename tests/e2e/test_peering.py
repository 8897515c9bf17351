"""VPC peering with real packets: nothing crosses until the connection is active and both
sides route to it; deleting it stops the traffic."""

import time

from .fort_e2e import ALL_FROM, TcpServer, main_table, never_pings, ping, ping_eventually, silenced, tcp_get
from .test_resolver import dig


def test_peered_vpcs_talk_only_through_an_active_connection(fort, ec2, world):
    va, vb = world.vpc("10.70.0.0/16"), world.vpc("10.71.0.0/16")
    sa, sb = world.subnet(va, "10.70.1.0/24"), world.subnet(vb, "10.71.1.0/24")
    ga = world.group(va, "from-b", [ALL_FROM("10.71.0.0/16")])
    gb = world.group(vb, "from-a", [ALL_FROM("10.70.0.0/16")])
    a, a_ip = world.launch(sa, [ga])
    b, b_ip = world.launch(sb, [gb])
    assert never_pings(a, b_ip, 1.0), "no connection, no route: nothing crosses"

    pcx = ec2.create_vpc_peering_connection(VpcId=va, PeerVpcId=vb)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    world.cleanups.append(lambda: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx))
    ra, rb = main_table(ec2, va), main_table(ec2, vb)
    ec2.create_route(RouteTableId=ra, DestinationCidrBlock="10.71.0.0/16", VpcPeeringConnectionId=pcx)
    ec2.create_route(RouteTableId=rb, DestinationCidrBlock="10.70.0.0/16", VpcPeeringConnectionId=pcx)
    assert never_pings(a, b_ip, 1.0), "routes to a pending connection are blackholes"

    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert ping_eventually(a, b_ip), fort.log_text()[-3000:]
    assert ping(b, a_ip)
    with TcpServer(b, b_ip) as _:
        assert tcp_get(a, b_ip) == f"hello from {b}\n"

    # one side without its route: the replies have no way back
    ec2.delete_route(RouteTableId=rb, DestinationCidrBlock="10.70.0.0/16")
    assert silenced(a, b_ip)
    ec2.create_route(RouteTableId=rb, DestinationCidrBlock="10.70.0.0/16", VpcPeeringConnectionId=pcx)
    assert ping_eventually(a, b_ip)

    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert silenced(a, b_ip), "a deleted connection carries nothing"


def test_a_rule_can_name_a_group_of_the_peered_vpc(fort, ec2, world):
    """B admits only members of A's group `clients`: A passes while it is one, and stops
    when its instance leaves the group (AWS's security group references across a peering)."""
    va, vb = world.vpc("10.72.0.0/16"), world.vpc("10.73.0.0/16")
    sa, sb = world.subnet(va, "10.72.1.0/24"), world.subnet(vb, "10.73.1.0/24")
    clients = world.group(va, "clients")
    other = world.group(va, "others")
    gb = world.group(vb, "from-clients")
    pair = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": clients}]}
    pcx = ec2.create_vpc_peering_connection(VpcId=va, PeerVpcId=vb)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    world.cleanups.append(lambda: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx))
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ec2.create_route(RouteTableId=main_table(ec2, va), DestinationCidrBlock="10.73.0.0/16", VpcPeeringConnectionId=pcx)
    ec2.create_route(RouteTableId=main_table(ec2, vb), DestinationCidrBlock="10.72.0.0/16", VpcPeeringConnectionId=pcx)
    ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=[pair])
    world.cleanups.append(lambda: ec2.revoke_security_group_ingress(GroupId=gb, IpPermissions=[pair]))
    a, _ = world.launch(sa, [clients])
    b, b_ip = world.launch(sb, [gb])

    assert ping_eventually(a, b_ip), fort.log_text()[-3000:]
    with TcpServer(b, b_ip) as _:
        assert tcp_get(a, b_ip) == f"hello from {b}\n"

    eni = ec2.describe_instances(InstanceIds=[a])["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"], Groups=[other])
    assert silenced(a, b_ip), "A left `clients`: B's rule no longer admits it"
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"], Groups=[clients])
    assert ping_eventually(a, b_ip), "back in `clients`"


def test_a_peering_that_allows_it_resolves_the_peers_public_names_privately(fort, ec2, world):
    """AllowDnsResolutionFromRemoteVpc on the accepter's side: instances of the requester
    VPC resolve the accepter's instances' public DNS names to their private addresses;
    without it (and the other way, where the requester does not allow it) the name
    answers the public address, as the internet's DNS has it."""
    va, vb = world.vpc("10.72.0.0/16"), world.vpc("10.73.0.0/16")
    for v in (va, vb):
        ec2.modify_vpc_attribute(VpcId=v, EnableDnsHostnames={"Value": True})
    a, a_ip = world.launch(world.subnet(va, "10.72.1.0/24"))
    b, b_ip = world.launch(world.subnet(vb, "10.73.1.0/24"))
    a_pub, b_pub = world.elastic_ip(va, a), world.elastic_ip(vb, b)
    name = lambda pub: "ec2-" + pub.replace(".", "-") + ".compute-1.amazonaws.com"  # noqa: E731

    pcx = ec2.create_vpc_peering_connection(VpcId=va, PeerVpcId=vb)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    world.cleanups.append(lambda: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx))
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert dig(a, "10.72.0.2", name(b_pub)) == ("NOERROR", [b_pub]), "not allowed: the public address"

    ec2.modify_vpc_peering_connection_options(
        VpcPeeringConnectionId=pcx, AccepterPeeringConnectionOptions={"AllowDnsResolutionFromRemoteVpc": True})
    deadline = time.time() + 5
    while dig(a, "10.72.0.2", name(b_pub))[1] != [b_ip] and time.time() < deadline:
        time.sleep(0.2)
    assert dig(a, "10.72.0.2", name(b_pub)) == ("NOERROR", [b_ip])
    # the requester's side does not allow it: B still gets A's public address
    assert dig(b, "10.73.0.2", name(a_pub)) == ("NOERROR", [a_pub])

    # the connection gone, the answer is the public address again
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    deadline = time.time() + 5
    while dig(a, "10.72.0.2", name(b_pub))[1] != [b_pub] and time.time() < deadline:
        time.sleep(0.2)
    assert dig(a, "10.72.0.2", name(b_pub)) == ("NOERROR", [b_pub])
