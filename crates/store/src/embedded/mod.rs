//! The embedded backend: a [`Store`] in one redb file of the data directory.
//!
//! Tables:
//! * `kv`: key → its record (`create_revision`, `mod_revision`, `version`, value);
//! * `log`: revision → the events of that revision, for watchers; only the last
//!   [`EmbeddedOptions::history`] revisions are kept;
//! * `meta`: the current revision and the highest revision compacted out of the log.
//!
//! Writes go through one writer thread that commits them in groups (see `writer.rs`), every
//! commit with redb's immediate durability (fsync) unless [`EmbeddedOptions::durable`] is off.
//! Reads are redb read transactions on the blocking thread pool: they see the last commit
//! and never wait for the writer.

mod codec;
mod watch;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{broadcast, mpsc, oneshot};

use writer::Request;

use crate::{Compare, KeyValue, Op, Range, Revision, Store, StoreError, Txn, TxnResult, Watch};

pub(crate) const KV: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("kv");
pub(crate) const LOG: TableDefinition<'static, u64, &'static [u8]> = TableDefinition::new("log");
pub(crate) const META: TableDefinition<'static, &'static str, u64> = TableDefinition::new("meta");
pub(crate) const REVISION: &str = "revision";
pub(crate) const COMPACTED: &str = "compacted";

/// Settings of an [`EmbeddedStore`].
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// How many of the latest revisions the change log keeps for watchers (at least 1). A
    /// watch from an older revision fails with [`StoreError::Compacted`].
    pub history: u64,
    /// Whether every commit is fsynced before `txn` returns (redb's immediate durability).
    /// Turn it off only in tests: acknowledged writes may then be lost in a crash.
    pub durable: bool,
    /// How many queued transactions the writer commits together at most.
    pub max_batch: usize,
    /// How many transactions may wait for the writer before `txn` callers wait to queue.
    pub queue: usize,
    /// How many committed batches the live broadcast keeps for slow watchers; one that falls
    /// further behind catches up from the log on disk.
    pub broadcast: usize,
    /// Capacity of each watch stream (events).
    pub watch_buffer: usize,
    /// redb's page cache, in bytes (`None`: redb's default).
    pub cache_size: Option<usize>,
    /// The largest transaction `txn` accepts, counting its keys, values and prefixes; a
    /// larger one fails with [`StoreError::Backend`] without reaching the writer.
    pub max_txn_bytes: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            history: 100_000,
            durable: true,
            max_batch: 1024,
            queue: 4096,
            broadcast: 1024,
            watch_buffer: 1024,
            cache_size: None,
            max_txn_bytes: 64 << 20,
        }
    }
}

/// Counters of an [`EmbeddedStore`]'s writer since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    /// Transactions answered (succeeded or not).
    pub txns: u64,
    /// Groups of transactions the writer took from its queue at once.
    pub batches: u64,
    /// redb commits (fsyncs): the batches that wrote something.
    pub commits: u64,
}

/// State shared by the handle, the writer thread and the watchers.
pub(crate) struct Shared {
    db: Database,
    txns: AtomicU64,
    batches: AtomicU64,
    commits: AtomicU64,
}

/// The embedded [`Store`]: a redb file, written by one group-committing writer thread.
///
/// Dropping it stops the writer once the transactions already queued are committed; the file
/// is closed when the last reader and watcher are done. [`EmbeddedStore::close`] waits for
/// all of that.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    live: broadcast::Sender<writer::Batch>,
    writer: Option<std::thread::JoinHandle<()>>,
    path: Option<PathBuf>,
    watch_buffer: usize,
    max_txn_bytes: usize,
}

impl fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens the store in the file at `path` (e.g. `DATA_DIR/store.redb`), creating it (and
    /// its directory) if missing. This blocks: after a crash, redb repairs the file here,
    /// which reads all of it. One process at a time may have the file open; a second open
    /// fails with [`StoreError::Backend`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, EmbeddedOptions::default())
    }

    /// [`EmbeddedStore::open`] with settings.
    pub fn open_with(path: &Path, options: EmbeddedOptions) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        let db = builder(&options).create(path).map_err(backend)?;
        Self::start(db, Some(path.to_path_buf()), options)
    }

    /// A store in memory, lost when dropped: for tests of the code above the store.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::in_memory_with(EmbeddedOptions::default())
    }

    /// [`EmbeddedStore::in_memory`] with settings.
    pub fn in_memory_with(options: EmbeddedOptions) -> Result<Self, StoreError> {
        let db = builder(&options)
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(backend)?;
        Self::start(db, None, options)
    }

    fn start(
        db: Database,
        path: Option<PathBuf>,
        options: EmbeddedOptions,
    ) -> Result<Self, StoreError> {
        let (revision, compacted) = writer::init(&db)?;
        let shared = Arc::new(Shared {
            db,
            txns: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        });
        let (requests, queue) = mpsc::channel(options.queue.max(1));
        let (live, _) = broadcast::channel(options.broadcast.max(1));
        let writer = writer::Writer {
            shared: shared.clone(),
            requests: queue,
            events: live.clone(),
            revision,
            compacted,
            history: options.history.max(1),
            max_batch: options.max_batch.max(1),
            durable: options.durable,
        };
        let writer = std::thread::Builder::new()
            .name("fort-store-writer".into())
            .spawn(move || writer.run())
            .map_err(backend)?;
        Ok(EmbeddedStore {
            shared,
            requests,
            live,
            writer: Some(writer),
            path,
            watch_buffer: options.watch_buffer.max(1),
            max_txn_bytes: options.max_txn_bytes,
        })
    }

    /// Stops the writer after the queued transactions, ends the watch streams, waits for the
    /// reads in flight and closes the file, so that it can be opened again at once.
    pub async fn close(mut self) -> Result<(), StoreError> {
        let writer = self.writer.take();
        let shared = self.shared.clone();
        drop(self);
        if let Some(writer) = writer {
            tokio::task::spawn_blocking(move || writer.join())
                .await
                .map_err(backend)?
                .map_err(|_| StoreError::Backend("the writer thread panicked".into()))?;
        }
        // The watchers hold weak references and the reads strong ones for a moment only.
        let mut shared = shared;
        let shared = loop {
            match Arc::try_unwrap(shared) {
                Ok(shared) => break shared,
                Err(again) => {
                    shared = again;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        tokio::task::spawn_blocking(move || shared.db.close())
            .await
            .map_err(backend)?
            .map_err(backend)
    }

    /// The writer's counters.
    pub fn stats(&self) -> EmbeddedStats {
        EmbeddedStats {
            txns: self.shared.txns.load(Ordering::Relaxed),
            batches: self.shared.batches.load(Ordering::Relaxed),
            commits: self.shared.commits.load(Ordering::Relaxed),
        }
    }

    /// Runs a read on the blocking pool.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || read(&shared))
            .await
            .map_err(backend)?
    }
}

fn builder(options: &EmbeddedOptions) -> redb::Builder {
    let mut builder = redb::Builder::new();
    if let Some(bytes) = options.cache_size {
        builder.set_cache_size(bytes);
    }
    builder
}

/// The bytes a transaction carries: its keys, values and prefixes.
fn txn_size(txn: &Txn) -> usize {
    let compares: usize = txn
        .compares
        .iter()
        .map(|compare| match compare {
            Compare::ModRevision(key, _) => key.len(),
            Compare::Value(key, value) => key.len() + value.as_ref().map_or(0, Vec::len),
        })
        .sum();
    let ops: usize = txn
        .ops
        .iter()
        .map(|op| match op {
            Op::Put { key, value } => key.len() + value.len(),
            Op::Delete { key } => key.len(),
            Op::DeletePrefix { prefix } => prefix.len(),
        })
        .sum();
    compares + ops
}

pub(crate) fn backend(error: impl fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

impl Shared {
    fn revision_and_compacted(
        meta: &impl ReadableTable<&'static str, u64>,
    ) -> Result<(Revision, Revision), StoreError> {
        let read = |name| -> Result<Revision, StoreError> {
            Ok(meta
                .get(name)
                .map_err(backend)?
                .map_or(0, |v| v.value() as Revision))
        };
        Ok((read(REVISION)?, read(COMPACTED)?))
    }

    fn range(&self, prefix: &[u8]) -> Result<Range, StoreError> {
        let rtx = self.db.begin_read().map_err(backend)?;
        let meta = rtx.open_table(META).map_err(backend)?;
        let (revision, _) = Self::revision_and_compacted(&meta)?;
        let kv = rtx.open_table(KV).map_err(backend)?;
        let mut kvs = Vec::new();
        for item in kv.range(prefix..).map_err(backend)? {
            let (key, record) = item.map_err(backend)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            kvs.push(codec::decode_kv(key.value(), record.value())?);
        }
        Ok(Range { kvs, revision })
    }

    fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        let rtx = self.db.begin_read().map_err(backend)?;
        let kv = rtx.open_table(KV).map_err(backend)?;
        let record = kv.get(key).map_err(backend)?;
        record
            .map(|record| codec::decode_kv(key, record.value()))
            .transpose()
    }

    fn revision(&self) -> Result<(Revision, Revision), StoreError> {
        let rtx = self.db.begin_read().map_err(backend)?;
        let meta = rtx.open_table(META).map_err(backend)?;
        Self::revision_and_compacted(&meta)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn range(&self, prefix: &[u8]) -> Result<Range, StoreError> {
        let prefix = prefix.to_vec();
        self.read(move |shared| shared.range(&prefix)).await
    }

    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        let key = key.to_vec();
        self.read(move |shared| shared.get(&key)).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResult, StoreError> {
        let size = txn_size(&txn);
        if size > self.max_txn_bytes {
            return Err(StoreError::Backend(format!(
                "transaction of {size} bytes is over the limit of {}",
                self.max_txn_bytes
            )));
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { txn, reply })
            .await
            .map_err(|_| StoreError::Backend("store closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the store's writer stopped".into()))?
    }

    async fn watch(&self, prefix: &[u8], from: Revision) -> Result<Watch, StoreError> {
        // Subscribe before anything is read: see watch.rs.
        let live = self.live.subscribe();
        let (_, compacted) = self.read(|shared| shared.revision()).await?;
        let oldest = compacted + 1;
        let next = if from <= 1 { oldest } else { from };
        if next < oldest {
            return Err(StoreError::Compacted {
                requested: from,
                oldest,
            });
        }
        let (tx, rx) = mpsc::channel(self.watch_buffer);
        let watcher = watch::Watcher {
            shared: Arc::downgrade(&self.shared),
            live,
            prefix: prefix.to_vec(),
            next,
            tx,
        };
        tokio::spawn(watcher.run());
        Ok(rx)
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        Ok(self.read(|shared| shared.revision()).await?.0)
    }
}

#[cfg(test)]
mod tests;
