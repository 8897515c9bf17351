"""Network interfaces: private addresses, groups, attributes, attach/detach, errors."""

import pytest

from botocore.exceptions import ClientError

from conftest import error_code


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    yield s
    for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
        if e.get("Attachment"):
            continue
        ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def default_sg(ec2, vpc_id):
    """The VPC's default group, read from a throwaway interface (no DescribeSecurityGroups needed)."""
    sid = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"][0]["SubnetId"]
    e = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    return e["Groups"][0]["GroupId"]


def make_group(ec2, vpc_id, name):
    try:
        return ec2.create_security_group(GroupName=name, Description="x", VpcId=vpc_id)["GroupId"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "InvalidAction":
            pytest.skip("CreateSecurityGroup is not implemented yet")
        raise


def test_create_describe_delete(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    e = ec2.create_network_interface(
        SubnetId=sid,
        Description="web",
        SecondaryPrivateIpAddressCount=2,
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "n1"}]}],
    )["NetworkInterface"]
    eid = e["NetworkInterfaceId"]
    assert eid.startswith("eni-") and len(eid) == 21
    assert e["PrivateIpAddress"] == "10.0.1.4", "the first address after the four reserved ones"
    assert [a["PrivateIpAddress"] for a in e["PrivateIpAddresses"]] == ["10.0.1.4", "10.0.1.5", "10.0.1.6"]
    assert [a["Primary"] for a in e["PrivateIpAddresses"]] == [True, False, False]
    assert e["PrivateDnsName"] == "ip-10-0-1-4.ec2.internal"
    assert e["Status"] == "available"
    assert e["SourceDestCheck"] is True
    assert e["InterfaceType"] == "interface"
    assert e["RequesterManaged"] is False
    assert e["Description"] == "web"
    assert e["AvailabilityZone"] == "us-east-1a"
    assert e["VpcId"] == vpc["VpcId"] and e["SubnetId"] == sid
    assert e["OwnerId"] == "123456789012"
    assert e["MacAddress"].startswith("02:") and len(e["MacAddress"]) == 17
    assert len(e["Groups"]) == 1 and e["Groups"][0]["GroupId"].startswith("sg-")
    assert e["Groups"][0]["GroupName"] == "default"
    assert e["TagSet"] == [{"Key": "Name", "Value": "n1"}]
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["AvailableIpAddressCount"] == 248

    got = ec2.describe_network_interfaces(NetworkInterfaceIds=[eid])["NetworkInterfaces"]
    assert [x["NetworkInterfaceId"] for x in got] == [eid]
    for name, value in [
        ("private-ip-address", "10.0.1.5"),
        ("addresses.private-ip-address", "10.0.1.6"),
        ("subnet-id", sid),
        ("vpc-id", vpc["VpcId"]),
        ("status", "available"),
        ("description", "w*"),
        ("tag:Name", "n1"),
        ("mac-address", e["MacAddress"]),
        ("interface-type", "interface"),
        ("requester-managed", "false"),
        ("source-dest-check", "true"),
        ("availability-zone", "us-east-1a"),
        ("group-name", "default"),
    ]:
        found = ec2.describe_network_interfaces(Filters=[{"Name": name, "Values": [value]}])["NetworkInterfaces"]
        assert eid in [x["NetworkInterfaceId"] for x in found], name
    none = ec2.describe_network_interfaces(Filters=[{"Name": "private-ip-address", "Values": ["10.0.1.99"]}])
    assert none["NetworkInterfaces"] == []

    ec2.delete_network_interface(NetworkInterfaceId=eid)
    assert error_code(ec2.describe_network_interfaces, NetworkInterfaceIds=[eid]) == "InvalidNetworkInterfaceID.NotFound"
    with pytest.raises(ClientError) as e:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[eid])
    assert e.value.response["Error"]["Message"] == f"The networkInterface ID '{eid}' does not exist"
    assert error_code(ec2.delete_network_interface, NetworkInterfaceId=eid) == "InvalidNetworkInterfaceID.NotFound"


def test_explicit_addresses_and_errors(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    e = ec2.create_network_interface(
        SubnetId=sid,
        PrivateIpAddresses=[
            {"PrivateIpAddress": "10.0.1.50", "Primary": True},
            {"PrivateIpAddress": "10.0.1.51", "Primary": False},
        ],
    )["NetworkInterface"]
    assert e["PrivateIpAddress"] == "10.0.1.50"
    assert {a["PrivateIpAddress"] for a in e["PrivateIpAddresses"]} == {"10.0.1.50", "10.0.1.51"}
    assert error_code(ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="10.0.1.50") == "InvalidIPAddress.InUse"
    assert error_code(ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="10.0.1.51") == "InvalidIPAddress.InUse"
    assert error_code(ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="10.0.2.5") == "InvalidParameterValue"
    assert error_code(ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="10.0.1.1") == "InvalidParameterValue"
    assert error_code(ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="banana") == "InvalidParameterValue"
    assert error_code(ec2.create_network_interface, SubnetId=sid, SecondaryPrivateIpAddressCount=60) == "PrivateIpAddressLimitExceeded"
    assert error_code(ec2.create_network_interface, SubnetId="subnet-0123456789abcdef0") == "InvalidSubnetID.NotFound"
    assert error_code(ec2.create_network_interface, SubnetId="subnet_x") == "InvalidSubnetID.Malformed"
    assert error_code(ec2.create_network_interface, SubnetId=sid, Groups=["sg-0123456789abcdef0"]) == "InvalidGroup.NotFound"
    other_sg = default_sg(ec2, ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"])
    assert error_code(ec2.create_network_interface, SubnetId=sid, Groups=[other_sg]) == "InvalidParameter"
    assert error_code(ec2.describe_network_interfaces, NetworkInterfaceIds=["eni_zz"]) == "InvalidNetworkInterfaceId.Malformed"
    assert error_code(ec2.describe_network_interfaces, Filters=[{"Name": "nope", "Values": ["x"]}]) == "InvalidParameterValue"
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])


def test_subnet_full(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/28")["Subnet"]
    e = ec2.create_network_interface(SubnetId=s["SubnetId"], SecondaryPrivateIpAddressCount=10)["NetworkInterface"]
    assert len(e["PrivateIpAddresses"]) == 11
    assert ec2.describe_subnets(SubnetIds=[s["SubnetId"]])["Subnets"][0]["AvailableIpAddressCount"] == 0
    assert error_code(ec2.create_network_interface, SubnetId=s["SubnetId"]) == "InsufficientFreeAddressesInSubnet"
    assert error_code(ec2.delete_subnet, SubnetId=s["SubnetId"]) == "DependencyViolation"
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_assign_unassign(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    a = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]["NetworkInterfaceId"]
    b = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]["NetworkInterfaceId"]
    r = ec2.assign_private_ip_addresses(NetworkInterfaceId=a, SecondaryPrivateIpAddressCount=2)
    assert r["NetworkInterfaceId"] == a
    got = [x["PrivateIpAddress"] for x in r["AssignedPrivateIpAddresses"]]
    assert len(got) == 2
    r = ec2.assign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=["10.0.1.100"])
    assert [x["PrivateIpAddress"] for x in r["AssignedPrivateIpAddresses"]] == ["10.0.1.100"]
    assert error_code(ec2.assign_private_ip_addresses, NetworkInterfaceId=b, PrivateIpAddresses=["10.0.1.100"]) == "InvalidIPAddress.InUse"
    ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=["10.0.1.100"], AllowReassignment=True)
    ips_a = [x["PrivateIpAddress"] for x in ec2.describe_network_interfaces(NetworkInterfaceIds=[a])["NetworkInterfaces"][0]["PrivateIpAddresses"]]
    ips_b = [x["PrivateIpAddress"] for x in ec2.describe_network_interfaces(NetworkInterfaceIds=[b])["NetworkInterfaces"][0]["PrivateIpAddresses"]]
    assert "10.0.1.100" not in ips_a and "10.0.1.100" in ips_b
    assert error_code(ec2.assign_private_ip_addresses, NetworkInterfaceId=a) == "MissingParameter"
    assert error_code(ec2.assign_private_ip_addresses, NetworkInterfaceId=a, PrivateIpAddresses=["10.0.3.1"]) == "InvalidParameterValue"
    assert error_code(ec2.assign_private_ip_addresses, NetworkInterfaceId=a, SecondaryPrivateIpAddressCount=50) == "PrivateIpAddressLimitExceeded"
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=[got[0]])
    ips_a = [x["PrivateIpAddress"] for x in ec2.describe_network_interfaces(NetworkInterfaceIds=[a])["NetworkInterfaces"][0]["PrivateIpAddresses"]]
    assert got[0] not in ips_a and got[1] in ips_a
    primary = ips_a[0]
    assert error_code(ec2.unassign_private_ip_addresses, NetworkInterfaceId=a, PrivateIpAddresses=[primary]) == "InvalidParameterValue"
    assert error_code(ec2.unassign_private_ip_addresses, NetworkInterfaceId=a, PrivateIpAddresses=["10.0.1.200"]) == "InvalidParameterValue"
    ec2.delete_network_interface(NetworkInterfaceId=a)
    ec2.delete_network_interface(NetworkInterfaceId=b)


def test_attributes(ec2, vpc, subnet):
    eid = ec2.create_network_interface(SubnetId=subnet["SubnetId"])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, SourceDestCheck={"Value": False})
    r = ec2.describe_network_interface_attribute(NetworkInterfaceId=eid, Attribute="sourceDestCheck")
    assert r["SourceDestCheck"]["Value"] is False
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, Description={"Value": "changed"})
    r = ec2.describe_network_interface_attribute(NetworkInterfaceId=eid, Attribute="description")
    assert r["Description"]["Value"] == "changed"
    r = ec2.describe_network_interface_attribute(NetworkInterfaceId=eid, Attribute="attachment")
    assert "Attachment" not in r
    assert error_code(ec2.modify_network_interface_attribute, NetworkInterfaceId=eid, Groups=["sg-0123456789abcdef0"]) == "InvalidGroup.NotFound"
    assert error_code(ec2.modify_network_interface_attribute, NetworkInterfaceId=eid,
                      SourceDestCheck={"Value": True}, Description={"Value": "x"}) == "InvalidParameterCombination"
    assert error_code(ec2.describe_network_interface_attribute, NetworkInterfaceId=eid, Attribute="bogus") == "InvalidParameterValue"
    ec2.delete_network_interface(NetworkInterfaceId=eid)


def test_groups(ec2, vpc, subnet):
    sg = make_group(ec2, vpc["VpcId"], "eni-test")
    eid = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Groups=[sg])["NetworkInterface"]["NetworkInterfaceId"]
    r = ec2.describe_network_interface_attribute(NetworkInterfaceId=eid, Attribute="groupSet")
    assert [g["GroupId"] for g in r["Groups"]] == [sg]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, Groups=[sg, default_sg(ec2, vpc["VpcId"])])
    r = ec2.describe_network_interface_attribute(NetworkInterfaceId=eid, Attribute="groupSet")
    assert len(r["Groups"]) == 2
    ec2.delete_network_interface(NetworkInterfaceId=eid)
    ec2.delete_security_group(GroupId=sg)


def test_client_token(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    a = ec2.create_network_interface(SubnetId=sid, ClientToken="tok-eni-1")
    b = ec2.create_network_interface(SubnetId=sid, ClientToken="tok-eni-1")
    assert a["NetworkInterface"]["NetworkInterfaceId"] == b["NetworkInterface"]["NetworkInterfaceId"]
    assert a["ClientToken"] == "tok-eni-1"
    assert error_code(ec2.create_network_interface, SubnetId=sid, ClientToken="tok-eni-1", Description="other") == "IdempotentParameterMismatch"
    ec2.delete_network_interface(NetworkInterfaceId=a["NetworkInterface"]["NetworkInterfaceId"])


def test_pagination(ec2, vpc, subnet):
    ids = [ec2.create_network_interface(SubnetId=subnet["SubnetId"])["NetworkInterface"]["NetworkInterfaceId"] for _ in range(7)]
    f = [{"Name": "subnet-id", "Values": [subnet["SubnetId"]]}]
    p1 = ec2.describe_network_interfaces(Filters=f, MaxResults=5)
    assert len(p1["NetworkInterfaces"]) == 5 and p1["NextToken"]
    p2 = ec2.describe_network_interfaces(Filters=f, MaxResults=5, NextToken=p1["NextToken"])
    assert len(p2["NetworkInterfaces"]) == 2 and not p2.get("NextToken")
    seen = {x["NetworkInterfaceId"] for x in p1["NetworkInterfaces"] + p2["NetworkInterfaces"]}
    assert seen == set(ids)
    for i in ids:
        ec2.delete_network_interface(NetworkInterfaceId=i)


@pytest.fixture
def v6_subnet(ec2):
    v = ec2.create_vpc(CidrBlock="10.70.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"].replace("::/56", "::/64")
    s = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.70.0.0/24", Ipv6CidrBlock=block,
                          AvailabilityZone="us-east-1a")["Subnet"]
    yield s, block.split("::")[0]
    for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
        if not e.get("Attachment"):
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    try:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
        ec2.delete_vpc(VpcId=v["VpcId"])
    except ClientError:
        pass


def test_ipv6_addresses(ec2, v6_subnet):
    s, prefix = v6_subnet
    sid = s["SubnetId"]
    named = f"{prefix}::1234"
    e = ec2.create_network_interface(SubnetId=sid, Ipv6Addresses=[{"Ipv6Address": named}])["NetworkInterface"]
    eid = e["NetworkInterfaceId"]
    assert e["Ipv6Addresses"] == [{"Ipv6Address": named}]
    counted = ec2.create_network_interface(SubnetId=sid, Ipv6AddressCount=2)["NetworkInterface"]
    got = [a["Ipv6Address"] for a in counted["Ipv6Addresses"]]
    assert len(set(got)) == 2 and named not in got and all(a.startswith(prefix) for a in got)
    # refused: in use, outside the block, reserved, both forms at once; nothing changes
    for kw, code in [({"Ipv6Addresses": [named]}, "InvalidIPAddress.InUse"),
                     ({"Ipv6Addresses": ["2001:db8::5"]}, "InvalidParameterValue"),
                     ({"Ipv6Addresses": [f"{prefix}::1"]}, "InvalidParameterValue"),
                     ({"Ipv6Addresses": ["not-an-address"]}, "InvalidParameterValue"),
                     ({"Ipv6Addresses": [f"{prefix}::99"], "Ipv6AddressCount": 1}, "InvalidParameterCombination")]:
        assert error_code(ec2.assign_ipv6_addresses, NetworkInterfaceId=eid, **kw) == code, kw
    assert len(ec2.describe_network_interfaces(NetworkInterfaceIds=[eid])["NetworkInterfaces"][0]["Ipv6Addresses"]) == 1
    r = ec2.assign_ipv6_addresses(NetworkInterfaceId=eid, Ipv6Addresses=[f"{prefix}::99"])
    assert r["AssignedIpv6Addresses"] == [f"{prefix}::99"], "only the new ones"
    r = ec2.assign_ipv6_addresses(NetworkInterfaceId=eid, Ipv6AddressCount=2)
    assert len(r["AssignedIpv6Addresses"]) == 2
    now = [a["Ipv6Address"] for a in
           ec2.describe_network_interfaces(NetworkInterfaceIds=[eid])["NetworkInterfaces"][0]["Ipv6Addresses"]]
    assert len(now) == 4 and not set(now) & set(got), "never two interfaces with one address"
    f = lambda n: [x["NetworkInterfaceId"] for x in
                   ec2.describe_network_interfaces(Filters=[{"Name": n, "Values": [named]}])["NetworkInterfaces"]]
    assert f("ipv6-addresses.ipv6-address") == [eid] == f("ipv6-address")
    r = ec2.unassign_ipv6_addresses(NetworkInterfaceId=eid, Ipv6Addresses=[named])
    assert r["UnassignedIpv6Addresses"] == [named]
    assert error_code(ec2.unassign_ipv6_addresses, NetworkInterfaceId=eid, Ipv6Addresses=[named]) == "InvalidParameterValue"
    # a subnet without an IPv6 block has no addresses to give
    plain = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    assert error_code(ec2.create_network_interface, SubnetId=plain, Ipv6AddressCount=1) == "InvalidParameterValue"


def test_instance_ipv6_addresses(ec2, v6_subnet):
    s, prefix = v6_subnet
    r = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          SubnetId=s["SubnetId"], Ipv6AddressCount=1)
    inst = r["Instances"][0]
    [eni] = inst["NetworkInterfaces"]
    [addr] = [a["Ipv6Address"] for a in eni["Ipv6Addresses"]]
    assert addr.startswith(prefix)
    desc = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert desc["NetworkInterfaces"][0]["Ipv6Addresses"] == [{"Ipv6Address": addr}]
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])


def test_addresses_not_marked_primary_leave_ec2_to_pick_the_primary(ec2, subnet):
    # "If you don't specify a primary private IP address, Amazon EC2 automatically assigns
    # a primary private IP address": the listed ones are secondary (terraform-provider-aws's
    # emptyPrivateIPAndSecondaryPrivateIPs acceptance test counts two secondaries so).
    e = ec2.create_network_interface(SubnetId=subnet["SubnetId"], PrivateIpAddresses=[
        {"PrivateIpAddress": "10.0.1.9"}, {"PrivateIpAddress": "10.0.1.8"}])["NetworkInterface"]
    assert e["PrivateIpAddress"] not in ("10.0.1.9", "10.0.1.8")
    assert sorted((a["PrivateIpAddress"], a["Primary"]) for a in e["PrivateIpAddresses"]) == sorted([
        (e["PrivateIpAddress"], True), ("10.0.1.9", False), ("10.0.1.8", False)])
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])


def test_empty_tag_set_shown(ec2, subnet):
    # EC2 answers an untagged interface with `TagSet: []`, on create and on describe
    e = ec2.create_network_interface(SubnetId=subnet["SubnetId"])["NetworkInterface"]
    try:
        assert e["TagSet"] == []
        [d] = ec2.describe_network_interfaces(NetworkInterfaceIds=[e["NetworkInterfaceId"]])["NetworkInterfaces"]
        assert d["TagSet"] == []
    finally:
        ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
