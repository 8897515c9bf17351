//! The etcd store against a real etcd: the checks every backend must pass
//! (`common/contract.rs`), then what is etcd's own (connecting, failover, compaction, a lost
//! connection) and the control plane on top of it.
//!
//! Each test starts its own etcd ([`fort_store::testing::Etcd`]: `/usr/bin/etcd`, Debian's
//! etcd-server, or `$FORT_ETCD`) on free loopback ports with a temporary data directory,
//! and kills it at the end. Without etcd installed, the tests say so and pass.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::contract::{self, kv, ok};
use common::*;
use fort_store::testing::free_port;
use fort_store::{EtcdStore, Event, Store, StoreError, etcd};

#[tokio::test]
async fn empty_store() {
    let (_etcd, store) = etcd!();
    // etcd counts its empty state as revision 1.
    assert_eq!(store.revision().await.unwrap(), 1);
    contract::empty_store(&store).await;
}

#[tokio::test]
async fn put_get_range_and_revision_arithmetic() {
    let (_etcd, store) = etcd!();
    contract::put_get_range_and_revision_arithmetic(&store).await;
}

#[tokio::test]
async fn binary_keys_and_prefix_edges() {
    let (_etcd, store) = etcd!();
    contract::binary_keys_and_prefix_edges(&store).await;
    // etcd cannot hold the empty key: writing it fails, reading finds nothing.
    assert!(matches!(
        store.txn(ops(vec![put("", "x")])).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.get(b"").await.unwrap(), None);
}

#[tokio::test]
async fn transactions_that_write_nothing_keep_the_revision() {
    let (_etcd, store) = etcd!();
    contract::transactions_that_write_nothing_keep_the_revision(&store).await;
}

#[tokio::test]
async fn compares() {
    let (_etcd, store) = etcd!();
    contract::compares(&store).await;
}

#[tokio::test]
async fn ops_on_one_key_end_in_the_last_ones_state() {
    let (_etcd, store) = etcd!();
    contract::ops_on_one_key_end_in_the_last_ones_state(&store).await;
}

/// etcd sees one write per key in a transaction: a key deleted and written again in the
/// same transaction keeps its history (the embedded store starts a new one).
#[tokio::test]
async fn delete_then_put_in_one_transaction_is_one_write() {
    let (_etcd, store) = etcd!();
    let b = store.revision().await.unwrap();
    store.txn(ops(vec![put("a", "1")])).await.unwrap();
    let mut watch = store.watch(b"", b + 2).await.unwrap();
    assert_eq!(
        store
            .txn(ops(vec![delete("a"), put("a", "2")]))
            .await
            .unwrap(),
        ok(b + 2)
    );
    let after = kv("a", "2", b + 1, b + 2, 2);
    assert_eq!(store.get(b"a").await.unwrap(), Some(after.clone()));
    assert_eq!(next_event(&mut watch).await, Event::Put(after));
    assert!(quiet(&mut watch).await);
}

#[tokio::test]
async fn delete_prefix_removes_every_key_under_it() {
    let (_etcd, store) = etcd!();
    contract::delete_prefix_removes_every_key_under_it(&store).await;
}

#[tokio::test]
async fn watch_replays_then_follows() {
    let (_etcd, store) = etcd!();
    contract::watch_replays_then_follows(&store).await;
}

#[tokio::test]
async fn watch_from_the_future_waits() {
    let (_etcd, store) = etcd!();
    contract::watch_from_the_future_waits(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_has_no_gap_or_duplicate_while_writes_go_on() {
    let (_etcd, store) = etcd!();
    contract::watch_has_no_gap_or_duplicate_while_writes_go_on(Arc::new(store)).await;
}

#[tokio::test]
async fn compaction_bounds_history() {
    let (_etcd, store) = etcd!();
    // etcd's Compact(c) drops what is before c and the deletions at c: the store's oldest
    // revision is then c + 1.
    let compact = |oldest| {
        let store = store.clone();
        async move { store.compact(oldest - 1).await.unwrap() }
    };
    contract::compaction_bounds_history(&store, compact).await;
}

/// A deletion at the compaction revision is gone from etcd's history, so a watch from that
/// revision is refused rather than given without it.
#[tokio::test]
async fn watch_from_the_compaction_revision_is_refused() {
    let (_etcd, store) = etcd!();
    let b = store.revision().await.unwrap();
    store.txn(ops(vec![put("a", "1")])).await.unwrap();
    store.txn(ops(vec![delete("a")])).await.unwrap();
    store.compact(b + 2).await.unwrap();
    assert!(matches!(
        store.watch(b"", b + 2).await,
        Err(StoreError::Compacted { requested, oldest }) if (requested, oldest) == (b + 2, b + 3)
    ));
    let mut watch = store.watch(b"", 0).await.unwrap();
    store.txn(ops(vec![put("a", "2")])).await.unwrap();
    assert_eq!(revision_of(&next_event(&mut watch).await), b + 3);
}

#[tokio::test]
async fn revisions_only_move_forward() {
    let (_etcd, store) = etcd!();
    let mut last = store.revision().await.unwrap();
    for i in 0..20 {
        let result = store
            .txn(ops(vec![put(&format!("k{}", i % 3), "v")]))
            .await
            .unwrap();
        assert_eq!(result.revision, last + 1);
        let now = store.revision().await.unwrap();
        assert_eq!(now, result.revision);
        last = now;
    }
}

#[tokio::test]
async fn connect_tries_the_endpoints_in_order() {
    let (etcd, _store) = etcd!();
    let dead = format!("127.0.0.1:{}", free_port());
    // Accepts connections (the kernel does) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap().to_string();
    let store = EtcdStore::connect(&format!("etcd://{dead}, {silent} ,{}", etcd.addr))
        .await
        .unwrap();
    assert_eq!(store.endpoint(), etcd.addr);
    store.txn(ops(vec![put("k", "v")])).await.unwrap();

    // Nothing reachable: an error naming what was tried, no panic.
    match EtcdStore::connect(&format!("etcd://{dead}")).await {
        Err(StoreError::Backend(message)) => assert!(message.contains(&dead), "{message}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
    for bad in ["http://127.0.0.1:2379", "etcd://", "etcd://not a host"] {
        assert!(
            matches!(EtcdStore::connect(bad).await, Err(StoreError::Backend(_))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn losing_etcd_ends_watches_and_fails_requests() {
    let (etcd, store) = etcd!();
    store.txn(ops(vec![put("k", "1")])).await.unwrap();
    let mut watch = store.watch(b"", 0).await.unwrap();
    assert!(matches!(next_event(&mut watch).await, Event::Put(_)));
    drop(etcd);
    assert!(matches!(
        next(&mut watch).await,
        Some(Err(StoreError::Backend(_)))
    ));
    assert!(next(&mut watch).await.is_none());
    assert!(matches!(store.get(b"k").await, Err(StoreError::Backend(_))));
}

/// The control plane over etcd: what one server writes, a second one (a fresh connection)
/// loads.
#[tokio::test]
async fn control_plane_state_lives_in_etcd() {
    use fort_control::{Config, Control, Scope, vpc::CreateVpc};
    let (etcd, store) = etcd!();
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let control = Control::open(Arc::new(store), Config::default())
        .await
        .unwrap();
    let vpc = control
        .write(&scope, |tx| {
            tx.create_vpc(CreateVpc {
                cidr_block: "10.7.0.0/16".into(),
                ..CreateVpc::default()
            })
        })
        .await
        .unwrap();
    let before = control.dump().await.unwrap();
    assert!(before.keys().any(|key| key.ends_with(vpc.id.as_str())));
    drop(control);

    let store = EtcdStore::connect(&etcd.url()).await.unwrap();
    let control = Control::open(Arc::new(store), Config::default())
        .await
        .unwrap();
    assert_eq!(control.dump().await.unwrap(), before);
}

/// etcd's limit on a transaction's operations (`--max-txn-ops`, 128 by default): past it,
/// `txn` fails, writes nothing and names the setting.
#[tokio::test]
async fn transactions_past_etcds_limit_fail_whole() {
    let (_etcd, store) = etcd!();
    let b = store.revision().await.unwrap();
    let puts = (0..200).map(|i| put(&format!("k/{i:03}"), "v")).collect();
    match store.txn(ops(puts)).await {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("--max-txn-ops"), "{message}")
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    assert!(store.range(b"k/").await.unwrap().kvs.is_empty());
    assert_eq!(store.revision().await.unwrap(), b);
}

/// Leases as the control plane's election uses them: one holder of a key at a time, the
/// key gone with the lease.
#[tokio::test]
async fn leases_elect_one_holder_and_take_their_keys_along() {
    let (_etcd, store) = etcd!();
    assert!(store.shared());
    let a = store.lease_grant(Duration::from_secs(5)).await.unwrap();
    let b = store.lease_grant(Duration::from_secs(5)).await.unwrap();
    assert_ne!(a, b);
    let won = store.put_leased_if_absent(b"lead", b"a", a).await.unwrap();
    assert!(won.succeeded);
    let lost = store.put_leased_if_absent(b"lead", b"b", b).await.unwrap();
    assert!(!lost.succeeded);
    assert_eq!(store.get(b"lead").await.unwrap().unwrap().value, b"a");
    let left = store.lease_keep_alive(a).await.unwrap();
    assert!(left > Duration::ZERO && left <= Duration::from_secs(5));
    // Revoking the holder's lease frees the key for the next one.
    store.lease_revoke(a).await.unwrap();
    assert_eq!(store.get(b"lead").await.unwrap(), None);
    assert_eq!(store.lease_keep_alive(a).await.unwrap(), Duration::ZERO);
    assert!(
        store
            .put_leased_if_absent(b"lead", b"b", b)
            .await
            .unwrap()
            .succeeded
    );
    // A lease left to expire takes its key along.
    let short = store.lease_grant(Duration::from_secs(1)).await.unwrap();
    assert!(
        store
            .put_leased_if_absent(b"short", b"x", short)
            .await
            .unwrap()
            .succeeded
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.get(b"short").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the key outlived its lease");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two control planes on one etcd: one leads; the other refuses writes as a follower (the
/// API sends them on), follows the leader's changes into its memory and announces them
/// with the same numbers (store revisions); when the leader goes, it takes over, with
/// every change made before.
#[tokio::test]
async fn two_control_planes_share_one_etcd() {
    use fort_control::{Config, Control, Member, Scope, vpc::CreateVpc};
    let (etcd, store) = etcd!();
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let member = |id: &str| Member {
        id: id.into(),
        api: format!("http://{id}"),
    };
    let a = Control::open_cluster(Arc::new(store), Config::default(), member("a"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.leads() {
        assert!(Instant::now() < deadline, "a never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other = EtcdStore::connect(&etcd.url()).await.unwrap();
    let b = Control::open_cluster(Arc::new(other), Config::default(), member("b"))
        .await
        .unwrap();
    let mut feed = b.subscribe();
    assert!(!b.leads());
    assert_eq!(b.leader().map(|m| m.id), Some("a".to_owned()));
    let create = |cidr: &str| CreateVpc {
        cidr_block: cidr.into(),
        ..CreateVpc::default()
    };
    // A follower's write is refused (and marked for the leader), leaving no trace.
    let (refused, marked) =
        fort_control::forwarded(b.write(&scope, |tx| tx.create_vpc(create("10.1.0.0/16")))).await;
    assert_eq!(refused.unwrap_err().code.as_str(), "Fort.NotLeader");
    assert!(marked);
    let (vpc, change) = a
        .write_numbered(&scope, |tx| tx.create_vpc(create("10.2.0.0/16")))
        .await
        .unwrap();
    // The change's number is its store revision, on both.
    b.sync().await;
    assert!(b.applied_revision().unwrap() >= i64::try_from(change).unwrap());
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let c = feed.recv().await.unwrap();
            if c.seq == change {
                return c;
            }
        }
    })
    .await
    .expect("the follower announced the leader's change");
    assert!(seen.keys.iter().any(|k| k.ends_with(vpc.id.as_str())));
    assert_eq!(a.dump().await.unwrap(), b.dump().await.unwrap());
    // A delete follows too.
    a.write(&scope, |tx| tx.delete_vpc(&vpc.id)).await.unwrap();
    b.sync().await;
    assert_eq!(a.dump().await.unwrap(), b.dump().await.unwrap());

    // The leader goes (its lease with it, as when its process dies): b takes over.
    let before = b.dump().await.unwrap();
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.leads() {
        assert!(Instant::now() < deadline, "b never took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.dump().await.unwrap(), before);
    b.write(&scope, |tx| tx.create_vpc(create("10.3.0.0/16")))
        .await
        .unwrap();
}
