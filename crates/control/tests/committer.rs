//! The committer: many concurrent changes reach the store in transactions of at most
//! `MAX_TXN_OPS` operations, each change whole; a refused write stops further writes
//! (memory and store may differ) instead of letting them drift apart silently.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use fort_control::vpc::CreateVpc;
use fort_control::{Config, Control, MAX_TXN_OPS, Scope};
use fort_store::{
    EmbeddedStore, KeyValue, Range, Revision, Store, StoreError, Txn, TxnResult, Watch,
};

/// An embedded store that records the largest transaction and can refuse writes.
#[derive(Debug)]
struct Recording {
    inner: EmbeddedStore,
    largest: AtomicUsize,
    refuse: AtomicBool,
}

#[async_trait]
impl Store for Recording {
    async fn range(&self, prefix: &[u8]) -> Result<Range, StoreError> {
        self.inner.range(prefix).await
    }
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        self.inner.get(key).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResult, StoreError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("refused for the test".into()));
        }
        self.largest.fetch_max(txn.ops.len(), Ordering::SeqCst);
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &[u8], from: Revision) -> Result<Watch, StoreError> {
        self.inner.watch(prefix, from).await
    }
    async fn revision(&self) -> Result<Revision, StoreError> {
        self.inner.revision().await
    }
}

fn scope() -> Scope {
    Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

fn vpc(i: usize) -> CreateVpc {
    CreateVpc {
        cidr_block: format!("10.{}.0.0/16", i % 250),
        instance_tenancy: None,
        ipv6: Default::default(),
        tags: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_go_in_bounded_transactions_and_a_refusal_stops_writes() {
    let store = Arc::new(Recording {
        inner: EmbeddedStore::in_memory().unwrap(),
        largest: AtomicUsize::new(0),
        refuse: AtomicBool::new(false),
    });
    let control = Control::open(store.clone(), Config::default())
        .await
        .unwrap();
    let writers: Vec<_> = (0..200)
        .map(|i| {
            let c = control.clone();
            tokio::spawn(async move { c.write(&scope(), |tx| tx.create_vpc(vpc(i))).await })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    let largest = store.largest.load(Ordering::SeqCst);
    assert!(
        largest > 1 && largest <= MAX_TXN_OPS,
        "largest transaction {largest}"
    );
    // everything acknowledged is in the store
    let reloaded = Control::open(store.clone(), Config::default())
        .await
        .unwrap();
    assert_eq!(
        reloaded.dump().await.unwrap(),
        control.dump().await.unwrap()
    );

    store.refuse.store(true, Ordering::SeqCst);
    let refused = control.write(&scope(), |tx| tx.create_vpc(vpc(1))).await;
    assert!(refused.is_err());
    store.refuse.store(false, Ordering::SeqCst);
    let before = control.dump().await.unwrap();
    let after = control.write(&scope(), |tx| tx.create_vpc(vpc(2))).await;
    assert!(after.is_err(), "writes stop after a refusal");
    assert_eq!(control.dump().await.unwrap(), before, "and change nothing");
}

/// A region comes into being with its defaults on its first write, even when that write
/// itself is refused: the defaults are written and survive a reload.
#[tokio::test]
async fn a_new_region_keeps_its_defaults_when_its_first_write_fails() {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store.clone(), Config::default())
        .await
        .unwrap();
    let bad = CreateVpc {
        cidr_block: "10.0.0.0/8".into(),
        instance_tenancy: None,
        ipv6: Default::default(),
        tags: Default::default(),
    };
    assert!(
        control
            .write(&scope(), |tx| tx.create_vpc(bad))
            .await
            .is_err()
    );
    assert_eq!(defaults(&control).await, 1);
    // the defaults reached the store (the committer acknowledges in order)
    control
        .write(&scope(), |tx| tx.create_vpc(vpc(3)))
        .await
        .unwrap();
    let reloaded = Control::open(store, Config::default()).await.unwrap();
    assert_eq!(defaults(&reloaded).await, 1);
}

async fn defaults(c: &Control) -> usize {
    c.read(&scope(), |v| {
        v.region.vpcs.values().filter(|x| x.is_default).count()
    })
    .await
    .unwrap()
}
