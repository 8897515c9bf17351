"""The built-in image catalog (DescribeImages), the instance types (DescribeInstanceTypes),
and RunInstances's check of the image."""

from conftest import error_code

AMAZON = "137112412989"


def test_describe_images_catalog(ec2):
    images = ec2.describe_images()["Images"]
    ids = [i["ImageId"] for i in images]
    assert "ami-12345678" in ids and "ami-0123456789abcdef0" in ids
    assert ids == sorted(ids)
    for i in images:
        assert i["State"] == "available" and i["Public"] is True
        assert i["OwnerId"] == AMAZON and i["ImageOwnerAlias"] == "amazon"
        assert i["RootDeviceType"] == "ebs" and i["RootDeviceName"] == "/dev/xvda"
        assert i["VirtualizationType"] == "hvm" and i["ImageType"] == "machine"
        assert i["PlatformDetails"] == "Linux/UNIX" and i["UsageOperation"] == "RunInstances"
        assert i["Architecture"] in ("x86_64", "arm64")
        assert i["Name"].startswith("fort-linux")
        [bdm] = i["BlockDeviceMappings"]
        assert bdm["DeviceName"] == "/dev/xvda" and bdm["Ebs"]["SnapshotId"].startswith("snap-")
        assert i["CreationDate"].endswith("Z")
    assert {i["Architecture"] for i in images} == {"x86_64", "arm64"}


def test_describe_images_ids_owners_filters(ec2):
    [i] = ec2.describe_images(ImageIds=["ami-12345678"])["Images"]
    assert i["Architecture"] == "x86_64"
    assert error_code(ec2.describe_images, ImageIds=["ami-00000000"]) == "InvalidAMIID.NotFound"
    assert error_code(ec2.describe_images, ImageIds=["ami-x"]) == "InvalidAMIID.Malformed"
    assert error_code(ec2.describe_images, ImageIds=["bogus"]) == "InvalidAMIID.Malformed"
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert len(ec2.describe_images(Owners=["amazon"])["Images"]) == len(ec2.describe_images()["Images"])
    assert len(ec2.describe_images(Owners=[AMAZON])["Images"]) == len(ec2.describe_images()["Images"])
    assert ec2.describe_images(Owners=["123456789012"])["Images"] == []
    arm = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"]
    assert arm and all(i["Architecture"] == "arm64" for i in arm)
    named = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["fort-linux-2023.6.*-x86_64"]},
        {"Name": "state", "Values": ["available"]},
    ])["Images"]
    assert [i["ImageId"] for i in named] == ["ami-0123456789abcdef0"]
    for name, value in [("image-id", "ami-12345678"), ("owner-id", AMAZON), ("is-public", "true"),
                        ("root-device-type", "ebs"), ("virtualization-type", "hvm")]:
        assert ec2.describe_images(Filters=[{"Name": name, "Values": [value]}])["Images"], name
    assert ec2.describe_images(Filters=[{"Name": "root-device-type", "Values": ["instance-store"]}])["Images"] == []
    assert error_code(ec2.describe_images, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"


def test_describe_images_pages(ec2):
    every = [i["ImageId"] for i in ec2.describe_images()["Images"]]
    got, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        r = ec2.describe_images(MaxResults=5, **kw)
        got += [i["ImageId"] for i in r["Images"]]
        token = r.get("NextToken")
        if not token:
            break
    assert got == every


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
    old = ec2.describe_instance_types(Filters=[{"Name": "current-generation", "Values": ["false"]}])["InstanceTypes"]
    assert [t["InstanceType"] for t in old] == ["m1.small"]
    t3 = ec2.describe_instance_types(Filters=[{"Name": "instance-type", "Values": ["t3.*"]}])["InstanceTypes"]
    assert t3 and all(t["InstanceType"].startswith("t3.") for t in t3)
    arm = ec2.describe_instance_types(Filters=[{"Name": "processor-info.supported-architecture", "Values": ["arm64"]}])
    assert all("arm64" in t["ProcessorInfo"]["SupportedArchitectures"] for t in arm["InstanceTypes"])
    pages = ec2.get_paginator("describe_instance_types").paginate(PaginationConfig={"PageSize": 5})
    assert [t["InstanceType"] for p in pages for t in p["InstanceTypes"]] == names


def test_run_instances_needs_a_catalog_image(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.8.0/24")["Subnet"]
    try:
        assert error_code(ec2.run_instances, ImageId="ami-00000000", MinCount=1, MaxCount=1,
                          SubnetId=s["SubnetId"]) == "InvalidAMIID.NotFound"
        assert error_code(ec2.run_instances, ImageId="ami-nothex!", MinCount=1, MaxCount=1,
                          SubnetId=s["SubnetId"]) == "InvalidAMIID.Malformed"
        arm = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"][0]["ImageId"]
        i = ec2.run_instances(ImageId=arm, MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                              InstanceType="t4g.micro")["Instances"][0]
        assert i["ImageId"] == arm
        ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    finally:
        for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=s["SubnetId"])


def test_run_instances_checks_type_and_architecture(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.7.0/24")["Subnet"]
    arm = ec2.describe_images(Filters=[{"Name": "architecture", "Values": ["arm64"]}])["Images"][0]["ImageId"]
    try:
        run = dict(MinCount=1, MaxCount=1, SubnetId=s["SubnetId"])
        assert error_code(ec2.run_instances, ImageId="ami-12345678", InstanceType="t9.huge", **run) == "InvalidParameterValue"
        # The default type (m1.small) is x86: an arm64 image needs an arm64 type.
        assert error_code(ec2.run_instances, ImageId=arm, **run) == "InvalidParameterValue"
        assert error_code(ec2.run_instances, ImageId=arm, InstanceType="t3.micro", **run) == "InvalidParameterValue"
        i = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", **run)["Instances"][0]
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


def test_owner_self_with_a_catalog_id_is_empty(ec2):
    assert ec2.describe_images(Owners=["self"], ImageIds=["ami-12345678"])["Images"] == []
    assert error_code(ec2.describe_images, Owners=["nobody"]) == "InvalidUserID.Malformed"
