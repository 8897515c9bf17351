"""EBS snapshots: of a volume or an instance's volumes, describe and its filters, copies,
create-volume permissions, the archive tier, images' snapshots; EBS encryption defaults."""

import pytest

from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY, error_code

ZONE = "us-east-1a"
ME = "123456789012"
OTHER = "210987654321"


def volume(ec2, size=10, **kw):
    return ec2.create_volume(AvailabilityZone=ZONE, Size=size, **kw)["VolumeId"]


def test_create_describe_delete(ec2):
    vid = volume(ec2, 12, Encrypted=True)
    assert error_code(ec2.create_snapshot, VolumeId=vid, DryRun=True) == "DryRunOperation"
    s = ec2.create_snapshot(VolumeId=vid, Description="first",
                            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    sid = s["SnapshotId"]
    assert sid.startswith("snap-") and len(sid) == 22
    assert s["State"] == "pending" and s["VolumeId"] == vid and s["VolumeSize"] == 12
    assert s["OwnerId"] == ME and s["Encrypted"] is True and s["KmsKeyId"].startswith("arn:aws:kms:us-east-1:")
    assert s["Tags"] == [{"Key": "k", "Value": "v"}]
    [d] = ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"]
    assert d["State"] == "completed" and d["Progress"] == "100%" and d["Description"] == "first"
    assert d["StorageTier"] == "standard" and d["StartTime"].microsecond == 0
    bare = ec2.create_snapshot(VolumeId=vid)["SnapshotId"]
    [b] = ec2.describe_snapshots(SnapshotIds=[bare])["Snapshots"]
    assert b["Description"] == "" and b["Tags"] == []
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [sid]}])["Tags"][0]["ResourceType"] == "snapshot"
    ec2.delete_snapshot(SnapshotId=bare)
    assert error_code(ec2.delete_snapshot, SnapshotId=bare) == "InvalidSnapshot.NotFound"
    assert error_code(ec2.describe_snapshots, SnapshotIds=[bare]) == "InvalidSnapshot.NotFound"
    assert error_code(ec2.create_snapshot, VolumeId="vol-0123456789abcdef0") == "InvalidVolume.NotFound"
    # A volume made of it is its size and encryption at least.
    v = ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=sid)
    assert v["Size"] == 12 and v["SnapshotId"] == sid and v["Encrypted"] is True
    assert error_code(ec2.create_volume, AvailabilityZone=ZONE, SnapshotId=sid, Size=5) == "InvalidParameterValue"


def test_filters_owners_and_pages(ec2):
    v1, v2 = volume(ec2, 20), volume(ec2, 25, Encrypted=True)
    s1 = ec2.create_snapshot(VolumeId=v1, Description="filter-one")["SnapshotId"]
    s2 = ec2.create_snapshot(VolumeId=v1, Description="filter-two")["SnapshotId"]
    s3 = ec2.create_snapshot(VolumeId=v2, Description="filter-three")["SnapshotId"]
    ec2.create_tags(Resources=[s1], Tags=[{"Key": "pick", "Value": "me"}])

    def ids(**kw):
        return {s["SnapshotId"] for s in ec2.describe_snapshots(**kw)["Snapshots"]}

    f = lambda name, *values: ids(Filters=[{"Name": name, "Values": list(values)}])  # noqa: E731
    assert f("description", "filter-*") == {s1, s2, s3}
    assert f("volume-id", v1) == {s1, s2}
    assert f("tag:pick", "me") == {s1}
    assert {s1, s2} <= f("volume-size", "20") and s3 not in f("volume-size", "20")
    assert s3 in f("encrypted", "true") and s1 not in f("encrypted", "true")
    key = ec2.describe_snapshots(SnapshotIds=[s3])["Snapshots"][0]["KmsKeyId"]
    assert s3 in f("kms-key-id", key) and not ({s1, s2} & f("kms-key-id", key))
    assert {s1, s2, s3} <= f("status", "completed") and {s1, s2, s3} <= ids(OwnerIds=["self"])
    assert {s1, s2, s3} <= ids(OwnerIds=[ME]) and not ({s1, s2, s3} & ids(OwnerIds=["amazon"]))
    assert error_code(ec2.describe_snapshots, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    assert error_code(ec2.describe_snapshots, OwnerIds=["someone"]) == "InvalidUserID.Malformed"
    # Public images come with public snapshots of their publishers'.
    amazon = ec2.describe_snapshots(OwnerIds=["amazon"])["Snapshots"]
    assert amazon and all(s["OwnerAlias"] == "amazon" for s in amazon)
    al = ec2.describe_images(Owners=["amazon"])["Images"][0]
    snap = al["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    [s] = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"]
    assert s["OwnerId"] == al["OwnerId"] and s["VolumeSize"] == al["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"]
    assert snap in ids(RestorableByUserIds=["all"])
    page = ec2.describe_snapshots(MaxResults=5)
    assert len(page["Snapshots"]) == 5 and "NextToken" in page


def test_create_snapshots_of_an_instance(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.11.0/24", AvailabilityZone=ZONE)["Subnet"]
    i = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                          InstanceType="t3.micro")["Instances"][0]
    iid = i["InstanceId"]
    data = volume(ec2, 30, TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "src", "Value": "vol"}]}])
    ec2.attach_volume(VolumeId=data, InstanceId=iid, Device="/dev/sdf")
    assert error_code(ec2.create_snapshots, InstanceSpecification={"InstanceId": iid}, DryRun=True) == "DryRunOperation"
    got = ec2.create_snapshots(InstanceSpecification={"InstanceId": iid}, Description="both")["Snapshots"]
    assert sorted(x["VolumeSize"] for x in got) == [8, 30]
    assert all(x["Description"] == "both" and x["Tags"] == [] and x["State"] == "pending" for x in got)
    only = ec2.create_snapshots(InstanceSpecification={"InstanceId": iid, "ExcludeBootVolume": True},
                                CopyTagsFromSource="volume",
                                TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    [x] = only["Snapshots"]
    assert x["VolumeId"] == data and x["Tags"] == [{"Key": "k", "Value": "v"}, {"Key": "src", "Value": "vol"}]
    assert error_code(ec2.create_snapshots, InstanceSpecification={"InstanceId": "i-0123456789abcdef0"}) \
        == "InvalidInstanceID.NotFound"
    ec2.terminate_instances(InstanceIds=[iid])


def test_copy_snapshot_across_regions(fort, ec2):
    west = fort.client(region="us-west-2")
    src = ec2.create_snapshot(VolumeId=volume(ec2, 9), Description="to copy")["SnapshotId"]
    tags = [{"ResourceType": "snapshot", "Tags": [{"Key": "copy", "Value": "yes"}]}]
    c = west.copy_snapshot(SourceSnapshotId=src, SourceRegion="us-east-1", TagSpecifications=tags)
    assert c["SnapshotId"] != src and c["Tags"] == [{"Key": "copy", "Value": "yes"}]
    [d] = west.describe_snapshots(SnapshotIds=[c["SnapshotId"]])["Snapshots"]
    assert d["VolumeSize"] == 9 and d["OwnerId"] == ME and d["Encrypted"] is False
    # the API gives a copy only the description asked for (the console's "[Copied …]" is
    # the console's own); the provider's aws_ebs_snapshot_copy, tested against EC2, reads none
    assert d["Description"] == ""
    named = west.copy_snapshot(SourceSnapshotId=src, SourceRegion="us-east-1", Description="the copy")
    assert west.describe_snapshots(SnapshotIds=[named["SnapshotId"]])["Snapshots"][0]["Description"] == "the copy"
    enc = west.copy_snapshot(SourceSnapshotId=src, SourceRegion="us-east-1", Encrypted=True, KmsKeyId="alias/mine")
    [e] = west.describe_snapshots(SnapshotIds=[enc["SnapshotId"]])["Snapshots"]
    assert e["Encrypted"] is True and e["KmsKeyId"] == "alias/mine"
    assert error_code(west.copy_snapshot, SourceSnapshotId=src, SourceRegion="eu-west-1") == "InvalidSnapshot.NotFound"
    assert error_code(ec2.describe_snapshots, SnapshotIds=[c["SnapshotId"]]) == "InvalidSnapshot.NotFound"


def test_create_volume_permissions(fort, ec2):
    other = fort.client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    sid = ec2.create_snapshot(VolumeId=volume(ec2))["SnapshotId"]
    attr = lambda: ec2.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")  # noqa: E731
    assert attr()["CreateVolumePermissions"] == []
    assert error_code(other.describe_snapshots, SnapshotIds=[sid]) == "InvalidSnapshot.NotFound"
    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission", OperationType="add",
                                  UserIds=[OTHER])
    assert attr()["CreateVolumePermissions"] == [{"UserId": OTHER}]
    [s] = other.describe_snapshots(SnapshotIds=[sid])["Snapshots"]
    assert s["OwnerId"] == ME
    assert sid in {x["SnapshotId"] for x in other.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]}
    assert other.create_volume(AvailabilityZone=ZONE, SnapshotId=sid)["SnapshotId"] == sid
    assert error_code(other.delete_snapshot, SnapshotId=sid) == "InvalidSnapshot.NotFound"
    ec2.modify_snapshot_attribute(SnapshotId=sid, CreateVolumePermission={"Add": [{"Group": "all"}]})
    ec2.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission", OperationType="add",
                                  GroupNames=["all"])
    assert attr()["CreateVolumePermissions"] == [{"UserId": OTHER}, {"Group": "all"}]
    assert error_code(ec2.modify_snapshot_attribute, SnapshotId=sid, Attribute="createVolumePermission",
                      OperationType="add", GroupNames=["everyone"]) == "InvalidAMIAttributeItemValue"
    assert error_code(ec2.modify_snapshot_attribute, SnapshotId=sid, Attribute="createVolumePermission",
                      OperationType="add", GroupNames=["all"], DryRun=True) == "DryRunOperation"
    ec2.reset_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
    assert attr()["CreateVolumePermissions"] == []
    assert ec2.describe_snapshot_attribute(SnapshotId=sid, Attribute="productCodes")["ProductCodes"] == []
    assert error_code(ec2.modify_snapshot_attribute, SnapshotId="snap-0123456789abcdef0",
                      Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]) \
        == "InvalidSnapshot.NotFound"


def test_archive_tier(ec2):
    sid = ec2.create_snapshot(VolumeId=volume(ec2))["SnapshotId"]
    status = lambda: next(s for s in ec2.describe_snapshot_tier_status()["SnapshotTierStatuses"]  # noqa: E731
                          if s["SnapshotId"] == sid)
    assert status()["StorageTier"] == "standard"
    assert error_code(ec2.modify_snapshot_tier, SnapshotId=sid, StorageTier="standard") == "InvalidParameterValue"
    assert error_code(ec2.restore_snapshot_tier, SnapshotId=sid, PermanentRestore=True) == "IncorrectState"
    r = ec2.modify_snapshot_tier(SnapshotId=sid, StorageTier="archive")
    assert r["SnapshotId"] == sid and "TieringStartTime" in r
    s = status()
    assert s["StorageTier"] == "archive" and s["LastTieringOperationStatus"] == "archival-completed"
    assert sid in {x["SnapshotId"] for x in
                   ec2.describe_snapshots(Filters=[{"Name": "storage-tier", "Values": ["archive"]}])["Snapshots"]}
    r = ec2.restore_snapshot_tier(SnapshotId=sid, TemporaryRestoreDays=3)
    assert r["IsPermanentRestore"] is False and r["RestoreDuration"] == 3
    assert status()["StorageTier"] == "archive" and "RestoreExpiryTime" in status()
    r = ec2.restore_snapshot_tier(SnapshotId=sid, PermanentRestore=True)
    assert r["IsPermanentRestore"] is True and "RestoreDuration" not in r
    s = status()
    assert s["StorageTier"] == "standard" and s["LastTieringOperationStatus"] == "permanent-restore-completed"


def test_images_own_their_snapshots(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.12.0/24", AvailabilityZone=ZONE)["Subnet"]
    iid = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                            InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    ami = ec2.create_image(InstanceId=iid, Name="snap-owner-image",
                           TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "of", "Value": "image"}]}]
                           )["ImageId"]
    [img] = ec2.describe_images(ImageIds=[ami])["Images"]
    sid = img["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    [snap] = ec2.describe_snapshots(SnapshotIds=[sid])["Snapshots"]
    assert snap["Description"] == f"Created by CreateImage({iid}) for {ami}"
    assert snap["OwnerId"] == ME and snap["Tags"] == [{"Key": "of", "Value": "image"}]
    root = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]
    assert snap["VolumeId"] == root["Ebs"]["VolumeId"]
    err = ec2.delete_snapshot
    assert error_code(err, SnapshotId=sid) == "InvalidSnapshot.InUse"
    ec2.deregister_image(ImageId=ami)
    ec2.delete_snapshot(SnapshotId=sid)
    ami2 = ec2.create_image(InstanceId=iid, Name="snap-owner-image-2")["ImageId"]
    sid2 = ec2.describe_images(ImageIds=[ami2])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    r = ec2.deregister_image(ImageId=ami2, DeleteAssociatedSnapshots=True)
    assert r["DeleteSnapshotResults"] == [{"SnapshotId": sid2, "ReturnCode": "success"}]
    assert error_code(ec2.describe_snapshots, SnapshotIds=[sid2]) == "InvalidSnapshot.NotFound"
    ec2.terminate_instances(InstanceIds=[iid])


@pytest.fixture
def west(fort):
    """A region of its own, so the account's EBS defaults change nowhere else."""
    c = fort.client(region="eu-central-1")
    yield c
    c.disable_ebs_encryption_by_default()
    c.reset_ebs_default_kms_key_id()


def test_ebs_encryption_defaults(fort, west):
    assert west.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    assert west.get_ebs_default_kms_key_id()["KmsKeyId"] == "alias/aws/ebs"
    v = west.create_volume(AvailabilityZone="eu-central-1a", Size=1)
    assert v["Encrypted"] is False and "KmsKeyId" not in v
    assert west.enable_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    assert fort.client(region="eu-west-1").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    v = west.create_volume(AvailabilityZone="eu-central-1a", Size=1)
    assert v["Encrypted"] is True and v["KmsKeyId"].startswith(f"arn:aws:kms:eu-central-1:{ME}:key/")
    managed = v["KmsKeyId"]
    # Instances' volumes too.
    iid = west.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1,
                             InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    [root] = west.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]
    assert root["Encrypted"] is True and root["KmsKeyId"] == managed
    west.terminate_instances(InstanceIds=[iid])
    key = "0ea3fef3-80a7-4778-9d8c-1c0c6ec0ffee"
    arn = f"arn:aws:kms:eu-central-1:{ME}:key/{key}"
    assert west.modify_ebs_default_kms_key_id(KmsKeyId=key)["KmsKeyId"] == arn
    assert west.get_ebs_default_kms_key_id()["KmsKeyId"] == arn
    assert west.create_volume(AvailabilityZone="eu-central-1a", Size=1)["KmsKeyId"] == arn
    assert west.modify_ebs_default_kms_key_id(KmsKeyId="alias/mine")["KmsKeyId"] == \
        f"arn:aws:kms:eu-central-1:{ME}:alias/mine"
    assert error_code(west.modify_ebs_default_kms_key_id, KmsKeyId="not a key") == "InvalidParameterValue"
    assert west.reset_ebs_default_kms_key_id()["KmsKeyId"] == "alias/aws/ebs"
    assert west.create_volume(AvailabilityZone="eu-central-1a", Size=1)["KmsKeyId"] == managed
    assert west.disable_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    assert west.create_volume(AvailabilityZone="eu-central-1a", Size=1)["Encrypted"] is False


def test_tag_calls_name_the_resource_set(ec2):
    for call in (ec2.create_tags, ec2.delete_tags):
        with pytest.raises(Exception) as e:
            call(Resources=[], Tags=[{"Key": "k", "Value": "v"}])
        err = e.value.response["Error"]
        assert (err["Code"], err["Message"]) == ("MissingParameter",
                                                 "The request must contain the parameter resourceIdSet")
    with pytest.raises(Exception) as e:
        ec2.create_volume(AvailabilityZone=ZONE, Size=1, TagSpecifications=[{"Tags": [{"Key": "k", "Value": "v"}]}])
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("InvalidParameter", "Tag specification resource type must have a value")
