//! Logs on a shared store (etcd): every write is an operation of the store's log
//! ([`fort_store::oplog`]), applied by every server to its own copy of the redb tables, in
//! the same order; reads wait until their server has applied every operation committed
//! before them. See the README's section on several servers for why.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use fort_store::Store;
use fort_store::lineage::Lineage;
use fort_store::oplog::{Applied, OpId, OpLog, OpLogError, Replica};
use serde::{Deserialize, Serialize};

use super::{Logs, PutOutcome, now_ms};
use crate::{LogEvent, LogsError};

/// Where the logs' operations live in the store.
pub const PREFIX: &str = "/fort/logs/";

thread_local! {
    /// The clock of the operation this thread applies (`None`: not applying one).
    static APPLYING: Cell<Option<i64>> = const { Cell::new(None) };
}

/// The clock reading of the operation being applied, if any.
pub(super) fn applying() -> Option<i64> {
    APPLYING.get()
}

struct Applying;

impl Applying {
    fn enter(now: i64) -> Self {
        APPLYING.set(Some(now));
        Applying
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        APPLYING.set(None);
    }
}

/// Where a [`Logs`] keeps its data.
pub(super) enum Mode {
    /// Its own redb file: one server.
    Local,
    /// A copy of the store's operation log: any number of servers. The lineage tells
    /// the log which operations a deleted group or stream leaves without effect.
    Shared(OpLog<Outcome>, Mutex<Lineage<Entity>>),
}

/// What the log's operations build: groups, and streams in them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Entity {
    /// (account, region, name)
    Group(String, String, String),
    /// (account, region, group, name)
    Stream(String, String, String, String),
}

/// What a successful operation does to its entities.
enum Effect {
    Define(Entity),
    Extend(Entity),
    Remove(Entity),
    /// A group and its streams.
    RemoveGroup(String, String, String),
}

impl Op {
    fn effect(&self) -> Effect {
        let group = |a: &str, r: &str, n: &str| Entity::Group(a.into(), r.into(), n.into());
        let stream = |a: &str, r: &str, g: &str, s: &str| {
            Entity::Stream(a.into(), r.into(), g.into(), s.into())
        };
        match self {
            Op::CreateGroup {
                account,
                region,
                name,
                ..
            } => Effect::Define(group(account, region, name)),
            Op::DeleteGroup {
                account,
                region,
                name,
            } => Effect::RemoveGroup(account.clone(), region.clone(), name.clone()),
            Op::PutRetention {
                account,
                region,
                name,
                ..
            }
            | Op::DeleteRetention {
                account,
                region,
                name,
            }
            | Op::TagGroup {
                account,
                region,
                name,
                ..
            }
            | Op::UntagGroup {
                account,
                region,
                name,
                ..
            } => Effect::Extend(group(account, region, name)),
            Op::CreateStream {
                account,
                region,
                group,
                stream: s,
            } => Effect::Define(stream(account, region, group, s)),
            Op::DeleteStream {
                account,
                region,
                group,
                stream: s,
            } => Effect::Remove(stream(account, region, group, s)),
            Op::PutLogEvents {
                account,
                region,
                group,
                stream: s,
                ..
            }
            | Op::PutEvents {
                account,
                region,
                group,
                stream: s,
                ..
            } => Effect::Extend(stream(account, region, group, s)),
        }
    }
}

impl Effect {
    fn record(self, l: &mut Lineage<Entity>) {
        match self {
            Effect::Define(e) => l.define(e, &[]),
            Effect::Extend(e) => l.extend(&e),
            Effect::Remove(e) => l.remove(&e),
            Effect::RemoveGroup(a, r, g) => {
                l.remove_where(
                    |e| matches!(e, Entity::Stream(sa, sr, sg, _) if (sa, sr, sg) == (&a, &r, &g)),
                );
                l.remove(&Entity::Group(a, r, g));
            }
        }
    }
}

/// One write, as the log carries it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op")]
pub(super) enum Op {
    CreateGroup {
        account: String,
        region: String,
        name: String,
        class: Option<String>,
        kms_key_id: Option<String>,
        tags: BTreeMap<String, String>,
    },
    DeleteGroup {
        account: String,
        region: String,
        name: String,
    },
    PutRetention {
        account: String,
        region: String,
        name: String,
        days: i64,
    },
    DeleteRetention {
        account: String,
        region: String,
        name: String,
    },
    TagGroup {
        account: String,
        region: String,
        name: String,
        tags: BTreeMap<String, String>,
    },
    UntagGroup {
        account: String,
        region: String,
        name: String,
        keys: Vec<String>,
    },
    CreateStream {
        account: String,
        region: String,
        group: String,
        stream: String,
    },
    DeleteStream {
        account: String,
        region: String,
        group: String,
        stream: String,
    },
    PutLogEvents {
        account: String,
        region: String,
        group: String,
        stream: String,
        events: Vec<LogEvent>,
        now: i64,
    },
    PutEvents {
        account: String,
        region: String,
        group: String,
        stream: String,
        events: Vec<LogEvent>,
    },
}

/// An operation with the writer's clock, which its application uses for every `now`.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    now: i64,
    op: Op,
}

/// What applying an operation answers.
pub enum Outcome {
    Unit(Result<(), LogsError>),
    Put(Result<PutOutcome, LogsError>),
}

impl Outcome {
    pub(super) fn unit(self) -> Result<(), LogsError> {
        match self {
            Outcome::Unit(r) => r,
            Outcome::Put(r) => r.map(|_| ()),
        }
    }

    pub(super) fn put(self) -> Result<PutOutcome, LogsError> {
        match self {
            Outcome::Put(r) => r,
            Outcome::Unit(Err(e)) => Err(e),
            Outcome::Unit(Ok(())) => Err(LogsError::Unavailable(
                "the logs store answered out of turn".into(),
            )),
        }
    }
}

impl From<OpLogError> for LogsError {
    fn from(e: OpLogError) -> Self {
        match e {
            OpLogError::Quota { used, quota } => LogsError::LimitExceeded(format!(
                "Resource limit exceeded: the logs store is full ({used} of {quota} bytes)."
            )),
            e => {
                tracing::error!(error = %e, "logs operation log");
                LogsError::Unavailable(format!("The logs store is unavailable: {e}"))
            }
        }
    }
}

impl Replica for Logs {
    type Outcome = Outcome;

    fn apply(&self, id: &OpId, op: &[u8], _blob: Vec<u8>) -> Applied<Outcome> {
        let entry: Entry = match serde_json::from_slice(op) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "a logs operation is unreadable: skipped");
                return Applied {
                    outcome: Outcome::Unit(Err(LogsError::invalid("unreadable operation"))),
                    retired: vec![id.clone()],
                };
            }
        };
        let effect = entry.op.effect();
        let outcome = self.apply_op(entry);
        let Mode::Shared(_, lineage) = &self.mode else {
            return Applied {
                outcome,
                retired: Vec::new(),
            };
        };
        let mut l = lineage.lock().unwrap_or_else(|p| p.into_inner());
        l.begin(id);
        if matches!(outcome, Outcome::Unit(Ok(())) | Outcome::Put(Ok(_))) {
            effect.record(&mut l);
        }
        Applied {
            outcome,
            retired: l.finish(),
        }
    }
}

impl Logs {
    /// Applies one operation of the log to this server's copy.
    fn apply_op(&self, entry: Entry) -> Outcome {
        let _applying = Applying::enter(entry.now);
        match entry.op {
            Op::CreateGroup {
                account,
                region,
                name,
                class,
                kms_key_id,
                tags,
            } => Outcome::Unit(self.create_group(
                &account,
                &region,
                &name,
                class.as_deref(),
                kms_key_id.as_deref(),
                tags,
            )),
            Op::DeleteGroup {
                account,
                region,
                name,
            } => Outcome::Unit(self.delete_group(&account, &region, &name)),
            Op::PutRetention {
                account,
                region,
                name,
                days,
            } => Outcome::Unit(self.put_retention(&account, &region, &name, days)),
            Op::DeleteRetention {
                account,
                region,
                name,
            } => Outcome::Unit(self.delete_retention(&account, &region, &name)),
            Op::TagGroup {
                account,
                region,
                name,
                tags,
            } => Outcome::Unit(self.tag_group(&account, &region, &name, tags)),
            Op::UntagGroup {
                account,
                region,
                name,
                keys,
            } => Outcome::Unit(self.untag_group(&account, &region, &name, &keys)),
            Op::CreateStream {
                account,
                region,
                group,
                stream,
            } => Outcome::Unit(self.create_stream(&account, &region, &group, &stream)),
            Op::DeleteStream {
                account,
                region,
                group,
                stream,
            } => Outcome::Unit(self.delete_stream(&account, &region, &group, &stream)),
            Op::PutLogEvents {
                account,
                region,
                group,
                stream,
                events,
                now,
            } => {
                Outcome::Put(self.put_log_events(&account, &region, &group, &stream, &events, now))
            }
            Op::PutEvents {
                account,
                region,
                group,
                stream,
                events,
            } => Outcome::Unit(self.put_events(&account, &region, &group, &stream, &events)),
        }
    }

    /// Whether the data is the shared store's (every server serves the same).
    pub fn shared(&self) -> bool {
        matches!(self.mode, Mode::Shared(..))
    }

    /// The bytes the shared store's log holds for this service (its live operations),
    /// as this server has applied it; 0 on one server's own files.
    pub fn used_bytes(&self) -> u64 {
        match &self.mode {
            Mode::Shared(log, _) => log.used_bytes(),
            Mode::Local => 0,
        }
    }

    /// Opens the logs of a shared store (etcd): the local copy under `dir` (e.g.
    /// `DATA_DIR/logs-replica`) is rebuilt from the store's log, which then holds at most
    /// `quota` bytes. Returns once the copy is up to date.
    pub async fn open_shared(
        dir: &Path,
        store: Arc<dyn Store>,
        quota: u64,
    ) -> Result<Arc<Logs>, LogsError> {
        std::fs::create_dir_all(dir)?;
        let file = dir.join("logs.redb");
        if file.exists() {
            std::fs::remove_file(&file)?;
        }
        let log = OpLog::new(store, PREFIX, quota)?;
        let logs = Logs::open_with(dir, Mode::Shared(log, Mutex::default()))?;
        if let Mode::Shared(log, _) = &logs.mode {
            log.start(Arc::downgrade(&logs)).await?;
        }
        Ok(logs)
    }

    /// For a write: `None` to do it here (one server, or applying the log), else the
    /// outcome of committing `op` to the log and applying it.
    pub(super) fn replicate(&self, op: impl FnOnce() -> Op) -> Option<Outcome> {
        let Mode::Shared(log, _) = &self.mode else {
            return None;
        };
        if applying().is_some() {
            return None;
        }
        let entry = Entry {
            now: now_ms(),
            op: op(),
        };
        let bytes = match serde_json::to_vec(&entry) {
            Ok(b) => b,
            Err(e) => return Some(Outcome::Unit(Err(e.into()))),
        };
        Some(
            log.propose(&bytes, &[])
                .unwrap_or_else(|e| Outcome::Unit(Err(e.into()))),
        )
    }

    /// Before a read: on a shared store, waits until this server has applied every write
    /// acknowledged before (by any server).
    pub(super) fn sync_reads(&self) -> Result<(), LogsError> {
        match &self.mode {
            Mode::Shared(log, _) if applying().is_none() => Ok(log.barrier()?),
            _ => Ok(()),
        }
    }
}
