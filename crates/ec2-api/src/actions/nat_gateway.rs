//! NAT gateway actions.

use fort_control::Region;
use fort_control::nat_gateway::CreateNatGateway;
use fort_model::{
    ApiError, ErrorCode, Kind, NatGateway, NatGatewayAddress, NatGatewayId, NatGatewayState,
    format_time,
};

use super::{Ctx, Describe, b, next_token};
use crate::xml::Xml;

crate::actions!(
    CreateNatGateway,
    DeleteNatGateway,
    DescribeNatGateways,
    AssignPrivateNatGatewayAddress,
    UnassignPrivateNatGatewayAddress,
    AssociateNatGatewayAddress,
    DisassociateNatGatewayAddress,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateNatGateway => {
            if p.get("AvailabilityMode").is_some_and(|m| m != "zonal") {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Regional NAT gateways are not supported.",
                ));
            }
            let client_token = p.opt_str("ClientToken");
            let allocation_id = p.opt_str("AllocationId");
            let req = CreateNatGateway {
                subnet_id: p.req("SubnetId")?.to_owned(),
                allocation_id: p.opt_str("AllocationId"),
                connectivity_type: p.opt_str("ConnectivityType"),
                private_ip: p.opt_str("PrivateIpAddress"),
                secondary_allocation_ids: p.strings("SecondaryAllocationId")?,
                secondary_private_ips: p.strings("SecondaryPrivateIpAddress")?,
                secondary_private_ip_count: p.int("SecondaryPrivateIpAddressCount")?,
                tags: ctx.tag_specs(&["natgateway"])?,
                client_token: ctx.client_token()?,
            };
            let id = ctx.write(|tx| tx.create_nat_gateway(req)).await?.id;
            ctx.read(|v| {
                let nat = v
                    .region
                    .nat_gateways
                    .get(&id)
                    .ok_or_else(|| Kind::NatGateway.not_found(&id))?;
                // EC2 answers `pending` and provisions after: whether the gateway became
                // available or failed shows on the next Describe.
                let mut created = nat.clone();
                created.state = NatGatewayState::Pending;
                created.failure_code = None;
                created.failure_message = None;
                let mut w = Xml::new();
                w.opt("clientToken", client_token.as_deref())
                    .el("natGateway", |w| {
                        render_with(w, v.region, &created, allocation_id.as_deref())
                    });
                Ok(w)
            })
            .await?
        }
        Action::DeleteNatGateway => {
            let id = NatGatewayId::parse(p.req("NatGatewayId")?)?;
            let id = ctx.write(|tx| tx.delete_nat_gateway(&id)).await?;
            let mut w = Xml::new();
            w.leaf("natGatewayId", id);
            Ok(w)
        }
        Action::AssignPrivateNatGatewayAddress => {
            let id = NatGatewayId::parse(p.req("NatGatewayId")?)?;
            let ips = p.strings("PrivateIpAddress")?;
            let count = p.int("PrivateIpAddressCount")?;
            let added = ctx
                .write(|tx| tx.assign_private_nat_gateway_address(&id, &ips, count))
                .await?;
            address_change(ctx, &id, &added, "assigning").await
        }
        Action::UnassignPrivateNatGatewayAddress => {
            let id = NatGatewayId::parse(p.req("NatGatewayId")?)?;
            drain_seconds(p)?;
            let ips = p.strings("PrivateIpAddress")?;
            let gone = ctx
                .write(|tx| tx.unassign_private_nat_gateway_address(&id, &ips))
                .await?;
            address_change(ctx, &id, &gone, "unassigning").await
        }
        Action::AssociateNatGatewayAddress => {
            let id = NatGatewayId::parse(p.req("NatGatewayId")?)?;
            let allocations = p.strings("AllocationId")?;
            let ips = p.strings("PrivateIpAddress")?;
            let added = ctx
                .write(|tx| tx.associate_nat_gateway_address(&id, &allocations, &ips))
                .await?;
            address_change(ctx, &id, &added, "associating").await
        }
        Action::DisassociateNatGatewayAddress => {
            let id = NatGatewayId::parse(p.req("NatGatewayId")?)?;
            drain_seconds(p)?;
            let associations = p.strings("AssociationId")?;
            let gone = ctx
                .write(|tx| tx.disassociate_nat_gateway_address(&id, &associations))
                .await?;
            address_change(ctx, &id, &gone, "disassociating").await
        }
        Action::DescribeNatGateways => {
            let d = Describe {
                ids_param: "NatGatewayId",
                kind: Kind::NatGateway,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.nat_gateways.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    field,
                )?;
                let mut w = Xml::new();
                w.set("natGatewaySet", page.items, |w, n| render(w, v.region, n));
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

/// `MaxDrainDurationSeconds`: 1 to 4000 (EC2's bounds). Fort releases at once, as if
/// every connection had drained.
fn drain_seconds(p: &crate::query::Params) -> Result<(), ApiError> {
    match p.int("MaxDrainDurationSeconds")? {
        Some(n) if !(1..=4000).contains(&n) => Err(ApiError::bad_param(
            "MaxDrainDurationSeconds",
            &n.to_string(),
            "It must be between 1 and 4000.",
        )),
        _ => Ok(()),
    }
}

/// The answer of the four address actions: the gateway and the entries changed, in the
/// transitional `status` EC2 answers (the next Describe shows where they settled).
async fn address_change(
    ctx: &Ctx<'_>,
    id: &NatGatewayId,
    changed: &[NatGatewayAddress],
    status: &str,
) -> Result<Xml, ApiError> {
    ctx.read(|v| {
        let zone = v
            .region
            .nat_gateways
            .get(id)
            .and_then(|n| v.region.subnets.get(&n.subnet_id))
            .map(|s| (s.availability_zone.clone(), s.availability_zone_id.clone()));
        let mut w = Xml::new();
        w.leaf("natGatewayId", id)
            .set("natGatewayAddressSet", changed, |w, a| {
                render_address(w, a, status, zone.as_ref())
            });
        w
    })
    .await
}

const FILTERS: &[&str] = &["nat-gateway-id", "state", "subnet-id", "vpc-id"];

fn field(n: &NatGateway, name: &str) -> Vec<String> {
    match name {
        "nat-gateway-id" => vec![n.id.to_string()],
        "state" => vec![n.state.as_str().to_owned()],
        "subnet-id" => vec![n.subnet_id.to_string()],
        "vpc-id" => vec![n.vpc_id.to_string()],
        _ => vec![],
    }
}

pub fn render(w: &mut Xml, region: &Region, n: &NatGateway) {
    render_with(w, region, n, None)
}

/// `requested`: the elastic IP CreateNatGateway named. EC2's answer lists it
/// (`associating`) even for a gateway that goes on to fail before it has an interface.
fn render_with(w: &mut Xml, region: &Region, n: &NatGateway, requested: Option<&str>) {
    let zone = region
        .subnets
        .get(&n.subnet_id)
        .map(|s| (s.availability_zone.clone(), s.availability_zone_id.clone()));
    w.leaf("createTime", format_time(n.create_time))
        .opt("deleteTime", n.delete_time.map(format_time))
        .opt("failureCode", n.failure_code.map(ErrorCode::as_str))
        .opt("failureMessage", n.failure_message.as_deref());
    match requested {
        Some(allocation_id) if n.addresses.is_empty() => {
            w.el("natGatewayAddressSet", |w| {
                w.el("item", |w| {
                    w.leaf("allocationId", allocation_id)
                        .leaf("isPrimary", b(true))
                        .leaf("status", "associating");
                });
            });
        }
        _ => {
            // EC2's statuses (NatGatewayAddressStatus) have no `disassociated`: a deleted
            // gateway's addresses keep the last change's outcome (unverified against EC2)
            let status = match n.state {
                NatGatewayState::Pending => "associating",
                NatGatewayState::Deleting => "disassociating",
                _ => "succeeded",
            };
            w.set("natGatewayAddressSet", &n.addresses, |w, a| {
                render_address(w, a, status, zone.as_ref())
            });
        }
    }
    w.leaf("natGatewayId", &n.id)
        .leaf("state", n.state)
        .leaf("subnetId", &n.subnet_id)
        .leaf("vpcId", &n.vpc_id)
        .tag_set(&n.tags)
        .leaf("connectivityType", n.connectivity_type)
        .leaf("availabilityMode", "zonal");
}

fn render_address(
    w: &mut Xml,
    a: &NatGatewayAddress,
    status: &str,
    zone: Option<&(String, String)>,
) {
    w.opt("allocationId", a.allocation_id.as_deref())
        .leaf("networkInterfaceId", &a.network_interface_id)
        .leaf("privateIp", a.private_ip)
        .opt("publicIp", a.public_ip)
        .opt("associationId", a.association_id.as_deref())
        .leaf("isPrimary", b(a.is_primary))
        .leaf("status", status);
    if let Some((z, zid)) = zone {
        w.leaf("availabilityZone", z)
            .leaf("availabilityZoneId", zid);
    }
}
