//! The DHCP responder: every instance gets its address of record from its own host
//! (§3.2, §5.11): mask, router (.1), DNS (VPC base + 2 or the options set), domain,
//! host name, MTU 9001 (option 26; less on an underlay that cannot carry it, see
//! [`instance_mtu`]) and the lease. Nothing is relayed or broadcast on
//! the fabric.

use crate::packet::Meta;
use crate::port::Port;
use crate::program::NameServer;
use crate::verdict::DropReason;
use crate::vpc::{Subnet, Vpc};
use crate::wire::dhcp::{self, MessageType};
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::{ip_proto, ipv4, udp};
use std::net::Ipv4Addr;

/// The MTU inside a VPC.
pub const VPC_MTU: u16 = 9001;

/// What Geneve adds to an instance's frame on the underlay, counted as IP datagram
/// bytes: outer IPv4 (20), UDP (8), Geneve (8), Fort's offload option (16: hosts carry
/// the TAP's checksum and segmentation state in it) and the inner Ethernet header (14).
/// The outer Ethernet header is the underlay link's own, outside its MTU.
pub const UNDERLAY_OVERHEAD: u32 = 66;
const _: () = assert!(
    crate::wire::ipv4::HEADER_LEN
        + crate::wire::udp::HEADER_LEN
        + crate::wire::geneve::HEADER_LEN
        + crate::wire::geneve::OffloadOption::LEN
        + crate::wire::ethernet::HEADER_LEN
        == 66
);

/// The smallest instance MTU Fort runs with: IPv6's minimum link MTU (RFC 8200 §5).
pub const MIN_INSTANCE_MTU: u16 = 1280;

/// The MTU instances get on an underlay whose MTU (largest IPv4 datagram sent whole) is
/// `underlay_mtu`: 9001 as in AWS when the underlay carries 9001 + [`UNDERLAY_OVERHEAD`]
/// (a jumbo underlay, or loopback), else what fits in one underlay datagram, so
/// instances never send a frame the underlay would have to fragment or drop (1434 on a
/// 1500 underlay). `None` below [`MIN_INSTANCE_MTU`] + overhead: IPv6 could not run.
pub fn instance_mtu(underlay_mtu: u32) -> Option<u16> {
    let fits = underlay_mtu.checked_sub(UNDERLAY_OVERHEAD)?;
    let mtu = u16::try_from(fits.min(u32::from(VPC_MTU))).ok()?;
    (mtu >= MIN_INSTANCE_MTU).then_some(mtu)
}

/// Is this packet for the DHCP server?
pub fn is_dhcp(m: &Meta) -> bool {
    m.tuple.protocol == ip_proto::UDP
        && m.tuple.dst_port == dhcp::SERVER_PORT
        && m.tuple.src_port == dhcp::CLIENT_PORT
}

/// Answers a DHCP request from `port` into `out`.
pub fn respond(
    port: &Port,
    vpc: &Vpc,
    subnet: &Subnet,
    frame: &[u8],
    mtu: u16,
    out: &mut Vec<u8>,
) -> Result<(), DropReason> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
    let ip = ipv4::Packet::new_checked(eth.payload()).map_err(|_| DropReason::Malformed)?;
    let u = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::Malformed)?;
    let p = dhcp::Packet::new_checked(u.payload()).map_err(|_| DropReason::DhcpIgnored)?;
    let req = dhcp::Repr::parse(&p).map_err(|_| DropReason::DhcpIgnored)?;
    if req.op != dhcp::op::BOOTREQUEST || req.chaddr != port.mac {
        return Err(DropReason::DhcpIgnored);
    }
    // an IPv6-only subnet's interface has no IPv4 address to lease
    let (Some(addr), Some(router), Some(cidr)) = (port.primary_ip, subnet.router_ip(), subnet.cidr)
    else {
        return Err(DropReason::DhcpIgnored);
    };
    let kind = match req.message_type {
        Some(MessageType::Discover) => MessageType::Offer,
        Some(MessageType::Request) => {
            let asked = req.requested_ip.or(req.ciaddr);
            if asked == Some(addr) {
                MessageType::Ack
            } else {
                MessageType::Nak
            }
        }
        Some(MessageType::Inform) => MessageType::Ack,
        _ => return Err(DropReason::DhcpIgnored),
    };
    let inform = req.message_type == Some(MessageType::Inform);
    let lease = vpc.dhcp.lease_time;
    let mut reply = dhcp::Repr {
        op: dhcp::op::BOOTREPLY,
        message_type: Some(kind),
        xid: req.xid,
        broadcast: req.broadcast,
        chaddr: port.mac,
        server_id: Some(router),
        ..dhcp::Repr::default()
    };
    if kind != MessageType::Nak {
        let dns: Vec<Ipv4Addr> = vpc
            .dhcp
            .domain_name_servers
            .iter()
            .filter_map(|s| match s {
                NameServer::AmazonProvidedDns => Some(vpc.dns),
                NameServer::Address(a) => Some(*a),
                // DHCPv6's
                NameServer::Address6(_) => None,
            })
            .collect();
        reply.ciaddr = req.ciaddr.filter(|_| inform);
        reply.yiaddr = (!inform).then_some(addr);
        reply.subnet_mask = Some(cidr.netmask());
        reply.broadcast_addr = Some(cidr.broadcast());
        reply.router = Some(router);
        reply.dns_servers = dns;
        reply.ntp_servers = vpc.dhcp.ntp_servers.clone();
        reply.netbios_name_servers = vpc.dhcp.netbios_name_servers.clone();
        reply.netbios_node_type = vpc.dhcp.netbios_node_type;
        reply.domain_name = vpc.dhcp.domain_name.clone();
        reply.hostname = port.hostname.clone();
        reply.interface_mtu = Some(mtu);
        if !inform {
            reply.lease_time = Some(lease);
            reply.renewal_time = Some(lease / 2);
            // 7/8 of a u32 fits a u32
            reply.rebinding_time = Some(u32::try_from(u64::from(lease) * 7 / 8).unwrap_or(lease));
        }
    }
    // RFC 2131 §4.1: broadcast if asked to (and always for NAK), else to the address
    let bcast = req.broadcast || kind == MessageType::Nak;
    let (dst_mac, dst_ip) = if bcast {
        (MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
    } else if inform {
        (port.mac, req.ciaddr.unwrap_or(addr))
    } else {
        (port.mac, addr)
    };
    let dlen = reply.buffer_len();
    // options are at most 255 bytes each: a reply is far below 64 KiB, but checked
    let udp_len = u16::try_from(udp::HEADER_LEN + dlen)
        .ok()
        .filter(|&l| usize::from(l) <= ipv4::MAX_PAYLOAD)
        .ok_or(DropReason::DhcpIgnored)?;
    let total = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + dlen;
    out.clear();
    out.resize(total, 0);
    let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
    ethernet::Repr {
        src: vpc.router_mac,
        dst: dst_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f);
    let mut ipp = ipv4::Packet::new_unchecked(f.payload_mut());
    ipv4::Repr {
        src: router,
        dst: dst_ip,
        protocol: ip_proto::UDP,
        payload_len: udp::HEADER_LEN + dlen,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut ipp);
    let mut up = udp::Packet::new_unchecked(ipp.payload_mut());
    up.set_len(udp_len);
    reply.emit(&mut dhcp::Packet::new_unchecked(up.payload_mut()));
    udp::Repr {
        src_port: dhcp::SERVER_PORT,
        dst_port: dhcp::CLIENT_PORT,
        payload_len: dlen,
    }
    .emit(&mut up, router, dst_ip, true);
    Ok(())
}

#[cfg(test)]
mod mtu_tests {
    use super::*;

    #[test]
    fn instance_mtu_is_9001_on_a_jumbo_underlay_and_what_fits_on_a_smaller_one() {
        // loopback, and a jumbo underlay with room for the overhead: AWS's 9001
        assert_eq!(instance_mtu(65_535), Some(9001));
        assert_eq!(UNDERLAY_OVERHEAD, 66);
        assert_eq!(instance_mtu(9067), Some(9001));
        assert_eq!(instance_mtu(9216), Some(9001));
        // a 9001 underlay (as an EC2 instance's own NIC) leaves 8935
        assert_eq!(instance_mtu(9001), Some(8935));
        // a plain Ethernet underlay: 1500 - 66
        assert_eq!(instance_mtu(1500), Some(1434));
        // just enough for IPv6's minimum, and below it: refused
        assert_eq!(instance_mtu(1346), Some(MIN_INSTANCE_MTU));
        assert_eq!(instance_mtu(1345), None);
        assert_eq!(instance_mtu(0), None);
        assert_eq!(instance_mtu(u32::MAX), Some(9001));
    }

    #[test]
    fn a_frame_of_the_instance_mtu_fills_the_underlay_datagram_exactly() {
        // outer IPv4 + UDP + Geneve and Fort's option + inner Ethernet + the IP packet
        for underlay in [1400u32, 1500, 4000, 9000, 9066] {
            let mtu = usize::from(instance_mtu(underlay).unwrap());
            let datagram = 20
                + crate::wire::udp::HEADER_LEN
                + crate::wire::geneve::HEADER_LEN
                + 16
                + crate::wire::ethernet::HEADER_LEN
                + mtu;
            assert_eq!(
                datagram,
                usize::try_from(underlay).unwrap(),
                "underlay {underlay}"
            );
        }
    }
}
