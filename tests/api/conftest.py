"""Shared fixtures: a real `fort server` process driven with boto3, as a user would."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

import shape_check

# every answer of every client made through boto3's default session is read against its
# botocore shape (shape_check.py); a test that met a misfit fails
SHAPE_VIOLATIONS = []
boto3.setup_default_session()
boto3.DEFAULT_SESSION.events.register("after-call", shape_check.hook(SHAPE_VIOLATIONS))

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORT_BIN = os.environ.get("FORT_BIN", os.path.join(ROOT, "target", "debug", "fort"))
ACCESS_KEY = "AKIAFORTTESTKEY00001"
SECRET_KEY = "fort-test-secret-key-0000000000000000000"
OTHER_ACCESS_KEY = "AKIAFORTTESTKEY00002"
OTHER_SECRET_KEY = "fort-test-secret-key-1111111111111111111"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fort:
    """A fort server on a free port with its own data directory."""

    def __init__(self, extra_args=(), data_dir=None, port=None, mapping_listen="127.0.0.1:0"):
        self.mapping_listen = mapping_listen
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="fort-test-")
        self.creds = os.path.join(self.data_dir, "test-credentials")
        with open(self.creds, "w") as f:
            f.write(
                f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
                f"aws_account_id = 123456789012\n\n"
                f"[other]\naws_access_key_id = {OTHER_ACCESS_KEY}\naws_secret_access_key = {OTHER_SECRET_KEY}\n"
                f"aws_account_id = 210987654321\n"
            )
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.log = open(os.path.join(self.data_dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [FORT_BIN, "server", "--listen", f"127.0.0.1:{self.port}",
             *(["--mapping-listen", self.mapping_listen] if self.mapping_listen else []),
             "--data-dir", self.data_dir, "--credentials", self.creds, "--dataplane", "off", *self.extra_args],
            stdout=self.log, stderr=self.log, env=env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fort exited with {self.proc.returncode}; see {self.data_dir}/server.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fort did not start listening")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def client(self, service="ec2", region="us-east-1", access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def close(self):
        self.stop()
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def answers_fit_their_shapes():
    """Fails the test if an EC2 answer it received did not fit its botocore shape."""
    seen = len(SHAPE_VIOLATIONS)
    yield
    new = SHAPE_VIOLATIONS[seen:]
    if new:
        pytest.fail("answers that do not fit their botocore shapes:\n" + "\n".join(sorted(set(new))))


@pytest.fixture(scope="session")
def fort():
    f = Fort()
    yield f
    f.close()


@pytest.fixture(scope="session")
def ec2(fort):
    return fort.client()


@pytest.fixture
def vpc(ec2):
    """A fresh VPC, deleted afterwards when nothing else holds it."""
    v = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    yield v
    try:
        ec2.delete_vpc(VpcId=v["VpcId"])
    except ClientError:
        pass


@pytest.fixture
def subnet(ec2, vpc):
    """A /24 of `vpc` in us-east-1a for instances: theirs are terminated and it is deleted
    afterwards."""
    s = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.7.0/24", AvailabilityZone="us-east-1a")["Subnet"]
    yield s["SubnetId"]
    for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [s["SubnetId"]]}])["Reservations"]:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in r["Instances"]])
    ec2.delete_subnet(SubnetId=s["SubnetId"])


def error_code(fn, *args, **kwargs):
    """Calls fn and returns the EC2 error code it fails with (fails the test if it succeeds)."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    pytest.fail(f"{getattr(fn, '__name__', fn)} succeeded but an error was expected")


def http_status(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]
    pytest.fail("call succeeded but an error was expected")
