//! A commit whose answer is lost: etcd applied it, the connection broke before the answer
//! came back, and the store sent it again to the next member. It must be applied once.
//!
//! The store reaches one etcd through two endpoints: first a proxy of the test's, then
//! etcd itself. Armed, the proxy passes the next request on to etcd, swallows the answer
//! and, once etcd has applied it, cuts the connection: the store sees the member fail
//! and retries on the next, which is the same etcd.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use fort_store::{EtcdStore, Event, Store, etcd};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy that can lose one answer.
struct LossyProxy {
    addr: String,
    armed: Arc<AtomicBool>,
    /// Connections cut after their request went through.
    cut: Arc<AtomicUsize>,
}

impl LossyProxy {
    async fn start(upstream: String) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = LossyProxy {
            addr: listener.local_addr().unwrap().to_string(),
            armed: Arc::default(),
            cut: Arc::default(),
        };
        let (armed, cut) = (proxy.armed.clone(), proxy.cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, armed.clone(), cut.clone()));
            }
        });
        proxy
    }

    /// Loses the answer to the next request (of more than a control frame's bytes).
    fn lose_next_answer(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    armed: Arc<AtomicBool>,
    cut: Arc<AtomicUsize>,
) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let losing = Arc::new(AtomicBool::new(false));
    let answers = {
        let losing = losing.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match server_rx.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if losing.load(Ordering::SeqCst) {
                            continue; // swallowed
                        }
                        if client_tx.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
    };
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match client_rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // An HTTP/2 PING, SETTINGS ack or WINDOW_UPDATE is 9 to 17 bytes; a request's
        // HEADERS and DATA frames are more.
        let request = n > 40 && armed.swap(false, Ordering::SeqCst);
        if request {
            losing.store(true, Ordering::SeqCst);
        }
        if server_tx.write_all(&buf[..n]).await.is_err() {
            break;
        }
        if request {
            // etcd applies it meanwhile; its answer is swallowed
            tokio::time::sleep(Duration::from_millis(500)).await;
            cut.fetch_add(1, Ordering::SeqCst);
            break;
        }
    }
    answers.abort();
    // both halves of each socket dropped: the connections close
}

/// The store over the proxy first, etcd itself second; a plain store to look with.
async fn stores(etcd: &fort_store::testing::Etcd) -> (LossyProxy, EtcdStore, EtcdStore) {
    let proxy = LossyProxy::start(etcd.addr.clone()).await;
    let store = EtcdStore::connect(&format!("etcd://{},{}", proxy.addr, etcd.addr))
        .await
        .unwrap();
    assert_eq!(store.endpoint(), proxy.addr);
    let observer = EtcdStore::connect(&etcd.url()).await.unwrap();
    (proxy, store, observer)
}

/// Every event under `prefix` from `from` until the watch is quiet.
async fn events(store: &EtcdStore, prefix: &str, from: i64) -> Vec<Event> {
    let mut watch = store.watch(prefix.as_bytes(), from).await.unwrap();
    let mut out = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(500), watch.recv()).await {
        out.push(e.unwrap());
    }
    out
}

/// A commit without compares (as the operation log and hosts' reports write): applied
/// once, at the revision the store answers.
#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_applied_once() {
    let (etcd, _) = etcd!();
    let (proxy, store, observer) = stores(&etcd).await;
    store.txn(ops(vec![put("op/warm", "up")])).await.unwrap();
    let before = observer.revision().await.unwrap();

    proxy.lose_next_answer();
    let result = store
        .txn(ops(vec![put("op/a-1", "append"), put("head", "a-1")]))
        .await
        .unwrap();
    assert_eq!(proxy.cut.load(Ordering::SeqCst), 1, "the answer was lost");
    assert_eq!(
        store.endpoint(),
        etcd.addr,
        "the store moved to the next member"
    );
    assert!(result.succeeded);

    let kv = observer.get(b"op/a-1").await.unwrap().unwrap();
    assert_eq!(kv.version, 1, "written once: {kv:?}");
    assert_eq!(kv.mod_revision, result.revision);
    assert_eq!(
        observer.revision().await.unwrap(),
        before + 1,
        "one revision"
    );
    let seen = events(&observer, "op/", before + 1).await;
    assert_eq!(seen.len(), 1, "{seen:?}");

    // the store goes on as before
    let next = store.txn(ops(vec![put("op/a-2", "x")])).await.unwrap();
    assert_eq!(next.revision, result.revision + 1);
}

/// A commit fenced by a compare (as the control plane's leader writes): the retry finds
/// its own commit applied and says it succeeded, rather than that the compare failed.
#[tokio::test]
async fn a_compared_commit_whose_answer_is_lost_succeeds_once() {
    let (etcd, _) = etcd!();
    let (proxy, store, observer) = stores(&etcd).await;
    store
        .txn(ops(vec![put("leader", "me"), put("row/1", "v1")]))
        .await
        .unwrap();
    let row = observer.get(b"row/1").await.unwrap().unwrap();

    proxy.lose_next_answer();
    let result = store
        .txn(when(
            vec![
                value_is("leader", Some("me")),
                mod_rev("row/1", row.mod_revision),
            ],
            vec![put("row/1", "v2")],
        ))
        .await
        .unwrap();
    assert_eq!(proxy.cut.load(Ordering::SeqCst), 1, "the answer was lost");
    assert!(result.succeeded, "applied once: it succeeded");
    let kv = observer.get(b"row/1").await.unwrap().unwrap();
    assert_eq!((kv.value.as_slice(), kv.version), (&b"v2"[..], 2), "{kv:?}");
    assert_eq!(kv.mod_revision, result.revision);

    // a compare that fails still fails, and writes nothing
    let failed = store
        .txn(when(
            vec![value_is("leader", Some("other"))],
            vec![put("row/1", "v3")],
        ))
        .await
        .unwrap();
    assert!(!failed.succeeded);
    assert_eq!(observer.get(b"row/1").await.unwrap().unwrap().version, 2);
}

/// An election whose answer is lost: the retry finds the key its own, and says it won.
#[tokio::test]
async fn an_election_whose_answer_is_lost_is_won() {
    let (etcd, _) = etcd!();
    let (proxy, store, observer) = stores(&etcd).await;
    let lease = store.lease_grant(Duration::from_secs(30)).await.unwrap();
    proxy.lose_next_answer();
    let won = store
        .put_leased_if_absent(b"leader", b"me", lease)
        .await
        .unwrap();
    assert_eq!(proxy.cut.load(Ordering::SeqCst), 1, "the answer was lost");
    assert!(won.succeeded, "the key is ours: {won:?}");
    let kv = observer.get(b"leader").await.unwrap().unwrap();
    assert_eq!((kv.value.as_slice(), kv.version), (&b"me"[..], 1));
    assert_eq!(kv.mod_revision, won.revision);
    // another candidate still loses
    let other = observer
        .put_leased_if_absent(b"leader", b"other", lease)
        .await
        .unwrap();
    assert!(!other.succeeded);
}

/// What the store keeps to know its commits is not seen by readers: ranges, gets and
/// watches show the user's keys alone.
#[tokio::test]
async fn commit_records_are_invisible() {
    let (etcd, store) = etcd!();
    let b = store.revision().await.unwrap();
    for i in 0..5 {
        store
            .txn(ops(vec![put(&format!("k/{i}"), "v")]))
            .await
            .unwrap();
    }
    let all = store.range(b"").await.unwrap();
    let keys: Vec<&[u8]> = all.kvs.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, [&b"k/0"[..], b"k/1", b"k/2", b"k/3", b"k/4"]);
    let seen = events(&store, "", b + 1).await;
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.iter().all(|e| key_of(e).starts_with(b"k/")));
    drop(etcd);
}
