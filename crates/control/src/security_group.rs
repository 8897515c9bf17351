//! Security groups: stateful allow rules per interface, referencing CIDRs or other groups.

use fort_model::*;

use crate::Tx;

impl Tx<'_> {
    /// The `default` group of a new VPC: all traffic in from its own members, all out.
    pub(crate) fn new_default_security_group(&mut self, vpc_id: &str) -> String {
        let id = Kind::SecurityGroup.new_id();
        let rules = vec![
            SecurityGroupRule {
                id: Kind::SecurityGroupRule.new_id(),
                egress: false,
                protocol: "-1".into(),
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
            default_egress_rule(),
        ];
        self.region.security_groups.insert(SecurityGroup {
            id: id.clone(),
            name: "default".into(),
            description: "default VPC security group".into(),
            vpc_id: vpc_id.to_owned(),
            rules,
            tags: Tags::new(),
        });
        id
    }
}

/// The egress rule every new group starts with: all protocols to 0.0.0.0/0.
pub(crate) fn default_egress_rule() -> SecurityGroupRule {
    SecurityGroupRule {
        id: Kind::SecurityGroupRule.new_id(),
        egress: true,
        protocol: "-1".into(),
        from_port: -1,
        to_port: -1,
        peer: RulePeer::Cidr("0.0.0.0/0".parse().expect("literal")),
        description: None,
        tags: Tags::new(),
    }
}
