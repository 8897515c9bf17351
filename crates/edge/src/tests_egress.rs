//! Centralised egress at the edge: a spoke VPC's instance (10.1.0.0/16, VNI2) leaves by
//! the NAT gateway of the egress VPC (VPC, VNI) through a transit gateway; the replies
//! go back into the spoke by the egress VPC's attachment table.

use crate::fixtures::*;
use crate::program::{TransitGatewayEgressRoutesItem, gateway_mac};
use crate::{DropReason, Edge, EdgeConfig, Gateway, Time, Verdict};
use fort_dataplane::wire::tcp;
use std::net::Ipv4Addr;

const SPOKE: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);

fn t(s: u64) -> Time {
    Time::from_secs(s)
}

fn edge(destinations: &[&str], drops: &[&str]) -> Edge {
    let mut p = program();
    p.transit_gateway_egress_routes = vec![TransitGatewayEgressRoutesItem {
        vpc_id: VPC2.into(),
        vni: VNI2,
        attachment_id: "tgw-attach-0b".into(),
        egress_vpc_id: VPC.into(),
        egress_attachment_id: "tgw-attach-0a".into(),
        destinations: destinations.iter().map(|d| d.parse().unwrap()).collect(),
        drops: drops.iter().map(|d| d.parse().unwrap()).collect(),
    }];
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(p);
    e
}

/// The spoke's packet as its host sends it to the NAT gateway: in the egress VPC's
/// number, to the NAT gateway's MAC.
fn out(e: &mut Edge, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut f = from_instance(pkt);
    f[0..6].copy_from_slice(&gateway_mac(NAT).0);
    let mut o = Vec::new();
    let v = e.process_from_vpc(t(1), VNI, Gateway::Infer, &f, &mut o);
    (v, o)
}

#[test]
fn a_spokes_flow_leaves_by_the_nat_and_its_replies_go_back_into_the_spoke() {
    let mut e = edge(&["10.1.0.0/16"], &[]);
    let (v, o) = out(
        &mut e,
        &tcp_packet(SPOKE, 40000, REMOTE, 80, tcp::flags::SYN, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    let (src, port, dst, dport) = tuple(&o);
    assert_eq!((src, dst, dport), (NAT_PUBLIC, REMOTE, 80));
    assert!(checksums_ok(&o));
    // the reply: into the spoke, from the NAT gateway's MAC, untranslated back
    let reply = tcp_packet(
        REMOTE,
        80,
        NAT_PUBLIC,
        port,
        tcp::flags::SYN | tcp::flags::ACK,
        b"",
    );
    let mut o = Vec::new();
    assert_eq!(
        e.process_from_internet(t(2), &reply, &mut o),
        Verdict::ToVpcThroughAttachment {
            vni: VNI2,
            dst: SPOKE,
            attachment: gateway_mac(NAT),
        }
    );
    let back = &o[14..];
    assert_eq!(tuple(back), (REMOTE, 80, SPOKE, 40000));
    assert!(checksums_ok(back));
    // ping too
    let (v, o) = out(&mut e, &icmp_echo(SPOKE, REMOTE, false, 9, 1));
    assert_eq!(v, Verdict::ToInternet);
    let (_, ident, _, _) = tuple(&o);
    let mut back = Vec::new();
    assert!(matches!(
        e.process_from_internet(
            t(2),
            &icmp_echo(REMOTE, NAT_PUBLIC, true, ident, 1),
            &mut back
        ),
        Verdict::ToVpcThroughAttachment { vni: VNI2, .. }
    ));
    // the egress VPC's own instances are answered as before
    let (v, o) = out(
        &mut e,
        &tcp_packet(APP, 40001, REMOTE, 80, tcp::flags::SYN, b""),
    );
    assert_eq!(v, Verdict::ToInternet);
    let (_, port, _, _) = tuple(&o);
    let reply = tcp_packet(REMOTE, 80, NAT_PUBLIC, port, tcp::flags::ACK, b"");
    assert_eq!(
        e.process_from_internet(t(2), &reply, &mut back),
        Verdict::ToVpc { vni: VNI, dst: APP }
    );
    // nothing starts from outside
    let syn = tcp_packet(REMOTE, 80, NAT_PUBLIC, 50000, tcp::flags::SYN, b"");
    assert_eq!(
        e.process_from_internet(t(2), &syn, &mut back),
        Verdict::Drop {
            reason: DropReason::NatNoFlow
        }
    );
}

/// Replies for what the egress VPC's table does not send into a VPC (no route, or a
/// more specific drop) are dropped at the edge.
#[test]
fn replies_the_egress_table_does_not_route_are_dropped() {
    for (destinations, drops) in [
        (&["10.2.0.0/16"][..], &[][..]),
        (&["10.1.0.0/16"][..], &["10.1.2.0/24"][..]),
    ] {
        let mut e = edge(destinations, drops);
        let (v, o) = out(
            &mut e,
            &tcp_packet(SPOKE, 40000, REMOTE, 80, tcp::flags::SYN, b""),
        );
        assert_eq!(v, Verdict::ToInternet);
        let (_, port, _, _) = tuple(&o);
        let reply = tcp_packet(REMOTE, 80, NAT_PUBLIC, port, tcp::flags::ACK, b"");
        let mut back = Vec::new();
        assert_eq!(
            e.process_from_internet(t(2), &reply, &mut back),
            Verdict::Drop {
                reason: DropReason::TransitEgressNoRoute
            }
        );
        assert_eq!(e.stats().nat_inbound, 0);
    }
}

/// What the edge answers a spoke's packet itself ("fragmentation needed" past the
/// gateway's MTU) goes back into the spoke as the NAT gateway's replies do.
#[test]
fn the_edges_answers_to_a_spoke_go_back_through_the_gateway() {
    let mut e = edge(&["10.1.0.0/16"], &[]);
    let big = udp_packet(SPOKE, 5000, REMOTE, 53, &[0u8; 2000]);
    let (v, o) = out(&mut e, &big);
    assert_eq!(
        v,
        Verdict::ToVpcThroughAttachment {
            vni: VNI2,
            dst: SPOKE,
            attachment: gateway_mac(NAT),
        }
    );
    let (src, _, dst, _) = tuple(&o[14..]);
    assert_eq!((src, dst), (REMOTE, SPOKE));
    assert!(checksums_ok(&o[14..]));
}
