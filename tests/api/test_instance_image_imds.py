"""An image registered with ImdsSupport v2.0 (Amazon Linux 2023's are) gives its instances
IMDSv2 required with a hop limit of 2, as EC2 does; the launch's own options win."""

from conftest import error_code


def al2023(ec2):
    images = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-2023.*-x86_64"]}])["Images"]
    newest = max(images, key=lambda i: i["CreationDate"])
    assert newest["ImdsSupport"] == "v2.0"
    return newest["ImageId"]


def options(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["MetadataOptions"]


def test_imds_support_of_the_image_sets_the_default(ec2):
    image = al2023(ec2)
    launched = []
    i = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    launched.append(i["InstanceId"])
    assert (i["MetadataOptions"]["HttpTokens"], i["MetadataOptions"]["HttpPutResponseHopLimit"]) == ("required", 2)
    got = options(ec2, i["InstanceId"])
    assert (got["HttpTokens"], got["HttpPutResponseHopLimit"], got["HttpEndpoint"]) == ("required", 2, "enabled")
    # the launch's own options win over the image's
    j = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          MetadataOptions={"HttpTokens": "optional"})["Instances"][0]
    launched.append(j["InstanceId"])
    got = options(ec2, j["InstanceId"])
    assert (got["HttpTokens"], got["HttpPutResponseHopLimit"]) == ("optional", 2)
    # an image without ImdsSupport: EC2's defaults
    k = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)["Instances"][0]
    launched.append(k["InstanceId"])
    got = options(ec2, k["InstanceId"])
    assert (got["HttpTokens"], got["HttpPutResponseHopLimit"]) == ("optional", 1)
    # a user's image registered with ImdsSupport v2.0
    mine = ec2.register_image(Name="imds-v2-image", RootDeviceName="/dev/xvda", Architecture="x86_64",
                              VirtualizationType="hvm", ImdsSupport="v2.0",
                              BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    m = ec2.run_instances(ImageId=mine, MinCount=1, MaxCount=1)["Instances"][0]
    launched.append(m["InstanceId"])
    got = options(ec2, m["InstanceId"])
    assert (got["HttpTokens"], got["HttpPutResponseHopLimit"]) == ("required", 2)
    assert error_code(ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1,
                      MetadataOptions={"HttpTokens": "sometimes"}) == "InvalidParameterValue"
    ec2.terminate_instances(InstanceIds=launched)
    ec2.deregister_image(ImageId=mine)
