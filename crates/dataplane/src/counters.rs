//! Flow-log counters per (ENI, 5-tuple, ACCEPT/REJECT) and drop statistics.
//!
//! Counters live in a slab; cached flows hold a slot and its generation, so counting a
//! fast-path packet is an index, not a hash lookup. The agent drains them into flow-log
//! records (AWS default format v2) on its aggregation interval.

use crate::conntrack::Direction;
use crate::flow_table::{BuildFxHasher, CounterRef};
use crate::packet::FiveTuple;
use crate::verdict::{DropReason, Time};
use std::collections::HashMap;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterKey {
    pub port: u16,
    pub tuple: FiveTuple,
    pub action: Action,
    /// Outbound: sent by the port's instance (flow logs' `egress`).
    pub direction: Direction,
}

impl std::hash::Hash for CounterKey {
    /// Two integer writes, not one per field: this is hashed for every new flow.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.tuple.pack());
        state.write_u32(
            u32::from(self.port) << 2
                | u32::from(self.direction == Direction::Outbound) << 1
                | u32::from(self.action == Action::Accept),
        );
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
    pub tuple: FiveTuple,
    pub action: Action,
    pub direction: Direction,
    pub packets: u64,
    pub bytes: u64,
    /// The OR of the TCP flags seen by the engine (a fast path reports none).
    pub tcp_flags: u16,
    pub first: Time,
    pub last: Time,
}

#[derive(Debug, Clone)]
struct Slot {
    key: CounterKey,
    eni: Arc<str>,
    generation: u32,
    live: bool,
    /// In the index (counters of flows the flow table caches are found through their
    /// cached reference instead).
    indexed: bool,
    /// Its port left: it waits to be drained under its own ENI, then goes (its key may
    /// be its slot's next occupant's).
    retired: bool,
    packets: u64,
    bytes: u64,
    tcp_flags: u16,
    first: Time,
    last: Time,
}

/// The counters of every flow on the host, bounded: past `limit` live counters a new
/// flow goes uncounted, and its ENI's skipped count grows (flow logs' SKIPDATA).
pub struct Counters {
    index: HashMap<CounterKey, u32, BuildFxHasher>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    limit: usize,
    /// Packets not counted per ENI since the last drain.
    skipped: HashMap<Arc<str>, u64>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters::with_limit(DEFAULT_LIMIT)
    }
}

/// Live counters a host keeps by default (a counter costs about 100 bytes).
pub const DEFAULT_LIMIT: usize = 1 << 20;

impl Counters {
    pub fn with_limit(limit: usize) -> Counters {
        Counters {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            limit,
            skipped: HashMap::new(),
        }
    }

    /// Counts a packet under `key` (of the port whose ENI is `eni`), returning a
    /// reference for the flow cache: the counter of `key` if there is one (a flow the
    /// slow path decides packet after packet, as rejected ones are, keeps one counter).
    pub fn count(
        &mut self,
        key: CounterKey,
        eni: &Arc<str>,
        bytes: u16,
        tcp_flags: u16,
        now: Time,
    ) -> CounterRef {
        let r = match self.index.get(&key) {
            Some(&slot) => CounterRef {
                slot,
                generation: self.slots.get(slot as usize).map_or(0, |s| s.generation),
            },
            None => {
                let r = self.allocate(key, eni, now, true);
                if r != CounterRef::UNCOUNTED {
                    self.index.insert(key, r.slot);
                }
                r
            }
        };
        self.bump(r, bytes, tcp_flags, now);
        r
    }

    /// Counts the packet of an accepted flow. One whose decision the flow table caches
    /// (`cached`) gets a counter of its own, which its later packets reach through the
    /// cached reference, so no index is kept (the cost of one on every new flow); a flow
    /// decided again takes a new counter, and the agent adds up a window's records of one
    /// flow. Others share their key's counter, as [`Counters::count`].
    pub fn count_accepted(
        &mut self,
        key: CounterKey,
        eni: &Arc<str>,
        bytes: u16,
        tcp_flags: u16,
        now: Time,
        cached: bool,
    ) -> CounterRef {
        if !cached {
            return self.count(key, eni, bytes, tcp_flags, now);
        }
        let r = self.allocate(key, eni, now, false);
        self.bump(r, bytes, tcp_flags, now);
        r
    }

    /// A fresh counter, or [`CounterRef::UNCOUNTED`] (its ENI's skipped count grows)
    /// when the table is full.
    fn allocate(
        &mut self,
        key: CounterKey,
        eni: &Arc<str>,
        now: Time,
        indexed: bool,
    ) -> CounterRef {
        if self.live() >= self.limit {
            *self.skipped.entry(Arc::clone(eni)).or_default() += 1;
            return CounterRef::UNCOUNTED;
        }
        let fresh = Slot {
            key,
            eni: Arc::clone(eni),
            generation: 0,
            live: true,
            indexed,
            retired: false,
            packets: 0,
            bytes: 0,
            tcp_flags: 0,
            first: now,
            last: now,
        };
        let slot = if let Some(s) = self.free.pop()
            && let Some(old) = self.slots.get_mut(s as usize)
        {
            *old = Slot {
                generation: old.generation.wrapping_add(1),
                ..fresh
            };
            s
        } else {
            // slots are u32: past 4 billion counters, the packet goes uncounted (and its
            // decision uncached: the reference is never valid)
            let Ok(s) = u32::try_from(self.slots.len()) else {
                return CounterRef::UNCOUNTED;
            };
            self.slots.push(fresh);
            s
        };
        let generation = self.slots.get(slot as usize).map_or(0, |s| s.generation);
        CounterRef { slot, generation }
    }

    /// Counts a packet through a cached reference; false if the slot was reused.
    #[inline]
    pub fn bump(&mut self, r: CounterRef, bytes: u16, tcp_flags: u16, now: Time) -> bool {
        if let Some(s) = self.slots.get_mut(r.slot as usize)
            && s.generation == r.generation
        {
            s.tcp_flags |= tcp_flags;
        }
        self.add(r, 1, u64::from(bytes), now)
    }

    /// Counts `packets` packets of `bytes` in all (what a fast path carried).
    #[inline]
    pub fn add(&mut self, r: CounterRef, packets: u64, bytes: u64, now: Time) -> bool {
        let Some(s) = self.slots.get_mut(r.slot as usize) else {
            return false;
        };
        if s.generation != r.generation || !s.live {
            return false;
        }
        if s.packets == 0 {
            s.first = now;
        }
        s.packets += packets;
        s.bytes += bytes;
        s.last = now;
        true
    }

    /// Whether a cached flow's counter still counts: an uncounted flow stays so while
    /// the table is full, and is re-decided (and counted) once there is room.
    #[inline]
    pub fn valid(&self, r: CounterRef) -> bool {
        if r == CounterRef::UNCOUNTED {
            return self.live() >= self.limit;
        }
        self.slots
            .get(r.slot as usize)
            .is_some_and(|s| s.generation == r.generation && s.live)
    }

    /// Hands every counter with traffic since the last drain to `f` and zeroes it.
    pub fn drain(&mut self, mut f: impl FnMut(FlowRecord)) {
        for s in self.slots.iter_mut().filter(|s| s.live && s.packets > 0) {
            f(FlowRecord {
                eni: Arc::clone(&s.eni),
                port: s.key.port,
                tuple: s.key.tuple,
                action: s.key.action,
                direction: s.key.direction,
                packets: s.packets,
                bytes: s.bytes,
                tcp_flags: s.tcp_flags,
                first: s.first,
                last: s.last,
            });
            s.packets = 0;
            s.bytes = 0;
            s.tcp_flags = 0;
        }
    }

    /// Hands over, per ENI, the new flows that went uncounted since the last call.
    pub fn drain_skipped(&mut self, mut f: impl FnMut(Arc<str>, u64)) {
        for (eni, n) in self.skipped.drain() {
            f(eni, n);
        }
    }

    /// Frees drained counters idle for longer than `idle` nanoseconds, and drained
    /// counters of ports that left.
    pub fn expire(&mut self, now: Time, idle: u64) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            let idle = now.0.saturating_sub(s.last.0) > idle;
            if s.live && s.packets == 0 && (idle || s.retired) {
                s.live = false;
                s.generation = s.generation.wrapping_add(1);
                if s.indexed {
                    self.index.remove(&s.key);
                }
                s.indexed = false;
                // slots are u32 (CounterRef): a 4-billion-entry table is not possible
                self.free.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }

    /// The ports `gone` names left the host: their counters leave the index (the next
    /// occupant of a slot counts afresh) and wait to be drained under their own ENI.
    pub fn retire_ports(&mut self, gone: impl Fn(u16) -> bool) {
        for s in &mut self.slots {
            if s.live && !s.retired && gone(s.key.port) {
                if s.indexed {
                    self.index.remove(&s.key);
                }
                s.indexed = false;
                s.retired = true;
                // cached flows holding it are re-decided
                s.generation = s.generation.wrapping_add(1);
            }
        }
    }

    /// Counters held (live or free): the slab's length.
    pub fn slab_len(&self) -> usize {
        self.slots.len()
    }

    /// Live counters.
    pub fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Current (undrained) count of `key` over its counters, for tests: (packets, bytes).
    pub fn get(&self, key: &CounterKey) -> Option<(u64, u64)> {
        self.slots
            .iter()
            .filter(|s| s.live && !s.retired && s.key == *key)
            .map(|s| (s.packets, s.bytes))
            .reduce(|(p, b), (q, c)| (p + q, b + c))
    }
}

/// Engine-wide statistics for metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub drops: [u64; DropReason::COUNT],
    pub fast_path: u64,
    pub slow_path: u64,
    /// The resolver's answers (its refusals are drops: `dns_unanswered`).
    pub dns: DnsStats,
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

    fn key(action: Action) -> CounterKey {
        CounterKey {
            port: 1,
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

    fn drained(c: &mut Counters) -> Vec<(Action, u64, u64)> {
        let mut out = Vec::new();
        c.drain(|r| out.push((r.action, r.packets, r.bytes)));
        out
    }

    /// A flow the slow path decides packet after packet (a rejected one) keeps one
    /// counter; a cached flow counts through its reference, and decided again takes a
    /// second counter whose record the agent adds to the first's.
    #[test]
    fn slow_path_flows_share_a_counter_cached_ones_hold_their_own() {
        let eni: Arc<str> = Arc::from("eni-1");
        let mut c = Counters::default();
        for _ in 0..3 {
            c.count(key(Action::Reject), &eni, 60, 2, Time(1));
        }
        assert_eq!(c.live(), 1);
        let first = c.count_accepted(key(Action::Accept), &eni, 60, 2, Time(1), true);
        assert!(c.bump(first, 1500, 0x10, Time(2)));
        let again = c.count_accepted(key(Action::Accept), &eni, 60, 0x10, Time(3), true);
        assert_ne!(first.slot, again.slot, "a decision made again counts anew");
        assert_eq!(c.get(&key(Action::Accept)), Some((3, 1620)), "both, summed");
        let mut d = drained(&mut c);
        d.sort_by_key(|(a, p, _)| (*a == Action::Accept, *p));
        assert_eq!(
            d,
            [
                (Action::Reject, 3, 180),
                (Action::Accept, 1, 60),
                (Action::Accept, 2, 1560)
            ]
        );
        // drained and idle: every counter goes, and cached references stop counting
        c.expire(Time(2 + 61 * 1_000_000_000), 60 * 1_000_000_000);
        assert_eq!(c.live(), 0);
        assert!(!c.valid(first) && !c.bump(again, 1, 0, Time(4)));
    }
}
