//! What an instance agent keeps of its program between updates.
//!
//! V2P entries are most of a host's items (one per address of every VPC it serves), so
//! the agent does not keep them: each update hands them to the engine, which holds them
//! compactly ([`fort_dataplane::Engine::upsert_mapping`]). Group members (one item per
//! address and group) are kept as addresses. The rest — ports, VPC headers, subnets, route
//! tables, ACLs, groups — is small and kept as received, copied out of the message so
//! the message's buffer (which holds the V2P entries too) is freed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use fort_dataplane::Engine;
use fort_dataplane::program as dp;
use fort_proto::mapping::ProgramUpdate;
use prost::bytes::Bytes;

use crate::client::Gap;
use crate::derive::{self, Items};

/// One V2P change, in the order received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2pChange {
    Put {
        vpc_id: String,
        mapping: dp::Mapping,
    },
    Delete {
        vpc_id: String,
        ip: Ipv4Addr,
    },
}

/// What one update changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The update was a snapshot: V2P is exactly the puts in `v2p`.
    pub snapshot: bool,
    /// Something other than V2P changed: assemble the structure again.
    pub structure: bool,
    pub v2p: Vec<V2pChange>,
}

/// The agent's program minus V2P, and where it stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostState {
    pub epoch: u64,
    pub generation: u64,
    items: Items,
    /// (VPC, group) → member addresses.
    members: BTreeMap<(String, String), BTreeSet<Ipv4Addr>>,
}

fn map_key(key: &str) -> Option<(&str, Ipv4Addr)> {
    let mut p = key.strip_prefix("map/")?.split('/');
    Some((p.next()?, p.next()?.parse().ok()?))
}

fn member_key(key: &str) -> Option<((String, String), Ipv4Addr)> {
    let mut p = key.strip_prefix("member/")?.split('/');
    let (vpc, group) = (p.next()?, p.next()?);
    Some(((vpc.to_owned(), group.to_owned()), p.next()?.parse().ok()?))
}

impl HostState {
    /// Applies one update in order: `Ok(None)` for a duplicate already applied.
    pub fn apply(&mut self, u: &ProgramUpdate) -> Result<Option<Applied>, Gap> {
        if !crate::client::follows(self.epoch, self.generation, u)? {
            return Ok(None);
        }
        let mut out = Applied {
            snapshot: u.snapshot,
            structure: u.snapshot,
            v2p: Vec::new(),
        };
        if u.snapshot {
            self.items.clear();
            self.members.clear();
        }
        for key in &u.delete {
            if let Some((vpc, ip)) = map_key(key) {
                out.v2p.push(V2pChange::Delete {
                    vpc_id: vpc.to_owned(),
                    ip,
                });
            } else if let Some((group, ip)) = member_key(key) {
                if let Some(set) = self.members.get_mut(&group) {
                    out.structure |= set.remove(&ip);
                    if set.is_empty() {
                        self.members.remove(&group);
                    }
                }
            } else {
                out.structure |= self.items.remove(key).is_some();
            }
        }
        for item in &u.put {
            if let Some((vpc, _)) = map_key(&item.key) {
                match serde_json::from_slice::<dp::Mapping>(&item.value) {
                    Ok(mapping) => out.v2p.push(V2pChange::Put {
                        vpc_id: vpc.to_owned(),
                        mapping,
                    }),
                    Err(e) => tracing::warn!(key = item.key, error = %e, "bad V2P item skipped"),
                }
            } else if let Some((group, ip)) = member_key(&item.key) {
                out.structure |= self.members.entry(group).or_default().insert(ip);
            } else if self.items.get(&item.key) != Some(&item.value) {
                self.items
                    .insert(item.key.clone(), Bytes::copy_from_slice(&item.value));
                out.structure = true;
            }
        }
        self.epoch = u.epoch;
        self.generation = u.generation;
        Ok(Some(out))
    }

    /// The host program without V2P.
    pub fn structure(&self, underlay: dp::Underlay) -> Result<dp::HostProgram, serde_json::Error> {
        let mut p = derive::assemble(underlay, &self.items)?;
        for v in &mut p.vpcs {
            for g in &mut v.security_groups {
                if let Some(set) = self.members.get(&(v.id.clone(), g.id.clone())) {
                    g.members = set.iter().copied().collect();
                }
            }
        }
        Ok(p)
    }

    /// Items held (V2P excluded; members count one each).
    pub fn len(&self) -> usize {
        self.items.len() + self.members.values().map(BTreeSet::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything: the next session starts from a snapshot.
    pub fn reset(&mut self) {
        *self = HostState::default();
    }
}

/// V2P changes on their way to the engine, coalesced: a snapshot drops what came before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V2pQueue {
    /// Clear V2P before the changes (a snapshot came).
    replace: bool,
    changes: Vec<V2pChange>,
}

impl V2pQueue {
    pub fn push(&mut self, snapshot: bool, changes: Vec<V2pChange>) {
        if snapshot {
            self.replace = true;
            self.changes.clear();
        }
        self.changes.extend(changes);
    }

    pub fn is_empty(&self) -> bool {
        !self.replace && self.changes.is_empty()
    }

    /// Programs `engine`: the new structure if there is one, then V2P in order.
    pub fn apply_to(self, engine: &mut Engine, structure: Option<dp::HostProgram>) {
        if self.replace {
            let mut p = structure.unwrap_or_else(|| engine.structure().clone());
            p.vpcs.iter_mut().for_each(|v| v.mappings.clear());
            engine.set_program(p);
        } else if let Some(s) = structure {
            engine.set_structure(s);
        }
        for c in self.changes {
            match c {
                V2pChange::Put { vpc_id, mapping } => engine.upsert_mapping(&vpc_id, mapping),
                V2pChange::Delete { vpc_id, ip } => engine.remove_mapping(&vpc_id, ip),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Cache;
    use fort_proto::mapping::Item;

    fn item(key: &str, value: &[u8]) -> Item {
        Item {
            key: key.into(),
            value: Bytes::copy_from_slice(value),
        }
    }

    fn mapping(ip: &str) -> Vec<u8> {
        serde_json::to_vec(&dp::Mapping {
            ip: ip.parse().unwrap(),
            host: "127.0.0.2".parse().unwrap(),
            mac: Default::default(),
            eni_id: "eni-1".into(),
            source_dest_check: true,
        })
        .unwrap()
    }

    fn vpc_header() -> Vec<u8> {
        serde_json::to_vec(&dp::Vpc {
            id: "vpc-1".into(),
            vni: 7,
            cidrs: vec!["10.0.0.0/16".parse().unwrap()],
            router_mac: Default::default(),
            subnets: vec![],
            route_tables: vec![],
            network_acls: vec![],
            security_groups: vec![],
            dhcp: Default::default(),
            mappings: vec![],
            edges: vec![],
            peerings: vec![],
        })
        .unwrap()
    }

    fn update(
        base: u64,
        generation: u64,
        snapshot: bool,
        put: Vec<Item>,
        delete: &[&str],
    ) -> ProgramUpdate {
        ProgramUpdate {
            epoch: 1,
            base_generation: base,
            generation,
            snapshot,
            put,
            delete: delete.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The state plus the V2P changes, applied in order, assemble the same program as
    /// a cache that keeps every item.
    #[test]
    fn agrees_with_the_whole_cache() {
        let sg = serde_json::to_vec(&dp::SecurityGroup {
            id: "sg-1".into(),
            ingress: vec![],
            egress: vec![],
            members: vec![],
        })
        .unwrap();
        let updates = [
            update(
                0,
                1,
                true,
                vec![
                    item("vpc/vpc-1", &vpc_header()),
                    item("sg/vpc-1/sg-1", &sg),
                    item("map/vpc-1/10.0.0.5", &mapping("10.0.0.5")),
                    item("member/vpc-1/sg-1/10.0.0.5", b""),
                ],
                &[],
            ),
            update(
                1,
                2,
                false,
                vec![
                    item("map/vpc-1/10.0.0.6", &mapping("10.0.0.6")),
                    item("member/vpc-1/sg-1/10.0.0.6", b""),
                ],
                &[],
            ),
            update(
                2,
                3,
                false,
                vec![],
                &["map/vpc-1/10.0.0.5", "member/vpc-1/sg-1/10.0.0.5"],
            ),
            update(
                3,
                4,
                false,
                vec![item("map/vpc-1/10.0.0.7", &mapping("10.0.0.7"))],
                &[],
            ),
        ];
        let mut state = HostState::default();
        let mut cache = Cache::default();
        let mut engine = fort_dataplane::Engine::new(Default::default());
        for (i, u) in updates.iter().enumerate() {
            let applied = state.apply(u).unwrap().unwrap();
            cache.apply(u).unwrap();
            assert_eq!(applied.structure, i != 3, "update {i}");
            let structure = applied
                .structure
                .then(|| state.structure(dp::Underlay::default()).unwrap());
            let mut queue = V2pQueue::default();
            queue.push(applied.snapshot, applied.v2p);
            queue.apply_to(&mut engine, structure);
            let whole = derive::assemble(dp::Underlay::default(), &cache.items).unwrap();
            assert_eq!(engine.program(), whole, "update {i}");
        }
        assert!(state.apply(&updates[3]).unwrap().is_none(), "a duplicate");
        assert_eq!(state.apply(&update(9, 10, false, vec![], &[])), Err(Gap));
        assert_eq!(state.len(), 3, "vpc, group, one member");
    }
}
