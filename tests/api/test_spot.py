"""Spot Instances: RequestSpotInstances (fulfilled at once, or open/closed outside its
validity), RunInstances on the Spot market, DescribeSpotInstanceRequests and its filters,
CancelSpotInstanceRequests, and what a Spot Instance's termination does to its request."""

import datetime

from conftest import error_code

AMI = "ami-0123456789abcdef0"


def request(ec2, **kw):
    kw.setdefault("LaunchSpecification", {"ImageId": AMI, "InstanceType": "t3.micro"})
    return ec2.request_spot_instances(**kw)["SpotInstanceRequests"]


def describe(ec2, rid):
    return ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[rid])[
        "SpotInstanceRequests"
    ][0]


def test_request_is_fulfilled_with_a_spot_instance(ec2):
    reqs = request(
        ec2,
        SpotPrice="0.05",
        InstanceCount=2,
        TagSpecifications=[
            {"ResourceType": "spot-instances-request", "Tags": [{"Key": "k", "Value": "v"}]}
        ],
    )
    assert len(reqs) == 2
    for r in reqs:
        assert r["SpotInstanceRequestId"].startswith("sir-")
        assert r["State"] == "active"
        assert r["Status"]["Code"] == "fulfilled"
        assert r["SpotPrice"] == "0.050000"
        assert r["Type"] == "one-time"
        assert r["Tags"] == [{"Key": "k", "Value": "v"}]
        assert r["LaunchSpecification"]["InstanceType"] == "t3.micro"
        assert [g["GroupName"] for g in r["LaunchSpecification"]["SecurityGroups"]] == ["default"]
        inst = ec2.describe_instances(InstanceIds=[r["InstanceId"]])["Reservations"][0][
            "Instances"
        ][0]
        assert inst["InstanceLifecycle"] == "spot"
        assert inst["SpotInstanceRequestId"] == r["SpotInstanceRequestId"]
        assert r["LaunchedAvailabilityZone"] == inst["Placement"]["AvailabilityZone"]
    ids = [r["InstanceId"] for r in reqs]
    found = ec2.describe_instances(
        Filters=[
            {"Name": "instance-lifecycle", "Values": ["spot"]},
            {"Name": "instance-id", "Values": ids},
        ]
    )["Reservations"]
    assert sorted(i["InstanceId"] for r in found for i in r["Instances"]) == sorted(ids)
    by_tag = ec2.describe_spot_instance_requests(
        Filters=[{"Name": "tag:k", "Values": ["v"]}, {"Name": "instance-id", "Values": ids[:1]}]
    )["SpotInstanceRequests"]
    assert [r["InstanceId"] for r in by_tag] == ids[:1]
    ec2.terminate_instances(InstanceIds=ids)


def test_run_instances_on_the_spot_market(ec2):
    inst = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"MaxPrice": "0.1"}},
    )["Instances"][0]
    assert inst["InstanceLifecycle"] == "spot"
    r = describe(ec2, inst["SpotInstanceRequestId"])
    assert r["InstanceId"] == inst["InstanceId"]
    assert r["SpotPrice"] == "0.100000"
    assert r["InstanceInterruptionBehavior"] == "terminate"
    # On-Demand instances have no lifecycle
    od = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    assert "InstanceLifecycle" not in od and "SpotInstanceRequestId" not in od
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    r = describe(ec2, inst["SpotInstanceRequestId"])
    assert (r["State"], r["Status"]["Code"]) == ("closed", "instance-terminated-by-user")
    ec2.terminate_instances(InstanceIds=[od["InstanceId"]])


def test_cancel_leaves_the_instance_running(ec2):
    r = request(ec2)[0]
    out = ec2.cancel_spot_instance_requests(SpotInstanceRequestIds=[r["SpotInstanceRequestId"]])
    assert out["CancelledSpotInstanceRequests"] == [
        {"SpotInstanceRequestId": r["SpotInstanceRequestId"], "State": "cancelled"}
    ]
    r2 = describe(ec2, r["SpotInstanceRequestId"])
    assert r2["State"] == "cancelled"
    assert r2["Status"]["Code"] == "request-canceled-and-instance-running"
    inst = ec2.describe_instances(InstanceIds=[r["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] in ("pending", "running")
    ec2.terminate_instances(InstanceIds=[r["InstanceId"]])


def test_validity_and_errors(ec2):
    past = datetime.datetime(2013, 1, 1, tzinfo=datetime.timezone.utc)
    r = request(ec2, ValidFrom=past, ValidUntil=past + datetime.timedelta(days=1))[0]
    assert (r["State"], r["Status"]["Code"]) == ("closed", "schedule-expired")
    assert "InstanceId" not in r
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)
    r = request(ec2, ValidFrom=future)[0]
    assert (r["State"], r["Status"]["Code"]) == ("open", "not-scheduled-yet")
    assert error_code(ec2.request_spot_instances, SpotPrice="0.5") == "MissingParameter"
    assert error_code(request, ec2, SpotPrice="cheap") == "InvalidParameterValue"
    assert error_code(request, ec2, Type="forever") == "InvalidParameterValue"
    assert (
        error_code(ec2.describe_spot_instance_requests, SpotInstanceRequestIds=["sir-nothere1"])
        == "InvalidSpotInstanceRequestID.NotFound"
    )
    assert (
        error_code(ec2.cancel_spot_instance_requests, SpotInstanceRequestIds=["bogus"])
        == "InvalidSpotInstanceRequestID.Malformed"
    )
