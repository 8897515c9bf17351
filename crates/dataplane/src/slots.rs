//! Slots: the small integers the engine names its ports and VPCs by.
//!
//! A slot is an index into the engine's tables and a part of its keys (conntrack,
//! flow table, counters), so it must be unique among the objects present and the
//! tables must not grow with churn. An id keeps its slot for as long as it stays;
//! a freed slot is handed out again, lowest first, so the tables stay as long as the
//! most objects present at once; there are never more than [`MAX_SLOTS`], and asking
//! for one more fails instead of wrapping onto a slot in use. Whatever was keyed by a
//! freed slot is the engine's to purge before the slot's next occupant sees traffic
//! (`Engine::install`).

use std::collections::{BTreeSet, HashMap};

/// Slots are 16-bit: 65,536 ports, 65,536 VPCs.
pub const MAX_SLOTS: usize = 1 << 16;

/// Every slot is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

/// The slots of one kind of object, by id.
#[derive(Debug, Default)]
pub struct SlotIndex {
    index: HashMap<String, u16>,
    /// Freed slots below `end`.
    free: BTreeSet<u16>,
    /// Slots `0..end` have been handed out (in use or in `free`).
    end: usize,
}

impl SlotIndex {
    /// The slot of `id`, if it holds one.
    pub fn get(&self, id: &str) -> Option<u16> {
        self.index.get(id).copied()
    }

    /// The slot of `id`: its own if it has one, else the lowest free one.
    pub fn alloc(&mut self, id: &str) -> Result<u16, Exhausted> {
        if let Some(s) = self.get(id) {
            return Ok(s);
        }
        let s = match self.free.pop_first() {
            Some(s) => s,
            None => {
                let s = u16::try_from(self.end).map_err(|_| Exhausted)?;
                self.end += 1;
                s
            }
        };
        self.index.insert(id.to_string(), s);
        Ok(s)
    }

    /// Frees the slot of `id`; returns it.
    pub fn release(&mut self, id: &str) -> Option<u16> {
        let s = self.index.remove(id)?;
        self.free.insert(s);
        // the tail of free slots shrinks the range
        while let Some(&last) = self.free.last()
            && usize::from(last) + 1 == self.end
        {
            self.free.pop_last();
            self.end -= 1;
        }
        Some(s)
    }

    /// Ids holding a slot that `keep` refuses, freed; returns their slots.
    pub fn release_unless(&mut self, mut keep: impl FnMut(&str) -> bool) -> Vec<u16> {
        let gone: Vec<String> = self.index.keys().filter(|id| !keep(id)).cloned().collect();
        gone.iter().filter_map(|id| self.release(id)).collect()
    }

    /// Slots in use.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// One past the highest slot handed out: the length the slot-indexed tables need.
    pub fn end(&self) -> usize {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_slots_are_reused_lowest_first() {
        let mut s = SlotIndex::default();
        for i in 0..4 {
            assert_eq!(s.alloc(&format!("eni-{i}")), Ok(i));
        }
        assert_eq!(s.alloc("eni-2"), Ok(2), "an id keeps its slot");
        assert_eq!(s.release("eni-1"), Some(1));
        assert_eq!(s.release("eni-2"), Some(2));
        assert_eq!(s.release("eni-2"), None);
        assert_eq!(s.alloc("eni-x"), Ok(1));
        assert_eq!(s.alloc("eni-y"), Ok(2));
        assert_eq!(s.alloc("eni-z"), Ok(4));
        assert_eq!((s.len(), s.end()), (5, 5));
        // freeing the top shrinks the range
        let mut gone = s.release_unless(|id| !["eni-3", "eni-z"].contains(&id));
        gone.sort();
        assert_eq!(gone, vec![3, 4]);
        assert_eq!(s.end(), 3);
        assert_eq!(s.get("eni-x"), Some(1));
    }

    #[test]
    fn never_wraps() {
        let mut s = SlotIndex::default();
        for i in 0..MAX_SLOTS {
            s.alloc(&i.to_string()).unwrap();
        }
        assert_eq!(s.alloc("one-more"), Err(Exhausted));
        assert_eq!(s.alloc("0"), Ok(0));
        s.release("65535");
        assert_eq!(s.alloc("one-more"), Ok(u16::MAX));
        assert_eq!(s.alloc("and-another"), Err(Exhausted));
    }
}
