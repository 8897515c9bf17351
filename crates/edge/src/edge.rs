//! The edge: internet gateway (1:1 NAT) and NAT gateway (SNAT) over one program.
//!
//! Two entry points, one per side, each a pure function of (program, state, time,
//! packet) that writes its output into a caller-owned buffer and returns a [`Verdict`]:
//!
//! * [`Edge::process_from_vpc`]: an inner Ethernet frame that arrived in Geneve from an
//!   instance host (the engine's `Verdict::ToEdge`), with its VNI.
//! * [`Edge::process_from_internet`]: an IPv4 or IPv6 packet from the outside network.
//!
//! IPv6 (internet and egress-only internet gateways, no translation) is in `v6`.
//!
//! A NAT gateway's traffic leaves through its VPC's internet gateway: the translation
//! is SNAT to the NAT ENI's private address composed with the IGW's 1:1 mapping of that
//! address to the elastic IP, done as one rewrite to the elastic IP.

use crate::nat::{AllocError, DEAD, InsideKey, NatTable, OutsideKey};
use crate::program::{
    ENDPOINT_SOURCE, EdgeProgram, NatGatewayItem, NatGatewayState, TransitGatewayEgressRoutesItem,
    TransitGatewayVpnRoutesItem, gateway_mac,
};
use crate::rewrite;
use crate::verdict::{DropReason, Stats, Verdict};
use fort_dataplane::Time;
use fort_dataplane::flow_table::BuildFxHasher;
use fort_dataplane::wire::{MacAddr, ethernet, icmp, ip_proto, ipv4, tcp};
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::net::Ipv4Addr;

mod v6;
pub use v6::{EgressOnlyFlow, EgressOnlyKey};

/// Tunables; the defaults are AWS's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeConfig {
    /// NAT idle timeout (AWS: 350 s).
    pub idle_timeout_secs: u64,
    /// Maximum tracked NAT flows over all gateways.
    pub max_flows: usize,
    /// MTU through the internet gateway (AWS: 1500).
    pub mtu: u16,
    /// How long a first UDP fragment's translation is remembered for the rest.
    pub fragment_timeout_secs: u64,
    /// Remembered fragment translations at most.
    pub max_fragments: usize,
    /// How long an egress-only gateway still passes a TCP connection's packets in after
    /// both sides sent their FIN (the last ACK, retransmitted FINs).
    pub eigw_linger_secs: u64,
}

impl Default for EdgeConfig {
    fn default() -> EdgeConfig {
        EdgeConfig {
            idle_timeout_secs: 350,
            max_flows: 1 << 20,
            mtu: 1500,
            fragment_timeout_secs: 30,
            max_fragments: 4096,
            eigw_linger_secs: 4,
        }
    }
}

/// Which gateway a frame from the VPC is for, when the caller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gateway<'a> {
    /// Infer it: the inner destination MAC if it is a [`gateway_mac`]; else an existing
    /// NAT flow; else the internet gateway if the source has a public mapping; else the
    /// VPC's NAT gateway if it has exactly one.
    Infer,
    /// The route target's id (`igw-…`, `nat-…`).
    Id(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Vpc {
    id: String,
    vni: u32,
    igw: Option<String>,
    cidrs: Vec<Ipv4Net>,
    nats: Vec<u32>,
    /// Its egress-only internet gateway (AWS allows one per VPC).
    eigw: Option<String>,
    /// Its IPv6 blocks (from its internet or egress-only gateway's item).
    ipv6_cidrs: Vec<Ipv6Net>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Nat {
    item: NatGatewayItem,
    vpc: u32,
    /// A gateway endpoint's: the service's addresses, the only destinations it carries
    /// (its flows leave from [`ENDPOINT_SOURCE`], needing no internet gateway).
    endpoint: Option<Vec<Ipv4Net>>,
}

/// Which of a NAT gateway's addresses a flow between `m`'s two hosts takes first: a hash
/// of the pair alone, so every fragment of a datagram (the later ones carry no ports)
/// and every flow of the pair leave from the same address while it has ports.
fn address_choice(m: &Meta) -> usize {
    let h = (u32::from(m.src) ^ u32::from(m.dst).rotate_left(16)).wrapping_mul(0x9e37_79b1);
    (h >> 16) as usize
}

/// A flow of a gateway endpoint, as [`Edge::endpoint_flow`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointFlow {
    /// `vpce-…`
    pub vpc_endpoint_id: String,
    /// `vpc-…`
    pub vpc_id: String,
    /// The client's private address and port.
    pub client: std::net::SocketAddrV4,
}

/// A gateway endpoint's (destinations, VPC blocks).
type EndpointBlocks = (Vec<Ipv4Net>, Vec<Ipv4Net>);

/// A route of a transit gateway VPN attachment's table at the edge: into a VPC (its
/// VNI and its attachment's MAC), or dropped.
type TransitVpnRoute = (Ipv4Net, Option<(u32, MacAddr)>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Igw,
    Nat(u32),
    /// The VPC's egress-only internet gateway (IPv6 only).
    Eigw,
}

/// The edge of one host: its program, compiled, and the NAT gateways' state.
#[derive(Debug)]
pub struct Edge {
    cfg: EdgeConfig,
    program: EdgeProgram,
    vpcs: Vec<Vpc>,
    vpc_by_vni: HashMap<u32, u32, BuildFxHasher>,
    /// (VPC slot, private) → public
    public_of: HashMap<(u32, Ipv4Addr), Ipv4Addr, BuildFxHasher>,
    /// public → (VPC slot, private)
    private_of: HashMap<Ipv4Addr, (u32, Ipv4Addr), BuildFxHasher>,
    nats: Vec<Option<Nat>>,
    nat_by_id: HashMap<String, u32>,
    nat_by_public: HashMap<Ipv4Addr, u32, BuildFxHasher>,
    /// (VNI, gateway MAC) → target
    by_mac: HashMap<(u32, MacAddr), Target, BuildFxHasher>,
    /// igw id → VPC slot
    igw_by_id: HashMap<String, u32>,
    table: NatTable,
    /// (public, remote, IP id) → (VNI, private, time): inbound UDP fragments after the first
    fragments: HashMap<(Ipv4Addr, Ipv4Addr, u16), (u32, Ipv4Addr, Time), BuildFxHasher>,
    /// (VNI, a virtual private gateway's MAC) → its connections (indexes of the program's
    /// `vpn_connections`)
    vpn_by_mac: HashMap<(u32, MacAddr), Vec<u32>, BuildFxHasher>,
    /// A transit gateway VPN attachment's MAC → its connections: any VPC attached to the
    /// gateway may send to it (the sender's gateway table chose it), whatever its VNI.
    transit_vpn_by_mac: HashMap<MacAddr, Vec<u32>, BuildFxHasher>,
    /// Per connection (index of `vpn_connections`), for one ending at a transit gateway:
    /// (destination, VNI and the VPC attachment's MAC or none: dropped), longest prefix
    /// first.
    transit_vpn_into: Vec<Vec<TransitVpnRoute>>,
    /// Centralised egress: egress VPC id → (destination, the VNI of the VPC its
    /// attachment tables send it into, or none: dropped), longest prefix first.
    transit_egress: HashMap<String, Vec<(Ipv4Net, Option<u32>)>>,
    /// eigw id → VPC slot
    eigw_by_id: HashMap<String, u32>,
    /// Every served VPC's IPv6 blocks with its slot, most specific first: where IPv6
    /// from the internet goes.
    v6_blocks: Vec<(Ipv6Net, u32)>,
    /// The egress-only gateways' connections: (VNI, inside, remote, …) → their state.
    eigw_flows: HashMap<EgressOnlyKey, EgressOnlyFlow, BuildFxHasher>,
    stats: Stats,
}

/// The parsed headers of a packet the edge translates.
#[derive(Debug, Clone, Copy)]
struct Meta {
    protocol: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    fragment: bool,
    first: bool,
    /// TCP/UDP ports or ICMP (ident, 0) of a first fragment with a full enough header.
    ports: Option<(u16, u16)>,
    icmp_type: u8,
    tcp_flags: u16,
    len: usize,
    dont_frag: bool,
    ident: u16,
}

fn parse(pkt: &[u8]) -> Result<Meta, DropReason> {
    let ip = ipv4::Packet::new_checked(pkt).map_err(|_| DropReason::Malformed)?;
    let l4 = ip.payload();
    let first = ip.frag_offset() == 0;
    let protocol = ip.protocol();
    let (mut ports, mut icmp_type, mut tcp_flags) = (None, 0, 0);
    if first {
        match protocol {
            ip_proto::TCP if l4.len() >= tcp::HEADER_LEN => {
                let t = tcp::Packet::new_unchecked(l4);
                ports = Some((t.src_port(), t.dst_port()));
                tcp_flags = t.flags();
            }
            ip_proto::UDP if l4.len() >= 8 => {
                ports = Some((
                    u16::from_be_bytes([l4[0], l4[1]]),
                    u16::from_be_bytes([l4[2], l4[3]]),
                ));
            }
            ip_proto::ICMP if l4.len() >= icmp::HEADER_LEN => {
                let m = icmp::Packet::new_unchecked(l4);
                icmp_type = m.msg_type();
                ports = Some((m.ident(), 0));
            }
            _ => {}
        }
    }
    Ok(Meta {
        protocol,
        src: ip.src(),
        dst: ip.dst(),
        fragment: ip.is_fragment(),
        first,
        ports,
        icmp_type,
        tcp_flags,
        len: usize::from(ip.total_len()),
        dont_frag: ip.dont_frag(),
        ident: ip.ident(),
    })
}

impl Edge {
    pub fn new(cfg: EdgeConfig) -> Edge {
        Edge {
            cfg,
            program: EdgeProgram::default(),
            vpcs: Vec::new(),
            vpc_by_vni: HashMap::default(),
            public_of: HashMap::default(),
            private_of: HashMap::default(),
            nats: Vec::new(),
            nat_by_id: HashMap::new(),
            nat_by_public: HashMap::default(),
            by_mac: HashMap::default(),
            igw_by_id: HashMap::new(),
            table: NatTable::new(cfg.max_flows),
            fragments: HashMap::default(),
            vpn_by_mac: HashMap::default(),
            transit_vpn_by_mac: HashMap::default(),
            transit_vpn_into: Vec::new(),
            transit_egress: HashMap::new(),
            eigw_by_id: HashMap::new(),
            v6_blocks: Vec::new(),
            eigw_flows: HashMap::default(),
            stats: Stats::default(),
        }
    }

    pub fn config(&self) -> &EdgeConfig {
        &self.cfg
    }

    pub fn program(&self) -> &EdgeProgram {
        &self.program
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The gateway endpoint whose flow the service at `service` sees coming from
    /// [`ENDPOINT_SOURCE`]`:port` (TCP): what lets the service's forwarder tell which
    /// endpoint, VPC and client a connection is, however the VPCs' blocks overlap.
    pub fn endpoint_flow(
        &self,
        service: std::net::SocketAddrV4,
        port: u16,
    ) -> Option<EndpointFlow> {
        let key = OutsideKey {
            public: ENDPOINT_SOURCE,
            protocol: ip_proto::TCP,
            remote: *service.ip(),
            remote_port: service.port(),
            port,
        };
        let flow = self.table.get(self.table.lookup_outside(&key)?);
        let nat = self.nats.get(flow.nat as usize)?.as_ref()?;
        nat.endpoint.as_ref()?;
        Some(EndpointFlow {
            vpc_endpoint_id: nat.item.nat_id.clone(),
            vpc_id: nat.item.vpc_id.clone(),
            client: std::net::SocketAddrV4::new(flow.inside.src, flow.inside.src_port),
        })
    }

    /// The NAT flow table (read-only), for diagnostics and tests.
    pub fn nat_table(&self) -> &NatTable {
        &self.table
    }

    /// The VPC id served under `vni`, for the caller's V2P lookup after `ToVpc`.
    pub fn vpc_id(&self, vni: u32) -> Option<&str> {
        self.vpc_by_vni
            .get(&vni)
            .map(|&s| self.vpcs[s as usize].id.as_str())
    }

    /// The VPC's CIDRs as the program gave them.
    pub fn vpc_cidrs(&self, vni: u32) -> Option<&[Ipv4Net]> {
        self.vpc_by_vni
            .get(&vni)
            .map(|&s| self.vpcs[s as usize].cidrs.as_slice())
    }

    /// Installs a program (again on every change). NAT flows of gateways that stay
    /// `available` with the same VPC and elastic IP survive; the flows of any other
    /// gateway are broken: their TCP packets from inside get a RST until they expire.
    pub fn set_program(&mut self, program: EdgeProgram) {
        let mut vpn_by_mac: HashMap<(u32, MacAddr), Vec<u32>, BuildFxHasher> = HashMap::default();
        for (i, c) in program.vpn_connections.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            vpn_by_mac
                .entry((c.vni, gateway_mac(&c.vpn_gateway_id)))
                .or_default()
                .push(i);
        }
        self.vpn_by_mac = vpn_by_mac;
        let mut transit_vpn_by_mac: HashMap<MacAddr, Vec<u32>, BuildFxHasher> = HashMap::default();
        let mut transit_vpn_into = vec![Vec::new(); program.vpn_connections.len()];
        for (i, c) in program.vpn_connections.iter().enumerate() {
            let Ok(n) = u32::try_from(i) else { break };
            let into: Vec<&TransitGatewayVpnRoutesItem> = program
                .transit_gateway_vpn_routes
                .iter()
                .filter(|r| r.vpn_connection_id == c.vpn_connection_id)
                .collect();
            if into.is_empty() {
                continue;
            }
            transit_vpn_by_mac
                .entry(gateway_mac(&c.vpn_gateway_id))
                .or_default()
                .push(n);
            let mut table: Vec<TransitVpnRoute> = into
                .iter()
                .flat_map(|r| {
                    let mac = gateway_mac(&r.attachment_id);
                    r.destinations
                        .iter()
                        .map(move |d| (d.trunc(), Some((r.vni, mac))))
                })
                .chain(c.transit_drops.iter().map(|d| (d.trunc(), None)))
                .collect();
            // longest first; the gateway's table has one route per destination
            table.sort_by_key(|(d, to)| (std::cmp::Reverse(d.prefix_len()), to.is_none()));
            transit_vpn_into[i] = table;
        }
        self.transit_vpn_by_mac = transit_vpn_by_mac;
        self.transit_vpn_into = transit_vpn_into;
        self.transit_egress = transit_egress_tables(&program.transit_gateway_egress_routes);
        let mut vpcs: Vec<Vpc> = Vec::new();
        let mut slot_of = HashMap::<String, u32>::new();
        // Slots are u32; a gateway past the last one is left out, like one with no path.
        let mut vpc_slot = |vpcs: &mut Vec<Vpc>, id: &str, vni: u32| -> Option<u32> {
            if let Some(&s) = slot_of.get(id) {
                return Some(s);
            }
            let s = u32::try_from(vpcs.len()).ok()?;
            vpcs.push(Vpc {
                id: id.to_owned(),
                vni,
                igw: None,
                cidrs: Vec::new(),
                nats: Vec::new(),
                eigw: None,
                ipv6_cidrs: Vec::new(),
            });
            slot_of.insert(id.to_owned(), s);
            Some(s)
        };
        let mut igw_by_id = HashMap::new();
        let mut by_mac = HashMap::default();
        for g in &program.internet_gateways {
            let Some(s) = vpc_slot(&mut vpcs, &g.vpc_id, g.vni) else {
                continue;
            };
            let v = &mut vpcs[s as usize];
            v.igw = Some(g.igw_id.clone());
            v.cidrs = g.cidrs.clone();
            v.ipv6_cidrs = g.ipv6_cidrs.clone();
            igw_by_id.insert(g.igw_id.clone(), s);
            by_mac.insert((g.vni, gateway_mac(&g.igw_id)), Target::Igw);
        }
        let mut eigw_by_id = HashMap::new();
        for g in &program.egress_only_internet_gateways {
            let Some(s) = vpc_slot(&mut vpcs, &g.vpc_id, g.vni) else {
                continue;
            };
            let v = &mut vpcs[s as usize];
            v.eigw = Some(g.eigw_id.clone());
            if v.ipv6_cidrs.is_empty() {
                v.ipv6_cidrs = g.ipv6_cidrs.clone();
            }
            eigw_by_id.insert(g.eigw_id.clone(), s);
            by_mac.insert((g.vni, gateway_mac(&g.eigw_id)), Target::Eigw);
        }
        // NAT slots are stable by id so that flows keep pointing at their gateway.
        let mut nats: Vec<Option<Nat>> = vec![None; self.nats.len()];
        let mut nat_by_id = HashMap::new();
        let mut nat_by_public = HashMap::default();
        let mut kept = vec![false; self.nats.len()];
        let mut free: Vec<u32> = (0..self.nats.len())
            .filter_map(|i| u32::try_from(i).ok())
            .filter(|&i| {
                self.nats[i as usize].as_ref().is_none_or(|n| {
                    !program
                        .nat_gateways
                        .iter()
                        .any(|p| p.nat_id == n.item.nat_id)
                        && !program
                            .gateway_endpoints
                            .iter()
                            .any(|p| p.vpce_id == n.item.nat_id)
                })
            })
            .rev()
            .collect();
        // A gateway endpoint is a NAT of its own (a slot, stable by id) whose address is
        // the shared ENDPOINT_SOURCE.
        let endpoints = program.gateway_endpoints.iter().map(|e| {
            let item = NatGatewayItem {
                vpc_id: e.vpc_id.clone(),
                nat_id: e.vpce_id.clone(),
                vni: e.vni,
                subnet_id: String::new(),
                private_ip: Ipv4Addr::UNSPECIFIED,
                public_ip: ENDPOINT_SOURCE,
                state: NatGatewayState::Available,
                secondary_public_ips: Vec::new(),
            };
            (item, Some((e.destinations.clone(), e.cidrs.clone())))
        });
        let all: Vec<(NatGatewayItem, Option<EndpointBlocks>)> = program
            .nat_gateways
            .iter()
            .map(|n| (n.clone(), None))
            .chain(endpoints)
            .collect();
        for (n, endpoint) in &all {
            let Some(vs) = vpc_slot(&mut vpcs, &n.vpc_id, n.vni) else {
                continue;
            };
            if let Some((_, cidrs)) = endpoint
                && vpcs[vs as usize].cidrs.is_empty()
            {
                vpcs[vs as usize].cidrs = cidrs.clone();
            }
            let slot = match self.nat_by_id.get(&n.nat_id) {
                Some(&s) => s,
                None => match free.pop() {
                    Some(s) => s,
                    None => {
                        // DEAD marks a flow with no gateway: it is no slot
                        let Some(s) = u32::try_from(nats.len()).ok().filter(|&s| s != DEAD) else {
                            continue;
                        };
                        nats.push(None);
                        kept.push(false);
                        s
                    }
                },
            };
            if let Some(Some(old)) = self.nats.get(slot as usize)
                && old.item.nat_id == n.nat_id
                && old.item.vni == n.vni
                && old.item.public_ip == n.public_ip
                && n.state == NatGatewayState::Available
            {
                kept[slot as usize] = true;
            }
            nats[slot as usize] = Some(Nat {
                item: n.clone(),
                vpc: vs,
                endpoint: endpoint.as_ref().map(|(d, _)| d.clone()),
            });
            nat_by_id.insert(n.nat_id.clone(), slot);
            if endpoint.is_none() {
                for i in 0..n.address_count() {
                    nat_by_public.insert(n.address(i), slot);
                }
            }
            vpcs[vs as usize].nats.push(slot);
            by_mac.insert((n.vni, gateway_mac(&n.nat_id)), Target::Nat(slot));
        }
        let mut public_of = HashMap::default();
        let mut private_of = HashMap::default();
        for p in &program.public_ips {
            let Some(&s) = slot_of.get(&p.vpc_id) else {
                continue; // a VPC with no gateway on this edge: no path
            };
            public_of.insert((s, p.private_ip), p.public_ip);
            private_of.insert(p.public_ip, (s, p.private_ip));
        }
        // Flows of gateways that went away or changed are broken, and those of a
        // secondary address the gateway no longer has.
        let broken = self.table.retarget(|f| {
            let live = f.nat != DEAD
                && kept.get(f.nat as usize).copied().unwrap_or(false)
                && nats
                    .get(f.nat as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|n| n.item.has_address(f.outside.public));
            (f.nat != DEAD && !live).then_some(DEAD)
        });
        self.stats.nat_flows_broken += broken as u64;
        self.vpc_by_vni = vpcs
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((v.vni, u32::try_from(i).ok()?)))
            .collect();
        self.vpcs = vpcs;
        self.public_of = public_of;
        self.private_of = private_of;
        self.nats = nats;
        self.nat_by_id = nat_by_id;
        self.nat_by_public = nat_by_public;
        self.by_mac = by_mac;
        self.igw_by_id = igw_by_id;
        self.eigw_by_id = eigw_by_id;
        self.v6_blocks = v6::blocks(&self.vpcs);
        // an egress-only gateway's connections go with it
        let vpcs = &self.vpcs;
        let by_vni = &self.vpc_by_vni;
        self.eigw_flows.retain(|k, _| {
            by_vni
                .get(&k.vni)
                .is_some_and(|&s| vpcs[s as usize].eigw.is_some())
        });
        self.program = program;
    }

    /// Removes NAT flows idle for the timeout and stale fragment translations; returns
    /// the number of flows removed. Call it about once a second; lookups treat an idle
    /// flow as gone even before it is swept.
    pub fn expire(&mut self, now: Time) -> usize {
        let n = self
            .table
            .expire(now, self.cfg.idle_timeout_secs * 1_000_000_000);
        self.stats.nat_flows_expired += n as u64;
        let ft = self.cfg.fragment_timeout_secs * 1_000_000_000;
        self.fragments
            .retain(|_, (_, _, t)| now.0.saturating_sub(t.0) < ft);
        n + self.expire_eigw(now)
    }

    fn drop(&mut self, reason: DropReason) -> Verdict {
        self.stats.drop(reason);
        Verdict::Drop { reason }
    }

    fn idle(&self, last: Time, now: Time) -> bool {
        now.0.saturating_sub(last.0) >= self.cfg.idle_timeout_secs * 1_000_000_000
    }

    /// A frame from the VPC numbered `vni` (the inner frame of a Geneve packet from an
    /// instance host) toward the internet. `ToInternet`: `out` holds the translated
    /// IPv4 packet (or the IPv6 packet as it is). `ToVpc`/`ToVpc6`: `out` holds an
    /// answer for the sender (TCP RST, ICMP "fragmentation needed", ICMPv6 "packet too
    /// big") with its MACs already right.
    pub fn process_from_vpc(
        &mut self,
        now: Time,
        vni: u32,
        gateway: Gateway<'_>,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        // A frame the route table sent to a virtual private gateway.
        if let Ok(eth) = ethernet::Frame::new_checked(frame)
            && (self.vpn_by_mac.contains_key(&(vni, eth.dst()))
                || self.transit_vpn_by_mac.contains_key(&eth.dst()))
        {
            return self.vpn_out(vni, eth.dst(), frame, out);
        }
        let Some(&vs) = self.vpc_by_vni.get(&vni) else {
            return self.drop(DropReason::UnknownVni);
        };
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return self.drop(DropReason::Malformed);
        };
        match eth.ethertype() {
            ethernet::ethertype::IPV4 => {}
            ethernet::ethertype::IPV6 => {
                return self.process_from_vpc6(now, vs, gateway, frame, out);
            }
            _ => return self.drop(DropReason::UnsupportedEthertype),
        }
        let pkt = eth.payload();
        let m = match parse(pkt) {
            Ok(m) => m,
            Err(r) => return self.drop(r),
        };
        let pkt = &pkt[..m.len];
        let dst_mac = eth.dst();
        let target = match gateway {
            Gateway::Id(id) => {
                if let Some(&s) = self.igw_by_id.get(id) {
                    if s != vs {
                        return self.drop(DropReason::UnknownGateway);
                    }
                    Some(Target::Igw)
                } else if let Some(&n) = self.nat_by_id.get(id) {
                    Some(Target::Nat(n))
                } else if self.eigw_by_id.contains_key(id) {
                    // an egress-only gateway carries IPv6 only
                    return self.drop(DropReason::UnknownGateway);
                } else if id.starts_with("nat-") {
                    None // deleted: its flows are dead
                } else if id.starts_with("igw-") {
                    return self.drop(DropReason::NoInternetGateway);
                } else {
                    return self.drop(DropReason::UnknownGateway);
                }
            }
            Gateway::Infer => self.by_mac.get(&(vni, dst_mac)).copied(),
        };
        match target {
            Some(Target::Igw) => self.igw_out(vs, &m, frame, pkt, out),
            Some(Target::Nat(n)) => {
                // an answer to the sender (RST, "fragmentation needed") goes where the
                // gateway's replies go: back through a transit gateway for a spoke's
                match self.nat_out(now, vni, Some(n), &m, frame, pkt, out) {
                    Verdict::ToVpc { vni, dst } => self.nat_reply(n, vni, dst),
                    v => v,
                }
            }
            Some(Target::Eigw) => self.drop(DropReason::UnknownGateway),
            None if gateway != Gateway::Infer => self.nat_out(now, vni, None, &m, frame, pkt, out),
            None => {
                // inference: a NAT flow, a public mapping, the only NAT gateway
                if let Some(k) = inside_key(vni, &m)
                    && self.table.lookup_inside(&k).is_some()
                {
                    return self.nat_out(now, vni, None, &m, frame, pkt, out);
                }
                if self.public_of.contains_key(&(vs, m.src)) {
                    return self.igw_out(vs, &m, frame, pkt, out);
                }
                match self.vpcs[vs as usize].nats.as_slice() {
                    [n] => {
                        let n = *n;
                        self.nat_out(now, vni, Some(n), &m, frame, pkt, out)
                    }
                    [] => self.igw_out(vs, &m, frame, pkt, out),
                    _ => self.drop(DropReason::AmbiguousGateway),
                }
            }
        }
    }

    /// Into a virtual private gateway: the connection whose static routes hold the
    /// longest prefix covering the destination (AWS's VPN route priority: the most
    /// specific route; ties go to the first connection). `out` gets the bare packet.
    fn vpn_out(&mut self, vni: u32, mac: MacAddr, frame: &[u8], out: &mut Vec<u8>) -> Verdict {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return self.drop(DropReason::Malformed);
        };
        match eth.ethertype() {
            ethernet::ethertype::IPV4 => {}
            ethernet::ethertype::IPV6 => return self.drop(DropReason::Ipv6),
            _ => return self.drop(DropReason::UnsupportedEthertype),
        }
        let pkt = eth.payload();
        let m = match parse(pkt) {
            Ok(m) => m,
            Err(r) => return self.drop(r),
        };
        let conns = self
            .vpn_by_mac
            .get(&(vni, mac))
            .or_else(|| self.transit_vpn_by_mac.get(&mac))
            .map_or(&[][..], Vec::as_slice);
        let best = conns
            .iter()
            .filter_map(|&i| {
                let c = &self.program.vpn_connections[i as usize];
                c.routes
                    .iter()
                    .filter(|r| r.contains(&m.dst))
                    .map(|r| r.prefix_len())
                    .max()
                    .map(|len| (len, std::cmp::Reverse(i)))
            })
            .max()
            .map(|(_, std::cmp::Reverse(i))| i);
        let Some(connection) = best else {
            return self.drop(DropReason::NoVpnRoute);
        };
        out.clear();
        out.extend_from_slice(&pkt[..m.len]);
        self.stats.vpn_outbound += 1;
        self.stats.bytes_outbound += m.len as u64;
        Verdict::ToVpn { connection }
    }

    /// An IPv4 packet out of VPN connection `connection`'s tunnels (index of the
    /// program's `vpn_connections`). `ToVpc`: `out` holds it behind a 14-byte Ethernet
    /// header whose MACs the caller writes; the destination host's NACLs and security
    /// groups judge it as any packet from outside the subnet. A connection ending at a
    /// transit gateway gives `ToVpcThroughAttachment` into the VPC its table routes the
    /// destination to.
    pub fn process_from_vpn(&mut self, connection: u32, pkt: &[u8], out: &mut Vec<u8>) -> Verdict {
        let Some(c) = self.program.vpn_connections.get(connection as usize) else {
            return self.drop(DropReason::VpnDestination);
        };
        let (vni, inside) = (c.vni, c.cidrs.clone());
        let m = match parse(pkt) {
            Ok(m) => m,
            Err(r) => return self.drop(r),
        };
        // At a transit gateway: into the VPC its table routes the destination to.
        if let Some(table) = self
            .transit_vpn_into
            .get(connection as usize)
            .filter(|t| !t.is_empty())
        {
            let Some(&(_, Some((vni, attachment)))) =
                table.iter().find(|(d, _)| d.contains(&m.dst))
            else {
                return self.drop(DropReason::VpnDestination);
            };
            rewrite::frame_for_vpc(out, &pkt[..m.len]);
            self.stats.vpn_inbound += 1;
            self.stats.bytes_inbound += m.len as u64;
            return Verdict::ToVpcThroughAttachment {
                vni,
                dst: m.dst,
                attachment,
            };
        }
        if !inside.iter().any(|n| n.contains(&m.dst)) {
            return self.drop(DropReason::VpnDestination);
        }
        rewrite::frame_for_vpc(out, &pkt[..m.len]);
        self.stats.vpn_inbound += 1;
        self.stats.bytes_inbound += m.len as u64;
        Verdict::ToVpc { vni, dst: m.dst }
    }

    /// The MTU check on the way out; `Some` when the packet does not go.
    fn too_big(
        &mut self,
        m: &Meta,
        frame: &[u8],
        pkt: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Verdict> {
        if m.len <= usize::from(self.cfg.mtu) {
            return None;
        }
        if m.dont_frag {
            rewrite::icmp_frag_needed(out, frame, pkt, self.cfg.mtu);
            self.stats.icmp_too_big_sent += 1;
            self.stats.drop(DropReason::TooBig);
            return Some(Verdict::ToVpc { vni: 0, dst: m.src });
        }
        Some(self.drop(DropReason::NeedsFragmentation))
    }

    fn igw_out(
        &mut self,
        vs: u32,
        m: &Meta,
        frame: &[u8],
        pkt: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        if self.vpcs[vs as usize].igw.is_none() {
            return self.drop(DropReason::NoInternetGateway);
        }
        let Some(&public) = self.public_of.get(&(vs, m.src)) else {
            return self.drop(DropReason::NoPublicMapping);
        };
        if let Some(v) = self.too_big(m, frame, pkt, out) {
            return with_vni(v, self.vpcs[vs as usize].vni);
        }
        out.clear();
        out.extend_from_slice(pkt);
        rewrite::set_src(out, public);
        self.stats.igw_outbound += 1;
        self.stats.bytes_outbound += m.len as u64;
        Verdict::ToInternet
    }

    #[allow(clippy::too_many_arguments)]
    fn nat_out(
        &mut self,
        now: Time,
        vni: u32,
        nat: Option<u32>,
        m: &Meta,
        frame: &[u8],
        pkt: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        match m.protocol {
            ip_proto::TCP | ip_proto::UDP | ip_proto::ICMP => {}
            _ => return self.drop(DropReason::NatUnsupportedProtocol),
        }
        if m.fragment && m.protocol != ip_proto::UDP {
            return self.drop(DropReason::NatFragment);
        }
        if m.protocol == ip_proto::ICMP && m.icmp_type != icmp::kind::ECHO_REQUEST {
            return self.drop(DropReason::NatIcmpNotQuery);
        }
        // A non-first UDP fragment carries no ports: only the address changes.
        if !m.first {
            let Some(n) = nat.and_then(|n| self.live_nat(n)) else {
                return self.drop(DropReason::NatNotAvailable);
            };
            let public = n.item.address(address_choice(m));
            let n = nat.unwrap_or(DEAD);
            if let Some(v) = self.nat_egress_checks(n, m, frame, pkt, out) {
                return v;
            }
            out.clear();
            out.extend_from_slice(pkt);
            rewrite::set_src(out, public);
            self.stats.nat_outbound += 1;
            self.stats.bytes_outbound += m.len as u64;
            return Verdict::ToInternet;
        }
        let Some(key) = inside_key(vni, m) else {
            return self.drop(DropReason::Malformed);
        };
        let syn = m.protocol != ip_proto::TCP
            || m.tcp_flags & (tcp::flags::SYN | tcp::flags::ACK | tcp::flags::RST)
                == tcp::flags::SYN;
        let mut id = self.table.lookup_inside(&key);
        if let Some(f) = id {
            let flow = *self.table.get(f);
            if self.idle(flow.last, now) {
                self.table.remove(f);
                self.stats.nat_flows_expired += 1;
                id = None;
            } else if flow.nat == DEAD || self.live_nat(flow.nat).is_none() {
                if syn {
                    // a new connection reusing the tuple of a broken one
                    self.table.remove(f);
                    id = None;
                } else {
                    return self.reset(vni, m, frame, pkt, out);
                }
            }
        }
        let id = match id {
            Some(id) => id,
            None => {
                if !syn {
                    if m.protocol == ip_proto::TCP {
                        return self.reset(vni, m, frame, pkt, out);
                    }
                    return self.drop(DropReason::NatNoFlow);
                }
                let Some(n) = nat else {
                    return self.drop(DropReason::NatNotAvailable);
                };
                let Some(g) = self.live_nat(n) else {
                    return self.drop(DropReason::NatNotAvailable);
                };
                let (first, count) = (address_choice(m), g.item.address_count());
                if g.endpoint
                    .as_ref()
                    .is_some_and(|d| !d.iter().any(|c| c.contains(&m.dst)))
                {
                    return self.drop(DropReason::EndpointDestination);
                }
                if let Some(v) = self.nat_egress_checks(n, m, frame, pkt, out) {
                    return v;
                }
                // the pair's own address first, then the others while its ports toward
                // the destination are all taken
                let mut created = Err(AllocError::PortsExhausted);
                for k in 0..count {
                    let Some(public) = self.live_nat(n).map(|g| g.item.address(first + k)) else {
                        break;
                    };
                    created = self.table.create(key, n, public, now);
                    if created != Err(AllocError::PortsExhausted) {
                        break;
                    }
                }
                match created {
                    Ok(id) => {
                        self.stats.nat_flows_created += 1;
                        id
                    }
                    Err(AllocError::PortsExhausted) => {
                        return self.drop(DropReason::NatPortsExhausted);
                    }
                    Err(AllocError::TableFull) => return self.drop(DropReason::NatTableFull),
                }
            }
        };
        let flow = self.table.get_mut(id);
        flow.last = now;
        let (public, port) = (flow.outside.public, flow.outside.port);
        let nat = flow.nat;
        if let Some(v) = self.nat_egress_checks(nat, m, frame, pkt, out) {
            return v;
        }
        out.clear();
        out.extend_from_slice(pkt);
        rewrite::set_src(out, public);
        if m.protocol == ip_proto::ICMP {
            rewrite::set_icmp_ident(out, port);
        } else {
            rewrite::set_port(out, false, port);
        }
        self.stats.nat_outbound += 1;
        self.stats.bytes_outbound += m.len as u64;
        Verdict::ToInternet
    }

    /// The way out of NAT slot `n`: a NAT gateway's is its VPC's internet gateway, which
    /// must be attached (a gateway endpoint's needs none); the packet must fit the MTU.
    fn nat_egress_checks(
        &mut self,
        n: u32,
        m: &Meta,
        frame: &[u8],
        pkt: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<Verdict> {
        let (vpc, endpoint) = self
            .nats
            .get(n as usize)
            .and_then(Option::as_ref)
            .map_or((0, false), |g| (g.vpc, g.endpoint.is_some()));
        let v = &self.vpcs[vpc as usize];
        let vni = v.vni;
        if v.igw.is_none() && !endpoint {
            return Some(self.drop(DropReason::NoInternetGateway));
        }
        self.too_big(m, frame, pkt, out).map(|v| with_vni(v, vni))
    }

    fn live_nat(&self, n: u32) -> Option<&Nat> {
        self.nats
            .get(n as usize)?
            .as_ref()
            .filter(|n| n.item.state == NatGatewayState::Available)
    }

    fn reset(
        &mut self,
        vni: u32,
        m: &Meta,
        frame: &[u8],
        pkt: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        if m.protocol != ip_proto::TCP || m.tcp_flags & tcp::flags::RST != 0 {
            // never answer a RST with a RST
            return self.drop(DropReason::NatFlowExpired);
        }
        rewrite::tcp_rst(out, frame, pkt);
        self.stats.nat_rst_sent += 1;
        self.stats.drop(DropReason::NatFlowExpired);
        Verdict::ToVpc { vni, dst: m.src }
    }

    /// An IPv4 or IPv6 packet from the outside network. `ToVpc`: `out` holds the
    /// translated packet behind a 14-byte Ethernet header whose MACs the caller writes;
    /// `ToVpc6`: the IPv6 packet, untranslated, likewise.
    pub fn process_from_internet(&mut self, now: Time, pkt: &[u8], out: &mut Vec<u8>) -> Verdict {
        if pkt.first().is_some_and(|b| b >> 4 == 6) {
            return self.process_from_internet6(now, pkt, out);
        }
        let m = match parse(pkt) {
            Ok(m) => m,
            Err(r) => return self.drop(r),
        };
        let pkt = &pkt[..m.len];
        if let Some(&n) = self.nat_by_public.get(&m.dst) {
            return self.nat_in(now, n, &m, pkt, out);
        }
        // the gateway endpoints share one address: the flow says whose it is
        if m.dst == ENDPOINT_SOURCE {
            let Some(n) = outside_key(&m)
                .and_then(|k| self.table.lookup_outside(&k))
                .map(|id| self.table.get(id).nat)
            else {
                return self.drop(DropReason::NatNoFlow);
            };
            return self.nat_in(now, n, &m, pkt, out);
        }
        let Some(&(vs, private)) = self.private_of.get(&m.dst) else {
            return self.drop(DropReason::UnknownPublicIp);
        };
        let v = &self.vpcs[vs as usize];
        if v.igw.is_none() {
            return self.drop(DropReason::NoInternetGateway);
        }
        let vni = v.vni;
        rewrite::frame_for_vpc(out, pkt);
        rewrite::set_dst(&mut out[ethernet::HEADER_LEN..], private);
        self.stats.igw_inbound += 1;
        self.stats.bytes_inbound += m.len as u64;
        Verdict::ToVpc { vni, dst: private }
    }

    fn nat_in(&mut self, now: Time, n: u32, m: &Meta, pkt: &[u8], out: &mut Vec<u8>) -> Verdict {
        let Some(g) = self.live_nat(n) else {
            return self.drop(DropReason::NatNotAvailable);
        };
        if self.vpcs[g.vpc as usize].igw.is_none() && g.endpoint.is_none() {
            return self.drop(DropReason::NoInternetGateway);
        }
        match m.protocol {
            ip_proto::TCP | ip_proto::UDP | ip_proto::ICMP => {}
            _ => return self.drop(DropReason::NatUnsupportedProtocol),
        }
        if m.fragment && m.protocol != ip_proto::UDP {
            return self.drop(DropReason::NatFragment);
        }
        if !m.first {
            let Some(&(vni, private, _)) = self.fragments.get(&(m.dst, m.src, m.ident)) else {
                return self.drop(DropReason::NatFragmentUnknown);
            };
            let verdict = self.nat_reply(n, vni, private);
            if let Verdict::Drop { .. } = verdict {
                return verdict;
            }
            rewrite::frame_for_vpc(out, pkt);
            rewrite::set_dst(&mut out[ethernet::HEADER_LEN..], private);
            self.stats.nat_inbound += 1;
            self.stats.bytes_inbound += m.len as u64;
            return verdict;
        }
        if m.ports.is_none() {
            return self.drop(DropReason::Malformed);
        }
        let Some(key) = outside_key(m) else {
            return self.drop(DropReason::NatNoFlow);
        };
        let Some(id) = self.table.lookup_outside(&key) else {
            return self.drop(DropReason::NatNoFlow);
        };
        let flow = *self.table.get(id);
        if self.idle(flow.last, now) {
            self.table.remove(id);
            self.stats.nat_flows_expired += 1;
            return self.drop(DropReason::NatNoFlow);
        }
        if flow.nat != n {
            return self.drop(DropReason::NatNoFlow);
        }
        let (vni, private, port) = (flow.inside.vni, flow.inside.src, flow.inside.src_port);
        let verdict = self.nat_reply(n, vni, private);
        if let Verdict::Drop { .. } = verdict {
            return verdict;
        }
        self.table.get_mut(id).last = now;
        if m.fragment && self.fragments.len() < self.cfg.max_fragments {
            self.fragments
                .insert((m.dst, m.src, m.ident), (vni, private, now));
        }
        rewrite::frame_for_vpc(out, pkt);
        let p = &mut out[ethernet::HEADER_LEN..];
        rewrite::set_dst(p, private);
        if m.protocol == ip_proto::ICMP {
            rewrite::set_icmp_ident(p, port);
        } else {
            rewrite::set_port(p, true, port);
        }
        self.stats.nat_inbound += 1;
        self.stats.bytes_inbound += m.len as u64;
        verdict
    }

    /// Where NAT slot `n`'s reply to `private` goes: into its VPC (numbered `vni`) when
    /// the address is the VPC's; else (centralised egress: a VPC routing through a
    /// transit gateway to this NAT gateway's VPC) into the VPC its VPC's attachment
    /// tables send it to, with the NAT gateway's MAC as the inner source so that the
    /// receiving host walks the way back (`ToVpcThroughAttachment`).
    fn nat_reply(&mut self, n: u32, vni: u32, private: Ipv4Addr) -> Verdict {
        let Some(g) = self.nats.get(n as usize).and_then(Option::as_ref) else {
            return Verdict::ToVpc { vni, dst: private };
        };
        let v = &self.vpcs[g.vpc as usize];
        if g.endpoint.is_some() || v.cidrs.iter().any(|c| c.contains(&private)) {
            return Verdict::ToVpc { vni, dst: private };
        }
        let into = self
            .transit_egress
            .get(&v.id)
            .and_then(|t| t.iter().find(|(d, _)| d.contains(&private)))
            .and_then(|&(_, into)| into);
        match into {
            Some(into) => Verdict::ToVpcThroughAttachment {
                vni: into,
                dst: private,
                attachment: gateway_mac(&g.item.nat_id),
            },
            None => self.drop(DropReason::TransitEgressNoRoute),
        }
    }
}

/// Centralised egress: per egress VPC, its attachments' tables' routes into the VPCs
/// they reach (and the destinations they drop), longest prefix first.
fn transit_egress_tables(
    items: &[TransitGatewayEgressRoutesItem],
) -> HashMap<String, Vec<(Ipv4Net, Option<u32>)>> {
    let mut out: HashMap<String, Vec<(Ipv4Net, Option<u32>)>> = HashMap::new();
    for i in items {
        out.entry(i.egress_vpc_id.clone()).or_default().extend(
            i.destinations
                .iter()
                .map(|d| (d.trunc(), Some(i.vni)))
                .chain(i.drops.iter().map(|d| (d.trunc(), None))),
        );
    }
    for table in out.values_mut() {
        // longest first; among equals, a route into a VPC before a drop (the gateway's
        // table has one route per destination; a drop listed beside it is another
        // attachment's table's)
        table.sort_by_key(|(d, to)| (std::cmp::Reverse(d.prefix_len()), to.is_none()));
    }
    out
}

fn with_vni(v: Verdict, vni: u32) -> Verdict {
    match v {
        Verdict::ToVpc { dst, .. } => Verdict::ToVpc { vni, dst },
        v => v,
    }
}

/// The outside key of an inbound first fragment with a usable L4 header (for ICMP, an
/// echo reply only).
fn outside_key(m: &Meta) -> Option<OutsideKey> {
    let (sport, dport) = m.ports?;
    if m.protocol == ip_proto::ICMP {
        if m.icmp_type != icmp::kind::ECHO_REPLY {
            return None;
        }
        return Some(OutsideKey {
            public: m.dst,
            protocol: m.protocol,
            remote: m.src,
            remote_port: 0,
            port: sport,
        });
    }
    Some(OutsideKey {
        public: m.dst,
        protocol: m.protocol,
        remote: m.src,
        remote_port: sport,
        port: dport,
    })
}

/// The inside key of a first fragment with a usable L4 header.
fn inside_key(vni: u32, m: &Meta) -> Option<InsideKey> {
    let (sport, dport) = m.ports?;
    Some(InsideKey {
        vni,
        protocol: m.protocol,
        src: m.src,
        src_port: sport,
        dst: m.dst,
        dst_port: dport,
    })
}
