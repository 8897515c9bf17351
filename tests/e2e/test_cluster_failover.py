"""Two `fort server`s on one etcd, two agents given both (`--mapping URL,URL`): the leader
is killed with SIGKILL; instances keep talking, the agents move to the survivor, which
takes the lead and programs a new instance, and no host is marked impaired because its
server died.

Needs etcd (`/usr/bin/etcd` or `$FORT_ETCD`); skipped without it."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from .fort_e2e import ALL_FROM, World, free_port, ping
from .test_static_stability import Split, eventually

ETCD = os.environ.get("FORT_ETCD", "/usr/bin/etcd")


class Cluster(Split):
    """An etcd, two servers on it and agents that know both, each its own process."""

    def __init__(self, hosts=2):
        self.etcd_dir = tempfile.mkdtemp(prefix="fort-e2e-etcd-")
        self.etcd_port, peer = free_port(), free_port()
        self.etcd_log = open(os.path.join(self.etcd_dir, "etcd.log"), "ab")
        self.etcd = subprocess.Popen(
            [ETCD, "--name", "e", "--data-dir", os.path.join(self.etcd_dir, "data"),
             "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"e=http://127.0.0.1:{peer}"],
            stdout=self.etcd_log, stderr=self.etcd_log)
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.etcd_port}/health", timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    self.close_etcd()
                    raise RuntimeError("etcd did not start")
                time.sleep(0.2)
        self.ports = [free_port(), free_port()]
        self.mappings = [free_port(), free_port()]
        self.live = [0, 1]
        super().__init__(hosts)

    def start_server(self):
        for i in range(len(self.ports)):
            name = f"server{i}"
            self._spawn(name, "server", "--listen", f"127.0.0.1:{self.ports[i]}",
                        "--mapping-listen", f"127.0.0.1:{self.mappings[i]}",
                        "--data-dir", os.path.join(self.data_dir, name), "--credentials", self.creds,
                        "--dataplane", "on", "--zones", "1", "--store", f"etcd://127.0.0.1:{self.etcd_port}")
        deadline = time.time() + 30
        while True:
            try:
                for i in self.live:
                    self.client(i).describe_vpcs()
                return
            except Exception:
                if time.time() > deadline:
                    raise RuntimeError(f"fort servers did not answer:\n{self.log_text()[-3000:]}")
                time.sleep(0.1)

    def start_agent(self, host):
        mapping = ",".join(f"http://127.0.0.1:{m}" for m in self.mappings)
        self._spawn(host, "agent", "--host-id", host, "--zone", "us-east-1a", "--underlay", self.underlays[host],
                    "--mapping", mapping, "--run-dir", os.path.join(self.data_dir, "agents", host), "--keep")

    def client(self, i=None):
        self.endpoint = f"http://127.0.0.1:{self.ports[self.live[0] if i is None else i]}"
        return super().client()

    def leader(self):
        for i in self.live:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[i]}/fort/cluster", timeout=2) as r:
                if json.loads(r.read())["leading"]:
                    return i
        return None

    def close_etcd(self):
        if self.etcd.poll() is None:
            self.etcd.kill()
            self.etcd.wait(timeout=10)
        self.etcd_log.close()
        shutil.rmtree(self.etcd_dir, ignore_errors=True)


@pytest.mark.skipif(not os.path.exists(ETCD), reason=f"no etcd at {ETCD}")
def test_agents_fail_over_and_their_hosts_stay_available():
    fort = Cluster()
    world = None
    try:
        world = World(fort, fort.client())
        vpc = world.vpc("10.31.0.0/16")
        subnet = world.subnet(vpc, "10.31.1.0/24")
        sg = world.group(vpc, "open", [ALL_FROM("10.31.0.0/16")])
        deadline = time.time() + 20
        while True:
            try:
                a, a_ip = world.launch(subnet, [sg])
                break
            except Exception as e:
                if "InsufficientInstanceCapacity" not in str(e) or time.time() > deadline:
                    raise
                time.sleep(0.2)
        b, b_ip = world.launch(subnet, [sg])
        assert eventually(lambda: ping(a, b_ip), 5)

        leader = fort.leader()
        assert leader is not None
        fort.stop(f"server{leader}", signal.SIGKILL)
        fort.live.remove(leader)
        killed = time.time()
        world.ec2 = fort.client()
        assert ping(a, b_ip) and ping(b, a_ip), "instances stopped talking when a server died"
        # the survivor leads and programs a new instance on the hosts that moved to it
        while True:
            try:
                c, c_ip = world.launch(subnet, [sg])
                break
            except Exception as e:
                if "ServiceUnavailable" not in str(e) or time.time() - killed > 15:
                    raise
                time.sleep(0.2)
        print(f"new instance launched {time.time() - killed:.1f} s after the leader's death")
        assert eventually(lambda: ping(c, a_ip) and ping(a, c_ip) and ping(c, b_ip), 15), fort.log_text()[-3000:]
        # past the host timeout (10 s), no host is impaired: they moved, they did not die
        time.sleep(max(0, 12 - (time.time() - killed)))
        statuses = world.ec2.describe_instance_status(InstanceIds=[a, b, c])["InstanceStatuses"]
        assert len(statuses) == 3
        for s in statuses:
            assert s["SystemStatus"]["Status"] == "ok", (s, fort.log_text()[-3000:])
        assert ping(a, b_ip)
    finally:
        if world:
            world.close()
        leftovers = fort.close()
        fort.close_etcd()
    assert not leftovers, f"instances left behind: {leftovers}"
