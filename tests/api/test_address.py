"""Elastic IPs: allocate from the pool, associate, move, disassociate, release, describe."""

import ipaddress

import pytest

from conftest import error_code

AMI = "ami-0123456789abcdef0"
POOL = ipaddress.ip_network("198.51.100.0/24")


@pytest.fixture
def default_subnet(ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="172.31.200.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    yield s
    ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["Reservations"]
           for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_allocate_describe_release(ec2):
    a = ec2.allocate_address(
        Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "e1"}]}]
    )
    assert a["AllocationId"].startswith("eipalloc-")
    ip = ipaddress.ip_address(a["PublicIp"])
    assert ip in POOL and ip != POOL.network_address and ip != POOL.broadcast_address
    assert a["Domain"] == "vpc" and a["PublicIpv4Pool"] == "amazon" and a["NetworkBorderGroup"] == "us-east-1"
    b = ec2.allocate_address(Domain="vpc")
    assert b["PublicIp"] != a["PublicIp"]
    got = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"]
    assert got[0]["PublicIp"] == a["PublicIp"] and got[0]["Tags"] == [{"Key": "Name", "Value": "e1"}]
    assert "AssociationId" not in got[0]
    got = ec2.describe_addresses(PublicIps=[b["PublicIp"]])["Addresses"]
    assert [x["AllocationId"] for x in got] == [b["AllocationId"]]
    got = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["e1"]}])["Addresses"]
    assert [x["AllocationId"] for x in got] == [a["AllocationId"]]
    got = ec2.describe_addresses(Filters=[{"Name": "public-ip", "Values": [b["PublicIp"]]}, {"Name": "domain", "Values": ["vpc"]}])["Addresses"]
    assert [x["AllocationId"] for x in got] == [b["AllocationId"]]
    ec2.release_address(AllocationId=a["AllocationId"])
    ec2.release_address(AllocationId=b["AllocationId"])
    assert error_code(ec2.describe_addresses, AllocationIds=[a["AllocationId"]]) == "InvalidAllocationID.NotFound"
    assert error_code(ec2.release_address, AllocationId=a["AllocationId"]) == "InvalidAllocationID.NotFound"
    assert error_code(ec2.release_address, AllocationId="eipalloc_zz") == "InvalidAllocationID.Malformed"
    assert error_code(ec2.describe_addresses, PublicIps=["203.0.113.9"]) == "InvalidAddress.NotFound"
    # a PublicIp that is no IPv4 address is a bad parameter value (cloud-custodian#5069)
    assert error(ec2.describe_addresses, PublicIps=["256.256.256.256"]) == (
        "InvalidParameterValue", "Invalid value '256.256.256.256' for PublicIp. Not a valid IPv4 address")
    assert error_code(ec2.describe_addresses, Filters=[{"Name": "nope", "Values": ["x"]}]) == "InvalidParameterValue"


def test_pool_is_shared_across_regions(fort, ec2):
    west = fort.client(region="us-west-2")
    a = ec2.allocate_address(Domain="vpc")
    b = west.allocate_address(Domain="vpc")
    assert a["PublicIp"] != b["PublicIp"]
    assert b["NetworkBorderGroup"] == "us-west-2"
    assert error_code(west.describe_addresses, AllocationIds=[a["AllocationId"]]) == "InvalidAllocationID.NotFound"
    ec2.release_address(AllocationId=a["AllocationId"])
    west.release_address(AllocationId=b["AllocationId"])


def test_associate_instance_and_interface(ec2, default_subnet):
    sid = default_subnet["SubnetId"]
    inst = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                             NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sid, "AssociatePublicIpAddress": True}])["Instances"][0]
    iid = inst["InstanceId"]
    auto_ip = inst["PublicIpAddress"]
    a = ec2.allocate_address(Domain="vpc")
    assoc = ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=iid)["AssociationId"]
    assert assoc.startswith("eipassoc-")
    d = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert d["PublicIpAddress"] == a["PublicIp"], "the elastic IP replaces the auto-assigned one"
    assert d["NetworkInterfaces"][0]["Association"]["IpOwnerId"] == "123456789012"
    got = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    assert got["AssociationId"] == assoc and got["InstanceId"] == iid
    assert got["NetworkInterfaceId"] == inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert got["PrivateIpAddress"] == inst["PrivateIpAddress"]
    assert got["NetworkInterfaceOwnerId"] == "123456789012"
    for name, value in [("instance-id", iid), ("association-id", assoc), ("private-ip-address", inst["PrivateIpAddress"])]:
        assert [x["AllocationId"] for x in ec2.describe_addresses(Filters=[{"Name": name, "Values": [value]}])["Addresses"]] == [a["AllocationId"]]
    eni = ec2.describe_network_interfaces(Filters=[{"Name": "association.allocation-id", "Values": [a["AllocationId"]]}])["NetworkInterfaces"]
    assert eni[0]["Association"]["AssociationId"] == assoc
    # Same target again: idempotent.
    assert ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=iid)["AssociationId"] == assoc

    # Move it to a free interface; without reassociation it fails.
    other = ec2.create_network_interface(SubnetId=sid, SecondaryPrivateIpAddressCount=1)["NetworkInterface"]
    oid = other["NetworkInterfaceId"]
    secondary = other["PrivateIpAddresses"][1]["PrivateIpAddress"]
    assert error_code(ec2.associate_address, AllocationId=a["AllocationId"], NetworkInterfaceId=oid, AllowReassociation=False) == "Resource.AlreadyAssociated"
    assoc2 = ec2.associate_address(AllocationId=a["AllocationId"], NetworkInterfaceId=oid, PrivateIpAddress=secondary, AllowReassociation=True)["AssociationId"]
    got = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    assert got["NetworkInterfaceId"] == oid and got["PrivateIpAddress"] == secondary and "InstanceId" not in got
    d = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert ipaddress.ip_address(d["PublicIpAddress"]) in POOL and d["PublicIpAddress"] != a["PublicIp"], \
        "launched with a public IP, the instance gets a fresh one when the elastic IP leaves"
    del auto_ip
    assert error_code(ec2.disassociate_address, AssociationId=assoc) == "InvalidAssociationID.NotFound"
    assert error_code(ec2.associate_address, AllocationId=a["AllocationId"], NetworkInterfaceId=oid, PrivateIpAddress="172.31.200.250") == "InvalidParameterValue"
    ec2.disassociate_address(AssociationId=assoc2)
    got = ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    assert "AssociationId" not in got
    e = ec2.describe_network_interfaces(NetworkInterfaceIds=[oid])["NetworkInterfaces"][0]
    assert all("Association" not in p for p in e["PrivateIpAddresses"])
    assert error_code(ec2.associate_address, AllocationId="eipalloc-0123456789abcdef0", NetworkInterfaceId=oid) == "InvalidAllocationID.NotFound"
    assert error_code(ec2.associate_address, AllocationId=a["AllocationId"], InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    # Associated to the interface, then the interface deleted: the address is free again.
    ec2.associate_address(AllocationId=a["AllocationId"], NetworkInterfaceId=oid)
    ec2.delete_network_interface(NetworkInterfaceId=oid)
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    # Terminating an instance disassociates its elastic IP.
    ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=iid)
    ec2.terminate_instances(InstanceIds=[iid])
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[a["AllocationId"]])["Addresses"][0]
    ec2.release_address(AllocationId=a["AllocationId"])


def test_needs_internet_gateway(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.3.0/24")["Subnet"]
    e = ec2.create_network_interface(SubnetId=s["SubnetId"])["NetworkInterface"]["NetworkInterfaceId"]
    a = ec2.allocate_address(Domain="vpc")
    assert error_code(ec2.associate_address, AllocationId=a["AllocationId"], NetworkInterfaceId=e) == "Gateway.NotAttached"
    ec2.release_address(AllocationId=a["AllocationId"])
    ec2.delete_network_interface(NetworkInterfaceId=e)
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_address_quota():
    from conftest import Fort
    f = Fort(extra_args=["--quotas", "aws"])
    try:
        c = f.client()
        got = [c.allocate_address(Domain="vpc")["AllocationId"] for _ in range(5)]
        assert error_code(c.allocate_address, Domain="vpc") == "AddressLimitExceeded"
        c.release_address(AllocationId=got[0])
        c.allocate_address(Domain="vpc")
    finally:
        f.close()


def test_release_disassociates_in_the_default_vpc_only(ec2, default_subnet, vpc):
    # [Default VPC] releasing disassociates; [nondefault VPC] it must be disassociated first
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                            SubnetId=default_subnet["SubnetId"])["Instances"][0]["InstanceId"]
    a = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=a["AllocationId"], InstanceId=iid)
    ec2.release_address(AllocationId=a["AllocationId"])
    assert error_code(ec2.describe_addresses, AllocationIds=[a["AllocationId"]]) == "InvalidAllocationID.NotFound"
    d = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert d.get("PublicIpAddress") != a["PublicIp"]
    ec2.terminate_instances(InstanceIds=[iid])

    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.4.0/24")["Subnet"]["SubnetId"]
    e = ec2.create_network_interface(SubnetId=s)["NetworkInterface"]["NetworkInterfaceId"]
    b = ec2.allocate_address(Domain="vpc")
    assoc = ec2.associate_address(AllocationId=b["AllocationId"], NetworkInterfaceId=e)["AssociationId"]
    assert error_code(ec2.release_address, AllocationId=b["AllocationId"]) == "InvalidIPAddress.InUse"
    ec2.disassociate_address(AssociationId=assoc)
    ec2.release_address(AllocationId=b["AllocationId"])
    ec2.delete_network_interface(NetworkInterfaceId=e)
    ec2.delete_subnet(SubnetId=s)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
    ec2.delete_internet_gateway(InternetGatewayId=igw)


def test_reverse_dns_attribute(ec2):
    a = ec2.allocate_address(Domain="vpc")
    aid, ip = a["AllocationId"], a["PublicIp"]
    got = ec2.describe_addresses_attribute(AllocationIds=[aid], Attribute="domain-name")["Addresses"]
    assert got == [{"PublicIp": ip, "AllocationId": aid}]
    m = ec2.modify_address_attribute(AllocationId=aid, DomainName="Mail.Example.com")["Address"]
    assert m == {"PublicIp": ip, "AllocationId": aid,
                 "PtrRecordUpdate": {"Value": "mail.example.com.", "Status": "PENDING"}}
    got = ec2.describe_addresses_attribute(AllocationIds=[aid], Attribute="domain-name")["Addresses"]
    assert got == [{"PublicIp": ip, "AllocationId": aid, "PtrRecord": "mail.example.com."}]
    assert aid in [x["AllocationId"] for x in ec2.describe_addresses_attribute(Attribute="domain-name")["Addresses"]]
    r = ec2.reset_address_attribute(AllocationId=aid, Attribute="domain-name")["Address"]
    assert r["PtrRecord"] == "mail.example.com." and r["PtrRecordUpdate"] == {"Status": "PENDING"}
    assert "PtrRecord" not in ec2.describe_addresses_attribute(AllocationIds=[aid])["Addresses"][0]
    # bad input changes nothing
    assert error_code(ec2.modify_address_attribute, AllocationId=aid, DomainName="not a name") == "InvalidParameterValue"
    assert error_code(ec2.modify_address_attribute, AllocationId="eipalloc-0123456789abcdef0",
                      DomainName="x.example.com") == "InvalidAllocationID.NotFound"
    assert error_code(ec2.describe_addresses_attribute, AllocationIds=["eipalloc-0123456789abcdef0"]) == \
        "InvalidAllocationID.NotFound"
    assert "PtrRecord" not in ec2.describe_addresses_attribute(AllocationIds=[aid])["Addresses"][0]
    ec2.release_address(AllocationId=aid)


def error(fn, **kwargs):
    with pytest.raises(Exception) as e:
        fn(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def test_any_domain_allocates_a_vpc_address(ec2):
    # EC2-Classic is retired: EC2 gives a VPC address whatever Domain says
    got = [ec2.allocate_address(Domain=d) for d in ("standard", "", "xyz")]
    try:
        assert [a["Domain"] for a in got] == ["vpc"] * 3
        assert all(a["AllocationId"].startswith("eipalloc-") for a in got)
    finally:
        for a in got:
            ec2.release_address(AllocationId=a["AllocationId"])


def test_describe_addresses_in_public_address_order(ec2):
    got = [ec2.allocate_address(Domain="vpc") for _ in range(3)]
    try:
        ips = [a["PublicIp"] for a in ec2.describe_addresses()["Addresses"]]
        assert ips == sorted(ips, key=ipaddress.ip_address)
        picked = [got[2]["PublicIp"], got[0]["PublicIp"]]
        ips = [a["PublicIp"] for a in ec2.describe_addresses(PublicIps=picked)["Addresses"]]
        assert ips == sorted(picked, key=ipaddress.ip_address)
    finally:
        for a in got:
            ec2.release_address(AllocationId=a["AllocationId"])


def test_associate_without_target_or_address_in_ec2_words(ec2, vpc):
    a = ec2.allocate_address(Domain="vpc")
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]
    eni = ec2.create_network_interface(SubnetId=s["SubnetId"])["NetworkInterface"]
    try:
        expect = ("MissingParameter", "Invalid request, expect InstanceId/NetworkId parameter.")
        assert error(ec2.associate_address, AllocationId=a["AllocationId"]) == expect
        assert error(ec2.associate_address, PublicIp=a["PublicIp"]) == expect
        assert error(ec2.associate_address, NetworkInterfaceId=eni["NetworkInterfaceId"]) == (
            "MissingParameter", "Invalid request, expect PublicIp/AllocationId parameter.")
    finally:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s["SubnetId"])
        ec2.release_address(AllocationId=a["AllocationId"])
