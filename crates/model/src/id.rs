//! Resource ids: `<prefix>-<17 lowercase hex>` (older 8-hex ids also parse), and the
//! EC2 error codes that name each kind when an id is malformed or unknown.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{ApiError, ErrorCode};

/// What every id type has: its kind, and its text.
pub trait TypedId:
    Clone + fmt::Debug + fmt::Display + Ord + std::hash::Hash + std::borrow::Borrow<str> + AsRef<str>
{
    const KIND: Kind;
}

/// Declares the id type of one kind: a `String` known to have the kind's form, stored and
/// shown as the plain text.
macro_rules! id_type {
    ($kind:ident, $id:ident, $prefix:literal) => {
        #[doc = concat!("An id of kind [`Kind::", stringify!($kind), "`] (`", $prefix, "-…`).")]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $id(String);

        impl $id {
            pub const KIND: Kind = Kind::$kind;

            /// A fresh id.
            pub fn new() -> Self {
                Self(Kind::$kind.new_id())
            }

            /// A user-given id, with EC2's malformed error when it does not have the form.
            pub fn parse(text: &str) -> Result<Self, ApiError> {
                Kind::$kind.check(text)?;
                Ok(Self(text.to_owned()))
            }

            /// An id read back from a stored row, whose form was checked when it was made.
            #[allow(dead_code)]
            pub(crate) fn stored(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TypedId for $id {
            const KIND: Kind = Kind::$kind;
        }

        impl Default for $id {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::ops::Deref for $id {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $id {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $id {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$id> for String {
            fn from(id: $id) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $id {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $id {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $id {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$id> for String {
            fn eq(&self, other: &$id) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$id> for str {
            fn eq(&self, other: &$id) -> bool {
                self == other.0
            }
        }
    };
}

macro_rules! kinds {
    ($($kind:ident($id:ident) => $prefix:literal, $noun:literal, $malformed:ident, $not_found:ident;)*) => {
        $(id_type!($kind, $id, $prefix);)*

        /// Every kind of id Fort hands out.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $($kind),* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$kind),*];

            /// The id prefix, without the dash.
            pub fn prefix(self) -> &'static str {
                match self { $(Kind::$kind => $prefix),* }
            }

            /// How EC2's messages name the kind ("vpc ID", "subnet ID", ...).
            pub fn noun(self) -> &'static str {
                match self { $(Kind::$kind => $noun),* }
            }

            /// The error code for a badly formed id of this kind.
            pub fn malformed_code(self) -> ErrorCode {
                match self { $(Kind::$kind => ErrorCode::$malformed),* }
            }

            /// The error code for a well-formed id that names nothing.
            pub fn not_found_code(self) -> ErrorCode {
                match self { $(Kind::$kind => ErrorCode::$not_found),* }
            }
        }
    };
}

kinds! {
    Vpc(VpcId) => "vpc", "vpc ID", InvalidVpcIdMalformed, InvalidVpcIdNotFound;
    VpcCidrAssoc(VpcCidrAssociationId) => "vpc-cidr-assoc", "association ID", InvalidVpcCidrBlockAssociationIdMalformed, InvalidVpcCidrBlockAssociationIdNotFound;
    Subnet(SubnetId) => "subnet", "subnet ID", InvalidSubnetIdMalformed, InvalidSubnetIdNotFound;
    SubnetCidrAssoc(SubnetCidrAssociationId) => "subnet-cidr-assoc", "association ID", InvalidSubnetCidrBlockAssociationIdMalformed, InvalidSubnetCidrBlockAssociationIdNotFound;
    SubnetCidrReservation(SubnetCidrReservationId) => "scr", "subnet-cidr-reservation ID", InvalidSubnetCidrReservationIdMalformed, InvalidSubnetCidrReservationIdNotFound;
    RouteTable(RouteTableId) => "rtb", "route table ID", InvalidRouteTableIdMalformed, InvalidRouteTableIdNotFound;
    RouteTableAssoc(RouteTableAssociationId) => "rtbassoc", "association ID", InvalidAssociationIdMalformed, InvalidAssociationIdNotFound;
    InternetGateway(InternetGatewayId) => "igw", "internet gateway ID", InvalidInternetGatewayIdMalformed, InvalidInternetGatewayIdNotFound;
    EgressOnlyInternetGateway(EgressOnlyInternetGatewayId) => "eigw", "egress-only internet gateway ID", InvalidEgressOnlyInternetGatewayIdMalformed, InvalidGatewayIdNotFound;
    NatGateway(NatGatewayId) => "nat", "NAT gateway ID", NatGatewayMalformed, NatGatewayNotFound;
    NetworkAcl(NetworkAclId) => "acl", "network ACL ID", InvalidNetworkAclIdMalformed, InvalidNetworkAclIdNotFound;
    NetworkAclAssoc(NetworkAclAssociationId) => "aclassoc", "association ID", InvalidAssociationIdMalformed, InvalidAssociationIdNotFound;
    SecurityGroup(SecurityGroupId) => "sg", "security group ID", InvalidGroupIdMalformed, InvalidGroupNotFound;
    SecurityGroupRule(SecurityGroupRuleId) => "sgr", "security group rule ID", InvalidSecurityGroupRuleIdMalformed, InvalidSecurityGroupRuleIdNotFound;
    DhcpOptions(DhcpOptionsId) => "dopt", "DHCP options ID", InvalidDhcpOptionsIdMalformed, InvalidDhcpOptionIdNotFound;
    // EC2 writes "The networkInterface ID 'eni-…' does not exist".
    NetworkInterface(NetworkInterfaceId) => "eni", "networkInterface ID", InvalidNetworkInterfaceIdMalformed, InvalidNetworkInterfaceIdNotFound;
    EniAttachment(AttachmentId) => "eni-attach", "attachment ID", InvalidNetworkInterfaceAttachmentIdMalformed, InvalidAttachmentIdNotFound;
    Allocation(AllocationId) => "eipalloc", "allocation ID", InvalidAllocationIdMalformed, InvalidAllocationIdNotFound;
    EipAssociation(EipAssociationId) => "eipassoc", "association ID", InvalidAssociationIdMalformed, InvalidAssociationIdNotFound;
    Instance(InstanceId) => "i", "instance ID", InvalidInstanceIdMalformed, InvalidInstanceIdNotFound;
    IamInstanceProfileAssoc(IamInstanceProfileAssociationId) => "iip-assoc", "association ID", InvalidAssociationIdMalformed, InvalidAssociationIdNotFound;
    SpotInstanceRequest(SpotInstanceRequestId) => "sir", "spot instance request ID", InvalidSpotInstanceRequestIdMalformed, InvalidSpotInstanceRequestIdNotFound;
    Fleet(FleetId) => "fleet", "fleet ID", InvalidFleetIdMalformed, InvalidFleetIdNotFound;
    SpotFleetRequest(SpotFleetRequestId) => "sfr", "spot fleet request ID", InvalidSpotFleetRequestIdMalformed, InvalidSpotFleetRequestIdNotFound;
    DedicatedHost(DedicatedHostId) => "h", "host ID", InvalidHostIdMalformed, InvalidHostIdNotFound;
    Reservation(ReservationId) => "r", "reservation ID", InvalidReservationIdMalformed, InvalidReservationIdNotFound;
    VpcPeeringConnection(VpcPeeringConnectionId) => "pcx", "vpc peering connection ID", InvalidVpcPeeringConnectionIdMalformed, InvalidVpcPeeringConnectionIdNotFound;
    VpcEndpoint(VpcEndpointId) => "vpce", "VPC endpoint ID", InvalidVpcEndpointIdMalformed, InvalidVpcEndpointIdNotFound;
    VpnGateway(VpnGatewayId) => "vgw", "virtual private gateway ID", InvalidVpnGatewayIdMalformed, InvalidVpnGatewayIdNotFound;
    TransitGateway(TransitGatewayId) => "tgw", "transit gateway ID", InvalidTransitGatewayIdMalformed, InvalidTransitGatewayIdNotFound;
    TransitGatewayAttachment(TransitGatewayAttachmentId) => "tgw-attach", "transit gateway attachment ID", InvalidTransitGatewayAttachmentIdMalformed, InvalidTransitGatewayAttachmentIdNotFound;
    // EC2 names a transit gateway route table it does not know with the VPC route table's codes.
    TransitGatewayRouteTable(TransitGatewayRouteTableId) => "tgw-rtb", "transit gateway route table ID", InvalidRouteTableIdMalformed, InvalidRouteTableIdNotFound;
    VpnConnection(VpnConnectionId) => "vpn", "vpnConnection ID", InvalidVpnConnectionIdMalformed, InvalidVpnConnectionIdNotFound;
    CustomerGateway(CustomerGatewayId) => "cgw", "customerGateway ID", InvalidCustomerGatewayIdMalformed, InvalidCustomerGatewayIdNotFound;
    CarrierGateway(CarrierGatewayId) => "cagw", "carrier gateway ID", InvalidCarrierGatewayIdMalformed, InvalidCarrierGatewayIdNotFound;
    // EC2's codes for unknown traffic mirroring resources, also for ids of another form.
    TrafficMirrorFilter(TrafficMirrorFilterId) => "tmf", "traffic mirror filter ID", InvalidTrafficMirrorFilterIdNotFound, InvalidTrafficMirrorFilterIdNotFound;
    TrafficMirrorFilterRule(TrafficMirrorFilterRuleId) => "tmfr", "traffic mirror filter rule ID", InvalidTrafficMirrorFilterRuleIdNotFound, InvalidTrafficMirrorFilterRuleIdNotFound;
    TrafficMirrorTarget(TrafficMirrorTargetId) => "tmt", "traffic mirror target ID", InvalidTrafficMirrorTargetIdNotFound, InvalidTrafficMirrorTargetIdNotFound;
    TrafficMirrorSession(TrafficMirrorSessionId) => "tms", "traffic mirror session ID", InvalidTrafficMirrorSessionIdNotFound, InvalidTrafficMirrorSessionIdNotFound;
    LocalGateway(LocalGatewayId) => "lgw", "local gateway ID", InvalidLocalGatewayIdMalformed, InvalidLocalGatewayIdNotFound;
    PrefixList(PrefixListId) => "pl", "prefix list ID", InvalidPrefixListIdMalformed, InvalidPrefixListIdNotFound;
    // EC2's one code for unknown exclusion ids (Terraform's finder matches it).
    VpcBlockPublicAccessExclusion(VpcBlockPublicAccessExclusionId) => "vpcbpa-exclude", "exclusion ID", InvalidVpcBlockPublicAccessExclusionIdNotFound, InvalidVpcBlockPublicAccessExclusionIdNotFound;
    FlowLog(FlowLogId) => "fl", "flow log ID", InvalidFlowLogIdMalformed, InvalidFlowLogIdNotFound;
    KeyPair(KeyPairId) => "key", "key pair ID", InvalidKeyPairNotFound, InvalidKeyPairNotFound;
    CapacityReservation(CapacityReservationId) => "cr", "capacity reservation ID", InvalidCapacityReservationIdMalformed, InvalidCapacityReservationIdNotFound;
    PlacementGroup(PlacementGroupId) => "pg", "placement group ID", InvalidPlacementGroupIdMalformed, InvalidPlacementGroupUnknown;
    Image(ImageId) => "ami", "image ID", InvalidAmiIdMalformed, InvalidAmiIdNotFound;
    LaunchTemplate(LaunchTemplateId) => "lt", "launch template ID", InvalidLaunchTemplateIdMalformed, InvalidLaunchTemplateIdNotFound;
    Volume(VolumeId) => "vol", "volume ID", InvalidVolumeIdMalformed, InvalidVolumeNotFound;
    Snapshot(SnapshotId) => "snap", "snapshot ID", InvalidSnapshotIdMalformed, InvalidSnapshotNotFound;
}

impl Kind {
    /// A fresh id of this kind.
    pub fn new_id(self) -> String {
        let n: u128 = rand::rng().random();
        match self {
            // `sir-` and 8 lowercase letters and digits, as EC2's Spot requests have
            Kind::SpotInstanceRequest => {
                const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                let mut rng = rand::rng();
                let tail: String = (0..8)
                    .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
                    .collect();
                return format!("sir-{tail}");
            }
            // EC2 Fleets and Spot Fleets are named by a UUID (`fleet-`/`sfr-` and 36
            // characters)
            Kind::Fleet | Kind::SpotFleetRequest => {
                let h = format!("{n:032x}");
                return format!(
                    "{}-{}-{}-{}-{}-{}",
                    self.prefix(),
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                );
            }
            _ => {}
        }
        format!("{}-{:017x}", self.prefix(), n & ((1u128 << 68) - 1))
    }

    /// Whether `id` has this kind's form. EC2 checks only the prefix and the dash: `vpc-12345`
    /// and `vpc-does_not_exist` are well formed and simply name nothing (NotFound), `foo-1234`
    /// is malformed. Launch template ids are the exception: EC2 wants 8 or 17 lowercase hex digits.
    pub fn matches(self, id: &str) -> bool {
        let Some(rest) = id
            .strip_prefix(self.prefix())
            .and_then(|r| r.strip_prefix('-'))
        else {
            return false;
        };
        match self {
            Kind::LaunchTemplate => {
                matches!(rest.len(), 8 | 17)
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }
            _ => !rest.is_empty(),
        }
    }

    /// Checks the form of `id`, with the error EC2 gives for a malformed one.
    pub fn check(self, id: &str) -> Result<(), ApiError> {
        if self.matches(id) {
            Ok(())
        } else {
            Err(self.malformed(id))
        }
    }

    pub fn malformed(self, id: &str) -> ApiError {
        ApiError::new(
            self.malformed_code(),
            format!("Invalid id: \"{id}\" (expecting \"{}-...\")", self.prefix()),
        )
    }

    pub fn not_found(self, id: &str) -> ApiError {
        let message = match self {
            Kind::SecurityGroup => format!("The security group '{id}' does not exist"),
            Kind::Instance => format!("The instance ID '{id}' does not exist"),
            Kind::NatGateway => format!("The Nat Gateway {id} was not found"),
            Kind::Allocation => format!("The allocation ID '{id}' does not exist"),
            Kind::LaunchTemplate => {
                format!("The specified launch template, with template ID {id}, does not exist.")
            }
            Kind::Volume => format!("The volume '{id}' does not exist."),
            Kind::Snapshot => format!("The snapshot '{id}' does not exist."),
            Kind::VpcEndpoint => format!("The Vpc Endpoint Id '{id}' does not exist"),
            Kind::SpotInstanceRequest => {
                format!("The spot instance request ID '{id}' does not exist")
            }
            Kind::Fleet => format!("The fleet ID '{id}' does not exist"),
            Kind::SpotFleetRequest => {
                format!("The spot fleet request ID '{id}' does not exist")
            }
            Kind::DedicatedHost => format!("The specified host ID '{id}' does not exist"),
            Kind::CapacityReservation => {
                format!("The capacity reservation ID '{id}' does not exist")
            }
            Kind::TransitGateway => format!("Transit Gateway {id} was deleted or does not exist."),
            Kind::TransitGatewayAttachment => {
                format!("Transit Gateway Attachment {id} was deleted or does not exist.")
            }
            Kind::TransitGatewayRouteTable => {
                format!("Transit Gateway Route Table {id} was deleted or does not exist.")
            }
            Kind::TrafficMirrorFilter => {
                format!("The traffic mirror filter '{id}' does not exist.")
            }
            Kind::TrafficMirrorFilterRule => {
                format!("The traffic mirror filter rule '{id}' does not exist.")
            }
            Kind::TrafficMirrorTarget => {
                format!("The traffic mirror target '{id}' does not exist.")
            }
            Kind::TrafficMirrorSession => {
                format!("The traffic mirror session '{id}' does not exist.")
            }
            Kind::IamInstanceProfileAssoc => {
                format!("An invalid association-id of '{id}' was given")
            }
            Kind::RouteTableAssoc | Kind::NetworkAclAssoc | Kind::EipAssociation => {
                format!("The association ID '{id}' does not exist")
            }
            _ => format!("The {} '{id}' does not exist", self.noun()),
        };
        ApiError::new(self.not_found_code(), message)
    }

    /// The kind whose prefix `id` carries, if any (longest prefix wins: `eni-attach-` over `eni-`).
    pub fn of(id: &str) -> Option<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .filter(|k| k.matches(id))
            .max_by_key(|k| k.prefix().len())
    }
}

/// A locally administered unicast MAC, `02:xx:xx:xx:xx:xx`, as EC2 gives ENIs.
pub fn new_mac() -> String {
    let b: [u8; 5] = rand::rng().random();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_have_their_kind() {
        for &kind in Kind::ALL {
            let id = kind.new_id();
            assert!(kind.matches(&id), "{id}");
            assert_eq!(Kind::of(&id), Some(kind), "{id}");
        }
    }

    #[test]
    fn id_types_check_their_form_and_store_as_text() {
        let id = VpcId::new();
        assert_eq!(VpcId::KIND, Kind::Vpc);
        assert!(Kind::Vpc.matches(&id));
        assert_eq!(VpcId::parse(id.as_str()).unwrap(), id);
        assert_eq!(
            SubnetId::parse("vpc-1a2b3c4d").unwrap_err().code,
            ErrorCode::InvalidSubnetIdMalformed
        );
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<VpcId>(&json).unwrap(), id);
    }

    #[test]
    fn ids_with_the_prefix_are_well_formed_and_others_are_not() {
        // EC2 answers NotFound for these, not Malformed
        assert!(Kind::Vpc.matches("vpc-1a2b3c4d"));
        assert!(Kind::Vpc.matches("vpc-123"));
        assert!(Kind::Vpc.matches("vpc-does_not_exist"));
        assert!(!Kind::Vpc.matches("vpc-"));
        assert!(!Kind::Vpc.matches("subnet-1a2b3c4d"));
        assert!(!Kind::Vpc.matches("vpc1a2b3c4d"));
        assert!(!Kind::LaunchTemplate.matches("lt-123"));
        assert!(Kind::LaunchTemplate.matches("lt-0123456789abcdef0"));
        let e = Kind::Image.check("not_an_ami_id").unwrap_err();
        assert_eq!(e.code, "InvalidAMIID.Malformed");
        assert_eq!(
            e.message,
            "Invalid id: \"not_an_ami_id\" (expecting \"ami-...\")"
        );
        assert_eq!(Kind::of("i-foo"), Some(Kind::Instance));
        assert_eq!(Kind::of("igw-foo"), Some(Kind::InternetGateway));
        assert_eq!(
            Kind::of("eni-attach-0123456789abcdef0"),
            Some(Kind::EniAttachment)
        );
        assert_eq!(
            Kind::of("vpc-cidr-assoc-0123456789abcdef0"),
            Some(Kind::VpcCidrAssoc)
        );
        assert_eq!(
            Kind::of("tgw-attach-0123456789abcdef0"),
            Some(Kind::TransitGatewayAttachment)
        );
        assert_eq!(
            Kind::of("tgw-rtb-0123456789abcdef0"),
            Some(Kind::TransitGatewayRouteTable)
        );
        assert_eq!(
            Kind::of("tgw-0123456789abcdef0"),
            Some(Kind::TransitGateway)
        );
    }
}
