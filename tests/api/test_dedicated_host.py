"""Dedicated Hosts (aws_ec2_host, an instance's host_id): AllocateHosts with EC2's host
properties from the instance type catalog, DescribeHosts by id, filters and pages,
ModifyHosts, ReleaseHosts (a released host is still described; one with running instances
is not released), tags; instances of tenancy `host` placed on a named host or, with
auto-placement, on a matching one, using up its capacity; ModifyInstancePlacement."""

import uuid

import pytest

from conftest import error_code

AMI = "ami-0123456789abcdef0"
ZONE = "us-east-1a"


@pytest.fixture
def hosts(ec2):
    made = []

    def allocate(**kw):
        kw.setdefault("AvailabilityZone", ZONE)
        ids = ec2.allocate_hosts(**kw)["HostIds"]
        made.extend(ids)
        return ids

    yield allocate
    if made:
        on = ec2.describe_instances(Filters=[{"Name": "host-id", "Values": made}])["Reservations"]
        for r in on:
            ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])
        ec2.release_hosts(HostIds=made)


def host(ec2, host_id):
    return ec2.describe_hosts(HostIds=[host_id])["Hosts"][0]


def capacity(h):
    return {c["InstanceType"]: (c["AvailableCapacity"], c["TotalCapacity"])
            for c in h["AvailableCapacity"]["AvailableInstanceCapacity"]}


def test_allocate_and_describe(ec2, hosts):
    tag = str(uuid.uuid4())
    ids = hosts(
        InstanceType="m5.large",
        Quantity=2,
        AutoPlacement="off",
        HostRecovery="on",
        TagSpecifications=[{"ResourceType": "dedicated-host", "Tags": [{"Key": tag, "Value": "v"}]}],
    )
    assert len(ids) == 2 and all(i.startswith("h-") and len(i) == 19 for i in ids)
    h = host(ec2, ids[0])
    assert h["State"] == "available"
    assert h["AvailabilityZone"] == ZONE
    assert (h["AutoPlacement"], h["HostRecovery"]) == ("off", "on")
    assert h["HostProperties"] == {
        "Cores": 48, "Sockets": 2, "TotalVCpus": 96, "InstanceType": "m5.large"
    }
    assert capacity(h) == {"m5.large": (48, 48)}
    assert h["AvailableCapacity"]["AvailableVCpus"] == 96
    assert h["Instances"] == []
    assert h["Tags"] == [{"Key": tag, "Value": "v"}]
    assert h["AllowsMultipleInstanceTypes"] == "off"
    # a family host runs each of its sizes
    fam = hosts(InstanceFamily="c5")[0]
    h = host(ec2, fam)
    assert h["HostProperties"]["InstanceFamily"] == "c5"
    assert "InstanceType" not in h["HostProperties"]
    assert capacity(h)["c5.large"] == (48, 48) and capacity(h)["c5.9xlarge"] == (2, 2)
    assert h["AllowsMultipleInstanceTypes"] == "on"
    # tags: DescribeTags and CreateTags know the resource type
    ec2.create_tags(Resources=[fam], Tags=[{"Key": tag, "Value": "w"}])
    found = ec2.describe_tags(Filters=[{"Name": "key", "Values": [tag]}])["Tags"]
    assert sorted((t["ResourceId"], t["ResourceType"]) for t in found) == sorted(
        [(ids[0], "dedicated-host"), (ids[1], "dedicated-host"), (fam, "dedicated-host")]
    )


def test_filters_and_pages(ec2, hosts):
    tag = str(uuid.uuid4())
    spec = [{"ResourceType": "dedicated-host", "Tags": [{"Key": tag, "Value": "x"}]}]
    a = hosts(InstanceType="r5.large", AutoPlacement="on", TagSpecifications=spec)[0]
    b = hosts(
        AvailabilityZone="us-east-1b", InstanceType="r5.xlarge", TagSpecifications=spec,
        ClientToken=tag,
    )[0]
    mine = [{"Name": "tag-key", "Values": [tag]}]

    def ids(*filters):
        return sorted(h["HostId"] for h in ec2.describe_hosts(Filter=mine + list(filters))["Hosts"])

    assert ids() == sorted([a, b])
    assert ids({"Name": "availability-zone", "Values": ["us-east-1b"]}) == [b]
    assert ids({"Name": "instance-type", "Values": ["r5.large"]}) == [a]
    assert ids({"Name": "auto-placement", "Values": ["on"]}) == [a]
    assert ids({"Name": "client-token", "Values": [tag]}) == [b]
    assert ids({"Name": "state", "Values": ["available"]}) == sorted([a, b])
    assert ids({"Name": "host-reservation-id", "Values": ["hr-0123456789abcdef0"]}) == []
    assert ids({"Name": f"tag:{tag}", "Values": ["x"]}) == sorted([a, b])
    # the same client token answers the same hosts
    assert ec2.allocate_hosts(
        AvailabilityZone="us-east-1b", InstanceType="r5.xlarge", TagSpecifications=spec,
        ClientToken=tag,
    )["HostIds"] == [b]
    page = ec2.describe_hosts(Filter=mine, MaxResults=5)
    assert len(page["Hosts"]) == 2 and "NextToken" not in page
    assert error_code(ec2.describe_hosts, MaxResults=4) == "InvalidParameterValue"
    assert error_code(ec2.describe_hosts, MaxResults=501) == "InvalidParameterValue"


def test_modify_and_release(ec2, hosts, subnet):
    h1, h2 = hosts(InstanceFamily="m6i", Quantity=2)
    out = ec2.modify_hosts(
        HostIds=[h1, "h-0123456789abcdef0"], AutoPlacement="on", HostRecovery="on",
        InstanceType="m6i.large",
    )
    assert out["Successful"] == [h1]
    assert [(u["ResourceId"], u["Error"]["Code"]) for u in out["Unsuccessful"]] == [
        ("h-0123456789abcdef0", "Client.InvalidHostID.NotFound")
    ]
    h = host(ec2, h1)
    assert (h["AutoPlacement"], h["HostRecovery"]) == ("on", "on")
    assert h["HostProperties"]["InstanceType"] == "m6i.large"
    assert "InstanceFamily" not in h["HostProperties"]
    # a host with an instance keeps its type, and is not released
    i = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="m6i.large", SubnetId=subnet,
        Placement={"HostId": h1},
    )["Instances"][0]["InstanceId"]
    out = ec2.modify_hosts(HostIds=[h1], InstanceFamily="m6i")
    assert out["Successful"] == [] and out["Unsuccessful"][0]["ResourceId"] == h1
    out = ec2.release_hosts(HostIds=[h1, h2])
    assert out["Successful"] == [h2]
    assert [u["ResourceId"] for u in out["Unsuccessful"]] == [h1]
    assert out["Unsuccessful"][0]["Error"]["Code"] == "Client.InvalidHost.Occupied"
    released = host(ec2, h2)
    assert released["State"] == "released" and "ReleaseTime" in released
    assert h2 in [
        h["HostId"] for h in ec2.describe_hosts(Filter=[{"Name": "state", "Values": ["released"]}])["Hosts"]
    ]
    # a released host takes nothing more
    out = ec2.release_hosts(HostIds=[h2])
    assert out["Unsuccessful"][0]["Error"]["Code"] == "Client.InvalidHostID.NotFound"
    assert error_code(
        ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="m6i.large",
        SubnetId=subnet, Placement={"HostId": h2},
    ) == "InvalidHostID.NotFound"
    ec2.terminate_instances(InstanceIds=[i])
    assert ec2.release_hosts(HostIds=[h1])["Successful"] == [h1]


def test_instances_use_up_a_host(ec2, hosts, subnet):
    # c5.9xlarge: 36 vCPUs of a 96-vCPU host (c5.24xlarge's), so two fit
    h = hosts(InstanceType="c5.9xlarge")[0]
    run = dict(ImageId=AMI, InstanceType="c5.9xlarge", SubnetId=subnet)
    insts = ec2.run_instances(MinCount=2, MaxCount=2, Placement={"HostId": h, "Affinity": "host"}, **run)[
        "Instances"
    ]
    for i in insts:
        assert i["Placement"]["HostId"] == h
        assert (i["Placement"]["Tenancy"], i["Placement"]["Affinity"]) == ("host", "host")
    described = host(ec2, h)
    assert capacity(described) == {"c5.9xlarge": (0, 2)}
    assert described["AvailableCapacity"]["AvailableVCpus"] == 24
    assert sorted(i["InstanceId"] for i in described["Instances"]) == sorted(
        i["InstanceId"] for i in insts
    )
    assert all(i["InstanceType"] == "c5.9xlarge" for i in described["Instances"])
    assert error_code(
        ec2.run_instances, MinCount=1, MaxCount=1, Placement={"HostId": h}, **run
    ) == "InsufficientHostCapacity"
    found = ec2.describe_instances(Filters=[{"Name": "host-id", "Values": [h]}])["Reservations"]
    assert len([i for r in found for i in r["Instances"]]) == 2
    # a stopped instance leaves room; it starts again only while there is some
    ec2.stop_instances(InstanceIds=[insts[0]["InstanceId"]])
    assert capacity(host(ec2, h)) == {"c5.9xlarge": (1, 2)}
    ec2.start_instances(InstanceIds=[insts[0]["InstanceId"]])
    assert capacity(host(ec2, h)) == {"c5.9xlarge": (0, 2)}
    ec2.terminate_instances(InstanceIds=[insts[1]["InstanceId"]])
    assert capacity(host(ec2, h)) == {"c5.9xlarge": (1, 2)}


def test_auto_placement_and_errors(ec2, hosts, subnet):
    run = dict(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)
    # tenancy host without a host: only an auto-placement host of the type takes it
    assert error_code(
        ec2.run_instances, InstanceType="r6i.large", Placement={"Tenancy": "host"}, **run
    ) == "InsufficientHostCapacity"
    off = hosts(InstanceType="r6i.large")[0]
    assert error_code(
        ec2.run_instances, InstanceType="r6i.large", Placement={"Tenancy": "host"}, **run
    ) == "InsufficientHostCapacity"
    on = hosts(InstanceFamily="r6i", AutoPlacement="on")[0]
    i = ec2.run_instances(InstanceType="r6i.xlarge", Placement={"Tenancy": "host"}, **run)[
        "Instances"
    ][0]
    assert i["Placement"]["HostId"] == on and i["Placement"]["Affinity"] == "default"
    assert capacity(host(ec2, on))["r6i.xlarge"] == (31, 32)
    # a named host must take the type and be in the subnet's zone
    assert error_code(
        ec2.run_instances, InstanceType="m5.large", Placement={"HostId": off}, **run
    ) == "InvalidParameterValue"
    other_zone = hosts(AvailabilityZone="us-east-1b", InstanceType="r6i.large")[0]
    assert error_code(
        ec2.run_instances, InstanceType="r6i.large", Placement={"HostId": other_zone}, **run
    ) == "InvalidParameterValue"
    assert error_code(
        ec2.run_instances, InstanceType="r6i.large", Placement={"HostId": "h-0123456789abcdef0"}, **run
    ) == "InvalidHostID.NotFound"
    assert error_code(
        ec2.run_instances, InstanceType="r6i.large", Placement={"HostId": "host-1"}, **run
    ) == "InvalidHostID.Malformed"
    assert error_code(
        ec2.run_instances, InstanceType="r6i.large",
        Placement={"HostId": off, "Tenancy": "dedicated"}, **run
    ) == "InvalidParameterCombination"
    assert error_code(
        ec2.run_instances, InstanceType="r6i.large", Placement={"HostId": off, "Affinity": "any"}, **run
    ) == "InvalidParameterValue"
    # a failed launch leaves the host as it was
    assert capacity(host(ec2, off)) == {"r6i.large": (64, 64)}
    # AllocateHosts' own errors
    assert error_code(ec2.allocate_hosts, AvailabilityZone=ZONE, InstanceType="a1.small") == "InvalidParameterValue"
    assert error_code(ec2.allocate_hosts, AvailabilityZone=ZONE) == "MissingParameter"
    assert error_code(
        ec2.allocate_hosts, AvailabilityZone=ZONE, InstanceType="m5.large", InstanceFamily="m5"
    ) == "InvalidParameterCombination"
    assert error_code(ec2.allocate_hosts, AvailabilityZone="us-east-1z", InstanceType="m5.large") == "InvalidParameterValue"
    assert error_code(
        ec2.allocate_hosts, AvailabilityZone=ZONE, InstanceType="m5.large", AutoPlacement="maybe"
    ) == "InvalidParameterValue"
    assert error_code(ec2.describe_hosts, HostIds=["h-0123456789abcdef0"]) == "InvalidHostID.NotFound"
    assert error_code(ec2.describe_hosts, HostIds=["nope"]) == "InvalidHostID.Malformed"
    assert error_code(ec2.modify_hosts, HostIds=[off]) == "MissingParameter"
    assert error_code(ec2.release_hosts, HostIds=["nope"]) == "InvalidHostID.Malformed"


def test_modify_instance_placement(ec2, hosts, subnet):
    h1, h2 = hosts(InstanceType="m5.xlarge", Quantity=2)
    i = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="m5.xlarge", SubnetId=subnet,
    )["Instances"][0]["InstanceId"]
    # only a stopped instance moves
    assert error_code(
        ec2.modify_instance_placement, InstanceId=i, Tenancy="host", HostId=h1
    ) == "IncorrectInstanceState"
    ec2.stop_instances(InstanceIds=[i])
    assert ec2.modify_instance_placement(InstanceId=i, Tenancy="host", HostId=h1, Affinity="host")["Return"]

    def placement():
        return ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]["Placement"]

    p = placement()
    assert (p["Tenancy"], p["HostId"], p["Affinity"]) == ("host", h1, "host")
    ec2.modify_instance_placement(InstanceId=i, HostId=h2)
    assert placement()["HostId"] == h2
    ec2.start_instances(InstanceIds=[i])
    assert capacity(host(ec2, h2)) == {"m5.xlarge": (23, 24)}
    ec2.stop_instances(InstanceIds=[i])
    ec2.modify_instance_placement(InstanceId=i, Tenancy="default")
    p = placement()
    assert p["Tenancy"] == "default" and "HostId" not in p
    assert error_code(ec2.modify_instance_placement, InstanceId=i) == "MissingParameter"
    ec2.terminate_instances(InstanceIds=[i])
