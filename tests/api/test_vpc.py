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
