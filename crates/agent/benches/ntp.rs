//! The time sync service's answer to one NTP request (parse, check, encode; the clock
//! read once, as the server reads it for the transmit time), in answers per second; and
//! a control query refused. Run: `cargo bench -p fort-agent --bench ntp`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fort_agent::metadata::ntp::{ServerInfo, Timestamp, answer};

fn bench(c: &mut Criterion) {
    let info = ServerInfo::amazon(Ipv4Addr::new(127, 0, 0, 10));
    let mut request = [0u8; 48];
    request[0] = 0x23; // version 4, client
    request[40..48].copy_from_slice(&[0xee, 0xbc, 0x81, 0x00, 0x12, 0x34, 0x56, 0x78]);
    let mut control = request;
    control[0] = 0x26;
    let received = Timestamp::from_system(SystemTime::now());
    let mut g = c.benchmark_group("ntp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("answer", |b| {
        b.iter(|| {
            answer(black_box(&request), received, &info, || {
                Timestamp::from_system(SystemTime::now())
            })
        })
    });
    g.bench_function("refuse_control", |b| {
        b.iter(|| {
            answer(black_box(&control), received, &info, || {
                Timestamp::from_system(SystemTime::now())
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
