//! Traffic Mirroring's API: filters and their rules, targets and sessions, with EC2's
//! checks (one target kind, rule numbers, CIDR blocks, ports only for TCP and UDP, a filter
//! or target in use by a session is not deleted). Fort offers no load balancers, so targets
//! are network interfaces and Gateway Load Balancer endpoints.
//!
//! Not yet: the data plane copies no packets; sessions are recorded and described only.

use fort_model::*;
use ipnet::IpNet;

use crate::tags::check_tags;
use crate::{ClientToken, Tx};

/// The network services a filter may mirror besides its rules' traffic.
pub const NETWORK_SERVICES: &[&str] = &["amazon-dns"];

/// A port range as a request gives it: `(FromPort, ToPort)`, either may be left out.
pub type PortsGiven = (Option<i64>, Option<i64>);

/// The fields of a filter rule a create gives or a modify changes (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct RuleFields {
    pub direction: Option<TrafficDirection>,
    pub rule_number: Option<i64>,
    pub action: Option<TrafficMirrorRuleAction>,
    pub protocol: Option<i64>,
    pub destination_ports: Option<PortsGiven>,
    pub source_ports: Option<PortsGiven>,
    pub destination_cidr: Option<String>,
    pub source_cidr: Option<String>,
    pub description: Option<String>,
    /// ModifyTrafficMirrorFilterRule's `RemoveField.N`.
    pub remove: Vec<String>,
}

/// The fields of a session a create gives or a modify changes.
#[derive(Clone, Debug, Default)]
pub struct SessionFields {
    pub target_id: Option<String>,
    pub filter_id: Option<String>,
    pub packet_length: Option<i64>,
    pub session_number: Option<i64>,
    pub virtual_network_id: Option<i64>,
    pub description: Option<String>,
    /// ModifyTrafficMirrorSession's `RemoveField.N`.
    pub remove: Vec<String>,
}

/// A VXLAN id for a session that names none: from its id's random digits (1..2^24).
fn fresh_vni(id: &TrafficMirrorSessionId) -> u32 {
    let tail = &id[id.len().saturating_sub(6)..];
    u32::from_str_radix(tail, 16).unwrap_or(1).max(1)
}

/// `n` as a `T` when it lies in `range`; EC2's InvalidParameterValue naming `param` otherwise.
fn bounded<T: TryFrom<i64>>(
    param: &str,
    n: i64,
    range: std::ops::RangeInclusive<i64>,
    why: &str,
) -> Result<T, ApiError> {
    range
        .contains(&n)
        .then(|| T::try_from(n).ok())
        .flatten()
        .ok_or_else(|| ApiError::bad_param(param, &n.to_string(), why))
}

fn rule_number(n: i64) -> Result<u16, ApiError> {
    bounded(
        "RuleNumber",
        n,
        1..=32766,
        "The rule number must be between 1 and 32766.",
    )
}

fn cidr(param: &str, text: &str) -> Result<IpNet, ApiError> {
    text.parse::<IpNet>()
        .map_err(|_| ApiError::bad_param(param, text, "It must be a valid CIDR block."))
}

fn ports(param: &str, given: PortsGiven) -> Result<PortRange, ApiError> {
    let (from, to) = match given {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, f),
        (None, Some(t)) => (t, t),
        (None, None) => (0, 65535),
    };
    match (u16::try_from(from), u16::try_from(to)) {
        (Ok(from), Ok(to)) if from <= to => Ok(PortRange { from, to }),
        _ => Err(ApiError::invalid_value(format!(
            "Invalid {param}: from port {from} to port {to}. Ports must be between 0 and 65535, the first no greater than the last."
        ))),
    }
}

/// Applies `f` to `rule` and checks the result as a whole.
fn apply_rule(rule: &mut TrafficMirrorFilterRule, f: RuleFields) -> Result<(), ApiError> {
    for field in &f.remove {
        match field.as_str() {
            "destination-port-range" => rule.destination_ports = None,
            "source-port-range" => rule.source_ports = None,
            "protocol" => rule.protocol = None,
            "description" => rule.description = None,
            other => {
                return Err(ApiError::bad_param(
                    "RemoveField",
                    other,
                    "Valid values: destination-port-range, source-port-range, protocol, description.",
                ));
            }
        }
    }
    if let Some(d) = f.direction {
        rule.direction = d;
    }
    if let Some(n) = f.rule_number {
        rule.rule_number = rule_number(n)?;
    }
    if let Some(a) = f.action {
        rule.action = a;
    }
    if let Some(p) = f.protocol {
        rule.protocol = Some(bounded(
            "Protocol",
            p,
            0..=255,
            "The protocol must be an IP protocol number between 0 and 255.",
        )?);
    }
    if let Some(r) = f.destination_ports {
        rule.destination_ports = Some(ports("DestinationPortRange", r)?);
    }
    if let Some(r) = f.source_ports {
        rule.source_ports = Some(ports("SourcePortRange", r)?);
    }
    if let Some(c) = f.destination_cidr {
        cidr("DestinationCidrBlock", &c)?;
        rule.destination_cidr = c;
    }
    if let Some(c) = f.source_cidr {
        cidr("SourceCidrBlock", &c)?;
        rule.source_cidr = c;
    }
    if let Some(d) = f.description {
        rule.description = Some(d);
    }
    let dst = cidr("DestinationCidrBlock", &rule.destination_cidr)?;
    let src = cidr("SourceCidrBlock", &rule.source_cidr)?;
    if matches!(dst, IpNet::V4(_)) != matches!(src, IpNet::V4(_)) {
        return Err(ApiError::combination(
            "The source and destination CIDR blocks must be of the same IP address family.",
        ));
    }
    let ported = matches!(rule.protocol, Some(6 | 17));
    if !ported && (rule.destination_ports.is_some() || rule.source_ports.is_some()) {
        return Err(ApiError::combination(
            "Port ranges can be given only for the TCP (6) and UDP (17) protocols.",
        ));
    }
    Ok(())
}

impl Tx<'_> {
    /// A filter or target (`what`, `id`) can go only while no session `names` it.
    fn no_session_names(
        &self,
        what: &str,
        id: &str,
        names: impl Fn(&TrafficMirrorSession) -> bool,
    ) -> Result<(), ApiError> {
        if self.region.traffic_mirror_sessions.values().any(names) {
            return Err(ApiError::dependency(what, id));
        }
        Ok(())
    }

    /// CreateTrafficMirrorFilter: an empty filter (mirrors nothing until rules are added).
    pub fn create_traffic_mirror_filter(
        &mut self,
        description: Option<String>,
        tags: Tags,
        token: Option<&ClientToken>,
    ) -> Result<TrafficMirrorFilter, ApiError> {
        self.idempotent(
            token,
            |r, id| r.traffic_mirror_filters.get(id).cloned(),
            |tx| {
                check_tags(&tags, tx.config.quotas.tags_per_resource)?;
                let filter = TrafficMirrorFilter {
                    id: TrafficMirrorFilterId::new(),
                    description,
                    network_services: Vec::new(),
                    tags,
                };
                tx.region.traffic_mirror_filters.insert(filter.clone());
                Ok(filter)
            },
            |f| f.id.to_string(),
        )
    }

    /// DeleteTrafficMirrorFilter: refused while a session uses it; its rules go with it.
    pub fn delete_traffic_mirror_filter(&mut self, id: &str) -> Result<(), ApiError> {
        let id = self
            .region
            .traffic_mirror_filters
            .find(Kind::TrafficMirrorFilter, id)?
            .id
            .clone();
        self.no_session_names("traffic mirror filter", &id, |s| s.filter_id == id)?;
        let rules: Vec<_> = self
            .region
            .traffic_mirror_filter_rules
            .values()
            .filter(|r| r.filter_id == id)
            .map(|r| r.id.clone())
            .collect();
        for r in rules {
            self.region.traffic_mirror_filter_rules.remove(&r);
        }
        self.region.traffic_mirror_filters.remove(&id);
        Ok(())
    }

    /// ModifyTrafficMirrorFilterNetworkServices: adds, then removes, services.
    pub fn modify_traffic_mirror_filter_network_services(
        &mut self,
        id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<TrafficMirrorFilter, ApiError> {
        for s in add.iter().chain(remove) {
            if !NETWORK_SERVICES.contains(&s.as_str()) {
                return Err(ApiError::bad_param(
                    "NetworkService",
                    s,
                    "Valid values: amazon-dns.",
                ));
            }
        }
        let filter = self
            .region
            .traffic_mirror_filters
            .find_mut(Kind::TrafficMirrorFilter, id)?;
        for s in add {
            if !filter.network_services.contains(s) {
                filter.network_services.push(s.clone());
            }
        }
        filter.network_services.retain(|s| !remove.contains(s));
        Ok(filter.clone())
    }

    /// CreateTrafficMirrorFilterRule: direction, number, action and both CIDR blocks are
    /// required; a filter has one rule of a number in each direction.
    pub fn create_traffic_mirror_filter_rule(
        &mut self,
        filter_id: &str,
        fields: RuleFields,
        tags: Tags,
        token: Option<&ClientToken>,
    ) -> Result<TrafficMirrorFilterRule, ApiError> {
        self.idempotent(
            token,
            |r, id| r.traffic_mirror_filter_rules.get(id).cloned(),
            |tx| tx.make_filter_rule(filter_id, fields, tags),
            |r| r.id.to_string(),
        )
    }

    fn make_filter_rule(
        &mut self,
        filter_id: &str,
        fields: RuleFields,
        tags: Tags,
    ) -> Result<TrafficMirrorFilterRule, ApiError> {
        let filter_id = self
            .region
            .traffic_mirror_filters
            .find(Kind::TrafficMirrorFilter, filter_id)?
            .id
            .clone();
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let mut rule = TrafficMirrorFilterRule {
            id: TrafficMirrorFilterRuleId::new(),
            filter_id,
            direction: fields
                .direction
                .ok_or_else(|| ApiError::missing("TrafficDirection"))?,
            rule_number: rule_number(
                fields
                    .rule_number
                    .ok_or_else(|| ApiError::missing("RuleNumber"))?,
            )?,
            action: fields
                .action
                .ok_or_else(|| ApiError::missing("RuleAction"))?,
            protocol: None,
            destination_ports: None,
            source_ports: None,
            destination_cidr: fields
                .destination_cidr
                .clone()
                .ok_or_else(|| ApiError::missing("DestinationCidrBlock"))?,
            source_cidr: fields
                .source_cidr
                .clone()
                .ok_or_else(|| ApiError::missing("SourceCidrBlock"))?,
            description: None,
            tags,
        };
        apply_rule(&mut rule, fields)?;
        self.check_rule_number(&rule)?;
        self.region.traffic_mirror_filter_rules.insert(rule.clone());
        Ok(rule)
    }

    fn check_rule_number(&self, rule: &TrafficMirrorFilterRule) -> Result<(), ApiError> {
        let taken = self.region.traffic_mirror_filter_rules.values().any(|r| {
            r.id != rule.id
                && r.filter_id == rule.filter_id
                && r.direction == rule.direction
                && r.rule_number == rule.rule_number
        });
        if taken {
            return Err(ApiError::invalid_value(format!(
                "The rule number {} already exists in the {} direction of traffic mirror filter '{}'.",
                rule.rule_number, rule.direction, rule.filter_id
            )));
        }
        Ok(())
    }

    /// ModifyTrafficMirrorFilterRule: changes the fields given, drops those in `RemoveField`.
    pub fn modify_traffic_mirror_filter_rule(
        &mut self,
        id: &str,
        fields: RuleFields,
    ) -> Result<TrafficMirrorFilterRule, ApiError> {
        let mut rule = self
            .region
            .traffic_mirror_filter_rules
            .find(Kind::TrafficMirrorFilterRule, id)?
            .clone();
        apply_rule(&mut rule, fields)?;
        self.check_rule_number(&rule)?;
        self.region.traffic_mirror_filter_rules.insert(rule.clone());
        Ok(rule)
    }

    /// DeleteTrafficMirrorFilterRule.
    pub fn delete_traffic_mirror_filter_rule(&mut self, id: &str) -> Result<(), ApiError> {
        let id = self
            .region
            .traffic_mirror_filter_rules
            .find(Kind::TrafficMirrorFilterRule, id)?
            .id
            .clone();
        self.region.traffic_mirror_filter_rules.remove(&id);
        Ok(())
    }

    /// CreateTrafficMirrorTarget: exactly one of an interface, a Network Load Balancer's
    /// ARN or a Gateway Load Balancer endpoint.
    pub fn create_traffic_mirror_target(
        &mut self,
        network_interface_id: Option<&str>,
        network_load_balancer_arn: Option<&str>,
        gateway_load_balancer_endpoint_id: Option<&str>,
        description: Option<String>,
        tags: Tags,
        token: Option<&ClientToken>,
    ) -> Result<TrafficMirrorTarget, ApiError> {
        let given = [
            network_interface_id,
            network_load_balancer_arn,
            gateway_load_balancer_endpoint_id,
        ];
        if given.iter().flatten().count() != 1 {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "Invalid number of inputs. Only 1 of NetworkInterfaceId, NetworkLoadBalancerArn or GatewayLoadBalancerEndpointId required.",
            ));
        }
        self.idempotent(
            token,
            |r, id| r.traffic_mirror_targets.get(id).cloned(),
            |tx| {
                let eni = network_interface_id
                    .map(|id| {
                        tx.region
                            .network_interfaces
                            .find(Kind::NetworkInterface, id)
                            .map(|e| e.id.clone())
                    })
                    .transpose()?;
                let endpoint = gateway_load_balancer_endpoint_id
                    .map(|id| {
                        let e = tx.region.vpc_endpoints.find(Kind::VpcEndpoint, id)?;
                        if e.endpoint_type != VpcEndpointType::GatewayLoadBalancer {
                            return Err(ApiError::bad_param(
                                "GatewayLoadBalancerEndpointId",
                                id,
                                "The VPC endpoint must be a Gateway Load Balancer endpoint.",
                            ));
                        }
                        Ok(e.id.clone())
                    })
                    .transpose()?;
                // Fort offers no Elastic Load Balancing, so no ARN names a Network Load
                // Balancer: EC2's codes for a malformed ARN and for one naming nothing.
                if let Some(arn) = network_load_balancer_arn {
                    let code = if arn.starts_with("arn:") && arn.contains(":loadbalancer/net/") {
                        ErrorCode::InvalidNetworkLoadBalancerArnNotFound
                    } else {
                        ErrorCode::InvalidNetworkLoadBalancerArnMalformed
                    };
                    return Err(ApiError::new(
                        code,
                        format!("The network load balancer ARN '{arn}' does not exist."),
                    ));
                }
                check_tags(&tags, tx.config.quotas.tags_per_resource)?;
                let target = TrafficMirrorTarget {
                    id: TrafficMirrorTargetId::new(),
                    network_interface_id: eni,
                    network_load_balancer_arn: network_load_balancer_arn.map(str::to_owned),
                    gateway_load_balancer_endpoint_id: endpoint,
                    description,
                    tags,
                };
                tx.region.traffic_mirror_targets.insert(target.clone());
                Ok(target)
            },
            |t| t.id.to_string(),
        )
    }

    /// DeleteTrafficMirrorTarget: refused while a session sends to it.
    pub fn delete_traffic_mirror_target(&mut self, id: &str) -> Result<(), ApiError> {
        let id = self
            .region
            .traffic_mirror_targets
            .find(Kind::TrafficMirrorTarget, id)?
            .id
            .clone();
        self.no_session_names("traffic mirror target", &id, |s| s.target_id == id)?;
        self.region.traffic_mirror_targets.remove(&id);
        Ok(())
    }

    /// CreateTrafficMirrorSession: a source interface, a target, a filter and a session
    /// number; the VXLAN id is chosen when not given.
    pub fn create_traffic_mirror_session(
        &mut self,
        network_interface_id: &str,
        fields: SessionFields,
        tags: Tags,
        token: Option<&ClientToken>,
    ) -> Result<TrafficMirrorSession, ApiError> {
        self.idempotent(
            token,
            |r, id| r.traffic_mirror_sessions.get(id).cloned(),
            |tx| {
                let eni = tx
                    .region
                    .network_interfaces
                    .find(Kind::NetworkInterface, network_interface_id)?
                    .id
                    .clone();
                check_tags(&tags, tx.config.quotas.tags_per_resource)?;
                let mut session = TrafficMirrorSession {
                    id: TrafficMirrorSessionId::new(),
                    network_interface_id: eni,
                    target_id: TrafficMirrorTargetId::parse(
                        fields
                            .target_id
                            .as_deref()
                            .ok_or_else(|| ApiError::missing("TrafficMirrorTargetId"))?,
                    )?,
                    filter_id: TrafficMirrorFilterId::parse(
                        fields
                            .filter_id
                            .as_deref()
                            .ok_or_else(|| ApiError::missing("TrafficMirrorFilterId"))?,
                    )?,
                    packet_length: None,
                    session_number: 0,
                    virtual_network_id: 0,
                    description: None,
                    tags,
                };
                if fields.session_number.is_none() {
                    return Err(ApiError::missing("SessionNumber"));
                }
                tx.apply_session(&mut session, fields)?;
                tx.region.traffic_mirror_sessions.insert(session.clone());
                Ok(session)
            },
            |s| s.id.to_string(),
        )
    }

    /// Applies `f` to `session` and checks the references and numbers.
    fn apply_session(
        &self,
        session: &mut TrafficMirrorSession,
        f: SessionFields,
    ) -> Result<(), ApiError> {
        let mut new_vni = session.virtual_network_id == 0;
        for field in &f.remove {
            match field.as_str() {
                "packet-length" => session.packet_length = None,
                "description" => session.description = None,
                "virtual-network-id" => new_vni = true,
                other => {
                    return Err(ApiError::bad_param(
                        "RemoveField",
                        other,
                        "Valid values: packet-length, description, virtual-network-id.",
                    ));
                }
            }
        }
        if let Some(t) = &f.target_id {
            session.target_id = self
                .region
                .traffic_mirror_targets
                .find(Kind::TrafficMirrorTarget, t)?
                .id
                .clone();
        }
        let target = self
            .region
            .traffic_mirror_targets
            .lookup(&session.target_id)?;
        if target.network_interface_id.as_ref() == Some(&session.network_interface_id) {
            return Err(ApiError::invalid_value(
                "The traffic mirror source and target cannot be the same network interface.",
            ));
        }
        if let Some(t) = &f.filter_id {
            session.filter_id = self
                .region
                .traffic_mirror_filters
                .find(Kind::TrafficMirrorFilter, t)?
                .id
                .clone();
        }
        self.region
            .traffic_mirror_filters
            .lookup(&session.filter_id)?;
        if let Some(n) = f.session_number {
            session.session_number = bounded(
                "SessionNumber",
                n,
                1..=32766,
                "The session number must be between 1 and 32766.",
            )?;
        }
        if let Some(l) = f.packet_length {
            session.packet_length = Some(bounded(
                "PacketLength",
                l,
                1..=8500,
                "The packet length must be between 1 and 8500.",
            )?);
        }
        if let Some(v) = f.virtual_network_id {
            session.virtual_network_id = bounded(
                "VirtualNetworkId",
                v,
                0..=(1 << 24) - 1,
                "The virtual network ID must be between 0 and 16777215.",
            )?;
        } else if new_vni {
            session.virtual_network_id = fresh_vni(&session.id);
        }
        if let Some(d) = f.description {
            session.description = Some(d);
        }
        let clash = self.region.traffic_mirror_sessions.values().any(|s| {
            s.id != session.id
                && s.network_interface_id == session.network_interface_id
                && s.session_number == session.session_number
        });
        if clash {
            return Err(ApiError::invalid_value(format!(
                "The session number {} is already in use by another session of network interface '{}'.",
                session.session_number, session.network_interface_id
            )));
        }
        Ok(())
    }

    /// ModifyTrafficMirrorSession.
    pub fn modify_traffic_mirror_session(
        &mut self,
        id: &str,
        fields: SessionFields,
    ) -> Result<TrafficMirrorSession, ApiError> {
        let mut session = self
            .region
            .traffic_mirror_sessions
            .find(Kind::TrafficMirrorSession, id)?
            .clone();
        self.apply_session(&mut session, fields)?;
        self.region.traffic_mirror_sessions.insert(session.clone());
        Ok(session)
    }

    /// DeleteTrafficMirrorSession.
    pub fn delete_traffic_mirror_session(&mut self, id: &str) -> Result<(), ApiError> {
        let id = self
            .region
            .traffic_mirror_sessions
            .find(Kind::TrafficMirrorSession, id)?
            .id
            .clone();
        self.region.traffic_mirror_sessions.remove(&id);
        Ok(())
    }
}
