//! A test bed for the fast path, shared by its integration test and its benchmark: two
//! instance namespaces with TAP `eth0`s (offloads on, as Fort's agent opens them), two
//! [`FastPath`]s on loopback underlay addresses, and a small user-space relay per "host"
//! standing in for the agent's slow path (TAP → Geneve/UDP with Fort's offload option →
//! peer's socket → peer's TAP). Not for production use. The instances are dual stack
//! (IPv6 `fd00:9::1` and `::2`, static, no link-local chatter), so IPv6 flows can be
//! tested as IPv4's.
//!
//! Everything created carries the caller's tag in its name and is removed on drop, also
//! when a test fails.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::layout::{GENEVE_PORT, OPTION_CLASS, OPTION_TYPE, OPTION_WORDS};
use crate::sys;
use crate::{
    Config, EgressAction, EgressKey, EgressKey6, FastPath, FlowTuple, FlowTuple6, IngressAction,
    IngressKey, IngressKey6, PortId,
};
use fort_host::sys::VNET_HDR_LEN;

pub use crate::sys::in_netns;

fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs `ip ARGS`.
pub fn ip(args: &[&str]) -> io::Result<Output> {
    run(Command::new("ip").args(args))
}

/// A network namespace deleted (its processes killed first) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn create(name: &str) -> io::Result<Netns> {
        let _ = Netns::delete(name);
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
        };
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip netns exec NAME ARGS`, without waiting.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    /// `ip netns exec NAME ARGS`, checked.
    pub fn exec(&self, args: &[&str]) -> io::Result<Output> {
        run(&mut self.command(args))
    }

    fn delete(name: &str) -> io::Result<()> {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
        ip(&["netns", "del", name]).map(drop)
    }

    /// Does a namespace of this name exist?
    pub fn exists(name: &str) -> bool {
        PathBuf::from("/run/netns").join(name).exists()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Netns::delete(&self.name);
    }
}

/// An "instance": a namespace whose `eth0` is a TAP this process holds.
#[derive(Debug)]
pub struct Instance {
    pub ns: Netns,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
}

fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Instance {
    /// Creates namespace `ns` with `eth0` (a TAP first created as `tap` in the host
    /// namespace, then moved), MTU 9001, `ip`/24, IPv6 off. Returns the TAP's file.
    pub fn create(
        ns: &str,
        tap: &str,
        mac: [u8; 6],
        addr: Ipv4Addr,
    ) -> io::Result<(Instance, File)> {
        let ns = Netns::create(ns)?;
        let _ = ip(&["link", "del", tap]);
        let file = fort_host::sys::Tap::open(tap, true)?.into_file(true)?;
        ip(&["link", "set", tap, "netns", ns.name()])?;
        let n = ns.name().to_string();
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])?;
        ip(&[
            "-n",
            &n,
            "link",
            "set",
            tap,
            "name",
            "eth0",
            "address",
            &mac_text(&mac),
            "mtu",
            "9001",
        ])?;
        ip(&[
            "-n",
            &n,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &n, "link", "set", "eth0", "up"])?;
        Ok((Instance { ns, mac, ip: addr }, file))
    }

    /// Turns IPv6 on for `eth0` with the static address `addr`/64 (no duplicate address
    /// detection, no link-local address, no router solicitations).
    pub fn add_ipv6(&self, addr: Ipv6Addr) -> io::Result<()> {
        let n = self.ns.name();
        ip(&["-n", n, "link", "set", "eth0", "addrgenmode", "none"])?;
        self.ns
            .exec(&["sysctl", "-qw", "net.ipv6.conf.eth0.accept_ra=0"])?;
        self.ns
            .exec(&["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0"])?;
        ip(&[
            "-n",
            n,
            "-6",
            "addr",
            "add",
            &format!("{addr}/64"),
            "dev",
            "eth0",
            "nodad",
        ])
        .map(drop)
    }

    /// A permanent IPv6 neighbour entry: no neighbour discovery needed.
    pub fn neighbour6(&self, addr: Ipv6Addr, mac: [u8; 6]) -> io::Result<()> {
        ip(&[
            "-n",
            self.ns.name(),
            "-6",
            "neigh",
            "replace",
            &addr.to_string(),
            "lladdr",
            &mac_text(&mac),
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])
        .map(drop)
    }

    /// A permanent neighbour entry: no ARP needed.
    pub fn neighbour(&self, addr: Ipv4Addr, mac: [u8; 6]) -> io::Result<()> {
        ip(&[
            "-n",
            self.ns.name(),
            "neigh",
            "replace",
            &addr.to_string(),
            "lladdr",
            &mac_text(&mac),
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])
        .map(drop)
    }
}

/// What a relay carried.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Frames read from the TAP and sent to the peer.
    pub from_tap: AtomicU64,
    /// TCP frames among them, and their TCP payload bytes.
    pub from_tap_tcp: AtomicU64,
    pub from_tap_tcp_payload: AtomicU64,
    /// Geneve packets received from the peer and written to the TAP.
    pub to_tap: AtomicU64,
    pub to_tap_bytes: AtomicU64,
    /// Geneve packets from an address other than the peer's: dropped.
    pub rejected: AtomicU64,
    /// Frames too large for one datagram: dropped.
    pub oversize: AtomicU64,
}

/// Called with every frame read from the TAP before it is relayed.
pub type FrameHook = Box<dyn Fn(&[u8]) + Send>;

/// A user-space relay between one TAP and the underlay: the agent's slow path in
/// miniature. Stops and joins on drop.
pub struct Relay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<RelayStats>,
}

fn tcp_payload(frame: &[u8]) -> Option<(u8, usize)> {
    if FlowTuple6::of_frame(frame).is_some() {
        let plen = usize::from(u16::from_be_bytes([frame[18], frame[19]]));
        let doff = usize::from(frame[66] >> 4) * 4;
        return Some((frame[67], plen.saturating_sub(doff)));
    }
    FlowTuple::of_frame(frame)?;
    let tot = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let doff = usize::from(frame[46] >> 4) * 4;
    Some((frame[47], tot.saturating_sub(20 + doff)))
}

impl Relay {
    /// Relays between `tap` and the UDP socket on `local`:6081, to and from `peer`:6081,
    /// with VNI `vni`.
    pub fn spawn(
        tap: File,
        local: Ipv4Addr,
        peer: Ipv4Addr,
        vni: u32,
        hook: Option<FrameHook>,
    ) -> io::Result<Relay> {
        let sock = UdpSocket::bind(SocketAddrV4::new(local, GENEVE_PORT))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let (s, st) = (stop.clone(), stats.clone());
        let thread = std::thread::spawn(move || {
            if let Err(e) = relay_loop(tap, sock, peer, vni, hook, &s, &st) {
                eprintln!("relay {local}: {e}");
            }
        });
        Ok(Relay {
            stop,
            thread: Some(thread),
            stats,
        })
    }
}

fn relay_loop(
    mut tap: File,
    sock: UdpSocket,
    peer: Ipv4Addr,
    vni: u32,
    hook: Option<FrameHook>,
    stop: &AtomicBool,
    stats: &RelayStats,
) -> io::Result<()> {
    let mut buf = vec![0u8; 70_000];
    let mut out = vec![0u8; 70_000];
    let to = SocketAddrV4::new(peer, GENEVE_PORT);
    while !stop.load(Ordering::Relaxed) {
        let ready = sys::poll_readable(&[tap.as_fd(), sock.as_fd()], 50)?;
        if ready[0] {
            let n = tap.read(&mut buf)?;
            // multicast (IPv6's MLD reports, …) stays on the link, as with Fort's engine
            if n > VNET_HDR_LEN && buf[VNET_HDR_LEN] & 1 == 0 {
                let (hdr, frame) = buf[..n].split_at(VNET_HDR_LEN);
                if let Some(h) = &hook {
                    h(frame);
                }
                stats.from_tap.fetch_add(1, Ordering::Relaxed);
                if let Some((_, payload)) = tcp_payload(frame) {
                    stats.from_tap_tcp.fetch_add(1, Ordering::Relaxed);
                    stats
                        .from_tap_tcp_payload
                        .fetch_add(payload as u64, Ordering::Relaxed);
                }
                let len = 24 + frame.len();
                if len > 65_507 {
                    stats.oversize.fetch_add(1, Ordering::Relaxed);
                } else {
                    out[0] = 4;
                    out[1] = 0;
                    out[2..4].copy_from_slice(&[0x65, 0x58]);
                    out[4..7].copy_from_slice(&vni.to_be_bytes()[1..]);
                    out[7] = 0;
                    out[8..10].copy_from_slice(&OPTION_CLASS.to_be_bytes());
                    out[10] = OPTION_TYPE;
                    out[11] = OPTION_WORDS;
                    out[12..22].copy_from_slice(hdr);
                    // no flags: as the agent's, these bytes are all the peer gets
                    out[22..24].fill(0);
                    out[24..len].copy_from_slice(frame);
                    sock.send_to(&out[..len], to)?;
                }
            }
        }
        if ready[1] {
            let (n, from) = sock.recv_from(&mut buf)?;
            if from.ip() != std::net::IpAddr::V4(peer) {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let g = &buf[..n];
            if g.len() < 8 || g[2..4] != [0x65, 0x58] {
                continue;
            }
            let opt_len = usize::from(g[0] & 0x3f) * 4;
            if g.len() < 8 + opt_len + 14 {
                continue;
            }
            let mut hdr = [0u8; VNET_HDR_LEN];
            let mut opts = &g[8..8 + opt_len];
            while opts.len() >= 4 {
                let l = usize::from(opts[3] & 0x1f) * 4;
                if opts.len() < 4 + l {
                    break;
                }
                if opts[0..2] == OPTION_CLASS.to_be_bytes() && opts[2] == OPTION_TYPE && l >= 10 {
                    hdr.copy_from_slice(&opts[4..4 + VNET_HDR_LEN]);
                }
                opts = &opts[4 + l..];
            }
            let frame = &g[8 + opt_len..];
            out[..VNET_HDR_LEN].copy_from_slice(&hdr);
            out[VNET_HDR_LEN..VNET_HDR_LEN + frame.len()].copy_from_slice(frame);
            tap.write_all(&out[..VNET_HDR_LEN + frame.len()])?;
            stats.to_tap.fetch_add(1, Ordering::Relaxed);
            stats
                .to_tap_bytes
                .fetch_add(frame.len() as u64, Ordering::Relaxed);
        }
    }
    Ok(())
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Two hosts, one instance each, joined by the fast path and the relays.
pub struct Pair {
    // drop order: relays (they hold hooks with fast-path references), fast paths (their
    // conduits), instances (namespaces)
    pub relay_a: Relay,
    pub relay_b: Relay,
    pub fa: Arc<FastPath>,
    pub fb: Arc<FastPath>,
    pub a: Instance,
    pub b: Instance,
    pub ua: Ipv4Addr,
    pub ub: Ipv4Addr,
    pub vni: u32,
    pub port_a: PortId,
    pub port_b: PortId,
    pub tag: String,
}

/// The instances' IPv6 addresses.
pub const IP6_A: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 1);
pub const IP6_B: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 2);

/// Everything needed to install a flow, shareable with a relay hook.
#[derive(Clone)]
pub struct Installer {
    fa: Arc<FastPath>,
    fb: Arc<FastPath>,
    a: ([u8; 6], Ipv4Addr, PortId, Ipv4Addr),
    b: ([u8; 6], Ipv4Addr, PortId, Ipv4Addr),
    a6: Ipv6Addr,
    vni: u32,
    installed: Arc<Mutex<HashSet<FlowTuple>>>,
    installed6: Arc<Mutex<HashSet<FlowTuple6>>>,
}

impl Installer {
    /// Installs `flow` (A → B orientation) and its reverse: the egress entries on each
    /// sending host and/or the ingress entries on each receiving host.
    pub fn install(&self, flow: FlowTuple, egress: bool, ingress: bool) -> io::Result<()> {
        let hosts = [
            (&self.fa, self.a, &self.fb, self.b, flow),
            (&self.fb, self.b, &self.fa, self.a, flow.reversed()),
        ];
        for (from, (s_mac, _, s_port, s_ul), to, (d_mac, _, d_port, d_ul), f) in hosts {
            if egress {
                let mix = u32::from(f.src_port) ^ u32::from(f.dst_port) ^ u32::from(f.src);
                let [.., hi, lo] = mix.to_be_bytes();
                let entropy = 49_152 + u16::from_be_bytes([hi, lo]) % 16_384;
                from.install_egress(
                    &EgressKey {
                        port: s_port,
                        flow: f,
                    },
                    &EgressAction {
                        src_mac: s_mac,
                        inner_dst_mac: d_mac,
                        inner_src_mac: s_mac,
                        outer_src_mac: [0; 6],
                        outer_dst_mac: [0; 6],
                        underlay_src: s_ul,
                        underlay_dst: d_ul,
                        udp_src_port: entropy,
                        vni: self.vni,
                    },
                )?;
            }
            if ingress {
                to.install_ingress(
                    &IngressKey {
                        vni: self.vni,
                        outer_src: s_ul,
                        flow: f,
                    },
                    &IngressAction {
                        port: d_port,
                        dst_mac: d_mac,
                        src_mac: s_mac,
                    },
                )?;
            }
        }
        self.installed.lock().expect("lock").insert(flow);
        Ok(())
    }

    /// [`Installer::install`] for an IPv6 flow (A → B orientation) and its reverse.
    pub fn install6(&self, flow: FlowTuple6, egress: bool, ingress: bool) -> io::Result<()> {
        let hosts = [
            (&self.fa, self.a, &self.fb, self.b, flow),
            (&self.fb, self.b, &self.fa, self.a, flow.reversed()),
        ];
        for (from, (s_mac, _, s_port, s_ul), to, (d_mac, _, d_port, d_ul), f) in hosts {
            if egress {
                let low = |a: Ipv6Addr| u32::from_be_bytes(a.octets()[12..16].try_into().unwrap());
                let mix = u32::from(f.src_port) ^ u32::from(f.dst_port) ^ low(f.src) ^ low(f.dst);
                let [.., hi, lo] = mix.to_be_bytes();
                let entropy = 49_152 + u16::from_be_bytes([hi, lo]) % 16_384;
                from.install_egress6(
                    &EgressKey6 {
                        port: s_port,
                        flow: f,
                    },
                    &EgressAction {
                        src_mac: s_mac,
                        inner_dst_mac: d_mac,
                        inner_src_mac: s_mac,
                        outer_src_mac: [0; 6],
                        outer_dst_mac: [0; 6],
                        underlay_src: s_ul,
                        underlay_dst: d_ul,
                        udp_src_port: entropy,
                        vni: self.vni,
                    },
                )?;
            }
            if ingress {
                to.install_ingress6(
                    &IngressKey6 {
                        vni: self.vni,
                        outer_src: s_ul,
                        flow: f,
                    },
                    &IngressAction {
                        port: d_port,
                        dst_mac: d_mac,
                        src_mac: s_mac,
                    },
                )?;
            }
        }
        self.installed6.lock().expect("lock").insert(flow);
        Ok(())
    }

    /// The relay hook of an "engine" that installs a connection once it is established:
    /// on its first frame without SYN, FIN or RST (the handshake's last ACK).
    fn auto(&self) -> FrameHook {
        let me = self.clone();
        Box::new(move |frame| {
            if let Some(t) = FlowTuple6::of_frame(frame) {
                if frame[67] & 0x07 != 0 {
                    return;
                }
                let flow = if t.src == me.a6 { t } else { t.reversed() };
                if me.installed6.lock().expect("lock").contains(&flow) {
                    return;
                }
                if let Err(e) = me.install6(flow, true, true) {
                    eprintln!("auto-install {flow:?}: {e}");
                }
                return;
            }
            let Some(t) = FlowTuple::of_frame(frame) else {
                return;
            };
            if frame[47] & 0x07 != 0 {
                return;
            }
            let flow = if t.src == me.a.1 { t } else { t.reversed() };
            if me.installed.lock().expect("lock").contains(&flow) {
                return;
            }
            if let Err(e) = me.install(flow, true, true) {
                eprintln!("auto-install {flow:?}: {e}");
            }
        })
    }
}

impl Pair {
    /// Builds the bed: namespaces `fpt-a-TAG` and `fpt-b-TAG` (10.9.0.1 and .2), underlay
    /// addresses `ua`, `ub`; with `auto_install`, flows are installed as soon as they are
    /// established (like the agent will), otherwise by the caller.
    pub fn new(
        tag: &str,
        ua: Ipv4Addr,
        ub: Ipv4Addr,
        auto_install: bool,
    ) -> io::Result<(Pair, Installer)> {
        let mac_a = [2, 0xf0, 0, 0, 0xa, 1];
        let mac_b = [2, 0xf0, 0, 0, 0xb, 1];
        let ip_a = Ipv4Addr::new(10, 9, 0, 1);
        let ip_b = Ipv4Addr::new(10, 9, 0, 2);
        let (a, tap_a) =
            Instance::create(&format!("fpt-a-{tag}"), &format!("fpta{tag}"), mac_a, ip_a)?;
        let (b, tap_b) =
            Instance::create(&format!("fpt-b-{tag}"), &format!("fptb{tag}"), mac_b, ip_b)?;
        a.neighbour(ip_b, mac_b)?;
        b.neighbour(ip_a, mac_a)?;
        a.add_ipv6(IP6_A)?;
        b.add_ipv6(IP6_B)?;
        a.neighbour6(IP6_B, mac_b)?;
        b.neighbour6(IP6_A, mac_a)?;
        let fa = Arc::new(FastPath::new(Config::loopback(ua, &format!("fa{tag}")))?);
        let fb = Arc::new(FastPath::new(Config::loopback(ub, &format!("fb{tag}")))?);
        let (port_a, port_b) = (PortId(1), PortId(2));
        fa.attach_port(a.ns.name(), "eth0", port_a)?;
        fb.attach_port(b.ns.name(), "eth0", port_b)?;
        let vni = 0xf00d;
        let installer = Installer {
            fa: fa.clone(),
            fb: fb.clone(),
            a: (mac_a, ip_a, port_a, ua),
            b: (mac_b, ip_b, port_b, ub),
            a6: IP6_A,
            vni,
            installed: Arc::new(Mutex::new(HashSet::new())),
            installed6: Arc::new(Mutex::new(HashSet::new())),
        };
        let (hook_a, hook_b) = if auto_install {
            (Some(installer.auto()), Some(installer.auto()))
        } else {
            (None, None)
        };
        let relay_a = Relay::spawn(tap_a, ua, ub, vni, hook_a)?;
        let relay_b = Relay::spawn(tap_b, ub, ua, vni, hook_b)?;
        Ok((
            Pair {
                relay_a,
                relay_b,
                fa,
                fb,
                a,
                b,
                ua,
                ub,
                vni,
                port_a,
                port_b,
                tag: tag.to_string(),
            },
            installer,
        ))
    }
}

/// Three underlay addresses for this process: 127.77.X.Y, 127.78.X.Y, 127.79.X.Y with
/// X.Y from the pid (all of 127/8 is on `lo`; other Fort runs use 127.0.0.x).
pub fn underlay_addresses() -> [Ipv4Addr; 3] {
    let pid = std::process::id();
    let [.., x, y] = pid.to_be_bytes();
    let y = y.max(1);
    [77, 78, 79].map(|n| Ipv4Addr::new(127, n, x, y))
}
