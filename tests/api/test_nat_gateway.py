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
    assert error_code(ec2.describe_network_interfaces, NetworkInterfaceIds=[addr["NetworkInterfaceId"]]) == "InvalidNetworkInterfaceID.NotFound"
    got = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"][0]
    assert "AssociationId" not in got, "disassociated but still allocated"
    ec2.release_address(AllocationId=eip["AllocationId"])


def test_private_and_failed(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.4.0/24")["Subnet"]
    sid = s["SubnetId"]
    p = ec2.create_nat_gateway(SubnetId=sid, ConnectivityType="private", PrivateIpAddress="10.0.4.10")["NatGateway"]
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
