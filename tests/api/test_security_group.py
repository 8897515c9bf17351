"""Security groups: groups, ingress/egress rules, rule ids, references, filters."""

import pytest
from conftest import Fort, error_code


@pytest.fixture
def sg(ec2, vpc):
    g = ec2.create_security_group(GroupName="web", Description="web servers", VpcId=vpc["VpcId"])
    yield g["GroupId"]
    try:
        ec2.delete_security_group(GroupId=g["GroupId"])
    except Exception:
        pass


def group(ec2, gid):
    return ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]


def test_default_group_of_a_vpc(ec2, vpc):
    gs = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    assert len(gs) == 1
    g = gs[0]
    assert g["Description"] == "default VPC security group"
    assert g["IpPermissions"] == [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"UserId": "123456789012", "GroupId": g["GroupId"]}],
         "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": []}
    ]
    assert g["IpPermissionsEgress"] == [
        {"IpProtocol": "-1", "UserIdGroupPairs": [], "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": []}
    ]
    assert error_code(ec2.delete_security_group, GroupId=g["GroupId"]) == "CannotDelete"


def test_create_describe_delete(ec2, vpc):
    r = ec2.create_security_group(
        GroupName="app  ", Description="app tier", VpcId=vpc["VpcId"],
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": "app"}]}],
    )
    gid = r["GroupId"]
    assert gid.startswith("sg-") and len(gid) == 20
    assert r["SecurityGroupArn"] == f"arn:aws:ec2:us-east-1:123456789012:security-group/{gid}"
    assert r["Tags"] == [{"Key": "Name", "Value": "app"}]
    g = group(ec2, gid)
    assert g["GroupName"] == "app" and g["Description"] == "app tier" and g["VpcId"] == vpc["VpcId"]
    assert g["OwnerId"] == "123456789012" and g["SecurityGroupArn"] == r["SecurityGroupArn"]
    assert g["IpPermissions"] == []
    assert g["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert error_code(ec2.create_security_group, GroupName="app", Description="x", VpcId=vpc["VpcId"]) == "InvalidGroup.Duplicate"
    found = ec2.describe_security_groups(Filters=[{"Name": "tag:Name", "Values": ["ap?"]}])["SecurityGroups"]
    assert [x["GroupId"] for x in found] == [gid]
    found = ec2.describe_security_groups(Filters=[{"Name": "description", "Values": ["app*"]}])["SecurityGroups"]
    assert [x["GroupId"] for x in found] == [gid]
    ec2.delete_security_group(GroupId=gid)
    assert error_code(ec2.describe_security_groups, GroupIds=[gid]) == "InvalidGroup.NotFound"
    assert error_code(ec2.delete_security_group, GroupId=gid) == "InvalidGroup.NotFound"


def test_name_and_parameter_errors(ec2, vpc):
    vid = vpc["VpcId"]
    assert error_code(ec2.create_security_group, GroupName="default", Description="x", VpcId=vid) == "InvalidGroup.Reserved"
    assert error_code(ec2.create_security_group, GroupName="sg-web", Description="x", VpcId=vid) == "InvalidParameterValue"
    assert error_code(ec2.create_security_group, GroupName="a" * 256, Description="x", VpcId=vid) == "InvalidParameterValue"
    assert error_code(ec2.create_security_group, GroupName="caf\u00e9", Description="x", VpcId=vid) == "InvalidParameterValue"
    assert error_code(ec2.create_security_group, GroupName="ok", Description="bad\u00e9", VpcId=vid) == "InvalidParameterValue"
    assert error_code(ec2.create_security_group, GroupName="ok", VpcId=vid, Description="x", DryRun=True) == "DryRunOperation"
    assert error_code(ec2.create_security_group, GroupName="ok", Description="x", VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
    assert error_code(ec2.describe_security_groups, GroupIds=["sg_nope"]) == "InvalidGroupId.Malformed"
    assert error_code(ec2.describe_security_groups, GroupIds=["sg-0123456789abcdef0"]) == "InvalidGroup.NotFound"
    assert error_code(ec2.describe_security_groups, Filters=[{"Name": "bogus", "Values": ["1"]}]) == "InvalidParameterValue"


def test_default_vpc_and_group_names(ec2):
    g = ec2.create_security_group(GroupName="in-default", Description="d")
    try:
        default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        got = ec2.describe_security_groups(GroupNames=["in-default"])["SecurityGroups"]
        assert [x["GroupId"] for x in got] == [g["GroupId"]] and got[0]["VpcId"] == default_vpc["VpcId"]
        assert error_code(ec2.describe_security_groups, GroupNames=["no-such-group"]) == "InvalidGroup.NotFound"
        ec2.authorize_security_group_ingress(GroupName="in-default", IpProtocol="tcp", FromPort=80, ToPort=80, CidrIp="0.0.0.0/0")
        perms = group(ec2, g["GroupId"])["IpPermissions"]
        assert perms[0]["FromPort"] == 80 and perms[0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
        # Revoking something absent in the default VPC answers it as unknown.
        r = ec2.revoke_security_group_ingress(GroupId=g["GroupId"], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 81, "ToPort": 81, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ])
        assert r["Return"] is True
        assert r["UnknownIpPermissions"][0]["FromPort"] == 81
        assert len(r["RevokedSecurityGroupRules"]) == 1
    finally:
        ec2.delete_security_group(GroupName="in-default")
    assert error_code(ec2.delete_security_group, GroupName="in-default") == "InvalidGroup.NotFound"


def test_no_default_vpc():
    own = Fort()
    try:
        no_default_vpc(own.client(region="eu-west-1"))
    finally:
        own.close()


def no_default_vpc(other):
    vpc = other.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    for s in other.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
        other.delete_subnet(SubnetId=s["SubnetId"])
    for igw in other.describe_internet_gateways()["InternetGateways"]:
        other.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc["VpcId"])
        other.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    other.delete_vpc(VpcId=vpc["VpcId"])
    assert error_code(other.create_security_group, GroupName="x", Description="y") == "VPCIdNotSpecified"


def test_authorize_and_describe_permissions(ec2, vpc, sg):
    pl = ec2.describe_prefix_lists()["PrefixLists"][0]["PrefixListId"]  # a list that exists
    r = ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}, {"CidrIp": "192.168.0.0/16"}]},
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            {"IpProtocol": "-1", "PrefixListIds": [{"PrefixListId": pl}]},
        ],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": [{"Key": "k", "Value": "v"}]}],
    )
    assert r["Return"] is True
    rules = r["SecurityGroupRules"]
    assert len(rules) == 4, "every CIDR becomes its own rule"
    assert all(x["SecurityGroupRuleId"].startswith("sgr-") and x["GroupId"] == sg and not x["IsEgress"] for x in rules)
    assert rules[0]["CidrIpv4"] == "10.0.0.0/8" and rules[0]["Description"] == "ssh" and rules[0]["FromPort"] == 22
    assert rules[0]["Tags"] == [{"Key": "k", "Value": "v"}] and rules[0]["GroupOwnerId"] == "123456789012"
    assert rules[2]["CidrIpv6"] == "::/0" and rules[2]["IpProtocol"] == "icmp"
    assert rules[3]["PrefixListId"] == pl and rules[3]["FromPort"] == -1

    perms = group(ec2, sg)["IpPermissions"]
    assert perms[0] == {
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [],
        "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}, {"CidrIp": "192.168.0.0/16"}],
        "Ipv6Ranges": [], "PrefixListIds": [],
    }
    assert perms[1]["FromPort"] == 8 and perms[1]["ToPort"] == -1 and perms[1]["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]
    assert "FromPort" not in perms[2] and perms[2]["PrefixListIds"] == [{"PrefixListId": pl}]

    # Adding a rule with the same protocol and ports joins the permission.
    ec2.authorize_security_group_ingress(GroupId=sg, IpProtocol="6", FromPort=22, ToPort=22, CidrIp="172.16.0.0/12")
    perms = group(ec2, sg)["IpPermissions"]
    assert [x["CidrIp"] for x in perms[0]["IpRanges"]] == ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"]

    # Filters over permissions.
    for name, value in [("ip-permission.cidr", "172.16.0.0/12"), ("ip-permission.from-port", "22"),
                        ("ip-permission.protocol", "icmp"), ("ip-permission.ipv6-cidr", "::/0"),
                        ("ip-permission.prefix-list-id", pl), ("egress.ip-permission.cidr", "0.0.0.0/0")]:
        got = ec2.describe_security_groups(Filters=[{"Name": name, "Values": [value]}, {"Name": "group-id", "Values": [sg]}])
        assert [x["GroupId"] for x in got["SecurityGroups"]] == [sg], name
    assert ec2.describe_security_groups(Filters=[{"Name": "egress.ip-permission.cidr", "Values": ["10.0.0.0/8"]}, {"Name": "group-id", "Values": [sg]}])["SecurityGroups"] == []

    # DescribeSecurityGroupRules.
    got = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]
    assert len(got) == 6
    one = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rules[0]["SecurityGroupRuleId"]])["SecurityGroupRules"]
    assert one == [rules[0]]
    tagged = ec2.describe_security_group_rules(Filters=[{"Name": "tag:k", "Values": ["v"]}, {"Name": "group-id", "Values": [sg]}])
    assert len(tagged["SecurityGroupRules"]) == 4
    page = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}], MaxResults=5)
    assert len(page["SecurityGroupRules"]) == 5 and page["NextToken"]
    rest = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}], MaxResults=5, NextToken=page["NextToken"])
    assert len(rest["SecurityGroupRules"]) == 1
    assert error_code(ec2.describe_security_group_rules, SecurityGroupRuleIds=["sgr-0123456789abcdef0"]) == "InvalidSecurityGroupRuleId.NotFound"
    assert error_code(ec2.describe_security_group_rules, SecurityGroupRuleIds=["sgr_x"]) == "InvalidSecurityGroupRuleId.Malformed"


def test_rule_errors(ec2, vpc, sg):
    tcp = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[tcp])
    assert error_code(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[tcp]) == "InvalidPermission.Duplicate"
    assert error_code(ec2.authorize_security_group_egress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == "InvalidPermission.Duplicate"
    twice = {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    assert error_code(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[twice, twice]) == "InvalidParameterValue"
    bad = [
        {"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 70, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 70000, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": 3, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "300", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/33"}]},
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "bad\u00e9"}]},
    ]
    for perm in bad:
        assert error_code(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[perm]) == "InvalidParameterValue", perm
    assert error_code(ec2.authorize_security_group_ingress, GroupId="sg-0123456789abcdef0", IpPermissions=[tcp]) == "InvalidGroup.NotFound"
    assert error_code(ec2.authorize_security_group_ingress, GroupId="sg_zz", IpPermissions=[tcp]) == "InvalidGroupId.Malformed"
    # Revoke of a missing rule in a non-default VPC fails and revokes nothing.
    missing = {"IpProtocol": "tcp", "FromPort": 444, "ToPort": 444, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    assert error_code(ec2.revoke_security_group_ingress, GroupId=sg, IpPermissions=[tcp, missing]) == "InvalidPermission.NotFound"
    assert len(group(ec2, sg)["IpPermissions"]) == 1
    r = ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[tcp])
    assert r["Return"] is True and "UnknownIpPermissions" not in r
    assert r["RevokedSecurityGroupRules"][0]["CidrIpv4"] == "0.0.0.0/0"
    assert group(ec2, sg)["IpPermissions"] == []


def test_group_references_and_dependencies(ec2, vpc, sg):
    other = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc["VpcId"])["GroupId"]
    try:
        r = ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": sg, "Description": "from web"}]}])
        rule = r["SecurityGroupRules"][0]
        assert rule["ReferencedGroupInfo"] == {"GroupId": sg, "UserId": "123456789012"}
        perm = group(ec2, other)["IpPermissions"][0]
        assert perm["UserIdGroupPairs"] == [{"UserId": "123456789012", "GroupId": sg, "Description": "from web"}]
        got = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-id", "Values": [sg]}])["SecurityGroups"]
        assert [x["GroupId"] for x in got] == [other]
        # EC2 knows referenced groups by name only in the default VPC.
        got = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-name", "Values": ["web"]}])["SecurityGroups"]
        assert other not in [x["GroupId"] for x in got]
        # sg is referenced: it cannot go.
        assert error_code(ec2.delete_security_group, GroupId=sg) == "DependencyViolation"
        # References by name resolve in the group's VPC.
        ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 1, "ToPort": 2, "UserIdGroupPairs": [{"GroupName": "web"}]}])
        # Groups must exist and be in the same VPC.
        assert error_code(ec2.authorize_security_group_ingress, GroupId=other, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}]) == "InvalidGroup.NotFound"
        v2 = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]
        try:
            far = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [v2["VpcId"]]}])["SecurityGroups"][0]["GroupId"]
            assert error_code(ec2.authorize_security_group_ingress, GroupId=other, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "UserIdGroupPairs": [{"GroupId": far}]}]) == "InvalidGroup.NotFound"
        finally:
            ec2.delete_vpc(VpcId=v2["VpcId"])
        # Revoke by rule id.
        r = ec2.revoke_security_group_ingress(GroupId=other, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
        assert r["RevokedSecurityGroupRules"][0]["ReferencedGroupId"] == sg
        assert error_code(ec2.revoke_security_group_ingress, GroupId=other, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]) == "InvalidSecurityGroupRuleId.NotFound"
        ec2.revoke_security_group_ingress(GroupId=other, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 1, "ToPort": 2, "UserIdGroupPairs": [{"GroupId": sg}]}])
    finally:
        ec2.delete_security_group(GroupId=other)


def test_referenced_group_ids_must_be_hexadecimal(ec2, vpc, sg):
    # A rule's referenced group is checked for form: `sg-malformed` is malformed there (the
    # provider's TestAccVPCSecurityGroup_rulesDropOnError expects InvalidGroupId.Malformed),
    # while a well-formed id that names nothing is not found; the request changes nothing.
    other = ec2.create_security_group(GroupName="ref", Description="x", VpcId=vpc["VpcId"])["GroupId"]
    pairs = [{"GroupId": other}, {"GroupId": "sg-malformed"}]
    perm = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": pairs}
    code, message = error(ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[perm])
    assert code == "InvalidGroupId.Malformed"
    assert message == 'Invalid id: "sg-malformed" (expecting "sg-...")'
    assert group(ec2, sg)["IpPermissions"] == []
    perm["UserIdGroupPairs"] = [{"GroupId": "sg-0123456789abcdef0"}]
    assert error_code(ec2.authorize_security_group_egress, GroupId=sg, IpPermissions=[perm]) == "InvalidGroup.NotFound"
    # the group being changed is still found by its prefix alone, as DeleteSecurityGroup's is
    assert error_code(ec2.authorize_security_group_ingress, GroupId="sg-foo",
                      IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]) == "InvalidGroup.NotFound"


def test_group_on_an_interface_cannot_be_deleted(ec2, vpc, sg):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.5.0/24")["Subnet"]
    try:
        eni = ec2.create_network_interface(SubnetId=s["SubnetId"], Groups=[sg])["NetworkInterface"]
    except Exception as e:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
        pytest.skip(f"network interfaces unavailable: {e}")
    try:
        assert error_code(ec2.delete_security_group, GroupId=sg) == "DependencyViolation"
    finally:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_legacy_source_group_form(ec2, vpc, sg):
    other = ec2.create_security_group(GroupName="legacy", Description="l", VpcId=vpc["VpcId"])["GroupId"]
    try:
        r = ec2.authorize_security_group_ingress(GroupId=other, SourceSecurityGroupName="web")
        assert sorted(x["IpProtocol"] for x in r["SecurityGroupRules"]) == ["icmp", "tcp", "udp"]
        assert all(x["ReferencedGroupInfo"]["GroupId"] == sg for x in r["SecurityGroupRules"])
        assert error_code(ec2.authorize_security_group_ingress, GroupId=other, SourceSecurityGroupName="web", CidrIp="0.0.0.0/0", IpProtocol="tcp", FromPort=1, ToPort=1) == "InvalidParameterCombination"
        ec2.revoke_security_group_ingress(GroupId=other, SourceSecurityGroupName="web")
        assert group(ec2, other)["IpPermissions"] == []
    finally:
        ec2.delete_security_group(GroupId=other)


def test_modify_rules_and_descriptions(ec2, vpc, sg):
    r = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "10.1.0.0/16"}]}])
    a, b = [x["SecurityGroupRuleId"] for x in r["SecurityGroupRules"]]
    ec2.modify_security_group_rules(GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": a,
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081, "CidrIpv4": "10.2.0.0/16", "Description": "alt"},
    }])
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=[a])["SecurityGroupRules"][0]
    assert (got["FromPort"], got["ToPort"], got["CidrIpv4"], got["Description"]) == (8080, 8081, "10.2.0.0/16", "alt")
    assert error_code(ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": a,
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIpv4": "10.1.0.0/16"},
    }]) == "InvalidPermission.Duplicate"
    assert error_code(ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": "sgr-0123456789abcdef0",
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIpv4": "10.1.0.0/16"},
    }]) == "InvalidSecurityGroupRuleId.NotFound"

    ec2.update_security_group_rule_descriptions_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "new"}]}])
    got = ec2.describe_security_group_rules(SecurityGroupRuleIds=[b])["SecurityGroupRules"][0]
    assert got["Description"] == "new"
    ec2.update_security_group_rule_descriptions_ingress(GroupId=sg, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": b, "Description": "by id"}])
    assert ec2.describe_security_group_rules(SecurityGroupRuleIds=[b])["SecurityGroupRules"][0]["Description"] == "by id"
    assert error_code(ec2.update_security_group_rule_descriptions_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 99, "ToPort": 99, "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "x"}]}]) == "InvalidPermission.NotFound"
    egress = group(ec2, sg)["IpPermissionsEgress"][0]
    egress["IpRanges"][0]["Description"] = "all out"
    ec2.update_security_group_rule_descriptions_egress(GroupId=sg, IpPermissions=[egress])
    assert group(ec2, sg)["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0", "Description": "all out"}]


def test_egress_rules(ec2, vpc, sg):
    ec2.revoke_security_group_egress(GroupId=sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert group(ec2, sg)["IpPermissionsEgress"] == []
    r = ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert r["SecurityGroupRules"][0]["IsEgress"] is True
    perms = group(ec2, sg)["IpPermissionsEgress"]
    assert perms[0]["FromPort"] == 443
    assert error_code(ec2.revoke_security_group_egress, GroupId=sg, SecurityGroupRuleIds=["sgr-0123456789abcdef0"]) == "InvalidSecurityGroupRuleId.NotFound"


def test_describe_pagination(ec2, vpc):
    ids = [ec2.create_security_group(GroupName=f"p{i}", Description="p", VpcId=vpc["VpcId"])["GroupId"] for i in range(6)]
    try:
        flt = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        page = ec2.describe_security_groups(Filters=flt, MaxResults=5)
        assert len(page["SecurityGroups"]) == 5 and page["NextToken"]
        rest = ec2.describe_security_groups(Filters=flt, MaxResults=5, NextToken=page["NextToken"])
        assert len(rest["SecurityGroups"]) == 2
    finally:
        for i in ids:
            ec2.delete_security_group(GroupId=i)


def test_rule_quota_per_direction():
    own = Fort(extra_args=["--quotas", "aws"])
    try:
        ec2 = own.client()
        vid = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        gid = ec2.create_security_group(GroupName="q", Description="q", VpcId=vid)["GroupId"]
        cidrs = [{"CidrIp": f"10.{i}.0.0/16"} for i in range(60)]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": cidrs}])
        assert error_code(ec2.authorize_security_group_ingress, GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2, "ToPort": 2, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]) == "RulesPerSecurityGroupLimitExceeded"
        # IPv6 rules count separately.
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2, "ToPort": 2, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        # Egress has its own 60 (one used by the default rule).
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": cidrs[:59]}])
        assert error_code(ec2.authorize_security_group_egress, GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": cidrs[59:]}]) == "RulesPerSecurityGroupLimitExceeded"
        assert error_code(ec2.authorize_security_group_egress, GroupId=gid, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": cidrs[59:]}]) == "RulesPerSecurityGroupLimitExceeded"
    finally:
        own.close()


def error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - a ClientError; its code and message are asserted
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    pytest.fail("call succeeded but an error was expected")


def test_empty_description_is_missing(ec2, vpc):
    assert error_code(ec2.create_security_group, GroupName="nodesc", Description="", VpcId=vpc["VpcId"]) == "MissingParameter"


def test_modify_rules_messages(ec2, vpc, sg):
    """ModifySecurityGroupRules' errors, as EC2 words them."""
    rid = ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 30900, "ToPort": 31000, "IpRanges": [{"CidrIp": "1.2.3.4/32"}]}])["SecurityGroupRules"][0]["SecurityGroupRuleId"]

    def modify(**rule):
        return error(ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[{"SecurityGroupRuleId": rid, "SecurityGroupRule": rule}])

    assert modify(FromPort=1, ToPort=2, CidrIpv4="2.3.4.5/32") == (
        "InvalidParameterValue", "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.")
    assert modify(IpProtocol="udp", ToPort=2, CidrIpv4="2.3.4.5/32") == (
        "InvalidParameterValue", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
    assert modify(IpProtocol="udp", FromPort=1, ToPort=2) == (
        "MissingParameter", "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId")
    assert modify(IpProtocol="udp", FromPort=1, ToPort=2, CidrIpv4="2.3.4.5/32", CidrIpv6="2001:db8::/32") == (
        "InvalidParameterCombination", "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified")
    rule = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"][0]
    assert (rule["IpProtocol"], rule["FromPort"], rule["CidrIpv4"]) == ("tcp", 30900, "1.2.3.4/32"), "nothing changed"


def test_describe_rules_order_and_malformed_group_filter(ec2, vpc, sg):
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": f"10.{i}.0.0/16"} for i in range(7)]}])
    flt = [{"Name": "group-id", "Values": [sg]}]
    rules = ec2.describe_security_group_rules(Filters=flt)["SecurityGroupRules"]
    # The group's rules in the order they were added: its default egress rule first.
    assert [r.get("CidrIpv4") for r in rules] == ["0.0.0.0/0"] + [f"10.{i}.0.0/16" for i in range(7)]
    assert rules[0]["IsEgress"] is True
    page = ec2.describe_security_group_rules(Filters=flt, MaxResults=5)
    rest = ec2.describe_security_group_rules(Filters=flt, MaxResults=5, NextToken=page["NextToken"])
    assert "NextToken" not in rest
    assert page["SecurityGroupRules"] + rest["SecurityGroupRules"] == rules
    assert error(ec2.describe_security_group_rules, Filters=[{"Name": "group-id", "Values": ["foobar"]}]) == (
        "InvalidGroupId.Malformed", "The security group ID 'foobar' is malformed")
    assert ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": ["sg-0123456789abcdef0"]}])["SecurityGroupRules"] == []


def test_group_name_filters_match_references_in_the_default_vpc(ec2):
    a = ec2.create_security_group(GroupName="named-a", Description="a")["GroupId"]
    b = ec2.create_security_group(GroupName="named-b", Description="b")["GroupId"]
    try:
        ec2.authorize_security_group_ingress(GroupId=a, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": b}]}])
        ec2.authorize_security_group_egress(GroupId=b, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 81, "ToPort": 81, "UserIdGroupPairs": [{"GroupName": "named-a"}]}])
        got = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.group-name", "Values": ["named-b"]}])["SecurityGroups"]
        assert [x["GroupId"] for x in got] == [a]
        got = ec2.describe_security_groups(Filters=[{"Name": "egress.ip-permission.group-name", "Values": ["named-?"]}])["SecurityGroups"]
        assert [x["GroupId"] for x in got] == [b]
    finally:
        ec2.revoke_security_group_ingress(GroupId=a, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": b}]}])
        ec2.revoke_security_group_egress(GroupId=b, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 81, "ToPort": 81, "UserIdGroupPairs": [{"GroupId": a}]}])
        ec2.delete_security_group(GroupId=a)
        ec2.delete_security_group(GroupId=b)


def test_cidr_filters_mask_host_bits(ec2, vpc, sg):
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": "10.250.0.0/16"}]}])
    got = ec2.describe_security_groups(Filters=[{"Name": "ip-permission.cidr", "Values": ["10.250.7.1/16"]}])["SecurityGroups"]
    assert [x["GroupId"] for x in got] == [sg]
    got = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.3.4/16"]}])["Vpcs"]
    assert vpc["VpcId"] in [x["VpcId"] for x in got]


def egress(ec2, gid):
    return [(p["IpProtocol"], p["IpRanges"], p["Ipv6Ranges"]) for p in group(ec2, gid)["IpPermissionsEgress"]]


def test_groups_of_ipv6_vpcs_allow_all_ipv6_out(ec2):
    v = ec2.create_vpc(CidrBlock="10.8.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    plain = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]
    both = ("-1", [{"CidrIp": "0.0.0.0/0"}], [{"CidrIpv6": "::/0"}])
    v4 = ("-1", [{"CidrIp": "0.0.0.0/0"}], [])
    try:
        default = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [v["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
        assert egress(ec2, default["GroupId"]) == [both]
        g = ec2.create_security_group(GroupName="six", Description="six", VpcId=v["VpcId"])["GroupId"]
        assert egress(ec2, g) == [both]
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [g]}])["SecurityGroupRules"]
        assert sorted(r.get("CidrIpv4", r.get("CidrIpv6")) for r in rules) == ["0.0.0.0/0", "::/0"]
        ec2.delete_security_group(GroupId=g)
        # A VPC that gains IPv6 later: its default group gets the rule, other groups do not.
        other = ec2.create_security_group(GroupName="four", Description="four", VpcId=plain["VpcId"])["GroupId"]
        default = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [plain["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
        assert egress(ec2, default["GroupId"]) == [v4]
        ec2.associate_vpc_cidr_block(VpcId=plain["VpcId"], AmazonProvidedIpv6CidrBlock=True)
        assert egress(ec2, default["GroupId"]) == [both]
        assert egress(ec2, other) == [v4]
        ec2.delete_security_group(GroupId=other)
    finally:
        ec2.delete_vpc(VpcId=v["VpcId"])
        ec2.delete_vpc(VpcId=plain["VpcId"])


def test_get_security_groups_for_vpc(ec2, vpc):
    vid = vpc["VpcId"]
    sg = ec2.create_security_group(GroupName="for-vpc", Description="usable here", VpcId=vid,
                                   TagSpecifications=[{"ResourceType": "security-group",
                                                       "Tags": [{"Key": "k", "Value": "v"}]}])["GroupId"]
    try:
        got = ec2.get_security_groups_for_vpc(VpcId=vid)["SecurityGroupForVpcs"]
        default = next(g for g in got if g["GroupName"] == "default")
        # the shape EC2 answers: an empty tag set included
        assert default == {"Description": "default VPC security group", "GroupName": "default",
                           "OwnerId": "123456789012", "GroupId": default["GroupId"], "Tags": [],
                           "PrimaryVpcId": vid}
        mine = next(g for g in got if g["GroupId"] == sg)
        assert mine["Description"] == "usable here" and mine["Tags"] == [{"Key": "k", "Value": "v"}]
        assert {g["GroupId"] for g in got} == {default["GroupId"], sg}, "only this VPC's groups"
        f = lambda n, x: [g["GroupId"] for g in ec2.get_security_groups_for_vpc(
            VpcId=vid, Filters=[{"Name": n, "Values": [x]}])["SecurityGroupForVpcs"]]
        assert f("group-name", "for-vpc") == [sg]
        assert f("group-id", sg) == [sg]
        assert f("description", "usable*") == [sg]
        assert sorted(f("primary-vpc-id", vid)) == sorted([default["GroupId"], sg])
        assert f("tag:k", "v") == [sg]
        assert error_code(ec2.get_security_groups_for_vpc, VpcId=vid,
                          Filters=[{"Name": "vpc-id", "Values": [vid]}]) == "InvalidParameterValue"
        page = ec2.get_security_groups_for_vpc(VpcId=vid, MaxResults=5)
        assert len(page["SecurityGroupForVpcs"]) == 2 and "NextToken" not in page
        assert error_code(ec2.get_security_groups_for_vpc, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
        assert error_code(ec2.get_security_groups_for_vpc, VpcId="nope") == "InvalidVpcID.Malformed"
    finally:
        ec2.delete_security_group(GroupId=sg)


def test_rules_referencing_groups_of_peered_vpcs(fort, ec2):
    """A rule may name a group of a VPC peered (active, same region) with the group's VPC,
    of this account or of another (by its UserId); the pair shows the peer's VPC, the
    connection and its status. Without an active connection the group is not found."""
    from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY
    other = fort.client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    a = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
    c = other.create_vpc(CidrBlock="10.72.0.0/16")["Vpc"]["VpcId"]
    ga = ec2.create_security_group(GroupName="app", Description="app", VpcId=a)["GroupId"]
    gb = ec2.create_security_group(GroupName="db", Description="db", VpcId=b)["GroupId"]
    gc = other.create_security_group(GroupName="batch", Description="batch", VpcId=c)["GroupId"]
    perm = lambda pair: [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [pair]}]
    # Not peered yet: as any group of another network.
    assert error_code(ec2.authorize_security_group_ingress, GroupId=gb, IpPermissions=perm({"GroupId": ga})) == "InvalidGroup.NotFound"
    assert error_code(ec2.authorize_security_group_ingress, GroupId=gb, IpPermissions=perm({"GroupId": gc, "UserId": "210987654321"})) == "InvalidGroup.NotFound"
    pab = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    # Pending is not enough.
    assert error_code(ec2.authorize_security_group_ingress, GroupId=gb, IpPermissions=perm({"GroupId": ga})) == "InvalidGroup.NotFound"
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pab)
    pcb = other.create_vpc_peering_connection(VpcId=c, PeerVpcId=b, PeerOwnerId="123456789012")["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcb)
    try:
        r = ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=perm({"GroupId": ga, "Description": "app"}))
        assert r["SecurityGroupRules"][0]["ReferencedGroupInfo"] == {
            "GroupId": ga, "UserId": "123456789012", "VpcId": a, "VpcPeeringConnectionId": pab}
        ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=perm({"GroupId": gc, "UserId": "210987654321"}))
        pairs = group(ec2, gb)["IpPermissions"][0]["UserIdGroupPairs"]
        assert sorted(pairs, key=lambda p: p["GroupId"] != ga) == [
            {"UserId": "123456789012", "GroupId": ga, "VpcId": a, "VpcPeeringConnectionId": pab, "PeeringStatus": "active", "Description": "app"},
            {"UserId": "210987654321", "GroupId": gc, "VpcId": c, "VpcPeeringConnectionId": pcb, "PeeringStatus": "active"},
        ]
        # The other direction, and egress, too.
        ec2.authorize_security_group_egress(GroupId=ga, IpPermissions=perm({"GroupId": gb}))
        # The group of another account needs its UserId: by id alone it is not this account's.
        assert error_code(ec2.authorize_security_group_ingress, GroupId=gb, IpPermissions=perm({"GroupId": gc})) == "InvalidGroup.NotFound"
        # Names reach only groups of the same VPC.
        assert error_code(ec2.authorize_security_group_ingress, GroupId=gb, IpPermissions=perm({"GroupName": "app"})) == "InvalidGroup.NotFound"
        # A connection named must be the one joining the two VPCs.
        assert error_code(ec2.authorize_security_group_ingress, GroupId=gb, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 1, "ToPort": 1, "UserIdGroupPairs": [{"GroupId": ga, "VpcPeeringConnectionId": pcb}]}]) == "InvalidGroup.NotFound"
        ec2.revoke_security_group_ingress(GroupId=gb, IpPermissions=perm({"GroupId": ga}))
        ec2.revoke_security_group_ingress(GroupId=gb, IpPermissions=perm({"GroupId": gc, "UserId": "210987654321"}))
        ec2.revoke_security_group_egress(GroupId=ga, IpPermissions=perm({"GroupId": gb}))
        assert group(ec2, gb)["IpPermissions"] == []
    finally:
        ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pab)
        ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcb)
        for g in (ga, gb):
            ec2.delete_security_group(GroupId=g)
        other.delete_security_group(GroupId=gc)
        ec2.delete_vpc(VpcId=a)
        ec2.delete_vpc(VpcId=b)
        other.delete_vpc(VpcId=c)


def test_stale_rules_after_the_peering_goes(ec2):
    """A rule naming a group across a peering connection is stale once the connection is
    deleted: DescribeStaleSecurityGroups lists it, with the connection's status."""
    a = ec2.create_vpc(CidrBlock="10.73.0.0/16")["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.74.0.0/16")["Vpc"]["VpcId"]
    ga = ec2.create_security_group(GroupName="app", Description="app", VpcId=a)["GroupId"]
    gb = ec2.create_security_group(GroupName="db", Description="db", VpcId=b)["GroupId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=a, PeerVpcId=b)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    ec2.authorize_security_group_ingress(GroupId=gb, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": ga}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert ec2.describe_stale_security_groups(VpcId=b)["StaleSecurityGroupSet"] == []
    ec2.delete_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    [stale] = ec2.describe_stale_security_groups(VpcId=b)["StaleSecurityGroupSet"]
    assert stale["GroupId"] == gb and stale["GroupName"] == "db" and stale["VpcId"] == b
    [perm] = stale["StaleIpPermissions"]
    assert (perm["IpProtocol"], perm["FromPort"], perm["ToPort"]) == ("tcp", 5432, 5432)
    assert perm["UserIdGroupPairs"] == [{"UserId": "123456789012", "GroupId": ga, "VpcId": a,
                                         "VpcPeeringConnectionId": pcx, "PeeringStatus": "deleted"}]
    assert stale["StaleIpPermissionsEgress"] == []
    assert error_code(ec2.describe_stale_security_groups, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
    # The rule itself stays until revoked.
    ec2.revoke_security_group_ingress(GroupId=gb, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": ga}]}])
    assert ec2.describe_stale_security_groups(VpcId=b)["StaleSecurityGroupSet"] == []
    for g in (ga, gb):
        ec2.delete_security_group(GroupId=g)
    ec2.delete_vpc(VpcId=a)
    ec2.delete_vpc(VpcId=b)
