//! Entry points for the fuzz targets (`fuzz/`), shared with the stable test that
//! replays the committed corpus (`tests/fuzz_corpus/`), so CI runs every past input as
//! an ordinary test.
//!
//! Each function must never panic, whatever the bytes. The pipeline entry points also
//! compare the engine with the reference evaluator.
//!
//! Test support (feature `test-support`), like [`crate::fixtures`] and
//! [`crate::reference`].

use crate::fixtures;
use crate::overlay;
use crate::program::Underlay;
use crate::wire::{
    MacAddr, arp, dhcp, dhcpv6, dns, ethernet, geneve, icmp, icmpv6, ipv4, ipv6, tcp, udp,
};
use crate::{Engine, EngineConfig, Output, PortId, Time};
use std::net::{Ipv4Addr, Ipv6Addr};

/// IPv6: the header view, the extension-header walk and the packet parser never panic;
/// a fixed header re-emits to itself.
pub fn ipv6(data: &[u8]) {
    let _ = crate::packet::parse_ipv6(data);
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        let _ = (
            p.upper_layer(),
            p.payload(),
            p.flow_label(),
            p.traffic_class(),
        );
        let r = ipv6::Repr::parse(&p).expect("a checked header parses");
        let mut b = data.to_vec();
        r.emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
        let back = ipv6::Repr::parse(&ipv6::Packet::new_checked(&b[..]).expect("same length"));
        assert_eq!(back.ok(), Some(r), "a header re-emits to itself");
    }
}

/// ICMPv6 and NDP: the view, its target and options never panic; a message whose
/// checksum is filled in verifies.
pub fn icmpv6(data: &[u8]) {
    if let Ok(p) = icmpv6::Packet::new_checked(data) {
        let _ = (p.target(), p.ident(), p.seq());
        for o in p.options() {
            let _ = o;
        }
        let _ = icmpv6::link_layer_option(p.options(), icmpv6::option::SOURCE_LL_ADDR);
        let (s, d) = (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
        let mut b = data.to_vec();
        icmpv6::Packet::new_unchecked(&mut b[..]).fill_checksum(s, d);
        assert!(
            icmpv6::Packet::new_checked(&b[..]).is_ok_and(|p| p.verify_checksum(s, d)),
            "a filled checksum verifies"
        );
    }
}

/// DHCPv6: the message view and option walks never panic, and the responder (the
/// bytes as a client's message from B, on host 2 of the fixtures) answers or drops,
/// never panics; an answer is a well-formed Reply or Advertise.
pub fn dhcpv6(data: &[u8]) {
    if let Ok(m) = dhcpv6::Message::new_checked(data) {
        for o in m.options() {
            if let Ok((dhcpv6::option::IA_NA, ia)) = o
                && let Ok(inner) = dhcpv6::Options::inside(ia, dhcpv6::IA_NA_LEN)
            {
                for x in inner {
                    let _ = x;
                }
            }
        }
    }
    if data.len() > 9000 {
        return;
    }
    let b6 = ipv6::link_local_of(fixtures::B_MAC.0);
    let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
    let f = fixtures::udp6_frame(
        fixtures::B_MAC,
        MacAddr(ipv6::multicast_mac(group)),
        b6,
        group,
        dhcpv6::CLIENT_PORT,
        dhcpv6::SERVER_PORT,
        data,
    );
    let mut e = Engine::new(EngineConfig::default());
    e.set_program(fixtures::host2())
        .expect("the fixtures install");
    let b = e.port_id("eni-b").expect("port b");
    let mut out = Vec::new();
    if let crate::Verdict::Hairpin { .. } = e.process_from_port(Time(1), b, &f, &mut out) {
        let ip = ipv6::Packet::new_checked(&out[14..]).expect("an IPv6 answer");
        assert_eq!(
            ipv6::l4_checksum(ip.src(), ip.dst(), crate::wire::ip_proto::UDP, ip.payload()),
            0
        );
        let m = dhcpv6::Message::new_checked(&ip.payload()[8..]).expect("a message");
        assert!(matches!(
            m.msg_type(),
            dhcpv6::message::REPLY | dhcpv6::message::ADVERTISE
        ));
        assert!(m.options().all(|o| o.is_ok()), "well-formed options");
    }
}

pub fn ethernet(data: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        let r = ethernet::Repr::parse(&f).expect("checked frame parses");
        let mut b = data.to_vec();
        r.emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
        assert_eq!(b, data, "ethernet re-emits to itself");
        let _ = crate::packet::parse_ipv4(f.payload());
    }
}

pub fn arp(data: &[u8]) {
    if let Ok(p) = arp::Packet::new_checked(data) {
        let r = arp::Repr::parse(&p).expect("checked arp parses");
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut arp::Packet::new_unchecked(&mut b[..]));
        assert_eq!(
            arp::Repr::parse(&arp::Packet::new_checked(&b[..]).expect("emitted")).ok(),
            Some(r)
        );
    }
}

pub fn ipv4(data: &[u8]) {
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        let _ = (p.payload(), p.ident(), p.frag_offset(), p.more_frags());
        if let Ok(r) = ipv4::Repr::parse(&p) {
            let mut b = vec![0u8; r.buffer_len() + r.payload_len];
            r.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
            let back = ipv4::Repr::parse(&ipv4::Packet::new_checked(&b[..]).expect("emitted"))
                .expect("valid");
            assert_eq!(back, r);
        }
    }
}

pub fn tcp(data: &[u8]) {
    let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    if let Ok(p) = tcp::Packet::new_checked(data) {
        let _ = (p.payload(), p.urgent(), p.window());
        let mut b = data.to_vec();
        tcp::Packet::new_unchecked(&mut b[..]).fill_checksum(s, d);
        assert!(
            tcp::Packet::new_checked(&b[..])
                .expect("same")
                .verify_checksum(s, d)
        );
        let _ = tcp::Repr::parse(&p, s, d);
    }
}

pub fn udp(data: &[u8]) {
    let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    if let Ok(p) = udp::Packet::new_checked(data)
        && let Ok(r) = udp::Repr::parse(&p, s, d)
    {
        {
            let mut b = vec![0u8; r.buffer_len()];
            b[udp::HEADER_LEN..].copy_from_slice(p.payload());
            r.emit(&mut udp::Packet::new_unchecked(&mut b[..]), s, d, true);
            assert_eq!(
                udp::Repr::parse(&udp::Packet::new_checked(&b[..]).expect("emitted"), s, d).ok(),
                Some(r)
            );
        }
    }
}

pub fn icmp(data: &[u8]) {
    if let Ok(p) = icmp::Packet::new_checked(data) {
        let _ = (icmp::query_of(p.msg_type()), p.data());
        if let Ok(r) = icmp::Repr::parse(&p) {
            // (not byte for byte: 0x0000 and 0xffff both verify as a checksum)
            let mut b = data.to_vec();
            r.emit(&mut icmp::Packet::new_unchecked(&mut b[..]));
            let back = icmp::Repr::parse(&icmp::Packet::new_checked(&b[..]).expect("same length"));
            assert_eq!(back.ok(), Some(r), "a valid message re-emits to itself");
        }
    }
}

pub fn geneve(data: &[u8]) {
    if let Ok(p) = geneve::Packet::new_checked(data) {
        let _ = (p.options(), p.payload(), p.options_iter().count());
        if let Some(o) = geneve::OffloadOption::parse(p.options()) {
            // Fort's option re-emits to itself
            let mut b = [0u8; geneve::HEADER_LEN + geneve::OffloadOption::LEN];
            let mut base = [0u8; geneve::HEADER_LEN];
            base.copy_from_slice(&data[..geneve::HEADER_LEN]);
            geneve::write_header_with_option(&mut b, base, &o);
            assert_eq!(geneve::OffloadOption::from_header(&b), Some(o));
        }
        if let Ok(r) = geneve::Repr::parse(&p) {
            let mut b = [0u8; geneve::HEADER_LEN];
            r.emit(&mut geneve::Packet::new_unchecked(&mut b[..]));
            assert_eq!(
                geneve::Repr::parse(&geneve::Packet::new_checked(&b[..]).expect("emitted")).ok(),
                Some(r)
            );
        }
    }
    let _ = overlay::decapsulate(data);
    let _ = overlay::geneve_payload(data);
}

pub fn dhcp(data: &[u8]) {
    if let Ok(p) = dhcp::Packet::new_checked(data) {
        let _ = p.options().count();
        if let Ok(r) = dhcp::Repr::parse(&p) {
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut dhcp::Packet::new_unchecked(&mut b[..]));
            let back = dhcp::Repr::parse(&dhcp::Packet::new_checked(&b[..]).expect("emitted"))
                .expect("valid");
            // values longer than an option can hold are cut on emit; compare the rest
            assert_eq!(back.message_type, r.message_type);
            assert_eq!(back.xid, r.xid);
            assert_eq!(back.chaddr, r.chaddr);
        }
    }
}

/// A zone for the resolver's entry points: 10.0.1.5 is the VPC's.
struct FuzzZone;

impl crate::dns::Zone for FuzzZone {
    fn has(&self, ip: Ipv4Addr) -> bool {
        ip == Ipv4Addr::new(10, 0, 1, 5)
    }
    fn domain(&self) -> &str {
        "ec2.internal"
    }
}

/// DNS, parse only: the view's accessors, the first question, the whole message, and
/// the resolver's answer (which must itself parse).
pub fn dns_parse(data: &[u8]) {
    if let Ok(p) = dns::Packet::new_checked(data) {
        let _ = (p.id(), p.flags(), p.opcode(), p.rcode(), p.body());
        let _ = (p.qdcount(), p.ancount(), p.nscount(), p.arcount());
        let _ = p.first_question();
        let _ = p.name_at(data.len() / 2);
        if let Ok(r) = dns::Repr::parse(&p) {
            for q in &r.questions {
                let _ = q.name.to_string();
            }
        }
    }
    if let Some(reply) = crate::dns::answer(data, &FuzzZone) {
        let mut b = vec![0u8; reply.buffer_len()];
        reply.emit(&mut dns::Packet::new_unchecked(&mut b[..]));
        let back = dns::Repr::parse(&dns::Packet::new_checked(&b[..]).expect("emitted"));
        assert_eq!(back.ok(), Some(reply), "the resolver's answer parses");
    }
}

/// DNS, parse → emit → parse: a message that parses re-emits (canonically: names
/// uncompressed but for the question's) to one that parses to the same.
pub fn dns_round_trip(data: &[u8]) {
    if let Ok(p) = dns::Packet::new_checked(data)
        && let Ok(r) = dns::Repr::parse(&p)
    {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut dns::Packet::new_unchecked(&mut b[..]));
        let back = dns::Repr::parse(&dns::Packet::new_checked(&b[..]).expect("emitted"));
        assert_eq!(back.ok(), Some(r), "parse(emit(parse(x))) == parse(x)");
    }
}

/// Feeds a sequence of frames to host 2 of the fixtures (ports B and C). Input: records
/// of `[selector][len hi][len lo][frame…]`. Selector bit 0: from a port (bits 1.. pick
/// it) or from the underlay; bit 7 set: the underlay frame is taken raw, else it is
/// wrapped in a Geneve header from a host picked by bits 1..3. Bits 4..6 advance time.
pub fn pipeline(data: &[u8]) {
    let program = fixtures::host2();
    let config = EngineConfig {
        conntrack_per_port: 4,
        flow_table_capacity: 16,
        // small, so inputs reach the skipped-flow path
        flow_log_counters: 8,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config);
    engine
        .set_program(program.clone())
        .expect("the fixtures install");
    // the same packets through the in-place API must give the same verdicts and bytes
    let mut in_place = Engine::new(config);
    in_place
        .set_program(program.clone())
        .expect("the fixtures install");
    let (mut buf, mut out_p) = (Vec::new(), Vec::new());
    let mut reference =
        crate::reference::Reference::new(program.clone(), config.conntrack_per_port);
    let nports = program.ports.len();
    let mut now = Time::from_secs(100);
    let mut rest = data;
    let (mut out, mut out_r) = (Vec::new(), Vec::<u8>::new());
    while rest.len() >= 3 {
        let sel = rest[0];
        let len = (usize::from(rest[1]) << 8 | usize::from(rest[2])).min(rest.len() - 3);
        let frame = &rest[3..3 + len];
        rest = &rest[3 + len..];
        now = Time(now.0 + u64::from((sel >> 4) & 7) * 7_000_000_000);
        out.clear();
        out_r.clear();
        if sel & 1 == 1 {
            let port =
                PortId(u16::try_from(usize::from(sel >> 1) % nports).expect("a fixture port"));
            let v = engine.process_from_port(now, port, frame, &mut out);
            buf.clear();
            buf.resize(overlay::OUTER_LEN, 0);
            buf.extend_from_slice(frame);
            let room = overlay::OUTER_LEN..buf.len();
            let p = in_place.process_from_port_in_place(now, port, &mut buf, room, &mut out_p);
            same_output(v, &out, p, &buf, &out_p);
            compare(
                v,
                reference.process_from_port(now, port, frame, &mut out_r),
                &out,
                &out_r,
            );
        } else {
            let wire = if sel & 0x80 != 0 {
                frame.to_vec()
            } else {
                let src = [
                    fixtures::H1,
                    fixtures::H2,
                    fixtures::EDGE,
                    Ipv4Addr::new(127, 0, 0, 5),
                ][usize::from(sel >> 1) & 3];
                let sender = Underlay {
                    address: src,
                    mac: MacAddr::ZERO,
                    next_hop_mac: MacAddr::ZERO,
                };
                let t = overlay::outer_template(
                    &sender,
                    program.underlay.address,
                    fixtures::VNI,
                    0xc000,
                );
                let mut w = Vec::new();
                // a frame too large to carry stays empty: malformed
                let _ = overlay::encapsulate(&mut w, &t, frame);
                w
            };
            let v = engine.process_from_underlay(now, &wire, &mut out);
            buf.clear();
            buf.extend_from_slice(&wire);
            let p = in_place.process_from_underlay_in_place(now, &mut buf, &mut out_p);
            same_output(v, &out, p, &buf, &out_p);
            compare(
                v,
                reference.process_from_underlay(now, &wire, &mut out_r),
                &out,
                &out_r,
            );
        }
    }
}

/// The in-place API agrees with the copying one: verdict, and bytes where sent.
fn same_output(v: crate::Verdict, out: &[u8], p: crate::Processed, buf: &[u8], out_p: &[u8]) {
    assert_eq!(v, p.verdict, "in-place and copying verdicts differ");
    if matches!(v, crate::Verdict::Drop { .. }) {
        return;
    }
    let sent = match p.output {
        Output::InPlace(r) => &buf[r],
        Output::Out => out_p,
    };
    assert_eq!(out, sent, "in-place and copying outputs differ");
}

fn compare(engine: crate::Verdict, reference: crate::Verdict, out: &[u8], out_r: &[u8]) {
    use crate::Verdict;
    assert_eq!(engine, reference, "engine and reference disagree");
    if matches!(
        engine,
        Verdict::ToPort { .. }
            | Verdict::ToUnderlay { .. }
            | Verdict::ToEdge { .. }
            | Verdict::Service { .. }
    ) {
        assert_eq!(out, out_r, "engine and reference wrote different bytes");
    }
}

/// The corpus replayed by tests and seeding the fuzzers: (target, name, bytes).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use crate::fixtures::*;
    use crate::wire::dhcp::MessageType;
    let syn = tcp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 40000, 22, tcp::flags::SYN, 0);
    let l2 = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 4);
    let ping = icmp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 8, 0, 9);
    let dns = udp_frame(
        B_MAC,
        ROUTER_MAC,
        B_IP,
        Ipv4Addr::new(10, 0, 0, 2),
        5000,
        53,
        b"q",
    );
    let query = {
        let r = dns::Repr {
            id: 0x1234,
            flags: dns::flags::RD,
            questions: vec![dns::Question {
                name: dns::Name::from_dotted("ip-10-0-2-30.ec2.internal").expect("name"),
                qtype: dns::rtype::A,
                qclass: dns::class::IN,
            }],
            ..dns::Repr::default()
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut dns::Packet::new_unchecked(&mut b[..]));
        b
    };
    let dns_query = udp_frame(
        B_MAC,
        ROUTER_MAC,
        B_IP,
        Ipv4Addr::new(169, 254, 169, 253),
        5000,
        53,
        &query,
    );
    // the resolver's answer to it
    let mut answer = Vec::new();
    let mut e = Engine::new(EngineConfig::default());
    e.set_program(fixtures::host2())
        .expect("the fixtures install");
    let b = e.port_id("eni-b").expect("port b");
    e.process_from_port(Time(1), b, &dns_query, &mut answer);
    let answer = answer.get(42..).unwrap_or_default().to_vec();
    let arp_req = arp_request(B_MAC, B_IP, Ipv4Addr::new(10, 0, 1, 1));
    let disc = dhcp_frame(B_MAC, MessageType::Discover, None);
    let mut enc = Vec::new();
    let t = overlay::outer_template(
        &Underlay {
            address: H1,
            mac: MacAddr::ZERO,
            next_hop_mac: MacAddr::ZERO,
        },
        H2,
        VNI,
        0xc000,
    );
    overlay::encapsulate(&mut enc, &t, &l2).expect("a small frame");
    let rec = |sel: u8, f: &[u8]| {
        let [hi, lo] = u16::try_from(f.len()).expect("a small frame").to_be_bytes();
        let mut v = vec![sel, hi, lo];
        v.extend_from_slice(f);
        v
    };
    // IPv6: neighbour discovery, DHCPv6, a routed SYN, a ping, and one from the underlay
    let b_ll = crate::wire::ipv6::link_local_of(B_MAC.0);
    let ns = neighbor_solicit(B_MAC, b_ll, Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 1));
    let rs = router_solicit(B_MAC, b_ll);
    let solicit = dhcpv6_frame(B_MAC, b_ll, dhcpv6::message::SOLICIT, &[]);
    let syn6 = tcp6_frame(
        B_MAC,
        ROUTER_MAC,
        B_IP6,
        C_IP6,
        40000,
        22,
        tcp::flags::SYN,
        0,
    );
    let ping6 = icmp6_frame(B_MAC, ROUTER_MAC, B_IP6, C_IP6, 128, 0, 9);
    let l2_6 = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40000, 22, tcp::flags::SYN, 4);
    let mut seq = Vec::new();
    for (sel, f) in [
        (1u8, &ns),
        (1, &rs),
        (1, &solicit),
        (1, &syn6),
        (1, &ping6),
        (0, &l2_6),
        (0x10, &l2_6),
    ] {
        seq.extend(rec(sel, f));
    }
    for (sel, f) in [
        (1u8, &arp_req),
        (1, &disc),
        (1, &syn),
        (0, &l2),
        (0x10, &l2),
        (1, &ping),
        (3, &dns),
        (3, &dns_query),
        (0x80, &enc),
    ] {
        seq.extend(rec(sel, f));
    }
    vec![
        ("ethernet", "syn".into(), syn.clone()),
        ("ethernet", "arp".into(), arp_req.clone()),
        ("arp", "request".into(), arp_req[14..].to_vec()),
        ("ipv4", "syn".into(), syn[14..].to_vec()),
        ("ipv4", "ping".into(), ping[14..].to_vec()),
        ("tcp", "syn".into(), syn[34..].to_vec()),
        ("udp", "dns".into(), dns[34..].to_vec()),
        ("icmp", "echo".into(), ping[34..].to_vec()),
        ("geneve", "frame".into(), enc.clone()),
        ("geneve", "header".into(), enc[42..].to_vec()),
        ("dhcp", "discover".into(), disc[42..].to_vec()),
        ("dns_parse", "query".into(), query.clone()),
        ("dns_parse", "answer".into(), answer.clone()),
        ("dns_round_trip", "query".into(), query.clone()),
        ("dns_round_trip", "answer".into(), answer.clone()),
        ("pipeline", "dns".into(), rec(3, &dns_query)),
        ("pipeline", "walk".into(), seq),
        ("pipeline", "syn".into(), rec(1, &syn)),
        ("pipeline", "underlay".into(), rec(0x80, &enc)),
        ("pipeline", "ipv6".into(), rec(1, &syn6)),
        ("ipv6", "syn".into(), syn6[14..].to_vec()),
        ("ipv6", "solicit".into(), ns[14..].to_vec()),
        ("icmpv6", "neighbor_solicit".into(), ns[54..].to_vec()),
        ("icmpv6", "router_solicit".into(), rs[54..].to_vec()),
        ("icmpv6", "echo".into(), ping6[54..].to_vec()),
        ("dhcpv6", "solicit".into(), solicit[62..].to_vec()),
    ]
}

/// Runs one corpus input through the entry point of `target`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "ethernet" => ethernet(data),
        "arp" => arp(data),
        "ipv4" => ipv4(data),
        "tcp" => tcp(data),
        "udp" => udp(data),
        "icmp" => icmp(data),
        "geneve" => geneve(data),
        "dhcp" => dhcp(data),
        "dns_parse" => dns_parse(data),
        "dns_round_trip" => dns_round_trip(data),
        "pipeline" => pipeline(data),
        "ipv6" => ipv6(data),
        "icmpv6" => icmpv6(data),
        "dhcpv6" => dhcpv6(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// The targets, as `fuzz/fuzz_targets/*.rs` name them.
pub const TARGETS: &[&str] = &[
    "ethernet",
    "arp",
    "ipv4",
    "tcp",
    "udp",
    "icmp",
    "geneve",
    "dhcp",
    "dns_parse",
    "dns_round_trip",
    "pipeline",
    "ipv6",
    "icmpv6",
    "dhcpv6",
];

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn corpus() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus")
    }

    /// Every committed input (seeds, fuzzer finds, past crashes) through its target.
    #[test]
    fn replay_corpus() {
        let mut n = 0;
        for target in super::TARGETS {
            let dir = corpus().join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.expect("entry").path();
                let data = std::fs::read(&path).expect("read");
                super::run(target, &data);
                n += 1;
            }
        }
        assert!(n > 0, "the corpus is committed");
    }

    #[test]
    fn seeds_run() {
        for (target, _, data) in super::seeds() {
            super::run(target, &data);
        }
    }

    /// Writes the seeds into the corpus: `cargo test -p fort-dataplane write_seed_corpus -- --ignored`.
    #[test]
    #[ignore]
    fn write_seed_corpus() {
        for (target, name, data) in super::seeds() {
            let dir = corpus().join(target);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join(format!("seed-{name}")), data).expect("write");
        }
    }
}
