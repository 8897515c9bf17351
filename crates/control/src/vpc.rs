//! VPCs: creation with their main route table, default network ACL and default security
//! group; attributes; secondary blocks; the default VPC of each region.

use fort_model::*;
use fort_model::{cidr, cidr6};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::Tx;
use crate::tags::check_tags;

/// CreateVpc's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateVpc {
    pub cidr_block: String,
    pub instance_tenancy: Option<String>,
    pub ipv6: Ipv6BlockRequest,
    pub tags: Tags,
}

/// How CreateVpc or AssociateVpcCidrBlock asks for an IPv6 block.
#[derive(Clone, Debug, Default)]
pub struct Ipv6BlockRequest {
    /// `AmazonProvidedIpv6CidrBlock`: a /56 from the installation's pool.
    pub amazon_provided: bool,
    /// `Ipv6CidrBlock`: a block the caller chooses (AWS takes it from a BYOIP pool; Fort,
    /// which has no pools, lets the caller choose any block outside its own pool).
    pub cidr_block: Option<String>,
    /// `Ipv6Pool`: a BYOIP pool, which Fort has none of.
    pub pool: Option<String>,
    pub network_border_group: Option<String>,
}

impl Ipv6BlockRequest {
    pub fn is_requested(&self) -> bool {
        self.amazon_provided || self.cidr_block.is_some() || self.pool.is_some()
    }
}

/// A VPC block of either family, as DisassociateVpcCidrBlock answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VpcBlock {
    V4(VpcCidrBlock),
    V6(VpcIpv6CidrBlock),
}

/// The first VPC number handed out; small numbers stay free for operators' own use.
const FIRST_VNI: u64 = 100;
/// VNIs are 24 bits.
const MAX_VNI: u32 = (1 << 24) - 1;

impl Tx<'_> {
    /// What a region has before its account asks for anything: the default DHCP options
    /// and the default VPC with a subnet in every zone.
    pub(crate) fn create_region_defaults(&mut self) -> Result<(), ApiError> {
        let domain = fort_model::dns_name::private_domain(&self.region.name);
        let dopt = DhcpOptions {
            id: DhcpOptionsId::new(),
            configurations: vec![
                ("domain-name".into(), vec![domain]),
                (
                    "domain-name-servers".into(),
                    vec!["AmazonProvidedDNS".into()],
                ),
            ],
            tags: Tags::new(),
        };
        self.region.dhcp_options.insert(dopt);
        self.create_default_vpc()?;
        Ok(())
    }

    /// The region's default DHCP options: the oldest set with exactly AWS's defaults.
    fn default_dhcp_options_id(&self) -> Option<DhcpOptionsId> {
        self.region
            .dhcp_options
            .values()
            .find(|d| {
                d.tags.is_empty()
                    && d.configurations
                        .iter()
                        .any(|(_, v)| v == &["AmazonProvidedDNS"])
            })
            .map(|d| d.id.clone())
    }

    pub fn create_vpc(&mut self, req: CreateVpc) -> Result<Vpc, ApiError> {
        let net = cidr::parse_param("cidrBlock", &req.cidr_block)?;
        cidr::check_vpc_block(net, &req.cidr_block)?;
        let tenancy = req.instance_tenancy.unwrap_or_else(|| "default".into());
        match tenancy.as_str() {
            "default" | "dedicated" => {}
            "host" => {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    "The tenancy value host is not supported for VPCs.",
                ));
            }
            other => {
                return Err(ApiError::bad_param(
                    "InstanceTenancy",
                    other,
                    "Valid values: default, dedicated.",
                ));
            }
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let vpc = self.make_vpc(net, tenancy, false, req.tags)?;
        if req.ipv6.is_requested() {
            self.add_ipv6_block(&vpc.id, &req.ipv6)?;
        }
        Ok(self.region.vpcs.get(&vpc.id).expect("made above").clone())
    }

    /// A new IPv6 block for a VPC: Amazon-provided (the next /56 of the installation's
    /// pool, so never handed out twice) or chosen by the caller.
    fn new_ipv6_block(&mut self, req: &Ipv6BlockRequest) -> Result<VpcIpv6CidrBlock, ApiError> {
        let region = self.region.name.clone();
        if let Some(g) = &req.network_border_group
            && *g != region
        {
            return Err(ApiError::bad_param(
                "Ipv6CidrBlockNetworkBorderGroup",
                g,
                &format!("The network border group of this region is {region}."),
            ));
        }
        if let Some(pool) = &req.pool {
            return Err(ApiError::new(
                ErrorCode::InvalidIpv6PoolIdNotFound,
                format!("The ID '{pool}' does not exist"),
            ));
        }
        let (cidr, pool) = match (&req.cidr_block, req.amazon_provided) {
            (Some(_), true) => {
                return Err(ApiError::combination(
                    "The parameter amazonProvidedIpv6CidrBlock cannot be used with the parameter ipv6CidrBlock",
                ));
            }
            (Some(text), false) => (self.chosen_ipv6_block(text)?, None),
            (None, true) => {
                let n = self.global.next("ipv6-block", 0);
                let block = cidr6::amazon_block(n).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::CidrLimitExceeded,
                        "No IPv6 blocks are left on this installation.",
                    )
                })?;
                (block, Some("Amazon".to_owned()))
            }
            (None, false) => return Err(ApiError::missing("Ipv6CidrBlock")),
        };
        Ok(VpcIpv6CidrBlock {
            association_id: VpcCidrAssociationId::new(),
            cidr,
            state: CidrBlockState::Associated,
            pool,
            network_border_group: region,
        })
    }

    /// A block the caller names: /44 to /60, outside the Amazon pool, and used by no other
    /// VPC of the installation (IPv6 addresses are global).
    fn chosen_ipv6_block(&self, text: &str) -> Result<Ipv6Net, ApiError> {
        let net = cidr6::parse_param("ipv6-cidr-block", text)?;
        if !cidr6::is_vpc_size(net.prefix_len()) || cidr6::overlaps(net, cidr6::amazon_pool()) {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcRange,
                format!("The IPv6 CIDR '{text}' is invalid."),
            ));
        }
        let taken = self
            .others
            .values()
            .chain(std::iter::once(&*self.region))
            .flat_map(|r| r.vpcs.values())
            .flat_map(|v| v.ipv6_cidrs())
            .any(|b| cidr6::overlaps(b, net));
        if taken {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcRange,
                format!("The IPv6 CIDR '{text}' conflicts with a block in use."),
            ));
        }
        Ok(net)
    }

    /// Gives a VPC a new IPv6 block, within the quota, with its local route in every table.
    fn add_ipv6_block(
        &mut self,
        id: &str,
        req: &Ipv6BlockRequest,
    ) -> Result<(Vpc, VpcIpv6CidrBlock), ApiError> {
        let limit = self.config.quotas.ipv6_cidr_blocks_per_vpc;
        let vpc = self.region.vpcs.find(Kind::Vpc, id)?;
        if vpc.ipv6_cidrs().count() >= limit {
            return Err(cidr_limit(id, limit));
        }
        let block = self.new_ipv6_block(req)?;
        let vpc = self.region.vpcs.get_mut(id).expect("found above");
        forget_disassociated(&mut vpc.ipv6_cidr_blocks, |b| b.state);
        vpc.ipv6_cidr_blocks.push(block.clone());
        let vpc = vpc.clone();
        self.add_local_route(&vpc.id, RouteDestination::Ipv6Cidr(block.cidr.to_string()));
        self.allow_ipv6_egress_in_default_group(&vpc.default_security_group_id);
        self.allow_ipv6_in_default_acl(&vpc.id);
        Ok((vpc, block))
    }

    /// A `local` route to `destination` in every route table of the VPC.
    fn add_local_route(&mut self, vpc_id: &str, destination: RouteDestination) {
        for t in self.region.route_tables.ids_where(|t| t.vpc_id == vpc_id) {
            let table = self.region.route_tables.get_mut(&t).expect("listed");
            table.routes.push(Route {
                destination: destination.clone(),
                target: RouteTarget::Local,
                origin: RouteOrigin::CreateRouteTable,
            });
        }
    }

    /// Removes a block's local route from every table of the VPC, even if ReplaceRoute
    /// pointed it elsewhere.
    fn remove_local_route(&mut self, vpc_id: &str, destination: &RouteDestination) {
        for t in self.region.route_tables.ids_where(|t| t.vpc_id == vpc_id) {
            let table = self.region.route_tables.get_mut(&t).expect("listed");
            table.routes.retain(|r| {
                !(r.origin == RouteOrigin::CreateRouteTable && r.destination == *destination)
            });
        }
    }

    /// AssociateVpcCidrBlock for IPv6.
    pub fn associate_vpc_ipv6_cidr_block(
        &mut self,
        id: &str,
        req: &Ipv6BlockRequest,
    ) -> Result<(Vpc, VpcIpv6CidrBlock), ApiError> {
        self.add_ipv6_block(id, req)
    }

    fn make_vpc(
        &mut self,
        net: Ipv4Net,
        tenancy: String,
        is_default: bool,
        tags: Tags,
    ) -> Result<Vpc, ApiError> {
        let quota = self.config.quotas.vpcs;
        if self.region.vpcs.len() >= quota {
            return Err(ApiError::new(
                ErrorCode::VpcLimitExceeded,
                format!("The maximum number of VPCs has been reached ({quota})."),
            ));
        }
        let Some(vni) = u32::try_from(self.global.next("vni", FIRST_VNI))
            .ok()
            .filter(|v| *v <= MAX_VNI)
        else {
            return Err(ApiError::new(
                ErrorCode::VpcLimitExceeded,
                "No VPC numbers are left on this installation.",
            ));
        };
        let id = VpcId::new();
        let sg = self.new_default_security_group(&id);
        let rtb = self.new_route_table(&id, [net], true);
        let acl = self.new_network_acl(&id, true, None, Tags::new());
        let vpc = Vpc {
            id: id.clone(),
            vni,
            cidr_blocks: vec![VpcCidrBlock {
                association_id: VpcCidrAssociationId::new(),
                cidr: net,
                state: CidrBlockState::Associated,
            }],
            ipv6_cidr_blocks: Vec::new(),
            dhcp_options_id: self.default_dhcp_options_id(),
            instance_tenancy: tenancy,
            is_default,
            enable_dns_support: true,
            enable_dns_hostnames: is_default,
            enable_network_address_usage_metrics: false,
            main_route_table_id: rtb,
            default_network_acl_id: acl,
            default_security_group_id: sg,
            tags,
            classic_link_enabled: false,
            classic_link_dns_supported: false,
        };
        self.region.vpcs.insert(vpc.clone());
        Ok(vpc)
    }

    /// CreateDefaultVpc: 172.31.0.0/16 with a /20 in every zone, an attached internet
    /// gateway and a default route to it.
    pub fn create_default_vpc(&mut self) -> Result<Vpc, ApiError> {
        if self.region.vpcs.values().any(|v| v.is_default) {
            return Err(ApiError::new(
                ErrorCode::DefaultVpcAlreadyExists,
                "A Default VPC already exists for this account in this region.",
            ));
        }
        let net: Ipv4Net = "172.31.0.0/16".parse().expect("literal");
        let vpc = self.make_vpc(net, "default".into(), true, Tags::new())?;
        let igw_id = InternetGatewayId::new();
        let igw = InternetGateway {
            id: igw_id.clone(),
            vpc_id: Some(vpc.id.clone()),
            tags: Tags::new(),
        };
        self.region.internet_gateways.insert(igw);
        let rtb = self
            .region
            .route_tables
            .get_mut(&vpc.main_route_table_id)
            .expect("made with the VPC");
        rtb.routes.push(Route {
            destination: RouteDestination::Cidr("0.0.0.0/0".parse().expect("literal")),
            target: RouteTarget::InternetGateway(igw_id),
            origin: RouteOrigin::CreateRoute,
        });
        for zone in self.config.zones(&self.region.name) {
            self.make_default_subnet(&vpc, &zone)?;
        }
        Ok(self.region.vpcs.get(&vpc.id).expect("made above").clone())
    }

    pub fn delete_vpc(&mut self, id: &str) -> Result<(), ApiError> {
        let vpc = self.region.vpcs.find(Kind::Vpc, id)?.clone();
        let r = &*self.region;
        let busy = r.subnets.values().any(|s| s.vpc_id == id)
            || r.internet_gateways
                .values()
                .any(|g| g.vpc_id.as_deref() == Some(id))
            || r.egress_only_internet_gateways
                .values()
                .any(|g| g.vpc_id == id)
            || r.carrier_gateways.values().any(|g| g.vpc_id == id)
            || r.vpn_gateways
                .values()
                .any(|g| g.attached_vpc().map(VpcId::as_str) == Some(id))
            || r.security_groups
                .values()
                .any(|g| g.vpc_id == id && g.id != vpc.default_security_group_id)
            || r.route_tables
                .values()
                .any(|t| t.vpc_id == id && t.id != vpc.main_route_table_id)
            || r.network_acls
                .values()
                .any(|a| a.vpc_id == id && a.id != vpc.default_network_acl_id)
            || r.nat_gateways
                .values()
                .any(|n| n.vpc_id == id && n.state != NatGatewayState::Deleted)
            || r.network_interfaces.values().any(|e| e.vpc_id == id)
            || r.vpc_endpoints
                .values()
                .any(|e| e.vpc_id == id && e.is_live())
            || self.vpc_is_peered(id);
        if busy {
            return Err(ApiError::dependency("vpc", id));
        }
        self.region.route_tables.remove(&vpc.main_route_table_id);
        self.region.network_acls.remove(&vpc.default_network_acl_id);
        self.region
            .security_groups
            .remove(&vpc.default_security_group_id);
        for nat in self.region.nat_gateways.ids_where(|n| n.vpc_id == id) {
            self.region.nat_gateways.remove(&nat);
        }
        self.drop_flow_logs_of(id);
        self.region.vpcs.remove(id);
        Ok(())
    }

    /// ModifyVpcAttribute: exactly one attribute per call; DNS hostnames need DNS support.
    pub fn modify_vpc_attribute(
        &mut self,
        id: &str,
        attribute: &str,
        value: bool,
    ) -> Result<(), ApiError> {
        let vpc = self.region.vpcs.find_mut(Kind::Vpc, id)?;
        match attribute {
            "enableDnsSupport" => {
                if !value && vpc.enable_dns_hostnames {
                    return Err(ApiError::invalid_value(
                        "DNS hostnames cannot be enabled while DNS support is disabled; disable enableDnsHostnames first.",
                    ));
                }
                vpc.enable_dns_support = value;
            }
            "enableDnsHostnames" => {
                if value && !vpc.enable_dns_support {
                    return Err(ApiError::invalid_value(
                        "Cannot enable DNS hostnames because DNS support is not enabled for the VPC.",
                    ));
                }
                vpc.enable_dns_hostnames = value;
            }
            "enableNetworkAddressUsageMetrics" => vpc.enable_network_address_usage_metrics = value,
            other => return Err(ApiError::bad_param("Attribute", other, "")),
        }
        Ok(())
    }

    /// ModifyVpcTenancy: a dedicated VPC may become `default`; nothing else changes.
    pub fn modify_vpc_tenancy(&mut self, id: &str, tenancy: &str) -> Result<(), ApiError> {
        let vpc = self.region.vpcs.find_mut(Kind::Vpc, id)?;
        if tenancy != "default" {
            return Err(ApiError::new(
                ErrorCode::UnsupportedTenancy,
                format!("The tenancy value {tenancy} is not supported."),
            ));
        }
        vpc.instance_tenancy = tenancy.to_owned();
        Ok(())
    }

    pub fn associate_vpc_cidr_block(
        &mut self,
        id: &str,
        cidr_text: &str,
    ) -> Result<(Vpc, VpcCidrBlock), ApiError> {
        let net = cidr::parse_param("cidrBlock", cidr_text)?;
        let limit = self.config.quotas.cidr_blocks_per_vpc;
        let vpc = self.region.vpcs.find(Kind::Vpc, id)?;
        let existing: Vec<Ipv4Net> = vpc.cidrs().collect();
        cidr::check_secondary_block(&existing, net, cidr_text)?;
        if existing.len() >= limit {
            return Err(cidr_limit(id, limit));
        }
        // A new block may not be equal to or larger than a route destination of the VPC.
        for t in self.region.route_tables.values().filter(|t| t.vpc_id == id) {
            for r in &t.routes {
                if let RouteDestination::Cidr(d) = r.destination
                    && r.target != RouteTarget::Local
                    && net.contains(&d.network())
                    && net.prefix_len() <= d.prefix_len()
                {
                    return Err(ApiError::invalid_value(format!(
                        "The CIDR '{cidr_text}' conflicts with route '{d}' in route table '{}'.",
                        t.id
                    )));
                }
            }
        }
        let block = VpcCidrBlock {
            association_id: VpcCidrAssociationId::new(),
            cidr: net,
            state: CidrBlockState::Associated,
        };
        let vpc = self.region.vpcs.get_mut(id).expect("found above");
        forget_disassociated(&mut vpc.cidr_blocks, |b| b.state);
        vpc.cidr_blocks.push(block.clone());
        let vpc = vpc.clone();
        self.add_local_route(id, RouteDestination::Cidr(net));
        Ok((vpc, block))
    }

    /// DisassociateVpcCidrBlock: a secondary IPv4 block or an IPv6 block, with no subnet
    /// in it.
    pub fn disassociate_vpc_cidr_block(
        &mut self,
        association_id: &VpcCidrAssociationId,
    ) -> Result<(VpcId, VpcBlock), ApiError> {
        let not_found = || {
            ApiError::new(
                ErrorCode::InvalidVpcCidrBlockAssociationIdNotFound,
                format!("The vpc CIDR block association ID '{association_id}' does not exist"),
            )
        };
        let vpc = self
            .region
            .vpcs
            .values()
            .find(|v| {
                v.cidr_blocks.iter().any(|b| {
                    &b.association_id == association_id && b.state == CidrBlockState::Associated
                }) || v.ipv6_cidr_blocks.iter().any(|b| {
                    &b.association_id == association_id && b.state == CidrBlockState::Associated
                })
            })
            .ok_or_else(not_found)?;
        let vpc_id = vpc.id.clone();
        if let Some(block) = vpc
            .ipv6_cidr_blocks
            .iter()
            .find(|b| &b.association_id == association_id)
            .cloned()
        {
            if self.region.subnets.values().any(|s| {
                s.vpc_id == vpc_id && s.ipv6_cidr().is_some_and(|c| block.cidr.contains(&c))
            }) {
                return Err(ApiError::dependency("vpc CIDR block", association_id));
            }
            let vpc = self.region.vpcs.get_mut(&vpc_id).expect("found above");
            forget_disassociated(&mut vpc.ipv6_cidr_blocks, |b| b.state);
            let b = vpc
                .ipv6_cidr_blocks
                .iter_mut()
                .find(|b| &b.association_id == association_id)
                .expect("found above");
            b.state = CidrBlockState::Disassociated;
            self.remove_local_route(&vpc_id, &RouteDestination::Ipv6Cidr(block.cidr.to_string()));
            return Ok((vpc_id, VpcBlock::V6(block)));
        }
        if &vpc.cidr_blocks[0].association_id == association_id {
            return Err(ApiError::new(
                ErrorCode::OperationNotPermitted,
                format!(
                    "The vpc CIDR block with association ID {association_id} may not be disassociated. It is the primary IPv4 CIDR block of the VPC"
                ),
            ));
        }
        let block = vpc
            .cidr_blocks
            .iter()
            .find(|b| &b.association_id == association_id)
            .expect("found above")
            .clone();
        if self.region.subnets.values().any(|s| {
            s.vpc_id == vpc_id && s.cidr.is_some_and(|c| block.cidr.contains(&c.network()))
        }) {
            return Err(ApiError::dependency("vpc CIDR block", association_id));
        }
        let vpc = self.region.vpcs.get_mut(&vpc_id).expect("found above");
        forget_disassociated(&mut vpc.cidr_blocks, |b| b.state);
        let b = vpc
            .cidr_blocks
            .iter_mut()
            .find(|b| &b.association_id == association_id)
            .expect("found above");
        b.state = CidrBlockState::Disassociated;
        let block = b.clone();
        self.remove_local_route(&vpc_id, &RouteDestination::Cidr(block.cidr));
        Ok((vpc_id, VpcBlock::V4(block)))
    }
}

/// How many disassociated blocks of a family a VPC or subnet still shows.
const DISASSOCIATED_SHOWN: usize = 4;

/// Drops the oldest disassociated blocks beyond [`DISASSOCIATED_SHOWN`]. EC2 goes on
/// showing a disassociated block (state `disassociated`) beside the ones associated after
/// it for a while (Ansible's ec2_vpc_net checks this against AWS); Fort shows the latest
/// few rather than keeping every one forever.
pub(crate) fn forget_disassociated<T>(blocks: &mut Vec<T>, state: impl Fn(&T) -> CidrBlockState) {
    let mut gone = blocks
        .iter()
        .filter(|b| state(b) != CidrBlockState::Associated)
        .count()
        .saturating_sub(DISASSOCIATED_SHOWN);
    blocks.retain(|b| {
        let drop = gone > 0 && state(b) != CidrBlockState::Associated;
        gone -= usize::from(drop);
        !drop
    });
}

/// EC2's answer when a VPC has as many blocks of a family as it may.
fn cidr_limit(id: &str, limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::CidrLimitExceeded,
        format!("This network {id} has met its maximum number of allowed CIDRs: {limit}"),
    )
}
