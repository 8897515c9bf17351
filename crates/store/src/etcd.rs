//! The etcd backend: a [`Store`] in an etcd cluster, over etcd's v3 gRPC API.
//!
//! The trait is etcd's model, so most calls map one to one: `range` and `get` are `Range`
//! requests, `txn` is a `Txn`, `watch` is a `Watch` stream, revisions are etcd's own. Two
//! places need care, both explained where they are handled:
//! * etcd refuses a transaction that writes one key twice ([`net_ops`]);
//! * etcd accepts a watch from its compaction revision although the deletions of that
//!   revision are gone ([`EtcdStore::open_watch`]);
//! * a commit sent again to another member after its answer was lost must not be applied
//!   twice ([`Commits`]).
//!
//! Differences from the embedded store that callers may notice: etcd's revision is 1 before
//! the first write (the first write is 2); an empty key cannot be stored; within one
//! transaction, a key deleted then written again keeps its `create_revision` and `version`
//! (etcd sees one write), and one written then deleted leaves no trace; etcd limits a
//! transaction's operations (`--max-txn-ops`, 128 by default: the control plane, which
//! commits a burst of changes as one transaction, needs more) and its size
//! (`--max-request-bytes`, 1.5 MiB by default); past them `txn` fails and writes nothing.
//! A transaction that puts a key carries two operations of the store's own (its commit
//! record, [`Commits`]), so 126 of etcd's default 128 are the caller's; keys starting
//! with [`COMMITS`] are the store's and are never shown.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

use crate::{
    Compare, Event, KeyValue, LeaseId, Op, Range, Revision, Store, StoreError, Txn, TxnResult,
    Watch,
};

/// The code generated from `proto/` (etcd's own names and field numbers).
#[allow(clippy::all, clippy::pedantic, unreachable_pub, missing_docs)]
mod pb {
    pub mod mvccpb {
        tonic::include_proto!("mvccpb");
    }
    pub mod etcdserverpb {
        tonic::include_proto!("etcdserverpb");
    }
}

use pb::etcdserverpb as rpc;
use pb::etcdserverpb::kv_client::KvClient;
use pb::etcdserverpb::lease_client::LeaseClient;
use pb::etcdserverpb::watch_client::WatchClient;

/// How long connecting to one endpoint (and a first read) may take before the next one is
/// tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read of many keys may take: without a quorum etcd would leave it waiting
/// forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write, a revision or a lease call may take: a cluster that lost its quorum
/// answers none, and callers must hear so quickly (the API answers 503 rather than hang).
const QUICK_TIMEOUT: Duration = Duration::from_secs(2);
/// Capacity of each watch stream (events), as in the embedded store.
const WATCH_BUFFER: usize = 1024;
/// Where the store records its commits ([`Commits`]): never shown by `range`, `get` or
/// `watch`, and no caller's key may start with it.
pub const COMMITS: &[u8] = b"\0fort/commit/";

/// Each commit's record, so that one sent twice is applied once.
///
/// [`EtcdStore::call`] sends a request the member in use fails as unavailable to the next
/// member. For a commit that is not safe as it stands: the member may have applied it and
/// failed (or lost the connection) before answering, and the next member would apply it
/// again — a second revision of the same writes, a log entry appended twice, a compare
/// that held the first time failing the second. So a commit that writes (puts a key) also
/// puts a record of its own, `COMMITS/STORE/NNNNNNNNNNNNNNNN` (this store's id and the
/// commit's number), on the condition that the record does not exist yet; when that
/// condition fails, the transaction's failure branch reads the record: if it is there,
/// the commit was applied by an earlier attempt, at the record's revision, and that is
/// the answer. A commit that only deletes needs no record: deleting again changes nothing
/// (and takes no revision).
///
/// The records go with later commits: each deletes, in one range, the records of this
/// store below the oldest commit still under way. What a store leaves at exit (its last
/// record, and those of commits under way) stays: a few empty keys per process.
struct Commits {
    id: String,
    next: AtomicU64,
    /// Commits under way, by number.
    open: Mutex<BTreeSet<u64>>,
    /// Records below this number are deleted.
    cleared: AtomicU64,
}

/// One commit's record, open until dropped.
struct Record<'a> {
    commits: &'a Commits,
    n: u64,
}

impl Commits {
    fn new() -> Commits {
        Commits {
            id: store_id(),
            next: AtomicU64::new(0),
            open: Mutex::default(),
            cleared: AtomicU64::new(0),
        }
    }

    fn key(&self, n: u64) -> Vec<u8> {
        let mut k = COMMITS.to_vec();
        k.extend_from_slice(format!("{}/{n:016x}", self.id).as_bytes());
        k
    }

    fn open(&self) -> Record<'_> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(n);
        Record { commits: self, n }
    }

    /// The records that finished commits left and that may go now: `[from, to)`.
    fn finished(&self) -> Option<(u64, u64)> {
        let to = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first()
            .copied()?;
        let from = self.cleared.load(Ordering::Relaxed);
        (from < to).then_some((from, to))
    }
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        self.commits
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.n);
    }
}

/// An id no other store has: this process's id, the clock at connection, and the count
/// of stores this process connected before.
fn store_id() -> String {
    static STORES: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{:x}-{nanos:x}-{:x}",
        std::process::id(),
        STORES.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether `key` is one of the store's own.
fn internal(key: &[u8]) -> bool {
    key.starts_with(COMMITS)
}

/// One member of the cluster: a lazily (re)connected HTTP/2 channel.
#[derive(Clone)]
struct Member {
    endpoint: String,
    kv: KvClient<Channel>,
    watch: WatchClient<Channel>,
    lease: LeaseClient<Channel>,
}

/// The etcd [`Store`]: the cluster's members, one of them in use.
///
/// Cloning is cheap and shares the connections. A request the member in use refuses as
/// unavailable (it is down, or has lost its cluster's leader) goes to the next member in
/// turn, which is then used from there on; a request that times out is not retried (a
/// cluster without a quorum would only time out again), so callers hear within
/// [`QUICK_TIMEOUT`] that a write cannot be made.
#[derive(Clone)]
pub struct EtcdStore {
    members: Arc<Vec<Member>>,
    current: Arc<AtomicUsize>,
    commits: Arc<Commits>,
}

impl fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to etcd given as `etcd://HOST:PORT[,HOST:PORT…]` (plain HTTP/2, no TLS):
    /// the endpoints are tried in order and the first that answers a read is used; the
    /// others stand by for when it fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let list = url.strip_prefix("etcd://").ok_or_else(|| {
            StoreError::Backend(format!(
                "'{url}' is not an etcd://HOST:PORT[,HOST:PORT…] URL"
            ))
        })?;
        let endpoints: Vec<&str> = list
            .split(',')
            .map(|e| e.trim().trim_end_matches('/'))
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(StoreError::Backend(format!("no endpoint in '{url}'")));
        }
        let mut members = Vec::new();
        for endpoint in &endpoints {
            members.push(Self::member(endpoint).map_err(StoreError::Backend)?);
        }
        let store = EtcdStore {
            members: Arc::new(members),
            current: Arc::new(AtomicUsize::new(0)),
            commits: Arc::new(Commits::new()),
        };
        let mut failures = Vec::new();
        for (i, endpoint) in endpoints.iter().enumerate() {
            // A member that accepts connections but does not answer must not hold us up.
            let answered = tokio::time::timeout(CONNECT_TIMEOUT, store.only(i).revision())
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Backend(format!(
                        "no answer within {CONNECT_TIMEOUT:?}"
                    )))
                });
            match answered {
                Ok(_) => {
                    store.current.store(i, Ordering::Relaxed);
                    return Ok(store);
                }
                Err(error) => {
                    tracing::warn!(endpoint, %error, "etcd endpoint unavailable");
                    failures.push(format!("{endpoint}: {error}"));
                }
            }
        }
        Err(StoreError::Backend(format!(
            "no etcd endpoint answered ({})",
            failures.join("; ")
        )))
    }

    /// A store that uses member `i` alone (to probe it).
    fn only(&self, i: usize) -> EtcdStore {
        EtcdStore {
            members: Arc::new(vec![self.members[i].clone()]),
            current: Arc::new(AtomicUsize::new(0)),
            commits: self.commits.clone(),
        }
    }

    /// The clients of one endpoint, connected when first used.
    fn member(endpoint: &str) -> Result<Member, String> {
        let channel = Endpoint::from_shared(format!("http://{endpoint}"))
            .map_err(|e| format!("bad endpoint {endpoint}: {}", chain(&e)))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(3))
            .connect_lazy();
        // A whole snapshot of the state is one Range response: no 4 MiB cap.
        Ok(Member {
            endpoint: endpoint.to_owned(),
            kv: KvClient::new(channel.clone()).max_decoding_message_size(usize::MAX),
            watch: WatchClient::new(channel.clone()).max_decoding_message_size(usize::MAX),
            lease: LeaseClient::new(channel),
        })
    }

    /// The member in use (`HOST:PORT`).
    pub fn endpoint(&self) -> &str {
        let i = self.current.load(Ordering::Relaxed) % self.members.len();
        &self.members[i].endpoint
    }

    /// Compacts etcd's history: revisions before `revision` are forgotten, so a watch from
    /// `revision` or earlier fails with [`StoreError::Compacted`]. etcd keeps all history
    /// unless it is compacted (by this or by its `--auto-compaction-*` settings).
    pub async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let request = rpc::CompactionRequest {
            revision,
            physical: true,
        };
        self.call("compact", REQUEST_TIMEOUT, |m| async move {
            m.kv.clone().compact(request).await
        })
        .await?;
        Ok(())
    }

    /// Runs one request with a timeout on the member in use, turning its failure into a
    /// [`StoreError`]; a member that refuses it as unavailable hands it to the next.
    async fn call<T, F, Fut>(&self, what: &str, timeout: Duration, f: F) -> Result<T, StoreError>
    where
        F: Fn(Member) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let n = self.members.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..n {
            let at = (start + i) % n;
            let member = self.members[at].clone();
            let endpoint = member.endpoint.clone();
            match tokio::time::timeout(timeout, f(member)).await {
                Ok(Ok(response)) => {
                    if i > 0 {
                        tracing::info!(endpoint, "etcd: now using this member");
                        self.current.store(at, Ordering::Relaxed);
                    }
                    return Ok(response.into_inner());
                }
                Ok(Err(status)) if moves_on(&status) => {
                    last = Some(failed(&endpoint, what, &status));
                }
                Ok(Err(status)) => return Err(failed(&endpoint, what, &status)),
                Err(_) => {
                    return Err(StoreError::Backend(format!(
                        "etcd {what} at {endpoint}: no answer within {timeout:?} (has the cluster lost its quorum?)"
                    )));
                }
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Backend(format!("etcd {what}: no member"))))
    }

    /// Commits `success` if every compare holds, applying it once however many members
    /// the request is sent to ([`Commits`]).
    async fn commit(
        &self,
        mut compare: Vec<rpc::Compare>,
        mut success: Vec<rpc::RequestOp>,
    ) -> Result<TxnResult, StoreError> {
        use rpc::request_op::Request;
        let writes = success
            .iter()
            .any(|op| matches!(op.request, Some(Request::RequestPut(_))));
        let record = writes.then(|| self.commits.open());
        let mut failure = Vec::new();
        let mut cleared = None;
        if let Some(r) = &record {
            let key = self.commits.key(r.n);
            compare.push(rpc::Compare {
                result: rpc::compare::CompareResult::Equal as i32,
                target: rpc::compare::CompareTarget::Version as i32,
                key: key.clone(),
                target_union: Some(rpc::compare::TargetUnion::Version(0)),
                range_end: Vec::new(),
            });
            if let Some((from, to)) = self.commits.finished() {
                success.push(rpc::RequestOp {
                    request: Some(Request::RequestDeleteRange(rpc::DeleteRangeRequest {
                        key: self.commits.key(from),
                        range_end: self.commits.key(to),
                        ..Default::default()
                    })),
                });
                cleared = Some(to);
            }
            success.push(rpc::RequestOp {
                request: Some(Request::RequestPut(rpc::PutRequest {
                    key: key.clone(),
                    ..Default::default()
                })),
            });
            failure.push(rpc::RequestOp {
                request: Some(Request::RequestRange(rpc::RangeRequest {
                    key,
                    ..Default::default()
                })),
            });
        }
        let request = rpc::TxnRequest {
            compare,
            success,
            failure,
        };
        let response = self
            .call("txn", QUICK_TIMEOUT, |m| {
                let request = request.clone();
                async move { m.kv.clone().txn(request).await }
            })
            .await?;
        if let Some(to) = cleared.filter(|_| response.succeeded) {
            self.commits.cleared.fetch_max(to, Ordering::Relaxed);
        }
        // the record exists: an earlier attempt of this commit was applied, there
        let earlier = response
            .responses
            .iter()
            .filter_map(|r| match &r.response {
                Some(rpc::response_op::Response::ResponseRange(range)) => range.kvs.first(),
                _ => None,
            })
            .next();
        Ok(match earlier {
            Some(kv) if !response.succeeded => TxnResult {
                succeeded: true,
                revision: kv.mod_revision,
            },
            _ => TxnResult {
                succeeded: response.succeeded,
                revision: header_revision(response.header.as_ref()),
            },
        })
    }

    /// Reads `[key, range_end)` at `revision` (0: the current one).
    async fn read(
        &self,
        key: Vec<u8>,
        range_end: Vec<u8>,
        revision: Revision,
        count_only: bool,
    ) -> Result<rpc::RangeResponse, StoreError> {
        let request = rpc::RangeRequest {
            key,
            range_end,
            revision,
            count_only,
            ..Default::default()
        };
        // Counting is quick (a revision, a watch's start); a snapshot may be large.
        let timeout = if count_only {
            QUICK_TIMEOUT
        } else {
            REQUEST_TIMEOUT
        };
        self.call("range", timeout, |m| {
            let request = request.clone();
            async move { m.kv.clone().range(request).await }
        })
        .await
    }

    /// Opens an etcd watch that delivers every event from revision `next` on, or finds
    /// that `next` is compacted and returns etcd's compaction revision.
    ///
    /// After `Compact(c)` etcd still accepts a watch from `c`, but the deletions made at `c`
    /// are gone from its history; so the first revision this store offers is `c + 1`. The
    /// watch starts one revision early (`next - 1`), which etcd refuses exactly when `next`
    /// is compacted in that sense; the extra revision's events are dropped by the forwarder.
    ///
    /// etcd reports a refused start a while after the watch is created (its watchers sync in
    /// the background), so a read at the start revision decides at once: it fails exactly
    /// when the start revision is compacted.
    async fn open_watch(&self, prefix: &[u8], next: Revision) -> Result<Opened, StoreError> {
        let start = (next - 1).max(1);
        let (key, range_end) = span(prefix);
        let create = rpc::WatchRequest {
            request_union: Some(rpc::watch_request::RequestUnion::CreateRequest(
                rpc::WatchCreateRequest {
                    key: key.clone(),
                    range_end,
                    start_revision: start,
                    ..Default::default()
                },
            )),
        };
        let mut responses = self
            .call("watch", QUICK_TIMEOUT, |m| {
                // The request side stays open: closing it could end the watch.
                let requests =
                    futures::stream::iter([create.clone()]).chain(futures::stream::pending());
                async move { m.watch.clone().watch(requests).await }
            })
            .await?;
        loop {
            let response = self.watch_message(&mut responses).await?;
            if response.compact_revision > 0 {
                return Ok(Opened::Compacted(response.compact_revision));
            }
            if response.canceled {
                return Err(StoreError::Backend(format!(
                    "etcd refused the watch: {}",
                    response.cancel_reason
                )));
            }
            if response.created {
                break;
            }
        }
        match self.read(key, Vec::new(), start, true).await {
            Ok(_) => Ok(Opened::Stream(Box::new(responses))),
            // A watch from the future is fine: it waits.
            Err(StoreError::Backend(message)) if message.contains("future revision") => {
                Ok(Opened::Stream(Box::new(responses)))
            }
            Err(StoreError::Backend(message)) if message.contains("compacted") => loop {
                // etcd will now cancel the watch and say up to where it compacted.
                let response = self.watch_message(&mut responses).await?;
                if response.compact_revision > 0 {
                    return Ok(Opened::Compacted(response.compact_revision));
                }
            },
            Err(error) => Err(error),
        }
    }

    /// The next message of a watch being opened.
    async fn watch_message(
        &self,
        responses: &mut tonic::Streaming<rpc::WatchResponse>,
    ) -> Result<rpc::WatchResponse, StoreError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, responses.message()).await {
            Ok(Ok(Some(response))) => Ok(response),
            Ok(Ok(None)) => Err(StoreError::Backend(format!(
                "etcd watch at {}: the stream ended",
                self.endpoint()
            ))),
            Ok(Err(status)) => Err(failed(self.endpoint(), "watch", &status)),
            Err(_) => Err(StoreError::Backend(format!(
                "etcd watch at {}: no answer within {REQUEST_TIMEOUT:?}",
                self.endpoint()
            ))),
        }
    }
}

/// What [`EtcdStore::open_watch`] found.
enum Opened {
    Stream(Box<tonic::Streaming<rpc::WatchResponse>>),
    /// etcd's compaction revision.
    Compacted(Revision),
}

#[async_trait]
impl Store for EtcdStore {
    async fn range(&self, prefix: &[u8]) -> Result<Range, StoreError> {
        let (key, range_end) = span(prefix);
        let response = self.read(key, range_end, 0, false).await?;
        Ok(Range {
            revision: header_revision(response.header.as_ref()),
            kvs: response
                .kvs
                .into_iter()
                .filter(|kv| !internal(&kv.key))
                .map(key_value)
                .collect(),
        })
    }

    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        // etcd cannot hold the empty key (and refuses to look it up).
        if key.is_empty() || internal(key) {
            return Ok(None);
        }
        let response = self.read(key.to_vec(), Vec::new(), 0, false).await?;
        Ok(response.kvs.into_iter().next().map(key_value))
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResult, StoreError> {
        self.commit(
            txn.compares.into_iter().map(compare).collect(),
            net_ops(txn.ops),
        )
        .await
    }

    async fn watch(&self, prefix: &[u8], from: Revision) -> Result<Watch, StoreError> {
        let mut next = from.max(1);
        let responses = loop {
            match self.open_watch(prefix, next).await? {
                Opened::Stream(responses) => break responses,
                // 0 and 1 mean the oldest revision kept: start again from there.
                Opened::Compacted(compacted) if from <= 1 && compacted + 1 > next => {
                    next = compacted + 1;
                }
                Opened::Compacted(compacted) => {
                    return Err(StoreError::Compacted {
                        requested: from,
                        oldest: compacted + 1,
                    });
                }
            }
        };
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(forward(*responses, next, tx));
        Ok(rx)
    }

    fn shared(&self) -> bool {
        true
    }

    async fn compact_history(&self, revision: Revision) -> Result<(), StoreError> {
        self.compact(revision).await
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        let request = rpc::LeaseGrantRequest {
            ttl: i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX),
            id: 0,
        };
        let response = self
            .call("lease grant", QUICK_TIMEOUT, |m| async move {
                m.lease.clone().lease_grant(request).await
            })
            .await?;
        if !response.error.is_empty() {
            return Err(StoreError::Backend(format!(
                "etcd lease grant: {}",
                response.error
            )));
        }
        Ok(response.id)
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration, StoreError> {
        // One request on etcd's keep-alive stream, one answer, and the stream is dropped.
        let response = self
            .call("lease keep-alive", QUICK_TIMEOUT, |m| async move {
                let request = rpc::LeaseKeepAliveRequest { id: lease };
                let requests = futures::stream::iter([request]).chain(futures::stream::pending());
                let mut stream = m.lease.clone().lease_keep_alive(requests).await?;
                let first = stream.get_mut().message().await?;
                let meta = stream.metadata().clone();
                let answer = first
                    .ok_or_else(|| tonic::Status::unavailable("the keep-alive stream ended"))?;
                Ok(tonic::Response::from_parts(
                    meta,
                    answer,
                    tonic::Extensions::default(),
                ))
            })
            .await?;
        Ok(Duration::from_secs(
            u64::try_from(response.ttl).unwrap_or(0),
        ))
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.call("lease revoke", QUICK_TIMEOUT, |m| async move {
            m.lease
                .clone()
                .lease_revoke(rpc::LeaseRevokeRequest { id: lease })
                .await
        })
        .await?;
        Ok(())
    }

    async fn put_leased_if_absent(
        &self,
        key: &[u8],
        value: &[u8],
        lease: LeaseId,
    ) -> Result<TxnResult, StoreError> {
        use rpc::request_op::Request;
        self.commit(
            vec![compare(Compare::Value(key.to_vec(), None))],
            vec![rpc::RequestOp {
                request: Some(Request::RequestPut(rpc::PutRequest {
                    key: key.to_vec(),
                    value: value.to_vec(),
                    lease,
                    ..Default::default()
                })),
            }],
        )
        .await
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        // Any read answers with the current revision; one absent key is the cheapest.
        let response = self.read(vec![0], Vec::new(), 0, true).await?;
        Ok(header_revision(response.header.as_ref()))
    }
}

/// Passes a watch's events on from revision `next`, until the receiver is dropped (which
/// drops the gRPC stream and so cancels the etcd watch) or the watch fails.
async fn forward(
    mut responses: tonic::Streaming<rpc::WatchResponse>,
    mut next: Revision,
    tx: mpsc::Sender<Result<Event, StoreError>>,
) {
    loop {
        let message = tokio::select! {
            () = tx.closed() => return,
            message = responses.message() => message,
        };
        let response = match message {
            Ok(Some(response)) => response,
            Ok(None) => {
                let _ = tx
                    .send(Err(StoreError::Backend("etcd ended the watch".into())))
                    .await;
                return;
            }
            Err(status) => {
                let error = format!("etcd watch: {} ({:?})", status.message(), status.code());
                let _ = tx.send(Err(StoreError::Backend(error))).await;
                return;
            }
        };
        // A watcher that fell behind etcd's compaction is canceled with its revision.
        if response.compact_revision > 0 {
            let oldest = response.compact_revision + 1;
            let _ = tx
                .send(Err(StoreError::Compacted {
                    requested: next,
                    oldest,
                }))
                .await;
            return;
        }
        if response.canceled {
            let error = format!("etcd canceled the watch: {}", response.cancel_reason);
            let _ = tx.send(Err(StoreError::Backend(error))).await;
            return;
        }
        // etcd sends a revision's events together, so `next` moves per response.
        let mut last = None;
        for event in response.events {
            if event.kv.as_ref().is_some_and(|kv| internal(&kv.key)) {
                continue;
            }
            let event = event_of(event);
            let revision = match &event {
                Event::Put(kv) => kv.mod_revision,
                Event::Delete { revision, .. } => *revision,
            };
            if revision < next {
                continue;
            }
            last = Some(revision);
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        if let Some(last) = last {
            next = last + 1;
        }
    }
}

/// Whether a refusal means "try another member": it is down, or it lost its leader.
fn moves_on(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    ) || status.message().contains("no leader")
}

fn failed(endpoint: &str, what: &str, status: &tonic::Status) -> StoreError {
    let message = status.message();
    // etcd's limits are settings of the cluster: say which one.
    let hint = if message.contains("too many operations") {
        " (raise etcd's --max-txn-ops)"
    } else if message.contains("too large") {
        " (raise etcd's --max-request-bytes)"
    } else {
        ""
    };
    StoreError::Backend(format!(
        "etcd {what} at {endpoint}: {message} ({:?}){hint}",
        status.code()
    ))
}

fn header_revision(header: Option<&rpc::ResponseHeader>) -> Revision {
    header.map_or(0, |header| header.revision)
}

fn key_value(kv: pb::mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        value: kv.value,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
    }
}

fn event_of(event: pb::mvccpb::Event) -> Event {
    let kv = key_value(event.kv.unwrap_or_default());
    if event.r#type == pb::mvccpb::event::EventType::Delete as i32 {
        // A deletion's kv carries the key and the revision of the deletion.
        Event::Delete {
            key: kv.key,
            revision: kv.mod_revision,
        }
    } else {
        Event::Put(kv)
    }
}

fn compare(compare: Compare) -> rpc::Compare {
    use rpc::compare::{CompareResult, CompareTarget, TargetUnion};
    let (key, target, union) = match compare {
        // An absent key's mod_revision compares as 0 in etcd, as in the trait.
        Compare::ModRevision(key, revision) => {
            (key, CompareTarget::Mod, TargetUnion::ModRevision(revision))
        }
        // Only existing keys have version > 0.
        Compare::Value(key, None) => (key, CompareTarget::Version, TargetUnion::Version(0)),
        // etcd fails a value compare on an absent key, as the trait wants.
        Compare::Value(key, Some(value)) => (key, CompareTarget::Value, TargetUnion::Value(value)),
    };
    rpc::Compare {
        result: CompareResult::Equal as i32,
        target: target as i32,
        key,
        target_union: Some(union),
        range_end: Vec::new(),
    }
}

/// The keys `[start, end)`; `end: None` means no upper bound.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Keys {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Keys {
    /// The keys starting with `prefix` (etcd's prefix convention: the end is the prefix
    /// with its last byte below 0xff incremented, the bytes after it dropped).
    fn prefix(prefix: &[u8]) -> Keys {
        let end = prefix.iter().rposition(|&b| b < 0xff).map(|i| {
            let mut end = prefix[..=i].to_vec();
            end[i] += 1;
            end
        });
        Keys {
            start: prefix.to_vec(),
            end,
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// etcd's `(key, range_end)`: `range_end` "\0" means no upper bound, and the key may
    /// not be empty ("\0" is the smallest key etcd can hold).
    fn to_etcd(&self) -> (Vec<u8>, Vec<u8>) {
        let start = if self.start.is_empty() {
            vec![0]
        } else {
            self.start.clone()
        };
        (start, self.end.clone().unwrap_or_else(|| vec![0]))
    }
}

/// etcd's `(key, range_end)` for the keys under `prefix`.
fn span(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    Keys::prefix(prefix).to_etcd()
}

/// The trait's ops as etcd request ops with the same final state.
///
/// The trait applies ops in order, so one transaction may write a key several times (the
/// control plane commits many changes in one transaction, and they often touch the same
/// row). etcd refuses a transaction that puts a key twice, or puts a key one of its delete
/// ranges covers. So every op a later op overrides is dropped, and a prefix deletion is
/// split around the keys later ops put.
fn net_ops(ops: Vec<Op>) -> Vec<rpc::RequestOp> {
    use rpc::request_op::Request;
    // Keys whose final state a later op decides, and the ranges later ops delete.
    let mut decided = BTreeSet::<Vec<u8>>::new();
    let mut put_later = BTreeSet::<Vec<u8>>::new();
    let mut deleted_later = Vec::<Keys>::new();
    let mut out = Vec::new();
    for op in ops.into_iter().rev() {
        let overridden =
            |key: &[u8]| decided.contains(key) || deleted_later.iter().any(|k| k.contains(key));
        match op {
            Op::Put { key, value } => {
                if !overridden(&key) {
                    decided.insert(key.clone());
                    put_later.insert(key.clone());
                    out.push(Request::RequestPut(rpc::PutRequest {
                        key,
                        value,
                        ..Default::default()
                    }));
                }
            }
            Op::Delete { key } => {
                if !overridden(&key) {
                    decided.insert(key.clone());
                    out.push(Request::RequestDeleteRange(rpc::DeleteRangeRequest {
                        key,
                        ..Default::default()
                    }));
                }
            }
            Op::DeletePrefix { prefix } => {
                let keys = Keys::prefix(&prefix);
                for piece in split(&keys, &put_later).iter().rev() {
                    let (key, range_end) = piece.to_etcd();
                    out.push(Request::RequestDeleteRange(rpc::DeleteRangeRequest {
                        key,
                        range_end,
                        ..Default::default()
                    }));
                }
                deleted_later.push(keys);
            }
        }
    }
    out.reverse();
    out.into_iter()
        .map(|request| rpc::RequestOp {
            request: Some(request),
        })
        .collect()
}

/// `keys` without the given keys: the pieces in between, in order.
fn split(keys: &Keys, holes: &BTreeSet<Vec<u8>>) -> Vec<Keys> {
    let mut pieces = Vec::new();
    let mut start = keys.start.clone();
    for hole in holes.range(keys.start.clone()..) {
        if !keys.contains(hole) {
            break;
        }
        if start < *hole {
            pieces.push(Keys {
                start,
                end: Some(hole.clone()),
            });
        }
        // The smallest key after `hole`.
        start = hole.iter().copied().chain([0]).collect();
    }
    if keys.end.as_ref().is_none_or(|end| start < *end) {
        pieces.push(Keys {
            start,
            end: keys.end.clone(),
        });
    }
    pieces
}

/// An error with its causes (tonic's transport errors say little on their own).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper and tonic often repeat their cause in their own message
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records go once no commit before them is under way; each commit's key sorts by
    /// its number, so one range holds every finished record.
    #[test]
    fn finished_commit_records_are_cleared_below_the_oldest_open_one() {
        let c = Commits::new();
        assert_eq!(c.finished(), None);
        let (r0, r1, r2) = (c.open(), c.open(), c.open());
        assert_eq!(c.finished(), None, "nothing finished below commit 0");
        drop(r1);
        assert_eq!(c.finished(), None, "commit 0 is still under way");
        drop(r0);
        assert_eq!(c.finished(), Some((0, 2)));
        c.cleared.fetch_max(2, Ordering::Relaxed);
        drop(r2);
        // no commit open: the last records stay until the next commit clears them
        assert_eq!(c.finished(), None);
        let r3 = c.open();
        assert_eq!(c.finished(), Some((2, 3)));
        assert!(c.key(2) < c.key(3) && c.key(3) < c.key(16) && c.key(16) < c.key(1 << 40));
        assert!(internal(&c.key(r3.n)));
        assert!(!internal(b"/fort/region/x"));
    }

    fn keys(start: &[u8], end: Option<&[u8]>) -> Keys {
        Keys {
            start: start.to_vec(),
            end: end.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn prefix_ends_follow_etcd() {
        assert_eq!(span(b""), (vec![0], vec![0]));
        assert_eq!(span(b"a"), (b"a".to_vec(), b"b".to_vec()));
        assert_eq!(span(b"a/"), (b"a/".to_vec(), b"a0".to_vec()));
        assert_eq!(span(&[1, 0xff]), (vec![1, 0xff], vec![2]));
        assert_eq!(span(&[0xff, 0xff]), (vec![0xff, 0xff], vec![0]));
        assert!(Keys::prefix(&[0xff]).contains(&[0xff, 0xff, 0]));
        assert!(!Keys::prefix(b"ab").contains(b"b"));
    }

    #[test]
    fn split_leaves_out_the_holes() {
        let holes: BTreeSet<Vec<u8>> = [b"a".to_vec(), b"p/1".to_vec(), b"p/3".to_vec()].into();
        assert_eq!(
            split(&Keys::prefix(b"p/"), &holes),
            vec![
                keys(b"p/", Some(b"p/1")),
                keys(b"p/1\0", Some(b"p/3")),
                keys(b"p/3\0", Some(b"p0")),
            ]
        );
        assert_eq!(split(&Keys::prefix(b""), &holes)[0], keys(b"", Some(b"a")));
        // A hole at the very start, and nothing left after the last one.
        let holes: BTreeSet<Vec<u8>> = [b"k".to_vec()].into();
        assert_eq!(split(&keys(b"k", Some(b"k\0")), &holes), Vec::<Keys>::new());
    }

    fn shown(ops: Vec<Op>) -> Vec<String> {
        use rpc::request_op::Request;
        net_ops(ops)
            .into_iter()
            .map(|op| match op.request.unwrap() {
                Request::RequestPut(put) => format!(
                    "put {}={}",
                    String::from_utf8_lossy(&put.key),
                    String::from_utf8_lossy(&put.value)
                ),
                Request::RequestDeleteRange(del) => format!(
                    "del {}..{}",
                    String::from_utf8_lossy(&del.key),
                    String::from_utf8_lossy(&del.range_end)
                ),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn put(key: &str, value: &str) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn net_ops_keep_the_last_word_on_each_key() {
        let delete = |key: &str| Op::Delete { key: key.into() };
        let prefix = |prefix: &str| Op::DeletePrefix {
            prefix: prefix.into(),
        };
        assert_eq!(
            shown(vec![
                put("a", "1"),
                put("b", "1"),
                put("a", "2"),
                delete("b")
            ]),
            vec!["put a=2", "del b.."]
        );
        assert_eq!(
            shown(vec![
                delete("a"),
                put("a", "1"),
                put("c/1", "x"),
                prefix("c/")
            ]),
            vec!["put a=1", "del c/..c0"]
        );
        assert_eq!(
            shown(vec![put("p/2", "old"), prefix("p/"), put("p/2", "new")]),
            vec!["del p/..p/2", "del p/2\0..p0", "put p/2=new"]
        );
        // Nothing to merge: unchanged, in order.
        assert_eq!(
            shown(vec![put("x", "1"), delete("y"), prefix("z")]),
            vec!["put x=1", "del y..", "del z..{"]
        );
    }
}
