//! Fort's CloudWatch Logs service: log groups, log streams and their events, per account and
//! region, kept on disk in one redb file (`DATA_DIR/logs/logs.redb`). No HTTP here: the
//! endpoint (crates/ec2-api/src/logs.rs) decodes requests into these calls, and Fort's own
//! flow-log delivery writes through [`Logs::put_events`].
//!
//! Events are keyed `(stream id, timestamp, sequence)`, so a stream reads in time order and
//! a group's streams merge by `(timestamp, sequence)`: the sequence is global, so that order
//! is total and a page token is one position in it. Reads stream from redb; nothing holds
//! a stream's events in memory, and redb's page cache is bounded ([`CACHE_BYTES`]).
#![forbid(unsafe_code)]

pub mod pattern;
mod store;
mod validate;

pub use pattern::{Pattern, PatternError};
pub use store::{
    Cursor, FilterPage, FilterQuery, FilteredEvent, GetPage, GetQuery, GroupInfo, Logs, Metrics,
    OutputEvent, PutOutcome, StreamInfo, StreamOrder, StreamPage, StreamSelection,
};
pub use validate::{
    MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_EVENT_BYTES, RETENTION_DAYS, Rejected, group_name,
    stream_name,
};

/// redb's page cache for the logs file: reads and writes of any volume stay within it.
pub const CACHE_BYTES: usize = 32 << 20;

/// One event to write: milliseconds since the epoch and its text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogEvent {
    pub timestamp: i64,
    pub message: String,
}

/// A refusal, by the CloudWatch Logs error it is reported as.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    TooManyTags(String),
    /// The disk, the database or the shared store failed: not the caller's fault.
    #[error("{0}")]
    Unavailable(String),
}

impl LogsError {
    /// The `__type` AWS answers with.
    pub fn code(&self) -> &'static str {
        match self {
            LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::LimitExceeded(_) => "LimitExceededException",
            LogsError::TooManyTags(_) => "TooManyTagsException",
            LogsError::Unavailable(_) => "ServiceUnavailableException",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        LogsError::InvalidParameter(message.into())
    }

    fn group_not_found() -> Self {
        LogsError::ResourceNotFound("The specified log group does not exist.".into())
    }

    fn stream_not_found() -> Self {
        LogsError::ResourceNotFound("The specified log stream does not exist.".into())
    }
}

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for LogsError {
            fn from(e: $t) -> Self {
                tracing::error!(error = %e, "logs storage");
                LogsError::Unavailable(format!("The logs store failed: {e}"))
            }
        }
    )*};
}
storage_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    serde_json::Error,
    std::io::Error
);
