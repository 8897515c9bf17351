//! Site-to-Site VPN connections at the edge: each connection is a *site*, a network
//! namespace of its own (`fort-vpn-…`, named by the connection id), and each of its two
//! tunnels a namespace of its own beside it (`fort-vpn-…-t1`, `-t2`) where a charon of
//! strongSwan's terminates that tunnel (route-based: whatever enters a tunnel's
//! namespace from the site goes into that tunnel, whatever its selectors):
//!
//! * the site's `vpc0`, a TAP the edge's data path holds, is the virtual private
//!   gateway's side: the VPC's blocks are routed through it, and what the VPC's route
//!   tables send to the gateway comes out of it, to be routed (table 100) into the
//!   tunnel chosen for its destination;
//! * the site's `tun1`, `tun2`, veths to the tunnels' namespaces (`site0` there);
//! * a tunnel namespace's `out0`, a veth whose other end is in the internet namespace,
//!   holds the tunnel's outside address (routed there as a /32, more specific than the
//!   public pool the edge's TAP takes): IKE and ESP-in-UDP from the customer gateway
//!   arrive here;
//! * a tunnel namespace's `ipsec0`, its charon's TUN (this kernel has no ESP: the
//!   kernel-libipsec plugin does ESP in user space), carries the tunnel: what comes in
//!   on `site0` goes into it (table 100), what comes out of it for the VPC goes to the
//!   site (ahead of the table charon fills). kernel-libipsec routes a CHILD_SA only from
//!   a local address of its local selector: the tunnel namespace holds each VPC block's
//!   network address (its subnet's reserved first address, no instance's) and, for BGP,
//!   the AWS side's inside address (the /30's first host) on `lo`.
//!
//! One charon per tunnel because kernel-libipsec has one TUN per charon and picks among
//! SAs of equal selectors the newest: two tunnels in one charon could not be told apart
//! by a route, and a BGP session could ride the other tunnel. The site chooses the tunnel
//! per destination: a static connection's traffic goes through the first tunnel that is
//! up; a dynamic connection's through the tunnel of the best BGP path to it ([`crate::bgp`]:
//! a bgpd in each tunnel namespace).
//!
//! Each charon runs with a private `/run` (its pid file path is fixed) and its vici
//! socket in the tunnel's directory; [`crate::vici`] loads the tunnel and reads its
//! state, which the edge reports to the server (VgwTelemetry). Removing a site kills its
//! processes and deletes its namespaces, which takes the veths and the TAP with them.

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
use ipnet::Ipv4Net;

use crate::bgp::{self, Bgpd};
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
/// A site's `tunN` (its end of the veth to tunnel N's namespace).
const SITE_TUN_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x06]);
/// A tunnel namespace's `site0`.
const TUNNEL_SITE_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x07]);
/// The routing table of the traffic that comes in on the site's `vpc0` (into the chosen
/// tunnel) and on a tunnel namespace's `site0` (into `ipsec0`).
const TUNNEL_TABLE: &str = "100";

/// The namespace of connection `vpn_id`.
pub fn namespace(vpn_id: &str) -> String {
    format!("fort-{vpn_id}")
}

/// The namespace of tunnel `n` (from 0) of connection `vpn_id`.
pub fn tunnel_namespace(vpn_id: &str, n: usize) -> String {
    format!("fort-{vpn_id}-t{}", n + 1)
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
    // AWS's rekey options are ipsec.conf's (lifetime, margintime, rekeyfuzz), for both
    // phases: a rekey starts `margin` plus up to `fuzz` % of it before the lifetime
    // ends, when the SA expires (swanctl: rekey_time, rand_time, and life_time for a
    // CHILD_SA, over_time for an IKE SA)
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
            .text(
                "rekey_time",
                format!("{}s", t.phase1_lifetime_seconds.saturating_sub(margin)),
            )
            .text("over_time", format!("{margin}s"))
            .text("rand_time", format!("{rand}s"))
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

/// charon's settings for a tunnel: the plugins (kernel-libipsec first), DPD's patience
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
    /// Up: IPsec (an IKE SA with a CHILD_SA installed) and, on a dynamic connection,
    /// BGP.
    pub up: bool,
    pub message: String,
    /// A dynamic connection's session over the tunnel is established.
    pub bgp_established: bool,
    /// The prefixes the tunnel's session accepted (none while it is down).
    pub learned: Vec<Ipv4Net>,
}

/// When a process the edge supervises (a tunnel's charon or bgpd) that died is started
/// again: 1 s after its death (the tunnel is reported down first), then 2, 4, 8 … up to
/// 30 s while it keeps dying within a minute of its start; one that ran a minute starts
/// over at 1 s.
#[derive(Debug, Default)]
pub struct Backoff {
    /// Deaths in a row, each within [`Backoff::STABLE`] of its start.
    deaths: u32,
    started: Option<Instant>,
    due: Option<Instant>,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(30);
    pub const STABLE: Duration = Duration::from_secs(60);

    pub fn started(&mut self, now: Instant) {
        self.started = Some(now);
        self.due = None;
    }

    /// The process died (or failed to start) at `now`: how long until its restart.
    pub fn died(&mut self, now: Instant) -> Duration {
        if self
            .started
            .is_some_and(|s| now.saturating_duration_since(s) >= Self::STABLE)
        {
            self.deaths = 0;
        }
        let wait = Self::FIRST
            .saturating_mul(1u32 << self.deaths.min(5))
            .min(Self::MAX);
        self.deaths = self.deaths.saturating_add(1);
        self.started = None;
        self.due = Some(now + wait);
        wait
    }

    /// Whether a restart is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.due.is_some_and(|d| now >= d)
    }
}

/// One tunnel's namespace and charon.
struct Tunnel {
    namespace: String,
    dir: PathBuf,
    /// `None` while a charon that died waits for its restart.
    charon: Option<Child>,
    bgpd: Option<Bgpd>,
    charon_backoff: Backoff,
    bgpd_backoff: Backoff,
    /// The tunnel was up at the last look (a charon restarted then brings it up again
    /// itself).
    was_up: bool,
}

impl Tunnel {
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

    /// Loads the tunnel's key and configuration (again after a change: vici replaces them).
    fn load(&self, item: &VpnConnectionItem, n: usize) -> anyhow::Result<()> {
        let t = &item.tunnels[n];
        let mut v = self.client()?;
        v.call(
            "load-shared",
            &Message::new()
                .text("id", format!("psk-{}", tunnel_name(n)))
                .text("type", "IKE")
                .text("data", &t.pre_shared_key)
                .list("owners", [t.outside_ip]),
        )?;
        v.call("load-conn", &tunnel_conn(item, n, t))?;
        Ok(())
    }

    /// Whether charon has the tunnel's IKE SA established with a CHILD_SA installed,
    /// and the IKE SA's state.
    fn ipsec(&self, n: usize) -> anyhow::Result<(bool, String)> {
        let mut v = vici::Client::connect(&self.socket())?;
        let events = v.stream("list-sas", "list-sa", &Message::new())?;
        let (state, installed) = vici::tunnel_states(&events)
            .remove(&tunnel_name(n))
            .unwrap_or_default();
        Ok((state == "ESTABLISHED" && installed, state))
    }

    /// Starts again, after its backoff, a charon or bgpd of this tunnel (`n` of `item`)
    /// that died: a new charon gets the tunnel loaded and `ipsec0` routed again, and
    /// brings the tunnel up itself if it was up when its predecessor died (the customer
    /// gateway would otherwise wait for its dead-peer detection); a new bgpd opens the
    /// session again.
    fn supervise(&mut self, item: &VpnConnectionItem, n: usize, now: Instant) {
        if let Some(c) = &mut self.charon
            && let Ok(Some(status)) = c.try_wait()
        {
            self.charon = None;
            let wait = self.charon_backoff.died(now);
            tracing::warn!(namespace = self.namespace, %status, restart_in = ?wait, "charon died");
        }
        if self.charon.is_none() && self.charon_backoff.due(now) {
            match self.restart_charon(item, n) {
                Ok(()) => tracing::info!(namespace = self.namespace, "charon restarted"),
                Err(e) => {
                    if let Some(mut c) = self.charon.take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                    let wait = self.charon_backoff.died(Instant::now());
                    tracing::error!(namespace = self.namespace, error = format!("{e:#}"), restart_in = ?wait, "charon not restarted");
                }
            }
        }
        if item.static_routes_only {
            return;
        }
        if let Some(b) = &mut self.bgpd
            && let Some(status) = b.exited()
        {
            self.bgpd = None;
            let wait = self.bgpd_backoff.died(now);
            tracing::warn!(namespace = self.namespace, %status, restart_in = ?wait, "bgpd died");
        }
        if self.bgpd.is_none() && self.bgpd_backoff.due(now) {
            match Bgpd::start(item, n, &self.namespace, &self.dir.join("bgp")) {
                Ok(b) => {
                    self.bgpd = Some(b);
                    self.bgpd_backoff.started(Instant::now());
                    tracing::info!(namespace = self.namespace, "bgpd restarted");
                }
                Err(e) => {
                    let wait = self.bgpd_backoff.died(Instant::now());
                    tracing::error!(namespace = self.namespace, error = format!("{e:#}"), restart_in = ?wait, "bgpd not restarted");
                }
            }
        }
    }

    fn restart_charon(&mut self, item: &VpnConnectionItem, n: usize) -> anyhow::Result<()> {
        let t = &item.tunnels[n];
        self.charon = Some(spawn_charon(
            &self.namespace,
            &self.dir,
            t.dpd_timeout_seconds,
        )?);
        self.charon_backoff.started(Instant::now());
        attach_charon(item, n, self)?;
        if self.was_up && t.startup_action == StartupAction::Add {
            let mut v = self.client()?;
            // a negative timeout: charon answers at once and initiates on its own
            v.call(
                "initiate",
                &Message::new()
                    .text("child", tunnel_name(n))
                    .text("ike", tunnel_name(n))
                    .text("timeout", "-1")
                    .text("init-limits", "no"),
            )
            .context("initiating the tunnel")?;
        }
        Ok(())
    }

    fn stop(self) {
        if let Some(b) = self.bgpd {
            b.stop();
        }
        if let Some(mut c) = self.charon {
            let _ = c.kill();
            let _ = c.wait();
        }
        remove_namespace(&self.namespace);
    }
}

/// A running site.
pub struct Site {
    pub item: VpnConnectionItem,
    pub namespace: String,
    dir: PathBuf,
    tunnels: Vec<Tunnel>,
    /// The routes of table 100 as installed: destination → tunnel.
    routed: BTreeMap<Ipv4Net, usize>,
}

fn run_ip(args: &[&str]) -> anyhow::Result<()> {
    ip(args).map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn sysctls(ns: &str) {
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
}

impl Site {
    /// Makes the site's and its tunnels' namespaces and links, starts a charon per
    /// tunnel (and bgpd for a dynamic connection). Answers the site and the TAP whose
    /// other end is the site's `vpc0`.
    pub fn start(item: &VpnConnectionItem, internet_ns: &str) -> anyhow::Result<(Site, Tap)> {
        if !Path::new(CHARON).exists() {
            anyhow::bail!(
                "{CHARON} is missing: install strongswan-charon, strongswan-swanctl and libcharon-extra-plugins (kernel-libipsec)"
            );
        }
        let ns = namespace(&item.vpn_connection_id);
        let tunnel_nss: Vec<String> = (0..item.tunnels.len())
            .map(|n| tunnel_namespace(&item.vpn_connection_id, n))
            .collect();
        for n in tunnel_nss.iter().chain([&ns]) {
            if netns_exists(n) {
                remove_namespace(n);
            }
        }
        let dir = std::env::temp_dir().join(&ns);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        run_ip(&["netns", "add", &ns])?;
        let mut site = Site {
            item: item.clone(),
            namespace: ns.clone(),
            dir: dir.clone(),
            tunnels: Vec::new(),
            routed: BTreeMap::new(),
        };
        let made = (|| {
            let tap = site_links(item, &ns)?;
            for (n, tns) in tunnel_nss.iter().enumerate() {
                let tunnel = start_tunnel(item, n, &ns, tns, &dir, internet_ns)
                    .with_context(|| format!("starting {}", tunnel_name(n)))?;
                site.tunnels.push(tunnel);
            }
            Ok(tap)
        })();
        match made {
            Ok(tap) => {
                // a static connection starts on tunnel 1 (until the first look at them)
                if item.static_routes_only {
                    site.route(&BTreeMap::from([(Ipv4Net::default(), 0)]));
                }
                Ok((site, tap))
            }
            Err(e) => {
                site.stop();
                // a tunnel namespace made before its tunnel failed
                for n in &tunnel_nss {
                    remove_namespace(n);
                }
                Err(e)
            }
        }
    }

    /// Restarts, after their backoff, the tunnels' charons and bgpds that died.
    pub fn supervise(&mut self) {
        let now = Instant::now();
        for (n, t) in self.tunnels.iter_mut().enumerate() {
            t.supervise(&self.item, n, now);
        }
    }

    /// Loads every tunnel into its charon (again after a change of options).
    pub fn load(&self) -> anyhow::Result<()> {
        // a charon waiting for its restart gets the new options then
        for (n, t) in self
            .tunnels
            .iter()
            .enumerate()
            .filter(|(_, t)| t.charon.is_some())
        {
            t.load(&self.item, n)?;
        }
        Ok(())
    }

    /// Each tunnel's state from its charon (and bgpd), and the tunnel each destination
    /// goes through: a static connection's everything through the first tunnel up; a
    /// dynamic connection's prefixes as [`bgp::choose`] says.
    pub fn status(&mut self) -> anyhow::Result<(Vec<TunnelStatus>, BTreeMap<Ipv4Net, usize>)> {
        let mut out = Vec::new();
        let mut sessions = Vec::new();
        for (n, (tunnel, t)) in self.tunnels.iter_mut().zip(&self.item.tunnels).enumerate() {
            // a charon that died (or is starting again) has the tunnel down
            let (ipsec_up, state) = match &tunnel.charon {
                None => (false, String::new()),
                Some(_) => {
                    let (up, state) = tunnel.ipsec(n)?;
                    tunnel.was_up = up;
                    (up, state)
                }
            };
            // a bgpd that does not answer has no session (its routes go)
            let bgp = tunnel.bgpd.as_ref().map(|b| {
                b.state().unwrap_or_else(|e| {
                    tracing::debug!(namespace = tunnel.namespace, error = %e, "reading bgpd");
                    bgp::BgpState::default()
                })
            });
            let ipsec_message = if ipsec_up {
                String::new()
            } else if state.is_empty() {
                "IPSEC IS DOWN".to_owned()
            } else {
                format!("IKE {state}")
            };
            out.push(match &bgp {
                None => TunnelStatus {
                    outside_ip: t.outside_ip,
                    up: ipsec_up,
                    message: ipsec_message,
                    bgp_established: false,
                    learned: Vec::new(),
                },
                Some(b) => {
                    let up = ipsec_up && b.established;
                    let learned = if up { b.prefixes() } else { Vec::new() };
                    TunnelStatus {
                        outside_ip: t.outside_ip,
                        up,
                        message: if up {
                            format!("{} BGP ROUTES", learned.len())
                        } else if ipsec_up {
                            "BGP IS DOWN".to_owned()
                        } else {
                            ipsec_message
                        },
                        bgp_established: b.established,
                        learned,
                    }
                }
            });
            sessions.push(bgp.filter(|_| ipsec_up));
        }
        let routes = if self.item.static_routes_only {
            let n = out.iter().position(|t| t.up).unwrap_or(0);
            BTreeMap::from([(Ipv4Net::default(), n)])
        } else {
            bgp::choose(&sessions.iter().map(Option::as_ref).collect::<Vec<_>>())
        };
        Ok((out, routes))
    }

    /// Makes table 100 of the site (what comes from the VPC) route `wanted`:
    /// destination → tunnel.
    pub fn route(&mut self, wanted: &BTreeMap<Ipv4Net, usize>) {
        let ns = self.namespace.clone();
        let gone: Vec<Ipv4Net> = self
            .routed
            .keys()
            .filter(|d| !wanted.contains_key(d))
            .copied()
            .collect();
        for d in gone {
            let _ = run_ip(&[
                "-n",
                &ns,
                "route",
                "del",
                &d.to_string(),
                "table",
                TUNNEL_TABLE,
            ]);
            self.routed.remove(&d);
            tracing::info!(connection = self.item.vpn_connection_id, destination = %d, "VPN route removed");
        }
        for (&d, &n) in wanted {
            if self.routed.get(&d) == Some(&n) {
                continue;
            }
            let dev = format!("tun{}", n + 1);
            let done = run_ip(&[
                "-n",
                &ns,
                "route",
                "replace",
                &d.to_string(),
                "via",
                NEXT_HOP,
                "dev",
                &dev,
                "onlink",
                "table",
                TUNNEL_TABLE,
            ]);
            match done {
                Ok(()) => {
                    self.routed.insert(d, n);
                    tracing::info!(connection = self.item.vpn_connection_id, destination = %d, tunnel = n + 1, "VPN route");
                }
                Err(e) => {
                    tracing::warn!(connection = self.item.vpn_connection_id, destination = %d, error = %e, "VPN route not set")
                }
            }
        }
    }

    /// Stops the processes and removes the namespaces (the veths and the TAP go with them).
    pub fn stop(self) {
        for t in self.tunnels {
            t.stop();
        }
        remove_namespace(&self.namespace);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The site's own links: `vpc0` (a TAP the edge holds) toward the VPC, and table 100
/// for what comes from it.
fn site_links(item: &VpnConnectionItem, ns: &str) -> anyhow::Result<Tap> {
    sysctls(ns);
    run_ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
    let name = tap_name(ns);
    let _ = run_ip(&["link", "del", "dev", &name]);
    let tap = Tap::open(&name, false)?;
    tap.set_persist(false)?;
    run_ip(&["link", "set", "dev", &name, "netns", ns])?;
    run_ip(&["-n", ns, "link", "set", "dev", &name, "name", "vpc0"])?;
    let mac = SITE_VPC_MAC.to_string();
    run_ip(&[
        "-n", ns, "link", "set", "dev", "vpc0", "address", &mac, "mtu", "9001", "up",
    ])?;
    let edge = EDGE_MAC.to_string();
    run_ip(&[
        "-n",
        ns,
        "neigh",
        "replace",
        NEXT_HOP,
        "lladdr",
        &edge,
        "dev",
        "vpc0",
        "nud",
        "permanent",
    ])?;
    for block in &item.cidrs {
        let b = block.to_string();
        run_ip(&[
            "-n", ns, "route", "replace", &b, "via", NEXT_HOP, "dev", "vpc0", "onlink",
        ])?;
    }
    run_ip(&[
        "-n",
        ns,
        "rule",
        "add",
        "pref",
        "100",
        "iif",
        "vpc0",
        "lookup",
        TUNNEL_TABLE,
    ])?;
    Ok(tap)
}

/// Tunnel `n`'s namespace `tns`: `out0` to the internet namespace with the outside
/// address, `site0` to the site, charon with the tunnel loaded, and table 100 sending
/// what comes from the site into `ipsec0`.
fn start_tunnel(
    item: &VpnConnectionItem,
    n: usize,
    site_ns: &str,
    tns: &str,
    site_dir: &Path,
    internet_ns: &str,
) -> anyhow::Result<Tunnel> {
    let t = &item.tunnels[n];
    run_ip(&["netns", "add", tns])?;
    let dir = site_dir.join(format!("t{}", n + 1));
    std::fs::create_dir_all(&dir)?;
    let mut tunnel = Tunnel {
        namespace: tns.to_owned(),
        dir: dir.clone(),
        charon: None,
        bgpd: None,
        charon_backoff: Backoff::default(),
        bgpd_backoff: Backoff::default(),
        was_up: false,
    };
    sysctls(tns);
    run_ip(&["-n", tns, "link", "set", "dev", "lo", "up"])?;
    // out0: a veth whose other end goes to the internet namespace
    let outside = outside_link(tns);
    crate::internet::veth_to_internet(tns, "out0", internet_ns, &outside, OUTSIDE_MAC)?;
    let out_mac = SITE_OUT_MAC.to_string();
    run_ip(&[
        "-n", tns, "link", "set", "dev", "out0", "address", &out_mac, "up",
    ])?;
    let a = format!("{}/32", t.outside_ip);
    run_ip(&["-n", tns, "addr", "add", &a, "dev", "out0"])?;
    run_ip(&["-n", internet_ns, "route", "replace", &a, "dev", &outside])?;
    let om = OUTSIDE_MAC.to_string();
    run_ip(&[
        "-n",
        tns,
        "neigh",
        "replace",
        NEXT_HOP,
        "lladdr",
        &om,
        "dev",
        "out0",
        "nud",
        "permanent",
    ])?;
    run_ip(&[
        "-n", tns, "route", "replace", "default", "via", NEXT_HOP, "dev", "out0", "onlink",
    ])?;
    // the veth between the site (`tunN`) and the tunnel (`site0`)
    let tun = format!("tun{}", n + 1);
    run_ip(&[
        "-n", site_ns, "link", "add", "dev", &tun, "type", "veth", "peer", "name", "site0",
        "netns", tns,
    ])?;
    let site_mac = SITE_TUN_MAC.to_string();
    let tunnel_mac = TUNNEL_SITE_MAC.to_string();
    run_ip(&[
        "-n", site_ns, "link", "set", "dev", &tun, "address", &site_mac, "up",
    ])?;
    run_ip(&[
        "-n",
        site_ns,
        "neigh",
        "replace",
        NEXT_HOP,
        "lladdr",
        &tunnel_mac,
        "dev",
        &tun,
        "nud",
        "permanent",
    ])?;
    run_ip(&[
        "-n",
        tns,
        "link",
        "set",
        "dev",
        "site0",
        "address",
        &tunnel_mac,
        "up",
    ])?;
    run_ip(&[
        "-n",
        tns,
        "neigh",
        "replace",
        NEXT_HOP,
        "lladdr",
        &site_mac,
        "dev",
        "site0",
        "nud",
        "permanent",
    ])?;
    for block in &item.cidrs {
        let b = block.to_string();
        let network = format!("{}/32", block.network());
        run_ip(&["-n", tns, "addr", "add", &network, "dev", "site0"])?;
        run_ip(&[
            "-n", tns, "route", "replace", &b, "via", NEXT_HOP, "dev", "site0", "onlink",
        ])?;
        // ahead of charon's table 220 (which may send everything into the tunnel)
        run_ip(&[
            "-n", tns, "rule", "add", "pref", "99", "to", &b, "lookup", "main",
        ])?;
    }
    let (aws, _) = bgp::inside_addresses(t.inside_cidr);
    if !item.static_routes_only {
        run_ip(&["-n", tns, "addr", "add", &format!("{aws}/32"), "dev", "lo"])?;
    }
    run_ip(&[
        "-n",
        tns,
        "rule",
        "add",
        "pref",
        "100",
        "iif",
        "site0",
        "lookup",
        TUNNEL_TABLE,
    ])?;
    tunnel.charon = Some(spawn_charon(tns, &dir, t.dpd_timeout_seconds)?);
    tunnel.charon_backoff.started(Instant::now());
    let made = (|| {
        attach_charon(item, n, &tunnel)?;
        if !item.static_routes_only {
            tunnel.bgpd = Some(Bgpd::start(item, n, tns, &dir.join("bgp"))?);
            tunnel.bgpd_backoff.started(Instant::now());
        }
        Ok(())
    })();
    match made {
        Ok(()) => Ok(tunnel),
        Err(e) => {
            tunnel.stop();
            Err(e)
        }
    }
}

/// Starts charon in tunnel namespace `tns` with its settings, socket and log in `dir`.
fn spawn_charon(tns: &str, dir: &Path, dpd_timeout_seconds: u32) -> anyhow::Result<Child> {
    let conf = dir.join("strongswan.conf");
    std::fs::write(&conf, strongswan_conf(dir, dpd_timeout_seconds))?;
    // a socket a charon killed left behind would only refuse connections
    let _ = std::fs::remove_file(dir.join("charon.vici"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("charon.log"))?;
    Command::new("ip")
        .args([
            "netns",
            "exec",
            tns,
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
        .context("starting charon")
}

/// Loads tunnel `n` into its (new) charon and routes through the charon's `ipsec0`:
/// what comes from the site (table 100) and, for BGP, the session to the customer
/// side's inside address.
fn attach_charon(item: &VpnConnectionItem, n: usize, tunnel: &Tunnel) -> anyhow::Result<()> {
    let tns = tunnel.namespace.as_str();
    tunnel
        .load(item, n)
        .context("loading the tunnel into charon")?;
    // `ipsec0` is charon's: route `site0`'s traffic into it once it is there
    let deadline = Instant::now() + Duration::from_secs(5);
    while run_ip(&["-n", tns, "link", "show", "dev", "ipsec0"]).is_err() {
        if Instant::now() > deadline {
            anyhow::bail!("charon made no ipsec0 (is kernel-libipsec installed?)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    run_ip(&[
        "-n",
        tns,
        "route",
        "replace",
        "default",
        "dev",
        "ipsec0",
        "table",
        TUNNEL_TABLE,
    ])?;
    if !item.static_routes_only {
        // the BGP session: to the customer side's inside address, from ours
        let (aws, customer) = bgp::inside_addresses(item.tunnels[n].inside_cidr);
        run_ip(&[
            "-n",
            tns,
            "route",
            "replace",
            &format!("{customer}/32"),
            "dev",
            "ipsec0",
            "src",
            &aws.to_string(),
        ])?;
    }
    Ok(())
}

/// The sites of the edge, by connection id, kept equal to the program's connections.
#[derive(Default)]
pub struct Sites {
    pub sites: BTreeMap<String, Site>,
}

/// Whether a site must be made anew for `w`: its blocks, tunnels' addresses or routing
/// (static or BGP, and the ASNs) changed.
fn needs_restart(s: &VpnConnectionItem, w: &VpnConnectionItem) -> bool {
    s.cidrs != w.cidrs
        || s.static_routes_only != w.static_routes_only
        || s.amazon_asn != w.amazon_asn
        || s.customer_asn != w.customer_asn
        || s.tunnels
            .iter()
            .map(|t| (t.outside_ip, t.inside_cidr))
            .ne(w.tunnels.iter().map(|t| (t.outside_ip, t.inside_cidr)))
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
                Some(s) if needs_restart(&s.item, w) => {
                    if let Some(old) = self.sites.remove(id) {
                        old.stop();
                        stopped.push(id.clone());
                    }
                    self.start(w, internet_ns, &mut started);
                }
                // Its routes alone (the data path's business; a dynamic connection's
                // are what its own BGP learned): nothing to reload.
                Some(s) if s.item.tunnels == w.tunnels => s.item = w.clone(),
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
/// data path, routes each site's destinations into its tunnels, and reports the
/// tunnels' state (on a change, and every 30 s) with `report`. Stops every site when
/// told to or when its sender goes.
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
        for (id, site) in &mut sites.sites {
            site.supervise();
            match site.status() {
                Ok((now, routes)) => {
                    site.route(&routes);
                    if last.get(id) != Some(&now) {
                        for t in &now {
                            tracing::info!(connection = id, outside = %t.outside_ip, up = t.up, bgp = t.bgp_established, learned = t.learned.len(), "VPN tunnel");
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
pub(crate) mod tests {
    use super::*;

    /// A dynamic connection of two tunnels, for tests.
    pub(crate) fn item() -> VpnConnectionItem {
        let tunnel = |outside: &str, inside: &str| VpnTunnelItem {
            outside_ip: outside.parse().unwrap(),
            inside_cidr: inside.parse().unwrap(),
            pre_shared_key: "key_of_eight".into(),
            ike_versions: vec![IkeVersion::V2],
            phase1_encryption: vec![EncryptionAlgorithm::Aes128],
            phase2_encryption: vec![EncryptionAlgorithm::Aes128],
            phase1_integrity: vec![IntegrityAlgorithm::Sha1],
            phase2_integrity: vec![IntegrityAlgorithm::Sha1],
            phase1_dh_groups: vec![14],
            phase2_dh_groups: vec![14],
            phase1_lifetime_seconds: 28800,
            phase2_lifetime_seconds: 3600,
            rekey_margin_time_seconds: 540,
            rekey_fuzz_percentage: 100,
            replay_window_size: 1024,
            dpd_timeout_seconds: 30,
            dpd_timeout_action: DpdTimeoutAction::Clear,
            startup_action: StartupAction::Add,
        };
        VpnConnectionItem {
            vpc_id: "vpc-1".into(),
            vpn_connection_id: "vpn-1".into(),
            vpn_gateway_id: "vgw-1".into(),
            vni: 1,
            cidrs: vec!["10.0.0.0/16".parse().unwrap()],
            customer_gateway_ip: "192.0.2.200".parse().unwrap(),
            customer_asn: 65000,
            amazon_asn: 64512,
            static_routes_only: false,
            routes: Vec::new(),
            local_network: Ipv4Net::default(),
            remote_network: Ipv4Net::default(),
            tunnels: vec![
                tunnel("198.51.100.10", "169.254.10.0/30"),
                tunnel("198.51.100.11", "169.254.20.0/30"),
            ],
            transit_drops: Vec::new(),
        }
    }

    #[test]
    fn only_new_addresses_or_routing_restart_a_site() {
        let a = item();
        let mut b = a.clone();
        b.routes = vec!["192.168.0.0/16".parse().unwrap()];
        assert!(!needs_restart(&a, &b));
        b.tunnels[1].dpd_timeout_seconds = 40;
        assert!(!needs_restart(&a, &b));
        b.customer_asn = 65001;
        assert!(needs_restart(&a, &b));
        let mut c = a.clone();
        c.tunnels[0].inside_cidr = "169.254.30.0/30".parse().unwrap();
        assert!(needs_restart(&a, &c));
    }

    #[test]
    fn charon_gets_the_tunnels_lifetimes_margin_fuzz_and_replay_window() {
        let mut c = item();
        let t = &mut c.tunnels[1];
        t.phase1_lifetime_seconds = 28800;
        t.phase2_lifetime_seconds = 3600;
        t.rekey_margin_time_seconds = 270;
        t.rekey_fuzz_percentage = 50;
        t.replay_window_size = 2048;
        let conn = tunnel_conn(&c, 1, &c.tunnels[1]);
        let ike = conn.get_section("tunnel2").expect("the IKE connection");
        // phase 1: rekeyed 270 s (and up to 50 % of it more) before its 28800 s end
        assert_eq!(ike.get_text("rekey_time"), Some("28530s"));
        assert_eq!(ike.get_text("over_time"), Some("270s"));
        assert_eq!(ike.get_text("rand_time"), Some("135s"));
        let child = ike
            .get_section("children")
            .and_then(|c| c.get_section("tunnel2"))
            .expect("the CHILD_SA");
        // phase 2 likewise, its hard end the lifetime itself
        assert_eq!(child.get_text("rekey_time"), Some("3330s"));
        assert_eq!(child.get_text("life_time"), Some("3600s"));
        assert_eq!(child.get_text("rand_time"), Some("135s"));
        assert_eq!(child.get_text("replay_window"), Some("2048"));
        // the other tunnel keeps its own options
        let other = tunnel_conn(&c, 0, &c.tunnels[0]);
        let ike1 = other.get_section("tunnel1").unwrap();
        assert_eq!(ike1.get_text("rekey_time"), Some("28260s"));
        assert_eq!(ike1.get_text("rand_time"), Some("540s"));
        // and it survives vici's encoding
        let mut b = Vec::new();
        conn.encode(&mut b).unwrap();
        assert_eq!(Message::decode(&b).unwrap(), conn);
    }

    #[test]
    fn a_dying_process_waits_longer_each_time_until_it_runs_a_minute() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        b.started(t0);
        assert!(!b.due(t0));
        let s = Duration::from_secs;
        assert_eq!(b.died(t0 + s(5)), s(1));
        assert!(!b.due(t0 + s(5)) && b.due(t0 + s(6)));
        let mut now = t0 + s(6);
        let mut waits = Vec::new();
        for _ in 0..6 {
            b.started(now);
            assert!(!b.due(now));
            let w = b.died(now + s(2));
            waits.push(w.as_secs());
            now += s(2) + w;
        }
        assert_eq!(waits, [2, 4, 8, 16, 30, 30]);
        // a minute up: the next death waits the first delay again
        b.started(now);
        assert_eq!(b.died(now + Backoff::STABLE), s(1));
    }

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
        let t = tunnel_namespace("vpn-0123456789abcdef0", 1);
        assert_eq!(t, "fort-vpn-0123456789abcdef0-t2");
        assert!(tap_name(&ns).len() <= 15 && outside_link(&t).len() <= 15);
        assert_ne!(
            outside_link(&t),
            outside_link(&tunnel_namespace("vpn-0123456789abcdef0", 0))
        );
    }
}
