//! Spot Instance requests: RequestSpotInstances, DescribeSpotInstanceRequests,
//! CancelSpotInstanceRequests (RunInstances on the Spot market makes requests too).

use fort_control::spot::{Schedule, SpotRequestSpec};
use fort_model::{
    ApiError, ErrorCode, Kind, SpotInstanceRequest, SpotInstanceRequestId, SpotLaunchSpecification,
    SubnetId, format_time,
};

use super::instance::{interruption_behavior, run_request, spot_type};
use super::{Ctx, Describe, b, next_token};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    RequestSpotInstances,
    DescribeSpotInstanceRequests,
    CancelSpotInstanceRequests,
);

const FILTERS: &[&str] = &[
    "availability-zone-group",
    "create-time",
    "instance-id",
    "instance-interruption-behavior",
    "launch-group",
    "launch.ebs-optimized",
    "launch.group-id",
    "launch.group-name",
    "launch.image-id",
    "launch.instance-type",
    "launch.key-name",
    "launch.monitoring-enabled",
    "launched-availability-zone",
    "product-description",
    "spot-instance-request-id",
    "spot-price",
    "state",
    "status-code",
    "status-message",
    "type",
    "valid-from",
    "valid-until",
];

/// The parameters under `prefix.` of `p`, as a request of their own with `extra` added
/// (RequestSpotInstances' `LaunchSpecification` is RunInstances' parameters by name).
pub(crate) fn reparent(
    p: &Params,
    prefix: &str,
    extra: &[(&str, String)],
) -> Result<Params, ApiError> {
    let lead = format!("{prefix}.");
    Params::from_pairs(
        p.child(prefix)
            .flatten()
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(&lead).map(|k| (k.to_owned(), v)))
            .chain(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone()))),
    )
}

fn field(r: &SpotInstanceRequest, name: &str) -> Vec<String> {
    let one = |v: String| vec![v];
    let l = &r.launch;
    match name {
        "availability-zone-group" => r.availability_zone_group.iter().cloned().collect(),
        "create-time" => one(format_time(r.create_time)),
        "instance-id" => r.instance_id.iter().map(ToString::to_string).collect(),
        "instance-interruption-behavior" => one(r.interruption_behavior.as_str().into()),
        "launch-group" => r.launch_group.iter().cloned().collect(),
        "launch.ebs-optimized" => one(b(l.ebs_optimized).into()),
        "launch.group-id" => l.groups.iter().map(|g| g.0.to_string()).collect(),
        "launch.group-name" => l.groups.iter().map(|g| g.1.clone()).collect(),
        "launch.image-id" => one(l.image_id.clone()),
        "launch.instance-type" => one(l.instance_type.clone()),
        "launch.key-name" => l.key_name.iter().cloned().collect(),
        "launch.monitoring-enabled" => one(b(l.monitoring).into()),
        "launched-availability-zone" => r.launched_availability_zone.iter().cloned().collect(),
        "product-description" => one("Linux/UNIX".into()),
        "spot-instance-request-id" => one(r.id.to_string()),
        "spot-price" => r.spot_price.iter().cloned().collect(),
        "state" => one(r.state.as_str().into()),
        "status-code" => one(r.status_code.clone()),
        "status-message" => one(r.status_message.clone()),
        "type" => one(r.request_type.as_str().into()),
        "valid-from" => r.valid_from.map(format_time).into_iter().collect(),
        "valid-until" => r.valid_until.map(format_time).into_iter().collect(),
        _ => vec![],
    }
}

fn render(w: &mut Xml, r: &SpotInstanceRequest) {
    let l = &r.launch;
    w.leaf("spotInstanceRequestId", &r.id)
        .opt("spotPrice", r.spot_price.as_deref())
        .leaf("type", r.request_type)
        .leaf("state", r.state)
        .el("status", |w| {
            w.leaf("code", &r.status_code)
                .leaf("updateTime", format_time(r.status_time))
                .leaf("message", &r.status_message);
        })
        .opt("validFrom", r.valid_from.map(format_time))
        .opt("validUntil", r.valid_until.map(format_time))
        .opt("launchGroup", r.launch_group.as_deref())
        .opt(
            "availabilityZoneGroup",
            r.availability_zone_group.as_deref(),
        )
        .el("launchSpecification", |w| {
            w.leaf("imageId", &l.image_id)
                .opt("keyName", l.key_name.as_deref())
                .set("groupSet", &l.groups, |w, (id, name)| {
                    w.leaf("groupId", id).leaf("groupName", name);
                })
                .leaf("instanceType", &l.instance_type);
            if let Some(z) = &l.availability_zone {
                w.el("placement", |w| {
                    w.leaf("availabilityZone", z);
                });
            }
            w.opt("subnetId", l.subnet_id.as_deref())
                .el("monitoring", |w| {
                    w.leaf("enabled", b(l.monitoring));
                })
                .leaf("ebsOptimized", b(l.ebs_optimized));
        })
        .opt("instanceId", r.instance_id.as_deref())
        .leaf("createTime", format_time(r.create_time))
        .leaf("productDescription", "Linux/UNIX")
        .tags(&r.tags)
        .opt(
            "launchedAvailabilityZone",
            r.launched_availability_zone.as_deref(),
        )
        .leaf("instanceInterruptionBehavior", r.interruption_behavior);
}

/// RequestSpotInstances' own terms.
fn spot_spec(ctx: &Ctx<'_>, p: &Params) -> Result<SpotRequestSpec, ApiError> {
    if p.int("BlockDurationMinutes")?.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterCombination,
            "Spot blocks (BlockDurationMinutes) are no longer offered.",
        ));
    }
    Ok(SpotRequestSpec {
        max_price: p.opt_str("SpotPrice"),
        request_type: spot_type(p.get("Type"))?,
        interruption_behavior: interruption_behavior(p.get("InstanceInterruptionBehavior"))?,
        valid_from: p.time("ValidFrom")?,
        valid_until: p.time("ValidUntil")?,
        launch_group: p.opt_str("LaunchGroup"),
        availability_zone_group: p.opt_str("AvailabilityZoneGroup"),
        tags: ctx.tag_specs(&["spot-instances-request"])?,
    })
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::RequestSpotInstances => {
            let spec = spot_spec(ctx, p)?;
            let count = p.int("InstanceCount")?.unwrap_or(1);
            if !(1..=1000).contains(&count) {
                return Err(ApiError::invalid_value(format!(
                    "Value ({count}) for parameter instanceCount is invalid. Expected a value between 1 and 1000."
                )));
            }
            let launch = p.child("LaunchSpecification");
            if launch.get("ImageId").is_none() {
                return Err(ApiError::missing("LaunchSpecification.ImageId"));
            }
            let params = reparent(
                p,
                "LaunchSpecification",
                &[
                    ("MinCount", count.to_string()),
                    ("MaxCount", count.to_string()),
                ],
            )?;
            let mut req = run_request(ctx, &params, None)?;
            let ids: Vec<SpotInstanceRequestId> = match spec.schedule(fort_control::now_millis()) {
                Schedule::Now => {
                    req.spot = Some(spec);
                    ctx.write(|tx| tx.run_instances(req))
                        .await?
                        .into_iter()
                        .filter_map(|i| i.spot_instance_request_id)
                        .collect()
                }
                _ => {
                    let launch_spec = SpotLaunchSpecification {
                        image_id: req.image_id.clone(),
                        instance_type: req
                            .instance_type
                            .clone()
                            .unwrap_or_else(|| "m1.small".into()),
                        key_name: req.key_name.clone(),
                        groups: Vec::new(),
                        subnet_id: req.subnet_id.as_deref().map(SubnetId::parse).transpose()?,
                        availability_zone: req.availability_zone.clone(),
                        monitoring: req.monitoring,
                        ebs_optimized: req.ebs_optimized,
                    };
                    ctx.write(|tx| tx.unfulfilled_spot_requests(&spec, &launch_spec, count))
                        .await?
                }
            };
            ctx.read(|v| {
                let mut w = Xml::new();
                w.set(
                    "spotInstanceRequestSet",
                    ids.iter()
                        .filter_map(|id| v.region.spot_instance_requests.get(id)),
                    render,
                );
                w
            })
            .await
        }
        Action::DescribeSpotInstanceRequests => {
            let d = Describe {
                ids_param: "SpotInstanceRequestId",
                kind: Kind::SpotInstanceRequest,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.spot_instance_requests.values(),
                    |r| r.id.as_str(),
                    |r| &r.tags,
                    field,
                )?;
                let mut w = Xml::new();
                w.set("spotInstanceRequestSet", page.items, render);
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::CancelSpotInstanceRequests => {
            let ids = p.strings("SpotInstanceRequestId")?;
            let done = ctx
                .write(|tx| tx.cancel_spot_instance_requests(&ids))
                .await?;
            let mut w = Xml::new();
            w.set("spotInstanceRequestSet", &done, |w, (id, state)| {
                w.leaf("spotInstanceRequestId", id).leaf("state", state);
            });
            Ok(w)
        }
    }
}
