"""The seed's two walks with real packets: the same subnet (layer 2) and another subnet
(layer 3), instances on two hosts, ping and TCP both ways."""

from .fort_e2e import ALL_FROM, TcpServer, eni_of, host_of, neighbour_mac, ping, ping_eventually, tcp_get


def test_layer2_walk_across_two_hosts(fort, ec2, world):
    vpc = world.vpc("10.0.0.0/16")
    subnet = world.subnet(vpc, "10.0.1.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.0.0.0/16")])
    a, a_ip = world.launch(subnet, [sg])
    b, b_ip = world.launch(subnet, [sg])
    a_eni, a_mac = eni_of(ec2, a)
    b_eni, b_mac = eni_of(ec2, b)
    # one subnet's instances spread over the zone's hosts: the walk crosses the underlay
    assert host_of(fort, a_eni) != host_of(fort, b_eni)

    assert ping_eventually(a, b_ip)
    assert ping(b, a_ip)
    # ARP: the peer's own MAC in the subnet, the router's for the gateway
    assert neighbour_mac(a, b_ip) == b_mac.lower()
    assert ping(a, "10.0.1.1")
    router = neighbour_mac(a, "10.0.1.1")
    assert router and router != b_mac.lower()

    with TcpServer(b, b_ip) as _:
        assert tcp_get(a, b_ip) == f"hello from {b}\n"
    with TcpServer(a, a_ip) as _:
        assert tcp_get(b, a_ip) == f"hello from {a}\n"
    assert fort.metric("fort_agent_underlay_packets_total", direction="tx") > 0


def test_layer3_walk_between_subnets(fort, ec2, world):
    vpc = world.vpc("10.1.0.0/16")
    s1 = world.subnet(vpc, "10.1.1.0/24")
    s2 = world.subnet(vpc, "10.1.2.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.1.0.0/16")])
    a, a_ip = world.launch(s1, [sg])
    b, b_ip = world.launch(s2, [sg])
    assert ping_eventually(a, b_ip)
    assert ping(b, a_ip)
    # routed: the next hop is the router (the gateway's MAC), never the peer's
    _, b_mac = eni_of(ec2, b)
    assert neighbour_mac(a, b_ip) is None
    assert neighbour_mac(a, "10.1.1.1") not in (None, b_mac.lower())
    with TcpServer(b, b_ip) as _:
        assert tcp_get(a, b_ip) == f"hello from {b}\n"
    with TcpServer(a, a_ip) as _:
        assert tcp_get(b, a_ip) == f"hello from {a}\n"
