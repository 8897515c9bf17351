//! Carrier gateway actions. EC2 answers CreateCarrierGateway with the gateway `pending` and
//! DeleteCarrierGateway with it `deleting` (its CLI examples); Describe shows the settled
//! state (`available`; a deleted gateway is gone).

use fort_model::{ApiError, CarrierGateway, CarrierGatewayId, Kind};

use super::{Ctx, Describe, next_token};
use crate::xml::Xml;

crate::actions!(
    CreateCarrierGateway,
    DeleteCarrierGateway,
    DescribeCarrierGateways,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateCarrierGateway => {
            let vpc_id = p.req("VpcId")?;
            let tags = ctx.tag_specs(&["carrier-gateway"])?;
            let token = ctx.client_token()?;
            let gateway = ctx
                .write(|tx| tx.create_carrier_gateway(vpc_id, tags, token.as_ref()))
                .await?;
            let mut w = Xml::new();
            w.el("carrierGateway", |w| {
                render(w, &gateway, "pending", ctx.account())
            });
            Ok(w)
        }
        Action::DeleteCarrierGateway => {
            let id = CarrierGatewayId::parse(p.req("CarrierGatewayId")?)?;
            let gateway = ctx.write(|tx| tx.delete_carrier_gateway(&id)).await?;
            let mut w = Xml::new();
            w.el("carrierGateway", |w| {
                render(w, &gateway, "deleting", ctx.account())
            });
            Ok(w)
        }
        Action::DescribeCarrierGateways => {
            let d = Describe {
                ids_param: "CarrierGatewayId",
                kind: Kind::CarrierGateway,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.carrier_gateways.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(x, n, ctx.account()),
                )?;
                let mut w = Xml::new();
                w.set("carrierGatewaySet", page.items, |w, g| {
                    render(w, g, "available", ctx.account())
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

/// DescribeCarrierGateways' filters (besides `tag:KEY` and `tag-key`).
const FILTERS: &[&str] = &["carrier-gateway-id", "state", "owner-id", "vpc-id"];

fn field(g: &CarrierGateway, name: &str, account: &str) -> Vec<String> {
    match name {
        "carrier-gateway-id" => vec![g.id.to_string()],
        "state" => vec!["available".to_owned()],
        "owner-id" => vec![account.to_owned()],
        "vpc-id" => vec![g.vpc_id.to_string()],
        _ => vec![],
    }
}

fn render(w: &mut Xml, g: &CarrierGateway, state: &str, account: &str) {
    w.leaf("carrierGatewayId", &g.id)
        .leaf("vpcId", &g.vpc_id)
        .leaf("state", state)
        .leaf("ownerId", account)
        .tags(&g.tags);
}
