//! What the account and region look like: regions, zones, account attributes.

use fort_model::{ApiError, ErrorCode};

use super::Ctx;
use crate::filter::Filters;
use crate::xml::Xml;

crate::actions!(
    DescribeRegions,
    DescribeAvailabilityZones,
    DescribeAccountAttributes
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    let config = ctx.control.config();
    match action {
        Action::DescribeRegions => {
            let filters = Filters::parse(p, &["endpoint", "region-name", "opt-in-status"])?;
            let names = p.strings("RegionName")?;
            let mut regions = config.regions.clone();
            if !regions.contains(&ctx.scope.region) {
                regions.push(ctx.scope.region.clone());
            }
            for n in &names {
                if !regions.contains(n) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        format!("Invalid region: {n}"),
                    ));
                }
            }
            let mut w = Xml::new();
            let rows = regions
                .iter()
                .filter(|r| names.is_empty() || names.contains(r))
                .filter(|r| {
                    filters.matches(&Default::default(), |f| match f {
                        "region-name" => vec![(*r).clone()],
                        "endpoint" => vec![format!("ec2.{r}.amazonaws.com")],
                        "opt-in-status" => vec!["opt-in-not-required".into()],
                        _ => vec![],
                    })
                });
            w.set("regionInfo", rows, |w, r| {
                w.leaf("regionName", r)
                    .leaf("regionEndpoint", format!("ec2.{r}.amazonaws.com"))
                    .leaf("optInStatus", "opt-in-not-required");
            });
            Ok(w)
        }
        Action::DescribeAvailabilityZones => {
            let filters = Filters::parse(
                p,
                &[
                    "region-name",
                    "state",
                    "zone-id",
                    "zone-name",
                    "zone-type",
                    "group-name",
                    "opt-in-status",
                ],
            )?;
            let region = &ctx.scope.region;
            let zones = config.zones(region);
            let names = p.strings("ZoneName")?;
            let ids = p.strings("ZoneId")?;
            for n in &names {
                if !zones.contains(n) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        format!("Invalid availability zone: [{n}]"),
                    ));
                }
            }
            for id in &ids {
                if !zones.iter().any(|z| &config.zone_id(z) == id) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        format!("Invalid availability zone: [{id}]"),
                    ));
                }
            }
            let rows = zones.iter().filter(|z| {
                (names.is_empty() && ids.is_empty()
                    || names.contains(z)
                    || ids.contains(&config.zone_id(z)))
                    && filters.matches(&Default::default(), |f| match f {
                        "region-name" => vec![region.clone()],
                        "state" => vec!["available".into()],
                        "zone-id" => vec![config.zone_id(z)],
                        "zone-name" => vec![(*z).clone()],
                        "zone-type" => vec!["availability-zone".into()],
                        "group-name" => vec![region.clone()],
                        "opt-in-status" => vec!["opt-in-not-required".into()],
                        _ => vec![],
                    })
            });
            let mut w = Xml::new();
            w.set("availabilityZoneInfo", rows, |w, z| {
                w.leaf("zoneName", z)
                    .leaf("zoneState", "available")
                    .leaf("regionName", region)
                    .leaf("zoneId", config.zone_id(z))
                    .leaf("zoneType", "availability-zone")
                    .leaf("groupName", region)
                    .leaf("networkBorderGroup", region)
                    .leaf("optInStatus", "opt-in-not-required")
                    .set("messageSet", [(); 0], |_, ()| {});
            });
            Ok(w)
        }
        Action::DescribeAccountAttributes => {
            let q = &config.quotas;
            let default_vpc = ctx
                .read(|v| v.region.default_vpc().map(|x| x.id.to_string()))
                .await?
                .unwrap_or_else(|| "none".into());
            let attrs: Vec<(&str, Vec<String>)> = vec![
                ("supported-platforms", vec!["VPC".into()]),
                ("default-vpc", vec![default_vpc]),
                ("max-instances", vec![q.instances.to_string()]),
                (
                    "vpc-max-security-groups-per-interface",
                    vec![q.security_groups_per_interface.to_string()],
                ),
                ("max-elastic-ips", vec![q.elastic_ips.to_string()]),
                ("vpc-max-elastic-ips", vec![q.elastic_ips.to_string()]),
            ];
            let wanted = p.strings("AttributeName")?;
            let mut w = Xml::new();
            w.set(
                "accountAttributeSet",
                attrs
                    .iter()
                    .filter(|(n, _)| wanted.is_empty() || wanted.iter().any(|x| x == n)),
                |w, (n, vals)| {
                    w.leaf("attributeName", n)
                        .set("attributeValueSet", vals, |w, v| {
                            w.leaf("attributeValue", v);
                        });
                },
            );
            Ok(w)
        }
    }
}
