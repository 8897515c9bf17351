//! Fort's kernel fast path for established TCP flows.
//!
//! The agent's engine decides every flow in user space; once a TCP connection is
//! established and allowed, the agent installs its decision here as two map entries (one
//! per host and direction) and the flow's packets then move between the instance's TAP
//! and the Geneve underlay entirely in the kernel, as GSO super-frames, without the four
//! copies of the user-space relay. It is a cache in the manner of Open vSwitch's kernel
//! datapath: a miss anywhere falls back to the agent, which remains the authority;
//! connection set-up and tear-down (SYN, FIN, RST) always go through the agent.
//!
//! Per port, a veth pair (the *conduit*) joins the instance's namespace to the host's,
//! because `bpf_redirect` cannot cross namespaces and `bpf_redirect_peer` can only go
//! from a veth to its peer. Four tcx programs (see [`programs`]): `eth0` egress, conduit
//! host-end ingress (the trust boundary: it checks again), the underlay's ingress (`lo`
//! on one machine), conduit instance-end ingress. tcx links detach when their
//! descriptors close, so a dead agent leaves no program behind; [`FastPath`]'s `Drop`
//! also deletes the conduits.
//!
//! Either side of a flow may be in the kernel without the other (the sender's engine
//! may keep its side: source/dest check off, no fast path on its host, its entry not yet
//! installed). Encapsulated frames carry Fort's Geneve offload option (class 0xFFF0, type
//! 1; see `fort_host::offload`) holding the virtio-net header of what is still to be
//! done, a partial checksum or segmentation, and the conduit program flags its own
//! ([`layout::OPTION_FLAG_KERNEL`]: the kernel state travels with the frame). The
//! underlay program delivers only frames with no option or with that flag; an agent's
//! frames with the option go to the receiving agent, which writes the header into the
//! TAP, however the flow's entries stand.
//!
//! IPv6 flows (inner IPv6 with TCP as the next header, over the same IPv4 underlay)
//! have maps of their own, keyed with 16-byte addresses ([`EgressKey6`],
//! [`IngressKey6`]); the programs, the values, the counters and the origin check are
//! shared with IPv4's.

pub mod asm;
pub mod layout;
pub mod programs;
mod sys;
/// Namespaces, veth pairs and a user-space relay for the crate's root tests and bench.
#[cfg(feature = "test-support")]
pub mod testkit;

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub use layout::{
    EgressAction, EgressKey, EgressKey6, FlowCounters, FlowTuple, FlowTuple6, IngressAction,
    IngressKey, IngressKey6, PortId, Stat,
};
pub use sys::{is_root, monotonic_ns};

use layout::{EGRESS_VALUE_LEN, INGRESS_VALUE_LEN};
use programs::MapFds;
use sys::Map;

/// The name of the conduit's end inside every instance namespace.
pub const CONDUIT_INSTANCE_END: &str = "fortfp0";
/// The loopback device's index in every namespace: the underlay on one machine.
pub const LOOPBACK_IFINDEX: u32 = 1;
/// The programs' license string (the helpers used are not GPL-only).
const LICENSE: &str = "Apache-2.0";

/// How a [`FastPath`] reaches the underlay.
#[derive(Clone, Debug)]
pub struct Config {
    /// This host's underlay address: the underlay program takes Geneve sent to it.
    pub underlay: Ipv4Addr,
    /// The device the underlay program is attached to and encapsulated frames go to.
    pub underlay_ifindex: u32,
    /// Deliver encapsulated frames into the device's receive path (loopback: the other
    /// "host" is this machine) rather than transmit them.
    pub underlay_ingress: bool,
    /// Prefix of the conduits' host-end names (`PREFIX<port id>`, at most 15 bytes).
    pub name_prefix: String,
    /// Capacity of each flow map.
    pub max_flows: u32,
}

impl Config {
    /// A real underlay device (a NIC, a veth to another host): encapsulated frames are
    /// transmitted on it, with the outer MACs of the entry.
    pub fn device(underlay: Ipv4Addr, device: &str, name_prefix: &str) -> io::Result<Config> {
        Ok(Config {
            underlay,
            underlay_ifindex: sys::if_index(device)?,
            underlay_ingress: false,
            name_prefix: name_prefix.to_string(),
            max_flows: 65_536,
        })
    }

    /// One machine: the underlay is `lo`, each agent on its own 127/8 address.
    pub fn loopback(underlay: Ipv4Addr, name_prefix: &str) -> Config {
        Config {
            underlay,
            underlay_ifindex: LOOPBACK_IFINDEX,
            underlay_ingress: true,
            name_prefix: name_prefix.to_string(),
            max_flows: 65_536,
        }
    }
}

/// A port the fast path serves: its conduit and program links.
#[derive(Debug)]
struct Port {
    netns: PathBuf,
    host_end: String,
    host_ifindex: u32,
    /// Links first: dropping them detaches the programs.
    _links: Vec<OwnedFd>,
    _progs: Vec<OwnedFd>,
}

/// The maps and programs of one agent. All methods take `&self` (share it in an `Arc`);
/// call them from threads in the host's network namespace.
#[derive(Debug)]
pub struct FastPath {
    config: Config,
    egress: Map,
    ingress: Map,
    egress6: Map,
    ingress6: Map,
    stats: Map,
    _underlay_link: OwnedFd,
    _underlay_prog: OwnedFd,
    /// Only on loopback (see [`Upcall`]).
    _upcall: Option<Upcall>,
    ports: Mutex<HashMap<PortId, Port>>,
}

/// The agent's own device through which underlay misses re-enter the stack (see
/// [`programs::underlay`]): a veth pair `NAME`/`NAMEx`, up, with `route_localnet`,
/// `accept_local` on and `rp_filter` off on `NAME` only. Deleted on drop.
#[derive(Debug)]
struct Upcall {
    name: String,
    ifindex: u32,
    mac: [u8; 6],
}

impl Upcall {
    fn create(name: &str) -> io::Result<Upcall> {
        if name.len() >= 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "name prefix too long",
            ));
        }
        let _ = ip(&["link", "del", name]);
        let peer = format!("{name}x");
        ip(&["link", "add", name, "type", "veth", "peer", "name", &peer])?;
        let set_up = || -> io::Result<(u32, [u8; 6])> {
            for (key, value) in [
                ("route_localnet", "1"),
                ("accept_local", "1"),
                ("rp_filter", "0"),
            ] {
                std::fs::write(format!("/proc/sys/net/ipv4/conf/{name}/{key}"), value)?;
            }
            let _ = ip(&["link", "set", name, "addrgenmode", "none"]);
            let _ = ip(&["link", "set", &peer, "addrgenmode", "none"]);
            ip(&["link", "set", &peer, "up"])?;
            ip(&["link", "set", name, "up"])?;
            let text = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))?;
            let mut mac = [0u8; 6];
            for (m, part) in mac.iter_mut().zip(text.trim().split(':')) {
                *m = u8::from_str_radix(part, 16).map_err(io::Error::other)?;
            }
            Ok((sys::if_index(name)?, mac))
        };
        match set_up() {
            Ok((ifindex, mac)) => Ok(Upcall {
                name: name.to_string(),
                ifindex,
                mac,
            }),
            Err(e) => {
                let _ = ip(&["link", "del", name]);
                Err(e)
            }
        }
    }
}

impl Drop for Upcall {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.name]);
    }
}

fn load(insns: Result<Vec<asm::Insn>, asm::AsmError>, name: &str) -> io::Result<OwnedFd> {
    let insns = insns.map_err(|e| io::Error::other(format!("{name}: {e}")))?;
    sys::prog_load(&asm::to_bytes(&insns), name, LICENSE).map_err(|e| {
        io::Error::new(
            e.error.kind(),
            format!("loading {name}: {}; verifier log:\n{}", e.error, e.log),
        )
    })
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl FastPath {
    /// Creates the maps, loads the underlay program and attaches it to the underlay
    /// device's tcx ingress (after the programs already there).
    pub fn new(config: Config) -> io::Result<FastPath> {
        let egress = Map::create(
            sys::MAP_HASH,
            "fort_egress",
            EgressKey::LEN,
            EGRESS_VALUE_LEN,
            config.max_flows,
        )?;
        let ingress = Map::create(
            sys::MAP_HASH,
            "fort_ingress",
            IngressKey::LEN,
            INGRESS_VALUE_LEN,
            config.max_flows,
        )?;
        let egress6 = Map::create(
            sys::MAP_HASH,
            "fort_egress6",
            EgressKey6::LEN,
            EGRESS_VALUE_LEN,
            config.max_flows,
        )?;
        let ingress6 = Map::create(
            sys::MAP_HASH,
            "fort_ingress6",
            IngressKey6::LEN,
            INGRESS_VALUE_LEN,
            config.max_flows,
        )?;
        let stats = Map::create(sys::MAP_PERCPU_ARRAY, "fort_stats", 4, 8, Stat::COUNT)?;
        let maps = MapFds {
            egress: egress.raw_fd(),
            ingress: ingress.raw_fd(),
            egress6: egress6.raw_fd(),
            ingress6: ingress6.raw_fd(),
            stats: stats.raw_fd(),
        };
        // misses need a way back into the stack only where frames were injected into
        // loopback's receive path; on a real device they simply go on
        let upcall = if config.underlay_ingress {
            Some(Upcall::create(&format!("{}up", config.name_prefix))?)
        } else {
            None
        };
        let (upcall_index, upcall_mac) =
            upcall.as_ref().map_or((0, [0; 6]), |u| (u.ifindex, u.mac));
        let prog = load(
            programs::underlay(maps, config.underlay.octets(), upcall_index, upcall_mac),
            "fort_underlay",
        )?;
        let link = sys::tcx_attach(prog.as_fd(), config.underlay_ifindex, sys::TCX_INGRESS)?;
        Ok(FastPath {
            config,
            egress,
            ingress,
            egress6,
            ingress6,
            stats,
            _underlay_link: link,
            _underlay_prog: prog,
            _upcall: upcall,
            ports: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn map_fds(&self) -> MapFds {
        MapFds {
            egress: self.egress.raw_fd(),
            ingress: self.ingress.raw_fd(),
            egress6: self.egress6.raw_fd(),
            ingress6: self.ingress6.raw_fd(),
            stats: self.stats.raw_fd(),
        }
    }

    /// The conduit's host-end name for `port`.
    pub fn conduit_name(&self, port: PortId) -> String {
        format!("{}{}", self.config.name_prefix, port.0)
    }

    /// Serves the instance whose namespace is `netns` (a name under `/run/netns`) and
    /// whose interface is `eth0` there: creates the conduit (veth `fortfp0` inside, no
    /// addresses, IPv6 off; `PREFIX<port>` in the host namespace) and attaches programs
    /// [1], [2] and [4]. Until entries are installed nothing changes for the instance.
    pub fn attach_port(&self, netns: &str, eth0: &str, port: PortId) -> io::Result<()> {
        let mut ports = self.ports.lock().expect("ports lock");
        if ports.contains_key(&port) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "port already attached",
            ));
        }
        let host_end = self.conduit_name(port);
        if host_end.len() >= 16 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "conduit name longer than 15 bytes: shorten the name prefix",
            ));
        }
        let ns_path = Path::new("/run/netns").join(netns);
        // leftovers of a run that died: both names are ours
        let _ = ip(&["link", "del", &host_end]);
        let _ = ip(&["-n", netns, "link", "del", CONDUIT_INSTANCE_END]);
        ip(&[
            "link",
            "add",
            &host_end,
            "mtu",
            "65535",
            "type",
            "veth",
            "peer",
            "name",
            CONDUIT_INSTANCE_END,
            "mtu",
            "65535",
            "netns",
            netns,
        ])?;
        let result = self.attach_programs(&ns_path, netns, eth0, port, &host_end);
        match result {
            Ok(p) => {
                ports.insert(port, p);
                Ok(())
            }
            Err(e) => {
                let _ = ip(&["link", "del", &host_end]);
                Err(e)
            }
        }
    }

    fn attach_programs(
        &self,
        ns_path: &Path,
        netns: &str,
        eth0: &str,
        port: PortId,
        host_end: &str,
    ) -> io::Result<Port> {
        // no IPv6 link-local address: nothing but the programs' frames on the conduit
        // (fails harmlessly where IPv6 is off)
        let _ = ip(&["link", "set", host_end, "addrgenmode", "none"]);
        let _ = ip(&[
            "-n",
            netns,
            "link",
            "set",
            CONDUIT_INSTANCE_END,
            "addrgenmode",
            "none",
        ]);
        ip(&[
            "-n",
            netns,
            "link",
            "set",
            CONDUIT_INSTANCE_END,
            "arp",
            "off",
            "up",
        ])?;
        ip(&["link", "set", host_end, "arp", "off", "up"])?;
        let host_ifindex = sys::if_index(host_end)?;
        let maps = self.map_fds();
        let eth0 = eth0.to_string();
        // tcx resolves the interface index in the caller's namespace: attach there
        let (mut links, mut progs) = sys::in_netns(ns_path, move || {
            let eth0_index = sys::if_index(&eth0)?;
            let conduit_index = sys::if_index(CONDUIT_INSTANCE_END)?;
            let egress = load(programs::egress(maps, port.0, conduit_index), "fort_egress")?;
            let deliver = load(programs::deliver(eth0_index), "fort_deliver")?;
            let l1 = sys::tcx_attach(egress.as_fd(), eth0_index, sys::TCX_EGRESS)?;
            let l4 = sys::tcx_attach(deliver.as_fd(), conduit_index, sys::TCX_INGRESS)?;
            Ok((vec![l1, l4], vec![egress, deliver]))
        })?;
        let conduit = load(
            programs::conduit(
                maps,
                port.0,
                self.config.underlay_ifindex,
                self.config.underlay_ingress,
            ),
            "fort_conduit",
        )?;
        links.push(sys::tcx_attach(
            conduit.as_fd(),
            host_ifindex,
            sys::TCX_INGRESS,
        )?);
        progs.push(conduit);
        Ok(Port {
            netns: ns_path.to_path_buf(),
            host_end: host_end.to_string(),
            host_ifindex,
            _links: links,
            _progs: progs,
        })
    }

    /// Stops serving `port`: removes its entries, detaches its programs and deletes its
    /// conduit.
    pub fn detach_port(&self, port: PortId) -> io::Result<()> {
        let p = self
            .ports
            .lock()
            .expect("ports lock")
            .remove(&port)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such port"))?;
        self.clear_port_entries(port, p.host_ifindex)?;
        let name = p.host_end.clone();
        drop(p);
        ip(&["link", "del", &name])
    }

    /// The namespace path of an attached port.
    pub fn port_netns(&self, port: PortId) -> Option<PathBuf> {
        self.ports
            .lock()
            .expect("ports lock")
            .get(&port)
            .map(|p| p.netns.clone())
    }

    /// Installs (or replaces, keeping its counters) the egress entry `key`.
    pub fn install_egress(&self, key: &EgressKey, action: &EgressAction) -> io::Result<()> {
        self.check_port(key.port)?;
        put(&self.egress, &key.to_bytes(), action.to_value())
    }

    /// Installs (or replaces, keeping its counters) the IPv6 egress entry `key`.
    pub fn install_egress6(&self, key: &EgressKey6, action: &EgressAction) -> io::Result<()> {
        self.check_port(key.port)?;
        put(&self.egress6, &key.to_bytes(), action.to_value6())
    }

    fn check_port(&self, port: PortId) -> io::Result<()> {
        if self.ports.lock().expect("ports lock").contains_key(&port) {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "port not attached"))
        }
    }

    /// The host-end ifindex of an attached port's conduit.
    fn conduit_ifindex(&self, port: PortId) -> io::Result<u32> {
        self.ports
            .lock()
            .expect("ports lock")
            .get(&port)
            .map(|p| p.host_ifindex)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "port not attached"))
    }

    /// Installs (or replaces, keeping its counters) the ingress entry `key`, delivering
    /// to an attached port.
    pub fn install_ingress(&self, key: &IngressKey, action: &IngressAction) -> io::Result<()> {
        let ifindex = self.conduit_ifindex(action.port)?;
        put(&self.ingress, &key.to_bytes(), action.to_value(ifindex))
    }

    /// Installs (or replaces, keeping its counters) the IPv6 ingress entry `key`,
    /// delivering to an attached port.
    pub fn install_ingress6(&self, key: &IngressKey6, action: &IngressAction) -> io::Result<()> {
        let ifindex = self.conduit_ifindex(action.port)?;
        put(&self.ingress6, &key.to_bytes(), action.to_value(ifindex))
    }

    /// Removes an egress entry; returns its last counters if it existed.
    pub fn remove_egress(&self, key: &EgressKey) -> io::Result<Option<FlowCounters>> {
        remove(&self.egress, &key.to_bytes())
    }

    /// Removes an ingress entry; returns its last counters if it existed.
    pub fn remove_ingress(&self, key: &IngressKey) -> io::Result<Option<FlowCounters>> {
        remove(&self.ingress, &key.to_bytes())
    }

    /// Removes an IPv6 egress entry; returns its last counters if it existed.
    pub fn remove_egress6(&self, key: &EgressKey6) -> io::Result<Option<FlowCounters>> {
        remove(&self.egress6, &key.to_bytes())
    }

    /// Removes an IPv6 ingress entry; returns its last counters if it existed.
    pub fn remove_ingress6(&self, key: &IngressKey6) -> io::Result<Option<FlowCounters>> {
        remove(&self.ingress6, &key.to_bytes())
    }

    /// The counters of one IPv6 egress entry.
    pub fn egress6_counters(&self, key: &EgressKey6) -> io::Result<Option<FlowCounters>> {
        counters(&self.egress6, &key.to_bytes())
    }

    /// The counters of one IPv6 ingress entry.
    pub fn ingress6_counters(&self, key: &IngressKey6) -> io::Result<Option<FlowCounters>> {
        counters(&self.ingress6, &key.to_bytes())
    }

    /// The counters of one egress entry.
    pub fn egress_counters(&self, key: &EgressKey) -> io::Result<Option<FlowCounters>> {
        counters(&self.egress, &key.to_bytes())
    }

    /// The counters of one ingress entry.
    pub fn ingress_counters(&self, key: &IngressKey) -> io::Result<Option<FlowCounters>> {
        counters(&self.ingress, &key.to_bytes())
    }

    /// Removes every entry: all flows go back to the agent (after a program change, the
    /// agent clears and re-installs what its engine still allows).
    pub fn clear(&self) -> io::Result<()> {
        for map in [&self.egress, &self.ingress, &self.egress6, &self.ingress6] {
            for k in map.keys()? {
                map.delete(&k)?;
            }
        }
        Ok(())
    }

    fn clear_port_entries(&self, port: PortId, ifindex: u32) -> io::Result<()> {
        for k in self.egress.keys()? {
            if EgressKey::from_bytes(&k).port == port {
                self.egress.delete(&k)?;
            }
        }
        for k in self.egress6.keys()? {
            if EgressKey6::from_bytes(&k).port == port {
                self.egress6.delete(&k)?;
            }
        }
        let i = layout::off::IN_IFINDEX as usize;
        for map in [&self.ingress, &self.ingress6] {
            for k in map.keys()? {
                if let Some(v) = map.lookup(&k)?
                    && v[i..i + 4] == ifindex.to_ne_bytes()
                {
                    map.delete(&k)?;
                }
            }
        }
        Ok(())
    }

    /// Every egress entry with its counters (for conntrack liveness and metrics).
    pub fn egress_entries(&self) -> io::Result<Vec<(EgressKey, FlowCounters)>> {
        entries(&self.egress, EgressKey::from_bytes)
    }

    /// Every ingress entry with its counters.
    pub fn ingress_entries(&self) -> io::Result<Vec<(IngressKey, FlowCounters)>> {
        entries(&self.ingress, IngressKey::from_bytes)
    }

    /// Every IPv6 egress entry with its counters.
    pub fn egress6_entries(&self) -> io::Result<Vec<(EgressKey6, FlowCounters)>> {
        entries(&self.egress6, EgressKey6::from_bytes)
    }

    /// Every IPv6 ingress entry with its counters.
    pub fn ingress6_entries(&self) -> io::Result<Vec<(IngressKey6, FlowCounters)>> {
        entries(&self.ingress6, IngressKey6::from_bytes)
    }

    /// The programs' event counters, summed over CPUs.
    pub fn stats(&self) -> io::Result<HashMap<Stat, u64>> {
        let mut out = HashMap::new();
        for s in Stat::ALL {
            let v = self
                .stats
                .lookup(&(s as u32).to_ne_bytes())?
                .unwrap_or_default();
            let sum = v
                .chunks_exact(8)
                .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
                .sum();
            out.insert(s, sum);
        }
        Ok(out)
    }
}

/// Writes `value` at `key`, keeping the counters of the entry it replaces.
fn put<const N: usize>(map: &Map, key: &[u8], mut value: [u8; N]) -> io::Result<()> {
    if let Some(old) = map.lookup(key)? {
        value[..24].copy_from_slice(&old[..24]);
    }
    map.update(key, &value, sys::BPF_ANY)
}

/// The counters of the entry at `key`, if there is one.
fn counters(map: &Map, key: &[u8]) -> io::Result<Option<FlowCounters>> {
    Ok(map.lookup(key)?.map(|v| FlowCounters::from_value(&v)))
}

/// Every entry of `map`, its key read by `key`, with its counters.
fn entries<K>(map: &Map, key: fn(&[u8]) -> K) -> io::Result<Vec<(K, FlowCounters)>> {
    let mut out = Vec::new();
    for k in map.keys()? {
        if let Some(v) = map.lookup(&k)? {
            out.push((key(&k), FlowCounters::from_value(&v)));
        }
    }
    Ok(out)
}

fn remove(map: &Map, key: &[u8]) -> io::Result<Option<FlowCounters>> {
    let last = map.lookup(key)?.map(|v| FlowCounters::from_value(&v));
    map.delete(key)?;
    Ok(last)
}

impl Drop for FastPath {
    fn drop(&mut self) {
        let ports: Vec<Port> = self
            .ports
            .get_mut()
            .map(|p| p.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        for p in ports {
            let name = p.host_end.clone();
            drop(p);
            let _ = ip(&["link", "del", &name]);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The programs run on crafted frames with `BPF_PROG_TEST_RUN` (root only; no
    //! namespaces or devices involved).
    use super::*;
    use layout::ones_sum;

    fn root() -> bool {
        if !is_root() {
            eprintln!("skipped: loading BPF programs needs root");
            return false;
        }
        true
    }

    const A_MAC: [u8; 6] = [2, 0, 0, 0, 0xa, 1];
    const B_MAC: [u8; 6] = [2, 0, 0, 0, 0xb, 1];

    fn flow() -> FlowTuple {
        FlowTuple {
            src: Ipv4Addr::new(10, 9, 0, 1),
            dst: Ipv4Addr::new(10, 9, 0, 2),
            src_port: 40000,
            dst_port: 5201,
        }
    }

    /// An Ethernet/IPv4/TCP frame of `flow` with `payload` bytes and TCP `flags`.
    fn tcp_frame(flags: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![0u8; 54 + payload];
        f[0..6].copy_from_slice(&[0xee; 6]);
        f[6..12].copy_from_slice(&A_MAC);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let tot = u16::try_from(40 + payload).unwrap();
        f[14] = 0x45;
        f[16..18].copy_from_slice(&tot.to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&flow().src.octets());
        f[30..34].copy_from_slice(&flow().dst.octets());
        let c = !ones_sum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[34..36].copy_from_slice(&flow().src_port.to_be_bytes());
        f[36..38].copy_from_slice(&flow().dst_port.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = flags;
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = u8::try_from(i % 256).unwrap();
        }
        f
    }

    fn flow6() -> FlowTuple6 {
        FlowTuple6 {
            src: "2001:db8:9::1".parse().unwrap(),
            dst: "2001:db8:9::2".parse().unwrap(),
            src_port: 40000,
            dst_port: 5201,
        }
    }

    /// An Ethernet/IPv6/TCP frame of `flow6` with `payload` bytes and TCP `flags`
    /// (`next`: the IPv6 next header, TCP unless testing extension headers).
    fn tcp6_frame_next(flags: u8, payload: usize, next: u8) -> Vec<u8> {
        let mut f = vec![0u8; 74 + payload];
        f[0..6].copy_from_slice(&[0xee; 6]);
        f[6..12].copy_from_slice(&A_MAC);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        let plen = u16::try_from(20 + payload).unwrap();
        f[18..20].copy_from_slice(&plen.to_be_bytes());
        f[20] = next;
        f[21] = 64;
        f[22..38].copy_from_slice(&flow6().src.octets());
        f[38..54].copy_from_slice(&flow6().dst.octets());
        f[54..56].copy_from_slice(&flow6().src_port.to_be_bytes());
        f[56..58].copy_from_slice(&flow6().dst_port.to_be_bytes());
        f[66] = 5 << 4;
        f[67] = flags;
        for (i, b) in f[74..].iter_mut().enumerate() {
            *b = u8::try_from(i % 256).unwrap();
        }
        f
    }

    fn tcp6_frame(flags: u8, payload: usize) -> Vec<u8> {
        tcp6_frame_next(flags, payload, 6)
    }

    struct Rig {
        egress: Map,
        ingress: Map,
        egress6: Map,
        ingress6: Map,
        stats: Map,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                egress: Map::create(sys::MAP_HASH, "t_eg", EgressKey::LEN, EGRESS_VALUE_LEN, 64)
                    .unwrap(),
                ingress: Map::create(
                    sys::MAP_HASH,
                    "t_in",
                    IngressKey::LEN,
                    INGRESS_VALUE_LEN,
                    64,
                )
                .unwrap(),
                egress6: Map::create(
                    sys::MAP_HASH,
                    "t_eg6",
                    EgressKey6::LEN,
                    EGRESS_VALUE_LEN,
                    64,
                )
                .unwrap(),
                ingress6: Map::create(
                    sys::MAP_HASH,
                    "t_in6",
                    IngressKey6::LEN,
                    INGRESS_VALUE_LEN,
                    64,
                )
                .unwrap(),
                stats: Map::create(sys::MAP_PERCPU_ARRAY, "t_st", 4, 8, Stat::COUNT).unwrap(),
            }
        }
        fn fds(&self) -> MapFds {
            MapFds {
                egress: self.egress.raw_fd(),
                ingress: self.ingress.raw_fd(),
                egress6: self.egress6.raw_fd(),
                ingress6: self.ingress6.raw_fd(),
                stats: self.stats.raw_fd(),
            }
        }
    }

    fn action() -> EgressAction {
        EgressAction {
            src_mac: A_MAC,
            inner_dst_mac: B_MAC,
            inner_src_mac: A_MAC,
            outer_src_mac: [0; 6],
            outer_dst_mac: [0; 6],
            underlay_src: Ipv4Addr::new(127, 0, 0, 2),
            underlay_dst: Ipv4Addr::new(127, 0, 0, 200),
            udp_src_port: 50123,
            vni: 0x00abcd,
        }
    }

    fn run(prog: &OwnedFd, data: &[u8]) -> (i32, Vec<u8>) {
        sys::prog_test_run(prog.as_fd(), data, &[]).unwrap()
    }

    #[test]
    fn encapsulate_then_decapsulate() {
        if !root() {
            return;
        }
        let rig = Rig::new();
        let port = PortId(9);
        let key = EgressKey { port, flow: flow() };
        rig.egress
            .update(&key.to_bytes(), &action().to_value(), sys::BPF_ANY)
            .unwrap();
        let egress = load(programs::egress(rig.fds(), 9, 77), "t_egress").unwrap();
        let other_port = load(programs::egress(rig.fds(), 8, 77), "t_egress8").unwrap();
        let conduit = load(programs::conduit(rig.fds(), 9, 1, true), "t_conduit").unwrap();
        let underlay = load(
            programs::underlay(rig.fds(), action().underlay_dst.octets(), 0, [0; 6]),
            "t_underlay",
        )
        .unwrap();

        let data = tcp_frame(0x10, 1000);
        // [1]: installed flow → redirect; SYN, FIN, RST, other ports, other MACs → next
        assert_eq!(run(&egress, &data).0, programs::TCX_REDIRECT);
        for flags in [0x02, 0x12, 0x11, 0x04] {
            assert_eq!(run(&egress, &tcp_frame(flags, 10)).0, programs::TCX_NEXT);
        }
        assert_eq!(run(&other_port, &data).0, programs::TCX_NEXT);
        let mut spoofed = data.clone();
        spoofed[11] = 0x99;
        assert_eq!(run(&egress, &spoofed).0, programs::TCX_NEXT);

        // [2]: encapsulation
        let (rc, out) = run(&conduit, &data);
        assert_eq!(rc, programs::TCX_REDIRECT);
        assert_eq!(out.len(), data.len() + 66);
        let headers = action().headers();
        assert_eq!(&out[0..16], &headers[0..16]);
        let tot = u16::from_be_bytes([out[16], out[17]]) as usize;
        assert_eq!(tot, out.len() - 14, "outer IPv4 total length");
        assert_eq!(ones_sum(&out[14..34]), 0xffff, "outer IPv4 checksum");
        assert_eq!(&out[26..34], &[127, 0, 0, 2, 127, 0, 0, 200]);
        assert_eq!(&out[34..38], &[0xc3, 0xcb, 0x17, 0xc1]);
        let udp_len = u16::from_be_bytes([out[38], out[39]]) as usize;
        assert_eq!(udp_len, out.len() - 34);
        assert_eq!(&out[40..42], &[0, 0], "no outer UDP checksum");
        assert_eq!(&out[42..50], &[4, 0, 0x65, 0x58, 0, 0xab, 0xcd, 0]);
        // option: checksum needed at 34+16, no GSO, header length 54; encapsulated in
        // the kernel
        assert_eq!(&out[50..54], &[0xff, 0xf0, 1, 3]);
        assert_eq!(&out[54..66], &[1, 0, 54, 0, 0, 0, 34, 0, 16, 0, 1, 0]);
        assert_eq!(
            &out[66..80],
            &[2, 0, 0, 0, 0xb, 1, 2, 0, 0, 0, 0xa, 1, 8, 0]
        );
        assert_eq!(&out[80..], &data[14..], "inner IPv4 packet untouched");
        let c = FlowCounters::from_value(&rig.egress.lookup(&key.to_bytes()).unwrap().unwrap());
        assert_eq!((c.packets, c.bytes), (1, data.len() as u64));
        assert!(c.last_seen_ns > 0);

        // [3]: a miss (no entry yet) goes on
        assert_eq!(run(&underlay, &out).0, programs::TCX_NEXT);
        let ikey = IngressKey {
            vni: 0xabcd,
            outer_src: action().underlay_src,
            flow: flow(),
        };
        let deliver = IngressAction {
            port: PortId(1),
            dst_mac: [2, 0, 0, 0, 0xb, 2],
            src_mac: [2, 0, 0, 0, 0xa, 2],
        };
        rig.ingress
            .update(&ikey.to_bytes(), &deliver.to_value(55), sys::BPF_ANY)
            .unwrap();
        let (rc, inner) = run(&underlay, &out);
        assert_eq!(rc, programs::TCX_REDIRECT);
        assert_eq!(inner.len(), data.len());
        assert_eq!(&inner[0..12], &[2, 0, 0, 0, 0xb, 2, 2, 0, 0, 0, 0xa, 2]);
        assert_eq!(&inner[12..], &data[12..]);
        let c = FlowCounters::from_value(&rig.ingress.lookup(&ikey.to_bytes()).unwrap().unwrap());
        assert_eq!(c.packets, 1);
        // the same option without the flag, as an agent sends what its TAP handed it (the
        // checksum still to be done): its agent's, although the entry matches
        let mut from_agent = out.clone();
        from_agent[64] = 0;
        assert_eq!(run(&underlay, &from_agent).0, programs::TCX_NEXT);
        let c = FlowCounters::from_value(&rig.ingress.lookup(&ikey.to_bytes()).unwrap().unwrap());
        assert_eq!(c.packets, 1, "not delivered");

        // the outer source is part of the key: the same packet from another host misses
        let mut forged = out.clone();
        forged[29] = 3;
        let c = !ones_sum(&{
            let mut h = forged[14..34].to_vec();
            h[10..12].fill(0);
            h
        });
        forged[24..26].copy_from_slice(&c.to_be_bytes());
        assert_eq!(run(&underlay, &forged).0, programs::TCX_NEXT);
        // not addressed to this host, or not Geneve: untouched, not even a miss
        let mut elsewhere = out.clone();
        elsewhere[33] = 201;
        assert_eq!(run(&underlay, &elsewhere).0, programs::TCX_NEXT);
        let mut stats = HashMap::new();
        for s in Stat::ALL {
            let v = rig
                .stats
                .lookup(&(s as u32).to_ne_bytes())
                .unwrap()
                .unwrap();
            stats.insert(
                s,
                v.chunks_exact(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                    .sum::<u64>(),
            );
        }
        assert_eq!(stats[&Stat::UnderlayHit], 1);
        assert_eq!(stats[&Stat::UnderlayMiss], 2, "no entry, forged source");
        assert_eq!(stats[&Stat::UnderlayUnfinished], 1);
        assert_eq!(stats[&Stat::ConduitHit], 1);

        // [2] drops what has no entry (the instance writing into its conduit)
        let (rc, _) = run(&conduit, &tcp_frame(0x02, 0));
        assert_eq!(rc, programs::TCX_DROP);
        let (rc, _) = run(&conduit, &spoofed);
        assert_eq!(rc, programs::TCX_DROP);
    }

    #[test]
    fn geneve_options_of_any_length_are_parsed_and_only_finished_frames_delivered() {
        if !root() {
            return;
        }
        let rig = Rig::new();
        let conduit = load(programs::conduit(rig.fds(), 9, 1, true), "t_conduit").unwrap();
        let underlay = load(
            programs::underlay(rig.fds(), [127, 0, 0, 200], 0, [0; 6]),
            "t_under",
        )
        .unwrap();
        let key = EgressKey {
            port: PortId(9),
            flow: flow(),
        };
        rig.egress
            .update(&key.to_bytes(), &action().to_value(), sys::BPF_ANY)
            .unwrap();
        let ikey = IngressKey {
            vni: 0xabcd,
            outer_src: action().underlay_src,
            flow: flow(),
        };
        rig.ingress
            .update(
                &ikey.to_bytes(),
                &IngressAction {
                    port: PortId(1),
                    dst_mac: B_MAC,
                    src_mac: A_MAC,
                }
                .to_value(5),
                sys::BPF_ANY,
            )
            .unwrap();
        let unfinished = || {
            let v = rig
                .stats
                .lookup(&(Stat::UnderlayUnfinished as u32).to_ne_bytes())
                .unwrap()
                .unwrap();
            v.chunks_exact(8)
                .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                .sum::<u64>()
        };
        // rebuilt with these options (the conduit's own: Fort's option, 4 words, flagged),
        // down to the smallest frame (a pure ACK, no options: 104 bytes)
        let fort = |flags: u8| vec![0xff, 0xf0, 1, 3, 1, 0, 54, 0, 0, 0, 34, 0, 16, 0, flags, 0];
        let foreign = |words: usize| {
            let mut o = vec![0x01, 0x02, 0x03, u8::try_from(words - 1).unwrap()];
            o.resize(words * 4, 0xaa);
            o
        };
        let cases: [(Vec<u8>, bool); 7] = [
            (vec![], true),
            (fort(layout::OPTION_FLAG_KERNEL), true),
            // the agent's option: the checksum is still to be done
            (fort(0), false),
            // anything else may mean anything: the agent decides
            (foreign(1), false),
            (foreign(4), false),
            (foreign(30), false),
            (
                [fort(layout::OPTION_FLAG_KERNEL), foreign(1)].concat(),
                false,
            ),
        ];
        for (options, delivered) in &cases {
            for payload in [0, 300] {
                let data = tcp_frame(0x10, payload);
                let (_, out) = run(&conduit, &data);
                let mut p = out[..42].to_vec();
                let words = u8::try_from(options.len() / 4).unwrap();
                p.extend_from_slice(&[words, 0, 0x65, 0x58, 0, 0xab, 0xcd, 0]);
                p.extend_from_slice(options);
                p.extend_from_slice(&out[66..]);
                let tot = u16::try_from(p.len() - 14).unwrap();
                p[16..18].copy_from_slice(&tot.to_be_bytes());
                let before = unfinished();
                let (rc, inner) = run(&underlay, &p);
                if *delivered {
                    assert_eq!(rc, programs::TCX_REDIRECT, "{options:x?}");
                    assert_eq!(&inner[12..], &data[12..]);
                    assert_eq!(unfinished(), before);
                } else {
                    // the entry was found past the options, and left alone
                    assert_eq!(rc, programs::TCX_NEXT, "{options:x?}");
                    assert_eq!(unfinished(), before + 1, "{options:x?}");
                }
            }
        }
    }

    fn stat_sums(stats: &Map) -> HashMap<Stat, u64> {
        let mut out = HashMap::new();
        for s in Stat::ALL {
            let v = stats.lookup(&(s as u32).to_ne_bytes()).unwrap().unwrap();
            out.insert(
                s,
                v.chunks_exact(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                    .sum::<u64>(),
            );
        }
        out
    }

    /// IPv6 as IPv4: [1] hits only the port's own IPv6 entry with the right source MAC,
    /// never SYN/FIN/RST nor extension headers; [2] encapsulates with IPv6's template
    /// (inner ethertype 0x86DD, csum_start 54) and header length; [3] delivers only
    /// from the outer source of the entry, with `skb->protocol` IPv6; IPv4's maps are
    /// not consulted for IPv6 and IPv6's not for IPv4.
    #[test]
    fn ipv6_encapsulate_then_decapsulate() {
        if !root() {
            return;
        }
        let rig = Rig::new();
        let key = EgressKey6 {
            port: PortId(9),
            flow: flow6(),
        };
        let egress = load(programs::egress(rig.fds(), 9, 77), "t_egress").unwrap();
        let other_port = load(programs::egress(rig.fds(), 8, 77), "t_egress8").unwrap();
        let conduit = load(programs::conduit(rig.fds(), 9, 1, true), "t_conduit").unwrap();
        let underlay = load(
            programs::underlay(rig.fds(), action().underlay_dst.octets(), 0, [0; 6]),
            "t_underlay",
        )
        .unwrap();
        let deliver = load(programs::deliver(5), "t_deliver").unwrap();
        let data = tcp6_frame(0x10, 1000);
        // no entry yet: a miss; an IPv4 entry of the same port does not serve IPv6
        assert_eq!(run(&egress, &data).0, programs::TCX_NEXT);
        rig.egress
            .update(
                &EgressKey {
                    port: PortId(9),
                    flow: flow(),
                }
                .to_bytes(),
                &action().to_value(),
                sys::BPF_ANY,
            )
            .unwrap();
        assert_eq!(run(&egress, &data).0, programs::TCX_NEXT);
        rig.egress6
            .update(&key.to_bytes(), &action().to_value6(), sys::BPF_ANY)
            .unwrap();
        assert_eq!(run(&egress, &data).0, programs::TCX_REDIRECT);
        for flags in [0x02, 0x12, 0x11, 0x04] {
            assert_eq!(run(&egress, &tcp6_frame(flags, 10)).0, programs::TCX_NEXT);
        }
        // hop-by-hop options, a routing header, a fragment header: the agent's
        for next in [0u8, 43, 44] {
            assert_eq!(
                run(&egress, &tcp6_frame_next(0x10, 10, next)).0,
                programs::TCX_NEXT
            );
        }
        assert_eq!(run(&other_port, &data).0, programs::TCX_NEXT);
        let mut spoofed = data.clone();
        spoofed[11] = 0x99;
        assert_eq!(run(&egress, &spoofed).0, programs::TCX_NEXT);
        let mut other_dst_port = data.clone();
        other_dst_port[57] ^= 1;
        assert_eq!(run(&egress, &other_dst_port).0, programs::TCX_NEXT);
        // the IPv4 flow still hits its own entry
        assert_eq!(
            run(&egress, &tcp_frame(0x10, 100)).0,
            programs::TCX_REDIRECT
        );

        // [2]: encapsulation with IPv6's template
        let (rc, out) = run(&conduit, &data);
        assert_eq!(rc, programs::TCX_REDIRECT);
        assert_eq!(out.len(), data.len() + 66);
        let tot = u16::from_be_bytes([out[16], out[17]]) as usize;
        assert_eq!(tot, out.len() - 14, "outer IPv4 total length");
        assert_eq!(ones_sum(&out[14..34]), 0xffff, "outer IPv4 checksum");
        assert_eq!(&out[26..34], &[127, 0, 0, 2, 127, 0, 0, 200]);
        let udp_len = u16::from_be_bytes([out[38], out[39]]) as usize;
        assert_eq!(udp_len, out.len() - 34);
        assert_eq!(&out[42..50], &[4, 0, 0x65, 0x58, 0, 0xab, 0xcd, 0]);
        // option: checksum needed at 54+16, no GSO, header length 74, kernel flag
        assert_eq!(&out[50..54], &[0xff, 0xf0, 1, 3]);
        assert_eq!(&out[54..66], &[1, 0, 74, 0, 0, 0, 54, 0, 16, 0, 1, 0]);
        assert_eq!(
            &out[66..80],
            &[2, 0, 0, 0, 0xb, 1, 2, 0, 0, 0, 0xa, 1, 0x86, 0xdd]
        );
        assert_eq!(&out[80..], &data[14..], "inner IPv6 packet untouched");
        let c = FlowCounters::from_value(&rig.egress6.lookup(&key.to_bytes()).unwrap().unwrap());
        assert_eq!((c.packets, c.bytes), (1, data.len() as u64));
        assert!(c.last_seen_ns > 0);
        // the instance writing IPv6 into its conduit without an entry: dropped
        let (rc, _) = run(&conduit, &tcp6_frame(0x02, 0));
        assert_eq!(rc, programs::TCX_DROP);
        let (rc, _) = run(&conduit, &spoofed);
        assert_eq!(rc, programs::TCX_DROP);

        // [3]: a miss without an entry, a hit with one
        assert_eq!(run(&underlay, &out).0, programs::TCX_NEXT);
        let ikey = IngressKey6 {
            vni: 0xabcd,
            outer_src: action().underlay_src,
            flow: flow6(),
        };
        let to = IngressAction {
            port: PortId(1),
            dst_mac: [2, 0, 0, 0, 0xb, 2],
            src_mac: [2, 0, 0, 0, 0xa, 2],
        };
        // an IPv4 entry of the same (VNI, source) does not serve it
        rig.ingress
            .update(
                &IngressKey {
                    vni: 0xabcd,
                    outer_src: action().underlay_src,
                    flow: flow(),
                }
                .to_bytes(),
                &to.to_value(55),
                sys::BPF_ANY,
            )
            .unwrap();
        assert_eq!(run(&underlay, &out).0, programs::TCX_NEXT);
        rig.ingress6
            .update(&ikey.to_bytes(), &to.to_value(55), sys::BPF_ANY)
            .unwrap();
        let (rc, inner) = run(&underlay, &out);
        assert_eq!(rc, programs::TCX_REDIRECT);
        assert_eq!(inner.len(), data.len());
        assert_eq!(&inner[0..12], &[2, 0, 0, 0, 0xb, 2, 2, 0, 0, 0, 0xa, 2]);
        assert_eq!(&inner[12..], &data[12..]);
        let c = FlowCounters::from_value(&rig.ingress6.lookup(&ikey.to_bytes()).unwrap().unwrap());
        assert_eq!(c.packets, 1);
        // the pure ACK (74 bytes inner, the smallest): delivered too
        let (_, small) = run(&conduit, &tcp6_frame(0x10, 0));
        assert_eq!(run(&underlay, &small).0, programs::TCX_REDIRECT);
        // the agent's option (no kernel flag): left to the agent
        let mut from_agent = out.clone();
        from_agent[64] = 0;
        assert_eq!(run(&underlay, &from_agent).0, programs::TCX_NEXT);
        // another outer source: a miss (the origin check)
        let mut forged = out.clone();
        forged[29] = 3;
        let c = !ones_sum(&{
            let mut h = forged[14..34].to_vec();
            h[10..12].fill(0);
            h
        });
        forged[24..26].copy_from_slice(&c.to_be_bytes());
        assert_eq!(run(&underlay, &forged).0, programs::TCX_NEXT);
        // another inner source port: a miss
        let mut other = out.clone();
        other[80 + 40] ^= 1;
        assert_eq!(run(&underlay, &other).0, programs::TCX_NEXT);
        let stats = stat_sums(&rig.stats);
        assert_eq!(stats[&Stat::UnderlayHit], 2);
        assert_eq!(
            stats[&Stat::UnderlayMiss],
            4,
            "no entry, IPv4's entry only, forged source, other port"
        );
        assert_eq!(stats[&Stat::UnderlayUnfinished], 1);
        assert_eq!(stats[&Stat::ConduitHit], 2);
        assert_eq!(stats[&Stat::ConduitDrop], 2);

        // [4] delivers IPv4 and IPv6, nothing else
        let (rc, _) = run(&deliver, &inner);
        assert_eq!(rc, programs::TCX_REDIRECT);
    }
}
