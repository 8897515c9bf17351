//! Tests that need the store's insides: a storage backend with a slow fsync.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redb::StorageBackend;
use redb::backends::InMemoryBackend;

use super::{EmbeddedOptions, EmbeddedStore};
use crate::{Op, Store, Txn};

/// An in-memory backend whose `sync_data` (fsync) takes `SYNC` once `slow` is set.
#[derive(Debug)]
struct SlowSync {
    inner: InMemoryBackend,
    slow: Arc<AtomicBool>,
}

const SYNC: Duration = Duration::from_millis(1000);

impl StorageBackend for SlowSync {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        if self.slow.load(Ordering::SeqCst) {
            std::thread::sleep(SYNC);
        }
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.inner.write(offset, data)
    }
}

fn put(key: &str, value: &str) -> Txn {
    Txn {
        compares: vec![],
        ops: vec![Op::Put {
            key: key.into(),
            value: value.into(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_for_the_writers_fsync() {
    let slow = Arc::new(AtomicBool::new(false));
    let db = redb::Builder::new()
        .create_with_backend(SlowSync {
            inner: InMemoryBackend::new(),
            slow: slow.clone(),
        })
        .unwrap();
    let store = Arc::new(EmbeddedStore::start(db, None, EmbeddedOptions::default()).unwrap());
    store.txn(put("k", "before")).await.unwrap();

    slow.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let pending = {
        let store = store.clone();
        tokio::spawn(async move { store.txn(put("k", "after")).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The commit is in its fsync now; reads see the last commit, at once.
    let read = Instant::now();
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"before");
    assert_eq!(store.range(b"").await.unwrap().revision, 1);
    assert_eq!(store.revision().await.unwrap(), 1);
    assert!(
        read.elapsed() < SYNC / 4,
        "reads waited {:?}",
        read.elapsed()
    );

    // Transactions queued meanwhile are committed together, with the next fsync.
    let queued: Vec<_> = (0..5)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.txn(put(&format!("q{i}"), "v")).await.unwrap() })
        })
        .collect();
    assert_eq!(pending.await.unwrap().revision, 2);
    assert!(
        started.elapsed() >= SYNC,
        "the txn returned before its fsync"
    );
    slow.store(false, Ordering::SeqCst);
    let mut revisions = Vec::new();
    for txn in queued {
        revisions.push(txn.await.unwrap().revision);
    }
    revisions.sort();
    assert_eq!(revisions, vec![3, 4, 5, 6, 7]);
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"after");
    let stats = store.stats();
    assert!(stats.commits <= 4, "{stats:?}");
}
