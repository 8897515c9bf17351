//! VPC endpoints to the region's AWS services: gateway endpoints (S3, DynamoDB) put a
//! route to the service's AWS-managed prefix list in each of their route tables; interface
//! endpoints get a requester-managed network interface in each of their subnets.
//!
//! With the data plane on, each interface of an interface endpoint is placed on a host of
//! its subnet's zone (as an instance is), whose agent answers for it.

use std::net::Ipv4Addr;

use fort_model::*;

use crate::network_interface::SubnetAddresses;
use crate::tags::check_tags;
use crate::{ClientToken, Region, Tx};

/// The policy a gateway endpoint gets when none is given: full access.
pub const DEFAULT_POLICY: &str = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
/// An interface endpoint's full-access default, as EC2 writes it: indented, and with no
/// `Version` (unlike a gateway's; recorded against AWS by LocalStack's tests).
pub const INTERFACE_DEFAULT_POLICY: &str = "{\n  \"Statement\": [\n    {\n      \"Action\": \"*\", \n      \"Effect\": \"Allow\", \n      \"Principal\": \"*\", \n      \"Resource\": \"*\"\n    }\n  ]\n}";

/// The policy an endpoint of this type gets when none is given (or on ResetPolicy).
fn default_policy(endpoint_type: VpcEndpointType) -> &'static str {
    match endpoint_type {
        VpcEndpointType::Interface => INTERFACE_DEFAULT_POLICY,
        _ => DEFAULT_POLICY,
    }
}

/// The longest policy document EC2 takes.
const MAX_POLICY: usize = 20_480;
/// Gateway endpoints per region, interface endpoints per VPC (EC2's default quotas).
const GATEWAY_ENDPOINTS_PER_REGION: usize = 20;
const INTERFACE_ENDPOINTS_PER_VPC: usize = 50;

/// The services with interface endpoints in every region (`com.amazonaws.REGION.X`): the
/// AWS PrivateLink services that configurations name most (modules build the name from
/// these short names and ask DescribeVpcEndpointServices for it before creating).
const INTERFACE_SERVICES: &[&str] = &[
    "access-analyzer",
    "acm-pca",
    "airflow.api",
    "airflow.env",
    "airflow.ops",
    "appconfig",
    "appconfigdata",
    "application-autoscaling",
    "appmesh-envoy-management",
    "appstream.api",
    "appstream.streaming",
    "aps",
    "aps-workspaces",
    "athena",
    "autoscaling",
    "autoscaling-plans",
    "backup",
    "batch",
    "bedrock",
    "bedrock-agent",
    "bedrock-agent-runtime",
    "bedrock-runtime",
    "clouddirectory",
    "cloudformation",
    "cloudhsmv2",
    "cloudtrail",
    "codeartifact.api",
    "codeartifact.repositories",
    "codebuild",
    "codecommit",
    "codedeploy",
    "codedeploy-commands-secure",
    "codepipeline",
    "codestar-connections.api",
    "comprehend",
    "config",
    "datasync",
    "dms",
    "dynamodb",
    "ebs",
    "ec2",
    "ec2messages",
    "ecr.api",
    "ecr.dkr",
    "ecs",
    "ecs-agent",
    "ecs-telemetry",
    "eks",
    "eks-auth",
    "elasticache",
    "elasticbeanstalk",
    "elasticbeanstalk-health",
    "elasticfilesystem",
    "elasticloadbalancing",
    "elasticmapreduce",
    "email-smtp",
    "emr-containers",
    "emr-serverless",
    "events",
    "execute-api",
    "fsx",
    "git-codecommit",
    "glue",
    "grafana",
    "guardduty-data",
    "imagebuilder",
    "inspector2",
    "kafka",
    "kinesis-firehose",
    "kinesis-streams",
    "kms",
    "lakeformation",
    "lambda",
    "license-manager",
    "logs",
    "macie2",
    "monitoring",
    "qldb.session",
    "ram",
    "rds",
    "rds-data",
    "redshift",
    "redshift-data",
    "rekognition",
    "s3",
    "sagemaker.api",
    "sagemaker.runtime",
    "scheduler",
    "secretsmanager",
    "securityhub",
    "servicecatalog",
    "servicediscovery",
    "sms",
    "sns",
    "sqs",
    "ssm",
    "ssm-contacts",
    "ssm-incidents",
    "ssmmessages",
    "states",
    "storagegateway",
    "sts",
    "sync-states",
    "synthetics",
    "textract",
    "transfer",
    "transfer.server",
    "workspaces",
    "xray",
];

/// One endpoint service of a region, of one type (S3 has a gateway and an interface one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointService {
    /// `com.amazonaws.REGION.SHORT`.
    pub name: String,
    pub short: &'static str,
    pub endpoint_type: VpcEndpointType,
    /// `vpce-svc-…`, stable for the region, name and type.
    pub id: String,
}

fn stable_hex(text: &str) -> u64 {
    // FNV-1a 64: stable across releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The endpoint services of `region`, ordered by name then type.
pub fn services(region: &str) -> Vec<EndpointService> {
    let make = |short: &'static str, t: VpcEndpointType| {
        let name = format!("com.amazonaws.{region}.{short}");
        let id = format!(
            "vpce-svc-{:017x}",
            stable_hex(&format!("{name}/{}", t.as_str()))
        );
        EndpointService {
            name,
            short,
            endpoint_type: t,
            id,
        }
    };
    let mut all: Vec<EndpointService> = GATEWAY_SERVICES
        .iter()
        .map(|s| make(s, VpcEndpointType::Gateway))
        .chain(
            INTERFACE_SERVICES
                .iter()
                .map(|s| make(s, VpcEndpointType::Interface)),
        )
        .collect();
    all.sort_by(|a, b| (&a.name, a.endpoint_type).cmp(&(&b.name, b.endpoint_type)));
    all
}

/// EC2's error for a service name the region does not offer.
pub fn no_such_service(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidServiceName,
        format!("The Vpc Endpoint Service '{name}' does not exist"),
    )
}

/// The AWS-managed prefix list of a gateway service of `region`.
fn service_prefix_list(region: &str, service_name: &str) -> Option<PrefixListId> {
    aws_managed_prefix_lists(region)
        .into_iter()
        .find(|l| l.name == service_name)
        .map(|l| l.id)
}

/// Whether a route to endpoint `id` carries traffic: the endpoint is available, in the
/// table's VPC.
pub fn route_usable(region: &Region, vpc_id: &str, id: &VpcEndpointId) -> bool {
    region
        .vpc_endpoints
        .get(id)
        .is_some_and(|e| e.state == VpcEndpointState::Available && e.vpc_id == vpc_id)
}

/// The endpoint a CreateRoute/ReplaceRoute names as its target. Only Gateway Load
/// Balancer endpoints are route targets; gateway endpoints make their own routes.
pub fn route_target(
    region: &Region,
    table: &RouteTable,
    id: &str,
) -> Result<VpcEndpointId, ApiError> {
    let endpoint = region.vpc_endpoints.find(Kind::VpcEndpoint, id)?;
    if !endpoint.is_live() {
        return Err(Kind::VpcEndpoint.not_found(id));
    }
    if endpoint.vpc_id != table.vpc_id {
        return Err(ApiError::invalid_value(format!(
            "route table {} and VPC endpoint {id} belong to different networks",
            table.id
        )));
    }
    if endpoint.endpoint_type != VpcEndpointType::GatewayLoadBalancer {
        return Err(ApiError::new(
            ErrorCode::RouteNotSupported,
            format!(
                "Route table contains unsupported route target: {id}. VPC Endpoints of this type cannot be used as route targets."
            ),
        ));
    }
    Ok(endpoint.id.clone())
}

/// A route's prefix list destination: the account's own live list (AWS's lists are
/// routed only by gateway endpoints).
pub fn check_route_prefix_list(region: &Region, id: &str) -> Result<(), ApiError> {
    let list = region.usable_prefix_list(id)?;
    if list.is_aws_managed() {
        return Err(ApiError::invalid_value(format!(
            "The prefix list {id} is managed by AWS: only a gateway VPC endpoint can route to it."
        )));
    }
    Ok(())
}

/// Refuses to replace or delete the route a gateway endpoint made (ModifyVpcEndpoint
/// removes it).
pub fn check_not_endpoint_route(
    region: &Region,
    table: &RouteTable,
    route: &Route,
) -> Result<(), ApiError> {
    if let RouteTarget::VpcEndpoint(id) = &route.target
        && region
            .vpc_endpoints
            .get(id)
            .is_some_and(|e| e.endpoint_type == VpcEndpointType::Gateway)
    {
        return Err(ApiError::invalid_value(format!(
            "The route {} in route table {} is managed by VPC endpoint {id}: use ModifyVpcEndpoint to remove it.",
            crate::route_table::destination_text(&route.destination),
            table.id
        )));
    }
    Ok(())
}

/// CreateVpcEndpoint's parameters, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct CreateVpcEndpoint {
    pub vpc_id: String,
    pub service_name: Option<String>,
    pub endpoint_type: Option<String>,
    pub policy_document: Option<String>,
    pub route_table_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
    /// The address the endpoint's interface takes in a subnet (`SubnetConfiguration.N`).
    pub subnet_configurations: Vec<SubnetConfiguration>,
    pub security_group_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
    pub tags: Tags,
    pub client_token: Option<ClientToken>,
}

/// One `SubnetConfiguration`: the IPv4 address an interface endpoint's network interface
/// takes in one of its subnets, instead of one EC2 picks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubnetConfiguration {
    pub subnet_id: String,
    pub ipv4: Option<String>,
}

/// The address each configured subnet asks for, checked: subnet ids well formed, each named
/// once, IPv4 addresses parsed.
fn configured_addresses(
    configs: &[SubnetConfiguration],
) -> Result<Vec<(SubnetId, Option<Ipv4Addr>)>, ApiError> {
    let mut out: Vec<(SubnetId, Option<Ipv4Addr>)> = Vec::new();
    for c in configs {
        let id = SubnetId::parse(&c.subnet_id)?;
        if out.iter().any(|(s, _)| *s == id) {
            return Err(invalid_parameter(format!(
                "The subnet {id} is given more than one subnet configuration."
            )));
        }
        let ip = match &c.ipv4 {
            None => None,
            Some(text) => Some(text.parse::<Ipv4Addr>().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "The IPv4 address {text} in the subnet configuration of {id} is not valid."
                    ),
                )
            })?),
        };
        out.push((id, ip));
    }
    Ok(out)
}

/// ModifyVpcEndpoint's parameters.
#[derive(Clone, Debug, Default)]
pub struct ModifyVpcEndpoint {
    pub id: VpcEndpointId,
    pub policy_document: Option<String>,
    pub reset_policy: bool,
    pub add_route_table_ids: Vec<String>,
    pub remove_route_table_ids: Vec<String>,
    pub add_subnet_ids: Vec<String>,
    pub remove_subnet_ids: Vec<String>,
    pub add_security_group_ids: Vec<String>,
    pub remove_security_group_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
    /// New addresses for the interfaces of some subnets (each is replaced by one with it).
    pub subnet_configurations: Vec<SubnetConfiguration>,
}

fn check_policy(text: &str) -> Result<(), ApiError> {
    let ok = text.len() <= MAX_POLICY
        && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object());
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidPolicyDocument,
            "The policy document is not valid JSON or is larger than 20480 characters.",
        ))
    }
}

fn invalid_parameter(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

fn random_suffix() -> String {
    let id = Kind::VpcEndpoint.new_id();
    id.chars().rev().take(8).collect()
}

impl Tx<'_> {
    /// CreateVpcEndpoint, idempotent under its client token.
    pub fn create_vpc_endpoint(&mut self, req: CreateVpcEndpoint) -> Result<VpcEndpoint, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.vpc_endpoints.get(id).cloned(),
            |tx| tx.make_vpc_endpoint(req),
            |e| e.id.to_string(),
        )
    }

    fn make_vpc_endpoint(&mut self, req: CreateVpcEndpoint) -> Result<VpcEndpoint, ApiError> {
        let vpc = self.region.vpcs.find(Kind::Vpc, &req.vpc_id)?.clone();
        let name = req
            .service_name
            .ok_or_else(|| ApiError::missing("ServiceName"))?;
        let endpoint_type = match &req.endpoint_type {
            None => VpcEndpointType::Gateway,
            Some(t) => VpcEndpointType::parse_any_case(t).ok_or_else(|| {
                ApiError::bad_param(
                    "VpcEndpointType",
                    t,
                    "Valid values: Interface, Gateway, GatewayLoadBalancer.",
                )
            })?,
        };
        let offered: Vec<EndpointService> = services(&self.region.name)
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        if offered.is_empty() {
            return Err(no_such_service(&name));
        }
        if !offered.iter().any(|s| s.endpoint_type == endpoint_type) {
            let types: Vec<&str> = offered.iter().map(|s| s.endpoint_type.as_str()).collect();
            return Err(invalid_parameter(format!(
                "Endpoint type ({endpoint_type}) does not match available service types ([{}]).",
                types.join(", ")
            )));
        }
        if let Some(p) = &req.policy_document {
            check_policy(p)?;
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let mut endpoint = VpcEndpoint {
            id: VpcEndpointId::new(),
            vpc_id: vpc.id.clone(),
            service_name: name,
            endpoint_type,
            state: VpcEndpointState::Available,
            policy_document: req
                .policy_document
                .unwrap_or_else(|| default_policy(endpoint_type).to_owned()),
            route_table_ids: Vec::new(),
            interfaces: Vec::new(),
            security_group_ids: Vec::new(),
            private_dns_enabled: false,
            dns_suffix: random_suffix(),
            create_time: self.now,
            client_token: req.client_token.map(|t| t.as_str().to_owned()),
            tags: req.tags,
        };
        let live = || self.region.vpc_endpoints.values().filter(|e| e.is_live());
        match endpoint_type {
            VpcEndpointType::Gateway => {
                // EC2's words (as users have reported them)
                if !req.subnet_ids.is_empty() {
                    return Err(invalid_parameter(
                        "Subnet IDs are only supported for Interface and GatewayLoadBalancer type VPC Endpoints."
                            .into(),
                    ));
                }
                if !req.security_group_ids.is_empty() || !req.subnet_configurations.is_empty() {
                    return Err(invalid_parameter(
                        "Subnets and security groups are not supported for Gateway endpoints."
                            .into(),
                    ));
                }
                if req.private_dns_enabled == Some(true) {
                    return Err(invalid_parameter(
                        "Private DNS is not supported for Gateway endpoints.".into(),
                    ));
                }
                let count = live()
                    .filter(|e| e.endpoint_type == VpcEndpointType::Gateway)
                    .count();
                if count >= GATEWAY_ENDPOINTS_PER_REGION {
                    return Err(ApiError::new(
                        ErrorCode::VpcEndpointLimitExceeded,
                        format!(
                            "The maximum number of gateway VPC endpoints has been reached ({GATEWAY_ENDPOINTS_PER_REGION})."
                        ),
                    ));
                }
                self.add_endpoint_routes(&mut endpoint, &req.route_table_ids)?;
            }
            VpcEndpointType::Interface => {
                if !req.route_table_ids.is_empty() {
                    return Err(invalid_parameter(
                        "Route table IDs are only supported for Gateway type VPC Endpoint.".into(),
                    ));
                }
                let count = live()
                    .filter(|e| e.endpoint_type != VpcEndpointType::Gateway && e.vpc_id == vpc.id)
                    .count();
                if count >= INTERFACE_ENDPOINTS_PER_VPC {
                    return Err(ApiError::new(
                        ErrorCode::VpcEndpointLimitExceeded,
                        format!(
                            "The maximum number of interface VPC endpoints in {} has been reached ({INTERFACE_ENDPOINTS_PER_VPC}).",
                            vpc.id
                        ),
                    ));
                }
                endpoint.security_group_ids = if req.security_group_ids.is_empty() {
                    vec![vpc.default_security_group_id.clone()]
                } else {
                    self.endpoint_groups(&vpc.id, &req.security_group_ids)?
                };
                self.set_private_dns(&mut endpoint, req.private_dns_enabled.unwrap_or(true))?;
                let addresses = configured_addresses(&req.subnet_configurations)?;
                // a configured subnet is one of the endpoint's subnets even when not listed
                let mut subnet_ids = req.subnet_ids.clone();
                for (id, _) in &addresses {
                    if !subnet_ids.iter().any(|s| s == id.as_str()) {
                        subnet_ids.push(id.to_string());
                    }
                }
                self.add_endpoint_subnets(&mut endpoint, &subnet_ids, &addresses)?;
            }
            VpcEndpointType::GatewayLoadBalancer => {
                return Err(no_such_service(&endpoint.service_name));
            }
        }
        self.region.vpc_endpoints.insert(endpoint.clone());
        Ok(endpoint)
    }

    /// Turns private DNS on or off: on needs the VPC's DNS support and hostnames, and no
    /// other endpoint of the VPC with private DNS for the same service.
    fn set_private_dns(&self, endpoint: &mut VpcEndpoint, on: bool) -> Result<(), ApiError> {
        if on {
            let vpc = self.region.vpcs.lookup(&endpoint.vpc_id)?;
            if !vpc.enable_dns_support || !vpc.enable_dns_hostnames {
                return Err(invalid_parameter(format!(
                    "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {}",
                    vpc.id
                )));
            }
            let conflict = self.region.vpc_endpoints.values().any(|e| {
                e.id != endpoint.id
                    && e.is_live()
                    && e.vpc_id == endpoint.vpc_id
                    && e.service_name == endpoint.service_name
                    && e.private_dns_enabled
            });
            if conflict {
                return Err(invalid_parameter(format!(
                    "private-dns-enabled cannot be set because there is already a conflicting DNS domain for {} in the VPC {}",
                    endpoint.service_name, endpoint.vpc_id
                )));
            }
        }
        endpoint.private_dns_enabled = on;
        Ok(())
    }

    /// Security groups of the endpoint's VPC, by id, without repeats.
    fn endpoint_groups(
        &self,
        vpc_id: &VpcId,
        ids: &[String],
    ) -> Result<Vec<SecurityGroupId>, ApiError> {
        let mut out: Vec<SecurityGroupId> = Vec::new();
        for id in ids {
            let g = self.region.security_groups.find(Kind::SecurityGroup, id)?;
            if &g.vpc_id != vpc_id {
                return Err(invalid_parameter(format!(
                    "The security group {id} is not in the VPC {vpc_id}."
                )));
            }
            if !out.contains(&g.id) {
                out.push(g.id.clone());
            }
        }
        Ok(out)
    }

    /// Adds the route to the service's prefix list in each table (tables it already
    /// routes are left as they are).
    fn add_endpoint_routes(
        &mut self,
        endpoint: &mut VpcEndpoint,
        ids: &[String],
    ) -> Result<(), ApiError> {
        if ids.is_empty() {
            return Ok(());
        }
        let pl = service_prefix_list(&self.region.name, &endpoint.service_name)
            .ok_or_else(|| no_such_service(&endpoint.service_name))?;
        let destination = RouteDestination::PrefixList(pl.to_string());
        for id in ids {
            let table = self.region.route_tables.find(Kind::RouteTable, id)?;
            if table.vpc_id != endpoint.vpc_id {
                return Err(invalid_parameter(format!(
                    "The route table {id} is not in the VPC {} of the endpoint.",
                    endpoint.vpc_id
                )));
            }
            if endpoint.route_table_ids.contains(&table.id) {
                continue;
            }
            if table.routes.iter().any(|r| r.destination == destination) {
                return Err(ApiError::new(
                    ErrorCode::RouteAlreadyExists,
                    format!(
                        "route table {id} already has a route with destination-prefix-list-id {pl}"
                    ),
                ));
            }
            let table_id = table.id.clone();
            self.region
                .route_tables
                .get_mut(&table_id)
                .expect("found above")
                .routes
                .push(Route {
                    destination: destination.clone(),
                    target: RouteTarget::VpcEndpoint(endpoint.id.clone()),
                    origin: RouteOrigin::CreateRoute,
                });
            endpoint.route_table_ids.push(table_id);
        }
        Ok(())
    }

    /// Removes the endpoint's route from each table.
    fn remove_endpoint_routes(&mut self, endpoint: &mut VpcEndpoint, ids: &[RouteTableId]) {
        for id in ids {
            if let Some(t) = self.region.route_tables.get_mut(id) {
                t.routes.retain(
                    |r| !matches!(&r.target, RouteTarget::VpcEndpoint(e) if *e == endpoint.id),
                );
            }
            endpoint.route_table_ids.retain(|t| t != id);
        }
    }

    /// An interface in each new subnet: one subnet per availability zone.
    /// Adds an interface in each of `ids` not yet served, at the subnet's configured address
    /// when `addresses` names one, else at the lowest free one.
    fn add_endpoint_subnets(
        &mut self,
        endpoint: &mut VpcEndpoint,
        ids: &[String],
        addresses: &[(SubnetId, Option<Ipv4Addr>)],
    ) -> Result<(), ApiError> {
        for id in ids {
            let subnet = self.region.subnets.find(Kind::Subnet, id)?.clone();
            if subnet.vpc_id != endpoint.vpc_id {
                return Err(invalid_parameter(format!(
                    "The subnet {id} is not in the VPC {} of the endpoint.",
                    endpoint.vpc_id
                )));
            }
            if endpoint.subnet_ids().any(|s| *s == subnet.id) {
                continue;
            }
            let same_zone = endpoint.subnet_ids().any(|s| {
                self.region
                    .subnets
                    .get(s)
                    .is_some_and(|x| x.availability_zone == subnet.availability_zone)
            });
            if same_zone {
                return Err(ApiError::new(
                    ErrorCode::DuplicateSubnetsInSameZone,
                    format!(
                        "Found another VPC endpoint subnet in the availability zone of {id}. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service."
                    ),
                ));
            }
            let mut free = SubnetAddresses::of(self.region, &subnet)?;
            let configured = addresses
                .iter()
                .find(|(s, _)| *s == subnet.id)
                .and_then(|(_, ip)| *ip);
            let ip = match configured {
                Some(ip) => {
                    free.claim(ip)?;
                    ip
                }
                None => free.take().ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InsufficientFreeAddressesInSubnet,
                        format!("Subnet {id} has insufficient free addresses for the endpoint."),
                    )
                })?,
            };
            let eni = self.insert_interface(
                &subnet,
                Some(ip),
                Vec::new(),
                endpoint.security_group_ids.clone(),
                format!("VPC Endpoint Interface {}", endpoint.id),
                "vpc_endpoint",
                true,
                Tags::new(),
            )?;
            // its host answers for it as for an instance's interface (none in the zone:
            // the endpoint is kept and described, and carries nothing)
            let host_id = if self.config.dataplane {
                self.global.place(&subnet.availability_zone)
            } else {
                None
            };
            endpoint.interfaces.push(EndpointInterface {
                subnet_id: subnet.id.clone(),
                network_interface_id: eni.id,
                host_id,
            });
        }
        Ok(())
    }

    /// Deletes the interfaces of the endpoint in `subnets`.
    fn remove_endpoint_subnets(&mut self, endpoint: &mut VpcEndpoint, subnets: &[SubnetId]) {
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut endpoint.interfaces)
            .into_iter()
            .partition(|i| subnets.contains(&i.subnet_id));
        for i in gone {
            if let Some(host) = &i.host_id {
                self.global.unplace(host);
            }
            self.drop_flow_logs_of(&i.network_interface_id);
            self.region
                .network_interfaces
                .remove(&i.network_interface_id);
        }
        endpoint.interfaces = kept;
    }

    /// The live endpoint `id`.
    fn live_endpoint(&self, id: &VpcEndpointId) -> Result<VpcEndpoint, ApiError> {
        let e = self.region.vpc_endpoints.lookup(id)?;
        if !e.is_live() {
            return Err(Kind::VpcEndpoint.not_found(id));
        }
        Ok(e.clone())
    }

    /// ModifyVpcEndpoint: route tables (gateway), subnets, groups and private DNS
    /// (interface), the policy (both).
    pub fn modify_vpc_endpoint(&mut self, req: ModifyVpcEndpoint) -> Result<(), ApiError> {
        let mut e = self.live_endpoint(&req.id)?;
        let gateway = e.endpoint_type == VpcEndpointType::Gateway;
        let tables = !req.add_route_table_ids.is_empty() || !req.remove_route_table_ids.is_empty();
        let interface_only = !req.add_subnet_ids.is_empty()
            || !req.remove_subnet_ids.is_empty()
            || !req.subnet_configurations.is_empty()
            || !req.add_security_group_ids.is_empty()
            || !req.remove_security_group_ids.is_empty()
            || req.private_dns_enabled.is_some();
        if gateway && interface_only {
            return Err(invalid_parameter(
                "Subnets, security groups and private DNS are not supported for Gateway endpoints."
                    .into(),
            ));
        }
        if !gateway && tables {
            return Err(invalid_parameter(
                "Route tables are not supported for Interface endpoints.".into(),
            ));
        }
        if req.reset_policy && req.policy_document.is_some() {
            return Err(ApiError::combination(
                "ResetPolicy and PolicyDocument cannot both be given.",
            ));
        }
        if let Some(p) = &req.policy_document {
            check_policy(p)?;
            e.policy_document = p.clone();
        }
        if req.reset_policy {
            e.policy_document = default_policy(e.endpoint_type).to_owned();
        }
        // removals first, so a table or subnet may be swapped in one call
        let mut remove_tables = Vec::new();
        for id in &req.remove_route_table_ids {
            let t = RouteTableId::parse(id)?;
            if e.route_table_ids.contains(&t) {
                remove_tables.push(t);
            }
        }
        self.remove_endpoint_routes(&mut e, &remove_tables);
        self.add_endpoint_routes(&mut e, &req.add_route_table_ids)?;
        let addresses = configured_addresses(&req.subnet_configurations)?;
        let mut remove_subnets = Vec::new();
        for id in &req.remove_subnet_ids {
            remove_subnets.push(SubnetId::parse(id)?);
        }
        // an interface whose subnet gets another address is replaced by one with it
        let mut add_subnets = req.add_subnet_ids.clone();
        for (subnet, ip) in &addresses {
            let current = e
                .interfaces
                .iter()
                .find(|i| i.subnet_id == *subnet)
                .and_then(|i| self.region.network_interfaces.get(&i.network_interface_id))
                .and_then(|eni| eni.private_ip);
            let moved = match (current, ip) {
                (Some(now), Some(want)) => now != *want,
                (Some(_), None) => false,
                (None, _) => true,
            };
            if moved {
                if current.is_some() {
                    remove_subnets.push(subnet.clone());
                }
                add_subnets.push(subnet.to_string());
            }
        }
        self.remove_endpoint_subnets(&mut e, &remove_subnets);
        if !req.add_security_group_ids.is_empty() || !req.remove_security_group_ids.is_empty() {
            let added = self.endpoint_groups(&e.vpc_id, &req.add_security_group_ids)?;
            for id in &req.remove_security_group_ids {
                Kind::SecurityGroup.check(id)?;
            }
            let mut groups: Vec<SecurityGroupId> = e
                .security_group_ids
                .iter()
                .filter(|g| {
                    !req.remove_security_group_ids
                        .iter()
                        .any(|r| r == g.as_str())
                })
                .cloned()
                .collect();
            for g in added {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            if groups.is_empty() {
                return Err(invalid_parameter(
                    "An interface endpoint must keep at least one security group.".into(),
                ));
            }
            for i in &e.interfaces {
                if let Some(eni) = self
                    .region
                    .network_interfaces
                    .get_mut(&i.network_interface_id)
                {
                    eni.security_groups = groups.clone();
                }
            }
            e.security_group_ids = groups;
        }
        self.add_endpoint_subnets(&mut e, &add_subnets, &addresses)?;
        if let Some(on) = req.private_dns_enabled {
            self.set_private_dns(&mut e, on)?;
        }
        self.region.vpc_endpoints.insert(e);
        Ok(())
    }

    /// Places the region's endpoint interfaces that have no host yet (their zone had
    /// none when they were made) on a host of their zone, if one is there now: how many.
    pub fn place_endpoint_interfaces(&mut self) -> usize {
        if !self.config.dataplane {
            return 0;
        }
        let ids = self
            .region
            .vpc_endpoints
            .ids_where(|e| e.is_live() && e.interfaces.iter().any(|i| i.host_id.is_none()));
        let mut placed = 0;
        for id in ids {
            let Some(mut e) = self.region.vpc_endpoints.get(&id).cloned() else {
                continue;
            };
            for i in &mut e.interfaces {
                let zone = self
                    .region
                    .subnets
                    .get(&i.subnet_id)
                    .map(|s| s.availability_zone.clone());
                if i.host_id.is_none()
                    && let Some(zone) = zone
                    && let Some(host) = self.global.place(&zone)
                {
                    i.host_id = Some(host);
                    placed += 1;
                }
            }
            self.region.vpc_endpoints.insert(e);
        }
        placed
    }

    /// DeleteVpcEndpoints: each endpoint is deleted (its routes and interfaces go) or
    /// reported, with why, among the unsuccessful. A gateway endpoint is gone at once, as
    /// EC2's (Ansible's ec2_vpc_endpoint finds nothing by its id after, on AWS); the others
    /// stay described as `deleted`, as EC2 shows them for a while.
    pub fn delete_vpc_endpoints(&mut self, ids: &[String]) -> Vec<(String, ApiError)> {
        let mut failed = Vec::new();
        for id in ids {
            if let Err(e) = self.delete_vpc_endpoint(id) {
                failed.push((id.clone(), e));
            }
        }
        failed
    }

    fn delete_vpc_endpoint(&mut self, id: &str) -> Result<(), ApiError> {
        let id = VpcEndpointId::parse(id)?;
        let not_found = || {
            ApiError::new(
                ErrorCode::InvalidVpcEndpointNotFound,
                format!("The Vpc Endpoint Id '{id}' does not exist"),
            )
        };
        let mut e = self
            .region
            .vpc_endpoints
            .get(&id)
            .filter(|e| e.is_live())
            .cloned()
            .ok_or_else(not_found)?;
        let tables = e.route_table_ids.clone();
        self.remove_endpoint_routes(&mut e, &tables);
        let subnets: Vec<SubnetId> = e.subnet_ids().cloned().collect();
        self.remove_endpoint_subnets(&mut e, &subnets);
        if e.endpoint_type == VpcEndpointType::Gateway {
            self.region.vpc_endpoints.remove(&id);
        } else {
            e.state = VpcEndpointState::Deleted;
            self.region.vpc_endpoints.insert(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_stable_and_s3_has_both_types() {
        let a = services("us-east-1");
        assert_eq!(a, services("us-east-1"));
        let s3: Vec<_> = a
            .iter()
            .filter(|s| s.name == "com.amazonaws.us-east-1.s3")
            .collect();
        assert_eq!(s3.len(), 2);
        assert_ne!(s3[0].id, s3[1].id);
        assert!(
            a.iter()
                .all(|s| s.id.starts_with("vpce-svc-") && s.id.len() == 26)
        );
        let mut sorted = a.clone();
        sorted.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(
            sorted.iter().map(|s| &s.name).collect::<Vec<_>>(),
            a.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
    }

    #[test]
    fn policies_must_be_json_objects() {
        assert!(check_policy(DEFAULT_POLICY).is_ok());
        assert!(check_policy(INTERFACE_DEFAULT_POLICY).is_ok());
        for bad in ["my policy document", "[1]", ""] {
            assert_eq!(
                check_policy(bad).unwrap_err().code,
                ErrorCode::InvalidPolicyDocument
            );
        }
    }
}
