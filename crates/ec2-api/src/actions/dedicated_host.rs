//! Dedicated Hosts: AllocateHosts, DescribeHosts, ModifyHosts, ReleaseHosts, and
//! ModifyInstancePlacement (an instance's host, affinity and tenancy).

use fort_control::dedicated_host::{
    self, AllocateHosts, ModifyHosts, Unsuccessful, capacity, host_family, host_properties,
    host_sizes, instances_on,
};
use fort_control::region::Region;
use fort_control::{now_millis, zones};
use fort_model::{
    ApiError, DedicatedHost, DedicatedHostId, HostAffinity, InstanceId, Kind, Millis, format_time,
};

use super::{Ctx, Describe, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    AllocateHosts,
    DescribeHosts,
    ModifyHosts,
    ReleaseHosts,
    ModifyInstancePlacement
);

const FILTERS: &[&str] = &[
    "auto-placement",
    "availability-zone",
    "client-token",
    "host-reservation-id",
    "instance-type",
    "state",
];

fn field(h: &DedicatedHost, name: &str) -> Vec<String> {
    match name {
        "auto-placement" => vec![h.auto_placement.as_str().into()],
        "availability-zone" => vec![h.availability_zone.clone()],
        "client-token" => h.client_token.iter().cloned().collect(),
        // Fort sells no host reservations: no host has one
        "host-reservation-id" => vec![],
        "instance-type" => h.instance_type.iter().cloned().collect(),
        "state" => vec![h.state.as_str().into()],
        _ => vec![],
    }
}

/// A host as EC2 shows it: its hardware, what is left of it, and its instances.
fn render(w: &mut Xml, region: &Region, h: &DedicatedHost) {
    let on = instances_on(region, &h.id);
    let props = host_properties(host_family(h));
    let running: Vec<&str> = on
        .iter()
        .filter(|i| i.state.is_up())
        .map(|i| i.instance_type.as_str())
        .collect();
    let zone_id = zones::find_zone(&region.name, &h.availability_zone).map(|z| z.id);
    w.leaf("autoPlacement", h.auto_placement)
        .leaf("availabilityZone", &h.availability_zone);
    if let Some(p) = props {
        let sizes = host_sizes(h);
        let c = capacity(p.total_vcpus, &sizes, &running);
        w.el("availableCapacity", |w| {
            w.set(
                "availableInstanceCapacity",
                &c.per_type,
                |w, (t, available, total)| {
                    w.leaf("availableCapacity", *available)
                        .leaf("instanceType", *t)
                        .leaf("totalCapacity", *total);
                },
            )
            .leaf("availableVCpus", c.available_vcpus);
        });
    }
    w.opt("clientToken", h.client_token.as_deref())
        .leaf("hostId", &h.id);
    w.el("hostProperties", |w| {
        if let Some(p) = props {
            w.leaf("cores", p.cores);
        }
        w.opt("instanceType", h.instance_type.as_deref())
            .opt("instanceFamily", h.instance_family.as_deref());
        if let Some(p) = props {
            w.leaf("sockets", p.sockets)
                .leaf("totalVCpus", p.total_vcpus);
        }
    });
    w.set("instances", &on, |w, i| {
        w.leaf("instanceId", &i.id)
            .leaf("instanceType", &i.instance_type)
            .leaf("ownerId", &region.account);
    })
    .leaf("state", h.state)
    .leaf("allocationTime", format_time(h.allocation_time))
    .opt("releaseTime", h.release_time.map(format_time))
    .tags(&h.tags)
    .leaf("hostRecovery", h.host_recovery)
    .leaf(
        "allowsMultipleInstanceTypes",
        if h.instance_family.is_some() {
            "on"
        } else {
            "off"
        },
    )
    .leaf("ownerId", &region.account)
    .opt("availabilityZoneId", zone_id)
    .leaf("memberOfServiceLinkedResourceGroup", "false")
    .leaf("hostMaintenance", "off");
}

fn render_outcome(w: &mut Xml, done: &[DedicatedHostId], failed: &[Unsuccessful]) {
    w.strings("successful", done)
        .set("unsuccessful", failed, |w, u| {
            w.el("error", |w| {
                w.leaf("code", u.code).leaf("message", &u.message);
            })
            .leaf("resourceId", &u.resource_id);
        });
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::AllocateHosts => {
            let req = AllocateHosts {
                availability_zone: p.opt_nonempty("AvailabilityZone"),
                availability_zone_id: p.opt_nonempty("AvailabilityZoneId"),
                instance_type: p.opt_nonempty("InstanceType"),
                instance_family: p.opt_nonempty("InstanceFamily"),
                quantity: p.int("Quantity")?,
                auto_placement: p.opt_str("AutoPlacement"),
                host_recovery: p.opt_str("HostRecovery"),
                host_maintenance: p.opt_str("HostMaintenance"),
                outpost_arn: p.opt_nonempty("OutpostArn"),
                asset_ids: p.strings("AssetId")?,
                client_token: ctx.client_token()?,
                tags: ctx.tag_specs(&["dedicated-host"])?,
            };
            let hosts = ctx.write(|tx| tx.allocate_hosts(req)).await?;
            let mut w = Xml::new();
            w.strings("hostIdSet", hosts.iter().map(|h| &h.id));
            Ok(w)
        }
        Action::DescribeHosts => {
            let d = Describe {
                ids_param: "HostId",
                kind: Kind::DedicatedHost,
                filters: FILTERS,
                page: Some((5, 500)),
            };
            let now: Millis = now_millis();
            ctx.read(|v| {
                let region = v.region;
                let page = d.run(
                    p,
                    region
                        .dedicated_hosts
                        .values()
                        .filter(|h| dedicated_host::visible(h, now)),
                    |h| h.id.as_str(),
                    |h| &h.tags,
                    field,
                )?;
                let mut w = Xml::new();
                w.set("hostSet", page.items, |w, h| render(w, region, h));
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyHosts => {
            let ids = p.strings("HostId")?;
            let req = ModifyHosts {
                auto_placement: p.opt_str("AutoPlacement"),
                host_recovery: p.opt_str("HostRecovery"),
                host_maintenance: p.opt_str("HostMaintenance"),
                instance_type: p.opt_nonempty("InstanceType"),
                instance_family: p.opt_nonempty("InstanceFamily"),
            };
            let (done, failed) = ctx.write(|tx| tx.modify_hosts(&ids, req)).await?;
            let mut w = Xml::new();
            render_outcome(&mut w, &done, &failed);
            Ok(w)
        }
        Action::ReleaseHosts => {
            let ids = p.strings("HostId")?;
            let (done, failed) = ctx.write(|tx| tx.release_hosts(&ids)).await?;
            let mut w = Xml::new();
            render_outcome(&mut w, &done, &failed);
            Ok(w)
        }
        Action::ModifyInstancePlacement => {
            let id = InstanceId::parse(p.req("InstanceId")?)?;
            for unsupported in ["GroupName", "GroupId", "PartitionNumber"] {
                if p.get(unsupported).is_some() {
                    return Err(ApiError::new(
                        fort_model::ErrorCode::UnsupportedOperation,
                        format!(
                            "Fort moves instances between Dedicated Hosts and tenancies only: {unsupported} is not supported by ModifyInstancePlacement."
                        ),
                    ));
                }
            }
            if p.get("HostResourceGroupArn").is_some() {
                return Err(ApiError::new(
                    fort_model::ErrorCode::UnsupportedOperation,
                    "Fort has no host resource groups (License Manager).",
                ));
            }
            let req = dedicated_host::ModifyInstancePlacement {
                tenancy: p.opt_str("Tenancy"),
                host_id: p.get("HostId").map(DedicatedHostId::parse).transpose()?,
                affinity: affinity(p.get("Affinity"))?,
            };
            ctx.write(|tx| tx.modify_instance_placement(&id, req))
                .await?;
            Ok(ok_return())
        }
    }
}

/// `Placement.Affinity` / `Affinity`: `default` or `host`.
pub(crate) fn affinity(value: Option<&str>) -> Result<Option<HostAffinity>, ApiError> {
    value
        .map(|v| {
            HostAffinity::parse(v).ok_or_else(|| {
                ApiError::invalid_value(format!(
                    "Value ({v}) for parameter affinity is invalid. Valid values: default, host."
                ))
            })
        })
        .transpose()
}
