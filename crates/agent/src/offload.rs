//! Offload metadata across the underlay.
//!
//! With TAP offloads on, the instance's kernel hands the agent TCP super-frames of up to
//! ~60 KiB with a partial checksum, described by a virtio-net header. Between Fort agents
//! that header travels in a Geneve option (class 0xFFF0, experimental use; type 1, not
//! critical, so any other Geneve receiver may ignore it), and the receiving agent writes
//! it in front of the frame into the destination TAP, whose kernel segments and
//! checksums. Frames without offload (header all zero) carry no option.

use crate::sys::VNET_HDR_LEN;

/// The Geneve option class (RFC 8926 §3.5; 0xFFF0–0xFFFF are for experimental use).
pub const OPTION_CLASS: u16 = 0xfff0;
/// The option type: the virtio-net header (high bit clear: not critical).
pub const OPTION_TYPE: u8 = 0x01;
/// The option's data: the 10-byte header padded to 3 words.
const OPTION_WORDS: u8 = 3;
/// Option header (4) + data (12).
pub const OPTION_LEN: usize = 4 + 4 * OPTION_WORDS as usize;
/// The Geneve base header.
pub const GENEVE_LEN: usize = 8;

/// Is this virtio-net header worth carrying (checksum needed or segmentation)?
#[inline]
pub fn carries_offload(hdr: &[u8]) -> bool {
    hdr[..2] != [0, 0]
}

/// Writes into `buf[at..at + GENEVE_LEN + OPTION_LEN]` the Geneve header `geneve`
/// (8 bytes, no options) with one option holding `hdr`.
pub fn write_header_with_option(buf: &mut [u8], geneve: [u8; GENEVE_LEN], hdr: &[u8]) {
    let words = (OPTION_LEN / 4) as u8;
    buf[0] = (geneve[0] & 0xc0) | words;
    buf[1..GENEVE_LEN].copy_from_slice(&geneve[1..]);
    let o = &mut buf[GENEVE_LEN..GENEVE_LEN + OPTION_LEN];
    o[0..2].copy_from_slice(&OPTION_CLASS.to_be_bytes());
    o[2] = OPTION_TYPE;
    o[3] = OPTION_WORDS;
    o[4..4 + VNET_HDR_LEN].copy_from_slice(&hdr[..VNET_HDR_LEN]);
    o[4 + VNET_HDR_LEN..].fill(0);
}

/// The virtio-net header carried in a Geneve packet's options, if any.
pub fn read_option(geneve: &[u8]) -> Option<[u8; VNET_HDR_LEN]> {
    if geneve.len() < GENEVE_LEN {
        return None;
    }
    let opt_len = usize::from(geneve[0] & 0x3f) * 4;
    let mut opts = geneve.get(GENEVE_LEN..GENEVE_LEN + opt_len)?;
    while opts.len() >= 4 {
        let class = u16::from_be_bytes([opts[0], opts[1]]);
        let kind = opts[2];
        let len = usize::from(opts[3] & 0x1f) * 4;
        let data = opts.get(4..4 + len)?;
        if class == OPTION_CLASS && kind == OPTION_TYPE && len >= VNET_HDR_LEN {
            let mut h = [0u8; VNET_HDR_LEN];
            h.copy_from_slice(&data[..VNET_HDR_LEN]);
            return Some(h);
        }
        opts = &opts[4 + len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_round_trip() {
        let geneve = [0x00, 0x00, 0x65, 0x58, 0x0a, 0x0b, 0x0c, 0x00];
        let hdr = [1u8, 1, 0, 54, 0x22, 0x38, 0, 34, 0, 16];
        let mut buf = vec![0u8; GENEVE_LEN + OPTION_LEN + 4];
        write_header_with_option(&mut buf, geneve, &hdr);
        assert_eq!(buf[0], 4, "four words of options");
        assert_eq!(&buf[2..8], &geneve[2..]);
        assert_eq!(read_option(&buf), Some(hdr));
        assert_eq!(read_option(&geneve), None);
    }

    #[test]
    fn foreign_options_are_skipped() {
        let mut buf = vec![0x03, 0, 0x65, 0x58, 0, 0, 1, 0];
        buf.extend_from_slice(&[0x01, 0x02, 0x03, 0x02, 9, 9, 9, 9, 9, 9, 9, 9]);
        assert_eq!(read_option(&buf), None);
        // truncated options never panic
        assert_eq!(read_option(&[0x3f, 0, 0x65, 0x58, 0, 0, 1, 0]), None);
    }

    #[test]
    fn plain_headers_carry_nothing() {
        assert!(!carries_offload(&[0; VNET_HDR_LEN]));
        assert!(carries_offload(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    }
}
