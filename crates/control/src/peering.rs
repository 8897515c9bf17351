//! VPC peering connections: a request from one VPC to another (any account, any region
//! of this Fort), accepted or rejected by the other side, then deleted by either.
//!
//! The connection is one record shared by both sides (a global table). Traffic flows only
//! while it is `active` and both sides route to it; a route to it in any other state reads
//! `blackhole` ([`crate::route_table::route_state`]).

use fort_model::*;

use crate::Tx;
use crate::region::Global;
use crate::tags::check_tags;

/// An unaccepted request expires after 7 days.
pub const EXPIRY_MS: Millis = 7 * 24 * 3600 * 1000;
/// An ended connection is still described for 2 hours.
pub const VISIBLE_AFTER_END_MS: Millis = 2 * 3600 * 1000;
/// Quotas per VPC.
pub const ACTIVE_PER_VPC: usize = 50;
pub const OUTSTANDING_PER_VPC: usize = 25;

/// The status at `now`: a pending request past its expiration is `expired`.
pub fn status(p: &VpcPeeringConnection, now: Millis) -> PeeringStatus {
    if p.status == PeeringStatus::PendingAcceptance && p.expiration_time.is_some_and(|t| now >= t) {
        PeeringStatus::Expired
    } else {
        p.status
    }
}

/// Whether the connection is one that holds the pair of VPCs (pending or active).
fn open(p: &VpcPeeringConnection, now: Millis) -> bool {
    matches!(
        status(p, now),
        PeeringStatus::PendingAcceptance | PeeringStatus::Active
    )
}

/// The connections (`account`, `region`) sees at `now`: those it is a side of, ended ones
/// for a while.
pub fn visible<'g>(
    global: &'g Global,
    account: &'g str,
    region: &'g str,
    now: Millis,
) -> impl Iterator<Item = &'g VpcPeeringConnection> + 'g {
    global.peerings.values().filter(move |p| {
        p.side(account, region).is_some()
            && p.ended
                .or_else(|| {
                    (status(p, now) == PeeringStatus::Expired).then_some(p.expiration_time?)
                })
                .is_none_or(|t| now < t + VISIBLE_AFTER_END_MS)
    })
}

/// Whether traffic from `vpc_id` may use the connection now.
pub fn usable(global: &Global, id: &VpcPeeringConnectionId, vpc_id: &str, now: Millis) -> bool {
    global
        .peerings
        .get(id)
        .is_some_and(|p| status(p, now) == PeeringStatus::Active && p.peer_of(vpc_id).is_some())
}

fn overlaps(a: &[ipnet::Ipv4Net], b: &[ipnet::Ipv4Net]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| x.contains(&y.network()) || y.contains(&x.network()))
    })
}

impl Tx<'_> {
    /// A connection this side can see, or NotFound.
    fn peering(&self, id: &VpcPeeringConnectionId) -> Result<VpcPeeringConnection, ApiError> {
        let p = self.global.peerings.lookup(id)?;
        if visible(
            self.global,
            &self.region.account,
            &self.region.name,
            self.now,
        )
        .any(|v| v.id == p.id)
        {
            Ok(p.clone())
        } else {
            Err(Kind::VpcPeeringConnection.not_found(id))
        }
    }

    fn info(&self, owner: &str, region: &str, vpc_id: &str) -> Result<PeeringVpcInfo, ApiError> {
        let r = if owner == self.region.account && region == self.region.name {
            &*self.region
        } else {
            self.others
                .get(&(owner.to_owned(), region.to_owned()))
                .ok_or_else(|| Kind::Vpc.not_found(vpc_id))?
        };
        let vpc = r.vpcs.find(Kind::Vpc, vpc_id)?;
        Ok(PeeringVpcInfo {
            vpc_id: vpc.id.clone(),
            owner_id: owner.to_owned(),
            region: region.to_owned(),
            cidrs: vpc.cidrs().collect(),
            allow_dns_resolution_from_remote_vpc: false,
        })
    }

    pub fn create_vpc_peering_connection(
        &mut self,
        vpc_id: &str,
        peer_vpc_id: &str,
        peer_owner: Option<&str>,
        peer_region: Option<&str>,
        tags: Tags,
    ) -> Result<VpcPeeringConnection, ApiError> {
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        Kind::Vpc.check(peer_vpc_id)?;
        let account = self.region.account.clone();
        let here = self.region.name.clone();
        let requester = self.info(&account, &here, vpc_id)?;
        let owner = peer_owner.unwrap_or(&account).to_owned();
        let region = peer_region.unwrap_or(&here).to_owned();
        let accepter = self.info(&owner, &region, peer_vpc_id)?;
        if requester.vpc_id == accepter.vpc_id {
            return Err(ApiError::invalid_value(format!(
                "The requester VPC ({vpc_id}) and the accepter VPC cannot be the same."
            )));
        }
        let now = self.now;
        // EC2 answers a repeated request (same requester and accepter VPCs) with the open
        // connection it already has; the reverse request is a new one, refused on accept.
        if let Some(p) = self.global.peerings.values().find(|p| {
            p.requester.vpc_id == requester.vpc_id
                && p.accepter.vpc_id == accepter.vpc_id
                && open(p, now)
        }) {
            return Ok(p.clone());
        }
        let outstanding = self
            .global
            .peerings
            .values()
            .filter(|p| {
                status(p, now) == PeeringStatus::PendingAcceptance && p.requester.vpc_id == vpc_id
            })
            .count();
        if outstanding >= OUTSTANDING_PER_VPC {
            return Err(ApiError::new(
                ErrorCode::OutstandingVpcPeeringConnectionLimitExceeded,
                format!(
                    "The maximum number of outstanding VPC peering connection requests ({OUTSTANDING_PER_VPC}) has been reached for {vpc_id}."
                ),
            ));
        }
        let failed = overlaps(&requester.cidrs, &accepter.cidrs);
        let p = VpcPeeringConnection {
            id: VpcPeeringConnectionId::new(),
            status: if failed {
                PeeringStatus::Failed
            } else {
                PeeringStatus::PendingAcceptance
            },
            message: if failed {
                "Overlapping CIDR range".into()
            } else {
                format!("Pending Acceptance by {owner}")
            },
            expiration_time: (!failed).then_some(now + EXPIRY_MS),
            ended: failed.then_some(now),
            requester,
            accepter,
            tags,
        };
        self.global.peerings.insert(p.clone());
        Ok(p)
    }

    pub fn accept_vpc_peering_connection(
        &mut self,
        id: &VpcPeeringConnectionId,
    ) -> Result<VpcPeeringConnection, ApiError> {
        let p = self.peering(id)?;
        self.require_accepter(&p, "accept", "accepted")?;
        self.require_status(&p, &[PeeringStatus::PendingAcceptance], "accept")?;
        let now = self.now;
        let pair = |x: &VpcPeeringConnection| {
            x.id != p.id
                && x.peer_of(&p.requester.vpc_id)
                    .is_some_and(|o| o.vpc_id == p.accepter.vpc_id)
        };
        if self
            .global
            .peerings
            .values()
            .any(|x| pair(x) && status(x, now) == PeeringStatus::Active)
        {
            return Err(ApiError::new(
                ErrorCode::VpcPeeringConnectionAlreadyExists,
                format!("The vpc peering connection identified by {id} already exists."),
            ));
        }
        for vpc in [&p.requester.vpc_id, &p.accepter.vpc_id] {
            let active = self
                .global
                .peerings
                .values()
                .filter(|x| status(x, now) == PeeringStatus::Active && x.peer_of(vpc).is_some())
                .count();
            if active >= ACTIVE_PER_VPC {
                return Err(ApiError::new(
                    ErrorCode::ActiveVpcPeeringConnectionPerVpcLimitExceeded,
                    format!(
                        "The maximum number of active VPC peering connections ({ACTIVE_PER_VPC}) has been reached for {vpc}."
                    ),
                ));
            }
        }
        let row = self.global.peerings.get_mut(id).expect("found above");
        row.status = PeeringStatus::Active;
        row.message = "Active".into();
        row.expiration_time = None;
        Ok(row.clone())
    }

    pub fn reject_vpc_peering_connection(
        &mut self,
        id: &VpcPeeringConnectionId,
    ) -> Result<(), ApiError> {
        let p = self.peering(id)?;
        self.require_accepter(&p, "reject", "accepted or rejected")?;
        self.require_status(&p, &[PeeringStatus::PendingAcceptance], "reject")?;
        let by = self.region.account.clone();
        self.end(id, PeeringStatus::Rejected, format!("Rejected by {by}"));
        Ok(())
    }

    pub fn delete_vpc_peering_connection(
        &mut self,
        id: &VpcPeeringConnectionId,
    ) -> Result<(), ApiError> {
        let p = self.peering(id)?;
        let now = self.now;
        match status(&p, now) {
            PeeringStatus::Active => {}
            PeeringStatus::PendingAcceptance if self.is_requester(&p) => {}
            PeeringStatus::PendingAcceptance => {
                return Err(ApiError::new(
                    ErrorCode::OperationNotPermitted,
                    format!(
                        "The accepter cannot delete the pending VPC peering connection {id}: reject it."
                    ),
                ));
            }
            s => {
                return Err(ApiError::new(
                    ErrorCode::InvalidStateTransition,
                    format!("Cannot delete a VPC peering connection in state {s} ({id})."),
                ));
            }
        }
        let by = self.region.account.clone();
        self.end(id, PeeringStatus::Deleted, format!("Deleted by {by}"));
        Ok(())
    }

    /// Sets `AllowDnsResolutionFromRemoteVpc` for each side asked; each side's options are
    /// its owner's. Returns the options as they now stand (requester, accepter).
    pub fn modify_vpc_peering_connection_options(
        &mut self,
        id: &VpcPeeringConnectionId,
        requester: Option<bool>,
        accepter: Option<bool>,
    ) -> Result<(bool, bool), ApiError> {
        let p = self.peering(id)?;
        if status(&p, self.now) != PeeringStatus::Active {
            return Err(ApiError::new(
                ErrorCode::OperationNotPermitted,
                format!(
                    "Peering {id} is not active. Peering options can be added only to active peerings."
                ),
            ));
        }
        let (account, here) = (self.region.account.clone(), self.region.name.clone());
        let owns = |s: &PeeringVpcInfo| s.owner_id == account && s.region == here;
        if (requester.is_some() && !owns(&p.requester))
            || (accepter.is_some() && !owns(&p.accepter))
        {
            return Err(ApiError::new(
                ErrorCode::OperationNotPermitted,
                format!("Only the owner of a side of {id} can modify that side's options."),
            ));
        }
        let row = self.global.peerings.get_mut(id).expect("found above");
        if let Some(v) = requester {
            row.requester.allow_dns_resolution_from_remote_vpc = v;
        }
        if let Some(v) = accepter {
            row.accepter.allow_dns_resolution_from_remote_vpc = v;
        }
        Ok((
            row.requester.allow_dns_resolution_from_remote_vpc,
            row.accepter.allow_dns_resolution_from_remote_vpc,
        ))
    }

    /// Whether the VPC has a pending or active connection (it cannot be deleted then).
    pub fn vpc_is_peered(&self, vpc_id: &str) -> bool {
        let now = self.now;
        self.global
            .peerings
            .values()
            .any(|p| open(p, now) && p.peer_of(vpc_id).is_some())
    }

    fn is_requester(&self, p: &VpcPeeringConnection) -> bool {
        p.requester.owner_id == self.region.account && p.requester.region == self.region.name
    }

    /// Only the accepter's owner, in the accepter's region, accepts or rejects (`done` is
    /// what EC2's message says must happen there).
    fn require_accepter(
        &self,
        p: &VpcPeeringConnection,
        what: &str,
        done: &str,
    ) -> Result<(), ApiError> {
        let (account, here) = (&self.region.account, &self.region.name);
        let message = if p.accepter.owner_id != *account {
            format!("User ({account}) cannot {what} peering {}", p.id)
        } else if p.accepter.region != *here {
            format!(
                "Incorrect region ({here}) specified for this request. VPC peering connection {} must be {done} in region {}",
                p.id, p.accepter.region
            )
        } else {
            return Ok(());
        };
        Err(ApiError::new(ErrorCode::OperationNotPermitted, message))
    }

    fn require_status(
        &self,
        p: &VpcPeeringConnection,
        allowed: &[PeeringStatus],
        what: &str,
    ) -> Result<(), ApiError> {
        let s = status(p, self.now);
        if allowed.contains(&s) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::InvalidStateTransition,
                format!(
                    "Cannot {what} a VPC peering connection in state {s} ({}).",
                    p.id
                ),
            ))
        }
    }

    fn end(&mut self, id: &VpcPeeringConnectionId, status: PeeringStatus, message: String) {
        let now = self.now;
        let row = self
            .global
            .peerings
            .get_mut(id)
            .expect("checked by the caller");
        row.status = status;
        row.message = message;
        row.expiration_time = None;
        row.ended = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_any_shared_address() {
        let n = |s: &str| s.parse::<ipnet::Ipv4Net>().unwrap();
        assert!(overlaps(&[n("10.0.0.0/16")], &[n("10.0.128.0/20")]));
        assert!(overlaps(&[n("10.0.128.0/20")], &[n("10.0.0.0/16")]));
        assert!(!overlaps(&[n("10.0.0.0/16")], &[n("10.1.0.0/16")]));
        assert!(overlaps(
            &[n("10.0.0.0/16"), n("172.16.0.0/16")],
            &[n("10.9.0.0/16"), n("172.16.4.0/24")]
        ));
    }
}
