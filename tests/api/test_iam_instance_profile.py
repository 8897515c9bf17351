"""IAM instance profiles on instances: RunInstances' IamInstanceProfile (by name, by ARN,
from a launch template), DescribeInstances' iamInstanceProfile and its filters, and
Associate/Replace/Disassociate/DescribeIamInstanceProfileAssociations with EC2's errors."""

import json
import os
import subprocess
import uuid

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, error_code

AMI = "ami-0123456789abcdef0"


@pytest.fixture(scope="module")
def iam(fort):
    return fort.client("iam")


@pytest.fixture
def profile(iam):
    name = f"p-{uuid.uuid4().hex[:12]}"
    p = iam.create_instance_profile(InstanceProfileName=name, Path="/app/")["InstanceProfile"]
    yield p
    iam.delete_instance_profile(InstanceProfileName=name)


def run(ec2, **kw):
    return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, **kw)["Instances"][0]


def error(fn, **kwargs):
    with pytest.raises(Exception) as e:
        fn(**kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"]


def test_run_instances_with_a_profile(ec2, profile):
    arn, pid = profile["Arn"], profile["InstanceProfileId"]
    assert arn.endswith(":instance-profile/app/" + profile["InstanceProfileName"])
    by_name = run(ec2, IamInstanceProfile={"Name": profile["InstanceProfileName"]})
    by_arn = run(ec2, IamInstanceProfile={"Arn": arn})
    plain = run(ec2)
    try:
        assert by_name["IamInstanceProfile"] == {"Arn": arn, "Id": pid}
        assert by_arn["IamInstanceProfile"] == {"Arn": arn, "Id": pid}
        assert "IamInstanceProfile" not in plain
        [shown] = ec2.describe_instances(InstanceIds=[by_name["InstanceId"]])["Reservations"][0]["Instances"]
        assert shown["IamInstanceProfile"] == {"Arn": arn, "Id": pid}
        for name, value in [("iam-instance-profile.arn", arn), ("iam-instance-profile.id", pid)]:
            got = ec2.describe_instances(Filters=[{"Name": name, "Values": [value]}])["Reservations"]
            ids = sorted(i["InstanceId"] for r in got for i in r["Instances"])
            assert ids == sorted([by_name["InstanceId"], by_arn["InstanceId"]]), name
        # each launch is an association of its own
        got = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [by_name["InstanceId"], by_arn["InstanceId"]]}])
        assocs = got["IamInstanceProfileAssociations"]
        assert len({a["AssociationId"] for a in assocs}) == 2
        assert all(a["AssociationId"].startswith("iip-assoc-") and a["State"] == "associated" for a in assocs)
        # EC2's words for a profile that does not exist (terraform-provider-aws#27516)
        assert error(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1,
                     IamInstanceProfile={"Name": "no-such-profile"}) == (
            "InvalidParameterValue",
            "Value (no-such-profile) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
        missing_arn = arn + "-gone"
        assert error(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1,
                     IamInstanceProfile={"Arn": missing_arn}) == (
            "InvalidParameterValue",
            f"Value ({missing_arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN")
    finally:
        ec2.terminate_instances(InstanceIds=[by_name["InstanceId"], by_arn["InstanceId"], plain["InstanceId"]])
    # terminated instances keep no association
    got = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [by_name["InstanceId"]]}])
    assert got["IamInstanceProfileAssociations"] == []


def test_launch_template_carries_the_profile(ec2, profile):
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"lt-{uuid.uuid4().hex[:8]}",
        LaunchTemplateData={"IamInstanceProfile": {"Name": profile["InstanceProfileName"]}})["LaunchTemplate"]
    i = ec2.run_instances(MinCount=1, MaxCount=1, ImageId=AMI,
                          LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]})["Instances"][0]
    try:
        assert i["IamInstanceProfile"]["Arn"] == profile["Arn"]
    finally:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])


def test_associate_replace_disassociate(ec2, iam, profile):
    other = iam.create_instance_profile(InstanceProfileName=f"q-{uuid.uuid4().hex[:12]}")["InstanceProfile"]
    iid = run(ec2)["InstanceId"]
    try:
        # lacework/go-sdk#1045 shows EC2's answer for an ARN that names no profile
        assert error(ec2.associate_iam_instance_profile, InstanceId=iid, IamInstanceProfile={"Arn": "fake"}) == (
            "InvalidParameterValue", "Value (fake) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN")
        a = ec2.associate_iam_instance_profile(InstanceId=iid, IamInstanceProfile={"Arn": profile["Arn"]})
        a = a["IamInstanceProfileAssociation"]
        assert a["InstanceId"] == iid and a["State"] == "associating" and "Timestamp" in a
        assert a["IamInstanceProfile"] == {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}
        aid = a["AssociationId"]
        [d] = ec2.describe_iam_instance_profile_associations(AssociationIds=[aid])["IamInstanceProfileAssociations"]
        assert d["State"] == "associated" and d["InstanceId"] == iid
        got = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [iid]}, {"Name": "state", "Values": ["associated"]}])
        assert [x["AssociationId"] for x in got["IamInstanceProfileAssociations"]] == [aid]
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        assert inst["IamInstanceProfile"]["Arn"] == profile["Arn"]
        # one association per instance
        code, message = error(ec2.associate_iam_instance_profile, InstanceId=iid,
                              IamInstanceProfile={"Name": other["InstanceProfileName"]})
        assert code == "IncorrectState" and message == f"There is an existing association for instance {iid}"
        assert error_code(ec2.associate_iam_instance_profile, InstanceId="i-0123456789abcdef0",
                          IamInstanceProfile={"Arn": profile["Arn"]}) == "InvalidInstanceID.NotFound"

        r = ec2.replace_iam_instance_profile_association(
            AssociationId=aid, IamInstanceProfile={"Name": other["InstanceProfileName"]})["IamInstanceProfileAssociation"]
        assert r["State"] == "associating" and r["IamInstanceProfile"]["Arn"] == other["Arn"]
        assert r["AssociationId"] != aid and r["InstanceId"] == iid
        assert error(ec2.replace_iam_instance_profile_association, AssociationId=aid,
                     IamInstanceProfile={"Arn": profile["Arn"]}) == (
            "InvalidAssociationID.NotFound", f"An invalid association-id of '{aid}' was given")

        g = ec2.disassociate_iam_instance_profile(AssociationId=r["AssociationId"])["IamInstanceProfileAssociation"]
        assert g["State"] == "disassociating" and g["IamInstanceProfile"]["Arn"] == other["Arn"]
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        assert "IamInstanceProfile" not in inst
        got = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": [iid]}])
        assert got["IamInstanceProfileAssociations"] == []
        assert error_code(ec2.disassociate_iam_instance_profile,
                          AssociationId=r["AssociationId"]) == "InvalidAssociationID.NotFound"
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
        iam.delete_instance_profile(InstanceProfileName=other["InstanceProfileName"])


def test_aws_cli_associate(fort, ec2, profile):
    iid = run(ec2)["InstanceId"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")

    def cli(*args):
        out = subprocess.run(["aws", "--endpoint-url", fort.endpoint, "--output", "json", "ec2", *args],
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    try:
        a = cli("associate-iam-instance-profile", "--instance-id", iid,
                "--iam-instance-profile", f"Name={profile['InstanceProfileName']}")
        assert a["IamInstanceProfileAssociation"]["IamInstanceProfile"]["Arn"] == profile["Arn"]
        d = cli("describe-iam-instance-profile-associations", "--filters", f"Name=instance-id,Values={iid}")
        assert [x["State"] for x in d["IamInstanceProfileAssociations"]] == ["associated"]
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
