"""IAM through boto3: roles, inline policies, managed policies and their versions,
attachments and instance profiles, as stored documents (nothing is enforced). IAM is global:
what is made through one region is seen through every other, and survives a restart."""

import json
import re
import uuid

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, Fort, error_code, http_status

ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }],
}
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*",
    }],
}


@pytest.fixture(scope="module")
def iam(fort):
    return fort.client("iam")


@pytest.fixture(scope="module")
def raw(fort):
    """A client that leaves the checking to Fort (botocore checks ranges itself)."""
    return boto3.client(
        "iam", endpoint_url=fort.endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(parameter_validation=False,
                                      retries={"max_attempts": 1}))


def name(prefix="r"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def role(iam):
    n = name()
    iam.create_role(RoleName=n, AssumeRolePolicyDocument=json.dumps(TRUST))
    yield n
    try:
        for p in iam.list_role_policies(RoleName=n)["PolicyNames"]:
            iam.delete_role_policy(RoleName=n, PolicyName=p)
        for a in iam.list_attached_role_policies(RoleName=n)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=n, PolicyArn=a["PolicyArn"])
        iam.delete_role(RoleName=n)
    except ClientError:
        pass


def test_create_get_and_delete_a_role(iam):
    n = name()
    made = iam.create_role(RoleName=n, Path="/service-role/", Description="flow logs",
                           AssumeRolePolicyDocument=json.dumps(TRUST),
                           Tags=[{"Key": "team", "Value": "net"}])["Role"]
    assert re.fullmatch(r"AROA[A-Z0-9]{17}", made["RoleId"])
    assert made["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/service-role/{n}"
    assert made["Path"] == "/service-role/"
    # boto3 decodes the URL-encoded document into a dict
    assert made["AssumeRolePolicyDocument"] == TRUST
    got = iam.get_role(RoleName=n)["Role"]
    assert got["RoleId"] == made["RoleId"]
    assert got["Description"] == "flow logs"
    assert got["MaxSessionDuration"] == 3600
    assert got["Tags"] == [{"Key": "team", "Value": "net"}]
    assert "RoleLastUsed" in got
    assert got["CreateDate"] == made["CreateDate"]
    # names are found whatever their case
    assert iam.get_role(RoleName=n.upper())["Role"]["RoleName"] == n
    iam.delete_role(RoleName=n)
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=n)
    err = e.value.response["Error"]
    assert err["Code"] == "NoSuchEntity"
    assert err["Message"] == f"The role with name {n} cannot be found."
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_role_errors(iam, raw, role):
    trust = json.dumps(TRUST)
    assert error_code(iam.create_role, RoleName=role, AssumeRolePolicyDocument=trust) \
        == "EntityAlreadyExists"
    assert http_status(iam.create_role, RoleName=role.upper(), AssumeRolePolicyDocument=trust) \
        == 409
    assert error_code(iam.create_role, RoleName="bad name", AssumeRolePolicyDocument=trust) \
        == "ValidationError"
    assert error_code(iam.create_role, RoleName=name(), AssumeRolePolicyDocument="{not json") \
        == "MalformedPolicyDocument"
    assert error_code(iam.create_role, RoleName=name(), AssumeRolePolicyDocument=json.dumps(POLICY)) \
        == "MalformedPolicyDocument"
    assert error_code(iam.create_role, RoleName=name(), Path="nope",
                      AssumeRolePolicyDocument=trust) == "ValidationError"
    assert error_code(iam.delete_role, RoleName=name()) == "NoSuchEntity"
    assert error_code(raw.update_role, RoleName=role, MaxSessionDuration=60) == "ValidationError"


def test_update_role_and_its_trust_policy(iam, role):
    iam.update_role(RoleName=role, Description="new", MaxSessionDuration=7200)
    iam.update_role_description(RoleName=role, Description="newer")
    trust = json.loads(json.dumps(TRUST))
    trust["Statement"][0]["Principal"]["Service"] = "ec2.amazonaws.com"
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
    got = iam.get_role(RoleName=role)["Role"]
    assert got["Description"] == "newer"
    assert got["MaxSessionDuration"] == 7200
    assert got["AssumeRolePolicyDocument"] == trust
    assert error_code(iam.update_assume_role_policy, RoleName=role, PolicyDocument="[") \
        == "MalformedPolicyDocument"
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"] == trust


def test_list_roles_pages_and_filters_by_path(iam, raw):
    made = [name("page") for _ in range(5)]
    for n in made:
        iam.create_role(RoleName=n, Path="/paging/", AssumeRolePolicyDocument=json.dumps(TRUST))
    try:
        seen, marker = [], None
        while True:
            kw = {"PathPrefix": "/paging/", "MaxItems": 2}
            if marker:
                kw["Marker"] = marker
            page = iam.list_roles(**kw)
            assert len(page["Roles"]) <= 2
            seen += [r["RoleName"] for r in page["Roles"]]
            if not page["IsTruncated"]:
                break
            marker = page["Marker"]
        assert sorted(seen) == sorted(made)
        everything = [r["RoleName"] for r in iam.get_paginator("list_roles").paginate(
            PaginationConfig={"PageSize": 3}).build_full_result()["Roles"]]
        assert set(made) <= set(everything)
        assert error_code(raw.list_roles, MaxItems=0) == "ValidationError"
    finally:
        for n in made:
            iam.delete_role(RoleName=n)


def test_role_tags(iam, role):
    iam.tag_role(RoleName=role, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_role(RoleName=role, TagKeys=["a"])
    assert iam.list_role_tags(RoleName=role)["Tags"] == [{"Key": "b", "Value": "2"}]
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error_code(iam.tag_role, RoleName=role, Tags=many) == "LimitExceeded"
    assert error_code(iam.list_role_tags, RoleName=name()) == "NoSuchEntity"


def test_inline_role_policies(iam, role):
    iam.put_role_policy(RoleName=role, PolicyName="logs", PolicyDocument=json.dumps(POLICY))
    got = iam.get_role_policy(RoleName=role, PolicyName="logs")
    assert got["RoleName"] == role
    assert got["PolicyDocument"] == POLICY
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["logs"]
    # the role cannot go while it has policies
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=role)
    assert e.value.response["Error"]["Code"] == "DeleteConflict"
    assert e.value.response["Error"]["Message"] == \
        "Cannot delete entity, must delete policies first."
    assert error_code(iam.put_role_policy, RoleName=role, PolicyName="bad",
                      PolicyDocument="nope") == "MalformedPolicyDocument"
    assert error_code(iam.put_role_policy, RoleName=name(), PolicyName="x",
                      PolicyDocument=json.dumps(POLICY)) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.get_role_policy(RoleName=role, PolicyName="other")
    assert e.value.response["Error"]["Message"] == \
        "The role policy with name other cannot be found."
    iam.delete_role_policy(RoleName=role, PolicyName="logs")
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert error_code(iam.delete_role_policy, RoleName=role, PolicyName="logs") == "NoSuchEntity"


def test_managed_policies_versions_and_attachments(iam, role):
    n = name("p")
    pol = iam.create_policy(PolicyName=n, Path="/team/", PolicyDocument=json.dumps(POLICY),
                            Description="d", Tags=[{"Key": "k", "Value": "v"}])["Policy"]
    arn = pol["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/team/{n}"
    assert re.fullmatch(r"ANPA[A-Z0-9]{17}", pol["PolicyId"])
    assert pol["DefaultVersionId"] == "v1" and pol["AttachmentCount"] == 0
    assert error_code(iam.create_policy, PolicyName=n, PolicyDocument=json.dumps(POLICY)) \
        == "EntityAlreadyExists"
    v = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert v["Document"] == POLICY and v["IsDefaultVersion"]

    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    aws = "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM"
    iam.attach_role_policy(RoleName=role, PolicyArn=aws)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert {(a["PolicyName"], a["PolicyArn"]) for a in attached} == {
        (n, arn), ("AmazonEC2RoleforSSM", aws)}
    only_team = iam.list_attached_role_policies(RoleName=role, PathPrefix="/team/")
    assert [a["PolicyArn"] for a in only_team["AttachedPolicies"]] == [arn]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert [r["RoleName"] for r in ents["PolicyRoles"]] == [role]
    assert ents["PolicyUsers"] == [] and ents["PolicyGroups"] == []
    assert error_code(iam.attach_role_policy, RoleName=role,
                      PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/missing") == "NoSuchEntity"
    assert error_code(iam.delete_policy, PolicyArn=arn) == "DeleteConflict"
    assert error_code(iam.delete_role, RoleName=role) == "DeleteConflict"

    # a new default version, then the versions must go before the policy
    doc2 = json.loads(json.dumps(POLICY))
    doc2["Statement"][0]["Action"] = "logs:*"
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc2),
                                   SetAsDefault=True)["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"]
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(x["VersionId"], x["IsDefaultVersion"]) for x in versions] == \
        [("v2", True), ("v1", False)]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert error_code(iam.delete_policy_version, PolicyArn=arn, VersionId="v2") \
        == "DeleteConflict"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(POLICY))
    assert error_code(iam.create_policy_version, PolicyArn=arn,
                      PolicyDocument=json.dumps(POLICY)) == "LimitExceeded"

    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.detach_role_policy(RoleName=role, PolicyArn=aws)
    assert error_code(iam.detach_role_policy, RoleName=role, PolicyArn=arn) == "NoSuchEntity"
    assert error_code(iam.delete_policy, PolicyArn=arn) == "DeleteConflict"  # versions left
    for x in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not x["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=x["VersionId"])
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.get_policy(PolicyArn=arn)
    assert e.value.response["Error"]["Message"] == f"Policy {arn} was not found."


def test_policy_tags_and_listing(iam):
    n = name("p")
    arn = iam.create_policy(PolicyName=n, PolicyDocument=json.dumps(POLICY))["Policy"]["Arn"]
    try:
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "b"}])
        assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "a", "Value": "b"}]
        assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "a", "Value": "b"}]
        iam.untag_policy(PolicyArn=arn, TagKeys=["a"])
        assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == []
        local = [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]]
        assert arn in local
        assert arn not in [p["Arn"] for p in iam.list_policies(OnlyAttached=True)["Policies"]]
        assert error_code(iam.create_policy, PolicyName=name("p"),
                          PolicyDocument=json.dumps(TRUST)) == "MalformedPolicyDocument"
    finally:
        iam.delete_policy(PolicyArn=arn)


def test_instance_profiles(iam, role):
    n = name("ip")
    ip = iam.create_instance_profile(InstanceProfileName=n)["InstanceProfile"]
    assert re.fullmatch(r"AIPA[A-Z0-9]{17}", ip["InstanceProfileId"])
    assert ip["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/{n}"
    assert ip["Roles"] == []
    assert error_code(iam.create_instance_profile, InstanceProfileName=n) == "EntityAlreadyExists"
    iam.add_role_to_instance_profile(InstanceProfileName=n, RoleName=role)
    got = iam.get_instance_profile(InstanceProfileName=n)["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == [role]
    for_role = iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in for_role] == [n]
    assert n in [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    assert error_code(iam.add_role_to_instance_profile, InstanceProfileName=n, RoleName=role) \
        == "EntityAlreadyExists"
    assert error_code(iam.delete_role, RoleName=role) == "DeleteConflict"
    assert error_code(iam.delete_instance_profile, InstanceProfileName=n) == "DeleteConflict"
    iam.remove_role_from_instance_profile(InstanceProfileName=n, RoleName=role)
    assert iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"] == []
    iam.delete_instance_profile(InstanceProfileName=n)
    assert error_code(iam.get_instance_profile, InstanceProfileName=n) == "NoSuchEntity"


def test_iam_is_global_and_per_account(fort, iam, role):
    other_region = fort.client("iam", region="eu-west-1")
    assert other_region.get_role(RoleName=role)["Role"]["RoleName"] == role
    from conftest import OTHER_ACCESS_KEY, OTHER_SECRET_KEY
    other_account = fort.client("iam", access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    assert error_code(other_account.get_role, RoleName=role) == "NoSuchEntity"


def test_unknown_action_and_missing_parameters(iam, raw):
    assert error_code(iam.list_users) == "InvalidAction"
    with pytest.raises(ClientError) as e:
        raw.get_role()
    assert e.value.response["Error"] == {
        "Type": "Sender", "Code": "ValidationError",
        "Message": "1 validation error detected: Value null at 'roleName' failed to satisfy "
                   "constraint: Member must not be null"}


def test_iam_survives_a_restart():
    f = Fort()
    try:
        iam = f.client("iam")
        iam.create_role(RoleName="durable", AssumeRolePolicyDocument=json.dumps(TRUST),
                        Tags=[{"Key": "k", "Value": "v"}])
        iam.put_role_policy(RoleName="durable", PolicyName="inline",
                            PolicyDocument=json.dumps(POLICY))
        arn = iam.create_policy(PolicyName="durable",
                                PolicyDocument=json.dumps(POLICY))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName="durable", PolicyArn=arn)
        iam.create_instance_profile(InstanceProfileName="durable")
        iam.add_role_to_instance_profile(InstanceProfileName="durable", RoleName="durable")
        before = iam.get_role(RoleName="durable")["Role"]
        f.stop()
        f.start()
        iam = f.client("iam")
        after = iam.get_role(RoleName="durable")["Role"]
        assert after == before
        assert iam.get_role_policy(RoleName="durable", PolicyName="inline")["PolicyDocument"] \
            == POLICY
        assert [a["PolicyArn"] for a in
                iam.list_attached_role_policies(RoleName="durable")["AttachedPolicies"]] == [arn]
        assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
        assert iam.get_instance_profile(InstanceProfileName="durable")[
            "InstanceProfile"]["Roles"][0]["RoleName"] == "durable"
    finally:
        f.close()


def test_aws_managed_policies_are_catalogued(iam, role):
    """AWS managed policies by name (Ansible's iam_role resolves names with ListPolicies;
    Terraform's data "aws_iam_policy" with GetPolicy): listed with Scope AWS or All, not
    Local; GetPolicy, GetPolicyVersion and ListPolicyVersions answer them; attached, they
    count their attachments. Unknown ones are NoSuchEntity."""
    aws = iam.list_policies(Scope="AWS")["Policies"]
    by_name = {p["PolicyName"]: p for p in aws}
    for n in ("AWSDenyAll", "AdministratorAccess", "AmazonEC2ContainerServiceRole",
              "AmazonSSMManagedInstanceCore", "AmazonS3ReadOnlyAccess"):
        assert n in by_name, n
    assert all(p["Arn"].startswith("arn:aws:iam::aws:policy/") for p in aws)
    ecs = by_name["AmazonEC2ContainerServiceRole"]
    assert (ecs["Arn"], ecs["Path"]) == (
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceRole", "/service-role/")
    assert re.fullmatch(r"ANPA[A-Z0-9]{17}", ecs["PolicyId"]) and ecs["IsAttachable"]
    assert not any(p["Arn"].startswith("arn:aws:iam::aws:") for p in iam.list_policies(Scope="Local")["Policies"])
    everything = [p["Arn"] for p in iam.get_paginator("list_policies").paginate(Scope="All", PaginationConfig={"PageSize": 5})
                  .build_full_result()["Policies"]]
    assert ecs["Arn"] in everything and len(everything) == len(set(everything))
    service_role = iam.list_policies(Scope="AWS", PathPrefix="/service-role/")["Policies"]
    assert ecs["Arn"] in [p["Arn"] for p in service_role]
    assert "arn:aws:iam::aws:policy/AWSDenyAll" not in [p["Arn"] for p in service_role]

    deny = "arn:aws:iam::aws:policy/AWSDenyAll"
    got = iam.get_policy(PolicyArn=deny)["Policy"]
    assert (got["PolicyName"], got["DefaultVersionId"], got["AttachmentCount"]) == ("AWSDenyAll", "v1", 0)
    doc = iam.get_policy_version(PolicyArn=deny, VersionId="v1")["PolicyVersion"]["Document"]
    assert doc["Statement"][0]["Effect"] == "Deny"
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=deny)["Versions"]] == ["v1"]
    iam.attach_role_policy(RoleName=role, PolicyArn=deny)
    assert iam.get_policy(PolicyArn=deny)["Policy"]["AttachmentCount"] == 1
    assert deny in [p["Arn"] for p in iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]]
    iam.detach_role_policy(RoleName=role, PolicyArn=deny)

    assert error_code(iam.get_policy, PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicyAnywhere") == "NoSuchEntity"
    assert error_code(iam.get_policy_version, PolicyArn=deny, VersionId="v9") == "NoSuchEntity"
