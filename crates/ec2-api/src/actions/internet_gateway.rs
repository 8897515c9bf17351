//! Internet gateway and egress-only internet gateway actions.

use fort_model::{
    ApiError, EgressOnlyInternetGateway, EgressOnlyInternetGatewayId, InternetGateway,
    InternetGatewayId, Kind,
};

use super::{Ctx, Describe, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateInternetGateway,
    DeleteInternetGateway,
    DescribeInternetGateways,
    AttachInternetGateway,
    DetachInternetGateway,
    CreateEgressOnlyInternetGateway,
    DeleteEgressOnlyInternetGateway,
    DescribeEgressOnlyInternetGateways,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateInternetGateway => {
            let tags = ctx.tag_specs(&["internet-gateway"])?;
            let igw = ctx.write(|tx| tx.create_internet_gateway(tags)).await?;
            let mut w = Xml::new();
            w.el("internetGateway", |w| render(w, &igw, ctx.account()));
            Ok(w)
        }
        Action::DeleteInternetGateway => {
            let id = InternetGatewayId::parse(p.req("InternetGatewayId")?)?;
            ctx.write(|tx| tx.delete_internet_gateway(&id)).await?;
            Ok(ok_return())
        }
        Action::AttachInternetGateway => {
            let id = p.req("InternetGatewayId")?;
            let vpc = p.req("VpcId")?;
            let id = InternetGatewayId::parse(id)?;
            ctx.write(|tx| tx.attach_internet_gateway(&id, vpc)).await?;
            Ok(ok_return())
        }
        Action::DetachInternetGateway => {
            let id = p.req("InternetGatewayId")?;
            let vpc = p.req("VpcId")?;
            let id = InternetGatewayId::parse(id)?;
            ctx.write(|tx| tx.detach_internet_gateway(&id, vpc)).await?;
            Ok(ok_return())
        }
        Action::DescribeInternetGateways => {
            let d = Describe {
                ids_param: "InternetGatewayId",
                kind: Kind::InternetGateway,
                filters: IGW_FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.internet_gateways.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| igw_field(x, n, ctx.account()),
                )?;
                let mut w = Xml::new();
                w.set("internetGatewaySet", page.items, |w, g| {
                    render(w, g, ctx.account())
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::CreateEgressOnlyInternetGateway => {
            let vpc_id = p.req("VpcId")?;
            let tags = ctx.tag_specs(&["egress-only-internet-gateway"])?;
            let token = ctx.client_token()?;
            let eigw = ctx
                .write(|tx| tx.create_egress_only_internet_gateway(vpc_id, tags, token.as_ref()))
                .await?;
            let mut w = Xml::new();
            w.opt("clientToken", p.get("ClientToken"))
                .el("egressOnlyInternetGateway", |w| render_eigw(w, &eigw));
            Ok(w)
        }
        Action::DeleteEgressOnlyInternetGateway => {
            let id = EgressOnlyInternetGatewayId::parse(p.req("EgressOnlyInternetGatewayId")?)?;
            ctx.write(|tx| tx.delete_egress_only_internet_gateway(&id))
                .await?;
            let mut w = Xml::new();
            w.leaf("returnCode", "true");
            Ok(w)
        }
        Action::DescribeEgressOnlyInternetGateways => {
            let d = Describe {
                ids_param: "EgressOnlyInternetGatewayId",
                kind: Kind::EgressOnlyInternetGateway,
                filters: EIGW_FILTERS,
                page: Some((5, 255)),
            };
            ctx.read(|v| {
                let page = d.run_ignoring_unknown(
                    p,
                    v.region.egress_only_internet_gateways.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    eigw_field,
                )?;
                let mut w = Xml::new();
                w.set("egressOnlyInternetGatewaySet", page.items, render_eigw);
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

const IGW_FILTERS: &[&str] = &[
    "attachment.state",
    "attachment.vpc-id",
    "internet-gateway-id",
    "owner-id",
];

fn igw_field(g: &InternetGateway, name: &str, account: &str) -> Vec<String> {
    match name {
        "attachment.state" => g.vpc_id.iter().map(|_| "available".to_owned()).collect(),
        "attachment.vpc-id" => g.vpc_id.iter().map(ToString::to_string).collect(),
        "internet-gateway-id" => vec![g.id.to_string()],
        "owner-id" => vec![account.to_owned()],
        _ => vec![],
    }
}

/// EC2 documents only tag filters; these follow the fields shown.
const EIGW_FILTERS: &[&str] = &[
    "egress-only-internet-gateway-id",
    "attachment.state",
    "attachment.vpc-id",
];

fn eigw_field(g: &EgressOnlyInternetGateway, name: &str) -> Vec<String> {
    match name {
        "egress-only-internet-gateway-id" => vec![g.id.to_string()],
        "attachment.state" => vec!["attached".into()],
        "attachment.vpc-id" => vec![g.vpc_id.to_string()],
        _ => vec![],
    }
}

pub fn render(w: &mut Xml, g: &InternetGateway, account: &str) {
    w.leaf("internetGatewayId", &g.id)
        .set("attachmentSet", g.vpc_id.iter(), |w, vpc| {
            w.leaf("state", "available").leaf("vpcId", vpc);
        })
        .leaf("ownerId", account)
        .tag_set(&g.tags);
}

fn render_eigw(w: &mut Xml, g: &EgressOnlyInternetGateway) {
    w.leaf("egressOnlyInternetGatewayId", &g.id)
        .set("attachmentSet", [&g.vpc_id], |w, vpc| {
            w.leaf("state", "attached").leaf("vpcId", vpc);
        })
        .tags(&g.tags);
}
