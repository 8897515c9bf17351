//! Watchers: one task per watch stream.
//!
//! A watcher subscribes to the writer's broadcast of committed batches *before* it reads the
//! change log from disk. Every batch committed before the subscription is then in the log
//! (the writer commits, then publishes), and every batch committed after it arrives on the
//! broadcast, so replay and live events meet with no gap; the watcher's next revision
//! (`next`) drops what it has already sent, so there is no duplicate either.
//!
//! The writer never waits for a watcher: the broadcast keeps a bounded number of batches,
//! and a watcher whose consumer reads too slowly misses some (`Lagged`). It then subscribes
//! again and catches up from the log on disk, the same way it started. Only when the
//! revisions it still has to send have been compacted out of the log does it send
//! [`StoreError::Compacted`] and end the stream.

use std::sync::{Arc, Weak};

use redb::ReadableDatabase;
use tokio::sync::{broadcast, mpsc};

use super::writer::{Batch, LogEntry};
use super::{COMPACTED, LOG, META, Shared, backend, codec};
use crate::{Event, Revision, StoreError};

/// How many revisions of the log one replay step reads (in one read transaction).
const REPLAY_REVISIONS: usize = 1024;
/// How many events one replay step collects at most before sending them.
const REPLAY_EVENTS: usize = 4096;

pub(crate) struct Watcher {
    pub shared: Weak<Shared>,
    pub live: broadcast::Receiver<Batch>,
    pub prefix: Vec<u8>,
    /// The next revision to send.
    pub next: Revision,
    pub tx: mpsc::Sender<Result<Event, StoreError>>,
}

/// Part of the change log, as read by [`read_log`].
pub(crate) struct Chunk {
    /// The entries with at least one event under the prefix (only those events).
    pub entries: Vec<LogEntry>,
    /// One past the last revision read.
    pub next: Revision,
    /// Whether the end of the log was reached.
    pub done: bool,
}

/// Reads the log from revision `from` on, in one read transaction.
pub(crate) fn read_log(
    shared: &Shared,
    from: Revision,
    prefix: &[u8],
) -> Result<Chunk, StoreError> {
    let rtx = shared.db.begin_read().map_err(backend)?;
    let meta = rtx.open_table(META).map_err(backend)?;
    let compacted = meta
        .get(COMPACTED)
        .map_err(backend)?
        .map_or(0, |v| v.value() as Revision);
    if from <= compacted {
        return Err(StoreError::Compacted {
            requested: from,
            oldest: compacted + 1,
        });
    }
    let log = rtx.open_table(LOG).map_err(backend)?;
    let mut chunk = Chunk {
        entries: Vec::new(),
        next: from,
        done: true,
    };
    let mut events = 0;
    for (scanned, item) in log.range(from as u64..).map_err(backend)?.enumerate() {
        if scanned == REPLAY_REVISIONS || events >= REPLAY_EVENTS {
            chunk.done = false;
            break;
        }
        let (revision, entry) = item.map_err(backend)?;
        let revision = revision.value() as Revision;
        let matching = codec::decode_events(revision, entry.value(), prefix)?;
        events += matching.len();
        if !matching.is_empty() {
            chunk.entries.push(LogEntry {
                revision,
                events: matching,
            });
        }
        chunk.next = revision + 1;
    }
    Ok(chunk)
}

enum Flow {
    Continue,
    Stop,
    /// Catch up from the log: the watcher lagged (or, which should not happen, saw a gap).
    Resync,
}

impl Watcher {
    pub async fn run(mut self) {
        loop {
            if let Flow::Stop = self.replay().await {
                return;
            }
            if let Flow::Stop = self.follow().await {
                return;
            }
            // Subscribe again, then catch up from the log.
            self.live = self.live.resubscribe();
        }
    }

    /// Sends what the log holds from `next` on.
    async fn replay(&mut self) -> Flow {
        loop {
            let Some(shared) = self.shared.upgrade() else {
                // closed before this watcher first ran: end as a live watcher does
                self.closed();
                return Flow::Stop;
            };
            let (from, prefix) = (self.next, self.prefix.clone());
            let chunk = tokio::task::spawn_blocking(move || read_log(&shared, from, &prefix)).await;
            let chunk = match chunk {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(error)) => {
                    let _ = self.tx.send(Err(error)).await;
                    return Flow::Stop;
                }
                Err(join) => {
                    let _ = self.tx.send(Err(backend(join))).await;
                    return Flow::Stop;
                }
            };
            for entry in chunk.entries {
                if let Flow::Stop = self.send(entry.events).await {
                    return Flow::Stop;
                }
            }
            self.next = chunk.next;
            if chunk.done {
                return Flow::Continue;
            }
        }
    }

    /// Sends live batches until the watcher lags (`Resync`) or must end (`Stop`).
    async fn follow(&mut self) -> Flow {
        loop {
            let batch = tokio::select! {
                () = self.tx.closed() => return Flow::Stop,
                batch = self.live.recv() => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(broadcast::error::RecvError::Lagged(_)) => return Flow::Resync,
                Err(broadcast::error::RecvError::Closed) => {
                    self.closed();
                    return Flow::Stop;
                }
            };
            match self.send_batch(&batch).await {
                Flow::Continue => {}
                flow => return flow,
            }
        }
    }

    async fn send_batch(&mut self, batch: &Arc<Vec<LogEntry>>) -> Flow {
        for entry in batch.iter() {
            if entry.revision < self.next {
                continue;
            }
            if entry.revision > self.next {
                tracing::warn!(
                    next = self.next,
                    got = entry.revision,
                    "watch: gap in live events, catching up from the log"
                );
                return Flow::Resync;
            }
            let events = entry
                .events
                .iter()
                .filter(|event| event_key(event).starts_with(&self.prefix))
                .cloned()
                .collect();
            if let Flow::Stop = self.send(events).await {
                return Flow::Stop;
            }
            self.next = entry.revision + 1;
        }
        Flow::Continue
    }

    /// Tells the consumer the store was closed.
    fn closed(&self) {
        let _ = self
            .tx
            .try_send(Err(StoreError::Backend("store closed".into())));
    }

    async fn send(&self, events: Vec<Event>) -> Flow {
        for event in events {
            if self.tx.send(Ok(event)).await.is_err() {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
}

fn event_key(event: &Event) -> &[u8] {
    match event {
        Event::Put(kv) => &kv.key,
        Event::Delete { key, .. } => key,
    }
}
