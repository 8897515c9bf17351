"""Static stability: with the control plane down, instances keep talking, and an agent
restarted meanwhile comes back from its local copy of its program; when the server
returns, hosts converge and new changes reach them.

`fort server` and two `fort agent`s as separate processes (as on several machines), so
the server can die while the agents live."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from .fort_e2e import (ACCESS_KEY, ALL_FROM, FORT_BIN, REGION, SECRET_KEY, TcpServer, World, free_port,
                       free_underlay_base, netns_list, ping, sh, tcp_get)

import boto3
import botocore.config


class Split:
    """A `fort server` and agents, each its own process; World uses it as a FortUp."""

    def __init__(self, hosts=2):
        self.data_dir = tempfile.mkdtemp(prefix="fort-e2e-split-")
        self.creds = os.path.join(self.data_dir, "test-credentials")
        with open(self.creds, "w") as f:
            f.write(f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
                    "aws_account_id = 123456789012\n")
        self.port, self.mapping = free_port(), free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        base = free_underlay_base(hosts).split(".")
        self.underlays = {f"h{i + 1}": ".".join(base[:3] + [str(int(base[3]) + i)]) for i in range(hosts)}
        self.instances = set()
        self.procs = {}
        self.log_path = os.path.join(self.data_dir, "fort.log")
        self.log = open(self.log_path, "ab")
        self.start_server()
        for h in self.underlays:
            self.start_agent(h)

    def _spawn(self, name, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.setdefault("FORT_LOG", "info")
        self.procs[name] = subprocess.Popen([FORT_BIN, *args], stdout=self.log, stderr=self.log, env=env)

    def start_server(self):
        self._spawn("server", "server", "--listen", f"127.0.0.1:{self.port}",
                    "--mapping-listen", f"127.0.0.1:{self.mapping}", "--data-dir", self.data_dir,
                    "--credentials", self.creds, "--dataplane", "on", "--zones", "1")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.client().describe_vpcs()
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"fort server did not answer:\n{self.log_text()[-3000:]}")

    def start_agent(self, host):
        self._spawn(host, "agent", "--host-id", host, "--zone", f"{REGION}a", "--underlay", self.underlays[host],
                    "--mapping", f"http://127.0.0.1:{self.mapping}",
                    "--run-dir", os.path.join(self.data_dir, "agents", host), "--keep")

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read().decode("latin-1"))

    def client(self):
        return boto3.client("ec2", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))

    def close(self):
        for name in list(self.procs):
            self.stop(name)
        self.log.close()
        leftovers = self.instances & netns_list()
        for ns in leftovers:
            sh("ip", "netns", "del", ns)
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return leftovers


def eventually(cond, within):
    deadline = time.time() + within
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_instances_keep_talking_without_the_control_plane():
    fort = Split()
    world = None
    try:
        world = World(fort, fort.client())
        vpc = world.vpc("10.30.0.0/16")
        subnet = world.subnet(vpc, "10.30.1.0/24")
        sg = world.group(vpc, "open", [ALL_FROM("10.30.0.0/16")])
        # the agents register in their own time
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
        # every server gone: flows keep passing, new ones too (within the last program)
        fort.stop("server", signal.SIGKILL)
        with TcpServer(b, b_ip):
            assert ping(a, b_ip) and ping(b, a_ip)
            assert tcp_get(a, b_ip) == f"hello from {b}\n"
            # both agents restart while no server answers: their local copies bring back
            # the engines, and the instances (kept in place, their TAPs taken over) keep
            # their addresses and sockets
            for h in fort.underlays:
                fort.stop(h)
                fort.start_agent(h)
            assert eventually(lambda: fort.log_text().count("program restored from the local copy") == 2, 10), \
                fort.log_text()[-3000:]
            assert eventually(lambda: fort.log_text().count("reattached=true") == 2, 10), fort.log_text()[-3000:]
            assert eventually(lambda: ping(a, b_ip), 10), fort.log_text()[-3000:]
            assert tcp_get(a, b_ip) == f"hello from {b}\n"
        # the server returns: hosts converge, and new changes reach them
        fort.start_server()
        c, c_ip = world.launch(subnet, [sg])
        assert eventually(lambda: ping(c, a_ip) and ping(a, c_ip), 10), fort.log_text()[-3000:]
        assert ping(a, b_ip)
    finally:
        if world:
            world.close()
        leftovers = fort.close()
    assert not leftovers, f"instances left behind: {leftovers}"
