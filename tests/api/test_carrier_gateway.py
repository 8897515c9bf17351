"""Carrier gateways, through boto3 against the real binary.

EC2 makes a carrier gateway in any VPC and lets the VPC's route tables name it; only
traffic from subnets in Wavelength Zones goes through one. Fort has no Wavelength Zones, so
the routes are shown as EC2 shows them but carry nothing.
"""

from conftest import error_code


def test_carrier_gateway_lifecycle(ec2, vpc):
    vid = vpc["VpcId"]
    made = ec2.create_carrier_gateway(
        VpcId=vid,
        TagSpecifications=[{"ResourceType": "carrier-gateway", "Tags": [{"Key": "Name", "Value": "cg"}]}],
    )["CarrierGateway"]
    cid = made["CarrierGatewayId"]
    assert cid.startswith("cagw-") and len(cid) == 22
    # EC2 answers the create `pending` (its CLI example); Describe shows it available.
    assert made["State"] == "pending" and made["VpcId"] == vid and made["OwnerId"] == "123456789012"
    assert made["Tags"] == [{"Key": "Name", "Value": "cg"}]
    [got] = ec2.describe_carrier_gateways(CarrierGatewayIds=[cid])["CarrierGateways"]
    assert got == {"CarrierGatewayId": cid, "VpcId": vid, "State": "available",
                   "OwnerId": "123456789012", "Tags": [{"Key": "Name", "Value": "cg"}]}
    for name, value in [("vpc-id", vid), ("state", "available"), ("carrier-gateway-id", cid),
                        ("owner-id", "123456789012"), ("tag:Name", "cg"), ("tag-key", "Name")]:
        found = ec2.describe_carrier_gateways(Filters=[{"Name": name, "Values": [value]}])["CarrierGateways"]
        assert [g["CarrierGatewayId"] for g in found] == [cid], name
    assert ec2.describe_carrier_gateways(Filters=[{"Name": "state", "Values": ["pending"]}])["CarrierGateways"] == []
    assert error_code(ec2.describe_carrier_gateways,
                      Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    # tags through CreateTags too, and DescribeTags names the resource type
    ec2.create_tags(Resources=[cid], Tags=[{"Key": "k", "Value": "v"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [cid]}])["Tags"]
    assert {t["ResourceType"] for t in tags} == {"carrier-gateway"}
    # a VPC with a carrier gateway cannot be deleted
    assert error_code(ec2.delete_vpc, VpcId=vid) == "DependencyViolation"
    gone = ec2.delete_carrier_gateway(CarrierGatewayId=cid)["CarrierGateway"]
    assert gone["State"] == "deleting" and gone["CarrierGatewayId"] == cid and gone["VpcId"] == vid
    assert ec2.describe_carrier_gateways(Filters=[{"Name": "vpc-id", "Values": [vid]}])["CarrierGateways"] == []
    assert error_code(ec2.describe_carrier_gateways, CarrierGatewayIds=[cid]) == "InvalidCarrierGatewayID.NotFound"
    assert error_code(ec2.delete_carrier_gateway, CarrierGatewayId=cid) == "InvalidCarrierGatewayID.NotFound"


def test_carrier_gateway_errors(ec2, vpc):
    assert error_code(ec2.create_carrier_gateway, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
    assert error_code(ec2.create_carrier_gateway, VpcId="bogus") == "InvalidVpcID.Malformed"
    assert error_code(ec2.delete_carrier_gateway, CarrierGatewayId="cagw-0123456789abcdef0") \
        == "InvalidCarrierGatewayID.NotFound"
    assert error_code(ec2.delete_carrier_gateway, CarrierGatewayId="igw-0123456789abcdef0") \
        == "InvalidCarrierGatewayID.Malformed"
    assert error_code(ec2.describe_carrier_gateways, CarrierGatewayIds=["nope"]) == "InvalidCarrierGatewayID.Malformed"
    # Only CreateCarrierGateway's own resource type can be tagged by it.
    assert error_code(ec2.create_carrier_gateway, VpcId=vpc["VpcId"],
                      TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}]) \
        == "InvalidParameterValue"
    # idempotent under a client token
    one = ec2.create_carrier_gateway(VpcId=vpc["VpcId"], ClientToken="cg-token-1")["CarrierGateway"]
    two = ec2.create_carrier_gateway(VpcId=vpc["VpcId"], ClientToken="cg-token-1")["CarrierGateway"]
    assert one["CarrierGatewayId"] == two["CarrierGatewayId"]
    ec2.delete_carrier_gateway(CarrierGatewayId=one["CarrierGatewayId"])


def test_routes_to_a_carrier_gateway(ec2, vpc):
    vid = vpc["VpcId"]
    cid = ec2.create_carrier_gateway(VpcId=vid)["CarrierGateway"]["CarrierGatewayId"]
    rtb = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", CarrierGatewayId=cid)
    [table] = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
    [route] = [r for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"]
    assert route["CarrierGatewayId"] == cid and route["State"] == "active"
    # a carrier gateway of another VPC
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    foreign = ec2.create_carrier_gateway(VpcId=other)["CarrierGateway"]["CarrierGatewayId"]
    assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="198.51.100.0/24",
                      CarrierGatewayId=foreign) == "InvalidParameterValue"
    assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="198.51.100.0/24",
                      CarrierGatewayId="cagw-0123456789abcdef0") == "InvalidCarrierGatewayID.NotFound"
    # deleting the gateway leaves the route, blackholed
    ec2.delete_carrier_gateway(CarrierGatewayId=cid)
    [table] = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
    [route] = [r for r in table["Routes"] if r["DestinationCidrBlock"] == "0.0.0.0/0"]
    assert route["CarrierGatewayId"] == cid and route["State"] == "blackhole"
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_carrier_gateway(CarrierGatewayId=foreign)
    ec2.delete_vpc(VpcId=other)
