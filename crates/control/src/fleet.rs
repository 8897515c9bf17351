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
