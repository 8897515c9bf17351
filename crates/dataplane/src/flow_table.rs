//! The flow table: each established flow's whole decision, cached.
//!
//! A cached flow costs one hash lookup, a few epoch comparisons and a header write.
//! Every compiled object a decision consulted (port, subnet, NACL, route table, V2P
//! entry, ...) has a dependency slot whose epoch changes only when that object changes;
//! an entry remembers the epochs it saw and is re-decided on the slow path when one
//! differs. So a program change invalidates exactly the flows that used what changed.

use crate::verdict::Time;
use crate::wire::MacAddr;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A small multiplicative hasher for the engine's packed integer keys (FxHash's idea):
/// SipHash would cost more than the rest of the fast path.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // addresses arrive as 4-byte slices: one round for them
        if bytes.len() == 4 {
            self.write_u64(u64::from(u32::from_le_bytes([
                bytes[0], bytes[1], bytes[2], bytes[3],
            ])));
            return;
        }
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        // usize is at most 64 bits on every target Rust supports
        self.write_u64(u64::try_from(v).unwrap_or(u64::MAX));
    }
    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.hash = (self.hash.rotate_left(26) ^ v).wrapping_mul(K);
    }
    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.write_u64(crate::wire::low64(v));
        self.write_u64(crate::wire::low64(v >> 64));
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }
    #[inline]
    fn finish(&self) -> u64 {
        // fold the high bits down: hashbrown uses the top 7 bits and the low bits
        self.hash ^ (self.hash >> 32)
    }
}

pub type BuildFxHasher = BuildHasherDefault<FxHasher>;

/// Identity of a compiled object, for its dependency slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DepKey {
    Vpc(String),
    Port(String),
    Subnet(u16, String),
    RouteTable(u16, String),
    NetworkAcl(u16, String),
    /// Bumped whenever the port starts tracking a flow: cached untracked decisions of
    /// that port are re-checked, since a tracked entry for them may now exist.
    Conntrack(String),
}

/// Epoch per dependency slot.
///
/// Slots are reused: a slot released (its key gone from the program, or a V2P entry
/// removed) gets a new epoch at once, so a decision that recorded the old epoch never
/// matches it again, whoever holds the slot next.
#[derive(Default)]
pub struct Epochs {
    /// Keyed slots and the fingerprint of their object's content.
    index: HashMap<DepKey, (u32, u64)>,
    epochs: Vec<u32>,
    /// Released slots, for reuse.
    free: Vec<u32>,
}

/// Fingerprint of an object that does not exist.
pub const ABSENT: u64 = 0;

impl Epochs {
    /// A fresh slot: a released one (its epoch moved on at release) or a new one.
    fn fresh(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            return s;
        }
        // slots are u32: 4 billion live objects would not fit in memory first
        let s = u32::try_from(self.epochs.len()).unwrap_or(u32::MAX);
        self.epochs.push(1);
        s
    }

    /// The slot of `key`, created (absent) if new.
    pub fn slot(&mut self, key: DepKey) -> u32 {
        if let Some(&(s, _)) = self.index.get(&key) {
            return s;
        }
        let s = self.fresh();
        self.index.insert(key, (s, ABSENT));
        s
    }

    /// A slot without a key (V2P entries: too many to key), at a fresh epoch.
    pub fn alloc(&mut self) -> u32 {
        self.fresh()
    }

    /// Gives back a slot from [`Epochs::alloc`]; decisions that read it are revisited.
    pub fn release(&mut self, slot: u32) {
        self.bump(slot);
        self.free.push(slot);
    }

    pub fn lookup(&self, key: &DepKey) -> Option<u32> {
        self.index.get(key).map(|&(s, _)| s)
    }

    /// Records the object's content; its epoch changes if the content did.
    pub fn set(&mut self, key: DepKey, fingerprint: u64) -> u32 {
        if let Some(&mut (s, ref mut fp)) = self.index.get_mut(&key) {
            if *fp != fingerprint {
                *fp = fingerprint;
                self.bump(s);
            }
            return s;
        }
        let s = self.fresh();
        self.index.insert(key, (s, fingerprint));
        s
    }

    /// Forces a new epoch (for state rather than configuration).
    #[inline]
    pub fn bump(&mut self, slot: u32) {
        if let Some(e) = self.epochs.get_mut(slot as usize) {
            *e = e.wrapping_add(1);
        }
    }

    /// The slot's epoch (0 for a slot that does not exist: never, slots only grow).
    #[inline]
    pub fn epoch(&self, slot: u32) -> u32 {
        self.epochs.get(slot as usize).copied().unwrap_or(0)
    }

    /// Every keyed slot whose key fails `present` is released (and its key forgotten).
    pub fn retain_present(&mut self, mut present: impl FnMut(&DepKey) -> bool) {
        let mut gone = Vec::new();
        self.index.retain(|k, &mut (s, _)| {
            let keep = present(k);
            if !keep {
                gone.push(s);
            }
            keep
        });
        for s in gone {
            self.release(s);
        }
    }

    /// Slots allocated: the table's length.
    pub fn allocated(&self) -> usize {
        self.epochs.len()
    }

    /// Slots in use (allocated, not released).
    pub fn in_use(&self) -> usize {
        self.epochs.len() - self.free.len()
    }
}

/// The dependencies one decision consulted: (slot, epoch seen). Room for the longest
/// walk, through a transit gateway into a port of this host (about 15 distinct); 15
/// pairs and the counts keep an IPv6 flow's table bucket (key and entry) in 5 cache lines.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deps {
    list: [(u32, u32); 15],
    len: u8,
    /// More were pushed than fit.
    overflow: bool,
}

impl Deps {
    /// Records `slot` (once: walks consult some twice, e.g. a VPC's default ACL).
    #[inline]
    pub fn push(&mut self, epochs: &Epochs, slot: u32) {
        if self.list[..self.len as usize]
            .iter()
            .any(|&(s, _)| s == slot)
        {
            return;
        }
        if (self.len as usize) < self.list.len() {
            self.list[self.len as usize] = (slot, epochs.epoch(slot));
            self.len += 1;
        } else {
            self.overflow = true;
        }
    }

    #[inline]
    pub fn valid(&self, epochs: &Epochs) -> bool {
        self.list[..self.len as usize]
            .iter()
            .all(|&(s, e)| epochs.epoch(s) == e)
    }

    /// False if more dependencies were pushed than fit: such a decision is not cached.
    pub fn complete(&self) -> bool {
        !self.overflow
    }
}

/// Where a flow-table key's packets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Port(u16),
    /// Received from the underlay for this VPC slot.
    Underlay(u16),
}

/// A flow-table key: origin and inner 5-tuple, packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey(pub u128);

impl FlowKey {
    #[inline]
    pub fn new(origin: Origin, tuple: u128) -> FlowKey {
        let o: u128 = match origin {
            Origin::Port(p) => u128::from(p),
            Origin::Underlay(v) => 0x1_0000 | u128::from(v),
        };
        FlowKey(tuple | (o << 104))
    }

    /// The flow's 5-tuple.
    #[inline]
    pub fn tuple(&self) -> crate::packet::FiveTuple {
        crate::packet::FiveTuple::unpack(self.0)
    }

    /// Where the key's packets come from.
    #[inline]
    pub fn origin(&self) -> Origin {
        // bits 104..120: the slot; bit 120: from the underlay
        let b = (self.0 >> 104).to_le_bytes();
        let slot = u16::from_le_bytes([b[0], b[1]]);
        if b[2] & 1 == 1 {
            Origin::Underlay(slot)
        } else {
            Origin::Port(slot)
        }
    }
}

/// The frame rewrite and destination of a cached flow.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    ToPort {
        port: u16,
        /// New (source, destination) MACs, if any.
        rewrite: Option<(MacAddr, MacAddr)>,
    },
    Encap {
        /// Outer Ethernet + IPv4 + UDP + Geneve, lengths and checksum to be patched; it
        /// names the host and the VNI ([`crate::overlay::template_dst`]).
        outer: [u8; crate::overlay::OUTER_LEN],
        rewrite: Option<(MacAddr, MacAddr)>,
        edge: bool,
    },
}

impl Action {
    /// Encapsulation to `host` in VPC number `vni` from `underlay` (source port `sport`,
    /// the flow's entropy).
    pub fn encap(
        underlay: &crate::program::Underlay,
        host: Ipv4Addr,
        vni: u32,
        sport: u16,
        rewrite: Option<(MacAddr, MacAddr)>,
        edge: bool,
    ) -> Action {
        Action::Encap {
            outer: crate::overlay::outer_template(underlay, host, vni, sport),
            rewrite,
            edge,
        }
    }
}

/// A tracked stage: which conntrack entry, which way the packets cross it.
#[derive(Debug, Clone, Copy)]
pub struct CtRef {
    pub slot: u32,
    pub generation: u32,
    pub dir: crate::conntrack::Direction,
}

/// A port whose flow logs count a cached flow, and which way the flow crosses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged {
    pub port: u16,
    pub direction: crate::conntrack::Direction,
}

/// What a cached flow carried since the last drain. It lives in the flow's entry, so a
/// fast-path packet counts on the cache line it has already read, and a new flow takes
/// no counter of its own; the engine drains it into the flow logs of the entry's
/// [`Logged`] ports (the same packets cross both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub packets: u64,
    pub bytes: u64,
    /// The OR of the TCP flags seen (a kernel fast path reports none).
    pub tcp_flags: u16,
    pub first: Time,
    pub last: Time,
}

impl Tally {
    /// The tally of a flow's first packet.
    #[inline]
    pub fn first<A>(m: &crate::packet::Meta<A>, now: Time) -> Tally {
        Tally {
            packets: 1,
            bytes: u64::from(m.ip_len),
            tcp_flags: m.tcp_flags,
            first: now,
            last: now,
        }
    }

    /// Zeroes the counts a drain handed over; `last` stays (it times the flow's idleness).
    pub fn drained(&mut self) {
        *self = Tally {
            last: self.last,
            ..Tally::default()
        };
    }

    #[inline]
    pub fn add(&mut self, packets: u64, bytes: u64, tcp_flags: u16, now: Time) {
        if self.packets == 0 {
            self.first = now;
        }
        self.packets += packets;
        self.bytes += bytes;
        self.tcp_flags |= tcp_flags;
        self.last = now;
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub deps: Deps,
    pub ct: [Option<CtRef>; 2],
    /// The ports whose flow logs count this flow (none: no flow log covers it).
    pub logged: [Option<Logged>; 2],
    /// Its `last` times the entry's idleness (it outlives drains).
    pub tally: Tally,
    pub action: Action,
    /// Frames must carry these MACs to use the entry (the slow path checked them).
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// For underlay flows: the outer source the decision authenticated.
    pub outer_src: Ipv4Addr,
}

/// An IPv6 address in a hash key: its 16 bytes aligned on 1, where a `u128` field would
/// align the whole key, and every table entry holding one, on 16 (an IPv6 flow's key
/// would take 48 bytes instead of 40, a tracked flow's 80 instead of 72); hashed as one
/// number, so the hasher spreads the address's varying last bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Addr6(pub Ipv6Addr);

impl Addr6 {
    #[inline]
    pub fn bits(self) -> u128 {
        u128::from(self.0)
    }
}

impl std::hash::Hash for Addr6 {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u128(self.bits());
    }
}

/// Two IPv6 addresses and a word of ports and protocol, folded into one word for the
/// hasher: each address half is mixed by a 64×64→128-bit multiply (wyhash's "mum"),
/// the two products in parallel. Fed through the hasher word by word the same 40 bytes
/// are five dependent multiply rounds, the longest wait of an IPv6 flow's lookup.
#[inline]
pub fn fold6(a: Addr6, b: Addr6, rest: u64) -> u64 {
    const P: [u64; 4] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    let mum = |x: u64, y: u64| {
        let r = u128::from(x) * u128::from(y);
        crate::wire::low64(r) ^ crate::wire::low64(r >> 64)
    };
    let (a, b) = (a.bits(), b.bits());
    let low = mum(crate::wire::low64(a) ^ P[0], crate::wire::low64(b) ^ P[1]);
    let high = mum(
        crate::wire::low64(a >> 64) ^ P[2],
        crate::wire::low64(b >> 64) ^ P[3],
    );
    low ^ high.rotate_left(32) ^ rest
}

/// An IPv6 flow-table key: origin and inner 5-tuple (the origin as in [`FlowKey`]'s
/// bits 104..121).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey6 {
    pub src: Addr6,
    pub dst: Addr6,
    /// Ports, protocol and origin, packed as in [`FlowKey`]'s low 128 bits.
    pub rest: u64,
}

/// One round of the hasher over [`fold6`].
impl std::hash::Hash for FlowKey6 {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(fold6(self.src, self.dst, self.rest));
    }
}

impl FlowKey6 {
    #[inline]
    pub fn new(origin: Origin, t: &crate::packet::FiveTuple6) -> FlowKey6 {
        let o: u64 = match origin {
            Origin::Port(p) => u64::from(p),
            Origin::Underlay(v) => 0x1_0000 | u64::from(v),
        };
        FlowKey6 {
            src: Addr6(t.src),
            dst: Addr6(t.dst),
            rest: (o << 40)
                | (u64::from(t.protocol) << 32)
                | (u64::from(t.src_port) << 16)
                | u64::from(t.dst_port),
        }
    }

    /// The flow's 5-tuple.
    pub fn tuple(&self) -> crate::packet::FiveTuple6 {
        crate::packet::FiveTuple {
            src: self.src.0,
            dst: self.dst.0,
            src_port: crate::wire::low16(self.rest >> 16),
            dst_port: crate::wire::low16(self.rest),
            protocol: u8::try_from((self.rest >> 32) & 0xff).unwrap_or(0),
        }
    }

    /// Where the key's packets come from.
    #[inline]
    pub fn origin(&self) -> Origin {
        let slot = crate::wire::low16(self.rest >> 40);
        if (self.rest >> 56) & 1 == 1 {
            Origin::Underlay(slot)
        } else {
            Origin::Port(slot)
        }
    }
}

/// The cache, bounded: when full, new decisions are simply not cached. One per address
/// family (`K` = [`FlowKey`] or [`FlowKey6`]).
pub struct FlowTable<K = FlowKey> {
    pub map: HashMap<K, Entry, BuildFxHasher>,
    pub capacity: usize,
}

impl<K: Copy + Eq + std::hash::Hash> FlowTable<K> {
    pub fn new(capacity: usize) -> Self {
        FlowTable {
            map: HashMap::with_capacity_and_hasher(capacity.min(1 << 16), BuildFxHasher::default()),
            capacity,
        }
    }

    /// Caches `entry`, showing `left` the entry it replaced, or `entry` itself when the
    /// table is full and refuses it.
    #[inline]
    pub fn insert(&mut self, key: K, entry: Entry, left: impl FnOnce(&Entry)) {
        let room = self.map.len() < self.capacity;
        match self.map.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut o) => left(&o.insert(entry)),
            std::collections::hash_map::Entry::Vacant(v) if room => {
                v.insert(entry);
            }
            std::collections::hash_map::Entry::Vacant(_) => left(&entry),
        }
    }

    /// Drops entries idle longer than `idle` (nanoseconds), showing each to `gone` first.
    pub fn expire(&mut self, now: Time, idle: u64, mut gone: impl FnMut(&K, &Entry)) {
        self.map.retain(|k, e| {
            let keep = now.0.saturating_sub(e.tally.last.0) <= idle;
            if !keep {
                gone(k, e);
            }
            keep
        });
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    /// A flow's table bucket (key and entry) spans 5 cache lines for either family: a
    /// fast-path hit reads most of it.
    #[test]
    fn buckets_fit_five_cache_lines() {
        use std::mem::size_of;
        let (v4, v6) = (
            size_of::<(FlowKey, Entry)>(),
            size_of::<(FlowKey6, Entry)>(),
        );
        assert!(v4 <= 320 && v6 <= 320, "IPv4 {v4} B, IPv6 {v6} B");
    }

    /// A decision records each dependency once and is complete up to the list's room;
    /// one more makes it uncacheable, and a bumped epoch invalidates it.
    #[test]
    fn deps_hold_fifteen_then_overflow() {
        let mut epochs = Epochs::default();
        let slots: Vec<u32> = (0..16).map(|_| epochs.alloc()).collect();
        let mut deps = Deps::default();
        for &s in &slots[..15] {
            deps.push(&epochs, s);
            deps.push(&epochs, s);
        }
        assert!(deps.complete() && deps.valid(&epochs));
        epochs.bump(slots[14]);
        assert!(!deps.valid(&epochs));
        deps.push(&epochs, slots[15]);
        assert!(!deps.complete());
    }

    /// Flows as a host sees them (one /64 each side, addresses and ports differing in
    /// their last bits, both directions) hash apart: no two of 131,072 share a hash, and
    /// the top 7 bits (hashbrown's tag) and the low 17 bits (its bucket) spread evenly.
    #[test]
    fn ipv6_flow_keys_hash_apart() {
        let build = BuildFxHasher::default();
        let (mut seen, mut tags, mut buckets) = (HashSet::new(), [0u32; 128], vec![0u32; 1 << 17]);
        let a = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 1, 0x10, 0, 0, 0, i);
        let b = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 1, 0x40, 0, 0, i >> 8, i & 0xff);
        for i in 0..256u16 {
            for j in 0..256u16 {
                for (src, dst) in [(a(i), b(j)), (b(j), a(i))] {
                    let t = crate::packet::FiveTuple {
                        src,
                        dst,
                        src_port: 30000 + (i & 7),
                        dst_port: 443,
                        protocol: 6,
                    };
                    let h = build.hash_one(FlowKey6::new(Origin::Port(1), &t));
                    assert!(seen.insert(h), "two flows share a hash");
                    tags[usize::try_from(h >> 57).unwrap()] += 1;
                    buckets[usize::try_from(h & 0x1_ffff).unwrap()] += 1;
                }
            }
        }
        // 1,024 a tag on average; 1 a bucket (a uniform spread leaves ~37 % empty)
        assert!(
            tags.iter().all(|&n| (768..1280).contains(&n)),
            "tags: {tags:?}"
        );
        let empty = buckets.iter().filter(|&&n| n == 0).count() as f64 / buckets.len() as f64;
        assert!((0.33..0.41).contains(&empty), "{empty:.3} of buckets empty");
    }
}
