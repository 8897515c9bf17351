//! End to end, as root: two instance namespaces with TAP `eth0`s, two fast paths on
//! loopback underlay addresses, user-space relays standing in for the agents' slow path.
//! One TCP connection goes through every state the agent will drive it through, over
//! IPv4 and over IPv6 (inner IPv6, the same IPv4 underlay).

use std::io::{Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream, UdpSocket,
};
use std::sync::atomic::Ordering;
use std::time::Duration;

use fort_fastpath::layout::ones_sum;
use fort_fastpath::testkit::{IP6_B, Installer, Netns, Pair, in_netns, ip, underlay_addresses};
use fort_fastpath::{
    FastPath, FlowCounters, FlowTuple, FlowTuple6, IngressKey, IngressKey6, Stat, is_root,
};

/// A connection's flow (A → B) in either family, and what the tests do with it.
#[derive(Clone, Copy, Debug)]
enum Flow {
    V4(FlowTuple),
    V6(FlowTuple6),
}

impl Flow {
    fn reversed(self) -> Flow {
        match self {
            Flow::V4(f) => Flow::V4(f.reversed()),
            Flow::V6(f) => Flow::V6(f.reversed()),
        }
    }

    fn install(self, i: &Installer, egress: bool, ingress: bool) {
        match self {
            Flow::V4(f) => i.install(f, egress, ingress),
            Flow::V6(f) => i.install6(f, egress, ingress),
        }
        .unwrap();
    }

    /// The counters of this flow's egress entry on `fp`.
    fn egress(self, fp: &FastPath) -> Option<FlowCounters> {
        match self {
            Flow::V4(f) => fp
                .egress_entries()
                .unwrap()
                .into_iter()
                .find(|(k, _)| k.flow == f)
                .map(|e| e.1),
            Flow::V6(f) => fp
                .egress6_entries()
                .unwrap()
                .into_iter()
                .find(|(k, _)| k.flow == f)
                .map(|e| e.1),
        }
    }

    /// The counters of this flow's ingress entry on `fp`, from `outer_src`.
    fn ingress(self, fp: &FastPath, vni: u32, outer_src: Ipv4Addr) -> Option<FlowCounters> {
        match self {
            Flow::V4(flow) => fp.ingress_counters(&IngressKey {
                vni,
                outer_src,
                flow,
            }),
            Flow::V6(flow) => fp.ingress6_counters(&IngressKey6 {
                vni,
                outer_src,
                flow,
            }),
        }
        .unwrap()
    }

    /// [`forged_geneve`] of this flow.
    fn forged(self, vni: u32, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Vec<u8> {
        match self {
            Flow::V4(f) => forged_geneve(vni, f, src_mac, dst_mac),
            Flow::V6(f) => forged_geneve6(vni, f, src_mac, dst_mac),
        }
    }
}

/// A word-wise FNV-style hash: both ends compute it over the bytes they saw.
fn hash(mut h: u64, data: &[u8]) -> u64 {
    for c in data.chunks(8) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Serves "length, bytes → hash of the bytes" until a zero length.
fn serve(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let mut len = [0u8; 8];
        s.read_exact(&mut len)?;
        let mut left = usize::try_from(u64::from_le_bytes(len)).map_err(std::io::Error::other)?;
        if left == 0 {
            return Ok(());
        }
        let mut h = 0xcbf2_9ce4_8422_2325;
        while left > 0 {
            // keep chunks 8-aligned so both sides hash the same words
            let want = left.min(buf.len());
            s.read_exact(&mut buf[..want])?;
            h = hash(h, &buf[..want]);
            left -= want;
        }
        s.write_all(&h.to_le_bytes())?;
    }
}

/// Sends `len` pseudo-random bytes and checks the server's hash of them.
fn transfer(s: &mut TcpStream, len: usize, seed: u64) {
    s.write_all(&(len as u64).to_le_bytes()).unwrap();
    if len == 0 {
        return;
    }
    let mut x = seed | 1;
    let mut h = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        for w in buf[..n].chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        h = hash(h, &buf[..n]);
        s.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    let mut got = [0u8; 8];
    s.read_exact(&mut got).unwrap();
    assert_eq!(u64::from_le_bytes(got), h, "the data arrived intact");
}

/// A Geneve packet (as the agent sends it, without option) carrying an inner TCP ACK of
/// `flow` with a sequence number far outside the window: harmless if delivered (the
/// receiver answers with a duplicate ACK), but it matches the flow's entry.
fn forged_geneve(vni: u32, flow: FlowTuple, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Vec<u8> {
    let mut g = vec![0, 0, 0x65, 0x58];
    g.extend_from_slice(&vni.to_be_bytes()[1..]);
    g.push(0);
    let mut f = vec![0u8; 54];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&40u16.to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&flow.src.octets());
    f[30..34].copy_from_slice(&flow.dst.octets());
    let c = !ones_sum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&flow.src_port.to_be_bytes());
    f[36..38].copy_from_slice(&flow.dst_port.to_be_bytes());
    f[38..42].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    f[42..46].copy_from_slice(&0x0bad_cafeu32.to_be_bytes());
    f[46] = 5 << 4;
    f[47] = 0x10;
    f[48..50].copy_from_slice(&1024u16.to_be_bytes());
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 6, 0, 20]);
    pseudo.extend_from_slice(&f[34..54]);
    let c = !ones_sum(&pseudo);
    f[50..52].copy_from_slice(&c.to_be_bytes());
    g.extend_from_slice(&f);
    g
}

/// The IPv6 twin of [`forged_geneve`]: an inner IPv6 TCP ACK of `flow` far outside the
/// window, its checksum valid.
fn forged_geneve6(vni: u32, flow: FlowTuple6, src_mac: [u8; 6], dst_mac: [u8; 6]) -> Vec<u8> {
    let mut g = vec![0, 0, 0x65, 0x58];
    g.extend_from_slice(&vni.to_be_bytes()[1..]);
    g.push(0);
    let mut f = vec![0u8; 74];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    f[18..20].copy_from_slice(&20u16.to_be_bytes());
    f[20] = 6;
    f[21] = 64;
    f[22..38].copy_from_slice(&flow.src.octets());
    f[38..54].copy_from_slice(&flow.dst.octets());
    f[54..56].copy_from_slice(&flow.src_port.to_be_bytes());
    f[56..58].copy_from_slice(&flow.dst_port.to_be_bytes());
    f[58..62].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    f[62..66].copy_from_slice(&0x0bad_cafeu32.to_be_bytes());
    f[66] = 5 << 4;
    f[67] = 0x10;
    f[68..70].copy_from_slice(&1024u16.to_be_bytes());
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[22..54]);
    pseudo.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, 6]);
    pseudo.extend_from_slice(&f[54..74]);
    let c = !ones_sum(&pseudo);
    f[70..72].copy_from_slice(&c.to_be_bytes());
    g.extend_from_slice(&f);
    g
}

/// A connection from A to the server on B (`serve`), through the relays, over IPv4 or
/// (`v6`) IPv6: the client, the server's thread and the connection's flow (A → B).
/// Reads and writes time out after `timeout_s` seconds.
fn connect(
    pair: &Pair,
    timeout_s: u64,
    v6: bool,
) -> (
    TcpStream,
    std::thread::JoinHandle<std::io::Result<()>>,
    Flow,
) {
    let server_addr = if v6 {
        SocketAddr::from(SocketAddrV6::new(IP6_B, 7000, 0, 0))
    } else {
        SocketAddr::from(SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 2), 7000))
    };
    let listener = in_netns(&pair.b.ns.path(), move || TcpListener::bind(server_addr)).unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        serve(s)
    });
    let client = in_netns(&pair.a.ns.path(), move || {
        TcpStream::connect_timeout(&server_addr, Duration::from_secs(5))
    })
    .unwrap();
    let timeout = Some(Duration::from_secs(timeout_s));
    client.set_read_timeout(timeout).unwrap();
    client.set_write_timeout(timeout).unwrap();
    let local = client.local_addr().unwrap();
    let flow = match (local.ip(), server_addr.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => Flow::V4(FlowTuple {
            src,
            dst,
            src_port: local.port(),
            dst_port: 7000,
        }),
        (IpAddr::V6(src), IpAddr::V6(dst)) => Flow::V6(FlowTuple6 {
            src,
            dst,
            src_port: local.port(),
            dst_port: 7000,
        }),
        other => panic!("mixed families {other:?}"),
    };
    (client, server, flow)
}

/// The stand-in relay sends a frame as one datagram: keep TSO frames below 64 KB.
fn limit_gso(pair: &Pair) {
    for i in [&pair.a, &pair.b] {
        ip(&[
            "-n",
            i.ns.name(),
            "link",
            "set",
            "eth0",
            "gso_max_size",
            "60000",
        ])
        .unwrap();
    }
}

fn stat(p: &Pair, host_b: bool, s: Stat) -> u64 {
    let f = if host_b { &p.fb } else { &p.fa };
    f.stats().unwrap()[&s]
}

#[test]
fn an_established_flow_takes_the_fast_path_and_falls_back_cleanly() {
    established_flow_takes_the_fast_path(false);
}

/// The same over IPv6: the programs' IPv6 blocks and maps, IPv6's header template (GSO
/// super-frames of TCPv6 intact, checksums finished by the kernel: the data arrives
/// whole), the same origin check.
#[test]
fn an_established_ipv6_flow_takes_the_fast_path_and_falls_back_cleanly() {
    established_flow_takes_the_fast_path(true);
}

/// Its own names and underlay addresses (`n` apart from the first test's): the tests
/// may run in one process.
fn shifted(n: u8) -> [Ipv4Addr; 3] {
    underlay_addresses().map(|a| {
        let [_, m, x, y] = a.octets();
        Ipv4Addr::new(127, m + n, x, y)
    })
}

fn established_flow_takes_the_fast_path(v6: bool) {
    if !is_root() {
        eprintln!("skipped: needs root (namespaces, TAPs, BPF)");
        return;
    }
    let (tag, [ua, ub, forger]) = if v6 {
        (format!("{}s", std::process::id()), shifted(20))
    } else {
        (std::process::id().to_string(), underlay_addresses())
    };
    let ns_names = [format!("fpt-a-{tag}"), format!("fpt-b-{tag}")];
    {
        let (pair, installer) = Pair::new(&tag, ua, ub, false).unwrap();
        limit_gso(&pair);
        let (mut client, server, flow) = connect(&pair, 30, v6);
        if std::env::var_os("FASTPATH_DEBUG").is_some() {
            let (fa, fb) = (pair.fa.clone(), pair.fb.clone());
            let (ra, rb) = (pair.relay_a.stats.clone(), pair.relay_b.stats.clone());
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(3));
                    eprintln!(
                        "A {:?}\nB {:?}\nrelay A {ra:?}\nrelay B {rb:?}",
                        fa.stats(),
                        fb.stats()
                    );
                }
            });
        }
        let (ra, rb) = (&pair.relay_a.stats, &pair.relay_b.stats);
        let tcp = |s: &fort_fastpath::testkit::RelayStats| {
            (
                s.from_tap_tcp.load(Ordering::Relaxed),
                s.from_tap_tcp_payload.load(Ordering::Relaxed),
                s.to_tap.load(Ordering::Relaxed),
            )
        };
        // the handshake went through the relays (the last ACK may still be in flight)
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            tcp(ra).0 >= 2 && tcp(rb).0 >= 1,
            "{:?} {:?}",
            tcp(ra),
            tcp(rb)
        );

        // 1. egress entries only: the kernel encapsulates, the receiving "agents" (no
        // entry) get Geneve with the offload option and write it to their TAPs
        flow.install(&installer, true, false);
        let (a0, b0) = (tcp(ra), tcp(rb));
        transfer(&mut client, 8 << 20, 1);
        let (a1, b1) = (tcp(ra), tcp(rb));
        assert_eq!(a1.1, a0.1, "A's data did not go through A's relay");
        assert!(
            b1.2 - b0.2 > 100,
            "B's relay delivered the kernel-encapsulated frames"
        );
        assert!(stat(&pair, true, Stat::UnderlayMiss) > 100);
        let eg = flow.egress(&pair.fa).unwrap();
        assert!(eg.bytes >= 8 << 20, "{eg:?}");

        // 2. full fast path: the relays see nothing of the connection
        flow.install(&installer, true, true);
        std::thread::sleep(Duration::from_millis(100));
        let (a0, b0) = (tcp(ra), tcp(rb));
        let counters = || flow.ingress(&pair.fb, pair.vni, ua).unwrap();
        let in0 = counters();
        transfer(&mut client, 50 << 20, 2);
        let (a1, b1) = (tcp(ra), tcp(rb));
        assert_eq!((a1.0, a1.1), (a0.0, a0.1), "nothing from A's TAP");
        assert_eq!((b1.0, b1.1), (b0.0, b0.1), "nothing from B's TAP");
        assert_eq!((a1.2, b1.2), (a0.2, b0.2), "nothing to the TAPs");
        let in1 = counters();
        assert!(in1.bytes - in0.bytes >= 50 << 20, "{in0:?} {in1:?}");
        assert!(in1.last_seen_ns > in0.last_seen_ns);
        let back = flow.reversed().ingress(&pair.fa, pair.vni, ub).unwrap();
        assert!(back.packets > 0, "ACKs came back through the fast path");
        eprintln!(
            "fast path: {} packets, {} bytes ({:.0} B/packet: GSO frames)",
            in1.packets - in0.packets,
            in1.bytes - in0.bytes,
            (in1.bytes - in0.bytes) as f64 / (in1.packets - in0.packets) as f64
        );

        // 3. a packet matching the entry but from another host is not fast-pathed; the
        // same from the right host is (the control that makes the check meaningful)
        let packet = flow.forged(pair.vni, pair.a.mac, pair.b.mac);
        let to = SocketAddrV4::new(ub, 6081);
        let before = counters();
        let miss0 = stat(&pair, true, Stat::UnderlayMiss);
        let rejected0 = rb.rejected.load(Ordering::Relaxed);
        UdpSocket::bind(SocketAddrV4::new(forger, 0))
            .unwrap()
            .send_to(&packet, to)
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let after = counters();
        assert_eq!(after.packets, before.packets, "forged packet not delivered");
        assert_eq!(stat(&pair, true, Stat::UnderlayMiss), miss0 + 1);
        assert_eq!(rb.rejected.load(Ordering::Relaxed), rejected0 + 1);
        UdpSocket::bind(SocketAddrV4::new(ua, 0))
            .unwrap()
            .send_to(&packet, to)
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let control = counters();
        assert_eq!(
            control.packets,
            before.packets + 1,
            "from A it is delivered"
        );

        // 4. clearing sends the connection back to the slow path, unbroken
        pair.fa.clear().unwrap();
        pair.fb.clear().unwrap();
        assert!(pair.fa.egress_entries().unwrap().is_empty());
        assert!(pair.fb.ingress_entries().unwrap().is_empty());
        assert!(pair.fa.egress6_entries().unwrap().is_empty());
        assert!(pair.fb.ingress6_entries().unwrap().is_empty());
        let a0 = tcp(ra);
        transfer(&mut client, 8 << 20, 3);
        let a1 = tcp(ra);
        assert!(a1.1 - a0.1 >= 8 << 20, "A's relay carried the data again");
        transfer(&mut client, 0, 0); // ends the server
        server.join().unwrap().unwrap();
        drop(client);
        let st = pair.fa.stats().unwrap();
        eprintln!("host A stats: {st:?}");
        eprintln!("host B stats: {:?}", pair.fb.stats().unwrap());
        assert_eq!(st[&Stat::ConduitDrop], 0);
        assert_eq!(st[&Stat::ConduitError], 0);
        assert_eq!(st[&Stat::UnderlayError], 0);
        drop(installer);
        drop(pair);
    }
    // everything is gone
    for n in &ns_names {
        assert!(!Netns::exists(n), "{n} removed");
    }
    for link in [format!("fa{tag}1"), format!("fb{tag}2")] {
        assert!(ip(&["link", "show", &link]).is_err(), "{link} removed");
    }
}

/// Entries on the receiving hosts only, as when the sender's engine keeps the flow (a
/// source/dest check off, a decision it could not cache, no fast path on its host, the
/// moment before its entry is installed): the relays send what the instances' kernels
/// hand their TAPs, TSO super-frames with partial checksums described by the offload
/// option, and the receivers' kernels must not deliver those as they are (the checksum
/// is still to be done): the receivers' relays write them to the TAPs, with the header.
#[test]
fn frames_the_senders_engine_path_encapsulated_are_finished_by_the_receivers_agent() {
    finished_by_the_receivers_agent(false);
}

/// The same over IPv6 (TCPv6 super-frames, csum_start after the 40-byte header).
#[test]
fn ipv6_frames_the_senders_engine_path_encapsulated_are_finished_by_the_receivers_agent() {
    finished_by_the_receivers_agent(true);
}

fn finished_by_the_receivers_agent(v6: bool) {
    if !is_root() {
        eprintln!("skipped: needs root (namespaces, TAPs, BPF)");
        return;
    }
    // its own names and underlay addresses: the other tests may run in this process
    let (tag, [ua, ub, _]) = if v6 {
        (format!("{}t", std::process::id()), shifted(30))
    } else {
        (format!("{}r", std::process::id()), shifted(10))
    };
    let (pair, installer) = Pair::new(&tag, ua, ub, false).unwrap();
    limit_gso(&pair);
    let (mut client, server, flow) = connect(&pair, 10, v6);
    std::thread::sleep(Duration::from_millis(200)); // the handshake's last ACK
    flow.install(&installer, false, true);
    let (ra, rb) = (&pair.relay_a.stats, &pair.relay_b.stats);
    let (a0, b0) = (
        ra.to_tap.load(Ordering::Relaxed),
        rb.to_tap.load(Ordering::Relaxed),
    );
    transfer(&mut client, 8 << 20, 5);
    transfer(&mut client, 64 << 10, 6);
    let (a1, b1) = (
        ra.to_tap.load(Ordering::Relaxed),
        rb.to_tap.load(Ordering::Relaxed),
    );
    assert!(b1 - b0 > 100, "B's relay delivered A's data: {b0} → {b1}");
    assert!(a1 > a0, "A's relay delivered B's answers");
    let c = flow.ingress(&pair.fb, pair.vni, ua).unwrap();
    assert_eq!(c.packets, 0, "the kernel delivered none of them");
    // the entries matched, and let the frames go for what their option said
    assert!(stat(&pair, true, Stat::UnderlayUnfinished) > 100);
    assert!(
        stat(&pair, false, Stat::UnderlayUnfinished) > 0,
        "B's ACKs too"
    );
    transfer(&mut client, 0, 0);
    server.join().unwrap().unwrap();
    eprintln!("host A stats: {:?}", pair.fa.stats().unwrap());
    eprintln!("host B stats: {:?}", pair.fb.stats().unwrap());
}
