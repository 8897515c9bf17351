//! The edge program: plain data (serde) naming the gateways an edge host serves.
//!
//! The mapping service sends it as items, one per key:
//!
//! | key | item |
//! |---|---|
//! | `igw/<vpc>/<igw>` | [`InternetGatewayItem`]: an internet gateway attached to a VPC |
//! | `pub/<vpc>/<public-ip>` | [`PublicIpItem`]: a public or elastic IPv4 mapped 1:1 to an ENI's private IPv4 |
//! | `nat/<vpc>/<nat>` | [`NatGatewayItem`]: a public NAT gateway and its elastic IP |
//! | `eigw/<vpc>/<eigw>` | [`EgressOnlyInternetGatewayItem`]: an egress-only internet gateway (IPv6) |
//! | `vpn/<vpc>/<vpn>` | [`VpnConnectionItem`]: a Site-to-Site VPN connection's tunnels |
//! | `tgw-vpn/<vpc>/<vpn>` | [`TransitGatewayVpnRoutesItem`]: what a transit gateway VPN connection's table sends into the VPC |
//! | `tgw-egress/<vpc>/<attachment>` | [`TransitGatewayEgressRoutesItem`]: what an egress VPC's attachment table sends into the VPC (centralised egress) |
//!
//! The program is the set of items; [`EdgeProgram::apply`] takes one change at a time
//! and [`crate::Edge::set_program`] compiles the whole (diffed: NAT flows survive).
//!
//! Choices: a VPC is known to the edge through its gateways (the VNI and CIDRs travel
//! in the gateway items), so a public IP of a VPC without an attached internet gateway
//! carries no traffic, as in AWS. A NAT gateway's elastic IP is in its own item: the
//! NAT's traffic leaves through the VPC's internet gateway with that address as source
//! (AWS's NAT ENI EIP mapping), so the derivation need not (but may) also send a `pub/`
//! item for the NAT ENI; when it does, the NAT gateway wins for that address.

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub use fort_model::{
    DpdTimeoutAction, EncryptionAlgorithm, IkeVersion, IntegrityAlgorithm, StartupAction,
};

/// `igw/<vpc_id>/<igw_id>`: an internet gateway attached to a VPC (attachment state
/// `available`). Detaching it removes the item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InternetGatewayItem {
    /// `vpc-…`
    pub vpc_id: String,
    /// `igw-…`
    pub igw_id: String,
    /// The VPC's 24-bit Geneve VNI.
    pub vni: u32,
    /// The VPC's IPv4 CIDR blocks, primary first.
    pub cidrs: Vec<Ipv4Net>,
    /// The VPC's IPv6 blocks: their addresses are public as they are (no translation).
    #[serde(default)]
    pub ipv6_cidrs: Vec<Ipv6Net>,
}

/// `eigw/<vpc_id>/<eigw_id>`: an egress-only internet gateway of a VPC (attached from its
/// creation): IPv6 connections out, only their replies back in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EgressOnlyInternetGatewayItem {
    /// `vpc-…`
    pub vpc_id: String,
    /// `eigw-…`
    pub eigw_id: String,
    /// The VPC's 24-bit Geneve VNI.
    pub vni: u32,
    /// The VPC's IPv6 blocks.
    pub ipv6_cidrs: Vec<Ipv6Net>,
}

impl EgressOnlyInternetGatewayItem {
    pub fn key(&self) -> String {
        format!("eigw/{}/{}", self.vpc_id, self.eigw_id)
    }
}

/// `pub/<vpc_id>/<public_ip>`: a public IPv4 (auto-assigned or elastic) associated with
/// a private IPv4 of an ENI in the VPC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicIpItem {
    /// `vpc-…`
    pub vpc_id: String,
    pub public_ip: Ipv4Addr,
    pub private_ip: Ipv4Addr,
    /// `eni-…` holding `private_ip`.
    pub eni_id: String,
}

/// `nat/<vpc_id>/<nat_id>`: a public NAT gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NatGatewayItem {
    /// `vpc-…`
    pub vpc_id: String,
    /// `nat-…`
    pub nat_id: String,
    /// The VPC's 24-bit Geneve VNI.
    pub vni: u32,
    /// `subnet-…` (a public subnet) holding the NAT's ENI.
    pub subnet_id: String,
    /// The NAT ENI's private IPv4 in that subnet.
    pub private_ip: Ipv4Addr,
    /// The primary elastic IP.
    pub public_ip: Ipv4Addr,
    pub state: NatGatewayState,
    /// Secondary elastic IPs: each adds its own ports toward every destination.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_public_ips: Vec<Ipv4Addr>,
}

/// `vpce/<vpc_id>/<vpce_id>`: a gateway VPC endpoint (S3, DynamoDB) of a VPC: the
/// VPC's route tables send the service's prefix list here, and the edge source-NATs each
/// flow to [`ENDPOINT_SOURCE`] toward the service's addresses on the outside network,
/// where the service answers (needing no internet gateway, as in AWS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GatewayEndpointItem {
    /// `vpc-…`
    pub vpc_id: String,
    /// `vpce-…`
    pub vpce_id: String,
    /// The VPC's 24-bit Geneve VNI.
    pub vni: u32,
    /// The VPC's IPv4 CIDR blocks.
    pub cidrs: Vec<Ipv4Net>,
    /// The service's addresses (its AWS-managed prefix list's entries): the only
    /// destinations the endpoint carries.
    pub destinations: Vec<Ipv4Net>,
}

impl GatewayEndpointItem {
    pub fn key(&self) -> String {
        format!("vpce/{}/{}", self.vpc_id, self.vpce_id)
    }
}

/// The one outside address every gateway endpoint's flows leave from (a documentation
/// address beside the internet namespace's next hop, routed to the edge there): flows
/// are told apart by their translated ports.
pub const ENDPOINT_SOURCE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// `vpn/<vpc_id>/<vpn_connection_id>`: a Site-to-Site VPN connection whose virtual
/// private gateway is attached to the VPC. The edge terminates its two tunnels (IPsec,
/// in a namespace of the connection's own) and carries between them and the VPC the
/// packets that the VPC's route tables send to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VpnConnectionItem {
    /// `vpc-…`
    pub vpc_id: String,
    /// `vpn-…`
    pub vpn_connection_id: String,
    /// `vgw-…`: the route target whose frames the connection takes.
    pub vpn_gateway_id: String,
    pub vni: u32,
    /// The VPC's blocks: what the tunnels deliver into.
    pub cidrs: Vec<Ipv4Net>,
    pub customer_gateway_ip: Ipv4Addr,
    pub customer_asn: u64,
    pub amazon_asn: u64,
    pub static_routes_only: bool,
    /// A static connection's routes: the destinations it carries from the VPC.
    pub routes: Vec<Ipv4Net>,
    /// The traffic selectors: the customer side's network and the VPC side's.
    pub local_network: Ipv4Net,
    pub remote_network: Ipv4Net,
    pub tunnels: Vec<VpnTunnelItem>,
    /// At a transit gateway: the destinations its table sends elsewhere than into a VPC
    /// (blackholes, other attachments), dropped when they are the longest match.
    #[serde(default)]
    pub transit_drops: Vec<Ipv4Net>,
}

/// `tgw-vpn/<vpc_id>/<vpn_connection_id>`: what the route table of a transit gateway's VPN
/// attachment sends into one VPC attached to that gateway. Packets out of the
/// connection's tunnels whose destination is in `destinations` (the longest prefix over
/// all of the connection's items wins, as in the gateway's table) enter that VPC through
/// its attachment, so that the attachment subnet's network ACL judges them, as in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransitGatewayVpnRoutesItem {
    /// `vpc-…`
    pub vpc_id: String,
    /// `vpn-…`
    pub vpn_connection_id: String,
    pub vni: u32,
    /// The VPC's attachment, `tgw-attach-…`.
    pub attachment_id: String,
    pub destinations: Vec<Ipv4Net>,
}

impl TransitGatewayVpnRoutesItem {
    pub fn key(&self) -> String {
        format!("tgw-vpn/{}/{}", self.vpc_id, self.vpn_connection_id)
    }
}

/// `tgw-egress/<vpc_id>/<egress_attachment_id>`: centralised egress. The transit gateway
/// route table of the attachment of an egress VPC (one with NAT gateways, whose spokes
/// route `0.0.0.0/0` to the gateway) sends `destinations` to this VPC's attachment. The
/// edge sends the replies of the egress VPC's NAT gateways for those destinations (the
/// longest prefix over all of that VPC's items wins; `drops` are what the table sends
/// elsewhere) into this VPC, with the NAT gateway's MAC as the inner source, and the
/// receiving host walks the rest (the NAT subnet's route table and the ACLs on the way).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransitGatewayEgressRoutesItem {
    /// `vpc-…`: the VPC entered.
    pub vpc_id: String,
    pub vni: u32,
    /// Its attachment, `tgw-attach-…`.
    pub attachment_id: String,
    /// The egress VPC and its attachment, whose table this is.
    pub egress_vpc_id: String,
    pub egress_attachment_id: String,
    pub destinations: Vec<Ipv4Net>,
    #[serde(default)]
    pub drops: Vec<Ipv4Net>,
}

impl TransitGatewayEgressRoutesItem {
    pub fn key(&self) -> String {
        format!("tgw-egress/{}/{}", self.vpc_id, self.egress_attachment_id)
    }
}

/// One tunnel of a connection, with its IKE and IPsec options.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VpnTunnelItem {
    /// The AWS side's outside address, on the outside network.
    pub outside_ip: Ipv4Addr,
    /// The /30 inside the tunnel.
    pub inside_cidr: Ipv4Net,
    pub pre_shared_key: String,
    pub ike_versions: Vec<IkeVersion>,
    pub phase1_encryption: Vec<EncryptionAlgorithm>,
    pub phase2_encryption: Vec<EncryptionAlgorithm>,
    pub phase1_integrity: Vec<IntegrityAlgorithm>,
    pub phase2_integrity: Vec<IntegrityAlgorithm>,
    pub phase1_dh_groups: Vec<u8>,
    pub phase2_dh_groups: Vec<u8>,
    pub phase1_lifetime_seconds: u32,
    pub phase2_lifetime_seconds: u32,
    pub rekey_margin_time_seconds: u32,
    pub rekey_fuzz_percentage: u32,
    pub replay_window_size: u32,
    pub dpd_timeout_seconds: u32,
    pub dpd_timeout_action: DpdTimeoutAction,
    pub startup_action: StartupAction,
}

impl VpnConnectionItem {
    pub fn key(&self) -> String {
        format!("vpn/{}/{}", self.vpc_id, self.vpn_connection_id)
    }
}

/// AWS's `natGateway.state`. Only `available` translates; in any other state new flows
/// are dropped and TCP packets of old flows are answered with a RST (deleting a NAT
/// gateway breaks its flows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NatGatewayState {
    Pending,
    Available,
    Deleting,
    Deleted,
    Failed,
}

/// One item of the program, as the mapping service sends it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EdgeItem {
    InternetGateway(InternetGatewayItem),
    EgressOnlyInternetGateway(EgressOnlyInternetGatewayItem),
    PublicIp(PublicIpItem),
    NatGateway(NatGatewayItem),
    GatewayEndpoint(GatewayEndpointItem),
    VpnConnection(VpnConnectionItem),
    TransitGatewayVpnRoutes(TransitGatewayVpnRoutesItem),
    TransitGatewayEgressRoutes(TransitGatewayEgressRoutesItem),
}

impl InternetGatewayItem {
    pub fn key(&self) -> String {
        format!("igw/{}/{}", self.vpc_id, self.igw_id)
    }
}

impl PublicIpItem {
    pub fn key(&self) -> String {
        format!("pub/{}/{}", self.vpc_id, self.public_ip)
    }
}

impl NatGatewayItem {
    pub fn key(&self) -> String {
        format!("nat/{}/{}", self.vpc_id, self.nat_id)
    }

    /// How many public addresses the gateway translates to.
    pub fn address_count(&self) -> usize {
        1 + self.secondary_public_ips.len()
    }

    /// Its `i`th public address (modulo their number): the primary first.
    pub fn address(&self, i: usize) -> Ipv4Addr {
        match i % self.address_count() {
            0 => self.public_ip,
            k => self.secondary_public_ips[k - 1],
        }
    }

    pub fn has_address(&self, a: Ipv4Addr) -> bool {
        self.public_ip == a || self.secondary_public_ips.contains(&a)
    }
}

impl EdgeItem {
    /// The item's key: `igw/<vpc>/<igw>`, `pub/<vpc>/<public-ip>` or `nat/<vpc>/<nat>`.
    pub fn key(&self) -> String {
        match self {
            EdgeItem::InternetGateway(i) => i.key(),
            EdgeItem::EgressOnlyInternetGateway(i) => i.key(),
            EdgeItem::PublicIp(i) => i.key(),
            EdgeItem::NatGateway(i) => i.key(),
            EdgeItem::GatewayEndpoint(i) => i.key(),
            EdgeItem::VpnConnection(i) => i.key(),
            EdgeItem::TransitGatewayVpnRoutes(i) => i.key(),
            EdgeItem::TransitGatewayEgressRoutes(i) => i.key(),
        }
    }
}

/// Everything an edge host serves. Plain data; compile it with
/// [`crate::Edge::set_program`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeProgram {
    #[serde(default)]
    pub internet_gateways: Vec<InternetGatewayItem>,
    #[serde(default)]
    pub public_ips: Vec<PublicIpItem>,
    #[serde(default)]
    pub nat_gateways: Vec<NatGatewayItem>,
    #[serde(default)]
    pub gateway_endpoints: Vec<GatewayEndpointItem>,
    #[serde(default)]
    pub vpn_connections: Vec<VpnConnectionItem>,
    #[serde(default)]
    pub egress_only_internet_gateways: Vec<EgressOnlyInternetGatewayItem>,
    #[serde(default)]
    pub transit_gateway_vpn_routes: Vec<TransitGatewayVpnRoutesItem>,
    #[serde(default)]
    pub transit_gateway_egress_routes: Vec<TransitGatewayEgressRoutesItem>,
}

impl EdgeProgram {
    /// The program made of `items` (a later item with the same key replaces an earlier).
    pub fn from_items(items: impl IntoIterator<Item = EdgeItem>) -> EdgeProgram {
        let mut by_key = BTreeMap::new();
        for i in items {
            by_key.insert(i.key(), i);
        }
        let mut p = EdgeProgram::default();
        for (_, i) in by_key {
            p.push(i);
        }
        p
    }

    /// Applies one change from the mapping service: `Some(item)` upserts the item under
    /// `key`, `None` deletes the key. Keys that name no item kind are ignored.
    pub fn apply(&mut self, key: &str, item: Option<EdgeItem>) {
        self.internet_gateways.retain(|i| i.key() != key);
        self.public_ips.retain(|i| i.key() != key);
        self.nat_gateways.retain(|i| i.key() != key);
        self.gateway_endpoints.retain(|i| i.key() != key);
        self.vpn_connections.retain(|i| i.key() != key);
        self.egress_only_internet_gateways
            .retain(|i| i.key() != key);
        self.transit_gateway_vpn_routes.retain(|i| i.key() != key);
        self.transit_gateway_egress_routes
            .retain(|i| i.key() != key);
        if let Some(i) = item {
            self.push(i);
        }
    }

    fn push(&mut self, i: EdgeItem) {
        match i {
            EdgeItem::InternetGateway(i) => self.internet_gateways.push(i),
            EdgeItem::EgressOnlyInternetGateway(i) => self.egress_only_internet_gateways.push(i),
            EdgeItem::PublicIp(i) => self.public_ips.push(i),
            EdgeItem::NatGateway(i) => self.nat_gateways.push(i),
            EdgeItem::GatewayEndpoint(i) => self.gateway_endpoints.push(i),
            EdgeItem::VpnConnection(i) => self.vpn_connections.push(i),
            EdgeItem::TransitGatewayVpnRoutes(i) => self.transit_gateway_vpn_routes.push(i),
            EdgeItem::TransitGatewayEgressRoutes(i) => self.transit_gateway_egress_routes.push(i),
        }
    }

    pub fn items(&self) -> impl Iterator<Item = EdgeItem> + '_ {
        self.internet_gateways
            .iter()
            .cloned()
            .map(EdgeItem::InternetGateway)
            .chain(self.public_ips.iter().cloned().map(EdgeItem::PublicIp))
            .chain(self.nat_gateways.iter().cloned().map(EdgeItem::NatGateway))
            .chain(
                self.gateway_endpoints
                    .iter()
                    .cloned()
                    .map(EdgeItem::GatewayEndpoint),
            )
            .chain(
                self.vpn_connections
                    .iter()
                    .cloned()
                    .map(EdgeItem::VpnConnection),
            )
            .chain(
                self.egress_only_internet_gateways
                    .iter()
                    .cloned()
                    .map(EdgeItem::EgressOnlyInternetGateway),
            )
            .chain(
                self.transit_gateway_vpn_routes
                    .iter()
                    .cloned()
                    .map(EdgeItem::TransitGatewayVpnRoutes),
            )
            .chain(
                self.transit_gateway_egress_routes
                    .iter()
                    .cloned()
                    .map(EdgeItem::TransitGatewayEgressRoutes),
            )
    }
}

/// The MAC naming a gateway in frames sent to the edge: the engine writes it (see
/// `fort_dataplane::overlay::gateway_mac`).
pub use fort_dataplane::overlay::gateway_mac;
