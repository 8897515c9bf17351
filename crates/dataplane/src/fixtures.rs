//! Frame and program builders for tests, benchmarks and fuzz targets (and for agents'
//! own tests, through the `test-support` feature): a small VPC spread over two hosts,
//! the seed's scenario.

use crate::program::*;
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::{arp, dhcp, dhcpv6, icmp, icmpv6, ip_proto, ipv4, ipv6, tcp, udp};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const VNI: u32 = 0x00_1234;
pub const H1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
pub const H2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 12);
pub const EDGE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 99);
pub const ROUTER_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);

pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
pub const C_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 30);
pub const A_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x0a]);
pub const B_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x14]);
pub const C_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x02, 0x1e]);

/// The VPC's IPv6 block and its instances' IPv6 addresses (documentation prefix).
pub const A_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 0x0a);
pub const B_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 0x14);
pub const C_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 0x1e);

pub fn net6(s: &str) -> ipnet::Ipv6Net {
    s.parse().expect("cidr")
}

pub fn sg_rule6(protocol: i16, from: i32, to: i32, cidr: &str) -> SgRule {
    SgRule {
        protocol,
        from_port: from,
        to_port: to,
        peer: SgPeer::Cidr6(net6(cidr)),
    }
}

pub fn net(s: &str) -> ipnet::Ipv4Net {
    s.parse().expect("cidr")
}

pub fn sg_rule(protocol: i16, from: i32, to: i32, cidr: &str) -> SgRule {
    SgRule {
        protocol,
        from_port: from,
        to_port: to,
        peer: SgPeer::Cidr(net(cidr)),
    }
}

pub fn nacl_allow_all(id: &str) -> NetworkAcl {
    let e = |n, egress| NaclEntry {
        rule_number: n,
        egress,
        protocol: -1,
        allow: true,
        cidr: net("0.0.0.0/0"),
        port_range: None,
        icmp: None,
    };
    let e6 = |n, egress| NaclEntry6 {
        rule_number: n,
        egress,
        protocol: -1,
        allow: true,
        cidr: net6("::/0"),
        port_range: None,
        icmp: None,
    };
    NetworkAcl {
        id: id.into(),
        entries: vec![e(100, false), e(100, true)],
        entries_v6: vec![e6(101, false), e6(101, true)],
    }
}

fn port(id: &str, subnet: &str, mac: MacAddr, (ip, ip6): (Ipv4Addr, Ipv6Addr), sg: &str) -> Port {
    Port {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        subnet_id: subnet.into(),
        mac,
        primary_ip: ip,
        secondary_ips: vec![],
        security_groups: vec![sg.into()],
        source_dest_check: true,
        conntrack: ConntrackTimeouts::default(),
        hostname: None,
        instance_id: None,
        device_index: 0,
        flow_logs: true,
        ipv6_addresses: vec![ip6],
    }
}

/// An IPv6 V2P entry with source/dest check on.
pub fn mapping6(ip: Ipv6Addr, host: Ipv4Addr, mac: MacAddr, eni: &str) -> Mapping6 {
    Mapping6 {
        ip,
        host,
        mac,
        eni_id: eni.into(),
        source_dest_check: true,
    }
}

fn mapping(ip: Ipv4Addr, host: Ipv4Addr, mac: MacAddr, eni: &str) -> Mapping {
    Mapping {
        ip,
        host,
        mac,
        eni_id: eni.into(),
        source_dest_check: true,
    }
}

/// The VPC 10.0.0.0/16 (VNI 0x1234): subnet-a 10.0.1.0/24 holds A (host 1) and B
/// (host 2), subnet-b 10.0.2.0/24 holds C (host 2). Group sg-app: ingress TCP 22 and
/// ICMP from the VPC, egress everything. Route table: local, 0.0.0.0/0 → igw-1 (edge
/// host), 192.0.2.0/24 → blackhole. NACLs allow everything.
///
/// Dual stack: the VPC has 2001:db8:1::/56, subnet-a 2001:db8:1:1::/64, subnet-b
/// 2001:db8:1:2::/64; A, B and C have `…::a`, `…::14`, `…::1e`. sg-app also allows
/// TCP 22 and ICMPv6 from the VPC's IPv6 block in, everything to `::/0` out; the table
/// routes the /56 locally, `::/0` to igw-1 and 2001:db8:dead::/48 to a blackhole.
pub fn vpc() -> Vpc {
    Vpc {
        id: "vpc-1".into(),
        vni: VNI,
        cidrs: vec![net("10.0.0.0/16")],
        router_mac: ROUTER_MAC,
        subnets: vec![
            Subnet {
                id: "subnet-a".into(),
                cidr: net("10.0.1.0/24"),
                route_table_id: "rtb-main".into(),
                network_acl_id: "acl-default".into(),
                availability_zone: String::new(),
                ipv6_cidr: Some(net6("2001:db8:1:1::/64")),
            },
            Subnet {
                id: "subnet-b".into(),
                cidr: net("10.0.2.0/24"),
                route_table_id: "rtb-main".into(),
                network_acl_id: "acl-default".into(),
                availability_zone: String::new(),
                ipv6_cidr: Some(net6("2001:db8:1:2::/64")),
            },
        ],
        route_tables: vec![RouteTable {
            id: "rtb-main".into(),
            routes: vec![
                Route {
                    destination: net("10.0.0.0/16"),
                    target: RouteTarget::Local,
                },
                Route {
                    destination: net("0.0.0.0/0"),
                    target: RouteTarget::InternetGateway("igw-1".into()),
                },
                Route {
                    destination: net("192.0.2.0/24"),
                    target: RouteTarget::Blackhole,
                },
            ],
            routes_v6: vec![
                Route6 {
                    destination: net6("2001:db8:1::/56"),
                    target: RouteTarget::Local,
                },
                Route6 {
                    destination: net6("::/0"),
                    target: RouteTarget::InternetGateway("igw-1".into()),
                },
                Route6 {
                    destination: net6("2001:db8:dead::/48"),
                    target: RouteTarget::Blackhole,
                },
            ],
        }],
        network_acls: vec![nacl_allow_all("acl-default")],
        security_groups: vec![SecurityGroup {
            id: "sg-app".into(),
            ingress: vec![
                sg_rule(6, 22, 22, "10.0.0.0/16"),
                sg_rule(1, -1, -1, "10.0.0.0/16"),
                sg_rule6(6, 22, 22, "2001:db8:1::/56"),
                sg_rule6(58, -1, -1, "2001:db8:1::/56"),
            ],
            egress: vec![
                sg_rule(-1, -1, -1, "0.0.0.0/0"),
                sg_rule6(-1, -1, -1, "::/0"),
            ],
            members: vec![A_IP, B_IP, C_IP],
            members_v6: vec![A_IP6, B_IP6, C_IP6],
        }],
        dhcp: DhcpOptions::default(),
        mappings: vec![
            mapping(A_IP, H1, A_MAC, "eni-a"),
            mapping(B_IP, H2, B_MAC, "eni-b"),
            mapping(C_IP, H2, C_MAC, "eni-c"),
        ],
        edges: vec![Edge {
            gateway_id: "igw-1".into(),
            host: EDGE,
            subnet_id: None,
        }],
        peerings: vec![],
        transit_gateway_attachments: vec![],
        ipv6_cidrs: vec![net6("2001:db8:1::/56")],
        mappings_v6: vec![
            mapping6(A_IP6, H1, A_MAC, "eni-a"),
            mapping6(B_IP6, H2, B_MAC, "eni-b"),
            mapping6(C_IP6, H2, C_MAC, "eni-c"),
        ],
    }
}

/// Host 1: port A.
pub fn host1() -> HostProgram {
    HostProgram {
        underlay: Underlay {
            address: H1,
            mac: MacAddr([2, 0xee, 0, 0, 0, 11]),
            next_hop_mac: MacAddr([2, 0xee, 0, 0, 0, 1]),
        },
        ports: vec![port("eni-a", "subnet-a", A_MAC, (A_IP, A_IP6), "sg-app")],
        vpcs: vec![vpc()],
    }
}

/// Host 2: ports B and C.
pub fn host2() -> HostProgram {
    HostProgram {
        underlay: Underlay {
            address: H2,
            mac: MacAddr([2, 0xee, 0, 0, 0, 12]),
            next_hop_mac: MacAddr([2, 0xee, 0, 0, 0, 1]),
        },
        ports: vec![
            port("eni-b", "subnet-a", B_MAC, (B_IP, B_IP6), "sg-app"),
            port("eni-c", "subnet-b", C_MAC, (C_IP, C_IP6), "sg-app"),
        ],
        vpcs: vec![vpc()],
    }
}

/// An Ethernet + IPv4 frame around an L4 payload already built (with checksum).
pub fn ipv4_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN + l4.len()];
    ethernet::Repr {
        src: src_mac,
        dst: dst_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
    let mut ip = ipv4::Packet::new_unchecked(&mut b[ethernet::HEADER_LEN..]);
    ipv4::Repr {
        src,
        dst,
        protocol: proto,
        payload_len: l4.len(),
        ttl: 64,
        dscp_ecn: 0,
        ident: 0x1234,
        dont_frag: true,
    }
    .emit(&mut ip);
    ip.payload_mut().copy_from_slice(l4);
    b
}

/// A TCP segment frame with `payload_len` zero bytes of data.
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u16,
    payload_len: usize,
) -> Vec<u8> {
    let mut seg = vec![0u8; tcp::HEADER_LEN + payload_len];
    tcp::Repr {
        src_port: sport,
        dst_port: dport,
        seq: 1000,
        ack: if flags & tcp::flags::ACK != 0 {
            2000
        } else {
            0
        },
        flags,
        window: 65535,
        payload_len,
    }
    .emit(&mut tcp::Packet::new_unchecked(&mut seg[..]), src, dst);
    ipv4_frame(src_mac, dst_mac, src, dst, ip_proto::TCP, &seg)
}

pub fn udp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut seg = vec![0u8; udp::HEADER_LEN + payload.len()];
    seg[udp::HEADER_LEN..].copy_from_slice(payload);
    udp::Repr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len(),
    }
    .emit(
        &mut udp::Packet::new_unchecked(&mut seg[..]),
        src,
        dst,
        true,
    );
    ipv4_frame(src_mac, dst_mac, src, dst, ip_proto::UDP, &seg)
}

pub fn icmp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    msg_type: u8,
    code: u8,
    ident: u16,
) -> Vec<u8> {
    let mut m = vec![0u8; icmp::HEADER_LEN + 8];
    icmp::Repr {
        msg_type,
        code,
        ident,
        seq: 1,
        data_len: 8,
    }
    .emit(&mut icmp::Packet::new_unchecked(&mut m[..]));
    ipv4_frame(src_mac, dst_mac, src, dst, ip_proto::ICMP, &m)
}

pub fn arp_request(src_mac: MacAddr, src: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![0u8; ethernet::HEADER_LEN + arp::PACKET_LEN];
    let mut f = ethernet::Frame::new_unchecked(&mut b[..]);
    ethernet::Repr {
        src: src_mac,
        dst: MacAddr::BROADCAST,
        ethertype: ethertype::ARP,
    }
    .emit(&mut f);
    arp::Repr {
        operation: arp::operation::REQUEST,
        sender_mac: src_mac,
        sender_ip: src,
        target_mac: MacAddr::ZERO,
        target_ip: target,
    }
    .emit(&mut arp::Packet::new_unchecked(f.payload_mut()));
    b
}

pub fn dhcp_frame(
    src_mac: MacAddr,
    kind: dhcp::MessageType,
    requested: Option<Ipv4Addr>,
) -> Vec<u8> {
    let r = dhcp::Repr {
        op: dhcp::op::BOOTREQUEST,
        message_type: Some(kind),
        xid: 0x3903_f326,
        broadcast: true,
        chaddr: src_mac,
        requested_ip: requested,
        parameter_request_list: vec![1, 3, 6, 15, 26, 51],
        ..dhcp::Repr::default()
    };
    let mut d = vec![0u8; r.buffer_len()];
    r.emit(&mut dhcp::Packet::new_unchecked(&mut d[..]));
    // a client without an address sends from 0.0.0.0 to 255.255.255.255
    udp_frame(
        src_mac,
        MacAddr::BROADCAST,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        dhcp::CLIENT_PORT,
        dhcp::SERVER_PORT,
        &d,
    )
}

// ---- IPv6 -------------------------------------------------------------------------

/// An Ethernet + IPv6 frame around an upper-layer payload already built (with
/// checksum), hop limit `hop_limit`.
pub fn ipv6_frame_hops(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    proto: u8,
    hop_limit: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut b = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + l4.len()];
    ethernet::Repr {
        src: src_mac,
        dst: dst_mac,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
    ipv6::Repr {
        src,
        dst,
        next_header: proto,
        hop_limit,
        payload_len: l4.len(),
    }
    .emit(&mut ipv6::Packet::new_unchecked(
        &mut b[ethernet::HEADER_LEN..],
    ));
    b[ethernet::HEADER_LEN + ipv6::HEADER_LEN..].copy_from_slice(l4);
    b
}

/// [`ipv6_frame_hops`] with hop limit 64.
pub fn ipv6_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    ipv6_frame_hops(src_mac, dst_mac, src, dst, proto, 64, l4)
}

/// A TCP segment over IPv6 with `payload_len` zero bytes of data.
#[allow(clippy::too_many_arguments)]
pub fn tcp6_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    flags: u16,
    payload_len: usize,
) -> Vec<u8> {
    let mut seg = vec![0u8; tcp::HEADER_LEN + payload_len];
    // the checksum over an IPv4 pseudo-header of zeros, then the IPv6 one filled in
    tcp::Repr {
        src_port: sport,
        dst_port: dport,
        seq: 1000,
        ack: if flags & tcp::flags::ACK != 0 {
            2000
        } else {
            0
        },
        flags,
        window: 65535,
        payload_len,
    }
    .emit(
        &mut tcp::Packet::new_unchecked(&mut seg[..]),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
    );
    seg[16..18].copy_from_slice(&[0, 0]);
    let c = ipv6::l4_checksum(src, dst, ip_proto::TCP, &seg);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    ipv6_frame(src_mac, dst_mac, src, dst, ip_proto::TCP, &seg)
}

pub fn udp6_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut seg = vec![0u8; udp::HEADER_LEN + payload.len()];
    seg[udp::HEADER_LEN..].copy_from_slice(payload);
    let len = u16::try_from(seg.len()).expect("short");
    seg[0..2].copy_from_slice(&sport.to_be_bytes());
    seg[2..4].copy_from_slice(&dport.to_be_bytes());
    seg[4..6].copy_from_slice(&len.to_be_bytes());
    let c = ipv6::l4_checksum(src, dst, ip_proto::UDP, &seg);
    seg[6..8].copy_from_slice(&c.to_be_bytes());
    ipv6_frame(src_mac, dst_mac, src, dst, ip_proto::UDP, &seg)
}

/// An ICMPv6 message of `msg_type`/`code` whose 4-byte body starts with `ident`
/// (echo) and `body` after it, in a frame with hop limit `hop_limit`.
#[allow(clippy::too_many_arguments)]
pub fn icmp6_frame_hops(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    msg_type: u8,
    code: u8,
    ident: u16,
    body: &[u8],
    hop_limit: u8,
) -> Vec<u8> {
    let mut m = vec![0u8; icmpv6::HEADER_LEN + body.len()];
    m[0] = msg_type;
    m[1] = code;
    m[4..6].copy_from_slice(&ident.to_be_bytes());
    m[6..8].copy_from_slice(&1u16.to_be_bytes());
    m[8..].copy_from_slice(body);
    icmpv6::Packet::new_unchecked(&mut m[..]).fill_checksum(src, dst);
    ipv6_frame_hops(src_mac, dst_mac, src, dst, ip_proto::ICMPV6, hop_limit, &m)
}

pub fn icmp6_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    msg_type: u8,
    code: u8,
    ident: u16,
) -> Vec<u8> {
    icmp6_frame_hops(
        src_mac, dst_mac, src, dst, msg_type, code, ident, &[0; 8], 64,
    )
}

/// A neighbour solicitation for `target` from `src` (the unspecified address for
/// duplicate address detection: then without the source link-layer option), to the
/// target's solicited-node group.
pub fn neighbor_solicit(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    if !src.is_unspecified() {
        body.extend_from_slice(&[icmpv6::option::SOURCE_LL_ADDR, 1]);
        body.extend_from_slice(&src_mac.0);
    }
    let group = ipv6::solicited_node(target);
    // the message's first 4 bytes after the checksum are reserved: ident 0
    let mut f = icmp6_frame_hops(
        src_mac,
        MacAddr(ipv6::multicast_mac(group)),
        src,
        group,
        icmpv6::kind::NEIGHBOR_SOLICIT,
        0,
        0,
        &body,
        255,
    );
    // icmp6_frame_hops wrote sequence 1 into the reserved field: clear and re-sum
    let at = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
    f[at + 6..at + 8].copy_from_slice(&[0, 0]);
    icmpv6::Packet::new_unchecked(&mut f[at..]).fill_checksum(src, group);
    f
}

/// A router solicitation from `src` to all routers.
pub fn router_solicit(src_mac: MacAddr, src: Ipv6Addr) -> Vec<u8> {
    let all_routers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
    let mut m = vec![0u8; icmpv6::HEADER_LEN + 8];
    m[0] = icmpv6::kind::ROUTER_SOLICIT;
    m[8] = icmpv6::option::SOURCE_LL_ADDR;
    m[9] = 1;
    m[10..16].copy_from_slice(&src_mac.0);
    icmpv6::Packet::new_unchecked(&mut m[..]).fill_checksum(src, all_routers);
    ipv6_frame_hops(
        src_mac,
        MacAddr(ipv6::multicast_mac(all_routers)),
        src,
        all_routers,
        ip_proto::ICMPV6,
        255,
        &m,
    )
}

/// A DHCPv6 client message of `msg_type` (transaction 0x0a0b0c) with a client id, an
/// IA_NA (IAID 7) and the given extra options, from `src` (a link-local address) to
/// all DHCP servers.
pub fn dhcpv6_frame(
    src_mac: MacAddr,
    src: Ipv6Addr,
    msg_type: u8,
    extra: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let mut msg = Vec::new();
    let mut client_id = vec![0, 3, 0, 1];
    client_id.extend_from_slice(&src_mac.0);
    let mut w = dhcpv6::Writer::new(&mut msg, msg_type, [0x0a, 0x0b, 0x0c]);
    w.option(dhcpv6::option::CLIENT_ID, &client_id)
        .option(dhcpv6::option::ELAPSED_TIME, &[0, 0])
        .option(dhcpv6::option::IA_NA, &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (code, data) in extra {
        w.option(*code, data);
    }
    let all_servers = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
    udp6_frame(
        src_mac,
        MacAddr(ipv6::multicast_mac(all_servers)),
        src,
        all_servers,
        dhcpv6::CLIENT_PORT,
        dhcpv6::SERVER_PORT,
        &msg,
    )
}
