//! Frames that arrive with offload metadata (a virtio-net header): finished in software.
//!
//! Instance hosts with TCP segmentation offload send the edge TCP super-frames of up to
//! ~64 KiB with a partial checksum (the header travels in a Geneve option, see
//! `fort_agent::offload`); the internet namespace's link, with checksum offload on, hands
//! up frames whose checksum is partial. The edge translates addresses with incremental
//! checksum updates and enforces the 1,500-byte internet MTU, so it first turns such a
//! frame into ordinary frames: cut at the segment size, every checksum complete.

use fort_dataplane::wire::checksum;

const NEEDS_CSUM: u8 = 0x01;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_ECN: u8 = 0x80;
const ETH: usize = 14;

/// The virtio-net header's fields that matter here (little-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHeader {
    pub flags: u8,
    pub gso_type: u8,
    pub gso_size: u16,
}

impl VnetHeader {
    pub fn parse(b: &[u8]) -> VnetHeader {
        if b.len() < 10 {
            return VnetHeader::default();
        }
        VnetHeader {
            flags: b[0],
            gso_type: b[1],
            gso_size: u16::from_le_bytes([b[4], b[5]]),
        }
    }

    /// Nothing to finish: the frame is ordinary.
    pub fn is_plain(&self) -> bool {
        self.flags & NEEDS_CSUM == 0 && self.gso_type & !GSO_ECN == 0
    }
}

/// Recomputes the IPv4 header checksum and the TCP/UDP checksum of the IPv4 packet in
/// `frame[ETH..]` (an Ethernet frame), or the TCP/UDP checksum of its IPv6 packet.
/// Returns false if it is neither.
pub fn complete_checksums(frame: &mut [u8]) -> bool {
    if frame.len() < ETH + 20 {
        return false;
    }
    match [frame[12], frame[13]] {
        [0x08, 0x00] => complete_ip_checksums(&mut frame[ETH..]),
        [0x86, 0xdd] => complete_ip6_checksums(&mut frame[ETH..]),
        _ => false,
    }
}

/// The TCP/UDP checksum of a bare IPv6 packet (after its extension headers).
pub fn complete_ip6_checksums(ip: &mut [u8]) -> bool {
    use fort_dataplane::wire::ipv6;
    let Ok(p) = ipv6::Packet::new_checked(&ip[..]) else {
        return false;
    };
    let Ok((proto, at)) = p.upper_layer() else {
        return false;
    };
    let (src, dst) = (p.src(), p.dst());
    let total = usize::from(p.total_len());
    let Some(l4) = ip.get_mut(ipv6::HEADER_LEN + at..total) else {
        return false;
    };
    fill_l4_checksum(proto, l4, |l4| ipv6::l4_checksum(src, dst, proto, l4));
    true
}

/// [`complete_checksums`] on a bare IPv4 packet.
pub fn complete_ip_checksums(ip: &mut [u8]) -> bool {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || total < ihl || total > ip.len() {
        return false;
    }
    ip[10] = 0;
    ip[11] = 0;
    let c = checksum::checksum(&ip[..ihl]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    if fragment {
        return true;
    }
    let src = std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let proto = ip[9];
    let l4 = &mut ip[ihl..total];
    fill_l4_checksum(proto, l4, |l4| checksum::l4_checksum(src, dst, proto, l4));
    true
}

/// Writes a TCP or UDP segment's checksum, computed by `sum` over the segment with its
/// checksum field zeroed (a UDP sum of 0 is sent as 0xffff); other protocols are left.
fn fill_l4_checksum(proto: u8, l4: &mut [u8], sum: impl Fn(&[u8]) -> u16) {
    let at = match proto {
        6 if l4.len() >= 20 => 16,
        17 if l4.len() >= 8 => 6,
        _ => return,
    };
    l4[at] = 0;
    l4[at + 1] = 0;
    let mut c = sum(l4);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Turns `frame` (Ethernet, IPv4 or IPv6) described by `hdr` into ordinary frames, each passed
/// to `each`: TCP super-frames are cut into segments of `gso_size` bytes of payload,
/// and every checksum is computed. Frames it cannot make sense of are passed as they are.
pub fn finish(hdr: VnetHeader, frame: &mut [u8], mut each: impl FnMut(&mut [u8])) {
    if hdr.is_plain() {
        each(frame);
        return;
    }
    let gso = hdr.gso_type & !GSO_ECN;
    if !(gso == GSO_TCPV4 || gso == GSO_TCPV6) || hdr.gso_size == 0 {
        complete_checksums(frame);
        each(frame);
        return;
    }
    let Some((ihl, thl, total)) = tcp_layout(frame).or_else(|| tcp_layout6(frame)) else {
        each(frame);
        return;
    };
    let v6 = frame[ETH] >> 4 == 6;
    let headers = ETH + ihl + thl;
    let payload = total - ihl - thl;
    let mss = hdr.gso_size;
    if payload <= usize::from(mss) {
        complete_checksums(frame);
        each(frame);
        return;
    }
    // every segment's IPv4 length (headers and up to `mss` bytes) must fit its 16-bit
    // field; with a larger `gso_size` the frame makes no sense
    let Some(ip_hl) = u16::try_from(ihl + thl)
        .ok()
        .filter(|hl| hl.checked_add(mss).is_some())
    else {
        each(frame);
        return;
    };
    let seq0 = u32::from_be_bytes(frame[ETH + ihl + 4..ETH + ihl + 8].try_into().expect("4"));
    let id0 = u16::from_be_bytes([frame[ETH + 4], frame[ETH + 5]]);
    let flags = frame[ETH + ihl + 13];
    let mut seg = Vec::with_capacity(headers + usize::from(mss));
    let mut off = 0;
    let mut seq = seq0;
    let mut i: u16 = 0;
    while off < payload {
        let n = u16::try_from(payload - off).map_or(mss, |left| left.min(mss));
        let end = off + usize::from(n);
        seg.clear();
        seg.extend_from_slice(&frame[..headers]);
        seg.extend_from_slice(&frame[headers + off..headers + end]);
        let ip_len = ip_hl + n; // checked above: ip_hl + mss fits
        if v6 {
            // IPv6's length counts the payload (extension headers included), no id
            let payload_len = ip_len - 40;
            seg[ETH + 4..ETH + 6].copy_from_slice(&payload_len.to_be_bytes());
        } else {
            seg[ETH + 2..ETH + 4].copy_from_slice(&ip_len.to_be_bytes());
            seg[ETH + 4..ETH + 6].copy_from_slice(&id0.wrapping_add(i).to_be_bytes());
        }
        let t = ETH + ihl;
        seg[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        let last = end == payload;
        let mut f = flags;
        if !last {
            f &= !(0x01 | 0x08); // FIN, PSH only on the last
        }
        if off != 0 {
            f &= !0x80; // CWR only on the first
        }
        seg[t + 13] = f;
        complete_checksums(&mut seg);
        each(&mut seg);
        off = end;
        seq = seq.wrapping_add(u32::from(n));
        i = i.wrapping_add(1);
    }
}

/// (IPv6 header length with its extension headers, TCP header length, IPv6 total
/// length) of a TCP/IPv6 frame.
fn tcp_layout6(frame: &[u8]) -> Option<(usize, usize, usize)> {
    use fort_dataplane::wire::ipv6;
    if frame.len() < ETH + 60 || frame[12..14] != [0x86, 0xdd] {
        return None;
    }
    let p = ipv6::Packet::new_checked(&frame[ETH..]).ok()?;
    let (proto, at) = p.upper_layer().ok()?;
    let ihl = ipv6::HEADER_LEN + at;
    if proto != 6 || frame.len() < ETH + ihl + 20 {
        return None;
    }
    let thl = usize::from(frame[ETH + ihl + 12] >> 4) * 4;
    let total = usize::from(p.total_len());
    if thl < 20 || total < ihl + thl {
        return None;
    }
    Some((ihl, thl, total))
}

/// (IPv4 header length, TCP header length, IPv4 total length) of a TCP/IPv4 frame.
fn tcp_layout(frame: &[u8]) -> Option<(usize, usize, usize)> {
    if frame.len() < ETH + 40 || frame[12..14] != [0x08, 0x00] || frame[ETH] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(frame[ETH] & 0x0f) * 4;
    if frame[ETH + 9] != 6 || ihl < 20 || frame.len() < ETH + ihl + 20 {
        return None;
    }
    let thl = usize::from(frame[ETH + ihl + 12] >> 4) * 4;
    // a TSO burst may be longer than 65,535 bytes of IPv4 (the length field is then 0)
    let total = match usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]])) {
        0 => frame.len() - ETH,
        t => t.min(frame.len() - ETH),
    };
    if thl < 20 || total < ihl + thl {
        return None;
    }
    Some((ihl, thl, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_frame(payload: usize, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; ETH + 20 + 20 + payload];
        f[12] = 0x08;
        f[ETH] = 0x45;
        let total = u16::try_from(40 + payload).unwrap();
        f[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
        f[ETH + 4..ETH + 6].copy_from_slice(&7u16.to_be_bytes());
        f[ETH + 6] = 0x40;
        f[ETH + 8] = 64;
        f[ETH + 9] = 6;
        f[ETH + 12..ETH + 16].copy_from_slice(&[10, 0, 1, 5]);
        f[ETH + 16..ETH + 20].copy_from_slice(&[203, 0, 113, 1]);
        let t = ETH + 20;
        f[t..t + 2].copy_from_slice(&40000u16.to_be_bytes());
        f[t + 2..t + 4].copy_from_slice(&80u16.to_be_bytes());
        f[t + 4..t + 8].copy_from_slice(&1000u32.to_be_bytes());
        f[t + 12] = 5 << 4;
        f[t + 13] = flags;
        for (i, b) in f[t + 20..].iter_mut().enumerate() {
            *b = u8::try_from(i % 256).unwrap();
        }
        f
    }

    fn valid(seg: &[u8]) -> bool {
        let ip = &seg[ETH..];
        let src = std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        checksum::checksum(&ip[..20]) == 0 && checksum::l4_checksum(src, dst, 6, &ip[20..]) == 0
    }

    #[test]
    fn a_super_frame_is_cut_into_valid_segments() {
        let mut f = tcp_frame(3000, 0x18); // PSH|ACK
        let hdr = VnetHeader {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            gso_size: 1448,
        };
        let mut segs = Vec::new();
        finish(hdr, &mut f, |s| segs.push(s.to_vec()));
        assert_eq!(segs.len(), 3);
        let lens: Vec<usize> = segs.iter().map(|s| s.len() - ETH - 40).collect();
        assert_eq!(lens, [1448, 1448, 104]);
        for (i, s) in segs.iter().enumerate() {
            assert!(valid(s), "segment {i}");
            let seq = u32::from_be_bytes(s[ETH + 24..ETH + 28].try_into().unwrap());
            assert_eq!(seq, 1000 + 1448 * u32::try_from(i).unwrap());
            assert_eq!(s[ETH + 33] & 0x08 != 0, i == 2, "PSH on the last only");
            let first = u8::try_from(1448 * i % 256).unwrap();
            assert_eq!(s[ETH + 40], first, "payload continues");
        }
    }

    #[test]
    fn a_partial_checksum_is_completed() {
        let mut f = tcp_frame(100, 0x10);
        let hdr = VnetHeader {
            flags: NEEDS_CSUM,
            gso_type: 0,
            gso_size: 0,
        };
        let mut n = 0;
        finish(hdr, &mut f, |s| {
            assert!(valid(s));
            n += 1;
        });
        assert_eq!(n, 1);
    }

    /// A TCP/IPv6 frame (no extension headers) with `payload` bytes of data.
    fn tcp6_frame(payload: usize, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; ETH + 40 + 20 + payload];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[ETH] = 0x60;
        let len = u16::try_from(20 + payload).unwrap();
        f[ETH + 4..ETH + 6].copy_from_slice(&len.to_be_bytes());
        f[ETH + 6] = 6;
        f[ETH + 7] = 64;
        f[ETH + 8] = 0x26;
        f[ETH + 23] = 1;
        f[ETH + 24] = 0x20;
        f[ETH + 39] = 2;
        let t = ETH + 40;
        f[t..t + 2].copy_from_slice(&40000u16.to_be_bytes());
        f[t + 2..t + 4].copy_from_slice(&80u16.to_be_bytes());
        f[t + 4..t + 8].copy_from_slice(&1000u32.to_be_bytes());
        f[t + 12] = 5 << 4;
        f[t + 13] = flags;
        for (i, b) in f[t + 20..].iter_mut().enumerate() {
            *b = u8::try_from(i % 256).unwrap();
        }
        f
    }

    fn valid6(seg: &[u8]) -> bool {
        use fort_dataplane::wire::ipv6;
        let p = ipv6::Packet::new_checked(&seg[ETH..]).unwrap();
        ipv6::l4_checksum(p.src(), p.dst(), 6, p.payload()) == 0
    }

    #[test]
    fn an_ipv6_super_frame_is_cut_into_valid_segments() {
        let mut f = tcp6_frame(3000, 0x18);
        let hdr = VnetHeader {
            flags: NEEDS_CSUM,
            gso_type: GSO_TCPV6,
            gso_size: 1428,
        };
        let mut segs = Vec::new();
        finish(hdr, &mut f, |s| segs.push(s.to_vec()));
        assert_eq!(segs.len(), 3);
        let lens: Vec<usize> = segs.iter().map(|s| s.len() - ETH - 60).collect();
        assert_eq!(lens, [1428, 1428, 144]);
        for (i, s) in segs.iter().enumerate() {
            assert!(valid6(s), "segment {i}");
            let plen = usize::from(u16::from_be_bytes([s[ETH + 4], s[ETH + 5]]));
            assert_eq!(plen, s.len() - ETH - 40);
            let seq = u32::from_be_bytes(s[ETH + 44..ETH + 48].try_into().unwrap());
            assert_eq!(seq, 1000 + 1428 * u32::try_from(i).unwrap());
            assert_eq!(s[ETH + 53] & 0x08 != 0, i == 2, "PSH on the last only");
        }
        // a partial checksum alone is completed
        let mut f = tcp6_frame(100, 0x10);
        let hdr = VnetHeader {
            flags: NEEDS_CSUM,
            gso_type: 0,
            gso_size: 0,
        };
        let mut n = 0;
        finish(hdr, &mut f, |s| {
            assert!(valid6(s));
            n += 1;
        });
        assert_eq!(n, 1);
    }
}
