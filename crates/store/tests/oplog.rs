//! The operation log on one store shared by several logs (as several servers share etcd):
//! every replica applies every operation in the same order, a writer gets its own outcome,
//! bodies of several chunks arrive whole, a replica started later replays everything, a
//! barrier makes another server's acknowledged writes visible, and the quota refuses.

use std::sync::{Arc, Mutex};

use fort_store::oplog::{Applied, CHUNK_BYTES, OpId, OpLog, OpLogError, Replica};
use fort_store::{EmbeddedStore, Store};

/// Records what it applied; answers the operation's position in its history.
#[derive(Default)]
struct History(Mutex<Vec<(Vec<u8>, Vec<u8>)>>);

impl Replica for History {
    type Outcome = usize;
    fn apply(&self, _id: &OpId, op: &[u8], blob: Vec<u8>) -> Applied<usize> {
        let mut h = self.0.lock().unwrap();
        h.push((op.to_vec(), blob));
        Applied {
            outcome: h.len(),
            retired: Vec::new(),
        }
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

type KvState = (
    std::collections::BTreeMap<String, Vec<u8>>,
    fort_store::lineage::Lineage<String>,
);

/// A key-value replica: `put K` (the value is the blob) and `del K`, with its lineage.
#[derive(Default)]
struct Kv {
    state: Mutex<KvState>,
}

impl Replica for Kv {
    type Outcome = ();
    fn apply(&self, id: &OpId, op: &[u8], blob: Vec<u8>) -> Applied<()> {
        let mut s = self.state.lock().unwrap();
        let (map, lineage) = &mut *s;
        lineage.begin(id);
        let op = String::from_utf8_lossy(op).to_string();
        if let Some(k) = op.strip_prefix("put ") {
            map.insert(k.to_owned(), blob);
            lineage.define(k.to_owned(), &[]);
        } else if let Some(k) = op.strip_prefix("del ") {
            map.remove(k);
            lineage.remove(&k.to_owned());
        }
        Applied {
            outcome: (),
            retired: lineage.finish(),
        }
    }
}

impl Kv {
    fn map(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.state.lock().unwrap().0.clone()
    }
}

async fn kv_replica(store: &Arc<dyn Store>, quota: u64) -> (Arc<Kv>, Arc<OpLog<()>>) {
    let kv = Arc::new(Kv::default());
    let log = Arc::new(OpLog::new(store.clone(), "/kv/", quota).unwrap());
    log.start(Arc::downgrade(&kv)).await.unwrap();
    (kv, log)
}

/// The number of keys under `prefix` once it is `want` (the replicas delete after
/// applying), or after 5 s.
async fn keys(store: &Arc<dyn Store>, prefix: &str, want: usize) -> usize {
    let mut n = 0;
    for _ in 0..250 {
        n = store.range(prefix.as_bytes()).await.unwrap().kvs.len();
        if n == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_forgets_what_later_operations_undid() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let quota = 3 * CHUNK_BYTES as u64;
    let (a, la) = kv_replica(&store, quota).await;
    let (b, lb) = kv_replica(&store, quota).await;
    let big = vec![7u8; 2 * CHUNK_BYTES + 5];
    let (la2, lb2, body) = (la.clone(), lb.clone(), big.clone());
    tokio::task::spawn_blocking(move || {
        la2.propose(b"put big", &body).unwrap();
        // a second copy does not fit the quota (as b counts, once it has applied the first)
        lb2.barrier().unwrap();
        assert!(matches!(
            lb2.propose(b"put big2", &body),
            Err(OpLogError::Quota { .. })
        ));
        for i in 0..20 {
            la2.propose(format!("put k{}", i % 4).as_bytes(), b"v")
                .unwrap();
        }
        lb2.propose(b"del k0", b"").unwrap();
        lb2.propose(b"del big", b"").unwrap();
        // freed: now it fits
        lb2.propose(b"put big2", &body).unwrap();
        la2.barrier().unwrap();
    })
    .await
    .unwrap();
    let want = a.map();
    assert_eq!(want.keys().collect::<Vec<_>>(), ["big2", "k1", "k2", "k3"]);
    assert_eq!(b.map(), want);
    assert_eq!(la.used_bytes(), lb.used_bytes());
    // only the live operations are left: the last put of k1..k3 and big2 (whose chunks
    // are the only ones left)
    assert_eq!(keys(&store, "/kv/op/", 4).await, 4);
    assert_eq!(keys(&store, "/kv/blob/", 3).await, 3);
    // a replica started now replays them to the same state
    let (c, lc) = kv_replica(&store, quota).await;
    assert_eq!(c.map(), want);
    assert_eq!(lc.used_bytes(), la.used_bytes());
}
