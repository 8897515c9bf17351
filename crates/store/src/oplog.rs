//! A replicated operation log in the store: how services that keep their data in local files
//! (CloudWatch Logs' redb, S3's object files) share it among several `fort server`s on one
//! etcd, and lose no acknowledged write when a server (and its disk) dies.
//!
//! Each write is an operation (the service's request, encoded by the service, with the
//! clock reading and ids it needs so that applying it is deterministic) committed to etcd
//! under `PREFIX/op/…` before it is acknowledged. Every server applies every operation, in
//! etcd revision order, to a local copy of the service's state, which it rebuilds from the
//! log when it starts; the writer answers its client with the outcome of its own
//! application. A replicated state machine, as Fort's control plane is: etcd orders and
//! keeps the log, the servers only follow it. Bodies larger than [`INLINE_BYTES`] (object
//! bodies, big log batches) go to `PREFIX/blob/NAME/NNNNNNNN` keys of at most
//! [`CHUNK_BYTES`] each, well below etcd's 1.5 MiB request limit, written before the
//! operation that names them.
//!
//! Reads are linearizable: a reader first reads `PREFIX/head` (written by every operation's
//! transaction, so its `mod_revision` is the last operation's revision) and waits until
//! its server has applied that far: whatever was acknowledged anywhere before the read
//! began is seen.
//!
//! The log forgets what no longer matters: applying an operation tells which earlier ones
//! it made redundant (an object deleted, a log group gone: see [`crate::lineage`]), and
//! every server deletes those from the store, oldest first, so that a deletion stopped
//! part way (a server lost) still leaves a log that replays to the same state. What the
//! live operations hold is bounded by a byte quota, beyond which writes are refused
//! ([`OpLogError::Quota`]) — each service answers that in its protocol.
//!
//! The calls that wait ([`OpLog::propose`], [`OpLog::barrier`]) block their thread: they are
//! for the services' blocking code (run under `spawn_blocking`), never an async task.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

pub use crate::lineage::OpId;
use crate::{KeyValue, Op, Revision, Store, StoreError, Txn};

/// Retired operations deleted per transaction (each takes two of etcd's 128 operations).
const DELETE_BATCH: usize = 50;
/// Operations up to this size are stored whole in their log entry.
pub const INLINE_BYTES: usize = 64 << 10;
/// The size of one blob chunk: one etcd request each, far below its 1.5 MiB default.
pub const CHUNK_BYTES: usize = 1 << 20;
/// How long a writer waits for its own operation to be applied, and a reader for its server
/// to catch up, before answering that the service is unavailable.
const WAIT: Duration = Duration::from_secs(30);

/// The state a log is applied to.
pub trait Replica: Send + Sync + 'static {
    /// What applying an operation gives back to the server that wrote it.
    type Outcome: Send + 'static;
    /// Applies operation `id` (`op` as the service encoded it, with its `blob`). Must be
    /// deterministic: every server applies the same operations in the same order, and
    /// must retire the same ones.
    fn apply(&self, id: &OpId, op: &[u8], blob: Vec<u8>) -> Applied<Self::Outcome>;
}

/// What applying an operation gave: its outcome, and the operations (it among them,
/// perhaps) that replaying the log no longer needs.
pub struct Applied<O> {
    pub outcome: O,
    pub retired: Vec<OpId>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpLogError {
    /// The log holds its quota of bytes.
    #[error("the store's quota for this service is used up ({used} of {quota} bytes)")]
    Quota { used: u64, quota: u64 },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("this server has not applied the log within {0:?}")]
    Timeout(Duration),
    #[error("a log entry is malformed: {0}")]
    Malformed(String),
}

struct State<R> {
    /// The revision of the last operation applied here.
    applied: Revision,
    /// Bytes the live applied operations hold in the store.
    bytes: u64,
    /// The live applied operations: revision and bytes.
    live: HashMap<OpId, (Revision, u64)>,
    /// Retired operations still to delete from the store, a retirement each, oldest
    /// first within it.
    retired: VecDeque<Vec<OpId>>,
    /// Outcomes awaited by this server's writers, by operation key.
    outcomes: HashMap<Vec<u8>, Option<R>>,
}

struct Inner<R> {
    store: Arc<dyn Store>,
    prefix: Vec<u8>,
    handle: tokio::runtime::Handle,
    /// Unique to this process: operation names are `ME-COUNTER`.
    me: String,
    next: AtomicU64,
    quota: u64,
    state: Mutex<State<R>>,
    changed: Condvar,
}

/// A service's operation log under one prefix of the store (`/fort/logs/`, `/fort/s3/`).
pub struct OpLog<R> {
    inner: Arc<Inner<R>>,
}

impl<R> std::fmt::Debug for OpLog<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLog")
            .field("prefix", &String::from_utf8_lossy(&self.inner.prefix))
            .field("quota", &self.inner.quota)
            .finish_non_exhaustive()
    }
}

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// An entry: `0`, the op's length (u64 BE), op and blob; or `1`, the op's length, the total
/// length (u64 BE) and the number of chunks (u32 BE), the bytes being in the chunks.
fn encode_inline(op: &[u8], blob: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(9 + op.len() + blob.len());
    v.push(0);
    v.extend_from_slice(&(op.len() as u64).to_be_bytes());
    v.extend_from_slice(op);
    v.extend_from_slice(blob);
    v
}

enum Entry {
    Inline {
        op_len: usize,
        bytes: Vec<u8>,
    },
    Chunked {
        op_len: usize,
        total: usize,
        chunks: u32,
    },
}

fn decode(value: &[u8]) -> Result<Entry, OpLogError> {
    let bad = || OpLogError::Malformed(format!("{} bytes", value.len()));
    let (&tag, rest) = value.split_first().ok_or_else(bad)?;
    let word = |b: &[u8]| -> Result<usize, OpLogError> {
        let a: [u8; 8] = b.try_into().map_err(|_| bad())?;
        usize::try_from(u64::from_be_bytes(a)).map_err(|_| bad())
    };
    match tag {
        0 if rest.len() >= 8 => {
            let op_len = word(&rest[..8])?;
            if op_len > rest.len() - 8 {
                return Err(bad());
            }
            Ok(Entry::Inline {
                op_len,
                bytes: rest[8..].to_vec(),
            })
        }
        1 if rest.len() == 20 => {
            let op_len = word(&rest[..8])?;
            let total = word(&rest[8..16])?;
            let chunks = u32::from_be_bytes(rest[16..20].try_into().map_err(|_| bad())?);
            if op_len > total {
                return Err(bad());
            }
            Ok(Entry::Chunked {
                op_len,
                total,
                chunks,
            })
        }
        _ => Err(bad()),
    }
}

impl<R: Send + 'static> OpLog<R> {
    /// A log under `prefix` (ending in `/`), holding at most `quota` bytes. Nothing runs
    /// until [`OpLog::start`].
    pub fn new(store: Arc<dyn Store>, prefix: &str, quota: u64) -> Result<Self, OpLogError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            OpLogError::Store(StoreError::Backend(format!("no tokio runtime: {e}")))
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(OpLog {
            inner: Arc::new(Inner {
                store,
                prefix: prefix.as_bytes().to_vec(),
                handle,
                me: format!("{:x}-{nanos:x}", std::process::id()),
                next: AtomicU64::new(0),
                quota,
                state: Mutex::new(State {
                    applied: 0,
                    bytes: 0,
                    live: HashMap::new(),
                    retired: VecDeque::new(),
                    outcomes: HashMap::new(),
                }),
                changed: Condvar::new(),
            }),
        })
    }

    /// Applies the whole log to `replica` (which starts empty), then follows it in a
    /// task that ends when `replica` is dropped.
    pub async fn start<T: Replica<Outcome = R>>(&self, replica: Weak<T>) -> Result<(), OpLogError> {
        let inner = self.inner.clone();
        let revision = catch_up(&inner, &replica).await?;
        tokio::spawn(async move { follow(inner, replica, revision + 1).await });
        Ok(())
    }

    /// The bytes the log holds.
    pub fn used_bytes(&self) -> u64 {
        self.inner.lock().bytes
    }

    /// Commits an operation and waits for this server to apply it: its outcome. Blocks.
    pub fn propose(&self, op: &[u8], blob: &[u8]) -> Result<R, OpLogError> {
        let inner = &self.inner;
        let size = (op.len() + blob.len()) as u64;
        let used = inner.lock().bytes;
        if used.saturating_add(size) > inner.quota {
            return Err(OpLogError::Quota {
                used,
                quota: inner.quota,
            });
        }
        let name = format!(
            "{}-{:016x}",
            inner.me,
            inner.next.fetch_add(1, Ordering::Relaxed)
        );
        let op_key = key(&inner.prefix, &[b"op/", name.as_bytes()]);
        let value = if op.len() + blob.len() <= INLINE_BYTES {
            encode_inline(op, blob)
        } else {
            let mut all = Vec::with_capacity(op.len() + blob.len());
            all.extend_from_slice(op);
            all.extend_from_slice(blob);
            let mut n = 0u32;
            for chunk in all.chunks(CHUNK_BYTES) {
                let k = key(
                    &inner.prefix,
                    &[b"blob/", name.as_bytes(), format!("/{n:08x}").as_bytes()],
                );
                let put = Txn {
                    compares: vec![],
                    ops: vec![Op::Put {
                        key: k,
                        value: chunk.to_vec(),
                    }],
                };
                inner.handle.block_on(inner.store.txn(put))?;
                n += 1;
            }
            let mut v = vec![1];
            v.extend_from_slice(&(op.len() as u64).to_be_bytes());
            v.extend_from_slice(&(all.len() as u64).to_be_bytes());
            v.extend_from_slice(&n.to_be_bytes());
            v
        };
        inner.lock().outcomes.insert(op_key.clone(), None);
        let txn = Txn {
            compares: vec![],
            ops: vec![
                Op::Put {
                    key: op_key.clone(),
                    value,
                },
                Op::Put {
                    key: key(&inner.prefix, &[b"head"]),
                    value: name.into_bytes(),
                },
            ],
        };
        let committed = inner.handle.block_on(inner.store.txn(txn));
        let revision = match committed {
            Ok(r) => r.revision,
            Err(e) => {
                inner.lock().outcomes.remove(&op_key);
                return Err(e.into());
            }
        };
        let mut state = inner.wait_applied(revision);
        let outcome = state.outcomes.remove(&op_key).flatten();
        drop(state);
        outcome.ok_or(OpLogError::Timeout(WAIT))
    }

    /// Waits until this server has applied every operation committed before the call. Blocks.
    pub fn barrier(&self) -> Result<(), OpLogError> {
        let inner = &self.inner;
        let head = inner
            .handle
            .block_on(inner.store.get(&key(&inner.prefix, &[b"head"])))?;
        let target = head.map_or(0, |kv| kv.mod_revision);
        let state = inner.wait_applied(target);
        if state.applied >= target {
            Ok(())
        } else {
            Err(OpLogError::Timeout(WAIT))
        }
    }
}

impl<R> Inner<R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state once `revision` is applied, or after [`WAIT`].
    fn wait_applied(&self, revision: Revision) -> std::sync::MutexGuard<'_, State<R>> {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, WAIT, |s| s.applied < revision)
            .unwrap_or_else(|p| p.into_inner());
        guard
    }
}

/// Applies every operation not applied yet; the revision the log was read at.
async fn catch_up<T: Replica>(
    inner: &Arc<Inner<T::Outcome>>,
    replica: &Weak<T>,
) -> Result<Revision, OpLogError> {
    let range = inner.store.range(&key(&inner.prefix, &[b"op/"])).await?;
    let mut kvs = range.kvs;
    kvs.sort_by_key(|kv| kv.mod_revision);
    for kv in kvs {
        apply_one(inner, replica, kv).await?;
    }
    // everything up to the range's revision is applied, or was deleted (retired) before
    // it: the last operations may be gone
    advance(inner, range.revision);
    forget(inner).await;
    Ok(range.revision)
}

/// Follows the log from `from`; on any failure (a lost connection, a compacted watch),
/// reads the log again and goes on.
async fn follow<T: Replica>(inner: Arc<Inner<T::Outcome>>, replica: Weak<T>, mut from: Revision) {
    let prefix = key(&inner.prefix, &[b"op/"]);
    loop {
        if replica.strong_count() == 0 {
            return;
        }
        let result: Result<(), OpLogError> = async {
            let mut watch = inner.store.watch(&prefix, from).await?;
            loop {
                let event = tokio::select! {
                    e = watch.recv() => e,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        if replica.strong_count() == 0 {
                            return Ok(());
                        }
                        // what a failed deletion left
                        forget(&inner).await;
                        continue;
                    }
                };
                match event {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(crate::Event::Put(kv))) => {
                        from = kv.mod_revision + 1;
                        apply_one(&inner, &replica, kv).await?;
                        forget(&inner).await;
                    }
                    Some(Ok(crate::Event::Delete { revision, .. })) => {
                        from = revision + 1;
                        advance(&inner, revision);
                    }
                }
            }
        }
        .await;
        if replica.strong_count() == 0 {
            return;
        }
        if let Err(e) = result {
            tracing::warn!(prefix = %String::from_utf8_lossy(&inner.prefix), error = %e, "following the operation log");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match catch_up(&inner, &replica).await {
            Ok(r) => from = r + 1,
            Err(e) => {
                tracing::warn!(error = %e, "reading the operation log");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Everything up to `revision` is applied (what is left of it in the store).
fn advance<R>(inner: &Inner<R>, revision: Revision) {
    let mut state = inner.lock();
    if state.applied < revision {
        state.applied = revision;
        drop(state);
        inner.changed.notify_all();
    }
}

/// Applies one entry unless already applied.
async fn apply_one<T: Replica>(
    inner: &Arc<Inner<T::Outcome>>,
    replica: &Weak<T>,
    kv: KeyValue,
) -> Result<(), OpLogError> {
    if kv.mod_revision <= inner.lock().applied {
        return Ok(());
    }
    match read_entry(inner, &kv).await {
        Ok(Some((op_len, bytes))) => apply_entry(inner, replica, &kv, op_len, bytes).await,
        // deleted since this server read the log: retired by a later operation, whose
        // effect covers it (the deletions go oldest first)
        Ok(None) => {
            advance(inner, kv.mod_revision);
            Ok(())
        }
        Err(OpLogError::Malformed(e)) => {
            // Nothing can ever apply it: skipped, on every server alike.
            tracing::error!(key = %String::from_utf8_lossy(&kv.key), error = %e, "operation skipped");
            apply_entry(inner, replica, &kv, 0, Vec::new()).await
        }
        Err(e) => Err(e),
    }
}

/// An entry's operation length and bytes (operation then blob), its chunks read; `None`
/// if the operation was deleted (retired) meanwhile, its chunks with it.
async fn read_entry<R>(
    inner: &Inner<R>,
    kv: &KeyValue,
) -> Result<Option<(usize, Vec<u8>)>, OpLogError> {
    Ok(Some(match decode(&kv.value)? {
        Entry::Inline { op_len, bytes } => (op_len, bytes),
        Entry::Chunked {
            op_len,
            total,
            chunks,
        } => {
            let name = &kv.key[inner.prefix.len() + 3..];
            let mut all = Vec::with_capacity(total);
            for n in 0..chunks {
                let k = key(
                    &inner.prefix,
                    &[b"blob/", name, format!("/{n:08x}").as_bytes()],
                );
                match inner.store.get(&k).await? {
                    Some(c) => all.extend_from_slice(&c.value),
                    None if inner.store.get(&kv.key).await?.is_none() => return Ok(None),
                    None => {
                        return Err(OpLogError::Malformed(format!(
                            "chunk {} missing",
                            String::from_utf8_lossy(&k)
                        )));
                    }
                }
            }
            if all.len() != total {
                return Err(OpLogError::Malformed(format!(
                    "{} bytes of chunks, {total} expected",
                    all.len()
                )));
            }
            (op_len, all)
        }
    }))
}

async fn apply_entry<T: Replica>(
    inner: &Arc<Inner<T::Outcome>>,
    replica: &Weak<T>,
    kv: &KeyValue,
    op_len: usize,
    bytes: Vec<u8>,
) -> Result<(), OpLogError> {
    let Some(target) = replica.upgrade() else {
        return Ok(());
    };
    let size = bytes.len() as u64;
    let id = OpId::new(&String::from_utf8_lossy(&kv.key[inner.prefix.len() + 3..]));
    let applied = if bytes.is_empty() && op_len == 0 {
        None
    } else {
        let id = id.clone();
        Some(
            tokio::task::spawn_blocking(move || {
                let mut bytes = bytes;
                let blob = bytes.split_off(op_len);
                target.apply(&id, &bytes, blob)
            })
            .await
            .map_err(|e| OpLogError::Store(StoreError::Backend(format!("applying: {e}"))))?,
        )
    };
    let mut state = inner.lock();
    state.applied = kv.mod_revision;
    let (outcome, retired) = match applied {
        Some(a) => {
            state.bytes += size;
            state.live.insert(id, (kv.mod_revision, size));
            (Some(a.outcome), a.retired)
        }
        // malformed: applied nowhere, so nothing needs it
        None => (None, vec![id]),
    };
    if !retired.is_empty() {
        let mut gone: Vec<(Revision, OpId)> = retired
            .into_iter()
            .map(|r| match state.live.remove(&r) {
                Some((revision, size)) => {
                    state.bytes = state.bytes.saturating_sub(size);
                    (revision, r)
                }
                None => (kv.mod_revision, r),
            })
            .collect();
        gone.sort();
        state
            .retired
            .push_back(gone.into_iter().map(|(_, r)| r).collect());
    }
    if let Some(slot) = state.outcomes.get_mut(&kv.key) {
        *slot = outcome;
    }
    drop(state);
    inner.changed.notify_all();
    Ok(())
}

/// Deletes the retired operations (and their chunks) from the store, a retirement at a
/// time and oldest first within it, so that whatever a failure leaves still replays the
/// same. Every server does it (deleting what another deleted costs etcd nothing): the
/// order holds even when the server that would have done it is lost. Stops at the first
/// failure, to go on later from there.
async fn forget<R>(inner: &Inner<R>) {
    loop {
        let Some(batch) = inner.lock().retired.front().cloned() else {
            return;
        };
        for names in batch.chunks(DELETE_BATCH) {
            let mut ops = Vec::with_capacity(2 * names.len());
            for n in names {
                ops.push(Op::Delete {
                    key: key(&inner.prefix, &[b"op/", n.as_str().as_bytes()]),
                });
                ops.push(Op::DeletePrefix {
                    prefix: key(&inner.prefix, &[b"blob/", n.as_str().as_bytes(), b"/"]),
                });
            }
            let txn = Txn {
                compares: vec![],
                ops,
            };
            if let Err(e) = inner.store.txn(txn).await {
                tracing::warn!(error = %e, "deleting retired operations: later");
                return;
            }
        }
        inner.lock().retired.pop_front();
    }
}
