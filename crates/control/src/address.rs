//! Elastic IP addresses, and the public address pool shared by every account and region
//! (elastic and auto-assigned public IPs both lease from it).

use std::net::Ipv4Addr;

use fort_model::*;

use crate::Tx;
use crate::network_interface::parse_ip;
use crate::region::PublicIpLease;
use crate::tags::check_tags;

/// AllocateAddress's parameters (not `Domain`: since EC2-Classic's retirement every address
/// is a VPC address, whatever it says, and EC2 no longer checks it).
#[derive(Clone, Debug, Default)]
pub struct AllocateAddress {
    pub address: Option<String>,
    pub public_ipv4_pool: Option<String>,
    pub network_border_group: Option<String>,
    pub tags: Tags,
}

/// AssociateAddress's parameters.
#[derive(Clone, Debug, Default)]
pub struct AssociateAddress {
    pub allocation_id: Option<AllocationId>,
    pub public_ip: Option<String>,
    pub instance_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub private_ip: Option<String>,
    pub allow_reassociation: bool,
}

/// AssociateAddress without InstanceId or NetworkInterfaceId, in EC2's words.
fn missing_target() -> ApiError {
    ApiError::new(
        ErrorCode::MissingParameter,
        "Invalid request, expect InstanceId/NetworkId parameter.",
    )
}

impl Tx<'_> {
    /// Leases a public address from the pool (a given one, or the lowest free), to `holder`.
    pub(crate) fn lease_public_ip(
        &mut self,
        want: Option<Ipv4Addr>,
        holder: &str,
    ) -> Result<Ipv4Addr, ApiError> {
        let pool = self.config.public_pool;
        let ip = match want {
            Some(ip) => {
                if !pool.hosts().any(|h| h == ip) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidAddressNotFound,
                        format!("The address '{ip}' is not in the public address pool."),
                    ));
                }
                if self.global.is_leased(ip) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidAddressInUse,
                        format!("The address '{ip}' is already allocated."),
                    ));
                }
                ip
            }
            None => pool
                .hosts()
                .find(|ip| !self.global.is_leased(*ip))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InsufficientAddressCapacity,
                        "There are not enough free public addresses to satisfy the request.",
                    )
                })?,
        };
        self.global.leases.insert(PublicIpLease {
            id: ip.to_string(),
            account: self.region.account.clone(),
            region: self.region.name.clone(),
            holder: holder.to_owned(),
        });
        Ok(ip)
    }

    /// Gives a public address back to the pool.
    pub(crate) fn release_public_ip(&mut self, ip: Ipv4Addr) {
        self.global.leases.remove(&ip.to_string());
    }

    pub fn allocate_address(&mut self, req: AllocateAddress) -> Result<Address, ApiError> {
        if let Some(pool) = req.public_ipv4_pool.as_deref()
            && pool != "amazon"
        {
            return Err(ApiError::new(
                ErrorCode::InvalidPublicIpv4PoolIdNotFound,
                format!("The public IPv4 pool '{pool}' does not exist"),
            ));
        }
        let border = req
            .network_border_group
            .unwrap_or_else(|| self.region.name.clone());
        if border != self.region.name {
            return Err(ApiError::bad_param(
                "NetworkBorderGroup",
                &border,
                "The network border group must be the region.",
            ));
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.elastic_ips;
        if self.region.addresses.len() >= quota {
            return Err(ApiError::new(
                ErrorCode::AddressLimitExceeded,
                "The maximum number of addresses has been reached.",
            ));
        }
        let want = req
            .address
            .as_deref()
            .map(|t| parse_ip("Address", t))
            .transpose()?;
        let allocation_id = AllocationId::new();
        let public_ip = self.lease_public_ip(want, &allocation_id)?;
        let addr = Address {
            allocation_id,
            public_ip,
            association: None,
            network_border_group: border,
            tags: req.tags,
            ptr_record: None,
        };
        self.region.addresses.insert(addr.clone());
        Ok(addr)
    }

    /// The allocation named by id, or by public address.
    fn address_id(
        &self,
        allocation_id: Option<&AllocationId>,
        public_ip: Option<&str>,
    ) -> Result<AllocationId, ApiError> {
        match (allocation_id, public_ip) {
            (Some(id), _) => Ok(self.region.addresses.lookup(id)?.allocation_id.clone()),
            (None, Some(text)) => {
                let ip = cidr_addr(text)?;
                self.region
                    .addresses
                    .values()
                    .find(|a| a.public_ip == ip)
                    .map(|a| a.allocation_id.clone())
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidAddressNotFound,
                            format!("Address '{text}' not found."),
                        )
                    })
            }
            (None, None) => Err(ApiError::missing("AllocationId")),
        }
    }

    /// ModifyAddressAttribute (`DomainName`) and ResetAddressAttribute (`None`): sets or
    /// clears the address's reverse DNS record. Returns the address as it was, and the name
    /// of the update (EC2 shows it pending until it applies; here it applies at once).
    pub fn set_address_ptr_record(
        &mut self,
        allocation_id: &AllocationId,
        domain_name: Option<&str>,
    ) -> Result<(Address, Option<String>), ApiError> {
        let before = self.region.addresses.lookup(allocation_id)?.clone();
        let record = domain_name.map(ptr_record).transpose()?;
        self.region
            .addresses
            .get_mut(allocation_id)
            .expect("found above")
            .ptr_record = record.clone();
        Ok((before, record))
    }

    pub fn release_address(
        &mut self,
        allocation_id: Option<&AllocationId>,
        public_ip: Option<&str>,
    ) -> Result<(), ApiError> {
        let id = self.address_id(allocation_id, public_ip)?;
        let addr = self.region.addresses.get(&id).expect("found above").clone();
        // In the default VPC, releasing disassociates first (not from a NAT gateway, which
        // holds its address); elsewhere it must be done before.
        if let Some(a) = &addr.association {
            let in_default_vpc = self
                .region
                .network_interfaces
                .get(&a.network_interface_id)
                .is_some_and(|e| {
                    !e.requester_managed
                        && self
                            .region
                            .default_vpc()
                            .is_some_and(|v| v.id.as_str() == e.vpc_id.as_str())
                });
            if in_default_vpc {
                self.disassociate_address(Some(&a.id), None)?;
                return self.release_address(Some(&id), None);
            }
        }
        if addr.association.is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidIpAddressInUse,
                format!("Address {} is in use.", addr.public_ip),
            ));
        }
        self.release_public_ip(addr.public_ip);
        self.region.addresses.remove(&id);
        Ok(())
    }

    /// AssociateAddress: maps an elastic IP to a private address of an interface (an
    /// instance's primary one when only the instance is named). Returns the association id.
    pub fn associate_address(
        &mut self,
        req: AssociateAddress,
    ) -> Result<EipAssociationId, ApiError> {
        // EC2's wording for a call naming no target, or no address
        if req.instance_id.is_none() && req.network_interface_id.is_none() {
            return Err(missing_target());
        }
        if req.allocation_id.is_none() && req.public_ip.is_none() {
            return Err(ApiError::new(
                ErrorCode::MissingParameter,
                "Invalid request, expect PublicIp/AllocationId parameter.",
            ));
        }
        let alloc_id = self.address_id(req.allocation_id.as_ref(), req.public_ip.as_deref())?;
        let eni_id = match (&req.instance_id, &req.network_interface_id) {
            (_, Some(eni)) => {
                let e = self
                    .region
                    .network_interfaces
                    .find(Kind::NetworkInterface, eni)?;
                if let Some(i) = &req.instance_id
                    && e.attachment.as_ref().is_none_or(|a| &a.instance_id != i)
                {
                    return Err(ApiError::invalid_value(format!(
                        "The network interface '{eni}' is not attached to instance '{i}'."
                    )));
                }
                e.id.clone()
            }
            (Some(instance), None) => {
                let inst = self.region.instances.find(Kind::Instance, instance)?;
                if !matches!(
                    inst.state,
                    InstanceState::Running | InstanceState::Stopped | InstanceState::Pending
                ) {
                    return Err(ApiError::new(
                        ErrorCode::IncorrectInstanceState,
                        format!(
                            "The instance '{instance}' is not in a valid state for this operation."
                        ),
                    ));
                }
                let enis = self.region.interfaces_of(instance);
                if enis.len() > 1 {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInstanceId,
                        format!(
                            "There are multiple interfaces attached to instance '{instance}'. Please specify an interface ID for the operation instead."
                        ),
                    ));
                }
                enis.first().map(|e| e.id.clone()).ok_or_else(|| {
                    ApiError::invalid_value(format!(
                        "The instance '{instance}' has no network interface."
                    ))
                })?
            }
            (None, None) => return Err(missing_target()),
        };
        let eni = self
            .region
            .network_interfaces
            .get(&eni_id)
            .expect("found above")
            .clone();
        if eni.requester_managed {
            return Err(ApiError::new(
                ErrorCode::OperationNotPermitted,
                format!("The requester-managed interface '{eni_id}' cannot take an address."),
            ));
        }
        let private_ip = match &req.private_ip {
            Some(t) => {
                let ip = parse_ip("PrivateIpAddress", t)?;
                if !eni.private_ips().any(|a| a == ip) {
                    return Err(ApiError::invalid_value(format!(
                        "The specified private IP address {ip} is not assigned to interface {eni_id}."
                    )));
                }
                ip
            }
            None => eni.private_ip.ok_or_else(|| {
                ApiError::invalid_value(format!(
                    "The network interface {eni_id} has no private IPv4 address: an elastic IP address cannot be associated with it."
                ))
            })?,
        };
        let has_igw = self
            .region
            .internet_gateways
            .values()
            .any(|g| g.vpc_id.as_deref() == Some(eni.vpc_id.as_str()));
        if !has_igw {
            return Err(ApiError::new(
                ErrorCode::GatewayNotAttached,
                format!(
                    "Network {} is not attached to any internet gateway",
                    eni.vpc_id
                ),
            ));
        }
        let addr = self
            .region
            .addresses
            .get(&alloc_id)
            .expect("found above")
            .clone();
        if let Some(a) = &addr.association {
            if a.network_interface_id == eni_id && a.private_ip == private_ip {
                return Ok(a.id.clone());
            }
            if !req.allow_reassociation {
                return Err(ApiError::new(
                    ErrorCode::ResourceAlreadyAssociated,
                    format!(
                        "resource {alloc_id} is already associated with associate-id {}",
                        a.id
                    ),
                ));
            }
            if self
                .region
                .network_interfaces
                .get(&a.network_interface_id)
                .is_some_and(|e| e.requester_managed)
            {
                return Err(ApiError::new(
                    ErrorCode::ResourceAlreadyAssociated,
                    format!("resource {alloc_id} is in use by a NAT gateway"),
                ));
            }
            let (old_eni, old_ip) = (a.network_interface_id.clone(), a.private_ip);
            self.drop_public_addresses(&old_eni, Some(old_ip));
            if old_eni != eni_id {
                self.restore_launch_public_ip(&old_eni)?;
            }
        }
        // The target address loses whatever public address it had.
        if let Some(existing) = eni.associations.iter().find(|a| a.private_ip == private_ip) {
            if existing.allocation_id.is_some() && !req.allow_reassociation {
                return Err(ApiError::new(
                    ErrorCode::ResourceAlreadyAssociated,
                    format!(
                        "The private address {private_ip} of {eni_id} already has an elastic IP address."
                    ),
                ));
            }
            self.drop_public_addresses(&eni_id, Some(private_ip));
        }
        let association_id = EipAssociationId::new();
        self.map_elastic_ip(&alloc_id, &eni_id, private_ip, &association_id);
        Ok(association_id)
    }

    /// Records an elastic IP's association on both sides.
    pub(crate) fn map_elastic_ip(
        &mut self,
        alloc_id: &AllocationId,
        eni_id: &NetworkInterfaceId,
        private_ip: Ipv4Addr,
        association_id: &EipAssociationId,
    ) {
        let addr = self
            .region
            .addresses
            .get_mut(alloc_id)
            .expect("checked by caller");
        addr.association = Some(AddressAssociation {
            id: association_id.clone(),
            network_interface_id: eni_id.clone(),
            private_ip,
        });
        let public_ip = addr.public_ip;
        let eni = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("checked by caller");
        eni.associations.push(PublicIpAssociation {
            private_ip,
            public_ip,
            allocation_id: Some(alloc_id.clone()),
            association_id: Some(association_id.clone()),
        });
    }

    pub fn disassociate_address(
        &mut self,
        association_id: Option<&EipAssociationId>,
        public_ip: Option<&str>,
    ) -> Result<(), ApiError> {
        let alloc_id = match (association_id, public_ip) {
            (Some(id), _) => self
                .region
                .addresses
                .values()
                .find(|a| a.association.as_ref().is_some_and(|s| &s.id == id))
                .map(|a| a.allocation_id.clone())
                .ok_or_else(|| Kind::EipAssociation.not_found(id))?,
            (None, Some(text)) => {
                let id = self.address_id(None, Some(text))?;
                if self
                    .region
                    .addresses
                    .get(&id)
                    .is_some_and(|a| a.association.is_none())
                {
                    return Ok(());
                }
                id
            }
            (None, None) => return Err(ApiError::missing("AssociationId")),
        };
        let a = self
            .region
            .addresses
            .get(&alloc_id)
            .and_then(|a| a.association.clone())
            .expect("found above");
        if self
            .region
            .network_interfaces
            .get(&a.network_interface_id)
            .is_some_and(|e| e.requester_managed)
        {
            return Err(ApiError::new(
                ErrorCode::OperationNotPermitted,
                format!(
                    "The address of association '{}' is used by a NAT gateway and cannot be disassociated.",
                    a.id
                ),
            ));
        }
        self.drop_public_addresses(&a.network_interface_id, Some(a.private_ip));
        // A launched-with-public-IP instance gets a fresh public address back.
        self.restore_launch_public_ip(&a.network_interface_id)?;
        Ok(())
    }
}

/// A domain name as a PTR record: lowercase, ending with a dot; EC2's error when it is not
/// a DNS name.
fn ptr_record(name: &str) -> Result<String, ApiError> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if bare.len() > 253 || !bare.contains('.') || !bare.split('.').all(label_ok) {
        return Err(ApiError::bad_param(
            "DomainName",
            name,
            "It must be a fully qualified domain name.",
        ));
    }
    Ok(format!("{}.", bare.to_ascii_lowercase()))
}

fn cidr_addr(text: &str) -> Result<Ipv4Addr, ApiError> {
    fort_model::cidr::parse_addr(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidAddressMalformed,
            format!("Invalid address: '{text}'"),
        )
    })
}
