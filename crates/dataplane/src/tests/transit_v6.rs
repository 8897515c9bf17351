//! IPv6 through a transit gateway: VPC-1 (A, host 1) and VPC-2 (P, host 2) reach each
//! other's IPv6 blocks by the gateway tables' IPv6 routes, VPC-1 through its attachment
//! subnet-b (A is in subnet-a), under that subnet's ACL as for IPv4.

use super::{drop_of, pid, t};
use crate::fixtures::*;
use crate::program::*;
use crate::wire::ethernet::MacAddr;
use crate::wire::tcp;
use crate::{DropReason, Engine, Verdict};
use std::net::{Ipv4Addr, Ipv6Addr};

const VNI2: u32 = 0x2222;
const P_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 5, 5);
const P_MAC: MacAddr = MacAddr([2, 0, 0, 1, 5, 5]);
const ROUTER2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn p6() -> Ipv6Addr {
    "2001:db8:2:5::5".parse().unwrap()
}

fn to(vpc: u8) -> TransitGatewayTarget {
    TransitGatewayTarget::Vpc {
        attachment_id: format!("tgw-attach-{vpc}"),
        vpc_id: format!("vpc-{vpc}"),
    }
}

fn attachment(
    vpc: u8,
    subnet: &str,
    routes_v6: Vec<TransitGatewayRoute6>,
) -> TransitGatewayAttachment {
    TransitGatewayAttachment {
        id: format!("tgw-attach-{vpc}"),
        transit_gateway_id: "tgw-1".into(),
        subnet_ids: vec![subnet.into()],
        appliance_mode: false,
        route_table_id: String::new(),
        routes: vec![],
        routes_v6,
        senders: vec![],
    }
}

fn route6(dst: &str, target: TransitGatewayTarget) -> TransitGatewayRoute6 {
    TransitGatewayRoute6 {
        destination: net6(dst),
        target,
    }
}

fn vpc1() -> Vpc {
    let mut v = vpc();
    v.route_tables[0].routes_v6.push(Route6 {
        destination: net6("2001:db8:2::/56"),
        target: RouteTarget::TransitGateway("tgw-1".into()),
    });
    v.transit_gateway_attachments = vec![attachment(
        1,
        "subnet-b",
        vec![
            route6("2001:db8:2::/56", to(2)),
            route6("2001:db8:2:9::/64", TransitGatewayTarget::Blackhole),
        ],
    )];
    v
}

fn vpc2() -> Vpc {
    let mut v = vpc();
    v.id = "vpc-2".into();
    v.vni = VNI2;
    v.cidrs = vec![net("10.1.0.0/16")];
    v.ipv6_cidrs = vec![net6("2001:db8:2::/56")];
    v.router_mac = ROUTER2;
    v.subnets = vec![Subnet {
        id: "subnet-p".into(),
        cidr: net("10.1.5.0/24"),
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
            target: RouteTarget::TransitGateway("tgw-1".into()),
        },
    ];
    v.mappings = vec![Mapping {
        ip: P_IP,
        host: H2,
        mac: P_MAC,
        eni_id: "eni-p".into(),
        source_dest_check: true,
    }];
    v.mappings_v6 = vec![mapping6(p6(), H2, P_MAC, "eni-p")];
    v.edges = vec![];
    v.transit_gateway_attachments = vec![attachment(
        2,
        "subnet-p",
        vec![route6("2001:db8:1::/56", to(1))],
    )];
    v
}

/// Hosts 1 (A) and 2 (P), each serving both VPCs, VPC-1 changed by `change`.
fn engines(change: impl Fn(&mut Vpc)) -> (Engine, Engine) {
    let mut v1 = vpc1();
    change(&mut v1);
    let mut p1 = host1();
    p1.vpcs = vec![v1.clone(), vpc2()];
    let mut p2 = host2();
    p2.vpcs = vec![v1, vpc2()];
    let mut port = p2.ports[0].clone();
    port.id = "eni-p".into();
    port.vpc_id = "vpc-2".into();
    port.subnet_id = "subnet-p".into();
    port.mac = P_MAC;
    port.primary_ip = P_IP;
    port.secondary_ips = vec![];
    port.ipv6_addresses = vec![p6()];
    p2.ports = vec![port];
    (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(p2).unwrap(),
    )
}

fn syn(dst: Ipv6Addr) -> Vec<u8> {
    tcp6_frame(A_MAC, ROUTER_MAC, A_IP6, dst, 40000, 22, tcp::flags::SYN, 0)
}

#[test]
fn ipv6_crosses_a_transit_gateway_both_ways() {
    let (mut h1, mut h2) = engines(|_| {});
    let (a, p) = (pid(&h1, "eni-a"), pid(&h2, "eni-p"));
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        assert_eq!(
            h1.process_from_port(t(1), a, &syn(p6()), &mut wire),
            Verdict::ToUnderlay {
                host: H2,
                vni: VNI2
            }
        );
        assert_eq!(
            h2.process_from_underlay(t(1), &wire, &mut out),
            Verdict::ToPort { port: p }
        );
    }
    assert_eq!(&out[0..6], &P_MAC.0);
    let synack = tcp6_frame(
        P_MAC,
        ROUTER2,
        p6(),
        A_IP6,
        22,
        40000,
        tcp::flags::SYN | tcp::flags::ACK,
        0,
    );
    assert_eq!(
        h2.process_from_port(t(2), p, &synack, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(2), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    // P's address from another host than its own is refused
    h2.process_from_port(t(3), p, &synack, &mut wire);
    let mut forged = wire.clone();
    forged[26..30].copy_from_slice(&Ipv4Addr::new(127, 0, 0, 77).octets());
    crate::wire::ipv4::Packet::new_unchecked(&mut forged[14..34]).fill_checksum();
    assert_eq!(
        drop_of(h1.process_from_underlay(t(3), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
}

#[test]
fn the_gateway_tables_ipv6_routes_and_the_attachment_subnets_acl_decide() {
    let mut wire = Vec::new();
    let (mut h1, _) = engines(|_| {});
    let a = pid(&h1, "eni-a");
    let black: Ipv6Addr = "2001:db8:2:9::1".parse().unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(black), &mut wire)),
        DropReason::Blackhole
    );
    let (mut h1, _) = engines(|v| v.transit_gateway_attachments[0].routes_v6.clear());
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(p6()), &mut wire)),
        DropReason::NoRoute
    );
    // subnet-b lets no IPv6 in: A cannot enter the gateway by it
    let (mut h1, _) = engines(|v| {
        v.network_acls.push(NetworkAcl {
            id: "acl-v4-only".into(),
            entries: nacl_allow_all("x").entries,
            entries_v6: vec![],
        });
        v.subnets[1].network_acl_id = "acl-v4-only".into();
    });
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &syn(p6()), &mut wire)),
        DropReason::NaclIngress
    );
}
