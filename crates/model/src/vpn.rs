//! Site-to-Site VPN's VPC side: virtual private gateways (attached to at most one VPC, a
//! route target and a source of propagated routes) and customer gateways (the remote
//! device's address and ASN). Fort keeps them at the API; no tunnel carries traffic yet.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::state::wire_enum;
use crate::{CustomerGatewayId, Millis, Tags, VpcId, VpnGatewayId};

wire_enum! {
    /// A virtual private gateway's or a customer gateway's state: Fort's are `available`
    /// when created and `deleted` (still described for a while) when deleted.
    pub enum VpnGatewayState {
        Pending = "pending",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
    }
}

wire_enum! {
    /// The state of a virtual private gateway's attachment to a VPC.
    pub enum VpnAttachmentState {
        Attaching = "attaching",
        Attached = "attached",
        Detaching = "detaching",
        Detached = "detached",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnGatewayAttachment {
    pub vpc_id: VpcId,
    pub state: VpnAttachmentState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpnGateway {
    pub id: VpnGatewayId,
    pub state: VpnGatewayState,
    pub amazon_side_asn: u64,
    /// The VPCs it was attached to: at most one `attached`; detached ones stay listed.
    pub attachments: Vec<VpnGatewayAttachment>,
    pub deleted: Option<Millis>,
    pub tags: Tags,
}

impl VpnGateway {
    /// The VPC it is attached to now.
    pub fn attached_vpc(&self) -> Option<&VpcId> {
        self.attachments
            .iter()
            .find(|a| a.state == VpnAttachmentState::Attached)
            .map(|a| &a.vpc_id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerGateway {
    pub id: CustomerGatewayId,
    pub state: VpnGatewayState,
    /// `BgpAsn` (up to 2,147,483,647) or `BgpAsnExtended` (above).
    pub bgp_asn: u64,
    pub ip_address: Option<Ipv4Addr>,
    pub certificate_arn: Option<String>,
    pub device_name: Option<String>,
    pub deleted: Option<Millis>,
    pub tags: Tags,
}
