//! `/metrics` in the Prometheus text format: the edge's counters, drops by reason (the
//! library's and the process's), NAT flows and the gateways it serves.

use std::fmt::Write as _;
use std::net::SocketAddr;

use fort_edge::DropReason;

use crate::datapath::{Shared, Snapshot};

/// Renders a snapshot.
pub fn render(s: &Snapshot) -> String {
    let mut o = String::new();
    let h = &s.host_id;
    let st = &s.stats;
    let _ = writeln!(o, "# TYPE fort_edge_packets_total counter");
    for (path, v) in [
        ("igw_outbound", st.igw_outbound),
        ("igw_inbound", st.igw_inbound),
        ("nat_outbound", st.nat_outbound),
        ("nat_inbound", st.nat_inbound),
        ("igw_outbound_ipv6", st.igw_outbound6),
        ("igw_inbound_ipv6", st.igw_inbound6),
        ("eigw_outbound", st.eigw_outbound),
        ("eigw_inbound", st.eigw_inbound),
    ] {
        let _ = writeln!(
            o,
            "fort_edge_packets_total{{host=\"{h}\",path=\"{path}\"}} {v}"
        );
    }
    let _ = writeln!(o, "# TYPE fort_edge_bytes_total counter");
    for (dir, v) in [
        ("outbound", st.bytes_outbound),
        ("inbound", st.bytes_inbound),
    ] {
        let _ = writeln!(
            o,
            "fort_edge_bytes_total{{host=\"{h}\",direction=\"{dir}\"}} {v}"
        );
    }
    let _ = writeln!(o, "# TYPE fort_edge_nat_events_total counter");
    for (ev, v) in [
        ("flow_created", st.nat_flows_created),
        ("flow_expired", st.nat_flows_expired),
        ("flow_broken", st.nat_flows_broken),
        ("rst_sent", st.nat_rst_sent),
        ("icmp_too_big_sent", st.icmp_too_big_sent),
        ("eigw_flow_created", st.eigw_flows_created),
        ("eigw_flow_expired", st.eigw_flows_expired),
        ("eigw_flow_closed", st.eigw_flows_closed),
    ] {
        let _ = writeln!(
            o,
            "fort_edge_nat_events_total{{host=\"{h}\",event=\"{ev}\"}} {v}"
        );
    }
    let _ = writeln!(o, "# TYPE fort_edge_nat_flows gauge");
    let _ = writeln!(o, "fort_edge_nat_flows{{host=\"{h}\"}} {}", s.nat_flows);
    let _ = writeln!(o, "# TYPE fort_edge_egress_only_flows gauge");
    let _ = writeln!(
        o,
        "fort_edge_egress_only_flows{{host=\"{h}\"}} {}",
        s.eigw_flows
    );
    let _ = writeln!(o, "# TYPE fort_edge_route_targets gauge");
    for (kind, v) in [
        ("internet_gateway", s.internet_gateways),
        (
            "egress_only_internet_gateway",
            s.egress_only_internet_gateways,
        ),
        ("nat_gateway", s.nat_gateways),
        ("public_ip", s.public_ips),
        ("mapping", s.mappings),
    ] {
        let _ = writeln!(
            o,
            "fort_edge_route_targets{{host=\"{h}\",kind=\"{kind}\"}} {v}"
        );
    }
    let _ = writeln!(o, "# TYPE fort_edge_io_packets_total counter");
    for (side, v) in [
        ("geneve_rx", s.geneve_rx),
        ("geneve_tx", s.geneve_tx),
        ("internet_rx", s.internet_rx),
        ("internet_tx", s.internet_tx),
    ] {
        let _ = writeln!(
            o,
            "fort_edge_io_packets_total{{host=\"{h}\",side=\"{side}\"}} {v}"
        );
    }
    let _ = writeln!(o, "# TYPE fort_edge_drops_total counter");
    for &r in DropReason::ALL {
        let _ = writeln!(
            o,
            "fort_edge_drops_total{{host=\"{h}\",reason=\"{}\"}} {}",
            r.as_str(),
            st.drops(r)
        );
    }
    for (r, v) in &s.drops {
        let _ = writeln!(
            o,
            "fort_edge_drops_total{{host=\"{h}\",reason=\"{r}\"}} {v}"
        );
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
