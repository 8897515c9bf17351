//! Geneve (RFC 8926), the underlay encapsulation: UDP port 6081, VNI = the VPC's 24-bit
//! number, protocol type 0x6558 (an inner Ethernet frame).
//!
//! This module is Fort's one home of Geneve knowledge: the port ([`UDP_PORT`]), the
//! header, the option walk ([`Options`]) and Fort's own option ([`OffloadOption`]: a
//! frame's virtio-net header, so the receiving host's TAP finishes the checksum or the
//! segmentation the sender's left undone), which the agent, the kernel fast path and
//! the edge all read and write.
//!
//! Contract (the one of [`crate::wire`]): after [`Packet::new_checked`] no accessor
//! panics; [`Options`] and [`OffloadOption::parse`] never panic on any bytes;
//! [`OffloadOption::emit`] never panics on a buffer of at least [`OffloadOption::LEN`]
//! bytes, [`write_header_with_option`] on one of [`HEADER_LEN`] + `LEN`.

use super::{Error, Field, Result, read_u16, read_u32, write_u16, write_u32};

mod field {
    use super::Field;
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Field = 2..4;
    pub const VNI_RSVD: Field = 4..8;
}

pub const HEADER_LEN: usize = 8;
/// Geneve's UDP port (RFC 8926 §3.3, IANA): every Fort host binds its underlay
/// address on it.
pub const UDP_PORT: u16 = 6081;
/// Longest options: 63 words.
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// An option's own header: class (2), type (1), reserved bits and length in words (1).
pub const OPTION_HEADER_LEN: usize = 4;

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
    /// The options, one by one.
    pub fn options_iter(&self) -> Options<'_> {
        Options::new(self.options())
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

/// One Geneve option (RFC 8926 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    pub class: u16,
    /// The type; its high bit is "critical".
    pub kind: u8,
    /// The data, `length × 4` bytes.
    pub data: &'a [u8],
}

/// Iterator over the options of a Geneve header (the bytes after the base header, as
/// long as its option length says). Stops at the first option that overruns them.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    pub fn new(options: &'a [u8]) -> Options<'a> {
        Options { rest: options }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = GeneveOption<'a>;

    fn next(&mut self) -> Option<GeneveOption<'a>> {
        let (h, tail) = self.rest.split_first_chunk::<OPTION_HEADER_LEN>()?;
        let len = usize::from(h[3] & 0x1f) * 4;
        let Some((data, tail)) = tail.split_at_checked(len) else {
            self.rest = &[];
            return None;
        };
        self.rest = tail;
        Some(GeneveOption {
            class: u16::from_be_bytes([h[0], h[1]]),
            kind: h[2],
            data,
        })
    }
}

/// Fort's own option: the virtio-net header of a frame sent with TAP offloads on, so
/// the receiving host writes it in front of the frame into the destination TAP (whose
/// kernel then segments and checksums). Class 0xFFF0 (experimental use), type 1 (not
/// critical: any other Geneve receiver may ignore it), 3 words of data (the 10-byte
/// header, zero-padded). A frame without offload (header all zero) carries no option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffloadOption {
    pub vnet_hdr: [u8; OffloadOption::VNET_HDR_LEN],
}

impl OffloadOption {
    /// The option class (RFC 8926 §3.5; 0xFFF0–0xFFFF are for experimental use).
    pub const CLASS: u16 = 0xfff0;
    /// The option type: the virtio-net header (high bit clear: not critical).
    pub const TYPE: u8 = 0x01;
    /// Data length in 4-byte words (the option's length field).
    pub const WORDS: u8 = 3;
    /// The virtio-net header (`struct virtio_net_hdr`, without `num_buffers`).
    pub const VNET_HDR_LEN: usize = 10;
    /// The whole option: its header (4) and data (12).
    pub const LEN: usize = OPTION_HEADER_LEN + 4 * Self::WORDS as usize;

    /// Fort's option among a Geneve header's options (the bytes after the base header),
    /// if present and long enough.
    pub fn parse(options: &[u8]) -> Option<OffloadOption> {
        Options::new(options)
            .find(|o| {
                o.class == Self::CLASS && o.kind == Self::TYPE && o.data.len() >= Self::VNET_HDR_LEN
            })
            .and_then(|o| o.data.first_chunk::<{ Self::VNET_HDR_LEN }>())
            .map(|&vnet_hdr| OffloadOption { vnet_hdr })
    }

    /// Fort's option in a whole Geneve header (base header and options), if any.
    pub fn from_header(geneve: &[u8]) -> Option<OffloadOption> {
        let p = Packet::new_checked(geneve).ok()?;
        OffloadOption::parse(p.options())
    }

    /// Writes the option (header and padded data) at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let o = &mut buf[..Self::LEN];
        write_u16(o, 0, Self::CLASS);
        o[2] = Self::TYPE;
        o[3] = Self::WORDS;
        o[OPTION_HEADER_LEN..OPTION_HEADER_LEN + Self::VNET_HDR_LEN]
            .copy_from_slice(&self.vnet_hdr);
        o[OPTION_HEADER_LEN + Self::VNET_HDR_LEN..].fill(0);
    }
}

/// Writes into `buf[..HEADER_LEN + OffloadOption::LEN]` the Geneve base header `geneve`
/// (8 bytes, without options: its version, flags, protocol and VNI are kept) followed
/// by `option`, the option length set to match.
pub fn write_header_with_option(buf: &mut [u8], geneve: [u8; HEADER_LEN], option: &OffloadOption) {
    // the option's header word and its data words: 4, within the 6-bit field
    let words = 1 + OffloadOption::WORDS;
    buf[field::VER_OPTLEN] = (geneve[field::VER_OPTLEN] & 0xc0) | words;
    buf[1..HEADER_LEN].copy_from_slice(&geneve[1..]);
    option.emit(&mut buf[HEADER_LEN..]);
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

    // the outer Geneve header the agent and the fast path send with the option: one
    // option of 3 words, VNI 0x0a0b0c, a virtio-net header "checksum needed at 34+16"
    static WITH_OPTION: [u8; 24] = [
        0x04, 0x00, 0x65, 0x58, 0x0a, 0x0b, 0x0c, 0x00, // 4 words of options
        0xff, 0xf0, 0x01, 0x03, // class 0xfff0, type 1, 3 words
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x00, 0x10, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn offload_option_round_trip() {
        let o = OffloadOption {
            vnet_hdr: [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x00, 0x10, 0x00],
        };
        let mut b = [0u8; 24];
        write_header_with_option(&mut b, [0x00, 0x00, 0x65, 0x58, 0x0a, 0x0b, 0x0c, 0x00], &o);
        assert_eq!(b, WITH_OPTION);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.options_len(), p.vni()), (16, 0x0a0b0c));
        assert_eq!(OffloadOption::from_header(&b), Some(o));
        assert_eq!(OffloadOption::LEN, 16);
        // without options: none
        assert_eq!(OffloadOption::from_header(&b[..8]), None);
    }

    #[test]
    fn foreign_options_are_skipped() {
        let mut b = vec![0x07, 0, 0x65, 0x58, 0, 0, 1, 0];
        // someone else's option (class 0x0102, 2 words), then ours
        b.extend_from_slice(&[0x01, 0x02, 0x03, 0x02, 9, 9, 9, 9, 9, 9, 9, 9]);
        b.extend_from_slice(&WITH_OPTION[8..]);
        let p = Packet::new_checked(&b[..]).unwrap();
        let classes: Vec<u16> = p.options_iter().map(|o| o.class).collect();
        assert_eq!(classes, vec![0x0102, 0xfff0]);
        assert_eq!(
            OffloadOption::parse(p.options()).map(|o| o.vnet_hdr[6]),
            Some(0x22)
        );
        // ours, too short to hold a header; truncated options: none, no panic
        assert_eq!(
            OffloadOption::parse(&[0xff, 0xf0, 0x01, 0x02, 1, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(OffloadOption::parse(&WITH_OPTION[8..20]), None);
        assert_eq!(
            OffloadOption::from_header(&[0x3f, 0, 0x65, 0x58, 0, 0, 1, 0]),
            None
        );
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
