//! Route table actions: tables, associations and routes.

use fort_control::route_table::{
    AssociationResult, CreateRouteTable, RouteParams, TARGET_PARAMS, destination_text, route_state,
};
use fort_control::{Region, View};
use fort_model::{
    ApiError, EdgeGateway, ErrorCode, Kind, Route, RouteDestination, RouteTable,
    RouteTableAssociationId, RouteTableId, RouteTarget,
};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateRouteTable,
    DeleteRouteTable,
    DescribeRouteTables,
    AssociateRouteTable,
    DisassociateRouteTable,
    ReplaceRouteTableAssociation,
    CreateRoute,
    ReplaceRoute,
    DeleteRoute,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateRouteTable => {
            let req = CreateRouteTable {
                vpc_id: p.req("VpcId")?.to_owned(),
                tags: ctx.tag_specs(&["route-table"])?,
                client_token: ctx.client_token()?,
            };
            let id = ctx.write(|tx| tx.create_route_table(req)).await?.id;
            ctx.read(|v| {
                let table = v
                    .region
                    .route_tables
                    .get(&id)
                    .ok_or_else(|| Kind::RouteTable.not_found(&id))?;
                let mut w = Xml::new();
                w.el("routeTable", |w| render(w, v, table));
                if let Some(t) = p.get("ClientToken") {
                    w.leaf("clientToken", t);
                }
                Ok(w)
            })
            .await?
        }
        Action::DeleteRouteTable => {
            let id = RouteTableId::parse(p.req("RouteTableId")?)?;
            ctx.write(|tx| tx.delete_route_table(&id)).await?;
            Ok(ok_return())
        }
        Action::DescribeRouteTables => {
            let d = Describe {
                ids_param: "RouteTableId",
                kind: Kind::RouteTable,
                filters: FILTERS,
                page: Some((5, 100)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.route_tables.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(v, x, n),
                )?;
                let mut w = Xml::new();
                w.set("routeTableSet", page.items, |w, t| render(w, v, t));
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::AssociateRouteTable => {
            if p.get("PublicIpv4Pool").is_some() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Public IPv4 pools are not supported.",
                ));
            }
            let table = RouteTableId::parse(p.req("RouteTableId")?)?;
            let subnet = p.get("SubnetId");
            let gateway = p.get("GatewayId");
            let r = ctx
                .write(|tx| tx.associate_route_table(&table, subnet, gateway))
                .await?;
            Ok(association(&r, "associationId"))
        }
        Action::DisassociateRouteTable => {
            let id = RouteTableAssociationId::parse(p.req("AssociationId")?)?;
            ctx.write(|tx| tx.disassociate_route_table(&id)).await?;
            Ok(ok_return())
        }
        Action::ReplaceRouteTableAssociation => {
            let id = p.req("AssociationId")?;
            let table = p.req("RouteTableId")?;
            // The table id is checked by control once the association is found (its
            // errors come after the association's).
            let id = RouteTableAssociationId::parse(id)?;
            let r = ctx
                .write(|tx| tx.replace_route_table_association(&id, table))
                .await?;
            Ok(association(&r, "newAssociationId"))
        }
        Action::CreateRoute => {
            let req = route_params(p)?;
            ctx.write(|tx| tx.create_route(&req)).await?;
            Ok(ok_return())
        }
        Action::ReplaceRoute => {
            let req = route_params(p)?;
            ctx.write(|tx| tx.replace_route(&req)).await?;
            Ok(ok_return())
        }
        Action::DeleteRoute => {
            let req = route_params(p)?;
            ctx.write(|tx| tx.delete_route(&req)).await?;
            Ok(ok_return())
        }
    }
}

fn association(r: &AssociationResult, id_name: &str) -> Xml {
    let mut w = Xml::new();
    w.leaf(id_name, &r.association_id)
        .el("associationState", |w| {
            w.leaf("state", "associated");
        });
    w
}

/// The table id is parsed once every parameter is read: a bad `LocalTarget` is reported
/// before a malformed table id, as before.
fn route_params(p: &Params) -> Result<RouteParams, ApiError> {
    let route_table_id = p.req("RouteTableId")?;
    let destination_cidr_block = p.opt_str("DestinationCidrBlock");
    let destination_ipv6_cidr_block = p.opt_str("DestinationIpv6CidrBlock");
    let destination_prefix_list_id = p.opt_str("DestinationPrefixListId");
    let targets = TARGET_PARAMS
        .iter()
        .filter_map(|&name| p.get(name).map(|v| (name.to_owned(), v.to_owned())))
        .collect();
    let local_target = p.bool("LocalTarget")?.unwrap_or(false);
    Ok(RouteParams {
        route_table_id: RouteTableId::parse(route_table_id)?,
        destination_cidr_block,
        destination_ipv6_cidr_block,
        destination_prefix_list_id,
        targets,
        local_target,
    })
}

const FILTERS: &[&str] = &[
    "association.gateway-id",
    "association.route-table-association-id",
    "association.route-table-id",
    "association.subnet-id",
    "association.main",
    "owner-id",
    "route-table-id",
    "route.destination-cidr-block",
    "route.destination-ipv6-cidr-block",
    "route.destination-prefix-list-id",
    "route.egress-only-internet-gateway-id",
    "route.gateway-id",
    "route.instance-id",
    "route.nat-gateway-id",
    "route.transit-gateway-id",
    "route.origin",
    "route.state",
    "route.vpc-peering-connection-id",
    "vpc-id",
];

/// The fields a route shows for its target: (element, value) pairs.
fn target_fields(region: &Region, target: &RouteTarget) -> Vec<(&'static str, String)> {
    let owner = || region.account.clone();
    match target {
        RouteTarget::Local => vec![("gatewayId", "local".into())],
        RouteTarget::InternetGateway(id) => vec![("gatewayId", id.to_string())],
        RouteTarget::VpnGateway(id) => vec![("gatewayId", id.to_string())],
        RouteTarget::VpcEndpoint(id) => vec![("gatewayId", id.to_string())],
        RouteTarget::NatGateway(id) => vec![("natGatewayId", id.to_string())],
        RouteTarget::NetworkInterface(id) => {
            let mut out = Vec::new();
            if let Some(a) = region
                .network_interfaces
                .get(id)
                .and_then(|e| e.attachment.as_ref())
                .filter(|a| !a.instance_id.is_empty())
            {
                out.push(("instanceId", a.instance_id.to_string()));
                out.push(("instanceOwnerId", owner()));
            }
            out.push(("networkInterfaceId", id.to_string()));
            out
        }
        RouteTarget::Instance(id) => {
            let mut out = vec![("instanceId", id.to_string()), ("instanceOwnerId", owner())];
            if let Some(eni) = region.instance_route_interface(id) {
                out.push(("networkInterfaceId", eni));
            }
            out
        }
        RouteTarget::VpcPeeringConnection(id) => vec![("vpcPeeringConnectionId", id.to_string())],
        RouteTarget::EgressOnlyInternetGateway(id) => {
            vec![("egressOnlyInternetGatewayId", id.to_string())]
        }
        RouteTarget::TransitGateway(id) => vec![("transitGatewayId", id.to_string())],
        RouteTarget::CarrierGateway(id) => vec![("carrierGatewayId", id.to_string())],
        RouteTarget::LocalGateway(id) => vec![("localGatewayId", id.to_string())],
    }
}

fn route_fields(v: &View<'_>, table: &RouteTable, name: &str) -> Vec<String> {
    let region = v.region;
    // Propagated routes are listed, and filtered, like the table's own.
    let routes = region.effective_routes(table);
    let rs = routes.iter();
    let target_of = |element: &str| -> Vec<String> {
        routes
            .iter()
            .flat_map(|r| target_fields(region, &r.target))
            .filter(|(e, _)| *e == element)
            .map(|(_, x)| x)
            .collect()
    };
    match name {
        "route.destination-cidr-block" => rs
            .filter_map(|r| match r.destination {
                RouteDestination::Cidr(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        "route.destination-ipv6-cidr-block" => rs
            .filter_map(|r| match &r.destination {
                RouteDestination::Ipv6Cidr(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        "route.destination-prefix-list-id" => rs
            .filter_map(|r| match &r.destination {
                RouteDestination::PrefixList(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        "route.egress-only-internet-gateway-id" => target_of("egressOnlyInternetGatewayId"),
        "route.gateway-id" => target_of("gatewayId"),
        "route.instance-id" => target_of("instanceId"),
        "route.nat-gateway-id" => target_of("natGatewayId"),
        "route.transit-gateway-id" => target_of("transitGatewayId"),
        "route.vpc-peering-connection-id" => target_of("vpcPeeringConnectionId"),
        "route.origin" => rs.map(|r| r.origin.as_str().to_owned()).collect(),
        "route.state" => rs
            .map(|r| route_state(region, v.global, table, r).as_str().to_owned())
            .collect(),
        _ => vec![],
    }
}

fn field(v: &View<'_>, t: &RouteTable, name: &str) -> Vec<String> {
    // (the undone gateway associations are listed, so they match too)
    let assoc = t.associations.iter().chain(&t.disassociated);
    match name {
        "association.gateway-id" => assoc
            .filter_map(|a| a.gateway_id.as_ref().map(|g| g.as_str().to_owned()))
            .collect(),
        "association.route-table-association-id" => assoc.map(|a| a.id.to_string()).collect(),
        "association.route-table-id" => assoc.map(|_| t.id.to_string()).collect(),
        "association.subnet-id" => assoc
            .filter_map(|a| a.subnet_id.as_ref().map(ToString::to_string))
            .collect(),
        "association.main" => assoc.map(|a| b(a.main).to_owned()).collect(),
        "owner-id" => vec![v.region.account.clone()],
        "route-table-id" => vec![t.id.to_string()],
        "vpc-id" => vec![t.vpc_id.to_string()],
        n if n.starts_with("route.") => route_fields(v, t, n),
        _ => vec![],
    }
}

fn render_route(w: &mut Xml, v: &View<'_>, table: &RouteTable, r: &Route) {
    let region = v.region;
    let text = destination_text(&r.destination);
    match r.destination {
        RouteDestination::Cidr(_) => w.leaf("destinationCidrBlock", text),
        RouteDestination::Ipv6Cidr(_) => w.leaf("destinationIpv6CidrBlock", text),
        RouteDestination::PrefixList(_) => w.leaf("destinationPrefixListId", text),
    };
    for (element, value) in target_fields(region, &r.target) {
        w.leaf(element, value);
    }
    w.leaf("state", route_state(region, v.global, table, r))
        .leaf("origin", r.origin);
}

pub fn render(w: &mut Xml, v: &View<'_>, t: &RouteTable) {
    let region = v.region;
    w.leaf("routeTableId", &t.id)
        .leaf("vpcId", &t.vpc_id)
        .leaf("ownerId", &region.account)
        .set("routeSet", &region.effective_routes(t), |w, r| {
            render_route(w, v, t, r)
        })
        .set(
            "associationSet",
            t.associations
                .iter()
                .map(|a| (a, "associated"))
                .chain(t.disassociated.iter().map(|a| (a, "disassociated"))),
            |w, (a, state)| {
                w.leaf("routeTableAssociationId", &a.id)
                    .leaf("routeTableId", &t.id)
                    .opt("subnetId", a.subnet_id.as_deref())
                    .opt("gatewayId", a.gateway_id.as_ref().map(EdgeGateway::as_str))
                    .leaf("main", b(a.main))
                    .el("associationState", |w| {
                        w.leaf("state", state);
                    });
            },
        )
        .set("propagatingVgwSet", &t.propagating_vgws, |w, g| {
            w.leaf("gatewayId", g);
        })
        .tag_set(&t.tags);
}
