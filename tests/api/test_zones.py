"""Regions, availability zones, account attributes and instance types as EC2 answers them."""

from botocore.exceptions import ClientError
import pytest

from conftest import error_code


def test_zones_of_us_east_1(ec2):
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == [f"us-east-1{c}" for c in "abcdef"]
    assert sorted(z["ZoneId"] for z in zones) == [f"use1-az{n}" for n in range(1, 7)]
    a = zones[0]
    # The fields of the zone AWS recorded for us-east-1a (LocalStack's snapshot).
    assert a == {
        "OptInStatus": "opt-in-not-required",
        "Messages": [],
        "RegionName": "us-east-1",
        "ZoneName": "us-east-1a",
        "ZoneId": "use1-az6",
        "GroupName": "us-east-1-zg-1",
        "NetworkBorderGroup": "us-east-1",
        "ZoneType": "availability-zone",
        "GroupLongName": "US East (N. Virginia) 1",
        "State": "available",
    }
    assert len(ec2.describe_availability_zones(AllAvailabilityZones=True)["AvailabilityZones"]) == 6


def test_zone_parameters_and_filters(ec2):
    def names(**kw):
        return [z["ZoneName"] for z in ec2.describe_availability_zones(**kw)["AvailabilityZones"]]

    assert names(ZoneIds=["use1-az1"]) == ["us-east-1b"]
    assert names(ZoneNames=["us-east-1a", "us-east-1f"]) == ["us-east-1a", "us-east-1f"]
    assert names(Filters=[{"Name": "zone-id", "Values": ["use1-az6", "use1-az2"]}]) == ["us-east-1a", "us-east-1c"]
    assert names(Filters=[{"Name": "zone-name", "Values": ["us-east-1d"]}]) == ["us-east-1d"]
    assert len(names(Filters=[{"Name": "region-name", "Values": ["us-east-1"]}])) == 6
    assert len(names(Filters=[{"Name": "group-name", "Values": ["us-east-1-zg-1"]}])) == 6
    assert len(names(Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}])) == 6
    assert len(names(Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required"]}])) == 6
    assert names(Filters=[{"Name": "state", "Values": ["unavailable"]}]) == []
    assert names(Filters=[{"Name": "zone-type", "Values": ["local-zone"]}]) == []
    assert error_code(ec2.describe_availability_zones, ZoneNames=["us-east-1z"]) == "InvalidParameterValue"
    assert error_code(ec2.describe_availability_zones, ZoneIds=["use1-az9"]) == "InvalidParameterValue"
    assert error_code(ec2.describe_availability_zones, Filters=[{"Name": "colour", "Values": ["x"]}]) == "InvalidParameterValue"


@pytest.mark.parametrize(
    "region,count,first_id",
    [("us-west-2", 4, "usw2-az2"), ("eu-west-1", 3, "euw1-az3"), ("ap-northeast-1", 3, "apne1-az4"),
     ("us-west-1", 2, "usw1-az3"), ("sa-east-1", 3, "sae1-az1")],
)
def test_zones_of_other_regions(fort, region, count, first_id):
    c = fort.client(region=region)
    zones = c.describe_availability_zones()["AvailabilityZones"]
    assert len(zones) == count
    assert zones[0]["ZoneId"] == first_id
    assert all(z["RegionName"] == region and z["GroupName"] == f"{region}-zg-1" for z in zones)


def test_subnets_and_volumes_in_every_zone(ec2, vpc):
    vpc = vpc["VpcId"]
    # Every zone of the region is there for the API, whatever --zones says for hosts.
    s = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.60.0/24", AvailabilityZoneId="use1-az5")["Subnet"]
    assert (s["AvailabilityZone"], s["AvailabilityZoneId"]) == ("us-east-1f", "use1-az5")
    got = ec2.describe_subnets(SubnetIds=[s["SubnetId"]])["Subnets"][0]
    assert got["AvailabilityZoneId"] == "use1-az5"
    t = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.61.0/24", AvailabilityZone="us-east-1e")["Subnet"]
    assert t["AvailabilityZoneId"] == "use1-az3"
    found = ec2.describe_subnets(Filters=[{"Name": "availability-zone-id", "Values": ["use1-az5"]}, {"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert [x["SubnetId"] for x in found] == [s["SubnetId"]]
    assert error_code(ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.62.0/24", AvailabilityZoneId="use1-az9") == "InvalidParameterValue"
    assert error_code(ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.62.0/24", AvailabilityZoneId="usw2-az1") == "InvalidParameterValue"
    v = ec2.create_volume(AvailabilityZone="us-east-1d", Size=1)
    assert v["AvailabilityZone"] == "us-east-1d"
    w = ec2.create_volume(AvailabilityZoneId="use1-az6", Size=1)
    assert w["AvailabilityZone"] == "us-east-1a"
    for x in (v, w):
        ec2.delete_volume(VolumeId=x["VolumeId"])
    for x in (s, t):
        ec2.delete_subnet(SubnetId=x["SubnetId"])


def test_default_vpc_has_a_subnet_per_zone(ec2):
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == [f"us-east-1{c}" for c in "abcdef"]


def test_regions(ec2):
    regions = ec2.describe_regions()["Regions"]
    names = [r["RegionName"] for r in regions]
    assert {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "sa-east-1"} <= set(names)
    # Without AllRegions: only the regions enabled for the account.
    assert "ap-east-1" not in names
    assert all(r["OptInStatus"] == "opt-in-not-required" for r in regions)
    assert all(r["Endpoint"] == f"ec2.{r['RegionName']}.amazonaws.com" for r in regions)
    every = ec2.describe_regions(AllRegions=True)["Regions"]
    hk = [r for r in every if r["RegionName"] == "ap-east-1"]
    assert hk == [{"Endpoint": "ec2.ap-east-1.amazonaws.com", "RegionName": "ap-east-1", "OptInStatus": "not-opted-in"}]
    assert len(every) > len(regions)
    assert [r["RegionName"] for r in ec2.describe_regions(RegionNames=["ap-east-1"])["Regions"]] == ["ap-east-1"]
    assert [r["RegionName"] for r in ec2.describe_regions(Filters=[{"Name": "region-name", "Values": ["eu-*"]}])["Regions"]] == [
        "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3"]
    opted = ec2.describe_regions(AllRegions=True, Filters=[{"Name": "opt-in-status", "Values": ["not-opted-in"]}])["Regions"]
    assert "me-south-1" in [r["RegionName"] for r in opted]
    assert error_code(ec2.describe_regions, RegionNames=["mars-1"]) == "InvalidParameterValue"


def test_account_attributes(ec2):
    attrs = ec2.describe_account_attributes()["AccountAttributes"]
    names = [a["AttributeName"] for a in attrs]
    assert names == ["vpc-max-security-groups-per-interface", "max-instances", "supported-platforms",
                     "default-vpc", "max-elastic-ips", "vpc-max-elastic-ips"]
    by = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]] for a in attrs}
    assert by["supported-platforms"] == ["VPC"]
    assert by["default-vpc"][0].startswith("vpc-")
    one = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
    assert [a["AttributeName"] for a in one] == ["default-vpc"]


def test_instance_type_catalogue(ec2):
    got = ec2.describe_instance_types(InstanceTypes=["t1.micro", "t2.nano", "p3dn.24xlarge", "g4ad.8xlarge", "m5.metal", "t4g.nano"])["InstanceTypes"]
    by = {t["InstanceType"]: t for t in got}
    assert set(by) == {"t1.micro", "t2.nano", "p3dn.24xlarge", "g4ad.8xlarge", "m5.metal", "t4g.nano"}
    assert by["t1.micro"]["CurrentGeneration"] is False
    assert by["t2.nano"]["VCpuInfo"]["DefaultVCpus"] == 1
    assert by["t2.nano"]["MemoryInfo"]["SizeInMiB"] == 512
    assert by["t2.nano"]["BurstablePerformanceSupported"] is True
    assert by["t4g.nano"]["ProcessorInfo"]["SupportedArchitectures"] == ["arm64"]
    assert by["m5.metal"]["BareMetal"] is True and "Hypervisor" not in by["m5.metal"]
    assert by["m5.metal"]["VCpuInfo"]["DefaultVCpus"] == 96
    gpu = by["p3dn.24xlarge"]["GpuInfo"]["Gpus"][0]
    assert (gpu["Name"], gpu["Manufacturer"], gpu["Count"]) == ("V100", "NVIDIA", 8)
    assert (gpu["LogicalGpuCount"], gpu["GpuPartitionSize"], gpu["Workloads"]) == (8, 1.0, ["ml-ai"])
    radeon = by["g4ad.8xlarge"]["GpuInfo"]
    assert sorted(radeon["Gpus"][0]["Workloads"]) == ["graphics", "ml-ai"] and radeon["TotalGpuMemoryInMiB"] == 16384
    # g6f types get a slice of one L4.
    [slice_] = ec2.describe_instance_types(InstanceTypes=["g6f.2xlarge"])["InstanceTypes"][0]["GpuInfo"]["Gpus"]
    assert (slice_["Count"], slice_["LogicalGpuCount"], slice_["GpuPartitionSize"], slice_["MemoryInfo"]["SizeInMiB"]) == (0, 1, 0.25, 5722)
    assert ec2.describe_instance_types(InstanceTypes=["p3.2xlarge"])["InstanceTypes"][0]["MemoryInfo"]["SizeInMiB"] == 62464
    assert error_code(ec2.describe_instance_types, InstanceTypes=["t2.gigantic"]) == "InvalidInstanceType"
    paginator = ec2.get_paginator("describe_instance_types")
    everything = [t["InstanceType"] for page in paginator.paginate() for t in page["InstanceTypes"]]
    assert len(everything) > 800 and len(everything) == len(set(everything))


def test_instance_type_filters(ec2):
    def types(*filters):
        p = ec2.get_paginator("describe_instance_types")
        f = [{"Name": n, "Values": v} for n, v in filters]
        return {t["InstanceType"] for page in p.paginate(Filters=f) for t in page["InstanceTypes"]}

    metal = types(("bare-metal", ["true"]))
    assert "m5.metal" in metal and all("metal" in t for t in metal)
    assert types(("instance-type", ["t3.*"])) == {f"t3.{s}" for s in ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge")}
    one = types(("vcpu-info.default-vcpus", ["1"]), ("memory-info.size-in-mib", ["627"]))
    assert one == {"t1.micro"}
    arm = types(("processor-info.supported-architecture", ["arm64"]), ("burstable-performance-supported", ["true"]))
    assert arm == {f"t4g.{s}" for s in ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge")}
    old = types(("current-generation", ["false"]))
    assert "m1.small" in old and "m5.large" not in old
    assert error_code(ec2.describe_instance_types, Filters=[{"Name": "colour", "Values": ["x"]}]) == "InvalidParameterValue"


def test_instance_type_offerings(ec2):
    p = ec2.get_paginator("describe_instance_type_offerings")

    def offers(**kw):
        return [o for page in p.paginate(**kw) for o in page["InstanceTypeOfferings"]]

    region = offers()
    assert {o["LocationType"] for o in region} == {"region"}
    assert {o["Location"] for o in region} == {"us-east-1"}
    n = len(region)
    assert n > 800
    zones = offers(LocationType="availability-zone")
    assert len(zones) == 6 * n
    assert {o["Location"] for o in zones} == {f"us-east-1{c}" for c in "abcdef"}
    ids = offers(LocationType="availability-zone-id", Filters=[{"Name": "location", "Values": ["use1-az6"]}, {"Name": "instance-type", "Values": ["t2.micro", "m5.large"]}])
    assert sorted(o["InstanceType"] for o in ids) == ["m5.large", "t2.micro"]
    assert {o["Location"] for o in ids} == {"use1-az6"}
    page = ec2.describe_instance_type_offerings(MaxResults=5)
    assert len(page["InstanceTypeOfferings"]) == 5 and "NextToken" in page
    assert error_code(ec2.describe_instance_type_offerings, LocationType="planet") in ("InvalidParameterValue", "ValidationError")
