//! Network interfaces: private addresses from their subnet, security groups, attachment to
//! instances, and the address bookkeeping that instances and NAT gateways share.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use fort_model::*;
use fort_model::{cidr, cidr6};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::tags::check_tags;
use crate::{ClientToken, Region, Tx};

/// CreateNetworkInterface's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateNetworkInterface {
    pub subnet_id: String,
    pub description: Option<String>,
    pub private_ip: Option<String>,
    /// `PrivateIpAddresses.N`: (address, primary).
    pub private_ips: Vec<(String, bool)>,
    pub secondary_count: Option<i64>,
    /// `Ipv6Addresses.N.Ipv6Address` and `Ipv6AddressCount`.
    pub ipv6: Ipv6Request,
    pub groups: Vec<String>,
    pub interface_type: Option<String>,
    pub tags: Tags,
    pub client_token: Option<ClientToken>,
}

/// The private addresses a new interface asks for, before they are checked.
#[derive(Clone, Debug, Default)]
pub struct AddressRequest {
    pub private_ip: Option<String>,
    pub private_ips: Vec<(String, bool)>,
    pub secondary_count: Option<i64>,
    pub ipv6: Ipv6Request,
}

/// The addresses of one subnet in use, to hand out free ones: built once per change, so
/// allocating many addresses costs one pass over the region's interfaces.
pub struct SubnetAddresses {
    cidr: Ipv4Net,
    used: HashSet<Ipv4Addr>,
    /// The subnet's CIDR reservations: skipped when choosing a free address.
    reserved: Vec<Ipv4Net>,
    /// Every address below this one is reserved or used.
    next: u32,
}

impl SubnetAddresses {
    /// The subnet's IPv4 addresses: an IPv6-only subnet has none, and Fort does not yet put
    /// interfaces (instances, NAT gateways, endpoints) in one, as its data plane forwards
    /// IPv4 only: a clear refusal rather than an interface that could never carry traffic.
    pub fn of(region: &Region, subnet: &Subnet) -> Result<Self, ApiError> {
        let Some(net) = subnet.cidr else {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "The subnet '{}' is IPv6-only: Fort does not place network interfaces in IPv6-only subnets yet (its data plane forwards IPv4 only).",
                    subnet.id
                ),
            ));
        };
        let used = region
            .network_interfaces
            .values()
            .filter(|e| e.subnet_id == subnet.id)
            .flat_map(|e| e.private_ips().collect::<Vec<_>>())
            .collect();
        // reserved ranges are never handed out automatically; they may still be named
        let reserved = region
            .subnet_cidr_reservations
            .values()
            .filter(|r| r.subnet_id == subnet.id)
            .filter_map(|r| match r.cidr {
                ipnet::IpNet::V4(n) => Some(n),
                ipnet::IpNet::V6(_) => None,
            })
            .collect();
        Ok(Self {
            cidr: net,
            used,
            reserved,
            next: u32::from(net.network()),
        })
    }

    /// The lowest free address, now taken.
    pub fn take(&mut self) -> Option<Ipv4Addr> {
        let last = u32::from(self.cidr.broadcast());
        while self.next <= last {
            let ip = Ipv4Addr::from(self.next);
            self.next += 1;
            if !cidr::is_reserved(self.cidr, ip)
                && !self.used.contains(&ip)
                && !self.reserved.iter().any(|r| r.contains(&ip))
            {
                self.used.insert(ip);
                return Some(ip);
            }
        }
        None
    }

    /// `n` free addresses, or InsufficientFreeAddressesInSubnet.
    pub fn take_n(&mut self, n: usize, subnet_id: &str) -> Result<Vec<Ipv4Addr>, ApiError> {
        (0..n)
            .map(|_| self.take().ok_or_else(|| no_free_addresses(subnet_id)))
            .collect()
    }

    /// Takes a requested address: inside the subnet, not reserved, not in use.
    pub fn claim(&mut self, ip: Ipv4Addr) -> Result<(), ApiError> {
        check_in_subnet(self.cidr, ip)?;
        if !self.used.insert(ip) {
            return Err(ip_in_use(ip));
        }
        Ok(())
    }

    /// Gives back an address (an interface being moved or freed within the change).
    pub fn free(&mut self, ip: Ipv4Addr) {
        self.used.remove(&ip);
        self.next = self.next.min(u32::from(ip));
    }

    /// Whether `ip` is one of the subnet's addresses (EC2's error otherwise).
    pub fn check_in_subnet(&self, ip: Ipv4Addr) -> Result<(), ApiError> {
        check_in_subnet(self.cidr, ip)
    }

    pub fn in_use(&self, ip: Ipv4Addr) -> bool {
        self.used.contains(&ip)
    }
}

/// The IPv6 addresses a new or existing interface asks for, before they are checked.
#[derive(Clone, Debug, Default)]
pub struct Ipv6Request {
    pub addresses: Vec<String>,
    pub count: Option<i64>,
}

impl Ipv6Request {
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.count.is_none()
    }
}

/// The IPv6 addresses of one subnet in use, to hand out free ones (the IPv6 counterpart
/// of [`SubnetAddresses`]): no two interfaces ever hold the same address.
pub struct SubnetIpv6Addresses {
    subnet_id: SubnetId,
    cidr: Option<Ipv6Net>,
    used: HashSet<Ipv6Addr>,
    /// The subnet's IPv6 CIDR reservations: skipped when choosing a free address.
    reserved: Vec<Ipv6Net>,
    /// Every address below this offset is reserved or used.
    next: u128,
}

impl SubnetIpv6Addresses {
    pub fn of(region: &Region, subnet: &Subnet) -> Self {
        let used = region
            .network_interfaces
            .values()
            .filter(|e| e.subnet_id == subnet.id)
            .flat_map(|e| e.ipv6_addresses.iter().copied())
            .collect();
        let reserved = region
            .subnet_cidr_reservations
            .values()
            .filter(|r| r.subnet_id == subnet.id)
            .filter_map(|r| match r.cidr {
                ipnet::IpNet::V6(n) => Some(n),
                ipnet::IpNet::V4(_) => None,
            })
            .collect();
        Self {
            subnet_id: subnet.id.clone(),
            cidr: subnet.ipv6_cidr(),
            used,
            reserved,
            next: 4,
        }
    }

    fn block(&self) -> Result<Ipv6Net, ApiError> {
        self.cidr.ok_or_else(|| {
            ApiError::invalid_value(format!(
                "The subnet '{}' has no IPv6 CIDR block: it has no IPv6 addresses to assign.",
                self.subnet_id
            ))
        })
    }

    /// The lowest free address, now taken.
    pub fn take(&mut self) -> Result<Ipv6Addr, ApiError> {
        let block = self.block()?;
        while let Some(ip) = cidr6::host(block, self.next) {
            self.next += 1;
            if !cidr6::is_reserved(block, ip)
                && !self.used.contains(&ip)
                && !self.reserved.iter().any(|r| r.contains(&ip))
            {
                self.used.insert(ip);
                return Ok(ip);
            }
        }
        Err(no_free_addresses(&self.subnet_id))
    }

    /// Takes a requested address: inside the subnet's block, not reserved, not in use.
    pub fn claim(&mut self, ip: Ipv6Addr) -> Result<(), ApiError> {
        let block = self.block()?;
        if !block.contains(&ip) {
            return Err(ApiError::invalid_value(format!(
                "Address does not fall within the subnet's address range: {ip} is not in {block}"
            )));
        }
        if cidr6::is_reserved(block, ip) {
            return Err(ApiError::invalid_value(format!(
                "Address {ip} is in the subnet's reserved address range"
            )));
        }
        if !self.used.insert(ip) {
            return Err(ApiError::new(
                ErrorCode::InvalidIpAddressInUse,
                format!("Address {ip} is in use."),
            ));
        }
        Ok(())
    }

    /// The addresses `req` asks for, taken: the named ones, or `count` free ones.
    pub fn take_request(
        &mut self,
        req: &Ipv6Request,
        limit: usize,
        held: usize,
    ) -> Result<Vec<Ipv6Addr>, ApiError> {
        let wanted: Vec<Ipv6Addr> = req
            .addresses
            .iter()
            .map(|t| {
                cidr6::parse_addr(t).ok_or_else(|| {
                    ApiError::bad_param("Ipv6Address", t, "This is not a valid IPv6 address.")
                })
            })
            .collect::<Result<_, _>>()?;
        let n = match (wanted.is_empty(), req.count) {
            (false, Some(_)) => {
                return Err(ApiError::combination(
                    "Specify either Ipv6Addresses or Ipv6AddressCount, not both.",
                ));
            }
            (true, Some(n)) if n < 0 => {
                return Err(ApiError::bad_param(
                    "Ipv6AddressCount",
                    &n.to_string(),
                    "The count must not be negative.",
                ));
            }
            (true, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            (_, None) => wanted.len(),
        };
        if n.saturating_add(held) > limit {
            return Err(ApiError::invalid_value(format!(
                "Number of IPv6 addresses will exceed limit of {limit} for the interface."
            )));
        }
        if wanted.is_empty() {
            return (0..n).map(|_| self.take()).collect();
        }
        let mut out = Vec::with_capacity(n);
        for ip in wanted {
            if !out.contains(&ip) {
                self.claim(ip)?;
                out.push(ip);
            }
        }
        Ok(out)
    }
}

pub fn no_free_addresses(subnet_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientFreeAddressesInSubnet,
        format!(
            "There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested number of instances."
        ),
    )
}

pub fn ip_in_use(ip: Ipv4Addr) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidIpAddressInUse,
        format!("Address {ip} is in use."),
    )
}

/// An address a user names for a subnet: inside it and not one of its five reserved ones.
pub fn check_in_subnet(net: Ipv4Net, ip: Ipv4Addr) -> Result<(), ApiError> {
    if !net.contains(&ip) {
        return Err(ApiError::invalid_value(format!(
            "Address does not fall within the subnet's address range: {ip} is not in {net}"
        )));
    }
    if cidr::is_reserved(net, ip) {
        return Err(ApiError::invalid_value(format!(
            "Address {ip} is in the subnet's reserved address range"
        )));
    }
    Ok(())
}

/// Parses a private IPv4 address given as a parameter.
pub fn parse_ip(param: &str, text: &str) -> Result<Ipv4Addr, ApiError> {
    cidr::parse_addr(text)
        .ok_or_else(|| ApiError::bad_param(param, text, "This is not a valid IPv4 address."))
}

pub use fort_model::dns_name::{private_dns_name, public_dns_name};

impl Region {
    /// The public DNS name of a public address of an interface in `vpc_id`: only when the
    /// VPC has both DNS support and DNS hostnames, as EC2 does.
    pub fn public_dns_for(&self, vpc_id: &str, ip: Ipv4Addr) -> Option<String> {
        let vpc = self.vpcs.get(vpc_id)?;
        (vpc.enable_dns_support && vpc.enable_dns_hostnames)
            .then(|| public_dns_name(&self.name, ip))
    }

    /// Interfaces attached to an instance, by device index.
    pub fn interfaces_of(&self, instance_id: &str) -> Vec<&NetworkInterface> {
        let mut v: Vec<&NetworkInterface> = self
            .network_interfaces
            .values()
            .filter(|e| {
                e.attachment
                    .as_ref()
                    .is_some_and(|a| a.instance_id == instance_id)
            })
            .collect();
        v.sort_by_key(|e| e.attachment.as_ref().map_or(0, |a| a.device_index));
        v
    }

    /// The status EC2 shows for an interface.
    pub fn interface_status(e: &NetworkInterface) -> &'static str {
        if e.attachment.is_some() || e.requester_managed {
            "in-use"
        } else {
            "available"
        }
    }
}

impl Tx<'_> {
    /// The groups a new interface gets: the named ones (existing, in the VPC, within the
    /// quota), or the VPC's default group.
    pub(crate) fn resolve_groups(
        &self,
        vpc_id: &str,
        subnet_id: &str,
        ids: &[String],
    ) -> Result<Vec<SecurityGroupId>, ApiError> {
        if ids.is_empty() {
            let vpc = self.region.vpcs.find(Kind::Vpc, vpc_id)?;
            return Ok(vec![vpc.default_security_group_id.clone()]);
        }
        let mut out: Vec<SecurityGroupId> = Vec::with_capacity(ids.len());
        for id in ids {
            let sg = self.region.security_groups.find(Kind::SecurityGroup, id)?;
            if sg.vpc_id != vpc_id {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "Security group {id} and subnet {subnet_id} belong to different networks."
                    ),
                ));
            }
            if !out.contains(&sg.id) {
                out.push(sg.id.clone());
            }
        }
        let limit = self.config.quotas.security_groups_per_interface;
        if out.len() > limit {
            return Err(ApiError::new(
                ErrorCode::SecurityGroupsPerInterfaceLimitExceeded,
                format!(
                    "The maximum number of security groups per interface has been reached ({limit})."
                ),
            ));
        }
        Ok(out)
    }

    /// The primary and secondary addresses a request asks for, taken from `addrs`.
    pub(crate) fn pick_addresses(
        &self,
        subnet: &Subnet,
        req: &AddressRequest,
        addrs: &mut SubnetAddresses,
    ) -> Result<(Ipv4Addr, Vec<Ipv4Addr>), ApiError> {
        let mut primary: Option<Ipv4Addr> = None;
        let mut secondary: Vec<Ipv4Addr> = Vec::new();
        if let Some(text) = &req.private_ip {
            primary = Some(parse_ip("PrivateIpAddress", text)?);
        }
        for (text, is_primary) in &req.private_ips {
            let ip = parse_ip("PrivateIpAddresses.PrivateIpAddress", text)?;
            if *is_primary {
                match primary {
                    Some(p) if p != ip => {
                        return Err(ApiError::combination(
                            "Only one primary private IP address may be specified.",
                        ));
                    }
                    _ => primary = Some(ip),
                }
            } else if Some(ip) != primary && !secondary.contains(&ip) {
                secondary.push(ip);
            }
        }
        // Addresses not marked primary are secondary: with none marked (and no
        // PrivateIpAddress), EC2 picks the primary itself, as Terraform's
        // secondary_private_ips expect.
        if let Some(p) = primary {
            secondary.retain(|s| *s != p);
        }
        let count = match req.secondary_count {
            None => 0,
            Some(n) if n < 1 => {
                return Err(ApiError::bad_param(
                    "SecondaryPrivateIpAddressCount",
                    &n.to_string(),
                    "The count must be at least 1.",
                ));
            }
            // a count past the address space is refused by the limit below
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        if count > 0 && !secondary.is_empty() {
            return Err(ApiError::combination(
                "SecondaryPrivateIpAddressCount may not be specified together with secondary private IP addresses.",
            ));
        }
        let limit = self.config.quotas.private_ips_per_interface;
        if count.saturating_add(1 + secondary.len()) > limit {
            return Err(ApiError::new(
                ErrorCode::PrivateIpAddressLimitExceeded,
                format!(
                    "Number of private addresses will exceed limit of {limit} for the interface."
                ),
            ));
        }
        if let Some(p) = primary {
            addrs.claim(p)?;
        }
        for ip in &secondary {
            addrs.claim(*ip)?;
        }
        // picked only once the addresses asked for are claimed, so it is none of them
        let primary = match primary {
            Some(p) => p,
            None => addrs.take().ok_or_else(|| no_free_addresses(&subnet.id))?,
        };
        secondary.extend(addrs.take_n(count, &subnet.id)?);
        Ok((primary, secondary))
    }

    /// The IPv6 addresses a new interface of `subnet` gets: those asked for, or one when
    /// the subnet assigns IPv6 addresses on creation.
    pub(crate) fn pick_ipv6(
        &self,
        subnet: &Subnet,
        req: &Ipv6Request,
    ) -> Result<Vec<Ipv6Addr>, ApiError> {
        let mut addrs = SubnetIpv6Addresses::of(self.region, subnet);
        let limit = self.config.quotas.private_ips_per_interface;
        if req.is_empty() {
            if subnet.assign_ipv6_address_on_creation && subnet.ipv6_cidr().is_some() {
                return Ok(vec![addrs.take()?]);
            }
            return Ok(Vec::new());
        }
        addrs.take_request(req, limit, 0)
    }

    /// AssignIpv6Addresses: the addresses newly assigned.
    pub fn assign_ipv6_addresses(
        &mut self,
        eni_id: &NetworkInterfaceId,
        req: &Ipv6Request,
    ) -> Result<Vec<Ipv6Addr>, ApiError> {
        let eni = self.region.network_interfaces.lookup(eni_id)?.clone();
        if req.is_empty() {
            return Err(ApiError::missing("Ipv6Addresses"));
        }
        let subnet = self
            .region
            .subnets
            .get(&eni.subnet_id)
            .cloned()
            .ok_or_else(|| ApiError::internal("interface without subnet"))?;
        let mut addrs = SubnetIpv6Addresses::of(self.region, &subnet);
        let limit = self.config.quotas.private_ips_per_interface;
        let assigned = addrs.take_request(req, limit, eni.ipv6_addresses.len())?;
        let row = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("found above");
        row.ipv6_addresses.extend(assigned.iter().copied());
        Ok(assigned)
    }

    /// UnassignIpv6Addresses: the addresses given back.
    pub fn unassign_ipv6_addresses(
        &mut self,
        eni_id: &NetworkInterfaceId,
        ips: &[String],
    ) -> Result<Vec<Ipv6Addr>, ApiError> {
        let eni = self.region.network_interfaces.lookup(eni_id)?.clone();
        if ips.is_empty() {
            return Err(ApiError::missing("Ipv6Addresses"));
        }
        let mut gone = Vec::with_capacity(ips.len());
        for t in ips {
            let ip = cidr6::parse_addr(t).ok_or_else(|| {
                ApiError::bad_param("Ipv6Addresses", t, "This is not a valid IPv6 address.")
            })?;
            if !eni.ipv6_addresses.contains(&ip) {
                return Err(ApiError::invalid_value(format!(
                    "Some of the specified addresses are not assigned to interface {eni_id}"
                )));
            }
            if !gone.contains(&ip) {
                gone.push(ip);
            }
        }
        let row = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("found above");
        row.ipv6_addresses.retain(|a| !gone.contains(a));
        Ok(gone)
    }

    /// A new interface row (already inserted), with fresh id and MAC.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert_interface(
        &mut self,
        subnet: &Subnet,
        primary: Option<Ipv4Addr>,
        secondary: Vec<Ipv4Addr>,
        groups: Vec<SecurityGroupId>,
        description: String,
        interface_type: &str,
        requester_managed: bool,
        tags: Tags,
    ) -> Result<NetworkInterface, ApiError> {
        let quota = self.config.quotas.network_interfaces;
        if self.region.network_interfaces.len() >= quota {
            return Err(ApiError::new(
                ErrorCode::NetworkInterfaceLimitExceeded,
                format!("The maximum number of network interfaces has been reached ({quota})."),
            ));
        }
        let eni = NetworkInterface {
            id: NetworkInterfaceId::new(),
            subnet_id: subnet.id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            availability_zone: subnet.availability_zone.clone(),
            description,
            mac_address: id::new_mac(),
            private_ip: primary,
            secondary_ips: secondary,
            ipv6_addresses: Vec::new(),
            security_groups: groups,
            source_dest_check: interface_type != "nat_gateway",
            interface_type: interface_type.to_owned(),
            requester_managed,
            attachment: None,
            associations: Vec::new(),
            client_token: None,
            tags,
        };
        self.region.network_interfaces.insert(eni.clone());
        Ok(eni)
    }

    /// CreateNetworkInterface, idempotent under its client token (which the interface keeps).
    pub fn create_network_interface(
        &mut self,
        req: CreateNetworkInterface,
    ) -> Result<NetworkInterface, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.network_interfaces.get(id).cloned(),
            |tx| tx.make_network_interface(req),
            |e| e.id.to_string(),
        )
    }

    fn make_network_interface(
        &mut self,
        req: CreateNetworkInterface,
    ) -> Result<NetworkInterface, ApiError> {
        let subnet = self
            .region
            .subnets
            .find(Kind::Subnet, &req.subnet_id)?
            .clone();
        match req.interface_type.as_deref() {
            None | Some("interface") => {}
            Some(t @ ("efa" | "efa-only" | "trunk" | "branch")) => {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    format!("Interface type '{t}' is not supported by Fort."),
                ));
            }
            Some(t) => {
                return Err(ApiError::bad_param(
                    "InterfaceType",
                    t,
                    "Valid values: efa, efa-only, trunk, branch.",
                ));
            }
        }
        let description = req.description.clone().unwrap_or_default();
        if description.chars().count() > 255 {
            return Err(ApiError::bad_param(
                "Description",
                &description,
                "The description must be at most 255 characters.",
            ));
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let groups = self.resolve_groups(&subnet.vpc_id, &subnet.id, &req.groups)?;
        let ask = AddressRequest {
            private_ip: req.private_ip.clone(),
            private_ips: req.private_ips.clone(),
            secondary_count: req.secondary_count,
            ipv6: Ipv6Request::default(),
        };
        let (primary, secondary) = if subnet.cidr.is_none() {
            // an IPv6-only subnet: its interfaces have IPv6 addresses alone
            crate::instance::ipv6_only_addresses(&subnet, &ask)?;
            (None, Vec::new())
        } else {
            let mut addrs = SubnetAddresses::of(self.region, &subnet)?;
            let (p, s) = self.pick_addresses(&subnet, &ask, &mut addrs)?;
            (Some(p), s)
        };
        let v6 = self.pick_ipv6(&subnet, &req.ipv6)?;
        let mut eni = self.insert_interface(
            &subnet,
            primary,
            secondary,
            groups,
            description,
            "interface",
            false,
            req.tags,
        )?;
        if !v6.is_empty() {
            eni.ipv6_addresses = v6;
            if let Some(row) = self.region.network_interfaces.get_mut(&eni.id) {
                row.ipv6_addresses = eni.ipv6_addresses.clone();
            }
        }
        if let Some(token) = &req.client_token {
            eni.client_token = Some(token.as_str().to_owned());
            if let Some(row) = self.region.network_interfaces.get_mut(&eni.id) {
                row.client_token = eni.client_token.clone();
            }
        }
        Ok(eni)
    }

    pub fn delete_network_interface(&mut self, id: &NetworkInterfaceId) -> Result<(), ApiError> {
        let eni = self.region.network_interfaces.lookup(id)?;
        if eni.attachment.is_some() || eni.requester_managed {
            return Err(ApiError::new(
                ErrorCode::InvalidNetworkInterfaceInUse,
                format!("The network interface '{id}' is currently in use."),
            ));
        }
        self.drop_public_addresses(id, None);
        self.drop_flow_logs_of(id);
        self.region.network_interfaces.remove(id);
        Ok(())
    }

    /// Unmaps every public address of an interface (of one private address if given):
    /// elastic IPs are disassociated and stay allocated; auto-assigned ones are released.
    pub(crate) fn drop_public_addresses(&mut self, eni_id: &str, only: Option<Ipv4Addr>) {
        let Some(eni) = self.region.network_interfaces.get(eni_id) else {
            return;
        };
        let gone: Vec<PublicIpAssociation> = eni
            .associations
            .iter()
            .filter(|a| only.is_none_or(|ip| a.private_ip == ip))
            .cloned()
            .collect();
        if gone.is_empty() {
            return;
        }
        for a in &gone {
            match &a.allocation_id {
                Some(alloc) => {
                    if let Some(addr) = self.region.addresses.get_mut(alloc) {
                        addr.association = None;
                    }
                }
                None => self.release_public_ip(a.public_ip),
            }
        }
        let eni = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("read above");
        eni.associations
            .retain(|a| only.is_some_and(|ip| a.private_ip != ip));
    }

    /// Releases only the auto-assigned public addresses of an interface (stop, terminate).
    pub(crate) fn release_auto_public_ips(&mut self, eni_id: &str) {
        let Some(eni) = self.region.network_interfaces.get(eni_id) else {
            return;
        };
        let auto: Vec<Ipv4Addr> = eni
            .associations
            .iter()
            .filter(|a| a.allocation_id.is_none())
            .map(|a| a.public_ip)
            .collect();
        if auto.is_empty() {
            return;
        }
        for ip in auto {
            self.release_public_ip(ip);
        }
        let eni = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("read above");
        eni.associations.retain(|a| a.allocation_id.is_some());
    }

    pub fn attach_network_interface(
        &mut self,
        eni_id: &NetworkInterfaceId,
        instance_id: &str,
        device_index: i64,
    ) -> Result<AttachmentId, ApiError> {
        let eni = self.region.network_interfaces.lookup(eni_id)?.clone();
        let inst = self
            .region
            .instances
            .find(Kind::Instance, instance_id)?
            .clone();
        let Some(index) = u32::try_from(device_index).ok().filter(|d| *d <= 31) else {
            return Err(ApiError::bad_param(
                "DeviceIndex",
                &device_index.to_string(),
                "The device index must be between 0 and 31.",
            ));
        };
        if !matches!(
            inst.state,
            InstanceState::Running | InstanceState::Stopped | InstanceState::Pending
        ) {
            return Err(ApiError::new(
                ErrorCode::IncorrectInstanceState,
                format!("The instance '{instance_id}' is not in a valid state for this operation."),
            ));
        }
        if eni.attachment.is_some() || eni.requester_managed {
            return Err(ApiError::new(
                ErrorCode::InvalidNetworkInterfaceInUse,
                format!("Interface: [{eni_id}] in use."),
            ));
        }
        if eni.availability_zone != inst.availability_zone {
            return Err(ApiError::invalid_value(format!(
                "Interface {eni_id} is in availability zone {} but instance {instance_id} is in {}.",
                eni.availability_zone, inst.availability_zone
            )));
        }
        if eni.vpc_id != inst.vpc_id {
            return Err(ApiError::invalid_value(format!(
                "Interface {eni_id} and instance {instance_id} are in different VPCs."
            )));
        }
        let taken = self.region.network_interfaces.values().any(|e| {
            e.attachment.as_ref().is_some_and(|a| {
                a.instance_id == instance_id && i64::from(a.device_index) == device_index
            })
        });
        if taken {
            return Err(ApiError::invalid_value(format!(
                "Instance '{instance_id}' already has an interface attached at device index '{device_index}'."
            )));
        }
        let attachment_id = AttachmentId::new();
        let eni = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("found above");
        eni.attachment = Some(EniAttachment {
            id: attachment_id.clone(),
            instance_id: inst.id.clone(),
            device_index: index,
            status: AttachmentStatus::Attached,
            attach_time: self.now,
            delete_on_termination: false,
        });
        Ok(attachment_id)
    }

    /// The interface holding an attachment id.
    fn interface_by_attachment(
        &self,
        attachment_id: &AttachmentId,
    ) -> Result<NetworkInterfaceId, ApiError> {
        self.region
            .network_interfaces
            .values()
            .find(|e| {
                e.attachment
                    .as_ref()
                    .is_some_and(|a| &a.id == attachment_id)
            })
            .map(|e| e.id.clone())
            .ok_or_else(|| Kind::EniAttachment.not_found(attachment_id))
    }

    pub fn detach_network_interface(
        &mut self,
        attachment_id: &AttachmentId,
    ) -> Result<(), ApiError> {
        let eni_id = self.interface_by_attachment(attachment_id)?;
        let eni = self
            .region
            .network_interfaces
            .get_mut(&eni_id)
            .expect("found above");
        if eni.attachment.as_ref().is_some_and(|a| a.device_index == 0) {
            return Err(ApiError::new(
                ErrorCode::OperationNotPermitted,
                format!(
                    "The network interface at device index 0 cannot be detached. ({attachment_id})"
                ),
            ));
        }
        eni.attachment = None;
        Ok(())
    }

    pub fn modify_network_interface_attribute(
        &mut self,
        eni_id: &NetworkInterfaceId,
        change: EniChange,
    ) -> Result<(), ApiError> {
        let eni = self.region.network_interfaces.lookup(eni_id)?.clone();
        if eni.requester_managed {
            return Err(ApiError::new(
                ErrorCode::OperationNotPermitted,
                format!(
                    "The attributes of the requester-managed interface '{eni_id}' cannot be changed."
                ),
            ));
        }
        let groups = match &change {
            EniChange::Groups(ids) => {
                Some(self.resolve_groups(&eni.vpc_id, &eni.subnet_id, ids)?)
            }
            _ => None,
        };
        let row = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("found above");
        match change {
            EniChange::Description(d) => row.description = d,
            EniChange::SourceDestCheck(v) => row.source_dest_check = v,
            EniChange::Groups(_) => row.security_groups = groups.expect("resolved above"),
            EniChange::DeleteOnTermination {
                attachment_id,
                value,
            } => match &mut row.attachment {
                Some(a) if a.id == attachment_id => a.delete_on_termination = value,
                _ => {
                    Kind::EniAttachment.check(&attachment_id)?;
                    return Err(Kind::EniAttachment.not_found(&attachment_id));
                }
            },
        }
        Ok(())
    }

    /// AssignPrivateIpAddresses: named addresses (moved from another interface of the
    /// subnet with `allow_reassignment`) or a count of free ones. Returns those assigned.
    pub fn assign_private_ip_addresses(
        &mut self,
        eni_id: &NetworkInterfaceId,
        ips: &[String],
        count: Option<i64>,
        allow_reassignment: bool,
    ) -> Result<Vec<Ipv4Addr>, ApiError> {
        let eni = self.region.network_interfaces.lookup(eni_id)?.clone();
        let subnet = self
            .region
            .subnets
            .get(&eni.subnet_id)
            .cloned()
            .ok_or_else(|| ApiError::internal("interface without subnet"))?;
        let wanted: Vec<Ipv4Addr> = ips
            .iter()
            .map(|t| parse_ip("PrivateIpAddress", t))
            .collect::<Result<_, _>>()?;
        let n = match (wanted.is_empty(), count) {
            (true, None) => {
                return Err(ApiError::missing("PrivateIpAddress"));
            }
            (false, Some(_)) => {
                return Err(ApiError::combination(
                    "Specify either PrivateIpAddress or SecondaryPrivateIpAddressCount, not both.",
                ));
            }
            (true, Some(n)) if n < 1 => {
                return Err(ApiError::bad_param(
                    "SecondaryPrivateIpAddressCount",
                    &n.to_string(),
                    "The count must be at least 1.",
                ));
            }
            (true, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            (false, None) => wanted.len(),
        };
        let limit = self.config.quotas.private_ips_per_interface;
        if n.saturating_add(1 + eni.secondary_ips.len()) > limit {
            return Err(ApiError::new(
                ErrorCode::PrivateIpAddressLimitExceeded,
                format!(
                    "Number of private addresses will exceed limit of {limit} for the interface."
                ),
            ));
        }
        let mut addrs = SubnetAddresses::of(self.region, &subnet)?;
        let mut assigned = Vec::with_capacity(n);
        if wanted.is_empty() {
            assigned = addrs.take_n(n, &subnet.id)?;
        } else {
            for ip in wanted {
                addrs.check_in_subnet(ip)?;
                if assigned.contains(&ip) {
                    continue;
                }
                if eni.private_ips().any(|a| a == ip) {
                    return Err(ip_in_use(ip));
                }
                if addrs.in_use(ip) {
                    let holder = self
                        .region
                        .network_interfaces
                        .values()
                        .find(|e| e.subnet_id == subnet.id && e.private_ips().any(|a| a == ip))
                        .map(|e| (e.id.clone(), e.private_ip == Some(ip)));
                    match holder {
                        Some((other, false)) if allow_reassignment => {
                            self.drop_public_addresses(&other, Some(ip));
                            let o = self
                                .region
                                .network_interfaces
                                .get_mut(&other)
                                .expect("found above");
                            o.secondary_ips.retain(|a| *a != ip);
                        }
                        _ => return Err(ip_in_use(ip)),
                    }
                } else {
                    addrs.claim(ip)?;
                }
                assigned.push(ip);
            }
        }
        let row = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("found above");
        row.secondary_ips.extend(assigned.iter().copied());
        Ok(assigned)
    }

    pub fn unassign_private_ip_addresses(
        &mut self,
        eni_id: &NetworkInterfaceId,
        ips: &[String],
    ) -> Result<(), ApiError> {
        let eni = self.region.network_interfaces.lookup(eni_id)?.clone();
        if ips.is_empty() {
            return Err(ApiError::missing("PrivateIpAddress"));
        }
        let mut gone = Vec::with_capacity(ips.len());
        for t in ips {
            let ip = parse_ip("PrivateIpAddress", t)?;
            if !eni.secondary_ips.contains(&ip) {
                return Err(ApiError::invalid_value(format!(
                    "Some of the specified addresses are not assigned to interface {eni_id}"
                )));
            }
            gone.push(ip);
        }
        for ip in &gone {
            self.drop_public_addresses(eni_id, Some(*ip));
        }
        let row = self
            .region
            .network_interfaces
            .get_mut(eni_id)
            .expect("found above");
        row.secondary_ips.retain(|a| !gone.contains(a));
        Ok(())
    }
}

/// One ModifyNetworkInterfaceAttribute change.
#[derive(Clone, Debug)]
pub enum EniChange {
    Description(String),
    SourceDestCheck(bool),
    Groups(Vec<String>),
    DeleteOnTermination { attachment_id: String, value: bool },
}
