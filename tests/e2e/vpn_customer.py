"""The customer's side of a Site-to-Site VPN connection: turns the connection's customer
gateway configuration (AWS's generic XML, from DescribeVpnConnections) into a strongSwan
configuration, as customers do for their device, and runs strongSwan's charon with it in
the company network's namespace.

    python3 tests/e2e/vpn_customer.py CONFIG.xml --local 192.168.0.0/16 --remote 10.0.0.0/16 DIR
        writes DIR/swanctl.conf and DIR/strongswan.conf

    python3 tests/e2e/vpn_customer.py CONFIG.xml --local … --remote … --start fort-onprem DIR
        also starts charon in that namespace and brings both tunnels up

charon runs with a private /run (its pid file path is fixed, so two charons on one machine
need one each) and its vici socket in DIR; `swanctl --uri unix://DIR/charon.vici` talks
to it. The kernel here has no ESP: the kernel-libipsec plugin does ESP in user space.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

CHARON = "/usr/lib/ipsec/charon"

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


def swanctl_conf(document, local, remote, version=2):
    """swanctl.conf for the customer gateway: both tunnels, `local` (the company's
    networks) to `remote` (the VPC's) through each; dead peers are found by DPD."""
    conns, secrets = [], []
    for n, t in enumerate(tunnels(document), start=1):
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
        local_ts = {local}
        remote_ts = {remote}
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

    def __init__(self, ns, document, local, remote, directory):
        self.ns, self.dir = ns, directory
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
        self.swanctl("--load-all", "--file", os.path.join(directory, "swanctl.conf"))

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
    p.add_argument("--start", metavar="NAMESPACE", help="start charon in this namespace and bring the tunnels up")
    p.add_argument("dir", help="where the configuration (and charon's socket and log) go")
    a = p.parse_args()
    document = sys.stdin.read() if a.config == "-" else open(a.config).read()
    if not a.start:
        os.makedirs(a.dir, exist_ok=True)
        with open(os.path.join(a.dir, "swanctl.conf"), "w") as f:
            f.write(swanctl_conf(document, a.local, a.remote))
        with open(os.path.join(a.dir, "strongswan.conf"), "w") as f:
            f.write(strongswan_conf(os.path.abspath(a.dir)))
        return
    gw = CustomerGateway(a.start, document, a.local, a.remote, os.path.abspath(a.dir))
    gw.up()
    print(f"tunnels up: {sorted(gw.established())}; charon pid {gw.proc.pid}; "
          f"swanctl --list-sas --uri {gw.uri}")


if __name__ == "__main__":
    main()
