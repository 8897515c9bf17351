//! Frame and program builders for tests, benchmarks and fuzz targets (and for agents'
//! own tests, through the `test-support` feature): a small VPC spread over two hosts,
//! the seed's scenario.

use crate::program::*;
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::{arp, dhcp, icmp, ip_proto, ipv4, tcp, udp};
use std::net::Ipv4Addr;

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
    NetworkAcl {
        id: id.into(),
        entries: vec![e(100, false), e(100, true)],
    }
}

fn port(id: &str, subnet: &str, mac: MacAddr, ip: Ipv4Addr, sg: &str) -> Port {
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
            },
            Subnet {
                id: "subnet-b".into(),
                cidr: net("10.0.2.0/24"),
                route_table_id: "rtb-main".into(),
                network_acl_id: "acl-default".into(),
                availability_zone: String::new(),
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
        }],
        network_acls: vec![nacl_allow_all("acl-default")],
        security_groups: vec![SecurityGroup {
            id: "sg-app".into(),
            ingress: vec![
                sg_rule(6, 22, 22, "10.0.0.0/16"),
                sg_rule(1, -1, -1, "10.0.0.0/16"),
            ],
            egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
            members: vec![A_IP, B_IP, C_IP],
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
        }],
        peerings: vec![],
        transit_gateway_attachments: vec![],
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
        ports: vec![port("eni-a", "subnet-a", A_MAC, A_IP, "sg-app")],
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
            port("eni-b", "subnet-a", B_MAC, B_IP, "sg-app"),
            port("eni-c", "subnet-b", C_MAC, C_IP, "sg-app"),
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
