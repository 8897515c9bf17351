//! Flow-log records one agent produces: drained engine counters aggregated into
//! per-interface windows and closed into report windows (what the agent sends), in
//! records per second. Run: `cargo bench -p fort-agent --bench flow_log`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fort_agent::flow_log::{Accounting, Counted, Drained, Stats, Watched};
use fort_dataplane::conntrack::Direction;
use fort_dataplane::counters::{Action, FlowRecord};
use fort_dataplane::packet::FiveTuple;
use fort_dataplane::verdict::Time;
use fort_sync::host_state::{FlowLogSpec, Traffic};

/// Flows drained in one second on one interface.
const FLOWS: u32 = 10_000;

fn watched() -> Vec<Watched> {
    vec![Watched {
        eni: "eni-a".into(),
        vpc_id: "vpc-1".into(),
        subnet_id: "subnet-1".into(),
        instance_id: Some("i-1".into()),
        vpc_cidrs: vec!["10.0.0.0/16".parse().unwrap()],
        flow_logs: vec![FlowLogSpec {
            id: "fl-1".into(),
            vpc_id: "vpc-1".into(),
            resource_id: "vpc-1".into(),
            traffic: Traffic::All,
            window_seconds: 1,
        }],
    }]
}

fn drained(now: u64) -> Drained {
    let eni: Arc<str> = Arc::from("eni-a");
    let records = (0..FLOWS)
        .map(|i| Counted {
            record: FlowRecord {
                eni: eni.clone(),
                port: 0,
                tuple: FiveTuple {
                    src: Ipv4Addr::new(10, 0, 1, 5).into(),
                    dst: Ipv4Addr::from(0x0a00_0200 + i).into(),
                    src_port: 40000 + (i % 20000) as u16,
                    dst_port: 443,
                    protocol: 6,
                },
                action: if i % 10 == 0 {
                    Action::Reject
                } else {
                    Action::Accept
                },
                direction: Direction::Outbound,
                packets: 10,
                bytes: 6000,
                tcp_flags: 0x12,
                first: Time(0),
                last: Time(0),
            },
            first: now,
            last: now,
        })
        .collect();
    Drained {
        records,
        skipped: vec![],
        now,
    }
}

fn aggregate_and_close(c: &mut Criterion) {
    let stats = Stats::default();
    let mut acct = Accounting::default();
    acct.set(watched(), 1000);
    let mut now = 1000;
    let mut g = c.benchmark_group("flow_log");
    g.throughput(Throughput::Elements(u64::from(FLOWS)));
    g.bench_function("agent_records", |b| {
        b.iter_batched(
            || {
                now += 1;
                drained(now)
            },
            |d| {
                // the window of the drain closes three seconds on
                let close_at = d.now + 3;
                acct.add(d, &stats);
                let out = acct.close(close_at);
                assert_eq!(
                    out.iter().map(|w| w.records.len()).sum::<usize>(),
                    FLOWS as usize
                );
                black_box(out)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    targets = aggregate_and_close
}
criterion_main!(benches);
