"""Resource-based instance names: subnets' PrivateDnsNameOptionsOnLaunch, instances'
PrivateDnsNameOptions (RunInstances, launch templates, ModifyPrivateDnsNameOptions) and the
private DNS name EC2 reports for an instance named by its id."""

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, error_code

AMI = "ami-0123456789abcdef0"
IP_NAMED = {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
            "EnableResourceNameDnsAAAARecord": False}


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.7.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    yield s
    ids = [i["InstanceId"]
           for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["Reservations"]
           for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def describe(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def on_launch(ec2, sid):
    return ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["PrivateDnsNameOptionsOnLaunch"]


def ip_name(ip, domain="ec2.internal"):
    return "ip-" + ip.replace(".", "-") + "." + domain


def test_subnet_on_launch_options(ec2, subnet):
    sid = subnet["SubnetId"]
    assert subnet["PrivateDnsNameOptionsOnLaunch"] == IP_NAMED
    ec2.modify_subnet_attribute(SubnetId=sid, PrivateDnsHostnameTypeOnLaunch="resource-name")
    ec2.modify_subnet_attribute(SubnetId=sid, EnableResourceNameDnsARecordOnLaunch={"Value": True})
    ec2.modify_subnet_attribute(SubnetId=sid, EnableResourceNameDnsAAAARecordOnLaunch={"Value": True})
    assert on_launch(ec2, sid) == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": True,
                                   "EnableResourceNameDnsAAAARecord": True}
    ec2.modify_subnet_attribute(SubnetId=sid, EnableResourceNameDnsAAAARecordOnLaunch={"Value": False})
    assert on_launch(ec2, sid)["EnableResourceNameDnsAAAARecord"] is False
    # filters on the options
    for name, value in [("private-dns-name-options-on-launch.hostname-type", "resource-name"),
                        ("private-dns-name-options-on-launch.enable-resource-name-dns-a-record", "true"),
                        ("private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record", "false")]:
        found = ec2.describe_subnets(Filters=[{"Name": name, "Values": [value]},
                                              {"Name": "subnet-id", "Values": [sid]}])["Subnets"]
        assert [s["SubnetId"] for s in found] == [sid], name
    # EC2's refusals: an unknown type, two attributes at once, none, a subnet that is not
    assert error_code(ec2.modify_subnet_attribute, SubnetId=sid,
                      PrivateDnsHostnameTypeOnLaunch="rbn") == "InvalidParameterValue"
    assert error_code(ec2.modify_subnet_attribute, SubnetId=sid, PrivateDnsHostnameTypeOnLaunch="ip-name",
                      EnableResourceNameDnsARecordOnLaunch={"Value": False}) == "InvalidParameterCombination"
    assert error_code(ec2.modify_subnet_attribute, SubnetId=sid) == "MissingParameter"
    assert error_code(ec2.modify_subnet_attribute, SubnetId="subnet-0123456789abcdef0",
                      PrivateDnsHostnameTypeOnLaunch="ip-name") == "InvalidSubnetID.NotFound"
    assert on_launch(ec2, sid)["HostnameType"] == "resource-name", "a refused change changes nothing"


def test_ipv6_only_subnets_name_by_resource(ec2):
    v = ec2.create_vpc(CidrBlock="10.62.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    s = ec2.create_subnet(VpcId=v["VpcId"], Ipv6Native=True, Ipv6CidrBlock=block)["Subnet"]
    assert s["PrivateDnsNameOptionsOnLaunch"] == {"HostnameType": "resource-name",
                                                  "EnableResourceNameDnsARecord": False,
                                                  "EnableResourceNameDnsAAAARecord": True}
    assert error_code(ec2.modify_subnet_attribute, SubnetId=s["SubnetId"],
                      PrivateDnsHostnameTypeOnLaunch="ip-name") == "InvalidParameterValue"
    ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=v["VpcId"])


def test_instances_launch_with_their_subnets_options(ec2, subnet):
    sid = subnet["SubnetId"]
    plain = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid)["Instances"][0]
    assert plain["PrivateDnsNameOptions"] == IP_NAMED
    assert plain["PrivateDnsName"] == ip_name(plain["PrivateIpAddress"])
    ec2.modify_subnet_attribute(SubnetId=sid, PrivateDnsHostnameTypeOnLaunch="resource-name")
    ec2.modify_subnet_attribute(SubnetId=sid, EnableResourceNameDnsARecordOnLaunch={"Value": True})
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid)["Instances"][0]
    iid = i["InstanceId"]
    assert i["PrivateDnsNameOptions"] == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": True,
                                          "EnableResourceNameDnsAAAARecord": False}
    assert i["PrivateDnsName"] == f"{iid}.ec2.internal"
    d = describe(ec2, iid)
    assert d["PrivateDnsName"] == f"{iid}.ec2.internal"
    assert d["PrivateDnsNameOptions"] == i["PrivateDnsNameOptions"]
    # the interface and its addresses keep their IP names
    [e] = d["NetworkInterfaces"]
    assert e["PrivateDnsName"] == ip_name(d["PrivateIpAddress"])
    assert e["PrivateIpAddresses"][0]["PrivateDnsName"] == ip_name(d["PrivateIpAddress"])
    # the private-dns-name filter finds it by the name it reports
    found = ec2.describe_instances(Filters=[{"Name": "private-dns-name", "Values": [f"{iid}.ec2.internal"]}])
    assert [x["InstanceId"] for r in found["Reservations"] for x in r["Instances"]] == [iid]
    # the request's own options win over the subnet's, each on its own
    own = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                            PrivateDnsNameOptions={"HostnameType": "ip-name"})["Instances"][0]
    assert own["PrivateDnsNameOptions"] == {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": True,
                                            "EnableResourceNameDnsAAAARecord": False}
    assert own["PrivateDnsName"] == ip_name(own["PrivateIpAddress"])
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                      PrivateDnsNameOptions={"HostnameType": "instance-id"}) == "InvalidParameterValue"
    # instances already launched keep theirs when the subnet's change
    ec2.modify_subnet_attribute(SubnetId=sid, PrivateDnsHostnameTypeOnLaunch="ip-name")
    assert describe(ec2, iid)["PrivateDnsName"] == f"{iid}.ec2.internal"
    assert describe(ec2, plain["InstanceId"])["PrivateDnsNameOptions"] == IP_NAMED


def test_names_by_region(fort):
    ec2 = fort.client(region="eu-west-1")
    v = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    s = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.0.1.0/24")["Subnet"]
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=s["SubnetId"],
                          PrivateDnsNameOptions={"HostnameType": "resource-name",
                                                 "EnableResourceNameDnsARecord": True})["Instances"][0]
    assert i["PrivateDnsName"] == f"{i['InstanceId']}.eu-west-1.compute.internal"
    ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=v["VpcId"])


def test_modify_private_dns_name_options(ec2, subnet):
    i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"])["Instances"][0]
    iid = i["InstanceId"]
    # the records turn on and off while it runs
    r = ec2.modify_private_dns_name_options(InstanceId=iid, EnableResourceNameDnsARecord=True)
    assert r["Return"] is True
    assert describe(ec2, iid)["PrivateDnsNameOptions"] == {
        "HostnameType": "ip-name", "EnableResourceNameDnsARecord": True, "EnableResourceNameDnsAAAARecord": False}
    ec2.modify_private_dns_name_options(InstanceId=iid, EnableResourceNameDnsAAAARecord=True,
                                        EnableResourceNameDnsARecord=False)
    assert describe(ec2, iid)["PrivateDnsNameOptions"] == {
        "HostnameType": "ip-name", "EnableResourceNameDnsARecord": False, "EnableResourceNameDnsAAAARecord": True}
    # the hostname type only while it is stopped, with EC2's words
    with pytest.raises(ClientError) as e:
        ec2.modify_private_dns_name_options(InstanceId=iid, PrivateDnsHostnameType="resource-name")
    assert e.value.response["Error"] == {"Code": "InvalidParameterValue",
                                         "Message": "Cannot modify hostname-type for running instances"}
    # naming the type it has already is no change
    ec2.modify_private_dns_name_options(InstanceId=iid, PrivateDnsHostnameType="ip-name")
    ec2.stop_instances(InstanceIds=[iid])
    ec2.modify_private_dns_name_options(InstanceId=iid, PrivateDnsHostnameType="resource-name")
    d = describe(ec2, iid)
    assert d["PrivateDnsNameOptions"]["HostnameType"] == "resource-name"
    assert d["PrivateDnsName"] == f"{iid}.ec2.internal"
    ec2.start_instances(InstanceIds=[iid])
    assert describe(ec2, iid)["PrivateDnsName"] == f"{iid}.ec2.internal"
    # EC2's errors
    assert error_code(ec2.modify_private_dns_name_options, InstanceId=iid,
                      PrivateDnsHostnameType="bogus") == "InvalidParameterValue"
    assert error_code(ec2.modify_private_dns_name_options,
                      InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    assert error_code(ec2.modify_private_dns_name_options, InstanceId="nope") == "InvalidInstanceID.Malformed"
    assert error_code(ec2.modify_private_dns_name_options, InstanceId=iid, EnableResourceNameDnsARecord=True,
                      DryRun=True) == "DryRunOperation"
    assert describe(ec2, iid)["PrivateDnsNameOptions"]["EnableResourceNameDnsARecord"] is False
    ec2.terminate_instances(InstanceIds=[iid])
    assert error_code(ec2.modify_private_dns_name_options, InstanceId=iid,
                      EnableResourceNameDnsARecord=True) == "IncorrectInstanceState"


def test_launch_templates_carry_the_options(ec2, subnet):
    t = ec2.create_launch_template(LaunchTemplateName="rbn-template", LaunchTemplateData={
        "ImageId": AMI, "PrivateDnsNameOptions": {"HostnameType": "resource-name",
                                                  "EnableResourceNameDnsARecord": True}})["LaunchTemplate"]
    try:
        i = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                              LaunchTemplate={"LaunchTemplateId": t["LaunchTemplateId"]})["Instances"][0]
        assert i["PrivateDnsNameOptions"] == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": True,
                                              "EnableResourceNameDnsAAAARecord": False}
        assert i["PrivateDnsName"] == f"{i['InstanceId']}.ec2.internal"
        # the request's own options override the template's
        j = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                              LaunchTemplate={"LaunchTemplateId": t["LaunchTemplateId"]},
                              PrivateDnsNameOptions={"HostnameType": "ip-name",
                                                     "EnableResourceNameDnsARecord": False})["Instances"][0]
        assert j["PrivateDnsNameOptions"] == IP_NAMED
        # and an instance's options go back into template data
        data = ec2.get_launch_template_data(InstanceId=i["InstanceId"])["LaunchTemplateData"]
        assert data["PrivateDnsNameOptions"] == i["PrivateDnsNameOptions"]
    finally:
        ec2.delete_launch_template(LaunchTemplateId=t["LaunchTemplateId"])


def test_aws_cli(fort, ec2, subnet):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def aws(*args, check=True):
        return subprocess.run(["aws", "--endpoint-url", fort.endpoint, "ec2", *args, "--output", "json"],
                              env=env, capture_output=True, text=True, check=check)

    sid = subnet["SubnetId"]
    aws("modify-subnet-attribute", "--subnet-id", sid, "--private-dns-hostname-type-on-launch", "resource-name")
    aws("modify-subnet-attribute", "--subnet-id", sid, "--enable-resource-name-dns-a-record-on-launch")
    [s] = json.loads(aws("describe-subnets", "--subnet-ids", sid).stdout)["Subnets"]
    assert s["PrivateDnsNameOptionsOnLaunch"] == {"HostnameType": "resource-name",
                                                  "EnableResourceNameDnsARecord": True,
                                                  "EnableResourceNameDnsAAAARecord": False}
    [i] = json.loads(aws("run-instances", "--image-id", AMI, "--subnet-id", sid).stdout)["Instances"]
    iid = i["InstanceId"]
    assert i["PrivateDnsName"] == f"{iid}.ec2.internal"
    out = json.loads(aws("modify-private-dns-name-options", "--instance-id", iid,
                         "--no-enable-resource-name-dns-a-record").stdout)
    assert out == {"Return": True}
    bad = aws("modify-private-dns-name-options", "--instance-id", iid, "--private-dns-hostname-type", "ip-name",
              check=False)
    assert bad.returncode != 0 and "Cannot modify hostname-type for running instances" in bad.stderr
    opts = json.loads(aws("describe-instances", "--instance-ids", iid, "--query",
                          "Reservations[0].Instances[0].PrivateDnsNameOptions").stdout)
    assert opts == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": False,
                    "EnableResourceNameDnsAAAARecord": False}
