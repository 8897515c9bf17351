"""VPC Block Public Access: the account's options in a region and its exclusions (kept and
answered as EC2 does; Fort's data plane does not enforce them yet)."""

import datetime

from conftest import error_code


def test_options(fort):
    ec2 = fort.client(region="eu-west-3")
    o = ec2.describe_vpc_block_public_access_options()["VpcBlockPublicAccessOptions"]
    assert o["AwsAccountId"] == "123456789012" and o["AwsRegion"] == "eu-west-3"
    assert o["State"] == "default-state" and o["InternetGatewayBlockMode"] == "off"
    assert o["ManagedBy"] == "account" and o["ExclusionsAllowed"] == "allowed"
    assert "LastUpdateTimestamp" not in o
    # Modify answers the change in progress; Describe shows it settled.
    m = ec2.modify_vpc_block_public_access_options(InternetGatewayBlockMode="block-ingress")["VpcBlockPublicAccessOptions"]
    assert m["State"] == "update-in-progress" and m["InternetGatewayBlockMode"] == "block-ingress"
    o = ec2.describe_vpc_block_public_access_options()["VpcBlockPublicAccessOptions"]
    assert o["State"] == "update-complete" and o["InternetGatewayBlockMode"] == "block-ingress"
    assert isinstance(o["LastUpdateTimestamp"], datetime.datetime)
    # Per region.
    assert fort.client(region="eu-west-2").describe_vpc_block_public_access_options()["VpcBlockPublicAccessOptions"]["InternetGatewayBlockMode"] == "off"
    assert error_code(ec2.modify_vpc_block_public_access_options, InternetGatewayBlockMode="block-all") == "InvalidParameterValue"
    ec2.modify_vpc_block_public_access_options(InternetGatewayBlockMode="off")
    assert ec2.describe_vpc_block_public_access_options()["VpcBlockPublicAccessOptions"]["InternetGatewayBlockMode"] == "off"


def test_exclusions(ec2, vpc):
    sid = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    r = ec2.create_vpc_block_public_access_exclusion(
        VpcId=vpc["VpcId"], InternetGatewayExclusionMode="allow-egress",
        TagSpecifications=[{"ResourceType": "vpc-block-public-access-exclusion", "Tags": [{"Key": "Name", "Value": "x"}]}],
    )["VpcBlockPublicAccessExclusion"]
    xid = r["ExclusionId"]
    assert xid.startswith("vpcbpa-exclude-") and len(xid) == len("vpcbpa-exclude-") + 17
    assert r["State"] == "create-in-progress" and r["InternetGatewayExclusionMode"] == "allow-egress"
    assert r["ResourceArn"] == f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc['VpcId']}"
    assert r["Tags"] == [{"Key": "Name", "Value": "x"}]
    [d] = ec2.describe_vpc_block_public_access_exclusions(ExclusionIds=[xid])["VpcBlockPublicAccessExclusions"]
    assert d["State"] == "create-complete" and "DeletionTimestamp" not in d
    s = ec2.create_vpc_block_public_access_exclusion(SubnetId=sid, InternetGatewayExclusionMode="allow-bidirectional")["VpcBlockPublicAccessExclusion"]
    assert s["ResourceArn"].endswith(f":subnet/{sid}")
    # Filters.
    got = ec2.describe_vpc_block_public_access_exclusions(Filters=[{"Name": "internet-gateway-exclusion-mode", "Values": ["allow-bidirectional"]}])["VpcBlockPublicAccessExclusions"]
    assert [x["ExclusionId"] for x in got] == [s["ExclusionId"]]
    got = ec2.describe_vpc_block_public_access_exclusions(Filters=[{"Name": "resource-arn", "Values": [r["ResourceArn"]]}])["VpcBlockPublicAccessExclusions"]
    assert [x["ExclusionId"] for x in got] == [xid]
    got = ec2.describe_vpc_block_public_access_exclusions(Filters=[{"Name": "tag:Name", "Values": ["x"]}])["VpcBlockPublicAccessExclusions"]
    assert [x["ExclusionId"] for x in got] == [xid]
    # Tags by CreateTags too.
    ec2.create_tags(Resources=[s["ExclusionId"]], Tags=[{"Key": "k", "Value": "v"}])
    [d] = ec2.describe_vpc_block_public_access_exclusions(ExclusionIds=[s["ExclusionId"]])["VpcBlockPublicAccessExclusions"]
    assert d["Tags"] == [{"Key": "k", "Value": "v"}]
    # Modify: `update-in-progress`, then `update-complete`.
    m = ec2.modify_vpc_block_public_access_exclusion(ExclusionId=xid, InternetGatewayExclusionMode="allow-bidirectional")["VpcBlockPublicAccessExclusion"]
    assert m["State"] == "update-in-progress" and m["InternetGatewayExclusionMode"] == "allow-bidirectional"
    [d] = ec2.describe_vpc_block_public_access_exclusions(ExclusionIds=[xid])["VpcBlockPublicAccessExclusions"]
    assert d["State"] == "update-complete" and d["InternetGatewayExclusionMode"] == "allow-bidirectional"
    # Errors.
    assert error_code(ec2.create_vpc_block_public_access_exclusion, VpcId=vpc["VpcId"], InternetGatewayExclusionMode="allow-egress") == "InvalidParameterValue"
    assert error_code(ec2.create_vpc_block_public_access_exclusion, VpcId=vpc["VpcId"], SubnetId=sid, InternetGatewayExclusionMode="allow-egress") == "InvalidParameterCombination"
    assert error_code(ec2.create_vpc_block_public_access_exclusion, InternetGatewayExclusionMode="allow-egress") == "MissingParameter"
    assert error_code(ec2.create_vpc_block_public_access_exclusion, VpcId="vpc-0123456789abcdef0", InternetGatewayExclusionMode="allow-egress") == "InvalidVpcID.NotFound"
    assert error_code(ec2.create_vpc_block_public_access_exclusion, SubnetId="subnet-0123456789abcdef0", InternetGatewayExclusionMode="allow-egress") == "InvalidSubnetID.NotFound"
    assert error_code(ec2.modify_vpc_block_public_access_exclusion, ExclusionId=xid, InternetGatewayExclusionMode="allow-all") == "InvalidParameterValue"
    assert error_code(ec2.describe_vpc_block_public_access_exclusions, ExclusionIds=["vpcbpa-exclude-0123456789abcdef0"]) == "InvalidVpcBlockPublicAccessExclusionId.NotFound"
    assert error_code(ec2.delete_vpc_block_public_access_exclusion, ExclusionId="vpcbpa-exclude-0123456789abcdef0") == "InvalidVpcBlockPublicAccessExclusionId.NotFound"
    # Delete: `delete-in-progress`, then described `delete-complete` for a while; a second
    # delete says so in the words Terraform's delete recognises.
    g = ec2.delete_vpc_block_public_access_exclusion(ExclusionId=xid)["VpcBlockPublicAccessExclusion"]
    assert g["State"] == "delete-in-progress" and "DeletionTimestamp" in g
    [d] = ec2.describe_vpc_block_public_access_exclusions(ExclusionIds=[xid])["VpcBlockPublicAccessExclusions"]
    assert d["State"] == "delete-complete"
    try:
        ec2.delete_vpc_block_public_access_exclusion(ExclusionId=xid)
        raise AssertionError("a second delete succeeded")
    except ec2.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidParameterValue"
        assert "is in delete-complete state and cannot be deleted" in e.response["Error"]["Message"]
    assert error_code(ec2.modify_vpc_block_public_access_exclusion, ExclusionId=xid, InternetGatewayExclusionMode="allow-egress") == "InvalidParameterValue"
    # The VPC can take a new exclusion once the old one is deleted.
    again = ec2.create_vpc_block_public_access_exclusion(VpcId=vpc["VpcId"], InternetGatewayExclusionMode="allow-egress")["VpcBlockPublicAccessExclusion"]
    for x in (again["ExclusionId"], s["ExclusionId"]):
        ec2.delete_vpc_block_public_access_exclusion(ExclusionId=x)
    ec2.delete_subnet(SubnetId=sid)
