//! Connection tracking per ENI, as AWS describes it (§5.10, §5.8).
//!
//! * Keys: TCP/UDP by 5-tuple; ICMP queries by (addresses, identifier, query kind);
//!   ICMP errors by (addresses, type, code); other protocols by (addresses, protocol).
//! * Replies to a remembered flow pass both ways whatever the rules say.
//! * Idle timeouts: TCP established per ENI (default 5 days), UDP 30 s until a reply is
//!   seen then the per-ENI stream timeout (180 s), other protocols 600 s. AWS documents
//!   no figure for TCP outside "established" nor for ICMP; Linux's are used (120 s for
//!   the handshake and the close, 10 s after a reset, 30 s for ICMP).
//! * The table is bounded per ENI; when it is full, new tracked flows are dropped.

use crate::flow_table::{Addr6, BuildFxHasher, fold6};
use crate::packet::{Meta, Meta6};
use crate::program::ConntrackTimeouts;
use crate::verdict::Time;
use crate::wire::{icmp, icmpv6, ip_proto, tcp};
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hash};
use std::net::{Ipv4Addr, Ipv6Addr};

const SEC: u64 = 1_000_000_000;

/// Which way a packet crosses the ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by the instance.
    Outbound,
    /// Delivered to the instance.
    Inbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    TcpOpening,
    TcpEstablished,
    TcpClosing,
    TcpClosed,
    Udp,
    UdpStream,
    Icmp,
    Other,
}

impl State {
    /// The state of a flow whose first packet is `m`.
    pub fn initial(m: &Meta) -> State {
        State::first(m.tuple.protocol, m.tcp_flags)
    }

    /// The state of an IPv6 flow whose first packet is `m`: ICMPv6 as ICMP.
    pub fn initial6(m: &Meta6) -> State {
        match m.tuple.protocol {
            ip_proto::ICMPV6 => State::Icmp,
            ip_proto::ICMP => State::Other,
            p => State::first(p, m.tcp_flags),
        }
    }

    fn first(protocol: u8, tcp_flags: u16) -> State {
        match protocol {
            ip_proto::TCP => {
                let f = tcp_flags;
                if f & tcp::flags::RST != 0 {
                    State::TcpClosed
                } else if f & tcp::flags::FIN != 0 {
                    State::TcpClosing
                } else if f & tcp::flags::SYN != 0 && f & tcp::flags::ACK == 0 {
                    State::TcpOpening
                } else {
                    // picked up mid-stream (e.g. after the entry timed out)
                    State::TcpEstablished
                }
            }
            ip_proto::UDP => State::Udp,
            ip_proto::ICMP => State::Icmp,
            _ => State::Other,
        }
    }

    /// The state after a packet with `flags` going `dir`, for a flow started `initiator`.
    pub fn next(self, initiator: Direction, dir: Direction, flags: u16) -> State {
        let reply = dir != initiator;
        match self {
            State::TcpOpening | State::TcpEstablished | State::TcpClosing | State::TcpClosed => {
                if flags & tcp::flags::RST != 0 {
                    State::TcpClosed
                } else if flags & tcp::flags::FIN != 0 {
                    State::TcpClosing
                } else {
                    match self {
                        State::TcpOpening if reply => State::TcpEstablished,
                        State::TcpClosed
                            if !reply
                                && flags & tcp::flags::SYN != 0
                                && flags & tcp::flags::ACK == 0 =>
                        {
                            State::TcpOpening
                        }
                        s => s,
                    }
                }
            }
            State::Udp if reply => State::UdpStream,
            s => s,
        }
    }

    /// Idle timeout in nanoseconds.
    pub fn timeout(self, t: &Timeouts) -> u64 {
        SEC * match self {
            State::TcpOpening | State::TcpClosing => 120,
            State::TcpEstablished => u64::from(t.tcp_established),
            State::TcpClosed => 10,
            State::Udp => u64::from(t.udp),
            State::UdpStream => u64::from(t.udp_stream),
            State::Icmp => 30,
            State::Other => 600,
        }
    }
}

/// A port's idle timeouts as each entry keeps them, in 8 bytes: an IPv6 entry then takes
/// 64 bytes (72 with the program's three `u32`s). The stream and UDP timeouts are at most
/// 180 s and 60 s (§5.10); a larger one would saturate at 18 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    tcp_established: u32,
    udp_stream: u16,
    udp: u16,
}

impl From<ConntrackTimeouts> for Timeouts {
    fn from(t: ConntrackTimeouts) -> Timeouts {
        let short = |s: u32| u16::try_from(s).unwrap_or(u16::MAX);
        Timeouts {
            tcp_established: t.tcp_established,
            udp_stream: short(t.udp_stream),
            udp: short(t.udp),
        }
    }
}

/// A tracking key, oriented from the ENI: (port, local address, remote address,
/// local id, remote id, protocol), packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub u128);

impl Key {
    /// The key of packet `m` crossing `port` in `dir`.
    pub fn of(port: u16, dir: Direction, m: &Meta) -> Key {
        let t = &m.tuple;
        let (local, remote, lp, rp) = match dir {
            Direction::Outbound => (t.src, t.dst, t.src_port, t.dst_port),
            Direction::Inbound => (t.dst, t.src, t.dst_port, t.src_port),
        };
        let (a, b) = match t.protocol {
            ip_proto::TCP | ip_proto::UDP => (lp, rp),
            ip_proto::ICMP => match icmp::query_of(m.icmp_type) {
                // request and reply share the identifier
                Some(q) => (
                    if dir == Direction::Outbound { lp } else { rp },
                    u16::from(q),
                ),
                None => (
                    (u16::from(m.icmp_type) << 8) | u16::from(m.icmp_code),
                    0xffff,
                ),
            },
            _ => (0, 0),
        };
        Key::pack(port, local, remote, a, b, t.protocol)
    }

    fn pack(port: u16, local: Ipv4Addr, remote: Ipv4Addr, a: u16, b: u16, proto: u8) -> Key {
        let hi = (u64::from(port) << 48)
            | (u64::from(proto) << 32)
            | (u64::from(a) << 16)
            | u64::from(b);
        let lo = (u64::from(u32::from(local)) << 32) | u64::from(u32::from(remote));
        Key((u128::from(hi) << 64) | u128::from(lo))
    }

    pub fn port(&self) -> u16 {
        (self.0 >> 112) as u16
    }
}

/// What a conntrack table needs of its keys: the port whose budget an entry counts in.
pub trait TrackKey: Copy + Eq + Hash {
    fn port(&self) -> u16;
}

impl TrackKey for Key {
    #[inline]
    fn port(&self) -> u16 {
        Key::port(self)
    }
}

/// An IPv6 tracking key, oriented from the ENI as [`Key`] is: 296 bits do not pack
/// into a `u128`, so the fields stay apart (40 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key6 {
    pub local: Addr6,
    pub remote: Addr6,
    pub port: u16,
    pub a: u16,
    pub b: u16,
    pub protocol: u8,
}

impl Key6 {
    /// The key of packet `m` crossing `port` in `dir`: echo request and reply share the
    /// identifier, ICMPv6 errors are keyed by type and code, as ICMP's.
    pub fn of(port: u16, dir: Direction, m: &Meta6) -> Key6 {
        let t = &m.tuple;
        let (local, remote, lp, rp) = match dir {
            Direction::Outbound => (t.src, t.dst, t.src_port, t.dst_port),
            Direction::Inbound => (t.dst, t.src, t.dst_port, t.src_port),
        };
        let (a, b) = match t.protocol {
            ip_proto::TCP | ip_proto::UDP => (lp, rp),
            ip_proto::ICMPV6 => match icmpv6::query_of(m.icmp_type) {
                Some(q) => (
                    if dir == Direction::Outbound { lp } else { rp },
                    u16::from(q),
                ),
                None => (
                    (u16::from(m.icmp_type) << 8) | u16::from(m.icmp_code),
                    0xffff,
                ),
            },
            _ => (0, 0),
        };
        Key6 {
            local: Addr6(local),
            remote: Addr6(remote),
            port,
            a,
            b,
            protocol: t.protocol,
        }
    }

    pub fn local(&self) -> Ipv6Addr {
        self.local.0
    }
}

/// One round of the hasher over the addresses and the rest, folded ([`fold6`]).
impl Hash for Key6 {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let rest = (u64::from(self.port) << 48)
            | (u64::from(self.a) << 32)
            | (u64::from(self.b) << 16)
            | u64::from(self.protocol);
        h.write_u64(fold6(self.local, self.remote, rest));
    }
}

impl TrackKey for Key6 {
    #[inline]
    fn port(&self) -> u16 {
        self.port
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Entry<K = Key> {
    pub key: K,
    /// Bumped when the slot is reused, so cached references can tell.
    pub generation: u32,
    pub live: bool,
    pub initiator: Direction,
    pub state: State,
    pub last: Time,
    pub timeouts: Timeouts,
}

impl<K> Entry<K> {
    #[inline]
    pub fn expired(&self, now: Time) -> bool {
        now.0.saturating_sub(self.last.0) > self.state.timeout(&self.timeouts)
    }

    /// Records one more packet of the flow.
    #[inline]
    pub fn touch(&mut self, now: Time, dir: Direction, tcp_flags: u16) {
        self.last = now;
        self.state = self.state.next(self.initiator, dir, tcp_flags);
    }
}

/// A key's hash, in the index and when it grows.
#[inline]
fn hash<K: Hash>(key: &K) -> u64 {
    BuildFxHasher::default().hash_one(key)
}

/// The table is full for this port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// All ENIs' tracking tables: a slab of entries and an index. One per address family
/// (`K` = [`Key`] for IPv4, [`Key6`] for IPv6), each with its own per-port budget.
pub struct Conntrack<K = Key> {
    /// Live slots by their key's hash. The key lives once, in its slot: 4 bytes of index
    /// a flow (a map from key to slot took 32 for IPv4, 44 for IPv6), so 100,000 flows'
    /// index fits a core's L2 cache, and a hit reads the slot it needs anyway.
    index: HashTable<u32>,
    slots: Vec<Entry<K>>,
    free: Vec<u32>,
    per_port: Vec<u32>,
    /// Most flows one port may track.
    pub limit_per_port: u32,
}

impl<K> Default for Conntrack<K> {
    fn default() -> Self {
        Conntrack {
            index: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            per_port: Vec::new(),
            limit_per_port: 0,
        }
    }
}

impl Conntrack {
    /// Tracks a new flow of `m` first seen going `dir`.
    pub fn insert(
        &mut self,
        key: Key,
        now: Time,
        dir: Direction,
        m: &Meta,
        timeouts: Timeouts,
    ) -> Result<u32, Full> {
        self.insert_state(key, now, dir, State::initial(m), timeouts)
    }
}

impl<K: TrackKey> Conntrack<K> {
    pub fn new(limit_per_port: u32) -> Self {
        Conntrack {
            limit_per_port,
            ..Conntrack::default()
        }
    }

    /// The slot of `key`, if it is tracked.
    #[inline]
    fn find(&self, hash: u64, key: &K) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(hash, |&s| {
                slots.get(s as usize).is_some_and(|e| e.key == *key)
            })
            .copied()
    }

    /// The live entry for `key`, removing it if it has timed out.
    pub fn lookup(&mut self, key: K, now: Time) -> Option<u32> {
        let slot = self.find(hash(&key), &key)?;
        if self.get(slot)?.expired(now) {
            self.remove(slot);
            return None;
        }
        Some(slot)
    }

    /// The entry in `slot` (live or not; `None` only for a slot never handed out).
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&Entry<K>> {
        self.slots.get(slot as usize)
    }

    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut Entry<K>> {
        self.slots.get_mut(slot as usize)
    }

    fn count(&mut self, port: u16) -> &mut u32 {
        let p = usize::from(port);
        if self.per_port.len() <= p {
            self.per_port.resize(p + 1, 0);
        }
        &mut self.per_port[p]
    }

    /// Tracks a new flow first seen going `dir`, in `state` (its first packet's).
    pub fn insert_state(
        &mut self,
        key: K,
        now: Time,
        dir: Direction,
        state: State,
        timeouts: Timeouts,
    ) -> Result<u32, Full> {
        let port = key.port();
        let hash = hash(&key);
        if let Some(old) = self.find(hash, &key) {
            // tracked anew: the new entry replaces the old
            self.remove(old);
        }
        if *self.count(port) >= self.limit_per_port {
            self.expire(now);
            if *self.count(port) >= self.limit_per_port {
                return Err(Full);
            }
        }
        let entry = Entry {
            key,
            generation: 0,
            live: true,
            initiator: dir,
            state,
            last: now,
            timeouts,
        };
        let slot = if let Some(s) = self.free.pop()
            && let Some(old) = self.slots.get_mut(s as usize)
        {
            *old = Entry {
                generation: old.generation.wrapping_add(1),
                ..entry
            };
            s
        } else {
            // slots are u32 (cached references hold them): past 4 billion, no more
            let Ok(s) = u32::try_from(self.slots.len()) else {
                return Err(Full);
            };
            self.slots.push(entry);
            s
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, slot, |&s| {
            slots.get(s as usize).map_or(0, |e| self::hash(&e.key))
        });
        *self.count(port) += 1;
        Ok(slot)
    }

    fn remove(&mut self, slot: u32) {
        let Some(e) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if !e.live {
            return;
        }
        e.live = false;
        e.generation = e.generation.wrapping_add(1);
        let key = e.key;
        if let Ok(i) = self.index.find_entry(hash(&key), |&s| s == slot) {
            i.remove();
        }
        self.free.push(slot);
        let c = self.count(key.port());
        *c = c.saturating_sub(1);
    }

    /// Removes every timed-out entry.
    pub fn expire(&mut self, now: Time) {
        for s in 0..u32::try_from(self.slots.len()).unwrap_or(u32::MAX) {
            let e = &self.slots[s as usize];
            if e.live && e.expired(now) {
                self.remove(s);
            }
        }
    }

    /// Forgets every flow of a port (the ENI left the host).
    pub fn remove_port(&mut self, port: u16) {
        self.remove_ports(|p| p == port, usize::MAX);
    }

    /// Forgets, in one pass, every flow of the ports `gone` names (ENIs that left the
    /// host: their slots may be handed to other ENIs), and the budgets of ports at or
    /// beyond `end` (no slot there is in use).
    pub fn remove_ports(&mut self, gone: impl Fn(u16) -> bool, end: usize) {
        for s in 0..u32::try_from(self.slots.len()).unwrap_or(u32::MAX) {
            let e = &self.slots[s as usize];
            if e.live && gone(e.key.port()) {
                self.remove(s);
            }
        }
        self.per_port.truncate(end);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Entries held (live or free): the slab's length.
    pub fn slab_len(&self) -> usize {
        self.slots.len()
    }

    /// Length of the per-port budget table (highest port slot seen + 1).
    pub fn budgets_len(&self) -> usize {
        self.per_port.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Live entries of one port (expired ones not yet swept included).
    pub fn port_len(&self, port: u16) -> u32 {
        self.per_port.get(usize::from(port)).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::FiveTuple;

    fn meta(proto: u8, flags: u16) -> Meta {
        Meta {
            tuple: FiveTuple {
                src: Ipv4Addr::new(10, 0, 1, 10),
                dst: Ipv4Addr::new(10, 0, 2, 20),
                src_port: 40000,
                dst_port: 22,
                protocol: proto,
            },
            ip_len: 40,
            ip_options: false,
            tcp_flags: flags,
            icmp_type: 0,
            icmp_code: 0,
        }
    }

    #[test]
    fn reply_key_matches() {
        let out = meta(6, tcp::flags::SYN);
        let mut back = out;
        back.tuple = FiveTuple {
            src: out.tuple.dst,
            dst: out.tuple.src,
            src_port: out.tuple.dst_port,
            dst_port: out.tuple.src_port,
            protocol: 6,
        };
        assert_eq!(
            Key::of(3, Direction::Outbound, &out),
            Key::of(3, Direction::Inbound, &back)
        );
        assert_ne!(
            Key::of(3, Direction::Outbound, &out),
            Key::of(4, Direction::Inbound, &back)
        );
    }

    #[test]
    fn tcp_states_and_timeouts() {
        let t = Timeouts::from(ConntrackTimeouts::default());
        let s = State::initial(&meta(6, tcp::flags::SYN));
        assert_eq!(s, State::TcpOpening);
        let s = s.next(
            Direction::Outbound,
            Direction::Inbound,
            tcp::flags::SYN | tcp::flags::ACK,
        );
        assert_eq!(s, State::TcpEstablished);
        assert_eq!(s.timeout(&t), 432_000 * SEC);
        let s = s.next(Direction::Outbound, Direction::Outbound, tcp::flags::FIN);
        assert_eq!(s, State::TcpClosing);
        let s = s.next(Direction::Outbound, Direction::Inbound, tcp::flags::RST);
        assert_eq!(s, State::TcpClosed);
    }

    #[test]
    fn udp_becomes_stream_on_reply() {
        let t = Timeouts::from(ConntrackTimeouts::default());
        let s = State::initial(&meta(17, 0));
        assert_eq!(s.timeout(&t), 30 * SEC);
        let s = s.next(Direction::Inbound, Direction::Outbound, 0);
        assert_eq!(s, State::UdpStream);
        assert_eq!(s.timeout(&t), 180 * SEC);
    }

    #[test]
    fn bounded_and_expiring() {
        let mut ct = Conntrack::new(2);
        let t = Timeouts::from(ConntrackTimeouts::default());
        let mut m = meta(17, 0);
        let now = Time::from_secs(100);
        for p in 0..2 {
            m.tuple.src_port = p;
            let k = Key::of(1, Direction::Outbound, &m);
            ct.insert(k, now, Direction::Outbound, &m, t).unwrap();
        }
        m.tuple.src_port = 9;
        let k = Key::of(1, Direction::Outbound, &m);
        assert_eq!(ct.insert(k, now, Direction::Outbound, &m, t), Err(Full));
        // another port has its own budget
        let k2 = Key::of(2, Direction::Outbound, &m);
        assert!(ct.insert(k2, now, Direction::Outbound, &m, t).is_ok());
        // 31 s later the UDP entries have timed out and make room
        let later = Time::from_secs(131);
        assert!(ct.insert(k, later, Direction::Outbound, &m, t).is_ok());
        assert_eq!(ct.port_len(1), 1);
    }

    /// An entry's size: a cache line for IPv6 (hence [`Timeouts`]' 8 bytes).
    #[test]
    fn entries_take_48_and_64_bytes() {
        use std::mem::size_of;
        assert_eq!((size_of::<Entry>(), size_of::<Entry<Key6>>()), (48, 64));
    }

    /// The index finds each key's own slot among many, a flow tracked anew replaces its
    /// old entry (one slot, one count), and removal leaves the others found.
    #[test]
    fn index_holds_each_key_once() {
        let mut ct = Conntrack::new(10_000);
        let t = Timeouts::from(ConntrackTimeouts::default());
        let now = Time::from_secs(1);
        let mut m = meta(6, tcp::flags::SYN);
        let mut slots = Vec::new();
        for p in 0..5_000u16 {
            m.tuple.src_port = p;
            let k = Key::of(1, Direction::Outbound, &m);
            slots.push((k, ct.insert(k, now, Direction::Outbound, &m, t).unwrap()));
        }
        for &(k, s) in &slots {
            assert_eq!(ct.lookup(k, now), Some(s));
        }
        let (k, old) = slots[7];
        let generation = ct.get(old).unwrap().generation;
        let new = ct.insert(k, now, Direction::Outbound, &m, t).unwrap();
        assert_eq!(ct.lookup(k, now), Some(new));
        assert_eq!((ct.len(), ct.port_len(1)), (5_000, 5_000));
        assert_ne!(
            (new, ct.get(new).unwrap().generation),
            (old, generation),
            "cached references to the old entry no longer hold"
        );
        // five seconds past the handshake's timeout, every entry goes
        ct.expire(Time::from_secs(126));
        assert!(ct.is_empty() && ct.lookup(slots[0].0, now).is_none());
    }
}
