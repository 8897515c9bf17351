//! Spot Fleet: RequestSpotFleet, DescribeSpotFleetRequests, DescribeSpotFleetInstances,
//! ModifySpotFleetRequest, CancelSpotFleetRequests, DescribeSpotFleetRequestHistory.
//!
//! A request's pools are its launch specifications, or its launch template configs (each,
//! or each of their overrides), spread as EC2 Fleet's are (`fort_control::fleet::allocate`);
//! each pool's share is one RunInstances, On-Demand or on the Spot market, made in the same
//! change as the request (or the modification) with the request's id on it.

use fort_control::Tx;
use fort_control::fleet::{Pool, Spread};
use fort_control::region::Region;
use fort_control::spot_fleet::{activity_status, fulfilled, shortfall, shown_state};
use fort_model::{
    ApiError, ErrorCode, ExcessCapacityTerminationPolicy, FleetOverride, InstanceId,
    InterruptionBehavior, Kind, MarketType, SpotAllocationStrategy, SpotFleetLaunchSpecification,
    SpotFleetRequest, SpotFleetRequestId, SpotFleetRequestState, SpotFleetType, Tags, format_time,
};

use super::fleet::{allocate, count, launch_params, weight};
use super::instance::{interruption_behavior, run_request};
use super::launch_template::with_template;
use super::{Ctx, Describe, b, next_token, ok_return};
use crate::filter::paginate;
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    RequestSpotFleet,
    DescribeSpotFleetRequests,
    DescribeSpotFleetInstances,
    ModifySpotFleetRequest,
    CancelSpotFleetRequests,
    DescribeSpotFleetRequestHistory
);

fn config_error(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidSpotFleetRequestConfig, message)
}

/// A launch specification's parameters under RunInstances' names: its lists are named
/// `GroupSet`, `NetworkInterfaceSet` and `TagSpecificationSet` here; its weight and price
/// are the fleet's, not the launch's. An empty value is one not given (Terraform sends
/// `IamInstanceProfile.Name=` for none), as EC2 reads it.
fn run_params(spec: &Params) -> Vec<(String, String)> {
    spec.relative()
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(k, v)| {
            let (head, rest) = k.split_once('.').unwrap_or((&k, ""));
            let renamed = match head {
                "WeightedCapacity" | "SpotPrice" | "AddressingType" | "InstanceRequirements" => {
                    return None;
                }
                "GroupSet" => {
                    let (n, field) = rest.split_once('.')?;
                    match field {
                        "GroupId" => format!("SecurityGroupId.{n}"),
                        "GroupName" => format!("SecurityGroup.{n}"),
                        _ => return None,
                    }
                }
                "NetworkInterfaceSet" => format!("NetworkInterface.{rest}"),
                "TagSpecificationSet" => format!("TagSpecification.{rest}"),
                _ => k.clone(),
            };
            Some((renamed, v))
        })
        .collect()
}

fn launch_specification(s: &Params) -> Result<SpotFleetLaunchSpecification, ApiError> {
    let image_id = s
        .opt_nonempty("ImageId")
        .ok_or_else(|| ApiError::missing("LaunchSpecifications.ImageId"))?;
    let weighted_capacity = s.float("WeightedCapacity")?;
    if weighted_capacity.is_some_and(|w| w.is_nan() || w <= 0.0) {
        return Err(config_error("WeightedCapacity must be greater than zero."));
    }
    let mut instance_tags = Tags::new();
    for spec in s.list("TagSpecificationSet")? {
        if spec.get("ResourceType") == Some("instance") {
            for t in spec.list("Tag")? {
                instance_tags.insert(
                    t.req("Key")?.to_owned(),
                    t.opt_str("Value").unwrap_or_default(),
                );
            }
        }
    }
    Ok(SpotFleetLaunchSpecification {
        image_id,
        instance_type: s.opt_nonempty("InstanceType"),
        key_name: s.opt_nonempty("KeyName"),
        group_ids: s
            .list("GroupSet")?
            .into_iter()
            .filter_map(|g| g.opt_str("GroupId"))
            .collect(),
        subnet_id: s.opt_nonempty("SubnetId"),
        availability_zone: s.child("Placement").opt_nonempty("AvailabilityZone"),
        user_data: s.opt_nonempty("UserData"),
        monitoring: s.child("Monitoring").bool("Enabled")?,
        ebs_optimized: s.bool("EbsOptimized")?,
        iam_instance_profile_arn: s.child("IamInstanceProfile").opt_nonempty("Arn"),
        iam_instance_profile_name: s.child("IamInstanceProfile").opt_nonempty("Name"),
        weighted_capacity,
        spot_price: s.opt_nonempty("SpotPrice"),
        instance_tags,
        params: run_params(s),
    })
}

/// The request's own TagSpecifications: only `spot-fleet-request` (EC2's words).
fn fleet_tags(c: &Params) -> Result<Tags, ApiError> {
    let mut tags = Tags::new();
    for spec in c.list("TagSpecification")? {
        let ty = spec.get("ResourceType").unwrap_or("");
        if ty != "spot-fleet-request" {
            return Err(ApiError::invalid_value(format!(
                "The value for `ResourceType` must be `spot-fleet-request`, but got `{ty}` instead."
            )));
        }
        for t in spec.list("Tag")? {
            let key = t.req("Key")?.to_owned();
            tags.insert(key, t.opt_str("Value").unwrap_or_default());
        }
    }
    Ok(tags)
}

/// The spread of a market: Spot by the allocation strategy, On-Demand by its own.
fn spread(f: &SpotFleetRequest, market: MarketType) -> Spread {
    match market {
        MarketType::OnDemand => match f.on_demand_allocation_strategy.as_deref() {
            Some("prioritized") => Spread::Prioritized,
            _ => Spread::First,
        },
        MarketType::Spot => match f.allocation_strategy {
            SpotAllocationStrategy::Diversified => Spread::Diversified,
            SpotAllocationStrategy::CapacityOptimizedPrioritized => Spread::Prioritized,
            _ => Spread::First,
        },
    }
}

/// Launches `units` of capacity of one market for request `id`, from its pools.
fn launch(
    ctx: &Ctx<'_>,
    tx: &mut Tx<'_>,
    id: &SpotFleetRequestId,
    units: f64,
    market: MarketType,
) -> Result<(), ApiError> {
    if units <= 0.0 {
        return Ok(());
    }
    let f = tx.region.spot_fleet_requests.lookup(id)?.clone();
    let spot = market == MarketType::Spot;
    let behavior = f.instance_interruption_behavior.as_str();
    // (params, weight) of each launch
    let mut launches: Vec<(Params, f64)> = Vec::new();
    if f.launch_specifications.is_empty() {
        for l in allocate(
            &f.launch_template_configs,
            units,
            spread(&f, market),
            market,
        ) {
            let params = launch_params(
                &f.launch_template_configs,
                &l,
                Some(behavior),
                f.spot_price.as_deref(),
                &Tags::new(),
            )?;
            launches.push((
                params,
                weight(&f.launch_template_configs, (l.config, l.over)),
            ));
        }
    } else {
        let pools: Vec<Pool> = f
            .launch_specifications
            .iter()
            .map(|s| Pool {
                weight: s.weighted_capacity.unwrap_or(1.0),
                priority: None,
            })
            .collect();
        let counts = fort_control::fleet::allocate(&pools, units, spread(&f, market));
        for ((s, pool), n) in f.launch_specifications.iter().zip(&pools).zip(counts) {
            if n == 0 {
                continue;
            }
            let mut pairs = s.params.clone();
            pairs.push(("MinCount".into(), n.to_string()));
            pairs.push(("MaxCount".into(), n.to_string()));
            if spot {
                pairs.push(("InstanceMarketOptions.MarketType".into(), "spot".into()));
                pairs.push((
                    "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior".into(),
                    behavior.into(),
                ));
                if let Some(price) = s.spot_price.as_ref().or(f.spot_price.as_ref()) {
                    pairs.push((
                        "InstanceMarketOptions.SpotOptions.MaxPrice".into(),
                        price.clone(),
                    ));
                }
            }
            launches.push((Params::from_pairs(pairs)?, pool.weight));
        }
    }
    for (params, weight) in launches {
        let (merged, template) = with_template(tx.region, &params)?;
        let mut req = run_request(ctx, &merged, template)?;
        req.client_token = None;
        req.spot_fleet_request_id = Some(id.clone());
        let ids: Vec<InstanceId> = tx.run_instances(req)?.into_iter().map(|i| i.id).collect();
        tx.spot_fleet_launched(id, &ids, weight, !spot);
    }
    Ok(())
}

/// A launch specification as given: its price only when it names one (it launches at the
/// fleet's otherwise, which EC2 does not write into it).
fn render_spec(w: &mut Xml, s: &SpotFleetLaunchSpecification) {
    w.set("groupSet", &s.group_ids, |w, g| {
        w.leaf("groupId", g);
    })
    .opt("ebsOptimized", s.ebs_optimized.map(b));
    if s.iam_instance_profile_arn.is_some() || s.iam_instance_profile_name.is_some() {
        w.el("iamInstanceProfile", |w| {
            w.opt("arn", s.iam_instance_profile_arn.as_deref())
                .opt("name", s.iam_instance_profile_name.as_deref());
        });
    }
    w.leaf("imageId", &s.image_id)
        .opt("instanceType", s.instance_type.as_deref())
        .opt("keyName", s.key_name.as_deref());
    if let Some(m) = s.monitoring {
        w.el("monitoring", |w| {
            w.leaf("enabled", b(m));
        });
    }
    if let Some(z) = &s.availability_zone {
        w.el("placement", |w| {
            w.leaf("availabilityZone", z);
        });
    }
    w.opt("spotPrice", s.spot_price.as_deref())
        .opt("subnetId", s.subnet_id.as_deref())
        .opt("userData", s.user_data.as_deref())
        .opt("weightedCapacity", s.weighted_capacity);
    if !s.instance_tags.is_empty() {
        w.set("tagSpecificationSet", [()], |w, ()| {
            w.leaf("resourceType", "instance")
                .set("tag", &s.instance_tags, |w, (k, v)| {
                    w.leaf("key", k).leaf("value", v);
                });
        });
    }
}

fn render_override(w: &mut Xml, o: &FleetOverride) {
    w.opt("instanceType", o.instance_type.as_deref())
        .opt("spotPrice", o.max_price.as_deref())
        .opt("subnetId", o.subnet_id.as_deref())
        .opt("availabilityZone", o.availability_zone.as_deref())
        .opt("weightedCapacity", o.weighted_capacity)
        .opt("priority", o.priority);
}

fn render(w: &mut Xml, region: &Region, f: &SpotFleetRequest) {
    let (total, on_demand) = fulfilled(region, f);
    w.opt("activityStatus", activity_status(region, f))
        .leaf("createTime", format_time(f.create_time))
        .el("spotFleetRequestConfig", |w| {
            w.leaf("allocationStrategy", f.allocation_strategy)
                .opt(
                    "onDemandAllocationStrategy",
                    f.on_demand_allocation_strategy.as_deref(),
                )
                .opt("clientToken", f.client_token.as_deref())
                .opt(
                    "excessCapacityTerminationPolicy",
                    f.excess_capacity_termination_policy.as_deref(),
                )
                .leaf("fulfilledCapacity", total)
                .leaf("onDemandFulfilledCapacity", on_demand)
                .leaf("iamFleetRole", &f.iam_fleet_role);
            if !f.launch_specifications.is_empty() {
                w.set(
                    "launchSpecifications",
                    &f.launch_specifications,
                    render_spec,
                );
            }
            if !f.launch_template_configs.is_empty() {
                w.set(
                    "launchTemplateConfigs",
                    &f.launch_template_configs,
                    |w, c| {
                        w.el("launchTemplateSpecification", |w| {
                            w.leaf("launchTemplateId", &c.template_id)
                                .leaf("launchTemplateName", &c.template_name)
                                .leaf("version", &c.version);
                        });
                        if !c.overrides.is_empty() {
                            w.set("overrides", &c.overrides, render_override);
                        }
                    },
                );
            }
            w.opt("spotPrice", f.spot_price.as_deref())
                .leaf("targetCapacity", f.target_capacity)
                .leaf("onDemandTargetCapacity", f.on_demand_target_capacity)
                .leaf(
                    "terminateInstancesWithExpiration",
                    b(f.terminate_instances_with_expiration),
                )
                .leaf("type", f.fleet_type)
                .opt("validFrom", f.valid_from.map(format_time))
                .opt("validUntil", f.valid_until.map(format_time))
                .leaf(
                    "replaceUnhealthyInstances",
                    b(f.replace_unhealthy_instances),
                )
                .leaf(
                    "instanceInterruptionBehavior",
                    f.instance_interruption_behavior,
                )
                .opt("instancePoolsToUseCount", f.instance_pools_to_use_count)
                .opt(
                    "targetCapacityUnitType",
                    f.target_capacity_unit_type.as_deref(),
                );
        })
        .leaf("spotFleetRequestId", &f.id)
        .leaf("spotFleetRequestState", shown_state(region, f))
        .tags(&f.tags);
}

/// The request RequestSpotFleet describes, checked as EC2 checks it.
async fn request(ctx: &Ctx<'_>, p: &Params) -> Result<SpotFleetRequest, ApiError> {
    let c = p.child("SpotFleetRequestConfig");
    let tags = fleet_tags(c)?;
    let iam_fleet_role = c
        .opt_nonempty("IamFleetRole")
        .ok_or_else(|| ApiError::missing("SpotFleetRequestConfig.IamFleetRole"))?;
    let target_capacity = count(c, "TargetCapacity")?
        .ok_or_else(|| ApiError::missing("SpotFleetRequestConfig.TargetCapacity"))?;
    let on_demand_target_capacity = count(c, "OnDemandTargetCapacity")?.unwrap_or(0);
    if on_demand_target_capacity > target_capacity {
        return Err(config_error(
            "OnDemandTargetCapacity cannot be greater than TargetCapacity.",
        ));
    }
    let allocation_strategy = match c.get("AllocationStrategy") {
        None => SpotAllocationStrategy::LowestPrice,
        Some(s) => SpotAllocationStrategy::parse(s).ok_or_else(|| {
            ApiError::invalid_value(format!(
                "Value ({s}) for parameter allocationStrategy is invalid. Valid values: lowestPrice, diversified, capacityOptimized, capacityOptimizedPrioritized, priceCapacityOptimized."
            ))
        })?,
    };
    let on_demand_allocation_strategy = c.opt_str("OnDemandAllocationStrategy");
    if let Some(s) = &on_demand_allocation_strategy
        && !matches!(s.as_str(), "lowestPrice" | "prioritized")
    {
        return Err(ApiError::invalid_value(format!(
            "Value ({s}) for parameter onDemandAllocationStrategy is invalid. Valid values: lowestPrice, prioritized."
        )));
    }
    let fleet_type = match c.get("Type") {
        None => SpotFleetType::Maintain,
        Some("instant") => {
            return Err(ApiError::invalid_value(
                "Spot Fleet does not support the instant type; use CreateFleet.",
            ));
        }
        Some(t) => SpotFleetType::parse(t).ok_or_else(|| {
            ApiError::invalid_value(format!(
                "Value ({t}) for parameter type is invalid. Valid values: request, maintain."
            ))
        })?,
    };
    let excess_capacity_termination_policy = c.opt_str("ExcessCapacityTerminationPolicy");
    if let Some(v) = &excess_capacity_termination_policy {
        excess_policy(v)?;
    }
    let valid_from = c.time("ValidFrom")?;
    let valid_until = c.time("ValidUntil")?;
    if let (Some(from), Some(until)) = (valid_from, valid_until)
        && until <= from
    {
        return Err(config_error("ValidUntil must be later than ValidFrom."));
    }
    if valid_until.is_some_and(|u| u <= fort_control::now_millis()) {
        return Err(config_error("ValidUntil must be in the future."));
    }
    let specs = c.list("LaunchSpecifications")?;
    let has_templates = c.child("LaunchTemplateConfigs").is_present();
    let (launch_specifications, launch_template_configs) = match (specs.is_empty(), has_templates) {
        (false, true) => {
            return Err(config_error(
                "LaunchSpecifications and LaunchTemplateConfigs cannot both be specified.",
            ));
        }
        (true, false) => {
            return Err(config_error(
                "Either LaunchSpecifications or LaunchTemplateConfigs must be specified.",
            ));
        }
        (false, false) => (
            specs
                .into_iter()
                .map(launch_specification)
                .collect::<Result<Vec<_>, _>>()?,
            Vec::new(),
        ),
        (true, true) => (Vec::new(), super::fleet::configs(ctx, c, true).await?),
    };
    let instance_interruption_behavior = match c.get("InstanceInterruptionBehavior") {
        None => InterruptionBehavior::Terminate,
        v => interruption_behavior(v)?,
    };
    Ok(SpotFleetRequest {
        id: SpotFleetRequestId::new(),
        state: SpotFleetRequestState::Active,
        create_time: fort_control::now_millis(),
        client_token: c.opt_nonempty("ClientToken"),
        iam_fleet_role,
        target_capacity,
        on_demand_target_capacity,
        spot_price: c.opt_nonempty("SpotPrice"),
        allocation_strategy,
        on_demand_allocation_strategy,
        fleet_type,
        valid_from,
        valid_until,
        terminate_instances_with_expiration: c
            .bool("TerminateInstancesWithExpiration")?
            .unwrap_or(false),
        excess_capacity_termination_policy,
        instance_interruption_behavior,
        replace_unhealthy_instances: c.bool("ReplaceUnhealthyInstances")?.unwrap_or(false),
        instance_pools_to_use_count: count(c, "InstancePoolsToUseCount")?,
        target_capacity_unit_type: c.opt_str("TargetCapacityUnitType"),
        launch_specifications,
        launch_template_configs,
        members: Vec::new(),
        history: Vec::new(),
        tags,
    })
}

/// `ExcessCapacityTerminationPolicy`, in any case: EC2 takes the older `Default` and
/// `NoTermination` (Terraform's default is `Default`).
pub(crate) fn excess_policy(v: &str) -> Result<ExcessCapacityTerminationPolicy, ApiError> {
    ExcessCapacityTerminationPolicy::of(v).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Value ({v}) for parameter excessCapacityTerminationPolicy is invalid. Valid values: noTermination, default."
        ))
    })
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::RequestSpotFleet => {
            let f = request(ctx, p).await?;
            let id = f.id.clone();
            ctx.write(|tx| {
                tx.create_spot_fleet_request(f)?;
                let row = tx.region.spot_fleet_requests.lookup(&id)?.clone();
                let (od, spot) = shortfall(tx.region, &row);
                launch(ctx, tx, &id, od, MarketType::OnDemand)?;
                launch(ctx, tx, &id, spot, MarketType::Spot)
            })
            .await?;
            let mut w = Xml::new();
            w.leaf("spotFleetRequestId", &id);
            Ok(w)
        }
        Action::DescribeSpotFleetRequests => {
            let d = Describe {
                ids_param: "SpotFleetRequestId",
                kind: Kind::SpotFleetRequest,
                filters: &[],
                page: Some((1, 1000)),
            };
            ctx.read(|v| {
                let region = v.region;
                let page = d.run(
                    p,
                    region.spot_fleet_requests.values(),
                    |f| f.id.as_str(),
                    |f| &f.tags,
                    |_, _| vec![],
                )?;
                let mut w = Xml::new();
                w.set("spotFleetRequestConfigSet", page.items, |w, f| {
                    render(w, region, f)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeSpotFleetInstances => {
            let id = p.req("SpotFleetRequestId")?;
            ctx.read(|v| {
                let region = v.region;
                let f = region
                    .spot_fleet_requests
                    .find(Kind::SpotFleetRequest, id)?;
                let active: Vec<_> = f
                    .members
                    .iter()
                    .filter_map(|m| region.instances.get(&m.instance_id))
                    .filter(|i| i.state.is_up())
                    .collect();
                let page = paginate(active, |i| i.id.to_string(), p, (1, 1000))?;
                let mut w = Xml::new();
                w.set("activeInstanceSet", page.items, |w, i| {
                    w.leaf("instanceId", &i.id)
                        .leaf("instanceType", &i.instance_type)
                        .opt(
                            "spotInstanceRequestId",
                            i.spot_instance_request_id.as_deref(),
                        )
                        .leaf("instanceHealth", "healthy");
                })
                .leaf("spotFleetRequestId", &f.id);
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifySpotFleetRequest => {
            let id = p.req("SpotFleetRequestId")?.to_owned();
            let target = count(p, "TargetCapacity")?;
            let on_demand = count(p, "OnDemandTargetCapacity")?;
            let policy = p.opt_str("ExcessCapacityTerminationPolicy");
            if let Some(v) = &policy {
                excess_policy(v)?;
            }
            if p.child("LaunchTemplateConfig").is_present() {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedOperation,
                    "Fort does not change a Spot Fleet's launch template configs: make a new request.",
                ));
            }
            ctx.write(|tx| {
                let (od, spot) = tx.modify_spot_fleet_request(&id, target, on_demand, policy)?;
                let id = SpotFleetRequestId::parse(&id)?;
                launch(ctx, tx, &id, od, MarketType::OnDemand)?;
                launch(ctx, tx, &id, spot, MarketType::Spot)
            })
            .await?;
            Ok(ok_return())
        }
        Action::CancelSpotFleetRequests => {
            let ids = p.strings("SpotFleetRequestId")?;
            let terminate = p
                .bool("TerminateInstances")?
                .ok_or_else(|| ApiError::missing("TerminateInstances"))?;
            let (done, failed) = ctx
                .write(|tx| tx.cancel_spot_fleet_requests(&ids, terminate))
                .await?;
            let mut w = Xml::new();
            w.set("successfulFleetRequestSet", &done, |w, d| {
                w.leaf("currentSpotFleetRequestState", d.current)
                    .leaf("previousSpotFleetRequestState", d.previous)
                    .leaf("spotFleetRequestId", &d.id);
            })
            .set("unsuccessfulFleetRequestSet", &failed, |w, e| {
                w.el("error", |w| {
                    w.leaf("code", e.code).leaf("message", &e.message);
                })
                .leaf("spotFleetRequestId", &e.id);
            });
            Ok(w)
        }
        Action::DescribeSpotFleetRequestHistory => {
            let id = p.req("SpotFleetRequestId")?;
            let start = p
                .time("StartTime")?
                .ok_or_else(|| ApiError::missing("StartTime"))?;
            let event_type = p.get("EventType");
            if let Some(t) = event_type
                && !matches!(
                    t,
                    "instanceChange" | "fleetRequestChange" | "error" | "information"
                )
            {
                return Err(ApiError::invalid_value(format!(
                    "Value ({t}) for parameter eventType is invalid. Valid values: instanceChange, fleetRequestChange, error, information."
                )));
            }
            ctx.read(|v| {
                let f = v
                    .region
                    .spot_fleet_requests
                    .find(Kind::SpotFleetRequest, id)?;
                let records: Vec<(usize, &fort_model::SpotFleetEvent)> = f
                    .history
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.time >= start)
                    .filter(|(_, e)| event_type.is_none_or(|t| e.event_type == t))
                    .collect();
                let page = paginate(records, |(n, _)| format!("{n:08}"), p, (1, 1000))?;
                let mut w = Xml::new();
                w.set("historyRecordSet", page.items, |w, (_, e)| {
                    w.el("eventInformation", |w| {
                        w.opt("eventDescription", e.description.as_deref())
                            .leaf("eventSubType", &e.sub_type)
                            .opt("instanceId", e.instance_id.as_deref());
                    })
                    .leaf("eventType", &e.event_type)
                    .leaf("timestamp", format_time(e.time));
                })
                .leaf("lastEvaluatedTime", format_time(fort_control::now_millis()))
                .leaf("spotFleetRequestId", &f.id)
                .leaf("startTime", format_time(start));
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}
