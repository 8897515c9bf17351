"""EBS volumes: root volumes of instances, CreateVolume limits, attach/detach, modify, delete."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

AMI = "ami-0123456789abcdef0"
ZONE = "us-east-1a"


@pytest.fixture
def instance(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24", AvailabilityZone=ZONE)["Subnet"]
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                          InstanceType="t3.micro")["Instances"][0]
    yield i
    ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def describe(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def test_instances_get_a_root_volume(ec2, instance):
    iid = instance["InstanceId"]
    i = describe(ec2, iid)
    assert i["RootDeviceName"] == "/dev/sda1"
    [bdm] = i["BlockDeviceMappings"]
    assert bdm["DeviceName"] == "/dev/sda1"
    assert bdm["Ebs"]["Status"] == "attached" and bdm["Ebs"]["DeleteOnTermination"] is True
    vid = bdm["Ebs"]["VolumeId"]
    assert vid.startswith("vol-") and len(vid) == 21
    [v] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
    assert v["State"] == "in-use" and v["Size"] == 8 and v["VolumeType"] == "gp3"
    assert v["Iops"] == 3000 and v["Throughput"] == 125
    assert v["AvailabilityZone"] == ZONE
    assert v["Attachments"][0]["InstanceId"] == iid and v["Attachments"][0]["Device"] == "/dev/sda1"
    got = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]
    assert [x["VolumeId"] for x in got] == [vid]
    assert error_code(ec2.delete_volume, VolumeId=vid) == "VolumeInUse"


def test_create_volume_limits(ec2):
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE) == "MissingParameter"
    # the size is asked for before the zone is looked at (AWS, recorded by LocalStack)
    with pytest.raises(ClientError) as e:
        ec2.create_volume(AvailabilityZone="eu-central-1a")
    assert e.value.response["Error"] == {"Code": "MissingParameter",
                                         "Message": "The request must contain the parameter size/snapshot"}
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=20000, VolumeType="gp2") == "InvalidParameterValue"
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=10, VolumeType="io1") == "InvalidParameterCombination"
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=10, VolumeType="io1", Iops=1000) == "InvalidParameterValue"
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=10, VolumeType="gp2", Iops=300) == "InvalidParameterCombination"
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, Size=100, VolumeType="st1") == "InvalidParameterValue"
    assert error_code(ec2.create_volume, AvailabilityZone="us-east-1q", Size=1) == "InvalidParameterValue"
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, SnapshotId="snap-0123456789abcdef9") == "InvalidSnapshot.NotFound"
    v = ec2.create_volume(AvailabilityZone=ZONE, Size=10,
                          TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert v["State"] == "creating" and v["VolumeType"] == "gp2" and v["Iops"] == 100
    assert v["Tags"] == [{"Key": "k", "Value": "v"}]
    [d] = ec2.describe_volumes(VolumeIds=[v["VolumeId"]])["Volumes"]
    assert d["State"] == "available" and d["Attachments"] == []
    io2 = ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType="io2", Iops=5000)
    assert io2["Iops"] == 5000
    for x in (v, io2):
        ec2.delete_volume(VolumeId=x["VolumeId"])
    assert error_code(ec2.describe_volumes, VolumeIds=[v["VolumeId"]]) == "InvalidVolume.NotFound"
    assert error_code(ec2.describe_volumes, VolumeIds=["vol_x"]) == "InvalidVolumeID.Malformed"


def test_multi_attach_is_checked_before_the_type(ec2):
    # EC2 answers a MultiAttachEnabled volume of a type without it by the dependency, even
    # where the size (sc1 of 10 GiB) or the type itself would be refused.
    for ty in ["standard", "gp2", "gp3", "sc1", "sc2"]:
        try:
            ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType=ty, MultiAttachEnabled=True)
            pytest.fail(f"a multi-attach {ty} volume was made")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidParameterDependency"
            assert "MultiAttachEnabled" in e.response["Error"]["Message"]
    v = ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType="io2", Iops=1000, MultiAttachEnabled=True)
    assert v["MultiAttachEnabled"] is True
    ec2.delete_volume(VolumeId=v["VolumeId"])


def test_attach_detach_and_terminate(ec2, instance):
    iid = instance["InstanceId"]
    v = ec2.create_volume(AvailabilityZone=ZONE, Size=4)
    vid = v["VolumeId"]
    other_zone = ec2.create_volume(AvailabilityZone="us-east-1b", Size=4)
    assert error_code(ec2.attach_volume, VolumeId=other_zone["VolumeId"], InstanceId=iid, Device="/dev/sdf") \
        == "InvalidVolume.ZoneMismatch"
    assert error_code(ec2.attach_volume, VolumeId=vid, InstanceId=iid, Device="/dev/sda1") == "InvalidParameterValue"
    assert error_code(ec2.attach_volume, VolumeId=vid, InstanceId=iid, Device="bogus") == "InvalidParameterValue"
    a = ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    assert a["State"] == "attaching" and a["Device"] == "/dev/sdf"
    [d] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
    assert d["State"] == "in-use" and d["Attachments"][0]["State"] == "attached"
    assert d["Attachments"][0]["DeleteOnTermination"] is False
    # EC2 gives attachment times in whole seconds (a filter by the time as shown finds it).
    at = d["Attachments"][0]["AttachTime"]
    assert at.microsecond == 0
    shown = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    got = ec2.describe_volumes(Filters=[{"Name": "attachment.attach-time", "Values": [shown]}])["Volumes"]
    assert vid in [x["VolumeId"] for x in got]
    assert error_code(ec2.attach_volume, VolumeId=vid, InstanceId=iid, Device="/dev/sdg") == "VolumeInUse"
    devices = sorted(b["DeviceName"] for b in describe(ec2, iid)["BlockDeviceMappings"])
    assert devices == ["/dev/sda1", "/dev/sdf"]
    try:
        ec2.detach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdh")
        pytest.fail("detached from a device it is not on")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidAttachment.NotFound"
        assert e.response["Error"]["Message"] == f"The volume {vid} is not attached to instance {iid} as device /dev/sdh"
    det = ec2.detach_volume(VolumeId=vid)
    assert det["State"] == "detaching" and det["InstanceId"] == iid
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available"
    assert error_code(ec2.detach_volume, VolumeId=vid) == "IncorrectState"
    # attached again, kept when the instance is terminated; the root volume goes
    ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/sdf")
    root = describe(ec2, iid)["BlockDeviceMappings"]
    root_id = [b["Ebs"]["VolumeId"] for b in root if b["DeviceName"] == "/dev/sda1"][0]
    ec2.terminate_instances(InstanceIds=[iid])
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available"
    assert error_code(ec2.describe_volumes, VolumeIds=[root_id]) == "InvalidVolume.NotFound"
    for x in (vid, other_zone["VolumeId"]):
        ec2.delete_volume(VolumeId=x)


def test_multi_attach_to_two_instances(ec2, instance):
    """A Multi-Attach io1/io2 volume attaches to several instances of its zone, each once,
    listed in its attachments and each instance's block devices (Ansible's ec2_vol attaches
    one to two instances on AWS); detached from one named, it stays on the other."""
    one = instance["InstanceId"]
    two = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=instance["SubnetId"],
                            InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    vid = ec2.create_volume(AvailabilityZone=ZONE, Size=4, VolumeType="io1", Iops=102,
                            MultiAttachEnabled=True)["VolumeId"]
    plain = ec2.create_volume(AvailabilityZone=ZONE, Size=4)["VolumeId"]
    try:
        ec2.attach_volume(VolumeId=vid, InstanceId=one, Device="/dev/sdk")
        a = ec2.attach_volume(VolumeId=vid, InstanceId=two, Device="/dev/sdg")
        assert a["State"] == "attaching" and a["InstanceId"] == two and a["Device"] == "/dev/sdg"
        [d] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
        assert d["State"] == "in-use"
        assert sorted((x["InstanceId"], x["Device"], x["State"]) for x in d["Attachments"]) == sorted(
            [(one, "/dev/sdk", "attached"), (two, "/dev/sdg", "attached")])
        got = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [two]},
                                            {"Name": "attachment.device", "Values": ["/dev/sdg"]}])["Volumes"]
        assert [x["VolumeId"] for x in got] == [vid]
        assert "/dev/sdg" in [b["DeviceName"] for b in describe(ec2, two)["BlockDeviceMappings"]]
        assert "/dev/sdk" in [b["DeviceName"] for b in describe(ec2, one)["BlockDeviceMappings"]]
        # each instance once; a plain volume on one instance only
        assert error_code(ec2.attach_volume, VolumeId=vid, InstanceId=two, Device="/dev/sdh") == "VolumeInUse"
        ec2.attach_volume(VolumeId=plain, InstanceId=one, Device="/dev/sdf")
        assert error_code(ec2.attach_volume, VolumeId=plain, InstanceId=two, Device="/dev/sdf") == "VolumeInUse"
        # detached from the one named (which must be named), still on the other
        assert error_code(ec2.detach_volume, VolumeId=vid) == "MissingParameter"
        det = ec2.detach_volume(VolumeId=vid, InstanceId=one)
        assert det["InstanceId"] == one and det["Device"] == "/dev/sdk"
        [d] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
        assert d["State"] == "in-use" and [x["InstanceId"] for x in d["Attachments"]] == [two]
        assert error_code(ec2.delete_volume, VolumeId=vid) == "VolumeInUse"
        # the instance terminated: detached from it too
        ec2.terminate_instances(InstanceIds=[two])
        assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available"
        ec2.detach_volume(VolumeId=plain, InstanceId=one)
    finally:
        ec2.terminate_instances(InstanceIds=[one, two])
        ec2.delete_volume(VolumeId=vid)
        ec2.delete_volume(VolumeId=plain)


def test_modify_volume_and_attributes(ec2):
    v = ec2.create_volume(AvailabilityZone=ZONE, Size=10, VolumeType="gp2")
    vid = v["VolumeId"]
    m = ec2.modify_volume(VolumeId=vid, Size=20, VolumeType="gp3", Iops=4000)["VolumeModification"]
    assert m["ModificationState"] == "modifying"
    assert (m["OriginalSize"], m["TargetSize"]) == (10, 20)
    assert (m["OriginalVolumeType"], m["TargetVolumeType"]) == ("gp2", "gp3")
    assert m["TargetIops"] == 4000
    [d] = ec2.describe_volumes(VolumeIds=[vid])["Volumes"]
    assert (d["Size"], d["VolumeType"], d["Iops"]) == (20, "gp3", 4000)
    [mm] = ec2.describe_volumes_modifications(VolumeIds=[vid])["VolumesModifications"]
    assert mm["ModificationState"] == "completed" and mm["Progress"] == 100
    assert error_code(ec2.modify_volume, VolumeId=vid, Size=5) == "InvalidParameterValue"
    assert ec2.describe_volume_attribute(VolumeId=vid, Attribute="autoEnableIO")["AutoEnableIO"]["Value"] is False
    ec2.modify_volume_attribute(VolumeId=vid, AutoEnableIO={"Value": True})
    assert ec2.describe_volume_attribute(VolumeId=vid, Attribute="autoEnableIO")["AutoEnableIO"]["Value"] is True
    [s] = ec2.describe_volume_status(VolumeIds=[vid])["VolumeStatuses"]
    assert s["VolumeStatus"]["Status"] == "ok"
    ec2.delete_volume(VolumeId=vid)


def test_run_instances_block_device_mappings(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.10.0/24", AvailabilityZone=ZONE)["Subnet"]
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                      BlockDeviceMappings=[{"DeviceName": "/dev/sda2"}]) == "MissingParameter"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                      BlockDeviceMappings=[{"DeviceName": "/dev/sda2", "Ebs": {"VolumeType": "standard"}}]) \
        == "MissingParameter"
    i = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
        BlockDeviceMappings=[
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 30}},
            {"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 50, "VolumeType": "io1", "Iops": 1000,
                                               "DeleteOnTermination": False}},
        ],
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]}],
    )["Instances"][0]
    iid = i["InstanceId"]
    vols = {v["Attachments"][0]["Device"]: v for v in
            ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]}
    assert vols["/dev/sda1"]["Size"] == 30
    assert vols["/dev/sdb"]["VolumeType"] == "io1" and vols["/dev/sdb"]["Iops"] == 1000
    assert vols["/dev/sdb"]["Tags"] == [{"Key": "v", "Value": "1"}]
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="blockDeviceMapping")["BlockDeviceMappings"]
    assert sorted(b["DeviceName"] for b in attr) == ["/dev/sda1", "/dev/sdb"]
    ec2.modify_instance_attribute(InstanceId=iid, BlockDeviceMappings=[
        {"DeviceName": "/dev/sda1", "Ebs": {"DeleteOnTermination": False}}])
    root = [b for b in describe(ec2, iid)["BlockDeviceMappings"] if b["DeviceName"] == "/dev/sda1"][0]
    assert root["Ebs"]["DeleteOnTermination"] is False
    ec2.terminate_instances(InstanceIds=[iid])
    for v in vols.values():
        assert ec2.describe_volumes(VolumeIds=[v["VolumeId"]])["Volumes"][0]["State"] == "available"
        ec2.delete_volume(VolumeId=v["VolumeId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])
