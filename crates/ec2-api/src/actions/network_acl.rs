//! Network ACL actions.

use fort_control::network_acl::{NetworkAclEntryRequest, shown_entries};
use fort_control::region::Region;
use fort_model::{
    ApiError, Kind, NetworkAcl, NetworkAclAssociationId, NetworkAclEntry, NetworkAclId,
};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateNetworkAcl,
    DeleteNetworkAcl,
    CreateNetworkAclEntry,
    ReplaceNetworkAclEntry,
    DeleteNetworkAclEntry,
    ReplaceNetworkAclAssociation,
    DescribeNetworkAcls,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateNetworkAcl => {
            let vpc_id = p.req("VpcId")?;
            let tags = ctx.tag_specs(&["network-acl"])?;
            let token = ctx.client_token()?;
            let raw_token = p.opt_str("ClientToken");
            let acl = ctx
                .write(|tx| tx.create_network_acl(vpc_id, token.as_ref(), tags))
                .await?;
            let mut w = ctx
                .read(|v| {
                    let mut w = Xml::new();
                    w.el("networkAcl", |w| render(w, &acl, ctx.account(), v.region));
                    w
                })
                .await?;
            w.opt("clientToken", raw_token);
            Ok(w)
        }
        Action::DeleteNetworkAcl => {
            let id = NetworkAclId::parse(p.req("NetworkAclId")?)?;
            ctx.write(|tx| tx.delete_network_acl(&id)).await?;
            Ok(ok_return())
        }
        Action::CreateNetworkAclEntry => {
            let req = entry_request(p)?;
            ctx.write(|tx| tx.create_network_acl_entry(&req)).await?;
            Ok(ok_return())
        }
        Action::ReplaceNetworkAclEntry => {
            let req = entry_request(p)?;
            ctx.write(|tx| tx.replace_network_acl_entry(&req)).await?;
            Ok(ok_return())
        }
        Action::DeleteNetworkAclEntry => {
            let id = p.req("NetworkAclId")?;
            let rule = p
                .int("RuleNumber")?
                .ok_or_else(|| ApiError::missing("RuleNumber"))?;
            let egress = p
                .bool("Egress")?
                .ok_or_else(|| ApiError::missing("Egress"))?;
            let id = NetworkAclId::parse(id)?;
            ctx.write(|tx| tx.delete_network_acl_entry(&id, rule, egress))
                .await?;
            Ok(ok_return())
        }
        Action::ReplaceNetworkAclAssociation => {
            let assoc = p.req("AssociationId")?;
            let acl = p.req("NetworkAclId")?;
            // In the order control checked them: the association's form, then the ACL.
            let assoc = NetworkAclAssociationId::parse(assoc)?;
            let acl = NetworkAclId::parse(acl)?;
            let new_id = ctx
                .write(|tx| tx.replace_network_acl_association(&assoc, &acl))
                .await?;
            let mut w = Xml::new();
            w.leaf("newAssociationId", new_id);
            Ok(w)
        }
        Action::DescribeNetworkAcls => {
            let d = Describe {
                ids_param: "NetworkAclId",
                kind: Kind::NetworkAcl,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.network_acls.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(x, n, ctx.account(), v.region),
                )?;
                let mut w = Xml::new();
                w.set("networkAclSet", page.items, |w, acl| {
                    render(w, acl, ctx.account(), v.region)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

/// The ACL id is parsed once every parameter is read: their errors come first, as when
/// control checked the id.
fn entry_request(p: &Params) -> Result<NetworkAclEntryRequest, ApiError> {
    let range = p.child("PortRange");
    let icmp = p.child("Icmp");
    let network_acl_id = p.req("NetworkAclId")?;
    let rule_number = p
        .int("RuleNumber")?
        .ok_or_else(|| ApiError::missing("RuleNumber"))?;
    let protocol = p.req("Protocol")?.to_owned();
    let rule_action = p.req("RuleAction")?.to_owned();
    let egress = p
        .bool("Egress")?
        .ok_or_else(|| ApiError::missing("Egress"))?;
    let cidr_block = p.opt_str("CidrBlock");
    let ipv6_cidr_block = p.opt_str("Ipv6CidrBlock");
    let port_from = range.int("From")?;
    let port_to = range.int("To")?;
    let icmp_type = icmp.int("Type")?;
    let icmp_code = icmp.int("Code")?;
    Ok(NetworkAclEntryRequest {
        network_acl_id: NetworkAclId::parse(network_acl_id)?,
        rule_number,
        protocol,
        rule_action,
        egress,
        cidr_block,
        ipv6_cidr_block,
        port_from,
        port_to,
        icmp_type,
        icmp_code,
    })
}

const FILTERS: &[&str] = &[
    "association.association-id",
    "association.network-acl-id",
    "association.subnet-id",
    "default",
    "entry.cidr",
    "entry.icmp.code",
    "entry.icmp.type",
    "entry.ipv6-cidr",
    "entry.port-range.from",
    "entry.port-range.to",
    "entry.protocol",
    "entry.rule-action",
    "entry.egress",
    "entry.rule-number",
    "network-acl-id",
    "owner-id",
    "vpc-id",
];

fn field(a: &NetworkAcl, name: &str, account: &str, region: &Region) -> Vec<String> {
    let entries = || shown_entries(a, region);
    match name {
        "association.association-id" => a.associations.iter().map(|s| s.id.to_string()).collect(),
        "association.network-acl-id" => {
            if a.associations.is_empty() {
                vec![]
            } else {
                vec![a.id.to_string()]
            }
        }
        "association.subnet-id" => a
            .associations
            .iter()
            .map(|s| s.subnet_id.to_string())
            .collect(),
        "default" => vec![b(a.is_default).into()],
        "entry.cidr" => entries()
            .iter()
            .filter_map(|e| e.cidr.map(|c| c.to_string()))
            .collect(),
        "entry.ipv6-cidr" => entries()
            .iter()
            .filter_map(|e| e.ipv6_cidr.clone())
            .collect(),
        "entry.icmp.type" => entries()
            .iter()
            .filter_map(|e| e.icmp.map(|i| i.0.to_string()))
            .collect(),
        "entry.icmp.code" => entries()
            .iter()
            .filter_map(|e| e.icmp.map(|i| i.1.to_string()))
            .collect(),
        "entry.port-range.from" => entries()
            .iter()
            .filter_map(|e| e.port_range.map(|r| r.0.to_string()))
            .collect(),
        "entry.port-range.to" => entries()
            .iter()
            .filter_map(|e| e.port_range.map(|r| r.1.to_string()))
            .collect(),
        "entry.protocol" => entries()
            .iter()
            .map(|e| e.protocol.network_acl_text())
            .collect(),
        "entry.rule-action" => entries()
            .iter()
            .map(|e| action_name(e).to_owned())
            .collect(),
        "entry.egress" => entries().iter().map(|e| b(e.egress).to_owned()).collect(),
        "entry.rule-number" => entries()
            .iter()
            .map(|e| e.rule_number.to_string())
            .collect(),
        "network-acl-id" => vec![a.id.to_string()],
        "owner-id" => vec![account.to_owned()],
        "vpc-id" => vec![a.vpc_id.to_string()],
        _ => vec![],
    }
}

fn action_name(e: &NetworkAclEntry) -> &'static str {
    if e.allow { "allow" } else { "deny" }
}

pub fn render(w: &mut Xml, acl: &NetworkAcl, account: &str, region: &Region) {
    w.leaf("networkAclId", &acl.id)
        .leaf("vpcId", &acl.vpc_id)
        .leaf("default", b(acl.is_default))
        .set("entrySet", shown_entries(acl, region), |w, e| {
            w.leaf("ruleNumber", e.rule_number)
                .leaf("protocol", e.protocol.network_acl_text())
                .leaf("ruleAction", action_name(&e))
                .leaf("egress", b(e.egress))
                .opt("cidrBlock", e.cidr)
                .opt("ipv6CidrBlock", e.ipv6_cidr.as_deref());
            if let Some((t, c)) = e.icmp {
                w.el("icmpTypeCode", |w| {
                    w.leaf("code", c).leaf("type", t);
                });
            }
            if let Some((from, to)) = e.port_range {
                w.el("portRange", |w| {
                    w.leaf("from", from).leaf("to", to);
                });
            }
        })
        .set("associationSet", &acl.associations, |w, s| {
            w.leaf("networkAclAssociationId", &s.id)
                .leaf("networkAclId", &acl.id)
                .leaf("subnetId", &s.subnet_id);
        })
        .tag_set(&acl.tags)
        .leaf("ownerId", account);
}
