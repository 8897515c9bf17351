//! Header rewrites with incremental checksums (RFC 1624, `fort_dataplane::wire::checksum`)
//! and the few packets the edge makes itself (TCP RST, ICMP "fragmentation needed").
//!
//! Every function takes an IPv4 packet already checked with `ipv4::Packet::new_checked`
//! and cut to its total length; none panics on a short L4 header (it is then left as is).

use fort_dataplane::wire::checksum::{update, update32};
use fort_dataplane::wire::{MacAddr, ethernet, icmp, ip_proto, ipv4, tcp};
use std::net::Ipv4Addr;

const SRC: usize = 12;
const DST: usize = 16;
const CSUM: usize = 10;

/// A header length as the `u16` an IP length field holds; used in consts, where the
/// assert fails the build.
const fn len16(n: usize) -> u16 {
    assert!(n <= u16::MAX as usize);
    #[allow(clippy::cast_possible_truncation)] // just checked: n <= u16::MAX
    let v = n as u16;
    v
}

const IPV4_LEN: u16 = len16(ipv4::HEADER_LEN);
const TCP_LEN: u16 = len16(tcp::HEADER_LEN);
const ICMP_LEN: u16 = len16(icmp::HEADER_LEN);

fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn wr16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn header_len(pkt: &[u8]) -> usize {
    usize::from(pkt[0] & 0x0f) * 4
}

/// True when the packet is not a fragment or is the first one (holds the L4 header).
fn first_fragment(pkt: &[u8]) -> bool {
    rd16(pkt, 6) & 0x1fff == 0
}

/// Where the L4 checksum covering the pseudo-header lives, if the packet carries it.
fn l4_checksum_at(pkt: &[u8]) -> Option<(usize, bool)> {
    if !first_fragment(pkt) {
        return None;
    }
    let hl = header_len(pkt);
    match pkt[9] {
        ip_proto::TCP if pkt.len() >= hl + tcp::HEADER_LEN => Some((hl + 16, false)),
        ip_proto::UDP if pkt.len() >= hl + 8 => Some((hl + 6, true)),
        _ => None,
    }
}

/// What changed under an L4 checksum: an address (two 16-bit words) or a port (one).
#[derive(Debug, Clone, Copy)]
enum Change {
    Addr(u32, u32),
    Port(u16, u16),
}

/// Patches the L4 checksum at `at` for `change` (UDP: a zero checksum means "none" and
/// stays; a computed zero is written 0xffff).
fn patch_l4(pkt: &mut [u8], at: usize, udp: bool, change: Change) {
    let c = rd16(pkt, at);
    if udp && c == 0 {
        return;
    }
    let n = match change {
        Change::Addr(old, new) => update32(c, old, new),
        Change::Port(old, new) => update(c, old, new),
    };
    wr16(pkt, at, if udp && n == 0 { 0xffff } else { n });
}

fn set_addr(pkt: &mut [u8], at: usize, new: Ipv4Addr) -> Ipv4Addr {
    let old = u32::from_be_bytes([pkt[at], pkt[at + 1], pkt[at + 2], pkt[at + 3]]);
    let newv = u32::from(new);
    pkt[at..at + 4].copy_from_slice(&new.octets());
    let c = update32(rd16(pkt, CSUM), old, newv);
    wr16(pkt, CSUM, c);
    if let Some((l4, udp)) = l4_checksum_at(pkt) {
        patch_l4(pkt, l4, udp, Change::Addr(old, newv));
    }
    Ipv4Addr::from(old)
}

/// Rewrites the source address; returns the old one.
pub fn set_src(pkt: &mut [u8], new: Ipv4Addr) -> Ipv4Addr {
    set_addr(pkt, SRC, new)
}

/// Rewrites the destination address; returns the old one.
pub fn set_dst(pkt: &mut [u8], new: Ipv4Addr) -> Ipv4Addr {
    set_addr(pkt, DST, new)
}

/// Rewrites the TCP/UDP source (`dst == false`) or destination port of a first fragment.
pub fn set_port(pkt: &mut [u8], dst: bool, new: u16) {
    let Some((l4, udp)) = l4_checksum_at(pkt) else {
        return;
    };
    let at = header_len(pkt) + if dst { 2 } else { 0 };
    let old = rd16(pkt, at);
    wr16(pkt, at, new);
    patch_l4(pkt, l4, udp, Change::Port(old, new));
}

/// Rewrites the identifier of an ICMP query (echo request/reply).
pub fn set_icmp_ident(pkt: &mut [u8], new: u16) {
    let hl = header_len(pkt);
    if pkt.len() < hl + icmp::HEADER_LEN {
        return;
    }
    let old = rd16(pkt, hl + 4);
    wr16(pkt, hl + 4, new);
    let c = update(rd16(pkt, hl + 2), old, new);
    wr16(pkt, hl + 2, c);
}

/// Starts a frame for the VPC: a 14-byte Ethernet header (MACs zero, for the caller to
/// fill from V2P) followed by `pkt`.
pub fn frame_for_vpc(out: &mut Vec<u8>, pkt: &[u8]) {
    out.clear();
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&ethernet::ethertype::IPV4.to_be_bytes());
    out.extend_from_slice(pkt);
}

/// Writes the inner MACs of a frame for the VPC: `src` (the VPC router's MAC) and
/// `dst` (the ENI's MAC, from V2P).
pub fn set_inner_macs(frame: &mut [u8], src: MacAddr, dst: MacAddr) {
    if frame.len() >= ethernet::HEADER_LEN {
        frame[0..6].copy_from_slice(&dst.0);
        frame[6..12].copy_from_slice(&src.0);
    }
}

/// `l4_len` is small (a TCP header, or an ICMP header and a quote of at most 68 bytes).
fn start_reply(out: &mut Vec<u8>, frame: &[u8], pkt: &[u8], proto: u8, l4_len: u16) {
    out.clear();
    // MACs swapped: back to the instance, from the router MAC it sent to.
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&frame[0..6]);
    out.extend_from_slice(&ethernet::ethertype::IPV4.to_be_bytes());
    let start = out.len();
    let total = IPV4_LEN + l4_len;
    out.resize(start + usize::from(total), 0);
    let mut ip = ipv4::Packet::new_unchecked(&mut out[start..]);
    ip.set_ver_ihl(ipv4::HEADER_LEN);
    ip.set_total_len(total);
    ip.set_flags_frag(true);
    ip.set_ttl(64);
    ip.set_protocol(proto);
    ip.set_src(Ipv4Addr::from(
        <[u8; 4]>::try_from(&pkt[DST..DST + 4]).expect("4"),
    ));
    ip.set_dst(Ipv4Addr::from(
        <[u8; 4]>::try_from(&pkt[SRC..SRC + 4]).expect("4"),
    ));
    ip.fill_checksum();
}

/// The RST (RFC 9293 §3.10.7.1) answering a TCP segment from inside that matches no
/// flow: addressed back to the sender, from the address it was talking to. `frame` is
/// the inner Ethernet frame, `pkt` its IPv4 packet (TCP header at least 20 bytes).
pub fn tcp_rst(out: &mut Vec<u8>, frame: &[u8], pkt: &[u8]) {
    let hl = header_len(pkt);
    let seg = tcp::Packet::new_unchecked(&pkt[hl..]);
    let flags = seg.flags();
    let payload = pkt.len().saturating_sub(hl + seg.header_len());
    let (seq, ack, rflags) = if flags & tcp::flags::ACK != 0 {
        (seg.ack(), 0, tcp::flags::RST)
    } else {
        // `pkt` is cut to its (16-bit) total length, so the payload fits
        let len = u32::try_from(payload).unwrap_or(u32::MAX)
            + u32::from(flags & tcp::flags::SYN != 0)
            + u32::from(flags & tcp::flags::FIN != 0);
        (
            0,
            seg.seq().wrapping_add(len),
            tcp::flags::RST | tcp::flags::ACK,
        )
    };
    let (sport, dport) = (seg.src_port(), seg.dst_port());
    start_reply(out, frame, pkt, ip_proto::TCP, TCP_LEN);
    let ip_start = ethernet::HEADER_LEN;
    let (src, dst) = {
        let ip = ipv4::Packet::new_unchecked(&out[ip_start..]);
        (ip.src(), ip.dst())
    };
    let mut t = tcp::Packet::new_unchecked(&mut out[ip_start + ipv4::HEADER_LEN..]);
    t.set_src_port(dport);
    t.set_dst_port(sport);
    t.set_seq(seq);
    t.set_ack(ack);
    t.set_offset_flags(rflags);
    t.set_window(0);
    t.set_urgent(0);
    t.fill_checksum(src, dst);
}

/// ICMP destination unreachable, "fragmentation needed and DF set" (type 3 code 4) with
/// the next-hop MTU, quoting the IP header and 8 bytes of the packet, back to the sender.
pub fn icmp_frag_needed(out: &mut Vec<u8>, frame: &[u8], pkt: &[u8], mtu: u16) {
    // the IP header and 8 bytes: at most 15 * 4 + 8 = 68, or all of a shorter packet
    let most = (pkt[0] & 0x0f) * 4 + 8;
    let quote = u8::try_from(pkt.len()).map_or(most, |len| len.min(most));
    start_reply(out, frame, pkt, ip_proto::ICMP, ICMP_LEN + u16::from(quote));
    let at = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    let mut m = icmp::Packet::new_unchecked(&mut out[at..]);
    m.set_msg_type(icmp::kind::DEST_UNREACHABLE);
    m.set_code(4);
    m.set_ident(0);
    m.set_seq(mtu);
    m.data_mut().copy_from_slice(&pkt[..usize::from(quote)]);
    m.fill_checksum();
}
