//! ClassicLink: the VPC side of linking EC2-Classic instances, which EC2 still answers.
//! Fort has no EC2-Classic, so no instance is ever linked.

use fort_model::{ApiError, Kind, Vpc};

use super::{Ctx, Describe, b, next_token};
use crate::xml::Xml;

crate::actions!(
    DescribeVpcClassicLink,
    EnableVpcClassicLink,
    DisableVpcClassicLink,
    DescribeVpcClassicLinkDnsSupport,
    EnableVpcClassicLinkDnsSupport,
    DisableVpcClassicLinkDnsSupport,
    DescribeClassicLinkInstances,
    AttachClassicLinkVpc,
    DetachClassicLinkVpc,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    let answer = |on: bool| {
        let mut w = Xml::new();
        w.leaf("return", b(on));
        w
    };
    match action {
        Action::DescribeVpcClassicLink | Action::DescribeVpcClassicLinkDnsSupport => {
            let dns = action == Action::DescribeVpcClassicLinkDnsSupport;
            let d = Describe {
                ids_param: if dns { "VpcIds" } else { "VpcId" },
                kind: Kind::Vpc,
                filters: if dns { &[] } else { FILTERS },
                page: dns.then_some((5, 255)),
            };
            ctx.read(|v| {
                let page = d.run(p, v.region.vpcs.values(), |x| &x.id, |x| &x.tags, field)?;
                let mut w = Xml::new();
                w.set(if dns { "vpcs" } else { "vpcSet" }, page.items, |w, vpc| {
                    w.leaf("vpcId", &vpc.id);
                    if dns {
                        w.leaf("classicLinkDnsSupported", b(vpc.classic_link_dns_supported));
                    } else {
                        w.leaf("classicLinkEnabled", b(vpc.classic_link_enabled));
                        w.tags(&vpc.tags);
                    }
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::EnableVpcClassicLink => {
            let id = p.req("VpcId")?;
            Ok(answer(
                ctx.write(|tx| tx.enable_vpc_classic_link(id)).await?,
            ))
        }
        Action::DisableVpcClassicLink => {
            let id = p.req("VpcId")?;
            Ok(answer(
                ctx.write(|tx| tx.disable_vpc_classic_link(id)).await?,
            ))
        }
        Action::EnableVpcClassicLinkDnsSupport | Action::DisableVpcClassicLinkDnsSupport => {
            let id = p.req("VpcId")?;
            let on = action == Action::EnableVpcClassicLinkDnsSupport;
            Ok(answer(
                ctx.write(|tx| tx.set_vpc_classic_link_dns_support(id, on))
                    .await?,
            ))
        }
        Action::DescribeClassicLinkInstances => {
            // every instance is in a VPC: none is an EC2-Classic instance linked to one
            let mut w = Xml::new();
            w.set("instancesSet", std::iter::empty::<()>(), |_, _| {});
            Ok(w)
        }
        Action::AttachClassicLinkVpc | Action::DetachClassicLinkVpc => {
            let instance = p.req("InstanceId")?;
            let vpc = p.req("VpcId")?;
            ctx.read(|v| {
                v.region.vpcs.find(Kind::Vpc, vpc)?;
                v.region.instances.find(Kind::Instance, instance)?;
                Err(ApiError::invalid_value(format!(
                    "Instance '{instance}' is in a VPC and cannot be linked to VPC '{vpc}' through ClassicLink."
                )))
            })
            .await?
        }
    }
}

const FILTERS: &[&str] = &["is-classic-link-enabled"];

fn field(v: &Vpc, name: &str) -> Vec<String> {
    match name {
        "is-classic-link-enabled" => vec![v.classic_link_enabled.to_string()],
        _ => vec![],
    }
}
