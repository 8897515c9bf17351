//! Property test: random transactions against the embedded store and against a plain
//! in-memory model must give the same results, ranges, revisions and watch events, also
//! across a close and reopen.

mod common;

use std::collections::BTreeMap;

use common::next_event;
use fort_store::{
    Compare, EmbeddedStore, Event, KeyValue, Op, Range, Revision, Store, Txn, TxnResult,
};
use proptest::prelude::*;

const KEYS: &[&[u8]] = &[b"a", b"ab", b"abc", b"b", b"ba", b"c", b"\xff", b"\xff\xff"];
const PREFIXES: &[&[u8]] = &[b"", b"a", b"ab", b"b", b"c", b"d", b"\xff"];
const VALUES: &[&[u8]] = &[b"", b"x", b"y"];

/// The reference: etcd's model written as plainly as possible.
#[derive(Default)]
struct Model {
    kvs: BTreeMap<Vec<u8>, KeyValue>,
    revision: Revision,
    events: Vec<Event>,
}

impl Model {
    fn txn(&mut self, txn: &Txn) -> TxnResult {
        let holds = txn.compares.iter().all(|compare| match compare {
            Compare::ModRevision(key, revision) => {
                self.kvs.get(key).map_or(0, |kv| kv.mod_revision) == *revision
            }
            Compare::Value(key, value) => self.kvs.get(key).map(|kv| &kv.value) == value.as_ref(),
        });
        if !holds {
            return TxnResult {
                succeeded: false,
                revision: self.revision,
            };
        }
        let revision = self.revision + 1;
        let mut events = Vec::new();
        for op in &txn.ops {
            match op {
                Op::Put { key, value } => {
                    let old = self.kvs.get(key);
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create_revision: old.map_or(revision, |kv| kv.create_revision),
                        mod_revision: revision,
                        version: old.map_or(1, |kv| kv.version + 1),
                    };
                    self.kvs.insert(key.clone(), kv.clone());
                    events.push(Event::Put(kv));
                }
                Op::Delete { key } => {
                    if self.kvs.remove(key).is_some() {
                        events.push(Event::Delete {
                            key: key.clone(),
                            revision,
                        });
                    }
                }
                Op::DeletePrefix { prefix } => {
                    let keys: Vec<_> = self
                        .kvs
                        .keys()
                        .filter(|key| key.starts_with(prefix))
                        .cloned()
                        .collect();
                    for key in keys {
                        self.kvs.remove(&key);
                        events.push(Event::Delete { key, revision });
                    }
                }
            }
        }
        if !events.is_empty() {
            self.revision = revision;
            self.events.extend(events);
        }
        TxnResult {
            succeeded: true,
            revision: self.revision,
        }
    }

    fn range(&self, prefix: &[u8]) -> Range {
        Range {
            kvs: self
                .kvs
                .values()
                .filter(|kv| kv.key.starts_with(prefix))
                .cloned()
                .collect(),
            revision: self.revision,
        }
    }
}

#[derive(Clone, Debug)]
enum CompareGen {
    /// ModRevision with the key's actual mod_revision (usually holds).
    ModRevisionCurrent(usize),
    ModRevision(usize, Revision),
    /// Value with the key's actual value (or None if absent).
    ValueCurrent(usize),
    Value(usize, Option<usize>),
}

#[derive(Clone, Debug)]
enum OpGen {
    Put(usize, usize),
    Delete(usize),
    DeletePrefix(usize),
}

#[derive(Clone, Debug)]
enum Step {
    Txn(Vec<CompareGen>, Vec<OpGen>),
    /// Transactions queued all at once, so that the writer commits them in one group: each
    /// must still see the effects of the ones before it.
    Burst(Vec<(Vec<CompareGen>, Vec<OpGen>)>),
    Range(usize),
    Get(usize),
    Reopen,
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn compare() -> impl Strategy<Value = CompareGen> {
    prop_oneof![
        3 => key().prop_map(CompareGen::ModRevisionCurrent),
        2 => (key(), 0..6i64).prop_map(|(k, r)| CompareGen::ModRevision(k, r)),
        2 => key().prop_map(CompareGen::ValueCurrent),
        2 => (key(), proptest::option::of(0..VALUES.len()))
            .prop_map(|(k, v)| CompareGen::Value(k, v)),
    ]
}

fn op() -> impl Strategy<Value = OpGen> {
    prop_oneof![
        6 => (key(), 0..VALUES.len()).prop_map(|(k, v)| OpGen::Put(k, v)),
        2 => key().prop_map(OpGen::Delete),
        1 => (0..PREFIXES.len()).prop_map(OpGen::DeletePrefix),
    ]
}

fn txn() -> impl Strategy<Value = (Vec<CompareGen>, Vec<OpGen>)> {
    (
        proptest::collection::vec(compare(), 0..3),
        proptest::collection::vec(op(), 0..4),
    )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => txn().prop_map(|(c, o)| Step::Txn(c, o)),
        3 => proptest::collection::vec(txn(), 2..12).prop_map(Step::Burst),
        3 => (0..PREFIXES.len()).prop_map(Step::Range),
        2 => key().prop_map(Step::Get),
        1 => Just(Step::Reopen),
    ]
}

fn resolve(model: &Model, compares: &[CompareGen], ops: &[OpGen]) -> Txn {
    let key = |k: usize| KEYS[k].to_vec();
    Txn {
        compares: compares
            .iter()
            .map(|c| match *c {
                CompareGen::ModRevisionCurrent(k) => Compare::ModRevision(
                    key(k),
                    model.kvs.get(KEYS[k]).map_or(0, |kv| kv.mod_revision),
                ),
                CompareGen::ModRevision(k, r) => Compare::ModRevision(key(k), r),
                CompareGen::ValueCurrent(k) => {
                    Compare::Value(key(k), model.kvs.get(KEYS[k]).map(|kv| kv.value.clone()))
                }
                CompareGen::Value(k, v) => Compare::Value(key(k), v.map(|v| VALUES[v].to_vec())),
            })
            .collect(),
        ops: ops
            .iter()
            .map(|o| match *o {
                OpGen::Put(k, v) => Op::Put {
                    key: key(k),
                    value: VALUES[v].to_vec(),
                },
                OpGen::Delete(k) => Op::Delete { key: key(k) },
                OpGen::DeletePrefix(p) => Op::DeletePrefix {
                    prefix: PREFIXES[p].to_vec(),
                },
            })
            .collect(),
    }
}

async fn check(steps: Vec<Step>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut store = EmbeddedStore::open(&path).unwrap();
    let mut model = Model::default();
    for step in steps {
        match step {
            Step::Txn(compares, ops) => {
                let txn = resolve(&model, &compares, &ops);
                let want = model.txn(&txn);
                assert_eq!(store.txn(txn.clone()).await.unwrap(), want, "{txn:?}");
            }
            Step::Burst(txns) => {
                let mut wants = Vec::new();
                let mut futures = Vec::new();
                for (compares, ops) in &txns {
                    // Resolved against the model as it will be when this one runs.
                    let txn = resolve(&model, compares, ops);
                    wants.push((model.txn(&txn), txn.clone()));
                    futures.push(store.txn(txn));
                }
                // join_all polls in order, so the transactions queue in order.
                let got = futures::future::join_all(futures).await;
                for (got, (want, txn)) in got.into_iter().zip(wants) {
                    assert_eq!(got.unwrap(), want, "{txn:?}");
                }
            }
            Step::Range(p) => {
                assert_eq!(
                    store.range(PREFIXES[p]).await.unwrap(),
                    model.range(PREFIXES[p])
                );
            }
            Step::Get(k) => {
                assert_eq!(
                    store.get(KEYS[k]).await.unwrap().as_ref(),
                    model.kvs.get(KEYS[k])
                );
            }
            Step::Reopen => {
                store.close().await.unwrap();
                store = EmbeddedStore::open(&path).unwrap();
            }
        }
        assert_eq!(store.revision().await.unwrap(), model.revision);
    }
    assert_eq!(store.range(b"").await.unwrap(), model.range(b""));
    // The history, whole and under prefixes, from the start and from the middle.
    for (prefix, from) in [(&b""[..], 1), (b"a", 0), (b"b", model.revision / 2 + 1)] {
        let want: Vec<_> = model
            .events
            .iter()
            .filter(|event| common::key_of(event).starts_with(prefix))
            .filter(|event| common::revision_of(event) >= from)
            .cloned()
            .collect();
        let mut watch = store.watch(prefix, from).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..want.len() {
            got.push(next_event(&mut watch).await);
        }
        assert_eq!(got, want, "watch {prefix:?} from {from}");
    }
    store.close().await.unwrap();
}

proptest! {
    // PROPTEST_CASES=n runs more (or fewer).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(128)
    ))]

    #[test]
    fn store_matches_model(steps in proptest::collection::vec(step(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check(steps));
    }
}
