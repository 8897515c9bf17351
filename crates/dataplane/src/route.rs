//! Route tables: longest-prefix match over a multibit trie.
//!
//! Stride 8, four levels, with controlled prefix expansion: a lookup is at most four
//! array reads whatever the table size (AWS allows 1,000 routes per table). Building is
//! done once per program change.

use crate::flow_table::BuildFxHasher;
use crate::program::{self, RouteTarget};
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One trie node: 256 slots, each with the best match so far and an optional child.
#[derive(Clone)]
struct Node {
    slots: Box<[Slot; 256]>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Index into `targets` + 1 (0 = no route), and the prefix length that set it.
    value: u32,
    len: u8,
    /// Index into `nodes` + 1 (0 = none).
    child: u32,
}

/// A compiled table is inconsistent (never, unless a bug broke it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken;

/// A longest-prefix-match table from IPv4 prefixes to `u32` values.
#[derive(Clone)]
pub struct Lpm {
    nodes: Vec<Node>,
}

impl Default for Lpm {
    fn default() -> Lpm {
        Lpm {
            nodes: vec![Node::new()],
        }
    }
}

impl Node {
    fn new() -> Node {
        Node {
            slots: Box::new([Slot::default(); 256]),
        }
    }
}

impl Lpm {
    /// Builds from (prefix, value); on duplicate prefixes the last wins.
    pub fn build(entries: impl IntoIterator<Item = (Ipv4Net, u32)>) -> Lpm {
        let mut lpm = Lpm::default();
        for (net, v) in entries {
            lpm.insert(net.trunc(), v);
        }
        lpm
    }

    fn insert(&mut self, net: Ipv4Net, value: u32) {
        let addr = u32::from(net.addr());
        let len = net.prefix_len();
        let mut node = 0usize;
        let mut level = 0u8;
        // descend while the prefix is longer than this level's 8 bits
        while len > (level + 1) * 8 {
            let idx = ((addr >> (24 - 8 * u32::from(level))) & 0xff) as usize;
            let slot = self.nodes[node].slots[idx];
            node = if slot.child == 0 {
                let mut child = Node::new();
                // the new child inherits the covering route
                for s in child.slots.iter_mut() {
                    s.value = slot.value;
                    s.len = slot.len;
                }
                self.nodes.push(child);
                let c = self.nodes.len();
                // links are u32: a trie of 4 billion 3-KiB nodes cannot exist, but
                // should it, the route is left out rather than linked wrong
                let Ok(link) = u32::try_from(c) else {
                    self.nodes.pop();
                    return;
                };
                self.nodes[node].slots[idx].child = link;
                c - 1
            } else {
                slot.child as usize - 1
            };
            level += 1;
        }
        // expand over the slots this prefix covers at this level
        let bits = len - level * 8; // 0..=8
        let base = if level < 4 {
            ((addr >> (24 - 8 * u32::from(level))) & 0xff) as usize
        } else {
            0
        };
        let span = 1usize << (8 - bits);
        let first = base & !(span - 1);
        for idx in first..first + span {
            self.push_down(node, idx, value + 1, len);
        }
    }

    /// Sets a slot (and the subtree below it) where no longer prefix already holds it.
    fn push_down(&mut self, node: usize, idx: usize, value: u32, len: u8) {
        let slot = self.nodes[node].slots[idx];
        if slot.len <= len {
            let s = &mut self.nodes[node].slots[idx];
            s.value = value;
            s.len = len;
        }
        if slot.child != 0 {
            for i in 0..256 {
                self.push_down(slot.child as usize - 1, i, value, len);
            }
        }
    }

    /// The value of the longest prefix containing `ip`; `Err` if the trie is broken (a
    /// child link to no node), which building never does.
    #[inline]
    pub fn lookup(&self, ip: Ipv4Addr) -> Result<Option<u32>, Broken> {
        let octets = ip.octets();
        let mut node = self.nodes.first().ok_or(Broken)?;
        let mut best = 0u32;
        for octet in octets {
            let slot = node.slots[usize::from(octet)];
            best = slot.value;
            if slot.child == 0 {
                break;
            }
            node = self.nodes.get(slot.child as usize - 1).ok_or(Broken)?;
        }
        Ok(best.checked_sub(1))
    }
}

/// A longest-prefix-match table from IPv6 prefixes to `u32` values: one hash map per
/// prefix length present, probed longest first. A table holds a few lengths (`/0`,
/// the VPC's `/56`, subnets' `/64`, a few more), so a lookup is a few hash probes; a
/// length with one prefix (the local route's, the default route's) is one compare.
#[derive(Clone, Default)]
pub struct Lpm6 {
    /// Longest mask first.
    levels: Vec<Level6>,
}

#[derive(Clone)]
enum Level6 {
    One {
        mask: u128,
        network: u128,
        value: u32,
    },
    Many {
        mask: u128,
        /// The lowest and highest prefix of the length: an address outside that range
        /// skips the hash probe (routes of a length tend to share a region).
        range: (u128, u128),
        values: HashMap<u128, u32, BuildFxHasher>,
    },
}

impl Lpm6 {
    /// Builds from (prefix, value); on duplicate prefixes the last wins.
    pub fn build(entries: impl IntoIterator<Item = (Ipv6Net, u32)>) -> Lpm6 {
        let mut by_len: Vec<(u8, HashMap<u128, u32, BuildFxHasher>)> = Vec::new();
        for (net, v) in entries {
            let len = net.prefix_len();
            let mask = u128::from(net.netmask());
            let key = u128::from(net.network()) & mask;
            match by_len.iter_mut().find(|(l, _)| *l == len) {
                Some((_, m)) => {
                    m.insert(key, v);
                }
                None => {
                    let mut m = HashMap::default();
                    m.insert(key, v);
                    by_len.push((len, m));
                }
            }
        }
        by_len.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
        Lpm6 {
            levels: by_len
                .into_iter()
                .map(|(l, values)| {
                    let mask = u128::MAX.checked_shl(128 - u32::from(l)).unwrap_or(0);
                    match values.iter().next() {
                        Some((&network, &value)) if values.len() == 1 => Level6::One {
                            mask,
                            network,
                            value,
                        },
                        _ => Level6::Many {
                            mask,
                            range: (
                                values.keys().copied().min().unwrap_or(0),
                                values.keys().copied().max().unwrap_or(0),
                            ),
                            values,
                        },
                    }
                })
                .collect(),
        }
    }

    /// The value of the longest prefix containing `ip`.
    #[inline]
    pub fn lookup(&self, ip: Ipv6Addr) -> Option<u32> {
        let a = u128::from(ip);
        self.levels.iter().find_map(|level| match level {
            Level6::One {
                mask,
                network,
                value,
            } => (a & mask == *network).then_some(*value),
            Level6::Many {
                mask,
                range: (lo, hi),
                values,
            } => {
                let k = a & mask;
                if k < *lo || k > *hi {
                    return None;
                }
                values.get(&k).copied()
            }
        })
    }
}

/// Where a compiled route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local,
    NetworkInterface(String),
    /// igw, nat, vgw, vpce: the edge host serving this gateway.
    Edge(String),
    VpcPeering(String),
    TransitGateway(String),
    Blackhole,
}

impl From<&RouteTarget> for Target {
    fn from(t: &RouteTarget) -> Target {
        match t {
            RouteTarget::Local => Target::Local,
            RouteTarget::NetworkInterface(id) => Target::NetworkInterface(id.clone()),
            RouteTarget::VpcPeering(id) => Target::VpcPeering(id.clone()),
            RouteTarget::TransitGateway(id) => Target::TransitGateway(id.clone()),
            RouteTarget::InternetGateway(id)
            | RouteTarget::EgressOnlyInternetGateway(id)
            | RouteTarget::NatGateway(id)
            | RouteTarget::VpnGateway(id)
            | RouteTarget::VpcEndpoint(id) => Target::Edge(id.clone()),
            RouteTarget::Blackhole => Target::Blackhole,
        }
    }
}

/// A compiled route table.
pub struct RouteTable {
    pub id: String,
    lpm: Lpm,
    targets: Vec<Target>,
    /// The IPv6 routes, a space of their own, with their targets.
    lpm6: Lpm6,
    targets6: Vec<Target>,
    /// Dependency slot for flow-cache invalidation.
    pub dep: u32,
}

impl RouteTable {
    pub fn compile(spec: &program::RouteTable, dep: u32) -> RouteTable {
        // `169.254.168.0/22` is never forwarded, even under a covering route (§5.3)
        let mut routes: Vec<(Ipv4Net, u32)> = Vec::with_capacity(spec.routes.len() + 1);
        let mut targets = Vec::with_capacity(spec.routes.len() + 1);
        for r in &spec.routes {
            routes.push((r.destination, target_index(targets.len())));
            targets.push(Target::from(&r.target));
        }
        routes.push((reserved_link_local(), target_index(targets.len())));
        targets.push(Target::Blackhole);
        routes.sort_by_key(|(n, _)| n.prefix_len());
        // `fd00:ec2::/32` likewise (the IPv6 link-local services)
        let mut routes6: Vec<(Ipv6Net, u32)> = Vec::with_capacity(spec.routes_v6.len() + 1);
        let mut targets6 = Vec::with_capacity(spec.routes_v6.len() + 1);
        for r in &spec.routes_v6 {
            routes6.push((r.destination, target_index(targets6.len())));
            targets6.push(Target::from(&r.target));
        }
        routes6.push((reserved_services_v6(), target_index(targets6.len())));
        targets6.push(Target::Blackhole);
        RouteTable {
            id: spec.id.clone(),
            lpm: Lpm::build(routes),
            targets,
            lpm6: Lpm6::build(routes6),
            targets6,
            dep,
        }
    }

    /// IPv6 longest prefix match; `Ok(None)` when no route covers `dst`.
    #[inline]
    pub fn lookup6(&self, dst: Ipv6Addr) -> Result<Option<&Target>, Broken> {
        match self.lpm6.lookup(dst) {
            Some(i) => self.targets6.get(i as usize).map(Some).ok_or(Broken),
            None => Ok(None),
        }
    }

    /// Longest prefix match; `Ok(None)` when no route covers `dst`, `Err` if the
    /// compiled table is inconsistent.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Result<Option<&Target>, Broken> {
        match self.lpm.lookup(dst)? {
            Some(i) => self.targets.get(i as usize).map(Some).ok_or(Broken),
            None => Ok(None),
        }
    }
}

/// A route's index into its table's targets. Past `u32::MAX` routes (no table has),
/// the index names no target and lookups of those routes drop as `internal`.
fn target_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The range AWS never routes (link-local services).
pub fn reserved_link_local() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(169, 254, 168, 0), 22).expect("valid prefix")
}

/// Instance metadata's IPv6 address (Nitro instances'), inside [`reserved_services_v6`].
pub const METADATA6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254);
/// The Route 53 Resolver's IPv6 address.
pub const RESOLVER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x253);
/// Amazon Time Sync's IPv6 address.
pub const TIME_SYNC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x123);

/// The IPv6 range AWS never routes (its link-local services: `fd00:ec2::254`, …).
/// Whether `a` is in [`reserved_services_v6`] (a shift and a compare, for the slow path).
#[inline]
pub fn is_reserved_service6(a: Ipv6Addr) -> bool {
    u128::from(a) >> 96 == 0xfd00_0ec2
}

pub fn reserved_services_v6() -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0), 32).expect("valid prefix")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn the_quick_reserved_check_is_the_block() {
        for a in [
            "fd00:ec2::253",
            "fd00:ec2:ffff:ffff:ffff:ffff:ffff:ffff",
            "fd00:ec3::1",
            "fd00:ec1:ffff::1",
            "fd01:ec2::1",
            "2001:db8::1",
            "::",
        ] {
            let a: Ipv6Addr = a.parse().unwrap();
            assert_eq!(
                is_reserved_service6(a),
                reserved_services_v6().contains(&a),
                "{a}"
            );
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let lpm = Lpm::build([
            (net("0.0.0.0/0"), 0),
            (net("10.0.0.0/16"), 1),
            (net("10.0.1.0/24"), 2),
            (net("10.0.1.128/25"), 3),
            (net("10.0.1.129/32"), 4),
            (net("10.0.0.0/9"), 5),
        ]);
        let l = |s: &str| lpm.lookup(s.parse().unwrap()).unwrap();
        assert_eq!(l("192.0.2.1"), Some(0));
        assert_eq!(l("10.0.2.1"), Some(1));
        assert_eq!(l("10.0.1.1"), Some(2));
        assert_eq!(l("10.0.1.200"), Some(3));
        assert_eq!(l("10.0.1.129"), Some(4));
        assert_eq!(l("10.1.0.1"), Some(5));
        assert_eq!(l("10.200.0.1"), Some(0));
    }

    #[test]
    fn order_of_insertion_does_not_matter() {
        let a = Lpm::build([(net("10.0.1.0/24"), 2), (net("10.0.0.0/8"), 1)]);
        assert_eq!(a.lookup("10.0.1.5".parse().unwrap()), Ok(Some(2)));
        assert_eq!(a.lookup("10.9.1.5".parse().unwrap()), Ok(Some(1)));
        assert_eq!(a.lookup("11.0.0.1".parse().unwrap()), Ok(None));
    }

    #[test]
    fn link_local_is_never_routed() {
        let rt = RouteTable::compile(
            &program::RouteTable {
                id: "rtb-1".into(),
                routes: vec![program::Route {
                    destination: net("0.0.0.0/0"),
                    target: RouteTarget::InternetGateway("igw-1".into()),
                }],
                routes_v6: vec![],
            },
            0,
        );
        assert_eq!(
            rt.lookup("169.254.169.254".parse().unwrap()),
            Ok(Some(&Target::Blackhole))
        );
        assert_eq!(
            rt.lookup("8.8.8.8".parse().unwrap()),
            Ok(Some(&Target::Edge("igw-1".into())))
        );
    }

    #[test]
    fn ipv6_longest_prefix_and_reserved_range() {
        let n6 = |s: &str| s.parse::<Ipv6Net>().unwrap();
        let rt = RouteTable::compile(
            &program::RouteTable {
                id: "rtb-1".into(),
                routes: vec![],
                routes_v6: vec![
                    program::Route6 {
                        destination: n6("::/0"),
                        target: RouteTarget::EgressOnlyInternetGateway("eigw-1".into()),
                    },
                    program::Route6 {
                        destination: n6("2600:1f00:1::/56"),
                        target: RouteTarget::Local,
                    },
                    program::Route6 {
                        destination: n6("2600:1f00:1:5::/64"),
                        target: RouteTarget::NetworkInterface("eni-1".into()),
                    },
                ],
            },
            0,
        );
        let l = |s: &str| rt.lookup6(s.parse().unwrap()).unwrap().cloned();
        assert_eq!(l("2600:1f00:1:7::9"), Some(Target::Local));
        assert_eq!(
            l("2600:1f00:1:5::9"),
            Some(Target::NetworkInterface("eni-1".into()))
        );
        assert_eq!(l("2001:db8::1"), Some(Target::Edge("eigw-1".into())));
        assert_eq!(l("fd00:ec2::254"), Some(Target::Blackhole));
        // IPv4 routes do not cover IPv6, nor the reverse
        assert_eq!(rt.lookup("10.0.0.1".parse().unwrap()), Ok(None));
        let empty = Lpm6::build([]);
        assert_eq!(empty.lookup(Ipv6Addr::LOCALHOST), None);
    }
}
