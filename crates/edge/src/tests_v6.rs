//! IPv6 at the edge: the internet gateway routes the VPC's addresses as they are; the
//! egress-only gateway lets connections out and only their replies in.

use crate::fixtures::*;
use crate::program::EgressOnlyInternetGatewayItem;
use crate::{DropReason, Edge, EdgeConfig, Gateway, Time, Verdict};
use fort_dataplane::wire::{ethernet, icmpv6, ip_proto, ipv6, tcp};
use std::net::Ipv6Addr;

const SYN: u16 = tcp::flags::SYN;
const ACK: u16 = tcp::flags::ACK;
const FIN: u16 = tcp::flags::FIN;
const RST: u16 = tcp::flags::RST;

fn edge() -> Edge {
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(program6());
    e
}

fn t(s: u64) -> Time {
    Time::from_secs(s)
}

fn drop(r: DropReason) -> Verdict {
    Verdict::Drop { reason: r }
}

/// From VPC `vni` toward the gateway `gw` (its MAC on the frame; inferred).
fn out6(e: &mut Edge, now: Time, vni: u32, gw: &str, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut out = Vec::new();
    let v = e.process_from_vpc(now, vni, Gateway::Infer, &from_instance6(pkt, gw), &mut out);
    (v, out)
}

fn in6(e: &mut Edge, now: Time, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut out = Vec::new();
    let v = e.process_from_internet(now, pkt, &mut out);
    (v, out)
}

#[test]
fn internet_gateway_routes_ipv6_untranslated_both_ways() {
    let mut e = edge();
    let syn = tcp6_packet(WEB6, 40000, REMOTE6, 443, SYN, b"");
    let (v, out) = out6(&mut e, t(1), VNI, IGW, &syn);
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(out, syn, "not one byte changed");
    // Ethernet padding after the packet is not carried
    let mut padded = from_instance6(&syn, IGW);
    padded.extend_from_slice(&[0; 6]);
    let mut o = Vec::new();
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Id(IGW), &padded, &mut o),
        Verdict::ToInternet
    );
    assert_eq!(o, syn);
    // in: any connection the instance's groups allow (they decide on its host)
    let in_syn = tcp6_packet(REMOTE6, 5555, WEB6, 22, SYN, b"");
    let (v, out) = in6(&mut e, t(1), &in_syn);
    assert_eq!(
        v,
        Verdict::ToVpc6 {
            vni: VNI,
            dst: WEB6
        }
    );
    assert_eq!(&out[12..14], &ethernet::ethertype::IPV6.to_be_bytes());
    assert_eq!(&out[14..], &in_syn[..]);
    let s = e.stats();
    assert_eq!((s.igw_outbound6, s.igw_inbound6), (2, 1));
}

#[test]
fn only_the_vpcs_addresses_leave_and_only_global_ones() {
    let mut e = edge();
    // a source outside the VPC's blocks (another instance's spoof would be stopped by
    // its own host; the gateway checks too)
    let other: Ipv6Addr = "2600:1f00:0:999::1".parse().unwrap();
    let (v, _) = out6(
        &mut e,
        t(1),
        VNI,
        IGW,
        &udp6_packet(other, 1, REMOTE6, 53, b"q"),
    );
    assert_eq!(v, drop(DropReason::Ipv6Source));
    for dst in [
        "fe80::1",
        "ff02::1",
        "::1",
        "::ffff:203.0.113.7",
        "2600:1f00:0:101::9",
    ] {
        let dst: Ipv6Addr = dst.parse().unwrap();
        let (v, _) = out6(&mut e, t(1), VNI, IGW, &udp6_packet(WEB6, 1, dst, 53, b"q"));
        assert_eq!(v, drop(DropReason::Ipv6Destination), "{dst}");
    }
    // from the internet to no VPC served, or from a link-local source
    let nowhere: Ipv6Addr = "2600:1f00:0:900::1".parse().unwrap();
    let (v, _) = in6(&mut e, t(1), &udp6_packet(REMOTE6, 53, nowhere, 1, b"a"));
    assert_eq!(v, drop(DropReason::Ipv6Destination));
    let ll: Ipv6Addr = "fe80::7".parse().unwrap();
    let (v, _) = in6(&mut e, t(1), &udp6_packet(ll, 53, WEB6, 1, b"a"));
    assert_eq!(v, drop(DropReason::Ipv6Destination));
    // a NAT gateway carries no IPv6 (AWS's NAT64 is not modelled)
    let mut out = Vec::new();
    let f = from_instance6(&udp6_packet(WEB6, 1, REMOTE6, 53, b"q"), NAT);
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Infer, &f, &mut out),
        drop(DropReason::Ipv6)
    );
    assert_eq!(
        e.process_from_vpc(t(1), VNI, Gateway::Id(NAT), &f, &mut out),
        drop(DropReason::Ipv6)
    );
}

#[test]
fn too_big_for_the_gateway_gets_packet_too_big() {
    let mut e = edge();
    let big = udp6_packet(WEB6, 5000, REMOTE6, 53, &[7; 1600]);
    let (v, out) = out6(&mut e, t(1), VNI, IGW, &big);
    assert_eq!(
        v,
        Verdict::ToVpc6 {
            vni: VNI,
            dst: WEB6
        }
    );
    let ip = ipv6::Packet::new_checked(&out[14..]).unwrap();
    assert_eq!(
        (ip.src(), ip.dst(), ip.next_header()),
        (REMOTE6, WEB6, ip_proto::ICMPV6)
    );
    assert_eq!(ip.total_len(), 1280, "the quote fills the minimum MTU");
    let msg = icmpv6::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(msg.msg_type(), icmpv6::kind::PACKET_TOO_BIG);
    assert!(msg.verify_checksum(REMOTE6, WEB6));
    assert_eq!(&ip.payload()[4..8], &1500u32.to_be_bytes());
    assert_eq!(
        &ip.payload()[8..48],
        &big[..40],
        "the quote starts with the packet"
    );
    assert!(checksums6_ok(&out[14..]));
    assert_eq!(e.stats().drops(DropReason::TooBig), 1);
    // exactly the MTU goes
    let fits = udp6_packet(WEB6, 5000, REMOTE6, 53, &[7; 1500 - 48]);
    assert_eq!(out6(&mut e, t(1), VNI, IGW, &fits).0, Verdict::ToInternet);
}

#[test]
fn egress_only_gateway_lets_connections_out_and_replies_in() {
    let mut e = edge();
    // nothing starts from outside
    let probe = tcp6_packet(REMOTE6, 443, APP6, 40000, SYN, b"");
    assert_eq!(
        in6(&mut e, t(1), &probe).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    let ping = icmp6_echo(REMOTE6, APP6, false, 9, 1);
    assert_eq!(
        in6(&mut e, t(1), &ping).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    // out: untranslated, remembered
    let syn = tcp6_packet(APP6, 40000, REMOTE6, 443, SYN, b"");
    let (v, out) = out6(&mut e, t(1), VNI2, EIGW, &syn);
    assert_eq!(v, Verdict::ToInternet);
    assert_eq!(out, syn);
    assert_eq!(e.egress_only_flows(), 1);
    // its reply comes in
    let synack = tcp6_packet(REMOTE6, 443, APP6, 40000, SYN | ACK, b"");
    let (v, out) = in6(&mut e, t(2), &synack);
    assert_eq!(
        v,
        Verdict::ToVpc6 {
            vni: VNI2,
            dst: APP6
        }
    );
    assert_eq!(&out[14..], &synack[..]);
    // another port, another remote host, the same port from another protocol: no
    let other = tcp6_packet(REMOTE6, 443, APP6, 40001, SYN | ACK, b"");
    assert_eq!(
        in6(&mut e, t(2), &other).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    let elsewhere: Ipv6Addr = "2001:db8:ffff::8".parse().unwrap();
    let spoof = tcp6_packet(elsewhere, 443, APP6, 40000, SYN | ACK, b"");
    assert_eq!(
        in6(&mut e, t(2), &spoof).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    let udp = udp6_packet(REMOTE6, 443, APP6, 40000, b"x");
    assert_eq!(
        in6(&mut e, t(2), &udp).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    // ping out, its reply in (by identifier)
    let req = icmp6_echo(APP6, REMOTE6, false, 77, 1);
    assert_eq!(out6(&mut e, t(3), VNI2, EIGW, &req).0, Verdict::ToInternet);
    let rep = icmp6_echo(REMOTE6, APP6, true, 77, 1);
    assert_eq!(
        in6(&mut e, t(3), &rep).0,
        Verdict::ToVpc6 {
            vni: VNI2,
            dst: APP6
        }
    );
    let wrong = icmp6_echo(REMOTE6, APP6, true, 78, 1);
    assert_eq!(
        in6(&mut e, t(3), &wrong).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    // an error about one of the connection's packets comes in (path MTU discovery),
    // one about a packet the VPC never sent does not
    let router: Ipv6Addr = "2001:db8:ffff::fe".parse().unwrap();
    let err = icmp6_error(router, icmpv6::kind::PACKET_TOO_BIG, &syn);
    assert_eq!(
        in6(&mut e, t(4), &err).0,
        Verdict::ToVpc6 {
            vni: VNI2,
            dst: APP6
        }
    );
    let never = tcp6_packet(APP6, 1, REMOTE6, 2, SYN, b"");
    let err = icmp6_error(router, icmpv6::kind::DEST_UNREACHABLE, &never);
    assert_eq!(
        in6(&mut e, t(4), &err).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    let s = e.stats();
    assert_eq!(
        (s.eigw_outbound, s.eigw_inbound, s.eigw_flows_created),
        (2, 3, 2)
    );
    // idle past the timeout: gone, even before it is swept
    let late = t(2 + 350);
    assert_eq!(
        in6(&mut e, late, &synack).0,
        drop(DropReason::EgressOnlyNoFlow)
    );
    assert_eq!(e.expire(t(2 + 360)), 2);
    assert_eq!(e.egress_only_flows(), 0);
    // the egress-only gateway carries no IPv4
    let mut o = Vec::new();
    let v4 = from_instance(&udp_packet(APP, 1, REMOTE, 53, b"q"));
    assert_eq!(
        e.process_from_vpc(t(400), VNI2, Gateway::Id(EIGW), &v4, &mut o),
        drop(DropReason::UnknownGateway)
    );
}

#[test]
fn removing_the_egress_only_gateway_ends_its_connections() {
    let mut e = edge();
    let syn = tcp6_packet(APP6, 40000, REMOTE6, 443, SYN, b"");
    assert_eq!(out6(&mut e, t(1), VNI2, EIGW, &syn).0, Verdict::ToInternet);
    // another change of the program keeps them
    e.set_program(program6());
    assert_eq!(e.egress_only_flows(), 1);
    e.set_program(program());
    assert_eq!(e.egress_only_flows(), 0);
    assert_eq!(
        out6(&mut e, t(2), VNI2, EIGW, &syn).0,
        drop(DropReason::UnknownVni)
    );
    let synack = tcp6_packet(REMOTE6, 443, APP6, 40000, SYN | ACK, b"");
    assert_eq!(
        in6(&mut e, t(2), &synack).0,
        drop(DropReason::Ipv6Destination)
    );
}

#[test]
fn with_both_gateways_the_internet_gateway_lets_in() {
    let mut p = program6();
    p.egress_only_internet_gateways
        .push(EgressOnlyInternetGatewayItem {
            vpc_id: VPC.into(),
            eigw_id: "eigw-0a".into(),
            vni: VNI,
            ipv6_cidrs: vec![VPC6.parse().unwrap()],
        });
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(p);
    // out through either, as the route table says
    let syn = tcp6_packet(WEB6, 40000, REMOTE6, 443, SYN, b"");
    assert_eq!(
        out6(&mut e, t(1), VNI, "eigw-0a", &syn).0,
        Verdict::ToInternet
    );
    assert_eq!(out6(&mut e, t(1), VNI, IGW, &syn).0, Verdict::ToInternet);
    let s = e.stats();
    assert_eq!((s.eigw_outbound, s.igw_outbound6), (1, 1));
    // in, unsolicited, by the internet gateway
    let probe = tcp6_packet(REMOTE6, 443, WEB6, 22, SYN, b"");
    assert_eq!(
        in6(&mut e, t(1), &probe).0,
        Verdict::ToVpc6 {
            vni: VNI,
            dst: WEB6
        }
    );
}

/// TCP through the egress-only gateway ends early: a RST either way forgets the
/// connection (the RST itself passes), both FINs start a linger (4 s) after which the
/// remote's packets are dropped; a SYN from inside opens the connection again.
#[test]
fn egress_only_gateway_forgets_tcp_on_rst_and_after_both_fins() {
    let mut e = edge();
    let ms = |ms: u64| Time(ms * 1_000_000);
    let o = |f| tcp6_packet(APP6, 40000, REMOTE6, 443, f, b"");
    let i = |f| tcp6_packet(REMOTE6, 443, APP6, 40000, f, b"");
    let inside = Verdict::ToVpc6 {
        vni: VNI2,
        dst: APP6,
    };
    let no = drop(DropReason::EgressOnlyNoFlow);
    assert_eq!(
        out6(&mut e, t(1), VNI2, EIGW, &o(SYN)).0,
        Verdict::ToInternet
    );
    assert_eq!(in6(&mut e, t(1), &i(SYN | ACK)).0, inside);
    // the remote closes first, then the instance: both FINs at 2 s
    assert_eq!(in6(&mut e, t(2), &i(FIN | ACK)).0, inside);
    assert_eq!(
        in6(&mut e, t(2), &i(ACK)).0,
        inside,
        "half closed: still open"
    );
    assert_eq!(
        out6(&mut e, t(2), VNI2, EIGW, &o(FIN | ACK)).0,
        Verdict::ToInternet
    );
    // the last ACK and a retransmitted FIN within the linger still come in
    assert_eq!(in6(&mut e, ms(5_999), &i(FIN | ACK)).0, inside);
    assert_eq!(in6(&mut e, ms(6_000), &i(ACK)).0, no, "forgotten 4 s after");
    assert_eq!(e.expire(ms(6_000)), 1);
    assert_eq!(e.stats().eigw_flows_closed, 1);
    assert_eq!(e.egress_only_flows(), 0);
    // an ACK from inside now starts a new connection (as any packet out does)
    assert_eq!(
        out6(&mut e, t(7), VNI2, EIGW, &o(ACK)).0,
        Verdict::ToInternet
    );
    assert_eq!(in6(&mut e, t(7), &i(ACK)).0, inside);
    // a RST from outside goes in, then the connection is gone
    assert_eq!(in6(&mut e, t(8), &i(RST)).0, inside);
    assert_eq!(in6(&mut e, t(8), &i(ACK)).0, no);
    assert_eq!(in6(&mut e, t(8), &i(RST)).0, no);
    // a RST from inside goes out and forgets it too
    assert_eq!(
        out6(&mut e, t(9), VNI2, EIGW, &o(SYN)).0,
        Verdict::ToInternet
    );
    assert_eq!(
        out6(&mut e, t(9), VNI2, EIGW, &o(RST | ACK)).0,
        Verdict::ToInternet
    );
    assert_eq!(in6(&mut e, t(9), &i(ACK)).0, no);
    assert_eq!(e.egress_only_flows(), 0, "a RST out creates nothing");
    // after both FINs, a new SYN from inside opens it again with no linger
    assert_eq!(
        out6(&mut e, t(10), VNI2, EIGW, &o(SYN)).0,
        Verdict::ToInternet
    );
    assert_eq!(
        out6(&mut e, t(11), VNI2, EIGW, &o(FIN | ACK)).0,
        Verdict::ToInternet
    );
    assert_eq!(in6(&mut e, t(11), &i(FIN | ACK)).0, inside);
    assert_eq!(
        out6(&mut e, t(12), VNI2, EIGW, &o(SYN)).0,
        Verdict::ToInternet
    );
    assert_eq!(in6(&mut e, t(30), &i(SYN | ACK)).0, inside);
    let s = e.stats();
    assert_eq!((s.eigw_flows_closed, s.eigw_flows_created), (3, 5));
}
