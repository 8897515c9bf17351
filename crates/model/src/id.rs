//! Resource ids: `<prefix>-<17 lowercase hex>` (older 8-hex ids also parse), and the
//! EC2 error codes that name each kind when an id is malformed or unknown.

use rand::Rng;

use crate::{ApiError, ErrorCode};

macro_rules! kinds {
    ($($kind:ident => $prefix:literal, $noun:literal, $malformed:ident, $not_found:ident;)*) => {
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
    Vpc => "vpc", "vpc ID", InvalidVpcIdMalformed, InvalidVpcIdNotFound;
    VpcCidrAssoc => "vpc-cidr-assoc", "association ID", InvalidVpcCidrBlockAssociationIdMalformed, InvalidVpcCidrBlockAssociationIdNotFound;
    Subnet => "subnet", "subnet ID", InvalidSubnetIdMalformed, InvalidSubnetIdNotFound;
    RouteTable => "rtb", "route table ID", InvalidRouteTableIdMalformed, InvalidRouteTableIdNotFound;
    RouteTableAssoc => "rtbassoc", "association ID", InvalidAssociationIdMalformed, InvalidAssociationIdNotFound;
    InternetGateway => "igw", "internet gateway ID", InvalidInternetGatewayIdMalformed, InvalidInternetGatewayIdNotFound;
    EgressOnlyInternetGateway => "eigw", "egress-only internet gateway ID", InvalidEgressOnlyInternetGatewayIdMalformed, InvalidGatewayIdNotFound;
    NatGateway => "nat", "NAT gateway ID", NatGatewayMalformed, NatGatewayNotFound;
    NetworkAcl => "acl", "network ACL ID", InvalidNetworkAclIdMalformed, InvalidNetworkAclIdNotFound;
    NetworkAclAssoc => "aclassoc", "association ID", InvalidAssociationIdMalformed, InvalidAssociationIdNotFound;
    SecurityGroup => "sg", "security group ID", InvalidGroupIdMalformed, InvalidGroupNotFound;
    SecurityGroupRule => "sgr", "security group rule ID", InvalidSecurityGroupRuleIdMalformed, InvalidSecurityGroupRuleIdNotFound;
    DhcpOptions => "dopt", "DHCP options ID", InvalidDhcpOptionsIdMalformed, InvalidDhcpOptionIdNotFound;
    NetworkInterface => "eni", "network interface ID", InvalidNetworkInterfaceIdMalformed, InvalidNetworkInterfaceIdNotFound;
    EniAttachment => "eni-attach", "attachment ID", InvalidNetworkInterfaceAttachmentIdMalformed, InvalidAttachmentIdNotFound;
    Allocation => "eipalloc", "allocation ID", InvalidAllocationIdMalformed, InvalidAllocationIdNotFound;
    EipAssociation => "eipassoc", "association ID", InvalidAssociationIdMalformed, InvalidAssociationIdNotFound;
    Instance => "i", "instance ID", InvalidInstanceIdMalformed, InvalidInstanceIdNotFound;
    Reservation => "r", "reservation ID", InvalidReservationIdMalformed, InvalidReservationIdNotFound;
    VpcPeeringConnection => "pcx", "vpc peering connection ID", InvalidVpcPeeringConnectionIdMalformed, InvalidVpcPeeringConnectionIdNotFound;
    VpcEndpoint => "vpce", "VPC endpoint ID", InvalidVpcEndpointIdMalformed, InvalidVpcEndpointIdNotFound;
    VpnGateway => "vgw", "VPN gateway ID", InvalidVpnGatewayIdMalformed, InvalidVpnGatewayIdNotFound;
    TransitGateway => "tgw", "transit gateway ID", InvalidTransitGatewayIdMalformed, InvalidTransitGatewayIdNotFound;
    CarrierGateway => "cagw", "carrier gateway ID", InvalidCarrierGatewayIdMalformed, InvalidCarrierGatewayIdNotFound;
    LocalGateway => "lgw", "local gateway ID", InvalidLocalGatewayIdMalformed, InvalidLocalGatewayIdNotFound;
    PrefixList => "pl", "prefix list ID", InvalidPrefixListIdMalformed, InvalidPrefixListIdNotFound;
    FlowLog => "fl", "flow log ID", InvalidFlowLogIdMalformed, InvalidFlowLogIdNotFound;
    KeyPair => "key", "key pair ID", InvalidKeyPairNotFound, InvalidKeyPairNotFound;
    Image => "ami", "image ID", InvalidAmiIdMalformed, InvalidAmiIdNotFound;
}

impl Kind {
    /// A fresh id of this kind.
    pub fn new_id(self) -> String {
        let n: u128 = rand::rng().random();
        format!("{}-{:017x}", self.prefix(), n & ((1u128 << 68) - 1))
    }

    /// Whether `id` has this kind's form: the prefix, a dash and 8 or 17 lowercase hex digits.
    pub fn matches(self, id: &str) -> bool {
        let Some(rest) = id
            .strip_prefix(self.prefix())
            .and_then(|r| r.strip_prefix('-'))
        else {
            return false;
        };
        matches!(rest.len(), 8 | 17)
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
        ApiError::new(self.malformed_code(), format!("Invalid id: \"{id}\""))
    }

    pub fn not_found(self, id: &str) -> ApiError {
        let message = match self {
            Kind::SecurityGroup => format!("The security group '{id}' does not exist"),
            Kind::Instance => format!("The instance ID '{id}' does not exist"),
            Kind::NatGateway => format!("The Nat Gateway {id} was not found"),
            Kind::Allocation => format!("The allocation ID '{id}' does not exist"),
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
    fn short_ids_parse_and_bad_ones_do_not() {
        assert!(Kind::Vpc.matches("vpc-1a2b3c4d"));
        assert!(!Kind::Vpc.matches("vpc-1A2B3C4D"));
        assert!(!Kind::Vpc.matches("vpc-123"));
        assert!(!Kind::Vpc.matches("subnet-1a2b3c4d"));
        assert_eq!(
            Kind::Vpc.check("vpc-zz").unwrap_err().code,
            "InvalidVpcID.Malformed"
        );
        assert_eq!(
            Kind::of("eni-attach-0123456789abcdef0"),
            Some(Kind::EniAttachment)
        );
        assert_eq!(
            Kind::of("vpc-cidr-assoc-0123456789abcdef0"),
            Some(Kind::VpcCidrAssoc)
        );
    }
}
