//! Offload metadata across the underlay.
//!
//! With TAP offloads on, the instance's kernel hands the agent TCP super-frames of up to
//! ~60 KiB with a partial checksum, described by a virtio-net header. Between Fort agents
//! that header travels in a Geneve option (class 0xFFF0, experimental use; type 1, not
//! critical, so any other Geneve receiver may ignore it), and the receiving agent writes
//! it in front of the frame into the destination TAP, whose kernel segments and
//! checksums. Frames without offload (header all zero) carry no option.
//!
//! The option's 12 data bytes: the virtio-net header (10, `struct virtio_net_hdr`
//! without `num_buffers`), Fort's flags (1), one reserved zero byte. The agent writes
//! flags 0 (the frame's bytes, read from a TAP, are all there is: whatever the header
//! says is still to be done, only the receiver's TAP does). The kernel fast path's
//! conduit program sets flag 0x01 (`fort_fastpath::layout::OPTION_FLAG_KERNEL`): it
//! encapsulated the frame in the kernel, whose state (a partial checksum, GSO) travels
//! with the skb or is finished before the frame leaves the machine. A receiving fast path
//! delivers only frames with no option or with that flag; the rest go to the agent, which
//! writes the header into the TAP. Receivers that do not know a flag ignore it.

use fort_dataplane::wire::geneve::{self, OffloadOption};

use crate::sys::VNET_HDR_LEN;

/// Fort's Geneve option (the engine's wire module is its one definition).
pub const OPTION_LEN: usize = OffloadOption::LEN;
/// The Geneve base header.
pub const GENEVE_LEN: usize = geneve::HEADER_LEN;
const _: () = assert!(OffloadOption::VNET_HDR_LEN == VNET_HDR_LEN);

/// Is this virtio-net header worth carrying (checksum needed or segmentation)?
#[inline]
pub fn carries_offload(hdr: &[u8]) -> bool {
    hdr[..2] != [0, 0]
}

/// Writes into `buf[..GENEVE_LEN + OPTION_LEN]` the Geneve header `geneve` (8 bytes, no
/// options) with Fort's option holding `hdr` (a TAP's virtio-net header), flags 0.
pub fn write_header_with_option(buf: &mut [u8], geneve: [u8; GENEVE_LEN], hdr: &[u8]) {
    let mut vnet_hdr = [0u8; VNET_HDR_LEN];
    vnet_hdr.copy_from_slice(&hdr[..VNET_HDR_LEN]);
    geneve::write_header_with_option(buf, geneve, &OffloadOption { vnet_hdr });
}

/// The virtio-net header carried in a Geneve packet's options, if any.
pub fn read_option(geneve: &[u8]) -> Option<[u8; VNET_HDR_LEN]> {
    OffloadOption::from_header(geneve).map(|o| o.vnet_hdr)
}

// <linux/virtio_net.h>
const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_ECN: u8 = 0x80;

/// The offload header a peer sent with `frame` (an Ethernet frame the engine accepted
/// for a local port), checked against the frame before the TAP's kernel trusts it: only
/// "checksum needed", at the TCP or UDP checksum of this very IPv4 packet (or IPv6
/// packet whose next header is TCP or UDP, no extension headers), and TCP segmentation
/// of a TCP packet of the same IP version. The kernel verifies nothing behind a "checksum needed"
/// or "data valid" mark, so anything else is refused (`None`: drop the frame). A zero
/// header needs no check: the instance's kernel verifies the checksums itself.
pub fn sanitize(hdr: [u8; VNET_HDR_LEN], frame: &[u8]) -> Option<[u8; VNET_HDR_LEN]> {
    if hdr == [0; VNET_HDR_LEN] {
        return Some(hdr);
    }
    let flags = hdr[0];
    let gso = hdr[1];
    let gso_size = u16::from_le_bytes([hdr[4], hdr[5]]);
    let csum_start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
    let csum_offset = usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
    if flags != F_NEEDS_CSUM || frame.len() < 14 + 20 {
        return None;
    }
    let (l4, protocol, gso_tcp) = match frame[12..14] {
        [0x08, 0x00] => (
            14 + usize::from(frame[14] & 0x0f) * 4,
            frame[14 + 9],
            GSO_TCPV4,
        ),
        [0x86, 0xdd] => (14 + 40, frame[14 + 6], GSO_TCPV6),
        _ => return None,
    };
    let field = match protocol {
        6 => 16,
        17 => 6,
        _ => return None,
    };
    if csum_start != l4 || csum_offset != field || frame.len() < l4 + field + 2 {
        return None;
    }
    match gso & !GSO_ECN {
        GSO_NONE if gso & GSO_ECN == 0 => Some(hdr),
        g if g == gso_tcp && protocol == 6 && gso_size > 0 => Some(hdr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 (IHL 5) + `l4_len` bytes of `protocol`.
    fn frame(protocol: u8, l4_len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 34 + l4_len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[23] = protocol;
        f
    }

    fn hdr(flags: u8, gso: u8, gso_size: u16, start: u16, offset: u16) -> [u8; VNET_HDR_LEN] {
        let mut h = [0u8; VNET_HDR_LEN];
        h[0] = flags;
        h[1] = gso;
        h[2..4].copy_from_slice(&54u16.to_le_bytes());
        h[4..6].copy_from_slice(&gso_size.to_le_bytes());
        h[6..8].copy_from_slice(&start.to_le_bytes());
        h[8..10].copy_from_slice(&offset.to_le_bytes());
        h
    }

    #[test]
    fn what_a_tap_hands_up_passes() {
        let tcp = frame(6, 1000);
        let tso = hdr(1, 1, 1448, 34, 16);
        assert_eq!(sanitize(tso, &tcp), Some(tso));
        let ecn = hdr(1, 0x81, 1448, 34, 16);
        assert_eq!(sanitize(ecn, &tcp), Some(ecn));
        let csum = hdr(1, 0, 0, 34, 16);
        assert_eq!(sanitize(csum, &tcp), Some(csum));
        let udp = hdr(1, 0, 0, 34, 6);
        assert_eq!(sanitize(udp, &frame(17, 20)), Some(udp));
        assert_eq!(sanitize([0; VNET_HDR_LEN], &[]), Some([0; VNET_HDR_LEN]));
    }

    /// Ethernet + IPv6 (`next` header) + `l4_len` bytes.
    fn frame6(next: u8, l4_len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 54 + l4_len];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[20] = next;
        f
    }

    #[test]
    fn ipv6_as_a_tap_hands_it_up_passes_and_nothing_else() {
        let tcp = frame6(6, 1000);
        for h in [
            hdr(1, 4, 1428, 54, 16),
            hdr(1, 0x84, 1428, 54, 16),
            hdr(1, 0, 0, 54, 16),
        ] {
            assert_eq!(sanitize(h, &tcp), Some(h));
        }
        let udp = hdr(1, 0, 0, 54, 6);
        assert_eq!(sanitize(udp, &frame6(17, 20)), Some(udp));
        // IPv4's segmentation of an IPv6 packet, IPv6's of an IPv4 one
        assert_eq!(sanitize(hdr(1, 1, 1428, 54, 16), &tcp), None);
        assert_eq!(sanitize(hdr(1, 4, 1448, 34, 16), &frame(6, 1000)), None);
        // the checksum elsewhere than after the fixed header (an extension header
        // first), UDP segmentation, ICMPv6, truncated
        assert_eq!(sanitize(hdr(1, 0, 0, 62, 16), &frame6(0, 1000)), None);
        assert_eq!(sanitize(hdr(1, 0, 0, 54, 16), &frame6(0, 1000)), None);
        assert_eq!(sanitize(hdr(1, 4, 1428, 54, 6), &frame6(17, 100)), None);
        assert_eq!(sanitize(hdr(1, 0, 0, 54, 2), &frame6(58, 8)), None);
        assert_eq!(sanitize(hdr(1, 0, 0, 54, 16), &frame6(6, 10)), None);
        // another ethertype
        let mut arp = tcp.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(sanitize(hdr(1, 0, 0, 54, 16), &arp), None);
    }

    #[test]
    fn anything_else_is_refused() {
        let tcp = frame(6, 1000);
        // "data valid" would make the kernel skip verification
        assert_eq!(sanitize(hdr(2, 0, 0, 0, 0), &tcp), None);
        assert_eq!(sanitize(hdr(3, 0, 0, 34, 16), &tcp), None);
        // checksum somewhere else than the L4 checksum field
        assert_eq!(sanitize(hdr(1, 0, 0, 14, 10), &tcp), None);
        assert_eq!(sanitize(hdr(1, 0, 0, 34, 6), &tcp), None);
        // segmentation without checksum, of UDP, of IPv6, or of size 0
        assert_eq!(sanitize(hdr(0, 1, 1448, 34, 16), &tcp), None);
        assert_eq!(sanitize(hdr(1, 1, 1448, 34, 6), &frame(17, 100)), None);
        assert_eq!(sanitize(hdr(1, 4, 1448, 34, 16), &tcp), None);
        assert_eq!(sanitize(hdr(1, 1, 0, 34, 16), &tcp), None);
        // ICMP, truncated frames
        assert_eq!(sanitize(hdr(1, 0, 0, 34, 2), &frame(1, 8)), None);
        assert_eq!(sanitize(hdr(1, 0, 0, 34, 16), &frame(6, 10)), None);
        assert_eq!(sanitize(hdr(1, 0, 0, 34, 16), &tcp[..20]), None);
    }

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
    fn the_agents_option_has_no_flags() {
        // what a receiving fast path reads to leave the frame to its agent
        let geneve = [0x00, 0x00, 0x65, 0x58, 0x0a, 0x0b, 0x0c, 0x00];
        let mut buf = vec![0xffu8; GENEVE_LEN + OPTION_LEN];
        write_header_with_option(&mut buf, geneve, &[1, 1, 0, 54, 0x22, 0x38, 0, 34, 0, 16]);
        let data = &buf[GENEVE_LEN + 4..];
        assert_eq!(&data[VNET_HDR_LEN..], &[0, 0], "flags, reserved");
        // and a flagged option reads as the same header
        buf[GENEVE_LEN + 4 + VNET_HDR_LEN] = 0x01;
        assert_eq!(
            read_option(&buf),
            Some([1, 1, 0, 54, 0x22, 0x38, 0, 34, 0, 16])
        );
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
