//! Flow logs on the host: the engine's per-flow counters, drained every second by the
//! data path, become one record per flow, direction and decision per interface and
//! aggregation window of each flow log that covers the interface; closed windows are
//! delivered to the mapping service (`DeliverFlowLogs`), which writes them out.
//!
//! What a restart loses: an agent that is stopped (SIGTERM, SIGINT) ends its windows in
//! progress early, delivers what it can and spools the rest under its run directory for
//! its next start, losing only the last second the data path had not yet drained; one
//! that is killed loses its windows in progress and the closed windows not yet
//! acknowledged (the queue is in memory). Memory is bounded: the engine bounds the
//! counters (overflow is reported as SKIPDATA), and the delivery queue holds at most
//! [`QUEUE_WINDOWS`] windows, dropping the oldest (counted) while the server is away.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fort_dataplane::conntrack::Direction;
use fort_dataplane::counters::{Action, FlowRecord};
use fort_dataplane::program as dp;
use fort_proto::mapping::mapping_client::MappingClient;
use fort_proto::mapping::{FlowLogRecord, FlowLogReport, FlowLogWindow};
use fort_sync::host_state::{FlowLogSpec, HostState};
use ipnet::IpNet;
use tokio::sync::{mpsc, watch};

/// Closed windows kept for delivery while the server does not take them.
pub const QUEUE_WINDOWS: usize = 100_000;
/// Windows sent in one report.
const REPORT_WINDOWS: usize = 1000;
/// A window closes this long after its end: the data path drains every second.
const GRACE_SECS: u64 = 2;
/// How long a stopping agent tries to deliver before it spools the rest.
const STOP_DELIVERY: Duration = Duration::from_secs(3);

/// What the agent's flow logs did, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub windows_delivered: AtomicU64,
    pub records_delivered: AtomicU64,
    /// Windows dropped because the queue was full.
    pub windows_dropped: AtomicU64,
    /// Packets of flows the engine could not count (its table was full).
    pub packets_skipped: AtomicU64,
    pub delivery_failures: AtomicU64,
}

/// One drained counter, its times in Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub record: FlowRecord,
    pub first: u64,
    pub last: u64,
}

/// What the data path hands over each second.
#[derive(Debug, Default)]
pub struct Drained {
    pub records: Vec<Counted>,
    /// Packets of new flows left uncounted, per ENI.
    pub skipped: Vec<(Arc<str>, u64)>,
    /// Unix seconds at the drain.
    pub now: u64,
}

/// The data path's end: which ENIs are watched, and where their counters go.
#[derive(Clone)]
pub struct Tap {
    pub watched: Arc<RwLock<HashSet<Arc<str>>>>,
    pub tx: mpsc::Sender<Drained>,
}

impl Tap {
    /// Whether any ENI is watched (else drained counters are simply dropped).
    pub fn active(&self) -> bool {
        self.watched.read().is_ok_and(|w| !w.is_empty())
    }

    pub fn watches(&self, eni: &str) -> bool {
        self.watched.read().is_ok_and(|w| w.contains(eni))
    }
}

/// An interface and the flow logs that cover it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub eni: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub instance_id: Option<String>,
    /// The VPC's blocks, IPv4 and IPv6: egress to them is `traffic-path` 1.
    pub vpc_cidrs: Vec<IpNet>,
    pub flow_logs: Vec<FlowLogSpec>,
}

/// The interfaces of `state` that some flow log covers.
pub fn watched(state: &HostState) -> Vec<Watched> {
    let specs: Vec<&FlowLogSpec> = state.flow_logs().collect();
    if specs.is_empty() {
        return Vec::new();
    }
    let cidrs: HashMap<&str, Vec<IpNet>> = state
        .vpc_headers()
        .map(|v| {
            let all = v.cidrs.iter().map(|&c| IpNet::V4(c));
            let all = all.chain(v.ipv6_cidrs.iter().map(|&c| IpNet::V6(c)));
            (v.id.as_str(), all.collect())
        })
        .collect();
    state
        .ports()
        .filter_map(|p: &dp::Port| {
            let flow_logs: Vec<FlowLogSpec> = specs
                .iter()
                .filter(|f| f.covers(p))
                .map(|f| (*f).clone())
                .collect();
            (!flow_logs.is_empty()).then(|| Watched {
                eni: p.id.clone(),
                vpc_id: p.vpc_id.clone(),
                subnet_id: p.subnet_id.clone(),
                instance_id: p.instance_id.clone(),
                vpc_cidrs: cidrs.get(p.vpc_id.as_str()).cloned().unwrap_or_default(),
                flow_logs,
            })
        })
        .collect()
}

/// A flow in one direction with one decision: a record's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FlowKey {
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    accepted: bool,
    egress: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    packets: u64,
    bytes: u64,
    tcp_flags: u16,
    first: u64,
    last: u64,
}

/// One flow log's window in progress on one interface.
#[derive(Debug)]
struct Window {
    spec: FlowLogSpec,
    start: u64,
    flows: BTreeMap<FlowKey, Sums>,
    skipped: u64,
}

impl Window {
    fn end(&self) -> u64 {
        self.start + u64::from(self.spec.window_seconds)
    }
}

fn aligned(now: u64, window: u32) -> u64 {
    let w = u64::from(window.max(1));
    now - now % w
}

/// Per-interface windows of every flow log that covers it.
#[derive(Debug, Default)]
pub struct Accounting {
    interfaces: HashMap<Arc<str>, (Watched, Vec<Window>)>,
}

/// An address as the mapping contract carries it: 4 or 16 bytes.
fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Ports only TCP, UDP and SCTP have: others print 0, as AWS writes.
fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 132)
}

impl Accounting {
    /// The interfaces watched now. Windows of flow logs that still cover an interface
    /// go on; new ones start at the current window; the others end unreported.
    pub fn set(&mut self, watched: Vec<Watched>, now: u64) {
        let mut old = std::mem::take(&mut self.interfaces);
        for w in watched {
            let mut kept = old
                .remove(w.eni.as_str())
                .map(|(_, ws)| ws)
                .unwrap_or_default();
            let windows = w
                .flow_logs
                .iter()
                .map(|spec| {
                    match kept
                        .iter()
                        .position(|k| k.spec == *spec)
                        .map(|i| kept.swap_remove(i))
                    {
                        Some(k) => k,
                        None => Window {
                            spec: spec.clone(),
                            start: aligned(now, spec.window_seconds),
                            flows: BTreeMap::new(),
                            skipped: 0,
                        },
                    }
                })
                .collect();
            self.interfaces
                .insert(Arc::from(w.eni.as_str()), (w, windows));
        }
    }

    /// The ENIs watched.
    pub fn enis(&self) -> HashSet<Arc<str>> {
        self.interfaces.keys().cloned().collect()
    }

    /// Adds what the data path drained.
    pub fn add(&mut self, d: Drained, stats: &Stats) {
        for c in d.records {
            let Some((_, windows)) = self.interfaces.get_mut(&c.record.eni) else {
                continue;
            };
            let r = &c.record;
            let accepted = r.action == Action::Accept;
            let ports = has_ports(r.tuple.protocol);
            let key = FlowKey {
                src: r.tuple.src,
                dst: r.tuple.dst,
                src_port: if ports { r.tuple.src_port } else { 0 },
                dst_port: if ports { r.tuple.dst_port } else { 0 },
                protocol: r.tuple.protocol,
                accepted,
                egress: r.direction == Direction::Outbound,
            };
            for w in windows
                .iter_mut()
                .filter(|w| w.spec.traffic.records(accepted))
            {
                let s = w.flows.entry(key).or_insert(Sums {
                    first: c.first,
                    ..Sums::default()
                });
                s.packets += r.packets;
                s.bytes += r.bytes;
                s.tcp_flags |= r.tcp_flags;
                s.first = s.first.min(c.first);
                s.last = s.last.max(c.last);
            }
        }
        for (eni, n) in d.skipped {
            stats.packets_skipped.fetch_add(n, Ordering::Relaxed);
            if let Some((_, windows)) = self.interfaces.get_mut(&eni) {
                for w in windows.iter_mut() {
                    w.skipped += n;
                }
            }
        }
    }

    /// Closes the windows that ended at least [`GRACE_SECS`] before `now`: one report
    /// window each (empty: NODATA), and the next window begins.
    pub fn close(&mut self, now: u64) -> Vec<FlowLogWindow> {
        self.close_where(now, false)
    }

    /// Closes every window that counted something, ending it at `now`: what the agent
    /// hands over when it stops, so a restart loses no counted flow. Empty windows are
    /// left out (they would claim NODATA for time not yet over).
    pub fn flush(&mut self, now: u64) -> Vec<FlowLogWindow> {
        self.close_where(now, true)
    }

    fn close_where(&mut self, now: u64, flush: bool) -> Vec<FlowLogWindow> {
        let mut out = Vec::new();
        for (w, windows) in self.interfaces.values_mut() {
            for win in windows.iter_mut() {
                let over = win.end() + GRACE_SECS <= now;
                let counted = !win.flows.is_empty() || win.skipped > 0;
                if !(over || flush && counted) {
                    continue;
                }
                let end = if over { win.end() } else { now.max(win.start) };
                let flows = std::mem::take(&mut win.flows);
                let records = flows
                    .into_iter()
                    .map(|(k, s)| FlowLogRecord {
                        src: octets(k.src),
                        dst: octets(k.dst),
                        src_port: k.src_port.into(),
                        dst_port: k.dst_port.into(),
                        protocol: k.protocol.into(),
                        packets: s.packets,
                        bytes: s.bytes,
                        accepted: k.accepted,
                        tcp_flags: s.tcp_flags.into(),
                        egress: k.egress,
                        first: s.first,
                        last: s.last,
                        traffic_path: u32::from(
                            k.egress && w.vpc_cidrs.iter().any(|c| c.contains(&k.dst)),
                        ),
                    })
                    .collect();
                out.push(FlowLogWindow {
                    flow_log_id: win.spec.id.clone(),
                    eni_id: w.eni.clone(),
                    vpc_id: w.vpc_id.clone(),
                    subnet_id: w.subnet_id.clone(),
                    instance_id: w.instance_id.clone(),
                    start: win.start,
                    end,
                    records,
                    skipped: std::mem::take(&mut win.skipped),
                });
                // the next window: the current one (windows with no traffic at all while
                // the agent slept are not invented)
                win.start =
                    aligned(now.saturating_sub(GRACE_SECS), win.spec.window_seconds).max(win.end());
            }
        }
        out
    }
}

/// Where the flow-log task is told to stop, and where it keeps what it could not deliver.
pub struct Stop {
    pub signal: tokio::sync::oneshot::Receiver<()>,
    /// Windows not delivered when the agent stopped, read back when it starts again.
    pub spool: PathBuf,
}

/// Runs the host's flow logs: keeps the accounting current with the program, closes
/// windows each second and delivers them, retrying while the server does not answer.
/// Told to stop, it closes the windows in progress, delivers what it can within
/// [`STOP_DELIVERY`] and spools the rest to disk for the next start.
pub async fn run(
    endpoint: fort_sync::client::Servers,
    host_id: String,
    mut watched: watch::Receiver<Vec<Watched>>,
    mut drained: mpsc::Receiver<Drained>,
    enis: Arc<RwLock<HashSet<Arc<str>>>>,
    stats: Arc<Stats>,
    mut stop: Stop,
) {
    let mut acct = Accounting::default();
    let mut queue: VecDeque<FlowLogWindow> = spool::take(&stop.spool).into();
    let mut client: Option<MappingClient<tonic::transport::Channel>> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut stop.signal => {
                while let Ok(d) = drained.try_recv() {
                    acct.add(d, &stats);
                }
                enqueue(&mut queue, acct.flush(unix_now()), &stats);
                let _ = tokio::time::timeout(
                    STOP_DELIVERY,
                    deliver(&endpoint, &host_id, &mut client, &mut queue, &stats),
                )
                .await;
                spool::put(&stop.spool, &host_id, queue.into());
                return;
            }
            changed = watched.changed() => {
                if changed.is_err() {
                    return;
                }
                let w = watched.borrow_and_update().clone();
                acct.set(w, unix_now());
                if let Ok(mut e) = enis.write() {
                    *e = acct.enis();
                }
            }
            d = drained.recv() => match d {
                Some(d) => acct.add(d, &stats),
                None => return,
            },
            _ = tick.tick() => {
                enqueue(&mut queue, acct.close(unix_now()), &stats);
                deliver(&endpoint, &host_id, &mut client, &mut queue, &stats).await;
            }
        }
    }
}

/// Queues closed windows, dropping the oldest (counted) beyond [`QUEUE_WINDOWS`].
fn enqueue(queue: &mut VecDeque<FlowLogWindow>, closed: Vec<FlowLogWindow>, stats: &Stats) {
    for w in closed {
        if queue.len() >= QUEUE_WINDOWS {
            queue.pop_front();
            stats.windows_dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.push_back(w);
    }
}

/// The undelivered windows on disk between an agent's stop and its next start: a
/// [`FlowLogReport`] in the mapping contract's encoding, behind the contract's version.
mod spool {
    use super::*;
    use prost::Message;

    pub(super) fn put(path: &Path, host_id: &str, windows: Vec<FlowLogWindow>) {
        if windows.is_empty() {
            return;
        }
        let n = windows.len();
        let report = FlowLogReport {
            host_id: host_id.to_owned(),
            windows,
        };
        let mut bytes = fort_proto::CONTRACT_VERSION.to_le_bytes().to_vec();
        bytes.extend(report.encode_to_vec());
        let tmp = path.with_extension("tmp");
        match std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)) {
            Ok(()) => {
                tracing::info!(windows = n, path = %path.display(), "flow-log windows spooled")
            }
            Err(e) => {
                tracing::warn!(windows = n, error = %e, "flow-log windows lost: spool failed")
            }
        }
    }

    /// The spooled windows (none if there is no spool, or one of another contract),
    /// removing the file.
    pub(super) fn take(path: &Path) -> Vec<FlowLogWindow> {
        let Ok(bytes) = std::fs::read(path) else {
            return Vec::new();
        };
        let _ = std::fs::remove_file(path);
        let version = fort_proto::CONTRACT_VERSION.to_le_bytes();
        match bytes.strip_prefix(&version[..]).map(FlowLogReport::decode) {
            Some(Ok(r)) => {
                tracing::info!(
                    windows = r.windows.len(),
                    "flow-log windows read back from the spool"
                );
                r.windows
            }
            _ => {
                tracing::warn!(path = %path.display(), "flow-log spool unreadable: dropped");
                Vec::new()
            }
        }
    }
}

/// Sends what is queued, a report at a time, until the queue is empty or a send fails.
async fn deliver(
    endpoint: &fort_sync::client::Servers,
    host_id: &str,
    client: &mut Option<MappingClient<tonic::transport::Channel>>,
    queue: &mut VecDeque<FlowLogWindow>,
    stats: &Stats,
) {
    while !queue.is_empty() {
        if client.is_none() {
            match endpoint.connect_any().await {
                Ok(c) => *client = Some(c.max_encoding_message_size(256 << 20)),
                Err(_) => {
                    stats.delivery_failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        let Some(c) = client.as_mut() else { return };
        let n = queue.len().min(REPORT_WINDOWS);
        let report = FlowLogReport {
            host_id: host_id.to_owned(),
            windows: queue.iter().take(n).cloned().collect(),
        };
        match c.deliver_flow_logs(report).await {
            Ok(ack) => {
                let done = usize::try_from(ack.into_inner().delivered)
                    .unwrap_or(n)
                    .min(n);
                for w in queue.drain(..done) {
                    stats.windows_delivered.fetch_add(1, Ordering::Relaxed);
                    stats
                        .records_delivered
                        .fetch_add(w.records.len().max(1) as u64, Ordering::Relaxed);
                }
                if done < n {
                    // the server could not take them all now: again next second
                    stats.delivery_failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "flow-log delivery failed; retrying");
                stats.delivery_failures.fetch_add(1, Ordering::Relaxed);
                *client = None;
                return;
            }
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_dataplane::packet::FiveTuple;
    use fort_dataplane::verdict::Time;
    use fort_sync::host_state::Traffic;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn spec(id: &str, resource: &str, traffic: Traffic, window: u32) -> FlowLogSpec {
        FlowLogSpec {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            resource_id: resource.into(),
            traffic,
            window_seconds: window,
        }
    }

    fn watched(specs: Vec<FlowLogSpec>) -> Vec<Watched> {
        vec![Watched {
            eni: "eni-a".into(),
            vpc_id: "vpc-1".into(),
            subnet_id: "subnet-1".into(),
            instance_id: Some("i-1".into()),
            vpc_cidrs: vec!["10.0.0.0/16".parse().unwrap()],
            flow_logs: specs,
        }]
    }

    fn counted(dst: [u8; 4], action: Action, dir: Direction, packets: u64, at: u64) -> Counted {
        Counted {
            record: FlowRecord {
                eni: Arc::from("eni-a"),
                port: 0,
                tuple: FiveTuple {
                    src: Ipv4Addr::new(10, 0, 1, 5).into(),
                    dst: Ipv4Addr::from(dst).into(),
                    src_port: 40000,
                    dst_port: 22,
                    protocol: 6,
                },
                action,
                direction: dir,
                packets,
                bytes: packets * 60,
                tcp_flags: 2,
                first: Time(0),
                last: Time(0),
            },
            first: at,
            last: at,
        }
    }

    #[test]
    fn windows_aggregate_filter_and_close() {
        let mut a = Accounting::default();
        a.set(
            watched(vec![
                spec("fl-all", "vpc-1", Traffic::All, 10),
                spec("fl-rej", "subnet-1", Traffic::Reject, 10),
            ]),
            1003,
        );
        a.add(
            Drained {
                records: vec![
                    counted([10, 0, 2, 9], Action::Accept, Direction::Outbound, 3, 1004),
                    counted([10, 0, 2, 9], Action::Accept, Direction::Outbound, 2, 1006),
                    counted([192, 0, 2, 1], Action::Reject, Direction::Outbound, 1, 1007),
                ],
                skipped: vec![],
                now: 1007,
            },
            &Stats::default(),
        );
        // not yet: the window [1000, 1010) closes after the grace
        assert!(a.close(1011).is_empty());
        let mut out = a.close(1012);
        out.sort_by(|x, y| x.flow_log_id.cmp(&y.flow_log_id));
        assert_eq!(out.len(), 2);
        let all = &out[0];
        assert_eq!((all.start, all.end), (1000, 1010));
        assert_eq!(all.records.len(), 2);
        let accepted = all.records.iter().find(|r| r.accepted).unwrap();
        assert_eq!((accepted.packets, accepted.bytes), (5, 300));
        assert_eq!((accepted.first, accepted.last), (1004, 1006));
        assert_eq!(accepted.traffic_path, 1, "within the VPC");
        let rejected = &out[1];
        assert_eq!(rejected.records.len(), 1);
        assert!(!rejected.records[0].accepted);
        assert_eq!(
            rejected.records[0].traffic_path, 0,
            "outside the VPC: unknown"
        );
        // the next window has no traffic: NODATA (an empty window)
        let next = a.close(1022);
        assert_eq!(next.len(), 2);
        assert!(next.iter().all(|w| w.records.is_empty() && w.start == 1010));
    }

    /// IPv6 records keep their 16-byte addresses, and egress to the VPC's IPv6 block is
    /// traffic path 1 as for IPv4.
    #[test]
    fn ipv6_records_carry_their_addresses() {
        let mut a = Accounting::default();
        let mut w = watched(vec![spec("fl-all", "vpc-1", Traffic::All, 10)]);
        w[0].vpc_cidrs.push("2600:1f00:0:100::/56".parse().unwrap());
        a.set(w, 1003);
        let six = |dst: &str, packets| {
            let mut c = counted([0; 4], Action::Accept, Direction::Outbound, packets, 1004);
            c.record.tuple.src = "2600:1f00:0:100::5".parse::<Ipv6Addr>().unwrap().into();
            c.record.tuple.dst = dst.parse::<Ipv6Addr>().unwrap().into();
            c
        };
        a.add(
            Drained {
                records: vec![six("2600:1f00:0:101::9", 2), six("2001:db8:ffff::1", 3)],
                skipped: vec![],
                now: 1005,
            },
            &Stats::default(),
        );
        let out = a.close(1012);
        let mut recs = out[0].records.clone();
        recs.sort_by_key(|r| r.packets);
        let src: Ipv6Addr = "2600:1f00:0:100::5".parse().unwrap();
        assert!(recs.iter().all(|r| r.src == src.octets()));
        let inside: Ipv6Addr = "2600:1f00:0:101::9".parse().unwrap();
        assert_eq!(recs[0].dst, inside.octets());
        assert_eq!((recs[0].traffic_path, recs[1].traffic_path), (1, 0));
    }

    #[test]
    fn a_stopping_agent_flushes_counted_windows_and_spools_them() {
        let mut a = Accounting::default();
        a.set(
            watched(vec![
                spec("fl-all", "vpc-1", Traffic::All, 60),
                spec("fl-rej", "vpc-1", Traffic::Reject, 60),
            ]),
            1203,
        );
        a.add(
            Drained {
                records: vec![counted(
                    [10, 0, 2, 9],
                    Action::Accept,
                    Direction::Outbound,
                    4,
                    1204,
                )],
                skipped: vec![],
                now: 1205,
            },
            &Stats::default(),
        );
        // only the window that counted something, ended now; the empty one is not NODATA
        let out = a.flush(1210);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].flow_log_id.as_str(), out[0].start, out[0].end),
            ("fl-all", 1200, 1210)
        );
        assert_eq!(out[0].records[0].packets, 4);
        assert!(a.flush(1211).is_empty(), "flushed windows start empty");

        let dir = std::env::temp_dir().join(format!("fort-spool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flow-logs.spool");
        spool::put(&path, "h1", out.clone());
        assert_eq!(spool::take(&path), out);
        assert!(!path.exists(), "read back once");
        assert!(spool::take(&path).is_empty());
        // another contract's spool (or garbage) is dropped, not misread
        std::fs::write(&path, b"\x02\0\0\0garbage").unwrap();
        assert!(spool::take(&path).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn skipped_packets_reach_every_window_of_the_interface() {
        let mut a = Accounting::default();
        a.set(watched(vec![spec("fl-1", "eni-a", Traffic::All, 1)]), 50);
        a.add(
            Drained {
                records: vec![],
                skipped: vec![(Arc::from("eni-a"), 7), (Arc::from("eni-other"), 3)],
                now: 50,
            },
            &Stats::default(),
        );
        let out = a.close(53);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].skipped, 7);
    }

    #[test]
    fn a_changed_program_keeps_windows_in_progress() {
        let mut a = Accounting::default();
        let s = spec("fl-1", "vpc-1", Traffic::All, 60);
        a.set(watched(vec![s.clone()]), 130);
        a.add(
            Drained {
                records: vec![counted(
                    [10, 0, 0, 9],
                    Action::Accept,
                    Direction::Inbound,
                    1,
                    131,
                )],
                skipped: vec![],
                now: 131,
            },
            &Stats::default(),
        );
        a.set(
            watched(vec![s, spec("fl-2", "eni-a", Traffic::Accept, 60)]),
            140,
        );
        let out = a.close(200);
        let fl1 = out.iter().find(|w| w.flow_log_id == "fl-1").unwrap();
        assert_eq!(fl1.records.len(), 1);
        assert_eq!(fl1.start, 120);
        // a record of inbound traffic has no traffic path
        assert_eq!(fl1.records[0].traffic_path, 0);
        assert!(!fl1.records[0].egress);
        // a flow log no longer covering the interface ends
        a.set(Vec::new(), 201);
        assert!(a.enis().is_empty());
        assert!(a.close(400).is_empty());
    }
}
