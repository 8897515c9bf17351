"""pytest plugin: run moto's EC2 tests against a real Fort server instead of moto's mock.

`mock_aws` becomes a no-op; every test gets a fresh `fort server` (own data dir), and boto3
is pointed at it through AWS_ENDPOINT_URL (every service, not only EC2); session-scoped
fixtures get a server of their own. Loaded by scripts/moto/run.sh.
"""
import functools
import inspect
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

FORT_BIN = os.environ["FORT_BIN"]


class _NoMock:
    def __init__(self, *a, **k):
        self.target = a[0] if a and callable(a[0]) else None

    def __call__(self, *a, **k):
        if self.target is None and a and callable(a[0]):
            return a[0]
        if self.target is not None:
            return self.target(*a, **k)
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def start(self, *a, **k):
        pass

    def stop(self, *a, **k):
        pass


def noop_mock(func=None, *a, **k):
    if func is not None and (inspect.isclass(func) or callable(func)):
        return func
    return _NoMock()


import moto  # noqa: E402

for name in dir(moto):
    if name.startswith("mock_"):
        setattr(moto, name, noop_mock)


# moto switches accounts with MOTO_ACCOUNT_ID: the fort server has a key pair for each of these
# accounts, and a boto3 client/resource made while MOTO_ACCOUNT_ID is set signs with its keys.
ACCOUNT_KEYS = {
    "123456789012": ("AKIAFORTTESTKEY00001", "fort-test-secret-key-0000000000000000000"),
    "111111111111": ("AKIAFORTTESTKEY11111", "fort-test-secret-key-1111111111111111111"),
    "222222222222": ("AKIAFORTTESTKEY22222", "fort-test-secret-key-2222222222222222222"),
}

import boto3.session  # noqa: E402


def _account_keys(kwargs):
    account = os.environ.get("MOTO_ACCOUNT_ID")
    if account in ACCOUNT_KEYS and not kwargs.get("aws_access_key_id"):
        key, secret = ACCOUNT_KEYS[account]
        kwargs = dict(kwargs, aws_access_key_id=key, aws_secret_access_key=secret)
        kwargs.pop("aws_session_token", None)
    return kwargs


def _with_account(method):
    @functools.wraps(method)
    def wrapped(self, *a, **k):
        return method(self, *a, **_account_keys(k))
    return wrapped


if not getattr(boto3.session.Session, "_fort_accounts", False):
    boto3.session.Session.client = _with_account(boto3.session.Session.client)
    boto3.session.Session.resource = _with_account(boto3.session.Session.resource)
    boto3.session.Session._fort_accounts = True


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """One `fort server` with its own data dir and the test accounts' credentials."""

    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="fort-moto-")
        creds = os.path.join(self.data, "creds")
        with open(creds, "w") as f:
            f.write("[default]\naws_access_key_id = AKIAFORTTESTKEY00001\n"
                    "aws_secret_access_key = fort-test-secret-key-0000000000000000000\n"
                    "aws_account_id = 123456789012\n")
            for account, (key, secret) in ACCOUNT_KEYS.items():
                if account == "123456789012":
                    continue  # the default profile
                f.write(f"\n[account-{account}]\naws_access_key_id = {key}\n"
                        f"aws_secret_access_key = {secret}\naws_account_id = {account}\n")
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.log = open(os.path.join(self.data, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [FORT_BIN, "server", "--listen", f"127.0.0.1:{port}", "--mapping-listen", "127.0.0.1:0",
             "--data-dir", self.data, "--credentials", creds, "--dataplane", "off",
             *os.environ.get("FORT_ARGS", "").split()],
            stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        # every service, not only EC2: tests also call SSM, STS and others through boto3
        self.env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "AKIAFORTTESTKEY00001",
            "AWS_SECRET_ACCESS_KEY": "fort-test-secret-key-0000000000000000000",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def fort_session_server():
    """A server for session-scoped fixtures (moto's `valid_ami` asks SSM for an image id
    before any test's own server starts)."""
    server = _Server()
    saved = {k: os.environ.get(k) for k in [*server.env, "AWS_PROFILE"]}
    os.environ.update(server.env)
    os.environ.pop("AWS_PROFILE", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.close()


@pytest.fixture(autouse=True)
def fort_server(monkeypatch):
    server = _Server()
    for k, v in server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield
    server.close()


# With FORT_SHAPES_REPORT set, every EC2 answer is also read against its botocore shape
# (tests/api/shape_check.py) and what does not fit is appended to that file, a line each:
# moto's tests reach actions and fields Fort's own tests do not.
_REPORT = os.environ.get("FORT_SHAPES_REPORT")
if _REPORT:
    import sys

    import botocore.session

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "api"))
    import shape_check  # noqa: E402

    _found = []
    _create_client = botocore.session.Session.create_client

    @functools.wraps(_create_client)
    def _checked_client(self, *a, **k):
        client = _create_client(self, *a, **k)
        client.meta.events.register("after-call", shape_check.hook(_found))
        return client

    botocore.session.Session.create_client = _checked_client

    @pytest.fixture(autouse=True)
    def fort_shapes(request):
        seen = len(_found)
        yield
        with open(_REPORT, "a") as f:
            f.writelines(f"{request.node.nodeid} {v}\n" for v in _found[seen:])
