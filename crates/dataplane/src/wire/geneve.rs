//! Geneve (RFC 8926), the underlay encapsulation: UDP port 6081, VNI = the VPC's 24-bit
//! number, protocol type 0x6558 (an inner Ethernet frame).

use super::{Error, Field, Result, read_u16, read_u32, write_u16, write_u32};

mod field {
    use super::Field;
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Field = 2..4;
    pub const VNI_RSVD: Field = 4..8;
}

pub const HEADER_LEN: usize = 8;
pub const UDP_PORT: u16 = 6081;

#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Version must be 0 (RFC 8926 §3.4: other versions are dropped) and the options
    /// must fit the buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error);
        }
        let p = Packet { buffer };
        if p.version() != 0 || p.header_len() > p.buffer.as_ref().len() {
            return Err(Error);
        }
        Ok(p)
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }
    /// Length of the options in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f) * 4
    }
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x80 != 0
    }
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x40 != 0
    }
    pub fn protocol(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PROTOCOL.start)
    }
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VNI_RSVD.start) >> 8
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes a header with no options.
    pub fn set_header(&mut self, oam: bool, critical: bool, protocol: u16, vni: u32) {
        let b = self.buffer.as_mut();
        b[field::VER_OPTLEN] = 0;
        b[field::FLAGS] = (u8::from(oam) << 7) | (u8::from(critical) << 6);
        write_u16(b, field::PROTOCOL.start, protocol);
        write_u32(b, field::VNI_RSVD.start, (vni & 0x00ff_ffff) << 8);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub vni: u32,
    pub protocol: u16,
    pub oam: bool,
    pub critical: bool,
}

impl Repr {
    /// A header with critical options is refused: the engine understands no option
    /// (RFC 8926 §3.5.1 says such packets must be dropped).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        if p.critical() {
            return Err(Error);
        }
        Ok(Repr {
            vni: p.vni(),
            protocol: p.protocol(),
            oam: p.oam(),
            critical: false,
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_header(self.oam, self.critical, self.protocol, self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER: [u8; 12] = [
        0x01, 0x00, 0x65, 0x58, 0x00, 0x10, 0x01, 0x00, // 1 word of options, VNI 4097
        0xaa, 0xbb, 0xcc, 0xdd, // an option word
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&HEADER[..]).unwrap();
        assert_eq!(p.version(), 0);
        assert_eq!(p.options_len(), 4);
        assert_eq!(p.protocol(), 0x6558);
        assert_eq!(p.vni(), 4097);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 8];
        Repr {
            vni: 4097,
            protocol: 0x6558,
            oam: false,
            critical: false,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, [0x00, 0x00, 0x65, 0x58, 0x00, 0x10, 0x01, 0x00]);
    }

    #[test]
    fn checks() {
        assert!(Packet::new_checked(&HEADER[..11]).is_err());
        let mut v1 = HEADER;
        v1[0] |= 0x40;
        assert!(Packet::new_checked(&v1[..]).is_err());
        let mut crit = HEADER;
        crit[1] = 0x40;
        assert!(Repr::parse(&Packet::new_checked(&crit[..]).unwrap()).is_err());
    }
}
