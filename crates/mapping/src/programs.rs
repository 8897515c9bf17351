//! The mapping service's state: the items every host should hold, the updates each host
//! has been sent, and which changes every affected host has applied. Pure: the gRPC
//! layer feeds it changes and agent reports, and carries its updates.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use fort_control::World;
use fort_proto::mapping::item_value::Kind as V;
use fort_proto::mapping::{ItemKey, V2p};
use fort_proto::wire::EncodedUpdate;

use crate::derive::{Contribution, Items, Memo, RowKey, Value, all_rows, contribution, dependents};

/// How many updates, and items in them, each host keeps for agents that reconnect:
/// beyond that, a snapshot (which costs no more than replaying that much).
pub const LOG_LEN: usize = 256;
pub const LOG_ITEMS: usize = 4096;

/// One update for one host: items put and keys deleted, on top of `base`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub epoch: u64,
    pub base: u64,
    pub generation: u64,
    pub snapshot: bool,
    /// Items of this host alone (its ports and instances; a snapshot's every item).
    pub put: Vec<(ItemKey, Value)>,
    pub delete: Vec<ItemKey>,
    /// The differences of the VPCs it serves, which other hosts receive alike: built and
    /// encoded once, shared by every host that receives the same.
    pub shared: Option<Arc<Piece>>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && !self.snapshot
    }

    /// Items put and keys deleted, shared ones included.
    pub fn len(&self) -> usize {
        self.put.len() + self.delete.len() + self.shared.as_ref().map_or(0, |s| s.len())
    }

    /// Every item put.
    pub fn puts(&self) -> impl Iterator<Item = &(ItemKey, Value)> {
        self.put
            .iter()
            .chain(self.shared.iter().flat_map(|s| s.put.iter()))
    }

    /// Every key deleted.
    pub fn deletes(&self) -> impl Iterator<Item = &ItemKey> {
        self.delete
            .iter()
            .chain(self.shared.iter().flat_map(|s| s.delete.iter()))
    }
}

/// Items put and keys deleted that several hosts receive alike, with their encoding
/// (`ProgramUpdate`'s `put` and `delete` fields).
#[derive(Debug, PartialEq)]
pub struct Piece {
    pub put: Vec<(ItemKey, Value)>,
    pub delete: Vec<ItemKey>,
    wire: Bytes,
}

impl Piece {
    fn new(put: Vec<(ItemKey, Value)>, delete: Vec<ItemKey>) -> Piece {
        let wire = EncodedUpdate::fields(
            put.iter()
                .map(|(k, v)| (k.clone(), v.wire().clone()))
                .collect(),
            delete.clone(),
        );
        Piece { put, delete, wire }
    }

    /// Several pieces as one (their keys are apart: each is another VPC's).
    fn join(parts: &[&Piece]) -> Piece {
        let mut wire = Vec::with_capacity(parts.iter().map(|p| p.wire.len()).sum());
        for p in parts {
            wire.extend_from_slice(&p.wire);
        }
        Piece {
            put: parts.iter().flat_map(|p| p.put.iter().cloned()).collect(),
            delete: parts
                .iter()
                .flat_map(|p| p.delete.iter().cloned())
                .collect(),
            wire: Bytes::from(wire),
        }
    }

    pub fn len(&self) -> usize {
        self.put.len() + self.delete.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `put` and `delete` fields, encoded.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }
}

/// What the service knows of one host's agent.
#[derive(Debug, Default)]
pub struct HostState {
    pub generation: u64,
    pub applied: u64,
    /// Recent updates, oldest first, for resuming.
    pub log: VecDeque<Update>,
    /// Items (puts and deletes) in `log`.
    pub log_items: usize,
    pub connected: bool,
    /// What its last heartbeat said of its data path (a new host is presumed healthy).
    pub healthy: bool,
    /// Silent longer than the timeout (connected or not): reported unavailable once.
    pub unavailable: bool,
    pub last_seen: Option<Instant>,
}

/// A change waiting for its hosts: (change number, when it arrived, host → generation).
#[derive(Debug)]
struct Pending {
    seq: u64,
    at: Instant,
    hosts: Vec<(String, u64)>,
    /// The hosts before this one are done with it.
    next: usize,
}

#[derive(Debug)]
pub struct Programs {
    pub epoch: u64,
    /// On a store several servers share: generations are store revisions (the same for
    /// a host on every server), so a host that moves to another server resumes there
    /// without a snapshot; the value is the revision the items were first derived at.
    pub revisioned: Option<u64>,
    contrib: HashMap<RowKey, Contribution>,
    vpc_items: HashMap<String, Items>,
    /// host → its port items.
    ports: HashMap<String, Items>,
    /// port key → (host, VPC).
    port_home: HashMap<ItemKey, (String, String)>,
    /// VPC → host → ports it has there (for edge hosts: 1 while the VPC has gateways).
    serving: HashMap<String, BTreeMap<String, usize>>,
    /// VPC → its gateway items (internet and NAT gateways): the edge serves it while > 0.
    gateways: HashMap<String, usize>,
    /// VPC → host → ports it has there: the hosts that also serve the VPC's peers.
    direct: HashMap<String, BTreeMap<String, usize>>,
    /// VPC → the VPCs it is joined with: by an active peering, or through a transit
    /// gateway whose tables route one to the other. Not transitive: a host serves the
    /// VPCs joined with the VPCs of its ports, not theirs.
    joined: HashMap<String, BTreeSet<String>>,
    /// Transit gateway attachment row → the pairs its item joins (see
    /// [`crate::derive::transit_links`]).
    transit: HashMap<RowKey, Vec<(String, String)>>,
    /// The pairs active peerings join, both ways.
    peered: BTreeSet<(String, String)>,
    /// How many peerings and attachments join each pair: `joined` holds those above 0.
    links: HashMap<(String, String), u32>,
    /// VNI → VPC, kept from the VPC header items, for lookups.
    vnis: HashMap<u32, String>,
    /// Item key → the rows that give it (usually one; two while an address moves).
    owners: HashMap<ItemKey, Vec<RowKey>>,
    /// Hosts with the edge role, and their underlay addresses.
    edge_hosts: BTreeMap<String, std::net::Ipv4Addr>,
    /// Items every host holds: where the services Fort serves are reached. Set before
    /// any host connects and fixed for the epoch.
    services: Items,
    hosts: HashMap<String, HostState>,
    pending: VecDeque<Pending>,
    /// The highest change number every affected host has applied.
    pub applied_through: u64,
    /// The highest change number seen.
    last_seq: u64,
    /// Latency from a change's arrival to its last host's report, per completed change.
    pub latencies: Vec<Duration>,
}

impl Programs {
    /// Derives every item of the world.
    pub fn new(world: &World, epoch: u64) -> Self {
        let mut p = Programs {
            epoch,
            revisioned: None,
            contrib: HashMap::new(),
            vpc_items: HashMap::new(),
            ports: HashMap::new(),
            port_home: HashMap::new(),
            serving: HashMap::new(),
            gateways: HashMap::new(),
            direct: HashMap::new(),
            joined: HashMap::new(),
            transit: HashMap::new(),
            peered: BTreeSet::new(),
            links: HashMap::new(),
            owners: HashMap::new(),
            vnis: HashMap::new(),
            edge_hosts: edge_hosts(world),
            services: Items::new(),
            hosts: HashMap::new(),
            pending: VecDeque::new(),
            applied_through: 0,
            last_seq: 0,
            latencies: Vec::new(),
        };
        let rows = all_rows(world);
        let mut sink = Deltas::default();
        let mut memo = Memo::default();
        for row in rows {
            p.rederive(world, row, &mut memo, &mut sink);
        }
        p.peerings_changed(world, &mut sink);
        p
    }

    /// Tells every host where the API (EC2, S3, Logs, STS on one HTTP endpoint) is
    /// reached, for VPC endpoints to forward to. Call before hosts connect: a host that
    /// holds a snapshot already learns it only with its next one.
    pub fn set_api_address(&mut self, addr: std::net::SocketAddrV4) {
        let item = fort_proto::mapping::ServiceAddress {
            ip: (*addr.ip()).into(),
            port: addr.port().into(),
        };
        self.services.insert(
            ItemKey::service(crate::derive::API_SERVICE),
            std::sync::Arc::new(fort_proto::wire::EncodedValue::new(
                fort_proto::mapping::ItemValue {
                    kind: Some(V::Service(item)),
                },
            )),
        );
    }

    /// The items a host should hold now.
    pub fn items_of(&self, host: &str) -> Items {
        let mut out = self.ports.get(host).cloned().unwrap_or_default();
        out.extend(self.services.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (vpc, hosts) in &self.serving {
            if hosts.contains_key(host)
                && let Some(items) = self.vpc_items.get(vpc)
            {
                out.extend(items.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out
    }

    pub fn host(&self, host: &str) -> Option<&HostState> {
        self.hosts.get(host)
    }

    pub fn hosts(&self) -> impl Iterator<Item = (&String, &HostState)> {
        self.hosts.iter()
    }

    /// Number of V2P mappings held, over all VPCs.
    pub fn mapping_count(&self) -> usize {
        self.vpc_items
            .values()
            .map(|items| items.keys().filter(|k| k.is_mapping()).count())
            .sum()
    }

    /// The mapping item of (VPC, IP), if any.
    pub fn lookup(&self, vpc: &str, ip: std::net::Ipv4Addr) -> Option<&V2p> {
        match &self
            .vpc_items
            .get(vpc)?
            .get(&ItemKey::mapping(vpc, ip))?
            .kind
        {
            Some(V::Mapping(m)) => Some(m),
            _ => None,
        }
    }

    /// The VPC with this VNI.
    pub fn vpc_of_vni(&self, vni: u32) -> Option<String> {
        self.vnis.get(&vni).cloned()
    }

    /// An agent connects, holding `generation` of `epoch`: the updates that bring it to
    /// the present (a snapshot unless its log still reaches back that far).
    pub fn connect(
        &mut self,
        host: &str,
        epoch: u64,
        generation: u64,
        now: Instant,
    ) -> Vec<Update> {
        let items = self.items_of(host);
        let state = self.hosts.entry(host.to_owned()).or_default();
        state.connected = true;
        state.healthy = true;
        state.unavailable = false;
        state.last_seen = Some(now);
        if let Some(floor) = self.revisioned
            && epoch == self.epoch
        {
            // This service's items for the host are those of every revision from `known`
            // to `last_seq` (nothing changed them in between).
            let known = state.generation.max(floor);
            if generation >= known && generation <= self.last_seq.max(floor) {
                state.generation = generation;
                return Vec::new();
            }
            if generation < known {
                let mut out: Vec<Update> = state
                    .log
                    .iter()
                    .filter(|u| u.generation > generation)
                    .cloned()
                    .collect();
                if let Some(first) = out.first_mut()
                    && first.base.max(floor) <= generation
                {
                    first.base = generation;
                    return out;
                }
            }
        } else if epoch == self.epoch && generation == state.generation {
            return Vec::new();
        }
        if self.revisioned.is_none() && epoch == self.epoch && generation < state.generation {
            let first = state.log.front().map_or(u64::MAX, |u| u.base);
            if first <= generation {
                return state
                    .log
                    .iter()
                    .filter(|u| u.base >= generation)
                    .cloned()
                    .collect();
            }
        }
        state.generation = match self.revisioned {
            Some(floor) => state.generation.max(floor).max(self.last_seq),
            None => state.generation + 1,
        };
        let update = Update {
            epoch: self.epoch,
            base: 0,
            generation: state.generation,
            snapshot: true,
            put: items.into_iter().collect(),
            delete: Vec::new(),
            shared: None,
        };
        state.log.clear();
        state.log_items = 0;
        vec![update]
    }

    pub fn disconnect(&mut self, host: &str) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.connected = false;
        }
    }

    /// An agent reports it applied `generation`.
    pub fn applied(&mut self, host: &str, epoch: u64, generation: u64, now: Instant) {
        if epoch != self.epoch {
            return;
        }
        if let Some(h) = self.hosts.get_mut(host) {
            h.applied = h.applied.max(generation);
            h.last_seen = Some(now);
        }
        self.settle(now);
    }

    /// A heartbeat: returns the host's health when it turned.
    pub fn seen(&mut self, host: &str, healthy: bool, now: Instant) -> Option<bool> {
        let h = self.hosts.get_mut(host)?;
        h.last_seen = Some(now);
        (std::mem::replace(&mut h.healthy, healthy) != healthy).then_some(healthy)
    }

    /// A host found silent ([`Programs::expire`]) speaks again on its session (it was
    /// slow, not gone): it holds changes back again. True when it came back so.
    pub fn heard(&mut self, host: &str) -> bool {
        let Some(h) = self.hosts.get_mut(host) else {
            return false;
        };
        if !h.unavailable {
            return false;
        }
        h.unavailable = false;
        h.connected = true;
        true
    }

    /// Hosts silent for longer than `timeout` stop holding changes back.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        // Connected but quiet, or gone: either way the host has not been heard from.
        let silent: Vec<String> = self
            .hosts
            .iter()
            .filter(|(_, h)| {
                !h.unavailable && h.last_seen.is_some_and(|t| now.duration_since(t) > timeout)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &silent {
            if let Some(h) = self.hosts.get_mut(id) {
                h.connected = false;
                h.unavailable = true;
            }
        }
        self.settle(now);
        silent
    }

    /// Moves `applied_through` past every change whose connected hosts have applied it.
    /// Each report looks at the hosts of the oldest change from the first it has not
    /// seen done: a change to 1,000 hosts costs 1,000 looks, not one per host per report.
    fn settle(&mut self, now: Instant) {
        let hosts = &self.hosts;
        while let Some(p) = self.pending.front_mut() {
            while let Some((host, generation)) = p.hosts.get(p.next) {
                let done = hosts
                    .get(host)
                    .is_none_or(|h| !h.connected || h.applied >= *generation);
                if !done {
                    break;
                }
                p.next += 1;
            }
            if p.next < p.hosts.len() {
                break;
            }
            let p = self.pending.pop_front().expect("front exists");
            self.applied_through = self.applied_through.max(p.seq);
            if !p.hosts.is_empty() {
                self.latencies.push(now.duration_since(p.at));
            }
        }
        if self.pending.is_empty() {
            self.applied_through = self.applied_through.max(self.last_seq);
        }
    }

    /// Applies change number `seq`, which touched the rows named by `keys`: derives again
    /// what those rows (and the rows reading them) contribute, and gives each affected host
    /// its update.
    pub fn change(
        &mut self,
        world: &World,
        seq: u64,
        keys: &[String],
        now: Instant,
    ) -> Vec<(String, Update)> {
        self.last_seq = self.last_seq.max(seq);
        let mut sink = Deltas::default();
        let mut queue: VecDeque<RowKey> = keys.iter().filter_map(|k| RowKey::parse(k)).collect();
        if keys.iter().any(|k| k.starts_with("g/host/")) {
            queue.extend(self.hosts_changed(world, &mut sink));
        }
        for k in keys.iter().filter_map(|k| k.strip_prefix("g/peering/")) {
            queue.extend(crate::derive::peering_rows(world, k));
        }
        for k in keys
            .iter()
            .filter_map(|k| k.strip_prefix("g/transit-gateway-peering/"))
        {
            queue.extend(crate::derive::transit_gateway_peering_rows(world, k));
        }
        // a hosted zone's VPCs, before and after, are not known here: every VPC header
        // (which carries its zones) is derived again (zone changes are rare)
        if keys.iter().any(|k| k.starts_with("g/route53-zone/")) {
            queue.extend(
                crate::derive::all_rows(world)
                    .into_iter()
                    .filter(|r| r.table == "vpc"),
            );
        }
        // the rows the change wrote (the rest are derived again because they read them)
        let changed: BTreeSet<RowKey> = queue.iter().cloned().collect();
        let mut seen = BTreeSet::new();
        let mut memo = Memo::default();
        while let Some(row) = queue.pop_front() {
            if !seen.insert(row.clone()) {
                continue;
            }
            let old_vpc = self.rederive(world, row.clone(), &mut memo, &mut sink);
            let written = changed.contains(&row);
            queue.extend(dependents(
                world,
                &row,
                old_vpc.as_deref(),
                written,
                &mut memo,
            ));
        }
        if keys.iter().any(|k| k.starts_with("g/peering/")) {
            self.peerings_changed(world, &mut sink);
        }
        let updates = self.fan_out(sink);
        let mut hosts = Vec::new();
        for (host, update) in &updates {
            hosts.push((host.clone(), update.generation));
        }
        self.pending.push_back(Pending {
            seq,
            at: now,
            hosts,
            next: 0,
        });
        self.settle(now);
        updates
    }

    /// Derives `row` again; records the item differences in `sink`. Returns the VPC the
    /// row belonged to before.
    fn rederive(
        &mut self,
        world: &World,
        row: RowKey,
        memo: &mut Memo,
        sink: &mut Deltas,
    ) -> Option<String> {
        let new = contribution(world, &row, memo);
        let old = self.contrib.remove(&row).unwrap_or_default();
        // the pairs an attachment joins follow from its item
        if row.table == "transit-gateway-vpc-attachment" && old != new {
            let links = crate::derive::transit_links(&new);
            let before = if links.is_empty() {
                self.transit.remove(&row)
            } else {
                self.transit.insert(row.clone(), links.clone())
            }
            .unwrap_or_default();
            // both sorted: what went, what came
            for pair in before.iter().filter(|p| links.binary_search(p).is_err()) {
                self.link(false, pair, sink);
            }
            for pair in links.iter().filter(|p| before.binary_search(p).is_err()) {
                self.link(true, pair, sink);
            }
        }
        let old_vpc = old.vpc.clone();
        if old != new {
            if let Some(vpc) = &old.vpc {
                for key in old.items.keys().filter(|k| !new.items.contains_key(*k)) {
                    // Another row may still give the same item (an address that moved
                    // between interfaces in one change): then its value stands.
                    let remaining = self.owners.get_mut(key).and_then(|o| {
                        o.retain(|r| r != &row);
                        o.first().cloned()
                    });
                    let still = remaining
                        .and_then(|r| self.contrib.get(&r))
                        .and_then(|c| c.items.get(key))
                        .cloned();
                    if still.is_none() {
                        self.owners.remove(key);
                    }
                    if still.is_none() && *key == ItemKey::vpc(vpc) {
                        self.vnis.retain(|_, v| v != vpc);
                    }
                    if let Some(items) = self.vpc_items.get_mut(vpc) {
                        match &still {
                            Some(v) => items.insert(key.clone(), v.clone()),
                            None => items.remove(key),
                        };
                    }
                    if key.is_gateway() {
                        self.gateway(false, vpc, sink);
                    }
                    sink.vpc
                        .entry(vpc.clone())
                        .or_default()
                        .insert(key.clone(), still);
                }
            }
            if let Some(vpc) = &new.vpc {
                for (key, value) in &new.items {
                    if !old.items.contains_key(key) {
                        self.owners
                            .entry(key.clone())
                            .or_default()
                            .push(row.clone());
                        if key.is_gateway() {
                            self.gateway(true, vpc, sink);
                        }
                    }
                    if let Some(V::Vpc(header)) = &value.kind {
                        self.vnis.insert(header.vni, vpc.clone());
                    }
                    if old.items.get(key) != Some(value) {
                        self.vpc_items
                            .entry(vpc.clone())
                            .or_default()
                            .insert(key.clone(), value.clone());
                        sink.vpc
                            .entry(vpc.clone())
                            .or_default()
                            .insert(key.clone(), Some(value.clone()));
                    }
                }
            }
            if let Some((host, key, _)) = &old.host_item
                && new.host_item.as_ref().is_none_or(|(h, _, _)| h != host)
            {
                if let Some(p) = self.ports.get_mut(host) {
                    p.remove(key);
                }
                if let Some((h, vpc)) = self.port_home.remove(key) {
                    self.serve_port(false, &vpc, &h, sink);
                }
                sink.ports
                    .entry(host.clone())
                    .or_default()
                    .insert(key.clone(), None);
            }
            if let Some((host, key, value)) = &new.host_item
                && old.host_item.as_ref().map(|(h, _, v)| (h, v)) != Some((host, value))
            {
                self.ports
                    .entry(host.clone())
                    .or_default()
                    .insert(key.clone(), value.clone());
                let moved_in = old.host_item.as_ref().is_none_or(|(h, _, _)| h != host);
                if let Some(vpc) = &new.vpc
                    && moved_in
                {
                    self.port_home
                        .insert(key.clone(), (host.clone(), vpc.clone()));
                    self.serve_port(true, vpc, host, sink);
                }
                sink.ports
                    .entry(host.clone())
                    .or_default()
                    .insert(key.clone(), Some(value.clone()));
            }
        }
        if new != Contribution::default() {
            self.contrib.insert(row, new);
        }
        old_vpc
    }

    /// A gateway item of `vpc` came or went: edge hosts serve VPCs that have any.
    fn gateway(&mut self, came: bool, vpc: &str, sink: &mut Deltas) {
        let count = self.gateways.entry(vpc.to_owned()).or_default();
        let crossed = if came { *count == 0 } else { *count == 1 };
        *count = if came {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
        if *count == 0 {
            self.gateways.remove(vpc);
        }
        if crossed {
            for host in self.edge_hosts.keys().cloned().collect::<Vec<_>>() {
                self.serve(came, vpc, &host, sink);
            }
        }
    }

    /// Hosts registered or changed role: edge hosts start or stop serving the VPCs with
    /// gateways, and every VPC's header names the edge anew.
    fn hosts_changed(&mut self, world: &World, sink: &mut Deltas) -> Vec<RowKey> {
        let now = edge_hosts(world);
        if now == self.edge_hosts {
            // Only instance counts moved (placement): nothing the programs show.
            return Vec::new();
        }
        let gateway_vpcs: Vec<String> = self.gateways.keys().cloned().collect();
        let before = std::mem::replace(&mut self.edge_hosts, now.clone());
        for host in now.keys().filter(|h| !before.contains_key(*h)) {
            for vpc in &gateway_vpcs {
                self.serve(true, vpc, host, sink);
            }
        }
        for host in before.keys().filter(|h| !now.contains_key(*h)) {
            for vpc in &gateway_vpcs {
                self.serve(false, vpc, host, sink);
            }
        }
        crate::derive::all_rows(world)
            .into_iter()
            .filter(|r| r.table == "vpc")
            .collect()
    }

    /// A port of `host` in `vpc` came or went: the host serves the VPC, and the VPCs
    /// joined with it, while it has ports there.
    fn serve_port(&mut self, came: bool, vpc: &str, host: &str, sink: &mut Deltas) {
        self.serve(came, vpc, host, sink);
        let count = tally(&mut self.direct, vpc, host, came);
        if (came && count == 0) || (!came && count == 1) {
            let joined: Vec<String> = self
                .joined
                .get(vpc)
                .map(|p| p.iter().cloned().collect())
                .unwrap_or_default();
            for other in joined {
                self.serve(came, &other, host, sink);
            }
        }
    }

    /// Peering connections changed: the pairs of VPCs they join, both ways.
    fn peerings_changed(&mut self, world: &World, sink: &mut Deltas) {
        let at = fort_control::now_millis();
        let mut now = BTreeSet::new();
        for p in world.global.peerings.values() {
            if fort_control::peering::status(p, at) != fort_model::PeeringStatus::Active {
                continue;
            }
            let (a, b) = (
                p.requester.vpc_id.to_string(),
                p.accepter.vpc_id.to_string(),
            );
            now.insert((b.clone(), a.clone()));
            now.insert((a, b));
        }
        let before = std::mem::take(&mut self.peered);
        for pair in before.difference(&now) {
            self.link(false, pair, sink);
        }
        for pair in now.difference(&before) {
            self.link(true, pair, sink);
        }
        self.peered = now;
    }

    /// A peering or an attachment joining `(vpc, other)` came or went: while one does,
    /// the hosts with ports in `vpc` serve `other` too.
    fn link(&mut self, came: bool, (vpc, other): &(String, String), sink: &mut Deltas) {
        let key = (vpc.clone(), other.clone());
        let count = self.links.entry(key.clone()).or_default();
        let was = *count;
        *count = if came { was + 1 } else { was.saturating_sub(1) };
        let is = *count;
        if is == 0 {
            self.links.remove(&key);
        }
        if (was == 0) == (is == 0) {
            return;
        }
        if came {
            self.joined
                .entry(vpc.clone())
                .or_default()
                .insert(other.clone());
        } else if let Some(j) = self.joined.get_mut(vpc) {
            j.remove(other);
            if j.is_empty() {
                self.joined.remove(vpc);
            }
        }
        let hosts: Vec<String> = self
            .direct
            .get(vpc)
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        for host in hosts {
            self.serve(came, other, &host, sink);
        }
    }

    /// A port of `host` in `vpc` came (`true`) or went; records when the host starts or
    /// stops serving the VPC.
    fn serve(&mut self, came: bool, vpc: &str, host: &str, sink: &mut Deltas) {
        let count = tally(&mut self.serving, vpc, host, came);
        sink.serving
            .entry(vpc.to_owned())
            .or_default()
            .entry(host.to_owned())
            .or_insert(count > 0);
    }

    /// Turns item differences into one update per affected host. A VPC's differences are
    /// the same for every host that serves it before and after, its items the same for
    /// every host that starts serving it: each is built and encoded once, and hosts that
    /// receive the same pieces share them joined (with 100 VPCs on 1,000 hosts, copying
    /// them per host was most of a change's cost).
    fn fan_out(&mut self, sink: Deltas) -> Vec<(String, Update)> {
        let mut pieces: Vec<Piece> = Vec::new();
        // host → the pieces it receives, in VPC order
        let mut per_host: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let vpcs: BTreeSet<&String> = sink.vpc.keys().chain(sink.serving.keys()).collect();
        let no_transitions = BTreeMap::new();
        for vpc in vpcs {
            let transitions = sink.serving.get(vpc).unwrap_or(&no_transitions);
            let serving = self.serving.get(vpc);
            let delta = sink.vpc.get(vpc);
            // Hosts that start or stop serving the VPC: all of its items come or go.
            let (mut came, mut went) = (None, None);
            for (host, was) in transitions {
                let is = serving.is_some_and(|s| s.contains_key(host));
                let piece = if is && !was {
                    let Some(items) = self.vpc_items.get(vpc).filter(|i| !i.is_empty()) else {
                        continue;
                    };
                    *came.get_or_insert_with(|| {
                        let put = items.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                        pieces.push(Piece::new(put, Vec::new()));
                        pieces.len() - 1
                    })
                } else if *was && !is {
                    *went.get_or_insert_with(|| {
                        let mut keys: BTreeSet<ItemKey> = self
                            .vpc_items
                            .get(vpc)
                            .map(|i| i.keys().cloned().collect())
                            .unwrap_or_default();
                        // Keys deleted by this very change are gone from vpc_items: delete
                        // them too.
                        if let Some(d) = delta {
                            keys.extend(d.keys().cloned());
                        }
                        pieces.push(Piece::new(Vec::new(), keys.into_iter().collect()));
                        pieces.len() - 1
                    })
                } else {
                    continue;
                };
                per_host.entry(host.clone()).or_default().push(piece);
            }
            // Hosts that serve the VPC before and after get just the differences.
            if let (Some(d), Some(serving)) = (delta.filter(|d| !d.is_empty()), serving) {
                let mut piece = None;
                for host in serving.keys() {
                    if transitions.get(host) == Some(&false) {
                        continue;
                    }
                    let i = *piece.get_or_insert_with(|| {
                        let mut put = Vec::new();
                        let mut delete = Vec::new();
                        for (k, v) in d {
                            match v {
                                Some(v) => put.push((k.clone(), v.clone())),
                                None => delete.push(k.clone()),
                            }
                        }
                        pieces.push(Piece::new(put, delete));
                        pieces.len() - 1
                    });
                    per_host.entry(host.clone()).or_default().push(i);
                }
            }
        }
        let pieces: Vec<Arc<Piece>> = pieces.into_iter().map(Arc::new).collect();
        // Hosts that receive the same pieces receive one joined piece.
        let mut joined: HashMap<Vec<usize>, Arc<Piece>> = HashMap::new();
        let mut shared: BTreeMap<String, Arc<Piece>> = BTreeMap::new();
        for (host, list) in per_host {
            let piece = match list.as_slice() {
                [] => continue,
                [one] => pieces[*one].clone(),
                _ => joined
                    .entry(list)
                    .or_insert_with_key(|list| {
                        let parts: Vec<&Piece> = list.iter().map(|i| &*pieces[*i]).collect();
                        Arc::new(Piece::join(&parts))
                    })
                    .clone(),
            };
            shared.insert(host, piece);
        }
        // A host's own items (its ports and instances): never keys of a VPC's items.
        let mut own: BTreeMap<String, Own> = BTreeMap::new();
        for (host, d) in sink.ports {
            let entry = own.entry(host).or_default();
            for (k, v) in d {
                match v {
                    Some(v) => entry.0.push((k, v)),
                    None => entry.1.push(k),
                }
            }
        }
        let hosts: BTreeSet<String> = shared.keys().chain(own.keys()).cloned().collect();
        let mut out = Vec::new();
        for host in hosts {
            let (put, delete) = own.remove(&host).unwrap_or_default();
            let shared = shared.remove(&host).filter(|p| !p.is_empty());
            if put.is_empty() && delete.is_empty() && shared.is_none() {
                continue;
            }
            let state = self.hosts.entry(host.clone()).or_default();
            let generation = match self.revisioned {
                Some(_) => self.last_seq.max(state.generation + 1),
                None => state.generation + 1,
            };
            let update = Update {
                epoch: self.epoch,
                base: state.generation,
                generation,
                snapshot: false,
                put,
                delete,
                shared,
            };
            state.generation = generation;
            state.log_items += update.len();
            state.log.push_back(update.clone());
            while state.log.len() > LOG_LEN || state.log_items > LOG_ITEMS {
                let Some(old) = state.log.pop_front() else {
                    break;
                };
                state.log_items -= old.len();
            }
            out.push((host, update));
        }
        out
    }
}

/// A host's own items of one update: put, and keys deleted.
type Own = (Vec<(ItemKey, Value)>, Vec<ItemKey>);

/// Item differences of one change: per VPC and per host's ports (`None`: deleted).
#[derive(Default)]
struct Deltas {
    vpc: BTreeMap<String, BTreeMap<ItemKey, Option<Value>>>,
    ports: BTreeMap<String, BTreeMap<ItemKey, Option<Value>>>,
    /// VPC → host → whether it served the VPC before the change (for hosts whose port
    /// count there changed).
    serving: BTreeMap<String, BTreeMap<String, bool>>,
}

/// Counts one more (`came`) or one less of (`vpc`, `host`); returns the count before.
fn tally(
    counts: &mut HashMap<String, BTreeMap<String, usize>>,
    vpc: &str,
    host: &str,
    came: bool,
) -> usize {
    let hosts = counts.entry(vpc.to_owned()).or_default();
    let count = hosts.get(host).copied().unwrap_or(0);
    if came {
        hosts.insert(host.to_owned(), count + 1);
    } else if count <= 1 {
        hosts.remove(host);
        if hosts.is_empty() {
            counts.remove(vpc);
        }
    } else {
        hosts.insert(host.to_owned(), count - 1);
    }
    count
}

fn edge_hosts(world: &World) -> BTreeMap<String, std::net::Ipv4Addr> {
    world
        .global
        .hosts
        .values()
        .filter(|h| h.role == fort_model::HostRole::Edge)
        .map(|h| (h.id.clone(), h.underlay))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host found silent that speaks again on its session was slow, not gone: it is
    /// connected again (and holds changes back), once.
    #[test]
    fn a_silent_host_heard_again_is_connected_again() {
        let world = World::default();
        let t0 = Instant::now();
        let mut p = Programs::new(&world, 7);
        p.connect("h1", 7, 0, t0);
        assert!(
            !p.heard("h1"),
            "a host never found silent is not coming back"
        );
        let silent = p.expire(t0 + Duration::from_secs(11), Duration::from_secs(10));
        assert_eq!(silent, vec!["h1".to_owned()]);
        assert!(!p.host("h1").unwrap().connected);
        assert!(p.heard("h1"));
        let h = p.host("h1").unwrap();
        assert!(h.connected && !h.unavailable);
        assert!(!p.heard("h1"));
    }

    /// An update with a shared piece is, on the wire, the update a host decodes: its own
    /// items and the piece's, each once.
    #[test]
    fn a_shared_piece_travels_as_its_items() {
        use fort_proto::mapping::{Member, V2p};
        use prost::Message;
        let ip = std::net::Ipv4Addr::new(10, 0, 0, 5);
        let value = |kind| {
            Arc::new(fort_proto::wire::EncodedValue::new(
                fort_proto::mapping::ItemValue { kind: Some(kind) },
            ))
        };
        let mapping = V::Mapping(V2p {
            ip: ip.into(),
            host: 0x7f00_0002,
            mac: vec![2, 0, 0, 0, 0, 1],
            eni_id: "eni-1".into(),
            source_dest_check: true,
            ipv6: vec![],
        });
        let a = Piece::new(
            vec![(ItemKey::mapping("vpc-1", ip), value(mapping))],
            vec![ItemKey::mapping(
                "vpc-1",
                std::net::Ipv4Addr::new(10, 0, 0, 6),
            )],
        );
        let b = Piece::new(
            vec![(
                ItemKey::member("vpc-2", "sg-1", ip),
                value(V::Member(Member {})),
            )],
            Vec::new(),
        );
        let update = Update {
            epoch: 3,
            base: 4,
            generation: 5,
            snapshot: false,
            put: Vec::new(),
            delete: vec![ItemKey::port("eni-9")],
            shared: Some(Arc::new(Piece::join(&[&a, &b]))),
        };
        assert_eq!(update.len(), 4);
        let wire = crate::server::to_wire(&update).encode_to_vec();
        let decoded = fort_proto::mapping::ProgramUpdate::decode(wire.as_slice()).unwrap();
        assert_eq!(decoded, crate::server::to_proto(&update));
        assert_eq!(decoded.put.len(), 2);
        assert_eq!(decoded.delete.len(), 2);
    }

    /// Servers sharing a store: generations are revisions, so a host another server
    /// programmed resumes here when this service's items are the ones it holds, and takes
    /// a snapshot when they may not be.
    #[test]
    fn a_host_from_another_server_resumes_by_revision() {
        let world = World::default();
        let now = Instant::now();
        let mut p = Programs::new(&world, 7);
        p.revisioned = Some(100);
        p.last_seq = 120;
        // Held at revision 110, nothing changed for it since this service began (at 100):
        // the same items, nothing to send, and later updates follow from 110.
        assert!(p.connect("h1", 7, 110, now).is_empty());
        assert_eq!(p.host("h1").unwrap().generation, 110);
        // Held at 90, before this service's items begin: a snapshot.
        let u = p.connect("h2", 7, 90, now);
        assert!(u.len() == 1 && u[0].snapshot && u[0].generation >= 120);
        // Ahead of what this service has applied (its watch lags): a snapshot, never a
        // claim that it holds what it has not seen.
        let u = p.connect("h3", 7, 130, now);
        assert!(u.len() == 1 && u[0].snapshot);
        // Another epoch (another installation): a snapshot.
        let u = p.connect("h4", 8, 110, now);
        assert!(u.len() == 1 && u[0].snapshot);
        // A service of its own (no shared store) keeps its counters: only its own
        // generation resumes.
        let mut q = Programs::new(&world, 7);
        let u = q.connect("h1", 7, 110, now);
        assert!(u.len() == 1 && u[0].snapshot && u[0].generation == 1);
    }
}
