//! The agent's counters and `/metrics` in the Prometheus text format.
//!
//! The data path owns the counters and publishes a snapshot a few times a second; the
//! HTTP side only renders the latest snapshot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fort_dataplane::DropReason;

/// Packets and bytes in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl Count {
    #[inline]
    pub fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }

    /// What the kernel fast path carried: IP bytes, as it counts them.
    pub fn add_many(&mut self, (packets, bytes): (u64, u64)) {
        self.packets += packets;
        self.bytes += bytes;
    }
}

/// One ENI's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub instance_id: String,
    /// Frames the instance sent (read from its TAP).
    pub from_instance: Count,
    /// Frames delivered to the instance (written to its TAP).
    pub to_instance: Count,
    /// Frames the instance sent that the engine dropped, by reason.
    pub drops: BTreeMap<&'static str, u64>,
}

/// Everything `/metrics` shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub host_id: String,
    pub underlay_rx: Count,
    pub underlay_tx: Count,
    /// Datagrams the socket refused (buffer full, too large).
    pub underlay_send_errors: u64,
    /// Every drop of the engine, by reason (from ports and from the underlay).
    pub drops: fort_dataplane::counters::Drops,
    /// Drops of the agent itself, by reason (no TAP yet, unsupported service, …).
    pub agent_drops: BTreeMap<&'static str, u64>,
    pub fast_path: u64,
    pub slow_path: u64,
    pub conntrack: usize,
    pub flows: usize,
    /// Flow directions the kernel fast path carries now.
    pub offloaded: usize,
    pub ports: BTreeMap<String, PortCounters>,
    /// The flow-log task's counters (live, not a copy).
    pub flow_logs: Arc<crate::flow_log::Stats>,
    /// The time sync service's requests (live).
    pub time_sync: Arc<crate::metadata::time_sync::Stats>,
}

/// The latest snapshot, shared between the data path and the HTTP server.
pub type Shared = Arc<Mutex<Snapshot>>;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Renders a snapshot in the Prometheus text exposition format.
pub fn render(s: &Snapshot) -> String {
    let mut o = String::new();
    let h = esc(&s.host_id);
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut o,
        "fort_agent_underlay_packets_total",
        "counter",
        "Geneve datagrams on the underlay.",
    );
    let _ = writeln!(
        o,
        "fort_agent_underlay_packets_total{{host=\"{h}\",direction=\"rx\"}} {}",
        s.underlay_rx.packets
    );
    let _ = writeln!(
        o,
        "fort_agent_underlay_packets_total{{host=\"{h}\",direction=\"tx\"}} {}",
        s.underlay_tx.packets
    );
    family(
        &mut o,
        "fort_agent_underlay_bytes_total",
        "counter",
        "Geneve payload bytes on the underlay.",
    );
    let _ = writeln!(
        o,
        "fort_agent_underlay_bytes_total{{host=\"{h}\",direction=\"rx\"}} {}",
        s.underlay_rx.bytes
    );
    let _ = writeln!(
        o,
        "fort_agent_underlay_bytes_total{{host=\"{h}\",direction=\"tx\"}} {}",
        s.underlay_tx.bytes
    );
    family(
        &mut o,
        "fort_agent_underlay_send_errors_total",
        "counter",
        "Datagrams the underlay socket refused.",
    );
    let _ = writeln!(
        o,
        "fort_agent_underlay_send_errors_total{{host=\"{h}\"}} {}",
        s.underlay_send_errors
    );
    family(
        &mut o,
        "fort_agent_drops_total",
        "counter",
        "Frames dropped by the engine, by reason.",
    );
    for r in DropReason::ALL {
        let _ = writeln!(
            o,
            "fort_agent_drops_total{{host=\"{h}\",reason=\"{}\"}} {}",
            r.as_str(),
            s.drops[*r as usize]
        );
    }
    for (reason, n) in &s.agent_drops {
        let _ = writeln!(
            o,
            "fort_agent_drops_total{{host=\"{h}\",reason=\"{reason}\"}} {n}"
        );
    }
    family(
        &mut o,
        "fort_agent_engine_path_total",
        "counter",
        "Frames decided by the fast path (cached) or the slow path.",
    );
    let _ = writeln!(
        o,
        "fort_agent_engine_path_total{{host=\"{h}\",path=\"fast\"}} {}",
        s.fast_path
    );
    let _ = writeln!(
        o,
        "fort_agent_engine_path_total{{host=\"{h}\",path=\"slow\"}} {}",
        s.slow_path
    );
    family(
        &mut o,
        "fort_agent_conntrack_entries",
        "gauge",
        "Tracked connections.",
    );
    let _ = writeln!(
        o,
        "fort_agent_conntrack_entries{{host=\"{h}\"}} {}",
        s.conntrack
    );
    family(
        &mut o,
        "fort_agent_fastpath_flows",
        "gauge",
        "Flow directions the kernel fast path carries.",
    );
    let _ = writeln!(
        o,
        "fort_agent_fastpath_flows{{host=\"{h}\"}} {}",
        s.offloaded
    );
    family(
        &mut o,
        "fort_agent_flow_cache_entries",
        "gauge",
        "Cached flow decisions.",
    );
    let _ = writeln!(
        o,
        "fort_agent_flow_cache_entries{{host=\"{h}\"}} {}",
        s.flows
    );
    family(
        &mut o,
        "fort_agent_ports",
        "gauge",
        "ENIs attached on this host.",
    );
    let _ = writeln!(o, "fort_agent_ports{{host=\"{h}\"}} {}", s.ports.len());
    let per_eni = |o: &mut String, name: &str, help: &str, count: fn(&Count) -> u64| {
        family(o, name, "counter", help);
        for (eni, p) in &s.ports {
            let l = format!(
                "host=\"{h}\",eni=\"{}\",instance=\"{}\"",
                esc(eni),
                esc(&p.instance_id)
            );
            for (direction, c) in [
                ("from_instance", &p.from_instance),
                ("to_instance", &p.to_instance),
            ] {
                let _ = writeln!(o, "{name}{{{l},direction=\"{direction}\"}} {}", count(c));
            }
        }
    };
    per_eni(
        &mut o,
        "fort_eni_packets_total",
        "Frames per ENI: sent by (from) or delivered to (to) the instance.",
        |c| c.packets,
    );
    per_eni(
        &mut o,
        "fort_eni_bytes_total",
        "Frame bytes per ENI.",
        |c| c.bytes,
    );
    let f = &s.flow_logs;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, v) in [
        (
            "fort_agent_flow_log_windows_delivered_total",
            "Flow-log windows (one flow log, interface and aggregation interval) delivered.",
            load(&f.windows_delivered),
        ),
        (
            "fort_agent_flow_log_records_delivered_total",
            "Flow-log records delivered (NODATA and SKIPDATA windows count one).",
            load(&f.records_delivered),
        ),
        (
            "fort_agent_flow_log_windows_dropped_total",
            "Flow-log windows dropped: the delivery queue was full while the server was away.",
            load(&f.windows_dropped),
        ),
        (
            "fort_agent_flow_log_packets_skipped_total",
            "Packets of new flows left uncounted: the counter table was full (SKIPDATA).",
            load(&f.packets_skipped),
        ),
        (
            "fort_agent_flow_log_delivery_failures_total",
            "Flow-log deliveries that failed and will be retried.",
            load(&f.delivery_failures),
        ),
    ] {
        family(&mut o, name, "counter", help);
        let _ = writeln!(o, "{name}{{host=\"{h}\"}} {v}");
    }
    family(
        &mut o,
        "fort_agent_time_sync_requests_total",
        "counter",
        "NTP requests to the Amazon Time Sync Service (169.254.169.123, fd00:ec2::123): answered, or refused by reason (never answered).",
    );
    let t = &s.time_sync;
    let _ = writeln!(
        o,
        "fort_agent_time_sync_requests_total{{host=\"{h}\",result=\"answered\"}} {}",
        t.answered()
    );
    for r in crate::metadata::ntp::Refused::ALL {
        let _ = writeln!(
            o,
            "fort_agent_time_sync_requests_total{{host=\"{h}\",result=\"{}\"}} {}",
            r.as_str(),
            t.refused_for(r)
        );
    }
    family(
        &mut o,
        "fort_eni_drops_total",
        "counter",
        "Frames an instance sent that were dropped, by reason.",
    );
    for (eni, p) in &s.ports {
        for (reason, n) in &p.drops {
            let _ = writeln!(
                o,
                "fort_eni_drops_total{{host=\"{h}\",eni=\"{}\",instance=\"{}\",reason=\"{reason}\"}} {n}",
                esc(eni),
                esc(&p.instance_id)
            );
        }
    }
    o
}

/// Serves `GET /metrics` on `addr` until the task is dropped; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    shared: Shared,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    fort_host::metrics::serve(
        addr,
        std::sync::Arc::new(move || render(&shared.lock().expect("metrics lock").clone())),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ports_and_drops() {
        let mut s = Snapshot {
            host_id: "h1".into(),
            ..Snapshot::default()
        };
        s.drops[DropReason::SecurityGroupIngress as usize] = 3;
        let mut p = PortCounters {
            instance_id: "i-1".into(),
            ..PortCounters::default()
        };
        p.from_instance.add(100);
        p.drops.insert("source_check", 2);
        s.ports.insert("eni-1".into(), p);
        let text = render(&s);
        assert!(
            text.contains(
                "fort_agent_drops_total{host=\"h1\",reason=\"security_group_ingress\"} 3"
            )
        );
        assert!(text.contains(
            "fort_eni_packets_total{host=\"h1\",eni=\"eni-1\",instance=\"i-1\",direction=\"from_instance\"} 1"
        ));
        assert!(text.contains("fort_eni_bytes_total{host=\"h1\",eni=\"eni-1\",instance=\"i-1\",direction=\"from_instance\"} 100"));
        assert!(text.contains("fort_eni_drops_total{host=\"h1\",eni=\"eni-1\",instance=\"i-1\",reason=\"source_check\"} 2"));
        assert!(
            text.contains("fort_agent_time_sync_requests_total{host=\"h1\",result=\"answered\"} 0")
        );
        assert!(
            text.contains("fort_agent_time_sync_requests_total{host=\"h1\",result=\"control\"} 0")
        );
        // each family's samples follow its own TYPE line, before the next family's
        let mut family = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(family), "{line} outside {family}");
            }
        }
    }
}
