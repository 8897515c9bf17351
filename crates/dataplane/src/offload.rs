//! Offload: what a kernel fast path needs to carry an established TCP flow's packets
//! exactly as the engine would, without the engine seeing them.
//!
//! The engine decides every flow's first packets; once a TCP flow is established and its
//! decision cached, the in-place process calls hand back, with each frame a cached
//! decision served, its [`CachedFlow`] (what the engine parsed: nothing is parsed twice),
//! and [`crate::Engine::offload`] describes that decision (which frames it applies to,
//! their new MACs, the outer headers or the local port). The agent installs it
//! in the kernel, reports the traffic the kernel carried with
//! [`crate::Engine::offloaded`] (so connection tracking and flow logs go on), and removes
//! it once [`crate::Engine::offload_current`] says the engine would decide otherwise
//! (a program change, the flow closing). SYN, FIN and RST always take the engine's path,
//! so it sees every change of a connection's state.
//!
//! IPv6 flows (inner IPv6, the underlay IPv4 as always) are offloaded the same way with
//! [`CachedFlow6`] and [`Offload6`] ([`crate::Engine::offload6`] and its companions):
//! the engine keeps IPv6's decisions and tracking apart from IPv4's.

use crate::overlay::OUTER_LEN;
use crate::packet::FiveTuple;
use crate::verdict::PortId;
use crate::wire::{MacAddr, ip_proto, tcp};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The flow of a frame a cached decision served, as the engine parsed it while deciding
/// the frame: what [`crate::Engine::offload`] needs to find that decision again, and what
/// a fast path's bookkeeping needs (its tuple), without parsing the frame a second time.
/// `A` is the inner address family: IPv4 (the default) or IPv6 ([`CachedFlow6`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedFlow<A = Ipv4Addr> {
    pub tuple: FiveTuple<A>,
    pub tcp_flags: u16,
    /// The IPv4 header carries options (it is longer than 20 bytes); for IPv6, the
    /// packet has extension headers.
    pub ip_options: bool,
    pub arrival: Arrival,
}

/// The flow of an IPv6 frame a cached decision served.
pub type CachedFlow6 = CachedFlow<Ipv6Addr>;

impl<A> CachedFlow<A> {
    /// TCP with none of SYN, FIN, RST: the only frames whose flow may be offloaded (the
    /// engine must see every change of a connection's state).
    #[inline]
    pub fn may_offload(&self) -> bool {
        let control = tcp::flags::SYN | tcp::flags::FIN | tcp::flags::RST;
        self.tuple.protocol == ip_proto::TCP && self.tcp_flags & control == 0
    }
}

/// Where a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Sent by the instance behind this port.
    Port(PortId),
    /// Received from the host `outer_src` in `vni`.
    Underlay { vni: u32, outer_src: Ipv4Addr },
}

/// One direction of one flow, as the fast path carries it (`A`: the inner address
/// family, as for [`CachedFlow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offload<A = Ipv4Addr> {
    pub tuple: FiveTuple<A>,
    /// The MACs the frame must carry to match (those the engine checked).
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// New (source, destination) MACs of the inner frame, if any.
    pub rewrite: Option<(MacAddr, MacAddr)>,
    pub action: OffloadAction,
}

/// One direction of one IPv6 flow.
pub type Offload6 = Offload<Ipv6Addr>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadAction {
    /// Sent by the instance behind `port` to another host: prepend `outer` (Ethernet,
    /// IPv4, UDP, Geneve; the IPv4 total length and checksum and the UDP length to patch).
    Encap {
        port: PortId,
        outer: [u8; OUTER_LEN],
        host: Ipv4Addr,
        vni: u32,
    },
    /// Received from `outer_src` (the host V2P names for the inner source) in `vni`,
    /// for the instance behind `port`.
    Deliver {
        vni: u32,
        outer_src: Ipv4Addr,
        port: PortId,
    },
}
