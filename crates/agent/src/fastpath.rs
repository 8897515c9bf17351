//! The kernel fast path, driven by the engine: once the engine has decided an established
//! TCP flow, its later packets cross the kernel alone (`fort_fastpath`: BPF on the
//! instance's `eth0`, a conduit per port and the underlay device), and the agent keeps
//! the engine's state in step with what the kernel carried.
//!
//! * [`Offloads::decided`] looks at the flow of each frame a cached decision of the
//!   engine served, as the engine parsed it (the agent parses no frame): a flow the engine
//!   would offload (see `fort_dataplane::offload`) is installed.
//! * [`Offloads::tick`], every second: traffic the kernel carried goes to the engine
//!   (tracking, flow logs) and to the port's metrics; flows the engine would no longer
//!   decide the same way (a program change, a closing or idle connection) are removed,
//!   and their next packet takes the engine's path again.
//!
//! IPv6 flows (inner IPv6 over the IPv4 underlay) take the same steps with the engine's
//! and the fast path's IPv6 halves ([`Offloads::decided6`], `Engine::offload6`, the
//! `*6` maps).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use fort_dataplane::overlay::OUTER_LEN;
use fort_dataplane::{
    Arrival, CachedFlow, CachedFlow6, Engine, Offload, Offload6, OffloadAction, PortId, Time,
};
use fort_fastpath::{
    EgressAction, EgressKey, EgressKey6, FastPath, FlowCounters, FlowTuple, FlowTuple6,
    IngressAction, IngressKey, IngressKey6,
};

/// The kernel fast path of an agent whose underlay is `underlay`, if this machine can run
/// it (BPF with tcx, Linux 6.6 or later), unless `FORT_FASTPATH=off`. On one machine the
/// underlay is `lo` (127/8 addresses); otherwise it is the device that holds the address.
/// Without it every packet takes the engine's path, as before.
pub fn start(underlay: Ipv4Addr) -> Option<(Arc<FastPath>, Underlay)> {
    if std::env::var("FORT_FASTPATH").is_ok_and(|v| v == "off") {
        tracing::info!("kernel fast path off (FORT_FASTPATH=off)");
        return None;
    }
    // conduit names: `f` + the address's low 24 bits in hex + `p` + the port's number
    let prefix = format!("f{:06x}p", u32::from(underlay) & 0x00ff_ffff);
    let (config, device) = if underlay.is_loopback() {
        (
            fort_fastpath::Config::loopback(underlay, &prefix),
            Underlay::Loopback,
        )
    } else {
        let Some(dev) = device_of(underlay) else {
            tracing::warn!(%underlay, "no device holds the underlay address: no kernel fast path");
            return None;
        };
        let mac = std::fs::read_to_string(format!("/sys/class/net/{dev}/address"))
            .ok()
            .and_then(|m| parse_mac(m.trim()));
        let (Ok(config), Some(mac)) = (fort_fastpath::Config::device(underlay, &dev, &prefix), mac)
        else {
            tracing::warn!(
                device = dev,
                "cannot use the underlay device: no kernel fast path"
            );
            return None;
        };
        (config, Underlay::Device { name: dev, mac })
    };
    match FastPath::new(config) {
        Ok(fp) => Some((Arc::new(fp), device)),
        Err(e) => {
            tracing::warn!(error = %e, "no kernel fast path (BPF/tcx unavailable?); the engine carries every packet");
            None
        }
    }
}

/// Where encapsulated frames go.
#[derive(Clone, Debug)]
pub enum Underlay {
    /// Into `lo`'s receive path: no MACs needed.
    Loopback,
    /// Out of a device, to the next hop's MAC (from the kernel's neighbour table).
    Device { name: String, mac: [u8; 6] },
}

/// The device holding `address` in this network namespace.
fn device_of(address: Ipv4Addr) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        // "3: uA    inet 10.254.0.1/30 ..."
        let mut f = l.split_whitespace();
        let dev = f.nth(1)?;
        let inet = f.skip_while(|w| *w != "inet").nth(1)?;
        (inet.split('/').next()? == address.to_string()).then(|| dev.to_string())
    })
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|x| u8::from_str_radix(x, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    v.try_into().ok()
}

/// The MAC the kernel resolved for `ip` on `device` (`/proc/net/arp`), if complete.
fn neighbour(device: &str, ip: Ipv4Addr) -> Option<[u8; 6]> {
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 6 && f[0] == ip.to_string() && f[5] == device && f[2] == "0x2")
            .then(|| parse_mac(f[3]))
            .flatten()
    })
}

/// The engine's description of an installed direction, in its address family.
#[derive(Clone, Copy)]
enum AnyOffload {
    V4(Offload),
    V6(Offload6),
}

impl AnyOffload {
    fn current(&self, engine: &Engine, now: Time) -> bool {
        match self {
            AnyOffload::V4(o) => engine.offload_current(o, now),
            AnyOffload::V6(o) => engine.offload_current6(o, now),
        }
    }

    fn carried(&self, engine: &mut Engine, packets: u64, bytes: u64, now: Time) {
        match self {
            AnyOffload::V4(o) => engine.offloaded(o, packets, bytes, now),
            AnyOffload::V6(o) => engine.offloaded6(o, packets, bytes, now),
        }
    }
}

/// One installed direction of a flow, and what the kernel had carried at the last tick.
struct Installed {
    offload: AnyOffload,
    /// The port whose metrics the traffic counts to.
    port: PortId,
    seen: (u64, u64),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Egress(EgressKey),
    Ingress(IngressKey),
    Egress6(EgressKey6),
    Ingress6(IngressKey6),
}

impl Key {
    /// Whether the instance sends the flow (it arrives from the underlay otherwise).
    fn is_egress(&self) -> bool {
        matches!(self, Key::Egress(_) | Key::Egress6(_))
    }
}

/// The fast path of one agent and the flows it carries.
pub struct Offloads {
    fp: Arc<FastPath>,
    underlay: Underlay,
    /// Engine port slot → the fast path's id for the port (attached by the reconciler).
    ports: HashMap<u16, fort_fastpath::PortId>,
    installed: HashMap<Key, Installed>,
    /// What the kernel carried since the last tick, per port, for metrics.
    carried: Carried,
    /// Next-hop MACs read from the neighbour table, until the next tick.
    next_hops: HashMap<Ipv4Addr, [u8; 6]>,
}

/// Traffic the kernel carried for one port since the last tick: (packets, bytes) sent by
/// the instance and delivered to it.
pub type Carried = HashMap<PortId, ((u64, u64), (u64, u64))>;

fn mac(b: &[u8]) -> [u8; 6] {
    b[..6].try_into().expect("six bytes")
}

/// The fast path's tuple for a flow the engine served: TCP with none of SYN, FIN, RST
/// ([`CachedFlow::may_offload`]) and no IP options (the kernel programs read 20-byte
/// headers only), the only kind the fast path carries.
fn fast_tuple(flow: &CachedFlow) -> Option<FlowTuple> {
    (flow.may_offload() && !flow.ip_options).then_some(FlowTuple {
        src: flow.tuple.src,
        dst: flow.tuple.dst,
        src_port: flow.tuple.src_port,
        dst_port: flow.tuple.dst_port,
    })
}

/// [`fast_tuple`] for an IPv6 flow: TCP without SYN, FIN, RST whose next header is TCP
/// (no extension headers: the kernel programs read the 40-byte header only).
fn fast_tuple6(flow: &CachedFlow6) -> Option<FlowTuple6> {
    (flow.may_offload() && !flow.ip_options).then_some(FlowTuple6 {
        src: flow.tuple.src,
        dst: flow.tuple.dst,
        src_port: flow.tuple.src_port,
        dst_port: flow.tuple.dst_port,
    })
}

impl Offloads {
    pub fn new((fp, underlay): (Arc<FastPath>, Underlay)) -> Offloads {
        Offloads {
            fp,
            underlay,
            ports: HashMap::new(),
            installed: HashMap::new(),
            carried: Carried::new(),
            next_hops: HashMap::new(),
        }
    }

    /// The engine's ports and the fast path's ids for them; flows of ports that changed
    /// are dropped.
    pub fn set_ports(
        &mut self,
        engine: &mut Engine,
        ports: HashMap<u16, fort_fastpath::PortId>,
        now: Time,
    ) {
        if ports != self.ports {
            let gone: Vec<Key> = self
                .installed
                .iter()
                .filter(|(_, i)| self.ports.get(&i.port.0) != ports.get(&i.port.0))
                .map(|(k, _)| *k)
                .collect();
            for k in gone {
                self.remove(engine, k, now);
            }
            self.ports = ports;
        }
    }

    /// The flow of a frame a cached decision of the engine just served (handed back by
    /// its in-place process call): installed if the engine would offload it and it is
    /// not installed yet.
    pub fn decided(&mut self, engine: &Engine, flow: &CachedFlow, now: Time) {
        let Some(tuple) = fast_tuple(flow) else {
            return;
        };
        match flow.arrival {
            Arrival::Port(port) => self.egress(engine, port, tuple, flow, now),
            Arrival::Underlay { vni, outer_src } => {
                let k = IngressKey {
                    vni,
                    outer_src,
                    flow: tuple,
                };
                self.ingress(engine, k, flow, now);
            }
        }
    }

    /// [`Offloads::decided`] for an IPv6 flow.
    pub fn decided6(&mut self, engine: &Engine, flow: &CachedFlow6, now: Time) {
        let Some(tuple) = fast_tuple6(flow) else {
            return;
        };
        match flow.arrival {
            Arrival::Port(port) => {
                let Some(&fast_port) = self.ports.get(&port.0) else {
                    return;
                };
                let k = EgressKey6 {
                    port: fast_port,
                    flow: tuple,
                };
                let key = Key::Egress6(k);
                if self.installed.contains_key(&key) {
                    return;
                }
                let Some(o) = engine.offload6(flow, now) else {
                    return;
                };
                let Some(action) = self.egress_action(&o) else {
                    return;
                };
                let put = self.fp.install_egress6(&k, &action);
                self.record(key, AnyOffload::V6(o), port, put);
            }
            Arrival::Underlay { vni, outer_src } => {
                let k = IngressKey6 {
                    vni,
                    outer_src,
                    flow: tuple,
                };
                let key = Key::Ingress6(k);
                if self.installed.contains_key(&key) {
                    return;
                }
                let Some(o) = engine.offload6(flow, now) else {
                    return;
                };
                let Some((port, action)) = self.ingress_action(&o) else {
                    return;
                };
                let put = self.fp.install_ingress6(&k, &action);
                self.record(key, AnyOffload::V6(o), port, put);
            }
        }
    }

    /// A flow the instance behind `port` sends.
    fn egress(
        &mut self,
        engine: &Engine,
        port: PortId,
        tuple: FlowTuple,
        flow: &CachedFlow,
        now: Time,
    ) {
        let Some(&fast_port) = self.ports.get(&port.0) else {
            return;
        };
        let k = EgressKey {
            port: fast_port,
            flow: tuple,
        };
        let key = Key::Egress(k);
        if self.installed.contains_key(&key) {
            return;
        }
        let Some(o) = engine.offload(flow, now) else {
            return;
        };
        let Some(action) = self.egress_action(&o) else {
            return;
        };
        let put = self.fp.install_egress(&k, &action);
        self.record(key, AnyOffload::V4(o), port, put);
    }

    /// The egress entry's action for the engine's encapsulation `o` (of either family):
    /// none for anything else, or while the next hop's MAC is unknown.
    fn egress_action<A>(&mut self, o: &Offload<A>) -> Option<EgressAction> {
        let OffloadAction::Encap {
            outer, host, vni, ..
        } = o.action
        else {
            return None;
        };
        let (outer_src_mac, outer_dst_mac) = match &self.underlay {
            Underlay::Loopback => (mac(&outer[6..12]), mac(&outer[0..6])),
            // the engine's packets went out through the kernel's socket, which resolved
            // the next hop; until it has, the engine keeps the flow
            Underlay::Device { name, mac } => {
                let next_hop = match self.next_hops.get(&host) {
                    Some(m) => *m,
                    None => match neighbour(name, host) {
                        Some(m) => *self.next_hops.entry(host).or_insert(m),
                        None => return None,
                    },
                };
                (*mac, next_hop)
            }
        };
        let (inner_src, inner_dst) = o.rewrite.unwrap_or((o.src_mac, o.dst_mac));
        Some(EgressAction {
            src_mac: o.src_mac.0,
            inner_dst_mac: inner_dst.0,
            inner_src_mac: inner_src.0,
            outer_dst_mac,
            outer_src_mac,
            underlay_src: Ipv4Addr::new(outer[26], outer[27], outer[28], outer[29]),
            underlay_dst: host,
            udp_src_port: u16::from_be_bytes([outer[34], outer[35]]),
            vni,
        })
    }

    /// A flow arriving from the underlay (`k` names it as the ingress map does).
    fn ingress(&mut self, engine: &Engine, k: IngressKey, flow: &CachedFlow, now: Time) {
        let key = Key::Ingress(k);
        if self.installed.contains_key(&key) {
            return;
        }
        let Some(o) = engine.offload(flow, now) else {
            return;
        };
        let Some((port, action)) = self.ingress_action(&o) else {
            return;
        };
        let put = self.fp.install_ingress(&k, &action);
        self.record(key, AnyOffload::V4(o), port, put);
    }

    /// The engine's port and the ingress entry's action for the engine's delivery `o`
    /// (of either family) to a port the fast path serves.
    fn ingress_action<A>(&self, o: &Offload<A>) -> Option<(PortId, IngressAction)> {
        let OffloadAction::Deliver { port, .. } = o.action else {
            return None;
        };
        let &fast_port = self.ports.get(&port.0)?;
        let (src, dst) = o.rewrite.unwrap_or((o.src_mac, o.dst_mac));
        Some((
            port,
            IngressAction {
                port: fast_port,
                dst_mac: dst.0,
                src_mac: src.0,
            },
        ))
    }

    fn record(&mut self, key: Key, offload: AnyOffload, port: PortId, put: std::io::Result<()>) {
        match put {
            Ok(()) => {
                self.installed.insert(
                    key,
                    Installed {
                        offload,
                        port,
                        seen: (0, 0),
                    },
                );
            }
            Err(e) => tracing::debug!(error = %e, "fast path entry not installed"),
        }
    }

    /// Takes a flow out of the kernel; what it carried since the last tick is counted.
    fn remove(&mut self, engine: &mut Engine, key: Key, now: Time) {
        let Some(mut i) = self.installed.remove(&key) else {
            return;
        };
        let last = match key {
            Key::Egress(k) => self.fp.remove_egress(&k),
            Key::Ingress(k) => self.fp.remove_ingress(&k),
            Key::Egress6(k) => self.fp.remove_egress6(&k),
            Key::Ingress6(k) => self.fp.remove_ingress6(&k),
        };
        if let Ok(Some(c)) = last {
            Self::count(&mut self.carried, engine, key, &mut i, c, now);
        }
    }

    /// Counts what the kernel carried for `i` since it was last looked at.
    fn count(
        carried: &mut Carried,
        engine: &mut Engine,
        key: Key,
        i: &mut Installed,
        c: FlowCounters,
        now: Time,
    ) {
        let delta = (
            c.packets.saturating_sub(i.seen.0),
            c.bytes.saturating_sub(i.seen.1),
        );
        i.seen = (c.packets, c.bytes);
        i.offload.carried(engine, delta.0, delta.1, now);
        let entry = carried.entry(i.port).or_default();
        let side = if key.is_egress() {
            &mut entry.0
        } else {
            &mut entry.1
        };
        side.0 += delta.0;
        side.1 += delta.1;
    }

    /// Reports the kernel's traffic to the engine and removes flows the engine no longer
    /// decides the same way. Returns the traffic per port since the last tick, for metrics.
    pub fn tick(&mut self, engine: &mut Engine, now: Time) -> Carried {
        let mut counts: HashMap<Key, FlowCounters> = HashMap::new();
        if let Ok(e) = self.fp.egress_entries() {
            counts.extend(e.into_iter().map(|(k, c)| (Key::Egress(k), c)));
        }
        if let Ok(i) = self.fp.ingress_entries() {
            counts.extend(i.into_iter().map(|(k, c)| (Key::Ingress(k), c)));
        }
        if let Ok(e) = self.fp.egress6_entries() {
            counts.extend(e.into_iter().map(|(k, c)| (Key::Egress6(k), c)));
        }
        if let Ok(i) = self.fp.ingress6_entries() {
            counts.extend(i.into_iter().map(|(k, c)| (Key::Ingress6(k), c)));
        }
        let mut stale = Vec::new();
        for (key, i) in &mut self.installed {
            if let Some(c) = counts.get(key) {
                Self::count(&mut self.carried, engine, *key, i, *c, now);
            }
            if !counts.contains_key(key) || !i.offload.current(engine, now) {
                stale.push(*key);
            }
        }
        for key in stale {
            self.remove(engine, key, now);
        }
        self.next_hops.clear();
        std::mem::take(&mut self.carried)
    }

    /// After a program change: flows the engine now decides otherwise go back to it.
    pub fn revalidate(&mut self, engine: &mut Engine, now: Time) {
        let stale: Vec<Key> = self
            .installed
            .iter()
            .filter(|(_, i)| !i.offload.current(engine, now))
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            self.remove(engine, key, now);
        }
    }

    /// Flows carried by the kernel now.
    pub fn len(&self) -> usize {
        self.installed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }
}

const _: () = assert!(
    OUTER_LEN >= 36,
    "the outer template holds Ethernet, IPv4 and UDP"
);

#[cfg(test)]
mod tests {
    use super::*;

    use fort_dataplane::packet::FiveTuple;

    fn flow(flags: u16) -> CachedFlow {
        CachedFlow {
            tuple: FiveTuple {
                src: Ipv4Addr::new(10, 0, 1, 10),
                dst: Ipv4Addr::new(10, 0, 2, 20),
                src_port: 40000,
                dst_port: 22,
                protocol: 6,
            },
            tcp_flags: flags,
            ip_options: false,
            arrival: Arrival::Port(PortId(0)),
        }
    }

    #[test]
    fn only_ipv6_tcp_without_syn_fin_rst_or_extension_headers_is_a_candidate() {
        let (src, dst) = (
            "2001:db8::a".parse().unwrap(),
            "2001:db8::b".parse().unwrap(),
        );
        let flow6 = |flags: u16| CachedFlow6 {
            tuple: fort_dataplane::packet::FiveTuple6 {
                src,
                dst,
                src_port: 40000,
                dst_port: 5201,
                protocol: 6,
            },
            tcp_flags: flags,
            ip_options: false,
            arrival: Arrival::Port(PortId(0)),
        };
        let t = fast_tuple6(&flow6(0x10)).expect("an ACK");
        assert_eq!(
            (t.src, t.dst, t.src_port, t.dst_port),
            (src, dst, 40000, 5201)
        );
        for flags in [0x02, 0x12, 0x01, 0x04] {
            assert!(fast_tuple6(&flow6(flags)).is_none(), "{flags:#x}");
        }
        let mut udp = flow6(0x10);
        udp.tuple.protocol = 17;
        assert!(fast_tuple6(&udp).is_none());
        let extension = CachedFlow6 {
            ip_options: true,
            ..flow6(0x10)
        };
        assert!(
            fast_tuple6(&extension).is_none(),
            "extension headers stay with the engine"
        );
    }

    #[test]
    fn macs_parse() {
        assert_eq!(parse_mac("02:00:0a:ff:10:01"), Some([2, 0, 10, 255, 16, 1]));
        assert_eq!(parse_mac("02:00:0a:ff:10"), None);
        assert_eq!(parse_mac("zz:00:0a:ff:10:01"), None);
    }

    #[test]
    fn only_tcp_without_syn_fin_rst_is_a_candidate() {
        let t = fast_tuple(&flow(0x10)).expect("an ACK");
        assert_eq!(
            (t.src, t.dst, t.src_port, t.dst_port),
            (
                Ipv4Addr::new(10, 0, 1, 10),
                Ipv4Addr::new(10, 0, 2, 20),
                40000,
                22
            )
        );
        assert!(fast_tuple(&flow(0x18)).is_some());
        for flags in [0x02, 0x12, 0x01, 0x11, 0x04, 0x14] {
            assert!(fast_tuple(&flow(flags)).is_none(), "{flags:#x}");
        }
        let mut udp = flow(0x10);
        udp.tuple.protocol = 17;
        assert!(fast_tuple(&udp).is_none());
        let options = CachedFlow {
            ip_options: true,
            ..flow(0x10)
        };
        assert!(
            fast_tuple(&options).is_none(),
            "IP options stay with the engine"
        );
    }
}
