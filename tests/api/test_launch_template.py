"""Launch templates: versions, aliases, errors as EC2 words them, and RunInstances from one."""

import base64
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

AMI = "ami-0123456789abcdef0"


def name():
    return f"lt-test-{uuid.uuid4().hex[:12]}"


def err(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]


@pytest.fixture
def template(ec2):
    n = name()
    lt = ec2.create_launch_template(
        LaunchTemplateName=n,
        VersionDescription="first",
        LaunchTemplateData={
            "ImageId": AMI,
            "InstanceType": "t3.micro",
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "from", "Value": "template"}]}],
        },
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "net"}]}],
    )["LaunchTemplate"]
    yield lt
    try:
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])
    except ClientError:
        pass


def test_create_answers_the_template(ec2, template):
    assert template["LaunchTemplateId"].startswith("lt-") and len(template["LaunchTemplateId"]) == 20
    assert template["DefaultVersionNumber"] == 1 and template["LatestVersionNumber"] == 1
    assert template["CreatedBy"] == "arn:aws:iam::123456789012:root"
    assert template["Tags"] == [{"Key": "team", "Value": "net"}]
    e = err(ec2.create_launch_template, LaunchTemplateName=template["LaunchTemplateName"],
            LaunchTemplateData={"ImageId": AMI})
    assert e["Code"] == "InvalidLaunchTemplateName.AlreadyExistsException"
    assert e["Message"] == "Launch template name already in use."


def test_data_comes_back_as_sent(ec2):
    data = {
        "ImageId": AMI,
        "InstanceType": "t3.micro",
        "KeyName": "nope",
        "UserData": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "NetworkInterfaces": [{
            "AssociatePublicIpAddress": True, "DeleteOnTermination": True, "DeviceIndex": 0,
            "NetworkCardIndex": 0, "Groups": ["sg-0123456789abcdef0"],
        }],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "DeleteOnTermination": True}}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
        "SecurityGroupIds": ["sg-0123456789abcdef1"],
        "CreditSpecification": {"CpuCredits": "standard"},
        "Monitoring": {"Enabled": True},
        "DisableApiTermination": False,
    }
    lt = ec2.create_launch_template(LaunchTemplateName=name(), LaunchTemplateData=data)["LaunchTemplate"]
    got = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])["LaunchTemplateVersions"]
    assert len(got) == 1 and got[0]["DefaultVersion"] is True and got[0]["VersionNumber"] == 1
    assert got[0]["LaunchTemplateData"] == data
    ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])


def test_versions_aliases_and_source_version(ec2, template):
    tid = template["LaunchTemplateId"]
    v2 = ec2.create_launch_template_version(
        LaunchTemplateId=tid, SourceVersion="1", VersionDescription="bigger",
        LaunchTemplateData={"InstanceType": "t3.small"},
    )["LaunchTemplateVersion"]
    assert v2["VersionNumber"] == 2 and v2["DefaultVersion"] is False
    # inherited from version 1, except what was given
    assert v2["LaunchTemplateData"]["ImageId"] == AMI
    assert v2["LaunchTemplateData"]["InstanceType"] == "t3.small"
    assert v2["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"
    v3 = ec2.create_launch_template_version(
        LaunchTemplateName=template["LaunchTemplateName"], LaunchTemplateData={"ImageId": AMI},
    )["LaunchTemplateVersion"]
    assert v3["VersionNumber"] == 3 and v3["LaunchTemplateData"] == {"ImageId": AMI}

    def versions(**kw):
        return [v["VersionNumber"] for v in
                ec2.describe_launch_template_versions(LaunchTemplateId=tid, **kw)["LaunchTemplateVersions"]]

    assert versions() == [1, 2, 3]
    assert versions(Versions=["$Latest"]) == [3]
    assert versions(Versions=["$Default"]) == [1]
    assert versions(Versions=["2", "$Latest"]) == [2, 3]
    assert versions(MinVersion="2") == [2, 3]
    assert versions(MaxVersion="2") == [1, 2]
    assert versions(Filters=[{"Name": "instance-type", "Values": ["t3.small"]}]) == [2]
    assert versions(Filters=[{"Name": "is-default-version", "Values": ["true"]}]) == [1]
    e = err(ec2.describe_launch_template_versions, LaunchTemplateId=tid, Versions=["9"])
    assert e["Code"] == "InvalidLaunchTemplateId.VersionNotFound"
    assert e["Message"] == f"Could not find the specified version 9 for the launch template with ID {tid}."

    m = ec2.modify_launch_template(LaunchTemplateId=tid, DefaultVersion="2")["LaunchTemplate"]
    assert m["DefaultVersionNumber"] == 2 and m["LatestVersionNumber"] == 3
    assert versions(Versions=["$Default"]) == [2]
    e = err(ec2.modify_launch_template, LaunchTemplateId=tid, DefaultVersion="7")
    assert e["Code"] == "InvalidLaunchTemplateId.VersionNotFound"

    d = ec2.delete_launch_template_versions(LaunchTemplateId=tid, Versions=["3", "2", "8"])
    assert [x["VersionNumber"] for x in d["SuccessfullyDeletedLaunchTemplateVersions"]] == [3]
    bad = {x["VersionNumber"]: x["ResponseError"]["Code"] for x in d["UnsuccessfullyDeletedLaunchTemplateVersions"]}
    assert bad[8] == "launchTemplateVersionDoesNotExist"
    assert 2 in bad, "the default version is not deleted"
    t = ec2.describe_launch_templates(LaunchTemplateIds=[tid])["LaunchTemplates"][0]
    assert t["LatestVersionNumber"] == 2


def test_describe_all_latest_and_errors(ec2, template):
    got = ec2.describe_launch_template_versions(Versions=["$Latest"])["LaunchTemplateVersions"]
    assert template["LaunchTemplateId"] in [v["LaunchTemplateId"] for v in got]
    e = err(ec2.describe_launch_template_versions)
    assert e["Code"] == "MissingParameter"
    e = err(ec2.describe_launch_template_versions, Versions=["1"])
    assert e["Code"] == "InvalidParameterValue"
    e = err(ec2.describe_launch_template_versions, LaunchTemplateName="no-such-template")
    assert e["Code"] == "InvalidLaunchTemplateName.NotFoundException"
    assert e["Message"] == "The specified launch template, with template name no-such-template, does not exist."
    e = err(ec2.describe_launch_template_versions, LaunchTemplateId="lt-07ff4bb0369cd679c")
    assert e["Code"] == "InvalidLaunchTemplateId.NotFound"
    assert e["Message"] == "The specified launch template, with template ID lt-07ff4bb0369cd679c, does not exist."
    e = err(ec2.describe_launch_template_versions, LaunchTemplateId="lt-zz")
    assert e["Code"] == "InvalidLaunchTemplateId.Malformed"
    e = err(ec2.describe_launch_templates, LaunchTemplateNames=["no-such-template"])
    assert e["Code"] == "InvalidLaunchTemplateName.NotFoundException"
    assert e["Message"] == "At least one of the launch templates specified in the request does not exist."
    e = err(ec2.modify_launch_template, LaunchTemplateId="template_n",
            LaunchTemplateName=template["LaunchTemplateName"], DefaultVersion="1")
    assert e["Code"] == "InvalidParameterCombination"
    e = err(ec2.delete_launch_template)
    assert e["Code"] == "MissingParameter"
    assert e["Message"] == "The request must contain the parameter launch template ID or launch template name"
    assert error_code(ec2.create_launch_template, LaunchTemplateName="x y", LaunchTemplateData={"ImageId": AMI}) \
        == "InvalidLaunchTemplateName.MalformedException"


def test_describe_templates_filters_order_and_pages(ec2):
    names = [name() for _ in range(3)]
    ids = [ec2.create_launch_template(
        LaunchTemplateName=n, LaunchTemplateData={"ImageId": AMI},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "k", "Value": n}]}],
    )["LaunchTemplate"]["LaunchTemplateId"] for n in names]
    got = ec2.describe_launch_templates(LaunchTemplateNames=[names[2], names[0]])["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in got] == [names[2], names[0]]
    got = ec2.describe_launch_templates(Filters=[{"Name": "tag:k", "Values": [names[1]]}])["LaunchTemplates"]
    assert [t["LaunchTemplateId"] for t in got] == [ids[1]]
    got = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [names[0]]}])["LaunchTemplates"]
    assert [t["LaunchTemplateId"] for t in got] == [ids[0]]
    seen, token = [], None
    while True:
        kw = {"MaxResults": 1, **({"NextToken": token} if token else {})}
        r = ec2.describe_launch_templates(**kw)
        seen += [t["LaunchTemplateId"] for t in r["LaunchTemplates"]]
        token = r.get("NextToken")
        if not token:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    # Listed oldest first.
    assert [i for i in seen if i in ids] == ids
    for i in ids:
        ec2.delete_launch_template(LaunchTemplateId=i)
    assert error_code(ec2.describe_launch_templates, LaunchTemplateIds=[ids[0]]) == "InvalidLaunchTemplateId.NotFound"
    # a deleted name can be used again
    lt = ec2.create_launch_template(LaunchTemplateName=names[0], LaunchTemplateData={"ImageId": AMI})["LaunchTemplate"]
    ec2.delete_launch_template(LaunchTemplateName=names[0])
    assert lt["LaunchTemplateName"] == names[0]


def test_run_instances_from_a_template(ec2, vpc, template):
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.7.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    sg = ec2.create_security_group(GroupName=name(), Description="lt", VpcId=vpc["VpcId"])["GroupId"]
    user_data = base64.b64encode(b"hello").decode()
    v2 = ec2.create_launch_template_version(
        LaunchTemplateId=template["LaunchTemplateId"], SourceVersion="1",
        LaunchTemplateData={
            "UserData": user_data,
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet["SubnetId"], "Groups": [sg],
                                   "DeleteOnTermination": True}],
            "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 5, "VolumeType": "gp3"}}],
        },
    )["LaunchTemplateVersion"]
    r = ec2.run_instances(
        MinCount=1, MaxCount=1,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "x"}]}],
    )
    i = r["Instances"][0]
    iid = i["InstanceId"]
    try:
        assert i["ImageId"] == AMI and i["InstanceType"] == "t3.micro"
        assert i["SubnetId"] == subnet["SubnetId"]
        assert [g["GroupId"] for g in i["SecurityGroups"]] == [sg]
        assert i["MetadataOptions"]["HttpTokens"] == "required"
        tags = {t["Key"]: t["Value"] for t in i["Tags"]}
        assert tags["from"] == "template" and tags["Name"] == "x"
        assert tags["aws:ec2launchtemplate:id"] == template["LaunchTemplateId"]
        assert tags["aws:ec2launchtemplate:version"] == str(v2["VersionNumber"])
        ud = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
        assert ud == user_data
        devices = sorted(b["DeviceName"] for b in
                         ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"])
        assert devices == ["/dev/sda1", "/dev/sdf"]
        # explicit parameters win over the template's
        r2 = ec2.run_instances(MinCount=1, MaxCount=1, InstanceType="t3.small",
                               LaunchTemplate={"LaunchTemplateName": template["LaunchTemplateName"]})
        i2 = r2["Instances"][0]
        assert i2["InstanceType"] == "t3.small"
        tags2 = {t["Key"]: t["Value"] for t in i2["Tags"]}
        assert tags2["aws:ec2launchtemplate:version"] == "1", "no Version: the default"
        ec2.terminate_instances(InstanceIds=[i2["InstanceId"]])
        data = ec2.get_launch_template_data(InstanceId=iid)["LaunchTemplateData"]
        assert data["ImageId"] == AMI and data["InstanceType"] == "t3.micro"
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert {"Key": "Name", "Value": "x"} in data["TagSpecifications"][0]["Tags"]
        assert error_code(ec2.run_instances, MinCount=1, MaxCount=1,
                          LaunchTemplate={"LaunchTemplateName": "no-such-template"}) \
            == "InvalidLaunchTemplateName.NotFoundException"
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet["SubnetId"]]}])["NetworkInterfaces"]:
            ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_security_group(GroupId=sg)


def test_create_tags_only_the_template(ec2):
    # The instances' tags belong in the data; EC2 refuses them at the top, in its words.
    e = err(ec2.create_launch_template, LaunchTemplateName=name(), LaunchTemplateData={"ImageId": AMI},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert e["Code"] == "InvalidParameterValue"
    assert e["Message"] == ("The value for the ResourceType member of the TagSpecification request parameter "
                            "must be 'launch-template'. Verify the ResourceType and try again.")
    n = name()
    lt = ec2.create_launch_template(
        LaunchTemplateName=n, LaunchTemplateData={"ImageId": AMI},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "k", "Value": "v"}]}])["LaunchTemplate"]
    assert lt["Tags"] == [{"Key": "k", "Value": "v"}]
    ec2.delete_launch_template(LaunchTemplateName=n)


def test_a_version_of_the_source_with_a_new_description(ec2, template):
    """amazon.aws's ec2_launch_template makes a description-only version with
    LaunchTemplateData={} and SourceVersion, which boto3 sends as no LaunchTemplateData at
    all: the new version is the source's data. Without a source the data is required."""
    tid = template["LaunchTemplateId"]
    v = ec2.create_launch_template_version(LaunchTemplateId=tid, SourceVersion="1",
                                           VersionDescription="Fix something.",
                                           LaunchTemplateData={})["LaunchTemplateVersion"]
    first = ec2.describe_launch_template_versions(LaunchTemplateId=tid, Versions=["1"])["LaunchTemplateVersions"][0]
    assert (v["VersionNumber"], v["VersionDescription"]) == (2, "Fix something.")
    assert v["LaunchTemplateData"] == first["LaunchTemplateData"]
    assert err(ec2.create_launch_template_version, LaunchTemplateId=tid,
               LaunchTemplateData={})["Code"] == "MissingParameter"
