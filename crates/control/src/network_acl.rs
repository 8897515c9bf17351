//! Network ACLs: stateless, numbered allow/deny entries at subnet boundaries.

use fort_model::cidr;
use fort_model::*;
use ipnet::{Ipv4Net, Ipv6Net};

use crate::region::Region;
use crate::tags::check_tags;
use crate::{ClientToken, Tx, within};

/// The rule number of the final, implied deny entries (`*` in the console).
pub const FINAL_RULE: u16 = 32767;

/// CreateNetworkAclEntry / ReplaceNetworkAclEntry, as the API parsed them.
#[derive(Clone, Debug, Default)]
pub struct NetworkAclEntryRequest {
    pub network_acl_id: NetworkAclId,
    pub rule_number: i64,
    pub protocol: String,
    pub rule_action: String,
    pub egress: bool,
    pub cidr_block: Option<String>,
    pub ipv6_cidr_block: Option<String>,
    pub port_from: Option<i64>,
    pub port_to: Option<i64>,
    pub icmp_type: Option<i64>,
    pub icmp_code: Option<i64>,
}

/// An IPv6 CIDR as text, canonical (host bits cleared).
pub fn parse_ipv6_cidr(text: &str) -> Option<String> {
    let (_, len) = text.split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<Ipv6Net>().ok().map(|n| n.trunc().to_string())
}

/// A user entry's rule number: 1 to 32766 (32767 is the implied final deny).
fn rule_number(n: i64) -> Option<u16> {
    u16::try_from(n)
        .ok()
        .filter(|n| (1..FINAL_RULE).contains(n))
}

/// Validates an entry request into the entry to store.
pub fn build_entry(req: &NetworkAclEntryRequest) -> Result<NetworkAclEntry, ApiError> {
    let Some(rule_number) = rule_number(req.rule_number) else {
        return Err(ApiError::bad_param(
            "ruleNumber",
            &req.rule_number.to_string(),
            "Rule numbers must be in the range 1-32766.",
        ));
    };
    let protocol = IpProtocol::parse_network_acl(&req.protocol)?;
    let allow = match req.rule_action.to_ascii_lowercase().as_str() {
        "allow" => true,
        "deny" => false,
        other => {
            return Err(ApiError::bad_param(
                "ruleAction",
                other,
                "Valid values: allow, deny.",
            ));
        }
    };
    let (cidr, ipv6_cidr) = match (&req.cidr_block, &req.ipv6_cidr_block) {
        (Some(_), Some(_)) => {
            return Err(ApiError::combination(
                "Only one of cidrBlock or ipv6CidrBlock may be specified.",
            ));
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::MissingParameter,
                "The request must contain the parameter cidrBlock or ipv6CidrBlock",
            ));
        }
        (Some(c), None) => (Some(cidr::parse_param("cidrBlock", c)?), None),
        (None, Some(c)) => (
            None,
            Some(parse_ipv6_cidr(c).ok_or_else(|| {
                ApiError::bad_param("ipv6CidrBlock", c, "This is not a valid IPv6 CIDR block.")
            })?),
        ),
    };
    let mut port_range = None;
    let mut icmp = None;
    match protocol {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let (Some(from), Some(to)) = (req.port_from, req.port_to) else {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    "TCP and UDP entries require a port range: PortRange.From and PortRange.To.",
                ));
            };
            let port = |p: i64| {
                within(p, 0..=65535).ok_or_else(|| {
                    ApiError::bad_param(
                        "portRange",
                        &p.to_string(),
                        "Ports must be in the range 0-65535.",
                    )
                })
            };
            let (from, to) = (port(from)?, port(to)?);
            if from > to {
                return Err(ApiError::invalid_value(format!(
                    "Invalid port range: from port {from} is greater than to port {to}."
                )));
            }
            port_range = Some((from, to));
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let required = protocol == IpProtocol::Icmp || ipv6_cidr.is_some();
            match (req.icmp_type, req.icmp_code) {
                (Some(t), Some(c)) => {
                    let value = |v: i64| {
                        within(v, -1..=255).ok_or_else(|| {
                            ApiError::bad_param(
                                "icmpTypeCode",
                                &v.to_string(),
                                "ICMP types and codes must be in the range -1-255.",
                            )
                        })
                    };
                    icmp = Some((value(t)?, value(c)?));
                }
                _ if required => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        "ICMP entries require a type and code: Icmp.Type and Icmp.Code (-1 for all).",
                    ));
                }
                _ => {}
            }
        }
        _ => {}
    }
    Ok(NetworkAclEntry {
        rule_number,
        protocol,
        allow,
        egress: req.egress,
        cidr,
        ipv6_cidr,
        port_range,
        icmp,
    })
}

/// The entries EC2 shows: the stored ones plus the final denies (for IPv6 too when the
/// ACL's VPC has an IPv6 block), egress first, each direction by rule number.
pub fn shown_entries(acl: &NetworkAcl, region: &Region) -> Vec<NetworkAclEntry> {
    let ipv6 = region
        .vpcs
        .get(&acl.vpc_id)
        .is_some_and(|v| v.ipv6_cidrs().next().is_some());
    let mut out = Vec::with_capacity(acl.entries.len() + 4);
    for egress in [true, false] {
        let mut dir: Vec<NetworkAclEntry> = acl
            .entries
            .iter()
            .filter(|e| e.egress == egress)
            .cloned()
            .collect();
        dir.sort_by_key(|e| e.rule_number);
        out.extend(dir);
        out.push(all_traffic(FINAL_RULE, false, egress, Family::V4));
        if ipv6 {
            out.push(all_traffic(FINAL_RULE, false, egress, Family::V6));
        }
    }
    out
}

/// The rule number of the IPv6 allow-all entries EC2 adds to a default ACL.
const DEFAULT_IPV6_RULE: u16 = 101;

/// Which "everywhere" an all-traffic entry names: `0.0.0.0/0` or `::/0`.
enum Family {
    V4,
    V6,
}

/// An entry for all traffic to or from everywhere in one address family.
fn all_traffic(rule_number: u16, allow: bool, egress: bool, family: Family) -> NetworkAclEntry {
    let (cidr, ipv6_cidr) = match family {
        Family::V4 => (Some(Ipv4Net::default()), None),
        Family::V6 => (None, Some("::/0".to_string())),
    };
    NetworkAclEntry {
        rule_number,
        protocol: IpProtocol::All,
        allow,
        egress,
        cidr,
        ipv6_cidr,
        port_range: None,
        icmp: None,
    }
}

impl Tx<'_> {
    /// A VPC that gains IPv6 lets its default ACL pass all IPv6 traffic both ways (rule
    /// 101, as EC2 adds it), unless that rule number is taken.
    pub(crate) fn allow_ipv6_in_default_acl(&mut self, vpc_id: &VpcId) {
        let Some(id) = self
            .region
            .network_acls
            .ids_where(|a| a.is_default && a.vpc_id == *vpc_id)
            .into_iter()
            .next()
        else {
            return;
        };
        let acl = self.region.network_acls.get_mut(&id).expect("listed");
        for egress in [false, true] {
            if !acl
                .entries
                .iter()
                .any(|e| e.egress == egress && e.rule_number == DEFAULT_IPV6_RULE)
            {
                acl.entries
                    .push(all_traffic(DEFAULT_IPV6_RULE, true, egress, Family::V6));
            }
        }
    }

    /// A new ACL of a VPC. The default one allows everything (rule 100 both ways); a
    /// custom one holds only the implied final denies.
    pub(crate) fn new_network_acl(
        &mut self,
        vpc_id: &VpcId,
        is_default: bool,
        client_token: Option<String>,
        tags: Tags,
    ) -> NetworkAclId {
        let entries = if is_default {
            [false, true]
                .into_iter()
                .map(|egress| all_traffic(100, true, egress, Family::V4))
                .collect()
        } else {
            Vec::new()
        };
        let acl = NetworkAcl {
            id: NetworkAclId::new(),
            vpc_id: vpc_id.clone(),
            is_default,
            entries,
            associations: Vec::new(),
            client_token,
            tags,
        };
        let id = acl.id.clone();
        self.region.network_acls.insert(acl);
        id
    }

    /// Every new subnet is associated with its VPC's default ACL.
    pub(crate) fn associate_default_network_acl(
        &mut self,
        acl_id: &NetworkAclId,
        subnet_id: &SubnetId,
    ) {
        if let Some(acl) = self.region.network_acls.get_mut(acl_id) {
            acl.associations.push(NetworkAclAssociation {
                id: NetworkAclAssociationId::new(),
                subnet_id: subnet_id.clone(),
            });
        }
    }

    /// CreateNetworkAcl: a custom ACL that denies everything until entries are added.
    /// CreateNetworkAcl, idempotent under its client token (which the ACL keeps).
    pub fn create_network_acl(
        &mut self,
        vpc_id: &str,
        token: Option<&ClientToken>,
        tags: Tags,
    ) -> Result<NetworkAcl, ApiError> {
        self.idempotent(
            token,
            |r, id| r.network_acls.get(id).cloned(),
            |tx| tx.make_network_acl(vpc_id, token.map(|t| t.as_str().to_owned()), tags),
            |a| a.id.to_string(),
        )
    }

    fn make_network_acl(
        &mut self,
        vpc_id: &str,
        client_token: Option<String>,
        tags: Tags,
    ) -> Result<NetworkAcl, ApiError> {
        self.region.vpcs.find(Kind::Vpc, vpc_id)?;
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let quota = self.config.quotas.network_acls_per_vpc;
        let count = self
            .region
            .network_acls
            .values()
            .filter(|a| a.vpc_id == vpc_id)
            .count();
        if count >= quota {
            return Err(ApiError::new(
                ErrorCode::NetworkAclLimitExceeded,
                format!("The maximum number of network ACLs per VPC has been reached ({quota})."),
            ));
        }
        let id = self.new_network_acl(&VpcId::parse(vpc_id)?, false, client_token, tags);
        Ok(self.region.network_acls.get(&id).expect("inserted").clone())
    }

    pub fn delete_network_acl(&mut self, id: &NetworkAclId) -> Result<(), ApiError> {
        let acl = self.region.network_acls.lookup(id)?;
        if acl.is_default {
            return Err(ApiError::new(
                ErrorCode::CannotDelete,
                format!("cannot delete default network ACL {id}"),
            ));
        }
        if !acl.associations.is_empty() {
            return Err(ApiError::new(
                ErrorCode::DependencyViolation,
                format!("The network ACL '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.region.network_acls.remove(id);
        Ok(())
    }

    pub fn create_network_acl_entry(
        &mut self,
        req: &NetworkAclEntryRequest,
    ) -> Result<(), ApiError> {
        let limit = self.config.quotas.entries_per_network_acl;
        let acl = self.region.network_acls.lookup(&req.network_acl_id)?;
        let entry = build_entry(req)?;
        if acl
            .entries
            .iter()
            .any(|e| e.egress == entry.egress && e.rule_number == entry.rule_number)
        {
            return Err(ApiError::new(
                ErrorCode::NetworkAclEntryAlreadyExists,
                format!(
                    "The network acl entry identified by {} already exists.",
                    entry.rule_number
                ),
            ));
        }
        // The quota counts the final deny entry of the direction.
        let in_direction = acl
            .entries
            .iter()
            .filter(|e| e.egress == entry.egress)
            .count()
            + 1;
        if in_direction >= limit {
            return Err(ApiError::new(
                ErrorCode::NetworkAclEntryLimitExceeded,
                format!(
                    "The maximum number of entries per network ACL and direction has been reached ({limit})."
                ),
            ));
        }
        let acl = self
            .region
            .network_acls
            .get_mut(&req.network_acl_id)
            .expect("found above");
        acl.entries.push(entry);
        Ok(())
    }

    pub fn replace_network_acl_entry(
        &mut self,
        req: &NetworkAclEntryRequest,
    ) -> Result<(), ApiError> {
        let acl = self.region.network_acls.lookup(&req.network_acl_id)?;
        let entry = build_entry(req)?;
        let Some(pos) = acl
            .entries
            .iter()
            .position(|e| e.egress == entry.egress && e.rule_number == entry.rule_number)
        else {
            return Err(entry_not_found(
                &req.network_acl_id,
                entry.rule_number,
                entry.egress,
            ));
        };
        let acl = self
            .region
            .network_acls
            .get_mut(&req.network_acl_id)
            .expect("found above");
        acl.entries[pos] = entry;
        Ok(())
    }

    pub fn delete_network_acl_entry(
        &mut self,
        acl_id: &NetworkAclId,
        rule_number: i64,
        egress: bool,
    ) -> Result<(), ApiError> {
        let acl = self.region.network_acls.lookup(acl_id)?;
        let Some(number) = self::rule_number(rule_number) else {
            return Err(ApiError::bad_param(
                "ruleNumber",
                &rule_number.to_string(),
                "Rule numbers must be in the range 1-32766.",
            ));
        };
        let Some(pos) = acl
            .entries
            .iter()
            .position(|e| e.egress == egress && e.rule_number == number)
        else {
            return Err(entry_not_found(acl_id, number, egress));
        };
        let acl = self
            .region
            .network_acls
            .get_mut(acl_id)
            .expect("found above");
        acl.entries.remove(pos);
        Ok(())
    }

    /// ReplaceNetworkAclAssociation: moves a subnet to another ACL of its VPC; answers the
    /// new association id.
    pub fn replace_network_acl_association(
        &mut self,
        association_id: &NetworkAclAssociationId,
        acl_id: &NetworkAclId,
    ) -> Result<NetworkAclAssociationId, ApiError> {
        let target = self.region.network_acls.lookup(acl_id)?;
        let target_vpc = target.vpc_id.clone();
        let (old_id, subnet_id) = self
            .region
            .network_acls
            .values()
            .find_map(|a| {
                a.associations
                    .iter()
                    .find(|s| &s.id == association_id)
                    .map(|s| (a.id.clone(), s.subnet_id.clone()))
            })
            .ok_or_else(|| Kind::NetworkAclAssoc.not_found(association_id))?;
        let subnet_vpc = self
            .region
            .subnets
            .get(&subnet_id)
            .map(|s| s.vpc_id.clone())
            .unwrap_or_default();
        if subnet_vpc != target_vpc {
            return Err(ApiError::invalid_value(format!(
                "Network ACL {acl_id} and subnet {subnet_id} belong to different networks."
            )));
        }
        let old = self
            .region
            .network_acls
            .get_mut(&old_id)
            .expect("found above");
        old.associations.retain(|s| &s.id != association_id);
        let new_id = NetworkAclAssociationId::new();
        let acl = self
            .region
            .network_acls
            .get_mut(acl_id)
            .expect("found above");
        acl.associations.push(NetworkAclAssociation {
            id: new_id.clone(),
            subnet_id,
        });
        Ok(new_id)
    }
}

fn entry_not_found(acl_id: &str, rule_number: u16, egress: bool) -> ApiError {
    let dir = if egress { "egress" } else { "ingress" };
    ApiError::new(
        ErrorCode::InvalidNetworkAclEntryNotFound,
        format!(
            "The network acl entry identified by {rule_number} ({dir}) does not exist in {acl_id}."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> NetworkAclEntryRequest {
        NetworkAclEntryRequest {
            network_acl_id: NetworkAclId::parse("acl-12345678").unwrap(),
            rule_number: 100,
            protocol: "6".into(),
            rule_action: "allow".into(),
            egress: false,
            cidr_block: Some("10.0.0.0/8".into()),
            port_from: Some(22),
            port_to: Some(22),
            ..Default::default()
        }
    }

    #[test]
    fn protocols() {
        let parse_acl_protocol = IpProtocol::parse_network_acl;
        assert_eq!(parse_acl_protocol("-1").unwrap().as_i16(), -1);
        assert_eq!(parse_acl_protocol("tcp").unwrap().as_i16(), 6);
        assert_eq!(parse_acl_protocol("50").unwrap().as_i16(), 50);
        assert!(parse_acl_protocol("256").is_err());
        assert!(parse_acl_protocol("-2").is_err());
        assert!(parse_acl_protocol("banana").is_err());
    }

    #[test]
    fn entries_are_validated() {
        let e = build_entry(&req()).unwrap();
        assert_eq!(e.port_range, Some((22, 22)));
        let code = |r: NetworkAclEntryRequest| build_entry(&r).unwrap_err().code;
        assert_eq!(
            code(NetworkAclEntryRequest {
                rule_number: 32767,
                ..req()
            }),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(NetworkAclEntryRequest {
                rule_number: 0,
                ..req()
            }),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(NetworkAclEntryRequest {
                port_to: None,
                ..req()
            }),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(NetworkAclEntryRequest {
                port_from: Some(80),
                port_to: Some(70),
                ..req()
            }),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(NetworkAclEntryRequest {
                rule_action: "maybe".into(),
                ..req()
            }),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(NetworkAclEntryRequest {
                cidr_block: None,
                ..req()
            }),
            "MissingParameter"
        );
        assert_eq!(
            code(NetworkAclEntryRequest {
                ipv6_cidr_block: Some("::/0".into()),
                ..req()
            }),
            "InvalidParameterCombination"
        );
        assert_eq!(
            code(NetworkAclEntryRequest {
                protocol: "1".into(),
                ..req()
            }),
            "InvalidParameterValue"
        );
        let icmp = build_entry(&NetworkAclEntryRequest {
            protocol: "1".into(),
            icmp_type: Some(8),
            icmp_code: Some(-1),
            ..req()
        })
        .unwrap();
        assert_eq!((icmp.icmp, icmp.port_range), (Some((8, -1)), None));
        let all = build_entry(&NetworkAclEntryRequest {
            protocol: "-1".into(),
            port_from: None,
            ..req()
        })
        .unwrap();
        assert_eq!(all.port_range, None, "ports do not apply to all protocols");
        let v6 = build_entry(&NetworkAclEntryRequest {
            cidr_block: None,
            ipv6_cidr_block: Some("2001:db8::1/32".into()),
            ..req()
        })
        .unwrap();
        assert_eq!(v6.ipv6_cidr.as_deref(), Some("2001:db8::/32"));
    }
}
