//! ICMPv6 (RFC 4443) and the neighbour discovery messages (RFC 4861) the engine reads
//! and writes: router solicitation and advertisement, neighbour solicitation and
//! advertisement, and their options.

use super::{Error, Field, Result, ipv6, read_u16, write_u16};
use std::net::Ipv6Addr;

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const SEQ: Field = 6..8;
    /// NS and NA: the target address.
    pub const TARGET: Field = 8..24;
}

/// Type, code, checksum and the 4-byte body every message has.
pub const HEADER_LEN: usize = 8;
/// NS and NA: header and target.
pub const NEIGHBOR_LEN: usize = 24;
/// RA: header, reachable time and retransmission timer.
pub const ROUTER_ADVERT_LEN: usize = 16;

pub mod kind {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const MLD_QUERY: u8 = 130;
    pub const MLD_REPORT: u8 = 131;
    pub const MLD_DONE: u8 = 132;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
    pub const MLD2_REPORT: u8 = 143;
}

/// NDP option types.
pub mod option {
    pub const SOURCE_LL_ADDR: u8 = 1;
    pub const TARGET_LL_ADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const MTU: u8 = 5;
}

/// The query an echo message belongs to (request and reply share it): what conntrack
/// and the 5-tuple key it by, as ICMP's queries.
pub fn query_of(t: u8) -> Option<u8> {
    match t {
        kind::ECHO_REQUEST | kind::ECHO_REPLY => Some(kind::ECHO_REQUEST),
        _ => None,
    }
}

/// Neighbour discovery (and MLD): messages of the link, which AWS lets through whatever
/// the rules say, and which the engine answers itself or keeps on the link.
pub fn is_link_message(t: u8) -> bool {
    matches!(
        t,
        kind::MLD_QUERY
            | kind::MLD_REPORT
            | kind::MLD_DONE
            | kind::ROUTER_SOLICIT
            | kind::ROUTER_ADVERT
            | kind::NEIGHBOR_SOLICIT
            | kind::NEIGHBOR_ADVERT
            | kind::REDIRECT
            | kind::MLD2_REPORT
    )
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// At least [`HEADER_LEN`] bytes; NS and NA at least [`NEIGHBOR_LEN`], RA at least
    /// [`ROUTER_ADVERT_LEN`], so their accessors never panic.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error);
        }
        let min = match b[field::TYPE] {
            kind::NEIGHBOR_SOLICIT | kind::NEIGHBOR_ADVERT => NEIGHBOR_LEN,
            kind::ROUTER_ADVERT => ROUTER_ADVERT_LEN,
            _ => HEADER_LEN,
        };
        if b.len() < min {
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
    /// Echo: the identifier.
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }
    pub fn seq(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SEQ.start)
    }

    /// NS and NA: the target address (`None` for other messages).
    pub fn target(&self) -> Option<Ipv6Addr> {
        match self.msg_type() {
            kind::NEIGHBOR_SOLICIT | kind::NEIGHBOR_ADVERT => {
                let mut o = [0u8; 16];
                o.copy_from_slice(&self.buffer.as_ref()[field::TARGET]);
                Some(Ipv6Addr::from(o))
            }
            _ => None,
        }
    }

    /// The NDP options: after the target for NS/NA, after the header for RS, after the
    /// timers for RA; empty for other messages.
    pub fn options(&self) -> Options<'_> {
        let b = self.buffer.as_ref();
        let at = match self.msg_type() {
            kind::NEIGHBOR_SOLICIT | kind::NEIGHBOR_ADVERT => NEIGHBOR_LEN,
            kind::ROUTER_ADVERT => ROUTER_ADVERT_LEN,
            kind::ROUTER_SOLICIT => HEADER_LEN,
            _ => b.len(),
        };
        Options {
            rest: b.get(at..).unwrap_or(&[]),
        }
    }

    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        ipv6::l4_checksum(src, dst, super::ip_proto::ICMPV6, self.buffer.as_ref()) == 0
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
    /// Computes and writes the checksum over the whole buffer (the message).
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = ipv6::l4_checksum(src, dst, super::ip_proto::ICMPV6, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// The NDP options of a message, in order. A malformed option (length 0, or past the
/// end) ends the iteration with `Err`: RFC 4861 has such a message discarded.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    /// (type, the option's bytes after type and length)
    type Item = Result<(u8, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let [t, l, ..] = *self.rest else {
            return if self.rest.is_empty() {
                None
            } else {
                self.rest = &[];
                Some(Err(Error))
            };
        };
        let len = usize::from(l) * 8;
        if len == 0 || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(Error));
        }
        let body = &self.rest[2..len];
        self.rest = &self.rest[len..];
        Some(Ok((t, body)))
    }
}

/// The link-layer address a source/target link-layer option carries (6 bytes of
/// Ethernet's), if the options hold a well-formed one of `kind`; `Err` if the options
/// are malformed.
pub fn link_layer_option(options: Options<'_>, kind: u8) -> Result<Option<[u8; 6]>> {
    let mut found = None;
    for o in options {
        let (t, body) = o?;
        if t == kind && found.is_none() {
            found = body.first_chunk::<6>().copied();
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbor_solicitation() {
        // NS for 2001:db8::1 with a source link-layer option
        let mut b = [0u8; 32];
        b[0] = kind::NEIGHBOR_SOLICIT;
        b[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        b[24] = option::SOURCE_LL_ADDR;
        b[25] = 1;
        b[26..32].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        let src: Ipv6Addr = "fe80::9".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(src, dst);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(src, dst));
        assert!(!p.verify_checksum(src, "ff02::1".parse().unwrap()));
        assert_eq!(p.target(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            link_layer_option(p.options(), option::SOURCE_LL_ADDR),
            Ok(Some([2, 0, 0, 0, 0, 9]))
        );
        // truncated before the target
        assert!(Packet::new_checked(&b[..20]).is_err());
    }

    #[test]
    fn malformed_options() {
        let mut b = [0u8; 26];
        b[0] = kind::NEIGHBOR_SOLICIT;
        b[24] = option::SOURCE_LL_ADDR;
        // length 0
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(link_layer_option(p.options(), option::SOURCE_LL_ADDR).is_err());
        // longer than the message
        b[25] = 2;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(link_layer_option(p.options(), option::SOURCE_LL_ADDR).is_err());
        // one odd byte
        let p = Packet::new_checked(&b[..25]).unwrap();
        assert!(link_layer_option(p.options(), option::SOURCE_LL_ADDR).is_err());
        // none at all
        let p = Packet::new_checked(&b[..24]).unwrap();
        assert_eq!(
            link_layer_option(p.options(), option::SOURCE_LL_ADDR),
            Ok(None)
        );
    }

    #[test]
    fn echo_is_a_query() {
        assert_eq!(query_of(kind::ECHO_REPLY), Some(kind::ECHO_REQUEST));
        assert_eq!(query_of(kind::PACKET_TOO_BIG), None);
        assert!(is_link_message(kind::NEIGHBOR_SOLICIT));
        assert!(!is_link_message(kind::ECHO_REQUEST));
    }
}
