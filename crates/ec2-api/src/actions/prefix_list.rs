//! Managed prefix list actions, and DescribePrefixLists (AWS's service lists).

use fort_control::prefix_list::{CreateManagedPrefixList, EntryRequest, ModifyManagedPrefixList};
use fort_model::{ApiError, Kind, ManagedPrefixList, PrefixListId};

use super::{Ctx, Describe, next_token};
use crate::filter::paginate;
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateManagedPrefixList,
    ModifyManagedPrefixList,
    GetManagedPrefixListEntries,
    GetManagedPrefixListAssociations,
    RestoreManagedPrefixListVersion,
    DeleteManagedPrefixList,
    DescribeManagedPrefixLists,
    DescribePrefixLists,
);

fn entries(p: &Params, name: &str) -> Result<Vec<EntryRequest>, ApiError> {
    p.list(name)?
        .into_iter()
        .map(|e| {
            Ok(EntryRequest {
                cidr: e.req("Cidr")?.to_owned(),
                description: e.opt_str("Description"),
            })
        })
        .collect()
}

/// The answer of an action that changes a list: the operation in progress, as EC2 (which
/// does the work asynchronously) answers; Describe shows the settled state.
fn answer(ctx: &Ctx<'_>, list: &ManagedPrefixList) -> Xml {
    let mut shown = list.clone();
    shown.state = list.state.in_progress();
    shown.state_message = None;
    let mut w = Xml::new();
    w.el("prefixList", |w| render(w, &ctx.scope.region, &shown));
    w
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateManagedPrefixList => {
            let req = CreateManagedPrefixList {
                name: p.opt_str("PrefixListName"),
                address_family: p.opt_str("AddressFamily"),
                max_entries: p.int("MaxEntries")?,
                entries: entries(p, "Entry")?,
                tags: ctx.tag_specs(&["prefix-list"])?,
                client_token: ctx.client_token()?,
            };
            let list = ctx.write(|tx| tx.create_managed_prefix_list(req)).await?;
            Ok(answer(ctx, &list))
        }
        Action::ModifyManagedPrefixList => {
            let req = ModifyManagedPrefixList {
                id: PrefixListId::parse(p.req("PrefixListId")?)?,
                current_version: p.int("CurrentVersion")?,
                name: p.opt_str("PrefixListName"),
                add: entries(p, "AddEntry")?,
                remove: p
                    .list("RemoveEntry")?
                    .into_iter()
                    .map(|e| e.req("Cidr").map(str::to_owned))
                    .collect::<Result<_, _>>()?,
                max_entries: p.int("MaxEntries")?,
            };
            let list = ctx.write(|tx| tx.modify_managed_prefix_list(req)).await?;
            Ok(answer(ctx, &list))
        }
        Action::RestoreManagedPrefixListVersion => {
            let id = PrefixListId::parse(p.req("PrefixListId")?)?;
            let previous = p
                .int("PreviousVersion")?
                .ok_or_else(|| ApiError::missing("PreviousVersion"))?;
            let current = p
                .int("CurrentVersion")?
                .ok_or_else(|| ApiError::missing("CurrentVersion"))?;
            let list = ctx
                .write(|tx| tx.restore_managed_prefix_list_version(&id, previous, current))
                .await?;
            Ok(answer(ctx, &list))
        }
        Action::DeleteManagedPrefixList => {
            let id = PrefixListId::parse(p.req("PrefixListId")?)?;
            let list = ctx.write(|tx| tx.delete_managed_prefix_list(&id)).await?;
            Ok(answer(ctx, &list))
        }
        Action::GetManagedPrefixListEntries => {
            let id = p.req("PrefixListId")?.to_owned();
            let target = p.int("TargetVersion")?;
            ctx.read(|v| {
                let list = v.region.find_prefix_list(&id)?;
                let version = match target {
                    None => list.version,
                    Some(t) => u64::try_from(t)
                        .ok()
                        .filter(|t| list.entries_at(*t).is_some())
                        .ok_or_else(|| {
                            ApiError::bad_param(
                                "TargetVersion",
                                &t.to_string(),
                                &format!("The prefix list {id} has no version {t}."),
                            )
                        })?,
                };
                let all = list.entries_at(version).unwrap_or_default();
                let page = paginate(all.iter().collect(), |e| e.cidr.to_string(), p, (1, 100))?;
                let mut w = Xml::new();
                w.set("entrySet", page.items, |w, e| {
                    w.leaf("cidr", e.cidr)
                        .opt("description", e.description.as_deref());
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::GetManagedPrefixListAssociations => {
            let id = p.req("PrefixListId")?.to_owned();
            ctx.read(|v| {
                v.region.find_prefix_list(&id)?;
                let mut ids = v.region.prefix_list_associations(&id);
                ids.sort();
                let page = paginate(ids, String::clone, p, (5, 255))?;
                let mut w = Xml::new();
                w.set("prefixListAssociationSet", page.items, |w, r| {
                    w.leaf("resourceId", r)
                        .leaf("resourceOwner", &v.region.account);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeManagedPrefixLists => {
            let d = Describe {
                ids_param: "PrefixListId",
                kind: Kind::PrefixList,
                filters: &["owner-id", "prefix-list-id", "prefix-list-name"],
                page: Some((1, 100)),
            };
            ctx.read(|v| {
                let all = v.region.all_prefix_lists();
                let page = d.run(p, all.iter(), |x| &x.id, |x| &x.tags, field)?;
                let mut w = Xml::new();
                w.set("prefixListSet", page.items, |w, l| {
                    render(w, &v.region.name, l)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribePrefixLists => {
            let d = Describe {
                ids_param: "PrefixListId",
                kind: Kind::PrefixList,
                filters: &["prefix-list-id", "prefix-list-name"],
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let all = fort_model::aws_managed_prefix_lists(&v.region.name);
                let page = d.run(p, all.iter(), |x| &x.id, |x| &x.tags, field)?;
                let mut w = Xml::new();
                w.set("prefixListSet", page.items, |w, l| {
                    w.leaf("prefixListId", &l.id)
                        .leaf("prefixListName", &l.name)
                        .strings("cidrSet", l.entries().iter().map(|e| e.cidr));
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

fn field(l: &ManagedPrefixList, name: &str) -> Vec<String> {
    match name {
        "owner-id" => vec![l.owner_id.clone()],
        "prefix-list-id" => vec![l.id.to_string()],
        "prefix-list-name" => vec![l.name.clone()],
        _ => vec![],
    }
}

pub fn render(w: &mut Xml, region: &str, l: &ManagedPrefixList) {
    w.leaf("prefixListId", &l.id)
        .leaf("addressFamily", l.address_family)
        .leaf("state", l.state)
        .opt("stateMessage", l.state_message.as_deref())
        .leaf("prefixListArn", l.arn(region))
        .leaf("prefixListName", &l.name)
        .leaf("maxEntries", l.max_entries)
        .leaf("version", l.version)
        .tag_set(&l.tags)
        .leaf("ownerId", &l.owner_id);
}
