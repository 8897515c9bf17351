//! The host program: everything one host's engine needs to know, as plain data.
//!
//! The control plane derives one per host and ships it to the agent (serde), so it holds
//! ids as strings and addresses as std types, nothing compiled. The engine compiles it
//! ([`crate::engine::Engine::set_program`]) and keeps what did not change.

use crate::wire::MacAddr;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One host: its underlay identity, its ports (ENIs) and the VPCs they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct HostProgram {
    pub underlay: Underlay,
    pub ports: Vec<Port>,
    pub vpcs: Vec<Vpc>,
}

/// The host's own address on the underlay and the MACs for outer frames.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Underlay {
    pub address: Ipv4Addr,
    /// Source MAC of outer frames (only used when the agent sends whole frames).
    #[serde(default)]
    pub mac: MacAddr,
    /// Destination MAC of outer frames: the underlay next hop.
    #[serde(default)]
    pub next_hop_mac: MacAddr,
}

impl Default for Underlay {
    fn default() -> Underlay {
        Underlay {
            address: Ipv4Addr::UNSPECIFIED,
            mac: MacAddr::ZERO,
            next_hop_mac: MacAddr::ZERO,
        }
    }
}

/// An ENI attached to an instance on this host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Port {
    /// `eni-…`
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub mac: MacAddr,
    /// None for an interface of an IPv6-only subnet.
    pub primary_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub secondary_ips: Vec<Ipv4Addr>,
    /// `sg-…` ids, at most 16 in AWS.
    pub security_groups: Vec<String>,
    /// On by default; off for NAT instances and other middleboxes.
    #[serde(default = "yes")]
    pub source_dest_check: bool,
    #[serde(default)]
    pub conntrack: ConntrackTimeouts,
    /// The instance's host name for DHCP (option 12), e.g. `ip-10-0-1-17`.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The instance the ENI is attached to: its network namespace has this name.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The ENI's device index on the instance: 0 is `eth0`.
    #[serde(default)]
    pub device_index: u32,
    /// Whether a flow log records the port's traffic: only then does the engine keep
    /// per-flow counters for it (a host without flow logs pays nothing for them).
    #[serde(default)]
    pub flow_logs: bool,
    /// The ENI's IPv6 addresses (dual stack): what DHCPv6 hands out (the first) and
    /// what the source/dest check accepts.
    #[serde(default)]
    pub ipv6_addresses: Vec<Ipv6Addr>,
}

fn yes() -> bool {
    true
}

impl Port {
    /// Every private IPv4 address of the ENI, primary first.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.primary_ip
            .into_iter()
            .chain(self.secondary_ips.iter().copied())
    }
}

/// Idle timeouts of connection tracking, per ENI (EC2's
/// `ConnectionTrackingSpecification`), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConntrackTimeouts {
    /// 60–432000, default 432000 (5 days).
    pub tcp_established: u32,
    /// UDP flows that have seen a reply: 60–180, default 180.
    pub udp_stream: u32,
    /// UDP flows that have not: 30–60, default 30.
    pub udp: u32,
}

impl Default for ConntrackTimeouts {
    fn default() -> ConntrackTimeouts {
        ConntrackTimeouts {
            tcp_established: 432_000,
            udp_stream: 180,
            udp: 30,
        }
    }
}

/// A VPC this host serves (because one of its ports is in it, or it is peered).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vpc {
    /// `vpc-…`
    pub id: String,
    /// The 24-bit Geneve VNI.
    pub vni: u32,
    /// IPv4 CIDR blocks, primary first (the DNS resolver is primary base + 2).
    pub cidrs: Vec<Ipv4Net>,
    /// The MAC of the implicit router, answered for the gateway (.1) and written as the
    /// source of routed frames.
    pub router_mac: MacAddr,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub network_acls: Vec<NetworkAcl>,
    /// Every group used by a port here or referenced by such a group's rules.
    pub security_groups: Vec<SecurityGroup>,
    #[serde(default)]
    pub dhcp: DhcpOptions,
    /// V2P: where each private address of the VPC lives.
    pub mappings: Vec<Mapping>,
    /// Gateways whose traffic goes to an edge host: `igw-`, `nat-`, `vgw-`, `tgw-`, `vpce-`.
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// Active peering connections of this VPC; the peer VPC must be in the program too.
    #[serde(default)]
    pub peerings: Vec<Peering>,
    /// The VPC's available transit gateway attachments: a route to `tgw-…` leads into
    /// the gateway through the one of that gateway.
    #[serde(default)]
    pub transit_gateway_attachments: Vec<TransitGatewayAttachment>,
    /// The VPC's associated IPv6 blocks (Amazon-provided /56s).
    #[serde(default)]
    pub ipv6_cidrs: Vec<Ipv6Net>,
    /// V2P of the VPC's IPv6 addresses. They travel with the structure (an agent's
    /// `set_structure` installs them too): IPv6 mappings are few beside IPv4's.
    #[serde(default)]
    pub mappings_v6: Vec<Mapping6>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subnet {
    /// `subnet-…`
    pub id: String,
    /// None for an IPv6-only subnet.
    pub cidr: Option<Ipv4Net>,
    /// The explicit association, or the main table.
    pub route_table_id: String,
    pub network_acl_id: String,
    /// Its zone (`us-east-1a`): a transit gateway takes a packet in and out of a VPC
    /// through the attachment subnet of the sender's zone.
    #[serde(default)]
    pub availability_zone: String,
    /// Its IPv6 block (a /64), if it has one.
    #[serde(default)]
    pub ipv6_cidr: Option<Ipv6Net>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteTable {
    /// `rtb-…`
    pub id: String,
    pub routes: Vec<Route>,
    /// IPv6 routes: a space of their own (`0.0.0.0/0` does not cover IPv6).
    #[serde(default)]
    pub routes_v6: Vec<Route6>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route6 {
    pub destination: Ipv6Net,
    pub target: RouteTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    pub destination: Ipv4Net,
    pub target: RouteTarget,
}

/// Where a route sends traffic. Ids are kept so drops and edges can name them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "id")]
pub enum RouteTarget {
    /// The VPC itself: deliver by V2P.
    Local,
    InternetGateway(String),
    /// `eigw-…`: IPv6 out through the edge, and only the replies back in.
    EgressOnlyInternetGateway(String),
    NatGateway(String),
    /// A middlebox ENI (source/dest check off).
    NetworkInterface(String),
    VpcPeering(String),
    VpnGateway(String),
    VpcEndpoint(String),
    TransitGateway(String),
    /// A route whose target is gone: drops.
    Blackhole,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkAcl {
    /// `acl-…`
    pub id: String,
    /// Both directions; the implicit final deny (`*`, 32767) is not listed.
    pub entries: Vec<NaclEntry>,
    /// Entries with an IPv6 block (their own final deny, 32768, is not listed).
    #[serde(default)]
    pub entries_v6: Vec<NaclEntry6>,
}

/// A NACL entry with an IPv6 block (`Ipv6CidrBlock`); `icmp` holds ICMPv6's
/// (type, code) for protocol 58.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NaclEntry6 {
    pub rule_number: u16,
    pub egress: bool,
    pub protocol: i16,
    pub allow: bool,
    pub cidr: Ipv6Net,
    #[serde(default)]
    pub port_range: Option<(u16, u16)>,
    #[serde(default)]
    pub icmp: Option<(i16, i16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NaclEntry {
    /// 1–32766, evaluated ascending.
    pub rule_number: u16,
    pub egress: bool,
    /// `-1` for all, else an IP protocol number.
    pub protocol: i16,
    pub allow: bool,
    pub cidr: Ipv4Net,
    /// TCP/UDP destination ports (inclusive); ignored for other protocols.
    #[serde(default)]
    pub port_range: Option<(u16, u16)>,
    /// ICMP (type, code); `-1` is any.
    #[serde(default)]
    pub icmp: Option<(i16, i16)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// `sg-…`
    pub id: String,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
    /// Private IPs of every ENI (on any host) that carries this group: what a rule
    /// referencing the group matches.
    #[serde(default)]
    pub members: Vec<Ipv4Addr>,
    /// The IPv6 addresses of those ENIs: what a rule referencing the group matches in
    /// IPv6 packets.
    #[serde(default)]
    pub members_v6: Vec<Ipv6Addr>,
}

/// One allow rule. Ports as EC2 has them: for TCP/UDP a range, for ICMP `from` = type
/// and `to` = code (`-1` any), ignored for all (`-1`) and other protocols.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SgRule {
    pub protocol: i16,
    pub from_port: i32,
    pub to_port: i32,
    pub peer: SgPeer,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SgPeer {
    Cidr(Ipv4Net),
    /// `Ipv6Ranges`: matches IPv6 packets only.
    Cidr6(Ipv6Net),
    /// Another group (by id) of this VPC: matches its members' private IPs.
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DhcpOptions {
    /// Empty means no DNS servers (options set `default`).
    pub domain_name_servers: Vec<NameServer>,
    pub domain_name: Option<String>,
    /// Lease in seconds.
    pub lease_time: u32,
    #[serde(default)]
    pub ntp_servers: Vec<Ipv4Addr>,
    #[serde(default)]
    pub netbios_name_servers: Vec<Ipv4Addr>,
    /// 1, 2, 4 or 8 (AWS recommends 2: point-to-point).
    #[serde(default)]
    pub netbios_node_type: Option<u8>,
}

impl Default for DhcpOptions {
    /// The region's default set: AmazonProvidedDNS.
    fn default() -> DhcpOptions {
        DhcpOptions {
            domain_name_servers: vec![NameServer::AmazonProvidedDns],
            domain_name: Some("ec2.internal".into()),
            lease_time: 3600,
            ntp_servers: Vec::new(),
            netbios_name_servers: Vec::new(),
            netbios_node_type: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameServer {
    /// The VPC resolver at primary CIDR base + 2 (over DHCPv6: `fd00:ec2::253`).
    AmazonProvidedDns,
    Address(Ipv4Addr),
    /// An IPv6 server: handed out by DHCPv6 only.
    Address6(Ipv6Addr),
}

/// One V2P entry: (VPC, private IP) → (host, MAC, ENI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mapping {
    pub ip: Ipv4Addr,
    /// Underlay address of the host holding the ENI.
    pub host: Ipv4Addr,
    pub mac: MacAddr,
    pub eni_id: String,
    /// A host may send on behalf of addresses it does not own only for ENIs with the
    /// check off (middleboxes).
    #[serde(default = "yes")]
    pub source_dest_check: bool,
}

/// One IPv6 V2P entry: (VPC, IPv6 address) → (host, MAC, ENI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mapping6 {
    pub ip: Ipv6Addr,
    pub host: Ipv4Addr,
    pub mac: MacAddr,
    pub eni_id: String,
    #[serde(default = "yes")]
    pub source_dest_check: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    pub gateway_id: String,
    /// Underlay address of the edge host serving the gateway.
    pub host: Ipv4Addr,
    /// A NAT gateway's subnet (`subnet-…`): what enters the VPC through a transit
    /// gateway attachment and leaves by the NAT gateway (centralised egress) crosses
    /// its network ACL when it is not the attachment's subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Peering {
    /// `pcx-…`
    pub id: String,
    pub peer_vpc_id: String,
}

/// A VPC's attachment to a transit gateway and the gateway route table it is associated
/// with: the distributed form of the gateway, each host walking it for its own senders.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransitGatewayAttachment {
    /// `tgw-attach-…`
    pub id: String,
    /// `tgw-…`
    pub transit_gateway_id: String,
    /// Its subnets of the VPC, at most one per zone: where packets enter and leave the
    /// gateway, under those subnets' network ACLs.
    pub subnet_ids: Vec<String>,
    /// Appliance mode: one zone's subnet for both directions of a flow, chosen by the
    /// flow, so a stateful middlebox sees the whole of it.
    #[serde(default)]
    pub appliance_mode: bool,
    /// The gateway route table it is associated with (empty: none).
    #[serde(default)]
    pub route_table_id: String,
    /// The active and blackhole routes of that table.
    pub routes: Vec<TransitGatewayRoute>,
    /// Its IPv6 routes (a space of their own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes_v6: Vec<TransitGatewayRoute6>,
    /// The VPCs whose attachments' tables route to this one: their packets may arrive.
    #[serde(default)]
    pub senders: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransitGatewayRoute {
    pub destination: Ipv4Net,
    pub target: TransitGatewayTarget,
}

/// An IPv6 route of a transit gateway route table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransitGatewayRoute6 {
    pub destination: Ipv6Net,
    pub target: TransitGatewayTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitGatewayTarget {
    /// A VPC attachment: the packet enters that VPC through it.
    Vpc {
        attachment_id: String,
        vpc_id: String,
    },
    /// Another kind of attachment (peering, VPN): not carried by hosts, dropped.
    Unsupported(String),
    Blackhole,
    /// A peering attachment to another transit gateway: the packet crosses to the peer
    /// gateway, where the route table associated with the peering (`route_table_id`,
    /// empty: none) decides by its active and blackhole `routes` (`routes_v6` for an
    /// IPv6 packet). One hop only: there, a route to a VPC attachment leads into that
    /// VPC; any other route drops (a packet that came over a peering does not leave by
    /// another).
    Peering {
        attachment_id: String,
        route_table_id: String,
        routes: Vec<TransitGatewayRoute>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        routes_v6: Vec<TransitGatewayRoute6>,
    },
}
