"""RDS, ElastiCache and Redshift subnet groups: what configurations that make a VPC also make
(terraform-aws-vpc makes one of each by default for its database, elasticache and redshift
subnets). Shapes and codes as the botocore models of the three services say."""

import uuid

import pytest

from conftest import Fort, error_code, http_status


@pytest.fixture
def subnets(ec2, vpc):
    vid = vpc["VpcId"]
    made = [ec2.create_subnet(VpcId=vid, CidrBlock=f"10.0.{i}.0/24",
                              AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
            for i, z in [(1, "a"), (2, "b"), (3, "a")]]
    yield made
    for s in made:
        ec2.delete_subnet(SubnetId=s)


def name():
    return f"Fort-{uuid.uuid4().hex[:8]}"


def test_rds_db_subnet_group(fort, ec2, vpc, subnets):
    rds = fort.client("rds")
    n = name()
    g = rds.create_db_subnet_group(
        DBSubnetGroupName=n, DBSubnetGroupDescription="databases", SubnetIds=subnets[:2],
        Tags=[{"Key": "Tier", "Value": "db"}])["DBSubnetGroup"]
    # stored lowercase, as RDS does
    assert g["DBSubnetGroupName"] == n.lower()
    assert g["VpcId"] == vpc["VpcId"] and g["SubnetGroupStatus"] == "Complete"
    assert {s["SubnetIdentifier"] for s in g["Subnets"]} == set(subnets[:2])
    assert sorted(s["SubnetAvailabilityZone"]["Name"] for s in g["Subnets"]) == ["us-east-1a", "us-east-1b"]
    assert all(s["SubnetStatus"] == "Active" for s in g["Subnets"])
    assert g["DBSubnetGroupArn"] == f"arn:aws:rds:us-east-1:123456789012:subgrp:{n.lower()}"
    assert g["SupportedNetworkTypes"] == ["IPV4"]
    [d] = rds.describe_db_subnet_groups(DBSubnetGroupName=n)["DBSubnetGroups"]
    assert d == g
    assert n.lower() in [x["DBSubnetGroupName"] for x in rds.describe_db_subnet_groups()["DBSubnetGroups"]]
    tags = rds.list_tags_for_resource(ResourceName=g["DBSubnetGroupArn"])["TagList"]
    assert tags == [{"Key": "Tier", "Value": "db"}]
    rds.add_tags_to_resource(ResourceName=g["DBSubnetGroupArn"], Tags=[{"Key": "Owner", "Value": "me"}])
    rds.remove_tags_from_resource(ResourceName=g["DBSubnetGroupArn"], TagKeys=["Tier"])
    assert rds.list_tags_for_resource(ResourceName=g["DBSubnetGroupArn"])["TagList"] == [
        {"Key": "Owner", "Value": "me"}]
    m = rds.modify_db_subnet_group(DBSubnetGroupName=n, DBSubnetGroupDescription="more",
                                   SubnetIds=subnets)["DBSubnetGroup"]
    assert m["DBSubnetGroupDescription"] == "more" and len(m["Subnets"]) == 3
    # one name per account and region; RDS wants two zones
    assert error_code(rds.create_db_subnet_group, DBSubnetGroupName=n, DBSubnetGroupDescription="x",
                      SubnetIds=subnets[:2]) == "DBSubnetGroupAlreadyExists"
    assert error_code(rds.create_db_subnet_group, DBSubnetGroupName=name(), DBSubnetGroupDescription="x",
                      SubnetIds=[subnets[0], subnets[2]]) == "DBSubnetGroupDoesNotCoverEnoughAZs"
    assert error_code(rds.create_db_subnet_group, DBSubnetGroupName=name(), DBSubnetGroupDescription="x",
                      SubnetIds=[subnets[0], "subnet-0123456789abcdef0"]) == "InvalidSubnet"
    rds.delete_db_subnet_group(DBSubnetGroupName=n)
    assert error_code(rds.describe_db_subnet_groups, DBSubnetGroupName=n) == "DBSubnetGroupNotFoundFault"
    assert http_status(rds.describe_db_subnet_groups, DBSubnetGroupName=n) == 404
    assert error_code(rds.delete_db_subnet_group, DBSubnetGroupName=n) == "DBSubnetGroupNotFoundFault"
    # not EC2's: EC2's tags never show them
    assert not [t for t in ec2.describe_tags()["Tags"] if t["Key"] == "Owner"]


def test_elasticache_cache_subnet_group(fort, vpc, subnets):
    cache = fort.client("elasticache")
    n = name()
    g = cache.create_cache_subnet_group(
        CacheSubnetGroupName=n, CacheSubnetGroupDescription="caches", SubnetIds=[subnets[0]],
        Tags=[{"Key": "Tier", "Value": "cache"}])["CacheSubnetGroup"]
    assert g["CacheSubnetGroupName"] == n.lower() and g["VpcId"] == vpc["VpcId"]
    assert g["ARN"] == f"arn:aws:elasticache:us-east-1:123456789012:subnetgroup:{n.lower()}"
    assert [s["SubnetIdentifier"] for s in g["Subnets"]] == [subnets[0]]
    assert g["Subnets"][0]["SubnetAvailabilityZone"] == {"Name": "us-east-1a"}
    assert cache.describe_cache_subnet_groups(CacheSubnetGroupName=n)["CacheSubnetGroups"] == [g]
    assert cache.list_tags_for_resource(ResourceName=g["ARN"])["TagList"] == [{"Key": "Tier", "Value": "cache"}]
    after = cache.add_tags_to_resource(ResourceName=g["ARN"], Tags=[{"Key": "A", "Value": "1"}])["TagList"]
    assert {t["Key"] for t in after} == {"A", "Tier"}
    m = cache.modify_cache_subnet_group(CacheSubnetGroupName=n, CacheSubnetGroupDescription="d",
                                        SubnetIds=subnets[:2])["CacheSubnetGroup"]
    assert m["CacheSubnetGroupDescription"] == "d" and len(m["Subnets"]) == 2
    assert error_code(cache.create_cache_subnet_group, CacheSubnetGroupName=n,
                      CacheSubnetGroupDescription="x", SubnetIds=[subnets[0]]) == "CacheSubnetGroupAlreadyExists"
    cache.delete_cache_subnet_group(CacheSubnetGroupName=n)
    assert error_code(cache.describe_cache_subnet_groups,
                      CacheSubnetGroupName=n) == "CacheSubnetGroupNotFoundFault"
    # Fort runs no caches: other actions are not served
    assert error_code(cache.describe_cache_clusters) == "InvalidAction"


def test_redshift_cluster_subnet_group(fort, vpc, subnets):
    redshift = fort.client("redshift")
    n = name().lower()
    g = redshift.create_cluster_subnet_group(
        ClusterSubnetGroupName=n, Description="warehouse", SubnetIds=subnets[:2],
        Tags=[{"Key": "Tier", "Value": "dw"}])["ClusterSubnetGroup"]
    assert g["ClusterSubnetGroupName"] == n and g["Description"] == "warehouse"
    assert g["VpcId"] == vpc["VpcId"] and g["SubnetGroupStatus"] == "Complete"
    assert g["Tags"] == [{"Key": "Tier", "Value": "dw"}]
    assert {s["SubnetIdentifier"] for s in g["Subnets"]} == set(subnets[:2])
    [d] = redshift.describe_cluster_subnet_groups(ClusterSubnetGroupName=n)["ClusterSubnetGroups"]
    assert d == g
    arn = f"arn:aws:redshift:us-east-1:123456789012:subnetgroup:{n}"
    redshift.create_tags(ResourceName=arn, Tags=[{"Key": "B", "Value": "2"}])
    redshift.delete_tags(ResourceName=arn, TagKeys=["Tier"])
    [d] = redshift.describe_cluster_subnet_groups(ClusterSubnetGroupName=n)["ClusterSubnetGroups"]
    assert d["Tags"] == [{"Key": "B", "Value": "2"}]
    redshift.delete_cluster_subnet_group(ClusterSubnetGroupName=n)
    assert error_code(redshift.describe_cluster_subnet_groups,
                      ClusterSubnetGroupName=n) == "ClusterSubnetGroupNotFoundFault"


def test_subnet_groups_survive_a_restart():
    f = Fort()
    try:
        ec2 = f.client()
        vid = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        s = [ec2.create_subnet(VpcId=vid, CidrBlock=f"10.9.{i}.0/24",
                               AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
             for i, z in [(1, "a"), (2, "b")]]
        rds = f.client("rds")
        rds.create_db_subnet_group(DBSubnetGroupName="durable", DBSubnetGroupDescription="d",
                                   SubnetIds=s, Tags=[{"Key": "k", "Value": "v"}])
        before = rds.describe_db_subnet_groups(DBSubnetGroupName="durable")["DBSubnetGroups"]
        f.stop()
        f.start()
        rds = f.client("rds")
        assert rds.describe_db_subnet_groups(DBSubnetGroupName="durable")["DBSubnetGroups"] == before
        arn = before[0]["DBSubnetGroupArn"]
        assert rds.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "k", "Value": "v"}]
    finally:
        f.close()
