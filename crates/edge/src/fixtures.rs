//! Sample programs and packet builders for tests, benches and fuzz targets.

use crate::program::{
    DpdTimeoutAction, EdgeProgram, EgressOnlyInternetGatewayItem, EncryptionAlgorithm, IkeVersion,
    IntegrityAlgorithm, InternetGatewayItem, NatGatewayItem, NatGatewayState, PublicIpItem,
    StartupAction, VpnConnectionItem, VpnTunnelItem,
};
use fort_dataplane::wire::{MacAddr, ethernet, icmp, icmpv6, ip_proto, ipv4, ipv6, tcp, udp};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const VNI: u32 = 7;
pub const VPC: &str = "vpc-0a";
pub const IGW: &str = "igw-0a";
pub const NAT: &str = "nat-0a";
/// An instance with a public IP.
pub const WEB: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
pub const WEB_PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// An instance in a private subnet, behind the NAT gateway.
pub const APP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 20);
pub const NAT_PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
pub const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 5);
/// A host on the internet.
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
/// The VPC's IPv6 block, and WEB's IPv6 address (its public address as it is).
pub const VPC6: &str = "2600:1f00:0:100::/56";
pub const WEB6: Ipv6Addr = Ipv6Addr::new(0x2600, 0x1f00, 0, 0x101, 0, 0, 0, 0x10);
/// A second VPC, with an egress-only internet gateway only, and an instance of it.
pub const VNI2: u32 = 8;
pub const VPC2: &str = "vpc-0b";
pub const EIGW: &str = "eigw-0b";
pub const VPC2_6: &str = "2600:1f00:0:200::/56";
pub const APP6: Ipv6Addr = Ipv6Addr::new(0x2600, 0x1f00, 0, 0x201, 0, 0, 0, 0x20);
/// A host on the internet, by IPv6.
pub const REMOTE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 7);
pub const INSTANCE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x10]);
pub const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

/// One VPC with an internet gateway, one public IP (WEB) and one NAT gateway.
pub fn program() -> EdgeProgram {
    EdgeProgram {
        internet_gateways: vec![InternetGatewayItem {
            vpc_id: VPC.into(),
            igw_id: IGW.into(),
            vni: VNI,
            cidrs: vec!["10.0.0.0/16".parse().expect("cidr")],
            ipv6_cidrs: vec![VPC6.parse().expect("cidr")],
        }],
        public_ips: vec![PublicIpItem {
            vpc_id: VPC.into(),
            public_ip: WEB_PUBLIC,
            private_ip: WEB,
            eni_id: "eni-0web".into(),
        }],
        nat_gateways: vec![nat_item(NatGatewayState::Available)],
        gateway_endpoints: vec![],
        vpn_connections: vec![],
        egress_only_internet_gateways: vec![],
        transit_gateway_vpn_routes: vec![],
        transit_gateway_egress_routes: vec![],
    }
}

/// [`program`] and a second VPC (VNI2) with an egress-only internet gateway only.
pub fn program6() -> EdgeProgram {
    let mut p = program();
    p.egress_only_internet_gateways
        .push(EgressOnlyInternetGatewayItem {
            vpc_id: VPC2.into(),
            eigw_id: EIGW.into(),
            vni: VNI2,
            ipv6_cidrs: vec![VPC2_6.parse().expect("cidr")],
        });
    p
}

pub const VGW: &str = "vgw-0a";
/// The company network behind the VPN connection's tunnels.
pub const COMPANY: Ipv4Addr = Ipv4Addr::new(192, 168, 3, 4);

/// A static VPN connection of the VPC carrying 192.168.0.0/16 (and a more specific
/// 192.168.3.0/24 through a second connection of the same gateway).
pub fn vpn_item(id: &str, routes: &[&str]) -> VpnConnectionItem {
    let tunnel = |n: u8| VpnTunnelItem {
        outside_ip: Ipv4Addr::new(198, 51, 100, 200 + n),
        inside_cidr: format!("169.254.10.{}/30", 4 * n).parse().expect("cidr"),
        pre_shared_key: "fort_test_key".into(),
        ike_versions: IkeVersion::ALL.to_vec(),
        phase1_encryption: EncryptionAlgorithm::ALL.to_vec(),
        phase2_encryption: EncryptionAlgorithm::ALL.to_vec(),
        phase1_integrity: IntegrityAlgorithm::ALL.to_vec(),
        phase2_integrity: IntegrityAlgorithm::ALL.to_vec(),
        phase1_dh_groups: vec![2, 14],
        phase2_dh_groups: vec![2, 14],
        phase1_lifetime_seconds: 28_800,
        phase2_lifetime_seconds: 3_600,
        rekey_margin_time_seconds: 270,
        rekey_fuzz_percentage: 100,
        replay_window_size: 1024,
        dpd_timeout_seconds: 30,
        dpd_timeout_action: DpdTimeoutAction::Clear,
        startup_action: StartupAction::Add,
    };
    VpnConnectionItem {
        vpc_id: VPC.into(),
        vpn_connection_id: id.into(),
        vpn_gateway_id: VGW.into(),
        vni: VNI,
        cidrs: vec!["10.0.0.0/16".parse().expect("cidr")],
        customer_gateway_ip: Ipv4Addr::new(192, 0, 2, 200),
        customer_asn: 65000,
        amazon_asn: 64512,
        static_routes_only: true,
        routes: routes.iter().map(|r| r.parse().expect("cidr")).collect(),
        local_network: "0.0.0.0/0".parse().expect("cidr"),
        remote_network: "0.0.0.0/0".parse().expect("cidr"),
        tunnels: vec![tunnel(0), tunnel(1)],
        transit_drops: Vec::new(),
    }
}

pub fn nat_item(state: NatGatewayState) -> NatGatewayItem {
    NatGatewayItem {
        vpc_id: VPC.into(),
        nat_id: NAT.into(),
        vni: VNI,
        subnet_id: "subnet-0pub".into(),
        private_ip: NAT_PRIVATE,
        public_ip: NAT_PUBLIC,
        state,
        secondary_public_ips: Vec::new(),
    }
}

/// An IPv4 packet (header 20 bytes, DF set, TTL 64) around `l4`, checksums filled.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = ipv4_raw(src, dst, protocol, l4);
    let hl = ipv4::HEADER_LEN;
    match protocol {
        ip_proto::TCP if l4.len() >= tcp::HEADER_LEN => {
            tcp::Packet::new_unchecked(&mut b[hl..]).fill_checksum(src, dst)
        }
        ip_proto::UDP if l4.len() >= udp::HEADER_LEN => {
            udp::Packet::new_unchecked(&mut b[hl..]).fill_checksum(src, dst)
        }
        ip_proto::ICMP if l4.len() >= icmp::HEADER_LEN => {
            icmp::Packet::new_unchecked(&mut b[hl..]).fill_checksum()
        }
        _ => {}
    }
    b
}

/// An IPv4 packet around `payload` taken as is (a later fragment, say): only the
/// header checksum is filled.
pub fn ipv4_raw(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; ipv4::HEADER_LEN + l4.len()];
    b[ipv4::HEADER_LEN..].copy_from_slice(l4);
    let mut ip = ipv4::Packet::new_unchecked(&mut b[..]);
    ip.set_ver_ihl(ipv4::HEADER_LEN);
    ip.set_total_len(u16::try_from(ipv4::HEADER_LEN + l4.len()).expect("an IPv4 packet"));
    ip.set_ident(0x1234);
    ip.set_flags_frag(true);
    ip.set_ttl(64);
    ip.set_protocol(protocol);
    ip.set_src(src);
    ip.set_dst(dst);
    ip.fill_checksum();
    b
}

pub fn tcp_packet(
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
    flags: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; tcp::HEADER_LEN + payload.len()];
    l4[tcp::HEADER_LEN..].copy_from_slice(payload);
    let mut t = tcp::Packet::new_unchecked(&mut l4[..]);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_seq(1000);
    t.set_ack(if flags & tcp::flags::ACK != 0 {
        5000
    } else {
        0
    });
    t.set_offset_flags(flags);
    t.set_window(65535);
    ipv4_packet(src, dst, ip_proto::TCP, &l4)
}

pub fn udp_packet(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; udp::HEADER_LEN + payload.len()];
    l4[udp::HEADER_LEN..].copy_from_slice(payload);
    let mut u = udp::Packet::new_unchecked(&mut l4[..]);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len(u16::try_from(udp::HEADER_LEN + payload.len()).expect("a UDP datagram"));
    ipv4_packet(src, dst, ip_proto::UDP, &l4)
}

pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, reply: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut l4 = vec![0u8; icmp::HEADER_LEN + 8];
    let mut m = icmp::Packet::new_unchecked(&mut l4[..]);
    m.set_msg_type(if reply {
        icmp::kind::ECHO_REPLY
    } else {
        icmp::kind::ECHO_REQUEST
    });
    m.set_ident(ident);
    m.set_seq(seq);
    m.data_mut().copy_from_slice(b"fortping");
    ipv4_packet(src, dst, ip_proto::ICMP, &l4)
}

/// `pkt` behind an Ethernet header from the instance to the router MAC, as an instance
/// host sends it to the edge.
pub fn from_instance(pkt: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN];
    f[0..6].copy_from_slice(&ROUTER_MAC.0);
    f[6..12].copy_from_slice(&INSTANCE_MAC.0);
    f[12..14].copy_from_slice(&ethernet::ethertype::IPV4.to_be_bytes());
    f.extend_from_slice(pkt);
    f
}

/// True when the IPv4 header checksum and the TCP/UDP/ICMP checksum verify (UDP: zero
/// allowed). Non-first fragments: the header only.
pub fn checksums_ok(pkt: &[u8]) -> bool {
    let Ok(ip) = ipv4::Packet::new_checked(pkt) else {
        return false;
    };
    if !ip.verify_checksum() {
        return false;
    }
    if ip.is_fragment() {
        return true;
    }
    let l4 = ip.payload();
    match ip.protocol() {
        ip_proto::TCP => {
            tcp::Packet::new_checked(l4).is_ok_and(|t| t.verify_checksum(ip.src(), ip.dst()))
        }
        ip_proto::UDP => {
            udp::Packet::new_checked(l4).is_ok_and(|u| u.verify_checksum(ip.src(), ip.dst()))
        }
        ip_proto::ICMP => icmp::Packet::new_checked(l4).is_ok_and(|m| m.verify_checksum()),
        _ => true,
    }
}

/// (source, source port, destination, destination port) of a TCP/UDP packet; ICMP:
/// the identifier as source port.
pub fn tuple(pkt: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let ip = ipv4::Packet::new_checked(pkt).expect("ipv4");
    let l4 = ip.payload();
    let (s, d) = match ip.protocol() {
        ip_proto::ICMP => (u16::from_be_bytes([l4[4], l4[5]]), 0),
        _ => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
    };
    (ip.src(), s, ip.dst(), d)
}

/// An IPv6 packet (hop limit 64) around `l4`, its TCP/UDP/ICMPv6 checksum filled.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; ipv6::HEADER_LEN + l4.len()];
    ipv6::Repr {
        src,
        dst,
        next_header: protocol,
        hop_limit: 64,
        payload_len: l4.len(),
    }
    .emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
    b[ipv6::HEADER_LEN..].copy_from_slice(l4);
    let at = match protocol {
        ip_proto::TCP if l4.len() >= tcp::HEADER_LEN => Some(16),
        ip_proto::UDP if l4.len() >= udp::HEADER_LEN => Some(6),
        ip_proto::ICMPV6 if l4.len() >= icmpv6::HEADER_LEN => Some(2),
        _ => None,
    };
    if let Some(at) = at {
        let c = ipv6::l4_checksum(src, dst, protocol, &b[ipv6::HEADER_LEN..]);
        b[ipv6::HEADER_LEN + at..ipv6::HEADER_LEN + at + 2].copy_from_slice(&c.to_be_bytes());
    }
    b
}

pub fn tcp6_packet(
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
    flags: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; tcp::HEADER_LEN + payload.len()];
    l4[tcp::HEADER_LEN..].copy_from_slice(payload);
    let mut t = tcp::Packet::new_unchecked(&mut l4[..]);
    t.set_src_port(sport);
    t.set_dst_port(dport);
    t.set_seq(1000);
    t.set_offset_flags(flags);
    t.set_window(65535);
    ipv6_packet(src, dst, ip_proto::TCP, &l4)
}

pub fn udp6_packet(
    src: Ipv6Addr,
    sport: u16,
    dst: Ipv6Addr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; udp::HEADER_LEN + payload.len()];
    l4[udp::HEADER_LEN..].copy_from_slice(payload);
    let mut u = udp::Packet::new_unchecked(&mut l4[..]);
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len(u16::try_from(udp::HEADER_LEN + payload.len()).expect("a UDP datagram"));
    ipv6_packet(src, dst, ip_proto::UDP, &l4)
}

pub fn icmp6_echo(src: Ipv6Addr, dst: Ipv6Addr, reply: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut l4 = vec![0u8; icmpv6::HEADER_LEN + 8];
    l4[0] = if reply {
        icmpv6::kind::ECHO_REPLY
    } else {
        icmpv6::kind::ECHO_REQUEST
    };
    l4[4..6].copy_from_slice(&ident.to_be_bytes());
    l4[6..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..].copy_from_slice(b"fortping");
    ipv6_packet(src, dst, ip_proto::ICMPV6, &l4)
}

/// An ICMPv6 error of `kind` from `from` to the sender of `quoted` (quoting it whole).
pub fn icmp6_error(from: Ipv6Addr, kind: u8, quoted: &[u8]) -> Vec<u8> {
    let to = ipv6::Packet::new_unchecked(quoted).src();
    let mut l4 = vec![0u8; icmpv6::HEADER_LEN];
    l4[0] = kind;
    l4.extend_from_slice(quoted);
    ipv6_packet(from, to, ip_proto::ICMPV6, &l4)
}

/// An IPv6 `pkt` behind an Ethernet header from the router to `gateway`'s MAC, as an
/// instance host sends it to the edge.
pub fn from_instance6(pkt: &[u8], gateway: &str) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN];
    f[0..6].copy_from_slice(&crate::gateway_mac(gateway).0);
    f[6..12].copy_from_slice(&ROUTER_MAC.0);
    f[12..14].copy_from_slice(&ethernet::ethertype::IPV6.to_be_bytes());
    f.extend_from_slice(pkt);
    f
}

/// True when an IPv6 packet's TCP/UDP/ICMPv6 checksum verifies.
pub fn checksums6_ok(pkt: &[u8]) -> bool {
    let Ok(ip) = ipv6::Packet::new_checked(pkt) else {
        return false;
    };
    let Ok((protocol, at)) = ip.upper_layer() else {
        return false;
    };
    match protocol {
        ip_proto::TCP | ip_proto::UDP | ip_proto::ICMPV6 => ip
            .payload()
            .get(at..)
            .is_some_and(|l4| ipv6::l4_checksum(ip.src(), ip.dst(), protocol, l4) == 0),
        _ => true,
    }
}
