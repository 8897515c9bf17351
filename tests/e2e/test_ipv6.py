"""IPv6 dual stack with real packets: instances take their IPv6 address by DHCPv6 (the
agent runs dhclient -6 in the instance with its script, which configures only the
instance's eth0 and writes no resolv.conf) and their default route from the router's
advertisement ("managed", the subnet's /64 on-link), as on EC2, then reach each other
over IPv6 on one subnet (layer 2) and across subnets (layer 3), on two hosts; security
groups decide IPv6 on their own rules; an instance spoofing another's IPv6 source gets
nowhere."""

import ipaddress
import os
import shutil
import time

import pytest

from .fort_e2e import eni_of, host_of, nsexec

pytestmark = pytest.mark.skipif(shutil.which("dhclient") is None, reason="dhclient is not installed")


def ping6(src, dst, count=1, wait=1):
    return nsexec(src, "ping", "-6", "-c", str(count), "-W", str(wait), dst, timeout=wait * count + 5).returncode == 0


def ping6_eventually(src, dst, within=8.0):
    deadline = time.time() + within
    while time.time() < deadline:
        if ping6(src, dst):
            return True
        time.sleep(0.3)
    return False


def ready6(iid, addr, within=30.0):
    """The address is usable (duplicate address detection passed) and the router's
    advertisement gave a default route."""
    deadline = time.time() + within
    while time.time() < deadline:
        a = nsexec(iid, "ip", "-6", "-o", "addr", "show", "dev", "eth0").stdout
        r = nsexec(iid, "ip", "-6", "route", "show", "default").stdout
        if addr in a and "tentative" not in a.split(addr)[1].split("\n")[0] and "default via fe80" in r:
            return True
        time.sleep(0.3)
    return False


def launch6(fort, ec2, world, subnet, groups, ready=True):
    """A dual-stack instance (one IPv6 address) in `subnet`, up on IPv4 and, with `ready`,
    on IPv6 too: (instance id, its IPv6 address)."""
    inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet, SecurityGroupIds=groups, Ipv6AddressCount=1)["Instances"][0]
    iid = inst["InstanceId"]
    world.instances.append(iid)
    fort.instances.add(iid)
    world.wait_ready(iid, inst["PrivateIpAddress"])
    six = inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]
    if ready:
        assert ready6(iid, six), nsexec(iid, "ip", "-6", "addr").stdout + nsexec(iid, "ip", "-6", "route").stdout
    return iid, six


def test_dual_stack_walks_over_ipv6(fort, ec2, world):
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    world.cleanups.append(lambda: ec2.delete_vpc(VpcId=vpc))
    block = None
    deadline = time.time() + 10
    while block is None and time.time() < deadline:
        v = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
        assoc = [a for a in v.get("Ipv6CidrBlockAssociationSet", []) if a["Ipv6CidrBlockState"]["State"] == "associated"]
        block = ipaddress.ip_network(assoc[0]["Ipv6CidrBlock"]) if assoc else None
        time.sleep(0.2)
    assert block is not None and block.prefixlen == 56
    nets = list(block.subnets(new_prefix=64))
    subnets = []
    for cidr, net6 in (("10.6.1.0/24", nets[1]), ("10.6.2.0/24", nets[2])):
        s = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, Ipv6CidrBlock=str(net6),
                              AvailabilityZone=f"{ec2.meta.region_name}a")["Subnet"]["SubnetId"]
        world.cleanups.append(lambda s=s: ec2.delete_subnet(SubnetId=s))
        subnets.append(s)
    sg = world.group(vpc, "v6", [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.6.0.0/16"}]},
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": str(block)}]},
    ])

    def launch(subnet):
        return launch6(fort, ec2, world, subnet, [sg], ready=False)

    a, a6 = launch(subnets[0])
    b, b6 = launch(subnets[0])
    c, c6 = launch(subnets[1])
    assert host_of(fort, eni_of(ec2, a)[0]) != host_of(fort, eni_of(ec2, b)[0])

    # addresses by DHCPv6, as the ENIs have them; the default route by the advertisement
    for iid, six in ((a, a6), (b, b6), (c, c6)):
        assert ready6(iid, six), nsexec(iid, "ip", "-6", "addr").stdout + nsexec(iid, "ip", "-6", "route").stdout
    log = fort.log_text()
    assert "no DHCPv6 lease" not in log, log[-3000:]
    assert log.count("IPv6 address taken by DHCPv6") >= 3

    # layer 2: one subnet, two hosts; the peer's own MAC answers neighbour discovery
    assert ping6_eventually(a, b6)
    assert ping6(b, a6)
    _, b_mac = eni_of(ec2, b)
    neigh = nsexec(a, "ip", "-6", "neigh", "show", b6, "dev", "eth0").stdout
    assert b_mac.lower() in neigh, neigh
    # layer 3: across subnets through the router
    assert ping6_eventually(a, c6)
    assert ping6(c, a6)
    # the router answers ping at its subnet address
    assert ping6(a, str(nets[1][1]))

    # security groups decide IPv6 on their own rules: no ICMPv6 rule, no ping
    ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": str(block)}]}])
    time.sleep(1.5)
    assert not ping6(a, c6, wait=1)
    # while IPv4 still goes
    c_ip = ec2.describe_instances(InstanceIds=[c])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    assert nsexec(a, "ping", "-c", "1", "-W", "1", c_ip).returncode == 0

    # spoofing: A claiming B's IPv6 address gets nowhere (its engine drops it)
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    time.sleep(1.5)
    assert ping6_eventually(a, c6)
    a_eni, _ = eni_of(ec2, a)
    before = fort.metric("fort_eni_drops_total", eni=a_eni, reason="source_check")
    nsexec(a, "ip", "-6", "addr", "add", f"{b6}/128", "dev", "eth0", "nodad")
    assert nsexec(a, "ping", "-6", "-c", "1", "-W", "1", "-I", b6, c6, timeout=5).returncode != 0
    assert fort.metric("fort_eni_drops_total", eni=a_eni, reason="source_check") > before


def _dual_stack_vpc(ec2, world, cidr):
    """A VPC with an Amazon-provided /56 and one dual-stack subnet in zone a: (vpc,
    subnet, the /56)."""
    vpc = ec2.create_vpc(CidrBlock=cidr, AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    world.cleanups.append(lambda: ec2.delete_vpc(VpcId=vpc))
    block = None
    deadline = time.time() + 10
    while block is None and time.time() < deadline:
        v = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]
        assoc = [a for a in v.get("Ipv6CidrBlockAssociationSet", []) if a["Ipv6CidrBlockState"]["State"] == "associated"]
        block = ipaddress.ip_network(assoc[0]["Ipv6CidrBlock"]) if assoc else None
        time.sleep(0.2)
    assert block is not None
    base = cidr.split(".")
    s = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base[0]}.{base[1]}.1.0/24",
                          Ipv6CidrBlock=str(list(block.subnets(new_prefix=64))[1]),
                          AvailabilityZone=f"{ec2.meta.region_name}a")["Subnet"]["SubnetId"]
    world.cleanups.append(lambda: ec2.delete_subnet(SubnetId=s))
    return vpc, s, block


def test_ipv6_across_a_vpc_peering(fort, ec2, world):
    """Peered VPCs reach each other's IPv6 addresses once both sides route the other's
    IPv6 block to the active connection, as AWS peers IPv6 blocks."""
    va, sa, ba = _dual_stack_vpc(ec2, world, "10.76.0.0/16")
    vb, sb, bb = _dual_stack_vpc(ec2, world, "10.77.0.0/16")

    def launch(vpc, subnet, peer_block):
        sg = world.group(vpc, "v6-peer", [
            {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": str(peer_block)}]},
        ])
        return launch6(fort, ec2, world, subnet, [sg])

    a, a6 = launch(va, sa, bb)
    b, b6 = launch(vb, sb, ba)
    assert not ping6(a, b6), "no connection, no route: nothing crosses"

    pcx = ec2.create_vpc_peering_connection(VpcId=va, PeerVpcId=vb)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    world.cleanups.append(lambda: ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx))
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    tables = []
    for vpc, peer_block in ((va, bb), (vb, ba)):
        [t] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                 {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
        ec2.create_route(RouteTableId=t["RouteTableId"], DestinationIpv6CidrBlock=str(peer_block),
                         VpcPeeringConnectionId=pcx)
        tables.append(t["RouteTableId"])
    assert ping6_eventually(a, b6), fort.log_text()[-3000:]
    assert ping6(b, a6)

    # one side without its route: the replies have no way back
    ec2.delete_route(RouteTableId=tables[1], DestinationIpv6CidrBlock=str(ba))
    time.sleep(1.5)
    assert not ping6(a, b6)


def _curl6(ns, path, token=None, method="GET", headers=(), timeout=3):
    """(HTTP status, body) of a request to the metadata service's IPv6 address from
    inside `ns`; status 0 when nothing answered."""
    cmd = ["curl", "-6", "-s", "-m", str(timeout), "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if token:
        cmd += ["-H", f"X-aws-ec2-metadata-token: {token}"]
    for h in headers:
        cmd += ["-H", h]
    out = nsexec(ns, *cmd, f"http://[fd00:ec2::254]{path}", timeout=timeout + 5).stdout
    body, _, status = out.rpartition("\n")
    return int(status or 0), body


def _dig(ns, server, *args):
    """(status, answers) of `dig @server ARGS` inside `ns`; status None when no answer."""
    out = nsexec(ns, "dig", f"@{server}", "+time=2", "+tries=1", *args, timeout=8).stdout
    status = None
    answers = []
    section = False
    for line in out.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        if line.startswith(";; ANSWER SECTION"):
            section = True
            continue
        if section:
            if not line.strip():
                section = False
                continue
            answers.append(line.split()[-1])
    return status, answers


def test_the_resolver_and_metadata_answer_at_their_ipv6_addresses(fort, ec2, world):
    """Nitro's IPv6 link-local services from real instances: the Route 53 Resolver at
    fd00:ec2::253 (DHCPv6 names it) answers AAAA for resource names as their
    EnableResourceNameDnsAAAARecord says; metadata at [fd00:ec2::254] answers only an
    instance whose HttpProtocolIpv6 is enabled, from the moment it is."""
    vpc, subnet, block = _dual_stack_vpc(ec2, world, "10.78.0.0/16")
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    sg = world.group(vpc, "v6-services", [])

    def launch(**extra):
        inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 SubnetId=subnet, SecurityGroupIds=[sg], Ipv6AddressCount=1, **extra)["Instances"][0]
        iid = inst["InstanceId"]
        world.instances.append(iid)
        fort.instances.add(iid)
        world.wait_ready(iid, inst["PrivateIpAddress"])
        six = inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]
        assert ready6(iid, six), nsexec(iid, "ip", "-6", "addr").stdout
        return iid, inst["PrivateIpAddress"], six

    a, a4, a6 = launch(MetadataOptions={"HttpProtocolIpv6": "enabled"},
                       PrivateDnsNameOptions={"HostnameType": "resource-name",
                                              "EnableResourceNameDnsARecord": True,
                                              "EnableResourceNameDnsAAAARecord": True})
    b, _, b6 = launch()
    described = ec2.describe_instances(InstanceIds=[a, b])["Reservations"]
    options = {i["InstanceId"]: i["MetadataOptions"]["HttpProtocolIpv6"]
               for r in described for i in r["Instances"]}
    assert options == {a: "enabled", b: "disabled"}

    # DHCPv6 named the resolver's IPv6 address; the IPv4 one stays first
    resolv = open(f"/etc/netns/{a}/resolv.conf").read()
    assert "nameserver fd00:ec2::253" in resolv, resolv
    assert resolv.index("nameserver 10.78.0.2") < resolv.index("nameserver fd00:ec2::253"), resolv

    # AAAA and A for A's resource name, from A itself and from B, at fd00:ec2::253
    name = f"{a}.ec2.internal"
    for asker in (a, b):
        assert _dig(asker, "fd00:ec2::253", "AAAA", name) == ("NOERROR", [a6]), asker
        assert _dig(asker, "fd00:ec2::253", "A", name) == ("NOERROR", [a4]), asker
        # over TCP too
        assert _dig(asker, "fd00:ec2::253", "+tcp", "AAAA", name) == ("NOERROR", [a6]), asker
    # B keeps its IP name: its resource name has no records
    assert _dig(a, "fd00:ec2::253", "AAAA", f"{b}.ec2.internal")[0] == "NXDOMAIN"
    # the IPv4 addresses answer the same
    assert _dig(b, "169.254.169.253", "AAAA", name) == ("NOERROR", [a6])
    # AAAA off: the name keeps its A record, AAAA has no data
    ec2.modify_private_dns_name_options(InstanceId=a, EnableResourceNameDnsAAAARecord=False)
    deadline = time.time() + 5
    while _dig(b, "fd00:ec2::253", "AAAA", name) != ("NOERROR", []) and time.time() < deadline:
        time.sleep(0.3)
    assert _dig(b, "fd00:ec2::253", "AAAA", name) == ("NOERROR", [])
    assert _dig(b, "fd00:ec2::253", "A", name) == ("NOERROR", [a4])

    # metadata over IPv6: IMDSv2 and v1 for A
    status, token = _curl6(a, "/latest/api/token", method="PUT",
                           headers=["X-aws-ec2-metadata-token-ttl-seconds: 60"])
    assert status == 200 and token, (status, token)
    assert _curl6(a, "/latest/meta-data/instance-id", token=token) == (200, a)
    assert _curl6(a, "/latest/meta-data/ipv6") == (200, a6)
    mac = eni_of(ec2, a)[1].lower()
    assert _curl6(a, f"/latest/meta-data/network/interfaces/macs/{mac}/ipv6s") == (200, a6)
    # B has HttpProtocolIpv6 disabled: nothing answers over IPv6, IPv4 still does
    b_eni, _ = eni_of(ec2, b)
    assert _curl6(b, "/latest/meta-data/instance-id", timeout=2)[0] == 0
    assert fort.metric("fort_eni_drops_total", eni=b_eni, reason="metadata_ipv6_disabled") > 0
    out = nsexec(b, "curl", "-s", "-m", "3", "http://169.254.169.254/latest/meta-data/instance-id").stdout
    assert out == b
    # enabled on the running instance: it answers
    ec2.modify_instance_metadata_options(InstanceId=b, HttpProtocolIpv6="enabled")
    deadline = time.time() + 5
    while _curl6(b, "/latest/meta-data/instance-id", timeout=1) != (200, b) and time.time() < deadline:
        time.sleep(0.3)
    assert _curl6(b, "/latest/meta-data/instance-id") == (200, b)
    # and disabled again: silence
    ec2.modify_instance_metadata_options(InstanceId=b, HttpProtocolIpv6="disabled")
    time.sleep(1.5)
    assert _curl6(b, "/latest/meta-data/instance-id", timeout=2)[0] == 0


def test_dhcpv6_hands_out_the_options_sets_ipv6_name_servers(fort, ec2, world):
    """A DHCP options set naming an IPv6 server beside AmazonProvidedDNS: IPv4's DHCP
    gives base + 2, DHCPv6 gives fd00:ec2::253 and the set's IPv6 server, in the set's
    order, into the instance's own resolv.conf (never the machine's)."""
    vpc, subnet, _ = _dual_stack_vpc(ec2, world, "10.79.0.0/16")
    opts = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS", "2001:db8:53::1"]}])["DhcpOptions"]
    opts_id = opts["DhcpOptionsId"]
    world.cleanups.append(lambda: ec2.delete_dhcp_options(DhcpOptionsId=opts_id))
    ec2.associate_dhcp_options(DhcpOptionsId=opts_id, VpcId=vpc)
    world.cleanups.append(lambda: ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc))
    machine = open("/etc/resolv.conf").read()
    inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet, Ipv6AddressCount=1)["Instances"][0]
    iid = inst["InstanceId"]
    world.instances.append(iid)
    fort.instances.add(iid)
    world.wait_ready(iid, inst["PrivateIpAddress"])
    assert ready6(iid, inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"])
    deadline = time.time() + 5
    resolv = ""
    while time.time() < deadline:
        resolv = open(f"/etc/netns/{iid}/resolv.conf").read()
        if "2001:db8:53::1" in resolv:
            break
        time.sleep(0.2)
    servers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
    assert servers == ["10.79.0.2", "fd00:ec2::253", "2001:db8:53::1"], resolv
    assert open("/etc/resolv.conf").read() == machine


def test_an_ipv6_only_instance(fort, ec2, world):
    """An instance of an IPv6-only subnet, as on EC2: no IPv4 address at all, its IPv6
    address by DHCPv6 and its route by the router's advertisement; it reaches the
    resolver at fd00:ec2::253 (its own resource name's AAAA), metadata at [fd00:ec2::254]
    with HttpProtocolIpv6 enabled, and a dual-stack instance on the other host."""
    vpc, dual, block = _dual_stack_vpc(ec2, world, "10.80.0.0/16")
    net = list(block.subnets(new_prefix=64))[5]
    only = ec2.create_subnet(VpcId=vpc, Ipv6Native=True, Ipv6CidrBlock=str(net),
                             AvailabilityZone=f"{ec2.meta.region_name}a")["Subnet"]["SubnetId"]
    world.cleanups.append(lambda: ec2.delete_subnet(SubnetId=only))
    sg = world.group(vpc, "v6-only", [
        {"IpProtocol": "icmpv6", "FromPort": -1, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": str(block)}]},
    ])
    d = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          SubnetId=dual, SecurityGroupIds=[sg], Ipv6AddressCount=1)["Instances"][0]
    world.instances.append(d["InstanceId"])
    fort.instances.add(d["InstanceId"])
    world.wait_ready(d["InstanceId"], d["PrivateIpAddress"])
    d6 = d["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]
    assert ready6(d["InstanceId"], d6)

    o = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          SubnetId=only, SecurityGroupIds=[sg],
                          MetadataOptions={"HttpProtocolIpv6": "enabled"})["Instances"][0]
    oid = o["InstanceId"]
    world.instances.append(oid)
    fort.instances.add(oid)
    assert "PrivateIpAddress" not in o
    o6 = o["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"]
    deadline = time.time() + 30
    while not os.path.exists(f"/run/netns/{oid}") and time.time() < deadline:
        time.sleep(0.1)
    assert ready6(oid, o6), nsexec(oid, "ip", "addr").stdout + fort.log_text()[-3000:]
    assert host_of(fort, eni_of(ec2, oid)[0]) != host_of(fort, eni_of(ec2, d["InstanceId"])[0])
    # no IPv4 at all: no address, no route; DHCPv4 was never asked
    assert "inet " not in nsexec(oid, "ip", "-4", "addr", "show", "dev", "eth0").stdout
    assert nsexec(oid, "ip", "-4", "route").stdout.strip() == ""
    # DHCPv6 named the resolver, the instance's only server
    resolv = open(f"/etc/netns/{oid}/resolv.conf").read()
    servers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
    assert servers == ["fd00:ec2::253"], resolv

    # to and from the dual-stack instance on the other host
    assert ping6_eventually(oid, d6), fort.log_text()[-3000:]
    assert ping6(d["InstanceId"], o6)
    # its own resource name: AAAA, no A
    name = f"{oid}.ec2.internal"
    assert _dig(oid, "fd00:ec2::253", "AAAA", name) == ("NOERROR", [o6])
    assert _dig(oid, "fd00:ec2::253", "A", name) == ("NOERROR", [])
    # and the dual-stack instance finds it the same way
    assert _dig(d["InstanceId"], "fd00:ec2::253", "AAAA", name) == ("NOERROR", [o6])
    # metadata over IPv6: its id, its IPv6 address, no local-ipv4
    assert _curl6(oid, "/latest/meta-data/instance-id") == (200, oid)
    assert _curl6(oid, "/latest/meta-data/ipv6") == (200, o6)
    assert _curl6(oid, "/latest/meta-data/hostname") == (200, name)
    assert _curl6(oid, "/latest/meta-data/local-ipv4")[0] == 404


def test_the_put_response_hop_limit_holds_over_ipv6(fort, ec2, world):
    """The token's answer leaves [fd00:ec2::254] with the instance's PUT response hop
    limit as its IPv6 hop limit: a container one hop behind the instance gets no token
    with the default of 1, and gets one with 2."""
    import uuid

    from .fort_e2e import sh
    vpc, subnet, _ = _dual_stack_vpc(ec2, world, "10.81.0.0/16")
    inst = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet, Ipv6AddressCount=1,
                             MetadataOptions={"HttpProtocolIpv6": "enabled"})["Instances"][0]
    iid = inst["InstanceId"]
    world.instances.append(iid)
    fort.instances.add(iid)
    world.wait_ready(iid, inst["PrivateIpAddress"])
    assert ready6(iid, inst["NetworkInterfaces"][0]["Ipv6Addresses"][0]["Ipv6Address"])
    ctr = f"fort-e2e-ctr6-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", ctr, check=True)
    world.cleanups.append(lambda: sh("ip", "netns", "del", ctr))
    sh("ip", "link", "add", "vc6", "netns", iid, "type", "veth", "peer", "name", "eth0", "netns", ctr, check=True)
    for cmd in (["ip", "-6", "addr", "add", "fd99:77::1/64", "dev", "vc6", "nodad"], ["ip", "link", "set", "vc6", "up"],
                # forwarding on, still taking the router's advertisements
                ["sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=2"],
                ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
                ["nft", "add table ip6 ctr6; add chain ip6 ctr6 post { type nat hook postrouting priority 100 ; }; "
                        "add rule ip6 ctr6 post oifname eth0 masquerade"]):
        r = nsexec(iid, *cmd)
        assert r.returncode == 0, (cmd, r.stderr)
    for cmd in (["ip", "-6", "addr", "add", "fd99:77::2/64", "dev", "eth0", "nodad"],
                ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"],
                ["ip", "-6", "route", "add", "default", "via", "fd99:77::1"]):
        r = nsexec(ctr, *cmd)
        assert r.returncode == 0, (cmd, r.stderr)

    def token(ns, timeout=3):
        status, body = _curl6(ns, "/latest/api/token", method="PUT",
                              headers=["X-aws-ec2-metadata-token-ttl-seconds: 60"], timeout=timeout)
        return body if status == 200 else None

    assert token(iid), "the instance itself gets a token over IPv6"
    # one hop too far: the answer's hop limit of 1 expires at the instance
    assert token(ctr, timeout=2) is None
    # IMDSv1 GETs are not limited
    assert _curl6(ctr, "/latest/meta-data/instance-id") == (200, iid)
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpPutResponseHopLimit=2)
    deadline = time.time() + 3
    got = None
    while got is None and time.time() < deadline:
        got = token(ctr, timeout=2)
    assert got
