//! IPv4 (RFC 791). The engine never fragments and never decrements the TTL: the VPC
//! router is invisible, as in AWS.

use super::checksum;
use super::{Error, Field, Result, read_u16, write_u16};
use std::net::Ipv4Addr;

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

pub const HEADER_LEN: usize = 20;
/// [`HEADER_LEN`] as the length fields hold it.
pub const HEADER_LEN_U16: u16 = 20;
const _: () = assert!(HEADER_LEN_U16 as usize == HEADER_LEN);
/// Offsets other modules use to patch a header in place.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;
pub const LENGTH_OFFSET: usize = field::LENGTH.start;

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Checks version 4, a header length of at least 20 bytes and a total length that
    /// fits the buffer (trailing Ethernet padding is allowed). The checksum is not
    /// checked here: see [`Packet::verify_checksum`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error);
        }
        let ver = b[field::VER_IHL] >> 4;
        let hl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        let total = usize::from(read_u16(b, field::LENGTH.start));
        if ver != 4 || hl < HEADER_LEN || total < hl || total > b.len() {
            return Err(Error);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x4000 != 0
    }

    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x2000 != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x1fff) << 3
    }

    /// True for any fragment, first or not.
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x3fff != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn src(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(&self.buffer.as_ref()[..self.header_len()])) == 0xffff
    }

    /// The L4 payload, without Ethernet padding.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Version 4 and the header length (20 to 60 bytes: a longer one is written as 60).
    pub fn set_ver_ihl(&mut self, header_len: usize) {
        let words = u8::try_from((header_len / 4).min(15)).unwrap_or(15);
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | words;
    }
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, v);
    }
    pub fn set_flags_frag(&mut self, dont_frag: bool) {
        write_u16(
            self.buffer.as_mut(),
            field::FLG_OFF.start,
            if dont_frag { 0x4000 } else { 0 },
        );
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn set_src(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        &mut self.buffer.as_mut()[hl..total]
    }
}

/// The longest payload a header can announce (total length 65,535).
pub const MAX_PAYLOAD: usize = u16::MAX as usize - HEADER_LEN;

/// An IPv4 header as owned values (options are not represented: `emit` writes none).
/// `payload_len` is at most [`MAX_PAYLOAD`]: `emit` writes a longer one as that (the
/// engine checks lengths before it builds a packet, and drops what does not fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub payload_len: usize,
    pub ttl: u8,
    pub dscp_ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
}

impl Repr {
    /// Refuses fragments and bad checksums: the engine never reassembles, and a header
    /// it cannot trust is not worth a decision.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        if p.is_fragment() || !p.verify_checksum() {
            return Err(Error);
        }
        Ok(Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            payload_len: p.payload().len(),
            ttl: p.ttl(),
            dscp_ecn: p.dscp_ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (not the payload) and its checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_ver_ihl(HEADER_LEN);
        p.set_dscp_ecn(self.dscp_ecn);
        p.set_total_len(u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX));
        p.set_ident(self.ident);
        p.set_flags_frag(self.dont_frag);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src(self.src);
        p.set_dst(self.dst);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 10.0.1.10 -> 10.0.2.20, ICMP, 8 bytes of payload, header checksum 0x1190
    static PACKET: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x11, 0x90, 10, 0, 1, 10, 10,
        0, 2, 20, // header
        0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x00, // echo request id 1 seq 0
    ];

    fn fixed() -> [u8; 28] {
        PACKET
    }

    #[test]
    fn deconstruct() {
        let b = fixed();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 1);
        assert_eq!(p.src(), Ipv4Addr::new(10, 0, 1, 10));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 0, 2, 20));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn known_checksum() {
        let mut b = fixed();
        b[10] = 0;
        b[11] = 0;
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum();
        assert_eq!(p.checksum(), 0x1190);
    }

    #[test]
    fn round_trip() {
        let b = fixed();
        let r = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        let mut out = [0u8; 28];
        out[20..].copy_from_slice(&b[20..]);
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }

    #[test]
    fn checks() {
        let b = fixed();
        assert!(Packet::new_checked(&b[..19]).is_err());
        let mut v6 = b;
        v6[0] = 0x65;
        assert!(Packet::new_checked(&v6[..]).is_err());
        let mut long = b;
        long[3] = 0x40; // total length 64 > buffer
        assert!(Packet::new_checked(&long[..]).is_err());
        let mut bad = b;
        bad[11] ^= 1;
        assert!(Repr::parse(&Packet::new_checked(&bad[..]).unwrap()).is_err());
        // trailing padding is fine
        let mut padded = [0u8; 40];
        padded[..28].copy_from_slice(&b);
        assert_eq!(Packet::new_checked(&padded[..]).unwrap().payload().len(), 8);
    }
}
