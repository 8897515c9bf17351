"""Managed prefix lists: the account's own (versions, entries, restore, delete), AWS's
service lists, and lists as route destinations and security group peers."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code


def make(ec2, name="mine", max_entries=5, entries=(), family="IPv4", **kw):
    return ec2.create_managed_prefix_list(
        PrefixListName=name, MaxEntries=max_entries, AddressFamily=family,
        Entries=[{"Cidr": c, "Description": d} for c, d in entries], **kw,
    )["PrefixList"]


def entries_of(ec2, pl_id, **kw):
    return ec2.get_managed_prefix_list_entries(PrefixListId=pl_id, **kw)["Entries"]


def test_create_and_describe(ec2):
    pl = make(ec2, entries=[("10.0.0.0/24", "a"), ("10.0.1.7/24", "b")],
              TagSpecifications=[{"ResourceType": "prefix-list", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert pl["PrefixListId"].startswith("pl-")
    # EC2 works on prefix lists asynchronously: the answer shows the work in progress,
    # Describe where it settled
    assert pl["State"] == "create-in-progress"
    [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[pl["PrefixListId"]])["PrefixLists"]
    assert shown["State"] == "create-complete" and "StateMessage" not in shown
    assert pl["Version"] == 1 and pl["MaxEntries"] == 5 and pl["AddressFamily"] == "IPv4"
    assert pl["OwnerId"] == "123456789012"
    assert pl["PrefixListArn"] == f"arn:aws:ec2:us-east-1:123456789012:prefix-list/{pl['PrefixListId']}"
    assert pl["Tags"] == [{"Key": "k", "Value": "v"}]
    assert entries_of(ec2, pl["PrefixListId"]) == [
        {"Cidr": "10.0.0.0/24", "Description": "a"},
        {"Cidr": "10.0.1.0/24", "Description": "b"},
    ]
    [described] = ec2.describe_managed_prefix_lists(PrefixListIds=[pl["PrefixListId"]])["PrefixLists"]
    assert described == dict(pl, State="create-complete")
    tagged = ec2.describe_managed_prefix_lists(Filters=[{"Name": "tag:k", "Values": ["v"]}])["PrefixLists"]
    assert pl["PrefixListId"] in [x["PrefixListId"] for x in tagged]
    by_name = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": ["mine"]}])
    assert pl["PrefixListId"] in [x["PrefixListId"] for x in by_name["PrefixLists"]]


def test_create_is_idempotent_under_its_token(ec2):
    a = make(ec2, name="tok", ClientToken="pl-token-1")
    b = make(ec2, name="tok", ClientToken="pl-token-1")
    assert a["PrefixListId"] == b["PrefixListId"]
    assert error_code(make, ec2, name="other", ClientToken="pl-token-1") == "IdempotentParameterMismatch"


def test_create_checks_its_parameters(ec2):
    assert error_code(make, ec2, family="?") == "InvalidParameterValue"
    assert error_code(make, ec2, entries=[("10.0.0.1", "bare address")]) == "InvalidParameterValue"
    assert error_code(make, ec2, entries=[("2001:db8::/32", "v6 in v4")]) == "InvalidParameterValue"
    assert error_code(make, ec2, max_entries=0) == "InvalidParameterValue"
    assert error_code(make, ec2, max_entries=1, entries=[("10.0.0.0/24", ""), ("10.0.1.0/24", "")]) == "InvalidParameterValue"
    assert error_code(make, ec2, name="com.amazonaws.mine") == "InvalidParameterValue"
    v6 = make(ec2, name="six", family="IPv6", entries=[("2001:db8::/32", "x")])
    assert entries_of(ec2, v6["PrefixListId"]) == [{"Cidr": "2001:db8::/32", "Description": "x"}]


def test_modify_versions_and_restore(ec2):
    pl = make(ec2, max_entries=2, entries=[("10.0.0.0/24", "a"), ("10.0.1.0/24", "b")])
    pid = pl["PrefixListId"]
    m = ec2.modify_managed_prefix_list(
        PrefixListId=pid, CurrentVersion=1,
        AddEntries=[{"Cidr": "10.0.2.0/24", "Description": "c"}], RemoveEntries=[{"Cidr": "10.0.1.0/24"}],
    )["PrefixList"]
    assert m["Version"] == 2 and m["State"] == "modify-in-progress"
    assert ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"][0]["State"] == "modify-complete"
    assert [e["Cidr"] for e in entries_of(ec2, pid)] == ["10.0.0.0/24", "10.0.2.0/24"]
    assert [e["Cidr"] for e in entries_of(ec2, pid, TargetVersion=1)] == ["10.0.0.0/24", "10.0.1.0/24"]
    assert error_code(entries_of, ec2, pid, TargetVersion=9) == "InvalidParameterValue"
    # the name alone keeps the version
    m = ec2.modify_managed_prefix_list(PrefixListId=pid, PrefixListName="renamed")["PrefixList"]
    assert m["PrefixListName"] == "renamed" and m["Version"] == 2
    # a stale version, a missing entry, a duplicate, too many entries
    with pytest.raises(ClientError) as e:
        ec2.modify_managed_prefix_list(PrefixListId=pid, CurrentVersion=1, RemoveEntries=[{"Cidr": "10.0.0.0/24"}])
    # EC2's words, as terraform-provider-aws#43528 quotes them (its provider sends a
    # stale version when only descriptions change, against EC2 as against Fort)
    assert e.value.response["Error"] == {
        "Code": "PrefixListVersionMismatch", "Message": "The prefix list has the incorrect version number."}
    assert error_code(ec2.modify_managed_prefix_list, PrefixListId=pid,
                      RemoveEntries=[{"Cidr": "10.9.0.0/24"}]) == "InvalidPrefixListModification"
    assert error_code(ec2.modify_managed_prefix_list, PrefixListId=pid,
                      AddEntries=[{"Cidr": "10.0.0.0/24"}]) == "InvalidPrefixListModification"
    assert error_code(ec2.modify_managed_prefix_list, PrefixListId=pid,
                      AddEntries=[{"Cidr": "10.0.3.0/24"}]) == "InvalidPrefixListModification"
    assert error_code(ec2.modify_managed_prefix_list, PrefixListId=pid, MaxEntries=4,
                      AddEntries=[{"Cidr": "10.0.3.0/24"}]) == "InvalidParameterCombination"
    assert error_code(ec2.modify_managed_prefix_list, PrefixListId=pid, MaxEntries=1) == "InvalidParameterValue"
    assert ec2.modify_managed_prefix_list(PrefixListId=pid, MaxEntries=4)["PrefixList"]["MaxEntries"] == 4
    # restore version 1 as version 3
    r = ec2.restore_managed_prefix_list_version(PrefixListId=pid, PreviousVersion=1, CurrentVersion=2)["PrefixList"]
    assert r["Version"] == 3 and r["State"] == "restore-in-progress"
    assert ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"][0]["State"] == "restore-complete"
    assert [e["Cidr"] for e in entries_of(ec2, pid)] == ["10.0.0.0/24", "10.0.1.0/24"]
    assert error_code(ec2.restore_managed_prefix_list_version, PrefixListId=pid,
                      PreviousVersion=1, CurrentVersion=2) == "PrefixListVersionMismatch"


def test_delete(ec2):
    pid = make(ec2)["PrefixListId"]
    d = ec2.delete_managed_prefix_list(PrefixListId=pid)["PrefixList"]
    assert d["State"] == "delete-in-progress"
    [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"]
    assert shown["State"] == "delete-complete"
    assert error_code(ec2.modify_managed_prefix_list, PrefixListId=pid, PrefixListName="x") == "IncorrectState"
    assert error_code(ec2.delete_managed_prefix_list, PrefixListId="pl-00000000") == "InvalidPrefixListID.NotFound"
    assert error_code(ec2.delete_managed_prefix_list, PrefixListId="nope") == "InvalidPrefixListId.Malformed"


def test_aws_managed_lists(ec2):
    aws = ec2.describe_managed_prefix_lists(Filters=[{"Name": "owner-id", "Values": ["AWS"]}])["PrefixLists"]
    names = sorted(x["PrefixListName"] for x in aws)
    assert names == ["com.amazonaws.us-east-1.dynamodb", "com.amazonaws.us-east-1.s3"]
    s3 = next(x for x in aws if x["PrefixListName"].endswith(".s3"))
    assert s3["PrefixListArn"] == f"arn:aws:ec2:us-east-1:aws:prefix-list/{s3['PrefixListId']}"
    assert all("StateMessage" not in x for x in aws)
    assert entries_of(ec2, s3["PrefixListId"])
    services = ec2.describe_prefix_lists()["PrefixLists"]
    assert sorted(x["PrefixListName"] for x in services) == names
    [only] = ec2.describe_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.us-east-1.s3"]}])["PrefixLists"]
    assert only["PrefixListId"] == s3["PrefixListId"] and only["Cidrs"]
    assert error_code(ec2.modify_managed_prefix_list, PrefixListId=s3["PrefixListId"],
                      PrefixListName="mine") == "InvalidParameterValue"
    assert error_code(ec2.delete_managed_prefix_list, PrefixListId=s3["PrefixListId"]) == "InvalidParameterValue"
    mine = make(ec2, name="not-a-service")
    assert error_code(ec2.describe_prefix_lists, PrefixListIds=[mine["PrefixListId"]]) == "InvalidPrefixListID.NotFound"


def test_aws_lists_differ_by_region(fort):
    west = fort.client(region="us-west-2")
    names = [x["PrefixListName"] for x in west.describe_prefix_lists()["PrefixLists"]]
    assert sorted(names) == ["com.amazonaws.us-west-2.dynamodb", "com.amazonaws.us-west-2.s3"]


def assert_delete_fails_while_used(ec2, pid):
    """EC2 deletes after answering: a list still in use is not refused but ends
    `delete-failed` with a message, and stays in use, changeable and deletable."""
    d = ec2.delete_managed_prefix_list(PrefixListId=pid)["PrefixList"]
    assert d["State"] == "delete-in-progress"
    [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"]
    assert shown["State"] == "delete-failed" and pid in shown["StateMessage"]
    assert ec2.get_managed_prefix_list_associations(PrefixListId=pid)["PrefixListAssociations"]
    ec2.modify_managed_prefix_list(PrefixListId=pid, PrefixListName=shown["PrefixListName"])
    [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"]
    assert shown["State"] == "modify-complete" and "StateMessage" not in shown


def test_route_destination_and_associations(ec2, vpc):
    pl = make(ec2, name="routed", entries=[("192.168.0.0/24", "")])
    pid = pl["PrefixListId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
    rtb = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    try:
        ec2.create_route(RouteTableId=rtb, DestinationPrefixListId=pid, GatewayId=igw)
        [t] = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
        route = next(r for r in t["Routes"] if r.get("DestinationPrefixListId") == pid)
        assert route["GatewayId"] == igw and route["State"] == "active"
        assert error_code(ec2.create_route, RouteTableId=rtb, DestinationPrefixListId=pid,
                          GatewayId=igw) == "RouteAlreadyExists"
        assert error_code(ec2.create_route, RouteTableId=rtb, DestinationPrefixListId="pl-00000000",
                          GatewayId=igw) == "InvalidPrefixListID.NotFound"
        s3 = ec2.describe_prefix_lists()["PrefixLists"][0]["PrefixListId"]
        assert error_code(ec2.create_route, RouteTableId=rtb, DestinationPrefixListId=s3,
                          GatewayId=igw) == "InvalidParameterValue"
        assocs = ec2.get_managed_prefix_list_associations(PrefixListId=pid)["PrefixListAssociations"]
        assert assocs == [{"ResourceId": rtb, "ResourceOwner": "123456789012"}]
        assert_delete_fails_while_used(ec2, pid)
        ec2.delete_route(RouteTableId=rtb, DestinationPrefixListId=pid)
        assert ec2.get_managed_prefix_list_associations(PrefixListId=pid)["PrefixListAssociations"] == []
    finally:
        ec2.delete_route_table(RouteTableId=rtb)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=igw)
    ec2.delete_managed_prefix_list(PrefixListId=pid)


def test_security_group_peer(ec2, vpc):
    pid = make(ec2, name="peer", entries=[("198.51.100.0/24", "")])["PrefixListId"]
    sg = ec2.create_security_group(GroupName="pl-peer", Description="d", VpcId=vpc["VpcId"])["GroupId"]
    try:
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pid}]}])
        assert error_code(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
             "PrefixListIds": [{"PrefixListId": "pl-00000000"}]}]) == "InvalidPrefixListID.NotFound"
        assocs = ec2.get_managed_prefix_list_associations(PrefixListId=pid)["PrefixListAssociations"]
        assert [a["ResourceId"] for a in assocs] == [sg]
        assert_delete_fails_while_used(ec2, pid)
    finally:
        ec2.delete_security_group(GroupId=sg)
    ec2.delete_managed_prefix_list(PrefixListId=pid)
    [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"]
    assert shown["State"] == "delete-complete" and "StateMessage" not in shown


def test_references_count_as_the_lists_max_entries():
    """A rule or route naming a list counts as its MaxEntries against the group's rules
    and the table's routes (AWS's quotas: 60 and 50); a resize they cannot take fails."""
    from conftest import Fort

    own = Fort(extra_args=["--quotas", "aws"])
    try:
        ec2 = own.client()
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        big = make(ec2, name="big", max_entries=40)["PrefixListId"]
        small = make(ec2, name="small", max_entries=30)["PrefixListId"]
        sg = ec2.create_security_group(GroupName="pl-quota", Description="d", VpcId=vpc)["GroupId"]
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        rule = lambda pid, port: {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,  # noqa: E731
                                  "PrefixListIds": [{"PrefixListId": pid}]}
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[rule(big, 22)])
        assert error_code(ec2.authorize_security_group_ingress, GroupId=sg,
                          IpPermissions=[rule(small, 80)]) == "RulesPerSecurityGroupLimitExceeded"
        # egress is counted apart (the default all-traffic rule, and 30 more)
        ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[rule(small, 80)])
        ec2.create_route(RouteTableId=rtb, DestinationPrefixListId=big, GatewayId=igw)
        assert error_code(ec2.create_route, RouteTableId=rtb, DestinationPrefixListId=small,
                          GatewayId=igw) == "RouteLimitExceeded"
        for i in range(10):
            ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=f"192.0.2.{i * 16}/28", GatewayId=igw)
        assert error_code(ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="198.51.100.0/24",
                          GatewayId=igw) == "RouteLimitExceeded"
        # the big list may not grow: the table has no room (the group has: 45 of 60)
        ec2.modify_managed_prefix_list(PrefixListId=big, MaxEntries=45)
        [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[big])["PrefixLists"]
        assert shown["State"] == "modify-failed" and shown["MaxEntries"] == 40
        assert rtb in shown["StateMessage"] and sg not in shown["StateMessage"]
        # the small one may, as far as the egress rules allow (1 + 59 = 60)
        ec2.modify_managed_prefix_list(PrefixListId=small, MaxEntries=59)
        [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[small])["PrefixLists"]
        assert shown["State"] == "modify-complete" and shown["MaxEntries"] == 59
        ec2.modify_managed_prefix_list(PrefixListId=small, MaxEntries=60)
        [shown] = ec2.describe_managed_prefix_lists(PrefixListIds=[small])["PrefixLists"]
        assert shown["State"] == "modify-failed" and shown["MaxEntries"] == 59
    finally:
        own.close()


def test_tags_and_pages(ec2):
    pid = make(ec2, name="paged", max_entries=10, entries=[(f"10.1.{i}.0/24", "") for i in range(5)])["PrefixListId"]
    ec2.create_tags(Resources=[pid], Tags=[{"Key": "late", "Value": "yes"}])
    [pl] = ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"]
    assert {"Key": "late", "Value": "yes"} in pl["Tags"]
    first = ec2.get_managed_prefix_list_entries(PrefixListId=pid, MaxResults=2)
    assert len(first["Entries"]) == 2 and "NextToken" in first
    rest = ec2.get_managed_prefix_list_entries(PrefixListId=pid, NextToken=first["NextToken"])
    assert len(rest["Entries"]) == 3 and "NextToken" not in rest


@pytest.mark.parametrize("bad", ["pl-00000000"])
def test_unknown_ids(ec2, bad):
    assert error_code(ec2.get_managed_prefix_list_entries, PrefixListId=bad) == "InvalidPrefixListID.NotFound"
    assert error_code(ec2.describe_managed_prefix_lists, PrefixListIds=[bad]) == "InvalidPrefixListID.NotFound"
    assert error_code(ec2.get_managed_prefix_list_associations, PrefixListId=bad) == "InvalidPrefixListID.NotFound"


def test_description_only_update_takes_two_versions(ec2):
    """Terraform's description-only update of aws_ec2_managed_prefix_list's entries: the
    entries removed (one version), then added back with their new descriptions (another),
    each naming the version it changes: 1 → 2 → 3, as the provider's test expects of EC2."""
    pl = make(ec2, name="descriptions", entries=[("1.0.0.0/8", "description1"), ("2.0.0.0/8", "description1")])
    pid = pl["PrefixListId"]
    assert ec2.modify_managed_prefix_list(PrefixListId=pid, CurrentVersion=1, RemoveEntries=[
        {"Cidr": "1.0.0.0/8"}, {"Cidr": "2.0.0.0/8"}])["PrefixList"]["Version"] == 2
    assert ec2.describe_managed_prefix_lists(PrefixListIds=[pid])["PrefixLists"][0]["Version"] == 2
    m = ec2.modify_managed_prefix_list(PrefixListId=pid, CurrentVersion=2, PrefixListName="descriptions", AddEntries=[
        {"Cidr": "1.0.0.0/8", "Description": "description2"}, {"Cidr": "2.0.0.0/8", "Description": "description2"}])
    assert m["PrefixList"]["Version"] == 3
    assert [(e["Cidr"], e["Description"]) for e in entries_of(ec2, pid)] == [
        ("1.0.0.0/8", "description2"), ("2.0.0.0/8", "description2")]
    ec2.delete_managed_prefix_list(PrefixListId=pid)
