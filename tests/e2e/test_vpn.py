"""Site-to-Site VPN with real IPsec: a company network (`fort up --onprem`: a namespace
with hosts in 192.168.0.0/16 behind a customer gateway address on the simulated internet)
reaches an instance through a VPN connection's tunnels. The company side runs strongSwan
configured from the connection's CustomerGatewayConfiguration by tests/e2e/vpn_customer.py
(as customers do); the edge runs strongSwan for the AWS side. Ping and TCP both ways
through the tunnels; the instance's security group and the subnet's network ACL cut it
as they would any other source; a tunnel that dies (its packets blackholed on the
company side) hands the traffic to the other within the dead-peer-detection time, and
VgwTelemetry says so; deleting the connection leaves no namespace, TAP or process.

A dynamic connection speaks BGP over both tunnels (FRR's bgpd on each side): the
company's prefix becomes a propagated route of a table that propagates the gateway (and
of no other), traffic follows it, a tunnel whose session goes down hands the traffic to
the other, and withdrawing the prefix removes the route within seconds.

Root only, and needs strongSwan (scripts/test installs it). This module runs its own
`fort up`; everything it starts is removed on teardown, even when a test fails.
"""

import json
import os
import shutil
import tempfile
import time

import pytest

from .fort_e2e import ALL_FROM, FortUp, TcpServer, World, links, netns_list, nsexec, sh, tcp_get
from .vpn_customer import BGPD, CHARON, CustomerGateway

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHARON) and shutil.which("swanctl")
         and os.path.exists("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so")),
    reason="needs strongSwan (strongswan-charon, strongswan-swanctl, libcharon-extra-plugins)",
)

COMPANY = "192.168.0.0/16"
COMPANY_HOST = "192.168.0.1"
CGW_IP = "192.0.2.200"


@pytest.fixture(scope="module")
def fort():
    tag = f"{os.getpid() % 10000:04d}"
    inet, onprem = f"fort-inet-v{tag}", f"fort-onprem-{tag}"
    before = netns_list()
    f = FortUp(hosts=2, zones=1, extra=["--internet-ns", inet, "--onprem", "--onprem-ns", onprem])
    f.internet_ns, f.onprem_ns = inet, onprem
    yield f
    leftovers = f.close()
    # whatever fort up left (it should leave nothing) goes, then the test says so
    left = {n for n in netns_list() - before if n.startswith("fort-vpn-") or n in (inet, onprem)}
    for ns in left:
        for pid in sh("ip", "netns", "pids", ns).stdout.split():
            sh("kill", "-9", pid)
        sh("ip", "netns", "del", ns)
    assert not leftovers and not left, f"fort up left namespaces behind: {leftovers | left}"


@pytest.fixture(scope="module")
def ec2(fort):
    return fort.client()


def ping_from(ns, dst, src=None, count=1, wait=1):
    args = ["ping", "-c", str(count), "-W", str(wait), "-n"]
    if src:
        args += ["-I", src]
    return nsexec(ns, *args, dst, timeout=count * wait + 5).returncode == 0


def until(f, within, step=0.5):
    """Seconds until `f()` is true, or None after `within`."""
    start = time.time()
    while time.time() - start < within:
        if f():
            return time.time() - start
        time.sleep(step)
    return None


def telemetry(ec2, cid):
    [c] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
    return [(t["OutsideIpAddress"], t["Status"]) for t in c["VgwTelemetry"]]


def test_company_reaches_instance_through_the_tunnels(fort, ec2):
    w = World(fort, ec2)
    gw = None
    workdir = tempfile.mkdtemp(prefix="fort-e2e-vpn-")
    try:
        vpc = w.vpc("10.0.0.0/16")
        subnet = w.subnet(vpc, "10.0.1.0/24")
        sg = w.group(vpc, "from-company", ingress=[ALL_FROM(COMPANY)])
        iid, ip = w.launch(subnet, [sg])

        vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
        w.cleanups.append(lambda: ec2.delete_vpn_gateway(VpnGatewayId=vgw))
        ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc)
        w.cleanups.append(lambda: ec2.detach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc))
        cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress=CGW_IP, BgpAsn=65000)["CustomerGateway"]["CustomerGatewayId"]
        w.cleanups.append(lambda: ec2.delete_customer_gateway(CustomerGatewayId=cgw))
        conn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw,
                                         Options={"StaticRoutesOnly": True})["VpnConnection"]
        cid = conn["VpnConnectionId"]
        deleted = []
        w.cleanups.append(lambda: deleted or ec2.delete_vpn_connection(VpnConnectionId=cid))
        ec2.create_vpn_connection_route(VpnConnectionId=cid, DestinationCidrBlock=COMPANY)
        # The subnet's (main) table learns the company's block by propagation.
        main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]
        ec2.enable_vgw_route_propagation(RouteTableId=main, GatewayId=vgw)
        site = f"fort-{cid}"
        assert until(lambda: site in netns_list(), 30), f"no VPN site:\n{fort.log_text()[-3000:]}"

        # The company side, configured from the document AWS's format gives.
        [doc] = [c["CustomerGatewayConfiguration"] for c in
                 ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]]
        gw = CustomerGateway(fort.onprem_ns, doc, COMPANY, "10.0.0.0/16", workdir)
        gw.up("tunnel2", "tunnel1")
        assert gw.established() == {"tunnel1", "tunnel2"}
        outside = [t["OutsideIpAddress"] for t in conn["Options"]["TunnelOptions"]]
        assert until(lambda: telemetry(ec2, cid) == [(outside[0], "UP"), (outside[1], "UP")], 20), telemetry(ec2, cid)

        # Ping and TCP both ways.
        assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 15), fort.log_text()[-3000:]
        assert ping_from(iid, COMPANY_HOST)
        with TcpServer(iid, ip) as _:
            assert tcp_get(fort.onprem_ns, ip) == f"hello from {iid}\n"
        with TcpServer(fort.onprem_ns, COMPANY_HOST) as _:
            assert tcp_get(iid, COMPANY_HOST) == f"hello from {fort.onprem_ns}\n"
        # Through tunnel 1: the newest SA on both sides.
        sas = gw.swanctl("--list-sas")
        t1 = sas[sas.index("tunnel1:"):]
        assert "0 packets" not in t1.split("out ")[1].splitlines()[0], sas

        # The security group judges the company's packets as any other source's.
        ec2.revoke_security_group_ingress(GroupId=sg, IpPermissions=[ALL_FROM(COMPANY)])
        assert until(lambda: not ping_from(fort.onprem_ns, ip, COMPANY_HOST), 10)
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[ALL_FROM(COMPANY)])
        assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 10)
        # ... and so does the subnet's network ACL.
        acl = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]["NetworkAclId"]
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Protocol="-1", RuleAction="deny",
                                     Egress=False, CidrBlock=COMPANY)
        try:
            assert until(lambda: not ping_from(fort.onprem_ns, ip, COMPANY_HOST), 10)
        finally:
            ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Egress=False)
        assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 10)

        # Tunnel 1's path dies (its packets vanish both ways at the company's edge): dead
        # peer detection (30 s, AWS's default) on both sides hands the traffic to tunnel 2,
        # and VgwTelemetry shows it.
        sh("ip", "-n", fort.onprem_ns, "route", "add", "blackhole", f"{outside[0]}/32", check=True)
        # (undone in the end: the address goes back to the pool for the next connection)
        w.cleanups.append(lambda: sh("ip", "-n", fort.onprem_ns, "route", "del", "blackhole", f"{outside[0]}/32"))
        w.cleanups.append(lambda: nsexec(fort.onprem_ns, "nft", "delete", "table", "inet", "fortvpn"))
        for cmd in (["add", "table", "inet", "fortvpn"],
                    ["add", "chain", "inet", "fortvpn", "input", "{ type filter hook input priority 0; }"],
                    ["add", "rule", "inet", "fortvpn", "input", "ip", "saddr", outside[0], "drop"]):
            nsexec(fort.onprem_ns, "nft", *cmd).check_returncode()
        died = time.time()
        assert until(lambda: not ping_from(fort.onprem_ns, ip, COMPANY_HOST), 10)
        assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 60, step=0.2) is not None, gw.swanctl("--list-sas")
        took = time.time() - died
        print(f"traffic moved to tunnel 2 {took:.1f} s after tunnel 1 died")
        # the DPD timeout, and a DPD interval for the first probe's timing
        assert took < 30 + 10 + 5, took
        assert ping_from(iid, COMPANY_HOST)
        assert until(lambda: telemetry(ec2, cid) == [(outside[0], "DOWN"), (outside[1], "UP")], 60), telemetry(ec2, cid)

        # Deleting the connection leaves no site, TAP or charon behind.
        ec2.delete_vpn_connection(VpnConnectionId=cid)
        deleted.append(True)
        assert until(lambda: site not in netns_list(), 20), netns_list()
        assert not [l for l in links() if l.startswith("fvt") or l.startswith("fvo")]
        assert not [p for p in sh("pgrep", "-af", "charon").stdout.splitlines() if site in p]
        assert until(lambda: not ping_from(fort.onprem_ns, ip, COMPANY_HOST), 10)
    finally:
        if gw:
            gw.close()
        shutil.rmtree(workdir, ignore_errors=True)
        w.close()


def propagated(ec2, table):
    """The table's routes learned from a virtual private gateway: destination → gateway."""
    [t] = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"]
    return {r["DestinationCidrBlock"]: r["GatewayId"] for r in t["Routes"]
            if r.get("Origin") == "EnableVgwRoutePropagation"}


def tunnel_tx(cid, n):
    """Packets the AWS side sent into tunnel `n` (1 or 2): its charon's TUN's counter."""
    out = sh("ip", "-n", f"fort-{cid}-t{n}", "-s", "-j", "link", "show", "dev", "ipsec0").stdout
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


@pytest.mark.skipif(not os.path.exists(BGPD) or not shutil.which("vtysh"), reason="needs FRR (frr)")
def test_dynamic_connection_learns_the_company_by_bgp(fort, ec2):
    w = World(fort, ec2)
    gw = None
    workdir = tempfile.mkdtemp(prefix="fort-e2e-bgp-")
    try:
        vpc = w.vpc("10.0.0.0/16")
        subnet = w.subnet(vpc, "10.0.1.0/24")
        sg = w.group(vpc, "from-company", ingress=[ALL_FROM(COMPANY)])
        iid, ip = w.launch(subnet, [sg])

        vgw = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=64512)["VpnGateway"]["VpnGatewayId"]
        w.cleanups.append(lambda: ec2.delete_vpn_gateway(VpnGatewayId=vgw))
        ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc)
        w.cleanups.append(lambda: ec2.detach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc))
        cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress=CGW_IP, BgpAsn=65010)["CustomerGateway"]["CustomerGatewayId"]
        w.cleanups.append(lambda: ec2.delete_customer_gateway(CustomerGatewayId=cgw))
        conn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw,
                                         Options={"StaticRoutesOnly": False})["VpnConnection"]
        cid = conn["VpnConnectionId"]
        deleted = []
        w.cleanups.append(lambda: deleted or ec2.delete_vpn_connection(VpnConnectionId=cid))
        main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]
        ec2.enable_vgw_route_propagation(RouteTableId=main, GatewayId=vgw)
        # a table that does not propagate the gateway learns nothing
        other = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        w.cleanups.append(lambda: ec2.delete_route_table(RouteTableId=other))
        site = f"fort-{cid}"
        assert until(lambda: {site, f"{site}-t1", f"{site}-t2"} <= netns_list(), 30), \
            f"no VPN site:\n{fort.log_text()[-3000:]}"

        [doc] = [c["CustomerGatewayConfiguration"] for c in
                 ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]]
        assert "<bgp>" in doc
        gw = CustomerGateway(fort.onprem_ns, doc, COMPANY, "10.0.0.0/16", workdir, announce=[COMPANY])
        assert gw.dynamic
        gw.up("tunnel1", "tunnel2")
        assert gw.established() == {"tunnel1", "tunnel2"}
        vgw_inside = [t["vgw_inside"] for t in gw.tunnels]
        # both sessions come up (the AWS side's hold time is 30 s, keepalives 10 s)
        assert until(lambda: gw.bgp_established() == set(vgw_inside), 60, step=0.2), \
            gw.vtysh("show bgp summary")
        bgp_up = time.time()
        took = until(lambda: COMPANY in propagated(ec2, main), 30, step=0.1)
        assert took is not None, (propagated(ec2, main), fort.log_text()[-3000:])
        print(f"route in the table {took:.2f} s after the BGP sessions were up")
        assert propagated(ec2, main) == {COMPANY: vgw}
        assert propagated(ec2, other) == {}
        # the company learned the VPC's block
        assert "10.0.0.0/16" in gw.bgp_received()
        outside = [t["OutsideIpAddress"] for t in conn["Options"]["TunnelOptions"]]

        def telemetry_full():
            [c] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
            return [(t["OutsideIpAddress"], t["Status"], t["AcceptedRouteCount"]) for t in c["VgwTelemetry"]]
        assert until(lambda: telemetry_full() == [(outside[0], "UP", 1), (outside[1], "UP", 1)], 20), telemetry_full()

        # Ping and TCP both ways, following the learned route.
        assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 15), fort.log_text()[-3000:]
        assert until(lambda: ping_from(iid, COMPANY_HOST), 10)
        with TcpServer(iid, ip) as _:
            assert tcp_get(fort.onprem_ns, ip) == f"hello from {iid}\n"
        with TcpServer(fort.onprem_ns, COMPANY_HOST) as _:
            assert tcp_get(iid, COMPANY_HOST) == f"hello from {fort.onprem_ns}\n"

        # The AWS side sends through the tunnel of the best path (equal paths: the one
        # learned first, tunnel 1's, brought up first).
        def carrier():
            before = [tunnel_tx(cid, 1), tunnel_tx(cid, 2)]
            nsexec(iid, "ping", "-c", "5", "-i", "0.05", "-W", "1", "-q", COMPANY_HOST)
            after = [tunnel_tx(cid, 1), tunnel_tx(cid, 2)]
            return [n + 1 for n in range(2) if after[n] - before[n] >= 5]
        first = carrier()
        assert len(first) == 1, first
        active = first[0]
        standby = 3 - active
        # That tunnel's BGP session goes down: the traffic moves to the other tunnel.
        gw.shutdown(active)
        moved = until(lambda: carrier() == [standby], 20, step=0.2)
        assert moved is not None, (carrier(), fort.log_text()[-3000:])
        print(f"traffic moved to tunnel {standby} {moved:.2f} s after tunnel {active}'s session went down")
        assert until(lambda: [s for _, s, _ in telemetry_full()] ==
                     (["DOWN", "UP"] if active == 1 else ["UP", "DOWN"]), 20), telemetry_full()
        assert propagated(ec2, main) == {COMPANY: vgw}
        gw.shutdown(active, down=False)
        assert until(lambda: gw.bgp_established() == set(vgw_inside), 60, step=0.2)

        # A second prefix, announced and withdrawn a few times: its route comes and goes
        # within seconds, and so does the traffic to it.
        extra, extra_host = "192.168.77.0/24", "192.168.77.1"
        came, went = [], []
        for _ in range(3):
            gw.announce(extra)
            t = until(lambda: extra in propagated(ec2, main), 15, step=0.05)
            assert t is not None, propagated(ec2, main)
            came.append(t)
            gw.withdraw(extra)
            t = until(lambda: extra not in propagated(ec2, main), 15, step=0.05)
            assert t is not None, propagated(ec2, main)
            went.append(t)
        print("announced → route in the table: " + ", ".join(f"{t:.2f}" for t in came) + " s; "
              "withdrawn → route gone: " + ", ".join(f"{t:.2f}" for t in went) + " s")
        assert max(went) < 5, went

        # Withdrawing the company's prefix removes the route within seconds, and the
        # traffic stops.
        gw.withdraw(COMPANY)
        gone = until(lambda: COMPANY not in propagated(ec2, main), 15, step=0.05)
        assert gone is not None, propagated(ec2, main)
        print(f"route gone {gone:.2f} s after the withdrawal")
        assert gone < 5, gone
        assert until(lambda: not ping_from(iid, COMPANY_HOST), 10)
        assert not ping_from(iid, extra_host)
        assert until(lambda: [c for _, _, c in telemetry_full()] == [0, 0], 10), telemetry_full()
        # ... and announcing it again brings it back.
        gw.announce(COMPANY)
        assert until(lambda: COMPANY in propagated(ec2, main), 15, step=0.1)
        assert until(lambda: ping_from(iid, COMPANY_HOST), 10)

        # Deleting the connection leaves no site, tunnel namespace, charon or bgpd behind.
        ec2.delete_vpn_connection(VpnConnectionId=cid)
        deleted.append(True)
        assert until(lambda: not {n for n in netns_list() if n.startswith(site)}, 20), netns_list()
        assert not [p for p in sh("pgrep", "-af", "charon|bgpd").stdout.splitlines() if site in p]
        assert propagated(ec2, main) == {}
    finally:
        if gw:
            gw.close()
        shutil.rmtree(workdir, ignore_errors=True)
        w.close()


def edge_daemons(ns):
    """The charon and bgpd running in namespace `ns` (an edge tunnel's): name → pids."""
    out = {}
    for pid in sh("ip", "netns", "pids", ns).stdout.split():
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        out.setdefault(comm, []).append(int(pid))
    return out


def edge_uri(ns):
    """The vici socket of the edge's charon in tunnel namespace `ns` (its settings file,
    from its environment, is beside it)."""
    [pid] = edge_daemons(ns)["charon"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    return "unix://" + os.path.join(os.path.dirname(env[b"STRONGSWAN_CONF"].decode()), "charon.vici")


def swanctl(uri, *args):
    r = sh("swanctl", *args, "--uri", uri, timeout=30)
    assert r.returncode == 0, f"swanctl {args}: {r.stdout}{r.stderr}"
    return r.stdout


def sa_ids(listing, name):
    """An SA listing's (`swanctl --list-sas`) IKE SPIs of IKE SA `name` and the SPIs of
    its installed CHILD_SAs."""
    ike, child, current, installed = set(), set(), None, False
    for line in listing.splitlines():
        if not line.startswith(" "):
            current = line.split(":")[0]
            if current == name and "ESTABLISHED" in line:
                ike.update(w for w in line.split() if w.endswith(("_i", "_r", "_i*", "_r*")))
        elif current == name:
            words = line.split()
            if len(words) > 2 and words[0].rstrip(":") == name:
                installed = "INSTALLED," in words
            elif installed and words and words[0] in ("in", "out"):
                child.add(words[1].rstrip(","))
    return ike, child


def ping_stream(ns, dst, src, seconds, interval=0.05):
    """A ping of `seconds` from `ns` in the background; .result() → (sent, received)."""
    import subprocess
    count = int(seconds / interval)
    p = subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-n", "-q", "-i", str(interval), "-W", "1",
                          "-c", str(count), "-I", src, dst], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    class Stream:
        def result(self):
            out, _ = p.communicate(timeout=seconds + 30)
            line = [l for l in out.splitlines() if "transmitted" in l][0]
            return int(line.split()[0]), int(line.split(",")[1].split()[0])

        def kill(self):
            if p.poll() is None:
                p.kill()
                p.wait()
    return Stream()


@pytest.mark.skipif(not os.path.exists(BGPD) or not shutil.which("vtysh"), reason="needs FRR (frr)")
def test_tunnels_rekey_and_dead_daemons_come_back(fort, ec2):
    """Rekeying on either side (IKE and CHILD SAs) loses at most a few packets of a ping
    stream and gives new SPIs; a charon or bgpd of the edge killed with SIGKILL is
    restarted (the tunnel is reported DOWN meanwhile), its tunnel loaded again, and the
    traffic and the learned routes come back, without a process or namespace left over."""
    import datetime
    w = World(fort, ec2)
    gw = None
    streams = []
    workdir = tempfile.mkdtemp(prefix="fort-e2e-vpnsup-")
    try:
        vpc = w.vpc("10.0.0.0/16")
        subnet = w.subnet(vpc, "10.0.1.0/24")
        sg = w.group(vpc, "from-company", ingress=[ALL_FROM(COMPANY)])
        iid, ip = w.launch(subnet, [sg])
        vgw = ec2.create_vpn_gateway(Type="ipsec.1", AmazonSideAsn=64512)["VpnGateway"]["VpnGatewayId"]
        w.cleanups.append(lambda: ec2.delete_vpn_gateway(VpnGatewayId=vgw))
        ec2.attach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc)
        w.cleanups.append(lambda: ec2.detach_vpn_gateway(VpnGatewayId=vgw, VpcId=vpc))
        cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress=CGW_IP, BgpAsn=65020)["CustomerGateway"]["CustomerGatewayId"]
        w.cleanups.append(lambda: ec2.delete_customer_gateway(CustomerGatewayId=cgw))
        conn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, VpnGatewayId=vgw,
                                         Options={"StaticRoutesOnly": False})["VpnConnection"]
        cid = conn["VpnConnectionId"]
        deleted = []
        w.cleanups.append(lambda: deleted or ec2.delete_vpn_connection(VpnConnectionId=cid))
        main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]
        ec2.enable_vgw_route_propagation(RouteTableId=main, GatewayId=vgw)
        site = f"fort-{cid}"
        t1, t2 = f"{site}-t1", f"{site}-t2"
        assert until(lambda: {site, t1, t2} <= netns_list(), 30), fort.log_text()[-3000:]
        [doc] = [c["CustomerGatewayConfiguration"] for c in
                 ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]]
        gw = CustomerGateway(fort.onprem_ns, doc, COMPANY, "10.0.0.0/16", workdir, announce=[COMPANY])
        gw.up("tunnel1", "tunnel2")
        vgw_inside = {t["vgw_inside"] for t in gw.tunnels}
        assert until(lambda: gw.bgp_established() == vgw_inside, 60, step=0.2), gw.vtysh("show bgp summary")
        outside = [t["OutsideIpAddress"] for t in conn["Options"]["TunnelOptions"]]

        def telemetry_full():
            [c] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
            return [(t["OutsideIpAddress"], t["Status"], t["AcceptedRouteCount"]) for t in c["VgwTelemetry"]]

        def changed_since(n):
            [c] = ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]
            return c["VgwTelemetry"][n]["LastStatusChange"]

        all_up = [(outside[0], "UP", 1), (outside[1], "UP", 1)]
        assert until(lambda: telemetry_full() == all_up, 30), telemetry_full()
        assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 15), fort.log_text()[-3000:]
        assert until(lambda: ping_from(iid, COMPANY_HOST), 10)

        # -- Rekeying, from the edge and from the customer gateway, under a ping stream
        # both ways (10 s at 20 packets a second).
        edge1 = edge_uri(t1)
        before_edge = sa_ids(swanctl(edge1, "--list-sas"), "tunnel1")
        before_cgw = sa_ids(gw.swanctl("--list-sas"), "tunnel2")
        assert all(before_edge) and all(before_cgw), (before_edge, before_cgw)
        inbound = ping_stream(fort.onprem_ns, ip, COMPANY_HOST, 10)
        outbound = ping_stream(iid, COMPANY_HOST, ip, 10)
        streams += [inbound, outbound]
        time.sleep(1)
        swanctl(edge1, "--rekey", "--child", "tunnel1")
        time.sleep(1.5)
        swanctl(edge1, "--rekey", "--ike", "tunnel1")
        time.sleep(1.5)
        gw.swanctl("--rekey", "--child", "tunnel2")
        time.sleep(1.5)
        gw.swanctl("--rekey", "--ike", "tunnel2")
        gw.swanctl("--rekey", "--child", "tunnel1")
        (sent_in, got_in), (sent_out, got_out) = inbound.result(), outbound.result()
        print(f"rekeying under ping: company→instance {sent_in - got_in}/{sent_in} lost, "
              f"instance→company {sent_out - got_out}/{sent_out} lost")
        assert sent_in - got_in <= 3 and sent_out - got_out <= 3, (sent_in, got_in, sent_out, got_out)
        after_edge = sa_ids(swanctl(edge1, "--list-sas"), "tunnel1")
        after_cgw = sa_ids(gw.swanctl("--list-sas"), "tunnel2")
        # new IKE SPIs, and the installed CHILD_SAs' SPIs are all new
        assert after_edge[0] and after_edge[0] != before_edge[0], (before_edge, after_edge)
        assert after_edge[1] and not after_edge[1] & before_edge[1], (before_edge, after_edge)
        assert after_cgw[0] and after_cgw[0] != before_cgw[0], (before_cgw, after_cgw)
        assert after_cgw[1] and not after_cgw[1] & before_cgw[1], (before_cgw, after_cgw)
        # the BGP sessions and the learned route lived through it
        assert gw.bgp_established() == vgw_inside
        assert propagated(ec2, main) == {COMPANY: vgw}

        # -- tunnel 1's charon at the edge dies: restarted, the tunnel loaded again and
        # brought up again; DOWN meanwhile.
        old = edge_daemons(t1)
        [charon] = old["charon"]
        killed = datetime.datetime.now(datetime.timezone.utc)
        sh("kill", "-9", str(charon), check=True)
        took = until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST, wait=1)
                     and ping_from(iid, COMPANY_HOST, wait=1), 30, step=0.2)
        assert took is not None, (gw.swanctl("--list-sas"), fort.log_text()[-4000:])
        print(f"traffic back {took:.1f} s after tunnel 1's charon was killed")
        assert until(lambda: telemetry_full() == all_up and changed_since(0) > killed, 60), \
            (telemetry_full(), changed_since(0), killed)
        assert "charon died" in fort.log_text()
        now = edge_daemons(t1)
        assert len(now["charon"]) == 1 and now["charon"] != old["charon"], (old, now)
        assert now["bgpd"] == old["bgpd"], (old, now)
        assert not os.path.exists(f"/proc/{charon}")
        assert all(sa_ids(swanctl(edge_uri(t1), "--list-sas"), "tunnel1"))

        # -- both tunnels' bgpd die: restarted, the sessions come back and the company's
        # prefix returns to the table (and the traffic with it).
        old = {ns: edge_daemons(ns)["bgpd"] for ns in (t1, t2)}
        killed = datetime.datetime.now(datetime.timezone.utc)
        for pids in old.values():
            for pid in pids:
                sh("kill", "-9", str(pid), check=True)
        back = until(lambda: telemetry_full() == all_up and changed_since(0) > killed
                     and changed_since(1) > killed, 90, step=0.2)
        assert back is not None, (telemetry_full(), fort.log_text()[-4000:])
        print(f"both BGP sessions and their route back {back:.1f} s after the bgpds were killed")
        assert propagated(ec2, main) == {COMPANY: vgw}
        assert until(lambda: ping_from(iid, COMPANY_HOST), 10)
        assert ping_from(fort.onprem_ns, ip, COMPANY_HOST)
        assert "bgpd died" in fort.log_text()
        running = []
        for ns, pids in old.items():
            now = edge_daemons(ns)
            assert len(now["bgpd"]) == 1 and now["bgpd"] != pids, (ns, pids, now)
            assert len(now["charon"]) == 1
            running += now["bgpd"] + now["charon"]

        # Deleting the connection leaves nothing behind, restarted processes included.
        ec2.delete_vpn_connection(VpnConnectionId=cid)
        deleted.append(True)
        assert until(lambda: not {n for n in netns_list() if n.startswith(site)}, 20), netns_list()
        assert until(lambda: not [p for p in running if os.path.exists(f"/proc/{p}")], 10), running
    finally:
        for s in streams:
            s.kill()
        if gw:
            gw.close()
        shutil.rmtree(workdir, ignore_errors=True)
        w.close()


def test_a_transit_gateway_vpn_attachment_carries_traffic(fort, ec2):
    """A VPN connection ending at a transit gateway: its tunnels end at the edge as a
    virtual private gateway's do; what comes out of them enters the gateway (the table
    associated with the VPN attachment sends it to the VPC's attachment), and what the
    gateway's tables route to the VPN attachment goes into them. A static route to the
    attachment first; then a dynamic connection, whose BGP-learned prefix the gateway's
    table gets by propagation."""
    w = World(fort, ec2)
    gw = None
    workdir = tempfile.mkdtemp(prefix="fort-e2e-tgwvpn-")
    try:
        vpc = w.vpc("10.0.0.0/16")
        subnet = w.subnet(vpc, "10.0.1.0/24")
        sg = w.group(vpc, "from-company", ingress=[ALL_FROM(COMPANY)])
        iid, ip = w.launch(subnet, [sg])
        tgw = ec2.create_transit_gateway(Description="to the company")["TransitGateway"]["TransitGatewayId"]
        w.cleanups.append(lambda: ec2.delete_transit_gateway(TransitGatewayId=tgw))
        att = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet])[
            "TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        w.cleanups.append(lambda: ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att))
        [g] = ec2.describe_transit_gateways(TransitGatewayIds=[tgw])["TransitGateways"]
        table = g["Options"]["AssociationDefaultRouteTableId"]
        main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "association.main", "Values": ["true"]}])["RouteTables"][0]["RouteTableId"]
        ec2.create_route(RouteTableId=main, DestinationCidrBlock=COMPANY, TransitGatewayId=tgw)
        cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress=CGW_IP, BgpAsn=65030)["CustomerGateway"]["CustomerGatewayId"]
        w.cleanups.append(lambda: ec2.delete_customer_gateway(CustomerGatewayId=cgw))

        def tgw_routes():
            rs = ec2.search_transit_gateway_routes(
                TransitGatewayRouteTableId=table,
                Filters=[{"Name": "state", "Values": ["active"]}])["Routes"]
            return {r["DestinationCidrBlock"]: (r["Type"], [a["TransitGatewayAttachmentId"] for a in
                                                           r.get("TransitGatewayAttachments", [])])
                    for r in rs}

        for dynamic in (False, True):
            conn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, TransitGatewayId=tgw,
                                             Options={"StaticRoutesOnly": not dynamic})["VpnConnection"]
            cid = conn["VpnConnectionId"]
            deleted, undo = [], []
            w.cleanups.append(lambda cid=cid, deleted=deleted: deleted or ec2.delete_vpn_connection(VpnConnectionId=cid))
            [vatt] = [a["TransitGatewayAttachmentId"] for a in ec2.describe_transit_gateway_attachments(
                Filters=[{"Name": "resource-id", "Values": [cid]}])["TransitGatewayAttachments"]]
            if not dynamic:
                ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock=COMPANY,
                                                 TransitGatewayAttachmentId=vatt)
                undo.append(lambda: ec2.delete_transit_gateway_route(TransitGatewayRouteTableId=table,
                                                                     DestinationCidrBlock=COMPANY))
            site = f"fort-{cid}"
            assert until(lambda: {site, f"{site}-t1", f"{site}-t2"} <= netns_list(), 30), \
                f"no VPN site:\n{fort.log_text()[-3000:]}"
            [doc] = [c["CustomerGatewayConfiguration"] for c in
                     ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]]
            gw = CustomerGateway(fort.onprem_ns, doc, COMPANY, "10.0.0.0/16", workdir,
                                 announce=[COMPANY] if dynamic else None)
            gw.up("tunnel1", "tunnel2")
            outside = [t["OutsideIpAddress"] for t in conn["Options"]["TunnelOptions"]]
            assert until(lambda: telemetry(ec2, cid) == [(outside[0], "UP"), (outside[1], "UP")], 60), \
                (telemetry(ec2, cid), fort.log_text()[-3000:])
            if dynamic:
                assert until(lambda: tgw_routes().get(COMPANY) == ("propagated", [vatt]), 30), tgw_routes()
                # the company learned the VPC's block from the gateway's table
                assert "10.0.0.0/16" in gw.bgp_received()
            else:
                assert tgw_routes()[COMPANY] == ("static", [vatt]), tgw_routes()
            # Ping and TCP both ways through the gateway and the tunnels.
            assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 15), fort.log_text()[-3000:]
            assert until(lambda: ping_from(iid, COMPANY_HOST), 10)
            with TcpServer(iid, ip) as _:
                assert tcp_get(fort.onprem_ns, ip) == f"hello from {iid}\n"
            with TcpServer(fort.onprem_ns, COMPANY_HOST) as _:
                assert tcp_get(iid, COMPANY_HOST) == f"hello from {fort.onprem_ns}\n"
            # The gateway's table decides: without its route to the attachment, the
            # instance's packets to the company go nowhere.
            if not dynamic:
                undo.pop()()
                assert until(lambda: not ping_from(iid, COMPANY_HOST), 10)
            else:
                gw.withdraw(COMPANY)
                assert until(lambda: COMPANY not in tgw_routes(), 15), tgw_routes()
                assert until(lambda: not ping_from(iid, COMPANY_HOST), 10)
            for u in undo:
                u()
            gw.close()
            gw = None
            ec2.delete_vpn_connection(VpnConnectionId=cid)
            deleted.append(True)
            assert until(lambda: not {n for n in netns_list() if n.startswith(site)}, 20), netns_list()
    finally:
        if gw:
            gw.close()
        shutil.rmtree(workdir, ignore_errors=True)
        w.close()


def test_a_transit_gateway_vpn_attachment_reaches_every_vpc_its_table_routes_to(fort, ec2):
    """Two VPCs on one transit gateway with a VPN attachment: what comes out of the tunnels
    enters whichever VPC the attachment's table routes the destination to, through that
    VPC's attachment, so the attachment subnet's network ACL applies (AWS evaluates its
    outbound rules for traffic from the gateway into the VPC, its inbound rules for
    traffic toward the gateway). An ACL on one VPC's attachment subnet cuts that VPC
    alone."""
    w = World(fort, ec2)
    gw = None
    workdir = tempfile.mkdtemp(prefix="fort-e2e-tgwvpn2-")
    try:
        tgw = ec2.create_transit_gateway(Description="two VPCs and the company")["TransitGateway"][
            "TransitGatewayId"]
        w.cleanups.append(lambda: ec2.delete_transit_gateway(TransitGatewayId=tgw))
        vpcs = {}
        for name, block in (("a", "10.0"), ("b", "10.1")):
            vpc = w.vpc(f"{block}.0.0/16")
            subnet = w.subnet(vpc, f"{block}.1.0/24")
            # the attachment in a subnet of its own, so that its ACL is between
            attach_subnet = w.subnet(vpc, f"{block}.2.0/24")
            sg = w.group(vpc, "from-company", ingress=[ALL_FROM(COMPANY)])
            iid, ip = w.launch(subnet, [sg])
            att = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=vpc,
                                                            SubnetIds=[attach_subnet])[
                "TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
            w.cleanups.append(lambda att=att: ec2.delete_transit_gateway_vpc_attachment(
                TransitGatewayAttachmentId=att))
            main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                      {"Name": "association.main", "Values": ["true"]}])[
                "RouteTables"][0]["RouteTableId"]
            ec2.create_route(RouteTableId=main, DestinationCidrBlock=COMPANY, TransitGatewayId=tgw)
            vpcs[name] = (vpc, attach_subnet, iid, ip)
        [g] = ec2.describe_transit_gateways(TransitGatewayIds=[tgw])["TransitGateways"]
        table = g["Options"]["AssociationDefaultRouteTableId"]
        cgw = ec2.create_customer_gateway(Type="ipsec.1", IpAddress=CGW_IP, BgpAsn=65031)["CustomerGateway"][
            "CustomerGatewayId"]
        w.cleanups.append(lambda: ec2.delete_customer_gateway(CustomerGatewayId=cgw))
        conn = ec2.create_vpn_connection(Type="ipsec.1", CustomerGatewayId=cgw, TransitGatewayId=tgw,
                                         Options={"StaticRoutesOnly": True})["VpnConnection"]
        cid = conn["VpnConnectionId"]
        w.cleanups.append(lambda: ec2.delete_vpn_connection(VpnConnectionId=cid))
        [vatt] = [a["TransitGatewayAttachmentId"] for a in ec2.describe_transit_gateway_attachments(
            Filters=[{"Name": "resource-id", "Values": [cid]}])["TransitGatewayAttachments"]]
        ec2.create_transit_gateway_route(TransitGatewayRouteTableId=table, DestinationCidrBlock=COMPANY,
                                         TransitGatewayAttachmentId=vatt)
        site = f"fort-{cid}"
        assert until(lambda: {site, f"{site}-t1", f"{site}-t2"} <= netns_list(), 30), \
            f"no VPN site:\n{fort.log_text()[-3000:]}"
        [doc] = [c["CustomerGatewayConfiguration"] for c in
                 ec2.describe_vpn_connections(VpnConnectionIds=[cid])["VpnConnections"]]
        gw = CustomerGateway(fort.onprem_ns, doc, COMPANY, "10.0.0.0/15", workdir)
        gw.up("tunnel1", "tunnel2")
        outside = [t["OutsideIpAddress"] for t in conn["Options"]["TunnelOptions"]]
        assert until(lambda: telemetry(ec2, cid) == [(outside[0], "UP"), (outside[1], "UP")], 60), \
            (telemetry(ec2, cid), fort.log_text()[-3000:])
        # both VPCs, both ways, ping and TCP
        for name, (_, _, iid, ip) in vpcs.items():
            assert until(lambda: ping_from(fort.onprem_ns, ip, COMPANY_HOST), 15), \
                (name, fort.log_text()[-3000:])
            assert until(lambda: ping_from(iid, COMPANY_HOST), 10), name
            with TcpServer(iid, ip) as _:
                assert tcp_get(fort.onprem_ns, ip) == f"hello from {iid}\n"
            with TcpServer(fort.onprem_ns, COMPANY_HOST) as _:
                assert tcp_get(iid, COMPANY_HOST) == f"hello from {fort.onprem_ns}\n"
        # a new ACL (nothing allowed) on B's attachment subnet: B is cut both ways, A is not
        vpc_b, attach_b, iid_b, ip_b = vpcs["b"]
        acl = ec2.create_network_acl(VpcId=vpc_b)["NetworkAcl"]["NetworkAclId"]
        w.cleanups.append(lambda: ec2.delete_network_acl(NetworkAclId=acl))
        [default] = ec2.describe_network_acls(Filters=[
            {"Name": "vpc-id", "Values": [vpc_b]}, {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
        [assoc] = [x["NetworkAclAssociationId"] for x in default["Associations"] if x["SubnetId"] == attach_b]
        new = ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)["NewAssociationId"]
        assert until(lambda: not ping_from(fort.onprem_ns, ip_b, COMPANY_HOST), 10)
        assert not ping_from(iid_b, COMPANY_HOST)
        _, _, iid_a, ip_a = vpcs["a"]
        assert ping_from(fort.onprem_ns, ip_a, COMPANY_HOST)
        assert ping_from(iid_a, COMPANY_HOST)
        # its outbound rules judge what enters from the tunnels: allowing them alone
        # lets the company's pings in, and B's replies still go out by the instance's own
        # subnet to the gateway, whose inbound rules (nothing allowed) stop them
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                     Egress=True, CidrBlock="0.0.0.0/0")
        time.sleep(1)
        assert not ping_from(fort.onprem_ns, ip_b, COMPANY_HOST)
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                     Egress=False, CidrBlock="0.0.0.0/0")
        assert until(lambda: ping_from(fort.onprem_ns, ip_b, COMPANY_HOST), 10)
        ec2.replace_network_acl_association(AssociationId=new, NetworkAclId=default["NetworkAclId"])
    finally:
        if gw:
            gw.close()
        shutil.rmtree(workdir, ignore_errors=True)
        w.close()
