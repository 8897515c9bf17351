"""NAT gateways: public and private, their interface and elastic IP, failure and deletion."""

import pytest

from conftest import error_code


@pytest.fixture
def default_subnet(ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="172.31.210.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    yield s
    for n in ec2.describe_nat_gateways(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NatGateways"]:
        if n["State"] != "deleted":
            ec2.delete_nat_gateway(NatGatewayId=n["NatGatewayId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_public_nat_gateway(ec2, default_subnet):
    sid = default_subnet["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")
    r = ec2.create_nat_gateway(
        SubnetId=sid, AllocationId=eip["AllocationId"], ClientToken="nat-tok-1",
        TagSpecifications=[{"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "n1"}]}],
    )
    assert r["ClientToken"] == "nat-tok-1"
    n = r["NatGateway"]
    nid = n["NatGatewayId"]
    assert nid.startswith("nat-") and len(nid) == 21
    # EC2 answers `pending` (addresses `associating`) and provisions after; Describe
    # shows where the gateway settled
    assert n["State"] == "pending" and n["ConnectivityType"] == "public"
    assert [a["Status"] for a in n["NatGatewayAddresses"]] == ["associating"]
    [shown] = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]
    assert shown["State"] == "available" and shown["NatGatewayAddresses"][0]["Status"] == "succeeded"
    assert n["SubnetId"] == sid and n["VpcId"] == default_subnet["VpcId"]
    assert n["Tags"] == [{"Key": "Name", "Value": "n1"}]
    [addr] = n["NatGatewayAddresses"]
    assert addr["AllocationId"] == eip["AllocationId"] and addr["PublicIp"] == eip["PublicIp"]
    assert addr["PrivateIp"] == "172.31.210.4" and addr["IsPrimary"] is True
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[addr["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert eni["InterfaceType"] == "nat_gateway" and eni["RequesterManaged"] is True
    assert eni["Status"] == "in-use"
    assert eni["Description"] == f"Interface for NAT Gateway {nid}"
    assert eni["Association"]["PublicIp"] == eip["PublicIp"]
    got = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert got["NetworkInterfaceId"] == addr["NetworkInterfaceId"] and got["AssociationId"] == addr["AssociationId"]
    assert error_code(ec2.delete_network_interface, NetworkInterfaceId=addr["NetworkInterfaceId"]) == "InvalidNetworkInterface.InUse"
    assert error_code(ec2.release_address, AllocationId=eip["AllocationId"]) == "InvalidIPAddress.InUse"
    assert error_code(ec2.delete_subnet, SubnetId=sid) == "DependencyViolation"
    # Idempotent create.
    again = ec2.create_nat_gateway(
        SubnetId=sid, AllocationId=eip["AllocationId"], ClientToken="nat-tok-1",
        TagSpecifications=[{"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "n1"}]}],
    )
    assert again["NatGateway"]["NatGatewayId"] == nid
    # The same address for a second gateway: it fails as AWS fails it.
    # (EC2's resource types name the NAT gateway twice: `nat-gateway` tags it too)
    second = ec2.create_nat_gateway(
        SubnetId=sid, AllocationId=eip["AllocationId"],
        TagSpecifications=[{"ResourceType": "nat-gateway", "Tags": [{"Key": "Name", "Value": "n2"}]}],
    )["NatGateway"]
    assert second["State"] == "pending" and "FailureCode" not in second
    [second] = ec2.describe_nat_gateways(NatGatewayIds=[second["NatGatewayId"]])["NatGateways"]
    assert second["State"] == "failed" and second["FailureCode"] == "Resource.AlreadyAssociated"
    assert second["Tags"] == [{"Key": "Name", "Value": "n2"}]

    for name, value in [("nat-gateway-id", nid), ("state", "available"), ("subnet-id", sid), ("vpc-id", default_subnet["VpcId"]), ("tag:Name", "n1")]:
        got = ec2.describe_nat_gateways(Filter=[{"Name": name, "Values": [value]}])["NatGateways"]
        assert nid in [x["NatGatewayId"] for x in got], name
    assert [x["NatGatewayId"] for x in ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]] == [nid]

    assert ec2.delete_nat_gateway(NatGatewayId=nid)["NatGatewayId"] == nid
    d = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0]
    assert d["State"] == "deleted" and "DeleteTime" in d
    # deleting it again answers as the first time, and changes nothing
    assert ec2.delete_nat_gateway(NatGatewayId=nid)["NatGatewayId"] == nid
    assert ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0] == d
    assert error_code(ec2.describe_network_interfaces, NetworkInterfaceIds=[addr["NetworkInterfaceId"]]) == "InvalidNetworkInterfaceID.NotFound"
    got = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert "AssociationId" not in got, "disassociated but still allocated"
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_private_and_failed(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.4.0/24")["Subnet"]
    sid = s["SubnetId"]
    p = ec2.create_nat_gateway(SubnetId=sid, ConnectivityType="private", PrivateIpAddress="10.0.4.10")["NatGateway"]
    # EC2 shows an untagged gateway's empty tag set (Ansible's ec2_vpc_nat_gateway_info reads it)
    assert p["Tags"] == []
    assert ec2.describe_nat_gateways(NatGatewayIds=[p["NatGatewayId"]])["NatGateways"][0]["Tags"] == []
    assert p["State"] == "pending" and p["ConnectivityType"] == "private"
    assert ec2.describe_nat_gateways(NatGatewayIds=[p["NatGatewayId"]])["NatGateways"][0]["State"] == "available"
    assert p["NatGatewayAddresses"][0]["PrivateIp"] == "10.0.4.10"
    assert "PublicIp" not in p["NatGatewayAddresses"][0]
    eip = ec2.allocate_address(Domain="vpc")
    f = ec2.create_nat_gateway(SubnetId=sid, AllocationId=eip["AllocationId"])["NatGateway"]
    assert f["State"] == "pending"
    # EC2's answer names the requested address before the gateway fails (boto3#779)
    assert f["NatGatewayAddresses"] == [{"AllocationId": eip["AllocationId"], "IsPrimary": True, "Status": "associating"}]
    [f] = ec2.describe_nat_gateways(NatGatewayIds=[f["NatGatewayId"]])["NatGateways"]
    assert f["State"] == "failed" and f["FailureCode"] == "Gateway.NotAttached"
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert error_code(ec2.create_nat_gateway, SubnetId=sid) == "MissingParameter"
    assert error_code(ec2.create_nat_gateway, SubnetId=sid, ConnectivityType="private", AllocationId=eip["AllocationId"]) == "InvalidParameterCombination"
    assert error_code(ec2.create_nat_gateway, SubnetId=sid, AllocationId="eipalloc-0123456789abcdef0") == "InvalidAllocationID.NotFound"
    assert error_code(ec2.create_nat_gateway, SubnetId="subnet-0123456789abcdef0", ConnectivityType="private") == "InvalidSubnetID.NotFound"
    assert error_code(ec2.create_nat_gateway, SubnetId=sid, ConnectivityType="private", PrivateIpAddress="10.0.4.10") == "InvalidIPAddress.InUse"
    assert error_code(ec2.describe_nat_gateways, NatGatewayIds=["nat-0123456789abcdef0"]) == "NatGatewayNotFound"
    assert error_code(ec2.delete_nat_gateway, NatGatewayId="nat_zz") == "NatGatewayMalformed"
    assert error_code(ec2.delete_vpc, VpcId=vpc["VpcId"]) == "DependencyViolation"
    ec2.delete_nat_gateway(NatGatewayId=p["NatGatewayId"])
    ec2.delete_nat_gateway(NatGatewayId=f["NatGatewayId"])
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.delete_subnet(SubnetId=sid)


def test_quota_per_zone(fort):
    from conftest import Fort
    f = Fort(extra_args=["--quotas", "aws"])
    try:
        c = f.client()
        vpc = c.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        sid = c.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "availability-zone", "Values": ["us-east-1a"]}])["Subnets"][0]["SubnetId"]
        made = [c.create_nat_gateway(SubnetId=sid, ConnectivityType="private")["NatGateway"]["NatGatewayId"] for _ in range(5)]
        assert error_code(c.create_nat_gateway, SubnetId=sid, ConnectivityType="private") == "NatGatewayLimitExceeded"
        c.delete_nat_gateway(NatGatewayId=made[0])
        c.create_nat_gateway(SubnetId=sid, ConnectivityType="private")
    finally:
        f.close()


def test_private_secondary_addresses(ec2, vpc):
    """A private gateway's secondary addresses: at create (named or counted), assigned and
    unassigned after; each is a secondary address of the gateway's one interface."""
    sid = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.5.0/24")["Subnet"]["SubnetId"]
    n = ec2.create_nat_gateway(
        SubnetId=sid, ConnectivityType="private", PrivateIpAddress="10.0.5.10",
        SecondaryPrivateIpAddresses=["10.0.5.11", "10.0.5.12"],
    )["NatGateway"]
    nid = n["NatGatewayId"]
    assert [(a["PrivateIp"], a["IsPrimary"]) for a in n["NatGatewayAddresses"]] == [
        ("10.0.5.10", True), ("10.0.5.11", False), ("10.0.5.12", False)]
    [d] = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]
    assert {a["Status"] for a in d["NatGatewayAddresses"]} == {"succeeded"}
    eni_id = d["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    assert {a["NetworkInterfaceId"] for a in d["NatGatewayAddresses"]} == {eni_id}
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    assert [(p["PrivateIpAddress"], p["Primary"]) for p in eni["PrivateIpAddresses"]] == [
        ("10.0.5.10", True), ("10.0.5.11", False), ("10.0.5.12", False)]

    # Assign: the answer says `assigning`, Describe `succeeded`.
    r = ec2.assign_private_nat_gateway_address(NatGatewayId=nid, PrivateIpAddresses=["10.0.5.20"])
    assert r["NatGatewayId"] == nid
    assert [(a["PrivateIp"], a["IsPrimary"], a["Status"]) for a in r["NatGatewayAddresses"]] == [("10.0.5.20", False, "assigning")]
    r = ec2.assign_private_nat_gateway_address(NatGatewayId=nid, PrivateIpAddressCount=2)
    counted = [a["PrivateIp"] for a in r["NatGatewayAddresses"]]
    assert len(counted) == 2 and all(ip.startswith("10.0.5.") for ip in counted)
    [d] = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]
    assert len(d["NatGatewayAddresses"]) == 6
    assert all(a["Status"] == "succeeded" for a in d["NatGatewayAddresses"])
    # In use by the gateway: no other interface gets them.
    assert error_code(ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="10.0.5.20") == "InvalidIPAddress.InUse"
    assert error_code(ec2.assign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddresses=["10.0.5.20"]) == "InvalidIPAddress.InUse"
    assert error_code(ec2.assign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddresses=["10.0.9.1"]) == "InvalidParameterValue"
    assert error_code(ec2.assign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddresses=["10.0.5.30"], PrivateIpAddressCount=1) == "InvalidParameterCombination"
    assert error_code(ec2.assign_private_nat_gateway_address, NatGatewayId=nid) == "MissingParameter"
    assert error_code(ec2.assign_private_nat_gateway_address, NatGatewayId="nat-0123456789abcdef0", PrivateIpAddressCount=1) == "NatGatewayNotFound"

    # Unassign: `unassigning` in the answer, gone from Describe and from the interface.
    r = ec2.unassign_private_nat_gateway_address(NatGatewayId=nid, PrivateIpAddresses=["10.0.5.11", counted[0]])
    assert [(a["PrivateIp"], a["Status"]) for a in r["NatGatewayAddresses"]] == [("10.0.5.11", "unassigning"), (counted[0], "unassigning")]
    [d] = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]
    left = [a["PrivateIp"] for a in d["NatGatewayAddresses"]]
    assert left == ["10.0.5.10", "10.0.5.12", "10.0.5.20", counted[1]]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    assert [p["PrivateIpAddress"] for p in eni["PrivateIpAddresses"]] == left
    assert error_code(ec2.unassign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddresses=["10.0.5.10"]) == "InvalidParameterValue"
    assert error_code(ec2.unassign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddresses=["10.0.5.99"]) == "InvalidParameterValue"
    assert error_code(ec2.unassign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddresses=["10.0.5.12"], MaxDrainDurationSeconds=4001) == "InvalidParameterValue"
    # The freed address is free again.
    ec2.delete_network_interface(NetworkInterfaceId=ec2.create_network_interface(SubnetId=sid, PrivateIpAddress="10.0.5.11")["NetworkInterface"]["NetworkInterfaceId"])

    # Counted at create; public-only parameters refused.
    c = ec2.create_nat_gateway(SubnetId=sid, ConnectivityType="private", SecondaryPrivateIpAddressCount=3)["NatGateway"]
    assert [a["IsPrimary"] for a in c["NatGatewayAddresses"]] == [True, False, False, False]
    eip = ec2.allocate_address(Domain="vpc")
    assert error_code(ec2.create_nat_gateway, SubnetId=sid, ConnectivityType="private", SecondaryAllocationIds=[eip["AllocationId"]]) == "InvalidParameterCombination"
    assert error_code(ec2.create_nat_gateway, SubnetId=sid, ConnectivityType="private", SecondaryPrivateIpAddressCount=1, SecondaryPrivateIpAddresses=["10.0.5.40"]) == "InvalidParameterCombination"
    assert error_code(ec2.create_nat_gateway, SubnetId=sid, ConnectivityType="private", SecondaryPrivateIpAddressCount=32) == "InvalidParameterValue"
    assert error_code(ec2.associate_nat_gateway_address, NatGatewayId=nid, AllocationIds=[eip["AllocationId"]]) == "InvalidParameterValue"
    for g in (nid, c["NatGatewayId"]):
        ec2.delete_nat_gateway(NatGatewayId=g)
    assert error_code(ec2.assign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddressCount=1) == "NatGatewayNotFound"
    ec2.release_address(AllocationId=eip["AllocationId"])
    ec2.delete_subnet(SubnetId=sid)


def test_public_secondary_addresses(ec2, default_subnet):
    """A public gateway's secondary elastic IPs, each on a secondary private address of
    its interface: at create and by Associate/DisassociateNatGatewayAddress."""
    sid = default_subnet["SubnetId"]
    primary, second, third, fourth = (ec2.allocate_address(Domain="vpc") for _ in range(4))
    n = ec2.create_nat_gateway(
        SubnetId=sid, AllocationId=primary["AllocationId"],
        SecondaryAllocationIds=[second["AllocationId"]], SecondaryPrivateIpAddresses=["172.31.210.50"],
    )["NatGateway"]
    nid = n["NatGatewayId"]
    [d] = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]
    assert d["State"] == "available"
    [p, s] = d["NatGatewayAddresses"]
    assert p["IsPrimary"] and p["AllocationId"] == primary["AllocationId"] and p["PublicIp"] == primary["PublicIp"]
    assert not s["IsPrimary"] and s["AllocationId"] == second["AllocationId"] and s["PublicIp"] == second["PublicIp"]
    assert s["PrivateIp"] == "172.31.210.50" and s["AssociationId"].startswith("eipassoc-") and s["Status"] == "succeeded"
    assert s["NetworkInterfaceId"] == p["NetworkInterfaceId"]
    got = ec2.describe_addresses(AllocationIds=[second["AllocationId"]])["Addresses"][0]
    assert got["NetworkInterfaceId"] == p["NetworkInterfaceId"] and got["PrivateIpAddress"] == "172.31.210.50"
    assert got["AssociationId"] == s["AssociationId"]

    # Associate: a chosen private address; `associating`, then `succeeded`.
    r = ec2.associate_nat_gateway_address(NatGatewayId=nid, AllocationIds=[third["AllocationId"]])
    [a] = r["NatGatewayAddresses"]
    assert a["AllocationId"] == third["AllocationId"] and a["Status"] == "associating" and not a["IsPrimary"]
    [d] = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]
    assert [x["AllocationId"] for x in d["NatGatewayAddresses"]] == [primary["AllocationId"], second["AllocationId"], third["AllocationId"]]
    assert d["NatGatewayAddresses"][2]["Status"] == "succeeded"
    assert error_code(ec2.associate_nat_gateway_address, NatGatewayId=nid, AllocationIds=[third["AllocationId"]]) == "Resource.AlreadyAssociated"
    assert error_code(ec2.associate_nat_gateway_address, NatGatewayId=nid, AllocationIds=[fourth["AllocationId"]], PrivateIpAddresses=["172.31.210.60", "172.31.210.61"]) == "InvalidParameterValue"
    assert error_code(ec2.associate_nat_gateway_address, NatGatewayId=nid, AllocationIds=["eipalloc-0123456789abcdef0"]) == "InvalidAllocationID.NotFound"
    assert error_code(ec2.assign_private_nat_gateway_address, NatGatewayId=nid, PrivateIpAddressCount=1) == "InvalidParameterValue"
    assert error_code(ec2.release_address, AllocationId=third["AllocationId"]) == "InvalidIPAddress.InUse"

    # Disassociate: the elastic IP and its private address leave; the primary cannot.
    r = ec2.disassociate_nat_gateway_address(NatGatewayId=nid, AssociationIds=[s["AssociationId"]])
    assert [(x["AllocationId"], x["Status"]) for x in r["NatGatewayAddresses"]] == [(second["AllocationId"], "disassociating")]
    [d] = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"]
    assert [x["AllocationId"] for x in d["NatGatewayAddresses"]] == [primary["AllocationId"], third["AllocationId"]]
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[second["AllocationId"]])["Addresses"][0]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[p["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert "172.31.210.50" not in [x["PrivateIpAddress"] for x in eni["PrivateIpAddresses"]]
    assert error_code(ec2.disassociate_nat_gateway_address, NatGatewayId=nid, AssociationIds=[p["AssociationId"]]) == "InvalidParameterValue"
    assert error_code(ec2.disassociate_nat_gateway_address, NatGatewayId=nid, AssociationIds=["eipassoc-0123456789abcdef0"]) == "InvalidAssociationID.NotFound"
    assert error_code(ec2.create_nat_gateway, SubnetId=sid, AllocationId=fourth["AllocationId"], SecondaryPrivateIpAddressCount=1) == "InvalidParameterCombination"

    # Deleting the gateway lets every elastic IP go.
    ec2.delete_nat_gateway(NatGatewayId=nid)
    for e in (primary, second, third, fourth):
        assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[e["AllocationId"]])["Addresses"][0]
        ec2.release_address(AllocationId=e["AllocationId"])


def test_secondary_address_quotas(fort):
    from conftest import Fort
    f = Fort(extra_args=["--quotas", "aws"])
    try:
        c = f.client()
        vpc = c.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        sid = c.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"][0]["SubnetId"]
        # AWS's defaults: 2 elastic IPs per public gateway, 8 private addresses per private one.
        a, b, x = (c.allocate_address(Domain="vpc")["AllocationId"] for _ in range(3))
        assert error_code(c.create_nat_gateway, SubnetId=sid, AllocationId=a, SecondaryAllocationIds=[b, x]) == "AddressLimitExceeded"
        n = c.create_nat_gateway(SubnetId=sid, AllocationId=a, SecondaryAllocationIds=[b])["NatGateway"]["NatGatewayId"]
        assert error_code(c.associate_nat_gateway_address, NatGatewayId=n, AllocationIds=[x]) == "AddressLimitExceeded"
        p = c.create_nat_gateway(SubnetId=sid, ConnectivityType="private", SecondaryPrivateIpAddressCount=7)["NatGateway"]["NatGatewayId"]
        assert error_code(c.assign_private_nat_gateway_address, NatGatewayId=p, PrivateIpAddressCount=1) == "PrivateIpAddressLimitExceeded"
        assert error_code(c.create_nat_gateway, SubnetId=sid, ConnectivityType="private", SecondaryPrivateIpAddressCount=8) == "PrivateIpAddressLimitExceeded"
    finally:
        f.close()
