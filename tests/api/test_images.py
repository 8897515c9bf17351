"""Images (AMIs) as AWS users meet them: the public catalog (Amazon Linux, Ubuntu, Debian,
Windows) with real owners and names, DescribeImages' owners, filters and pages, images of
unknown ids registered by RunInstances, users' own images (RegisterImage, CreateImage,
CopyImage, DeregisterImage), their attributes and sharing; and DescribeInstanceTypes."""

import json
import os
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, Fort, error_code

AMAZON = "137112412989"
CANONICAL = "099720109477"
DEBIAN = "136693071363"
WINDOWS = "801119661308"
ME = "123456789012"
OTHER = "210987654321"


def newest(ec2, owners, name, **filters):
    """What Terraform's `data "aws_ami"` with most_recent = true finds."""
    f = [{"Name": "name", "Values": [name]}, {"Name": "virtualization-type", "Values": ["hvm"]}]
    f += [{"Name": k, "Values": [v]} for k, v in filters.items()]
    images = ec2.describe_images(Owners=owners, Filters=f, IncludeDeprecated=False)["Images"]
    assert images, f"no image for {owners} {name}"
    return max(images, key=lambda i: i["CreationDate"])


def unique(prefix="img"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]
    yield s["SubnetId"]
    for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["Reservations"]:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])
    for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_catalog_has_real_publishers_and_names(ec2):
    images = ec2.describe_images(Owners=["amazon", CANONICAL, DEBIAN])["Images"]
    by_owner = {}
    for i in images:
        by_owner.setdefault(i["OwnerId"], []).append(i)
        assert i["State"] == "available" and i["Public"] is True and i["ImageType"] == "machine"
        assert i["VirtualizationType"] == "hvm" and i["RootDeviceType"] == "ebs" and i["EnaSupport"] is True
        assert i["Hypervisor"] == "xen" and i["CreationDate"].endswith("Z")
        root = i["BlockDeviceMappings"][0]
        assert root["DeviceName"] == i["RootDeviceName"]
        assert root["Ebs"]["SnapshotId"].startswith("snap-") and root["Ebs"]["DeleteOnTermination"] is True
        # Amazon Linux 2's "-ebs" images boot from a magnetic volume, the others from gp2/gp3
        kinds = ("standard",) if i["Name"].endswith("-ebs") else ("gp2", "gp3")
        assert root["Ebs"]["VolumeType"] in kinds and root["Ebs"]["VolumeSize"] >= 2
    assert set(by_owner) == {AMAZON, CANONICAL, DEBIAN, WINDOWS}
    for owner, alias in [(AMAZON, "amazon"), (WINDOWS, "amazon"), (CANONICAL, None), (DEBIAN, None)]:
        assert {i.get("ImageOwnerAlias") for i in by_owner[owner]} == {alias}
    assert all(i["RootDeviceName"] == "/dev/xvda" for i in by_owner[AMAZON] + by_owner[DEBIAN])
    assert all(i["RootDeviceName"] == "/dev/sda1" for i in by_owner[CANONICAL] + by_owner[WINDOWS])
    assert {i["Architecture"] for i in images} == {"x86_64", "arm64"}
    for w in by_owner[WINDOWS]:
        assert w["Platform"] == "windows" and w["PlatformDetails"] == "Windows"
        assert w["UsageOperation"] == "RunInstances:0002" and w["Name"].startswith(("Windows_Server-2022-English-Full-Base-", "Windows_Server-2016-English-Core-Base-"))
    for i in by_owner[AMAZON] + by_owner[CANONICAL] + by_owner[DEBIAN]:
        assert "Platform" not in i and i["PlatformDetails"] == "Linux/UNIX" and i["UsageOperation"] == "RunInstances"
    # Ubuntu's images map two instance store volumes after the root, as Canonical's do.
    assert [m.get("VirtualName") for m in by_owner[CANONICAL][0]["BlockDeviceMappings"][1:]] == ["ephemeral0", "ephemeral1"]


def test_provider_acceptance_helper_finds_amazon_linux_2_minimal(ec2):
    """The hashicorp/aws provider's acceptance tests launch instances from
    acctest.ConfigLatestAmazonLinux2HVMEBSX8664AMI(): owners ["amazon"], name
    amzn2-ami-minimal-hvm-*, root device type ebs, one architecture."""
    for arch in ["x86_64", "arm64"]:
        img = newest(ec2, ["amazon"], "amzn2-ami-minimal-hvm-*",
                     **{"root-device-type": "ebs", "architecture": arch})
        assert img["Name"] == f"amzn2-ami-minimal-hvm-2.0.20241217.0-{arch}-ebs"
        assert img["Description"] == f"Amazon Linux 2 AMI 2.0.20241217.0 {arch} Minimal HVM ebs"
        assert img["OwnerId"] == AMAZON and img["Architecture"] == arch
        assert img["RootDeviceType"] == "ebs" and img["RootDeviceName"] == "/dev/xvda"
        # "-ebs" images boot from a magnetic volume, "-gp2" ones from gp2
        assert img["BlockDeviceMappings"][0]["Ebs"]["VolumeType"] == "standard"
    # TestAccEC2Instance_GetPasswordData_* launch Windows Server 2016 core
    win = newest(ec2, ["amazon"], "Windows_Server-2016-English-Core-Base-*", platform="windows")
    assert win["Name"] == "Windows_Server-2016-English-Core-Base-2024.12.13" and win["OwnerId"] == WINDOWS
    assert win["Description"] == "Microsoft Windows Server 2016 Core Locale English AMI provided by Amazon"
    assert win["PlatformDetails"] == "Windows" and win["RootDeviceName"] == "/dev/sda1"


def test_terraform_style_lookups_find_the_newest(ec2):
    al = newest(ec2, ["amazon"], "al2023-ami-2023.*-x86_64")
    assert al["Name"] == "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64" and al["OwnerId"] == AMAZON
    assert al["Architecture"] == "x86_64" and al["ImdsSupport"] == "v2.0" and al["BootMode"] == "uefi-preferred"
    assert al["Description"] == "Amazon Linux 2023 AMI 2023.6.20241212.0 x86_64 HVM kernel-6.1"
    arm = newest(ec2, ["amazon"], "al2023-ami-2023.*-arm64")
    assert arm["Architecture"] == "arm64" and arm["BootMode"] == "uefi"
    al2 = newest(ec2, ["amazon"], "amzn2-ami-hvm-*-x86_64-gp2")
    assert al2["Name"] == "amzn2-ami-hvm-2.0.20241217.0-x86_64-gp2"
    # Amazon Linux 1's last release, which terraform-aws-ec2-instance's examples look up.
    al1 = newest(ec2, ["amazon"], "amzn-ami-hvm-*-x86_64-gp2")
    assert al1["Name"] == "amzn-ami-hvm-2018.03.0.20231218.0-x86_64-gp2" and "BootMode" not in al1
    assert al1["Description"] == "Amazon Linux AMI 2018.03.0.20231218.0 x86_64 HVM gp2"
    al2k = newest(ec2, [AMAZON], "amzn2-ami-kernel-5.10-hvm-*-x86_64-gp2")
    assert al2k["Name"] == "amzn2-ami-kernel-5.10-hvm-2.0.20241217.0-x86_64-gp2"
    jammy = newest(ec2, [CANONICAL], "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*")
    assert jammy["Name"] == "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20241206"
    noble = newest(ec2, [CANONICAL], "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*")
    assert noble["Name"] == "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241206"
    assert noble["BlockDeviceMappings"][0]["Ebs"]["VolumeType"] == "gp3"
    debian = newest(ec2, [DEBIAN], "debian-12-amd64-*")
    assert debian["Name"] == "debian-12-amd64-20241201-1948" and debian["RootDeviceName"] == "/dev/xvda"
    win = newest(ec2, ["amazon"], "Windows_Server-2022-English-Full-Base-*", platform="windows")
    assert win["Name"] == "Windows_Server-2022-English-Full-Base-2024.12.13" and win["OwnerId"] == WINDOWS
    # Every family has an older release too, so most_recent matters.
    older = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023.*-x86_64"]}])["Images"]
    assert len({i["CreationDate"] for i in older}) >= 2


def test_owner_filters_come_from_each_image(ec2):
    for owner in [CANONICAL, DEBIAN, WINDOWS, AMAZON]:
        got = ec2.describe_images(Filters=[{"Name": "owner-id", "Values": [owner]}])["Images"]
        assert got and {i["OwnerId"] for i in got} == {owner}
        assert {i["ImageId"] for i in got} == {i["ImageId"] for i in ec2.describe_images(Owners=[owner])["Images"]}
    amazon = ec2.describe_images(Filters=[{"Name": "owner-alias", "Values": ["amazon"]}])["Images"]
    assert {i["OwnerId"] for i in amazon} == {AMAZON, WINDOWS}
    assert ec2.describe_images(Filters=[{"Name": "owner-alias", "Values": ["unknown"]}])["Images"] == []
    assert ec2.describe_images(Filters=[{"Name": "owner-alias", "Values": []}])["Images"] == []
    assert ec2.describe_images(Owners=["aws-marketplace"])["Images"] == []
    assert error_code(ec2.describe_images, Owners=["nobody"]) == "InvalidUserID.Malformed"
    assert error_code(ec2.describe_images, ExecutableUsers=["nobody"]) == "InvalidUserID.Malformed"


def test_filters_as_aws_documents_them(ec2):
    def names(*filters, owners=("amazon", CANONICAL, DEBIAN)):
        f = [{"Name": n, "Values": v if isinstance(v, list) else [v]} for n, v in filters]
        return {i["Name"] for i in ec2.describe_images(Owners=list(owners), Filters=f)["Images"]}
    every = names()
    assert names(("platform", "windows")) == {n for n in every if n.startswith("Windows_Server")}
    assert names(("architecture", "arm64")) and all("arm64" in n for n in names(("architecture", "arm64")))
    assert names(("root-device-name", "/dev/sda1")) == {n for n in every if n.startswith(("ubuntu", "Windows"))}
    assert names(("block-device-mapping.volume-type", "gp3")) >= {n for n in every if n.startswith("al2023")}
    assert names(("block-device-mapping.volume-size", "30")) == names(("platform", "windows"))
    assert names(("block-device-mapping.device-name", "/dev/sdb")) == {n for n in every if n.startswith("ubuntu")}
    assert names(("description", "Canonical, Ubuntu, 24.04*")) == {n for n in every if "noble" in n}
    assert names(("creation-date", "2024-12-13T*")) >= {"al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64"}
    assert names(("is-public", "true")) == every and names(("is-public", "false")) == set()
    assert names(("state", "available"), ("image-type", "machine"), ("hypervisor", "xen")) == every
    assert names(("root-device-type", "instance-store")) == set()
    assert names(("ena-support", "true"), ("virtualization-type", "hvm")) == every
    assert names(("name", "debian-12-*"), ("architecture", "x86_64")) == {"debian-12-amd64-20241110-1919", "debian-12-amd64-20241201-1948"}
    one = ec2.describe_images(Owners=[DEBIAN])["Images"][0]
    assert names(("image-id", one["ImageId"])) == {one["Name"]}
    snap = one["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert names(("block-device-mapping.snapshot-id", snap)) == {one["Name"]}
    assert error_code(ec2.describe_images, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    # A filter without a name is one named `null` to EC2.
    try:
        ec2.describe_images(Filters=[{"Values": ["123"]}])
        raise AssertionError("a filter without a name was taken")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidParameterValue"
        assert e.response["Error"]["Message"] == "The filter 'null' is invalid"


def test_image_ids_not_found_and_malformed(ec2):
    assert error_code(ec2.describe_images, ImageIds=["ami_x"]) == "InvalidAMIID.Malformed"
    try:
        ec2.describe_images(ImageIds=["not_an_ami_id"])
    except Exception as e:
        assert e.response["Error"]["Message"] == 'Invalid id: "not_an_ami_id" (expecting "ami-...")'
    try:
        ec2.describe_images(ImageIds=["ami-abcd1234"])
    except Exception as e:
        assert e.response["Error"]["Code"] == "InvalidAMIID.NotFound"
        assert e.response["Error"]["Message"] == "The image id '[ami-abcd1234]' does not exist"
    try:
        ec2.describe_images(ImageIds=["ami-abcd1234", "ami-1234abcd"])
    except Exception as e:
        assert e.response["Error"]["Message"] == "The image ids '[ami-abcd1234, ami-1234abcd]' do not exist"
    one = ec2.describe_images(Owners=[DEBIAN])["Images"][0]
    [got] = ec2.describe_images(ImageIds=[one["ImageId"]])["Images"]
    assert got == one
    assert ec2.describe_images(Owners=["self"], ImageIds=[one["ImageId"]])["Images"] == []


def test_each_region_has_its_own_ids(fort, ec2):
    west = fort.client(region="eu-west-1")
    name = "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64"
    f = [{"Name": "name", "Values": [name]}]
    [e] = ec2.describe_images(Owners=["amazon"], Filters=f)["Images"]
    [w] = west.describe_images(Owners=["amazon"], Filters=f)["Images"]
    assert e["ImageId"] != w["ImageId"]
    assert e["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] != w["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert error_code(west.describe_images, ImageIds=[e["ImageId"]]) == "InvalidAMIID.NotFound"
    [again] = ec2.describe_images(Owners=["amazon"], Filters=f)["Images"]
    assert again["ImageId"] == e["ImageId"]


def test_deprecated_images_are_left_out_unless_asked_for(ec2):
    f = [{"Name": "name", "Values": ["amzn2-ami-kernel-5.10-hvm-2.0.2023*-x86_64-gp2"]}]
    assert ec2.describe_images(Owners=["amazon"], Filters=f)["Images"] == []
    [old] = ec2.describe_images(Owners=["amazon"], Filters=f, IncludeDeprecated=True)["Images"]
    assert old["DeprecationTime"] < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    # Named by id, it is described.
    assert ec2.describe_images(ImageIds=[old["ImageId"]])["Images"][0]["ImageId"] == old["ImageId"]


def test_describe_images_pages(ec2):
    every = [i["ImageId"] for i in ec2.describe_images()["Images"]]
    assert len(every) > 20
    got, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        r = ec2.describe_images(MaxResults=7, **kw)
        assert len(r["Images"]) <= 7
        got += [i["ImageId"] for i in r["Images"]]
        token = r.get("NextToken")
        if not token:
            break
    assert got == every
    pages = ec2.get_paginator("describe_images").paginate(Owners=["amazon"], PaginationConfig={"PageSize": 5})
    assert [i["ImageId"] for p in pages for i in p["Images"]] == [i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"]]


def test_aws_cli_describe_images(fort):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run(["aws", "--endpoint-url", fort.endpoint, "ec2", "describe-images", "--owners", "amazon",
                          "--filters", "Name=name,Values=al2023-ami-2023.*-x86_64", "--output", "json",
                          "--query", "sort_by(Images, &CreationDate)[-1].Name"],
                         env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64"


def test_run_instances_registers_an_unknown_image(ec2, subnet):
    ami = "ami-0a1b2c3d4e5f60718"
    assert error_code(ec2.describe_images, ImageIds=[ami]) == "InvalidAMIID.NotFound"
    i = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.micro")["Instances"][0]
    assert i["ImageId"] == ami
    [img] = ec2.describe_images(ImageIds=[ami])["Images"]
    assert img["OwnerId"] == ME and img["Architecture"] == "x86_64" and img["State"] == "available"
    # The root device name EC2 gives an image registered without one.
    assert img["RootDeviceName"] == "/dev/sda1" and img["RootDeviceType"] == "ebs" and img["Name"] == f"fort-imported-{ami}"
    assert [b["DeviceName"] for b in img["BlockDeviceMappings"]] == ["/dev/sda1"]
    d = ec2.describe_instances(InstanceIds=[i["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert d["RootDeviceName"] == "/dev/sda1" and [b["DeviceName"] for b in d["BlockDeviceMappings"]] == ["/dev/sda1"]
    assert img["PlatformDetails"] == "Linux/UNIX" and img["Public"] is False
    # Launching it again uses the same image; an 8-hex id works as well.
    ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.micro")
    assert len(ec2.describe_images(ImageIds=[ami])["Images"]) == 1
    ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)
    assert ec2.describe_images(ImageIds=["ami-12c6146b"])["Images"][0]["Architecture"] == "x86_64"
    assert error_code(ec2.run_instances, ImageId="ami_nothex!", MinCount=1, MaxCount=1, SubnetId=subnet) == "InvalidAMIID.Malformed"


def test_strict_images_refuse_unknown_ids():
    f = Fort(extra_args=["--images", "strict"])
    try:
        ec2 = f.client()
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        s = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        run = dict(MinCount=1, MaxCount=1, SubnetId=s, InstanceType="t3.micro")
        assert error_code(ec2.run_instances, ImageId="ami-0a1b2c3d4e5f60718", **run) == "InvalidAMIID.NotFound"
        assert error_code(ec2.run_instances, ImageId="ami_bogus", **run) == "InvalidAMIID.Malformed"
        assert error_code(ec2.describe_images, ImageIds=["ami-0a1b2c3d4e5f60718"]) == "InvalidAMIID.NotFound"
        al = newest(ec2, ["amazon"], "al2023-ami-2023.*-x86_64")
        assert ec2.run_instances(ImageId=al["ImageId"], **run)["Instances"][0]["ImageId"] == al["ImageId"]
        mine = ec2.register_image(Name="strict-registered", Architecture="x86_64", RootDeviceName="/dev/xvda",
                                  VirtualizationType="hvm",
                                  BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
        assert ec2.run_instances(ImageId=mine, **run)["Instances"][0]["ImageId"] == mine
    finally:
        f.close()


def test_register_describe_deregister(ec2):
    name = unique("registered")
    bdm = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0123456789abcdef0", "VolumeSize": 10, "VolumeType": "gp3"}}]
    ami = ec2.register_image(Name=name, Description="mine", Architecture="arm64", RootDeviceName="/dev/xvda",
                             BlockDeviceMappings=bdm, VirtualizationType="hvm", EnaSupport=True, BootMode="uefi",
                             TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "net"}]}])["ImageId"]
    [img] = ec2.describe_images(ImageIds=[ami])["Images"]
    assert img["Name"] == name and img["Description"] == "mine" and img["OwnerId"] == ME and "ImageOwnerAlias" not in img
    assert img["State"] == "available" and img["Public"] is False and img["Architecture"] == "arm64" and img["BootMode"] == "uefi"
    assert img["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == "snap-0123456789abcdef0"
    assert img["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 10 and img["Tags"] == [{"Key": "team", "Value": "net"}]
    assert img["ImageLocation"] == f"{ME}/{name}"
    assert ami in [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    assert [i["ImageId"] for i in ec2.describe_images(Owners=[ME], Filters=[{"Name": "tag:team", "Values": ["net"]}])["Images"]] == [ami]
    assert error_code(ec2.register_image, Name=name, RootDeviceName="/dev/xvda", BlockDeviceMappings=bdm) == "InvalidAMIName.Duplicate"
    assert error_code(ec2.register_image, Name="bad*name", RootDeviceName="/dev/xvda") == "InvalidAMIName.Malformed"
    assert error_code(ec2.register_image, Name="x" * 129) == "InvalidAMIName.Malformed"
    ec2.create_tags(Resources=[ami], Tags=[{"Key": "more", "Value": "1"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ami]}])["Tags"]
    assert {t["ResourceType"] for t in tags} == {"image"} and len(tags) == 2
    r = ec2.deregister_image(ImageId=ami)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    # Gone: asked for by id, nothing (no error); a second deregistration is refused.
    assert ec2.describe_images(ImageIds=[ami])["Images"] == []
    assert ami not in [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    assert error_code(ec2.deregister_image, ImageId=ami) == "InvalidAMIID.Unavailable"
    assert error_code(ec2.deregister_image, ImageId="ami-0000000000000000f") == "InvalidAMIID.NotFound"
    assert error_code(ec2.deregister_image, ImageId="ami_unknown") == "InvalidAMIID.Malformed"
    # The name is free again.
    again = ec2.register_image(Name=name, RootDeviceName="/dev/xvda", BlockDeviceMappings=bdm)["ImageId"]
    r = ec2.deregister_image(ImageId=again, DeleteAssociatedSnapshots=True)
    assert r["DeleteSnapshotResults"] == [{"SnapshotId": "snap-0123456789abcdef0", "ReturnCode": "success"}]
    catalog = ec2.describe_images(Owners=[DEBIAN])["Images"][0]["ImageId"]
    assert error_code(ec2.deregister_image, ImageId=catalog) == "AuthFailure"


def test_create_image_from_an_instance(ec2, subnet):
    src = newest(ec2, [CANONICAL], "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*")
    inst = ec2.run_instances(ImageId=src["ImageId"], MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.micro")["Instances"][0]
    name = unique("from-instance")
    ami = ec2.create_image(InstanceId=inst["InstanceId"], Name=name, Description="snap of it",
                           TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "k", "Value": "v"}]}])["ImageId"]
    [img] = ec2.describe_images(ImageIds=[ami])["Images"]
    # Fort has no disk to copy: the image is available at once (EC2's stays pending a while).
    assert img["State"] == "available" and img["OwnerId"] == ME and img["SourceInstanceId"] == inst["InstanceId"]
    assert "StateReason" not in img
    assert img["RootDeviceName"] == "/dev/sda1" and img["Architecture"] == "x86_64" and img["Tags"] == [{"Key": "k", "Value": "v"}]
    root = img["BlockDeviceMappings"][0]
    assert root["DeviceName"] == "/dev/sda1" and root["Ebs"]["SnapshotId"] != src["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert root["Ebs"]["VolumeSize"] == src["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"]
    ec2.get_waiter("image_available").wait(ImageIds=[ami], WaiterConfig={"Delay": 1, "MaxAttempts": 1})
    assert ec2.describe_images(ImageIds=[ami], Filters=[{"Name": "state", "Values": ["available"]}])["Images"]
    assert [i["ImageId"] for i in ec2.describe_images(Filters=[{"Name": "source-instance-id", "Values": [inst["InstanceId"]]}])["Images"]] == [ami]
    i2 = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.micro")["Instances"][0]
    assert i2["ImageId"] == ami
    assert error_code(ec2.create_image, InstanceId=inst["InstanceId"], Name=name) == "InvalidAMIName.Duplicate"
    assert error_code(ec2.create_image, InstanceId="i-0123456789abcdef0", Name=unique()) == "InvalidInstanceID.NotFound"
    assert error_code(ec2.create_image, InstanceId=inst["InstanceId"], Name=unique(),
                      TagSpecifications=[{"ResourceType": "bogus", "Tags": [{"Key": "k", "Value": "v"}]}]) == "InvalidParameterValue"
    ec2.deregister_image(ImageId=ami)


def test_copy_image_across_regions(fort, ec2):
    west = fort.client(region="us-west-2")
    name = unique("to-copy")
    src = ec2.register_image(Name=name, Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
                             TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "copied", "Value": "yes"}]}])["ImageId"]
    copy = west.copy_image(SourceImageId=src, SourceRegion="us-east-1", Name=name, CopyImageTags=True)["ImageId"]
    assert copy != src
    [c] = west.describe_images(ImageIds=[copy])["Images"]
    assert c["Name"] == name and c["OwnerId"] == ME and c["SourceImageId"] == src and c["SourceImageRegion"] == "us-east-1"
    assert c["Description"] == f"[Copied {src} from us-east-1] {name}" and c["Tags"] == [{"Key": "copied", "Value": "yes"}]
    # Available at once, so a copy can be copied (and launched) straight away.
    assert c["State"] == "available"
    again = ec2.copy_image(SourceImageId=copy, SourceRegion="us-west-2", Name=unique("copy-of-copy"))["ImageId"]
    assert ec2.describe_images(ImageIds=[again])["Images"][0]["State"] == "available"
    assert error_code(ec2.describe_images, ImageIds=[copy]) == "InvalidAMIID.NotFound"
    # A copy into the source's own region may keep its name (RegisterImage may not).
    same = ec2.copy_image(SourceImageId=src, SourceRegion="us-east-1", Name=name)["ImageId"]
    assert {i["ImageId"] for i in ec2.describe_images(Filters=[{"Name": "name", "Values": [name]}])["Images"]} == {src, same}
    # Public images copy too (and become the caller's).
    al = newest(ec2, ["amazon"], "al2023-ami-2023.*-x86_64")
    mine = west.copy_image(SourceImageId=al["ImageId"], SourceRegion="us-east-1", Name=unique("al-copy"), Encrypted=True)["ImageId"]
    [m] = west.describe_images(ImageIds=[mine])["Images"]
    assert m["OwnerId"] == ME and "ImageOwnerAlias" not in m and m["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert error_code(west.copy_image, SourceImageId="ami-abcd1234", SourceRegion="us-east-1", Name=unique()) == "InvalidAMIID.NotFound"
    assert error_code(west.copy_image, SourceImageId=src, SourceRegion="eu-west-1", Name=unique()) == "InvalidAMIID.NotFound"


def test_launch_permissions_share_with_another_account(fort, ec2, subnet):
    other = fort.client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    ami = ec2.register_image(Name=unique("shared"), Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    attr = lambda: ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"]
    assert attr() == []
    assert error_code(other.describe_images, ImageIds=[ami]) == "InvalidAMIID.NotFound"
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": OTHER}]})
    assert attr() == [{"UserId": OTHER}]
    [seen] = other.describe_images(ImageIds=[ami])["Images"]
    assert seen["OwnerId"] == ME and seen["Public"] is False
    assert ami in [i["ImageId"] for i in other.describe_images(ExecutableUsers=["self"])["Images"]]
    assert ami in [i["ImageId"] for i in other.describe_images(Owners=[ME])["Images"]]
    assert ami in [i["ImageId"] for i in ec2.describe_images(ExecutableUsers=[OTHER])["Images"]]
    assert ami not in [i["ImageId"] for i in ec2.describe_images(ExecutableUsers=["all"])["Images"]]
    # The other account launches it, but may not change it.
    ovpc = other.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    osub = other.create_subnet(VpcId=ovpc, CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    oi = other.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=osub)["Instances"][0]
    assert oi["ImageId"] == ami
    assert error_code(other.modify_image_attribute, ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]}) == "AuthFailure"
    assert error_code(other.describe_image_attribute, ImageId=ami, Attribute="launchPermission") == "AuthFailure"
    # Public with the group all, private again with a reset.
    ec2.modify_image_attribute(ImageId=ami, Attribute="launchPermission", OperationType="add", UserGroups=["all"])
    assert attr() == [{"UserId": OTHER}, {"Group": "all"}]
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["Public"] is True
    assert ami in [i["ImageId"] for i in ec2.describe_images(ExecutableUsers=["all"])["Images"]]
    ec2.modify_image_attribute(ImageId=ami, Attribute="launchPermission", OperationType="add", UserGroups=["all"])
    assert len(attr()) == 2
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [{"UserId": OTHER}]})
    assert attr() == [{"Group": "all"}]
    ec2.reset_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert attr() == [] and ec2.describe_images(ImageIds=[ami])["Images"][0]["Public"] is False
    assert error_code(other.describe_images, ImageIds=[ami]) == "InvalidAMIID.NotFound"
    for bad in [dict(UserGroups=["everyone"]), dict(UserIds=["12345678901A"]), dict(UserIds=["1234567890123"]),
                dict(UserIds=["123456789011", "foo"])]:
        assert error_code(ec2.modify_image_attribute, ImageId=ami, Attribute="launchPermission", OperationType="add", **bad) == "InvalidAMIAttributeItemValue"
    assert attr() == []
    assert error_code(ec2.modify_image_attribute, ImageId="ami-abcd1234", Attribute="launchPermission",
                      OperationType="add", UserGroups=["all"]) == "InvalidAMIID.NotFound"
    other.terminate_instances(InstanceIds=[oi["InstanceId"]])
    for e in other.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [osub]}])["NetworkInterfaces"]:
        other.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    other.delete_subnet(SubnetId=osub)
    other.delete_vpc(VpcId=ovpc)


def test_image_attributes(ec2):
    ami = ec2.register_image(Name=unique("attrs"), Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
                             Description="first", BootMode="uefi", SriovNetSupport="simple")["ImageId"]
    get = lambda a: ec2.describe_image_attribute(ImageId=ami, Attribute=a)
    assert get("description")["Description"] == {"Value": "first"}
    ec2.modify_image_attribute(ImageId=ami, Description={"Value": "second"})
    assert get("description")["Description"] == {"Value": "second"}
    ec2.modify_image_attribute(ImageId=ami, Attribute="description", Value="third")
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["Description"] == "third"
    assert get("bootMode")["BootMode"] == {"Value": "uefi"}
    assert get("sriovNetSupport")["SriovNetSupport"] == {"Value": "simple"}
    assert get("productCodes")["ProductCodes"] == []
    assert get("kernel")["KernelId"] == {}
    assert get("deregistrationProtection")["DeregistrationProtection"] == {"Value": "disabled"}
    ec2.modify_image_attribute(ImageId=ami, ImdsSupport={"Value": "v2.0"})
    assert get("imdsSupport")["ImdsSupport"] == {"Value": "v2.0"}
    assert error_code(get, "blockDeviceMapping") == "AuthFailure"
    assert error_code(ec2.reset_image_attribute, ImageId=ami, Attribute="kernel") == "InvalidParameterValue"
    catalog = ec2.describe_images(Owners=[CANONICAL])["Images"][0]
    assert ec2.describe_image_attribute(ImageId=catalog["ImageId"], Attribute="description")["Description"]["Value"] == catalog["Description"]
    assert error_code(ec2.modify_image_attribute, ImageId=catalog["ImageId"], Description={"Value": "x"}) == "AuthFailure"
    # Deprecation: a deprecated image of one's own stays listed.
    ec2.enable_image_deprecation(ImageId=ami, DeprecateAt="2020-01-01T00:00:00.000Z")
    assert ec2.describe_images(ImageIds=[ami])["Images"][0]["DeprecationTime"].startswith("2020-01-01")
    assert ami in [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]
    ec2.disable_image_deprecation(ImageId=ami)
    assert "DeprecationTime" not in ec2.describe_images(ImageIds=[ami])["Images"][0]
    ec2.enable_image_deregistration_protection(ImageId=ami)
    assert error_code(ec2.deregister_image, ImageId=ami) == "InvalidParameterValue"
    ec2.disable_image_deregistration_protection(ImageId=ami)
    ec2.deregister_image(ImageId=ami)
    assert error_code(get, "description") == "InvalidAMIID.NotFound"


def test_images_survive_a_restart():
    f = Fort()
    try:
        ec2 = f.client()
        ami = ec2.register_image(Name="kept-across-restarts", RootDeviceName="/dev/xvda",
                                 BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
        al = newest(ec2, ["amazon"], "al2023-ami-2023.*-x86_64")["ImageId"]
        f.stop()
        f.start()
        ec2 = f.client()
        assert ec2.describe_images(ImageIds=[ami])["Images"][0]["Name"] == "kept-across-restarts"
        assert newest(ec2, ["amazon"], "al2023-ami-2023.*-x86_64")["ImageId"] == al
    finally:
        f.close()


def test_describe_instance_types(ec2):
    types = ec2.describe_instance_types()["InstanceTypes"]
    names = [t["InstanceType"] for t in types]
    for used in ["t3.micro", "t3.small", "t3.large", "m1.small", "t2.micro"]:
        assert used in names
    [t] = ec2.describe_instance_types(InstanceTypes=["t3.micro"])["InstanceTypes"]
    assert t["VCpuInfo"]["DefaultVCpus"] == 2 and t["MemoryInfo"]["SizeInMiB"] == 1024
    assert t["ProcessorInfo"]["SupportedArchitectures"] == ["x86_64"]
    assert t["NetworkInfo"]["MaximumNetworkInterfaces"] == 2 and t["NetworkInfo"]["Ipv4AddressesPerInterface"] == 2
    assert t["CurrentGeneration"] is True and t["FreeTierEligible"] is True and t["Hypervisor"] == "nitro"
    [t] = ec2.describe_instance_types(InstanceTypes=["t4g.micro"])["InstanceTypes"]
    assert t["ProcessorInfo"]["SupportedArchitectures"] == ["arm64"]
    assert error_code(ec2.describe_instance_types, InstanceTypes=["t9.huge"]) == "InvalidInstanceType"
    old = ec2.describe_instance_types(Filters=[{"Name": "current-generation", "Values": ["false"]}], MaxResults=100)["InstanceTypes"]
    assert "m1.small" in [t["InstanceType"] for t in old] and all(not t["CurrentGeneration"] for t in old)
    t3 = ec2.describe_instance_types(Filters=[{"Name": "instance-type", "Values": ["t3.*"]}])["InstanceTypes"]
    assert t3 and all(t["InstanceType"].startswith("t3.") for t in t3)
    arm = ec2.describe_instance_types(Filters=[{"Name": "processor-info.supported-architecture", "Values": ["arm64"]}])
    assert all("arm64" in t["ProcessorInfo"]["SupportedArchitectures"] for t in arm["InstanceTypes"])
    pages = ec2.get_paginator("describe_instance_types").paginate(PaginationConfig={"PageSize": 5})
    assert [t["InstanceType"] for p in pages for t in p["InstanceTypes"]] == names


def test_run_instances_checks_type_and_architecture(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.7.0/24")["Subnet"]
    arm = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"][0]["ImageId"]
    AL2023 = newest(ec2, ["amazon"], "al2023-ami-2023.*-x86_64")["ImageId"]
    try:
        run = dict(MinCount=1, MaxCount=1, SubnetId=s["SubnetId"])
        assert error_code(ec2.run_instances, ImageId=AL2023, InstanceType="t9.huge", **run) == "InvalidParameterValue"
        # The default type (m1.small) is x86: an arm64 image needs an arm64 type.
        assert error_code(ec2.run_instances, ImageId=arm, **run) == "InvalidParameterValue"
        assert error_code(ec2.run_instances, ImageId=arm, InstanceType="t3.micro", **run) == "InvalidParameterValue"
        i = ec2.run_instances(ImageId=AL2023, InstanceType="t3.micro", **run)["Instances"][0]
        ec2.stop_instances(InstanceIds=[i["InstanceId"]])
        assert error_code(ec2.modify_instance_attribute, InstanceId=i["InstanceId"],
                          InstanceType={"Value": "t4g.micro"}) == "InvalidParameterValue"
        assert error_code(ec2.modify_instance_attribute, InstanceId=i["InstanceId"],
                          InstanceType={"Value": "t9.huge"}) == "InvalidParameterValue"
        ec2.modify_instance_attribute(InstanceId=i["InstanceId"], InstanceType={"Value": "t3.small"})
        ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    finally:
        for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s["SubnetId"])




def test_fedora_cloud_images_as_ansible_looks_them_up(ec2):
    """amazon.aws's integration targets pick their image so (setup_ec2_facts, run on AWS)."""
    images = ec2.describe_images(Filters=[
        {"Name": "name", "Values": ["Fedora-Cloud-Base-*.x86_64-4*"]},
        {"Name": "owner-id", "Values": ["125523088429"]},
        {"Name": "architecture", "Values": ["x86_64"]},
        {"Name": "virtualization-type", "Values": ["hvm"]},
        {"Name": "root-device-type", "Values": ["ebs"]},
    ])["Images"]
    assert len(images) >= 2, "two releases"
    newest = max(images, key=lambda i: i["CreationDate"])
    assert newest["Name"].startswith("Fedora-Cloud-Base-AmazonEC2.x86_64-41-")
    assert "-hvm-us-east-1-gp3-" in newest["Name"], "Fedora's names carry their region"
    assert newest["BlockDeviceMappings"][0]["DeviceName"] == newest["RootDeviceName"] == "/dev/sda1"
    assert "ImageOwnerAlias" not in newest


def test_amazon_linux_2017_09_keeps_aws_ids(fort, ec2):
    """amazon.aws's EC2 image targets look up Amazon Linux AMI 2017.09.0 by the ids AWS gave
    it in each region (and by its owner, name and publicity, run on AWS)."""
    [i] = ec2.describe_images(ImageIds=["ami-8c1be5f6"])["Images"]
    assert i["Name"] == "amzn-ami-hvm-2017.09.0.20170930-x86_64-gp2"
    assert i["OwnerId"] == "137112412989" and i["Public"] is True
    for f in [{"Name": "is-public", "Values": ["true"]}, {"Name": "owner-id", "Values": ["137112412989"]},
              {"Name": "name", "Values": ["amzn-ami-hvm-2017.09.0.20170930-x86_64-gp2"]}]:
        got = ec2.describe_images(ImageIds=["ami-8c1be5f6"], Filters=[f])["Images"]
        assert [x["ImageId"] for x in got] == ["ami-8c1be5f6"], f
    west = fort.client(region="eu-west-1")
    [w] = west.describe_images(Filters=[{"Name": "name", "Values": [i["Name"]]}], Owners=["amazon"])["Images"]
    assert w["ImageId"] == "ami-acd005d5"
    # where AWS's id is not known, one of Fort's own
    north = fort.client(region="eu-north-1")
    [n] = north.describe_images(Filters=[{"Name": "name", "Values": [i["Name"]]}], Owners=["amazon"])["Images"]
    assert n["ImageId"].startswith("ami-0") and len(n["ImageId"]) == 21
