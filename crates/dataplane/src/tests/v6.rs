//! IPv6 through the engine: neighbour discovery, router advertisements and DHCPv6 on
//! the link, the seed's two walks over IPv6, and each stage's IPv6 decisions.

use super::{drop_of, engines, pid, t};
use crate::fixtures::*;
use crate::ndp;
use crate::overlay;
use crate::program::*;
use crate::wire::dhcpv6::{self, message, option};
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::icmpv6::{self, kind};
use crate::wire::{ip_proto, ipv6, tcp};
use crate::{Arrival, DropReason, Engine, Verdict};
use std::net::Ipv6Addr;

const ROUTER6_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 1);

fn ll(mac: MacAddr) -> Ipv6Addr {
    ipv6::link_local_of(mac.0)
}

/// The ICMPv6 message of an answer frame, its IPv6 header checked (hop limit 255 for
/// NDP) and its checksum verified.
fn icmp6_of(out: &[u8]) -> (ipv6::Packet<&[u8]>, &[u8]) {
    let eth = ethernet::Frame::new_checked(out).unwrap();
    assert_eq!(eth.ethertype(), ethernet::ethertype::IPV6);
    let ip = ipv6::Packet::new_checked(&out[14..]).unwrap();
    assert_eq!(ip.next_header(), ip_proto::ICMPV6);
    let msg = &out[14 + 40..];
    let p = icmpv6::Packet::new_checked(msg).unwrap();
    assert!(p.verify_checksum(ip.src(), ip.dst()), "checksum");
    (ip, msg)
}

#[test]
fn neighbor_solicitations_are_answered_locally() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    // for each of the router's addresses: its MAC, with the router flag
    let router_ll = ipv6::link_local_of(ROUTER_MAC.0);
    for target in [ROUTER6_A, router_ll, ndp::ROUTER_EC2_LINK_LOCAL] {
        let v = h1.process_from_port(
            t(1),
            a,
            &neighbor_solicit(A_MAC, ll(A_MAC), target),
            &mut out,
        );
        assert_eq!(v, Verdict::Hairpin { port: a }, "{target}");
        assert_eq!(&out[..6], &A_MAC.0);
        assert_eq!(&out[6..12], &ROUTER_MAC.0);
        let (ip, msg) = icmp6_of(&out);
        assert_eq!(
            (ip.src(), ip.dst(), ip.hop_limit()),
            (target, ll(A_MAC), 255)
        );
        assert_eq!(msg[0], kind::NEIGHBOR_ADVERT);
        assert_eq!(msg[4], 0x80 | 0x40 | 0x20, "router, solicited, override");
        assert_eq!(&msg[8..24], &target.octets());
        assert_eq!(&msg[24..26], &[icmpv6::option::TARGET_LL_ADDR, 1]);
        assert_eq!(&msg[26..32], &ROUTER_MAC.0);
    }
    // a peer in the subnet (on another host): its own MAC, not a router
    let v = h1.process_from_port(t(1), a, &neighbor_solicit(A_MAC, A_IP6, B_IP6), &mut out);
    assert_eq!(v, Verdict::Hairpin { port: a });
    let (_, msg) = icmp6_of(&out);
    assert_eq!(msg[4], 0x40 | 0x20);
    assert_eq!(&msg[26..32], &B_MAC.0);
    // another subnet's address, an unknown one, the sender's own: never answered
    for target in [C_IP6, "2001:db8:1:1::99".parse().unwrap(), A_IP6] {
        let v = h1.process_from_port(
            t(1),
            a,
            &neighbor_solicit(A_MAC, ll(A_MAC), target),
            &mut out,
        );
        assert_eq!(drop_of(v), DropReason::NdpUnanswered, "{target}");
    }
    // duplicate address detection: no conflict is ever reported
    let dad = neighbor_solicit(A_MAC, Ipv6Addr::UNSPECIFIED, A_IP6);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &dad, &mut out)),
        DropReason::NdpUnanswered
    );
    // from another ENI's address: the source check
    let spoof = neighbor_solicit(A_MAC, B_IP6, ROUTER6_A);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &spoof, &mut out)),
        DropReason::SourceCheck
    );
    // a solicitation that crossed a router (hop limit below 255) is not NDP
    let mut far = neighbor_solicit(A_MAC, ll(A_MAC), ROUTER6_A);
    far[14 + 7] = 64;
    let at = 14 + 40;
    let (s, d) = (ll(A_MAC), ipv6::solicited_node(ROUTER6_A));
    icmpv6::Packet::new_unchecked(&mut far[at..]).fill_checksum(s, d);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &far, &mut out)),
        DropReason::NdpUnanswered
    );
    // a corrupted checksum
    let mut bad = neighbor_solicit(A_MAC, ll(A_MAC), ROUTER6_A);
    bad[at + 3] ^= 1;
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &bad, &mut out)),
        DropReason::BadChecksum
    );
    // MLD reports stay on the link
    let all_mld = "ff02::16".parse().unwrap();
    let mld = icmp6_frame_hops(
        A_MAC,
        MacAddr([0x33, 0x33, 0, 0, 0, 0x16]),
        ll(A_MAC),
        all_mld,
        kind::MLD2_REPORT,
        0,
        0,
        &[0; 8],
        1,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &mld, &mut out)),
        DropReason::BroadcastOrMulticast
    );
    // an instance's own advertisement goes nowhere
    let na = icmp6_frame_hops(
        A_MAC,
        MacAddr([0x33, 0x33, 0, 0, 0, 1]),
        A_IP6,
        ndp::ALL_NODES,
        kind::NEIGHBOR_ADVERT,
        0,
        0,
        &A_IP6.octets()[..],
        255,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &na, &mut out)),
        DropReason::NdpUnanswered
    );
    // none of it made a flow or a tracked connection
    assert_eq!(h1.conntrack_len(), 0);
    assert_eq!(h1.flow_table_len(), 0);
}

#[test]
fn router_solicitation_gets_a_managed_advertisement() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let v = h1.process_from_port(t(1), a, &router_solicit(A_MAC, ll(A_MAC)), &mut out);
    assert_eq!(v, Verdict::Hairpin { port: a });
    assert_eq!(&out[..12], &[A_MAC.0, ROUTER_MAC.0].concat()[..]);
    let (ip, msg) = icmp6_of(&out);
    assert_eq!(ip.src(), ipv6::link_local_of(ROUTER_MAC.0));
    assert_eq!(ip.dst(), ll(A_MAC));
    assert_eq!(ip.hop_limit(), 255);
    assert_eq!(msg[0], kind::ROUTER_ADVERT);
    assert_eq!(msg[5], 0x80, "managed: addresses by DHCPv6");
    assert_eq!(u16::from_be_bytes([msg[6], msg[7]]), ndp::ROUTER_LIFETIME);
    let p = icmpv6::Packet::new_checked(msg).unwrap();
    let mut saw = (false, false, false);
    for o in p.options() {
        let (t, body) = o.unwrap();
        match t {
            icmpv6::option::SOURCE_LL_ADDR => {
                assert_eq!(body, &ROUTER_MAC.0);
                saw.0 = true;
            }
            icmpv6::option::MTU => {
                assert_eq!(&body[2..6], &9001u32.to_be_bytes());
                saw.1 = true;
            }
            icmpv6::option::PREFIX_INFO => {
                assert_eq!(body[0], 64);
                assert_eq!(body[1], 0x80, "on-link, not autonomous (no SLAAC)");
                assert_eq!(
                    &body[14..30],
                    &ROUTER6_A.octets()[..8]
                        .iter()
                        .chain(&[0; 8])
                        .copied()
                        .collect::<Vec<u8>>()[..]
                );
                saw.2 = true;
            }
            other => panic!("unexpected option {other}"),
        }
    }
    assert_eq!(saw, (true, true, true));
    // from the unspecified address: to all nodes
    h1.process_from_port(
        t(1),
        a,
        &router_solicit(A_MAC, Ipv6Addr::UNSPECIFIED),
        &mut out,
    );
    let (ip, _) = icmp6_of(&out);
    assert_eq!(ip.dst(), ndp::ALL_NODES);
}

#[test]
fn subnet_without_ipv6_has_no_ipv6_router() {
    let mut p = host1();
    p.vpcs[0].subnets[0].ipv6_cidr = None;
    let mut h1 = Engine::with_program(p).unwrap();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let v = h1.process_from_port(t(1), a, &router_solicit(A_MAC, ll(A_MAC)), &mut out);
    assert_eq!(drop_of(v), DropReason::NdpUnanswered);
    let v = h1.process_from_port(
        t(1),
        a,
        &dhcpv6_frame(A_MAC, ll(A_MAC), message::SOLICIT, &[]),
        &mut out,
    );
    assert_eq!(drop_of(v), DropReason::Dhcpv6Ignored);
}

/// The reply's options: (server id, the IA_NA's address and lifetimes, status).
fn dhcpv6_reply(out: &[u8]) -> (u8, Vec<u8>, Option<(Ipv6Addr, u32, u32)>) {
    let ip = ipv6::Packet::new_checked(&out[14..]).unwrap();
    assert_eq!(ip.src(), ipv6::link_local_of(ROUTER_MAC.0));
    let seg = ip.payload();
    assert_eq!(
        ipv6::l4_checksum(ip.src(), ip.dst(), ip_proto::UDP, seg),
        0,
        "UDP checksum"
    );
    assert_eq!(&seg[0..4], &[2, 35, 2, 34], "547 -> 546");
    let m = dhcpv6::Message::new_checked(&seg[8..]).unwrap();
    assert_eq!(m.transaction_id(), [0x0a, 0x0b, 0x0c]);
    let mut client = vec![0, 3, 0, 1];
    client.extend_from_slice(&A_MAC.0);
    assert_eq!(m.option(option::CLIENT_ID).unwrap(), Some(&client[..]));
    let sid = m.option(option::SERVER_ID).unwrap().unwrap().to_vec();
    let addr = m.option(option::IA_NA).unwrap().map(|ia| {
        assert_eq!(dhcpv6::ia_na_iaid(ia), Ok(7));
        let inner = dhcpv6::Options::inside(ia, dhcpv6::IA_NA_LEN).unwrap();
        let a = dhcpv6::find(inner, option::IA_ADDR).unwrap().unwrap();
        let ip: [u8; 16] = a[..16].try_into().unwrap();
        (
            Ipv6Addr::from(ip),
            u32::from_be_bytes(a[16..20].try_into().unwrap()),
            u32::from_be_bytes(a[20..24].try_into().unwrap()),
        )
    });
    (m.msg_type(), sid, addr)
}

#[test]
fn dhcpv6_hands_out_the_enis_address() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let solicit = dhcpv6_frame(A_MAC, ll(A_MAC), message::SOLICIT, &[]);
    assert_eq!(
        h1.process_from_port(t(1), a, &solicit, &mut out),
        Verdict::Hairpin { port: a }
    );
    let (kind, sid, addr) = dhcpv6_reply(&out);
    assert_eq!(kind, message::ADVERTISE);
    assert_eq!(&sid[..4], &[0, 3, 0, 1], "DUID-LL");
    assert_eq!(&sid[4..], &ROUTER_MAC.0);
    assert_eq!(addr, Some((A_IP6, 140, 450)));
    // request (naming this server): reply with the address
    let request = dhcpv6_frame(
        A_MAC,
        ll(A_MAC),
        message::REQUEST,
        &[(option::SERVER_ID, sid.clone())],
    );
    h1.process_from_port(t(2), a, &request, &mut out);
    assert_eq!(dhcpv6_reply(&out).0, message::REPLY);
    assert_eq!(dhcpv6_reply(&out).2, Some((A_IP6, 140, 450)));
    // rapid commit: a reply straight away
    let rapid = dhcpv6_frame(
        A_MAC,
        ll(A_MAC),
        message::SOLICIT,
        &[(option::RAPID_COMMIT, vec![])],
    );
    h1.process_from_port(t(2), a, &rapid, &mut out);
    assert_eq!(dhcpv6_reply(&out).0, message::REPLY);
    // renew and rebind keep it
    for k in [message::RENEW, message::REBIND] {
        h1.process_from_port(t(3), a, &dhcpv6_frame(A_MAC, ll(A_MAC), k, &[]), &mut out);
        assert_eq!(dhcpv6_reply(&out).2, Some((A_IP6, 140, 450)));
    }
    // a request for another server is not ours to answer
    let other = dhcpv6_frame(
        A_MAC,
        ll(A_MAC),
        message::REQUEST,
        &[(option::SERVER_ID, vec![0, 3, 0, 1, 9, 9, 9, 9, 9, 9])],
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(3), a, &other, &mut out)),
        DropReason::Dhcpv6Ignored
    );
    // a server's message type from a client
    let advertise = dhcpv6_frame(A_MAC, ll(A_MAC), message::ADVERTISE, &[]);
    assert_eq!(
        drop_of(h1.process_from_port(t(3), a, &advertise, &mut out)),
        DropReason::Dhcpv6Ignored
    );
    // an ENI without an IPv6 address: NoAddrsAvail inside the IA
    let mut p = host1();
    p.ports[0].ipv6_addresses.clear();
    let mut bare = Engine::with_program(p).unwrap();
    bare.process_from_port(t(1), a, &solicit, &mut out);
    let ip = ipv6::Packet::new_checked(&out[14..]).unwrap();
    let m = dhcpv6::Message::new_checked(&ip.payload()[8..]).unwrap();
    let ia = m.option(option::IA_NA).unwrap().unwrap();
    let st = dhcpv6::find(
        dhcpv6::Options::inside(ia, 12).unwrap(),
        option::STATUS_CODE,
    )
    .unwrap()
    .unwrap();
    assert_eq!(&st[..2], &dhcpv6::status::NO_ADDRS_AVAIL.to_be_bytes());
}

#[test]
fn the_router_answers_ping() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let router_ll = ipv6::link_local_of(ROUTER_MAC.0);
    for (src, dst) in [(A_IP6, ROUTER6_A), (ll(A_MAC), router_ll)] {
        let ping = icmp6_frame(A_MAC, ROUTER_MAC, src, dst, kind::ECHO_REQUEST, 0, 77);
        assert_eq!(
            h1.process_from_port(t(1), a, &ping, &mut out),
            Verdict::Hairpin { port: a }
        );
        let (ip, msg) = icmp6_of(&out);
        assert_eq!((ip.src(), ip.dst()), (dst, src));
        assert_eq!(msg[0], kind::ECHO_REPLY);
        assert_eq!(&msg[4..6], &77u16.to_be_bytes());
    }
    // not a ping: refused
    let syn = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        ROUTER6_A,
        1,
        22,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn, &mut out)),
        DropReason::RouterAddress
    );
}

/// Seed walk 1 over IPv6: A (host 1) to B (host 2), same subnet, layer 2.
#[test]
fn walk_same_subnet_across_hosts_v6() {
    let (mut h1, mut h2) = engines();
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let syn = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40000, 22, tcp::flags::SYN, 0);
    let mut wire = Vec::new();
    assert_eq!(
        h1.process_from_port(t(10), a, &syn, &mut wire),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    let d = overlay::decapsulate(&wire).unwrap();
    assert_eq!((d.outer_src, d.outer_dst, d.vni), (H1, H2, VNI));
    assert_eq!(&wire[overlay::OUTER_LEN..], &syn[..]);
    let mut out = Vec::new();
    assert_eq!(
        h2.process_from_underlay(t(10), &wire, &mut out),
        Verdict::ToPort { port: b }
    );
    assert_eq!(out, syn, "layer 2: the frame arrives as sent");
    // the reply passes by connection tracking both ways
    let synack = tcp6_frame(
        B_MAC,
        A_MAC,
        B_IP6,
        A_IP6,
        22,
        40000,
        tcp::flags::SYN | tcp::flags::ACK,
        0,
    );
    assert_eq!(
        h2.process_from_port(t(11), b, &synack, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(11), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    assert_eq!(out, synack);
    // established: the fast path, both hosts
    let (f1, f2) = (h1.stats().fast_path, h2.stats().fast_path);
    let ack = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40000, 22, tcp::flags::ACK, 100);
    assert_eq!(
        h1.process_from_port(t(12), a, &ack, &mut wire),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    assert_eq!(
        h2.process_from_underlay(t(12), &wire, &mut out),
        Verdict::ToPort { port: b }
    );
    assert_eq!(out, ack);
    assert_eq!(
        (h1.stats().fast_path, h2.stats().fast_path),
        (f1 + 1, f2 + 1)
    );
    // the in-place entry points take the same cached decision, and hand back its flow
    // (IPv6's, for a kernel fast path)
    let mut buf = vec![0u8; overlay::OUTER_LEN];
    buf.extend_from_slice(&ack);
    let n = buf.len();
    let r = h1.process_from_port_in_place(t(13), a, &mut buf, overlay::OUTER_LEN..n, &mut out);
    assert_eq!(r.verdict, Verdict::ToUnderlay { host: H2, vni: VNI });
    assert_eq!(r.output, crate::Output::InPlace(0..n));
    assert_eq!(r.cached, None);
    assert_eq!(
        r.cached6.map(|f| (f.tuple.src, f.tuple.dst, f.arrival)),
        Some((A_IP6, B_IP6, Arrival::Port(a)))
    );
    assert_eq!(h1.stats().fast_path, f1 + 2);
    let r = h2.process_from_underlay_in_place(t(13), &mut buf, &mut out);
    assert_eq!(r.verdict, Verdict::ToPort { port: b });
    assert_eq!(&buf[overlay::OUTER_LEN..], &ack[..]);
    assert_eq!(
        r.cached6.map(|f| f.arrival),
        Some(Arrival::Underlay {
            vni: VNI,
            outer_src: H1
        })
    );
}

/// An established IPv6 TCP flow's cached decisions, described for a kernel fast path as
/// IPv4's are: the sender's encapsulation (the same outer headers the engine writes),
/// the receiver's delivery only from the host V2P names; SYN, FIN, RST, extension
/// headers and other protocols stay with the engine; what the kernel carried keeps
/// tracking alive; a program change withdraws them.
#[test]
fn established_ipv6_tcp_flows_offload_both_ways() {
    let mut p1 = host1();
    p1.ports[0].conntrack.tcp_established = 60;
    let (mut h1, mut h2) = (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(host2()).unwrap(),
    );
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    let frame = |f: u16, len: usize| tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40000, 22, f, len);
    let back = |f: u16| tcp6_frame(B_MAC, A_MAC, B_IP6, A_IP6, 22, 40000, f, 0);
    let sent = |e: &mut Engine, now, f: &[u8]| {
        let mut buf = vec![0u8; overlay::OUTER_LEN];
        buf.extend_from_slice(f);
        let n = buf.len();
        let mut out = Vec::new();
        let p = e.process_from_port_in_place(now, a, &mut buf, overlay::OUTER_LEN..n, &mut out);
        let wire = match p.output {
            crate::Output::InPlace(r) => buf[r].to_vec(),
            crate::Output::Out => out,
        };
        (p.verdict, wire, p.cached6)
    };
    let (_, syn, first) = sent(&mut h1, t(10), &frame(tcp::flags::SYN, 0));
    assert_eq!(first, None, "decided by the slow path");
    h2.process_from_underlay(t(10), &syn, &mut out);
    let (_, _, early) = sent(&mut h1, t(10), &frame(tcp::flags::ACK, 100));
    let early = early.expect("served by the cached decision");
    assert_eq!(h1.offload6(&early, t(10)), None, "not established yet");
    h2.process_from_port(
        t(10),
        b,
        &back(tcp::flags::SYN | tcp::flags::ACK),
        &mut wire,
    );
    h1.process_from_underlay(t(10), &wire, &mut out);
    let data = frame(tcp::flags::ACK, 100);
    let (v, wire, flow) = sent(&mut h1, t(11), &data);
    assert_eq!(v, Verdict::ToUnderlay { host: H2, vni: VNI });
    let flow = flow.expect("served by the cached decision");
    let tuple = crate::packet::parse_ipv6(&data[14..]).unwrap().tuple;
    assert_eq!(
        (flow.tuple, flow.tcp_flags, flow.ip_options, flow.arrival),
        (tuple, tcp::flags::ACK, false, Arrival::Port(a))
    );
    let o = h1.offload6(&flow, t(11)).expect("egress offload");
    match o.action {
        crate::OffloadAction::Encap {
            port,
            outer,
            host,
            vni,
        } => {
            assert_eq!((port, host, vni), (a, H2, VNI));
            for r in [0..14, 26..38, 42..50] {
                assert_eq!(outer[r.clone()], wire[r.clone()], "bytes {r:?}");
            }
        }
        other => panic!("expected an encapsulation, got {other:?}"),
    }
    assert_eq!(
        (o.tuple, o.src_mac, o.dst_mac, o.rewrite),
        (tuple, A_MAC, B_MAC, None)
    );
    let mut buf = wire.clone();
    let r = h2.process_from_underlay_in_place(t(11), &mut buf, &mut out);
    assert_eq!(r.verdict, Verdict::ToPort { port: b });
    let inbound = r.cached6.expect("served by the cached decision");
    let i = h2.offload6(&inbound, t(11)).expect("ingress offload");
    assert_eq!(
        i.action,
        crate::OffloadAction::Deliver {
            vni: VNI,
            outer_src: H1,
            port: b
        }
    );
    // only from the host V2P names
    let from_edge = crate::CachedFlow6 {
        arrival: Arrival::Underlay {
            vni: VNI,
            outer_src: EDGE,
        },
        ..inbound
    };
    assert_eq!(h2.offload6(&from_edge, t(11)), None);
    for f in [
        tcp::flags::SYN,
        tcp::flags::FIN | tcp::flags::ACK,
        tcp::flags::RST,
    ] {
        let with = crate::CachedFlow6 {
            tcp_flags: f,
            ..flow
        };
        assert_eq!(h1.offload6(&with, t(11)), None, "flags {f:#x}");
    }
    let udp = crate::CachedFlow6 {
        tuple: crate::packet::FiveTuple6 {
            protocol: ip_proto::UDP,
            ..tuple
        },
        ..flow
    };
    assert_eq!(h1.offload6(&udp, t(11)), None);
    assert_eq!(h1.offload6(&flow, t(11)), Some(o));

    // what the kernel carried keeps tracking alive
    h1.offloaded6(&o, 10, 10_000, t(60));
    assert!(
        h1.offload_current6(&o, t(100)),
        "touched at 60: alive until 120"
    );
    assert!(!h1.offload_current6(&o, t(200)), "idle past the timeout");

    // a change of the program withdraws it
    let before = h2.offload_current6(&i, t(12));
    h2.set_program({
        let mut q = host2();
        q.vpcs[0].security_groups[0]
            .egress
            .push(sg_rule(6, 9999, 9999, "10.0.0.0/8"));
        q
    })
    .unwrap();
    assert!(before && !h2.offload_current6(&i, t(12)));
}

/// Seed walk 2 over IPv6: A (subnet-a, host 1) to C (subnet-b, host 2) through the
/// router: NACLs both ways, MAC rewrite.
#[test]
fn walk_across_subnets_v6() {
    let (mut h1, mut h2) = engines();
    let (a, c) = (pid(&h1, "eni-a"), pid(&h2, "eni-c"));
    let ping = icmp6_frame(A_MAC, ROUTER_MAC, A_IP6, C_IP6, kind::ECHO_REQUEST, 0, 9);
    let mut wire = Vec::new();
    assert_eq!(
        h1.process_from_port(t(1), a, &ping, &mut wire),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    // the router rewrote the MACs: source the router, destination C
    assert_eq!(&wire[overlay::OUTER_LEN..overlay::OUTER_LEN + 6], &C_MAC.0);
    assert_eq!(
        &wire[overlay::OUTER_LEN + 6..overlay::OUTER_LEN + 12],
        &ROUTER_MAC.0
    );
    let mut out = Vec::new();
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: c }
    );
    assert_eq!(&out[..12], &[C_MAC.0, ROUTER_MAC.0].concat()[..]);
    assert_eq!(
        &out[12..],
        &ping[12..],
        "only the MACs change: hop limit kept"
    );
    // the echo reply comes back by connection tracking
    let pong = icmp6_frame(C_MAC, ROUTER_MAC, C_IP6, A_IP6, kind::ECHO_REPLY, 0, 9);
    assert_eq!(
        h2.process_from_port(t(2), c, &pong, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(2), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    // the NACL's IPv6 entries decide: deny ICMPv6 into subnet-b, IPv4 unaffected
    let mut p2 = host2();
    let acl = NetworkAcl {
        id: "acl-b".into(),
        entries: nacl_allow_all("x").entries,
        entries_v6: vec![
            NaclEntry6 {
                rule_number: 90,
                egress: false,
                protocol: 58,
                allow: false,
                cidr: net6("::/0"),
                port_range: None,
                icmp: Some((128, -1)),
            },
            NaclEntry6 {
                rule_number: 101,
                egress: false,
                protocol: -1,
                allow: true,
                cidr: net6("::/0"),
                port_range: None,
                icmp: None,
            },
            NaclEntry6 {
                rule_number: 101,
                egress: true,
                protocol: -1,
                allow: true,
                cidr: net6("::/0"),
                port_range: None,
                icmp: None,
            },
        ],
    };
    p2.vpcs[0].network_acls.push(acl);
    p2.vpcs[0].subnets[1].network_acl_id = "acl-b".into();
    h2.set_program(p2).unwrap();
    let ping2 = icmp6_frame(A_MAC, ROUTER_MAC, A_IP6, C_IP6, kind::ECHO_REQUEST, 0, 10);
    h1.process_from_port(t(3), a, &ping2, &mut wire);
    assert_eq!(
        drop_of(h2.process_from_underlay(t(3), &wire, &mut out)),
        DropReason::NaclIngress
    );
    let ping4 = icmp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 8, 0, 10);
    h1.process_from_port(t(3), a, &ping4, &mut wire);
    assert_eq!(
        h2.process_from_underlay(t(3), &wire, &mut out),
        Verdict::ToPort { port: c }
    );
}

#[test]
fn security_groups_decide_ipv6_on_their_own_rules() {
    let (mut h1, mut h2) = engines();
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let mut wire = Vec::new();
    let mut out = Vec::new();
    // TCP 80 is allowed by no ingress rule of B's group
    let syn = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40001, 80, tcp::flags::SYN, 0);
    h1.process_from_port(t(1), a, &syn, &mut wire);
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &wire, &mut out)),
        DropReason::SecurityGroupIngress
    );
    // a group with only IPv4 rules lets no IPv6 in or out
    let mut p1 = host1();
    p1.vpcs[0].security_groups[0]
        .ingress
        .retain(|r| !matches!(r.peer, SgPeer::Cidr6(_)));
    p1.vpcs[0].security_groups[0]
        .egress
        .retain(|r| !matches!(r.peer, SgPeer::Cidr6(_)));
    h1.set_program(p1).unwrap();
    let syn22 = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40002, 22, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(2), a, &syn22, &mut wire)),
        DropReason::SecurityGroupEgress
    );
    // while IPv4 still flows
    let syn4 = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40002, 22, tcp::flags::SYN, 0);
    assert_eq!(
        h1.process_from_port(t(2), a, &syn4, &mut wire),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    // a rule naming the group matches its members' IPv6 addresses
    let mut p2 = host2();
    let g = &mut p2.vpcs[0].security_groups[0];
    g.ingress = vec![SgRule {
        protocol: 6,
        from_port: 80,
        to_port: 80,
        peer: SgPeer::Group("sg-app".into()),
    }];
    h2.set_program(p2).unwrap();
    let (mut h1, _) = engines();
    h1.process_from_port(t(3), a, &syn, &mut wire);
    assert_eq!(
        h2.process_from_underlay(t(3), &wire, &mut out),
        Verdict::ToPort { port: b }
    );
}

#[test]
fn replies_pass_by_connection_tracking_only() {
    let (mut h1, mut h2) = engines();
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let mut wire = Vec::new();
    let mut out = Vec::new();
    // A's group lets no UDP in; A's query out makes B's answer pass
    let q = udp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 5353, 5000, b"q");
    // B's ingress allows no UDP either: let it in for this test
    let mut p2 = host2();
    p2.vpcs[0].security_groups[0]
        .ingress
        .push(sg_rule6(17, 5000, 5000, "::/0"));
    h2.set_program(p2).unwrap();
    h1.process_from_port(t(1), a, &q, &mut wire);
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: b }
    );
    let answer = udp6_frame(B_MAC, A_MAC, B_IP6, A_IP6, 5000, 5353, b"a");
    h2.process_from_port(t(2), b, &answer, &mut wire);
    assert_eq!(
        h1.process_from_underlay(t(2), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    // an unsolicited datagram from B to A on another port does not
    let stray = udp6_frame(B_MAC, A_MAC, B_IP6, A_IP6, 5000, 5354, b"x");
    h2.process_from_port(t(3), b, &stray, &mut wire);
    assert_eq!(
        drop_of(h1.process_from_underlay(t(3), &wire, &mut out)),
        DropReason::SecurityGroupIngress
    );
    // after the UDP timeout (30 s without a reply, 180 s with one) the answer is refused
    h1.expire(t(400));
    h2.process_from_port(t(400), b, &answer, &mut wire);
    assert_eq!(
        drop_of(h1.process_from_underlay(t(400), &wire, &mut out)),
        DropReason::SecurityGroupIngress
    );
}

#[test]
fn source_check_and_origin_authentication() {
    let (mut h1, mut h2) = engines();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    let mut out = Vec::new();
    // A sending as B
    let spoof = tcp6_frame(A_MAC, B_MAC, B_IP6, B_IP6, 1, 22, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &spoof, &mut out)),
        DropReason::SourceCheck
    );
    // a link-local source beyond the link
    let local = tcp6_frame(A_MAC, B_MAC, ll(A_MAC), B_IP6, 1, 22, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &local, &mut out)),
        DropReason::SourceCheck
    );
    // forged underlay traffic: host 1 claiming C's address (which lives on host 2)
    let forged = tcp6_frame(C_MAC, B_MAC, C_IP6, B_IP6, 1, 22, tcp::flags::SYN, 0);
    let u = h1.structure().underlay.clone();
    let outer = overlay::outer_template(&u, H2, VNI, 0xc000);
    overlay::encapsulate(&mut wire, &outer, &forged).unwrap();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &wire, &mut out)),
        DropReason::AuthenticationFailed
    );
    // an address of the VPC's block nobody holds
    let nobody = tcp6_frame(
        A_MAC,
        B_MAC,
        "2001:db8:1:1::77".parse().unwrap(),
        B_IP6,
        1,
        22,
        tcp::flags::SYN,
        0,
    );
    overlay::encapsulate(&mut wire, &outer, &nobody).unwrap();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &wire, &mut out)),
        DropReason::AuthenticationFailed
    );
    // the genuine article passes
    let real = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 1, 22, tcp::flags::SYN, 0);
    overlay::encapsulate(&mut wire, &outer, &real).unwrap();
    assert!(matches!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { .. }
    ));
    // destination check: to B's MAC but C's address
    let wrong = tcp6_frame(A_MAC, B_MAC, A_IP6, C_IP6, 2, 22, tcp::flags::SYN, 0);
    overlay::encapsulate(&mut wire, &outer, &wrong).unwrap();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &wire, &mut out)),
        DropReason::DestinationCheck
    );
}

#[test]
fn routes_decide_ipv6_by_longest_prefix() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let to = |dst: &str| {
        tcp6_frame(
            A_MAC,
            ROUTER_MAC,
            A_IP6,
            dst.parse().unwrap(),
            1,
            443,
            tcp::flags::SYN,
            0,
        )
    };
    // inside a blackhole route
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &to("2001:db8:dead::1"), &mut out)),
        DropReason::Blackhole
    );
    // the internet gateway: to the edge, addressed to the gateway (checked in
    // `ipv6_through_the_internet_gateway`)
    assert!(matches!(
        h1.process_from_port(t(1), a, &to("2001:db8:ffff::1"), &mut out),
        Verdict::ToEdge { .. }
    ));
    // inside the VPC but nobody there
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &to("2001:db8:1:3::1"), &mut out)),
        DropReason::NoMapping
    );
    // the link-local services' range is never routed (its services are the agent's)
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &to("fd00:ec2::1"), &mut out)),
        DropReason::LinkLocal
    );
    // without the ::/0 route, the internet has no route at all
    let mut p = host1();
    p.vpcs[0].route_tables[0]
        .routes_v6
        .retain(|r| r.destination.prefix_len() > 0);
    h1.set_program(p).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(2), a, &to("2001:db8:ffff::1"), &mut out)),
        DropReason::NoRoute
    );
    // a route change re-decides a cached flow: C is reached, then blackholed
    let (mut h1, _) = engines();
    let f = tcp6_frame(A_MAC, ROUTER_MAC, A_IP6, C_IP6, 7, 22, tcp::flags::SYN, 0);
    assert!(matches!(
        h1.process_from_port(t(1), a, &f, &mut out),
        Verdict::ToUnderlay { .. }
    ));
    let mut p = host1();
    p.vpcs[0].route_tables[0].routes_v6.push(Route6 {
        destination: net6("2001:db8:1:2::/64"),
        target: RouteTarget::Blackhole,
    });
    h1.set_program(p).unwrap();
    let again = tcp6_frame(A_MAC, ROUTER_MAC, A_IP6, C_IP6, 7, 22, tcp::flags::ACK, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(2), a, &again, &mut out)),
        DropReason::Blackhole
    );
}

#[test]
fn local_delivery_on_one_host() {
    // B and C both on host 2: C pings B across subnets without the underlay
    let (_, mut h2) = engines();
    let (b, c) = (pid(&h2, "eni-b"), pid(&h2, "eni-c"));
    let mut out = Vec::new();
    let ping = icmp6_frame(C_MAC, ROUTER_MAC, C_IP6, B_IP6, kind::ECHO_REQUEST, 0, 3);
    assert_eq!(
        h2.process_from_port(t(1), c, &ping, &mut out),
        Verdict::ToPort { port: b }
    );
    assert_eq!(&out[..12], &[B_MAC.0, ROUTER_MAC.0].concat()[..]);
    let pong = icmp6_frame(B_MAC, ROUTER_MAC, B_IP6, C_IP6, kind::ECHO_REPLY, 0, 3);
    assert_eq!(
        h2.process_from_port(t(1), b, &pong, &mut out),
        Verdict::ToPort { port: c }
    );
    // a port leaving takes its IPv6 flows with it
    let mut p = host2();
    p.ports.retain(|x| x.id != "eni-b");
    h2.set_program(p).unwrap();
    assert_eq!(h2.footprint().flows, 0);
}

#[test]
fn malformed_ipv6_is_dropped_never_a_panic() {
    let (mut h1, mut h2) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let good = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 1, 22, tcp::flags::SYN, 0);
    for cut in 0..good.len() {
        let v = h1.process_from_port(t(1), a, &good[..cut], &mut out);
        assert!(matches!(v, Verdict::Drop { .. }), "{cut}");
    }
    // a fragment header
    let mut frag = good.clone();
    frag[14 + 6] = ipv6::next_header::FRAGMENT;
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &frag, &mut out)),
        DropReason::Fragment
    );
    let mut wire = Vec::new();
    h1.process_from_port(t(1), a, &good, &mut wire);
    for cut in overlay::OUTER_LEN..wire.len() {
        let mut w = wire[..cut].to_vec();
        // keep the outer lengths consistent with the cut
        let _ = overlay::decapsulate(&w);
        w.truncate(cut);
        let _ = h2.process_from_underlay(t(1), &w, &mut out);
    }
}

/// The responder against an independent implementation (dhcproto): its Solicit and
/// Request, encoded by it, are answered, and the answers decode to what EC2 gives.
#[test]
fn dhcpv6_agrees_with_dhcproto() {
    use dhcproto::{Decodable, Encodable, v6};
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let group: Ipv6Addr = "ff02::1:2".parse().unwrap();
    let mut client = vec![0, 3, 0, 1];
    client.extend_from_slice(&A_MAC.0);
    let ask = |kind: v6::MessageType, server: Option<Vec<u8>>| {
        let mut m = v6::Message::new_with_id(kind, [7, 8, 9]);
        m.opts_mut()
            .insert(v6::DhcpOption::ClientId(client.clone()));
        m.opts_mut().insert(v6::DhcpOption::ElapsedTime(0));
        m.opts_mut().insert(v6::DhcpOption::IANA(v6::IANA {
            id: 0x0102_0304,
            t1: 0,
            t2: 0,
            opts: v6::DhcpOptions::new(),
        }));
        if let Some(s) = server {
            m.opts_mut().insert(v6::DhcpOption::ServerId(s));
        }
        let bytes = m.to_vec().unwrap();
        udp6_frame(
            A_MAC,
            MacAddr(ipv6::multicast_mac(group)),
            ll(A_MAC),
            group,
            dhcpv6::CLIENT_PORT,
            dhcpv6::SERVER_PORT,
            &bytes,
        )
    };
    let answer = |out: &[u8]| v6::Message::from_bytes(&out[14 + 40 + 8..]).unwrap();
    let f = ask(v6::MessageType::Solicit, None);
    assert_eq!(
        h1.process_from_port(t(1), a, &f, &mut out),
        Verdict::Hairpin { port: a }
    );
    let adv = answer(&out);
    assert_eq!(adv.msg_type(), v6::MessageType::Advertise);
    assert_eq!(adv.xid(), [7, 8, 9]);
    assert_eq!(
        adv.opts().get(v6::OptionCode::ClientId),
        Some(&v6::DhcpOption::ClientId(client.clone()))
    );
    let Some(v6::DhcpOption::ServerId(server)) = adv.opts().get(v6::OptionCode::ServerId).cloned()
    else {
        panic!("no server id");
    };
    let Some(v6::DhcpOption::IANA(ia)) = adv.opts().get(v6::OptionCode::IANA) else {
        panic!("no IA_NA");
    };
    assert_eq!((ia.id, ia.t1, ia.t2), (0x0102_0304, 70, 112));
    assert_eq!(
        ia.opts.get(v6::OptionCode::IAAddr),
        Some(&v6::DhcpOption::IAAddr(v6::IAAddr {
            addr: A_IP6,
            preferred_life: 140,
            valid_life: 450,
            opts: v6::DhcpOptions::new(),
        }))
    );
    let f = ask(v6::MessageType::Request, Some(server));
    h1.process_from_port(t(2), a, &f, &mut out);
    let reply = answer(&out);
    assert_eq!(reply.msg_type(), v6::MessageType::Reply);
    assert!(reply.opts().get(v6::OptionCode::IANA).is_some());
}

#[test]
fn ipv6_through_the_internet_gateway() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    let mut out = Vec::new();
    let far: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    // out: Geneve to the edge, the inner frame from the router to the gateway, the
    // packet untouched (IPv6 is not translated)
    let syn = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        far,
        40000,
        443,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        h1.process_from_port(t(1), a, &syn, &mut wire),
        Verdict::ToEdge {
            host: EDGE,
            vni: VNI
        }
    );
    let d = overlay::decapsulate(&wire).unwrap();
    assert_eq!((d.vni, d.outer_dst), (VNI, EDGE));
    let inner = &wire[d.inner_offset..d.inner_end];
    let eth = ethernet::Frame::new_checked(inner).unwrap();
    assert_eq!(eth.src(), ROUTER_MAC);
    assert_eq!(eth.dst(), overlay::gateway_mac("igw-1"));
    assert_eq!(&inner[14..], &syn[14..]);
    // the cached decision does the same
    assert_eq!(
        h1.process_from_port(t(1), a, &syn, &mut wire),
        Verdict::ToEdge {
            host: EDGE,
            vni: VNI
        }
    );
    // back from the edge: the reply passes by connection tracking (A's group lets no
    // TCP 40000 in), an unsolicited SYN does not
    let mut u = h1.structure().underlay.clone();
    let here = u.address;
    u.address = EDGE;
    let outer = overlay::outer_template(&u, here, VNI, 0xc000);
    let reply = tcp6_frame(
        ROUTER_MAC,
        A_MAC,
        far,
        A_IP6,
        443,
        40000,
        tcp::flags::SYN | tcp::flags::ACK,
        0,
    );
    overlay::encapsulate(&mut wire, &outer, &reply).unwrap();
    assert_eq!(
        h1.process_from_underlay(t(2), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    let stray = tcp6_frame(
        ROUTER_MAC,
        A_MAC,
        far,
        A_IP6,
        443,
        40001,
        tcp::flags::SYN,
        0,
    );
    overlay::encapsulate(&mut wire, &outer, &stray).unwrap();
    assert_eq!(
        drop_of(h1.process_from_underlay(t(2), &wire, &mut out)),
        DropReason::SecurityGroupIngress
    );
    // an outside source from another host than the edge is refused
    u.address = H2;
    let outer = overlay::outer_template(&u, here, VNI, 0xc000);
    overlay::encapsulate(&mut wire, &outer, &reply).unwrap();
    assert_eq!(
        drop_of(h1.process_from_underlay(t(2), &wire, &mut out)),
        DropReason::AuthenticationFailed
    );
    // a gateway the program names no edge for
    let mut p = host1();
    p.vpcs[0].route_tables[0].routes_v6.push(Route6 {
        destination: "2001:db8:eeee::/48".parse().unwrap(),
        target: RouteTarget::EgressOnlyInternetGateway("eigw-9".into()),
    });
    h1.set_program(p).unwrap();
    let to_eigw = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        "2001:db8:eeee::1".parse().unwrap(),
        1,
        443,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(3), a, &to_eigw, &mut out)),
        DropReason::NoEdge
    );
}

#[test]
fn peering_carries_ipv6_and_authenticates_by_the_peer_mapping() {
    let p_ip = std::net::Ipv4Addr::new(10, 1, 5, 5);
    let p6: Ipv6Addr = "2001:db8:2:5::5".parse().unwrap();
    let p_mac = MacAddr([2, 0, 0, 1, 5, 5]);
    let peer_vpc = || {
        let mut v = vpc();
        v.id = "vpc-2".into();
        v.vni = 0x2222;
        v.cidrs = vec![net("10.1.0.0/16")];
        v.ipv6_cidrs = vec![net6("2001:db8:2::/56")];
        v.router_mac = MacAddr([2, 0, 0, 0, 0, 2]);
        v.subnets = vec![Subnet {
            id: "subnet-p".into(),
            cidr: Some(net("10.1.5.0/24")),
            route_table_id: "rtb-main".into(),
            network_acl_id: "acl-default".into(),
            availability_zone: String::new(),
            ipv6_cidr: Some(net6("2001:db8:2:5::/64")),
        }];
        v.route_tables[0].routes = vec![Route {
            destination: net("10.1.0.0/16"),
            target: RouteTarget::Local,
        }];
        v.route_tables[0].routes_v6 = vec![
            Route6 {
                destination: net6("2001:db8:2::/56"),
                target: RouteTarget::Local,
            },
            Route6 {
                destination: net6("2001:db8:1::/56"),
                target: RouteTarget::VpcPeering("pcx-1".into()),
            },
        ];
        v.mappings = vec![Mapping {
            ip: p_ip,
            host: H2,
            mac: p_mac,
            eni_id: "eni-p".into(),
            source_dest_check: true,
        }];
        v.mappings_v6 = vec![mapping6(p6, H2, p_mac, "eni-p")];
        v.peerings = vec![Peering {
            id: "pcx-1".into(),
            peer_vpc_id: "vpc-1".into(),
        }];
        v
    };
    let with_peering = |mut p: HostProgram| {
        p.vpcs[0].route_tables[0].routes_v6.push(Route6 {
            destination: net6("2001:db8:2::/56"),
            target: RouteTarget::VpcPeering("pcx-1".into()),
        });
        p.vpcs[0].peerings = vec![Peering {
            id: "pcx-1".into(),
            peer_vpc_id: "vpc-2".into(),
        }];
        p.vpcs.push(peer_vpc());
        p
    };
    let mut p2 = with_peering(host2());
    let mut port = p2.ports[0].clone();
    port.id = "eni-p".into();
    port.vpc_id = "vpc-2".into();
    port.subnet_id = "subnet-p".into();
    port.mac = p_mac;
    port.primary_ip = Some(p_ip);
    port.secondary_ips = vec![];
    port.security_groups = vec!["sg-app".into()];
    port.ipv6_addresses = vec![p6];
    p2.ports.push(port);
    let mut h1 = Engine::with_program(with_peering(host1())).unwrap();
    let mut h2 = Engine::with_program(p2).unwrap();
    let a = pid(&h1, "eni-a");
    let pp = pid(&h2, "eni-p");
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    // encapsulated with the peer VPC's VNI, to the peer ENI's host; let in by the
    // peer's group (SSH from 2001:db8:1::/56)
    let syn = tcp6_frame(A_MAC, ROUTER_MAC, A_IP6, p6, 40000, 22, tcp::flags::SYN, 0);
    assert_eq!(
        h1.process_from_port(t(1), a, &syn, &mut wire),
        Verdict::ToUnderlay {
            host: H2,
            vni: 0x2222
        }
    );
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: pp }
    );
    assert_eq!(&out[0..6], &p_mac.0);
    assert_eq!(&out[6..12], &[2, 0, 0, 0, 0, 2]);
    // and the reply comes back by connection tracking
    let synack = tcp6_frame(
        p_mac,
        MacAddr([2, 0, 0, 0, 0, 2]),
        p6,
        A_IP6,
        22,
        40000,
        tcp::flags::SYN | tcp::flags::ACK,
        0,
    );
    assert_eq!(
        h2.process_from_port(t(2), pp, &synack, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(2), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    // A's address sent from the wrong host is refused
    h1.process_from_port(t(3), a, &syn, &mut wire);
    let mut forged = wire.clone();
    forged[26..30].copy_from_slice(&H2.octets());
    crate::wire::ipv4::Packet::new_unchecked(&mut forged[14..34]).fill_checksum();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(3), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
    // outside the peer's blocks, the peering is no route
    let far = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        "2001:db8:2:5::9".parse().unwrap(),
        1,
        22,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(4), a, &far, &mut out)),
        DropReason::NoMapping
    );
}

#[test]
fn dhcp_and_router_advertisements_give_the_mtu_the_underlay_allows() {
    use crate::EngineConfig;
    use crate::wire::dhcp as wdhcp;
    let mut h1 = Engine::new(EngineConfig {
        instance_mtu: 1434,
        ..EngineConfig::default()
    });
    h1.set_program(host1()).unwrap();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let v = h1.process_from_port(t(1), a, &router_solicit(A_MAC, ll(A_MAC)), &mut out);
    assert_eq!(v, Verdict::Hairpin { port: a });
    let (_, msg) = icmp6_of(&out);
    let p = icmpv6::Packet::new_checked(msg).unwrap();
    let mtu = p
        .options()
        .map(Result::unwrap)
        .find(|(t, _)| *t == icmpv6::option::MTU)
        .map(|(_, body)| u32::from_be_bytes(body[2..6].try_into().unwrap()));
    assert_eq!(mtu, Some(1434), "the advertised MTU is the derived one");
    let v = h1.process_from_port(
        t(1),
        a,
        &dhcp_frame(A_MAC, wdhcp::MessageType::Discover, None),
        &mut out,
    );
    assert_eq!(v, Verdict::Hairpin { port: a });
    let r = wdhcp::Repr::parse(&wdhcp::Packet::new_checked(&out[42..]).unwrap()).unwrap();
    assert_eq!(
        r.interface_mtu,
        Some(1434),
        "DHCP option 26 is the derived MTU"
    );
}

/// Flow logs count IPv6 as IPv4: a cached flow's packets at both ends (ACCEPT, each
/// way as it crosses the ENI), a rejected one packet by packet (REJECT), with the IPv6
/// addresses in the records.
#[test]
fn flow_logs_count_ipv6_flows() {
    use crate::conntrack::Direction;
    use crate::counters::Action;
    use std::net::IpAddr;
    let (mut p1, mut p2) = (host1(), host2());
    p1.ports.iter_mut().for_each(|p| p.flow_logs = true);
    p2.ports.iter_mut().for_each(|p| p.flow_logs = true);
    let (mut h1, mut h2) = engines();
    h1.set_program(p1).unwrap();
    h2.set_program(p2).unwrap();
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let mut wire = Vec::new();
    let mut out = Vec::new();
    // TCP 22 is allowed: three packets through the cache
    for i in 0..3 {
        let flags = if i == 0 {
            tcp::flags::SYN
        } else {
            tcp::flags::ACK
        };
        let f = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40000, 22, flags, 0);
        h1.process_from_port(t(1 + i), a, &f, &mut wire);
        assert_eq!(
            h2.process_from_underlay(t(1 + i), &wire, &mut out),
            Verdict::ToPort { port: b }
        );
    }
    // TCP 80 is not: rejected at B
    let syn80 = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40001, 80, tcp::flags::SYN, 0);
    h1.process_from_port(t(4), a, &syn80, &mut wire);
    assert_eq!(
        drop_of(h2.process_from_underlay(t(4), &wire, &mut out)),
        DropReason::SecurityGroupIngress
    );
    let (a6, b6) = (IpAddr::V6(A_IP6), IpAddr::V6(B_IP6));
    let mut sent = Vec::new();
    h1.drain_flow_records(|r| sent.push(r));
    let ssh: Vec<_> = sent.iter().filter(|r| r.tuple.dst_port == 22).collect();
    assert_eq!(ssh.len(), 1, "{sent:?}");
    assert_eq!((ssh[0].tuple.src, ssh[0].tuple.dst), (a6, b6));
    assert_eq!(
        (ssh[0].action, ssh[0].direction, ssh[0].packets),
        (Action::Accept, Direction::Outbound, 3)
    );
    assert_eq!(ssh[0].tcp_flags, tcp::flags::SYN | tcp::flags::ACK);
    let mut received = Vec::new();
    h2.drain_flow_records(|r| received.push(r));
    received.sort_by_key(|r| r.tuple.dst_port);
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(
        (
            received[0].tuple.dst_port,
            received[0].action,
            received[0].direction
        ),
        (22, Action::Accept, Direction::Inbound)
    );
    assert_eq!(received[0].packets, 3);
    assert_eq!(
        (
            received[1].tuple.dst_port,
            received[1].action,
            received[1].packets
        ),
        (80, Action::Reject, 1)
    );
    assert_eq!((received[1].tuple.src, received[1].tuple.dst), (a6, b6));
    // drained: nothing more until new packets
    h2.drain_flow_records(|r| panic!("{r:?}"));
}

/// Nitro's IPv6 link-local services: metadata at `fd00:ec2::254` and time sync at
/// `fd00:ec2::123` go to the agent unchanged (`Verdict::Service`), the resolver at
/// `fd00:ec2::253` too when the agent answers DNS; never filtered by security groups (a
/// port whose groups allow nothing out still reaches them), always after the source
/// check; the rest of `fd00:ec2::/32` stays unroutable.
#[test]
fn link_local_services_answer_at_their_ipv6_addresses() {
    use crate::route::{METADATA6, RESOLVER6, TIME_SYNC6};
    use crate::{EngineConfig, Service};
    let mut p = host1();
    // no egress rule at all: services are not filtered
    for g in p.vpcs.iter_mut().flat_map(|v| &mut v.security_groups) {
        g.egress.clear();
    }
    let mut e = Engine::new(EngineConfig {
        resolver_service: true,
        ..EngineConfig::default()
    });
    e.set_program(p.clone()).unwrap();
    let a = pid(&e, "eni-a");
    let mut out = Vec::new();
    let syn = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        METADATA6,
        40000,
        80,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        e.process_from_port(t(1), a, &syn, &mut out),
        Verdict::Service {
            port: a,
            service: Service::InstanceMetadata
        }
    );
    assert_eq!(out, syn, "handed over unchanged");
    let query = udp6_frame(A_MAC, ROUTER_MAC, A_IP6, RESOLVER6, 5353, 53, b"q");
    assert_eq!(
        e.process_from_port(t(1), a, &query, &mut out),
        Verdict::Service {
            port: a,
            service: Service::Resolver
        }
    );
    let tcp_query = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        RESOLVER6,
        5353,
        53,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        e.process_from_port(t(1), a, &tcp_query, &mut out),
        Verdict::Service {
            port: a,
            service: Service::Resolver
        }
    );
    let ntp = udp6_frame(A_MAC, ROUTER_MAC, A_IP6, TIME_SYNC6, 123, 123, b"t");
    assert_eq!(
        e.process_from_port(t(1), a, &ntp, &mut out),
        Verdict::Service {
            port: a,
            service: Service::TimeSync
        }
    );
    // the resolver's address speaks DNS only; the rest of the range is never routed
    let not_dns = udp6_frame(A_MAC, ROUTER_MAC, A_IP6, RESOLVER6, 5353, 80, b"q");
    let elsewhere = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        "fd00:ec2::1".parse().unwrap(),
        40000,
        80,
        tcp::flags::SYN,
        0,
    );
    for f in [not_dns, elsewhere] {
        assert_eq!(
            drop_of(e.process_from_port(t(1), a, &f, &mut out)),
            DropReason::LinkLocal
        );
    }
    // a spoofed source gets nowhere, service or not
    let spoofed = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        B_IP6,
        METADATA6,
        40000,
        80,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(e.process_from_port(t(1), a, &spoofed, &mut out)),
        DropReason::SourceCheck
    );
    // without the agent's resolver, the engine's own (IPv4) one does not speak IPv6
    let mut plain = Engine::with_program(p).unwrap();
    assert_eq!(
        drop_of(plain.process_from_port(t(1), a, &query, &mut out)),
        DropReason::LinkLocal
    );
}

/// DHCPv6 names the Route 53 Resolver's IPv6 address as DNS server when the VPC's DHCP
/// options set says AmazonProvidedDNS, the set's own IPv6 servers in its order, and none
/// when it names only IPv4 servers (which IPv4's DHCP hands out alone).
#[test]
fn dhcpv6_names_the_resolver_for_amazon_provided_dns() {
    use crate::route::RESOLVER6;
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let dns_of = |out: &[u8]| {
        let ip = ipv6::Packet::new_checked(&out[14..]).unwrap();
        let m = dhcpv6::Message::new_checked(&ip.payload()[8..]).unwrap();
        m.option(option::DNS_SERVERS).unwrap().map(<[u8]>::to_vec)
    };
    for k in [
        message::SOLICIT,
        message::RENEW,
        message::INFORMATION_REQUEST,
    ] {
        h1.process_from_port(t(1), a, &dhcpv6_frame(A_MAC, ll(A_MAC), k, &[]), &mut out);
        assert_eq!(dns_of(&out), Some(RESOLVER6.octets().to_vec()), "{k}");
    }
    let mut p = host1();
    p.vpcs[0].dhcp.domain_name_servers = vec![NameServer::Address("192.0.2.53".parse().unwrap())];
    let mut own = Engine::with_program(p.clone()).unwrap();
    own.process_from_port(
        t(1),
        a,
        &dhcpv6_frame(A_MAC, ll(A_MAC), message::SOLICIT, &[]),
        &mut out,
    );
    assert_eq!(dns_of(&out), None);
    // the set's own IPv6 servers, in its order, AmazonProvidedDNS among them; IPv4 DHCP
    // hands out only the IPv4 ones
    let six: Ipv6Addr = "2001:db8:53::1".parse().unwrap();
    p.vpcs[0].dhcp.domain_name_servers = vec![
        NameServer::Address6(six),
        NameServer::Address("192.0.2.53".parse().unwrap()),
        NameServer::AmazonProvidedDns,
    ];
    let mut mixed = Engine::with_program(p).unwrap();
    mixed.process_from_port(
        t(1),
        a,
        &dhcpv6_frame(A_MAC, ll(A_MAC), message::SOLICIT, &[]),
        &mut out,
    );
    let mut want = six.octets().to_vec();
    want.extend_from_slice(&RESOLVER6.octets());
    assert_eq!(dns_of(&out), Some(want));
    let discover = dhcp_frame(A_MAC, crate::wire::dhcp::MessageType::Discover, None);
    mixed.process_from_port(t(1), a, &discover, &mut out);
    let reply = crate::wire::dhcp::Repr::parse(
        &crate::wire::dhcp::Packet::new_checked(&out[14 + 20 + 8..]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        reply.dns_servers,
        vec![
            "192.0.2.53".parse::<std::net::Ipv4Addr>().unwrap(),
            "10.0.0.2".parse().unwrap()
        ]
    );
}

/// A port of an IPv6-only subnet (no IPv4 block, no IPv4 address): ARP and IPv4 (DHCP
/// included) are dropped as `ipv4`, the router's advertisement, DHCPv6 and the IPv6
/// walks work as in any IPv6 subnet, and its packets reach the services at fd00:ec2::…
#[test]
fn an_ipv6_only_port_speaks_ipv6_alone() {
    use crate::route::METADATA6;
    let mut p = host1();
    p.vpcs[0].subnets[0].cidr = None;
    p.ports[0].primary_ip = None;
    let mut h = Engine::with_program(p).unwrap();
    let a = pid(&h, "eni-a");
    let mut out = Vec::new();
    for f in [
        arp_request(A_MAC, A_IP, B_IP),
        dhcp_frame(A_MAC, crate::wire::dhcp::MessageType::Discover, None),
        tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 40000, 22, tcp::flags::SYN, 0),
    ] {
        assert_eq!(
            drop_of(h.process_from_port(t(1), a, &f, &mut out)),
            DropReason::Ipv4
        );
    }
    assert_eq!(
        h.process_from_port(t(1), a, &router_solicit(A_MAC, ll(A_MAC)), &mut out),
        Verdict::Hairpin { port: a }
    );
    let solicit = dhcpv6_frame(A_MAC, ll(A_MAC), message::SOLICIT, &[]);
    h.process_from_port(t(1), a, &solicit, &mut out);
    assert_eq!(dhcpv6_reply(&out).2, Some((A_IP6, 140, 450)));
    // layer 2 over IPv6 to B on the other host, and metadata
    let syn = tcp6_frame(A_MAC, B_MAC, A_IP6, B_IP6, 40000, 22, tcp::flags::SYN, 0);
    assert!(matches!(
        h.process_from_port(t(1), a, &syn, &mut out),
        Verdict::ToUnderlay { .. }
    ));
    let imds = tcp6_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP6,
        METADATA6,
        40000,
        80,
        tcp::flags::SYN,
        0,
    );
    assert!(matches!(
        h.process_from_port(t(1), a, &imds, &mut out),
        Verdict::Service { .. }
    ));
}
