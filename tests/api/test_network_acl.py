"""Network ACLs: default and custom ACLs, entries, associations, filters."""

import pytest
from botocore.exceptions import ClientError
from conftest import error_code


def entries(acl, egress):
    return sorted(
        ((e["RuleNumber"], e["Protocol"], e["RuleAction"], e.get("CidrBlock")) for e in acl["Entries"] if e["Egress"] == egress)
    )


@pytest.fixture
def acl(ec2, vpc):
    a = ec2.create_network_acl(VpcId=vpc["VpcId"])["NetworkAcl"]
    yield a
    try:
        ec2.delete_network_acl(NetworkAclId=a["NetworkAclId"])
    except Exception:
        pass


def test_default_acl_of_a_vpc(ec2, vpc):
    acls = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "default", "Values": ["true"]}]
    )["NetworkAcls"]
    assert len(acls) == 1
    a = acls[0]
    assert a["IsDefault"] is True and a["OwnerId"] == "123456789012"
    for egress in (True, False):
        assert entries(a, egress) == [(100, "-1", "allow", "0.0.0.0/0"), (32767, "-1", "deny", "0.0.0.0/0")]
    assert error_code(ec2.delete_network_acl, NetworkAclId=a["NetworkAclId"]) == "CannotDelete"


def test_acls_of_an_ipv6_vpc(ec2):
    """A VPC with IPv6: its default ACL allows all IPv6 traffic (rule 101) and every ACL
    shows the final IPv6 denies, as EC2 does; an IPv4-only VPC gains them when it gets a
    block."""

    def v6(acl, egress):
        return sorted((e["RuleNumber"], e["RuleAction"]) for e in acl["Entries"]
                      if e["Egress"] == egress and e.get("Ipv6CidrBlock") == "::/0")

    def acls(vpc_id):
        found = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NetworkAcls"]
        return {a["IsDefault"]: a for a in found}

    v = ec2.create_vpc(CidrBlock="10.71.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    plain = ec2.create_vpc(CidrBlock="10.72.0.0/16")["Vpc"]
    try:
        custom = ec2.create_network_acl(VpcId=v["VpcId"])["NetworkAcl"]
        for egress in (True, False):
            assert v6(custom, egress) == [(32767, "deny")]
            assert v6(acls(v["VpcId"])[True], egress) == [(101, "allow"), (32767, "deny")]
            assert v6(acls(v["VpcId"])[False], egress) == [(32767, "deny")]
            assert v6(acls(plain["VpcId"])[True], egress) == []
        ec2.associate_vpc_cidr_block(VpcId=plain["VpcId"], AmazonProvidedIpv6CidrBlock=True)
        for egress in (True, False):
            assert v6(acls(plain["VpcId"])[True], egress) == [(101, "allow"), (32767, "deny")]
        ec2.delete_network_acl(NetworkAclId=custom["NetworkAclId"])
    finally:
        for vpc_id in (v["VpcId"], plain["VpcId"]):
            ec2.delete_vpc(VpcId=vpc_id)


def test_custom_acl_lifecycle(ec2, vpc):
    a = ec2.create_network_acl(
        VpcId=vpc["VpcId"],
        TagSpecifications=[{"ResourceType": "network-acl", "Tags": [{"Key": "Name", "Value": "web"}]}],
    )["NetworkAcl"]
    aid = a["NetworkAclId"]
    assert aid.startswith("acl-") and a["IsDefault"] is False and a["VpcId"] == vpc["VpcId"]
    assert a["Tags"] == [{"Key": "Name", "Value": "web"}]
    assert a["Associations"] == []
    for egress in (True, False):
        assert entries(a, egress) == [(32767, "-1", "deny", "0.0.0.0/0")]
    got = ec2.describe_network_acls(NetworkAclIds=[aid])["NetworkAcls"]
    assert got[0]["NetworkAclId"] == aid
    assert [x["NetworkAclId"] for x in ec2.describe_network_acls(Filters=[{"Name": "tag:Name", "Values": ["w*"]}])["NetworkAcls"]] == [aid]
    ec2.delete_network_acl(NetworkAclId=aid)
    assert error_code(ec2.describe_network_acls, NetworkAclIds=[aid]) == "InvalidNetworkAclID.NotFound"
    assert error_code(ec2.delete_network_acl, NetworkAclId=aid) == "InvalidNetworkAclID.NotFound"
    assert error_code(ec2.delete_network_acl, NetworkAclId="acl_xyz") == "InvalidNetworkAclId.Malformed"
    assert error_code(ec2.create_network_acl, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"


def test_client_token(ec2, vpc):
    a = ec2.create_network_acl(VpcId=vpc["VpcId"], ClientToken="tok-acl-1")
    b = ec2.create_network_acl(VpcId=vpc["VpcId"], ClientToken="tok-acl-1")
    assert a["NetworkAcl"]["NetworkAclId"] == b["NetworkAcl"]["NetworkAclId"]
    assert a["ClientToken"] == "tok-acl-1"
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]
    try:
        assert error_code(ec2.create_network_acl, VpcId=other["VpcId"], ClientToken="tok-acl-1") == "IdempotentParameterMismatch"
    finally:
        ec2.delete_vpc(VpcId=other["VpcId"])
    ec2.delete_network_acl(NetworkAclId=a["NetworkAcl"]["NetworkAclId"])


def test_entries(ec2, acl):
    aid = acl["NetworkAclId"]
    ec2.create_network_acl_entry(
        NetworkAclId=aid, RuleNumber=100, Protocol="6", RuleAction="allow", Egress=False,
        CidrBlock="10.0.0.0/8", PortRange={"From": 22, "To": 22},
    )
    ec2.create_network_acl_entry(
        NetworkAclId=aid, RuleNumber=110, Protocol="1", RuleAction="deny", Egress=False,
        CidrBlock="0.0.0.0/0", IcmpTypeCode={"Type": 8, "Code": -1},
    )
    ec2.create_network_acl_entry(
        NetworkAclId=aid, RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0",
    )
    a = ec2.describe_network_acls(NetworkAclIds=[aid])["NetworkAcls"][0]
    ingress = [e for e in a["Entries"] if not e["Egress"]]
    assert [e["RuleNumber"] for e in ingress] == [100, 110, 32767]
    assert ingress[0]["PortRange"] == {"From": 22, "To": 22} and ingress[0]["Protocol"] == "6"
    assert ingress[1]["IcmpTypeCode"] == {"Type": 8, "Code": -1} and ingress[1]["RuleAction"] == "deny"
    assert entries(a, True) == [(100, "-1", "allow", "0.0.0.0/0"), (32767, "-1", "deny", "0.0.0.0/0")]

    base = dict(NetworkAclId=aid, Protocol="6", RuleAction="allow", Egress=False, CidrBlock="10.0.0.0/8", PortRange={"From": 80, "To": 80})
    assert error_code(ec2.create_network_acl_entry, RuleNumber=100, **base) == "NetworkAclEntryAlreadyExists"
    assert error_code(ec2.create_network_acl_entry, RuleNumber=32767, **base) == "InvalidParameterValue"
    assert error_code(ec2.create_network_acl_entry, RuleNumber=0, **base) == "InvalidParameterValue"
    assert error_code(ec2.create_network_acl_entry, RuleNumber=120, **{**base, "Protocol": "300"}) == "InvalidParameterValue"
    assert error_code(ec2.create_network_acl_entry, RuleNumber=120, **{**base, "RuleAction": "maybe"}) == "InvalidParameterValue"
    assert error_code(ec2.create_network_acl_entry, RuleNumber=120, **{**base, "CidrBlock": "10.0.0.0/33"}) == "InvalidParameterValue"
    no_ports = {k: v for k, v in base.items() if k != "PortRange"}
    assert error_code(ec2.create_network_acl_entry, RuleNumber=120, **no_ports) == "InvalidParameterValue"
    assert error_code(ec2.create_network_acl_entry, RuleNumber=120, **{**no_ports, "Protocol": "1"}) == "InvalidParameterValue"
    assert error_code(ec2.create_network_acl_entry, RuleNumber=120, **{**base, "NetworkAclId": "acl-0123456789abcdef0"}) == "InvalidNetworkAclID.NotFound"

    # Replace changes an entry in place; a missing one is NotFound.
    ec2.replace_network_acl_entry(RuleNumber=100, **{**base, "RuleAction": "deny", "PortRange": {"From": 1, "To": 1024}})
    a = ec2.describe_network_acls(NetworkAclIds=[aid])["NetworkAcls"][0]
    e100 = [e for e in a["Entries"] if not e["Egress"] and e["RuleNumber"] == 100][0]
    assert e100["RuleAction"] == "deny" and e100["PortRange"] == {"From": 1, "To": 1024}
    assert error_code(ec2.replace_network_acl_entry, RuleNumber=150, **base) == "InvalidNetworkAclEntry.NotFound"

    # Filters on entries.
    found = ec2.describe_network_acls(Filters=[{"Name": "entry.rule-number", "Values": ["110"]}, {"Name": "network-acl-id", "Values": [aid]}])
    assert len(found["NetworkAcls"]) == 1
    found = ec2.describe_network_acls(Filters=[{"Name": "entry.port-range.to", "Values": ["1024"]}])["NetworkAcls"]
    assert [x["NetworkAclId"] for x in found] == [aid]

    ec2.delete_network_acl_entry(NetworkAclId=aid, RuleNumber=100, Egress=False)
    assert error_code(ec2.delete_network_acl_entry, NetworkAclId=aid, RuleNumber=100, Egress=False) == "InvalidNetworkAclEntry.NotFound"
    assert error_code(ec2.delete_network_acl_entry, NetworkAclId=aid, RuleNumber=110, Egress=True) == "InvalidNetworkAclEntry.NotFound"
    assert error_code(ec2.delete_network_acl_entry, NetworkAclId=aid, RuleNumber=32767, Egress=True) == "InvalidParameterValue"
    a = ec2.describe_network_acls(NetworkAclIds=[aid])["NetworkAcls"][0]
    assert [e["RuleNumber"] for e in a["Entries"] if not e["Egress"]] == [110, 32767]


def test_entry_quota_counts_per_direction(ec2, acl):
    aid = acl["NetworkAclId"]
    # Generous default quota is 40 per direction, the final deny included.
    for n in range(1, 40):
        ec2.create_network_acl_entry(NetworkAclId=aid, RuleNumber=n, Protocol="-1", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
    assert error_code(
        ec2.create_network_acl_entry, NetworkAclId=aid, RuleNumber=200, Protocol="-1", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0"
    ) == "NetworkAclEntryLimitExceeded"
    ec2.create_network_acl_entry(NetworkAclId=aid, RuleNumber=200, Protocol="-1", RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0")


def test_associations(ec2, vpc, acl):
    vid = vpc["VpcId"]
    s = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.3.0/24")["Subnet"]
    try:
        default = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [s["SubnetId"]]}])["NetworkAcls"]
        assert len(default) == 1 and default[0]["IsDefault"]
        assoc = [x for x in default[0]["Associations"] if x["SubnetId"] == s["SubnetId"]][0]
        new = ec2.replace_network_acl_association(AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl["NetworkAclId"])["NewAssociationId"]
        assert new.startswith("aclassoc-") and new != assoc["NetworkAclAssociationId"]
        a = ec2.describe_network_acls(NetworkAclIds=[acl["NetworkAclId"]])["NetworkAcls"][0]
        assert a["Associations"] == [{"NetworkAclAssociationId": new, "NetworkAclId": acl["NetworkAclId"], "SubnetId": s["SubnetId"]}]
        with pytest.raises(ClientError) as e:
            ec2.delete_network_acl(NetworkAclId=acl["NetworkAclId"])
        assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == (
            "DependencyViolation", f"The network ACL '{acl['NetworkAclId']}' has dependencies and cannot be deleted.")
        assert error_code(ec2.replace_network_acl_association, AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl["NetworkAclId"]) == "InvalidAssociationID.NotFound"
        # An ACL of another VPC cannot take the subnet.
        other = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]
        try:
            other_acl = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [other["VpcId"]]}])["NetworkAcls"][0]
            assert error_code(ec2.replace_network_acl_association, AssociationId=new, NetworkAclId=other_acl["NetworkAclId"]) == "InvalidParameterValue"
        finally:
            ec2.delete_vpc(VpcId=other["VpcId"])
        # Back to the default.
        back = ec2.replace_network_acl_association(AssociationId=new, NetworkAclId=default[0]["NetworkAclId"])["NewAssociationId"]
        found = ec2.describe_network_acls(Filters=[{"Name": "association.association-id", "Values": [back]}])["NetworkAcls"]
        assert [x["NetworkAclId"] for x in found] == [default[0]["NetworkAclId"]]
    finally:
        ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_describe_pagination_and_bad_filter(ec2, vpc):
    ids = [ec2.create_network_acl(VpcId=vpc["VpcId"])["NetworkAcl"]["NetworkAclId"] for _ in range(6)]
    try:
        flt = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        page = ec2.describe_network_acls(Filters=flt, MaxResults=5)
        assert len(page["NetworkAcls"]) == 5 and page["NextToken"]
        rest = ec2.describe_network_acls(Filters=flt, MaxResults=5, NextToken=page["NextToken"])
        assert len(rest["NetworkAcls"]) == 2 and "NextToken" not in rest
        assert error_code(ec2.describe_network_acls, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    finally:
        for i in ids:
            ec2.delete_network_acl(NetworkAclId=i)


def test_aws_quotas():
    from conftest import Fort

    own = Fort(extra_args=["--quotas", "aws"])
    try:
        ec2 = own.client()
        vid = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        # 200 ACLs per VPC, the default one included.
        ids = [ec2.create_network_acl(VpcId=vid)["NetworkAcl"]["NetworkAclId"] for _ in range(199)]
        assert error_code(ec2.create_network_acl, VpcId=vid) == "NetworkAclLimitExceeded"
        # 20 entries per direction, the final deny included.
        for n in range(1, 20):
            ec2.create_network_acl_entry(NetworkAclId=ids[0], RuleNumber=n, Protocol="-1", RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0")
        assert error_code(
            ec2.create_network_acl_entry, NetworkAclId=ids[0], RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=True, CidrBlock="0.0.0.0/0"
        ) == "NetworkAclEntryLimitExceeded"
        ec2.create_network_acl_entry(NetworkAclId=ids[0], RuleNumber=100, Protocol="-1", RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0")
    finally:
        own.close()


def test_untagged_acl_and_route_table_have_empty_tags(ec2, vpc):
    # EC2 writes an empty tagSet for network ACLs, route tables and peering connections
    a = ec2.create_network_acl(VpcId=vpc["VpcId"])["NetworkAcl"]
    assert a["Tags"] == []
    [d] = ec2.describe_network_acls(NetworkAclIds=[a["NetworkAclId"]])["NetworkAcls"]
    assert d["Tags"] == []
    t = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]
    assert t["Tags"] == []
    [d] = ec2.describe_route_tables(RouteTableIds=[t["RouteTableId"]])["RouteTables"]
    assert d["Tags"] == []
    ec2.delete_route_table(RouteTableId=t["RouteTableId"])
    ec2.delete_network_acl(NetworkAclId=a["NetworkAclId"])
