//! The underlay: Geneve encapsulation with outer addresses from V2P, decapsulation, and
//! authentication of origin.

use crate::packet::FiveTuple;
use crate::program::Underlay;
use crate::verdict::DropReason;
use crate::wire::MacAddr;
use crate::wire::checksum;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{geneve, ip_proto, ipv4, udp};
use std::net::Ipv4Addr;

/// Outer Ethernet (14) + IPv4 (20) + UDP (8) + Geneve (8).
pub const OUTER_LEN: usize =
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + geneve::HEADER_LEN;
/// Where the UDP payload (the Geneve header) starts in an encapsulated frame.
pub const GENEVE_OFFSET: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
const IP: usize = ethernet::HEADER_LEN;
const UDP: usize = IP + ipv4::HEADER_LEN;

/// Outer TTL of underlay packets.
pub const OUTER_TTL: u8 = 64;

/// A locally administered unicast MAC that names a gateway inside a frame: the
/// instance host writes `gateway_mac(route target id)` as the inner destination MAC of a
/// frame it sends to the edge, so the edge knows which gateway the route table chose
/// without guessing (the edge crate's `Edge::process_from_vpc`). FNV-1a of the id, first
/// octet `0x0a`.
pub fn gateway_mac(gateway_id: &str) -> MacAddr {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in gateway_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    MacAddr([0x0a, b[0] ^ b[5], b[1] ^ b[6], b[2] ^ b[7], b[3], b[4]])
}

/// The outer UDP source port: a hash of the inner flow in 49152–65535, so the underlay
/// can spread flows (RFC 8926 §3.3).
pub fn entropy_port(t: &FiveTuple) -> u16 {
    let mut h = crate::wire::low64(t.pack()) ^ crate::wire::low64(t.pack() >> 64);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    0xc000 | (crate::wire::low16(h) & 0x3fff)
}

/// [`entropy_port`] for an IPv6 flow.
pub fn entropy_port6(t: &crate::packet::FiveTuple6) -> u16 {
    let k = crate::flow_table::FlowKey6::new(crate::flow_table::Origin::Port(0), t);
    let (src, dst) = (k.src.bits(), k.dst.bits());
    let mut h = crate::wire::low64(src)
        ^ crate::wire::low64(src >> 64).rotate_left(17)
        ^ crate::wire::low64(dst).rotate_left(31)
        ^ crate::wire::low64(dst >> 64).rotate_left(47)
        ^ k.rest;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    0xc000 | (crate::wire::low16(h) & 0x3fff)
}

/// Outer headers with length fields zero and the IPv4 checksum computed for that; the
/// per-packet work is [`encapsulate`].
pub fn outer_template(
    underlay: &Underlay,
    dst: Ipv4Addr,
    vni: u32,
    src_port: u16,
) -> [u8; OUTER_LEN] {
    let mut b = [0u8; OUTER_LEN];
    ethernet::Repr {
        src: underlay.mac,
        dst: underlay.next_hop_mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut b[..]));
    let mut ip = ipv4::Packet::new_unchecked(&mut b[IP..UDP]);
    ipv4::Repr {
        src: underlay.address,
        dst,
        protocol: ip_proto::UDP,
        payload_len: 0,
        ttl: OUTER_TTL,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut ip);
    // emit wrote total length 20; make the template's length 0 so patching adds to it
    let c = ip.checksum();
    ip.set_total_len(0);
    ip.set_checksum(checksum::update(c, ipv4::HEADER_LEN_U16, 0));
    let mut u = udp::Packet::new_unchecked(&mut b[UDP..GENEVE_OFFSET]);
    u.set_src_port(src_port);
    u.set_dst_port(geneve::UDP_PORT);
    u.set_len(0);
    u.set_checksum(0); // zero UDP checksum over IPv4, as RFC 8926 allows
    geneve::Repr {
        vni,
        protocol: ethertype::TEB,
        oam: false,
        critical: false,
    }
    .emit(&mut geneve::Packet::new_unchecked(&mut b[GENEVE_OFFSET..]));
    b
}

/// The host and VNI an [`outer_template`] sends to.
#[inline]
pub fn template_dst(outer: &[u8; OUTER_LEN]) -> (Ipv4Addr, u32) {
    (
        ipv4::Packet::new_unchecked(&outer[IP..UDP]).dst(),
        geneve::Packet::new_unchecked(&outer[GENEVE_OFFSET..]).vni(),
    )
}

/// The longest inner frame that fits one encapsulated IPv4 packet.
pub const MAX_INNER: usize = u16::MAX as usize - (OUTER_LEN - IP);

/// The inner frame is longer than [`MAX_INNER`]: no IPv4 packet can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// Writes `outer` + `inner` into `out` and patches lengths and the IPv4 checksum.
#[inline]
pub fn encapsulate(
    out: &mut Vec<u8>,
    outer: &[u8; OUTER_LEN],
    inner: &[u8],
) -> Result<(), TooLarge> {
    if inner.len() > MAX_INNER {
        return Err(TooLarge);
    }
    out.clear();
    out.extend_from_slice(outer);
    out.extend_from_slice(inner);
    patch_lengths(out)
}

/// Encapsulates in place: `buf` is `OUTER_LEN` bytes of room followed by the inner
/// frame; the room gets `outer`, lengths and the IPv4 checksum patched.
#[inline]
pub fn encapsulate_in_place(buf: &mut [u8], outer: &[u8; OUTER_LEN]) -> Result<(), TooLarge> {
    let room = buf.first_chunk_mut::<OUTER_LEN>().ok_or(TooLarge)?;
    *room = *outer;
    patch_lengths(buf)
}

#[inline]
fn patch_lengths(out: &mut [u8]) -> Result<(), TooLarge> {
    if out.len() < OUTER_LEN {
        return Err(TooLarge);
    }
    let ip_len = u16::try_from(out.len() - IP).map_err(|_| TooLarge)?;
    let udp_len = u16::try_from(out.len() - UDP).map_err(|_| TooLarge)?;
    out[IP + ipv4::LENGTH_OFFSET..IP + ipv4::LENGTH_OFFSET + 2]
        .copy_from_slice(&ip_len.to_be_bytes());
    let c = u16::from_be_bytes([
        out[IP + ipv4::CHECKSUM_OFFSET],
        out[IP + ipv4::CHECKSUM_OFFSET + 1],
    ]);
    let c = checksum::update(c, 0, ip_len);
    out[IP + ipv4::CHECKSUM_OFFSET..IP + ipv4::CHECKSUM_OFFSET + 2]
        .copy_from_slice(&c.to_be_bytes());
    out[UDP + udp::LENGTH_OFFSET..UDP + udp::LENGTH_OFFSET + 2]
        .copy_from_slice(&udp_len.to_be_bytes());
    Ok(())
}

/// A decapsulated packet: outer addresses, VNI, and where the inner frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decap {
    pub outer_src: Ipv4Addr,
    pub outer_dst: Ipv4Addr,
    pub vni: u32,
    /// Offset of the inner Ethernet frame in the input.
    pub inner_offset: usize,
    /// End of the inner frame (the UDP length may be shorter than the buffer).
    pub inner_end: usize,
}

/// Parses outer Ethernet/IPv4/UDP/Geneve of a frame from the underlay.
pub fn decapsulate(frame: &[u8]) -> Result<Decap, DropReason> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
    if eth.ethertype() != ethertype::IPV4 {
        return Err(DropReason::NotGeneve);
    }
    let ip = ipv4::Packet::new_checked(eth.payload()).map_err(|_| DropReason::Malformed)?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadChecksum);
    }
    if ip.is_fragment() {
        return Err(DropReason::Fragment);
    }
    if ip.protocol() != ip_proto::UDP {
        return Err(DropReason::NotGeneve);
    }
    let u = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::Malformed)?;
    if u.dst_port() != geneve::UDP_PORT {
        return Err(DropReason::NotGeneve);
    }
    if !u.verify_checksum(ip.src(), ip.dst()) {
        return Err(DropReason::BadChecksum);
    }
    let udp_start = ethernet::HEADER_LEN + ip.header_len();
    let g = geneve_payload(u.payload())?;
    Ok(Decap {
        outer_src: ip.src(),
        outer_dst: ip.dst(),
        vni: g.0,
        inner_offset: udp_start + udp::HEADER_LEN + g.1,
        inner_end: udp_start + usize::from(u.len()),
    })
}

/// Parses a Geneve header (a UDP payload): the VNI and the inner frame's offset.
pub fn geneve_payload(payload: &[u8]) -> Result<(u32, usize), DropReason> {
    let g = geneve::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
    let repr = geneve::Repr::parse(&g).map_err(|_| DropReason::NotGeneve)?;
    if repr.protocol != ethertype::TEB || repr.oam {
        return Err(DropReason::NotGeneve);
    }
    Ok((repr.vni, g.header_len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MacAddr;

    #[test]
    fn encapsulation_is_byte_exact() {
        let underlay = Underlay {
            address: Ipv4Addr::new(127, 0, 0, 11),
            mac: MacAddr([2, 0xaa, 0, 0, 0, 1]),
            next_hop_mac: MacAddr([2, 0xaa, 0, 0, 0, 2]),
        };
        let t = outer_template(&underlay, Ipv4Addr::new(127, 0, 0, 12), 0x0a0b0c, 0xc123);
        let inner = [0x5au8; 64];
        let mut out = Vec::new();
        encapsulate(&mut out, &t, &inner).unwrap();
        let mut expect = vec![
            2, 0xaa, 0, 0, 0, 2, 2, 0xaa, 0, 0, 0, 1, 0x08, 0x00, // ethernet
            0x45, 0x00, 0x00, 0x64, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 127, 0, 0, 11,
            127, 0, 0, 12, // ipv4, checksum below
            0xc1, 0x23, 0x17, 0xc1, 0x00, 0x50, 0x00, 0x00, // udp 6081, length 80
            0x00, 0x00, 0x65, 0x58, 0x0a, 0x0b, 0x0c, 0x00, // geneve
        ];
        let c = checksum::checksum(&expect[14..34]);
        expect[24..26].copy_from_slice(&c.to_be_bytes());
        expect.extend_from_slice(&inner);
        assert_eq!(out, expect);

        let d = decapsulate(&out).unwrap();
        assert_eq!(d.vni, 0x0a0b0c);
        assert_eq!(d.outer_src, underlay.address);
        assert_eq!(&out[d.inner_offset..d.inner_end], &inner[..]);
    }

    #[test]
    fn too_large_for_ipv4() {
        let t = outer_template(
            &Underlay::default(),
            Ipv4Addr::new(127, 0, 0, 12),
            1,
            0xc000,
        );
        let mut out = Vec::new();
        let inner = vec![0u8; MAX_INNER];
        assert_eq!(encapsulate(&mut out, &t, &inner), Ok(()));
        assert_eq!(&out[16..18], &[0xff, 0xff], "IPv4 total length 65,535");
        let inner = vec![0u8; MAX_INNER + 1];
        assert_eq!(encapsulate(&mut out, &t, &inner), Err(TooLarge));
        let mut buf = vec![0u8; OUTER_LEN + MAX_INNER + 1];
        assert_eq!(encapsulate_in_place(&mut buf, &t), Err(TooLarge));
        assert_eq!(
            encapsulate_in_place(&mut buf[..OUTER_LEN - 1], &t),
            Err(TooLarge)
        );
    }

    #[test]
    fn entropy_in_range() {
        let t = FiveTuple {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 1,
            dst_port: 2,
            protocol: 6,
        };
        assert!(entropy_port(&t) >= 0xc000);
    }
}
