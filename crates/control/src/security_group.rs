//! Security groups: stateful allow rules per interface, referencing CIDRs or other groups.
//!
//! A request's permissions (`IpPermissions.N`, or the legacy flat form) are expanded into
//! one [`RuleSpec`] per CIDR, prefix list or group; each becomes its own stored rule
//! (`sgr-`). Two rules are the same when direction, protocol, ports and peer agree;
//! descriptions never take part.

use fort_model::cidr;
use fort_model::*;

use crate::network_acl::parse_ipv6_cidr;
use crate::tags::check_tags;
use crate::{Tx, within};

/// CreateSecurityGroup's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateSecurityGroup {
    pub group_name: Option<String>,
    pub description: Option<String>,
    pub vpc_id: Option<String>,
    pub tags: Tags,
}

/// A CIDR, prefix list or group of a permission, with its description.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerRequest {
    pub value: String,
    pub description: Option<String>,
}

/// `Groups.N` of a permission (the SDKs' `UserIdGroupPairs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPairRequest {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub user_id: Option<String>,
    pub vpc_id: Option<String>,
    pub peering_id: Option<String>,
    pub description: Option<String>,
}

/// One permission of a request, as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpPermission {
    pub protocol: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub ip_ranges: Vec<PeerRequest>,
    pub ipv6_ranges: Vec<PeerRequest>,
    pub prefix_lists: Vec<PeerRequest>,
    pub groups: Vec<GroupPairRequest>,
}

/// One rule a request asks for, normalised: what a stored rule is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub egress: bool,
    pub protocol: IpProtocol,
    pub from_port: i32,
    pub to_port: i32,
    pub peer: RulePeer,
    pub description: Option<String>,
}

impl RuleSpec {
    /// Whether `rule` is the rule this spec names (descriptions aside).
    pub fn matches(&self, rule: &SecurityGroupRule) -> bool {
        self.egress == rule.egress
            && self.protocol == rule.protocol
            && self.from_port == rule.from_port
            && self.to_port == rule.to_port
            && same_peer(&self.peer, &rule.peer)
    }

    fn same_as(&self, other: &RuleSpec) -> bool {
        self.egress == other.egress
            && self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && same_peer(&self.peer, &other.peer)
    }

    /// EC2's wording of a rule in its Duplicate/NotFound messages.
    pub fn describe(&self) -> String {
        let peer = match &self.peer {
            RulePeer::Cidr(c) => c.to_string(),
            RulePeer::Ipv6Cidr(c) => c.clone(),
            RulePeer::PrefixList(p) => p.clone(),
            RulePeer::Group { group_id, .. } => group_id.to_string(),
        };
        let proto = match self.protocol {
            IpProtocol::All => "ALL".to_owned(),
            p => p.security_group_text().to_ascii_uppercase(),
        };
        if self.protocol == IpProtocol::All {
            format!("peer: {peer}, {proto}, ALLOW")
        } else {
            format!(
                "peer: {peer}, {proto}, from port: {}, to port: {}, ALLOW",
                self.from_port, self.to_port
            )
        }
    }

    fn into_rule(self, tags: Tags) -> SecurityGroupRule {
        SecurityGroupRule {
            id: SecurityGroupRuleId::new(),
            egress: self.egress,
            protocol: self.protocol,
            from_port: self.from_port,
            to_port: self.to_port,
            peer: self.peer,
            description: self.description,
            tags,
        }
    }
}

/// Whether two peers are the same: a group is named by its id alone.
pub fn same_peer(a: &RulePeer, b: &RulePeer) -> bool {
    match (a, b) {
        (RulePeer::Group { group_id: x, .. }, RulePeer::Group { group_id: y, .. }) => x == y,
        _ => a == b,
    }
}

/// The port range a rule of `protocol` stores: TCP/UDP need one, ICMP takes type and code,
/// everything else matches all ports (`-1`, `-1`).
pub fn normalize_ports(
    protocol: IpProtocol,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(i32, i32), ApiError> {
    match protocol {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let (Some(from), Some(to)) = (from, to) else {
                return Err(ApiError::invalid_value(
                    "Invalid value for portRange. Must specify both from and to ports with TCP/UDP.",
                ));
            };
            let port = |p: i64| {
                within(p, 0..=65535).ok_or_else(|| {
                    ApiError::invalid_value(format!(
                        "Invalid value '{p}' for portRange. Ports must be in the range 0-65535."
                    ))
                })
            };
            let (from, to) = (port(from)?, port(to)?);
            if from > to {
                return Err(ApiError::invalid_value(format!(
                    "Invalid port range: from port {from} is greater than to port {to}."
                )));
            }
            Ok((from, to))
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let value = |v: i64| {
                within(v, -1..=255).ok_or_else(|| {
                    ApiError::invalid_value(format!(
                        "Invalid value '{v}' for ICMP type or code: must be -1 to 255."
                    ))
                })
            };
            let (t, c) = (value(from.unwrap_or(-1))?, value(to.unwrap_or(-1))?);
            if t == -1 && c != -1 {
                return Err(ApiError::invalid_value(format!(
                    "Invalid ICMP code {c} for ICMP type -1: the code must be -1 when the type is -1."
                )));
            }
            Ok((t, c))
        }
        _ => Ok((-1, -1)),
    }
}

/// EC2's allowed characters for VPC group names, group descriptions and rule descriptions.
fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// A rule description: at most 255 characters from EC2's set.
pub fn check_rule_description(d: &str) -> Result<(), ApiError> {
    if d.chars().count() > 255 || !d.chars().all(allowed_char) {
        return Err(ApiError::invalid_value(format!(
            "Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{{}}!$*: '{d}'"
        )));
    }
    Ok(())
}

/// A group name: trailing spaces trimmed, 1–255 characters, EC2's set, no `sg-` prefix.
pub fn check_group_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim_end_matches(' ');
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_param(
            "GroupName",
            name,
            "Group names must be between 1 and 255 characters.",
        ));
    }
    if !name.chars().all(allowed_char) {
        return Err(ApiError::bad_param(
            "GroupName",
            name,
            "Character sets beyond ASCII are not supported; allowed: a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*",
        ));
    }
    if name.to_ascii_lowercase().starts_with("sg-") {
        return Err(ApiError::bad_param(
            "GroupName",
            name,
            "Group names may not be in the format sg-*.",
        ));
    }
    if name == "default" {
        return Err(ApiError::new(
            ErrorCode::InvalidGroupReserved,
            "The security group 'default' is reserved",
        ));
    }
    Ok(name.to_owned())
}

/// A group description: 1–255 characters of EC2's set.
pub fn check_group_description(d: &str) -> Result<(), ApiError> {
    if d.is_empty() || d.chars().count() > 255 || !d.chars().all(allowed_char) {
        return Err(ApiError::bad_param(
            "GroupDescription",
            d,
            "Descriptions must be 1 to 255 characters from a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*",
        ));
    }
    Ok(())
}

fn description(d: &Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        None => Ok(None),
        Some(d) => {
            check_rule_description(d)?;
            Ok(if d.is_empty() { None } else { Some(d.clone()) })
        }
    }
}

/// Expands permissions into rules (one per peer), checking everything that needs no
/// lookups. Group peers are resolved by `resolve` (id or name → the stored peer).
pub fn expand(
    perms: &[IpPermission],
    egress: bool,
    mut resolve: impl FnMut(&GroupPairRequest) -> Result<RulePeer, ApiError>,
) -> Result<Vec<RuleSpec>, ApiError> {
    let mut out = Vec::new();
    for perm in perms {
        let protocol = IpProtocol::parse_security_group(perm.protocol.as_deref().ok_or_else(
            || {
                ApiError::invalid_value(
                    "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.",
                )
            },
        )?)?;
        let (from_port, to_port) = normalize_ports(protocol, perm.from_port, perm.to_port)?;
        let mut peers: Vec<(RulePeer, Option<String>)> = Vec::new();
        for r in &perm.ip_ranges {
            let net = cidr::parse(&r.value).ok_or_else(|| {
                ApiError::invalid_value(format!("CIDR block {} is malformed", r.value))
            })?;
            peers.push((RulePeer::Cidr(net), description(&r.description)?));
        }
        for r in &perm.ipv6_ranges {
            let net = parse_ipv6_cidr(&r.value).ok_or_else(|| {
                ApiError::invalid_value(format!("CIDR block {} is malformed", r.value))
            })?;
            peers.push((RulePeer::Ipv6Cidr(net), description(&r.description)?));
        }
        for r in &perm.prefix_lists {
            Kind::PrefixList.check(&r.value)?;
            peers.push((
                RulePeer::PrefixList(r.value.clone()),
                description(&r.description)?,
            ));
        }
        for g in &perm.groups {
            let d = description(&g.description)?;
            peers.push((resolve(g)?, d));
        }
        if peers.is_empty() {
            return Err(ApiError::new(
                ErrorCode::MissingParameter,
                "The request must contain a source or destination: IpRanges, Ipv6Ranges, PrefixListIds or Groups",
            ));
        }
        for (peer, description) in peers {
            out.push(RuleSpec {
                egress,
                protocol,
                from_port,
                to_port,
                peer,
                description,
            });
        }
    }
    for (i, a) in out.iter().enumerate() {
        if out[..i].iter().any(|b| b.same_as(a)) {
            return Err(ApiError::invalid_value(
                "The same permission must not appear multiple times",
            ));
        }
    }
    Ok(out)
}

/// ModifySecurityGroupRules' new definition of one rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleUpdate {
    /// As sent: parsed in its turn, once the group is found (errors in request order).
    pub rule_id: String,
    pub protocol: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub cidr_ipv4: Option<String>,
    pub cidr_ipv6: Option<String>,
    pub prefix_list_id: Option<String>,
    pub referenced_group_id: Option<String>,
    pub description: Option<String>,
}

impl RuleUpdate {
    fn as_permission(&self) -> Result<IpPermission, ApiError> {
        let given = [
            self.cidr_ipv4.is_some(),
            self.cidr_ipv6.is_some(),
            self.prefix_list_id.is_some(),
            self.referenced_group_id.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        match given {
            0 => {
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId",
                ));
            }
            1 => {}
            _ => {
                return Err(ApiError::combination(
                    "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified",
                ));
            }
        }
        let peer = |v: &Option<String>| {
            v.iter()
                .map(|v| PeerRequest {
                    value: v.clone(),
                    description: self.description.clone(),
                })
                .collect::<Vec<_>>()
        };
        Ok(IpPermission {
            protocol: self.protocol.clone(),
            from_port: self.from_port,
            to_port: self.to_port,
            ip_ranges: peer(&self.cidr_ipv4),
            ipv6_ranges: peer(&self.cidr_ipv6),
            prefix_lists: peer(&self.prefix_list_id),
            groups: self
                .referenced_group_id
                .iter()
                .map(|g| GroupPairRequest {
                    group_id: Some(g.clone()),
                    description: self.description.clone(),
                    ..Default::default()
                })
                .collect(),
        })
    }
}

/// What a revoke did: the rules removed and, in a default VPC, the permissions that
/// matched nothing.
#[derive(Clone, Debug, Default)]
pub struct Revoked {
    pub rules: Vec<SecurityGroupRule>,
    pub unknown: Vec<RuleSpec>,
}

impl Tx<'_> {
    /// The `default` group of a new VPC: all traffic in from its own members, all out.
    pub(crate) fn new_default_security_group(&mut self, vpc_id: &VpcId) -> SecurityGroupId {
        let id = SecurityGroupId::new();
        let rules = vec![
            SecurityGroupRule {
                id: SecurityGroupRuleId::new(),
                egress: false,
                protocol: IpProtocol::All,
                from_port: -1,
                to_port: -1,
                peer: RulePeer::Group {
                    group_id: id.clone(),
                    user_id: self.region.account.clone(),
                    vpc_id: None,
                    peering_id: None,
                },
                description: None,
                tags: Tags::new(),
            },
            default_egress_rule(RulePeer::Cidr(any_ipv4())),
        ];
        self.region.security_groups.insert(SecurityGroup {
            id: id.clone(),
            name: "default".into(),
            description: "default VPC security group".into(),
            vpc_id: vpc_id.clone(),
            rules,
            tags: Tags::new(),
        });
        id
    }

    /// A VPC that gains IPv6 lets its default group send to all IPv6 addresses too
    /// (unless a rule already does).
    pub(crate) fn allow_ipv6_egress_in_default_group(&mut self, id: &SecurityGroupId) {
        let Some(group) = self.region.security_groups.get_mut(id) else {
            return;
        };
        let peer = RulePeer::Ipv6Cidr(ANY_IPV6.into());
        if !group
            .rules
            .iter()
            .any(|r| r.egress && r.protocol == IpProtocol::All && r.peer == peer)
        {
            group.rules.push(default_egress_rule(peer));
        }
    }

    pub fn create_security_group(
        &mut self,
        req: CreateSecurityGroup,
    ) -> Result<SecurityGroup, ApiError> {
        let name = req
            .group_name
            .as_deref()
            .ok_or_else(|| ApiError::missing("GroupName"))?;
        // An empty description is no description.
        let description = req
            .description
            .filter(|d| !d.is_empty())
            .ok_or_else(|| ApiError::missing("GroupDescription"))?;
        let name = check_group_name(name)?;
        check_group_description(&description)?;
        let vpc_id = match &req.vpc_id {
            Some(id) => self.region.vpcs.find(Kind::Vpc, id)?.id.clone(),
            None => self
                .region
                .default_vpc()
                .map(|v| v.id.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::VpcIdNotSpecified,
                        "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
                    )
                })?,
        };
        if self
            .region
            .security_groups
            .values()
            .any(|g| g.vpc_id == vpc_id && g.name == name)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidGroupDuplicate,
                format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
            ));
        }
        check_tags(&req.tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.security_groups;
        if self.region.security_groups.len() >= quota {
            return Err(ApiError::new(
                ErrorCode::SecurityGroupLimitExceeded,
                format!("The maximum number of security groups has been reached ({quota})."),
            ));
        }
        // A VPC with an IPv6 block gives new groups an IPv6 egress rule too.
        let mut rules = vec![default_egress_rule(RulePeer::Cidr(any_ipv4()))];
        if self
            .region
            .vpcs
            .get(&vpc_id)
            .is_some_and(|v| v.ipv6_cidrs().next().is_some())
        {
            rules.push(default_egress_rule(RulePeer::Ipv6Cidr(ANY_IPV6.into())));
        }
        let group = SecurityGroup {
            id: SecurityGroupId::new(),
            name,
            description,
            vpc_id,
            rules,
            tags: req.tags,
        };
        self.region.security_groups.insert(group.clone());
        Ok(group)
    }

    /// The group a request names by `GroupId`, or by `GroupName` in the default VPC.
    pub fn resolve_group(
        &self,
        group_id: Option<&SecurityGroupId>,
        group_name: Option<&str>,
    ) -> Result<SecurityGroupId, ApiError> {
        if let Some(id) = group_id {
            return Ok(self.region.security_groups.lookup(id)?.id.clone());
        }
        let Some(name) = group_name else {
            return Err(ApiError::new(
                ErrorCode::MissingParameter,
                "The request must contain the parameter groupName or groupId",
            ));
        };
        let default_vpc = self.region.default_vpc();
        self.region
            .security_groups
            .values()
            .find(|g| {
                Some(g.vpc_id.as_str()) == default_vpc.map(|v| v.id.as_str()) && g.name == name
            })
            .map(|g| g.id.clone())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidGroupNotFound,
                    format!(
                        "The security group '{name}' does not exist in default VPC '{}'",
                        default_vpc.map_or("none", |v| v.id.as_str())
                    ),
                )
            })
    }

    pub fn delete_security_group(
        &mut self,
        group_id: Option<&SecurityGroupId>,
        group_name: Option<&str>,
    ) -> Result<SecurityGroupId, ApiError> {
        let id = self.resolve_group(group_id, group_name)?;
        let group = self.region.security_groups.get(&id).expect("resolved");
        if group.name == "default" {
            return Err(ApiError::new(
                ErrorCode::CannotDelete,
                format!(
                    "the specified group: \"{id}\" name: \"default\" cannot be deleted by a user"
                ),
            ));
        }
        let in_use = self
            .region
            .network_interfaces
            .values()
            .any(|e| e.security_groups.iter().any(|g| g == &id));
        let referenced = self.region.security_groups.values().any(|g| {
            g.id != id
                && g.rules
                    .iter()
                    .any(|r| matches!(&r.peer, RulePeer::Group { group_id, .. } if group_id == &id))
        });
        if in_use || referenced {
            return Err(ApiError::new(
                ErrorCode::DependencyViolation,
                format!("resource {id} has a dependent object"),
            ));
        }
        self.region.security_groups.remove(&id);
        Ok(id)
    }

    /// Expands permissions for group `group_id`, resolving and checking referenced groups.
    /// A referenced group is in the same VPC, or in a VPC of this region peered with it
    /// by an active connection (of this account or, named with its `UserId`, another):
    /// EC2 allows both, and the rule then names the peer's VPC and the connection.
    fn expand_for(
        &self,
        group_id: &SecurityGroupId,
        perms: &[IpPermission],
        egress: bool,
    ) -> Result<Vec<RuleSpec>, ApiError> {
        self.expand_for_with(group_id, perms, egress, false)
    }

    /// [`Tx::expand_for`]; `known_peers`: a group id the group's rules already name
    /// resolves to that rule's peer, reachable or not, so a stale rule (its peering gone)
    /// can still be revoked by its permission.
    fn expand_for_with(
        &self,
        group_id: &SecurityGroupId,
        perms: &[IpPermission],
        egress: bool,
        known_peers: bool,
    ) -> Result<Vec<RuleSpec>, ApiError> {
        let group = self.region.security_groups.get(group_id).expect("resolved");
        let vpc_id = group.vpc_id.clone();
        let account = self.region.account.clone();
        let groups = &self.region.security_groups;
        expand(perms, egress, |pair| {
            if known_peers
                && let Some(id) = &pair.group_id
                && let Some(peer) = group.rules.iter().find_map(|r| match &r.peer {
                    p @ RulePeer::Group { group_id, .. } if group_id.as_str() == id => Some(p),
                    _ => None,
                })
            {
                return Ok(peer.clone());
            }
            let owner = pair.user_id.clone().unwrap_or_else(|| account.clone());
            if owner != account {
                return self.peer_account_group(&vpc_id, &owner, pair);
            }
            let found = match (&pair.group_id, &pair.group_name) {
                (Some(id), _) => groups.find(Kind::SecurityGroup, referenced_group_id(id)?)?,
                (None, Some(name)) => groups
                    .values()
                    .find(|g| g.vpc_id == vpc_id && &g.name == name)
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidGroupNotFound,
                            format!("The security group '{name}' does not exist"),
                        )
                    })?,
                (None, None) => return Err(missing_group_reference()),
            };
            if found.vpc_id == vpc_id {
                return Ok(RulePeer::Group {
                    group_id: found.id.clone(),
                    user_id: account.clone(),
                    vpc_id: None,
                    peering_id: None,
                });
            }
            match self.active_peering(&vpc_id, &account, &found.vpc_id, pair) {
                Some(pcx) => Ok(RulePeer::Group {
                    group_id: found.id.clone(),
                    user_id: account.clone(),
                    vpc_id: Some(found.vpc_id.clone()),
                    peering_id: Some(pcx),
                }),
                None => Err(ApiError::new(
                    ErrorCode::InvalidGroupNotFound,
                    format!(
                        "You have specified two resources that belong to different networks: {} is not in {vpc_id}.",
                        found.id
                    ),
                )),
            }
        })
    }

    /// A group of another account named in a rule: found by id in that account's part of
    /// this region, in a VPC peered with `vpc_id` by an active connection.
    fn peer_account_group(
        &self,
        vpc_id: &VpcId,
        owner: &str,
        pair: &GroupPairRequest,
    ) -> Result<RulePeer, ApiError> {
        let not_found = || {
            ApiError::new(
                ErrorCode::InvalidGroupNotFound,
                format!(
                    "The security group '{}' does not exist for user '{owner}'",
                    pair.group_id
                        .as_deref()
                        .or(pair.group_name.as_deref())
                        .unwrap_or_default()
                ),
            )
        };
        let Some(id) = &pair.group_id else {
            // A name cannot reach across accounts: names are known only in their VPC.
            return match &pair.group_name {
                Some(_) => Err(not_found()),
                None => Err(missing_group_reference()),
            };
        };
        referenced_group_id(id)?;
        let found = self
            .others
            .get(&(owner.to_owned(), self.region.name.clone()))
            .and_then(|r| r.security_groups.get(id))
            .ok_or_else(not_found)?;
        let pcx = self
            .active_peering(vpc_id, owner, &found.vpc_id, pair)
            .ok_or_else(not_found)?;
        Ok(RulePeer::Group {
            group_id: found.id.clone(),
            user_id: owner.to_owned(),
            vpc_id: Some(found.vpc_id.clone()),
            peering_id: Some(pcx),
        })
    }

    /// The active connection between `vpc_id` (this account and region) and `peer_vpc`
    /// of `peer_owner` in this region; the one the pair names, if it names one.
    fn active_peering(
        &self,
        vpc_id: &VpcId,
        peer_owner: &str,
        peer_vpc: &VpcId,
        pair: &GroupPairRequest,
    ) -> Option<VpcPeeringConnectionId> {
        let here = &self.region.name;
        let side = |s: &PeeringVpcInfo, owner: &str, vpc: &VpcId| {
            s.owner_id == owner && &s.region == here && &s.vpc_id == vpc
        };
        self.global
            .peerings
            .values()
            .filter(|p| crate::peering::status(p, self.now) == PeeringStatus::Active)
            .filter(|p| {
                pair.peering_id
                    .as_deref()
                    .is_none_or(|named| p.id.as_str() == named)
            })
            .find(|p| {
                (side(&p.requester, &self.region.account, vpc_id)
                    && side(&p.accepter, peer_owner, peer_vpc))
                    || (side(&p.accepter, &self.region.account, vpc_id)
                        && side(&p.requester, peer_owner, peer_vpc))
            })
            .map(|p| p.id.clone())
    }

    /// AuthorizeSecurityGroupIngress / Egress: every peer becomes a rule; answers the new
    /// rules.
    pub fn authorize_security_group(
        &mut self,
        group_id: &SecurityGroupId,
        egress: bool,
        perms: &[IpPermission],
        rule_tags: Tags,
    ) -> Result<Vec<SecurityGroupRule>, ApiError> {
        self.region.security_groups.lookup(group_id)?;
        if perms.is_empty() {
            return Err(ApiError::missing("IpPermissions"));
        }
        let specs = self.expand_for(group_id, perms, egress)?;
        for spec in &specs {
            if let RulePeer::PrefixList(pl) = &spec.peer {
                self.region.usable_prefix_list(pl)?;
            }
        }
        check_tags(&rule_tags, self.config.quotas.tags_per_resource)?;
        let limit = self.config.quotas.rules_per_security_group;
        let group = self.region.security_groups.get(group_id).expect("found");
        for spec in &specs {
            if group.rules.iter().any(|r| spec.matches(r)) {
                return Err(ApiError::new(
                    ErrorCode::InvalidPermissionDuplicate,
                    format!("the specified rule \"{}\" already exists", spec.describe()),
                ));
            }
        }
        // a rule naming a prefix list counts as its maximum entries
        for v6 in [false, true] {
            let existing = self.region.rules_counted(group, egress, v6);
            let added: usize = specs
                .iter()
                .map(|s| match &s.peer {
                    RulePeer::PrefixList(pl) => self.region.prefix_list_weight(pl),
                    peer => (matches!(peer, RulePeer::Ipv6Cidr(_)), 1),
                })
                .filter(|(family, _)| *family == v6)
                .map(|(_, n)| n)
                .sum();
            if added > 0 && existing + added > limit {
                return Err(ApiError::new(
                    ErrorCode::RulesPerSecurityGroupLimitExceeded,
                    format!(
                        "The maximum number of rules per security group has been reached ({limit})."
                    ),
                ));
            }
        }
        let rules: Vec<SecurityGroupRule> = specs
            .into_iter()
            .map(|s| s.into_rule(rule_tags.clone()))
            .collect();
        let group = self
            .region
            .security_groups
            .get_mut(group_id)
            .expect("found");
        group.rules.extend(rules.iter().cloned());
        Ok(rules)
    }

    /// RevokeSecurityGroupIngress / Egress, by permissions or by rule ids. The rule ids
    /// are text until their turn: the group's error comes first, then each id's in order.
    pub fn revoke_security_group(
        &mut self,
        group_id: &SecurityGroupId,
        egress: bool,
        perms: &[IpPermission],
        rule_ids: &[String],
    ) -> Result<Revoked, ApiError> {
        let group = self.region.security_groups.lookup(group_id)?;
        let in_default_vpc = self
            .region
            .vpcs
            .get(&group.vpc_id)
            .is_some_and(|v| v.is_default);
        let mut revoked = Revoked::default();
        let mut remove: Vec<SecurityGroupRuleId> = Vec::new();
        match (perms.is_empty(), rule_ids.is_empty()) {
            (false, false) => {
                return Err(ApiError::combination(
                    "Only one of IpPermissions or SecurityGroupRuleIds may be specified.",
                ));
            }
            (true, true) => return Err(ApiError::missing("IpPermissions")),
            (true, false) => {
                for id in rule_ids {
                    let id = SecurityGroupRuleId::parse(id)?;
                    let rule = group
                        .rules
                        .iter()
                        .find(|r| r.id == id && r.egress == egress)
                        .ok_or_else(|| Kind::SecurityGroupRule.not_found(&id))?;
                    if !remove.contains(&id) {
                        remove.push(id);
                        revoked.rules.push(rule.clone());
                    }
                }
            }
            (false, true) => {
                let specs = self.expand_for_with(group_id, perms, egress, true)?;
                let group = self.region.security_groups.get(group_id).expect("found");
                for spec in specs {
                    match group.rules.iter().find(|r| spec.matches(r)) {
                        Some(rule) => {
                            remove.push(rule.id.clone());
                            revoked.rules.push(rule.clone());
                        }
                        None if in_default_vpc => revoked.unknown.push(spec),
                        None => {
                            return Err(ApiError::new(
                                ErrorCode::InvalidPermissionNotFound,
                                format!(
                                    "The specified rule does not exist in this security group: \"{}\"",
                                    spec.describe()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if !remove.is_empty() {
            let group = self
                .region
                .security_groups
                .get_mut(group_id)
                .expect("found");
            group.rules.retain(|r| !remove.contains(&r.id));
        }
        Ok(revoked)
    }

    /// ModifySecurityGroupRules: redefines rules in place (ids, directions and tags kept).
    pub fn modify_security_group_rules(
        &mut self,
        group_id: &SecurityGroupId,
        updates: &[RuleUpdate],
    ) -> Result<(), ApiError> {
        let group = self.region.security_groups.lookup(group_id)?.clone();
        if updates.is_empty() {
            return Err(ApiError::missing("SecurityGroupRule"));
        }
        let mut rules = group.rules.clone();
        for u in updates {
            let rule_id = SecurityGroupRuleId::parse(&u.rule_id)?;
            let pos = rules
                .iter()
                .position(|r| r.id == rule_id)
                .ok_or_else(|| Kind::SecurityGroupRule.not_found(&rule_id))?;
            let egress = rules[pos].egress;
            let specs = self.expand_for(group_id, &[u.as_permission()?], egress)?;
            let [spec] = &specs[..] else {
                return Err(ApiError::invalid_value(
                    "Each rule needs exactly one of CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupId.",
                ));
            };
            if rules
                .iter()
                .enumerate()
                .any(|(i, r)| i != pos && spec.matches(r))
            {
                return Err(ApiError::new(
                    ErrorCode::InvalidPermissionDuplicate,
                    format!("the specified rule \"{}\" already exists", spec.describe()),
                ));
            }
            let r = &mut rules[pos];
            r.protocol = spec.protocol;
            r.from_port = spec.from_port;
            r.to_port = spec.to_port;
            r.peer = spec.peer.clone();
            r.description = spec.description.clone();
        }
        self.region
            .security_groups
            .get_mut(group_id)
            .expect("found")
            .rules = rules;
        Ok(())
    }

    /// UpdateSecurityGroupRuleDescriptionsIngress / Egress: by permissions (each must
    /// match a rule) or by rule ids.
    pub fn update_rule_descriptions(
        &mut self,
        group_id: &SecurityGroupId,
        egress: bool,
        perms: &[IpPermission],
        by_id: &[(String, Option<String>)],
    ) -> Result<(), ApiError> {
        let group = self.region.security_groups.lookup(group_id)?;
        let mut rules = group.rules.clone();
        if perms.is_empty() && by_id.is_empty() {
            return Err(ApiError::missing("IpPermissions"));
        }
        for (id, d) in by_id {
            let id = SecurityGroupRuleId::parse(id)?;
            let d = description(d)?;
            let r = rules
                .iter_mut()
                .find(|r| r.id == id && r.egress == egress)
                .ok_or_else(|| Kind::SecurityGroupRule.not_found(&id))?;
            r.description = d;
        }
        if !perms.is_empty() {
            for spec in self.expand_for(group_id, perms, egress)? {
                let r = rules.iter_mut().find(|r| spec.matches(r)).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidPermissionNotFound,
                        format!(
                            "The specified rule does not exist in this security group: \"{}\"",
                            spec.describe()
                        ),
                    )
                })?;
                r.description = spec.description.clone();
            }
        }
        self.region
            .security_groups
            .get_mut(group_id)
            .expect("found")
            .rules = rules;
        Ok(())
    }
}

/// All IPv4 addresses.
pub(crate) fn any_ipv4() -> ipnet::Ipv4Net {
    "0.0.0.0/0".parse().expect("literal")
}

/// All IPv6 addresses, as a rule's peer.
pub(crate) const ANY_IPV6: &str = "::/0";

/// An egress rule new groups start with: all protocols to `peer` (0.0.0.0/0, and ::/0 in
/// a VPC with IPv6).
pub(crate) fn default_egress_rule(peer: RulePeer) -> SecurityGroupRule {
    SecurityGroupRule {
        id: SecurityGroupRuleId::new(),
        egress: true,
        protocol: IpProtocol::All,
        from_port: -1,
        to_port: -1,
        peer,
        description: None,
        tags: Tags::new(),
    }
}

/// Whether a rule is stale (DescribeStaleSecurityGroups): it names a group across a
/// peering connection that is no longer active, or a group of this account that is gone.
pub fn is_stale(region: &crate::Region, global: &crate::Global, rule: &SecurityGroupRule) -> bool {
    let RulePeer::Group {
        group_id,
        user_id,
        peering_id: Some(pcx),
        ..
    } = &rule.peer
    else {
        return false;
    };
    let peering_active = global
        .peerings
        .get(pcx)
        .is_some_and(|p| crate::peering::status(p, crate::now_millis()) == PeeringStatus::Active);
    let gone = user_id == &region.account && region.security_groups.get(group_id).is_none();
    !peering_active || gone
}

/// A group a rule references by id: unlike the ids of DeleteSecurityGroup or
/// DescribeSecurityGroups, whose prefix alone is checked, EC2 wants `sg-` and hexadecimal
/// digits here (`sg-malformed` is InvalidGroupId.Malformed, as the provider's acceptance
/// test TestAccVPCSecurityGroup_rulesDropOnError expects).
fn referenced_group_id(id: &str) -> Result<&str, ApiError> {
    let hex = id
        .strip_prefix("sg-")
        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex {
        Ok(id)
    } else {
        Err(Kind::SecurityGroup.malformed(id))
    }
}

fn missing_group_reference() -> ApiError {
    ApiError::new(
        ErrorCode::MissingParameter,
        "The request must contain the parameter groupId or groupName of each referenced group",
    )
}

/// DescribeSecurityGroupReferences: for each group of `ids` (of this account and region),
/// the VPCs on the other side of an active peering connection whose security groups name it
/// in a rule: (group, referencing VPC, peering connection), each once. Peered group
/// references stay within a region, so only this region's accounts are looked at.
pub fn references(
    view: &crate::View<'_>,
    ids: &[String],
) -> Result<Vec<(SecurityGroupId, VpcId, VpcPeeringConnectionId)>, ApiError> {
    let region = view.region;
    let now = crate::now_millis();
    let mut out = Vec::new();
    for id in ids {
        let group = region.security_groups.find(Kind::SecurityGroup, id)?;
        for ((_, name), other) in view.regions {
            if *name != region.name {
                continue;
            }
            for referrer in other.security_groups.values() {
                for rule in &referrer.rules {
                    let RulePeer::Group {
                        group_id,
                        user_id,
                        peering_id: Some(pcx),
                        ..
                    } = &rule.peer
                    else {
                        continue;
                    };
                    let active =
                        view.global.peerings.get(pcx.as_str()).is_some_and(|p| {
                            crate::peering::status(p, now) == PeeringStatus::Active
                        });
                    let item = (group.id.clone(), referrer.vpc_id.clone(), pcx.clone());
                    if *group_id == group.id
                        && *user_id == region.account
                        && referrer.vpc_id != group.vpc_id
                        && active
                        && !out.contains(&item)
                    {
                        out.push(item);
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(protocol: &str, from: Option<i64>, to: Option<i64>, cidrs: &[&str]) -> IpPermission {
        IpPermission {
            protocol: Some(protocol.into()),
            from_port: from,
            to_port: to,
            ip_ranges: cidrs
                .iter()
                .map(|c| PeerRequest {
                    value: (*c).into(),
                    description: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn no_groups(_: &GroupPairRequest) -> Result<RulePeer, ApiError> {
        Err(ApiError::new(ErrorCode::InvalidGroupNotFound, "none"))
    }

    #[test]
    fn protocols_are_normalised() {
        let normalize_protocol = IpProtocol::parse_security_group;
        assert_eq!(normalize_protocol("TCP").unwrap(), IpProtocol::Tcp);
        assert_eq!(normalize_protocol("6").unwrap(), IpProtocol::Tcp);
        assert_eq!(normalize_protocol("17").unwrap(), IpProtocol::Udp);
        assert_eq!(normalize_protocol("58").unwrap(), IpProtocol::Icmpv6);
        assert_eq!(normalize_protocol("-1").unwrap(), IpProtocol::All);
        assert_eq!(normalize_protocol("50").unwrap(), IpProtocol::Other(50));
        assert_eq!(
            normalize_protocol("50").unwrap().security_group_text(),
            "50"
        );
        assert_eq!(
            normalize_protocol("6").unwrap().security_group_text(),
            "tcp"
        );
        for bad in ["256", "-2", "tcpx", ""] {
            assert_eq!(
                normalize_protocol(bad).unwrap_err().code,
                "InvalidParameterValue",
                "{bad}"
            );
        }
    }

    #[test]
    fn ports_follow_the_protocol() {
        assert_eq!(
            normalize_ports(IpProtocol::Tcp, Some(22), Some(22)).unwrap(),
            (22, 22)
        );
        assert!(normalize_ports(IpProtocol::Tcp, None, Some(22)).is_err());
        assert!(normalize_ports(IpProtocol::Udp, Some(10), Some(5)).is_err());
        assert!(normalize_ports(IpProtocol::Tcp, Some(-1), Some(-1)).is_err());
        assert!(normalize_ports(IpProtocol::Tcp, Some(0), Some(65536)).is_err());
        assert_eq!(
            normalize_ports(IpProtocol::All, Some(1), Some(2)).unwrap(),
            (-1, -1)
        );
        assert_eq!(
            normalize_ports(IpProtocol::Other(50), None, None).unwrap(),
            (-1, -1)
        );
        assert_eq!(
            normalize_ports(IpProtocol::Icmp, Some(8), Some(0)).unwrap(),
            (8, 0)
        );
        assert_eq!(
            normalize_ports(IpProtocol::Icmp, None, None).unwrap(),
            (-1, -1)
        );
        assert!(normalize_ports(IpProtocol::Icmp, Some(-1), Some(3)).is_err());
        assert!(normalize_ports(IpProtocol::Icmp, Some(256), Some(0)).is_err());
    }

    #[test]
    fn every_cidr_is_a_rule_and_duplicates_are_refused() {
        let specs = expand(
            &[perm(
                "tcp",
                Some(22),
                Some(22),
                &["10.0.0.0/8", "192.168.0.0/16"],
            )],
            false,
            no_groups,
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        let dup = expand(
            &[
                perm("tcp", Some(22), Some(22), &["10.0.0.0/8"]),
                perm("6", Some(22), Some(22), &["10.0.0.0/8"]),
            ],
            false,
            no_groups,
        )
        .unwrap_err();
        assert_eq!(dup.code, "InvalidParameterValue");
        assert_eq!(
            expand(
                &[perm("tcp", Some(1), Some(2), &["10.0.0.0/33"])],
                false,
                no_groups
            )
            .unwrap_err()
            .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            expand(&[perm("tcp", Some(1), Some(2), &[])], false, no_groups)
                .unwrap_err()
                .code,
            "MissingParameter"
        );
    }

    #[test]
    fn rule_equality_ignores_descriptions_and_group_owner() {
        let spec = RuleSpec {
            egress: false,
            protocol: IpProtocol::Tcp,
            from_port: 80,
            to_port: 80,
            peer: RulePeer::Group {
                group_id: SecurityGroupId::parse("sg-12345678").unwrap(),
                user_id: "1".into(),
                vpc_id: None,
                peering_id: None,
            },
            description: Some("web".into()),
        };
        let mut rule = spec.clone().into_rule(Tags::new());
        rule.description = None;
        rule.peer = RulePeer::Group {
            group_id: SecurityGroupId::parse("sg-12345678").unwrap(),
            user_id: "2".into(),
            vpc_id: Some(VpcId::parse("vpc-12345678").unwrap()),
            peering_id: None,
        };
        assert!(spec.matches(&rule));
        rule.egress = true;
        assert!(!spec.matches(&rule));
        rule.egress = false;
        rule.to_port = 81;
        assert!(!spec.matches(&rule));
        let cidr = RuleSpec {
            peer: RulePeer::Cidr("10.0.0.0/8".parse().unwrap()),
            ..spec.clone()
        };
        assert!(!cidr.matches(&spec.clone().into_rule(Tags::new())));
        assert_eq!(
            RuleSpec {
                peer: RulePeer::Cidr("0.0.0.0/0".parse().unwrap()),
                ..spec
            }
            .describe(),
            "peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW"
        );
    }

    #[test]
    fn names_and_descriptions() {
        assert_eq!(check_group_name("web  ").unwrap(), "web");
        assert_eq!(
            check_group_name("default").unwrap_err().code,
            "InvalidGroup.Reserved"
        );
        assert_eq!(
            check_group_name("sg-web").unwrap_err().code,
            "InvalidParameterValue"
        );
        assert!(check_group_name(&"a".repeat(256)).is_err());
        assert!(check_group_name(&"a".repeat(255)).is_ok());
        assert!(check_group_name("caf\u{e9}").is_err());
        assert!(check_group_name("a<b").is_err());
        assert!(check_group_description("web servers (prod) #1").is_ok());
        assert!(check_group_description("bad\ttab").is_err());
        assert!(check_group_description("").is_err());
        assert!(check_rule_description(&"x".repeat(256)).is_err());
    }
}
