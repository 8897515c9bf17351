//! Spot Instance requests (`sir-…`): one per Spot Instance, made by RequestSpotInstances
//! or by RunInstances on the Spot market. Fort has no Spot market of its own: capacity is
//! never reclaimed and any price is met, so a request within its validity is fulfilled
//! when it is made; one whose validity has not begun stays open (Fort launches nothing
//! later), and one whose validity has ended is closed as expired.

use fort_model::*;

use crate::Tx;

/// The Spot side of a launch: RunInstances' `InstanceMarketOptions.SpotOptions`, or
/// RequestSpotInstances' own parameters.
#[derive(Clone, Debug, Default)]
pub struct SpotRequestSpec {
    pub max_price: Option<String>,
    pub request_type: SpotInstanceType,
    pub interruption_behavior: InterruptionBehavior,
    pub valid_from: Option<Millis>,
    pub valid_until: Option<Millis>,
    pub launch_group: Option<String>,
    pub availability_zone_group: Option<String>,
    /// The requests' own tags (`spot-instances-request`).
    pub tags: Tags,
}

/// Whether a request made now launches, waits, or has expired already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    Now,
    NotYet,
    Expired,
}

impl SpotRequestSpec {
    /// Checks the request's own values (price, validity), with EC2's errors.
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(p) = &self.max_price
            && !p
                .trim()
                .parse::<f64>()
                .is_ok_and(|v| v.is_finite() && v > 0.0)
        {
            return Err(ApiError::invalid_value(format!(
                "Invalid value '{p}' for spotPrice. The price must be a positive number."
            )));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            return Err(ApiError::invalid_value(
                "validUntil must be later than validFrom.",
            ));
        }
        Ok(())
    }

    pub fn schedule(&self, now: Millis) -> Schedule {
        if self.valid_until.is_some_and(|u| u <= now) {
            Schedule::Expired
        } else if self.valid_from.is_some_and(|f| f > now) {
            Schedule::NotYet
        } else {
            Schedule::Now
        }
    }

    /// The price as EC2 shows it: six decimals (`0.500000`).
    fn shown_price(&self) -> Option<String> {
        self.max_price
            .as_ref()
            .and_then(|p| p.trim().parse::<f64>().ok())
            .map(|v| format!("{v:.6}"))
    }
}

impl Tx<'_> {
    /// Records the fulfilled request of a Spot Instance just launched.
    pub(crate) fn fulfilled_spot_request(
        &mut self,
        spec: &SpotRequestSpec,
        inst: &Instance,
        launch: SpotLaunchSpecification,
    ) -> SpotInstanceRequestId {
        let id = SpotInstanceRequestId::new();
        self.region
            .spot_instance_requests
            .insert(SpotInstanceRequest {
                id: id.clone(),
                spot_price: spec.shown_price(),
                request_type: spec.request_type,
                state: SpotRequestState::Active,
                status_code: "fulfilled".into(),
                status_message: "Your spot request is fulfilled.".into(),
                status_time: self.now,
                valid_from: spec.valid_from,
                valid_until: spec.valid_until,
                launch_group: spec.launch_group.clone(),
                availability_zone_group: spec.availability_zone_group.clone(),
                interruption_behavior: spec.interruption_behavior,
                launch,
                instance_id: Some(inst.id.clone()),
                launched_availability_zone: Some(inst.availability_zone.clone()),
                create_time: self.now,
                tags: spec.tags.clone(),
            });
        id
    }

    /// RequestSpotInstances outside its validity: `count` requests that launch nothing,
    /// open (not yet valid) or closed (expired).
    pub fn unfulfilled_spot_requests(
        &mut self,
        spec: &SpotRequestSpec,
        launch: &SpotLaunchSpecification,
        count: i64,
    ) -> Result<Vec<SpotInstanceRequestId>, ApiError> {
        spec.check()?;
        crate::tags::check_tags(&spec.tags, self.config.quotas.tags_per_resource)?;
        let (state, code, message) = match spec.schedule(self.now) {
            Schedule::Expired => (
                SpotRequestState::Closed,
                "schedule-expired",
                "The request's validity period ended before it could be fulfilled.",
            ),
            _ => (
                SpotRequestState::Open,
                "not-scheduled-yet",
                "Your Spot request will not be evaluated until the scheduled date.",
            ),
        };
        let mut ids = Vec::new();
        for _ in 0..count.max(1) {
            let id = SpotInstanceRequestId::new();
            self.region
                .spot_instance_requests
                .insert(SpotInstanceRequest {
                    id: id.clone(),
                    spot_price: spec.shown_price(),
                    request_type: spec.request_type,
                    state,
                    status_code: code.into(),
                    status_message: message.into(),
                    status_time: self.now,
                    valid_from: spec.valid_from,
                    valid_until: spec.valid_until,
                    launch_group: spec.launch_group.clone(),
                    availability_zone_group: spec.availability_zone_group.clone(),
                    interruption_behavior: spec.interruption_behavior,
                    launch: launch.clone(),
                    instance_id: None,
                    launched_availability_zone: None,
                    create_time: self.now,
                    tags: spec.tags.clone(),
                });
            ids.push(id);
        }
        Ok(ids)
    }

    /// CancelSpotInstanceRequests: each request is cancelled (all or none named must
    /// exist); its instance, if any, keeps running, as in EC2.
    pub fn cancel_spot_instance_requests(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<(SpotInstanceRequestId, SpotRequestState)>, ApiError> {
        if ids.is_empty() {
            return Err(ApiError::missing("SpotInstanceRequestId"));
        }
        for id in ids {
            self.region
                .spot_instance_requests
                .find(Kind::SpotInstanceRequest, id)?;
        }
        let now = self.now;
        let mut out = Vec::new();
        for id in ids {
            let instance_running = {
                let r = self
                    .region
                    .spot_instance_requests
                    .get(id)
                    .expect("checked above");
                r.instance_id.as_ref().is_some_and(|i| {
                    self.region
                        .instances
                        .get(i)
                        .is_some_and(|i| i.state != InstanceState::Terminated)
                })
            };
            let r = self
                .region
                .spot_instance_requests
                .get_mut(id)
                .expect("checked above");
            if matches!(r.state, SpotRequestState::Open | SpotRequestState::Active) {
                r.state = SpotRequestState::Cancelled;
                (r.status_code, r.status_message) = if instance_running {
                    (
                        "request-canceled-and-instance-running".into(),
                        "Spot Instance request is canceled, but the instance is still running."
                            .into(),
                    )
                } else {
                    (
                        "canceled-before-fulfillment".into(),
                        "Your Spot request was canceled before it was fulfilled.".into(),
                    )
                };
                r.status_time = now;
            }
            out.push((r.id.clone(), r.state));
        }
        Ok(out)
    }

    /// A Spot Instance's user-initiated termination closes its one-time request; a
    /// persistent request opens again (Fort launches nothing for it later).
    pub(crate) fn spot_instance_terminated(&mut self, request: &SpotInstanceRequestId) {
        let now = self.now;
        if let Some(r) = self.region.spot_instance_requests.get_mut(request)
            && r.state == SpotRequestState::Active
        {
            r.state = match r.request_type {
                SpotInstanceType::OneTime => SpotRequestState::Closed,
                SpotInstanceType::Persistent => SpotRequestState::Open,
            };
            r.status_code = "instance-terminated-by-user".into();
            r.status_message = "Spot Instance terminated due to user-initiated termination.".into();
            r.status_time = now;
        }
    }
}
