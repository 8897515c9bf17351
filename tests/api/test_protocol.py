"""The EC2 Query protocol itself: raw requests signed with botocore's own SigV4 signer,
so every kind of bad input can be sent and the exact answer checked."""

import datetime
import re
import urllib.parse

import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ACCESS_KEY, SECRET_KEY



def send(fort, body=None, query="", method="POST", sign=True, headers=None, secret=SECRET_KEY, region="us-east-1",
         service="ec2", date=None):
    url = fort.endpoint + "/" + (("?" + query) if query else "")
    h = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    h.update(headers or {})
    data = body.encode() if isinstance(body, str) else body
    req = AWSRequest(method=method, url=url, data=data, headers=h)
    if sign:
        signer = SigV4Auth(Credentials(ACCESS_KEY, secret), service, region)
        if date is not None:
            # botocore reads the clock inside add_auth; give it the moment we want.
            import botocore.auth as ba
            real = ba.datetime.datetime

            class Fixed(real):
                @classmethod
                def utcnow(cls):
                    return date

                @classmethod
                def now(cls, tz=None):
                    return date.replace(tzinfo=tz) if tz else date

            ba.datetime.datetime = Fixed
            try:
                signer.add_auth(req)
            finally:
                ba.datetime.datetime = real
        else:
            signer.add_auth(req)
    prepared = req.prepare()
    # A fresh pool each time: the server closes connections it refuses (huge bodies).
    r = urllib3.PoolManager().request(method, prepared.url, body=prepared.body, headers=dict(prepared.headers), retries=False)
    return r.status, r.data.decode("utf-8", "replace")


def code(text):
    m = re.search(r"<Code>([^<]*)</Code>", text)
    return m.group(1) if m else None


def test_success_shape(fort):
    status, text = send(fort, "Action=DescribeVpcs&Version=2016-11-15")
    assert status == 200
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert '<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' in text
    assert re.search(r"<requestId>[0-9a-f-]{36}</requestId>", text)


def test_get_with_query_string(fort):
    status, text = send(fort, method="GET", query="Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=is-default&Filter.1.Value.1=true", body=b"")
    assert status == 200 and "<isDefault>true</isDefault>" in text


def test_error_shape(fort):
    status, text = send(fort, "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/8")
    assert status == 400
    assert re.fullmatch(
        r'<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>InvalidVpc.Range</Code>'
        r"<Message>[^<]+</Message></Error></Errors><RequestID>[0-9a-f-]{36}</RequestID></Response>",
        text,
    )


@pytest.mark.parametrize(
    "body,expected",
    [
        ("Action=FlyToTheMoon&Version=2016-11-15", "InvalidAction"),
        ("Version=2016-11-15", "MissingAction"),
        ("Action=DescribeVpcs&A..B=1", "InvalidParameter"),
        ("Action=DescribeVpcs&VpcId.1=a&VpcId.1=b", "InvalidParameter"),
        ("Action=DescribeVpcs&MaxResults=lots", "InvalidParameterValue"),
        ("Action=DescribeVpcs&MaxResults=4", "InvalidParameterValue"),
        ("Action=DescribeVpcs&DryRun=perhaps", "InvalidParameterValue"),
        ("Action=DescribeVpcs&VpcId.1=subnet-0123456789abcdef0", "InvalidVpcID.Malformed"),
        ("Action=DescribeVpcs&VpcId.x=vpc-0123456789abcdef0", "UnknownParameter"),
        # a filter without a name is one named `null` to EC2
        ("Action=DescribeVpcs&Filter.1.Value.1=x", "InvalidParameterValue"),
        ("Action=DescribeVpcs&NextToken=%%%", "InvalidNextToken"),
        ("Action=CreateVpc", "MissingParameter"),
        ("Action=CreateVpc&CidrBlock=10.0.0.0/16&TagSpecification.1.ResourceType=subnet&TagSpecification.1.Tag.1.Key=a", "InvalidParameter"),
        ("Action=DeleteVpc&VpcId=vpc-0123456789abcdef0", "InvalidVpcID.NotFound"),
        ("Action=DescribeVpcs&DryRun=true", "DryRunOperation"),
    ],
)
def test_bad_requests(fort, body, expected):
    status, text = send(fort, body)
    assert code(text) == expected, text
    assert status == (412 if expected == "DryRunOperation" else 400)


def test_huge_body_is_refused(fort):
    body = "Action=DescribeVpcs&X=" + "a" * (2 << 20)
    status, text = send(fort, body, sign=False)
    assert status == 413 and code(text) == "RequestEntityTooLarge"


def test_binary_body(fort):
    status, text = send(fort, b"Action=DescribeVpcs&X=\xff\xfe")
    assert status == 400 and code(text) == "MalformedQueryString"


def test_wrong_content_type(fort):
    status, text = send(fort, '{"Action":"DescribeVpcs"}', headers={"Content-Type": "application/json"})
    assert status == 400 and code(text) == "InvalidParameterValue"


def test_unsigned_and_badly_signed(fort):
    status, text = send(fort, "Action=DescribeVpcs", sign=False)
    assert (status, code(text)) == (401, "MissingAuthenticationToken")
    status, text = send(fort, "Action=DescribeVpcs", secret="not-the-secret-not-the-secret-not-the-se")
    assert (status, code(text)) == (401, "AuthFailure")
    status, text = send(fort, "Action=DescribeVpcs", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=garbage"}, sign=False)
    assert code(text) == "IncompleteSignature"


def test_stale_signature(fort):
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    status, text = send(fort, "Action=DescribeVpcs", date=old)
    assert code(text) == "RequestExpired", text


def test_tampered_body(fort):
    # Sign one body, send another.
    url = fort.endpoint + "/"
    h = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    req = AWSRequest(method="POST", url=url, data=b"Action=DescribeVpcs", headers=h)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ec2", "us-east-1").add_auth(req)
    p = req.prepare()
    r = urllib3.PoolManager().request("POST", p.url, body=b"Action=DeleteVpc&VpcId=vpc-1", headers=dict(p.headers), retries=False)
    assert r.status == 401 and code(r.data.decode()) == "AuthFailure"


def test_aws_cli_works(fort):
    import json
    import os
    import subprocess
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run(["aws", "--endpoint-url", fort.endpoint, "ec2", "create-vpc", "--cidr-block", "10.77.0.0/16", "--output", "json"],
                         env=env, capture_output=True, text=True, check=True)
    vpc = json.loads(out.stdout)["Vpc"]
    assert vpc["CidrBlock"] == "10.77.0.0/16"
    bad = subprocess.run(["aws", "--endpoint-url", fort.endpoint, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/8"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "InvalidVpc.Range" in bad.stderr
    subprocess.run(["aws", "--endpoint-url", fort.endpoint, "ec2", "delete-vpc", "--vpc-id", vpc["VpcId"]], env=env, check=True,
                   capture_output=True)


def test_metrics_and_change_numbers(fort):
    """Writes carry x-fort-change; /fort/applied answers for it; /metrics counts requests."""
    ec2 = fort.client()
    r = ec2.create_vpc(CidrBlock="10.88.0.0/16")
    change = int(r["ResponseMetadata"]["HTTPHeaders"]["x-fort-change"])
    assert change > 0
    applied = urllib3.PoolManager().request("GET", f"{fort.endpoint}/fort/applied?change={change}&timeout_ms=2000")
    assert applied.status == 200
    text = urllib3.PoolManager().request("GET", f"{fort.endpoint}/metrics").data.decode()
    assert 'fort_api_requests_total{action="CreateVpc",code="ok"}' in text
    assert "fort_mapping_hosts" in text
    ec2.delete_vpc(VpcId=r["Vpc"]["VpcId"])
    reads = ec2.describe_vpcs()
    assert "x-fort-change" not in reads["ResponseMetadata"]["HTTPHeaders"], "reads change nothing"


def test_shape_check_finds_misfits():
    """The check every test's answers pass (shape_check.py) does catch what boto3 drops."""
    import botocore.session
    import shape_check

    model = botocore.session.get_session().get_service_model("ec2").operation_model("DescribeVpcs")
    body = (b'<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>1</requestId>'
            b"<vpcSet><item><vpcId>vpc-1</vpcId><bogus>1</bogus><isDefault>yes</isDefault>"
            b"<state>nope</state></item><thing/></vpcSet></DescribeVpcsResponse>")
    assert shape_check.violations(model, body) == [
        "/vpcSet[0]/bogus: no such member of Vpc",
        "/vpcSet[0]/isDefault: 'yes' is not a boolean",
        "/vpcSet[0]/state: 'nope' is not one of VpcState's values",
        "/vpcSet/thing: a VpcList member must be <item>",
    ]
    ok = (b'<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>1</requestId>'
          b"<vpcSet><item><vpcId>vpc-1</vpcId><isDefault>true</isDefault><state>available</state></item>"
          b"</vpcSet></DescribeVpcsResponse>")
    assert shape_check.violations(model, ok) == []
