"""Three `fort server`s on a three-member etcd cluster: one leads, the others send it their
writes; writes through any server, reads through any server see them, the leader killed
with SIGKILL loses no acknowledged write, and a cluster without its quorum refuses writes
at once (503) while reads are still answered.

Needs etcd (`/usr/bin/etcd`, Debian's etcd-server, or `$FORT_ETCD`); skipped without it.
Every process is killed at the end, also on failure; every wait is bounded.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Fort, free_port

ETCD = os.environ.get("FORT_ETCD", "/usr/bin/etcd")

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD), reason=f"no etcd at {ETCD}")


class EtcdCluster:
    """Three etcd members on free loopback ports, each with its own data directory."""

    def __init__(self, n=3):
        self.dir = tempfile.mkdtemp(prefix="fort-etcd-")
        self.names = [f"m{i}" for i in range(n)]
        self.client = [free_port() for _ in self.names]
        self.peer = [free_port() for _ in self.names]
        self.procs = [None] * n
        self.logs = [None] * n
        for i in range(n):
            self.start(i)
        self.wait_ready()

    def start(self, i):
        name = self.names[i]
        cluster = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer))
        self.logs[i] = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.procs[i] = subprocess.Popen(
            [ETCD, "--name", name, "--data-dir", os.path.join(self.dir, name),
             "--listen-client-urls", f"http://127.0.0.1:{self.client[i]}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.client[i]}",
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
             "--initial-cluster", cluster, "--initial-cluster-state", "new",
             "--heartbeat-interval", "100", "--election-timeout", "1000",
             "--logger", "zap", "--log-outputs", "stderr"],
            stdout=self.logs[i], stderr=self.logs[i],
        )

    def wait_ready(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            ok = 0
            for port in self.client:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        ok += json.loads(r.read()).get("health") == "true"
                except OSError:
                    pass
            if ok == len(self.client):
                return
            time.sleep(0.2)
        raise RuntimeError(f"etcd cluster not healthy; logs in {self.dir}")

    def url(self):
        return "etcd://" + ",".join(f"127.0.0.1:{p}" for p in self.client)

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)

    def close(self):
        for i in range(len(self.procs)):
            self.kill(i)
            if self.logs[i]:
                self.logs[i].close()
        shutil.rmtree(self.dir, ignore_errors=True)


def state(server):
    with urllib.request.urlopen(server.endpoint + "/fort/cluster", timeout=2) as r:
        return json.loads(r.read())


def wait_for_leader(servers, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for s in servers:
            try:
                if state(s)["leading"]:
                    return s
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError("no server leads")


@pytest.fixture
def cluster():
    etcd = EtcdCluster()
    servers = []
    try:
        for _ in range(3):
            servers.append(Fort(extra_args=["--store", etcd.url(), "--public-pool", "198.18.0.0/15"]))
        wait_for_leader(servers)
        yield etcd, servers
    finally:
        for s in servers:
            s.stop(signal.SIGKILL)
            shutil.rmtree(s.data_dir, ignore_errors=True)
        etcd.close()


def followers(servers):
    return [s for s in servers if not state(s)["leading"]]


def test_one_leader_and_writes_through_any_server_are_read_everywhere(cluster):
    _, servers = cluster
    states = [state(s) for s in servers]
    assert sum(st["leading"] for st in states) == 1
    leader_id = next(st["id"] for st in states if st["leading"])
    assert all(st["leader"] == leader_id for st in states)
    clients = [s.client() for s in servers]
    for i in range(9):
        writer, reader = clients[i % 3], clients[(i + 1) % 3]
        vpc = writer.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"]
        # read-your-writes through another server, at once
        got = reader.describe_vpcs(VpcIds=[vpc])["Vpcs"]
        assert got[0]["CidrBlock"] == f"10.{i}.0.0/16"
        writer.create_tags(Resources=[vpc], Tags=[{"Key": "n", "Value": str(i)}])
        tags = clients[(i + 2) % 3].describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc]}])["Tags"]
        assert [t["Value"] for t in tags] == [str(i)]
        writer.delete_vpc(VpcId=vpc)
        assert reader.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []
    # errors a follower finds are EC2's own, as the leader would answer
    follower = followers(servers)[0].client()
    with pytest.raises(ClientError) as e:
        follower.delete_vpc(VpcId="vpc-0123456789abcdef0")
    assert e.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"
    # a region first used through a follower gets its defaults (a write, on the leader)
    west = followers(servers)[0].client(region="eu-west-1")
    assert len(west.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]) == 1


def test_client_token_is_idempotent_across_servers(cluster):
    _, servers = cluster
    a, b = servers[0].client(), servers[1].client()
    token = "token-across-servers"
    first = a.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken=token)
    second = b.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, ClientToken=token)
    assert first["Instances"][0]["InstanceId"] == second["Instances"][0]["InstanceId"]
    third = servers[2].client().describe_instances(
        Filters=[{"Name": "client-token", "Values": [token]}])["Reservations"]
    assert [i["InstanceId"] for r in third for i in r["Instances"]] == [first["Instances"][0]["InstanceId"]]


def allocator(client, acked, errors, stop):
    """Allocates elastic IPs until told to stop; records each acknowledged one."""
    while not stop.is_set():
        try:
            a = client.allocate_address(Domain="vpc")
            acked.append((a["AllocationId"], a["PublicIp"]))
        except ClientError as e:
            errors.append(e.response["Error"]["Code"])
            time.sleep(0.05)
        except Exception as e:  # the killed server's connection
            errors.append(type(e).__name__)
            time.sleep(0.05)


def test_leader_killed_loses_no_acknowledged_write(cluster):
    _, servers = cluster
    leader = wait_for_leader(servers)
    survivors = [s for s in servers if s is not leader]
    # six clients, two on each server, the leader's too
    clients = [s.client() for s in servers for _ in range(2)]
    acked = [[] for _ in clients]
    errors = [[] for _ in clients]
    stop = threading.Event()
    threads = [threading.Thread(target=allocator, args=(c, a, e, stop))
               for c, a, e in zip(clients, acked, errors)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        before = sum(len(a) for a in acked)
        assert before > 5, f"no progress before the kill: {errors}"
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(timeout=10)
        killed = time.time()
        # the API answers writes again on every survivor within 5 s
        answered = {}
        probes = [s.client() for s in survivors]
        while len(answered) < len(survivors) and time.time() - killed < 15:
            for s, c in zip(survivors, probes):
                if s in answered:
                    continue
                try:
                    c.allocate_address(Domain="vpc")
                    answered[s] = time.time() - killed
                except ClientError as e:
                    assert e.response["Error"]["Code"] in ("ServiceUnavailable", "Unavailable"), e
                    time.sleep(0.1)
        print(f"writes answered again after {sorted(answered.values())} s")
        assert len(answered) == len(survivors), "the survivors never answered writes again"
        assert max(answered.values()) < 5, f"failover took {answered}"
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    new_leader = wait_for_leader(survivors)
    assert new_leader is not leader
    writes = [w for a in acked for w in a]
    for s in survivors:
        held = {a["AllocationId"]: a["PublicIp"] for a in s.client().describe_addresses()["Addresses"]}
        for alloc, ip in writes:
            assert held.get(alloc) == ip, f"acknowledged {alloc} ({ip}) lost on {s.endpoint}"
        # no address handed out twice
        assert len(set(held.values())) == len(held), "an elastic IP was handed out twice"
    # every refusal during the failover was a 503-class error or the dead server's socket
    for e in (x for es in errors for x in es):
        assert e in ("ServiceUnavailable", "Unavailable", "EndpointConnectionError",
                     "ConnectionClosedError", "ReadTimeoutError"), e


def test_without_quorum_writes_fail_fast_and_reads_are_served(cluster):
    etcd, servers = cluster
    clients = [s.client() for s in servers]
    vpc = clients[0].create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    # one member down: nothing visible
    etcd.kill(2)
    vpc2 = clients[1].create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    for c in clients:
        assert len(c.describe_vpcs(VpcIds=[vpc, vpc2])["Vpcs"]) == 2
    # two down: no quorum
    etcd.kill(1)
    for c in clients:
        started = time.time()
        with pytest.raises(ClientError) as e:
            c.create_vpc(CidrBlock="10.7.0.0/16")
        took = time.time() - started
        assert e.value.response["Error"]["Code"] in ("ServiceUnavailable", "Unavailable")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert took < 8, f"a write without quorum took {took:.1f} s to fail"
        print(f"write without quorum refused after {took:.2f} s")
    for c in clients:
        started = time.time()
        got = c.describe_vpcs(VpcIds=[vpc, vpc2])["Vpcs"]
        assert len(got) == 2
        print(f"read without quorum answered after {time.time() - started:.2f} s")
        assert time.time() - started < 8


# CloudWatch Logs and S3 keep their data in etcd too (an operation log every server applies
# to its own copy): every server answers with the same data, and none is lost with a server.

def read_stream(logs, group, stream):
    """Every event of a stream, from the head, following the forward tokens."""
    out, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, **kw)
        if not page["events"]:
            return out
        out += [(e["timestamp"], e["message"]) for e in page["events"]]
        token = page["nextForwardToken"]


def test_a_log_stream_written_through_one_server_is_read_through_the_others(cluster):
    _, servers = cluster
    logs = [s.client("logs") for s in servers]
    logs[0].create_log_group(logGroupName="/fort/cluster")
    logs[1].create_log_stream(logGroupName="/fort/cluster", logStreamName="app")
    t0 = int(time.time() * 1000) - 60_000
    sent = []
    for b in range(6):
        batch = [{"timestamp": t0 + b * 100 + i, "message": f"batch {b} event {i} " + "x" * 200}
                 for i in range(100)]
        logs[b % 3].put_log_events(logGroupName="/fort/cluster", logStreamName="app", logEvents=batch)
        sent += [(e["timestamp"], e["message"]) for e in batch]
        # read-your-writes through another server, at once
        assert read_stream(logs[(b + 1) % 3], "/fort/cluster", "app") == sent
    for client in logs:
        assert read_stream(client, "/fort/cluster", "app") == sent
        found = client.filter_log_events(logGroupName="/fort/cluster", filterPattern='"batch 5"')["events"]
        assert len(found) == 100
        streams = client.describe_log_streams(logGroupName="/fort/cluster")["logStreams"]
        assert [s["logStreamName"] for s in streams] == ["app"]
    # errors are the service's own, whichever server answers
    with pytest.raises(ClientError) as e:
        logs[2].create_log_group(logGroupName="/fort/cluster")
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    logs[2].delete_log_group(logGroupName="/fort/cluster")
    for client in logs:
        assert client.describe_log_groups(logGroupNamePrefix="/fort/cluster")["logGroups"] == []


def test_an_object_of_several_chunks_put_through_one_server_is_read_whole_through_the_others(cluster):
    _, servers = cluster
    s3 = [s.client("s3") for s in servers]
    s3[0].create_bucket(Bucket="cluster-bucket")
    body = os.urandom((3 << 20) + 4321)  # over 2 MiB: several chunks of etcd values
    put = s3[1].put_object(Bucket="cluster-bucket", Key="big/object", Body=body)
    for client in s3:
        got = client.get_object(Bucket="cluster-bucket", Key="big/object")
        assert got["ETag"] == put["ETag"]
        assert got["Body"].read() == body
        listed = client.list_objects_v2(Bucket="cluster-bucket")["Contents"]
        assert [(o["Key"], o["Size"]) for o in listed] == [("big/object", len(body))]
        part = client.get_object(Bucket="cluster-bucket", Key="big/object", Range="bytes=2097150-2097161")
        assert part["Body"].read() == body[2097150:2097162]
    s3[2].delete_object(Bucket="cluster-bucket", Key="big/object")
    for client in s3:
        assert client.list_objects_v2(Bucket="cluster-bucket").get("Contents", []) == []


def log_writer(client, stream, acked, errors, stop):
    """Puts one event at a time until told to stop; records each acknowledged one."""
    n = 0
    while not stop.is_set():
        event = {"timestamp": int(time.time() * 1000), "message": f"{stream} {n}"}
        n += 1
        try:
            client.put_log_events(logGroupName="/fort/kill", logStreamName=stream, logEvents=[event])
            acked.append(event["message"])
        except Exception as e:  # the killed server's connection
            errors.append(type(e).__name__)
            time.sleep(0.05)


def object_writer(client, prefix, acked, errors, stop):
    """Puts small objects until told to stop; records each acknowledged one."""
    n = 0
    while not stop.is_set():
        key, body = f"{prefix}/{n}", f"{prefix} {n}".encode()
        n += 1
        try:
            client.put_object(Bucket="kill-bucket", Key=key, Body=body)
            acked.append((key, body))
        except Exception as e:
            errors.append(type(e).__name__)
            time.sleep(0.05)


def test_leader_killed_loses_no_acknowledged_log_event_or_object(cluster):
    _, servers = cluster
    leader = wait_for_leader(servers)
    survivors = [s for s in servers if s is not leader]
    first = leader.client("logs")
    first.create_log_group(logGroupName="/fort/kill")
    for i in range(len(servers)):
        first.create_log_stream(logGroupName="/fort/kill", logStreamName=f"s{i}")
    leader.client("s3").create_bucket(Bucket="kill-bucket")
    # a multi-chunk object acknowledged by the server about to die
    big = os.urandom((2 << 20) + 99)
    leader.client("s3").put_object(Bucket="kill-bucket", Key="big", Body=big)
    # a log writer and an object writer on every server, the leader's too
    log_acked = [[] for _ in servers]
    obj_acked = [[] for _ in servers]
    errors = []
    stop = threading.Event()
    threads = []
    for i, s in enumerate(servers):
        threads.append(threading.Thread(target=log_writer, args=(s.client("logs"), f"s{i}", log_acked[i], errors, stop)))
        threads.append(threading.Thread(target=object_writer, args=(s.client("s3"), f"w{i}", obj_acked[i], errors, stop)))
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        assert all(log_acked) and all(obj_acked), f"no progress before the kill: {errors}"
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(timeout=10)
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    events = sum(len(a) for a in log_acked)
    objects = sum(len(a) for a in obj_acked)
    print(f"{events} log events and {objects} objects acknowledged; errors: {set(errors)}")
    for s in survivors:
        logs, s3 = s.client("logs"), s.client("s3")
        for i in range(len(servers)):
            held = [m for _, m in read_stream(logs, "/fort/kill", f"s{i}")]
            acked = set(log_acked[i])
            # every acknowledged event, in order; at most one more (in flight at the kill)
            assert [m for m in held if m in acked] == log_acked[i], f"stream s{i} on {s.endpoint}"
            assert len(held) <= len(log_acked[i]) + 1
        assert s3.get_object(Bucket="kill-bucket", Key="big")["Body"].read() == big
        keys = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="kill-bucket"):
            keys |= {o["Key"] for o in page.get("Contents", [])}
        for acked in obj_acked:
            for key, body in acked:
                assert key in keys, f"acknowledged {key} lost on {s.endpoint}"
        for key, body in obj_acked[0][-3:] + obj_acked[2][-3:]:
            assert s3.get_object(Bucket="kill-bucket", Key=key)["Body"].read() == body


def test_an_endpoints_policy_holds_through_followers(cluster):
    """A request through a VPC endpoint sent to a follower: the endpoint's policy is
    checked there, and an allowed write reaches the leader with the follower's own PROXY
    header (the leader reads it before HTTP) and is made."""
    from test_endpoint_policy import ec2_call, policy, proxy_header

    _, servers = cluster
    leader = wait_for_leader(servers)
    follower = followers(servers)[0]
    ec2 = leader.client()
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    vpce = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.ec2", VpcEndpointType="Interface",
        SubnetIds=[subnet], PrivateDnsEnabled=False,
    )["VpcEndpoint"]["VpcEndpointId"]
    ec2.modify_vpc_endpoint(VpcEndpointId=vpce, PolicyDocument=policy(
        {"Effect": "Allow", "Principal": "*", "Action": ["ec2:DescribeSubnets", "ec2:CreateVpc"],
         "Resource": "*"},
    ))
    through = proxy_header(vpce, vpc)
    for server in (follower, leader):
        status, body = ec2_call(server, "DescribeVpcs", through)
        assert status == 403 and "UnauthorizedOperation" in body, body
        assert ec2_call(server, "DescribeSubnets", through)[0] == 200
        status, body = ec2_call(server, "DeleteVpc", through)
        assert status == 403 and "UnauthorizedOperation" in body, body
    status, body = send_create(follower, through)
    assert status == 200, body
    ec2.delete_vpc(VpcId=body.split("<vpcId>")[1].split("</vpcId>")[0])


def send_create(server, header):
    from test_endpoint_policy import send

    return send(server, "ec2", body=b"Action=CreateVpc&CidrBlock=10.51.0.0%2F16&Version=2016-11-15",
                header=header,
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
