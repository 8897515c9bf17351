//! CloudWatch Logs at Fort's endpoint: the JSON 1.1 protocol (`X-Amz-Target:
//! Logs_20140328.<Operation>`), signed for service `logs` with the same credentials as EC2.
//! The subset VPC flow logs and their readers need: groups, streams, PutLogEvents,
//! GetLogEvents, FilterLogEvents (with AWS's filter patterns), retention and tags. State and
//! storage are [`fort_logs::Logs`]; this module only decodes, calls and renders.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fort_logs::{
    Cursor, FilterQuery, GetQuery, GroupInfo, LogEvent, Logs, LogsError, Pattern, StreamOrder,
    StreamSelection,
};
use serde_json::{Map, Value, json};

/// The JSON protocol's operations name themselves with this prefix in `X-Amz-Target`.
const TARGET_PREFIX: &str = "Logs_20140328.";
/// DescribeLogGroups' and DescribeLogStreams' largest (and default) page.
const DESCRIBE_LIMIT: i64 = 50;
/// GetLogEvents' and FilterLogEvents' largest (and default) page.
const EVENTS_LIMIT: i64 = 10_000;

/// The largest Logs request body: a full PutLogEvents batch (1 MiB of messages) in JSON,
/// with room for escaping.
pub const MAX_BODY: usize = 8 << 20;

/// The body limit of a request that names a Logs operation (`None`: not a Logs request).
pub fn max_body(headers: &HeaderMap) -> Option<usize> {
    headers
        .get("x-amz-target")
        .is_some_and(|t| t.as_bytes().starts_with(TARGET_PREFIX.as_bytes()))
        .then_some(MAX_BODY)
}

/// Logs operations running at once: each holds a blocking thread (redb, fsync) and its
/// batch; more wait here rather than grow the blocking pool.
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

/// An error as the Logs service reports it.
#[derive(Debug, PartialEq, Eq)]
struct LogsApiError {
    code: &'static str,
    message: String,
    status: StatusCode,
}

impl From<LogsError> for LogsApiError {
    fn from(e: LogsError) -> Self {
        let status = match e {
            LogsError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        LogsApiError {
            code: e.code(),
            message: e.to_string(),
            status,
        }
    }
}

fn invalid(message: impl Into<String>) -> LogsApiError {
    LogsError::invalid(message).into()
}

fn serialization(message: impl Into<String>) -> LogsApiError {
    LogsApiError {
        code: "SerializationException",
        message: message.into(),
        status: StatusCode::BAD_REQUEST,
    }
}

/// Answers one Logs request of `account` in `region`.
/// The IAM action and resource of a Logs request: `logs:OPERATION` on its log group's
/// ARN (its stream's for the stream operations), or `*` when it names none.
pub fn iam_access(
    headers: &HeaderMap,
    body: &[u8],
    account: &str,
    region: &str,
) -> (String, String) {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("");
    let input = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    let resource = match (text("logGroupName"), text("logStreamName")) {
        (Some(g), Some(s)) => {
            format!("arn:aws:logs:{region}:{account}:log-group:{g}:log-stream:{s}")
        }
        (Some(g), None) => format!("arn:aws:logs:{region}:{account}:log-group:{g}"),
        _ => "*".to_owned(),
    };
    (format!("logs:{operation}"), resource)
}

/// Logs' answer to a request a policy denies.
pub fn access_denied(message: &str, request_id: &str) -> Response {
    respond(
        StatusCode::BAD_REQUEST,
        &json!({ "__type": "AccessDeniedException", "message": message }),
        request_id,
        Some("AccessDeniedException"),
    )
}

pub async fn handle(
    logs: Arc<Logs>,
    account: String,
    region: String,
    headers: &HeaderMap,
    body: bytes::Bytes,
    request_id: &str,
) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("")
        .to_owned();
    // redb reads and fsyncing writes block: off the async workers
    let Ok(_permit) = RUNNING.acquire().await else {
        let e: LogsApiError =
            LogsError::Unavailable("The Logs service is shutting down.".into()).into();
        return respond(
            e.status,
            &json!({ "__type": e.code, "message": e.message }),
            request_id,
            Some(e.code),
        );
    };
    let result = tokio::task::spawn_blocking(move || {
        let input = serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { &body })
            .map_err(|_| serialization("The request body is not JSON."))?;
        if !input.is_object() {
            return Err(serialization("The request body is not a JSON object."));
        }
        answer(
            &logs,
            &account,
            &region,
            &operation,
            &input,
            fort_logs_now(),
        )
    })
    .await
    .unwrap_or_else(|_| {
        Err(LogsError::Unavailable("The Logs service failed on this request.".into()).into())
    });
    match result {
        Ok(v) => respond(StatusCode::OK, &v, request_id, None),
        Err(e) => respond(
            e.status,
            &json!({ "__type": e.code, "message": e.message }),
            request_id,
            Some(e.code),
        ),
    }
}

fn fort_logs_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn respond(status: StatusCode, v: &Value, request_id: &str, error: Option<&str>) -> Response {
    let mut resp = (status, Body::from(v.to_string())).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", id);
    }
    if let Some(code) = error.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("x-amzn-errortype", code);
    }
    resp
}

fn answer(
    logs: &Logs,
    account: &str,
    region: &str,
    operation: &str,
    input: &Value,
    now: i64,
) -> Result<Value, LogsApiError> {
    let empty = || Ok(json!({}));
    match operation {
        "CreateLogGroup" => {
            let name = required(input, "logGroupName")?;
            let tags = tags(input, "tags")?.unwrap_or_default();
            logs.create_group(
                account,
                region,
                name,
                string(input, "logGroupClass")?,
                string(input, "kmsKeyId")?,
                tags,
            )?;
            empty()
        }
        "DeleteLogGroup" => {
            logs.delete_group(account, region, required(input, "logGroupName")?)?;
            empty()
        }
        "DescribeLogGroups" => describe_groups(logs, account, region, input),
        "CreateLogStream" => {
            let group = required(input, "logGroupName")?;
            logs.create_stream(account, region, group, required(input, "logStreamName")?)?;
            empty()
        }
        "DeleteLogStream" => {
            let group = required(input, "logGroupName")?;
            logs.delete_stream(account, region, group, required(input, "logStreamName")?)?;
            empty()
        }
        "DescribeLogStreams" => describe_streams(logs, account, region, input),
        "PutLogEvents" => put_log_events(logs, account, region, input, now),
        "GetLogEvents" => get_log_events(logs, account, region, input, now),
        "FilterLogEvents" => filter_log_events(logs, account, region, input, now),
        "PutRetentionPolicy" => {
            let group = required(input, "logGroupName")?;
            let days =
                integer(input, "retentionInDays")?.ok_or_else(|| missing("retentionInDays"))?;
            logs.put_retention(account, region, group, days)?;
            empty()
        }
        "DeleteRetentionPolicy" => {
            logs.delete_retention(account, region, required(input, "logGroupName")?)?;
            empty()
        }
        "TagResource" => {
            let group = arn_group(account, region, required(input, "resourceArn")?)?;
            let tags = tags(input, "tags")?.ok_or_else(|| missing("tags"))?;
            logs.tag_group(account, region, &group, tags)?;
            empty()
        }
        "UntagResource" => {
            let group = arn_group(account, region, required(input, "resourceArn")?)?;
            let keys = strings(input, "tagKeys")?.ok_or_else(|| missing("tagKeys"))?;
            logs.untag_group(account, region, &group, &keys)?;
            empty()
        }
        "ListTagsForResource" => {
            let group = arn_group(account, region, required(input, "resourceArn")?)?;
            Ok(json!({ "tags": logs.tags(account, region, &group)? }))
        }
        "TagLogGroup" => {
            let group = required(input, "logGroupName")?;
            let tags = tags(input, "tags")?.ok_or_else(|| missing("tags"))?;
            logs.tag_group(account, region, group, tags)?;
            empty()
        }
        "UntagLogGroup" => {
            let group = required(input, "logGroupName")?;
            let keys = strings(input, "tags")?.ok_or_else(|| missing("tags"))?;
            logs.untag_group(account, region, group, &keys)?;
            empty()
        }
        "ListTagsLogGroup" => {
            let group = required(input, "logGroupName")?;
            Ok(json!({ "tags": logs.tags(account, region, group)? }))
        }
        other => Err(LogsApiError {
            code: "UnknownOperationException",
            message: format!(
                "Fort answers CreateLogGroup, DeleteLogGroup, DescribeLogGroups, CreateLogStream, DeleteLogStream, DescribeLogStreams, PutLogEvents, GetLogEvents, FilterLogEvents, PutRetentionPolicy, DeleteRetentionPolicy and the tagging operations of CloudWatch Logs, not '{other}'."
            ),
            status: StatusCode::BAD_REQUEST,
        }),
    }
}

fn describe_groups(
    logs: &Logs,
    account: &str,
    region: &str,
    input: &Value,
) -> Result<Value, LogsApiError> {
    let prefix = string(input, "logGroupNamePrefix")?;
    let pattern = string(input, "logGroupNamePattern")?;
    if prefix.is_some() && pattern.is_some() {
        return Err(invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    if let Some(p) = prefix {
        fort_logs::group_name(p).map_err(|_| {
            invalid(format!("1 validation error detected: Value '{p}' at 'logGroupNamePrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"))
        })?;
    }
    if let Some(p) = pattern
        && (p.len() > 512
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b)))
    {
        return Err(invalid(format!(
            "1 validation error detected: Value '{p}' at 'logGroupNamePattern' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]*"
        )));
    }
    let limit = limit(input, DESCRIBE_LIMIT)?;
    let after = match string(input, "nextToken")? {
        Some(t) => Some(t.strip_prefix("g/").ok_or_else(bad_token)?),
        None => None,
    };
    let (groups, next) = logs.describe_groups(
        account,
        region,
        prefix.unwrap_or(""),
        pattern.filter(|p| !p.is_empty()),
        string(input, "logGroupClass")?,
        after,
        limit,
    )?;
    let mut out = json!({ "logGroups": groups.iter().map(render_group).collect::<Vec<_>>() });
    if let Some(n) = next {
        out["nextToken"] = json!(format!("g/{n}"));
    }
    Ok(out)
}

fn render_group(g: &GroupInfo) -> Value {
    let mut v = json!({
        "logGroupName": g.name,
        "creationTime": g.creation_time,
        "metricFilterCount": 0,
        "arn": g.arn,
        "storedBytes": g.stored_bytes,
        "logGroupClass": g.class,
        "logGroupArn": g.log_group_arn,
    });
    if let Some(d) = g.retention_days {
        v["retentionInDays"] = json!(d);
    }
    if let Some(k) = &g.kms_key_id {
        v["kmsKeyId"] = json!(k);
    }
    v
}

fn describe_streams(
    logs: &Logs,
    account: &str,
    region: &str,
    input: &Value,
) -> Result<Value, LogsApiError> {
    let group = group_of(account, region, input)?;
    let prefix = string(input, "logStreamNamePrefix")?;
    let order = match string(input, "orderBy")? {
        None | Some("LogStreamName") => StreamOrder::LogStreamName,
        Some("LastEventTime") => StreamOrder::LastEventTime,
        Some(o) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{o}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )));
        }
    };
    if order == StreamOrder::LastEventTime && prefix.is_some() {
        return Err(invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let descending = boolean(input, "descending")?.unwrap_or(false);
    let limit = limit(input, DESCRIBE_LIMIT)?;
    let skip = match string(input, "nextToken")? {
        Some(t) => t
            .strip_prefix("s/")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(bad_token)?,
        None => 0,
    };
    let page = logs.describe_streams(
        account,
        region,
        &group,
        prefix.unwrap_or(""),
        order,
        descending,
        skip,
        limit,
    )?;
    let streams: Vec<Value> = page
        .streams
        .iter()
        .map(|s| {
            let mut v = json!({
                "logStreamName": s.name,
                "creationTime": s.creation_time,
                "arn": s.arn,
                "uploadSequenceToken": s.upload_sequence_token,
                "storedBytes": s.stored_bytes,
            });
            for (key, t) in [
                ("firstEventTimestamp", s.first_event_timestamp),
                ("lastEventTimestamp", s.last_event_timestamp),
                ("lastIngestionTime", s.last_ingestion_time),
            ] {
                if let Some(t) = t {
                    v[key] = json!(t);
                }
            }
            v
        })
        .collect();
    let mut out = json!({ "logStreams": streams });
    if let Some(n) = page.next {
        out["nextToken"] = json!(format!("s/{n}"));
    }
    Ok(out)
}

fn put_log_events(
    logs: &Logs,
    account: &str,
    region: &str,
    input: &Value,
    now: i64,
) -> Result<Value, LogsApiError> {
    let group = required(input, "logGroupName")?;
    let stream = required(input, "logStreamName")?;
    let raw = match input.get("logEvents") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(missing("logEvents")),
        Some(_) => return Err(bad_type("logEvents")),
    };
    let mut events = Vec::with_capacity(raw.len().min(fort_logs::MAX_BATCH_EVENTS));
    for (i, e) in raw.iter().enumerate() {
        if !e.is_object() {
            return Err(bad_type("logEvents"));
        }
        let timestamp = integer(e, "timestamp")?
            .ok_or_else(|| missing(&format!("logEvents.{}.member.timestamp", i + 1)))?;
        let message = string(e, "message")?
            .ok_or_else(|| missing(&format!("logEvents.{}.member.message", i + 1)))?;
        events.push(LogEvent {
            timestamp,
            message: message.to_owned(),
        });
    }
    let out = logs.put_log_events(account, region, group, stream, &events, now)?;
    let mut v = json!({ "nextSequenceToken": out.next_sequence_token });
    if !out.rejected.is_empty() {
        let mut info = Map::new();
        for (key, idx) in [
            ("tooNewLogEventStartIndex", out.rejected.too_new_start),
            ("tooOldLogEventEndIndex", out.rejected.too_old_end),
            ("expiredLogEventEndIndex", out.rejected.expired_end),
        ] {
            if let Some(i) = idx {
                info.insert(key.into(), json!(i));
            }
        }
        v["rejectedLogEventsInfo"] = Value::Object(info);
    }
    Ok(v)
}

fn get_log_events(
    logs: &Logs,
    account: &str,
    region: &str,
    input: &Value,
    now: i64,
) -> Result<Value, LogsApiError> {
    let group = group_of(account, region, input)?;
    let stream = required(input, "logStreamName")?;
    let token = match string(input, "nextToken")? {
        Some(t) => Some(if let Some(c) = t.strip_prefix("f/") {
            Ok(parse_cursor(c)?)
        } else if let Some(c) = t.strip_prefix("b/") {
            Err(parse_cursor(c)?)
        } else {
            return Err(bad_token());
        }),
        None => None,
    };
    let q = GetQuery {
        start: timestamp(input, "startTime")?,
        end: timestamp(input, "endTime")?,
        from_head: boolean(input, "startFromHead")?.unwrap_or(false),
        limit: limit(input, EVENTS_LIMIT)?,
        token,
    };
    let page = logs.get_log_events(account, region, &group, stream, &q, now)?;
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            json!({ "timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time })
        })
        .collect();
    Ok(json!({
        "events": events,
        "nextForwardToken": format!("f/{}", cursor_text(page.next_forward)),
        "nextBackwardToken": format!("b/{}", cursor_text(page.next_backward)),
    }))
}

fn filter_log_events(
    logs: &Logs,
    account: &str,
    region: &str,
    input: &Value,
    now: i64,
) -> Result<Value, LogsApiError> {
    let group = group_of(account, region, input)?;
    let names = strings(input, "logStreamNames")?;
    let prefix = string(input, "logStreamNamePrefix")?;
    let streams = match (names, prefix) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
            ));
        }
        (Some(n), None) => {
            if n.is_empty() || n.len() > 100 {
                return Err(invalid(
                    "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1",
                ));
            }
            StreamSelection::Names(n)
        }
        (None, Some(p)) => StreamSelection::Prefix(p.to_owned()),
        (None, None) => StreamSelection::All,
    };
    let pattern = match string(input, "filterPattern")? {
        Some(p) => {
            Some(Pattern::parse(p).map_err(|e| invalid(format!("Invalid filter pattern: {e}")))?)
        }
        None => None,
    };
    let after = match string(input, "nextToken")? {
        Some(t) => Some(parse_cursor(t.strip_prefix("e/").ok_or_else(bad_token)?)?),
        None => None,
    };
    let (start, end) = (timestamp(input, "startTime")?, timestamp(input, "endTime")?);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(invalid(
            "endTime must be greater than or equal to startTime.",
        ));
    }
    let q = FilterQuery {
        streams,
        start,
        end,
        pattern,
        limit: limit(input, EVENTS_LIMIT)?,
        after,
    };
    let page = logs.filter_log_events(account, region, &group, &q, now)?;
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            json!({
                "logStreamName": e.stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion_time,
                "eventId": e.event_id,
            })
        })
        .collect();
    let searched: Vec<Value> = page
        .searched
        .iter()
        .map(|n| json!({ "logStreamName": n, "searchedCompletely": page.next.is_none() }))
        .collect();
    let mut out = json!({ "events": events, "searchedLogStreams": searched });
    if let Some(c) = page.next {
        out["nextToken"] = json!(format!("e/{}", cursor_text(c)));
    }
    Ok(out)
}

/// A position as a token: two zero-padded decimal numbers.
fn cursor_text(c: Cursor) -> String {
    format!("{:020}{:020}", c.timestamp.max(0), c.seq)
}

fn parse_cursor(t: &str) -> Result<Cursor, LogsApiError> {
    if t.len() != 40 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_token());
    }
    Ok(Cursor {
        timestamp: t[..20].parse().map_err(|_| bad_token())?,
        seq: t[20..].parse().map_err(|_| bad_token())?,
    })
}

fn bad_token() -> LogsApiError {
    invalid("The specified nextToken is invalid.")
}

/// The group a request names, by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
fn group_of(account: &str, region: &str, input: &Value) -> Result<String, LogsApiError> {
    match (
        string(input, "logGroupName")?,
        string(input, "logGroupIdentifier")?,
    ) {
        (Some(_), Some(_)) => Err(invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(n), None) => Ok(n.to_owned()),
        (None, Some(id)) if id.starts_with("arn:") => arn_group(account, region, id),
        (None, Some(id)) => Ok(id.to_owned()),
        (None, None) => Err(invalid(
            "Should provide either name or ARN of the log group (logGroupName or logGroupIdentifier).",
        )),
    }
}

/// The group an ARN names: `arn:aws:logs:REGION:ACCOUNT:log-group:NAME` (optionally `:*`).
fn arn_group(account: &str, region: &str, arn: &str) -> Result<String, LogsApiError> {
    let rest = arn
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(':'))
        .map(|(_partition, r)| r)
        .and_then(|r| r.strip_prefix("logs:"))
        .ok_or_else(|| invalid(format!("Invalid resource ARN: {arn}")))?;
    let mut parts = rest.splitn(4, ':');
    let (Some(r), Some(a), Some("log-group"), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!(
            "Invalid resource ARN: {arn} (Fort's Logs resources are log groups)"
        )));
    };
    let name = name.strip_suffix(":*").unwrap_or(name);
    if r != region || a != account {
        return Err(
            LogsError::ResourceNotFound("The specified log group does not exist.".into()).into(),
        );
    }
    Ok(name.to_owned())
}

fn string<'a>(input: &'a Value, key: &str) -> Result<Option<&'a str>, LogsApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_type(key)),
    }
}

fn required<'a>(input: &'a Value, key: &str) -> Result<&'a str, LogsApiError> {
    string(input, key)?.ok_or_else(|| missing(key))
}

fn integer(input: &Value, key: &str) -> Result<Option<i64>, LogsApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| bad_type(key)),
    }
}

fn timestamp(input: &Value, key: &str) -> Result<Option<i64>, LogsApiError> {
    let t = integer(input, key)?;
    if let Some(v) = t.filter(|v| *v < 0) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{v}' at '{key}' failed to satisfy constraint: Member must have value greater than or equal to 0"
        )));
    }
    Ok(t)
}

fn boolean(input: &Value, key: &str) -> Result<Option<bool>, LogsApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad_type(key)),
    }
}

fn limit(input: &Value, max: i64) -> Result<usize, LogsApiError> {
    let n = integer(input, "limit")?.unwrap_or(max);
    if !(1..=max).contains(&n) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to {max} and greater than or equal to 1"
        )));
    }
    Ok(usize::try_from(n).unwrap_or(1))
}

fn strings(input: &Value, key: &str) -> Result<Option<Vec<String>>, LogsApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| bad_type(key)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad_type(key)),
    }
}

fn tags(input: &Value, key: &str) -> Result<Option<BTreeMap<String, String>>, LogsApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_owned()))
                    .ok_or_else(|| bad_type(key))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some),
        Some(_) => Err(bad_type(key)),
    }
}

fn missing(field: &str) -> LogsApiError {
    invalid(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn bad_type(field: &str) -> LogsApiError {
    serialization(format!("The value of {field} has the wrong type."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "123456789012";
    const R: &str = "us-east-1";

    fn call(logs: &Logs, op: &str, input: Value) -> Result<Value, LogsApiError> {
        answer(logs, A, R, op, &input, fort_logs_now())
    }

    #[test]
    fn operations_round_trip_and_errors_keep_their_codes() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Logs::open(dir.path()).unwrap();
        call(
            &logs,
            "CreateLogGroup",
            json!({ "logGroupName": "g", "tags": { "a": "b" } }),
        )
        .unwrap();
        let e = call(&logs, "CreateLogGroup", json!({ "logGroupName": "g" })).unwrap_err();
        assert_eq!(e.code, "ResourceAlreadyExistsException");
        let e = call(&logs, "CreateLogGroup", json!({})).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let e = call(&logs, "CreateLogGroup", json!({ "logGroupName": 5 })).unwrap_err();
        assert_eq!(e.code, "SerializationException");
        call(
            &logs,
            "CreateLogStream",
            json!({ "logGroupName": "g", "logStreamName": "s" }),
        )
        .unwrap();
        let now = fort_logs_now();
        let put = call(
            &logs,
            "PutLogEvents",
            json!({ "logGroupName": "g", "logStreamName": "s",
                    "logEvents": [{ "timestamp": now, "message": "hello world" }] }),
        )
        .unwrap();
        assert!(put.get("rejectedLogEventsInfo").is_none());
        let got = call(
            &logs,
            "GetLogEvents",
            json!({ "logGroupIdentifier": format!("arn:aws:logs:{R}:{A}:log-group:g:*"), "logStreamName": "s" }),
        )
        .unwrap();
        assert_eq!(got["events"][0]["message"], "hello world");
        let again = call(
            &logs,
            "GetLogEvents",
            json!({ "logGroupName": "g", "logStreamName": "s", "nextToken": got["nextForwardToken"] }),
        )
        .unwrap();
        assert_eq!(again["nextForwardToken"], got["nextForwardToken"]);
        let e = call(
            &logs,
            "GetLogEvents",
            json!({ "logGroupName": "g", "logStreamName": "s", "nextToken": "f/junk" }),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let found = call(
            &logs,
            "FilterLogEvents",
            json!({ "logGroupName": "g", "filterPattern": "[a, b=world]" }),
        )
        .unwrap();
        assert_eq!(found["events"][0]["logStreamName"], "s");
        let e = call(
            &logs,
            "FilterLogEvents",
            json!({ "logGroupName": "g", "filterPattern": "[a" }),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let arn = format!("arn:aws:logs:{R}:{A}:log-group:g");
        call(
            &logs,
            "TagResource",
            json!({ "resourceArn": arn, "tags": { "c": "d" } }),
        )
        .unwrap();
        let t = call(&logs, "ListTagsForResource", json!({ "resourceArn": arn })).unwrap();
        assert_eq!(t["tags"], json!({ "a": "b", "c": "d" }));
        let e = call(
            &logs,
            "ListTagsForResource",
            json!({ "resourceArn": format!("arn:aws:logs:{R}:999999999999:log-group:g") }),
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceNotFoundException");
        let e = call(&logs, "StartLiveTail", json!({})).unwrap_err();
        assert_eq!(e.code, "UnknownOperationException");
        let e = call(&logs, "DescribeLogGroups", json!({ "limit": 51 })).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let e = call(
            &logs,
            "PutRetentionPolicy",
            json!({ "logGroupName": "g", "retentionInDays": 2 }),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            timestamp: 1_700_000_000_123,
            seq: 42,
        };
        assert_eq!(parse_cursor(&cursor_text(c)).unwrap(), c);
        assert!(parse_cursor("123").is_err());
        assert!(parse_cursor(&"9".repeat(40)).is_err());
    }
}
