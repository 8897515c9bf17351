//! Route tables: the main table of each VPC, local routes, associations, routes.
//!
//! A route's `state` is not stored: [`route_state`] computes it from the target each time
//! it is shown (or programmed into the data plane), so a target that disappears or stops
//! makes its routes `blackhole` at once without touching them.

use fort_model::cidr;
use fort_model::*;
use ipnet::{Ipv4Net, Ipv6Net};

use crate::tags::check_tags;
use crate::{ClientToken, Global, Region, Tx};

/// How many undone gateway associations a table goes on listing.
const MAX_DISASSOCIATED: usize = 4;

/// CreateRouteTable's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateRouteTable {
    pub vpc_id: String,
    pub tags: Tags,
    pub client_token: Option<ClientToken>,
}

/// The target parameters of CreateRoute and ReplaceRoute, as the API names them.
pub const TARGET_PARAMS: &[&str] = &[
    "GatewayId",
    "NatGatewayId",
    "NetworkInterfaceId",
    "InstanceId",
    "VpcPeeringConnectionId",
    "EgressOnlyInternetGatewayId",
    "TransitGatewayId",
    "VpcEndpointId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
    "OdbNetworkArn",
];

/// The parameters of CreateRoute, ReplaceRoute and DeleteRoute.
#[derive(Clone, Debug, Default)]
pub struct RouteParams {
    pub route_table_id: RouteTableId,
    pub destination_cidr_block: Option<String>,
    pub destination_ipv6_cidr_block: Option<String>,
    pub destination_prefix_list_id: Option<String>,
    /// (parameter name from [`TARGET_PARAMS`], value) for every target given.
    pub targets: Vec<(String, String)>,
    /// ReplaceRoute's `LocalTarget=true`.
    pub local_target: bool,
}

/// What an association call changed: its id and the table it now names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssociationResult {
    pub association_id: RouteTableAssociationId,
    pub route_table_id: RouteTableId,
}

/// Link-local services: never a route destination.
fn reserved_v4() -> Ipv4Net {
    "169.254.168.0/22".parse().expect("literal")
}

fn reserved_v6() -> Ipv6Net {
    "fd00:ec2::/32".parse().expect("literal")
}

/// The destination as EC2 prints it in messages and the API.
pub fn destination_text(d: &RouteDestination) -> String {
    match d {
        RouteDestination::Cidr(n) => n.to_string(),
        RouteDestination::Ipv6Cidr(s) | RouteDestination::PrefixList(s) => s.clone(),
    }
}

/// `active` or `blackhole`: whether the route's target can carry traffic now.
///
/// An internet or egress-only gateway must still be attached to the table's VPC; a NAT
/// gateway must not be deleting, deleted or failed; an interface must exist and be
/// attached (or managed by AWS, as NAT gateway interfaces are), and the instance it is
/// attached to must be pending or running; an instance must be pending or running; a
/// transit gateway must have an available attachment of the table's VPC; a carrier gateway
/// must be in the table's VPC (shown `active` as EC2 does, though it carries only traffic
/// of Wavelength Zone subnets, which Fort does not have). Local gateways (Outposts) are
/// blackholes.
pub fn route_state(
    region: &Region,
    global: &Global,
    table: &RouteTable,
    route: &Route,
) -> RouteState {
    let usable = match &route.target {
        RouteTarget::VpcPeeringConnection(id) => {
            crate::peering::usable(global, id, &table.vpc_id, crate::now_millis())
        }
        t => target_usable(region, &table.vpc_id, t),
    };
    if usable {
        RouteState::Active
    } else {
        RouteState::Blackhole
    }
}

fn instance_running(region: &Region, id: &str) -> bool {
    region
        .instances
        .get(id)
        .is_some_and(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running))
}

fn target_usable(region: &Region, vpc_id: &str, target: &RouteTarget) -> bool {
    match target {
        RouteTarget::Local => true,
        RouteTarget::InternetGateway(id) => region
            .internet_gateways
            .get(id)
            .is_some_and(|g| g.vpc_id.as_deref() == Some(vpc_id)),
        RouteTarget::EgressOnlyInternetGateway(id) => region
            .egress_only_internet_gateways
            .get(id)
            .is_some_and(|g| g.vpc_id == vpc_id),
        RouteTarget::NatGateway(id) => region.nat_gateways.get(id).is_some_and(|n| {
            !matches!(
                n.state,
                NatGatewayState::Deleting | NatGatewayState::Deleted | NatGatewayState::Failed
            )
        }),
        RouteTarget::NetworkInterface(id) => {
            region
                .network_interfaces
                .get(id)
                .is_some_and(|e| match &e.attachment {
                    Some(a) => {
                        a.status != AttachmentStatus::Detached
                            && (a.instance_id.is_empty()
                                || !region.instances.contains(&a.instance_id)
                                || instance_running(region, &a.instance_id))
                    }
                    None => e.requester_managed || e.interface_type != "interface",
                })
        }
        RouteTarget::Instance(id) => instance_running(region, id),
        RouteTarget::VpcEndpoint(id) => crate::vpc_endpoint::route_usable(region, vpc_id, id),
        RouteTarget::TransitGateway(id) => {
            crate::transit_gateway::vpc_route_usable(region, vpc_id, id)
        }
        RouteTarget::VpnGateway(id) => region
            .vpn_gateways
            .get(id)
            .is_some_and(|g| g.attached_vpc().map(VpcId::as_str) == Some(vpc_id)),
        RouteTarget::CarrierGateway(id) => crate::carrier_gateway::route_usable(region, vpc_id, id),
        RouteTarget::VpcPeeringConnection(_) | RouteTarget::LocalGateway(_) => false,
    }
}

impl Region {
    /// The table a subnet uses: its explicit association, else its VPC's main table.
    pub fn subnet_route_table(&self, subnet_id: &str) -> Option<&RouteTable> {
        let explicit = self.route_tables.values().find(|t| {
            t.associations
                .iter()
                .any(|a| a.subnet_id.as_deref() == Some(subnet_id))
        });
        explicit.or_else(|| {
            let subnet = self.subnets.get(subnet_id)?;
            self.main_route_table(&subnet.vpc_id)
        })
    }

    /// The main table of a VPC.
    pub fn main_route_table(&self, vpc_id: &str) -> Option<&RouteTable> {
        self.route_tables
            .values()
            .find(|t| t.vpc_id == vpc_id && t.associations.iter().any(|a| a.main))
    }

    /// The interfaces attached to an instance.
    fn instance_interfaces(&self, instance_id: &str) -> Vec<&NetworkInterface> {
        self.network_interfaces
            .values()
            .filter(|e| {
                e.attachment
                    .as_ref()
                    .is_some_and(|a| a.instance_id == instance_id)
            })
            .collect()
    }

    /// The interface a route to `instance_id` goes through (for display).
    pub fn instance_route_interface(&self, instance_id: &str) -> Option<String> {
        let enis = self.instance_interfaces(instance_id);
        match enis.as_slice() {
            [one] => Some(one.id.to_string()),
            _ => self
                .instances
                .get(instance_id)
                .map(|i| i.primary_eni_id.to_string())
                .filter(|id| !id.is_empty()),
        }
    }
}

fn is_gateway_table(t: &RouteTable) -> bool {
    t.associations.iter().any(|a| a.gateway_id.is_some())
}

fn middlebox_target(t: &RouteTarget) -> bool {
    matches!(
        t,
        RouteTarget::NatGateway(_)
            | RouteTarget::NetworkInterface(_)
            | RouteTarget::Instance(_)
            | RouteTarget::VpcEndpoint(_)
    )
}

fn v6_text(s: &str) -> Result<Ipv6Net, ApiError> {
    s.parse::<Ipv6Net>().map(|n| n.trunc()).map_err(|_| {
        ApiError::bad_param(
            "destinationIpv6CidrBlock",
            s,
            "This is not a valid IPv6 CIDR block.",
        )
    })
}

/// The one destination of a route call.
pub fn parse_destination(p: &RouteParams) -> Result<RouteDestination, ApiError> {
    let given = [
        p.destination_cidr_block.is_some(),
        p.destination_ipv6_cidr_block.is_some(),
        p.destination_prefix_list_id.is_some(),
    ]
    .into_iter()
    .filter(|g| *g)
    .count();
    if given == 0 {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter destinationCidrBlock or destinationIpv6CidrBlock or destinationPrefixListId",
        ));
    }
    if given > 1 {
        return Err(ApiError::combination(
            "Only one of destinationCidrBlock, destinationIpv6CidrBlock and destinationPrefixListId may be specified.",
        ));
    }
    if let Some(s) = &p.destination_cidr_block {
        let n = cidr::parse_param("destinationCidrBlock", s)?;
        if reserved_v4().contains(&n) {
            return Err(ApiError::invalid_value(format!(
                "The destination CIDR block {n} is within the reserved range 169.254.168.0/22 and cannot be a route destination."
            )));
        }
        return Ok(RouteDestination::Cidr(n));
    }
    if let Some(s) = &p.destination_ipv6_cidr_block {
        let n = v6_text(s)?;
        if reserved_v6().contains(&n) {
            return Err(ApiError::invalid_value(format!(
                "The destination IPv6 CIDR block {n} is within the reserved range fd00:ec2::/32 and cannot be a route destination."
            )));
        }
        return Ok(RouteDestination::Ipv6Cidr(n.to_string()));
    }
    let pl = p.destination_prefix_list_id.as_deref().unwrap_or_default();
    Kind::PrefixList.check(pl)?;
    Ok(RouteDestination::PrefixList(pl.to_owned()))
}

fn different_networks(table: &str, what: &str, id: &str) -> ApiError {
    ApiError::invalid_value(format!(
        "route table {table} and {what} {id} belong to different networks"
    ))
}

fn gateway_not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidGatewayIdNotFound,
        format!("The gateway ID '{id}' does not exist"),
    )
}

impl Tx<'_> {
    /// A subnet or gateway has at most one explicit association.
    fn not_yet_associated(
        &self,
        same: impl Fn(&RouteTableAssociation) -> bool,
    ) -> Result<(), ApiError> {
        match self
            .region
            .route_tables
            .values()
            .find(|t| t.associations.iter().any(&same))
        {
            Some(other) => Err(ApiError::new(
                ErrorCode::ResourceAlreadyAssociated,
                format!(
                    "the specified association for route table {} conflicts with an existing association",
                    other.id
                ),
            )),
            None => Ok(()),
        }
    }

    /// A new table of a VPC holding a local route per associated block of the VPC
    /// (`cidrs`); the main table also gets the main association.
    pub(crate) fn new_route_table(
        &mut self,
        vpc_id: &VpcId,
        cidrs: impl IntoIterator<Item = Ipv4Net>,
        main: bool,
    ) -> RouteTableId {
        let v6: Vec<Ipv6Net> = self
            .region
            .vpcs
            .get(vpc_id)
            .map(|v| v.ipv6_cidrs().collect())
            .unwrap_or_default();
        let routes = cidrs
            .into_iter()
            .map(RouteDestination::Cidr)
            .chain(v6.iter().map(|c| RouteDestination::Ipv6Cidr(c.to_string())))
            .map(|destination| Route {
                destination,
                target: RouteTarget::Local,
                origin: RouteOrigin::CreateRouteTable,
            })
            .collect();
        let associations = if main {
            vec![RouteTableAssociation {
                id: RouteTableAssociationId::new(),
                subnet_id: None,
                gateway_id: None,
                main: true,
            }]
        } else {
            Vec::new()
        };
        let table = RouteTable {
            id: RouteTableId::new(),
            vpc_id: vpc_id.clone(),
            routes,
            associations,
            disassociated: Vec::new(),
            propagating_vgws: Vec::new(),
            tags: Tags::new(),
        };
        let id = table.id.clone();
        self.region.route_tables.insert(table);
        id
    }

    /// CreateRouteTable: a custom table holding the VPC's local routes; idempotent under its
    /// client token.
    pub fn create_route_table(&mut self, req: CreateRouteTable) -> Result<RouteTable, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.route_tables.get(id).cloned(),
            |tx| tx.make_route_table(req),
            |t| t.id.to_string(),
        )
    }

    fn make_route_table(&mut self, req: CreateRouteTable) -> Result<RouteTable, ApiError> {
        let vpc = self.region.vpcs.find(Kind::Vpc, &req.vpc_id)?;
        let (vpc_id, cidrs) = (vpc.id.clone(), vpc.cidrs().collect::<Vec<_>>());
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.route_tables_per_vpc;
        let count = self
            .region
            .route_tables
            .values()
            .filter(|t| t.vpc_id == req.vpc_id)
            .count();
        if count >= quota {
            return Err(ApiError::new(
                ErrorCode::RouteTableLimitExceeded,
                format!("The maximum number of route tables has been reached ({quota})."),
            ));
        }
        let id = self.new_route_table(&vpc_id, cidrs, false);
        let table = self.region.route_tables.get_mut(&id).expect("made above");
        table.tags = req.tags;
        Ok(table.clone())
    }

    pub fn delete_route_table(&mut self, id: &RouteTableId) -> Result<(), ApiError> {
        let table = self.region.route_tables.lookup(id)?;
        let is_main = table.associations.iter().any(|a| a.main)
            || self
                .region
                .vpcs
                .get(&table.vpc_id)
                .is_some_and(|v| &v.main_route_table_id == id);
        if is_main || !table.associations.is_empty() {
            return Err(ApiError::new(
                ErrorCode::DependencyViolation,
                format!("The routeTable '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.region.route_tables.remove(id);
        Ok(())
    }

    /// AssociateRouteTable with a subnet or, as an edge association, a gateway.
    pub fn associate_route_table(
        &mut self,
        table_id: &RouteTableId,
        subnet_id: Option<&str>,
        gateway_id: Option<&str>,
    ) -> Result<AssociationResult, ApiError> {
        let table = self.region.route_tables.lookup(table_id)?.clone();
        let association = match (subnet_id, gateway_id) {
            (None, None) => {
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    "The request must contain the parameter subnetId or gatewayId",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::combination(
                    "Only one of subnetId and gatewayId may be specified.",
                ));
            }
            (Some(subnet_id), None) => {
                let subnet = self.region.subnets.find(Kind::Subnet, subnet_id)?;
                if subnet.vpc_id != table.vpc_id {
                    return Err(ApiError::invalid_value(format!(
                        "Route table {table_id} and subnet {subnet_id} belong to different networks"
                    )));
                }
                if is_gateway_table(&table) {
                    return Err(ApiError::invalid_value(format!(
                        "Route table {table_id} is associated with a gateway and cannot be associated with a subnet."
                    )));
                }
                self.not_yet_associated(|a| a.subnet_id.as_deref() == Some(subnet_id))?;
                RouteTableAssociation {
                    id: RouteTableAssociationId::new(),
                    subnet_id: Some(SubnetId::parse(subnet_id)?),
                    gateway_id: None,
                    main: false,
                }
            }
            (None, Some(gateway_id)) => {
                let gateway = self.check_edge_gateway(&table, gateway_id)?;
                if table.associations.iter().any(|a| a.main) {
                    return Err(ApiError::invalid_value(format!(
                        "The main route table {table_id} cannot be associated with a gateway."
                    )));
                }
                if table.associations.iter().any(|a| a.subnet_id.is_some()) {
                    return Err(ApiError::invalid_value(format!(
                        "Route table {table_id} is associated with subnets and cannot be associated with a gateway."
                    )));
                }
                RouteTableAssociation {
                    id: RouteTableAssociationId::new(),
                    subnet_id: None,
                    gateway_id: Some(gateway),
                    main: false,
                }
            }
        };
        let result = AssociationResult {
            association_id: association.id.clone(),
            route_table_id: table_id.clone(),
        };
        let table = self
            .region
            .route_tables
            .get_mut(table_id)
            .expect("found above");
        // an association of the gateway undone before is no longer listed
        if let Some(g) = &association.gateway_id {
            table
                .disassociated
                .retain(|a| a.gateway_id.as_ref() != Some(g));
        }
        table.associations.push(association);
        Ok(result)
    }

    /// A deleted gateway's edge associations go with it, and are no longer listed (the
    /// table's routes to it stay, blackholed).
    pub(crate) fn forget_edge_associations(&mut self, gateway_id: &str) {
        let names = |a: &RouteTableAssociation| {
            a.gateway_id.as_ref().map(EdgeGateway::as_str) == Some(gateway_id)
        };
        for t in self
            .region
            .route_tables
            .ids_where(|t| t.associations.iter().chain(&t.disassociated).any(names))
        {
            let table = self.region.route_tables.get_mut(&t).expect("listed");
            table.associations.retain(|a| !names(a));
            table.disassociated.retain(|a| !names(a));
        }
    }

    /// The rules of an edge association: an internet gateway or a virtual private gateway
    /// attached to the table's VPC, not already associated, and a table holding only routes
    /// a gateway table may.
    fn check_edge_gateway(
        &self,
        table: &RouteTable,
        gateway_id: &str,
    ) -> Result<EdgeGateway, ApiError> {
        let gateway = match Kind::of(gateway_id) {
            Some(Kind::InternetGateway) => {
                let igw = self
                    .region
                    .internet_gateways
                    .find(Kind::InternetGateway, gateway_id)?;
                if igw.vpc_id.as_deref() != Some(&table.vpc_id) {
                    return Err(different_networks(&table.id, "network gateway", gateway_id));
                }
                EdgeGateway::Internet(igw.id.clone())
            }
            // (the traffic entering from the VPN is not yet routed by the table: the
            // association is kept and shown)
            Some(Kind::VpnGateway) => {
                let vgw = self.live_vpn_gateway(gateway_id)?;
                if vgw.attached_vpc() != Some(&table.vpc_id) {
                    return Err(different_networks(&table.id, "network gateway", gateway_id));
                }
                EdgeGateway::VirtualPrivate(vgw.id.clone())
            }
            _ => return Err(gateway_not_found(gateway_id)),
        };
        self.not_yet_associated(|a| a.gateway_id.as_ref() == Some(&gateway))?;
        let vpc = self.region.vpcs.get(&table.vpc_id);
        for r in &table.routes {
            if !self.gateway_route_ok(vpc, &r.destination, &r.target) {
                return Err(ApiError::invalid_value(format!(
                    "Route table {} contains unsupported route destination {} for a gateway association.",
                    table.id,
                    destination_text(&r.destination)
                )));
            }
        }
        Ok(gateway)
    }

    /// Whether a route may be in a gateway table: local, or to an interface or endpoint
    /// for the whole VPC block or a whole subnet.
    fn gateway_route_ok(
        &self,
        vpc: Option<&Vpc>,
        dest: &RouteDestination,
        target: &RouteTarget,
    ) -> bool {
        // the VPC's block, or a subnet's, of either family
        let (vpc_block, subnet) = match dest {
            RouteDestination::Cidr(d) => (
                vpc.is_some_and(|v| v.cidrs().any(|c| c == *d)),
                vpc.is_some_and(|v| {
                    self.region
                        .subnets
                        .values()
                        .any(|s| s.vpc_id == v.id && s.cidr == Some(*d))
                }),
            ),
            RouteDestination::Ipv6Cidr(text) => {
                let Ok(d) = text.parse::<Ipv6Net>() else {
                    return false;
                };
                (
                    vpc.is_some_and(|v| v.ipv6_cidrs().any(|c| c == d)),
                    vpc.is_some_and(|v| {
                        self.region
                            .subnets
                            .values()
                            .any(|s| s.vpc_id == v.id && s.ipv6_cidr() == Some(d))
                    }),
                )
            }
            RouteDestination::PrefixList(_) => return false,
        };
        if *target == RouteTarget::Local {
            return vpc_block;
        }
        matches!(
            target,
            RouteTarget::NetworkInterface(_)
                | RouteTarget::Instance(_)
                | RouteTarget::VpcEndpoint(_)
        ) && (vpc_block || subnet)
    }

    /// The table holding an association.
    fn find_association(
        &self,
        association_id: &RouteTableAssociationId,
    ) -> Result<(RouteTable, usize), ApiError> {
        self.region
            .route_tables
            .values()
            .find_map(|t| {
                t.associations
                    .iter()
                    .position(|a| &a.id == association_id)
                    .map(|i| (t.clone(), i))
            })
            .ok_or_else(|| Kind::RouteTableAssoc.not_found(association_id))
    }

    pub fn disassociate_route_table(
        &mut self,
        association_id: &RouteTableAssociationId,
    ) -> Result<(), ApiError> {
        let (table, i) = self.find_association(association_id)?;
        if table.associations[i].main {
            return Err(ApiError::invalid_value(format!(
                "cannot disassociate the main route table association {association_id}"
            )));
        }
        let table = self
            .region
            .route_tables
            .get_mut(&table.id)
            .expect("found above");
        let gone = table.associations.remove(i);
        if gone.gateway_id.is_some() {
            table.disassociated.push(gone);
            // (the latest few are enough to show)
            if table.disassociated.len() > MAX_DISASSOCIATED {
                table.disassociated.remove(0);
            }
        }
        Ok(())
    }

    /// ReplaceRouteTableAssociation: moves an association (subnet, gateway or main) to
    /// another table of the same VPC, under a new id. The table id stays text until the
    /// association is found: a missing association is the first error, a malformed table id
    /// the next.
    pub fn replace_route_table_association(
        &mut self,
        association_id: &RouteTableAssociationId,
        new_table_id: &str,
    ) -> Result<AssociationResult, ApiError> {
        let (old, i) = self.find_association(association_id)?;
        let new = self
            .region
            .route_tables
            .find(Kind::RouteTable, new_table_id)?
            .clone();
        if new.vpc_id != old.vpc_id {
            return Err(ApiError::invalid_value(format!(
                "Route table {new_table_id} belongs to a different network than association {association_id}"
            )));
        }
        let mut association = old.associations[i].clone();
        if association.main && is_gateway_table(&new) {
            return Err(ApiError::invalid_value(format!(
                "The gateway route table {new_table_id} cannot be the main route table."
            )));
        }
        if association.subnet_id.is_some() && is_gateway_table(&new) {
            return Err(ApiError::invalid_value(format!(
                "Route table {new_table_id} is associated with a gateway and cannot be associated with a subnet."
            )));
        }
        if association.gateway_id.is_some() {
            if new.associations.iter().any(|a| a.main) {
                return Err(ApiError::invalid_value(format!(
                    "The main route table {new_table_id} cannot be associated with a gateway."
                )));
            }
            let vpc = self.region.vpcs.get(&new.vpc_id);
            if new.id != old.id
                && new
                    .routes
                    .iter()
                    .any(|r| !self.gateway_route_ok(vpc, &r.destination, &r.target))
            {
                return Err(ApiError::invalid_value(format!(
                    "Route table {new_table_id} contains routes a gateway route table may not hold."
                )));
            }
        }
        association.id = RouteTableAssociationId::new();
        let result = AssociationResult {
            association_id: association.id.clone(),
            route_table_id: new.id.clone(),
        };
        self.region
            .route_tables
            .get_mut(&old.id)
            .expect("found above")
            .associations
            .remove(i);
        let main = association.main;
        self.region
            .route_tables
            .get_mut(&new.id)
            .expect("found above")
            .associations
            .push(association);
        if main && let Some(vpc) = self.region.vpcs.get_mut(&new.vpc_id) {
            vpc.main_route_table_id = new.id.clone();
        }
        Ok(result)
    }

    /// Resolves a route's target parameter to a target of the table's VPC.
    fn resolve_target(
        &self,
        table: &RouteTable,
        param: &str,
        id: &str,
    ) -> Result<RouteTarget, ApiError> {
        let vpc_id = table.vpc_id.as_str();
        Ok(match param {
            "GatewayId" => {
                if id == "local" {
                    return Ok(RouteTarget::Local);
                }
                match Kind::of(id) {
                    Some(Kind::InternetGateway) => {
                        let igw = self
                            .region
                            .internet_gateways
                            .get(id)
                            .ok_or_else(|| gateway_not_found(id))?;
                        if igw.vpc_id.as_deref() != Some(vpc_id) {
                            return Err(different_networks(&table.id, "network gateway", id));
                        }
                        RouteTarget::InternetGateway(InternetGatewayId::parse(id)?)
                    }
                    Some(Kind::EgressOnlyInternetGateway) => {
                        return self.resolve_target(table, "EgressOnlyInternetGatewayId", id);
                    }
                    Some(Kind::VpcEndpoint) => {
                        return self.resolve_target(table, "VpcEndpointId", id);
                    }
                    Some(Kind::VpnGateway) => {
                        let vgw = self
                            .region
                            .vpn_gateways
                            .get(id)
                            .filter(|g| g.deleted.is_none())
                            .ok_or_else(|| gateway_not_found(id))?;
                        if vgw.attached_vpc().map(VpcId::as_str) != Some(vpc_id) {
                            return Err(different_networks(&table.id, "network gateway", id));
                        }
                        RouteTarget::VpnGateway(vgw.id.clone())
                    }
                    _ => return Err(gateway_not_found(id)),
                }
            }
            "NatGatewayId" => {
                let nat_id = NatGatewayId::parse(id)?;
                let nat_missing = || {
                    ApiError::new(
                        ErrorCode::InvalidNatGatewayIdNotFound,
                        format!("The natGateway ID '{id}' does not exist"),
                    )
                };
                let nat = self.region.nat_gateways.get(id).ok_or_else(nat_missing)?;
                if matches!(
                    nat.state,
                    NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed
                ) {
                    return Err(nat_missing());
                }
                if nat.vpc_id != vpc_id {
                    return Err(different_networks(&table.id, "NAT gateway", id));
                }
                RouteTarget::NatGateway(nat_id)
            }
            "NetworkInterfaceId" => {
                let eni = self
                    .region
                    .network_interfaces
                    .find(Kind::NetworkInterface, id)?;
                if eni.vpc_id != vpc_id {
                    return Err(different_networks(&table.id, "network interface", id));
                }
                RouteTarget::NetworkInterface(eni.id.clone())
            }
            "InstanceId" => {
                let instance = self.region.instances.find(Kind::Instance, id)?;
                if instance.vpc_id != vpc_id {
                    return Err(different_networks(&table.id, "instance", id));
                }
                if self.region.instance_interfaces(id).len() > 1 {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInstanceId,
                        format!(
                            "There are multiple interfaces attached to instance '{id}'. Please specify an interface ID for the operation instead."
                        ),
                    ));
                }
                RouteTarget::Instance(instance.id.clone())
            }
            "EgressOnlyInternetGatewayId" => {
                let eigw = self
                    .region
                    .egress_only_internet_gateways
                    .find(Kind::EgressOnlyInternetGateway, id)?;
                if eigw.vpc_id != vpc_id {
                    return Err(different_networks(
                        &table.id,
                        "egress-only internet gateway",
                        id,
                    ));
                }
                RouteTarget::EgressOnlyInternetGateway(EgressOnlyInternetGatewayId::parse(id)?)
            }
            // Kinds Fort has no resources of yet: a well-formed id names nothing.
            "VpcPeeringConnectionId" => {
                let p = self.global.peerings.find(Kind::VpcPeeringConnection, id)?;
                let mine = crate::peering::visible(
                    self.global,
                    &self.region.account,
                    &self.region.name,
                    self.now,
                )
                .any(|v| v.id == p.id);
                if !mine {
                    return Err(Kind::VpcPeeringConnection.not_found(id));
                }
                let ours = [&p.requester, &p.accepter].into_iter().any(|s| {
                    s.vpc_id == vpc_id
                        && s.owner_id == self.region.account
                        && s.region == self.region.name
                });
                if !ours {
                    return Err(different_networks(&table.id, "VPC peering connection", id));
                }
                RouteTarget::VpcPeeringConnection(p.id.clone())
            }
            "TransitGatewayId" => {
                return crate::transit_gateway::vpc_route_target(self.region, table, id)
                    .map(RouteTarget::TransitGateway);
            }
            "VpcEndpointId" => {
                return crate::vpc_endpoint::route_target(self.region, table, id)
                    .map(RouteTarget::VpcEndpoint);
            }
            "CarrierGatewayId" => {
                let gateway = self
                    .region
                    .carrier_gateways
                    .find(Kind::CarrierGateway, id)?;
                if gateway.vpc_id != vpc_id {
                    return Err(different_networks(&table.id, "carrier gateway", id));
                }
                RouteTarget::CarrierGateway(gateway.id.clone())
            }
            "LocalGatewayId" => return Err(absent(Kind::LocalGateway, id)),
            other => {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    format!("The route target {other} is not supported."),
                ));
            }
        })
    }

    /// The one target of a CreateRoute/ReplaceRoute.
    fn route_target(&self, table: &RouteTable, p: &RouteParams) -> Result<RouteTarget, ApiError> {
        if p.local_target {
            if !p.targets.is_empty() {
                return Err(ApiError::combination(
                    "LocalTarget cannot be specified with another target.",
                ));
            }
            return Ok(RouteTarget::Local);
        }
        match p.targets.as_slice() {
            [] => Err(ApiError::new(
                ErrorCode::MissingParameter,
                "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, instanceId, vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, vpcEndpointId, carrierGatewayId, localGatewayId or coreNetworkArn",
            )),
            [(param, id)] => self.resolve_target(table, param, id),
            _ => Err(ApiError::combination(
                "More than one target was specified: a route has exactly one target.",
            )),
        }
    }

    /// The rules a (destination, target) pair obeys in a table, beyond the target's own.
    fn check_route(
        &self,
        table: &RouteTable,
        dest: &RouteDestination,
        target: &RouteTarget,
    ) -> Result<(), ApiError> {
        let vpc = self.region.vpcs.get(&table.vpc_id);
        let text = destination_text(dest);
        match (dest, target) {
            (RouteDestination::Ipv6Cidr(d), RouteTarget::NatGateway(_)) if d != "64:ff9b::/96" => {
                return Err(ApiError::invalid_value(format!(
                    "A NAT gateway route can only have an IPv4 destination (or 64:ff9b::/96), not {d}."
                )));
            }
            (RouteDestination::Cidr(_), RouteTarget::EgressOnlyInternetGateway(_)) => {
                return Err(ApiError::invalid_value(format!(
                    "An egress-only internet gateway route must have an IPv6 destination, not {text}."
                )));
            }
            (RouteDestination::PrefixList(_), RouteTarget::EgressOnlyInternetGateway(_)) => {
                return Err(ApiError::invalid_value(
                    "An egress-only internet gateway route must have an IPv6 destination.",
                ));
            }
            _ => {}
        }
        if let RouteDestination::Cidr(d) = dest
            && let Some(vpc) = vpc
        {
            for block in vpc.cidrs() {
                if block == *d {
                    // The local route's destination: it may only point at a middlebox.
                    if *target != RouteTarget::Local && !middlebox_target(target) {
                        return Err(ApiError::invalid_value(format!(
                            "The destination CIDR block {d} is equal to or more specific than one of this VPC's CIDR blocks. This route can target only an interface or an instance."
                        )));
                    }
                } else if block.contains(&d.network()) && d.prefix_len() > block.prefix_len() {
                    let whole_subnet = self
                        .region
                        .subnets
                        .values()
                        .any(|s| s.vpc_id == vpc.id && s.cidr == Some(*d));
                    if !whole_subnet || !middlebox_target(target) {
                        return Err(ApiError::invalid_value(format!(
                            "The destination CIDR block {d} is equal to or more specific than one of this VPC's CIDR blocks. This route can target only an interface or an instance."
                        )));
                    }
                }
            }
        }
        if *target == RouteTarget::Local
            && !matches!(dest, RouteDestination::Cidr(d) if vpc.is_some_and(|v| v.cidrs().any(|c| c == *d)))
        {
            return Err(ApiError::invalid_value(format!(
                "A local route can only have a destination equal to a CIDR block of the VPC, not {text}."
            )));
        }
        if is_gateway_table(table) && !self.gateway_route_ok(vpc, dest, target) {
            return Err(ApiError::invalid_value(format!(
                "Route table {} is associated with a gateway: its routes may only target a network interface or endpoint, for the VPC's or a subnet's CIDR block.",
                table.id
            )));
        }
        Ok(())
    }

    pub fn create_route(&mut self, p: &RouteParams) -> Result<(), ApiError> {
        let table = self.region.route_tables.lookup(&p.route_table_id)?.clone();
        let dest = parse_destination(p)?;
        if p.local_target {
            return Err(ApiError::new(
                ErrorCode::UnknownParameter,
                "The parameter LocalTarget is not recognized",
            ));
        }
        if let RouteDestination::PrefixList(pl) = &dest {
            crate::vpc_endpoint::check_route_prefix_list(self.region, pl)?;
        }
        let target = self.route_target(&table, p)?;
        // `local` names no gateway to CreateRoute (only ReplaceRoute restores a local
        // route's target with it): EC2 says so before it looks at the destination, which
        // is how the provider tells a user to import the VPC's local route instead.
        if target == RouteTarget::Local {
            return Err(gateway_not_found("local"));
        }
        if table.routes.iter().any(|r| r.destination == dest) {
            return Err(ApiError::new(
                ErrorCode::RouteAlreadyExists,
                format!(
                    "The route identified by {} already exists.",
                    destination_text(&dest)
                ),
            ));
        }
        self.check_route(&table, &dest, &target)?;
        let quota = self.config.quotas.routes_per_table;
        // a route to a prefix list counts as its maximum entries
        let (v6, weight) = match &dest {
            RouteDestination::PrefixList(pl) => self.region.prefix_list_weight(pl),
            d => (matches!(d, RouteDestination::Ipv6Cidr(_)), 1),
        };
        if self.region.routes_counted(&table, v6) + weight > quota {
            return Err(ApiError::new(
                ErrorCode::RouteLimitExceeded,
                format!("The maximum number of routes has been reached ({quota})."),
            ));
        }
        let table = self
            .region
            .route_tables
            .get_mut(&table.id)
            .expect("found above");
        table.routes.push(Route {
            destination: dest,
            target,
            origin: RouteOrigin::CreateRoute,
        });
        Ok(())
    }

    pub fn replace_route(&mut self, p: &RouteParams) -> Result<(), ApiError> {
        let table = self.region.route_tables.lookup(&p.route_table_id)?.clone();
        let dest = parse_destination(p)?;
        let Some(i) = table.routes.iter().position(|r| r.destination == dest) else {
            return Err(ApiError::invalid_value(format!(
                "There is no route defined for '{}' in the route table. Use CreateRoute instead.",
                destination_text(&dest)
            )));
        };
        crate::vpc_endpoint::check_not_endpoint_route(self.region, &table, &table.routes[i])?;
        let target = self.route_target(&table, p)?;
        self.check_route(&table, &dest, &target)?;
        let table = self
            .region
            .route_tables
            .get_mut(&table.id)
            .expect("found above");
        let route = &mut table.routes[i];
        route.target = target;
        if route.origin == RouteOrigin::EnableVgwRoutePropagation {
            route.origin = RouteOrigin::CreateRoute;
        }
        Ok(())
    }

    pub fn delete_route(&mut self, p: &RouteParams) -> Result<(), ApiError> {
        let table = self.region.route_tables.lookup(&p.route_table_id)?.clone();
        let dest = parse_destination(p)?;
        let text = destination_text(&dest);
        let Some(i) = table.routes.iter().position(|r| r.destination == dest) else {
            let field = match dest {
                RouteDestination::Cidr(_) => "destination-cidr-block",
                RouteDestination::Ipv6Cidr(_) => "destination-ipv6-cidr-block",
                RouteDestination::PrefixList(_) => "destination-prefix-list-id",
            };
            return Err(ApiError::new(
                ErrorCode::InvalidRouteNotFound,
                format!("no route with {field} {text} in route table {}", table.id),
            ));
        };
        let vpc = self.region.vpcs.get(&table.vpc_id);
        let is_local_block = match &dest {
            RouteDestination::Cidr(d) => vpc.is_some_and(|v| v.cidrs().any(|c| c == *d)),
            RouteDestination::Ipv6Cidr(d) => {
                vpc.is_some_and(|v| v.ipv6_cidrs().any(|c| c.to_string() == *d))
            }
            RouteDestination::PrefixList(_) => false,
        };
        crate::vpc_endpoint::check_not_endpoint_route(self.region, &table, &table.routes[i])?;
        if table.routes[i].target == RouteTarget::Local || is_local_block {
            return Err(ApiError::invalid_value(format!(
                "cannot remove local route {text} in route table {}",
                table.id
            )));
        }
        self.region
            .route_tables
            .get_mut(&table.id)
            .expect("found above")
            .routes
            .remove(i);
        Ok(())
    }
}

fn absent(kind: Kind, id: &str) -> ApiError {
    match kind.check(id) {
        Err(e) => e,
        Ok(()) => kind.not_found(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(dest: Option<&str>, v6: Option<&str>, pl: Option<&str>) -> RouteParams {
        RouteParams {
            destination_cidr_block: dest.map(Into::into),
            destination_ipv6_cidr_block: v6.map(Into::into),
            destination_prefix_list_id: pl.map(Into::into),
            ..RouteParams::default()
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(
            parse_destination(&params(Some("10.1.2.3/16"), None, None)).unwrap(),
            RouteDestination::Cidr("10.1.0.0/16".parse().unwrap())
        );
        assert_eq!(
            parse_destination(&params(None, Some("2001:DB8::1/32"), None)).unwrap(),
            RouteDestination::Ipv6Cidr("2001:db8::/32".into())
        );
        let code = |p| parse_destination(&p).unwrap_err().code;
        assert_eq!(code(params(None, None, None)), "MissingParameter");
        assert_eq!(
            code(params(Some("0.0.0.0/0"), Some("::/0"), None)),
            "InvalidParameterCombination"
        );
        assert_eq!(
            code(params(Some("169.254.169.254/32"), None, None)),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(params(Some("169.254.168.0/22"), None, None)),
            "InvalidParameterValue"
        );
        assert!(parse_destination(&params(Some("169.254.0.0/16"), None, None)).is_ok());
        assert_eq!(
            code(params(None, Some("fd00:ec2::254/128"), None)),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(params(Some("10.0.0.0/33"), None, None)),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(params(None, None, Some("pl_zz"))),
            "InvalidPrefixListId.Malformed"
        );
    }
}
