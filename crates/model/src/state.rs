//! The states, statuses and roles resources move through, as enums. Each is stored and
//! shown as the text EC2 uses (`shutting-down`, `pending-acceptance`), so stored rows read
//! the same as when these were strings.

use serde::{Deserialize, Serialize};

/// Declares an enum whose variants are written as EC2's texts: in the store (serde), in
/// responses and filters ([`as_str`](InstanceState::as_str)), and parsed back.
macro_rules! wire_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The text EC2 writes.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// The value EC2's text names.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// An instance's lifecycle state.
    pub enum InstanceState {
        Pending = "pending",
        Running = "running",
        ShuttingDown = "shutting-down",
        Terminated = "terminated",
        Stopping = "stopping",
        Stopped = "stopped",
    }
}

impl InstanceState {
    /// EC2's numeric state code (`instanceState.code`).
    pub const fn code(self) -> i32 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }

    /// Pending or running: the instance has (or is getting) its place on a host.
    pub const fn is_up(self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }
}

wire_enum! {
    /// A NAT gateway's state.
    pub enum NatGatewayState {
        Pending = "pending",
        Failed = "failed",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
    }
}

impl NatGatewayState {
    /// Pending, available or deleting: the gateway holds its quota slot and its address.
    pub const fn is_live(self) -> bool {
        matches!(
            self,
            NatGatewayState::Pending | NatGatewayState::Available | NatGatewayState::Deleting
        )
    }
}

wire_enum! {
    /// A NAT gateway's connectivity type.
    pub enum ConnectivityType {
        Public = "public",
        Private = "private",
    }
}

wire_enum! {
    /// The state of a VPC's CIDR block association.
    pub enum CidrBlockState {
        /// What Associate answers; the next Describe shows `associated`.
        Associating = "associating",
        Associated = "associated",
        /// What Disassociate answers; the next Describe shows `disassociated`.
        Disassociating = "disassociating",
        Disassociated = "disassociated",
    }
}

wire_enum! {
    /// The status of a network interface's attachment to an instance.
    pub enum AttachmentStatus {
        Attaching = "attaching",
        Attached = "attached",
        Detaching = "detaching",
        Detached = "detached",
    }
}

wire_enum! {
    /// A VPC peering connection's status code.
    pub enum PeeringStatus {
        /// What CreateVpcPeeringConnection answers; the next Describe shows the request
        /// `pending-acceptance`.
        InitiatingRequest = "initiating-request",
        PendingAcceptance = "pending-acceptance",
        Active = "active",
        Failed = "failed",
        Rejected = "rejected",
        Expired = "expired",
        Deleted = "deleted",
    }
}

wire_enum! {
    /// The state of a route: whether its target can carry traffic.
    pub enum RouteState {
        Active = "active",
        Blackhole = "blackhole",
    }
}

wire_enum! {
    /// How a route came to be in its table.
    pub enum RouteOrigin {
        /// The local routes every table gets.
        CreateRouteTable = "CreateRouteTable",
        CreateRoute = "CreateRoute",
        EnableVgwRoutePropagation = "EnableVgwRoutePropagation",
    }
}

wire_enum! {
    /// An image's (AMI's) state.
    pub enum ImageState {
        Pending = "pending",
        Available = "available",
        Invalid = "invalid",
        Deregistered = "deregistered",
        Transient = "transient",
        Failed = "failed",
        Error = "error",
        Disabled = "disabled",
    }
}

wire_enum! {
    /// What a registered host does: run instances, or the edge (gateways to the outside).
    pub enum HostRole {
        Instance = "instance",
        Edge = "edge",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_as_the_strings_they_replace() {
        for &s in InstanceState::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<InstanceState>(&json).unwrap(), s);
            assert_eq!(InstanceState::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            serde_json::to_string(&PeeringStatus::PendingAcceptance).unwrap(),
            "\"pending-acceptance\""
        );
        assert_eq!(
            serde_json::to_string(&InstanceState::ShuttingDown).unwrap(),
            "\"shutting-down\""
        );
        assert_eq!(serde_json::to_string(&HostRole::Edge).unwrap(), "\"edge\"");
        assert_eq!(InstanceState::Stopped.code(), 80);
    }
}

wire_enum! {
    /// A Spot Instance request's state.
    pub enum SpotRequestState {
        Open = "open",
        Active = "active",
        Closed = "closed",
        Cancelled = "cancelled",
        Failed = "failed",
        Disabled = "disabled",
    }
}

wire_enum! {
    /// Whether a Spot request ends with its instance (`one-time`) or stays (`persistent`).
    #[derive(Default)]
    pub enum SpotInstanceType {
        #[default]
        OneTime = "one-time",
        Persistent = "persistent",
    }
}

wire_enum! {
    /// What EC2 does with a Spot Instance it interrupts.
    #[derive(Default)]
    pub enum InterruptionBehavior {
        #[default]
        Terminate = "terminate",
        Stop = "stop",
        Hibernate = "hibernate",
    }
}

wire_enum! {
    /// An EC2 Fleet's type: `instant` launches once and answers the instances; `request`
    /// launches once and keeps no target; `maintain` keeps its target capacity.
    pub enum FleetType {
        Instant = "instant",
        Request = "request",
        Maintain = "maintain",
    }
}

wire_enum! {
    /// An EC2 Fleet's state.
    pub enum FleetState {
        Submitted = "submitted",
        Active = "active",
        Deleted = "deleted",
        Failed = "failed",
        DeletedRunning = "deleted_running",
        DeletedTerminating = "deleted_terminating",
        Modifying = "modifying",
    }
}

wire_enum! {
    /// The market an instance was bought on (`instanceLifecycle`, a fleet's capacity type).
    pub enum MarketType {
        Spot = "spot",
        OnDemand = "on-demand",
    }
}

wire_enum! {
    /// A Dedicated Host's state. Fort's hosts are accounting (see [`crate::DedicatedHost`]):
    /// they are `available` from allocation until released; no hardware fails under them.
    pub enum HostState {
        Available = "available",
        UnderAssessment = "under-assessment",
        PermanentFailure = "permanent-failure",
        Released = "released",
        ReleasedPermanentFailure = "released-permanent-failure",
        Pending = "pending",
    }
}

wire_enum! {
    /// `on` or `off`: a Dedicated Host's `AutoPlacement` and `HostRecovery`.
    pub enum OnOff {
        On = "on",
        Off = "off",
    }
}

wire_enum! {
    /// `Placement.Affinity` of an instance on a Dedicated Host: `host` keeps it on the
    /// same host when it stops and starts; `default` lets it move.
    pub enum HostAffinity {
        Default = "default",
        Host = "host",
    }
}

wire_enum! {
    /// A Spot Fleet request's type: `request` launches once; `maintain` keeps its target;
    /// `instant` is not offered for Spot Fleet (EC2 Fleet has it).
    pub enum SpotFleetType {
        Request = "request",
        Maintain = "maintain",
        Instant = "instant",
    }
}

wire_enum! {
    /// A Spot Fleet request's state.
    pub enum SpotFleetRequestState {
        Submitted = "submitted",
        Active = "active",
        Cancelled = "cancelled",
        Failed = "failed",
        CancelledRunning = "cancelled_running",
        CancelledTerminating = "cancelled_terminating",
        Modifying = "modifying",
    }
}

impl SpotFleetRequestState {
    /// Cancelled in any of its forms: the fleet launches nothing more.
    pub const fn is_cancelled(self) -> bool {
        matches!(
            self,
            SpotFleetRequestState::Cancelled
                | SpotFleetRequestState::CancelledRunning
                | SpotFleetRequestState::CancelledTerminating
        )
    }
}

wire_enum! {
    /// A Spot Fleet's allocation strategy (EC2 writes these in camel case, unlike EC2
    /// Fleet's kebab case).
    pub enum SpotAllocationStrategy {
        LowestPrice = "lowestPrice",
        Diversified = "diversified",
        CapacityOptimized = "capacityOptimized",
        CapacityOptimizedPrioritized = "capacityOptimizedPrioritized",
        PriceCapacityOptimized = "priceCapacityOptimized",
    }
}

wire_enum! {
    /// What a Spot Fleet does with instances beyond a lowered target.
    pub enum ExcessCapacityTerminationPolicy {
        NoTermination = "noTermination",
        Default = "default",
    }
}

impl ExcessCapacityTerminationPolicy {
    /// The policy a spelling names, in any case (`Default`, `NoTermination`, as EC2 takes).
    pub fn of(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(text))
    }
}
