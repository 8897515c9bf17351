//! Every operation of the embedded store, one behaviour at a time.

mod common;

use common::*;
use fort_store::{
    EmbeddedOptions, EmbeddedStore, Event, KeyValue, Store, StoreError, Txn, TxnResult,
};
use tempfile::TempDir;

fn open() -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).unwrap();
    (dir, store)
}

fn open_with(options: EmbeddedOptions) -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(&dir.path().join("store.redb"), options).unwrap();
    (dir, store)
}

fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision: create,
        mod_revision: modified,
        version,
    }
}

fn ok(revision: i64) -> TxnResult {
    TxnResult {
        succeeded: true,
        revision,
    }
}

fn failed(revision: i64) -> TxnResult {
    TxnResult {
        succeeded: false,
        revision,
    }
}

#[tokio::test]
async fn empty_store() {
    let (_dir, store) = open();
    assert_eq!(store.revision().await.unwrap(), 0);
    let range = store.range(b"").await.unwrap();
    assert!(range.kvs.is_empty());
    assert_eq!(range.revision, 0);
    assert_eq!(store.get(b"missing").await.unwrap(), None);
}

#[tokio::test]
async fn put_get_range_and_revision_arithmetic() {
    let (_dir, store) = open();
    assert_eq!(store.txn(ops(vec![put("a", "1")])).await.unwrap(), ok(1));
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "1", 1, 1, 1)));

    // Rewriting keeps create_revision and counts versions.
    assert_eq!(store.txn(ops(vec![put("a", "2")])).await.unwrap(), ok(2));
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "2", 1, 2, 2)));
    // The same value again is still a write.
    assert_eq!(store.txn(ops(vec![put("a", "2")])).await.unwrap(), ok(3));
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "2", 1, 3, 3)));

    // Several ops in one transaction share its revision.
    assert_eq!(
        store
            .txn(ops(vec![put("b/1", "x"), put("b/2", "y"), put("c", "")]))
            .await
            .unwrap(),
        ok(4)
    );
    let range = store.range(b"").await.unwrap();
    assert_eq!(range.revision, 4);
    assert_eq!(
        range.kvs,
        vec![
            kv("a", "2", 1, 3, 3),
            kv("b/1", "x", 4, 4, 1),
            kv("b/2", "y", 4, 4, 1),
            kv("c", "", 4, 4, 1),
        ]
    );
    // Prefix ranges, in key order.
    let range = store.range(b"b/").await.unwrap();
    assert_eq!(range.kvs.len(), 2);
    assert_eq!(range.kvs[0].key, b"b/1");
    assert_eq!(range.revision, 4);
    assert!(store.range(b"d").await.unwrap().kvs.is_empty());
    assert_eq!(store.revision().await.unwrap(), 4);

    // Delete, then create again: a new life with version 1.
    assert_eq!(store.txn(ops(vec![delete("a")])).await.unwrap(), ok(5));
    assert_eq!(store.get(b"a").await.unwrap(), None);
    assert_eq!(store.txn(ops(vec![put("a", "3")])).await.unwrap(), ok(6));
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "3", 6, 6, 1)));
}

#[tokio::test]
async fn binary_keys_and_prefix_edges() {
    let (_dir, store) = open();
    let keys: Vec<Vec<u8>> = vec![
        vec![],
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
            .map(|key| fort_store::Op::Put {
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
    let under = |prefix: &'static [u8]| {
        let store = &store;
        async move {
            store
                .range(prefix)
                .await
                .unwrap()
                .kvs
                .into_iter()
                .map(|kv| kv.key)
                .collect::<Vec<_>>()
        }
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
    assert_eq!(
        store.get(&[]).await.unwrap().unwrap().value,
        Vec::<u8>::new()
    );
}

#[tokio::test]
async fn transactions_that_write_nothing_keep_the_revision() {
    let (_dir, store) = open();
    assert_eq!(store.txn(Txn::default()).await.unwrap(), ok(0));
    store.txn(ops(vec![put("a", "1")])).await.unwrap();
    assert_eq!(store.txn(Txn::default()).await.unwrap(), ok(1));
    // Deleting what does not exist changes nothing.
    assert_eq!(store.txn(ops(vec![delete("zz")])).await.unwrap(), ok(1));
    assert_eq!(
        store.txn(ops(vec![delete_prefix("zz")])).await.unwrap(),
        ok(1)
    );
    // Compares alone, holding or not.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("a", 1)], vec![]))
            .await
            .unwrap(),
        ok(1)
    );
    assert_eq!(
        store
            .txn(when(vec![mod_rev("a", 7)], vec![]))
            .await
            .unwrap(),
        failed(1)
    );
    assert_eq!(store.revision().await.unwrap(), 1);
}

#[tokio::test]
async fn compares() {
    let (_dir, store) = open();
    // ModRevision 0 and Value None mean "absent".
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", 0)], vec![put("k", "v1")]))
            .await
            .unwrap(),
        ok(1)
    );
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", 0)], vec![put("k", "clobber")]))
            .await
            .unwrap(),
        failed(1)
    );
    assert_eq!(
        store
            .txn(when(vec![value_is("k", None)], vec![put("k", "clobber")]))
            .await
            .unwrap(),
        failed(1)
    );
    assert_eq!(
        store
            .txn(when(vec![value_is("other", None)], vec![put("other", "o")]))
            .await
            .unwrap(),
        ok(2)
    );
    // The right mod_revision.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", 1)], vec![put("k", "v2")]))
            .await
            .unwrap(),
        ok(3)
    );
    // A stale one.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("k", 1)], vec![put("k", "v3")]))
            .await
            .unwrap(),
        failed(3)
    );
    // Values.
    assert_eq!(
        store
            .txn(when(vec![value_is("k", Some("v1"))], vec![put("k", "v3")]))
            .await
            .unwrap(),
        failed(3)
    );
    assert_eq!(
        store
            .txn(when(vec![value_is("k", Some("v2"))], vec![put("k", "v3")]))
            .await
            .unwrap(),
        ok(4)
    );
    assert_eq!(
        store
            .txn(when(
                vec![value_is("absent", Some(""))],
                vec![put("x", "x")]
            ))
            .await
            .unwrap(),
        failed(4)
    );
    // Every compare must hold; a failed transaction writes none of its ops.
    assert_eq!(
        store
            .txn(when(
                vec![mod_rev("k", 4), mod_rev("other", 99)],
                vec![put("k", "no"), delete("other")]
            ))
            .await
            .unwrap(),
        failed(4)
    );
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"v3");
    assert!(store.get(b"other").await.unwrap().is_some());
    assert_eq!(
        store
            .txn(when(
                vec![mod_rev("k", 4), value_is("other", Some("o"))],
                vec![put("k", "yes"), delete("other")]
            ))
            .await
            .unwrap(),
        ok(5)
    );
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"yes");
    assert!(store.get(b"other").await.unwrap().is_none());
    // ModRevision 0 holds again once deleted.
    assert_eq!(
        store
            .txn(when(vec![mod_rev("other", 0)], vec![]))
            .await
            .unwrap(),
        ok(5)
    );
}

#[tokio::test]
async fn ops_apply_in_order_within_a_transaction() {
    let (_dir, store) = open();
    store.txn(ops(vec![put("a", "1")])).await.unwrap();
    // Delete then put: a new key born at this revision.
    assert_eq!(
        store
            .txn(ops(vec![
                delete("a"),
                put("a", "2"),
                put("b", "1"),
                put("b", "2")
            ]))
            .await
            .unwrap(),
        ok(2)
    );
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "2", 2, 2, 1)));
    assert_eq!(store.get(b"b").await.unwrap(), Some(kv("b", "2", 2, 2, 2)));
    // Put then delete prefix: nothing left, still a write.
    assert_eq!(
        store
            .txn(ops(vec![put("c/1", "x"), delete_prefix("c/")]))
            .await
            .unwrap(),
        ok(3)
    );
    assert!(store.range(b"c/").await.unwrap().kvs.is_empty());
}

#[tokio::test]
async fn delete_prefix_removes_every_key_under_it() {
    let (_dir, store) = open();
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
    let mut watch = store.watch(b"", 2).await.unwrap();
    assert_eq!(
        store.txn(ops(vec![delete_prefix("vpc/")])).await.unwrap(),
        ok(2)
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
                revision: 2
            }
        );
    }
    // The empty prefix deletes everything.
    assert_eq!(
        store.txn(ops(vec![delete_prefix("")])).await.unwrap(),
        ok(3)
    );
    assert!(store.range(b"").await.unwrap().kvs.is_empty());
    assert_eq!(store.revision().await.unwrap(), 3);
}

#[tokio::test]
async fn watch_replays_then_follows() {
    let (_dir, store) = open();
    store.txn(ops(vec![put("a/1", "1")])).await.unwrap(); // 1
    store.txn(ops(vec![put("b/1", "1")])).await.unwrap(); // 2
    store.txn(ops(vec![put("a/2", "2")])).await.unwrap(); // 3
    store.txn(ops(vec![delete("a/1")])).await.unwrap(); // 4

    // From 0 or 1: everything kept.
    for from in [0, 1] {
        let mut watch = store.watch(b"a/", from).await.unwrap();
        assert_eq!(
            next_event(&mut watch).await,
            Event::Put(kv("a/1", "1", 1, 1, 1))
        );
        assert_eq!(
            next_event(&mut watch).await,
            Event::Put(kv("a/2", "2", 3, 3, 1))
        );
        assert_eq!(
            next_event(&mut watch).await,
            Event::Delete {
                key: "a/1".into(),
                revision: 4
            }
        );
        assert!(quiet(&mut watch).await);
    }

    // From a snapshot's revision + 1: only what came after.
    let snapshot = store.range(b"a/").await.unwrap();
    let mut watch = store.watch(b"a/", snapshot.revision + 1).await.unwrap();
    let mut all = store.watch(b"", 3).await.unwrap();
    assert!(quiet(&mut watch).await);
    store.txn(ops(vec![put("b/2", "x")])).await.unwrap(); // 5, not under a/
    store
        .txn(ops(vec![put("a/2", "3"), put("a/3", "3")]))
        .await
        .unwrap(); // 6
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("a/2", "3", 3, 6, 2))
    );
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("a/3", "3", 6, 6, 1))
    );
    assert!(quiet(&mut watch).await);
    let revisions: Vec<_> = [
        next_event(&mut all).await,
        next_event(&mut all).await,
        next_event(&mut all).await,
        next_event(&mut all).await,
        next_event(&mut all).await,
    ]
    .iter()
    .map(revision_of)
    .collect();
    assert_eq!(revisions, vec![3, 4, 5, 6, 6]);
    assert!(quiet(&mut all).await);
}

#[tokio::test]
async fn watch_from_the_future_waits() {
    let (_dir, store) = open();
    store.txn(ops(vec![put("k", "1")])).await.unwrap();
    let mut watch = store.watch(b"k", 4).await.unwrap();
    for value in ["2", "3", "4", "5"] {
        store.txn(ops(vec![put("k", value)])).await.unwrap();
    }
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("k", "4", 1, 4, 4))
    );
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("k", "5", 1, 5, 5))
    );
    assert!(quiet(&mut watch).await);
}

#[tokio::test]
async fn watch_has_no_gap_or_duplicate_while_writes_go_on() {
    let (_dir, store) = open_with(EmbeddedOptions {
        durable: false,
        ..EmbeddedOptions::default()
    });
    let store = std::sync::Arc::new(store);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..600 {
                store
                    .txn(ops(vec![put(&format!("k/{}", i % 7), &i.to_string())]))
                    .await
                    .unwrap();
            }
        })
    };
    // Watches started at various moments, from various revisions, all see 1..=600 once.
    let mut watches = Vec::new();
    for from in [0, 1, 50, 200, 400, 590, 600] {
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        watches.push((from, store.watch(b"k/", from).await.unwrap()));
    }
    writer.await.unwrap();
    for (from, mut watch) in watches {
        let first = from.max(1);
        for want in first..=600 {
            let event = next_event(&mut watch).await;
            assert_eq!(revision_of(&event), want, "watch from {from}");
            let Event::Put(kv) = event else {
                panic!("a put")
            };
            assert_eq!(kv.value, (want - 1).to_string().into_bytes());
        }
        assert!(quiet(&mut watch).await);
    }
}

#[tokio::test]
async fn compaction_bounds_history() {
    let (_dir, store) = open_with(EmbeddedOptions {
        history: 10,
        ..EmbeddedOptions::default()
    });
    for i in 1..=30 {
        store
            .txn(ops(vec![put("k", &i.to_string())]))
            .await
            .unwrap();
    }
    // Revisions 21..=30 are kept.
    match store.watch(b"", 5).await {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!((requested, oldest), (5, 21));
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(
        store.watch(b"", 20).await,
        Err(StoreError::Compacted { oldest: 21, .. })
    ));
    let mut watch = store.watch(b"", 21).await.unwrap();
    assert_eq!(revision_of(&next_event(&mut watch).await), 21);
    // 0 and 1 mean "the oldest kept".
    let mut watch = store.watch(b"", 1).await.unwrap();
    for want in 21..=30 {
        assert_eq!(revision_of(&next_event(&mut watch).await), want);
    }
    assert!(quiet(&mut watch).await);
    // The data itself is untouched.
    assert_eq!(store.get(b"k").await.unwrap().unwrap().version, 30);
}

#[tokio::test]
async fn slow_watcher_catches_up_from_disk() {
    let (_dir, store) = open_with(EmbeddedOptions {
        broadcast: 2,
        watch_buffer: 1,
        durable: false,
        ..EmbeddedOptions::default()
    });
    let mut watch = store.watch(b"", 1).await.unwrap();
    for i in 1..=300 {
        store
            .txn(ops(vec![put(&format!("k{}", i % 5), "v")]))
            .await
            .unwrap();
    }
    for want in 1..=300 {
        assert_eq!(revision_of(&next_event(&mut watch).await), want);
    }
    assert!(quiet(&mut watch).await);
}

#[tokio::test]
async fn watcher_behind_compaction_gets_an_error_and_ends() {
    let (_dir, store) = open_with(EmbeddedOptions {
        history: 10,
        broadcast: 1,
        watch_buffer: 1,
        durable: false,
        ..EmbeddedOptions::default()
    });
    let mut watch = store.watch(b"", 1).await.unwrap();
    for _ in 0..100 {
        store.txn(ops(vec![put("k", "v")])).await.unwrap();
    }
    let mut last = 0;
    loop {
        match next(&mut watch).await {
            Some(Ok(event)) => {
                assert_eq!(revision_of(&event), last + 1);
                last += 1;
            }
            Some(Err(StoreError::Compacted { requested, oldest })) => {
                assert_eq!(requested, last + 1);
                assert_eq!(oldest, 91);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(last < 90);
    assert!(next(&mut watch).await.is_none());
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = EmbeddedStore::open(&path).unwrap();
    store
        .txn(ops(vec![put("a", "1"), put("b", "2")]))
        .await
        .unwrap();
    store.txn(ops(vec![put("a", "3")])).await.unwrap();
    let mut watch = store.watch(b"", 3).await.unwrap();
    let before = store.range(b"").await.unwrap();
    store.close().await.unwrap();
    // Closing the store ends its watch streams.
    assert!(matches!(
        next(&mut watch).await,
        Some(Err(StoreError::Backend(_)))
    ));
    assert!(next(&mut watch).await.is_none());

    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.range(b"").await.unwrap(), before);
    assert_eq!(store.revision().await.unwrap(), 2);
    // The history survives too, and revisions go on.
    let mut watch = store.watch(b"", 1).await.unwrap();
    assert_eq!(revision_of(&next_event(&mut watch).await), 1);
    assert_eq!(store.txn(ops(vec![put("c", "4")])).await.unwrap(), ok(3));
    assert_eq!(store.get(b"c").await.unwrap(), Some(kv("c", "4", 3, 3, 1)));
    store.close().await.unwrap();
}

#[tokio::test]
async fn in_memory_store() {
    let store = EmbeddedStore::in_memory().unwrap();
    assert_eq!(store.txn(ops(vec![put("a", "1")])).await.unwrap(), ok(1));
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "1", 1, 1, 1)));
    let mut watch = store.watch(b"", 0).await.unwrap();
    assert_eq!(
        next_event(&mut watch).await,
        Event::Put(kv("a", "1", 1, 1, 1))
    );
}

#[tokio::test]
async fn usable_as_a_trait_object() {
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(EmbeddedStore::in_memory().unwrap());
    store.txn(ops(vec![put("a", "1")])).await.unwrap();
    assert_eq!(store.range(b"a").await.unwrap().kvs.len(), 1);
}

#[tokio::test]
async fn open_creates_the_directory_and_refuses_a_second_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/dir/store.redb");
    let store = EmbeddedStore::open(&path).unwrap();
    store.txn(ops(vec![put("a", "1")])).await.unwrap();
    assert!(matches!(
        EmbeddedStore::open(&path),
        Err(StoreError::Backend(_))
    ));
    store.close().await.unwrap();
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.revision().await.unwrap(), 1);
}

#[tokio::test]
async fn oversized_transactions_are_refused() {
    let (_dir, store) = open_with(EmbeddedOptions {
        max_txn_bytes: 100,
        ..EmbeddedOptions::default()
    });
    let big = "x".repeat(101);
    assert!(matches!(
        store.txn(ops(vec![put("k", &big)])).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(
        store.txn(ops(vec![put("k", "small")])).await.unwrap(),
        ok(1)
    );
}
