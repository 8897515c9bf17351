"""Account-level instance metadata defaults (GetInstanceMetadataDefaults,
ModifyInstanceMetadataDefaults), and EC2's order of precedence at launch: the launch's own
options, then the account's defaults, then the image's (`ImdsSupport` v2.0), then EC2's.

A server of its own: the defaults are the account's in the region, and would change what
every other test's instances get."""

import pytest

from conftest import Fort, error_code

LINUX = "ami-0123456789abcdef0"  # an unknown id: a generic Linux image, no ImdsSupport


@pytest.fixture
def server():
    f = Fort()
    yield f
    f.close()


def launch(ec2, **kwargs):
    i = ec2.run_instances(ImageId=LINUX, MinCount=1, MaxCount=1, **kwargs)["Instances"][0]
    return i["InstanceId"], i["MetadataOptions"]


def options(ec2, iid):
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["MetadataOptions"]


def test_defaults_apply_to_new_launches_only(server):
    ec2 = server.client()
    # nothing set: no preference anywhere, so nothing but who manages them
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {"ManagedBy": "account"}
    before, o = launch(ec2)
    assert (o["HttpTokens"], o["HttpPutResponseHopLimit"]) == ("optional", 1)

    assert ec2.modify_instance_metadata_defaults(HttpTokens="required", HttpPutResponseHopLimit=2)["Return"]
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {
        "HttpTokens": "required", "HttpPutResponseHopLimit": 2, "ManagedBy": "account"}

    after, o = launch(ec2)
    assert (o["HttpTokens"], o["HttpPutResponseHopLimit"], o["HttpEndpoint"]) == ("required", 2, "enabled")
    assert options(ec2, after)["HttpTokens"] == "required"
    # an instance launched before keeps its options
    assert options(ec2, before)["HttpTokens"] == "optional"

    # the launch's own options come before the account's
    own, o = launch(ec2, MetadataOptions={"HttpTokens": "optional"})
    assert (o["HttpTokens"], o["HttpPutResponseHopLimit"]) == ("optional", 2)

    # so do a launch template's
    lt = ec2.create_launch_template(LaunchTemplateName="imds", LaunchTemplateData={
        "ImageId": LINUX, "MetadataOptions": {"HttpPutResponseHopLimit": 5}})["LaunchTemplate"]["LaunchTemplateId"]
    i = ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"})
    o = i["Instances"][0]["MetadataOptions"]
    assert (o["HttpTokens"], o["HttpPutResponseHopLimit"]) == ("required", 5)

    # a setting not given stays; no-preference (-1 for the hop limit) clears one
    ec2.modify_instance_metadata_defaults(InstanceMetadataTags="enabled")
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {
        "HttpTokens": "required", "HttpPutResponseHopLimit": 2, "InstanceMetadataTags": "enabled",
        "ManagedBy": "account"}
    ec2.modify_instance_metadata_defaults(HttpTokens="no-preference", HttpPutResponseHopLimit=-1)
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {
        "InstanceMetadataTags": "enabled", "ManagedBy": "account"}
    _, o = launch(ec2)
    assert (o["HttpTokens"], o["HttpPutResponseHopLimit"], o["InstanceMetadataTags"]) == ("optional", 1, "enabled")

    # per region: another region's launches take none of this one's
    west = server.client(region="us-west-2")
    assert west.get_instance_metadata_defaults()["AccountLevel"] == {"ManagedBy": "account"}


def test_defaults_come_before_the_image(server):
    """An AL2023 image (ImdsSupport v2.0) gives IMDSv2 required; the account's `optional`
    comes first."""
    ec2 = server.client()
    al2023 = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-2023*-x86_64"]}])["Images"]
    assert al2023, "the catalog has Amazon Linux 2023"
    image = al2023[0]["ImageId"]
    i = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    assert i["MetadataOptions"]["HttpTokens"] == "required"
    ec2.modify_instance_metadata_defaults(HttpTokens="optional")
    i = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    assert i["MetadataOptions"]["HttpTokens"] == "optional"


def test_defaults_are_checked_and_kept(server):
    ec2 = server.client()
    for bad in ({"HttpTokens": "maybe"}, {"HttpEndpoint": "on"}, {"InstanceMetadataTags": "yes"},
                {"HttpPutResponseHopLimit": 0}, {"HttpPutResponseHopLimit": 65}):
        assert error_code(ec2.modify_instance_metadata_defaults, **bad) == "InvalidParameterValue", bad
    # a refused request changes nothing
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {"ManagedBy": "account"}
    assert error_code(ec2.modify_instance_metadata_defaults, HttpTokens="required",
                      DryRun=True) == "DryRunOperation"
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {"ManagedBy": "account"}

    ec2.modify_instance_metadata_defaults(HttpEndpoint="disabled", HttpPutResponseHopLimit=3)
    server.stop()
    server.start()
    ec2 = server.client()
    assert ec2.get_instance_metadata_defaults()["AccountLevel"] == {
        "HttpEndpoint": "disabled", "HttpPutResponseHopLimit": 3, "ManagedBy": "account"}
    _, o = launch(ec2)
    assert (o["HttpEndpoint"], o["HttpPutResponseHopLimit"]) == ("disabled", 3)
