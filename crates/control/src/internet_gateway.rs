//! Internet gateways (one per VPC, attached and detached) and egress-only internet
//! gateways (IPv6, created attached to their VPC).
//!
//! Routes to a gateway that goes away stay in their tables and read `blackhole`
//! ([`crate::route_table::route_state`]).

use fort_model::*;

use crate::tags::check_tags;
use crate::{ClientToken, Tx};

impl Tx<'_> {
    pub fn create_internet_gateway(&mut self, tags: Tags) -> Result<InternetGateway, ApiError> {
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.internet_gateways;
        if self.region.internet_gateways.len() >= quota {
            return Err(ApiError::new(
                ErrorCode::InternetGatewayLimitExceeded,
                format!("The maximum number of internet gateways has been reached ({quota})."),
            ));
        }
        let igw = InternetGateway {
            id: InternetGatewayId::new(),
            vpc_id: None,
            tags,
        };
        self.region.internet_gateways.insert(igw.clone());
        Ok(igw)
    }

    pub fn delete_internet_gateway(&mut self, id: &InternetGatewayId) -> Result<(), ApiError> {
        let igw = self.region.internet_gateways.lookup(id)?;
        if igw.vpc_id.is_some() {
            return Err(ApiError::new(
                ErrorCode::DependencyViolation,
                format!("The internetGateway '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.region.internet_gateways.remove(id);
        self.forget_edge_associations(id.as_str());
        Ok(())
    }

    pub fn attach_internet_gateway(
        &mut self,
        id: &InternetGatewayId,
        vpc_id: &str,
    ) -> Result<(), ApiError> {
        let igw = self.region.internet_gateways.lookup(id)?;
        if let Some(attached) = &igw.vpc_id {
            return Err(ApiError::new(
                ErrorCode::ResourceAlreadyAssociated,
                format!("resource {id} is already attached to network {attached}"),
            ));
        }
        self.region.vpcs.find(Kind::Vpc, vpc_id)?;
        if let Some(other) = self
            .region
            .internet_gateways
            .values()
            .find(|g| g.vpc_id.as_deref() == Some(vpc_id))
        {
            return Err(ApiError::new(
                ErrorCode::ResourceAlreadyAssociated,
                format!(
                    "Network {vpc_id} already has an internet gateway attached ({})",
                    other.id
                ),
            ));
        }
        self.region
            .internet_gateways
            .get_mut(id)
            .expect("found above")
            .vpc_id = Some(VpcId::parse(vpc_id)?);
        Ok(())
    }

    pub fn detach_internet_gateway(
        &mut self,
        id: &InternetGatewayId,
        vpc_id: &str,
    ) -> Result<(), ApiError> {
        let igw = self.region.internet_gateways.lookup(id)?;
        // Only the attachment is checked: a VPC that does not exist is one it is not attached to.
        Kind::Vpc.check(vpc_id)?;
        if igw.vpc_id.as_deref() != Some(vpc_id) {
            return Err(ApiError::new(
                ErrorCode::GatewayNotAttached,
                format!("resource {id} is not attached to network {vpc_id}"),
            ));
        }
        let mapped = self
            .region
            .network_interfaces
            .values()
            .any(|e| e.vpc_id == vpc_id && !e.associations.is_empty())
            || self.region.nat_gateways.values().any(|n| {
                n.vpc_id == vpc_id
                    && !matches!(n.state, NatGatewayState::Deleted | NatGatewayState::Failed)
                    && n.addresses.iter().any(|a| a.public_ip.is_some())
            });
        if mapped {
            return Err(ApiError::new(
                ErrorCode::DependencyViolation,
                format!(
                    "Network {vpc_id} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
                ),
            ));
        }
        self.region
            .internet_gateways
            .get_mut(id)
            .expect("found above")
            .vpc_id = None;
        Ok(())
    }

    /// CreateEgressOnlyInternetGateway: one per VPC, created attached to it; idempotent
    /// under its client token.
    pub fn create_egress_only_internet_gateway(
        &mut self,
        vpc_id: &str,
        tags: Tags,
        token: Option<&ClientToken>,
    ) -> Result<EgressOnlyInternetGateway, ApiError> {
        self.idempotent(
            token,
            |r, id| r.egress_only_internet_gateways.get(id).cloned(),
            |tx| tx.make_egress_only_internet_gateway(vpc_id, tags),
            |g| g.id.to_string(),
        )
    }

    fn make_egress_only_internet_gateway(
        &mut self,
        vpc_id: &str,
        tags: Tags,
    ) -> Result<EgressOnlyInternetGateway, ApiError> {
        self.region.vpcs.find(Kind::Vpc, vpc_id)?;
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.egress_only_internet_gateways;
        if self.region.egress_only_internet_gateways.len() >= quota {
            return Err(ApiError::new(
                ErrorCode::EgressOnlyInternetGatewayLimitExceeded,
                format!(
                    "The maximum number of egress-only internet gateways has been reached ({quota})."
                ),
            ));
        }
        if let Some(other) = self
            .region
            .egress_only_internet_gateways
            .values()
            .find(|g| g.vpc_id == vpc_id)
        {
            return Err(ApiError::new(
                ErrorCode::ResourceAlreadyAssociated,
                format!(
                    "Network {vpc_id} already has an egress-only internet gateway attached ({})",
                    other.id
                ),
            ));
        }
        let eigw = EgressOnlyInternetGateway {
            id: EgressOnlyInternetGatewayId::new(),
            vpc_id: VpcId::parse(vpc_id)?,
            tags,
        };
        self.region
            .egress_only_internet_gateways
            .insert(eigw.clone());
        Ok(eigw)
    }

    pub fn delete_egress_only_internet_gateway(
        &mut self,
        id: &EgressOnlyInternetGatewayId,
    ) -> Result<(), ApiError> {
        self.region.egress_only_internet_gateways.lookup(id)?;
        self.region.egress_only_internet_gateways.remove(id);
        Ok(())
    }
}
