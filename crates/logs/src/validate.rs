//! The constraints AWS's model puts on names and batches, with the messages AWS gives.

use crate::{LogEvent, LogsError};

/// The most events one PutLogEvents carries.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// The largest PutLogEvents batch: the messages' UTF-8 bytes plus 26 per event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// The largest event, counted the same way.
pub const MAX_EVENT_BYTES: usize = 262_144;
/// What each event adds to a batch's size.
pub const EVENT_OVERHEAD: usize = 26;
/// The retention periods PutRetentionPolicy accepts, in days.
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

fn constraint(value: &str, field: &str, what: &str) -> LogsError {
    LogsError::invalid(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {what}"
    ))
}

/// A log group name: 1 to 512 of `[.-_/#A-Za-z0-9]`.
pub fn group_name(name: &str) -> Result<(), LogsError> {
    group_name_at(name, "logGroupName")
}

pub(crate) fn group_name_at(name: &str, field: &str) -> Result<(), LogsError> {
    if name.is_empty() || name.len() > 512 {
        return Err(constraint(
            name,
            field,
            "Member must have length less than or equal to 512 and greater than or equal to 1",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b))
    {
        return Err(constraint(
            name,
            field,
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

/// A log stream name: 1 to 512 characters, none of them `:` or `*`.
pub fn stream_name(name: &str) -> Result<(), LogsError> {
    if name.is_empty() || name.len() > 512 {
        return Err(constraint(
            name,
            "logStreamName",
            "Member must have length less than or equal to 512 and greater than or equal to 1",
        ));
    }
    if name.contains([':', '*']) {
        return Err(constraint(
            name,
            "logStreamName",
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

pub(crate) fn retention(days: i64) -> Result<u32, LogsError> {
    u32::try_from(days)
        .ok()
        .filter(|d| RETENTION_DAYS.contains(d))
        .ok_or_else(|| {
            let set: Vec<String> = RETENTION_DAYS.iter().map(u32::to_string).collect();
            constraint(
                &days.to_string(),
                "retentionInDays",
                &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
            )
        })
}

/// Which events of a batch AWS refuses, by index; the rest are stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Events from this index on are more than 2 hours in the future.
    pub too_new_start: Option<usize>,
    /// Events up to this index are more than 14 days old.
    pub too_old_end: Option<usize>,
    /// Events up to this index are older than the group's retention.
    pub expired_end: Option<usize>,
}

impl Rejected {
    pub fn is_empty(&self) -> bool {
        *self == Rejected::default()
    }
}

/// Checks a PutLogEvents batch as AWS does, at `now` (ms) under `retention_days`: a batch
/// that breaks a rule is refused whole; events outside the accepted window are reported
/// and skipped. Returns the range of indices to store.
pub(crate) fn batch(
    events: &[LogEvent],
    now: i64,
    retention_days: Option<u32>,
) -> Result<(std::ops::Range<usize>, Rejected), LogsError> {
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_EVENTS} and greater than or equal to 1"
        )));
    }
    let mut size = 0usize;
    for (i, e) in events.iter().enumerate() {
        if e.message.is_empty() {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '' at 'logEvents.{}.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1",
                i + 1
            )));
        }
        if e.timestamp < 0 {
            return Err(LogsError::invalid(format!(
                "1 validation error detected: Value '{}' at 'logEvents.{}.member.timestamp' failed to satisfy constraint: Member must have value greater than or equal to 0",
                e.timestamp,
                i + 1
            )));
        }
        let one = e.message.len() + EVENT_OVERHEAD;
        if one > MAX_EVENT_BYTES {
            return Err(LogsError::invalid(format!(
                "Log event too large: {one} bytes exceeds limit of {MAX_EVENT_BYTES}"
            )));
        }
        size += one;
    }
    if size > MAX_BATCH_BYTES {
        return Err(LogsError::invalid(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
        return Err(LogsError::invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let (first, last) = (events[0].timestamp, events[events.len() - 1].timestamp);
    if last - first > DAY_MS {
        return Err(LogsError::invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let mut rejected = Rejected::default();
    let too_old = now - 14 * DAY_MS;
    let old_end = events.partition_point(|e| e.timestamp < too_old);
    if old_end > 0 {
        rejected.too_old_end = Some(old_end - 1);
    }
    let mut start = old_end;
    if let Some(days) = retention_days {
        let expired = now - i64::from(days) * DAY_MS;
        let exp_end = events.partition_point(|e| e.timestamp < expired);
        if exp_end > 0 {
            rejected.expired_end = Some(exp_end - 1);
        }
        start = start.max(exp_end);
    }
    let too_new = now + 2 * HOUR_MS;
    let new_start = events.partition_point(|e| e.timestamp <= too_new);
    if new_start < events.len() {
        rejected.too_new_start = Some(new_start);
    }
    Ok((start..new_start.max(start), rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(timestamp: i64) -> LogEvent {
        LogEvent {
            timestamp,
            message: "m".into(),
        }
    }

    #[test]
    fn names() {
        assert!(group_name("/aws/vpc/flow-logs_1#a.b").is_ok());
        assert!(group_name("").is_err());
        assert!(group_name("a b").is_err());
        assert!(group_name("a:b").is_err());
        assert!(group_name(&"a".repeat(512)).is_ok());
        assert!(group_name(&"a".repeat(513)).is_err());
        assert!(stream_name("eni-123-all").is_ok());
        assert!(stream_name("any thing / ok").is_ok());
        assert!(stream_name("a:b").is_err());
        assert!(stream_name("a*").is_err());
        assert!(stream_name("").is_err());
        assert!(retention(7).is_ok());
        assert!(retention(2).is_err());
        assert!(retention(-1).is_err());
    }

    #[test]
    fn batches() {
        let now = 100 * DAY_MS;
        let (r, rej) = batch(&[ev(now - 1), ev(now)], now, None).unwrap();
        assert_eq!((r, rej.is_empty()), (0..2, true));
        assert!(batch(&[], now, None).is_err());
        assert!(batch(&[ev(now), ev(now - 1)], now, None).is_err());
        assert!(batch(&[ev(now - DAY_MS - 1), ev(now)], now, None).is_err());
        let big = LogEvent {
            timestamp: now,
            message: "x".repeat(MAX_EVENT_BYTES),
        };
        assert!(batch(&[big], now, None).is_err());
        let many: Vec<LogEvent> = (0..5)
            .map(|_| LogEvent {
                timestamp: now,
                message: "x".repeat(250_000),
            })
            .collect();
        assert!(batch(&many, now, None).is_err());
        let fifteen_days = now - 15 * DAY_MS;
        let old = [ev(fifteen_days), ev(fifteen_days + DAY_MS / 2)];
        let (r, rej) = batch(&old, now, None).unwrap();
        assert_eq!(r.len(), 0);
        assert_eq!(rej.too_old_end, Some(1));
        let (r, rej) = batch(&[ev(now), ev(now + 3 * HOUR_MS)], now, Some(1)).unwrap();
        assert_eq!((r, rej.too_new_start), (0..1, Some(1)));
        let (r, rej) = batch(&[ev(now - DAY_MS - 10), ev(now - 20)], now, Some(1)).unwrap();
        assert_eq!((r, rej.expired_end), (1..2, Some(0)));
    }
}
