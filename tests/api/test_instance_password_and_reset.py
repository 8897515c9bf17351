"""GetPasswordData and ResetInstanceAttribute, through boto3 against the real binary."""

from datetime import datetime

from conftest import error_code

AMI = "ami-0123456789abcdef0"


def test_password_data_is_empty_until_a_launch_agent_sets_one(ec2):
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    got = ec2.get_password_data(InstanceId=iid)
    # EC2's answer for a Linux instance, and for a Windows one before its password is set
    assert got["InstanceId"] == iid and got["PasswordData"] == ""
    assert isinstance(got["Timestamp"], datetime)
    assert error_code(ec2.get_password_data, InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    assert error_code(ec2.get_password_data, InstanceId="bogus") == "InvalidInstanceID.Malformed"
    ec2.terminate_instances(InstanceIds=[iid])


def test_reset_instance_attribute(ec2):
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")["SourceDestCheck"]["Value"] is False
    ec2.reset_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")["SourceDestCheck"]["Value"] is True
    # the kernel and RAM disk are reset on a stopped instance only
    assert error_code(ec2.reset_instance_attribute, InstanceId=iid, Attribute="kernel") == "IncorrectInstanceState"
    ec2.stop_instances(InstanceIds=[iid])
    ec2.reset_instance_attribute(InstanceId=iid, Attribute="kernel")
    ec2.reset_instance_attribute(InstanceId=iid, Attribute="ramdisk")
    assert error_code(ec2.reset_instance_attribute, InstanceId=iid, Attribute="instanceType") == "InvalidParameterValue"
    assert error_code(ec2.reset_instance_attribute, InstanceId="i-0123456789abcdef0",
                      Attribute="sourceDestCheck") == "InvalidInstanceID.NotFound"
    ec2.terminate_instances(InstanceIds=[iid])
