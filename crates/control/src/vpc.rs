//! VPCs: creation with their main route table, default network ACL and default security
//! group; attributes; secondary blocks; the default VPC of each region.

use fort_model::cidr;
use fort_model::*;
use ipnet::Ipv4Net;

use crate::Tx;
use crate::tags::check_tags;

/// CreateVpc's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateVpc {
    pub cidr_block: String,
    pub instance_tenancy: Option<String>,
    pub tags: Tags,
}

/// The first VPC number handed out; small numbers stay free for operators' own use.
const FIRST_VNI: u64 = 100;
/// VNIs are 24 bits.
const MAX_VNI: u32 = (1 << 24) - 1;

impl Tx<'_> {
    /// What a region has before its account asks for anything: the default DHCP options
    /// and the default VPC with a subnet in every zone.
    pub(crate) fn create_region_defaults(&mut self) -> Result<(), ApiError> {
        let domain = if self.region.name == "us-east-1" {
            "ec2.internal".to_owned()
        } else {
            format!("{}.compute.internal", self.region.name)
        };
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
        self.make_vpc(net, tenancy, false, req.tags)
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
            return Err(ApiError::new(
                ErrorCode::CidrLimitExceeded,
                format!("This network '{id}' has met its maximum number of allowed CIDRs: {limit}"),
            ));
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
        vpc.cidr_blocks
            .retain(|b| b.state == CidrBlockState::Associated);
        vpc.cidr_blocks.push(block.clone());
        let vpc = vpc.clone();
        for t in self.region.route_tables.ids_where(|t| t.vpc_id == id) {
            let table = self.region.route_tables.get_mut(&t).expect("listed");
            table.routes.push(Route {
                destination: RouteDestination::Cidr(net),
                target: RouteTarget::Local,
                origin: RouteOrigin::CreateRouteTable,
            });
        }
        Ok((vpc, block))
    }

    pub fn disassociate_vpc_cidr_block(
        &mut self,
        association_id: &VpcCidrAssociationId,
    ) -> Result<(VpcId, VpcCidrBlock), ApiError> {
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
                })
            })
            .ok_or_else(not_found)?;
        let vpc_id = vpc.id.clone();
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
        if self
            .region
            .subnets
            .values()
            .any(|s| s.vpc_id == vpc_id && block.cidr.contains(&s.cidr.network()))
        {
            return Err(ApiError::dependency("vpc CIDR block", association_id));
        }
        let vpc = self.region.vpcs.get_mut(&vpc_id).expect("found above");
        vpc.cidr_blocks
            .retain(|b| b.state == CidrBlockState::Associated);
        let b = vpc
            .cidr_blocks
            .iter_mut()
            .find(|b| &b.association_id == association_id)
            .expect("found above");
        b.state = CidrBlockState::Disassociated;
        let block = b.clone();
        for t in self.region.route_tables.ids_where(|t| t.vpc_id == vpc_id) {
            let table = self.region.route_tables.get_mut(&t).expect("listed");
            // The block's local route goes, even if ReplaceRoute pointed it elsewhere.
            table.routes.retain(|r| {
                !(r.origin == RouteOrigin::CreateRouteTable
                    && r.destination == RouteDestination::Cidr(block.cidr))
            });
        }
        Ok((vpc_id, block))
    }
}
