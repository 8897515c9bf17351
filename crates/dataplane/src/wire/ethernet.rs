//! Ethernet II frames (no 802.1Q: instances' TAPs and the underlay never tag).

use super::{Error, Field, Result, read_u16, write_u16};
use std::fmt;
use std::str::FromStr;

mod field {
    use super::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// EtherType values the engine knows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
    /// Transparent Ethernet bridging: Geneve's protocol type for an inner Ethernet frame.
    pub const TEB: u16 = 0x6558;
}

/// A MAC address. Serialised as `"02:00:00:00:00:01"` so host programs read well.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Broadcast and multicast share the group bit; the VPC fabric carries neither.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn from_slice(b: &[u8]) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[..6]);
        MacAddr(m)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = Error;
    fn from_str(s: &str) -> Result<MacAddr> {
        let mut m = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut m {
            let p = parts.next().ok_or(Error)?;
            if p.len() != 2 {
                return Err(Error);
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| Error)?;
        }
        if parts.next().is_some() {
            return Err(Error);
        }
        Ok(MacAddr(m))
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<MacAddr, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("invalid MAC address {s:?}")))
    }
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error);
        }
        Ok(Frame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::DST])
    }

    pub fn src(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::SRC])
    }

    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m.0);
    }

    pub fn set_src(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m.0);
    }

    pub fn set_ethertype(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// An Ethernet header as owned values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Result<Repr> {
        Ok(Repr {
            src: f.src(),
            dst: f.dst(),
            ethertype: f.ethertype(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut Frame<T>) {
        f.set_src(self.src);
        f.set_dst(self.dst);
        f.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FRAME: [u8; 18] = [
        0x02, 0, 0, 0, 0, 0x0b, // dst
        0x02, 0, 0, 0, 0, 0x0a, // src
        0x08, 0x00, // IPv4
        0xaa, 0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst(), MacAddr([2, 0, 0, 0, 0, 0x0b]));
        assert_eq!(f.src(), MacAddr([2, 0, 0, 0, 0, 0x0a]));
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 18];
        let repr = Repr {
            src: MacAddr([2, 0, 0, 0, 0, 0x0a]),
            dst: MacAddr([2, 0, 0, 0, 0, 0x0b]),
            ethertype: ethertype::IPV4,
        };
        let mut f = Frame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn too_short() {
        assert_eq!(Frame::new_checked(&FRAME[..13]).unwrap_err(), Error);
    }

    #[test]
    fn mac_text() {
        let m: MacAddr = "02:0a:ff:00:01:9c".parse().unwrap();
        assert_eq!(m.to_string(), "02:0a:ff:00:01:9c");
        assert!("02:0a:ff:00:01".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
    }
}
