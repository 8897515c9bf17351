//! Frames between instances and the metadata namespace's kernel. Instances of different
//! VPCs share addresses, so each (port, address) is seen in the namespace under an alias
//! of its own in 100.64.0.0/10: the port's slot and the address's index in the port's
//! list. The HTTP server learns the caller from the alias; answers find their way back
//! through it. Checksums are computed whole (metadata frames are few and small), so the
//! frames leave without offload marks.

use std::net::Ipv4Addr;

use fort_dataplane::wire::checksum;
use fort_dataplane::wire::{MacAddr, ip_proto};

/// The namespace's side of the link (`imds0`).
pub const SERVICE_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0xa9]);
/// The agent's side: the next hop the namespace routes the aliases through.
pub const AGENT_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0xaa]);
/// The metadata service's address.
pub const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The aliases: 100.64.0.0/10, 16 bits of port slot and 6 of address index.
pub const ALIAS_BASE: u32 = 0x6440_0000;
pub const ALIAS_PREFIX: u8 = 10;
/// The next hop the namespace routes the aliases through (outside them).
pub const NEXT_HOP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
/// The most addresses of one port an alias can name.
pub const MAX_ADDRESSES: usize = 63;

const ETH: usize = 14;

/// The alias of address `index` of the port in `slot`.
pub fn alias(slot: u16, index: usize) -> Option<Ipv4Addr> {
    if index >= MAX_ADDRESSES {
        return None;
    }
    let index = u32::try_from(index).ok()?;
    Some(Ipv4Addr::from(ALIAS_BASE | u32::from(slot) << 6 | index))
}

/// The (slot, address index) an alias names.
pub fn unalias(ip: Ipv4Addr) -> Option<(u16, usize)> {
    let v = u32::from(ip);
    if v & 0xffc0_0000 != ALIAS_BASE {
        return None;
    }
    let index = (v & 0x3f) as usize;
    let slot = u16::try_from((v >> 6) & 0xffff).ok()?;
    (index < MAX_ADDRESSES).then_some((slot, index))
}

/// Why a frame did not cross.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not IPv4 TCP (the service answers HTTP only), or cut short.
    NotTcp,
    /// A segmentation-offloaded frame: too large for a metadata request.
    Segmented,
    /// From an address the port does not have, or to an alias nobody holds.
    Unknown,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::NotTcp => "metadata_not_tcp",
            Refused::Segmented => "metadata_segmented",
            Refused::Unknown => "metadata_unknown_address",
        }
    }
}

/// The IPv4 packet of an Ethernet frame: (header length, total length), checked.
fn ipv4_tcp(frame: &[u8]) -> Result<(usize, usize), Refused> {
    if frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] || frame[ETH] >> 4 != 4 {
        return Err(Refused::NotTcp);
    }
    let hl = usize::from(frame[ETH] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let fragment = u16::from_be_bytes([frame[ETH + 6], frame[ETH + 7]]) & 0x3fff != 0;
    if hl < 20
        || total < hl + 20
        || ETH + total > frame.len()
        || frame[ETH + 9] != ip_proto::TCP
        || fragment
    {
        return Err(Refused::NotTcp);
    }
    Ok((hl, total))
}

/// Rewrites one address (`at`: 12 source, 16 destination) and both checksums, whole.
fn rewrite(frame: &mut [u8], hl: usize, total: usize, at: usize, to: Ipv4Addr) {
    let ip = &mut frame[ETH..ETH + total];
    ip[at..at + 4].copy_from_slice(&to.octets());
    ip[10..12].fill(0);
    let c = checksum::checksum(&ip[..hl]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let tcp = &mut ip[hl..];
    tcp[16..18].fill(0);
    let c = checksum::l4_checksum(src, dst, ip_proto::TCP, tcp);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
}

fn gso_type(vnet: &[u8]) -> u8 {
    vnet.get(1).copied().unwrap_or(0) & 0x7f
}

/// An instance's request, toward the namespace: from the alias of (`slot`, its source
/// address among `addresses`), between the agent's and the service's MACs. Answers the
/// frame's new length (padding cut).
pub fn to_service(
    frame: &mut [u8],
    vnet: &[u8],
    slot: u16,
    addresses: &[Ipv4Addr],
) -> Result<usize, Refused> {
    if gso_type(vnet) != 0 {
        return Err(Refused::Segmented);
    }
    let (hl, total) = ipv4_tcp(frame)?;
    let src = Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]);
    let index = addresses
        .iter()
        .position(|a| *a == src)
        .ok_or(Refused::Unknown)?;
    let from = alias(slot, index).ok_or(Refused::Unknown)?;
    frame[0..6].copy_from_slice(&SERVICE_MAC.0);
    frame[6..12].copy_from_slice(&AGENT_MAC.0);
    rewrite(frame, hl, total, 12, from);
    Ok(ETH + total)
}

/// The service's answer, toward its instance: the alias resolved by `port` (slot →
/// (port MAC, router MAC, addresses)). Answers (slot, new length).
pub fn from_service<'a>(
    frame: &mut [u8],
    vnet: &[u8],
    port: impl Fn(u16) -> Option<(MacAddr, MacAddr, &'a [Ipv4Addr])>,
) -> Result<(u16, usize), Refused> {
    if gso_type(vnet) != 0 {
        return Err(Refused::Segmented);
    }
    let (hl, total) = ipv4_tcp(frame)?;
    let dst = Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]);
    let (slot, index) = unalias(dst).ok_or(Refused::Unknown)?;
    let (mac, router, addresses) = port(slot).ok_or(Refused::Unknown)?;
    let to = *addresses.get(index).ok_or(Refused::Unknown)?;
    frame[0..6].copy_from_slice(&mac.0);
    frame[6..12].copy_from_slice(&router.0);
    rewrite(frame, hl, total, 16, to);
    Ok((slot, ETH + total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_dataplane::fixtures;
    use fort_dataplane::wire::tcp;

    const ROUTER: MacAddr = MacAddr([6, 0, 0, 0, 0, 1]);
    const PORT: MacAddr = MacAddr([2, 0, 0, 0, 0, 5]);

    fn valid(frame: &[u8]) -> bool {
        let Ok((hl, total)) = ipv4_tcp(frame) else {
            return false;
        };
        let ip = &frame[ETH..ETH + total];
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        checksum::checksum(&ip[..hl]) == 0
            && checksum::l4_checksum(src, dst, ip_proto::TCP, &ip[hl..]) == 0
    }

    proptest::proptest! {
        /// Whatever an instance or the namespace sends: an answer, never a panic, and a
        /// frame that crossed has valid checksums.
        #[test]
        fn any_bytes_cross_or_are_refused(mut f in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                                          vnet in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
                                          slot in 0u16..4) {
            let addresses = [Ipv4Addr::new(f.get(26).copied().unwrap_or(0), 0, 0, 1)];
            if let Ok(n) = to_service(&mut f.clone(), &vnet, slot, &addresses) {
                proptest::prop_assert!(n <= f.len());
            }
            if let Ok((_, n)) = from_service(&mut f, &vnet, |_| Some((PORT, ROUTER, &addresses[..]))) {
                proptest::prop_assert!(valid(&f[..n]));
            }
        }
    }

    #[test]
    fn aliases_name_a_port_and_an_address() {
        for (slot, index) in [(0, 0), (1, 5), (65535, 62)] {
            let a = alias(slot, index).unwrap();
            assert!(u32::from(a) >> 22 == ALIAS_BASE >> 22, "{a} in 100.64/10");
            assert_eq!(unalias(a), Some((slot, index)));
        }
        assert_eq!(alias(3, 63), None);
        assert_eq!(unalias(NEXT_HOP), None);
        assert_eq!(unalias(Ipv4Addr::new(10, 0, 0, 1)), None);
    }

    #[test]
    fn a_request_and_its_answer_cross_with_valid_checksums() {
        let me = Ipv4Addr::new(10, 0, 1, 5);
        let addresses = [Ipv4Addr::new(10, 0, 1, 4), me];
        let mut f =
            fixtures::tcp_frame(PORT, ROUTER, me, SERVICE_IP, 40000, 80, tcp::flags::SYN, 0);
        f.extend_from_slice(&[0; 6]); // Ethernet padding is cut
        let n = to_service(&mut f, &[0; 12], 7, &addresses).unwrap();
        f.truncate(n);
        assert!(valid(&f));
        assert_eq!(&f[0..6], &SERVICE_MAC.0);
        let from = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
        assert_eq!(unalias(from), Some((7, 1)));

        // the kernel's answer, to the alias
        let mut a = fixtures::tcp_frame(
            AGENT_MAC,
            SERVICE_MAC,
            SERVICE_IP,
            from,
            80,
            40000,
            tcp::flags::SYN | tcp::flags::ACK,
            0,
        );
        let lookup = |slot| (slot == 7).then_some((PORT, ROUTER, &addresses[..]));
        let (slot, n) = from_service(&mut a, &[0; 12], lookup).unwrap();
        assert_eq!((slot, n), (7, a.len()));
        assert!(valid(&a));
        assert_eq!((&a[0..6], &a[6..12]), (&PORT.0[..], &ROUTER.0[..]));
        assert_eq!(Ipv4Addr::new(a[30], a[31], a[32], a[33]), me);
    }

    #[test]
    fn strangers_and_other_protocols_are_refused() {
        let mut f = fixtures::tcp_frame(
            PORT,
            ROUTER,
            Ipv4Addr::new(10, 9, 9, 9),
            SERVICE_IP,
            1,
            80,
            2,
            0,
        );
        assert_eq!(
            to_service(&mut f.clone(), &[0; 12], 1, &[]),
            Err(Refused::Unknown)
        );
        let mut gso = [0u8; 12];
        gso[1] = 1;
        assert_eq!(
            to_service(&mut f, &gso, 1, &[Ipv4Addr::new(10, 9, 9, 9)]),
            Err(Refused::Segmented)
        );
        let mut u = fixtures::udp_frame(
            PORT,
            ROUTER,
            Ipv4Addr::new(10, 9, 9, 9),
            SERVICE_IP,
            1,
            80,
            b"x",
        );
        assert_eq!(
            to_service(&mut u, &[0; 12], 1, &[Ipv4Addr::new(10, 9, 9, 9)]),
            Err(Refused::NotTcp)
        );
        for cut in [0, 13, 20, 40] {
            let mut short = f[..cut].to_vec();
            assert!(to_service(&mut short, &[0; 12], 1, &[Ipv4Addr::new(10, 9, 9, 9)]).is_err());
        }
        let mut back = fixtures::tcp_frame(
            AGENT_MAC,
            SERVICE_MAC,
            SERVICE_IP,
            alias(9, 0).unwrap(),
            80,
            1,
            2,
            0,
        );
        assert_eq!(
            from_service(&mut back, &[0; 12], |_| None),
            Err(Refused::Unknown)
        );
    }
}
