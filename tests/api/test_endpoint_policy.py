"""VPC endpoint policies, enforced on requests that came through an endpoint.

A host's forwarder starts each connection it carries from an endpoint to the API with a
PROXY v2 header naming the endpoint (AWS's TLV 0xEA/0x01) and the VPC (Fort's 0xE0).
These tests play the forwarder: signed requests, sent after such a header, are allowed or
denied by the endpoint's current policy, with each service's own error; the same requests
without the header are never checked."""

import html
import http.client
import json
import socket
import struct

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ACCESS_KEY, SECRET_KEY

REGION = "us-east-1"


def proxy_header(vpce, vpc, client=("10.0.1.5", 40000), local=("10.0.1.9", 80), tls=False):
    body = socket.inet_aton(client[0]) + socket.inet_aton(local[0]) + struct.pack(">HH", client[1], local[1])
    if vpce is not None:
        v = b"\x01" + vpce.encode()
        body += b"\xea" + struct.pack(">H", len(v)) + v
    if vpc is not None:
        v = vpc.encode()
        body += b"\xe0" + struct.pack(">H", len(v)) + v
    if tls:
        # PP2_TYPE_SSL: the client spoke TLS to the forwarder
        body += b"\x20" + struct.pack(">H", 5) + b"\x01\x00\x00\x00\x00"
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack(">H", len(body)) + body


def send(fort, service, method="POST", path="/", body=b"", headers=None, header=b""):
    """A request signed for `service`, sent on a connection that starts with `header`:
    (status, parsed body)."""
    host = f"127.0.0.1:{fort.port}"
    headers = dict(headers or {})
    headers["Host"] = host
    req = AWSRequest(method=method, url=f"http://{host}{path}", data=body, headers=headers)
    auth = S3SigV4Auth if service == "s3" else SigV4Auth
    auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(req)
    lines = [f"{method} {path} HTTP/1.1"]
    for k, v in req.headers.items():
        lines.append(f"{k}: {v}")
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", fort.port), timeout=10) as s:
        s.sendall(header + raw)
        resp = http.client.HTTPResponse(s, method=method)
        resp.begin()
        return resp.status, resp.read().decode()


def ec2_call(fort, action, header=b""):
    body = f"Action={action}&Version=2016-11-15".encode()
    return send(fort, "ec2", body=body, header=header,
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def sts_call(fort, header=b""):
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    return send(fort, "sts", body=body, header=header,
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})


def logs_call(fort, operation, payload, header=b""):
    return send(fort, "logs", body=json.dumps(payload).encode(), header=header, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"Logs_20140328.{operation}",
    })


def s3_call(fort, method, path, header=b""):
    return send(fort, "s3", method=method, path=path, header=header)


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def endpoint(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc["VpcId"], ServiceName=f"com.amazonaws.{REGION}.ec2", VpcEndpointType="Interface",
        SubnetIds=[subnet], PrivateDnsEnabled=False,
    )["VpcEndpoint"]
    yield ep["VpcEndpointId"], vpc["VpcId"]
    ec2.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
    for _ in range(50):
        try:
            ec2.delete_subnet(SubnetId=subnet)
            break
        except Exception:
            import time
            time.sleep(0.1)


def test_ec2_and_sts_follow_the_endpoints_policy(fort, ec2, endpoint):
    vpce, vpc = endpoint
    through = proxy_header(vpce, vpc)
    # the default policy allows everything
    status, body = ec2_call(fort, "DescribeVpcs", through)
    assert status == 200 and vpc in body, body
    assert sts_call(fort, through)[0] == 200

    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "ec2:*", "Resource": "*"},
        {"Sid": "NoVpcs", "Effect": "Deny", "Principal": {"AWS": "123456789012"},
         "Action": "ec2:DescribeVpcs", "Resource": "*"},
    ))
    # the next request already follows the new policy
    status, body = ec2_call(fort, "DescribeVpcs", through)
    assert status == 403, body
    assert "<Code>UnauthorizedOperation</Code>" in body, body
    assert ("User: arn:aws:iam::123456789012:root is not authorized to perform: ec2:DescribeVpcs "
            "with an explicit deny in a VPC endpoint policy") in body, body
    assert ec2_call(fort, "DescribeSubnets", through)[0] == 200
    # nothing allows STS: denied by default, in STS's own error
    status, body = sts_call(fort, through)
    assert status == 403 and "<Code>AccessDenied</Code>" in body, body
    assert "because no VPC endpoint policy allows the sts:GetCallerIdentity action" in body, body

    # the same requests without the header did not come through the endpoint
    assert ec2_call(fort, "DescribeVpcs")[0] == 200
    assert sts_call(fort)[0] == 200
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]

    # conditions on the endpoint and the VPC the request came from
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=policy(
        {"Effect": "Allow", "Principal": "*", "Action": ["ec2:Describe*", "sts:*"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceVpce": vpce, "aws:SourceVpc": vpc}}},
    ))
    assert ec2_call(fort, "DescribeVpcs", through)[0] == 200
    assert sts_call(fort, through)[0] == 200
    assert ec2_call(fort, "DescribeVpcs", proxy_header(vpce, "vpc-0other"))[0] == 403
    assert ec2_call(fort, "CreateVpc", through)[0] == 403

    # HTTPS only (aws:SecureTransport: the forwarder says whether it ended TLS)
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ))
    assert ec2_call(fort, "DescribeVpcs", through)[0] == 403
    assert ec2_call(fort, "DescribeVpcs", proxy_header(vpce, vpc, tls=True))[0] == 200

    # reset: everything again
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, ResetPolicy=True)
    assert ec2_call(fort, "DescribeVpcs", through)[0] == 200


def test_unknown_endpoints_and_unreadable_policies_deny(fort, ec2, endpoint):
    vpce, vpc = endpoint
    status, body = ec2_call(fort, "DescribeVpcs", proxy_header("vpce-0123456789abcdef0", vpc))
    assert status == 403 and "UnauthorizedOperation" in body, body
    # a condition operator outside what Fort evaluates: nothing is allowed
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
         "Condition": {"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}}},
    ))
    assert ec2_call(fort, "DescribeVpcs", proxy_header(vpce, vpc))[0] == 403
    # a header the API cannot read closes the connection
    bad = bytearray(proxy_header(vpce, vpc))
    bad[12] = 0x11
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine)):
        ec2_call(fort, "DescribeVpcs", bytes(bad))


def test_logs_and_s3_answer_in_their_own_errors(fort, ec2, endpoint):
    vpce, vpc = endpoint
    through = proxy_header(vpce, vpc)
    s3 = fort.client("s3")
    bucket = "fort-endpoint-policy"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="public/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="secret/b", Body=b"b")
    logs = fort.client("logs")
    logs.create_log_group(logGroupName="/endpoint/allowed")
    logs.create_log_group(logGroupName="/endpoint/other")
    try:
        ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=policy(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/public/*"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
             "Resource": f"arn:aws:s3:::{bucket}", "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
            {"Effect": "Allow", "Principal": "*", "Action": "logs:*",
             "Resource": f"arn:aws:logs:{REGION}:123456789012:log-group:/endpoint/allowed*"},
        ))
        assert s3_call(fort, "GET", f"/{bucket}/public/a", through) == (200, "a")
        status, body = s3_call(fort, "GET", f"/{bucket}/secret/b", through)
        assert status == 403 and "<Code>AccessDenied</Code>" in body, body
        assert f'on resource: "arn:aws:s3:::{bucket}/secret/b"' in html.unescape(body), body
        assert s3_call(fort, "GET", f"/{bucket}?list-type=2&prefix=public%2F", through)[0] == 200
        assert s3_call(fort, "GET", f"/{bucket}?list-type=2&prefix=secret%2F", through)[0] == 403
        assert s3_call(fort, "GET", f"/{bucket}?list-type=2", through)[0] == 403
        assert s3_call(fort, "GET", "/", through)[0] == 403
        assert s3_call(fort, "PUT", f"/{bucket}/public/new", through)[0] == 403
        # not through the endpoint: the bucket's owner reads everything
        assert s3_call(fort, "GET", f"/{bucket}/secret/b") == (200, "b")

        status, body = logs_call(fort, "DescribeLogStreams", {"logGroupName": "/endpoint/allowed"}, through)
        assert status == 200, body
        status, body = logs_call(fort, "DescribeLogStreams", {"logGroupName": "/endpoint/other"}, through)
        assert status == 400 and json.loads(body)["__type"] == "AccessDeniedException", body
        assert logs_call(fort, "DescribeLogStreams", {"logGroupName": "/endpoint/other"})[0] == 200
    finally:
        for k in ("public/a", "secret/b"):
            s3.delete_object(Bucket=bucket, Key=k)
        s3.delete_bucket(Bucket=bucket)
        for g in ("/endpoint/allowed", "/endpoint/other"):
            logs.delete_log_group(logGroupName=g)
