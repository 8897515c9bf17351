//! What the pipeline reads from a frame: the 5-tuple and the few fields decisions need.

use crate::verdict::DropReason;
use crate::wire::{icmp, icmpv6, ip_proto, ipv4, ipv6, tcp, udp};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A flow's 5-tuple. For ICMP, `src_port` is the query identifier (0 for errors) and
/// `dst_port` is `type << 8 | code`, so one tuple names one exchange and rules on
/// type/code can be matched from it. Other protocols have ports 0. ICMPv6 is keyed as
/// ICMP is. `A` is the address family: IPv4 (the default) or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple<A = Ipv4Addr> {
    pub src: A,
    pub dst: A,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
}

/// An IPv6 flow's 5-tuple.
pub type FiveTuple6 = FiveTuple<Ipv6Addr>;

impl FiveTuple {
    /// Packed for hashing: 104 bits.
    #[inline]
    pub(crate) fn pack(&self) -> u128 {
        (u128::from(u32::from(self.src)) << 64)
            | (u128::from(u32::from(self.dst)) << 32)
            | (u128::from(self.src_port) << 16)
            | u128::from(self.dst_port)
            | (u128::from(self.protocol) << 96)
    }

    /// The tuple [`FiveTuple::pack`] packed (bits above 104 are ignored).
    #[inline]
    pub(crate) fn unpack(v: u128) -> FiveTuple {
        let b = v.to_be_bytes();
        FiveTuple {
            protocol: b[3],
            src: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            dst: Ipv4Addr::new(b[8], b[9], b[10], b[11]),
            src_port: u16::from_be_bytes([b[12], b[13]]),
            dst_port: u16::from_be_bytes([b[14], b[15]]),
        }
    }
}

/// The parsed facts of one IP packet (IPv4 by default; [`Meta6`] for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<A = Ipv4Addr> {
    pub tuple: FiveTuple<A>,
    /// IP total length (IPv6: header and payload): the bytes flow logs count.
    pub ip_len: u16,
    /// The IPv4 header carries options (it is longer than 20 bytes); for IPv6, the
    /// packet has extension headers.
    pub ip_options: bool,
    pub tcp_flags: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
}

/// The parsed facts of one IPv6 packet.
pub type Meta6 = Meta<Ipv6Addr>;

impl<A> Meta<A> {
    /// The port security groups and network ACLs match: the destination port for TCP
    /// and UDP, `type << 8 | code` for ICMP and ICMPv6, 0 otherwise.
    #[inline]
    pub fn rule_port(&self) -> u16 {
        match self.tuple.protocol {
            ip_proto::TCP | ip_proto::UDP | ip_proto::ICMP | ip_proto::ICMPV6 => {
                self.tuple.dst_port
            }
            _ => 0,
        }
    }
}

/// Parses an IPv4 packet (the Ethernet payload): header checksum checked, fragments
/// refused (the engine never reassembles; the VPC MTU of 9001 makes them rare).
pub fn parse_ipv4(bytes: &[u8]) -> Result<Meta, DropReason> {
    let ip = ipv4::Packet::new_checked(bytes).map_err(|_| DropReason::Malformed)?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadChecksum);
    }
    if ip.is_fragment() {
        return Err(DropReason::Fragment);
    }
    let payload = ip.payload();
    let protocol = ip.protocol();
    let mut m = Meta {
        tuple: FiveTuple {
            src: ip.src(),
            dst: ip.dst(),
            src_port: 0,
            dst_port: 0,
            protocol,
        },
        ip_len: ip.total_len(),
        ip_options: ip.header_len() > ipv4::HEADER_LEN,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
    };
    match protocol {
        ip_proto::TCP => {
            let t = tcp::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            m.tuple.src_port = t.src_port();
            m.tuple.dst_port = t.dst_port();
            m.tcp_flags = t.flags();
        }
        ip_proto::UDP => {
            let u = udp::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            m.tuple.src_port = u.src_port();
            m.tuple.dst_port = u.dst_port();
        }
        ip_proto::ICMP => {
            let i = icmp::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            m.icmp_type = i.msg_type();
            m.icmp_code = i.code();
            m.tuple.src_port = if icmp::query_of(i.msg_type()).is_some() {
                i.ident()
            } else {
                0
            };
            m.tuple.dst_port = (u16::from(i.msg_type()) << 8) | u16::from(i.code());
        }
        _ => {}
    }
    Ok(m)
}

/// Parses an IPv6 packet (the Ethernet payload): extension headers walked (at most
/// [`ipv6::MAX_EXTENSIONS`]), fragments refused, ICMPv6 checksums checked (the engine
/// answers neighbour discovery itself and must not act on a corrupted message).
#[inline(always)]
pub fn parse_ipv6(bytes: &[u8]) -> Result<Meta6, DropReason> {
    let ip = ipv6::Packet::new_checked(bytes).map_err(|_| DropReason::Malformed)?;
    let (protocol, at) = ip.upper_layer().map_err(|_| DropReason::Malformed)?;
    if protocol == ipv6::next_header::FRAGMENT {
        return Err(DropReason::Fragment);
    }
    let payload = ip.payload().get(at..).ok_or(DropReason::Malformed)?;
    let mut m = Meta {
        tuple: FiveTuple {
            src: ip.src(),
            dst: ip.dst(),
            src_port: 0,
            dst_port: 0,
            protocol,
        },
        ip_len: ip.total_len(),
        ip_options: at > 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
    };
    match protocol {
        ip_proto::TCP => {
            let t = tcp::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            m.tuple.src_port = t.src_port();
            m.tuple.dst_port = t.dst_port();
            m.tcp_flags = t.flags();
        }
        ip_proto::UDP => {
            let u = udp::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            m.tuple.src_port = u.src_port();
            m.tuple.dst_port = u.dst_port();
        }
        ip_proto::ICMPV6 => {
            let i = icmpv6::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            if !i.verify_checksum(m.tuple.src, m.tuple.dst) {
                return Err(DropReason::BadChecksum);
            }
            m.icmp_type = i.msg_type();
            m.icmp_code = i.code();
            m.tuple.src_port = if icmpv6::query_of(i.msg_type()).is_some() {
                i.ident()
            } else {
                0
            };
            m.tuple.dst_port = (u16::from(i.msg_type()) << 8) | u16::from(i.code());
        }
        _ => {}
    }
    Ok(m)
}
