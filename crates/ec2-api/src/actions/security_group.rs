//! Security group actions: groups, their rules (as permissions and as `sgr-` rules).

use fort_control::security_group::{
    CreateSecurityGroup, GroupPairRequest, IpPermission, PeerRequest, RuleSpec, RuleUpdate,
};
use fort_control::{Global, Region};
use fort_model::{
    ApiError, ErrorCode, IpProtocol, Kind, RulePeer, SecurityGroup, SecurityGroupId,
    SecurityGroupRule,
};

use super::{Ctx, Describe, b, next_token};
use crate::filter::{Filters, paginate};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateSecurityGroup,
    DeleteSecurityGroup,
    AuthorizeSecurityGroupIngress,
    AuthorizeSecurityGroupEgress,
    RevokeSecurityGroupIngress,
    RevokeSecurityGroupEgress,
    DescribeSecurityGroups,
    DescribeSecurityGroupRules,
    ModifySecurityGroupRules,
    UpdateSecurityGroupRuleDescriptionsIngress,
    UpdateSecurityGroupRuleDescriptionsEgress,
    GetSecurityGroupsForVpc,
    DescribeStaleSecurityGroups,
    DescribeSecurityGroupReferences,
);

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateSecurityGroup => {
            let req = CreateSecurityGroup {
                group_name: p.opt_str("GroupName"),
                description: p.opt_str("GroupDescription"),
                vpc_id: p.opt_str("VpcId"),
                tags: ctx.tag_specs(&["security-group"])?,
            };
            let g = ctx.write(|tx| tx.create_security_group(req)).await?;
            let mut w = Xml::new();
            w.leaf("return", "true")
                .leaf("groupId", &g.id)
                .tags(&g.tags)
                .leaf("securityGroupArn", group_arn(ctx, &g.id));
            Ok(w)
        }
        Action::DeleteSecurityGroup => {
            let id = p.get("GroupId").map(SecurityGroupId::parse).transpose()?;
            let name = p.get("GroupName");
            let deleted = ctx
                .write(|tx| tx.delete_security_group(id.as_ref(), name))
                .await?;
            let mut w = Xml::new();
            w.leaf("return", "true").leaf("groupId", deleted);
            Ok(w)
        }
        Action::AuthorizeSecurityGroupIngress | Action::AuthorizeSecurityGroupEgress => {
            let egress = action == Action::AuthorizeSecurityGroupEgress;
            let perms = permissions(p)?;
            let tags = ctx.tag_specs(&["security-group-rule"])?;
            let id = p.get("GroupId");
            let name = if egress { None } else { p.get("GroupName") };
            if egress && id.is_none() {
                return Err(ApiError::missing("GroupId"));
            }
            let id = id.map(SecurityGroupId::parse).transpose()?;
            let (group_id, rules) = ctx
                .write(|tx| {
                    let gid = tx.resolve_group(id.as_ref(), name)?;
                    let rules = tx.authorize_security_group(&gid, egress, &perms, tags)?;
                    Ok((gid, rules))
                })
                .await?;
            let mut w = Xml::new();
            w.leaf("return", "true")
                .set("securityGroupRuleSet", &rules, |w, r| {
                    render_rule(w, ctx, &group_id, r)
                });
            Ok(w)
        }
        Action::RevokeSecurityGroupIngress | Action::RevokeSecurityGroupEgress => {
            let egress = action == Action::RevokeSecurityGroupEgress;
            let perms = permissions(p)?;
            let rule_ids = p.strings("SecurityGroupRuleId")?;
            let id = p.get("GroupId");
            let name = if egress { None } else { p.get("GroupName") };
            if egress && id.is_none() {
                return Err(ApiError::missing("GroupId"));
            }
            let id = id.map(SecurityGroupId::parse).transpose()?;
            let (group_id, revoked) = ctx
                .write(|tx| {
                    let gid = tx.resolve_group(id.as_ref(), name)?;
                    let revoked = tx.revoke_security_group(&gid, egress, &perms, &rule_ids)?;
                    Ok((gid, revoked))
                })
                .await?;
            let mut w = Xml::new();
            w.leaf("return", "true");
            if !revoked.unknown.is_empty() {
                w.set("unknownIpPermissionSet", &revoked.unknown, |w, s| {
                    render_unknown(w, s)
                });
            }
            w.set("revokedSecurityGroupRuleSet", &revoked.rules, |w, r| {
                w.leaf("securityGroupRuleId", &r.id)
                    .leaf("groupId", &group_id)
                    .leaf("isEgress", b(r.egress))
                    .leaf("ipProtocol", r.protocol)
                    .leaf("fromPort", r.from_port)
                    .leaf("toPort", r.to_port);
                match &r.peer {
                    RulePeer::Cidr(c) => w.leaf("cidrIpv4", c),
                    RulePeer::Ipv6Cidr(c) => w.leaf("cidrIpv6", c),
                    RulePeer::PrefixList(pl) => w.leaf("prefixListId", pl),
                    RulePeer::Group { group_id, .. } => w.leaf("referencedGroupId", group_id),
                };
                w.opt("description", r.description.as_deref());
            });
            Ok(w)
        }
        Action::DescribeSecurityGroups => {
            let d = Describe {
                ids_param: "GroupId",
                kind: Kind::SecurityGroup,
                filters: FILTERS,
                page: Some((5, 1000)),
            };
            let names = p.strings("GroupName")?;
            ctx.read(|v| {
                let region = v.region;
                let rows: Vec<&SecurityGroup> = match region.default_vpc_groups_named(&names)? {
                    Some(named) => named,
                    None => region.security_groups.values().collect(),
                };
                let page = d.run(
                    p,
                    rows.into_iter(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| field(region, x, n),
                )?;
                let mut w = Xml::new();
                w.set("securityGroupInfo", page.items, |w, g| {
                    render_group(w, ctx, region, v.global, g)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeSecurityGroupReferences => {
            let ids = p.strings("GroupId")?;
            if ids.is_empty() {
                return Err(ApiError::missing("GroupId"));
            }
            let refs = ctx
                .read(|v| fort_control::security_group::references(v, &ids))
                .await??;
            let mut w = Xml::new();
            w.set(
                "securityGroupReferenceSet",
                refs.iter(),
                |w, (group, vpc, pcx)| {
                    w.leaf("groupId", group)
                        .leaf("referencingVpcId", vpc)
                        .leaf("vpcPeeringConnectionId", pcx);
                },
            );
            Ok(w)
        }
        Action::DescribeStaleSecurityGroups => {
            let vpc_id = p.req("VpcId")?.to_owned();
            ctx.read(|v| {
                let region = v.region;
                let vpc = region.vpcs.find(Kind::Vpc, &vpc_id)?;
                let stale: Vec<&SecurityGroup> = region
                    .security_groups
                    .values()
                    .filter(|g| g.vpc_id == vpc.id)
                    .filter(|g| {
                        g.rules
                            .iter()
                            .any(|r| fort_control::security_group::is_stale(region, v.global, r))
                    })
                    .collect();
                let page = paginate(stale, |g| g.id.to_string(), p, (5, 255))?;
                let mut w = Xml::new();
                w.set("staleSecurityGroupSet", page.items, |w, g| {
                    w.leaf("description", &g.description)
                        .leaf("groupId", &g.id)
                        .leaf("groupName", &g.name);
                    for (set, egress) in [
                        ("staleIpPermissions", false),
                        ("staleIpPermissionsEgress", true),
                    ] {
                        let rules: Vec<&SecurityGroupRule> = g
                            .rules
                            .iter()
                            .filter(|r| r.egress == egress)
                            .filter(|r| fort_control::security_group::is_stale(region, v.global, r))
                            .collect();
                        render_permissions(w, set, &rules, Some(v.global), true);
                    }
                    w.leaf("vpcId", &g.vpc_id);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::GetSecurityGroupsForVpc => {
            const VPC_FILTERS: &[&str] = &[
                "description",
                "group-id",
                "group-name",
                "owner-id",
                "primary-vpc-id",
            ];
            // The request names no groups: `GroupId` is no member of its shape.
            let d = Describe {
                ids_param: "GroupId",
                kind: Kind::SecurityGroup,
                filters: VPC_FILTERS,
                page: Some((5, 1000)),
            };
            let vpc_id = p.req("VpcId")?.to_owned();
            ctx.read(|v| {
                let region = v.region;
                let vpc = region.vpcs.find(Kind::Vpc, &vpc_id)?;
                // The groups an interface in the VPC may use: Fort's groups each belong
                // to one VPC (no cross-VPC group associations).
                let rows = region
                    .security_groups
                    .values()
                    .filter(|g| g.vpc_id == vpc.id);
                let page = d.run(
                    p,
                    rows,
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| match n {
                        "primary-vpc-id" => vec![x.vpc_id.to_string()],
                        _ => field(region, x, n),
                    },
                )?;
                let mut w = Xml::new();
                w.set("securityGroupForVpcSet", page.items, |w, g| {
                    w.leaf("description", &g.description)
                        .leaf("groupName", &g.name)
                        .leaf("ownerId", &region.account)
                        .leaf("groupId", &g.id)
                        .tag_set(&g.tags)
                        .leaf("primaryVpcId", &g.vpc_id);
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::DescribeSecurityGroupRules => {
            const RULE_FILTERS: &[&str] = &["group-id", "security-group-rule-id"];
            let d = Describe {
                ids_param: "SecurityGroupRuleId",
                kind: Kind::SecurityGroupRule,
                filters: RULE_FILTERS,
                page: None,
            };
            // A group id that is not one (wildcards aside) is refused, not just unmatched.
            for g in Filters::parse(p, RULE_FILTERS)?.values("group-id") {
                if !g.contains(['*', '?']) && !Kind::SecurityGroup.matches(g) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidGroupIdMalformed,
                        format!("The security group ID '{g}' is malformed"),
                    ));
                }
            }
            ctx.read(|v| {
                // Groups in id order, each group's rules in the order they were added.
                let rows: Vec<(&SecurityGroup, usize, &SecurityGroupRule)> = v
                    .region
                    .security_groups
                    .values()
                    .flat_map(|g| g.rules.iter().enumerate().map(move |(n, r)| (g, n, r)))
                    .collect();
                let selected = d.run(
                    p,
                    rows.iter(),
                    |x| &x.2.id,
                    |x| &x.2.tags,
                    |x, n| match n {
                        "group-id" => vec![x.0.id.to_string()],
                        "security-group-rule-id" => vec![x.2.id.to_string()],
                        _ => vec![],
                    },
                )?;
                let page = paginate(
                    selected.items,
                    |(g, n, _)| format!("{}/{n:05}", g.id),
                    p,
                    (5, 1000),
                )?;
                let mut w = Xml::new();
                w.set("securityGroupRuleSet", page.items, |w, (g, _, r)| {
                    render_rule(w, ctx, &g.id, r)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::ModifySecurityGroupRules => {
            let group_id = p.req("GroupId")?;
            let mut updates = Vec::new();
            for item in p.list("SecurityGroupRule")? {
                let r = item.child("SecurityGroupRule");
                if !r.is_present() {
                    return Err(ApiError::missing("SecurityGroupRule.N.SecurityGroupRule"));
                }
                updates.push(RuleUpdate {
                    rule_id: item.req("SecurityGroupRuleId")?.to_owned(),
                    protocol: r.opt_str("IpProtocol"),
                    from_port: r.int("FromPort")?,
                    to_port: r.int("ToPort")?,
                    cidr_ipv4: r.opt_str("CidrIpv4"),
                    cidr_ipv6: r.opt_str("CidrIpv6"),
                    prefix_list_id: r.opt_str("PrefixListId"),
                    referenced_group_id: r.opt_str("ReferencedGroupId"),
                    description: r.opt_str("Description"),
                });
            }
            let group_id = SecurityGroupId::parse(group_id)?;
            ctx.write(|tx| tx.modify_security_group_rules(&group_id, &updates))
                .await?;
            let mut w = Xml::new();
            w.leaf("return", "true");
            Ok(w)
        }
        Action::UpdateSecurityGroupRuleDescriptionsIngress
        | Action::UpdateSecurityGroupRuleDescriptionsEgress => {
            let egress = action == Action::UpdateSecurityGroupRuleDescriptionsEgress;
            let perms = permissions(p)?;
            let by_id = p
                .list("SecurityGroupRuleDescription")?
                .into_iter()
                .map(|i| {
                    Ok((
                        i.req("SecurityGroupRuleId")?.to_owned(),
                        Some(i.get("Description").unwrap_or("").to_owned()),
                    ))
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            let id = p.get("GroupId").map(SecurityGroupId::parse).transpose()?;
            let name = p.get("GroupName");
            ctx.write(|tx| {
                let gid = tx.resolve_group(id.as_ref(), name)?;
                tx.update_rule_descriptions(&gid, egress, &perms, &by_id)
            })
            .await?;
            let mut w = Xml::new();
            w.leaf("return", "true");
            Ok(w)
        }
    }
}

/// `IpPermissions.N`, or the legacy flat form (`IpProtocol`, `FromPort`, `ToPort`,
/// `CidrIp`, `SourceSecurityGroupName`, `SourceSecurityGroupOwnerId`).
fn permissions(p: &Params) -> Result<Vec<IpPermission>, ApiError> {
    let mut out = Vec::new();
    for item in p.list("IpPermissions")? {
        let peers = |list: &str, key: &str| -> Result<Vec<PeerRequest>, ApiError> {
            item.list(list)?
                .into_iter()
                .map(|r| {
                    Ok(PeerRequest {
                        value: r.req(key)?.to_owned(),
                        description: r.opt_str("Description"),
                    })
                })
                .collect()
        };
        out.push(IpPermission {
            protocol: item.opt_str("IpProtocol"),
            from_port: item.int("FromPort")?,
            to_port: item.int("ToPort")?,
            ip_ranges: peers("IpRanges", "CidrIp")?,
            ipv6_ranges: peers("Ipv6Ranges", "CidrIpv6")?,
            prefix_lists: peers("PrefixListIds", "PrefixListId")?,
            groups: item
                .list("Groups")?
                .into_iter()
                .map(|g| GroupPairRequest {
                    group_id: g.opt_str("GroupId"),
                    group_name: g.opt_str("GroupName"),
                    user_id: g.opt_str("UserId"),
                    vpc_id: g.opt_str("VpcId"),
                    peering_id: g.opt_str("VpcPeeringConnectionId"),
                    description: g.opt_str("Description"),
                })
                .collect(),
        });
    }
    let flat = [
        "IpProtocol",
        "FromPort",
        "ToPort",
        "CidrIp",
        "SourceSecurityGroupName",
        "SourceSecurityGroupOwnerId",
    ];
    if !flat.iter().any(|n| p.get(n).is_some()) {
        return Ok(out);
    }
    if !out.is_empty() {
        return Err(ApiError::combination(
            "The parameter IpPermissions cannot be used with IpProtocol, FromPort, ToPort, CidrIp or SourceSecurityGroupName.",
        ));
    }
    let source = p.opt_str("SourceSecurityGroupName");
    let owner = p.opt_str("SourceSecurityGroupOwnerId");
    let cidr = p.opt_str("CidrIp");
    if source.is_some() && cidr.is_some() {
        return Err(ApiError::combination(
            "CidrIp and SourceSecurityGroupName cannot be specified together.",
        ));
    }
    let groups: Vec<GroupPairRequest> = source
        .iter()
        .map(|name| GroupPairRequest {
            group_name: Some(name.clone()),
            user_id: owner.clone(),
            ..Default::default()
        })
        .collect();
    let ip_ranges: Vec<PeerRequest> = cidr
        .iter()
        .map(|c| PeerRequest {
            value: c.clone(),
            description: None,
        })
        .collect();
    match p.opt_str("IpProtocol") {
        None if !groups.is_empty() => {
            // A source group alone grants all of ICMP, TCP and UDP.
            for (proto, from, to) in [("icmp", -1, -1), ("tcp", 0, 65535), ("udp", 0, 65535)] {
                out.push(IpPermission {
                    protocol: Some(proto.into()),
                    from_port: Some(from),
                    to_port: Some(to),
                    groups: groups.clone(),
                    ..Default::default()
                });
            }
        }
        protocol => out.push(IpPermission {
            protocol,
            from_port: p.int("FromPort")?,
            to_port: p.int("ToPort")?,
            ip_ranges,
            groups,
            ..Default::default()
        }),
    }
    Ok(out)
}

fn group_arn(ctx: &Ctx<'_>, id: &str) -> String {
    format!(
        "arn:aws:ec2:{}:{}:security-group/{id}",
        ctx.scope.region, ctx.scope.account
    )
}

/// Whether ports (or ICMP type and code) are shown for a protocol (all and other
/// protocols match every port).
fn has_ports(protocol: IpProtocol) -> bool {
    protocol.has_ports() || protocol.is_icmp()
}

const PERMISSION_FILTERS: &[&str] = &[
    "cidr",
    "from-port",
    "group-id",
    "group-name",
    "ipv6-cidr",
    "prefix-list-id",
    "protocol",
    "to-port",
    "user-id",
];

const FILTERS: &[&str] = &[
    "description",
    "group-id",
    "group-name",
    "owner-id",
    "vpc-id",
    "ip-permission.cidr",
    "ip-permission.from-port",
    "ip-permission.group-id",
    "ip-permission.group-name",
    "ip-permission.ipv6-cidr",
    "ip-permission.prefix-list-id",
    "ip-permission.protocol",
    "ip-permission.to-port",
    "ip-permission.user-id",
    "egress.ip-permission.cidr",
    "egress.ip-permission.from-port",
    "egress.ip-permission.group-id",
    "egress.ip-permission.group-name",
    "egress.ip-permission.ipv6-cidr",
    "egress.ip-permission.prefix-list-id",
    "egress.ip-permission.protocol",
    "egress.ip-permission.to-port",
    "egress.ip-permission.user-id",
];

fn field(region: &Region, g: &SecurityGroup, name: &str) -> Vec<String> {
    let (egress, sub) = if let Some(s) = name.strip_prefix("egress.ip-permission.") {
        (true, s)
    } else if let Some(s) = name.strip_prefix("ip-permission.") {
        (false, s)
    } else {
        return match name {
            "description" => vec![g.description.clone()],
            "group-id" => vec![g.id.to_string()],
            "group-name" => vec![g.name.clone()],
            "owner-id" => vec![region.account.clone()],
            "vpc-id" => vec![g.vpc_id.to_string()],
            _ => vec![],
        };
    };
    debug_assert!(PERMISSION_FILTERS.contains(&sub));
    let rules = g.rules.iter().filter(|r| r.egress == egress);
    rules
        .filter_map(|r| match (sub, &r.peer) {
            ("cidr", RulePeer::Cidr(c)) => Some(c.to_string()),
            ("ipv6-cidr", RulePeer::Ipv6Cidr(c)) => Some(c.clone()),
            ("prefix-list-id", RulePeer::PrefixList(pl)) => Some(pl.clone()),
            ("group-id", RulePeer::Group { group_id, .. }) => Some(group_id.to_string()),
            // EC2 knows a referenced group by name only in the default VPC (where names
            // can name groups in requests).
            ("group-name", RulePeer::Group { group_id, .. }) => region
                .security_groups
                .get(group_id)
                .filter(|x| region.vpcs.get(&x.vpc_id).is_some_and(|v| v.is_default))
                .map(|x| x.name.clone()),
            ("user-id", RulePeer::Group { user_id, .. }) => Some(user_id.clone()),
            ("protocol", _) => Some(r.protocol.security_group_text().into_owned()),
            ("from-port", _) => Some(r.from_port.to_string()),
            ("to-port", _) => Some(r.to_port.to_string()),
            _ => None,
        })
        .collect()
}

pub fn render_group(
    w: &mut Xml,
    ctx: &Ctx<'_>,
    region: &Region,
    global: &Global,
    g: &SecurityGroup,
) {
    w.leaf("ownerId", &region.account)
        .leaf("groupId", &g.id)
        .leaf("groupName", &g.name)
        .leaf("groupDescription", &g.description)
        .leaf("vpcId", &g.vpc_id)
        .leaf("securityGroupArn", group_arn(ctx, &g.id));
    for (set, egress) in [("ipPermissions", false), ("ipPermissionsEgress", true)] {
        let rules: Vec<&SecurityGroupRule> =
            g.rules.iter().filter(|r| r.egress == egress).collect();
        render_permissions(w, set, &rules, Some(global), false);
    }
    w.tags(&g.tags);
}

/// Rules as EC2's permissions (or, `stale`, as StaleIpPermissions): those sharing
/// protocol and ports are one permission, in order of first appearance.
fn render_permissions(
    w: &mut Xml,
    set: &str,
    rules: &[&SecurityGroupRule],
    global: Option<&Global>,
    stale: bool,
) {
    let mut keys: Vec<(IpProtocol, i32, i32)> = Vec::new();
    for r in rules {
        let k = (r.protocol, r.from_port, r.to_port);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    w.set(set, keys, |w, (protocol, from, to)| {
        let of: Vec<&&SecurityGroupRule> = rules
            .iter()
            .filter(|r| r.protocol == protocol && r.from_port == from && r.to_port == to)
            .collect();
        w.leaf("ipProtocol", protocol);
        if has_ports(protocol) {
            w.leaf("fromPort", from).leaf("toPort", to);
        }
        render_peers(
            w,
            global,
            of.iter().map(|r| (&r.peer, r.description.as_deref())),
            stale,
        );
    });
}

/// A permission's peers. `global`, where known, gives a peered group's `peeringStatus`.
/// A stale permission has group peers only (a stale rule names a group; that shape's
/// address lists are of bare strings).
fn render_peers<'a>(
    w: &mut Xml,
    global: Option<&Global>,
    peers: impl Iterator<Item = (&'a RulePeer, Option<&'a str>)>,
    stale: bool,
) {
    let peers: Vec<_> = peers.collect();
    w.set(
        "groups",
        peers
            .iter()
            .filter(|(p, _)| matches!(p, RulePeer::Group { .. })),
        |w, (p, d)| {
            if let RulePeer::Group {
                group_id,
                user_id,
                vpc_id,
                peering_id,
            } = p
            {
                let peering_status = peering_id
                    .as_ref()
                    .and_then(|id| global?.peerings.get(id))
                    .map(|p| p.status.as_str());
                w.leaf("userId", user_id)
                    .leaf("groupId", group_id)
                    .opt("vpcId", vpc_id.as_ref())
                    .opt("vpcPeeringConnectionId", peering_id.as_ref())
                    .opt("peeringStatus", peering_status)
                    .opt("description", *d);
            }
        },
    );
    if stale {
        return;
    }
    w.set(
        "ipRanges",
        peers.iter().filter_map(|(p, d)| match p {
            RulePeer::Cidr(c) => Some((c.to_string(), d)),
            _ => None,
        }),
        |w, (c, d)| {
            w.leaf("cidrIp", c).opt("description", *d);
        },
    );
    w.set(
        "ipv6Ranges",
        peers.iter().filter_map(|(p, d)| match p {
            RulePeer::Ipv6Cidr(c) => Some((c, d)),
            _ => None,
        }),
        |w, (c, d)| {
            w.leaf("cidrIpv6", c).opt("description", *d);
        },
    );
    w.set(
        "prefixListIds",
        peers.iter().filter_map(|(p, d)| match p {
            RulePeer::PrefixList(pl) => Some((pl, d)),
            _ => None,
        }),
        |w, (pl, d)| {
            w.leaf("prefixListId", pl).opt("description", *d);
        },
    );
}

fn render_unknown(w: &mut Xml, s: &RuleSpec) {
    w.leaf("ipProtocol", s.protocol);
    if has_ports(s.protocol) {
        w.leaf("fromPort", s.from_port).leaf("toPort", s.to_port);
    }
    render_peers(
        w,
        None,
        std::iter::once((&s.peer, s.description.as_deref())),
        false,
    );
}

fn render_rule(w: &mut Xml, ctx: &Ctx<'_>, group_id: &str, r: &SecurityGroupRule) {
    w.leaf("securityGroupRuleId", &r.id)
        .leaf("groupId", group_id)
        .leaf("groupOwnerId", ctx.account())
        .leaf("isEgress", b(r.egress))
        .leaf("ipProtocol", r.protocol)
        .leaf("fromPort", r.from_port)
        .leaf("toPort", r.to_port);
    match &r.peer {
        RulePeer::Cidr(c) => {
            w.leaf("cidrIpv4", c);
        }
        RulePeer::Ipv6Cidr(c) => {
            w.leaf("cidrIpv6", c);
        }
        RulePeer::PrefixList(pl) => {
            w.leaf("prefixListId", pl);
        }
        RulePeer::Group {
            group_id,
            user_id,
            vpc_id,
            peering_id,
        } => {
            w.el("referencedGroupInfo", |w| {
                w.leaf("groupId", group_id)
                    .leaf("userId", user_id)
                    .opt("vpcId", vpc_id.as_ref())
                    .opt("vpcPeeringConnectionId", peering_id.as_ref());
            });
        }
    }
    w.opt("description", r.description.as_deref())
        .tags(&r.tags)
        .leaf(
            "securityGroupRuleArn",
            format!(
                "arn:aws:ec2:{}:{}:security-group-rule/{}",
                ctx.scope.region, ctx.scope.account, r.id
            ),
        );
}
