"""The instance side of Nitro's IPv6 link-local services, as the API shows it:
HttpProtocolIpv6 in RunInstances, ModifyInstanceMetadataOptions and launch templates
(disabled unless asked, as EC2's default), and AAAA resource-name options on a dual-stack
subnet and its instances."""

import pytest

from conftest import error_code

AMI = "ami-0123456789abcdef0"


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    yield s
    ids = [i["InstanceId"]
           for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["Reservations"]
           for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def options(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["MetadataOptions"]


def test_http_protocol_ipv6_is_asked_for_kept_and_modified(ec2, subnet):
    sid = subnet["SubnetId"]
    plain = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid)["Instances"][0]
    assert plain["MetadataOptions"]["HttpProtocolIpv6"] == "disabled"
    six = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                            MetadataOptions={"HttpProtocolIpv6": "enabled"})["Instances"][0]
    iid = six["InstanceId"]
    assert six["MetadataOptions"]["HttpProtocolIpv6"] == "enabled"
    assert options(ec2, iid)["HttpProtocolIpv6"] == "enabled"
    # a change of another option keeps it; its own change takes
    r = ec2.modify_instance_metadata_options(InstanceId=iid, HttpTokens="required")
    assert r["InstanceMetadataOptions"]["HttpProtocolIpv6"] == "enabled"
    r = ec2.modify_instance_metadata_options(InstanceId=iid, HttpProtocolIpv6="disabled")
    assert r["InstanceMetadataOptions"]["HttpProtocolIpv6"] == "disabled"
    assert options(ec2, iid)["HttpProtocolIpv6"] == "disabled"
    assert options(ec2, iid)["HttpTokens"] == "required"
    # EC2's refusals: a value outside enabled/disabled, at launch and later
    assert error_code(ec2.modify_instance_metadata_options, InstanceId=iid,
                      HttpProtocolIpv6="on") == "InvalidParameterValue"
    assert error_code(ec2.run_instances, ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid,
                      MetadataOptions={"HttpProtocolIpv6": "yes"}) == "InvalidParameterValue"
    assert error_code(ec2.modify_instance_metadata_options, InstanceId="i-0123456789abcdef0",
                      HttpProtocolIpv6="enabled") == "InvalidInstanceID.NotFound"
    # DryRun answers as EC2 does, and changes nothing
    assert error_code(ec2.modify_instance_metadata_options, InstanceId=iid, HttpProtocolIpv6="enabled",
                      DryRun=True) == "DryRunOperation"
    assert options(ec2, iid)["HttpProtocolIpv6"] == "disabled"


def test_launch_templates_carry_http_protocol_ipv6(ec2, subnet):
    lt = ec2.create_launch_template(LaunchTemplateName="v6-imds", LaunchTemplateData={
        "ImageId": AMI, "MetadataOptions": {"HttpProtocolIpv6": "enabled"}})["LaunchTemplate"]
    try:
        [v] = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])["LaunchTemplateVersions"]
        assert v["LaunchTemplateData"]["MetadataOptions"]["HttpProtocolIpv6"] == "enabled"
        i = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                              LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]})["Instances"][0]
        assert options(ec2, i["InstanceId"])["HttpProtocolIpv6"] == "enabled"
        # the request's own options win over the template's
        j = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                              LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]},
                              MetadataOptions={"HttpProtocolIpv6": "disabled"})["Instances"][0]
        assert options(ec2, j["InstanceId"])["HttpProtocolIpv6"] == "disabled"
        # a template's data is checked when it launches, as EC2 checks it
        bad = ec2.create_launch_template(LaunchTemplateName="v6-bad", LaunchTemplateData={
            "ImageId": AMI, "MetadataOptions": {"HttpProtocolIpv6": "maybe"}})["LaunchTemplate"]
        try:
            assert error_code(ec2.run_instances, MinCount=1, MaxCount=1, SubnetId=subnet["SubnetId"],
                              LaunchTemplate={"LaunchTemplateId": bad["LaunchTemplateId"]}) == "InvalidParameterValue"
        finally:
            ec2.delete_launch_template(LaunchTemplateId=bad["LaunchTemplateId"])
    finally:
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])


def test_aaaa_resource_names_on_a_dual_stack_subnet(ec2):
    v = ec2.create_vpc(CidrBlock="10.63.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    six = block.replace("/56", "/64")
    s = ec2.create_subnet(VpcId=v["VpcId"], CidrBlock="10.63.1.0/24", Ipv6CidrBlock=six)["Subnet"]
    sid = s["SubnetId"]
    try:
        ec2.modify_subnet_attribute(SubnetId=sid, PrivateDnsHostnameTypeOnLaunch="resource-name")
        ec2.modify_subnet_attribute(SubnetId=sid, EnableResourceNameDnsAAAARecordOnLaunch={"Value": True})
        got = ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["PrivateDnsNameOptionsOnLaunch"]
        assert got == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": False,
                       "EnableResourceNameDnsAAAARecord": True}
        i = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=sid, Ipv6AddressCount=1)["Instances"][0]
        iid = i["InstanceId"]
        assert i["PrivateDnsNameOptions"] == got
        assert i["PrivateDnsName"] == f"{iid}.ec2.internal"
        assert len(i["NetworkInterfaces"][0]["Ipv6Addresses"]) == 1
        ec2.modify_private_dns_name_options(InstanceId=iid, EnableResourceNameDnsARecord=True,
                                            EnableResourceNameDnsAAAARecord=False)
        d = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        assert d["PrivateDnsNameOptions"] == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": True,
                                              "EnableResourceNameDnsAAAARecord": False}
        assert error_code(ec2.modify_private_dns_name_options, InstanceId=iid,
                          PrivateDnsHostnameType="instance-id") == "InvalidParameterValue"
        ec2.terminate_instances(InstanceIds=[iid])
    finally:
        ec2.delete_subnet(SubnetId=sid)
        ec2.delete_vpc(VpcId=v["VpcId"])


def test_instances_in_an_ipv6_only_subnet(ec2):
    """RunInstances into an IPv6-only subnet: a Nitro type, no IPv4 address anywhere, an
    IPv6 address from the subnet, named by its id (AAAA only); EC2's refusals for what
    such a subnet cannot give."""
    import ipaddress
    v = ec2.create_vpc(CidrBlock="10.64.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = ipaddress.ip_network(v["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    net = list(block.subnets(new_prefix=64))[3]
    sid = ec2.create_subnet(VpcId=v["VpcId"], Ipv6Native=True, Ipv6CidrBlock=str(net),
                            AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    try:
        i = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                              SubnetId=sid)["Instances"][0]
        iid = i["InstanceId"]
        d = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        for x in (i, d):
            assert "PrivateIpAddress" not in x and "PublicIpAddress" not in x
            assert x["PrivateDnsName"] == f"{iid}.ec2.internal"
            assert x["PrivateDnsNameOptions"] == {"HostnameType": "resource-name", "EnableResourceNameDnsARecord": False,
                                                  "EnableResourceNameDnsAAAARecord": True}
            [e] = x["NetworkInterfaces"]
            assert "PrivateIpAddress" not in e and "PrivateDnsName" not in e and e["PrivateIpAddresses"] == []
            [six] = e["Ipv6Addresses"]
            assert ipaddress.ip_address(six["Ipv6Address"]) in net
        [eni] = ec2.describe_network_interfaces(NetworkInterfaceIds=[d["NetworkInterfaces"][0]["NetworkInterfaceId"]])[
            "NetworkInterfaces"]
        assert eni["Ipv6Native"] is True and "PrivateIpAddress" not in eni
        # filters find it by what it has, and nothing by what it lacks
        found = ec2.describe_instances(Filters=[{"Name": "private-dns-name", "Values": [f"{iid}.ec2.internal"]}])
        assert [x["InstanceId"] for r in found["Reservations"] for x in r["Instances"]] == [iid]
        # EC2's refusals: a type not built on Nitro, an IPv4 address, a public IPv4 address,
        # an IP name
        assert error_code(ec2.run_instances, ImageId=AMI, InstanceType="t2.micro", MinCount=1, MaxCount=1,
                          SubnetId=sid) == "InvalidParameterCombination"
        assert error_code(ec2.run_instances, ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          SubnetId=sid, PrivateIpAddress="10.64.0.5") == "InvalidParameterCombination"
        assert error_code(ec2.run_instances, ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": sid,
                                              "AssociatePublicIpAddress": True}]) == "InvalidParameterCombination"
        assert error_code(ec2.run_instances, ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                          SubnetId=sid, PrivateDnsNameOptions={"HostnameType": "ip-name"}) == "InvalidParameterValue"
        # an elastic IP has no IPv4 address to map to
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=v["VpcId"])
        alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
        try:
            assert error_code(ec2.associate_address, AllocationId=alloc, InstanceId=iid) == "InvalidParameterValue"
        finally:
            ec2.release_address(AllocationId=alloc)
            ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=v["VpcId"])
            ec2.delete_internet_gateway(InternetGatewayId=igw)
        ec2.terminate_instances(InstanceIds=[iid])
    finally:
        ec2.delete_subnet(SubnetId=sid)
        ec2.delete_vpc(VpcId=v["VpcId"])
