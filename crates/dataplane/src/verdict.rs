//! What the engine decides for a frame: a value, never an error.

use crate::offload::{CachedFlow, CachedFlow6};
use std::net::Ipv4Addr;

/// Time, passed in by the caller: nanoseconds since an epoch of the caller's choice
/// (Unix time if flow-log timestamps are to be meaningful). The engine reads no clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const fn from_secs(s: u64) -> Time {
        Time(s * 1_000_000_000)
    }
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms * 1_000_000)
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    pub const fn nanos(self) -> u64 {
        self.0
    }
}

/// A port (ENI) of this host, stable across program changes for as long as the ENI stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

/// Where an in-place call (`Engine::process_*_in_place`) left the frame to send: in
/// the caller's buffer (the range, headers rewritten there) or in `out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    InPlace(std::ops::Range<usize>),
    Out,
}

/// What an in-place call (`Engine::process_*_in_place`) decided for one frame: the
/// verdict, where the frame to send is, and, when a cached decision served the frame,
/// its flow as the engine parsed it (for a kernel fast path: see [`crate::offload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub verdict: Verdict,
    pub output: Output,
    pub cached: Option<CachedFlow>,
    /// The same for an IPv6 frame.
    pub cached6: Option<CachedFlow6>,
}

impl Processed {
    /// A verdict whose frame (if any) is in `out`, decided without a cached decision.
    #[inline]
    pub(crate) fn out(verdict: Verdict) -> Processed {
        Processed {
            verdict,
            output: Output::Out,
            cached: None,
            cached6: None,
        }
    }
}

/// The decision for one frame. Where a frame goes out, the caller's `out` buffer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver `out` (the rewritten frame) to a local port's TAP.
    ToPort {
        port: PortId,
    },
    /// Send `out` back to the port it came from: an answer made by the engine (ARP,
    /// DHCP, DNS, ping of the gateway).
    Hairpin {
        port: PortId,
    },
    /// Send `out` (outer Ethernet/IPv4/UDP/Geneve + inner frame) to another host. A
    /// UDP-socket sender sends `out[overlay::GENEVE_OFFSET..]` to `host`:6081.
    ToUnderlay {
        host: Ipv4Addr,
        vni: u32,
    },
    /// As `ToUnderlay`, to the edge host serving a gateway (igw, nat, vgw, tgw, vpce).
    ToEdge {
        host: Ipv4Addr,
        vni: u32,
    },
    /// The frame is for a service the agent answers itself (never filtered by security
    /// groups or network ACLs, as in AWS): instance metadata, time sync. `out` holds
    /// the frame unchanged. (The resolver is the engine's own: a `Hairpin`.)
    Service {
        port: PortId,
        service: Service,
    },
    Drop {
        reason: DropReason,
    },
}

/// Link-local services answered by the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// 169.254.169.254.
    InstanceMetadata,
    /// 169.254.169.123.
    TimeSync,
    /// The VPC resolver (base + 2, 169.254.169.253), when the agent answers it
    /// ([`crate::EngineConfig::resolver_service`]).
    Resolver,
}

macro_rules! drop_reasons {
    ($($name:ident => $text:literal),* $(,)?) => {
        /// Why a frame was dropped. Counted per reason in [`crate::counters::Stats`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $($name),* }

        impl DropReason {
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name),*];
            pub const COUNT: usize = DropReason::ALL.len();

            /// A stable snake_case name for metrics labels.
            pub fn as_str(self) -> &'static str {
                match self { $(DropReason::$name => $text),* }
            }
        }
    };
}

drop_reasons! {
    Malformed => "malformed",
    BadChecksum => "bad_checksum",
    Fragment => "fragment",
    // an IPv6 packet to where Fort does not carry IPv6 yet (an edge, a peering, a
    // transit gateway)
    Ipv6 => "ipv6",
    // ARP or IPv4 from an interface of an IPv6-only subnet, which has no IPv4 at all
    Ipv4 => "ipv4",
    UnsupportedEthertype => "unsupported_ethertype",
    UnknownPort => "unknown_port",
    SourceMacMismatch => "source_mac_mismatch",
    SourceCheck => "source_check",
    DestinationCheck => "destination_check",
    BroadcastOrMulticast => "broadcast_or_multicast",
    ArpUnanswered => "arp_unanswered",
    DhcpIgnored => "dhcp_ignored",
    // neighbour discovery the host does not answer (duplicate address detection,
    // unknown targets) or keeps on the link (advertisements, redirects)
    NdpUnanswered => "ndp_unanswered",
    Dhcpv6Ignored => "dhcpv6_ignored",
    // to the resolver but no UDP query (a response, shorter than a header, TCP)
    DnsUnanswered => "dns_unanswered",
    LinkLocal => "link_local",
    RouterAddress => "router_address",
    UnknownDestinationMac => "unknown_destination_mac",
    SecurityGroupEgress => "security_group_egress",
    SecurityGroupIngress => "security_group_ingress",
    NaclEgress => "nacl_egress",
    NaclIngress => "nacl_ingress",
    NoRoute => "no_route",
    Blackhole => "blackhole",
    // a route to a transit gateway from a zone where the VPC's attachment has no subnet
    NoTransitGatewaySubnet => "no_transit_gateway_subnet",
    NoMapping => "no_mapping",
    NoEdge => "no_edge",
    ConntrackFull => "conntrack_full",
    NotGeneve => "not_geneve",
    NotForThisHost => "not_for_this_host",
    UnknownVni => "unknown_vni",
    AuthenticationFailed => "authentication_failed",
    NoSuchPort => "no_such_port",
    // encapsulated, the frame would pass 65,535 bytes of IPv4 (a TAP super-frame)
    TooLarge => "too_large",
    // the engine found its own state inconsistent (a table entry naming a VPC, port,
    // subnet, NACL or route node that is not there): the packet is dropped, never a
    // panic; any count here is a bug to report
    Internal => "internal",
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
