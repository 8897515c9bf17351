//! Every operation of the embedded store, one behaviour at a time: the checks every backend
//! must pass (`common/contract.rs`, also run against etcd), then the embedded store's own.

mod common;

use std::sync::Arc;

use common::contract::{self, kv, ok};
use common::*;
use fort_store::{EmbeddedOptions, EmbeddedStore, Event, Store, StoreError};
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

#[tokio::test]
async fn empty_store() {
    let (_dir, store) = open();
    assert_eq!(store.revision().await.unwrap(), 0);
    contract::empty_store(&store).await;
}

#[tokio::test]
async fn put_get_range_and_revision_arithmetic() {
    let (_dir, store) = open();
    contract::put_get_range_and_revision_arithmetic(&store).await;
}

#[tokio::test]
async fn binary_keys_and_prefix_edges() {
    let (_dir, store) = open();
    contract::binary_keys_and_prefix_edges(&store).await;
    // Unlike etcd, the embedded store holds the empty key too, first in order.
    store.txn(ops(vec![put("", "empty")])).await.unwrap();
    assert_eq!(store.get(&[]).await.unwrap().unwrap().value, b"empty");
    assert_eq!(store.range(b"").await.unwrap().kvs[0].key, b"");
}

#[tokio::test]
async fn transactions_that_write_nothing_keep_the_revision() {
    let (_dir, store) = open();
    contract::transactions_that_write_nothing_keep_the_revision(&store).await;
}

#[tokio::test]
async fn compares() {
    let (_dir, store) = open();
    contract::compares(&store).await;
}

#[tokio::test]
async fn ops_on_one_key_end_in_the_last_ones_state() {
    let (_dir, store) = open();
    contract::ops_on_one_key_end_in_the_last_ones_state(&store).await;
}

#[tokio::test]
async fn delete_prefix_removes_every_key_under_it() {
    let (_dir, store) = open();
    contract::delete_prefix_removes_every_key_under_it(&store).await;
}

#[tokio::test]
async fn watch_replays_then_follows() {
    let (_dir, store) = open();
    contract::watch_replays_then_follows(&store).await;
}

#[tokio::test]
async fn watch_from_the_future_waits() {
    let (_dir, store) = open();
    contract::watch_from_the_future_waits(&store).await;
}

#[tokio::test]
async fn watch_has_no_gap_or_duplicate_while_writes_go_on() {
    let (_dir, store) = open_with(EmbeddedOptions {
        durable: false,
        ..EmbeddedOptions::default()
    });
    contract::watch_has_no_gap_or_duplicate_while_writes_go_on(Arc::new(store)).await;
}

#[tokio::test]
async fn compaction_bounds_history() {
    // The embedded store compacts on its own: it keeps the last `history` revisions.
    let (_dir, store) = open_with(EmbeddedOptions {
        history: 10,
        ..EmbeddedOptions::default()
    });
    contract::compaction_bounds_history(&store, |_| async {}).await;
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
                // the watcher may fall behind at any point of the writes (its task runs
                // when the writer yields): what it is told is where it stopped and that
                // history no longer reaches back there
                assert_eq!(requested, last + 1);
                assert!(oldest > requested && oldest <= 91, "oldest {oldest}");
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
