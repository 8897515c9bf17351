//! VPC Block Public Access: an account's mode in a region (whether traffic through its
//! internet and egress-only internet gateways is blocked) and the exclusions that exempt
//! single VPCs or subnets from it. Fort keeps them at the API; its data plane does not
//! enforce them yet.

use serde::{Deserialize, Serialize};

use crate::state::wire_enum;
use crate::{Millis, SubnetId, Tags, VpcBlockPublicAccessExclusionId, VpcId};

wire_enum! {
    /// The account's mode (`InternetGatewayBlockMode`).
    pub enum InternetGatewayBlockMode {
        Off = "off",
        BlockBidirectional = "block-bidirectional",
        BlockIngress = "block-ingress",
    }
}

wire_enum! {
    /// The state of the account's options: `default-state` until first modified; a
    /// modification answers `update-in-progress` and settles `update-complete`.
    pub enum VpcBlockPublicAccessState {
        DefaultState = "default-state",
        UpdateInProgress = "update-in-progress",
        UpdateComplete = "update-complete",
    }
}

wire_enum! {
    /// What an exclusion lets through (`InternetGatewayExclusionMode`).
    pub enum InternetGatewayExclusionMode {
        AllowBidirectional = "allow-bidirectional",
        AllowEgress = "allow-egress",
    }
}

wire_enum! {
    /// An exclusion's state. Fort settles at once: the actions answer the `-in-progress`
    /// state and Describe shows the `-complete` one.
    pub enum VpcBlockPublicAccessExclusionState {
        CreateInProgress = "create-in-progress",
        CreateComplete = "create-complete",
        CreateFailed = "create-failed",
        UpdateInProgress = "update-in-progress",
        UpdateComplete = "update-complete",
        UpdateFailed = "update-failed",
        DeleteInProgress = "delete-in-progress",
        DeleteComplete = "delete-complete",
        DisableInProgress = "disable-in-progress",
        DisableComplete = "disable-complete",
    }
}

/// An account's VPC BPA options in a region (one row, id `default`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcBlockPublicAccessOptions {
    pub id: String,
    pub mode: InternetGatewayBlockMode,
    pub state: VpcBlockPublicAccessState,
    pub last_update: Option<Millis>,
}

/// The VPC or subnet an exclusion exempts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExcludedResource {
    Vpc(VpcId),
    Subnet(SubnetId),
}

impl ExcludedResource {
    pub fn id(&self) -> &str {
        match self {
            ExcludedResource::Vpc(v) => v.as_str(),
            ExcludedResource::Subnet(s) => s.as_str(),
        }
    }

    /// The resource's ARN, as the exclusion's `resourceArn` names it.
    pub fn arn(&self, region: &str, account: &str) -> String {
        let kind = match self {
            ExcludedResource::Vpc(_) => "vpc",
            ExcludedResource::Subnet(_) => "subnet",
        };
        format!("arn:aws:ec2:{region}:{account}:{kind}/{}", self.id())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcBlockPublicAccessExclusion {
    pub id: VpcBlockPublicAccessExclusionId,
    pub resource: ExcludedResource,
    pub mode: InternetGatewayExclusionMode,
    pub state: VpcBlockPublicAccessExclusionState,
    pub created: Millis,
    pub last_update: Millis,
    pub deleted: Option<Millis>,
    pub tags: Tags,
}
