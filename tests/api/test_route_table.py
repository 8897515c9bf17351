"""Route tables, associations and routes, through boto3 against the real binary."""

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, Fort, error_code


def unchecked(fort):
    """A client that sends what it is given (no client-side range checks)."""
    return boto3.client(
        "ec2", endpoint_url=fort.endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


def tables_of(ec2, vpc_id):
    return ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]


def main_table(ec2, vpc_id):
    got = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"]
    assert len(got) == 1
    return got[0]


def route(table, dest):
    for r in table["Routes"]:
        if dest in (r.get("DestinationCidrBlock"), r.get("DestinationIpv6CidrBlock")):
            return r
    return None


def fresh(ec2, rtb_id):
    return ec2.describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]


@pytest.fixture
def igw(ec2, vpc):
    g = ec2.create_internet_gateway()["InternetGateway"]
    ec2.attach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc["VpcId"])
    yield g["InternetGatewayId"]
    for tb in tables_of(ec2, vpc["VpcId"]):
        for a in tb["Associations"]:
            if not a["Main"] and a["AssociationState"]["State"] == "associated":
                ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
        if not any(a["Main"] for a in tb["Associations"]):
            ec2.delete_route_table(RouteTableId=tb["RouteTableId"])
    try:
        ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc["VpcId"])
    except ClientError:
        pass
    ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])


def test_main_table_and_local_route(ec2, vpc):
    vid = vpc["VpcId"]
    t = main_table(ec2, vid)
    assert t["VpcId"] == vid and t["OwnerId"] == "123456789012"
    assert t["RouteTableId"].startswith("rtb-")
    [assoc] = t["Associations"]
    assert assoc["Main"] is True and "SubnetId" not in assoc
    assert assoc["RouteTableAssociationId"].startswith("rtbassoc-")
    assert assoc["AssociationState"]["State"] == "associated"
    assert t["Routes"] == [{
        "DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local",
        "State": "active", "Origin": "CreateRouteTable",
    }]
    assert t["PropagatingVgws"] == []
    assert error_code(ec2.delete_route_table, RouteTableId=t["RouteTableId"]) == "DependencyViolation"
    assert error_code(ec2.delete_route, RouteTableId=t["RouteTableId"],
                      DestinationCidrBlock="10.0.0.0/16") == "InvalidParameterValue"
    # CreateRoute knows no gateway `local`, whatever the destination (the provider's
    # TestAccVPCRoute_localRouteCreateError turns this answer into "use terraform import")
    for dest in ("10.0.0.0/16", "0.0.0.0/0"):
        try:
            ec2.create_route(RouteTableId=t["RouteTableId"], DestinationCidrBlock=dest, GatewayId="local")
            raise AssertionError("CreateRoute accepted GatewayId local")
        except ec2.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidGatewayID.NotFound"
            assert e.response["Error"]["Message"] == "The gateway ID 'local' does not exist"


def test_default_vpc_routes_to_its_igw(ec2):
    v = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    t = main_table(ec2, v["VpcId"])
    default = route(t, "0.0.0.0/0")
    assert default["GatewayId"].startswith("igw-") and default["State"] == "active"
    assert default["Origin"] == "CreateRoute"


def test_create_describe_delete_table(ec2, vpc):
    vid = vpc["VpcId"]
    r = ec2.create_route_table(
        VpcId=vid, TagSpecifications=[{"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "rt1"}]}],
    )
    t = r["RouteTable"]
    assert t["Associations"] == [] and t["Tags"] == [{"Key": "Name", "Value": "rt1"}]
    assert [x["DestinationCidrBlock"] for x in t["Routes"]] == ["10.0.0.0/16"]
    rid = t["RouteTableId"]
    assert [x["RouteTableId"] for x in ec2.describe_route_tables(RouteTableIds=[rid])["RouteTables"]] == [rid]
    by_tag = ec2.describe_route_tables(Filters=[{"Name": "tag:Name", "Values": ["rt?"]}])["RouteTables"]
    assert rid in [x["RouteTableId"] for x in by_tag]
    assert error_code(ec2.delete_vpc, VpcId=vid) == "DependencyViolation"
    ec2.delete_route_table(RouteTableId=rid)
    assert error_code(ec2.describe_route_tables, RouteTableIds=[rid]) == "InvalidRouteTableID.NotFound"
    assert error_code(ec2.delete_route_table, RouteTableId=rid) == "InvalidRouteTableID.NotFound"
    assert error_code(ec2.delete_route_table, RouteTableId="rtb_zz") == "InvalidRouteTableId.Malformed"
    assert error_code(ec2.create_route_table, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
    assert error_code(ec2.create_route_table, VpcId=vid, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}]) == "InvalidParameterValue"
    assert error_code(ec2.create_route_table, VpcId=vid, DryRun=True) == "DryRunOperation"


def test_client_token(ec2, vpc):
    vid = vpc["VpcId"]
    a = ec2.create_route_table(VpcId=vid, ClientToken="tok-rt-1")
    b = ec2.create_route_table(VpcId=vid, ClientToken="tok-rt-1")
    assert a["ClientToken"] == "tok-rt-1"
    assert a["RouteTable"]["RouteTableId"] == b["RouteTable"]["RouteTableId"]
    assert len(tables_of(ec2, vid)) == 2
    other = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    try:
        assert error_code(ec2.create_route_table, VpcId=other, ClientToken="tok-rt-1") == "IdempotentParameterMismatch"
    finally:
        ec2.delete_vpc(VpcId=other)
    ec2.delete_route_table(RouteTableId=a["RouteTable"]["RouteTableId"])


def test_subnet_associations(ec2, vpc):
    vid = vpc["VpcId"]
    s = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    rt2 = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    r = ec2.associate_route_table(RouteTableId=rt, SubnetId=s)
    assoc = r["AssociationId"]
    assert assoc.startswith("rtbassoc-") and r["AssociationState"]["State"] == "associated"
    t = fresh(ec2, rt)
    assert t["Associations"] == [{
        "Main": False, "RouteTableAssociationId": assoc, "RouteTableId": rt, "SubnetId": s,
        "AssociationState": {"State": "associated"},
    }]
    got = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [s]}])["RouteTables"]
    assert [x["RouteTableId"] for x in got] == [rt]
    got = ec2.describe_route_tables(Filters=[{"Name": "association.route-table-association-id", "Values": [assoc]}])
    assert [x["RouteTableId"] for x in got["RouteTables"]] == [rt]
    assert error_code(ec2.associate_route_table, RouteTableId=rt2, SubnetId=s) == "Resource.AlreadyAssociated"
    assert error_code(ec2.associate_route_table, RouteTableId=rt, SubnetId=s) == "Resource.AlreadyAssociated"
    assert error_code(ec2.delete_route_table, RouteTableId=rt) == "DependencyViolation"
    assert error_code(ec2.associate_route_table, RouteTableId=rt) == "MissingParameter"
    assert error_code(ec2.associate_route_table, RouteTableId=rt,
                      SubnetId="subnet-0123456789abcdef0") == "InvalidSubnetID.NotFound"
    # A table of another VPC.
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    try:
        os_ = ec2.create_subnet(VpcId=other, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        assert error_code(ec2.associate_route_table, RouteTableId=rt2, SubnetId=os_) == "InvalidParameterValue"
        assert error_code(ec2.replace_route_table_association, AssociationId=assoc,
                          RouteTableId=main_table(ec2, other)["RouteTableId"]) == "InvalidParameterValue"
        ec2.delete_subnet(SubnetId=os_)
    finally:
        ec2.delete_vpc(VpcId=other)
    # Replace: the subnet moves under a new association id.
    r = ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=rt2)
    new = r["NewAssociationId"]
    assert new != assoc and r["AssociationState"]["State"] == "associated"
    assert fresh(ec2, rt)["Associations"] == []
    assert fresh(ec2, rt2)["Associations"][0]["SubnetId"] == s
    assert error_code(ec2.disassociate_route_table, AssociationId=assoc) == "InvalidAssociationID.NotFound"
    assert error_code(ec2.disassociate_route_table, AssociationId="rtbassoc_zz") == "InvalidAssociationID.Malformed"
    ec2.disassociate_route_table(AssociationId=new)
    assert fresh(ec2, rt2)["Associations"] == []
    main_assoc = main_table(ec2, vid)["Associations"][0]["RouteTableAssociationId"]
    assert error_code(ec2.disassociate_route_table, AssociationId=main_assoc) == "InvalidParameterValue"
    # Deleting the subnet drops its association.
    ec2.associate_route_table(RouteTableId=rt, SubnetId=s)
    ec2.delete_subnet(SubnetId=s)
    assert fresh(ec2, rt)["Associations"] == []
    ec2.delete_route_table(RouteTableId=rt)
    ec2.delete_route_table(RouteTableId=rt2)


def test_switch_main_table(ec2, vpc):
    vid = vpc["VpcId"]
    old = main_table(ec2, vid)
    main_assoc = old["Associations"][0]["RouteTableAssociationId"]
    new = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    r = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=new)
    t = main_table(ec2, vid)
    assert t["RouteTableId"] == new
    assert t["Associations"][0]["RouteTableAssociationId"] == r["NewAssociationId"]
    assert t["Associations"][0]["Main"] is True
    assert fresh(ec2, old["RouteTableId"])["Associations"] == []
    assert error_code(ec2.delete_route_table, RouteTableId=new) == "DependencyViolation"
    ec2.delete_route_table(RouteTableId=old["RouteTableId"])
    assert len(tables_of(ec2, vid)) == 1
    # The VPC deletes with its (new) main table.
    ec2.delete_vpc(VpcId=vid)
    assert error_code(ec2.describe_route_tables, RouteTableIds=[new]) == "InvalidRouteTableID.NotFound"


def test_routes_to_an_internet_gateway(ec2, vpc, igw):
    vid = vpc["VpcId"]
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    assert ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)["Return"] is True
    r = route(fresh(ec2, rt), "0.0.0.0/0")
    assert r == {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw, "State": "active", "Origin": "CreateRoute"}
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0",
                      GatewayId=igw) == "RouteAlreadyExists"
    # Canonicalised: host bits are cleared, so this is the same destination.
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="0.0.0.1/0",
                      GatewayId=igw) == "RouteAlreadyExists"
    # Less specific than the VPC block is fine; the VPC block itself is the local route.
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="10.0.0.0/8", GatewayId=igw)
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16",
                      GatewayId=igw) == "RouteAlreadyExists"
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="10.0.5.0/24",
                      GatewayId=igw) == "InvalidParameterValue"
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="169.254.169.254/32",
                      GatewayId=igw) == "InvalidParameterValue"
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="169.254.168.0/22",
                      GatewayId=igw) == "InvalidParameterValue"
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="169.254.0.0/16", GatewayId=igw)
    ec2.create_route(RouteTableId=rt, DestinationIpv6CidrBlock="::/0", GatewayId=igw)
    assert route(fresh(ec2, rt), "::/0")["GatewayId"] == igw
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationIpv6CidrBlock="fd00:ec2::254/128",
                      GatewayId=igw) == "InvalidParameterValue"
    # Filters on routes.
    for name, value in [("route.gateway-id", igw), ("route.destination-cidr-block", "0.0.0.0/0"),
                        ("route.origin", "CreateRoute"), ("route.state", "active"),
                        ("route.destination-ipv6-cidr-block", "::/0")]:
        got = ec2.describe_route_tables(Filters=[{"Name": name, "Values": [value]}])["RouteTables"]
        assert rt in [x["RouteTableId"] for x in got], name
    # Deleting routes.
    ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="10.0.0.0/8")
    ec2.delete_route(RouteTableId=rt, DestinationIpv6CidrBlock="::/0")
    assert error_code(ec2.delete_route, RouteTableId=rt, DestinationCidrBlock="10.0.0.0/8") == "InvalidRoute.NotFound"
    assert error_code(ec2.delete_route, RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16") == "InvalidParameterValue"
    assert error_code(ec2.delete_route, RouteTableId=rt) == "MissingParameter"
    # Detaching the gateway makes its routes blackholes; they stay.
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vid)
    r = route(fresh(ec2, rt), "0.0.0.0/0")
    assert r["State"] == "blackhole" and r["GatewayId"] == igw
    got = ec2.describe_route_tables(Filters=[{"Name": "route.state", "Values": ["blackhole"]}])["RouteTables"]
    assert rt in [x["RouteTableId"] for x in got]
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="1.0.0.0/8",
                      GatewayId=igw) == "InvalidParameterValue"
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vid)
    assert route(fresh(ec2, rt), "0.0.0.0/0")["State"] == "active"


def test_replace_route(ec2, vpc, igw):
    vid = vpc["VpcId"]
    rt = main_table(ec2, vid)["RouteTableId"]
    assert error_code(ec2.replace_route, RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0",
                      GatewayId=igw) == "InvalidParameterValue"
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.replace_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    assert error_code(ec2.replace_route, RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0",
                      LocalTarget=True) == "InvalidParameterValue"
    assert error_code(ec2.replace_route, RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16",
                      GatewayId=igw) == "InvalidParameterValue"
    ec2.replace_route(RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16", LocalTarget=True)
    assert route(fresh(ec2, rt), "10.0.0.0/16")["GatewayId"] == "local"
    assert error_code(ec2.replace_route, RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16",
                      LocalTarget=True, GatewayId=igw) == "InvalidParameterCombination"
    ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0")


def test_route_parameter_errors(ec2, vpc, igw):
    rt = main_table(ec2, vpc["VpcId"])["RouteTableId"]
    cr = ec2.create_route
    d = {"RouteTableId": rt, "DestinationCidrBlock": "0.0.0.0/0"}
    assert error_code(cr, **d) == "MissingParameter"
    assert error_code(cr, RouteTableId=rt, GatewayId=igw) == "MissingParameter"
    assert error_code(cr, RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", DestinationIpv6CidrBlock="::/0",
                      GatewayId=igw) == "InvalidParameterCombination"
    assert error_code(cr, **d, GatewayId=igw, NatGatewayId="nat-0123456789abcdef0") == "InvalidParameterCombination"
    assert error_code(cr, RouteTableId=rt, DestinationCidrBlock="banana", GatewayId=igw) == "InvalidParameterValue"
    assert error_code(cr, RouteTableId="rtb-0123456789abcdef0", DestinationCidrBlock="0.0.0.0/0",
                      GatewayId=igw) == "InvalidRouteTableID.NotFound"
    assert error_code(cr, **d, GatewayId="igw-0123456789abcdef0") == "InvalidGatewayID.NotFound"
    assert error_code(cr, **d, GatewayId="vgw-0123456789abcdef0") == "InvalidGatewayID.NotFound"
    assert error_code(cr, **d, NatGatewayId="nat-0123456789abcdef0") == "InvalidNatGatewayID.NotFound"
    assert error_code(cr, **d, NetworkInterfaceId="eni-0123456789abcdef0") == "InvalidNetworkInterfaceID.NotFound"
    assert error_code(cr, **d, NetworkInterfaceId="eni_zz") == "InvalidNetworkInterfaceId.Malformed"
    assert error_code(cr, **d, InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    assert error_code(cr, **d, VpcPeeringConnectionId="pcx-0123456789abcdef0") == "InvalidVpcPeeringConnectionID.NotFound"
    assert error_code(cr, **d, VpcPeeringConnectionId="pcx_zz") == "InvalidVpcPeeringConnectionId.Malformed"
    assert error_code(cr, **d, TransitGatewayId="tgw-0123456789abcdef0") == "InvalidTransitGatewayID.NotFound"
    assert error_code(cr, **d, VpcEndpointId="vpce-0123456789abcdef0") == "InvalidVpcEndpointId.NotFound"
    assert error_code(cr, RouteTableId=rt, DestinationIpv6CidrBlock="::/0",
                      EgressOnlyInternetGatewayId="eigw-0123456789abcdef0") == "InvalidGatewayID.NotFound"
    assert error_code(cr, RouteTableId=rt, DestinationPrefixListId="pl-0123456789abcdef0",
                      GatewayId=igw) == "InvalidPrefixListID.NotFound"
    assert error_code(cr, **d, GatewayId=igw, DryRun=True) == "DryRunOperation"


def test_egress_only_gateway_routes(ec2, vpc):
    vid = vpc["VpcId"]
    eigw = ec2.create_egress_only_internet_gateway(VpcId=vid)["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    rt = main_table(ec2, vid)["RouteTableId"]
    ec2.create_route(RouteTableId=rt, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=eigw)
    r = route(fresh(ec2, rt), "::/0")
    assert r["EgressOnlyInternetGatewayId"] == eigw and r["State"] == "active"
    got = ec2.describe_route_tables(Filters=[{"Name": "route.egress-only-internet-gateway-id", "Values": [eigw]}])
    assert [x["RouteTableId"] for x in got["RouteTables"]] == [rt]
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0",
                      EgressOnlyInternetGatewayId=eigw) == "InvalidParameterValue"
    other = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    try:
        ort = main_table(ec2, other)["RouteTableId"]
        assert error_code(ec2.create_route, RouteTableId=ort, DestinationIpv6CidrBlock="::/0",
                          EgressOnlyInternetGatewayId=eigw) == "InvalidParameterValue"
    finally:
        ec2.delete_vpc(VpcId=other)
    ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=eigw)
    assert route(fresh(ec2, rt), "::/0")["State"] == "blackhole"
    ec2.delete_route(RouteTableId=rt, DestinationIpv6CidrBlock="::/0")


def test_middlebox_routes_to_an_interface(ec2, vpc):
    vid = vpc["VpcId"]
    s = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    try:
        eni = ec2.create_network_interface(SubnetId=s)["NetworkInterface"]["NetworkInterfaceId"]
    except ClientError as e:
        ec2.delete_subnet(SubnetId=s)
        if e.response["Error"]["Code"] == "InvalidAction":
            pytest.skip("network interfaces are not implemented yet")
        raise
    try:
        rt = main_table(ec2, vid)["RouteTableId"]
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni)
        r = route(fresh(ec2, rt), "0.0.0.0/0")
        assert r["NetworkInterfaceId"] == eni
        assert r["State"] == "blackhole", "a detached interface carries nothing"
        # More specific than local: only a whole subnet, to an interface.
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="10.0.1.0/24", NetworkInterfaceId=eni)
        assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="10.0.2.0/24",
                          NetworkInterfaceId=eni) == "InvalidParameterValue"
        # The local route may be pointed at the interface and restored.
        ec2.replace_route(RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16", NetworkInterfaceId=eni)
        assert route(fresh(ec2, rt), "10.0.0.0/16")["NetworkInterfaceId"] == eni
        assert error_code(ec2.delete_route, RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16") == "InvalidParameterValue"
        ec2.replace_route(RouteTableId=rt, DestinationCidrBlock="10.0.0.0/16", LocalTarget=True)
        ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="10.0.1.0/24")
        ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0")
    finally:
        ec2.delete_network_interface(NetworkInterfaceId=eni)
        ec2.delete_subnet(SubnetId=s)


def test_gateway_association(ec2, vpc, igw):
    vid = vpc["VpcId"]
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    assoc = ec2.associate_route_table(RouteTableId=rt, GatewayId=igw)["AssociationId"]
    t = fresh(ec2, rt)
    assert t["Associations"][0]["GatewayId"] == igw and "SubnetId" not in t["Associations"][0]
    got = ec2.describe_route_tables(Filters=[{"Name": "association.gateway-id", "Values": [igw]}])["RouteTables"]
    assert [x["RouteTableId"] for x in got] == [rt]
    rt2 = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    assert error_code(ec2.associate_route_table, RouteTableId=rt2, GatewayId=igw) == "Resource.AlreadyAssociated"
    # A gateway table takes no route to an internet gateway.
    assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0",
                      GatewayId=igw) == "InvalidParameterValue"
    main = main_table(ec2, vid)["RouteTableId"]
    assert error_code(ec2.associate_route_table, RouteTableId=main, GatewayId=igw) in (
        "InvalidParameterValue", "Resource.AlreadyAssociated")
    ec2.disassociate_route_table(AssociationId=assoc)
    ec2.delete_route_table(RouteTableId=rt2)


def test_gateway_association_of_a_virtual_private_gateway(ec2, vpc, igw):
    """A route table associated with a virtual private gateway attached to its VPC (a
    gateway route table for traffic entering from the VPN), as EC2 takes it; an undone
    gateway association stays listed, `disassociated` (Ansible's ec2_vpc_route_table counts
    both on AWS), until the gateway is associated with the table again."""
    vid = vpc["VpcId"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    try:
        # not attached to the table's VPC
        assert error_code(ec2.associate_route_table, RouteTableId=rt, GatewayId=vgw) == "InvalidParameterValue"
        assert error_code(ec2.associate_route_table, RouteTableId=rt,
                          GatewayId="vgw-0123456789abcdef0") == "InvalidVpnGatewayID.NotFound"
        ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vid)
        first = ec2.associate_route_table(RouteTableId=rt, GatewayId=igw)
        assert first["AssociationState"]["State"] == "associated"
        ec2.disassociate_route_table(AssociationId=first["AssociationId"])
        got = ec2.associate_route_table(RouteTableId=rt, GatewayId=vgw)
        assert got["AssociationState"]["State"] == "associated"
        t = fresh(ec2, rt)
        states = {a.get("GatewayId"): a["AssociationState"]["State"] for a in t["Associations"]}
        assert states == {vgw: "associated", igw: "disassociated"}, t["Associations"]
        found = ec2.describe_route_tables(Filters=[{"Name": "association.gateway-id", "Values": [vgw]}])
        assert [x["RouteTableId"] for x in found["RouteTables"]] == [rt]
        # one table a gateway; the disassociated one is no longer there to disassociate
        rt2 = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
        assert error_code(ec2.associate_route_table, RouteTableId=rt2,
                          GatewayId=vgw) == "Resource.AlreadyAssociated"
        assert error_code(ec2.disassociate_route_table,
                          AssociationId=first["AssociationId"]) == "InvalidAssociationID.NotFound"
        # moved to another table, under a new id
        moved = ec2.replace_route_table_association(AssociationId=got["AssociationId"], RouteTableId=rt2)
        assert fresh(ec2, rt2)["Associations"][0]["GatewayId"] == vgw
        assert [a.get("GatewayId") for a in fresh(ec2, rt)["Associations"]] == [igw]
        # the internet gateway associated again: its old association is no longer listed
        again = ec2.associate_route_table(RouteTableId=rt, GatewayId=igw)["AssociationId"]
        assert [a["RouteTableAssociationId"] for a in fresh(ec2, rt)["Associations"]] == [again]
        ec2.disassociate_route_table(AssociationId=again)
        ec2.disassociate_route_table(AssociationId=moved["NewAssociationId"])
        ec2.delete_route_table(RouteTableId=rt2)
        ec2.detach_vpn_gateway(VpnGatewayId=vgw, VpcId=vid)
    finally:
        ec2.delete_route_table(RouteTableId=rt)
        ec2.delete_vpn_gateway(VpnGatewayId=vgw)


def test_gateway_association_of_a_dual_stack_table(ec2):
    """A gateway table holds the VPC's IPv6 local route too (Ansible's ec2_vpc_route_table
    associates one with an internet gateway of a dual-stack VPC on AWS)."""
    v = ec2.create_vpc(CidrBlock="10.71.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    vid = v["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vid)
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]
    assert any(r.get("DestinationIpv6CidrBlock") for r in rt["Routes"]), "the IPv6 local route"
    try:
        assoc = ec2.associate_route_table(RouteTableId=rt["RouteTableId"], GatewayId=igw)["AssociationId"]
        # but still no IPv6 route to somewhere else
        assert error_code(ec2.create_route, RouteTableId=rt["RouteTableId"], DestinationIpv6CidrBlock="::/0",
                          GatewayId=igw) == "InvalidParameterValue"
        ec2.disassociate_route_table(AssociationId=assoc)
    finally:
        ec2.delete_route_table(RouteTableId=rt["RouteTableId"])
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vid)
        ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.delete_vpc(VpcId=vid)


def test_describe_paging_and_errors(fort, ec2, vpc):
    vid = vpc["VpcId"]
    made = [ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"] for _ in range(6)]
    try:
        f = [{"Name": "vpc-id", "Values": [vid]}]
        page = ec2.describe_route_tables(Filters=f, MaxResults=5)
        assert len(page["RouteTables"]) == 5 and page["NextToken"]
        rest = ec2.describe_route_tables(Filters=f, MaxResults=5, NextToken=page["NextToken"])
        assert len(rest["RouteTables"]) == 2 and not rest.get("NextToken")
        raw = unchecked(fort)
        assert error_code(raw.describe_route_tables, MaxResults=4) == "InvalidParameterValue"
        assert error_code(raw.describe_route_tables, MaxResults=101) == "InvalidParameterValue"
        assert error_code(ec2.describe_route_tables, Filters=[{"Name": "nope", "Values": ["x"]}]) == "InvalidParameterValue"
        assert error_code(ec2.describe_route_tables, RouteTableIds=["rtb_x"]) == "InvalidRouteTableId.Malformed"
        main = ec2.describe_route_tables(Filters=f + [{"Name": "association.main", "Values": ["true"]}])
        assert len(main["RouteTables"]) == 1
        owner = ec2.describe_route_tables(Filters=f + [{"Name": "owner-id", "Values": ["123456789012"]}])
        assert len(owner["RouteTables"]) == 7
    finally:
        for rid in made:
            ec2.delete_route_table(RouteTableId=rid)


def test_quotas():
    fort = Fort(extra_args=["--quotas", "aws"])
    try:
        ec2 = fort.client()
        vid = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vid)
        rt = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vid]}])["RouteTables"][0]["RouteTableId"]
        for i in range(50):
            ec2.create_route(RouteTableId=rt, DestinationCidrBlock=f"100.{i}.0.0/16", GatewayId=igw)
        assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="101.0.0.0/16",
                          GatewayId=igw) == "RouteLimitExceeded"
        # IPv6 routes are counted apart.
        ec2.create_route(RouteTableId=rt, DestinationIpv6CidrBlock="::/0", GatewayId=igw)
        for _ in range(199):
            ec2.create_route_table(VpcId=vid)
        assert error_code(ec2.create_route_table, VpcId=vid) == "RouteTableLimitExceeded"
    finally:
        fort.close()


def test_nat_gateway_routes(ec2, vpc):
    vid = vpc["VpcId"]
    s = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"]
    try:
        nat = ec2.create_nat_gateway(SubnetId=s, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
    except ClientError as e:
        ec2.delete_subnet(SubnetId=s)
        if e.response["Error"]["Code"] == "InvalidAction":
            pytest.skip("NAT gateways are not implemented yet")
        raise
    rt = ec2.create_route_table(VpcId=vid)["RouteTable"]["RouteTableId"]
    other = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    try:
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
        r = route(fresh(ec2, rt), "0.0.0.0/0")
        assert r["NatGatewayId"] == nat and r["State"] == "active"
        got = ec2.describe_route_tables(Filters=[{"Name": "route.nat-gateway-id", "Values": [nat]}])["RouteTables"]
        assert [x["RouteTableId"] for x in got] == [rt]
        # A NAT gateway is a middlebox: it may take a whole subnet's traffic.
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="10.0.3.0/24", NatGatewayId=nat)
        assert error_code(ec2.create_route, RouteTableId=rt, DestinationIpv6CidrBlock="::/0",
                          NatGatewayId=nat) == "InvalidParameterValue"
        ort = main_table(ec2, other)["RouteTableId"]
        assert error_code(ec2.create_route, RouteTableId=ort, DestinationCidrBlock="0.0.0.0/0",
                          NatGatewayId=nat) == "InvalidParameterValue"
        ec2.delete_nat_gateway(NatGatewayId=nat)
        r = route(fresh(ec2, rt), "0.0.0.0/0")
        assert r["State"] == "blackhole" and r["NatGatewayId"] == nat, "routes outlive their NAT gateway"
    finally:
        ec2.delete_vpc(VpcId=other)
        ec2.delete_route_table(RouteTableId=rt)
        try:
            ec2.delete_nat_gateway(NatGatewayId=nat)
        except ClientError:
            pass
        ec2.delete_subnet(SubnetId=s)


def test_instance_routes(ec2, vpc):
    vid = vpc["VpcId"]
    s = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.4.0/24")["Subnet"]["SubnetId"]
    try:
        inst = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1,
                                 SubnetId=s)["Instances"][0]
    except ClientError as e:
        ec2.delete_subnet(SubnetId=s)
        if e.response["Error"]["Code"] == "InvalidAction":
            pytest.skip("instances are not implemented yet")
        raise
    iid = inst["InstanceId"]
    eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    rt = main_table(ec2, vid)["RouteTableId"]
    try:
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", InstanceId=iid)
        r = route(fresh(ec2, rt), "0.0.0.0/0")
        assert r["InstanceId"] == iid and r["NetworkInterfaceId"] == eni
        assert r["InstanceOwnerId"] == "123456789012" and r["State"] == "active"
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=eni)
        r = route(fresh(ec2, rt), "192.168.0.0/16")
        assert r["NetworkInterfaceId"] == eni and r["InstanceId"] == iid and r["State"] == "active"
        got = ec2.describe_route_tables(Filters=[{"Name": "route.instance-id", "Values": [iid]}])["RouteTables"]
        assert [x["RouteTableId"] for x in got] == [rt]
        # A second interface makes the instance ambiguous as a target.
        eni2 = ec2.create_network_interface(SubnetId=s)["NetworkInterface"]["NetworkInterfaceId"]
        att = ec2.attach_network_interface(NetworkInterfaceId=eni2, InstanceId=iid, DeviceIndex=1)["AttachmentId"]
        assert error_code(ec2.create_route, RouteTableId=rt, DestinationCidrBlock="1.0.0.0/8",
                          InstanceId=iid) == "InvalidInstanceID"
        ec2.detach_network_interface(AttachmentId=att, Force=True)
        ec2.delete_network_interface(NetworkInterfaceId=eni2)
        ec2.stop_instances(InstanceIds=[iid])
        t = fresh(ec2, rt)
        assert route(t, "0.0.0.0/0")["State"] == "blackhole"
        assert route(t, "192.168.0.0/16")["State"] == "blackhole"
        ec2.start_instances(InstanceIds=[iid])
        assert route(fresh(ec2, rt), "0.0.0.0/0")["State"] == "active"
        ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0")
        ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="192.168.0.0/16")
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        try:
            ec2.delete_subnet(SubnetId=s)
        except ClientError:
            pass
