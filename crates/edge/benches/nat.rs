//! Edge translations per second: `cargo bench -p fort-edge --bench nat`.
//!
//! * `nat_new_flow`: a TCP SYN from a new inside tuple: flow lookup miss, port
//!   allocation, two table inserts, rewrite (the table is reset, untimed, every 500k).
//! * `nat_established_out` / `nat_established_reply`: 1,024 live flows cycled.
//! * `igw_outbound` / `igw_inbound`: the stateless 1:1 rewrite.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fort_dataplane::wire::tcp;
use fort_edge::fixtures::*;
use fort_edge::{Edge, EdgeConfig, Gateway, Time, Verdict};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn edge() -> Edge {
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(program());
    e
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("edge");
    g.throughput(Throughput::Elements(1));
    let now = Time::from_secs(1);

    // Pre-built SYN frames from 256 instances × 2,048 ports, to 16 destinations.
    let frames: Vec<Vec<u8>> = (0..500_000u32)
        .map(|i| {
            // 10.0.2.0 counting up: 2,048 ports per instance
            let src = Ipv4Addr::from(0x0a00_0200 + (i >> 11));
            let sport = 1024 + (i & 2047) as u16;
            let dst = Ipv4Addr::new(203, 0, 113, 1 + (i % 16) as u8);
            from_instance(&tcp_packet(src, sport, dst, 443, tcp::flags::SYN, b""))
        })
        .collect();
    g.bench_function("nat_new_flow", |b| {
        b.iter_custom(|iters| {
            let mut e = edge();
            let mut out = Vec::with_capacity(2048);
            let mut total = Duration::ZERO;
            let mut i = 0usize;
            let mut left = iters;
            while left > 0 {
                let n = (frames.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                let start = Instant::now();
                for f in &frames[i..i + n] {
                    let v = e.process_from_vpc(now, VNI, Gateway::Id(NAT), f, &mut out);
                    debug_assert_eq!(v, Verdict::ToInternet);
                    black_box(v);
                }
                total += start.elapsed();
                left -= n as u64;
                i += n;
                if i == frames.len() {
                    e = edge();
                    i = 0;
                }
            }
            total
        })
    });

    let mut e = edge();
    let mut out = Vec::with_capacity(2048);
    let est: Vec<Vec<u8>> = frames[..1024].to_vec();
    let mut replies = Vec::new();
    for f in &est {
        assert_eq!(
            e.process_from_vpc(now, VNI, Gateway::Id(NAT), f, &mut out),
            Verdict::ToInternet
        );
        let (s, port, d, dport) = tuple(&out);
        replies.push(tcp_packet(d, dport, s, port, tcp::flags::ACK, b""));
    }
    let est: Vec<Vec<u8>> = est
        .iter()
        .map(|f| {
            let (s, sp, d, dp) = tuple(&f[14..]);
            from_instance(&tcp_packet(s, sp, d, dp, tcp::flags::ACK, &[0u8; 10]))
        })
        .collect();
    let mut k = 0usize;
    g.bench_function("nat_established_out", |b| {
        b.iter(|| {
            k = (k + 1) & 1023;
            black_box(e.process_from_vpc(now, VNI, Gateway::Id(NAT), &est[k], &mut out))
        })
    });
    g.bench_function("nat_established_reply", |b| {
        b.iter(|| {
            k = (k + 1) & 1023;
            black_box(e.process_from_internet(now, &replies[k], &mut out))
        })
    });
    let igw_out = from_instance(&tcp_packet(
        WEB,
        40000,
        REMOTE,
        80,
        tcp::flags::ACK,
        &[0u8; 10],
    ));
    g.bench_function("igw_outbound", |b| {
        b.iter(|| black_box(e.process_from_vpc(now, VNI, Gateway::Id(IGW), &igw_out, &mut out)))
    });
    let igw_in = tcp_packet(REMOTE, 80, WEB_PUBLIC, 40000, tcp::flags::ACK, &[0u8; 10]);
    g.bench_function("igw_inbound", |b| {
        b.iter(|| black_box(e.process_from_internet(now, &igw_in, &mut out)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
