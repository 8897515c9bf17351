//! IPv6 (RFC 8200). Like IPv4 the engine never fragments and never touches the hop
//! limit of forwarded packets (the VPC router is invisible); it reads the fixed header
//! and skips the extension headers a VPC carries (hop-by-hop, routing, destination
//! options) to find the upper layer. A fragment header is reported, never reassembled.

use super::checksum;
use super::{Error, Field, Result, read_u16, write_u16};
use std::net::Ipv6Addr;

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

pub const HEADER_LEN: usize = 40;

/// Next-header values the engine knows.
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTIONS: u8 = 60;
}

/// Most extension headers walked before the upper layer: a packet with more is refused
/// (no VPC traffic needs them, and the walk stays bounded).
pub const MAX_EXTENSIONS: usize = 4;

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Checks version 6 and a payload length that fits the buffer (trailing Ethernet
    /// padding is allowed). A jumbogram (payload length 0 with a hop-by-hop option) is
    /// refused: no VPC link carries one.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN || b[0] >> 4 != 6 {
            return Err(Error);
        }
        let len = usize::from(read_u16(b, field::LENGTH.start));
        if HEADER_LEN + len > b.len() {
            return Err(Error);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }

    pub fn flow_label(&self) -> u32 {
        let b = self.buffer.as_ref();
        (u32::from(b[1] & 0x0f) << 16) | (u32::from(b[2]) << 8) | u32::from(b[3])
    }

    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Header and payload: the bytes flow logs count (saturated at 65,535).
    pub fn total_len(&self) -> u16 {
        self.payload_len().saturating_add(40)
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::SRC])
    }

    pub fn dst(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::DST])
    }

    /// The bytes after the fixed header, up to the payload length.
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }

    /// The upper layer: its protocol number and offset in [`Packet::payload`], past the
    /// extension headers; `Err` for a truncated chain or one longer than
    /// [`MAX_EXTENSIONS`]. A fragment header ends the walk with
    /// [`next_header::FRAGMENT`] (the caller refuses fragments).
    pub fn upper_layer(&self) -> Result<(u8, usize)> {
        let p = self.payload();
        let mut next = self.next_header();
        let mut at = 0usize;
        for _ in 0..=MAX_EXTENSIONS {
            match next {
                next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTIONS => {
                    let h = p.get(at..at + 2).ok_or(Error)?;
                    next = h[0];
                    at += (usize::from(h[1]) + 1) * 8;
                    if at > p.len() {
                        return Err(Error);
                    }
                }
                _ => return Ok((next, at)),
            }
        }
        Err(Error)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }
    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }
    pub fn set_payload_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(b);
    Ipv6Addr::from(o)
}

/// A fixed IPv6 header as owned values (no extension headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload_len: usize,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            payload_len: usize::from(p.payload_len()),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header (traffic class and flow label 0); a payload longer than
    /// 65,535 bytes is written as that (the engine checks lengths first).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        let b = p.buffer.as_mut();
        b[field::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
        write_u16(
            b,
            field::LENGTH.start,
            u16::try_from(self.payload_len).unwrap_or(u16::MAX),
        );
        b[field::NEXT_HEADER] = self.next_header;
        b[field::HOP_LIMIT] = self.hop_limit;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
    }
}

/// Checksum of an upper-layer segment with its IPv6 pseudo-header (RFC 8200 §8.1);
/// the segment's own checksum field must be zero (or the result verifies as 0 when it
/// holds the right value).
pub fn l4_checksum(src: Ipv6Addr, dst: Ipv6Addr, protocol: u8, segment: &[u8]) -> u16 {
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    let pseudo = checksum::sum(&src.octets())
        + checksum::sum(&dst.octets())
        + u32::from(checksum::fold(len))
        + u32::from(protocol);
    !checksum::fold(pseudo + checksum::sum(segment))
}

/// The EUI-64 link-local address of a MAC (RFC 4291 appendix A): how the VPC router's
/// link-local address is made from its MAC, as in EC2.
pub fn link_local_of(mac: [u8; 6]) -> Ipv6Addr {
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
}

/// The solicited-node multicast address of `a` (ff02::1:ffXX:XXXX).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast MAC of an IPv6 multicast address (33:33 + its low 32 bits).
pub fn multicast_mac(a: Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// fe80::/10.
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2001:db8::1 -> 2001:db8::2, UDP, 12 bytes of payload, hop limit 64
    fn packet() -> Vec<u8> {
        let mut b = vec![0u8; 52];
        Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: 17,
            hop_limit: 64,
            payload_len: 12,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]));
        b
    }

    #[test]
    fn deconstruct() {
        let b = packet();
        assert_eq!(&b[..8], &[0x60, 0, 0, 0, 0, 12, 17, 64]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.src(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload().len(), 12);
        assert_eq!(p.total_len(), 52);
        assert_eq!(p.upper_layer(), Ok((17, 0)));
        assert_eq!(Repr::parse(&p).unwrap().payload_len, 12);
    }

    #[test]
    fn refuses_bad_version_and_length() {
        let mut b = packet();
        b[0] = 0x40;
        assert!(Packet::new_checked(&b[..]).is_err());
        let mut b = packet();
        b[5] = 13;
        assert!(Packet::new_checked(&b[..]).is_err());
        assert!(Packet::new_checked(&b[..39]).is_err());
    }

    #[test]
    fn walks_extension_headers() {
        // hop-by-hop (8 bytes) then ICMPv6
        let mut b = packet();
        b[6] = next_header::HOP_BY_HOP;
        b[40] = 58;
        b[41] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.upper_layer(), Ok((58, 8)));
        // a header claiming more than the payload
        b[41] = 1;
        assert!(Packet::new_checked(&b[..]).unwrap().upper_layer().is_err());
        // a chain of hop-by-hop headers longer than the limit
        let mut b = [0u8; 40 + 8 * 8];
        Repr {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: 0,
            hop_limit: 1,
            payload_len: 64,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]));
        assert!(Packet::new_checked(&b[..]).unwrap().upper_layer().is_err());
    }

    #[test]
    fn eui64_and_multicast() {
        let ll = link_local_of([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
        assert_eq!(ll, "fe80::5eff:fe10:2030".parse::<Ipv6Addr>().unwrap());
        assert!(is_link_local(ll));
        let sn = solicited_node("2001:db8::1:2:3".parse().unwrap());
        assert_eq!(sn, "ff02::1:ff02:3".parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac(sn), [0x33, 0x33, 0xff, 0x02, 0x00, 0x03]);
    }
}
