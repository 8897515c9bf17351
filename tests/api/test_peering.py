"""VPC peering connections, through boto3 against the real binary: same account, another
account, another region; routes to them; the errors AWS returns."""

import pytest

from botocore.exceptions import ClientError

from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY, error_code


@pytest.fixture
def pair(ec2):
    """Two VPCs with disjoint blocks, deleted afterwards."""
    a = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    yield a, b
    for v in (a, b):
        try:
            ec2.delete_vpc(VpcId=v)
        except Exception:
            pass


def error(call, **kw):
    """The error (code and message) EC2 answers the call with."""
    with pytest.raises(ClientError) as e:
        call(**kw)
    return {k: e.value.response["Error"][k] for k in ("Code", "Message")}


def test_wrong_region_of_the_accepter(fort, ec2):
    west = fort.client(region="us-west-1")
    a = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    b = west.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b, PeerRegion="us-west-1")[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx) == {
        "Code": "OperationNotPermitted",
        "Message": f"Incorrect region (us-east-1) specified for this request. VPC peering connection {pcx} "
                   "must be accepted in region us-west-1"}
    assert error(ec2.reject_vpc_peering_connection, VpcPeeringConnectionId=pcx) == {
        "Code": "OperationNotPermitted",
        "Message": f"Incorrect region (us-east-1) specified for this request. VPC peering connection {pcx} "
                   "must be accepted or rejected in region us-west-1"}
    assert west.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)["VpcPeeringConnection"]["Status"]["Code"] == "active"
    assert status(ec2, pcx) == "active"
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ec2.delete_vpc(VpcId=a)
    west.delete_vpc(VpcId=b)


def status(ec2, pcx):
    [p] = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"]
    return p["Status"]["Code"]


def test_lifecycle_in_one_account(ec2, pair):
    a, b = pair
    p = ec2.create_vpc_peering_connection(
        VpcId=a, PeerVpcId=b,
        TagSpecifications=[{"ResourceType": "vpc-peering-connection", "Tags": [{"Key": "Name", "Value": "ab"}]}],
    )["VpcPeeringConnection"]
    pcx = p["VpcPeeringConnectionId"]
    assert pcx.startswith("pcx-") and len(pcx) == 21
    # EC2 answers the request being made; the next Describe shows it pending acceptance
    assert p["Status"] == {"Code": "initiating-request", "Message": "Initiating Request to 123456789012"}
    got = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"][0]
    assert got["Status"] == {"Code": "pending-acceptance", "Message": "Pending Acceptance by 123456789012"}
    assert p["RequesterVpcInfo"]["VpcId"] == a and p["AccepterVpcInfo"]["VpcId"] == b
    assert p["RequesterVpcInfo"]["CidrBlock"] == "10.40.0.0/16"
    assert p["AccepterVpcInfo"]["OwnerId"] == "123456789012"
    assert p["AccepterVpcInfo"]["Region"] == "us-east-1"
    assert "ExpirationTime" in p
    assert p["Tags"] == [{"Key": "Name", "Value": "ab"}]
    # a repeated request answers with the open connection; the reverse one is a new request,
    # refused on accept while the first is active
    again = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]
    assert again["VpcPeeringConnectionId"] == pcx
    rev = ec2.create_vpc_peering_connection(VpcId=b, PeerVpcId=a)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert rev != pcx
    # options are only for active connections
    e = error(ec2.modify_vpc_peering_connection_options, VpcPeeringConnectionId=pcx,
              RequesterPeeringConnectionOptions={"AllowDnsResolutionFromRemoteVpc": True})
    assert e["Code"] == "OperationNotPermitted"
    assert e["Message"] == f"Peering {pcx} is not active. Peering options can be added only to active peerings."
    # a route to a pending connection is a blackhole
    rtb = ec2.create_route_table(VpcId=a)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.41.0.0/16", VpcPeeringConnectionId=pcx)

    def route_state():
        [t] = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
        return [r for r in t["Routes"] if r.get("VpcPeeringConnectionId") == pcx][0]["State"]

    assert route_state() == "blackhole"
    # a VPC with an open connection cannot be deleted
    assert error_code(ec2.delete_vpc, VpcId=b) == "DependencyViolation"
    acc = ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)["VpcPeeringConnection"]
    assert acc["Status"] == {"Code": "active", "Message": "Active"}
    assert "ExpirationTime" not in acc
    e = error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=rev)
    assert e == {"Code": "VpcPeeringConnectionAlreadyExists",
                 "Message": f"The vpc peering connection identified by {rev} already exists."}
    ec2.reject_vpc_peering_connection(VpcPeeringConnectionId=rev)
    assert route_state() == "active"
    assert error_code(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx) == "InvalidStateTransition"
    assert error_code(ec2.reject_vpc_peering_connection, VpcPeeringConnectionId=pcx) == "InvalidStateTransition"
    for name, value in [("status-code", "active"), ("requester-vpc-info.vpc-id", a), ("accepter-vpc-info.vpc-id", b),
                        ("accepter-vpc-info.cidr-block", "10.41.0.0/16"), ("vpc-peering-connection-id", pcx),
                        ("tag:Name", "a?")]:
        found = ec2.describe_vpc_peering_connections(Filters=[{"Name": name, "Values": [value]}])["VpcPeeringConnections"]
        assert pcx in [x["VpcPeeringConnectionId"] for x in found], name
    assert ec2.describe_vpc_peering_connections(
        Filters=[{"Name": "status-code", "Values": ["rejected"]}, {"Name": "vpc-peering-connection-id", "Values": [pcx]}]
    )["VpcPeeringConnections"] == []
    # options: the owner of each side sets its own
    out = ec2.modify_vpc_peering_connection_options(
        VpcPeeringConnectionId=pcx,
        RequesterPeeringConnectionOptions={"AllowDnsResolutionFromRemoteVpc": True},
    )
    assert out["RequesterPeeringConnectionOptions"]["AllowDnsResolutionFromRemoteVpc"] is True
    [p] = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"]
    assert p["RequesterVpcInfo"]["PeeringOptions"]["AllowDnsResolutionFromRemoteVpc"] is True
    assert p["AccepterVpcInfo"]["PeeringOptions"]["AllowDnsResolutionFromRemoteVpc"] is False
    # tags through CreateTags too
    ec2.create_tags(Resources=[pcx], Tags=[{"Key": "team", "Value": "net"}])
    [p] = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"]
    assert {"Key": "team", "Value": "net"} in p["Tags"]
    # DescribeTags lists a connection's tags too (it lives outside the region's tables)
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [pcx]}])["Tags"]
    assert {"Key": "team", "Value": "net", "ResourceId": pcx, "ResourceType": "vpc-peering-connection"} in found
    # delete: the route goes blackhole, the connection shows as deleted, the VPCs can go
    assert ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)["Return"] is True
    assert status(ec2, pcx) == "deleted"
    # a deleted connection shows neither side's blocks nor options (as AWS, which
    # Ansible's ec2_vpc_peering target checks)
    [gone] = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"]
    for side in (gone["AccepterVpcInfo"], gone["RequesterVpcInfo"]):
        assert not {"CidrBlock", "CidrBlockSet", "PeeringOptions"} & set(side), side
        assert {"OwnerId", "VpcId", "Region"} <= set(side)
    assert route_state() == "blackhole"
    assert error_code(ec2.delete_vpc_peering_connection, VpcPeeringConnectionId=pcx) == "InvalidStateTransition"
    ec2.delete_route_table(RouteTableId=rtb)
    # a new connection between the same VPCs is allowed once the old one ended
    again = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.reject_vpc_peering_connection(VpcPeeringConnectionId=again)
    assert status(ec2, again) == "rejected"


def test_bad_requests_change_nothing(ec2, pair):
    a, b = pair
    before = len(ec2.describe_vpc_peering_connections()["VpcPeeringConnections"])
    assert error_code(ec2.create_vpc_peering_connection, VpcId=a, PeerVpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
    assert error_code(ec2.create_vpc_peering_connection, VpcId=a, PeerVpcId="vpc_zz") == "InvalidVpcID.Malformed"
    assert error_code(ec2.create_vpc_peering_connection, VpcId=a, PeerVpcId=a) == "InvalidParameterValue"
    assert error_code(ec2.create_vpc_peering_connection, VpcId=a, PeerVpcId=b, PeerRegion="eu-west-1") == "InvalidVpcID.NotFound"
    assert len(ec2.describe_vpc_peering_connections()["VpcPeeringConnections"]) == before
    assert error_code(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId="pcx-0123456789abcdef0") == \
        "InvalidVpcPeeringConnectionID.NotFound"
    assert error_code(ec2.delete_vpc_peering_connection, VpcPeeringConnectionId="pcx_nope") == \
        "InvalidVpcPeeringConnectionId.Malformed"
    assert error_code(ec2.describe_vpc_peering_connections, VpcPeeringConnectionIds=["pcx-0123456789abcdef0"]) == \
        "InvalidVpcPeeringConnectionID.NotFound"
    rtb = ec2.create_route_table(VpcId=a)["RouteTable"]["RouteTableId"]
    assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.41.0.0/16",
                      VpcPeeringConnectionId="pcx-0123456789abcdef0") == "InvalidVpcPeeringConnectionID.NotFound"
    # a route in a VPC that is not a side of the connection
    c = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=b, PeerVpcId=c)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="10.42.0.0/16",
                      VpcPeeringConnectionId=pcx) == "InvalidParameterValue"
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_vpc(VpcId=c)


def test_overlapping_blocks_fail(ec2, pair):
    a, _ = pair
    c = ec2.create_vpc(CidrBlock="10.40.128.0/20")["Vpc"]["VpcId"]
    p = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=c)["VpcPeeringConnection"]
    assert p["Status"]["Code"] == "failed"
    pcx = p["VpcPeeringConnectionId"]
    assert error_code(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx) == "InvalidStateTransition"
    assert error_code(ec2.delete_vpc_peering_connection, VpcPeeringConnectionId=pcx) == "InvalidStateTransition"
    ec2.delete_vpc(VpcId=c)


def test_another_account_and_region(fort, ec2, pair):
    a, _ = pair
    other = fort.client(region="us-west-2", access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    theirs = other.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    p = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=theirs, PeerOwnerId="210987654321",
                                          PeerRegion="us-west-2")["VpcPeeringConnection"]
    pcx = p["VpcPeeringConnectionId"]
    assert p["Status"] == {"Code": "initiating-request", "Message": "Initiating Request to 210987654321"}
    got = ec2.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"][0]
    assert got["Status"]["Message"] == "Pending Acceptance by 210987654321"
    assert p["AccepterVpcInfo"]["Region"] == "us-west-2"
    # the requester cannot accept or reject; the accepter sees it in its own region only
    assert error(ec2.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx) == {
        "Code": "OperationNotPermitted", "Message": f"User (123456789012) cannot accept peering {pcx}"}
    assert error(ec2.reject_vpc_peering_connection, VpcPeeringConnectionId=pcx) == {
        "Code": "OperationNotPermitted", "Message": f"User (123456789012) cannot reject peering {pcx}"}
    east = fort.client(region="us-east-1", access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    assert error_code(east.accept_vpc_peering_connection, VpcPeeringConnectionId=pcx) == \
        "InvalidVpcPeeringConnectionID.NotFound"
    # the accepter may not delete a pending request (it rejects it); it accepts
    assert error_code(other.delete_vpc_peering_connection, VpcPeeringConnectionId=pcx) == "OperationNotPermitted"
    assert other.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)["VpcPeeringConnection"]["Status"]["Code"] == "active"
    assert status(ec2, pcx) == "active"
    # each side sets only its own options
    assert error_code(ec2.modify_vpc_peering_connection_options, VpcPeeringConnectionId=pcx,
                      AccepterPeeringConnectionOptions={"AllowDnsResolutionFromRemoteVpc": True}) == "OperationNotPermitted"
    other.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    assert status(ec2, pcx) == "deleted"
    other.delete_vpc(VpcId=theirs)


def test_survives_a_restart(tmp_path):
    from conftest import Fort
    f = Fort(data_dir=str(tmp_path))
    try:
        c = f.client()
        a = c.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
        b = c.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
        pcx = c.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        c.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
        f.stop()
        f.start()
        assert status(f.client(), pcx) == "active"
    finally:
        f.stop()


def test_accepter_details_shown_once_accepted(fort, ec2):
    # EC2 (its recorded answers, its examples) shows only the accepter's owner, VPC and
    # region until the request is accepted; then its blocks and options too
    west = fort.client(region="us-west-2")
    a = ec2.create_vpc(CidrBlock="192.168.1.0/24")["Vpc"]["VpcId"]
    b = west.create_vpc(CidrBlock="192.168.2.0/24")["Vpc"]["VpcId"]
    p = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b, PeerRegion="us-west-2")["VpcPeeringConnection"]
    pcx = p["VpcPeeringConnectionId"]
    only = {"OwnerId": "123456789012", "VpcId": b, "Region": "us-west-2"}
    assert p["AccepterVpcInfo"] == only
    assert p["RequesterVpcInfo"]["CidrBlockSet"] == [{"CidrBlock": "192.168.1.0/24"}]
    assert "PeeringOptions" in p["RequesterVpcInfo"]
    for c in (ec2, west):
        [got] = c.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"]
        assert got["Status"]["Code"] == "pending-acceptance" and got["AccepterVpcInfo"] == only
    west.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    for c in (ec2, west):
        [got] = c.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"]
        acc = got["AccepterVpcInfo"]
        assert acc["CidrBlock"] == "192.168.2.0/24" and acc["CidrBlockSet"] == [{"CidrBlock": "192.168.2.0/24"}]
        assert acc["PeeringOptions"]["AllowDnsResolutionFromRemoteVpc"] is False
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ec2.delete_vpc(VpcId=a)
    west.delete_vpc(VpcId=b)
