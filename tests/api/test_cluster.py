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
