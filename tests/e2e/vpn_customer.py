"""The customer's side of a Site-to-Site VPN connection: turns the connection's customer
gateway configuration (AWS's generic XML, from DescribeVpnConnections) into a strongSwan
configuration (and, for a dynamic connection, an FRR bgpd one), as customers do for their
device, and runs strongSwan's charon (and bgpd) with it in the company network's namespace.

    python3 tests/e2e/vpn_customer.py CONFIG.xml --local 192.168.0.0/16 --remote 10.0.0.0/16 DIR
        writes DIR/swanctl.conf and DIR/strongswan.conf (and DIR/bgpd.conf when the
        document has BGP sections: a dynamic connection)

    python3 tests/e2e/vpn_customer.py CONFIG.xml --local … --remote … --start fort-onprem DIR
        also starts charon (and bgpd, announcing --announce PREFIX, by default --local)
        in that namespace and brings both tunnels up

charon runs with a private /run (its pid file path is fixed, so two charons on one machine
need one each) and its vici socket in DIR; `swanctl --uri unix://DIR/charon.vici` talks
to it. The kernel here has no ESP: the kernel-libipsec plugin does ESP in user space,
through one TUN for both tunnels, where among SAs of equal selectors the newest wins.
So that each BGP session stays in its own tunnel, a dynamic connection's tunnels carry
the company's and the VPC's networks and their own inside addresses (a route-based
device with a tunnel interface each, VTI, would not need that). bgpd runs without zebra
(nothing enters the kernel: charon routes the VPC's networks into the TUN) and its vty
socket is in DIR: `vtysh --vty_socket DIR -c 'show bgp summary'`.
"""

import argparse
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

CHARON = "/usr/lib/ipsec/charon"
BGPD = "/usr/lib/frr/bgpd"
# a dynamic connection's routes on the company side, ahead of charon's table 220
COMPANY_TABLE, COMPANY_RULE = 221, 210

ENCRYPTION = {"aes-128-cbc": "aes128", "aes-256-cbc": "aes256",
              "aes-128-gcm-16": "aes128gcm16", "aes-256-gcm-16": "aes256gcm16"}
INTEGRITY = {"sha1": "sha1", "sha2-256": "sha256", "sha2-384": "sha384", "sha2-512": "sha512",
             "hmac-sha1-96": "sha1", "hmac-sha2-256-128": "sha256",
             "hmac-sha2-384-192": "sha384", "hmac-sha2-512-256": "sha512"}
GROUPS = {2: "modp1024", 5: "modp1536", 14: "modp2048", 15: "modp3072", 16: "modp4096",
          17: "modp6144", 18: "modp8192", 19: "ecp256", 20: "ecp384", 21: "ecp521",
          22: "modp1024s160", 23: "modp2048s224", 24: "modp2048s256"}


def tunnels(document):
    """Each <ipsec_tunnel> of the document as a dict."""
    root = ET.fromstring(document)
    out = []
    for t in root.findall("ipsec_tunnel"):
        def text(path):
            v = t.findtext(path)
            if v is None:
                raise ValueError(f"the configuration has no {path}")
            return v.strip()
        out.append({
            "cgw_outside": text("customer_gateway/tunnel_outside_address/ip_address"),
            "vgw_outside": text("vpn_gateway/tunnel_outside_address/ip_address"),
            "cgw_inside": text("customer_gateway/tunnel_inside_address/ip_address"),
            "vgw_inside": text("vpn_gateway/tunnel_inside_address/ip_address"),
            "key": text("ike/pre_shared_key"),
            "ike_enc": text("ike/encryption_protocol"),
            "ike_auth": text("ike/authentication_protocol"),
            "ike_group": int(text("ike/perfect_forward_secrecy").removeprefix("group")),
            "ike_lifetime": int(text("ike/lifetime")),
            "esp_enc": text("ipsec/encryption_protocol"),
            "esp_auth": text("ipsec/authentication_protocol"),
            "esp_group": int(text("ipsec/perfect_forward_secrecy").removeprefix("group")),
            "esp_lifetime": int(text("ipsec/lifetime")),
            "dpd_delay": int(text("ipsec/dead_peer_detection/delay")),
            "dpd_retries": int(text("ipsec/dead_peer_detection/retries")),
            # a dynamic connection's BGP: both sides' ASNs and the hold time
            "cgw_asn": t.findtext("customer_gateway/bgp/asn"),
            "vgw_asn": t.findtext("vpn_gateway/bgp/asn"),
            "hold_time": int(t.findtext("vpn_gateway/bgp/hold_time") or 30),
        })
    if len(out) != 2:
        raise ValueError(f"a VPN connection has two tunnels, the configuration {len(out)}")
    return out


def proposal(enc, auth, group, ike):
    e = ENCRYPTION[enc]
    g = GROUPS[group]
    if "gcm" in e:
        return f"{e}-prf{INTEGRITY[auth]}-{g}" if ike else f"{e}-{g}"
    return f"{e}-{INTEGRITY[auth]}-{g}"


def is_dynamic(document):
    """Whether the document configures BGP (a dynamic connection)."""
    return all(t["cgw_asn"] and t["vgw_asn"] for t in tunnels(document))


def swanctl_conf(document, local, remote, version=2):
    """swanctl.conf for the customer gateway: both tunnels, `local` (the company's
    networks) to `remote` (the VPC's) through each, and on a dynamic connection each
    tunnel's inside addresses too (its BGP session); dead peers are found by DPD."""
    conns, secrets = [], []
    dynamic = is_dynamic(document)
    for n, t in enumerate(tunnels(document), start=1):
        local_ts = f"{local},{t['cgw_inside']}/32" if dynamic else local
        remote_ts = f"{remote},{t['vgw_inside']}/32" if dynamic else remote
        conns.append(f"""  tunnel{n} {{
    version = {version}
    local_addrs = {t['cgw_outside']}
    remote_addrs = {t['vgw_outside']}
    proposals = {proposal(t['ike_enc'], t['ike_auth'], t['ike_group'], True)}
    rekey_time = {t['ike_lifetime']}s
    dpd_delay = {t['dpd_delay']}s
    mobike = no
    local {{
      auth = psk
      id = {t['cgw_outside']}
    }}
    remote {{
      auth = psk
      id = {t['vgw_outside']}
    }}
    children {{
      tunnel{n} {{
        local_ts = {local_ts}
        remote_ts = {remote_ts}
        esp_proposals = {proposal(t['esp_enc'], t['esp_auth'], t['esp_group'], False)}
        life_time = {t['esp_lifetime']}s
        dpd_action = restart
        start_action = none
      }}
    }}
  }}""")
        secrets.append(f"""  ike-tunnel{n} {{
    id-1 = {t['cgw_outside']}
    id-2 = {t['vgw_outside']}
    secret = "{t['key']}"
  }}""")
    return "connections {\n" + "\n".join(conns) + "\n}\nsecrets {\n" + "\n".join(secrets) + "\n}\n"


def bgpd_conf(document, announce, directory):
    """bgpd.conf for the customer gateway: a session per tunnel from its inside address
    to the virtual private gateway's, with the document's ASNs and hold time (keepalives
    a third of it), announcing the prefixes `announce`."""
    return bgpd_conf_from(tunnels(document), announce, directory)


def bgpd_conf_from(ts, announce, directory):
    lines = ["frr defaults traditional", "hostname company",
             f"log file {directory}/bgpd.log informational", "!",
             f"router bgp {ts[0]['cgw_asn']}",
             f" bgp router-id {ts[0]['cgw_inside']}",
             " no bgp ebgp-requires-policy",
             " no bgp network import-check"]
    for t in ts:
        peer = t["vgw_inside"]
        lines += [f" neighbor {peer} remote-as {t['vgw_asn']}",
                  f" neighbor {peer} update-source {t['cgw_inside']}",
                  f" neighbor {peer} timers {max(t['hold_time'] // 3, 1)} {t['hold_time']}",
                  f" neighbor {peer} advertisement-interval 0"]
    lines.append(" address-family ipv4 unicast")
    lines += [f"  network {p}" for p in announce]
    lines += [" exit-address-family", ""]
    return "\n".join(lines)


def strongswan_conf(directory, retransmit_timeout=5):
    """charon's settings: kernel-libipsec before kernel-netlink, the vici socket and the
    log (charon's standard error) in `directory`; DPD finds a dead peer after four tries `retransmit_timeout` apart."""
    return f"""charon {{
  load = random nonce openssl aes sha1 sha2 hmac gcm pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici
  retransmit_tries = 3
  retransmit_timeout = {retransmit_timeout}
  retransmit_base = 1
  filelog {{
    stderr {{
      default = 1
      time_format = %T
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{directory}/charon.vici
    }}
  }}
}}
"""


class CustomerGateway:
    """charon in the company namespace `ns`, configured from `document`."""

    def __init__(self, ns, document, local, remote, directory, announce=None):
        self.ns, self.dir = ns, directory
        self.bgpd, self.inside, self.routed = None, [], False
        self.tunnels = tunnels(document)
        self.dynamic = is_dynamic(document)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "swanctl.conf"), "w") as f:
            f.write(swanctl_conf(document, local, remote))
        with open(os.path.join(directory, "strongswan.conf"), "w") as f:
            f.write(strongswan_conf(directory))
        self.uri = f"unix://{directory}/charon.vici"
        env = dict(os.environ, STRONGSWAN_CONF=os.path.join(directory, "strongswan.conf"))
        log = open(os.path.join(directory, "charon.log"), "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
             "sh", "-c", f"mount -t tmpfs fort-onprem /run && exec {CHARON}"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        deadline = time.time() + 10
        while not os.path.exists(os.path.join(directory, "charon.vici")):
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"charon did not start in {ns}; see {directory}/charon.log")
            time.sleep(0.05)
        # the socket's file is there from bind(), a moment before charon listens (longer
        # on a loaded machine: up to 10 s)
        for attempt in range(100):
            try:
                self.swanctl("--load-all", "--file", os.path.join(directory, "swanctl.conf"))
                break
            except RuntimeError as e:
                if attempt == 99 or "connecting to" not in str(e):
                    self.close()
                    raise
                time.sleep(0.1)
        if self.dynamic:
            try:
                self.start_bgpd(announce if announce is not None else [local], local, remote)
            except Exception:
                self.close()
                raise

    def start_bgpd(self, announce, local, remote):
        """The company's inside addresses on its `lo`, its routes into the tunnels
        (table 221, ahead of charon's: the VPC's networks from the company's first
        address, each BGP peer from the tunnel's inside address; charon would pick any
        address of the selectors), and bgpd announcing `announce`."""
        def ip(*args, check=True):
            return subprocess.run(["ip", "-n", self.ns, *args], check=check, capture_output=True)
        for t in self.tunnels:
            ip("addr", "replace", f"{t['cgw_inside']}/32", "dev", "lo")
            self.inside.append(t["cgw_inside"])
        self.routed = True
        ip("rule", "add", "pref", str(COMPANY_RULE), "lookup", str(COMPANY_TABLE))
        first = str(ipaddress.ip_network(local)[1])
        deadline = time.time() + 10
        while ip("link", "show", "dev", "ipsec0", check=False).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("charon made no ipsec0")
            time.sleep(0.05)
        ip("route", "replace", remote, "dev", "ipsec0", "src", first, "table", str(COMPANY_TABLE))
        for t in self.tunnels:
            ip("route", "replace", f"{t['vgw_inside']}/32", "dev", "ipsec0", "src", t["cgw_inside"],
               "table", str(COMPANY_TABLE))
        conf = os.path.join(self.dir, "bgpd.conf")
        with open(conf, "w") as f:
            f.write(bgpd_conf_from(self.tunnels, announce, self.dir))
        log = open(os.path.join(self.dir, "bgpd.out"), "w")
        self.bgpd = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, BGPD, "-Z", "-S", "-f", conf,
             "-i", os.path.join(self.dir, "bgpd.pid"), "--vty_socket", self.dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.time() + 10
        while not os.path.exists(os.path.join(self.dir, "bgpd.vty")):
            if time.time() > deadline or self.bgpd.poll() is not None:
                raise RuntimeError(f"bgpd did not start in {self.ns}; see {self.dir}/bgpd.out")
            time.sleep(0.05)

    def vtysh(self, *commands, timeout=10):
        """Runs vtysh commands against the company's bgpd (configuration ones too:
        `vtysh("conf t", "router bgp 65000", ...)`)."""
        args = ["vtysh", "--vty_socket", self.dir, "-d", "bgpd"]
        for c in commands:
            args += ["-c", c]
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"vtysh {commands}: {r.stdout}{r.stderr}")
        return r.stdout

    def bgp_established(self):
        """The virtual private gateway's inside addresses whose session is established."""
        peers = json.loads(self.vtysh("show bgp ipv4 unicast summary json")).get("peers", {})
        return {p for p, v in peers.items() if v.get("state") == "Established"}

    def bgp_received(self):
        """The prefixes the company's bgpd learned (the VPC's blocks)."""
        return set(json.loads(self.vtysh("show bgp ipv4 unicast json")).get("routes", {}))

    def _bgp(self, *commands):
        self.vtysh("configure terminal", f"router bgp {self.tunnels[0]['cgw_asn']}", *commands)

    def announce(self, prefix):
        self._bgp("address-family ipv4 unicast", f"network {prefix}")

    def withdraw(self, prefix):
        self._bgp("address-family ipv4 unicast", f"no network {prefix}")

    def shutdown(self, tunnel, down=True):
        """Shuts down (or brings back) tunnel `tunnel`'s (1 or 2) BGP session."""
        peer = self.tunnels[tunnel - 1]["vgw_inside"]
        self._bgp(f"{'' if down else 'no '}neighbor {peer} shutdown")

    def swanctl(self, *args, timeout=30):
        r = subprocess.run(["swanctl", *args, "--uri", self.uri], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"swanctl {' '.join(args)}: {r.stdout}{r.stderr}")
        return r.stdout

    def up(self, *names, attempts=5):
        """Brings tunnels up, in this order (the last one up carries the traffic), trying
        again while the peer does not answer yet (as a device keeps trying)."""
        for name in names or ("tunnel2", "tunnel1"):
            for attempt in range(attempts):
                try:
                    self.swanctl("--initiate", "--child", name, timeout=60)
                    break
                except RuntimeError:
                    if attempt == attempts - 1:
                        raise
                    time.sleep(1)

    def established(self):
        """The tunnels whose IKE SA is established with a CHILD_SA installed."""
        out = self.swanctl("--list-sas")
        up, current = set(), None
        for line in out.splitlines():
            if not line.startswith(" ") and ":" in line:
                current = line.split(":")[0] if "ESTABLISHED" in line else None
            elif current and "INSTALLED" in line:
                up.add(current)
        return up

    def close(self):
        if self.bgpd and self.bgpd.poll() is None:
            os.killpg(self.bgpd.pid, signal.SIGTERM)
            try:
                self.bgpd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.bgpd.pid, signal.SIGKILL)
                self.bgpd.wait()
        for a in self.inside:
            subprocess.run(["ip", "-n", self.ns, "addr", "del", f"{a}/32", "dev", "lo"], capture_output=True)
        self.inside = []
        if self.routed:
            subprocess.run(["ip", "-n", self.ns, "rule", "del", "pref", str(COMPANY_RULE)], capture_output=True)
            subprocess.run(["ip", "-n", self.ns, "route", "flush", "table", str(COMPANY_TABLE)], capture_output=True)
            self.routed = False
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="the CustomerGatewayConfiguration XML ('-' for stdin)")
    p.add_argument("--local", required=True, help="the company's networks (traffic selector)")
    p.add_argument("--remote", required=True, help="the VPC's networks (traffic selector)")
    p.add_argument("--announce", action="append", metavar="PREFIX",
                   help="a prefix the company's bgpd announces (a dynamic connection; default --local)")
    p.add_argument("--start", metavar="NAMESPACE", help="start charon (and bgpd) in this namespace and bring the tunnels up")
    p.add_argument("dir", help="where the configuration (and charon's socket and log) go")
    a = p.parse_args()
    document = sys.stdin.read() if a.config == "-" else open(a.config).read()
    if not a.start:
        os.makedirs(a.dir, exist_ok=True)
        with open(os.path.join(a.dir, "swanctl.conf"), "w") as f:
            f.write(swanctl_conf(document, a.local, a.remote))
        with open(os.path.join(a.dir, "strongswan.conf"), "w") as f:
            f.write(strongswan_conf(os.path.abspath(a.dir)))
        if is_dynamic(document):
            with open(os.path.join(a.dir, "bgpd.conf"), "w") as f:
                f.write(bgpd_conf(document, a.announce or [a.local], os.path.abspath(a.dir)))
        return
    gw = CustomerGateway(a.start, document, a.local, a.remote, os.path.abspath(a.dir), a.announce)
    gw.up()
    print(f"tunnels up: {sorted(gw.established())}; charon pid {gw.proc.pid}; "
          f"swanctl --list-sas --uri {gw.uri}")
    if gw.bgpd:
        print(f"bgpd pid {gw.bgpd.pid}: vtysh --vty_socket {gw.dir} -c 'show bgp summary'")


if __name__ == "__main__":
    main()
