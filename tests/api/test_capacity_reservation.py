"""Capacity Reservations (aws_ec2_capacity_reservation, an instance's
capacity_reservation_specification): created `active` with EC2's fields, described by id,
filters and pages, modified, cancelled (kept, `cancelled`); instances run in the one they
target, or in an `open` one they match while they prefer `open`, and its available count
goes down by each one running in it."""

import datetime

import pytest

from conftest import error_code

AMI = "ami-0123456789abcdef0"
# a type no other test launches, so no other test's instance runs in these reservations
TYPE = "c5a.2xlarge"


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    yield s["SubnetId"]
    for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["Reservations"]:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


@pytest.fixture
def reservations(ec2):
    made = []

    def create(**kw):
        args = dict(InstanceType=TYPE, InstancePlatform="Linux/UNIX", AvailabilityZone="us-east-1a", InstanceCount=2)
        args.update(kw)
        r = ec2.create_capacity_reservation(**args)["CapacityReservation"]
        made.append(r["CapacityReservationId"])
        return r

    yield create
    for rid in made:
        try:
            ec2.cancel_capacity_reservation(CapacityReservationId=rid)
        except Exception:
            pass


def describe(ec2, rid):
    return ec2.describe_capacity_reservations(CapacityReservationIds=[rid])["CapacityReservations"][0]


def test_create_describe_modify_cancel(ec2, reservations):
    r = reservations(
        Tenancy="default", EbsOptimized=True, InstanceMatchCriteria="targeted",
        TagSpecifications=[{"ResourceType": "capacity-reservation", "Tags": [{"Key": "Name", "Value": "cr"}]}],
    )
    rid = r["CapacityReservationId"]
    assert rid.startswith("cr-") and r["State"] == "active"
    assert r["CapacityReservationArn"] == f"arn:aws:ec2:us-east-1:123456789012:capacity-reservation/{rid}"
    assert r["OwnerId"] == "123456789012"
    assert (r["InstanceType"], r["InstancePlatform"], r["AvailabilityZone"], r["Tenancy"]) == (
        TYPE, "Linux/UNIX", "us-east-1a", "default")
    assert r["AvailabilityZoneId"].startswith("use1-az")
    assert (r["TotalInstanceCount"], r["AvailableInstanceCount"]) == (2, 2)
    assert r["EbsOptimized"] is True and r["EphemeralStorage"] is False
    assert r["EndDateType"] == "unlimited" and "EndDate" not in r
    assert r["InstanceMatchCriteria"] == "targeted"
    assert r["Tags"] == [{"Key": "Name", "Value": "cr"}]
    assert describe(ec2, rid)["CreateDate"] == r["CreateDate"]

    # filters, tags
    got = ec2.describe_capacity_reservations(Filters=[{"Name": "instance-type", "Values": [TYPE]},
                                                      {"Name": "instance-match-criteria", "Values": ["targeted"]},
                                                      {"Name": "tag:Name", "Values": ["cr"]}])["CapacityReservations"]
    assert [x["CapacityReservationId"] for x in got] == [rid]
    assert ec2.describe_capacity_reservations(Filters=[{"Name": "state", "Values": ["cancelled"]},
                                                       {"Name": "instance-type", "Values": [TYPE]}])["CapacityReservations"] == []
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
    assert tags == [{"Key": "Name", "Value": "cr", "ResourceId": rid, "ResourceType": "capacity-reservation"}]

    # modify: count and end date
    end = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)).replace(microsecond=0)
    assert ec2.modify_capacity_reservation(CapacityReservationId=rid, InstanceCount=3,
                                           EndDateType="limited", EndDate=end)["Return"] is True
    m = describe(ec2, rid)
    assert (m["TotalInstanceCount"], m["AvailableInstanceCount"], m["EndDateType"]) == (3, 3, "limited")
    assert m["EndDate"] == end
    assert ec2.describe_capacity_reservations(Filters=[{"Name": "end-date-type", "Values": ["limited"]},
                                                       {"Name": "instance-type", "Values": [TYPE]}])["CapacityReservations"][0]["CapacityReservationId"] == rid
    ec2.modify_capacity_reservation(CapacityReservationId=rid, EndDateType="unlimited")
    assert "EndDate" not in describe(ec2, rid) and describe(ec2, rid)["EndDateType"] == "unlimited"

    # cancel: kept, cancelled, nothing more to change
    assert ec2.cancel_capacity_reservation(CapacityReservationId=rid)["Return"] is True
    c = describe(ec2, rid)
    assert c["State"] == "cancelled" and c["AvailableInstanceCount"] == 0
    assert error_code(ec2.modify_capacity_reservation, CapacityReservationId=rid, InstanceCount=1) == "IncorrectState"
    assert error_code(ec2.cancel_capacity_reservation, CapacityReservationId=rid) == "IncorrectState"


def test_bad_requests_change_nothing(ec2, reservations):
    before = len(ec2.describe_capacity_reservations()["CapacityReservations"])
    base = dict(InstanceType=TYPE, InstancePlatform="Linux/UNIX", AvailabilityZone="us-east-1a", InstanceCount=1)
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    for bad, code in [
        (dict(InstanceType="t9.nothing"), "InvalidParameterValue"),
        (dict(InstancePlatform="Plan 9"), "InvalidParameterValue"),
        (dict(InstanceCount=0), "InvalidParameterValue"),
        (dict(AvailabilityZone="us-east-1z"), "InvalidParameterValue"),
        (dict(Tenancy="host"), "InvalidParameterValue"),
        (dict(InstanceMatchCriteria="closed"), "InvalidParameterValue"),
        (dict(EndDateType="limited"), "InvalidParameterCombination"),
        (dict(EndDateType="unlimited", EndDate=future), "InvalidParameterCombination"),
        (dict(EndDateType="limited", EndDate=past), "InvalidParameterValue"),
    ]:
        assert error_code(ec2.create_capacity_reservation, **{**base, **bad}) == code, bad
    assert len(ec2.describe_capacity_reservations()["CapacityReservations"]) == before
    assert error_code(ec2.describe_capacity_reservations, CapacityReservationIds=["cr-0123456789abcdef0"]) == "InvalidCapacityReservationId.NotFound"
    assert error_code(ec2.describe_capacity_reservations, CapacityReservationIds=["crx-1"]) == "InvalidCapacityReservationId.Malformed"
    assert error_code(ec2.cancel_capacity_reservation, CapacityReservationId="cr-0123456789abcdef0") == "InvalidCapacityReservationId.NotFound"


def test_pages(ec2, reservations):
    ids = {reservations(InstanceCount=1, InstanceMatchCriteria="targeted")["CapacityReservationId"] for _ in range(3)}
    seen, token = [], None
    while True:
        kw = {"Filters": [{"Name": "instance-type", "Values": [TYPE]}, {"Name": "state", "Values": ["active"]}], "MaxResults": 2}
        if token:
            kw["NextToken"] = token
        page = ec2.describe_capacity_reservations(**kw)
        assert len(page["CapacityReservations"]) <= 2
        seen += [r["CapacityReservationId"] for r in page["CapacityReservations"]]
        token = page.get("NextToken")
        if not token:
            break
    assert ids <= set(seen) and len(seen) == len(set(seen))


def test_targeted_instances_use_it_up(ec2, subnet, reservations):
    rid = reservations(InstanceCount=1, InstanceMatchCriteria="targeted")["CapacityReservationId"]
    spec = {"CapacityReservationTarget": {"CapacityReservationId": rid}}
    i = ec2.run_instances(ImageId=AMI, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet,
                          CapacityReservationSpecification=spec)["Instances"][0]
    assert i["CapacityReservationId"] == rid
    assert i["CapacityReservationSpecification"] == {"CapacityReservationTarget": {"CapacityReservationId": rid}}
    got = ec2.describe_instances(InstanceIds=[i["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert got["CapacityReservationId"] == rid
    assert got["CapacityReservationSpecification"] == {"CapacityReservationTarget": {"CapacityReservationId": rid}}
    assert describe(ec2, rid)["AvailableInstanceCount"] == 0

    # full: EC2's code, and no instance launched
    n = len(ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Reservations"])
    assert error_code(ec2.run_instances, ImageId=AMI, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet,
                      CapacityReservationSpecification=spec) == "ReservationCapacityExceeded"
    assert len(ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Reservations"]) == n
    # an instance of another type does not match it
    assert error_code(ec2.run_instances, ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet,
                      CapacityReservationSpecification=spec) == "InvalidParameterCombination"
    assert error_code(ec2.run_instances, ImageId=AMI, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet,
                      CapacityReservationSpecification={"CapacityReservationTarget": {"CapacityReservationId": "cr-0123456789abcdef0"}}
                      ) == "InvalidCapacityReservationId.NotFound"
    # eligibility cannot change while an instance runs in it
    assert error_code(ec2.modify_capacity_reservation, CapacityReservationId=rid, InstanceMatchCriteria="open") == "IncorrectState"

    # a stopped instance frees its room; its preference can then be changed
    ec2.stop_instances(InstanceIds=[i["InstanceId"]])
    assert describe(ec2, rid)["AvailableInstanceCount"] == 1
    assert error_code(ec2.modify_instance_capacity_reservation_attributes, InstanceId=i["InstanceId"],
                      CapacityReservationSpecification={"CapacityReservationPreference": "open",
                                                        "CapacityReservationTarget": {"CapacityReservationId": rid}}) == "InvalidParameterCombination"
    ec2.modify_instance_capacity_reservation_attributes(
        InstanceId=i["InstanceId"], CapacityReservationSpecification={"CapacityReservationPreference": "none"})
    ec2.start_instances(InstanceIds=[i["InstanceId"]])
    got = ec2.describe_instances(InstanceIds=[i["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert got["CapacityReservationSpecification"] == {"CapacityReservationPreference": "none"}
    assert "CapacityReservationId" not in got
    assert describe(ec2, rid)["AvailableInstanceCount"] == 1
    # and back to the target
    ec2.stop_instances(InstanceIds=[i["InstanceId"]])
    ec2.modify_instance_capacity_reservation_attributes(InstanceId=i["InstanceId"], CapacityReservationSpecification=spec)
    ec2.start_instances(InstanceIds=[i["InstanceId"]])
    got = ec2.describe_instances(InstanceIds=[i["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert got["CapacityReservationId"] == rid
    assert describe(ec2, rid)["AvailableInstanceCount"] == 0
    ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    assert describe(ec2, rid)["AvailableInstanceCount"] == 1


def test_open_reservation_takes_matching_instances(ec2, subnet, reservations):
    rid = reservations(InstanceCount=2)["CapacityReservationId"]
    assert describe(ec2, rid)["InstanceMatchCriteria"] == "open"
    a = ec2.run_instances(ImageId=AMI, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
    assert a["CapacityReservationId"] == rid
    assert a["CapacityReservationSpecification"] == {"CapacityReservationPreference": "open"}
    none = ec2.run_instances(ImageId=AMI, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet,
                             CapacityReservationSpecification={"CapacityReservationPreference": "none"})["Instances"][0]
    assert "CapacityReservationId" not in none
    other = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
    assert "CapacityReservationId" not in other
    assert describe(ec2, rid)["AvailableInstanceCount"] == 1
    b, c = ec2.run_instances(ImageId=AMI, InstanceType=TYPE, MinCount=2, MaxCount=2, SubnetId=subnet)["Instances"]
    # one fits, the other runs On-Demand
    assert sorted(x.get("CapacityReservationId", "") for x in (b, c)) == ["", rid]
    assert describe(ec2, rid)["AvailableInstanceCount"] == 0
    # cancelled: the instances run on, outside it
    ec2.cancel_capacity_reservation(CapacityReservationId=rid)
    got = ec2.describe_instances(InstanceIds=[a["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert "CapacityReservationId" not in got and got["State"]["Name"] == "running"
    # a new open reservation takes the matching running instances that prefer open
    again = reservations(InstanceCount=5)
    assert again["AvailableInstanceCount"] == 2
    moved = {i["InstanceId"]: i.get("CapacityReservationId") for r in ec2.describe_instances(
        InstanceIds=[a["InstanceId"], b["InstanceId"], c["InstanceId"], none["InstanceId"]])["Reservations"]
        for i in r["Instances"]}
    assert moved == {a["InstanceId"]: again["CapacityReservationId"], b["InstanceId"]: again["CapacityReservationId"],
                     c["InstanceId"]: again["CapacityReservationId"], none["InstanceId"]: None}


def test_a_targeted_instance_starts_outside_a_cancelled_reservation(ec2, subnet, reservations):
    rid = reservations(InstanceCount=1, InstanceMatchCriteria="targeted")["CapacityReservationId"]
    spec = {"CapacityReservationTarget": {"CapacityReservationId": rid}}
    i = ec2.run_instances(ImageId=AMI, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet,
                          CapacityReservationSpecification=spec)["Instances"][0]
    ec2.stop_instances(InstanceIds=[i["InstanceId"]])
    ec2.cancel_capacity_reservation(CapacityReservationId=rid)
    # a cancelled reservation takes no new instance
    assert error_code(ec2.run_instances, ImageId=AMI, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet,
                      CapacityReservationSpecification=spec) == "InvalidCapacityReservationId.NotFound"
    ec2.start_instances(InstanceIds=[i["InstanceId"]])
    got = ec2.describe_instances(InstanceIds=[i["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert got["State"]["Name"] == "running" and "CapacityReservationId" not in got
    assert got["CapacityReservationSpecification"] == spec
