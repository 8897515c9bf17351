//! Site-to-Site VPN connections at the edge: each connection is a *site*, a network
//! namespace of its own (`fort-vpn-…`, named by the connection id) where strongSwan's
//! charon terminates the connection's two tunnels:
//!
//! * `out0`, a veth whose other end is in the internet namespace, holds the tunnels'
//!   outside addresses (routed there as /32s, more specific than the public pool the
//!   edge's TAP takes): IKE and ESP-in-UDP from the customer gateway arrive here;
//! * `vpc0`, a TAP the edge's data path holds, is the virtual private gateway's side:
//!   the VPC's blocks are routed through it, and what the VPC's route tables send to
//!   the gateway comes out of it;
//! * `ipsec0`, charon's TUN (this kernel has no ESP: the kernel-libipsec plugin does ESP
//!   in user space), carries the tunnels. Policy routing sends what comes in on `vpc0`
//!   into `ipsec0` (table 100) and what is for the VPC to `vpc0` (ahead of the table
//!   charon fills); with both tunnels up, libipsec uses the newest SA, and when one dies
//!   (deleted, or found dead by DPD) the other carries on.
//!
//! charon runs with a private `/run` (its pid file path is fixed) and its vici socket in
//! the site's directory; [`crate::vici`] loads the tunnels and reads their state, which
//! the edge reports to the server (VgwTelemetry). Removing a site kills charon and
//! deletes the namespace, which takes the veth and the TAP with it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use fort_dataplane::wire::MacAddr;
use fort_edge::program::{
    DpdTimeoutAction, EncryptionAlgorithm, IkeVersion, IntegrityAlgorithm, StartupAction,
    VpnConnectionItem, VpnTunnelItem,
};
use fort_host::netns::{ip, netns_exists, remove_namespace};
use fort_host::sys::Tap;

use crate::internet::EDGE_MAC;
use crate::vici::{self, Message};

/// charon as Debian installs it (package strongswan-charon).
pub const CHARON: &str = "/usr/lib/ipsec/charon";
/// The internet-side end of a site's `out0`.
const OUTSIDE_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x03]);
/// A site's `out0`.
const SITE_OUT_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x04]);
/// A site's `vpc0`.
pub const SITE_VPC_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x05]);
/// The next hop a site routes through on both links (a permanent neighbour on each).
const NEXT_HOP: &str = "192.0.2.1";
/// The routing table `vpc0`'s traffic uses: everything into `ipsec0`.
const TUNNEL_TABLE: &str = "100";

/// The namespace of connection `vpn_id`.
pub fn namespace(vpn_id: &str) -> String {
    format!("fort-{vpn_id}")
}

fn short(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// The name of the TAP of `namespace` before it moves in.
pub fn tap_name(namespace: &str) -> String {
    format!("fvt{}", short(namespace))
}

fn outside_link(namespace: &str) -> String {
    format!("fvo{}", short(namespace))
}

/// strongSwan's name of a DH group.
fn dh_name(group: u8) -> Option<&'static str> {
    Some(match group {
        2 => "modp1024",
        5 => "modp1536",
        14 => "modp2048",
        15 => "modp3072",
        16 => "modp4096",
        17 => "modp6144",
        18 => "modp8192",
        19 => "ecp256",
        20 => "ecp384",
        21 => "ecp521",
        22 => "modp1024s160",
        23 => "modp2048s224",
        24 => "modp2048s256",
        _ => return None,
    })
}

fn encryption_name(a: EncryptionAlgorithm) -> &'static str {
    match a {
        EncryptionAlgorithm::Aes128 => "aes128",
        EncryptionAlgorithm::Aes256 => "aes256",
        EncryptionAlgorithm::Aes128Gcm16 => "aes128gcm16",
        EncryptionAlgorithm::Aes256Gcm16 => "aes256gcm16",
    }
}

fn is_aead(a: EncryptionAlgorithm) -> bool {
    matches!(
        a,
        EncryptionAlgorithm::Aes128Gcm16 | EncryptionAlgorithm::Aes256Gcm16
    )
}

fn integrity_name(a: IntegrityAlgorithm) -> &'static str {
    match a {
        IntegrityAlgorithm::Sha1 => "sha1",
        IntegrityAlgorithm::Sha2_256 => "sha256",
        IntegrityAlgorithm::Sha2_384 => "sha384",
        IntegrityAlgorithm::Sha2_512 => "sha512",
    }
}

/// strongSwan proposals offering every combination the options allow: one proposal
/// for the CBC ciphers with integrity algorithms, one for the AEAD ciphers (with the
/// integrity algorithms as PRFs in IKE; none in ESP).
pub fn proposals(
    encryption: &[EncryptionAlgorithm],
    integrity: &[IntegrityAlgorithm],
    groups: &[u8],
    ike: bool,
) -> Vec<String> {
    let dh: Vec<&str> = groups.iter().filter_map(|&g| dh_name(g)).collect();
    let mut out = Vec::new();
    let cbc: Vec<&str> = encryption
        .iter()
        .filter(|a| !is_aead(**a))
        .map(|&a| encryption_name(a))
        .collect();
    let integ: Vec<&str> = integrity.iter().map(|&a| integrity_name(a)).collect();
    if !cbc.is_empty() && !integ.is_empty() {
        out.push([cbc.clone(), integ.clone(), dh.clone()].concat().join("-"));
    }
    let aead: Vec<&str> = encryption
        .iter()
        .filter(|a| is_aead(**a))
        .map(|&a| encryption_name(a))
        .collect();
    if !aead.is_empty() {
        let prf: Vec<String> = if ike {
            integ.iter().map(|i| format!("prf{i}")).collect()
        } else {
            Vec::new()
        };
        let prf: Vec<&str> = prf.iter().map(String::as_str).collect();
        out.push([aead, prf, dh].concat().join("-"));
    }
    out
}

/// The vici `load-conn` section of one tunnel (the AWS side).
pub fn tunnel_conn(c: &VpnConnectionItem, n: usize, t: &VpnTunnelItem) -> Message {
    let name = tunnel_name(n);
    let version = match t.ike_versions.as_slice() {
        [IkeVersion::V1] => "1",
        [IkeVersion::V2] => "2",
        _ => "0",
    };
    let dpd_action = match t.dpd_timeout_action {
        DpdTimeoutAction::Restart => "restart",
        DpdTimeoutAction::Clear | DpdTimeoutAction::None => "clear",
    };
    let start_action = match t.startup_action {
        StartupAction::Start => "start",
        StartupAction::Add => "none",
    };
    let margin = t.rekey_margin_time_seconds;
    let rand = u64::from(margin) * u64::from(t.rekey_fuzz_percentage) / 100;
    let child = Message::new()
        .list("local_ts", [c.remote_network])
        .list("remote_ts", [c.local_network])
        .list(
            "esp_proposals",
            proposals(
                &t.phase2_encryption,
                &t.phase2_integrity,
                &t.phase2_dh_groups,
                false,
            ),
        )
        .text(
            "rekey_time",
            format!("{}s", t.phase2_lifetime_seconds.saturating_sub(margin)),
        )
        .text("life_time", format!("{}s", t.phase2_lifetime_seconds))
        .text("rand_time", format!("{rand}s"))
        .text("replay_window", t.replay_window_size)
        .text("dpd_action", dpd_action)
        .text("start_action", start_action);
    Message::new().section(
        &name,
        Message::new()
            .text("version", version)
            .list("local_addrs", [t.outside_ip])
            .list("remote_addrs", [c.customer_gateway_ip])
            .list(
                "proposals",
                proposals(
                    &t.phase1_encryption,
                    &t.phase1_integrity,
                    &t.phase1_dh_groups,
                    true,
                ),
            )
            .text("dpd_delay", "10s")
            .text("dpd_timeout", format!("{}s", t.dpd_timeout_seconds))
            .text("rekey_time", format!("{}s", t.phase1_lifetime_seconds))
            .text("mobike", "no")
            .section(
                "local",
                Message::new().text("auth", "psk").text("id", t.outside_ip),
            )
            .section("remote", Message::new().text("auth", "psk"))
            .section("children", Message::new().section(&name, child)),
    )
}

/// `tunnel1`, `tunnel2`: the IKE and CHILD SAs' names.
pub fn tunnel_name(n: usize) -> String {
    format!("tunnel{}", n + 1)
}

/// charon's settings for a site: the plugins (kernel-libipsec first), DPD's patience
/// (IKEv2 declares a peer dead after its retransmissions: four tries a quarter of the
/// DPD timeout apart after a 10 s quiet), the vici socket in `dir` (the log is its
/// standard error, `dir/charon.log`).
pub fn strongswan_conf(dir: &Path, dpd_timeout_seconds: u32) -> String {
    let retransmit = (dpd_timeout_seconds.saturating_sub(10) / 4).max(1);
    format!(
        "charon {{\n  load = random nonce openssl aes sha1 sha2 hmac gcm pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici\n  retransmit_tries = 3\n  retransmit_timeout = {retransmit}\n  retransmit_base = 1\n  filelog {{\n    stderr {{\n      default = 1\n      time_format = %T\n    }}\n  }}\n  plugins {{\n    vici {{\n      socket = unix://{}\n    }}\n  }}\n}}\n",
        dir.join("charon.vici").display(),
    )
}

/// One tunnel's state, as VgwTelemetry shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelStatus {
    pub outside_ip: Ipv4Addr,
    pub up: bool,
    pub message: String,
}

/// A running site.
pub struct Site {
    pub item: VpnConnectionItem,
    pub namespace: String,
    dir: PathBuf,
    charon: Child,
}

fn run_ip(args: &[&str]) -> anyhow::Result<()> {
    ip(args).map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
}

impl Site {
    /// Makes the site's namespace and links, starts charon and loads the tunnels.
    /// Answers the site and the TAP whose other end is the site's `vpc0`.
    pub fn start(item: &VpnConnectionItem, internet_ns: &str) -> anyhow::Result<(Site, Tap)> {
        if !Path::new(CHARON).exists() {
            anyhow::bail!(
                "{CHARON} is missing: install strongswan-charon, strongswan-swanctl and libcharon-extra-plugins (kernel-libipsec)"
            );
        }
        let ns = namespace(&item.vpn_connection_id);
        if netns_exists(&ns) {
            remove_namespace(&ns);
        }
        let dir = std::env::temp_dir().join(&ns);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        run_ip(&["netns", "add", &ns])?;
        let made = (|| {
            let tap = links(item, &ns, internet_ns)?;
            let dpd = item
                .tunnels
                .iter()
                .map(|t| t.dpd_timeout_seconds)
                .min()
                .unwrap_or(30);
            let conf = dir.join("strongswan.conf");
            std::fs::write(&conf, strongswan_conf(&dir, dpd))?;
            let log = std::fs::File::create(dir.join("charon.log"))?;
            let charon = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                ])
                .args(["sh", "-c"])
                .arg(format!("mount -t tmpfs fort-vpn /run && exec {CHARON}"))
                .env("STRONGSWAN_CONF", &conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting charon")?;
            let site = Site {
                item: item.clone(),
                namespace: ns.clone(),
                dir: dir.clone(),
                charon,
            };
            site.load().context("loading the tunnels into charon")?;
            // `ipsec0` is charon's: route `vpc0`'s traffic into it once it is there
            let deadline = Instant::now() + Duration::from_secs(5);
            while run_ip(&["-n", &ns, "link", "show", "dev", "ipsec0"]).is_err() {
                if Instant::now() > deadline {
                    anyhow::bail!("charon made no ipsec0 (is kernel-libipsec installed?)");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            run_ip(&[
                "-n",
                &ns,
                "route",
                "replace",
                "default",
                "dev",
                "ipsec0",
                "table",
                TUNNEL_TABLE,
            ])?;
            Ok((site, tap))
        })();
        if made.is_err() {
            remove_namespace(&ns);
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("charon.vici")
    }

    fn client(&self) -> anyhow::Result<vici::Client> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match vici::Client::connect(&self.socket()) {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() > deadline => {
                    return Err(anyhow::Error::new(e).context("connecting to charon's vici socket"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Loads the keys and both tunnels (again after a change: vici replaces them).
    pub fn load(&self) -> anyhow::Result<()> {
        let mut v = self.client()?;
        for (n, t) in self.item.tunnels.iter().enumerate() {
            v.call(
                "load-shared",
                &Message::new()
                    .text("id", format!("psk-{}", tunnel_name(n)))
                    .text("type", "IKE")
                    .text("data", &t.pre_shared_key)
                    .list("owners", [t.outside_ip]),
            )?;
            v.call("load-conn", &tunnel_conn(&self.item, n, t))?;
        }
        Ok(())
    }

    /// Each tunnel's state from charon: up when its IKE SA is established with a
    /// CHILD_SA installed.
    pub fn status(&self) -> anyhow::Result<Vec<TunnelStatus>> {
        let mut v = vici::Client::connect(&self.socket())?;
        let events = v.stream("list-sas", "list-sa", &Message::new())?;
        let states = vici::tunnel_states(&events);
        Ok(self
            .item
            .tunnels
            .iter()
            .enumerate()
            .map(|(n, t)| {
                let (state, installed) = states.get(&tunnel_name(n)).cloned().unwrap_or_default();
                let up = state == "ESTABLISHED" && installed;
                let message = if up {
                    String::new()
                } else if state.is_empty() {
                    "IPSEC IS DOWN".to_owned()
                } else {
                    format!("IKE {state}")
                };
                TunnelStatus {
                    outside_ip: t.outside_ip,
                    up,
                    message,
                }
            })
            .collect())
    }

    /// Stops charon and removes the namespace (the veth and the TAP go with it).
    pub fn stop(mut self) {
        let _ = self.charon.kill();
        let _ = self.charon.wait();
        remove_namespace(&self.namespace);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The site's links: `out0` to the internet namespace with the outside addresses,
/// `vpc0` (a TAP the edge holds) toward the VPC, and the routing between them.
fn links(item: &VpnConnectionItem, ns: &str, internet_ns: &str) -> anyhow::Result<Tap> {
    for conf in ["all", "default"] {
        let _ = Command::new("ip")
            .args(["netns", "exec", ns, "sysctl", "-qw"])
            .arg(format!("net.ipv6.conf.{conf}.disable_ipv6=1"))
            .arg(format!("net.ipv4.conf.{conf}.rp_filter=0"))
            .output();
    }
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])
        .output();
    run_ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
    // the internet namespace forwards between the customer gateway and the sites
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            internet_ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])
        .output();
    // out0: a veth whose other end goes to the internet namespace
    let outside = outside_link(ns);
    crate::internet::veth_to_internet(ns, "out0", internet_ns, &outside, OUTSIDE_MAC)?;
    run_ip(&[
        "-n",
        ns,
        "link",
        "set",
        "dev",
        "out0",
        "address",
        &SITE_OUT_MAC.to_string(),
        "up",
    ])?;
    for t in &item.tunnels {
        let a = format!("{}/32", t.outside_ip);
        run_ip(&["-n", ns, "addr", "add", &a, "dev", "out0"])?;
        run_ip(&["-n", internet_ns, "route", "replace", &a, "dev", &outside])?;
    }
    run_ip(&[
        "-n",
        ns,
        "neigh",
        "replace",
        NEXT_HOP,
        "lladdr",
        &OUTSIDE_MAC.to_string(),
        "dev",
        "out0",
        "nud",
        "permanent",
    ])?;
    run_ip(&[
        "-n", ns, "route", "replace", "default", "via", NEXT_HOP, "dev", "out0", "onlink",
    ])?;
    // vpc0: the edge's TAP
    let name = tap_name(ns);
    let _ = run_ip(&["link", "del", "dev", &name]);
    let tap = Tap::open(&name, false)?;
    tap.set_persist(false)?;
    run_ip(&["link", "set", "dev", &name, "netns", ns])?;
    run_ip(&["-n", ns, "link", "set", "dev", &name, "name", "vpc0"])?;
    run_ip(&[
        "-n",
        ns,
        "link",
        "set",
        "dev",
        "vpc0",
        "address",
        &SITE_VPC_MAC.to_string(),
        "mtu",
        "9001",
        "up",
    ])?;
    run_ip(&[
        "-n",
        ns,
        "neigh",
        "replace",
        NEXT_HOP,
        "lladdr",
        &EDGE_MAC.to_string(),
        "dev",
        "vpc0",
        "nud",
        "permanent",
    ])?;
    for block in &item.cidrs {
        let b = block.to_string();
        // libipsec routes a CHILD_SA only with a local address in its local selector
        // (the VPC side's): each block's network address, which no instance has (it is
        // its subnet's reserved first address)
        let network = format!("{}/32", block.network());
        run_ip(&["-n", ns, "addr", "add", &network, "dev", "vpc0"])?;
        run_ip(&[
            "-n", ns, "route", "replace", &b, "via", NEXT_HOP, "dev", "vpc0", "onlink",
        ])?;
        // ahead of charon's table 220 (which sends everything into the tunnel)
        run_ip(&[
            "-n", ns, "rule", "add", "pref", "100", "to", &b, "lookup", "main",
        ])?;
    }
    run_ip(&[
        "-n",
        ns,
        "rule",
        "add",
        "pref",
        "101",
        "iif",
        "vpc0",
        "lookup",
        TUNNEL_TABLE,
    ])?;
    Ok(tap)
}

/// The sites of the edge, by connection id, kept equal to the program's connections.
#[derive(Default)]
pub struct Sites {
    pub sites: BTreeMap<String, Site>,
}

impl Sites {
    /// Starts, reloads and stops sites so that they match `wanted`. Answers the TAPs of
    /// the sites started (for the data path) and the ids of those stopped.
    pub fn reconcile(
        &mut self,
        wanted: &[VpnConnectionItem],
        internet_ns: &str,
    ) -> (Vec<(String, Tap)>, Vec<String>) {
        let mut started = Vec::new();
        let mut stopped = Vec::new();
        let gone: Vec<String> = self
            .sites
            .keys()
            .filter(|id| !wanted.iter().any(|w| &w.vpn_connection_id == *id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(s) = self.sites.remove(&id) {
                tracing::info!(connection = id, namespace = s.namespace, "VPN site stopped");
                s.stop();
                stopped.push(id);
            }
        }
        for w in wanted {
            let id = &w.vpn_connection_id;
            match self.sites.get_mut(id) {
                Some(s) if s.item == *w => {}
                // Addresses, blocks or tunnels changed: made anew.
                Some(s)
                    if s.item.cidrs != w.cidrs
                        || s.item
                            .tunnels
                            .iter()
                            .map(|t| (t.outside_ip, t.inside_cidr))
                            .ne(w.tunnels.iter().map(|t| (t.outside_ip, t.inside_cidr))) =>
                {
                    if let Some(old) = self.sites.remove(id) {
                        old.stop();
                        stopped.push(id.clone());
                    }
                    self.start(w, internet_ns, &mut started);
                }
                Some(s) => {
                    s.item = w.clone();
                    if let Err(e) = s.load() {
                        tracing::error!(connection = id, error = %e, "reloading the VPN tunnels");
                    }
                }
                None => self.start(w, internet_ns, &mut started),
            }
        }
        (started, stopped)
    }

    fn start(
        &mut self,
        w: &VpnConnectionItem,
        internet_ns: &str,
        started: &mut Vec<(String, Tap)>,
    ) {
        match Site::start(w, internet_ns) {
            Ok((site, tap)) => {
                tracing::info!(
                    connection = w.vpn_connection_id,
                    namespace = site.namespace,
                    "VPN site started"
                );
                self.sites.insert(w.vpn_connection_id.clone(), site);
                started.push((w.vpn_connection_id.clone(), tap));
            }
            Err(e) => {
                tracing::error!(
                    connection = w.vpn_connection_id,
                    error = format!("{e:#}"),
                    "VPN site not started"
                );
            }
        }
    }

    pub fn stop_all(&mut self) {
        for (_, s) in std::mem::take(&mut self.sites) {
            s.stop();
        }
    }
}

/// What the edge's session tells the sites' thread.
pub enum Order {
    /// The program's connections (on every change of them).
    Connections(Vec<VpnConnectionItem>),
    Stop,
}

/// How often tunnels are looked at, and reported even when nothing changed.
const POLL: Duration = Duration::from_secs(1);
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// The sites' thread: keeps the sites equal to the program, hands their TAPs to the
/// data path, and reports the tunnels' state (on a change, and every 30 s) with
/// `report`. Stops every site when told to or when its sender goes.
pub fn run(
    orders: std::sync::mpsc::Receiver<Order>,
    internet_ns: String,
    send: impl Fn(crate::datapath::Command),
    report: impl Fn(Vec<(String, TunnelStatus)>) -> bool,
) {
    let mut sites = Sites::default();
    let mut last: BTreeMap<String, Vec<TunnelStatus>> = BTreeMap::new();
    let mut reported = Instant::now();
    let mut dirty = false;
    loop {
        match orders.recv_timeout(POLL) {
            Ok(Order::Connections(wanted)) => {
                let (started, stopped) = sites.reconcile(&wanted, &internet_ns);
                for id in stopped {
                    send(crate::datapath::Command::VpnUnlink(id));
                }
                for (id, tap) in started {
                    send(crate::datapath::Command::VpnLink(id, tap));
                }
                last.retain(|id, _| sites.sites.contains_key(id));
            }
            Ok(Order::Stop) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                sites.stop_all();
                return;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        for (id, site) in &sites.sites {
            match site.status() {
                Ok(now) => {
                    if last.get(id) != Some(&now) {
                        for t in &now {
                            tracing::info!(connection = id, outside = %t.outside_ip, up = t.up, "VPN tunnel");
                        }
                        last.insert(id.clone(), now);
                        dirty = true;
                    }
                }
                Err(e) => {
                    tracing::debug!(connection = id, error = %e, "reading the tunnels' state")
                }
            }
        }
        if dirty || reported.elapsed() >= REPORT_EVERY {
            let all: Vec<(String, TunnelStatus)> = last
                .iter()
                .flat_map(|(id, ts)| ts.iter().map(move |t| (id.clone(), t.clone())))
                .collect();
            if all.is_empty() || report(all) {
                dirty = false;
                reported = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_split_aead_from_cbc() {
        let p = proposals(
            EncryptionAlgorithm::ALL,
            &[IntegrityAlgorithm::Sha1, IntegrityAlgorithm::Sha2_256],
            &[2, 14],
            true,
        );
        assert_eq!(
            p,
            vec![
                "aes128-aes256-sha1-sha256-modp1024-modp2048".to_owned(),
                "aes128gcm16-aes256gcm16-prfsha1-prfsha256-modp1024-modp2048".to_owned()
            ]
        );
        let esp = proposals(
            &[EncryptionAlgorithm::Aes256Gcm16],
            &[IntegrityAlgorithm::Sha1],
            &[19],
            false,
        );
        assert_eq!(esp, vec!["aes256gcm16-ecp256".to_owned()]);
    }

    #[test]
    fn names_fit_the_kernel() {
        let ns = namespace("vpn-0123456789abcdef0");
        assert_eq!(ns, "fort-vpn-0123456789abcdef0");
        assert!(tap_name(&ns).len() <= 15 && outside_link(&ns).len() <= 15);
    }
}
