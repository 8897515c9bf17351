"""Systems Manager's public image parameters (`/aws/service/...`), answered from Fort's image
catalog, and `resolve:ssm:` image ids at launch."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64"
UBUNTU = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"


@pytest.fixture(scope="module")
def ssm(fort):
    return fort.client("ssm")


def test_get_parameter_names_the_latest_catalog_image(ssm, ec2):
    p = ssm.get_parameter(Name=AL2023)["Parameter"]
    assert p["Name"] == AL2023
    assert p["Type"] == "String" and p["DataType"] == "text"
    assert p["ARN"] == f"arn:aws:ssm:us-east-1::parameter{AL2023}"
    image = ec2.describe_images(ImageIds=[p["Value"]])["Images"][0]
    assert image["Name"].startswith("al2023-ami-2023") and image["Name"].endswith("-kernel-6.1-x86_64")
    # the newest of its series, as DescribeImages sorts them
    series = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023*-kernel-6.1-x86_64"]}]
    )["Images"]
    newest = max(series, key=lambda i: i["CreationDate"])
    assert p["Value"] == newest["ImageId"]
    assert p["Version"] == len(series)


def test_parameters_differ_by_region(fort, ssm):
    west = fort.client("ssm", region="eu-west-1").get_parameter(Name=AL2023)["Parameter"]
    assert west["Value"] != ssm.get_parameter(Name=AL2023)["Parameter"]["Value"]
    assert west["ARN"].startswith("arn:aws:ssm:eu-west-1::")


def test_unknown_parameter_is_not_found(ssm):
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/my/golden-ami")
    assert e.value.response["Error"]["Code"] == "ParameterNotFound"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/nope")


def test_get_parameters_reports_invalid_names(ssm):
    r = ssm.get_parameters(Names=[AL2023, UBUNTU, "/nope"])
    assert sorted(p["Name"] for p in r["Parameters"]) == sorted([AL2023, UBUNTU])
    assert r["InvalidParameters"] == ["/nope"]


def test_get_parameters_by_path_pages_and_recurses(ssm):
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path="/aws/service/ami-amazon-linux-latest", PaginationConfig={"PageSize": 5}
    )
    names = [p["Name"] for page in pages for p in page["Parameters"]]
    assert AL2023 in names and len(names) == len(set(names)) == 12
    assert ssm.get_parameters_by_path(Path="/aws/service/canonical")["Parameters"] == []
    deep = ssm.get_parameters_by_path(Path="/aws/service/canonical", Recursive=True)["Parameters"]
    assert UBUNTU in [p["Name"] for p in deep]


def test_other_ssm_operations_are_unknown(ssm):
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/mine", Value="x", Type="String")
    assert e.value.response["Error"]["Code"] == "UnknownOperationException"


def test_run_instances_resolves_ssm_image_ids(ssm, ec2):
    ami = ssm.get_parameter(Name=AL2023)["Parameter"]["Value"]
    inst = ec2.run_instances(ImageId=f"resolve:ssm:{AL2023}", MinCount=1, MaxCount=1)["Instances"][0]
    try:
        assert inst["ImageId"] == ami
    finally:
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    assert error_code(
        ec2.run_instances, ImageId="resolve:ssm:/my/golden-ami", MinCount=1, MaxCount=1
    ) == "InvalidParameterValue"


def test_launch_templates_resolve_ssm_image_ids_at_launch(ssm, ec2):
    ami = ssm.get_parameter(Name=UBUNTU)["Parameter"]["Value"]
    lt = ec2.create_launch_template(
        LaunchTemplateName="ssm-image", LaunchTemplateData={"ImageId": f"resolve:ssm:{UBUNTU}"}
    )["LaunchTemplate"]
    try:
        inst = ec2.run_instances(
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"]}, MinCount=1, MaxCount=1
        )["Instances"][0]
        assert inst["ImageId"] == ami
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    finally:
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])
