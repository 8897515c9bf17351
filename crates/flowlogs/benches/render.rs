//! Flow-log records the server writes: a host's window rendered in AWS's default format
//! (what CloudWatch Logs gets) and, for S3, gzipped; in records per second.
//! Run: `cargo bench -p fort-flowlogs --bench render`.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fort_flowlogs::render_window;
use fort_model::flow_log::LogFormat;
use fort_proto::mapping::{FlowLogRecord, FlowLogWindow};

const RECORDS: u32 = 10_000;

fn window() -> FlowLogWindow {
    FlowLogWindow {
        flow_log_id: "fl-0123456789abcdef0".into(),
        eni_id: "eni-0123456789abcdef0".into(),
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_id: "subnet-0123456789abcdef0".into(),
        instance_id: Some("i-0123456789abcdef0".into()),
        start: 1_790_000_000,
        end: 1_790_000_060,
        records: (0..RECORDS)
            .map(|i| FlowLogRecord {
                src: vec![10, 0, 1, 5],
                dst: (0x0a00_0200u32 + i).to_be_bytes().to_vec(),
                src_port: 40000 + i % 20000,
                dst_port: 443,
                protocol: 6,
                packets: 10,
                bytes: 6000,
                accepted: i % 10 != 0,
                tcp_flags: 0x12,
                egress: true,
                first: 1_790_000_001,
                last: 1_790_000_059,
                traffic_path: 1,
            })
            .collect(),
        skipped: 0,
    }
}

fn render(c: &mut Criterion) {
    let w = window();
    let format = LogFormat::default_v2();
    let mut g = c.benchmark_group("flow_log");
    g.throughput(Throughput::Elements(u64::from(RECORDS)));
    g.bench_function("server_render", |b| {
        b.iter(|| {
            black_box(render_window(
                &w,
                &format,
                "123456789012",
                "us-east-1",
                None,
            ))
        })
    });
    g.bench_function("server_render_gzip", |b| {
        b.iter(|| {
            let lines = render_window(&w, &format, "123456789012", "us-east-1", None);
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            for (_, l) in &lines {
                z.write_all(l.as_bytes()).unwrap();
                z.write_all(b"\n").unwrap();
            }
            black_box(z.finish().unwrap())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    targets = render
}
criterion_main!(benches);
