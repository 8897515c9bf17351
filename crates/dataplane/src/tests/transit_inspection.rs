//! Centralised inspection through a transit gateway (AWS's "inspection VPC" with
//! appliance mode), in the engines of the hosts a flow crosses.
//!
//! Spoke VPC-1 (A on host 1) and spoke VPC-2 (D on host 3) route 0.0.0.0/0 to tgw-1;
//! the table associated with their attachments sends 0.0.0.0/0 to the inspection VPC-3.
//! VPC-3's attachment subnet (subnet-3t) routes 0.0.0.0/0 to the appliance's ENI
//! (eni-mb in subnet-3m, host 2, source/dest check off); subnet-3m routes 10.0.0.0/8
//! back to tgw-1, and the table associated with VPC-3's attachment sends each spoke's
//! block to its attachment. Each host serves the VPCs joined with its own: host 1
//! VPC-1 and VPC-3, host 3 VPC-2 and VPC-3, host 2 all three.

use crate::fixtures::*;
use crate::program::*;
use crate::wire::MacAddr;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::{DropReason, Engine, PortId, Time, Verdict};
use std::net::Ipv4Addr;

const H3: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 13);
const H4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 14);
const VNI2: u32 = 0x2222;
const VNI3: u32 = 0x3333;
const ROUTER2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const ROUTER3: MacAddr = MacAddr([2, 0, 0, 0, 0, 3]);
const D_IP: Ipv4Addr = Ipv4Addr::new(10, 2, 1, 10);
const D_MAC: MacAddr = MacAddr([2, 0, 0, 2, 1, 10]);
const MB_IP: Ipv4Addr = Ipv4Addr::new(10, 3, 1, 5);
const MB_MAC: MacAddr = MacAddr([2, 0, 0, 3, 1, 5]);
/// The second appliance (zone b, host 4), for appliance mode.
const MB2_IP: Ipv4Addr = Ipv4Addr::new(10, 3, 2, 5);
const MB2_MAC: MacAddr = MacAddr([2, 0, 0, 3, 2, 5]);

fn t(s: u64) -> Time {
    Time::from_secs(s)
}

fn subnet(id: &str, cidr: &str, table: &str, acl: &str, zone: &str) -> Subnet {
    Subnet {
        id: id.into(),
        cidr: Some(net(cidr)),
        route_table_id: table.into(),
        network_acl_id: acl.into(),
        availability_zone: zone.into(),
        ipv6_cidr: None,
    }
}

fn route(dst: &str, target: RouteTarget) -> Route {
    Route {
        destination: net(dst),
        target,
    }
}

fn to(vpc: u8) -> TransitGatewayTarget {
    TransitGatewayTarget::Vpc {
        attachment_id: format!("tgw-attach-{vpc}"),
        vpc_id: format!("vpc-{vpc}"),
    }
}

fn tgw_route(dst: &str, target: TransitGatewayTarget) -> TransitGatewayRoute {
    TransitGatewayRoute {
        destination: net(dst),
        target,
    }
}

fn attachment(
    vpc: u8,
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

fn mapping(ip: Ipv4Addr, host: Ipv4Addr, mac: MacAddr, eni: &str, check: bool) -> Mapping {
    Mapping {
        ip,
        host,
        mac,
        eni_id: eni.into(),
        source_dest_check: check,
    }
}

/// An ACL letting through only one direction (`egress` or not).
fn one_way(id: &str, egress: bool) -> NetworkAcl {
    let mut a = nacl_allow_all(id);
    a.entries.retain(|e| e.egress == egress);
    a
}

fn open_group(id: &str) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        ingress: vec![sg_rule(-1, -1, -1, "10.0.0.0/8")],
        egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
        members: vec![],
        members_v6: vec![],
    }
}

/// Spoke VPC-1 of the fixtures: its subnets in zone a, 0.0.0.0/0 to the gateway, A's
/// group open to 10.0.0.0/8.
fn spoke1() -> Vpc {
    let mut v = vpc();
    for s in &mut v.subnets {
        s.availability_zone = "za".into();
    }
    v.route_tables[0].routes = vec![
        route("10.0.0.0/16", RouteTarget::Local),
        route("0.0.0.0/0", RouteTarget::TransitGateway("tgw-1".into())),
    ];
    v.security_groups[0]
        .ingress
        .push(sg_rule(-1, -1, -1, "10.0.0.0/8"));
    v.transit_gateway_attachments = vec![attachment(
        1,
        &["subnet-b"],
        vec![tgw_route("0.0.0.0/0", to(3))],
    )];
    v.edges = vec![];
    v.ipv6_cidrs = vec![];
    v.mappings_v6 = vec![];
    v
}

/// Spoke VPC-2: D in subnet-2a (zone b), its attachment in subnet-2t.
fn spoke2() -> Vpc {
    Vpc {
        id: "vpc-2".into(),
        vni: VNI2,
        cidrs: vec![net("10.2.0.0/16")],
        router_mac: ROUTER2,
        subnets: vec![
            subnet("subnet-2a", "10.2.1.0/24", "rtb-2", "acl-2", "zb"),
            subnet("subnet-2t", "10.2.200.0/24", "rtb-2", "acl-2", "zb"),
        ],
        route_tables: vec![RouteTable {
            id: "rtb-2".into(),
            routes: vec![
                route("10.2.0.0/16", RouteTarget::Local),
                route("0.0.0.0/0", RouteTarget::TransitGateway("tgw-1".into())),
            ],
            routes_v6: vec![],
        }],
        network_acls: vec![nacl_allow_all("acl-2")],
        security_groups: vec![open_group("sg-2")],
        dhcp: DhcpOptions::default(),
        mappings: vec![mapping(D_IP, H3, D_MAC, "eni-d", true)],
        edges: vec![],
        peerings: vec![],
        transit_gateway_attachments: vec![attachment(
            2,
            &["subnet-2t"],
            vec![tgw_route("0.0.0.0/0", to(3))],
        )],
        ipv6_cidrs: vec![],
        mappings_v6: vec![],
    }
}

/// The inspection VPC-3: attachment subnet-3t (zone a) routing 0.0.0.0/0 to eni-mb in
/// subnet-3m, which routes 10.0.0.0/8 back to the gateway. Its attachment's table
/// sends each spoke's block to the spoke.
fn inspection() -> Vpc {
    Vpc {
        id: "vpc-3".into(),
        vni: VNI3,
        cidrs: vec![net("10.3.0.0/16")],
        router_mac: ROUTER3,
        subnets: vec![
            subnet("subnet-3t", "10.3.200.0/24", "rtb-3t", "acl-3t", "za"),
            subnet("subnet-3m", "10.3.1.0/24", "rtb-3m", "acl-3m", "za"),
        ],
        route_tables: vec![
            RouteTable {
                id: "rtb-3t".into(),
                routes: vec![
                    route("10.3.0.0/16", RouteTarget::Local),
                    route("0.0.0.0/0", RouteTarget::NetworkInterface("eni-mb".into())),
                ],
                routes_v6: vec![],
            },
            RouteTable {
                id: "rtb-3m".into(),
                routes: vec![
                    route("10.3.0.0/16", RouteTarget::Local),
                    route("10.0.0.0/8", RouteTarget::TransitGateway("tgw-1".into())),
                ],
                routes_v6: vec![],
            },
        ],
        network_acls: vec![nacl_allow_all("acl-3t"), nacl_allow_all("acl-3m")],
        security_groups: vec![open_group("sg-mb")],
        dhcp: DhcpOptions::default(),
        mappings: vec![mapping(MB_IP, H2, MB_MAC, "eni-mb", false)],
        edges: vec![],
        peerings: vec![],
        transit_gateway_attachments: vec![attachment(
            3,
            &["subnet-3t"],
            vec![
                tgw_route("10.0.0.0/16", to(1)),
                tgw_route("10.2.0.0/16", to(2)),
            ],
        )],
        ipv6_cidrs: vec![],
        mappings_v6: vec![],
    }
}

fn port(id: &str, vpc: &str, subnet: &str, mac: MacAddr, ip: Ipv4Addr, sg: &str) -> Port {
    Port {
        id: id.into(),
        vpc_id: vpc.into(),
        subnet_id: subnet.into(),
        mac,
        primary_ip: Some(ip),
        secondary_ips: vec![],
        security_groups: vec![sg.into()],
        source_dest_check: !id.starts_with("eni-mb"),
        conntrack: ConntrackTimeouts::default(),
        hostname: None,
        instance_id: None,
        device_index: 0,
        flow_logs: true,
        ipv6_addresses: vec![],
    }
}

fn program(address: Ipv4Addr, ports: Vec<Port>, vpcs: Vec<Vpc>) -> HostProgram {
    HostProgram {
        underlay: Underlay {
            address,
            mac: MacAddr([2, 0xee, 0, 0, 0, address.octets()[3]]),
            next_hop_mac: MacAddr([2, 0xee, 0, 0, 0, 1]),
        },
        ports,
        vpcs,
    }
}

/// The three hosts' engines (A's, the appliance's, D's), VPC-3 changed by `change`.
struct Hosts {
    a: Engine,
    mb: Engine,
    d: Engine,
}

fn hosts(change: impl Fn(&mut Vpc)) -> Hosts {
    let mut i = inspection();
    change(&mut i);
    let a = program(
        H1,
        vec![port("eni-a", "vpc-1", "subnet-a", A_MAC, A_IP, "sg-app")],
        vec![spoke1(), i.clone()],
    );
    let mb = program(
        H2,
        vec![port("eni-mb", "vpc-3", "subnet-3m", MB_MAC, MB_IP, "sg-mb")],
        vec![i.clone(), spoke1(), spoke2()],
    );
    let d = program(
        H3,
        vec![port("eni-d", "vpc-2", "subnet-2a", D_MAC, D_IP, "sg-2")],
        vec![spoke2(), i],
    );
    Hosts {
        a: Engine::with_program(a).unwrap(),
        mb: Engine::with_program(mb).unwrap(),
        d: Engine::with_program(d).unwrap(),
    }
}

fn syn() -> Vec<u8> {
    tcp_frame(A_MAC, ROUTER_MAC, A_IP, D_IP, 40000, 22, SYN, 0)
}

fn synack() -> Vec<u8> {
    tcp_frame(D_MAC, ROUTER2, D_IP, A_IP, 22, 40000, SYN | ACK, 0)
}

fn drop_of(v: Verdict) -> DropReason {
    match v {
        Verdict::Drop { reason } => reason,
        other => panic!("expected a drop, got {other:?}"),
    }
}

/// The inner frame of an encapsulated packet.
fn inner(wire: &[u8]) -> Vec<u8> {
    let d = crate::overlay::decapsulate(wire).unwrap();
    wire[d.inner_offset..d.inner_end].to_vec()
}

/// What an appliance forwarding `frame` on sends: the same packet, from its MAC to
/// its VPC's router.
fn forwarded(frame: &[u8], mac: MacAddr) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[0..6].copy_from_slice(&ROUTER3.0);
    f[6..12].copy_from_slice(&mac.0);
    f
}

/// `frame` carried from host `from` to host `to` in VPC number `vni`.
fn encap(from: Ipv4Addr, to: Ipv4Addr, vni: u32, frame: &[u8]) -> Vec<u8> {
    let template = crate::overlay::outer_template(
        &Underlay {
            address: from,
            mac: MacAddr::ZERO,
            next_hop_mac: MacAddr::ZERO,
        },
        to,
        vni,
        0xc000,
    );
    let mut w = Vec::new();
    crate::overlay::encapsulate(&mut w, &template, frame).unwrap();
    w
}

fn pid(e: &Engine, eni: &str) -> PortId {
    e.port_id(eni).unwrap()
}

#[test]
fn two_spokes_talk_only_through_the_appliance_both_ways() {
    let mut h = hosts(|_| {});
    let (a, mb, d) = (pid(&h.a, "eni-a"), pid(&h.mb, "eni-mb"), pid(&h.d, "eni-d"));
    let (mut w1, mut w2, mut w3, mut w4) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..2 {
        // A's host walks A → tgw → VPC-3's attachment subnet → the appliance's ENI
        assert_eq!(
            h.a.process_from_port(t(1), a, &syn(), &mut w1),
            Verdict::ToUnderlay {
                host: H2,
                vni: VNI3
            },
            "round {round}"
        );
        let f = inner(&w1);
        assert_eq!(&f[0..6], &MB_MAC.0);
        assert_eq!(&f[14..], &syn()[14..]);
        // the appliance's host delivers it (not its address: its check is off)
        assert_eq!(
            h.mb.process_from_underlay(t(1), &w1, &mut w2),
            Verdict::ToPort { port: mb }
        );
        assert_eq!(&w2[0..6], &MB_MAC.0);
        assert_eq!(&w2[6..12], &ROUTER3.0);
        // what it forwards: subnet-3m → tgw → VPC-3's table → VPC-2
        assert_eq!(
            h.mb.process_from_port(t(1), mb, &forwarded(&w2, MB_MAC), &mut w3),
            Verdict::ToUnderlay {
                host: H3,
                vni: VNI2
            }
        );
        assert_eq!(
            h.d.process_from_underlay(t(1), &w3, &mut w4),
            Verdict::ToPort { port: d }
        );
        assert_eq!(&w4[0..6], &D_MAC.0);
        assert_eq!(&w4[14..], &syn()[14..]);
        // the reply: D → tgw → VPC-3 → the appliance → tgw → A
        assert_eq!(
            h.d.process_from_port(t(1), d, &synack(), &mut w1),
            Verdict::ToUnderlay {
                host: H2,
                vni: VNI3
            }
        );
        assert_eq!(
            h.mb.process_from_underlay(t(1), &w1, &mut w2),
            Verdict::ToPort { port: mb }
        );
        assert_eq!(
            h.mb.process_from_port(t(1), mb, &forwarded(&w2, MB_MAC), &mut w3),
            Verdict::ToUnderlay { host: H1, vni: VNI }
        );
        assert_eq!(
            h.a.process_from_underlay(t(1), &w3, &mut w4),
            Verdict::ToPort { port: a }
        );
        assert_eq!(&w4[14..], &synack()[14..]);
    }
    // the second round came from the flow caches
    assert!(h.a.stats().fast_path > 0 && h.mb.stats().fast_path > 0);
}

#[test]
fn the_appliance_on_the_senders_host_takes_it_there() {
    let mut i = inspection();
    i.mappings[0].host = H1;
    let p = program(
        H1,
        vec![
            port("eni-a", "vpc-1", "subnet-a", A_MAC, A_IP, "sg-app"),
            port("eni-mb", "vpc-3", "subnet-3m", MB_MAC, MB_IP, "sg-mb"),
        ],
        vec![spoke1(), i, spoke2()],
    );
    let mut h = Engine::with_program(p).unwrap();
    let (a, mb) = (pid(&h, "eni-a"), pid(&h, "eni-mb"));
    let (mut out, mut w) = (Vec::new(), Vec::new());
    assert_eq!(
        h.process_from_port(t(1), a, &syn(), &mut out),
        Verdict::ToPort { port: mb }
    );
    assert_eq!(&out[0..6], &MB_MAC.0);
    assert_eq!(&out[6..12], &ROUTER3.0);
    assert_eq!(
        h.process_from_port(t(1), mb, &forwarded(&out, MB_MAC), &mut w),
        Verdict::ToUnderlay {
            host: H3,
            vni: VNI2
        }
    );
}

#[test]
fn acls_groups_checks_and_routes_of_the_inspection_vpc_decide() {
    let mut w = Vec::new();
    let go = |h: &mut Hosts, w: &mut Vec<u8>| {
        let a = pid(&h.a, "eni-a");
        h.a.process_from_port(t(1), a, &syn(), w)
    };
    // out of the attachment subnet, into the appliance's
    let mut h = hosts(|v| v.network_acls[0] = one_way("acl-3t", false));
    assert_eq!(drop_of(go(&mut h, &mut w)), DropReason::NaclEgress);
    assert_eq!(h.a.stats().drops[DropReason::NaclEgress as usize], 1);
    let mut h = hosts(|v| v.network_acls[1] = one_way("acl-3m", true));
    assert_eq!(drop_of(go(&mut h, &mut w)), DropReason::NaclIngress);
    // the appliance in the attachment subnet: no ACL between them
    let mut h = hosts(|v| {
        v.network_acls[0] = NetworkAcl {
            id: "acl-3t".into(),
            entries: vec![],
            entries_v6: vec![],
        };
        v.mappings[0].ip = Ipv4Addr::new(10, 3, 200, 5);
    });
    assert!(matches!(
        go(&mut h, &mut w),
        Verdict::ToUnderlay { host: H2, .. }
    ));
    // the attachment subnet's table: no route, a blackhole, an ENI nobody holds
    let mut h = hosts(|v| v.route_tables[0].routes.truncate(1));
    assert_eq!(drop_of(go(&mut h, &mut w)), DropReason::NoRoute);
    let mut h = hosts(|v| v.route_tables[0].routes[1].target = RouteTarget::Blackhole);
    assert_eq!(drop_of(go(&mut h, &mut w)), DropReason::Blackhole);
    let mut h = hosts(|v| v.mappings.clear());
    assert_eq!(drop_of(go(&mut h, &mut w)), DropReason::NoMapping);
    // the appliance's host: its group, its check
    let mut h = hosts(|v| v.security_groups[0].ingress.clear());
    assert!(matches!(go(&mut h, &mut w), Verdict::ToUnderlay { .. }));
    let mut out = Vec::new();
    assert_eq!(
        drop_of(h.mb.process_from_underlay(t(1), &w, &mut out)),
        DropReason::SecurityGroupIngress
    );
    assert_eq!(
        h.mb.stats().drops[DropReason::SecurityGroupIngress as usize],
        1
    );
    let mut h = hosts(|_| {});
    let mut p = h.mb.program();
    p.ports[0].source_dest_check = true;
    h.mb.set_program(p).unwrap();
    assert!(matches!(go(&mut h, &mut w), Verdict::ToUnderlay { .. }));
    assert_eq!(
        drop_of(h.mb.process_from_underlay(t(1), &w, &mut out)),
        DropReason::DestinationCheck
    );
    // the way back into the gateway: the appliance subnet's table
    let mut h = hosts(|v| v.route_tables[1].routes.truncate(1));
    assert!(matches!(go(&mut h, &mut w), Verdict::ToUnderlay { .. }));
    let mb = pid(&h.mb, "eni-mb");
    assert!(matches!(
        h.mb.process_from_underlay(t(1), &w, &mut out),
        Verdict::ToPort { .. }
    ));
    let mut w2 = Vec::new();
    assert_eq!(
        drop_of(h.mb.process_from_port(t(1), mb, &forwarded(&out, MB_MAC), &mut w2)),
        DropReason::NoRoute
    );
}

#[test]
fn only_the_appliances_host_may_send_another_vpcs_sources_into_a_spoke() {
    let mut h = hosts(|_| {});
    let (a, mb) = (pid(&h.a, "eni-a"), pid(&h.mb, "eni-mb"));
    let (mut w1, mut w2, mut w3, mut out) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    h.a.process_from_port(t(1), a, &syn(), &mut w1);
    h.mb.process_from_underlay(t(1), &w1, &mut w2);
    assert!(matches!(
        h.mb.process_from_port(t(1), mb, &forwarded(&w2, MB_MAC), &mut w3),
        Verdict::ToUnderlay { host: H3, .. }
    ));
    // the same packet from host 4 (no appliance of VPC-3 there): refused
    let forged = encap(H4, H3, VNI2, &inner(&w3));
    assert_eq!(
        drop_of(h.d.process_from_underlay(t(1), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
    // once the ENI's check is on, its host is no appliance's
    let mut h = hosts(|v| v.mappings[0].source_dest_check = false);
    let mut p = h.d.program();
    p.vpcs[1].mappings[0].source_dest_check = true;
    h.d.set_program(p).unwrap();
    assert_eq!(
        drop_of(h.d.process_from_underlay(t(1), &w3, &mut out)),
        DropReason::AuthenticationFailed
    );
}

/// Two appliances, one per zone (zone a on host 2, zone b on host 4), each attachment
/// subnet routing to its own; A in zone a, D in zone b.
fn two_zones(appliance_mode: bool) -> (Engine, Engine) {
    let mut i = inspection();
    i.subnets.push(subnet(
        "subnet-3tb",
        "10.3.201.0/24",
        "rtb-3tb",
        "acl-3t",
        "zb",
    ));
    i.subnets.push(subnet(
        "subnet-3mb",
        "10.3.2.0/24",
        "rtb-3m",
        "acl-3m",
        "zb",
    ));
    i.route_tables.push(RouteTable {
        id: "rtb-3tb".into(),
        routes: vec![
            route("10.3.0.0/16", RouteTarget::Local),
            route("0.0.0.0/0", RouteTarget::NetworkInterface("eni-mb2".into())),
        ],
        routes_v6: vec![],
    });
    i.mappings
        .push(mapping(MB2_IP, H4, MB2_MAC, "eni-mb2", false));
    let a3 = &mut i.transit_gateway_attachments[0];
    a3.subnet_ids.push("subnet-3tb".into());
    a3.appliance_mode = appliance_mode;
    let mut s2 = spoke2();
    s2.subnets.push(subnet(
        "subnet-2ta",
        "10.2.201.0/24",
        "rtb-2",
        "acl-2",
        "za",
    ));
    s2.transit_gateway_attachments[0]
        .subnet_ids
        .push("subnet-2ta".into());
    let mut s1 = spoke1();
    s1.subnets.push(subnet(
        "subnet-1tb",
        "10.0.201.0/24",
        "rtb-main",
        "acl-default",
        "zb",
    ));
    s1.transit_gateway_attachments[0]
        .subnet_ids
        .push("subnet-1tb".into());
    let a = program(
        H1,
        vec![port("eni-a", "vpc-1", "subnet-a", A_MAC, A_IP, "sg-app")],
        vec![s1, i.clone()],
    );
    let d = program(
        H3,
        vec![port("eni-d", "vpc-2", "subnet-2a", D_MAC, D_IP, "sg-2")],
        vec![s2, i],
    );
    (
        Engine::with_program(a).unwrap(),
        Engine::with_program(d).unwrap(),
    )
}

#[test]
fn appliance_mode_keeps_both_directions_of_a_flow_on_one_appliance() {
    // without it each direction leaves by its sender's zone: two appliances
    let (mut a, mut d) = two_zones(false);
    let (pa, pd) = (pid(&a, "eni-a"), pid(&d, "eni-d"));
    let mut w = Vec::new();
    assert!(matches!(
        a.process_from_port(t(1), pa, &syn(), &mut w),
        Verdict::ToUnderlay { host: H2, .. }
    ));
    assert!(matches!(
        d.process_from_port(t(1), pd, &synack(), &mut w),
        Verdict::ToUnderlay { host: H4, .. }
    ));
    // with it, every flow and its reply meet at one of them, and flows spread over both
    let (mut a, mut d) = two_zones(true);
    let mut seen = std::collections::BTreeSet::new();
    for port in 40000..40032u16 {
        let f = tcp_frame(A_MAC, ROUTER_MAC, A_IP, D_IP, port, 22, SYN, 0);
        let r = tcp_frame(D_MAC, ROUTER2, D_IP, A_IP, 22, port, SYN | ACK, 0);
        let there = a.process_from_port(t(1), pa, &f, &mut w);
        let back = d.process_from_port(t(1), pd, &r, &mut w);
        assert_eq!(there, back, "port {port}");
        seen.insert(format!("{there:?}"));
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn removing_the_route_to_the_appliance_cuts_cached_flows() {
    let mut h = hosts(|_| {});
    let a = pid(&h.a, "eni-a");
    let mut w = Vec::new();
    for _ in 0..2 {
        assert!(matches!(
            h.a.process_from_port(t(1), a, &syn(), &mut w),
            Verdict::ToUnderlay { host: H2, .. }
        ));
    }
    let mut p = h.a.program();
    p.vpcs[1].route_tables[0].routes.truncate(1);
    h.a.set_program(p).unwrap();
    assert_eq!(
        drop_of(h.a.process_from_port(t(2), a, &syn(), &mut w)),
        DropReason::NoRoute
    );
    // and the appliance moving elsewhere moves the flow
    let mut h = hosts(|_| {});
    h.a.process_from_port(t(1), a, &syn(), &mut w);
    h.a.upsert_mapping("vpc-3", mapping(MB_IP, H4, MB_MAC, "eni-mb", false));
    assert!(matches!(
        h.a.process_from_port(t(2), a, &syn(), &mut w),
        Verdict::ToUnderlay { host: H4, .. }
    ));
}
