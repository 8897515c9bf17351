//! Wire formats: zero-copy views over byte buffers and owned `Repr`s.
//!
//! The pattern is smoltcp's. Each protocol has a view (`Packet<T: AsRef<[u8]>>`, getters;
//! setters when `T: AsMut<[u8]>`) whose field offsets live in `mod field`, and an owned
//! `Repr` with `parse`, `emit` and `buffer_len`.
//!
//! Contract, relied on by the engine and checked by the fuzz targets:
//! * after `new_checked` succeeds, no accessor of the view panics;
//! * `Repr::parse` never panics on a checked view;
//! * `Repr::emit` never panics on a buffer of at least `buffer_len()` bytes.
//!
//! A parser can only say "malformed", so [`Error`] is a unit struct; the engine turns it
//! into a [`crate::verdict::DropReason`].

pub mod arp;
pub mod checksum;
pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod ethernet;
pub mod geneve;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

pub use ethernet::MacAddr;

/// The buffer is too short or a field holds a value the format forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed packet")
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A byte range inside a header.
pub type Field = std::ops::Range<usize>;

/// IP protocol numbers the engine knows by name.
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// The low 64 bits of `v` (a truncation meant, for hashing).
#[inline]
pub(crate) fn low64(v: u128) -> u64 {
    u64::try_from(v & u128::from(u64::MAX)).unwrap_or(0)
}

/// The low 16 bits of `v` (a truncation meant, for hashing).
#[inline]
pub(crate) fn low16(v: u64) -> u16 {
    u16::try_from(v & 0xffff).unwrap_or(0)
}

#[inline]
pub(crate) fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn write_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn write_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
