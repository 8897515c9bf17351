//! The operation log on one store shared by several logs (as several servers share etcd):
//! every replica applies every operation in the same order, a writer gets its own outcome,
//! bodies of several chunks arrive whole, a replica started later replays everything, a
//! barrier makes another server's acknowledged writes visible, and the quota refuses.

use std::sync::{Arc, Mutex};

use fort_store::oplog::{CHUNK_BYTES, OpLog, OpLogError, Replica};
use fort_store::{EmbeddedStore, Store};

/// Records what it applied; answers the operation's position in its history.
#[derive(Default)]
struct History(Mutex<Vec<(Vec<u8>, Vec<u8>)>>);

impl Replica for History {
    type Outcome = usize;
    fn apply(&self, op: &[u8], blob: Vec<u8>) -> usize {
        let mut h = self.0.lock().unwrap();
        h.push((op.to_vec(), blob));
        h.len()
    }
}

impl History {
    fn ops(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.0.lock().unwrap().clone()
    }
}

async fn replica(store: &Arc<dyn Store>, quota: u64) -> (Arc<History>, Arc<OpLog<usize>>) {
    let history = Arc::new(History::default());
    let log = Arc::new(OpLog::new(store.clone(), "/test/", quota).unwrap());
    log.start(Arc::downgrade(&history)).await.unwrap();
    (history, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_apply_the_same_operations_in_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let (ha, a) = replica(&store, 1 << 30).await;
    let (hb, b) = replica(&store, 1 << 30).await;
    let big: Vec<u8> = (0..(2 * CHUNK_BYTES + 777))
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let (a2, b2, body) = (a.clone(), b.clone(), big.clone());
    tokio::task::spawn_blocking(move || {
        assert_eq!(a2.propose(b"one", b"").unwrap(), 1);
        assert_eq!(b2.propose(b"two", &body).unwrap(), 2);
        assert_eq!(a2.propose(b"three", b"x").unwrap(), 3);
        // b has applied what a acknowledged once its barrier returns
        b2.barrier().unwrap();
    })
    .await
    .unwrap();
    let want = vec![
        (b"one".to_vec(), vec![]),
        (b"two".to_vec(), big),
        (b"three".to_vec(), b"x".to_vec()),
    ];
    assert_eq!(ha.ops(), want);
    assert_eq!(hb.ops(), want);
    assert_eq!(a.used_bytes(), b.used_bytes());
    // a replica started later replays the whole log
    let (hc, _c) = replica(&store, 1 << 30).await;
    assert_eq!(hc.ops(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_refuses_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let (history, log) = replica(&store, 100).await;
    tokio::task::spawn_blocking(move || {
        log.propose(&[0; 60], b"").unwrap();
        match log.propose(&[1; 60], b"") {
            Err(OpLogError::Quota {
                used: 60,
                quota: 100,
            }) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
        log.propose(&[2; 40], b"").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(history.ops().len(), 2);
}
