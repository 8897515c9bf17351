//! Centralised egress through a transit gateway, in the engine. Spoke VPC-1 (A, host 1)
//! routes 0.0.0.0/0 to tgw-1; the table of its attachment sends 0.0.0.0/0 to egress
//! VPC-5's attachment (subnet-5, zone a), whose route table sends 0.0.0.0/0 to nat-5 in
//! subnet-5p, whose table sends 10.0.0.0/8 back to tgw-1 and 0.0.0.0/0 to igw-5.

use crate::fixtures::*;
use crate::program::*;
use crate::wire::MacAddr;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::{DropReason, Engine, Time, Verdict};
use std::net::Ipv4Addr;

const VNI5: u32 = 0x5555;
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

fn t(s: u64) -> Time {
    Time::from_secs(s)
}

fn subnet(id: &str, cidr: &str, table: &str, acl: &str) -> Subnet {
    Subnet {
        id: id.into(),
        cidr: net(cidr),
        route_table_id: table.into(),
        network_acl_id: acl.into(),
        availability_zone: "za".into(),
        ipv6_cidr: None,
    }
}

fn route(dst: &str, target: RouteTarget) -> Route {
    Route {
        destination: net(dst),
        target,
    }
}

fn attachment(vpc: u8, subnet: &str, routes: Vec<TransitGatewayRoute>) -> TransitGatewayAttachment {
    TransitGatewayAttachment {
        id: format!("tgw-attach-{vpc}"),
        transit_gateway_id: "tgw-1".into(),
        subnet_ids: vec![subnet.into()],
        appliance_mode: false,
        route_table_id: String::new(),
        routes,
        routes_v6: vec![],
        senders: vec![],
    }
}

fn to(vpc: u8) -> TransitGatewayTarget {
    TransitGatewayTarget::Vpc {
        attachment_id: format!("tgw-attach-{vpc}"),
        vpc_id: format!("vpc-{vpc}"),
    }
}

/// An ACL letting through only one direction (`egress` or not).
fn one_way(id: &str, egress: bool) -> NetworkAcl {
    let mut a = nacl_allow_all(id);
    a.entries.retain(|e| e.egress == egress);
    a
}

/// VPC-1 of the fixtures, its subnets in zone a, 0.0.0.0/0 to the gateway.
fn spoke() -> Vpc {
    let mut v = vpc();
    for s in &mut v.subnets {
        s.availability_zone = "za".into();
    }
    v.route_tables[0].routes = vec![
        route("10.0.0.0/16", RouteTarget::Local),
        route("0.0.0.0/0", RouteTarget::TransitGateway("tgw-1".into())),
    ];
    v.transit_gateway_attachments = vec![attachment(
        1,
        "subnet-b",
        vec![TransitGatewayRoute {
            destination: net("0.0.0.0/0"),
            target: to(5),
        }],
    )];
    v.edges = vec![];
    v
}

/// The egress VPC: attachment subnet-5, the NAT gateway's subnet-5p.
fn egress() -> Vpc {
    let mut v = vpc();
    v.id = "vpc-5".into();
    v.vni = VNI5;
    v.cidrs = vec![net("10.4.0.0/16")];
    v.router_mac = MacAddr([2, 0, 0, 0, 0, 5]);
    v.subnets = vec![
        subnet("subnet-5", "10.4.1.0/24", "rtb-5", "acl-5"),
        subnet("subnet-5p", "10.4.2.0/24", "rtb-5p", "acl-5p"),
    ];
    v.route_tables = vec![
        RouteTable {
            id: "rtb-5".into(),
            routes: vec![
                route("10.4.0.0/16", RouteTarget::Local),
                route("0.0.0.0/0", RouteTarget::NatGateway("nat-5".into())),
                route("198.51.100.0/24", RouteTarget::Blackhole),
            ],
            routes_v6: vec![],
        },
        RouteTable {
            id: "rtb-5p".into(),
            routes: vec![
                route("10.4.0.0/16", RouteTarget::Local),
                route("10.0.0.0/8", RouteTarget::TransitGateway("tgw-1".into())),
                route("0.0.0.0/0", RouteTarget::InternetGateway("igw-5".into())),
            ],
            routes_v6: vec![],
        },
    ];
    v.network_acls = vec![nacl_allow_all("acl-5"), nacl_allow_all("acl-5p")];
    v.mappings = vec![];
    v.mappings_v6 = vec![];
    v.ipv6_cidrs = vec![];
    v.edges = vec![
        Edge {
            gateway_id: "igw-5".into(),
            host: EDGE,
            subnet_id: None,
        },
        Edge {
            gateway_id: "nat-5".into(),
            host: EDGE,
            subnet_id: Some("subnet-5p".into()),
        },
    ];
    v.transit_gateway_attachments = vec![attachment(
        5,
        "subnet-5",
        vec![TransitGatewayRoute {
            destination: net("10.0.0.0/16"),
            target: to(1),
        }],
    )];
    v
}

/// Host 1 (A) serving the spoke and the egress VPC, after `change` to the latter.
fn engine(change: impl FnOnce(&mut Vpc)) -> Engine {
    let mut e = egress();
    change(&mut e);
    let mut p = host1();
    p.vpcs = vec![spoke(), e];
    Engine::with_program(p).unwrap()
}

fn syn() -> Vec<u8> {
    tcp_frame(A_MAC, ROUTER_MAC, A_IP, OUTSIDE, 40000, 80, SYN, 0)
}

/// The NAT gateway's reply as the edge carries it into the spoke, from `outer`.
fn reply(outer: Ipv4Addr, src_mac: MacAddr) -> Vec<u8> {
    let inner = tcp_frame(src_mac, A_MAC, OUTSIDE, A_IP, 80, 40000, SYN | ACK, 0);
    let template = crate::overlay::outer_template(
        &Underlay {
            address: outer,
            mac: MacAddr::ZERO,
            next_hop_mac: MacAddr::ZERO,
        },
        H1,
        VNI,
        0xc000,
    );
    let mut w = Vec::new();
    crate::overlay::encapsulate(&mut w, &template, &inner).unwrap();
    w
}

fn drop_of(v: Verdict) -> DropReason {
    match v {
        Verdict::Drop { reason } => reason,
        other => panic!("expected a drop, got {other:?}"),
    }
}

#[test]
fn a_spoke_leaves_by_the_egress_vpcs_nat_gateway_and_its_replies_come_back() {
    let mut h = engine(|_| {});
    let a = h.port_id("eni-a").unwrap();
    let nat = crate::overlay::gateway_mac("nat-5");
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        // to the edge, in the egress VPC's number, addressed to its NAT gateway
        assert_eq!(
            h.process_from_port(t(1), a, &syn(), &mut wire),
            Verdict::ToEdge {
                host: EDGE,
                vni: VNI5
            }
        );
        let d = crate::overlay::decapsulate(&wire).unwrap();
        let inner = &wire[d.inner_offset..d.inner_end];
        let eth = crate::wire::ethernet::Frame::new_checked(inner).unwrap();
        assert_eq!(eth.dst(), nat);
        assert_eq!(&inner[14..], &syn()[14..]);
    }
    // the reply, carried in by the edge with the NAT gateway's MAC
    for _ in 0..2 {
        assert_eq!(
            h.process_from_underlay(t(1), &reply(EDGE, nat), &mut out),
            Verdict::ToPort { port: a }
        );
    }
    // not from another host, nor with another source MAC (the internet cannot start
    // anything: the spoke has no gateway of its own)
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &reply(H2, nat), &mut out)),
        DropReason::AuthenticationFailed
    );
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &reply(EDGE, ROUTER_MAC), &mut out)),
        DropReason::AuthenticationFailed
    );
}

#[test]
fn the_attachment_and_nat_subnets_acls_and_tables_decide() {
    let mut out = Vec::new();
    let nat = crate::overlay::gateway_mac("nat-5");
    let go = |h: &mut Engine, out: &mut Vec<u8>| {
        let a = h.port_id("eni-a").unwrap();
        h.process_from_port(t(1), a, &syn(), out)
    };
    // the attachment subnet's table: a blackhole, no route onward
    let mut h = engine(|_| {});
    let a = h.port_id("eni-a").unwrap();
    let black = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(198, 51, 100, 1),
        40000,
        80,
        SYN,
        0,
    );
    assert_eq!(
        drop_of(h.process_from_port(t(1), a, &black, &mut out)),
        DropReason::Blackhole
    );
    let mut h = engine(|v| v.route_tables[0].routes.truncate(1));
    assert_eq!(drop_of(go(&mut h, &mut out)), DropReason::NoRoute);
    // out of the attachment subnet, into the NAT's
    let mut h = engine(|v| v.network_acls[0] = one_way("acl-5", false));
    assert_eq!(drop_of(go(&mut h, &mut out)), DropReason::NaclEgress);
    let mut h = engine(|v| v.network_acls[1] = one_way("acl-5p", true));
    assert_eq!(drop_of(go(&mut h, &mut out)), DropReason::NaclIngress);
    // a NAT gateway in the attachment subnet: no ACL between them
    let mut h = engine(|v| {
        v.network_acls[0] = one_way("acl-5", true);
        v.edges[1].subnet_id = Some("subnet-5".into());
    });
    assert!(matches!(go(&mut h, &mut out), Verdict::ToEdge { .. }));

    // the way back: the NAT subnet's ACL outbound, the attachment subnet's inbound
    let mut h = engine(|v| v.network_acls[1] = one_way("acl-5p", false));
    assert!(matches!(go(&mut h, &mut out), Verdict::ToEdge { .. }));
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &reply(EDGE, nat), &mut out)),
        DropReason::NaclEgress
    );
    let mut h = engine(|v| v.network_acls[0] = one_way("acl-5", true));
    assert!(matches!(go(&mut h, &mut out), Verdict::ToEdge { .. }));
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &reply(EDGE, nat), &mut out)),
        DropReason::NaclIngress
    );
    // the NAT subnet's table must send the spoke's address back to the gateway
    let mut h = engine(|v| {
        v.route_tables[1].routes.remove(1);
    });
    assert!(matches!(go(&mut h, &mut out), Verdict::ToEdge { .. }));
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &reply(EDGE, nat), &mut out)),
        DropReason::NoRoute
    );
}

/// The spoke's own attachment subnet (subnet-b; A is in subnet-a) judges the way back
/// by its outbound rules, as it judges the way out by its inbound rules.
#[test]
fn the_spokes_attachment_subnet_judges_both_ways() {
    let nat = crate::overlay::gateway_mac("nat-5");
    let mut out = Vec::new();
    let program = |egress_only: bool| {
        let mut s = spoke();
        s.network_acls.push(one_way("acl-b", egress_only));
        s.subnets[1].network_acl_id = "acl-b".into();
        let mut p = host1();
        p.vpcs = vec![s, egress()];
        Engine::with_program(p).unwrap()
    };
    // out only: the packet cannot enter the gateway
    let mut h = program(true);
    let a = h.port_id("eni-a").unwrap();
    assert_eq!(
        drop_of(h.process_from_port(t(1), a, &syn(), &mut out)),
        DropReason::NaclIngress
    );
    // in only: out it goes, its reply cannot leave the gateway into the spoke
    let mut h = program(false);
    let a = h.port_id("eni-a").unwrap();
    assert!(matches!(
        h.process_from_port(t(1), a, &syn(), &mut out),
        Verdict::ToEdge { .. }
    ));
    assert_eq!(
        drop_of(h.process_from_underlay(t(1), &reply(EDGE, nat), &mut out)),
        DropReason::NaclEgress
    );
}

/// Flow logs count a spoke's flow to the internet as any other: accepted out at its ENI,
/// its replies accepted in.
#[test]
fn flow_logs_count_the_spokes_egress_flow() {
    use crate::conntrack::Direction;
    use crate::counters::Action;
    let nat = crate::overlay::gateway_mac("nat-5");
    let mut p = host1();
    p.vpcs = vec![spoke(), egress()];
    p.ports.iter_mut().for_each(|p| p.flow_logs = true);
    let mut h = Engine::with_program(p).unwrap();
    let a = h.port_id("eni-a").unwrap();
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        assert!(matches!(
            h.process_from_port(t(1), a, &syn(), &mut wire),
            Verdict::ToEdge { .. }
        ));
    }
    assert_eq!(
        h.process_from_underlay(t(1), &reply(EDGE, nat), &mut out),
        Verdict::ToPort { port: a }
    );
    let mut recs = Vec::new();
    h.drain_flow_records(|r| {
        recs.push((
            r.eni.to_string(),
            r.direction,
            r.action,
            r.tuple.dst,
            r.packets,
        ))
    });
    recs.sort_by_key(|r| r.4);
    assert_eq!(
        recs,
        [
            (
                "eni-a".to_owned(),
                Direction::Inbound,
                Action::Accept,
                std::net::IpAddr::V4(A_IP),
                1
            ),
            (
                "eni-a".to_owned(),
                Direction::Outbound,
                Action::Accept,
                std::net::IpAddr::V4(OUTSIDE),
                2
            ),
        ]
    );
}
