//! BGP for dynamic VPN connections: FRR's bgpd, one per tunnel, in the tunnel's
//! namespace, beside its charon. It peers through the tunnel with the customer gateway's
//! inside address (the AWS side is the inside /30's first host, the customer's the
//! second), as the virtual private gateway's ASN with the customer gateway's, with AWS's
//! timers (keepalive 10 s, hold 30 s); it advertises the VPC's blocks and learns the
//! company's prefixes (at most 100 per session, AWS's quota: more and the session goes
//! down). One bgpd per tunnel, not one per connection, because kernel-libipsec wants
//! the AWS side's inside address local where the tunnel is (it routes a CHILD_SA only
//! from a local address of its selectors).
//!
//! bgpd runs without zebra (`-Z`): its routes never enter a kernel table. The edge reads
//! them back through vtysh on bgpd's own vty socket (the session and the paths, as
//! JSON), chooses a tunnel per prefix ([`choose`]) and routes the site itself
//! ([`crate::vpn`]), and reports them to the server, where they become the connection's
//! propagated routes.

use std::collections::BTreeMap;
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

/// bgpd's configuration for tunnel `n` of connection `item`: one neighbour, the VPC's
/// blocks advertised (`no bgp network import-check`: without zebra there is no table
/// to find them in), the log in `log`.
pub fn bgpd_conf(item: &VpnConnectionItem, n: usize, hostname: &str, log: &Path) -> String {
    let (aws, peer) = inside_addresses(item.tunnels[n].inside_cidr);
    let mut c = String::new();
    let _ = writeln!(c, "frr defaults traditional");
    let _ = writeln!(c, "hostname {hostname}");
    let _ = writeln!(c, "log file {} informational", log.display());
    let _ = writeln!(c, "!");
    let _ = writeln!(c, "router bgp {}", item.amazon_asn);
    let _ = writeln!(c, " bgp router-id {aws}");
    let _ = writeln!(c, " no bgp ebgp-requires-policy");
    let _ = writeln!(c, " no bgp network import-check");
    let _ = writeln!(c, " timers bgp {KEEPALIVE} {HOLD_TIME}");
    let _ = writeln!(c, " neighbor {peer} remote-as {}", item.customer_asn);
    let _ = writeln!(c, " neighbor {peer} update-source {aws}");
    let _ = writeln!(c, " neighbor {peer} timers {KEEPALIVE} {HOLD_TIME}");
    let _ = writeln!(c, " neighbor {peer} advertisement-interval 0");
    let _ = writeln!(c, " address-family ipv4 unicast");
    for block in &item.cidrs {
        let _ = writeln!(c, "  network {block}");
    }
    let _ = writeln!(c, "  neighbor {peer} maximum-prefix {MAX_PREFIXES}");
    let _ = writeln!(c, " exit-address-family");
    c
}

/// A path the customer gateway advertised: what AWS compares between tunnels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathAttrs {
    pub prefix: Ipv4Net,
    pub as_path_len: usize,
    pub med: u32,
}

/// What one bgpd knows: whether its session is established (and since when, in
/// seconds of the epoch), and the valid paths the customer gateway sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BgpState {
    pub established: bool,
    pub since: u64,
    pub paths: Vec<PathAttrs>,
}

impl BgpState {
    pub fn prefixes(&self) -> Vec<Ipv4Net> {
        let mut p: Vec<Ipv4Net> = self.paths.iter().map(|p| p.prefix).collect();
        p.sort();
        p.dedup();
        p
    }
}

/// Reads vtysh's answers to `show bgp ipv4 unicast summary json` and `show bgp ipv4
/// unicast json` (two JSON documents, one after the other).
pub fn parse_state(text: &str) -> anyhow::Result<BgpState> {
    let mut state = BgpState::default();
    let mut seen = 0;
    for doc in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let doc = doc.context("vtysh's JSON")?;
        seen += 1;
        // `show bgp ipv4 unicast summary json` has them at the top, `show bgp summary
        // json` by address family
        let peers = doc
            .get("peers")
            .or_else(|| doc.pointer("/ipv4Unicast/peers"));
        if let Some(peers) = peers.and_then(|p| p.as_object()) {
            for p in peers.values() {
                if p.get("state").and_then(|s| s.as_str()) == Some("Established") {
                    state.established = true;
                    state.since = p
                        .get("peerUptimeEstablishedEpoch")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0);
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
                    let from_peer = path
                        .get("peerId")
                        .and_then(|p| p.as_str())
                        .is_some_and(|p| p.parse::<Ipv4Addr>().is_ok());
                    if !valid || !from_peer {
                        continue;
                    }
                    let as_path = path.get("path").and_then(|p| p.as_str()).unwrap_or("");
                    state.paths.push(PathAttrs {
                        prefix,
                        as_path_len: as_path.split_whitespace().count(),
                        med: path
                            .get("metric")
                            .and_then(serde_json::Value::as_u64)
                            .and_then(|m| u32::try_from(m).ok())
                            .unwrap_or(0),
                    });
                }
            }
        }
    }
    if seen < 2 {
        anyhow::bail!("vtysh answered {seen} of 2 documents");
    }
    Ok(state)
}

/// The tunnel each prefix goes through, among the tunnels that are up (IPsec and BGP):
/// as AWS's virtual private gateway prefers among a connection's BGP paths, the
/// shortest AS path, then the lowest MED; then (AWS does not say) the session up
/// longest, then the first tunnel, so that traffic does not move back and forth.
pub fn choose(tunnels: &[Option<&BgpState>]) -> BTreeMap<Ipv4Net, usize> {
    // (AS path length, MED, established since, tunnel): the least wins
    type Rank = (usize, u32, u64, usize);
    let mut best: BTreeMap<Ipv4Net, (Rank, usize)> = BTreeMap::new();
    for (n, t) in tunnels.iter().enumerate() {
        let Some(t) = t.filter(|t| t.established) else {
            continue;
        };
        for p in &t.paths {
            let rank = (p.as_path_len, p.med, t.since, n);
            let e = best.entry(p.prefix).or_insert((rank, n));
            if rank < e.0 {
                *e = (rank, n);
            }
        }
    }
    best.into_iter().map(|(p, (_, n))| (p, n)).collect()
}

/// A running bgpd.
pub struct Bgpd {
    dir: PathBuf,
    child: Child,
}

impl Bgpd {
    /// Writes tunnel `n`'s configuration into `dir` and starts bgpd in namespace `ns`,
    /// its vty socket and pid file in `dir` too (several run side by side, none in
    /// /run/frr).
    pub fn start(item: &VpnConnectionItem, n: usize, ns: &str, dir: &Path) -> anyhow::Result<Bgpd> {
        if !Path::new(BGPD).exists() {
            anyhow::bail!("{BGPD} is missing: install frr (dynamic VPN connections need BGP)");
        }
        std::fs::create_dir_all(dir)?;
        let conf = dir.join("bgpd.conf");
        std::fs::write(&conf, bgpd_conf(item, n, ns, &dir.join("bgpd.log")))?;
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

    /// How it ended, once it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn reads_the_session_and_the_customers_paths() {
        let summary = r#"{"routerId":"169.254.10.1","as":64512,"peers":{
            "169.254.10.2":{"remoteAs":65000,"state":"Established","pfxRcd":2,
                            "peerUptimeEstablishedEpoch":1796340902}}}"#;
        let routes = r#"{"vrfId":0,"routerId":"169.254.10.1","routes":{
            "10.0.0.0/16":[{"valid":true,"bestpath":true,"peerId":"(unspec)","path":""}],
            "192.168.0.0/16":[{"valid":true,"bestpath":true,"peerId":"169.254.10.2","path":"65000 65000","metric":5}],
            "172.16.0.0/12":[{"peerId":"169.254.10.2","path":"65000"}]
        }}"#;
        let s = parse_state(&format!("{summary}\n{routes}\n")).unwrap();
        assert!(s.established);
        assert_eq!(s.since, 1796340902);
        assert_eq!(
            s.paths,
            vec![PathAttrs {
                prefix: net("192.168.0.0/16"),
                as_path_len: 2,
                med: 5
            }]
        );
        let down = parse_state(
            r#"{"ipv4Unicast":{"peers":{"169.254.10.2":{"state":"Active"}}}} {"routes":{}}"#,
        )
        .unwrap();
        assert!(!down.established && down.paths.is_empty());
        assert!(parse_state(summary).is_err());
        assert!(parse_state("% Unknown command").is_err());
    }

    #[test]
    fn chooses_as_aws_prefers_paths() {
        let path = |p: &str, len, med| PathAttrs {
            prefix: net(p),
            as_path_len: len,
            med,
        };
        let t1 = BgpState {
            established: true,
            since: 200,
            paths: vec![path("192.168.0.0/16", 2, 0), path("172.16.0.0/16", 1, 10)],
        };
        let t2 = BgpState {
            established: true,
            since: 100,
            paths: vec![path("192.168.0.0/16", 1, 0), path("172.16.0.0/16", 1, 20)],
        };
        // the shorter AS path wins, then the lower MED
        let c = choose(&[Some(&t1), Some(&t2)]);
        assert_eq!(c[&net("192.168.0.0/16")], 1);
        assert_eq!(c[&net("172.16.0.0/16")], 0);
        // equal paths: the older session
        let mut t1b = t1.clone();
        t1b.paths = vec![path("192.168.0.0/16", 1, 0)];
        assert_eq!(choose(&[Some(&t1b), Some(&t2)])[&net("192.168.0.0/16")], 1);
        // a tunnel down, or its session: the other
        assert_eq!(choose(&[Some(&t1), None])[&net("192.168.0.0/16")], 0);
        let mut t2_down = t2.clone();
        t2_down.established = false;
        assert_eq!(
            choose(&[Some(&t1), Some(&t2_down)])[&net("192.168.0.0/16")],
            0
        );
        assert!(choose(&[None, None]).is_empty());
    }

    #[test]
    fn configures_the_tunnels_neighbour() {
        let item = crate::vpn::tests::item();
        let c = bgpd_conf(&item, 1, "fort-vpn-1-t2", Path::new("/tmp/x/bgpd.log"));
        assert!(c.contains("router bgp 64512\n"), "{c}");
        assert!(
            c.contains(" neighbor 169.254.20.2 remote-as 65000\n"),
            "{c}"
        );
        assert!(
            c.contains(" neighbor 169.254.20.2 update-source 169.254.20.1\n"),
            "{c}"
        );
        assert!(c.contains(" neighbor 169.254.20.2 timers 10 30\n"), "{c}");
        assert!(c.contains("  network 10.0.0.0/16\n"), "{c}");
        assert!(
            c.contains("  neighbor 169.254.20.2 maximum-prefix 100\n"),
            "{c}"
        );
        assert!(!c.contains("169.254.10."), "{c}");
    }
}
