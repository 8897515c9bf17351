//! Managed prefix lists: the account's own (versioned sets of CIDRs, usable as route
//! destinations and security group peers) and those AWS manages for its gateway services
//! in every region (computed from the region's name, never stored).
//!
//! Hosts never see a list: the mapping service gives them a route or rule per entry of
//! the current version (fort_mapping::derive).

use fort_model::*;
use ipnet::{IpNet, Ipv6Net};

use crate::tags::check_tags;
use crate::{ClientToken, Region, Tx};

/// Most entries a list may hold, and most versions kept.
pub const MAX_ENTRIES: u32 = 1000;
const MAX_VERSIONS: usize = 1000;

/// One entry of a request: `Cidr` and an optional `Description`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryRequest {
    pub cidr: String,
    pub description: Option<String>,
}

/// CreateManagedPrefixList's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateManagedPrefixList {
    pub name: Option<String>,
    pub address_family: Option<String>,
    pub max_entries: Option<i64>,
    pub entries: Vec<EntryRequest>,
    pub tags: Tags,
    pub client_token: Option<ClientToken>,
}

/// ModifyManagedPrefixList's parameters.
#[derive(Clone, Debug, Default)]
pub struct ModifyManagedPrefixList {
    pub id: PrefixListId,
    pub current_version: Option<i64>,
    pub name: Option<String>,
    pub add: Vec<EntryRequest>,
    pub remove: Vec<String>,
    pub max_entries: Option<i64>,
}

impl Region {
    /// The list `id` names: the account's own (deleted ones too) or one AWS manages here.
    pub fn prefix_list(&self, id: &str) -> Option<ManagedPrefixList> {
        self.managed_prefix_lists.get(id).cloned().or_else(|| {
            aws_managed_prefix_lists(&self.name)
                .into_iter()
                .find(|l| l.id == id)
        })
    }

    /// [`Region::prefix_list`] for a user-given id: EC2's malformed or not-found error.
    pub fn find_prefix_list(&self, id: &str) -> Result<ManagedPrefixList, ApiError> {
        Kind::PrefixList.check(id)?;
        self.prefix_list(id)
            .ok_or_else(|| Kind::PrefixList.not_found(id))
    }

    /// A list a route or rule may name: it exists and is not deleted.
    pub fn usable_prefix_list(&self, id: &str) -> Result<ManagedPrefixList, ApiError> {
        let list = self.find_prefix_list(id)?;
        if list.is_deleted() {
            return Err(Kind::PrefixList.not_found(id));
        }
        Ok(list)
    }

    /// Every list the account sees here, its own and AWS's, ordered by id.
    pub fn all_prefix_lists(&self) -> Vec<ManagedPrefixList> {
        let mut all: Vec<ManagedPrefixList> = self
            .managed_prefix_lists
            .values()
            .cloned()
            .chain(aws_managed_prefix_lists(&self.name))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// What a reference to list `id` counts as against its resource's quota (rules per
    /// group, routes per table): the list's maximum entries (VPC quotas, "Maximum number
    /// of entries per prefix list"); whether those are IPv6.
    pub fn prefix_list_weight(&self, id: &str) -> (bool, usize) {
        self.prefix_list(id).map_or((false, 1), |l| {
            (
                l.address_family == AddressFamily::V6,
                l.max_entries as usize,
            )
        })
    }

    /// Rules of `group` in one direction and family, as its quota counts them.
    pub fn rules_counted(&self, group: &SecurityGroup, egress: bool, v6: bool) -> usize {
        group
            .rules
            .iter()
            .filter(|r| r.egress == egress)
            .map(|r| match &r.peer {
                RulePeer::PrefixList(pl) => self.prefix_list_weight(pl),
                RulePeer::Ipv6Cidr(_) => (true, 1),
                _ => (false, 1),
            })
            .filter(|(family, _)| *family == v6)
            .map(|(_, n)| n)
            .sum()
    }

    /// Routes of `table` a CreateRoute added, in one family, as its quota counts them.
    pub fn routes_counted(&self, table: &RouteTable, v6: bool) -> usize {
        table
            .routes
            .iter()
            .filter(|r| r.origin == RouteOrigin::CreateRoute)
            .map(|r| match &r.destination {
                RouteDestination::PrefixList(pl) => self.prefix_list_weight(pl),
                RouteDestination::Ipv6Cidr(_) => (true, 1),
                RouteDestination::Cidr(_) => (false, 1),
            })
            .filter(|(family, _)| *family == v6)
            .map(|(_, n)| n)
            .sum()
    }

    /// The resources that reference list `id`: security groups with a rule naming it
    /// and route tables with a route to it, by id.
    pub fn prefix_list_associations(&self, id: &str) -> Vec<String> {
        let groups = self
            .security_groups
            .values()
            .filter(|g| {
                g.rules
                    .iter()
                    .any(|r| matches!(&r.peer, RulePeer::PrefixList(p) if p == id))
            })
            .map(|g| g.id.to_string());
        let tables = self
            .route_tables
            .values()
            .filter(|t| {
                t.routes
                    .iter()
                    .any(|r| matches!(&r.destination, RouteDestination::PrefixList(p) if p == id))
            })
            .map(|t| t.id.to_string());
        groups.chain(tables).collect()
    }
}

fn bad_name(name: &str) -> Option<ApiError> {
    if name.is_empty() || name.chars().count() > 255 {
        return Some(ApiError::bad_param(
            "PrefixListName",
            name,
            "The name must be 1 to 255 characters.",
        ));
    }
    if name.starts_with("com.amazonaws") {
        return Some(ApiError::bad_param(
            "PrefixListName",
            name,
            "The name cannot start with com.amazonaws.",
        ));
    }
    None
}

fn max_entries(v: i64) -> Result<u32, ApiError> {
    u32::try_from(v)
        .ok()
        .filter(|m| (1..=MAX_ENTRIES).contains(m))
        .ok_or_else(|| {
            ApiError::invalid_value(format!(
                "Must specify a max size between 1 and {MAX_ENTRIES}"
            ))
        })
}

/// A CIDR of the list's family, host bits cleared.
fn parse_cidr(family: AddressFamily, text: &str) -> Result<IpNet, ApiError> {
    let invalid = || ApiError::bad_param("Cidr", text, "This is not a valid CIDR block.");
    let net = if text.contains(':') {
        IpNet::V6(text.parse::<Ipv6Net>().map_err(|_| invalid())?.trunc())
    } else {
        IpNet::V4(cidr::parse(text).ok_or_else(invalid)?)
    };
    let ok = matches!(
        (family, net),
        (AddressFamily::V4, IpNet::V4(_)) | (AddressFamily::V6, IpNet::V6(_))
    );
    if !ok {
        return Err(ApiError::invalid_value(format!(
            "The CIDR {text} does not match the address family {family} of the prefix list."
        )));
    }
    Ok(net)
}

fn entry(family: AddressFamily, e: &EntryRequest) -> Result<PrefixListEntry, ApiError> {
    if let Some(d) = &e.description
        && d.chars().count() > 255
    {
        return Err(ApiError::bad_param(
            "Description",
            d,
            "Descriptions must be at most 255 characters.",
        ));
    }
    Ok(PrefixListEntry {
        cidr: parse_cidr(family, &e.cidr)?,
        description: e.description.clone().filter(|d| !d.is_empty()),
    })
}

fn modification(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidPrefixListModification, message)
}

fn too_many(id: &str, max: u32) -> ApiError {
    modification(format!(
        "The prefix list {id} would have more than its maximum of {max} entries."
    ))
}

impl Tx<'_> {
    /// CreateManagedPrefixList, idempotent under its client token.
    pub fn create_managed_prefix_list(
        &mut self,
        req: CreateManagedPrefixList,
    ) -> Result<ManagedPrefixList, ApiError> {
        let token = req.client_token.clone();
        self.idempotent(
            token.as_ref(),
            |r, id| r.managed_prefix_lists.get(id).cloned(),
            |tx| tx.make_prefix_list(req),
            |l| l.id.to_string(),
        )
    }

    fn make_prefix_list(
        &mut self,
        req: CreateManagedPrefixList,
    ) -> Result<ManagedPrefixList, ApiError> {
        let name = req
            .name
            .ok_or_else(|| ApiError::missing("PrefixListName"))?;
        let max = max_entries(
            req.max_entries
                .ok_or_else(|| ApiError::missing("MaxEntries"))?,
        )?;
        let family_text = req
            .address_family
            .ok_or_else(|| ApiError::missing("AddressFamily"))?;
        let family = AddressFamily::parse(&family_text).ok_or_else(|| {
            ApiError::bad_param("AddressFamily", &family_text, "Valid values: IPv4, IPv6.")
        })?;
        if let Some(e) = bad_name(&name) {
            return Err(e);
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let mut entries: Vec<PrefixListEntry> = Vec::with_capacity(req.entries.len());
        for e in &req.entries {
            let e = entry(family, e)?;
            if entries.iter().any(|x| x.cidr == e.cidr) {
                return Err(ApiError::invalid_value(format!(
                    "The CIDR {} is given more than once.",
                    e.cidr
                )));
            }
            entries.push(e);
        }
        if entries.len() > max as usize {
            return Err(ApiError::invalid_value(format!(
                "The number of entries ({}) exceeds the maximum number of entries ({max}).",
                entries.len()
            )));
        }
        entries.sort_by_key(|e| e.cidr);
        let list = ManagedPrefixList {
            id: PrefixListId::new(),
            name,
            address_family: family,
            max_entries: max,
            state: PrefixListState::CreateComplete,
            state_message: None,
            version: 1,
            versions: vec![PrefixListVersion {
                version: 1,
                entries,
            }],
            owner_id: self.region.account.clone(),
            client_token: req.client_token.map(|t| t.as_str().to_owned()),
            tags: req.tags,
        };
        self.region.managed_prefix_lists.insert(list.clone());
        Ok(list)
    }

    /// The account's own list `id`, not deleted, to change.
    fn own_list(&self, id: &PrefixListId) -> Result<ManagedPrefixList, ApiError> {
        let list = self
            .region
            .prefix_list(id)
            .ok_or_else(|| Kind::PrefixList.not_found(id))?;
        if list.is_aws_managed() {
            return Err(ApiError::invalid_value(format!(
                "The prefix list {id} is managed by AWS and cannot be changed."
            )));
        }
        if list.is_deleted() {
            return Err(ApiError::new(
                ErrorCode::IncorrectState,
                format!(
                    "The prefix list {id} is in the incorrect state ({}).",
                    list.state
                ),
            ));
        }
        Ok(list)
    }

    fn check_version(list: &ManagedPrefixList, given: Option<i64>) -> Result<(), ApiError> {
        match given {
            // EC2's words (terraform-provider-aws#43528 quotes them): neither the list
            // nor its version is named
            Some(v) if u64::try_from(v).ok() != Some(list.version) => Err(ApiError::new(
                ErrorCode::PrefixListVersionMismatch,
                "The prefix list has the incorrect version number.",
            )),
            _ => Ok(()),
        }
    }

    /// Stores `entries` as the list's next version.
    fn push_version(list: &mut ManagedPrefixList, mut entries: Vec<PrefixListEntry>) {
        entries.sort_by_key(|e| e.cidr);
        list.version += 1;
        list.versions.push(PrefixListVersion {
            version: list.version,
            entries,
        });
        if list.versions.len() > MAX_VERSIONS {
            list.versions.remove(0);
        }
    }

    /// ModifyManagedPrefixList: a new name (same version), new entries (next version) or a
    /// new size; not entries and size at once.
    pub fn modify_managed_prefix_list(
        &mut self,
        req: ModifyManagedPrefixList,
    ) -> Result<ManagedPrefixList, ApiError> {
        let mut list = self.own_list(&req.id)?;
        Self::check_version(&list, req.current_version)?;
        let changes_entries = !req.add.is_empty() || !req.remove.is_empty();
        if changes_entries && req.max_entries.is_some() {
            return Err(ApiError::combination(
                "You cannot modify the entries of a prefix list and its maximum number of entries at the same time.",
            ));
        }
        if let Some(name) = &req.name {
            if let Some(e) = bad_name(name) {
                return Err(e);
            }
            list.name = name.clone();
        }
        if let Some(m) = req.max_entries {
            let m = max_entries(m)?;
            if (m as usize) < list.entries().len() {
                return Err(ApiError::invalid_value(format!(
                    "The maximum number of entries ({m}) cannot be less than the number of entries ({}) of the prefix list {}.",
                    list.entries().len(),
                    list.id
                )));
            }
            // every resource naming the list must take the new size within its quota
            let grown = m.saturating_sub(list.max_entries) as usize;
            if grown > 0 {
                let over = self.over_quota_if_grown(&list, grown);
                if !over.is_empty() {
                    list.state = PrefixListState::ModifyFailed;
                    list.state_message = Some(format!(
                        "The following resources do not support the new maximum number of entries ({m}): {}",
                        over.join(", ")
                    ));
                    self.region.managed_prefix_lists.insert(list.clone());
                    return Ok(list);
                }
            }
            list.max_entries = m;
        }
        if changes_entries {
            let mut entries = list.entries().to_vec();
            let mut removed = Vec::new();
            for text in &req.remove {
                let cidr = parse_cidr(list.address_family, text)?;
                let Some(i) = entries.iter().position(|e| e.cidr == cidr) else {
                    return Err(modification(format!(
                        "The CIDR {cidr} to remove is not an entry of the prefix list {}.",
                        list.id
                    )));
                };
                entries.remove(i);
                removed.push(cidr);
            }
            for e in &req.add {
                let e = entry(list.address_family, e)?;
                if removed.contains(&e.cidr) {
                    return Err(modification(format!(
                        "The CIDR {} cannot be both added and removed.",
                        e.cidr
                    )));
                }
                if entries.iter().any(|x| x.cidr == e.cidr) {
                    return Err(modification(format!(
                        "The CIDR {} is already an entry of the prefix list {}.",
                        e.cidr, list.id
                    )));
                }
                entries.push(e);
            }
            if entries.len() > list.max_entries as usize {
                return Err(too_many(&list.id, list.max_entries));
            }
            Self::push_version(&mut list, entries);
        }
        list.state = PrefixListState::ModifyComplete;
        list.state_message = None;
        self.region.managed_prefix_lists.insert(list.clone());
        Ok(list)
    }

    /// The first ten resources naming `list` whose quota (rules per group in that
    /// direction, routes per table) its growing by `grown` entries would exceed.
    fn over_quota_if_grown(&self, list: &ManagedPrefixList, grown: usize) -> Vec<String> {
        let v6 = list.address_family == AddressFamily::V6;
        let quotas = &self.config.quotas;
        let groups = self.region.security_groups.values().flat_map(|g| {
            [false, true].into_iter().filter_map(move |egress| {
                let uses = g.rules.iter().filter(|r| {
                    r.egress == egress
                        && matches!(&r.peer, RulePeer::PrefixList(p) if *p == list.id)
                });
                let added = uses.count() * grown;
                (added > 0
                    && self.region.rules_counted(g, egress, v6) + added
                        > quotas.rules_per_security_group)
                    .then(|| g.id.to_string())
            })
        });
        let tables = self.region.route_tables.values().filter_map(|t| {
            let uses = t.routes.iter().any(
                |r| matches!(&r.destination, RouteDestination::PrefixList(p) if *p == list.id),
            );
            (uses && self.region.routes_counted(t, v6) + grown > quotas.routes_per_table)
                .then(|| t.id.to_string())
        });
        let mut over: Vec<String> = groups.chain(tables).collect();
        over.dedup();
        over.truncate(10);
        over
    }

    /// RestoreManagedPrefixListVersion: the entries of an earlier version become the next.
    pub fn restore_managed_prefix_list_version(
        &mut self,
        id: &PrefixListId,
        previous: i64,
        current: i64,
    ) -> Result<ManagedPrefixList, ApiError> {
        let mut list = self.own_list(id)?;
        Self::check_version(&list, Some(current))?;
        let entries = u64::try_from(previous)
            .ok()
            .filter(|v| *v < list.version)
            .and_then(|v| list.entries_at(v))
            .ok_or_else(|| {
                ApiError::bad_param(
                    "PreviousVersion",
                    &previous.to_string(),
                    &format!("The prefix list {id} has no earlier version {previous}."),
                )
            })?
            .to_vec();
        if entries.len() > list.max_entries as usize {
            return Err(too_many(id, list.max_entries));
        }
        Self::push_version(&mut list, entries);
        list.state = PrefixListState::RestoreComplete;
        list.state_message = None;
        self.region.managed_prefix_lists.insert(list.clone());
        Ok(list)
    }

    /// DeleteManagedPrefixList: `delete-complete`, still described. As in EC2, where the
    /// delete runs after the answer, a list a route or a security group rule still names is
    /// not refused but ends `delete-failed` (with a state message), and stays usable.
    pub fn delete_managed_prefix_list(
        &mut self,
        id: &PrefixListId,
    ) -> Result<ManagedPrefixList, ApiError> {
        let mut list = self.own_list(id)?;
        let users = self.region.prefix_list_associations(id).len();
        if users > 0 {
            list.state = PrefixListState::DeleteFailed;
            list.state_message = Some(format!(
                "The prefix list {id} is referenced by {users} resource(s) and cannot be deleted."
            ));
            self.region.managed_prefix_lists.insert(list.clone());
            return Ok(list);
        }
        list.state = PrefixListState::DeleteComplete;
        list.state_message = None;
        self.region.managed_prefix_lists.insert(list.clone());
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_follow_the_family() {
        assert_eq!(
            parse_cidr(AddressFamily::V4, "10.0.0.7/24").unwrap(),
            "10.0.0.0/24".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_cidr(AddressFamily::V6, "2001:DB8::1/32").unwrap(),
            "2001:db8::/32".parse::<IpNet>().unwrap()
        );
        for (family, text) in [
            (AddressFamily::V4, "10.0.0.1"),
            (AddressFamily::V4, "2001:db8::/32"),
            (AddressFamily::V6, "10.0.0.0/8"),
            (AddressFamily::V4, "nonsense"),
        ] {
            assert_eq!(
                parse_cidr(family, text).unwrap_err().code,
                ErrorCode::InvalidParameterValue,
                "{text}"
            );
        }
    }

    #[test]
    fn names_and_sizes() {
        assert!(bad_name("mine").is_none());
        assert!(bad_name("").is_some());
        assert!(bad_name("com.amazonaws.mine").is_some());
        assert_eq!(max_entries(1).unwrap(), 1);
        assert_eq!(max_entries(1000).unwrap(), 1000);
        assert!(max_entries(0).is_err());
        assert!(max_entries(1001).is_err());
    }
}
