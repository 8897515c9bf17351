//! Network ACLs: stateless, numbered allow/deny entries at subnet boundaries.

use fort_model::*;

use crate::Tx;

impl Tx<'_> {
    /// A new ACL of a VPC. The default one allows everything (rule 100 both ways); a
    /// custom one holds only the implied final denies.
    pub(crate) fn new_network_acl(
        &mut self,
        vpc_id: &str,
        is_default: bool,
        client_token: Option<String>,
        tags: Tags,
    ) -> String {
        let entries = if is_default {
            [false, true]
                .into_iter()
                .map(|egress| NetworkAclEntry {
                    rule_number: 100,
                    protocol: -1,
                    allow: true,
                    egress,
                    cidr: Some("0.0.0.0/0".parse().expect("literal")),
                    ipv6_cidr: None,
                    port_range: None,
                    icmp: None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let acl = NetworkAcl {
            id: Kind::NetworkAcl.new_id(),
            vpc_id: vpc_id.to_owned(),
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
    pub(crate) fn associate_default_network_acl(&mut self, acl_id: &str, subnet_id: &str) {
        if let Some(acl) = self.region.network_acls.get_mut(acl_id) {
            acl.associations.push(NetworkAclAssociation {
                id: Kind::NetworkAclAssoc.new_id(),
                subnet_id: subnet_id.to_owned(),
            });
        }
    }
}
