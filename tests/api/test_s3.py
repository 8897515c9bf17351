"""Fort's S3 (path-style, on the one endpoint): boto3's s3 client and the AWS CLI's `s3` and
`s3api` commands, unchanged, against buckets kept in the data directory."""

import hashlib
import json
import os
import subprocess
import uuid

import boto3
import botocore.config
import pytest
import urllib3
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, SECRET_KEY, Fort, error_code, http_status


def name(tag="b"):
    return f"fort-{tag}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def s3(fort):
    return fort.client("s3")


@pytest.fixture
def bucket(s3):
    b = name()
    s3.create_bucket(Bucket=b)
    yield b
    try:
        for o in s3.list_objects_v2(Bucket=b).get("Contents", []):
            s3.delete_object(Bucket=b, Key=o["Key"])
        s3.delete_bucket(Bucket=b)
    except ClientError:
        pass


def aws(fort, *args, check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run(["aws", "--endpoint-url", fort.endpoint, *args], env=env, capture_output=True, text=True)
    if check and out.returncode != 0:
        pytest.fail(f"aws {' '.join(args)} failed: {out.stderr}")
    return out


def test_bucket_lifecycle_and_errors(fort, s3):
    b = name()
    s3.create_bucket(Bucket=b)
    assert b in [x["Name"] for x in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=b)
    assert s3.get_bucket_location(Bucket=b)["LocationConstraint"] is None
    # us-east-1: creating your own bucket again answers 200, as S3 does
    s3.create_bucket(Bucket=b)
    other = fort.client("s3", access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
    assert error_code(other.create_bucket, Bucket=b) == "BucketAlreadyExists"
    assert b not in [x["Name"] for x in other.list_buckets()["Buckets"]]
    assert error_code(other.list_objects_v2, Bucket=b) == "AccessDenied"
    assert http_status(other.head_bucket, Bucket=b) == 403
    assert error_code(s3.create_bucket, Bucket="Not_A_Valid_Name") == "InvalidBucketName"
    s3.put_object(Bucket=b, Key="k", Body=b"x")
    assert error_code(s3.delete_bucket, Bucket=b) == "BucketNotEmpty"
    assert error_code(other.delete_bucket, Bucket=b) == "AccessDenied"
    s3.delete_object(Bucket=b, Key="k")
    s3.delete_bucket(Bucket=b)
    assert error_code(s3.delete_bucket, Bucket=b) == "NoSuchBucket"
    assert http_status(s3.head_bucket, Bucket=b) == 404
    assert error_code(s3.list_objects_v2, Bucket=b) == "NoSuchBucket"
    assert error_code(s3.put_object, Bucket=b, Key="k", Body=b"x") == "NoSuchBucket"


def test_regional_buckets(fort):
    eu = fort.client("s3", region="eu-west-1")
    b = name("eu")
    eu.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert eu.get_bucket_location(Bucket=b)["LocationConstraint"] == "eu-west-1"
    assert eu.head_bucket(Bucket=b)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    assert error_code(eu.create_bucket, Bucket=b,
                      CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}) == "BucketAlreadyOwnedByYou"
    assert [x["BucketRegion"] for x in eu.list_buckets()["Buckets"] if x["Name"] == b] == ["eu-west-1"]
    eu.delete_bucket(Bucket=b)


def test_objects_round_trip(s3, bucket):
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="dir/file.bin", Body=body, ContentType="application/x-test",
                        Metadata={"purpose": "test"})
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == etag and got["ContentType"] == "application/x-test"
    assert got["ContentLength"] == len(body) and got["Metadata"] == {"purpose": "test"}
    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ContentLength"] == len(body) and head["ETag"] == etag
    assert head["LastModified"] == got["LastModified"]
    part = s3.get_object(Bucket=bucket, Key="dir/file.bin", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20] and part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert s3.get_object(Bucket=bucket, Key="dir/file.bin", Range="bytes=-5")["Body"].read() == body[-5:]
    assert error_code(s3.get_object, Bucket=bucket, Key="dir/file.bin", Range=f"bytes={len(body)}-") == "InvalidRange"
    assert error_code(s3.get_object, Bucket=bucket, Key="dir/file.bin", IfMatch='"nope"') == "PreconditionFailed"
    assert http_status(s3.get_object, Bucket=bucket, Key="dir/file.bin", IfNoneMatch=etag) == 304
    # overwrite, then delete (twice: deleting a missing key succeeds)
    s3.put_object(Bucket=bucket, Key="dir/file.bin", Body=b"short")
    assert s3.get_object(Bucket=bucket, Key="dir/file.bin")["Body"].read() == b"short"
    s3.delete_object(Bucket=bucket, Key="dir/file.bin")
    s3.delete_object(Bucket=bucket, Key="dir/file.bin")
    assert error_code(s3.get_object, Bucket=bucket, Key="dir/file.bin") == "NoSuchKey"
    assert http_status(s3.head_object, Bucket=bucket, Key="dir/file.bin") == 404
    assert error_code(s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"") == "KeyTooLongError"


def test_odd_keys_stay_keys(s3, bucket):
    keys = ["../../escape", "/leading", "a//b", "sp ace+plus", "ünï/cödé", "q?x=1&y#z", "%41", "a/./b/../c"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys)
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()


def test_listing_prefix_delimiter_pagination(s3, bucket):
    keys = [f"logs/2026/{d:02d}/f{i}" for d in range(1, 4) for i in range(3)] + ["logs/top", "other/x", "z"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["logs/", "other/"]
    assert [o["Key"] for o in r["Contents"]] == ["z"] and r["KeyCount"] == 3
    r = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["logs/2026/"]
    assert [o["Key"] for o in r["Contents"]] == ["logs/top"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="logs/2026/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["logs/2026/01/", "logs/2026/02/", "logs/2026/03/"]
    # pages of 4, by continuation token
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=bucket, MaxKeys=4, **kw)
        seen += [o["Key"] for o in r.get("Contents", [])]
        assert r["KeyCount"] <= 4
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert seen == sorted(keys)
    paginated = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])]
    assert paginated == sorted(keys)
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="logs/top")
    assert [o["Key"] for o in r["Contents"]] == ["other/x", "z"]
    # v1 markers
    r = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert r["IsTruncated"] and [p["Prefix"] for p in r["CommonPrefixes"]] == ["logs/"]
    r = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=r["NextMarker"])
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["other/"] and [o["Key"] for o in r["Contents"]] == ["z"]
    assert error_code(s3.list_objects_v2, Bucket=bucket, ContinuationToken="!!bad!!") == "InvalidArgument"
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=0)["KeyCount"] == 0


def test_delete_objects(s3, bucket):
    for k in ["a", "b", "c"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["a", "b", "never"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in r and "Errors" not in r
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copied", ContentType="text/plain")
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copied").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"copied" and got["ContentType"] == "text/plain"
    assert error_code(s3.copy_object, Bucket=bucket, Key="src",
                      CopySource={"Bucket": bucket, "Key": "src"}) == "InvalidRequest"
    assert error_code(s3.copy_object, Bucket=bucket, Key="x",
                      CopySource={"Bucket": bucket, "Key": "missing"}) == "NoSuchKey"


def test_presigned_get(fort, s3, bucket):
    """SigV4 presigned URLs (botocore presigns S3 with SigV2 unless told s3v4: Fort verifies SigV4 only)."""
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned body")
    v4 = boto3.client("s3", endpoint_url=fort.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY, config=botocore.config.Config(signature_version="s3v4"))
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60)
    r = urllib3.PoolManager().request("GET", url, retries=False)
    assert r.status == 200 and r.data == b"presigned body"
    r = urllib3.PoolManager().request("GET", url.replace("shared.txt", "other.txt"), retries=False)
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.data


def signed_request(fort, method, path, body, headers):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method=method, url=fort.endpoint + path, data=body, headers=headers)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    return urllib3.PoolManager().request(method, p.url, body=body, headers=dict(p.headers), retries=False)


def test_aws_chunked_uploads(fort, s3, bucket):
    """What SDKs send with a trailing checksum or per-chunk signatures: the framing is removed."""
    payload = os.urandom(70_000)
    chunks = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in (payload[:65536], payload[65536:]))
    body = chunks + b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    r = signed_request(fort, "PUT", f"/{bucket}/chunked", body, {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)), "x-amz-trailer": "x-amz-checksum-crc32"})
    assert r.status == 200, r.data
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == payload and "ContentEncoding" not in got
    r = signed_request(fort, "PUT", f"/{bucket}/bad", b"zz\r\nnot chunked", {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked"})
    assert r.status == 400 and b"<Code>InvalidRequest</Code>" in r.data
    r = signed_request(fort, "PUT", f"/{bucket}/short", body, {
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "5"})
    assert r.status == 400 and error_code(s3.head_object, Bucket=bucket, Key="short") == "404"


def test_virtual_hosted_style_on_localhost(fort, s3, bucket):
    s3.put_object(Bucket=bucket, Key="v/h", Body=b"virtual")
    r = signed_request(fort, "GET", "/v/h", b"", {"Host": f"{bucket}.localhost:{fort.port}"})
    assert r.status == 200 and r.data == b"virtual"


def test_oversized_bodies_are_refused_before_reading(fort):
    """Bodies are read before the signature is checked, so their size is bounded first."""
    import socket
    with socket.create_connection(("127.0.0.1", fort.port), timeout=10) as c:
        c.sendall(b"PUT /any-bucket/key HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n"
                  b"Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, "
                  b"SignedHeaders=host, Signature=00\r\n\r\nstart of a huge body")
        reply = c.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400") and b"<Code>EntityTooLarge</Code>" in reply


def test_aws_s3_presign(fort, s3, bucket):
    """`aws s3 presign` signs with S3's legacy query-string scheme (SigV2) by default."""
    s3.put_object(Bucket=bucket, Key="p/q r.txt", Body=b"presigned by the CLI")
    url = aws(fort, "s3", "presign", f"s3://{bucket}/p/q r.txt", "--expires-in", "60").stdout.strip()
    assert "AWSAccessKeyId=" in url
    r = urllib3.PoolManager().request("GET", url, retries=False)
    assert r.status == 200 and r.data == b"presigned by the CLI"
    r = urllib3.PoolManager().request("GET", url.replace("q%20r.txt", "other.txt"), retries=False)
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.data
    v2 = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/q r.txt"}, ExpiresIn=-10)
    r = urllib3.PoolManager().request("GET", v2, retries=False)
    assert r.status == 403 and b"<Code>AccessDenied</Code>" in r.data


def test_bad_signature_is_refused_in_s3_terms(fort):
    bad = fort.client("s3", secret_key="not-the-secret-key-000000000000000000000")
    assert error_code(bad.list_buckets) == "SignatureDoesNotMatch"
    unknown = fort.client("s3", access_key="AKIANOTAKEY000000000", secret_key=SECRET_KEY)
    assert error_code(unknown.list_buckets) == "InvalidAccessKeyId"


def test_unserved_operations_say_so(s3, bucket):
    e = None
    try:
        s3.get_bucket_versioning(Bucket=bucket)
    except ClientError as err:
        e = err
    assert e is not None and e.response["Error"]["Code"] == "NotImplemented"
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_aws_cli_s3_commands(fort, tmp_path):
    b = name("cli")
    aws(fort, "s3", "mb", f"s3://{b}")
    assert b in aws(fort, "s3", "ls").stdout
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 * 1024 * 1024))
    aws(fort, "s3", "cp", str(big), f"s3://{b}/data/big.bin")
    (tmp_path / "small.txt").write_text("hello\n")
    aws(fort, "s3", "cp", str(tmp_path / "small.txt"), f"s3://{b}/data/sub/small.txt")
    aws(fort, "s3", "cp", str(tmp_path / "small.txt"), f"s3://{b}/top.txt")
    down = tmp_path / "down.bin"
    aws(fort, "s3", "cp", f"s3://{b}/data/big.bin", str(down))
    assert down.read_bytes() == big.read_bytes()
    top = aws(fort, "s3", "ls", f"s3://{b}/").stdout
    assert "PRE data/" in top and "top.txt" in top
    sub = aws(fort, "s3", "ls", f"s3://{b}/data/").stdout
    assert "PRE sub/" in sub and "big.bin" in sub and str(5 * 1024 * 1024) in sub
    rec = aws(fort, "s3", "ls", "--recursive", f"s3://{b}").stdout
    assert [line.split()[-1] for line in rec.splitlines()] == ["data/big.bin", "data/sub/small.txt", "top.txt"]
    head = json.loads(aws(fort, "s3api", "head-object", "--bucket", b, "--key", "top.txt").stdout)
    assert head["ContentLength"] == 6
    listed = json.loads(aws(fort, "s3api", "list-objects-v2", "--bucket", b, "--prefix", "data/").stdout)
    assert [o["Key"] for o in listed["Contents"]] == ["data/big.bin", "data/sub/small.txt"]
    failed = aws(fort, "s3", "rb", f"s3://{b}", check=False)
    assert failed.returncode != 0 and "BucketNotEmpty" in failed.stderr
    aws(fort, "s3", "rm", f"s3://{b}/top.txt")
    aws(fort, "s3", "rm", "--recursive", f"s3://{b}/data/")
    assert aws(fort, "s3", "ls", f"s3://{b}/").stdout.strip() == ""
    aws(fort, "s3", "rb", f"s3://{b}")
    missing = aws(fort, "s3", "ls", f"s3://{b}", check=False)
    assert missing.returncode != 0 and "NoSuchBucket" in missing.stderr


def test_multipart_uploads(fort, s3, bucket, tmp_path):
    """What `aws s3 cp` and boto3's transfer manager do above 8 MiB: multipart up, ranged GETs down."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(21 * 1024 * 1024))
    aws(fort, "s3", "cp", str(big), f"s3://{bucket}/mp/big.bin")
    head = s3.head_object(Bucket=bucket, Key="mp/big.bin")
    assert head["ContentLength"] == 21 * 1024 * 1024 and head["ETag"].endswith('-3"')
    down = tmp_path / "down.bin"
    aws(fort, "s3", "cp", f"s3://{bucket}/mp/big.bin", str(down))
    assert down.read_bytes() == big.read_bytes()
    s3.download_file(bucket, "mp/big.bin", str(tmp_path / "boto.bin"))
    assert (tmp_path / "boto.bin").read_bytes() == big.read_bytes()
    # by hand: errors S3 gives
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/manual")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp/manual", UploadId=up, PartNumber=1, Body=b"a" * 10)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp/manual", UploadId=up, PartNumber=2, Body=b"b")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
    assert error_code(s3.complete_multipart_upload, Bucket=bucket, Key="mp/manual", UploadId=up,
                      MultipartUpload=parts) == "EntityTooSmall"
    assert error_code(s3.complete_multipart_upload, Bucket=bucket, Key="mp/manual", UploadId=up,
                      MultipartUpload={"Parts": [{"PartNumber": 3, "ETag": e1}]}) == "InvalidPart"
    s3.complete_multipart_upload(Bucket=bucket, Key="mp/manual", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}]})
    assert s3.get_object(Bucket=bucket, Key="mp/manual")["Body"].read() == b"b"
    assert error_code(s3.abort_multipart_upload, Bucket=bucket, Key="mp/manual", UploadId=up) == "NoSuchUpload"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp/aborted")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp/aborted", UploadId=up)
    assert error_code(s3.upload_part, Bucket=bucket, Key="mp/aborted", UploadId=up, PartNumber=1,
                      Body=b"x") == "NoSuchUpload"


def test_metrics_count_s3_writes(fort, s3, bucket):
    s3.put_object(Bucket=bucket, Key="m", Body=b"12345")
    text = urllib3.PoolManager().request("GET", f"{fort.endpoint}/metrics").data.decode()
    assert "fort_s3_objects_written_total" in text and "fort_s3_bytes_written_total" in text
    assert 'fort_s3_requests_total{operation="PutObject",code="ok"}' in text


def test_s3_survives_a_restart():
    f = Fort()
    try:
        s3 = f.client("s3")
        b = name("keep")
        s3.create_bucket(Bucket=b)
        body = os.urandom(300_000)
        s3.put_object(Bucket=b, Key="kept/obj", Body=body, ContentType="application/gzip")
        s3.put_object(Bucket=b, Key="gone", Body=b"x")
        s3.delete_object(Bucket=b, Key="gone")
        f.stop()
        f.start()
        s3 = f.client("s3")
        assert [x["Name"] for x in s3.list_buckets()["Buckets"]] == [b]
        got = s3.get_object(Bucket=b, Key="kept/obj")
        assert got["Body"].read() == body and got["ContentType"] == "application/gzip"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]] == ["kept/obj"]
        other = f.client("s3", access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY)
        assert error_code(other.create_bucket, Bucket=b) == "BucketAlreadyExists"
    finally:
        f.close()
