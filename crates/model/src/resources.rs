//! The resources of a region, as the control plane stores them. Field names follow the
//! EC2 API; everything derived (states computed from other resources, address counts)
//! is left out and computed where it is shown.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::dns_name::PrivateDnsNameOptions;
use crate::{
    AllocationId, AttachmentId, AttachmentStatus, CapacityReservationId, CarrierGatewayId,
    CidrBlockState, ConnectivityType, DedicatedHostId, DhcpOptionsId, EgressOnlyInternetGatewayId,
    EipAssociationId, ErrorCode, FleetId, FleetState, FleetType, HostAffinity, HostState,
    IamInstanceProfileAssociationId, ImageId, ImageState, InstanceId, InstanceState,
    InternetGatewayId, InterruptionBehavior, IpProtocol, KeyPairId, Kind, LaunchTemplateId,
    LocalGatewayId, MarketType, Millis, NatGatewayId, NatGatewayState, NetworkAclAssociationId,
    NetworkAclId, NetworkInterfaceId, OnOff, PeeringStatus, PlacementGroupId, ReservationId,
    RouteOrigin, RouteTableAssociationId, RouteTableId, SecurityGroupId, SecurityGroupRuleId,
    SpotAllocationStrategy, SpotFleetRequestId, SpotFleetRequestState, SpotFleetType,
    SpotInstanceRequestId, SpotInstanceType, SpotRequestState, SubnetCidrAssociationId,
    SubnetCidrReservationId, SubnetId, TransitGatewayId, VolumeId, VpcCidrAssociationId,
    VpcEndpointId, VpcId, VpcPeeringConnectionId, VpnGatewayId,
};

/// User tags: key → value, ordered by key as EC2 lists them.
pub type Tags = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: VpcId,
    /// The VPC's number on the underlay: the Geneve VNI, unique across the whole installation.
    pub vni: u32,
    /// Primary block first, then secondary blocks in the order they were added.
    pub cidr_blocks: Vec<VpcCidrBlock>,
    /// IPv6 blocks, in the order they were added (addressed, not yet forwarded).
    #[serde(default)]
    pub ipv6_cidr_blocks: Vec<VpcIpv6CidrBlock>,
    /// `None`: no options (the API's `default`, which rows store).
    #[serde(with = "dhcp_options_ref")]
    pub dhcp_options_id: Option<DhcpOptionsId>,
    pub instance_tenancy: String,
    pub is_default: bool,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub enable_network_address_usage_metrics: bool,
    pub main_route_table_id: RouteTableId,
    pub default_network_acl_id: NetworkAclId,
    pub default_security_group_id: SecurityGroupId,
    pub tags: Tags,
    /// ClassicLink, which EC2 still answers for (there is no EC2-Classic to link in Fort).
    #[serde(default, skip_serializing_if = "is_false")]
    pub classic_link_enabled: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub classic_link_dns_supported: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// A VPC's DHCP options as rows store them: the set's id, or `default` for none.
mod dhcp_options_ref {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::DhcpOptionsId;

    pub fn serialize<S: Serializer>(id: &Option<DhcpOptionsId>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id.as_ref().map_or("default", |d| d.as_str()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DhcpOptionsId>, D::Error> {
        let text = String::deserialize(d)?;
        Ok((text != "default").then(|| DhcpOptionsId::stored(text)))
    }
}

impl Vpc {
    /// The DHCP options id as the API shows it (`default` for none).
    pub fn dhcp_options_text(&self) -> &str {
        self.dhcp_options_id
            .as_ref()
            .map_or("default", |d| d.as_str())
    }

    pub fn primary_cidr(&self) -> Ipv4Net {
        self.cidr_blocks[0].cidr
    }

    /// The blocks currently associated.
    pub fn cidrs(&self) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.cidr_blocks
            .iter()
            .filter(|b| b.state == CidrBlockState::Associated)
            .map(|b| b.cidr)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcCidrBlock {
    pub association_id: VpcCidrAssociationId,
    pub cidr: Ipv4Net,
    /// Disassociated blocks are kept briefly so Describe shows them, as EC2 does.
    pub state: CidrBlockState,
}

impl Vpc {
    /// The IPv6 blocks currently associated.
    pub fn ipv6_cidrs(&self) -> impl Iterator<Item = Ipv6Net> + '_ {
        self.ipv6_cidr_blocks
            .iter()
            .filter(|b| b.state == CidrBlockState::Associated)
            .map(|b| b.cidr)
    }
}

/// An IPv6 block of a VPC: Amazon-provided (pool `Amazon`) or chosen by the caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcIpv6CidrBlock {
    pub association_id: VpcCidrAssociationId,
    pub cidr: Ipv6Net,
    pub state: CidrBlockState,
    /// `Amazon` for an Amazon-provided block; none for a block the caller chose.
    pub pool: Option<String>,
    /// Where the block is advertised from: the region's name.
    pub network_border_group: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: SubnetId,
    pub vpc_id: VpcId,
    /// `None`: an IPv6-only subnet (EC2's `Ipv6Native`), whose interfaces have no IPv4
    /// address.
    pub cidr: Option<Ipv4Net>,
    /// IPv6 blocks (one associated at a time; disassociated ones shown briefly).
    #[serde(default)]
    pub ipv6_cidr_blocks: Vec<SubnetIpv6CidrBlock>,
    pub availability_zone: String,
    pub availability_zone_id: String,
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    pub assign_ipv6_address_on_creation: bool,
    pub enable_dns64: bool,
    /// The hostname options its instances launch with (`PrivateDnsNameOptionsOnLaunch`).
    #[serde(flatten)]
    pub private_dns_name_options_on_launch: PrivateDnsNameOptions,
    pub tags: Tags,
}

impl Subnet {
    /// The subnet's associated IPv6 block, if it has one.
    pub fn ipv6_cidr(&self) -> Option<Ipv6Net> {
        self.ipv6_cidr_blocks
            .iter()
            .find(|b| b.state == CidrBlockState::Associated)
            .map(|b| b.cidr)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetIpv6CidrBlock {
    pub association_id: SubnetCidrAssociationId,
    pub cidr: Ipv6Net,
    pub state: CidrBlockState,
}

/// A range of a subnet's addresses kept from automatic assignment (`prefix`: for
/// prefix delegation; `explicit`: assigned only by hand).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetCidrReservation {
    pub id: SubnetCidrReservationId,
    pub subnet_id: SubnetId,
    pub cidr: ipnet::IpNet,
    /// `prefix` or `explicit`.
    pub reservation_type: String,
    pub description: Option<String>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    pub id: RouteTableId,
    pub vpc_id: VpcId,
    pub routes: Vec<Route>,
    pub associations: Vec<RouteTableAssociation>,
    /// Gateway associations undone by DisassociateRouteTable, which EC2 goes on listing
    /// (state `disassociated`) until the gateway is associated with the table again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disassociated: Vec<RouteTableAssociation>,
    pub propagating_vgws: Vec<String>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: RouteDestination,
    pub target: RouteTarget,
    pub origin: RouteOrigin,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RouteDestination {
    Cidr(Ipv4Net),
    Ipv6Cidr(String),
    PrefixList(String),
}

/// Where a route sends traffic, by the kind of its target. The API's `gatewayId` names an
/// internet gateway, a VPN gateway or a gateway VPC endpoint; each is its own variant here.
///
/// Stored as [`StoredRouteTarget`], the form rows have always had (internet and VPN
/// gateways as `Gateway`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredRouteTarget", into = "StoredRouteTarget")]
pub enum RouteTarget {
    Local,
    InternetGateway(InternetGatewayId),
    VpnGateway(VpnGatewayId),
    NatGateway(NatGatewayId),
    NetworkInterface(NetworkInterfaceId),
    Instance(InstanceId),
    VpcPeeringConnection(VpcPeeringConnectionId),
    EgressOnlyInternetGateway(EgressOnlyInternetGatewayId),
    TransitGateway(TransitGatewayId),
    VpcEndpoint(VpcEndpointId),
    CarrierGateway(CarrierGatewayId),
    LocalGateway(LocalGatewayId),
}

impl RouteTarget {
    /// The id of the resource the route goes to (`None` for `local`).
    pub fn id(&self) -> Option<&str> {
        match self {
            RouteTarget::Local => None,
            RouteTarget::InternetGateway(x) => Some(x),
            RouteTarget::VpnGateway(x) => Some(x),
            RouteTarget::NatGateway(x) => Some(x),
            RouteTarget::NetworkInterface(x) => Some(x),
            RouteTarget::Instance(x) => Some(x),
            RouteTarget::VpcPeeringConnection(x) => Some(x),
            RouteTarget::EgressOnlyInternetGateway(x) => Some(x),
            RouteTarget::TransitGateway(x) => Some(x),
            RouteTarget::VpcEndpoint(x) => Some(x),
            RouteTarget::CarrierGateway(x) => Some(x),
            RouteTarget::LocalGateway(x) => Some(x),
        }
    }
}

/// A route target as rows store it: the API's parameter it came from, and the id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredRouteTarget {
    Local,
    /// An internet gateway, a VPN gateway or a gateway VPC endpoint (`gatewayId`).
    Gateway(String),
    NatGateway(NatGatewayId),
    NetworkInterface(NetworkInterfaceId),
    Instance(InstanceId),
    VpcPeeringConnection(VpcPeeringConnectionId),
    EgressOnlyInternetGateway(EgressOnlyInternetGatewayId),
    TransitGateway(TransitGatewayId),
    VpcEndpoint(VpcEndpointId),
    CarrierGateway(CarrierGatewayId),
    LocalGateway(LocalGatewayId),
}

impl From<StoredRouteTarget> for RouteTarget {
    fn from(t: StoredRouteTarget) -> Self {
        match t {
            StoredRouteTarget::Local => RouteTarget::Local,
            StoredRouteTarget::Gateway(id) => match Kind::of(&id) {
                Some(Kind::VpnGateway) => RouteTarget::VpnGateway(VpnGatewayId::stored(id)),
                Some(Kind::VpcEndpoint) => RouteTarget::VpcEndpoint(VpcEndpointId::stored(id)),
                _ => RouteTarget::InternetGateway(InternetGatewayId::stored(id)),
            },
            StoredRouteTarget::NatGateway(id) => RouteTarget::NatGateway(id),
            StoredRouteTarget::NetworkInterface(id) => RouteTarget::NetworkInterface(id),
            StoredRouteTarget::Instance(id) => RouteTarget::Instance(id),
            StoredRouteTarget::VpcPeeringConnection(id) => RouteTarget::VpcPeeringConnection(id),
            StoredRouteTarget::EgressOnlyInternetGateway(id) => {
                RouteTarget::EgressOnlyInternetGateway(id)
            }
            StoredRouteTarget::TransitGateway(id) => RouteTarget::TransitGateway(id),
            StoredRouteTarget::VpcEndpoint(id) => RouteTarget::VpcEndpoint(id),
            StoredRouteTarget::CarrierGateway(id) => RouteTarget::CarrierGateway(id),
            StoredRouteTarget::LocalGateway(id) => RouteTarget::LocalGateway(id),
        }
    }
}

impl From<RouteTarget> for StoredRouteTarget {
    fn from(t: RouteTarget) -> Self {
        match t {
            RouteTarget::Local => StoredRouteTarget::Local,
            RouteTarget::InternetGateway(id) => StoredRouteTarget::Gateway(id.into_string()),
            RouteTarget::VpnGateway(id) => StoredRouteTarget::Gateway(id.into_string()),
            RouteTarget::NatGateway(id) => StoredRouteTarget::NatGateway(id),
            RouteTarget::NetworkInterface(id) => StoredRouteTarget::NetworkInterface(id),
            RouteTarget::Instance(id) => StoredRouteTarget::Instance(id),
            RouteTarget::VpcPeeringConnection(id) => StoredRouteTarget::VpcPeeringConnection(id),
            RouteTarget::EgressOnlyInternetGateway(id) => {
                StoredRouteTarget::EgressOnlyInternetGateway(id)
            }
            RouteTarget::TransitGateway(id) => StoredRouteTarget::TransitGateway(id),
            RouteTarget::VpcEndpoint(id) => StoredRouteTarget::VpcEndpoint(id),
            RouteTarget::CarrierGateway(id) => StoredRouteTarget::CarrierGateway(id),
            RouteTarget::LocalGateway(id) => StoredRouteTarget::LocalGateway(id),
        }
    }
}

/// The gateway of a route table's edge association: traffic entering the VPC by it is
/// routed by the table. Stored as the gateway's id (rows from before virtual private
/// gateways could be associated hold an internet gateway's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EdgeGateway {
    Internet(InternetGatewayId),
    VirtualPrivate(VpnGatewayId),
}

impl EdgeGateway {
    pub fn as_str(&self) -> &str {
        match self {
            EdgeGateway::Internet(id) => id,
            EdgeGateway::VirtualPrivate(id) => id,
        }
    }
}

impl From<String> for EdgeGateway {
    fn from(id: String) -> Self {
        match Kind::of(&id) {
            Some(Kind::VpnGateway) => EdgeGateway::VirtualPrivate(VpnGatewayId::stored(id)),
            _ => EdgeGateway::Internet(InternetGatewayId::stored(id)),
        }
    }
}

impl From<EdgeGateway> for String {
    fn from(g: EdgeGateway) -> Self {
        match g {
            EdgeGateway::Internet(id) => id.into_string(),
            EdgeGateway::VirtualPrivate(id) => id.into_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTableAssociation {
    pub id: RouteTableAssociationId,
    pub subnet_id: Option<SubnetId>,
    /// An edge association's gateway.
    pub gateway_id: Option<EdgeGateway>,
    pub main: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternetGateway {
    pub id: InternetGatewayId,
    pub vpc_id: Option<VpcId>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressOnlyInternetGateway {
    pub id: EgressOnlyInternetGatewayId,
    pub vpc_id: VpcId,
    pub tags: Tags,
}

/// A carrier gateway: a VPC's way to a telecom carrier's network from subnets in Wavelength
/// Zones. Fort has no Wavelength Zones, so routes to one carry no traffic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierGateway {
    pub id: CarrierGatewayId,
    pub vpc_id: VpcId,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatGateway {
    pub id: NatGatewayId,
    pub subnet_id: SubnetId,
    pub vpc_id: VpcId,
    pub state: NatGatewayState,
    pub connectivity_type: ConnectivityType,
    pub create_time: Millis,
    pub delete_time: Option<Millis>,
    pub failure_code: Option<ErrorCode>,
    pub failure_message: Option<String>,
    pub addresses: Vec<NatGatewayAddress>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// A VPC peering connection: shared by its two sides, which may be in different
/// accounts and regions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcPeeringConnection {
    pub id: VpcPeeringConnectionId,
    pub requester: PeeringVpcInfo,
    pub accepter: PeeringVpcInfo,
    /// As stored: a pending request past its expiration time reads `expired` (see
    /// control's `peering::status`).
    pub status: PeeringStatus,
    pub message: String,
    /// When a pending request expires (7 days after it was made).
    pub expiration_time: Option<Millis>,
    /// When it reached `failed`, `rejected`, `expired` or `deleted`: still described
    /// for a while after.
    pub ended: Option<Millis>,
    pub tags: Tags,
}

/// One side of a peering connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeeringVpcInfo {
    pub vpc_id: VpcId,
    pub owner_id: String,
    pub region: String,
    /// The VPC's IPv4 blocks when the request was made, primary first.
    pub cidrs: Vec<Ipv4Net>,
    pub allow_dns_resolution_from_remote_vpc: bool,
}

impl VpcPeeringConnection {
    /// The side in (`account`, `region`), if either is.
    pub fn side(&self, account: &str, region: &str) -> Option<&PeeringVpcInfo> {
        [&self.requester, &self.accepter]
            .into_iter()
            .find(|s| s.owner_id == account && s.region == region)
    }

    /// The other side of the one whose VPC is `vpc_id`.
    pub fn peer_of(&self, vpc_id: &str) -> Option<&PeeringVpcInfo> {
        if self.requester.vpc_id == vpc_id {
            Some(&self.accepter)
        } else if self.accepter.vpc_id == vpc_id {
            Some(&self.requester)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatGatewayAddress {
    pub allocation_id: Option<AllocationId>,
    pub network_interface_id: NetworkInterfaceId,
    pub private_ip: Ipv4Addr,
    pub public_ip: Option<Ipv4Addr>,
    pub association_id: Option<EipAssociationId>,
    pub is_primary: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAcl {
    pub id: NetworkAclId,
    pub vpc_id: VpcId,
    pub is_default: bool,
    /// User entries; the final `*` deny entries (32767) are implied and shown by the API.
    pub entries: Vec<NetworkAclEntry>,
    pub associations: Vec<NetworkAclAssociation>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAclEntry {
    pub rule_number: u16,
    /// Stored as its number, `-1` for all.
    #[serde(with = "crate::protocol::acl_number")]
    pub protocol: IpProtocol,
    pub allow: bool,
    pub egress: bool,
    pub cidr: Option<Ipv4Net>,
    pub ipv6_cidr: Option<String>,
    pub port_range: Option<(i32, i32)>,
    /// ICMP (type, code); -1 is any.
    pub icmp: Option<(i32, i32)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAclAssociation {
    pub id: NetworkAclAssociationId,
    pub subnet_id: SubnetId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: SecurityGroupId,
    pub name: String,
    pub description: String,
    pub vpc_id: VpcId,
    pub rules: Vec<SecurityGroupRule>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: SecurityGroupRuleId,
    pub egress: bool,
    /// Stored as EC2 shows it: `tcp`, `udp`, `icmp`, `icmpv6`, `-1`, or a number as text.
    pub protocol: IpProtocol,
    pub from_port: i32,
    pub to_port: i32,
    pub peer: RulePeer,
    pub description: Option<String>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RulePeer {
    Cidr(Ipv4Net),
    Ipv6Cidr(String),
    PrefixList(String),
    Group {
        group_id: SecurityGroupId,
        user_id: String,
        vpc_id: Option<VpcId>,
        peering_id: Option<VpcPeeringConnectionId>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpOptions {
    pub id: DhcpOptionsId,
    /// Key → values, in the order given.
    pub configurations: Vec<(String, Vec<String>)>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub id: NetworkInterfaceId,
    pub subnet_id: SubnetId,
    pub vpc_id: VpcId,
    pub availability_zone: String,
    pub description: String,
    pub mac_address: String,
    /// The primary private address, fixed for the interface's life; none in an IPv6-only
    /// subnet (EC2's `Ipv6Native` interfaces have no IPv4 address).
    pub private_ip: Option<Ipv4Addr>,
    pub secondary_ips: Vec<Ipv4Addr>,
    /// IPv6 addresses from the subnet's IPv6 block, in the order assigned.
    #[serde(default)]
    pub ipv6_addresses: Vec<Ipv6Addr>,
    pub security_groups: Vec<SecurityGroupId>,
    pub source_dest_check: bool,
    /// `interface`, `nat_gateway`, `vpc_endpoint`, ...
    pub interface_type: String,
    pub requester_managed: bool,
    pub attachment: Option<EniAttachment>,
    /// Public addresses mapped to private ones (auto-assigned or elastic).
    pub associations: Vec<PublicIpAssociation>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

impl NetworkInterface {
    pub fn private_ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.private_ip
            .into_iter()
            .chain(self.secondary_ips.iter().copied())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EniAttachment {
    pub id: AttachmentId,
    pub instance_id: InstanceId,
    pub device_index: u32,
    pub status: AttachmentStatus,
    pub attach_time: Millis,
    pub delete_on_termination: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIpAssociation {
    pub private_ip: Ipv4Addr,
    pub public_ip: Ipv4Addr,
    /// Set for an elastic IP; `None` for an address assigned at launch.
    pub allocation_id: Option<AllocationId>,
    pub association_id: Option<EipAssociationId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub allocation_id: AllocationId,
    pub public_ip: Ipv4Addr,
    pub association: Option<AddressAssociation>,
    pub network_border_group: String,
    pub tags: Tags,
    /// The reverse DNS (PTR) record set with ModifyAddressAttribute, as EC2 shows it (with
    /// the final dot).
    #[serde(default)]
    pub ptr_record: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressAssociation {
    pub id: EipAssociationId,
    pub network_interface_id: NetworkInterfaceId,
    pub private_ip: Ipv4Addr,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    pub reservation_id: ReservationId,
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    pub state: InstanceState,
    pub state_reason: Option<String>,
    pub subnet_id: SubnetId,
    pub vpc_id: VpcId,
    pub availability_zone: String,
    /// The primary interface (device index 0); others are found by their attachment.
    pub primary_eni_id: NetworkInterfaceId,
    pub launch_time: Millis,
    pub terminate_time: Option<Millis>,
    pub client_token: Option<String>,
    pub user_data: Option<String>,
    /// The host the instance runs on, when the data plane places it.
    pub host_id: Option<String>,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    pub ami_launch_index: u32,
    pub tags: Tags,
    /// Whether the instance was launched with an auto-assigned public address (it gets a
    /// fresh one again when started, or when an elastic IP leaves its primary address).
    #[serde(default)]
    pub associate_public_ip: bool,
    /// When the state last changed by request (for `reason`).
    #[serde(default)]
    pub state_transition_time: Option<Millis>,
    /// The root volume's device name (`/dev/xvda`).
    #[serde(default)]
    pub root_device_name: Option<String>,
    #[serde(default)]
    pub metadata_options: MetadataOptions,
    /// `standard` or `unlimited` for burstable types (T2, T3, T3a, T4g); `None` otherwise.
    #[serde(default)]
    pub cpu_credits: Option<String>,
    /// `stop` or `terminate`.
    #[serde(default)]
    pub shutdown_behavior: Option<String>,
    #[serde(default)]
    pub ebs_optimized: bool,
    #[serde(default)]
    pub ena_support: Option<bool>,
    #[serde(default)]
    pub sriov_net_support: Option<String>,
    #[serde(default)]
    pub monitoring: bool,
    /// Its hostname type and which of its resource name's records the VPC resolver
    /// answers (rows from before these existed are IP-named, as EC2's were).
    #[serde(default)]
    pub private_dns_name_options: PrivateDnsNameOptions,
    /// The CPU options asked for at launch; `None`: the type's cores and threads.
    #[serde(default)]
    pub cpu_options: Option<CpuOptions>,
    /// The IAM instance profile the instance carries, if any.
    #[serde(default)]
    pub iam_instance_profile: Option<IamInstanceProfileAssociation>,
    /// The Spot request it was launched for: a Spot Instance has one, an On-Demand
    /// Instance none (EC2 shows `instanceLifecycle` `spot` only for the former).
    #[serde(default)]
    pub spot_instance_request_id: Option<SpotInstanceRequestId>,
    /// The EC2 Fleet that launched it, if one did.
    #[serde(default)]
    pub fleet_id: Option<FleetId>,
    /// The placement group it was launched into, if any.
    #[serde(default)]
    pub placement_group: Option<InstancePlacementGroup>,
    /// Launched with `HibernationOptions.Configured` (an encrypted root volume): a stop
    /// that asks to hibernate is taken, and is a plain stop, as EC2's is when
    /// hibernation fails.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hibernation_configured: bool,
    /// `MaintenanceOptions.AutoRecovery` `disabled` (RunInstances or
    /// ModifyInstanceMaintenanceOptions); EC2's `default` otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto_recovery_disabled: bool,
    /// `MaintenanceOptions.RebootMigration` as ModifyInstanceMaintenanceOptions last set it;
    /// `None` until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_migration: Option<RebootMigration>,
    /// `CapacityReservationSpecification.CapacityReservationPreference` `none`: the
    /// instance runs in no open Capacity Reservation. EC2's `open` otherwise (Fort has no
    /// Capacity Reservations, so either runs the same).
    #[serde(default, skip_serializing_if = "is_false")]
    pub capacity_reservation_none: bool,
    /// `CapacityReservationSpecification.CapacityReservationTarget`: the reservation the
    /// instance must run in (its preference is then neither `open` nor `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_reservation_target: Option<CapacityReservationId>,
    /// The Capacity Reservation it runs in: its target, or an `open` one it matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_reservation_id: Option<CapacityReservationId>,
    /// GetPasswordData's answer for a Windows instance launched with an RSA key pair: the
    /// administrator password EC2Launch would set, encrypted with the key's public half
    /// (PKCS#1 v1.5, base64). Fort's guests run no EC2Launch, so Fort sets it at launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_data: Option<String>,
    /// `EnclaveOptions.Enabled` at launch: the instance may run a Nitro Enclave (Fort runs
    /// none; EC2 reports it and keeps it for the instance's life).
    #[serde(default, skip_serializing_if = "is_false")]
    pub enclave_enabled: bool,
    /// Tenancy `dedicated` (`Placement.Tenancy`, or a dedicated VPC's): kept and shown as
    /// EC2 shows it; Fort's hosts run every instance alike (none is anyone else's).
    #[serde(default, skip_serializing_if = "is_false")]
    pub dedicated: bool,
    /// Tenancy `host`: the Dedicated Host it runs on, and its affinity to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_host: Option<HostPlacement>,
    /// The Spot Fleet request that launched it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot_fleet_request_id: Option<SpotFleetRequestId>,
}

/// Where an instance of tenancy `host` runs: its Dedicated Host and its affinity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlacement {
    pub host_id: DedicatedHostId,
    pub affinity: HostAffinity,
}

/// A Dedicated Host (`h-…`): a server of one instance type, or of one family's sizes,
/// for the account's instances of tenancy `host`. In Fort it is an accounting construct:
/// Fort's own hosts are never short of capacity, so nothing is held back for it; its
/// capacity (the vCPUs of the family's largest size) only bounds what may be placed on
/// it, as EC2's does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedicatedHost {
    pub id: DedicatedHostId,
    pub availability_zone: String,
    /// Exactly one of the two: the one type it runs, or the family whose sizes it runs.
    pub instance_type: Option<String>,
    pub instance_family: Option<String>,
    pub auto_placement: OnOff,
    pub host_recovery: OnOff,
    pub state: HostState,
    pub allocation_time: Millis,
    /// When ReleaseHosts released it; it is still described for a while.
    pub release_time: Option<Millis>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// A Spot Fleet request (`sfr-…`): Spot (and On-Demand) capacity from launch
/// specifications or launch templates, launched in the change that makes or modifies it:
/// Fort's capacity is never short and Spot capacity is never reclaimed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpotFleetRequest {
    pub id: SpotFleetRequestId,
    pub state: SpotFleetRequestState,
    pub create_time: Millis,
    pub client_token: Option<String>,
    pub iam_fleet_role: String,
    pub target_capacity: u32,
    pub on_demand_target_capacity: u32,
    pub spot_price: Option<String>,
    pub allocation_strategy: SpotAllocationStrategy,
    /// `lowestPrice` or `prioritized`, as given.
    pub on_demand_allocation_strategy: Option<String>,
    pub fleet_type: SpotFleetType,
    pub valid_from: Option<Millis>,
    pub valid_until: Option<Millis>,
    pub terminate_instances_with_expiration: bool,
    /// As given: EC2 takes `noTermination` and `default` in any case (Terraform sends
    /// `Default`) and answers it as given; see [`crate::ExcessCapacityTerminationPolicy::of`].
    pub excess_capacity_termination_policy: Option<String>,
    pub instance_interruption_behavior: InterruptionBehavior,
    pub replace_unhealthy_instances: bool,
    pub instance_pools_to_use_count: Option<u32>,
    pub target_capacity_unit_type: Option<String>,
    pub launch_specifications: Vec<SpotFleetLaunchSpecification>,
    pub launch_template_configs: Vec<FleetLaunchConfig>,
    /// Every instance it launched, with the capacity it counts for: what runs of them is
    /// its fulfilled capacity.
    pub members: Vec<SpotFleetMember>,
    /// DescribeSpotFleetRequestHistory's records, oldest first.
    pub history: Vec<SpotFleetEvent>,
    pub tags: Tags,
}

/// One `LaunchSpecifications` entry of a Spot Fleet: RunInstances' parameters as given
/// (`params`, under their own names, which RunInstances reads), and what DescribeSpotFleetRequests
/// shows of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpotFleetLaunchSpecification {
    pub image_id: String,
    pub instance_type: Option<String>,
    pub key_name: Option<String>,
    pub group_ids: Vec<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub user_data: Option<String>,
    pub monitoring: Option<bool>,
    pub ebs_optimized: Option<bool>,
    pub iam_instance_profile_arn: Option<String>,
    pub iam_instance_profile_name: Option<String>,
    pub weighted_capacity: Option<f64>,
    pub spot_price: Option<String>,
    pub instance_tags: Tags,
    /// The launch's parameters, as RunInstances names them.
    pub params: Vec<(String, String)>,
}

/// An instance a Spot Fleet launched: its weight and market.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpotFleetMember {
    pub instance_id: InstanceId,
    pub weight: f64,
    pub on_demand: bool,
}

/// A DescribeSpotFleetRequestHistory record: `fleetRequestChange`, `instanceChange`, ….
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotFleetEvent {
    pub time: Millis,
    pub event_type: String,
    pub sub_type: String,
    pub instance_id: Option<InstanceId>,
    pub description: Option<String>,
}

/// `MaintenanceOptions.RebootMigration` of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebootMigration {
    Default,
    Disabled,
}

impl RebootMigration {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Disabled => "disabled",
        }
    }
}

/// A request for one Spot Instance (`sir-…`): RequestSpotInstances makes one per instance
/// asked for, and RunInstances on the Spot market one per instance it launches. Fort has
/// no Spot market of its own: capacity is never reclaimed and any price is met, so a
/// request is fulfilled when it is made (or fails with its launch's error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpotInstanceRequest {
    pub id: SpotInstanceRequestId,
    /// The maximum hourly price as given (`SpotPrice`, `MaxPrice`), if it was.
    pub spot_price: Option<String>,
    pub request_type: SpotInstanceType,
    pub state: SpotRequestState,
    /// `status.code` (`fulfilled`, `instance-terminated-by-user`, …), its message and when
    /// it last changed.
    pub status_code: String,
    pub status_message: String,
    pub status_time: Millis,
    pub valid_from: Option<Millis>,
    pub valid_until: Option<Millis>,
    pub launch_group: Option<String>,
    pub availability_zone_group: Option<String>,
    pub interruption_behavior: InterruptionBehavior,
    pub launch: SpotLaunchSpecification,
    pub instance_id: Option<InstanceId>,
    pub launched_availability_zone: Option<String>,
    pub create_time: Millis,
    pub tags: Tags,
}

/// What a Spot request launches, as DescribeSpotInstanceRequests shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotLaunchSpecification {
    pub image_id: String,
    pub instance_type: String,
    pub key_name: Option<String>,
    /// The instance's groups: id and name.
    pub groups: Vec<(SecurityGroupId, String)>,
    /// The subnet, when the request named one.
    pub subnet_id: Option<SubnetId>,
    /// The zone, when the request named one.
    pub availability_zone: Option<String>,
    pub monitoring: bool,
    pub ebs_optimized: bool,
}

/// An EC2 Fleet (`fleet-…`): launch templates (with overrides) and a target capacity split
/// between On-Demand and Spot. Fort launches the whole target when the fleet is made, for
/// every type: its capacity is never short and Spot capacity is never reclaimed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    pub id: FleetId,
    pub fleet_type: FleetType,
    pub state: FleetState,
    pub create_time: Millis,
    pub client_token: Option<String>,
    pub valid_from: Option<Millis>,
    pub valid_until: Option<Millis>,
    pub replace_unhealthy_instances: Option<bool>,
    pub terminate_instances_with_expiration: Option<bool>,
    /// As given: EC2 takes its documented values and older spellings (`terminate`).
    pub excess_capacity_termination_policy: Option<String>,
    pub target: FleetTarget,
    pub configs: Vec<FleetLaunchConfig>,
    /// `SpotOptions.AllocationStrategy` and `InstanceInterruptionBehavior`, as given.
    pub spot_allocation_strategy: Option<String>,
    pub spot_interruption_behavior: Option<InterruptionBehavior>,
    /// `OnDemandOptions.AllocationStrategy`, as given.
    pub on_demand_allocation_strategy: Option<String>,
    /// Capacity launched: in all, and of it On-Demand.
    pub fulfilled_capacity: f64,
    pub fulfilled_on_demand_capacity: f64,
    pub tags: Tags,
}

/// `TargetCapacitySpecification` of a fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetTarget {
    pub total: u32,
    pub on_demand: Option<u32>,
    pub spot: Option<u32>,
    pub default_type: MarketType,
    pub unit_type: Option<String>,
}

impl FleetTarget {
    /// The capacity to launch On-Demand and on Spot: what each names, and what the total
    /// leaves over goes to the default type.
    pub fn split(&self) -> (u32, u32) {
        let od = self.on_demand.unwrap_or(0);
        let spot = self.spot.unwrap_or(0);
        let rest = self.total.saturating_sub(od + spot);
        match self.default_type {
            MarketType::OnDemand => (od + rest, spot),
            MarketType::Spot => (od, spot + rest),
        }
    }
}

/// One `LaunchTemplateConfigs` entry of a fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetLaunchConfig {
    pub template_id: LaunchTemplateId,
    pub template_name: String,
    /// The version as asked for (`1`, `$Latest`, `$Default`).
    pub version: String,
    pub overrides: Vec<FleetOverride>,
}

/// One launch template override: a pool of capacity of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetOverride {
    pub instance_type: Option<String>,
    pub subnet_id: Option<SubnetId>,
    pub availability_zone: Option<String>,
    pub max_price: Option<String>,
    pub weighted_capacity: Option<f64>,
    pub priority: Option<f64>,
    pub image_id: Option<String>,
}

/// `CpuOptions` of RunInstances: fewer cores or threads than the type's, or AMD SEV-SNP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuOptions {
    pub core_count: u32,
    pub threads_per_core: u32,
    /// `enabled` or `disabled`, when asked for.
    pub amd_sev_snp: Option<String>,
}

/// An IAM instance profile associated with an instance (`iip-assoc-…`): EC2 keeps the
/// profile's ARN and id, so the association outlives a renamed or deleted profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamInstanceProfileAssociation {
    pub id: IamInstanceProfileAssociationId,
    pub arn: String,
    /// The profile's `AIPA…` id.
    pub profile_id: String,
    pub timestamp: Millis,
}

/// An instance's metadata service options (`MetadataOptions` of RunInstances).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataOptions {
    /// `optional` or `required` (IMDSv2 only).
    pub http_tokens: String,
    pub http_put_response_hop_limit: u32,
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    pub http_protocol_ipv6: String,
    pub instance_metadata_tags: String,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        Self {
            http_tokens: "optional".into(),
            http_put_response_hop_limit: 1,
            http_endpoint: "enabled".into(),
            http_protocol_ipv6: "disabled".into(),
            instance_metadata_tags: "disabled".into(),
        }
    }
}

/// An account's default instance metadata options in one region (one row, id `default`):
/// ModifyInstanceMetadataDefaults. `None` is EC2's `no-preference`: a launch then takes the
/// image's setting or EC2's default. The launch's own options come first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceMetadataDefaults {
    pub id: String,
    /// `optional` or `required`.
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<u32>,
    /// `enabled` or `disabled`.
    pub http_endpoint: Option<String>,
    /// `enabled` or `disabled`.
    pub instance_metadata_tags: Option<String>,
}

impl InstanceMetadataDefaults {
    /// `base` (the image's options or EC2's defaults) with the account's preferences over it.
    pub fn over(&self, mut base: MetadataOptions) -> MetadataOptions {
        if let Some(t) = &self.http_tokens {
            base.http_tokens = t.clone();
        }
        if let Some(h) = self.http_put_response_hop_limit {
            base.http_put_response_hop_limit = h;
        }
        if let Some(e) = &self.http_endpoint {
            base.http_endpoint = e.clone();
        }
        if let Some(t) = &self.instance_metadata_tags {
            base.instance_metadata_tags = t.clone();
        }
        base
    }
}

/// A launch template and all its versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplate {
    pub id: LaunchTemplateId,
    pub name: String,
    pub create_time: Millis,
    /// `arn:aws:iam::ACCOUNT:root`.
    pub created_by: String,
    pub default_version: u64,
    pub latest_version: u64,
    /// In version order; deleted versions are gone (numbers are never reused).
    pub versions: Vec<LaunchTemplateVersion>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateVersion {
    pub number: u64,
    pub description: Option<String>,
    pub create_time: Millis,
    /// The `LaunchTemplateData` as sent: Query parameter names under it (with their list
    /// indices, `NetworkInterface.1.DeviceIndex`) → values.
    pub data: BTreeMap<String, String>,
}

/// An EBS volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: VolumeId,
    /// GiB.
    pub size: u32,
    pub snapshot_id: Option<String>,
    pub availability_zone: String,
    /// `creating`, `available`, `in-use`, `deleting`, ...; `in-use` is derived from the
    /// attachment, so only `available` is stored for a settled volume.
    pub volume_type: String,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub multi_attach_enabled: bool,
    pub auto_enable_io: bool,
    pub create_time: Millis,
    /// Its attachment (a Multi-Attach volume's first).
    pub attachment: Option<VolumeAttachment>,
    /// A Multi-Attach volume's other attachments (io1 and io2 volumes with
    /// `MultiAttachEnabled` attach to up to 16 instances of their zone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_attachments: Vec<VolumeAttachment>,
    /// The last ModifyVolume, shown by DescribeVolumesModifications.
    pub modification: Option<VolumeModification>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

impl Volume {
    /// Its attachments: the first, then a Multi-Attach volume's others.
    pub fn attachments(&self) -> impl Iterator<Item = &VolumeAttachment> {
        self.attachment.iter().chain(&self.more_attachments)
    }

    /// Its attachment to one instance.
    pub fn attachment_to(&self, instance_id: &str) -> Option<&VolumeAttachment> {
        self.attachments().find(|a| a.instance_id == instance_id)
    }

    /// Its attachment to one instance, to change.
    pub fn attachment_to_mut(&mut self, instance_id: &str) -> Option<&mut VolumeAttachment> {
        self.attachment
            .iter_mut()
            .chain(&mut self.more_attachments)
            .find(|a| a.instance_id == instance_id)
    }

    /// Detaches it from one instance (the next attachment becomes the first).
    pub fn detach_from(&mut self, instance_id: &str) -> Option<VolumeAttachment> {
        if self
            .attachment
            .as_ref()
            .is_some_and(|a| a.instance_id == instance_id)
        {
            let gone = self.attachment.take();
            if !self.more_attachments.is_empty() {
                self.attachment = Some(self.more_attachments.remove(0));
            }
            return gone;
        }
        let i = self
            .more_attachments
            .iter()
            .position(|a| a.instance_id == instance_id)?;
        Some(self.more_attachments.remove(i))
    }
}

/// An account's EBS encryption settings in one region (one row, id `default`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EbsSettings {
    pub id: String,
    /// New volumes are encrypted whether or not they ask.
    pub encryption_by_default: bool,
    /// The key new encrypted volumes get when they name none (ModifyEbsDefaultKmsKeyId);
    /// `None`: the AWS managed key `alias/aws/ebs`.
    pub default_kms_key_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    pub instance_id: InstanceId,
    pub device: String,
    pub attach_time: Millis,
    pub delete_on_termination: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeModification {
    pub start_time: Millis,
    pub original_size: u32,
    pub original_type: String,
    pub original_iops: Option<u32>,
    pub original_throughput: Option<u32>,
    pub original_multi_attach: bool,
}

/// An SSH key pair: only its public half is kept (EC2 hands the private key out once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    pub id: KeyPairId,
    pub name: String,
    /// `rsa` or `ed25519`.
    pub key_type: String,
    pub fingerprint: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA... comment`).
    pub public_key: String,
    pub create_time: Millis,
    pub tags: Tags,
}

/// A placement group: how EC2 would spread or pack the instances launched into it. Fort
/// keeps the group, its instances and their partitions; where they run does not change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementGroup {
    pub id: PlacementGroupId,
    /// Unique in the account's region; the name RunInstances and Terraform use.
    pub name: String,
    pub strategy: PlacementStrategy,
    /// Partition groups only: 1 to 7.
    pub partition_count: Option<u32>,
    /// Spread groups only: `rack` (the default) or `host`.
    pub spread_level: Option<String>,
    pub tags: Tags,
}

/// `cluster`, `spread` or `partition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementStrategy {
    Cluster,
    Spread,
    Partition,
}

impl PlacementStrategy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "cluster" => Some(Self::Cluster),
            "spread" => Some(Self::Spread),
            "partition" => Some(Self::Partition),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Spread => "spread",
            Self::Partition => "partition",
        }
    }
}

/// A Capacity Reservation: capacity of one instance type, platform, zone and tenancy held
/// for the account. Instances run in it when they target it, or (`open` reservations) when
/// they match it and prefer `open`; its available count is its total less those running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityReservation {
    pub id: CapacityReservationId,
    pub instance_type: String,
    /// `Linux/UNIX`, `Windows`, ... (EC2's `CapacityReservationInstancePlatform`).
    pub instance_platform: String,
    pub availability_zone: String,
    /// `default` or `dedicated`.
    pub tenancy: String,
    pub total_instance_count: u32,
    pub ebs_optimized: bool,
    pub ephemeral_storage: bool,
    /// `EndDateType` `limited`: the reservation expires at this time. `None`: `unlimited`.
    pub end_date: Option<Millis>,
    /// `InstanceMatchCriteria` `targeted`: only instances naming it run in it (`open`
    /// otherwise).
    pub targeted: bool,
    pub create_date: Millis,
    /// When CancelCapacityReservation ended it; it stays listed, `cancelled`.
    pub cancelled: Option<Millis>,
    pub placement_group_arn: Option<String>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// A Capacity Reservation's `State`, as of a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityReservationState {
    Active,
    Expired,
    Cancelled,
}

impl CapacityReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }
}

impl CapacityReservation {
    /// Its state at `now`: cancelled, expired past its end date, else active.
    pub fn state(&self, now: Millis) -> CapacityReservationState {
        if self.cancelled.is_some() {
            CapacityReservationState::Cancelled
        } else if self.end_date.is_some_and(|end| end <= now) {
            CapacityReservationState::Expired
        } else {
            CapacityReservationState::Active
        }
    }
}

/// The placement group an instance was launched into (its name kept, as EC2 shows it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePlacementGroup {
    pub id: PlacementGroupId,
    pub name: String,
    /// In a partition group: the partition (1-based).
    pub partition_number: Option<u32>,
}

/// An image (AMI) an account registered, created from an instance, copied, or that
/// RunInstances registered for an id Fort did not know. The public catalog's images are
/// built on the fly (`fort_control::image`), in this same shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: ImageId,
    pub owner_id: String,
    /// `amazon`, `aws-marketplace`: only Amazon's own and the marketplace's images have one.
    #[serde(default)]
    pub owner_alias: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `x86_64`, `arm64`, `i386`.
    pub architecture: String,
    /// `OWNER/NAME` (or an S3 manifest path given to RegisterImage).
    pub image_location: String,
    /// As EC2 writes it: `2024-12-13T01:57:38.000Z`.
    pub creation_date: String,
    pub state: ImageState,
    /// A pending image becomes available at this time.
    #[serde(default)]
    pub available_at: Option<Millis>,
    /// In the order they were added; `Group(all)` makes the image public.
    #[serde(default)]
    pub launch_permissions: Vec<LaunchPermission>,
    pub root_device_name: String,
    /// `ebs` or `instance-store`.
    pub root_device_type: String,
    pub block_devices: Vec<ImageBlockDevice>,
    /// `hvm` or `paravirtual`.
    pub virtualization_type: String,
    pub ena_support: bool,
    #[serde(default)]
    pub sriov_net_support: Option<String>,
    #[serde(default)]
    pub boot_mode: Option<String>,
    #[serde(default)]
    pub tpm_support: Option<String>,
    #[serde(default)]
    pub imds_support: Option<String>,
    #[serde(default)]
    pub uefi_data: Option<String>,
    /// `windows` for Windows images, else none.
    #[serde(default)]
    pub platform: Option<String>,
    /// `Linux/UNIX`, `Windows`, ...
    pub platform_details: String,
    /// `RunInstances`, `RunInstances:0002` (Windows), ...
    pub usage_operation: String,
    #[serde(default)]
    pub kernel_id: Option<String>,
    #[serde(default)]
    pub ramdisk_id: Option<String>,
    #[serde(default)]
    pub source_instance_id: Option<InstanceId>,
    #[serde(default)]
    pub source_image_id: Option<String>,
    #[serde(default)]
    pub source_image_region: Option<String>,
    /// As EC2 writes it; a deprecated image is left out of DescribeImages unless asked for.
    #[serde(default)]
    pub deprecation_time: Option<String>,
    #[serde(default)]
    pub deregistration_protection: bool,
    #[serde(default)]
    pub free_tier_eligible: bool,
    pub tags: Tags,
}

impl Image {
    /// Whether `Group: all` is among its launch permissions.
    pub fn is_public(&self) -> bool {
        self.launch_permissions
            .iter()
            .any(|p| matches!(p, LaunchPermission::Group(g) if g == "all"))
    }

    /// The state at `now`: a pending image past its time is available.
    pub fn state_at(&self, now: Millis) -> ImageState {
        match (self.state, self.available_at) {
            (ImageState::Pending, Some(t)) if now >= t => ImageState::Available,
            (s, _) => s,
        }
    }

    /// Whether `account` may launch it: its owner, anyone when public, or an account it
    /// is shared with.
    pub fn launchable_by(&self, account: &str) -> bool {
        self.owner_id == account
            || self.launch_permissions.iter().any(|p| match p {
                LaunchPermission::Group(g) => g == "all",
                LaunchPermission::UserId(u) => u == account,
                _ => false,
            })
    }
}

/// One launch permission of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LaunchPermission {
    UserId(String),
    /// Only `all`.
    Group(String),
    OrganizationArn(String),
    OrganizationalUnitArn(String),
}

/// One block device mapping of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlockDevice {
    pub device_name: String,
    /// `ephemeralN` for an instance store volume.
    #[serde(default)]
    pub virtual_name: Option<String>,
    /// Suppresses a mapping of the image.
    #[serde(default)]
    pub no_device: bool,
    #[serde(default)]
    pub ebs: Option<ImageEbs>,
}

/// The EBS volume of an image's block device mapping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageEbs {
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// GiB.
    #[serde(default)]
    pub volume_size: Option<u32>,
    /// `gp2`, `gp3`, `io1`, `io2`, `st1`, `sc1`, `standard`.
    pub volume_type: String,
    pub delete_on_termination: bool,
    #[serde(default)]
    pub iops: Option<u32>,
    #[serde(default)]
    pub throughput: Option<u32>,
    pub encrypted: bool,
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capacity_reservation_expires_at_its_end_date_and_stays_cancelled() {
        let json = r#"{"id":"cr-0123456789abcdef0","instance_type":"t3.micro",
            "instance_platform":"Linux/UNIX","availability_zone":"us-east-1a","tenancy":"default",
            "total_instance_count":1,"ebs_optimized":false,"ephemeral_storage":false,
            "end_date":1000,"targeted":false,"create_date":1,"cancelled":null,
            "placement_group_arn":null,"client_token":null,"tags":{}}"#;
        let mut r: CapacityReservation = serde_json::from_str(json).unwrap();
        assert_eq!(r.state(999), CapacityReservationState::Active);
        assert_eq!(r.state(1000), CapacityReservationState::Expired);
        r.cancelled = Some(500);
        assert_eq!(r.state(400), CapacityReservationState::Cancelled);
        r.end_date = None;
        r.cancelled = None;
        assert_eq!(r.state(i64::MAX), CapacityReservationState::Active);
    }

    /// Rows written when targets were `Gateway(String)` read back by kind, and are written
    /// the same way again.
    #[test]
    fn route_targets_keep_their_stored_form() {
        let cases = [
            (
                r#"{"Gateway":"igw-0123456789abcdef0"}"#,
                RouteTarget::InternetGateway(
                    InternetGatewayId::parse("igw-0123456789abcdef0").unwrap(),
                ),
            ),
            (
                r#"{"Gateway":"vgw-0123456789abcdef0"}"#,
                RouteTarget::VpnGateway(VpnGatewayId::parse("vgw-0123456789abcdef0").unwrap()),
            ),
            (
                r#"{"NatGateway":"nat-0123456789abcdef0"}"#,
                RouteTarget::NatGateway(NatGatewayId::parse("nat-0123456789abcdef0").unwrap()),
            ),
            (r#""Local""#, RouteTarget::Local),
        ];
        for (json, target) in cases {
            assert_eq!(serde_json::from_str::<RouteTarget>(json).unwrap(), target);
            assert_eq!(serde_json::to_string(&target).unwrap(), json);
        }
        let endpoint: RouteTarget =
            serde_json::from_str(r#"{"Gateway":"vpce-0123456789abcdef0"}"#).unwrap();
        assert_eq!(
            endpoint,
            RouteTarget::VpcEndpoint(VpcEndpointId::parse("vpce-0123456789abcdef0").unwrap())
        );
    }

    /// Rows as the store has always held them (ids as plain text) read back into the typed
    /// resources and are written again unchanged (fields added since, with their
    /// defaults, come on top).
    #[test]
    fn stored_rows_read_back_and_write_unchanged() {
        fn same<T: Serialize + serde::de::DeserializeOwned>(json: &str) {
            let row: T = serde_json::from_str(json).expect(json);
            let serde_json::Value::Object(want) = serde_json::from_str(json).unwrap() else {
                panic!("{json} is not an object");
            };
            let serde_json::Value::Object(got) = serde_json::to_value(&row).unwrap() else {
                panic!("{json} wrote back as something else");
            };
            for (field, value) in &want {
                assert_eq!(got.get(field), Some(value), "{field} of {json}");
            }
        }
        same::<Vpc>(
            r#"{"id":"vpc-0123456789abcdef0","vni":4096,
            "cidr_blocks":[{"association_id":"vpc-cidr-assoc-0123456789abcdef0","cidr":"10.0.0.0/16","state":"associated"}],
            "dhcp_options_id":"dopt-0123456789abcdef0","instance_tenancy":"default","is_default":false,
            "enable_dns_support":true,"enable_dns_hostnames":false,"enable_network_address_usage_metrics":false,
            "main_route_table_id":"rtb-0123456789abcdef0","default_network_acl_id":"acl-0123456789abcdef0",
            "default_security_group_id":"sg-0123456789abcdef0","tags":{"Name":"a"}}"#,
        );
        // A VPC without DHCP options stores `default`.
        same::<Vpc>(
            r#"{"id":"vpc-0123456789abcdef1","vni":4097,
            "cidr_blocks":[{"association_id":"vpc-cidr-assoc-0123456789abcdef1","cidr":"10.1.0.0/16","state":"associated"}],
            "dhcp_options_id":"default","instance_tenancy":"default","is_default":false,
            "enable_dns_support":true,"enable_dns_hostnames":false,"enable_network_address_usage_metrics":false,
            "main_route_table_id":"rtb-0123456789abcdef1","default_network_acl_id":"acl-0123456789abcdef1",
            "default_security_group_id":"sg-0123456789abcdef1","tags":{}}"#,
        );
        same::<SecurityGroup>(
            r#"{"id":"sg-0123456789abcdef0","name":"web","description":"d","vpc_id":"vpc-0123456789abcdef0",
            "rules":[{"id":"sgr-0123456789abcdef0","egress":false,"protocol":"tcp","from_port":22,"to_port":22,
            "peer":{"Group":{"group_id":"sg-0123456789abcdef1","user_id":"000000000000","vpc_id":null,"peering_id":null}},
            "description":null,"tags":{}},
            {"id":"sgr-0123456789abcdef1","egress":false,"protocol":"tcp","from_port":443,"to_port":443,
            "peer":{"Group":{"group_id":"sg-0123456789abcdef2","user_id":"111111111111",
            "vpc_id":"vpc-0123456789abcdef1","peering_id":"pcx-0123456789abcdef0"}},
            "description":"peer","tags":{"Name":"r"}}],"tags":{}}"#,
        );
        same::<RouteTable>(
            r#"{"id":"rtb-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0",
            "routes":[{"destination":{"Cidr":"0.0.0.0/0"},"target":{"Gateway":"igw-0123456789abcdef0"},"origin":"CreateRoute"},
            {"destination":{"Cidr":"10.1.0.0/16"},"target":{"VpcPeeringConnection":"pcx-0123456789abcdef0"},"origin":"CreateRoute"}],
            "associations":[{"id":"rtbassoc-0123456789abcdef0","subnet_id":"subnet-0123456789abcdef0","gateway_id":null,"main":false},
            {"id":"rtbassoc-0123456789abcdef1","subnet_id":null,"gateway_id":"igw-0123456789abcdef0","main":false}],
            "propagating_vgws":[],"tags":{}}"#,
        );
        same::<InternetGateway>(
            r#"{"id":"igw-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0","tags":{}}"#,
        );
        same::<EgressOnlyInternetGateway>(
            r#"{"id":"eigw-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0","tags":{"Name":"e"}}"#,
        );
        same::<CarrierGateway>(
            r#"{"id":"cagw-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0","tags":{"Name":"c"}}"#,
        );
        same::<NatGateway>(
            r#"{"id":"nat-0123456789abcdef0","subnet_id":"subnet-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0",
            "state":"available","connectivity_type":"public","create_time":1,"delete_time":null,
            "failure_code":null,"failure_message":null,
            "addresses":[{"allocation_id":"eipalloc-0123456789abcdef0","network_interface_id":"eni-0123456789abcdef0",
            "private_ip":"10.0.0.5","public_ip":"198.51.100.1","association_id":"eipassoc-0123456789abcdef0","is_primary":true}],
            "client_token":null,"tags":{}}"#,
        );
        same::<NetworkAcl>(
            r#"{"id":"acl-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0","is_default":true,"entries":[],
            "associations":[{"id":"aclassoc-0123456789abcdef0","subnet_id":"subnet-0123456789abcdef0"}],
            "client_token":null,"tags":{}}"#,
        );
        same::<DhcpOptions>(
            r#"{"id":"dopt-0123456789abcdef0","configurations":[["domain-name",["ec2.internal"]]],"tags":{}}"#,
        );
        same::<NetworkInterface>(
            r#"{"id":"eni-0123456789abcdef0","subnet_id":"subnet-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0",
            "availability_zone":"us-east-1a","description":"","mac_address":"02:00:00:00:00:01",
            "private_ip":"10.0.0.4","secondary_ips":[],"security_groups":["sg-0123456789abcdef0"],
            "source_dest_check":true,"interface_type":"interface","requester_managed":false,
            "attachment":{"id":"eni-attach-0123456789abcdef0","instance_id":"i-0123456789abcdef0","device_index":0,
            "status":"attached","attach_time":1,"delete_on_termination":true},
            "associations":[{"private_ip":"10.0.0.4","public_ip":"198.51.100.2",
            "allocation_id":"eipalloc-0123456789abcdef0","association_id":"eipassoc-0123456789abcdef0"}],
            "client_token":null,"tags":{}}"#,
        );
        same::<Address>(
            r#"{"allocation_id":"eipalloc-0123456789abcdef0","public_ip":"198.51.100.2",
            "association":{"id":"eipassoc-0123456789abcdef0","network_interface_id":"eni-0123456789abcdef0","private_ip":"10.0.0.4"},
            "network_border_group":"us-east-1","tags":{}}"#,
        );
        same::<Instance>(
            r#"{"id":"i-0123456789abcdef0","reservation_id":"r-0123456789abcdef0","image_id":"ami-0123456789abcdef0",
            "instance_type":"t3.micro","key_name":null,"state":"running","state_reason":null,
            "subnet_id":"subnet-0123456789abcdef0","vpc_id":"vpc-0123456789abcdef0","availability_zone":"us-east-1a",
            "primary_eni_id":"eni-0123456789abcdef0","launch_time":1,"terminate_time":null,"client_token":null,
            "user_data":null,"host_id":null,"disable_api_termination":false,"disable_api_stop":false,
            "ami_launch_index":0,"tags":{},"associate_public_ip":false,"state_transition_time":null}"#,
        );
        same::<VpcPeeringConnection>(
            r#"{"id":"pcx-0123456789abcdef0",
            "requester":{"vpc_id":"vpc-0123456789abcdef0","owner_id":"000000000000","region":"us-east-1",
            "cidrs":["10.0.0.0/16"],"allow_dns_resolution_from_remote_vpc":false},
            "accepter":{"vpc_id":"vpc-0123456789abcdef1","owner_id":"000000000000","region":"us-east-1",
            "cidrs":["10.1.0.0/16"],"allow_dns_resolution_from_remote_vpc":false},
            "status":"active","message":"Active","expiration_time":null,"ended":null,"tags":{}}"#,
        );
        same::<LaunchTemplate>(
            r#"{"id":"lt-0123456789abcdef0","name":"web","create_time":1,
            "created_by":"arn:aws:iam::000000000000:root","default_version":1,"latest_version":2,
            "versions":[{"number":1,"description":null,"create_time":1,"data":{"InstanceType":"t3.micro"}},
            {"number":2,"description":"v2","create_time":2,"data":{"ImageId":"ami-0123456789abcdef0"}}],
            "client_token":null,"tags":{"Name":"t"}}"#,
        );
        same::<Volume>(
            r#"{"id":"vol-0123456789abcdef0","size":8,"snapshot_id":"snap-0123456789abcdef0",
            "availability_zone":"us-east-1a","volume_type":"gp3","iops":3000,"throughput":125,
            "encrypted":false,"kms_key_id":null,"multi_attach_enabled":false,"auto_enable_io":false,
            "create_time":1,"attachment":{"instance_id":"i-0123456789abcdef0","device":"/dev/xvda",
            "attach_time":1,"delete_on_termination":true},
            "modification":{"start_time":2,"original_size":4,"original_type":"gp2","original_iops":100,
            "original_throughput":null,"original_multi_attach":false},"client_token":null,"tags":{}}"#,
        );
        same::<Volume>(
            r#"{"id":"vol-1234abcd","size":1,"snapshot_id":null,"availability_zone":"us-east-1b",
            "volume_type":"gp2","iops":null,"throughput":null,"encrypted":true,"kms_key_id":"k",
            "multi_attach_enabled":false,"auto_enable_io":true,"create_time":1,"attachment":null,
            "modification":null,"client_token":"c","tags":{"Name":"v"}}"#,
        );
        same::<CapacityReservation>(
            r#"{"id":"cr-0123456789abcdef0","instance_type":"t3.micro","instance_platform":"Linux/UNIX",
            "availability_zone":"us-east-1a","tenancy":"default","total_instance_count":2,
            "ebs_optimized":false,"ephemeral_storage":false,"end_date":1700000000000,"targeted":true,
            "create_date":1,"cancelled":null,"placement_group_arn":null,"client_token":"t",
            "tags":{"Name":"cr"}}"#,
        );
        same::<PlacementGroup>(
            r#"{"id":"pg-0123456789abcdef0","name":"web","strategy":"partition",
            "partition_count":3,"spread_level":null,"tags":{"Name":"web"}}"#,
        );
        same::<KeyPair>(
            r#"{"id":"key-0123456789abcdef0","name":"my key","key_type":"ed25519",
            "fingerprint":"abc=","public_key":"ssh-ed25519 AAAA my key","create_time":1,"tags":{}}"#,
        );
    }
}
