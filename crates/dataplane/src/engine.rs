//! The engine: one host's pipeline, fast path and slow path.
//!
//! Entry points an agent calls:
//! * [`Engine::set_program`] with the whole host program, or [`Engine::set_structure`]
//!   with everything but V2P when that changes; [`Engine::upsert_mapping`] /
//!   [`Engine::remove_mapping`] for V2P deltas (an agent keeps no copy of V2P);
//! * [`Engine::process_from_port`] for each frame an instance sends;
//! * [`Engine::process_from_underlay`] (whole outer frame) or [`Engine::process_geneve`]
//!   (a UDP payload from a socket) for each packet from another host;
//! * [`Engine::expire`] now and then, [`Engine::drain_flow_records`] for flow logs and
//!   [`Engine::stats`] for metrics.
//!
//! Every call takes the time; the engine reads no clock and does no I/O.
//!
//! The slow path walks the stages in AWS's order (§7): source/dest check, security
//! group egress with connection tracking, NACL egress and the route table when leaving
//! the subnet, the target; then, where the destination port is local or on arrival from
//! the underlay, origin authentication, destination check, NACL ingress when crossing
//! subnets, security group ingress, the MAC rewrite. Its decision is cached in the flow
//! table; later packets of the flow take the fast path.

use std::ops::Range;

mod v6;

use crate::arp;
use crate::conntrack::{self, Conntrack, Direction, Key6, TrackKey};
use crate::counters::{self, CounterKey, Counters, FlowRecord, Stats};
use crate::dhcp;
use crate::dns;
use crate::flow_table::{
    self, Action, CtRef, DepKey, Deps, Epochs, FlowKey, FlowKey6, FlowTable, Logged, Origin, Tally,
};
use crate::nacl::NetworkAcl;
use crate::offload::{Arrival, CachedFlow, CachedFlow6, Offload, Offload6, OffloadAction};
use crate::overlay::{self, Decap};
use crate::packet::{self, Meta, Meta6};
use crate::port::Port;
use crate::program::{self, HostProgram, Underlay};
use crate::route::{RouteTable, Target};
use crate::security_group::{self, Decision, Members};
use crate::slots::{MAX_SLOTS, SlotIndex};
use crate::transit::{self, Hop};
use crate::v2p::{Mapping, V2p, V2p6};
use crate::verdict::{DropReason, Output, PortId, Processed, Service, Time, Verdict};
use crate::vpc::{self, Subnet, Vpc};
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::{checksum, icmp, ip_proto, ipv4, tcp};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;

/// Sizes of the engine's bounded tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Tracked flows per ENI; new tracked flows beyond it are dropped.
    pub conntrack_per_port: u32,
    /// Cached flows; beyond it decisions are not cached (still correct, slower).
    pub flow_table_capacity: usize,
    /// Flow-log counters; new flows beyond it go uncounted (SKIPDATA) until a drain
    /// and an expiry make room.
    pub flow_log_counters: usize,
    /// DNS queries to the VPC resolver go to the agent's resolver (`Verdict::Service`),
    /// which forwards and knows private zones; otherwise the engine answers them itself
    /// (the VPC's own names, NXDOMAIN for the rest).
    pub resolver_service: bool,
    /// The MTU instances are given (DHCP option 26, the router advertisement's MTU):
    /// 9001 as in AWS, less when the underlay cannot carry 9001-byte frames whole
    /// (`fort_dataplane::dhcp::instance_mtu`).
    pub instance_mtu: u16,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            conntrack_per_port: 262_144,
            flow_table_capacity: 1 << 20,
            flow_log_counters: counters::DEFAULT_LIMIT,
            resolver_service: false,
            instance_mtu: crate::dhcp::VPC_MTU,
        }
    }
}

/// Cached flows idle this long are dropped by [`Engine::expire`] (their decision is
/// recomputed if the flow resumes; conntrack keeps its own timeouts).
const FLOW_IDLE: u64 = 600 * 1_000_000_000;
/// Drained counters idle this long are freed (a flow decided again has taken a new one;
/// a cached flow that resumes after is decided again).
const COUNTER_IDLE: u64 = 60 * 1_000_000_000;

const LINK_LOCAL: u32 = 0xa9fe_0000; // 169.254.0.0/16
const METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const TIME_SYNC: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 123);

/// What the slow path consulted and created, to cache the decision.
#[derive(Default)]
struct Trace {
    deps: Deps,
    ct: [Option<CtRef>; 2],
    /// The ports whose flow logs count the flow: its entry's [`Logged`].
    logged: [Option<Logged>; 2],
}

impl Trace {
    fn push_ct(&mut self, r: CtRef) {
        let i = usize::from(self.ct[0].is_some());
        self.ct[i] = Some(r);
    }
    fn log(&mut self, port: u16, direction: Direction) {
        let i = usize::from(self.logged[0].is_some());
        self.logged[i] = Some(Logged { port, direction });
    }
}

/// The IPv4 headers of a frame the fast path did not serve, as it parsed them: the slow
/// path takes them instead of parsing the frame a second time. (An out-parameter of the
/// fast path rather than part of its result, so a hit stores nothing.)
#[derive(Clone, Copy)]
enum Headers {
    /// Not parsed: not an IPv4 frame, or the fast path gave up before parsing.
    Unparsed,
    /// What [`packet::parse_ipv4`] returned for the Ethernet payload.
    Parsed(Result<Meta, DropReason>),
    /// What [`packet::parse_ipv6`] parsed from it (its errors are parsed again: rare).
    Parsed6(Meta6),
}

impl Headers {
    /// The frame's IPv4 headers: as parsed already, else parsed from `payload` (the
    /// frame's Ethernet payload, the bytes the fast path would have parsed).
    #[inline]
    fn ipv4(self, payload: &[u8]) -> Result<Meta, DropReason> {
        match self {
            Headers::Parsed(m) => m,
            Headers::Unparsed | Headers::Parsed6(_) => packet::parse_ipv4(payload),
        }
    }

    /// The frame's IPv6 headers, as [`Headers::ipv4`].
    #[inline]
    fn ipv6(self, payload: &[u8]) -> Result<Meta6, DropReason> {
        match self {
            Headers::Parsed6(m) => Ok(m),
            Headers::Unparsed | Headers::Parsed(_) => packet::parse_ipv6(payload),
        }
    }
}

/// Why a program was not installed; the engine goes on running the one it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallError {
    /// More ports than an engine has slots ([`MAX_SLOTS`]).
    TooManyPorts { ports: usize },
    /// More VPCs than an engine has slots ([`MAX_SLOTS`]).
    TooManyVpcs { vpcs: usize },
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::TooManyPorts { ports } => {
                write!(f, "{ports} ports: an engine holds at most {MAX_SLOTS}")
            }
            InstallError::TooManyVpcs { vpcs } => {
                write!(f, "{vpcs} VPCs: an engine holds at most {MAX_SLOTS}")
            }
        }
    }
}

impl std::error::Error for InstallError {}

/// The sizes of the engine's tables: for metrics, and to check that churn of ENIs and
/// VPCs does not grow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footprint {
    /// Ports installed, and the length of the port table (highest slot + 1).
    pub ports: usize,
    pub port_slots: usize,
    /// VPCs installed, and the length of the VPC table.
    pub vpcs: usize,
    pub vpc_slots: usize,
    /// Dependency slots: allocated (the epoch table's length) and in use.
    pub epochs: usize,
    pub epochs_in_use: usize,
    /// Tracked flows, the conntrack slab's length and its per-port budget table's.
    pub conntrack: usize,
    pub conntrack_slab: usize,
    pub conntrack_ports: usize,
    /// Cached decisions.
    pub flows: usize,
    /// Flow-log counters of the slow path (cached flows count in their entries).
    pub counters: usize,
}

/// Where a routed or switched packet is going.
enum Dest {
    Host {
        vpc: u16,
        host: Ipv4Addr,
        mac: MacAddr,
        /// The destination subnet's ACL is still to be evaluated (not when a transit
        /// gateway's walk evaluated it).
        acl: bool,
    },
    Edge {
        host: Ipv4Addr,
        /// `overlay::gateway_mac` of the route's target: tells the edge which gateway.
        mac: MacAddr,
    },
    /// A gateway at the edge of another VPC (slot `vpc`), reached through a transit
    /// gateway (centralised egress): carried with that VPC's VNI.
    TransitEdge {
        vpc: u16,
        host: Ipv4Addr,
        mac: MacAddr,
    },
}

/// See [`Engine::port_link`].
#[derive(Clone, Copy, Debug)]
pub struct PortLink<'a> {
    pub mac: MacAddr,
    pub addresses: &'a [Ipv4Addr],
    /// Its IPv6 addresses.
    pub addresses6: &'a [std::net::Ipv6Addr],
    pub router_mac: MacAddr,
    /// The VPC resolver's address (base + 2).
    pub resolver: Ipv4Addr,
}

pub struct Engine {
    config: EngineConfig,
    /// The program as installed, without V2P (held compactly in each VPC).
    structure: HostProgram,
    underlay: Underlay,
    ports: Vec<Option<Port>>,
    port_index: SlotIndex,
    vpcs: Vec<Option<Vpc>>,
    vpc_index: SlotIndex,
    vnis: Vec<(u32, u16)>,
    macs: HashMap<MacAddr, u16>,
    epochs: Epochs,
    conntrack: Conntrack,
    flows: FlowTable,
    /// IPv6's tracked flows and cached decisions, apart from IPv4's (wider keys).
    conntrack6: Conntrack<Key6>,
    flows6: FlowTable<FlowKey6>,
    counters: Counters,
    stats: Stats,
}

fn fingerprint<T: Hash + ?Sized>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    match h.finish() {
        flow_table::ABSENT => 1,
        v => v,
    }
}

/// Records that `key` is present in the program being installed, with its content.
fn mark(seen: &mut HashSet<DepKey>, epochs: &mut Epochs, key: DepKey, fp: u64) -> u32 {
    seen.insert(key.clone());
    epochs.set(key, fp)
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        Engine {
            config,
            structure: HostProgram::default(),
            underlay: Underlay::default(),
            ports: Vec::new(),
            port_index: SlotIndex::default(),
            vpcs: Vec::new(),
            vpc_index: SlotIndex::default(),
            vnis: Vec::new(),
            macs: HashMap::new(),
            epochs: Epochs::default(),
            conntrack: Conntrack::new(config.conntrack_per_port),
            flows: FlowTable::new(config.flow_table_capacity),
            conntrack6: Conntrack::new(config.conntrack_per_port),
            flows6: FlowTable::new(config.flow_table_capacity),
            counters: Counters::with_limit(config.flow_log_counters),
            stats: Stats::default(),
        }
    }

    /// An engine running `program` with default sizes.
    pub fn with_program(program: HostProgram) -> Result<Engine, InstallError> {
        let mut e = Engine::new(EngineConfig::default());
        e.set_program(program)?;
        Ok(e)
    }

    /// The program as installed, V2P included (rebuilt: for tests and debugging).
    pub fn program(&self) -> HostProgram {
        let mut p = self.structure.clone();
        for spec in &mut p.vpcs {
            if let Some(v) = self.vpc(&spec.id) {
                spec.mappings = v.v2p.to_program();
                spec.mappings_v6 = v.v2p6.to_program();
            }
        }
        p
    }

    /// The program as installed, without V2P.
    pub fn structure(&self) -> &HostProgram {
        &self.structure
    }

    /// Whether V2P has an entry for `ip` in the VPC.
    pub fn is_mapped(&self, vpc_id: &str, ip: Ipv4Addr) -> bool {
        self.vpc(vpc_id).is_some_and(|v| v.v2p.get(ip).is_some())
    }

    /// V2P entries held, all VPCs.
    pub fn mappings_len(&self) -> usize {
        self.vpcs.iter().flatten().map(|v| v.v2p.len()).sum()
    }

    fn vpc(&self, id: &str) -> Option<&Vpc> {
        let s = self.vpc_index.get(id)?;
        self.vpcs.get(usize::from(s))?.as_ref()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The port of an ENI on this host.
    pub fn port_id(&self, eni_id: &str) -> Option<PortId> {
        let s = self.port_index.get(eni_id)?;
        self.ports.get(usize::from(s))?.as_ref().map(|_| PortId(s))
    }

    /// The ENI id of a port.
    pub fn port_eni(&self, port: PortId) -> Option<&str> {
        self.ports
            .get(usize::from(port.0))?
            .as_ref()
            .map(|p| &*p.id)
    }

    /// A local port's MAC, its addresses (primary first) and its VPC's router MAC and
    /// resolver address: what the agent needs to hand a link-local service's answer back
    /// to the instance.
    pub fn port_link(&self, port: PortId) -> Option<PortLink<'_>> {
        let p = self.ports.get(usize::from(port.0))?.as_ref()?;
        let v = vpc_at(&self.vpcs, p.vpc).ok()?;
        Some(PortLink {
            mac: p.mac,
            addresses: &p.addresses,
            addresses6: &p.addresses6,
            router_mac: v.router_mac,
            resolver: v.dns,
        })
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Tracked flows, all ports, both families.
    pub fn conntrack_len(&self) -> usize {
        self.conntrack.len() + self.conntrack6.len()
    }

    /// Cached decisions, both families.
    pub fn flow_table_len(&self) -> usize {
        self.flows.len() + self.flows6.len()
    }

    /// The sizes of the engine's tables.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            ports: self.port_index.len(),
            port_slots: self.ports.len(),
            vpcs: self.vpc_index.len(),
            vpc_slots: self.vpcs.len(),
            epochs: self.epochs.allocated(),
            epochs_in_use: self.epochs.in_use(),
            conntrack: self.conntrack.len() + self.conntrack6.len(),
            conntrack_slab: self.conntrack.slab_len() + self.conntrack6.slab_len(),
            conntrack_ports: self
                .conntrack
                .budgets_len()
                .max(self.conntrack6.budgets_len()),
            flows: self.flows.len() + self.flows6.len(),
            counters: self.counters.live(),
        }
    }

    /// The current (undrained) count of a flow-log counter, both directions summed:
    /// (packets, bytes).
    pub fn counter(
        &self,
        port: PortId,
        tuple: packet::FiveTuple,
        action: counters::Action,
    ) -> Option<(u64, u64)> {
        let counted = [Direction::Outbound, Direction::Inbound]
            .into_iter()
            .filter_map(|direction| {
                self.counters.get(&CounterKey {
                    port: port.0,
                    tuple,
                    action,
                    direction,
                })
            });
        let cached = self
            .flows
            .map
            .iter()
            .filter(|(k, e)| {
                action == counters::Action::Accept
                    && k.tuple() == tuple
                    && e.logged.iter().flatten().any(|l| l.port == port.0)
                    && e.tally.packets > 0
            })
            .map(|(_, e)| (e.tally.packets, e.tally.bytes));
        counted
            .chain(cached)
            .reduce(|(p, b), (q, c)| (p + q, b + c))
    }

    /// Hands over the flow-log records accumulated since the last drain.
    pub fn drain_flow_records(&mut self, mut f: impl FnMut(FlowRecord)) {
        self.counters.drain(&mut f);
        if !self.ports.iter().flatten().any(|p| p.flow_logs) {
            return;
        }
        for (k, e) in &mut self.flows.map {
            if e.tally.packets == 0 {
                continue;
            }
            for l in e.logged.iter().flatten() {
                if let Some(port) = self.ports.get(usize::from(l.port)).and_then(Option::as_ref) {
                    f(FlowRecord::new(&cached_key(k, l), &port.id, &e.tally));
                }
            }
            e.tally.drained();
        }
        for (k, e) in &mut self.flows6.map {
            if e.tally.packets == 0 {
                continue;
            }
            for l in e.logged.iter().flatten() {
                if let Some(port) = self.ports.get(usize::from(l.port)).and_then(Option::as_ref) {
                    f(FlowRecord::new(&v6::cached_key6(k, l), &port.id, &e.tally));
                }
            }
            e.tally.drained();
        }
    }

    /// Hands over, per ENI, the packets of new flows left uncounted since the last call
    /// because the counter table was full (flow logs' SKIPDATA).
    pub fn drain_skipped(&mut self, f: impl FnMut(std::sync::Arc<str>, u64)) {
        self.counters.drain_skipped(f);
    }

    /// Removes timed-out tracked flows, idle cached decisions and idle counters.
    pub fn expire(&mut self, now: Time) {
        self.conntrack.expire(now);
        self.conntrack6.expire(now);
        let (counters, ports) = (&mut self.counters, &self.ports);
        self.flows6
            .expire(now, FLOW_IDLE, |k, e| v6::settle6(counters, ports, k, e));
        self.flows
            .expire(now, FLOW_IDLE, |k, e| settle(counters, ports, k, e));
        self.counters.expire(now, COUNTER_IDLE);
    }

    // ---- program -------------------------------------------------------------------

    /// Installs a new host program. Objects whose content did not change keep their
    /// epoch, so cached flows that used only them stay cached; tracked flows survive
    /// rule changes (AWS: they continue until idle), untracked ones are re-decided.
    ///
    /// Ports and VPCs that left free their slots (see [`crate::slots`]) for the
    /// newcomers, with everything that was keyed by them: tracked flows, cached
    /// decisions, counters (the undrained ones still reach the next drain, under their
    /// ENI). A program with more than [`MAX_SLOTS`] ports or VPCs is refused whole.
    pub fn set_program(&mut self, program: HostProgram) -> Result<(), InstallError> {
        self.install(program, true)
    }

    /// Installs everything of `program` but V2P: each VPC that stays keeps its entries
    /// (the program's `mappings` are ignored), so an agent can apply a change of
    /// structure without resending tens of thousands of mappings.
    pub fn set_structure(&mut self, program: HostProgram) -> Result<(), InstallError> {
        self.install(program, false)
    }

    fn install(
        &mut self,
        mut program: HostProgram,
        with_mappings: bool,
    ) -> Result<(), InstallError> {
        // slots first: a program that cannot have them leaves the engine as it was
        let vpc_ids: HashSet<&str> = program.vpcs.iter().map(|v| v.id.as_str()).collect();
        if vpc_ids.len() > MAX_SLOTS {
            return Err(InstallError::TooManyVpcs {
                vpcs: vpc_ids.len(),
            });
        }
        // a port of a VPC the program does not hold is not installed
        let port_ids: HashSet<&str> = program
            .ports
            .iter()
            .filter(|p| vpc_ids.contains(p.vpc_id.as_str()))
            .map(|p| p.id.as_str())
            .collect();
        if port_ids.len() > MAX_SLOTS {
            return Err(InstallError::TooManyPorts {
                ports: port_ids.len(),
            });
        }
        let gone_vpcs: HashSet<u16> = self
            .vpc_index
            .release_unless(|id| vpc_ids.contains(id))
            .into_iter()
            .collect();
        let gone_ports: HashSet<u16> = self
            .port_index
            .release_unless(|id| port_ids.contains(id))
            .into_iter()
            .collect();

        let mut old = std::mem::take(&mut self.vpcs);
        let mut seen: HashSet<DepKey> = HashSet::new();
        self.underlay = program.underlay.clone();

        // VPCs
        let transit_links = transit_links(&program.vpcs);
        let mut vpcs: Vec<Option<Vpc>> = Vec::new();
        for spec in &program.vpcs {
            // cannot fail: the VPCs were counted above
            let Ok(slot) = self.vpc_index.alloc(&spec.id) else {
                continue;
            };
            let route_tables: Vec<RouteTable> = spec
                .route_tables
                .iter()
                .map(|rt| {
                    let dep = mark(
                        &mut seen,
                        &mut self.epochs,
                        DepKey::RouteTable(slot, rt.id.clone()),
                        fingerprint(rt),
                    );
                    RouteTable::compile(rt, dep)
                })
                .collect();
            let network_acls: Vec<NetworkAcl> = spec
                .network_acls
                .iter()
                .map(|a| {
                    let dep = mark(
                        &mut seen,
                        &mut self.epochs,
                        DepKey::NetworkAcl(slot, a.id.clone()),
                        fingerprint(a),
                    );
                    NetworkAcl::compile(a, dep)
                })
                .collect();
            let subnets: Vec<Subnet> = spec
                .subnets
                .iter()
                .map(|s| Subnet {
                    id: s.id.clone(),
                    cidr: s.cidr.map(|c| c.trunc()),
                    cidr6: s.ipv6_cidr.map(|c| c.trunc()),
                    router6: Subnet::router_ip6_of(s.ipv6_cidr),
                    route_table: route_tables
                        .iter()
                        .position(|r| r.id == s.route_table_id)
                        .and_then(|i| u16::try_from(i).ok()),
                    network_acl: network_acls
                        .iter()
                        .position(|a| a.id == s.network_acl_id)
                        .and_then(|i| u16::try_from(i).ok()),
                    zone: s.availability_zone.clone(),
                    dep: mark(
                        &mut seen,
                        &mut self.epochs,
                        DepKey::Subnet(slot, s.id.clone()),
                        fingerprint(s),
                    ),
                })
                .collect();
            let i = usize::from(slot);
            // V2P stays with its VPC, not with the slot: a slot freed by a VPC that
            // left may go to a newcomer in this same program
            let (mut v2p, mut v2p6) = match old.get_mut(i).and_then(Option::take) {
                Some(prev) if prev.id == spec.id => (prev.v2p, prev.v2p6),
                Some(prev) => {
                    prev.v2p.release(&mut self.epochs);
                    prev.v2p6.release(&mut self.epochs);
                    (V2p::new(&mut self.epochs), V2p6::new(&mut self.epochs))
                }
                None => (V2p::new(&mut self.epochs), V2p6::new(&mut self.epochs)),
            };
            // IPv6 mappings come with the structure, whichever way it is installed
            v2p6.sync(&spec.mappings_v6, &mut self.epochs);
            if with_mappings {
                v2p.sync(&spec.mappings, &mut self.epochs);
            }
            // the ENIs IPv4 and IPv6 routes name (an IPv6 route reaches an ENI where its
            // IPv4 entries say it is)
            v2p.set_targets(
                spec.route_tables
                    .iter()
                    .flat_map(|rt| {
                        rt.routes
                            .iter()
                            .map(|r| &r.target)
                            .chain(rt.routes_v6.iter().map(|r| &r.target))
                    })
                    .filter_map(|t| match t {
                        program::RouteTarget::NetworkInterface(e) => Some(e.as_str()),
                        _ => None,
                    }),
                &mut self.epochs,
            );
            let mut v = Vpc {
                id: spec.id.clone(),
                vni: spec.vni & 0x00ff_ffff,
                cidrs: spec.cidrs.iter().map(|c| c.trunc()).collect(),
                router_mac: spec.router_mac,
                dns: vpc::dns_address(spec),
                subnets,
                route_tables,
                network_acls,
                v2p,
                cidrs6: spec.ipv6_cidrs.iter().map(|c| c.trunc()).collect(),
                v2p6,
                edges: spec
                    .edges
                    .iter()
                    .map(|e| (e.gateway_id.clone(), e.host))
                    .collect(),
                edge_hosts: spec.edges.iter().map(|e| e.host).collect(),
                peerings: HashMap::new(),
                peer_vpcs: Vec::new(),
                transits: Vec::new(),
                transit_vpcs: Vec::new(),
                dhcp: spec.dhcp.clone(),
                dep: 0,
                egress_nats: egress_nats(spec),
            };
            v.dep = mark(
                &mut seen,
                &mut self.epochs,
                DepKey::Vpc(spec.id.clone()),
                vpc_fingerprint(
                    spec,
                    v.v2p.middlebox_hosts(),
                    v.v2p6.middlebox_hosts(),
                    transit_links.get(spec.id.as_str()),
                ),
            );
            if vpcs.len() <= i {
                vpcs.resize_with(i + 1, || None);
            }
            // a VPC listed twice: the last one stands
            if let Some(dup) = vpcs[i].replace(v) {
                dup.v2p.release(&mut self.epochs);
                dup.v2p6.release(&mut self.epochs);
            }
        }
        // peerings name VPC slots
        for spec in &program.vpcs {
            let Some(slot) = self.vpc_index.get(&spec.id) else {
                continue;
            };
            let peers: Vec<(String, u16)> = spec
                .peerings
                .iter()
                .filter_map(|p| {
                    let s = self.vpc_index.get(&p.peer_vpc_id)?;
                    vpcs.get(usize::from(s))?.as_ref()?;
                    Some((p.id.clone(), s))
                })
                .collect();
            if let Some(v) = vpcs.get_mut(usize::from(slot)).and_then(Option::as_mut) {
                v.peer_vpcs = peers.iter().map(|(_, s)| *s).collect();
                v.peerings = peers.into_iter().collect();
            }
        }
        // transit gateway attachments name VPC slots and their attachments' places
        let present = |id: &str| {
            self.vpc_index
                .get(id)
                .filter(|&s| vpcs.get(usize::from(s)).is_some_and(Option::is_some))
        };
        let places: HashMap<(&str, &str), (u16, u16)> = program
            .vpcs
            .iter()
            .filter_map(|spec| Some((spec, present(&spec.id)?)))
            .flat_map(|(spec, slot)| {
                spec.transit_gateway_attachments
                    .iter()
                    .zip(0..=u16::MAX)
                    .map(move |(a, i)| ((spec.id.as_str(), a.id.as_str()), (slot, i)))
            })
            .collect();
        let transits: Vec<(u16, Vec<transit::Attachment>, Vec<u16>)> = program
            .vpcs
            .iter()
            .filter_map(|spec| {
                let slot = present(&spec.id)?;
                let attachments = spec
                    .transit_gateway_attachments
                    .iter()
                    .map(|a| {
                        transit::Attachment::compile(a, &spec.subnets, |vpc, id| {
                            places.get(&(vpc, id)).copied()
                        })
                    })
                    .collect();
                let senders = transit_links
                    .get(spec.id.as_str())
                    .into_iter()
                    .flatten()
                    .filter_map(|id| present(id))
                    .collect();
                Some((slot, attachments, senders))
            })
            .collect();
        for (slot, attachments, senders) in transits {
            if let Some(v) = vpcs.get_mut(usize::from(slot)).and_then(Option::as_mut) {
                v.transits = attachments;
                v.transit_vpcs = senders;
            }
        }

        // ports; the member lists their rules name compiled once, from any VPC of the
        // program (a rule may name a group of a peered VPC, whose hosts this one serves)
        let mut ports: Vec<Option<Port>> = Vec::new();
        let mut prints = MemberPrints::new(&program.vpcs);
        let named: Vec<&program::SecurityGroup> = named_groups(&prints.groups, &program.ports);
        let members: Members<'_> = security_group::members_of(named.iter().copied());
        let members6: security_group::Members6<'_> =
            security_group::members_of(named.iter().copied());
        for spec in &program.ports {
            let Some(vslot) = self.vpc_index.get(&spec.vpc_id) else {
                continue;
            };
            let Some(v) = vpcs.get(usize::from(vslot)).and_then(Option::as_ref) else {
                continue;
            };
            let Some(vspec) = program.vpcs.iter().find(|x| x.id == spec.vpc_id) else {
                continue;
            };
            // cannot fail: the ports were counted above
            let Ok(slot) = self.port_index.alloc(&spec.id) else {
                continue;
            };
            let subnet = v
                .subnets
                .iter()
                .position(|s| s.id == spec.subnet_id)
                .and_then(|i| u16::try_from(i).ok());
            let fp = port_fingerprint(spec, &mut prints);
            let dep = mark(
                &mut seen,
                &mut self.epochs,
                DepKey::Port(spec.id.clone()),
                fp,
            );
            let ct_key = DepKey::Conntrack(spec.id.clone());
            seen.insert(ct_key.clone());
            let ct_dep = self.epochs.slot(ct_key);
            let i = usize::from(slot);
            if ports.len() <= i {
                ports.resize_with(i + 1, || None);
            }
            ports[i] = Some(Port::compile(
                spec,
                vslot,
                subnet,
                &vspec.security_groups,
                &members,
                &members6,
                dep,
                ct_dep,
            ));
        }
        // what was keyed by the slots of ports and VPCs that left must not reach the
        // slots' next occupants: their tracked flows, cached decisions and counters go
        if !gone_ports.is_empty() || !gone_vpcs.is_empty() {
            let gone_port = |p: u16| gone_ports.contains(&p);
            self.conntrack
                .remove_ports(gone_port, self.port_index.end());
            self.conntrack6
                .remove_ports(gone_port, self.port_index.end());
            let (counters, old_ports) = (&mut self.counters, &self.ports);
            self.flows6.map.retain(|k, e| {
                let from_gone = match k.origin() {
                    Origin::Port(p) => gone_port(p),
                    Origin::Underlay(v) => gone_vpcs.contains(&v),
                };
                let to_gone = matches!(e.action, Action::ToPort { port, .. } if gone_port(port));
                let keep = !from_gone && !to_gone;
                if !keep {
                    v6::settle6(counters, old_ports, k, e);
                }
                keep
            });
            self.flows.map.retain(|k, e| {
                let from_gone = match k.origin() {
                    Origin::Port(p) => gone_port(p),
                    Origin::Underlay(v) => gone_vpcs.contains(&v),
                };
                let to_gone = matches!(e.action, Action::ToPort { port, .. } if gone_port(port));
                let keep = !from_gone && !to_gone;
                if !keep {
                    settle(counters, old_ports, k, e);
                }
                keep
            });
            self.counters.retire_ports(gone_port);
        }
        self.epochs.retain_present(|k| seen.contains(k));
        self.macs = ports
            .iter()
            .zip(0..=u16::MAX)
            .filter_map(|(p, i)| p.as_ref().map(|p| (p.mac, i)))
            .collect();
        self.vnis = vpcs
            .iter()
            .zip(0..=u16::MAX)
            .filter_map(|(v, i)| v.as_ref().map(|v| (v.vni, i)))
            .collect();
        self.ports = ports;
        self.vpcs = vpcs;
        for v in old.into_iter().flatten() {
            v.v2p.release(&mut self.epochs);
            v.v2p6.release(&mut self.epochs);
        }
        for v in &mut program.vpcs {
            v.mappings = Vec::new();
            v.mappings_v6 = Vec::new();
        }
        self.structure = program;
        Ok(())
    }

    /// A security group's members changed (what an instance joining or leaving it does):
    /// recompiles the rule sets of this host's ports whose groups reference the group,
    /// and nothing else; their epochs move, so cached decisions that read them are taken
    /// again. Returns how many ports were recompiled.
    pub fn set_group_members(
        &mut self,
        vpc_id: &str,
        group_id: &str,
        members: &[Ipv4Addr],
    ) -> usize {
        let Some(group) = self
            .structure
            .vpcs
            .iter_mut()
            .find(|v| v.id == vpc_id)
            .and_then(|v| v.security_groups.iter_mut().find(|g| g.id == group_id))
        else {
            return 0;
        };
        if group.members == members {
            return 0;
        }
        group.members = members.to_vec();
        // Readers may be groups of any VPC here: a peered VPC's rules can name this group.
        let mut prints = MemberPrints::new(&self.structure.vpcs);
        let readers: HashSet<&str> = prints
            .groups
            .values()
            .filter(|g| peers(g).any(|x| x == group_id))
            .map(|g| g.id.as_str())
            .collect();
        if readers.is_empty() {
            return 0;
        }
        // Member lists of the groups the readers' rules name (not every group's).
        let named_ids: HashSet<&str> = readers
            .iter()
            .filter_map(|id| prints.groups.get(id))
            .flat_map(|g| peers(g))
            .collect();
        let lists: Members<'_> = security_group::members_of(
            named_ids
                .iter()
                .filter_map(|id| prints.groups.get(id).copied()),
        );
        let mut recompiled = 0;
        for spec in &self.structure.ports {
            if !spec
                .security_groups
                .iter()
                .any(|g| readers.contains(g.as_str()))
            {
                continue;
            }
            let Some(port) = self
                .port_index
                .get(&spec.id)
                .and_then(|s| self.ports.get_mut(usize::from(s)))
                .and_then(Option::as_mut)
            else {
                continue;
            };
            let mine = prints.mine(spec);
            port.security = security_group::PortSecurity::compile_with(&mine, &lists);
            port.dep = self.epochs.set(
                DepKey::Port(spec.id.clone()),
                port_fingerprint(spec, &mut prints),
            );
            recompiled += 1;
        }
        recompiled
    }

    /// Adds or changes one V2P entry (a delta from the mapping service): O(1).
    pub fn upsert_mapping(&mut self, vpc_id: &str, m: program::Mapping) -> bool {
        self.change_v2p(vpc_id, |v2p, epochs| Some(v2p.upsert(&m, epochs)))
    }

    /// Removes one V2P entry.
    pub fn remove_mapping(&mut self, vpc_id: &str, ip: Ipv4Addr) -> bool {
        self.change_v2p(vpc_id, |v2p, epochs| v2p.remove(ip, epochs))
    }

    /// Applies `f` to a VPC's V2P; when the middlebox hosts changed, the VPC's decisions
    /// are revisited (authentication reads them).
    fn change_v2p(
        &mut self,
        vpc_id: &str,
        f: impl FnOnce(&mut V2p, &mut Epochs) -> Option<bool>,
    ) -> bool {
        let Some(slot) = self.vpc_index.get(vpc_id) else {
            return false;
        };
        let Some(v) = self
            .vpcs
            .get_mut(usize::from(slot))
            .and_then(Option::as_mut)
        else {
            return false;
        };
        let Some(middleboxes_changed) = f(&mut v.v2p, &mut self.epochs) else {
            return false;
        };
        if middleboxes_changed
            && let Some(spec) = self.structure.vpcs.iter().find(|x| x.id == vpc_id)
        {
            let links = transit_links(&self.structure.vpcs);
            self.epochs.set(
                DepKey::Vpc(vpc_id.to_string()),
                vpc_fingerprint(
                    spec,
                    v.v2p.middlebox_hosts(),
                    v.v2p6.middlebox_hosts(),
                    links.get(vpc_id),
                ),
            );
        }
        true
    }

    // ---- from a port ----------------------------------------------------------------

    /// Decides a frame sent by the instance behind `port`. Output frames go to `out`.
    pub fn process_from_port(
        &mut self,
        now: Time,
        port: PortId,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        self.copying_from_port(now, port.0, frame, out)
    }

    /// As [`Engine::process_from_port`], for the frame at `buf[frame]`, without copying
    /// it on the fast path: headers are rewritten in place, and an encapsulated packet's
    /// outer headers are written into the room before the frame
    /// (`frame.start >= overlay::OUTER_LEN`; with less room the output goes to `out`).
    /// The first packet of a flow and the engine's own answers go to `out`.
    /// [`Processed`] says where the frame to send is and, when a cached decision served
    /// it, the frame's flow (see [`Engine::offload`]).
    pub fn process_from_port_in_place(
        &mut self,
        now: Time,
        port: PortId,
        buf: &mut [u8],
        frame: Range<usize>,
        out: &mut Vec<u8>,
    ) -> Processed {
        let Some(f) = buf.get(frame.clone()) else {
            // a range outside the buffer: the caller's mistake, not worth a panic
            return Processed::out(self.drop(DropReason::Internal));
        };
        let mut headers = Headers::Unparsed;
        let v6 = is_ipv6(f);
        if !v6
            && let Some((action, flow)) = self.fast_action(
                now,
                Origin::Port(port.0),
                Arrival::Port(port),
                f,
                &mut headers,
            )
        {
            if frame.start < overlay::OUTER_LEN {
                let v = emit_action(action, f, out);
                return Processed {
                    verdict: self.counted(v),
                    output: Output::Out,
                    cached: Some(flow),
                    cached6: None,
                };
            }
            let r = emit_in_place(action, buf, frame);
            return self.in_place_result(r, Some(flow), None);
        }
        if v6
            && let Some((action, flow)) = self.fast_action6(
                now,
                Origin::Port(port.0),
                Arrival::Port(port),
                f,
                &mut headers,
            )
        {
            if frame.start < overlay::OUTER_LEN {
                let v = emit_action(action, f, out);
                return Processed {
                    verdict: self.counted(v),
                    output: Output::Out,
                    cached: None,
                    cached6: Some(flow),
                };
            }
            let r = emit_in_place(action, buf, frame);
            return self.in_place_result(r, None, Some(flow));
        }
        Processed::out(self.slow_port(now, port.0, f, headers, out))
    }

    /// Counts the drop a fast-path emit may decide (a frame too large to encapsulate).
    #[inline]
    fn counted(&mut self, v: Verdict) -> Verdict {
        if let Verdict::Drop { reason } = v {
            self.stats.drops[reason as usize] += 1;
        }
        v
    }

    /// What an in-place emit of `flow`'s (or `flow6`'s) cached decision left: the frame
    /// in the buffer, or a counted drop.
    #[inline]
    fn in_place_result(
        &mut self,
        r: Option<(Verdict, Range<usize>)>,
        flow: Option<CachedFlow>,
        flow6: Option<CachedFlow6>,
    ) -> Processed {
        let (verdict, output) = match r {
            Some((v @ Verdict::Drop { .. }, _)) => (self.counted(v), Output::Out),
            Some((v, r)) => (v, Output::InPlace(r)),
            None => return Processed::out(self.drop(DropReason::Internal)),
        };
        Processed {
            verdict,
            output,
            cached: flow,
            cached6: flow6,
        }
    }

    /// Counts a drop decided before the pipeline (bad input, broken invariants).
    #[cold]
    fn drop(&mut self, reason: DropReason) -> Verdict {
        self.stats.slow_path += 1;
        self.stats.drops[reason as usize] += 1;
        Verdict::Drop { reason }
    }

    fn copying_from_port(&mut self, now: Time, p: u16, frame: &[u8], out: &mut Vec<u8>) -> Verdict {
        let mut headers = Headers::Unparsed;
        let v6 = is_ipv6(frame);
        if !v6 && let Some(v) = self.fast_from_port(now, p, frame, out, &mut headers) {
            return self.counted(v);
        }
        if v6
            && let Some((action, _)) = self.fast_action6(
                now,
                Origin::Port(p),
                Arrival::Port(PortId(p)),
                frame,
                &mut headers,
            )
        {
            let v = emit_action(action, frame, out);
            return self.counted(v);
        }
        self.slow_port(now, p, frame, headers, out)
    }

    /// The slow path for a frame the fast path did not serve (`headers`: what it
    /// parsed), its drops counted.
    fn slow_port(
        &mut self,
        now: Time,
        p: u16,
        frame: &[u8],
        headers: Headers,
        out: &mut Vec<u8>,
    ) -> Verdict {
        self.stats.slow_path += 1;
        let v = match self.slow_from_port(now, p, frame, headers, out) {
            Ok(v) => v,
            Err(reason) => Verdict::Drop { reason },
        };
        if let Verdict::Drop { reason } = v {
            self.stats.drops[reason as usize] += 1;
        }
        v
    }

    #[inline]
    fn fast_from_port(
        &mut self,
        now: Time,
        p: u16,
        frame: &[u8],
        out: &mut Vec<u8>,
        headers: &mut Headers,
    ) -> Option<Verdict> {
        let (action, _) = self.fast_action(
            now,
            Origin::Port(p),
            Arrival::Port(PortId(p)),
            frame,
            headers,
        )?;
        Some(emit_action(action, frame, out))
    }

    /// The fast path's lookup for `frame` (the inner frame when from the underlay):
    /// the cached action, its flow's state refreshed, and the flow as parsed. On a miss,
    /// `headers` gets what was parsed (it is left as it was if nothing was).
    #[inline]
    fn fast_action(
        &mut self,
        now: Time,
        origin: Origin,
        arrival: Arrival,
        frame: &[u8],
        headers: &mut Headers,
    ) -> Option<(&Action, CachedFlow)> {
        if frame.len() < ethernet::HEADER_LEN || frame[12..14] != ethertype::IPV4.to_be_bytes() {
            return None;
        }
        let m = match packet::parse_ipv4(&frame[ethernet::HEADER_LEN..]) {
            Ok(m) => m,
            Err(reason) => {
                *headers = Headers::Parsed(Err(reason));
                return None;
            }
        };
        let hit = self.fast_hit(now, origin, arrival, frame, &m);
        if hit.is_none() {
            *headers = Headers::Parsed(Ok(m));
        }
        hit
    }

    /// The cached decision for the flow of `frame`, parsed as `m`, if it holds: its
    /// state refreshed.
    #[inline]
    fn fast_hit(
        &mut self,
        now: Time,
        origin: Origin,
        arrival: Arrival,
        frame: &[u8],
        m: &Meta,
    ) -> Option<(&Action, CachedFlow)> {
        let key = FlowKey::new(origin, m.tuple.pack());
        let e = self.flows.map.get_mut(&key)?;
        let elsewhere =
            matches!(arrival, Arrival::Underlay { outer_src, .. } if outer_src != e.outer_src);
        if elsewhere || frame[0..6] != e.dst_mac.0 || frame[6..12] != e.src_mac.0 {
            return None;
        }
        if !fast_valid(e, &self.epochs, &self.conntrack, now) {
            return None;
        }
        fast_commit(e, &mut self.conntrack, now, m);
        self.stats.fast_path += 1;
        let flow = CachedFlow {
            tuple: m.tuple,
            tcp_flags: m.tcp_flags,
            ip_options: m.ip_options,
            arrival,
        };
        Some((&e.action, flow))
    }

    // ---- offload ----------------------------------------------------------------------

    /// The decision a kernel fast path may carry for `flow` (handed back by an in-place
    /// process call), if it is an established TCP flow (no SYN, FIN or RST in the frame)
    /// whose decision is cached: from a port with source/dest check on (a middlebox
    /// forwards others' packets: they stay with the engine) to another instance host, or
    /// from the host V2P names for the inner source to such a port.
    pub fn offload(&self, flow: &CachedFlow, now: Time) -> Option<Offload> {
        self.offload_of(
            flow,
            |origin| self.flows.map.get(&FlowKey::new(origin, flow.tuple.pack())),
            |e| self.established(e, now),
        )
    }

    /// [`Engine::offload`] for an IPv6 flow (its decision and tracking in IPv6's tables).
    pub fn offload6(&self, flow: &CachedFlow6, now: Time) -> Option<Offload6> {
        self.offload_of(
            flow,
            |origin| self.flows6.map.get(&FlowKey6::new(origin, &flow.tuple)),
            |e| established_in(e, &self.epochs, &self.conntrack6, now),
        )
    }

    /// The offload of `flow` whose cached decision from an origin `entry` finds, if
    /// `established` holds for it.
    fn offload_of<'a, A: Copy>(
        &'a self,
        flow: &CachedFlow<A>,
        entry: impl Fn(Origin) -> Option<&'a flow_table::Entry>,
        established: impl Fn(&flow_table::Entry) -> bool,
    ) -> Option<Offload<A>> {
        if !flow.may_offload() {
            return None;
        }
        let offload = |e: &flow_table::Entry, rewrite, action| Offload {
            tuple: flow.tuple,
            src_mac: e.src_mac,
            dst_mac: e.dst_mac,
            rewrite,
            action,
        };
        match flow.arrival {
            Arrival::Port(port) => {
                if !self.port(port.0)?.source_dest_check {
                    return None;
                }
                let e = entry(Origin::Port(port.0)).filter(|e| established(e))?;
                match e.action {
                    Action::Encap {
                        outer,
                        rewrite,
                        edge: false,
                    } => {
                        let (host, vni) = overlay::template_dst(&outer);
                        Some(offload(
                            e,
                            rewrite,
                            OffloadAction::Encap {
                                port,
                                outer,
                                host,
                                vni,
                            },
                        ))
                    }
                    _ => None,
                }
            }
            Arrival::Underlay { vni, outer_src } => {
                let vslot = self.vpc_of_vni(vni)?;
                let e = entry(Origin::Underlay(vslot)).filter(|e| established(e))?;
                match e.action {
                    Action::ToPort { port, rewrite }
                        if e.outer_src == outer_src
                            && self.port(port).is_some_and(|p| p.source_dest_check) =>
                    {
                        Some(offload(
                            e,
                            rewrite,
                            OffloadAction::Deliver {
                                vni,
                                outer_src,
                                port: PortId(port),
                            },
                        ))
                    }
                    _ => None,
                }
            }
        }
    }

    /// Whether the engine still decides as `o` says: false after a program change that
    /// touches the flow, and once its connection is no longer established.
    pub fn offload_current(&self, o: &Offload, now: Time) -> bool {
        self.offload_entry(o)
            .is_some_and(|(_, e)| self.established(e, now))
    }

    /// [`Engine::offload_current`] for an IPv6 flow.
    pub fn offload_current6(&self, o: &Offload6, now: Time) -> bool {
        self.offload_entry6(o)
            .is_some_and(|(_, e)| established_in(e, &self.epochs, &self.conntrack6, now))
    }

    /// Records what a fast path carried for `o` since the last report: the flow-log
    /// counters count it (even if the decision changed since: the packets did pass), and
    /// while the decision holds, the flow's tracking entries and cached decision stay alive.
    pub fn offloaded(&mut self, o: &Offload, packets: u64, bytes: u64, now: Time) {
        if packets == 0 {
            return;
        }
        let Some((key, e)) = self.offload_entry(o) else {
            return;
        };
        let holds = self.established(e, now);
        if let Some(e) = self.flows.map.get_mut(&key) {
            carried(e, &mut self.conntrack, holds, packets, bytes, now);
        }
    }

    /// [`Engine::offloaded`] for an IPv6 flow.
    pub fn offloaded6(&mut self, o: &Offload6, packets: u64, bytes: u64, now: Time) {
        if packets == 0 {
            return;
        }
        let Some((key, e)) = self.offload_entry6(o) else {
            return;
        };
        let holds = established_in(e, &self.epochs, &self.conntrack6, now);
        if let Some(e) = self.flows6.map.get_mut(&key) {
            carried(e, &mut self.conntrack6, holds, packets, bytes, now);
        }
    }

    fn port(&self, slot: u16) -> Option<&Port> {
        self.ports.get(usize::from(slot))?.as_ref()
    }

    /// The origin of an offload's packets.
    fn offload_origin(&self, action: &OffloadAction) -> Option<Origin> {
        Some(match *action {
            OffloadAction::Encap { port, .. } => Origin::Port(port.0),
            OffloadAction::Deliver { vni, .. } => Origin::Underlay(self.vpc_of_vni(vni)?),
        })
    }

    fn offload_entry(&self, o: &Offload) -> Option<(FlowKey, &flow_table::Entry)> {
        let key = FlowKey::new(self.offload_origin(&o.action)?, o.tuple.pack());
        let e = self.flows.map.get(&key)?;
        (e.src_mac == o.src_mac && e.dst_mac == o.dst_mac).then_some((key, e))
    }

    fn offload_entry6(&self, o: &Offload6) -> Option<(FlowKey6, &flow_table::Entry)> {
        let key = FlowKey6::new(self.offload_origin(&o.action)?, &o.tuple);
        let e = self.flows6.map.get(&key)?;
        (e.src_mac == o.src_mac && e.dst_mac == o.dst_mac).then_some((key, e))
    }

    /// The cached decision holds and every connection it tracks is established.
    fn established(&self, e: &flow_table::Entry, now: Time) -> bool {
        established_in(e, &self.epochs, &self.conntrack, now)
    }

    fn slow_from_port(
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
        if eth.src() != port.mac {
            return Err(DropReason::SourceMacMismatch);
        }
        let kind = eth.ethertype();
        if kind == ethertype::IPV6 {
            // before the IPv4 path's lookups: the IPv6 slow path makes its own
            return self.slow_from_port6(now, p, frame, headers, out);
        }
        let v = vpc_at(&self.vpcs, port.vpc)?;
        let subnet = port.subnet.ok_or(DropReason::NoRoute)?;
        let subnet = v
            .subnets
            .get(usize::from(subnet))
            .ok_or(DropReason::Internal)?;
        match kind {
            // an IPv6-only subnet has no IPv4: no ARP, no DHCP, no IPv4 router
            ethertype::ARP | ethertype::IPV4 if subnet.cidr.is_none() => {
                return Err(DropReason::Ipv4);
            }
            ethertype::ARP => {
                arp::answer(port, v, subnet, frame, out)?;
                return Ok(Verdict::Hairpin { port: PortId(p) });
            }
            ethertype::IPV4 => {}
            _ => return Err(DropReason::UnsupportedEthertype),
        }
        let m = headers.ipv4(eth.payload())?;
        if dhcp::is_dhcp(&m) {
            dhcp::respond(port, v, subnet, frame, self.config.instance_mtu, out)?;
            return Ok(Verdict::Hairpin { port: PortId(p) });
        }
        if eth.dst().is_multicast() {
            return Err(DropReason::BroadcastOrMulticast);
        }
        let (src, dst) = (m.tuple.src, m.tuple.dst);
        if port.source_dest_check && !port.owns(src) {
            return Err(DropReason::SourceCheck);
        }
        if dns::is_dns(v.dns, &m) && self.config.resolver_service {
            out.clear();
            out.extend_from_slice(frame);
            return Ok(Verdict::Service {
                port: PortId(p),
                service: Service::Resolver,
            });
        }
        if dns::is_dns(v.dns, &m) {
            let rcode = dns::respond(v, frame, out)?;
            self.stats.dns.count(rcode);
            return Ok(Verdict::Hairpin { port: PortId(p) });
        }
        if let Some(service) = service_of(&m) {
            out.clear();
            out.extend_from_slice(frame);
            return Ok(Verdict::Service {
                port: PortId(p),
                service,
            });
        }
        if u32::from(dst) & 0xffff_0000 == LINK_LOCAL {
            return Err(DropReason::LinkLocal);
        }
        if Some(dst) == subnet.router_ip() {
            return if m.tuple.protocol == ip_proto::ICMP && m.icmp_type == icmp::kind::ECHO_REQUEST
            {
                echo_reply(frame, v.router_mac, out)?;
                Ok(Verdict::Hairpin { port: PortId(p) })
            } else {
                Err(DropReason::RouterAddress)
            };
        }
        let routed = eth.dst() == v.router_mac;
        let same_subnet = subnet.contains(dst);
        if !routed {
            // switched: only to the owner of the address, by its own MAC
            let owner = v.v2p.get(dst).filter(|_| same_subnet);
            if owner.is_none_or(|o| o.mac != eth.dst()) {
                return Err(DropReason::UnknownDestinationMac);
            }
        }
        let mut trace = Trace::default();
        trace.deps.push(&self.epochs, port.dep);
        trace.deps.push(&self.epochs, v.dep);
        trace.deps.push(&self.epochs, subnet.dep);

        // security group egress, with connection tracking
        if let Err(reason) = sg_stage(
            &mut self.conntrack,
            &mut self.epochs,
            port,
            p,
            Direction::Outbound,
            &m,
            now,
            &mut trace,
        ) {
            if reason == DropReason::SecurityGroupEgress && port.flow_logs {
                self.counters.count(
                    key(p, &m, counters::Action::Reject, Direction::Outbound),
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
            if !acl_allows(v, subnet, true, &m, &mut self.epochs, &mut trace)? {
                if port.flow_logs {
                    self.counters.count(
                        key(p, &m, counters::Action::Reject, Direction::Outbound),
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
            rt.lookup(dst)
                .map_err(|_| DropReason::Internal)?
                .ok_or(DropReason::NoRoute)?
                .clone()
        };
        let dest = resolve(
            &self.vpcs,
            port.vpc,
            subnet,
            &target,
            &m,
            &mut self.epochs,
            &mut trace,
        )?;
        if port.flow_logs {
            trace.log(p, Direction::Outbound);
        }

        let rewrite = match &dest {
            Dest::Host { mac, .. } if routed => Some((v.router_mac, *mac)),
            Dest::Edge { mac, .. } | Dest::TransitEdge { mac, .. } => Some((v.router_mac, *mac)),
            _ => None,
        };
        let (src_mac, dst_mac) = (eth.src(), eth.dst());
        let to_edge = matches!(dest, Dest::TransitEdge { .. });
        let sport = overlay::entropy_port(&m.tuple);
        // past here the packet has left its port: a drop on the way (its destination
        // refusing it) leaves the port's ACCEPT counted
        let action = 'action: {
            Ok(match dest {
                Dest::Host {
                    vpc: dv,
                    host,
                    mac,
                    acl,
                } if host == self.underlay.address => {
                    // the destination ENI is on this host: its port has the mapping's MAC
                    let Some(qp) = self
                        .macs
                        .get(&mac)
                        .and_then(|&q| Some((q, self.ports.get(usize::from(q))?.as_ref()?)))
                        .filter(|(_, qp)| qp.vpc == dv)
                    else {
                        break 'action Err(DropReason::NoSuchPort);
                    };
                    let (q, qp) = qp;
                    let src_after = rewrite.map_or(src_mac, |r| r.0);
                    let rw = deliver(
                        &self.vpcs,
                        qp,
                        q,
                        dv,
                        src_after,
                        &m,
                        acl,
                        now,
                        &mut self.conntrack,
                        &mut self.epochs,
                        &mut self.counters,
                        &mut trace,
                    );
                    match rw {
                        Ok(rw) => Action::ToPort {
                            port: q,
                            rewrite: Some(rw),
                        },
                        Err(reason) => break 'action Err(reason),
                    }
                }
                // to another host, or to the edge in a transit gateway's egress VPC: in
                // the destination VPC's number
                Dest::Host { vpc: dv, host, .. } | Dest::TransitEdge { vpc: dv, host, .. } => {
                    let vni = match vpc_at(&self.vpcs, dv) {
                        Ok(dv) => dv.vni,
                        Err(reason) => break 'action Err(reason),
                    };
                    Action::encap(&self.underlay, host, vni, sport, rewrite, to_edge)
                }
                Dest::Edge { host, .. } => {
                    Action::encap(&self.underlay, host, v.vni, sport, rewrite, true)
                }
            })
        };
        let action = match action {
            Ok(action) => action,
            Err(reason) => {
                if port.flow_logs {
                    self.counters.count(
                        key(p, &m, counters::Action::Accept, Direction::Outbound),
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
        self.remember(
            FlowKey::new(Origin::Port(p), m.tuple.pack()),
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

    /// Caches a decision, its first packet counted in the entry; the tally of an entry
    /// not cached (the table full, or too many dependencies) or replaced goes to the
    /// slow path's counters.
    fn remember(&mut self, key: FlowKey, entry: flow_table::Entry) {
        let (counters, ports) = (&mut self.counters, &self.ports);
        if entry.deps.complete() {
            self.flows
                .insert(key, entry, |e| settle(counters, ports, &key, e));
        } else {
            settle(counters, ports, &key, &entry);
        }
    }

    // ---- from the underlay ------------------------------------------------------------

    /// Decides a whole frame received on the underlay (outer Ethernet/IPv4/UDP/Geneve).
    pub fn process_from_underlay(&mut self, now: Time, frame: &[u8], out: &mut Vec<u8>) -> Verdict {
        match overlay::decapsulate(frame) {
            Ok(d) => self.process_decapsulated(now, d, frame, out),
            Err(reason) => {
                self.stats.slow_path += 1;
                self.stats.drops[reason as usize] += 1;
                Verdict::Drop { reason }
            }
        }
    }

    /// Decides a Geneve packet read from a UDP socket: `payload` starts at the Geneve
    /// header; `outer_src` is the datagram's source address.
    pub fn process_geneve(
        &mut self,
        now: Time,
        outer_src: Ipv4Addr,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        match overlay::geneve_payload(payload) {
            Ok((vni, off)) => {
                let d = Decap {
                    outer_src,
                    outer_dst: self.underlay.address,
                    vni,
                    inner_offset: off,
                    inner_end: payload.len(),
                };
                self.process_decapsulated(now, d, payload, out)
            }
            Err(reason) => {
                self.stats.slow_path += 1;
                self.stats.drops[reason as usize] += 1;
                Verdict::Drop { reason }
            }
        }
    }

    /// As [`Engine::process_from_underlay`], without copying the inner frame on the
    /// fast path: its headers are rewritten in place. [`Processed`] says where the frame
    /// to deliver is (the first packet of a flow goes to `out`) and, when a cached
    /// decision served it, the inner frame's flow (see [`Engine::offload`]).
    pub fn process_from_underlay_in_place(
        &mut self,
        now: Time,
        buf: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Processed {
        match overlay::decapsulate(buf) {
            Ok(d) => self.decapsulated_in_place(now, d, buf, out),
            Err(reason) => {
                self.stats.slow_path += 1;
                self.stats.drops[reason as usize] += 1;
                Processed::out(Verdict::Drop { reason })
            }
        }
    }

    /// As [`Engine::process_geneve`] for the Geneve packet at `buf[payload]`, without
    /// copying the inner frame on the fast path (see
    /// [`Engine::process_from_underlay_in_place`]).
    pub fn process_geneve_in_place(
        &mut self,
        now: Time,
        outer_src: Ipv4Addr,
        buf: &mut [u8],
        payload: Range<usize>,
        out: &mut Vec<u8>,
    ) -> Processed {
        let Some(p) = buf.get(payload.clone()) else {
            return Processed::out(self.drop(DropReason::Internal));
        };
        match overlay::geneve_payload(p) {
            Ok((vni, off)) => {
                let d = Decap {
                    outer_src,
                    outer_dst: self.underlay.address,
                    vni,
                    inner_offset: payload.start + off,
                    inner_end: payload.end,
                };
                self.decapsulated_in_place(now, d, buf, out)
            }
            Err(reason) => {
                self.stats.slow_path += 1;
                self.stats.drops[reason as usize] += 1;
                Processed::out(Verdict::Drop { reason })
            }
        }
    }

    fn decapsulated_in_place(
        &mut self,
        now: Time,
        d: Decap,
        buf: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Processed {
        let inner = d.inner_offset..d.inner_end;
        let Some(f) = buf.get(inner.clone()) else {
            return Processed::out(self.drop(DropReason::Internal));
        };
        let mut headers = Headers::Unparsed;
        let v6 = is_ipv6(f);
        if !v6 && let Some((action, flow)) = self.fast_from_underlay(now, &d, f, &mut headers) {
            let r = emit_in_place(action, buf, inner);
            return self.in_place_result(r, Some(flow), None);
        }
        if v6 && let Some((action, flow)) = self.fast_from_underlay6(now, &d, f, &mut headers) {
            let r = emit_in_place(action, buf, inner);
            return self.in_place_result(r, None, Some(flow));
        }
        Processed::out(self.slow_decapsulated(now, d, buf, headers, out))
    }

    fn process_decapsulated(
        &mut self,
        now: Time,
        d: Decap,
        buf: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        let Some(inner) = buf.get(d.inner_offset..d.inner_end) else {
            return self.drop(DropReason::Internal);
        };
        let mut headers = Headers::Unparsed;
        let v6 = is_ipv6(inner);
        if !v6 && let Some((action, _)) = self.fast_from_underlay(now, &d, inner, &mut headers) {
            let v = emit_action(action, inner, out);
            return self.counted(v);
        }
        if v6 && let Some((action, _)) = self.fast_from_underlay6(now, &d, inner, &mut headers) {
            let v = emit_action(action, inner, out);
            return self.counted(v);
        }
        self.slow_decapsulated(now, d, buf, headers, out)
    }

    /// The slow path for an inner frame the fast path did not serve (`headers`: what it
    /// parsed), its drops counted.
    fn slow_decapsulated(
        &mut self,
        now: Time,
        d: Decap,
        buf: &[u8],
        headers: Headers,
        out: &mut Vec<u8>,
    ) -> Verdict {
        let Some(inner) = buf.get(d.inner_offset..d.inner_end) else {
            return self.drop(DropReason::Internal);
        };
        self.stats.slow_path += 1;
        let v = match self.slow_from_underlay(now, &d, inner, headers, out) {
            Ok(v) => v,
            Err(reason) => Verdict::Drop { reason },
        };
        if let Verdict::Drop { reason } = v {
            self.stats.drops[reason as usize] += 1;
        }
        v
    }

    #[inline]
    fn vpc_of_vni(&self, vni: u32) -> Option<u16> {
        self.vnis.iter().find(|(n, _)| *n == vni).map(|(_, s)| *s)
    }

    #[inline]
    fn fast_from_underlay(
        &mut self,
        now: Time,
        d: &Decap,
        inner: &[u8],
        headers: &mut Headers,
    ) -> Option<(&Action, CachedFlow)> {
        if d.outer_dst != self.underlay.address {
            return None;
        }
        let vslot = self.vpc_of_vni(d.vni)?;
        let arrival = Arrival::Underlay {
            vni: d.vni,
            outer_src: d.outer_src,
        };
        self.fast_action(now, Origin::Underlay(vslot), arrival, inner, headers)
    }

    fn slow_from_underlay(
        &mut self,
        now: Time,
        d: &Decap,
        inner: &[u8],
        headers: Headers,
        out: &mut Vec<u8>,
    ) -> Result<Verdict, DropReason> {
        if d.outer_dst != self.underlay.address {
            return Err(DropReason::NotForThisHost);
        }
        let vslot = self.vpc_of_vni(d.vni).ok_or(DropReason::UnknownVni)?;
        let v = vpc_at(&self.vpcs, vslot)?;
        let eth = ethernet::Frame::new_checked(inner).map_err(|_| DropReason::Malformed)?;
        match eth.ethertype() {
            ethertype::IPV4 => {}
            ethertype::IPV6 => return self.slow_from_underlay6(now, d, inner, headers, out),
            _ => return Err(DropReason::UnsupportedEthertype),
        }
        let m = headers.ipv4(eth.payload())?;
        if eth.dst().is_multicast() {
            return Err(DropReason::BroadcastOrMulticast);
        }
        let mut trace = Trace::default();
        trace.deps.push(&self.epochs, v.dep);
        let sender = authenticate(
            &self.vpcs,
            vslot,
            m.tuple.src,
            d.outer_src,
            &mut self.epochs,
            &mut trace,
        )?;
        let q = *self.macs.get(&eth.dst()).ok_or(DropReason::NoSuchPort)?;
        let qp = self
            .ports
            .get(usize::from(q))
            .and_then(Option::as_ref)
            .ok_or(DropReason::Internal)?;
        let acl = match sender {
            Sender::TransitGateway => false,
            Sender::Direct => {
                match transit_entry(v, d.outer_src, eth.src(), &m, &mut self.epochs, &mut trace)? {
                    Some(acl) => acl,
                    None => egress_return(
                        &self.vpcs,
                        v,
                        d.outer_src,
                        eth.src(),
                        &m,
                        &mut self.epochs,
                        &mut trace,
                    )?
                    .unwrap_or(true),
                }
            }
            Sender::EgressEdge => egress_return(
                &self.vpcs,
                v,
                d.outer_src,
                eth.src(),
                &m,
                &mut self.epochs,
                &mut trace,
            )?
            .ok_or(DropReason::AuthenticationFailed)?,
        };
        let rw = deliver(
            &self.vpcs,
            qp,
            q,
            vslot,
            eth.src(),
            &m,
            acl,
            now,
            &mut self.conntrack,
            &mut self.epochs,
            &mut self.counters,
            &mut trace,
        )?;
        let action = Action::ToPort {
            port: q,
            rewrite: Some(rw),
        };
        let verdict = emit_action(&action, inner, out);
        self.remember(
            FlowKey::new(Origin::Underlay(vslot), m.tuple.pack()),
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
}

#[cfg(test)]
impl Engine {
    /// Empties the VPC table under the ports that name it (tests of broken invariants).
    pub(crate) fn break_vpcs(&mut self) {
        self.vpcs.iter_mut().for_each(|v| *v = None);
    }
    /// Empties every VPC's subnets, NACLs and route tables.
    pub(crate) fn break_subnets(&mut self) {
        for v in self.vpcs.iter_mut().flatten() {
            v.subnets.clear();
            v.network_acls.clear();
            v.route_tables.clear();
        }
    }
    /// Empties the port table under the MACs that name it.
    pub(crate) fn break_ports(&mut self) {
        self.ports.iter_mut().for_each(|p| *p = None);
    }
}

fn vpc_fingerprint(
    spec: &program::Vpc,
    middleboxes: &[Ipv4Addr],
    middleboxes6: &[Ipv4Addr],
    transit_senders: Option<&BTreeSet<&str>>,
) -> u64 {
    fingerprint(&(
        (spec.vni, &spec.ipv6_cidrs, middleboxes6),
        &spec.cidrs,
        spec.router_mac,
        &spec.dhcp,
        &spec.edges,
        &spec.peerings,
        &spec.transit_gateway_attachments,
        transit_senders,
        middleboxes,
    ))
}

/// For each VPC, the VPCs it is joined with through a transit gateway: those its
/// attachments' tables route to, and those whose tables route to it (a packet may come
/// one way only, and its origin is still checked).
fn transit_links(vpcs: &[program::Vpc]) -> HashMap<&str, BTreeSet<&str>> {
    let mut links: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for spec in vpcs {
        for a in &spec.transit_gateway_attachments {
            let to = a
                .routes
                .iter()
                .map(|r| &r.target)
                .chain(a.routes_v6.iter().map(|r| &r.target))
                .flat_map(routed_vpcs);
            for other in to.chain(&a.senders).filter(|v| **v != spec.id) {
                links.entry(&spec.id).or_default().insert(other);
                links.entry(other).or_default().insert(&spec.id);
            }
        }
    }
    links
}

/// The VPCs a gateway route leads into: its VPC attachment's, or, across a peering, those
/// of the peer gateway's table (by its routes of either family).
fn routed_vpcs(target: &program::TransitGatewayTarget) -> Vec<&String> {
    match target {
        program::TransitGatewayTarget::Vpc { vpc_id, .. } => vec![vpc_id],
        program::TransitGatewayTarget::Peering {
            routes, routes_v6, ..
        } => routes
            .iter()
            .map(|r| &r.target)
            .chain(routes_v6.iter().map(|r| &r.target))
            .filter_map(|t| match t {
                program::TransitGatewayTarget::Vpc { vpc_id, .. } => Some(vpc_id),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A port's configuration and everything its security decisions read: its groups'
/// rules and the members of the groups those rules reference.
/// The groups a group's rules name as peers.
fn peers(g: &program::SecurityGroup) -> impl Iterator<Item = &str> {
    g.ingress
        .iter()
        .chain(&g.egress)
        .filter_map(|r| match &r.peer {
            program::SgPeer::Group(x) => Some(x.as_str()),
            program::SgPeer::Cidr(_) | program::SgPeer::Cidr6(_) => None,
        })
}

/// The groups a port's rules name, of any VPC of the program.
fn named_groups<'a>(
    groups: &HashMap<&'a str, &'a program::SecurityGroup>,
    ports: &[program::Port],
) -> Vec<&'a program::SecurityGroup> {
    let ids: HashSet<&str> = ports
        .iter()
        .flat_map(|p| &p.security_groups)
        .filter_map(|id| groups.get(id.as_str()))
        .flat_map(|g| peers(g))
        .collect();
    ids.into_iter()
        .filter_map(|id| groups.get(id).copied())
        .collect()
}

/// Every group of the program by id (ids are unique across VPCs), and the fingerprints
/// of their member lists, each computed once for all the ports that read it (a list may
/// hold tens of thousands of addresses).
struct MemberPrints<'a> {
    groups: HashMap<&'a str, &'a program::SecurityGroup>,
    prints: HashMap<&'a str, u64>,
}

impl<'a> MemberPrints<'a> {
    fn new(vpcs: &'a [program::Vpc]) -> Self {
        let mut groups = HashMap::new();
        for g in vpcs.iter().flat_map(|v| &v.security_groups) {
            // the first VPC's wins, as in the reference (ids are unique in a real program)
            groups.entry(g.id.as_str()).or_insert(g);
        }
        MemberPrints {
            groups,
            prints: HashMap::new(),
        }
    }

    fn of(&mut self, id: &str) -> Option<u64> {
        if let Some(&p) = self.prints.get(id) {
            return Some(p);
        }
        let g = *self.groups.get(id)?;
        let p = fingerprint(&(&g.members, &g.members_v6));
        self.prints.insert(g.id.as_str(), p);
        Some(p)
    }

    /// The port's own groups.
    fn mine(&self, spec: &program::Port) -> Vec<&'a program::SecurityGroup> {
        spec.security_groups
            .iter()
            .filter_map(|id| self.groups.get(id.as_str()).copied())
            .collect()
    }
}

fn port_fingerprint(spec: &program::Port, prints: &mut MemberPrints<'_>) -> u64 {
    let mine = prints.mine(spec);
    let mut referenced: Vec<(&str, u64)> = Vec::new();
    for g in &mine {
        for r in g.ingress.iter().chain(&g.egress) {
            if let program::SgPeer::Group(id) = &r.peer
                && let Some(p) = prints.of(id)
            {
                referenced.push((id, p));
            }
        }
    }
    referenced.sort();
    referenced.dedup();
    let rules: Vec<(&Vec<program::SgRule>, &Vec<program::SgRule>)> =
        mine.iter().map(|g| (&g.ingress, &g.egress)).collect();
    fingerprint(&(spec, rules, referenced))
}

/// The VPC in `slot`: every slot a port, a VNI or a peering names holds one, so
/// `Internal` means a broken invariant.
#[inline]
fn vpc_at(vpcs: &[Option<Vpc>], slot: u16) -> Result<&Vpc, DropReason> {
    vpcs.get(usize::from(slot))
        .and_then(Option::as_ref)
        .ok_or(DropReason::Internal)
}

/// The subnet's NACL (`None` if the program names none).
#[inline]
fn network_acl<'a>(v: &'a Vpc, subnet: &Subnet) -> Result<Option<&'a NetworkAcl>, DropReason> {
    match subnet.network_acl {
        Some(a) => v
            .network_acls
            .get(usize::from(a))
            .map(Some)
            .ok_or(DropReason::Internal),
        None => Ok(None),
    }
}

/// The counter of a cached flow's packets at one of the ports that log it.
fn cached_key(k: &FlowKey, l: &Logged) -> CounterKey {
    CounterKey {
        port: l.port,
        tuple: k.tuple(),
        action: counters::Action::Accept,
        direction: l.direction,
    }
}

/// Hands the tally of a cached flow whose entry leaves the table (or was never cached)
/// to the slow path's counters, for each port that logs it.
fn settle(counters: &mut Counters, ports: &[Option<Port>], k: &FlowKey, e: &flow_table::Entry) {
    if e.tally.packets == 0 {
        return;
    }
    for l in e.logged.iter().flatten() {
        if let Some(port) = ports.get(usize::from(l.port)).and_then(Option::as_ref) {
            counters.add(cached_key(k, l), &port.id, &e.tally);
        }
    }
}

fn key(port: u16, m: &Meta, action: counters::Action, direction: Direction) -> CounterKey {
    CounterKey {
        port,
        tuple: m.tuple,
        action,
        direction,
    }
}

/// The link-local services the agent answers (the resolver is [`dns`]).
fn service_of(m: &Meta) -> Option<Service> {
    let dst = m.tuple.dst;
    if dst == METADATA {
        Some(Service::InstanceMetadata)
    } else if dst == TIME_SYNC {
        Some(Service::TimeSync)
    } else {
        None
    }
}

/// The gateway answers ping from its own subnet.
fn echo_reply(frame: &[u8], router_mac: MacAddr, out: &mut Vec<u8>) -> Result<(), DropReason> {
    out.clear();
    out.extend_from_slice(frame);
    let mut eth = ethernet::Frame::new_unchecked(&mut out[..]);
    let client = eth.src();
    eth.set_dst(client);
    eth.set_src(router_mac);
    let mut ip = ipv4::Packet::new_checked(eth.payload_mut()).map_err(|_| DropReason::Malformed)?;
    let (s, d) = (ip.src(), ip.dst());
    ip.set_src(d);
    ip.set_dst(s);
    ip.set_ttl(64);
    ip.fill_checksum();
    // type, code, checksum: the ICMP header was checked by the parser
    let Some([kind, code, c0, c1]) = ip.payload_mut().first_chunk_mut::<4>() else {
        return Err(DropReason::Malformed);
    };
    let old = u16::from_be_bytes([*kind, *code]);
    *kind = icmp::kind::ECHO_REPLY;
    let c = checksum::update(
        u16::from_be_bytes([*c0, *c1]),
        old,
        u16::from_be_bytes([*kind, *code]),
    );
    [*c0, *c1] = c.to_be_bytes();
    Ok(())
}

/// Security groups of `port` for a packet crossing it in `dir`: an existing tracked flow
/// passes (and is refreshed); otherwise the rules decide, and a tracked flow is recorded.
#[allow(clippy::too_many_arguments)]
fn sg_stage(
    ct: &mut Conntrack,
    epochs: &mut Epochs,
    port: &Port,
    p: u16,
    dir: Direction,
    m: &Meta,
    now: Time,
    trace: &mut Trace,
) -> Result<(), DropReason> {
    let k = conntrack::Key::of(p, dir, m);
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
        .security
        .decide(egress, m.tuple.protocol, peer, m.rule_port())
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
                .insert(k, now, dir, m, port.timeouts)
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

/// The target of a route from subnet `from`, as a host to send to.
#[allow(clippy::too_many_arguments)]
fn resolve(
    vpcs: &[Option<Vpc>],
    vslot: u16,
    from: &Subnet,
    target: &Target,
    m: &Meta,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<Dest, DropReason> {
    let v = vpc_at(vpcs, vslot)?;
    let dst = m.tuple.dst;
    fn host_of(vs: u16, m: &Mapping) -> Dest {
        Dest::Host {
            vpc: vs,
            host: m.host,
            mac: m.mac,
            acl: true,
        }
    }
    match target {
        Target::Local => {
            let m = mapping_dep(v, dst, epochs, trace);
            m.map(|m| host_of(vslot, m)).ok_or(DropReason::NoMapping)
        }
        Target::NetworkInterface(eni) => {
            let (dep, m) = v.v2p.target(eni).ok_or(DropReason::NoMapping)?;
            trace.deps.push(epochs, dep);
            m.map(|m| host_of(vslot, m)).ok_or(DropReason::NoMapping)
        }
        Target::Edge(gw) => v
            .edges
            .get(gw)
            .map(|&host| Dest::Edge {
                host,
                mac: overlay::gateway_mac(gw),
            })
            .ok_or(DropReason::NoEdge),
        Target::VpcPeering(pcx) => {
            let ps = *v.peerings.get(pcx).ok_or(DropReason::NoRoute)?;
            let peer = vpc_at(vpcs, ps)?;
            trace.deps.push(epochs, peer.dep);
            if !peer.contains(dst) {
                return Err(DropReason::NoRoute);
            }
            mapping_dep(peer, dst, epochs, trace)
                .map(|m| host_of(ps, m))
                .ok_or(DropReason::NoMapping)
        }
        Target::TransitGateway(tgw) => transit_walk(vpcs, v, from, tgw, m, epochs, trace),
        Target::Blackhole => Err(DropReason::Blackhole),
    }
}

/// A packet from subnet `from` of VPC `v` through transit gateway `tgw` (see
/// [`transit`]): in by the attachment subnet of the sender's zone, the gateway table of
/// that attachment, out by the destination VPC's attachment subnet, into the
/// destination's subnet.
fn transit_walk(
    vpcs: &[Option<Vpc>],
    v: &Vpc,
    from: &Subnet,
    tgw: &str,
    m: &Meta,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<Dest, DropReason> {
    let a = v.transit(tgw).ok_or(DropReason::NoRoute)?;
    let entry = a
        .entry(&from.zone)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    if !acl_allows(v, subnet_at(v, entry)?, false, m, epochs, trace)? {
        return Err(DropReason::NaclIngress);
    }
    // (across a peering, the peer gateway's table has decided)
    let (ds, di) = match a.route(m.tuple.dst) {
        Some(Hop::Vpc { slot, attachment }) => (slot, attachment),
        // a VPN attachment: its tunnels end at the edge
        Some(Hop::Other(i)) => {
            let id = a.others.get(usize::from(i)).ok_or(DropReason::Internal)?;
            return v
                .edges
                .get(id)
                .map(|&host| Dest::Edge {
                    host,
                    mac: overlay::gateway_mac(id),
                })
                .ok_or(DropReason::NoRoute);
        }
        Some(Hop::Blackhole) => return Err(DropReason::Blackhole),
        Some(Hop::Unreachable | Hop::Peering(_)) | None => return Err(DropReason::NoRoute),
    };
    let dv = vpc_at(vpcs, ds)?;
    trace.deps.push(epochs, dv.dep);
    let da = dv
        .transits
        .get(usize::from(di))
        .ok_or(DropReason::Internal)?;
    if !dv.contains(m.tuple.dst) {
        return transit_egress(dv, ds, da, &from.zone, m, epochs, trace);
    }
    let into = dv.subnet_of(m.tuple.dst).ok_or(DropReason::NoRoute)?;
    let exit = da
        .exit(&from.zone, &m.tuple)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    let into_subnet = subnet_at(dv, into)?;
    trace.deps.push(epochs, into_subnet.dep);
    if exit != into {
        if !acl_allows(dv, subnet_at(dv, exit)?, true, m, epochs, trace)? {
            return Err(DropReason::NaclEgress);
        }
        if !acl_allows(dv, into_subnet, false, m, epochs, trace)? {
            return Err(DropReason::NaclIngress);
        }
    }
    let mapping = mapping_dep(dv, m.tuple.dst, epochs, trace).ok_or(DropReason::NoMapping)?;
    Ok(Dest::Host {
        vpc: ds,
        host: mapping.host,
        mac: mapping.mac,
        acl: false,
    })
}

/// A packet the edge carries in from a transit gateway's VPN attachment names, as its
/// inner source MAC, the VPC's attachment it enters by: that attachment's subnet (the
/// destination's zone's) lets it out under its ACL's outbound rules, and the destination
/// subnet's inbound rules apply unless it is that same subnet, as for a packet from
/// another VPC through the gateway. `None`: no such packet. `Some(acl)`: whether the
/// destination subnet's ACL is still to be evaluated.
fn transit_entry(
    v: &Vpc,
    outer: Ipv4Addr,
    src_mac: MacAddr,
    m: &Meta,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<Option<bool>, DropReason> {
    let Some(a) = v.transits.iter().find(|a| a.mac == src_mac) else {
        return Ok(None);
    };
    if !v.edge_hosts.contains(&outer) {
        return Ok(None);
    }
    let into = v.subnet_of(m.tuple.dst).ok_or(DropReason::NoRoute)?;
    let into_subnet = subnet_at(v, into)?;
    trace.deps.push(epochs, into_subnet.dep);
    let exit = a
        .exit(&into_subnet.zone, &m.tuple)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    if exit == into {
        return Ok(Some(false));
    }
    if !acl_allows(v, subnet_at(v, exit)?, true, m, epochs, trace)? {
        return Err(DropReason::NaclEgress);
    }
    Ok(Some(true))
}

/// Centralised egress, the way out: a packet that entered VPC `dv` (slot `ds`) through
/// its attachment `da` from zone `zone`, for a destination outside `dv`. It leaves the
/// gateway by the attachment subnet (as into the VPC), whose route table decides: a NAT
/// gateway (or another gateway at the edge) takes it. Between the attachment subnet and
/// the NAT gateway's subnet, when they differ, the attachment subnet's ACL lets it out
/// and the NAT subnet's lets it in, as AWS evaluates them. A route to an appliance's ENI
/// hands it to [`transit_appliance`]; routes back into a transit gateway or to a peering
/// are not carried.
fn transit_egress(
    dv: &Vpc,
    ds: u16,
    da: &transit::Attachment,
    zone: &str,
    m: &Meta,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<Dest, DropReason> {
    let exit = da
        .exit(zone, &m.tuple)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    let exit_subnet = subnet_at(dv, exit)?;
    trace.deps.push(epochs, exit_subnet.dep);
    let gateway = match subnet_route(dv, exit_subnet, m.tuple.dst, epochs, trace)? {
        Target::Edge(gateway) => gateway,
        Target::NetworkInterface(eni) => {
            return transit_appliance(dv, ds, exit, eni, m, epochs, trace);
        }
        Target::Blackhole => return Err(DropReason::Blackhole),
        _ => return Err(DropReason::NoRoute),
    };
    let host = *dv.edges.get(gateway).ok_or(DropReason::NoEdge)?;
    let nat_subnet = dv.egress_nat(gateway).and_then(|n| n.subnet);
    if nat_subnet != Some(exit) {
        if !acl_allows(dv, exit_subnet, true, m, epochs, trace)? {
            return Err(DropReason::NaclEgress);
        }
        if let Some(s) = nat_subnet
            && !acl_allows(dv, subnet_at(dv, s)?, false, m, epochs, trace)?
        {
            return Err(DropReason::NaclIngress);
        }
    }
    Ok(Dest::TransitEdge {
        vpc: ds,
        host,
        mac: overlay::gateway_mac(gateway),
    })
}

/// Centralised inspection: the attachment subnet `exit` of VPC `dv` (slot `ds`) routes a
/// packet that came through the gateway to an appliance's ENI (an instance with its
/// source/dest check off). The attachment subnet's ACL lets it out and the appliance
/// subnet's lets it in, unless they are one subnet; the appliance's host delivers it
/// (its security groups judge it there) and the appliance's own subnet's route table
/// sends what it forwards back into the gateway, whose table associated with `dv`'s
/// attachment decides where it goes: the rest of the walk is its host's.
fn transit_appliance(
    dv: &Vpc,
    ds: u16,
    exit: u16,
    eni: &str,
    m: &Meta,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<Dest, DropReason> {
    let (dep, at) = dv.v2p.target_at(eni).ok_or(DropReason::NoMapping)?;
    trace.deps.push(epochs, dep);
    let (ip, mapping) = at.ok_or(DropReason::NoMapping)?;
    let into = dv.subnet_of(ip).ok_or(DropReason::NoRoute)?;
    if into != exit {
        if !acl_allows(dv, subnet_at(dv, exit)?, true, m, epochs, trace)? {
            return Err(DropReason::NaclEgress);
        }
        if !acl_allows(dv, subnet_at(dv, into)?, false, m, epochs, trace)? {
            return Err(DropReason::NaclIngress);
        }
    }
    Ok(Dest::Host {
        vpc: ds,
        host: mapping.host,
        mac: mapping.mac,
        acl: false,
    })
}

/// Centralised egress, the way back: a NAT gateway's reply the edge carries into VPC
/// `v` names, as its inner source MAC, the NAT gateway of a VPC joined with `v` through
/// a transit gateway (the edge chose `v` by that VPC's attachment table). This host walks
/// the rest again: the NAT subnet's route table must send the destination to a transit
/// gateway both VPCs are attached to; the packet enters the gateway by the egress VPC's
/// attachment subnet of the NAT's zone (the NAT subnet's ACL outbound, the attachment
/// subnet's inbound, when they differ) and leaves it by `v`'s attachment subnet (its ACL
/// outbound, unless it is the destination's subnet). `None`: no such packet.
/// `Some(acl)`: whether the destination subnet's ACL is still to be evaluated.
fn egress_return(
    vpcs: &[Option<Vpc>],
    v: &Vpc,
    outer: Ipv4Addr,
    src_mac: MacAddr,
    m: &Meta,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<Option<bool>, DropReason> {
    let mut found = None;
    for &ts in &v.transit_vpcs {
        let ev = vpc_at(vpcs, ts)?;
        if let Some(nat) = ev.egress_nats.iter().find(|n| n.mac == src_mac) {
            found = Some((ev, nat));
            break;
        }
    }
    let Some((ev, nat)) = found else {
        return Ok(None);
    };
    trace.deps.push(epochs, ev.dep);
    if !ev.edge_hosts.contains(&outer) {
        return Err(DropReason::AuthenticationFailed);
    }
    let ns = nat.subnet.ok_or(DropReason::NoRoute)?;
    let nat_subnet = subnet_at(ev, ns)?;
    trace.deps.push(epochs, nat_subnet.dep);
    let tgw = match subnet_route(ev, nat_subnet, m.tuple.dst, epochs, trace)? {
        Target::TransitGateway(tgw) => tgw,
        Target::Blackhole => return Err(DropReason::Blackhole),
        _ => return Err(DropReason::NoRoute),
    };
    let ea = ev.transit(tgw).ok_or(DropReason::NoRoute)?;
    let entry = ea
        .entry(&nat_subnet.zone)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    if entry != ns {
        if !acl_allows(ev, nat_subnet, true, m, epochs, trace)? {
            return Err(DropReason::NaclEgress);
        }
        if !acl_allows(ev, subnet_at(ev, entry)?, false, m, epochs, trace)? {
            return Err(DropReason::NaclIngress);
        }
    }
    let sa = v.transit(tgw).ok_or(DropReason::NoRoute)?;
    let into = v.subnet_of(m.tuple.dst).ok_or(DropReason::NoRoute)?;
    let into_subnet = subnet_at(v, into)?;
    trace.deps.push(epochs, into_subnet.dep);
    let exit = sa
        .exit(&nat_subnet.zone, &m.tuple)
        .ok_or(DropReason::NoTransitGatewaySubnet)?;
    if exit == into {
        return Ok(Some(false));
    }
    if !acl_allows(v, subnet_at(v, exit)?, true, m, epochs, trace)? {
        return Err(DropReason::NaclEgress);
    }
    Ok(Some(true))
}

/// The target subnet `s` of `v`'s route table gives `dst` (its table recorded).
fn subnet_route<'a>(
    v: &'a Vpc,
    s: &Subnet,
    dst: Ipv4Addr,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<&'a Target, DropReason> {
    let rt = s.route_table.ok_or(DropReason::NoRoute)?;
    let rt = v
        .route_tables
        .get(usize::from(rt))
        .ok_or(DropReason::Internal)?;
    trace.deps.push(epochs, rt.dep);
    rt.lookup(dst)
        .map_err(|_| DropReason::Internal)?
        .ok_or(DropReason::NoRoute)
}

/// The NAT gateways of a VPC's program that name their subnet.
fn egress_nats(spec: &program::Vpc) -> Vec<vpc::EgressNat> {
    spec.edges
        .iter()
        .filter(|e| e.gateway_id.starts_with("nat-"))
        .map(|e| vpc::EgressNat {
            id: e.gateway_id.clone(),
            mac: overlay::gateway_mac(&e.gateway_id),
            subnet: e.subnet_id.as_ref().and_then(|id| {
                spec.subnets
                    .iter()
                    .position(|s| &s.id == id)
                    .and_then(|i| u16::try_from(i).ok())
            }),
        })
        .collect()
}

/// Subnet `i` of `v`.
fn subnet_at(v: &Vpc, i: u16) -> Result<&Subnet, DropReason> {
    v.subnets.get(usize::from(i)).ok_or(DropReason::Internal)
}

/// Whether the ACL of subnet `s` lets the packet out (`egress`, matched on its
/// destination) or in (on its source); a subnet without one lets nothing through.
fn acl_allows(
    v: &Vpc,
    s: &Subnet,
    egress: bool,
    m: &Meta,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<bool, DropReason> {
    trace.deps.push(epochs, s.dep);
    let acl = network_acl(v, s)?;
    if let Some(a) = acl {
        trace.deps.push(epochs, a.dep);
    }
    let peer = if egress { m.tuple.dst } else { m.tuple.src };
    Ok(acl.is_some_and(|a| a.allows(egress, m.tuple.protocol, peer, m.rule_port())))
}

/// The V2P entry of `ip`, recording the dependency (on its presence or absence).
#[inline]
fn mapping_dep<'a>(
    v: &'a Vpc,
    ip: Ipv4Addr,
    epochs: &Epochs,
    trace: &mut Trace,
) -> Option<&'a Mapping> {
    let (s, m) = v.v2p.dep_of(ip);
    trace.deps.push(epochs, s);
    m
}

/// Who sent a packet that came over the underlay, once authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    /// A host of the VPC, of a peered VPC, or the edge.
    Direct,
    /// A host of a VPC joined through a transit gateway, whose walk evaluated the
    /// destination subnet's ACL already.
    TransitGateway,
    /// The edge host of a VPC joined through a transit gateway (not of this VPC's own
    /// gateways): only a NAT gateway's reply it carries in (centralised egress) passes.
    EgressEdge,
}

/// Origin authentication: the sender host must be where V2P says the inner source
/// lives; middlebox hosts may forward for others; edge hosts may carry outside sources;
/// a peered VPC's addresses, or a VPC's joined through a transit gateway, must come from
/// their own hosts.
fn authenticate(
    vpcs: &[Option<Vpc>],
    vslot: u16,
    src: Ipv4Addr,
    outer: Ipv4Addr,
    epochs: &mut Epochs,
    trace: &mut Trace,
) -> Result<Sender, DropReason> {
    let v = vpc_at(vpcs, vslot)?;
    let mapped = mapping_dep(v, src, epochs, trace);
    if v.v2p.middlebox_hosts().contains(&outer) {
        return Ok(Sender::Direct);
    }
    if let Some(m) = mapped {
        return if m.host == outer {
            Ok(Sender::Direct)
        } else {
            Err(DropReason::AuthenticationFailed)
        };
    }
    if v.contains(src) {
        return Err(DropReason::AuthenticationFailed);
    }
    for &ps in &v.peer_vpcs {
        let peer = vpc_at(vpcs, ps)?;
        trace.deps.push(epochs, peer.dep);
        if peer.contains(src) {
            return match mapping_dep(peer, src, epochs, trace) {
                Some(m) if m.host == outer => Ok(Sender::Direct),
                _ => Err(DropReason::AuthenticationFailed),
            };
        }
    }
    // joined VPCs may overlap one another: any of them holding the source there will do
    let mut joined = false;
    for &ts in &v.transit_vpcs {
        let other = vpc_at(vpcs, ts)?;
        trace.deps.push(epochs, other.dep);
        if other.contains(src) {
            joined = true;
            if mapping_dep(other, src, epochs, trace).is_some_and(|m| m.host == outer) {
                return Ok(Sender::TransitGateway);
            }
        }
    }
    // an appliance of a joined VPC (centralised inspection) forwards for any source: its
    // host walked the gateway from the appliance's subnet
    for &ts in &v.transit_vpcs {
        let other = vpc_at(vpcs, ts)?;
        if other.v2p.middlebox_hosts().contains(&outer) {
            trace.deps.push(epochs, other.dep);
            return Ok(Sender::TransitGateway);
        }
    }
    if joined {
        return Err(DropReason::AuthenticationFailed);
    }
    if v.edge_hosts.contains(&outer) {
        return Ok(Sender::Direct);
    }
    for &ts in &v.transit_vpcs {
        let other = vpc_at(vpcs, ts)?;
        trace.deps.push(epochs, other.dep);
        if other.edge_hosts.contains(&outer) {
            return Ok(Sender::EgressEdge);
        }
    }
    Err(DropReason::AuthenticationFailed)
}

/// The receiving side for local port `q`: destination check, NACL ingress when the
/// packet crosses into the subnet, security group ingress. Returns the MAC rewrite.
#[allow(clippy::too_many_arguments)]
fn deliver(
    vpcs: &[Option<Vpc>],
    qp: &Port,
    q: u16,
    vslot: u16,
    src_mac: MacAddr,
    m: &Meta,
    acl: bool,
    now: Time,
    ct: &mut Conntrack,
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
    if qp.source_dest_check && !qp.owns(m.tuple.dst) {
        return Err(DropReason::DestinationCheck);
    }
    let crossing = !subnet.contains(m.tuple.src);
    if crossing && acl && !acl_allows(v, subnet, false, m, epochs, trace)? {
        if qp.flow_logs {
            counters.count(
                key(q, m, counters::Action::Reject, Direction::Inbound),
                &qp.id,
                m.ip_len,
                m.tcp_flags,
                now,
            );
        }
        return Err(DropReason::NaclIngress);
    }
    if let Err(reason) = sg_stage(ct, epochs, qp, q, Direction::Inbound, m, now, trace) {
        if reason == DropReason::SecurityGroupIngress && qp.flow_logs {
            counters.count(
                key(q, m, counters::Action::Reject, Direction::Inbound),
                &qp.id,
                m.ip_len,
                m.tcp_flags,
                now,
            );
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

#[inline]
fn fast_valid<K: TrackKey>(
    e: &flow_table::Entry,
    epochs: &Epochs,
    ct: &Conntrack<K>,
    now: Time,
) -> bool {
    if !e.deps.valid(epochs) {
        return false;
    }
    for r in e.ct.iter().flatten() {
        let Some(c) = ct.get(r.slot) else {
            return false;
        };
        if c.generation != r.generation || !c.live || c.expired(now) {
            return false;
        }
    }
    true
}

/// The cached decision `e` holds and every connection it tracks (in `ct`, its address
/// family's tracking) is established.
fn established_in<K: TrackKey>(
    e: &flow_table::Entry,
    epochs: &Epochs,
    ct: &Conntrack<K>,
    now: Time,
) -> bool {
    fast_valid(e, epochs, ct, now)
        && e.ct.iter().flatten().all(|r| {
            ct.get(r.slot)
                .is_some_and(|c| c.state == conntrack::State::TcpEstablished)
        })
}

/// Counts what a kernel fast path carried for the cached decision `e` (which keeps it
/// in the table, as any counted packet does); while the decision `holds`, its tracking
/// entries (in `ct`) stay alive too.
fn carried<K: TrackKey>(
    e: &mut flow_table::Entry,
    ct: &mut Conntrack<K>,
    holds: bool,
    packets: u64,
    bytes: u64,
    now: Time,
) {
    e.tally.add(packets, bytes, 0, now);
    if holds {
        for r in e.ct.iter().flatten() {
            if let Some(c) = ct.get_mut(r.slot) {
                c.touch(now, r.dir, tcp::flags::ACK);
            }
        }
    }
}

#[inline]
fn fast_commit<K: TrackKey, A>(
    e: &mut flow_table::Entry,
    ct: &mut Conntrack<K>,
    now: Time,
    m: &packet::Meta<A>,
) {
    for r in e.ct.iter().flatten() {
        if let Some(c) = ct.get_mut(r.slot) {
            c.touch(now, r.dir, m.tcp_flags);
        }
    }
    e.tally.add(1, u64::from(m.ip_len), m.tcp_flags, now);
}

/// Whether `frame` is IPv6 by its EtherType: which family's fast path may serve it.
#[inline]
fn is_ipv6(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&ethertype::IPV6.to_be_bytes()[..])
}

/// New MACs for the frame at the start of `buf` (which holds at least an Ethernet
/// header: the parser saw one).
#[inline]
fn rewrite_macs(buf: &mut [u8], rw: Option<(MacAddr, MacAddr)>) {
    if let Some((src, dst)) = rw
        && let Some(macs) = buf.first_chunk_mut::<12>()
    {
        macs[..6].copy_from_slice(&dst.0);
        macs[6..].copy_from_slice(&src.0);
    }
}

#[inline]
fn emit_action(action: &Action, frame: &[u8], out: &mut Vec<u8>) -> Verdict {
    match action {
        Action::ToPort { port, rewrite } => {
            out.clear();
            out.extend_from_slice(frame);
            rewrite_macs(out, *rewrite);
            Verdict::ToPort {
                port: PortId(*port),
            }
        }
        Action::Encap {
            outer,
            rewrite,
            edge,
        } => {
            if overlay::encapsulate(out, outer, frame).is_err() {
                return Verdict::Drop {
                    reason: DropReason::TooLarge,
                };
            }
            if let Some(inner) = out.get_mut(overlay::OUTER_LEN..) {
                rewrite_macs(inner, *rewrite);
            }
            to_host(outer, *edge)
        }
    }
}

/// The verdict of an encapsulated frame: to the edge or to another instance host.
fn to_host(outer: &[u8; overlay::OUTER_LEN], edge: bool) -> Verdict {
    let (host, vni) = overlay::template_dst(outer);
    if edge {
        Verdict::ToEdge { host, vni }
    } else {
        Verdict::ToUnderlay { host, vni }
    }
}

/// [`emit_action`] without copying: the frame at `buf[frame]` is rewritten where it is,
/// outer headers (for `Encap`) go in the `OUTER_LEN` bytes before it. Returns the
/// verdict and where the output is in `buf`; `None` if `buf` has not the room (the
/// callers check it: a broken invariant).
#[inline]
fn emit_in_place(
    action: &Action,
    buf: &mut [u8],
    frame: Range<usize>,
) -> Option<(Verdict, Range<usize>)> {
    match action {
        Action::ToPort { port, rewrite } => {
            rewrite_macs(buf.get_mut(frame.clone())?, *rewrite);
            Some((
                Verdict::ToPort {
                    port: PortId(*port),
                },
                frame,
            ))
        }
        Action::Encap {
            outer,
            rewrite,
            edge,
        } => {
            let start = frame.start.checked_sub(overlay::OUTER_LEN)?;
            let whole = buf.get_mut(start..frame.end)?;
            if overlay::encapsulate_in_place(whole, outer).is_err() {
                let v = Verdict::Drop {
                    reason: DropReason::TooLarge,
                };
                return Some((v, frame));
            }
            rewrite_macs(whole.get_mut(overlay::OUTER_LEN..)?, *rewrite);
            let v = to_host(outer, *edge);
            Some((v, start..frame.end))
        }
    }
}
