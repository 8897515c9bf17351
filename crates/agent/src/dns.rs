//! The VPC resolver (base + 2 and 169.254.169.253), answered by the agent itself.
//!
//! It knows the VPC's own names, as AWS's resolver does: `ip-A-B-C-D.DOMAIN` → A.B.C.D and
//! the reverse (PTR) for every private address of the VPC. Every other name gets
//! NXDOMAIN at once: no query ever leaves for a real resolver, and nothing inside an
//! instance waits for a timeout (python's http.server, for one, resolves its own address
//! before it listens).

use std::net::Ipv4Addr;

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const CLASS_IN: u16 = 1;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_FORMERR: u16 = 1;
const TTL: u32 = 60;

/// What the resolver knows about one VPC.
pub trait Zone {
    /// Is this a private address of the VPC?
    fn has(&self, ip: Ipv4Addr) -> bool;
    /// The VPC's domain, e.g. `ec2.internal`.
    fn domain(&self) -> &str;
}

/// Reads a (non-compressed) question name; returns lower-case labels and the offset after.
fn read_name(msg: &[u8], mut at: usize) -> Option<(Vec<String>, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            return Some((labels, at));
        }
        if len & 0xc0 != 0 || labels.len() > 127 {
            return None;
        }
        let l = msg.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        at += len;
    }
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    for l in name.split('.').filter(|l| !l.is_empty()) {
        out.push(l.len().min(63) as u8);
        out.extend_from_slice(&l.as_bytes()[..l.len().min(63)]);
    }
    out.push(0);
}

/// `ip-10-0-1-5` → 10.0.1.5
fn host_label_ip(label: &str) -> Option<Ipv4Addr> {
    let rest = label.strip_prefix("ip-")?;
    let parts: Vec<u8> = rest
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d] = parts[..] else { return None };
    Some(Ipv4Addr::new(a, b, c, d))
}

/// Answers one DNS query (a UDP payload); `None` for what is not a query at all.
pub fn answer(query: &[u8], zone: &dyn Zone) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None; // too short, or a response
    }
    let rd = u16::from(query[2] & 0x01) << 8;
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[0..2]);
    let header = |rcode: u16, an: u16, qd: u16| {
        let flags: u16 = 0x8000 | 0x0400 | rd | 0x0080 | rcode;
        let mut h = Vec::with_capacity(10);
        h.extend_from_slice(&flags.to_be_bytes());
        h.extend_from_slice(&qd.to_be_bytes());
        h.extend_from_slice(&an.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        h
    };
    let parsed = (qdcount == 1)
        .then(|| read_name(query, 12))
        .flatten()
        .and_then(|(labels, at)| {
            let t = query.get(at..at + 4)?;
            Some((
                labels,
                at + 4,
                u16::from_be_bytes([t[0], t[1]]),
                u16::from_be_bytes([t[2], t[3]]),
            ))
        });
    let Some((labels, end, qtype, qclass)) = parsed else {
        out.extend_from_slice(&header(RCODE_FORMERR, 0, 0));
        return Some(out);
    };
    let question = &query[12..end];
    let domain: Vec<String> = zone
        .domain()
        .split('.')
        .filter(|l| !l.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut rdata: Option<Vec<u8>> = None;
    let mut known = false;
    if qclass == CLASS_IN {
        // forward: ip-a-b-c-d[.domain]
        if let Some(ip) = labels.first().and_then(|l| host_label_ip(l))
            && (labels.len() == 1 || labels[1..] == domain[..])
            && zone.has(ip)
        {
            known = true;
            if qtype == TYPE_A {
                rdata = Some(ip.octets().to_vec());
            }
        }
        // reverse: d.c.b.a.in-addr.arpa
        if labels.len() == 6 && labels[4] == "in-addr" && labels[5] == "arpa" {
            let o: Option<Vec<u8>> = labels[..4].iter().rev().map(|l| l.parse().ok()).collect();
            if let Some(o) = o {
                let ip = Ipv4Addr::new(o[0], o[1], o[2], o[3]);
                if zone.has(ip) {
                    known = true;
                    if qtype == TYPE_PTR {
                        let [a, b, c, d] = ip.octets();
                        let mut name = Vec::new();
                        write_name(&mut name, &format!("ip-{a}-{b}-{c}-{d}.{}", zone.domain()));
                        rdata = Some(name);
                    }
                }
            }
        }
    }
    match (known, rdata) {
        (true, Some(r)) => {
            out.extend_from_slice(&header(0, 1, 1));
            out.extend_from_slice(question);
            out.extend_from_slice(&[0xc0, 0x0c]);
            out.extend_from_slice(&qtype.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&TTL.to_be_bytes());
            out.extend_from_slice(&(r.len() as u16).to_be_bytes());
            out.extend_from_slice(&r);
        }
        (true, None) => {
            out.extend_from_slice(&header(0, 0, 1));
            out.extend_from_slice(question);
        }
        (false, _) => {
            out.extend_from_slice(&header(RCODE_NXDOMAIN, 0, 1));
            out.extend_from_slice(question);
        }
    }
    Some(out)
}

fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The UDP payload of an Ethernet/IPv4/UDP frame, if it is one.
pub fn udp_payload(frame: &[u8]) -> Option<&[u8]> {
    if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if frame[23] != 17 || ihl < 20 {
        return None;
    }
    let udp = 14 + ihl;
    let len = usize::from(u16::from_be_bytes(
        frame.get(udp + 4..udp + 6)?.try_into().ok()?,
    ));
    frame.get(udp + 8..udp + len.max(8))
}

/// The reply frame to a UDP request frame: addresses and ports swapped, `payload` inside,
/// checksums complete.
pub fn reply_frame(request: &[u8], payload: &[u8], out: &mut Vec<u8>) -> Option<()> {
    udp_payload(request)?;
    let ihl = usize::from(request[14] & 0x0f) * 4;
    let udp = 14 + ihl;
    out.clear();
    out.extend_from_slice(&request[6..12]);
    out.extend_from_slice(&request[0..6]);
    out.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let (src, dst) = (&request[30..34], &request[26..30]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(src);
    ip[16..20].copy_from_slice(dst);
    let c = fold(sum(&ip, 0));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&ip);
    let ulen = (8 + payload.len()) as u16;
    let mut u = [0u8; 8];
    u[0..2].copy_from_slice(&request[udp + 2..udp + 4]);
    u[2..4].copy_from_slice(&request[udp..udp + 2]);
    u[4..6].copy_from_slice(&ulen.to_be_bytes());
    let mut acc = sum(src, 0);
    acc = sum(dst, acc);
    acc += 17 + u32::from(ulen);
    acc = sum(&u, acc);
    acc = sum(payload, acc);
    let c = match fold(acc) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&u);
    out.extend_from_slice(payload);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Z;
    impl Zone for Z {
        fn has(&self, ip: Ipv4Addr) -> bool {
            ip == Ipv4Addr::new(10, 0, 1, 5)
        }
        fn domain(&self) -> &str {
            "ec2.internal"
        }
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        write_name(&mut q, name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    #[test]
    fn forward_and_reverse_names_of_the_vpc() {
        let a = answer(&query("ip-10-0-1-5.ec2.internal", TYPE_A), &Z).unwrap();
        assert_eq!(&a[0..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1, "one answer");
        assert_eq!(&a[a.len() - 4..], &[10, 0, 1, 5]);

        let p = answer(&query("5.1.0.10.in-addr.arpa", TYPE_PTR), &Z).unwrap();
        assert_eq!(u16::from_be_bytes([p[6], p[7]]), 1);
        let mut name = Vec::new();
        write_name(&mut name, "ip-10-0-1-5.ec2.internal");
        assert!(p.ends_with(&name));
    }

    #[test]
    fn everything_else_is_nxdomain_at_once() {
        for q in [
            query("example.com", TYPE_A),
            query("6.1.0.10.in-addr.arpa", TYPE_PTR),
        ] {
            let a = answer(&q, &Z).unwrap();
            assert_eq!(a[3] & 0x0f, 3);
            assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0);
        }
        // a known name of another type: no data, no error
        let a = answer(&query("ip-10-0-1-5.ec2.internal", 28), &Z).unwrap();
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0);
        assert!(answer(&[0; 5], &Z).is_none());
    }

    #[test]
    fn reply_frames_have_valid_checksums() {
        let q = query("example.com", TYPE_A);
        let mut req = vec![6, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
        let total = (28 + q.len()) as u16;
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 1, 5, 10, 0, 0, 2,
        ];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        req.extend_from_slice(&ip);
        req.extend_from_slice(&[0x9c, 0x40, 0, 53]);
        req.extend_from_slice(&((8 + q.len()) as u16).to_be_bytes());
        req.extend_from_slice(&[0, 0]);
        req.extend_from_slice(&q);
        assert_eq!(udp_payload(&req).unwrap(), &q[..]);
        let mut out = Vec::new();
        reply_frame(&req, b"answer", &mut out).unwrap();
        assert_eq!(&out[0..6], &req[6..12]);
        assert_eq!(&out[26..30], &[10, 0, 0, 2]);
        assert_eq!(&out[34..36], &[0, 53]);
        assert_eq!(fold(sum(&out[14..34], 0)), 0, "IPv4 checksum");
        let mut acc = sum(&out[26..34], 0) + 17 + (out.len() - 34) as u32;
        acc = sum(&out[34..], acc);
        assert_eq!(fold(acc), 0, "UDP checksum");
        assert_eq!(udp_payload(&out).unwrap(), b"answer");
    }
}
