//! Byte-exact unit tests of the edge: each expected packet is built from scratch with
//! full checksums, so an incremental update that is off by one bit fails.

use crate::fixtures::*;
use crate::program::{EdgeItem, EdgeProgram, NatGatewayState, gateway_mac};
use crate::{DropReason, Edge, EdgeConfig, Gateway, Time, Verdict};
use fort_dataplane::wire::{ethernet, icmp, ip_proto, ipv4, tcp};
use std::net::Ipv4Addr;

const SYN: u16 = tcp::flags::SYN;
const ACK: u16 = tcp::flags::ACK;

fn edge() -> Edge {
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(program());
    e
}

fn t(s: u64) -> Time {
    Time::from_secs(s)
}

fn out_via(e: &mut Edge, now: Time, gw: Gateway<'_>, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut out = Vec::new();
    let v = e.process_from_vpc(now, VNI, gw, &from_instance(pkt), &mut out);
    (v, out)
}

fn inbound(e: &mut Edge, now: Time, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut out = Vec::new();
    let v = e.process_from_internet(now, pkt, &mut out);
    (v, out)
}

fn drop(r: DropReason) -> Verdict {
    Verdict::Drop { reason: r }
}

#[test]
fn byte_literal_udp_through_igw() {
    // 10.0.1.10:5353 → 203.0.113.7:53, payload "fort"; the checksums were computed
    // independently (RFC 1071 in Python), not by this crate.
    let input = udp_packet(WEB, 5353, REMOTE, 53, b"fort");
    assert_eq!(
        input,
        [
            0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xe1, 0x87, 10, 0, 1, 10,
            203, 0, 113, 7, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0xca, 0xc2, b'f', b'o', b'r', b't'
        ]
    );
    let mut e = edge();
    let (v, out) = out_via(&mut e, t(1), Gateway::Id(IGW), &input);
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(
        out,
        [
            0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xc2, 0x53, 198, 51, 100,
            10, 203, 0, 113, 7, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0xab, 0x8e, b'f', b'o', b'r',
            b't'
        ]
    );
}

#[test]
fn igw_outbound_rewrites_source() {
    let mut e = edge();
    for (inp, want) in [
        (
            tcp_packet(WEB, 40000, REMOTE, 80, SYN, b""),
            tcp_packet(WEB_PUBLIC, 40000, REMOTE, 80, SYN, b""),
        ),
        (
            udp_packet(WEB, 5000, REMOTE, 53, b"query"),
            udp_packet(WEB_PUBLIC, 5000, REMOTE, 53, b"query"),
        ),
        (
            icmp_echo(WEB, REMOTE, false, 77, 1),
            icmp_echo(WEB_PUBLIC, REMOTE, false, 77, 1),
        ),
    ] {
        let (v, out) = out_via(&mut e, t(1), Gateway::Id(IGW), &inp);
        assert_eq!(v, Verdict::ToInternet);
        assert_eq!(out, want);
    }
    assert_eq!(e.stats().igw_outbound, 3);
}

#[test]
fn igw_outbound_strips_ethernet_padding() {
    let mut e = edge();
    let p = tcp_packet(WEB, 40000, REMOTE, 80, SYN, b"");
    let mut f = from_instance(&p);
    f.extend_from_slice(&[0xee; 6]);
    let mut out = Vec::new();
    let v = e.process_from_vpc(t(1), VNI, Gateway::Id(IGW), &f, &mut out);
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(out, tcp_packet(WEB_PUBLIC, 40000, REMOTE, 80, SYN, b""));
}

#[test]
fn igw_outbound_without_public_mapping_is_dropped() {
    let mut e = edge();
    let (v, _) = out_via(
        &mut e,
        t(1),
        Gateway::Id(IGW),
        &tcp_packet(APP, 1, REMOTE, 80, SYN, b""),
    );
    assert_eq!(v, drop(DropReason::NoPublicMapping));
    assert_eq!(e.stats().drops(DropReason::NoPublicMapping), 1);
}

#[test]
fn igw_inbound_rewrites_destination() {
    let mut e = edge();
    let (v, out) = inbound(
        &mut e,
        t(1),
        &tcp_packet(REMOTE, 5555, WEB_PUBLIC, 22, SYN, b""),
    );
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: WEB });
    assert_eq!(&out[..12], &[0; 12]);
    assert_eq!(&out[12..14], &ethernet::ethertype::IPV4.to_be_bytes());
    assert_eq!(&out[14..], &tcp_packet(REMOTE, 5555, WEB, 22, SYN, b"")[..]);
    crate::set_inner_macs(&mut out.clone(), ROUTER_MAC, INSTANCE_MAC);
}

#[test]
fn igw_inbound_to_unknown_address_is_dropped() {
    let mut e = edge();
    let (v, _) = inbound(
        &mut e,
        t(1),
        &udp_packet(REMOTE, 1, Ipv4Addr::new(198, 51, 100, 99), 2, b""),
    );
    assert_eq!(v, drop(DropReason::UnknownPublicIp));
}

#[test]
fn detached_igw_cuts_both_ways() {
    let mut e = edge();
    let mut p = program();
    p.internet_gateways.clear();
    e.set_program(p);
    // the VPC is still known through its NAT gateway
    let (v, _) = out_via(
        &mut e,
        t(1),
        Gateway::Id(IGW),
        &tcp_packet(WEB, 1, REMOTE, 80, SYN, b""),
    );
    assert_eq!(v, drop(DropReason::NoInternetGateway));
    let (v, _) = inbound(
        &mut e,
        t(1),
        &tcp_packet(REMOTE, 1, WEB_PUBLIC, 22, SYN, b""),
    );
    assert_eq!(v, drop(DropReason::NoInternetGateway));
    let (v, _) = out_via(
        &mut e,
        t(1),
        Gateway::Id(NAT),
        &tcp_packet(APP, 1, REMOTE, 80, SYN, b""),
    );
    assert_eq!(v, drop(DropReason::NoInternetGateway));
    // with nothing left, the VNI is unknown
    e.set_program(EdgeProgram::default());
    let (v, _) = out_via(
        &mut e,
        t(1),
        Gateway::Id(IGW),
        &tcp_packet(WEB, 1, REMOTE, 80, SYN, b""),
    );
    assert_eq!(v, drop(DropReason::UnknownVni));
}

#[test]
fn ipv6_mislabelled_and_other_ethertypes_are_dropped() {
    let mut e = edge();
    let mut f = from_instance(&tcp_packet(WEB, 1, REMOTE, 80, SYN, b""));
    f[12..14].copy_from_slice(&ethernet::ethertype::IPV6.to_be_bytes());
    let mut out = Vec::new();
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Infer, &f, &mut out),
        drop(DropReason::Malformed)
    );
    f[12..14].copy_from_slice(&ethernet::ethertype::ARP.to_be_bytes());
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Infer, &f, &mut out),
        drop(DropReason::UnsupportedEthertype)
    );
    f[12..14].copy_from_slice(&ethernet::ethertype::IPV4.to_be_bytes());
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Infer, &f[..20], &mut out),
        drop(DropReason::Malformed)
    );
}

/// The NAT's first port for a flow, read off its translation.
fn nat_syn(e: &mut Edge, now: Time, sport: u16) -> u16 {
    let (v, out) = out_via(
        e,
        now,
        Gateway::Id(NAT),
        &tcp_packet(APP, sport, REMOTE, 80, SYN, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    let (src, port, dst, dport) = tuple(&out);
    assert_eq!((src, dst, dport), (NAT_PUBLIC, REMOTE, 80));
    assert!(port >= 1024);
    assert_eq!(out, tcp_packet(NAT_PUBLIC, port, REMOTE, 80, SYN, b""));
    port
}

#[test]
fn nat_tcp_round_trip() {
    let mut e = edge();
    let port = nat_syn(&mut e, t(1), 40000);
    let (v, out) = inbound(
        &mut e,
        t(2),
        &tcp_packet(REMOTE, 80, NAT_PUBLIC, port, SYN | ACK, b""),
    );
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    assert_eq!(
        &out[14..],
        &tcp_packet(REMOTE, 80, APP, 40000, SYN | ACK, b"")[..]
    );
    // established: the same port again
    let (v, out) = out_via(
        &mut e,
        t(3),
        Gateway::Id(NAT),
        &tcp_packet(APP, 40000, REMOTE, 80, ACK, b"GET /"),
    );
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(out, tcp_packet(NAT_PUBLIC, port, REMOTE, 80, ACK, b"GET /"));
    let s = e.stats();
    assert_eq!(
        (s.nat_outbound, s.nat_inbound, s.nat_flows_created),
        (2, 1, 1)
    );
}

#[test]
fn nat_udp_and_icmp_round_trips() {
    let mut e = edge();
    let (v, out) = out_via(
        &mut e,
        t(1),
        Gateway::Id(NAT),
        &udp_packet(APP, 5000, REMOTE, 53, b"q"),
    );
    assert_eq!(v, Verdict::ToInternet);
    let (_, port, _, _) = tuple(&out);
    assert_eq!(out, udp_packet(NAT_PUBLIC, port, REMOTE, 53, b"q"));
    let (v, out) = inbound(
        &mut e,
        t(1),
        &udp_packet(REMOTE, 53, NAT_PUBLIC, port, b"a"),
    );
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    assert_eq!(&out[14..], &udp_packet(REMOTE, 53, APP, 5000, b"a")[..]);

    let (v, out) = out_via(
        &mut e,
        t(1),
        Gateway::Id(NAT),
        &icmp_echo(APP, REMOTE, false, 9, 1),
    );
    assert_eq!(v, Verdict::ToInternet);
    let (_, id, _, _) = tuple(&out);
    assert!(id >= 1024);
    assert_eq!(out, icmp_echo(NAT_PUBLIC, REMOTE, false, id, 1));
    let (v, out) = inbound(&mut e, t(1), &icmp_echo(REMOTE, NAT_PUBLIC, true, id, 1));
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    assert_eq!(&out[14..], &icmp_echo(REMOTE, APP, true, 9, 1)[..]);
}

#[test]
fn nat_refuses_inbound_initiated_connections() {
    let mut e = edge();
    for p in [
        tcp_packet(REMOTE, 5555, NAT_PUBLIC, 22, SYN, b""),
        udp_packet(REMOTE, 5555, NAT_PUBLIC, 53, b""),
        icmp_echo(REMOTE, NAT_PUBLIC, false, 1, 1),
        icmp_echo(REMOTE, NAT_PUBLIC, true, 1, 1),
    ] {
        assert_eq!(inbound(&mut e, t(1), &p).0, drop(DropReason::NatNoFlow));
    }
    // a reply from another remote port does not match the flow
    let port = nat_syn(&mut e, t(1), 40000);
    let (v, _) = inbound(
        &mut e,
        t(1),
        &tcp_packet(REMOTE, 81, NAT_PUBLIC, port, ACK, b""),
    );
    assert_eq!(v, drop(DropReason::NatNoFlow));
    assert_eq!(e.stats().drops(DropReason::NatNoFlow), 5);
}

fn assert_rst(v: Verdict, out: &[u8], seq: u32) {
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    // back to the instance, from the router MAC it sent to
    assert_eq!(&out[0..6], &INSTANCE_MAC.0);
    assert_eq!(&out[6..12], &ROUTER_MAC.0);
    let pkt = &out[14..];
    assert!(checksums_ok(pkt));
    assert_eq!(tuple(pkt), (REMOTE, 80, APP, 40000));
    let t = tcp::Packet::new_checked(&pkt[20..]).expect("tcp");
    assert_eq!(t.flags(), tcp::flags::RST);
    assert_eq!(t.seq(), seq);
}

#[test]
fn nat_idle_timeout_then_rst() {
    let mut e = edge();
    let port = nat_syn(&mut e, t(0), 40000);
    // 349 s idle: still there
    let (v, out) = out_via(
        &mut e,
        t(349),
        Gateway::Id(NAT),
        &tcp_packet(APP, 40000, REMOTE, 80, ACK, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(tuple(&out).1, port);
    // replies refresh the flow too
    assert!(matches!(
        inbound(
            &mut e,
            t(600),
            &tcp_packet(REMOTE, 80, NAT_PUBLIC, port, ACK, b"")
        )
        .0,
        Verdict::ToVpc { .. }
    ));
    // 350 s after the last packet: gone, the next segment from inside gets a RST
    let (v, out) = out_via(
        &mut e,
        t(950),
        Gateway::Id(NAT),
        &tcp_packet(APP, 40000, REMOTE, 80, ACK, b"x"),
    );
    assert_rst(v, &out, 5000);
    assert_eq!(e.stats().nat_rst_sent, 1);
    assert_eq!(e.stats().drops(DropReason::NatFlowExpired), 1);
    assert!(e.nat_table().is_empty());
    // and the reply direction finds nothing
    let (v, _) = inbound(
        &mut e,
        t(951),
        &tcp_packet(REMOTE, 80, NAT_PUBLIC, port, ACK, b""),
    );
    assert_eq!(v, drop(DropReason::NatNoFlow));
    // a new SYN opens a new flow
    nat_syn(&mut e, t(952), 40000);
}

#[test]
fn expire_sweeps_idle_flows() {
    let mut e = edge();
    nat_syn(&mut e, t(0), 40000);
    nat_syn(&mut e, t(100), 40001);
    assert_eq!(e.expire(t(349)), 0);
    assert_eq!(e.expire(t(350)), 1);
    assert_eq!(e.nat_table().len(), 1);
    assert_eq!(e.expire(t(450)), 1);
    assert_eq!(e.stats().nat_flows_expired, 2);
    // an expired TCP flow: a segment without ACK gets RST|ACK acknowledging it
    let (v, out) = out_via(
        &mut e,
        t(451),
        Gateway::Id(NAT),
        &tcp_packet(APP, 40000, REMOTE, 80, tcp::flags::PSH, b"ab"),
    );
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    let tcp = tcp::Packet::new_checked(&out[34..]).expect("tcp");
    assert_eq!(tcp.flags(), tcp::flags::RST | tcp::flags::ACK);
    assert_eq!((tcp.seq(), tcp.ack()), (0, 1002));
    // a RST from inside is never answered
    let (v, _) = out_via(
        &mut e,
        t(451),
        Gateway::Id(NAT),
        &tcp_packet(APP, 40000, REMOTE, 80, tcp::flags::RST, b""),
    );
    assert_eq!(v, drop(DropReason::NatFlowExpired));
}

#[test]
fn deleting_the_nat_gateway_breaks_its_flows() {
    for how in ["remove", "deleting"] {
        let mut e = edge();
        let port = nat_syn(&mut e, t(0), 40000);
        let mut p = program();
        if how == "remove" {
            p.nat_gateways.clear();
        } else {
            p.nat_gateways[0].state = NatGatewayState::Deleting;
        }
        e.set_program(p);
        assert_eq!(e.stats().nat_flows_broken, 1);
        for gw in [Gateway::Id(NAT), Gateway::Infer] {
            let (v, out) = out_via(
                &mut e,
                t(1),
                gw,
                &tcp_packet(APP, 40000, REMOTE, 80, ACK, b""),
            );
            assert_rst(v, &out, 5000);
        }
        let (v, _) = out_via(
            &mut e,
            t(1),
            Gateway::Id(NAT),
            &tcp_packet(APP, 40001, REMOTE, 80, SYN, b""),
        );
        assert_eq!(v, drop(DropReason::NatNotAvailable));
        let (v, _) = inbound(
            &mut e,
            t(1),
            &tcp_packet(REMOTE, 80, NAT_PUBLIC, port, ACK, b""),
        );
        let want = if how == "remove" {
            DropReason::UnknownPublicIp
        } else {
            DropReason::NatNotAvailable
        };
        assert_eq!(v, drop(want));
    }
}

#[test]
fn nat_flows_survive_unrelated_program_changes() {
    let mut e = edge();
    let port = nat_syn(&mut e, t(0), 40000);
    let mut p = program();
    p.public_ips.clear();
    e.set_program(p);
    let (v, _) = inbound(
        &mut e,
        t(1),
        &tcp_packet(REMOTE, 80, NAT_PUBLIC, port, ACK, b""),
    );
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    assert_eq!(e.stats().nat_flows_broken, 0);
}

#[test]
fn nat_fragments_udp_pass_tcp_icmp_dropped() {
    let mut e = edge();
    let frag = |mut p: Vec<u8>, more: bool, offset8: u16| {
        let v = (u16::from(more) << 13) | offset8;
        p[6..8].copy_from_slice(&v.to_be_bytes());
        ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
        p
    };
    let tcpf = frag(tcp_packet(APP, 1, REMOTE, 80, SYN, b""), true, 0);
    assert_eq!(
        out_via(&mut e, t(1), Gateway::Id(NAT), &tcpf).0,
        drop(DropReason::NatFragment)
    );
    let icmpf = frag(icmp_echo(APP, REMOTE, false, 1, 1), true, 0);
    assert_eq!(
        out_via(&mut e, t(1), Gateway::Id(NAT), &icmpf).0,
        drop(DropReason::NatFragment)
    );

    // the first UDP fragment: ports translated, checksum patched for the whole datagram
    let first = frag(udp_packet(APP, 5000, REMOTE, 53, b"12345678"), true, 0);
    let (v, out) = out_via(&mut e, t(1), Gateway::Id(NAT), &first);
    assert_eq!(v, Verdict::ToInternet);
    let (src, port, _, _) = tuple(&out);
    assert_eq!(src, NAT_PUBLIC);
    // a later fragment: the address only
    let rest = frag(ipv4_raw(APP, REMOTE, ip_proto::UDP, b"abcdefgh"), false, 2);
    let (v, out) = out_via(&mut e, t(1), Gateway::Id(NAT), &rest);
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(
        out,
        frag(
            ipv4_raw(NAT_PUBLIC, REMOTE, ip_proto::UDP, b"abcdefgh"),
            false,
            2
        )
    );

    // inbound: an unknown later fragment is dropped; after the first, it passes
    let rest_in = frag(
        ipv4_raw(REMOTE, NAT_PUBLIC, ip_proto::UDP, b"abcdefgh"),
        false,
        2,
    );
    assert_eq!(
        inbound(&mut e, t(1), &rest_in).0,
        drop(DropReason::NatFragmentUnknown)
    );
    let first_in = frag(
        udp_packet(REMOTE, 53, NAT_PUBLIC, port, b"12345678"),
        true,
        0,
    );
    let (v, out) = inbound(&mut e, t(1), &first_in);
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    assert_eq!(
        &out[14..],
        &frag(udp_packet(REMOTE, 53, APP, 5000, b"12345678"), true, 0)[..]
    );
    let (v, out) = inbound(&mut e, t(2), &rest_in);
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: APP });
    assert_eq!(
        &out[14..],
        &frag(ipv4_raw(REMOTE, APP, ip_proto::UDP, b"abcdefgh"), false, 2)[..]
    );
    // remembered for the fragment timeout only
    e.expire(t(40));
    assert_eq!(
        inbound(&mut e, t(40), &rest_in).0,
        drop(DropReason::NatFragmentUnknown)
    );
}

#[test]
fn nat_only_tcp_udp_icmp_and_echo_requests() {
    let mut e = edge();
    let gre = ipv4_packet(APP, REMOTE, 47, b"grepayload");
    assert_eq!(
        out_via(&mut e, t(1), Gateway::Id(NAT), &gre).0,
        drop(DropReason::NatUnsupportedProtocol)
    );
    let reply = icmp_echo(APP, REMOTE, true, 1, 1);
    assert_eq!(
        out_via(&mut e, t(1), Gateway::Id(NAT), &reply).0,
        drop(DropReason::NatIcmpNotQuery)
    );
    // UDP/ICMP with no flow and not a request: dropped, no RST
    let synack = tcp_packet(APP, 1, REMOTE, 80, SYN | ACK, b"");
    assert!(matches!(
        out_via(&mut e, t(1), Gateway::Id(NAT), &synack).0,
        Verdict::ToVpc { .. }
    ));
}

#[test]
fn nat_ports_exhausted_per_destination_only() {
    let mut e = edge();
    let mut out = Vec::new();
    let mut ok = 0;
    for i in 0..64_513u32 {
        let src = Ipv4Addr::from(u32::from(APP) + i / 60_000);
        let sport = 1024 + (i % 60_000) as u16;
        let f = from_instance(&udp_packet(src, sport, REMOTE, 53, b""));
        match e.process_from_vpc(t(1), VNI, Gateway::Id(NAT), &f, &mut out) {
            Verdict::ToInternet => ok += 1,
            v => {
                assert_eq!(v, drop(DropReason::NatPortsExhausted));
                assert_eq!(i, 64_512);
            }
        }
    }
    assert_eq!(ok, 64_512);
    // another destination port still has all its ports
    let f = from_instance(&udp_packet(APP, 1, REMOTE, 54, b""));
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Id(NAT), &f, &mut out),
        Verdict::ToInternet
    );
    // freeing one makes room
    e.expire(t(351));
    assert_eq!(e.nat_table().len(), 0);
}

/// A NAT gateway's secondary elastic IPs (AssociateNatGatewayAddress) are sources too:
/// pairs of hosts spread over the addresses, each address has its own ports toward a
/// destination (so a second one makes room where the first is full), replies to any of
/// them come back, and removing one breaks only the flows that left from it.
#[test]
fn nat_secondary_addresses_add_ports_and_carry_their_flows() {
    let second = Ipv4Addr::new(198, 51, 100, 21);
    let with_second = || {
        let mut p = program();
        p.nat_gateways[0].secondary_public_ips = vec![second];
        p
    };
    // sixteen hosts to one destination: both addresses are used
    let mut e = edge();
    e.set_program(with_second());
    let mut used = std::collections::BTreeSet::new();
    for i in 0..16u32 {
        let src = Ipv4Addr::from(u32::from(APP) + i);
        let (v, out) = out_via(
            &mut e,
            t(1),
            Gateway::Id(NAT),
            &udp_packet(src, 5, REMOTE, 53, b""),
        );
        assert_eq!(v, Verdict::ToInternet);
        used.insert(tuple(&out).0);
    }
    assert_eq!(used, [NAT_PUBLIC, second].into());

    // the primary's ports toward REMOTE:53 all taken, then a secondary address
    let mut e = edge();
    let mut out = Vec::new();
    for i in 0..64_512u32 {
        let src = Ipv4Addr::from(u32::from(APP) + i / 60_000);
        let f = from_instance(&udp_packet(
            src,
            1024 + (i % 60_000) as u16,
            REMOTE,
            53,
            b"",
        ));
        assert_eq!(
            e.process_from_vpc(t(1), VNI, Gateway::Id(NAT), &f, &mut out),
            Verdict::ToInternet
        );
    }
    let late = Ipv4Addr::from(u32::from(APP) + 7);
    let (v, _) = out_via(
        &mut e,
        t(1),
        Gateway::Id(NAT),
        &udp_packet(late, 9, REMOTE, 53, b""),
    );
    assert_eq!(v, drop(DropReason::NatPortsExhausted));
    e.set_program(with_second());
    assert_eq!(
        e.stats().nat_flows_broken,
        0,
        "adding an address keeps every flow"
    );
    let (v, out) = out_via(
        &mut e,
        t(2),
        Gateway::Id(NAT),
        &udp_packet(late, 9, REMOTE, 53, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    let (public, port, ..) = tuple(&out);
    assert_eq!(public, second);
    let (v, back) = inbound(&mut e, t(2), &udp_packet(REMOTE, 53, second, port, b"x"));
    assert!(
        matches!(v, Verdict::ToVpc { dst, .. } if dst == late),
        "{v:?}"
    );
    assert_eq!(tuple(&back[14..]).2, late);
    // the address goes: its one flow breaks, the primary's 64,512 stay
    e.set_program(program());
    assert_eq!(e.stats().nat_flows_broken, 1);
}

#[test]
fn nat_table_full() {
    let mut e = Edge::new(EdgeConfig {
        max_flows: 2,
        ..EdgeConfig::default()
    });
    e.set_program(program());
    nat_syn(&mut e, t(0), 1);
    nat_syn(&mut e, t(0), 2);
    let (v, _) = out_via(
        &mut e,
        t(0),
        Gateway::Id(NAT),
        &tcp_packet(APP, 3, REMOTE, 80, SYN, b""),
    );
    assert_eq!(v, drop(DropReason::NatTableFull));
}

#[test]
fn too_big_with_df_gets_fragmentation_needed() {
    let mut e = edge();
    let p = udp_packet(WEB, 5000, REMOTE, 53, &[0u8; 2000]);
    let (v, out) = out_via(&mut e, t(1), Gateway::Id(IGW), &p);
    assert_eq!(v, Verdict::ToVpc { vni: VNI, dst: WEB });
    let pkt = &out[14..];
    assert!(checksums_ok(pkt));
    let ip = ipv4::Packet::new_checked(pkt).expect("ip");
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (REMOTE, WEB, ip_proto::ICMP)
    );
    let m = icmp::Packet::new_checked(ip.payload()).expect("icmp");
    assert_eq!((m.msg_type(), m.code(), m.seq()), (3, 4, 1500));
    assert_eq!(m.data(), &p[..28]);
    assert_eq!(e.stats().icmp_too_big_sent, 1);
    // without DF: not fragmented (yet), dropped with its reason
    let mut p = p;
    p[6] = 0;
    ipv4::Packet::new_unchecked(&mut p[..]).fill_checksum();
    assert_eq!(
        out_via(&mut e, t(1), Gateway::Id(IGW), &p).0,
        drop(DropReason::NeedsFragmentation)
    );
}

#[test]
fn gateway_inference() {
    let mut e = edge();
    // public mapping → IGW
    let (v, out) = out_via(
        &mut e,
        t(1),
        Gateway::Infer,
        &udp_packet(WEB, 1, REMOTE, 2, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(tuple(&out).0, WEB_PUBLIC);
    // no mapping, one NAT gateway → NAT
    let (v, out) = out_via(
        &mut e,
        t(1),
        Gateway::Infer,
        &udp_packet(APP, 1, REMOTE, 2, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(tuple(&out).0, NAT_PUBLIC);
    // the gateway MAC names the NAT even for a source with a public IP
    let mut f = from_instance(&udp_packet(WEB, 7, REMOTE, 2, b""));
    f[0..6].copy_from_slice(&gateway_mac(NAT).0);
    let mut out = Vec::new();
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Infer, &f, &mut out),
        Verdict::ToInternet
    );
    assert_eq!(tuple(&out).0, NAT_PUBLIC);
    // two NAT gateways and no hint: ambiguous
    let mut p = program();
    let mut second = p.nat_gateways[0].clone();
    second.nat_id = "nat-0b".into();
    second.public_ip = Ipv4Addr::new(198, 51, 100, 6);
    p.nat_gateways.push(second);
    e.set_program(p);
    let (v, _) = out_via(
        &mut e,
        t(1),
        Gateway::Infer,
        &udp_packet(APP, 9, REMOTE, 2, b""),
    );
    assert_eq!(v, drop(DropReason::AmbiguousGateway));
    // ... and the existing flow still goes through its own gateway
    let (v, out) = out_via(
        &mut e,
        t(1),
        Gateway::Infer,
        &udp_packet(APP, 1, REMOTE, 2, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(tuple(&out).0, NAT_PUBLIC);
    assert_eq!(e.stats().nat_flows_broken, 0);
    // an igw of another VPC is not ours
    assert_eq!(
        out_via(
            &mut e,
            t(1),
            Gateway::Id("igw-other"),
            &udp_packet(WEB, 1, REMOTE, 2, b"")
        )
        .0,
        drop(DropReason::NoInternetGateway)
    );
}

#[test]
fn items_keys_and_json() {
    let p = program();
    let items: Vec<EdgeItem> = p.items().collect();
    let keys: Vec<String> = items.iter().map(EdgeItem::key).collect();
    assert_eq!(
        keys,
        [
            "igw/vpc-0a/igw-0a",
            "pub/vpc-0a/198.51.100.10",
            "nat/vpc-0a/nat-0a"
        ]
    );
    assert_eq!(EdgeProgram::from_items(items.clone()), p);
    let mut q = EdgeProgram::default();
    for i in items {
        q.apply(&i.key(), Some(i));
    }
    assert_eq!(q, p);
    q.apply("pub/vpc-0a/198.51.100.10", None);
    assert!(q.public_ips.is_empty());
    let json = serde_json::to_string(&p.nat_gateways[0]).expect("json");
    assert_eq!(
        json,
        r#"{"vpc_id":"vpc-0a","nat_id":"nat-0a","vni":7,"subnet_id":"subnet-0pub","private_ip":"10.0.1.5","public_ip":"198.51.100.5","state":"available"}"#
    );
    let json = serde_json::to_string(&EdgeItem::PublicIp(p.public_ips[0].clone())).expect("json");
    assert_eq!(
        json,
        r#"{"kind":"public_ip","vpc_id":"vpc-0a","public_ip":"198.51.100.10","private_ip":"10.0.1.10","eni_id":"eni-0web"}"#
    );
    let json = serde_json::to_string(&p.internet_gateways[0]).expect("json");
    assert_eq!(
        json,
        r#"{"vpc_id":"vpc-0a","igw_id":"igw-0a","vni":7,"cidrs":["10.0.0.0/16"],"ipv6_cidrs":["2600:1f00:0:100::/56"]}"#
    );
    // an item from before IPv6 reads as one without IPv6 blocks
    let old: crate::program::InternetGatewayItem = serde_json::from_str(
        r#"{"vpc_id":"vpc-0a","igw_id":"igw-0a","vni":7,"cidrs":["10.0.0.0/16"]}"#,
    )
    .expect("json");
    assert!(old.ipv6_cidrs.is_empty());
    let eigw = program6().egress_only_internet_gateways[0].clone();
    assert_eq!(eigw.key(), "eigw/vpc-0b/eigw-0b");
    let mut q = program6();
    q.apply(&eigw.key(), None);
    assert_eq!(q, program());
}

/// A gateway endpoint in a VPC without an internet gateway: flows to the service's
/// addresses leave from ENDPOINT_SOURCE and their replies come back (told apart by port
/// alone, the address being shared); other destinations are refused; removed from the
/// program, its flows are broken.
#[test]
fn gateway_endpoint_without_an_internet_gateway() {
    use crate::program::{ENDPOINT_SOURCE, GatewayEndpointItem};
    const VPCE: &str = "vpce-0s3";
    let s3 = Ipv4Addr::new(52, 216, 0, 1);
    let endpoint = GatewayEndpointItem {
        vpc_id: "vpc-2".into(),
        vpce_id: VPCE.into(),
        vni: 77,
        cidrs: vec!["10.9.0.0/16".parse().unwrap()],
        destinations: vec!["52.216.0.0/15".parse().unwrap()],
    };
    let mut p = program();
    p.gateway_endpoints.push(endpoint.clone());
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(p.clone());
    let inst = Ipv4Addr::new(10, 9, 1, 5);
    let send = |e: &mut Edge, gw: Gateway<'_>, pkt: &[u8]| {
        let mut f = from_instance(pkt);
        if gw == Gateway::Infer {
            f[0..6].copy_from_slice(&gateway_mac(VPCE).0);
        }
        let mut out = Vec::new();
        let v = e.process_from_vpc(t(1), 77, gw, &f, &mut out);
        (v, out)
    };
    let (v, out) = send(
        &mut e,
        Gateway::Infer,
        &tcp_packet(inst, 40000, s3, 80, SYN, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    let (src, port, dst, dport) = tuple(&out);
    assert_eq!((src, dst, dport), (ENDPOINT_SOURCE, s3, 80));
    assert_eq!(out, tcp_packet(ENDPOINT_SOURCE, port, s3, 80, SYN, b""));
    let (v, back) = inbound(
        &mut e,
        t(2),
        &tcp_packet(s3, 80, ENDPOINT_SOURCE, port, SYN | ACK, b""),
    );
    assert_eq!(v, Verdict::ToVpc { vni: 77, dst: inst });
    assert_eq!(
        &back[14..],
        &tcp_packet(s3, 80, inst, 40000, SYN | ACK, b"")[..]
    );
    // the service's side learns which endpoint, VPC and client the flow is
    let service = std::net::SocketAddrV4::new(s3, 80);
    assert_eq!(
        e.endpoint_flow(service, port),
        Some(crate::EndpointFlow {
            vpc_endpoint_id: VPCE.into(),
            vpc_id: "vpc-2".into(),
            client: std::net::SocketAddrV4::new(inst, 40000),
        })
    );
    assert_eq!(e.endpoint_flow(service, port.wrapping_add(1)), None);
    assert_eq!(
        e.endpoint_flow(std::net::SocketAddrV4::new(s3, 443), port),
        None
    );
    // a VPC with the same blocks and its own endpoint: the same client address and port
    // leave by another port, and are told apart
    let twin = GatewayEndpointItem {
        vpc_id: "vpc-3".into(),
        vpce_id: "vpce-0twin".into(),
        vni: 78,
        ..endpoint.clone()
    };
    let mut both = p.clone();
    both.gateway_endpoints.push(twin);
    e.set_program(both);
    let mut f = from_instance(&tcp_packet(inst, 40000, s3, 80, SYN, b""));
    f[0..6].copy_from_slice(&gateway_mac("vpce-0twin").0);
    let mut out2 = Vec::new();
    assert_eq!(
        e.process_from_vpc(t(1), 78, Gateway::Infer, &f, &mut out2),
        Verdict::ToInternet
    );
    let (_, port2, _, _) = tuple(&out2);
    assert_ne!(port2, port);
    assert_eq!(
        e.endpoint_flow(service, port2)
            .map(|f| (f.vpc_endpoint_id, f.vpc_id)),
        Some(("vpce-0twin".to_owned(), "vpc-3".to_owned()))
    );
    assert_eq!(
        e.endpoint_flow(service, port).map(|f| f.vpc_endpoint_id),
        Some(VPCE.to_owned())
    );
    // only the service's addresses
    let (v, _) = send(
        &mut e,
        Gateway::Id(VPCE),
        &tcp_packet(inst, 40001, REMOTE, 80, SYN, b""),
    );
    assert_eq!(v, drop(DropReason::EndpointDestination));
    // the endpoint goes: its flow is broken
    e.set_program(program());
    let (v, _) = inbound(
        &mut e,
        t(3),
        &tcp_packet(s3, 80, ENDPOINT_SOURCE, port, ACK, b""),
    );
    assert!(matches!(v, Verdict::Drop { .. }), "{v:?}");
}

/// A frame the route table sent to the virtual private gateway (its gateway MAC).
fn to_vgw(pkt: &[u8]) -> Vec<u8> {
    let mut f = from_instance(pkt);
    f[0..6].copy_from_slice(&gateway_mac(VGW).0);
    f
}

#[test]
fn vpn_takes_the_gateways_frames_by_its_routes() {
    let mut e = Edge::new(EdgeConfig::default());
    let mut p = program();
    p.vpn_connections = vec![
        vpn_item("vpn-0wide", &["192.168.0.0/16"]),
        vpn_item("vpn-0narrow", &["192.168.3.0/24"]),
    ];
    e.set_program(p);
    let pkt = icmp_echo(APP, COMPANY, false, 1, 1);
    let mut out = Vec::new();
    // the most specific route's connection takes it, the bare packet untouched
    let v = e.process_from_vpc(t(1), VNI, Gateway::Infer, &to_vgw(&pkt), &mut out);
    assert_eq!(v, Verdict::ToVpn { connection: 1 });
    assert_eq!(out, pkt);
    let other = icmp_echo(APP, Ipv4Addr::new(192, 168, 9, 9), false, 1, 1);
    let v = e.process_from_vpc(t(1), VNI, Gateway::Infer, &to_vgw(&other), &mut out);
    assert_eq!(v, Verdict::ToVpn { connection: 0 });
    // no route of the gateway's connections covers it: dropped, not sent to the internet
    let nowhere = icmp_echo(APP, Ipv4Addr::new(172, 16, 0, 1), false, 1, 1);
    let v = e.process_from_vpc(t(1), VNI, Gateway::Infer, &to_vgw(&nowhere), &mut out);
    assert_eq!(v, drop(DropReason::NoVpnRoute));
    // the internet gateway's frames are not the VPN's
    let (v, _) = out_via(
        &mut e,
        t(1),
        Gateway::Infer,
        &udp_packet(WEB, 5353, COMPANY, 53, b"x"),
    );
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(e.stats().vpn_outbound, 2);
}

#[test]
fn vpn_delivers_into_its_vpc_only() {
    let mut e = Edge::new(EdgeConfig::default());
    let mut p = program();
    p.vpn_connections = vec![vpn_item("vpn-0wide", &["192.168.0.0/16"])];
    e.set_program(p);
    let pkt = icmp_echo(COMPANY, APP, false, 7, 1);
    let mut out = Vec::new();
    assert_eq!(
        e.process_from_vpn(0, &pkt, &mut out),
        Verdict::ToVpc { vni: VNI, dst: APP }
    );
    assert_eq!(&out[ethernet::HEADER_LEN..], &pkt[..]);
    assert_eq!(out[12..14], ethernet::ethertype::IPV4.to_be_bytes());
    // outside the VPC's blocks, or a connection that is gone
    let astray = icmp_echo(COMPANY, REMOTE, false, 7, 1);
    assert_eq!(
        e.process_from_vpn(0, &astray, &mut out),
        drop(DropReason::VpnDestination)
    );
    assert_eq!(
        e.process_from_vpn(5, &pkt, &mut out),
        drop(DropReason::VpnDestination)
    );
    assert_eq!(e.stats().vpn_inbound, 1);
}

/// A VPN connection ending at a transit gateway: its table's routes decide which VPC a
/// packet from the tunnels enters, by longest prefix, through which attachment (its
/// MAC, for the receiving host's ACL); a blackhole more specific than a VPC's route
/// drops; and any VPC on the gateway may send to it.
#[test]
fn transit_vpn_delivers_into_every_vpc_its_table_routes_to() {
    use crate::program::TransitGatewayVpnRoutesItem;
    let mut e = Edge::new(EdgeConfig::default());
    let mut p = program();
    let mut c = vpn_item("vpn-0tgw", &["0.0.0.0/0"]);
    c.vpn_gateway_id = "tgw-attach-0vpn".into();
    c.transit_drops = vec!["10.1.9.0/24".parse().unwrap()];
    p.vpn_connections = vec![c];
    let into = |vpc: &str, vni: u32, att: &str, ds: &[&str]| TransitGatewayVpnRoutesItem {
        vpc_id: vpc.into(),
        vpn_connection_id: "vpn-0tgw".into(),
        vni,
        attachment_id: att.into(),
        destinations: ds.iter().map(|d| d.parse().unwrap()).collect(),
    };
    p.transit_gateway_vpn_routes = vec![
        into(VPC, VNI, "tgw-attach-0a", &["10.0.0.0/16"]),
        into(VPC2, VNI2, "tgw-attach-0b", &["10.1.0.0/16", "10.0.2.0/24"]),
    ];
    e.set_program(p);
    let mut out = Vec::new();
    let from = |dst: Ipv4Addr| icmp_echo(COMPANY, dst, false, 7, 1);
    assert_eq!(
        e.process_from_vpn(0, &from(WEB), &mut out),
        Verdict::ToVpcThroughAttachment {
            vni: VNI,
            dst: WEB,
            attachment: gateway_mac("tgw-attach-0a"),
        }
    );
    // the longer prefix goes to the other VPC
    assert_eq!(
        e.process_from_vpn(0, &from(APP), &mut out),
        Verdict::ToVpcThroughAttachment {
            vni: VNI2,
            dst: APP,
            attachment: gateway_mac("tgw-attach-0b"),
        }
    );
    let b = Ipv4Addr::new(10, 1, 2, 3);
    assert!(matches!(
        e.process_from_vpn(0, &from(b), &mut out),
        Verdict::ToVpcThroughAttachment { vni: VNI2, .. }
    ));
    for nowhere in [Ipv4Addr::new(10, 1, 9, 9), Ipv4Addr::new(10, 9, 0, 1)] {
        assert_eq!(
            e.process_from_vpn(0, &from(nowhere), &mut out),
            drop(DropReason::VpnDestination)
        );
    }
    // out: both VPCs' hosts send to the attachment's MAC, whatever their VNI
    for vni in [VNI, VNI2] {
        let mut f = from_instance(&icmp_echo(APP, COMPANY, false, 1, 1));
        f[0..6].copy_from_slice(&gateway_mac("tgw-attach-0vpn").0);
        assert_eq!(
            e.process_from_vpc(t(1), vni, Gateway::Infer, &f, &mut out),
            Verdict::ToVpn { connection: 0 }
        );
    }
}
