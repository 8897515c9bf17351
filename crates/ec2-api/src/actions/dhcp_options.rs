//! DHCP options actions.
#![allow(clippy::enum_variant_names)] // every action of the module names DhcpOptions

use fort_model::{ApiError, DhcpOptions, DhcpOptionsId, Kind};

use super::{Ctx, Describe, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateDhcpOptions,
    DeleteDhcpOptions,
    DescribeDhcpOptions,
    AssociateDhcpOptions,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateDhcpOptions => {
            let configurations = p
                .list("DhcpConfiguration")?
                .into_iter()
                .map(|c| Ok((c.req("Key")?.to_owned(), c.strings("Value")?)))
                .collect::<Result<Vec<_>, ApiError>>()?;
            let tags = ctx.tag_specs(&["dhcp-options"])?;
            let d = ctx
                .write(|tx| tx.create_dhcp_options(configurations, tags))
                .await?;
            let mut w = Xml::new();
            w.el("dhcpOptions", |w| render(w, &d, ctx.account()));
            Ok(w)
        }
        Action::DeleteDhcpOptions => {
            let id = DhcpOptionsId::parse(p.req("DhcpOptionsId")?)?;
            ctx.write(|tx| tx.delete_dhcp_options(&id)).await?;
            Ok(ok_return())
        }
        Action::AssociateDhcpOptions => {
            let id = p.req("DhcpOptionsId")?;
            let vpc = p.req("VpcId")?;
            // `default` names no set; control checked the set before the VPC.
            let id = (id != "default")
                .then(|| DhcpOptionsId::parse(id))
                .transpose()?;
            ctx.write(|tx| tx.associate_dhcp_options(id.as_ref(), vpc))
                .await?;
            Ok(ok_return())
        }
        Action::DescribeDhcpOptions => {
            let d = Describe {
                ids_param: "DhcpOptionsId",
                kind: Kind::DhcpOptions,
                filters: &["dhcp-options-id", "key", "value", "owner-id"],
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.dhcp_options.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| match n {
                        "dhcp-options-id" => vec![x.id.to_string()],
                        "key" => x.configurations.iter().map(|(k, _)| k.clone()).collect(),
                        "value" => x
                            .configurations
                            .iter()
                            .flat_map(|(_, vs)| vs.iter().cloned())
                            .collect(),
                        "owner-id" => vec![ctx.account().to_owned()],
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("dhcpOptionsSet", page.items, |w, d| {
                    render(w, d, ctx.account())
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

pub fn render(w: &mut Xml, d: &DhcpOptions, account: &str) {
    w.leaf("dhcpOptionsId", &d.id)
        .set("dhcpConfigurationSet", &d.configurations, |w, (k, vs)| {
            w.leaf("key", k).set("valueSet", vs, |w, v| {
                w.leaf("value", v);
            });
        })
        .leaf("ownerId", account)
        .tag_set(&d.tags);
}
