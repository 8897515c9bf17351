//! Neighbour discovery answered by the host, never multicast on the fabric: IPv6's ARP
//! proxy and router (§7, RFC 4861).
//!
//! * A neighbour solicitation for the subnet router — its `…::1`, its link-local
//!   address (EUI-64 of the router MAC, as EC2's) or `fe80:ec2::1` — is answered with
//!   the router's MAC (router flag set); one for a peer's address in the subnet with
//!   that ENI's MAC (from V2P). Duplicate address detection (an unspecified source),
//!   solicitations for the sender's own address and everything else get no answer, so
//!   an instance's addresses never look taken.
//! * A router solicitation gets a router advertisement as EC2 sends it: from the
//!   router's link-local address, the managed flag set (addresses by DHCPv6, no SLAAC:
//!   the subnet's /64 is on-link, not autonomous), the VPC MTU and the router's MAC.
//! * Advertisements, redirects and MLD from an instance stay on its link (dropped).
//!
//! NDP is the link's own traffic: AWS lets it through whatever security groups and
//! network ACLs say, and so does the engine (it never reaches them).

use crate::packet::Meta6;
use crate::port::Port;
use crate::verdict::DropReason;
use crate::vpc::{Subnet, Vpc};
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::icmpv6::{self, kind, option};
use crate::wire::{ip_proto, ipv6};
use std::net::Ipv6Addr;

/// The second link-local address EC2's router answers on.
pub const ROUTER_EC2_LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0x0ec2, 0, 0, 0, 0, 0, 1);
/// All nodes (an RA to a solicitation from the unspecified address goes there).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// NDP's hop limit: a message with another came from off the link (RFC 4861 §7.1).
pub const NDP_HOP_LIMIT: u8 = 255;
/// How long instances keep the router as default (seconds).
pub const ROUTER_LIFETIME: u16 = 1800;
/// The on-link prefix's lifetimes (seconds): RFC 4861's defaults.
pub const PREFIX_VALID: u32 = 2_592_000;
pub const PREFIX_PREFERRED: u32 = 604_800;

/// NA flags (the first byte after the checksum).
const NA_ROUTER: u8 = 0x80;
const NA_SOLICITED: u8 = 0x40;
const NA_OVERRIDE: u8 = 0x20;
/// RA flags: managed address configuration.
const RA_MANAGED: u8 = 0x80;
/// Prefix information flags: on-link.
const PREFIX_ON_LINK: u8 = 0x80;

/// The router's link-local address (EUI-64 of its MAC).
pub fn router_link_local(vpc: &Vpc) -> Ipv6Addr {
    ipv6::link_local_of(vpc.router_mac.0)
}

/// Whether `a` is one of the router's addresses on `subnet`.
pub fn is_router(vpc: &Vpc, subnet: &Subnet, a: Ipv6Addr) -> bool {
    if ipv6::is_link_local(a) {
        a == ROUTER_EC2_LINK_LOCAL || a == router_link_local(vpc)
    } else {
        Some(a) == subnet.router6
    }
}

/// Answers (or keeps on the link) an NDP or MLD message `m` sent by `port`: the answer
/// goes to `out`; `Err` says why there is none.
pub fn answer(
    port: &Port,
    vpc: &Vpc,
    subnet: &Subnet,
    frame: &[u8],
    m: &Meta6,
    mtu: u16,
    out: &mut Vec<u8>,
) -> Result<(), DropReason> {
    match m.icmp_type {
        kind::NEIGHBOR_SOLICIT => neighbor_advert(port, vpc, subnet, frame, m, out),
        kind::ROUTER_SOLICIT => router_advert(port, vpc, subnet, frame, m, mtu, out),
        kind::MLD_QUERY | kind::MLD_REPORT | kind::MLD_DONE | kind::MLD2_REPORT => {
            Err(DropReason::BroadcastOrMulticast)
        }
        _ => Err(DropReason::NdpUnanswered),
    }
}

/// The ICMPv6 message of an NDP frame, checked: hop limit 255, no extension headers.
fn message(frame: &[u8]) -> Result<(ipv6::Packet<&[u8]>, &[u8]), DropReason> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
    let payload = &frame[ethernet::HEADER_LEN..][..eth.payload().len()];
    let ip = ipv6::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
    if ip.hop_limit() != NDP_HOP_LIMIT || ip.next_header() != ip_proto::ICMPV6 {
        return Err(DropReason::NdpUnanswered);
    }
    let body = &payload[ipv6::HEADER_LEN..ipv6::HEADER_LEN + usize::from(ip.payload_len())];
    Ok((ip, body))
}

/// The sender may speak for its source: a link-local address (its own on the link, as
/// NDP uses them) or one of the ENI's (any, with the check off).
fn source_ok(port: &Port, src: Ipv6Addr) -> bool {
    ipv6::is_link_local(src) || !port.source_dest_check || port.owns6(src)
}

fn neighbor_advert(
    port: &Port,
    vpc: &Vpc,
    subnet: &Subnet,
    frame: &[u8],
    m: &Meta6,
    out: &mut Vec<u8>,
) -> Result<(), DropReason> {
    let (_, body) = message(frame)?;
    let ns = icmpv6::Packet::new_checked(body).map_err(|_| DropReason::Malformed)?;
    let target = ns.target().ok_or(DropReason::Malformed)?;
    let sll = icmpv6::link_layer_option(ns.options(), option::SOURCE_LL_ADDR)
        .map_err(|_| DropReason::Malformed)?;
    let src = m.tuple.src;
    if src.is_unspecified() {
        // duplicate address detection: never a conflict to report
        return Err(DropReason::NdpUnanswered);
    }
    if !source_ok(port, src) {
        return Err(DropReason::SourceCheck);
    }
    if sll.is_some_and(|mac| MacAddr(mac) != port.mac) {
        return Err(DropReason::SourceMacMismatch);
    }
    let (mac, router) = if is_router(vpc, subnet, target) {
        (vpc.router_mac, true)
    } else if subnet.contains6(target) && !port.owns6(target) {
        let owner = vpc.v2p6.get(target).ok_or(DropReason::NdpUnanswered)?;
        (owner.mac, false)
    } else {
        return Err(DropReason::NdpUnanswered);
    };
    let flags = NA_SOLICITED | NA_OVERRIDE | if router { NA_ROUTER } else { 0 };
    let icmp = write_frame(out, mac, port.mac, target, src, icmpv6::NEIGHBOR_LEN + 8);
    icmp[0] = kind::NEIGHBOR_ADVERT;
    icmp[4] = flags;
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = option::TARGET_LL_ADDR;
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac.0);
    finish(out, target, src);
    Ok(())
}

fn router_advert(
    port: &Port,
    vpc: &Vpc,
    subnet: &Subnet,
    frame: &[u8],
    m: &Meta6,
    mtu: u16,
    out: &mut Vec<u8>,
) -> Result<(), DropReason> {
    let (_, body) = message(frame)?;
    let rs = icmpv6::Packet::new_checked(body).map_err(|_| DropReason::Malformed)?;
    let sll = icmpv6::link_layer_option(rs.options(), option::SOURCE_LL_ADDR)
        .map_err(|_| DropReason::Malformed)?;
    let src = m.tuple.src;
    if !src.is_unspecified() && !source_ok(port, src) {
        return Err(DropReason::SourceCheck);
    }
    if sll.is_some_and(|mac| MacAddr(mac) != port.mac) {
        return Err(DropReason::SourceMacMismatch);
    }
    let to = if src.is_unspecified() { ALL_NODES } else { src };
    let router = router_link_local(vpc);
    let prefix = subnet.cidr6;
    // header and timers, source link-layer (8), MTU (8), prefix information (32)
    let len = icmpv6::ROUTER_ADVERT_LEN + 8 + 8 + if prefix.is_some() { 32 } else { 0 };
    let icmp = write_frame(out, vpc.router_mac, port.mac, router, to, len);
    icmp[0] = kind::ROUTER_ADVERT;
    icmp[4] = 64; // current hop limit for the instance's own packets
    icmp[5] = RA_MANAGED;
    icmp[6..8].copy_from_slice(&ROUTER_LIFETIME.to_be_bytes());
    let mut at = icmpv6::ROUTER_ADVERT_LEN;
    icmp[at] = option::SOURCE_LL_ADDR;
    icmp[at + 1] = 1;
    icmp[at + 2..at + 8].copy_from_slice(&vpc.router_mac.0);
    at += 8;
    icmp[at] = option::MTU;
    icmp[at + 1] = 1;
    icmp[at + 4..at + 8].copy_from_slice(&u32::from(mtu).to_be_bytes());
    at += 8;
    if let Some(p) = prefix {
        icmp[at] = option::PREFIX_INFO;
        icmp[at + 1] = 4;
        icmp[at + 2] = p.prefix_len();
        icmp[at + 3] = PREFIX_ON_LINK;
        icmp[at + 4..at + 8].copy_from_slice(&PREFIX_VALID.to_be_bytes());
        icmp[at + 8..at + 12].copy_from_slice(&PREFIX_PREFERRED.to_be_bytes());
        icmp[at + 16..at + 32].copy_from_slice(&p.network().octets());
    }
    finish(out, router, to);
    Ok(())
}

/// Writes Ethernet and IPv6 headers (ICMPv6, hop limit 255) for a message of `len`
/// bytes into `out` (zeroed) and returns the message's bytes.
fn write_frame(
    out: &mut Vec<u8>,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    len: usize,
) -> &mut [u8] {
    out.clear();
    out.resize(ethernet::HEADER_LEN + ipv6::HEADER_LEN + len, 0);
    let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
    ethernet::Repr {
        src: src_mac,
        dst: dst_mac,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut f);
    ipv6::Repr {
        src,
        dst,
        next_header: ip_proto::ICMPV6,
        hop_limit: NDP_HOP_LIMIT,
        payload_len: len,
    }
    .emit(&mut ipv6::Packet::new_unchecked(
        &mut out[ethernet::HEADER_LEN..],
    ));
    &mut out[ethernet::HEADER_LEN + ipv6::HEADER_LEN..]
}

/// Fills the ICMPv6 checksum of the message [`write_frame`] laid out.
fn finish(out: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    let at = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
    if let Some(msg) = out.get_mut(at..) {
        icmpv6::Packet::new_unchecked(msg).fill_checksum(src, dst);
    }
}
