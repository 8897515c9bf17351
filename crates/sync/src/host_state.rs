//! What a host keeps of its program between updates, already converted to the engine's
//! and the edge's types (each value is checked once, on arrival).
//!
//! V2P entries are most of a host's items (one per address of every VPC it serves), so
//! the state does not keep them: each update hands them on ([`Applied::v2p`]) to the
//! engine, which holds them compactly ([`fort_dataplane::Engine::upsert_mapping`]). Group
//! members are kept as addresses per group. The rest — ports, VPC headers, subnets, route
//! tables, ACLs, groups, the edge's gateways — is small.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use fort_dataplane::program as dp;
use fort_dataplane::{Engine, InstallError};
use fort_edge::program::{EdgeItem, EdgeProgram};
use fort_proto::mapping::item_key::Kind as K;
use fort_proto::mapping::item_value::Kind as V;
use fort_proto::mapping::{self as pb, ItemKey, ProgramUpdate};

use crate::Malformed;
use crate::assemble;
use crate::client::{Gap, follows};

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
    /// Something of the structure other than group members changed (ports, headers,
    /// subnets, tables, ACLs, groups' rules): assemble it again.
    pub structure: bool,
    /// Groups whose members changed: (VPC, group).
    pub members: BTreeSet<(String, String)>,
    /// The edge's gateways or public addresses changed.
    pub edge: bool,
    /// The flow logs changed (and so the structure: which ports the engine counts).
    pub flow_logs: bool,
    /// An instance's metadata changed.
    pub instances: bool,
    /// A VPC's DNS attributes changed.
    pub dns: bool,
    pub v2p: Vec<V2pChange>,
    /// Items skipped because their values make no sense.
    pub malformed: Vec<Malformed>,
}

/// The items of one VPC, but for its V2P.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct VpcItems {
    header: Option<dp::Vpc>,
    /// What the VPC resolver needs beyond the header.
    dns: Option<VpcDns>,
    /// Private hosted zones associated with the VPC, by zone id.
    zones: BTreeMap<String, pb::PrivateZone>,
    /// The resource names of the VPC's instances (on every host), by instance id.
    names: BTreeMap<String, pb::InstanceName>,
    /// The names of the VPC's interface endpoints, by endpoint id.
    endpoints: BTreeMap<String, pb::VpcEndpointNames>,
    subnets: BTreeMap<String, dp::Subnet>,
    route_tables: BTreeMap<String, dp::RouteTable>,
    network_acls: BTreeMap<String, dp::NetworkAcl>,
    security_groups: BTreeMap<String, dp::SecurityGroup>,
    /// Transit gateway attachments, by attachment id.
    transits: BTreeMap<String, dp::TransitGatewayAttachment>,
    /// Group → its members' private addresses.
    members: BTreeMap<String, BTreeSet<Ipv4Addr>>,
    /// IPv6 V2P and group members: kept here and handed to the engine with the
    /// structure (a change to them is a change of structure).
    mappings_v6: BTreeMap<Ipv6Addr, dp::Mapping6>,
    members_v6: BTreeMap<String, BTreeSet<Ipv6Addr>>,
}

impl VpcItems {
    fn is_empty(&self) -> bool {
        self == &VpcItems::default()
    }
}

/// Which flows a flow log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    All,
    Accept,
    Reject,
}

impl Traffic {
    /// Whether a flow the engine accepted (or rejected) belongs in the log.
    pub fn records(self, accepted: bool) -> bool {
        match self {
            Traffic::All => true,
            Traffic::Accept => accepted,
            Traffic::Reject => !accepted,
        }
    }
}

/// A flow log, as a host applies it to the ports it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowLogSpec {
    pub id: String,
    pub vpc_id: String,
    /// The VPC, subnet or ENI whose ports it records.
    pub resource_id: String,
    pub traffic: Traffic,
    pub window_seconds: u32,
}

impl FlowLogSpec {
    /// Whether the flow log records `port`'s traffic.
    pub fn covers(&self, port: &dp::Port) -> bool {
        port.vpc_id == self.vpc_id
            && (self.resource_id == port.id
                || self.resource_id == port.subnet_id
                || self.resource_id == port.vpc_id)
    }
}

/// A VPC's DNS attributes, for its resolver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcDns {
    /// enableDnsSupport.
    pub support: bool,
    /// enableDnsHostnames.
    pub hostnames: bool,
    pub region: String,
    /// Peer VPCs whose public DNS names the resolver answers with private addresses
    /// (their side of an active peering allows DNS resolution from this VPC).
    pub resolvable_peers: Vec<String>,
}

/// A host's program minus V2P, and where it stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostState {
    pub epoch: u64,
    pub generation: u64,
    ports: BTreeMap<String, dp::Port>,
    vpcs: BTreeMap<String, VpcItems>,
    edge: BTreeMap<ItemKey, EdgeItem>,
    flow_logs: BTreeMap<ItemKey, FlowLogSpec>,
    /// The instances running here, for their metadata service.
    instances: BTreeMap<String, pb::Instance>,
    /// Transit gateway route tables (of the VPCs whose attachments use them): table →
    /// (address, prefix length) → route.
    transit_routes: BTreeMap<String, BTreeMap<(u32, u32), dp::TransitGatewayRoute>>,
    /// The same for IPv6 routes: table → (address, prefix length) → route.
    transit_routes6: BTreeMap<String, BTreeMap<(u128, u32), dp::TransitGatewayRoute6>>,
    /// The ports that are interface endpoints' interfaces: what each serves, by ENI.
    endpoint_ports: BTreeMap<String, pb::EndpointPort>,
    /// Where the services Fort serves are reached (`api`), by name.
    services: BTreeMap<String, std::net::SocketAddrV4>,
}

/// Puts `value` at `key`: whether it changed anything.
fn put<T: PartialEq>(map: &mut BTreeMap<String, T>, key: &str, value: T) -> bool {
    if map.get(key) == Some(&value) {
        return false;
    }
    map.insert(key.to_owned(), value);
    true
}

impl HostState {
    /// Applies one update in order: `Ok(None)` for a duplicate already applied.
    pub fn apply(&mut self, u: ProgramUpdate) -> Result<Option<Applied>, Gap> {
        if !follows(self.epoch, self.generation, &u)? {
            return Ok(None);
        }
        let mut out = Applied {
            snapshot: u.snapshot,
            structure: u.snapshot,
            edge: u.snapshot,
            ..Applied::default()
        };
        if u.snapshot {
            self.ports.clear();
            self.endpoint_ports.clear();
            self.services.clear();
            self.vpcs.clear();
            self.edge.clear();
            // (a table's routes are no VPC's: a snapshot lists them anew too)
            self.transit_routes.clear();
            self.transit_routes6.clear();
            out.flow_logs = !self.flow_logs.is_empty();
            self.flow_logs.clear();
            out.instances = !self.instances.is_empty();
            self.instances.clear();
        }
        for key in &u.delete {
            self.delete(key, &mut out);
        }
        for item in u.put {
            let (Some(key), Some(value)) = (item.key, item.value.and_then(|v| v.kind)) else {
                continue;
            };
            if let Err(what) = self.put(&key, value, &mut out) {
                out.malformed.push(Malformed {
                    key: key.to_string(),
                    what,
                });
            }
        }
        self.vpcs.retain(|_, v| !v.is_empty());
        // which ports the engine counts follows the flow logs
        out.structure |= out.flow_logs;
        self.epoch = u.epoch;
        self.generation = u.generation;
        Ok(Some(out))
    }

    fn delete(&mut self, key: &ItemKey, out: &mut Applied) {
        match &key.kind {
            Some(K::Port(id)) => {
                self.endpoint_ports.remove(id);
                out.structure |= self.ports.remove(id).is_some()
            }
            Some(K::Service(name)) => out.structure |= self.services.remove(name).is_some(),
            Some(K::VpcEndpoint(o)) => {
                out.dns |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.endpoints.remove(&o.id))
                    .is_some()
            }
            Some(K::Vpc(id)) => {
                if let Some(v) = self.vpcs.get_mut(id) {
                    out.dns |= v.dns.take().is_some();
                    out.structure |= v.header.take().is_some();
                }
            }
            Some(K::Subnet(o)) => {
                out.structure |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.subnets.remove(&o.id))
                    .is_some()
            }
            Some(K::RouteTable(o)) => {
                out.structure |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.route_tables.remove(&o.id))
                    .is_some()
            }
            Some(K::NetworkAcl(o)) => {
                out.structure |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.network_acls.remove(&o.id))
                    .is_some()
            }
            Some(K::SecurityGroup(o)) => {
                out.structure |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.security_groups.remove(&o.id))
                    .is_some()
            }
            Some(K::TransitGatewayAttachment(o)) => {
                out.structure |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.transits.remove(&o.id))
                    .is_some()
            }
            Some(K::TransitGatewayRoute(r)) => {
                if let Some(table) = self.transit_routes.get_mut(&r.route_table_id) {
                    out.structure |= table.remove(&(r.address, r.prefix_len)).is_some();
                    if table.is_empty() {
                        self.transit_routes.remove(&r.route_table_id);
                    }
                }
            }
            Some(K::TransitGatewayRouteV6(r)) => {
                if let Some(table) = self.transit_routes6.get_mut(&r.route_table_id) {
                    let address = assemble::key_ip6(&r.address).map(u128::from);
                    if let Ok(a) = address {
                        out.structure |= table.remove(&(a, r.prefix_len)).is_some();
                    }
                    if table.is_empty() {
                        self.transit_routes6.remove(&r.route_table_id);
                    }
                }
            }
            Some(K::Mapping(a)) => out.v2p.push(V2pChange::Delete {
                vpc_id: a.vpc_id.clone(),
                ip: Ipv4Addr::from(a.ip),
            }),
            Some(K::Member(m)) => {
                if let Some(v) = self.vpcs.get_mut(&m.vpc_id)
                    && let Some(set) = v.members.get_mut(&m.group_id)
                    && set.remove(&Ipv4Addr::from(m.ip))
                {
                    if set.is_empty() {
                        v.members.remove(&m.group_id);
                    }
                    out.members.insert((m.vpc_id.clone(), m.group_id.clone()));
                }
            }
            Some(K::MappingV6(a)) => {
                if let Ok(ip) = assemble::key_ip6(&a.ip)
                    && let Some(v) = self.vpcs.get_mut(&a.vpc_id)
                {
                    out.structure |= v.mappings_v6.remove(&ip).is_some();
                }
            }
            Some(K::MemberV6(m)) => {
                if let Ok(ip) = assemble::key_ip6(&m.ip)
                    && let Some(v) = self.vpcs.get_mut(&m.vpc_id)
                    && let Some(set) = v.members_v6.get_mut(&m.group_id)
                    && set.remove(&ip)
                {
                    if set.is_empty() {
                        v.members_v6.remove(&m.group_id);
                    }
                    out.structure = true;
                }
            }
            Some(
                K::InternetGateway(_)
                | K::EgressOnlyInternetGateway(_)
                | K::PublicIp(_)
                | K::NatGateway(_)
                | K::GatewayEndpoint(_)
                | K::VpnConnection(_)
                | K::TransitGatewayVpnRoutes(_)
                | K::TransitGatewayEgressRoutes(_),
            ) => out.edge |= self.edge.remove(key).is_some(),
            Some(K::FlowLog(_)) => out.flow_logs |= self.flow_logs.remove(key).is_some(),
            Some(K::Instance(id)) => out.instances |= self.instances.remove(id).is_some(),
            Some(K::PrivateZone(o)) => {
                out.dns |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.zones.remove(&o.id))
                    .is_some()
            }
            Some(K::InstanceName(o)) => {
                out.dns |= self
                    .vpcs
                    .get_mut(&o.vpc_id)
                    .and_then(|v| v.names.remove(&o.id))
                    .is_some()
            }
            None => {}
        }
    }

    fn put(&mut self, key: &ItemKey, value: V, out: &mut Applied) -> Result<(), &'static str> {
        const MISMATCH: &str = "the value is not of its key's kind";
        match (&key.kind, value) {
            (Some(K::Port(id)), V::Port(p)) => {
                let port = assemble::port(&p)?;
                let endpoint = match &p.endpoint {
                    Some(_) if p.instance_id.is_some() => {
                        return Err("a port is both an instance's and an endpoint's");
                    }
                    Some(e) => Some(e.clone()),
                    None => None,
                };
                if self.endpoint_ports.get(id) != endpoint.as_ref() {
                    match endpoint {
                        Some(e) => self.endpoint_ports.insert(id.clone(), e),
                        None => self.endpoint_ports.remove(id),
                    };
                    out.structure = true;
                }
                out.structure |= put(&mut self.ports, id, port)
            }
            (Some(K::Service(name)), V::Service(a)) => {
                let port = u16::try_from(a.port).map_err(|_| "a service port beyond 65535")?;
                let addr = std::net::SocketAddrV4::new(Ipv4Addr::from(a.ip), port);
                out.structure |= put(&mut self.services, name, addr);
            }
            (Some(K::VpcEndpoint(o)), V::VpcEndpoint(n)) => {
                if n.vpc_endpoint_id != o.id {
                    return Err("an endpoint's names differ from its key's endpoint");
                }
                out.dns |= put(&mut self.vpc(&o.vpc_id).endpoints, &o.id, n);
            }
            (Some(K::Vpc(id)), V::Vpc(v)) => {
                let header = Some(assemble::vpc(&v)?);
                let dns = Some(VpcDns {
                    support: v.dns_support,
                    hostnames: v.dns_hostnames,
                    region: v.region.clone(),
                    resolvable_peers: v
                        .peerings
                        .iter()
                        .filter(|p| p.peer_allows_dns_resolution)
                        .map(|p| p.peer_vpc_id.clone())
                        .collect(),
                });
                let items = self.vpcs.entry(id.clone()).or_default();
                if items.header != header {
                    items.header = header;
                    out.structure = true;
                }
                if items.dns != dns {
                    items.dns = dns;
                    out.dns = true;
                }
            }
            (Some(K::Subnet(o)), V::Subnet(s)) => {
                let s = assemble::subnet(&s)?;
                out.structure |= put(&mut self.vpc(&o.vpc_id).subnets, &o.id, s);
            }
            (Some(K::RouteTable(o)), V::RouteTable(t)) => {
                let t = assemble::route_table(&t)?;
                out.structure |= put(&mut self.vpc(&o.vpc_id).route_tables, &o.id, t);
            }
            (Some(K::NetworkAcl(o)), V::NetworkAcl(a)) => {
                let a = assemble::network_acl(&a)?;
                out.structure |= put(&mut self.vpc(&o.vpc_id).network_acls, &o.id, a);
            }
            (Some(K::SecurityGroup(o)), V::SecurityGroup(g)) => {
                let g = assemble::security_group(&g)?;
                out.structure |= put(&mut self.vpc(&o.vpc_id).security_groups, &o.id, g);
            }
            (Some(K::TransitGatewayAttachment(o)), V::TransitGatewayAttachment(a)) => {
                let a = assemble::transit_gateway_attachment(&a)?;
                if a.id != o.id {
                    return Err("an attachment's id differs from its key's");
                }
                out.structure |= put(&mut self.vpc(&o.vpc_id).transits, &o.id, a);
            }
            (Some(K::TransitGatewayRoute(k)), V::TransitGatewayRoute(r)) => {
                let r = assemble::transit_gateway_route(&r)?;
                let destination = (
                    u32::from(r.destination.network()),
                    u32::from(r.destination.prefix_len()),
                );
                if destination != (k.address, k.prefix_len) {
                    return Err("a route's destination differs from its key's");
                }
                let table = self
                    .transit_routes
                    .entry(k.route_table_id.clone())
                    .or_default();
                out.structure |= table.insert(destination, r.clone()) != Some(r);
            }
            (Some(K::TransitGatewayRouteV6(k)), V::TransitGatewayRoute(r)) => {
                let r = assemble::transit_gateway_route6(&r)?;
                let destination = (
                    u128::from(r.destination.network()),
                    u32::from(r.destination.prefix_len()),
                );
                if destination != (u128::from(assemble::key_ip6(&k.address)?), k.prefix_len) {
                    return Err("a route's destination differs from its key's");
                }
                let table = self
                    .transit_routes6
                    .entry(k.route_table_id.clone())
                    .or_default();
                out.structure |= table.insert(destination, r.clone()) != Some(r);
            }
            (Some(K::Mapping(a)), V::Mapping(m)) => {
                let mapping = assemble::mapping(&m)?;
                if u32::from(mapping.ip) != a.ip {
                    return Err("a mapping's address differs from its key's");
                }
                out.v2p.push(V2pChange::Put {
                    vpc_id: a.vpc_id.clone(),
                    mapping,
                });
            }
            (Some(K::Member(m)), V::Member(_)) => {
                let set = self
                    .vpc(&m.vpc_id)
                    .members
                    .entry(m.group_id.clone())
                    .or_default();
                if set.insert(Ipv4Addr::from(m.ip)) {
                    out.members.insert((m.vpc_id.clone(), m.group_id.clone()));
                }
            }
            (Some(K::MappingV6(a)), V::MappingV6(m)) => {
                let mapping = assemble::mapping6(&m)?;
                if mapping.ip != assemble::key_ip6(&a.ip)? {
                    return Err("a mapping's address differs from its key's");
                }
                let v = self.vpc(&a.vpc_id);
                out.structure |= v.mappings_v6.insert(mapping.ip, mapping.clone()) != Some(mapping);
            }
            (Some(K::MemberV6(m)), V::MemberV6(_)) => {
                let ip = assemble::key_ip6(&m.ip)?;
                out.structure |= self
                    .vpc(&m.vpc_id)
                    .members_v6
                    .entry(m.group_id.clone())
                    .or_default()
                    .insert(ip);
            }
            (Some(K::InternetGateway(_)), V::InternetGateway(g)) => {
                let item = EdgeItem::InternetGateway(assemble::internet_gateway(&g)?);
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::EgressOnlyInternetGateway(_)), V::EgressOnlyInternetGateway(g)) => {
                let item = EdgeItem::EgressOnlyInternetGateway(
                    assemble::egress_only_internet_gateway(&g)?,
                );
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::PublicIp(_)), V::PublicIp(p)) => {
                let item = EdgeItem::PublicIp(assemble::public_ip(&p));
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::NatGateway(_)), V::NatGateway(n)) => {
                let item = EdgeItem::NatGateway(assemble::nat_gateway(&n)?);
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::GatewayEndpoint(_)), V::GatewayEndpoint(e)) => {
                let item = EdgeItem::GatewayEndpoint(assemble::gateway_endpoint(&e)?);
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::VpnConnection(_)), V::VpnConnection(c)) => {
                let item = EdgeItem::VpnConnection(assemble::vpn_connection(&c)?);
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::TransitGatewayVpnRoutes(_)), V::TransitGatewayVpnRoutes(r)) => {
                let item =
                    EdgeItem::TransitGatewayVpnRoutes(assemble::transit_gateway_vpn_routes(&r)?);
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::TransitGatewayEgressRoutes(_)), V::TransitGatewayEgressRoutes(r)) => {
                let item = EdgeItem::TransitGatewayEgressRoutes(
                    assemble::transit_gateway_egress_routes(&r)?,
                );
                out.edge |= self.edge.insert(key.clone(), item.clone()) != Some(item);
            }
            (Some(K::FlowLog(o)), V::FlowLog(f)) => {
                let spec = assemble::flow_log(&o.vpc_id, &f)?;
                out.flow_logs |= self.flow_logs.insert(key.clone(), spec.clone()) != Some(spec);
            }
            (Some(K::PrivateZone(o)), V::PrivateZone(z)) => {
                out.dns |= put(&mut self.vpc(&o.vpc_id).zones, &o.id, z);
            }
            (Some(K::InstanceName(o)), V::InstanceName(n)) => {
                if n.instance_id != o.id {
                    return Err("an instance name's instance differs from its key's");
                }
                if !matches!(n.ipv6.len(), 0 | 16) {
                    return Err("an instance name's IPv6 address is not 16 bytes");
                }
                out.dns |= put(&mut self.vpc(&o.vpc_id).names, &o.id, n);
            }
            (Some(K::Instance(id)), V::Instance(i)) => {
                out.instances |= put(&mut self.instances, id, i);
            }
            _ => return Err(MISMATCH),
        }
        Ok(())
    }

    fn vpc(&mut self, id: &str) -> &mut VpcItems {
        self.vpcs.entry(id.to_owned()).or_default()
    }

    /// The routes of gateway route table `table` (IPv4's, then IPv6's), the routes of
    /// the peer gateways' tables its peering routes name joined in (one hop: theirs are
    /// left as they are).
    fn gateway_routes(
        &self,
        table: &str,
    ) -> (Vec<dp::TransitGatewayRoute>, Vec<dp::TransitGatewayRoute6>) {
        let routes = |t: &str| -> Vec<dp::TransitGatewayRoute> {
            self.transit_routes
                .get(t)
                .map(|t| t.values().cloned().collect())
                .unwrap_or_default()
        };
        let routes6 = |t: &str| -> Vec<dp::TransitGatewayRoute6> {
            self.transit_routes6
                .get(t)
                .map(|t| t.values().cloned().collect())
                .unwrap_or_default()
        };
        let across = |target: &mut dp::TransitGatewayTarget, v6: bool| {
            if let dp::TransitGatewayTarget::Peering {
                route_table_id,
                routes: theirs,
                routes_v6: theirs6,
                ..
            } = target
            {
                if v6 {
                    *theirs6 = routes6(route_table_id);
                } else {
                    *theirs = routes(route_table_id);
                }
            }
        };
        let mut out = routes(table);
        for r in &mut out {
            across(&mut r.target, false);
        }
        let mut out6 = routes6(table);
        for r in &mut out6 {
            across(&mut r.target, true);
        }
        (out, out6)
    }

    /// The host program without V2P: the VPCs whose headers the host holds, each with its
    /// subnets, tables, ACLs and groups (members filled in), and the host's ports.
    pub fn structure(&self, underlay: dp::Underlay) -> dp::HostProgram {
        let vpcs = self
            .vpcs
            .values()
            .filter_map(|items| {
                let mut v = items.header.clone()?;
                v.subnets = items.subnets.values().cloned().collect();
                v.route_tables = items.route_tables.values().cloned().collect();
                v.network_acls = items.network_acls.values().cloned().collect();
                v.transit_gateway_attachments = items
                    .transits
                    .values()
                    .map(|a| {
                        let (routes, routes_v6) = self.gateway_routes(&a.route_table_id);
                        dp::TransitGatewayAttachment {
                            routes,
                            routes_v6,
                            ..a.clone()
                        }
                    })
                    .collect();
                v.security_groups = items
                    .security_groups
                    .values()
                    .map(|g| {
                        let mut g = g.clone();
                        g.members = self.members(&v.id, &g.id);
                        g.members_v6 = items
                            .members_v6
                            .get(&g.id)
                            .map(|s| s.iter().copied().collect())
                            .unwrap_or_default();
                        g
                    })
                    .collect();
                v.mappings_v6 = items.mappings_v6.values().cloned().collect();
                Some(v)
            })
            .collect();
        let ports = self
            .ports
            .values()
            .map(|p| dp::Port {
                flow_logs: self.flow_logs.values().any(|f| f.covers(p)),
                ..p.clone()
            })
            .collect();
        dp::HostProgram {
            underlay,
            ports,
            vpcs,
        }
    }

    /// The members of a group, in address order.
    pub fn members(&self, vpc_id: &str, group_id: &str) -> Vec<Ipv4Addr> {
        self.vpcs
            .get(vpc_id)
            .and_then(|v| v.members.get(group_id))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The private hosted zones associated with a VPC the host serves.
    pub fn private_zones(&self, vpc_id: &str) -> impl Iterator<Item = &pb::PrivateZone> {
        self.vpcs
            .get(vpc_id)
            .into_iter()
            .flat_map(|v| v.zones.values())
    }

    /// The resource names of a VPC's instances, for its resolver.
    pub fn instance_names(&self, vpc_id: &str) -> impl Iterator<Item = &pb::InstanceName> {
        self.vpcs
            .get(vpc_id)
            .into_iter()
            .flat_map(|v| v.names.values())
    }

    /// The names of a VPC's interface endpoints, for its resolver.
    pub fn endpoint_names(&self, vpc_id: &str) -> impl Iterator<Item = &pb::VpcEndpointNames> {
        self.vpcs
            .get(vpc_id)
            .into_iter()
            .flat_map(|v| v.endpoints.values())
    }

    /// The host's ports that are interface endpoints' interfaces, by ENI.
    pub fn endpoint_ports(&self) -> &BTreeMap<String, pb::EndpointPort> {
        &self.endpoint_ports
    }

    /// Where a service Fort serves (`api`) is reached from this host.
    pub fn service_address(&self, name: &str) -> Option<std::net::SocketAddrV4> {
        self.services.get(name).copied()
    }

    /// The DNS attributes of a VPC the host serves.
    pub fn vpc_dns(&self, vpc_id: &str) -> Option<&VpcDns> {
        self.vpcs.get(vpc_id)?.dns.as_ref()
    }

    /// A subnet of a VPC the host serves.
    pub fn subnet(&self, vpc_id: &str, subnet_id: &str) -> Option<&dp::Subnet> {
        self.vpcs.get(vpc_id)?.subnets.get(subnet_id)
    }

    /// The VPC headers held (VNI, router MAC, ...).
    pub fn vpc_headers(&self) -> impl Iterator<Item = &dp::Vpc> {
        self.vpcs.values().filter_map(|v| v.header.as_ref())
    }

    /// The IPv6 V2P entries of each VPC whose header the host holds (the edge's lookup
    /// for IPv6 from the internet).
    pub fn mappings_v6(&self) -> impl Iterator<Item = (&dp::Vpc, &dp::Mapping6)> {
        self.vpcs
            .values()
            .filter_map(|v| Some((v.header.as_ref()?, v)))
            .flat_map(|(h, v)| v.mappings_v6.values().map(move |m| (h, m)))
    }

    /// The host's ports.
    pub fn ports(&self) -> impl Iterator<Item = &dp::Port> {
        self.ports.values()
    }

    /// The flow logs of the VPCs the host serves.
    pub fn flow_logs(&self) -> impl Iterator<Item = &FlowLogSpec> {
        self.flow_logs.values()
    }

    /// The instances running on the host, by id.
    pub fn instances(&self) -> &BTreeMap<String, pb::Instance> {
        &self.instances
    }

    /// The public addresses of the VPCs the host serves: (VPC, private, public).
    pub fn public_ips(&self) -> impl Iterator<Item = (&str, Ipv4Addr, Ipv4Addr)> {
        self.edge.values().filter_map(|e| match e {
            EdgeItem::PublicIp(p) => Some((p.vpc_id.as_str(), p.private_ip, p.public_ip)),
            _ => None,
        })
    }

    /// The edge's gateways and public addresses.
    pub fn edge_program(&self) -> EdgeProgram {
        EdgeProgram::from_items(self.edge.values().cloned())
    }

    /// Items held (V2P excluded; members count one each).
    pub fn len(&self) -> usize {
        let vpc = |v: &VpcItems| {
            usize::from(v.header.is_some())
                + v.subnets.len()
                + v.route_tables.len()
                + v.network_acls.len()
                + v.security_groups.len()
                + v.transits.len()
                + v.members.values().map(BTreeSet::len).sum::<usize>()
        };
        self.ports.len()
            + self.services.len()
            + self.instances.len()
            + self
                .transit_routes
                .values()
                .map(BTreeMap::len)
                .sum::<usize>()
            + self
                .transit_routes6
                .values()
                .map(BTreeMap::len)
                .sum::<usize>()
            + self.edge.len()
            + self.flow_logs.len()
            + self.vpcs.values().map(vpc).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything: the next session starts from a snapshot.
    pub fn reset(&mut self) {
        *self = HostState::default();
    }
}

/// A group's members, as the engine takes them: (VPC, group, addresses).
pub type MemberList = (String, String, Vec<Ipv4Addr>);

/// Changes on their way to the engine, coalesced: a snapshot drops the V2P changes before
/// it, a new structure the member lists before it (it holds them), and a group's newest
/// member list replaces its older ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramQueue {
    /// Clear V2P before the changes (a snapshot came).
    replace: bool,
    /// Groups whose members changed since the last structure: the newest list of each.
    members: BTreeMap<(String, String), Vec<Ipv4Addr>>,
    changes: Vec<V2pChange>,
}

impl ProgramQueue {
    pub fn push(&mut self, snapshot: bool, changes: Vec<V2pChange>) {
        if snapshot {
            self.replace = true;
            self.changes.clear();
        }
        self.changes.extend(changes);
    }

    /// A new structure is on its way to the engine: it carries every group's members.
    pub fn structure_changed(&mut self) {
        self.members.clear();
    }

    /// Groups whose members changed (and nothing else of the structure).
    pub fn push_members(&mut self, lists: Vec<MemberList>) {
        for (vpc, group, members) in lists {
            self.members.insert((vpc, group), members);
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.replace && self.members.is_empty() && self.changes.is_empty()
    }

    /// Programs `engine`: the new structure if there is one, then the groups whose members
    /// changed (recompiling only the ports that read them), then V2P in order. A structure
    /// the engine cannot hold (more ports or VPCs than it has slots) is refused whole, and
    /// nothing after it is applied.
    pub fn apply_to(
        self,
        engine: &mut Engine,
        structure: Option<dp::HostProgram>,
    ) -> Result<(), InstallError> {
        if self.replace {
            let mut p = structure.unwrap_or_else(|| engine.structure().clone());
            p.vpcs.iter_mut().for_each(|v| v.mappings.clear());
            engine.set_program(p)?;
        } else if let Some(s) = structure {
            engine.set_structure(s)?;
        }
        for ((vpc, group), members) in self.members {
            engine.set_group_members(&vpc, &group, &members);
        }
        for c in self.changes {
            match c {
                V2pChange::Put { vpc_id, mapping } => engine.upsert_mapping(&vpc_id, mapping),
                V2pChange::Delete { vpc_id, ip } => engine.remove_mapping(&vpc_id, ip),
            };
        }
        Ok(())
    }
}

/// What a host hands its engine after an update: the whole structure when more than
/// members changed, else the member lists of the groups that changed.
pub fn engine_changes(
    state: &HostState,
    applied: &Applied,
    underlay: &dp::Underlay,
) -> (Option<dp::HostProgram>, Vec<MemberList>) {
    if applied.structure {
        return (Some(state.structure(underlay.clone())), Vec::new());
    }
    let lists = applied
        .members
        .iter()
        .map(|(vpc, group)| (vpc.clone(), group.clone(), state.members(vpc, group)))
        .collect();
    (None, lists)
}

/// Sets a group's members in a structure kept beside the engine.
pub fn patch_members(program: &mut dp::HostProgram, lists: &[MemberList]) {
    for (vpc, group, members) in lists {
        if let Some(g) = program
            .vpcs
            .iter_mut()
            .filter(|v| &v.id == vpc)
            .flat_map(|v| v.security_groups.iter_mut())
            .find(|g| &g.id == group)
        {
            g.members.clone_from(members);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Cache;
    use fort_proto::mapping::{self as pb, Item, ItemValue};

    fn item(key: ItemKey, value: V) -> Item {
        Item {
            key: Some(key),
            value: Some(ItemValue { kind: Some(value) }),
        }
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn mapping(addr: &str) -> Item {
        item(
            ItemKey::mapping("vpc-1", ip(addr)),
            V::Mapping(pb::V2p {
                ip: ip(addr).into(),
                host: ip("127.0.0.2").into(),
                mac: vec![2, 0, 0, 0, 0, 1],
                eni_id: "eni-1".into(),
                source_dest_check: true,
                ipv6: vec![],
            }),
        )
    }

    fn member(addr: &str) -> Item {
        item(
            ItemKey::member("vpc-1", "sg-1", ip(addr)),
            V::Member(pb::Member {}),
        )
    }

    fn vpc_header() -> Item {
        item(
            ItemKey::vpc("vpc-1"),
            V::Vpc(pb::Vpc {
                id: "vpc-1".into(),
                vni: 7,
                cidrs: vec![pb::Ipv4Cidr {
                    address: ip("10.0.0.0").into(),
                    prefix_len: 16,
                }],
                router_mac: vec![6, 0, 0, 7, 0, 1],
                dhcp: Some(pb::DhcpOptions::default()),
                edges: vec![],
                peerings: vec![],
                ..Default::default()
            }),
        )
    }

    fn group() -> Item {
        item(
            ItemKey::security_group("vpc-1", "sg-1"),
            V::SecurityGroup(pb::SecurityGroup {
                id: "sg-1".into(),
                ingress: vec![pb::SgRule {
                    protocol: 6,
                    from_port: 22,
                    to_port: 22,
                    peer: Some(pb::sg_rule::Peer::Group("sg-1".into())),
                }],
                egress: vec![],
            }),
        )
    }

    fn update(
        base: u64,
        generation: u64,
        snapshot: bool,
        put: Vec<Item>,
        delete: Vec<ItemKey>,
    ) -> ProgramUpdate {
        ProgramUpdate {
            epoch: 1,
            base_generation: base,
            generation,
            snapshot,
            put,
            delete,
        }
    }

    /// The whole program a host holding every item would run: the structure plus every
    /// mapping, in address order.
    fn whole(cache: &Cache) -> dp::HostProgram {
        let mut state = HostState::default();
        let put = cache
            .items
            .iter()
            .map(|(k, v)| Item {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect();
        let applied = state
            .apply(update(0, 1, true, put, vec![]))
            .unwrap()
            .unwrap();
        let mut p = state.structure(dp::Underlay::default());
        for c in applied.v2p {
            if let V2pChange::Put { vpc_id, mapping } = c
                && let Some(v) = p.vpcs.iter_mut().find(|v| v.id == vpc_id)
            {
                v.mappings.push(mapping);
            }
        }
        p.vpcs
            .iter_mut()
            .for_each(|v| v.mappings.sort_by_key(|m| m.ip));
        p
    }

    /// The state plus the V2P changes, applied in order, give the engine the same program
    /// as a cache that keeps every item.
    #[test]
    fn agrees_with_the_whole_cache() {
        let updates = [
            update(
                0,
                1,
                true,
                vec![
                    vpc_header(),
                    group(),
                    mapping("10.0.0.5"),
                    member("10.0.0.5"),
                ],
                vec![],
            ),
            update(
                1,
                2,
                false,
                vec![mapping("10.0.0.6"), member("10.0.0.6")],
                vec![],
            ),
            update(
                2,
                3,
                false,
                vec![],
                vec![
                    ItemKey::mapping("vpc-1", ip("10.0.0.5")),
                    ItemKey::member("vpc-1", "sg-1", ip("10.0.0.5")),
                ],
            ),
            update(3, 4, false, vec![mapping("10.0.0.7")], vec![]),
        ];
        let mut state = HostState::default();
        let mut cache = Cache::default();
        let mut engine = fort_dataplane::Engine::new(Default::default());
        for (i, u) in updates.iter().enumerate() {
            let applied = state.apply(u.clone()).unwrap().unwrap();
            cache.apply(u.clone()).unwrap();
            assert_eq!(applied.structure, i == 0, "update {i}");
            assert_eq!(!applied.members.is_empty(), i != 3, "update {i}");
            let (structure, members) = engine_changes(&state, &applied, &dp::Underlay::default());
            assert_eq!(
                structure.is_some(),
                i == 0,
                "update {i}: members alone recompile less"
            );
            let mut queue = ProgramQueue::default();
            if structure.is_some() {
                queue.structure_changed();
            }
            queue.push_members(members);
            queue.push(applied.snapshot, applied.v2p);
            queue.apply_to(&mut engine, structure).unwrap();
            let mut ran = engine.program();
            ran.vpcs
                .iter_mut()
                .for_each(|v| v.mappings.sort_by_key(|m| m.ip));
            assert_eq!(ran, whole(&cache), "update {i}");
        }
        assert!(
            state.apply(updates[3].clone()).unwrap().is_none(),
            "a duplicate"
        );
        assert_eq!(state.apply(update(9, 10, false, vec![], vec![])), Err(Gap));
        assert_eq!(state.len(), 3, "vpc, group, one member");
    }

    /// A flow log on the subnet turns counting on for the ports it covers, and off again
    /// when it goes: the structure follows the flow logs.
    #[test]
    fn flow_logs_decide_which_ports_are_counted() {
        let port = item(
            ItemKey::port("eni-1"),
            V::Port(pb::Port {
                id: "eni-1".into(),
                vpc_id: "vpc-1".into(),
                subnet_id: "subnet-1".into(),
                mac: vec![2, 0, 0, 0, 0, 1],
                primary_ip: Some(ip("10.0.0.5").into()),
                ..Default::default()
            }),
        );
        let log_key = ItemKey::flow_log("vpc-1", "fl-1");
        let log = item(
            log_key.clone(),
            V::FlowLog(pb::FlowLog {
                id: "fl-1".into(),
                resource_id: "subnet-1".into(),
                traffic: pb::FlowLogTraffic::All.into(),
                window_seconds: 60,
            }),
        );
        let counted = |s: &HostState| s.structure(dp::Underlay::default()).ports[0].flow_logs;
        let mut state = HostState::default();
        state
            .apply(update(0, 1, true, vec![vpc_header(), port], vec![]))
            .unwrap();
        assert!(!counted(&state));
        let applied = state
            .apply(update(1, 2, false, vec![log], vec![]))
            .unwrap()
            .unwrap();
        assert!(applied.flow_logs && applied.structure);
        assert!(counted(&state));
        let applied = state
            .apply(update(2, 3, false, vec![], vec![log_key]))
            .unwrap()
            .unwrap();
        assert!(applied.structure);
        assert!(!counted(&state));
    }

    /// Instance names are the resolver's: they come and go with their items, and a name
    /// filed under another instance's key is refused.
    #[test]
    fn instance_names_are_kept_per_vpc() {
        let name = |id: &str, key_id: &str| {
            item(
                ItemKey::instance_name("vpc-1", key_id),
                V::InstanceName(pb::InstanceName {
                    instance_id: id.into(),
                    ip: Some(ip("10.0.0.5").into()),
                    hostname_type: pb::HostnameType::ResourceName.into(),
                    a_record: true,
                    aaaa_record: false,
                    ipv6: Vec::new(),
                }),
            )
        };
        let mut state = HostState::default();
        let applied = state
            .apply(update(
                0,
                1,
                true,
                vec![vpc_header(), name("i-1", "i-1"), name("i-2", "i-3")],
                vec![],
            ))
            .unwrap()
            .unwrap();
        assert!(applied.dns);
        assert_eq!(applied.malformed.len(), 1, "{:?}", applied.malformed);
        let held: Vec<&str> = state
            .instance_names("vpc-1")
            .map(|n| n.instance_id.as_str())
            .collect();
        assert_eq!(held, ["i-1"]);
        let applied = state
            .apply(update(
                1,
                2,
                false,
                vec![],
                vec![ItemKey::instance_name("vpc-1", "i-1")],
            ))
            .unwrap()
            .unwrap();
        assert!(applied.dns && !applied.structure);
        assert_eq!(state.instance_names("vpc-1").count(), 0);
    }

    /// IPv6 items (contract 7): blocks, routes, ACL entries and rules join the
    /// structure; IPv6 mappings and members are held and handed over with it.
    #[test]
    fn ipv6_items_join_the_structure() {
        let a6: Ipv6Addr = "2001:db8:1:1::a".parse().unwrap();
        let six = |a: Ipv6Addr, len: u32| pb::Ipv6Cidr {
            address: a.octets().to_vec(),
            prefix_len: len,
        };
        let mut header = vpc_header();
        if let Some(ItemValue {
            kind: Some(V::Vpc(v)),
        }) = &mut header.value
        {
            v.ipv6_cidrs = vec![six("2001:db8:1::".parse().unwrap(), 56)];
        }
        let table = item(
            ItemKey::route_table("vpc-1", "rtb-1"),
            V::RouteTable(pb::RouteTable {
                id: "rtb-1".into(),
                routes: vec![
                    pb::Route {
                        destination: Some(pb::Ipv4Cidr {
                            address: ip("10.0.0.0").into(),
                            prefix_len: 16,
                        }),
                        target: Some(pb::RouteTarget {
                            kind: Some(pb::route_target::Kind::Local(pb::Empty {})),
                        }),
                        destination_ipv6: None,
                    },
                    pb::Route {
                        destination: None,
                        target: Some(pb::RouteTarget {
                            kind: Some(pb::route_target::Kind::Local(pb::Empty {})),
                        }),
                        destination_ipv6: Some(six("2001:db8:1::".parse().unwrap(), 56)),
                    },
                ],
            }),
        );
        let mut g = group();
        if let Some(ItemValue {
            kind: Some(V::SecurityGroup(g)),
        }) = &mut g.value
        {
            g.egress.push(pb::SgRule {
                protocol: -1,
                from_port: -1,
                to_port: -1,
                peer: Some(pb::sg_rule::Peer::Ipv6Cidr(six(Ipv6Addr::UNSPECIFIED, 0))),
            });
        }
        let map6 = |a: Ipv6Addr, bytes: usize| {
            item(
                ItemKey::mapping_v6("vpc-1", a),
                V::MappingV6(pb::V2p {
                    ip: 0,
                    host: ip("127.0.0.2").into(),
                    mac: vec![2, 0, 0, 0, 0, 1],
                    eni_id: "eni-1".into(),
                    source_dest_check: true,
                    ipv6: a.octets()[..bytes].to_vec(),
                }),
            )
        };
        let member6 = item(
            ItemKey::member_v6("vpc-1", "sg-1", a6),
            V::MemberV6(pb::Member {}),
        );
        let bad: Ipv6Addr = "2001:db8:1:1::b".parse().unwrap();
        let mut state = HostState::default();
        let applied = state
            .apply(update(
                0,
                1,
                true,
                vec![header, table, g, map6(a6, 16), map6(bad, 15), member6],
                vec![],
            ))
            .unwrap()
            .unwrap();
        assert_eq!(applied.malformed.len(), 1, "a 15-byte address");
        let p = state.structure(dp::Underlay::default());
        let v = &p.vpcs[0];
        assert_eq!(v.ipv6_cidrs, vec!["2001:db8:1::/56".parse().unwrap()]);
        assert_eq!(v.route_tables[0].routes.len(), 1);
        assert_eq!(v.route_tables[0].routes_v6.len(), 1);
        assert_eq!(v.security_groups[0].members_v6, vec![a6]);
        assert!(matches!(
            v.security_groups[0].egress[0].peer,
            dp::SgPeer::Cidr6(_)
        ));
        assert_eq!(v.mappings_v6.len(), 1);
        assert_eq!(v.mappings_v6[0].ip, a6);
        // deleting them is a change of structure
        let applied = state
            .apply(update(
                1,
                2,
                false,
                vec![],
                vec![
                    ItemKey::mapping_v6("vpc-1", a6),
                    ItemKey::member_v6("vpc-1", "sg-1", a6),
                ],
            ))
            .unwrap()
            .unwrap();
        assert!(applied.structure);
        let p = state.structure(dp::Underlay::default());
        assert!(p.vpcs[0].mappings_v6.is_empty());
        assert!(p.vpcs[0].security_groups[0].members_v6.is_empty());
    }

    /// A value that makes no sense is skipped and said, never half-applied.
    #[test]
    fn malformed_items_are_skipped() {
        let mut bad_mac = mapping("10.0.0.9");
        if let Some(ItemValue {
            kind: Some(V::Mapping(m)),
        }) = &mut bad_mac.value
        {
            m.mac = vec![1, 2, 3];
        }
        let mismatched = Item {
            key: Some(ItemKey::port("eni-9")),
            value: vpc_header().value,
        };
        let mut state = HostState::default();
        let applied = state
            .apply(update(
                0,
                1,
                true,
                vec![vpc_header(), bad_mac, mismatched],
                vec![],
            ))
            .unwrap()
            .unwrap();
        assert_eq!(applied.malformed.len(), 2, "{:?}", applied.malformed);
        assert!(applied.v2p.is_empty());
        assert_eq!(state.structure(dp::Underlay::default()).ports, []);
    }
}
