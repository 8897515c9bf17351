"""Instances: launch with their interface and public address, lifecycle, attributes, errors."""

import base64
import ipaddress

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

AMI = "ami-0123456789abcdef0"
POOL = ipaddress.ip_network("198.51.100.0/24")


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    yield s
    terminate_all(ec2, [{"Name": "subnet-id", "Values": [s["SubnetId"]]}])
    for e in ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def terminate_all(ec2, filters):
    ids = [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=filters)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    for i in ids:
        ec2.modify_instance_attribute(InstanceId=i, DisableApiTermination={"Value": False})
        ec2.modify_instance_attribute(InstanceId=i, DisableApiStop={"Value": False})
    if ids:
        ec2.terminate_instances(InstanceIds=ids)


def describe(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def test_default_vpc_launch_and_terminate(ec2):
    r = ec2.run_instances(
        ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]},
            {"ResourceType": "network-interface", "Tags": [{"Key": "Role", "Value": "eth0"}]},
        ],
    )
    assert r["ReservationId"].startswith("r-")
    assert r["OwnerId"] == "123456789012"
    assert r["Groups"] == []
    i = r["Instances"][0]
    iid = i["InstanceId"]
    assert iid.startswith("i-") and len(iid) == 19
    assert i["State"] == {"Code": 0, "Name": "pending"}, "RunInstances answers pending, as EC2 does"
    # as EC2's recorded RunInstances answers: a pending reason, and no volumes attached yet
    assert i["StateReason"] == {"Code": "pending", "Message": "pending"}
    assert i["BlockDeviceMappings"] == []
    assert i["ImageId"] == AMI and i["InstanceType"] == "t3.micro"
    assert i["Placement"]["AvailabilityZone"] == "us-east-1a"
    assert ipaddress.ip_address(i["PrivateIpAddress"]) in ipaddress.ip_network("172.31.0.0/20")
    assert ipaddress.ip_address(i["PublicIpAddress"]) in POOL, "default subnets map public IPs"
    pub = i["PublicIpAddress"]
    assert i["PublicDnsName"] == "ec2-" + pub.replace(".", "-") + ".compute-1.amazonaws.com"
    assert i["PrivateDnsName"] == "ip-" + i["PrivateIpAddress"].replace(".", "-") + ".ec2.internal"
    assert i["Tags"] == [{"Key": "Name", "Value": "web"}]
    assert i["AmiLaunchIndex"] == 0
    assert i["SecurityGroups"][0]["GroupName"] == "default"
    [eni] = i["NetworkInterfaces"]
    assert eni["Attachment"]["DeviceIndex"] == 0
    assert eni["Attachment"]["DeleteOnTermination"] is True
    assert eni["Attachment"]["Status"] == "attaching", "EC2's recorded RunInstances answers"
    assert eni["Association"]["PublicIp"] == pub
    assert eni["Association"]["IpOwnerId"] == "amazon"
    assert eni["Status"] == "in-use"

    d = describe(ec2, iid)
    assert d["State"] == {"Code": 16, "Name": "running"}
    assert "StateReason" not in d
    assert [m["DeviceName"] for m in d["BlockDeviceMappings"]] == [d["RootDeviceName"]]
    full = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert full["Attachment"]["InstanceId"] == iid and full["Attachment"]["Status"] == "attached"
    assert d["NetworkInterfaces"][0]["Attachment"]["Status"] == "attached"
    assert full["Attachment"]["InstanceOwnerId"] == "123456789012"
    assert full["TagSet"] == [{"Key": "Role", "Value": "eth0"}]
    assert full["RequesterManaged"] is False
    assert error_code(ec2.delete_network_interface, NetworkInterfaceId=eni["NetworkInterfaceId"]) == "InvalidNetworkInterface.InUse"
    assert error_code(ec2.detach_network_interface, AttachmentId=eni["Attachment"]["AttachmentId"]) == "OperationNotPermitted"

    t = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert t["InstanceId"] == iid
    assert t["PreviousState"] == {"Code": 16, "Name": "running"}
    assert t["CurrentState"] == {"Code": 32, "Name": "shutting-down"}
    d = describe(ec2, iid)
    assert d["State"] == {"Code": 48, "Name": "terminated"}, "terminated instances stay visible"
    assert d["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert d["NetworkInterfaces"] == []
    assert error_code(ec2.describe_network_interfaces, NetworkInterfaceIds=[eni["NetworkInterfaceId"]]) == "InvalidNetworkInterfaceID.NotFound"
    assert ec2.describe_network_interfaces(Filters=[{"Name": "association.public-ip", "Values": [pub]}])["NetworkInterfaces"] == []
    again = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
    assert again["PreviousState"]["Name"] == "terminated" and again["CurrentState"]["Name"] == "terminated"
    assert error_code(ec2.start_instances, InstanceIds=[iid]) == "IncorrectInstanceState"
    assert error_code(ec2.stop_instances, InstanceIds=[iid]) == "IncorrectInstanceState"


def test_private_subnet_and_public_ip_option(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, PrivateIpAddress="10.0.1.20")["Instances"][0]
    assert i["PrivateIpAddress"] == "10.0.1.20"
    assert "PublicIpAddress" not in i and i["PublicDnsName"] == ""
    assert i["InstanceType"] == "m1.small"
    assert i["SubnetId"] == sid and i["VpcId"] == vpc["VpcId"]
    assert i["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, PrivateIpAddress="10.0.1.20") == "InvalidIPAddress.InUse"
    # an empty zone means "the subnet's" (Terraform's aws_instance always sends one)
    k = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, Placement={"AvailabilityZone": ""})["Instances"][0]
    assert k["Placement"]["AvailabilityZone"] == "us-east-1b"
    ec2.terminate_instances(InstanceIds=[k["InstanceId"]])
    j = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sid, "AssociatePublicIpAddress": True, "SecondaryPrivateIpAddressCount": 1}],
    )["Instances"][0]
    assert ipaddress.ip_address(j["PublicIpAddress"]) in POOL
    assert j["PublicDnsName"] == "", "the VPC has DNS hostnames off"
    assert len(j["NetworkInterfaces"][0]["PrivateIpAddresses"]) == 2
    assert error_code(
        ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sid}],
    ) == "InvalidParameterCombination"
    assert error_code(ec2.delete_subnet, SubnetId=sid) == "DependencyViolation"
    ec2.terminate_instances(InstanceIds=[i["InstanceId"], j["InstanceId"]])


def test_many_and_filters(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    ec2.create_key_pair(KeyName="k1", KeyType="ed25519")  # RunInstances checks KeyName
    r = ec2.run_instances(ImageId=AMI, MinCount=3, MaxCount=3, SubnetId=sid, KeyName="k1", InstanceType="t3.small",
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "batch", "Value": "b1"}]}])
    ids = [i["InstanceId"] for i in r["Instances"]]
    assert [i["AmiLaunchIndex"] for i in r["Instances"]] == [0, 1, 2]
    res = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    assert len(res) == 1 and res[0]["ReservationId"] == r["ReservationId"]
    assert sorted(i["InstanceId"] for i in res[0]["Instances"]) == sorted(ids)
    first = r["Instances"][0]
    eni0 = first["NetworkInterfaces"][0]["NetworkInterfaceId"]
    for name, value, want in [
        ("subnet-id", sid, 3),
        ("vpc-id", vpc["VpcId"], 3),
        ("instance-state-name", "running", 3),
        ("instance-state-code", "16", 3),
        ("instance-type", "t3.small", 3),
        ("image-id", AMI, 3),
        ("key-name", "k1", 3),
        ("availability-zone", "us-east-1b", 3),
        ("tag:batch", "b1", 3),
        ("private-ip-address", first["PrivateIpAddress"], 1),
        ("network-interface.network-interface-id", eni0, 1),
        ("instance-id", first["InstanceId"], 1),
        ("reservation-id", r["ReservationId"], 3),
    ]:
        got = [i["InstanceId"] for x in ec2.describe_instances(Filters=[{"Name": name, "Values": [value]}, {"Name": "subnet-id", "Values": [sid]}])["Reservations"] for i in x["Instances"]]
        assert len(got) == want, (name, got)
    p1 = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [sid]}], MaxResults=5)
    assert sum(len(x["Instances"]) for x in p1["Reservations"]) == 3 and not p1.get("NextToken")
    assert error_code(ec2.describe_instances, InstanceIds=ids, MaxResults=5) == "InvalidParameterCombination"
    assert error_code(ec2.describe_instances, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    ec2.terminate_instances(InstanceIds=ids)
    got = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}, {"Name": "tag:batch", "Values": ["b1"]}])
    assert sum(len(x["Instances"]) for x in got["Reservations"]) == 3


def test_stop_start_and_protection(ec2):
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, DisableApiTermination=True)["Instances"][0]
    iid = i["InstanceId"]
    pub = i["PublicIpAddress"]
    assert error_code(ec2.terminate_instances, InstanceIds=[iid]) == "OperationNotPermitted"
    s = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert s["CurrentState"] == {"Code": 64, "Name": "stopping"} and s["PreviousState"]["Name"] == "running"
    d = describe(ec2, iid)
    assert d["State"]["Name"] == "stopped"
    assert "PublicIpAddress" not in d, "stopping releases the auto-assigned public address"
    assert d["StateTransitionReason"].startswith("User initiated (")
    assert d["PrivateIpAddress"] == i["PrivateIpAddress"], "the private address stays"
    s = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert s["PreviousState"]["Name"] == "stopped" and s["CurrentState"]["Name"] == "stopped"
    st = ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]
    assert st["CurrentState"] == {"Code": 0, "Name": "pending"} and st["PreviousState"] == {"Code": 80, "Name": "stopped"}
    d = describe(ec2, iid)
    assert d["State"]["Name"] == "running"
    assert ipaddress.ip_address(d["PublicIpAddress"]) in POOL
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiStop={"Value": True})
    assert error_code(ec2.stop_instances, InstanceIds=[iid]) == "OperationNotPermitted"
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiStop")["DisableApiStop"]["Value"] is True
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"]["Value"] is True
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[iid])
    del pub


def test_attributes(ec2, vpc, subnet):
    ud = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"], UserData="#!/bin/sh\necho hi\n")["Instances"][0]
    iid = i["InstanceId"]
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"] == ud
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"]["Value"] == "m1.small"
    assert error_code(ec2.modify_instance_attribute, InstanceId=iid, InstanceType={"Value": "t3.large"}) == "IncorrectInstanceState"
    ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="sourceDestCheck")["SourceDestCheck"]["Value"] is False
    eni = i["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["SourceDestCheck"] is False
    assert describe(ec2, iid)["SourceDestCheck"] is False
    groups = ec2.describe_instance_attribute(InstanceId=iid, Attribute="groupSet")["Groups"]
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                                    {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    assert groups == [{"GroupId": default["GroupId"]}], "the attribute names the groups by id only"
    ec2.stop_instances(InstanceIds=[iid])
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.large"})
    ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": b"new"})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"]["Value"] == "t3.large"
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"] == base64.b64encode(b"new").decode()
    assert error_code(ec2.describe_instance_attribute, InstanceId=iid, Attribute="bogus") == "InvalidParameterValue"
    ec2.terminate_instances(InstanceIds=[iid])


def test_empty_user_data_is_none(ec2, subnet):
    """Terraform sends UserData="" (to a launch template too) when a configuration has none;
    EC2 keeps no user data then, and describes the attribute without a value."""
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                            UserData="")["Instances"][0]["InstanceId"]
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"] == {}
    lt = ec2.create_launch_template(LaunchTemplateName=f"empty-ud-{iid}",
                                    LaunchTemplateData={"ImageId": AMI, "UserData": ""})["LaunchTemplate"]
    from_lt = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                                LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]})["Instances"][0]["InstanceId"]
    assert ec2.describe_instance_attribute(InstanceId=from_lt, Attribute="userData")["UserData"] == {}
    ec2.terminate_instances(InstanceIds=[iid, from_lt])
    ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])


def test_addresses_not_marked_primary_are_secondary(ec2, subnet):
    """With no address marked primary and no PrivateIpAddress, EC2 picks the primary itself
    and the listed addresses are secondary (Terraform's secondary_private_ips send them so)."""
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, NetworkInterfaces=[{
        "DeviceIndex": 0, "SubnetId": subnet["SubnetId"],
        "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.1.50"}, {"PrivateIpAddress": "10.0.1.51"}]}])["Instances"][0]
    eni = i["NetworkInterfaces"][0]
    assert i["PrivateIpAddress"] not in ("10.0.1.50", "10.0.1.51")
    assert sorted((a["PrivateIpAddress"], a["Primary"]) for a in eni["PrivateIpAddresses"]) == sorted(
        [(i["PrivateIpAddress"], True), ("10.0.1.50", False), ("10.0.1.51", False)])
    e = ec2.create_network_interface(SubnetId=subnet["SubnetId"],
                                     PrivateIpAddresses=[{"PrivateIpAddress": "10.0.1.60", "Primary": False}])["NetworkInterface"]
    assert e["PrivateIpAddress"] != "10.0.1.60"
    assert [a["PrivateIpAddress"] for a in e["PrivateIpAddresses"] if not a["Primary"]] == ["10.0.1.60"]
    ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    ec2.delete_network_interface(NetworkInterfaceId=e["NetworkInterfaceId"])


def test_attach_detach(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid)["Instances"][0]["InstanceId"]
    eni = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]["NetworkInterfaceId"]
    att = ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=iid, DeviceIndex=1)
    assert att["AttachmentId"].startswith("eni-attach-")
    e = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    assert e["Status"] == "in-use" and e["Attachment"]["DeviceIndex"] == 1 and e["Attachment"]["DeleteOnTermination"] is False
    assert len(describe(ec2, iid)["NetworkInterfaces"]) == 2
    other = ec2.create_network_interface(SubnetId=sid)["NetworkInterface"]["NetworkInterfaceId"]
    assert error_code(ec2.attach_network_interface, NetworkInterfaceId=other, InstanceId=iid, DeviceIndex=1) == "InvalidParameterValue"
    assert error_code(ec2.attach_network_interface, NetworkInterfaceId=eni, InstanceId=iid, DeviceIndex=2) == "InvalidNetworkInterface.InUse"
    assert error_code(ec2.delete_network_interface, NetworkInterfaceId=eni) == "InvalidNetworkInterface.InUse"
    assert error_code(ec2.detach_network_interface, AttachmentId="eni-attach-0123456789abcdef0") == "InvalidAttachmentID.NotFound"
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Attachment={"AttachmentId": att["AttachmentId"], "DeleteOnTermination": True})
    r = ec2.describe_network_interface_attribute(NetworkInterfaceId=eni, Attribute="attachment")
    assert r["Attachment"]["DeleteOnTermination"] is True and r["Attachment"]["InstanceId"] == iid
    ec2.detach_network_interface(AttachmentId=att["AttachmentId"])
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Status"] == "available"
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=iid, DeviceIndex=2)
    ec2.terminate_instances(InstanceIds=[iid])
    e = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    assert e["Status"] == "available", "kept (deleteOnTermination false) and detached"
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    ec2.delete_network_interface(NetworkInterfaceId=other)


def test_status(ec2, vpc, subnet):
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"])["Instances"][0]["InstanceId"]
    st = ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"]
    assert st[0]["InstanceState"]["Name"] == "running"
    assert st[0]["InstanceStatus"]["Status"] == "ok" and st[0]["SystemStatus"]["Status"] == "ok"
    assert st[0]["AvailabilityZone"] == "us-east-1b"
    ec2.stop_instances(InstanceIds=[iid])
    assert ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"] == []
    st = ec2.describe_instance_status(InstanceIds=[iid], IncludeAllInstances=True)["InstanceStatuses"]
    assert st[0]["InstanceState"]["Name"] == "stopped" and st[0]["InstanceStatus"]["Status"] == "not-applicable"
    ec2.terminate_instances(InstanceIds=[iid])


def test_errors_and_idempotency(ec2, vpc, subnet):
    sid = subnet["SubnetId"]
    assert error_code(ec2.run_instances, ImageId="ami_x", MinCount=1, MaxCount=1) == "InvalidAMIID.Malformed"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=2, MaxCount=1) == "InvalidParameterValue"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId="subnet-0123456789abcdef0") == "InvalidSubnetID.NotFound"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, SecurityGroupIds=["sg-0123456789abcdef0"]) == "InvalidGroup.NotFound"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, PrivateIpAddress="10.9.0.5") == "InvalidParameterValue"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="bogus") == "InvalidParameterValue"
    assert error_code(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"]) == "InvalidInstanceID.NotFound"
    assert error_code(ec2.describe_instances, InstanceIds=["i_zz"]) == "InvalidInstanceID.Malformed"
    assert error_code(ec2.terminate_instances, InstanceIds=["i-0123456789abcdef0"]) == "InvalidInstanceID.NotFound"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, DryRun=True) == "DryRunOperation"
    a = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, ClientToken="tok-run-1")
    b = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, ClientToken="tok-run-1")
    assert a["ReservationId"] == b["ReservationId"]
    assert a["Instances"][0]["InstanceId"] == b["Instances"][0]["InstanceId"]
    assert a["Instances"][0]["ClientToken"] == "tok-run-1"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=2, SubnetId=sid, ClientToken="tok-run-1") == "IdempotentParameterMismatch"
    ec2.terminate_instances(InstanceIds=[a["Instances"][0]["InstanceId"]])


def test_subnet_capacity(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.7.0/28")["Subnet"]
    sid = s["SubnetId"]
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=12, MaxCount=12, SubnetId=sid) == "InsufficientFreeAddressesInSubnet"
    r = ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=20, SubnetId=sid)
    assert len(r["Instances"]) == 11, "MaxCount is best effort above MinCount"
    ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])
    ec2.delete_subnet(SubnetId=sid)


def test_dataplane_on_without_hosts():
    """With the data plane on and no host agent in the zone: InsufficientInstanceCapacity."""
    import subprocess
    from unittest import mock

    from conftest import Fort

    real = subprocess.Popen

    def popen(args, **kw):
        args = list(args)
        args[args.index("--dataplane") + 1] = "on"
        return real(args, **kw)

    with mock.patch("subprocess.Popen", popen):
        f = Fort()
    try:
        c = f.client()
        assert error_code(c.run_instances, ImageId=AMI, MinCount=1, MaxCount=1) == "InsufficientInstanceCapacity"
        assert c.describe_instances()["Reservations"] == []
    finally:
        f.close()


def test_credit_specifications_by_type(ec2, subnet):
    t3 = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                           InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    t2 = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                           InstanceType="t2.micro")["Instances"][0]["InstanceId"]
    m5 = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                           InstanceType="m5.large")["Instances"][0]["InstanceId"]
    got = ec2.describe_instance_credit_specifications(InstanceIds=[t3, t2, m5])["InstanceCreditSpecifications"]
    # named instances are all answered; one that is not burstable with `standard` (API reference)
    assert {c["InstanceId"]: c["CpuCredits"] for c in got} == {t3: "unlimited", t2: "standard", m5: "standard"}
    # unnamed: only those set to unlimited
    unnamed = [c["InstanceId"] for c in ec2.describe_instance_credit_specifications()["InstanceCreditSpecifications"]]
    assert t3 in unnamed and t2 not in unnamed and m5 not in unnamed
    r = ec2.modify_instance_credit_specification(InstanceCreditSpecifications=[
        {"InstanceId": t3, "CpuCredits": "standard"}, {"InstanceId": m5, "CpuCredits": "standard"}])
    assert [x["InstanceId"] for x in r["SuccessfulInstanceCreditSpecifications"]] == [t3]
    assert r["UnsuccessfulInstanceCreditSpecifications"][0]["InstanceId"] == m5
    got = ec2.describe_instance_credit_specifications(InstanceIds=[t3])["InstanceCreditSpecifications"]
    assert got == [{"InstanceId": t3, "CpuCredits": "standard"}]
    t3u = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"], InstanceType="t3.micro",
                            CreditSpecification={"CpuCredits": "standard"})["Instances"][0]["InstanceId"]
    got = ec2.describe_instance_credit_specifications(InstanceIds=[t3u])["InstanceCreditSpecifications"]
    assert got[0]["CpuCredits"] == "standard"


def test_metadata_options_are_kept_and_modified(ec2, subnet):
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                          MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                                           "InstanceMetadataTags": "enabled"})["Instances"][0]
    assert i["MetadataOptions"]["State"] == "pending"
    m = describe(ec2, i["InstanceId"])["MetadataOptions"]
    assert m == {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                 "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "enabled"}
    r = ec2.modify_instance_metadata_options(InstanceId=i["InstanceId"], HttpTokens="optional", HttpEndpoint="disabled")
    assert r["InstanceId"] == i["InstanceId"]
    assert r["InstanceMetadataOptions"]["State"] == "pending"
    assert r["InstanceMetadataOptions"]["HttpTokens"] == "optional"
    m = describe(ec2, i["InstanceId"])["MetadataOptions"]
    assert (m["HttpTokens"], m["HttpEndpoint"], m["HttpPutResponseHopLimit"]) == ("optional", "disabled", 2)
    assert error_code(ec2.modify_instance_metadata_options, InstanceId=i["InstanceId"], HttpTokens="always") \
        == "InvalidParameterValue"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                      MetadataOptions={"HttpPutResponseHopLimit": 65}) == "InvalidParameterValue"


def test_maintenance_and_capacity_reservation_options(ec2, subnet):
    """MaintenanceOptions and CapacityReservationSpecification are kept from the launch (or
    its template) and shown as EC2 shows them: `AutoRecovery` `default` and preference
    `open` when not asked (AWS's recorded DescribeInstances answers always carry both)."""
    plain = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"])["Instances"][0]
    assert plain["MaintenanceOptions"] == {"AutoRecovery": "default"}
    assert plain["CapacityReservationSpecification"] == {"CapacityReservationPreference": "open"}

    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                          MaintenanceOptions={"AutoRecovery": "disabled"},
                          CapacityReservationSpecification={"CapacityReservationPreference": "none"})["Instances"][0]
    iid = i["InstanceId"]
    assert i["MaintenanceOptions"] == {"AutoRecovery": "disabled"}
    d = describe(ec2, iid)
    assert d["MaintenanceOptions"] == {"AutoRecovery": "disabled"}
    assert d["CapacityReservationSpecification"] == {"CapacityReservationPreference": "none"}

    # a template made from the instance launches it the same way
    data = ec2.get_launch_template_data(InstanceId=iid)["LaunchTemplateData"]
    assert data["MaintenanceOptions"] == {"AutoRecovery": "disabled"}
    assert data["CapacityReservationSpecification"] == {"CapacityReservationPreference": "none"}

    # maintenance options change while the instance runs
    r = ec2.modify_instance_maintenance_options(InstanceId=iid, AutoRecovery="default", RebootMigration="disabled")
    assert (r["InstanceId"], r["AutoRecovery"], r["RebootMigration"]) == (iid, "default", "disabled")
    assert describe(ec2, iid)["MaintenanceOptions"] == {"AutoRecovery": "default", "RebootMigration": "disabled"}
    assert error_code(ec2.modify_instance_maintenance_options, InstanceId=iid,
                      AutoRecovery="sometimes") == "InvalidParameterValue"
    assert error_code(ec2.modify_instance_maintenance_options, InstanceId="i-0123456789abcdef0",
                      AutoRecovery="disabled") == "InvalidInstanceID.NotFound"

    # the Capacity Reservation preference only while it is stopped
    spec = {"CapacityReservationPreference": "open"}
    assert error_code(ec2.modify_instance_capacity_reservation_attributes, InstanceId=iid,
                      CapacityReservationSpecification=spec) == "IncorrectInstanceState"
    ec2.stop_instances(InstanceIds=[iid])
    assert ec2.modify_instance_capacity_reservation_attributes(
        InstanceId=iid, CapacityReservationSpecification=spec)["Return"]
    assert describe(ec2, iid)["CapacityReservationSpecification"] == spec

    # Fort has no Capacity Reservation groups (capacity-reservations-only); a target must exist
    for bad, code in (({"CapacityReservationPreference": "capacity-reservations-only"}, "UnsupportedOperation"),
                      ({"CapacityReservationTarget": {"CapacityReservationId": "cr-0123456789abcdef0"}},
                       "InvalidCapacityReservationId.NotFound")):
        assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                          CapacityReservationSpecification=bad) == code
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                      MaintenanceOptions={"AutoRecovery": "off"}) == "InvalidParameterValue"

    # a launch template's options are the launch's
    lt = ec2.create_launch_template(LaunchTemplateName="maint", LaunchTemplateData={
        "ImageId": AMI, "MaintenanceOptions": {"AutoRecovery": "disabled"},
        "CapacityReservationSpecification": {"CapacityReservationPreference": "none"}})["LaunchTemplate"]
    try:
        t = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                              LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]})["Instances"][0]
        assert t["MaintenanceOptions"] == {"AutoRecovery": "disabled"}
        assert t["CapacityReservationSpecification"] == {"CapacityReservationPreference": "none"}
    finally:
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])


def test_every_attribute_describes(ec2, subnet):
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                            InstanceInitiatedShutdownBehavior="terminate")["Instances"][0]["InstanceId"]
    keys = {
        "instanceType": "InstanceType", "kernel": "KernelId", "ramdisk": "RamdiskId", "userData": "UserData",
        "disableApiTermination": "DisableApiTermination",
        "instanceInitiatedShutdownBehavior": "InstanceInitiatedShutdownBehavior",
        "rootDeviceName": "RootDeviceName", "blockDeviceMapping": "BlockDeviceMappings",
        "productCodes": "ProductCodes", "sourceDestCheck": "SourceDestCheck", "groupSet": "Groups",
        "ebsOptimized": "EbsOptimized", "sriovNetSupport": "SriovNetSupport", "enaSupport": "EnaSupport",
        "enclaveOptions": "EnclaveOptions", "disableApiStop": "DisableApiStop",
    }
    for attr, key in keys.items():
        r = ec2.describe_instance_attribute(InstanceId=iid, Attribute=attr)
        assert r["InstanceId"] == iid and key in r, attr
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="rootDeviceName")["RootDeviceName"]["Value"] == "/dev/sda1"
    assert len(ec2.describe_instance_attribute(InstanceId=iid, Attribute="blockDeviceMapping")["BlockDeviceMappings"]) == 1
    ec2.modify_instance_attribute(InstanceId=iid, InstanceInitiatedShutdownBehavior={"Value": "stop"})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"]["Value"] == "stop"
    assert error_code(ec2.modify_instance_attribute, InstanceId=iid, EbsOptimized={"Value": True}) \
        == "IncorrectInstanceState"
    ec2.stop_instances(InstanceIds=[iid])
    ec2.modify_instance_attribute(InstanceId=iid, EbsOptimized={"Value": True})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="ebsOptimized")["EbsOptimized"]["Value"] is True
    assert describe(ec2, iid)["EbsOptimized"] is True
    with pytest.raises(Exception) as e:
        ec2.describe_instance_attribute(InstanceId=iid, Attribute="abc")
    assert "Unknown attribute" in str(e.value)


def error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - a ClientError; its code and message are asserted
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    pytest.fail("call succeeded but an error was expected")


def test_instance_ids_errors(ec2, subnet):
    """No ids is InvalidParameterCombination; every unknown id is named, in one message."""
    assert error(ec2.terminate_instances, InstanceIds=[]) == ("InvalidParameterCombination", "No instances specified")
    assert error(ec2.stop_instances, InstanceIds=[])[0] == "InvalidParameterCombination"
    a, b = "i-0123456789abcdef0", "i-0123456789abcdef1"
    assert error(ec2.terminate_instances, InstanceIds=[a]) == ("InvalidInstanceID.NotFound", f"The instance ID '{a}' does not exist")
    assert error(ec2.terminate_instances, InstanceIds=[a, b]) == ("InvalidInstanceID.NotFound", f"The instance IDs '{a}, {b}' do not exist")
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"])["Instances"][0]["InstanceId"]
    assert error(ec2.terminate_instances, InstanceIds=[a, iid]) == ("InvalidInstanceID.NotFound", f"The instance ID '{a}' does not exist")
    assert describe(ec2, iid)["State"]["Name"] == "running", "nothing is terminated when an id is unknown"
    ec2.terminate_instances(InstanceIds=[iid])


def test_block_device_mappings_are_checked_first(ec2, subnet):
    """The mappings' own shape is refused before an unknown key pair is looked up."""
    run = dict(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"], KeyName="no-such-key")
    assert error(ec2.run_instances, BlockDeviceMappings=[{"DeviceName": "/dev/sdb"}], **run) == (
        "MissingParameter", "The request must contain the parameter ebs")
    assert error(ec2.run_instances, BlockDeviceMappings=[{"DeviceName": "/dev/sdb", "Ebs": {"VolumeType": "gp3"}}], **run) == (
        "MissingParameter", "The request must contain the parameter size or snapshotId")
    assert error(ec2.run_instances, BlockDeviceMappings=[{"DeviceName": "/dev/sdb", "NoDevice": "yes"}], **run) == (
        "InvalidRequest", "The request received was invalid")
    assert error_code(ec2.run_instances, BlockDeviceMappings=[{"DeviceName": "/dev/sdb", "NoDevice": ""}], **run) == "InvalidKeyPair.NotFound"


def test_architecture_filter_and_template_tags_order(ec2, subnet):
    sid = subnet["SubnetId"]
    lt = ec2.create_launch_template(LaunchTemplateName="tags-order", LaunchTemplateData={
        "ImageId": AMI, "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "k", "Value": "v"}]}]})["LaunchTemplate"]
    try:
        i = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=sid, LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]})["Instances"][0]
        # The caller's tags come before those EC2 adds.
        assert i["Tags"] == [{"Key": "k", "Value": "v"},
                             {"Key": "aws:ec2launchtemplate:id", "Value": lt["LaunchTemplateId"]},
                             {"Key": "aws:ec2launchtemplate:version", "Value": "1"}]
        assert i["Architecture"] == "x86_64"
        found = ec2.describe_instances(Filters=[{"Name": "architecture", "Values": ["x86_64"]}, {"Name": "subnet-id", "Values": [sid]}])
        assert [x["InstanceId"] for r in found["Reservations"] for x in r["Instances"]] == [i["InstanceId"]]
        assert ec2.describe_instances(Filters=[{"Name": "architecture", "Values": ["arm64"]}, {"Name": "subnet-id", "Values": [sid]}])["Reservations"] == []
        ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    finally:
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])


def test_console_output(ec2, subnet):
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"])["Instances"][0]["InstanceId"]
    out = ec2.get_console_output(InstanceId=iid)
    assert out["InstanceId"] == iid and "Timestamp" in out
    assert out["Output"].startswith("Linux version"), "boto3 decodes the base64 output"
    assert error_code(ec2.get_console_output, InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    ec2.terminate_instances(InstanceIds=[iid])


def test_describe_instances_in_launch_order(ec2, subnet):
    sid = subnet["SubnetId"]
    launched = []
    for _ in range(4):
        launched += [i["InstanceId"] for i in ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=2, SubnetId=sid)["Instances"]]
    flt = [{"Name": "subnet-id", "Values": [sid]}]
    got = [i["InstanceId"] for r in ec2.describe_instances(Filters=flt)["Reservations"] for i in r["Instances"]]
    assert got == launched
    paged, token = [], None
    while True:
        page = ec2.describe_instances(Filters=flt, MaxResults=5, **({"NextToken": token} if token else {}))
        paged += [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
        token = page.get("NextToken")
        if not token:
            break
    assert paged == launched
    ec2.terminate_instances(InstanceIds=launched)


def test_uefi_data_hibernation_and_hosts(ec2, subnet):
    sid = subnet["SubnetId"]
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid)["Instances"][0]["InstanceId"]
    r = ec2.get_instance_uefi_data(InstanceId=iid)
    assert r["InstanceId"] == iid and "UefiData" in r
    assert error_code(ec2.get_instance_uefi_data, InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    ec2.terminate_instances(InstanceIds=[iid])
    # Hibernation needs an encrypted root volume; Fort has no Dedicated Hosts
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                      HibernationOptions={"Configured": True}) == "UnsupportedHibernationConfiguration"
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                            HibernationOptions={"Configured": False})["Instances"][0]["InstanceId"]
    assert describe(ec2, iid)["HibernationOptions"] == {"Configured": False}
    assert error_code(ec2.stop_instances, InstanceIds=[iid], Hibernate=True) == "UnsupportedHibernationConfiguration"
    ec2.terminate_instances(InstanceIds=[iid])
    root = ec2.describe_images(ImageIds=[AMI])["Images"][0]["RootDeviceName"]
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, InstanceType="t3.micro",
                            HibernationOptions={"Configured": True},
                            BlockDeviceMappings=[{"DeviceName": root, "Ebs": {"Encrypted": True, "VolumeSize": 8}}],
                            )["Instances"][0]["InstanceId"]
    assert describe(ec2, iid)["HibernationOptions"] == {"Configured": True}
    # a hibernating stop is taken, and stops the instance (EC2's fallback when hibernation fails)
    assert ec2.stop_instances(InstanceIds=[iid], Hibernate=True)["StoppingInstances"][0]["InstanceId"] == iid
    assert describe(ec2, iid)["State"]["Name"] in ("stopping", "stopped")
    ec2.terminate_instances(InstanceIds=[iid])
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                      Placement={"HostId": "h-0123456789abcdef0"}) == "InvalidHostID.NotFound"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                      Placement={"HostId": "host-1"}) == "InvalidHostID.Malformed"
    # Fort has no License Manager: a license configuration named is one not shared (EC2's
    # message, as Ansible's ec2_instance_license_specifications checks it on AWS)
    try:
        ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, LicenseSpecifications=[
            {"LicenseConfigurationArn": "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789"}])
        pytest.fail("launched with a license configuration")
    except ClientError as e:
        assert "An instance is associated with one or more unshared license configurations." \
            in e.response["Error"]["Message"]
    assert not ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [sid]},
                                               {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]


def test_monitor_instances(ec2):
    i = ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    mon = lambda: ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]["Monitoring"]["State"]
    assert mon() == "disabled"
    # EC2 answers the change under way; Describe shows where it settled
    assert ec2.monitor_instances(InstanceIds=[i])["InstanceMonitorings"] == [
        {"InstanceId": i, "Monitoring": {"State": "pending"}}]
    assert mon() == "enabled"
    assert ec2.unmonitor_instances(InstanceIds=[i])["InstanceMonitorings"] == [
        {"InstanceId": i, "Monitoring": {"State": "disabling"}}]
    assert mon() == "disabled"
    # one unknown id: nothing changes
    assert error_code(ec2.monitor_instances, InstanceIds=[i, "i-0123456789abcdef0"]) == "InvalidInstanceID.NotFound"
    assert mon() == "disabled"
    assert error_code(ec2.monitor_instances, InstanceIds=["nope"]) == "InvalidInstanceID.Malformed"
    ec2.terminate_instances(InstanceIds=[i])
    assert error_code(ec2.monitor_instances, InstanceIds=[i]) == "IncorrectInstanceState"


def test_cpu_options_are_the_types_or_the_launchs(ec2, subnet):
    # EC2 describes an instance's cores and threads: its type's, or those RunInstances asked
    # for (Terraform reads them back as cpu_options and replaces the instance on a mismatch)
    sid = subnet["SubnetId"]
    run = lambda **kw: ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, **kw)["Instances"][0]
    t2 = run(InstanceType="t2.micro")
    assert t2["CpuOptions"] == {"CoreCount": 1, "ThreadsPerCore": 1}
    c5 = run(InstanceType="c5.xlarge")
    assert describe(ec2, c5["InstanceId"])["CpuOptions"] == {"CoreCount": 2, "ThreadsPerCore": 2}
    tuned = run(InstanceType="c5.xlarge", CpuOptions={"CoreCount": 2, "ThreadsPerCore": 1})
    assert describe(ec2, tuned["InstanceId"])["CpuOptions"] == {"CoreCount": 2, "ThreadsPerCore": 1}
    sev = run(InstanceType="c6a.xlarge", CpuOptions={"CoreCount": 1, "ThreadsPerCore": 2, "AmdSevSnp": "enabled"})
    assert describe(ec2, sev["InstanceId"])["CpuOptions"] == {
        "CoreCount": 1, "ThreadsPerCore": 2, "AmdSevSnp": "enabled"}
    # both counts or neither; values the type accepts; SEV-SNP on AMD types only
    assert error_code(run, InstanceType="c5.xlarge", CpuOptions={"CoreCount": 2}) == "MissingParameter"
    assert error_code(run, InstanceType="c5.xlarge",
                      CpuOptions={"CoreCount": 3, "ThreadsPerCore": 1}) == "InvalidParameterValue"
    assert error_code(run, InstanceType="c5.xlarge",
                      CpuOptions={"CoreCount": 2, "ThreadsPerCore": 3}) == "InvalidParameterValue"
    assert error_code(run, InstanceType="t2.micro",
                      CpuOptions={"CoreCount": 1, "ThreadsPerCore": 1}) == "InvalidParameterCombination"
    assert error_code(run, InstanceType="c5.xlarge", CpuOptions={"AmdSevSnp": "enabled"}) \
        == "InvalidParameterCombination"


def test_iam_instance_profile_at_launch(fort, ec2, subnet):
    # RunInstances takes an instance profile by name or ARN and DescribeInstances names it
    # by ARN and AIPA id (how Terraform's aws_instance reads iam_instance_profile back)
    iam = fort.client("iam")
    profile = iam.create_instance_profile(InstanceProfileName="fort-launch-profile")["InstanceProfile"]
    try:
        sid = subnet["SubnetId"]
        run = lambda **kw: ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, **kw)["Instances"][0]
        by_name = run(IamInstanceProfile={"Name": "fort-launch-profile"})
        want = {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}
        assert by_name["IamInstanceProfile"] == want
        assert describe(ec2, by_name["InstanceId"])["IamInstanceProfile"] == want
        by_arn = run(IamInstanceProfile={"Arn": profile["Arn"]})
        assert describe(ec2, by_arn["InstanceId"])["IamInstanceProfile"] == want
        assert "IamInstanceProfile" not in describe(ec2, run()["InstanceId"])
        code, message = error(run, IamInstanceProfile={"Name": "no-such-profile"})
        assert code == "InvalidParameterValue" and "Invalid IAM Instance Profile name" in message
        code, message = error(run, IamInstanceProfile={"Arn": "arn:aws:iam::123456789012:instance-profile/nope"})
        assert code == "InvalidParameterValue" and "Invalid IAM Instance Profile ARN" in message
        terminate_all(ec2, [{"Name": "subnet-id", "Values": [sid]}])
    finally:
        iam.delete_instance_profile(InstanceProfileName="fort-launch-profile")


def test_enclave_options_are_kept(ec2, subnet):
    """EnclaveOptions.Enabled is kept from the launch (the provider's enclave_options), for
    the types that can run a Nitro Enclave (Nitro, 4 vCPUs or more, not burstable)."""
    plain = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                              InstanceType="c5.xlarge")["Instances"][0]
    assert plain["EnclaveOptions"] == {"Enabled": False}
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                          InstanceType="c5.xlarge", EnclaveOptions={"Enabled": True})["Instances"][0]
    iid = i["InstanceId"]
    assert i["EnclaveOptions"] == {"Enabled": True}
    assert describe(ec2, iid)["EnclaveOptions"] == {"Enabled": True}
    got = ec2.describe_instance_attribute(InstanceId=iid, Attribute="enclaveOptions")
    assert got["EnclaveOptions"] == {"Enabled": True}
    data = ec2.get_launch_template_data(InstanceId=iid)["LaunchTemplateData"]
    assert data["EnclaveOptions"] == {"Enabled": True}
    # a burstable type cannot run one
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                      InstanceType="t3.xlarge", EnclaveOptions={"Enabled": True}) == "UnsupportedOperation"
