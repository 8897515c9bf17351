//! UDP (RFC 768). Over IPv4 a zero checksum means "none", which Geneve senders may use.

use super::checksum;
use super::{Error, Field, Result, ip_proto, read_u16, write_u16};
use std::net::Ipv4Addr;

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

pub const HEADER_LEN: usize = 8;
pub const LENGTH_OFFSET: usize = field::LENGTH.start;
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// The length field must cover the header and fit the buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error);
        }
        let len = usize::from(read_u16(b, field::LENGTH.start));
        if len < HEADER_LEN || len > b.len() {
            return Err(Error);
        }
        Ok(Packet { buffer })
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
    /// True when the checksum is absent (zero) or right.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let seg = &self.buffer.as_ref()[..usize::from(self.len())];
        checksum::fold(
            checksum::pseudo_header(src, dst, ip_proto::UDP, self.len()) + checksum::sum(seg),
        ) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }
    pub fn set_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = usize::from(self.len());
        let c = checksum::l4_checksum(src, dst, ip_proto::UDP, &self.buffer.as_ref()[..len]);
        // 0 means "no checksum"; a computed 0 is sent as 0xffff.
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// The longest payload a header can announce (length 65,535).
pub const MAX_PAYLOAD: usize = u16::MAX as usize - HEADER_LEN;

/// A UDP header as owned values. `payload_len` is at most [`MAX_PAYLOAD`]: `emit`
/// writes a longer one as that (the engine checks lengths first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: usize,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Repr> {
        if !p.verify_checksum(src, dst) {
            return Err(Error);
        }
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.payload().len(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header; the payload must already be in place when `checksum` is set.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: bool,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX));
        if checksum {
            p.fill_checksum(src, dst);
        } else {
            p.set_checksum(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    // src 49152 -> 53, length 12, payload "abcd"
    static SEGMENT: [u8; 12] = [
        0xc0, 0x00, 0x00, 0x35, 0x00, 0x0c, 0xf7, 0x85, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&SEGMENT[..]).unwrap();
        assert_eq!(p.src_port(), 49152);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 12);
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 12];
        b[8..].copy_from_slice(b"abcd");
        let r = Repr {
            src_port: 49152,
            dst_port: 53,
            payload_len: 4,
        };
        r.emit(&mut Packet::new_unchecked(&mut b[..]), SRC, DST, true);
        assert_eq!(b, SEGMENT);
    }

    #[test]
    fn zero_checksum_is_none() {
        let mut b = SEGMENT;
        b[6] = 0;
        b[7] = 0;
        assert!(
            Packet::new_checked(&b[..])
                .unwrap()
                .verify_checksum(SRC, DST)
        );
        b[7] = 1;
        assert!(
            !Packet::new_checked(&b[..])
                .unwrap()
                .verify_checksum(SRC, DST)
        );
    }

    #[test]
    fn bad_length() {
        let mut b = SEGMENT;
        b[5] = 13;
        assert!(Packet::new_checked(&b[..]).is_err());
        b[5] = 7;
        assert!(Packet::new_checked(&b[..]).is_err());
    }
}
