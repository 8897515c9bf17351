//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Rewrites in the engine (NAT at the edge, outer headers from a template) patch a few
//! 16-bit words; [`update`] adjusts the checksum for each without summing the packet again.

use std::net::Ipv4Addr;

/// One's-complement sum of `data` as big-endian 16-bit words, folded to 16 bits (so
/// that a few sums add up in a `u32` whatever the lengths), not complemented.
pub fn sum(data: &[u8]) -> u32 {
    // a u64 cannot overflow: 2^48 words would be needed
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    u32::try_from(acc).unwrap_or(0xffff)
}

/// Folds a 32-bit sum into 16 bits.
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // the loop leaves at most 0xffff
    u16::try_from(acc).unwrap_or(0xffff)
}

/// The checksum of `data` (the complement of the folded sum).
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Sum of the IPv4 pseudo-header used by TCP and UDP.
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    sum(&src.octets()) + sum(&dst.octets()) + u32::from(protocol) + u32::from(length)
}

/// Checksum of an L4 segment with its IPv4 pseudo-header; the segment's own checksum
/// field must be zero (or the result verifies as 0 when it holds the right value).
pub fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    // an IPv4 segment is shorter than 65,536 bytes; for a longer one (no valid packet)
    // the length is summed whole, as the one's complement allows
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    let pseudo = sum(&src.octets()) + sum(&dst.octets()) + u32::from(protocol);
    !fold(pseudo + u32::from(fold(len)) + sum(segment))
}

/// RFC 1624 eq. 3: the new checksum after one 16-bit word changed from `old` to `new`.
#[inline]
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    !fold(acc)
}

/// [`update`] for a 32-bit field (an IPv4 address), as two words.
#[inline]
pub fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let [o0, o1, o2, o3] = old.to_be_bytes();
    let [n0, n1, n2, n3] = new.to_be_bytes();
    let c = update(
        checksum,
        u16::from_be_bytes([o0, o1]),
        u16::from_be_bytes([n0, n1]),
    );
    update(
        c,
        u16::from_be_bytes([o2, o3]),
        u16::from_be_bytes([n2, n3]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example bytes: sum is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
    }

    #[test]
    fn long_data_never_overflows() {
        // 0xffff words: the sum of 150,000 of them once overflowed a u32 accumulator
        let data = vec![0xffu8; 300_000];
        assert_eq!(fold(sum(&data)), 0xffff);
        assert_eq!(checksum(&data), 0);
        let long = l4_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6, &data);
        assert_eq!(
            long,
            l4_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 6, &data)
        );
        // and the split sums agree with one over the whole
        let (a, b) = data.split_at(1000);
        assert_eq!(fold(sum(a) + sum(b)), fold(sum(&data)));
    }

    #[test]
    fn incremental_matches_full() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 0, 1, 10,
            10, 0, 2, 20,
        ];
        let c = checksum(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        // change the destination address
        let old = u32::from_be_bytes([10, 0, 2, 20]);
        let new = u32::from_be_bytes([192, 0, 2, 7]);
        hdr[16..20].copy_from_slice(&new.to_be_bytes());
        let inc = update32(c, old, new);
        hdr[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(inc, checksum(&hdr));
    }
}
