//! Capacity Reservations: CreateCapacityReservation, DescribeCapacityReservations,
//! ModifyCapacityReservation, CancelCapacityReservation.

use fort_control::capacity_reservation::{
    CapacityReservationRequest, ModifyCapacityReservation, available,
};
use fort_control::region::Region;
use fort_control::{now_millis, zones};
use fort_model::{ApiError, CapacityReservation, Kind, Millis, format_time};

use super::{Ctx, Describe, b, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateCapacityReservation,
    DescribeCapacityReservations,
    ModifyCapacityReservation,
    CancelCapacityReservation
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateCapacityReservation => {
            let req = CapacityReservationRequest {
                instance_type: p.opt_str("InstanceType"),
                instance_platform: p.opt_str("InstancePlatform"),
                availability_zone: p.opt_nonempty("AvailabilityZone"),
                availability_zone_id: p.opt_nonempty("AvailabilityZoneId"),
                tenancy: p.opt_str("Tenancy"),
                instance_count: p.int("InstanceCount")?,
                ebs_optimized: p.bool("EbsOptimized")?.unwrap_or(false),
                ephemeral_storage: p.bool("EphemeralStorage")?.unwrap_or(false),
                end_date: p.time("EndDate")?,
                end_date_type: p.opt_str("EndDateType"),
                instance_match_criteria: p.opt_str("InstanceMatchCriteria"),
                placement_group_arn: p.opt_nonempty("PlacementGroupArn"),
                outpost_arn: p.opt_nonempty("OutpostArn"),
                client_token: ctx.client_token()?,
                tags: super::tag_specs_list(p, "TagSpecifications", &["capacity-reservation"])?,
            };
            let r = ctx.write(|tx| tx.create_capacity_reservation(req)).await?;
            ctx.read(|v| {
                let mut w = Xml::new();
                w.el("capacityReservation", |w| {
                    render(w, v.region, &r, now_millis())
                });
                w
            })
            .await
        }
        Action::DescribeCapacityReservations => {
            let d = Describe {
                ids_param: "CapacityReservationId",
                kind: Kind::CapacityReservation,
                filters: FILTERS,
                page: Some((1, 1000)),
            };
            let now = now_millis();
            ctx.read(|v| {
                let region = v.region;
                let page = d.run(
                    p,
                    region.capacity_reservations.values(),
                    |r| &r.id,
                    |r| &r.tags,
                    |r, f| field(region, r, f, now),
                )?;
                let mut w = Xml::new();
                w.set("capacityReservationSet", page.items, |w, r| {
                    render(w, region, r, now)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifyCapacityReservation => {
            let id = p.req("CapacityReservationId")?.to_owned();
            let req = ModifyCapacityReservation {
                instance_count: p.int("InstanceCount")?,
                end_date: p.time("EndDate")?,
                end_date_type: p.opt_str("EndDateType"),
                instance_match_criteria: p.opt_str("InstanceMatchCriteria"),
            };
            ctx.write(|tx| tx.modify_capacity_reservation(&id, req))
                .await?;
            Ok(ok_return())
        }
        Action::CancelCapacityReservation => {
            let id = p.req("CapacityReservationId")?.to_owned();
            ctx.write(|tx| tx.cancel_capacity_reservation(&id)).await?;
            Ok(ok_return())
        }
    }
}

const FILTERS: &[&str] = &[
    "instance-type",
    "owner-id",
    "instance-platform",
    "availability-zone",
    "tenancy",
    "outpost-arn",
    "state",
    "start-date",
    "end-date",
    "end-date-type",
    "instance-match-criteria",
    "placement-group-arn",
];

fn arn(region: &Region, r: &CapacityReservation) -> String {
    format!(
        "arn:aws:ec2:{}:{}:capacity-reservation/{}",
        region.name, region.account, r.id
    )
}

fn end_date_type(r: &CapacityReservation) -> &'static str {
    if r.end_date.is_some() {
        "limited"
    } else {
        "unlimited"
    }
}

fn match_criteria(r: &CapacityReservation) -> &'static str {
    if r.targeted { "targeted" } else { "open" }
}

fn field(region: &Region, r: &CapacityReservation, name: &str, now: Millis) -> Vec<String> {
    match name {
        "instance-type" => vec![r.instance_type.clone()],
        "owner-id" => vec![region.account.clone()],
        "instance-platform" => vec![r.instance_platform.clone()],
        "availability-zone" => vec![r.availability_zone.clone()],
        "tenancy" => vec![r.tenancy.clone()],
        "state" => vec![r.state(now).as_str().into()],
        "start-date" => vec![format_time(r.create_date)],
        "end-date" => r.end_date.map(format_time).into_iter().collect(),
        "end-date-type" => vec![end_date_type(r).into()],
        "instance-match-criteria" => vec![match_criteria(r).into()],
        "placement-group-arn" => r.placement_group_arn.iter().cloned().collect(),
        _ => vec![],
    }
}

/// A reservation as EC2 shows it: its available count is its total less the instances
/// running in it (none once it has ended).
fn render(w: &mut Xml, region: &Region, r: &CapacityReservation, now: Millis) {
    let state = r.state(now);
    let available = match state {
        fort_model::CapacityReservationState::Active => available(region, r),
        _ => 0,
    };
    let zone_id = zones::find_zone(&region.name, &r.availability_zone).map(|z| z.id);
    w.leaf("capacityReservationId", &r.id)
        .leaf("ownerId", &region.account)
        .leaf("capacityReservationArn", arn(region, r))
        .opt("availabilityZoneId", zone_id)
        .leaf("instanceType", &r.instance_type)
        .leaf("instancePlatform", &r.instance_platform)
        .leaf("availabilityZone", &r.availability_zone)
        .leaf("tenancy", &r.tenancy)
        .leaf("totalInstanceCount", r.total_instance_count)
        .leaf("availableInstanceCount", available)
        .leaf("ebsOptimized", b(r.ebs_optimized))
        .leaf("ephemeralStorage", b(r.ephemeral_storage))
        .leaf("state", state.as_str())
        .leaf("startDate", format_time(r.create_date))
        .opt("endDate", r.end_date.map(format_time))
        .leaf("endDateType", end_date_type(r))
        .leaf("instanceMatchCriteria", match_criteria(r))
        .leaf("createDate", format_time(r.create_date))
        .tag_set(&r.tags)
        .opt("placementGroupArn", r.placement_group_arn.as_deref())
        .leaf("reservationType", "default")
        .leaf("deliveryPreference", "fixed");
}
