"""GetPasswordData and ResetInstanceAttribute, through boto3 against the real binary."""

import base64
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


def windows_image(ec2):
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "platform", "Values": ["windows"]}]
    )["Images"]
    return max(images, key=lambda i: i["CreationDate"])["ImageId"]


def test_windows_password_is_set_encrypted_with_the_rsa_key_pair(ec2, vpc):
    # EC2Launch sets the administrator password and encrypts it with the launch key's
    # RSA public key (PKCS#1 v1.5, base64); no Fort guest runs it, so Fort does.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ami = windows_image(ec2)
    rsa = ec2.create_key_pair(KeyName="win-rsa", KeyType="rsa")
    ed = ec2.create_key_pair(KeyName="win-ed", KeyType="ed25519")
    launched = {}
    for key in ("win-rsa", "win-ed"):
        launched[key] = ec2.run_instances(
            ImageId=ami, InstanceType="t3.medium", KeyName=key, SubnetId=subnet, MinCount=1, MaxCount=1
        )["Instances"][0]["InstanceId"]
    linux = ec2.run_instances(
        ImageId=AMI, KeyName="win-rsa", SubnetId=subnet, MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]

    sealed = ec2.get_password_data(InstanceId=launched["win-rsa"])["PasswordData"]
    private = serialization.load_pem_private_key(rsa["KeyMaterial"].encode(), password=None)
    password = private.decrypt(base64.b64decode(sealed), padding.PKCS1v15()).decode()
    assert len(password) == 32 and password.isprintable() and " " not in password
    # the same password on every call, as EC2 keeps the one EC2Launch set
    again = ec2.get_password_data(InstanceId=launched["win-rsa"])["PasswordData"]
    assert private.decrypt(base64.b64decode(again), padding.PKCS1v15()).decode() == password
    # none for an ed25519 key, nor for a Linux instance
    assert ec2.get_password_data(InstanceId=launched["win-ed"])["PasswordData"] == ""
    assert ec2.get_password_data(InstanceId=linux)["PasswordData"] == ""
    assert ed["KeyFingerprint"]
    ec2.terminate_instances(InstanceIds=[*launched.values(), linux])
    for key in ("win-rsa", "win-ed"):
        ec2.delete_key_pair(KeyName=key)
