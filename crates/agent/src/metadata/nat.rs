//! Frames between instances and the metadata namespace's kernel. Instances of different
//! VPCs share addresses, so each (port, address) is seen in the namespace under an alias
//! of its own in 100.64.0.0/10: the port's slot and the address's index in the port's
//! list. The HTTP server learns the caller from the alias; answers find their way back
//! through it. Checksums are computed whole (metadata frames are few and small), so the
//! frames leave without offload marks.
//!
//! IPv6 (Nitro's `fd00:ec2::254` and `fd00:ec2::253`) goes the same way: each (port,
//! IPv6 address) is seen under an alias in [`ALIAS6_PREFIX`], routed back through
//! [`NEXT_HOP6`]; the services' addresses stay as they are.

use std::net::{Ipv4Addr, Ipv6Addr};

use fort_dataplane::wire::checksum;
use fort_dataplane::wire::{MacAddr, ip_proto};

/// The namespace's side of the link (`imds0`).
pub const SERVICE_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0xa9]);
/// The agent's side: the next hop the namespace routes the aliases through.
pub const AGENT_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0xaa]);
/// The metadata service's address.
pub const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The resolver's link-local address, as instances use it.
pub const RESOLVER_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 253);
/// Where the namespace answers what an instance sent to its VPC's resolver address
/// (base + 2, which differs per VPC): answers from it leave as from base + 2.
pub const VPC_RESOLVER_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 252);
/// The aliases: 100.64.0.0/10, 16 bits of port slot and 6 of address index.
pub const ALIAS_BASE: u32 = 0x6440_0000;
pub const ALIAS_PREFIX: u8 = 10;
/// The next hop the namespace routes the aliases through (outside them).
pub const NEXT_HOP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
/// The most addresses of one port an alias can name.
pub const MAX_ADDRESSES: usize = 63;
/// The IPv6 aliases: `fd66:6f72:74::/48` ("fort"), the port's slot and the address's
/// index in the last two groups.
pub const ALIAS6_PREFIX: Ipv6Addr = Ipv6Addr::new(0xfd66, 0x6f72, 0x0074, 0, 0, 0, 0, 0);
pub const ALIAS6_PREFIX_LEN: u8 = 48;
/// The next hop the namespace routes the IPv6 aliases through.
pub const NEXT_HOP6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// The metadata service's IPv6 address (Nitro instances').
pub const SERVICE_IP6: Ipv6Addr = fort_dataplane::route::METADATA6;
/// The resolver's IPv6 address.
pub const RESOLVER_IP6: Ipv6Addr = fort_dataplane::route::RESOLVER6;

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

/// The IPv6 alias of address `index` of the port in `slot`.
pub fn alias6(slot: u16, index: usize) -> Option<Ipv6Addr> {
    if index >= MAX_ADDRESSES {
        return None;
    }
    let index = u16::try_from(index).ok()?;
    let mut s = ALIAS6_PREFIX.segments();
    s[6] = slot;
    s[7] = index;
    Some(Ipv6Addr::from(s))
}

/// The (slot, address index) an IPv6 alias names.
pub fn unalias6(ip: Ipv6Addr) -> Option<(u16, usize)> {
    let s = ip.segments();
    let p = ALIAS6_PREFIX.segments();
    if s[..6] != p[..6] {
        return None;
    }
    let index = usize::from(s[7]);
    (index < MAX_ADDRESSES).then_some((s[6], index))
}

/// Why a frame did not cross.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not TCP or UDP over IPv4 or IPv6 (the services answer HTTP and DNS), or cut short.
    NotTcpOrUdp,
    /// A segmentation-offloaded frame: too large for a metadata request.
    Segmented,
    /// From an address the port does not have, or to an alias nobody holds.
    Unknown,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::NotTcpOrUdp => "link_local_not_tcp_or_udp",
            Refused::Segmented => "link_local_segmented",
            Refused::Unknown => "link_local_unknown_address",
        }
    }
}

/// The IPv4 packet of an Ethernet frame carrying TCP or UDP: (header length, total
/// length), checked.
fn ipv4_l4(frame: &[u8]) -> Result<(usize, usize), Refused> {
    if frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] || frame[ETH] >> 4 != 4 {
        return Err(Refused::NotTcpOrUdp);
    }
    let hl = usize::from(frame[ETH] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let fragment = u16::from_be_bytes([frame[ETH + 6], frame[ETH + 7]]) & 0x3fff != 0;
    let l4 = match frame[ETH + 9] {
        ip_proto::TCP => 20,
        ip_proto::UDP => 8,
        _ => return Err(Refused::NotTcpOrUdp),
    };
    if hl < 20 || total < hl + l4 || ETH + total > frame.len() || fragment {
        return Err(Refused::NotTcpOrUdp);
    }
    Ok((hl, total))
}

/// Rewrites the source and destination addresses and both checksums, whole.
fn rewrite(frame: &mut [u8], hl: usize, total: usize, src: Ipv4Addr, dst: Ipv4Addr) {
    let ip = &mut frame[ETH..ETH + total];
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip[10..12].fill(0);
    let c = checksum::checksum(&ip[..hl]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let protocol = ip[9];
    let at = if protocol == ip_proto::TCP { 16 } else { 6 };
    let l4 = &mut ip[hl..];
    l4[at..at + 2].fill(0);
    let mut c = checksum::l4_checksum(src, dst, protocol, l4);
    if protocol == ip_proto::UDP && c == 0 {
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The IPv6 packet of an Ethernet frame carrying TCP or UDP right after its header
/// (no extension headers: the services' traffic has none): its total length, checked.
fn ipv6_l4(frame: &[u8]) -> Result<usize, Refused> {
    const HL: usize = 40;
    if frame.len() < ETH + HL || frame[12..14] != [0x86, 0xdd] || frame[ETH] >> 4 != 6 {
        return Err(Refused::NotTcpOrUdp);
    }
    let payload = usize::from(u16::from_be_bytes([frame[ETH + 4], frame[ETH + 5]]));
    let l4 = match frame[ETH + 6] {
        ip_proto::TCP => 20,
        ip_proto::UDP => 8,
        _ => return Err(Refused::NotTcpOrUdp),
    };
    if payload < l4 || ETH + HL + payload > frame.len() {
        return Err(Refused::NotTcpOrUdp);
    }
    Ok(HL + payload)
}

/// Rewrites an IPv6 packet's source and destination and its TCP or UDP checksum, whole.
fn rewrite6(frame: &mut [u8], total: usize, src: Ipv6Addr, dst: Ipv6Addr) {
    let ip = &mut frame[ETH..ETH + total];
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    let protocol = ip[6];
    let at = if protocol == ip_proto::TCP { 16 } else { 6 };
    let l4 = &mut ip[40..];
    l4[at..at + 2].fill(0);
    let mut c = fort_dataplane::wire::ipv6::l4_checksum(src, dst, protocol, l4);
    if protocol == ip_proto::UDP && c == 0 {
        c = 0xffff;
    }
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn addr6(frame: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&frame[at..at + 16]);
    Ipv6Addr::from(o)
}

fn is_ipv6(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x86, 0xdd][..])
}

fn addr(frame: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3])
}

fn gso_type(vnet: &[u8]) -> u8 {
    vnet.get(1).copied().unwrap_or(0) & 0x7f
}

/// What the data path knows of the port a frame came from or goes to.
pub type Port<'a> = fort_dataplane::PortLink<'a>;

/// An instance's frame to a link-local service, toward the namespace: from the alias of
/// (`slot`, its source address), to the service (the VPC's resolver address becomes
/// [`VPC_RESOLVER_IP`]), between the agent's and the service's MACs. Answers the frame's
/// new length (padding cut).
pub fn to_service(
    frame: &mut [u8],
    vnet: &[u8],
    slot: u16,
    port: &Port<'_>,
) -> Result<usize, Refused> {
    if gso_type(vnet) != 0 {
        return Err(Refused::Segmented);
    }
    if is_ipv6(frame) {
        let total = ipv6_l4(frame)?;
        let src = addr6(frame, ETH + 8);
        let dst = addr6(frame, ETH + 24);
        let index = port
            .addresses6
            .iter()
            .position(|a| *a == src)
            .ok_or(Refused::Unknown)?;
        let from = alias6(slot, index).ok_or(Refused::Unknown)?;
        frame[0..6].copy_from_slice(&SERVICE_MAC.0);
        frame[6..12].copy_from_slice(&AGENT_MAC.0);
        rewrite6(frame, total, from, dst);
        return Ok(ETH + total);
    }
    let (hl, total) = ipv4_l4(frame)?;
    let src = addr(frame, ETH + 12);
    let dst = addr(frame, ETH + 16);
    let index = port
        .addresses
        .iter()
        .position(|a| *a == src)
        .ok_or(Refused::Unknown)?;
    let from = alias(slot, index).ok_or(Refused::Unknown)?;
    let to = if dst == port.resolver {
        VPC_RESOLVER_IP
    } else {
        dst
    };
    frame[0..6].copy_from_slice(&SERVICE_MAC.0);
    frame[6..12].copy_from_slice(&AGENT_MAC.0);
    rewrite(frame, hl, total, from, to);
    Ok(ETH + total)
}

/// A service's answer, toward its instance: the alias resolved by `port` (slot → what
/// the data path knows of it). Answers (slot, new length).
pub fn from_service<'a>(
    frame: &mut [u8],
    vnet: &[u8],
    port: impl Fn(u16) -> Option<Port<'a>>,
) -> Result<(u16, usize), Refused> {
    if gso_type(vnet) != 0 {
        return Err(Refused::Segmented);
    }
    if is_ipv6(frame) {
        let total = ipv6_l4(frame)?;
        let src = addr6(frame, ETH + 8);
        let dst = addr6(frame, ETH + 24);
        let (slot, index) = unalias6(dst).ok_or(Refused::Unknown)?;
        let p = port(slot).ok_or(Refused::Unknown)?;
        let to = *p.addresses6.get(index).ok_or(Refused::Unknown)?;
        frame[0..6].copy_from_slice(&p.mac.0);
        frame[6..12].copy_from_slice(&p.router_mac.0);
        rewrite6(frame, total, src, to);
        return Ok((slot, ETH + total));
    }
    let (hl, total) = ipv4_l4(frame)?;
    let src = addr(frame, ETH + 12);
    let dst = addr(frame, ETH + 16);
    let (slot, index) = unalias(dst).ok_or(Refused::Unknown)?;
    let p = port(slot).ok_or(Refused::Unknown)?;
    let to = *p.addresses.get(index).ok_or(Refused::Unknown)?;
    let from = if src == VPC_RESOLVER_IP {
        p.resolver
    } else {
        src
    };
    frame[0..6].copy_from_slice(&p.mac.0);
    frame[6..12].copy_from_slice(&p.router_mac.0);
    rewrite(frame, hl, total, from, to);
    Ok((slot, ETH + total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_dataplane::fixtures;
    use fort_dataplane::wire::tcp;

    const ROUTER: MacAddr = MacAddr([6, 0, 0, 0, 0, 1]);
    const PORT: MacAddr = MacAddr([2, 0, 0, 0, 0, 5]);
    const BASE2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn port(addresses: &[Ipv4Addr]) -> Port<'_> {
        Port {
            mac: PORT,
            addresses,
            addresses6: &[],
            router_mac: ROUTER,
            resolver: BASE2,
        }
    }

    fn valid6(frame: &[u8]) -> bool {
        let Ok(total) = ipv6_l4(frame) else {
            return false;
        };
        let ip = &frame[ETH..ETH + total];
        let (src, dst) = (addr6(ip, 8), addr6(ip, 24));
        fort_dataplane::wire::ipv6::l4_checksum(src, dst, ip[6], &ip[40..]) == 0
    }

    #[test]
    fn ipv6_aliases_name_a_port_and_an_address() {
        for (slot, index) in [(0, 0), (1, 5), (65535, 62)] {
            let a = alias6(slot, index).unwrap();
            assert!(
                ipnet::Ipv6Net::new(ALIAS6_PREFIX, ALIAS6_PREFIX_LEN)
                    .unwrap()
                    .contains(&a)
            );
            assert_eq!(unalias6(a), Some((slot, index)));
        }
        assert_eq!(alias6(3, 63), None);
        assert_eq!(unalias6(NEXT_HOP6), None);
        assert_eq!(unalias6(SERVICE_IP6), None);
    }

    /// A request to `fd00:ec2::254` and its answer, and a query to `fd00:ec2::253`, cross
    /// with valid checksums: from the alias of the sending address, back to it.
    #[test]
    fn ipv6_requests_and_answers_cross() {
        let me: Ipv6Addr = "2001:db8:1:1::a".parse().unwrap();
        let six = ["2001:db8:1:1::9".parse().unwrap(), me];
        let p = Port {
            addresses6: &six,
            ..port(&[])
        };
        let mut f =
            fixtures::tcp6_frame(PORT, ROUTER, me, SERVICE_IP6, 40000, 80, tcp::flags::SYN, 0);
        f.extend_from_slice(&[0; 6]); // padding is cut
        let n = to_service(&mut f, &[0; 12], 7, &p).unwrap();
        f.truncate(n);
        assert!(valid6(&f));
        assert_eq!(
            (&f[0..6], &f[6..12]),
            (&SERVICE_MAC.0[..], &AGENT_MAC.0[..])
        );
        let from = addr6(&f, ETH + 8);
        assert_eq!(unalias6(from), Some((7, 1)));
        assert_eq!(addr6(&f, ETH + 24), SERVICE_IP6);
        let mut a = fixtures::tcp6_frame(
            AGENT_MAC,
            SERVICE_MAC,
            SERVICE_IP6,
            from,
            80,
            40000,
            tcp::flags::SYN | tcp::flags::ACK,
            0,
        );
        let (slot, n) = from_service(&mut a, &[0; 12], |s| (s == 7).then_some(p)).unwrap();
        assert_eq!((slot, n), (7, a.len()));
        assert!(valid6(&a));
        assert_eq!((&a[0..6], &a[6..12]), (&PORT.0[..], &ROUTER.0[..]));
        assert_eq!((addr6(&a, ETH + 8), addr6(&a, ETH + 24)), (SERVICE_IP6, me));

        let mut q = fixtures::udp6_frame(PORT, ROUTER, me, RESOLVER_IP6, 5353, 53, b"query");
        to_service(&mut q, &[0; 12], 2, &p).unwrap();
        assert!(valid6(&q));
        assert_eq!(addr6(&q, ETH + 24), RESOLVER_IP6);
        // a stranger's source, ICMPv6, an alias nobody holds: refused
        let mut stranger = fixtures::udp6_frame(
            PORT,
            ROUTER,
            "2001:db8::99".parse().unwrap(),
            RESOLVER_IP6,
            1,
            53,
            b"q",
        );
        assert_eq!(
            to_service(&mut stranger, &[0; 12], 2, &p),
            Err(Refused::Unknown)
        );
        let mut icmp = q.clone();
        icmp[ETH + 6] = 58;
        assert_eq!(
            to_service(&mut icmp, &[0; 12], 2, &p),
            Err(Refused::NotTcpOrUdp)
        );
        let mut lost = fixtures::udp6_frame(
            AGENT_MAC,
            SERVICE_MAC,
            RESOLVER_IP6,
            alias6(9, 0).unwrap(),
            53,
            1,
            b"a",
        );
        assert_eq!(
            from_service(&mut lost, &[0; 12], |_| None),
            Err(Refused::Unknown)
        );
    }

    fn valid(frame: &[u8]) -> bool {
        if is_ipv6(frame) {
            return valid6(frame);
        }
        let Ok((hl, total)) = ipv4_l4(frame) else {
            return false;
        };
        let ip = &frame[ETH..ETH + total];
        let (src, dst) = (addr(ip, 12), addr(ip, 16));
        checksum::checksum(&ip[..hl]) == 0 && checksum::l4_checksum(src, dst, ip[9], &ip[hl..]) == 0
    }

    proptest::proptest! {
        /// Whatever an instance or the namespace sends: an answer, never a panic, and a
        /// frame that crossed has valid checksums.
        #[test]
        fn any_bytes_cross_or_are_refused(mut f in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                                          vnet in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
                                          slot in 0u16..4) {
            let addresses = [Ipv4Addr::new(f.get(26).copied().unwrap_or(0), 0, 0, 1)];
            let p = port(&addresses);
            if let Ok(n) = to_service(&mut f.clone(), &vnet, slot, &p) {
                proptest::prop_assert!(n <= f.len());
            }
            if let Ok((_, n)) = from_service(&mut f, &vnet, |_| Some(p)) {
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
        let p = port(&addresses);
        let mut f =
            fixtures::tcp_frame(PORT, ROUTER, me, SERVICE_IP, 40000, 80, tcp::flags::SYN, 0);
        f.extend_from_slice(&[0; 6]); // Ethernet padding is cut
        let n = to_service(&mut f, &[0; 12], 7, &p).unwrap();
        f.truncate(n);
        assert!(valid(&f));
        assert_eq!(&f[0..6], &SERVICE_MAC.0);
        let from = addr(&f, 26);
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
        let (slot, n) = from_service(&mut a, &[0; 12], |s| (s == 7).then_some(p)).unwrap();
        assert_eq!((slot, n), (7, a.len()));
        assert!(valid(&a));
        assert_eq!((&a[0..6], &a[6..12]), (&PORT.0[..], &ROUTER.0[..]));
        assert_eq!(addr(&a, 30), me);
    }

    #[test]
    fn a_query_to_the_vpcs_resolver_comes_back_from_it() {
        let me = Ipv4Addr::new(10, 0, 1, 5);
        let addresses = [me];
        let p = port(&addresses);
        let mut q = fixtures::udp_frame(PORT, ROUTER, me, BASE2, 5353, 53, b"query");
        to_service(&mut q, &[0; 12], 2, &p).unwrap();
        assert!(valid(&q));
        assert_eq!(addr(&q, 30), VPC_RESOLVER_IP);
        let from = addr(&q, 26);
        let mut a = fixtures::udp_frame(
            AGENT_MAC,
            SERVICE_MAC,
            VPC_RESOLVER_IP,
            from,
            53,
            5353,
            b"answer",
        );
        from_service(&mut a, &[0; 12], |_| Some(p)).unwrap();
        assert!(valid(&a));
        assert_eq!((addr(&a, 26), addr(&a, 30)), (BASE2, me));
        // the link-local address stays as it was
        let mut q = fixtures::udp_frame(PORT, ROUTER, me, RESOLVER_IP, 5353, 53, b"q");
        to_service(&mut q, &[0; 12], 2, &p).unwrap();
        assert_eq!(addr(&q, 30), RESOLVER_IP);
    }

    #[test]
    fn strangers_and_other_protocols_are_refused() {
        let stranger = Ipv4Addr::new(10, 9, 9, 9);
        let mine = [stranger];
        let mut f = fixtures::tcp_frame(PORT, ROUTER, stranger, SERVICE_IP, 1, 80, 2, 0);
        assert_eq!(
            to_service(&mut f.clone(), &[0; 12], 1, &port(&[])),
            Err(Refused::Unknown)
        );
        let mut gso = [0u8; 12];
        gso[1] = 1;
        assert_eq!(
            to_service(&mut f, &gso, 1, &port(&mine)),
            Err(Refused::Segmented)
        );
        let mut icmp = f.clone();
        icmp[23] = 1;
        assert_eq!(
            to_service(&mut icmp, &[0; 12], 1, &port(&mine)),
            Err(Refused::NotTcpOrUdp)
        );
        for cut in [0, 13, 20, 40] {
            let mut short = f[..cut].to_vec();
            assert!(to_service(&mut short, &[0; 12], 1, &port(&mine)).is_err());
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
