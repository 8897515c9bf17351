//! The log store: one redb file, four tables.
//!
//! * `groups`: `"ACCOUNT\0REGION\0NAME"` → the group's record (JSON), so a region's groups
//!   list in name order;
//! * `streams`: `(group id, stream name)` → the stream's record (JSON);
//! * `events`: `(stream id, timestamp, sequence)` → `(ingestion time, message)`;
//! * `counters`: the next group/stream id and the next event sequence.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redb::{
    AccessGuard, Database, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use crate::validate::{self, EVENT_OVERHEAD, Rejected};
use crate::{CACHE_BYTES, LogEvent, LogsError, Pattern};

mod shared;
use shared::{Mode, Op};

const GROUPS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("groups");
const STREAMS: TableDefinition<'_, (u64, &str), &[u8]> = TableDefinition::new("streams");
const EVENTS: TableDefinition<'_, (u64, i64, u64), (i64, &str)> = TableDefinition::new("events");
const COUNTERS: TableDefinition<'_, &str, u64> = TableDefinition::new("counters");

/// How often expired events are deleted in the background.
const SWEEP_EVERY: Duration = Duration::from_secs(300);
/// FilterLogEvents reads at most this many events per call, then answers with what it found
/// and a token to go on (as AWS does: a page may be empty and still have a token).
const MAX_SCAN: usize = 200_000;
/// The most message bytes one page of events carries (AWS's 1 MB response).
const MAX_PAGE_BYTES: usize = 1_048_576;
/// The most tags on a log group.
const MAX_TAGS: usize = 50;
const DAY_MS: i64 = 86_400_000;

type EventKey = (u64, i64, u64);
/// One entry of a `streams` range.
type StreamItem<'a> =
    Result<(AccessGuard<'a, (u64, &'a str)>, AccessGuard<'a, &'a [u8]>), redb::StorageError>;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct GroupRec {
    id: u64,
    created: i64,
    retention: Option<u32>,
    class: String,
    kms_key_id: Option<String>,
    tags: BTreeMap<String, String>,
    stored_bytes: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct StreamRec {
    id: u64,
    created: i64,
    first: Option<i64>,
    last: Option<i64>,
    last_ingestion: Option<i64>,
    stored_bytes: u64,
    token: u64,
}

/// A log group as DescribeLogGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    /// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`
    pub arn: String,
    /// The same without `:*` (DescribeLogGroups' `logGroupArn`, and what tagging takes).
    pub log_group_arn: String,
    pub creation_time: i64,
    pub retention_days: Option<u32>,
    pub stored_bytes: u64,
    pub class: String,
    pub kms_key_id: Option<String>,
}

/// A log stream as DescribeLogStreams shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub arn: String,
    pub creation_time: i64,
    pub first_event_timestamp: Option<i64>,
    pub last_event_timestamp: Option<i64>,
    pub last_ingestion_time: Option<i64>,
    pub upload_sequence_token: String,
    pub stored_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOrder {
    LogStreamName,
    LastEventTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamPage {
    pub streams: Vec<StreamInfo>,
    /// How many streams to skip to get the next page.
    pub next: Option<usize>,
}

/// A position in a stream (GetLogEvents) or a merged group (FilterLogEvents):
/// `(timestamp, sequence)`; a forward read takes events at or after it, a backward read
/// events before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub timestamp: i64,
    pub seq: u64,
}

impl Cursor {
    fn of(key: EventKey) -> Self {
        Cursor {
            timestamp: key.1,
            seq: key.2,
        }
    }

    fn after(key: EventKey) -> Self {
        Cursor {
            timestamp: key.1,
            seq: key.2.saturating_add(1),
        }
    }

    fn key(self, stream: u64) -> EventKey {
        (stream, self.timestamp, self.seq)
    }
}

/// What GetLogEvents reads.
#[derive(Clone, Debug, Default)]
pub struct GetQuery {
    pub start: Option<i64>,
    /// Exclusive.
    pub end: Option<i64>,
    pub from_head: bool,
    pub limit: usize,
    /// `Ok` forward from, `Err` backward from a previous page's token.
    pub token: Option<Result<Cursor, Cursor>>,
}

/// One event of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputEvent {
    pub timestamp: i64,
    pub message: String,
    pub ingestion_time: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetPage {
    pub events: Vec<OutputEvent>,
    pub next_forward: Cursor,
    pub next_backward: Cursor,
}

#[derive(Clone, Debug, Default)]
pub enum StreamSelection {
    #[default]
    All,
    Names(Vec<String>),
    Prefix(String),
}

/// What FilterLogEvents reads.
#[derive(Clone, Debug, Default)]
pub struct FilterQuery {
    pub streams: StreamSelection,
    pub start: Option<i64>,
    /// Inclusive.
    pub end: Option<i64>,
    pub pattern: Option<Pattern>,
    pub limit: usize,
    pub after: Option<Cursor>,
}

/// One event FilterLogEvents found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilteredEvent {
    pub stream: String,
    pub timestamp: i64,
    pub message: String,
    pub ingestion_time: i64,
    /// Stable for the event's life: `aws logs tail --follow` deduplicates by it.
    pub event_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterPage {
    pub events: Vec<FilteredEvent>,
    pub next: Option<Cursor>,
    pub searched: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutOutcome {
    pub next_sequence_token: String,
    pub rejected: Rejected,
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    pub events_written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub events_rejected: AtomicU64,
    pub events_expired: AtomicU64,
}

/// The Logs service's state.
pub struct Logs {
    db: Database,
    pub metrics: Metrics,
    mode: Mode,
}

fn group_key(account: &str, region: &str, name: &str) -> String {
    format!("{account}\0{region}\0{name}")
}

fn group_arn(account: &str, region: &str, name: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{name}")
}

/// Milliseconds since the epoch, now; while applying an operation of the shared log, its
/// writer's clock (every server applies it alike).
pub(crate) fn now_ms() -> i64 {
    if let Some(now) = shared::applying() {
        return now;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn u(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn read_group(
    groups: &impl ReadableTable<&'static str, &'static [u8]>,
    account: &str,
    region: &str,
    name: &str,
) -> Result<GroupRec, LogsError> {
    let key = group_key(account, region, name);
    match groups.get(key.as_str())? {
        Some(v) => Ok(serde_json::from_slice(v.value())?),
        None => Err(LogsError::group_not_found()),
    }
}

fn read_stream(
    streams: &impl ReadableTable<(u64, &'static str), &'static [u8]>,
    group: u64,
    name: &str,
) -> Result<Option<StreamRec>, LogsError> {
    match streams.get((group, name))? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

fn next_counter(txn: &WriteTransaction, name: &str) -> Result<u64, LogsError> {
    let mut t = txn.open_table(COUNTERS)?;
    let n = t.get(name)?.map_or(1, |v| v.value());
    t.insert(name, n + 1)?;
    Ok(n)
}

/// Removes a stream's events before `cutoff` (all of them with `i64::MAX`): how many, and
/// the bytes freed (counted as stored).
fn drop_events(
    events: &mut Table<'_, EventKey, (i64, &'static str)>,
    stream: u64,
    cutoff: i64,
) -> Result<(u64, u64), LogsError> {
    let range = (stream, i64::MIN, 0)..(stream, cutoff, 0);
    let (mut n, mut bytes) = (0u64, 0u64);
    for item in events.range(range.clone())? {
        let (_, v) = item?;
        n += 1;
        bytes += u(v.value().1.len() + EVENT_OVERHEAD);
    }
    if n > 0 {
        events.retain_in(range, |_, _| false)?;
    }
    Ok((n, bytes))
}

impl Logs {
    /// Opens (creating) the store under `dir` (e.g. `DATA_DIR/logs`) and starts its
    /// retention sweeper, which ends when the returned handle's last clone is dropped.
    pub fn open(dir: &Path) -> Result<Arc<Logs>, LogsError> {
        Self::open_with(dir, Mode::Local)
    }

    fn open_with(dir: &Path, mode: Mode) -> Result<Arc<Logs>, LogsError> {
        std::fs::create_dir_all(dir)?;
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(dir.join("logs.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(GROUPS)?;
        txn.open_table(STREAMS)?;
        txn.open_table(EVENTS)?;
        txn.open_table(COUNTERS)?;
        txn.commit()?;
        let logs = Arc::new(Logs {
            db,
            metrics: Metrics::default(),
            mode,
        });
        let weak = Arc::downgrade(&logs);
        let _ = std::thread::Builder::new()
            .name("logs-retention".into())
            .spawn(move || sweeper(&weak));
        Ok(logs)
    }

    pub fn create_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
        class: Option<&str>,
        kms_key_id: Option<&str>,
        tags: BTreeMap<String, String>,
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::CreateGroup {
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
            class: class.map(str::to_owned),
            kms_key_id: kms_key_id.map(str::to_owned),
            tags: tags.clone(),
        }) {
            return o.unit();
        }
        validate::group_name(name)?;
        let class = class.unwrap_or("STANDARD");
        if !["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"].contains(&class) {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{class}' at 'logGroupClass' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY]"
            )));
        }
        check_tags(&tags, 0)?;
        let txn = self.db.begin_write()?;
        {
            let mut groups = txn.open_table(GROUPS)?;
            let key = group_key(account, region, name);
            if groups.get(key.as_str())?.is_some() {
                return Err(LogsError::ResourceAlreadyExists(
                    "The specified log group already exists".into(),
                ));
            }
            let rec = GroupRec {
                id: next_counter(&txn, "id")?,
                created: now_ms(),
                retention: None,
                class: class.to_owned(),
                kms_key_id: kms_key_id.map(str::to_owned),
                tags,
                stored_bytes: 0,
            };
            groups.insert(key.as_str(), serde_json::to_vec(&rec)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Creates the group unless it exists (Fort's flow-log delivery: AWS creates the group
    /// a flow log names).
    pub fn create_group_if_missing(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<(), LogsError> {
        // on a shared store, a read costs less than a refused write in the log
        if self.shared() && self.group(account, region, name).is_ok() {
            return Ok(());
        }
        match self.create_group(account, region, name, None, None, BTreeMap::new()) {
            Err(LogsError::ResourceAlreadyExists(_)) => Ok(()),
            r => r,
        }
    }

    pub fn delete_group(&self, account: &str, region: &str, name: &str) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::DeleteGroup {
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
        }) {
            return o.unit();
        }
        let txn = self.db.begin_write()?;
        {
            let mut groups = txn.open_table(GROUPS)?;
            let rec = read_group(&groups, account, region, name)?;
            let mut streams = txn.open_table(STREAMS)?;
            let mut events = txn.open_table(EVENTS)?;
            let range = (rec.id, "")..(rec.id + 1, "");
            let mut ids = Vec::new();
            for item in streams.range(range.clone())? {
                let (_, v) = item?;
                ids.push(serde_json::from_slice::<StreamRec>(v.value())?.id);
            }
            for id in ids {
                drop_events(&mut events, id, i64::MAX)?;
            }
            streams.retain_in(range, |_, _| false)?;
            groups.remove(group_key(account, region, name).as_str())?;
        }
        txn.commit()?;
        Ok(())
    }

    fn info(account: &str, region: &str, name: &str, rec: &GroupRec) -> GroupInfo {
        let bare = group_arn(account, region, name);
        GroupInfo {
            name: name.to_owned(),
            arn: format!("{bare}:*"),
            log_group_arn: bare,
            creation_time: rec.created,
            retention_days: rec.retention,
            stored_bytes: rec.stored_bytes,
            class: rec.class.clone(),
            kms_key_id: rec.kms_key_id.clone(),
        }
    }

    pub fn group(&self, account: &str, region: &str, name: &str) -> Result<GroupInfo, LogsError> {
        self.sync_reads()?;
        let txn = self.db.begin_read()?;
        let rec = read_group(&txn.open_table(GROUPS)?, account, region, name)?;
        Ok(Self::info(account, region, name, &rec))
    }

    /// Groups in name order: those starting with `prefix` and containing `pattern` (any
    /// case), after the name `after`; at most `limit`, and the name to continue after.
    #[allow(clippy::too_many_arguments)]
    pub fn describe_groups(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        pattern: Option<&str>,
        class: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<GroupInfo>, Option<String>), LogsError> {
        self.sync_reads()?;
        let txn = self.db.begin_read()?;
        let groups = txn.open_table(GROUPS)?;
        let base = group_key(account, region, "");
        let start = group_key(account, region, prefix);
        let lower = match after {
            Some(a) if a >= prefix => Bound::Excluded(group_key(account, region, a)),
            _ => Bound::Included(start.clone()),
        };
        let lower = match &lower {
            Bound::Excluded(k) => Bound::Excluded(k.as_str()),
            Bound::Included(k) => Bound::Included(k.as_str()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let needle = pattern.map(str::to_ascii_lowercase);
        let mut out = Vec::new();
        for item in groups.range::<&str>((lower, Bound::Unbounded))? {
            let (k, v) = item?;
            let key = k.value();
            if !key.starts_with(start.as_str()) {
                break;
            }
            let name = &key[base.len()..];
            if needle
                .as_deref()
                .is_some_and(|n| !name.to_ascii_lowercase().contains(n))
            {
                continue;
            }
            let rec: GroupRec = serde_json::from_slice(v.value())?;
            if class.is_some_and(|c| c != rec.class) {
                continue;
            }
            if out.len() == limit {
                let next = out.last().map(|g: &GroupInfo| g.name.clone());
                return Ok((out, next));
            }
            out.push(Self::info(account, region, name, &rec));
        }
        Ok((out, None))
    }

    pub fn put_retention(
        &self,
        account: &str,
        region: &str,
        name: &str,
        days: i64,
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::PutRetention {
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
            days,
        }) {
            return o.unit();
        }
        let days = validate::retention(days)?;
        self.update_group(account, region, name, |g| {
            g.retention = Some(days);
            Ok(())
        })?;
        self.sweep_group(account, region, name, now_ms())
    }

    pub fn delete_retention(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::DeleteRetention {
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
        }) {
            return o.unit();
        }
        self.update_group(account, region, name, |g| {
            g.retention = None;
            Ok(())
        })
    }

    pub fn tags(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<BTreeMap<String, String>, LogsError> {
        self.sync_reads()?;
        let txn = self.db.begin_read()?;
        Ok(read_group(&txn.open_table(GROUPS)?, account, region, name)?.tags)
    }

    pub fn tag_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::TagGroup {
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
            tags: tags.clone(),
        }) {
            return o.unit();
        }
        self.update_group(account, region, name, |g| {
            let added = tags.keys().filter(|k| !g.tags.contains_key(*k)).count();
            check_tags(&tags, g.tags.len() + added - tags.len())?;
            g.tags.extend(tags);
            Ok(())
        })
    }

    pub fn untag_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
        keys: &[String],
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::UntagGroup {
            account: account.to_owned(),
            region: region.to_owned(),
            name: name.to_owned(),
            keys: keys.to_vec(),
        }) {
            return o.unit();
        }
        self.update_group(account, region, name, |g| {
            for k in keys {
                g.tags.remove(k);
            }
            Ok(())
        })
    }

    fn update_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
        f: impl FnOnce(&mut GroupRec) -> Result<(), LogsError>,
    ) -> Result<(), LogsError> {
        let txn = self.db.begin_write()?;
        {
            let mut groups = txn.open_table(GROUPS)?;
            let mut rec = read_group(&groups, account, region, name)?;
            f(&mut rec)?;
            let key = group_key(account, region, name);
            groups.insert(key.as_str(), serde_json::to_vec(&rec)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn create_stream(
        &self,
        account: &str,
        region: &str,
        group: &str,
        name: &str,
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::CreateStream {
            account: account.to_owned(),
            region: region.to_owned(),
            group: group.to_owned(),
            stream: name.to_owned(),
        }) {
            return o.unit();
        }
        validate::group_name(group)?;
        validate::stream_name(name)?;
        let txn = self.db.begin_write()?;
        {
            let g = read_group(&txn.open_table(GROUPS)?, account, region, group)?;
            let mut streams = txn.open_table(STREAMS)?;
            if read_stream(&streams, g.id, name)?.is_some() {
                return Err(LogsError::ResourceAlreadyExists(
                    "The specified log stream already exists".into(),
                ));
            }
            let rec = StreamRec {
                id: next_counter(&txn, "id")?,
                created: now_ms(),
                token: 1,
                ..StreamRec::default()
            };
            streams.insert((g.id, name), serde_json::to_vec(&rec)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn delete_stream(
        &self,
        account: &str,
        region: &str,
        group: &str,
        name: &str,
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::DeleteStream {
            account: account.to_owned(),
            region: region.to_owned(),
            group: group.to_owned(),
            stream: name.to_owned(),
        }) {
            return o.unit();
        }
        let txn = self.db.begin_write()?;
        {
            let mut groups = txn.open_table(GROUPS)?;
            let mut g = read_group(&groups, account, region, group)?;
            let mut streams = txn.open_table(STREAMS)?;
            let s = read_stream(&streams, g.id, name)?.ok_or_else(LogsError::stream_not_found)?;
            let mut events = txn.open_table(EVENTS)?;
            let (_, bytes) = drop_events(&mut events, s.id, i64::MAX)?;
            streams.remove((g.id, name))?;
            g.stored_bytes = g.stored_bytes.saturating_sub(bytes);
            let key = group_key(account, region, group);
            groups.insert(key.as_str(), serde_json::to_vec(&g)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The streams of a group starting with `prefix`, ordered; `skip` of them skipped.
    #[allow(clippy::too_many_arguments)]
    pub fn describe_streams(
        &self,
        account: &str,
        region: &str,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        descending: bool,
        skip: usize,
        limit: usize,
    ) -> Result<StreamPage, LogsError> {
        self.sync_reads()?;
        let txn = self.db.begin_read()?;
        let g = read_group(&txn.open_table(GROUPS)?, account, region, group)?;
        let streams = txn.open_table(STREAMS)?;
        let range = streams.range((g.id, prefix)..(g.id + 1, ""))?;
        let decode = |item: StreamItem<'_>| -> Result<Option<(String, StreamRec)>, LogsError> {
            let (k, v) = item?;
            let name = k.value().1;
            if !name.starts_with(prefix) {
                return Ok(None);
            }
            Ok(Some((name.to_owned(), serde_json::from_slice(v.value())?)))
        };
        // Memory stays within the page: by name, the store's order is the answer's (one
        // more read says whether a page follows); by last event, only the first
        // `skip + limit + 1` of the order are kept.
        let mut page: Vec<(String, StreamRec)> = Vec::new();
        let want = skip.saturating_add(limit).saturating_add(1);
        match (order, descending) {
            (StreamOrder::LogStreamName, false) => {
                for item in range {
                    let Some(s) = decode(item)? else { break };
                    page.push(s);
                    if page.len() == want {
                        break;
                    }
                }
            }
            (StreamOrder::LogStreamName, true) => {
                for item in range.rev() {
                    // names past the prefix sort after it: skipped on the way down
                    if let Some(s) = decode(item)? {
                        page.push(s);
                        if page.len() == want {
                            break;
                        }
                    } else if !page.is_empty() {
                        break;
                    }
                }
            }
            (StreamOrder::LastEventTime, _) => {
                // a max-heap of the `want` first in the requested order: its top is the one
                // that goes first when it overflows
                let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();
                for item in range {
                    let Some((name, rec)) = decode(item)? else {
                        break;
                    };
                    heap.push(Ranked {
                        last: rec.last,
                        name,
                        rec,
                        descending,
                    });
                    if heap.len() > want {
                        heap.pop();
                    }
                }
                page = heap
                    .into_sorted_vec()
                    .into_iter()
                    .map(|r| (r.name, r.rec))
                    .collect();
            }
        }
        let arn = group_arn(account, region, group);
        let streams: Vec<StreamInfo> = page
            .iter()
            .skip(skip)
            .take(limit)
            .map(|(name, s)| StreamInfo {
                name: name.clone(),
                arn: format!("{arn}:log-stream:{name}"),
                creation_time: s.created,
                first_event_timestamp: s.first,
                last_event_timestamp: s.last,
                last_ingestion_time: s.last_ingestion,
                upload_sequence_token: s.token.to_string(),
                stored_bytes: s.stored_bytes,
            })
            .collect();
        let next = (page.len() > skip + limit).then_some(skip + limit);
        Ok(StreamPage { streams, next })
    }

    /// PutLogEvents: the batch is checked as AWS checks it, then stored.
    pub fn put_log_events(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        events: &[LogEvent],
        now: i64,
    ) -> Result<PutOutcome, LogsError> {
        if let Some(o) = self.replicate(|| Op::PutLogEvents {
            account: account.to_owned(),
            region: region.to_owned(),
            group: group.to_owned(),
            stream: stream.to_owned(),
            events: events.to_vec(),
            now,
        }) {
            return o.put();
        }
        validate::group_name(group)?;
        validate::stream_name(stream)?;
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut groups = txn.open_table(GROUPS)?;
            let mut g = read_group(&groups, account, region, group)?;
            let mut streams = txn.open_table(STREAMS)?;
            let mut s =
                read_stream(&streams, g.id, stream)?.ok_or_else(LogsError::stream_not_found)?;
            let (accepted, rejected) = validate::batch(events, now, g.retention)?;
            let rejected_n = events.len() - accepted.len();
            self.metrics
                .events_rejected
                .fetch_add(u(rejected_n), Ordering::Relaxed);
            self.append(&txn, &mut g, &mut s, &events[accepted], now)?;
            streams.insert((g.id, stream), serde_json::to_vec(&s)?.as_slice())?;
            let key = group_key(account, region, group);
            groups.insert(key.as_str(), serde_json::to_vec(&g)?.as_slice())?;
            PutOutcome {
                next_sequence_token: s.token.to_string(),
                rejected,
            }
        };
        txn.commit()?;
        Ok(outcome)
    }

    /// Fort's own writer (flow-log delivery): appends `events` to `stream` of `group`,
    /// creating the stream if missing. Events need not be sorted; none is refused for its
    /// age. Fails with [`LogsError::ResourceNotFound`] when the group is gone.
    pub fn put_events(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        events: &[LogEvent],
    ) -> Result<(), LogsError> {
        if let Some(o) = self.replicate(|| Op::PutEvents {
            account: account.to_owned(),
            region: region.to_owned(),
            group: group.to_owned(),
            stream: stream.to_owned(),
            events: events.to_vec(),
        }) {
            return o.unit();
        }
        validate::stream_name(stream)?;
        let mut sorted: Vec<LogEvent> = events
            .iter()
            .filter(|e| !e.message.is_empty() && e.timestamp >= 0)
            .cloned()
            .collect();
        sorted.sort_by_key(|e| e.timestamp);
        let now = now_ms();
        let txn = self.db.begin_write()?;
        {
            let mut groups = txn.open_table(GROUPS)?;
            let mut g = read_group(&groups, account, region, group)?;
            let mut streams = txn.open_table(STREAMS)?;
            let mut s = match read_stream(&streams, g.id, stream)? {
                Some(s) => s,
                None => StreamRec {
                    id: next_counter(&txn, "id")?,
                    created: now,
                    token: 1,
                    ..StreamRec::default()
                },
            };
            self.append(&txn, &mut g, &mut s, &sorted, now)?;
            streams.insert((g.id, stream), serde_json::to_vec(&s)?.as_slice())?;
            let key = group_key(account, region, group);
            groups.insert(key.as_str(), serde_json::to_vec(&g)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    fn append(
        &self,
        txn: &WriteTransaction,
        g: &mut GroupRec,
        s: &mut StreamRec,
        events: &[LogEvent],
        now: i64,
    ) -> Result<(), LogsError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut counters = txn.open_table(COUNTERS)?;
        let mut seq = counters.get("seq")?.map_or(1, |v| v.value());
        let mut table = txn.open_table(EVENTS)?;
        let mut bytes = 0u64;
        for e in events {
            table.insert((s.id, e.timestamp, seq), (now, e.message.as_str()))?;
            seq += 1;
            bytes += u(e.message.len() + EVENT_OVERHEAD);
            s.first = Some(s.first.map_or(e.timestamp, |f| f.min(e.timestamp)));
            s.last = Some(s.last.map_or(e.timestamp, |l| l.max(e.timestamp)));
        }
        counters.insert("seq", seq)?;
        s.last_ingestion = Some(now);
        s.stored_bytes += bytes;
        s.token += 1;
        g.stored_bytes += bytes;
        self.metrics
            .events_written
            .fetch_add(u(events.len()), Ordering::Relaxed);
        self.metrics
            .bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// GetLogEvents of one stream.
    pub fn get_log_events(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        q: &GetQuery,
        now: i64,
    ) -> Result<GetPage, LogsError> {
        self.sync_reads()?;
        let txn = self.db.begin_read()?;
        let g = read_group(&txn.open_table(GROUPS)?, account, region, group)?;
        let s = read_stream(&txn.open_table(STREAMS)?, g.id, stream)?
            .ok_or_else(LogsError::stream_not_found)?;
        let events = txn.open_table(EVENTS)?;
        let cutoff = g.retention.map_or(0, |d| now - i64::from(d) * DAY_MS);
        let mut lo = (s.id, q.start.unwrap_or(0).max(cutoff), 0u64);
        let mut hi = (s.id, q.end.unwrap_or(i64::MAX), 0u64);
        let forward = match q.token {
            Some(Ok(c)) => {
                lo = lo.max(c.key(s.id));
                true
            }
            Some(Err(c)) => {
                hi = hi.min(c.key(s.id));
                false
            }
            None => q.from_head,
        };
        let mut out: Vec<(EventKey, OutputEvent)> = Vec::new();
        if lo < hi {
            let mut range = events.range(lo..hi)?;
            let mut bytes = 0usize;
            while out.len() < q.limit && bytes < MAX_PAGE_BYTES {
                let item = if forward {
                    range.next()
                } else {
                    range.next_back()
                };
                let Some(item) = item else { break };
                let (k, v) = item?;
                let (ingestion_time, message) = v.value();
                bytes += message.len() + EVENT_OVERHEAD;
                out.push((
                    k.value(),
                    OutputEvent {
                        timestamp: k.value().1,
                        message: message.to_owned(),
                        ingestion_time,
                    },
                ));
            }
        }
        if !forward {
            out.reverse();
        }
        let (next_forward, next_backward) = match (out.first(), out.last()) {
            (Some((first, _)), Some((last, _))) => (Cursor::after(*last), Cursor::of(*first)),
            _ => match q.token {
                Some(Ok(c) | Err(c)) => (c, c),
                None => (Cursor::of(lo), Cursor::of(lo)),
            },
        };
        Ok(GetPage {
            events: out.into_iter().map(|(_, e)| e).collect(),
            next_forward,
            next_backward,
        })
    }

    /// FilterLogEvents: the group's selected streams merged in time order, filtered.
    pub fn filter_log_events(
        &self,
        account: &str,
        region: &str,
        group: &str,
        q: &FilterQuery,
        now: i64,
    ) -> Result<FilterPage, LogsError> {
        self.sync_reads()?;
        let txn = self.db.begin_read()?;
        let g = read_group(&txn.open_table(GROUPS)?, account, region, group)?;
        let streams = txn.open_table(STREAMS)?;
        let mut selected: Vec<(u64, String)> = Vec::new();
        match &q.streams {
            StreamSelection::Names(names) => {
                for n in names {
                    if let Some(s) = read_stream(&streams, g.id, n)? {
                        selected.push((s.id, n.clone()));
                    }
                }
            }
            StreamSelection::All | StreamSelection::Prefix(_) => {
                let prefix = match &q.streams {
                    StreamSelection::Prefix(p) => p.as_str(),
                    _ => "",
                };
                for item in streams.range((g.id, prefix)..(g.id + 1, ""))? {
                    let (k, v) = item?;
                    let name = k.value().1;
                    if !name.starts_with(prefix) {
                        break;
                    }
                    let s: StreamRec = serde_json::from_slice(v.value())?;
                    selected.push((s.id, name.to_owned()));
                }
            }
        }
        let cutoff = g.retention.map_or(0, |d| now - i64::from(d) * DAY_MS);
        let from = Cursor {
            timestamp: q.start.unwrap_or(0).max(cutoff),
            seq: 0,
        }
        .max(q.after.unwrap_or(Cursor {
            timestamp: 0,
            seq: 0,
        }));
        let end = q.end.unwrap_or(i64::MAX);
        let events = txn.open_table(EVENTS)?;
        type Head = (EventKey, AccessGuard<'static, (i64, &'static str)>);
        let mut ranges = Vec::with_capacity(selected.len());
        let mut heads: Vec<Option<Head>> = Vec::with_capacity(selected.len());
        let mut heap = BinaryHeap::new();
        for (i, (id, _)) in selected.iter().enumerate() {
            if from.timestamp > end {
                break;
            }
            let mut r = events.range(from.key(*id)..=(*id, end, u64::MAX))?;
            let head = r.next().transpose()?.map(|(k, v)| (k.value(), v));
            if let Some((k, _)) = &head {
                heap.push(Reverse((k.1, k.2, i)));
            }
            ranges.push(r);
            heads.push(head);
        }
        let mut out = Vec::new();
        let (mut scanned, mut bytes) = (0usize, 0usize);
        let mut next = None;
        while let Some(Reverse((ts, seq, i))) = heap.pop() {
            if out.len() >= q.limit || scanned >= MAX_SCAN || bytes >= MAX_PAGE_BYTES {
                next = Some(Cursor { timestamp: ts, seq });
                break;
            }
            scanned += 1;
            if let Some((key, v)) = heads[i].take() {
                let (ingestion_time, message) = v.value();
                if q.pattern.as_ref().is_none_or(|p| p.matches(message)) {
                    bytes += message.len() + EVENT_OVERHEAD;
                    out.push(FilteredEvent {
                        stream: selected[i].1.clone(),
                        timestamp: key.1,
                        message: message.to_owned(),
                        ingestion_time,
                        event_id: format!("{:020}{:020}", key.1, key.2),
                    });
                }
            }
            let head = ranges[i].next().transpose()?.map(|(k, v)| (k.value(), v));
            if let Some((k, _)) = &head {
                heap.push(Reverse((k.1, k.2, i)));
            }
            heads[i] = head;
        }
        Ok(FilterPage {
            events: out,
            next,
            searched: selected.into_iter().map(|(_, n)| n).collect(),
        })
    }

    /// Deletes the events every group's retention has expired at `now`.
    pub fn sweep_expired(&self, now: i64) -> Result<(), LogsError> {
        let mut due = Vec::new();
        {
            let txn = self.db.begin_read()?;
            for item in txn.open_table(GROUPS)?.iter()? {
                let (k, v) = item?;
                let rec: GroupRec = serde_json::from_slice(v.value())?;
                if rec.retention.is_some() {
                    let mut parts = k.value().splitn(3, '\0');
                    if let (Some(a), Some(r), Some(n)) = (parts.next(), parts.next(), parts.next())
                    {
                        due.push((a.to_owned(), r.to_owned(), n.to_owned()));
                    }
                }
            }
        }
        for (a, r, n) in due {
            match self.sweep_group(&a, &r, &n, now) {
                Ok(()) | Err(LogsError::ResourceNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn sweep_group(
        &self,
        account: &str,
        region: &str,
        name: &str,
        now: i64,
    ) -> Result<(), LogsError> {
        let txn = self.db.begin_write()?;
        {
            let mut groups = txn.open_table(GROUPS)?;
            let mut g = read_group(&groups, account, region, name)?;
            let Some(days) = g.retention else {
                return Ok(());
            };
            let cutoff = now - i64::from(days) * DAY_MS;
            let mut streams = txn.open_table(STREAMS)?;
            let mut events = txn.open_table(EVENTS)?;
            let mut recs = Vec::new();
            for item in streams.range((g.id, "")..(g.id + 1, ""))? {
                let (k, v) = item?;
                let s: StreamRec = serde_json::from_slice(v.value())?;
                if s.first.is_some_and(|f| f < cutoff) {
                    recs.push((k.value().1.to_owned(), s));
                }
            }
            for (stream, mut s) in recs {
                let (n, bytes) = drop_events(&mut events, s.id, cutoff)?;
                self.metrics.events_expired.fetch_add(n, Ordering::Relaxed);
                let freed = bytes;
                s.stored_bytes = s.stored_bytes.saturating_sub(freed);
                g.stored_bytes = g.stored_bytes.saturating_sub(freed);
                s.first = events
                    .range((s.id, cutoff, 0)..=(s.id, i64::MAX, u64::MAX))?
                    .next()
                    .transpose()?
                    .map(|(k, _)| k.value().1);
                streams.insert((g.id, stream.as_str()), serde_json::to_vec(&s)?.as_slice())?;
            }
            let key = group_key(account, region, name);
            groups.insert(key.as_str(), serde_json::to_vec(&g)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Appends the service's counters in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let m = &self.metrics;
        for (name, help, v) in [
            (
                "fort_logs_events_written_total",
                "Log events stored (PutLogEvents and Fort's own delivery).",
                &m.events_written,
            ),
            (
                "fort_logs_bytes_written_total",
                "Bytes of log events stored (message bytes plus 26 per event, as AWS counts).",
                &m.bytes_written,
            ),
            (
                "fort_logs_events_rejected_total",
                "Log events PutLogEvents refused as too old, too new or expired.",
                &m.events_rejected,
            ),
            (
                "fort_logs_events_expired_total",
                "Log events deleted by retention.",
                &m.events_expired,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
}

/// A stream in DescribeLogStreams' LastEventTime order (streams without events first, as
/// AWS's), or its reverse.
struct Ranked {
    last: Option<i64>,
    name: String,
    rec: StreamRec,
    descending: bool,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let o = (self.last, &self.name).cmp(&(other.last, &other.name));
        if self.descending { o.reverse() } else { o }
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked {}

fn check_tags(tags: &BTreeMap<String, String>, existing: usize) -> Result<(), LogsError> {
    if existing + tags.len() > MAX_TAGS {
        return Err(LogsError::TooManyTags(format!(
            "A resource can have no more than {MAX_TAGS} tags."
        )));
    }
    let ok = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    };
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || !ok(k) {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{k}' at 'tags' failed to satisfy constraint: Map keys must have length less than or equal to 128, greater than or equal to 1 and satisfy regular expression pattern: ^([\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]+)$"
            )));
        }
        if k.starts_with("aws:") {
            return Err(LogsError::invalid(
                "Tag keys beginning with 'aws:' are reserved.",
            ));
        }
        if v.chars().count() > 256 || !ok(v) {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{v}' at 'tags' failed to satisfy constraint: Map values must have length less than or equal to 256 and satisfy regular expression pattern: ^([\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*)$"
            )));
        }
    }
    Ok(())
}

fn sweeper(logs: &Weak<Logs>) {
    let mut waited = Duration::ZERO;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        waited += Duration::from_secs(1);
        let Some(logs) = logs.upgrade() else { return };
        if waited >= SWEEP_EVERY {
            waited = Duration::ZERO;
            if let Err(e) = logs.sweep_expired(now_ms()) {
                tracing::warn!(error = %e, "logs retention sweep");
            }
        }
    }
}

#[cfg(test)]
mod tests;
