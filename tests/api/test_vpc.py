"""VPCs, subnets, tags and the default VPC, through boto3 against the real binary."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, http_status


def test_default_vpc_exists_with_subnets(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    v = vpcs[0]
    assert v["CidrBlock"] == "172.31.0.0/16"
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [v["VpcId"]]}])["Subnets"]
    # One default subnet per zone of the region, as AWS makes them: us-east-1 has six.
    assert sorted(s["CidrBlock"] for s in subnets) == [f"172.31.{16 * i}.0/20" for i in range(6)]
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] for s in subnets)
    assert all(s["AvailableIpAddressCount"] == 4091 for s in subnets)
    assert error_code(ec2.create_default_vpc) == "DefaultVpcAlreadyExists"
    try:
        ec2.create_default_subnet(AvailabilityZone="us-east-1a")
        pytest.fail("a second default subnet was made")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "DefaultSubnetAlreadyExistsInAvailabilityZone"
        holder = next(s["SubnetId"] for s in subnets if s["AvailabilityZone"] == "us-east-1a")
        assert e.response["Error"]["Message"] == f"'{holder}' is already the default subnet in us-east-1a."
    # the older camelCase filter names (Terraform's data "aws_vpc" { default = true } sends one)
    assert ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"] == vpcs
    camel = ec2.describe_subnets(Filters=[{"Name": "vpcId", "Values": [v["VpcId"]]},
                                          {"Name": "defaultForAz", "Values": ["true"]}])["Subnets"]
    assert sorted(s["SubnetId"] for s in camel) == sorted(s["SubnetId"] for s in subnets)
    assert error_code(ec2.describe_vpcs, Filters=[{"Name": "isDefaultish", "Values": ["x"]}]) == "InvalidParameterValue"


def test_create_describe_delete_vpc(ec2):
    v = ec2.create_vpc(
        CidrBlock="10.1.0.18/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "t1"}]}],
    )["Vpc"]
    assert v["CidrBlock"] == "10.1.0.0/16", "host bits are cleared"
    assert v["VpcId"].startswith("vpc-") and len(v["VpcId"]) == 21
    assert v["Tags"] == [{"Key": "Name", "Value": "t1"}]
    assert v["OwnerId"] == "123456789012"
    untagged = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]
    assert "Tags" not in untagged, "EC2 leaves out an empty tag set"
    assert "Tags" not in ec2.describe_vpcs(VpcIds=[untagged["VpcId"]])["Vpcs"][0]
    ec2.delete_vpc(VpcId=untagged["VpcId"])
    got = ec2.describe_vpcs(VpcIds=[v["VpcId"]])["Vpcs"]
    assert [x["VpcId"] for x in got] == [v["VpcId"]]
    by_tag = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["t?"]}])["Vpcs"]
    assert v["VpcId"] in [x["VpcId"] for x in by_tag]
    attr = ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsSupport")
    assert attr["EnableDnsSupport"]["Value"] is True
    attr = ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is False
    ec2.modify_vpc_attribute(VpcId=v["VpcId"], EnableDnsHostnames={"Value": True})
    assert ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    assert error_code(ec2.modify_vpc_attribute, VpcId=v["VpcId"], EnableDnsSupport={"Value": False}) == "InvalidParameterValue"
    ec2.delete_vpc(VpcId=v["VpcId"])
    assert error_code(ec2.describe_vpcs, VpcIds=[v["VpcId"]]) == "InvalidVpcID.NotFound"


def test_vpc_errors(ec2):
    assert error_code(ec2.create_vpc, CidrBlock="10.0.0.0/8") == "InvalidVpc.Range"
    assert error_code(ec2.create_vpc, CidrBlock="10.0.0.0/29") == "InvalidVpc.Range"
    assert error_code(ec2.create_vpc, CidrBlock="banana") == "InvalidParameterValue"
    assert error_code(ec2.create_vpc, CidrBlock="10.0.0.0/16", InstanceTenancy="host") == "InvalidParameterValue"
    assert error_code(ec2.describe_vpcs, VpcIds=["vpc_nothere"]) == "InvalidVpcID.Malformed"
    assert error_code(ec2.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"]) == "InvalidVpcID.NotFound"
    assert error_code(ec2.delete_vpc, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"
    assert error_code(ec2.describe_vpcs, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    assert error_code(ec2.create_vpc, CidrBlock="10.0.0.0/16", DryRun=True) == "DryRunOperation"
    assert http_status(ec2.create_vpc, CidrBlock="10.0.0.0/16", DryRun=True) == 412


def test_secondary_cidr_blocks(ec2, vpc):
    vid = vpc["VpcId"]
    r = ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock="10.2.0.0/16")
    assoc = r["CidrBlockAssociation"]["AssociationId"]
    # EC2 answers the association in progress and shows it done by the next Describe
    assert r["CidrBlockAssociation"]["CidrBlockState"]["State"] == "associating"
    blocks = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]["CidrBlockAssociationSet"]
    assert {b["CidrBlockState"]["State"] for b in blocks if b["AssociationId"] == assoc} == {"associated"}
    assert error_code(ec2.associate_vpc_cidr_block, VpcId=vid, CidrBlock="192.168.0.0/16") == "InvalidVpc.Range"
    assert error_code(ec2.associate_vpc_cidr_block, VpcId=vid, CidrBlock="10.0.1.0/24") == "InvalidVpc.Range"
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vid]}])["RouteTables"]
    assert {"10.0.0.0/16", "10.2.0.0/16"} <= {r.get("DestinationCidrBlock") for r in tables[0]["Routes"]}
    primary = vpc["CidrBlockAssociationSet"][0]["AssociationId"]
    assert error_code(ec2.disassociate_vpc_cidr_block, AssociationId=primary) == "OperationNotPermitted"
    d = ec2.disassociate_vpc_cidr_block(AssociationId=assoc)["CidrBlockAssociation"]
    assert d["CidrBlockState"]["State"] == "disassociating"
    blocks = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]["CidrBlockAssociationSet"]
    assert assoc not in [b["AssociationId"] for b in blocks if b["CidrBlockState"]["State"] == "associated"]


def test_subnets(ec2, vpc):
    vid = vpc["VpcId"]
    s = ec2.create_subnet(VpcId=vid, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    assert s["AvailableIpAddressCount"] == 251
    assert s["AvailabilityZone"] == "us-east-1b"
    assert s["MapPublicIpOnLaunch"] is False
    assert error_code(ec2.create_subnet, VpcId=vid, CidrBlock="10.0.1.128/25") == "InvalidSubnet.Conflict"
    assert error_code(ec2.create_subnet, VpcId=vid, CidrBlock="10.9.0.0/24") == "InvalidSubnet.Range"
    assert error_code(ec2.create_subnet, VpcId=vid, CidrBlock="10.0.2.0/29") == "InvalidSubnet.Range"
    assert error_code(ec2.create_subnet, VpcId=vid, CidrBlock="10.0.2.0/24", AvailabilityZone="mars-1a") == "InvalidParameterValue"
    assert error_code(ec2.delete_vpc, VpcId=vid) == "DependencyViolation"
    ec2.modify_subnet_attribute(SubnetId=s["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    got = ec2.describe_subnets(SubnetIds=[s["SubnetId"]])["Subnets"][0]
    assert got["MapPublicIpOnLaunch"] is True
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [s["SubnetId"]]}])["NetworkAcls"]
    assert len(acls) == 1 and acls[0]["IsDefault"]
    ec2.delete_subnet(SubnetId=s["SubnetId"])
    assert error_code(ec2.describe_subnets, SubnetIds=[s["SubnetId"]]) == "InvalidSubnetID.NotFound"


def test_tags(ec2, vpc):
    vid = vpc["VpcId"]
    ec2.create_tags(Resources=[vid], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vid]}])["Tags"]
    assert [(t["Key"], t["Value"], t["ResourceType"]) for t in tags] == [("a", "1", "vpc"), ("b", "2", "vpc")]
    ec2.delete_tags(Resources=[vid], Tags=[{"Key": "a", "Value": "wrong"}])
    assert len(ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vid]}])["Tags"]) == 2
    ec2.delete_tags(Resources=[vid], Tags=[{"Key": "a"}])
    assert [t["Key"] for t in ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vid]}])["Tags"]] == ["b"]
    assert error_code(ec2.create_tags, Resources=[vid], Tags=[{"Key": "aws:x", "Value": "1"}]) == "InvalidParameterValue"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error_code(ec2.create_tags, Resources=[vid], Tags=many) == "TagLimitExceeded"
    assert error_code(ec2.create_tags, Resources=["vpc-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "1"}]) == "InvalidVpcID.NotFound"
    ec2.delete_tags(Resources=[vid])
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vid]}])["Tags"] == []


def test_tags_on_ids_that_name_nothing_taggable(ec2):
    # EC2 answers InvalidID, before any lookup, for an id with no taggable kind's prefix, a
    # non-hexadecimal suffix, or a kind that has no tags (associations, reservations)
    for rid in ("blah-blah", "ami-blah", "vpc-xyz", "rtbassoc-0123456789abcdef0", "r-0123456789abcdef0"):
        for call in (ec2.create_tags, ec2.delete_tags):
            with pytest.raises(ClientError) as e:
                call(Resources=[rid], Tags=[{"Key": "k", "Value": "v"}])
            err = e.value.response["Error"]
            assert (err["Code"], err["Message"]) == ("InvalidID", f"The ID '{rid}' is not valid"), rid
    assert error_code(ec2.create_tags, Resources=["vol-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "1"}]) == "InvalidVolume.NotFound"


def test_tag_specifications_for_another_resource_type(ec2, vpc):
    # A TagSpecification of a type the call does not create, or without tags: the calls
    # making VPCs, subnets and interfaces answer InvalidParameter, the others (route tables,
    # gateways, volumes, ...) InvalidParameterValue
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.78.0/24")["Subnet"]
    bad = {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}
    calls = (
        (ec2.create_vpc, {"CidrBlock": "10.9.0.0/16"}, "vpc", "InvalidParameter"),
        (ec2.create_subnet, {"VpcId": vpc["VpcId"], "CidrBlock": "10.0.77.0/24"}, "subnet", "InvalidParameter"),
        (ec2.create_network_interface, {"SubnetId": s["SubnetId"]}, "network-interface", "InvalidParameter"),
        (ec2.create_route_table, {"VpcId": vpc["VpcId"]}, "route-table", "InvalidParameterValue"),
        (ec2.create_internet_gateway, {}, "internet-gateway", "InvalidParameterValue"),
        (ec2.create_volume, {"AvailabilityZone": "us-east-1a", "Size": 1}, "volume", "InvalidParameterValue"),
    )
    try:
        for call, kwargs, own, code in calls:
            with pytest.raises(ClientError) as e:
                call(TagSpecifications=[bad], **kwargs)
            err = e.value.response["Error"]
            assert (err["Code"], err["Message"]) == (
                code, "'snapshot' is not a valid taggable resource type for this operation."), call
            with pytest.raises(ClientError) as e:
                call(TagSpecifications=[{"ResourceType": own}], **kwargs)
            err = e.value.response["Error"]
            assert (err["Code"], err["Message"]) == (code, "Tag specification must have at least one tag"), call
    finally:
        ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_pagination(ec2):
    ids = [ec2.create_vpc(CidrBlock=f"10.{100 + i}.0.0/16")["Vpc"]["VpcId"] for i in range(7)]
    seen, token = [], None
    while True:
        kw = {"MaxResults": 5}
        if token:
            kw["NextToken"] = token
        r = ec2.describe_vpcs(**kw)
        seen += [v["VpcId"] for v in r["Vpcs"]]
        token = r.get("NextToken")
        if not token:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    assert error_code(ec2.describe_vpcs, NextToken="zz") == "InvalidNextToken"
    for i in ids:
        ec2.delete_vpc(VpcId=i)


def test_regions_and_accounts(fort):
    east = fort.client(region="us-east-1")
    west = fort.client(region="eu-west-1")
    v = east.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    assert v not in [x["VpcId"] for x in west.describe_vpcs()["Vpcs"]]
    assert error_code(west.describe_vpcs, VpcIds=[v]) == "InvalidVpcID.NotFound"
    zones = [z["ZoneName"] for z in west.describe_availability_zones()["AvailabilityZones"]]
    assert zones == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY
    other = fort.client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    assert other.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [v]}])["Vpcs"] == []
    sts = fort.client("sts", access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    assert sts.get_caller_identity()["Account"] == "210987654321"
    east.delete_vpc(VpcId=v)


def test_auth_failures(fort):
    bad = fort.client(secret_key="wrong-secret-wrong-secret-wrong-secret-00")
    assert error_code(bad.describe_vpcs) == "AuthFailure"
    unknown = fort.client(access_key="AKIAUNKNOWNKEY000000")
    assert error_code(unknown.describe_vpcs) == "AuthFailure"


def test_ids_with_the_kinds_prefix_are_not_found_and_others_malformed(ec2):
    # EC2 checks only an id's prefix: these name nothing, they are not malformed
    assert error_code(ec2.describe_vpcs, VpcIds=["vpc-12345"]) == "InvalidVpcID.NotFound"
    assert error_code(ec2.describe_vpcs, VpcIds=["vpc-does_not_exist"]) == "InvalidVpcID.NotFound"
    assert error_code(ec2.describe_subnets, SubnetIds=["subnet-1234abcd"]) == "InvalidSubnetID.NotFound"
    assert error_code(ec2.delete_security_group, GroupId="sg-foo") == "InvalidGroup.NotFound"
    assert error_code(ec2.describe_images, ImageIds=["ami-missing"]) == "InvalidAMIID.NotFound"
    assert error_code(ec2.describe_dhcp_options, DhcpOptionsIds=["dopt-nope"]) == "InvalidDhcpOptionID.NotFound"
    try:
        ec2.describe_images(ImageIds=["not_an_ami_id"])
        raise AssertionError("a malformed id was accepted")
    except ec2.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidAMIID.Malformed"
        assert e.response["Error"]["Message"] == 'Invalid id: "not_an_ami_id" (expecting "ami-...")'
    assert error_code(ec2.describe_vpcs, VpcIds=["foo-1234abcd"]) == "InvalidVpcID.Malformed"


def test_classic_link_answers_for_vpcs(ec2):
    # ClassicLink's limits: a VPC in 10.0.0.0/8 can be enabled only as 10.0.0.0/16 or 10.1.0.0/16
    linkable = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    refused = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    assert ec2.enable_vpc_classic_link(VpcId=linkable)["Return"] is True
    assert ec2.enable_vpc_classic_link(VpcId=refused)["Return"] is False
    got = {v["VpcId"]: v["ClassicLinkEnabled"] for v in ec2.describe_vpc_classic_link(VpcIds=[linkable, refused])["Vpcs"]}
    assert got == {linkable: True, refused: False}
    enabled = ec2.describe_vpc_classic_link(Filters=[{"Name": "is-classic-link-enabled", "Values": ["true"]}])["Vpcs"]
    assert [v["VpcId"] for v in enabled] == [linkable]
    assert ec2.disable_vpc_classic_link(VpcId=linkable)["Return"] is False
    assert ec2.enable_vpc_classic_link_dns_support(VpcId=refused)["Return"] is True
    dns = {v["VpcId"]: v["ClassicLinkDnsSupported"]
           for v in ec2.describe_vpc_classic_link_dns_support(VpcIds=[linkable, refused])["Vpcs"]}
    assert dns == {linkable: False, refused: True}
    assert ec2.describe_classic_link_instances()["Instances"] == []
    assert error_code(ec2.enable_vpc_classic_link, VpcId="vpc-1234abcd") == "InvalidVpcID.NotFound"


def test_vpc_ipv6_blocks(ec2):
    """Amazon-provided /56s: distinct, associated, with a local route; both families of
    DisassociateVpcCidrBlock; the ipv6-cidr-block-association filters."""
    a = ec2.create_vpc(CidrBlock="10.30.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    [ba] = a["Ipv6CidrBlockAssociationSet"]
    assert ba["Ipv6CidrBlock"].endswith("::/56")
    assert ba["AssociationId"].startswith("vpc-cidr-assoc-")
    assert ba["Ipv6Pool"] == "Amazon" and ba["NetworkBorderGroup"] == "us-east-1"
    assert ba["Ipv6CidrBlockState"]["State"] == "associated"
    b = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]
    assert b["Ipv6CidrBlockAssociationSet"] == []
    got = ec2.associate_vpc_cidr_block(VpcId=b["VpcId"], AmazonProvidedIpv6CidrBlock=True)
    bb = got["Ipv6CidrBlockAssociation"]
    assert bb["Ipv6CidrBlockState"]["State"] == "associating" and "CidrBlockAssociation" not in got
    assert bb["Ipv6CidrBlock"] != ba["Ipv6CidrBlock"], "never the same block twice"
    desc = ec2.describe_vpcs(VpcIds=[b["VpcId"]])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]
    assert [(x["Ipv6CidrBlock"], x["Ipv6CidrBlockState"]["State"]) for x in desc] == [(bb["Ipv6CidrBlock"], "associated")]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [b["VpcId"]]}])["RouteTables"][0]
    assert {"DestinationIpv6CidrBlock": bb["Ipv6CidrBlock"], "GatewayId": "local"}.items() <= next(
        r for r in main["Routes"] if r.get("DestinationIpv6CidrBlock") == bb["Ipv6CidrBlock"]).items()
    f = lambda n, v: [x["VpcId"] for x in ec2.describe_vpcs(Filters=[{"Name": n, "Values": [v]}])["Vpcs"]]
    assert f("ipv6-cidr-block-association.ipv6-cidr-block", bb["Ipv6CidrBlock"]) == [b["VpcId"]]
    assert f("ipv6-cidr-block-association.association-id", ba["AssociationId"]) == [a["VpcId"]]
    assert {a["VpcId"], b["VpcId"]} <= set(f("ipv6-cidr-block-association.state", "associated"))
    assert a["VpcId"] in f("ipv6-cidr-block-association.ipv6-pool", "Amazon")
    gone = ec2.disassociate_vpc_cidr_block(AssociationId=bb["AssociationId"])
    assert gone["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "disassociating"
    assert gone["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"] == bb["Ipv6CidrBlock"]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [b["VpcId"]]}])["RouteTables"][0]
    assert not any(r.get("DestinationIpv6CidrBlock") for r in main["Routes"]), "its local route goes"
    # A caller-chosen block (AWS takes it from a BYOIP pool; Fort has none): sizes, overlap
    c = ec2.create_vpc(CidrBlock="10.32.0.0/16", Ipv6CidrBlock="2602:fe::/56")["Vpc"]
    assert c["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"] == "2602:fe::/56"
    assert "Ipv6Pool" not in c["Ipv6CidrBlockAssociationSet"][0]
    assert error_code(ec2.create_vpc, CidrBlock="10.33.0.0/16", Ipv6CidrBlock="2602:fe::/60") == "InvalidVpc.Range"
    assert error_code(ec2.create_vpc, CidrBlock="10.33.0.0/16", Ipv6CidrBlock="2602:ff::/64") == "InvalidVpc.Range"
    assert error_code(ec2.create_vpc, CidrBlock="10.33.0.0/16", Ipv6CidrBlock="nope/56") == "InvalidParameterValue"
    assert error_code(ec2.create_vpc, CidrBlock="10.33.0.0/16", Ipv6CidrBlock="2602:ff::/56",
                      Ipv6Pool="ipv6pool-ec2-0123456789abcdef0") == "InvalidIpv6PoolID.NotFound"
    assert error_code(ec2.create_vpc, CidrBlock="10.33.0.0/16", AmazonProvidedIpv6CidrBlock=True,
                      Ipv6CidrBlock="2602:ff::/56") == "InvalidParameterCombination"
    assert error_code(ec2.associate_vpc_cidr_block, VpcId=c["VpcId"], AmazonProvidedIpv6CidrBlock=True,
                      CidrBlock="10.34.0.0/16") == "InvalidParameterCombination"
    assert not [v for v in ec2.describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.33.0.0/16"], "refused: nothing made"
    for v in (a, b, c):
        ec2.delete_vpc(VpcId=v["VpcId"])


def test_disassociated_blocks_stay_shown_beside_new_ones(ec2):
    """EC2 goes on showing a disassociated block, state `disassociated`, after another is
    associated (Ansible's ec2_vpc_net checks this against AWS): the latest few stay."""
    v = ec2.create_vpc(CidrBlock="10.44.0.0/16")["Vpc"]
    vid = v["VpcId"]
    first = ec2.associate_vpc_cidr_block(VpcId=vid, AmazonProvidedIpv6CidrBlock=True)
    first = first["Ipv6CidrBlockAssociation"]["AssociationId"]
    ec2.disassociate_vpc_cidr_block(AssociationId=first)
    second = ec2.associate_vpc_cidr_block(VpcId=vid, AmazonProvidedIpv6CidrBlock=True)
    second = second["Ipv6CidrBlockAssociation"]["AssociationId"]
    shown = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"]
    states = {b["AssociationId"]: b["Ipv6CidrBlockState"]["State"] for b in shown}
    assert states == {first: "disassociated", second: "associated"}
    # the same for IPv4, and a disassociated block's association id is not one to act on
    a = ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock="10.45.0.0/16")["CidrBlockAssociation"]["AssociationId"]
    ec2.disassociate_vpc_cidr_block(AssociationId=a)
    b = ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock="10.45.0.0/16")["CidrBlockAssociation"]["AssociationId"]
    shown = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]["CidrBlockAssociationSet"]
    assert [(x["AssociationId"], x["CidrBlockState"]["State"]) for x in shown[1:]] == [
        (a, "disassociated"), (b, "associated")]
    assert error_code(ec2.disassociate_vpc_cidr_block, AssociationId=a) == "InvalidVpcCidrBlockAssociationID.NotFound"
    # at most four disassociated blocks of a family are kept, the latest
    gone = [b]
    for _ in range(5):
        ec2.disassociate_vpc_cidr_block(AssociationId=gone[-1])
        gone.append(ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock="10.45.0.0/16")
                    ["CidrBlockAssociation"]["AssociationId"])
    shown = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]["CidrBlockAssociationSet"]
    old = [x["AssociationId"] for x in shown if x["CidrBlockState"]["State"] == "disassociated"]
    assert old == gone[-5:-1]
    ec2.delete_vpc(VpcId=vid)


def test_modify_vpc_tenancy(ec2):
    v = ec2.create_vpc(CidrBlock="10.40.0.0/16", InstanceTenancy="dedicated")["Vpc"]
    assert error_code(ec2.modify_vpc_tenancy, VpcId=v["VpcId"], InstanceTenancy="dedicated") == "UnsupportedTenancy"
    ec2.modify_vpc_tenancy(VpcId=v["VpcId"], InstanceTenancy="default")
    assert ec2.describe_vpcs(VpcIds=[v["VpcId"]])["Vpcs"][0]["InstanceTenancy"] == "default"
    ec2.delete_vpc(VpcId=v["VpcId"])


def test_subnet_ipv6_blocks(ec2):
    v = ec2.create_vpc(CidrBlock="10.50.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    first = block.replace("::/56", "::/64")
    s = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.50.0.0/24", Ipv6CidrBlock=first)["Subnet"]
    [sa] = s["Ipv6CidrBlockAssociationSet"]
    assert sa["Ipv6CidrBlock"] == first and sa["AssociationId"].startswith("subnet-cidr-assoc-")
    assert sa["Ipv6CidrBlockState"]["State"] == "associated"
    assert s["Ipv6Native"] is False and s["AssignIpv6AddressOnCreation"] is False
    # AWS's validation: size, inside the VPC's block, no overlap; nothing made when refused
    cs = lambda **kw: error_code(ec2.create_subnet, VpcId=v["VpcId"], CidrBlock="10.50.1.0/24", **kw)
    assert cs(Ipv6CidrBlock=block.replace("::/56", "::/63")) == "InvalidParameterValue"
    assert cs(Ipv6CidrBlock="2001:db8::/64") == "InvalidSubnet.Range"
    assert cs(Ipv6CidrBlock=first) == "InvalidSubnet.Conflict"
    assert cs(Ipv6CidrBlock=block) == "InvalidSubnet.Conflict", "a /56 subnet would hold the /64"
    assert cs(Ipv6Native=True) == "MissingParameter"
    assert cs(Ipv6Native=True, Ipv6CidrBlock=first) == "InvalidParameterCombination"
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [v["VpcId"]]}])["Subnets"]) == 1
    plain = ec2.create_vpc(CidrBlock="10.51.0.0/16")["Vpc"]
    assert error_code(ec2.create_subnet, VpcId=plain["VpcId"], CidrBlock="10.51.0.0/24",
                      Ipv6CidrBlock="2001:db8::/64") == "InvalidSubnet.Range", "the VPC has no IPv6 block"
    ec2.delete_vpc(VpcId=plain["VpcId"])
    f = lambda n, x: [y["SubnetId"] for y in ec2.describe_subnets(Filters=[{"Name": n, "Values": [x]}])["Subnets"]]
    assert f("ipv6-cidr-block-association.ipv6-cidr-block", first) == [s["SubnetId"]]
    assert f("ipv6-cidr-block-association.association-id", sa["AssociationId"]) == [s["SubnetId"]]
    # AssignIpv6AddressOnCreation needs a block; an interface then gets an address from it
    ec2.modify_subnet_attribute(SubnetId=s["SubnetId"], AssignIpv6AddressOnCreation={"Value": True})
    e = ec2.create_network_interface(SubnetId=s["SubnetId"])["NetworkInterface"]
    [addr] = [x["Ipv6Address"] for x in e["Ipv6Addresses"]]
    assert addr.startswith(first.split("::")[0])
    assert error_code(ec2.disassociate_subnet_cidr_block, AssociationId=sa["AssociationId"]) == "InvalidParameterValue"
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    gone = ec2.disassociate_subnet_cidr_block(AssociationId=sa["AssociationId"])["Ipv6CidrBlockAssociation"]
    assert gone["Ipv6CidrBlockState"]["State"] == "disassociating"
    after = ec2.describe_subnets(SubnetIds=[s["SubnetId"]])["Subnets"][0]
    assert after["AssignIpv6AddressOnCreation"] is False
    assert error_code(ec2.modify_subnet_attribute, SubnetId=s["SubnetId"],
                      AssignIpv6AddressOnCreation={"Value": True}) == "InvalidParameterValue"
    second = block.replace("00::/56", "01::/64")
    got = ec2.associate_subnet_cidr_block(SubnetId=s["SubnetId"], Ipv6CidrBlock=second)
    assert got["SubnetId"] == s["SubnetId"]
    assert got["Ipv6CidrBlockAssociation"]["Ipv6CidrBlockState"]["State"] == "associating"
    assert error_code(ec2.associate_subnet_cidr_block, SubnetId=s["SubnetId"],
                      Ipv6CidrBlock=block.replace("00::/56", "02::/64")) == "InvalidParameterValue"
    # a VPC block in use by a subnet stays
    assert error_code(ec2.disassociate_vpc_cidr_block,
                      AssociationId=v["Ipv6CidrBlockAssociationSet"][0]["AssociationId"]) == "DependencyViolation"
    ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=v["VpcId"])


def test_subnet_errors_name_parameters_as_aws(ec2, vpc):
    try:
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.0.0/24", AvailabilityZone="nowhere")
    except ClientError as e:
        assert e.response["Error"]["Message"].startswith(
            "Value (nowhere) for parameter availabilityZone is invalid. Subnets can currently only be created in")
    else:
        pytest.fail("an unknown zone was accepted")


def test_subnet_cidr_reservations(ec2):
    v = ec2.create_vpc(CidrBlock="10.60.0.0/16", Ipv6CidrBlock="2602:60::/56")["Vpc"]
    s = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.60.0.0/24", Ipv6CidrBlock="2602:60::/64")["Subnet"]
    sid = s["SubnetId"]
    r4 = ec2.create_subnet_cidr_reservation(SubnetId=sid, ReservationType="prefix", Cidr="10.60.0.0/28",
                                            Description="d")["SubnetCidrReservation"]
    assert r4["SubnetCidrReservationId"].startswith("scr-")
    assert (r4["Cidr"], r4["ReservationType"], r4["SubnetId"], r4["Description"]) == ("10.60.0.0/28", "prefix", sid, "d")
    r6 = ec2.create_subnet_cidr_reservation(SubnetId=sid, ReservationType="explicit",
                                            Cidr="2602:60::2/127")["SubnetCidrReservation"]
    cr = lambda c, t="prefix": ec2.create_subnet_cidr_reservation(SubnetId=sid, ReservationType=t, Cidr=c)
    for bad, msg in [("10.61.0.0/31", "Reservation CIDR should be within subnet CIDR block (10.60.0.0/24)"),
                     ("10.60.0.2/31", "Reservation CIDR 10.60.0.2/31 has overlap with existing reserved CIDR block")]:
        with pytest.raises(ClientError) as exc:
            cr(bad)
        assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert exc.value.response["Error"]["Message"] == msg
    assert error_code(cr, "10.60.0.64/28", "sideways") == "InvalidParameterValue"
    got = ec2.get_subnet_cidr_reservations(SubnetId=sid)
    assert [r["SubnetCidrReservationId"] for r in got["SubnetIpv4CidrReservations"]] == [r4["SubnetCidrReservationId"]]
    assert [r["SubnetCidrReservationId"] for r in got["SubnetIpv6CidrReservations"]] == [r6["SubnetCidrReservationId"]]
    only = ec2.get_subnet_cidr_reservations(SubnetId=sid, Filters=[{"Name": "reservationType", "Values": ["explicit"]}])
    assert only["SubnetIpv4CidrReservations"] == [] and len(only["SubnetIpv6CidrReservations"]) == 1
    # reserved addresses are not handed out automatically
    e = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]
    assert e["PrivateIpAddress"] == "10.60.0.16"
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    deleted = ec2.delete_subnet_cidr_reservation(SubnetCidrReservationId=r4["SubnetCidrReservationId"])
    assert deleted["DeletedSubnetCidrReservation"]["Cidr"] == "10.60.0.0/28"
    assert error_code(ec2.delete_subnet_cidr_reservation,
                      SubnetCidrReservationId=r4["SubnetCidrReservationId"]) == "InvalidSubnetCidrReservationID.NotFound"
    assert ec2.get_subnet_cidr_reservations(SubnetId=sid)["SubnetIpv4CidrReservations"] == []
    ec2.delete_subnet(SubnetId=sid)
    ec2.delete_vpc(VpcId=v["VpcId"])


def test_ipv4_cidr_blocks_per_vpc(ec2):
    # AWS's default quota: five IPv4 blocks per VPC (the primary counts); the sixth is refused
    vid = ec2.create_vpc(CidrBlock="10.60.0.0/24")["Vpc"]["VpcId"]
    for i in range(1, 5):
        a = ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock=f"10.60.{i}.0/24")["CidrBlockAssociation"]
        assert a["CidrBlockState"]["State"] == "associating"
    try:
        ec2.associate_vpc_cidr_block(VpcId=vid, CidrBlock="10.60.8.0/22")
        pytest.fail("a sixth block was associated")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "CidrLimitExceeded"
        assert e.response["Error"]["Message"] == f"This network {vid} has met its maximum number of allowed CIDRs: 5"
    assert len(ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]["CidrBlockAssociationSet"]) == 5
    ec2.delete_vpc(VpcId=vid)


def test_ipv6_only_subnet(ec2):
    v = ec2.create_vpc(CidrBlock="10.61.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    # EC2's checks first: an IPv6-only subnet takes an IPv6 block and no IPv4 one
    assert error_code(ec2.create_subnet, VpcId=v["VpcId"], Ipv6Native=True) == "MissingParameter"
    assert error_code(ec2.create_subnet, VpcId=v["VpcId"], Ipv6Native=True, CidrBlock="10.61.0.0/24") == "MissingParameter"
    assert error_code(ec2.create_subnet, VpcId=v["VpcId"], Ipv6Native=True, CidrBlock="10.61.0.0/24",
                      Ipv6CidrBlock=block) == "InvalidParameterCombination"
    # a whole /56 as one subnet, as AWS allows (/44 to /64)
    s = ec2.create_subnet(VpcId=v["VpcId"], Ipv6Native=True, Ipv6CidrBlock=block)["Subnet"]
    assert s["Ipv6Native"] is True and s["AssignIpv6AddressOnCreation"] is True and s["State"] == "available"
    assert "CidrBlock" not in s and s["AvailableIpAddressCount"] == 0
    assert s["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"] == block
    assert s["PrivateDnsNameOptionsOnLaunch"]["HostnameType"] == "resource-name"
    [d] = ec2.describe_subnets(Filters=[{"Name": "ipv6-native", "Values": ["true"]},
                                        {"Name": "vpc-id", "Values": [v["VpcId"]]}])["Subnets"]
    assert d["SubnetId"] == s["SubnetId"] and "CidrBlock" not in d
    # an IPv4 subnet still fits beside it (the address families do not meet)
    ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.61.0.0/24")
    # its only block stays
    sa = s["Ipv6CidrBlockAssociationSet"][0]["AssociationId"]
    assert error_code(ec2.disassociate_subnet_cidr_block, AssociationId=sa) == "InvalidParameterValue"
    # its interfaces have IPv6 addresses alone (tests/api/test_ipv6_services.py has more)
    e = ec2.create_network_interface(SubnetId=s["SubnetId"])["NetworkInterface"]
    assert "PrivateIpAddress" not in e and e["PrivateIpAddresses"] == [] and e["Ipv6Native"] is True
    assert len(e["Ipv6Addresses"]) == 1
    assert error_code(ec2.create_network_interface, SubnetId=s["SubnetId"],
                      PrivateIpAddress="10.61.0.9") == "InvalidParameterCombination"
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    for x in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [v["VpcId"]]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=x["SubnetId"])
    ec2.delete_vpc(VpcId=v["VpcId"])


def test_create_answers_pending(ec2):
    # CreateVpc answers the VPC `pending`, as EC2 does; Describe shows it available
    v = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]
    assert v["State"] == "pending" and v["IsDefault"] is False and v["Ipv6CidrBlockAssociationSet"] == []
    assert "Tags" not in v, "EC2 leaves an empty tag set out of CreateVpc's answer"
    assert ec2.describe_vpcs(VpcIds=[v["VpcId"]])["Vpcs"][0]["State"] == "available"
    ec2.get_waiter("vpc_available").wait(VpcIds=[v["VpcId"]])
    ec2.delete_vpc(VpcId=v["VpcId"])
