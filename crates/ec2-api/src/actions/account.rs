//! What the account and region look like: regions, zones, account attributes, and where
//! each instance type is offered.

use fort_control::image::INSTANCE_TYPES;
use fort_control::zones::{self, REGIONS, Zone};
use fort_model::{ApiError, ErrorCode};

use super::{Ctx, next_token};
use crate::filter::{Filters, paginate};
use crate::xml::Xml;

crate::actions!(
    DescribeRegions,
    DescribeAvailabilityZones,
    DescribeAccountAttributes,
    DescribeInstanceTypeOfferings
);

/// One row of DescribeRegions: name, endpoint, opt-in status.
struct RegionRow {
    name: String,
    endpoint: String,
    opt_in: &'static str,
}

fn region_row(name: &str) -> RegionRow {
    RegionRow {
        name: name.to_owned(),
        endpoint: format!("ec2.{name}.amazonaws.com"),
        opt_in: zones::opt_in_status(name),
    }
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    let config = ctx.control.config();
    match action {
        Action::DescribeRegions => {
            let filters = Filters::parse(p, &["endpoint", "region-name", "opt-in-status"])?;
            let names = p.strings("RegionName")?;
            let all = p.bool("AllRegions")?.unwrap_or(false);
            let mut known: Vec<RegionRow> = REGIONS.iter().map(|r| region_row(r.name)).collect();
            // A region outside AWS's list that a request is signed for still works.
            if zones::region_info(&ctx.scope.region).is_none() {
                known.push(region_row(&ctx.scope.region));
            }
            for n in &names {
                if !known.iter().any(|r| &r.name == n) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        format!("Invalid region: {n}"),
                    ));
                }
            }
            let rows = known.iter().filter(|r| {
                let listed = if names.is_empty() {
                    // Without AllRegions, only the regions enabled for the account.
                    all || r.opt_in != "not-opted-in"
                } else {
                    names.contains(&r.name)
                };
                listed
                    && filters.matches(&Default::default(), |f| match f {
                        "region-name" => vec![r.name.clone()],
                        "endpoint" => vec![r.endpoint.clone()],
                        "opt-in-status" => vec![r.opt_in.to_owned()],
                        _ => vec![],
                    })
            });
            let mut w = Xml::new();
            w.set("regionInfo", rows, |w, r| {
                w.leaf("regionName", &r.name)
                    .leaf("regionEndpoint", &r.endpoint)
                    .leaf("optInStatus", r.opt_in);
            });
            Ok(w)
        }
        Action::DescribeAvailabilityZones => {
            let filters = Filters::parse(
                p,
                &[
                    "group-long-name",
                    "group-name",
                    "message",
                    "opt-in-status",
                    "parent-zone-id",
                    "parent-zone-name",
                    "region-name",
                    "state",
                    "zone-id",
                    "zone-name",
                    "zone-type",
                ],
            )?;
            // AllAvailabilityZones adds Local and Wavelength Zones: Fort has none.
            p.bool("AllAvailabilityZones")?;
            let region = &ctx.scope.region;
            let zones = zones::zones_of(region);
            let names = p.strings("ZoneName")?;
            let ids = p.strings("ZoneId")?;
            for n in names.iter().chain(&ids) {
                if !zones.iter().any(|z| &z.name == n || &z.id == n) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        format!("Invalid availability zone: [{n}]"),
                    ));
                }
            }
            let rows = zones.iter().filter(|z| {
                (names.is_empty() && ids.is_empty()
                    || names.contains(&z.name)
                    || ids.contains(&z.id))
                    && filters.matches(&Default::default(), |f| zone_field(z, f))
            });
            let mut w = Xml::new();
            w.set("availabilityZoneInfo", rows, |w, z| {
                w.leaf("optInStatus", "opt-in-not-required")
                    .set("messageSet", [(); 0], |_, ()| {})
                    .leaf("regionName", &z.region)
                    .leaf("zoneName", &z.name)
                    .leaf("zoneId", &z.id)
                    .leaf("groupName", &z.group_name)
                    .leaf("networkBorderGroup", &z.region)
                    .leaf("zoneType", "availability-zone")
                    .leaf("groupLongName", &z.group_long_name)
                    .leaf("zoneState", "available");
            });
            Ok(w)
        }
        Action::DescribeAccountAttributes => {
            const NAMES: [&str; 6] = [
                "vpc-max-security-groups-per-interface",
                "max-instances",
                "supported-platforms",
                "default-vpc",
                "max-elastic-ips",
                "vpc-max-elastic-ips",
            ];
            let wanted = p.strings("AttributeName")?;
            for n in &wanted {
                if !NAMES.contains(&n.as_str()) {
                    return Err(ApiError::invalid_value(format!(
                        "Value ({n}) for parameter attributeName is invalid. Unknown attribute."
                    )));
                }
            }
            let q = &config.quotas;
            let default_vpc = ctx
                .read(|v| v.region.default_vpc().map(|x| x.id.to_string()))
                .await?
                .unwrap_or_else(|| "none".into());
            let value = |n: &str| -> String {
                match n {
                    "vpc-max-security-groups-per-interface" => {
                        q.security_groups_per_interface.to_string()
                    }
                    "max-instances" => q.instances.to_string(),
                    "supported-platforms" => "VPC".into(),
                    "default-vpc" => default_vpc.clone(),
                    _ => q.elastic_ips.to_string(),
                }
            };
            let mut w = Xml::new();
            w.set(
                "accountAttributeSet",
                NAMES
                    .iter()
                    .filter(|n| wanted.is_empty() || wanted.iter().any(|x| x == *n)),
                |w, n| {
                    w.leaf("attributeName", n)
                        .set("attributeValueSet", [value(n)], |w, v| {
                            w.leaf("attributeValue", v);
                        });
                },
            );
            Ok(w)
        }
        Action::DescribeInstanceTypeOfferings => {
            let filters = Filters::parse(p, &["instance-type", "location"])?;
            let kind = p.get("LocationType").unwrap_or("region");
            let region = &ctx.scope.region;
            let locations: Vec<String> = match kind {
                "region" => vec![region.clone()],
                "availability-zone" => zones::zone_names(region),
                "availability-zone-id" => {
                    zones::zones_of(region).into_iter().map(|z| z.id).collect()
                }
                // Fort has no Outposts.
                "outpost" => vec![],
                other => {
                    return Err(ApiError::invalid_value(format!(
                        "Value ({other}) for parameter locationType is invalid. Valid values are region, availability-zone, availability-zone-id, outpost."
                    )));
                }
            };
            let rows: Vec<(&str, &String)> = locations
                .iter()
                .flat_map(|l| INSTANCE_TYPES.iter().map(move |t| (t.name, l)))
                .filter(|(t, l)| {
                    filters.matches(&Default::default(), |f| match f {
                        "instance-type" => vec![(*t).to_owned()],
                        "location" => vec![(*l).clone()],
                        _ => vec![],
                    })
                })
                .collect();
            let page = paginate(rows, |(t, l)| format!("{l}/{t}"), p, (5, 1000))?;
            let mut w = Xml::new();
            w.set("instanceTypeOfferingSet", page.items, |w, (t, l)| {
                w.leaf("instanceType", t)
                    .leaf("locationType", kind)
                    .leaf("location", l);
            });
            next_token(&mut w, page.next_token);
            Ok(w)
        }
    }
}

/// A zone's values for DescribeAvailabilityZones' filter `name`.
fn zone_field(z: &Zone, name: &str) -> Vec<String> {
    match name {
        "group-long-name" => vec![z.group_long_name.clone()],
        "group-name" => vec![z.group_name.clone()],
        "opt-in-status" => vec!["opt-in-not-required".into()],
        "region-name" => vec![z.region.clone()],
        "state" => vec!["available".into()],
        "zone-id" => vec![z.id.clone()],
        "zone-name" => vec![z.name.clone()],
        "zone-type" => vec!["availability-zone".into()],
        _ => vec![],
    }
}
