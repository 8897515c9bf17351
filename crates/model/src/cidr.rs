//! IPv4 CIDR rules of the VPC model: parsing as EC2 does (host bits silently cleared),
//! the sizes VPCs and subnets may have, which ranges a VPC may mix, reserved addresses.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::{ApiError, ErrorCode};

/// Parses `a.b.c.d/n` strictly and clears host bits (`10.0.0.18/16` → `10.0.0.0/16`).
pub fn parse(s: &str) -> Option<Ipv4Net> {
    let (addr, len) = s.split_once('/')?;
    if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let addr = parse_addr(addr)?;
    let len: u8 = len.parse().ok()?;
    Ipv4Net::new(addr, len).ok().map(|n| n.trunc())
}

/// Parses a dotted-quad address without leading zeros, signs or spaces.
pub fn parse_addr(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty()
            || p.len() > 3
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return None;
        }
        *o = p.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

/// A CIDR parameter, with EC2's error for text that is not one.
pub fn parse_param(param: &str, s: &str) -> Result<Ipv4Net, ApiError> {
    parse(s).ok_or_else(|| ApiError::bad_param(param, s, "This is not a valid CIDR block."))
}

/// VPC blocks are /16 to /28.
pub fn check_vpc_size(net: Ipv4Net, text: &str) -> Result<(), ApiError> {
    if (16..=28).contains(&net.prefix_len()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidVpcRange,
            format!("The CIDR '{text}' is invalid."),
        ))
    }
}

fn net(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(a, b, c, d), len).expect("valid literal")
}

/// The address ranges a VPC's blocks come from, for the range-mixing rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Ten,
    OneSevenTwo,
    OneNineTwo,
    OneNineEight,
    Public,
}

fn origin(n: Ipv4Net) -> Origin {
    if net(10, 0, 0, 0, 8).contains(&n) {
        Origin::Ten
    } else if net(172, 16, 0, 0, 12).contains(&n) {
        Origin::OneSevenTwo
    } else if net(192, 168, 0, 0, 16).contains(&n) {
        Origin::OneNineTwo
    } else if net(198, 19, 0, 0, 16).contains(&n) {
        Origin::OneNineEight
    } else {
        Origin::Public
    }
}

fn is_rfc1918(n: Ipv4Net) -> bool {
    matches!(
        origin(n),
        Origin::Ten | Origin::OneSevenTwo | Origin::OneNineTwo
    )
}

/// Whether a VPC may use `n` at all (link-local never).
pub fn check_vpc_block(n: Ipv4Net, text: &str) -> Result<(), ApiError> {
    check_vpc_size(n, text)?;
    if net(169, 254, 0, 0, 16).contains(&n)
        || net(224, 0, 0, 0, 3).contains(&n)
        || net(0, 0, 0, 0, 8).contains(&n)
        || net(127, 0, 0, 0, 8).contains(&n)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidVpcRange,
            format!("The CIDR '{text}' is invalid."),
        ));
    }
    Ok(())
}

/// The restrictions on adding `new` as a secondary block to a VPC whose blocks are `existing`
/// (reference §3.1): no overlap, and no mixing of RFC 1918 ranges.
pub fn check_secondary_block(
    existing: &[Ipv4Net],
    new: Ipv4Net,
    text: &str,
) -> Result<(), ApiError> {
    check_vpc_block(new, text)?;
    let restricted = || {
        ApiError::new(
            ErrorCode::InvalidVpcRange,
            format!(
                "The CIDR '{text}' is restricted. Use a CIDR from the same private address range as the current VPC CIDR, or use a publicly-routable CIDR."
            ),
        )
    };
    for &e in existing {
        if e.contains(&new.network()) || new.contains(&e.network()) {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcRange,
                format!("The CIDR '{text}' conflicts with another CIDR block of the VPC."),
            ));
        }
    }
    let Some(&primary) = existing.first() else {
        return Ok(());
    };
    let from = origin(primary);
    let to = origin(new);
    let ok = match from {
        Origin::Ten => {
            !(matches!(
                to,
                Origin::OneSevenTwo | Origin::OneNineTwo | Origin::OneNineEight
            ) || (new == net(10, 0, 0, 0, 16)
                && existing.iter().any(|e| net(10, 0, 0, 0, 15).contains(e))))
        }
        Origin::OneSevenTwo => {
            !(matches!(to, Origin::Ten | Origin::OneNineTwo | Origin::OneNineEight)
                || net(172, 31, 0, 0, 16).contains(&new)
                    && !existing.iter().any(|e| net(172, 31, 0, 0, 16).contains(e)))
        }
        Origin::OneNineTwo => {
            !matches!(to, Origin::Ten | Origin::OneSevenTwo | Origin::OneNineEight)
        }
        Origin::OneNineEight => !is_rfc1918(new),
        Origin::Public => !(is_rfc1918(new) || to == Origin::OneNineEight),
    };
    if ok { Ok(()) } else { Err(restricted()) }
}

/// Whether two blocks share any address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Subnets hold 2^(32-len) addresses, five of them reserved: network, router (+1),
/// DNS (+2), future (+3) and broadcast.
pub fn usable_addresses(subnet: Ipv4Net) -> u32 {
    (1u32 << (32 - u32::from(subnet.prefix_len()))).saturating_sub(5)
}

/// Whether `ip` is one of the subnet's five reserved addresses.
pub fn is_reserved(subnet: Ipv4Net, ip: Ipv4Addr) -> bool {
    let base = u32::from(subnet.network());
    let off = u32::from(ip).wrapping_sub(base);
    off <= 3 || ip == subnet.broadcast()
}

/// The subnet router's address, base + 1.
pub fn router(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// The Amazon DNS address of a VPC: its primary block's base + 2.
pub fn dns_server(vpc_primary: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(vpc_primary.network()) + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_canonicalises() {
        assert_eq!(parse("100.68.0.18/18"), Some(net(100, 68, 0, 0, 18)));
        assert_eq!(parse("10.0.0.0/16"), Some(net(10, 0, 0, 0, 16)));
        for bad in [
            "10.0.0.0",
            "10.0.0/16",
            "10.0.0.0/33",
            "10.0.0.256/16",
            "10.0.0.0/",
            "a/16",
            "010.0.0.0/16",
            " 10.0.0.0/16",
            "10.0.0.0/+8",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn vpc_sizes() {
        assert!(check_vpc_block(net(10, 0, 0, 0, 16), "x").is_ok());
        assert!(check_vpc_block(net(10, 0, 0, 0, 28), "x").is_ok());
        assert_eq!(
            check_vpc_block(net(10, 0, 0, 0, 8), "x").unwrap_err().code,
            "InvalidVpc.Range"
        );
        assert_eq!(
            check_vpc_block(net(10, 0, 0, 0, 29), "x").unwrap_err().code,
            "InvalidVpc.Range"
        );
        assert!(check_vpc_block(net(169, 254, 0, 0, 16), "x").is_err());
    }

    #[test]
    fn range_mixing() {
        let ten = [net(10, 0, 0, 0, 16)];
        assert!(check_secondary_block(&ten, net(10, 1, 0, 0, 16), "x").is_ok());
        assert!(check_secondary_block(&ten, net(100, 64, 0, 0, 16), "x").is_ok());
        assert!(check_secondary_block(&ten, net(192, 168, 0, 0, 16), "x").is_err());
        assert!(check_secondary_block(&ten, net(172, 16, 0, 0, 16), "x").is_err());
        assert!(
            check_secondary_block(&ten, net(10, 0, 0, 0, 24), "x").is_err(),
            "overlap"
        );
        let public = [net(100, 64, 0, 0, 16)];
        assert!(check_secondary_block(&public, net(10, 0, 0, 0, 16), "x").is_err());
        assert!(check_secondary_block(&public, net(198, 19, 0, 0, 16), "x").is_err());
    }

    #[test]
    fn reserved_addresses() {
        let s = net(10, 0, 1, 0, 24);
        assert_eq!(usable_addresses(s), 251);
        assert_eq!(usable_addresses(net(10, 0, 0, 0, 28)), 11);
        assert_eq!(usable_addresses(net(172, 31, 0, 0, 20)), 4091);
        for last in [0, 1, 2, 3, 255] {
            assert!(is_reserved(s, Ipv4Addr::new(10, 0, 1, last)));
        }
        assert!(!is_reserved(s, Ipv4Addr::new(10, 0, 1, 4)));
        assert_eq!(router(s), Ipv4Addr::new(10, 0, 1, 1));
    }

    proptest! {
        #[test]
        fn parse_is_canonical(a in any::<u32>(), len in 0u8..=32) {
            let text = format!("{}/{}", Ipv4Addr::from(a), len);
            let n = parse(&text).unwrap();
            prop_assert_eq!(n.prefix_len(), len);
            prop_assert_eq!(n, n.trunc());
            prop_assert!(n.contains(&Ipv4Addr::from(a)));
            prop_assert_eq!(parse(&n.to_string()), Some(n));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }

        #[test]
        fn reserved_count_matches(len in 20u8..=28, base in any::<u32>()) {
            let n = Ipv4Net::new(Ipv4Addr::from(base), len).unwrap().trunc();
            let reserved = n.hosts().chain([n.network(), n.broadcast()]).filter(|ip| is_reserved(n, *ip)).count();
            prop_assert_eq!(reserved, 5);
        }
    }
}
