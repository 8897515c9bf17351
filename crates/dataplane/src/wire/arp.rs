//! ARP for Ethernet/IPv4 (RFC 826), the only kind a VPC carries.
//!
//! The fabric answers every request itself (the agent's ARP proxy), so only requests
//! are read and only replies are written.

use super::ethernet::{MacAddr, ethertype};
use super::{Error, Field, Result, read_u16, write_u16};
use std::net::Ipv4Addr;

mod field {
    use super::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

pub const PACKET_LEN: usize = 28;

pub mod operation {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Accepts only hardware type 1 (Ethernet), protocol IPv4, lengths 6 and 4.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet { buffer };
        let b = p.buffer.as_ref();
        if b.len() < PACKET_LEN
            || read_u16(b, field::HTYPE.start) != 1
            || read_u16(b, field::PTYPE.start) != ethertype::IPV4
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(Error);
        }
        Ok(p)
    }

    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPER.start)
    }

    pub fn sender_mac(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::SHA])
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA)
    }

    pub fn target_mac(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA)
    }
}

fn ip_at(b: &[u8], f: Field) -> Ipv4Addr {
    let o = &b[f];
    Ipv4Addr::new(o[0], o[1], o[2], o[3])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn write_fixed(&mut self, oper: u16) {
        let b = self.buffer.as_mut();
        write_u16(b, field::HTYPE.start, 1);
        write_u16(b, field::PTYPE.start, ethertype::IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        write_u16(b, field::OPER.start, oper);
    }

    pub fn set_sender(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        b[field::SHA].copy_from_slice(&mac.0);
        b[field::SPA].copy_from_slice(&ip.octets());
    }

    pub fn set_target(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        b[field::THA].copy_from_slice(&mac.0);
        b[field::TPA].copy_from_slice(&ip.octets());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr {
            operation: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.write_fixed(self.operation);
        p.set_sender(self.sender_mac, self.sender_ip);
        p.set_target(self.target_mac, self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // eth/ipv4, request
        0x02, 0, 0, 0, 0, 0x0a, 10, 0, 1, 10, // sender
        0, 0, 0, 0, 0, 0, 10, 0, 1, 1, // target
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.operation(), operation::REQUEST);
        assert_eq!(p.sender_mac(), MacAddr([2, 0, 0, 0, 0, 0x0a]));
        assert_eq!(p.sender_ip(), Ipv4Addr::new(10, 0, 1, 10));
        assert_eq!(p.target_ip(), Ipv4Addr::new(10, 0, 1, 1));
    }

    #[test]
    fn round_trip() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        let mut buf = [0u8; 28];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn rejects_other_hardware() {
        let mut b = REQUEST;
        b[1] = 6;
        assert!(Packet::new_checked(&b[..]).is_err());
    }
}
