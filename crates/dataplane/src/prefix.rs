//! An address family's prefix as bits: what longest-prefix tables key on and what the
//! slow path's "is this address in that block" asks, by mask and compare.

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A block of either family: its length, and its address's first `length` bits.
pub trait Prefix: Copy {
    type Addr: Copy;
    type Bits: Copy + Eq + std::hash::Hash;
    /// The prefix length.
    fn length(&self) -> u8;
    /// The address as written (host bits may be set).
    fn address(&self) -> Self::Addr;
    /// The first `len` bits of `addr`.
    fn masked(addr: Self::Addr, len: u8) -> Self::Bits;

    /// (length, network bits).
    #[inline]
    fn parts(&self) -> (u8, Self::Bits) {
        (self.length(), Self::masked(self.address(), self.length()))
    }

    /// Whether `ip` is in the block: a mask and a compare, where ipnet's `contains` builds
    /// both ends of the block anew (about 30 instructions for IPv4, 110 for IPv6), and the
    /// slow path asks several times per new flow.
    #[inline]
    fn covers(&self, ip: Self::Addr) -> bool {
        Self::masked(ip, self.length()) == self.parts().1
    }
}

impl Prefix for Ipv4Net {
    type Addr = Ipv4Addr;
    type Bits = u32;
    #[inline]
    fn length(&self) -> u8 {
        self.prefix_len()
    }
    #[inline]
    fn address(&self) -> Ipv4Addr {
        self.addr()
    }
    #[inline]
    fn masked(addr: Ipv4Addr, len: u8) -> u32 {
        u32::from(addr) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
    }
}

impl Prefix for Ipv6Net {
    type Addr = Ipv6Addr;
    type Bits = u128;
    #[inline]
    fn length(&self) -> u8 {
        self.prefix_len()
    }
    #[inline]
    fn address(&self) -> Ipv6Addr {
        self.addr()
    }
    #[inline]
    fn masked(addr: Ipv6Addr, len: u8) -> u128 {
        u128::from(addr) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `covers` answers as ipnet's `contains`, at every prefix length (host bits set
        /// in the block's address too).
        #[test]
        fn covers_is_contains(a: u32, b: u32, len in 0u8..=32, a6: u128, b6: u128, len6 in 0u8..=128) {
            let net = Ipv4Net::new(Ipv4Addr::from(a), len).unwrap();
            prop_assert_eq!(net.covers(Ipv4Addr::from(b)), net.contains(&Ipv4Addr::from(b)));
            // near addresses: same upper bits, so "inside" is tried as often as not
            let near = Ipv4Addr::from(a ^ (b >> len.min(31)));
            prop_assert_eq!(net.covers(near), net.contains(&near));
            let net6 = Ipv6Net::new(Ipv6Addr::from(a6), len6).unwrap();
            prop_assert_eq!(net6.covers(Ipv6Addr::from(b6)), net6.contains(&Ipv6Addr::from(b6)));
            let near6 = Ipv6Addr::from(a6 ^ (b6 >> len6.min(127)));
            prop_assert_eq!(net6.covers(near6), net6.contains(&near6));
        }
    }
}
