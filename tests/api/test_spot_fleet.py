"""Spot Fleet (aws_spot_fleet_request): RequestSpotFleet from launch specifications or
launch templates with overrides, its target split between Spot and On-Demand and spread by
the allocation strategy; DescribeSpotFleetRequests, DescribeSpotFleetInstances (each Spot
Instance with its Spot request), ModifySpotFleetRequest up and down (by the excess capacity
termination policy), CancelSpotFleetRequests with and without terminating the instances,
DescribeSpotFleetRequestHistory, and the errors."""

import datetime
import uuid

import pytest

from conftest import error_code

AMI = "ami-0123456789abcdef0"
ROLE = "arn:aws:iam::123456789012:role/fleet"


def specs(subnet):
    return [
        {"ImageId": AMI, "InstanceType": "t3.small", "SubnetId": subnet, "WeightedCapacity": 2.0,
         "SpotPrice": "0.13", "Monitoring": {"Enabled": True},
         "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "w"}]}]},
        {"ImageId": AMI, "InstanceType": "t3.large", "SubnetId": subnet, "WeightedCapacity": 4.0},
    ]


def request(ec2, subnet, **config):
    config.setdefault("IamFleetRole", ROLE)
    config.setdefault("TargetCapacity", 6)
    if "LaunchTemplateConfigs" not in config:
        config.setdefault("LaunchSpecifications", specs(subnet))
    return ec2.request_spot_fleet(SpotFleetRequestConfig=config)["SpotFleetRequestId"]


def describe(ec2, sfr):
    return ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[sfr])["SpotFleetRequestConfigs"][0]


def active(ec2, sfr):
    return ec2.describe_spot_fleet_instances(SpotFleetRequestId=sfr)["ActiveInstances"]


def test_lowest_price_fleet(ec2, subnet):
    tag = str(uuid.uuid4())
    sfr = request(
        ec2, subnet, SpotPrice="0.12", ClientToken=tag,
        TagSpecifications=[{"ResourceType": "spot-fleet-request", "Tags": [{"Key": "n", "Value": tag}]}],
    )
    assert sfr.startswith("sfr-") and len(sfr) == 40
    d = describe(ec2, sfr)
    assert d["SpotFleetRequestState"] == "active" and d["ActivityStatus"] == "fulfilled"
    assert d["Tags"] == [{"Key": "n", "Value": tag}]
    c = d["SpotFleetRequestConfig"]
    assert (c["TargetCapacity"], c["FulfilledCapacity"], c["OnDemandFulfilledCapacity"]) == (6, 6.0, 0.0)
    assert (c["AllocationStrategy"], c["Type"], c["IamFleetRole"]) == ("lowestPrice", "maintain", ROLE)
    assert (c["SpotPrice"], c["ClientToken"]) == ("0.12", tag)
    first = c["LaunchSpecifications"][0]
    assert (first["InstanceType"], first["WeightedCapacity"], first["SpotPrice"]) == ("t3.small", 2.0, "0.13")
    assert first["Monitoring"] == {"Enabled": True}
    assert first["TagSpecifications"] == [
        {"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "w"}]}
    ]
    # the first pool takes the whole target: three of weight 2
    inst = active(ec2, sfr)
    assert [i["InstanceType"] for i in inst] == ["t3.small"] * 3
    described = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in inst])["Reservations"]
    for i in [i for r in described for i in r["Instances"]]:
        assert i["InstanceLifecycle"] == "spot" and i["SubnetId"] == subnet
        assert {"Key": "role", "Value": "w"} in i["Tags"]
        assert {"Key": "aws:ec2spot:fleet-request-id", "Value": sfr} in i["Tags"]
        sir = ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[i["SpotInstanceRequestId"]])[
            "SpotInstanceRequests"
        ][0]
        assert sir["InstanceId"] == i["InstanceId"] and sir["SpotPrice"] == "0.130000"
    history = ec2.describe_spot_fleet_request_history(
        SpotFleetRequestId=sfr, StartTime=datetime.datetime(2020, 1, 1)
    )["HistoryRecords"]
    assert [h["EventInformation"]["EventSubType"] for h in history if h["EventType"] == "fleetRequestChange"] == [
        "submitted", "active"
    ]
    launched = ec2.describe_spot_fleet_request_history(
        SpotFleetRequestId=sfr, StartTime=datetime.datetime(2020, 1, 1), EventType="instanceChange"
    )["HistoryRecords"]
    assert sorted(h["EventInformation"]["InstanceId"] for h in launched) == sorted(
        i["InstanceId"] for i in inst
    )
    out = ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[sfr], TerminateInstances=True)
    assert out["SuccessfulFleetRequests"] == [{
        "SpotFleetRequestId": sfr, "PreviousSpotFleetRequestState": "active",
        "CurrentSpotFleetRequestState": "cancelled_terminating",
    }]
    assert active(ec2, sfr) == []
    d = describe(ec2, sfr)
    assert d["SpotFleetRequestState"] == "cancelled" and "ActivityStatus" not in d


def test_diversified_and_modify(ec2, subnet):
    sfr = request(ec2, subnet, AllocationStrategy="diversified")
    assert sorted(i["InstanceType"] for i in active(ec2, sfr)) == ["t3.large", "t3.small"]
    # up: 13 more units, one of each pool in turn, the last one over
    assert ec2.modify_spot_fleet_request(SpotFleetRequestId=sfr, TargetCapacity=19)["Return"]
    assert len(active(ec2, sfr)) == 7
    c = describe(ec2, sfr)["SpotFleetRequestConfig"]
    assert (c["TargetCapacity"], c["FulfilledCapacity"]) == (19, 20.0)
    # down without termination: the instances stay
    ec2.modify_spot_fleet_request(
        SpotFleetRequestId=sfr, TargetCapacity=2, ExcessCapacityTerminationPolicy="noTermination"
    )
    assert len(active(ec2, sfr)) == 7
    c = describe(ec2, sfr)["SpotFleetRequestConfig"]
    assert c["ExcessCapacityTerminationPolicy"] == "noTermination" and c["FulfilledCapacity"] == 20.0
    # down by default: the newest go while the target is still met
    ec2.modify_spot_fleet_request(SpotFleetRequestId=sfr, TargetCapacity=5, ExcessCapacityTerminationPolicy="default")
    c = describe(ec2, sfr)["SpotFleetRequestConfig"]
    assert c["FulfilledCapacity"] >= 5.0 and c["FulfilledCapacity"] < 9.0
    kinds = [h["EventInformation"]["EventSubType"] for h in ec2.describe_spot_fleet_request_history(
        SpotFleetRequestId=sfr, StartTime=datetime.datetime(2020, 1, 1))["HistoryRecords"]]
    assert "terminated" in kinds and "modify_succeeded" in kinds
    # cancelled without terminating: the instances run on, and a later cancel ends them
    out = ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[sfr], TerminateInstances=False)
    assert out["SuccessfulFleetRequests"][0]["CurrentSpotFleetRequestState"] == "cancelled_running"
    left = len(active(ec2, sfr))
    assert left > 0
    assert error_code(ec2.modify_spot_fleet_request, SpotFleetRequestId=sfr, TargetCapacity=9) == "IncorrectState"
    out = ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[sfr], TerminateInstances=True)
    assert out["SuccessfulFleetRequests"][0]["PreviousSpotFleetRequestState"] == "cancelled_running"
    assert active(ec2, sfr) == []
    out = ec2.cancel_spot_fleet_requests(
        SpotFleetRequestIds=[sfr, "sfr-00000000-0000-0000-0000-000000000000", "fleet-1"], TerminateInstances=True
    )
    assert sorted((u["SpotFleetRequestId"], u["Error"]["Code"]) for u in out["UnsuccessfulFleetRequests"]) == sorted([
        ("fleet-1", "fleetRequestIdMalformed"),
        (sfr, "fleetRequestNotInCancellableState"),
        ("sfr-00000000-0000-0000-0000-000000000000", "fleetRequestIdDoesNotExist"),
    ])


def test_launch_templates_and_on_demand(ec2, subnet):
    t = ec2.create_launch_template(
        LaunchTemplateName=f"sfr-{uuid.uuid4().hex[:8]}",
        LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    try:
        sfr = request(
            ec2, subnet, TargetCapacity=5, OnDemandTargetCapacity=1,
            LaunchTemplateConfigs=[{
                "LaunchTemplateSpecification": {"LaunchTemplateId": t["LaunchTemplateId"]},
                "Overrides": [{"InstanceType": "t3.nano", "SubnetId": subnet, "WeightedCapacity": 2.0,
                               "SpotPrice": "0.2"}],
            }],
            Type="request",
        )
        c = describe(ec2, sfr)["SpotFleetRequestConfig"]
        ltc = c["LaunchTemplateConfigs"][0]
        assert ltc["LaunchTemplateSpecification"]["Version"] == "$Default"
        assert ltc["Overrides"][0]["SpotPrice"] == "0.2"
        assert (c["Type"], c["OnDemandTargetCapacity"]) == ("request", 1)
        # 1 On-Demand unit: one instance of weight 2; 4 Spot units: two more
        assert (c["FulfilledCapacity"], c["OnDemandFulfilledCapacity"]) == (6.0, 2.0)
        inst = active(ec2, sfr)
        assert [i["InstanceType"] for i in inst] == ["t3.nano"] * 3
        assert sum(1 for i in inst if "SpotInstanceRequestId" in i) == 2
        # a request-type fleet is not modified
        assert error_code(
            ec2.modify_spot_fleet_request, SpotFleetRequestId=sfr, TargetCapacity=8
        ) == "InvalidSpotFleetRequestConfig"
        ec2.cancel_spot_fleet_requests(SpotFleetRequestIds=[sfr], TerminateInstances=True)
    finally:
        ec2.delete_launch_template(LaunchTemplateId=t["LaunchTemplateId"])


def test_errors_change_nothing(ec2, subnet):
    before = ec2.describe_spot_fleet_requests()["SpotFleetRequestConfigs"]
    assert error_code(
        request, ec2, subnet,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}],
    ) == "InvalidParameterValue"
    assert error_code(request, ec2, subnet, AllocationStrategy="cheapest") == "InvalidParameterValue"
    assert error_code(request, ec2, subnet, OnDemandTargetCapacity=7) == "InvalidSpotFleetRequestConfig"
    assert error_code(request, ec2, subnet, Type="instant") == "InvalidParameterValue"
    assert error_code(
        ec2.request_spot_fleet, SpotFleetRequestConfig={"IamFleetRole": ROLE, "TargetCapacity": 1}
    ) == "InvalidSpotFleetRequestConfig"
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    assert error_code(request, ec2, subnet, ValidUntil=past) == "InvalidSpotFleetRequestConfig"
    # a launch that fails fails the request, and leaves no instance behind
    bad = [{"ImageId": AMI, "InstanceType": "t3.small", "SubnetId": subnet,
            "SecurityGroups": [{"GroupId": "sg-0123456789abcdef0"}]}]
    assert error_code(request, ec2, subnet, LaunchSpecifications=bad) == "InvalidGroup.NotFound"
    assert ec2.describe_spot_fleet_requests()["SpotFleetRequestConfigs"] == before
    assert ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Reservations"] == []
    missing = "sfr-00000000-0000-0000-0000-000000000000"
    assert error_code(ec2.describe_spot_fleet_requests, SpotFleetRequestIds=[missing]) == "InvalidSpotFleetRequestId.NotFound"
    assert error_code(ec2.describe_spot_fleet_instances, SpotFleetRequestId=missing) == "InvalidSpotFleetRequestId.NotFound"
    assert error_code(ec2.describe_spot_fleet_instances, SpotFleetRequestId="x-1") == "InvalidSpotFleetRequestId.Malformed"
    assert error_code(ec2.modify_spot_fleet_request, SpotFleetRequestId=missing, TargetCapacity=1) == "InvalidSpotFleetRequestId.NotFound"
