//! Concurrent writers: group commit must keep revisions unique and dense, lose nothing, and
//! keep compare-and-swap exact.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use fort_store::{EmbeddedStore, Event, Store};

const WRITERS: usize = 8;
const PER_WRITER: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_dense_unique_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let mut watch = store.watch(b"w", 1).await.unwrap();

    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..PER_WRITER {
                let result = store
                    .txn(ops(vec![
                        put(&format!("w{w}/{i}/a"), &format!("{w}.{i}")),
                        put(&format!("w{w}/{i}/b"), &format!("{w}.{i}")),
                    ]))
                    .await
                    .unwrap();
                assert!(result.succeeded);
                revisions.push((result.revision, w, i));
            }
            revisions
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let revisions = task.await.unwrap();
        // Each writer's own transactions are ordered.
        assert!(revisions.windows(2).all(|p| p[0].0 < p[1].0));
        all.extend(revisions);
    }
    let total = (WRITERS * PER_WRITER) as i64;
    let unique: BTreeSet<_> = all.iter().map(|(r, _, _)| *r).collect();
    assert_eq!(unique, (1..=total).collect::<BTreeSet<_>>());
    assert_eq!(store.revision().await.unwrap(), total);

    // All data present, each key written at the revision its writer was told.
    let range = store.range(b"w").await.unwrap();
    assert_eq!(range.kvs.len(), 2 * WRITERS * PER_WRITER);
    for (revision, w, i) in &all {
        for half in ["a", "b"] {
            let kv = store
                .get(format!("w{w}/{i}/{half}").as_bytes())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(kv.mod_revision, *revision);
            assert_eq!(kv.value, format!("{w}.{i}").into_bytes());
        }
    }

    // The watcher saw every revision, in order, both keys of each together.
    for want in 1..=total {
        let (a, b) = (next_event(&mut watch).await, next_event(&mut watch).await);
        assert_eq!((revision_of(&a), revision_of(&b)), (want, want));
        let (Event::Put(a), Event::Put(b)) = (a, b) else {
            panic!("puts")
        };
        assert_eq!(a.value, b.value);
    }
    assert!(quiet(&mut watch).await);

    let stats = store.stats();
    println!("{stats:?}");
    assert_eq!(stats.txns, total as u64);
    assert!(
        stats.commits < stats.txns,
        "8 concurrent writers were never grouped: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_and_swap_under_contention_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    store.txn(ops(vec![put("counter", "0")])).await.unwrap();
    const INCREMENTS: usize = 40;
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let kv = store.get(b"counter").await.unwrap().unwrap();
                    let n: u64 = String::from_utf8(kv.value).unwrap().parse().unwrap();
                    let result = store
                        .txn(when(
                            vec![mod_rev("counter", kv.mod_revision)],
                            vec![put("counter", &(n + 1).to_string())],
                        ))
                        .await
                        .unwrap();
                    if result.succeeded {
                        break;
                    }
                    conflicts += 1;
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let kv = store.get(b"counter").await.unwrap().unwrap();
    let total = WRITERS * INCREMENTS;
    assert_eq!(kv.value, total.to_string().into_bytes());
    assert_eq!(kv.version, total as i64 + 1);
    assert_eq!(kv.mod_revision, total as i64 + 1);
    assert_eq!(store.revision().await.unwrap(), total as i64 + 1);
    println!("{conflicts} conflicts, {:?}", store.stats());
}
