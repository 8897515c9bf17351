//! Subnets: a block of a VPC in one zone, with five reserved addresses.

use std::net::Ipv4Addr;

use fort_model::dns_name::{HostnameType, PrivateDnsNameOptions};
use fort_model::*;
use fort_model::{cidr, cidr6};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::tags::check_tags;
use crate::vpc::forget_disassociated;
use crate::{Region, Tx};

#[derive(Clone, Debug, Default)]
pub struct CreateSubnet {
    pub vpc_id: String,
    pub cidr_block: Option<String>,
    pub ipv6_cidr_block: Option<String>,
    pub ipv6_native: bool,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub tags: Tags,
}

/// One attribute ModifySubnetAttribute changes, with its new value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubnetAttribute {
    MapPublicIpOnLaunch(bool),
    AssignIpv6AddressOnCreation(bool),
    EnableDns64(bool),
    EnableResourceNameDnsARecordOnLaunch(bool),
    EnableResourceNameDnsAAAARecordOnLaunch(bool),
    PrivateDnsHostnameTypeOnLaunch(HostnameType),
}

impl Region {
    /// Addresses of the subnet held by interfaces (primary and secondary).
    pub fn used_addresses(&self, subnet_id: &str) -> usize {
        self.network_interfaces
            .values()
            .filter(|e| e.subnet_id == subnet_id)
            .map(|e| 1 + e.secondary_ips.len())
            .sum()
    }

    /// What EC2 reports as `availableIpAddressCount`.
    /// An IPv6-only subnet has none: its interfaces take no IPv4 address.
    pub fn available_addresses(&self, subnet: &Subnet) -> usize {
        let Some(net) = subnet.cidr else { return 0 };
        (cidr::usable_addresses(net) as usize).saturating_sub(self.used_addresses(&subnet.id))
    }

    /// A free address of the subnet: not reserved, not held by any interface.
    pub fn free_address(&self, subnet: &Subnet, skip: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let net = subnet.cidr?;
        let used: std::collections::HashSet<Ipv4Addr> = self
            .network_interfaces
            .values()
            .filter(|e| e.subnet_id == subnet.id)
            .flat_map(|e| e.private_ips().collect::<Vec<_>>())
            .chain(skip.iter().copied())
            .collect();
        net.hosts()
            .find(|ip| !cidr::is_reserved(net, *ip) && !used.contains(ip))
    }

    /// Whether `ip` is held by an interface of the subnet.
    pub fn address_in_use(&self, subnet_id: &str, ip: Ipv4Addr) -> bool {
        self.network_interfaces
            .values()
            .any(|e| e.subnet_id == subnet_id && e.private_ips().any(|a| a == ip))
    }
}

impl Tx<'_> {
    pub fn create_subnet(&mut self, req: CreateSubnet) -> Result<Subnet, ApiError> {
        if req.ipv6_native {
            match (&req.cidr_block, &req.ipv6_cidr_block) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::combination(
                        "When specifying ipv4 parameters, cidrBlock or ipv4IpamPoolId, you cannot set ipv6Native to true.",
                    ));
                }
                (_, None) => {
                    return Err(ApiError::new(
                        ErrorCode::MissingParameter,
                        "Either 'ipv6CidrBlock' or 'ipv6IpamPoolId' should be provided.",
                    ));
                }
                (None, Some(_)) => {}
            }
        }
        let vpc = self.region.vpcs.find(Kind::Vpc, &req.vpc_id)?.clone();
        let net = match (req.cidr_block, req.ipv6_native) {
            (_, true) => None,
            (None, false) => return Err(ApiError::missing("CidrBlock")),
            (Some(text), false) => Some(self.check_subnet_ipv4_block(&vpc, &text)?),
        };
        let v6 = req
            .ipv6_cidr_block
            .as_deref()
            .map(|t| self.check_subnet_ipv6_block(&vpc, None, t))
            .transpose()?;
        let zone = self.pick_zone(
            req.availability_zone.as_deref(),
            req.availability_zone_id.as_deref(),
        )?;
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.subnets_per_vpc;
        if self
            .region
            .subnets
            .values()
            .filter(|s| s.vpc_id == vpc.id)
            .count()
            >= quota
        {
            return Err(ApiError::new(
                ErrorCode::SubnetLimitExceeded,
                format!("The maximum number of subnets per VPC has been reached ({quota})."),
            ));
        }
        let mut subnet = self.make_subnet(&vpc, net, zone, false, req.tags);
        if let Some(v6) = v6 {
            let row = self.region.subnets.get_mut(&subnet.id).expect("made above");
            row.ipv6_cidr_blocks.push(SubnetIpv6CidrBlock {
                association_id: SubnetCidrAssociationId::new(),
                cidr: v6,
                state: CidrBlockState::Associated,
            });
            if net.is_none() {
                // What EC2 gives an IPv6-only subnet: every interface gets an IPv6
                // address, and names are resource names (there is no IPv4 to name).
                row.assign_ipv6_address_on_creation = true;
                row.private_dns_name_options_on_launch = PrivateDnsNameOptions {
                    hostname_type: HostnameType::ResourceName,
                    enable_resource_name_dns_a_record: false,
                    enable_resource_name_dns_aaaa_record: true,
                };
            }
            subnet = row.clone();
        }
        Ok(subnet)
    }

    /// An IPv4 block for a new subnet of `vpc`: /16 to /28, inside one of the VPC's
    /// blocks, overlapping no other subnet's.
    fn check_subnet_ipv4_block(&self, vpc: &Vpc, text: &str) -> Result<Ipv4Net, ApiError> {
        let net = cidr::parse_param("cidrBlock", text)?;
        if !(16..=28).contains(&net.prefix_len()) || !vpc.cidrs().any(|b| b.contains(&net)) {
            return Err(ApiError::new(
                ErrorCode::InvalidSubnetRange,
                format!("The CIDR '{text}' is invalid."),
            ));
        }
        if self
            .region
            .subnets
            .values()
            .any(|s| s.vpc_id == vpc.id && s.cidr.is_some_and(|c| cidr::overlaps(c, net)))
        {
            return Err(ApiError::new(
                ErrorCode::InvalidSubnetConflict,
                format!("The CIDR '{text}' conflicts with another subnet"),
            ));
        }
        Ok(net)
    }

    /// An IPv6 block for a subnet of `vpc` (`subnet`: the one it is for, if it exists):
    /// /44 to /64 in steps of 4, inside one of the VPC's IPv6 blocks, overlapping no other
    /// subnet's.
    fn check_subnet_ipv6_block(
        &self,
        vpc: &Vpc,
        subnet: Option<&str>,
        text: &str,
    ) -> Result<Ipv6Net, ApiError> {
        let net = cidr6::parse(text)
            .filter(|n| cidr6::is_subnet_size(n.prefix_len()))
            .ok_or_else(|| {
                ApiError::invalid_value(format!(
                    "invalid value for parameter ipv6-cidr-block: {text}"
                ))
            })?;
        if !vpc.ipv6_cidrs().any(|b| b.contains(&net)) {
            return Err(ApiError::new(
                ErrorCode::InvalidSubnetRange,
                format!("The IPv6 CIDR '{text}' is invalid."),
            ));
        }
        let conflict = self.region.subnets.values().any(|s| {
            s.vpc_id == vpc.id
                && Some(s.id.as_str()) != subnet
                && s.ipv6_cidr().is_some_and(|c| cidr6::overlaps(c, net))
        });
        if conflict {
            return Err(ApiError::new(
                ErrorCode::InvalidSubnetConflict,
                format!("The IPv6 CIDR '{text}' conflicts with another subnet"),
            ));
        }
        Ok(net)
    }

    /// AssociateSubnetCidrBlock: a subnet's one IPv6 block.
    pub fn associate_subnet_cidr_block(
        &mut self,
        id: &str,
        text: &str,
    ) -> Result<SubnetIpv6CidrBlock, ApiError> {
        let subnet = self.region.subnets.find(Kind::Subnet, id)?.clone();
        let vpc = self
            .region
            .vpcs
            .get(&subnet.vpc_id)
            .expect("a subnet's VPC exists")
            .clone();
        let net = self.check_subnet_ipv6_block(&vpc, Some(id), text)?;
        if subnet.ipv6_cidr().is_some() {
            return Err(ApiError::invalid_value(format!(
                "The subnet '{id}' already has an IPv6 CIDR block associated."
            )));
        }
        let block = SubnetIpv6CidrBlock {
            association_id: SubnetCidrAssociationId::new(),
            cidr: net,
            state: CidrBlockState::Associated,
        };
        let row = self.region.subnets.get_mut(id).expect("found above");
        forget_disassociated(&mut row.ipv6_cidr_blocks, |b| b.state);
        row.ipv6_cidr_blocks.push(block.clone());
        Ok(block)
    }

    /// DisassociateSubnetCidrBlock: only while no interface of the subnet holds an IPv6
    /// address from it.
    pub fn disassociate_subnet_cidr_block(
        &mut self,
        association_id: &str,
    ) -> Result<(SubnetId, SubnetIpv6CidrBlock), ApiError> {
        let subnet = self
            .region
            .subnets
            .values()
            .find(|s| {
                s.ipv6_cidr_blocks.iter().any(|b| {
                    b.association_id == association_id && b.state == CidrBlockState::Associated
                })
            })
            .ok_or_else(|| {
                Kind::SubnetCidrAssoc
                    .check(association_id)
                    .err()
                    .unwrap_or_else(|| Kind::SubnetCidrAssoc.not_found(association_id))
            })?
            .id
            .clone();
        if self
            .region
            .subnets
            .get(&subnet)
            .is_some_and(|s| s.cidr.is_none())
        {
            return Err(ApiError::invalid_value(format!(
                "The IPv6 CIDR block of subnet '{subnet}' cannot be disassociated: it is an IPv6-only subnet."
            )));
        }
        if self
            .region
            .network_interfaces
            .values()
            .any(|e| e.subnet_id == subnet && !e.ipv6_addresses.is_empty())
        {
            return Err(ApiError::invalid_value(format!(
                "The IPv6 CIDR block of subnet '{subnet}' cannot be disassociated while network interfaces in it have IPv6 addresses."
            )));
        }
        let row = self.region.subnets.get_mut(&subnet).expect("found above");
        forget_disassociated(&mut row.ipv6_cidr_blocks, |b| b.state);
        row.assign_ipv6_address_on_creation = false;
        let b = row
            .ipv6_cidr_blocks
            .iter_mut()
            .find(|b| b.association_id == association_id)
            .expect("found above");
        b.state = CidrBlockState::Disassociated;
        let block = b.clone();
        Ok((subnet, block))
    }

    /// The zone a subnet goes in: the one named (by name or id) or, like AWS, one chosen.
    fn pick_zone(&self, name: Option<&str>, id: Option<&str>) -> Result<String, ApiError> {
        let zones = self.config.zones(&self.region.name);
        match (name, id) {
            (Some(_), Some(_)) => Err(ApiError::combination(
                "Only one of AvailabilityZone or AvailabilityZoneId may be specified.",
            )),
            (Some(name), None) => zones.iter().find(|z| *z == name).cloned().ok_or_else(|| {
                ApiError::bad_param("availabilityZone", name, &format!("Subnets can currently only be created in the following availability zones: {}.", zones.join(", ")))
            }),
            (None, Some(id)) => zones
                .iter()
                .find(|z| self.config.zone_id(z) == id)
                .cloned()
                .ok_or_else(|| {
                    let ids: Vec<String> = zones.iter().map(|z| self.config.zone_id(z)).collect();
                    ApiError::bad_param("availabilityZoneId", id, &format!("Subnets can currently only be created in the following availability zones: {}.", ids.join(", ")))
                }),
            (None, None) => {
                // The zone with the fewest subnets of this account, first in order on a tie.
                let count = |z: &String| self.region.subnets.values().filter(|s| &s.availability_zone == z).count();
                Ok(zones.iter().min_by_key(|z| count(z)).cloned().unwrap_or_default())
            }
        }
    }

    fn make_subnet(
        &mut self,
        vpc: &Vpc,
        net: Option<Ipv4Net>,
        zone: String,
        default_for_az: bool,
        tags: Tags,
    ) -> Subnet {
        let subnet = Subnet {
            id: SubnetId::new(),
            vpc_id: vpc.id.clone(),
            cidr: net,
            ipv6_cidr_blocks: Vec::new(),
            availability_zone_id: self.config.zone_id(&zone),
            availability_zone: zone,
            default_for_az,
            map_public_ip_on_launch: default_for_az,
            assign_ipv6_address_on_creation: false,
            enable_dns64: false,
            private_dns_name_options_on_launch: PrivateDnsNameOptions::default(),
            tags,
        };
        self.region.subnets.insert(subnet.clone());
        self.associate_default_network_acl(&vpc.default_network_acl_id, &subnet.id);
        subnet
    }

    /// A default subnet: the next free /20 of the default VPC.
    pub(crate) fn make_default_subnet(
        &mut self,
        vpc: &Vpc,
        zone: &str,
    ) -> Result<Subnet, ApiError> {
        let taken: Vec<Ipv4Net> = self
            .region
            .subnets
            .values()
            .filter(|s| s.vpc_id == vpc.id)
            .filter_map(|s| s.cidr)
            .collect();
        let net = vpc
            .primary_cidr()
            .subnets(20)
            .ok()
            .and_then(|mut it| it.find(|n| !taken.iter().any(|t| cidr::overlaps(*t, *n))))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InsufficientFreeAddressesInSubnet,
                    "The default VPC has no room for another default subnet.",
                )
            })?;
        Ok(self.make_subnet(vpc, Some(net), zone.to_owned(), true, Tags::new()))
    }

    pub fn create_default_subnet(&mut self, zone: &str) -> Result<Subnet, ApiError> {
        let zones = self.config.zones(&self.region.name);
        if !zones.iter().any(|z| z == zone) {
            return Err(ApiError::bad_param("AvailabilityZone", zone, ""));
        }
        let vpc = self.region.default_vpc().cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::DefaultVpcDoesNotExist,
                "No default VPC exists for this account in this region.",
            )
        })?;
        if let Some(existing) = self
            .region
            .subnets
            .values()
            .find(|s| s.default_for_az && s.availability_zone == zone)
        {
            return Err(ApiError::new(
                ErrorCode::DefaultSubnetAlreadyExistsInAvailabilityZone,
                format!("'{}' is already the default subnet in {zone}.", existing.id),
            ));
        }
        self.make_default_subnet(&vpc, zone)
    }

    pub fn delete_subnet(&mut self, id: &str) -> Result<(), ApiError> {
        self.region.subnets.find(Kind::Subnet, id)?;
        if self
            .region
            .network_interfaces
            .values()
            .any(|e| e.subnet_id == id)
            || self.region.nat_gateways.values().any(|n| {
                n.subnet_id == id
                    && !matches!(n.state, NatGatewayState::Deleted | NatGatewayState::Failed)
            })
        {
            return Err(ApiError::dependency("subnet", id));
        }
        for t in self.region.route_tables.ids_where(|t| {
            t.associations
                .iter()
                .any(|a| a.subnet_id.as_deref() == Some(id))
        }) {
            let table = self.region.route_tables.get_mut(&t).expect("listed");
            table
                .associations
                .retain(|a| a.subnet_id.as_deref() != Some(id));
        }
        for a in self
            .region
            .network_acls
            .ids_where(|a| a.associations.iter().any(|s| s.subnet_id == id))
        {
            let acl = self.region.network_acls.get_mut(&a).expect("listed");
            acl.associations.retain(|s| s.subnet_id != id);
        }
        for r in self
            .region
            .subnet_cidr_reservations
            .ids_where(|r| r.subnet_id == id)
        {
            self.region.subnet_cidr_reservations.remove(&r);
        }
        self.drop_flow_logs_of(id);
        self.region.subnets.remove(id);
        Ok(())
    }

    /// ModifySubnetAttribute: one attribute per call.
    pub fn modify_subnet_attribute(
        &mut self,
        id: &str,
        attribute: SubnetAttribute,
    ) -> Result<(), ApiError> {
        let subnet = self.region.subnets.find_mut(Kind::Subnet, id)?;
        let on_launch = &mut subnet.private_dns_name_options_on_launch;
        match attribute {
            SubnetAttribute::MapPublicIpOnLaunch(on) => subnet.map_public_ip_on_launch = on,
            SubnetAttribute::AssignIpv6AddressOnCreation(on) => {
                if on && subnet.ipv6_cidr().is_none() {
                    return Err(ApiError::invalid_value(format!(
                        "Invalid value 'true' for assign-ipv6-address-on-creation. Cannot set assign-ipv6-address-on-creation to true unless the subnet ({id}) has an IPv6 CIDR block associated with it."
                    )));
                }
                subnet.assign_ipv6_address_on_creation = on;
            }
            SubnetAttribute::EnableDns64(on) => subnet.enable_dns64 = on,
            SubnetAttribute::EnableResourceNameDnsARecordOnLaunch(on) => {
                on_launch.enable_resource_name_dns_a_record = on
            }
            SubnetAttribute::EnableResourceNameDnsAAAARecordOnLaunch(on) => {
                on_launch.enable_resource_name_dns_aaaa_record = on
            }
            SubnetAttribute::PrivateDnsHostnameTypeOnLaunch(t) => {
                // An IPv6-only subnet's instances have no IPv4 address to name: "For IPv6
                // only subnets, an instance DNS name must be based on the instance ID"
                // (EC2 API reference, PrivateDnsNameOptionsRequest).
                if subnet.cidr.is_none() && t == HostnameType::IpName {
                    return Err(ApiError::bad_param(
                        "PrivateDnsHostnameTypeOnLaunch",
                        t.as_str(),
                        "An IPv6-only subnet's instances must be named by resource name.",
                    ));
                }
                on_launch.hostname_type = t
            }
        }
        Ok(())
    }
}
