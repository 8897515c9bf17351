//! NAT gateways: a requester-managed interface in a subnet, with an elastic IP when public.
//! Fort provisions at once: a gateway is `available` (or `failed`, as AWS fails it) when
//! the create returns.

use fort_model::*;

use crate::network_interface::{SubnetAddresses, ip_in_use, parse_ip};
use crate::tags::check_tags;
use crate::{ClientToken, Tx};

/// CreateNatGateway's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateNatGateway {
    pub subnet_id: String,
    pub allocation_id: Option<String>,
    pub connectivity_type: Option<String>,
    pub private_ip: Option<String>,
    pub client_token: Option<ClientToken>,
    pub tags: Tags,
}

impl Tx<'_> {
    /// CreateNatGateway, idempotent under its client token (which the gateway keeps).
    pub fn create_nat_gateway(&mut self, req: CreateNatGateway) -> Result<NatGateway, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.nat_gateways.get(id).cloned(),
            |tx| tx.make_nat_gateway(req),
            |n| n.id.to_string(),
        )
    }

    fn make_nat_gateway(&mut self, req: CreateNatGateway) -> Result<NatGateway, ApiError> {
        let subnet = self
            .region
            .subnets
            .find(Kind::Subnet, &req.subnet_id)?
            .clone();
        let connectivity = match req.connectivity_type.as_deref() {
            None => ConnectivityType::Public,
            Some(text) => ConnectivityType::parse(text).ok_or_else(|| {
                ApiError::bad_param("ConnectivityType", text, "Valid values: public, private.")
            })?,
        };
        match (connectivity, &req.allocation_id) {
            (ConnectivityType::Public, None) => {
                return Err(ApiError::missing("AllocationId"));
            }
            (ConnectivityType::Private, Some(_)) => {
                return Err(ApiError::combination(
                    "A private NAT gateway cannot have an elastic IP address (AllocationId).",
                ));
            }
            _ => {}
        }
        let address = match &req.allocation_id {
            Some(id) => Some(self.region.addresses.find(Kind::Allocation, id)?.clone()),
            None => None,
        };
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.nat_gateways_per_az;
        let in_zone = self
            .region
            .nat_gateways
            .values()
            .filter(|n| n.state.is_live())
            .filter(|n| {
                self.region
                    .subnets
                    .get(&n.subnet_id)
                    .is_some_and(|s| s.availability_zone == subnet.availability_zone)
            })
            .count();
        if in_zone >= quota {
            return Err(ApiError::new(
                ErrorCode::NatGatewayLimitExceeded,
                format!(
                    "The maximum number of NAT gateways in availability zone {} has been reached ({quota}).",
                    subnet.availability_zone
                ),
            ));
        }
        let mut addrs = SubnetAddresses::of(self.region, &subnet)?;
        let private_ip = match &req.private_ip {
            Some(t) => {
                let ip = parse_ip("PrivateIpAddress", t)?;
                addrs.check_in_subnet(ip)?;
                if addrs.in_use(ip) {
                    return Err(ip_in_use(ip));
                }
                Some(ip)
            }
            None => None,
        };
        let id = NatGatewayId::new();
        let mut nat = NatGateway {
            id: id.clone(),
            subnet_id: subnet.id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            state: NatGatewayState::Available,
            connectivity_type: connectivity,
            create_time: self.now,
            delete_time: None,
            failure_code: None,
            failure_message: None,
            addresses: Vec::new(),
            client_token: req.client_token.as_ref().map(|t| t.as_str().to_owned()),
            tags: req.tags,
        };
        // Failures AWS reports asynchronously: the gateway exists, in state `failed`.
        let has_igw = self
            .region
            .internet_gateways
            .values()
            .any(|g| g.vpc_id.as_deref() == Some(subnet.vpc_id.as_str()));
        let eip_busy = address.as_ref().is_some_and(|a| {
            a.association.is_some()
                || self.region.nat_gateways.values().any(|n| {
                    n.state.is_live()
                        && n.addresses
                            .iter()
                            .any(|x| x.allocation_id.as_ref() == Some(&a.allocation_id))
                })
        });
        let chosen = private_ip.or_else(|| addrs.take());
        let failure = if connectivity == ConnectivityType::Public && !has_igw {
            Some((
                ErrorCode::GatewayNotAttached,
                format!("Network {} has no Internet gateway attached", subnet.vpc_id),
            ))
        } else if eip_busy {
            let a = address.as_ref().expect("checked above");
            Some((
                ErrorCode::ResourceAlreadyAssociated,
                format!(
                    "Elastic IP address [{}] is already associated",
                    a.allocation_id
                ),
            ))
        } else if chosen.is_none() {
            Some((
                ErrorCode::InsufficientFreeAddressesInSubnet,
                format!(
                    "Subnet {} has insufficient free addresses to create this NAT gateway",
                    subnet.id
                ),
            ))
        } else {
            None
        };
        if let Some((code, message)) = failure {
            nat.state = NatGatewayState::Failed;
            nat.failure_code = Some(code);
            nat.failure_message = Some(message);
            self.region.nat_gateways.insert(nat.clone());
            return Ok(nat);
        }
        let private_ip = chosen.expect("checked above");
        let eni = self.insert_interface(
            &subnet,
            private_ip,
            Vec::new(),
            Vec::new(),
            format!("Interface for NAT Gateway {id}"),
            "nat_gateway",
            true,
            Tags::new(),
        )?;
        let mut entry = NatGatewayAddress {
            allocation_id: None,
            network_interface_id: eni.id.clone(),
            private_ip,
            public_ip: None,
            association_id: None,
            is_primary: true,
        };
        if let Some(a) = &address {
            let association_id = EipAssociationId::new();
            self.map_elastic_ip(&a.allocation_id, &eni.id, private_ip, &association_id);
            entry.allocation_id = Some(a.allocation_id.clone());
            entry.public_ip = Some(a.public_ip);
            entry.association_id = Some(association_id);
        }
        nat.addresses.push(entry);
        self.region.nat_gateways.insert(nat.clone());
        Ok(nat)
    }

    /// DeleteNatGateway: `deleted` at once; its interface goes, its elastic IP is
    /// disassociated but stays allocated; the gateway stays visible.
    pub fn delete_nat_gateway(&mut self, id: &NatGatewayId) -> Result<NatGatewayId, ApiError> {
        let nat = self.region.nat_gateways.lookup(id)?.clone();
        if nat.state == NatGatewayState::Deleted {
            return Err(Kind::NatGateway.not_found(id));
        }
        for a in &nat.addresses {
            self.drop_public_addresses(&a.network_interface_id, None);
            self.region
                .network_interfaces
                .remove(&a.network_interface_id);
        }
        let now = self.now;
        let row = self.region.nat_gateways.get_mut(id).expect("found above");
        row.state = NatGatewayState::Deleted;
        row.delete_time = Some(now);
        for a in &mut row.addresses {
            a.association_id = None;
        }
        Ok(id.clone())
    }
}
