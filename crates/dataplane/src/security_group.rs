//! Security groups: allow-only rules, the union of every group on an ENI, compiled per
//! port and direction (§5.10).
//!
//! CIDR rules are indexed by prefix: one hash map per prefix length present, from
//! network to the (protocol, port range) rules on it. A lookup probes each length once
//! (typically a handful: /0, /8, /16, /24, /32) and checks only the rules on the peer's
//! own prefixes, so 1,000 rules per ENI cost about what 10 do. The `/0` level is probed
//! first, so the first match also answers "allowed by a rule for all addresses?" (the
//! first half of AWS's untracked-flow test). Paid once per new flow, never per cached
//! packet.
//!
//! IPv4 and IPv6 rules are compiled apart ([`RuleSet`] over `u32` addresses, [`RuleSet6`]
//! over `u128`): a `CidrIp` rule never matches an IPv6 packet nor a `CidrIpv6` rule an
//! IPv4 one; a rule naming a group matches its members' addresses of the packet's family.

use crate::flow_table::BuildFxHasher;
use crate::nacl::{ANY, icmp_range};
use crate::program::{self, SgPeer};
use crate::wire::ip_proto;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::BitAnd;
use std::sync::Arc;

/// An address as the rule sets hold it: `u32` (IPv4) or `u128` (IPv6).
pub trait Bits: Copy + Eq + Ord + Hash + Default + BitAnd<Output = Self> + std::fmt::Debug {
    /// The address family's ICMP: ICMP for IPv4, ICMPv6 for IPv6 (its rules take a
    /// type and code).
    const ICMP: u8;
    /// The zero mask (`/0`).
    const ZERO: Self;
    /// The (network, mask) of a rule's peer in this family, if it names a block of it.
    fn block(peer: &SgPeer) -> Option<(Self, Self)>;
    /// A group's members in this family.
    fn members(g: &program::SecurityGroup) -> Vec<Self>;
}

impl Bits for u32 {
    const ICMP: u8 = ip_proto::ICMP;
    const ZERO: u32 = 0;
    fn block(peer: &SgPeer) -> Option<(u32, u32)> {
        match peer {
            SgPeer::Cidr(net) => {
                let mask = u32::from(net.netmask());
                Some((u32::from(net.network()) & mask, mask))
            }
            _ => None,
        }
    }
    fn members(g: &program::SecurityGroup) -> Vec<u32> {
        g.members.iter().map(|a| u32::from(*a)).collect()
    }
}

impl Bits for u128 {
    const ICMP: u8 = ip_proto::ICMPV6;
    const ZERO: u128 = 0;
    fn block(peer: &SgPeer) -> Option<(u128, u128)> {
        match peer {
            SgPeer::Cidr6(net) => {
                let mask = u128::from(net.netmask());
                Some((u128::from(net.network()) & mask, mask))
            }
            _ => None,
        }
    }
    fn members(g: &program::SecurityGroup) -> Vec<u128> {
        g.members_v6.iter().map(|a| u128::from(*a)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    lo: u16,
    hi: u16,
    proto: u16,
}

impl Rule {
    #[inline]
    fn matches(&self, proto: u16, port: u16) -> bool {
        (self.proto == ANY || self.proto == proto) && self.lo <= port && port <= self.hi
    }
}

/// One prefix length: its mask and the rules per network.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Level<B: Bits> {
    mask: B,
    rules: HashMap<B, Vec<Rule>, BuildFxHasher>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupRule<B: Bits> {
    proto: u16,
    lo: u16,
    hi: u16,
    /// Sorted addresses of the referenced group's members, shared by every rule and
    /// port that references the group (a VPC-wide group can have tens of thousands).
    members: Arc<[B]>,
}

/// The compiled rules of one direction of one port, for one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetOf<B: Bits> {
    /// By prefix length, shortest (`/0`) first.
    levels: Vec<Level<B>>,
    count: usize,
    groups: Vec<GroupRule<B>>,
    /// A rule for all addresses and all ports, per TCP and UDP: the second half of the
    /// untracked test, looked at in the opposite direction.
    open_all: [bool; 2],
}

impl<B: Bits> Default for RuleSetOf<B> {
    fn default() -> Self {
        RuleSetOf {
            levels: Vec::new(),
            count: 0,
            groups: Vec::new(),
            open_all: [false; 2],
        }
    }
}

/// IPv4 rules.
pub type RuleSet = RuleSetOf<u32>;
/// IPv6 rules.
pub type RuleSet6 = RuleSetOf<u128>;

/// How a packet fared against a rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Denied,
    /// `any_address`: a rule for `0.0.0.0/0` (`::/0`) matched.
    Allowed {
        any_address: bool,
    },
}

fn port_range(r: &program::SgRule, proto: u16, icmp: u8) -> (u16, u16) {
    if proto == ANY {
        return (0, 0xffff);
    }
    // clamped to the target type's range: the conversions cannot fail
    let u16_of = |v: i32| u16::try_from(v.clamp(0, 0xffff)).unwrap_or(u16::MAX);
    let i16_of = |v: i32| i16::try_from(v.clamp(-1, 255)).unwrap_or(-1);
    match u8::try_from(proto) {
        Ok(ip_proto::TCP | ip_proto::UDP) => {
            if r.from_port < 0 {
                (0, 0xffff)
            } else {
                (u16_of(r.from_port), u16_of(r.to_port))
            }
        }
        Ok(p) if p == icmp => icmp_range(i16_of(r.from_port), i16_of(r.to_port)),
        _ => (0, 0xffff),
    }
}

/// Group id → its members' addresses of one family, sorted.
pub type MembersOf<'a, B> = HashMap<&'a str, Arc<[B]>>;
/// Group id → its members' private IPv4 addresses, sorted.
pub type Members<'a> = MembersOf<'a, u32>;
/// Group id → its members' IPv6 addresses, sorted.
pub type Members6<'a> = MembersOf<'a, u128>;

/// The member lists of `groups`, in family `B`.
pub fn members_of<'a, B: Bits>(
    groups: impl IntoIterator<Item = &'a program::SecurityGroup>,
) -> MembersOf<'a, B> {
    groups
        .into_iter()
        .map(|g| {
            let mut m = B::members(g);
            m.sort_unstable();
            m.dedup();
            (g.id.as_str(), Arc::from(m))
        })
        .collect()
}

impl<B: Bits> RuleSetOf<B> {
    /// The rules of `rules` whose peer is a block of this family or a group.
    pub fn compile<'a>(
        rules: impl Iterator<Item = &'a program::SgRule>,
        members: &MembersOf<'_, B>,
    ) -> Self {
        let mut set = Self::default();
        for r in rules {
            let proto = if r.protocol < 0 {
                ANY
            } else {
                r.protocol as u16 & 0xff
            };
            let (lo, hi) = port_range(r, proto, B::ICMP);
            let block = B::block(&r.peer);
            match (&r.peer, block) {
                (_, Some((network, mask))) => {
                    let level = match set.levels.iter().position(|l| l.mask == mask) {
                        Some(i) => i,
                        None => {
                            set.levels.push(Level {
                                mask,
                                rules: HashMap::default(),
                            });
                            set.levels.len() - 1
                        }
                    };
                    let list = set.levels[level].rules.entry(network).or_default();
                    let rule = Rule { lo, hi, proto };
                    if !list.contains(&rule) {
                        list.push(rule);
                        set.count += 1;
                    }
                    if mask == B::ZERO && lo == 0 && hi == 0xffff {
                        let p = u8::try_from(proto).ok();
                        if proto == ANY || p == Some(ip_proto::TCP) {
                            set.open_all[0] = true;
                        }
                        if proto == ANY || p == Some(ip_proto::UDP) {
                            set.open_all[1] = true;
                        }
                    }
                }
                (SgPeer::Group(id), None) => {
                    // an unknown group has no members and matches nothing
                    let m = members
                        .get(id.as_str())
                        .cloned()
                        .unwrap_or_else(|| Arc::from([]));
                    set.groups.push(GroupRule {
                        proto,
                        lo,
                        hi,
                        members: m,
                    });
                }
                // a block of the other family
                (_, None) => {}
            }
        }
        // widest prefixes first: a /0 rule, if one matches, is met first
        set.levels.sort_by_key(|l| l.mask);
        set
    }

    /// `peer`: the remote address (destination for egress, source for ingress);
    /// `port`: [`crate::packet::Meta::rule_port`].
    pub fn check_bits(&self, proto: u8, a: B, port: u16) -> Match {
        let p = u16::from(proto);
        for level in &self.levels {
            if let Some(rules) = level.rules.get(&(a & level.mask))
                && rules.iter().any(|r| r.matches(p, port))
            {
                return Match::Allowed {
                    any_address: level.mask == B::ZERO,
                };
            }
        }
        let by_group = self.groups.iter().any(|g| {
            (g.proto == ANY || g.proto == p)
                && g.lo <= port
                && port <= g.hi
                && g.members.binary_search(&a).is_ok()
        });
        if by_group {
            Match::Allowed { any_address: false }
        } else {
            Match::Denied
        }
    }

    /// Whether this direction allows all addresses on all ports for `proto`.
    pub fn open_all(&self, proto: u8) -> bool {
        match proto {
            ip_proto::TCP => self.open_all[0],
            ip_proto::UDP => self.open_all[1],
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.count + self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RuleSet {
    /// [`RuleSetOf::check_bits`] for an IPv4 peer.
    pub fn check(&self, proto: u8, peer: Ipv4Addr, port: u16) -> Match {
        self.check_bits(proto, u32::from(peer), port)
    }
}

/// Both directions of one port: the union of its groups, in one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSecurityOf<B: Bits> {
    pub ingress: RuleSetOf<B>,
    pub egress: RuleSetOf<B>,
}

impl<B: Bits> Default for PortSecurityOf<B> {
    fn default() -> Self {
        PortSecurityOf {
            ingress: RuleSetOf::default(),
            egress: RuleSetOf::default(),
        }
    }
}

/// A port's IPv4 rules.
pub type PortSecurity = PortSecurityOf<u32>;
/// A port's IPv6 rules.
pub type PortSecurity6 = PortSecurityOf<u128>;

/// The decision of one direction, with AWS's tracking rule applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Denied,
    /// Allowed; `tracked` says whether connection tracking must remember the flow.
    Allowed {
        tracked: bool,
    },
}

impl<B: Bits> PortSecurityOf<B> {
    pub fn compile(groups: &[&program::SecurityGroup], all: &[program::SecurityGroup]) -> Self {
        Self::compile_with(groups, &members_of(all))
    }

    /// [`PortSecurityOf::compile`] with the VPC's member lists compiled once for all
    /// its ports.
    pub fn compile_with(groups: &[&program::SecurityGroup], members: &MembersOf<'_, B>) -> Self {
        PortSecurityOf {
            ingress: RuleSetOf::compile(groups.iter().flat_map(|g| g.ingress.iter()), members),
            egress: RuleSetOf::compile(groups.iter().flat_map(|g| g.egress.iter()), members),
        }
    }

    /// A TCP/UDP flow is untracked when a rule for all addresses allows it and the
    /// opposite direction allows all addresses on all ports; ICMP and other protocols
    /// are always tracked (§5.10).
    pub fn decide_bits(&self, egress: bool, proto: u8, peer: B, port: u16) -> Decision {
        let (this, other) = if egress {
            (&self.egress, &self.ingress)
        } else {
            (&self.ingress, &self.egress)
        };
        match this.check_bits(proto, peer, port) {
            Match::Denied => Decision::Denied,
            Match::Allowed { any_address } => Decision::Allowed {
                tracked: !(any_address && other.open_all(proto)),
            },
        }
    }
}

impl PortSecurity {
    /// [`PortSecurityOf::decide_bits`] for an IPv4 peer.
    pub fn decide(&self, egress: bool, proto: u8, peer: Ipv4Addr, port: u16) -> Decision {
        self.decide_bits(egress, proto, u32::from(peer), port)
    }
}

impl PortSecurity6 {
    /// [`PortSecurityOf::decide_bits`] for an IPv6 peer.
    pub fn decide6(&self, egress: bool, proto: u8, peer: Ipv6Addr, port: u16) -> Decision {
        self.decide_bits(egress, proto, u128::from(peer), port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(proto: i16, from: i32, to: i32, cidr: &str) -> program::SgRule {
        program::SgRule {
            protocol: proto,
            from_port: from,
            to_port: to,
            peer: SgPeer::Cidr(cidr.parse().unwrap()),
        }
    }

    fn group(
        id: &str,
        ingress: Vec<program::SgRule>,
        egress: Vec<program::SgRule>,
    ) -> program::SecurityGroup {
        program::SecurityGroup {
            id: id.into(),
            ingress,
            egress,
            members: vec![],
            members_v6: vec![],
        }
    }

    #[test]
    fn default_group_shape() {
        // new group: no ingress, egress all to 0.0.0.0/0
        let g = group("sg-1", vec![], vec![rule(-1, -1, -1, "0.0.0.0/0")]);
        let all = vec![g.clone()];
        let ps = PortSecurity::compile(&[&g], &all);
        let peer = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(
            ps.decide(true, 6, peer, 443),
            Decision::Allowed { tracked: true }
        );
        assert_eq!(ps.decide(false, 6, peer, 22), Decision::Denied);
    }

    #[test]
    fn untracked_needs_both_directions_open() {
        let g = group(
            "sg-1",
            vec![rule(6, 22, 22, "0.0.0.0/0"), rule(1, -1, -1, "0.0.0.0/0")],
            vec![
                rule(6, 0, 65535, "0.0.0.0/0"),
                rule(-1, -1, -1, "0.0.0.0/0"),
            ],
        );
        let all = vec![g.clone()];
        let ps = PortSecurity::compile(&[&g], &all);
        let peer = Ipv4Addr::new(198, 51, 100, 1);
        // ingress ssh from anywhere + egress all tcp to anywhere: untracked
        assert_eq!(
            ps.decide(false, 6, peer, 22),
            Decision::Allowed { tracked: false }
        );
        // ICMP is always tracked
        assert_eq!(
            ps.decide(false, 1, peer, 0x0800),
            Decision::Allowed { tracked: true }
        );
        // egress tcp: ingress is not open on all ports, so tracked
        assert_eq!(
            ps.decide(true, 6, peer, 80),
            Decision::Allowed { tracked: true }
        );
    }

    #[test]
    fn group_reference_matches_members() {
        let mut web = group("sg-web", vec![], vec![]);
        web.members = vec![Ipv4Addr::new(10, 0, 1, 10)];
        let db = group(
            "sg-db",
            vec![program::SgRule {
                protocol: 6,
                from_port: 5432,
                to_port: 5432,
                peer: SgPeer::Group("sg-web".into()),
            }],
            vec![],
        );
        let all = vec![web, db.clone()];
        let ps = PortSecurity::compile(&[&db], &all);
        assert_eq!(
            ps.decide(false, 6, Ipv4Addr::new(10, 0, 1, 10), 5432),
            Decision::Allowed { tracked: true }
        );
        assert_eq!(
            ps.decide(false, 6, Ipv4Addr::new(10, 0, 1, 11), 5432),
            Decision::Denied
        );
        assert_eq!(
            ps.decide(false, 6, Ipv4Addr::new(10, 0, 1, 10), 5433),
            Decision::Denied
        );
    }

    #[test]
    fn icmp_type_code_rules() {
        let g = group(
            "sg-1",
            vec![rule(1, 3, 4, "0.0.0.0/0"), rule(1, 8, -1, "10.0.0.0/8")],
            vec![],
        );
        let all = vec![g.clone()];
        let ps = PortSecurity::compile(&[&g], &all);
        let out = Ipv4Addr::new(192, 0, 2, 1);
        assert!(matches!(
            ps.decide(false, 1, out, 0x0304),
            Decision::Allowed { .. }
        ));
        assert_eq!(ps.decide(false, 1, out, 0x0303), Decision::Denied);
        assert!(matches!(
            ps.decide(false, 1, Ipv4Addr::new(10, 2, 3, 4), 0x0800),
            Decision::Allowed { .. }
        ));
        assert_eq!(ps.decide(false, 1, out, 0x0800), Decision::Denied);
    }
}
