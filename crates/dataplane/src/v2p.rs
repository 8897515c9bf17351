//! V2P: where each private address of a VPC lives.
//!
//! A host holds every mapping of the VPCs it serves (tens of thousands for a large VPC),
//! so an entry is 28 bytes: the host, the MAC, the source/dest check, the ENI id packed
//! into 12 bytes and the entry's dependency slot. Everything derived from the entries
//! (middlebox hosts, the ENIs route tables name) is kept up to date per change, so an
//! update costs O(1) whatever the size of the VPC.

use crate::flow_table::{Addr6, BuildFxHasher, Epochs};
use crate::program;
use crate::wire::MacAddr;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An ENI id in 12 bytes: `eni-` followed by up to 22 lowercase hex digits (EC2's have
/// 17) is packed as nibbles behind its digit count; any other id is interned by the VPC's
/// table and marked [`INTERNED`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EniId([u8; 12]);

const INTERNED: u8 = 0xff;
const MAX_DIGITS: usize = 22;

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl EniId {
    /// The packed form of `id`, if it has one.
    fn packed(id: &str) -> Option<EniId> {
        let hex = id.strip_prefix("eni-")?;
        if hex.is_empty() || hex.len() > MAX_DIGITS {
            return None;
        }
        let mut b = [0u8; 12];
        b[0] = u8::try_from(hex.len()).ok()?;
        for (i, c) in hex.bytes().enumerate() {
            let n = nibble(c)?;
            b[1 + i / 2] |= if i % 2 == 0 { n << 4 } else { n };
        }
        Some(EniId(b))
    }

    fn interned(index: u32) -> EniId {
        let mut b = [0u8; 12];
        b[0] = INTERNED;
        b[1..5].copy_from_slice(&index.to_be_bytes());
        EniId(b)
    }
}

/// ENI ids as [`EniId`]s: packed when they pack, else interned here (for as long as
/// the table lives: such ids are rare, tests' and imports').
#[derive(Default)]
struct EniNames {
    names: Vec<String>,
    interned: HashMap<String, u32>,
}

impl EniNames {
    fn lookup(&self, eni: &str) -> Option<EniId> {
        EniId::packed(eni).or_else(|| self.interned.get(eni).map(|&i| EniId::interned(i)))
    }

    fn pack(&mut self, eni: &str) -> EniId {
        if let Some(id) = self.lookup(eni) {
            return id;
        }
        // 4 billion distinct non-hex ENI ids would not fit in memory first; should
        // they, the last ones share the last index (decisions read V2P by address)
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(eni.to_string());
        self.interned.insert(eni.to_string(), i);
        EniId::interned(i)
    }

    fn name(&self, eni: &EniId) -> String {
        let b = &eni.0;
        if b[0] == INTERNED {
            let i = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
            return self.names[i as usize].clone();
        }
        let mut s = String::with_capacity(4 + usize::from(b[0]));
        s.push_str("eni-");
        for i in 0..usize::from(b[0]) {
            let n = if i % 2 == 0 {
                b[1 + i / 2] >> 4
            } else {
                b[1 + i / 2] & 0x0f
            };
            s.push(char::from_digit(u32::from(n), 16).expect("nibble"));
        }
        s
    }
}

/// One V2P entry as the engine holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Underlay address of the host holding the ENI.
    pub host: Ipv4Addr,
    pub mac: MacAddr,
    pub source_dest_check: bool,
    pub eni: EniId,
    /// Dependency slot: bumped when the entry changes or goes.
    pub dep: u32,
}

/// An ENI that a route targets (a middlebox): its addresses here, and a slot that
/// changes with them.
struct Target {
    dep: u32,
    ips: Vec<Ipv4Addr>,
}

/// The V2P entries of one VPC.
pub struct V2p {
    entries: HashMap<Ipv4Addr, Mapping, BuildFxHasher>,
    /// Slot of decisions taken on an address having no entry: bumped whenever an entry
    /// appears, so such decisions are revisited.
    absent: u32,
    targets: HashMap<EniId, Target, BuildFxHasher>,
    /// Entries with the check off, per host: those hosts may send for others.
    middleboxes: HashMap<Ipv4Addr, u32, BuildFxHasher>,
    middlebox_hosts: Vec<Ipv4Addr>,
    names: EniNames,
}

impl V2p {
    pub fn new(epochs: &mut Epochs) -> V2p {
        V2p {
            entries: HashMap::default(),
            absent: epochs.alloc(),
            targets: HashMap::default(),
            middleboxes: HashMap::default(),
            middlebox_hosts: Vec::new(),
            names: EniNames::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    pub fn get(&self, ip: Ipv4Addr) -> Option<&Mapping> {
        self.entries.get(&ip)
    }

    /// The slot a decision taken on `ip` depends on: its entry's, or the absence slot.
    #[inline]
    pub fn dep_of(&self, ip: Ipv4Addr) -> (u32, Option<&Mapping>) {
        match self.entries.get(&ip) {
            Some(m) => (m.dep, Some(m)),
            None => (self.absent, None),
        }
    }

    /// Hosts of ENIs with source/dest check off, sorted.
    pub fn middlebox_hosts(&self) -> &[Ipv4Addr] {
        &self.middlebox_hosts
    }

    /// The slot and entry of a route's target ENI; `None` for an ENI no route names.
    pub fn target(&self, eni: &str) -> Option<(u32, Option<&Mapping>)> {
        let t = self.targets.get(&self.lookup(eni)?)?;
        Some((t.dep, t.ips.first().and_then(|ip| self.entries.get(ip))))
    }

    /// [`V2p::target`] with the address its entry is found by (the ENI's lowest here):
    /// a transit gateway's walk to an appliance finds the appliance's subnet by it.
    pub fn target_at(&self, eni: &str) -> Option<(u32, Option<(Ipv4Addr, &Mapping)>)> {
        let t = self.targets.get(&self.lookup(eni)?)?;
        let at = t
            .ips
            .first()
            .and_then(|ip| Some((*ip, self.entries.get(ip)?)));
        Some((t.dep, at))
    }

    fn lookup(&self, eni: &str) -> Option<EniId> {
        self.names.lookup(eni)
    }

    fn pack(&mut self, eni: &str) -> EniId {
        self.names.pack(eni)
    }

    /// The id `eni` stands for.
    pub fn eni_name(&self, eni: &EniId) -> String {
        self.names.name(eni)
    }

    /// Adds or changes the entry of `m.ip`. Returns true when the set of middlebox
    /// hosts changed (the VPC's own slot must move).
    pub fn upsert(&mut self, m: &program::Mapping, epochs: &mut Epochs) -> bool {
        let eni = self.pack(&m.eni_id);
        let new = |dep| Mapping {
            host: m.host,
            mac: m.mac,
            source_dest_check: m.source_dest_check,
            eni,
            dep,
        };
        let old = match self.entries.get_mut(&m.ip) {
            Some(e) => {
                if *e == new(e.dep) {
                    return false;
                }
                let old = *e;
                *e = new(e.dep);
                epochs.bump(e.dep);
                Some(old)
            }
            None => {
                self.entries.insert(m.ip, new(epochs.alloc()));
                epochs.bump(self.absent);
                None
            }
        };
        let mut changed = false;
        if let Some(old) = old {
            changed |= self.forget(m.ip, &old, epochs);
        }
        changed | self.account(m.ip, &new(0), epochs)
    }

    /// Removes the entry of `ip`. `None` if there was none, else whether the middlebox
    /// hosts changed.
    pub fn remove(&mut self, ip: Ipv4Addr, epochs: &mut Epochs) -> Option<bool> {
        let old = self.entries.remove(&ip)?;
        epochs.release(old.dep);
        Some(self.forget(ip, &old, epochs))
    }

    /// Makes the entries exactly `mappings`: unchanged entries keep their slots (and the
    /// decisions cached on them). Returns whether the middlebox hosts changed.
    pub fn sync(&mut self, mappings: &[program::Mapping], epochs: &mut Epochs) -> bool {
        let keep: std::collections::HashSet<Ipv4Addr, BuildFxHasher> =
            mappings.iter().map(|m| m.ip).collect();
        let gone: Vec<Ipv4Addr> = self
            .entries
            .keys()
            .filter(|ip| !keep.contains(ip))
            .copied()
            .collect();
        let mut changed = false;
        for ip in gone {
            changed |= self.remove(ip, epochs).unwrap_or(false);
        }
        for m in mappings {
            changed |= self.upsert(m, epochs);
        }
        changed
    }

    /// The ENIs route tables name: new ones get a slot and their addresses (a scan, only
    /// when a route to an ENI appears), gone ones release theirs.
    pub fn set_targets<'a>(&mut self, enis: impl Iterator<Item = &'a str>, epochs: &mut Epochs) {
        let wanted: Vec<EniId> = enis.map(|e| self.pack(e)).collect();
        let gone: Vec<EniId> = self
            .targets
            .keys()
            .filter(|k| !wanted.contains(k))
            .copied()
            .collect();
        for k in gone {
            if let Some(t) = self.targets.remove(&k) {
                epochs.release(t.dep);
            }
        }
        for k in wanted {
            if self.targets.contains_key(&k) {
                continue;
            }
            let mut ips: Vec<Ipv4Addr> = self
                .entries
                .iter()
                .filter(|(_, m)| m.eni == k)
                .map(|(ip, _)| *ip)
                .collect();
            ips.sort();
            self.targets.insert(
                k,
                Target {
                    dep: epochs.alloc(),
                    ips,
                },
            );
        }
    }

    /// Gives back every slot (the VPC leaves the host).
    pub fn release(self, epochs: &mut Epochs) {
        epochs.release(self.absent);
        for m in self.entries.values() {
            epochs.release(m.dep);
        }
        for t in self.targets.values() {
            epochs.release(t.dep);
        }
    }

    /// The entries as the program has them, by address.
    pub fn to_program(&self) -> Vec<program::Mapping> {
        let mut v: Vec<program::Mapping> = self
            .entries
            .iter()
            .map(|(ip, m)| program::Mapping {
                ip: *ip,
                host: m.host,
                mac: m.mac,
                eni_id: self.eni_name(&m.eni),
                source_dest_check: m.source_dest_check,
            })
            .collect();
        v.sort_by_key(|m| m.ip);
        v
    }

    fn account(&mut self, ip: Ipv4Addr, m: &Mapping, epochs: &mut Epochs) -> bool {
        if let Some(t) = self.targets.get_mut(&m.eni) {
            if !t.ips.contains(&ip) {
                t.ips.push(ip);
                t.ips.sort();
            }
            epochs.bump(t.dep);
        }
        if m.source_dest_check {
            return false;
        }
        let n = self.middleboxes.entry(m.host).or_insert(0);
        *n += 1;
        *n == 1 && self.recompute_middleboxes()
    }

    fn forget(&mut self, ip: Ipv4Addr, m: &Mapping, epochs: &mut Epochs) -> bool {
        if let Some(t) = self.targets.get_mut(&m.eni) {
            t.ips.retain(|x| *x != ip);
            epochs.bump(t.dep);
        }
        if m.source_dest_check {
            return false;
        }
        let Some(n) = self.middleboxes.get_mut(&m.host) else {
            return false;
        };
        *n -= 1;
        if *n > 0 {
            return false;
        }
        self.middleboxes.remove(&m.host);
        self.recompute_middleboxes()
    }

    fn recompute_middleboxes(&mut self) -> bool {
        let mut h: Vec<Ipv4Addr> = self.middleboxes.keys().copied().collect();
        h.sort();
        let changed = h != self.middlebox_hosts;
        self.middlebox_hosts = h;
        changed
    }
}

/// One IPv6 V2P entry as the engine holds it: as an IPv4 entry, 28 bytes (44 with its
/// address in the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping6 {
    pub host: Ipv4Addr,
    pub mac: MacAddr,
    pub source_dest_check: bool,
    pub eni: EniId,
    /// Dependency slot: bumped when the entry changes or goes.
    pub dep: u32,
}

/// The IPv6 V2P entries of one VPC. They come whole with each program (no deltas), so
/// this keeps only what decisions read: the entries, the absence slot and the hosts
/// that may send for others.
pub struct V2p6 {
    entries: HashMap<Addr6, Mapping6, BuildFxHasher>,
    absent: u32,
    middlebox_hosts: Vec<Ipv4Addr>,
    names: EniNames,
}

impl V2p6 {
    pub fn new(epochs: &mut Epochs) -> V2p6 {
        V2p6 {
            entries: HashMap::default(),
            absent: epochs.alloc(),
            middlebox_hosts: Vec::new(),
            names: EniNames::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    pub fn get(&self, ip: Ipv6Addr) -> Option<&Mapping6> {
        self.entries.get(&Addr6(ip))
    }

    /// The slot a decision taken on `ip` depends on: its entry's, or the absence slot.
    #[inline]
    pub fn dep_of(&self, ip: Ipv6Addr) -> (u32, Option<&Mapping6>) {
        match self.entries.get(&Addr6(ip)) {
            Some(m) => (m.dep, Some(m)),
            None => (self.absent, None),
        }
    }

    /// Hosts of ENIs with source/dest check off, sorted.
    pub fn middlebox_hosts(&self) -> &[Ipv4Addr] {
        &self.middlebox_hosts
    }

    /// Makes the entries exactly `mappings`: unchanged entries keep their slots (and the
    /// decisions cached on them), changed ones move theirs, gone ones release theirs.
    /// Returns whether the middlebox hosts changed.
    pub fn sync(&mut self, mappings: &[program::Mapping6], epochs: &mut Epochs) -> bool {
        let keep: std::collections::HashSet<Addr6, BuildFxHasher> =
            mappings.iter().map(|m| Addr6(m.ip)).collect();
        self.entries.retain(|ip, m| {
            let k = keep.contains(ip);
            if !k {
                epochs.release(m.dep);
            }
            k
        });
        for m in mappings {
            let eni = self.names.pack(&m.eni_id);
            let new = |dep| Mapping6 {
                host: m.host,
                mac: m.mac,
                source_dest_check: m.source_dest_check,
                eni,
                dep,
            };
            match self.entries.get_mut(&Addr6(m.ip)) {
                Some(e) if *e == new(e.dep) => {}
                Some(e) => {
                    *e = new(e.dep);
                    epochs.bump(e.dep);
                }
                None => {
                    self.entries.insert(Addr6(m.ip), new(epochs.alloc()));
                    epochs.bump(self.absent);
                }
            }
        }
        let mut hosts: Vec<Ipv4Addr> = self
            .entries
            .values()
            .filter(|m| !m.source_dest_check)
            .map(|m| m.host)
            .collect();
        hosts.sort();
        hosts.dedup();
        let changed = hosts != self.middlebox_hosts;
        self.middlebox_hosts = hosts;
        changed
    }

    /// Gives back every slot (the VPC leaves the host).
    pub fn release(self, epochs: &mut Epochs) {
        epochs.release(self.absent);
        for m in self.entries.values() {
            epochs.release(m.dep);
        }
    }

    /// The entries as the program has them, by address.
    pub fn to_program(&self) -> Vec<program::Mapping6> {
        let mut v: Vec<program::Mapping6> = self
            .entries
            .iter()
            .map(|(ip, m)| program::Mapping6 {
                ip: ip.0,
                host: m.host,
                mac: m.mac,
                eni_id: self.names.name(&m.eni),
                source_dest_check: m.source_dest_check,
            })
            .collect();
        v.sort_by_key(|m| m.ip);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(ip: [u8; 4], host: [u8; 4], eni: &str, check: bool) -> program::Mapping {
        program::Mapping {
            ip: Ipv4Addr::from(ip),
            host: Ipv4Addr::from(host),
            mac: MacAddr([2, 0, 0, 0, 0, ip[3]]),
            eni_id: eni.into(),
            source_dest_check: check,
        }
    }

    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<Mapping>(), 28);
        assert_eq!(std::mem::size_of::<(Ipv4Addr, Mapping)>(), 32);
        assert_eq!(std::mem::size_of::<(Addr6, Mapping6)>(), 44);
        assert_eq!(std::mem::size_of::<crate::flow_table::FlowKey6>(), 40);
        assert_eq!(std::mem::size_of::<crate::conntrack::Key6>(), 40);
    }

    #[test]
    fn ids_round_trip_packed_or_interned() {
        let mut e = Epochs::default();
        let mut v = V2p::new(&mut e);
        for id in [
            "eni-0123456789abcdef0",
            "eni-1",
            "eni-abcdefabcdefabcdefabcd",
            "eni-ABC",
            "eni-",
            "nic-7",
            "eni-0123456789abcdef0123456",
        ] {
            let p = v.pack(id);
            assert_eq!(v.eni_name(&p), id, "{id}");
            assert_eq!(v.lookup(id), Some(p));
        }
        assert_eq!(
            v.names.names.len(),
            4,
            "only the ids that do not pack are interned"
        );
    }

    #[test]
    fn changes_move_only_their_own_slots() {
        let mut e = Epochs::default();
        let mut v = V2p::new(&mut e);
        let a = mapping([10, 0, 0, 5], [127, 0, 0, 2], "eni-a", true);
        let absent = v.dep_of(Ipv4Addr::new(10, 0, 0, 9)).0;
        let before = e.epoch(absent);
        assert!(!v.upsert(&a, &mut e));
        assert_ne!(
            e.epoch(absent),
            before,
            "a new entry revisits decisions on absence"
        );
        let slot = v.get(a.ip).unwrap().dep;
        let epoch = e.epoch(slot);
        v.upsert(&a, &mut e);
        assert_eq!(e.epoch(slot), epoch, "the same entry again changes nothing");
        let moved = program::Mapping {
            host: Ipv4Addr::new(127, 0, 0, 3),
            ..a.clone()
        };
        v.upsert(&moved, &mut e);
        assert_ne!(e.epoch(slot), epoch);
        assert_eq!(v.remove(a.ip, &mut e), Some(false));
        assert_eq!(v.remove(a.ip, &mut e), None);
        assert!(v.is_empty());
    }

    #[test]
    fn middleboxes_and_targets_follow_the_entries() {
        let mut e = Epochs::default();
        let mut v = V2p::new(&mut e);
        v.set_targets(["eni-b"].into_iter(), &mut e);
        let (dep, none) = v.target("eni-b").unwrap();
        assert!(none.is_none());
        let t0 = e.epoch(dep);
        let b1 = mapping([10, 0, 0, 6], [127, 0, 0, 4], "eni-b", false);
        let b2 = mapping([10, 0, 0, 7], [127, 0, 0, 4], "eni-b", false);
        assert!(v.upsert(&b1, &mut e), "first middlebox on the host");
        assert!(!v.upsert(&b2, &mut e), "same host again");
        assert_ne!(e.epoch(dep), t0);
        assert_eq!(v.middlebox_hosts(), &[Ipv4Addr::new(127, 0, 0, 4)]);
        assert_eq!(v.target("eni-b").unwrap().1.unwrap().mac, b1.mac);
        assert_eq!(v.remove(b1.ip, &mut e), Some(false));
        assert_eq!(v.target("eni-b").unwrap().1.unwrap().mac, b2.mac);
        assert_eq!(v.remove(b2.ip, &mut e), Some(true));
        assert!(v.middlebox_hosts().is_empty());
        assert!(v.target("eni-b").unwrap().1.is_none());
        assert!(v.target("eni-c").is_none());
    }

    #[test]
    fn sync_keeps_unchanged_slots() {
        let mut e = Epochs::default();
        let mut v = V2p::new(&mut e);
        let a = mapping([10, 0, 0, 5], [127, 0, 0, 2], "eni-a", true);
        let b = mapping([10, 0, 0, 6], [127, 0, 0, 2], "eni-b", true);
        v.sync(&[a.clone(), b.clone()], &mut e);
        let sa = v.get(a.ip).unwrap().dep;
        let ea = e.epoch(sa);
        v.sync(std::slice::from_ref(&a), &mut e);
        assert_eq!(e.epoch(sa), ea);
        assert!(v.get(b.ip).is_none());
        assert_eq!(v.to_program(), vec![a]);
    }

    #[test]
    fn ipv6_sync_moves_only_changed_slots() {
        let mut e = Epochs::default();
        let mut v = V2p6::new(&mut e);
        let m = |ip: &str, host: [u8; 4], check: bool| program::Mapping6 {
            ip: ip.parse().unwrap(),
            host: Ipv4Addr::from(host),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            eni_id: "eni-a".into(),
            source_dest_check: check,
        };
        let a = m("2600:1f00::5", [127, 0, 0, 2], true);
        let b = m("2600:1f00::6", [127, 0, 0, 3], false);
        let absent = v.dep_of(a.ip).0;
        let before = e.epoch(absent);
        assert!(
            v.sync(&[a.clone(), b.clone()], &mut e),
            "a middlebox host appears"
        );
        assert_ne!(e.epoch(absent), before);
        assert_eq!(v.middlebox_hosts(), &[Ipv4Addr::new(127, 0, 0, 3)]);
        let sa = v.get(a.ip).unwrap().dep;
        let (ea, sb) = (e.epoch(sa), v.get(b.ip).unwrap().dep);
        let eb = e.epoch(sb);
        let b2 = m("2600:1f00::6", [127, 0, 0, 4], false);
        assert!(v.sync(&[a.clone(), b2.clone()], &mut e));
        assert_eq!(e.epoch(sa), ea, "unchanged entry keeps its epoch");
        assert_ne!(e.epoch(sb), eb);
        assert!(v.sync(std::slice::from_ref(&a), &mut e));
        assert!(v.get(b.ip).is_none());
        assert_eq!(v.to_program(), vec![a]);
    }
}
