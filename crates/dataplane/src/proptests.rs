//! Property tests: the engine against the reference evaluator on random programs and
//! packet sequences, and parse → emit → parse round trips of every wire format.

use crate::fixtures::{self, net};
use crate::program::*;
use crate::reference::Reference;
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::{arp, dhcp, geneve, icmp, ip_proto, ipv4, tcp, udp};
use crate::{Engine, EngineConfig, Output, PortId, Time, Verdict, overlay};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

// ---- IPv6 twins -----------------------------------------------------------------------
//
// Every random program is dual stack: each IPv4 address, block, route, ACL entry and rule
// has an IPv6 twin, so the same probes run in both families and are judged the same way.
// 10.0.x.y is 2001:db8:1:x::y (the VPC's /56, subnets' /64s), 10.8.x.y (the VPC joined
// through tgw-1) 2001:db8:8:x::y, an outside a.b.c.d is 2001:db8:f0aa:bbcc::d,
// 169.254.169.y is fd00:ec2::y; ICMP's types are ICMPv6's. Transit gateway tables' IPv6
// routes are the twins of their IPv4 routes.

fn twin(a: Ipv4Addr) -> Ipv6Addr {
    match a.octets() {
        [10, 0, x, y] => Ipv6Addr::new(0x2001, 0xdb8, 1, x.into(), 0, 0, 0, y.into()),
        [10, 8, x, y] => Ipv6Addr::new(0x2001, 0xdb8, 8, x.into(), 0, 0, 0, y.into()),
        [169, 254, 169, y] => Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, y.into()),
        [a, b, c, d] => Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xf000 | u16::from(a),
            (u16::from(b) << 8) | u16::from(c),
            0,
            0,
            0,
            d.into(),
        ),
    }
}

fn twin_net(n: ipnet::Ipv4Net) -> ipnet::Ipv6Net {
    let len = match (n.network().octets(), n.prefix_len()) {
        (_, 0) => 0,
        ([10, ..], 8) => 36,
        ([10, 0 | 8, ..], 16) => 56,
        ([10, 0 | 8, ..], 24) => 64,
        (_, l) => 96 + l,
    };
    ipnet::Ipv6Net::new(twin(n.network()), len)
        .expect("prefix")
        .trunc()
}

/// ICMP's type as ICMPv6 has it (echo, its reply, unreachable, time exceeded).
fn twin_icmp(t: u8) -> u8 {
    match t {
        8 => 128,
        0 => 129,
        3 => 1,
        11 => 3,
        t => t,
    }
}

fn twin_rule(r: &SgRule) -> Option<SgRule> {
    let SgPeer::Cidr(n) = &r.peer else {
        return None;
    };
    let (protocol, from_port) = if r.protocol == 1 {
        let t = if r.from_port < 0 {
            r.from_port
        } else {
            i32::from(twin_icmp(u8::try_from(r.from_port).unwrap_or(255)))
        };
        (58, t)
    } else {
        (r.protocol, r.from_port)
    };
    Some(SgRule {
        protocol,
        from_port,
        to_port: r.to_port,
        peer: SgPeer::Cidr6(twin_net(*n)),
    })
}

/// A gateway table's IPv6 routes: the twins of its IPv4 routes (a peering's peer table's
/// too).
fn twin_tgw_routes(routes: &[TransitGatewayRoute]) -> Vec<TransitGatewayRoute6> {
    routes
        .iter()
        .map(|r| TransitGatewayRoute6 {
            destination: twin_net(r.destination),
            target: match &r.target {
                TransitGatewayTarget::Peering {
                    attachment_id,
                    route_table_id,
                    routes,
                    ..
                } => TransitGatewayTarget::Peering {
                    attachment_id: attachment_id.clone(),
                    route_table_id: route_table_id.clone(),
                    routes: vec![],
                    routes_v6: twin_tgw_routes(routes),
                },
                t => t.clone(),
            },
        })
        .collect()
}

fn with_twins(g: &mut SecurityGroup) {
    let twins = |rules: &[SgRule]| rules.iter().filter_map(twin_rule).collect::<Vec<_>>();
    let (i, e) = (twins(&g.ingress), twins(&g.egress));
    g.ingress.extend(i);
    g.egress.extend(e);
    g.members_v6 = g.members.iter().map(|a| twin(*a)).collect();
}

const H1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const H2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 12);
const H3: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 13);
const EDGE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 99);
const VNI: u32 = 0x1234;
const ROUTER: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

/// Local ports: (eni, ip, mac, subnet).
const LOCAL: [(&str, [u8; 4], u8, &str); 3] = [
    ("eni-l0", [10, 0, 1, 10], 0x10, "subnet-1"),
    ("eni-l1", [10, 0, 2, 11], 0x11, "subnet-2"),
    ("eni-l2", [10, 0, 1, 12], 0x12, "subnet-1"),
];
/// Remote ENIs: (eni, ip, mac, host).
const REMOTE: [(&str, [u8; 4], u8, Ipv4Addr); 3] = [
    ("eni-r0", [10, 0, 1, 20], 0x20, H2),
    ("eni-r1", [10, 0, 2, 21], 0x21, H2),
    ("eni-r2", [10, 0, 3, 22], 0x22, H3),
];
const MIDDLEBOX: ([u8; 4], u8) = ([10, 0, 2, 50], 0x50);

/// The VPC peered with the VPC of the ports (by `pcx-1`): one ENI, on H2, in both
/// families.
fn peer_vpc() -> Vpc {
    let ip = Ipv4Addr::new(10, 9, 0, 5);
    let m = mac(0x95);
    Vpc {
        id: "vpc-9".into(),
        vni: VNI + 9,
        cidrs: vec![net("10.9.0.0/16")],
        router_mac: mac(0x99),
        subnets: vec![Subnet {
            id: "subnet-9".into(),
            cidr: Some(net("10.9.0.0/24")),
            route_table_id: "rtb-9".into(),
            network_acl_id: "acl-9".into(),
            availability_zone: String::new(),
            ipv6_cidr: Some(twin_net(net("10.9.0.0/24"))),
        }],
        route_tables: vec![RouteTable {
            id: "rtb-9".into(),
            routes: vec![Route {
                destination: net("10.9.0.0/16"),
                target: RouteTarget::Local,
            }],
            routes_v6: vec![Route6 {
                destination: twin_net(net("10.9.0.0/16")),
                target: RouteTarget::Local,
            }],
        }],
        network_acls: vec![fixtures::nacl_allow_all("acl-9")],
        security_groups: vec![],
        dhcp: DhcpOptions::default(),
        mappings: vec![Mapping {
            ip,
            host: H2,
            mac: m,
            eni_id: "eni-p9".into(),
            source_dest_check: true,
        }],
        edges: vec![],
        peerings: vec![Peering {
            id: "pcx-1".into(),
            peer_vpc_id: "vpc-1".into(),
        }],
        transit_gateway_attachments: vec![],
        ipv6_cidrs: vec![twin_net(net("10.9.0.0/16"))],
        mappings_v6: vec![Mapping6 {
            ip: twin(ip),
            host: H2,
            mac: m,
            eni_id: "eni-p9".into(),
            source_dest_check: true,
        }],
    }
}

fn mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0xaa, n])
}

// ---- transit gateways -----------------------------------------------------------------
//
// The ports' VPC is attached to tgw-1 (by a random choice of its subnets, in random
// zones); vpc-8 (10.8.0.0/16: an ENI on H2 in subnet-8, zone a, and an attachment subnet
// subnet-8t) too, with ACLs of its own. Both attachments' tables are random: routes to
// each other's attachments, to attachments not present, blackholes, a VPN attachment the
// edge serves (and one it does not), and peering attachments whose peer tables are random
// in the same way (another peering among them: one hop only).

/// The ENI of vpc-8 (on H2).
const TRANSIT_ENI: ([u8; 4], u8) = ([10, 8, 0, 5], 0x85);

const TGW_DESTS: [&str; 8] = [
    "10.8.0.0/16",
    "10.8.0.0/24",
    "10.8.200.0/24",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "10.8.0.5/32",
    "10.0.0.0/16",
    "192.0.2.0/24",
];

fn tgw_target() -> impl Strategy<Value = TransitGatewayTarget> {
    let vpc = |a: &str, v: &str| TransitGatewayTarget::Vpc {
        attachment_id: a.into(),
        vpc_id: v.into(),
    };
    prop::sample::select(vec![
        vpc("tgw-attach-8", "vpc-8"),
        vpc("tgw-attach-8", "vpc-8"),
        vpc("tgw-attach-1", "vpc-1"),
        vpc("tgw-attach-gone", "vpc-8"),
        vpc("tgw-attach-9", "vpc-9"),
        TransitGatewayTarget::Blackhole,
        TransitGatewayTarget::Unsupported("tgw-attach-vpn".into()),
        TransitGatewayTarget::Unsupported("tgw-attach-novpn".into()),
    ])
}

fn tgw_routes(
    target: impl Strategy<Value = TransitGatewayTarget>,
) -> impl Strategy<Value = Vec<TransitGatewayRoute>> {
    prop::collection::vec((prop::sample::select(&TGW_DESTS[..]), target), 0..5).prop_map(|rs| {
        rs.into_iter()
            .map(|(d, target)| TransitGatewayRoute {
                destination: net(d),
                target,
            })
            .collect()
    })
}

/// A route target of a gateway table: an attachment, or a peering whose peer table is
/// random too.
fn tgw_target_or_peering() -> impl Strategy<Value = TransitGatewayTarget> {
    let peering = (
        prop::sample::select(vec!["tgw-attach-p", "tgw-attach-q"]),
        tgw_routes(prop_oneof![
            4 => tgw_target(),
            1 => Just(TransitGatewayTarget::Peering {
                attachment_id: "tgw-attach-r".into(),
                route_table_id: "tgw-rtb-r".into(),
                routes: vec![],
                routes_v6: vec![],
            }),
        ]),
    )
        .prop_map(|(id, routes)| TransitGatewayTarget::Peering {
            attachment_id: id.into(),
            route_table_id: format!("tgw-rtb-{id}"),
            routes,
            routes_v6: vec![],
        });
    prop_oneof![3 => tgw_target(), 2 => peering]
}

fn tgw_attachment(
    vpc: &'static str,
    subnets: Vec<&'static str>,
) -> impl Strategy<Value = TransitGatewayAttachment> {
    (
        prop::sample::subsequence(subnets.clone(), 0..=subnets.len()),
        prop::bool::weighted(0.3),
        tgw_routes(tgw_target_or_peering()),
        prop::sample::subsequence(vec!["vpc-1", "vpc-8", "vpc-9"], 0..2),
    )
        .prop_map(move |(subnet_ids, appliance_mode, routes, senders)| {
            TransitGatewayAttachment {
                id: format!("tgw-attach-{}", &vpc[4..]),
                transit_gateway_id: "tgw-1".into(),
                subnet_ids: subnet_ids.into_iter().map(Into::into).collect(),
                appliance_mode,
                route_table_id: format!("tgw-rtb-{vpc}"),
                routes_v6: twin_tgw_routes(&routes),
                routes,
                senders: senders.into_iter().map(Into::into).collect(),
            }
        })
}

/// The appliance of vpc-8 (centralised inspection): ENI, MAC.
const APPLIANCE: (&str, u8) = ("eni-mb8", 0x8b);

/// The routes of vpc-8's attachment subnet's own table (when it has one): 192.0.2.0/24
/// to the appliance unless a random route replaces it; those most to the appliance, some to an ENI with its check on, one not there, the gateway, a
/// blackhole, a NAT gateway vpc-8 does not have.
fn inspection_routes() -> impl Strategy<Value = Vec<Route>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "0.0.0.0/0",
                "10.0.0.0/8",
                "10.0.0.0/16",
                "192.0.2.0/24",
                "198.51.100.0/24",
            ]),
            prop::sample::select(vec![
                RouteTarget::NetworkInterface(APPLIANCE.0.into()),
                RouteTarget::NetworkInterface(APPLIANCE.0.into()),
                RouteTarget::NetworkInterface(APPLIANCE.0.into()),
                RouteTarget::NetworkInterface("eni-t8".into()),
                RouteTarget::NetworkInterface("eni-none8".into()),
                RouteTarget::TransitGateway("tgw-1".into()),
                RouteTarget::Blackhole,
                RouteTarget::NatGateway("nat-8".into()),
            ]),
        ),
        1..3,
    )
    .prop_map(|extra| {
        let mut routes = vec![
            Route {
                destination: net("10.8.0.0/16"),
                target: RouteTarget::Local,
            },
            Route {
                destination: net("192.0.2.0/24"),
                target: RouteTarget::NetworkInterface(APPLIANCE.0.into()),
            },
        ];
        for (d, target) in extra {
            routes.retain(|r| r.destination != net(d));
            routes.push(Route {
                destination: net(d),
                target,
            });
        }
        routes
    })
}

/// vpc-8, joined with the ports' VPC by tgw-1, and the port of its appliance when the
/// appliance is on this host.
fn transit_vpc() -> impl Strategy<Value = (Vpc, Option<Port>)> {
    (
        tgw_attachment("vpc-8", vec!["subnet-8", "subnet-8t"]),
        nacl("acl-8"),
        nacl("acl-8t"),
        prop::sample::select(vec!["za", "zb"]),
        (
            inspection_routes(),
            prop::bool::weighted(0.8),
            prop::sample::select(vec![H1, H1, H2, H3]),
            prop::sample::select(vec![[10u8, 8, 200, 50], [10, 8, 0, 50]]),
            prop::bool::weighted(0.85),
            group("sg-8"),
        ),
    )
        .prop_map(|(attachment, acl, acl_t, zone_t, appliance)| {
            let (routes_t, own_table, host, ip, check_off, mut sg) = appliance;
            sg.egress.push(open_rule());
            let ip = Ipv4Addr::from(ip);
            let port = (host == H1).then(|| Port {
                id: APPLIANCE.0.into(),
                vpc_id: "vpc-8".into(),
                subnet_id: if ip.octets()[2] == 200 {
                    "subnet-8t"
                } else {
                    "subnet-8"
                }
                .into(),
                mac: mac(APPLIANCE.1),
                primary_ip: Some(ip),
                secondary_ips: vec![],
                security_groups: vec!["sg-8".into()],
                source_dest_check: !check_off,
                conntrack: ConntrackTimeouts::default(),
                hostname: None,
                instance_id: None,
                device_index: 0,
                flow_logs: true,
                ipv6_addresses: vec![],
            });
            let vpc = inspection_vpc(attachment, acl, acl_t, zone_t);
            let mut vpc = vpc;
            if own_table {
                vpc.subnets[1].route_table_id = "rtb-8t".into();
            }
            vpc.route_tables.push(RouteTable {
                id: "rtb-8t".into(),
                routes: routes_t,
                routes_v6: vec![],
            });
            vpc.security_groups = vec![sg];
            vpc.mappings.push(Mapping {
                ip,
                host,
                mac: mac(APPLIANCE.1),
                eni_id: APPLIANCE.0.into(),
                source_dest_check: !check_off,
            });
            (vpc, port)
        })
}

fn inspection_vpc(
    attachment: TransitGatewayAttachment,
    acl: NetworkAcl,
    acl_t: NetworkAcl,
    zone_t: &str,
) -> Vpc {
    let subnet = |id: &str, c: &str, acl: &str, zone: &str| Subnet {
        id: id.into(),
        cidr: Some(net(c)),
        route_table_id: "rtb-8".into(),
        network_acl_id: acl.into(),
        availability_zone: zone.into(),
        ipv6_cidr: Some(twin_net(net(c))),
    };
    let routes = vec![
        Route {
            destination: net("10.8.0.0/16"),
            target: RouteTarget::Local,
        },
        Route {
            destination: net("10.0.0.0/8"),
            target: RouteTarget::TransitGateway("tgw-1".into()),
        },
    ];
    Vpc {
        id: "vpc-8".into(),
        vni: VNI + 8,
        cidrs: vec![net("10.8.0.0/16")],
        router_mac: mac(0x88),
        subnets: vec![
            subnet("subnet-8", "10.8.0.0/24", "acl-8", "za"),
            subnet("subnet-8t", "10.8.200.0/24", "acl-8t", zone_t),
        ],
        route_tables: vec![RouteTable {
            id: "rtb-8".into(),
            routes_v6: twin_routes(&routes),
            routes,
        }],
        network_acls: vec![acl, acl_t],
        security_groups: vec![],
        dhcp: DhcpOptions::default(),
        mappings: vec![Mapping {
            ip: Ipv4Addr::from(TRANSIT_ENI.0),
            host: H2,
            mac: mac(TRANSIT_ENI.1),
            eni_id: "eni-t8".into(),
            source_dest_check: true,
        }],
        edges: vec![],
        peerings: vec![],
        transit_gateway_attachments: vec![attachment],
        ipv6_cidrs: vec![twin_net(net("10.8.0.0/16"))],
        mappings_v6: vec![Mapping6 {
            ip: twin(Ipv4Addr::from(TRANSIT_ENI.0)),
            host: H2,
            mac: mac(TRANSIT_ENI.1),
            eni_id: "eni-t8".into(),
            source_dest_check: true,
        }],
    }
}

/// A table's IPv6 routes: the twins of its IPv4 routes.
fn twin_routes(routes: &[Route]) -> Vec<Route6> {
    routes
        .iter()
        .map(|r| Route6 {
            destination: twin_net(r.destination),
            target: r.target.clone(),
        })
        .collect()
}

const CIDRS: [&str; 6] = [
    "0.0.0.0/0",
    "10.0.0.0/16",
    "10.0.1.0/24",
    "10.0.2.0/24",
    "198.51.100.0/24",
    "10.0.1.16/28",
];

fn cidr() -> impl Strategy<Value = ipnet::Ipv4Net> {
    prop::sample::select(&CIDRS[..]).prop_map(net)
}

fn sg_rule() -> impl Strategy<Value = SgRule> {
    let ports = prop::sample::select(vec![
        (-1, -1),
        (22, 22),
        (0, 65535),
        (80, 90),
        (1000, 2000),
        (53, 53),
    ]);
    let icmp = prop::sample::select(vec![(-1, -1), (8, -1), (8, 0), (0, -1), (3, 4)]);
    let peer = prop_oneof![
        3 => cidr().prop_map(SgPeer::Cidr),
        1 => prop::sample::select(vec!["sg-1", "sg-2", "sg-3"]).prop_map(|g| SgPeer::Group(g.into())),
    ];
    (
        prop::sample::select(vec![-1i16, 6, 17, 1, 47]),
        ports,
        icmp,
        peer,
    )
        .prop_map(|(protocol, p, i, peer)| {
            let (from_port, to_port) = if protocol == 1 { i } else { p };
            SgRule {
                protocol,
                from_port,
                to_port,
                peer,
            }
        })
}

fn nacl_entry() -> impl Strategy<Value = NaclEntry> {
    (
        1u16..200,
        any::<bool>(),
        prop::sample::select(vec![-1i16, 6, 17, 1]),
        prop::bool::weighted(0.7),
        cidr(),
        prop::option::of(prop::sample::select(vec![
            (22u16, 22u16),
            (0, 1023),
            (1024, 65535),
            (80, 80),
        ])),
        prop::option::of(prop::sample::select(vec![
            (-1i16, -1i16),
            (8, -1),
            (0, 0),
            (3, 4),
        ])),
    )
        .prop_map(
            |(rule_number, egress, protocol, allow, cidr, port_range, icmp)| NaclEntry {
                rule_number,
                egress,
                protocol,
                allow,
                cidr,
                port_range,
                icmp,
            },
        )
}

fn nacl(id: &'static str) -> impl Strategy<Value = NetworkAcl> {
    (
        prop::collection::vec(nacl_entry(), 0..6),
        prop::bool::weighted(0.7),
    )
        .prop_map(move |(mut entries, open)| {
            if open {
                for egress in [false, true] {
                    entries.push(NaclEntry {
                        rule_number: 32000,
                        egress,
                        protocol: -1,
                        allow: true,
                        cidr: net("0.0.0.0/0"),
                        port_range: None,
                        icmp: None,
                    });
                }
            }
            let entries_v6 = entries
                .iter()
                .map(|e| NaclEntry6 {
                    rule_number: e.rule_number,
                    egress: e.egress,
                    protocol: if e.protocol == 1 { 58 } else { e.protocol },
                    allow: e.allow,
                    cidr: twin_net(e.cidr),
                    port_range: e.port_range,
                    icmp: e.icmp.map(|(t, c)| {
                        let t = if t < 0 {
                            t
                        } else {
                            i16::from(twin_icmp(u8::try_from(t).unwrap_or(255)))
                        };
                        (t, c)
                    }),
                })
                .collect();
            NetworkAcl {
                id: id.into(),
                entries,
                entries_v6,
            }
        })
}

const DESTS: [&str; 10] = [
    "10.8.0.0/16",
    "0.0.0.0/0",
    "198.51.100.0/24",
    "198.51.100.128/25",
    "203.0.113.0/24",
    "10.0.3.0/24",
    "10.0.2.0/24",
    "192.0.2.0/24",
    "10.0.0.0/8",
    "10.9.0.0/16",
];

fn route_target() -> impl Strategy<Value = RouteTarget> {
    prop::sample::select(vec![
        RouteTarget::Local,
        RouteTarget::InternetGateway("igw-1".into()),
        RouteTarget::EgressOnlyInternetGateway("eigw-1".into()),
        RouteTarget::EgressOnlyInternetGateway("eigw-gone".into()),
        RouteTarget::NatGateway("nat-1".into()),
        RouteTarget::NatGateway("nat-gone".into()),
        RouteTarget::NetworkInterface("eni-m".into()),
        RouteTarget::NetworkInterface("eni-none".into()),
        RouteTarget::VpcPeering("pcx-1".into()),
        RouteTarget::VpcPeering("pcx-gone".into()),
        RouteTarget::TransitGateway("tgw-1".into()),
        RouteTarget::TransitGateway("tgw-1".into()),
        RouteTarget::TransitGateway("tgw-gone".into()),
        RouteTarget::Blackhole,
    ])
}

fn route_table(id: &'static str) -> impl Strategy<Value = RouteTable> {
    prop::collection::vec((prop::sample::select(&DESTS[..]), route_target()), 0..5).prop_map(
        move |extra| {
            let mut routes = vec![Route {
                destination: net("10.0.0.0/16"),
                target: RouteTarget::Local,
            }];
            for (d, target) in extra {
                routes.retain(|r| r.destination != net(d));
                routes.push(Route {
                    destination: net(d),
                    target,
                });
            }
            let routes_v6 = twin_routes(&routes);
            RouteTable {
                id: id.into(),
                routes,
                routes_v6,
            }
        },
    )
}

fn open_rule() -> SgRule {
    SgRule {
        protocol: -1,
        from_port: -1,
        to_port: -1,
        peer: SgPeer::Cidr(net("0.0.0.0/0")),
    }
}

fn rules() -> impl Strategy<Value = Vec<SgRule>> {
    (
        prop::collection::vec(sg_rule(), 0..5),
        prop::bool::weighted(0.4),
    )
        .prop_map(|(mut r, open)| {
            if open {
                r.push(open_rule());
            }
            r
        })
}

fn group(id: &'static str) -> impl Strategy<Value = SecurityGroup> {
    (
        rules(),
        rules(),
        prop::collection::vec(
            prop::sample::select(vec![
                Ipv4Addr::new(10, 0, 1, 10),
                Ipv4Addr::new(10, 0, 2, 11),
                Ipv4Addr::new(10, 0, 1, 20),
                Ipv4Addr::new(10, 0, 2, 21),
                Ipv4Addr::new(10, 0, 3, 22),
            ]),
            0..4,
        ),
    )
        .prop_map(move |(ingress, egress, members)| {
            let mut g = SecurityGroup {
                id: id.into(),
                ingress,
                egress,
                members,
                members_v6: vec![],
            };
            with_twins(&mut g);
            g
        })
}

fn groups() -> impl Strategy<Value = Vec<SecurityGroup>> {
    (group("sg-1"), group("sg-2"), group("sg-3")).prop_map(|(a, b, c)| vec![a, b, c])
}

#[derive(Debug, Clone)]
struct Setup {
    program: HostProgram,
    conntrack: u32,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (route_table("rtb-1"), route_table("rtb-2")),
        (nacl("acl-1"), nacl("acl-2")),
        groups(),
        prop::collection::vec(
            (
                prop::sample::subsequence(vec!["sg-1", "sg-2", "sg-3"], 1..3),
                prop::bool::weighted(0.85),
            ),
            1..4,
        ),
        prop::collection::vec((any::<bool>(), any::<bool>()), 3),
        any::<bool>(),
        2u32..6,
        (
            transit_vpc(),
            tgw_attachment("vpc-1", vec!["subnet-1", "subnet-2", "subnet-3"]),
            prop::collection::vec(prop::sample::select(vec!["za", "zb"]), 3),
        ),
    )
        .prop_map(
            |(
                (rt1, rt2),
                (a1, a2),
                groups,
                ports,
                assoc,
                middlebox,
                conntrack,
                ((transit, appliance), attachment, zones),
            )| {
                let subnet = |i: usize, id: &str, c: &str| Subnet {
                    id: id.into(),
                    cidr: Some(net(c)),
                    route_table_id: if assoc[i].0 { "rtb-1" } else { "rtb-2" }.into(),
                    network_acl_id: if assoc[i].1 { "acl-1" } else { "acl-2" }.into(),
                    availability_zone: zones[i].into(),
                    ipv6_cidr: Some(twin_net(net(c))),
                };
                let mut mappings = Vec::new();
                let mut program_ports = Vec::new();
                for (i, (sgs, sdc)) in ports.iter().enumerate() {
                    let (id, ip, m, sn) = LOCAL[i];
                    program_ports.push(Port {
                        id: id.into(),
                        vpc_id: "vpc-1".into(),
                        subnet_id: sn.into(),
                        mac: mac(m),
                        primary_ip: Some(Ipv4Addr::from(ip)),
                        secondary_ips: vec![],
                        security_groups: sgs.iter().map(|s| s.to_string()).collect(),
                        source_dest_check: *sdc,
                        conntrack: ConntrackTimeouts::default(),
                        hostname: None,
                        instance_id: None,
                        device_index: 0,
                        flow_logs: true,
                        ipv6_addresses: vec![twin(Ipv4Addr::from(ip))],
                    });
                    mappings.push(Mapping {
                        ip: Ipv4Addr::from(ip),
                        host: H1,
                        mac: mac(m),
                        eni_id: id.into(),
                        source_dest_check: *sdc,
                    });
                }
                // vpc-8's appliance, when on this host, is the last port
                program_ports.extend(appliance);
                for (id, ip, m, host) in REMOTE {
                    mappings.push(Mapping {
                        ip: Ipv4Addr::from(ip),
                        host,
                        mac: mac(m),
                        eni_id: id.into(),
                        source_dest_check: true,
                    });
                }
                if middlebox {
                    mappings.push(Mapping {
                        ip: Ipv4Addr::from(MIDDLEBOX.0),
                        host: H3,
                        mac: mac(MIDDLEBOX.1),
                        eni_id: "eni-m".into(),
                        source_dest_check: false,
                    });
                }
                let vpc = Vpc {
                    id: "vpc-1".into(),
                    vni: VNI,
                    cidrs: vec![net("10.0.0.0/16")],
                    router_mac: ROUTER,
                    subnets: vec![
                        subnet(0, "subnet-1", "10.0.1.0/24"),
                        subnet(1, "subnet-2", "10.0.2.0/24"),
                        subnet(2, "subnet-3", "10.0.3.0/24"),
                    ],
                    route_tables: vec![rt1, rt2],
                    network_acls: vec![a1, a2],
                    security_groups: groups,
                    dhcp: DhcpOptions::default(),
                    mappings: mappings.clone(),
                    edges: vec![
                        Edge {
                            gateway_id: "igw-1".into(),
                            host: EDGE,
                            subnet_id: None,
                        },
                        Edge {
                            gateway_id: "nat-1".into(),
                            host: EDGE,
                            subnet_id: None,
                        },
                        Edge {
                            gateway_id: "eigw-1".into(),
                            host: EDGE,
                            subnet_id: None,
                        },
                        Edge {
                            gateway_id: "tgw-attach-vpn".into(),
                            host: EDGE,
                            subnet_id: None,
                        },
                    ],
                    peerings: vec![Peering {
                        id: "pcx-1".into(),
                        peer_vpc_id: "vpc-9".into(),
                    }],
                    transit_gateway_attachments: vec![attachment],
                    ipv6_cidrs: vec![twin_net(net("10.0.0.0/16"))],
                    mappings_v6: mappings
                        .iter()
                        .map(|m| Mapping6 {
                            ip: twin(m.ip),
                            host: m.host,
                            mac: m.mac,
                            eni_id: m.eni_id.clone(),
                            source_dest_check: m.source_dest_check,
                        })
                        .collect(),
                };
                Setup {
                    program: HostProgram {
                        underlay: Underlay {
                            address: H1,
                            mac: MacAddr([2, 0xee, 0, 0, 0, 1]),
                            next_hop_mac: MacAddr([2, 0xee, 0, 0, 0, 2]),
                        },
                        ports: program_ports,
                        vpcs: vec![vpc, peer_vpc(), transit],
                    },
                    conntrack,
                }
            },
        )
}

const ADDRS: [[u8; 4]; 19] = [
    [10, 0, 1, 10],
    [10, 0, 2, 11],
    [10, 0, 1, 12],
    [10, 0, 1, 20],
    [10, 0, 2, 21],
    [10, 0, 3, 22],
    [10, 0, 1, 1],
    [10, 0, 0, 2],
    [198, 51, 100, 7],
    [198, 51, 100, 200],
    [203, 0, 113, 5],
    [192, 0, 2, 9],
    [10, 0, 3, 99],
    [169, 254, 169, 254],
    [10, 0, 9, 9],
    [10, 0, 2, 50],
    // an ENI of the peered VPC (on H2)
    [10, 9, 0, 5],
    // the ENI of the VPC joined through tgw-1 (on H2), and an address of its attachment
    // subnet nobody holds
    TRANSIT_ENI.0,
    [10, 8, 200, 9],
];

#[derive(Debug, Clone)]
struct L4 {
    proto: u8,
    sport: u16,
    dport: u16,
    flags: u16,
    icmp: (u8, u8),
}

fn l4() -> impl Strategy<Value = L4> {
    (
        prop::sample::select(vec![6u8, 17, 1, 47]),
        prop::sample::select(vec![1000u16, 40000, 22, 53]),
        prop::sample::select(vec![22u16, 80, 53, 1500, 40000]),
        prop::sample::select(vec![
            tcp::flags::SYN,
            tcp::flags::SYN | tcp::flags::ACK,
            tcp::flags::ACK,
            tcp::flags::FIN | tcp::flags::ACK,
            tcp::flags::RST,
        ]),
        prop::sample::select(vec![(8u8, 0u8), (0, 0), (3, 4), (11, 0)]),
    )
        .prop_map(|(proto, sport, dport, flags, icmp)| L4 {
            proto,
            sport,
            dport,
            flags,
            icmp,
        })
}

#[derive(Debug, Clone)]
enum Event {
    FromPort {
        v6: bool,
        port: usize,
        own_src: bool,
        src: usize,
        dst: usize,
        dst_mac: u8,
        l4: L4,
    },
    /// ARP, or with `v6` a neighbour solicitation (from the port's link-local address
    /// or, with `v6_own`, its own IPv6 address).
    Arp {
        v6: bool,
        v6_own: bool,
        port: usize,
        target: usize,
    },
    FromUnderlay {
        /// The outer source is the host V2P names for the inner source.
        honest: bool,
        /// The inner source MAC is the ports' VPC's transit gateway attachment's (what
        /// the edge carries in from a VPN attachment).
        via_attachment: bool,
        v6: bool,
        outer: usize,
        src: usize,
        dst: usize,
        dst_mac: u8,
        l4: L4,
    },
    /// vpc-8's appliance: a packet a host carries to it (from the host V2P names for the
    /// source with `honest`), or, as a step's reply, what the appliance sends when it is
    /// on this host: the packet forwarded on (`forward`) or its reply.
    Appliance {
        honest: bool,
        outer: usize,
        forward: bool,
        src: usize,
        dst: usize,
        l4: L4,
    },
    NewGroups(Vec<SecurityGroup>),
    /// A V2P delta for a remote ENI: moved to another host, or removed.
    Remap {
        remote: usize,
        host: usize,
        remove: bool,
    },
}

/// 0 router, 1 the owner's MAC, 2 someone else's, 3 broadcast.
fn mac_choice() -> impl Strategy<Value = u8> {
    prop_oneof![9 => Just(0u8), 9 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        10 => (any::<bool>(), 0usize..3, prop::bool::weighted(0.9), 0usize..ADDRS.len(), 0usize..ADDRS.len(), mac_choice(), l4())
            .prop_map(|(v6, port, own_src, src, dst, dst_mac, l4)| Event::FromPort { v6, port, own_src, src, dst, dst_mac, l4 }),
        2 => (any::<bool>(), any::<bool>(), 0usize..3, 0usize..ADDRS.len()).prop_map(|(v6, v6_own, port, target)| Event::Arp { v6, v6_own, port, target }),
        6 => (prop::bool::weighted(0.8), prop::bool::weighted(0.15), any::<bool>(), 0usize..5, 0usize..ADDRS.len(), 0usize..3, mac_choice(), l4())
            .prop_map(|(honest, via_attachment, v6, outer, src, dst, dst_mac, l4)| Event::FromUnderlay { honest, via_attachment, v6, outer, src, dst, dst_mac, l4 }),
        1 => groups().prop_map(Event::NewGroups),
        1 => (0usize..3, 0usize..3, prop::bool::weighted(0.3))
            .prop_map(|(remote, host, remove)| Event::Remap { remote, host, remove }),
    ]
}

/// The probe in `l` between IPv4 addresses `src` and `dst`, or between their IPv6
/// twins.
fn any_frame(
    v6: bool,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    l: &L4,
) -> Vec<u8> {
    if !v6 {
        return l4_frame(src_mac, dst_mac, src, dst, l);
    }
    let (s, d) = (twin(src), twin(dst));
    match l.proto {
        6 => fixtures::tcp6_frame(src_mac, dst_mac, s, d, l.sport, l.dport, l.flags, 3),
        17 => fixtures::udp6_frame(src_mac, dst_mac, s, d, l.sport, l.dport, b"data"),
        1 => fixtures::icmp6_frame(
            src_mac,
            dst_mac,
            s,
            d,
            twin_icmp(l.icmp.0),
            l.icmp.1,
            l.sport,
        ),
        p => fixtures::ipv6_frame(src_mac, dst_mac, s, d, p, b"gre!"),
    }
}

fn l4_frame(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, l: &L4) -> Vec<u8> {
    match l.proto {
        6 => fixtures::tcp_frame(src_mac, dst_mac, src, dst, l.sport, l.dport, l.flags, 3),
        17 => fixtures::udp_frame(src_mac, dst_mac, src, dst, l.sport, l.dport, b"data"),
        1 => fixtures::icmp_frame(src_mac, dst_mac, src, dst, l.icmp.0, l.icmp.1, l.sport),
        p => fixtures::ipv4_frame(src_mac, dst_mac, src, dst, p, b"gre!"),
    }
}

fn mac_for(program: &HostProgram, ip: Ipv4Addr, choice: u8) -> MacAddr {
    match choice {
        0 => ROUTER,
        1 => program.vpcs[0]
            .mappings
            .iter()
            .find(|m| m.ip == ip)
            .map_or(mac(0x77), |m| m.mac),
        2 => mac(0x77),
        _ => MacAddr::BROADCAST,
    }
}

enum Input {
    Port(PortId, Vec<u8>),
    Underlay(Vec<u8>),
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.octets()[..3] == b.octets()[..3]
}

fn encap_from(outer_src: Ipv4Addr, inner: &[u8]) -> Vec<u8> {
    encap_vni(outer_src, VNI, inner)
}

fn encap_vni(outer_src: Ipv4Addr, vni: u32, inner: &[u8]) -> Vec<u8> {
    let sender = Underlay {
        address: outer_src,
        mac: MacAddr::ZERO,
        next_hop_mac: MacAddr::ZERO,
    };
    let t = overlay::outer_template(&sender, H1, vni, 0xc001);
    let mut f = Vec::new();
    overlay::encapsulate(&mut f, &t, inner).unwrap();
    f
}

/// A generated port's IPv4 address (every generated subnet has IPv4).
fn ip4(p: &crate::program::Port) -> Ipv4Addr {
    p.primary_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// The frame an instance behind local port `q` sends to `dst`, addressed as a Linux
/// host would (the owner's MAC on the subnet, else the router's).
fn from_local(program: &HostProgram, q: usize, dst: Ipv4Addr, l: &L4, v6: bool) -> Input {
    let p = &program.ports[q];
    let dmac = if same_subnet(ip4(p), dst) {
        mac_for(program, dst, 1)
    } else {
        ROUTER
    };
    Input::Port(
        PortId(u16::try_from(q).unwrap()),
        any_frame(v6, p.mac, dmac, ip4(p), dst, l),
    )
}

fn reversed(l: &L4) -> L4 {
    let icmp = match l.icmp {
        (8, c) => (0, c),
        other => other,
    };
    L4 {
        sport: l.dport,
        dport: l.sport,
        icmp,
        ..l.clone()
    }
}

/// The packet a step sends: the flow's own, or its reply.
fn input(program: &HostProgram, ev: &Event, reverse: bool, flags: u16) -> Option<Input> {
    let nports = program.ports.len();
    let local = |ip: Ipv4Addr| program.ports.iter().position(|p| p.primary_ip == Some(ip));
    match ev {
        Event::FromPort {
            v6,
            port,
            own_src,
            src,
            dst,
            dst_mac,
            l4,
        } => {
            let q = port % nports;
            let p = &program.ports[q];
            let s_ip = if *own_src {
                ip4(p)
            } else {
                Ipv4Addr::from(ADDRS[*src])
            };
            let d_ip = Ipv4Addr::from(ADDRS[*dst]);
            let l = L4 {
                flags,
                ..l4.clone()
            };
            if !reverse {
                let f = any_frame(*v6, p.mac, mac_for(program, d_ip, *dst_mac), s_ip, d_ip, &l);
                return Some(Input::Port(PortId(u16::try_from(q).unwrap()), f));
            }
            let r = reversed(&l);
            if let Some(q2) = local(d_ip) {
                return Some(from_local(program, q2, s_ip, &r, *v6));
            }
            // (the ports' VPC first, then the VPCs joined with it)
            let mapped = program
                .vpcs
                .iter()
                .flat_map(|v| &v.mappings)
                .find(|m| m.ip == d_ip);
            let outer = mapped.map_or(EDGE, |m| m.host);
            let smac = if same_subnet(s_ip, d_ip) {
                mapped.map_or(ROUTER, |m| m.mac)
            } else {
                ROUTER
            };
            let inner = any_frame(*v6, smac, p.mac, d_ip, s_ip, &r);
            Some(Input::Underlay(encap_from(outer, &inner)))
        }
        Event::Arp {
            v6,
            v6_own,
            port,
            target,
        } => {
            let p = &program.ports[port % nports];
            let t = Ipv4Addr::from(ADDRS[*target]);
            let f = match (*v6, *v6_own) {
                (false, _) => fixtures::arp_request(p.mac, ip4(p), t),
                (true, false) => fixtures::neighbor_solicit(
                    p.mac,
                    crate::wire::ipv6::link_local_of(p.mac.0),
                    twin(t),
                ),
                (true, true) => fixtures::neighbor_solicit(p.mac, twin(ip4(p)), twin(t)),
            };
            Some(Input::Port(
                PortId(u16::try_from(port % nports).unwrap()),
                f,
            ))
        }
        Event::FromUnderlay {
            honest,
            via_attachment,
            v6,
            outer,
            src,
            dst,
            dst_mac,
            l4,
        } => {
            let s_ip = Ipv4Addr::from(ADDRS[*src]);
            let d_ip = Ipv4Addr::from(LOCAL[*dst].1);
            let l = L4 {
                flags,
                ..l4.clone()
            };
            if reverse {
                let q = local(d_ip)?;
                return Some(from_local(program, q, s_ip, &reversed(&l), *v6));
            }
            let mapped = program
                .vpcs
                .iter()
                .flat_map(|v| &v.mappings)
                .find(|m| m.ip == s_ip);
            let outer_src = match mapped {
                Some(m) if *honest => m.host,
                _ if *honest && !s_ip.octets().starts_with(&[10, 0]) => EDGE,
                _ => [H2, H3, EDGE, H1, Ipv4Addr::new(127, 0, 0, 77)][*outer],
            };
            let smac = match mapped {
                _ if *via_attachment => overlay::gateway_mac("tgw-attach-1"),
                Some(m) if same_subnet(s_ip, d_ip) => m.mac,
                _ => ROUTER,
            };
            let choice = if *dst_mac == 3 { 3 } else { 1 };
            let inner = any_frame(*v6, smac, mac_for(program, d_ip, choice), s_ip, d_ip, &l);
            Some(Input::Underlay(encap_from(outer_src, &inner)))
        }
        Event::Appliance {
            honest,
            outer,
            forward,
            src,
            dst,
            l4,
        } => {
            let (s_ip, d_ip) = (Ipv4Addr::from(ADDRS[*src]), Ipv4Addr::from(ADDRS[*dst]));
            let l = L4 {
                flags,
                ..l4.clone()
            };
            if reverse {
                let q = program.ports.iter().position(|p| p.id == APPLIANCE.0)?;
                let (s, d, l) = if *forward {
                    (s_ip, d_ip, l)
                } else {
                    (d_ip, s_ip, reversed(&l))
                };
                let f = l4_frame(mac(APPLIANCE.1), mac(0x88), s, d, &l);
                return Some(Input::Port(PortId(u16::try_from(q).unwrap()), f));
            }
            let mapped = program
                .vpcs
                .iter()
                .flat_map(|v| &v.mappings)
                .find(|m| m.ip == s_ip);
            // (not from the edge: vpc-8 has no gateway there, and the edges of the VPCs
            // joined with it carry in only NAT gateways' replies, which the reference
            // does not walk)
            let outer_src = match mapped {
                Some(m) if *honest => m.host,
                _ => [H2, H3, Ipv4Addr::new(127, 0, 0, 77)][*outer],
            };
            let inner = l4_frame(ROUTER, mac(APPLIANCE.1), s_ip, d_ip, &l);
            Some(Input::Underlay(encap_vni(outer_src, VNI + 8, &inner)))
        }
        Event::NewGroups(_) | Event::Remap { .. } => None,
    }
}

#[derive(Debug, Clone)]
struct Step {
    flow: usize,
    reverse: bool,
    flags: u16,
    dt: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0usize..8,
        any::<bool>(),
        prop::sample::select(vec![
            tcp::flags::SYN,
            tcp::flags::SYN | tcp::flags::ACK,
            tcp::flags::ACK,
            tcp::flags::ACK,
            tcp::flags::ACK | tcp::flags::PSH,
            tcp::flags::FIN | tcp::flags::ACK,
            tcp::flags::RST,
        ]),
        prop::sample::select(vec![0u64, 0, 0, 1, 5, 31, 200, 700]),
    )
        .prop_map(|(flow, reverse, flags, dt)| Step {
            flow,
            reverse,
            flags,
            dt,
        })
}

/// The setup with the ports' subnets routing vpc-8's block to tgw-1 and their groups
/// letting everything out: most probes walk the gateway.
fn transit_setup() -> impl Strategy<Value = Setup> {
    setup().prop_map(|mut s| {
        let v = &mut s.program.vpcs[0];
        for rt in &mut v.route_tables {
            // vpc-8's block, and 192.0.2.0/24 (which vpc-8's attachment subnet may send
            // to its appliance)
            for d in ["10.8.0.0/16", "192.0.2.0/24"] {
                rt.routes.retain(|r| r.destination != net(d));
                rt.routes.push(Route {
                    destination: net(d),
                    target: RouteTarget::TransitGateway("tgw-1".into()),
                });
            }
        }
        // (a route of the random table for the same destination stands before it)
        for a in &mut v.transit_gateway_attachments {
            a.routes.push(TransitGatewayRoute {
                destination: net("192.0.2.0/24"),
                target: TransitGatewayTarget::Vpc {
                    attachment_id: "tgw-attach-8".into(),
                    vpc_id: "vpc-8".into(),
                },
            });
            a.routes_v6 = twin_tgw_routes(&a.routes);
        }
        for rt in &mut v.route_tables {
            rt.routes_v6 = twin_routes(&rt.routes);
        }
        for g in &mut v.security_groups {
            g.egress.push(open_rule());
            g.egress.extend(twin_rule(&open_rule()));
        }
        s
    })
}

/// Probes mostly to and from vpc-8 (its ENI, an address nobody holds) or through it
/// (192.0.2.9), some others.
fn transit_event() -> impl Strategy<Value = Event> {
    let addr = prop::sample::select(vec![
        ADDRS.len() - 2,
        ADDRS.len() - 2,
        ADDRS.len() - 1,
        0,
        10,
        11,
        11,
    ]);
    prop_oneof![
        3 => (any::<bool>(), 0usize..3, addr.clone(), mac_choice(), l4()).prop_map(|(v6, port, dst, dst_mac, l4)| Event::FromPort {
            v6, port, own_src: true, src: 0, dst, dst_mac, l4,
        }),
        2 => (prop::bool::weighted(0.85), prop::bool::weighted(0.2), any::<bool>(), 0usize..5, addr, 0usize..3, l4())
            .prop_map(|(honest, via_attachment, v6, outer, src, dst, l4)| Event::FromUnderlay {
                honest, via_attachment, v6, outer, src, dst, dst_mac: 1, l4,
            }),
        2 => (prop::bool::weighted(0.85), 0usize..3, any::<bool>(), 0usize..ADDRS.len(), prop::sample::select(vec![0usize, 1, 10, 11, 16, 17]), l4())
            .prop_map(|(honest, outer, forward, src, dst, l4)| Event::Appliance {
                honest, outer, forward, src, dst, l4,
            }),
        1 => event(),
    ]
}

/// The engine (with its caches) and the reference agree on every verdict and every byte
/// out, packet after packet, across replies, time and rule changes.
fn agree(s: Setup, flows: Vec<Event>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut engine = Engine::new(EngineConfig {
        conntrack_per_port: s.conntrack,
        flow_table_capacity: 64,
        ..EngineConfig::default()
    });
    engine.set_program(s.program.clone()).unwrap();
    let mut reference = Reference::new(s.program.clone(), s.conntrack);
    let mut program = s.program.clone();
    let mut now = Time::from_secs(1_000);
    let (mut out_e, mut out_r) = (Vec::new(), Vec::new());
    for (i, st) in steps.iter().enumerate() {
        now = Time(now.0 + st.dt * 1_000_000_000);
        if st.dt >= 200 {
            // housekeeping must not change any decision
            engine.expire(now);
        }
        out_e.clear();
        out_r.clear();
        let ev = &flows[st.flow % flows.len()];
        if let Event::NewGroups(g) = ev {
            program.vpcs[0].security_groups = g.clone();
            if i % 2 == 0 {
                engine.set_program(program.clone()).unwrap();
            } else {
                // what an agent does on a change of structure: V2P stays as it is
                let mut p = program.clone();
                p.vpcs.iter_mut().for_each(|v| v.mappings.clear());
                engine.set_structure(p).unwrap();
            }
            let mut want = program.vpcs[0].mappings.clone();
            want.sort_by_key(|m| m.ip);
            prop_assert_eq!(&engine.program().vpcs[0].mappings, &want);
            reference.set_program(program.clone());
            continue;
        }
        if let Event::Remap {
            remote,
            host,
            remove,
        } = ev
        {
            let (eni, ip, m, _) = REMOTE[*remote];
            let ip = Ipv4Addr::from(ip);
            let maps = &mut program.vpcs[0].mappings;
            maps.retain(|x| x.ip != ip);
            if *remove {
                engine.remove_mapping("vpc-1", ip);
            } else {
                let entry = Mapping {
                    ip,
                    host: [H2, H3, EDGE][*host],
                    mac: mac(m),
                    eni_id: eni.into(),
                    source_dest_check: true,
                };
                maps.push(entry.clone());
                engine.upsert_mapping("vpc-1", entry);
            }
            let mut want = program.vpcs[0].mappings.clone();
            want.sort_by_key(|m| m.ip);
            prop_assert_eq!(&engine.program().vpcs[0].mappings, &want);
            reference.set_program(program.clone());
            continue;
        }
        // ARP answers are compared byte for byte; NDP's by verdict (their bytes are
        // checked by their own tests)
        let is_arp = matches!(ev, Event::Arp { v6: false, .. });
        let Some(inp) = input(&program, ev, st.reverse, st.flags) else {
            continue;
        };
        // every other step goes through the in-place API (headroom varies, some
        // too small to encapsulate in place): it must write the same bytes
        let in_place = i % 2 == 1;
        let (ve, vr) = match &inp {
            Input::Port(id, f) if in_place => {
                let room = [overlay::OUTER_LEN, overlay::OUTER_LEN + 14, 7][i / 2 % 3];
                let mut buf = vec![0xa5; room];
                buf.extend_from_slice(f);
                let p = engine.process_from_port_in_place(
                    now,
                    *id,
                    &mut buf,
                    room..room + f.len(),
                    &mut out_e,
                );
                let (v, o) = (p.verdict, p.output);
                if let Output::InPlace(r) = o {
                    out_e = buf[r].to_vec();
                }
                (v, reference.process_from_port(now, *id, f, &mut out_r))
            }
            Input::Port(id, f) => (
                engine.process_from_port(now, *id, f, &mut out_e),
                reference.process_from_port(now, *id, f, &mut out_r),
            ),
            Input::Underlay(f) if in_place => {
                let mut buf = f.clone();
                let p = engine.process_from_underlay_in_place(now, &mut buf, &mut out_e);
                let (v, o) = (p.verdict, p.output);
                if let Output::InPlace(r) = o {
                    out_e = buf[r].to_vec();
                }
                (v, reference.process_from_underlay(now, f, &mut out_r))
            }
            Input::Underlay(f) => (
                engine.process_from_underlay(now, f, &mut out_e),
                reference.process_from_underlay(now, f, &mut out_r),
            ),
        };
        prop_assert_eq!(ve, vr, "step {}", i);
        let forwarded = matches!(
            ve,
            Verdict::ToPort { .. }
                | Verdict::ToUnderlay { .. }
                | Verdict::ToEdge { .. }
                | Verdict::Service { .. }
        ) || (matches!(ve, Verdict::Hairpin { .. }) && is_arp);
        if forwarded {
            prop_assert_eq!(&out_e, &out_r, "step {}", i);
        }
    }
    // flow-log counters: the same packets and bytes per (ENI, 5-tuple, action)
    let mut counted = std::collections::BTreeMap::new();
    engine.drain_flow_records(|r| {
        let c: &mut (u64, u64) = counted
            .entry((r.port, r.tuple, r.action == crate::counters::Action::Accept))
            .or_default();
        c.0 += r.packets;
        c.1 += r.bytes;
    });
    prop_assert_eq!(counted, reference.counters.clone());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The engine (with its caches) and the reference agree on every verdict and
    /// every byte out, packet after packet, across replies, time and rule changes.
    #[test]
    fn engine_agrees_with_reference(
        s in setup(),
        flows in prop::collection::vec(event(), 1..8),
        steps in prop::collection::vec(step(), 1..48),
    ) {
        agree(s, flows, steps)?;
    }

    /// ... and through transit gateways (VPC attachments, blackholes, VPN attachments,
    /// peerings), on programs and probes that mostly walk one, in both families.
    #[test]
    fn engine_agrees_with_reference_through_transit_gateways(
        s in transit_setup(),
        flows in prop::collection::vec(transit_event(), 1..8),
        steps in prop::collection::vec(step(), 1..48),
    ) {
        agree(s, flows, steps)?;
    }

    #[test]
    fn ethernet_round_trip(src: [u8; 6], dst: [u8; 6], et: u16) {
        let r = ethernet::Repr { src: MacAddr(src), dst: MacAddr(dst), ethertype: et };
        let mut b = [0u8; 14];
        r.emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
        prop_assert_eq!(ethernet::Repr::parse(&ethernet::Frame::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn arp_round_trip(op in 1u16..3, sm: [u8; 6], si: [u8; 4], tm: [u8; 6], ti: [u8; 4]) {
        let r = arp::Repr { operation: op, sender_mac: MacAddr(sm), sender_ip: si.into(), target_mac: MacAddr(tm), target_ip: ti.into() };
        let mut b = [0u8; 28];
        r.emit(&mut arp::Packet::new_unchecked(&mut b[..]));
        prop_assert_eq!(arp::Repr::parse(&arp::Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn five_tuple_packs_and_unpacks(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, proto: u8, origin: u16) {
        let t = crate::packet::FiveTuple { src: src.into(), dst: dst.into(), src_port: sp, dst_port: dp, protocol: proto };
        let k = crate::flow_table::FlowKey::new(crate::flow_table::Origin::Underlay(origin), t.pack());
        prop_assert_eq!(k.tuple(), t);
        prop_assert_eq!(k.origin(), crate::flow_table::Origin::Underlay(origin));
    }

    #[test]
    fn ipv4_tcp_round_trip(src: [u8; 4], dst: [u8; 4], ttl: u8, dscp: u8, ident: u16, df: bool,
                           sp: u16, dp: u16, seq: u32, ack: u32, flags in 0u16..0x200, win: u16,
                           payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let t = tcp::Repr { src_port: sp, dst_port: dp, seq, ack, flags, window: win, payload_len: payload.len() };
        let ip = ipv4::Repr { src: s, dst: d, protocol: ip_proto::TCP, payload_len: t.buffer_len(), ttl, dscp_ecn: dscp, ident, dont_frag: df };
        let mut b = vec![0u8; 20 + t.buffer_len()];
        b[40..].copy_from_slice(&payload);
        t.emit(&mut tcp::Packet::new_unchecked(&mut b[20..]), s, d);
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
        let p = ipv4::Packet::new_checked(&b[..]).unwrap();
        prop_assert_eq!(ipv4::Repr::parse(&p).unwrap(), ip);
        let tp = tcp::Packet::new_checked(p.payload()).unwrap();
        prop_assert_eq!(tcp::Repr::parse(&tp, s, d).unwrap(), t);
        prop_assert_eq!(tp.payload(), &payload[..]);
    }

    #[test]
    fn udp_round_trip(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, csum: bool, payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let r = udp::Repr { src_port: sp, dst_port: dp, payload_len: payload.len() };
        let mut b = vec![0u8; r.buffer_len()];
        b[8..].copy_from_slice(&payload);
        r.emit(&mut udp::Packet::new_unchecked(&mut b[..]), s, d, csum);
        let p = udp::Packet::new_checked(&b[..]).unwrap();
        prop_assert_eq!(udp::Repr::parse(&p, s, d).unwrap(), r);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn icmp_round_trip(t: u8, c: u8, id: u16, seq: u16, data in prop::collection::vec(any::<u8>(), 0..32)) {
        let r = icmp::Repr { msg_type: t, code: c, ident: id, seq, data_len: data.len() };
        let mut b = vec![0u8; r.buffer_len()];
        b[8..].copy_from_slice(&data);
        r.emit(&mut icmp::Packet::new_unchecked(&mut b[..]));
        prop_assert_eq!(icmp::Repr::parse(&icmp::Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn geneve_round_trip(vni in 0u32..0x100_0000, proto: u16, oam: bool) {
        let r = geneve::Repr { vni, protocol: proto, oam, critical: false };
        let mut b = [0u8; 8];
        r.emit(&mut geneve::Packet::new_unchecked(&mut b[..]));
        prop_assert_eq!(geneve::Repr::parse(&geneve::Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn dhcp_round_trip(xid: u32, bcast: bool, mask: [u8; 4], lease: Option<u32>, mtu: Option<u16>,
                       dns in prop::collection::vec(any::<[u8; 4]>(), 0..4), domain in prop::option::of("[a-z.]{1,30}")) {
        let r = dhcp::Repr {
            op: dhcp::op::BOOTREPLY,
            message_type: Some(dhcp::MessageType::Ack),
            xid,
            broadcast: bcast,
            yiaddr: Some(Ipv4Addr::new(10, 0, 1, 10)),
            chaddr: MacAddr([2, 0, 0, 0, 0, 1]),
            subnet_mask: Some(mask.into()).filter(|m: &Ipv4Addr| !m.is_unspecified()),
            dns_servers: dns.into_iter().map(Ipv4Addr::from).collect(),
            domain_name: domain,
            lease_time: lease,
            interface_mtu: mtu,
            ..dhcp::Repr::default()
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut dhcp::Packet::new_unchecked(&mut b[..]));
        prop_assert_eq!(dhcp::Repr::parse(&dhcp::Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
    }

    /// Whatever the bytes, parsing never panics and a parsed frame re-emits to itself.
    #[test]
    fn frame_parse_emit_parse(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(f) = ethernet::Frame::new_checked(&bytes[..]) {
            let r = ethernet::Repr::parse(&f).unwrap();
            let mut b = bytes.clone();
            r.emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
            prop_assert_eq!(&b, &bytes);
            if r.ethertype == ethertype::IPV4 {
                let _ = crate::packet::parse_ipv4(f.payload());
            }
        }
    }

    /// IPv6 longest-prefix match: the compiled table agrees with a linear scan for the
    /// longest covering prefix (the last of equal ones listed wins, as building does).
    /// Half the lengths are from a few common ones, so lengths hold many prefixes and
    /// their range check (the lowest and highest prefix) is met at and past its ends.
    #[test]
    fn lpm6_agrees_with_a_linear_scan(
        routes in prop::collection::vec(
            (any::<u128>(), prop_oneof![0u8..=128, prop::sample::select(vec![48u8, 56, 64])], any::<u32>()),
            0..24,
        ),
        probes in prop::collection::vec((any::<u128>(), 0usize..24, 0u8..=128), 1..32),
    ) {
        let nets: Vec<(ipnet::Ipv6Net, u32)> = routes
            .iter()
            .map(|&(a, l, v)| (ipnet::Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc(), v))
            .collect();
        let lpm = crate::route::Lpm6::build(nets.clone());
        for &(a, near, keep) in &probes {
            // half the probes inside a listed prefix, sharing its first `keep` bits
            let ip = match nets.get(near) {
                Some((n, _)) if a % 2 == 0 => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(keep)).unwrap_or(0);
                    let base = u128::from(n.network());
                    Ipv6Addr::from((base & mask) | (a & !mask))
                }
                _ => Ipv6Addr::from(a),
            };
            let want = nets
                .iter()
                .filter(|(n, _)| n.contains(&ip))
                .fold(None::<(u8, u32)>, |best, (n, v)| match best {
                    Some((l, _)) if l > n.prefix_len() => best,
                    _ => Some((n.prefix_len(), *v)),
                })
                .map(|(_, v)| v);
            prop_assert_eq!(lpm.lookup(ip), want, "{}", ip);
        }
    }

    /// A packet's tracking key going out is its reply's coming in (IPv6), and no other
    /// port's; echo requests and replies share theirs.
    #[test]
    fn conntrack_key6_matches_replies(src: u128, dst: u128, sp: u16, dp: u16,
        proto in prop::sample::select(vec![6u8, 17, 58, 47]), port: u16, echo: bool) {
        let m = |s: u128, d: u128, a: u16, b: u16, t: u8| crate::packet::Meta6 {
            tuple: crate::packet::FiveTuple { src: Ipv6Addr::from(s), dst: Ipv6Addr::from(d), src_port: a, dst_port: b, protocol: proto },
            ip_len: 60,
            ip_options: false,
            tcp_flags: 0,
            icmp_type: t,
            icmp_code: 0,
        };
        let (t_out, t_back) = if echo { (128, 129) } else { (1, 1) };
        let out = if proto == 58 { m(src, dst, sp, u16::from(t_out) << 8, t_out) } else { m(src, dst, sp, dp, 0) };
        let back = if proto == 58 { m(dst, src, sp, u16::from(t_back) << 8, t_back) } else { m(dst, src, dp, sp, 0) };
        use crate::conntrack::{Direction, Key6};
        let k = Key6::of(port, Direction::Outbound, &out);
        if proto != 58 || echo {
            prop_assert_eq!(k, Key6::of(port, Direction::Inbound, &back));
        }
        prop_assert_ne!(k, Key6::of(port.wrapping_add(1), Direction::Inbound, &back));
        // flow keys keep their origin
        let fk = crate::flow_table::FlowKey6::new(crate::flow_table::Origin::Underlay(port), &out.tuple);
        prop_assert_eq!(fk.origin(), crate::flow_table::Origin::Underlay(port));
        let fk = crate::flow_table::FlowKey6::new(crate::flow_table::Origin::Port(port), &out.tuple);
        prop_assert_eq!(fk.origin(), crate::flow_table::Origin::Port(port));
    }

    /// IPv6 and ICMPv6: emit → parse gives back the header, the checksum verifies, and
    /// the parser reads the same 5-tuple the fixtures wrote.
    #[test]
    fn ipv6_icmpv6_round_trip(src: u128, dst: u128, hops: u8, t: u8, code: u8, ident: u16,
        body in prop::collection::vec(any::<u8>(), 0..40)) {
        use crate::wire::{icmpv6, ipv6};
        let (s, d) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let f = fixtures::icmp6_frame_hops(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]), s, d, t, code, ident, &body, hops);
        let ip = ipv6::Packet::new_checked(&f[14..]).unwrap();
        let r = ipv6::Repr::parse(&ip).unwrap();
        prop_assert_eq!(r, ipv6::Repr { src: s, dst: d, next_header: 58, hop_limit: hops, payload_len: 8 + body.len() });
        prop_assert!(icmpv6::Packet::new_checked(ip.payload()).map(|p| p.verify_checksum(s, d)).unwrap_or(false)
            || matches!(t, 134..=136), "checksum");
        if let Ok(m) = crate::packet::parse_ipv6(&f[14..]) {
            prop_assert_eq!(m.tuple.src, s);
            prop_assert_eq!(m.icmp_type, t);
            prop_assert_eq!(m.tuple.dst_port, (u16::from(t) << 8) | u16::from(code));
        }
    }

    /// Whatever the bytes after an IPv6 header, parsing never panics; DHCPv6 and NDP
    /// option walks end.
    #[test]
    fn ipv6_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = crate::packet::parse_ipv6(&bytes);
        if let Ok(m) = crate::wire::dhcpv6::Message::new_checked(&bytes[..]) {
            for o in m.options() { let _ = o; }
        }
        if let Ok(p) = crate::wire::icmpv6::Packet::new_checked(&bytes[..]) {
            let _ = crate::wire::icmpv6::link_layer_option(p.options(), 1);
            let _ = p.target();
        }
    }

    /// The IPv6 fuzz entry points on random bytes: never a panic (the DHCPv6 one runs
    /// the bytes through the responder of a real engine).
    #[test]
    fn ipv6_fuzz_entry_points(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        crate::fuzzing::ipv6(&bytes);
        crate::fuzzing::icmpv6(&bytes);
        crate::fuzzing::dhcpv6(&bytes);
    }
}
