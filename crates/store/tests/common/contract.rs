//! The behaviour every [`Store`] backend must show, as checks run against the embedded store
//! (`ops.rs`) and against a real etcd (`etcd.rs`).
//!
//! Each check takes a fresh store: no keys and no history. Revisions are counted from the
//! store's revision at the start (`base`): 0 for the embedded store, 1 for etcd.

use std::sync::Arc;

use fort_store::{Event, KeyValue, Op, Revision, Store, StoreError, Txn, TxnResult};

use super::*;

pub fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision: create,
        mod_revision: modified,
        version,
    }
}

pub fn ok(revision: i64) -> TxnResult {
    TxnResult {
        succeeded: true,
        revision,
    }
}

pub fn failed(revision: i64) -> TxnResult {
    TxnResult {
        succeeded: false,
        revision,
    }
}

/// The store's revision before the check writes anything.
async fn base(store: &dyn Store) -> Revision {
    let base = store.revision().await.unwrap();
    assert!(base >= 0);
    base
}

pub async fn empty_store(store: &dyn Store) {
    let b = base(store).await;
    let range = store.range(b"").await.unwrap();
    assert!(range.kvs.is_empty());
    assert_eq!(range.revision, b);
    assert_eq!(store.get(b"missing").await.unwrap(), None);
    assert_eq!(store.revision().await.unwrap(), b);
}

pub async fn put_get_range_and_revision_arithmetic(store: &dyn Store) {
    let b = base(store).await;
    assert_eq!(
        store.txn(ops(vec![put("a", "1")])).await.unwrap(),
        ok(b + 1)
    );
    assert_eq!(
        store.get(b"a").await.unwrap(),
        Some(kv("a", "1", b + 1, b + 1, 1))
    );

    // Rewriting keeps create_revision and counts versions.
    assert_eq!(
        store.txn(ops(vec![put("a", "2")])).await.unwrap(),
        ok(b + 2)
    );
    assert_eq!(
        store.get(b"a").await.unwrap(),
        Some(kv("a", "2", b + 1, b + 2, 2))
    );
    // The same value again is still a write.
    assert_eq!(
        store.txn(ops(vec![put("a", "2")])).await.unwrap(),
        ok(b + 3)
    );
    assert_eq!(
        store.get(b"a").await.unwrap(),
        Some(kv("a", "2", b + 1, b + 3, 3))
    );

    // Several ops in one transaction share its revision.
    assert_eq!(
        store
            .txn(ops(vec![put("b/1", "x"), put("b/2", "y"), put("c", "")]))
            .await
            .unwrap(),
        ok(b + 4)
    );
    let range = store.range(b"").await.unwrap();
    assert_eq!(range.revision, b + 4);
    assert_eq!(
        range.kvs,
        vec![
            kv("a", "2", b + 1, b + 3, 3),
            kv("b/1", "x", b + 4, b + 4, 1),
            kv("b/2", "y", b + 4, b + 4, 1),
            kv("c", "", b + 4, b + 4, 1),
        ]
    );
    // Prefix ranges, in key order.
    let range = store.range(b"b/").await.unwrap();
    assert_eq!(range.kvs.len(), 2);
    assert_eq!(range.kvs[0].key, b"b/1");
    assert_eq!(range.revision, b + 4);
    assert!(store.range(b"d").await.unwrap().kvs.is_empty());
    assert_eq!(store.revision().await.unwrap(), b + 4);

    // Delete, then create again: a new life with version 1.
    assert_eq!(store.txn(ops(vec![delete("a")])).await.unwrap(), ok(b + 5));
    assert_eq!(store.get(b"a").await.unwrap(), None);
    assert_eq!(
        store.txn(ops(vec![put("a", "3")])).await.unwrap(),
        ok(b + 6)
    );
    assert_eq!(
        store.get(b"a").await.unwrap(),
        Some(kv("a", "3", b + 6, b + 6, 1))
    );
}

/// Prefix ranges over keys with 0x00 and 0xff bytes (etcd's prefix end skips trailing 0xff).
/// The empty key is left out: etcd cannot store it.
pub async fn binary_keys_and_prefix_edges(store: &dyn Store) {
    let keys: Vec<Vec<u8>> = vec![
        vec![0],
        vec![0xff],
        vec![0xff, 0xff],
        vec![0xff, 0xff, 0],
        vec![1, 0xff],
        vec![1, 0xff, 0xff],
        vec![2],
    ];
    let txn = Txn {
        compares: vec![],
        ops: keys
            .iter()
            .map(|key| Op::Put {
                key: key.clone(),
                value: key.clone(),
            })
            .collect(),
    };
    store.txn(txn).await.unwrap();
    let all = store.range(b"").await.unwrap();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        all.kvs.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(),
        sorted
    );
    let under = |prefix: &'static [u8]| async move {
        store
            .range(prefix)
            .await
            .unwrap()
            .kvs
            .into_iter()
            .map(|kv| kv.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        under(&[0xff]).await,
        vec![vec![0xff], vec![0xff, 0xff], vec![0xff, 0xff, 0]]
    );
    assert_eq!(
        under(&[0xff, 0xff]).await,
        vec![vec![0xff, 0xff], vec![0xff, 0xff, 0]]
    );
    assert_eq!(
        under(&[1, 0xff]).await,
        vec![vec![1, 0xff], vec![1, 0xff, 0xff]]
    );
    assert_eq!(under(&[0]).await, vec![vec![0]]);
    assert_eq!(
        store.get(&[0xff, 0xff]).await.unwrap().unwrap().value,
        [0xff, 0xff]
    );
}

pub async fn transactions_that_write_nothing_keep_the_revision(store: &dyn Store) {
    let b = base(store).await;
    assert_eq!(store.txn(Txn::default()).await.unwrap(), ok(b));
    store.txn(ops(vec![put("a", "1")])).await.unwrap();
    assert_eq!(store.txn(Txn::default()).await.unwrap(), ok(b + 1));
    // Deleting what does not exist changes nothing.
    assert_eq!(store.txn(ops(vec![delete("zz")])).await.unwrap(), ok(b + 1));
    assert_eq!(
        store.txn(ops(vec![delete_prefix("zz")])).await.unwrap(),
        ok(b + 1)
    );
    // Compares alone, holding or not.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("a", b + 1)], vec![]))
            .await
            .unwrap(),
        ok(b + 1)
    );
    assert_eq!(
        store
            .txn(when(vec![mod_rev("a", b + 7)], vec![]))
            .await
            .unwrap(),
        failed(b + 1)
    );
    assert_eq!(store.revision().await.unwrap(), b + 1);
}

pub async fn compares(store: &dyn Store) {
    let b = base(store).await;
    // ModRevision 0 and Value None mean "absent".
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", 0)], vec![put("k", "v1")]))
            .await
            .unwrap(),
        ok(b + 1)
    );
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", 0)], vec![put("k", "clobber")]))
            .await
            .unwrap(),
        failed(b + 1)
    );
    assert_eq!(
        store
            .txn(when(vec![value_is("k", None)], vec![put("k", "clobber")]))
            .await
            .unwrap(),
        failed(b + 1)
    );
    assert_eq!(
        store
            .txn(when(vec![value_is("other", None)], vec![put("other", "o")]))
            .await
            .unwrap(),
        ok(b + 2)
    );
    // The right mod_revision.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", b + 1)], vec![put("k", "v2")]))
            .await
            .unwrap(),
        ok(b + 3)
    );
    // A stale one.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", b + 1)], vec![put("k", "v3")]))
            .await
            .unwrap(),
        failed(b + 3)
    );
    // Values.
    assert_eq!(
        store
            .txn(when(vec![value_is("k", Some("v1"))], vec![put("k", "v3")]))
            .await
            .unwrap(),
        failed(b + 3)
    );
    assert_eq!(
        store
            .txn(when(vec![value_is("k", Some("v2"))], vec![put("k", "v3")]))
            .await
            .unwrap(),
        ok(b + 4)
    );
    assert_eq!(
        store
            .txn(when(
                vec![value_is("absent", Some(""))],
                vec![put("x", "x")]
            ))
            .await
            .unwrap(),
        failed(b + 4)
    );
    // Every compare must hold; a failed transaction writes none of its ops.
    assert_eq!(
        store
            .txn(when(
                vec![mod_rev("k", b + 4), mod_rev("other", 99)],
                vec![put("k", "no"), delete("other")]
            ))
            .await
            .unwrap(),
        failed(b + 4)
    );
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"v3");
    assert!(store.get(b"other").await.unwrap().is_some());
    assert_eq!(
        store
            .txn(when(
                vec![mod_rev("k", b + 4), value_is("other", Some("o"))],
                vec![put("k", "yes"), delete("other")]
            ))
            .await
            .unwrap(),
        ok(b + 5)
    );
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"yes");
    assert!(store.get(b"other").await.unwrap().is_none());
    // ModRevision 0 holds again once deleted.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("other", 0)], vec![]))
            .await
            .unwrap(),
        ok(b + 5)
    );
}

/// Ops on the same key in one transaction: the last one decides the key's final state
/// (what the control plane relies on when it commits many changes together).
pub async fn ops_on_one_key_end_in_the_last_ones_state(store: &dyn Store) {
    let b = base(store).await;
    store
        .txn(ops(vec![put("a", "1"), put("gone", "1"), put("p/2", "1")]))
        .await
        .unwrap();
    let result = store
        .txn(ops(vec![
            delete("a"),
            put("a", "2"),
            put("b", "1"),
            put("b", "2"),
            put("gone", "2"),
            delete("gone"),
            put("c/1", "x"),
            delete_prefix("c/"),
            put("p/1", "x"),
            delete_prefix("p/"),
            put("p/3", "new"),
        ]))
        .await
        .unwrap();
    assert_eq!(result, ok(b + 2));
    let values: Vec<_> = store
        .range(b"")
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| {
            assert_eq!(kv.mod_revision, b + 2);
            (
                String::from_utf8(kv.key).unwrap(),
                String::from_utf8(kv.value).unwrap(),
            )
        })
        .collect();
    let want = [("a", "2"), ("b", "2"), ("p/3", "new")];
    assert_eq!(
        values,
        want.map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
    );
}

pub async fn delete_prefix_removes_every_key_under_it(store: &dyn Store) {
    let b = base(store).await;
    store
        .txn(ops(vec![
            put("vpc/1", "a"),
            put("vpc/2", "b"),
            put("vpc/2/x", "c"),
            put("vpc", "d"),
            put("vpd/1", "e"),
        ]))
        .await
        .unwrap();
    let mut watch = store.watch(b"", b + 2).await.unwrap();
    assert_eq!(
        store.txn(ops(vec![delete_prefix("vpc/")])).await.unwrap(),
        ok(b + 2)
    );
    let keys: Vec<_> = store
        .range(b"")
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| String::from_utf8(kv.key).unwrap())
        .collect();
    assert_eq!(keys, vec!["vpc", "vpd/1"]);
    // Each deletion is an event of the same revision.
    for key in ["vpc/1", "vpc/2", "vpc/2/x"] {
        assert_eq!(
            next_event(&mut watch).await,
            Event::Delete {
                key: key.into(),
                revision: b + 2
            }
        );
    }
    // The empty prefix deletes everything.
    assert_eq!(
        store.txn(ops(vec![delete_prefix("")])).await.unwrap(),
        ok(b + 3)
    );
    assert!(store.range(b"").await.unwrap().kvs.is_empty());
    assert_eq!(store.revision().await.unwrap(), b + 3);
}

pub async fn watch_replays_then_follows(store: &dyn Store) {
    let b = base(store).await;
    store.txn(ops(vec![put("a/1", "1")])).await.unwrap(); // b+1
    store.txn(ops(vec![put("b/1", "1")])).await.unwrap(); // b+2
    store.txn(ops(vec![put("a/2", "2")])).await.unwrap(); // b+3
    store.txn(ops(vec![delete("a/1")])).await.unwrap(); // b+4

    // From 0 or 1: everything kept.
    for from in [0, 1] {
        let mut watch = store.watch(b"a/", from).await.unwrap();
        assert_eq!(
            next_event(&mut watch).await,
            Event::Put(kv("a/1", "1", b + 1, b + 1, 1))
        );
        assert_eq!(
            next_event(&mut watch).await,
            Event::Put(kv("a/2", "2", b + 3, b + 3, 1))
        );
        assert_eq!(
            next_event(&mut watch).await,
            Event::Delete {
                key: "a/1".into(),
                revision: b + 4
            }
        );
        assert!(quiet(&mut watch).await);
    }

    // From a snapshot's revision + 1: only what came after.
    let snapshot = store.range(b"a/").await.unwrap();
    let mut watch = store.watch(b"a/", snapshot.revision + 1).await.unwrap();
    let mut all = store.watch(b"", b + 3).await.unwrap();
    assert!(quiet(&mut watch).await);
    store.txn(ops(vec![put("b/2", "x")])).await.unwrap(); // b+5, not under a/
    store
        .txn(ops(vec![put("a/2", "3"), put("a/3", "3")]))
        .await
        .unwrap(); // b+6
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("a/2", "3", b + 3, b + 6, 2))
    );
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("a/3", "3", b + 6, b + 6, 1))
    );
    assert!(quiet(&mut watch).await);
    let mut revisions = Vec::new();
    for _ in 0..5 {
        revisions.push(revision_of(&next_event(&mut all).await) - b);
    }
    assert_eq!(revisions, vec![3, 4, 5, 6, 6]);
    assert!(quiet(&mut all).await);
}

pub async fn watch_from_the_future_waits(store: &dyn Store) {
    let b = base(store).await;
    store.txn(ops(vec![put("k", "1")])).await.unwrap();
    let mut watch = store.watch(b"k", b + 4).await.unwrap();
    for value in ["2", "3", "4", "5"] {
        store.txn(ops(vec![put("k", value)])).await.unwrap();
    }
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("k", "4", b + 1, b + 4, 4))
    );
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("k", "5", b + 1, b + 5, 5))
    );
    assert!(quiet(&mut watch).await);
}

/// Watches started at various moments while a writer goes on, from various revisions, each
/// see every write from their start exactly once, in order.
pub async fn watch_has_no_gap_or_duplicate_while_writes_go_on(store: Arc<dyn Store>) {
    const WRITES: i64 = 600;
    let b = base(&*store).await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..WRITES {
                store
                    .txn(ops(vec![put(&format!("k/{}", i % 7), &i.to_string())]))
                    .await
                    .unwrap();
            }
        })
    };
    let mut watches = Vec::new();
    for from in [0, 1, b + 50, b + 200, b + 400, b + 590, b + WRITES] {
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        watches.push((from, store.watch(b"k/", from).await.unwrap()));
    }
    writer.await.unwrap();
    for (from, mut watch) in watches {
        let first = if from <= 1 { b + 1 } else { from };
        for want in first..=b + WRITES {
            let event = next_event(&mut watch).await;
            assert_eq!(revision_of(&event), want, "watch from {from}");
            let Event::Put(kv) = event else {
                panic!("a put")
            };
            assert_eq!(kv.value, (want - b - 1).to_string().into_bytes());
        }
        assert!(quiet(&mut watch).await);
    }
}

/// Writes 30 revisions of one key, then `compact` (the backend's way) must leave the
/// history from `b + 21` on. Older watches fail with `Compacted`; 0 and 1 start at the
/// oldest revision kept; the data itself is untouched.
pub async fn compaction_bounds_history<F, Fut>(store: &dyn Store, compact: F)
where
    F: FnOnce(Revision) -> Fut,
    Fut: Future<Output = ()>,
{
    let b = base(store).await;
    for i in 1..=30 {
        store
            .txn(ops(vec![put("k", &i.to_string())]))
            .await
            .unwrap();
    }
    let oldest = b + 21;
    compact(oldest).await;
    match store.watch(b"", b + 5).await {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!((requested, oldest), (b + 5, b + 21));
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(
        store.watch(b"", oldest - 1).await,
        Err(StoreError::Compacted { oldest: o, .. }) if o == oldest
    ));
    let mut watch = store.watch(b"", oldest).await.unwrap();
    assert_eq!(revision_of(&next_event(&mut watch).await), oldest);
    // 0 and 1 mean "the oldest kept".
    for from in [0, 1] {
        let mut watch = store.watch(b"", from).await.unwrap();
        for want in oldest..=b + 30 {
            assert_eq!(revision_of(&next_event(&mut watch).await), want);
        }
        assert!(quiet(&mut watch).await);
    }
    assert_eq!(store.get(b"k").await.unwrap().unwrap().version, 30);
}
