//! IPv6 through the engine: the same walk as IPv4's, in AWS's order, over the IPv6
//! halves of each stage (§7).
//!
//! From a port: neighbour discovery and DHCPv6 are answered on the link ([`ndp`],
//! [`dhcpv6`]) and never filtered; the router's addresses answer ping; then source
//! check, security group egress with connection tracking ([`Key6`]), and when leaving
//! the subnet the NACL's IPv6 entries and the route table's IPv6 routes (longest prefix
//! match); the destination by IPv6 V2P, on this host (destination check, NACL ingress
//! when crossing subnets, security group ingress) or over Geneve. From the underlay:
//! origin authentication of (VPC, inner IPv6 source) against V2P, then delivery as
//! above. Decisions are cached per IPv6 5-tuple in a flow table of their own.
//!
//! A route to a gateway (`igw-`, `eigw-`, …) sends the frame to the edge host serving
//! it, addressed to the gateway's MAC, as IPv4 does; the edge decides (internet and
//! egress-only gateways carry IPv6). A route to a peering reaches the peer VPC's IPv6
//! blocks by its IPv6 V2P, and the receiving host authenticates a peer's source against
//! it, as IPv4 does. A route to a transit gateway walks it as IPv4's does, by the
//! table's IPv6 routes (`transit_walk6`), across a gateway peering too.
//! Established IPv6 TCP flows are offloaded to the kernel fast path as IPv4's are
//! ([`Engine::offload6`]). Flow logs count IPv6 as IPv4: cached flows in their entries,
//! rejections (security groups, network ACLs) packet by packet.

use super::*;
use crate::conntrack::State;
use crate::counters::CounterKey6;
use crate::dhcpv6;
use crate::ndp;
use crate::route::{self, METADATA6, RESOLVER6, TIME_SYNC6};
use crate::v2p::Mapping6;
use crate::wire::{icmpv6, ipv6};
use std::net::Ipv6Addr;

/// The link-local service an IPv6 packet is for, if any: DNS (UDP or TCP 53) to the
/// resolver when the agent answers it (without, it is dropped as link-local: the
/// engine's own responder speaks IPv4), metadata, time sync.
fn service_of6(m: &Meta6, resolver: bool) -> Option<Service> {
    match m.tuple.dst {
        RESOLVER6
            if resolver
                && m.tuple.dst_port == 53
                && matches!(m.tuple.protocol, ip_proto::UDP | ip_proto::TCP) =>
        {
            Some(Service::Resolver)
        }
        METADATA6 => Some(Service::InstanceMetadata),
        TIME_SYNC6 => Some(Service::TimeSync),
        _ => None,
    }
}

impl Engine {
    /// The cached decision for an IPv6 `frame` from `origin` (as it arrived: from the
    /// host `outer_src` when from the underlay), if it holds: its flow's state
    /// refreshed, and the flow as parsed.
    #[inline]
    pub(super) fn fast_action6(
        &mut self,
        now: Time,
        origin: Origin,
        arrival: Arrival,
        frame: &[u8],
        headers: &mut Headers,
    ) -> Option<(&Action, CachedFlow6)> {
        if frame.len() < ethernet::HEADER_LEN || frame[12..14] != ethertype::IPV6.to_be_bytes() {
            return None;
        }
        let m = packet::parse_ipv6(&frame[ethernet::HEADER_LEN..]).ok()?;
        let Some(e) = self.flows6.map.get_mut(&FlowKey6::new(origin, &m.tuple)) else {
            // a new flow: the slow path takes the headers as parsed
            *headers = Headers::Parsed6(m);
            return None;
        };
        let elsewhere =
            matches!(arrival, Arrival::Underlay { outer_src, .. } if outer_src != e.outer_src);
        if elsewhere || frame[0..6] != e.dst_mac.0 || frame[6..12] != e.src_mac.0 {
            return None;
        }
        if !fast_valid(e, &self.epochs, &self.conntrack6, now) {
            return None;
        }
        fast_commit(e, &mut self.conntrack6, now, &m);
        self.stats.fast_path += 1;
        let flow = CachedFlow6 {
            tuple: m.tuple,
            tcp_flags: m.tcp_flags,
            ip_options: m.ip_options,
            arrival,
        };
        Some((&e.action, flow))
    }

    /// [`Engine::fast_action6`] for an inner frame from the underlay.
    #[inline]
    pub(super) fn fast_from_underlay6(
        &mut self,
        now: Time,
        d: &Decap,
        inner: &[u8],
        headers: &mut Headers,
    ) -> Option<(&Action, CachedFlow6)> {
        if d.outer_dst != self.underlay.address {
            return None;
        }
        let vslot = self.vpc_of_vni(d.vni)?;
        let arrival = Arrival::Underlay {
            vni: d.vni,
            outer_src: d.outer_src,
        };
        self.fast_action6(now, Origin::Underlay(vslot), arrival, inner, headers)
    }

    /// Caches an IPv6 decision (if its dependencies fit).
    #[inline]
    fn remember6(&mut self, key: FlowKey6, entry: flow_table::Entry) {
        let (counters, ports) = (&mut self.counters, &self.ports);
        if entry.deps.complete() {
            self.flows6
                .insert(key, entry, |e| settle6(counters, ports, &key, e));
        } else {
            settle6(counters, ports, &key, &entry);
        }
    }

    /// The slow path of an IPv6 frame sent by the instance behind port `p`.
    pub(super) fn slow_from_port6(
        &mut self,
        now: Time,
        p: u16,
        frame: &[u8],
        headers: Headers,
        out: &mut Vec<u8>,
    ) -> Result<Verdict, DropReason> {
        let port = self
            .ports
            .get(usize::from(p))
            .and_then(Option::as_ref)
            .ok_or(DropReason::UnknownPort)?;
        let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
        let v = vpc_at(&self.vpcs, port.vpc)?;
        let subnet = port.subnet.ok_or(DropReason::NoRoute)?;
        let subnet = v
            .subnets
            .get(usize::from(subnet))
            .ok_or(DropReason::Internal)?;
        let m = headers.ipv6(eth.payload())?;
        let (src, dst) = (m.tuple.src, m.tuple.dst);
        let hairpin = Ok(Verdict::Hairpin { port: PortId(p) });
        // the link's own messages: answered here, never filtered, never forwarded
        if m.tuple.protocol == ip_proto::ICMPV6 && icmpv6::is_link_message(m.icmp_type) {
            if subnet.cidr6.is_none() {
                // a subnet without IPv6 has no IPv6 router
                return Err(DropReason::NdpUnanswered);
            }
            ndp::answer(port, v, subnet, frame, &m, self.config.instance_mtu, out)?;
            return hairpin;
        }
        if dhcpv6::is_dhcpv6(&m) && (dst == dhcpv6::ALL_SERVERS || ndp::is_router(v, subnet, dst)) {
            if subnet.cidr6.is_none() {
                return Err(DropReason::Dhcpv6Ignored);
            }
            dhcpv6::respond(port, v, frame, &m, out)?;
            return hairpin;
        }
        if eth.dst().is_multicast() || dst.is_multicast() {
            return Err(DropReason::BroadcastOrMulticast);
        }
        if subnet.cidr6.is_some() && ndp::is_router(v, subnet, dst) {
            if !(ipv6::is_link_local(src) || !port.source_dest_check || port.owns6(src)) {
                return Err(DropReason::SourceCheck);
            }
            return if m.tuple.protocol == ip_proto::ICMPV6
                && m.icmp_type == icmpv6::kind::ECHO_REQUEST
            {
                echo_reply6(frame, v.router_mac, out)?;
                hairpin
            } else {
                Err(DropReason::RouterAddress)
            };
        }
        if port.source_dest_check && !port.owns6(src) {
            return Err(DropReason::SourceCheck);
        }
        if let Some(service) = service_of6(&m, self.config.resolver_service) {
            // the link-local services' IPv6 addresses (Nitro's): answered on this host,
            // never filtered, as their IPv4 twins
            out.clear();
            out.extend_from_slice(frame);
            return Ok(Verdict::Service {
                port: PortId(p),
                service,
            });
        }
        if ipv6::is_link_local(src) || ipv6::is_link_local(dst) || route::is_reserved_service6(dst)
        {
            return Err(DropReason::LinkLocal);
        }
        let routed = eth.dst() == v.router_mac;
        let same_subnet = subnet.contains6(dst);
        if !routed {
            // switched: only to the owner of the address, by its own MAC
            let owner = v.v2p6.get(dst).filter(|_| same_subnet);
            if owner.is_none_or(|o| o.mac != eth.dst()) {
                return Err(DropReason::UnknownDestinationMac);
            }
        }
        let mut trace = Trace::default();
        trace.deps.push(&self.epochs, port.dep);
        trace.deps.push(&self.epochs, v.dep);
        trace.deps.push(&self.epochs, subnet.dep);

        if let Err(reason) = sg_stage6(
            &mut self.conntrack6,
            &mut self.epochs,
            port,
            p,
            Direction::Outbound,
            &m,
            now,
            &mut trace,
        ) {
            if reason == DropReason::SecurityGroupEgress && port.flow_logs {
                self.counters.count6(
                    key6(p, &m, counters::Action::Reject, Direction::Outbound),
                    &port.id,
                    m.ip_len,
                    m.tcp_flags,
                    now,
                );
            }
            return Err(reason);
        }

        // leaving the subnet: NACL egress, then the route table
        let target = if same_subnet {
            Target::Local
        } else {
            if !acl_allows6(v, subnet, true, &m, &mut self.epochs, &mut trace)? {
                if port.flow_logs {
                    self.counters.count6(
                        key6(p, &m, counters::Action::Reject, Direction::Outbound),
                        &port.id,
                        m.ip_len,
                        m.tcp_flags,
                        now,
                    );
                }
                return Err(DropReason::NaclEgress);
            }
            let rt = subnet.route_table.ok_or(DropReason::NoRoute)?;
            let rt = v
                .route_tables
                .get(usize::from(rt))
                .ok_or(DropReason::Internal)?;
            trace.deps.push(&self.epochs, rt.dep);
            rt.lookup6(dst)
                .map_err(|_| DropReason::Internal)?
                .ok_or(DropReason::NoRoute)?
                .clone()
        };
        // (through a transit gateway the walk judges the destination subnet's ACL)
        let (dv, host, mac, edge, acl) = match &target {
            Target::TransitGateway(tgw) => {
                let (dv, host, mac) =
                    transit_walk6(&self.vpcs, v, subnet, tgw, &m, &mut self.epochs, &mut trace)?;
                (dv, host, mac, false, false)
            }
            _ => {
                let (dv, host, mac, edge) = resolve6(
                    &self.vpcs,
                    v,
                    port.vpc,
                    &target,
                    dst,
                    &self.epochs,
                    &mut trace,
                )?;
                (dv, host, mac, edge, true)
            }
        };
        if port.flow_logs {
            trace.log(p, Direction::Outbound);
        }
        // to a gateway, the frame is addressed to the gateway's MAC (the edge reads it)
        let rewrite = (routed || edge).then_some((v.router_mac, mac));
        let (src_mac, dst_mac) = (eth.src(), eth.dst());
        let action = if !edge && host == self.underlay.address {
            // the destination ENI is on this host: its port has the mapping's MAC
            let src_after = rewrite.map_or(src_mac, |r| r.0);
            match self
                .macs
                .get(&mac)
                .and_then(|&q| Some((q, self.ports.get(usize::from(q))?.as_ref()?)))
                .filter(|(_, qp)| qp.vpc == dv)
            {
                None => Err(DropReason::NoSuchPort),
                Some((q, qp)) => deliver6(
                    &self.vpcs,
                    qp,
                    q,
                    dv,
                    src_after,
                    &m,
                    acl,
                    now,
                    &mut self.conntrack6,
                    &mut self.epochs,
                    &mut self.counters,
                    &mut trace,
                )
                .map(|rw| Action::ToPort {
                    port: q,
                    rewrite: Some(rw),
                }),
            }
        } else {
            vpc_at(&self.vpcs, dv).map(|d| {
                let sport = overlay::entropy_port6(&m.tuple);
                Action::encap(&self.underlay, host, d.vni, sport, rewrite, edge)
            })
        };
        let action = match action {
            Ok(action) => action,
            Err(reason) => {
                if port.flow_logs {
                    // accepted on the way out, dropped further on
                    self.counters.count6(
                        key6(p, &m, counters::Action::Accept, Direction::Outbound),
                        &port.id,
                        m.ip_len,
                        m.tcp_flags,
                        now,
                    );
                }
                return Err(reason);
            }
        };
        let verdict = emit_action(&action, frame, out);
        self.remember6(
            FlowKey6::new(Origin::Port(p), &m.tuple),
            flow_table::Entry {
                deps: trace.deps,
                ct: trace.ct,
                logged: trace.logged,
                tally: Tally::first(&m, now),
                action,
                src_mac,
                dst_mac,
                outer_src: Ipv4Addr::UNSPECIFIED,
            },
        );
        Ok(verdict)
    }

    /// The slow path of an IPv6 inner frame from the underlay (its outer destination
    /// and VNI checked).
    pub(super) fn slow_from_underlay6(
        &mut self,
        now: Time,
        d: &Decap,
        inner: &[u8],
        headers: Headers,
        out: &mut Vec<u8>,
    ) -> Result<Verdict, DropReason> {
        let vslot = self.vpc_of_vni(d.vni).ok_or(DropReason::UnknownVni)?;
        let v = vpc_at(&self.vpcs, vslot)?;
        let eth = ethernet::Frame::new_checked(inner).map_err(|_| DropReason::Malformed)?;
        let m = headers.ipv6(eth.payload())?;
        if eth.dst().is_multicast() || m.tuple.dst.is_multicast() {
            return Err(DropReason::BroadcastOrMulticast);
        }
        let mut trace = Trace::default();
        trace.deps.push(&self.epochs, v.dep);
        let sender = authenticate6(
            &self.vpcs,
            v,
            m.tuple.src,
            d.outer_src,
            &self.epochs,
            &mut trace,
        )?;
        let q = *self.macs.get(&eth.dst()).ok_or(DropReason::NoSuchPort)?;
        let qp = self
            .ports
            .get(usize::from(q))
            .and_then(Option::as_ref)
            .ok_or(DropReason::Internal)?;
        let rw = deliver6(
            &self.vpcs,
            qp,
            q,
            vslot,
            eth.src(),
            &m,
            sender == Sender::Direct,
            now,
            &mut self.conntrack6,
            &mut self.epochs,
            &mut self.counters,
            &mut trace,
        )?;
        let action = Action::ToPort {
            port: q,
            rewrite: Some(rw),
        };
        let verdict = emit_action(&action, inner, out);
        self.remember6(
            FlowKey6::new(Origin::Underlay(vslot), &m.tuple),
            flow_table::Entry {
                deps: trace.deps,
                ct: trace.ct,
                logged: trace.logged,
                tally: Tally::first(&m, now),
                action,
                src_mac: eth.src(),
                dst_mac: eth.dst(),
                outer_src: d.outer_src,
            },
        );
        Ok(verdict)
    }

    /// Whether V2P has an IPv6 entry for `ip` in the VPC.
    pub fn is_mapped6(&self, vpc_id: &str, ip: Ipv6Addr) -> bool {
        self.vpc(vpc_id).is_some_and(|v| v.v2p6.get(ip).is_some())
    }
}

/// The router answers ping to its addresses from its own subnet.
fn echo_reply6(frame: &[u8], router_mac: MacAddr, out: &mut Vec<u8>) -> Result<(), DropReason> {
    out.clear();
    out.extend_from_slice(frame);
    let mut eth = ethernet::Frame::new_unchecked(&mut out[..]);
    let client = eth.src();
    eth.set_dst(client);
    eth.set_src(router_mac);
    let mut ip = ipv6::Packet::new_checked(eth.payload_mut()).map_err(|_| DropReason::Malformed)?;
    let (s, d) = (ip.src(), ip.dst());
    let (_, at) = ip.upper_layer().map_err(|_| DropReason::Malformed)?;
    ip.set_src(d);
    ip.set_dst(s);
    ip.set_hop_limit(64);
    let msg = ip
        .payload_mut()
        .get_mut(at..)
        .ok_or(DropReason::Malformed)?;
    let mut icmp = icmpv6::Packet::new_checked(msg).map_err(|_| DropReason::Malformed)?;
    icmp.set_msg_type(icmpv6::kind::ECHO_REPLY);
    icmp.fill_checksum(d, s);
    Ok(())
}

/// Security groups of `port` for an IPv6 packet crossing it in `dir`: an existing
/// tracked flow passes (and is refreshed); otherwise the IPv6 rules decide.
#[allow(clippy::too_many_arguments)]
fn sg_stage6(
    ct: &mut Conntrack<Key6>,
    epochs: &mut Epochs,
    port: &Port,
    p: u16,
    dir: Direction,
    m: &Meta6,
    now: Time,
    trace: &mut Trace,
) -> Result<(), DropReason> {
    let k = Key6::of(p, dir, m);
    if let Some(slot) = ct.lookup(k, now) {
        let e = ct.get_mut(slot).ok_or(DropReason::Internal)?;
        e.touch(now, dir, m.tcp_flags);
        trace.push_ct(CtRef {
            slot,
            generation: e.generation,
            dir,
        });
        return Ok(());
    }
    let (egress, peer) = match dir {
        Direction::Outbound => (true, m.tuple.dst),
        Direction::Inbound => (false, m.tuple.src),
    };
    match port
        .security6
        .decide6(egress, m.tuple.protocol, peer, m.rule_port())
    {
        Decision::Denied => Err(if egress {
            DropReason::SecurityGroupEgress
        } else {
            DropReason::SecurityGroupIngress
        }),
        Decision::Allowed { tracked: false } => {
            trace.deps.push(epochs, port.ct_dep);
            Ok(())
        }
        Decision::Allowed { tracked: true } => {
            let slot = ct
                .insert_state(k, now, dir, State::initial6(m), port.timeouts)
                .map_err(|_| DropReason::ConntrackFull)?;
            epochs.bump(port.ct_dep);
            trace.push_ct(CtRef {
                slot,
                generation: ct.get(slot).ok_or(DropReason::Internal)?.generation,
                dir,
            });
            Ok(())
        }
    }
}

/// Whether the ACL of subnet `s` lets an IPv6 packet out (`egress`, on its destination)
/// or in (on its source); a subnet without one lets nothing through.
fn acl_allows6(
    v: &Vpc,
    s: &Subnet,
    egress: bool,
    m: &Meta6,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<bool, DropReason> {
    trace.deps.push(epochs, s.dep);
    let acl = network_acl(v, s)?;
    if let Some(a) = acl {
        trace.deps.push(epochs, a.dep);
    }
    let peer = if egress { m.tuple.dst } else { m.tuple.src };
    Ok(acl.is_some_and(|a| a.allows6(egress, m.tuple.protocol, peer, m.rule_port())))
}

/// The IPv6 V2P entry of `ip`, recording the dependency (on its presence or absence).
fn mapping6_dep<'a>(
    v: &'a Vpc,
    ip: Ipv6Addr,
    epochs: &Epochs,
    trace: &mut Trace,
) -> Option<&'a Mapping6> {
    let (s, m) = v.v2p6.dep_of(ip);
    trace.deps.push(epochs, s);
    m
}

/// The target of an IPv6 route as (VPC slot, host, MAC, whether the host is the edge)
/// to send to.
fn resolve6(
    vpcs: &[Option<Vpc>],
    v: &Vpc,
    vslot: u16,
    target: &Target,
    dst: Ipv6Addr,
    epochs: &Epochs,
    trace: &mut Trace,
) -> Result<(u16, Ipv4Addr, MacAddr, bool), DropReason> {
    match target {
        Target::Local => mapping6_dep(v, dst, epochs, trace)
            .map(|m| (vslot, m.host, m.mac, false))
            .ok_or(DropReason::NoMapping),
        // a middlebox ENI: where V2P has it (by its IPv4 entries, which every ENI of a
        // dual-stack subnet has)
        Target::NetworkInterface(eni) => {
            let (dep, m) = v.v2p.target(eni).ok_or(DropReason::NoMapping)?;
            trace.deps.push(epochs, dep);
            m.map(|m| (vslot, m.host, m.mac, false))
                .ok_or(DropReason::NoMapping)
        }
        Target::Blackhole => Err(DropReason::Blackhole),
        // a gateway: the edge serving it decides (an internet or egress-only gateway
        // carries IPv6; the others drop it, counted there)
        Target::Edge(gw) => v
            .edges
            .get(gw)
            .map(|&host| (vslot, host, overlay::gateway_mac(gw), true))
            .ok_or(DropReason::NoEdge),
        // the peer VPC's own blocks, by its IPv6 V2P
        Target::VpcPeering(pcx) => {
            let ps = *v.peerings.get(pcx).ok_or(DropReason::NoRoute)?;
            let peer = vpc_at(vpcs, ps)?;
            trace.deps.push(epochs, peer.dep);
            if !peer.contains6(dst) {
                return Err(DropReason::NoRoute);
            }
            mapping6_dep(peer, dst, epochs, trace)
                .map(|m| (ps, m.host, m.mac, false))
                .ok_or(DropReason::NoMapping)
        }
        // (walked by `transit_walk6` before)
        Target::TransitGateway(_) => Err(DropReason::Internal),
    }
}

/// An IPv6 packet from subnet `from` of VPC `v` through transit gateway `tgw`, as
/// IPv4's walk: in by the attachment subnet of the sender's zone (its ACL's inbound
/// rules), the gateway table's IPv6 routes, out by the destination VPC's attachment
/// subnet (its outbound rules) into the destination's subnet (its inbound rules), no
/// ACL between an attachment subnet and an instance in it. The destination: (VPC slot,
/// host, MAC).
fn transit_walk6(
    vpcs: &[Option<Vpc>],
    v: &Vpc,
    from: &Subnet,
    tgw: &str,
    m: &Meta6,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<(u16, Ipv4Addr, MacAddr), DropReason> {
    let a = v.transit(tgw).ok_or(DropReason::NoRoute)?;
    let entry = a
        .entry(&from.zone)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    let entry = v
        .subnets
        .get(usize::from(entry))
        .ok_or(DropReason::Internal)?;
    if !acl_allows6(v, entry, false, m, epochs, trace)? {
        return Err(DropReason::NaclIngress);
    }
    // (across a peering, the peer gateway's table has decided)
    let (ds, di) = match a.route6(m.tuple.dst) {
        Some(Hop::Vpc { slot, attachment }) => (slot, attachment),
        Some(Hop::Blackhole) => return Err(DropReason::Blackhole),
        Some(Hop::Other(_) | Hop::Unreachable | Hop::Peering(_)) | None => {
            return Err(DropReason::NoRoute);
        }
    };
    let dv = vpc_at(vpcs, ds)?;
    trace.deps.push(epochs, dv.dep);
    let da = dv
        .transits
        .get(usize::from(di))
        .ok_or(DropReason::Internal)?;
    let into = dv
        .subnets
        .iter()
        .position(|s| s.contains6(m.tuple.dst))
        .ok_or(DropReason::NoRoute)?;
    let into_subnet = dv.subnets.get(into).ok_or(DropReason::Internal)?;
    trace.deps.push(epochs, into_subnet.dep);
    let exit = da
        .exit6(&from.zone, &m.tuple)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    if usize::from(exit) != into {
        let exit = dv
            .subnets
            .get(usize::from(exit))
            .ok_or(DropReason::Internal)?;
        if !acl_allows6(dv, exit, true, m, epochs, trace)? {
            return Err(DropReason::NaclEgress);
        }
        if !acl_allows6(dv, into_subnet, false, m, epochs, trace)? {
            return Err(DropReason::NaclIngress);
        }
    }
    let mapping = mapping6_dep(dv, m.tuple.dst, epochs, trace).ok_or(DropReason::NoMapping)?;
    Ok((ds, mapping.host, mapping.mac))
}

/// Origin authentication of an IPv6 packet: the sender host must be where IPv6 V2P
/// says the inner source lives; middlebox hosts may forward for others; an address of
/// the VPC's blocks without an entry is refused; a peered VPC's addresses must come
/// from their own hosts; edge hosts may carry outside sources.
fn authenticate6(
    vpcs: &[Option<Vpc>],
    v: &Vpc,
    src: Ipv6Addr,
    outer: Ipv4Addr,
    epochs: &Epochs,
    trace: &mut Trace,
) -> Result<Sender, DropReason> {
    let mapped = mapping6_dep(v, src, epochs, trace);
    if v.v2p.middlebox_hosts().contains(&outer) || v.v2p6.middlebox_hosts().contains(&outer) {
        return Ok(Sender::Direct);
    }
    if let Some(m) = mapped {
        return if m.host == outer {
            Ok(Sender::Direct)
        } else {
            Err(DropReason::AuthenticationFailed)
        };
    }
    if v.contains6(src) || ipv6::is_link_local(src) {
        return Err(DropReason::AuthenticationFailed);
    }
    for &ps in &v.peer_vpcs {
        let peer = vpc_at(vpcs, ps)?;
        trace.deps.push(epochs, peer.dep);
        if peer.contains6(src) {
            return match mapping6_dep(peer, src, epochs, trace) {
                Some(m) if m.host == outer => Ok(Sender::Direct),
                _ => Err(DropReason::AuthenticationFailed),
            };
        }
    }
    // a VPC joined through a transit gateway: its own hosts, whose walk judged the
    // destination subnet's ACL already
    let mut joined = false;
    for &ts in &v.transit_vpcs {
        let other = vpc_at(vpcs, ts)?;
        trace.deps.push(epochs, other.dep);
        if other.contains6(src) {
            joined = true;
            if mapping6_dep(other, src, epochs, trace).is_some_and(|m| m.host == outer) {
                return Ok(Sender::TransitGateway);
            }
        }
    }
    if joined {
        return Err(DropReason::AuthenticationFailed);
    }
    if v.edge_hosts.contains(&outer) {
        Ok(Sender::Direct)
    } else {
        Err(DropReason::AuthenticationFailed)
    }
}

/// The receiving side of an IPv6 packet for local port `q`: destination check, NACL
/// ingress when the packet crosses into the subnet, security group ingress. Returns the
/// MAC rewrite.
#[allow(clippy::too_many_arguments)]
fn deliver6(
    vpcs: &[Option<Vpc>],
    qp: &Port,
    q: u16,
    vslot: u16,
    src_mac: MacAddr,
    m: &Meta6,
    acl: bool,
    now: Time,
    ct: &mut Conntrack<Key6>,
    epochs: &mut Epochs,
    counters: &mut Counters,
    trace: &mut Trace,
) -> Result<(MacAddr, MacAddr), DropReason> {
    trace.deps.push(epochs, qp.dep);
    if qp.vpc != vslot {
        return Err(DropReason::NoSuchPort);
    }
    let v = vpc_at(vpcs, qp.vpc)?;
    let subnet = qp.subnet.ok_or(DropReason::NoSuchPort)?;
    let subnet = v
        .subnets
        .get(usize::from(subnet))
        .ok_or(DropReason::Internal)?;
    trace.deps.push(epochs, subnet.dep);
    if qp.source_dest_check && !qp.owns6(m.tuple.dst) {
        return Err(DropReason::DestinationCheck);
    }
    let crossing = !subnet.contains6(m.tuple.src);
    let reject = |counters: &mut Counters| {
        if qp.flow_logs {
            counters.count6(
                key6(q, m, counters::Action::Reject, Direction::Inbound),
                &qp.id,
                m.ip_len,
                m.tcp_flags,
                now,
            );
        }
    };
    if crossing && acl && !acl_allows6(v, subnet, false, m, epochs, trace)? {
        reject(counters);
        return Err(DropReason::NaclIngress);
    }
    if let Err(reason) = sg_stage6(ct, epochs, qp, q, Direction::Inbound, m, now, trace) {
        if reason == DropReason::SecurityGroupIngress {
            reject(counters);
        }
        return Err(reason);
    }
    if qp.flow_logs {
        trace.log(q, Direction::Inbound);
    }
    Ok(if crossing {
        (v.router_mac, qp.mac)
    } else {
        (src_mac, qp.mac)
    })
}

fn key6(port: u16, m: &Meta6, action: counters::Action, direction: Direction) -> CounterKey6 {
    CounterKey6 {
        port,
        tuple: m.tuple,
        action,
        direction,
    }
}

/// [`settle`] for an IPv6 flow's entry.
pub(super) fn settle6(
    counters: &mut Counters,
    ports: &[Option<Port>],
    k: &FlowKey6,
    e: &flow_table::Entry,
) {
    if e.tally.packets == 0 {
        return;
    }
    for l in e.logged.iter().flatten() {
        if let Some(port) = ports.get(usize::from(l.port)).and_then(Option::as_ref) {
            counters.add6(cached_key6(k, l), &port.id, &e.tally);
        }
    }
}

/// The counter of a cached IPv6 flow's packets at one of the ports that log it.
pub(super) fn cached_key6(k: &FlowKey6, l: &Logged) -> CounterKey6 {
    CounterKey6 {
        port: l.port,
        tuple: k.tuple(),
        action: counters::Action::Accept,
        direction: l.direction,
    }
}
