//! VPC peering connection actions.

use fort_control::peering;
use fort_model::{
    ApiError, ErrorCode, Kind, PeeringStatus, PeeringVpcInfo, VpcPeeringConnection,
    VpcPeeringConnectionId, format_time,
};

use super::{Ctx, Describe, next_token, ok_return};
use crate::xml::Xml;

crate::actions!(
    CreateVpcPeeringConnection,
    AcceptVpcPeeringConnection,
    RejectVpcPeeringConnection,
    DeleteVpcPeeringConnection,
    ModifyVpcPeeringConnectionOptions,
    DescribeVpcPeeringConnections,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateVpcPeeringConnection => {
            let vpc = p.req("VpcId")?;
            let peer = p.req("PeerVpcId")?;
            let (owner, region) = (p.get("PeerOwnerId"), p.get("PeerRegion"));
            let tags = ctx.tag_specs(&["vpc-peering-connection"])?;
            let pcx = ctx
                .write(|tx| tx.create_vpc_peering_connection(vpc, peer, owner, region, tags))
                .await?;
            // EC2 answers a request being made; the next Describe shows it pending
            // acceptance (a request that failed at once answers as failed)
            let now = fort_control::now_millis();
            let mut w = Xml::new();
            if peering::status(&pcx, now) == PeeringStatus::PendingAcceptance {
                let message = format!("Initiating Request to {}", pcx.accepter.owner_id);
                w.el("vpcPeeringConnection", |w| {
                    render_as(w, &pcx, PeeringStatus::InitiatingRequest, &message)
                });
            } else {
                w.el("vpcPeeringConnection", |w| render(w, &pcx, now));
            }
            Ok(w)
        }
        Action::AcceptVpcPeeringConnection => {
            let id = VpcPeeringConnectionId::parse(p.req("VpcPeeringConnectionId")?)?;
            let pcx = ctx
                .write(|tx| tx.accept_vpc_peering_connection(&id))
                .await?;
            let now = fort_control::now_millis();
            let mut w = Xml::new();
            w.el("vpcPeeringConnection", |w| render(w, &pcx, now));
            Ok(w)
        }
        Action::RejectVpcPeeringConnection => {
            let id = VpcPeeringConnectionId::parse(p.req("VpcPeeringConnectionId")?)?;
            ctx.write(|tx| tx.reject_vpc_peering_connection(&id))
                .await?;
            Ok(ok_return())
        }
        Action::DeleteVpcPeeringConnection => {
            let id = VpcPeeringConnectionId::parse(p.req("VpcPeeringConnectionId")?)?;
            ctx.write(|tx| tx.delete_vpc_peering_connection(&id))
                .await?;
            Ok(ok_return())
        }
        Action::ModifyVpcPeeringConnectionOptions => {
            let id = p.req("VpcPeeringConnectionId")?;
            let side = |name: &str| {
                p.child(name)
                    .bool("AllowDnsResolutionFromRemoteVpc")
                    .map(|b| (p.child(name).is_present(), b))
            };
            let (req_given, requester) = side("RequesterPeeringConnectionOptions")?;
            let (acc_given, accepter) = side("AccepterPeeringConnectionOptions")?;
            if !req_given && !acc_given {
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    "The request must contain the parameter RequesterPeeringConnectionOptions or AccepterPeeringConnectionOptions",
                ));
            }
            // Parsed once the options are read: their errors were reported first.
            let id = VpcPeeringConnectionId::parse(id)?;
            let (r, a) = ctx
                .write(|tx| tx.modify_vpc_peering_connection_options(&id, requester, accepter))
                .await?;
            let mut w = Xml::new();
            if req_given {
                w.el("requesterPeeringConnectionOptions", |w| options(w, r));
            }
            if acc_given {
                w.el("accepterPeeringConnectionOptions", |w| options(w, a));
            }
            Ok(w)
        }
        Action::DescribeVpcPeeringConnections => {
            let d = Describe {
                ids_param: "VpcPeeringConnectionId",
                kind: Kind::VpcPeeringConnection,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            let (account, region) = (ctx.account(), ctx.scope.region.as_str());
            ctx.read(|v| {
                let now = fort_control::now_millis();
                let page = d.run(
                    p,
                    peering::visible(v.global, account, region, now),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(x, n, now),
                )?;
                let mut w = Xml::new();
                w.set("vpcPeeringConnectionSet", page.items, |w, x| {
                    render(w, x, now)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

const FILTERS: &[&str] = &[
    "accepter-vpc-info.cidr-block",
    "accepter-vpc-info.owner-id",
    "accepter-vpc-info.vpc-id",
    "expiration-time",
    "requester-vpc-info.cidr-block",
    "requester-vpc-info.owner-id",
    "requester-vpc-info.vpc-id",
    "status-code",
    "status-message",
    "vpc-peering-connection-id",
];

fn field(x: &VpcPeeringConnection, name: &str, now: fort_model::Millis) -> Vec<String> {
    let side = |s: &PeeringVpcInfo, f: &str| -> Vec<String> {
        match f {
            "cidr-block" => s.cidrs.first().map(|c| c.to_string()).into_iter().collect(),
            "owner-id" => vec![s.owner_id.clone()],
            "vpc-id" => vec![s.vpc_id.to_string()],
            _ => vec![],
        }
    };
    if let Some(f) = name.strip_prefix("accepter-vpc-info.") {
        return side(&x.accepter, f);
    }
    if let Some(f) = name.strip_prefix("requester-vpc-info.") {
        return side(&x.requester, f);
    }
    match name {
        "expiration-time" => x.expiration_time.map(format_time).into_iter().collect(),
        "status-code" => vec![peering::status(x, now).as_str().to_owned()],
        "status-message" => vec![message(x, now).to_owned()],
        "vpc-peering-connection-id" => vec![x.id.to_string()],
        _ => vec![],
    }
}

fn message(x: &VpcPeeringConnection, now: fort_model::Millis) -> &str {
    if peering::status(x, now) == PeeringStatus::Expired {
        "Expired"
    } else {
        &x.message
    }
}

fn options(w: &mut Xml, allow_dns: bool) {
    w.leaf("allowDnsResolutionFromRemoteVpc", allow_dns)
        .leaf("allowEgressFromLocalClassicLinkToRemoteVpc", false)
        .leaf("allowEgressFromLocalVpcToRemoteClassicLink", false);
}

/// One side; `full: false` gives only who and where (owner, VPC, region): what EC2 shows
/// of the accepter's VPC until the request is accepted (its recorded answers and examples
/// carry no accepter blocks or options before then).
fn render_side(w: &mut Xml, s: &PeeringVpcInfo, full: bool) {
    if full {
        w.opt("cidrBlock", s.cidrs.first())
            .set("cidrBlockSet", s.cidrs.iter(), |w, c| {
                w.leaf("cidrBlock", c);
            });
    }
    w.leaf("ownerId", &s.owner_id);
    if full {
        w.el("peeringOptions", |w| {
            options(w, s.allow_dns_resolution_from_remote_vpc)
        });
    }
    w.leaf("vpcId", &s.vpc_id).leaf("region", &s.region);
}

pub fn render(w: &mut Xml, x: &VpcPeeringConnection, now: fort_model::Millis) {
    render_as(w, x, peering::status(x, now), message(x, now))
}

/// `x` with the given status.
fn render_as(w: &mut Xml, x: &VpcPeeringConnection, status: PeeringStatus, message: &str) {
    // The accepter's blocks and options show while the connection is active; once it is
    // deleted neither side's do (Ansible's ec2_vpc_peering checks both against AWS).
    let deleted = status == PeeringStatus::Deleted;
    w.el("accepterVpcInfo", |w| {
        render_side(w, &x.accepter, status == PeeringStatus::Active)
    })
    .opt(
        "expirationTime",
        x.expiration_time
            .filter(|_| {
                matches!(
                    status,
                    PeeringStatus::PendingAcceptance | PeeringStatus::InitiatingRequest
                )
            })
            .map(format_time),
    )
    .el("requesterVpcInfo", |w| {
        render_side(w, &x.requester, !deleted)
    })
    .el("status", |w| {
        w.leaf("code", status).leaf("message", message);
    })
    .tag_set(&x.tags)
    .leaf("vpcPeeringConnectionId", &x.id);
}
