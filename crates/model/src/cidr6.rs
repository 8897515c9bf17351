//! IPv6 CIDR rules of the VPC model: parsing as EC2 does (host bits cleared, shown in the
//! compressed lowercase form), the sizes VPC and subnet blocks may have, the Amazon-like
//! pool VPC blocks come from, carving blocks into smaller ones, reserved addresses.
//!
//! Fort addresses IPv6 in the control plane only: the data plane does not forward it yet.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use crate::ApiError;

/// Parses `addr/n` strictly (a standard IPv6 address, a decimal length up to 128) and
/// clears host bits (`2600:1f18::1/56` → `2600:1f18::/56`).
pub fn parse(s: &str) -> Option<Ipv6Net> {
    let (addr, len) = s.split_once('/')?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let addr = parse_addr(addr)?;
    let len: u8 = len.parse().ok()?;
    Ipv6Net::new(addr, len).ok().map(|n| n.trunc())
}

/// Parses an IPv6 address (any of its standard textual forms).
pub fn parse_addr(s: &str) -> Option<Ipv6Addr> {
    if s.is_empty() || s.len() > 45 || s.contains('%') {
        return None;
    }
    s.parse().ok()
}

/// An IPv6 CIDR parameter, with EC2's error for text that is not one.
pub fn parse_param(param: &str, s: &str) -> Result<Ipv6Net, ApiError> {
    parse(s)
        .ok_or_else(|| ApiError::invalid_value(format!("invalid value for parameter {param}: {s}")))
}

/// Whether two blocks share any address.
pub fn overlaps(a: Ipv6Net, b: Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The `n`-th block of prefix length `len` inside `block` (`None` if there is no such block).
pub fn nth(block: Ipv6Net, len: u8, n: u128) -> Option<Ipv6Net> {
    if len < block.prefix_len() || len > 128 {
        return None;
    }
    let bits = u32::from(len - block.prefix_len());
    if bits < 128 && n >> bits != 0 {
        return None;
    }
    let step = if len == 0 {
        0
    } else {
        1u128 << (128 - u32::from(len))
    };
    let base = u128::from(block.network()) + n.checked_mul(step)?;
    Ipv6Net::new(Ipv6Addr::from(base), len).ok()
}

/// The pool Amazon-provided VPC blocks are carved from (AWS's own range for them).
pub fn amazon_pool() -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::new(0x2600, 0x1f00, 0, 0, 0, 0, 0, 0), 24).expect("literal")
}

/// The `n`-th Amazon-provided /56: numbered once per installation, so never handed out twice.
pub fn amazon_block(n: u64) -> Option<Ipv6Net> {
    nth(amazon_pool(), 56, u128::from(n))
}

/// Subnet blocks are /44 to /64 in steps of 4.
pub fn is_subnet_size(len: u8) -> bool {
    (44..=64).contains(&len) && len.is_multiple_of(4)
}

/// VPC blocks a caller chooses are /44 to /60 in steps of 4 (Amazon's are /56).
pub fn is_vpc_size(len: u8) -> bool {
    (44..=60).contains(&len) && len.is_multiple_of(4)
}

/// Whether `ip` is one of the subnet's reserved addresses: the first four and the last.
pub fn is_reserved(subnet: Ipv6Net, ip: Ipv6Addr) -> bool {
    let off = u128::from(ip).wrapping_sub(u128::from(subnet.network()));
    off <= 3 || ip == subnet.broadcast()
}

/// The subnet's `n`-th address counted from its network address.
pub fn host(subnet: Ipv6Net, n: u128) -> Option<Ipv6Addr> {
    let size_bits = 128 - u32::from(subnet.prefix_len());
    if size_bits < 128 && n >> size_bits != 0 {
        return None;
    }
    Some(Ipv6Addr::from(u128::from(subnet.network()).checked_add(n)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_canonicalises() {
        assert_eq!(parse("2600:1F18::1/56"), Some(net("2600:1f18::/56")));
        assert_eq!(
            parse("1080::1:200C:417A/112"),
            Some(net("1080::1:200c:0/112"))
        );
        assert_eq!(parse("::/0"), Some(net("::/0")));
        for bad in [
            "2600::",
            "2600::/129",
            "2600::/",
            "2600::/+8",
            "10.0.0.0/16",
            "2600:::1/64",
            " 2600::/64",
            "fe80::1%eth0/64",
            "1080::1:200C:417A/999",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert!(is_subnet_size(64) && is_subnet_size(56) && is_subnet_size(44));
        assert!(!is_subnet_size(63) && !is_subnet_size(40) && !is_subnet_size(68));
        assert!(is_vpc_size(56) && is_vpc_size(48) && !is_vpc_size(64));
    }

    #[test]
    fn carving() {
        let vpc = net("2600:1f18:7cb4:2e00::/56");
        assert_eq!(nth(vpc, 64, 0), Some(net("2600:1f18:7cb4:2e00::/64")));
        assert_eq!(nth(vpc, 64, 1), Some(net("2600:1f18:7cb4:2e01::/64")));
        assert_eq!(nth(vpc, 64, 255), Some(net("2600:1f18:7cb4:2eff::/64")));
        assert_eq!(nth(vpc, 64, 256), None);
        assert_eq!(nth(vpc, 48, 0), None);
        assert_eq!(amazon_block(0), Some(net("2600:1f00::/56")));
        assert_eq!(amazon_block(1), Some(net("2600:1f00:0:100::/56")));
        assert_eq!(amazon_block(1 << 32), None);
    }

    #[test]
    fn reserved_addresses() {
        let s = net("2600:1f18:7cb4:2e01::/64");
        for last in [0u16, 1, 2, 3] {
            assert!(is_reserved(
                s,
                Ipv6Addr::new(0x2600, 0x1f18, 0x7cb4, 0x2e01, 0, 0, 0, last)
            ));
        }
        assert!(is_reserved(s, s.broadcast()));
        assert!(!is_reserved(s, host(s, 4).unwrap()));
        assert_eq!(host(net("2600::/126"), 4), None);
    }

    fn any_net(len: impl Strategy<Value = u8>) -> impl Strategy<Value = Ipv6Net> {
        (any::<u128>(), len).prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
    }

    proptest! {
        #[test]
        fn parse_is_canonical(a in any::<u128>(), len in 0u8..=128) {
            let text = format!("{}/{}", Ipv6Addr::from(a), len);
            let n = parse(&text).unwrap();
            prop_assert_eq!(n.prefix_len(), len);
            prop_assert_eq!(n, n.trunc());
            prop_assert!(n.contains(&Ipv6Addr::from(a)));
            prop_assert_eq!(parse(&n.to_string()), Some(n));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,48}") {
            let _ = parse(&s);
        }

        #[test]
        fn overlap_is_containment_either_way(a in any_net(0u8..=128), b in any_net(0u8..=128)) {
            prop_assert_eq!(overlaps(a, b), overlaps(b, a));
            prop_assert_eq!(overlaps(a, b), a.contains(&b) || b.contains(&a));
            prop_assert!(overlaps(a, a));
        }

        #[test]
        fn carved_blocks_are_inside_and_disjoint(
            block in any_net(44u8..=60),
            extra in 0u8..=8,
            i in any::<u16>(),
            j in any::<u16>(),
        ) {
            let len = block.prefix_len() + extra;
            let count = 1u128 << extra;
            let (i, j) = (u128::from(i) % count, u128::from(j) % count);
            let a = nth(block, len, i).unwrap();
            let b = nth(block, len, j).unwrap();
            prop_assert!(block.contains(&a));
            prop_assert_eq!(a.prefix_len(), len);
            prop_assert_eq!(a, a.trunc());
            prop_assert_eq!(overlaps(a, b), i == j);
            prop_assert_eq!(nth(block, len, count), None);
        }

        #[test]
        fn amazon_blocks_are_distinct_56s_of_the_pool(i in 0u64..(1 << 32), j in 0u64..(1 << 32)) {
            let a = amazon_block(i).unwrap();
            prop_assert_eq!(a.prefix_len(), 56);
            prop_assert!(amazon_pool().contains(&a));
            prop_assert_eq!(a == amazon_block(j).unwrap(), i == j);
        }

        #[test]
        fn hosts_stay_inside(s in any_net(64u8..=64), n in any::<u64>()) {
            let ip = host(s, u128::from(n)).unwrap();
            prop_assert!(s.contains(&ip));
            prop_assert_eq!(is_reserved(s, ip), n <= 3 || n == u64::MAX);
        }
    }
}
