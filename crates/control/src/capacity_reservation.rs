//! Capacity Reservations: CreateCapacityReservation, ModifyCapacityReservation,
//! CancelCapacityReservation, and the reservation an instance runs in (its target, or an
//! `open` one it matches while it prefers `open`). Fort holds no hardware back for one: a
//! reservation counts the instances running in it, as EC2 describes it.

use fort_model::*;

use crate::Tx;
use crate::idempotency::ClientToken;
use crate::region::Region;
use crate::tags::check_tags;

/// EC2's `CapacityReservationInstancePlatform` values.
pub const PLATFORMS: &[&str] = &[
    "Linux/UNIX",
    "Red Hat Enterprise Linux",
    "SUSE Linux",
    "Windows",
    "Windows with SQL Server",
    "Windows with SQL Server Enterprise",
    "Windows with SQL Server Standard",
    "Windows with SQL Server Web",
    "Linux with SQL Server Standard",
    "Linux with SQL Server Web",
    "Linux with SQL Server Enterprise",
    "RHEL with SQL Server Standard",
    "RHEL with SQL Server Enterprise",
    "RHEL with SQL Server Web",
    "RHEL with HA",
    "RHEL with HA and SQL Server Standard",
    "RHEL with HA and SQL Server Enterprise",
    "Ubuntu Pro",
];

/// The most instances one reservation holds (so no Modify changes it by more than EC2's
/// 1000 a request).
const MAX_INSTANCE_COUNT: i64 = 1000;

/// What CreateCapacityReservation asks for.
#[derive(Clone, Debug, Default)]
pub struct CapacityReservationRequest {
    pub instance_type: Option<String>,
    pub instance_platform: Option<String>,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub tenancy: Option<String>,
    pub instance_count: Option<i64>,
    pub ebs_optimized: bool,
    pub ephemeral_storage: bool,
    pub end_date: Option<Millis>,
    pub end_date_type: Option<String>,
    pub instance_match_criteria: Option<String>,
    pub placement_group_arn: Option<String>,
    pub outpost_arn: Option<String>,
    pub client_token: Option<ClientToken>,
    pub tags: Tags,
}

/// What ModifyCapacityReservation asks for.
#[derive(Clone, Debug, Default)]
pub struct ModifyCapacityReservation {
    pub instance_count: Option<i64>,
    pub end_date: Option<Millis>,
    pub end_date_type: Option<String>,
    pub instance_match_criteria: Option<String>,
}

/// The end date an `EndDateType` and `EndDate` give: `None` for `unlimited`.
fn end_date(
    end_date_type: Option<&str>,
    end_date: Option<Millis>,
    now: Millis,
) -> Result<Option<Millis>, ApiError> {
    match (end_date_type.unwrap_or("unlimited"), end_date) {
        ("unlimited", None) => Ok(None),
        ("unlimited", Some(_)) => Err(ApiError::combination(
            "EndDate cannot be specified when EndDateType is unlimited.",
        )),
        ("limited", None) => Err(ApiError::combination(
            "EndDate must be specified when EndDateType is limited.",
        )),
        ("limited", Some(end)) if end <= now => Err(ApiError::invalid_value(
            "The end date must be in the future.",
        )),
        ("limited", Some(end)) => Ok(Some(end)),
        (other, _) => Err(ApiError::invalid_value(format!(
            "Value ({other}) for parameter EndDateType is invalid. Valid values: unlimited, limited."
        ))),
    }
}

/// `InstanceMatchCriteria`: whether it is `targeted`.
fn targeted(criteria: &str) -> Result<bool, ApiError> {
    match criteria {
        "open" => Ok(false),
        "targeted" => Ok(true),
        other => Err(ApiError::invalid_value(format!(
            "Value ({other}) for parameter InstanceMatchCriteria is invalid. Valid values: open, targeted."
        ))),
    }
}

fn check_count(n: i64) -> Result<u32, ApiError> {
    match u32::try_from(n) {
        Ok(c) if (1..=MAX_INSTANCE_COUNT).contains(&n) => Ok(c),
        _ => Err(ApiError::invalid_value(format!(
            "Value ({n}) for parameter InstanceCount is invalid. Valid values are 1 to {MAX_INSTANCE_COUNT}."
        ))),
    }
}

/// Whether an instance of this state takes up room in its reservation.
fn uses_capacity(state: InstanceState) -> bool {
    matches!(state, InstanceState::Pending | InstanceState::Running)
}

/// The instances running in reservation `id`.
pub fn used(region: &Region, id: &str) -> u32 {
    let n = region
        .instances
        .values()
        .filter(|i| uses_capacity(i.state))
        .filter(|i| i.capacity_reservation_id.as_ref().is_some_and(|c| c == id))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The room left in reservation `r`: its total less the instances running in it.
pub fn available(region: &Region, r: &CapacityReservation) -> u32 {
    r.total_instance_count.saturating_sub(used(region, &r.id))
}

/// What an instance is, for matching a reservation.
pub struct InstanceShape<'a> {
    pub instance_type: &'a str,
    pub platform: &'a str,
    pub availability_zone: &'a str,
    pub dedicated: bool,
}

impl<'a> InstanceShape<'a> {
    /// Instance `i`'s shape, its image's platform being `platform`.
    pub fn of(i: &'a Instance, platform: &'a str) -> Self {
        InstanceShape {
            instance_type: &i.instance_type,
            platform,
            availability_zone: &i.availability_zone,
            dedicated: i.dedicated,
        }
    }

    fn matches(&self, r: &CapacityReservation) -> bool {
        r.instance_type == self.instance_type
            && r.instance_platform == self.platform
            && r.availability_zone == self.availability_zone
            && (r.tenancy == "dedicated") == self.dedicated
    }
}

impl Tx<'_> {
    pub fn create_capacity_reservation(
        &mut self,
        req: CapacityReservationRequest,
    ) -> Result<CapacityReservation, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.capacity_reservations.get(id).cloned(),
            |tx| tx.new_capacity_reservation(req),
            |r| r.id.to_string(),
        )
    }

    fn new_capacity_reservation(
        &mut self,
        req: CapacityReservationRequest,
    ) -> Result<CapacityReservation, ApiError> {
        let instance_type = req
            .instance_type
            .ok_or_else(|| ApiError::missing("InstanceType"))?;
        let platform = req
            .instance_platform
            .ok_or_else(|| ApiError::missing("InstancePlatform"))?;
        let count = req
            .instance_count
            .ok_or_else(|| ApiError::missing("InstanceCount"))?;
        if crate::image::find_instance_type(&instance_type).is_none() {
            return Err(ApiError::invalid_value(format!(
                "Invalid value '{instance_type}' for InstanceType."
            )));
        }
        if !PLATFORMS.contains(&platform.as_str()) {
            return Err(ApiError::invalid_value(format!(
                "Value ({platform}) for parameter InstancePlatform is invalid. Valid values: {}.",
                PLATFORMS.join(", ")
            )));
        }
        let count = check_count(count)?;
        let zone = self.zone_named(
            req.availability_zone.as_deref(),
            req.availability_zone_id.as_deref(),
        )?;
        let tenancy = req.tenancy.unwrap_or_else(|| "default".into());
        if !matches!(tenancy.as_str(), "default" | "dedicated") {
            return Err(ApiError::invalid_value(format!(
                "Value ({tenancy}) for parameter Tenancy is invalid. Valid values: default, dedicated."
            )));
        }
        let end_date = end_date(req.end_date_type.as_deref(), req.end_date, self.now)?;
        let targeted = targeted(req.instance_match_criteria.as_deref().unwrap_or("open"))?;
        if req.outpost_arn.is_some() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                "Fort has no Outposts: a Capacity Reservation cannot be made on one.",
            ));
        }
        let placement_group_arn = match req.placement_group_arn {
            None => None,
            Some(arn) => {
                let name = arn.rsplit_once(":placement-group/").map(|(_, n)| n);
                let group =
                    name.and_then(|n| self.region.placement_groups.values().find(|g| g.name == n));
                match group {
                    Some(g) if g.strategy == PlacementStrategy::Cluster => Some(arn),
                    Some(_) => {
                        return Err(ApiError::invalid_value(format!(
                            "The placement group '{arn}' does not use the cluster strategy."
                        )));
                    }
                    None => {
                        return Err(crate::placement_group::unknown(name.unwrap_or(&arn)));
                    }
                }
            }
        };
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let r = CapacityReservation {
            id: CapacityReservationId::new(),
            instance_type,
            instance_platform: platform,
            availability_zone: zone,
            tenancy,
            total_instance_count: count,
            ebs_optimized: req.ebs_optimized,
            ephemeral_storage: req.ephemeral_storage,
            end_date,
            targeted,
            create_date: self.now,
            cancelled: None,
            placement_group_arn,
            client_token: req.client_token.map(|t| t.as_str().to_owned()),
            tags: req.tags,
        };
        self.region.capacity_reservations.insert(r.clone());
        // running instances that match an open one move into it, as in EC2
        if !r.targeted {
            self.fill_open_reservation(&r.id);
        }
        Ok(r)
    }

    /// An active reservation, or EC2's error for one that is not (`cannot be {done}`).
    fn active_reservation(&self, id: &str, done: &str) -> Result<&CapacityReservation, ApiError> {
        let r = self
            .region
            .capacity_reservations
            .find(Kind::CapacityReservation, id)?;
        let state = r.state(self.now);
        if state != CapacityReservationState::Active {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The Capacity Reservation '{id}' is in the '{}' state and cannot be {done}.",
                    state.as_str()
                ),
            ));
        }
        Ok(r)
    }

    /// ModifyCapacityReservation: its count, end and eligibility (the latter only while no
    /// instance runs in it, as EC2 requires).
    pub fn modify_capacity_reservation(
        &mut self,
        id: &str,
        req: ModifyCapacityReservation,
    ) -> Result<(), ApiError> {
        let r = self.active_reservation(id, "modified")?.clone();
        if req.instance_count.is_none()
            && req.end_date_type.is_none()
            && req.end_date.is_none()
            && req.instance_match_criteria.is_none()
        {
            return Err(ApiError::missing(
                "InstanceCount, EndDate, EndDateType or InstanceMatchCriteria",
            ));
        }
        let count = match req.instance_count {
            None => r.total_instance_count,
            Some(n) => check_count(n)?,
        };
        let end = if req.end_date_type.is_some() || req.end_date.is_some() {
            let ty = req.end_date_type.as_deref().or(
                if r.end_date.is_some() && req.end_date.is_some() {
                    Some("limited")
                } else {
                    None
                },
            );
            end_date(ty, req.end_date, self.now)?
        } else {
            r.end_date
        };
        let targeted = match &req.instance_match_criteria {
            None => r.targeted,
            Some(c) => targeted(c)?,
        };
        if targeted != r.targeted && used(self.region, id) > 0 {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The instance eligibility of Capacity Reservation '{id}' cannot be changed while instances are running in it."
                ),
            ));
        }
        let row = self
            .region
            .capacity_reservations
            .get_mut(id)
            .expect("found");
        row.total_instance_count = count;
        row.end_date = end;
        row.targeted = targeted;
        if !targeted {
            self.fill_open_reservation(id);
        }
        Ok(())
    }

    /// CancelCapacityReservation: it ends, `cancelled`; the instances in it run on as
    /// On-Demand Instances (those that targeted it still name it as their target).
    pub fn cancel_capacity_reservation(&mut self, id: &str) -> Result<(), ApiError> {
        self.active_reservation(id, "cancelled")?;
        let now = self.now;
        self.region
            .capacity_reservations
            .get_mut(id)
            .expect("found")
            .cancelled = Some(now);
        let running: Vec<InstanceId> = self
            .region
            .instances
            .ids_where(|i| i.capacity_reservation_id.as_ref().is_some_and(|c| c == id));
        for i in running {
            if let Some(inst) = self.region.instances.get_mut(&i) {
                inst.capacity_reservation_id = None;
            }
        }
        Ok(())
    }

    /// The reservation an instance of `shape` runs in when it starts: its target (which
    /// must be active, match it and have room), or with the preference `open`, the first
    /// active `open` reservation that matches and has room; none with `none`.
    pub(crate) fn reservation_for(
        &self,
        shape: &InstanceShape<'_>,
        target: Option<&CapacityReservationId>,
        none: bool,
    ) -> Result<Option<CapacityReservationId>, ApiError> {
        if let Some(id) = target {
            let r = self
                .region
                .capacity_reservations
                .find(Kind::CapacityReservation, id)?;
            if r.state(self.now) != CapacityReservationState::Active {
                return Err(ApiError::new(
                    ErrorCode::InvalidCapacityReservationIdNotFound,
                    format!("The Capacity Reservation '{id}' is not active."),
                ));
            }
            if !shape.matches(r) {
                return Err(ApiError::combination(format!(
                    "The instance's attributes (instance type {}, platform {}, Availability Zone {}, tenancy {}) do not match those of the Capacity Reservation '{id}'.",
                    shape.instance_type,
                    shape.platform,
                    shape.availability_zone,
                    if shape.dedicated {
                        "dedicated"
                    } else {
                        "default"
                    }
                )));
            }
            if available(self.region, r) == 0 {
                return Err(ApiError::new(
                    ErrorCode::ReservationCapacityExceeded,
                    format!(
                        "The targeted Capacity Reservation '{id}' does not have enough available capacity to fulfill the request."
                    ),
                ));
            }
            return Ok(Some(r.id.clone()));
        }
        if none {
            return Ok(None);
        }
        Ok(self
            .region
            .capacity_reservations
            .values()
            .filter(|r| !r.targeted && r.state(self.now) == CapacityReservationState::Active)
            .find(|r| shape.matches(r) && available(self.region, r) > 0)
            .map(|r| r.id.clone()))
    }

    /// A reservation that became `open`: the running instances that prefer `open`, match
    /// it and run in no reservation take its room, as EC2 moves them in.
    fn fill_open_reservation(&mut self, id: &str) {
        let Some(r) = self.region.capacity_reservations.get(id).cloned() else {
            return;
        };
        let mut room = available(self.region, &r);
        let candidates: Vec<InstanceId> = self.region.instances.ids_where(|i| {
            uses_capacity(i.state)
                && i.capacity_reservation_id.is_none()
                && i.capacity_reservation_target.is_none()
                && !i.capacity_reservation_none
        });
        for iid in candidates {
            if room == 0 {
                break;
            }
            let Some(inst) = self.region.instances.get(&iid) else {
                continue;
            };
            let platform = self.instance_platform(&inst.image_id);
            if InstanceShape::of(inst, &platform).matches(&r) {
                self.region
                    .instances
                    .get_mut(&iid)
                    .expect("listed")
                    .capacity_reservation_id = Some(r.id.clone());
                room -= 1;
            }
        }
    }

    /// Whether reservation `id` exists and is active.
    pub(crate) fn reservation_is_active(&self, id: &str) -> bool {
        self.region
            .capacity_reservations
            .get(id)
            .is_some_and(|r| r.state(self.now) == CapacityReservationState::Active)
    }

    /// The platform (`Linux/UNIX`, `Windows`) an instance of image `image_id` runs.
    pub(crate) fn instance_platform(&self, image_id: &str) -> String {
        self.find_image(image_id)
            .map_or_else(|| "Linux/UNIX".to_owned(), |i| i.platform_details)
    }
}
