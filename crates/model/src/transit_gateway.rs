//! Transit gateways, their attachments (VPCs, peerings with other transit gateways) and
//! their route tables, as the control plane stores them.
//!
//! A route table keeps only what users set: its static routes, the attachments associated
//! with it and those propagating to it. Propagated routes are not stored: they follow from
//! the propagating attachments' VPC blocks each time they are read (see control's
//! `transit_gateway::routes`), so a VPC that gains a block propagates it at once.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::state::wire_enum;
use crate::{
    Millis, NetworkInterfaceId, SubnetId, Tags, TransitGatewayAttachmentId, TransitGatewayId,
    TransitGatewayRouteTableId, VpcId,
};

wire_enum! {
    /// A transit gateway's state. Fort provisions at once: the actions answer with the
    /// transitional state (`pending`, `modifying`, `deleting`) and Describe shows where it
    /// settled.
    pub enum TransitGatewayState {
        Pending = "pending",
        Available = "available",
        Modifying = "modifying",
        Deleting = "deleting",
        Deleted = "deleted",
    }
}

wire_enum! {
    /// The state of an attachment (a VPC's or a peering's), in EC2's camelCase.
    pub enum TransitGatewayAttachmentState {
        Initiating = "initiating",
        InitiatingRequest = "initiatingRequest",
        PendingAcceptance = "pendingAcceptance",
        RollingBack = "rollingBack",
        Pending = "pending",
        Available = "available",
        Modifying = "modifying",
        Deleting = "deleting",
        Deleted = "deleted",
        Failed = "failed",
        Rejected = "rejected",
        Rejecting = "rejecting",
        Failing = "failing",
    }
}

impl TransitGatewayAttachmentState {
    /// Gone for good: deleted, rejected or failed (EC2's "non-deleted" attachments are the
    /// others).
    pub const fn is_ended(self) -> bool {
        matches!(
            self,
            Self::Deleted | Self::Deleting | Self::Rejected | Self::Rejecting | Self::Failed
        )
    }
}

wire_enum! {
    /// A transit gateway route table's state.
    pub enum TransitGatewayRouteTableState {
        Pending = "pending",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
    }
}

wire_enum! {
    /// What kind of resource an attachment connects.
    pub enum TransitGatewayAttachmentResourceType {
        Vpc = "vpc",
        Peering = "peering",
        Vpn = "vpn",
    }
}

wire_enum! {
    /// An `enable` / `disable` option of a transit gateway or an attachment.
    pub enum TransitGatewayToggle {
        Enable = "enable",
        Disable = "disable",
    }
}

impl TransitGatewayToggle {
    pub const fn of(on: bool) -> Self {
        if on { Self::Enable } else { Self::Disable }
    }

    pub const fn is_on(self) -> bool {
        matches!(self, Self::Enable)
    }
}

wire_enum! {
    /// A route of a transit gateway route table: set by hand, or propagated from an attachment.
    pub enum TransitGatewayRouteType {
        Static = "static",
        Propagated = "propagated",
    }
}

wire_enum! {
    /// Whether a transit gateway route carries traffic.
    pub enum TransitGatewayRouteState {
        Pending = "pending",
        Active = "active",
        Blackhole = "blackhole",
        Deleting = "deleting",
        Deleted = "deleted",
    }
}

/// The Amazon side ASN a transit gateway gets when none is asked for.
pub const DEFAULT_AMAZON_SIDE_ASN: u32 = 64512;

/// Whether `asn` is a private ASN EC2 takes for the Amazon side: 64512–65534 (16 bit) or
/// 4200000000–4294967294 (32 bit).
pub fn is_private_asn(asn: i64) -> bool {
    (64_512..=65_534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
}

/// A transit gateway's options (`TransitGatewayOptions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitGatewayOptions {
    pub amazon_side_asn: u32,
    pub auto_accept_shared_attachments: bool,
    /// New attachments are associated with the default association route table.
    pub default_route_table_association: bool,
    /// New attachments propagate to the default propagation route table.
    pub default_route_table_propagation: bool,
    pub association_default_route_table_id: Option<TransitGatewayRouteTableId>,
    pub propagation_default_route_table_id: Option<TransitGatewayRouteTableId>,
    pub vpn_ecmp_support: bool,
    pub dns_support: bool,
    pub security_group_referencing_support: bool,
    pub multicast_support: bool,
    /// Blocks for the gateway's own addresses (Connect peers), in the order given.
    pub cidr_blocks: Vec<IpNet>,
}

/// A transit gateway: a regional router joining attachments through its route tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitGateway {
    pub id: TransitGatewayId,
    pub description: Option<String>,
    pub state: TransitGatewayState,
    pub options: TransitGatewayOptions,
    pub create_time: Millis,
    /// When it was deleted: Describe still shows it for a while.
    pub deleted_at: Option<Millis>,
    pub tags: Tags,
}

impl TransitGateway {
    pub fn is_live(&self) -> bool {
        !matches!(
            self.state,
            TransitGatewayState::Deleting | TransitGatewayState::Deleted
        )
    }

    /// `arn:aws:ec2:REGION:ACCOUNT:transit-gateway/ID`.
    pub fn arn(&self, region: &str, account: &str) -> String {
        format!("arn:aws:ec2:{region}:{account}:transit-gateway/{}", self.id)
    }
}

/// The options of a VPC attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcAttachmentOptions {
    pub dns_support: bool,
    pub ipv6_support: bool,
    /// Keeps a flow on one attachment subnet's zone both ways (stateful appliances).
    pub appliance_mode_support: bool,
    pub security_group_referencing_support: bool,
}

impl Default for VpcAttachmentOptions {
    fn default() -> Self {
        Self {
            dns_support: true,
            ipv6_support: false,
            appliance_mode_support: false,
            security_group_referencing_support: true,
        }
    }
}

/// One subnet of a VPC attachment and the requester-managed interface the transit gateway
/// has there: where traffic from the gateway enters the VPC in that zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentSubnet {
    pub subnet_id: SubnetId,
    pub network_interface_id: NetworkInterfaceId,
}

/// A VPC attached to a transit gateway of the same account and region, through one subnet
/// per availability zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitGatewayVpcAttachment {
    pub id: TransitGatewayAttachmentId,
    pub transit_gateway_id: TransitGatewayId,
    pub vpc_id: VpcId,
    pub state: TransitGatewayAttachmentState,
    /// In the order they were added (at most one per zone).
    pub subnets: Vec<AttachmentSubnet>,
    pub options: VpcAttachmentOptions,
    pub create_time: Millis,
    pub deleted_at: Option<Millis>,
    pub tags: Tags,
}

impl TransitGatewayVpcAttachment {
    pub fn subnet_ids(&self) -> impl Iterator<Item = &SubnetId> {
        self.subnets.iter().map(|s| &s.subnet_id)
    }

    pub fn is_live(&self) -> bool {
        !self.state.is_ended()
    }
}

/// A static route: to an attachment, or a blackhole (dropped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransitGatewayRouteTarget {
    Attachment(TransitGatewayAttachmentId),
    Blackhole,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitGatewayStaticRoute {
    pub destination: IpNet,
    pub target: TransitGatewayRouteTarget,
}

/// A route table of a transit gateway: the attachments associated with it look their
/// packets' destinations up in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitGatewayRouteTable {
    pub id: TransitGatewayRouteTableId,
    pub transit_gateway_id: TransitGatewayId,
    pub state: TransitGatewayRouteTableState,
    /// Static and blackhole routes, ordered by destination.
    pub routes: Vec<TransitGatewayStaticRoute>,
    /// Attachments associated with the table (an attachment has at most one table).
    pub associations: Vec<TransitGatewayAttachmentId>,
    /// Attachments whose routes propagate to the table, in the order enabled.
    pub propagations: Vec<TransitGatewayAttachmentId>,
    pub create_time: Millis,
    pub deleted_at: Option<Millis>,
    pub tags: Tags,
}

impl TransitGatewayRouteTable {
    pub fn is_live(&self) -> bool {
        matches!(
            self.state,
            TransitGatewayRouteTableState::Pending | TransitGatewayRouteTableState::Available
        )
    }
}

/// One side of a peering attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeeringTgwInfo {
    pub transit_gateway_id: TransitGatewayId,
    pub owner_id: String,
    pub region: String,
}

/// A peering between two transit gateways (any accounts, any regions of this Fort): one
/// record shared by both sides, under one attachment id, as in EC2. Routes across it are
/// static only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitGatewayPeeringAttachment {
    pub id: TransitGatewayAttachmentId,
    pub requester: PeeringTgwInfo,
    pub accepter: PeeringTgwInfo,
    pub state: TransitGatewayAttachmentState,
    /// `status.message`: why it is where it is.
    pub status_message: String,
    /// `options.dynamicRouting`, as the request gave it: EC2 describes options only when
    /// they were asked for.
    #[serde(default)]
    pub dynamic_routing: Option<bool>,
    pub create_time: Millis,
    /// When it was deleted or rejected: still described for a while after.
    pub ended: Option<Millis>,
    pub tags: Tags,
}

impl TransitGatewayPeeringAttachment {
    /// The side in (`account`, `region`), if either is.
    pub fn side(&self, account: &str, region: &str) -> Option<&PeeringTgwInfo> {
        [&self.requester, &self.accepter]
            .into_iter()
            .find(|s| s.owner_id == account && s.region == region)
    }

    /// The side whose transit gateway is `tgw`, and the other side.
    pub fn sides_of(&self, tgw: &str) -> Option<(&PeeringTgwInfo, &PeeringTgwInfo)> {
        if self.requester.transit_gateway_id == tgw {
            Some((&self.requester, &self.accepter))
        } else if self.accepter.transit_gateway_id == tgw {
            Some((&self.accepter, &self.requester))
        } else {
            None
        }
    }

    pub fn is_live(&self) -> bool {
        !self.state.is_ended()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_ec2_texts() {
        assert_eq!(
            serde_json::to_string(&TransitGatewayAttachmentState::PendingAcceptance).unwrap(),
            "\"pendingAcceptance\""
        );
        assert_eq!(
            TransitGatewayAttachmentState::parse("initiatingRequest"),
            Some(TransitGatewayAttachmentState::InitiatingRequest)
        );
        assert!(TransitGatewayAttachmentState::Deleted.is_ended());
        assert!(!TransitGatewayAttachmentState::Modifying.is_ended());
        assert_eq!(TransitGatewayToggle::of(true).as_str(), "enable");
    }

    #[test]
    fn private_asns_only() {
        assert!(is_private_asn(64512));
        assert!(is_private_asn(65534));
        assert!(is_private_asn(4_200_000_000));
        assert!(!is_private_asn(65535));
        assert!(!is_private_asn(100));
        assert!(!is_private_asn(4_294_967_295));
    }
}
