//! Dedicated Hosts (`h-…`): AllocateHosts, ModifyHosts, ReleaseHosts, and the host an
//! instance of tenancy `host` runs on (its `Placement.HostId`, or with auto-placement a
//! matching host with room).
//!
//! A Dedicated Host is an accounting construct here: Fort's own capacity is never short,
//! so allocating one holds nothing back on any machine. Its size comes from the instance
//! type catalog (the family's largest size: its cores and vCPUs), and the instances
//! running on it use up its vCPUs, so a full host refuses another instance as EC2's does.

use fort_model::*;

use crate::Tx;
use crate::idempotency::ClientToken;
use crate::image::{InstanceType, find_instance_type};
use crate::instance_types::INSTANCE_TYPES;
use crate::tags::check_tags;

/// How long a released host is still described (EC2 shows them for a while, then not).
pub const VISIBLE_AFTER_RELEASE_MS: Millis = 3600 * 1000;

/// Whether a host is still described at `now`.
pub fn visible(h: &DedicatedHost, now: Millis) -> bool {
    h.release_time
        .is_none_or(|t| now < t + VISIBLE_AFTER_RELEASE_MS)
}

/// What AllocateHosts asks for.
#[derive(Clone, Debug, Default)]
pub struct AllocateHosts {
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub instance_type: Option<String>,
    pub instance_family: Option<String>,
    pub quantity: Option<i64>,
    pub auto_placement: Option<String>,
    pub host_recovery: Option<String>,
    pub host_maintenance: Option<String>,
    pub outpost_arn: Option<String>,
    pub asset_ids: Vec<String>,
    pub client_token: Option<ClientToken>,
    pub tags: Tags,
}

/// What ModifyHosts asks for.
#[derive(Clone, Debug, Default)]
pub struct ModifyHosts {
    pub auto_placement: Option<String>,
    pub host_recovery: Option<String>,
    pub host_maintenance: Option<String>,
    pub instance_type: Option<String>,
    pub instance_family: Option<String>,
}

/// A host ModifyHosts or ReleaseHosts could not change: EC2's `UnsuccessfulItem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsuccessful {
    pub resource_id: String,
    pub code: &'static str,
    pub message: String,
}

/// The hardware of a Dedicated Host, as `hostProperties` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostProperties {
    pub cores: u32,
    pub sockets: u32,
    pub total_vcpus: u32,
}

/// The family of an instance type: what comes before its dot (`m5` of `m5.large`).
pub fn family(instance_type: &str) -> &str {
    instance_type.split('.').next().unwrap_or(instance_type)
}

/// The sizes of a family in the catalog.
fn family_sizes(family_name: &str) -> impl Iterator<Item = &'static InstanceType> + '_ {
    INSTANCE_TYPES
        .iter()
        .filter(move |t| family(t.name) == family_name)
}

/// A family's host: the machine its largest size fills (`m5`: 48 cores, 96 vCPUs, as
/// EC2's M5 host). Two sockets from 24 cores up, one below.
pub fn host_properties(family_name: &str) -> Option<HostProperties> {
    let largest = family_sizes(family_name).max_by_key(|t| (t.vcpus, t.bare_metal))?;
    Some(HostProperties {
        cores: largest.cores,
        sockets: if largest.cores >= 24 { 2 } else { 1 },
        total_vcpus: largest.vcpus,
    })
}

/// The family a host runs: its own, or its type's.
pub fn host_family(h: &DedicatedHost) -> &str {
    match (&h.instance_family, &h.instance_type) {
        (Some(f), _) => f,
        (None, Some(t)) => family(t),
        (None, None) => "",
    }
}

/// The sizes a host runs: its one type, or every size of its family (smallest first).
pub fn host_sizes(h: &DedicatedHost) -> Vec<&'static InstanceType> {
    match &h.instance_type {
        Some(t) => find_instance_type(t).into_iter().collect(),
        None => {
            let mut sizes: Vec<_> = family_sizes(host_family(h)).collect();
            sizes.sort_by_key(|t| (t.vcpus, t.name));
            sizes
        }
    }
}

/// `availableCapacity` of a host: per size, how many more fit and how many fit when empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// (type, available, total)
    pub per_type: Vec<(&'static str, u32, u32)>,
    pub available_vcpus: u32,
}

/// What is left of a host of `total_vcpus` running instances of `running` types: each
/// instance uses its type's vCPUs, and a size fits as many times as its vCPUs go into
/// what is left.
pub fn capacity(total_vcpus: u32, sizes: &[&'static InstanceType], running: &[&str]) -> Capacity {
    let used: u32 = running
        .iter()
        .map(|t| find_instance_type(t).map_or(0, |t| t.vcpus))
        .sum();
    let available_vcpus = total_vcpus.saturating_sub(used);
    let per_type = sizes
        .iter()
        .filter(|t| t.vcpus > 0)
        .map(|t| (t.name, available_vcpus / t.vcpus, total_vcpus / t.vcpus))
        .collect();
    Capacity {
        per_type,
        available_vcpus,
    }
}

fn on_off(param: &str, value: &str) -> Result<OnOff, ApiError> {
    OnOff::parse(value).ok_or_else(|| {
        ApiError::invalid_value(format!(
            "Value ({value}) for parameter {param} is invalid. Valid values: on, off."
        ))
    })
}

fn check_type(instance_type: &str) -> Result<(), ApiError> {
    if find_instance_type(instance_type).is_none() {
        return Err(ApiError::invalid_value(format!(
            "Invalid value '{instance_type}' for InstanceType."
        )));
    }
    Ok(())
}

fn check_family(instance_family: &str) -> Result<(), ApiError> {
    if host_properties(instance_family).is_none() {
        return Err(ApiError::invalid_value(format!(
            "Invalid value '{instance_family}' for InstanceFamily."
        )));
    }
    Ok(())
}

/// What instance types a host takes: exactly one of a type or a family.
fn host_kind(
    instance_type: Option<&str>,
    instance_family: Option<&str>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    match (instance_type, instance_family) {
        (Some(_), Some(_)) => Err(ApiError::combination(
            "InstanceType and InstanceFamily cannot both be specified.",
        )),
        (None, None) => Err(ApiError::missing("InstanceType or InstanceFamily")),
        (Some(t), None) => {
            check_type(t)?;
            Ok((Some(t.to_owned()), None))
        }
        (None, Some(f)) => {
            check_family(f)?;
            Ok((None, Some(f.to_owned())))
        }
    }
}

impl Tx<'_> {
    /// AllocateHosts: `Quantity` hosts (1 when not given) in one zone, all or none.
    pub fn allocate_hosts(&mut self, req: AllocateHosts) -> Result<Vec<DedicatedHost>, ApiError> {
        let token = req.client_token.clone();
        let key = token.as_ref().map(|t| t.as_str().to_owned());
        self.idempotent(
            token.as_ref(),
            |r, _first| {
                let hosts: Vec<DedicatedHost> = r
                    .dedicated_hosts
                    .values()
                    .filter(|h| h.client_token.is_some() && h.client_token == key)
                    .cloned()
                    .collect();
                (!hosts.is_empty()).then_some(hosts)
            },
            |tx| tx.new_hosts(req),
            |hosts| hosts.first().map(|h| h.id.to_string()).unwrap_or_default(),
        )
    }

    fn new_hosts(&mut self, req: AllocateHosts) -> Result<Vec<DedicatedHost>, ApiError> {
        let zone = self.zone_named(
            req.availability_zone.as_deref(),
            req.availability_zone_id.as_deref(),
        )?;
        let (instance_type, instance_family) =
            host_kind(req.instance_type.as_deref(), req.instance_family.as_deref())?;
        let quantity = req.quantity.unwrap_or(1);
        if quantity < 1 {
            return Err(ApiError::invalid_value(format!(
                "Value ({quantity}) for parameter quantity is invalid. Expected a positive integer."
            )));
        }
        let auto_placement = match &req.auto_placement {
            None => OnOff::Off,
            Some(v) => on_off("AutoPlacement", v)?,
        };
        let host_recovery = match &req.host_recovery {
            None => OnOff::Off,
            Some(v) => on_off("HostRecovery", v)?,
        };
        if let Some(v) = &req.host_maintenance {
            on_off("HostMaintenance", v)?;
        }
        if req.outpost_arn.is_some() || !req.asset_ids.is_empty() {
            return Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                "Fort has no Outposts: a Dedicated Host cannot be allocated on one.",
            ));
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let live = self
            .region
            .dedicated_hosts
            .values()
            .filter(|h| h.state != HostState::Released)
            .count();
        let quota = self.config.quotas.instances;
        if live as i64 + quantity > quota as i64 {
            return Err(ApiError::new(
                ErrorCode::HostLimitExceeded,
                format!(
                    "You have requested more Dedicated Hosts ({quantity}) than your current limit of {quota} allows."
                ),
            ));
        }
        let mut out = Vec::new();
        for _ in 0..quantity {
            let h = DedicatedHost {
                id: DedicatedHostId::new(),
                availability_zone: zone.clone(),
                instance_type: instance_type.clone(),
                instance_family: instance_family.clone(),
                auto_placement,
                host_recovery,
                state: HostState::Available,
                allocation_time: self.now,
                release_time: None,
                client_token: req.client_token.as_ref().map(|t| t.as_str().to_owned()),
                tags: req.tags.clone(),
            };
            self.region.dedicated_hosts.insert(h.clone());
            out.push(h);
        }
        Ok(out)
    }

    /// A host of the account that is not released, or why not (for Unsuccessful).
    /// Modify and Release, host by host: `check` refuses a live host or says how to change
    /// its row; a host not found or refused is reported, the others are changed.
    fn each_live_host<C: FnOnce(&mut DedicatedHost, Millis)>(
        &mut self,
        ids: &[String],
        check: impl Fn(&Self, &str) -> Result<C, Unsuccessful>,
    ) -> (Vec<DedicatedHostId>, Vec<Unsuccessful>) {
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for id in ids {
            let change = self
                .live_host(id)
                .map(|h| h.id.clone())
                .and_then(|h| Ok((h, check(self, id)?)));
            match change {
                Ok((h, change)) => {
                    let now = self.now;
                    change(self.region.dedicated_hosts.get_mut(&h).expect("found"), now);
                    done.push(h);
                }
                Err(e) => failed.push(e),
            }
        }
        (done, failed)
    }

    fn live_host(&self, id: &str) -> Result<&DedicatedHost, Unsuccessful> {
        match self.region.dedicated_hosts.get(id) {
            Some(h) if h.state != HostState::Released => Ok(h),
            _ => Err(Unsuccessful {
                resource_id: id.to_owned(),
                code: "Client.InvalidHostID.NotFound",
                message: format!("The specified host ID '{id}' does not exist"),
            }),
        }
    }

    /// The instances on host `id` that are not terminated.
    pub fn instances_on_host(&self, id: &str) -> Vec<&Instance> {
        instances_on(self.region, id)
    }

    /// ModifyHosts: each host is changed or reported. Its type or family changes only
    /// while no instance is on it, as EC2 requires.
    pub fn modify_hosts(
        &mut self,
        ids: &[String],
        req: ModifyHosts,
    ) -> Result<(Vec<DedicatedHostId>, Vec<Unsuccessful>), ApiError> {
        if ids.is_empty() {
            return Err(ApiError::missing("HostId"));
        }
        for id in ids {
            Kind::DedicatedHost.check(id)?;
        }
        if req.auto_placement.is_none()
            && req.host_recovery.is_none()
            && req.host_maintenance.is_none()
            && req.instance_type.is_none()
            && req.instance_family.is_none()
        {
            return Err(ApiError::missing(
                "AutoPlacement, HostRecovery, HostMaintenance, InstanceType or InstanceFamily",
            ));
        }
        let auto_placement = req
            .auto_placement
            .as_deref()
            .map(|v| on_off("AutoPlacement", v))
            .transpose()?;
        let host_recovery = req
            .host_recovery
            .as_deref()
            .map(|v| on_off("HostRecovery", v))
            .transpose()?;
        if let Some(v) = &req.host_maintenance {
            on_off("HostMaintenance", v)?;
        }
        let kind = if req.instance_type.is_some() || req.instance_family.is_some() {
            Some(host_kind(
                req.instance_type.as_deref(),
                req.instance_family.as_deref(),
            )?)
        } else {
            None
        };
        Ok(self.each_live_host(ids, |tx, id| {
            if kind.is_some() && !tx.instances_on_host(id).is_empty() {
                return Err(Unsuccessful {
                    resource_id: id.to_owned(),
                    code: "Client.InvalidHost.Occupied",
                    message: format!(
                        "The instance type or family of Dedicated Host {id} cannot be modified while it has instances."
                    ),
                });
            }
            Ok(|row: &mut DedicatedHost, _| {
                if let Some(a) = auto_placement {
                    row.auto_placement = a;
                }
                if let Some(r) = host_recovery {
                    row.host_recovery = r;
                }
                if let Some((t, f)) = &kind {
                    row.instance_type = t.clone();
                    row.instance_family = f.clone();
                }
            })
        }))
    }

    /// ReleaseHosts: each host without instances (stopped ones aside, which EC2 allows) is
    /// released, and still described for a while; the others are reported.
    pub fn release_hosts(
        &mut self,
        ids: &[String],
    ) -> Result<(Vec<DedicatedHostId>, Vec<Unsuccessful>), ApiError> {
        if ids.is_empty() {
            return Err(ApiError::missing("HostId"));
        }
        for id in ids {
            Kind::DedicatedHost.check(id)?;
        }
        Ok(self.each_live_host(ids, |tx, id| {
            if tx
                .instances_on_host(id)
                .iter()
                .any(|i| i.state != InstanceState::Stopped)
            {
                return Err(Unsuccessful {
                    resource_id: id.to_owned(),
                    code: "Client.InvalidHost.Occupied",
                    message: format!("Dedicated host {id} cannot be released as it is occupied"),
                });
            }
            Ok(|row: &mut DedicatedHost, now| {
                row.state = HostState::Released;
                row.release_time = Some(now);
            })
        }))
    }

    /// The host an instance of `instance_type` in `zone` runs on: `wanted` (which must be
    /// live, in the zone, of the type's family or type, and have room), or with none named
    /// the first auto-placement host that matches and has room. `instance` is the
    /// instance being placed, left out of what its host already runs.
    pub(crate) fn host_for(
        &self,
        instance: &InstanceId,
        instance_type: &str,
        zone: &str,
        wanted: Option<&DedicatedHostId>,
    ) -> Result<DedicatedHostId, ApiError> {
        let fits = |h: &DedicatedHost| {
            let running: Vec<&str> = instances_on(self.region, &h.id)
                .into_iter()
                .filter(|i| i.state.is_up() && i.id != *instance)
                .map(|i| i.instance_type.as_str())
                .collect();
            host_properties(host_family(h)).is_some_and(|p| {
                let sizes = host_sizes(h);
                capacity(p.total_vcpus, &sizes, &running)
                    .per_type
                    .iter()
                    .any(|(t, available, _)| *t == instance_type && *available > 0)
            })
        };
        let takes = |h: &DedicatedHost| match &h.instance_type {
            Some(t) => t == instance_type,
            None => h.instance_family.as_deref() == Some(family(instance_type)),
        };
        if let Some(id) = wanted {
            let h = self.region.dedicated_hosts.lookup(id)?;
            if h.state != HostState::Available {
                return Err(Kind::DedicatedHost.not_found(id));
            }
            if h.availability_zone != zone {
                return Err(ApiError::invalid_value(format!(
                    "The Dedicated Host {id} is in Availability Zone {}, not in the instance's Availability Zone {zone}.",
                    h.availability_zone
                )));
            }
            if !takes(h) {
                return Err(ApiError::invalid_value(format!(
                    "Instance type {instance_type} is not supported on Dedicated Host {id}."
                )));
            }
            if !fits(h) {
                return Err(ApiError::new(
                    ErrorCode::InsufficientHostCapacity,
                    format!(
                        "There is not enough capacity on the Dedicated Host {id} to launch or start the instance."
                    ),
                ));
            }
            return Ok(h.id.clone());
        }
        self.region
            .dedicated_hosts
            .values()
            .filter(|h| {
                h.state == HostState::Available
                    && h.auto_placement == OnOff::On
                    && h.availability_zone == zone
                    && takes(h)
            })
            .find(|h| fits(h))
            .map(|h| h.id.clone())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InsufficientHostCapacity,
                    format!(
                        "There is no Dedicated Host with auto-placement on and capacity for an instance of type {instance_type} in {zone}."
                    ),
                )
            })
    }
}

/// What ModifyInstancePlacement asks for (its Dedicated Host side).
#[derive(Clone, Debug, Default)]
pub struct ModifyInstancePlacement {
    pub tenancy: Option<String>,
    pub host_id: Option<DedicatedHostId>,
    pub affinity: Option<HostAffinity>,
}

impl Tx<'_> {
    /// ModifyInstancePlacement: a stopped instance moves onto a Dedicated Host (its
    /// `HostId`, or with auto-placement any that matches), changes its affinity, or leaves
    /// its host for tenancy `default` or `dedicated`.
    pub fn modify_instance_placement(
        &mut self,
        id: &InstanceId,
        req: ModifyInstancePlacement,
    ) -> Result<(), ApiError> {
        let inst = self.region.instances.lookup(id)?.clone();
        if req.tenancy.is_none() && req.host_id.is_none() && req.affinity.is_none() {
            return Err(ApiError::missing("Tenancy, HostId or Affinity"));
        }
        if inst.state != InstanceState::Stopped {
            return Err(ApiError::new(
                ErrorCode::IncorrectInstanceState,
                format!(
                    "The instance '{id}' is not in the 'stopped' state. Its placement can be modified only while it is stopped."
                ),
            ));
        }
        let on_host = match req.tenancy.as_deref() {
            Some("host") => true,
            None => req.host_id.is_some() || inst.dedicated_host.is_some(),
            Some(t @ ("default" | "dedicated")) => {
                if req.host_id.is_some() || req.affinity.is_some() {
                    return Err(ApiError::combination(
                        "A host ID or affinity can only be specified for instances with tenancy host.",
                    ));
                }
                let row = self.region.instances.get_mut(id).expect("found");
                row.dedicated_host = None;
                row.dedicated = t == "dedicated";
                return Ok(());
            }
            Some(other) => {
                return Err(ApiError::bad_param(
                    "tenancy",
                    other,
                    "Valid values: default, dedicated, host.",
                ));
            }
        };
        if !on_host {
            return Err(ApiError::combination(
                "An affinity can only be specified for instances with tenancy host.",
            ));
        }
        let current = inst.dedicated_host.as_ref();
        let wanted = req.host_id.as_ref().or(current.map(|p| &p.host_id));
        let host = self.host_for(id, &inst.instance_type, &inst.availability_zone, wanted)?;
        let affinity = req
            .affinity
            .or(current.map(|p| p.affinity))
            .unwrap_or(HostAffinity::Default);
        let row = self.region.instances.get_mut(id).expect("found");
        row.dedicated = false;
        row.dedicated_host = Some(HostPlacement {
            host_id: host,
            affinity,
        });
        Ok(())
    }
}

/// The instances on host `id` that are not terminated.
pub fn instances_on<'r>(region: &'r crate::region::Region, id: &str) -> Vec<&'r Instance> {
    region
        .instances
        .values()
        .filter(|i| i.state != InstanceState::Terminated)
        .filter(|i| i.dedicated_host.as_ref().is_some_and(|p| p.host_id == id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_host_is_its_largest_size() {
        let m5 = host_properties("m5").unwrap();
        assert_eq!((m5.cores, m5.sockets, m5.total_vcpus), (48, 2, 96));
        assert!(host_properties("nosuch").is_none());
        assert_eq!(family("c5.large"), "c5");
    }

    #[test]
    fn running_instances_use_up_a_host() {
        let large = find_instance_type("m5.large").unwrap();
        let xl = find_instance_type("m5.xlarge").unwrap();
        // an m5.large host: 48 of them fit, as on EC2's
        let empty = capacity(96, &[large], &[]);
        assert_eq!(empty.per_type, vec![("m5.large", 48, 48)]);
        assert_eq!(empty.available_vcpus, 96);
        let two = capacity(96, &[large], &["m5.large", "m5.large"]);
        assert_eq!(two.per_type, vec![("m5.large", 46, 48)]);
        assert_eq!(two.available_vcpus, 92);
        // a family host: each size fits as often as its vCPUs go into what is left
        let mixed = capacity(96, &[large, xl], &["m5.xlarge"; 23]);
        assert_eq!(mixed.available_vcpus, 4);
        assert_eq!(
            mixed.per_type,
            vec![("m5.large", 2, 48), ("m5.xlarge", 1, 24)]
        );
        let full = capacity(96, &[large, xl], &["m5.xlarge"; 24]);
        assert_eq!(
            full.per_type,
            vec![("m5.large", 0, 48), ("m5.xlarge", 0, 24)]
        );
    }
}
