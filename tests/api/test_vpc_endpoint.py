"""VPC endpoints: gateway endpoints and their routes, interface endpoints and their
interfaces, modification, deletion, and the region's endpoint services."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

S3 = "com.amazonaws.us-east-1.s3"
DYNAMODB = "com.amazonaws.us-east-1.dynamodb"


def s3_list(ec2):
    return next(x["PrefixListId"] for x in ec2.describe_prefix_lists()["PrefixLists"]
                if x["PrefixListName"] == S3)


def table(ec2, rtb):
    return ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]


def endpoint(ec2, vpce):
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce])["VpcEndpoints"][0]


@pytest.fixture
def dns_vpc(ec2, vpc):
    ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True})
    return vpc


def test_gateway_endpoint_routes(ec2, vpc):
    vid = vpc["VpcId"]
    rtb1 = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    rtb2 = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    pl = s3_list(ec2)
    r = ec2.create_vpc_endpoint(VpcId=vid, ServiceName=S3, RouteTableIds=[rtb1], ClientToken="vpce-tok",
                                TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                    "Tags": [{"Key": "Name", "Value": "s3"}]}])
    assert r["ClientToken"] == "vpce-tok"
    e = r["VpcEndpoint"]
    vpce = e["VpcEndpointId"]
    assert vpce.startswith("vpce-")
    assert e["VpcEndpointType"] == "Gateway" and e["State"] == "available"
    assert e["ServiceName"] == S3 and e["VpcId"] == vid and e["RouteTableIds"] == [rtb1]
    assert e["PrivateDnsEnabled"] is False and e["RequesterManaged"] is False
    assert e["OwnerId"] == "123456789012" and e["Tags"] == [{"Key": "Name", "Value": "s3"}]
    assert json.loads(e["PolicyDocument"])["Statement"][0]["Effect"] == "Allow"
    assert e["SubnetIds"] == [] and e["NetworkInterfaceIds"] == [] and e["DnsEntries"] == []
    assert e["ServiceRegion"] == "us-east-1"  # as EC2 answers (recorded by LocalStack's tests)
    again = ec2.create_vpc_endpoint(VpcId=vid, ServiceName=S3, RouteTableIds=[rtb1], ClientToken="vpce-tok",
                                    TagSpecifications=[{"ResourceType": "vpc-endpoint",
                                                        "Tags": [{"Key": "Name", "Value": "s3"}]}])
    assert again["VpcEndpoint"]["VpcEndpointId"] == vpce
    route = next(x for x in table(ec2, rtb1)["Routes"] if x.get("DestinationPrefixListId") == pl)
    assert route["GatewayId"] == vpce and route["State"] == "active" and route["Origin"] == "CreateRoute"
    found = ec2.describe_route_tables(Filters=[{"Name": "route.destination-prefix-list-id", "Values": [pl]}])
    assert [t["RouteTableId"] for t in found["RouteTables"]] == [rtb1]
    # the route is the endpoint's: not replaced, deleted or made twice by hand
    assert error_code(ec2.delete_route, RouteTableId=rtb1, DestinationPrefixListId=pl) == "InvalidParameterValue"
    assert error_code(ec2.create_route, RouteTableId=rtb1, DestinationCidrBlock="0.0.0.0/0",
                      VpcEndpointId=vpce) == "RouteNotSupported"
    assert error_code(ec2.create_route, RouteTableId=rtb1, DestinationCidrBlock="0.0.0.0/0",
                      GatewayId=vpce) == "RouteNotSupported"
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid, ServiceName=S3,
                      RouteTableIds=[rtb1]) == "RouteAlreadyExists"
    # tables move with ModifyVpcEndpoint
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddRouteTableIds=[rtb2], RemoveRouteTableIds=[rtb1])
    assert endpoint(ec2, vpce)["RouteTableIds"] == [rtb2]
    assert not any(x.get("DestinationPrefixListId") == pl for x in table(ec2, rtb1)["Routes"])
    assert any(x.get("GatewayId") == vpce for x in table(ec2, rtb2)["Routes"])
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument='{"Statement": []}')
    assert endpoint(ec2, vpce)["PolicyDocument"] == '{"Statement": []}'
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=True)
    assert json.loads(endpoint(ec2, vpce)["PolicyDocument"])["Version"] == "2008-10-17"
    assert error_code(ec2.modify_vpc_endpoint, VpcEndpointId=vpce, PolicyDocument="not json") == "InvalidPolicyDocument"
    assert error_code(ec2.delete_vpc, VpcId=vid) == "DependencyViolation"
    # deletion takes the route, and a gateway endpoint is gone at once (as on AWS, where
    # Ansible's ec2_vpc_endpoint finds nothing by the id after)
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce, "vpce-00000000"])["Unsuccessful"] == [
        {"Error": {"Code": "InvalidVpcEndpoint.NotFound",
                   "Message": "The Vpc Endpoint Id 'vpce-00000000' does not exist"},
         "ResourceId": "vpce-00000000"}]
    assert error_code(ec2.describe_vpc_endpoints, VpcEndpointIds=[vpce]) == "InvalidVpcEndpointId.NotFound"
    again = ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])["Unsuccessful"]
    assert [u["Error"]["Code"] for u in again] == ["InvalidVpcEndpoint.NotFound"]
    assert not any(x.get("GatewayId") == vpce for x in table(ec2, rtb2)["Routes"])
    ec2.delete_route_table(RouteTableId=rtb1)
    ec2.delete_route_table(RouteTableId=rtb2)


def test_create_checks(ec2, vpc):
    vid = vpc["VpcId"]
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid, ServiceName="com.tester.my-test-endpoint",
                      VpcEndpointType="Interface") == "InvalidServiceName"
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid,
                      ServiceName="com.amazonaws.us-west-2.s3") == "InvalidServiceName"
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid,
                      ServiceName="com.amazonaws.us-east-1.ec2") == "InvalidParameter"
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid, ServiceName=S3,
                      PolicyDocument="my policy document") == "InvalidPolicyDocument"
    assert error_code(ec2.create_vpc_endpoint, VpcId="vpc-00000000", ServiceName=S3) == "InvalidVpcID.NotFound"
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid, ServiceName=S3,
                      RouteTableIds=["rtb-00000000"]) == "InvalidRouteTableID.NotFound"
    # private DNS, on by default, needs the VPC's DNS hostnames
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid, ServiceName=S3,
                      VpcEndpointType="Interface") == "InvalidParameter"
    # a type's parts on the other type: EC2's messages, as users have reported them
    sub = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.77.0/24")["Subnet"]["SubnetId"]
    rtb = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    with pytest.raises(ClientError) as e:
        ec2.create_vpc_endpoint(VpcId=vid, ServiceName=S3, SubnetIds=[sub])
    assert e.value.response["Error"] == {
        "Code": "InvalidParameter",
        "Message": "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints."}
    with pytest.raises(ClientError) as e:
        ec2.create_vpc_endpoint(VpcId=vid, ServiceName="com.amazonaws.us-east-1.ssm", VpcEndpointType="Interface",
                                PrivateDnsEnabled=False, RouteTableIds=[rtb])
    assert e.value.response["Error"] == {
        "Code": "InvalidParameter", "Message": "Route table IDs are only supported for Gateway type VPC Endpoint."}
    assert error_code(ec2.describe_vpc_endpoints, VpcEndpointIds=["vpce-00000000"]) == "InvalidVpcEndpointId.NotFound"
    assert error_code(ec2.describe_vpc_endpoints, VpcEndpointIds=["rtb-00000000"]) == "InvalidVpcEndpointId.Malformed"


def test_interface_endpoint(ec2, dns_vpc):
    vid = dns_vpc["VpcId"]
    s1 = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    s2 = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    s3 = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.3.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    sg1 = ec2.create_security_group(GroupName="vpce-1", Description="d", VpcId=vid)["GroupId"]
    sg2 = ec2.create_security_group(GroupName="vpce-2", Description="d", VpcId=vid)["GroupId"]
    e = ec2.create_vpc_endpoint(VpcId=vid, ServiceName="com.amazonaws.us-east-1.ssm", VpcEndpointType="Interface",
                                SubnetIds=[s1], SecurityGroupIds=[sg1])["VpcEndpoint"]
    vpce = e["VpcEndpointId"]
    assert e["State"] == "pending" and e["VpcEndpointType"] == "Interface"
    assert e["PrivateDnsEnabled"] is True
    d = endpoint(ec2, vpce)
    assert d["State"] == "available" and d["SubnetIds"] == [s1]
    assert d["Groups"] == [{"GroupId": sg1, "GroupName": "vpce-1"}]
    # an interface endpoint's default policy has no Version, unlike a gateway's (AWS, recorded by LocalStack)
    assert json.loads(d["PolicyDocument"]) == {
        "Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]}
    names = [x["DnsName"] for x in d["DnsEntries"]]
    assert names[0].startswith(f"{vpce}-") and names[0].endswith(".ssm.us-east-1.vpce.amazonaws.com")
    assert "ssm.us-east-1.amazonaws.com" in names
    [eni_id] = d["NetworkInterfaceIds"]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]
    assert eni["InterfaceType"] == "vpc_endpoint" and eni["RequesterManaged"] is True
    assert eni["SubnetId"] == s1 and eni["Description"] == f"VPC Endpoint Interface {vpce}"
    assert [g["GroupId"] for g in eni["Groups"]] == [sg1]
    # a second endpoint with private DNS for the same service conflicts
    assert error_code(ec2.create_vpc_endpoint, VpcId=vid, ServiceName="com.amazonaws.us-east-1.ssm",
                      VpcEndpointType="Interface", SubnetIds=[s2]) == "InvalidParameter"
    # one subnet per zone
    assert error_code(ec2.modify_vpc_endpoint, VpcEndpointId=vpce, AddSubnetIds=[s3]) == "DuplicateSubnetsInSameZone"
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, AddSubnetIds=[s2], AddSecurityGroupIds=[sg2],
                            RemoveSecurityGroupIds=[sg1])
    d = endpoint(ec2, vpce)
    assert d["SubnetIds"] == [s1, s2] and len(d["NetworkInterfaceIds"]) == 2
    assert d["Groups"] == [{"GroupId": sg2, "GroupName": "vpce-2"}]
    assert error_code(ec2.modify_vpc_endpoint, VpcEndpointId=vpce,
                      AddRouteTableIds=[dns_vpc["VpcId"].replace("vpc-", "rtb-")]) == "InvalidParameter"
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, RemoveSubnetIds=[s1], PrivateDnsEnabled=False)
    d = endpoint(ec2, vpce)
    assert d["SubnetIds"] == [s2] and d["PrivateDnsEnabled"] is False
    assert error_code(ec2.describe_network_interfaces, NetworkInterfaceIds=[eni_id]) == "InvalidNetworkInterfaceID.NotFound"
    assert error_code(ec2.delete_subnet, SubnetId=s2) == "DependencyViolation"
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])["Unsuccessful"] == []
    for s in (s1, s2, s3):
        ec2.delete_subnet(SubnetId=s)
    for g in (sg1, sg2):
        ec2.delete_security_group(GroupId=g)


def test_describe_filters(ec2, vpc):
    vid = vpc["VpcId"]
    e = ec2.create_vpc_endpoint(VpcId=vid, ServiceName=DYNAMODB, VpcEndpointType="gateway")["VpcEndpoint"]
    vpce = e["VpcEndpointId"]
    assert e["VpcEndpointType"] == "Gateway"
    for name, value in [("vpc-id", vid), ("service-name", DYNAMODB), ("vpc-endpoint-type", "Gateway"),
                        ("vpc-endpoint-state", "available"), ("vpc-endpoint-id", vpce)]:
        found = ec2.describe_vpc_endpoints(Filters=[{"Name": name, "Values": [value]}])["VpcEndpoints"]
        assert vpce in [x["VpcEndpointId"] for x in found], name
    none = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-type", "Values": ["Interface"]},
                                              {"Name": "vpc-id", "Values": [vid]}])["VpcEndpoints"]
    assert none == []
    ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])


def test_endpoint_services(ec2):
    all_services = ec2.describe_vpc_endpoint_services()
    names = all_services["ServiceNames"]
    assert S3 in names and DYNAMODB in names and "com.amazonaws.us-east-1.ssm" in names
    assert names == sorted(set(names))
    s3 = ec2.describe_vpc_endpoint_services(ServiceNames=[S3])["ServiceDetails"]
    assert sorted(x["ServiceType"][0]["ServiceType"] for x in s3) == ["Gateway", "Interface"]
    gw = next(x for x in s3 if x["ServiceType"] == [{"ServiceType": "Gateway"}])
    assert gw["Owner"] == "amazon" and gw["ServiceId"].startswith("vpce-svc-")
    assert gw["AvailabilityZones"][0] == "us-east-1a" and gw["VpcEndpointPolicySupported"] is True
    assert gw["BaseEndpointDnsNames"] == ["s3.us-east-1.amazonaws.com"]
    ssm = ec2.describe_vpc_endpoint_services(ServiceNames=["com.amazonaws.us-east-1.ssm"])["ServiceDetails"][0]
    assert ssm["PrivateDnsName"] == "ssm.us-east-1.amazonaws.com"
    assert ssm["BaseEndpointDnsNames"] == ["ssm.us-east-1.vpce.amazonaws.com"]
    gateways = ec2.describe_vpc_endpoint_services(Filters=[{"Name": "service-type", "Values": ["Gateway"]}])
    assert gateways["ServiceNames"] == [DYNAMODB, S3]
    page = ec2.describe_vpc_endpoint_services(MaxResults=5)
    assert len(page["ServiceDetails"]) == 5 and "NextToken" in page
    rest = ec2.describe_vpc_endpoint_services(NextToken=page["NextToken"])
    assert len(page["ServiceDetails"]) + len(rest["ServiceDetails"]) == len(all_services["ServiceDetails"])
    assert error_code(ec2.describe_vpc_endpoint_services, ServiceNames=["s3"]) == "InvalidServiceName"
    assert error_code(ec2.describe_vpc_endpoint_services,
                      Filters=[{"Name": "service-kind", "Values": ["Gateway"]}]) == "InvalidParameterValue"
    assert error_code(ec2.describe_vpc_endpoint_services, NextToken="foo") == "InvalidNextToken"


def test_empty_tag_set_shown(ec2, vpc):
    # EC2's DescribeVpcEndpoints item carries its tag set even when empty (`"Tags": []`)
    e = ec2.create_vpc_endpoint(VpcId=vpc["VpcId"], ServiceName=DYNAMODB)["VpcEndpoint"]
    try:
        [d] = ec2.describe_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"]])["VpcEndpoints"]
        assert d["Tags"] == []
    finally:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[e["VpcEndpointId"]])


def test_interface_endpoint_subnet_configuration(ec2, dns_vpc):
    # SubnetConfiguration.N puts the endpoint's interface in a subnet at a chosen address (as
    # terraform-aws-vpc's vpc-endpoints module does with cidrhost(subnet, 10)); an interface
    # whose subnet is given another address on ModifyVpcEndpoint is replaced by one with it.
    vid = dns_vpc["VpcId"]
    s1 = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    s2 = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    ecs = "com.amazonaws.us-east-1.ecs"
    e = ec2.create_vpc_endpoint(
        VpcId=vid, ServiceName=ecs, VpcEndpointType="Interface", SubnetIds=[s1, s2],
        SubnetConfigurations=[{"SubnetId": s1, "Ipv4": "10.0.1.10"}])["VpcEndpoint"]
    vpce = e["VpcEndpointId"]
    try:
        def addresses():
            enis = ec2.describe_network_interfaces(
                NetworkInterfaceIds=endpoint(ec2, vpce)["NetworkInterfaceIds"])["NetworkInterfaces"]
            return {n["SubnetId"]: n["PrivateIpAddress"] for n in enis}
        got = addresses()
        assert got[s1] == "10.0.1.10" and got[s2].startswith("10.0.2.")
        ec2.modify_vpc_endpoint(VpcEndpointId=vpce,
                                SubnetConfigurations=[{"SubnetId": s2, "Ipv4": "10.0.2.20"}])
        assert addresses() == {s1: "10.0.1.10", s2: "10.0.2.20"}
        # the address must be the subnet's and free
        assert error_code(ec2.modify_vpc_endpoint, VpcEndpointId=vpce,
                          SubnetConfigurations=[{"SubnetId": s2, "Ipv4": "10.0.1.11"}]) \
            == "InvalidParameterValue"
        eni = ec2.create_network_interface(SubnetId=s1, PrivateIpAddress="10.0.1.30")["NetworkInterface"]
        assert error_code(ec2.modify_vpc_endpoint, VpcEndpointId=vpce,
                          SubnetConfigurations=[{"SubnetId": s1, "Ipv4": "10.0.1.30"}]) \
            == "InvalidIPAddress.InUse"
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
        assert addresses() == {s1: "10.0.1.10", s2: "10.0.2.20"}
        # gateway endpoints have no subnets to configure
        assert error_code(ec2.create_vpc_endpoint, VpcId=vid, ServiceName=S3,
                          SubnetConfigurations=[{"SubnetId": s1, "Ipv4": "10.0.1.12"}]) == "InvalidParameter"
    finally:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[vpce])
        ec2.delete_subnet(SubnetId=s1)
        ec2.delete_subnet(SubnetId=s2)


def test_common_interface_services_offered(ec2):
    # configurations look services up by their short names before creating endpoints
    # (data "aws_vpc_endpoint_service" { service = "ecs" }): the usual ones are offered
    for short in ["ecs", "ecs-agent", "ecs-telemetry", "rds", "elasticache", "kinesis-streams",
                  "autoscaling", "cloudformation", "codebuild", "states", "xray",
                  # terraform-aws-vpc's complete example (v4) asks for these before creating
                  "codedeploy", "codedeploy-commands-secure", "ssmmessages", "ec2messages",
                  # and its v2 releases' enable_*_endpoint switches for these
                  "access-analyzer", "acm-pca", "appmesh-envoy-management", "codeartifact.api",
                  "codeartifact.repositories", "datasync", "dms", "email-smtp", "qldb.session",
                  "rekognition", "storagegateway", "transfer.server", "workspaces"]:
        name = f"com.amazonaws.us-east-1.{short}"
        found = ec2.describe_vpc_endpoint_services(
            ServiceNames=[name], Filters=[{"Name": "service-type", "Values": ["Interface"]}])
        assert found["ServiceNames"] == [name]
        assert found["ServiceDetails"][0]["PrivateDnsName"] == f"{short}.us-east-1.amazonaws.com"
