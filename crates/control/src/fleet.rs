//! EC2 Fleets (`fleet-…`): CreateFleet records the fleet and, in the same change, its
//! launches (made by the API layer, which reads launch templates, with the fleet's id on
//! each RunInstances); DeleteFleets stops it, terminating its instances or leaving them.
//! Fort's capacity is never short, so every fleet type is fulfilled when it is made; a
//! `maintain` fleet does not replace instances terminated later.

use fort_model::*;

use crate::Tx;

/// Why DeleteFleets could not delete one fleet: EC2's `DeleteFleetErrorCode` and words.
#[derive(Clone, Debug)]
pub struct FleetDeletionError {
    pub fleet_id: String,
    pub code: &'static str,
    pub message: String,
}

/// A fleet DeleteFleets deleted: its state before and after.
#[derive(Clone, Debug)]
pub struct FleetDeletion {
    pub fleet_id: FleetId,
    pub previous: FleetState,
    pub current: FleetState,
}

impl Tx<'_> {
    /// Records a new fleet, before its launches.
    pub fn create_fleet(&mut self, fleet: Fleet) -> Result<(), ApiError> {
        crate::tags::check_tags(&fleet.tags, self.config.quotas.tags_per_resource)?;
        self.region.fleets.insert(fleet);
        Ok(())
    }

    /// Adds capacity a fleet launched to what it shows as fulfilled.
    pub fn fleet_fulfilled(&mut self, id: &FleetId, on_demand: f64, spot: f64) {
        if let Some(f) = self.region.fleets.get_mut(id) {
            f.fulfilled_on_demand_capacity += on_demand;
            f.fulfilled_capacity += on_demand + spot;
        }
    }

    /// DeleteFleets: each fleet is deleted or reported; with `terminate`, its instances
    /// are terminated (`deleted_terminating`), without, they run on (`deleted_running`).
    /// An instant fleet's instances must be terminated with it.
    pub fn delete_fleets(
        &mut self,
        ids: &[String],
        terminate: bool,
    ) -> Result<(Vec<FleetDeletion>, Vec<FleetDeletionError>), ApiError> {
        if ids.is_empty() {
            return Err(ApiError::missing("FleetId"));
        }
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for id in ids {
            if !Kind::Fleet.matches(id) {
                failed.push(FleetDeletionError {
                    fleet_id: id.clone(),
                    code: "fleetIdMalformed",
                    message: format!("The fleet ID '{id}' is malformed"),
                });
                continue;
            }
            let Some(fleet) = self.region.fleets.get(id) else {
                failed.push(FleetDeletionError {
                    fleet_id: id.clone(),
                    code: "fleetIdDoesNotExist",
                    message: format!("The fleet ID '{id}' does not exist"),
                });
                continue;
            };
            let deletable = matches!(
                fleet.state,
                FleetState::Submitted
                    | FleetState::Active
                    | FleetState::Modifying
                    | FleetState::DeletedRunning
            );
            if !deletable || (fleet.fleet_type == FleetType::Instant && !terminate) {
                failed.push(FleetDeletionError {
                    fleet_id: id.clone(),
                    code: "fleetNotInDeletableState",
                    message: if deletable {
                        format!("The instant fleet '{id}' can only be deleted with its instances terminated")
                    } else {
                        format!("The fleet '{id}' is not in a deletable state")
                    },
                });
                continue;
            }
            let previous = fleet.state;
            let fleet_id = fleet.id.clone();
            let live: Vec<String> = self
                .region
                .instances
                .values()
                .filter(|i| {
                    i.fleet_id.as_ref() == Some(&fleet_id) && i.state != InstanceState::Terminated
                })
                .map(|i| i.id.to_string())
                .collect();
            let current = match (live.is_empty(), terminate) {
                (true, _) => FleetState::Deleted,
                (false, true) => FleetState::DeletedTerminating,
                (false, false) => FleetState::DeletedRunning,
            };
            if terminate && !live.is_empty() {
                self.terminate_instances(&live)?;
            }
            let f = self.region.fleets.get_mut(&fleet_id).expect("found above");
            f.state = current;
            done.push(FleetDeletion {
                fleet_id,
                previous,
                current,
            });
        }
        Ok((done, failed))
    }
}

/// One pool of capacity a fleet (EC2 Fleet or Spot Fleet) launches from: a launch
/// template config or one of its overrides, or a Spot Fleet launch specification.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pool {
    /// Units of capacity one instance counts for (`WeightedCapacity`, 1 by default).
    pub weight: f64,
    /// Lower numbers first, for the prioritized strategies; none last.
    pub priority: Option<f64>,
}

/// How a strategy spreads capacity over pools. Fort has no prices, so every pool costs
/// the same: the price-based strategies take the first pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spread {
    /// All in the first pool.
    First,
    /// All in the pool of lowest priority number.
    Prioritized,
    /// One instance from each pool in turn.
    Diversified,
}

/// How many instances each pool (in the order given) launches for `capacity` units: at
/// least the capacity, the last instance possibly going over it, as EC2's do.
pub fn allocate(pools: &[Pool], capacity: f64, spread: Spread) -> Vec<u32> {
    let mut counts = vec![0u32; pools.len()];
    if pools.is_empty() || capacity <= 0.0 {
        return counts;
    }
    let mut order: Vec<usize> = (0..pools.len()).collect();
    if spread == Spread::Prioritized {
        let priority = |&i: &usize| pools[i].priority.unwrap_or(f64::INFINITY);
        order.sort_by(|a, b| priority(a).total_cmp(&priority(b)));
    }
    let mut left = capacity;
    let mut turn = 0;
    while left > 0.0 {
        let i = match spread {
            Spread::Diversified => order[turn % order.len()],
            _ => order[0],
        };
        counts[i] += 1;
        left -= pools[i].weight.max(f64::MIN_POSITIVE);
        turn += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(weight: f64, priority: Option<f64>) -> Pool {
        Pool { weight, priority }
    }

    #[test]
    fn the_first_pool_takes_everything_unless_diversified() {
        let pools = [pool(2.0, None), pool(4.0, None)];
        assert_eq!(allocate(&pools, 6.0, Spread::First), vec![3, 0]);
        // the last instance may go over the capacity
        assert_eq!(allocate(&pools, 5.0, Spread::First), vec![3, 0]);
        assert_eq!(allocate(&pools, 6.0, Spread::Diversified), vec![1, 1]);
        assert_eq!(allocate(&pools, 13.0, Spread::Diversified), vec![3, 2]);
        assert_eq!(allocate(&pools, 0.0, Spread::Diversified), vec![0, 0]);
        assert_eq!(allocate(&[], 3.0, Spread::First), Vec::<u32>::new());
    }

    #[test]
    fn prioritized_takes_the_lowest_priority_number() {
        let pools = [pool(1.0, Some(2.0)), pool(2.0, Some(1.0)), pool(1.0, None)];
        assert_eq!(allocate(&pools, 4.0, Spread::Prioritized), vec![0, 2, 0]);
    }
}
