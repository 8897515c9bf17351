//! Property tests: translation round trips, port uniqueness, capacity, expiry and RST.

use crate::fixtures::*;
use crate::nat::{Destination, InsideKey, NatTable, PORT_MIN};
use crate::{DropReason, Edge, EdgeConfig, Gateway, Time, Verdict};
use fort_dataplane::wire::{ip_proto, tcp};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

fn edge() -> Edge {
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(program());
    e
}

#[derive(Debug, Clone, Copy)]
enum Proto {
    Tcp,
    Udp,
    Icmp,
}

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![Just(Proto::Tcp), Just(Proto::Udp), Just(Proto::Icmp)]
}

/// A packet from `src` to `dst`; ICMP takes `sport` as the echo identifier.
fn packet(
    p: Proto,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    reply: bool,
    payload: &[u8],
) -> Vec<u8> {
    match p {
        Proto::Tcp => tcp_packet(
            src,
            sport,
            dst,
            dport,
            if reply {
                tcp::flags::SYN | tcp::flags::ACK
            } else {
                tcp::flags::SYN
            },
            payload,
        ),
        Proto::Udp => udp_packet(src, sport, dst, dport, payload),
        Proto::Icmp => icmp_echo(src, dst, reply, sport, 1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// NAT: out, then the reply back, restores the original 5-tuple; every packet on
    /// the way has valid checksums, and the bytes of the reply are exactly what the
    /// remote sent with only the translated fields changed. The source is one of the
    /// gateway's addresses (it may have secondary ones).
    #[test]
    fn nat_round_trip(
        secondaries in 0u8..3,
        p in proto(),
        host in 1u8..=254,
        sport in any::<u16>(),
        remote in any::<u32>(),
        dport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut e = edge();
        let mut program = program();
        let extra: Vec<Ipv4Addr> = (0..secondaries).map(|i| Ipv4Addr::new(198, 51, 100, 30 + i)).collect();
        program.nat_gateways[0].secondary_public_ips.clone_from(&extra);
        e.set_program(program);
        let src = Ipv4Addr::new(10, 0, 2, host);
        let remote = Ipv4Addr::from(remote);
        let dport = if matches!(p, Proto::Icmp) { 0 } else { dport };
        let inp = packet(p, src, sport, remote, dport, false, &payload);
        let mut out = Vec::new();
        let v = e.process_from_vpc(Time::from_secs(1), VNI, Gateway::Id(NAT), &from_instance(&inp), &mut out);
        prop_assert_eq!(v, Verdict::ToInternet);
        prop_assert!(checksums_ok(&out));
        let (s, port, d, dp) = tuple(&out);
        prop_assert!(s == NAT_PUBLIC || extra.contains(&s));
        prop_assert_eq!((d, dp), (remote, dport));
        prop_assert!(port >= PORT_MIN);
        prop_assert_eq!(&out, &packet(p, s, port, remote, dport, false, &payload));
        let reply = packet(p, remote, if matches!(p, Proto::Icmp) { port } else { dport }, s, port, true, &payload);
        let mut back = Vec::new();
        let v = e.process_from_internet(Time::from_secs(2), &reply, &mut back);
        prop_assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: src });
        prop_assert!(checksums_ok(&back[14..]));
        let want = packet(p, remote, if matches!(p, Proto::Icmp) { sport } else { dport }, src, sport, true, &payload);
        prop_assert_eq!(&back[14..], &want[..]);
    }

    /// IGW: stateless 1:1 both ways, checksums valid, inverse of each other.
    #[test]
    fn igw_round_trip(
        p in proto(),
        sport in any::<u16>(),
        remote in any::<u32>(),
        dport in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut e = edge();
        let remote = Ipv4Addr::from(remote);
        prop_assume!(remote != WEB_PUBLIC && remote != NAT_PUBLIC);
        let inp = packet(p, WEB, sport, remote, dport, false, &payload);
        let mut out = Vec::new();
        let v = e.process_from_vpc(Time::from_secs(1), VNI, Gateway::Id(IGW), &from_instance(&inp), &mut out);
        prop_assert_eq!(v, Verdict::ToInternet);
        prop_assert!(checksums_ok(&out));
        prop_assert_eq!(&out, &packet(p, WEB_PUBLIC, sport, remote, dport, false, &payload));
        let reply = packet(p, remote, dport, WEB_PUBLIC, sport, true, &payload);
        let mut back = Vec::new();
        let v = e.process_from_internet(Time::from_secs(1), &reply, &mut back);
        prop_assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: WEB });
        prop_assert_eq!(&back[14..], &packet(p, remote, dport, WEB, sport, true, &payload)[..]);
    }

    /// Port allocation never hands the same (public IP, port, destination) to two live
    /// flows, whatever the sequence of creations, removals and expiries; the per-
    /// destination counts match the live flows.
    #[test]
    fn ports_unique_among_live_flows(
        ops in proptest::collection::vec((0u8..4, 0u16..200, 0u8..3, 0u64..400), 1..400),
    ) {
        let mut t = NatTable::new(1 << 20);
        let mut now = 0u64;
        let mut ids = Vec::new();
        for (op, a, dest, dt) in ops {
            now += dt;
            let inside = InsideKey {
                vni: 1,
                protocol: ip_proto::UDP,
                src: Ipv4Addr::new(10, 0, 0, (a % 7) as u8),
                src_port: a,
                dst: Ipv4Addr::new(203, 0, 113, dest),
                dst_port: 53,
            };
            match op {
                0 | 1 => {
                    if t.lookup_inside(&inside).is_none()
                        && let Ok(id) = t.create(inside, 0, NAT_PUBLIC, Time(now))
                    {
                        ids.push(id);
                    }
                }
                2 => {
                    if !ids.is_empty() {
                        let id = ids.swap_remove(usize::from(a) % ids.len());
                        t.remove(id);
                    }
                }
                _ => {
                    t.expire(Time(now), 350);
                    ids.retain(|&id| t.lookup_inside(&t.get(id).inside) == Some(id));
                }
            }
            let mut seen = HashSet::new();
            let mut per_dest: HashMap<Destination, u32> = HashMap::new();
            for f in t.iter() {
                prop_assert!(seen.insert(f.outside), "port handed out twice: {:?}", f.outside);
                prop_assert!(f.outside.port >= PORT_MIN);
                *per_dest.entry(f.outside.destination()).or_default() += 1;
                prop_assert_eq!(t.lookup_outside(&f.outside).map(|id| t.get(id).inside), Some(f.inside));
            }
            for (d, n) in per_dest {
                prop_assert_eq!(t.used_ports(&d), n);
            }
        }
    }

    /// Expiry: a flow idle less than 350 s keeps translating; at 350 s or more a TCP
    /// segment from inside gets a RST and a UDP datagram opens a new flow.
    #[test]
    fn expiry_and_rst(idle in 0u64..1000, tcp_flow in any::<bool>()) {
        let mut e = edge();
        let p = if tcp_flow { Proto::Tcp } else { Proto::Udp };
        let first = packet(p, APP, 40000, REMOTE, 80, false, b"");
        let mut out = Vec::new();
        prop_assert_eq!(e.process_from_vpc(Time::from_secs(10), VNI, Gateway::Id(NAT), &from_instance(&first), &mut out), Verdict::ToInternet);
        let port = tuple(&out).1;
        let next = match p {
            Proto::Tcp => tcp_packet(APP, 40000, REMOTE, 80, tcp::flags::ACK, b"data"),
            _ => udp_packet(APP, 40000, REMOTE, 80, b"data"),
        };
        let v = e.process_from_vpc(Time::from_secs(10 + idle), VNI, Gateway::Id(NAT), &from_instance(&next), &mut out);
        if idle < 350 {
            prop_assert_eq!(v, Verdict::ToInternet);
            prop_assert_eq!(tuple(&out).1, port);
        } else if tcp_flow {
            prop_assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
            prop_assert!(checksums_ok(&out[14..]));
            prop_assert_eq!(tuple(&out[14..]), (REMOTE, 80, APP, 40000));
            prop_assert_eq!(e.stats().drops(DropReason::NatFlowExpired), 1);
        } else {
            prop_assert_eq!(v, Verdict::ToInternet);
            prop_assert_eq!(e.stats().nat_flows_created, 2);
        }
    }
}

/// AWS's figure: ≥ 55,000 simultaneous connections to one destination per NAT address.
/// 60,000 TCP flows from 60 instances to one (IP, port): all get distinct ports.
#[test]
fn sixty_thousand_flows_to_one_destination() {
    let mut e = edge();
    let mut out = Vec::new();
    let mut ports = HashSet::new();
    let mut ok = 0u32;
    for i in 0..60_000u32 {
        let src = Ipv4Addr::new(10, 0, 2, 10 + u8::try_from(i / 1000).expect("< 60"));
        let sport = 30_000 + (i % 1000) as u16;
        let f = from_instance(&tcp_packet(src, sport, REMOTE, 443, tcp::flags::SYN, b""));
        if e.process_from_vpc(Time::from_secs(1), VNI, Gateway::Id(NAT), &f, &mut out)
            == Verdict::ToInternet
        {
            ok += 1;
            assert!(ports.insert(tuple(&out).1), "port reused");
        }
    }
    assert!(ok >= 55_000);
    assert_eq!(ok, 60_000);
    assert_eq!(e.nat_table().len(), 60_000);
    let d = Destination {
        public: NAT_PUBLIC,
        protocol: ip_proto::TCP,
        remote: REMOTE,
        remote_port: 443,
    };
    assert_eq!(e.nat_table().used_ports(&d), 60_000);
    // every reply finds its flow
    let mut back = Vec::new();
    for &port in ports.iter().take(1000) {
        let r = tcp_packet(
            REMOTE,
            443,
            NAT_PUBLIC,
            port,
            tcp::flags::SYN | tcp::flags::ACK,
            b"",
        );
        assert!(matches!(
            e.process_from_internet(Time::from_secs(2), &r, &mut back),
            Verdict::ToVpc { .. }
        ));
    }
}

/// One step of a random life of the egress-only gateway: a packet out from one of a few
/// inside (address, port)s to one of a few remote ones, or one in from such a remote,
/// after `wait` seconds; TCP packets carry one of a few flag sets (`flags`).
#[derive(Debug, Clone, Copy)]
struct Step6 {
    out: bool,
    p: Proto,
    inside: u8,
    remote: u8,
    port: u8,
    flags: u8,
    wait: u16,
}

fn step6() -> impl Strategy<Value = Step6> {
    let wait = prop_oneof![0u16..6, 0u16..400];
    (any::<bool>(), proto(), 0u8..2, 0u8..2, 0u8..2, 0u8..5, wait).prop_map(
        |(out, p, inside, remote, port, flags, wait)| Step6 {
            out,
            p,
            inside,
            remote,
            port,
            flags,
            wait,
        },
    )
}

/// `PROPTEST_CASES` if set (to run a property many more times), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

/// The model's view of one egress-only connection (times in seconds).
#[derive(Debug, Clone, Copy)]
struct ModelFlow {
    last: u64,
    fin_out: bool,
    fin_in: bool,
    closed: Option<u64>,
}

impl ModelFlow {
    fn live(&self, now: u64, idle: u64, linger: u64) -> bool {
        now - self.last < idle && self.closed.is_none_or(|c| now - c < linger)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// The egress-only gateway against a model: everything goes out (as it is), and a
    /// packet from outside goes in exactly when the same protocol's connection between
    /// the same two (address, port)s went out and is live: not idle for the timeout,
    /// not ended by a RST (either way), not past the linger after both FINs; a SYN from
    /// inside starts a connection afresh. The bytes in are the bytes the remote sent.
    #[test]
    fn egress_only_gateway_matches_its_model(steps in proptest::collection::vec(step6(), 1..60)) {
        use std::net::Ipv6Addr;
        use tcp::flags::{ACK, FIN, RST, SYN};
        let mut e = Edge::new(EdgeConfig::default());
        e.set_program(program6());
        let cfg = EdgeConfig::default();
        let (idle, linger) = (cfg.idle_timeout_secs, cfg.eigw_linger_secs);
        let mut model: HashMap<(u8, u8, u8, u8), ModelFlow> = HashMap::new();
        let mut now = 1u64;
        for s in steps {
            now += u64::from(s.wait);
            let inside = Ipv6Addr::from(u128::from(APP6) + u128::from(s.inside));
            let remote = Ipv6Addr::from(u128::from(REMOTE6) + u128::from(s.remote));
            let (iport, rport) = (40000 + u16::from(s.port), 443);
            let tag = s.p as u8;
            let key = (tag, s.inside, s.remote, s.port);
            let mut out = Vec::new();
            // out: SYN, ACK, FIN|ACK, RST, RST|ACK; in: SYN|ACK instead of SYN
            let flags = match (s.flags, s.out) {
                (0, true) => SYN,
                (0, false) => SYN | ACK,
                (1, _) => ACK,
                (2, _) => FIN | ACK,
                (3, _) => RST,
                _ => RST | ACK,
            };
            let tcp_flags = if matches!(s.p, Proto::Tcp) { flags } else { 0 };
            if s.out {
                let pkt = match s.p {
                    Proto::Tcp => tcp6_packet(inside, iport, remote, rport, flags, b""),
                    Proto::Udp => udp6_packet(inside, iport, remote, rport, b"q"),
                    Proto::Icmp => icmp6_echo(inside, remote, false, iport, 1),
                };
                let v = e.process_from_vpc(Time::from_secs(now), VNI2, Gateway::Infer, &from_instance6(&pkt, EIGW), &mut out);
                prop_assert_eq!(v, Verdict::ToInternet);
                prop_assert_eq!(&out, &pkt);
                let fin = tcp_flags & FIN != 0;
                if tcp_flags & RST != 0 {
                    model.remove(&key);
                } else {
                    match model.get_mut(&key) {
                        Some(f) if f.live(now, idle, linger) && tcp_flags & (SYN | ACK) != SYN => {
                            f.last = now;
                            f.fin_out |= fin;
                            if f.fin_out && f.fin_in && f.closed.is_none() {
                                f.closed = Some(now);
                            }
                        }
                        _ => {
                            model.insert(key, ModelFlow { last: now, fin_out: fin, fin_in: false, closed: None });
                        }
                    }
                }
            } else {
                let pkt = match s.p {
                    Proto::Tcp => tcp6_packet(remote, rport, inside, iport, flags, b""),
                    Proto::Udp => udp6_packet(remote, rport, inside, iport, b"a"),
                    Proto::Icmp => icmp6_echo(remote, inside, true, iport, 1),
                };
                let v = e.process_from_internet(Time::from_secs(now), &pkt, &mut out);
                let live = model.get(&key).is_some_and(|f| f.live(now, idle, linger));
                if live {
                    prop_assert_eq!(v, Verdict::ToVpc6 { vni: VNI2, dst: inside });
                    prop_assert_eq!(&out[14..], &pkt[..]);
                    if tcp_flags & RST != 0 {
                        model.remove(&key);
                    } else if let Some(f) = model.get_mut(&key) {
                        f.last = now;
                        f.fin_in |= tcp_flags & FIN != 0;
                        if f.fin_out && f.fin_in && f.closed.is_none() {
                            f.closed = Some(now);
                        }
                    }
                } else {
                    prop_assert_eq!(v, Verdict::Drop { reason: DropReason::EgressOnlyNoFlow });
                }
            }
            if now.is_multiple_of(7) {
                e.expire(Time::from_secs(now));
                model.retain(|_, f| f.live(now, idle, linger));
            }
            let live = model.values().filter(|f| f.live(now, idle, linger)).count();
            prop_assert!(e.egress_only_flows() >= live);
        }
    }
}
