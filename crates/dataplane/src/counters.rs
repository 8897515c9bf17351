//! Flow-log counters per (ENI, 5-tuple, ACCEPT/REJECT) and drop statistics.
//!
//! A cached flow counts in its flow-table entry ([`crate::flow_table::Tally`]); the
//! counters here hold what the slow path counts packet after packet (rejected flows,
//! decisions not cached) and the tallies of entries that left the table before a
//! drain. The agent drains both into flow-log records on its aggregation interval.

use crate::conntrack::Direction;
use crate::flow_table::{Addr6, BuildFxHasher, Tally, fold6};
use crate::packet::FiveTuple;
use crate::verdict::{DropReason, Time};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// ACCEPT or REJECT, as flow logs print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Accept,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// A counter's identity (IPv4 by default; [`CounterKey6`] for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterKey<A = Ipv4Addr> {
    pub port: u16,
    pub tuple: FiveTuple<A>,
    pub action: Action,
    /// Outbound: sent by the port's instance (flow logs' `egress`).
    pub direction: Direction,
}

pub type CounterKey6 = CounterKey<Ipv6Addr>;

impl<A> CounterKey<A> {
    /// The port, direction and action in one word, for hashing.
    fn low(&self) -> u32 {
        u32::from(self.port) << 2
            | u32::from(self.direction == Direction::Outbound) << 1
            | u32::from(self.action == Action::Accept)
    }
}

impl std::hash::Hash for CounterKey {
    /// Two integer writes, not one per field: this is hashed for every new flow.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.tuple.pack());
        state.write_u32(self.low());
    }
}

impl std::hash::Hash for CounterKey6 {
    /// One word, folded as a flow key's ([`fold6`]): fed word by word, the addresses
    /// were six dependent multiply rounds for every new IPv6 flow.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let t = &self.tuple;
        let rest = u64::from(self.low()) << 40
            | u64::from(t.protocol) << 32
            | u64::from(t.src_port) << 16
            | u64::from(t.dst_port);
        state.write_u64(fold6(Addr6(t.src), Addr6(t.dst), rest));
    }
}

/// One aggregated flow-log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// The ENI the traffic crossed (`eni-…`), as it was counted: the port may have
    /// left the host since, and its slot gone to another ENI.
    pub eni: Arc<str>,
    /// The port's slot when counted (the same caveat: prefer `eni`).
    pub port: u16,
    /// IPv4 or IPv6, as counted.
    pub tuple: FiveTuple<IpAddr>,
    pub action: Action,
    pub direction: Direction,
    pub packets: u64,
    pub bytes: u64,
    /// The OR of the TCP flags seen by the engine (a fast path reports none).
    pub tcp_flags: u16,
    pub first: Time,
    pub last: Time,
}

/// One counter: the ENI it counts for, and its tally since the last drain.
#[derive(Debug, Clone)]
struct Counter {
    eni: Arc<str>,
    tally: Tally,
}

/// The counters of the flows the slow path counts, bounded: past `limit` counters a new
/// one is not made, and its ENI's skipped count grows (flow logs' SKIPDATA).
pub struct Counters {
    index: HashMap<CounterKey, Counter, BuildFxHasher>,
    index6: HashMap<CounterKey6, Counter, BuildFxHasher>,
    /// Counters at most, both families together.
    limit: usize,
    /// Records of ports that left, kept for the next drain under their own ENI.
    retired: Vec<FlowRecord>,
    /// Packets not counted per ENI since the last drain.
    skipped: HashMap<Arc<str>, u64>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters::with_limit(DEFAULT_LIMIT)
    }
}

/// Counters a host keeps by default (a counter costs about 100 bytes).
pub const DEFAULT_LIMIT: usize = 1 << 20;

impl Counters {
    pub fn with_limit(limit: usize) -> Counters {
        Counters {
            index: HashMap::default(),
            index6: HashMap::default(),
            limit,
            retired: Vec::new(),
            skipped: HashMap::new(),
        }
    }

    /// Counts one packet under `key`, for the port whose ENI is `eni`.
    pub fn count(
        &mut self,
        key: CounterKey,
        eni: &Arc<str>,
        bytes: u16,
        tcp_flags: u16,
        now: Time,
    ) {
        let mut one = Tally::default();
        one.add(1, u64::from(bytes), tcp_flags, now);
        self.add(key, eni, &one);
    }

    /// Counts one IPv6 packet under `key`, for the port whose ENI is `eni`.
    pub fn count6(
        &mut self,
        key: CounterKey6,
        eni: &Arc<str>,
        bytes: u16,
        tcp_flags: u16,
        now: Time,
    ) {
        let mut one = Tally::default();
        one.add(1, u64::from(bytes), tcp_flags, now);
        self.add6(key, eni, &one);
    }

    /// Adds `tally` under `key`: to its counter, or a new one if there is room.
    pub fn add(&mut self, key: CounterKey, eni: &Arc<str>, tally: &Tally) {
        let full = self.live() >= self.limit;
        add_to(&mut self.index, &mut self.skipped, full, key, eni, tally);
    }

    /// [`Counters::add`] for an IPv6 counter.
    pub fn add6(&mut self, key: CounterKey6, eni: &Arc<str>, tally: &Tally) {
        let full = self.live() >= self.limit;
        add_to(&mut self.index6, &mut self.skipped, full, key, eni, tally);
    }

    /// Hands every counter with traffic since the last drain to `f` and zeroes it.
    pub fn drain(&mut self, mut f: impl FnMut(FlowRecord)) {
        for r in self.retired.drain(..) {
            f(r);
        }
        drain_from(&mut self.index, &mut f);
        drain_from(&mut self.index6, &mut f);
    }

    /// Hands over, per ENI, the packets left uncounted since the last call.
    pub fn drain_skipped(&mut self, mut f: impl FnMut(Arc<str>, u64)) {
        for (eni, n) in self.skipped.drain() {
            f(eni, n);
        }
    }

    /// Frees drained counters idle for longer than `idle` nanoseconds.
    pub fn expire(&mut self, now: Time, idle: u64) {
        let keep =
            |c: &Counter| c.tally.packets > 0 || now.0.saturating_sub(c.tally.last.0) <= idle;
        self.index.retain(|_, c| keep(c));
        self.index6.retain(|_, c| keep(c));
    }

    /// The ports `gone` names left the host: their counters leave (the next occupant of
    /// a slot counts afresh), their records wait for the next drain under their own ENI.
    pub fn retire_ports(&mut self, gone: impl Fn(u16) -> bool) {
        retire_from(&mut self.index, &mut self.retired, &gone);
        retire_from(&mut self.index6, &mut self.retired, &gone);
    }

    /// Counters held.
    pub fn live(&self) -> usize {
        self.index.len() + self.index6.len()
    }

    /// Current (undrained) count of `key`, for tests: (packets, bytes).
    pub fn get(&self, key: &CounterKey) -> Option<(u64, u64)> {
        self.index
            .get(key)
            .map(|c| (c.tally.packets, c.tally.bytes))
    }

    /// [`Counters::get`] of an IPv6 counter.
    pub fn get6(&self, key: &CounterKey6) -> Option<(u64, u64)> {
        self.index6
            .get(key)
            .map(|c| (c.tally.packets, c.tally.bytes))
    }
}

/// Adds `tally` under `key` in `index`: to its counter, or a new one unless `full`
/// (then the packets count as skipped for `eni`).
fn add_to<A>(
    index: &mut HashMap<CounterKey<A>, Counter, BuildFxHasher>,
    skipped: &mut HashMap<Arc<str>, u64>,
    full: bool,
    key: CounterKey<A>,
    eni: &Arc<str>,
    tally: &Tally,
) where
    CounterKey<A>: std::hash::Hash + Eq,
{
    if tally.packets == 0 {
        return;
    }
    let c = match index.entry(key) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(_) if full => {
            *skipped.entry(Arc::clone(eni)).or_default() += tally.packets;
            return;
        }
        std::collections::hash_map::Entry::Vacant(v) => v.insert(Counter {
            eni: Arc::clone(eni),
            tally: Tally::default(),
        }),
    };
    let t = &mut c.tally;
    t.first = if t.packets == 0 {
        tally.first
    } else {
        t.first.min(tally.first)
    };
    t.packets += tally.packets;
    t.bytes += tally.bytes;
    t.tcp_flags |= tally.tcp_flags;
    t.last = t.last.max(tally.last);
}

/// Hands every counter of `index` with traffic to `f` and zeroes it.
fn drain_from<A: Copy + Into<IpAddr>>(
    index: &mut HashMap<CounterKey<A>, Counter, BuildFxHasher>,
    f: &mut impl FnMut(FlowRecord),
) {
    for (key, c) in index.iter_mut().filter(|(_, c)| c.tally.packets > 0) {
        f(FlowRecord::new(key, &c.eni, &c.tally));
        c.tally.drained();
    }
}

/// Removes the counters of ports `gone` names from `index`, their records kept.
fn retire_from<A: Copy + Into<IpAddr>>(
    index: &mut HashMap<CounterKey<A>, Counter, BuildFxHasher>,
    retired: &mut Vec<FlowRecord>,
    gone: &impl Fn(u16) -> bool,
) {
    index.retain(|key, c| {
        if !gone(key.port) {
            return true;
        }
        if c.tally.packets > 0 {
            retired.push(FlowRecord::new(key, &c.eni, &c.tally));
        }
        false
    });
}

impl FlowRecord {
    /// The record of `tally`, counted under `key` for `eni`.
    pub fn new<A: Copy + Into<IpAddr>>(
        key: &CounterKey<A>,
        eni: &Arc<str>,
        tally: &Tally,
    ) -> FlowRecord {
        let t = &key.tuple;
        FlowRecord {
            eni: Arc::clone(eni),
            port: key.port,
            tuple: FiveTuple {
                src: t.src.into(),
                dst: t.dst.into(),
                src_port: t.src_port,
                dst_port: t.dst_port,
                protocol: t.protocol,
            },
            action: key.action,
            direction: key.direction,
            packets: tally.packets,
            bytes: tally.bytes,
            tcp_flags: tally.tcp_flags,
            first: tally.first,
            last: tally.last,
        }
    }
}

/// Engine-wide statistics for metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub drops: Drops,
    pub fast_path: u64,
    pub slow_path: u64,
    /// The resolver's answers (its refusals are drops: `dns_unanswered`).
    pub dns: DnsStats,
}

/// Drops by reason, indexed by `DropReason as usize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drops(pub [u64; DropReason::COUNT]);

// by hand: the standard library derives `Default` for arrays of at most 32
impl Default for Drops {
    fn default() -> Drops {
        Drops([0; DropReason::COUNT])
    }
}

impl std::ops::Deref for Drops {
    type Target = [u64; DropReason::COUNT];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Drops {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// Answers of the VPC resolver, by rcode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Every answer sent.
    pub answers: u64,
    /// Of which NXDOMAIN (a name outside the VPC's).
    pub nxdomain: u64,
    /// Of which FORMERR (not one question).
    pub formerr: u64,
}

impl DnsStats {
    pub fn count(&mut self, rcode: u8) {
        self.answers += 1;
        match rcode {
            crate::wire::dns::rcode::NXDOMAIN => self.nxdomain += 1,
            crate::wire::dns::rcode::FORMERR => self.formerr += 1,
            _ => {}
        }
    }
}

impl Stats {
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(port: u16, action: Action) -> CounterKey {
        CounterKey {
            port,
            tuple: FiveTuple {
                src: Ipv4Addr::new(10, 0, 1, 5),
                dst: Ipv4Addr::new(10, 0, 2, 5),
                src_port: 40000,
                dst_port: 22,
                protocol: 6,
            },
            action,
            direction: Direction::Outbound,
        }
    }

    fn drained(c: &mut Counters) -> Vec<(Arc<str>, Action, u64, u64)> {
        let mut out = Vec::new();
        c.drain(|r| out.push((r.eni, r.action, r.packets, r.bytes)));
        out.sort_by_key(|r| (r.0.clone(), r.1 == Action::Accept));
        out
    }

    /// One counter per key; a tally handed over (a cached flow's, when its entry left
    /// the table) adds to it; drained and idle, counters go.
    #[test]
    fn a_key_keeps_one_counter_until_idle() {
        let eni: Arc<str> = Arc::from("eni-1");
        let mut c = Counters::default();
        for _ in 0..3 {
            c.count(key(1, Action::Reject), &eni, 60, 2, Time(1));
        }
        let mut t = Tally::default();
        t.add(2, 1500, 0x10, Time(2));
        c.add(key(1, Action::Accept), &eni, &t);
        c.add(key(1, Action::Accept), &eni, &t);
        assert_eq!(c.live(), 2);
        assert_eq!(
            drained(&mut c),
            [
                (eni.clone(), Action::Reject, 3, 180),
                (eni.clone(), Action::Accept, 4, 3000)
            ]
        );
        assert!(drained(&mut c).is_empty());
        c.expire(Time(2 + 61 * 1_000_000_000), 60 * 1_000_000_000);
        assert_eq!(c.live(), 0);
    }

    /// Past the limit, new keys are skipped (and said so per ENI); a port that leaves
    /// hands its records to the next drain under its own ENI, and frees its counters.
    #[test]
    fn bounded_and_retired() {
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("eni-a"), Arc::from("eni-b"));
        let mut c = Counters::with_limit(1);
        c.count(key(1, Action::Reject), &a, 40, 0, Time(1));
        c.count(key(2, Action::Reject), &b, 40, 0, Time(1));
        c.count(key(2, Action::Reject), &b, 40, 0, Time(1));
        let mut skipped = Vec::new();
        c.drain_skipped(|e, n| skipped.push((e, n)));
        assert_eq!(skipped, [(b.clone(), 2)]);
        c.retire_ports(|p| p == 1);
        assert_eq!(c.live(), 0);
        c.count(key(1, Action::Reject), &b, 40, 0, Time(2));
        assert_eq!(
            drained(&mut c),
            [
                (a.clone(), Action::Reject, 1, 40),
                (b.clone(), Action::Reject, 1, 40)
            ]
        );
    }

    /// IPv6 counters keep their own keys and hand over records with IPv6 addresses;
    /// the limit covers both families.
    #[test]
    fn ipv6_counters_share_the_limit() {
        let eni: Arc<str> = Arc::from("eni-6");
        let mut c = Counters::with_limit(2);
        let t6 = FiveTuple {
            src: "2600:1f00::5".parse::<Ipv6Addr>().unwrap(),
            dst: "2600:1f00:0:1::5".parse::<Ipv6Addr>().unwrap(),
            src_port: 40000,
            dst_port: 443,
            protocol: 6,
        };
        let k6 = CounterKey {
            port: 3,
            tuple: t6,
            action: Action::Accept,
            direction: Direction::Inbound,
        };
        c.count6(k6, &eni, 80, 2, Time(1));
        c.count6(k6, &eni, 60, 0x10, Time(2));
        assert_eq!(c.get6(&k6), Some((2, 140)));
        c.count(key(1, Action::Reject), &eni, 40, 0, Time(1));
        // full: a third key (of either family) is skipped
        c.count6(CounterKey { port: 4, ..k6 }, &eni, 40, 0, Time(1));
        assert_eq!(c.live(), 2);
        let mut recs = Vec::new();
        c.drain(|r| recs.push(r));
        let r6 = recs.iter().find(|r| r.port == 3).unwrap();
        assert_eq!(r6.tuple.src, IpAddr::V6(t6.src));
        assert_eq!(r6.tuple.dst, IpAddr::V6(t6.dst));
        assert_eq!((r6.packets, r6.bytes, r6.tcp_flags), (2, 140, 0x12));
        assert_eq!(r6.direction, Direction::Inbound);
        let mut skipped = Vec::new();
        c.drain_skipped(|e, n| skipped.push((e, n)));
        assert_eq!(skipped, [(eni.clone(), 1)]);
        c.retire_ports(|p| p == 3);
        assert_eq!(c.live(), 1);
    }
}
