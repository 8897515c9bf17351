//! The one error type of the API: an EC2 error code and the message the user sees.
//!
//! Every code Fort answers with is a variant of [`ErrorCode`], declared once in the table
//! below with the text SDKs branch on and the HTTP status EC2 sends it with.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares [`ErrorCode`]: `Variant = "Wire.Code"` (HTTP 400) or `Variant = "Code" => status`.
macro_rules! error_codes {
    ($($variant:ident = $code:literal $(=> $status:literal)?,)*) => {
        /// An EC2 error code: what SDKs branch on.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as EC2 writes it in `<Code>`.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The HTTP status EC2 answers this code with.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => error_codes!(@status $($status)?)),* }
            }
        }
    };
    (@status) => { 400 };
    (@status $status:literal) => { $status };
}

error_codes! {
    ActiveVpcPeeringConnectionPerVpcLimitExceeded = "ActiveVpcPeeringConnectionPerVpcLimitExceeded",
    AddressLimitExceeded = "AddressLimitExceeded",
    AttachmentLimitExceeded = "AttachmentLimitExceeded",
    AuthFailure = "AuthFailure" => 401,
    // RDS, ElastiCache and Redshift subnet groups (their own Query APIs): a group of that
    // name exists, none does, or RDS's group spans a single zone.
    CacheSubnetGroupAlreadyExists = "CacheSubnetGroupAlreadyExists",
    CacheSubnetGroupNotFoundFault = "CacheSubnetGroupNotFoundFault",
    ClusterSubnetGroupAlreadyExists = "ClusterSubnetGroupAlreadyExists",
    ClusterSubnetGroupNotFoundFault = "ClusterSubnetGroupNotFoundFault",
    DBSubnetGroupAlreadyExists = "DBSubnetGroupAlreadyExists",
    DBSubnetGroupDoesNotCoverEnoughAZs = "DBSubnetGroupDoesNotCoverEnoughAZs",
    DBSubnetGroupNotFoundFault = "DBSubnetGroupNotFoundFault" => 404,
    // RDS, ElastiCache, Redshift: a subnet of a subnet group does not exist or is in
    // another VPC.
    InvalidSubnet = "InvalidSubnet",
    CannotDelete = "CannotDelete",
    CidrLimitExceeded = "CidrLimitExceeded",
    // Route 53: a private zone of this name is already associated with the VPC.
    ConflictingDomainExists = "ConflictingDomainExists",
    DefaultSubnetAlreadyExistsInAvailabilityZone = "DefaultSubnetAlreadyExistsInAvailabilityZone",
    DefaultVpcAlreadyExists = "DefaultVpcAlreadyExists",
    DefaultVpcDoesNotExist = "DefaultVpcDoesNotExist",
    // IAM: an entity still has what must go first (policies, versions, attachments).
    DeleteConflict = "DeleteConflict" => 409,
    DependencyViolation = "DependencyViolation",
    DryRunOperation = "DryRunOperation" => 412,
    // A transit gateway already has a live attachment of that VPC.
    DuplicateTransitGatewayAttachment = "DuplicateTransitGatewayAttachment",
    EgressOnlyInternetGatewayLimitExceeded = "EgressOnlyInternetGatewayLimitExceeded",
    // IAM: a role, policy or instance profile of that name exists.
    EntityAlreadyExists = "EntityAlreadyExists" => 409,
    FilterLimitExceeded = "FilterLimitExceeded",
    FlowLogAlreadyExists = "FlowLogAlreadyExists",
    // What CreateFlowLogs writes in an `Unsuccessful` item when its S3 bucket is missing:
    // EC2 puts the bare HTTP status there, not a named code.
    FlowLogDestinationError = "400",
    GatewayNotAttached = "Gateway.NotAttached",
    // Route 53: a CallerReference already used by a zone.
    HostedZoneAlreadyExists = "HostedZoneAlreadyExists" => 409,
    // Route 53: a zone that still holds records other than its apex SOA and NS.
    HostedZoneNotEmpty = "HostedZoneNotEmpty",
    IdempotentParameterMismatch = "IdempotentParameterMismatch",
    IncorrectState = "IncorrectState",
    InvalidLaunchTemplateIdMalformed = "InvalidLaunchTemplateId.Malformed",
    InvalidLaunchTemplateIdNotFound = "InvalidLaunchTemplateId.NotFound",
    InvalidLaunchTemplateIdVersionNotFound = "InvalidLaunchTemplateId.VersionNotFound",
    InvalidLaunchTemplateNameAlreadyExists = "InvalidLaunchTemplateName.AlreadyExistsException",
    InvalidLaunchTemplateNameMalformed = "InvalidLaunchTemplateName.MalformedException",
    InvalidLaunchTemplateNameNotFound = "InvalidLaunchTemplateName.NotFoundException",
    InvalidSnapshotIdMalformed = "InvalidSnapshotID.Malformed",
    InvalidSnapshotNotFound = "InvalidSnapshot.NotFound",
    InvalidSnapshotInUse = "InvalidSnapshot.InUse",
    InvalidVolumeIdMalformed = "InvalidVolumeID.Malformed",
    InvalidVolumeNotFound = "InvalidVolume.NotFound",
    InvalidVolumeZoneMismatch = "InvalidVolume.ZoneMismatch",
    VolumeInUse = "VolumeInUse",
    VolumeLimitExceeded = "VolumeLimitExceeded",
    VolumeModificationRateExceeded = "VolumeModificationRateExceeded",
    InvalidBlockDeviceMapping = "InvalidBlockDeviceMapping",
    IncompleteSignature = "IncompleteSignature",
    IncorrectInstanceState = "IncorrectInstanceState",
    InstanceLimitExceeded = "InstanceLimitExceeded",
    InsufficientAddressCapacity = "InsufficientAddressCapacity",
    InsufficientFreeAddressesInSubnet = "InsufficientFreeAddressesInSubnet",
    InsufficientInstanceCapacity = "InsufficientInstanceCapacity",
    InsufficientHostCapacity = "InsufficientHostCapacity",
    HostLimitExceeded = "HostLimitExceeded",
    InternalError = "InternalError" => 500,
    InternalFailure = "InternalFailure" => 500,
    InternetGatewayLimitExceeded = "InternetGatewayLimitExceeded",
    InvalidAction = "InvalidAction",
    InvalidAddressInUse = "InvalidAddress.InUse",
    InvalidAddressMalformed = "InvalidAddress.Malformed",
    InvalidAddressNotFound = "InvalidAddress.NotFound",
    InvalidAllocationIdMalformed = "InvalidAllocationID.Malformed",
    InvalidAllocationIdNotFound = "InvalidAllocationID.NotFound",
    InvalidAmiAttributeItemValue = "InvalidAMIAttributeItemValue",
    InvalidAmiIdMalformed = "InvalidAMIID.Malformed",
    InvalidAmiIdNotFound = "InvalidAMIID.NotFound",
    InvalidAmiIdUnavailable = "InvalidAMIID.Unavailable",
    InvalidAmiNameDuplicate = "InvalidAMIName.Duplicate",
    InvalidAmiNameMalformed = "InvalidAMIName.Malformed",
    InvalidAssociationIdMalformed = "InvalidAssociationID.Malformed",
    InvalidAssociationIdNotFound = "InvalidAssociationID.NotFound",
    InvalidAttachmentIdNotFound = "InvalidAttachmentID.NotFound",
    InvalidAttachmentNotFound = "InvalidAttachment.NotFound",
    InvalidAssociationNotFound = "InvalidAssociation.NotFound",
    InvalidCapacityReservationIdMalformed = "InvalidCapacityReservationId.Malformed",
    InvalidCapacityReservationIdNotFound = "InvalidCapacityReservationId.NotFound",
    InvalidCarrierGatewayIdMalformed = "InvalidCarrierGatewayID.Malformed",
    // Route 53: a change batch that cannot be applied; the message lists every reason.
    InvalidChangeBatch = "InvalidChangeBatch",
    InvalidCarrierGatewayIdNotFound = "InvalidCarrierGatewayID.NotFound",
    InvalidClientTokenId = "InvalidClientTokenId" => 401,
    InvalidDhcpOptionIdNotFound = "InvalidDhcpOptionID.NotFound",
    // Route 53: a zone name that is not a domain name.
    InvalidDomainName = "InvalidDomainName",
    InvalidDhcpOptionsIdMalformed = "InvalidDhcpOptionsId.Malformed",
    InvalidEgressOnlyInternetGatewayIdMalformed = "InvalidEgressOnlyInternetGatewayId.Malformed",
    InvalidFleetIdMalformed = "InvalidFleetId.Malformed",
    InvalidFleetIdNotFound = "InvalidFleetId.NotFound",
    InvalidFlowLogIdMalformed = "InvalidFlowLogId.Malformed",
    InvalidFlowLogIdNotFound = "InvalidFlowLogId.NotFound",
    InvalidGatewayIdNotFound = "InvalidGatewayID.NotFound",
    InvalidGroupDuplicate = "InvalidGroup.Duplicate",
    InvalidGroupIdMalformed = "InvalidGroupId.Malformed",
    InvalidGroupNotFound = "InvalidGroup.NotFound",
    InvalidGroupReserved = "InvalidGroup.Reserved",
    InvalidHostIdMalformed = "InvalidHostID.Malformed",
    InvalidHostIdNotFound = "InvalidHostID.NotFound",
    InvalidId = "InvalidID",
    InvalidSpotFleetRequestConfig = "InvalidSpotFleetRequestConfig",
    InvalidSpotFleetRequestIdMalformed = "InvalidSpotFleetRequestId.Malformed",
    InvalidSpotFleetRequestIdNotFound = "InvalidSpotFleetRequestId.NotFound",
    InvalidSpotInstanceRequestIdMalformed = "InvalidSpotInstanceRequestID.Malformed",
    InvalidSpotInstanceRequestIdNotFound = "InvalidSpotInstanceRequestID.NotFound",
    // IAM: a value no IAM entity can hold (an ARN that names no policy, a bad marker).
    InvalidInput = "InvalidInput",
    InvalidInstanceId = "InvalidInstanceID",
    InvalidInstanceIdMalformed = "InvalidInstanceID.Malformed",
    InvalidInstanceIdNotFound = "InvalidInstanceID.NotFound",
    InvalidInstanceType = "InvalidInstanceType",
    InvalidInternetGatewayIdMalformed = "InvalidInternetGatewayId.Malformed",
    InvalidInternetGatewayIdNotFound = "InvalidInternetGatewayID.NotFound",
    InvalidIpAddressInUse = "InvalidIPAddress.InUse",
    InvalidIpv6PoolIdNotFound = "InvalidIpv6PoolID.NotFound",
    InvalidKeyPairDuplicate = "InvalidKeyPair.Duplicate",
    InvalidKeyPairFormat = "InvalidKeyPair.Format",
    InvalidKeyPairNotFound = "InvalidKeyPair.NotFound",
    InvalidLocalGatewayIdMalformed = "InvalidLocalGatewayID.Malformed",
    InvalidLocalGatewayIdNotFound = "InvalidLocalGatewayID.NotFound",
    InvalidNatGatewayIdNotFound = "InvalidNatGatewayID.NotFound",
    InvalidNetworkAclEntryNotFound = "InvalidNetworkAclEntry.NotFound",
    InvalidNetworkAclIdMalformed = "InvalidNetworkAclId.Malformed",
    InvalidNetworkAclIdNotFound = "InvalidNetworkAclID.NotFound",
    InvalidNetworkInterfaceAttachmentIdMalformed = "InvalidNetworkInterfaceAttachmentId.Malformed",
    InvalidNetworkInterfaceIdMalformed = "InvalidNetworkInterfaceId.Malformed",
    InvalidNetworkInterfaceIdNotFound = "InvalidNetworkInterfaceID.NotFound",
    InvalidNetworkInterfaceInUse = "InvalidNetworkInterface.InUse",
    InvalidNetworkLoadBalancerArnMalformed = "InvalidNetworkLoadBalancerArn.Malformed",
    InvalidNetworkLoadBalancerArnNotFound = "InvalidNetworkLoadBalancerArn.NotFound",
    InvalidNextToken = "InvalidNextToken",
    // Route 53: a NextToken it did not give.
    InvalidPaginationToken = "InvalidPaginationToken",
    InvalidParameter = "InvalidParameter",
    InvalidParameterCombination = "InvalidParameterCombination",
    InvalidParameterDependency = "InvalidParameterDependency",
    InvalidParameterValue = "InvalidParameterValue",
    InvalidPermissionDuplicate = "InvalidPermission.Duplicate",
    InvalidPermissionNotFound = "InvalidPermission.NotFound",
    InvalidPlacementGroupDuplicate = "InvalidPlacementGroup.Duplicate",
    InvalidPlacementGroupInUse = "InvalidPlacementGroup.InUse",
    // EC2 names an unknown placement group so, by name or by id.
    InvalidPlacementGroupUnknown = "InvalidPlacementGroup.Unknown",
    InvalidPlacementGroupIdMalformed = "InvalidPlacementGroupId.Malformed",
    InvalidPrefixListIdMalformed = "InvalidPrefixListId.Malformed",
    InvalidPrefixListIdNotFound = "InvalidPrefixListID.NotFound",
    InvalidPrefixListModification = "InvalidPrefixListModification",
    PrefixListVersionMismatch = "PrefixListVersionMismatch",
    InvalidPolicyDocument = "InvalidPolicyDocument",
    InvalidServiceName = "InvalidServiceName",
    InvalidVpcEndpointNotFound = "InvalidVpcEndpoint.NotFound",
    VpcEndpointLimitExceeded = "VpcEndpointLimitExceeded",
    DuplicateSubnetsInSameZone = "DuplicateSubnetsInSameZone",
    RouteNotSupported = "RouteNotSupported",
    InvalidPublicIpv4PoolIdNotFound = "InvalidPublicIpv4PoolID.NotFound",
    InvalidRequest = "InvalidRequest",
    InvalidReservationIdMalformed = "InvalidReservationID.Malformed",
    InvalidReservationIdNotFound = "InvalidReservationID.NotFound",
    InvalidRouteNotFound = "InvalidRoute.NotFound",
    InvalidRouteTableIdMalformed = "InvalidRouteTableId.Malformed",
    InvalidRouteTableIdNotFound = "InvalidRouteTableID.NotFound",
    InvalidSecurityGroupRuleIdMalformed = "InvalidSecurityGroupRuleId.Malformed",
    InvalidSecurityGroupRuleIdNotFound = "InvalidSecurityGroupRuleId.NotFound",
    InvalidStateTransition = "InvalidStateTransition",
    InvalidSubnetCidrBlockAssociationIdMalformed = "InvalidSubnetCidrBlockAssociationId.Malformed",
    InvalidSubnetCidrBlockAssociationIdNotFound = "InvalidSubnetCidrBlockAssociationID.NotFound",
    InvalidSubnetCidrReservationIdMalformed = "InvalidSubnetCidrReservationID.Malformed",
    InvalidSubnetCidrReservationIdNotFound = "InvalidSubnetCidrReservationID.NotFound",
    InvalidSubnetConflict = "InvalidSubnet.Conflict",
    InvalidSubnetIdMalformed = "InvalidSubnetID.Malformed",
    InvalidSubnetIdNotFound = "InvalidSubnetID.NotFound",
    InvalidSubnetRange = "InvalidSubnet.Range",
    InvalidTransitGatewayIdMalformed = "InvalidTransitGatewayID.Malformed",
    InvalidTransitGatewayIdNotFound = "InvalidTransitGatewayID.NotFound",
    InvalidTransitGatewayAttachmentIdMalformed = "InvalidTransitGatewayAttachmentID.Malformed",
    InvalidTransitGatewayAttachmentIdNotFound = "InvalidTransitGatewayAttachmentID.NotFound",
    InvalidUserIdMalformed = "InvalidUserID.Malformed",
    InvalidVpcCidrBlockAssociationIdMalformed = "InvalidVpcCidrBlockAssociationID.Malformed",
    InvalidVpcCidrBlockAssociationIdNotFound = "InvalidVpcCidrBlockAssociationID.NotFound",
    InvalidVpcEndpointIdMalformed = "InvalidVpcEndpointId.Malformed",
    InvalidVpcEndpointIdNotFound = "InvalidVpcEndpointId.NotFound",
    InvalidVpcBlockPublicAccessExclusionIdNotFound = "InvalidVpcBlockPublicAccessExclusionId.NotFound",
    InvalidVpcIdMalformed = "InvalidVpcID.Malformed",
    // Route 53: a VPC that does not exist in that region of the caller's account.
    InvalidVpcIdRoute53 = "InvalidVPCId",
    InvalidVpcIdNotFound = "InvalidVpcID.NotFound",
    InvalidVpcPeeringConnectionIdMalformed = "InvalidVpcPeeringConnectionId.Malformed",
    InvalidVpcPeeringConnectionIdNotFound = "InvalidVpcPeeringConnectionID.NotFound",
    InvalidVpcRange = "InvalidVpc.Range",
    InvalidVpnGatewayIdMalformed = "InvalidVpnGatewayID.Malformed",
    InvalidVpnGatewayAttachmentNotFound = "InvalidVpnGatewayAttachment.NotFound",
    InvalidCustomerGatewayIdMalformed = "InvalidCustomerGatewayID.Malformed",
    InvalidVpnConnectionIdMalformed = "InvalidVpnConnectionID.Malformed",
    InvalidVpnConnectionIdNotFound = "InvalidVpnConnectionID.NotFound",
    InvalidCustomerGatewayIdNotFound = "InvalidCustomerGatewayID.NotFound",
    // What EC2 answers for unknown traffic mirroring ids (terraform-provider-aws, whose
    // acceptance tests run against EC2, matches these; EC2's error-code page lists older
    // spellings such as `InvalidTrafficMirrorFilterNotFound`).
    InvalidTrafficMirrorFilterIdNotFound = "InvalidTrafficMirrorFilterId.NotFound",
    InvalidTrafficMirrorFilterRuleIdNotFound = "InvalidTrafficMirrorFilterRuleId.NotFound",
    InvalidTrafficMirrorTargetIdNotFound = "InvalidTrafficMirrorTargetId.NotFound",
    InvalidTrafficMirrorSessionIdNotFound = "InvalidTrafficMirrorSessionId.NotFound",
    VpnGatewayAttachmentLimitExceeded = "VpnGatewayAttachmentLimitExceeded",
    VpnGatewayLimitExceeded = "VpnGatewayLimitExceeded",
    CustomerGatewayLimitExceeded = "CustomerGatewayLimitExceeded",
    VpnConnectionLimitExceeded = "VpnConnectionLimitExceeded",
    InvalidVpnConnectionInvalidState = "InvalidVpnConnection.InvalidState",
    InvalidVpnGatewayIdNotFound = "InvalidVpnGatewayID.NotFound",
    // IAM: a quota of IAM's (policy size, versions, attached policies).
    LimitExceeded = "LimitExceeded" => 409,
    // Route 53: the last VPC of a private zone cannot be disassociated.
    LastVpcAssociation = "LastVPCAssociation",
    // IAM: a policy document that is not JSON or not a policy.
    MalformedPolicyDocument = "MalformedPolicyDocument",
    MalformedQueryString = "MalformedQueryString",
    MissingAction = "MissingAction",
    MissingAuthenticationToken = "MissingAuthenticationToken" => 401,
    MissingInput = "MissingInput",
    MissingParameter = "MissingParameter",
    NatGatewayLimitExceeded = "NatGatewayLimitExceeded",
    NatGatewayMalformed = "NatGatewayMalformed",
    NatGatewayNotFound = "NatGatewayNotFound",
    NetworkAclEntryAlreadyExists = "NetworkAclEntryAlreadyExists",
    NetworkAclEntryLimitExceeded = "NetworkAclEntryLimitExceeded",
    NetworkAclLimitExceeded = "NetworkAclLimitExceeded",
    NetworkInterfaceLimitExceeded = "NetworkInterfaceLimitExceeded",
    // IAM: the named role, policy, version or instance profile does not exist.
    NoSuchEntity = "NoSuchEntity" => 404,
    // Route 53: no change, health check or hosted zone of that id.
    NoSuchChange = "NoSuchChange" => 404,
    NoSuchHealthCheck = "NoSuchHealthCheck" => 404,
    NoSuchHostedZone = "NoSuchHostedZone" => 404,
    OperationNotPermitted = "OperationNotPermitted",
    OutstandingVpcPeeringConnectionLimitExceeded = "OutstandingVpcPeeringConnectionLimitExceeded",
    PrivateIpAddressLimitExceeded = "PrivateIpAddressLimitExceeded",
    // Route 53: a public zone takes no VPC.
    PublicZoneVpcAssociation = "PublicZoneVPCAssociation",
    RequestEntityTooLarge = "RequestEntityTooLarge" => 413,
    RequestExpired = "RequestExpired",
    ReservationCapacityExceeded = "ReservationCapacityExceeded",
    RequestLimitExceeded = "RequestLimitExceeded" => 503,
    ResourceAlreadyAssociated = "Resource.AlreadyAssociated",
    RouteAlreadyExists = "RouteAlreadyExists",
    RouteLimitExceeded = "RouteLimitExceeded",
    RouteTableLimitExceeded = "RouteTableLimitExceeded",
    RulesPerSecurityGroupLimitExceeded = "RulesPerSecurityGroupLimitExceeded",
    SecurityGroupLimitExceeded = "SecurityGroupLimitExceeded",
    SecurityGroupsPerInterfaceLimitExceeded = "SecurityGroupsPerInterfaceLimitExceeded",
    ServiceUnavailable = "ServiceUnavailable" => 503,
    // Fort's own: a write reached a server that is not the cluster's leader; the API sends
    // the request on to the leader instead of answering it.
    NotLeader = "Fort.NotLeader" => 503,
    SignatureDoesNotMatch = "SignatureDoesNotMatch" => 401,
    SubnetLimitExceeded = "SubnetLimitExceeded",
    TagLimitExceeded = "TagLimitExceeded",
    TransitGatewayLimitExceeded = "TransitGatewayLimitExceeded",
    TransitGatewayRouteTablePropagationDuplicate = "TransitGatewayRouteTablePropagation.Duplicate",
    TransitGatewayRouteTablePropagationNotFound = "TransitGatewayRouteTablePropagation.NotFound",
    // Route 53: the account holds as many hosted zones as its quota allows.
    TooManyHostedZones = "TooManyHostedZones",
    UnauthorizedOperation = "UnauthorizedOperation" => 403,
    Unavailable = "Unavailable" => 503,
    UnknownParameter = "UnknownParameter",
    UnsupportedHibernationConfiguration = "UnsupportedHibernationConfiguration",
    UnsupportedOperation = "UnsupportedOperation",
    UnsupportedTenancy = "UnsupportedTenancy",
    // IAM (and other Query services): a parameter fails its constraint.
    ValidationError = "ValidationError",
    VpcIdNotSpecified = "VPCIdNotSpecified",
    // Route 53: the VPC is not associated with the zone.
    VpcAssociationNotFound = "VPCAssociationNotFound" => 404,
    VpcLimitExceeded = "VpcLimitExceeded",
    VpcPeeringConnectionAlreadyExists = "VpcPeeringConnectionAlreadyExists",
}

impl ErrorCode {
    /// The code whose wire text is `s` (codes named by other crates, stored failure codes).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Stored as its wire text (a NAT gateway's failure code).
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown EC2 error code {s}")))
    }
}

/// An EC2 error: `code` is what SDKs branch on, `message` is for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status EC2 answers this error with (the code's, from the table).
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            ErrorCode::MissingParameter,
            format!("The request must contain the parameter {param}"),
        )
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }

    /// `Value (x) for parameter y is invalid. ...`, EC2's usual wording.
    pub fn bad_param(param: &str, value: &str, why: &str) -> Self {
        Self::invalid_value(format!(
            "Value ({value}) for parameter {param} is invalid. {why}"
        ))
    }

    pub fn combination(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterCombination, message)
    }

    pub fn dependency(kind: &str, id: &str) -> Self {
        Self::new(
            ErrorCode::DependencyViolation,
            format!("The {kind} '{id}' has dependencies and cannot be deleted."),
        )
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing_free_log(&detail);
        Self::new(ErrorCode::InternalError, "An internal error has occurred")
    }

    pub fn dry_run() -> Self {
        Self::new(
            ErrorCode::DryRunOperation,
            "Request would have succeeded, but DryRun flag is set.",
        )
    }
}

/// Internal details never reach the user; they go to standard error for the operator.
fn tracing_free_log(detail: &dyn fmt::Display) {
    eprintln!("internal error: {detail}");
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_named_once_and_parses_back() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("NoSuchCode"), None);
    }

    #[test]
    fn statuses_come_from_the_table() {
        assert_eq!(ApiError::dry_run().status(), 412);
        assert_eq!(ApiError::internal("x").status(), 500);
        assert_eq!(ApiError::missing("VpcId").status(), 400);
        assert_eq!(ErrorCode::AuthFailure.status(), 401);
        assert_eq!(ErrorCode::UnauthorizedOperation.status(), 403);
        assert_eq!(ErrorCode::RequestEntityTooLarge.status(), 413);
        assert_eq!(ErrorCode::RequestLimitExceeded.status(), 503);
        assert_eq!(
            ErrorCode::InvalidVpcIdMalformed.as_str(),
            "InvalidVpcID.Malformed"
        );
    }

    #[test]
    fn stored_failure_codes_read_back() {
        let json = serde_json::to_string(&ErrorCode::GatewayNotAttached).unwrap();
        assert_eq!(json, "\"Gateway.NotAttached\"");
        let back: ErrorCode = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ErrorCode::GatewayNotAttached);
    }
}
