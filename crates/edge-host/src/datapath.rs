//! The edge's data path: one thread running [`fort_edge::Edge`] between the Geneve
//! underlay socket and the internet namespace's TAP.
//!
//! * Geneve from an instance host → (offloads finished, see [`crate::offload`]) →
//!   `process_from_vpc` → `ToInternet`: written to the TAP; `ToVpc` (a RST, an ICMP
//!   "fragmentation needed"): back over Geneve.
//! * TAP → `process_from_internet` → `ToVpc { vni, dst }` (or `ToVpc6` for IPv6):
//!   V2P(vni, dst) gives the host and the ENI's MAC; inner MACs written (router MAC →
//!   ENI MAC), Geneve to that host.
//! * `expire(now)` every second; the counters published for `/metrics` every 250 ms.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use fort_dataplane::overlay::{self, GENEVE_OFFSET};
use fort_dataplane::program::Underlay;
use fort_dataplane::wire::MacAddr;
use fort_edge::{Edge, EdgeConfig, EdgeProgram, Gateway, Stats, Time, Verdict, set_inner_macs};
use fort_host::sys::{self, Epoll, EventFd, Tap, VNET_HDR_LEN};
use fort_host::worker::Worker;
use fort_sync::client::Status;
use tokio::sync::watch;

use crate::internet::{EDGE_MAC, INTERNET_MAC};
use crate::offload::{self, VnetHeader};

pub const GENEVE_PORT: u16 = fort_dataplane::wire::geneve::UDP_PORT;
const BUF: usize = 65_536 + VNET_HDR_LEN;
const BURST: usize = 64;
const TOKEN_SOCKET: u64 = 0;
const TOKEN_COMMAND: u64 = 1;
const TOKEN_TAP: u64 = 2;
/// VPN sites' TAPs: this plus the site's slot.
const TOKEN_VPN: u64 = 16;

/// Where each private address of the served VPCs lives: (VNI, IP) → (host, ENI MAC),
/// the same for their IPv6 addresses, and each VPC's router MAC.
#[derive(Clone, Debug, Default)]
pub struct V2p {
    pub hosts: HashMap<(u32, Ipv4Addr), (Ipv4Addr, MacAddr)>,
    pub hosts6: HashMap<(u32, Ipv6Addr), (Ipv4Addr, MacAddr)>,
    pub routers: HashMap<u32, MacAddr>,
}

pub enum Command {
    /// Run this program; it is generation (epoch, generation) of the edge's program.
    Program(Box<(EdgeProgram, V2p)>, (u64, u64)),
    /// A VPN connection's site started: its `vpc0` is the other end of this TAP.
    VpnLink(String, Tap),
    /// A VPN connection's site stopped.
    VpnUnlink(String),
    Stop,
}

/// What `/metrics` shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub host_id: String,
    pub stats: Stats,
    pub nat_flows: usize,
    pub eigw_flows: usize,
    pub internet_gateways: usize,
    pub egress_only_internet_gateways: usize,
    pub public_ips: usize,
    pub nat_gateways: usize,
    pub mappings: usize,
    pub geneve_rx: u64,
    pub geneve_tx: u64,
    pub internet_rx: u64,
    pub internet_tx: u64,
    pub vpn_rx: u64,
    pub vpn_tx: u64,
    pub vpn_sites: usize,
    /// The process's own drops (the library's are in `stats`).
    pub drops: BTreeMap<&'static str, u64>,
}

pub type Shared = Arc<Mutex<Snapshot>>;

/// The gateway endpoints' TCP flows the data path saw open toward a service's address,
/// by (service address, port at [`fort_edge::ENDPOINT_SOURCE`]): how the service's
/// forwarder, which sees only that shared source, learns which endpoint, VPC and client
/// a connection is. Written at the flow's SYN, before the SYN reaches the internet
/// namespace, so an accepted connection always finds its entry; taken by the forwarder.
#[derive(Clone, Default)]
pub struct EndpointFlows(Arc<Mutex<FlowsByPort>>);

/// (service address, port at the endpoints' source) → the flow, and when its SYN left.
type FlowsByPort = HashMap<(SocketAddrV4, u16), (fort_edge::EndpointFlow, Instant)>;

/// Entries kept at most; beyond, those older than a minute (SYNs never accepted) go.
const MAX_ENDPOINT_FLOWS: usize = 4096;

impl EndpointFlows {
    fn put(&self, service: SocketAddrV4, port: u16, flow: fort_edge::EndpointFlow) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_ENDPOINT_FLOWS {
            m.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(60));
        }
        if m.len() < MAX_ENDPOINT_FLOWS {
            m.insert((service, port), (flow, Instant::now()));
        }
    }

    /// The flow of a connection accepted at `service` from the endpoints' source `port`.
    pub fn take(&self, service: SocketAddrV4, port: u16) -> Option<fort_edge::EndpointFlow> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&(service, port)).map(|(f, _)| f)
    }
}

/// The handle the edge keeps: queue commands and wake the thread.
pub type Handle = Worker<Command>;

struct DataPath {
    edge: Edge,
    sock: UdpSocket,
    tap: Tap,
    epoll: Epoll,
    wake: Arc<EventFd>,
    rx: mpsc::Receiver<Command>,
    v2p: V2p,
    status: watch::Sender<Status>,
    underlay: Underlay,
    snap: Snapshot,
    shared: Shared,
    start: Instant,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    wire: Vec<u8>,
    /// VPN sites' TAPs by slot (token `TOKEN_VPN + slot`), with their connection's id.
    vpn: Vec<Option<(String, Tap)>>,
    endpoint_flows: EndpointFlows,
}

/// Binds `underlay:6081` and starts the data path thread over `tap`.
/// `status` says which generation the data path runs with.
pub fn start(
    underlay: Ipv4Addr,
    tap: Tap,
    host_id: &str,
    shared: Shared,
    status: watch::Sender<Status>,
    endpoint_flows: EndpointFlows,
) -> io::Result<Handle> {
    let sock = UdpSocket::bind(SocketAddrV4::new(underlay, GENEVE_PORT))?;
    sock.set_nonblocking(true)?;
    sys::set_socket_buffers(sys::fd_of(&sock), 8 << 20);
    let epoll = Epoll::new()?;
    let wake = Arc::new(EventFd::new()?);
    epoll.add(sock.as_raw_fd(), TOKEN_SOCKET)?;
    epoll.add(wake.raw_fd(), TOKEN_COMMAND)?;
    epoll.add(tap.raw_fd(), TOKEN_TAP)?;
    let (tx, rx) = mpsc::channel();
    let mut dp = DataPath {
        edge: Edge::new(EdgeConfig::default()),
        sock,
        tap,
        epoll,
        wake: wake.clone(),
        rx,
        v2p: V2p::default(),
        status,
        underlay: Underlay {
            address: underlay,
            ..Underlay::default()
        },
        snap: Snapshot {
            host_id: host_id.to_string(),
            ..Snapshot::default()
        },
        shared,
        start: Instant::now(),
        inbuf: vec![0u8; BUF],
        out: Vec::with_capacity(BUF),
        wire: Vec::with_capacity(BUF + 128),
        vpn: Vec::new(),
        endpoint_flows,
    };
    let thread = std::thread::Builder::new()
        .name(format!("fort-edge-{host_id}"))
        .spawn(move || dp.run())?;
    Ok(Worker::new(tx, wake, thread, || Command::Stop))
}

fn bump(map: &mut BTreeMap<&'static str, u64>, reason: &'static str) {
    *map.entry(reason).or_default() += 1;
}

impl DataPath {
    fn now(&self) -> Time {
        // u64 nanoseconds last 584 years
        Time(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn run(&mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 16];
        let mut tokens = Vec::with_capacity(16);
        let mut last_publish = Instant::now();
        let mut last_expire = Instant::now();
        loop {
            if let Err(e) = self.epoll.wait(&mut events, &mut tokens, 100) {
                tracing::error!(error = %e, "epoll failed; the edge's data path stops");
                return;
            }
            for &t in &tokens {
                match t {
                    TOKEN_SOCKET => self.read_underlay(),
                    TOKEN_TAP => self.read_internet(),
                    t if t >= TOKEN_VPN => self.read_vpn(t - TOKEN_VPN),
                    _ => {
                        self.wake.drain();
                        if !self.commands() {
                            self.publish();
                            return;
                        }
                    }
                }
            }
            if last_expire.elapsed() >= Duration::from_secs(1) {
                let now = self.now();
                self.edge.expire(now);
                last_expire = Instant::now();
            }
            if last_publish.elapsed() >= Duration::from_millis(250) {
                self.publish();
                last_publish = Instant::now();
            }
        }
    }

    fn commands(&mut self) -> bool {
        while let Ok(c) = self.rx.try_recv() {
            match c {
                Command::Stop => return false,
                Command::VpnLink(id, tap) => {
                    let slot = match self.vpn.iter().position(Option::is_none) {
                        Some(s) => s,
                        None => {
                            self.vpn.push(None);
                            self.vpn.len() - 1
                        }
                    };
                    if let Err(e) = self.epoll.add(tap.raw_fd(), TOKEN_VPN + slot as u64) {
                        tracing::error!(connection = id, error = %e, "VPN site's TAP not polled");
                        continue;
                    }
                    self.vpn[slot] = Some((id, tap));
                    self.snap.vpn_sites = self.vpn.iter().flatten().count();
                }
                Command::VpnUnlink(id) => {
                    for s in &mut self.vpn {
                        if s.as_ref().is_some_and(|(i, _)| *i == id)
                            && let Some((_, tap)) = s.take()
                        {
                            let _ = self.epoll.delete(tap.raw_fd());
                        }
                    }
                    self.snap.vpn_sites = self.vpn.iter().flatten().count();
                }
                Command::Program(p, (epoch, generation)) => {
                    let (program, v2p) = *p;
                    self.snap.internet_gateways = program.internet_gateways.len();
                    self.snap.egress_only_internet_gateways =
                        program.egress_only_internet_gateways.len();
                    self.snap.public_ips = program.public_ips.len();
                    self.snap.nat_gateways = program.nat_gateways.len();
                    self.snap.mappings = v2p.hosts.len() + v2p.hosts6.len();
                    self.edge.set_program(program);
                    self.v2p = v2p;
                    self.status.send_replace(Status {
                        epoch,
                        generation,
                        problem: None,
                    });
                }
            }
        }
        true
    }

    fn publish(&mut self) {
        self.snap.stats = self.edge.stats().clone();
        self.snap.nat_flows = self.edge.nat_table().len();
        self.snap.eigw_flows = self.edge.egress_only_flows();
        *self.shared.lock().expect("metrics lock") = self.snap.clone();
    }

    /// Geneve from instance hosts.
    fn read_underlay(&mut self) {
        let mut buf = std::mem::take(&mut self.inbuf);
        for _ in 0..BURST {
            let n = match self.sock.recv_from(&mut buf) {
                Ok((n, SocketAddr::V4(_))) => n,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "underlay receive failed");
                    break;
                }
            };
            self.snap.geneve_rx += 1;
            let Ok((vni, off)) = overlay::geneve_payload(&buf[..n]) else {
                bump(&mut self.snap.drops, "not_geneve");
                continue;
            };
            let hdr = fort_host::offload::read_option(&buf[..n])
                .map(|h| VnetHeader::parse(&h))
                .unwrap_or_default();
            offload::finish(hdr, &mut buf[off..n], |frame| {
                self.handle_vpc_frame(vni, frame)
            });
        }
        self.inbuf = buf;
    }

    fn handle_vpc_frame(&mut self, vni: u32, frame: &mut [u8]) {
        let now = self.now();
        match self
            .edge
            .process_from_vpc(now, vni, Gateway::Infer, frame, &mut self.out)
        {
            Verdict::ToInternet => {
                self.note_endpoint_flow();
                self.write_internet()
            }
            Verdict::ToVpc { vni, dst } => self.send_vpc(vni, dst),
            Verdict::ToVpcThroughAttachment {
                vni,
                dst,
                attachment,
            } => self.send_vpc_through(vni, dst, Some(attachment)),
            Verdict::ToVpc6 { vni, dst } => self.send_vpc6(vni, dst),
            Verdict::ToVpn { connection } => self.write_vpn(connection),
            Verdict::Drop { reason } => {
                tracing::trace!(vni, %reason, "dropped from the VPC");
            }
        }
    }

    /// Frames from the internet namespace.
    fn read_internet(&mut self) {
        let mut buf = std::mem::take(&mut self.inbuf);
        for _ in 0..BURST {
            let n = match self.tap.file().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "internet TAP read failed");
                    break;
                }
            };
            if n < VNET_HDR_LEN + 14 + 20 {
                continue;
            }
            self.snap.internet_rx += 1;
            match [buf[VNET_HDR_LEN + 12], buf[VNET_HDR_LEN + 13]] {
                [0x08, 0x00] => {}
                // the namespace's own link chatter (MLD, neighbour discovery): multicast
                [0x86, 0xdd] if buf[VNET_HDR_LEN] & 1 == 1 => {
                    bump(&mut self.snap.drops, "internet_multicast");
                    continue;
                }
                [0x86, 0xdd] => {}
                _ => {
                    bump(&mut self.snap.drops, "internet_not_ip");
                    continue;
                }
            }
            let hdr = VnetHeader::parse(&buf[..VNET_HDR_LEN]);
            offload::finish(hdr, &mut buf[VNET_HDR_LEN..n], |frame| {
                self.handle_internet_frame(frame)
            });
        }
        self.inbuf = buf;
    }

    fn handle_internet_frame(&mut self, frame: &mut [u8]) {
        let now = self.now();
        match self
            .edge
            .process_from_internet(now, &frame[14..], &mut self.out)
        {
            Verdict::ToVpc { vni, dst } => self.send_vpc(vni, dst),
            Verdict::ToVpcThroughAttachment {
                vni,
                dst,
                attachment,
            } => self.send_vpc_through(vni, dst, Some(attachment)),
            Verdict::ToVpc6 { vni, dst } => self.send_vpc6(vni, dst),
            Verdict::ToInternet => self.write_internet(),
            Verdict::ToVpn { .. } => bump(&mut self.snap.drops, "internet_to_vpn"),
            Verdict::Drop { reason } => {
                tracing::trace!(%reason, "dropped from the internet");
            }
        }
    }

    /// The index of connection `id` in the running program.
    fn connection_index(&self, id: &str) -> Option<u32> {
        let i = self
            .edge
            .program()
            .vpn_connections
            .iter()
            .position(|c| c.vpn_connection_id == id)?;
        u32::try_from(i).ok()
    }

    /// Packets out of a VPN site (from its tunnels) toward the VPC.
    fn read_vpn(&mut self, slot: u64) {
        let Some(Some((id, _))) = usize::try_from(slot).ok().and_then(|s| self.vpn.get(s)) else {
            return;
        };
        let id = id.clone();
        let mut buf = std::mem::take(&mut self.inbuf);
        for _ in 0..BURST {
            let Some(Some((_, tap))) = usize::try_from(slot).ok().and_then(|s| self.vpn.get(s))
            else {
                break;
            };
            let n = match tap.file().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "VPN TAP read failed");
                    break;
                }
            };
            if n < VNET_HDR_LEN + 14 + 20
                || buf[VNET_HDR_LEN + 12..VNET_HDR_LEN + 14] != [0x08, 0x00]
            {
                continue;
            }
            self.snap.vpn_rx += 1;
            let Some(connection) = self.connection_index(&id) else {
                bump(&mut self.snap.drops, "vpn_connection_gone");
                continue;
            };
            let hdr = VnetHeader::parse(&buf[..VNET_HDR_LEN]);
            offload::finish(hdr, &mut buf[VNET_HDR_LEN..n], |frame| {
                match self
                    .edge
                    .process_from_vpn(connection, &frame[14..], &mut self.out)
                {
                    Verdict::ToVpc { vni, dst } => self.send_vpc(vni, dst),
                    Verdict::ToVpcThroughAttachment {
                        vni,
                        dst,
                        attachment,
                    } => self.send_vpc_through(vni, dst, Some(attachment)),
                    Verdict::Drop { reason } => {
                        tracing::trace!(%reason, "dropped from a VPN connection");
                    }
                    _ => {}
                }
            });
        }
        self.inbuf = buf;
    }

    /// Writes the IPv4 packet in `self.out` into connection `connection`'s site.
    fn write_vpn(&mut self, connection: u32) {
        let Some(id) = self
            .edge
            .program()
            .vpn_connections
            .get(connection as usize)
            .map(|c| c.vpn_connection_id.clone())
        else {
            return;
        };
        let Some((_, tap)) = self.vpn.iter().flatten().find(|(i, _)| *i == id) else {
            bump(&mut self.snap.drops, "vpn_site_missing");
            return;
        };
        let mut eth = [0u8; 14];
        eth[0..6].copy_from_slice(&crate::vpn::SITE_VPC_MAC.0);
        eth[6..12].copy_from_slice(&EDGE_MAC.0);
        eth[12..14].copy_from_slice(&[0x08, 0x00]);
        let vnet = [0u8; VNET_HDR_LEN];
        let iov = [
            IoSlice::new(&vnet),
            IoSlice::new(&eth),
            IoSlice::new(&self.out),
        ];
        match tap.file().write_vectored(&iov) {
            Ok(n) if n == VNET_HDR_LEN + 14 + self.out.len() => self.snap.vpn_tx += 1,
            Ok(_) => bump(&mut self.snap.drops, "vpn_short_write"),
            Err(e) => {
                tracing::debug!(error = %e, "VPN TAP write failed");
                bump(&mut self.snap.drops, "vpn_write_failed");
            }
        }
    }

    /// Writes the IPv4 or IPv6 packet in `self.out` to the internet.
    /// A TCP SYN leaving from the gateway endpoints' source: its flow, for the service's
    /// forwarder (see [`EndpointFlows`]).
    fn note_endpoint_flow(&mut self) {
        let p = &self.out;
        if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 6 {
            return;
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let Some(tcp) = p.get(ihl..ihl + 14) else {
            return;
        };
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        // SYN without ACK
        if src != fort_edge::ENDPOINT_SOURCE || tcp[13] & 0x12 != 0x02 {
            return;
        }
        let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
        let port = u16::from_be_bytes([tcp[0], tcp[1]]);
        let service = SocketAddrV4::new(dst, u16::from_be_bytes([tcp[2], tcp[3]]));
        if let Some(flow) = self.edge.endpoint_flow(service, port) {
            self.endpoint_flows.put(service, port, flow);
        }
    }

    fn write_internet(&mut self) {
        let mut eth = [0u8; 14];
        eth[0..6].copy_from_slice(&INTERNET_MAC.0);
        eth[6..12].copy_from_slice(&EDGE_MAC.0);
        let ethertype = if self.out.first().is_some_and(|b| b >> 4 == 6) {
            [0x86, 0xdd]
        } else {
            [0x08, 0x00]
        };
        eth[12..14].copy_from_slice(&ethertype);
        let vnet = [0u8; VNET_HDR_LEN];
        let iov = [
            IoSlice::new(&vnet),
            IoSlice::new(&eth),
            IoSlice::new(&self.out),
        ];
        match self.tap.file().write_vectored(&iov) {
            Ok(n) if n == VNET_HDR_LEN + 14 + self.out.len() => self.snap.internet_tx += 1,
            Ok(_) => bump(&mut self.snap.drops, "internet_short_write"),
            Err(e) => {
                tracing::debug!(error = %e, "internet TAP write failed");
                bump(&mut self.snap.drops, "internet_write_failed");
            }
        }
    }

    /// Sends the frame in `self.out` to `dst`'s host in the VPC numbered `vni`.
    fn send_vpc(&mut self, vni: u32, dst: Ipv4Addr) {
        self.send_vpc_through(vni, dst, None);
    }

    /// [`DataPath::send_vpc`], from `source` as the inner source MAC when given (a
    /// transit gateway attachment's, which the receiving host judges the packet by).
    fn send_vpc_through(&mut self, vni: u32, dst: Ipv4Addr, source: Option<MacAddr>) {
        let Some(&(host, mac)) = self.v2p.hosts.get(&(vni, dst)) else {
            bump(&mut self.snap.drops, "no_mapping");
            return;
        };
        let [.., hi, lo] = dst.octets();
        self.send_to_host(vni, host, mac, [hi, lo], source);
    }

    /// [`DataPath::send_vpc`] for an IPv6 destination.
    fn send_vpc6(&mut self, vni: u32, dst: Ipv6Addr) {
        let Some(&(host, mac)) = self.v2p.hosts6.get(&(vni, dst)) else {
            bump(&mut self.snap.drops, "no_mapping");
            return;
        };
        let [.., hi, lo] = dst.octets();
        self.send_to_host(vni, host, mac, [hi, lo], None);
    }

    /// Encapsulates the frame in `self.out` for the ENI `mac` on `host` (`entropy`: the
    /// destination's last two bytes, for the outer source port).
    fn send_to_host(
        &mut self,
        vni: u32,
        host: Ipv4Addr,
        mac: MacAddr,
        entropy: [u8; 2],
        source: Option<MacAddr>,
    ) {
        let Some(&router) = self.v2p.routers.get(&vni) else {
            bump(&mut self.snap.drops, "unknown_vpc");
            return;
        };
        set_inner_macs(&mut self.out, source.unwrap_or(router), mac);
        let [hi, lo] = entropy;
        let port = 0xc000 | u16::from_be_bytes([hi & 0x3f, lo]);
        let outer = overlay::outer_template(&self.underlay, host, vni, port);
        if overlay::encapsulate(&mut self.wire, &outer, &self.out).is_err() {
            bump(&mut self.snap.drops, "too_large");
            return;
        }
        let to = SocketAddrV4::new(host, GENEVE_PORT);
        match self.sock.send_to(&self.wire[GENEVE_OFFSET..], to) {
            Ok(_) => self.snap.geneve_tx += 1,
            Err(e) => {
                tracing::debug!(%to, error = %e, "underlay send failed");
                bump(&mut self.snap.drops, "underlay_send_failed");
            }
        }
    }
}
