"""Route 53 private hosted zones through boto3 and the AWS CLI: zones in VPCs, record sets
of every common type, all-or-nothing change batches with Route 53's errors, paging in its
order, VPC associations, deletion rules and tags. Route 53 is global: the account is the
scope, whatever the region the request is signed for."""

import json
import os
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, error_code, http_status


@pytest.fixture(scope="module")
def r53(fort):
    return fort.client("route53")


def ref():
    return str(uuid.uuid4())


def private_zone(r53, vpc_id, name=None, region="us-east-1"):
    name = name or f"z{uuid.uuid4().hex[:8]}.internal"
    made = r53.create_hosted_zone(
        Name=name, CallerReference=ref(),
        HostedZoneConfig={"Comment": "test", "PrivateZone": True},
        VPC={"VPCRegion": region, "VPCId": vpc_id})
    return made


def change(r53, zone_id, *changes, comment=None):
    batch = {"Changes": [{"Action": a, "ResourceRecordSet": s} for a, s in changes]}
    if comment:
        batch["Comment"] = comment
    return r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)


def rr(name, type_, *values, ttl=300):
    return {"Name": name, "Type": type_, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}


def records(r53, zone_id):
    out = []
    for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        out.extend(page["ResourceRecordSets"])
    return out


def batch_error(fn, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        fn(*args, **kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_private_zone_in_a_vpc(r53, vpc):
    made = private_zone(r53, vpc["VpcId"], name="Corp.Example.")
    zone = made["HostedZone"]
    assert zone["Id"].startswith("/hostedzone/Z")
    bare = zone["Id"].split("/")[-1]
    assert 14 <= len(bare) <= 22 and bare.isalnum() and bare.isupper()
    assert zone["Name"] == "corp.example."
    assert zone["Config"] == {"Comment": "test", "PrivateZone": True}
    assert zone["ResourceRecordSetCount"] == 2
    assert made["ChangeInfo"]["Status"] == "PENDING"
    assert made["ChangeInfo"]["Id"].startswith("/change/C")
    assert made["VPC"] == {"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]}
    assert "DelegationSet" not in made
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert made["Location"].endswith(f"/2013-04-01/hostedzone/{bare}")

    got = r53.get_hosted_zone(Id=zone["Id"])
    assert got["HostedZone"]["Name"] == "corp.example."
    assert got["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]}]
    assert "DelegationSet" not in got
    # both id forms are accepted
    assert r53.get_hosted_zone(Id=bare)["HostedZone"]["Id"] == zone["Id"]

    # the apex SOA and NS exist from the start
    sets = records(r53, bare)
    assert [(s["Name"], s["Type"]) for s in sets] == [("corp.example.", "NS"), ("corp.example.", "SOA")]
    assert sets[0]["TTL"] == 172800 and len(sets[0]["ResourceRecords"]) == 4
    assert sets[1]["ResourceRecords"][0]["Value"].split()[1] == "awsdns-hostmaster.amazon.com."

    # GetChange answers INSYNC once asked
    assert r53.get_change(Id=made["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    assert error_code(r53.get_change, Id="CNOSUCHCHANGE") == "NoSuchChange"

    r53.delete_hosted_zone(Id=bare)
    assert error_code(r53.get_hosted_zone, Id=bare) == "NoSuchHostedZone"
    assert http_status(r53.get_hosted_zone, Id=bare) == 404


def test_caller_reference_and_vpc_checks(r53, vpc):
    reference = ref()
    r53.create_hosted_zone(Name="once.internal", CallerReference=reference,
                           VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]})
    code, _, status = batch_error(r53.create_hosted_zone, Name="twice.internal", CallerReference=reference,
                                  VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]})
    assert (code, status) == ("HostedZoneAlreadyExists", 409)
    assert error_code(r53.create_hosted_zone, Name="bad.internal", CallerReference=ref(),
                      VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-0000000000000dead"}) == "InvalidVPCId"
    # an id that is no VPC's at all gets a shorter message (AWS, recorded by LocalStack)
    with pytest.raises(ClientError) as e:
        r53.create_hosted_zone(Name="bad.internal", CallerReference=ref(),
                               VPC={"VPCRegion": "us-east-1", "VPCId": "non-existent"})
    assert e.value.response["Error"]["Code"] == "InvalidVPCId"
    assert e.value.response["Error"]["Message"] == "The VPC ID is invalid."
    # the VPC lives in us-east-1, not in us-west-2
    assert error_code(r53.create_hosted_zone, Name="bad.internal", CallerReference=ref(),
                      VPC={"VPCRegion": "us-west-2", "VPCId": vpc["VpcId"]}) == "InvalidVPCId"
    assert error_code(r53.create_hosted_zone, Name="bad.internal", CallerReference=ref(),
                      HostedZoneConfig={"PrivateZone": True}) == "InvalidInput"
    # the same name twice in one VPC
    assert error_code(r53.create_hosted_zone, Name="once.internal.", CallerReference=ref(),
                      VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]}) == "ConflictingDomainExists"
    # another account cannot name this account's VPC
    other = r53_of_other_account(r53)
    assert error_code(other.create_hosted_zone, Name="theirs.internal", CallerReference=ref(),
                      VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]}) == "InvalidVPCId"


def r53_of_other_account(r53):
    import boto3
    import botocore.config
    return boto3.client("route53", endpoint_url=r53.meta.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=OTHER_ACCESS_KEY, aws_secret_access_key=OTHER_SECRET_KEY,
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def test_records_of_every_type(r53, vpc):
    zone = private_zone(r53, vpc["VpcId"], name="types.internal")["HostedZone"]["Id"]
    made = change(
        r53, zone,
        ("CREATE", rr("a.types.internal", "A", "10.0.0.5", "10.0.0.6")),
        ("CREATE", rr("a.types.internal", "AAAA", "2001:db8::5")),
        ("CREATE", rr("www.types.internal", "CNAME", "a.types.internal")),
        ("CREATE", rr("types.internal", "TXT", '"v=spf1 -all"', '"hello" "world"')),
        ("CREATE", rr("types.internal", "MX", "10 mail.types.internal.", "20 mail2.types.internal.")),
        ("CREATE", rr("_ldap._tcp.types.internal", "SRV", "0 5 389 ldap.types.internal.")),
        ("CREATE", rr("5.0.0.10.in-addr.types.internal", "PTR", "a.types.internal.")),
        ("CREATE", rr("sub.types.internal", "NS", "ns1.example.net.")),
        ("CREATE", rr("*.wild.types.internal", "A", "10.0.0.9")),
        comment="first batch",
    )
    info = made["ChangeInfo"]
    assert info["Status"] == "PENDING" and info["Comment"] == "first batch"
    sets = records(r53, zone)
    # by name with labels reversed, then type
    assert [(s["Name"], s["Type"]) for s in sets] == [
        ("types.internal.", "MX"), ("types.internal.", "NS"), ("types.internal.", "SOA"),
        ("types.internal.", "TXT"),
        ("_ldap._tcp.types.internal.", "SRV"),
        ("a.types.internal.", "A"), ("a.types.internal.", "AAAA"),
        ("5.0.0.10.in-addr.types.internal.", "PTR"),
        ("sub.types.internal.", "NS"),
        ("\\052.wild.types.internal.", "A"),
        ("www.types.internal.", "CNAME"),
    ]
    a = next(s for s in sets if s["Type"] == "A" and s["Name"].startswith("a."))
    assert sorted(v["Value"] for v in a["ResourceRecords"]) == ["10.0.0.5", "10.0.0.6"]
    assert a["TTL"] == 300
    assert r53.get_hosted_zone(Id=zone)["HostedZone"]["ResourceRecordSetCount"] == 11

    # UPSERT replaces a set whole, and creates one that is missing
    change(r53, zone, ("UPSERT", rr("a.types.internal", "A", "10.0.0.7", ttl=60)),
           ("UPSERT", rr("new.types.internal", "A", "10.0.0.8")))
    a = [s for s in records(r53, zone) if s["Name"] == "a.types.internal." and s["Type"] == "A"][0]
    assert a["TTL"] == 60 and a["ResourceRecords"] == [{"Value": "10.0.0.7"}]

    # an alias to another record of the zone
    change(r53, zone, ("CREATE", {"Name": "alias.types.internal", "Type": "A", "AliasTarget": {
        "HostedZoneId": zone, "DNSName": "A.types.internal", "EvaluateTargetHealth": False}}))
    alias = [s for s in records(r53, zone) if s["Name"] == "alias.types.internal."][0]
    assert alias["AliasTarget"] == {"HostedZoneId": zone.split("/")[-1], "DNSName": "a.types.internal.",
                                    "EvaluateTargetHealth": False}
    assert "TTL" not in alias
    # AWS's own alias targets (a load balancer's zone) are kept as given
    change(r53, zone, ("CREATE", {"Name": "lb.types.internal", "Type": "A", "AliasTarget": {
        "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "my-lb-1.us-east-1.elb.amazonaws.com",
        "EvaluateTargetHealth": True}}))
    code, msg, _ = batch_error(change, r53, zone, ("CREATE", {"Name": "bad-alias.types.internal", "Type": "A",
                               "AliasTarget": {"HostedZoneId": zone, "DNSName": "nothing.types.internal",
                                               "EvaluateTargetHealth": False}}))
    assert code == "InvalidChangeBatch" and "but that target was not found" in msg


def test_change_batch_errors(r53, vpc):
    zone = private_zone(r53, vpc["VpcId"], name="errors.internal")["HostedZone"]["Id"]
    change(r53, zone, ("CREATE", rr("x.errors.internal", "A", "10.0.0.1")))

    code, msg, status = batch_error(change, r53, zone, ("CREATE", rr("X.errors.internal.", "A", "10.0.0.2")))
    assert (code, status) == ("InvalidChangeBatch", 400)
    assert msg == "[Tried to create resource record set [name='x.errors.internal.', type='A'] but it already exists]"

    # all or nothing: the good change of a failed batch is not applied
    batch_error(change, r53, zone, ("CREATE", rr("y.errors.internal", "A", "10.0.0.3")),
                ("DELETE", rr("gone.errors.internal", "A", "10.0.0.4")))
    assert not [s for s in records(r53, zone) if s["Name"] == "y.errors.internal."]

    code, msg, _ = batch_error(change, r53, zone, ("DELETE", rr("x.errors.internal", "A", "10.0.0.9")))
    assert msg == ("[Tried to delete resource record set [name='x.errors.internal.', type='A'] "
                   "but the values provided do not match the current values]")
    code, msg, _ = batch_error(change, r53, zone, ("DELETE", rr("x.errors.internal", "A", "10.0.0.1", ttl=60)))
    assert "do not match the current values" in msg
    code, msg, _ = batch_error(change, r53, zone, ("DELETE", rr("nope.errors.internal", "A", "10.0.0.1")))
    assert msg == "[Tried to delete resource record set [name='nope.errors.internal.', type='A'] but it was not found]"

    # several reasons at once, in one message
    code, msg, _ = batch_error(change, r53, zone, ("CREATE", rr("x.errors.internal", "A", "10.0.0.1")),
                               ("CREATE", rr("v.errors.internal", "A", "10.0.0.300")))
    assert msg.startswith("[Tried to create") and "ARRDATAIllegalIPv4Address" in msg and msg.count(", ") >= 1

    assert batch_error(change, r53, zone, ("CREATE", rr("x.other.internal", "A", "10.0.0.1")))[1] == \
        "[RRSet with DNS name x.other.internal. is not permitted in zone errors.internal.]"
    code, msg, _ = batch_error(change, r53, zone, ("CREATE", rr("x.errors.internal", "CNAME", "y.errors.internal")))
    assert "conflicts with other records with the same DNS name" in msg
    assert batch_error(change, r53, zone, ("CREATE", rr("t.errors.internal", "TXT", "unquoted")))[1] == \
        "[Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'unquoted'']"
    assert "AAAARRDATAIllegalIPv6Address" in batch_error(change, r53, zone,
                                                          ("CREATE", rr("v6.errors.internal", "AAAA", "10.0.0.1")))[1]
    assert "MX" in batch_error(change, r53, zone, ("CREATE", rr("errors.internal", "MX", "mail.errors.internal")))[1]
    # neither TTL and records nor an alias
    code, msg, _ = batch_error(change, r53, zone, ("CREATE", {"Name": "n.errors.internal", "Type": "A"}))
    assert code == "InvalidInput" and "Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]" in msg

    # the apex SOA and NS stay
    sets = records(r53, zone)
    soa = next(s for s in sets if s["Type"] == "SOA")
    ns = next(s for s in sets if s["Type"] == "NS")
    assert batch_error(change, r53, zone, ("DELETE", soa))[1] == "[A HostedZone must contain exactly one SOA record.]"
    assert batch_error(change, r53, zone, ("DELETE", ns))[1] == \
        "[A HostedZone must contain at least one NS record for the zone itself.]"
    # but may be changed
    ns["TTL"] = 3600
    change(r53, zone, ("UPSERT", ns))

    # a zone with records cannot go
    code, _, status = batch_error(r53.delete_hosted_zone, Id=zone)
    assert (code, status) == ("HostedZoneNotEmpty", 400)
    change(r53, zone, ("DELETE", rr("x.errors.internal", "A", "10.0.0.1")))
    r53.delete_hosted_zone(Id=zone)
    assert error_code(change, r53, zone, ("CREATE", rr("x.errors.internal", "A", "10.0.0.1"))) == "NoSuchHostedZone"


def test_record_paging(r53, vpc):
    zone = private_zone(r53, vpc["VpcId"], name="paging.internal")["HostedZone"]["Id"]
    change(r53, zone, *[("CREATE", rr(f"h{i:02}.paging.internal", "A", f"10.0.1.{i}")) for i in range(12)])
    first = r53.list_resource_record_sets(HostedZoneId=zone, MaxItems="5")
    assert first["IsTruncated"] is True and first["MaxItems"] == "5"
    assert len(first["ResourceRecordSets"]) == 5
    assert (first["NextRecordName"], first["NextRecordType"]) == ("h03.paging.internal.", "A")
    second = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=first["NextRecordName"],
                                           StartRecordType=first["NextRecordType"], MaxItems="5")
    assert second["ResourceRecordSets"][0]["Name"] == "h03.paging.internal."
    everything = records(r53, zone)
    assert len(everything) == 14
    assert [s["Name"] for s in everything[2:]] == [f"h{i:02}.paging.internal." for i in range(12)]
    # a start name alone starts at its first type
    mid = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName="H10.paging.internal")
    assert [s["Name"] for s in mid["ResourceRecordSets"]] == ["h10.paging.internal.", "h11.paging.internal."]
    assert mid["IsTruncated"] is False


def test_zone_listing_and_count(r53, vpc):
    before = r53.get_hosted_zone_count()["HostedZoneCount"]
    names = [f"list{i}.internal" for i in range(3)]
    ids = [private_zone(r53, vpc["VpcId"], name=n)["HostedZone"]["Id"] for n in names]
    assert r53.get_hosted_zone_count()["HostedZoneCount"] == before + 3

    seen = []
    page = r53.list_hosted_zones(MaxItems="2")
    assert page["IsTruncated"] is True and page["MaxItems"] == "2"
    seen += page["HostedZones"]
    while page["IsTruncated"]:
        page = r53.list_hosted_zones(MaxItems="2", Marker=page["NextMarker"])
        seen += page["HostedZones"]
    assert {z["Id"] for z in seen} >= set(ids)
    assert len(seen) == before + 3
    assert len({z["Id"] for z in seen}) == len(seen)

    by_name = r53.list_hosted_zones_by_name(DNSName="list1.internal", MaxItems="1")
    assert by_name["HostedZones"][0]["Name"] == "list1.internal."
    assert by_name["IsTruncated"] is True and by_name["NextDNSName"] == "list2.internal."
    assert by_name["DNSName"] == "list1.internal."

    by_vpc = r53.list_hosted_zones_by_vpc(VPCId=vpc["VpcId"], VPCRegion="us-east-1")
    summaries = {s["Name"]: s for s in by_vpc["HostedZoneSummaries"]}
    assert set(summaries) >= {n + "." for n in names}
    assert summaries["list0.internal."]["Owner"] == {"OwningAccount": "123456789012"}
    first = r53.list_hosted_zones_by_vpc(VPCId=vpc["VpcId"], VPCRegion="us-east-1", MaxItems="1")
    assert len(first["HostedZoneSummaries"]) == 1 and "NextToken" in first
    rest = r53.list_hosted_zones_by_vpc(VPCId=vpc["VpcId"], VPCRegion="us-east-1", NextToken=first["NextToken"])
    assert first["HostedZoneSummaries"][0] not in rest["HostedZoneSummaries"]
    assert error_code(r53.list_hosted_zones_by_vpc, VPCId=vpc["VpcId"], VPCRegion="us-east-1",
                      NextToken="bogus") == "InvalidPaginationToken"
    for z in ids:
        r53.delete_hosted_zone(Id=z)
    # another account sees none of them
    other = r53_of_other_account(r53)
    assert other.get_hosted_zone_count()["HostedZoneCount"] == 0
    assert error_code(other.get_hosted_zone, Id=ids[0]) == "NoSuchHostedZone"


def test_vpc_association(r53, ec2, vpc):
    second = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    zone = private_zone(r53, vpc["VpcId"], name="assoc.internal")["HostedZone"]["Id"]
    code, _, status = batch_error(r53.disassociate_vpc_from_hosted_zone, HostedZoneId=zone,
                                  VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]})
    assert (code, status) == ("LastVPCAssociation", 400)
    info = r53.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC={"VPCRegion": "us-east-1", "VPCId": second},
                                              Comment="second")["ChangeInfo"]
    assert info["Status"] == "PENDING" and info["Comment"] == "second"
    assert len(r53.get_hosted_zone(Id=zone)["VPCs"]) == 2
    assert error_code(r53.associate_vpc_with_hosted_zone, HostedZoneId=zone,
                      VPC={"VPCRegion": "us-east-1", "VPCId": second}) == "ConflictingDomainExists"
    assert error_code(r53.associate_vpc_with_hosted_zone, HostedZoneId=zone,
                      VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-00000000000000bad"}) == "InvalidVPCId"
    names = [s["Name"] for s in r53.list_hosted_zones_by_vpc(VPCId=second, VPCRegion="us-east-1")["HostedZoneSummaries"]]
    assert names == ["assoc.internal."]
    r53.disassociate_vpc_from_hosted_zone(HostedZoneId=zone, VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]})
    assert r53.get_hosted_zone(Id=zone)["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": second}]
    code, _, status = batch_error(r53.disassociate_vpc_from_hosted_zone, HostedZoneId=zone,
                                  VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]})
    assert (code, status) == ("VPCAssociationNotFound", 404)

    # as in AWS, deleting the VPC leaves the association in place
    ec2.delete_vpc(VpcId=second)
    assert r53.get_hosted_zone(Id=zone)["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": second}]
    r53.delete_hosted_zone(Id=zone)

    # a public zone takes no VPC
    public = r53.create_hosted_zone(Name="public.example", CallerReference=ref())
    assert public["HostedZone"]["Config"]["PrivateZone"] is False
    assert len(public["DelegationSet"]["NameServers"]) == 4
    assert "DelegationSet" in r53.get_hosted_zone(Id=public["HostedZone"]["Id"])
    assert error_code(r53.associate_vpc_with_hosted_zone, HostedZoneId=public["HostedZone"]["Id"],
                      VPC={"VPCRegion": "us-east-1", "VPCId": vpc["VpcId"]}) == "PublicZoneVPCAssociation"
    r53.delete_hosted_zone(Id=public["HostedZone"]["Id"])


def test_tags(r53, vpc):
    zone = private_zone(r53, vpc["VpcId"], name="tags.internal")["HostedZone"]["Id"]
    bare = zone.split("/")[-1]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=bare,
                                 AddTags=[{"Key": "team", "Value": "net"}, {"Key": "env", "Value": "dev"}])
    got = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=bare)["ResourceTagSet"]
    assert got["ResourceId"] == bare and got["ResourceType"] == "hostedzone"
    assert sorted((t["Key"], t["Value"]) for t in got["Tags"]) == [("env", "dev"), ("team", "net")]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=bare, RemoveTagKeys=["env"],
                                 AddTags=[{"Key": "team", "Value": "dns"}])
    got = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=bare)["ResourceTagSet"]
    assert got["Tags"] == [{"Key": "team", "Value": "dns"}]
    assert error_code(r53.list_tags_for_resource, ResourceType="hostedzone",
                      ResourceId="ZNOSUCHZONE000") == "NoSuchHostedZone"
    assert error_code(r53.list_tags_for_resource, ResourceType="healthcheck",
                      ResourceId="abc") == "NoSuchHealthCheck"
    r53.delete_hosted_zone(Id=zone)


def test_zones_survive_a_restart(vpc):
    # a server of its own, so the session server is left as it is
    from conftest import Fort
    f = Fort()
    try:
        ec2 = f.client()
        v = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        r53 = f.client("route53", region="eu-west-1")
        zone = private_zone(r53, v, name="durable.internal")["HostedZone"]["Id"]
        change(r53, zone, ("CREATE", rr("db.durable.internal", "A", "10.9.0.10")))
        f.stop()
        f.start()
        r53 = f.client("route53")
        assert [s["Name"] for s in records(r53, zone)][-1] == "db.durable.internal."
        assert r53.get_hosted_zone(Id=zone)["VPCs"] == [{"VPCRegion": "us-east-1", "VPCId": v}]
    finally:
        f.close()


def aws_cli(fort, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run(["aws", "--endpoint-url", fort.endpoint, "--output", "json", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_aws_cli(fort, vpc, tmp_path):
    out = aws_cli(fort, "route53", "create-hosted-zone", "--name", "cli.internal",
                  "--caller-reference", ref(), "--hosted-zone-config", "PrivateZone=true",
                  "--vpc", f"VPCRegion=us-east-1,VPCId={vpc['VpcId']}")
    assert out.returncode == 0, out.stderr
    zone = json.loads(out.stdout)["HostedZone"]["Id"]
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"Comment": "from the CLI", "Changes": [
        {"Action": "CREATE", "ResourceRecordSet": rr("app.cli.internal", "A", "10.0.0.20")},
        {"Action": "CREATE", "ResourceRecordSet": rr("cli.internal", "TXT", '"made by aws"')},
    ]}))
    out = aws_cli(fort, "route53", "change-resource-record-sets", "--hosted-zone-id", zone,
                  "--change-batch", f"file://{batch}")
    assert out.returncode == 0, out.stderr
    change_id = json.loads(out.stdout)["ChangeInfo"]["Id"]
    out = aws_cli(fort, "route53", "wait", "resource-record-sets-changed", "--id", change_id)
    assert out.returncode == 0, out.stderr
    out = aws_cli(fort, "route53", "list-hosted-zones")
    assert out.returncode == 0, out.stderr
    assert zone in [z["Id"] for z in json.loads(out.stdout)["HostedZones"]]
    out = aws_cli(fort, "route53", "list-resource-record-sets", "--hosted-zone-id", zone,
                  "--query", "ResourceRecordSets[].Name")
    assert json.loads(out.stdout) == ["cli.internal.", "cli.internal.", "cli.internal.", "app.cli.internal."]
    # the same batch again: the CLI shows Route 53's error
    out = aws_cli(fort, "route53", "change-resource-record-sets", "--hosted-zone-id", zone,
                  "--change-batch", f"file://{batch}")
    assert out.returncode != 0
    assert "InvalidChangeBatch" in out.stderr and "but it already exists" in out.stderr


def test_names_and_operations_fort_does_not_serve(r53):
    code, msg, status = batch_error(r53.create_hosted_zone, Name="bad..name", CallerReference=ref())
    assert (code, status) == ("InvalidDomainName", 400)
    # health checks are not served: said in Route 53's own error shape
    code, msg, status = batch_error(r53.list_health_checks)
    assert (code, status) == ("InvalidAction", 400) and "does not offer" in msg
    assert error_code(r53.get_hosted_zone, Id="/hostedzone/ZDOESNOTEXIST00") == "NoSuchHostedZone"


def test_a_bad_signature_is_refused_in_route53s_words(fort):
    bad = fort.client("route53", secret_key="not-the-secret-key-000000000000000000000")
    code, _, status = batch_error(bad.list_hosted_zones)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    unknown = fort.client("route53", access_key="AKIANOSUCHKEY0000000")
    assert error_code(unknown.list_hosted_zones) == "InvalidClientTokenId"
