//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use fort_store::{Compare, Event, Op, Revision, StoreError, Txn, Watch};

pub fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
    }
}

pub fn delete(key: &str) -> Op {
    Op::Delete { key: key.into() }
}

pub fn delete_prefix(prefix: &str) -> Op {
    Op::DeletePrefix {
        prefix: prefix.into(),
    }
}

pub fn mod_rev(key: &str, revision: Revision) -> Compare {
    Compare::ModRevision(key.into(), revision)
}

pub fn value_is(key: &str, value: Option<&str>) -> Compare {
    Compare::Value(key.into(), value.map(Into::into))
}

pub fn ops(ops: Vec<Op>) -> Txn {
    Txn {
        compares: Vec::new(),
        ops,
    }
}

pub fn when(compares: Vec<Compare>, ops: Vec<Op>) -> Txn {
    Txn { compares, ops }
}

/// The next item of a watch, failing the test after 20 s.
pub async fn next(watch: &mut Watch) -> Option<Result<Event, StoreError>> {
    tokio::time::timeout(Duration::from_secs(20), watch.recv())
        .await
        .expect("watch event within 20 s")
}

/// The next event of a watch, which must be one.
pub async fn next_event(watch: &mut Watch) -> Event {
    match next(watch).await {
        Some(Ok(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Whether nothing arrives on the watch for a short while.
pub async fn quiet(watch: &mut Watch) -> bool {
    tokio::time::timeout(Duration::from_millis(100), watch.recv())
        .await
        .is_err()
}

pub fn revision_of(event: &Event) -> Revision {
    match event {
        Event::Put(kv) => kv.mod_revision,
        Event::Delete { revision, .. } => *revision,
    }
}

pub fn key_of(event: &Event) -> &[u8] {
    match event {
        Event::Put(kv) => &kv.key,
        Event::Delete { key, .. } => key,
    }
}
pub mod contract;
