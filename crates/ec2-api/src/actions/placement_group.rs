//! Placement groups: CreatePlacementGroup, DescribePlacementGroups, DeletePlacementGroup.

use fort_control::placement_group::{PlacementGroupRequest, unknown};
use fort_control::region::Region;
use fort_model::{ApiError, Kind, PlacementGroup};

use super::{Ctx, Describe, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreatePlacementGroup,
    DescribePlacementGroups,
    DeletePlacementGroup
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreatePlacementGroup => {
            let req = PlacementGroupRequest {
                name: p.opt_str("GroupName"),
                strategy: p.opt_str("Strategy"),
                partition_count: p.int("PartitionCount")?,
                spread_level: p.opt_str("SpreadLevel"),
                tags: ctx.tag_specs(&["placement-group"])?,
            };
            let group = ctx.write(|tx| tx.create_placement_group(req)).await?;
            ctx.read(|v| {
                let mut w = Xml::new();
                w.el("placementGroup", |w| render(w, v.region, &group));
                w
            })
            .await
        }
        Action::DescribePlacementGroups => {
            let names = p.strings("GroupName")?;
            let d = Describe {
                ids_param: "GroupId",
                kind: Kind::PlacementGroup,
                filters: FILTERS,
                page: None,
            };
            ctx.read(|v| {
                let groups = &v.region.placement_groups;
                if let Some(missing) = names
                    .iter()
                    .find(|n| !groups.values().any(|g| &g.name == *n))
                {
                    return Err(unknown(missing));
                }
                let region = v.region;
                let mut page = d.run(
                    p,
                    groups.values(),
                    |g| &g.id,
                    |g| &g.tags,
                    |g, f| field(region, g, f),
                )?;
                page.items
                    .retain(|g| names.is_empty() || names.contains(&g.name));
                page.items.sort_by(|a, b| a.name.cmp(&b.name));
                let mut w = Xml::new();
                w.set("placementGroupSet", page.items, |w, g| render(w, region, g));
                Ok(w)
            })
            .await?
        }
        Action::DeletePlacementGroup => {
            let name = p.req("GroupName")?.to_owned();
            ctx.write(|tx| tx.delete_placement_group(&name)).await?;
            Ok(ok_return())
        }
    }
}

const FILTERS: &[&str] = &[
    "group-name",
    "group-arn",
    "spread-level",
    "state",
    "strategy",
];

fn arn(region: &Region, g: &PlacementGroup) -> String {
    format!(
        "arn:aws:ec2:{}:{}:placement-group/{}",
        region.name, region.account, g.name
    )
}

fn field(region: &Region, g: &PlacementGroup, name: &str) -> Vec<String> {
    match name {
        "group-name" => vec![g.name.clone()],
        "group-arn" => vec![arn(region, g)],
        "spread-level" => g.spread_level.iter().cloned().collect(),
        "state" => vec!["available".into()],
        "strategy" => vec![g.strategy.as_str().into()],
        _ => vec![],
    }
}

/// A group as EC2 shows it: always `available` (Fort makes and removes it at once).
fn render(w: &mut Xml, region: &Region, g: &PlacementGroup) {
    w.leaf("groupName", &g.name)
        .leaf("state", "available")
        .leaf("strategy", g.strategy.as_str())
        .opt("partitionCount", g.partition_count)
        .leaf("groupId", &g.id)
        .tag_set(&g.tags)
        .leaf("groupArn", arn(region, g))
        .opt("spreadLevel", g.spread_level.as_deref());
}
