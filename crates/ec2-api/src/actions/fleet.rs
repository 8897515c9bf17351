//! EC2 Fleets: CreateFleet, DescribeFleets, DescribeFleetInstances, DeleteFleets.
//!
//! A fleet's target is split between On-Demand and Spot (`FleetTarget::split`); each
//! launch template config, or each of its overrides, is a pool. Fort has no prices, so
//! every pool costs the same: price-based strategies take the first pool, `prioritized`
//! (and `capacity-optimized-prioritized`) the pool of lowest priority number, and
//! `diversified` spreads instances over the pools in turn. Each pool's share is one
//! RunInstances from its launch template, made in the same change as the fleet.

use fort_model::{
    ApiError, Fleet, FleetId, FleetLaunchConfig, FleetOverride, FleetState, FleetTarget, FleetType,
    InstanceState, Kind, LaunchTemplateId, MarketType, SubnetId, Tags, format_time,
};

use super::instance::{interruption_behavior, run_request};
use super::launch_template::with_template;
use super::{Ctx, Describe, b, next_token};
use crate::query::Params;
use crate::xml::Xml;
use fort_control::fleet::{Pool, Spread};
use fort_control::launch_template::{TemplateRef, TemplateVersions};

crate::actions!(
    CreateFleet,
    DescribeFleets,
    DescribeFleetInstances,
    DeleteFleets
);

const FILTERS: &[&str] = &[
    "activity-status",
    "excess-capacity-termination-policy",
    "fleet-state",
    "replace-unhealthy-instances",
    "type",
];

/// One RunInstances of a fleet: a pool, a market and a count, and what it launched.
pub(super) struct Launch {
    pub config: usize,
    pub over: Option<usize>,
    pub market: MarketType,
    pub count: u32,
    pub template: Option<(LaunchTemplateId, u64)>,
    pub instance_ids: Vec<String>,
    pub instance_type: String,
}

/// A count parameter: a non-negative integer.
pub(super) fn count(p: &Params, name: &str) -> Result<Option<u32>, ApiError> {
    p.int(name)?
        .map(|n| {
            u32::try_from(n).map_err(|_| {
                ApiError::invalid_value(format!(
                    "Value ({n}) for parameter {name} is invalid. Expected a non-negative integer."
                ))
            })
        })
        .transpose()
}

fn target(p: &Params) -> Result<FleetTarget, ApiError> {
    let t = p.child("TargetCapacitySpecification");
    let total = count(t, "TotalTargetCapacity")?
        .ok_or_else(|| ApiError::missing("TargetCapacitySpecification.TotalTargetCapacity"))?;
    let default_type = match t.get("DefaultTargetCapacityType") {
        None | Some("on-demand") => MarketType::OnDemand,
        Some("spot") => MarketType::Spot,
        Some(other) => {
            return Err(ApiError::invalid_value(format!(
                "Value ({other}) for parameter DefaultTargetCapacityType is invalid. Valid values: spot, on-demand."
            )));
        }
    };
    let target = FleetTarget {
        total,
        on_demand: count(t, "OnDemandTargetCapacity")?,
        spot: count(t, "SpotTargetCapacity")?,
        default_type,
        unit_type: t.opt_str("TargetCapacityUnitType"),
    };
    if target.on_demand.unwrap_or(0) + target.spot.unwrap_or(0) > total {
        return Err(ApiError::invalid_value(
            "The sum of OnDemandTargetCapacity and SpotTargetCapacity must not exceed TotalTargetCapacity.",
        ));
    }
    Ok(target)
}

/// `LaunchTemplateConfigs`: EC2 Fleet's, or with `spot_fleet` Spot Fleet's (whose
/// version defaults to `$Default` and whose overrides name their price `SpotPrice`).
pub(super) async fn configs(
    ctx: &Ctx<'_>,
    p: &Params,
    spot_fleet: bool,
) -> Result<Vec<FleetLaunchConfig>, ApiError> {
    let items = p.list("LaunchTemplateConfigs")?;
    if items.is_empty() {
        return Err(ApiError::missing("LaunchTemplateConfigs"));
    }
    let mut out = Vec::new();
    for c in items {
        let s = c.child("LaunchTemplateSpecification");
        let version = match s.opt_str("Version") {
            Some(v) => v,
            None if spot_fleet => "$Default".to_owned(),
            None => return Err(ApiError::missing("LaunchTemplateSpecification.Version")),
        };
        let mut overrides = Vec::new();
        for o in c.list("Overrides")? {
            let weight = o.float("WeightedCapacity")?;
            if weight.is_some_and(|w| w <= 0.0) {
                return Err(ApiError::invalid_value(
                    "WeightedCapacity must be greater than zero.",
                ));
            }
            overrides.push(FleetOverride {
                instance_type: o.opt_str("InstanceType"),
                subnet_id: o.get("SubnetId").map(SubnetId::parse).transpose()?,
                availability_zone: o.opt_str("AvailabilityZone"),
                max_price: o.opt_str(if spot_fleet { "SpotPrice" } else { "MaxPrice" }),
                weighted_capacity: weight,
                priority: o.float("Priority")?,
                image_id: o.opt_str("ImageId"),
            });
        }
        // The template, by id or name, must exist in the caller's region.
        let (template_id, template_name) = ctx
            .read(|v| {
                let r = TemplateRef {
                    id: s.opt_str("LaunchTemplateId"),
                    name: s.opt_str("LaunchTemplateName"),
                };
                if r.id.is_none() && r.name.is_none() {
                    return Err(ApiError::missing(
                        "LaunchTemplateSpecification.LaunchTemplateId or LaunchTemplateName",
                    ));
                }
                let t = v.region.launch_template(&r)?;
                t.version(&version)?;
                Ok((t.id.clone(), t.name.clone()))
            })
            .await??;
        out.push(FleetLaunchConfig {
            template_id,
            template_name,
            version,
            overrides,
        });
    }
    Ok(out)
}

/// The pools of a fleet's configs, in order: each config, or each of its overrides.
fn config_pools(configs: &[FleetLaunchConfig]) -> Vec<(usize, Option<usize>)> {
    let mut out: Vec<(usize, Option<usize>)> = Vec::new();
    for (c, config) in configs.iter().enumerate() {
        if config.overrides.is_empty() {
            out.push((c, None));
        } else {
            out.extend((0..config.overrides.len()).map(|o| (c, Some(o))));
        }
    }
    out
}

pub(super) fn weight(configs: &[FleetLaunchConfig], (c, o): (usize, Option<usize>)) -> f64 {
    o.and_then(|o| configs[c].overrides[o].weighted_capacity)
        .unwrap_or(1.0)
}

/// How many instances each pool launches for `capacity` units of one market, spread as
/// `spread` says (`fort_control::fleet::allocate`).
pub(super) fn allocate(
    configs: &[FleetLaunchConfig],
    capacity: f64,
    spread: Spread,
    market: MarketType,
) -> Vec<Launch> {
    let order = config_pools(configs);
    let pools: Vec<Pool> = order
        .iter()
        .map(|&(c, o)| Pool {
            weight: weight(configs, (c, o)),
            priority: o.and_then(|o| configs[c].overrides[o].priority),
        })
        .collect();
    let counts = fort_control::fleet::allocate(&pools, capacity, spread);
    order
        .into_iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|((config, over), count)| Launch {
            config,
            over,
            market,
            count,
            template: None,
            instance_ids: Vec::new(),
            instance_type: String::new(),
        })
        .collect()
}

/// EC2 Fleet's strategies (`lowest-price`, `diversified`, `prioritized`, …) as a spread.
fn fleet_spread(strategy: Option<&str>, market: MarketType) -> Spread {
    let strategy = strategy.unwrap_or("");
    if strategy.contains("prioritized") {
        Spread::Prioritized
    } else if strategy == "diversified" && market == MarketType::Spot {
        Spread::Diversified
    } else {
        Spread::First
    }
}

/// RunInstances' parameters for one pool's launch.
pub(super) fn launch_params(
    configs: &[FleetLaunchConfig],
    l: &Launch,
    spot_behavior: Option<&str>,
    max_price: Option<&str>,
    instance_tags: &Tags,
) -> Result<Params, ApiError> {
    let config = &configs[l.config];
    let mut pairs: Vec<(String, String)> = vec![
        (
            "LaunchTemplate.LaunchTemplateId".into(),
            config.template_id.to_string(),
        ),
        ("LaunchTemplate.Version".into(), config.version.clone()),
        ("MinCount".into(), l.count.to_string()),
        ("MaxCount".into(), l.count.to_string()),
    ];
    if let Some(o) = l.over.map(|o| &config.overrides[o]) {
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                pairs.push((k.into(), v.clone()));
            }
        };
        put("InstanceType", &o.instance_type);
        put("SubnetId", &o.subnet_id.as_ref().map(ToString::to_string));
        put("Placement.AvailabilityZone", &o.availability_zone);
        put("ImageId", &o.image_id);
        if l.market == MarketType::Spot {
            put("InstanceMarketOptions.SpotOptions.MaxPrice", &o.max_price);
        }
    }
    if l.market == MarketType::Spot {
        let given = l
            .over
            .is_some_and(|o| config.overrides[o].max_price.is_some());
        if let (Some(price), false) = (max_price, given) {
            pairs.push((
                "InstanceMarketOptions.SpotOptions.MaxPrice".into(),
                price.to_owned(),
            ));
        }
        pairs.push(("InstanceMarketOptions.MarketType".into(), "spot".into()));
        if let Some(bh) = spot_behavior {
            pairs.push((
                "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior".into(),
                bh.into(),
            ));
        }
    }
    if !instance_tags.is_empty() {
        pairs.push(("TagSpecification.1.ResourceType".into(), "instance".into()));
        for (n, (k, v)) in instance_tags.iter().enumerate() {
            pairs.push((format!("TagSpecification.1.Tag.{}.Key", n + 1), k.clone()));
            pairs.push((format!("TagSpecification.1.Tag.{}.Value", n + 1), v.clone()));
        }
    }
    Params::from_pairs(pairs)
}

fn render_overrides(w: &mut Xml, o: &FleetOverride) {
    w.opt("instanceType", o.instance_type.as_deref())
        .opt("maxPrice", o.max_price.as_deref())
        .opt("subnetId", o.subnet_id.as_deref())
        .opt("availabilityZone", o.availability_zone.as_deref())
        .opt("weightedCapacity", o.weighted_capacity)
        .opt("priority", o.priority)
        .opt("imageId", o.image_id.as_deref());
}

fn render_fleet(w: &mut Xml, f: &Fleet, launches: &[(String, MarketType, Vec<String>)]) {
    let t = &f.target;
    let (od, spot) = t.split();
    let fulfilled = f.fulfilled_capacity >= f64::from(t.total);
    w.opt(
        "activityStatus",
        matches!(f.state, FleetState::Active).then_some(if fulfilled {
            "fulfilled"
        } else {
            "pending_fulfillment"
        }),
    )
    .leaf("createTime", format_time(f.create_time))
    .leaf("fleetId", &f.id)
    .leaf("fleetState", f.state)
    .opt("clientToken", f.client_token.as_deref())
    .opt(
        "excessCapacityTerminationPolicy",
        f.excess_capacity_termination_policy.as_deref(),
    )
    .leaf("fulfilledCapacity", f.fulfilled_capacity)
    .leaf("fulfilledOnDemandCapacity", f.fulfilled_on_demand_capacity)
    .set("launchTemplateConfigs", &f.configs, |w, c| {
        w.el("launchTemplateSpecification", |w| {
            w.leaf("launchTemplateId", &c.template_id)
                .leaf("launchTemplateName", &c.template_name)
                .leaf("version", &c.version);
        })
        .set("overrides", &c.overrides, render_overrides);
    })
    .el("targetCapacitySpecification", |w| {
        w.leaf("totalTargetCapacity", t.total)
            .leaf("onDemandTargetCapacity", od)
            .leaf("spotTargetCapacity", spot)
            .leaf("defaultTargetCapacityType", t.default_type)
            .opt("targetCapacityUnitType", t.unit_type.as_deref());
    })
    .opt(
        "terminateInstancesWithExpiration",
        f.terminate_instances_with_expiration.map(b),
    )
    .leaf("type", f.fleet_type)
    .opt("validFrom", f.valid_from.map(format_time))
    .opt("validUntil", f.valid_until.map(format_time))
    .opt(
        "replaceUnhealthyInstances",
        f.replace_unhealthy_instances.map(b),
    )
    .el("spotOptions", |w| {
        w.opt("allocationStrategy", f.spot_allocation_strategy.as_deref())
            .opt(
                "instanceInterruptionBehavior",
                f.spot_interruption_behavior.map(|x| x.as_str()),
            );
    })
    .el("onDemandOptions", |w| {
        w.opt(
            "allocationStrategy",
            f.on_demand_allocation_strategy.as_deref(),
        );
    })
    .tags(&f.tags);
    if f.fleet_type == FleetType::Instant {
        w.set("fleetInstanceSet", launches, |w, (itype, market, ids)| {
            w.strings("instanceIds", ids)
                .leaf("instanceType", itype)
                .leaf("lifecycle", market);
        });
    }
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateFleet => {
            let fleet_type = match p.get("Type") {
                None => FleetType::Maintain,
                Some(t) => FleetType::parse(t).ok_or_else(|| {
                    ApiError::invalid_value(format!(
                        "Value ({t}) for parameter Type is invalid. Valid values: request, maintain, instant."
                    ))
                })?,
            };
            let target = target(p)?;
            let configs = configs(ctx, p, false).await?;
            let spot_options = p.child("SpotOptions");
            let spot_behavior = spot_options.get("InstanceInterruptionBehavior");
            let spot_interruption = spot_behavior
                .map(|v| interruption_behavior(Some(v)))
                .transpose()?;
            let valid_from = p.time("ValidFrom")?;
            let valid_until = p.time("ValidUntil")?;
            if let (Some(from), Some(until)) = (valid_from, valid_until)
                && until <= from
            {
                return Err(ApiError::invalid_value(
                    "ValidUntil must be later than ValidFrom.",
                ));
            }
            // Fleet tags; instance tags only for instant fleets (maintain and request
            // fleets tag instances through their launch templates).
            let tags = super::tag_specs_in(p, &["fleet", "instance"])?;
            let instance_tags = if fleet_type == FleetType::Instant {
                super::tag_specs_for_in(p, "instance")?
            } else {
                Tags::new()
            };
            let fleet = Fleet {
                id: FleetId::new(),
                fleet_type,
                state: FleetState::Active,
                create_time: fort_control::now_millis(),
                client_token: p.opt_str("ClientToken"),
                valid_from,
                valid_until,
                replace_unhealthy_instances: p.bool("ReplaceUnhealthyInstances")?,
                terminate_instances_with_expiration: p.bool("TerminateInstancesWithExpiration")?,
                excess_capacity_termination_policy: p.opt_str("ExcessCapacityTerminationPolicy"),
                target,
                configs,
                spot_allocation_strategy: spot_options.opt_str("AllocationStrategy"),
                spot_interruption_behavior: spot_interruption,
                on_demand_allocation_strategy: p
                    .child("OnDemandOptions")
                    .opt_str("AllocationStrategy"),
                fulfilled_capacity: 0.0,
                fulfilled_on_demand_capacity: 0.0,
                tags,
            };
            let (od, spot) = fleet.target.split();
            let mut launches = allocate(
                &fleet.configs,
                f64::from(od),
                fleet_spread(
                    fleet.on_demand_allocation_strategy.as_deref(),
                    MarketType::OnDemand,
                ),
                MarketType::OnDemand,
            );
            launches.extend(allocate(
                &fleet.configs,
                f64::from(spot),
                fleet_spread(fleet.spot_allocation_strategy.as_deref(), MarketType::Spot),
                MarketType::Spot,
            ));
            let fleet_id = fleet.id.clone();
            let launches = ctx
                .write(|tx| {
                    let configs = fleet.configs.clone();
                    tx.create_fleet(fleet)?;
                    let (mut od_done, mut spot_done) = (0.0, 0.0);
                    for l in &mut launches {
                        let params =
                            launch_params(&configs, l, spot_behavior, None, &instance_tags)?;
                        let (merged, template) = with_template(tx.region, &params)?;
                        let mut req = run_request(ctx, &merged, template.clone())?;
                        req.client_token = None;
                        req.fleet_id = Some(fleet_id.clone());
                        let insts = tx.run_instances(req)?;
                        let units = insts.len() as f64 * weight(&configs, (l.config, l.over));
                        match l.market {
                            MarketType::OnDemand => od_done += units,
                            MarketType::Spot => spot_done += units,
                        }
                        l.template = template;
                        l.instance_type = insts
                            .first()
                            .map(|i| i.instance_type.clone())
                            .unwrap_or_default();
                        l.instance_ids = insts.into_iter().map(|i| i.id.to_string()).collect();
                    }
                    tx.fleet_fulfilled(&fleet_id, od_done, spot_done);
                    Ok(launches)
                })
                .await?;
            let configs = ctx
                .read(|v| v.region.fleets.get(&fleet_id).map(|f| f.configs.clone()))
                .await?
                .unwrap_or_default();
            let mut w = Xml::new();
            w.leaf("fleetId", &fleet_id)
                .set("errorSet", [(); 0], |_, ()| {});
            if fleet_type == FleetType::Instant {
                w.set("fleetInstanceSet", &launches, |w, l| {
                    let config = &configs[l.config];
                    w.el("launchTemplateAndOverrides", |w| {
                        w.el("launchTemplateSpecification", |w| {
                            w.leaf("launchTemplateId", &config.template_id).leaf(
                                "version",
                                l.template
                                    .as_ref()
                                    .map_or(config.version.clone(), |t| t.1.to_string()),
                            );
                        });
                        w.el("overrides", |w| {
                            match l.over.map(|o| &config.overrides[o]) {
                                Some(o) => render_overrides(w, o),
                                None => {
                                    w.leaf("instanceType", &l.instance_type);
                                }
                            }
                        });
                    })
                    .leaf("lifecycle", l.market)
                    .strings("instanceIds", &l.instance_ids)
                    .leaf("instanceType", &l.instance_type);
                });
            }
            Ok(w)
        }
        Action::DescribeFleets => {
            let d = Describe {
                ids_param: "FleetId",
                kind: Kind::Fleet,
                filters: FILTERS,
                page: Some((1, 1000)),
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.fleets.values(),
                    |f| f.id.as_str(),
                    |f| &f.tags,
                    |f, name| match name {
                        "activity-status" => vec![
                            if f.fulfilled_capacity >= f64::from(f.target.total) {
                                "fulfilled"
                            } else {
                                "pending_fulfillment"
                            }
                            .into(),
                        ],
                        "excess-capacity-termination-policy" => f
                            .excess_capacity_termination_policy
                            .iter()
                            .cloned()
                            .collect(),
                        "fleet-state" => vec![f.state.as_str().into()],
                        "replace-unhealthy-instances" => f
                            .replace_unhealthy_instances
                            .map(|x| b(x).to_owned())
                            .into_iter()
                            .collect(),
                        "type" => vec![f.fleet_type.as_str().into()],
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("fleetSet", page.items, |w, f| {
                    // An instant fleet shows what it launched, by type and market.
                    let mut launched: Vec<(String, fort_model::MarketType, Vec<String>)> =
                        Vec::new();
                    for i in v.region.instances.values() {
                        if i.fleet_id.as_ref() != Some(&f.id) {
                            continue;
                        }
                        let market = if i.spot_instance_request_id.is_some() {
                            MarketType::Spot
                        } else {
                            MarketType::OnDemand
                        };
                        match launched
                            .iter_mut()
                            .find(|(t, m, _)| *t == i.instance_type && *m == market)
                        {
                            Some(entry) => entry.2.push(i.id.to_string()),
                            None => launched.push((
                                i.instance_type.clone(),
                                market,
                                vec![i.id.to_string()],
                            )),
                        }
                    }
                    render_fleet(w, f, &launched);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeFleetInstances => {
            let id = p.req("FleetId")?;
            ctx.read(|v| {
                let f = v.region.fleets.find(Kind::Fleet, id)?;
                let mut w = Xml::new();
                w.set(
                    "activeInstanceSet",
                    v.region.instances.values().filter(|i| {
                        i.fleet_id.as_ref() == Some(&f.id)
                            && matches!(i.state, InstanceState::Pending | InstanceState::Running)
                    }),
                    |w, i| {
                        w.leaf("instanceId", &i.id)
                            .leaf("instanceType", &i.instance_type)
                            .opt(
                                "spotInstanceRequestId",
                                i.spot_instance_request_id.as_deref(),
                            )
                            .leaf("instanceHealth", "healthy");
                    },
                )
                .leaf("fleetId", &f.id);
                Ok(w)
            })
            .await?
        }
        Action::DeleteFleets => {
            let ids = p.strings("FleetId")?;
            let terminate = p
                .bool("TerminateInstances")?
                .ok_or_else(|| ApiError::missing("TerminateInstances"))?;
            let (done, failed) = ctx.write(|tx| tx.delete_fleets(&ids, terminate)).await?;
            let mut w = Xml::new();
            w.set("successfulFleetDeletionSet", &done, |w, d| {
                w.leaf("currentFleetState", d.current)
                    .leaf("previousFleetState", d.previous)
                    .leaf("fleetId", &d.fleet_id);
            })
            .set("unsuccessfulFleetDeletionSet", &failed, |w, e| {
                w.el("error", |w| {
                    w.leaf("code", e.code).leaf("message", &e.message);
                })
                .leaf("fleetId", &e.fleet_id);
            });
            Ok(w)
        }
    }
}
