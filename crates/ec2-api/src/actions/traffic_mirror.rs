//! Traffic Mirroring actions: filters, filter rules, targets and sessions. Each create
//! echoes the request's `ClientToken`; the data plane mirrors nothing yet (see
//! `fort_control::traffic_mirror`).

use fort_control::traffic_mirror::{PortsGiven, RuleFields, SessionFields};
use fort_model::{
    ApiError, Kind, TrafficDirection, TrafficMirrorFilter, TrafficMirrorFilterRule,
    TrafficMirrorRuleAction, TrafficMirrorSession, TrafficMirrorTarget,
};

use super::{Ctx, Describe, next_token};
use crate::query::Params;
use crate::xml::Xml;

crate::actions!(
    CreateTrafficMirrorFilter,
    DeleteTrafficMirrorFilter,
    DescribeTrafficMirrorFilters,
    ModifyTrafficMirrorFilterNetworkServices,
    CreateTrafficMirrorFilterRule,
    DeleteTrafficMirrorFilterRule,
    ModifyTrafficMirrorFilterRule,
    DescribeTrafficMirrorFilterRules,
    CreateTrafficMirrorTarget,
    DeleteTrafficMirrorTarget,
    DescribeTrafficMirrorTargets,
    CreateTrafficMirrorSession,
    DeleteTrafficMirrorSession,
    ModifyTrafficMirrorSession,
    DescribeTrafficMirrorSessions,
);

/// Every page of these Describes: 5 to 1000 (`TrafficMirroringMaxResults`).
const PAGE: Option<(i64, i64)> = Some((5, 1000));

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateTrafficMirrorFilter => {
            let tags = ctx.tag_specs(&["traffic-mirror-filter"])?;
            let token = ctx.client_token()?;
            let description = p.opt_str("Description");
            let filter = ctx
                .write(|tx| tx.create_traffic_mirror_filter(description, tags, token.as_ref()))
                .await?;
            let mut w = Xml::new();
            w.el("trafficMirrorFilter", |w| render_filter(w, &filter, &[]));
            w.opt("clientToken", p.get("ClientToken"));
            Ok(w)
        }
        Action::DeleteTrafficMirrorFilter => {
            let id = p.req("TrafficMirrorFilterId")?;
            ctx.write(|tx| tx.delete_traffic_mirror_filter(id)).await?;
            let mut w = Xml::new();
            w.leaf("trafficMirrorFilterId", id);
            Ok(w)
        }
        Action::ModifyTrafficMirrorFilterNetworkServices => {
            let id = p.req("TrafficMirrorFilterId")?;
            let add = p.strings("AddNetworkService")?;
            let remove = p.strings("RemoveNetworkService")?;
            let (filter, rules) = ctx
                .write(|tx| {
                    let f = tx.modify_traffic_mirror_filter_network_services(id, &add, &remove)?;
                    let rules = rules_of(&tx.region.traffic_mirror_filter_rules, &f);
                    Ok((f, rules))
                })
                .await?;
            let mut w = Xml::new();
            w.el("trafficMirrorFilter", |w| {
                render_filter(w, &filter, &rules.iter().collect::<Vec<_>>())
            });
            Ok(w)
        }
        Action::DescribeTrafficMirrorFilters => {
            let d = Describe {
                ids_param: "TrafficMirrorFilterId",
                kind: Kind::TrafficMirrorFilter,
                filters: &["description", "traffic-mirror-filter-id"],
                page: PAGE,
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.traffic_mirror_filters.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| match n {
                        "description" => x.description.iter().cloned().collect(),
                        "traffic-mirror-filter-id" => vec![x.id.to_string()],
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("trafficMirrorFilterSet", page.items, |w, f| {
                    let rules: Vec<_> = v
                        .region
                        .traffic_mirror_filter_rules
                        .values()
                        .filter(|r| r.filter_id == f.id)
                        .collect();
                    render_filter(w, f, &rules)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::CreateTrafficMirrorFilterRule => {
            let filter_id = p.req("TrafficMirrorFilterId")?;
            let fields = rule_fields(p)?;
            let tags = ctx.tag_specs(&["traffic-mirror-filter-rule"])?;
            let token = ctx.client_token()?;
            let rule = ctx
                .write(|tx| {
                    tx.create_traffic_mirror_filter_rule(filter_id, fields, tags, token.as_ref())
                })
                .await?;
            let mut w = Xml::new();
            w.el("trafficMirrorFilterRule", |w| render_rule(w, &rule));
            w.opt("clientToken", p.get("ClientToken"));
            Ok(w)
        }
        Action::ModifyTrafficMirrorFilterRule => {
            let id = p.req("TrafficMirrorFilterRuleId")?;
            let mut fields = rule_fields(p)?;
            fields.remove = p.strings("RemoveField")?;
            let rule = ctx
                .write(|tx| tx.modify_traffic_mirror_filter_rule(id, fields))
                .await?;
            let mut w = Xml::new();
            w.el("trafficMirrorFilterRule", |w| render_rule(w, &rule));
            Ok(w)
        }
        Action::DeleteTrafficMirrorFilterRule => {
            let id = p.req("TrafficMirrorFilterRuleId")?;
            ctx.write(|tx| tx.delete_traffic_mirror_filter_rule(id))
                .await?;
            let mut w = Xml::new();
            w.leaf("trafficMirrorFilterRuleId", id);
            Ok(w)
        }
        Action::DescribeTrafficMirrorFilterRules => {
            let d = Describe {
                ids_param: "TrafficMirrorFilterRuleId",
                kind: Kind::TrafficMirrorFilterRule,
                filters: &[
                    "traffic-mirror-filter-rule-id",
                    "traffic-mirror-filter-id",
                    "rule-number",
                    "rule-action",
                    "traffic-direction",
                    "protocol",
                    "source-cidr-block",
                    "destination-cidr-block",
                    "description",
                ],
                page: PAGE,
            };
            let filter_id = p.get("TrafficMirrorFilterId");
            ctx.read(|v| {
                if let Some(f) = filter_id {
                    v.region
                        .traffic_mirror_filters
                        .find(Kind::TrafficMirrorFilter, f)?;
                }
                let page = d.run(
                    p,
                    v.region
                        .traffic_mirror_filter_rules
                        .values()
                        .filter(|r| filter_id.is_none_or(|f| r.filter_id == f)),
                    |x| &x.id,
                    |x| &x.tags,
                    rule_field,
                )?;
                let mut w = Xml::new();
                w.set("trafficMirrorFilterRuleSet", page.items, |w, r| {
                    render_rule(w, r)
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::CreateTrafficMirrorTarget => {
            let tags = ctx.tag_specs(&["traffic-mirror-target"])?;
            let token = ctx.client_token()?;
            let eni = p.opt_nonempty("NetworkInterfaceId");
            let nlb = p.opt_nonempty("NetworkLoadBalancerArn");
            let gwlbe = p.opt_nonempty("GatewayLoadBalancerEndpointId");
            let description = p.opt_str("Description");
            let target = ctx
                .write(|tx| {
                    tx.create_traffic_mirror_target(
                        eni.as_deref(),
                        nlb.as_deref(),
                        gwlbe.as_deref(),
                        description,
                        tags,
                        token.as_ref(),
                    )
                })
                .await?;
            let mut w = Xml::new();
            w.el("trafficMirrorTarget", |w| {
                render_target(w, &target, ctx.account())
            });
            w.opt("clientToken", p.get("ClientToken"));
            Ok(w)
        }
        Action::DeleteTrafficMirrorTarget => {
            let id = p.req("TrafficMirrorTargetId")?;
            ctx.write(|tx| tx.delete_traffic_mirror_target(id)).await?;
            let mut w = Xml::new();
            w.leaf("trafficMirrorTargetId", id);
            Ok(w)
        }
        Action::DescribeTrafficMirrorTargets => {
            let d = Describe {
                ids_param: "TrafficMirrorTargetId",
                kind: Kind::TrafficMirrorTarget,
                filters: &[
                    "description",
                    "network-interface-id",
                    "network-load-balancer-arn",
                    "owner-id",
                    "traffic-mirror-target-id",
                ],
                page: PAGE,
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.traffic_mirror_targets.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| match n {
                        "description" => x.description.iter().cloned().collect(),
                        "network-interface-id" => x
                            .network_interface_id
                            .iter()
                            .map(|i| i.to_string())
                            .collect(),
                        "network-load-balancer-arn" => {
                            x.network_load_balancer_arn.iter().cloned().collect()
                        }
                        "owner-id" => vec![ctx.account().to_owned()],
                        "traffic-mirror-target-id" => vec![x.id.to_string()],
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("trafficMirrorTargetSet", page.items, |w, t| {
                    render_target(w, t, ctx.account())
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
        Action::CreateTrafficMirrorSession => {
            let eni = p.req("NetworkInterfaceId")?;
            let fields = session_fields(p)?;
            let tags = ctx.tag_specs(&["traffic-mirror-session"])?;
            let token = ctx.client_token()?;
            let session = ctx
                .write(|tx| tx.create_traffic_mirror_session(eni, fields, tags, token.as_ref()))
                .await?;
            let mut w = Xml::new();
            w.el("trafficMirrorSession", |w| {
                render_session(w, &session, ctx.account())
            });
            w.opt("clientToken", p.get("ClientToken"));
            Ok(w)
        }
        Action::ModifyTrafficMirrorSession => {
            let id = p.req("TrafficMirrorSessionId")?;
            let mut fields = session_fields(p)?;
            fields.remove = p.strings("RemoveField")?;
            let session = ctx
                .write(|tx| tx.modify_traffic_mirror_session(id, fields))
                .await?;
            let mut w = Xml::new();
            w.el("trafficMirrorSession", |w| {
                render_session(w, &session, ctx.account())
            });
            Ok(w)
        }
        Action::DeleteTrafficMirrorSession => {
            let id = p.req("TrafficMirrorSessionId")?;
            ctx.write(|tx| tx.delete_traffic_mirror_session(id)).await?;
            let mut w = Xml::new();
            w.leaf("trafficMirrorSessionId", id);
            Ok(w)
        }
        Action::DescribeTrafficMirrorSessions => {
            let d = Describe {
                ids_param: "TrafficMirrorSessionId",
                kind: Kind::TrafficMirrorSession,
                filters: &[
                    "description",
                    "network-interface-id",
                    "owner-id",
                    "packet-length",
                    "session-number",
                    "traffic-mirror-filter-id",
                    "traffic-mirror-session-id",
                    "traffic-mirror-target-id",
                    "virtual-network-id",
                ],
                page: PAGE,
            };
            ctx.read(|v| {
                let page = d.run(
                    p,
                    v.region.traffic_mirror_sessions.values(),
                    |x| &x.id,
                    |x| &x.tags,
                    |x, n| match n {
                        "description" => x.description.iter().cloned().collect(),
                        "network-interface-id" => vec![x.network_interface_id.to_string()],
                        "owner-id" => vec![ctx.account().to_owned()],
                        "packet-length" => x.packet_length.iter().map(u16::to_string).collect(),
                        "session-number" => vec![x.session_number.to_string()],
                        "traffic-mirror-filter-id" => vec![x.filter_id.to_string()],
                        "traffic-mirror-session-id" => vec![x.id.to_string()],
                        "traffic-mirror-target-id" => vec![x.target_id.to_string()],
                        "virtual-network-id" => vec![x.virtual_network_id.to_string()],
                        _ => vec![],
                    },
                )?;
                let mut w = Xml::new();
                w.set("trafficMirrorSessionSet", page.items, |w, s| {
                    render_session(w, s, ctx.account())
                });
                next_token(&mut w, page.next_token);
                Ok(w)
            })
            .await?
        }
    }
}

/// The rules of `filter`, for an answer that shows the filter.
fn rules_of(
    table: &fort_control::table::Table<TrafficMirrorFilterRule>,
    filter: &TrafficMirrorFilter,
) -> Vec<TrafficMirrorFilterRule> {
    table
        .values()
        .filter(|r| r.filter_id == filter.id)
        .cloned()
        .collect()
}

fn rule_fields(p: &Params) -> Result<RuleFields, ApiError> {
    let direction = p
        .get("TrafficDirection")
        .map(|d| {
            TrafficDirection::parse(d).ok_or_else(|| {
                ApiError::bad_param("TrafficDirection", d, "Valid values: ingress, egress.")
            })
        })
        .transpose()?;
    let action = p
        .get("RuleAction")
        .map(|a| {
            TrafficMirrorRuleAction::parse(a).ok_or_else(|| {
                ApiError::bad_param("RuleAction", a, "Valid values: accept, reject.")
            })
        })
        .transpose()?;
    let range = |name: &str| -> Result<Option<PortsGiven>, ApiError> {
        let r = p.child(name);
        if !r.is_present() {
            return Ok(None);
        }
        Ok(Some((r.int("FromPort")?, r.int("ToPort")?)))
    };
    Ok(RuleFields {
        direction,
        rule_number: p.int("RuleNumber")?,
        action,
        protocol: p.int("Protocol")?,
        destination_ports: range("DestinationPortRange")?,
        source_ports: range("SourcePortRange")?,
        destination_cidr: p.opt_str("DestinationCidrBlock"),
        source_cidr: p.opt_str("SourceCidrBlock"),
        description: p.opt_str("Description"),
        remove: Vec::new(),
    })
}

fn session_fields(p: &Params) -> Result<SessionFields, ApiError> {
    Ok(SessionFields {
        target_id: p.opt_nonempty("TrafficMirrorTargetId"),
        filter_id: p.opt_nonempty("TrafficMirrorFilterId"),
        packet_length: p.int("PacketLength")?,
        session_number: p.int("SessionNumber")?,
        virtual_network_id: p.int("VirtualNetworkId")?,
        description: p.opt_str("Description"),
        remove: Vec::new(),
    })
}

fn rule_field(r: &TrafficMirrorFilterRule, name: &str) -> Vec<String> {
    match name {
        "traffic-mirror-filter-rule-id" => vec![r.id.to_string()],
        "traffic-mirror-filter-id" => vec![r.filter_id.to_string()],
        "rule-number" => vec![r.rule_number.to_string()],
        "rule-action" => vec![r.action.to_string()],
        "traffic-direction" => vec![r.direction.to_string()],
        "protocol" => r.protocol.iter().map(u8::to_string).collect(),
        "source-cidr-block" => vec![r.source_cidr.clone()],
        "destination-cidr-block" => vec![r.destination_cidr.clone()],
        "description" => r.description.iter().cloned().collect(),
        _ => vec![],
    }
}

fn render_filter(w: &mut Xml, f: &TrafficMirrorFilter, rules: &[&TrafficMirrorFilterRule]) {
    let of = |d: TrafficDirection| {
        let mut v: Vec<_> = rules.iter().filter(|r| r.direction == d).collect();
        v.sort_by_key(|r| r.rule_number);
        v
    };
    w.leaf("trafficMirrorFilterId", &f.id)
        .set(
            "ingressFilterRuleSet",
            of(TrafficDirection::Ingress),
            |w, r| render_rule(w, r),
        )
        .set(
            "egressFilterRuleSet",
            of(TrafficDirection::Egress),
            |w, r| render_rule(w, r),
        )
        .strings("networkServiceSet", &f.network_services)
        .opt("description", f.description.as_deref())
        .tags(&f.tags);
}

fn render_rule(w: &mut Xml, r: &TrafficMirrorFilterRule) {
    w.leaf("trafficMirrorFilterRuleId", &r.id)
        .leaf("trafficMirrorFilterId", &r.filter_id)
        .leaf("trafficDirection", r.direction)
        .leaf("ruleNumber", r.rule_number)
        .leaf("ruleAction", r.action)
        .opt("protocol", r.protocol);
    for (name, range) in [
        ("destinationPortRange", r.destination_ports),
        ("sourcePortRange", r.source_ports),
    ] {
        if let Some(range) = range {
            w.el(name, |w| {
                w.leaf("fromPort", range.from).leaf("toPort", range.to);
            });
        }
    }
    w.leaf("destinationCidrBlock", &r.destination_cidr)
        .leaf("sourceCidrBlock", &r.source_cidr)
        .opt("description", r.description.as_deref())
        .tags(&r.tags);
}

fn render_target(w: &mut Xml, t: &TrafficMirrorTarget, account: &str) {
    w.leaf("trafficMirrorTargetId", &t.id)
        .opt("networkInterfaceId", t.network_interface_id.as_ref())
        .opt(
            "networkLoadBalancerArn",
            t.network_load_balancer_arn.as_deref(),
        )
        .opt(
            "gatewayLoadBalancerEndpointId",
            t.gateway_load_balancer_endpoint_id.as_ref(),
        )
        .leaf("type", t.target_type())
        .opt("description", t.description.as_deref())
        .leaf("ownerId", account)
        .tags(&t.tags);
}

fn render_session(w: &mut Xml, s: &TrafficMirrorSession, account: &str) {
    w.leaf("trafficMirrorSessionId", &s.id)
        .leaf("trafficMirrorTargetId", &s.target_id)
        .leaf("trafficMirrorFilterId", &s.filter_id)
        .leaf("networkInterfaceId", &s.network_interface_id)
        .leaf("ownerId", account)
        .opt("packetLength", s.packet_length)
        .leaf("sessionNumber", s.session_number)
        .leaf("virtualNetworkId", s.virtual_network_id)
        .opt("description", s.description.as_deref())
        .tags(&s.tags);
}
