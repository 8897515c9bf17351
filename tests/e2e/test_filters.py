"""Security groups and network ACLs on real traffic."""

import time

from .fort_e2e import ALL_FROM, TcpServer, ping, tcp_get

ICMP_FROM = lambda cidr: {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": cidr}]}  # noqa: E731
TCP_FROM = lambda port, cidr: {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}  # noqa: E731


def probe(src, ip):
    return ping(src, ip, wait=0.3)


def wait_for(cond, within):
    deadline = time.time() + within
    while time.time() < deadline:
        if cond():
            return time.time()
        time.sleep(0.02)
    return None


def test_security_group_rules_take_effect_within_a_second(fort, ec2, world):
    vpc = world.vpc("10.2.0.0/16")
    subnet = world.subnet(vpc, "10.2.1.0/24")
    client_sg = world.group(vpc, "client", [ALL_FROM("10.2.0.0/16")])
    server_sg = world.group(vpc, "server")  # no ingress at all
    a, a_ip = world.launch(subnet, [client_sg])
    b, b_ip = world.launch(subnet, [server_sg])
    assert not probe(a, b_ip)
    with TcpServer(b, b_ip) as _:
        assert tcp_get(a, b_ip, timeout=1) is None

        start = time.time()
        ec2.authorize_security_group_ingress(GroupId=server_sg, IpPermissions=[ICMP_FROM(f"{a_ip}/32"),
                                                                               TCP_FROM(8080, "10.2.0.0/16")])
        ok = wait_for(lambda: probe(a, b_ip), within=3)
        assert ok is not None and ok - start <= 1.5, "ICMP allowed within a second"
        assert tcp_get(a, b_ip) == f"hello from {b}\n"
        # replies of allowed flows pass: b may not open connections to a's port, but answers
        assert probe(a, b_ip)

        start = time.time()
        ec2.revoke_security_group_ingress(GroupId=server_sg, IpPermissions=[ICMP_FROM(f"{a_ip}/32"),
                                                                            TCP_FROM(8080, "10.2.0.0/16")])
        blocked = wait_for(lambda: not probe(a, b_ip), within=3)
        assert blocked is not None and blocked - start <= 1.5, "new traffic blocked within a second"
        assert tcp_get(a, b_ip, timeout=1) is None


def test_security_group_references(fort, ec2, world):
    vpc = world.vpc("10.3.0.0/16")
    subnet = world.subnet(vpc, "10.3.1.0/24")
    friends = world.group(vpc, "friends")
    strangers = world.group(vpc, "strangers")
    server = world.group(vpc, "server")
    ec2.authorize_security_group_ingress(GroupId=server, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": friends}]}])
    b, b_ip = world.launch(subnet, [server])
    a, _ = world.launch(subnet, [friends])
    c, _ = world.launch(subnet, [strangers])
    assert wait_for(lambda: probe(a, b_ip), within=3)
    assert not probe(c, b_ip)


def test_network_acl_deny_stops_only_that_traffic(fort, ec2, world):
    vpc = world.vpc("10.4.0.0/16")
    s1 = world.subnet(vpc, "10.4.1.0/24")
    s2 = world.subnet(vpc, "10.4.2.0/24")
    sg = world.group(vpc, "open", [ALL_FROM("10.4.0.0/16")])
    a, a_ip = world.launch(s1, [sg])
    c, _ = world.launch(s1, [sg])
    b, b_ip = world.launch(s2, [sg])
    assert wait_for(lambda: probe(a, b_ip), within=3)

    acl = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    world.cleanups.append(lambda: ec2.delete_network_acl(NetworkAclId=acl))
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Protocol="-1", RuleAction="allow",
                                     Egress=egress, CidrBlock="0.0.0.0/0")
    # rule order: the deny (100) comes before the allow (200)
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="deny",
                                 Egress=False, CidrBlock=f"{a_ip}/32")
    assoc = [x for x in ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [s2]}])
             ["NetworkAcls"][0]["Associations"] if x["SubnetId"] == s2][0]
    default_acl = assoc["NetworkAclId"]
    new_assoc = ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"],
                                                    NetworkAclId=acl)["NewAssociationId"]
    assert wait_for(lambda: not probe(a, b_ip), within=3), "denied by the far subnet's NACL"
    assert probe(c, b_ip), "other sources still pass"

    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Egress=False)
    assert wait_for(lambda: probe(a, b_ip), within=3)
    ec2.replace_network_acl_association(AssociationId=new_assoc, NetworkAclId=default_acl)
