"""Hosts on a real 1500-byte underlay, reached over TLS: two `fort agent`s, each in a
network namespace of its own (as on two machines), joined by a veth pair of MTU 1500 with
addresses of 198.18.0.0/15 (the benchmarking range) on it. Neither agent is told the MTU:
each detects it on the interface that holds its underlay address and gives instances
1500 - 66 (Geneve and Fort's option) = 1434. The agents reach `fort server`'s mapping service over TLS
(`--mapping https://…` with `--ca`), through a relay in their namespace to the server's
loopback port; a third agent with another CA is refused and never registers.

Checks: eth0's MTU is 1434 in instances on both hosts; a 1434-byte ping with DF crosses;
a 1435-byte one is refused in the instance itself; a TCP stream of several MB crosses
and the underlay namespaces never fragment a datagram (IP FragCreates stays 0)."""

import ctypes
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from .fort_e2e import ALL_FROM, FORT_BIN, REGION, World, free_port, nsexec, sh
from .test_static_stability import Split, eventually

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)
SERVER_NAME = "fort-mapping.test"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def make_ca(d, name):
    """A CA (`name`.pem, `name`-key.pem) in `d`."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{d}/{name}-key.pem", "-out", f"{d}/{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def sign(d, ca, name, san):
    """A leaf certificate `name`.pem for `san`, signed by `ca`."""
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{d}/{name}-key.pem", "-out", f"{d}/{name}.csr", "-subj", f"/CN={name}")
    with open(f"{d}/{name}.ext", "w") as f:
        f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n")
    openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca}.pem", "-CAkey", f"{d}/{ca}-key.pem",
            "-CAcreateserial", "-out", f"{d}/{name}.pem", "-days", "2", "-extfile", f"{d}/{name}.ext")


class Relay:
    """Listens at `addr` inside namespace `ns` and splices each connection to
    127.0.0.1:`port` in this namespace (a socket keeps the namespace it was made in)."""

    def __init__(self, ns, addr, port):
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        made = {}

        def listen():
            # setns moves this thread only; back home before anything else runs here
            try:
                if LIBC.setns(target, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(addr)
                s.listen(16)
                made["sock"] = s
            except OSError as e:
                made["error"] = e
            finally:
                LIBC.setns(home, CLONE_NEWNET)

        t = threading.Thread(target=listen)
        t.start()
        t.join()
        os.close(home)
        os.close(target)
        if "error" in made:
            raise made["error"]
        self.sock, self.port, self.closed = made["sock"], port, False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
                up = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                up.settimeout(None)
            except OSError:
                continue
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.sock.close()


class Fabric(Split):
    """`fort server` (mapping over TLS) in this namespace; agents h1 and h2 in namespaces
    of their own on a 1500-byte veth underlay; h3 on loopback with another CA."""

    def __init__(self):
        tag = f"{random.randint(0, 0xffff):04x}"
        self.nets = {"h1": f"fu{tag}-h1", "h2": f"fu{tag}-h2"}
        octet = random.randint(0, 255)
        self.ul = {"h1": f"198.18.{octet}.1", "h2": f"198.18.{octet}.2"}
        self.relays = []
        self.tls = tempfile_dir = tempfile.mkdtemp(prefix="fort-e2e-tls-")
        make_ca(tempfile_dir, "ca")
        make_ca(tempfile_dir, "other-ca")
        sign(tempfile_dir, "ca", "server", f"DNS:{SERVER_NAME}")
        try:
            for h, ns in self.nets.items():
                sh("ip", "netns", "add", ns, check=True)
                sh("ip", "-n", ns, "link", "set", "lo", "up", check=True)
            h1, h2 = self.nets["h1"], self.nets["h2"]
            sh("ip", "-n", h1, "link", "add", "ul0", "mtu", "1500", "type", "veth", "peer", "name", "ul0",
               "netns", h2, check=True)
            for h, ns in self.nets.items():
                sh("ip", "-n", ns, "addr", "add", f"{self.ul[h]}/24", "dev", "ul0", check=True)
                sh("ip", "-n", ns, "link", "set", "ul0", "up", check=True)
            super().__init__(hosts=2)
        except Exception:
            self.remove_fabric()
            raise

    def start_server(self):
        self._spawn("server", "server", "--listen", f"127.0.0.1:{self.port}",
                    "--mapping-listen", f"127.0.0.1:{self.mapping}", "--data-dir", self.data_dir,
                    "--credentials", self.creds, "--dataplane", "on", "--zones", "3",
                    "--tls-cert", f"{self.tls}/server.pem", "--tls-key", f"{self.tls}/server-key.pem")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.client().describe_vpcs()
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"fort server did not answer:\n{self.log_text()[-3000:]}")
        for h, ns in self.nets.items():
            self.relays.append(Relay(ns, (self.ul[h], self.mapping), self.mapping))

    def start_agent(self, host):
        zone = {"h1": "a", "h2": "b"}[host]
        ns = self.nets[host]
        self._spawn_in(ns, host, "agent", "--host-id", host, "--zone", f"{REGION}{zone}",
                       "--underlay", self.ul[host],
                       "--mapping", f"https://{self.ul[host]}:{self.mapping}",
                       "--ca", f"{self.tls}/ca.pem", "--tls-server-name", SERVER_NAME,
                       "--run-dir", os.path.join(self.data_dir, "agents", host))

    def start_stranger(self, underlay):
        """h3, in zone c on loopback, trusting another CA."""
        self._spawn("h3", "agent", "--host-id", "h3", "--zone", f"{REGION}c", "--underlay", underlay,
                    "--mapping", f"https://127.0.0.1:{self.mapping}", "--ca", f"{self.tls}/other-ca.pem",
                    "--tls-server-name", SERVER_NAME, "--run-dir", os.path.join(self.data_dir, "agents", "h3"))

    def _spawn_in(self, ns, name, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.setdefault("FORT_LOG", "info")
        # nsenter, not `ip netns exec`: the agent must stay in this mount namespace, where
        # the instance namespaces it makes (mounts in /run/netns) are seen by everyone
        self.procs[name] = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", FORT_BIN, *args],
                                            stdout=self.log, stderr=self.log, env=env)

    def remove_fabric(self):
        for r in self.relays:
            r.close()
        for ns in self.nets.values():
            sh("ip", "netns", "del", ns)
        shutil.rmtree(self.tls, ignore_errors=True)

    def close(self):
        try:
            return super().close()
        finally:
            self.remove_fabric()


def frag_creates(ns):
    """IP datagrams the kernel fragmented in namespace `ns` (FragCreates of /proc/net/snmp)."""
    lines = [l.split() for l in sh("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").stdout.splitlines()
             if l.startswith("Ip:")]
    return int(lines[1][lines[0].index("FragCreates")])


def mtu_of(iid):
    out = nsexec(iid, "ip", "-o", "link", "show", "dev", "eth0").stdout
    words = out.split()
    return int(words[words.index("mtu") + 1])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, TAPs)")
def test_instances_get_the_mtu_a_1500_underlay_carries_and_hosts_reach_servers_over_tls():
    fort = Fabric()
    world = None
    try:
        world = World(fort, fort.client())
        vpc = world.vpc("10.33.0.0/16")
        sa = world.subnet(vpc, "10.33.1.0/24", zone=f"{REGION}a")
        sb = world.subnet(vpc, "10.33.2.0/24", zone=f"{REGION}b")
        sc = world.subnet(vpc, "10.33.3.0/24", zone=f"{REGION}c")
        sg = world.group(vpc, "open", [ALL_FROM("10.33.0.0/16")])
        deadline = time.time() + 30
        while True:
            try:
                a, a_ip = world.launch(sa, [sg])
                b, b_ip = world.launch(sb, [sg])
                break
            except Exception as e:
                if "InsufficientInstanceCapacity" not in str(e) or time.time() > deadline:
                    raise AssertionError(f"{e}\n{fort.log_text()[-4000:]}")
                time.sleep(0.3)
        log = fort.log_text()
        assert "underlay MTU detected" in log and 'interface="ul0" mtu=1500' in log, log[-3000:]
        assert mtu_of(a) == 1434 and mtu_of(b) == 1434, (mtu_of(a), mtu_of(b))
        before = {ns: frag_creates(ns) for ns in fort.nets.values()}

        # the largest packet the instance MTU allows crosses with DF set, both ways
        assert eventually(lambda: nsexec(a, "ping", "-c", "1", "-W", "1", "-n", b_ip).returncode == 0, 10)
        for src, dst in ((a, b_ip), (b, a_ip)):
            r = nsexec(src, "ping", "-c", "3", "-W", "2", "-M", "do", "-s", "1406", "-n", dst, timeout=15)
            assert r.returncode == 0 and "3 received" in r.stdout, r.stdout + r.stderr
        # one byte more: refused by the instance itself, never sent
        r = nsexec(a, "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1407", "-n", b_ip)
        assert r.returncode != 0 and ("too long" in r.stdout + r.stderr or "mtu" in (r.stdout + r.stderr).lower()), \
            r.stdout + r.stderr

        # a TCP stream of full-sized segments: 8 MiB, every byte checked
        receiver = ("import hashlib,socket,sys\n"
                    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                    f"s.bind(('{b_ip}', 5201)); s.listen(1); s.settimeout(30); c,_=s.accept(); c.settimeout(30)\n"
                    "h=hashlib.sha256(); n=0\n"
                    "while (d:=c.recv(1<<16)): h.update(d); n+=len(d)\n"
                    "mss=c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)\n"
                    "print(n, h.hexdigest(), mss, flush=True)\n")
        sender = ("import hashlib,socket,random\n"
                  "data=random.Random(17).randbytes(8<<20)\n"
                  f"c=socket.create_connection(('{b_ip}', 5201), timeout=30); c.sendall(data); c.close()\n"
                  "print(len(data), hashlib.sha256(data).hexdigest())\n")
        srv = subprocess.Popen(["ip", "netns", "exec", b, "python3", "-c", receiver],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)
            started = time.time()
            sent = nsexec(a, "python3", "-c", sender, timeout=60)
            out, err = srv.communicate(timeout=60)
            took = time.time() - started
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()
        assert sent.returncode == 0, sent.stderr
        n, digest, mss = out.split()
        assert (n, digest) == tuple(sent.stdout.split()), (out, sent.stdout, err)
        assert int(mss) <= 1434 - 40, mss
        print(f"8 MiB across a 1500-byte underlay in {took:.2f} s, receiver's MSS {mss}")
        after = {ns: frag_creates(ns) for ns in fort.nets.values()}
        assert after == before, f"the underlay fragmented datagrams: {before} -> {after}"

        # an agent that trusts another CA is refused, says why, and never registers
        fort.start_stranger("127.0.0.1")
        assert eventually(lambda: "not signed by the CA given with --ca" in fort.log_text(), 15), \
            fort.log_text()[-3000:]
        time.sleep(1)
        with pytest.raises(Exception) as refused:
            world.run(sc, [sg])
        assert "InsufficientInstanceCapacity" in str(refused.value)
    finally:
        if world:
            world.close()
        leftovers = fort.close()
        assert not leftovers, f"namespaces left behind: {leftovers}"
