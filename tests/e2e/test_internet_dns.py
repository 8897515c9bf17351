"""The simulated internet's DNS with real queries: `fort up` serves the built-in test-hosts
zone (example.test), a zone file (--internet-dns-zone) and a command-line record
(--internet-dns-record) at 203.0.113.53 inside the internet namespace and on a loopback
address of the machine's namespace (for agents), over UDP and TCP; names nobody serves
are NXDOMAIN (without the AA bit outside every zone). An instance with a public IP asks
the internet's server through its internet gateway. Only this `fort up`'s servers are
queried: never a real resolver, and /etc/resolv.conf is not touched.

Root only (skipped otherwise, see conftest), and dig (dnsutils; scripts/test installs it).
"""

import os
import re
import shutil
import socket
import tempfile
import time

import pytest

from .fort_e2e import FortUp, World, netns_list, nsexec, sh
from .test_edge import FortUpWithEdge, Net

NAMESERVER = "203.0.113.53"
TEST_HOST = "203.0.113.1"

ZONE = """\
$ORIGIN corp.test.
$TTL 60
@        IN SOA  ns hostmaster ( 2026112601 3600 600 86400 30 )
@        IN NS   ns
ns       IN A    203.0.113.53
app      IN A    203.0.113.10
app      IN A    203.0.113.11
web      IN CNAME app
portal   IN CNAME web
"""

pytestmark = pytest.mark.skipif(shutil.which("dig") is None,
                                reason="the internet's DNS tests need dig (dnsutils; scripts/test installs it)")


class FortUpWithDns(FortUpWithEdge):
    """`fort up` with its edge, whose summary names where the internet's DNS answers."""

    def __init__(self, ns, extra=(), **kw):
        self.ns = ns
        FortUp.__init__(self, extra=["--internet-ns", ns, *extra], **kw)

    def start(self):
        super().start()
        deadline = time.time() + 10
        while time.time() < deadline:
            m = re.search(r"internet DNS:\s+(\S+) in (\S+), (\S+) on loopback; zones (.*)", self.log_text())
            if m:
                self.dns_ns_addr, ns, self.dns_loopback, zones = m.groups()
                assert ns == self.ns
                self.dns_zones = zones.split()
                return
            time.sleep(0.1)
        raise RuntimeError(f"fort up did not start the internet's DNS:\n{self.log_text()}")


@pytest.fixture(scope="module")
def dfort():
    ns = f"fort-dns-{os.getpid() % 100000}"
    zdir = tempfile.mkdtemp(prefix="fort-e2e-dns-")
    zone = os.path.join(zdir, "corp.test.zone")
    with open(zone, "w") as f:
        f.write(ZONE)
    f = FortUpWithDns(ns, hosts=2, zones=1, extra=[
        "--internet-dns-zone", zone,
        "--internet-dns-record", "api.example.com=203.0.113.7",
        "--internet-dns-record", "extra.corp.test=203.0.113.12",
    ])
    try:
        yield f
    finally:
        leftovers = f.close()
        shutil.rmtree(zdir, ignore_errors=True)
        left_ns = ns in netns_list()
        if left_ns:
            sh("ip", "netns", "del", ns)
        assert not leftovers, f"fort up left namespaces behind: {leftovers}"
        assert not left_ns, f"fort up left the internet namespace {ns} behind"


class Answer:
    """dig's answer: status, header flags and (section, name, type, data) records."""

    def __init__(self, out):
        self.text = out
        m = re.search(r"status: (\w+)", out)
        self.status = m.group(1) if m else None
        m = re.search(r";; flags: ([a-z ]*);", out)
        self.flags = set(m.group(1).split()) if m else set()
        self.records = []
        section = None
        for line in out.splitlines():
            if line.startswith(";; ANSWER SECTION"):
                section = "answer"
            elif line.startswith(";; AUTHORITY SECTION"):
                section = "authority"
            elif not line.strip() or line.startswith(";"):
                section = None if not line.strip() else section
            elif section:
                name, ttl, cls, rtype, data = line.split(None, 4)
                self.records.append((section, name, rtype, data))

    def answers(self, rtype="A"):
        return sorted(d for s, _, t, d in self.records if s == "answer" and t == rtype)


def dig(where, server, name, rtype="A", tcp=False):
    """Asks `server` (ADDR or ADDR:PORT) from the namespace `where` (None: this one)."""
    host, _, port = server.partition(":")
    cmd = ["dig", "+time=2", "+tries=2", "+norecurse", f"@{host}", "-p", port or "53", name, rtype]
    if tcp:
        cmd.append("+tcp")
    r = nsexec(where, *cmd) if where else sh(*cmd)
    assert r.returncode == 0, f"{' '.join(cmd)} in {where}: {r.stdout}{r.stderr}"
    return Answer(r.stdout)


def both_places(dfort):
    """(namespace or None, server address): inside the internet and on loopback."""
    return [(dfort.ns, dfort.dns_ns_addr), (None, dfort.dns_loopback)]


def test_summary_names_the_addresses_and_zones(dfort):
    assert dfort.dns_ns_addr == f"{NAMESERVER}:53"
    ip, port = dfort.dns_loopback.rsplit(":", 1)
    assert ip.startswith("127.") and port == "53"
    # after the agents' and the edge's underlay addresses
    base = dfort.base.split(".")
    assert ip == ".".join(base[:3] + [str(int(base[3]) + dfort.hosts + 1)])
    assert sorted(dfort.dns_zones) == ["api.example.com.", "corp.test.", "example.test."]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_names_answer_inside_the_internet_and_on_loopback(dfort, tcp):
    for where, server in both_places(dfort):
        a = dig(where, server, "www.example.test", tcp=tcp)
        assert a.status == "NOERROR" and "aa" in a.flags, a.text
        assert a.answers() == [TEST_HOST], a.text
        assert dig(where, server, "example.test", tcp=tcp).answers() == [TEST_HOST]
        assert dig(where, server, "ns.example.test", tcp=tcp).answers() == [NAMESERVER]
        # the zone file, its CNAME chain followed inside the zone
        a = dig(where, server, "portal.corp.test", tcp=tcp)
        assert a.status == "NOERROR", a.text
        assert a.answers("CNAME") == ["app.corp.test.", "web.corp.test."], a.text
        assert a.answers() == ["203.0.113.10", "203.0.113.11"], a.text
        # command-line records: a zone of its own, and one added to the file's zone
        a = dig(where, server, "api.example.com", tcp=tcp)
        assert a.answers() == ["203.0.113.7"] and "aa" in a.flags, a.text
        assert dig(where, server, "extra.corp.test", tcp=tcp).answers() == ["203.0.113.12"]


def test_names_nobody_serves_do_not_exist(dfort):
    for where, server in both_places(dfort):
        for name in ["www.google.com", "example.com", "nothing.invalid"]:
            a = dig(where, server, name)
            assert a.status == "NXDOMAIN", a.text
            assert "aa" not in a.flags, a.text
            assert a.records == [], a.text
        # inside a zone: the zone's authoritative NXDOMAIN, with its SOA
        a = dig(where, server, "nope.corp.test")
        assert a.status == "NXDOMAIN" and "aa" in a.flags, a.text
        assert [t for s, _, t, _ in a.records if s == "authority"] == ["SOA"], a.text
        # a name without that type: NODATA
        a = dig(where, server, "www.example.test", "AAAA")
        assert a.status == "NOERROR" and a.answers("AAAA") == [], a.text


def test_an_instance_asks_the_internet_through_its_gateway(dfort):
    w = World(dfort, dfort.client())
    try:
        net = Net(w, "10.53.0.0/16")
        iid, _ = w.launch(net.public, [net.sg])
        deadline = time.time() + 15
        while True:
            r = nsexec(iid, "dig", "+time=1", "+tries=1", "+norecurse", f"@{NAMESERVER}", "web.corp.test", "A")
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        a = Answer(r.stdout)
        assert a.status == "NOERROR", r.stdout + r.stderr
        assert a.answers() == ["203.0.113.10", "203.0.113.11"], a.text
    finally:
        w.close()


def test_shutdown_closes_the_loopback_listener():
    """A second `fort up` of its own: after it stops, its loopback port 53 is free."""
    ns = f"fort-dns2-{os.getpid() % 100000}"
    f = FortUp(hosts=1, zones=1, extra=["--internet-ns", ns])
    try:
        deadline = time.time() + 10
        m = None
        while time.time() < deadline and not m:
            m = re.search(r"internet DNS:\s+.* (\S+) on loopback", f.log_text())
            time.sleep(0.1)
        assert m, f.log_text()
        addr = m.group(1)
        assert dig(None, addr, "www.example.test").answers() == [TEST_HOST]
    finally:
        f.close()
        if ns in netns_list():
            sh("ip", "netns", "del", ns)
    ip, port = addr.rsplit(":", 1)
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((ip, int(port)))
    assert ns not in netns_list()
