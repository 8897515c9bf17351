//! The NAT gateway's state: connection tracking and source-port allocation.
//!
//! A flow is known by its inside key (VNI, protocol, private source address and port,
//! destination address and port; ICMP echo: the identifier as source port, 0 as
//! destination port) and by its outside key (public address, protocol, remote address
//! and port, allocated port). Ports are allocated per *destination* (public address,
//! protocol, remote address, remote port), over 1024–65535: each destination has its
//! own 64,512 ports, which is AWS's "55,000 simultaneous connections per unique
//! destination" with room to spare, and the total is bounded only by
//! [`NatTable::max_flows`].
//!
//! A destination's used ports are a short list while few (≤ [`SMALL`]), then a bitmap
//! of 1,008 words: allocation is a probe from a hashed start, at most one bitmap scan,
//! and exhaustion is answered at once from the count.

use fort_dataplane::Time;
use fort_dataplane::flow_table::BuildFxHasher;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::Ipv4Addr;

/// The first port handed out (AWS: 1024–65535).
pub const PORT_MIN: u16 = 1024;
/// Ports per destination: 65535 − 1024 + 1.
pub const PORTS: u32 = 64_512;
/// Up to this many ports a destination's set is a list; beyond, a bitmap.
pub const SMALL: usize = 32;
const WORDS: usize = (PORTS / 64) as usize;

/// A flow as seen from inside the VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InsideKey {
    pub vni: u32,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

/// A flow as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutsideKey {
    pub public: Ipv4Addr,
    pub protocol: u8,
    pub remote: Ipv4Addr,
    pub remote_port: u16,
    pub port: u16,
}

/// What port allocation is per: AWS's "unique destination" for one NAT address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Destination {
    pub public: Ipv4Addr,
    pub protocol: u8,
    pub remote: Ipv4Addr,
    pub remote_port: u16,
}

impl OutsideKey {
    pub fn destination(&self) -> Destination {
        Destination {
            public: self.public,
            protocol: self.protocol,
            remote: self.remote,
            remote_port: self.remote_port,
        }
    }
}

/// One tracked flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub inside: InsideKey,
    pub outside: OutsideKey,
    /// The NAT gateway's slot in the edge; [`DEAD`] once the gateway went away.
    pub nat: u32,
    pub last: Time,
}

/// `Flow::nat` of a flow whose gateway was deleted: TCP from inside gets a RST.
pub const DEAD: u32 = u32::MAX;

/// The port at offset `off` (in 0..PORTS) from [`PORT_MIN`]; `None` past 65535.
fn port_at(off: u32) -> Option<u16> {
    PORT_MIN.checked_add(u16::try_from(off).ok()?)
}

#[derive(Debug)]
enum Ports {
    Small(Vec<u16>),
    Bitmap(Box<[u64; WORDS]>),
}

#[derive(Debug)]
struct DestPorts {
    used: u32,
    ports: Ports,
}

impl DestPorts {
    fn new() -> DestPorts {
        DestPorts {
            used: 0,
            ports: Ports::Small(Vec::new()),
        }
    }

    /// A free port, searching from `start` (an offset in 0..PORTS), marked used.
    fn take(&mut self, start: u32) -> Option<u16> {
        if self.used >= PORTS {
            return None;
        }
        if let Ports::Small(v) = &self.ports
            && v.len() >= SMALL
        {
            let mut bits = Box::new([0u64; WORDS]);
            for &p in v {
                let i = u32::from(p - PORT_MIN);
                bits[(i / 64) as usize] |= 1 << (i % 64);
            }
            self.ports = Ports::Bitmap(bits);
        }
        let off = match &mut self.ports {
            Ports::Small(v) => {
                let mut i = start;
                loop {
                    let p = port_at(i)?;
                    if !v.contains(&p) {
                        v.push(p);
                        break i;
                    }
                    i = (i + 1) % PORTS;
                }
            }
            Ports::Bitmap(bits) => {
                let w0 = (start / 64) as usize;
                let mut found = None;
                // the first word from `start`'s bit, then whole words, wrapping, then
                // the low bits of the first word
                let first = !bits[w0] & (!0u64 << (start % 64));
                if first != 0 {
                    found = Some(w0 * 64 + first.trailing_zeros() as usize);
                } else {
                    for k in 1..=WORDS {
                        let w = (w0 + k) % WORDS;
                        let free = !bits[w];
                        if free != 0 {
                            found = Some(w * 64 + free.trailing_zeros() as usize);
                            break;
                        }
                    }
                }
                let i = u32::try_from(found?).ok()?;
                bits[(i / 64) as usize] |= 1 << (i % 64);
                i
            }
        };
        let port = port_at(off)?;
        self.used += 1;
        Some(port)
    }

    fn release(&mut self, port: u16) {
        let i = u32::from(port - PORT_MIN);
        match &mut self.ports {
            Ports::Small(v) => {
                if let Some(at) = v.iter().position(|&p| p == port) {
                    v.swap_remove(at);
                    self.used -= 1;
                }
            }
            Ports::Bitmap(bits) => {
                let (w, b) = ((i / 64) as usize, i % 64);
                if bits[w] & (1 << b) != 0 {
                    bits[w] &= !(1 << b);
                    self.used -= 1;
                }
            }
        }
    }
}

/// Why a flow could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    PortsExhausted,
    TableFull,
}

/// Connection tracking and port allocation for every NAT gateway of an edge.
#[derive(Debug)]
pub struct NatTable {
    flows: Vec<Flow>,
    live: Vec<bool>,
    free: Vec<u32>,
    by_inside: HashMap<InsideKey, u32, BuildFxHasher>,
    by_outside: HashMap<OutsideKey, u32, BuildFxHasher>,
    dests: HashMap<Destination, DestPorts, BuildFxHasher>,
    max_flows: usize,
}

impl NatTable {
    pub fn new(max_flows: usize) -> NatTable {
        NatTable {
            flows: Vec::new(),
            live: Vec::new(),
            free: Vec::new(),
            by_inside: HashMap::default(),
            by_outside: HashMap::default(),
            dests: HashMap::default(),
            max_flows,
        }
    }

    pub fn max_flows(&self) -> usize {
        self.max_flows
    }

    /// Live flows (dead ones included until they expire).
    pub fn len(&self) -> usize {
        self.by_inside.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_inside.is_empty()
    }

    pub fn lookup_inside(&self, k: &InsideKey) -> Option<u32> {
        self.by_inside.get(k).copied()
    }

    pub fn lookup_outside(&self, k: &OutsideKey) -> Option<u32> {
        self.by_outside.get(k).copied()
    }

    pub fn get(&self, id: u32) -> &Flow {
        &self.flows[id as usize]
    }

    pub fn get_mut(&mut self, id: u32) -> &mut Flow {
        &mut self.flows[id as usize]
    }

    /// Ports in use toward a destination.
    pub fn used_ports(&self, d: &Destination) -> u32 {
        self.dests.get(d).map_or(0, |p| p.used)
    }

    /// A new flow for `inside` through NAT slot `nat` with public address `public`:
    /// allocates a port (ICMP: an identifier) toward the destination.
    pub fn create(
        &mut self,
        inside: InsideKey,
        nat: u32,
        public: Ipv4Addr,
        now: Time,
    ) -> Result<u32, AllocError> {
        if self.by_inside.len() >= self.max_flows {
            return Err(AllocError::TableFull);
        }
        let dest = Destination {
            public,
            protocol: inside.protocol,
            remote: inside.dst,
            remote_port: inside.dst_port,
        };
        // a remainder of PORTS, so it fits; any start would do
        let start =
            u32::try_from(self.by_inside.hasher().hash_one(inside) % u64::from(PORTS)).unwrap_or(0);
        let ports = self.dests.entry(dest).or_insert_with(DestPorts::new);
        let Some(port) = ports.take(start) else {
            if ports.used == 0 {
                self.dests.remove(&dest);
            }
            return Err(AllocError::PortsExhausted);
        };
        let outside = OutsideKey {
            public,
            protocol: inside.protocol,
            remote: inside.dst,
            remote_port: inside.dst_port,
            port,
        };
        let flow = Flow {
            inside,
            outside,
            nat,
            last: now,
        };
        let id = if let Some(id) = self.free.pop() {
            self.flows[id as usize] = flow;
            self.live[id as usize] = true;
            id
        } else {
            // flow ids are u32: a table that big is full
            let Ok(id) = u32::try_from(self.flows.len()) else {
                self.release_port(&outside);
                return Err(AllocError::TableFull);
            };
            self.flows.push(flow);
            self.live.push(true);
            id
        };
        let prev = self.by_inside.insert(inside, id);
        debug_assert!(prev.is_none(), "inside key already tracked");
        let prev = self.by_outside.insert(outside, id);
        debug_assert!(prev.is_none(), "port handed out twice");
        Ok(id)
    }

    /// Removes a flow and frees its port.
    pub fn remove(&mut self, id: u32) {
        if !self.live.get(id as usize).copied().unwrap_or(false) {
            return;
        }
        let f = self.flows[id as usize];
        self.by_inside.remove(&f.inside);
        self.by_outside.remove(&f.outside);
        self.release_port(&f.outside);
        self.live[id as usize] = false;
        self.free.push(id);
    }

    /// Frees the port of `outside` toward its destination.
    fn release_port(&mut self, outside: &OutsideKey) {
        let d = outside.destination();
        if let Some(p) = self.dests.get_mut(&d) {
            p.release(outside.port);
            if p.used == 0 {
                self.dests.remove(&d);
            }
        }
    }

    /// Removes the flows idle for `idle` or more at `now`; returns how many.
    pub fn expire(&mut self, now: Time, idle: u64) -> usize {
        let mut n = 0;
        // every flow's index fits a u32 id (see `create`)
        for id in (0..self.flows.len()).filter_map(|i| u32::try_from(i).ok()) {
            let i = id as usize;
            if self.live[i] && now.0.saturating_sub(self.flows[i].last.0) >= idle {
                self.remove(id);
                n += 1;
            }
        }
        n
    }

    /// Applies `f` to every live flow's NAT slot (to mark flows dead); returns how many
    /// `f` changed.
    pub fn retarget(&mut self, mut f: impl FnMut(&Flow) -> Option<u32>) -> usize {
        let mut n = 0;
        for id in 0..self.flows.len() {
            if self.live[id]
                && let Some(nat) = f(&self.flows[id])
            {
                self.flows[id].nat = nat;
                n += 1;
            }
        }
        n
    }

    /// Every live flow (for tests and diagnostics).
    pub fn iter(&self) -> impl Iterator<Item = &Flow> + '_ {
        self.flows
            .iter()
            .zip(&self.live)
            .filter(|(_, l)| **l)
            .map(|(f, _)| f)
    }
}
