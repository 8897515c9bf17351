"""EC2 Fleets: CreateFleet (instant, request, maintain) from launch templates with
overrides, the target split between On-Demand and Spot, DescribeFleets,
DescribeFleetInstances and DeleteFleets with and without terminating the instances."""

import uuid

import pytest

from conftest import error_code

AMI = "ami-0123456789abcdef0"


@pytest.fixture
def template(ec2):
    t = ec2.create_launch_template(
        LaunchTemplateName=f"fleet-{uuid.uuid4().hex[:8]}",
        LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    yield t["LaunchTemplateId"]
    ec2.delete_launch_template(LaunchTemplateId=t["LaunchTemplateId"])


def config(template, version="$Latest", overrides=None):
    c = {"LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": version}}
    if overrides:
        c["Overrides"] = overrides
    return c


def test_instant_fleet_splits_its_target(ec2, template):
    res = ec2.create_fleet(
        Type="instant",
        LaunchTemplateConfigs=[config(template)],
        TargetCapacitySpecification={
            "TotalTargetCapacity": 3,
            "OnDemandTargetCapacity": 1,
            "DefaultTargetCapacityType": "spot",
        },
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "w"}]}],
    )
    assert len(res["FleetId"]) == 42
    by_market = {i["Lifecycle"]: i for i in res["Instances"]}
    assert len(by_market["on-demand"]["InstanceIds"]) == 1
    assert len(by_market["spot"]["InstanceIds"]) == 2
    # $Latest is answered as the version it resolved to
    assert by_market["spot"]["LaunchTemplateAndOverrides"]["LaunchTemplateSpecification"][
        "Version"
    ] == "1"
    spot_ids = by_market["spot"]["InstanceIds"]
    insts = ec2.describe_instances(InstanceIds=spot_ids)["Reservations"][0]["Instances"]
    assert all(i["InstanceLifecycle"] == "spot" for i in insts)
    assert all({"Key": "role", "Value": "w"} in i["Tags"] for i in insts)
    fleet = ec2.describe_fleets(FleetIds=[res["FleetId"]])["Fleets"][0]
    assert fleet["Type"] == "instant" and fleet["FulfilledCapacity"] == 3.0
    assert fleet["FulfilledOnDemandCapacity"] == 1.0
    out = ec2.delete_fleets(FleetIds=[res["FleetId"]], TerminateInstances=True)
    assert out["SuccessfulFleetDeletions"][0]["CurrentFleetState"] == "deleted_terminating"
    assert ec2.describe_fleet_instances(FleetId=res["FleetId"])["ActiveInstances"] == []


def test_maintain_fleet_diversifies_over_overrides(ec2, template):
    res = ec2.create_fleet(
        LaunchTemplateConfigs=[
            config(template, "1", [{"InstanceType": "t3.small"}, {"InstanceType": "t3.large"}])
        ],
        TargetCapacitySpecification={"TotalTargetCapacity": 4, "DefaultTargetCapacityType": "spot"},
        SpotOptions={"AllocationStrategy": "diversified"},
        TagSpecifications=[{"ResourceType": "fleet", "Tags": [{"Key": "n", "Value": "f"}]}],
    )
    fid = res["FleetId"]
    assert "Instances" not in res or res["Instances"] == []
    active = ec2.describe_fleet_instances(FleetId=fid)["ActiveInstances"]
    assert sorted(i["InstanceType"] for i in active) == ["t3.large"] * 2 + ["t3.small"] * 2
    assert all(i["SpotInstanceRequestId"].startswith("sir-") for i in active)
    fleet = ec2.describe_fleets(Filters=[{"Name": "tag:n", "Values": ["f"]}])["Fleets"]
    assert [f["FleetId"] for f in fleet] == [fid]
    assert fleet[0]["FleetState"] == "active" and fleet[0]["ActivityStatus"] == "fulfilled"
    out = ec2.delete_fleets(FleetIds=[fid], TerminateInstances=False)
    assert out["SuccessfulFleetDeletions"][0]["CurrentFleetState"] == "deleted_running"
    assert len(ec2.describe_fleet_instances(FleetId=fid)["ActiveInstances"]) == 4
    out = ec2.delete_fleets(FleetIds=[fid, "fleet-00000000-0000-0000-0000-000000000000", "x"],
                            TerminateInstances=True)
    assert out["SuccessfulFleetDeletions"][0]["PreviousFleetState"] == "deleted_running"
    codes = sorted(e["Error"]["Code"] for e in out["UnsuccessfulFleetDeletions"])
    assert codes == ["fleetIdDoesNotExist", "fleetIdMalformed"]


def test_prioritized_on_demand_and_weights(ec2, template):
    res = ec2.create_fleet(
        Type="request",
        LaunchTemplateConfigs=[
            config(
                template,
                "1",
                [
                    {"InstanceType": "t3.small", "Priority": 2.0},
                    {"InstanceType": "t3.xlarge", "Priority": 1.0, "WeightedCapacity": 2.0},
                ],
            )
        ],
        TargetCapacitySpecification={"TotalTargetCapacity": 4, "DefaultTargetCapacityType": "on-demand"},
        OnDemandOptions={"AllocationStrategy": "prioritized"},
    )
    active = ec2.describe_fleet_instances(FleetId=res["FleetId"])["ActiveInstances"]
    assert [i["InstanceType"] for i in active] == ["t3.xlarge", "t3.xlarge"]
    ec2.delete_fleets(FleetIds=[res["FleetId"]], TerminateInstances=True)


def test_errors(ec2, template):
    cap = {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"}
    assert error_code(
        ec2.create_fleet,
        LaunchTemplateConfigs=[config("lt-0123456789abcdef0")],
        TargetCapacitySpecification=cap,
    ) == "InvalidLaunchTemplateId.NotFound"
    assert error_code(
        ec2.create_fleet,
        LaunchTemplateConfigs=[{"LaunchTemplateSpecification": {"LaunchTemplateId": template}}],
        TargetCapacitySpecification=cap,
    ) == "MissingParameter"
    assert error_code(
        ec2.create_fleet,
        LaunchTemplateConfigs=[config(template)],
        TargetCapacitySpecification={"TotalTargetCapacity": 1, "OnDemandTargetCapacity": 2},
    ) == "InvalidParameterValue"
    assert error_code(
        ec2.describe_fleet_instances, FleetId="fleet-00000000-0000-0000-0000-000000000000"
    ) == "InvalidFleetId.NotFound"
