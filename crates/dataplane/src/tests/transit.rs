//! Transit gateways in the engine: the "shared services" layout. Spoke VPC-1 (A, host 1,
//! zone a) and spoke VPC-3 (X, host 2) each reach shared VPC-2 (S, host 2) through
//! tgw-1, and not each other: the spokes' attachments use a table routing to the shared
//! VPC only, the shared VPC's a table routing to both spokes.

use crate::fixtures::*;
use crate::program::*;
use crate::wire::MacAddr;
use crate::wire::ipv4;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::{DropReason, Engine, PortId, Time, Verdict};
use std::net::Ipv4Addr;

const S_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 5);
const S_MAC: MacAddr = MacAddr([2, 0, 0, 2, 1, 5]);
const X_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 1, 7);
const X_MAC: MacAddr = MacAddr([2, 0, 0, 3, 1, 7]);
const VNI2: u32 = 0x2222;
const VNI3: u32 = 0x3333;

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

fn attachment(
    vpc: &str,
    subnets: &[&str],
    routes: Vec<TransitGatewayRoute>,
) -> TransitGatewayAttachment {
    TransitGatewayAttachment {
        id: format!("tgw-attach-{vpc}"),
        transit_gateway_id: "tgw-1".into(),
        subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
        appliance_mode: false,
        route_table_id: String::new(),
        routes,
        routes_v6: vec![],
        senders: vec![],
    }
}

/// A one-subnet VPC `n` (10.n-1.0.0/16) holding `ip` on host 2, its subnet in zone a.
fn spoke(n: u8, vni: u32, ip: Ipv4Addr, mac: MacAddr) -> Vpc {
    let mut v = vpc();
    let block = format!("10.{}.0.0/16", n - 1);
    v.id = format!("vpc-{n}");
    v.vni = vni;
    v.cidrs = vec![net(&block)];
    v.router_mac = MacAddr([2, 0, 0, 0, 0, n]);
    v.subnets = vec![Subnet {
        id: format!("subnet-{n}"),
        cidr: net(&format!("10.{}.1.0/24", n - 1)),
        route_table_id: "rtb-main".into(),
        network_acl_id: "acl-default".into(),
        availability_zone: "za".into(),
        ipv6_cidr: None,
    }];
    v.route_tables[0].routes = vec![
        Route {
            destination: net(&block),
            target: RouteTarget::Local,
        },
        Route {
            destination: net("10.0.0.0/8"),
            target: RouteTarget::TransitGateway("tgw-1".into()),
        },
    ];
    v.security_groups[0].ingress = vec![
        sg_rule(6, 22, 22, "10.0.0.0/8"),
        sg_rule(1, -1, -1, "10.0.0.0/8"),
    ];
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

/// VPC-1 of the fixtures, its subnets in zones a and b, routing 10/8 to the gateway and
/// attached through subnet-a (zone a).
fn spoke1(att_subnets: &[&str]) -> Vpc {
    let mut v = vpc();
    v.subnets[0].availability_zone = "za".into();
    v.subnets[1].availability_zone = "zb".into();
    v.route_tables[0].routes.push(Route {
        destination: net("10.0.0.0/8"),
        target: RouteTarget::TransitGateway("tgw-1".into()),
    });
    v.transit_gateway_attachments = vec![attachment(
        "1",
        att_subnets,
        vec![
            route("10.1.0.0/16", to("2")),
            route("10.1.9.0/24", TransitGatewayTarget::Blackhole),
        ],
    )];
    v
}

fn shared() -> Vpc {
    let mut v = spoke(2, VNI2, S_IP, S_MAC);
    v.transit_gateway_attachments = vec![attachment(
        "2",
        &["subnet-2"],
        vec![route("10.0.0.0/16", to("1")), route("10.2.0.0/16", to("3"))],
    )];
    v
}

fn spoke3() -> Vpc {
    let mut v = spoke(3, VNI3, X_IP, X_MAC);
    v.transit_gateway_attachments = vec![attachment(
        "3",
        &["subnet-3"],
        vec![route("10.1.0.0/16", to("2"))],
    )];
    v
}

fn port(n: u32, ip: Ipv4Addr, mac: MacAddr) -> Port {
    Port {
        id: format!("eni-{n}"),
        vpc_id: format!("vpc-{n}"),
        subnet_id: format!("subnet-{n}"),
        mac,
        primary_ip: ip,
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

/// Host 1 (A) and host 2 (S and X), each serving the three VPCs.
fn hosts(att_subnets: &[&str]) -> (HostProgram, HostProgram) {
    let vpcs = vec![spoke1(att_subnets), shared(), spoke3()];
    let mut h1 = host1();
    h1.vpcs = vpcs.clone();
    let mut h2 = host2();
    h2.vpcs = vpcs;
    h2.ports = vec![port(2, S_IP, S_MAC), port(3, X_IP, X_MAC)];
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
fn spokes_reach_the_shared_vpc_and_not_each_other() {
    let (p1, p2) = hosts(&["subnet-a"]);
    let (mut h1, mut h2) = (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(p2).unwrap(),
    );
    let (a, s, x) = (pid(&h1, "eni-a"), pid(&h2, "eni-2"), pid(&h2, "eni-3"));
    let (mut wire, mut out) = (Vec::new(), Vec::new());

    // A → S: to S's host, in the shared VPC's number
    assert_eq!(
        h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, S_IP), &mut wire),
        Verdict::ToUnderlay {
            host: H2,
            vni: VNI2
        }
    );
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: s }
    );
    assert_eq!(&out[0..6], &S_MAC.0);
    // S answers through its own attachment's table, back to A
    let reply = tcp_frame(
        S_MAC,
        MacAddr([2, 0, 0, 0, 0, 2]),
        S_IP,
        A_IP,
        22,
        40000,
        SYN | ACK,
        0,
    );
    assert_eq!(
        h2.process_from_port(t(1), s, &reply, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: a }
    );

    // A → X: the spokes' table has no route to the other spoke
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, X_IP), &mut wire)),
        DropReason::NoRoute
    );
    // X → A: nor the other way
    let x_to_a = tcp_frame(
        X_MAC,
        MacAddr([2, 0, 0, 0, 0, 3]),
        X_IP,
        A_IP,
        40000,
        22,
        SYN,
        0,
    );
    assert_eq!(
        drop_of(h2.process_from_port(t(1), x, &x_to_a, &mut out)),
        DropReason::NoRoute
    );
    // X → S on one host: delivered locally
    let x_to_s = tcp_frame(
        X_MAC,
        MacAddr([2, 0, 0, 0, 0, 3]),
        X_IP,
        S_IP,
        40000,
        22,
        SYN,
        0,
    );
    assert_eq!(
        h2.process_from_port(t(1), x, &x_to_s, &mut out),
        Verdict::ToPort { port: s }
    );

    // a blackhole route of the gateway drops
    let hole = Ipv4Addr::new(10, 1, 9, 9);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, hole), &mut wire)),
        DropReason::Blackhole
    );
}

#[test]
fn the_senders_zone_needs_an_attachment_subnet() {
    // attached through subnet-b only (zone b): A in zone a cannot reach the gateway
    let (p1, _) = hosts(&["subnet-b"]);
    let mut h1 = Engine::with_program(p1).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, S_IP), &mut wire)),
        DropReason::NoTransitGatewaySubnet
    );
}

/// An ACL that lets everything through but TCP port 22 in (or out).
fn deny_ssh(id: &str, egress: bool) -> NetworkAcl {
    let mut a = nacl_allow_all(id);
    a.entries.push(NaclEntry {
        rule_number: 50,
        egress,
        protocol: 6,
        allow: false,
        cidr: net("0.0.0.0/0"),
        port_range: Some((22, 22)),
        icmp: None,
    });
    a
}

fn deny_ssh_in(id: &str) -> NetworkAcl {
    deny_ssh(id, false)
}

#[test]
fn the_attachment_subnets_acls_apply() {
    // A sits in subnet-a; the attachment is in subnet-b (other subnet, zone b: give A's
    // subnet zone b too so the attachment serves it)
    let (mut p1, mut p2) = hosts(&["subnet-b"]);
    for p in [&mut p1, &mut p2] {
        p.vpcs[0].subnets[0].availability_zone = "zb".into();
    }
    let mut closed = p1.clone();
    closed.vpcs[0].network_acls.push(deny_ssh_in("acl-tgw"));
    closed.vpcs[0].subnets[1].network_acl_id = "acl-tgw".into();
    let mut h1 = Engine::with_program(p1.clone()).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    assert_eq!(
        h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, S_IP), &mut wire),
        Verdict::ToUnderlay {
            host: H2,
            vni: VNI2
        }
    );
    // the attachment subnet's inbound rules see the packet enter the gateway: cut, at
    // once for the cached flow too
    h1.set_program(closed).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(2), a, &syn(A_IP, A_MAC, S_IP), &mut wire)),
        DropReason::NaclIngress
    );

    // on the way out of the gateway into the shared VPC: the destination's subnet ACL
    // (S's subnet is the attachment subnet there: AWS evaluates none between them) ...
    let mut h1 = Engine::with_program(p1.clone()).unwrap();
    let mut p = p1.clone();
    p.vpcs[1].network_acls = vec![deny_ssh_in("acl-default")];
    h1.set_program(p).unwrap();
    assert_eq!(
        h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, S_IP), &mut wire),
        Verdict::ToUnderlay {
            host: H2,
            vni: VNI2
        }
    );
    // ... and the receiving host does not evaluate it either
    let mut p2_closed = p2.clone();
    p2_closed.vpcs[1].network_acls = vec![deny_ssh_in("acl-default")];
    let mut h2 = Engine::with_program(p2_closed).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort {
            port: pid(&h2, "eni-2")
        }
    );

    // with S in a subnet of its own, that subnet's inbound rules apply
    let mut p = p1;
    p.vpcs[1].subnets.push(Subnet {
        id: "subnet-2t".into(),
        cidr: net("10.1.200.0/24"),
        route_table_id: "rtb-main".into(),
        network_acl_id: "acl-open".into(),
        availability_zone: "za".into(),
        ipv6_cidr: None,
    });
    p.vpcs[1].network_acls = vec![deny_ssh_in("acl-default"), nacl_allow_all("acl-open")];
    p.vpcs[1].transit_gateway_attachments[0].subnet_ids = vec!["subnet-2t".into()];
    let mut h1 = Engine::with_program(p).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, S_IP), &mut wire)),
        DropReason::NaclIngress
    );
}

#[test]
fn origin_is_checked_against_the_joined_vpcs_mapping() {
    let (p1, p2) = hosts(&["subnet-a"]);
    let (mut h1, mut h2) = (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(p2).unwrap(),
    );
    let a = pid(&h1, "eni-a");
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    assert_eq!(
        h1.process_from_port(t(1), a, &syn(A_IP, A_MAC, S_IP), &mut wire),
        Verdict::ToUnderlay {
            host: H2,
            vni: VNI2
        }
    );
    // A's address, sent from a host that does not hold it
    let mut forged = wire.clone();
    forged[26..30].copy_from_slice(&Ipv4Addr::new(127, 0, 0, 77).octets());
    ipv4::Packet::new_unchecked(&mut forged[14..34]).fill_checksum();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
}

#[test]
fn removing_a_route_cuts_cached_and_tracked_flows() {
    let (p1, _) = hosts(&["subnet-a"]);
    let mut h1 = Engine::with_program(p1.clone()).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    for s in 1..3 {
        assert_eq!(
            h1.process_from_port(t(s), a, &syn(A_IP, A_MAC, S_IP), &mut wire),
            Verdict::ToUnderlay {
                host: H2,
                vni: VNI2
            }
        );
    }
    // the shared VPC's propagation leaves the spokes' table
    let mut p = p1;
    p.vpcs[0].transit_gateway_attachments[0]
        .routes
        .retain(|r| r.destination != net("10.1.0.0/16"));
    h1.set_program(p).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(3), a, &syn(A_IP, A_MAC, S_IP), &mut wire)),
        DropReason::NoRoute
    );
}

#[test]
fn appliance_mode_picks_the_exit_by_flow_and_else_by_zone() {
    // the shared VPC attached in zones a (S's own subnet) and b; the zone-b subnet's ACL
    // lets no SSH out, so a flow leaving the gateway by it is cut
    let (mut p1, _) = hosts(&["subnet-a"]);
    let shared = &mut p1.vpcs[1];
    shared.subnets.push(Subnet {
        id: "subnet-2b".into(),
        cidr: net("10.1.2.0/24"),
        route_table_id: "rtb-main".into(),
        network_acl_id: "acl-b".into(),
        availability_zone: "zb".into(),
        ipv6_cidr: None,
    });
    shared.network_acls.push(deny_ssh("acl-b", true));
    shared.transit_gateway_attachments[0].subnet_ids = vec!["subnet-2".into(), "subnet-2b".into()];
    let outcomes = |p: &HostProgram| {
        let mut h1 = Engine::with_program(p.clone()).unwrap();
        let a = pid(&h1, "eni-a");
        let mut wire = Vec::new();
        let mut seen = std::collections::BTreeMap::new();
        for sport in 0..64u16 {
            let f = tcp_frame(A_MAC, ROUTER_MAC, A_IP, S_IP, 30000 + sport, 22, SYN, 0);
            let v = h1.process_from_port(t(1), a, &f, &mut wire);
            // one flow, one decision
            assert_eq!(h1.process_from_port(t(2), a, &f, &mut wire), v);
            *seen.entry(format!("{v:?}")).or_insert(0) += 1;
        }
        seen
    };
    // without appliance mode a flow from zone a leaves by zone a's subnet: all pass
    assert_eq!(outcomes(&p1).len(), 1);
    // in appliance mode the flow picks: some leave by zone b and are cut
    p1.vpcs[1].transit_gateway_attachments[0].appliance_mode = true;
    let seen = outcomes(&p1);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.keys().any(|k| k.contains("NaclEgress")), "{seen:?}");
}

#[test]
fn walks_through_the_gateway_are_cached() {
    // the longest walk: into a port of this host, by an attachment subnet other than the
    // sender's and another than the destination's, each with an ACL of its own
    let (_, mut p2) = hosts(&["subnet-a"]);
    for (v, n) in [(1usize, 2u32), (2, 3)] {
        let vpc = &mut p2.vpcs[v];
        vpc.subnets.push(Subnet {
            id: format!("subnet-{n}t"),
            cidr: net(&format!("10.{}.200.0/24", n - 1)),
            route_table_id: "rtb-main".into(),
            network_acl_id: format!("acl-{n}t"),
            availability_zone: "za".into(),
            ipv6_cidr: None,
        });
        vpc.network_acls.push(nacl_allow_all(&format!("acl-{n}t")));
        vpc.transit_gateway_attachments[0].subnet_ids = vec![format!("subnet-{n}t")];
    }
    let mut h2 = Engine::with_program(p2).unwrap();
    let (s, x) = (pid(&h2, "eni-2"), pid(&h2, "eni-3"));
    let mut out = Vec::new();
    let x_to_s = tcp_frame(
        X_MAC,
        MacAddr([2, 0, 0, 0, 0, 3]),
        X_IP,
        S_IP,
        40000,
        22,
        SYN,
        0,
    );
    for i in 0..3 {
        assert_eq!(
            h2.process_from_port(t(1), x, &x_to_s, &mut out),
            Verdict::ToPort { port: s }
        );
        assert_eq!(
            h2.stats().fast_path,
            i,
            "decision {i} served from the cache"
        );
    }
}

#[test]
fn a_route_to_a_vpn_attachment_goes_to_the_edge_serving_it() {
    let company = Ipv4Addr::new(192, 168, 0, 1);
    let vpn = "tgw-attach-vpn";
    let (mut p1, _) = hosts(&["subnet-a"]);
    let v = &mut p1.vpcs[0];
    v.route_tables[0].routes.push(Route {
        destination: net("192.168.0.0/16"),
        target: RouteTarget::TransitGateway("tgw-1".into()),
    });
    v.transit_gateway_attachments[0].routes.push(route(
        "192.168.0.0/16",
        TransitGatewayTarget::Unsupported(vpn.into()),
    ));
    let unserved = p1.clone();
    p1.vpcs[0].edges.push(Edge {
        gateway_id: vpn.into(),
        host: EDGE,
        subnet_id: None,
    });
    let mut wire = Vec::new();

    // no edge serves the attachment: nowhere to go
    let mut h = Engine::with_program(unserved).unwrap();
    let a = pid(&h, "eni-a");
    assert_eq!(
        drop_of(h.process_from_port(t(1), a, &syn(A_IP, A_MAC, company), &mut wire)),
        DropReason::NoRoute
    );

    // the edge serving it gets the frame, addressed to the attachment, in the sender's VPC
    let mut h = Engine::with_program(p1).unwrap();
    let a = pid(&h, "eni-a");
    let frame = syn(A_IP, A_MAC, company);
    for _ in 0..2 {
        assert_eq!(
            h.process_from_port(t(1), a, &frame, &mut wire),
            Verdict::ToEdge {
                host: EDGE,
                vni: VNI
            }
        );
        let d = crate::overlay::decapsulate(&wire).unwrap();
        let inner = &wire[d.inner_offset..d.inner_end];
        let eth = crate::wire::ethernet::Frame::new_checked(inner).unwrap();
        assert_eq!(eth.dst(), crate::overlay::gateway_mac(vpn));
        assert_eq!(&inner[14..], &frame[14..]);
    }
    // the gateway's other routes still lead into VPCs
    assert_eq!(
        h.process_from_port(t(1), a, &syn(A_IP, A_MAC, S_IP), &mut wire),
        Verdict::ToUnderlay {
            host: H2,
            vni: VNI2
        }
    );
}

/// What the edge carries in from a VPN attachment of the gateway names the VPC's
/// attachment as its source MAC: it enters by the attachment subnet (here subnet-b,
/// A being in subnet-a), whose ACL's outbound rules judge it, then subnet-a's inbound
/// rules; with the router's MAC (a virtual private gateway's traffic) only subnet-a's.
#[test]
fn the_edge_carries_a_vpn_attachments_packets_in_through_the_attachment_subnet() {
    let company = Ipv4Addr::new(192, 168, 0, 1);
    let (mut open, _) = hosts(&["subnet-b"]);
    let v = &mut open.vpcs[0];
    v.security_groups[0]
        .ingress
        .push(sg_rule(6, 22, 22, "192.168.0.0/16"));
    // an ACL that lets nothing through
    v.network_acls.push(NetworkAcl {
        id: "acl-closed".into(),
        entries: vec![],
        entries_v6: vec![],
    });
    let at = |p: &HostProgram, id: &str| p.vpcs[0].subnets.iter().position(|s| s.id == id).unwrap();
    let (a_sub, b_sub) = (at(&open, "subnet-a"), at(&open, "subnet-b"));
    let mut closed_b = open.clone();
    closed_b.vpcs[0].subnets[b_sub].network_acl_id = "acl-closed".into();
    let mut closed_a = open.clone();
    closed_a.vpcs[0].subnets[a_sub].network_acl_id = "acl-closed".into();
    let frame = |src_mac: MacAddr| {
        let inner = tcp_frame(src_mac, A_MAC, company, A_IP, 40000, 22, SYN, 0);
        let t = crate::overlay::outer_template(
            &Underlay {
                address: EDGE,
                mac: MacAddr::ZERO,
                next_hop_mac: MacAddr::ZERO,
            },
            H1,
            VNI,
            0xc000,
        );
        let mut w = Vec::new();
        crate::overlay::encapsulate(&mut w, &t, &inner).unwrap();
        w
    };
    let through = crate::overlay::gateway_mac("tgw-attach-1");
    let mut out = Vec::new();
    let mut h = Engine::with_program(open).unwrap();
    let a = pid(&h, "eni-a");
    assert_eq!(
        h.process_from_underlay(t(1), &frame(through), &mut out),
        Verdict::ToPort { port: a }
    );
    let mut h = Engine::with_program(closed_b).unwrap();
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &frame(through), &mut out)),
        DropReason::NaclEgress
    );
    assert_eq!(
        h.process_from_underlay(t(1), &frame(ROUTER_MAC), &mut out),
        Verdict::ToPort { port: a }
    );
    let mut h = Engine::with_program(closed_a).unwrap();
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &frame(through), &mut out)),
        DropReason::NaclIngress
    );
}
