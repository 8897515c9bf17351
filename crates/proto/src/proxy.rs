//! Where a connection to the API came from: the PROXY protocol version 2 header (HAProxy's
//! specification) a host's forwarder writes before any byte of the client's, for a
//! connection it carries from a VPC endpoint to the API.
//!
//! The header holds the client's address (in its VPC) and the address it reached, then
//! TLVs: AWS's own for the endpoint (type [`TLV_AWS`] 0xEA, subtype
//! [`AWS_VPCE_ID`] 0x01, the `vpce-…` id, as AWS's Network Load Balancers send it) and
//! one of Fort's for the source VPC ([`TLV_FORT_VPC`], 0xE0, in the range the
//! specification keeps for applications). A client cannot forge it: the forwarder writes
//! it first, so whatever the client sends after it is HTTP (a second header is a bad
//! request), and a direct caller of the API, which could write one, gains nothing by
//! saying it came through an endpoint: an endpoint's policy only ever takes away.
//!
//! Part of the contract between hosts and servers: a change here bumps
//! [`crate::CONTRACT_VERSION`].

use std::net::{Ipv4Addr, SocketAddrV4};

/// The header's first twelve bytes.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family/protocol, length.
pub const FIXED_LEN: usize = 16;
/// AWS's TLV type; its subtype [`AWS_VPCE_ID`] carries the VPC endpoint's id.
pub const TLV_AWS: u8 = 0xEA;
pub const AWS_VPCE_ID: u8 = 0x01;
/// Fort's TLV: the id of the VPC the client is in.
pub const TLV_FORT_VPC: u8 = 0xE0;
/// The specification's TLV for TLS (`PP2_TYPE_SSL`): its first byte's bit 0
/// ([`PP2_CLIENT_SSL`]) says the client spoke TLS to the forwarder.
pub const TLV_SSL: u8 = 0x20;
pub const PP2_CLIENT_SSL: u8 = 0x01;
/// The longest header accepted (addresses and TLVs): far above what Fort writes.
pub const MAX_LEN: usize = 512;

/// What the header says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client, and the address it connected to (IPv4 over TCP), if given.
    pub addresses: Option<(SocketAddrV4, SocketAddrV4)>,
    /// The VPC endpoint the connection came through (`vpce-…`).
    pub vpc_endpoint_id: Option<String>,
    /// The client's VPC (`vpc-…`).
    pub vpc_id: Option<String>,
    /// Whether the client spoke TLS to the forwarder (which ended it).
    pub tls: bool,
}

/// The result of reading the start of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The bytes are not a PROXY header (a client speaking HTTP directly).
    NotProxy,
    /// A header, maybe; this many bytes in all are needed to know.
    Incomplete(usize),
    /// A header of `len` bytes.
    Header { origin: Origin, len: usize },
    /// A PROXY v2 signature with a header that makes no sense.
    Invalid(&'static str),
}

/// The header for `origin` (command PROXY; family TCP over IPv4 with addresses, else
/// UNSPEC).
pub fn encode(origin: &Origin) -> Vec<u8> {
    let mut body = Vec::new();
    let family = match origin.addresses {
        Some((src, dst)) => {
            body.extend(src.ip().octets());
            body.extend(dst.ip().octets());
            body.extend(src.port().to_be_bytes());
            body.extend(dst.port().to_be_bytes());
            0x11
        }
        None => 0x00,
    };
    let mut tlv = |kind: u8, value: &[u8]| {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        body.push(kind);
        body.extend(len.to_be_bytes());
        body.extend(&value[..usize::from(len)]);
    };
    if let Some(id) = &origin.vpc_endpoint_id {
        let mut v = vec![AWS_VPCE_ID];
        v.extend(id.as_bytes());
        tlv(TLV_AWS, &v);
    }
    if let Some(id) = &origin.vpc_id {
        tlv(TLV_FORT_VPC, id.as_bytes());
    }
    if origin.tls {
        // client: TLS; verify: 0 (no client certificate was asked for)
        tlv(TLV_SSL, &[PP2_CLIENT_SSL, 0, 0, 0, 0]);
    }
    let mut out = Vec::with_capacity(FIXED_LEN + body.len());
    out.extend(SIGNATURE);
    out.push(0x21); // version 2, PROXY
    out.push(family);
    out.extend(u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend(body);
    out
}

/// Reads a header at the start of `buf` (which may hold fewer bytes than it needs).
pub fn parse(buf: &[u8]) -> Parsed {
    let n = buf.len().min(SIGNATURE.len());
    if buf[..n] != SIGNATURE[..n] {
        return Parsed::NotProxy;
    }
    if buf.len() < FIXED_LEN {
        return Parsed::Incomplete(FIXED_LEN);
    }
    let (command, family) = (buf[12], buf[13]);
    if command >> 4 != 2 {
        return Parsed::Invalid("not version 2");
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > MAX_LEN {
        return Parsed::Invalid("header too long");
    }
    let total = FIXED_LEN + len;
    if buf.len() < total {
        return Parsed::Incomplete(total);
    }
    let body = &buf[FIXED_LEN..total];
    let mut origin = Origin::default();
    if command & 0x0f == 0 {
        // LOCAL: the sender's own connection, no origin
        return Parsed::Header { origin, len: total };
    }
    if command & 0x0f != 1 {
        return Parsed::Invalid("unknown command");
    }
    let tlvs = match family {
        0x00 => body,
        0x11 | 0x12 => {
            let Some(a) = body.get(..12) else {
                return Parsed::Invalid("short addresses");
            };
            let ip = |i: usize| Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]);
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            origin.addresses = Some((
                SocketAddrV4::new(ip(0), port(8)),
                SocketAddrV4::new(ip(4), port(10)),
            ));
            &body[12..]
        }
        // IPv6 (36 bytes) and UNIX (216) addresses: skipped, the TLVs follow them
        0x21 | 0x22 => match body.get(36..) {
            Some(rest) => rest,
            None => return Parsed::Invalid("short addresses"),
        },
        0x31 | 0x32 => match body.get(216..) {
            Some(rest) => rest,
            None => return Parsed::Invalid("short addresses"),
        },
        _ => return Parsed::Invalid("unknown family"),
    };
    let mut rest = tlvs;
    while !rest.is_empty() {
        let Some(&[kind, hi, lo]) = rest.get(..3) else {
            return Parsed::Invalid("short TLV");
        };
        let l = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(value) = rest.get(3..3 + l) else {
            return Parsed::Invalid("short TLV");
        };
        let text = |v: &[u8]| std::str::from_utf8(v).ok().map(str::to_owned);
        match kind {
            TLV_AWS if value.first() == Some(&AWS_VPCE_ID) => {
                let Some(id) = text(&value[1..]) else {
                    return Parsed::Invalid("endpoint id is not text");
                };
                origin.vpc_endpoint_id = Some(id);
            }
            TLV_SSL => origin.tls = value.first().is_some_and(|c| c & PP2_CLIENT_SSL != 0),
            TLV_FORT_VPC => {
                let Some(id) = text(value) else {
                    return Parsed::Invalid("VPC id is not text");
                };
                origin.vpc_id = Some(id);
            }
            _ => {}
        }
        rest = &rest[3 + l..];
    }
    Parsed::Header { origin, len: total }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            addresses: Some((
                SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 9), 40_000),
                SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 20), 443),
            )),
            vpc_endpoint_id: Some("vpce-0123456789abcdef0".into()),
            vpc_id: Some("vpc-0a1b2c3d".into()),
            tls: true,
        }
    }

    #[test]
    fn written_then_read_back() {
        let bytes = encode(&origin());
        assert_eq!(&bytes[..12], &SIGNATURE);
        assert_eq!(
            parse(&bytes),
            Parsed::Header {
                origin: origin(),
                len: bytes.len()
            }
        );
        // what follows the header is the client's
        let mut more = bytes.clone();
        more.extend(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&more),
            Parsed::Header {
                origin: origin(),
                len: bytes.len()
            }
        );
        let bare = Origin::default();
        let b = encode(&bare);
        assert_eq!(
            parse(&b),
            Parsed::Header {
                origin: bare,
                len: 16
            }
        );
    }

    #[test]
    fn http_is_not_a_header_and_a_part_asks_for_more() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Parsed::NotProxy);
        assert_eq!(parse(b"POST"), Parsed::NotProxy);
        assert_eq!(parse(b""), Parsed::Incomplete(16));
        let bytes = encode(&origin());
        for cut in 1..bytes.len() {
            assert!(
                matches!(parse(&bytes[..cut]), Parsed::Incomplete(n) if n > cut),
                "{cut}"
            );
        }
    }

    #[test]
    fn nonsense_after_the_signature_is_invalid() {
        let mut bytes = encode(&origin());
        bytes[12] = 0x11;
        assert_eq!(parse(&bytes), Parsed::Invalid("not version 2"));
        let mut bytes = encode(&origin());
        bytes[14] = 0xff;
        assert_eq!(parse(&bytes), Parsed::Invalid("header too long"));
        let mut bytes = encode(&origin());
        let n = bytes.len();
        bytes[15] -= 1; // the last TLV now runs past the end
        assert_eq!(parse(&bytes[..n - 1]), Parsed::Invalid("short TLV"));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes: no panic, a header never longer than what was given, and what is
        /// read writes back to a header that reads the same.
        #[test]
        fn any_bytes_read_safely(tail in prop::collection::vec(any::<u8>(), 0..80), cut in 0usize..100) {
            let mut data = SIGNATURE.to_vec();
            data.extend(&tail);
            let data = &data[..cut.min(data.len())];
            if let Parsed::Header { origin, len } = parse(data) {
                prop_assert!(len <= data.len());
                prop_assert_eq!(parse(&encode(&origin)), Parsed::Header { len: encode(&origin).len(), origin });
            }
        }

        #[test]
        fn origins_round_trip(
            ids in prop::option::of("vpce-[0-9a-f]{8,17}"),
            vpc in prop::option::of("vpc-[0-9a-f]{8,17}"),
            tls in any::<bool>(),
            ports in (any::<u16>(), any::<u16>()),
            ips in (any::<u32>(), any::<u32>()),
        ) {
            let origin = Origin {
                addresses: Some((
                    SocketAddrV4::new(Ipv4Addr::from(ips.0), ports.0),
                    SocketAddrV4::new(Ipv4Addr::from(ips.1), ports.1),
                )),
                vpc_endpoint_id: ids,
                vpc_id: vpc,
                tls,
            };
            let bytes = encode(&origin);
            prop_assert_eq!(parse(&bytes), Parsed::Header { origin, len: bytes.len() });
        }
    }
}
