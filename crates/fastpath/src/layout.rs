//! Keys and values of the flow maps, byte for byte as the BPF programs read them.
//!
//! Addresses and ports are kept in network byte order, exactly as they sit in the
//! packet, so the programs copy them into keys without swapping. Fields only user space
//! and the programs know (port ids, interface indexes, counters) are native-endian.

use std::net::{Ipv4Addr, Ipv6Addr};

use fort_dataplane::wire::geneve::{self, OffloadOption};

/// IP protocol number of TCP, the only protocol the fast path carries so far.
pub const IPPROTO_TCP: u8 = 6;
/// Geneve's UDP port (RFC 8926).
pub const GENEVE_PORT: u16 = geneve::UDP_PORT;
/// Fort's offload option (`fort_dataplane::wire::geneve::OffloadOption`): class, type,
/// data words.
pub const OPTION_CLASS: u16 = OffloadOption::CLASS;
pub const OPTION_TYPE: u8 = OffloadOption::TYPE;
pub const OPTION_WORDS: u8 = OffloadOption::WORDS;
/// Byte of the option's data after the virtio-net header (10 bytes; data bytes 10 and
/// 11 were padding): Fort's flags. The agent's engine path writes 0 (its option is
/// emitted with zero padding), so a flag says the frame came from a kernel fast path.
pub const OPTION_FLAGS: usize = OffloadOption::VNET_HDR_LEN;
/// Flag: the conduit program [2] of the sending host encapsulated the frame in its
/// kernel, so what the virtio-net header says is still to be done (the checksum, the
/// segmentation) is also in the frame's own kernel state, which travels with it (a
/// redirect into loopback or a veth keeps `CHECKSUM_PARTIAL` and the GSO state), or is
/// done before it leaves the machine (a NIC, or the stack for one without the offload,
/// checksums and segments it): a receiving fast path may deliver the inner frame as it
/// is. Without the flag the header describes bytes sent through a socket, whose kernel
/// state is gone: only the agent, writing the header into the TAP, delivers them right.
pub const OPTION_FLAG_KERNEL: u8 = 0x01;

/// A port: one instance interface the fast path serves, numbered by the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u32);

/// A TCP connection's 5-tuple in one direction (the protocol is implied: TCP).
///
/// Layout (16 bytes): `src[4] dst[4] src_port[2] dst_port[2] protocol[1] zero[3]`,
/// addresses and ports big-endian as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

impl FlowTuple {
    pub const LEN: usize = 16;

    /// The other direction of the same connection.
    pub fn reversed(&self) -> FlowTuple {
        FlowTuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.src.octets());
        b[4..8].copy_from_slice(&self.dst.octets());
        b[8..10].copy_from_slice(&self.src_port.to_be_bytes());
        b[10..12].copy_from_slice(&self.dst_port.to_be_bytes());
        b[12] = IPPROTO_TCP;
        b[13..16].fill(0);
    }

    fn read(b: &[u8]) -> FlowTuple {
        FlowTuple {
            src: Ipv4Addr::new(b[0], b[1], b[2], b[3]),
            dst: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            src_port: u16::from_be_bytes([b[8], b[9]]),
            dst_port: u16::from_be_bytes([b[10], b[11]]),
        }
    }

    /// The tuple of an Ethernet frame carrying IPv4 TCP (IHL 5), if it is one: for tests
    /// and the test kit (the agent takes flows from the engine, which parsed the frame).
    #[cfg(any(test, feature = "test-support"))]
    pub fn of_frame(frame: &[u8]) -> Option<FlowTuple> {
        if frame.len() < 54 || frame[12..14] != [0x08, 0x00] || frame[14] != 0x45 {
            return None;
        }
        if frame[23] != IPPROTO_TCP {
            return None;
        }
        // addresses then ports, as in a key
        Some(FlowTuple::read(&frame[26..38]))
    }
}

/// An IPv6 TCP connection's 5-tuple in one direction (the protocol is implied: TCP).
///
/// Layout (40 bytes): `src[16] dst[16] src_port[2] dst_port[2] protocol[1] zero[3]`,
/// addresses and ports big-endian as on the wire. IPv6 flows have maps of their own
/// (the `*6` keys): IPv4's keys stay 20 and 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowTuple6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

impl FlowTuple6 {
    pub const LEN: usize = 40;

    /// The other direction of the same connection.
    pub fn reversed(&self) -> FlowTuple6 {
        FlowTuple6 {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..16].copy_from_slice(&self.src.octets());
        b[16..32].copy_from_slice(&self.dst.octets());
        b[32..34].copy_from_slice(&self.src_port.to_be_bytes());
        b[34..36].copy_from_slice(&self.dst_port.to_be_bytes());
        b[36] = IPPROTO_TCP;
        b[37..40].fill(0);
    }

    fn read(b: &[u8]) -> FlowTuple6 {
        let addr = |o: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[o..o + 16]);
            Ipv6Addr::from(a)
        };
        FlowTuple6 {
            src: addr(0),
            dst: addr(16),
            src_port: u16::from_be_bytes([b[32], b[33]]),
            dst_port: u16::from_be_bytes([b[34], b[35]]),
        }
    }

    /// The tuple of an Ethernet frame carrying IPv6 with TCP as its next header, if it
    /// is one: for tests and the test kit.
    #[cfg(any(test, feature = "test-support"))]
    pub fn of_frame(frame: &[u8]) -> Option<FlowTuple6> {
        if frame.len() < 74 || frame[12..14] != [0x86, 0xdd] || frame[14] >> 4 != 6 {
            return None;
        }
        if frame[20] != IPPROTO_TCP {
            return None;
        }
        Some(FlowTuple6::read(&frame[22..58]))
    }
}

/// Key of the egress map: a flow leaving the instance on `port`.
///
/// Layout (20 bytes): `port[4] (native-endian) tuple[16]`. The programs on the port's
/// `eth0` and on its conduit build it with their own port id, so one port cannot use
/// another port's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EgressKey {
    pub port: PortId,
    pub flow: FlowTuple,
}

impl EgressKey {
    pub const LEN: usize = 4 + FlowTuple::LEN;

    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..4].copy_from_slice(&self.port.0.to_ne_bytes());
        self.flow.write(&mut b[4..]);
        b
    }

    pub fn from_bytes(b: &[u8]) -> EgressKey {
        EgressKey {
            port: PortId(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            flow: FlowTuple::read(&b[4..]),
        }
    }
}

/// Key of the IPv6 egress map: an IPv6 flow leaving the instance on `port`.
///
/// Layout (44 bytes): `port[4] (native-endian) tuple6[40]`, built as [`EgressKey`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EgressKey6 {
    pub port: PortId,
    pub flow: FlowTuple6,
}

impl EgressKey6 {
    pub const LEN: usize = 4 + FlowTuple6::LEN;

    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..4].copy_from_slice(&self.port.0.to_ne_bytes());
        self.flow.write(&mut b[4..]);
        b
    }

    pub fn from_bytes(b: &[u8]) -> EgressKey6 {
        EgressKey6 {
            port: PortId(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            flow: FlowTuple6::read(&b[4..]),
        }
    }
}

/// Key of the ingress map: a flow arriving from the underlay.
///
/// Layout (24 bytes): `vni[3] (big-endian) zero[1] outer_src[4] tuple[16]`. The outer
/// source address is the origin authentication: only the host the mapping names as the
/// inner source's home can hit the entry; a packet from anywhere else misses and goes
/// to the agent, which checks and counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IngressKey {
    pub vni: u32,
    pub outer_src: Ipv4Addr,
    pub flow: FlowTuple,
}

impl IngressKey {
    pub const LEN: usize = 8 + FlowTuple::LEN;

    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..3].copy_from_slice(&self.vni.to_be_bytes()[1..]);
        b[4..8].copy_from_slice(&self.outer_src.octets());
        self.flow.write(&mut b[8..]);
        b
    }

    pub fn from_bytes(b: &[u8]) -> IngressKey {
        IngressKey {
            vni: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            outer_src: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            flow: FlowTuple::read(&b[8..]),
        }
    }
}

/// Key of the IPv6 ingress map: an IPv6 flow arriving from the (IPv4) underlay.
///
/// Layout (48 bytes): `vni[3] (big-endian) zero[1] outer_src[4] tuple6[40]`; the outer
/// source is the origin authentication, as in [`IngressKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IngressKey6 {
    pub vni: u32,
    pub outer_src: Ipv4Addr,
    pub flow: FlowTuple6,
}

impl IngressKey6 {
    pub const LEN: usize = 8 + FlowTuple6::LEN;

    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..3].copy_from_slice(&self.vni.to_be_bytes()[1..]);
        b[4..8].copy_from_slice(&self.outer_src.octets());
        self.flow.write(&mut b[8..]);
        b
    }

    pub fn from_bytes(b: &[u8]) -> IngressKey6 {
        IngressKey6 {
            vni: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            outer_src: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            flow: FlowTuple6::read(&b[8..]),
        }
    }
}

/// Offsets inside the map values, shared with the programs.
pub(crate) mod off {
    /// Both values start with three u64 counters the programs update.
    pub const PACKETS: i16 = 0;
    pub const BYTES: i16 = 8;
    pub const LAST_SEEN: i16 = 16;
    /// Egress: the source MAC the instance must use (source check), 6 bytes + 2 zero.
    pub const EG_SRC_MAC: i16 = 24;
    /// Egress: the 80 bytes written in front of the inner IP header.
    pub const EG_HEADERS: i16 = 32;
    /// Ingress: inner destination and source MAC (12 bytes) + 4 zero.
    pub const IN_MACS: i16 = 24;
    /// Ingress: host-side ifindex of the destination port's conduit.
    pub const IN_IFINDEX: i16 = 40;
}

/// Bytes the egress program puts in front of the inner IP header: outer Ethernet (14)
/// + IPv4 (20) + UDP (8) + Geneve (8) + offload option (16) + inner Ethernet (14).
pub const ENCAP_HEADERS: usize = 80;
/// Of which the encapsulation proper (the room the program opens; the inner frame's
/// own Ethernet header becomes the outer one).
pub const ENCAP_ROOM: usize = ENCAP_HEADERS - 14;
pub const EGRESS_VALUE_LEN: usize = off::EG_HEADERS as usize + ENCAP_HEADERS;
pub const INGRESS_VALUE_LEN: usize = 48;

/// Offsets inside the encapsulated frame the egress program patches.
pub(crate) mod pkt {
    pub const IP_TOT_LEN: i16 = 16;
    pub const IP_CSUM: i16 = 24;
    pub const UDP_LEN: i16 = 38;
    /// The virtio-net header inside the offload option.
    pub const VNET: i16 = 54;
    pub const VNET_GSO_TYPE: i16 = VNET + 1;
    pub const VNET_HDR_LEN: i16 = VNET + 2;
    pub const VNET_GSO_SIZE: i16 = VNET + 4;
    /// Fort's flags byte of the option ([`super::OPTION_FLAGS`]).
    pub const OPTION_FLAGS: i16 = VNET + 10;
    const _: () = assert!(super::OPTION_FLAGS == 10);
}

/// What the egress program does with a flow's packets: the engine's decision for the
/// flow, precomputed by the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EgressAction {
    /// The instance's own MAC: frames with another source MAC are not fast-pathed.
    pub src_mac: [u8; 6],
    /// The inner Ethernet header as the engine writes it (e.g. router MAC swap).
    pub inner_dst_mac: [u8; 6],
    pub inner_src_mac: [u8; 6],
    /// Underlay: this host and the destination host.
    pub outer_src_mac: [u8; 6],
    pub outer_dst_mac: [u8; 6],
    pub underlay_src: Ipv4Addr,
    pub underlay_dst: Ipv4Addr,
    /// Outer UDP source port: the flow's entropy for the underlay's ECMP.
    pub udp_src_port: u16,
    pub vni: u32,
}

impl EgressAction {
    /// The 80-byte header template (see [`ENCAP_HEADERS`]). Fields the program fills per
    /// packet are zero here, except the IPv4 checksum field, which holds the
    /// ones'-complement sum of the header with total length and checksum zero (not
    /// inverted): the program adds the length, folds and inverts.
    pub fn headers(&self) -> [u8; ENCAP_HEADERS] {
        let mut h = [0u8; ENCAP_HEADERS];
        h[0..6].copy_from_slice(&self.outer_dst_mac);
        h[6..12].copy_from_slice(&self.outer_src_mac);
        h[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut h[14..34];
        ip[0] = 0x45;
        ip[6] = 0x40; // DF
        ip[8] = 64; // TTL
        ip[9] = 17; // UDP
        ip[12..16].copy_from_slice(&self.underlay_src.octets());
        ip[16..20].copy_from_slice(&self.underlay_dst.octets());
        let partial = ones_sum(ip);
        ip[10..12].copy_from_slice(&partial.to_be_bytes());
        h[34..36].copy_from_slice(&self.udp_src_port.to_be_bytes());
        h[36..38].copy_from_slice(&GENEVE_PORT.to_be_bytes());
        // Geneve: version 0, 4 words of options, protocol = Ethernet (0x6558), VNI
        h[42] = 4;
        h[44..46].copy_from_slice(&[0x65, 0x58]);
        h[46..49].copy_from_slice(&self.vni.to_be_bytes()[1..]);
        // the offload option carrying a virtio-net header: "checksum needed" at the
        // inner TCP checksum (the program adds GSO type/size and header length)
        h[50..52].copy_from_slice(&OPTION_CLASS.to_be_bytes());
        h[52] = OPTION_TYPE;
        h[53] = OPTION_WORDS;
        h[54] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
        h[60..62].copy_from_slice(&34u16.to_le_bytes()); // csum_start: inner L4
        h[62..64].copy_from_slice(&16u16.to_le_bytes()); // csum_offset: TCP check
        h[54 + OPTION_FLAGS] = OPTION_FLAG_KERNEL;
        h[66..72].copy_from_slice(&self.inner_dst_mac);
        h[72..78].copy_from_slice(&self.inner_src_mac);
        h[78..80].copy_from_slice(&[0x08, 0x00]);
        h
    }

    /// The header template for an IPv6 flow: as [`EgressAction::headers`], with the
    /// inner ethertype IPv6 and the checksum starting after the 40-byte IPv6 header.
    pub fn headers6(&self) -> [u8; ENCAP_HEADERS] {
        let mut h = self.headers();
        h[60..62].copy_from_slice(&54u16.to_le_bytes()); // csum_start: inner L4
        h[78..80].copy_from_slice(&[0x86, 0xdd]);
        h
    }

    /// The map value with zero counters.
    pub fn to_value(&self) -> [u8; EGRESS_VALUE_LEN] {
        self.value_with(&self.headers())
    }

    /// The IPv6 egress map's value with zero counters.
    pub fn to_value6(&self) -> [u8; EGRESS_VALUE_LEN] {
        self.value_with(&self.headers6())
    }

    fn value_with(&self, headers: &[u8; ENCAP_HEADERS]) -> [u8; EGRESS_VALUE_LEN] {
        let mut v = [0u8; EGRESS_VALUE_LEN];
        let m = off::EG_SRC_MAC as usize;
        v[m..m + 6].copy_from_slice(&self.src_mac);
        let h = off::EG_HEADERS as usize;
        v[h..h + ENCAP_HEADERS].copy_from_slice(headers);
        v
    }
}

/// What the ingress program does with a flow's packets: deliver them to a port with
/// this inner Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IngressAction {
    pub port: PortId,
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
}

impl IngressAction {
    /// The map value with zero counters, for a port whose conduit's host end has
    /// interface index `ifindex`.
    pub(crate) fn to_value(self, ifindex: u32) -> [u8; INGRESS_VALUE_LEN] {
        let mut v = [0u8; INGRESS_VALUE_LEN];
        let m = off::IN_MACS as usize;
        v[m..m + 6].copy_from_slice(&self.dst_mac);
        v[m + 6..m + 12].copy_from_slice(&self.src_mac);
        let i = off::IN_IFINDEX as usize;
        v[i..i + 4].copy_from_slice(&ifindex.to_ne_bytes());
        v
    }
}

/// What the programs counted for one flow entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    pub packets: u64,
    /// Bytes of inner Ethernet frames (a GSO frame counts all its bytes once).
    pub bytes: u64,
    /// `CLOCK_MONOTONIC` nanoseconds of the last packet (0: never); compare with
    /// [`crate::monotonic_ns`].
    pub last_seen_ns: u64,
}

impl FlowCounters {
    pub(crate) fn from_value(v: &[u8]) -> FlowCounters {
        let u = |o: i16| {
            let o = o as usize;
            u64::from_ne_bytes(v[o..o + 8].try_into().expect("8 bytes"))
        };
        FlowCounters {
            packets: u(off::PACKETS),
            bytes: u(off::BYTES),
            last_seen_ns: u(off::LAST_SEEN),
        }
    }

    #[cfg(test)]
    pub(crate) fn write(&self, v: &mut [u8]) {
        v[0..8].copy_from_slice(&self.packets.to_ne_bytes());
        v[8..16].copy_from_slice(&self.bytes.to_ne_bytes());
        v[16..24].copy_from_slice(&self.last_seen_ns.to_ne_bytes());
    }
}

/// Ones'-complement sum of big-endian 16-bit words, folded (not inverted).
pub fn ones_sum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u32::from(w);
    }
    loop {
        match u16::try_from(s) {
            Ok(folded) => return folded,
            Err(_) => s = (s & 0xffff) + (s >> 16),
        }
    }
}

/// What the egress program computes for the outer IPv4 checksum, step for step:
/// partial sum + total length, folded twice, inverted.
pub fn finish_ip_checksum(partial: u16, tot_len: u16) -> u16 {
    let mut s = u64::from(partial) + u64::from(tot_len);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !((s & 0xffff) as u16) // two folds leave 16 bits
}

/// Per-program event counters (a per-CPU array; index = variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Stat {
    /// eth0 egress: frame sent down the conduit (fast path).
    EgressHit = 0,
    /// eth0 egress: no entry (or not a candidate): left to the TAP and the agent.
    EgressMiss = 1,
    /// eth0 egress: an entry exists but the frame is too large to encapsulate.
    EgressTooBig = 2,
    /// Conduit: encapsulated and sent to the underlay.
    ConduitHit = 3,
    /// Conduit: no entry for a frame the instance sent into its conduit: dropped.
    ConduitDrop = 4,
    /// Conduit: a helper failed (headroom): dropped.
    ConduitError = 5,
    /// Underlay: decapsulated and delivered to a port.
    UnderlayHit = 6,
    /// Underlay: addressed to this host's Geneve port but no entry: left to the agent.
    UnderlayMiss = 7,
    /// Underlay: a helper failed: left to the agent.
    UnderlayError = 8,
    /// Underlay: the flow has an entry, but the frame carries an offload option without
    /// [`OPTION_FLAG_KERNEL`] (the sender's agent sent it through its socket, the checksum
    /// still to be done): left to the agent, which finishes it.
    UnderlayUnfinished = 9,
}

impl Stat {
    pub const ALL: [Stat; 10] = [
        Stat::EgressHit,
        Stat::EgressMiss,
        Stat::EgressTooBig,
        Stat::ConduitHit,
        Stat::ConduitDrop,
        Stat::ConduitError,
        Stat::UnderlayHit,
        Stat::UnderlayMiss,
        Stat::UnderlayError,
        Stat::UnderlayUnfinished,
    ];
    pub const COUNT: u32 = 16;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> FlowTuple {
        FlowTuple {
            src: Ipv4Addr::new(10, 9, 0, 1),
            dst: Ipv4Addr::new(10, 9, 0, 2),
            src_port: 40000,
            dst_port: 5201,
        }
    }

    #[test]
    fn egress_key_layout() {
        let k = EgressKey {
            port: PortId(7),
            flow: tuple(),
        };
        let b = k.to_bytes();
        assert_eq!(
            b,
            [
                7, 0, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2, 0x9c, 0x40, 0x14, 0x51, 6, 0, 0, 0
            ]
        );
        assert_eq!(EgressKey::from_bytes(&b), k);
    }

    #[test]
    fn ingress_key_layout() {
        let k = IngressKey {
            vni: 0x0a0b0c,
            outer_src: Ipv4Addr::new(127, 0, 0, 9),
            flow: tuple().reversed(),
        };
        let b = k.to_bytes();
        assert_eq!(
            b,
            [
                0x0a, 0x0b, 0x0c, 0, 127, 0, 0, 9, 10, 9, 0, 2, 10, 9, 0, 1, 0x14, 0x51, 0x9c,
                0x40, 6, 0, 0, 0
            ]
        );
        assert_eq!(IngressKey::from_bytes(&b), k);
    }

    #[test]
    fn the_tuple_of_a_frame_matches_the_key_bytes() {
        let mut f = vec![0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 9, 0, 1]);
        f[30..34].copy_from_slice(&[10, 9, 0, 2]);
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&5201u16.to_be_bytes());
        assert_eq!(FlowTuple::of_frame(&f), Some(tuple()));
        // the program copies packet bytes 26..38 verbatim into the key after the port
        let k = EgressKey {
            port: PortId(1),
            flow: tuple(),
        }
        .to_bytes();
        assert_eq!(&k[4..16], &f[26..38]);
        f[23] = 17;
        assert_eq!(FlowTuple::of_frame(&f), None);
    }

    fn action() -> EgressAction {
        EgressAction {
            src_mac: [2, 0, 0, 0, 0xa, 1],
            inner_dst_mac: [2, 0, 0, 0, 0xb, 1],
            inner_src_mac: [2, 0, 0, 0, 0xa, 1],
            outer_src_mac: [0; 6],
            outer_dst_mac: [0; 6],
            underlay_src: Ipv4Addr::new(127, 0, 0, 2),
            underlay_dst: Ipv4Addr::new(127, 0, 0, 3),
            udp_src_port: 51000,
            vni: 0x123456,
        }
    }

    #[test]
    fn egress_value_layout() {
        let v = action().to_value();
        assert_eq!(v.len(), 112);
        assert_eq!(&v[0..24], &[0u8; 24], "counters start at zero");
        assert_eq!(&v[24..30], &[2, 0, 0, 0, 0xa, 1]);
        let h = &v[32..];
        assert_eq!(&h[12..16], &[0x08, 0x00, 0x45, 0x00]);
        assert_eq!(&h[26..34], &[127, 0, 0, 2, 127, 0, 0, 3]);
        assert_eq!(&h[34..38], &[0xc7, 0x38, 0x17, 0xc1]);
        assert_eq!(&h[42..50], &[4, 0, 0x65, 0x58, 0x12, 0x34, 0x56, 0]);
        assert_eq!(&h[50..54], &[0xff, 0xf0, 0x01, 0x03]);
        // the virtio-net header, then Fort's flags: encapsulated in the kernel
        assert_eq!(&h[54..66], &[1, 0, 0, 0, 0, 0, 34, 0, 16, 0, 1, 0]);
        assert_eq!(usize::from(pkt::OPTION_FLAGS.unsigned_abs()), 64);
        assert_eq!(&h[66..80], &[2, 0, 0, 0, 0xb, 1, 2, 0, 0, 0, 0xa, 1, 8, 0]);
    }

    #[test]
    fn the_programs_checksum_arithmetic_is_the_real_checksum() {
        for tot_len in [20u16, 100, 1500, 9066, 65_535, 0x8000, 0xffff - 20] {
            for src in [[127, 0, 0, 2], [255, 255, 255, 255], [0, 0, 0, 0]] {
                let mut a = action();
                a.underlay_src = Ipv4Addr::from(src);
                let h = a.headers();
                let partial = u16::from_be_bytes([h[24], h[25]]);
                let mut ip = [0u8; 20];
                ip.copy_from_slice(&h[14..34]);
                ip[2..4].copy_from_slice(&tot_len.to_be_bytes());
                ip[10..12].fill(0);
                let want = !ones_sum(&ip);
                assert_eq!(finish_ip_checksum(partial, tot_len), want, "{tot_len}");
                ip[10..12].copy_from_slice(&want.to_be_bytes());
                assert_eq!(ones_sum(&ip), 0xffff, "a valid header sums to all ones");
            }
        }
    }

    fn tuple6() -> FlowTuple6 {
        FlowTuple6 {
            src: "2001:db8:1::a".parse().unwrap(),
            dst: "2001:db8:1::b".parse().unwrap(),
            src_port: 40000,
            dst_port: 5201,
        }
    }

    #[test]
    fn ipv6_key_layouts() {
        let k = EgressKey6 {
            port: PortId(7),
            flow: tuple6(),
        };
        let b = k.to_bytes();
        assert_eq!(b.len(), 44);
        assert_eq!(&b[0..4], &7u32.to_ne_bytes());
        assert_eq!(&b[4..20], &tuple6().src.octets());
        assert_eq!(&b[20..36], &tuple6().dst.octets());
        assert_eq!(&b[36..44], &[0x9c, 0x40, 0x14, 0x51, 6, 0, 0, 0]);
        assert_eq!(EgressKey6::from_bytes(&b), k);
        let k = IngressKey6 {
            vni: 0x0a0b0c,
            outer_src: Ipv4Addr::new(127, 0, 0, 9),
            flow: tuple6().reversed(),
        };
        let b = k.to_bytes();
        assert_eq!(b.len(), 48);
        assert_eq!(&b[0..8], &[0x0a, 0x0b, 0x0c, 0, 127, 0, 0, 9]);
        assert_eq!(&b[8..24], &tuple6().dst.octets());
        assert_eq!(&b[24..40], &tuple6().src.octets());
        assert_eq!(&b[40..48], &[0x14, 0x51, 0x9c, 0x40, 6, 0, 0, 0]);
        assert_eq!(IngressKey6::from_bytes(&b), k);
    }

    #[test]
    fn the_tuple_of_an_ipv6_frame_matches_the_key_bytes() {
        let mut f = vec![0u8; 74];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[20] = 6;
        f[22..38].copy_from_slice(&tuple6().src.octets());
        f[38..54].copy_from_slice(&tuple6().dst.octets());
        f[54..56].copy_from_slice(&40000u16.to_be_bytes());
        f[56..58].copy_from_slice(&5201u16.to_be_bytes());
        assert_eq!(FlowTuple6::of_frame(&f), Some(tuple6()));
        // the programs copy packet bytes 22..58 verbatim into the key after the port
        let k = EgressKey6 {
            port: PortId(1),
            flow: tuple6(),
        }
        .to_bytes();
        assert_eq!(&k[4..40], &f[22..58]);
        // an extension header first (hop-by-hop): not a fast-path frame
        f[20] = 0;
        assert_eq!(FlowTuple6::of_frame(&f), None);
    }

    #[test]
    fn ipv6_egress_value_layout() {
        let v = action().to_value6();
        let h = &v[32..];
        // the outer headers are IPv4's; the offload option's csum_start and the inner
        // ethertype are IPv6's
        assert_eq!(&h[..54], &action().headers()[..54]);
        assert_eq!(&h[54..66], &[1, 0, 0, 0, 0, 0, 54, 0, 16, 0, 1, 0]);
        assert_eq!(
            &h[66..80],
            &[2, 0, 0, 0, 0xb, 1, 2, 0, 0, 0, 0xa, 1, 0x86, 0xdd]
        );
        assert_eq!(&v[..32], &action().to_value()[..32]);
    }

    #[test]
    fn ingress_value_and_counters_layout() {
        let v = IngressAction {
            port: PortId(3),
            dst_mac: [2, 0, 0, 0, 0xb, 1],
            src_mac: [2, 0, 0, 0, 0xa, 1],
        }
        .to_value(42);
        assert_eq!(v.len(), 48);
        assert_eq!(&v[24..36], &[2, 0, 0, 0, 0xb, 1, 2, 0, 0, 0, 0xa, 1]);
        assert_eq!(&v[40..44], &42u32.to_ne_bytes());
        let mut v = v.to_vec();
        let c = FlowCounters {
            packets: 3,
            bytes: 4500,
            last_seen_ns: 99,
        };
        c.write(&mut v);
        assert_eq!(FlowCounters::from_value(&v), c);
        assert_eq!(&v[0..8], &3u64.to_ne_bytes());
    }
}
