//! Which operations of a log still shape a replica's state, so that the others can leave
//! the log ([`crate::oplog`]) and free the store's space.
//!
//! A replica names the things it keeps (an object, a bucket, a log stream: its entities)
//! and, as it applies each operation, says what the operation did to them: defined one
//! anew, added to one, removed one. An operation is *retired* when replaying the log
//! without it gives the same state:
//!
//! * no entity is defined by it any more (`refs == 0`), and
//! * no operation it superseded is still in the log (`pins == 0`): a delete must stay as
//!   long as the put it undid stays, or replaying the put would bring the object back.
//!
//! An operation that fails changes nothing and retires at once. Retiring an operation can
//! retire the ones that superseded it (a cascade). Everything here is a function of the
//! operations and their order, so every server computes the same retirements.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// An operation of the log, by its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(Arc<str>);

impl OpId {
    pub fn new(name: &str) -> Self {
        OpId(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OpId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Default)]
struct Live {
    /// Entities defined by it.
    refs: u32,
    /// Operations it superseded that are still live.
    pins: u32,
    /// The operations it pins (that superseded it), to release when it retires.
    superseders: Vec<OpId>,
}

/// The operation being applied and what it touched.
struct Current {
    id: OpId,
    /// Ops whose references it dropped: they may retire.
    dropped: Vec<OpId>,
    /// Ops whose effect it replaced: it stays while they do.
    superseded: Vec<OpId>,
}

/// The live operations behind a replica's entities `E`.
pub struct Lineage<E> {
    sets: HashMap<E, Vec<OpId>>,
    live: HashMap<OpId, Live>,
    current: Option<Current>,
}

impl<E> Default for Lineage<E> {
    fn default() -> Self {
        Lineage {
            sets: HashMap::new(),
            live: HashMap::new(),
            current: None,
        }
    }
}

impl<E: Hash + Eq + Clone> Lineage<E> {
    /// Starts recording what operation `id` does (ending any operation not finished).
    pub fn begin(&mut self, id: &OpId) {
        self.live.insert(id.clone(), Live::default());
        self.current = Some(Current {
            id: id.clone(),
            dropped: Vec::new(),
            superseded: Vec::new(),
        });
    }

    /// Whether `e` exists (was defined and not removed).
    pub fn has(&self, e: &E) -> bool {
        self.sets.contains_key(e)
    }

    /// The operations that define `e` (none if it does not exist).
    pub fn ops_of(&self, e: &E) -> &[OpId] {
        self.sets.get(e).map_or(&[], Vec::as_slice)
    }

    /// `e` is now what the current operation made of it, reading `inputs` (the operations
    /// behind what it read: a copy's source). Whatever defined `e` before and is not
    /// among them is superseded.
    pub fn define(&mut self, e: E, inputs: &[OpId]) {
        let Some(cur) = self.current.as_ref() else {
            return;
        };
        let mut set: Vec<OpId> = inputs.to_vec();
        set.push(cur.id.clone());
        set.sort();
        set.dedup();
        for o in &set {
            if let Some(l) = self.live.get_mut(o) {
                l.refs += 1;
            }
        }
        let old = self.sets.insert(e, set.clone()).unwrap_or_default();
        self.release(old, &set);
    }

    /// The current operation adds to `e` (which keeps what defined it), if `e` exists.
    pub fn extend(&mut self, e: &E) {
        let Some(cur) = self.current.as_ref() else {
            return;
        };
        if let Some(set) = self.sets.get_mut(e)
            && !set.contains(&cur.id)
        {
            set.push(cur.id.clone());
            if let Some(l) = self.live.get_mut(&cur.id) {
                l.refs += 1;
            }
        }
    }

    /// The current operation removed `e`.
    pub fn remove(&mut self, e: &E) {
        if let Some(old) = self.sets.remove(e) {
            self.release(old, &[]);
        }
    }

    /// The current operation removed every entity `gone` says.
    pub fn remove_where(&mut self, gone: impl Fn(&E) -> bool) {
        let keys: Vec<E> = self.sets.keys().filter(|e| gone(e)).cloned().collect();
        for e in keys {
            self.remove(&e);
        }
    }

    fn release(&mut self, old: Vec<OpId>, kept: &[OpId]) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        for o in old {
            if let Some(l) = self.live.get_mut(&o) {
                l.refs = l.refs.saturating_sub(1);
            }
            if !kept.contains(&o) && o != cur.id {
                cur.superseded.push(o.clone());
            }
            cur.dropped.push(o);
        }
    }

    /// Ends the current operation: the operations that retire now (it among them, when it
    /// left nothing that needs it).
    pub fn finish(&mut self) -> Vec<OpId> {
        let Some(cur) = self.current.take() else {
            return Vec::new();
        };
        let mut retired = Vec::new();
        let mut check: Vec<OpId> = cur.dropped.into_iter().filter(|o| *o != cur.id).collect();
        self.cascade(&mut check, &mut retired);
        let mut superseded = cur.superseded;
        superseded.sort();
        superseded.dedup();
        let mut pins = 0;
        for o in superseded {
            if let Some(l) = self.live.get_mut(&o) {
                l.superseders.push(cur.id.clone());
                pins += 1;
            }
        }
        if let Some(l) = self.live.get_mut(&cur.id) {
            l.pins += pins;
        }
        self.cascade(&mut vec![cur.id], &mut retired);
        retired
    }

    /// Retires each of `check` that nothing needs, and then what that frees.
    fn cascade(&mut self, check: &mut Vec<OpId>, retired: &mut Vec<OpId>) {
        while let Some(o) = check.pop() {
            let free = self
                .live
                .get(&o)
                .is_some_and(|l| l.refs == 0 && l.pins == 0);
            if !free {
                continue;
            }
            let Some(l) = self.live.remove(&o) else {
                continue;
            };
            for s in l.superseders {
                if let Some(sl) = self.live.get_mut(&s) {
                    sl.pins = sl.pins.saturating_sub(1);
                    check.push(s);
                }
            }
            retired.push(o);
        }
    }

    /// The operations still live (for tests and accounting).
    pub fn live_ops(&self) -> impl Iterator<Item = &OpId> {
        self.live.keys()
    }
}

#[cfg(test)]
mod tests {
    //! A key-value replica with puts, copies and deletes, replayed with and without the
    //! operations its lineage retired: always the same state.

    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    #[derive(Debug, Clone)]
    enum KvOp {
        Put(u8, u32),
        Copy(u8, u8),
        Delete(u8),
        Append(u8, u32),
    }

    type State = BTreeMap<u8, Vec<u32>>;

    /// Applies `op` to `state`; records it in `lineage` when given.
    fn apply(state: &mut State, op: &KvOp, lineage: Option<(&mut Lineage<u8>, &OpId)>) {
        let mut l = lineage;
        if let Some((l, id)) = l.as_mut() {
            l.begin(id);
        }
        match *op {
            KvOp::Put(k, v) => {
                state.insert(k, vec![v]);
                if let Some((l, _)) = l.as_mut() {
                    l.define(k, &[]);
                }
            }
            KvOp::Copy(src, dst) => {
                if let Some(v) = state.get(&src).cloned() {
                    state.insert(dst, v);
                    if let Some((l, _)) = l.as_mut() {
                        let mut inputs = l.ops_of(&src).to_vec();
                        if src == dst {
                            inputs.extend(l.ops_of(&dst).iter().cloned());
                        }
                        l.define(dst, &inputs);
                    }
                }
            }
            KvOp::Delete(k) => {
                state.remove(&k);
                if let Some((l, _)) = l.as_mut() {
                    l.remove(&k);
                }
            }
            KvOp::Append(k, v) => {
                if let Some(vs) = state.get_mut(&k) {
                    vs.push(v);
                    if let Some((l, _)) = l.as_mut() {
                        l.extend(&k);
                    }
                }
            }
        }
    }

    fn op() -> impl Strategy<Value = KvOp> {
        let k = 0u8..4;
        prop_oneof![
            (k.clone(), any::<u32>()).prop_map(|(k, v)| KvOp::Put(k, v)),
            (k.clone(), k.clone()).prop_map(|(a, b)| KvOp::Copy(a, b)),
            k.clone().prop_map(KvOp::Delete),
            (k, any::<u32>()).prop_map(|(k, v)| KvOp::Append(k, v)),
        ]
    }

    proptest! {
        #[test]
        fn replaying_only_live_operations_gives_the_same_state(ops in prop::collection::vec(op(), 0..60)) {
            let mut state = State::new();
            let mut lineage = Lineage::default();
            let mut retired = HashSet::new();
            // the order servers delete in: each retirement's operations, oldest first
            let mut deletions: Vec<usize> = Vec::new();
            for (i, o) in ops.iter().enumerate() {
                let id = OpId::new(&i.to_string());
                apply(&mut state, o, Some((&mut lineage, &id)));
                let mut now: Vec<usize> = lineage.finish().iter().map(|r| r.as_str().parse().unwrap()).collect();
                now.sort_unstable();
                for r in now {
                    prop_assert!(retired.insert(OpId::new(&r.to_string())), "retired twice");
                    deletions.push(r);
                }
                // after every step: the log without the retired replays to the same state
                let mut replay = State::new();
                for (j, o) in ops[..=i].iter().enumerate() {
                    if !retired.contains(&OpId::new(&j.to_string())) {
                        apply(&mut replay, o, None);
                    }
                }
                prop_assert_eq!(&replay, &state);
            }
            // a deletion stopped part way (a server lost) leaves a log that replays the same
            for cut in 0..deletions.len() {
                let gone: HashSet<usize> = deletions[..cut].iter().copied().collect();
                let mut replay = State::new();
                for (j, o) in ops.iter().enumerate() {
                    if !gone.contains(&j) {
                        apply(&mut replay, o, None);
                    }
                }
                prop_assert_eq!(&replay, &state, "deletions stopped after {}", cut);
            }
            // and what lives is exactly what was not retired
            let live: HashSet<OpId> = lineage.live_ops().cloned().collect();
            for i in 0..ops.len() {
                let id = OpId::new(&i.to_string());
                prop_assert!(live.contains(&id) != retired.contains(&id));
            }
        }
    }

    #[test]
    fn deleting_everything_retires_everything() {
        let mut state = State::new();
        let mut l = Lineage::default();
        let ops = [
            KvOp::Put(1, 10),
            KvOp::Copy(1, 2),
            KvOp::Put(1, 11),
            KvOp::Delete(1),
            KvOp::Append(2, 5),
            KvOp::Delete(2),
        ];
        let mut retired = 0;
        for (i, o) in ops.iter().enumerate() {
            apply(&mut state, o, Some((&mut l, &OpId::new(&i.to_string()))));
            retired += l.finish().len();
        }
        assert!(state.is_empty());
        assert_eq!(retired, ops.len());
        assert_eq!(l.live_ops().count(), 0);
    }

    #[test]
    fn a_delete_stays_while_the_put_it_undid_feeds_a_copy() {
        let mut state = State::new();
        let mut l = Lineage::default();
        let id = |i: usize| OpId::new(&i.to_string());
        for (i, o) in [KvOp::Put(1, 10), KvOp::Copy(1, 2), KvOp::Delete(1)]
            .iter()
            .enumerate()
        {
            apply(&mut state, o, Some((&mut l, &id(i))));
            assert!(l.finish().is_empty(), "nothing retires at step {i}");
        }
        // deleting the copy frees the put, then the delete of the original
        apply(&mut state, &KvOp::Delete(2), Some((&mut l, &id(3))));
        let mut r = l.finish();
        r.sort();
        assert_eq!(r, vec![id(0), id(1), id(2), id(3)]);
    }
}
