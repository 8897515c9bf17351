//! S3 on a shared store (etcd): every write is an operation of the store's log
//! ([`fort_store::oplog`]), its body in chunks of at most 1 MiB, applied by every server to
//! its own copy of the buckets' files in the same order; reads wait until their server has
//! applied every operation committed before them. See the README's section on several
//! servers for why.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::{Arc, Mutex};

use fort_store::Store;
use fort_store::lineage::{Lineage, OpId};
use fort_store::oplog::{Applied, OpLog, OpLogError, Replica};
use serde::{Deserialize, Serialize};

use super::{Caller, Created, ObjectAttrs, ObjectMeta, S3};
use crate::error::S3Error;

/// Where S3's operations live in the store.
pub const PREFIX: &str = "/fort/s3/";

thread_local! {
    /// The writer's clock of the operation this thread applies (`None`: not applying one).
    static NOW: Cell<Option<i64>> = const { Cell::new(None) };
    /// The upload id a CreateMultipartUpload being applied uses.
    static UPLOAD_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(super) fn applying_now() -> Option<i64> {
    NOW.get()
}

/// The upload id of the operation being applied, if it has one.
pub(super) fn upload_id() -> Option<String> {
    UPLOAD_ID.with_borrow(Clone::clone)
}

struct Applying;

impl Applying {
    fn enter(now: i64, upload_id: Option<String>) -> Self {
        NOW.set(Some(now));
        UPLOAD_ID.set(upload_id);
        Applying
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        NOW.set(None);
        UPLOAD_ID.set(None);
    }
}

/// Where an [`S3`] keeps its data.
pub(super) enum Mode {
    /// Its own files: one server.
    Local,
    /// A copy of the store's operation log: any number of servers. The lineage tells
    /// the log which operations a deleted or replaced object leaves without effect.
    Shared(OpLog<Outcome>, Mutex<Lineage<Entity>>),
}

/// What the log's operations build.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Entity {
    Bucket(String),
    /// (bucket, key)
    Object(String, String),
    /// (bucket, upload id)
    Upload(String, String),
    /// (bucket, upload id, part number)
    Part(String, String, u32),
}

/// Records what a successful operation did to its entities.
fn record(l: &mut Lineage<Entity>, op: &Op) {
    let object = |b: &str, k: &str| Entity::Object(b.into(), k.into());
    let upload_of = |b: &str, id: &str| {
        let (b, id) = (b.to_owned(), id.to_owned());
        move |e: &Entity| match e {
            Entity::Upload(eb, eid) | Entity::Part(eb, eid, _) => (eb, eid) == (&b, &id),
            _ => false,
        }
    };
    match op {
        // creating a bucket one already owns changes nothing
        Op::CreateBucket { name, .. } if !l.has(&Entity::Bucket(name.clone())) => {
            l.define(Entity::Bucket(name.clone()), &[]);
        }
        Op::CreateBucket { .. } => {}
        Op::DeleteBucket { name, .. } => {
            l.remove_where(
                |e| matches!(e, Entity::Upload(b, _) | Entity::Part(b, _, _) if b == name),
            );
            l.remove(&Entity::Bucket(name.clone()));
        }
        Op::Put { bucket, key, .. } => l.define(object(bucket, key), &[]),
        Op::Copy {
            src_bucket,
            src_key,
            bucket,
            key,
            ..
        } => {
            // replaying the copy needs its source, and the source's bucket
            let mut inputs = l.ops_of(&object(src_bucket, src_key)).to_vec();
            inputs.extend_from_slice(l.ops_of(&Entity::Bucket(src_bucket.clone())));
            l.define(object(bucket, key), &inputs);
        }
        Op::Delete { bucket, key, .. } => l.remove(&object(bucket, key)),
        Op::CreateUpload { bucket, id, .. } => {
            l.define(Entity::Upload(bucket.clone(), id.clone()), &[]);
        }
        Op::UploadPart { bucket, id, n, .. } => {
            l.define(Entity::Part(bucket.clone(), id.clone(), *n), &[]);
        }
        Op::CompleteUpload {
            bucket,
            key,
            id,
            listed,
            ..
        } => {
            let mut inputs = l
                .ops_of(&Entity::Upload(bucket.clone(), id.clone()))
                .to_vec();
            for (n, _) in listed {
                inputs.extend_from_slice(l.ops_of(&Entity::Part(bucket.clone(), id.clone(), *n)));
            }
            l.define(object(bucket, key), &inputs);
            l.remove_where(upload_of(bucket, id));
        }
        Op::AbortUpload { bucket, id, .. } => l.remove_where(upload_of(bucket, id)),
    }
}

/// One write, as the log carries it (a body travels as the operation's blob). `caller`:
/// the account, or `None` for Fort itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op")]
pub(super) enum Op {
    CreateBucket {
        name: String,
        owner: String,
        region: String,
    },
    DeleteBucket {
        name: String,
        caller: Option<String>,
    },
    Put {
        bucket: String,
        key: String,
        attrs: ObjectAttrs,
        caller: Option<String>,
    },
    Copy {
        src_bucket: String,
        src_key: String,
        bucket: String,
        key: String,
        attrs: Option<ObjectAttrs>,
        caller: Option<String>,
    },
    Delete {
        bucket: String,
        key: String,
        caller: Option<String>,
    },
    CreateUpload {
        bucket: String,
        key: String,
        attrs: ObjectAttrs,
        caller: Option<String>,
        id: String,
    },
    UploadPart {
        bucket: String,
        key: String,
        id: String,
        n: u32,
        caller: Option<String>,
    },
    CompleteUpload {
        bucket: String,
        key: String,
        id: String,
        listed: Vec<(u32, String)>,
        caller: Option<String>,
    },
    AbortUpload {
        bucket: String,
        key: String,
        id: String,
        caller: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    now: i64,
    op: Op,
}

pub(super) fn who(caller: Caller<'_>) -> Option<String> {
    match caller {
        Caller::Account(a) => Some(a.to_owned()),
        Caller::Fort => None,
    }
}

fn caller(who: Option<&str>) -> Caller<'_> {
    who.map_or(Caller::Fort, Caller::Account)
}

/// What applying an operation answers.
pub enum Outcome {
    Created(Result<Created, S3Error>),
    Unit(Result<(), S3Error>),
    Meta(Result<ObjectMeta, S3Error>),
    Text(Result<String, S3Error>),
}

fn out_of_turn() -> S3Error {
    S3Error::Internal("the S3 store answered out of turn".into())
}

impl Outcome {
    pub(super) fn created(self) -> Result<Created, S3Error> {
        match self {
            Outcome::Created(r) => r,
            Outcome::Unit(Err(e)) => Err(e),
            _ => Err(out_of_turn()),
        }
    }

    pub(super) fn unit(self) -> Result<(), S3Error> {
        match self {
            Outcome::Unit(r) => r,
            _ => Err(out_of_turn()),
        }
    }

    pub(super) fn meta(self) -> Result<ObjectMeta, S3Error> {
        match self {
            Outcome::Meta(r) => r,
            Outcome::Unit(Err(e)) => Err(e),
            _ => Err(out_of_turn()),
        }
    }

    pub(super) fn text(self) -> Result<String, S3Error> {
        match self {
            Outcome::Text(r) => r,
            Outcome::Unit(Err(e)) => Err(e),
            _ => Err(out_of_turn()),
        }
    }
}

impl From<OpLogError> for S3Error {
    fn from(e: OpLogError) -> Self {
        match e {
            OpLogError::Quota { used, quota } => S3Error::ServiceUnavailable(format!(
                "Fort's S3 storage is full ({used} of {quota} bytes): delete objects or raise the quota."
            )),
            e => {
                tracing::error!(error = %e, "S3 operation log");
                S3Error::ServiceUnavailable(format!("Fort's S3 storage is unavailable: {e}"))
            }
        }
    }
}

impl Replica for S3 {
    type Outcome = Outcome;

    fn apply(&self, id: &OpId, op: &[u8], blob: Vec<u8>) -> Applied<Outcome> {
        let entry: Entry = match serde_json::from_slice(op) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "an S3 operation is unreadable: skipped");
                return Applied {
                    outcome: Outcome::Unit(Err(S3Error::Internal("unreadable operation".into()))),
                    retired: vec![id.clone()],
                };
            }
        };
        let Mode::Shared(_, lineage) = &self.mode else {
            return Applied {
                outcome: self.apply_op(&entry, blob),
                retired: Vec::new(),
            };
        };
        let outcome = self.apply_op(&entry, blob);
        let mut l = lineage.lock().unwrap_or_else(|p| p.into_inner());
        l.begin(id);
        if matches!(
            &outcome,
            Outcome::Created(Ok(_))
                | Outcome::Unit(Ok(()))
                | Outcome::Meta(Ok(_))
                | Outcome::Text(Ok(_))
        ) {
            record(&mut l, &entry.op);
        }
        Applied {
            outcome,
            retired: l.finish(),
        }
    }
}

impl S3 {
    /// Applies one operation of the log to this server's copy.
    fn apply_op(&self, entry: &Entry, blob: Vec<u8>) -> Outcome {
        let id = match &entry.op {
            Op::CreateUpload { id, .. } => Some(id.clone()),
            _ => None,
        };
        let _applying = Applying::enter(entry.now, id);
        match &entry.op {
            Op::CreateBucket {
                name,
                owner,
                region,
            } => Outcome::Created(self.create_bucket(name, owner, region)),
            Op::DeleteBucket { name, caller: c } => {
                Outcome::Unit(self.delete_bucket(name, caller(c.as_deref())))
            }
            Op::Put {
                bucket,
                key,
                attrs,
                caller: c,
            } => Outcome::Meta(self.put(bucket, key, &blob, attrs.clone(), caller(c.as_deref()))),
            Op::Copy {
                src_bucket,
                src_key,
                bucket,
                key,
                attrs,
                caller: c,
            } => Outcome::Meta(self.copy(
                (src_bucket, src_key),
                (bucket, key),
                attrs.clone(),
                caller(c.as_deref()),
            )),
            Op::Delete {
                bucket,
                key,
                caller: c,
            } => Outcome::Unit(self.delete(bucket, key, caller(c.as_deref()))),
            Op::CreateUpload {
                bucket,
                key,
                attrs,
                caller: c,
                id: _,
            } => {
                Outcome::Text(self.create_upload(bucket, key, attrs.clone(), caller(c.as_deref())))
            }
            Op::UploadPart {
                bucket,
                key,
                id,
                n,
                caller: c,
            } => Outcome::Text(self.upload_part(bucket, key, id, *n, &blob, caller(c.as_deref()))),
            Op::CompleteUpload {
                bucket,
                key,
                id,
                listed,
                caller: c,
            } => Outcome::Meta(self.complete_upload(bucket, key, id, listed, caller(c.as_deref()))),
            Op::AbortUpload {
                bucket,
                key,
                id,
                caller: c,
            } => Outcome::Unit(self.abort_upload(bucket, key, id, caller(c.as_deref()))),
        }
    }
}

impl S3 {
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

    /// Opens the S3 of a shared store (etcd): the local copy under `root` (e.g.
    /// `DATA_DIR/s3-replica`) is rebuilt from the store's log, which then holds at most
    /// `quota` bytes. Returns once the copy is up to date.
    pub async fn open_shared(
        root: &Path,
        store: Arc<dyn Store>,
        quota: u64,
    ) -> Result<Arc<S3>, S3Error> {
        if root.exists() {
            std::fs::remove_dir_all(root)
                .map_err(|e| S3Error::io("clearing the S3 replica", &e))?;
        }
        let log = OpLog::new(store, PREFIX, quota)?;
        let s3 = Arc::new(S3::open_with(root, Mode::Shared(log, Mutex::default()))?);
        if let Mode::Shared(log, _) = &s3.mode {
            log.start(Arc::downgrade(&s3)).await?;
        }
        Ok(s3)
    }

    /// For a write: `None` to do it here (one server, or applying the log), else the
    /// outcome of committing `op` (with `body`) to the log and applying it.
    pub(super) fn replicate(&self, body: &[u8], op: impl FnOnce() -> Op) -> Option<Outcome> {
        let Mode::Shared(log, _) = &self.mode else {
            return None;
        };
        if applying_now().is_some() {
            return None;
        }
        let entry = Entry {
            now: super::now_ms(),
            op: op(),
        };
        let bytes = match serde_json::to_vec(&entry) {
            Ok(b) => b,
            Err(e) => return Some(Outcome::Unit(Err(S3Error::Internal(e.to_string())))),
        };
        Some(
            log.propose(&bytes, body)
                .unwrap_or_else(|e| Outcome::Unit(Err(e.into()))),
        )
    }

    /// Before a read: on a shared store, waits until this server has applied every write
    /// acknowledged before (by any server).
    pub(super) fn sync_reads(&self) -> Result<(), S3Error> {
        match &self.mode {
            Mode::Shared(log, _) if applying_now().is_none() => Ok(log.barrier()?),
            _ => Ok(()),
        }
    }
}
