"""Placement groups: created with their strategy's defaults (two partitions, rack spread),
described by name, id and filters, named at launch (by name or id, with a partition), shown
on the instance, and not deleted while an instance is in them (aws_placement_group and
aws_instance's placement_group in Terraform)."""

import uuid

import pytest

from conftest import error_code

AMI = "ami-0123456789abcdef0"


def unique(prefix="pg"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.7.0/24")["Subnet"]
    yield s["SubnetId"]
    for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["Reservations"]:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])
    for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_create_describe_delete_with_each_strategy(ec2):
    cluster, spread, part = unique(), unique(), unique()
    made = ec2.create_placement_group(
        GroupName=cluster, Strategy="cluster",
        TagSpecifications=[{"ResourceType": "placement-group", "Tags": [{"Key": "Name", "Value": "web"}]}],
    )["PlacementGroup"]
    assert made["GroupName"] == cluster and made["State"] == "available" and made["Strategy"] == "cluster"
    assert made["GroupId"].startswith("pg-") and made["Tags"] == [{"Key": "Name", "Value": "web"}]
    assert made["GroupArn"] == f"arn:aws:ec2:us-east-1:123456789012:placement-group/{cluster}"
    assert "PartitionCount" not in made and "SpreadLevel" not in made
    ec2.create_placement_group(GroupName=spread, Strategy="spread")
    ec2.create_placement_group(GroupName=part, Strategy="partition")

    got = {g["GroupName"]: g for g in ec2.describe_placement_groups(GroupNames=[cluster, spread, part])["PlacementGroups"]}
    assert got[spread]["SpreadLevel"] == "rack"
    assert got[part]["PartitionCount"] == 2  # EC2's default
    by_id = ec2.describe_placement_groups(GroupIds=[made["GroupId"]])["PlacementGroups"]
    assert [g["GroupName"] for g in by_id] == [cluster]
    flt = ec2.describe_placement_groups(Filters=[{"Name": "strategy", "Values": ["partition"]},
                                                 {"Name": "group-name", "Values": [part, spread]}])["PlacementGroups"]
    assert [g["GroupName"] for g in flt] == [part]
    tagged = ec2.describe_placement_groups(Filters=[{"Name": "tag:Name", "Values": ["web"]}])["PlacementGroups"]
    assert [g["GroupName"] for g in tagged] == [cluster]

    assert error_code(ec2.create_placement_group, GroupName=cluster, Strategy="spread") == "InvalidPlacementGroup.Duplicate"
    for name in (cluster, spread, part):
        ec2.delete_placement_group(GroupName=name)
    assert error_code(ec2.describe_placement_groups, GroupNames=[cluster]) == "InvalidPlacementGroup.Unknown"
    assert error_code(ec2.delete_placement_group, GroupName=cluster) == "InvalidPlacementGroup.Unknown"
    assert error_code(ec2.describe_placement_groups, GroupIds=["group-1"]) == "InvalidPlacementGroupId.Malformed"


def test_options_belong_to_their_strategy(ec2):
    name = unique()
    assert error_code(ec2.create_placement_group, GroupName=name, Strategy="pack") == "InvalidParameterValue"
    assert error_code(ec2.create_placement_group, GroupName=name, Strategy="cluster",
                      PartitionCount=2) == "InvalidParameterCombination"
    assert error_code(ec2.create_placement_group, GroupName=name, Strategy="partition",
                      PartitionCount=8) == "InvalidParameterValue"
    assert error_code(ec2.create_placement_group, GroupName=name, Strategy="partition",
                      SpreadLevel="host") == "InvalidParameterCombination"
    assert error_code(ec2.create_placement_group, GroupName=name, Strategy="spread",
                      SpreadLevel="row") == "InvalidParameterValue"
    g = ec2.create_placement_group(GroupName=name, Strategy="spread", SpreadLevel="host")["PlacementGroup"]
    assert g["SpreadLevel"] == "host"
    ec2.delete_placement_group(GroupName=name)


def test_instances_launch_into_a_group_and_its_partitions(ec2, subnet):
    name = unique()
    g = ec2.create_placement_group(GroupName=name, Strategy="partition", PartitionCount=3)["PlacementGroup"]
    # without a partition asked for, instances fill the partitions evenly
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=AMI, MinCount=3, MaxCount=3, SubnetId=subnet, Placement={"GroupName": name})["Instances"]]
    insts = [r_i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"] for r_i in r["Instances"]]
    assert {i["Placement"]["GroupName"] for i in insts} == {name}
    assert {i["Placement"]["GroupId"] for i in insts} == {g["GroupId"]}
    assert sorted(i["Placement"]["PartitionNumber"] for i in insts) == [1, 2, 3]
    two = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet,
                            Placement={"GroupId": g["GroupId"], "PartitionNumber": 2})["Instances"][0]
    assert two["Placement"]["PartitionNumber"] == 2 and two["Placement"]["GroupName"] == name
    flt = ec2.describe_instances(Filters=[{"Name": "placement-group-name", "Values": [name]},
                                          {"Name": "placement-partition-number", "Values": ["2"]}])["Reservations"]
    assert sorted(i["InstanceId"] for r in flt for i in r["Instances"]) == sorted(
        [i["InstanceId"] for i in insts if i["Placement"]["PartitionNumber"] == 2] + [two["InstanceId"]])

    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet,
                      Placement={"GroupName": name, "PartitionNumber": 4}) == "InvalidParameterValue"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet,
                      Placement={"GroupName": unique()}) == "InvalidPlacementGroup.Unknown"
    # in use until its instances are terminated
    assert error_code(ec2.delete_placement_group, GroupName=name) == "InvalidPlacementGroup.InUse"
    ec2.terminate_instances(InstanceIds=ids + [two["InstanceId"]])
    ec2.delete_placement_group(GroupName=name)


def test_an_instance_outside_groups_shows_an_empty_group_name(ec2, subnet):
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
    assert i["Placement"]["GroupName"] == "" and "PartitionNumber" not in i["Placement"]
    cluster = unique()
    ec2.create_placement_group(GroupName=cluster, Strategy="cluster")
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet,
                      Placement={"GroupName": cluster, "PartitionNumber": 1}) == "InvalidParameterCombination"
    ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    ec2.delete_placement_group(GroupName=cluster)


def test_tenancy_is_kept_and_shown(ec2, subnet):
    """`Placement.Tenancy` `dedicated` is kept and shown (and filtered by `tenancy`), as is
    a dedicated VPC's for every instance launched into it (Ansible's
    ec2_instance_placement_options checks it on AWS)."""
    plain = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
    ded = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.micro",
                            Placement={"Tenancy": "dedicated"})["Instances"][0]
    assert plain["Placement"]["Tenancy"] == "default"
    assert ded["Placement"]["Tenancy"] == "dedicated"
    got = ec2.describe_instances(InstanceIds=[ded["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert got["Placement"]["Tenancy"] == "dedicated"
    found = ec2.describe_instances(Filters=[{"Name": "tenancy", "Values": ["dedicated"]},
                                            {"Name": "subnet-id", "Values": [subnet]}])["Reservations"]
    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [ded["InstanceId"]]
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet,
                      Placement={"Tenancy": "shared"}) == "InvalidParameterValue"
    # a dedicated VPC's instances are dedicated whatever they ask
    v = ec2.create_vpc(CidrBlock="10.72.0.0/16", InstanceTenancy="dedicated")["Vpc"]
    s = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.72.1.0/24")["Subnet"]["SubnetId"]
    inner = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=s)["Instances"][0]
    try:
        assert inner["Placement"]["Tenancy"] == "dedicated"
    finally:
        ec2.terminate_instances(InstanceIds=[inner["InstanceId"]])
        for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s]}])["NetworkInterfaces"]:
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s)
        ec2.delete_vpc(VpcId=v["VpcId"])
