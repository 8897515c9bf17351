//! Spot Fleet requests (`sfr-…`): RequestSpotFleet records the request and, in the same
//! change, its launches (made by the API layer, which reads launch templates, as for EC2
//! Fleet: each pool's share is one RunInstances on the Spot market, so every Spot
//! Instance has its Spot request); ModifySpotFleetRequest launches up to a raised target
//! or, unless its policy is `noTermination`, terminates down to a lowered one;
//! CancelSpotFleetRequests stops it, terminating its instances or leaving them.
//!
//! Fort's capacity is never short and Spot capacity is never reclaimed, so a request is
//! fulfilled when it is made (EC2 does it moments later) and a launch that fails fails
//! the request. A `maintain` fleet does not replace instances terminated later.

use fort_model::*;

use crate::Tx;
use crate::region::Region;

/// Why CancelSpotFleetRequests could not cancel one request: EC2's `CancelBatchErrorCode`.
#[derive(Clone, Debug)]
pub struct CancelError {
    pub id: String,
    pub code: &'static str,
    pub message: String,
}

/// A request CancelSpotFleetRequests cancelled: its state before and after.
#[derive(Clone, Debug)]
pub struct Cancelled {
    pub id: SpotFleetRequestId,
    pub previous: SpotFleetRequestState,
    pub current: SpotFleetRequestState,
}

/// Capacity running: in all and of it On-Demand. A member counts while its instance is
/// pending or running.
pub fn fulfilled(region: &Region, f: &SpotFleetRequest) -> (f64, f64) {
    let mut total = 0.0;
    let mut on_demand = 0.0;
    for m in running_members(region, f) {
        total += m.weight;
        if m.on_demand {
            on_demand += m.weight;
        }
    }
    (total, on_demand)
}

fn running_members<'a>(
    region: &'a Region,
    f: &'a SpotFleetRequest,
) -> impl Iterator<Item = &'a SpotFleetMember> + 'a {
    f.members.iter().filter(|m| {
        region
            .instances
            .get(&m.instance_id)
            .is_some_and(|i| i.state.is_up())
    })
}

/// The state a request shows: one cancelled with its instances terminating is
/// `cancelled` once none runs.
pub fn shown_state(region: &Region, f: &SpotFleetRequest) -> SpotFleetRequestState {
    if f.state == SpotFleetRequestState::CancelledTerminating
        && running_members(region, f).next().is_none()
    {
        SpotFleetRequestState::Cancelled
    } else {
        f.state
    }
}

/// `activityStatus`: `fulfilled` when what runs meets the target, else
/// `pending_fulfillment` (a cancelled request shows none).
pub fn activity_status(region: &Region, f: &SpotFleetRequest) -> Option<&'static str> {
    if f.state.is_cancelled() {
        return None;
    }
    let (total, _) = fulfilled(region, f);
    Some(if total >= f64::from(f.target_capacity) {
        "fulfilled"
    } else {
        "pending_fulfillment"
    })
}

/// The capacity a request still needs, On-Demand and Spot.
pub fn shortfall(region: &Region, f: &SpotFleetRequest) -> (f64, f64) {
    let (total, on_demand) = fulfilled(region, f);
    let spot = total - on_demand;
    let od_target = f64::from(f.on_demand_target_capacity);
    let spot_target = f64::from(
        f.target_capacity
            .saturating_sub(f.on_demand_target_capacity),
    );
    (
        (od_target - on_demand).max(0.0),
        (spot_target - spot).max(0.0),
    )
}

/// The members to terminate to bring `running` (newest last, with weights) down to
/// `target`: the newest first, while what is left still meets the target.
pub fn excess(running: &[(InstanceId, f64)], target: f64) -> Vec<InstanceId> {
    let mut total: f64 = running.iter().map(|(_, w)| w).sum();
    let mut out = Vec::new();
    for (id, w) in running.iter().rev() {
        if total - w < target {
            break;
        }
        total -= w;
        out.push(id.clone());
    }
    out
}

impl Tx<'_> {
    /// Records a new request, before its launches.
    pub fn create_spot_fleet_request(&mut self, mut f: SpotFleetRequest) -> Result<(), ApiError> {
        crate::tags::check_tags(&f.tags, self.config.quotas.tags_per_resource)?;
        f.history.push(fleet_event(self.now, "submitted"));
        f.history.push(fleet_event(self.now, "active"));
        self.region.spot_fleet_requests.insert(f);
        Ok(())
    }

    /// Adds instances a request launched, each counting for `weight`.
    pub fn spot_fleet_launched(
        &mut self,
        id: &SpotFleetRequestId,
        instances: &[InstanceId],
        weight: f64,
        on_demand: bool,
    ) {
        let now = self.now;
        if let Some(f) = self.region.spot_fleet_requests.get_mut(id) {
            for i in instances {
                f.members.push(SpotFleetMember {
                    instance_id: i.clone(),
                    weight,
                    on_demand,
                });
                f.history.push(SpotFleetEvent {
                    time: now,
                    event_type: "instanceChange".into(),
                    sub_type: "launched".into(),
                    instance_id: Some(i.clone()),
                    description: None,
                });
            }
        }
    }

    /// ModifySpotFleetRequest: a new target (and On-Demand part). A lowered one terminates
    /// the newest instances beyond it unless the policy is `noTermination`. Returns what
    /// the request still needs (On-Demand, Spot), for the caller to launch.
    pub fn modify_spot_fleet_request(
        &mut self,
        id: &str,
        target: Option<u32>,
        on_demand_target: Option<u32>,
        policy: Option<String>,
    ) -> Result<(f64, f64), ApiError> {
        let f = self
            .region
            .spot_fleet_requests
            .find(Kind::SpotFleetRequest, id)?
            .clone();
        if target.is_none() && on_demand_target.is_none() {
            return Err(ApiError::missing(
                "TargetCapacity or OnDemandTargetCapacity",
            ));
        }
        if f.state != SpotFleetRequestState::Active {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The Spot Fleet request '{id}' is in the '{}' state and cannot be modified.",
                    shown_state(self.region, &f)
                ),
            ));
        }
        if f.fleet_type != SpotFleetType::Maintain {
            return Err(ApiError::new(
                ErrorCode::InvalidSpotFleetRequestConfig,
                "Only Spot Fleet requests of type maintain can be modified.",
            ));
        }
        let target = target.unwrap_or(f.target_capacity);
        let on_demand_target = on_demand_target.unwrap_or(f.on_demand_target_capacity);
        if on_demand_target > target {
            return Err(ApiError::new(
                ErrorCode::InvalidSpotFleetRequestConfig,
                "OnDemandTargetCapacity cannot be greater than TargetCapacity.",
            ));
        }
        let policy = policy.or(f.excess_capacity_termination_policy.clone());
        let terminates = policy
            .as_deref()
            .and_then(ExcessCapacityTerminationPolicy::of)
            != Some(ExcessCapacityTerminationPolicy::NoTermination);
        let running: Vec<(InstanceId, f64, bool)> = running_members(self.region, &f)
            .map(|m| (m.instance_id.clone(), m.weight, m.on_demand))
            .collect();
        let mut gone: Vec<String> = Vec::new();
        if terminates {
            // Spot beyond the Spot target first, then On-Demand beyond its own
            let market = |od: bool| -> Vec<(InstanceId, f64)> {
                running
                    .iter()
                    .filter(|m| m.2 == od)
                    .map(|m| (m.0.clone(), m.1))
                    .collect()
            };
            let spot_target = f64::from(target - on_demand_target);
            gone.extend(
                excess(&market(false), spot_target)
                    .iter()
                    .map(ToString::to_string),
            );
            gone.extend(
                excess(&market(true), f64::from(on_demand_target))
                    .iter()
                    .map(ToString::to_string),
            );
        }
        if !gone.is_empty() {
            self.terminate_instances(&gone)?;
        }
        let now = self.now;
        let row = self
            .region
            .spot_fleet_requests
            .get_mut(id)
            .expect("found above");
        row.target_capacity = target;
        row.on_demand_target_capacity = on_demand_target;
        row.excess_capacity_termination_policy = policy;
        row.history.push(fleet_event(now, "modify_in_progress"));
        for i in &gone {
            row.history.push(SpotFleetEvent {
                time: now,
                event_type: "instanceChange".into(),
                sub_type: "terminated".into(),
                instance_id: InstanceId::parse(i).ok(),
                description: None,
            });
        }
        row.history.push(fleet_event(now, "modify_succeeded"));
        let row = row.clone();
        Ok(shortfall(self.region, &row))
    }

    /// CancelSpotFleetRequests: each request is cancelled or reported; with `terminate`,
    /// its instances are terminated (`cancelled_terminating`, `cancelled` once none
    /// runs), without, they run on (`cancelled_running`), and may be terminated by a
    /// later cancel.
    pub fn cancel_spot_fleet_requests(
        &mut self,
        ids: &[String],
        terminate: bool,
    ) -> Result<(Vec<Cancelled>, Vec<CancelError>), ApiError> {
        if ids.is_empty() {
            return Err(ApiError::missing("SpotFleetRequestId"));
        }
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for id in ids {
            if !Kind::SpotFleetRequest.matches(id) {
                failed.push(CancelError {
                    id: id.clone(),
                    code: "fleetRequestIdMalformed",
                    message: format!("The Spot Fleet request ID '{id}' is malformed"),
                });
                continue;
            }
            let Some(f) = self.region.spot_fleet_requests.get(id).cloned() else {
                failed.push(CancelError {
                    id: id.clone(),
                    code: "fleetRequestIdDoesNotExist",
                    message: format!("The Spot Fleet request ID '{id}' does not exist"),
                });
                continue;
            };
            let previous = shown_state(self.region, &f);
            let cancellable = !f.state.is_cancelled()
                || (f.state == SpotFleetRequestState::CancelledRunning && terminate);
            if !cancellable {
                failed.push(CancelError {
                    id: id.clone(),
                    code: "fleetRequestNotInCancellableState",
                    message: format!(
                        "The Spot Fleet request '{id}' is in the '{previous}' state and cannot be cancelled"
                    ),
                });
                continue;
            }
            let live: Vec<String> = running_members(self.region, &f)
                .map(|m| m.instance_id.to_string())
                .collect();
            let current = match (live.is_empty(), terminate) {
                (true, _) => SpotFleetRequestState::Cancelled,
                (false, true) => SpotFleetRequestState::CancelledTerminating,
                (false, false) => SpotFleetRequestState::CancelledRunning,
            };
            if terminate && !live.is_empty() {
                self.terminate_instances(&live)?;
            }
            let now = self.now;
            let row = self.region.spot_fleet_requests.get_mut(id).expect("found");
            row.state = current;
            row.history.push(fleet_event(now, current.as_str()));
            done.push(Cancelled {
                id: row.id.clone(),
                previous,
                current,
            });
        }
        Ok((done, failed))
    }
}

fn fleet_event(time: Millis, sub_type: &str) -> SpotFleetEvent {
    SpotFleetEvent {
        time,
        event_type: "fleetRequestChange".into(),
        sub_type: sub_type.into(),
        instance_id: None,
        description: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_terminates_the_newest_while_the_target_is_still_met() {
        let ids: Vec<InstanceId> = (0..3).map(|_| InstanceId::new()).collect();
        let running: Vec<(InstanceId, f64)> = ids.iter().map(|i| (i.clone(), 2.0)).collect();
        // 6 units down to 1: two go, the oldest stays (2 units)
        assert_eq!(excess(&running, 1.0), vec![ids[2].clone(), ids[1].clone()]);
        // down to 4: one goes; to 5 none (4 would be short)
        assert_eq!(excess(&running, 4.0), vec![ids[2].clone()]);
        assert!(excess(&running, 5.0).is_empty());
        assert!(excess(&running, 6.0).is_empty());
        assert_eq!(excess(&running, 0.0).len(), 3);
    }
}
