"""DHCP options sets: create, validate, associate, describe, delete."""

from conftest import error_code


def config(d):
    return {c["Key"]: [v["Value"] for v in c["Values"]] for c in d["DhcpConfigurations"]}


def test_region_default_set(ec2):
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    d = ec2.describe_dhcp_options(DhcpOptionsIds=[default_vpc["DhcpOptionsId"]])["DhcpOptions"][0]
    assert config(d) == {"domain-name": ["ec2.internal"], "domain-name-servers": ["AmazonProvidedDNS"]}
    assert d["OwnerId"] == "123456789012"


def test_create_associate_delete(ec2, vpc):
    d = ec2.create_dhcp_options(
        DhcpConfigurations=[
            {"Key": "domain-name-servers", "Values": ["10.2.5.1", "10.2.5.2"]},
            {"Key": "domain-name", "Values": ["example.com"]},
            {"Key": "ntp-servers", "Values": ["169.254.169.123"]},
            {"Key": "netbios-node-type", "Values": ["2"]},
        ],
        TagSpecifications=[{"ResourceType": "dhcp-options", "Tags": [{"Key": "Name", "Value": "corp"}]}],
    )["DhcpOptions"]
    did = d["DhcpOptionsId"]
    assert did.startswith("dopt-")
    assert config(d) == {
        "domain-name-servers": ["10.2.5.1", "10.2.5.2"], "domain-name": ["example.com"],
        "ntp-servers": ["169.254.169.123"], "netbios-node-type": ["2"],
    }
    assert d["Tags"] == [{"Key": "Name", "Value": "corp"}]
    got = ec2.describe_dhcp_options(DhcpOptionsIds=[did])["DhcpOptions"]
    assert got[0]["DhcpOptionsId"] == did and config(got[0]) == config(d)
    for flt in [{"Name": "key", "Values": ["netbios-node-type"]}, {"Name": "value", "Values": ["10.2.5.*"]},
                {"Name": "tag:Name", "Values": ["corp"]}, {"Name": "dhcp-options-id", "Values": [did]}]:
        assert [x["DhcpOptionsId"] for x in ec2.describe_dhcp_options(Filters=[flt])["DhcpOptions"]] == [did], flt

    ec2.associate_dhcp_options(DhcpOptionsId=did, VpcId=vpc["VpcId"])
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["DhcpOptionsId"] == did
    assert error_code(ec2.delete_dhcp_options, DhcpOptionsId=did) == "DependencyViolation"
    ec2.associate_dhcp_options(DhcpOptionsId="default", VpcId=vpc["VpcId"])
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["DhcpOptionsId"] == "default"
    ec2.delete_dhcp_options(DhcpOptionsId=did)
    assert error_code(ec2.describe_dhcp_options, DhcpOptionsIds=[did]) == "InvalidDhcpOptionID.NotFound"
    assert error_code(ec2.delete_dhcp_options, DhcpOptionsId=did) == "InvalidDhcpOptionID.NotFound"
    assert error_code(ec2.associate_dhcp_options, DhcpOptionsId=did, VpcId=vpc["VpcId"]) == "InvalidDhcpOptionID.NotFound"
    assert error_code(ec2.delete_dhcp_options, DhcpOptionsId="dopt_bad") == "InvalidDhcpOptionsId.Malformed"
    assert error_code(ec2.associate_dhcp_options, DhcpOptionsId="default", VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"


def test_validation(ec2):
    bad = [
        [{"Key": "bogus", "Values": ["x"]}],
        [{"Key": "domain-name-servers", "Values": ["not-an-ip"]}],
        [{"Key": "domain-name-servers", "Values": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5"]}],
        [{"Key": "domain-name-servers", "Values": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "AmazonProvidedDNS"]}],
        [{"Key": "domain-name", "Values": ["bad_name!"]}],
        [{"Key": "netbios-node-type", "Values": ["3"]}],
        [{"Key": "ipv6-address-preferred-lease-time", "Values": ["100"]}],
        [{"Key": "ntp-servers", "Values": ["1.1.1.1"]}, {"Key": "ntp-servers", "Values": ["1.1.1.2"]}],
    ]
    for cfg in bad:
        assert error_code(ec2.create_dhcp_options, DhcpConfigurations=cfg) == "InvalidParameterValue", cfg
    assert error_code(ec2.create_dhcp_options, DhcpConfigurations=[]) == "MissingParameter"
    ok = ec2.create_dhcp_options(DhcpConfigurations=[
        {"Key": "domain-name-servers", "Values": ["AmazonProvidedDNS", "10.0.0.2", "fd00::53"]},
        {"Key": "ipv6-address-preferred-lease-time", "Values": ["3600"]},
    ])["DhcpOptions"]
    # EC2 shows an untagged set's empty tag set (Ansible's ec2_vpc_dhcp_option reads it)
    assert ok["Tags"] == []
    assert ec2.describe_dhcp_options(DhcpOptionsIds=[ok["DhcpOptionsId"]])["DhcpOptions"][0]["Tags"] == []
    ec2.delete_dhcp_options(DhcpOptionsId=ok["DhcpOptionsId"])


def test_pagination(ec2):
    ids = [ec2.create_dhcp_options(DhcpConfigurations=[{"Key": "domain-name", "Values": [f"p{i}.example"]}])["DhcpOptions"]["DhcpOptionsId"] for i in range(6)]
    try:
        flt = [{"Name": "dhcp-options-id", "Values": ids}]
        page = ec2.describe_dhcp_options(Filters=flt, MaxResults=5)
        assert len(page["DhcpOptions"]) == 5 and page["NextToken"]
        rest = ec2.describe_dhcp_options(Filters=flt, MaxResults=5, NextToken=page["NextToken"])
        assert len(rest["DhcpOptions"]) == 1 and "NextToken" not in rest
    finally:
        for i in ids:
            ec2.delete_dhcp_options(DhcpOptionsId=i)
