//! Route 53 hosted zones: the zones of each account, their record sets, the VPCs a private
//! zone answers in, and the rules of every change as Route 53 applies them (all-or-nothing
//! change batches, apex SOA and NS made with the zone and never deleted, CallerReference
//! used once).
//!
//! Route 53 is global: a zone belongs to an account, not a region, and lives in
//! [`Global`] under its id (`g/route53-zone/Z…`). A private zone names VPCs as (region,
//! VPC id) of its own account, checked against that region's VPCs when associated.
//! Deleting a VPC does not look at zones, as in AWS: the association stays, dangling, until
//! the zone is disassociated or deleted, and [`Control::private_zones_for_vpc`] simply
//! stops being asked about that VPC.
//!
//! For the data plane: every change to a zone rewrites its row, so the change feed
//! ([`Control::subscribe`]) carries `g/route53-zone/ZONE-ID` whenever a zone, its records
//! or its VPCs change (and when it is deleted); [`Control::private_zones_for_vpc`] then
//! gives what a VPC's resolver answers.

use std::collections::{BTreeSet, HashMap};

use fort_model::hosted_zone::{
    self, APEX_NS_TTL, APEX_SOA_TTL, PRIVATE_NAME_SERVERS, RecordSet, RrType, bare_id,
    normalize_name,
};
use fort_model::{ApiError, ErrorCode, Millis, Tags, VpcId};
use serde::{Deserialize, Serialize};

use crate::table::Resource;
use crate::{Control, Global, Region};

/// Hosted zones one account may have (Route 53's default quota).
pub const MAX_ZONES_PER_ACCOUNT: usize = 500;
/// Record values one batch may carry (an UPSERT's count twice, as Route 53 counts them).
pub const MAX_RECORDS_PER_BATCH: usize = 1000;
/// Record sets one zone may hold (Route 53's default quota); it also bounds the size of the
/// zone's row, which holds them all.
pub const MAX_RECORD_SETS_PER_ZONE: usize = 10_000;
/// Tags one zone may carry.
pub const MAX_TAGS: usize = 50;

/// A VPC a private zone answers in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ZoneVpc {
    pub region: String,
    pub vpc_id: String,
}

/// A hosted zone and everything in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedZone {
    /// `Z…`, bare.
    pub id: String,
    pub account: String,
    /// Normalized, with its trailing dot.
    pub name: String,
    pub caller_reference: String,
    pub comment: Option<String>,
    pub private: bool,
    /// The VPCs of a private zone, in the order they were associated (never empty for a
    /// private zone); none for a public one.
    pub vpcs: Vec<ZoneVpc>,
    /// A public zone's delegation set; none for a private one.
    pub name_servers: Vec<String>,
    /// Every record set, in the order Route 53 lists them ([`RecordSet::order`]).
    pub records: Vec<RecordSet>,
    pub tags: Tags,
    pub created: Millis,
}

impl HostedZone {
    /// Whether `set` is the apex SOA or NS, which the zone must always have.
    pub fn is_required(&self, set: &RecordSet) -> bool {
        set.name == self.name
            && set.set_identifier.is_none()
            && matches!(set.rr_type, RrType::Soa | RrType::Ns)
    }

    pub fn record(
        &self,
        name: &str,
        rr_type: RrType,
        set_identifier: Option<&str>,
    ) -> Option<&RecordSet> {
        self.records.iter().find(|r| {
            r.name == name && r.rr_type == rr_type && r.set_identifier.as_deref() == set_identifier
        })
    }
}

/// A change made to zones: what GetChange reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// `C…`, bare.
    pub id: String,
    pub account: String,
    pub submitted_at: Millis,
    pub comment: Option<String>,
}

macro_rules! route53_resource {
    ($($t:ty),*) => {$(
        impl Resource for $t {
            type Id = String;
            fn id(&self) -> &String { &self.id }
            fn tags(&self) -> Option<&Tags> { None }
            fn tags_mut(&mut self) -> Option<&mut Tags> { None }
        }
    )*};
}

route53_resource!(HostedZone, ChangeRecord);

// ---- errors -------------------------------------------------------------------------------

pub fn no_such_zone(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchHostedZone,
        format!("No hosted zone found with ID: {id}"),
    )
}

fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

fn invalid_vpc(vpc: &ZoneVpc) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidVpcIdRoute53,
        format!(
            "The VPC: {} in region {} is not valid or the current account is not authorized to access it.",
            vpc.vpc_id, vpc.region
        ),
    )
}

fn conflicting_domain(vpc: &ZoneVpc, zone_id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ConflictingDomainExists,
        format!(
            "The VPC {} in {} region has already been associated with the hosted zone {zone_id} with the same domain name.",
            vpc.vpc_id, vpc.region
        ),
    )
}

/// InvalidChangeBatch with every reason, as Route 53 lists them: `[first, second]`.
fn invalid_batch(messages: &[String]) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidChangeBatch,
        format!("[{}]", messages.join(", ")),
    )
}

// ---- requests -----------------------------------------------------------------------------

/// A VPC as a request names it: either part may be missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VpcInput {
    pub region: Option<String>,
    pub vpc_id: Option<String>,
}

/// CreateHostedZone's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateHostedZone {
    pub name: String,
    pub caller_reference: String,
    pub comment: Option<String>,
    pub private_zone: Option<bool>,
    pub vpc: Option<VpcInput>,
    pub delegation_set_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeAction {
    Create,
    Delete,
    Upsert,
}

impl ChangeAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CREATE" => Some(Self::Create),
            "DELETE" => Some(Self::Delete),
            "UPSERT" => Some(Self::Upsert),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Delete => "DELETE",
            Self::Upsert => "UPSERT",
        }
    }
}

/// One change of a batch; the record set's names are as the caller wrote them.
#[derive(Clone, Debug)]
pub struct Change {
    pub action: ChangeAction,
    pub record_set: RecordSet,
}

/// What a change answers (ChangeInfo): PENDING when made, INSYNC once asked again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeInfo {
    pub id: String,
    pub submitted_at: Millis,
    pub comment: Option<String>,
}

impl From<&ChangeRecord> for ChangeInfo {
    fn from(c: &ChangeRecord) -> Self {
        Self {
            id: c.id.clone(),
            submitted_at: c.submitted_at,
            comment: c.comment.clone(),
        }
    }
}

// ---- reads --------------------------------------------------------------------------------

/// The zone `id` (bare or `/hostedzone/…`) of `account`.
pub fn zone<'g>(global: &'g Global, account: &str, id: &str) -> Result<&'g HostedZone, ApiError> {
    let id = bare_id(id);
    global
        .hosted_zones
        .get(id)
        .filter(|z| z.account == account)
        .ok_or_else(|| no_such_zone(id))
}

/// Every zone of `account`, by id.
pub fn zones<'g>(global: &'g Global, account: &'g str) -> impl Iterator<Item = &'g HostedZone> {
    global
        .hosted_zones
        .values()
        .filter(move |z| z.account == account)
}

/// The private zones of `account` associated with `vpc_id` in `region`, by id.
pub fn zones_for_vpc<'g>(
    global: &'g Global,
    account: &'g str,
    region: &'g str,
    vpc_id: &'g str,
) -> impl Iterator<Item = &'g HostedZone> {
    zones(global, account).filter(move |z| {
        z.private
            && z.vpcs
                .iter()
                .any(|v| v.region == region && v.vpc_id == vpc_id)
    })
}

/// The change `id` (bare or `/change/…`) of `account`.
pub fn change<'g>(
    global: &'g Global,
    account: &str,
    id: &str,
) -> Result<&'g ChangeRecord, ApiError> {
    let id = bare_id(id);
    global
        .route53_changes
        .get(id)
        .filter(|c| c.account == account)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NoSuchChange,
                format!("A change with the specified change ID does not exist: {id}"),
            )
        })
}

impl Control {
    /// The private zones associated with VPC `vpc_id` of `account` in `region`, each with
    /// its name and record sets: what that VPC's resolver answers. Zones change when the
    /// feed ([`Control::subscribe`]) names a `g/route53-zone/…` key.
    pub async fn private_zones_for_vpc(
        &self,
        account: &str,
        region: &str,
        vpc_id: &str,
    ) -> Vec<HostedZone> {
        self.read_world(|w| {
            zones_for_vpc(&w.global, account, region, vpc_id)
                .cloned()
                .collect()
        })
        .await
    }

    /// Makes a Route 53 change for `account`; answers once durable, with the change's number.
    pub async fn route53<R>(
        &self,
        account: &str,
        f: impl FnOnce(&mut Route53<'_>) -> Result<R, ApiError>,
    ) -> Result<(R, u64), ApiError> {
        let now = crate::now_millis();
        self.write_global_reading(|global, regions| {
            f(&mut Route53 {
                global,
                regions,
                account,
                now,
            })
        })
        .await
    }
}

// ---- changes ------------------------------------------------------------------------------

/// Route 53's changes, made for one account at one time.
pub struct Route53<'a> {
    pub global: &'a mut Global,
    /// Every region, to find the VPCs zones name.
    pub regions: &'a HashMap<(String, String), Region>,
    pub account: &'a str,
    pub now: Millis,
}

impl Route53<'_> {
    fn record_change(&mut self, comment: Option<String>) -> ChangeInfo {
        let record = ChangeRecord {
            id: hosted_zone::new_change_id(),
            account: self.account.to_owned(),
            submitted_at: self.now,
            comment,
        };
        let info = ChangeInfo::from(&record);
        self.global.route53_changes.insert(record);
        info
    }

    /// A VPC a request names: both parts present, the VPC one of this account's in that
    /// region.
    fn existing_vpc(&self, vpc: &VpcInput) -> Result<ZoneVpc, ApiError> {
        let (Some(region), Some(vpc_id)) = (&vpc.region, &vpc.vpc_id) else {
            return Err(invalid_input(
                "Invalid request: VPC requires both VPCId and VPCRegion.",
            ));
        };
        // an id that is not a VPC's at all gets Route 53's short answer (recorded against AWS)
        if VpcId::parse(vpc_id).is_err() {
            return Err(ApiError::new(
                ErrorCode::InvalidVpcIdRoute53,
                "The VPC ID is invalid.",
            ));
        }
        let found = ZoneVpc {
            region: region.clone(),
            vpc_id: vpc_id.clone(),
        };
        let exists = self
            .regions
            .get(&(self.account.to_owned(), region.clone()))
            .is_some_and(|r| r.vpcs.contains(vpc_id));
        if !exists {
            return Err(invalid_vpc(&found));
        }
        Ok(found)
    }

    /// Refuses a VPC that already answers for a private zone of the same name.
    fn check_no_conflict(&self, name: &str, vpc: &ZoneVpc) -> Result<(), ApiError> {
        if let Some(other) = zones_for_vpc(self.global, self.account, &vpc.region, &vpc.vpc_id)
            .find(|z| z.name == name)
        {
            return Err(conflicting_domain(vpc, &other.id));
        }
        Ok(())
    }

    fn zone_mut(&mut self, id: &str) -> Result<&mut HostedZone, ApiError> {
        zone(self.global, self.account, id)?;
        self.global
            .hosted_zones
            .get_mut(bare_id(id))
            .ok_or_else(|| no_such_zone(bare_id(id)))
    }

    pub fn create_hosted_zone(
        &mut self,
        req: CreateHostedZone,
    ) -> Result<(HostedZone, ChangeInfo), ApiError> {
        if req.caller_reference.is_empty() || req.caller_reference.chars().count() > 128 {
            return Err(invalid_input(
                "Invalid request: CallerReference must be 1 to 128 characters long.",
            ));
        }
        if let Some(c) = &req.comment
            && c.chars().count() > 256
        {
            return Err(invalid_input(
                "Invalid request: Comment must be at most 256 characters long.",
            ));
        }
        if req.delegation_set_id.is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "Fort has no reusable delegation sets.",
            ));
        }
        let name = normalize_name(&req.name).map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidDomainName,
                format!("{} is not a valid domain name.", req.name),
            )
        })?;
        if zones(self.global, self.account).any(|z| z.caller_reference == req.caller_reference) {
            return Err(ApiError::new(
                ErrorCode::HostedZoneAlreadyExists,
                format!(
                    "A hosted zone has already been created with the specified caller reference: {}",
                    req.caller_reference
                ),
            ));
        }
        let vpc = match (&req.vpc, req.private_zone) {
            (Some(v), _) => Some(self.existing_vpc(v)?),
            (None, Some(true)) => {
                return Err(invalid_input(
                    "When you're creating a private hosted zone (when you specify true for PrivateZone), you must also specify values for VPCId and VPCRegion.",
                ));
            }
            (None, _) => None,
        };
        if let Some(v) = &vpc {
            self.check_no_conflict(&name, v)?;
        }
        if zones(self.global, self.account).count() >= MAX_ZONES_PER_ACCOUNT {
            return Err(ApiError::new(
                ErrorCode::TooManyHostedZones,
                format!(
                    "Limits Exceeded: MAX_HOSTED_ZONES_BY_OWNER - Cannot create more than {MAX_ZONES_PER_ACCOUNT} hosted zones."
                ),
            ));
        }
        let id = hosted_zone::new_zone_id();
        let private = vpc.is_some();
        let (name_servers, apex_ns): (Vec<String>, Vec<String>) = if private {
            (
                Vec::new(),
                PRIVATE_NAME_SERVERS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
            )
        } else {
            let ns = public_name_servers(&id);
            (ns.clone(), ns)
        };
        let soa = hosted_zone::apex_soa(&apex_ns[0]);
        let mut records = vec![
            RecordSet::simple(&name, RrType::Ns, APEX_NS_TTL, apex_ns),
            RecordSet::simple(&name, RrType::Soa, APEX_SOA_TTL, vec![soa]),
        ];
        records.sort_by(|a, b| a.order().cmp(&b.order()));
        let zone = HostedZone {
            id,
            account: self.account.to_owned(),
            name,
            caller_reference: req.caller_reference,
            comment: req.comment,
            private,
            vpcs: vpc.into_iter().collect(),
            name_servers,
            records,
            tags: Tags::new(),
            created: self.now,
        };
        self.global.hosted_zones.insert(zone.clone());
        let change = self.record_change(None);
        Ok((zone, change))
    }

    pub fn update_comment(
        &mut self,
        id: &str,
        comment: Option<String>,
    ) -> Result<HostedZone, ApiError> {
        if let Some(c) = &comment
            && c.chars().count() > 256
        {
            return Err(invalid_input(
                "Invalid request: Comment must be at most 256 characters long.",
            ));
        }
        let zone = self.zone_mut(id)?;
        zone.comment = comment;
        Ok(zone.clone())
    }

    pub fn delete_hosted_zone(&mut self, id: &str) -> Result<ChangeInfo, ApiError> {
        let z = zone(self.global, self.account, id)?;
        if z.records.iter().any(|r| !z.is_required(r)) {
            return Err(ApiError::new(
                ErrorCode::HostedZoneNotEmpty,
                "The specified hosted zone contains non-required resource record sets  and so cannot be deleted.",
            ));
        }
        let id = z.id.clone();
        self.global.hosted_zones.remove(&id);
        Ok(self.record_change(None))
    }

    pub fn associate_vpc(
        &mut self,
        id: &str,
        vpc: &VpcInput,
        comment: Option<String>,
    ) -> Result<ChangeInfo, ApiError> {
        let z = zone(self.global, self.account, id)?;
        if !z.private {
            return Err(ApiError::new(
                ErrorCode::PublicZoneVpcAssociation,
                "Amazon Route 53 doesn't support associating a VPC with a public hosted zone.",
            ));
        }
        let name = z.name.clone();
        let vpc = self.existing_vpc(vpc)?;
        self.check_no_conflict(&name, &vpc)?;
        self.zone_mut(id)?.vpcs.push(vpc);
        Ok(self.record_change(comment))
    }

    pub fn disassociate_vpc(
        &mut self,
        id: &str,
        vpc: &VpcInput,
        comment: Option<String>,
    ) -> Result<ChangeInfo, ApiError> {
        let z = zone(self.global, self.account, id)?;
        let (Some(region), Some(vpc_id)) = (&vpc.region, &vpc.vpc_id) else {
            return Err(invalid_input(
                "Invalid request: VPC requires both VPCId and VPCRegion.",
            ));
        };
        let Some(at) = z
            .vpcs
            .iter()
            .position(|v| &v.region == region && &v.vpc_id == vpc_id)
        else {
            return Err(ApiError::new(
                ErrorCode::VpcAssociationNotFound,
                format!("The specified VPC {vpc_id} and hosted zone are not currently associated."),
            ));
        };
        if z.vpcs.len() == 1 {
            return Err(ApiError::new(
                ErrorCode::LastVpcAssociation,
                "The VPC that you're trying to disassociate from the private hosted zone is the last VPC that is associated with the hosted zone. Amazon Route 53 doesn't support disassociating the last VPC from a hosted zone.",
            ));
        }
        self.zone_mut(id)?.vpcs.remove(at);
        Ok(self.record_change(comment))
    }

    pub fn change_tags(&mut self, id: &str, add: Tags, remove: &[String]) -> Result<(), ApiError> {
        for (k, v) in &add {
            if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
                return Err(invalid_input(format!(
                    "Invalid request: tag key '{k}' must be 1 to 128 characters and its value at most 256."
                )));
            }
        }
        let zone = self.zone_mut(id)?;
        for k in remove {
            zone.tags.remove(k);
        }
        zone.tags.extend(add);
        if zone.tags.len() > MAX_TAGS {
            return Err(invalid_input(format!(
                "Invalid request: a hosted zone can have at most {MAX_TAGS} tags."
            )));
        }
        Ok(())
    }

    /// ChangeResourceRecordSets: every change applies, in order, or none does.
    pub fn change_record_sets(
        &mut self,
        id: &str,
        changes: Vec<Change>,
        comment: Option<String>,
    ) -> Result<ChangeInfo, ApiError> {
        if changes.is_empty() {
            return Err(invalid_input(
                "Invalid request: Expected at least one Change in ChangeBatch.",
            ));
        }
        let values: usize = changes
            .iter()
            .map(|c| {
                let n = c.record_set.records.len().max(1);
                if c.action == ChangeAction::Upsert {
                    2 * n
                } else {
                    n
                }
            })
            .sum();
        if values > MAX_RECORDS_PER_BATCH {
            return Err(invalid_batch(&[format!(
                "Number of records limit of {MAX_RECORDS_PER_BATCH} exceeded."
            )]));
        }
        if let Some(c) = &comment
            && c.chars().count() > 256
        {
            return Err(invalid_input(
                "Invalid request: Comment must be at most 256 characters long.",
            ));
        }
        let z = zone(self.global, self.account, id)?;
        let zone_name = z.name.clone();
        let mut working = z.records.clone();
        let mut messages = Vec::new();
        // record sets made or replaced, checked against the whole batch's outcome
        let mut written: Vec<RecordSet> = Vec::new();
        for change in changes {
            let set = normalized(change.action, change.record_set)?;
            let mut problems = check_set(&set, &zone_name);
            if !problems.is_empty() {
                messages.append(&mut problems);
                continue;
            }
            let at = working.iter().position(|r| r.same_set(&set));
            let required = set.name == zone_name
                && set.set_identifier.is_none()
                && matches!(set.rr_type, RrType::Soa | RrType::Ns);
            match (change.action, at) {
                (ChangeAction::Create, Some(_)) => messages.push(format!(
                    "Tried to create resource record set {} but it already exists",
                    set.describe()
                )),
                (ChangeAction::Create, None) => {
                    written.push(set.clone());
                    working.push(set);
                }
                (ChangeAction::Upsert, Some(i)) => {
                    written.push(set.clone());
                    working[i] = set;
                }
                (ChangeAction::Upsert, None) => {
                    written.push(set.clone());
                    working.push(set);
                }
                (ChangeAction::Delete, None) => messages.push(format!(
                    "Tried to delete resource record set {} but it was not found",
                    set.describe()
                )),
                (ChangeAction::Delete, Some(i)) => {
                    if !set.matches_for_delete(&working[i]) {
                        messages.push(format!(
                            "Tried to delete resource record set {} but the values provided do not match the current values",
                            set.describe()
                        ));
                    } else if required && set.rr_type == RrType::Soa {
                        messages.push("A HostedZone must contain exactly one SOA record.".into());
                    } else if required {
                        messages.push(
                            "A HostedZone must contain at least one NS record for the zone itself."
                                .into(),
                        );
                    } else {
                        working.remove(i);
                    }
                }
            }
        }
        for set in &written {
            // a later change of the batch may have removed it again
            if !working.iter().any(|r| r == set) {
                continue;
            }
            let conflicts = working.iter().any(|r| {
                r.name == set.name
                    && r.rr_type != set.rr_type
                    && (r.rr_type == RrType::Cname || set.rr_type == RrType::Cname)
            });
            if conflicts {
                messages.push(format!(
                    "RRSet of type {} with DNS name {} is not permitted as it conflicts with other records with the same DNS name in zone {zone_name}",
                    set.rr_type, set.name
                ));
            }
            if let Some(alias) = &set.alias
                && let Some(problem) =
                    self.alias_problem(set, alias, &zone_name, bare_id(id), &working)
            {
                messages.push(problem);
            }
        }
        if working.len() > MAX_RECORD_SETS_PER_ZONE {
            messages.push(format!(
                "The hosted zone {zone_name} would hold {} resource record sets; the limit is {MAX_RECORD_SETS_PER_ZONE}.",
                working.len()
            ));
        }
        if !messages.is_empty() {
            return Err(invalid_batch(&messages));
        }
        working.sort_by(|a, b| a.order().cmp(&b.order()));
        self.zone_mut(id)?.records = working;
        Ok(self.record_change(comment))
    }

    /// Why an alias cannot point where it does, if it cannot: a target in one of this
    /// account's zones must lie in that zone and exist there with the alias's type. Targets
    /// in zones Fort does not hold (AWS's own, for load balancers, CloudFront, S3 websites)
    /// are kept as given.
    fn alias_problem(
        &self,
        set: &RecordSet,
        alias: &hosted_zone::AliasTarget,
        zone_name: &str,
        zone_id: &str,
        working: &[RecordSet],
    ) -> Option<String> {
        let target_zone = if alias.hosted_zone_id == zone_id {
            Some((zone_name, working))
        } else {
            zones(self.global, self.account)
                .find(|z| z.id == alias.hosted_zone_id)
                .map(|z| (z.name.as_str(), z.records.as_slice()))
        };
        let (target_name, records) = target_zone?;
        let prefix = format!(
            "Tried to create an alias that targets {}, type {} in zone {}",
            alias.dns_name, set.rr_type, alias.hosted_zone_id
        );
        if !hosted_zone::within_zone(&alias.dns_name, target_name) {
            return Some(format!(
                "{prefix}, but the alias target name does not lie within the target zone"
            ));
        }
        if !records
            .iter()
            .any(|r| r.name == alias.dns_name && r.rr_type == set.rr_type)
        {
            return Some(format!("{prefix}, but that target was not found"));
        }
        None
    }
}

/// The record set with its names normalized; InvalidInput when its shape is wrong (Route
/// 53 checks the shape before anything else).
fn normalized(action: ChangeAction, mut set: RecordSet) -> Result<RecordSet, ApiError> {
    let described = |set: &RecordSet| {
        format!(
            "Change with [Action={}, Name={}, Type={}, SetIdentifier={}]",
            action.as_str(),
            set.name,
            set.rr_type,
            set.set_identifier.as_deref().unwrap_or("null")
        )
    };
    set.name = normalize_name(&set.name).map_err(|e| {
        invalid_input(format!(
            "Invalid request: the name '{}' of {} is not a domain name: {e}",
            set.name,
            described(&set)
        ))
    })?;
    let plain = set.ttl.is_some() && !set.records.is_empty();
    match (set.alias.is_some(), plain) {
        (true, false) if set.ttl.is_none() && set.records.is_empty() => {}
        (false, true) => {}
        (true, _) => {
            return Err(invalid_input(format!(
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in {}",
                described(&set)
            )));
        }
        (false, false) => {
            return Err(invalid_input(format!(
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in {}",
                described(&set)
            )));
        }
    }
    if let Some(ttl) = set.ttl
        && !(0..=i64::from(i32::MAX)).contains(&ttl)
    {
        return Err(invalid_input(format!(
            "Invalid request: TTL {ttl} must be between 0 and 2147483647."
        )));
    }
    if let Some(alias) = &mut set.alias {
        alias.hosted_zone_id = bare_id(&alias.hosted_zone_id).to_owned();
        alias.dns_name = normalize_name(&alias.dns_name).map_err(|e| {
            invalid_input(format!(
                "Invalid request: the alias target '{}' is not a domain name: {e}",
                alias.dns_name
            ))
        })?;
    }
    Ok(set)
}

/// What Route 53 finds wrong with one record set on its own, in its words.
fn check_set(set: &RecordSet, zone_name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !hosted_zone::within_zone(&set.name, zone_name) {
        problems.push(format!(
            "RRSet with DNS name {} is not permitted in zone {zone_name}",
            set.name
        ));
        return problems;
    }
    if set.name == zone_name && set.rr_type == RrType::Cname {
        problems.push(format!(
            "RRSet of type CNAME with DNS name {} is not permitted at apex in zone {zone_name}",
            set.name
        ));
    }
    if set.name != zone_name && set.rr_type == RrType::Soa {
        problems.push(format!(
            "RRSet of type SOA with DNS name {} is not permitted because SOA records are only permitted at the zone apex",
            set.name
        ));
    }
    if set.rr_type == RrType::Cname && set.records.len() > 1 {
        problems.push(format!(
            "RRSet of type CNAME with DNS name {} has more than one value: a CNAME record set holds exactly one",
            set.name
        ));
    }
    let mut seen = BTreeSet::new();
    for value in &set.records {
        if let Err(e) = hosted_zone::check_value(set.rr_type, value) {
            problems.push(e.to_string());
        } else if !seen.insert(value.as_str()) {
            problems.push(format!("Duplicate Resource Record: '{value}'"));
        }
    }
    problems
}

/// The four name servers of a public zone's delegation set, chosen from its id as Route 53
/// spreads zones over its servers (one .com, .net, .org and .co.uk each).
fn public_name_servers(id: &str) -> Vec<String> {
    let h = id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let n = h % 512;
    let d = (h / 512) % 64;
    vec![
        format!("ns-{}.awsdns-{d:02}.com.", n),
        format!("ns-{}.awsdns-{d:02}.net.", 512 + n),
        format!("ns-{}.awsdns-{d:02}.org.", 1024 + n),
        format!("ns-{}.awsdns-{d:02}.co.uk.", 1536 + n),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_model::hosted_zone::AliasTarget;

    const ACCOUNT: &str = "123456789012";

    /// A VPC row as the region table keeps it.
    fn vpc_row(id: &str) -> fort_model::Vpc {
        serde_json::from_value(serde_json::json!({
            "id": id, "vni": 1, "cidr_blocks": [], "dhcp_options_id": "default",
            "instance_tenancy": "default", "is_default": false, "enable_dns_support": true,
            "enable_dns_hostnames": false, "enable_network_address_usage_metrics": false,
            "main_route_table_id": "rtb-1", "default_network_acl_id": "acl-1",
            "default_security_group_id": "sg-1", "tags": {}
        }))
        .expect("a VPC row")
    }

    /// A global state and one region holding `vpc-1` and `vpc-2`.
    fn world() -> (Global, HashMap<(String, String), Region>) {
        let mut region = Region::new(ACCOUNT, "us-east-1");
        region.vpcs.load(vpc_row("vpc-1"));
        region.vpcs.load(vpc_row("vpc-2"));
        let mut regions = HashMap::new();
        regions.insert((ACCOUNT.to_owned(), "us-east-1".to_owned()), region);
        (Global::default(), regions)
    }

    /// The caller's view of `global`, at time 1.
    fn route53<'a>(
        global: &'a mut Global,
        regions: &'a HashMap<(String, String), Region>,
    ) -> Route53<'a> {
        Route53 {
            global,
            regions,
            account: ACCOUNT,
            now: 1,
        }
    }

    fn vpc(id: &str) -> VpcInput {
        VpcInput {
            region: Some("us-east-1".into()),
            vpc_id: Some(id.into()),
        }
    }

    fn create(r: &mut Route53<'_>, name: &str, reference: &str) -> Result<HostedZone, ApiError> {
        r.create_hosted_zone(CreateHostedZone {
            name: name.into(),
            caller_reference: reference.into(),
            private_zone: Some(true),
            vpc: Some(vpc("vpc-1")),
            ..Default::default()
        })
        .map(|(z, _)| {
            // the zone stands whatever later changes of the test do
            r.global.take_changes(&mut Vec::new()).unwrap();
            z
        })
    }

    fn a(name: &str, value: &str) -> RecordSet {
        RecordSet::simple(name, RrType::A, 300, vec![value.into()])
    }

    fn change(action: ChangeAction, record_set: RecordSet) -> Change {
        Change { action, record_set }
    }

    fn batch(
        r: &mut Route53<'_>,
        zone: &str,
        changes: Vec<Change>,
    ) -> Result<ChangeInfo, ApiError> {
        let result = r.change_record_sets(zone, changes, None);
        if result.is_err() {
            r.global.rollback();
        } else {
            let mut out = Vec::new();
            r.global.take_changes(&mut out).unwrap();
        }
        result
    }

    #[test]
    fn a_private_zone_starts_with_its_apex_records() {
        let (mut global, regions) = world();
        let mut r = route53(&mut global, &regions);
        let z = create(&mut r, "Example.COM", "ref-1").unwrap();
        assert_eq!(z.name, "example.com.");
        assert!(z.private);
        assert_eq!(
            z.vpcs,
            vec![ZoneVpc {
                region: "us-east-1".into(),
                vpc_id: "vpc-1".into()
            }]
        );
        let types: Vec<RrType> = z.records.iter().map(|r| r.rr_type).collect();
        assert_eq!(types, [RrType::Ns, RrType::Soa]);
        assert_eq!(z.records[0].records.len(), 4);
        // the same caller reference again
        let e = create(&mut r, "other.com", "ref-1").unwrap_err();
        assert_eq!(e.code, ErrorCode::HostedZoneAlreadyExists);
        // the same name in the same VPC
        let e = create(&mut r, "example.com.", "ref-2").unwrap_err();
        assert_eq!(e.code, ErrorCode::ConflictingDomainExists);
        // a VPC that does not exist
        let e = r
            .create_hosted_zone(CreateHostedZone {
                name: "x.com".into(),
                caller_reference: "ref-3".into(),
                vpc: Some(vpc("vpc-9")),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidVpcIdRoute53);
        let e = r
            .create_hosted_zone(CreateHostedZone {
                name: "x.com".into(),
                caller_reference: "ref-4".into(),
                private_zone: Some(true),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
    }

    #[test]
    fn batches_are_all_or_nothing() {
        let (mut global, regions) = world();
        let mut r = route53(&mut global, &regions);
        let z = create(&mut r, "example.com", "ref").unwrap();
        let id = format!("/hostedzone/{}", z.id);
        batch(
            &mut r,
            &id,
            vec![change(
                ChangeAction::Create,
                a("www.example.com", "192.0.2.1"),
            )],
        )
        .unwrap();
        // one good change, one duplicate: nothing applies
        let e = batch(
            &mut r,
            &id,
            vec![
                change(ChangeAction::Create, a("api.example.com", "192.0.2.2")),
                change(ChangeAction::Create, a("WWW.example.com.", "192.0.2.3")),
            ],
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidChangeBatch);
        assert_eq!(
            e.message,
            "[Tried to create resource record set [name='www.example.com.', type='A'] but it already exists]"
        );
        let zone = zone(r.global, ACCOUNT, &id).unwrap();
        assert_eq!(zone.records.len(), 3);
        assert!(zone.record("api.example.com.", RrType::A, None).is_none());
    }

    #[test]
    fn deletes_match_exactly_and_keep_the_apex() {
        let (mut global, regions) = world();
        let mut r = route53(&mut global, &regions);
        let z = create(&mut r, "example.com", "ref").unwrap();
        batch(
            &mut r,
            &z.id,
            vec![change(
                ChangeAction::Create,
                a("www.example.com", "192.0.2.1"),
            )],
        )
        .unwrap();
        let e = batch(
            &mut r,
            &z.id,
            vec![change(
                ChangeAction::Delete,
                a("www.example.com", "192.0.2.9"),
            )],
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("but the values provided do not match the current values"),
            "{}",
            e.message
        );
        let e = batch(
            &mut r,
            &z.id,
            vec![change(
                ChangeAction::Delete,
                a("nope.example.com", "192.0.2.9"),
            )],
        )
        .unwrap_err();
        assert!(e.message.contains("but it was not found"));
        let soa = z.record("example.com.", RrType::Soa, None).unwrap().clone();
        let e = batch(&mut r, &z.id, vec![change(ChangeAction::Delete, soa)]).unwrap_err();
        assert_eq!(
            e.message,
            "[A HostedZone must contain exactly one SOA record.]"
        );
        // not empty
        let e = r.delete_hosted_zone(&z.id).unwrap_err();
        assert_eq!(e.code, ErrorCode::HostedZoneNotEmpty);
        batch(
            &mut r,
            &z.id,
            vec![change(
                ChangeAction::Delete,
                a("www.example.com", "192.0.2.1"),
            )],
        )
        .unwrap();
        r.delete_hosted_zone(&z.id).unwrap();
        assert!(zone(r.global, ACCOUNT, &z.id).is_err());
    }

    #[test]
    fn cname_conflicts_names_outside_and_aliases() {
        let (mut global, regions) = world();
        let mut r = route53(&mut global, &regions);
        let z = create(&mut r, "example.com", "ref").unwrap();
        batch(
            &mut r,
            &z.id,
            vec![change(
                ChangeAction::Create,
                a("www.example.com", "192.0.2.1"),
            )],
        )
        .unwrap();
        let cname = RecordSet::simple(
            "www.example.com",
            RrType::Cname,
            60,
            vec!["x.example.org".into()],
        );
        let e = batch(&mut r, &z.id, vec![change(ChangeAction::Create, cname)]).unwrap_err();
        assert!(
            e.message.contains("conflicts with other records"),
            "{}",
            e.message
        );
        let e = batch(
            &mut r,
            &z.id,
            vec![change(
                ChangeAction::Create,
                a("www.example.org", "192.0.2.1"),
            )],
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "[RRSet with DNS name www.example.org. is not permitted in zone example.com.]"
        );
        let mut alias = a("api.example.com", "0.0.0.0");
        alias.ttl = None;
        alias.records.clear();
        alias.alias = Some(AliasTarget {
            hosted_zone_id: z.id.clone(),
            dns_name: "missing.example.com".into(),
            evaluate_target_health: false,
        });
        let e = batch(
            &mut r,
            &z.id,
            vec![change(ChangeAction::Create, alias.clone())],
        )
        .unwrap_err();
        assert!(
            e.message.contains("but that target was not found"),
            "{}",
            e.message
        );
        alias.alias.as_mut().unwrap().dns_name = "WWW.example.com".into();
        batch(&mut r, &z.id, vec![change(ChangeAction::Create, alias)]).unwrap();
        let zone = zone(r.global, ACCOUNT, &z.id).unwrap();
        let stored = zone.record("api.example.com.", RrType::A, None).unwrap();
        assert_eq!(stored.alias.as_ref().unwrap().dns_name, "www.example.com.");
        // an alias with a TTL is the wrong shape
        let mut both = stored.clone();
        both.ttl = Some(60);
        both.records = vec!["192.0.2.1".into()];
        let e = batch(&mut r, &z.id, vec![change(ChangeAction::Upsert, both)]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
    }

    #[test]
    fn batches_and_zones_have_route53s_limits() {
        let (mut global, regions) = world();
        let mut r = route53(&mut global, &regions);
        let z = create(&mut r, "example.com", "ref").unwrap();
        let many: Vec<String> = (0..=1000u32)
            .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
            .collect();
        let big = RecordSet::simple("big.example.com", RrType::A, 60, many);
        let e = batch(&mut r, &z.id, vec![change(ChangeAction::Create, big)]).unwrap_err();
        assert_eq!(e.message, "[Number of records limit of 1000 exceeded.]");
        // 600 values are fine once, not as an UPSERT (which counts them twice)
        let values: Vec<String> = (0..600u32)
            .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string())
            .collect();
        let set = RecordSet::simple("big.example.com", RrType::A, 60, values);
        batch(
            &mut r,
            &z.id,
            vec![change(ChangeAction::Create, set.clone())],
        )
        .unwrap();
        assert!(batch(&mut r, &z.id, vec![change(ChangeAction::Upsert, set)]).is_err());
    }

    mod all_or_nothing {
        use super::*;
        use proptest::prelude::*;

        /// A change over a small space of names and values, so that batches collide.
        fn any_change() -> impl Strategy<Value = (u8, u8, u8, u8)> {
            (0u8..3, 0u8..3, 0u8..2, 0u8..3)
        }

        fn to_change((action, name, kind, value): (u8, u8, u8, u8)) -> Change {
            let action = [
                ChangeAction::Create,
                ChangeAction::Delete,
                ChangeAction::Upsert,
            ][usize::from(action)];
            let name = format!("n{name}.example.com");
            let set = if kind == 0 {
                RecordSet::simple(&name, RrType::A, 60, vec![format!("192.0.2.{value}")])
            } else {
                RecordSet::simple(&name, RrType::Txt, 60, vec![format!("\"v{value}\"")])
            };
            Change {
                action,
                record_set: set,
            }
        }

        /// What a batch makes of `records` when applied one change at a time, or `None`
        /// when one of its changes cannot apply.
        fn reference(records: &[RecordSet], changes: &[Change]) -> Option<Vec<RecordSet>> {
            let mut out = records.to_vec();
            for c in changes {
                let mut set = c.record_set.clone();
                set.name = normalize_name(&set.name).unwrap();
                let at = out.iter().position(|r| r.same_set(&set));
                match (c.action, at) {
                    (ChangeAction::Create, Some(_)) | (ChangeAction::Delete, None) => return None,
                    (ChangeAction::Delete, Some(i)) if !set.matches_for_delete(&out[i]) => {
                        return None;
                    }
                    (ChangeAction::Delete, Some(i)) => {
                        out.remove(i);
                    }
                    (_, Some(i)) => out[i] = set,
                    (_, None) => out.push(set),
                }
            }
            out.sort_by(|a, b| a.order().cmp(&b.order()));
            Some(out)
        }

        proptest! {
            /// A batch applies whole, exactly as its changes one after another would, or
            /// leaves the zone as it was.
            #[test]
            fn batches_apply_whole_or_not_at_all(
                batches in proptest::collection::vec(proptest::collection::vec(any_change(), 1..5), 1..8)
            ) {
                let (mut global, regions) = world();
                let mut r = Route53 { global: &mut global, regions: &regions, account: ACCOUNT, now: 1 };
                let z = create(&mut r, "example.com", "ref").unwrap();
                for b in batches {
                    let changes: Vec<Change> = b.into_iter().map(to_change).collect();
                    let before = zone(r.global, ACCOUNT, &z.id).unwrap().records.clone();
                    let expected = reference(&before, &changes);
                    let result = batch(&mut r, &z.id, changes);
                    let after = zone(r.global, ACCOUNT, &z.id).unwrap().records.clone();
                    match expected {
                        Some(records) => {
                            prop_assert!(result.is_ok(), "{:?}", result);
                            prop_assert_eq!(after, records);
                        }
                        None => {
                            prop_assert_eq!(result.unwrap_err().code, ErrorCode::InvalidChangeBatch);
                            prop_assert_eq!(after, before);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn vpcs_associate_and_the_last_stays() {
        let (mut global, regions) = world();
        let mut r = route53(&mut global, &regions);
        let z = create(&mut r, "example.com", "ref").unwrap();
        let e = r.disassociate_vpc(&z.id, &vpc("vpc-1"), None).unwrap_err();
        assert_eq!(e.code, ErrorCode::LastVpcAssociation);
        r.associate_vpc(&z.id, &vpc("vpc-2"), None).unwrap();
        let e = r.associate_vpc(&z.id, &vpc("vpc-2"), None).unwrap_err();
        assert_eq!(e.code, ErrorCode::ConflictingDomainExists);
        assert_eq!(
            zones_for_vpc(r.global, ACCOUNT, "us-east-1", "vpc-2").count(),
            1
        );
        r.disassociate_vpc(&z.id, &vpc("vpc-1"), None).unwrap();
        assert_eq!(
            zones_for_vpc(r.global, ACCOUNT, "us-east-1", "vpc-1").count(),
            0
        );
        let e = r.disassociate_vpc(&z.id, &vpc("vpc-1"), None).unwrap_err();
        assert_eq!(e.code, ErrorCode::VpcAssociationNotFound);
        // another account sees nothing
        assert!(zone(r.global, "210987654321", &z.id).is_err());
    }
}
