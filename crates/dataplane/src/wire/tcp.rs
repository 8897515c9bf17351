//! TCP (RFC 9293) headers: what connection tracking needs (ports, flags) and enough to
//! build test segments.

use super::checksum;
use super::{Error, Field, Result, ip_proto, read_u16, read_u32, write_u16, write_u32};
use std::net::Ipv4Addr;

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ: Field = 4..8;
    pub const ACK: Field = 8..12;
    pub const FLAGS: Field = 12..14;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

pub const HEADER_LEN: usize = 20;

/// Flag bits, as in the low 9 bits of bytes 12..14 (and in flow logs' `tcp-flags`).
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
}

#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// The data offset must be at least 5 words and fit the buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error);
        }
        let off = usize::from(b[field::FLAGS.start] >> 4) * 4;
        if off < HEADER_LEN || off > b.len() {
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
    pub fn seq(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ.start)
    }
    pub fn ack(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK.start)
    }
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }
    #[inline]
    pub fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS.start) & 0x01ff
    }
    pub fn window(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW.start)
    }
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn urgent(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let seg = self.buffer.as_ref();
        // no valid IPv4 segment is 65,536 bytes or longer
        let Ok(len) = u16::try_from(seg.len()) else {
            return false;
        };
        checksum::fold(checksum::pseudo_header(src, dst, ip_proto::TCP, len) + checksum::sum(seg))
            == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }
    pub fn set_seq(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ.start, v);
    }
    pub fn set_ack(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::ACK.start, v);
    }
    /// Sets the data offset to 5 words (no options) and the flags.
    pub fn set_offset_flags(&mut self, flags: u16) {
        write_u16(
            self.buffer.as_mut(),
            field::FLAGS.start,
            0x5000 | (flags & 0x01ff),
        );
    }
    pub fn set_window(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW.start, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn set_urgent(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, v);
    }
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::l4_checksum(src, dst, ip_proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub window: u16,
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
            seq: p.seq(),
            ack: p.ack(),
            flags: p.flags(),
            window: p.window(),
            payload_len: p.payload().len(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a header without options; the payload must already follow it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq(self.seq);
        p.set_ack(self.ack);
        p.set_offset_flags(self.flags);
        p.set_window(self.window);
        p.set_urgent(0);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 20);

    // SYN 40000 -> 22, seq 1, window 65535
    fn syn() -> [u8; 20] {
        let mut b = [
            0x9c, 0x40, 0x00, 0x16, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        Packet::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        b
    }

    #[test]
    fn deconstruct() {
        let b = syn();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 22);
        assert_eq!(p.seq(), 1);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.header_len(), 20);
        assert!(p.verify_checksum(SRC, DST));
        // the checksum computed by hand for these bytes
        assert_eq!(p.checksum(), 0xfc6d);
    }

    #[test]
    fn round_trip() {
        let b = syn();
        let r = Repr::parse(&Packet::new_checked(&b[..]).unwrap(), SRC, DST).unwrap();
        let mut out = [0u8; 20];
        r.emit(&mut Packet::new_unchecked(&mut out[..]), SRC, DST);
        assert_eq!(out, b);
    }

    #[test]
    fn bad_offset() {
        let mut b = syn();
        b[12] = 0x40;
        assert!(Packet::new_checked(&b[..]).is_err());
        b[12] = 0x60;
        assert!(Packet::new_checked(&b[..]).is_err());
    }
}
