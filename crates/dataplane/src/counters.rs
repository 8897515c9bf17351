//! Flow-log counters per (ENI, 5-tuple, ACCEPT/REJECT) and drop statistics.
//!
//! Counters live in a slab; cached flows hold a slot and its generation, so counting a
//! fast-path packet is an index, not a hash lookup. The agent drains them into flow-log
//! records (AWS default format v2) on its aggregation interval.

use crate::flow_table::{BuildFxHasher, CounterRef};
use crate::packet::FiveTuple;
use crate::verdict::{DropReason, Time};
use std::collections::HashMap;

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
}

impl std::hash::Hash for CounterKey {
    /// Two integer writes, not one per field: this is hashed for every new flow.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.tuple.pack());
        state.write_u32(u32::from(self.port) << 1 | u32::from(self.action == Action::Accept));
    }
}

/// One aggregated flow-log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// The ENI's id (`eni-…`) is looked up by the caller from the port.
    pub port: u16,
    pub tuple: FiveTuple,
    pub action: Action,
    pub packets: u64,
    pub bytes: u64,
    pub first: Time,
    pub last: Time,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: CounterKey,
    generation: u32,
    live: bool,
    packets: u64,
    bytes: u64,
    first: Time,
    last: Time,
}

#[derive(Default)]
pub struct Counters {
    index: HashMap<CounterKey, u32, BuildFxHasher>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Counters {
    /// Counts a packet under `key`, returning a reference for the flow cache.
    pub fn count(&mut self, key: CounterKey, bytes: u16, now: Time) -> CounterRef {
        let slot = match self.index.get(&key) {
            Some(&s) => s,
            None => {
                let fresh = Slot {
                    key,
                    generation: 0,
                    live: true,
                    packets: 0,
                    bytes: 0,
                    first: now,
                    last: now,
                };
                let s = if let Some(s) = self.free.pop() {
                    let generation = self.slots[s as usize].generation.wrapping_add(1);
                    self.slots[s as usize] = Slot {
                        generation,
                        ..fresh
                    };
                    s
                } else {
                    self.slots.push(fresh);
                    (self.slots.len() - 1) as u32
                };
                self.index.insert(key, s);
                s
            }
        };
        let generation = self.slots[slot as usize].generation;
        let r = CounterRef { slot, generation };
        self.bump(r, bytes, now);
        r
    }

    /// Counts a packet through a cached reference; false if the slot was reused.
    #[inline]
    pub fn bump(&mut self, r: CounterRef, bytes: u16, now: Time) -> bool {
        self.add(r, 1, u64::from(bytes), now)
    }

    /// Counts `packets` packets of `bytes` in all (what a fast path carried).
    #[inline]
    pub fn add(&mut self, r: CounterRef, packets: u64, bytes: u64, now: Time) -> bool {
        let s = &mut self.slots[r.slot as usize];
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

    #[inline]
    pub fn valid(&self, r: CounterRef) -> bool {
        let s = &self.slots[r.slot as usize];
        s.generation == r.generation && s.live
    }

    /// Hands every counter with traffic since the last drain to `f` and zeroes it.
    pub fn drain(&mut self, mut f: impl FnMut(FlowRecord)) {
        for s in self.slots.iter_mut().filter(|s| s.live && s.packets > 0) {
            f(FlowRecord {
                port: s.key.port,
                tuple: s.key.tuple,
                action: s.key.action,
                packets: s.packets,
                bytes: s.bytes,
                first: s.first,
                last: s.last,
            });
            s.packets = 0;
            s.bytes = 0;
        }
    }

    /// Frees drained counters idle for longer than `idle` nanoseconds.
    pub fn expire(&mut self, now: Time, idle: u64) {
        for i in 0..self.slots.len() {
            let s = &mut self.slots[i];
            if s.live && s.packets == 0 && now.0.saturating_sub(s.last.0) > idle {
                s.live = false;
                s.generation = s.generation.wrapping_add(1);
                let key = s.key;
                self.index.remove(&key);
                self.free.push(i as u32);
            }
        }
    }

    /// Current (undrained) value of one counter, for tests and metrics.
    pub fn get(&self, key: &CounterKey) -> Option<(u64, u64)> {
        self.index
            .get(key)
            .map(|&s| (self.slots[s as usize].packets, self.slots[s as usize].bytes))
    }
}

/// Engine-wide statistics for metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub drops: [u64; DropReason::COUNT],
    pub fast_path: u64,
    pub slow_path: u64,
}

impl Stats {
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }
}
