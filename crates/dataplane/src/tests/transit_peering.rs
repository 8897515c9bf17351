//! Transit gateway peering in the engine: VPC-1 (A, host 1) is attached to tgw-1, VPC-2
//! (B, 10.1.0.0/16, host 2) and VPC-3 (X, 10.2.0.0/16, host 2) to tgw-2, and the two
//! gateways are peered by `tgw-attach-p`. tgw-1's table of A's attachment sends 10.1/16
//! to the peering; tgw-2's table associated with the peering sends it on to B's
//! attachment (10.1.9.0/24 to a blackhole, 10.7/16 to another peering, and nothing to
//! X); B's table sends 10.0/16 back to the peering, where tgw-1's table sends it to A.

use crate::fixtures::*;
use crate::program::*;
use crate::wire::MacAddr;
use crate::wire::ipv4;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::{DropReason, Engine, PortId, Time, Verdict};
use std::net::{Ipv4Addr, Ipv6Addr};

const B2_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 5);
const B2_MAC: MacAddr = MacAddr([2, 0, 0, 2, 1, 5]);
const X_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 1, 7);
const X_MAC: MacAddr = MacAddr([2, 0, 0, 3, 1, 7]);
const VNI2: u32 = 0x2222;
const VNI3: u32 = 0x3333;
const PEERING: &str = "tgw-attach-p";

fn t(s: u64) -> Time {
    Time::from_secs(s)
}

fn route(dst: &str, target: TransitGatewayTarget) -> TransitGatewayRoute {
    TransitGatewayRoute {
        destination: net(dst),
        target,
    }
}

fn to(vpc: &str) -> TransitGatewayTarget {
    TransitGatewayTarget::Vpc {
        attachment_id: format!("tgw-attach-{vpc}"),
        vpc_id: format!("vpc-{vpc}"),
    }
}

/// Across the peering, to the peer gateway's table `table` holding `routes`.
fn across(table: &str, routes: Vec<TransitGatewayRoute>) -> TransitGatewayTarget {
    TransitGatewayTarget::Peering {
        attachment_id: PEERING.into(),
        route_table_id: table.into(),
        routes,
        routes_v6: vec![],
    }
}

fn attachment(
    vpc: &str,
    tgw: &str,
    subnet: &str,
    routes: Vec<TransitGatewayRoute>,
    senders: &[&str],
) -> TransitGatewayAttachment {
    TransitGatewayAttachment {
        id: format!("tgw-attach-{vpc}"),
        transit_gateway_id: tgw.into(),
        subnet_ids: vec![subnet.into()],
        appliance_mode: false,
        route_table_id: format!("tgw-rtb-{vpc}"),
        routes,
        routes_v6: vec![],
        senders: senders.iter().map(|s| format!("vpc-{s}")).collect(),
    }
}

/// tgw-2's table associated with the peering.
fn peer_side_of_tgw2() -> Vec<TransitGatewayRoute> {
    vec![
        route("10.1.0.0/16", to("2")),
        route("10.1.9.0/24", TransitGatewayTarget::Blackhole),
        route(
            "10.7.0.0/16",
            TransitGatewayTarget::Peering {
                attachment_id: "tgw-attach-q".into(),
                route_table_id: "tgw-rtb-q".into(),
                routes: vec![],
                routes_v6: vec![],
            },
        ),
    ]
}

/// VPC-1 of the fixtures (A on host 1), subnet-a in zone a, 10/8 to tgw-1.
fn vpc1() -> Vpc {
    let mut v = vpc();
    v.subnets[0].availability_zone = "za".into();
    v.subnets[1].availability_zone = "zb".into();
    v.route_tables[0].routes.push(Route {
        destination: net("10.0.0.0/8"),
        target: RouteTarget::TransitGateway("tgw-1".into()),
    });
    v.transit_gateway_attachments = vec![attachment(
        "1",
        "tgw-1",
        "subnet-a",
        vec![
            route("10.1.0.0/16", across("tgw-rtb-p2", peer_side_of_tgw2())),
            route("10.2.0.0/16", across("tgw-rtb-p2", peer_side_of_tgw2())),
            route("10.7.0.0/16", across("tgw-rtb-p2", peer_side_of_tgw2())),
        ],
        &["2"],
    )];
    v
}

/// A one-subnet VPC `n` (10.n-1.0.0/16) holding `ip` on host 2, its subnet in zone `zone`,
/// routing 10/8 to tgw-2.
fn vpc_on_tgw2(n: u8, vni: u32, ip: Ipv4Addr, mac: MacAddr) -> Vpc {
    let mut v = vpc();
    let block = format!("10.{}.0.0/16", n - 1);
    v.id = format!("vpc-{n}");
    v.vni = vni;
    v.cidrs = vec![net(&block)];
    v.router_mac = MacAddr([2, 0, 0, 0, 0, n]);
    v.subnets = vec![Subnet {
        id: format!("subnet-{n}"),
        cidr: Some(net(&format!("10.{}.1.0/24", n - 1))),
        route_table_id: "rtb-main".into(),
        network_acl_id: "acl-default".into(),
        availability_zone: "zc".into(),
        ipv6_cidr: None,
    }];
    v.route_tables[0].routes = vec![
        Route {
            destination: net(&block),
            target: RouteTarget::Local,
        },
        Route {
            destination: net("10.0.0.0/8"),
            target: RouteTarget::TransitGateway("tgw-2".into()),
        },
    ];
    v.security_groups[0].ingress = vec![sg_rule(6, 22, 22, "10.0.0.0/8")];
    v.mappings = vec![Mapping {
        ip,
        host: H2,
        mac,
        eni_id: format!("eni-{n}"),
        source_dest_check: true,
    }];
    v.edges = vec![];
    v
}

fn vpc2() -> Vpc {
    let mut v = vpc_on_tgw2(2, VNI2, B2_IP, B2_MAC);
    v.transit_gateway_attachments = vec![attachment(
        "2",
        "tgw-2",
        "subnet-2",
        vec![route(
            "10.0.0.0/16",
            across("tgw-rtb-p1", vec![route("10.0.0.0/16", to("1"))]),
        )],
        &["1"],
    )];
    v
}

/// Attached to tgw-2 but routed to by no table on the peering's way.
fn vpc3() -> Vpc {
    let mut v = vpc_on_tgw2(3, VNI3, X_IP, X_MAC);
    v.transit_gateway_attachments = vec![attachment("3", "tgw-2", "subnet-3", vec![], &[])];
    v
}

fn port(n: u32, ip: Ipv4Addr, mac: MacAddr) -> Port {
    Port {
        id: format!("eni-{n}"),
        vpc_id: format!("vpc-{n}"),
        subnet_id: format!("subnet-{n}"),
        mac,
        primary_ip: Some(ip),
        secondary_ips: vec![],
        security_groups: vec!["sg-app".into()],
        source_dest_check: true,
        conntrack: ConntrackTimeouts::default(),
        hostname: None,
        instance_id: None,
        device_index: 0,
        flow_logs: false,
        ipv6_addresses: vec![],
    }
}

/// Host 1 (A) and host 2 (B and X), each serving the three VPCs.
fn hosts() -> (HostProgram, HostProgram) {
    let vpcs = vec![vpc1(), vpc2(), vpc3()];
    let mut h1 = host1();
    h1.vpcs = vpcs.clone();
    let mut h2 = host2();
    h2.vpcs = vpcs;
    h2.ports = vec![port(2, B2_IP, B2_MAC), port(3, X_IP, X_MAC)];
    (h1, h2)
}

fn pid(e: &Engine, eni: &str) -> PortId {
    e.port_id(eni).unwrap()
}

fn drop_of(v: Verdict) -> DropReason {
    match v {
        Verdict::Drop { reason } => reason,
        other => panic!("expected a drop, got {other:?}"),
    }
}

fn syn(src: Ipv4Addr, src_mac: MacAddr, dst: Ipv4Addr) -> Vec<u8> {
    tcp_frame(src_mac, ROUTER_MAC, src, dst, 40000, 22, SYN, 0)
}

#[test]
fn a_packet_crosses_the_peering_into_the_peer_gateways_vpc_and_back() {
    let (p1, p2) = hosts();
    let (mut h1, mut h2) = (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(p2).unwrap(),
    );
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-2"));
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for s in 1..3 {
        // the sender's host walks both gateways: to B's host, in B's VPC number
        assert_eq!(
            h1.process_from_port(t(s), a, &syn(A_IP, A_MAC, B2_IP), &mut wire),
            Verdict::ToUnderlay {
                host: H2,
                vni: VNI2
            }
        );
        // the receiver takes A's address from A's host across the peering
        assert_eq!(
            h2.process_from_underlay(t(s), &wire, &mut out),
            Verdict::ToPort { port: b }
        );
        assert_eq!(&out[0..6], &B2_MAC.0);
    }
    // B answers through its own attachment's table, the peering and tgw-1's table
    let reply = tcp_frame(
        B2_MAC,
        MacAddr([2, 0, 0, 0, 0, 2]),
        B2_IP,
        A_IP,
        22,
        40000,
        SYN | ACK,
        0,
    );
    assert_eq!(
        h2.process_from_port(t(3), b, &reply, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(3), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
}

#[test]
fn the_peer_gateways_table_decides_one_hop_only() {
    let (p1, _) = hosts();
    let mut h1 = Engine::with_program(p1).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    // its blackhole route drops
    assert_eq!(
        drop_of(h1.process_from_port(
            t(1),
            a,
            &syn(A_IP, A_MAC, Ipv4Addr::new(10, 1, 9, 9)),
            &mut wire
        )),
        DropReason::Blackhole
    );
    // a VPC attached to the peer gateway that its table does not route to stays unreachable
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, X_IP), &mut wire)),
        DropReason::NoRoute
    );
    // a packet that crossed one peering does not leave by another
    assert_eq!(
        drop_of(h1.process_from_port(
            t(1),
            a,
            &syn(A_IP, A_MAC, Ipv4Addr::new(10, 7, 0, 1)),
            &mut wire
        )),
        DropReason::NoRoute
    );
}

#[test]
fn removing_the_peering_route_cuts_cached_flows() {
    let (p1, _) = hosts();
    let mut h1 = Engine::with_program(p1.clone()).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    for s in 1..3 {
        assert_eq!(
            h1.process_from_port(t(s), a, &syn(A_IP, A_MAC, B2_IP), &mut wire),
            Verdict::ToUnderlay {
                host: H2,
                vni: VNI2
            }
        );
    }
    // on tgw-2's side first: its table no longer sends 10.1/16 to B's attachment
    let mut p = p1.clone();
    if let TransitGatewayTarget::Peering { routes, .. } =
        &mut p.vpcs[0].transit_gateway_attachments[0].routes[0].target
    {
        routes.retain(|r| r.destination != net("10.1.0.0/16"));
    }
    h1.set_program(p).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(3), a, &syn(A_IP, A_MAC, B2_IP), &mut wire)),
        DropReason::NoRoute
    );
    // on tgw-1's side: its route to the peering goes
    let mut h1 = Engine::with_program(p1.clone()).unwrap();
    h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, B2_IP), &mut wire);
    let mut p = p1;
    p.vpcs[0].transit_gateway_attachments[0]
        .routes
        .retain(|r| r.destination != net("10.1.0.0/16"));
    h1.set_program(p).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(2), a, &syn(A_IP, A_MAC, B2_IP), &mut wire)),
        DropReason::NoRoute
    );
}

#[test]
fn the_peer_vpcs_attachment_subnet_acl_applies() {
    // B in a subnet of its own; B's attachment in subnet-2t, whose ACL lets no SSH out
    let (mut p1, _) = hosts();
    let b = &mut p1.vpcs[1];
    b.subnets.push(Subnet {
        id: "subnet-2t".into(),
        cidr: Some(net("10.1.200.0/24")),
        route_table_id: "rtb-main".into(),
        network_acl_id: "acl-2t".into(),
        availability_zone: "zc".into(),
        ipv6_cidr: None,
    });
    let mut closed = nacl_allow_all("acl-2t");
    closed.entries.push(NaclEntry {
        rule_number: 50,
        egress: true,
        protocol: 6,
        allow: false,
        cidr: net("0.0.0.0/0"),
        port_range: Some((22, 22)),
        icmp: None,
    });
    b.network_acls.push(closed);
    b.transit_gateway_attachments[0].subnet_ids = vec!["subnet-2t".into()];
    let mut h1 = Engine::with_program(p1).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, B2_IP), &mut wire)),
        DropReason::NaclEgress
    );
}

#[test]
fn the_origin_across_the_peering_is_checked() {
    let (p1, p2) = hosts();
    let (mut h1, mut h2) = (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(p2.clone()).unwrap(),
    );
    let a = pid(&h1, "eni-a");
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, B2_IP), &mut wire);
    // A's address, sent from a host that does not hold it
    let mut forged = wire.clone();
    forged[26..30].copy_from_slice(&Ipv4Addr::new(127, 0, 0, 77).octets());
    ipv4::Packet::new_unchecked(&mut forged[14..34]).fill_checksum();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
    // with the peering gone from both sides' tables, A's host is no sender of B's VPC
    let mut p = p2;
    for v in &mut p.vpcs {
        for att in &mut v.transit_gateway_attachments {
            att.routes.clear();
            att.senders.clear();
        }
    }
    let mut h2 = Engine::with_program(p).unwrap();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &wire, &mut out)),
        DropReason::AuthenticationFailed
    );
}

// ---- IPv6 across the peering ------------------------------------------------------------
//
// The same three VPCs, dual stack: VPC-1 2001:db8:1::/56 (A), VPC-2 2001:db8:12::/56 (B),
// VPC-3 2001:db8:13::/56 (X). The gateways' tables hold the twins of their IPv4 routes.

fn b6() -> Ipv6Addr {
    "2001:db8:12:1::5".parse().unwrap()
}

fn x6() -> Ipv6Addr {
    "2001:db8:13:1::7".parse().unwrap()
}

fn route6(dst: &str, target: TransitGatewayTarget) -> TransitGatewayRoute6 {
    TransitGatewayRoute6 {
        destination: net6(dst),
        target,
    }
}

/// Across the peering, to the peer gateway's table `table` holding IPv6 `routes`.
fn across6(table: &str, routes: Vec<TransitGatewayRoute6>) -> TransitGatewayTarget {
    TransitGatewayTarget::Peering {
        attachment_id: PEERING.into(),
        route_table_id: table.into(),
        routes: vec![],
        routes_v6: routes,
    }
}

fn peer6_side_of_tgw2() -> Vec<TransitGatewayRoute6> {
    vec![
        route6("2001:db8:12::/56", to("2")),
        route6("2001:db8:12:9::/64", TransitGatewayTarget::Blackhole),
        route6(
            "2001:db8:17::/56",
            TransitGatewayTarget::Peering {
                attachment_id: "tgw-attach-q".into(),
                route_table_id: "tgw-rtb-q".into(),
                routes: vec![],
                routes_v6: vec![],
            },
        ),
    ]
}

/// VPC `v` of tgw-2 dual stack: block `block` (a /56), its subnet's /64 the block's
/// `:1::/64`, its ENI at `ip`, SSH from 2001:db8::/32 in, 2001:db8::/32 to tgw-2.
fn dual_stack_on_tgw2(v: &mut Vpc, block: &str, ip: Ipv6Addr) {
    let b = net6(block);
    v.ipv6_cidrs = vec![b];
    let seg = b.network().segments();
    v.subnets[0].ipv6_cidr = Some(net6(&format!("2001:db8:{:x}:1::/64", seg[2])));
    v.route_tables[0].routes_v6 = vec![
        Route6 {
            destination: b,
            target: RouteTarget::Local,
        },
        Route6 {
            destination: net6("2001:db8::/32"),
            target: RouteTarget::TransitGateway("tgw-2".into()),
        },
    ];
    v.security_groups[0]
        .ingress
        .push(sg_rule6(6, 22, 22, "2001:db8::/32"));
    let m = &v.mappings[0];
    v.mappings_v6 = vec![mapping6(ip, m.host, m.mac, &m.eni_id)];
}

/// [`hosts`], dual stack.
fn hosts6() -> (HostProgram, HostProgram) {
    let (mut h1, mut h2) = hosts();
    for p in [&mut h1, &mut h2] {
        let [v1, v2, v3] = &mut p.vpcs[..] else {
            panic!("three VPCs")
        };
        v1.route_tables[0].routes_v6.push(Route6 {
            destination: net6("2001:db8::/32"),
            target: RouteTarget::TransitGateway("tgw-1".into()),
        });
        v1.transit_gateway_attachments[0].routes_v6 = vec![
            route6(
                "2001:db8:12::/56",
                across6("tgw-rtb-p2", peer6_side_of_tgw2()),
            ),
            route6(
                "2001:db8:13::/56",
                across6("tgw-rtb-p2", peer6_side_of_tgw2()),
            ),
            route6(
                "2001:db8:17::/56",
                across6("tgw-rtb-p2", peer6_side_of_tgw2()),
            ),
        ];
        dual_stack_on_tgw2(v2, "2001:db8:12::/56", b6());
        v2.transit_gateway_attachments[0].routes_v6 = vec![route6(
            "2001:db8:1::/56",
            across6("tgw-rtb-p1", vec![route6("2001:db8:1::/56", to("1"))]),
        )];
        dual_stack_on_tgw2(v3, "2001:db8:13::/56", x6());
    }
    h2.ports[0].ipv6_addresses = vec![b6()];
    h2.ports[1].ipv6_addresses = vec![x6()];
    (h1, h2)
}

fn syn6(dst: Ipv6Addr) -> Vec<u8> {
    tcp6_frame(A_MAC, ROUTER_MAC, A_IP6, dst, 40000, 22, SYN, 0)
}

#[test]
fn ipv6_crosses_the_peering_into_the_peer_gateways_vpc_and_back() {
    let (p1, p2) = hosts6();
    let (mut h1, mut h2) = (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(p2).unwrap(),
    );
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-2"));
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for s in 1..3 {
        assert_eq!(
            h1.process_from_port(t(s), a, &syn6(b6()), &mut wire),
            Verdict::ToUnderlay {
                host: H2,
                vni: VNI2
            }
        );
        assert_eq!(
            h2.process_from_underlay(t(s), &wire, &mut out),
            Verdict::ToPort { port: b }
        );
        assert_eq!(&out[0..6], &B2_MAC.0);
    }
    let reply = tcp6_frame(
        B2_MAC,
        MacAddr([2, 0, 0, 0, 0, 2]),
        b6(),
        A_IP6,
        22,
        40000,
        SYN | ACK,
        0,
    );
    assert_eq!(
        h2.process_from_port(t(3), b, &reply, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(3), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    // B's address from a host that does not hold it is refused
    let mut forged = wire.clone();
    forged[26..30].copy_from_slice(&Ipv4Addr::new(127, 0, 0, 77).octets());
    ipv4::Packet::new_unchecked(&mut forged[14..34]).fill_checksum();
    assert_eq!(
        drop_of(h1.process_from_underlay(t(4), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
}

#[test]
fn the_peer_gateways_ipv6_routes_decide_one_hop_only() {
    let (p1, _) = hosts6();
    let mut h1 = Engine::with_program(p1.clone()).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    let cases = [
        // tgw-2's blackhole
        (ip("2001:db8:12:9::1"), DropReason::Blackhole),
        // X: attached to tgw-2, which sends it nowhere
        (x6(), DropReason::NoRoute),
        // another peering beyond the first
        (ip("2001:db8:17::1"), DropReason::NoRoute),
        // tgw-1 has no route
        (ip("2001:db8:99::1"), DropReason::NoRoute),
    ];
    for (dst, want) in cases {
        assert_eq!(
            drop_of(h1.process_from_port(t(1), a, &syn6(dst), &mut wire)),
            want,
            "{dst}"
        );
    }
    // tgw-2's table loses its IPv6 route to B: cached flows stop too
    assert!(matches!(
        h1.process_from_port(t(1), a, &syn6(b6()), &mut wire),
        Verdict::ToUnderlay { .. }
    ));
    let mut p = p1;
    if let TransitGatewayTarget::Peering { routes_v6, .. } =
        &mut p.vpcs[0].transit_gateway_attachments[0].routes_v6[0].target
    {
        routes_v6.retain(|r| r.destination != net6("2001:db8:12::/56"));
    }
    h1.set_program(p).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(2), a, &syn6(b6()), &mut wire)),
        DropReason::NoRoute
    );
}

#[test]
fn the_peer_vpcs_attachment_subnet_ipv6_acl_applies() {
    // B's attachment in subnet-2t, whose ACL lets no IPv6 SSH out (IPv4 SSH still goes)
    let (mut p1, _) = hosts6();
    let b = &mut p1.vpcs[1];
    b.subnets.push(Subnet {
        id: "subnet-2t".into(),
        cidr: Some(net("10.1.200.0/24")),
        route_table_id: "rtb-main".into(),
        network_acl_id: "acl-2t".into(),
        availability_zone: "zc".into(),
        ipv6_cidr: Some(net6("2001:db8:12:c8::/64")),
    });
    let mut closed = nacl_allow_all("acl-2t");
    closed.entries_v6.push(NaclEntry6 {
        rule_number: 50,
        egress: true,
        protocol: 6,
        allow: false,
        cidr: net6("::/0"),
        port_range: Some((22, 22)),
        icmp: None,
    });
    b.network_acls.push(closed);
    b.transit_gateway_attachments[0].subnet_ids = vec!["subnet-2t".into()];
    let mut h1 = Engine::with_program(p1).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn6(b6()), &mut wire)),
        DropReason::NaclEgress
    );
    assert!(matches!(
        h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, B2_IP), &mut wire),
        Verdict::ToUnderlay { .. }
    ));
}
