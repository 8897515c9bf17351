//! The fast path against the kernel peer of `scripts/bench-dataplane`, in one run:
//!
//! ```text
//! sudo CARGO_TARGET_DIR=/work/target-fastpath cargo test --release -p fort-fastpath \
//!     --test bench -- --ignored --nocapture      # FASTPATH_BENCH_SECS=10 FASTPATH_BENCH_RUNS=3
//! ```
//!
//! Fast path: two instance namespaces with TAP `eth0` (MTU 9001, offloads on), two
//! fast paths on loopback underlay addresses, relays standing in for the agents that
//! install each connection once established (its handshake goes through the relays).
//! Kernel peer: exactly what `scripts/bench-dataplane` builds (two host namespaces over
//! a veth underlay, VXLAN + bridge per host, nftables conntrack, instance MTU 9001).
//! iperf3 1 and 8 streams, sockperf TCP ping-pong 64 B; figures only, no pass/fail. The
//! fast path is measured over IPv4 and over IPv6 (inner IPv6, same pair, same run).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fort_fastpath::testkit::{IP6_B, Netns, Pair, underlay_addresses};
use fort_fastpath::{Stat, is_root};

const IPERF_PORT: &str = "5201";
const SOCKPERF_PORT: &str = "11111";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_in(ns: &str, args: &[&str]) -> Killed {
    Killed(
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn output_in(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn number_after(text: &str, marker: &str) -> Option<f64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let rest = rest.trim_start_matches([' ', '\t', ':', '=']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '+' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[derive(Clone, Copy, Debug)]
struct Figures {
    one: f64,
    eight: f64,
    p50: f64,
    p99: f64,
}

/// What `measure()` of `scripts/bench-dataplane` measures, the same way.
fn measure(client: &str, server: &str, server_ip: &str, secs: u32) -> Figures {
    let mut gbps = [0.0; 2];
    for (i, streams) in ["1", "8"].into_iter().enumerate() {
        let _srv = spawn_in(
            server,
            &["iperf3", "-s", "-1", "-B", server_ip, "-p", IPERF_PORT],
        );
        std::thread::sleep(Duration::from_millis(500));
        let t = secs.to_string();
        let out = output_in(
            client,
            &[
                "iperf3", "-c", server_ip, "-p", IPERF_PORT, "-t", &t, "-P", streams, "-J",
            ],
        );
        let sum = &out[out.find("\"sum_received\"").unwrap_or(0)..];
        gbps[i] = number_after(sum, "\"bits_per_second\"").unwrap_or(f64::NAN) / 1e9;
    }
    let _srv = spawn_in(
        server,
        &[
            "sockperf",
            "server",
            "--tcp",
            "-i",
            server_ip,
            "-p",
            SOCKPERF_PORT,
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let t = secs.to_string();
    let out = output_in(
        client,
        &[
            "sockperf",
            "ping-pong",
            "--tcp",
            "-i",
            server_ip,
            "-p",
            SOCKPERF_PORT,
            "-t",
            &t,
            "-m",
            "64",
            "--full-rtt",
        ],
    );
    Figures {
        one: gbps[0],
        eight: gbps[1],
        p50: number_after(&out, "percentile 50.000").unwrap_or(f64::NAN),
        p99: number_after(&out, "percentile 99.000").unwrap_or(f64::NAN),
    }
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `class Kernel` of `scripts/bench-dataplane`, command for command.
struct Kernel {
    hosts: [Netns; 2],
    instances: [Netns; 2],
}

impl Kernel {
    fn up() -> Kernel {
        let tag = format!("fbk{}", std::process::id() % 100_000);
        let hosts = [
            Netns::create(&format!("{tag}hA")).unwrap(),
            Netns::create(&format!("{tag}hB")).unwrap(),
        ];
        let instances = [
            Netns::create(&format!("{tag}iA")).unwrap(),
            Netns::create(&format!("{tag}iB")).unwrap(),
        ];
        let ips = ["10.99.1.4", "10.99.1.5"];
        let (ha, hb) = (hosts[0].name(), hosts[1].name());
        let (ua, ub) = (format!("{tag}uA"), format!("{tag}uB"));
        sh(&[
            "ip", "link", "add", &ua, "netns", ha, "type", "veth", "peer", "name", &ub, "netns", hb,
        ]);
        for (i, (h, peer)) in [(ha, "2"), (hb, "1")].into_iter().enumerate() {
            let u = if i == 0 { &ua } else { &ub };
            let local = format!("10.255.0.{}", i + 1);
            sh(&["ip", "-n", h, "link", "set", u, "mtu", "65535", "up"]);
            sh(&[
                "ip",
                "-n",
                h,
                "addr",
                "add",
                &format!("{local}/30"),
                "dev",
                u,
            ]);
            sh(&[
                "ip", "-n", h, "link", "add", "br0", "mtu", "9001", "type", "bridge",
            ]);
            sh(&[
                "ip",
                "-n",
                h,
                "link",
                "add",
                "vx0",
                "mtu",
                "9001",
                "type",
                "vxlan",
                "id",
                "100",
                "local",
                &local,
                "remote",
                &format!("10.255.0.{peer}"),
                "dstport",
                "4789",
                "dev",
                u,
            ]);
            sh(&["ip", "-n", h, "link", "set", "vx0", "master", "br0", "up"]);
            let inst = instances[i].name();
            sh(&[
                "ip", "link", "add", "vport", "netns", h, "type", "veth", "peer", "name", "eth0",
                "netns", inst,
            ]);
            sh(&[
                "ip", "-n", h, "link", "set", "vport", "mtu", "9001", "master", "br0", "up",
            ]);
            sh(&["ip", "-n", h, "link", "set", "br0", "up"]);
            sh(&["ip", "-n", inst, "link", "set", "eth0", "mtu", "9001", "up"]);
            sh(&[
                "ip",
                "-n",
                inst,
                "addr",
                "add",
                &format!("{}/24", ips[i]),
                "dev",
                "eth0",
            ]);
            sh(&[
                "ip",
                "netns",
                "exec",
                h,
                "sysctl",
                "-qw",
                "net.bridge.bridge-nf-call-iptables=1",
            ]);
            let rules = format!(
                "table inet sg {{\n chain forward {{\n  type filter hook forward priority 0; policy drop;\n  ct state established,related accept\n  ct state invalid drop\n  ip daddr 10.99.1.0/24 tcp dport {{ {IPERF_PORT}, {SOCKPERF_PORT} }} ct state new accept\n  ip daddr 10.99.1.0/24 icmp type echo-request accept\n }}\n}}\n"
            );
            let mut nft = Command::new("ip")
                .args(["netns", "exec", h, "nft", "-f", "-"])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            nft.stdin
                .take()
                .unwrap()
                .write_all(rules.as_bytes())
                .unwrap();
            assert!(nft.wait().unwrap().success(), "nft");
        }
        sh(&[
            "ip",
            "netns",
            "exec",
            instances[0].name(),
            "ping",
            "-c",
            "3",
            "-W",
            "1",
            ips[1],
        ]);
        Kernel { hosts, instances }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: run explicitly as root, see the module docs"]
fn fast_path_against_the_kernel_peer() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    for tool in ["iperf3", "sockperf", "nft"] {
        if !Command::new("which")
            .arg(tool)
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("skipped: needs {tool}");
            return;
        }
    }
    let secs: u32 = std::env::var("FASTPATH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let runs: u32 = std::env::var("FASTPATH_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let [ua, ub, _] = underlay_addresses();
    let tag = std::process::id().to_string();
    let mut fast = Vec::new();
    let mut fast6 = Vec::new();
    let mut kernel = Vec::new();
    for run in 1..=runs {
        let f = {
            let (pair, installer) = Pair::new(&tag, ua, ub, true).unwrap();
            let f = measure(pair.a.ns.name(), pair.b.ns.name(), "10.9.0.2", secs);
            let f6 = measure(pair.a.ns.name(), pair.b.ns.name(), &IP6_B.to_string(), secs);
            eprintln!("run {run} fast path, IPv6: {f6:?}");
            fast6.push(f6);
            let sa = pair.fa.stats().unwrap();
            let sb = pair.fb.stats().unwrap();
            eprintln!(
                "run {run} fast path: {f:?}\n  A: egress hits {} misses {} too big {}, underlay hits {} misses {}\n  B: egress hits {} misses {} too big {}, underlay hits {} misses {}\n  relays: A {:?}\n          B {:?}",
                sa[&Stat::EgressHit],
                sa[&Stat::EgressMiss],
                sa[&Stat::EgressTooBig],
                sa[&Stat::UnderlayHit],
                sa[&Stat::UnderlayMiss],
                sb[&Stat::EgressHit],
                sb[&Stat::EgressMiss],
                sb[&Stat::EgressTooBig],
                sb[&Stat::UnderlayHit],
                sb[&Stat::UnderlayMiss],
                pair.relay_a.stats,
                pair.relay_b.stats,
            );
            drop(installer);
            drop(pair);
            f
        };
        let k = {
            let k = Kernel::up();
            let fig = measure(
                k.instances[0].name(),
                k.instances[1].name(),
                "10.99.1.5",
                secs,
            );
            drop(k.instances);
            drop(k.hosts);
            fig
        };
        eprintln!("run {run} kernel peer: {k:?}");
        fast.push(f);
        kernel.push(k);
    }
    println!("\n{secs} s per measurement, {runs} runs, alternating; instance MTU 9001 both sides");
    println!(
        "{:26}{:>28}{:>28}{:>10}",
        "", "fast path (runs)", "kernel peer (runs)", "ratio*"
    );
    type Get = fn(&Figures) -> f64;
    let rows: [(&str, Get); 4] = [
        ("TCP 1 stream (Gbit/s)", |f| f.one),
        ("TCP 8 streams (Gbit/s)", |f| f.eight),
        ("RR latency p50 (us)", |f| f.p50),
        ("RR latency p99 (us)", |f| f.p99),
    ];
    for (name, get) in rows {
        let fv: Vec<f64> = fast.iter().map(get).collect();
        let kv: Vec<f64> = kernel.iter().map(get).collect();
        let show = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{name:26}{:>28}{:>28}{:>9.2}x",
            show(&fv),
            show(&kv),
            median(fv.clone()) / median(kv.clone())
        );
    }
    println!("* ratio of medians, fast path / kernel peer");
    // round trips over IPv6 need sockperf 3.8 or later (3.7 has no IPv6: NaN)
    println!("\nthe fast path over IPv6 (inner IPv6, same pairs):");
    for (name, get) in rows {
        let v6: Vec<f64> = fast6.iter().map(get).collect();
        let v4: Vec<f64> = fast.iter().map(get).collect();
        println!(
            "{name:26}{:>28}   IPv6/IPv4 {:.2}x",
            v6.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" "),
            median(v6.clone()) / median(v4)
        );
    }
}
