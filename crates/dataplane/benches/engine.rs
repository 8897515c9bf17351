//! Engine benchmarks: packets per second on one core, and allocations per packet.
//!
//! `cargo bench -p fort-dataplane --bench engine`
//!
//! The program is at AWS's highest quotas: the sending ENI carries 16 security groups
//! of ~63 rules each (1,000 rules per direction), its subnet's route table has 1,000
//! routes, its NACL 40 entries per direction, and V2P holds 20,000 addresses. The rules
//! that match are the last ones a scan would reach. Flow logs record every port (each
//! flow is counted); `FORT_BENCH_FLOW_LOGS=off` gives the figures without them.
//!
//! The program is dual stack, its IPv6 halves at the same quotas (1,000 IPv6 rules per
//! direction on 17 prefix lengths, 1,000 IPv6 routes, 40 IPv6 ACL entries, 20,000 IPv6
//! mappings): `fast_path_v6`, `decap_fast_path_v6` and `new_flow_v6` are the IPv6 twins
//! of `fast_path`, `decap_fast_path` and `new_flow` (84-byte frames: the IPv6 header is
//! 20 bytes longer).

#![allow(unsafe_code)] // the counting allocator below, and nothing else

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use fort_dataplane::fixtures::{
    self, A_IP, A_IP6, A_MAC, B_IP, B_MAC, C_IP, C_IP6, C_MAC, H1, H2, ROUTER_MAC, net, net6,
};
use fort_dataplane::overlay;
use fort_dataplane::program::*;
use fort_dataplane::wire::tcp;
use fort_dataplane::{Engine, EngineConfig, PortId, Time, Verdict};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether the command line's filters select one of `ids` ("engine/fast_path", …), as
/// criterion reads them (regular expressions searched in the id; none selects all).
/// Benchmarks check it before their setup, which sends hundreds of thousands of packets
/// through an engine: run unselected, that setup would swamp a profile of the one that
/// is (perf, callgrind in `scripts/bench-engine-instructions`).
fn selected(ids: &[&str]) -> bool {
    // criterion's options that take a value: that value is not a filter
    const VALUED: &[&str] = &[
        "--profile-time",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--format",
        "--logfile",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if VALUED.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(regex::Regex::new(&a).expect("a benchmark filter is a regex"));
        }
    }
    filters.is_empty() || ids.iter().any(|id| filters.iter().any(|f| f.is_match(id)))
}

/// Counts every allocation, to show the fast path makes none.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards its arguments unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counter is an atomic and touches no memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 64-byte frames: Ethernet 14 + IPv4 20 + TCP 20 + 10 bytes of data.
const DATA: usize = 10;
/// Distinct established flows the fast-path benchmarks cycle through.
const FLOWS: u16 = 1024;

/// A program at the quotas. Host 1 holds A (subnet-a); B (subnet-a) and C (subnet-b)
/// live on host 2. A's traffic to C is routed: NACLs, 1,000 routes, Geneve.
fn quota_program(host: Ipv4Addr) -> HostProgram {
    let mut p = if host == H1 {
        fixtures::host1()
    } else {
        fixtures::host2()
    };
    let v = &mut p.vpcs[0];
    // 16 groups x 63 rules (1,008) per direction, none matching but the last of the last
    let mut groups = Vec::new();
    for g in 0..16u8 {
        let mut ingress = Vec::new();
        let mut egress = Vec::new();
        for r in 0..63u8 {
            // TCP rules like the one that matches, on 17 different prefix lengths
            let len = 16 + (u32::from(r) % 17);
            let cidr = format!("172.{}.{}.0/{len}", 16 + g, r);
            let cidr = ipnet::Ipv4Net::new(
                cidr.split('/').next().unwrap().parse().unwrap(),
                u8::try_from(len).unwrap(),
            )
            .unwrap()
            .trunc()
            .to_string();
            ingress.push(fixtures::sg_rule(
                6,
                1000 + i32::from(r),
                1000 + i32::from(r),
                &cidr,
            ));
            // the IPv6 twins: 17 lengths from the VPC's /56 as IPv4's from its /16, so
            // the matching rule (the VPC's block) is on the shortest length in both
            let len6 = 56 + (u32::from(r) % 17);
            let cidr6 = ipnet::Ipv6Net::new(
                Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0x1000 + u16::from(g),
                    u16::from(r) << 8,
                    0,
                    0,
                    0,
                    0,
                ),
                u8::try_from(len6).unwrap(),
            )
            .unwrap()
            .trunc()
            .to_string();
            ingress.push(fixtures::sg_rule6(
                6,
                1000 + i32::from(r),
                1000 + i32::from(r),
                &cidr6,
            ));
            egress.push(fixtures::sg_rule6(
                6,
                2000 + i32::from(r),
                2000 + i32::from(r),
                &cidr6,
            ));
            egress.push(fixtures::sg_rule(
                6,
                2000 + i32::from(r),
                2000 + i32::from(r),
                &cidr,
            ));
        }
        if g == 15 {
            ingress.truncate(ingress.len() - 2);
            egress.truncate(egress.len() - 2);
            ingress.push(fixtures::sg_rule(6, 22, 22, "10.0.0.0/16"));
            egress.push(fixtures::sg_rule(6, 22, 22, "10.0.0.0/16"));
            ingress.push(fixtures::sg_rule6(6, 22, 22, "2001:db8:1::/56"));
            egress.push(fixtures::sg_rule6(6, 22, 22, "2001:db8:1::/56"));
        }
        groups.push(SecurityGroup {
            id: format!("sg-q{g}"),
            ingress,
            egress,
            members: vec![],
            members_v6: vec![],
        });
    }
    v.security_groups.extend(groups);
    let flow_logs = std::env::var("FORT_BENCH_FLOW_LOGS").map_or(true, |v| v != "off");
    for port in &mut p.ports {
        port.security_groups = (0..16).map(|g| format!("sg-q{g}")).collect();
        port.flow_logs = flow_logs;
    }
    // 1,000 routes: local, 999 /24s elsewhere
    let rt = &mut v.route_tables[0];
    rt.routes.retain(|r| r.target == RouteTarget::Local);
    for i in 0..999u32 {
        let a = Ipv4Addr::from(0xc612_0000 + (i << 8)); // 198.18.0.0/15 and beyond
        rt.routes.push(Route {
            destination: ipnet::Ipv4Net::new(a, 24).expect("prefix"),
            target: RouteTarget::NatGateway("nat-1".into()),
        });
    }
    rt.routes_v6.retain(|r| r.target == RouteTarget::Local);
    for i in 0..999u16 {
        rt.routes_v6.push(Route6 {
            destination: ipnet::Ipv6Net::new(
                Ipv6Addr::new(0x2001, 0xdb8, 0xc612, i, 0, 0, 0, 0),
                64,
            )
            .expect("prefix"),
            target: RouteTarget::NatGateway("nat-1".into()),
        });
    }
    // 40 entries per direction, the allowing one last
    let acl = &mut v.network_acls[0];
    acl.entries.clear();
    acl.entries_v6.clear();
    for egress in [false, true] {
        for i in 0..39u16 {
            acl.entries_v6.push(NaclEntry6 {
                rule_number: 10 + i,
                egress,
                protocol: 17,
                allow: false,
                cidr: net6(&format!("2001:db8:ff{i:02x}::/48")),
                port_range: Some((1, 65535)),
                icmp: None,
            });
        }
        acl.entries_v6.push(NaclEntry6 {
            rule_number: 1000,
            egress,
            protocol: -1,
            allow: true,
            cidr: net6("::/0"),
            port_range: None,
            icmp: None,
        });
    }
    for egress in [false, true] {
        for i in 0..39u16 {
            acl.entries.push(NaclEntry {
                rule_number: 10 + i,
                egress,
                protocol: 17,
                allow: false,
                cidr: net(&format!("192.168.{i}.0/24")),
                port_range: Some((1, 65535)),
                icmp: None,
            });
        }
        acl.entries.push(NaclEntry {
            rule_number: 1000,
            egress,
            protocol: -1,
            allow: true,
            cidr: net("0.0.0.0/0"),
            port_range: None,
            icmp: None,
        });
    }
    // 20,000 more IPv6 addresses in V2P: 2001:db8:1:40::/64 onwards
    for i in 0..20_000u32 {
        let [_, b1, b2, b3] = i.to_be_bytes();
        v.mappings_v6.push(Mapping6 {
            ip: v6_far(i),
            host: Ipv4Addr::new(127, 0, 1, (i % 200) as u8),
            mac: fort_dataplane::wire::MacAddr([2, 2, b1, b2, b3, 0]),
            eni_id: format!("eni-y{i}"),
            source_dest_check: true,
        });
    }
    // 20,000 more addresses in V2P
    for i in 0..20_000u32 {
        let ip = Ipv4Addr::from(0x0a00_4000 + i); // 10.0.64.0 onwards
        v.mappings.push(Mapping {
            ip,
            host: Ipv4Addr::new(127, 0, 1, (i % 200) as u8),
            mac: {
                let [_, b1, b2, b3] = i.to_be_bytes();
                fort_dataplane::wire::MacAddr([2, 1, b1, b2, b3, 0])
            },
            eni_id: format!("eni-x{i}"),
            source_dest_check: true,
        });
    }
    p
}

/// The `i`th of the 20,000 IPv6 addresses of other subnets.
fn v6_far(i: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(Ipv6Addr::new(0x2001, 0xdb8, 1, 0x40, 0, 0, 0, 0)) + u128::from(i))
}

fn config() -> EngineConfig {
    EngineConfig {
        conntrack_per_port: 1 << 20,
        flow_table_capacity: 1 << 20,
        ..EngineConfig::default()
    }
}

fn a_to_c(sport: u16, flags: u16) -> Vec<u8> {
    fixtures::tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, sport, 22, flags, DATA)
}

/// Host 1 with `FLOWS` established flows A -> C, and the encapsulated frames host 2
/// receives for them.
fn established() -> (Engine, Engine, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut h1 = Engine::new(config());
    h1.set_program(quota_program(H1)).unwrap();
    let mut h2 = Engine::new(config());
    h2.set_program(quota_program(H2)).unwrap();
    let a = h1.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let mut frames = Vec::new();
    let mut wire = Vec::new();
    for f in 0..FLOWS {
        let syn = a_to_c(30000 + f, tcp::flags::SYN);
        assert!(matches!(
            h1.process_from_port(Time(1), a, &syn, &mut out),
            Verdict::ToUnderlay { .. }
        ));
        assert!(matches!(
            h2.process_from_underlay(Time(1), &out, &mut Vec::new()),
            Verdict::ToPort { .. }
        ));
        let ack = a_to_c(30000 + f, tcp::flags::ACK);
        assert_eq!(ack.len(), 64);
        h1.process_from_port(Time(2), a, &ack, &mut out);
        wire.push(out.clone());
        frames.push(ack);
    }
    (h1, h2, frames, wire)
}

fn fast_path(c: &mut Criterion) {
    if !selected(&["engine/fast_path"]) {
        return;
    }
    let (mut h1, _, frames, _) = established();
    let a = h1.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    per_frame(&mut g, "fast_path", |i, now| {
        h1.process_from_port(Time(now), a, black_box(&frames[i]), &mut out)
    });
    g.finish();
    assert!(
        h1.stats().slow_path < 3 * FLOWS as u64,
        "the benchmark stayed on the fast path"
    );
}

fn decap_fast_path(c: &mut Criterion) {
    if !selected(&["engine/decap_fast_path"]) {
        return;
    }
    let (_, mut h2, _, wire) = established();
    let mut out = Vec::with_capacity(2048);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    per_frame(&mut g, "decap_fast_path", |i, now| {
        h2.process_from_underlay(Time(now), black_box(&wire[i]), &mut out)
    });
    g.finish();
}

/// The fast paths through the in-place API, as the agent calls them: each frame is
/// first put in a buffer with room for the outer headers (the agent's `read`).
fn in_place(c: &mut Criterion) {
    if !selected(&[
        "engine/fast_path_in_place",
        "engine/decap_fast_path_in_place",
    ]) {
        return;
    }
    let (mut h1, mut h2, frames, wire) = established();
    let a = h1.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let mut buf = vec![0u8; 2048];
    let room = overlay::OUTER_LEN;
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    let encap = |h1: &mut Engine, buf: &mut [u8], out: &mut Vec<u8>, i: usize, now: u64| {
        let f = &frames[i];
        buf[room..room + f.len()].copy_from_slice(f);
        h1.process_from_port_in_place(Time(now), a, buf, room..room + f.len(), out)
    };
    per_frame(&mut g, "fast_path_in_place", |i, now| {
        encap(&mut h1, &mut buf, &mut out, i, now)
    });
    let decap = |h2: &mut Engine, buf: &mut [u8], out: &mut Vec<u8>, i: usize, now: u64| {
        let w = &wire[i];
        buf[..w.len()].copy_from_slice(w);
        h2.process_from_underlay_in_place(Time(now), &mut buf[..w.len()], out)
    };
    per_frame(&mut g, "decap_fast_path_in_place", |i, now| {
        decap(&mut h2, &mut buf, &mut out, i, now)
    });
    g.finish();
    let fast = h1.stats().fast_path + h2.stats().fast_path;
    assert!(
        h1.stats().slow_path + h2.stats().slow_path < 6 * FLOWS as u64 && fast > 0,
        "the benchmark stayed on the fast path"
    );
}

/// First packets of new flows from a port, each through every stage (SG egress over
/// 1,000 rules, NACL, 1,000 routes, V2P among 20,000 addresses, Geneve) and into
/// conntrack, the flow table and the flow-log counters.
fn new_flow(c: &mut Criterion) {
    if !selected(&["engine/new_flow"]) {
        return;
    }
    let (mut e, a, frames) = new_flows();
    let mut out = Vec::with_capacity(2048);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    per_new_flow(&mut g, "new_flow", &mut e, &frames, |e, now, f| {
        e.process_from_port(now, a, f, &mut out)
    });
    g.finish();
    let _ = (B_IP, B_MAC, C_MAC);
}

/// The engine of [`new_flow`], A's port, and 100,000 first packets routed to 20,000
/// addresses in other subnets, on many hosts.
fn new_flows() -> (Engine, PortId, Vec<Vec<u8>>) {
    const BATCH: u32 = 100_000;
    let mut e = Engine::new(config());
    e.set_program(quota_program(H1)).unwrap();
    let a = e.port_id("eni-a").expect("port a");
    let frames = (0..BATCH)
        .map(|i| {
            let dst = Ipv4Addr::from(0x0a00_4000 + (i % 20_000));
            let sport = 1024 + u16::try_from(i / 20_000).unwrap();
            fixtures::tcp_frame(
                A_MAC,
                ROUTER_MAC,
                A_IP,
                dst,
                sport,
                22,
                tcp::flags::SYN,
                DATA,
            )
        })
        .collect();
    (e, a, frames)
}

/// First packets of new flows from the underlay: host 2 receives A's SYNs to C, each
/// through origin authentication (V2P among 20,000 addresses), NACL ingress, SG ingress
/// over 1,000 rules, and into conntrack, the flow table and the flow-log counters.
fn decap_new_flow(c: &mut Criterion) {
    if !selected(&["engine/decap_new_flow"]) {
        return;
    }
    const BATCH: u16 = 50_000;
    let mut h1 = Engine::new(config());
    h1.set_program(quota_program(H1)).unwrap();
    let a = h1.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let wire: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            let syn = a_to_c(1024 + i, tcp::flags::SYN);
            assert!(matches!(
                h1.process_from_port(Time(1), a, &syn, &mut out),
                Verdict::ToUnderlay { .. }
            ));
            out.clone()
        })
        .collect();
    drop(h1);
    let mut h2 = Engine::new(config());
    h2.set_program(quota_program(H2)).unwrap();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    per_new_flow(&mut g, "decap_new_flow", &mut h2, &wire, |e, now, w| {
        e.process_from_underlay(now, w, &mut out)
    });
    g.finish();
}

/// One timed pass of `frames` at `now`, after what the agent does every second:
/// flow-log records handed over, then idle counters freed with the tracked flows (at
/// `now`, past every timeout of the previous pass: its flows are all new again).
fn new_flow_pass(
    e: &mut Engine,
    now: Time,
    frames: &[Vec<u8>],
    mut step: impl FnMut(&mut Engine, Time, &[u8]) -> Verdict,
) -> Duration {
    e.drain_flow_records(|r| {
        black_box(r);
    });
    e.expire(now);
    let start = Instant::now();
    for f in frames {
        black_box(step(e, now, f));
    }
    start.elapsed()
}

/// Times `step(engine, now, frame)` over first packets of new flows, then counts its
/// allocations over one pass of `frames`. Steady state: one engine, each of `frames` a
/// distinct flow; between passes (untimed) the flow-log counters are drained, the clock
/// jumps past every timeout and `expire` empties the tables, so every pass's packets are
/// new again. Every packet must
/// pass (no drop) and none may take the fast path.
fn per_new_flow(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    e: &mut Engine,
    frames: &[Vec<u8>],
    mut step: impl FnMut(&mut Engine, Time, &[u8]) -> Verdict,
) {
    let mut now = 0u64;
    let mut pass = |e: &mut Engine, n: usize| {
        now += 1000;
        new_flow_pass(e, Time::from_secs(now), &frames[..n], &mut step)
    };
    // one pass to size the tables, as a running host's are
    pass(e, frames.len());
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = usize::try_from((iters - done).min(frames.len() as u64)).unwrap();
                total += pass(e, n);
                done += n as u64;
            }
            total
        })
    });
    assert_eq!(e.stats().fast_path, 0, "every packet was a new flow");
    now += 10_000;
    e.expire(Time::from_secs(now));
    let t = Time::from_secs(now);
    report_allocations(name, frames.len(), |k| {
        step(e, t, &frames[k]);
    });
    let dropped: u64 = e.stats().drops.iter().sum();
    assert_eq!(dropped, 0, "every packet passed");
    // what the agent's drain costs each interval with every frame's flow cached
    let start = Instant::now();
    let mut records = 0u64;
    e.drain_flow_records(|r| {
        black_box(r);
        records += 1;
    });
    let elapsed = start.elapsed();
    println!(
        "{name}: drain of {} cached flows: {records} records in {:.2} ms ({:.0} ns/record)",
        e.flow_table_len(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / records.max(1) as f64
    );
}

/// Host 1 and host 2 of [`established`] with every flow's handshake answered (C's
/// SYN-ACK back to A): connections established, their decisions offloadable.
fn established_both_ways() -> (Engine, Engine, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut h1, mut h2, frames, wire) = established();
    let c = h2.port_id("eni-c").expect("port c");
    let (mut out, mut back) = (Vec::with_capacity(2048), Vec::with_capacity(2048));
    for f in 0..FLOWS {
        let syn_ack = fixtures::tcp_frame(
            C_MAC,
            ROUTER_MAC,
            C_IP,
            A_IP,
            22,
            30000 + f,
            tcp::flags::SYN | tcp::flags::ACK,
            0,
        );
        assert!(matches!(
            h2.process_from_port(Time(2), c, &syn_ack, &mut out),
            Verdict::ToUnderlay { .. }
        ));
        assert!(matches!(
            h1.process_from_underlay(Time(2), &out, &mut back),
            Verdict::ToPort { .. }
        ));
    }
    (h1, h2, frames, wire)
}

/// The engine's work per frame on the agent's data path with a kernel fast path:
/// the frame decided, then the offload of the flow it handed back described
/// (established flows, so every call builds an offload).
fn agent_path(c: &mut Criterion) {
    if !selected(&[
        "engine/agent_path_in_place",
        "engine/agent_decap_path_in_place",
    ]) {
        return;
    }
    let (mut h1, mut h2, frames, wire) = established_both_ways();
    let a = h1.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let mut buf = vec![0u8; 2048];
    let room = overlay::OUTER_LEN;
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    let now = 10u64;
    let encap = |h1: &mut Engine, buf: &mut [u8], out: &mut Vec<u8>, i: usize, now: u64| {
        let f = &frames[i];
        buf[room..room + f.len()].copy_from_slice(f);
        let p = h1.process_from_port_in_place(Time(now), a, buf, room..room + f.len(), out);
        let o = p.cached.and_then(|flow| h1.offload(&flow, Time(now)));
        (o.is_some(), p)
    };
    assert!(encap(&mut h1, &mut buf, &mut out, 0, now).0, "offloadable");
    per_frame(&mut g, "agent_path_in_place", |i, now| {
        encap(&mut h1, &mut buf, &mut out, i, now)
    });
    let decap = |h2: &mut Engine, buf: &mut [u8], out: &mut Vec<u8>, i: usize, now: u64| {
        let w = &wire[i];
        buf[..w.len()].copy_from_slice(w);
        let p = h2.process_from_underlay_in_place(Time(now), &mut buf[..w.len()], out);
        let o = p.cached.and_then(|flow| h2.offload(&flow, Time(now)));
        (o.is_some(), p)
    };
    assert!(decap(&mut h2, &mut buf, &mut out, 0, now).0, "offloadable");
    per_frame(&mut g, "agent_decap_path_in_place", |i, now| {
        decap(&mut h2, &mut buf, &mut out, i, now)
    });
    g.finish();
}

/// Times `step(flow, now)` over the established flows in turn (the clock advancing one
/// tick a frame), then counts its allocations over a million frames.
fn per_frame<R>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut step: impl FnMut(usize, u64) -> R,
) {
    let (mut i, mut now) = (0usize, 10u64);
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) & (FLOWS as usize - 1);
            now += 1;
            black_box(step(i, now))
        })
    });
    report_allocations(name, 1_000_000, |k| {
        step(k & (FLOWS as usize - 1), now + k as u64);
    });
}

/// Runs `f(0..n)` and prints its allocations per call. Never inlined, so a profiler can
/// collect exactly these loops: `valgrind --tool=callgrind
/// --toggle-collect='engine::report_allocations*' --dump-after='engine::report_allocations*'`
/// writes one profile per loop, whose instructions divided by `n` are the cost per frame.
#[inline(never)]
fn report_allocations(name: &str, n: usize, mut f: impl FnMut(usize)) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    for k in 0..n {
        f(k);
    }
    let elapsed = start.elapsed();
    let allocs = ALLOCATIONS.load(Ordering::Relaxed) - before;
    println!(
        "{name}: {:.3} allocations/packet over {n} packets ({:.2} Mpps in this loop)",
        allocs as f64 / n as f64,
        n as f64 / elapsed.as_secs_f64() / 1e6
    );
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
}

fn a_to_c6(sport: u16, flags: u16) -> Vec<u8> {
    fixtures::tcp6_frame(A_MAC, ROUTER_MAC, A_IP6, C_IP6, sport, 22, flags, DATA)
}

/// [`established`] over IPv6.
fn established6() -> (Engine, Engine, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut h1 = Engine::new(config());
    h1.set_program(quota_program(H1)).unwrap();
    let mut h2 = Engine::new(config());
    h2.set_program(quota_program(H2)).unwrap();
    let a = h1.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let mut frames = Vec::new();
    let mut wire = Vec::new();
    for f in 0..FLOWS {
        let syn = a_to_c6(30000 + f, tcp::flags::SYN);
        assert!(matches!(
            h1.process_from_port(Time(1), a, &syn, &mut out),
            Verdict::ToUnderlay { .. }
        ));
        assert!(matches!(
            h2.process_from_underlay(Time(1), &out, &mut Vec::new()),
            Verdict::ToPort { .. }
        ));
        let ack = a_to_c6(30000 + f, tcp::flags::ACK);
        assert_eq!(ack.len(), 84);
        h1.process_from_port(Time(2), a, &ack, &mut out);
        wire.push(out.clone());
        frames.push(ack);
    }
    (h1, h2, frames, wire)
}

fn fast_path_v6(c: &mut Criterion) {
    if !selected(&["engine/fast_path_v6", "engine/decap_fast_path_v6"]) {
        return;
    }
    let (mut h1, mut h2, frames, wire) = established6();
    let a = h1.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    per_frame(&mut g, "fast_path_v6", |i, now| {
        h1.process_from_port(Time(now), a, black_box(&frames[i]), &mut out)
    });
    per_frame(&mut g, "decap_fast_path_v6", |i, now| {
        h2.process_from_underlay(Time(now), black_box(&wire[i]), &mut out)
    });
    g.finish();
    assert!(
        h1.stats().slow_path < 3 * FLOWS as u64 && h2.stats().slow_path < 3 * FLOWS as u64,
        "the benchmark stayed on the fast path"
    );
}

/// [`new_flow`] over IPv6: SG egress over 1,000 IPv6 rules, the NACL's IPv6 entries,
/// 1,000 IPv6 routes, IPv6 V2P among 20,000 addresses, Geneve.
fn new_flow_v6(c: &mut Criterion) {
    if !selected(&["engine/new_flow_v6"]) {
        return;
    }
    let (mut e, a, frames) = new_flows6();
    let mut out = Vec::with_capacity(2048);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    per_new_flow(&mut g, "new_flow_v6", &mut e, &frames, |e, now, f| {
        e.process_from_port(now, a, f, &mut out)
    });
    g.finish();
}

/// [`new_flows`] over IPv6.
fn new_flows6() -> (Engine, PortId, Vec<Vec<u8>>) {
    const BATCH: u32 = 100_000;
    let mut e = Engine::new(config());
    e.set_program(quota_program(H1)).unwrap();
    let a = e.port_id("eni-a").expect("port a");
    let frames = (0..BATCH)
        .map(|i| {
            let sport = 1024 + u16::try_from(i / 20_000).unwrap();
            fixtures::tcp6_frame(
                A_MAC,
                ROUTER_MAC,
                A_IP6,
                v6_far(i % 20_000),
                sport,
                22,
                tcp::flags::SYN,
                DATA,
            )
        })
        .collect();
    (e, a, frames)
}

/// IPv6's cost over IPv4's, measured in pairs: rounds that time a pass of IPv4 frames
/// and a pass of their IPv6 twins back to back (in alternating order), so both see the
/// same machine. Separate criterion runs of the two drift apart by 10 % on a shared VM.
/// Runs only when named:
/// `cargo bench -p fort-dataplane --features test-support --bench engine -- ipv6_vs_ipv4`.
fn ipv6_vs_ipv4(_: &mut Criterion) {
    if !std::env::args().any(|a| a.contains("ipv6_vs_ipv4")) {
        return;
    }
    const ROUNDS: usize = 31;
    let (mut h4, _, frames4, _) = established();
    let (mut h6, _, frames6, _) = established6();
    let a4 = h4.port_id("eni-a").expect("port a");
    let a6 = h6.port_id("eni-a").expect("port a");
    let mut out = Vec::with_capacity(2048);
    let mut now = 10u64;
    let mut fast = |e: &mut Engine, a: PortId, frames: &[Vec<u8>]| {
        const N: usize = 1 << 20;
        let start = Instant::now();
        for k in 0..N {
            now += 1;
            let f = &frames[k & (FLOWS as usize - 1)];
            black_box(e.process_from_port(Time(now), a, f, &mut out));
        }
        start.elapsed().as_nanos() as f64 / N as f64
    };
    paired("fast_path", ROUNDS, |v6| {
        if v6 {
            fast(&mut h6, a6, &frames6)
        } else {
            fast(&mut h4, a4, &frames4)
        }
    });
    let (mut n4, a4, frames4) = new_flows();
    let (mut n6, a6, frames6) = new_flows6();
    let mut out = Vec::with_capacity(2048);
    let mut secs = 0u64;
    let mut new = |e: &mut Engine, a: PortId, frames: &[Vec<u8>]| {
        secs += 1000;
        let d = new_flow_pass(e, Time::from_secs(secs), frames, |e, now, f| {
            e.process_from_port(now, a, f, &mut out)
        });
        d.as_nanos() as f64 / frames.len() as f64
    };
    // one pass each to size the tables
    new(&mut n4, a4, &frames4);
    new(&mut n6, a6, &frames6);
    paired("new_flow", ROUNDS, |v6| {
        if v6 {
            new(&mut n6, a6, &frames6)
        } else {
            new(&mut n4, a4, &frames4)
        }
    });
}

/// Runs `measure(v6)` for both families `rounds` times, alternating which goes first,
/// and prints the medians (ns per packet), the median of the rounds' ratios, and the
/// fastest rounds' ratio.
fn paired(name: &str, rounds: usize, mut measure: impl FnMut(bool) -> f64) {
    let (mut v4, mut v6, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let (a, b) = if r % 2 == 0 {
            let a = measure(false);
            (a, measure(true))
        } else {
            let b = measure(true);
            (measure(false), b)
        };
        v4.push(a);
        v6.push(b);
        ratio.push(b / a);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (m4, m6, mr) = (median(&mut v4), median(&mut v6), median(&mut ratio));
    // interference only adds time: the fastest rounds are the least disturbed
    let (b4, b6) = (v4[0], v6[0]);
    println!(
        "ipv6_vs_ipv4/{name}: medians IPv4 {m4:.1} ns, IPv6 {m6:.1} ns, ratio {mr:.3}; \
         fastest IPv4 {b4:.1} ns, IPv6 {b6:.1} ns, ratio {:.3} ({rounds} paired rounds)",
        b6 / b4
    );
}

criterion_group! {
    name = benches;
    config = short();
    targets = fast_path, decap_fast_path, in_place, agent_path, new_flow, decap_new_flow,
        fast_path_v6, new_flow_v6, ipv6_vs_ipv4
}
criterion_main!(benches);
