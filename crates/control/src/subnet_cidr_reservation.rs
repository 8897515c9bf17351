//! Subnet CIDR reservations: ranges of a subnet's IPv4 or IPv6 block kept from automatic
//! address assignment.

use fort_model::*;
use fort_model::{cidr, cidr6};
use ipnet::IpNet;

use crate::Tx;
use crate::tags::check_tags;

/// CreateSubnetCidrReservation's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateSubnetCidrReservation {
    pub subnet_id: String,
    pub cidr: String,
    pub reservation_type: String,
    pub description: Option<String>,
    pub tags: Tags,
}

impl Tx<'_> {
    pub fn create_subnet_cidr_reservation(
        &mut self,
        req: CreateSubnetCidrReservation,
    ) -> Result<SubnetCidrReservation, ApiError> {
        let subnet = self
            .region
            .subnets
            .find(Kind::Subnet, &req.subnet_id)?
            .clone();
        if !matches!(req.reservation_type.as_str(), "prefix" | "explicit") {
            return Err(ApiError::bad_param(
                "reservationType",
                &req.reservation_type,
                "Valid values: prefix, explicit.",
            ));
        }
        let bad_cidr = || ApiError::bad_param("cidr", &req.cidr, "This is not a valid CIDR block.");
        let net: IpNet = if req.cidr.contains(':') {
            let n = cidr6::parse(&req.cidr).ok_or_else(bad_cidr)?;
            match subnet.ipv6_cidr() {
                Some(block) if block.contains(&n) => IpNet::V6(n),
                Some(block) => return Err(outside(&block.to_string())),
                None => {
                    return Err(ApiError::invalid_value(format!(
                        "Subnet {} has no IPv6 CIDR block.",
                        subnet.id
                    )));
                }
            }
        } else {
            let n = cidr::parse(&req.cidr).ok_or_else(bad_cidr)?;
            match subnet.cidr {
                Some(block) if block.contains(&n) => IpNet::V4(n),
                Some(block) => return Err(outside(&block.to_string())),
                None => {
                    return Err(ApiError::invalid_value(format!(
                        "Subnet {} has no IPv4 CIDR block.",
                        subnet.id
                    )));
                }
            }
        };
        let overlap =
            self.region.subnet_cidr_reservations.values().any(|r| {
                r.subnet_id == subnet.id && (r.cidr.contains(&net) || net.contains(&r.cidr))
            });
        if overlap {
            return Err(ApiError::invalid_value(format!(
                "Reservation CIDR {net} has overlap with existing reserved CIDR block"
            )));
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let reservation = SubnetCidrReservation {
            id: SubnetCidrReservationId::new(),
            subnet_id: subnet.id.clone(),
            cidr: net,
            reservation_type: req.reservation_type,
            description: req.description,
            tags: req.tags,
        };
        self.region
            .subnet_cidr_reservations
            .insert(reservation.clone());
        Ok(reservation)
    }

    pub fn delete_subnet_cidr_reservation(
        &mut self,
        id: &str,
    ) -> Result<SubnetCidrReservation, ApiError> {
        let r = self
            .region
            .subnet_cidr_reservations
            .find(Kind::SubnetCidrReservation, id)?
            .clone();
        self.region.subnet_cidr_reservations.remove(id);
        Ok(r)
    }
}

fn outside(block: &str) -> ApiError {
    ApiError::invalid_value(format!(
        "Reservation CIDR should be within subnet CIDR block ({block})"
    ))
}
