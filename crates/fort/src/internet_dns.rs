//! The simulated internet's DNS as `fort up` (and `fort edge`) runs it: one authoritative
//! server ([`fort_dns`]) on two kinds of listener, UDP and TCP port 53 on each:
//!
//! * inside the internet namespace, on its `lo`, at the 53rd address of the test hosts'
//!   network ([`nameserver_address`]: 203.0.113.53 by default, apart from the test host
//!   203.0.113.1): the internet's own name server, reached by the internet's hosts and by
//!   instances through their internet or NAT gateway;
//! * on loopback in the machine's namespace ([`default_loopback`]: the underlay address
//!   after the agents' and the edge's, 127.0.0.13 with two hosts; `--internet-dns-listen`
//!   overrides it), where host agents can forward what is not a VPC name.
//!
//! The zones: the built-in `example.test.` (`example.test` and `www.example.test` at the
//! test host, `ns.example.test` at the namespace's server), then each
//! `--internet-dns-zone FILE` (a file for `example.test.` replaces the built-in one),
//! then each `--internet-dns-record NAME=IPV4`. Every other name is NXDOMAIN.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use fort_dns::{Authority, DnsServer, Listener, StaticRecord, Zones};
use ipnet::Ipv4Net;

/// DNS's port, on every listener.
pub const PORT: u16 = 53;
/// The name server's offset in the test hosts' network (203.0.113.53).
const NAMESERVER_OFFSET: u32 = 53;

/// The internet's name server in the test hosts' network: its 53rd address, or in a
/// network too small for that its last usable one; `None` if only the test host fits.
pub fn nameserver_address(hosts: Ipv4Net) -> Option<Ipv4Addr> {
    let network = u32::from(hosts.network());
    let broadcast = u32::from(hosts.broadcast());
    let offset = if network + NAMESERVER_OFFSET < broadcast {
        NAMESERVER_OFFSET
    } else {
        broadcast.checked_sub(network + 1)?
    };
    (offset > 1).then(|| Ipv4Addr::from(network + offset))
}

/// The loopback address `fort up` serves the internet's names on for its agents: the
/// next underlay address after the agents' (`base` …) and the edge's (`base + hosts`).
pub fn default_loopback(underlay_base: Ipv4Addr, hosts: u32) -> SocketAddr {
    let ip = Ipv4Addr::from(u32::from(underlay_base).wrapping_add(hosts).wrapping_add(1));
    SocketAddr::new(ip.into(), PORT)
}

/// What the internet's DNS serves, from the command line.
pub struct DnsConfig<'a> {
    /// The test hosts' network (the built-in zone's addresses come from it).
    pub hosts: Ipv4Net,
    pub zone_files: &'a [PathBuf],
    pub records: &'a [StaticRecord],
    /// The region's public instance names, answered for the public pool.
    pub public_names: Option<fort_dns::PublicNames>,
}

/// The zones, read and checked (a bad file stops `fort up` before anything starts).
pub fn authority(c: &DnsConfig<'_>) -> anyhow::Result<Arc<Authority>> {
    let mut zones = Zones::new();
    if let Some(ns) = nameserver_address(c.hosts) {
        zones.insert_test_hosts(fort_edge_host::internet::first_host(c.hosts), ns);
    }
    for f in c.zone_files {
        zones
            .add_zone_file(f)
            .with_context(|| format!("--internet-dns-zone {}", f.display()))?;
    }
    for r in c.records {
        zones
            .add_record(r)
            .with_context(|| format!("--internet-dns-record {r}"))?;
    }
    if let Some(p) = &c.public_names {
        zones.add_public_names(p.clone());
    }
    Ok(Arc::new(zones.into_authority()?))
}

/// The running server and where it answers.
pub struct InternetDns {
    authority: Arc<Authority>,
    server: Option<DnsServer>,
    /// On loopback in the machine's namespace: what agents forward to.
    pub loopback: Option<SocketAddr>,
    /// Inside the internet namespace: (namespace, address).
    pub namespace: Option<(String, SocketAddr)>,
}

impl InternetDns {
    /// Nothing listening yet.
    pub fn new(authority: Arc<Authority>) -> Self {
        Self {
            authority,
            server: None,
            loopback: None,
            namespace: None,
        }
    }

    /// Listens on `addr` in this process's namespace.
    pub fn listen_loopback(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let l = Listener::bind(addr)
            .with_context(|| format!("binding the internet's DNS to {addr} (UDP and TCP)"))?;
        self.loopback = Some(l.local_addr()?);
        self.serve(l)
    }

    /// Listens inside the namespace `ns` at `addr` (bound on a thread that entered it).
    pub fn listen_in_namespace(&mut self, ns: &str, addr: SocketAddr) -> anyhow::Result<()> {
        let path = Path::new("/run/netns").join(ns);
        let l = fort_host::sys::in_netns(&path, move || Listener::bind(addr))
            .with_context(|| format!("binding the internet's DNS to {addr} in {ns}"))?;
        self.namespace = Some((ns.to_string(), l.local_addr()?));
        self.serve(l)
    }

    fn serve(&mut self, l: Listener) -> anyhow::Result<()> {
        match &mut self.server {
            Some(s) => s.add(l)?,
            None => self.server = Some(DnsServer::start(self.authority.clone(), vec![l])?),
        }
        Ok(())
    }

    /// One line for the summary `fort up` prints.
    pub fn summary(&self) -> String {
        let mut at = Vec::new();
        if let Some((ns, a)) = &self.namespace {
            at.push(format!("{a} in {ns}"));
        }
        if let Some(a) = self.loopback {
            at.push(format!("{a} on loopback"));
        }
        let zones: Vec<String> = self
            .authority
            .origins()
            .iter()
            .map(ToString::to_string)
            .collect();
        format!("{}; zones {}", at.join(", "), zones.join(" "))
    }

    /// Closes every listener.
    pub async fn shutdown(self) {
        if let Some(s) = self.server {
            s.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_server_sits_apart_from_the_test_host() {
        let n = |s: &str| nameserver_address(s.parse().unwrap());
        assert_eq!(n("203.0.113.0/24"), Some(Ipv4Addr::new(203, 0, 113, 53)));
        assert_eq!(n("203.0.113.0/26"), Some(Ipv4Addr::new(203, 0, 113, 53)));
        assert_eq!(n("203.0.113.0/27"), Some(Ipv4Addr::new(203, 0, 113, 30)));
        assert_eq!(n("203.0.113.0/29"), Some(Ipv4Addr::new(203, 0, 113, 6)));
        assert_eq!(n("203.0.113.0/30"), Some(Ipv4Addr::new(203, 0, 113, 2)));
        assert_eq!(n("203.0.113.0/31"), None);
        assert_eq!(n("203.0.113.0/32"), None);
    }

    #[test]
    fn the_loopback_listener_follows_the_edge() {
        let a = default_loopback(Ipv4Addr::new(127, 0, 0, 10), 2);
        assert_eq!(a, "127.0.0.13:53".parse().unwrap());
        // the agents' and the edge's addresses come first
        let hosts = up_hosts_addresses(Ipv4Addr::new(127, 0, 0, 10), 2);
        assert!(!hosts.contains(&Ipv4Addr::new(127, 0, 0, 13)));
    }

    fn up_hosts_addresses(base: Ipv4Addr, hosts: u32) -> Vec<Ipv4Addr> {
        (0..=hosts)
            .map(|i| Ipv4Addr::from(u32::from(base) + i))
            .collect()
    }

    #[test]
    fn bad_zones_stop_before_anything_runs() {
        let dir = std::env::temp_dir().join(format!("fort-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("corp.zone");
        std::fs::write(
            &good,
            "$ORIGIN corp.test.\n$TTL 60\n@ SOA ns admin 1 1 1 1 1\napp A 203.0.113.10\n",
        )
        .unwrap();
        let bad = dir.join("bad.zone");
        std::fs::write(&bad, "www A 1.2.3.4\n").unwrap();
        let hosts = "203.0.113.0/24".parse().unwrap();
        let records = ["x.example.org=203.0.113.9".parse().unwrap()];
        let a = authority(&DnsConfig {
            hosts,
            zone_files: std::slice::from_ref(&good),
            records: &records,
            public_names: None,
        })
        .unwrap();
        let mut origins: Vec<String> = a.origins().iter().map(ToString::to_string).collect();
        origins.sort();
        assert_eq!(origins, ["corp.test.", "example.test.", "x.example.org."]);
        let e = authority(&DnsConfig {
            hosts,
            zone_files: &[good, bad.clone()],
            records: &[],
            public_names: None,
        })
        .err()
        .unwrap();
        assert!(format!("{e:#}").contains("bad.zone"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
