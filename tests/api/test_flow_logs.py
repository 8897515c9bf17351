"""VPC flow logs, control plane: CreateFlowLogs with every parameter and EC2's errors,
DescribeFlowLogs (fields, filters, pages), DeleteFlowLogs, tags, idempotency, and the logs'
removal with the VPC, subnet or interface they watch."""

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, SECRET_KEY, error_code

ROLE = "arn:aws:iam::123456789012:role/flow-logs"
DEFAULT_FORMAT = ("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
                  "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}")


def cw(ec2, resource, group, rtype="VPC", traffic="ALL", **kw):
    return ec2.create_flow_logs(ResourceType=rtype, ResourceIds=[resource] if isinstance(resource, str) else resource,
                                TrafficType=traffic, LogGroupName=group, DeliverLogsPermissionArn=ROLE, **kw)


def s3(ec2, resource, dest, rtype="VPC", traffic="ALL", **kw):
    return ec2.create_flow_logs(ResourceType=rtype, ResourceIds=[resource] if isinstance(resource, str) else resource,
                                TrafficType=traffic, LogDestinationType="s3", LogDestination=dest, **kw)


def error(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def describe(ec2, *ids):
    return ec2.describe_flow_logs(FlowLogIds=list(ids))["FlowLogs"]


def of(ec2, resource):
    return ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [resource]}])["FlowLogs"]


@pytest.fixture(autouse=True, scope="module")
def buckets(fort):
    """The buckets S3 flow logs here name: CreateFlowLogs refuses a bucket that is missing."""
    client = fort.client("s3")
    for b in ["fort-flow-logs", "dup-bucket", "filt-bucket", "cli-bucket"]:
        try:
            client.create_bucket(Bucket=b)
        except ClientError as e:
            assert error_code(e) == "BucketAlreadyOwnedByYou"


@pytest.fixture
def subnet(ec2, vpc):
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    yield s
    try:
        ec2.delete_subnet(SubnetId=s)
    except ClientError:
        pass


def test_cloudwatch_flow_log_every_field(ec2, vpc):
    vid = vpc["VpcId"]
    r = cw(ec2, vid, "fort/flow", traffic="ACCEPT", MaxAggregationInterval=60,
           DeliverCrossAccountRole="arn:aws:iam::210987654321:role/cross",
           TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": [{"Key": "Name", "Value": "fl"}]}])
    assert r["Unsuccessful"] == [] and r["ClientToken"]  # EC2 makes one when none is given
    [fl] = r["FlowLogIds"]
    assert fl.startswith("fl-")
    [d] = describe(ec2, fl)
    assert d["FlowLogId"] == fl and d["FlowLogStatus"] == "ACTIVE" and d["DeliverLogsStatus"] == "SUCCESS"
    assert "DeliverLogsErrorMessage" not in d
    assert d["ResourceId"] == vid and d["TrafficType"] == "ACCEPT"
    assert d["LogDestinationType"] == "cloud-watch-logs" and d["LogGroupName"] == "fort/flow"
    assert d["LogDestination"] == "arn:aws:logs:us-east-1:123456789012:log-group:fort/flow"
    assert d["DeliverLogsPermissionArn"] == ROLE
    assert d["DeliverCrossAccountRole"] == "arn:aws:iam::210987654321:role/cross"
    assert d["LogFormat"] == DEFAULT_FORMAT and d["MaxAggregationInterval"] == 60
    assert d["Tags"] == [{"Key": "Name", "Value": "fl"}] and "DestinationOptions" not in d
    assert d["CreationTime"].year >= 2024
    # by the log group's ARN (a trailing `:*`, as Terraform once wrote ARNs, is dropped)
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:other"
    r = ec2.create_flow_logs(ResourceType="VPC", ResourceIds=[vid], TrafficType="REJECT",
                             LogDestination=arn + ":*", DeliverLogsPermissionArn=ROLE)
    [d] = describe(ec2, *r["FlowLogIds"])
    assert d["LogGroupName"] == "other" and d["LogDestination"] == arn and d["MaxAggregationInterval"] == 600


def test_s3_flow_log_with_options_and_format(ec2, vpc, subnet):
    fmt = "${version} ${vpc-id} ${subnet-id} ${interface-id} ${srcaddr} ${dstaddr} ${tcp-flags} ${flow-direction}"
    r = s3(ec2, subnet, "arn:aws:s3:::fort-flow-logs/prefix/", rtype="Subnet", LogFormat=fmt,
           MaxAggregationInterval=10,
           DestinationOptions={"FileFormat": "plain-text", "HiveCompatiblePartitions": True, "PerHourPartition": True})
    [d] = describe(ec2, *r["FlowLogIds"])
    assert d["ResourceId"] == subnet and d["LogDestinationType"] == "s3"
    assert d["LogDestination"] == "arn:aws:s3:::fort-flow-logs/prefix/" and "LogGroupName" not in d
    assert "DeliverLogsPermissionArn" not in d and d["LogFormat"] == fmt
    assert d["MaxAggregationInterval"] == 10  # one of Fort's shorter windows
    assert d["DestinationOptions"] == {"FileFormat": "plain-text", "HiveCompatiblePartitions": True,
                                       "PerHourPartition": True}
    r = s3(ec2, vpc["VpcId"], "arn:aws:s3:::fort-flow-logs")
    [d] = describe(ec2, *r["FlowLogIds"])
    assert d["DestinationOptions"] == {"FileFormat": "plain-text", "HiveCompatiblePartitions": False,
                                       "PerHourPartition": False}
    assert d["TrafficType"] == "ALL" and d["LogFormat"] == DEFAULT_FORMAT
    # a bucket that does not exist fails each resource; Parquet is refused (Fort writes text)
    [u] = s3(ec2, vpc["VpcId"], "arn:aws:s3:::no-such-flow-bucket")["Unsuccessful"]
    assert u["Error"] == {"Code": "400",  # as EC2 writes it
                          "Message": "LogDestination: no-such-flow-bucket does not exist"}  # no full stop
    assert error(ec2.create_flow_logs, ResourceType="VPC", ResourceIds=[vpc["VpcId"]], TrafficType="ALL",
                 LogDestinationType="s3", LogDestination="arn:aws:s3:::fort-flow-logs/pq/",
                 DestinationOptions={"FileFormat": "parquet"})[0] == "UnsupportedOperation"


def test_network_interface_flow_log_and_traffic_type_case(ec2, subnet):
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    r = cw(ec2, eni, "eni-logs", rtype="NetworkInterface", traffic="reject")
    [d] = describe(ec2, *r["FlowLogIds"])
    assert d["ResourceId"] == eni and d["TrafficType"] == "REJECT"
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    assert describe(ec2, *r["FlowLogIds"]) == []


def test_request_errors(ec2, vpc):
    vid = vpc["VpcId"]
    base = dict(ResourceType="VPC", ResourceIds=[vid], TrafficType="ALL")
    f = ec2.create_flow_logs
    assert error(f, **base, LogGroupName="g") == (
        "InvalidParameter", "DeliverLogsPermissionArn can't be empty if LogDestinationType is cloud-watch-logs.")
    assert error(f, **base, DeliverLogsPermissionArn=ROLE) == (
        "InvalidParameter", "LogDestination can't be empty if LogGroupName is not provided.")
    assert error(f, **base, LogDestinationType="s3") == (
        "InvalidParameter", "LogDestination can't be empty if LogGroupName is not provided.")
    assert error(f, **base, LogDestinationType="s3", LogGroupName="g") == (
        "InvalidParameter", "LogDestination type must be cloud-watch-logs if LogGroupName is provided.")
    # both names: refused before the destination type's own checks (AWS, recorded by LocalStack)
    assert error(f, **base, LogDestinationType="s3", LogGroupName="g", LogDestination="arn:aws:s3:::bucket-x") == (
        "InvalidParameter", "Please only provide LogGroupName or only provide LogDestination.")
    assert error(f, **base, LogDestinationType="s3", LogDestination="arn:aws:s3:::bucket-x",
                 DeliverLogsPermissionArn=ROLE) == (
        "InvalidParameter", "DeliverLogsPermissionArn is not applicable for s3 delivery")
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE,
                 LogDestination="arn:aws:logs:us-east-1:123456789012:log-group:g")[0] == "InvalidParameter"
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE, MaxAggregationInterval=300) == (
        "InvalidParameter", "Invalid Flow Log Max Aggregation Interval.")
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE, LogFormat="${srcaddr} ${nope}") == (
        "InvalidParameter", "Unknown fields provided: ${nope}")
    code, msg = error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE, LogFormat="${srcaddr} ")
    assert code == "InvalidParameter" and "has an invalid format" in msg
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE, LogFormat="srcaddr")[0] == "InvalidParameter"
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE,
                 DestinationOptions={"FileFormat": "parquet"})[0] == "InvalidParameter"
    assert error(f, **base, LogDestinationType="s3", LogDestination="arn:aws:s3:::bucket-x",
                 DestinationOptions={"FileFormat": "csv"})[0] == "InvalidParameterValue"
    for bad in ["arn:aws:s3:::bucket-x/AWSLogs/", "arn:aws:s3:::B", "bucket-x", "arn:aws:s3:::bucket-x//a",
                "arn:aws:s3:::bucket-x/a//b"]:
        assert error(f, **base, LogDestinationType="s3", LogDestination=bad)[0] == "InvalidParameter", bad
    for bad in ["arn:aws:logs:eu-west-1:123456789012:log-group:g", "arn:aws:logs:us-east-1:1:log-group:g",
                "arn:aws:logs:us-east-1:123456789012:log-stream:g"]:
        assert error(f, **base, LogDestination=bad, DeliverLogsPermissionArn=ROLE)[0] == "InvalidParameter", bad
    assert error(f, **base, LogGroupName="bad name!", DeliverLogsPermissionArn=ROLE)[0] == "InvalidParameter"
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn="not-a-role")[0] == "InvalidParameter"
    assert error(f, ResourceType="VPC", ResourceIds=[vid], LogGroupName="g", DeliverLogsPermissionArn=ROLE) == (
        "InvalidParameter", "TrafficType can't be empty if ResourceType is VPC.")
    assert error(f, **dict(base, TrafficType="SOME"), LogGroupName="g",
                 DeliverLogsPermissionArn=ROLE)[0] == "InvalidParameterValue"
    assert error(f, **dict(base, ResourceType="Vpc"), LogGroupName="g",
                 DeliverLogsPermissionArn=ROLE)[0] == "InvalidParameterValue"
    for tgw in ["TransitGateway", "TransitGatewayAttachment"]:
        # a transit gateway's log takes no TrafficType
        assert error(f, **dict(base, ResourceType=tgw), LogGroupName="g",
                     DeliverLogsPermissionArn=ROLE)[0] == "InvalidParameter"
    assert error(f, **base, LogDestinationType="kinesis-data-firehose",
                 LogDestination="arn:aws:firehose:us-east-1:123456789012:deliverystream:s")[0] == "UnsupportedOperation"
    assert error(f, **base, LogDestinationType="ftp", LogDestination="x")[0] == "InvalidParameterValue"
    assert error(f, **dict(base, ResourceIds=[vid] * 301), LogGroupName="g",
                 DeliverLogsPermissionArn=ROLE)[0] == "InvalidParameter"
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE,
                 TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])[0] == "InvalidParameterValue"
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE,
                 TagSpecifications=[{"ResourceType": "vpc-flow-log", "Tags": [{"Key": "aws:x", "Value": "b"}]}])[0] == "InvalidParameterValue"
    assert error(f, **base, LogGroupName="g", DeliverLogsPermissionArn=ROLE, DryRun=True)[0] == "DryRunOperation"
    # nothing of the above made a flow log
    assert of(ec2, vid) == []


def test_per_resource_failures_and_duplicates(ec2, vpc):
    vid = vpc["VpcId"]
    r = cw(ec2, [vid, "vpc-0000000000000dead", "subnet-1"], "dup")
    assert len(r["FlowLogIds"]) == 1
    assert r["Unsuccessful"] == [
        {"ResourceId": "vpc-0000000000000dead",
         "Error": {"Code": "InvalidVpcID.NotFound", "Message": "The vpc ID 'vpc-0000000000000dead' does not exist"}},
        {"ResourceId": "subnet-1",
         "Error": {"Code": "InvalidVpcID.Malformed", "Message": 'Invalid id: "subnet-1" (expecting "vpc-...")'}},
    ]
    # the same resource, traffic and destination again: refused in its item, the call succeeds
    again = cw(ec2, vid, "dup")
    assert again["FlowLogIds"] == []
    assert again["Unsuccessful"] == [{"ResourceId": vid, "Error": {
        "Code": "FlowLogAlreadyExists",
        "Message": "Error. There is an existing Flow Log with the same configuration and log destination."}}]
    # another traffic type or destination is another flow log
    assert len(cw(ec2, vid, "dup", traffic="REJECT")["FlowLogIds"]) == 1
    assert len(cw(ec2, vid, "dup2")["FlowLogIds"]) == 1
    assert len(s3(ec2, vid, "arn:aws:s3:::dup-bucket")["FlowLogIds"]) == 1
    assert s3(ec2, vid, "arn:aws:s3:::dup-bucket/")["Unsuccessful"][0]["Error"]["Code"] == "FlowLogAlreadyExists"
    assert len(s3(ec2, vid, "arn:aws:s3:::dup-bucket/p/")["FlowLogIds"]) == 1
    # one request naming a resource twice makes one log
    r = cw(ec2, [vid, vid], "twice")
    assert len(r["FlowLogIds"]) == 1 and r["Unsuccessful"][0]["Error"]["Code"] == "FlowLogAlreadyExists"
    assert len(of(ec2, vid)) == 6


def test_client_token(ec2, vpc):
    vid = vpc["VpcId"]
    kw = dict(ClientToken="fl-token-1", TagSpecifications=[{"ResourceType": "vpc-flow-log",
                                                            "Tags": [{"Key": "k", "Value": "v"}]}])
    first = cw(ec2, [vid, "vpc-0000000000000dead"], "tok", **kw)
    assert first["ClientToken"] == "fl-token-1" and len(first["FlowLogIds"]) == 1
    again = cw(ec2, [vid, "vpc-0000000000000dead"], "tok", **kw)
    assert again["FlowLogIds"] == first["FlowLogIds"] and again["Unsuccessful"] == first["Unsuccessful"]
    assert len(of(ec2, vid)) == 1
    assert error_code(cw, ec2, vid, "other", **kw) == "IdempotentParameterMismatch"
    # once the log is gone, the token starts afresh
    ec2.delete_flow_logs(FlowLogIds=first["FlowLogIds"])
    fresh = cw(ec2, [vid, "vpc-0000000000000dead"], "tok", **kw)
    assert len(fresh["FlowLogIds"]) == 1 and fresh["FlowLogIds"] != first["FlowLogIds"]
    # with none given, EC2 answers one of its own: the same for the same resources, even to
    # another destination (AWS, recorded by LocalStack), another for others
    ec2.delete_flow_logs(FlowLogIds=fresh["FlowLogIds"])
    made = [cw(ec2, vid, f"own-{n}")["ClientToken"] for n in range(2)]
    assert all(len(t) == 44 and t.endswith("=") for t in made) and made[0] == made[1]
    assert cw(ec2, [vid, "vpc-0000000000000dead"], "own-2")["ClientToken"] != made[0]


def test_delete_flow_logs(ec2, vpc):
    vid = vpc["VpcId"]
    ids = cw(ec2, vid, "del")["FlowLogIds"] + cw(ec2, vid, "del", traffic="REJECT")["FlowLogIds"]
    r = ec2.delete_flow_logs(FlowLogIds=[ids[0], "fl-00000000000000000", "nope-1"])
    # the call succeeds; each id it does not hold is in Unsuccessful, in EC2's words
    assert r["Unsuccessful"] == [
        {"ResourceId": "fl-00000000000000000", "Error": {
            "Code": "InvalidFlowLogId.NotFound",
            "Message": "These flow log ids in the input list are not found: [TotalCount: 1] fl-00000000000000000"}},
        {"ResourceId": "nope-1", "Error": {
            "Code": "InvalidFlowLogId.NotFound",
            "Message": "These flow log ids in the input list are not found: [TotalCount: 1] nope-1"}},
    ]
    assert [d["FlowLogId"] for d in of(ec2, vid)] == [ids[1]]
    assert ec2.delete_flow_logs(FlowLogIds=[ids[1]])["Unsuccessful"] == []
    assert of(ec2, vid) == []
    assert error_code(ec2.delete_flow_logs, FlowLogIds=[ids[0]], DryRun=True) == "DryRunOperation"


def test_describe_filters_and_pages(ec2, vpc, subnet):
    vid = vpc["VpcId"]
    a = cw(ec2, vid, "filt-a", TagSpecifications=[{"ResourceType": "vpc-flow-log",
                                                   "Tags": [{"Key": "team", "Value": "red"}]}])["FlowLogIds"][0]
    b = cw(ec2, subnet, "filt-b", rtype="Subnet", traffic="REJECT")["FlowLogIds"][0]
    c = s3(ec2, vid, "arn:aws:s3:::filt-bucket", traffic="ACCEPT")["FlowLogIds"][0]
    mine = {a, b, c}

    def ids(*filters):
        got = ec2.describe_flow_logs(Filters=[{"Name": n, "Values": v} for n, v in filters])["FlowLogs"]
        return {d["FlowLogId"] for d in got} & mine

    assert ids(("resource-id", [vid])) == {a, c}
    assert ids(("resource-id", [vid, subnet])) == mine
    assert ids(("traffic-type", ["REJECT"])) == {b}
    assert ids(("log-destination-type", ["s3"])) == {c}
    assert ids(("log-destination-type", ["cloud-watch-logs"])) == {a, b}
    assert ids(("log-group-name", ["filt-b"])) == {b}
    assert ids(("flow-log-id", [a, c])) == {a, c}
    assert ids(("deliver-log-status", ["SUCCESS"])) == mine
    assert ids(("deliver-log-status", ["FAILED"])) == set()
    assert ids(("tag:team", ["red"])) == {a}
    assert ids(("tag-key", ["team"])) == {a}
    assert ids(("tag-value", ["red"])) == {a}
    assert ids(("resource-id", [vid]), ("traffic-type", ["ALL"])) == {a}
    assert error_code(ec2.describe_flow_logs, Filters=[{"Name": "nope", "Values": ["x"]}]) == "InvalidParameterValue"
    # ids it does not know are answered with nothing; malformed ones are an error
    assert describe(ec2, a, "fl-00000000000000000") == describe(ec2, a)
    assert error_code(ec2.describe_flow_logs, FlowLogIds=["vpc-1"]) == "InvalidFlowLogId.Malformed"
    # pages
    every = [d["FlowLogId"] for d in ec2.describe_flow_logs()["FlowLogs"]]
    assert every == sorted(every)
    got, token = [], None
    while True:
        page = ec2.describe_flow_logs(MaxResults=1, **({"NextToken": token} if token else {}))
        assert len(page["FlowLogs"]) <= 1
        got += [d["FlowLogId"] for d in page["FlowLogs"]]
        token = page.get("NextToken")
        if not token:
            break
    assert got == every
    pages = ec2.get_paginator("describe_flow_logs").paginate(PaginationConfig={"PageSize": 2})
    assert [d["FlowLogId"] for p in pages for d in p["FlowLogs"]] == every
    assert error_code(ec2.describe_flow_logs, MaxResults=0) == "InvalidParameterValue"
    assert error_code(ec2.describe_flow_logs, NextToken="zz") == "InvalidNextToken"


def test_tags_on_flow_logs(ec2, vpc):
    fl = cw(ec2, vpc["VpcId"], "tags")["FlowLogIds"][0]
    # an empty tag set is shown, as EC2 answers (recorded by LocalStack's tests)
    assert describe(ec2, fl)[0]["Tags"] == []
    ec2.create_tags(Resources=[fl], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    assert sorted(t["Key"] for t in describe(ec2, fl)[0]["Tags"]) == ["a", "b"]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [fl]}])["Tags"]
    assert {(t["Key"], t["ResourceType"]) for t in tags} == {("a", "vpc-flow-log"), ("b", "vpc-flow-log")}
    assert {t["ResourceId"] for t in ec2.describe_tags(
        Filters=[{"Name": "resource-type", "Values": ["vpc-flow-log"]}, {"Name": "key", "Values": ["a"]}])["Tags"]} >= {fl}
    ec2.delete_tags(Resources=[fl], Tags=[{"Key": "a"}])
    assert describe(ec2, fl)[0]["Tags"] == [{"Key": "b", "Value": "2"}]
    assert error_code(ec2.create_tags, Resources=["fl-00000000000000000"],
                      Tags=[{"Key": "a", "Value": "1"}]) == "InvalidFlowLogId.NotFound"


def test_flow_logs_go_with_their_resource(ec2):
    vid = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vid, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    on_vpc = cw(ec2, vid, "cascade")["FlowLogIds"][0]
    on_subnet = cw(ec2, sub, "cascade", rtype="Subnet")["FlowLogIds"][0]
    # a flow log does not keep its resource from being deleted; EC2 removes it with it
    ec2.delete_subnet(SubnetId=sub)
    assert describe(ec2, on_subnet) == [] and len(describe(ec2, on_vpc)) == 1
    ec2.delete_vpc(VpcId=vid)
    assert describe(ec2, on_vpc) == []


def test_terminated_instance_takes_its_interface_flow_log(ec2, subnet):
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    i = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.micro")["Instances"][0]
    eni = i["NetworkInterfaces"][0]["NetworkInterfaceId"]
    fl = cw(ec2, eni, "instance-eni", rtype="NetworkInterface")["FlowLogIds"][0]
    ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    assert describe(ec2, fl) == []


def test_aws_cli_flow_logs(fort, ec2, vpc):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    def aws(*args, check=True):
        return subprocess.run(["aws", "--endpoint-url", fort.endpoint, "ec2", *args, "--output", "json"],
                              env=env, capture_output=True, text=True, check=check)

    out = aws("create-flow-logs", "--resource-type", "VPC", "--resource-ids", vpc["VpcId"], "--traffic-type", "ALL",
              "--log-destination-type", "s3", "--log-destination", "arn:aws:s3:::cli-bucket/x/",
              "--log-format", "${srcaddr} ${dstaddr} ${action}", "--max-aggregation-interval", "60",
              "--destination-options", "FileFormat=plain-text,HiveCompatiblePartitions=true,PerHourPartition=false")
    [fl] = json.loads(out.stdout)["FlowLogIds"]
    out = aws("describe-flow-logs", "--filter", f"Name=resource-id,Values={vpc['VpcId']}")
    [d] = json.loads(out.stdout)["FlowLogs"]
    assert d["FlowLogId"] == fl and d["LogFormat"] == "${srcaddr} ${dstaddr} ${action}"
    assert d["DestinationOptions"]["HiveCompatiblePartitions"] is True
    bad = aws("create-flow-logs", "--resource-type", "VPC", "--resource-ids", vpc["VpcId"], "--traffic-type", "ALL",
              "--log-group-name", "g", "--deliver-logs-permission-arn", ROLE, "--max-aggregation-interval", "120",
              check=False)
    assert bad.returncode != 0 and "Invalid Flow Log Max Aggregation Interval" in bad.stderr
    out = aws("delete-flow-logs", "--flow-log-ids", fl)
    assert json.loads(out.stdout)["Unsuccessful"] == []


TGW_FORMAT = ("${version} ${resource-type} ${account-id} ${tgw-id} ${tgw-attachment-id} ${tgw-src-vpc-account-id} "
              "${tgw-dst-vpc-account-id} ${tgw-src-vpc-id} ${tgw-dst-vpc-id} ${tgw-src-subnet-id} ${tgw-dst-subnet-id} "
              "${tgw-src-eni} ${tgw-dst-eni} ${tgw-src-az-id} ${tgw-dst-az-id} ${tgw-pair-attachment-id} ${srcaddr} "
              "${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${log-status} ${type} "
              "${packets-lost-no-route} ${packets-lost-blackhole} ${packets-lost-mtu-exceeded} "
              "${packets-lost-ttl-expired} ${tcp-flags} ${region} ${flow-direction} ${pkt-src-aws-service} "
              "${pkt-dst-aws-service}")


def test_transit_gateway_flow_logs(ec2, vpc, subnet):
    """Transit gateway and attachment flow logs (aws_flow_log's transit_gateway_id and
    transit_gateway_attachment_id): no TrafficType, MaxAggregationInterval 60 only (and by
    default), every transit gateway field in the default format, the VPC-only fields refused."""
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    att = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=vpc["VpcId"],
                                                    SubnetIds=[subnet])["TransitGatewayVpcAttachment"]
    aid = att["TransitGatewayAttachmentId"]
    f = ec2.create_flow_logs
    base = dict(LogGroupName="tgw-logs", DeliverLogsPermissionArn=ROLE)
    made = f(ResourceType="TransitGateway", ResourceIds=[tgw], **base)
    assert made["Unsuccessful"] == [] and len(made["FlowLogIds"]) == 1
    log = describe(ec2, made["FlowLogIds"][0])[0]
    assert log["ResourceId"] == tgw and "TrafficType" not in log
    assert log["MaxAggregationInterval"] == 60
    assert log["LogFormat"] == TGW_FORMAT
    assert ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [tgw]},
                                           {"Name": "traffic-type", "Values": ["ALL"]}])["FlowLogs"] == []

    made = f(ResourceType="TransitGatewayAttachment", ResourceIds=[aid], MaxAggregationInterval=60,
             LogFormat="${version} ${tgw-attachment-id} ${packets-lost-no-route} ${srcaddr}", **base)
    log = describe(ec2, made["FlowLogIds"][0])[0]
    assert log["ResourceId"] == aid
    assert log["LogFormat"] == "${version} ${tgw-attachment-id} ${packets-lost-no-route} ${srcaddr}"

    # EC2's refusals, and nothing made by them
    assert error(f, ResourceType="TransitGateway", ResourceIds=[tgw], TrafficType="ALL", **base)[0] == "InvalidParameter"
    assert error(f, ResourceType="TransitGateway", ResourceIds=[tgw], MaxAggregationInterval=600, **base)[0] == "InvalidParameter"
    assert error(f, ResourceType="TransitGateway", ResourceIds=[tgw], LogFormat="${version} ${interface-id}",
                 **base)[0] == "InvalidParameter"
    assert error(f, ResourceType="VPC", ResourceIds=[vpc["VpcId"]], TrafficType="ALL", LogFormat="${version} ${tgw-id}",
                 **base)[0] == "InvalidParameter"
    assert error(f, ResourceType="TransitGateway", ResourceIds=[tgw] * 26, **base)[0] == "InvalidParameter"
    missing = f(ResourceType="TransitGateway", ResourceIds=["tgw-0123456789abcdef0"], **base)
    assert missing["FlowLogIds"] == []
    assert missing["Unsuccessful"][0]["Error"]["Code"] == "InvalidTransitGatewayID.NotFound"
    assert len(of(ec2, tgw)) == 1 and len(of(ec2, aid)) == 1

    ec2.delete_flow_logs(FlowLogIds=[x["FlowLogId"] for x in of(ec2, tgw) + of(ec2, aid)])
    ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=aid)
    ec2.delete_transit_gateway(TransitGatewayId=tgw)
