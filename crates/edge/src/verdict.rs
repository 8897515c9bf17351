//! What the edge decides for a packet: a value, never an error.

use fort_dataplane::wire::MacAddr;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The decision for one packet. Where something goes out, the caller's `out` buffer
/// holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `out` holds an IPv4 packet (no Ethernet header) for the outside network.
    ToInternet,
    /// `out` holds an Ethernet/IPv4 frame for the VPC numbered `vni`, addressed to the
    /// private address `dst`. The caller looks up V2P(VPC, `dst`) for the host (and
    /// MAC), writes the inner MACs ([`crate::set_inner_macs`]: the VPC router's MAC as
    /// source, the ENI's as destination) and encapsulates in Geneve to that host.
    ToVpc {
        vni: u32,
        dst: Ipv4Addr,
    },
    /// As `ToVpc`, for a packet out of a transit gateway's VPN attachment entering the
    /// VPC through the VPC's attachment: the caller writes `attachment` (the gateway MAC
    /// of that attachment) as the inner source MAC instead of the router's, so that the
    /// receiving host applies the attachment subnet's network ACL.
    ToVpcThroughAttachment {
        vni: u32,
        dst: Ipv4Addr,
        attachment: MacAddr,
    },
    /// `out` holds an Ethernet/IPv6 frame for the VPC numbered `vni`, addressed to its
    /// IPv6 address `dst`: as `ToVpc`, by IPv6 V2P.
    ToVpc6 {
        vni: u32,
        dst: Ipv6Addr,
    },
    /// `out` holds an IPv4 packet (no Ethernet header) for the tunnels of the VPN
    /// connection at index `connection` of the program's `vpn_connections`.
    ToVpn {
        connection: u32,
    },
    Drop {
        reason: DropReason,
    },
}

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $name:ident => $text:literal),* $(,)?) => {
        /// Why the edge dropped a packet. Counted per reason in [`Stats`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum DropReason { $($(#[$doc])* $name),* }

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
    /// Too short, or a field the format forbids.
    Malformed => "malformed",
    /// IPv6 to a gateway that does not carry it (NAT gateway, gateway endpoint, VPN).
    Ipv6 => "ipv6",
    /// IPv6 from the VPC whose source is none of the VPC's IPv6 addresses.
    Ipv6Source => "ipv6_source",
    /// IPv6 to an address the internet does not route (link-local, multicast,
    /// unspecified, loopback, the VPC's own), or from the internet to an address of no
    /// VPC served.
    Ipv6Destination => "ipv6_destination",
    /// From the internet through an egress-only internet gateway, with no connection
    /// the VPC opened: connections cannot be initiated from outside.
    EgressOnlyNoFlow => "egress_only_no_flow",
    /// The egress-only gateways' connection table holds its configured maximum.
    EgressOnlyTableFull => "egress_only_table_full",
    UnsupportedEthertype => "unsupported_ethertype",
    /// A Geneve VNI this edge serves no gateway for.
    UnknownVni => "unknown_vni",
    /// The VPC has no internet gateway attached.
    NoInternetGateway => "no_internet_gateway",
    /// AWS: outbound from a private address with no public mapping is dropped at the IGW.
    NoPublicMapping => "no_public_mapping",
    /// Inbound to an address that is no public IP of a served VPC.
    UnknownPublicIp => "unknown_public_ip",
    /// The frame names a gateway that this edge does not serve.
    UnknownGateway => "unknown_gateway",
    /// No gateway hint and the VPC has several NAT gateways: which one is unknown.
    AmbiguousGateway => "ambiguous_gateway",
    /// More than the IGW MTU (1500) with DF set: answered with ICMP "fragmentation needed".
    TooBig => "too_big",
    /// More than the IGW MTU without DF: the edge does not fragment (yet).
    NeedsFragmentation => "needs_fragmentation",
    /// The NAT gateway is not `available` (pending, deleting, deleted, failed).
    NatNotAvailable => "nat_not_available",
    /// AWS: a NAT gateway carries TCP, UDP and ICMP only.
    NatUnsupportedProtocol => "nat_unsupported_protocol",
    /// AWS: TCP and ICMP fragments are dropped at a NAT gateway (UDP fragments pass).
    NatFragment => "nat_fragment",
    /// A non-first UDP fragment whose first fragment was not seen.
    NatFragmentUnknown => "nat_fragment_unknown",
    /// ICMP from inside that is no echo request (errors, replies): not translated.
    NatIcmpNotQuery => "nat_icmp_not_query",
    /// Inbound with no flow: connections cannot be initiated from outside.
    NatNoFlow => "nat_no_flow",
    /// TCP from inside that is not a SYN and matches no live flow (idle timeout expired,
    /// gateway deleted): answered with a RST.
    NatFlowExpired => "nat_flow_expired",
    /// Every port 1024–65535 toward this (destination IP, port, protocol) is in use
    /// (CloudWatch `ErrorPortAllocation`).
    NatPortsExhausted => "nat_ports_exhausted",
    /// The flow table holds its configured maximum.
    NatTableFull => "nat_table_full",
    /// To a gateway endpoint, for an address outside its service's prefix list.
    EndpointDestination => "endpoint_destination",
    /// To a virtual private gateway, for an address none of its VPN connections' routes
    /// covers.
    NoVpnRoute => "no_vpn_route",
    /// From a VPN connection, to an address outside its VPC (or a connection gone).
    VpnDestination => "vpn_destination",
    /// A NAT gateway's reply to an address outside its VPC that no transit gateway
    /// table of that VPC's attachments sends into a VPC (centralised egress).
    TransitEgressNoRoute => "transit_egress_no_route",
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of the edge, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets translated VPC → internet by the internet gateway (1:1).
    pub igw_outbound: u64,
    /// Packets translated internet → VPC by the internet gateway (1:1).
    pub igw_inbound: u64,
    /// Packets source-NATed by a NAT gateway (then out through the IGW).
    pub nat_outbound: u64,
    /// Replies reverse-translated by a NAT gateway.
    pub nat_inbound: u64,
    pub nat_flows_created: u64,
    /// Flows removed after the idle timeout.
    pub nat_flows_expired: u64,
    /// Flows removed because their gateway went away or left `available`.
    pub nat_flows_broken: u64,
    /// TCP RSTs sent to the inside.
    pub nat_rst_sent: u64,
    /// ICMP "fragmentation needed" sent to the inside.
    pub icmp_too_big_sent: u64,
    pub bytes_outbound: u64,
    pub bytes_inbound: u64,
    /// Packets from the VPC into VPN tunnels, and from the tunnels into the VPC.
    pub vpn_outbound: u64,
    pub vpn_inbound: u64,
    /// IPv6 packets through internet gateways, out and in (not translated).
    pub igw_outbound6: u64,
    pub igw_inbound6: u64,
    /// IPv6 packets through egress-only internet gateways, out and (replies) in.
    pub eigw_outbound: u64,
    pub eigw_inbound: u64,
    pub eigw_flows_created: u64,
    pub eigw_flows_expired: u64,
    /// TCP connections forgotten on a RST, or when the linger after both FINs ended.
    pub eigw_flows_closed: u64,
    drops: [u64; DropReason::COUNT],
}

impl Stats {
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Every reason with its count (zeros included), for a metrics exporter.
    pub fn drops_by_reason(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.drops[r as usize]))
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }
}
