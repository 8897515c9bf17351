//! ICMPv4 (RFC 792). Queries (echo, timestamp, information, address mask) carry an
//! identifier that connection tracking keys on, as AWS does for echo.

use super::checksum;
use super::{Error, Field, Result, read_u16, write_u16};

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const SEQ: Field = 6..8;
}

pub const HEADER_LEN: usize = 8;

pub mod kind {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const MASK_REQUEST: u8 = 17;
    pub const MASK_REPLY: u8 = 18;
}

/// For a query or its reply, the request type that starts the exchange; `None` for
/// errors and anything else, which have no identifier.
pub fn query_of(icmp_type: u8) -> Option<u8> {
    use kind::*;
    match icmp_type {
        ECHO_REQUEST | ECHO_REPLY => Some(ECHO_REQUEST),
        TIMESTAMP | TIMESTAMP_REPLY => Some(TIMESTAMP),
        INFO_REQUEST | INFO_REPLY => Some(INFO_REQUEST),
        MASK_REQUEST | MASK_REPLY => Some(MASK_REQUEST),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error);
        }
        Ok(Packet { buffer })
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// Identifier of a query (meaningless for other types).
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }
    pub fn seq(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SEQ.start)
    }
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, v);
    }
    pub fn set_seq(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SEQ.start, v);
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An ICMP message header as owned values: type, code and the 4 "rest of header" bytes
/// (identifier and sequence for queries). The data that follows is not represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    pub ident: u16,
    pub seq: u16,
    pub data_len: usize,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        if !p.verify_checksum() {
            return Err(Error);
        }
        Ok(Repr {
            msg_type: p.msg_type(),
            code: p.code(),
            ident: p.ident(),
            seq: p.seq(),
            data_len: p.data().len(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data_len
    }

    /// Writes the header; the data must already follow it for the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_ident(self.ident);
        p.set_seq(self.seq);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // echo request, id 0x0001, seq 0x0002, data "hi"
    static ECHO: [u8; 10] = [0x08, 0x00, 0x8f, 0x93, 0x00, 0x01, 0x00, 0x02, b'h', b'i'];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), kind::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.ident(), 1);
        assert_eq!(p.seq(), 2);
        assert_eq!(p.data(), b"hi");
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 10];
        b[8..].copy_from_slice(b"hi");
        Repr {
            msg_type: 8,
            code: 0,
            ident: 1,
            seq: 2,
            data_len: 2,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, ECHO);
    }

    #[test]
    fn queries() {
        assert_eq!(query_of(kind::ECHO_REPLY), Some(kind::ECHO_REQUEST));
        assert_eq!(query_of(kind::DEST_UNREACHABLE), None);
    }
}
