//! The reference evaluator: the same decisions as the engine, written straight from
//! the AWS rules with no compilation, no caching and linear searches everywhere. Slow
//! on purpose, and only for tests: property tests run random programs and packets
//! through both and require the same verdicts and the same bytes out.
//!
//! It shares with the engine only the wire parsers, the conntrack state machine
//! (`conntrack::State`, a table of timeouts) and the entropy-port and flow-hash functions
//! (specs).
//!
//! Transit gateways are walked as AWS documents them, by the sender: in by the VPC's
//! attachment subnet of the sender's zone (its ACL inbound), the attachment's table by
//! longest prefix (a peering: the peer gateway's table, one hop), out by the destination
//! VPC's attachment subnet (its ACL outbound) into the destination subnet (its ACL
//! inbound) unless they are one; the receiver takes the sender's word for the ACLs once
//! the source's host is the one its joined VPC maps it to, or an appliance's host of a
//! joined VPC (an ENI with its source/dest check off). An attachment subnet routing a
//! destination outside its VPC to an ENI hands the packet to that appliance
//! (centralised inspection; the attachment subnet's ACL outbound and the appliance
//! subnet's inbound unless they are one).
//!
//! IPv6 is walked the same way over the IPv6 halves of the program (its own routes,
//! ACL entries, rules, members and mappings); neighbour discovery and DHCPv6 are judged
//! by their verdicts (the answers' bytes are checked by their own tests). IPv6 flows
//! are counted for flow logs as IPv4's are.

use crate::conntrack::{Direction, State};
use crate::packet::{self, Meta, Meta6};
use crate::program::*;
use crate::verdict::{DropReason, PortId, Service, Time, Verdict};
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::{arp, dhcpv6, geneve, icmp, icmpv6, ip_proto, ipv4, ipv6, udp};
use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone)]
struct Tracked {
    port: usize,
    key: (IpAddr, IpAddr, u16, u16, u8),
    initiator: Direction,
    state: State,
    last: Time,
    timeouts: crate::conntrack::Timeouts,
}

impl Tracked {
    fn alive(&self, now: Time) -> bool {
        now.0.saturating_sub(self.last.0) <= self.state.timeout(&self.timeouts)
    }
}

pub struct Reference {
    pub program: HostProgram,
    tracked: Vec<Tracked>,
    limit: usize,
    /// Flow-log counters: (port, tuple, accepted) → (packets, bytes).
    pub counters: std::collections::BTreeMap<(u16, packet::FiveTuple<IpAddr>, bool), (u64, u64)>,
}

enum To {
    Host {
        vpc: usize,
        host: Ipv4Addr,
        mac: MacAddr,
        eni: String,
        /// The destination subnet's ACL is still to be evaluated (not after a transit
        /// gateway's walk, which did).
        acl: bool,
    },
    Edge {
        /// The VPC whose number the packet carries (a transit gateway's egress VPC, or
        /// the sender's).
        vpc: usize,
        host: Ipv4Addr,
        mac: MacAddr,
    },
}

impl Reference {
    pub fn new(program: HostProgram, conntrack_per_port: u32) -> Reference {
        Reference {
            program,
            tracked: Vec::new(),
            limit: conntrack_per_port as usize,
            counters: Default::default(),
        }
    }

    /// A new program; tracked flows of ports still present are kept.
    pub fn set_program(&mut self, program: HostProgram) {
        self.program = program;
    }

    fn count<A: Copy + Into<IpAddr>>(&mut self, port: usize, m: &packet::Meta<A>, accept: bool) {
        let t = &m.tuple;
        let tuple = packet::FiveTuple {
            src: t.src.into(),
            dst: t.dst.into(),
            src_port: t.src_port,
            dst_port: t.dst_port,
            protocol: t.protocol,
        };
        let c = self
            .counters
            .entry((u16::try_from(port).unwrap_or(u16::MAX), tuple, accept))
            .or_default();
        c.0 += 1;
        c.1 += u64::from(m.ip_len);
    }

    fn vpc(&self, id: &str) -> Option<usize> {
        self.program.vpcs.iter().position(|v| v.id == id)
    }

    pub fn process_from_port(
        &mut self,
        now: Time,
        port: PortId,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        match self.walk_from_port(now, usize::from(port.0), frame, out) {
            Ok(v) => v,
            Err(reason) => Verdict::Drop { reason },
        }
    }

    pub fn process_from_underlay(&mut self, now: Time, frame: &[u8], out: &mut Vec<u8>) -> Verdict {
        match self.walk_from_underlay(now, frame, out) {
            Ok(v) => v,
            Err(reason) => Verdict::Drop { reason },
        }
    }

    fn walk_from_port(
        &mut self,
        now: Time,
        p: usize,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Verdict, DropReason> {
        let port = self
            .program
            .ports
            .get(p)
            .ok_or(DropReason::UnknownPort)?
            .clone();
        let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
        if eth.src() != port.mac {
            return Err(DropReason::SourceMacMismatch);
        }
        let vi = self.vpc(&port.vpc_id).ok_or(DropReason::UnknownPort)?;
        let vpc = self.program.vpcs[vi].clone();
        let subnet = vpc
            .subnets
            .iter()
            .find(|s| s.id == port.subnet_id)
            .ok_or(DropReason::NoRoute)?
            .clone();
        match eth.ethertype() {
            ethertype::IPV6 => return self.walk6_from_port(now, p, &port, vi, &subnet, frame, out),
            ethertype::ARP | ethertype::IPV4 if subnet.cidr.is_none() => {
                return Err(DropReason::Ipv4);
            }
            _ => {}
        }
        let cidr4 = subnet.cidr.ok_or(DropReason::Ipv4)?;
        let router_ip = Ipv4Addr::from(u32::from(cidr4.network()) + 1);
        match eth.ethertype() {
            ethertype::ARP => {
                return self
                    .arp(&port, &vpc, &subnet, frame, out)
                    .map(|_| Verdict::Hairpin { port: pid(p) });
            }
            ethertype::IPV4 => {}
            _ => return Err(DropReason::UnsupportedEthertype),
        }
        let m = packet::parse_ipv4(eth.payload())?;
        if m.tuple.protocol == ip_proto::UDP && m.tuple.src_port == 68 && m.tuple.dst_port == 67 {
            // DHCP: the verdict only; the responder's bytes are checked by its own tests
            return dhcp_verdict(&port, eth.payload()).map(|_| Verdict::Hairpin { port: pid(p) });
        }
        if eth.dst().0[0] & 1 == 1 {
            return Err(DropReason::BroadcastOrMulticast);
        }
        let (src, dst) = (m.tuple.src, m.tuple.dst);
        let owns =
            |pt: &Port, a: Ipv4Addr| pt.primary_ip == Some(a) || pt.secondary_ips.contains(&a);
        if port.source_dest_check && !owns(&port, src) {
            return Err(DropReason::SourceCheck);
        }
        let dns = Ipv4Addr::from(u32::from(vpc.cidrs[0].network()) + 2);
        let tcp_or_udp = m.tuple.protocol == ip_proto::TCP || m.tuple.protocol == ip_proto::UDP;
        if (dst == dns || dst == Ipv4Addr::new(169, 254, 169, 253))
            && tcp_or_udp
            && m.tuple.dst_port == 53
        {
            // the resolver answers UDP queries (header present, QR clear) back to the
            // port; the answer's bytes are checked by its own tests
            let ip = eth.payload();
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let udp_len = ip
                .get(ihl + 4..ihl + 6)
                .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
            let query = ip.get(ihl + 8..ihl + udp_len).unwrap_or(&[]);
            return if m.tuple.protocol == ip_proto::UDP && query.len() >= 12 && query[2] & 0x80 == 0
            {
                Ok(Verdict::Hairpin { port: pid(p) })
            } else {
                Err(DropReason::DnsUnanswered)
            };
        }
        let service = if dst == Ipv4Addr::new(169, 254, 169, 254) {
            Some(Service::InstanceMetadata)
        } else if dst == Ipv4Addr::new(169, 254, 169, 123) {
            Some(Service::TimeSync)
        } else {
            None
        };
        if let Some(service) = service {
            out.clear();
            out.extend_from_slice(frame);
            return Ok(Verdict::Service {
                port: pid(p),
                service,
            });
        }
        if dst.octets()[0] == 169 && dst.octets()[1] == 254 {
            return Err(DropReason::LinkLocal);
        }
        if dst == router_ip {
            if m.tuple.protocol == ip_proto::ICMP && m.icmp_type == icmp::kind::ECHO_REQUEST {
                return Ok(Verdict::Hairpin { port: pid(p) });
            }
            return Err(DropReason::RouterAddress);
        }
        let routed = eth.dst() == vpc.router_mac;
        let same_subnet = cidr4.contains(&dst);
        if !routed {
            let owner = vpc.mappings.iter().rev().find(|x| x.ip == dst);
            if !same_subnet || owner.map(|o| o.mac) != Some(eth.dst()) {
                return Err(DropReason::UnknownDestinationMac);
            }
        }
        // 1. security group egress (or the state of a tracked flow)
        if let Err(e) = self.security(now, p, &port, &vpc, Direction::Outbound, &m) {
            if e == DropReason::SecurityGroupEgress {
                self.count(p, &m, false);
            }
            return Err(e);
        }
        // 2. leaving the subnet: NACL outbound, then the route table
        let target = if same_subnet {
            RouteTarget::Local
        } else {
            let acl = vpc
                .network_acls
                .iter()
                .find(|a| a.id == subnet.network_acl_id);
            if !acl.is_some_and(|a| nacl_allows(a, true, &m, dst)) {
                self.count(p, &m, false);
                return Err(DropReason::NaclEgress);
            }
            let rt = vpc
                .route_tables
                .iter()
                .find(|r| r.id == subnet.route_table_id)
                .ok_or(DropReason::NoRoute)?;
            longest_match(&rt.routes, dst).ok_or(DropReason::NoRoute)?
        };
        let to = match &target {
            RouteTarget::TransitGateway(g) => self.transit(vi, &subnet, g, &m)?,
            t => self.target(vi, t, dst)?,
        };
        self.count(p, &m, true);
        let rewrite = match &to {
            To::Host { mac, .. } if routed => Some((vpc.router_mac, *mac)),
            // Frames to the edge name their gateway: router MAC → the gateway's MAC.
            To::Edge { mac, .. } => Some((vpc.router_mac, *mac)),
            _ => None,
        };
        let src_mac = eth.src();
        match to {
            To::Host {
                vpc: dv,
                host,
                mac,
                eni,
                acl,
            } if host == self.program.underlay.address => {
                let q = self
                    .program
                    .ports
                    .iter()
                    .position(|x| x.id == eni)
                    .ok_or(DropReason::NoSuchPort)?;
                if self.program.ports[q].mac != mac {
                    return Err(DropReason::NoSuchPort);
                }
                let src_after = rewrite.map_or(src_mac, |r| r.0);
                let (s, d) = self.deliver(now, q, dv, src_after, &m, acl)?;
                out.clear();
                out.extend_from_slice(frame);
                out[0..6].copy_from_slice(&d.0);
                out[6..12].copy_from_slice(&s.0);
                Ok(Verdict::ToPort { port: pid(q) })
            }
            To::Host { vpc: dv, host, .. } => {
                let vni = self.program.vpcs[dv].vni & 0xff_ffff;
                let sport = crate::overlay::entropy_port(&m.tuple);
                self.encap(out, host, vni, sport, frame, rewrite);
                Ok(Verdict::ToUnderlay { host, vni })
            }
            To::Edge { vpc: ev, host, .. } => {
                let vni = self.program.vpcs[ev].vni & 0xff_ffff;
                let sport = crate::overlay::entropy_port(&m.tuple);
                self.encap(out, host, vni, sport, frame, rewrite);
                Ok(Verdict::ToEdge { host, vni })
            }
        }
    }

    fn arp(
        &self,
        port: &Port,
        vpc: &Vpc,
        subnet: &Subnet,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DropReason> {
        let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
        let a = arp::Repr::parse(
            &arp::Packet::new_checked(eth.payload()).map_err(|_| DropReason::Malformed)?,
        )
        .map_err(|_| DropReason::Malformed)?;
        if a.operation != arp::operation::REQUEST {
            return Err(DropReason::ArpUnanswered);
        }
        if a.sender_mac != port.mac {
            return Err(DropReason::SourceMacMismatch);
        }
        if a.sender_ip.is_unspecified() {
            return Err(DropReason::ArpUnanswered);
        }
        if port.source_dest_check
            && port.primary_ip != Some(a.sender_ip)
            && !port.secondary_ips.contains(&a.sender_ip)
        {
            return Err(DropReason::SourceCheck);
        }
        if a.target_ip == a.sender_ip {
            return Err(DropReason::ArpUnanswered);
        }
        let cidr = subnet.cidr.ok_or(DropReason::Ipv4)?;
        let gw = Ipv4Addr::from(u32::from(cidr.network()) + 1);
        let dns = Ipv4Addr::from(u32::from(vpc.cidrs[0].network()) + 2);
        let mac = if a.target_ip == gw || (a.target_ip == dns && cidr.contains(&dns)) {
            vpc.router_mac
        } else if cidr.contains(&a.target_ip) {
            vpc.mappings
                .iter()
                .rev()
                .find(|x| x.ip == a.target_ip)
                .map(|x| x.mac)
                .ok_or(DropReason::ArpUnanswered)?
        } else {
            return Err(DropReason::ArpUnanswered);
        };
        out.clear();
        out.resize(42, 0);
        let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
        ethernet::Repr {
            src: mac,
            dst: port.mac,
            ethertype: ethertype::ARP,
        }
        .emit(&mut f);
        arp::Repr {
            operation: arp::operation::REPLY,
            sender_mac: mac,
            sender_ip: a.target_ip,
            target_mac: port.mac,
            target_ip: a.sender_ip,
        }
        .emit(&mut arp::Packet::new_unchecked(f.payload_mut()));
        Ok(())
    }

    fn target(&self, vi: usize, target: &RouteTarget, dst: Ipv4Addr) -> Result<To, DropReason> {
        let vpc = &self.program.vpcs[vi];
        let host = |v: usize, m: &Mapping| To::Host {
            vpc: v,
            host: m.host,
            mac: m.mac,
            eni: m.eni_id.clone(),
            acl: true,
        };
        match target {
            RouteTarget::Local => vpc
                .mappings
                .iter()
                .rev()
                .find(|m| m.ip == dst)
                .map(|m| host(vi, m))
                .ok_or(DropReason::NoMapping),
            RouteTarget::NetworkInterface(eni) => {
                // the engine's V2P index keeps the last address listed for an ENI
                vpc.mappings
                    .iter()
                    .rev()
                    .find(|m| &m.eni_id == eni)
                    .map(|m| host(vi, m))
                    .ok_or(DropReason::NoMapping)
            }
            RouteTarget::InternetGateway(g)
            | RouteTarget::EgressOnlyInternetGateway(g)
            | RouteTarget::NatGateway(g)
            | RouteTarget::VpnGateway(g)
            | RouteTarget::VpcEndpoint(g) => vpc
                .edges
                .iter()
                .rev()
                .find(|e| &e.gateway_id == g)
                .map(|e| To::Edge {
                    vpc: vi,
                    host: e.host,
                    mac: crate::overlay::gateway_mac(g),
                })
                .ok_or(DropReason::NoEdge),
            RouteTarget::VpcPeering(pcx) => {
                let peering = vpc
                    .peerings
                    .iter()
                    .rev()
                    .find(|x| &x.id == pcx)
                    .ok_or(DropReason::NoRoute)?;
                let pi = self.vpc(&peering.peer_vpc_id).ok_or(DropReason::NoRoute)?;
                let peer = &self.program.vpcs[pi];
                if !peer.cidrs.iter().any(|c| c.contains(&dst)) {
                    return Err(DropReason::NoRoute);
                }
                peer.mappings
                    .iter()
                    .rev()
                    .find(|m| m.ip == dst)
                    .map(|m| host(pi, m))
                    .ok_or(DropReason::NoMapping)
            }
            RouteTarget::Blackhole => Err(DropReason::Blackhole),
            // walked by [`Reference::transit`]
            RouteTarget::TransitGateway(_) => Err(DropReason::Internal),
        }
    }

    /// A packet from subnet `from` of VPC `vi` to transit gateway `tgw`.
    fn transit(&self, vi: usize, from: &Subnet, tgw: &str, m: &Meta) -> Result<To, DropReason> {
        let vpc = &self.program.vpcs[vi];
        let dst = m.tuple.dst;
        let a = vpc
            .transit_gateway_attachments
            .iter()
            .find(|a| a.transit_gateway_id == tgw)
            .ok_or(DropReason::NoRoute)?;
        let subnets = attachment_subnets(vpc, a);
        let entry = subnets
            .iter()
            .find(|s| s.availability_zone == from.availability_zone)
            .ok_or(DropReason::NoTransitGatewaySubnet)?;
        if !subnet_acl_allows(vpc, entry, false, m) {
            return Err(DropReason::NaclIngress);
        }
        let mut route = gateway_match(&a.routes, dst).ok_or(DropReason::NoRoute)?;
        if let TransitGatewayTarget::Peering { attachment_id, .. } = &route.target {
            // across the peering: the first route to it names the peer gateway's table
            let theirs = a
                .routes
                .iter()
                .find_map(|r| match &r.target {
                    TransitGatewayTarget::Peering {
                        attachment_id: p,
                        routes,
                        ..
                    } if p == attachment_id => Some(routes),
                    _ => None,
                })
                .ok_or(DropReason::Internal)?;
            route = gateway_match(theirs, dst).ok_or(DropReason::NoRoute)?;
            if !matches!(
                route.target,
                TransitGatewayTarget::Vpc { .. } | TransitGatewayTarget::Blackhole
            ) {
                return Err(DropReason::NoRoute);
            }
        }
        let (to_vpc, to_att) = match &route.target {
            TransitGatewayTarget::Vpc {
                attachment_id,
                vpc_id,
            } => (vpc_id, attachment_id),
            TransitGatewayTarget::Blackhole => return Err(DropReason::Blackhole),
            TransitGatewayTarget::Unsupported(id) => {
                return vpc
                    .edges
                    .iter()
                    .rev()
                    .find(|e| &e.gateway_id == id)
                    .map(|e| To::Edge {
                        vpc: vi,
                        host: e.host,
                        mac: crate::overlay::gateway_mac(id),
                    })
                    .ok_or(DropReason::NoRoute);
            }
            TransitGatewayTarget::Peering { .. } => return Err(DropReason::NoRoute),
        };
        let di = self.vpc(to_vpc).ok_or(DropReason::NoRoute)?;
        let dv = &self.program.vpcs[di];
        let da = dv
            .transit_gateway_attachments
            .iter()
            .rev()
            .find(|x| &x.id == to_att)
            .ok_or(DropReason::NoRoute)?;
        if !dv.cidrs.iter().any(|c| c.contains(&dst)) {
            return self.transit_egress(di, da, &from.availability_zone, m);
        }
        let into = dv
            .subnets
            .iter()
            .find(|s| s.cidr.is_some_and(|c| c.contains(&dst)))
            .ok_or(DropReason::NoRoute)?;
        let exit = attachment_exit(dv, da, &from.availability_zone, m)
            .ok_or(DropReason::NoTransitGatewaySubnet)?;
        if !std::ptr::eq(exit, into) {
            if !subnet_acl_allows(dv, exit, true, m) {
                return Err(DropReason::NaclEgress);
            }
            if !subnet_acl_allows(dv, into, false, m) {
                return Err(DropReason::NaclIngress);
            }
        }
        let mapping = dv
            .mappings
            .iter()
            .rev()
            .find(|x| x.ip == dst)
            .ok_or(DropReason::NoMapping)?;
        Ok(To::Host {
            vpc: di,
            host: mapping.host,
            mac: mapping.mac,
            eni: mapping.eni_id.clone(),
            acl: false,
        })
    }

    /// Centralised egress: a packet that entered VPC `di` through attachment `da` from
    /// `zone`, for an address outside that VPC, leaves by the attachment subnet, whose
    /// route table must name a gateway at the edge; the attachment subnet's ACL lets it
    /// out and the NAT gateway's subnet's lets it in, unless they are one subnet.
    fn transit_egress(
        &self,
        di: usize,
        da: &TransitGatewayAttachment,
        zone: &str,
        m: &Meta,
    ) -> Result<To, DropReason> {
        let dv = &self.program.vpcs[di];
        let dst = m.tuple.dst;
        let exit = attachment_exit(dv, da, zone, m).ok_or(DropReason::NoTransitGatewaySubnet)?;
        let rt = dv
            .route_tables
            .iter()
            .find(|r| r.id == exit.route_table_id)
            .ok_or(DropReason::NoRoute)?;
        let to = match longest_match(&rt.routes, dst).ok_or(DropReason::NoRoute)? {
            t @ (RouteTarget::InternetGateway(_)
            | RouteTarget::EgressOnlyInternetGateway(_)
            | RouteTarget::NatGateway(_)
            | RouteTarget::VpnGateway(_)
            | RouteTarget::VpcEndpoint(_)) => self.target(di, &t, dst)?,
            RouteTarget::NetworkInterface(eni) => return self.appliance(di, exit, &eni, m),
            RouteTarget::Blackhole => return Err(DropReason::Blackhole),
            _ => return Err(DropReason::NoRoute),
        };
        let To::Edge { mac, .. } = &to else {
            return Err(DropReason::Internal);
        };
        let nat_subnet = dv
            .edges
            .iter()
            .rev()
            .find(|e| crate::overlay::gateway_mac(&e.gateway_id) == *mac)
            .and_then(|e| e.subnet_id.as_deref())
            .and_then(|id| dv.subnets.iter().find(|s| s.id == id));
        if !nat_subnet.is_some_and(|n| std::ptr::eq(n, exit)) {
            if !subnet_acl_allows(dv, exit, true, m) {
                return Err(DropReason::NaclEgress);
            }
            if let Some(n) = nat_subnet
                && !subnet_acl_allows(dv, n, false, m)
            {
                return Err(DropReason::NaclIngress);
            }
        }
        Ok(to)
    }

    /// Centralised inspection: attachment subnet `exit` of VPC `di` routes the packet to
    /// appliance ENI `eni`; the attachment subnet's ACL lets it out and the appliance
    /// subnet's lets it in, unless they are one subnet; the appliance's host judges the
    /// rest (its groups, and what it forwards).
    fn appliance(&self, di: usize, exit: &Subnet, eni: &str, m: &Meta) -> Result<To, DropReason> {
        let dv = &self.program.vpcs[di];
        // the engine finds an ENI by its lowest address (of its last entry)
        let mapping = dv
            .mappings
            .iter()
            .rev()
            .filter(|x| x.eni_id == eni)
            .min_by_key(|x| x.ip)
            .ok_or(DropReason::NoMapping)?;
        let into = dv
            .subnets
            .iter()
            .find(|s| s.cidr.is_some_and(|c| c.contains(&mapping.ip)))
            .ok_or(DropReason::NoRoute)?;
        if !std::ptr::eq(into, exit) {
            if !subnet_acl_allows(dv, exit, true, m) {
                return Err(DropReason::NaclEgress);
            }
            if !subnet_acl_allows(dv, into, false, m) {
                return Err(DropReason::NaclIngress);
            }
        }
        Ok(To::Host {
            vpc: di,
            host: mapping.host,
            mac: mapping.mac,
            eni: mapping.eni_id.clone(),
            acl: false,
        })
    }

    /// The VPCs joined with VPC `vi` through transit gateways: those its attachments'
    /// tables route to (across a peering too) or name as senders, and those whose
    /// attachments route to it or name it.
    fn transit_joined(&self, vi: usize) -> Vec<usize> {
        let me = &self.program.vpcs[vi].id;
        let reach = |a: &TransitGatewayAttachment| -> Vec<String> {
            let mut out: Vec<String> = a.senders.clone();
            let targets = a
                .routes
                .iter()
                .map(|r| &r.target)
                .chain(a.routes_v6.iter().map(|r| &r.target));
            for t in targets {
                match t {
                    TransitGatewayTarget::Vpc { vpc_id, .. } => out.push(vpc_id.clone()),
                    TransitGatewayTarget::Peering {
                        routes, routes_v6, ..
                    } => {
                        let theirs = routes
                            .iter()
                            .map(|r| &r.target)
                            .chain(routes_v6.iter().map(|r| &r.target));
                        out.extend(theirs.filter_map(|t| match t {
                            TransitGatewayTarget::Vpc { vpc_id, .. } => Some(vpc_id.clone()),
                            _ => None,
                        }));
                    }
                    _ => {}
                }
            }
            out
        };
        let mut ids: Vec<String> = Vec::new();
        for v in &self.program.vpcs {
            for a in &v.transit_gateway_attachments {
                let r = reach(a);
                if &v.id == me {
                    ids.extend(r.into_iter().filter(|x| x != me));
                } else if r.iter().any(|x| x == me) {
                    ids.push(v.id.clone());
                }
            }
        }
        ids.into_iter().filter_map(|id| self.vpc(&id)).collect()
    }

    /// A packet the edge carries in from a transit gateway's VPN attachment (its inner
    /// source MAC the attachment's): `None` for any other packet, else whether the
    /// destination subnet's ACL is still to be evaluated (not when the packet leaves the
    /// gateway by that very subnet).
    fn transit_entry(
        &self,
        vi: usize,
        outer: Ipv4Addr,
        src_mac: MacAddr,
        m: &Meta,
    ) -> Result<Option<bool>, DropReason> {
        let vpc = &self.program.vpcs[vi];
        let Some(a) = vpc
            .transit_gateway_attachments
            .iter()
            .find(|a| crate::overlay::gateway_mac(&a.id) == src_mac)
        else {
            return Ok(None);
        };
        if !vpc.edges.iter().any(|e| e.host == outer) {
            return Ok(None);
        }
        let into = vpc
            .subnets
            .iter()
            .find(|s| s.cidr.is_some_and(|c| c.contains(&m.tuple.dst)))
            .ok_or(DropReason::NoRoute)?;
        let exit = attachment_exit(vpc, a, &into.availability_zone, m)
            .ok_or(DropReason::NoTransitGatewaySubnet)?;
        if std::ptr::eq(exit, into) {
            return Ok(Some(false));
        }
        if !subnet_acl_allows(vpc, exit, true, m) {
            return Err(DropReason::NaclEgress);
        }
        Ok(Some(true))
    }

    fn encap(
        &self,
        out: &mut Vec<u8>,
        host: Ipv4Addr,
        vni: u32,
        sport: u16,
        frame: &[u8],
        rewrite: Option<(MacAddr, MacAddr)>,
    ) {
        let u = &self.program.underlay;
        let n = 14 + 20 + 8 + 8 + frame.len();
        out.clear();
        out.resize(n, 0);
        ethernet::Repr {
            src: u.mac,
            dst: u.next_hop_mac,
            ethertype: ethertype::IPV4,
        }
        .emit(&mut ethernet::Frame::new_unchecked(&mut out[..]));
        ipv4::Repr {
            src: u.address,
            dst: host,
            protocol: ip_proto::UDP,
            payload_len: n - 34,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
        }
        .emit(&mut ipv4::Packet::new_unchecked(&mut out[14..]));
        udp::Repr {
            src_port: sport,
            dst_port: 6081,
            payload_len: n - 42,
        }
        .emit(
            &mut udp::Packet::new_unchecked(&mut out[34..]),
            u.address,
            host,
            false,
        );
        geneve::Repr {
            vni,
            protocol: ethertype::TEB,
            oam: false,
            critical: false,
        }
        .emit(&mut geneve::Packet::new_unchecked(&mut out[42..]));
        out[50..].copy_from_slice(frame);
        if let Some((s, d)) = rewrite {
            out[50..56].copy_from_slice(&d.0);
            out[56..62].copy_from_slice(&s.0);
        }
    }

    fn walk_from_underlay(
        &mut self,
        now: Time,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Verdict, DropReason> {
        let d = crate::overlay::decapsulate(frame)?;
        if d.outer_dst != self.program.underlay.address {
            return Err(DropReason::NotForThisHost);
        }
        let vi = self
            .program
            .vpcs
            .iter()
            .position(|v| v.vni & 0xff_ffff == d.vni)
            .ok_or(DropReason::UnknownVni)?;
        let inner = &frame[d.inner_offset..d.inner_end];
        let eth = ethernet::Frame::new_checked(inner).map_err(|_| DropReason::Malformed)?;
        match eth.ethertype() {
            ethertype::IPV4 => {}
            ethertype::IPV6 => return self.walk6_from_underlay(now, vi, d.outer_src, inner, out),
            _ => return Err(DropReason::UnsupportedEthertype),
        }
        let m = packet::parse_ipv4(eth.payload())?;
        if eth.dst().0[0] & 1 == 1 {
            return Err(DropReason::BroadcastOrMulticast);
        }
        let through_gateway = self.authenticate(vi, m.tuple.src, d.outer_src)?;
        let q = self
            .program
            .ports
            .iter()
            .rposition(|x| x.mac == eth.dst() && self.vpc(&x.vpc_id).is_some())
            .ok_or(DropReason::NoSuchPort)?;
        let acl = if through_gateway {
            false
        } else {
            self.transit_entry(vi, d.outer_src, eth.src(), &m)?
                .unwrap_or(true)
        };
        let (s, dm) = self.deliver(now, q, vi, eth.src(), &m, acl)?;
        out.clear();
        out.extend_from_slice(inner);
        out[0..6].copy_from_slice(&dm.0);
        out[6..12].copy_from_slice(&s.0);
        Ok(Verdict::ToPort { port: pid(q) })
    }

    /// Whether the packet may come from `outer`; `true`: from a VPC joined through a
    /// transit gateway, whose sender walked the gateway and judged its ACLs.
    fn authenticate(&self, vi: usize, src: Ipv4Addr, outer: Ipv4Addr) -> Result<bool, DropReason> {
        let vpc = &self.program.vpcs[vi];
        if vpc
            .mappings
            .iter()
            .any(|m| !m.source_dest_check && m.host == outer)
        {
            return Ok(false);
        }
        if let Some(m) = vpc.mappings.iter().rev().find(|m| m.ip == src) {
            return if m.host == outer {
                Ok(false)
            } else {
                Err(DropReason::AuthenticationFailed)
            };
        }
        if vpc.cidrs.iter().any(|c| c.contains(&src)) {
            return Err(DropReason::AuthenticationFailed);
        }
        for p in &vpc.peerings {
            let Some(pi) = self.vpc(&p.peer_vpc_id) else {
                continue;
            };
            let peer = &self.program.vpcs[pi];
            if peer.cidrs.iter().any(|c| c.contains(&src)) {
                return match peer.mappings.iter().rev().find(|m| m.ip == src) {
                    Some(m) if m.host == outer => Ok(false),
                    _ => Err(DropReason::AuthenticationFailed),
                };
            }
        }
        // joined VPCs may overlap: any of them holding the source on `outer` will do
        let mut joined = false;
        for ti in self.transit_joined(vi) {
            let other = &self.program.vpcs[ti];
            if other.cidrs.iter().any(|c| c.contains(&src)) {
                joined = true;
                if other
                    .mappings
                    .iter()
                    .rev()
                    .find(|m| m.ip == src)
                    .is_some_and(|m| m.host == outer)
                {
                    return Ok(true);
                }
            }
        }
        // an appliance of a joined VPC forwards for any source (centralised inspection)
        for ti in self.transit_joined(vi) {
            if self.program.vpcs[ti]
                .mappings
                .iter()
                .any(|m| !m.source_dest_check && m.host == outer)
            {
                return Ok(true);
            }
        }
        if joined {
            return Err(DropReason::AuthenticationFailed);
        }
        if vpc.edges.iter().any(|e| e.host == outer) {
            Ok(false)
        } else {
            Err(DropReason::AuthenticationFailed)
        }
    }

    /// Destination check, NACL inbound when crossing into the subnet, SG ingress.
    fn deliver(
        &mut self,
        now: Time,
        q: usize,
        vi: usize,
        src_mac: MacAddr,
        m: &Meta,
        acl: bool,
    ) -> Result<(MacAddr, MacAddr), DropReason> {
        let port = self.program.ports[q].clone();
        if self.vpc(&port.vpc_id) != Some(vi) {
            return Err(DropReason::NoSuchPort);
        }
        let vpc = self.program.vpcs[vi].clone();
        let subnet = vpc
            .subnets
            .iter()
            .find(|s| s.id == port.subnet_id)
            .ok_or(DropReason::NoSuchPort)?;
        let dst = m.tuple.dst;
        if port.source_dest_check
            && port.primary_ip != Some(dst)
            && !port.secondary_ips.contains(&dst)
        {
            return Err(DropReason::DestinationCheck);
        }
        let crossing = !subnet.cidr.is_some_and(|c| c.contains(&m.tuple.src));
        if crossing && acl {
            let acl = vpc
                .network_acls
                .iter()
                .find(|a| a.id == subnet.network_acl_id);
            if !acl.is_some_and(|a| nacl_allows(a, false, m, m.tuple.src)) {
                self.count(q, m, false);
                return Err(DropReason::NaclIngress);
            }
        }
        if let Err(e) = self.security(now, q, &port, &vpc, Direction::Inbound, m) {
            if e == DropReason::SecurityGroupIngress {
                self.count(q, m, false);
            }
            return Err(e);
        }
        self.count(q, m, true);
        Ok(if crossing {
            (vpc.router_mac, port.mac)
        } else {
            (src_mac, port.mac)
        })
    }

    /// Conntrack first (a live entry lets the packet through and is refreshed), then the
    /// union of the port's groups; a tracked new flow is remembered if there is room.
    fn security(
        &mut self,
        now: Time,
        p: usize,
        port: &Port,
        vpc: &Vpc,
        dir: Direction,
        m: &Meta,
    ) -> Result<(), DropReason> {
        let key = track_key(dir, m);
        let (l, r, a, b, pr) = key;
        let key = (IpAddr::V4(l), IpAddr::V4(r), a, b, pr);
        if let Some(i) = self
            .tracked
            .iter()
            .position(|t| t.port == p && t.key == key)
        {
            if self.tracked[i].alive(now) {
                let t = &mut self.tracked[i];
                t.last = now;
                t.state = t.state.next(t.initiator, dir, m.tcp_flags);
                return Ok(());
            }
            self.tracked.remove(i);
        }
        let egress = dir == Direction::Outbound;
        let peer = if egress { m.tuple.dst } else { m.tuple.src };
        let groups: Vec<&SecurityGroup> = port
            .security_groups
            .iter()
            .filter_map(|id| vpc.security_groups.iter().find(|g| &g.id == id))
            .collect();
        let rules = |eg: bool| -> Vec<&SgRule> {
            groups
                .iter()
                .flat_map(|g| {
                    if eg {
                        g.egress.iter()
                    } else {
                        g.ingress.iter()
                    }
                })
                .collect()
        };
        let matching: Vec<&SgRule> = rules(egress)
            .into_iter()
            .filter(|r| sg_rule_matches(r, &self.program.vpcs, m, peer))
            .collect();
        if matching.is_empty() {
            return Err(if egress {
                DropReason::SecurityGroupEgress
            } else {
                DropReason::SecurityGroupIngress
            });
        }
        let proto = m.tuple.protocol;
        let for_everyone = matching
            .iter()
            .any(|r| matches!(&r.peer, SgPeer::Cidr(c) if c.prefix_len() == 0));
        let opposite_open = rules(!egress).iter().any(|r| {
            matches!(&r.peer, SgPeer::Cidr(c) if c.prefix_len() == 0)
                && (r.protocol == -1
                    || (i32::from(r.protocol) == i32::from(proto)
                        && (r.from_port < 0 || (r.from_port == 0 && r.to_port >= 65535))))
        });
        let untracked =
            (proto == ip_proto::TCP || proto == ip_proto::UDP) && for_everyone && opposite_open;
        if untracked {
            return Ok(());
        }
        self.track(now, p, port, key, dir, State::initial(m))
    }

    /// Remembers a new tracked flow if the port has room (each family has its own
    /// budget, as the engine's tables do).
    fn track(
        &mut self,
        now: Time,
        p: usize,
        port: &Port,
        key: (IpAddr, IpAddr, u16, u16, u8),
        dir: Direction,
        state: State,
    ) -> Result<(), DropReason> {
        let v6 = key.0.is_ipv6();
        let live = self
            .tracked
            .iter()
            .filter(|t| t.port == p && t.key.0.is_ipv6() == v6 && t.alive(now))
            .count();
        if live >= self.limit {
            return Err(DropReason::ConntrackFull);
        }
        self.tracked.push(Tracked {
            port: p,
            key,
            initiator: dir,
            state,
            last: now,
            timeouts: port.conntrack.into(),
        });
        Ok(())
    }
}

/// The port of program index `p` (the engine numbers a fresh program's ports in order).
fn pid(p: usize) -> PortId {
    PortId(u16::try_from(p).unwrap_or(u16::MAX))
}

fn dhcp_verdict(port: &Port, ip: &[u8]) -> Result<(), DropReason> {
    use crate::wire::dhcp;
    let ip = ipv4::Packet::new_checked(ip).map_err(|_| DropReason::Malformed)?;
    let u = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::Malformed)?;
    let p = dhcp::Packet::new_checked(u.payload()).map_err(|_| DropReason::DhcpIgnored)?;
    let r = dhcp::Repr::parse(&p).map_err(|_| DropReason::DhcpIgnored)?;
    let known = matches!(
        r.message_type,
        Some(dhcp::MessageType::Discover | dhcp::MessageType::Request | dhcp::MessageType::Inform)
    );
    if r.op != dhcp::op::BOOTREQUEST || r.chaddr != port.mac || !known {
        return Err(DropReason::DhcpIgnored);
    }
    Ok(())
}

fn track_key(dir: Direction, m: &Meta) -> (Ipv4Addr, Ipv4Addr, u16, u16, u8) {
    let t = &m.tuple;
    let (local, remote) = if dir == Direction::Outbound {
        (t.src, t.dst)
    } else {
        (t.dst, t.src)
    };
    let (a, b) = match t.protocol {
        ip_proto::TCP | ip_proto::UDP => {
            if dir == Direction::Outbound {
                (t.src_port, t.dst_port)
            } else {
                (t.dst_port, t.src_port)
            }
        }
        ip_proto::ICMP => match icmp::query_of(m.icmp_type) {
            Some(q) => (t.src_port, u16::from(q)),
            None => (
                (u16::from(m.icmp_type) << 8) | u16::from(m.icmp_code),
                0xffff,
            ),
        },
        _ => (0, 0),
    };
    (local, remote, a, b, t.protocol)
}

fn sg_rule_matches(r: &SgRule, vpcs: &[Vpc], m: &Meta, peer: Ipv4Addr) -> bool {
    let proto = m.tuple.protocol;
    if r.protocol >= 0 && u8::try_from(r.protocol).ok() != Some(proto) {
        return false;
    }
    let peer_ok = match &r.peer {
        SgPeer::Cidr(c) => c.contains(&peer),
        SgPeer::Cidr6(_) => false,
        // a group of any VPC of the program: a peered VPC's group is named by its id
        SgPeer::Group(id) => vpcs
            .iter()
            .flat_map(|v| &v.security_groups)
            .find(|g| &g.id == id)
            .is_some_and(|g| g.members.contains(&peer)),
    };
    if !peer_ok {
        return false;
    }
    if r.protocol < 0 {
        return true;
    }
    match proto {
        ip_proto::TCP | ip_proto::UDP => {
            r.from_port < 0
                || (r.from_port <= i32::from(m.tuple.dst_port)
                    && i32::from(m.tuple.dst_port) <= r.to_port)
        }
        ip_proto::ICMP => {
            r.from_port < 0
                || (r.from_port == i32::from(m.icmp_type)
                    && (r.to_port < 0 || r.to_port == i32::from(m.icmp_code)))
        }
        _ => true,
    }
}

fn nacl_allows(acl: &NetworkAcl, egress: bool, m: &Meta, peer: Ipv4Addr) -> bool {
    let mut entries: Vec<&NaclEntry> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|e| e.rule_number);
    for e in entries {
        let proto = m.tuple.protocol;
        if e.protocol >= 0 && u8::try_from(e.protocol).ok() != Some(proto) {
            continue;
        }
        if !e.cidr.contains(&peer) {
            continue;
        }
        let ports_ok = if e.protocol < 0 {
            true
        } else {
            match proto {
                ip_proto::TCP | ip_proto::UDP => e
                    .port_range
                    .is_none_or(|(lo, hi)| lo <= m.tuple.dst_port && m.tuple.dst_port <= hi),
                ip_proto::ICMP => e.icmp.is_none_or(|(t, c)| {
                    t < 0 || (t == i16::from(m.icmp_type) && (c < 0 || c == i16::from(m.icmp_code)))
                }),
                _ => true,
            }
        };
        if ports_ok {
            return e.allow;
        }
    }
    false
}

/// The subnets of attachment `a` of `vpc`, in its order (ids naming none left out).
fn attachment_subnets<'v>(vpc: &'v Vpc, a: &TransitGatewayAttachment) -> Vec<&'v Subnet> {
    a.subnet_ids
        .iter()
        .filter_map(|id| vpc.subnets.iter().find(|s| &s.id == id))
        .collect()
}

/// The subnet a packet from `zone` leaves the gateway by into `vpc` through `a`: in
/// appliance mode the flow's (by a hash its reply shares); else the zone's, or the first.
fn attachment_exit<'v>(
    vpc: &'v Vpc,
    a: &TransitGatewayAttachment,
    zone: &str,
    m: &Meta,
) -> Option<&'v Subnet> {
    let subnets = attachment_subnets(vpc, a);
    if a.appliance_mode && !subnets.is_empty() {
        let n = u64::try_from(subnets.len()).unwrap_or(u64::MAX);
        let i = usize::try_from(crate::transit::symmetric_hash(&m.tuple) % n).unwrap_or(0);
        return subnets.get(i).copied();
    }
    subnets
        .iter()
        .find(|s| s.availability_zone == zone)
        .or(subnets.first())
        .copied()
}

/// [`subnet_acl_allows`] for an IPv6 packet.
fn subnet_acl6_allows(vpc: &Vpc, s: &Subnet, egress: bool, m: &Meta6) -> bool {
    let peer = if egress { m.tuple.dst } else { m.tuple.src };
    vpc.network_acls
        .iter()
        .find(|a| a.id == s.network_acl_id)
        .is_some_and(|a| nacl6_allows(a, egress, m, peer))
}

/// [`attachment_exit`] for an IPv6 flow.
fn attachment_exit6<'v>(
    vpc: &'v Vpc,
    a: &TransitGatewayAttachment,
    zone: &str,
    m: &Meta6,
) -> Option<&'v Subnet> {
    let subnets = attachment_subnets(vpc, a);
    if a.appliance_mode && !subnets.is_empty() {
        let n = u64::try_from(subnets.len()).unwrap_or(u64::MAX);
        let i = usize::try_from(crate::transit::symmetric_hash6(&m.tuple) % n).unwrap_or(0);
        return subnets.get(i).copied();
    }
    subnets
        .iter()
        .find(|s| s.availability_zone == zone)
        .or(subnets.first())
        .copied()
}

/// [`gateway_match`] over a table's IPv6 routes.
fn gateway_match6(routes: &[TransitGatewayRoute6], dst: Ipv6Addr) -> Option<&TransitGatewayRoute6> {
    let mut best: Option<&TransitGatewayRoute6> = None;
    for r in routes.iter().filter(|r| r.destination.contains(&dst)) {
        if best.is_none_or(|b| r.destination.prefix_len() > b.destination.prefix_len()) {
            best = Some(r);
        }
    }
    best
}

/// Whether subnet `s`'s ACL lets the packet out (`egress`) or in; none: nothing passes.
fn subnet_acl_allows(vpc: &Vpc, s: &Subnet, egress: bool, m: &Meta) -> bool {
    let peer = if egress { m.tuple.dst } else { m.tuple.src };
    vpc.network_acls
        .iter()
        .find(|a| a.id == s.network_acl_id)
        .is_some_and(|a| nacl_allows(a, egress, m, peer))
}

/// A gateway table's route for `dst`: the longest prefix; of one destination listed twice,
/// the first.
fn gateway_match(routes: &[TransitGatewayRoute], dst: Ipv4Addr) -> Option<&TransitGatewayRoute> {
    let mut best: Option<&TransitGatewayRoute> = None;
    for r in routes.iter().filter(|r| r.destination.contains(&dst)) {
        if best.is_none_or(|b| r.destination.prefix_len() > b.destination.prefix_len()) {
            best = Some(r);
        }
    }
    best
}

fn longest_match(routes: &[Route], dst: Ipv4Addr) -> Option<RouteTarget> {
    let reserved: Ipv4Net = "169.254.168.0/22".parse().expect("cidr");
    let mut best: Option<(u8, RouteTarget)> = None;
    for r in routes.iter().chain(std::iter::once(&Route {
        destination: reserved,
        target: RouteTarget::Blackhole,
    })) {
        let d = r.destination.trunc();
        if d.contains(&dst) && best.as_ref().is_none_or(|(l, _)| d.prefix_len() >= *l) {
            best = Some((d.prefix_len(), r.target.clone()));
        }
    }
    best.map(|(_, t)| t)
}

// ---- IPv6 ---------------------------------------------------------------------------

const ROUTER_EC2_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0x0ec2, 0, 0, 0, 0, 0, 1);

fn link_local6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn router6(vpc: &Vpc, subnet: &Subnet, a: Ipv6Addr) -> bool {
    let base = subnet
        .ipv6_cidr
        .map(|c| Ipv6Addr::from(u128::from(c.network()) + 1));
    a == ipv6::link_local_of(vpc.router_mac.0) || a == ROUTER_EC2_LL || Some(a) == base
}

fn owns6(p: &Port, a: Ipv6Addr) -> bool {
    p.ipv6_addresses.contains(&a)
}

impl Reference {
    #[allow(clippy::too_many_arguments)]
    fn walk6_from_port(
        &mut self,
        now: Time,
        p: usize,
        port: &Port,
        vi: usize,
        subnet: &Subnet,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Verdict, DropReason> {
        let vpc = self.program.vpcs[vi].clone();
        let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
        let m = packet::parse_ipv6(eth.payload())?;
        let (src, dst) = (m.tuple.src, m.tuple.dst);
        let hairpin = Ok(Verdict::Hairpin { port: pid(p) });
        let ndp = matches!(m.icmp_type, 130..=137 | 143);
        if m.tuple.protocol == ip_proto::ICMPV6 && ndp {
            if subnet.ipv6_cidr.is_none() {
                return Err(DropReason::NdpUnanswered);
            }
            return ndp_verdict(port, &vpc, subnet, eth.payload(), &m).and(hairpin);
        }
        let dhcp =
            m.tuple.protocol == ip_proto::UDP && m.tuple.src_port == 546 && m.tuple.dst_port == 547;
        if dhcp
            && (dst == "ff02::1:2".parse::<Ipv6Addr>().expect("addr") || router6(&vpc, subnet, dst))
        {
            if subnet.ipv6_cidr.is_none() {
                return Err(DropReason::Dhcpv6Ignored);
            }
            return dhcpv6_verdict(port, &vpc, eth.payload(), &m).and(hairpin);
        }
        if eth.dst().0[0] & 1 == 1 || dst.is_multicast() {
            return Err(DropReason::BroadcastOrMulticast);
        }
        if subnet.ipv6_cidr.is_some() && router6(&vpc, subnet, dst) {
            if !(link_local6(src) || !port.source_dest_check || owns6(port, src)) {
                return Err(DropReason::SourceCheck);
            }
            if m.tuple.protocol == ip_proto::ICMPV6 && m.icmp_type == 128 {
                return hairpin;
            }
            return Err(DropReason::RouterAddress);
        }
        if port.source_dest_check && !owns6(port, src) {
            return Err(DropReason::SourceCheck);
        }
        // Nitro's IPv6 link-local services: metadata (::254) and time sync (::123) go to
        // the agent; the resolver (::253) too when the agent answers DNS, which the
        // model's engines never do (it is dropped as link-local below)
        let service = match dst.segments() {
            [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254] => Some(Service::InstanceMetadata),
            [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x123] => Some(Service::TimeSync),
            _ => None,
        };
        if let Some(service) = service {
            out.clear();
            out.extend_from_slice(frame);
            return Ok(Verdict::Service {
                port: pid(p),
                service,
            });
        }
        let services: Ipv6Net = "fd00:ec2::/32".parse().expect("cidr");
        if link_local6(src) || link_local6(dst) || services.contains(&dst) {
            return Err(DropReason::LinkLocal);
        }
        let routed = eth.dst() == vpc.router_mac;
        let same_subnet = subnet.ipv6_cidr.is_some_and(|c| c.contains(&dst));
        if !routed {
            let owner = vpc.mappings_v6.iter().rev().find(|x| x.ip == dst);
            if !same_subnet || owner.map(|o| o.mac) != Some(eth.dst()) {
                return Err(DropReason::UnknownDestinationMac);
            }
        }
        if let Err(e) = self.security6(now, p, port, &vpc, Direction::Outbound, &m) {
            if e == DropReason::SecurityGroupEgress {
                self.count(p, &m, false);
            }
            return Err(e);
        }
        let target = if same_subnet {
            RouteTarget::Local
        } else {
            let acl = vpc
                .network_acls
                .iter()
                .find(|a| a.id == subnet.network_acl_id);
            if !acl.is_some_and(|a| nacl6_allows(a, true, &m, dst)) {
                self.count(p, &m, false);
                return Err(DropReason::NaclEgress);
            }
            let rt = vpc
                .route_tables
                .iter()
                .find(|r| r.id == subnet.route_table_id)
                .ok_or(DropReason::NoRoute)?;
            longest_match6(&rt.routes_v6, dst).ok_or(DropReason::NoRoute)?
        };
        // (through a transit gateway the walk judges the destination subnet's ACL)
        let mut acl = true;
        let (host, mac, eni, dvi) = match &target {
            RouteTarget::Local => vpc
                .mappings_v6
                .iter()
                .rev()
                .find(|x| x.ip == dst)
                .map(|x| (x.host, x.mac, x.eni_id.clone(), vi))
                .ok_or(DropReason::NoMapping)?,
            RouteTarget::NetworkInterface(e) => vpc
                .mappings
                .iter()
                .rev()
                .find(|x| &x.eni_id == e)
                .map(|x| (x.host, x.mac, x.eni_id.clone(), vi))
                .ok_or(DropReason::NoMapping)?,
            // the peer VPC's own blocks, by its IPv6 V2P
            RouteTarget::VpcPeering(pcx) => {
                let peering = vpc
                    .peerings
                    .iter()
                    .rev()
                    .find(|x| &x.id == pcx)
                    .ok_or(DropReason::NoRoute)?;
                let pi = self.vpc(&peering.peer_vpc_id).ok_or(DropReason::NoRoute)?;
                let peer = &self.program.vpcs[pi];
                if !peer.ipv6_cidrs.iter().any(|c| c.contains(&dst)) {
                    return Err(DropReason::NoRoute);
                }
                peer.mappings_v6
                    .iter()
                    .rev()
                    .find(|x| x.ip == dst)
                    .map(|x| (x.host, x.mac, x.eni_id.clone(), pi))
                    .ok_or(DropReason::NoMapping)?
            }
            RouteTarget::Blackhole => return Err(DropReason::Blackhole),
            // a gateway: to the edge serving it, addressed to the gateway's MAC
            RouteTarget::InternetGateway(g)
            | RouteTarget::EgressOnlyInternetGateway(g)
            | RouteTarget::NatGateway(g)
            | RouteTarget::VpnGateway(g)
            | RouteTarget::VpcEndpoint(g) => {
                let host = vpc
                    .edges
                    .iter()
                    .rev()
                    .find(|e| &e.gateway_id == g)
                    .map(|e| e.host)
                    .ok_or(DropReason::NoEdge)?;
                self.count(p, &m, true);
                let vni = vpc.vni & 0xff_ffff;
                let sport = crate::overlay::entropy_port6(&m.tuple);
                let rewrite = Some((vpc.router_mac, crate::overlay::gateway_mac(g)));
                self.encap(out, host, vni, sport, frame, rewrite);
                return Ok(Verdict::ToEdge { host, vni });
            }
            RouteTarget::TransitGateway(g) => {
                acl = false;
                self.transit6(vi, subnet, g, &m)?
            }
        };
        self.count(p, &m, true);
        let rewrite = routed.then_some((vpc.router_mac, mac));
        if host == self.program.underlay.address {
            let q = self
                .program
                .ports
                .iter()
                .position(|x| x.id == eni)
                .ok_or(DropReason::NoSuchPort)?;
            if self.program.ports[q].mac != mac {
                return Err(DropReason::NoSuchPort);
            }
            let src_after = rewrite.map_or(eth.src(), |r| r.0);
            let (s, d) = self.deliver6(now, q, dvi, src_after, &m, acl)?;
            out.clear();
            out.extend_from_slice(frame);
            out[0..6].copy_from_slice(&d.0);
            out[6..12].copy_from_slice(&s.0);
            return Ok(Verdict::ToPort { port: pid(q) });
        }
        let vni = self.program.vpcs[dvi].vni & 0xff_ffff;
        let sport = crate::overlay::entropy_port6(&m.tuple);
        self.encap(out, host, vni, sport, frame, rewrite);
        Ok(Verdict::ToUnderlay { host, vni })
    }

    /// An IPv6 packet from subnet `from` of VPC `vi` to transit gateway `tgw`, as
    /// [`Reference::transit`] walks IPv4's by the tables' IPv6 routes: into a VPC's
    /// subnets only (no centralised egress or inspection, no VPN attachment for IPv6).
    fn transit6(
        &self,
        vi: usize,
        from: &Subnet,
        tgw: &str,
        m: &Meta6,
    ) -> Result<(Ipv4Addr, MacAddr, String, usize), DropReason> {
        let vpc = &self.program.vpcs[vi];
        let dst = m.tuple.dst;
        let a = vpc
            .transit_gateway_attachments
            .iter()
            .find(|a| a.transit_gateway_id == tgw)
            .ok_or(DropReason::NoRoute)?;
        let subnets = attachment_subnets(vpc, a);
        let entry = subnets
            .iter()
            .find(|s| s.availability_zone == from.availability_zone)
            .ok_or(DropReason::NoTransitGatewaySubnet)?;
        if !subnet_acl6_allows(vpc, entry, false, m) {
            return Err(DropReason::NaclIngress);
        }
        let mut route = gateway_match6(&a.routes_v6, dst).ok_or(DropReason::NoRoute)?;
        if let TransitGatewayTarget::Peering { attachment_id, .. } = &route.target {
            // across the peering: the first IPv6 route to it names the peer table
            let theirs = a
                .routes_v6
                .iter()
                .find_map(|r| match &r.target {
                    TransitGatewayTarget::Peering {
                        attachment_id: p,
                        routes_v6,
                        ..
                    } if p == attachment_id => Some(routes_v6),
                    _ => None,
                })
                .ok_or(DropReason::Internal)?;
            route = gateway_match6(theirs, dst).ok_or(DropReason::NoRoute)?;
        }
        let (to_vpc, to_att) = match &route.target {
            TransitGatewayTarget::Vpc {
                attachment_id,
                vpc_id,
            } => (vpc_id, attachment_id),
            TransitGatewayTarget::Blackhole => return Err(DropReason::Blackhole),
            TransitGatewayTarget::Unsupported(_) | TransitGatewayTarget::Peering { .. } => {
                return Err(DropReason::NoRoute);
            }
        };
        let di = self.vpc(to_vpc).ok_or(DropReason::NoRoute)?;
        let dv = &self.program.vpcs[di];
        let da = dv
            .transit_gateway_attachments
            .iter()
            .rev()
            .find(|x| &x.id == to_att)
            .ok_or(DropReason::NoRoute)?;
        let into = dv
            .subnets
            .iter()
            .find(|s| s.ipv6_cidr.is_some_and(|c| c.contains(&dst)))
            .ok_or(DropReason::NoRoute)?;
        let exit = attachment_exit6(dv, da, &from.availability_zone, m)
            .ok_or(DropReason::NoTransitGatewaySubnet)?;
        if !std::ptr::eq(exit, into) {
            if !subnet_acl6_allows(dv, exit, true, m) {
                return Err(DropReason::NaclEgress);
            }
            if !subnet_acl6_allows(dv, into, false, m) {
                return Err(DropReason::NaclIngress);
            }
        }
        dv.mappings_v6
            .iter()
            .rev()
            .find(|x| x.ip == dst)
            .map(|x| (x.host, x.mac, x.eni_id.clone(), di))
            .ok_or(DropReason::NoMapping)
    }

    /// The VPCs joined with VPC `vi` through transit gateways whose IPv6 blocks hold
    /// `src` (`None`: none does).
    fn transit_joined6(&self, vi: usize, src: Ipv6Addr) -> Option<Vec<usize>> {
        let holding: Vec<usize> = self
            .transit_joined(vi)
            .into_iter()
            .filter(|&ti| {
                self.program.vpcs[ti]
                    .ipv6_cidrs
                    .iter()
                    .any(|c| c.contains(&src))
            })
            .collect();
        (!holding.is_empty()).then_some(holding)
    }

    fn walk6_from_underlay(
        &mut self,
        now: Time,
        vi: usize,
        outer: Ipv4Addr,
        inner: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Verdict, DropReason> {
        let eth = ethernet::Frame::new_checked(inner).map_err(|_| DropReason::Malformed)?;
        let m = packet::parse_ipv6(eth.payload())?;
        if eth.dst().0[0] & 1 == 1 || m.tuple.dst.is_multicast() {
            return Err(DropReason::BroadcastOrMulticast);
        }
        let vpc = &self.program.vpcs[vi];
        let src = m.tuple.src;
        let mut through_gateway = false;
        let middlebox = vpc
            .mappings
            .iter()
            .any(|x| !x.source_dest_check && x.host == outer)
            || vpc
                .mappings_v6
                .iter()
                .any(|x| !x.source_dest_check && x.host == outer);
        if !middlebox {
            if let Some(x) = vpc.mappings_v6.iter().rev().find(|x| x.ip == src) {
                if x.host != outer {
                    return Err(DropReason::AuthenticationFailed);
                }
            } else if vpc.ipv6_cidrs.iter().any(|c| c.contains(&src)) || link_local6(src) {
                return Err(DropReason::AuthenticationFailed);
            } else if let Some(peer) = vpc
                .peerings
                .iter()
                .filter_map(|p| self.vpc(&p.peer_vpc_id))
                .map(|pi| &self.program.vpcs[pi])
                .find(|peer| peer.ipv6_cidrs.iter().any(|c| c.contains(&src)))
            {
                // a peered VPC's address: from the host its IPv6 V2P names
                if peer
                    .mappings_v6
                    .iter()
                    .rev()
                    .find(|x| x.ip == src)
                    .is_none_or(|x| x.host != outer)
                {
                    return Err(DropReason::AuthenticationFailed);
                }
            } else if let Some(joined) = self.transit_joined6(vi, src) {
                // a VPC joined through a transit gateway (joined VPCs may overlap: any of
                // them holding the source on `outer` will do); its sender walked the
                // gateway and judged the ACLs
                if !joined.iter().any(|&ti| {
                    self.program.vpcs[ti]
                        .mappings_v6
                        .iter()
                        .rev()
                        .find(|x| x.ip == src)
                        .is_some_and(|x| x.host == outer)
                }) {
                    return Err(DropReason::AuthenticationFailed);
                }
                through_gateway = true;
            } else if !vpc.edges.iter().any(|e| e.host == outer) {
                return Err(DropReason::AuthenticationFailed);
            }
        }
        let q = self
            .program
            .ports
            .iter()
            .rposition(|x| x.mac == eth.dst() && self.vpc(&x.vpc_id).is_some())
            .ok_or(DropReason::NoSuchPort)?;
        let (s, d) = self.deliver6(now, q, vi, eth.src(), &m, !through_gateway)?;
        out.clear();
        out.extend_from_slice(inner);
        out[0..6].copy_from_slice(&d.0);
        out[6..12].copy_from_slice(&s.0);
        Ok(Verdict::ToPort { port: pid(q) })
    }

    /// Destination check, NACL inbound when crossing into the subnet (unless `acl` is
    /// false: a transit gateway's walk judged it), SG ingress.
    fn deliver6(
        &mut self,
        now: Time,
        q: usize,
        vi: usize,
        src_mac: MacAddr,
        m: &Meta6,
        acl: bool,
    ) -> Result<(MacAddr, MacAddr), DropReason> {
        let port = self.program.ports[q].clone();
        if self.vpc(&port.vpc_id) != Some(vi) {
            return Err(DropReason::NoSuchPort);
        }
        let vpc = self.program.vpcs[vi].clone();
        let subnet = vpc
            .subnets
            .iter()
            .find(|s| s.id == port.subnet_id)
            .ok_or(DropReason::NoSuchPort)?;
        if port.source_dest_check && !owns6(&port, m.tuple.dst) {
            return Err(DropReason::DestinationCheck);
        }
        let crossing = !subnet.ipv6_cidr.is_some_and(|c| c.contains(&m.tuple.src));
        if crossing && acl {
            let acl = vpc
                .network_acls
                .iter()
                .find(|a| a.id == subnet.network_acl_id);
            if !acl.is_some_and(|a| nacl6_allows(a, false, m, m.tuple.src)) {
                self.count(q, m, false);
                return Err(DropReason::NaclIngress);
            }
        }
        if let Err(e) = self.security6(now, q, &port, &vpc, Direction::Inbound, m) {
            if e == DropReason::SecurityGroupIngress {
                self.count(q, m, false);
            }
            return Err(e);
        }
        self.count(q, m, true);
        Ok(if crossing {
            (vpc.router_mac, port.mac)
        } else {
            (src_mac, port.mac)
        })
    }

    fn security6(
        &mut self,
        now: Time,
        p: usize,
        port: &Port,
        vpc: &Vpc,
        dir: Direction,
        m: &Meta6,
    ) -> Result<(), DropReason> {
        let key = track_key6(dir, m);
        if let Some(i) = self
            .tracked
            .iter()
            .position(|t| t.port == p && t.key == key)
        {
            if self.tracked[i].alive(now) {
                let t = &mut self.tracked[i];
                t.last = now;
                t.state = t.state.next(t.initiator, dir, m.tcp_flags);
                return Ok(());
            }
            self.tracked.remove(i);
        }
        let egress = dir == Direction::Outbound;
        let peer = if egress { m.tuple.dst } else { m.tuple.src };
        let groups: Vec<&SecurityGroup> = port
            .security_groups
            .iter()
            .filter_map(|id| vpc.security_groups.iter().find(|g| &g.id == id))
            .collect();
        let rules = |eg: bool| -> Vec<&SgRule> {
            groups
                .iter()
                .flat_map(|g| {
                    if eg {
                        g.egress.iter()
                    } else {
                        g.ingress.iter()
                    }
                })
                .collect()
        };
        let matching: Vec<&SgRule> = rules(egress)
            .into_iter()
            .filter(|r| sg_rule6_matches(r, &self.program.vpcs, m, peer))
            .collect();
        if matching.is_empty() {
            return Err(if egress {
                DropReason::SecurityGroupEgress
            } else {
                DropReason::SecurityGroupIngress
            });
        }
        let proto = m.tuple.protocol;
        let everyone = |r: &SgRule| matches!(&r.peer, SgPeer::Cidr6(c) if c.prefix_len() == 0);
        let for_everyone = matching.iter().any(|r| everyone(r));
        let opposite_open = rules(!egress).iter().any(|r| {
            everyone(r)
                && (r.protocol == -1
                    || (i32::from(r.protocol) == i32::from(proto)
                        && (r.from_port < 0 || (r.from_port == 0 && r.to_port >= 65535))))
        });
        if (proto == ip_proto::TCP || proto == ip_proto::UDP) && for_everyone && opposite_open {
            return Ok(());
        }
        let state = State::initial6(m);
        self.track(now, p, port, key, dir, state)
    }
}

fn track_key6(dir: Direction, m: &Meta6) -> (IpAddr, IpAddr, u16, u16, u8) {
    let t = &m.tuple;
    let (local, remote) = if dir == Direction::Outbound {
        (t.src, t.dst)
    } else {
        (t.dst, t.src)
    };
    let (a, b) = match t.protocol {
        ip_proto::TCP | ip_proto::UDP => {
            if dir == Direction::Outbound {
                (t.src_port, t.dst_port)
            } else {
                (t.dst_port, t.src_port)
            }
        }
        ip_proto::ICMPV6 => match m.icmp_type {
            128 | 129 => (t.src_port, 128),
            _ => (
                (u16::from(m.icmp_type) << 8) | u16::from(m.icmp_code),
                0xffff,
            ),
        },
        _ => (0, 0),
    };
    (IpAddr::V6(local), IpAddr::V6(remote), a, b, t.protocol)
}

fn sg_rule6_matches(r: &SgRule, vpcs: &[Vpc], m: &Meta6, peer: Ipv6Addr) -> bool {
    let proto = m.tuple.protocol;
    if r.protocol >= 0 && u8::try_from(r.protocol).ok() != Some(proto) {
        return false;
    }
    let peer_ok = match &r.peer {
        SgPeer::Cidr6(c) => c.contains(&peer),
        SgPeer::Cidr(_) => false,
        // a group of any VPC of the program: a peered VPC's group is named by its id
        SgPeer::Group(id) => vpcs
            .iter()
            .flat_map(|v| &v.security_groups)
            .find(|g| &g.id == id)
            .is_some_and(|g| g.members_v6.contains(&peer)),
    };
    if !peer_ok {
        return false;
    }
    if r.protocol < 0 {
        return true;
    }
    match proto {
        ip_proto::TCP | ip_proto::UDP => {
            r.from_port < 0
                || (r.from_port <= i32::from(m.tuple.dst_port)
                    && i32::from(m.tuple.dst_port) <= r.to_port)
        }
        ip_proto::ICMPV6 => {
            r.from_port < 0
                || (r.from_port == i32::from(m.icmp_type)
                    && (r.to_port < 0 || r.to_port == i32::from(m.icmp_code)))
        }
        _ => true,
    }
}

fn nacl6_allows(acl: &NetworkAcl, egress: bool, m: &Meta6, peer: Ipv6Addr) -> bool {
    let mut entries: Vec<&NaclEntry6> = acl
        .entries_v6
        .iter()
        .filter(|e| e.egress == egress)
        .collect();
    entries.sort_by_key(|e| e.rule_number);
    for e in entries {
        let proto = m.tuple.protocol;
        if e.protocol >= 0 && u8::try_from(e.protocol).ok() != Some(proto) {
            continue;
        }
        if !e.cidr.contains(&peer) {
            continue;
        }
        let ports_ok = if e.protocol < 0 {
            true
        } else {
            match proto {
                ip_proto::TCP | ip_proto::UDP => e
                    .port_range
                    .is_none_or(|(lo, hi)| lo <= m.tuple.dst_port && m.tuple.dst_port <= hi),
                ip_proto::ICMPV6 => e.icmp.is_none_or(|(t, c)| {
                    t < 0 || (t == i16::from(m.icmp_type) && (c < 0 || c == i16::from(m.icmp_code)))
                }),
                _ => true,
            }
        };
        if ports_ok {
            return e.allow;
        }
    }
    false
}

fn longest_match6(routes: &[Route6], dst: Ipv6Addr) -> Option<RouteTarget> {
    let reserved: Ipv6Net = "fd00:ec2::/32".parse().expect("cidr");
    let mut best: Option<(u8, RouteTarget)> = None;
    for r in routes.iter().chain(std::iter::once(&Route6 {
        destination: reserved,
        target: RouteTarget::Blackhole,
    })) {
        let d = r.destination.trunc();
        if d.contains(&dst) && best.as_ref().is_none_or(|(l, _)| d.prefix_len() >= *l) {
            best = Some((d.prefix_len(), r.target.clone()));
        }
    }
    best.map(|(_, t)| t)
}

/// The verdict of a neighbour discovery or MLD message from `port` (`ip`: its IPv6
/// packet): an answer (`Ok`) or why not.
fn ndp_verdict(
    port: &Port,
    vpc: &Vpc,
    subnet: &Subnet,
    ip: &[u8],
    m: &Meta6,
) -> Result<(), DropReason> {
    match m.icmp_type {
        130..=132 | 143 => return Err(DropReason::BroadcastOrMulticast),
        135 | 133 => {}
        _ => return Err(DropReason::NdpUnanswered),
    }
    let p = ipv6::Packet::new_checked(ip).map_err(|_| DropReason::Malformed)?;
    if p.hop_limit() != 255 || p.next_header() != ip_proto::ICMPV6 {
        return Err(DropReason::NdpUnanswered);
    }
    let msg = icmpv6::Packet::new_checked(p.payload()).map_err(|_| DropReason::Malformed)?;
    let target = msg.target();
    if m.icmp_type == 135 && target.is_none() {
        return Err(DropReason::Malformed);
    }
    // source link-layer options: all well formed, the first one the sender's MAC
    let mut sll = None;
    for o in msg.options() {
        let (t, body) = o.map_err(|_| DropReason::Malformed)?;
        if t == 1 && sll.is_none() {
            sll = body.get(..6).map(MacAddr::from_slice);
        }
    }
    let src = m.tuple.src;
    let source_ok = link_local6(src) || !port.source_dest_check || owns6(port, src);
    if m.icmp_type == 133 {
        if !src.is_unspecified() && !source_ok {
            return Err(DropReason::SourceCheck);
        }
        if sll.is_some_and(|mac| mac != port.mac) {
            return Err(DropReason::SourceMacMismatch);
        }
        return Ok(());
    }
    let target = target.ok_or(DropReason::Malformed)?;
    if src.is_unspecified() {
        return Err(DropReason::NdpUnanswered);
    }
    if !source_ok {
        return Err(DropReason::SourceCheck);
    }
    if sll.is_some_and(|mac| mac != port.mac) {
        return Err(DropReason::SourceMacMismatch);
    }
    if router6(vpc, subnet, target) {
        return Ok(());
    }
    if subnet.ipv6_cidr.is_some_and(|c| c.contains(&target)) && !owns6(port, target) {
        return if vpc.mappings_v6.iter().any(|x| x.ip == target) {
            Ok(())
        } else {
            Err(DropReason::NdpUnanswered)
        };
    }
    Err(DropReason::NdpUnanswered)
}

/// The verdict of a DHCPv6 client message (`ip`: its IPv6 packet).
fn dhcpv6_verdict(port: &Port, vpc: &Vpc, ip: &[u8], m: &Meta6) -> Result<(), DropReason> {
    let p = ipv6::Packet::new_checked(ip).map_err(|_| DropReason::Malformed)?;
    let (_, at) = p.upper_layer().map_err(|_| DropReason::Malformed)?;
    let seg = p.payload().get(at..).ok_or(DropReason::Malformed)?;
    // (no UDP checksum check: offloaded TAPs hand over partial checksums)
    let u = udp::Packet::new_checked(seg).map_err(|_| DropReason::Malformed)?;
    let src = m.tuple.src;
    if !src.is_unspecified() && !link_local6(src) && port.source_dest_check && !owns6(port, src) {
        return Err(DropReason::SourceCheck);
    }
    let msg = dhcpv6::Message::new_checked(u.payload()).map_err(|_| DropReason::Dhcpv6Ignored)?;
    let ignored = |_| DropReason::Dhcpv6Ignored;
    msg.option(dhcpv6::option::CLIENT_ID)
        .map_err(ignored)?
        .ok_or(DropReason::Dhcpv6Ignored)?;
    let r = vpc.router_mac.0;
    let duid = [0, 3, 0, 1, r[0], r[1], r[2], r[3], r[4], r[5]];
    if msg
        .option(dhcpv6::option::SERVER_ID)
        .map_err(ignored)?
        .is_some_and(|s| s != duid)
    {
        return Err(DropReason::Dhcpv6Ignored);
    }
    msg.option(dhcpv6::option::RAPID_COMMIT).map_err(ignored)?;
    if !matches!(msg.msg_type(), 1 | 3..=6 | 8 | 9 | 11) {
        return Err(DropReason::Dhcpv6Ignored);
    }
    if let Some(ia) = msg.option(dhcpv6::option::IA_NA).map_err(ignored)? {
        if ia.len() < 12 {
            return Err(DropReason::Dhcpv6Ignored);
        }
        if msg.msg_type() == 4 {
            for o in dhcpv6::Options::inside(ia, 12).map_err(ignored)? {
                let (code, data) = o.map_err(ignored)?;
                if code == 5 && data.len() < 16 {
                    return Err(DropReason::Dhcpv6Ignored);
                }
            }
        }
    }
    Ok(())
}
