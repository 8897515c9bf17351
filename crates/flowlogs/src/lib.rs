//! Flow-log delivery on the server: hosts report closed windows (one flow log, one
//! interface, one aggregation interval); each becomes lines in the flow log's format,
//! written where the flow log says — a CloudWatch Logs stream named after the interface,
//! or a gzip object in S3 under AWS's key layout.
//!
//! Delivery does not hold records: a window whose destination fails is counted, shown in
//! the flow log's `DeliverLogsStatus`, and let go (a host never queues for a destination
//! that is gone).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use fort_model::{
    DeliverLogsStatus, FlowDirection, FlowLog, FlowLogDestination, FlowRecordValues, FlowValues,
    LogFormat, LogStatus, reported_tcp_flags,
};
use fort_proto::mapping::{FlowLogRecord, FlowLogReport, FlowLogWindow};

/// A flow log with the account and region that own it.
#[derive(Clone, Debug)]
pub struct Owned {
    pub account: String,
    pub region: String,
    pub flow_log: FlowLog,
}

/// The control plane, as delivery needs it.
#[async_trait]
pub trait Catalog: Send + Sync {
    async fn flow_log(&self, id: &str) -> Option<Owned>;
    /// The zone id (`use1-az6`) of a subnet's availability zone.
    async fn az_id(&self, account: &str, region: &str, subnet_id: &str) -> Option<String>;
    /// Records the outcome of the latest delivery: `None` is success.
    async fn set_status(&self, owned: &Owned, error: Option<String>);
}

/// One CloudWatch Logs event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    pub timestamp_ms: i64,
    pub message: String,
}

/// Where records are written: Fort's own CloudWatch Logs and S3.
#[async_trait]
pub trait Destinations: Send + Sync {
    /// Appends events to a stream, creating the stream if missing, and the group too
    /// when `create_group` (a flow log's first delivery, as AWS creates the group it names).
    async fn put_log_events(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
        create_group: bool,
    ) -> Result<(), String>;
    /// Writes an object into an existing bucket.
    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), String>;
}

/// Records written, skipped (SKIPDATA windows) and failed, per destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub written: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// The server's flow-log delivery.
pub struct Delivery<C, D> {
    catalog: C,
    destinations: D,
    /// (destination type, name) → counts.
    counts: Mutex<BTreeMap<(&'static str, String), Counts>>,
    /// The status last recorded per flow log: written again only when it changes. A flow
    /// log in it has had its first delivery (its log group made if missing); a group
    /// deleted after that is a failed destination, not made again.
    status: Mutex<BTreeMap<String, Option<String>>>,
    objects: AtomicU64,
}

impl<C: Catalog, D: Destinations> Delivery<C, D> {
    pub fn new(catalog: C, destinations: D) -> Self {
        Delivery {
            catalog,
            destinations,
            counts: Mutex::default(),
            status: Mutex::default(),
            objects: AtomicU64::new(0),
        }
    }

    /// Delivers a host's report; answers how many windows are done with (all of them:
    /// a failed destination is recorded, not retried).
    pub async fn deliver(&self, report: FlowLogReport) -> u32 {
        let n = u32::try_from(report.windows.len()).unwrap_or(u32::MAX);
        let mut by_log: BTreeMap<String, Vec<FlowLogWindow>> = BTreeMap::new();
        for w in report.windows {
            by_log.entry(w.flow_log_id.clone()).or_default().push(w);
        }
        for (id, windows) in by_log {
            // a flow log deleted since: its windows go nowhere
            if let Some(owned) = self.catalog.flow_log(&id).await {
                self.deliver_one(&owned, windows).await;
            }
        }
        n
    }

    async fn deliver_one(&self, owned: &Owned, windows: Vec<FlowLogWindow>) {
        let f = &owned.flow_log;
        // per window: its start, its interface and its records
        let mut lines: Vec<(u64, String, Records)> = Vec::new();
        let (mut records, mut skipped) = (0u64, 0u64);
        for w in &windows {
            let az = self
                .catalog
                .az_id(&owned.account, &owned.region, &w.subnet_id)
                .await;
            let rendered = render_window(
                w,
                &f.log_format,
                &owned.account,
                &owned.region,
                az.as_deref(),
            );
            records += rendered.len() as u64;
            skipped += u64::from(w.skipped > 0);
            lines.push((w.start, w.eni_id.clone(), rendered));
        }
        let (kind, name, result) = match &f.destination {
            FlowLogDestination::CloudWatchLogs { log_group, .. } => {
                let first = !self
                    .status
                    .lock()
                    .expect("flow-log status")
                    .contains_key(f.id.as_str());
                let mut result = Ok(());
                for (_, eni, events) in lines {
                    let events = events
                        .into_iter()
                        .map(|(ts, message)| LogEvent {
                            timestamp_ms: ts,
                            message,
                        })
                        .collect();
                    let r = self
                        .destinations
                        .put_log_events(
                            &owned.account,
                            &owned.region,
                            log_group,
                            // AWS's stream name: one per interface, whatever the traffic type
                            &format!("{eni}-all"),
                            events,
                            first,
                        )
                        .await;
                    if r.is_err() {
                        result = r;
                    }
                }
                ("cloud-watch-logs", log_group.clone(), result)
            }
            FlowLogDestination::S3 {
                bucket,
                prefix,
                options,
                ..
            } => {
                let start = lines.iter().map(|(s, _, _)| *s).min().unwrap_or(0);
                let seq = self.objects.fetch_add(1, Ordering::Relaxed);
                let key = s3_key(
                    prefix,
                    &owned.account,
                    &owned.region,
                    &f.id,
                    start,
                    seq,
                    options.hive_compatible_partitions,
                    options.per_hour_partition,
                );
                let mut text = header(&f.log_format);
                for (_, _, ls) in &lines {
                    for (_, l) in ls {
                        text.push_str(l);
                        text.push('\n');
                    }
                }
                let result = match gzip(text.as_bytes()) {
                    Ok(body) => self.destinations.put_object(bucket, &key, body).await,
                    Err(e) => Err(e.to_string()),
                };
                ("s3", bucket.clone(), result)
            }
        };
        {
            let mut counts = self.counts.lock().expect("flow-log counts");
            let c = counts.entry((kind, name)).or_default();
            c.skipped += skipped;
            match &result {
                Ok(()) => c.written += records,
                Err(_) => c.failed += records,
            }
        }
        let error = result.err();
        if let Some(e) = &error {
            tracing::warn!(flow_log = %f.id, error = e, "flow-log delivery failed");
        }
        let changed = {
            // what the flow log shows, until this server has delivered for it
            let shown = match f.deliver_logs_status {
                DeliverLogsStatus::Success => None,
                DeliverLogsStatus::Failed => {
                    Some(f.deliver_logs_error_message.clone().unwrap_or_default())
                }
            };
            let mut status = self.status.lock().expect("flow-log status");
            status
                .insert(f.id.to_string(), error.clone())
                .unwrap_or(shown)
                != error
        };
        if changed {
            self.catalog.set_status(owned, error).await;
        }
    }

    /// Prometheus text: records written, skipped and failed per destination.
    pub fn metrics(&self, out: &mut String) {
        let counts = self.counts.lock().expect("flow-log counts");
        for (name, help, get) in [
            (
                "fort_flow_log_records_written_total",
                "Flow-log records written, per destination.",
                (|c: &Counts| c.written) as fn(&Counts) -> u64,
            ),
            (
                "fort_flow_log_windows_skipped_total",
                "Flow-log windows with SKIPDATA (a host could not count every flow), per destination.",
                |c: &Counts| c.skipped,
            ),
            (
                "fort_flow_log_records_failed_total",
                "Flow-log records whose destination refused them, per destination.",
                |c: &Counts| c.failed,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((kind, dest), c) in counts.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{type=\"{kind}\",destination=\"{}\"}} {}",
                    dest.replace(['"', '\\', '\n'], "_"),
                    get(c)
                );
            }
        }
    }
}

fn addr(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| Ipv4Addr::from(b).into()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| Ipv6Addr::from(b).into()),
        _ => None,
    }
}

fn flow(r: &FlowLogRecord) -> Option<FlowValues> {
    Some(FlowValues {
        src: addr(&r.src)?,
        dst: addr(&r.dst)?,
        src_port: u16::try_from(r.src_port).ok()?,
        dst_port: u16::try_from(r.dst_port).ok()?,
        protocol: u8::try_from(r.protocol).ok()?,
        packets: r.packets,
        bytes: r.bytes,
        accepted: r.accepted,
        tcp_flags: reported_tcp_flags(u16::try_from(r.tcp_flags).unwrap_or(0)),
        direction: if r.egress {
            FlowDirection::Egress
        } else {
            FlowDirection::Ingress
        },
        traffic_path: u8::try_from(r.traffic_path).ok().filter(|p| *p != 0),
    })
}

/// Rendered records: (timestamp in ms, line).
pub type Records = Vec<(i64, String)>;

/// A window's lines, each with its event time (ms): a line per record (OK), a NODATA
/// line for a window without traffic, a SKIPDATA line when the host skipped flows.
pub fn render_window(
    w: &FlowLogWindow,
    format: &LogFormat,
    account: &str,
    region: &str,
    az_id: Option<&str>,
) -> Records {
    let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let base = FlowRecordValues {
        account_id: account,
        interface_id: &w.eni_id,
        vpc_id: Some(&w.vpc_id)
            .filter(|v| !v.is_empty())
            .map(String::as_str),
        subnet_id: Some(&w.subnet_id)
            .filter(|v| !v.is_empty())
            .map(String::as_str),
        instance_id: w.instance_id.as_deref(),
        region,
        az_id,
        start: w.start,
        end: w.end,
        log_status: LogStatus::NoData,
        flow: None,
    };
    let mut out = Vec::new();
    for r in &w.records {
        // a record the host could not have made (a bad address length) is left out
        let Some(f) = flow(r) else { continue };
        let v = FlowRecordValues {
            start: r.first,
            end: r.last.max(r.first),
            log_status: LogStatus::Ok,
            flow: Some(f),
            ..base.clone()
        };
        out.push((ms(r.first), v.render(format)));
    }
    if w.skipped > 0 {
        let v = FlowRecordValues {
            log_status: LogStatus::SkipData,
            ..base.clone()
        };
        out.push((ms(w.start), v.render(format)));
    }
    if out.is_empty() {
        out.push((ms(w.start), base.render(format)));
    }
    out
}

/// The first line of an S3 flow-log object: the field names.
pub fn header(format: &LogFormat) -> String {
    let mut h = String::new();
    for (i, f) in format.0.iter().enumerate() {
        if i > 0 {
            h.push(' ');
        }
        h.push_str(f.as_str());
    }
    h.push('\n');
    h
}

/// AWS's key for a flow-log object:
/// `[prefix/]AWSLogs/ACCOUNT/vpcflowlogs/REGION/YYYY/MM/DD/[HH/]ACCOUNT_vpcflowlogs_REGION_FLOWLOG_YYYYMMDDTHHmmZ_HASH.log.gz`,
/// or its Hive-compatible form (`aws-account-id=…/aws-service=vpcflowlogs/…`).
#[allow(clippy::too_many_arguments)]
pub fn s3_key(
    prefix: &str,
    account: &str,
    region: &str,
    flow_log_id: &str,
    start: u64,
    seq: u64,
    hive: bool,
    per_hour: bool,
) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(start).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (y, m, d, h, min) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
    let mut key = String::new();
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        key.push_str(prefix);
        key.push('/');
    }
    if hive {
        let _ = write!(
            key,
            "AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}/year={y:04}/month={m:02}/day={d:02}/"
        );
        if per_hour {
            let _ = write!(key, "hour={h:02}/");
        }
    } else {
        let _ = write!(
            key,
            "AWSLogs/{account}/vpcflowlogs/{region}/{y:04}/{m:02}/{d:02}/"
        );
        if per_hour {
            let _ = write!(key, "{h:02}/");
        }
    }
    // AWS's hash part makes names unique: the flow log, the time and a sequence
    let hash = fnv(flow_log_id.as_bytes(), start ^ seq.rotate_left(32));
    let _ = write!(
        key,
        "{account}_vpcflowlogs_{region}_{flow_log_id}_{y:04}{m:02}{d:02}T{h:02}{min:02}Z_{hash:08x}.log.gz"
    );
    key
}

fn fnv(bytes: &[u8], seed: u64) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    u32::try_from(h >> 32).unwrap_or(0) ^ u32::try_from(h & 0xffff_ffff).unwrap_or(0)
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    e.finish()
}

#[cfg(test)]
mod tests;
