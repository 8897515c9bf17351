//! NAT gateways: a requester-managed interface in a subnet, with an elastic IP when public.
//! Fort provisions at once: a gateway is `available` (or `failed`, as AWS fails it) when
//! the create returns.
//!
//! A gateway's secondary addresses are secondary private addresses of its one interface:
//! on a private gateway alone, on a public one each with an elastic IP of its own (EC2
//! assigns them and releases them together). Changes to them settle at once too: the
//! next Describe lists an address assigned or associated as `succeeded` and no longer
//! lists one unassigned or disassociated.

use std::net::Ipv4Addr;

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
    /// `SecondaryAllocationId.N` (public gateways).
    pub secondary_allocation_ids: Vec<String>,
    /// `SecondaryPrivateIpAddress.N`: a private gateway's extra addresses, or the ones a
    /// public gateway pairs with its secondary allocations (as many as those).
    pub secondary_private_ips: Vec<String>,
    /// `SecondaryPrivateIpAddressCount` (private gateways).
    pub secondary_private_ip_count: Option<i64>,
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
        let secondary = self.secondary_request(connectivity, &req)?;
        let address = match &req.allocation_id {
            Some(id) => Some(self.region.addresses.find(Kind::Allocation, id)?.clone()),
            None => None,
        };
        let mut secondary_addresses = Vec::new();
        for id in &req.secondary_allocation_ids {
            let a = self.region.addresses.find(Kind::Allocation, id)?;
            if address
                .as_ref()
                .is_some_and(|p| p.allocation_id == a.allocation_id)
                || secondary_addresses
                    .iter()
                    .any(|s: &Address| s.allocation_id == a.allocation_id)
            {
                return Err(ApiError::invalid_value(format!(
                    "The allocation ID {id} is given more than once."
                )));
            }
            secondary_addresses.push(a.clone());
        }
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
        // The secondary addresses named are claimed before the primary is chosen, so an
        // automatic primary never takes one of them.
        let mut named_secondary = Vec::new();
        if let SecondaryRequest::Addresses(ips) = &secondary {
            for &ip in ips {
                if Some(ip) == private_ip {
                    return Err(ip_in_use(ip));
                }
                addrs.claim(ip)?;
                named_secondary.push(ip);
            }
        }
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
        let busy = address
            .iter()
            .chain(&secondary_addresses)
            .find(|a| self.elastic_ip_busy(a));
        let chosen = private_ip.or_else(|| addrs.take());
        let secondary_ips = match secondary {
            SecondaryRequest::None => Some(Vec::new()),
            SecondaryRequest::Addresses(_) => Some(named_secondary),
            SecondaryRequest::Count(n) => (0..n).map(|_| addrs.take()).collect(),
        };
        let failure = if connectivity == ConnectivityType::Public && !has_igw {
            Some((
                ErrorCode::GatewayNotAttached,
                format!("Network {} has no Internet gateway attached", subnet.vpc_id),
            ))
        } else if let Some(a) = busy {
            Some((
                ErrorCode::ResourceAlreadyAssociated,
                format!(
                    "Elastic IP address [{}] is already associated",
                    a.allocation_id
                ),
            ))
        } else if chosen.is_none() || secondary_ips.is_none() {
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
        let secondary_ips = secondary_ips.expect("checked above");
        let eni = self.insert_interface(
            &subnet,
            Some(private_ip),
            secondary_ips.clone(),
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
        for (i, ip) in secondary_ips.into_iter().enumerate() {
            let mut entry = NatGatewayAddress {
                allocation_id: None,
                network_interface_id: eni.id.clone(),
                private_ip: ip,
                public_ip: None,
                association_id: None,
                is_primary: false,
            };
            if let Some(a) = secondary_addresses.get(i) {
                let association_id = EipAssociationId::new();
                self.map_elastic_ip(&a.allocation_id, &eni.id, ip, &association_id);
                entry.allocation_id = Some(a.allocation_id.clone());
                entry.public_ip = Some(a.public_ip);
                entry.association_id = Some(association_id);
            }
            nat.addresses.push(entry);
        }
        self.region.nat_gateways.insert(nat.clone());
        Ok(nat)
    }

    /// Whether an elastic IP is taken: associated, or named by a live NAT gateway.
    fn elastic_ip_busy(&self, a: &Address) -> bool {
        a.association.is_some()
            || self.region.nat_gateways.values().any(|n| {
                n.state.is_live()
                    && n.addresses
                        .iter()
                        .any(|x| x.allocation_id.as_ref() == Some(&a.allocation_id))
            })
    }

    /// Checks CreateNatGateway's secondary-address parameters against its connectivity
    /// and the per-gateway quotas, before anything is looked up.
    fn secondary_request(
        &self,
        connectivity: ConnectivityType,
        req: &CreateNatGateway,
    ) -> Result<SecondaryRequest, ApiError> {
        let ips = req
            .secondary_private_ips
            .iter()
            .map(|t| parse_ip("SecondaryPrivateIpAddress", t))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(dup) = first_duplicate(&ips) {
            return Err(ip_in_use(dup));
        }
        if req.secondary_private_ip_count.is_some() && !ips.is_empty() {
            return Err(ApiError::combination(
                "You cannot specify both SecondaryPrivateIpAddressCount and SecondaryPrivateIpAddresses.",
            ));
        }
        match connectivity {
            ConnectivityType::Private => {
                if !req.secondary_allocation_ids.is_empty() {
                    return Err(ApiError::combination(
                        "A private NAT gateway cannot have elastic IP addresses (SecondaryAllocationIds).",
                    ));
                }
                let count = match req.secondary_private_ip_count {
                    Some(n) => count_param("SecondaryPrivateIpAddressCount", n)?,
                    None => ips.len(),
                };
                self.check_private_ip_quota(1 + count)?;
                Ok(match (req.secondary_private_ip_count, ips.is_empty()) {
                    (Some(_), _) => SecondaryRequest::Count(count),
                    (None, false) => SecondaryRequest::Addresses(ips),
                    (None, true) => SecondaryRequest::None,
                })
            }
            ConnectivityType::Public => {
                if req.secondary_private_ip_count.is_some() {
                    return Err(ApiError::combination(
                        "SecondaryPrivateIpAddressCount is for private NAT gateways only: a public NAT gateway takes a secondary private address with each secondary allocation ID.",
                    ));
                }
                let n = req.secondary_allocation_ids.len();
                if !ips.is_empty() && ips.len() != n {
                    return Err(ApiError::invalid_value(format!(
                        "The number of secondary private IP addresses ({}) must match the number of secondary allocation IDs ({n}).",
                        ips.len()
                    )));
                }
                self.check_elastic_ip_quota(1 + n)?;
                Ok(if !ips.is_empty() {
                    SecondaryRequest::Addresses(ips)
                } else if n > 0 {
                    SecondaryRequest::Count(n)
                } else {
                    SecondaryRequest::None
                })
            }
        }
    }

    fn check_elastic_ip_quota(&self, total: usize) -> Result<(), ApiError> {
        let quota = self.config.quotas.elastic_ips_per_nat_gateway;
        if total > quota {
            return Err(ApiError::new(
                ErrorCode::AddressLimitExceeded,
                format!(
                    "A public NAT gateway can have at most {quota} Elastic IP addresses, its primary included."
                ),
            ));
        }
        Ok(())
    }

    fn check_private_ip_quota(&self, total: usize) -> Result<(), ApiError> {
        let quota = self.config.quotas.private_ips_per_nat_gateway;
        if total > quota {
            return Err(ApiError::new(
                ErrorCode::PrivateIpAddressLimitExceeded,
                format!(
                    "A private NAT gateway can have at most {quota} private IPv4 addresses, its primary included."
                ),
            ));
        }
        Ok(())
    }

    /// The gateway an address change names: it must exist, be available, and be of the
    /// connectivity the action is for.
    fn nat_for_addresses(
        &self,
        id: &NatGatewayId,
        connectivity: ConnectivityType,
        action: &str,
    ) -> Result<NatGateway, ApiError> {
        let nat = self.region.nat_gateways.lookup(id)?;
        if nat.state == NatGatewayState::Deleted {
            return Err(Kind::NatGateway.not_found(id));
        }
        if nat.state != NatGatewayState::Available {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The NAT gateway {id} is in state {} and its addresses cannot be changed.",
                    nat.state.as_str()
                ),
            ));
        }
        if nat.connectivity_type != connectivity {
            return Err(ApiError::invalid_value(format!(
                "{action} is for {} NAT gateways; {id} is a {} NAT gateway.",
                connectivity.as_str(),
                nat.connectivity_type.as_str()
            )));
        }
        Ok(nat.clone())
    }

    /// AssignPrivateNatGatewayAddress: new secondary addresses of a private gateway's
    /// interface, named or chosen from its subnet. Answers the entries added.
    pub fn assign_private_nat_gateway_address(
        &mut self,
        id: &NatGatewayId,
        private_ips: &[String],
        count: Option<i64>,
    ) -> Result<Vec<NatGatewayAddress>, ApiError> {
        let nat = self.nat_for_addresses(
            id,
            ConnectivityType::Private,
            "AssignPrivateNatGatewayAddress",
        )?;
        let ips = private_ips
            .iter()
            .map(|t| parse_ip("PrivateIpAddress", t))
            .collect::<Result<Vec<_>, _>>()?;
        let n = match (count, ips.is_empty()) {
            (Some(_), false) => {
                return Err(ApiError::combination(
                    "You cannot specify both PrivateIpAddressCount and PrivateIpAddresses.",
                ));
            }
            (Some(n), true) => count_param("PrivateIpAddressCount", n)?,
            (None, false) => ips.len(),
            (None, true) => {
                return Err(ApiError::missing(
                    "PrivateIpAddresses or PrivateIpAddressCount",
                ));
            }
        };
        if let Some(dup) = first_duplicate(&ips) {
            return Err(ip_in_use(dup));
        }
        self.check_private_ip_quota(nat.addresses.len() + n)?;
        let subnet = self.region.subnets.lookup(&nat.subnet_id)?.clone();
        let mut addrs = SubnetAddresses::of(self.region, &subnet)?;
        let new_ips = if ips.is_empty() {
            addrs.take_n(n, subnet.id.as_str())?
        } else {
            for &ip in &ips {
                addrs.claim(ip)?;
            }
            ips
        };
        let eni_id = nat.addresses[0].network_interface_id.clone();
        self.region
            .network_interfaces
            .lookup_mut(&eni_id)?
            .secondary_ips
            .extend(&new_ips);
        let added: Vec<NatGatewayAddress> = new_ips
            .into_iter()
            .map(|ip| NatGatewayAddress {
                allocation_id: None,
                network_interface_id: eni_id.clone(),
                private_ip: ip,
                public_ip: None,
                association_id: None,
                is_primary: false,
            })
            .collect();
        let row = self.region.nat_gateways.get_mut(id).expect("found above");
        row.addresses.extend(added.iter().cloned());
        Ok(added)
    }

    /// UnassignPrivateNatGatewayAddress: secondary addresses of a private gateway go
    /// (Fort drains nothing: it has no connections to wait for at the API). Answers the
    /// entries removed.
    pub fn unassign_private_nat_gateway_address(
        &mut self,
        id: &NatGatewayId,
        private_ips: &[String],
    ) -> Result<Vec<NatGatewayAddress>, ApiError> {
        let nat = self.nat_for_addresses(
            id,
            ConnectivityType::Private,
            "UnassignPrivateNatGatewayAddress",
        )?;
        if private_ips.is_empty() {
            return Err(ApiError::missing("PrivateIpAddresses"));
        }
        let mut gone = Vec::new();
        for t in private_ips {
            let ip = parse_ip("PrivateIpAddress", t)?;
            let Some(entry) = nat.addresses.iter().find(|a| a.private_ip == ip) else {
                return Err(ApiError::invalid_value(format!(
                    "The private IP address {ip} is not assigned to the NAT gateway {id}."
                )));
            };
            if entry.is_primary {
                return Err(ApiError::invalid_value(format!(
                    "The private IP address {ip} is the primary address of the NAT gateway {id} and cannot be unassigned."
                )));
            }
            if !gone.iter().any(|g: &NatGatewayAddress| g.private_ip == ip) {
                gone.push(entry.clone());
            }
        }
        self.remove_nat_addresses(id, &gone);
        Ok(gone)
    }

    /// AssociateNatGatewayAddress: elastic IPs for a public gateway, each on a new
    /// secondary private address of its interface (named, or chosen). Answers the
    /// entries added.
    pub fn associate_nat_gateway_address(
        &mut self,
        id: &NatGatewayId,
        allocation_ids: &[String],
        private_ips: &[String],
    ) -> Result<Vec<NatGatewayAddress>, ApiError> {
        let nat =
            self.nat_for_addresses(id, ConnectivityType::Public, "AssociateNatGatewayAddress")?;
        if allocation_ids.is_empty() {
            return Err(ApiError::missing("AllocationIds"));
        }
        let ips = private_ips
            .iter()
            .map(|t| parse_ip("PrivateIpAddress", t))
            .collect::<Result<Vec<_>, _>>()?;
        if !ips.is_empty() && ips.len() != allocation_ids.len() {
            return Err(ApiError::invalid_value(format!(
                "The number of private IP addresses ({}) must match the number of allocation IDs ({}).",
                ips.len(),
                allocation_ids.len()
            )));
        }
        if let Some(dup) = first_duplicate(&ips) {
            return Err(ip_in_use(dup));
        }
        let mut wanted: Vec<Address> = Vec::new();
        for a in allocation_ids {
            let address = self.region.addresses.find(Kind::Allocation, a)?;
            if wanted
                .iter()
                .any(|w| w.allocation_id == address.allocation_id)
                || self.elastic_ip_busy(address)
            {
                return Err(ApiError::new(
                    ErrorCode::ResourceAlreadyAssociated,
                    format!("Elastic IP address [{a}] is already associated"),
                ));
            }
            wanted.push(address.clone());
        }
        self.check_elastic_ip_quota(nat.addresses.len() + wanted.len())?;
        let subnet = self.region.subnets.lookup(&nat.subnet_id)?.clone();
        let mut addrs = SubnetAddresses::of(self.region, &subnet)?;
        let new_ips = if ips.is_empty() {
            addrs.take_n(wanted.len(), subnet.id.as_str())?
        } else {
            for &ip in &ips {
                addrs.claim(ip)?;
            }
            ips
        };
        let eni_id = nat.addresses[0].network_interface_id.clone();
        self.region
            .network_interfaces
            .lookup_mut(&eni_id)?
            .secondary_ips
            .extend(&new_ips);
        let mut added = Vec::new();
        for (a, ip) in wanted.iter().zip(new_ips) {
            let association_id = EipAssociationId::new();
            self.map_elastic_ip(&a.allocation_id, &eni_id, ip, &association_id);
            added.push(NatGatewayAddress {
                allocation_id: Some(a.allocation_id.clone()),
                network_interface_id: eni_id.clone(),
                private_ip: ip,
                public_ip: Some(a.public_ip),
                association_id: Some(association_id),
                is_primary: false,
            });
        }
        let row = self.region.nat_gateways.get_mut(id).expect("found above");
        row.addresses.extend(added.iter().cloned());
        Ok(added)
    }

    /// DisassociateNatGatewayAddress: secondary elastic IPs leave a public gateway, and
    /// the private addresses they were mapped to with them. Answers the entries removed.
    pub fn disassociate_nat_gateway_address(
        &mut self,
        id: &NatGatewayId,
        association_ids: &[String],
    ) -> Result<Vec<NatGatewayAddress>, ApiError> {
        let nat = self.nat_for_addresses(
            id,
            ConnectivityType::Public,
            "DisassociateNatGatewayAddress",
        )?;
        if association_ids.is_empty() {
            return Err(ApiError::missing("AssociationIds"));
        }
        let mut gone = Vec::new();
        for a in association_ids {
            Kind::EipAssociation.check(a)?;
            let Some(entry) = nat
                .addresses
                .iter()
                .find(|x| x.association_id.as_deref() == Some(a.as_str()))
            else {
                return Err(Kind::EipAssociation.not_found(a));
            };
            if entry.is_primary {
                return Err(ApiError::invalid_value(format!(
                    "The association {a} is of the primary Elastic IP address of the NAT gateway {id} and cannot be disassociated."
                )));
            }
            if !gone
                .iter()
                .any(|g: &NatGatewayAddress| g.private_ip == entry.private_ip)
            {
                gone.push(entry.clone());
            }
        }
        self.remove_nat_addresses(id, &gone);
        Ok(gone)
    }

    /// Takes secondary entries off a gateway: their elastic IPs are disassociated (still
    /// allocated) and their private addresses leave its interface.
    fn remove_nat_addresses(&mut self, id: &NatGatewayId, gone: &[NatGatewayAddress]) {
        for a in gone {
            self.drop_public_addresses(&a.network_interface_id, Some(a.private_ip));
            if let Some(eni) = self
                .region
                .network_interfaces
                .get_mut(&a.network_interface_id)
            {
                eni.secondary_ips.retain(|ip| *ip != a.private_ip);
            }
        }
        let row = self
            .region
            .nat_gateways
            .get_mut(id)
            .expect("found by caller");
        row.addresses
            .retain(|x| x.is_primary || !gone.iter().any(|g| g.private_ip == x.private_ip));
    }

    /// DeleteNatGateway: `deleted` at once; its interface goes, its elastic IP is
    /// disassociated but stays allocated; the gateway stays visible.
    pub fn delete_nat_gateway(&mut self, id: &NatGatewayId) -> Result<NatGatewayId, ApiError> {
        let nat = self.region.nat_gateways.lookup(id)?.clone();
        if nat.state == NatGatewayState::Deleted {
            // EC2 answers a second delete as the first while it still shows the gateway
            // (Ansible's ec2_vpc_nat_gateway deletes an id it finds `deleted`, on AWS)
            return Ok(id.clone());
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

/// CreateNatGateway's secondary addresses, checked.
enum SecondaryRequest {
    None,
    /// Named addresses.
    Addresses(Vec<Ipv4Addr>),
    /// As many addresses, chosen from the subnet.
    Count(usize),
}

/// A count parameter of 1 to 31, as EC2's model bounds it.
fn count_param(name: &str, n: i64) -> Result<usize, ApiError> {
    match usize::try_from(n) {
        Ok(n @ 1..=31) => Ok(n),
        _ => Err(ApiError::bad_param(
            name,
            &n.to_string(),
            "It must be between 1 and 31.",
        )),
    }
}

fn first_duplicate(ips: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    ips.iter()
        .enumerate()
        .find(|(i, ip)| ips[..*i].contains(ip))
        .map(|(_, ip)| *ip)
}
