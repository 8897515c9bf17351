//! Subnet CIDR reservation actions.

use fort_control::subnet_cidr_reservation::CreateSubnetCidrReservation;
use fort_model::{ApiError, Kind, SubnetCidrReservation};
use ipnet::IpNet;

use super::Ctx;
use crate::filter::Filters;
use crate::xml::Xml;

crate::actions!(
    CreateSubnetCidrReservation,
    GetSubnetCidrReservations,
    DeleteSubnetCidrReservation,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateSubnetCidrReservation => {
            let req = CreateSubnetCidrReservation {
                subnet_id: p.req("SubnetId")?.to_owned(),
                cidr: p.req("Cidr")?.to_owned(),
                reservation_type: p.req("ReservationType")?.to_owned(),
                description: p.opt_str("Description"),
                tags: ctx.tag_specs(&["subnet-cidr-reservation"])?,
            };
            let r = ctx
                .write(|tx| tx.create_subnet_cidr_reservation(req))
                .await?;
            let mut w = Xml::new();
            w.el("subnetCidrReservation", |w| render(w, &r, ctx.account()));
            Ok(w)
        }
        Action::GetSubnetCidrReservations => {
            let subnet_id = p.req("SubnetId")?;
            let filters = Filters::parse(p, FILTERS)?;
            ctx.read(|v| {
                v.region.subnets.find(Kind::Subnet, subnet_id)?;
                let rows: Vec<&SubnetCidrReservation> = v
                    .region
                    .subnet_cidr_reservations
                    .values()
                    .filter(|r| r.subnet_id == subnet_id)
                    .filter(|r| filters.matches(&r.tags, |n| field(r, n, ctx.account())))
                    .collect();
                let v4 = rows.iter().filter(|r| matches!(r.cidr, IpNet::V4(_)));
                let v6 = rows.iter().filter(|r| matches!(r.cidr, IpNet::V6(_)));
                let mut w = Xml::new();
                w.set("subnetIpv4CidrReservationSet", v4, |w, r| {
                    render(w, r, ctx.account())
                })
                .set("subnetIpv6CidrReservationSet", v6, |w, r| {
                    render(w, r, ctx.account())
                });
                Ok(w)
            })
            .await?
        }
        Action::DeleteSubnetCidrReservation => {
            let id = p.req("SubnetCidrReservationId")?;
            let r = ctx
                .write(|tx| tx.delete_subnet_cidr_reservation(id))
                .await?;
            let mut w = Xml::new();
            w.el("deletedSubnetCidrReservation", |w| {
                render(w, &r, ctx.account())
            });
            Ok(w)
        }
    }
}

const FILTERS: &[&str] = &["reservationType", "subnet-id", "owner-id"];

fn field(r: &SubnetCidrReservation, name: &str, account: &str) -> Vec<String> {
    match name {
        "reservationType" => vec![r.reservation_type.clone()],
        "subnet-id" => vec![r.subnet_id.to_string()],
        "owner-id" => vec![account.to_owned()],
        _ => vec![],
    }
}

fn render(w: &mut Xml, r: &SubnetCidrReservation, account: &str) {
    w.leaf("subnetCidrReservationId", &r.id)
        .leaf("subnetId", &r.subnet_id)
        .leaf("cidr", r.cidr)
        .leaf("reservationType", &r.reservation_type)
        .leaf("ownerId", account)
        .opt("description", r.description.as_deref())
        .tags(&r.tags);
}
