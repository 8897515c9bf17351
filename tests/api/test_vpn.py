"""Virtual private gateways and customer gateways (Site-to-Site VPN's VPC side); the VPN
connections between them are in test_vpn_connection.py."""

from conftest import error_code


def test_virtual_private_gateway_lifecycle(ec2, vpc):
    g = ec2.create_vpn_gateway(
        Type="ipsec.1", AvailabilityZone="us-east-1a", TagSpecifications=[{"ResourceType": "vpn-gateway", "Tags": [{"Key": "Name", "Value": "vgw"}]}],
    )["VpnGateway"]
    gid = g["VpnGatewayId"]
    assert gid.startswith("vgw-") and g["State"] == "available" and g["Type"] == "ipsec.1"
    assert g["AmazonSideAsn"] == 64512 and g["VpcAttachments"] == []
    assert g["Tags"] == [{"Key": "Name", "Value": "vgw"}]
    # EC2 takes a zone and shows none (LocalStack's recording against AWS).
    assert "AvailabilityZone" not in g
    plain = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]
    assert "Tags" not in plain
    [shown] = ec2.describe_vpn_gateways(VpnGatewayIds=[plain["VpnGatewayId"]])["VpnGateways"]
    assert shown["Tags"] == [] and "AvailabilityZone" not in shown
    assert ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=4200000001)["VpnGateway"]["AmazonSideAsn"] == 4200000001
    assert error_code(ec2.create_vpn_gateway, Type="ipsec.1", AmazonSideAsn=100) == "InvalidParameterValue"
    assert error_code(ec2.create_vpn_gateway, Type="ipsec.2") == "InvalidParameterValue"

    # Attach: `attaching` in the answer, `attached` on Describe.
    r = ec2.attach_vpn_gateway(VpnGatewayId=gid, VpcId=vpc["VpcId"])
    assert r["VpcAttachment"] == {"VpcId": vpc["VpcId"], "State": "attaching"}
    [d] = ec2.describe_vpn_gateways(VpnGatewayIds=[gid])["VpnGateways"]
    assert d["VpcAttachments"] == [{"VpcId": vpc["VpcId"], "State": "attached"}]
    for name, value in [("attachment.vpc-id", vpc["VpcId"]), ("attachment.state", "attached"), ("state", "available"),
                        ("type", "ipsec.1"), ("vpn-gateway-id", gid), ("amazon-side-asn", "64512"), ("tag:Name", "vgw")]:
        got = ec2.describe_vpn_gateways(Filters=[{"Name": name, "Values": [value]}])["VpnGateways"]
        assert gid in [x["VpnGatewayId"] for x in got], name
    other = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    assert error_code(ec2.attach_vpn_gateway, VpnGatewayId=other, VpcId=vpc["VpcId"]) == "VpnGatewayAttachmentLimitExceeded"
    assert error_code(ec2.attach_vpn_gateway, VpnGatewayId="vgw-0123456789abcdef0", VpcId=vpc["VpcId"]) == "InvalidVpnGatewayID.NotFound"
    assert error_code(ec2.attach_vpn_gateway, VpnGatewayId=other, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
    assert error_code(ec2.delete_vpn_gateway, VpnGatewayId=gid) == "IncorrectState"
    assert error_code(ec2.delete_vpc, VpcId=vpc["VpcId"]) == "DependencyViolation"

    # Routes to it, and propagation into a table of its VPC.
    rtb = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16", GatewayId=gid)
    ec2.enable_vgw_route_propagation(RouteTableId=rtb, GatewayId=gid)
    t = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
    assert t["PropagatingVgws"] == [{"GatewayId": gid}]
    [route] = [x for x in t["Routes"] if x.get("DestinationCidrBlock") == "192.168.0.0/16"]
    assert route["GatewayId"] == gid and route["State"] == "active"
    assert error_code(ec2.enable_vgw_route_propagation, RouteTableId=rtb, GatewayId=other) == "Gateway.NotAttached"
    assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="192.169.0.0/16", GatewayId=other) == "InvalidParameterValue"
    ec2.disable_vgw_route_propagation(RouteTableId=rtb, GatewayId=gid)
    assert ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["PropagatingVgws"] == []

    # Detach: the attachment stays listed `detached`; its routes blackhole.
    assert ec2.detach_vpn_gateway(VpnGatewayId=gid, VpcId=vpc["VpcId"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    [d] = ec2.describe_vpn_gateways(VpnGatewayIds=[gid])["VpnGateways"]
    assert d["VpcAttachments"] == [{"VpcId": vpc["VpcId"], "State": "detached"}]
    assert ec2.describe_vpn_gateways(Filters=[{"Name": "attachment.state", "Values": ["attached"]}, {"Name": "vpn-gateway-id", "Values": [gid]}])["VpnGateways"] == []
    t = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
    [route] = [x for x in t["Routes"] if x.get("DestinationCidrBlock") == "192.168.0.0/16"]
    assert route["State"] == "blackhole"
    assert error_code(ec2.detach_vpn_gateway, VpnGatewayId=gid, VpcId=vpc["VpcId"]) == "InvalidVpnGatewayAttachment.NotFound"
    # attached again (here, or to another VPC), the gateway lists only the new attachment
    # (Ansible's ec2_vpc_vgw waits, on AWS, for every listed one to be `attached`)
    ec2.attach_vpn_gateway(VpnGatewayId=gid, VpcId=vpc["VpcId"])
    [d] = ec2.describe_vpn_gateways(VpnGatewayIds=[gid])["VpnGateways"]
    assert d["VpcAttachments"] == [{"VpcId": vpc["VpcId"], "State": "attached"}]
    ec2.detach_vpn_gateway(VpnGatewayId=gid, VpcId=vpc["VpcId"])
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16")
    ec2.delete_route_table(RouteTableId=rtb)

    # Delete: still described, `deleted`; gone for every other action.
    ec2.delete_vpn_gateway(VpnGatewayId=gid)
    [d] = ec2.describe_vpn_gateways(VpnGatewayIds=[gid])["VpnGateways"]
    assert d["State"] == "deleted"
    assert error_code(ec2.delete_vpn_gateway, VpnGatewayId=gid) == "InvalidVpnGatewayID.NotFound"
    assert error_code(ec2.describe_vpn_gateways, VpnGatewayIds=["vgw-0123456789abcdef0"]) == "InvalidVpnGatewayID.NotFound"
    for x in ec2.describe_vpn_gateways(Filters=[{"Name": "state", "Values": ["available"]}])["VpnGateways"]:
        ec2.delete_vpn_gateway(VpnGatewayId=x["VpnGatewayId"])


def test_customer_gateways(ec2):
    g = ec2.create_customer_gateway(
        Type="ipsec.1", BgpAsn=65534, IpAddress="203.0.113.12", DeviceName="edge-router",
        TagSpecifications=[{"ResourceType": "customer-gateway", "Tags": [{"Key": "Name", "Value": "office"}]}],
    )["CustomerGateway"]
    gid = g["CustomerGatewayId"]
    assert gid.startswith("cgw-") and g["State"] == "available" and g["Type"] == "ipsec.1"
    assert g["BgpAsn"] == "65534" and g["IpAddress"] == "203.0.113.12" and g["DeviceName"] == "edge-router"
    assert g["Tags"] == [{"Key": "Name", "Value": "office"}]
    # The older `PublicIp` name of the address; a 32-bit ASN is `BgpAsnExtended`.
    x = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="203.0.113.13", BgpAsnExtended=4200000000)["CustomerGateway"]
    assert x["IpAddress"] == "203.0.113.13" and x["BgpAsnExtended"] == "4200000000" and "BgpAsn" not in x
    for name, value in [("bgp-asn", "65534"), ("ip-address", "203.0.113.12"), ("state", "available"),
                        ("type", "ipsec.1"), ("customer-gateway-id", gid), ("tag:Name", "office")]:
        got = ec2.describe_customer_gateways(Filters=[{"Name": name, "Values": [value]}])["CustomerGateways"]
        assert gid in [c["CustomerGatewayId"] for c in got], name
    assert error_code(ec2.create_customer_gateway, Type="ipsec.1", BgpAsn=65000) == "MissingParameter"
    assert error_code(ec2.create_customer_gateway, Type="ipsec.1", BgpAsn=65000, IpAddress="300.1.1.1") == "InvalidParameterValue"
    assert error_code(ec2.create_customer_gateway, Type="ipsec.1", BgpAsn=65000, BgpAsnExtended=4200000000, IpAddress="203.0.113.9") == "InvalidParameterCombination"
    # EC2's own wording for an unknown id (moto's AWS-verified test).
    try:
        ec2.delete_customer_gateway(CustomerGatewayId="cgw-0123abcd")
        raise AssertionError("deleted a gateway that does not exist")
    except ec2.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidCustomerGatewayID.NotFound"
        assert e.response["Error"]["Message"] == "The customerGateway ID 'cgw-0123abcd' does not exist"
    ec2.delete_customer_gateway(CustomerGatewayId=gid)
    [d] = ec2.describe_customer_gateways(CustomerGatewayIds=[gid])["CustomerGateways"]
    assert d["State"] == "deleted"
    assert error_code(ec2.delete_customer_gateway, CustomerGatewayId=gid) == "InvalidCustomerGatewayID.NotFound"
    ec2.delete_customer_gateway(CustomerGatewayId=x["CustomerGatewayId"])
