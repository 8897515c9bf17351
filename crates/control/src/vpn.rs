//! Virtual private gateways and customer gateways (Site-to-Site VPN's VPC side): a
//! virtual private gateway attaches to one VPC, takes routes and propagates into route
//! tables; routes to it read `blackhole` unless it is attached. Both are `available` when
//! created; deleted ones, and detached attachments, are still described for a while (as
//! EC2 does; Terraform waits for them). The VPN connections between them are in
//! [`crate::vpn_connection`].

use std::net::Ipv4Addr;

use fort_model::*;

use crate::Tx;
use crate::tags::check_tags;

/// A deleted gateway is still described for this long.
pub const VISIBLE_AFTER_DELETE_MS: Millis = 3600 * 1000;

/// Whether a deleted gateway is still described at `now`.
pub fn visible(deleted: Option<Millis>, now: Millis) -> bool {
    deleted.is_none_or(|t| now < t + VISIBLE_AFTER_DELETE_MS)
}

/// CreateCustomerGateway's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateCustomerGateway {
    pub kind: Option<String>,
    pub bgp_asn: Option<i64>,
    pub bgp_asn_extended: Option<i64>,
    pub ip_address: Option<String>,
    pub certificate_arn: Option<String>,
    pub device_name: Option<String>,
    pub tags: Tags,
}

pub(crate) fn check_type(kind: Option<&str>) -> Result<(), ApiError> {
    match kind {
        None => Err(ApiError::missing("Type")),
        Some("ipsec.1") => Ok(()),
        Some(other) => Err(ApiError::bad_param("Type", other, "Valid values: ipsec.1.")),
    }
}

impl Tx<'_> {
    /// CreateVpnGateway: `available` at once, with Amazon's default ASN unless one is given.
    /// A gateway is regional: EC2 takes an `AvailabilityZone` and keeps none.
    pub fn create_vpn_gateway(
        &mut self,
        kind: Option<&str>,
        amazon_side_asn: Option<i64>,
        tags: Tags,
    ) -> Result<VpnGateway, ApiError> {
        check_type(kind)?;
        let asn = match amazon_side_asn {
            None => 64512,
            Some(n @ (64512..=65534 | 4_200_000_000..=4_294_967_294)) => {
                u64::try_from(n).expect("positive")
            }
            Some(n) => {
                return Err(ApiError::bad_param(
                    "AmazonSideAsn",
                    &n.to_string(),
                    "A private ASN is 64512 to 65534 (16-bit) or 4200000000 to 4294967294 (32-bit).",
                ));
            }
        };
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.vpn_gateways;
        let live = self
            .region
            .vpn_gateways
            .values()
            .filter(|g| g.deleted.is_none())
            .count();
        if live >= quota {
            return Err(ApiError::new(
                ErrorCode::VpnGatewayLimitExceeded,
                format!(
                    "The maximum number of virtual private gateways has been reached ({quota})."
                ),
            ));
        }
        let g = VpnGateway {
            id: VpnGatewayId::new(),
            state: VpnGatewayState::Available,
            amazon_side_asn: asn,
            attachments: Vec::new(),
            deleted: None,
            tags,
        };
        self.region.vpn_gateways.insert(g.clone());
        Ok(g)
    }

    /// A virtual private gateway not deleted, or NotFound.
    pub(crate) fn live_vpn_gateway(&self, id: &str) -> Result<VpnGateway, ApiError> {
        let g = self.region.vpn_gateways.find(Kind::VpnGateway, id)?;
        if g.deleted.is_some() {
            return Err(Kind::VpnGateway.not_found(id));
        }
        Ok(g.clone())
    }

    /// DeleteVpnGateway: only when attached to no VPC; `deleted`, still described.
    pub fn delete_vpn_gateway(&mut self, id: &str) -> Result<(), ApiError> {
        let mut g = self.live_vpn_gateway(id)?;
        if let Some(vpc) = g.attached_vpc() {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The virtual private gateway '{id}' is attached to {vpc}: detach it first."
                ),
            ));
        }
        if let Some(c) = self
            .region
            .vpn_connections
            .values()
            .find(|c| c.is_live() && c.ends_at(&g.id))
        {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The virtual private gateway '{id}' has the VPN connection {}: delete it first.",
                    c.id
                ),
            ));
        }
        g.state = VpnGatewayState::Deleted;
        g.deleted = Some(self.now);
        self.region.vpn_gateways.insert(g);
        self.forget_edge_associations(id);
        Ok(())
    }

    /// AttachVpnGateway: one VPC per gateway and one gateway per VPC.
    pub fn attach_vpn_gateway(&mut self, id: &str, vpc_id: &str) -> Result<(), ApiError> {
        let mut g = self.live_vpn_gateway(id)?;
        let vpc = self.region.vpcs.find(Kind::Vpc, vpc_id)?.id.clone();
        if let Some(attached) = g.attached_vpc() {
            return Err(ApiError::new(
                ErrorCode::VpnGatewayAttachmentLimitExceeded,
                format!(
                    "The virtual private gateway '{id}' is already attached to {attached}: a virtual private gateway attaches to one VPC."
                ),
            ));
        }
        if let Some(other) = self
            .region
            .vpn_gateways
            .values()
            .find(|o| o.attached_vpc() == Some(&vpc))
        {
            return Err(ApiError::new(
                ErrorCode::VpnGatewayAttachmentLimitExceeded,
                format!(
                    "The VPC {vpc} already has the virtual private gateway {} attached: a VPC takes one.",
                    other.id
                ),
            ));
        }
        // the new attachment replaces the detached ones: EC2 lists only it (the waiter
        // VpnGatewayAttached wants every listed attachment `attached`)
        g.attachments.clear();
        g.attachments.push(VpnGatewayAttachment {
            vpc_id: vpc,
            state: VpnAttachmentState::Attached,
        });
        self.region.vpn_gateways.insert(g);
        Ok(())
    }

    /// DetachVpnGateway: the attachment reads `detached` (routes to the gateway blackhole).
    pub fn detach_vpn_gateway(&mut self, id: &str, vpc_id: &str) -> Result<(), ApiError> {
        let mut g = self.live_vpn_gateway(id)?;
        Kind::Vpc.check(vpc_id)?;
        let Some(a) = g
            .attachments
            .iter_mut()
            .find(|a| a.vpc_id == vpc_id && a.state == VpnAttachmentState::Attached)
        else {
            return Err(ApiError::new(
                ErrorCode::InvalidVpnGatewayAttachmentNotFound,
                format!(
                    "The attachment with vpn gateway ID '{id}' and vpc ID '{vpc_id}' does not exist"
                ),
            ));
        };
        a.state = VpnAttachmentState::Detached;
        self.region.vpn_gateways.insert(g);
        Ok(())
    }

    /// EnableVgwRoutePropagation / DisableVgwRoutePropagation: the gateway must be
    /// attached to the table's VPC to start propagating.
    pub fn set_vgw_route_propagation(
        &mut self,
        route_table_id: &str,
        gateway_id: &str,
        enable: bool,
    ) -> Result<(), ApiError> {
        let table = self
            .region
            .route_tables
            .find(Kind::RouteTable, route_table_id)?
            .clone();
        let g = self.live_vpn_gateway(gateway_id)?;
        if enable && g.attached_vpc() != Some(&table.vpc_id) {
            return Err(ApiError::new(
                ErrorCode::GatewayNotAttached,
                format!(
                    "The virtual private gateway {gateway_id} is not attached to {}, the VPC of route table {route_table_id}.",
                    table.vpc_id
                ),
            ));
        }
        let row = self
            .region
            .route_tables
            .get_mut(&table.id)
            .expect("found above");
        row.propagating_vgws.retain(|v| v != gateway_id);
        if enable {
            row.propagating_vgws.push(g.id.to_string());
        }
        Ok(())
    }

    /// CreateCustomerGateway: a device's ASN and address; `available` at once.
    pub fn create_customer_gateway(
        &mut self,
        req: CreateCustomerGateway,
    ) -> Result<CustomerGateway, ApiError> {
        check_type(req.kind.as_deref())?;
        let bgp_asn = match (req.bgp_asn, req.bgp_asn_extended) {
            (Some(_), Some(_)) => {
                return Err(ApiError::combination(
                    "Specify either BgpAsn or BgpAsnExtended, not both.",
                ));
            }
            (Some(n), None) if (1..=2_147_483_647).contains(&n) => n,
            (None, Some(n)) if (2_147_483_648..=4_294_967_295).contains(&n) => n,
            (Some(n), None) => {
                return Err(ApiError::bad_param(
                    "BgpAsn",
                    &n.to_string(),
                    "Valid values: 1 to 2147483647.",
                ));
            }
            (None, Some(n)) => {
                return Err(ApiError::bad_param(
                    "BgpAsnExtended",
                    &n.to_string(),
                    "Valid values: 2147483648 to 4294967295.",
                ));
            }
            // EC2's default for a gateway without BGP.
            (None, None) => 65000,
        };
        let ip_address = match &req.ip_address {
            Some(t) => Some(t.parse::<Ipv4Addr>().map_err(|_| {
                ApiError::bad_param("IpAddress", t, "It is not a valid IPv4 address.")
            })?),
            None => None,
        };
        if ip_address.is_none() && req.certificate_arn.is_none() {
            return Err(ApiError::missing("IpAddress"));
        }
        if let Some(name) = &req.device_name
            && name.chars().count() > 255
        {
            return Err(ApiError::bad_param(
                "DeviceName",
                name,
                "It is longer than 255 characters.",
            ));
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.customer_gateways;
        let live = self
            .region
            .customer_gateways
            .values()
            .filter(|g| g.deleted.is_none())
            .count();
        if live >= quota {
            return Err(ApiError::new(
                ErrorCode::CustomerGatewayLimitExceeded,
                format!("The maximum number of customer gateways has been reached ({quota})."),
            ));
        }
        let g = CustomerGateway {
            id: CustomerGatewayId::new(),
            state: VpnGatewayState::Available,
            bgp_asn: u64::try_from(bgp_asn).expect("checked positive"),
            ip_address,
            certificate_arn: req.certificate_arn,
            device_name: req.device_name,
            deleted: None,
            tags: req.tags,
        };
        self.region.customer_gateways.insert(g.clone());
        Ok(g)
    }

    /// DeleteCustomerGateway: `deleted`, still described for a while.
    pub fn delete_customer_gateway(&mut self, id: &str) -> Result<(), ApiError> {
        let g = self
            .region
            .customer_gateways
            .find(Kind::CustomerGateway, id)?;
        if g.deleted.is_some() {
            return Err(Kind::CustomerGateway.not_found(id));
        }
        if let Some(c) = self
            .region
            .vpn_connections
            .values()
            .find(|c| c.is_live() && c.customer_gateway_id == id)
        {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The customer gateway '{id}' is in use by the VPN connection {}.",
                    c.id
                ),
            ));
        }
        let mut g = g.clone();
        g.state = VpnGatewayState::Deleted;
        g.deleted = Some(self.now);
        self.region.customer_gateways.insert(g);
        Ok(())
    }
}
