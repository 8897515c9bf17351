//! Fort's store: a revisioned key-value model, the one etcd offers.
//!
//! Every successful write transaction gets the next revision of the whole store; each key
//! remembers the revision that created it and the one that last changed it. Readers range
//! over a prefix; writers commit transactions that first compare (so two control-plane
//! servers can never overwrite each other blindly); watchers receive every change after a
//! revision, in order. The control plane only ever sees the [`Store`] trait, so the embedded
//! backend (the default, in the data directory) and etcd (a cluster) are interchangeable.
//!
//! Contract of every backend: a transaction is atomic (all of its operations or none), and
//! once `txn` has returned `Ok`, the write is durable (it survives `kill -9` of the process).

use std::fmt;

use async_trait::async_trait;

mod embedded;
mod etcd;
pub mod lineage;
pub mod oplog;
#[cfg(feature = "test-support")]
pub mod testing;

pub use embedded::{EmbeddedOptions, EmbeddedStats, EmbeddedStore};
pub use etcd::EtcdStore;

/// A store revision. Revisions start at 1 and only move forward; 0 means "none".
pub type Revision = i64;

/// One key with its value and revision metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Revision of the transaction that created this key (since it last did not exist).
    pub create_revision: Revision,
    /// Revision of the transaction that last wrote this key.
    pub mod_revision: Revision,
    /// Number of writes since creation: 1 after creation.
    pub version: i64,
}

/// A condition a transaction checks before it writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The key's `mod_revision` equals the given one (0: the key does not exist).
    ModRevision(Vec<u8>, Revision),
    /// The key's value equals the given bytes (`None`: the key does not exist).
    Value(Vec<u8>, Option<Vec<u8>>),
}

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Deletes every key that starts with the prefix.
    DeletePrefix {
        prefix: Vec<u8>,
    },
}

/// A compare-then-write transaction: if every compare holds, all `ops` are applied.
///
/// The ops apply in order, each seeing the effects of the ones before it, all at the same
/// revision (so `Delete` then `Put` of one key makes a new key with `version` 1). A
/// transaction takes a new revision only if it changes something: no ops, or only deletions
/// of absent keys, leave the revision as it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub ops: Vec<Op>,
}

/// The outcome of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnResult {
    /// Whether every compare held (and so the operations were applied).
    pub succeeded: bool,
    /// The store's revision after the transaction: the transaction's own revision if it
    /// wrote, else the current one (unchanged if it failed or wrote nothing).
    pub revision: Revision,
}

/// The result of a range read: the keys and the revision they were read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub kvs: Vec<KeyValue>,
    pub revision: Revision,
}

/// One change seen by a watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The key was created or changed; the `KeyValue` is its new state, and its
    /// `mod_revision` the event's revision.
    Put(KeyValue),
    /// The key was deleted at `revision`; `key` names it.
    Delete { key: Vec<u8>, revision: Revision },
}

/// A watch stream: events in revision order, each revision's events together, in the order
/// of the transaction's ops. An `Err` is the last item: the watcher fell behind the history
/// the store keeps ([`StoreError::Compacted`]) or the store closed; then the stream ends.
/// Dropping the receiver cancels the watch.
pub type Watch = tokio::sync::mpsc::Receiver<Result<Event, StoreError>>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The requested revision is older than the history the store still keeps.
    #[error("revision {requested} has been compacted (oldest kept: {oldest})")]
    Compacted {
        requested: Revision,
        oldest: Revision,
    },
    /// The backend failed (I/O, corruption, a lost connection).
    #[error("store backend: {0}")]
    Backend(String),
}

/// An etcd lease: keys attached to it go when it expires (its holder stopped renewing it).
pub type LeaseId = i64;

/// The store every part of Fort uses.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Whether other processes may write this store too (etcd): then the control plane
    /// elects a leader through a lease and follows the store's changes by watching it. The
    /// embedded store belongs to one process, which is always the leader.
    fn shared(&self) -> bool {
        false
    }

    /// Grants a lease that lives `ttl` unless renewed ([`Store::lease_keep_alive`]).
    async fn lease_grant(&self, ttl: std::time::Duration) -> Result<LeaseId, StoreError> {
        let _ = ttl;
        Err(StoreError::Backend("this store has no leases".into()))
    }

    /// Renews a lease: its time left (zero: it has expired, and its keys are gone).
    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<std::time::Duration, StoreError> {
        let _ = lease;
        Err(StoreError::Backend("this store has no leases".into()))
    }

    /// Ends a lease now, deleting its keys.
    async fn lease_revoke(&self, lease: LeaseId) -> Result<(), StoreError> {
        let _ = lease;
        Err(StoreError::Backend("this store has no leases".into()))
    }

    /// Forgets the history before `revision` (watches from before it fail with
    /// [`StoreError::Compacted`]). The embedded store keeps a bounded history of its own
    /// and ignores this.
    async fn compact_history(&self, revision: Revision) -> Result<(), StoreError> {
        let _ = revision;
        Ok(())
    }

    /// Puts `key` = `value` attached to `lease` if `key` does not exist: an election
    /// (`succeeded: false` when someone holds the key).
    async fn put_leased_if_absent(
        &self,
        key: &[u8],
        value: &[u8],
        lease: LeaseId,
    ) -> Result<TxnResult, StoreError> {
        let _ = (key, value, lease);
        Err(StoreError::Backend("this store has no leases".into()))
    }

    /// Reads every key starting with `prefix`, in key order, at the current revision.
    async fn range(&self, prefix: &[u8]) -> Result<Range, StoreError>;

    /// Reads one key.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError>;

    /// Applies a transaction atomically and durably. A failed compare is `Ok` with
    /// `succeeded: false`. After an `Err` from the commit itself (an I/O error), the
    /// transaction may or may not have been applied.
    async fn txn(&self, txn: Txn) -> Result<TxnResult, StoreError>;

    /// Streams every change to keys under `prefix` made at revisions `>= from` (use the
    /// `revision` of a `range` plus one to continue from a snapshot), first those already
    /// made, then new ones as they commit, with no gap and no duplicate.
    ///
    /// `from` 0 or 1 means from the oldest revision the store still keeps; a `from` older
    /// than that fails with [`StoreError::Compacted`]; one in the future is fine (the stream
    /// waits for it).
    async fn watch(&self, prefix: &[u8], from: Revision) -> Result<Watch, StoreError>;

    /// The current revision of the store.
    async fn revision(&self) -> Result<Revision, StoreError>;
}
