//! BGP for dynamic VPN connections: FRR's bgpd, one per connection, in the connection's
//! site namespace. It peers over each tunnel with the customer gateway's inside address
//! (the AWS side is the inside /30's first host, the customer's the second), as the
//! virtual private gateway's ASN with the customer gateway's, with AWS's timers
//! (keepalive 10 s, hold 30 s); it advertises the VPC's blocks and learns the company's
//! prefixes (at most 100 per session, AWS's quota: more and the session goes down).
//!
//! bgpd runs without zebra (`-Z`): its routes never enter a kernel table. The edge reads
//! them back through vtysh on bgpd's own vty socket (the sessions and each prefix's
//! paths, as JSON) and routes the site itself ([`crate::vpn`]), reports them to the
//! server, where they become the connection's propagated routes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use fort_edge::program::VpnConnectionItem;
use ipnet::Ipv4Net;

/// bgpd as Debian installs it (package frr).
pub const BGPD: &str = "/usr/lib/frr/bgpd";
/// FRR's shell, which talks to bgpd over its vty socket.
pub const VTYSH: &str = "/usr/bin/vtysh";
/// AWS's BGP timers on a VPN tunnel: keepalive and hold time, in seconds.
pub const KEEPALIVE: u32 = 10;
pub const HOLD_TIME: u32 = 30;
/// AWS's quota of prefixes a customer gateway may advertise over one session.
pub const MAX_PREFIXES: u32 = 100;

/// The AWS side's and the customer side's addresses inside a tunnel's /30.
pub fn inside_addresses(inside: Ipv4Net) -> (Ipv4Addr, Ipv4Addr) {
    let base = u32::from(inside.network());
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

/// bgpd's configuration for connection `item`: a neighbour per tunnel, the VPC's
/// blocks advertised (`no bgp network import-check`: without zebra there is no table
/// to find them in), the log in `log`.
pub fn bgpd_conf(item: &VpnConnectionItem, hostname: &str, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "frr defaults traditional");
    let _ = writeln!(c, "hostname {hostname}");
    let _ = writeln!(c, "log file {} informational", log.display());
    let _ = writeln!(c, "!");
    let _ = writeln!(c, "router bgp {}", item.amazon_asn);
    if let Some(t) = item.tunnels.first() {
        let _ = writeln!(c, " bgp router-id {}", inside_addresses(t.inside_cidr).0);
    }
    let _ = writeln!(c, " no bgp ebgp-requires-policy");
    let _ = writeln!(c, " no bgp network import-check");
    let _ = writeln!(c, " timers bgp {KEEPALIVE} {HOLD_TIME}");
    for t in &item.tunnels {
        let (_, peer) = inside_addresses(t.inside_cidr);
        let _ = writeln!(c, " neighbor {peer} remote-as {}", item.customer_asn);
        let _ = writeln!(c, " neighbor {peer} timers {KEEPALIVE} {HOLD_TIME}");
        let _ = writeln!(c, " neighbor {peer} advertisement-interval 0");
    }
    let _ = writeln!(c, " address-family ipv4 unicast");
    for block in &item.cidrs {
        let _ = writeln!(c, "  network {block}");
    }
    for t in &item.tunnels {
        let (_, peer) = inside_addresses(t.inside_cidr);
        let _ = writeln!(c, "  neighbor {peer} maximum-prefix {MAX_PREFIXES}");
    }
    let _ = writeln!(c, " exit-address-family");
    c
}

/// What bgpd knows: the peers whose session is established, the prefixes each peer's
/// valid paths carry, and each prefix's best path's peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BgpState {
    pub established: BTreeSet<Ipv4Addr>,
    pub received: BTreeMap<Ipv4Addr, Vec<Ipv4Net>>,
    pub best: BTreeMap<Ipv4Net, Ipv4Addr>,
}

/// Reads vtysh's answers to `show bgp ipv4 unicast summary json` and `show bgp ipv4
/// unicast json` (two JSON documents, one after the other).
pub fn parse_state(text: &str) -> anyhow::Result<BgpState> {
    let mut state = BgpState::default();
    let mut seen = 0;
    for doc in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let doc = doc.context("vtysh's JSON")?;
        seen += 1;
        if let Some(peers) = doc.pointer("/ipv4Unicast/peers").and_then(|p| p.as_object()) {
            for (peer, p) in peers {
                if p.get("state").and_then(|s| s.as_str()) == Some("Established")
                    && let Ok(peer) = peer.parse()
                {
                    state.established.insert(peer);
                }
            }
        }
        if let Some(routes) = doc.get("routes").and_then(|r| r.as_object()) {
            for (prefix, paths) in routes {
                let Ok(prefix) = prefix.parse::<Ipv4Net>() else {
                    continue;
                };
                for path in paths.as_array().into_iter().flatten() {
                    let valid = path.get("valid").and_then(|v| v.as_bool()) == Some(true);
                    // the VPC's own blocks have no peer ("(unspec)")
                    let Some(peer) = path
                        .get("peerId")
                        .and_then(|p| p.as_str())
                        .and_then(|p| p.parse::<Ipv4Addr>().ok())
                    else {
                        continue;
                    };
                    if !valid {
                        continue;
                    }
                    state.received.entry(peer).or_default().push(prefix);
                    if path.get("bestpath").and_then(|b| b.as_bool()) == Some(true) {
                        state.best.insert(prefix, peer);
                    }
                }
            }
        }
    }
    if seen < 2 {
        anyhow::bail!("vtysh answered {seen} of 2 documents");
    }
    for prefixes in state.received.values_mut() {
        prefixes.sort();
        prefixes.dedup();
    }
    Ok(state)
}

/// A running bgpd.
pub struct Bgpd {
    dir: PathBuf,
    child: Child,
}

impl Bgpd {
    /// Writes the configuration into `dir` and starts bgpd in namespace `ns`, its vty
    /// socket and pid file in `dir` too (several run side by side, none in /run/frr).
    pub fn start(item: &VpnConnectionItem, ns: &str, dir: &Path) -> anyhow::Result<Bgpd> {
        if !Path::new(BGPD).exists() {
            anyhow::bail!("{BGPD} is missing: install frr (dynamic VPN connections need BGP)");
        }
        std::fs::create_dir_all(dir)?;
        let conf = dir.join("bgpd.conf");
        std::fs::write(&conf, bgpd_conf(item, ns, &dir.join("bgpd.log")))?;
        let out = std::fs::File::create(dir.join("bgpd.out"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BGPD, "-Z", "-S"])
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("bgpd.pid"))
            .arg("--vty_socket")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting bgpd")?;
        Ok(Bgpd {
            dir: dir.to_owned(),
            child,
        })
    }

    /// The sessions and paths, through vtysh.
    pub fn state(&self) -> anyhow::Result<BgpState> {
        let out = Command::new(VTYSH)
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-d", "bgpd"])
            .args(["-c", "show bgp ipv4 unicast summary json"])
            .args(["-c", "show bgp ipv4 unicast json"])
            .stdin(Stdio::null())
            .output()
            .context("running vtysh")?;
        if !out.status.success() {
            anyhow::bail!(
                "vtysh: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse_state(&String::from_utf8_lossy(&out.stdout))
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sessions_and_best_paths() {
        let summary = r#"{"ipv4Unicast":{"routerId":"169.254.10.1","as":64512,"peers":{
            "169.254.10.2":{"remoteAs":65000,"state":"Established","pfxRcd":2},
            "169.254.20.2":{"remoteAs":65000,"state":"Active","pfxRcd":0}}}}"#;
        let routes = r#"{"vrfId":0,"routerId":"169.254.10.1","routes":{
            "10.0.0.0/16":[{"valid":true,"bestpath":true,"peerId":"(unspec)","path":""}],
            "192.168.0.0/16":[{"valid":true,"peerId":"169.254.20.2","path":"65000 65000"},
                              {"valid":true,"bestpath":true,"peerId":"169.254.10.2","path":"65000"}],
            "192.168.9.0/24":[{"valid":true,"bestpath":true,"peerId":"169.254.10.2","path":"65000"}],
            "172.16.0.0/12":[{"peerId":"169.254.10.2","path":"65000"}]
        }}"#;
        let s = parse_state(&format!("{summary}\n{routes}\n")).unwrap();
        let a: Ipv4Addr = "169.254.10.2".parse().unwrap();
        let b: Ipv4Addr = "169.254.20.2".parse().unwrap();
        assert_eq!(s.established, BTreeSet::from([a]));
        assert_eq!(
            s.received[&a],
            vec![
                "192.168.0.0/16".parse::<Ipv4Net>().unwrap(),
                "192.168.9.0/24".parse().unwrap()
            ]
        );
        assert_eq!(s.received[&b], vec!["192.168.0.0/16".parse().unwrap()]);
        assert_eq!(s.best.len(), 2);
        assert_eq!(s.best[&"192.168.0.0/16".parse().unwrap()], a);
        assert!(parse_state(summary).is_err());
        assert!(parse_state("% Unknown command").is_err());
    }

    #[test]
    fn configures_a_neighbour_per_tunnel() {
        let mut item = crate::vpn::tests::item();
        item.static_routes_only = false;
        let c = bgpd_conf(&item, "fort-vpn-1", Path::new("/tmp/x/bgpd.log"));
        assert!(c.contains("router bgp 64512\n"), "{c}");
        assert!(c.contains(" neighbor 169.254.10.2 remote-as 65000\n"), "{c}");
        assert!(c.contains(" neighbor 169.254.20.2 timers 10 30\n"), "{c}");
        assert!(c.contains("  network 10.0.0.0/16\n"), "{c}");
        assert!(c.contains("  neighbor 169.254.20.2 maximum-prefix 100\n"), "{c}");
    }
}
