//! The writer thread: group commit.
//!
//! Every `txn` is queued to this one thread. It takes everything pending (up to
//! `max_batch`), evaluates the transactions one after the other inside a single redb write
//! transaction (each sees the effects of the ones before it, each that writes gets its own
//! revision, a failed compare writes nothing), commits once (one fsync for the whole batch),
//! publishes the batch's events to the watchers, then answers every caller. A batch that
//! writes nothing is not committed at all.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::codec::{self, Meta};
use super::{COMPACTED, KV, LOG, META, REVISION, Shared, backend};
use crate::{Compare, Event, KeyValue, Op, Revision, StoreError, Txn, TxnResult};

/// One queued transaction and where to send its outcome.
pub(crate) struct Request {
    pub txn: Txn,
    pub reply: oneshot::Sender<Result<TxnResult, StoreError>>,
}

/// The events of one revision.
#[derive(Debug)]
pub(crate) struct LogEntry {
    pub revision: Revision,
    pub events: Vec<Event>,
}

/// What the writer publishes after each commit: the entries of the batch, in order.
pub(crate) type Batch = Arc<Vec<LogEntry>>;

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub requests: mpsc::Receiver<Request>,
    pub events: broadcast::Sender<Batch>,
    /// The last committed revision.
    pub revision: Revision,
    /// The highest revision removed from the log (0: none).
    pub compacted: Revision,
    pub history: u64,
    pub max_batch: usize,
    pub durable: bool,
}

impl Writer {
    pub fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = self.requests.blocking_recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match self.requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.process(&mut batch);
        }
        tracing::debug!("embedded store writer stopped");
    }

    fn process(&mut self, batch: &mut Vec<Request>) {
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        self.shared
            .txns
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        // A panic must not take the store down: the write transaction unwinds (aborts) and
        // the batch fails like an I/O error would.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.apply_batch(batch)))
                .unwrap_or_else(|_| Err(StoreError::Backend("the store's writer panicked".into())));
        match outcome {
            Ok((results, entries)) => {
                if !entries.is_empty() {
                    // Nobody listening is fine: watchers also read the log.
                    let _ = self.events.send(Arc::new(entries));
                }
                for (request, result) in batch.drain(..).zip(results) {
                    let _ = request.reply.send(Ok(result));
                }
            }
            Err(error) => {
                tracing::error!(%error, "embedded store: write batch failed");
                for request in batch.drain(..) {
                    let _ = request
                        .reply
                        .send(Err(StoreError::Backend(error.to_string())));
                }
            }
        }
    }

    /// Evaluates the batch in one write transaction and commits it if anything was written.
    fn apply_batch(
        &mut self,
        batch: &[Request],
    ) -> Result<(Vec<TxnResult>, Vec<LogEntry>), StoreError> {
        let mut wtx = self.shared.db.begin_write().map_err(backend)?;
        if !self.durable {
            wtx.set_durability(Durability::None).map_err(backend)?;
        }
        let mut revision = self.revision;
        let mut compacted = self.compacted;
        let mut results = Vec::with_capacity(batch.len());
        let mut entries = Vec::new();
        {
            let mut kv = wtx.open_table(KV).map_err(backend)?;
            let mut log = wtx.open_table(LOG).map_err(backend)?;
            for request in batch {
                let events = apply_txn(&mut kv, &request.txn, revision + 1)?;
                let Some(events) = events else {
                    results.push(TxnResult {
                        succeeded: false,
                        revision,
                    });
                    continue;
                };
                if !events.is_empty() {
                    revision += 1;
                    let mut entry = Vec::new();
                    for event in &events {
                        codec::encode_event(&mut entry, event);
                    }
                    log.insert(revision as u64, entry.as_slice())
                        .map_err(backend)?;
                    entries.push(LogEntry { revision, events });
                }
                results.push(TxnResult {
                    succeeded: true,
                    revision,
                });
            }
            if entries.is_empty() {
                drop((kv, log));
                wtx.abort().map_err(backend)?;
                return Ok((results, entries));
            }
            // Keep the last `history` revisions of the log.
            let keep_from = revision - self.history as i64 + 1;
            if keep_from - 1 > compacted {
                compacted = keep_from - 1;
                log.retain_in(..=(compacted as u64), |_, _| false)
                    .map_err(backend)?;
            }
            let mut meta = wtx.open_table(META).map_err(backend)?;
            meta.insert(REVISION, revision as u64).map_err(backend)?;
            meta.insert(COMPACTED, compacted as u64).map_err(backend)?;
        }
        commit(wtx)?;
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        self.revision = revision;
        self.compacted = compacted;
        Ok((results, entries))
    }
}

fn commit(wtx: WriteTransaction) -> Result<(), StoreError> {
    wtx.commit().map_err(backend)
}

type KvTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// Evaluates one transaction at `revision`: `None` if a compare failed, else its events (empty
/// if it changed nothing).
fn apply_txn(
    kv: &mut KvTable<'_>,
    txn: &Txn,
    revision: Revision,
) -> Result<Option<Vec<Event>>, StoreError> {
    for compare in &txn.compares {
        if !holds(kv, compare)? {
            return Ok(None);
        }
    }
    let mut events = Vec::new();
    for op in &txn.ops {
        match op {
            Op::Put { key, value } => {
                let old = match kv.get(key.as_slice()).map_err(backend)? {
                    Some(record) => Some(codec::decode_record(record.value())?.0),
                    None => None,
                };
                let meta = Meta {
                    create_revision: old.map_or(revision, |m| m.create_revision),
                    mod_revision: revision,
                    version: old.map_or(1, |m| m.version + 1),
                };
                let record = codec::encode_record(meta, value);
                kv.insert(key.as_slice(), record.as_slice())
                    .map_err(backend)?;
                events.push(Event::Put(KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: meta.create_revision,
                    mod_revision: revision,
                    version: meta.version,
                }));
            }
            Op::Delete { key } => {
                if kv.remove(key.as_slice()).map_err(backend)?.is_some() {
                    events.push(Event::Delete {
                        key: key.clone(),
                        revision,
                    });
                }
            }
            Op::DeletePrefix { prefix } => {
                let mut keys = Vec::new();
                for item in kv.range(prefix.as_slice()..).map_err(backend)? {
                    let (key, _) = item.map_err(backend)?;
                    if !key.value().starts_with(prefix) {
                        break;
                    }
                    keys.push(key.value().to_vec());
                }
                for key in keys {
                    kv.remove(key.as_slice()).map_err(backend)?;
                    events.push(Event::Delete { key, revision });
                }
            }
        }
    }
    Ok(Some(events))
}

fn holds(kv: &KvTable<'_>, compare: &Compare) -> Result<bool, StoreError> {
    let key = match compare {
        Compare::ModRevision(key, _) | Compare::Value(key, _) => key,
    };
    let record = kv.get(key.as_slice()).map_err(backend)?;
    let current = match &record {
        Some(record) => Some(codec::decode_record(record.value())?),
        None => None,
    };
    Ok(match compare {
        Compare::ModRevision(_, want) => current.map_or(0, |(meta, _)| meta.mod_revision) == *want,
        Compare::Value(_, want) => current.map(|(_, value)| value) == want.as_deref(),
    })
}

/// Creates the tables of a new store and reads the state of an existing one:
/// `(revision, compacted)`.
pub(crate) fn init(db: &Database) -> Result<(Revision, Revision), StoreError> {
    let wtx = db.begin_write().map_err(backend)?;
    let state = {
        wtx.open_table(KV).map_err(backend)?;
        wtx.open_table(LOG).map_err(backend)?;
        let meta = wtx.open_table(META).map_err(backend)?;
        let read = |name| -> Result<Revision, StoreError> {
            Ok(meta
                .get(name)
                .map_err(backend)?
                .map_or(0, |value| value.value() as Revision))
        };
        (read(REVISION)?, read(COMPACTED)?)
    };
    commit(wtx)?;
    Ok(state)
}
