//! Transit gateways, distributed: there is no gateway box. Each host walks the gateway for
//! the packets its own instances send, as it walks a peering: the sender's VPC route names
//! `tgw-…`; the VPC's attachment subnet in the sender's zone takes the packet in (its
//! network ACL's inbound rules apply); the route table associated with that attachment
//! picks, by longest prefix, the attachment of the destination VPC, or drops (blackhole,
//! no route); the destination VPC's attachment subnet (the sender's zone again when it
//! has one) lets it out (its ACL's outbound rules), into the destination's subnet (that
//! ACL's inbound rules). AWS evaluates no ACL between an attachment subnet and an
//! instance in that same subnet on the way out of the gateway, and so neither does Fort.
//!
//! A packet that enters a VPC through its attachment for an address outside that VPC is
//! routed by the attachment subnet's route table (centralised egress and inspection, in
//! the engine): to a NAT gateway at the edge, or to an appliance's ENI, whose host then
//! walks what the appliance forwards as any packet of its subnet.
//!
//! A peering attachment joins two gateways: a route to it crosses to the peer gateway,
//! whose table associated with the peering decides next (static routes only, as in AWS).
//! The sender's host walks both tables; a packet that crossed one peering goes into a VPC
//! of the peer gateway or nowhere (one hop: a route there to another peering, or a VPN,
//! drops it).
//!
//! IPv6 takes the same walk by the tables' IPv6 routes (a peer table's too), into a
//! VPC's IPv6 blocks; it has no centralised egress or inspection, and no VPN attachment.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::packet::{FiveTuple, FiveTuple6};
use crate::prefix::Prefix;
use crate::program::{self, TransitGatewayTarget};
use crate::wire::MacAddr;

/// One VPC attachment, as the engine holds it in its VPC.
pub struct Attachment {
    pub id: String,
    /// Its gateway MAC: the inner source MAC of what the edge carries in through it
    /// (from a VPN attachment of its gateway).
    pub mac: MacAddr,
    pub transit_gateway_id: String,
    /// (zone, index of the subnet in its VPC's subnets), in the program's order.
    pub subnets: Vec<(String, u16)>,
    pub appliance_mode: bool,
    /// The attachments of other kinds its table routes to, for [`Hop::Other`].
    pub others: Vec<String>,
    table: Table<Ipv4Net>,
    /// The peering attachments its table routes to, each with the peer gateway's table
    /// associated with it, for [`Hop::Peering`].
    peers: Vec<(String, Table<Ipv4Net>)>,
    /// The IPv6 routes of its table.
    table6: Table<Ipv6Net>,
    /// [`Attachment::peers`] for the IPv6 routes: the peer tables' IPv6 routes.
    peers6: Vec<(String, Table<Ipv6Net>)>,
}

/// Where the gateway's table sends a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Into the VPC in `slot`, through its attachment at `attachment` (an index into
    /// that VPC's attachments).
    Vpc { slot: u16, attachment: u16 },
    /// Another kind of attachment (a VPN's): to the edge host serving it, if the VPC
    /// knows one (its id is `others[i]` of the attachment).
    Other(u16),
    /// A blackhole route.
    Blackhole,
    /// A peering attachment (`peers[i]` of the attachment): the peer gateway's table
    /// decides.
    Peering(u16),
    /// An attachment this host does not carry (a VPN it has no edge for, a VPC not
    /// served).
    Unreachable,
}

/// Longest-prefix match over a gateway route table: one hash map per prefix length
/// present, longest first. Tables are small beside a VPC's (a trie of 3 KiB nodes per
/// attachment would cost more than it saves) and only new flows look them up.
struct Table<N: Prefix> {
    by_len: Vec<(u8, HashMap<N::Bits, Hop>)>,
}

impl<N: Prefix> Default for Table<N> {
    fn default() -> Self {
        Table { by_len: Vec::new() }
    }
}

impl<N: Prefix> Table<N> {
    fn build(routes: impl IntoIterator<Item = (N, Hop)>) -> Table<N> {
        let mut by_len: Vec<(u8, HashMap<N::Bits, Hop>)> = Vec::new();
        for (net, hop) in routes {
            let (len, key) = net.parts();
            match by_len.iter_mut().find(|(l, _)| *l == len) {
                // a destination listed twice: the first stands, as in the gateway's table
                Some((_, m)) => {
                    m.entry(key).or_insert(hop);
                }
                None => by_len.push((len, HashMap::from([(key, hop)]))),
            }
        }
        by_len.sort_by_key(|&(len, _)| std::cmp::Reverse(len));
        Table { by_len }
    }

    fn lookup(&self, ip: N::Addr) -> Option<Hop> {
        self.by_len
            .iter()
            .find_map(|(len, m)| m.get(&N::masked(ip, *len)).copied())
    }
}

impl Attachment {
    /// Compiles an attachment of a VPC whose subnets are `subnets` (id, zone), resolving
    /// its routes' attachments with `resolve` (`None`: not on this host).
    pub fn compile(
        spec: &program::TransitGatewayAttachment,
        subnets: &[program::Subnet],
        resolve: impl Fn(&str, &str) -> Option<(u16, u16)>,
    ) -> Attachment {
        let subnets = spec
            .subnet_ids
            .iter()
            .filter_map(|id| {
                let i = subnets.iter().position(|s| &s.id == id)?;
                Some((subnets[i].availability_zone.clone(), u16::try_from(i).ok()?))
            })
            .collect();
        let mut others: Vec<String> = Vec::new();
        let mut peers: Vec<(String, Table<Ipv4Net>)> = Vec::new();
        let table = Table::build(spec.routes.iter().map(|r| {
            let hop = match &r.target {
                TransitGatewayTarget::Vpc {
                    attachment_id,
                    vpc_id,
                } => {
                    resolve(vpc_id, attachment_id).map_or(Hop::Unreachable, |(slot, attachment)| {
                        Hop::Vpc { slot, attachment }
                    })
                }
                TransitGatewayTarget::Unsupported(id) => {
                    let i = others.iter().position(|o| o == id).unwrap_or_else(|| {
                        others.push(id.clone());
                        others.len() - 1
                    });
                    u16::try_from(i).map_or(Hop::Unreachable, Hop::Other)
                }
                TransitGatewayTarget::Blackhole => Hop::Blackhole,
                TransitGatewayTarget::Peering {
                    attachment_id,
                    routes,
                    ..
                } => peer_hop(
                    &mut peers,
                    attachment_id,
                    routes.iter().map(|r| (r.destination, &r.target)),
                    &resolve,
                ),
            };
            (r.destination, hop)
        }));
        // IPv6 routes lead into VPCs (by their IPv6 blocks), across a peering, or drop
        let mut peers6: Vec<(String, Table<Ipv6Net>)> = Vec::new();
        let table6 = Table::build(spec.routes_v6.iter().map(|r| {
            let hop = match &r.target {
                TransitGatewayTarget::Vpc {
                    attachment_id,
                    vpc_id,
                } => {
                    resolve(vpc_id, attachment_id).map_or(Hop::Unreachable, |(slot, attachment)| {
                        Hop::Vpc { slot, attachment }
                    })
                }
                TransitGatewayTarget::Unsupported(_) => Hop::Unreachable,
                TransitGatewayTarget::Peering {
                    attachment_id,
                    routes_v6,
                    ..
                } => peer_hop(
                    &mut peers6,
                    attachment_id,
                    routes_v6.iter().map(|r| (r.destination, &r.target)),
                    &resolve,
                ),
                TransitGatewayTarget::Blackhole => Hop::Blackhole,
            };
            (r.destination, hop)
        }));
        Attachment {
            id: spec.id.clone(),
            mac: crate::overlay::gateway_mac(&spec.id),
            transit_gateway_id: spec.transit_gateway_id.clone(),
            subnets,
            appliance_mode: spec.appliance_mode,
            others,
            table,
            peers,
            table6,
            peers6,
        }
    }

    /// The route table's choice for the IPv6 `dst` (`None`: no route).
    pub fn lookup6(&self, dst: Ipv6Addr) -> Option<Hop> {
        self.table6.lookup(dst)
    }

    /// [`Attachment::route`] for the IPv6 `dst`: across a peering, the peer gateway's
    /// table's IPv6 routes decide.
    pub fn route6(&self, dst: Ipv6Addr) -> Option<Hop> {
        match self.table6.lookup(dst)? {
            Hop::Peering(i) => self.peers6.get(usize::from(i))?.1.lookup(dst),
            hop => Some(hop),
        }
    }

    /// [`Attachment::exit`] for an IPv6 flow.
    pub fn exit6(&self, zone: &str, tuple: &FiveTuple6) -> Option<u16> {
        if self.appliance_mode && !self.subnets.is_empty() {
            let n = u64::try_from(self.subnets.len()).unwrap_or(u64::MAX);
            let i = usize::try_from(symmetric_hash6(tuple) % n).unwrap_or(0);
            return self.subnets.get(i).map(|&(_, s)| s);
        }
        self.entry(zone)
            .or_else(|| self.subnets.first().map(|&(_, s)| s))
    }

    /// The route table's choice for `dst` (`None`: no route).
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<Hop> {
        self.table.lookup(dst)
    }

    /// Where the gateway finally sends `dst`: the route table's choice, or, for a
    /// peering attachment, the choice of the peer gateway's table associated with it
    /// (never [`Hop::Peering`]: `None` there is no route).
    pub fn route(&self, dst: Ipv4Addr) -> Option<Hop> {
        match self.table.lookup(dst)? {
            Hop::Peering(i) => self.peers.get(usize::from(i))?.1.lookup(dst),
            hop => Some(hop),
        }
    }

    /// The attachment subnet a packet from `zone` enters the gateway by: that zone's, or
    /// none (AWS: resources in a zone without an attachment subnet cannot reach it).
    pub fn entry(&self, zone: &str) -> Option<u16> {
        self.subnets
            .iter()
            .find(|(z, _)| z == zone)
            .map(|&(_, s)| s)
    }

    /// The attachment subnet a packet from `zone` leaves the gateway by: in appliance
    /// mode one chosen by the flow (the same both ways); else the sender's zone's, or,
    /// with none there, the first.
    pub fn exit(&self, zone: &str, tuple: &FiveTuple) -> Option<u16> {
        if self.appliance_mode && !self.subnets.is_empty() {
            let n = u64::try_from(self.subnets.len()).unwrap_or(u64::MAX);
            let i = usize::try_from(symmetric_hash(tuple) % n).unwrap_or(0);
            return self.subnets.get(i).map(|&(_, s)| s);
        }
        self.entry(zone)
            .or_else(|| self.subnets.first().map(|&(_, s)| s))
    }
}

/// The hop of a route to peering attachment `id`, whose peer gateway's table holds
/// `routes` (of one family): that table is compiled once per peering, keeping only what
/// one hop reaches (VPC attachments, blackholes; the rest is [`Hop::Unreachable`]).
fn peer_hop<'r, N: Prefix>(
    peers: &mut Vec<(String, Table<N>)>,
    id: &str,
    routes: impl Iterator<Item = (N, &'r TransitGatewayTarget)>,
    resolve: &impl Fn(&str, &str) -> Option<(u16, u16)>,
) -> Hop {
    let i = peers.iter().position(|(p, _)| p == id).unwrap_or_else(|| {
        let table = Table::build(routes.map(|(destination, target)| {
            let hop = match target {
                TransitGatewayTarget::Vpc {
                    attachment_id,
                    vpc_id,
                } => {
                    resolve(vpc_id, attachment_id).map_or(Hop::Unreachable, |(slot, attachment)| {
                        Hop::Vpc { slot, attachment }
                    })
                }
                TransitGatewayTarget::Blackhole => Hop::Blackhole,
                TransitGatewayTarget::Unsupported(_) | TransitGatewayTarget::Peering { .. } => {
                    Hop::Unreachable
                }
            };
            (destination, hop)
        }));
        peers.push((id.to_owned(), table));
        peers.len() - 1
    });
    u16::try_from(i).map_or(Hop::Unreachable, Hop::Peering)
}

/// A hash of a flow that its reply shares.
pub(crate) fn symmetric_hash(t: &FiveTuple) -> u64 {
    ordered_ends_hash(
        &u32::from(t.src).to_be_bytes(),
        t.src_port,
        &u32::from(t.dst).to_be_bytes(),
        t.dst_port,
        t.protocol,
    )
}

/// [`symmetric_hash`] of an IPv6 flow.
pub(crate) fn symmetric_hash6(t: &FiveTuple6) -> u64 {
    ordered_ends_hash(
        &u128::from(t.src).to_be_bytes(),
        t.src_port,
        &u128::from(t.dst).to_be_bytes(),
        t.dst_port,
        t.protocol,
    )
}

/// FNV-1a over the two ends (address bytes, port), lower end first, then the protocol:
/// the same for a flow and its reply.
fn ordered_ends_hash(a: &[u8], a_port: u16, b: &[u8], b_port: u16, protocol: u8) -> u64 {
    let (lo, hi) = if (a, a_port) <= (b, b_port) {
        ((a, a_port), (b, b_port))
    } else {
        ((b, b_port), (a, a_port))
    };
    let bytes =
        lo.0.iter()
            .copied()
            .chain(lo.1.to_be_bytes())
            .chain(hi.0.iter().copied())
            .chain(hi.1.to_be_bytes())
            .chain([protocol]);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn vpc(slot: u16) -> Hop {
        Hop::Vpc {
            slot,
            attachment: 0,
        }
    }

    #[test]
    fn longest_prefix_wins_and_the_first_of_a_destination_stands() {
        let t = Table::build([
            (net("10.0.0.0/8"), vpc(1)),
            (net("10.1.0.0/16"), vpc(2)),
            (net("10.1.2.0/24"), Hop::Blackhole),
            (net("10.1.0.0/16"), vpc(3)),
        ]);
        assert_eq!(t.lookup("10.2.0.1".parse().unwrap()), Some(vpc(1)));
        assert_eq!(t.lookup("10.1.9.1".parse().unwrap()), Some(vpc(2)));
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()), Some(Hop::Blackhole));
        assert_eq!(t.lookup("11.0.0.1".parse().unwrap()), None);
        let all = Table::build([(net("0.0.0.0/0"), vpc(4))]);
        assert_eq!(all.lookup("203.0.113.9".parse().unwrap()), Some(vpc(4)));
    }

    fn tuple(src: u32, sp: u16, dst: u32, dp: u16, p: u8) -> FiveTuple {
        FiveTuple {
            src: src.into(),
            dst: dst.into(),
            src_port: sp,
            dst_port: dp,
            protocol: p,
        }
    }

    proptest! {
        /// Longest-prefix match agrees with a scan of every route.
        #[test]
        fn lookup_matches_a_scan(
            routes in prop::collection::vec((any::<u32>(), 0u8..=32, 0u16..4), 0..40),
            probes in prop::collection::vec(any::<u32>(), 1..40),
        ) {
            let routes: Vec<(Ipv4Net, Hop)> = routes
                .into_iter()
                .map(|(a, l, s)| (Ipv4Net::new(a.into(), l).unwrap().trunc(), vpc(s)))
                .collect();
            let t = Table::build(routes.clone());
            for p in probes {
                let ip = Ipv4Addr::from(p);
                let want = routes
                    .iter()
                    .enumerate()
                    .filter(|(_, (n, _))| n.contains(&ip))
                    // longest first; among equals, the first listed
                    .max_by_key(|(i, (n, _))| (n.prefix_len(), std::cmp::Reverse(*i)))
                    .map(|(_, (_, h))| *h);
                prop_assert_eq!(t.lookup(ip), want);
            }
        }

        /// Appliance mode picks one subnet for a flow and its reply.
        #[test]
        fn a_flow_and_its_reply_hash_alike(s: u32, sp: u16, d: u32, dp: u16, p: u8) {
            prop_assert_eq!(
                symmetric_hash(&tuple(s, sp, d, dp, p)),
                symmetric_hash(&tuple(d, dp, s, sp, p))
            );
        }
    }
}
