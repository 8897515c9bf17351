//! Carrier gateways (CreateCarrierGateway, DeleteCarrierGateway): a VPC's way to a telecom
//! carrier's network and the internet from subnets in Wavelength Zones.
//!
//! EC2 makes one in any VPC, and routes in any of the VPC's tables may name it
//! (`CarrierGatewayId`); only traffic from subnets in a Wavelength Zone uses it. Fort has no
//! Wavelength Zones, so such a route is shown `active` while its gateway is in the table's
//! VPC but carries nothing (the data plane drops what matches it,
//! `fort_mapping`'s route target is a blackhole). A deleted gateway's routes stay and read
//! `blackhole`, as for other gateways.

use fort_model::*;

use crate::tags::check_tags;
use crate::{ClientToken, Tx};

impl Tx<'_> {
    /// CreateCarrierGateway: idempotent under its client token.
    pub fn create_carrier_gateway(
        &mut self,
        vpc_id: &str,
        tags: Tags,
        token: Option<&ClientToken>,
    ) -> Result<CarrierGateway, ApiError> {
        self.idempotent(
            token,
            |r, id| r.carrier_gateways.get(id).cloned(),
            |tx| tx.make_carrier_gateway(vpc_id, tags),
            |g| g.id.to_string(),
        )
    }

    fn make_carrier_gateway(
        &mut self,
        vpc_id: &str,
        tags: Tags,
    ) -> Result<CarrierGateway, ApiError> {
        let vpc = self.region.vpcs.find(Kind::Vpc, vpc_id)?.id.clone();
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let gateway = CarrierGateway {
            id: CarrierGatewayId::new(),
            vpc_id: vpc,
            tags,
        };
        self.region.carrier_gateways.insert(gateway.clone());
        Ok(gateway)
    }

    /// DeleteCarrierGateway: the gateway as it was (EC2 answers it `deleting`). Routes to it
    /// stay, blackholed.
    pub fn delete_carrier_gateway(
        &mut self,
        id: &CarrierGatewayId,
    ) -> Result<CarrierGateway, ApiError> {
        let gateway = self.region.carrier_gateways.lookup(id)?.clone();
        self.region.carrier_gateways.remove(id);
        Ok(gateway)
    }
}

/// Whether a route of a table in `vpc_id` to carrier gateway `id` is `active`.
pub fn route_usable(region: &crate::region::Region, vpc_id: &str, id: &str) -> bool {
    region
        .carrier_gateways
        .get(id)
        .is_some_and(|g| g.vpc_id == vpc_id)
}
