//! From the control plane's state to host programs, one item at a time.
//!
//! A host program is a set of items (see the proto): each stored row of the control
//! plane contributes some of them — a VPC row its header, a subnet row its subnet, an
//! interface row its V2P mappings, its group memberships and, when it is placed on a
//! host, that host's port. When a change touches rows, only those rows (and the few
//! whose items read them: the subnets of a VPC whose tables changed, the route tables
//! whose targets changed) are derived again, and the difference is what hosts receive.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use std::sync::Arc;

use fort_control::region::Host;
use fort_control::route_table::route_state;
use fort_control::{Region, World};
use fort_model::{
    EndpointInterface, FlowLog, FlowLogResourceType, NetworkInterface, RouteDestination,
    RouteTarget, RulePeer, TrafficType, VpcEndpoint, VpcEndpointType,
};
use fort_proto::mapping::item_value::Kind as V;
use fort_proto::mapping::{self as pb, ItemKey, ItemValue};
use fort_proto::wire::EncodedValue;
use ipnet::{Ipv4Net, Ipv6Net};

/// The name of the service item that says where Fort's API is reached.
pub const API_SERVICE: &str = "api";

/// An item's value, encoded once and shared by every host's update that carries it.
pub type Value = Arc<EncodedValue>;

/// Items by key.
pub type Items = BTreeMap<ItemKey, Value>;

/// What one stored row contributes to host programs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contribution {
    /// The VPC the items belong to.
    pub vpc: Option<String>,
    /// Items every host serving the VPC holds.
    pub items: Items,
    /// An item of one host's own (a port, an instance): (host id, key, value).
    pub host_item: Option<(String, ItemKey, Value)>,
}

/// A row of the control plane, as the store names it: `r/ACCOUNT/REGION/TABLE/ID`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub account: String,
    pub region: String,
    pub table: String,
    pub id: String,
}

impl RowKey {
    pub fn parse(key: &str) -> Option<RowKey> {
        let mut parts = key.splitn(5, '/');
        if parts.next()? != "r" {
            return None;
        }
        Some(RowKey {
            account: parts.next()?.to_owned(),
            region: parts.next()?.to_owned(),
            table: parts.next()?.to_owned(),
            id: parts.next()?.to_owned(),
        })
    }

    fn sibling(&self, table: &str, id: &str) -> RowKey {
        RowKey {
            account: self.account.clone(),
            region: self.region.clone(),
            table: table.into(),
            id: id.into(),
        }
    }
}

fn value(kind: V) -> Value {
    Arc::new(EncodedValue::new(ItemValue { kind: Some(kind) }))
}

fn cidr6(n: Ipv6Net) -> pb::Ipv6Cidr {
    pb::Ipv6Cidr {
        address: n.network().octets().to_vec(),
        prefix_len: n.prefix_len().into(),
    }
}

/// An IPv6 block as the model keeps it (text), for the contract; `None` if it does not
/// parse (control validated it: never).
fn cidr6_text(text: &str) -> Option<pb::Ipv6Cidr> {
    text.parse::<Ipv6Net>().ok().map(cidr6)
}

fn cidr(n: Ipv4Net) -> pb::Ipv4Cidr {
    pb::Ipv4Cidr {
        address: n.addr().into(),
        prefix_len: n.prefix_len().into(),
    }
}

/// The MAC of a VPC's implicit router: locally administered, derived from the VNI.
pub fn router_mac(vni: u32) -> [u8; 6] {
    let [_, a, b, c] = vni.to_be_bytes();
    [0x06, a, b, c, 0x00, 0x01]
}

/// An interface's MAC as six bytes (all zero if the stored text is not a MAC).
fn mac_bytes(text: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        match parts.next().map(|p| u8::from_str_radix(p, 16)) {
            Some(Ok(v)) => *b = v,
            _ => return [0; 6],
        }
    }
    if parts.next().is_some() { [0; 6] } else { out }
}

fn region<'w>(world: &'w World, row: &RowKey) -> Option<&'w Region> {
    world
        .regions
        .get(&(row.account.clone(), row.region.clone()))
}

/// The live interface endpoint whose interface `eni` is, and that interface's entry.
fn endpoint_of<'r>(
    region: &'r Region,
    eni: &NetworkInterface,
) -> Option<(&'r VpcEndpoint, &'r EndpointInterface)> {
    if eni.interface_type != "vpc_endpoint" {
        return None;
    }
    region
        .vpc_endpoints
        .values()
        .filter(|e| e.is_live() && e.endpoint_type == VpcEndpointType::Interface)
        .find_map(|e| {
            let i = e
                .interfaces
                .iter()
                .find(|i| i.network_interface_id == eni.id)?;
            Some((e, i))
        })
}

/// The host an interface's instance runs on, if it is placed and running (or, for an
/// interface endpoint's interface, the host it was placed on).
fn placement<'w>(world: &'w World, region: &Region, eni: &NetworkInterface) -> Option<&'w Host> {
    if let Some((_, i)) = endpoint_of(region, eni) {
        return world.global.hosts.get(i.host_id.as_deref()?);
    }
    let attachment = eni.attachment.as_ref()?;
    let instance = region.instances.get(&attachment.instance_id)?;
    if !matches!(instance.state.as_str(), "pending" | "running") {
        return None;
    }
    world.global.hosts.get(instance.host_id.as_deref()?)
}

/// Derives what `row` contributes now (nothing if it is gone).
pub fn contribution(world: &World, row: &RowKey, memo: &mut Memo) -> Contribution {
    let Some(r) = region(world, row) else {
        return Contribution::default();
    };
    let id = row.id.as_str();
    let mut c = Contribution::default();
    match row.table.as_str() {
        "vpc" => {
            if let Some(v) = r.vpcs.get(id) {
                c.vpc = Some(v.id.to_string());
                let mut header = vpc_header(r, v);
                header.edges = edges(world, r, v);
                header.peerings = active_peerings(world, &v.id)
                    .map(|(id, peer)| pb::Peering {
                        id: id.to_owned(),
                        peer_vpc_id: peer.vpc_id.to_string(),
                        peer_allows_dns_resolution: peer.allow_dns_resolution_from_remote_vpc,
                    })
                    .collect();
                c.items.insert(ItemKey::vpc(id), value(V::Vpc(header)));
                // the private hosted zones its resolver answers from
                for z in fort_control::route53::zones_for_vpc(
                    &world.global,
                    &row.account,
                    &row.region,
                    id,
                ) {
                    c.items.insert(
                        ItemKey::private_zone(id, &z.id),
                        value(V::PrivateZone(private_zone(z))),
                    );
                }
            }
        }
        "subnet" => {
            // An IPv6-only subnet's item has no IPv4 block (contract 12).
            if let Some(s) = r.subnets.get(id) {
                c.vpc = Some(s.vpc_id.to_string());
                let route_table_id = r
                    .subnet_route_table(id)
                    .map(|t| t.id.to_string())
                    .unwrap_or_default();
                let network_acl_id = r
                    .network_acls
                    .values()
                    .find(|a| a.associations.iter().any(|x| x.subnet_id == id))
                    .map(|a| a.id.to_string())
                    .unwrap_or_default();
                let item = pb::Subnet {
                    id: s.id.to_string(),
                    cidr: s.cidr.map(cidr),
                    route_table_id,
                    network_acl_id,
                    availability_zone: s.availability_zone.clone(),
                    ipv6_cidr: s.ipv6_cidr().map(cidr6),
                };
                c.items
                    .insert(ItemKey::subnet(&s.vpc_id, id), value(V::Subnet(item)));
            }
        }
        "transit-gateway-vpc-attachment" => {
            if let Some(a) = r.transit_gateway_vpc_attachments.get(id)
                && let Some(mut item) =
                    transit_gateway_attachment(r, a, memo.senders(world, r, row, a))
            {
                item.peer_route_table_ids = peer_route_tables(world, r, a);
                c.vpc = Some(a.vpc_id.to_string());
                c.items.insert(
                    ItemKey::transit_gateway_attachment(&a.vpc_id, id),
                    value(V::TransitGatewayAttachment(item)),
                );
                for routes in transit_vpn_routes_into(world, r, a) {
                    c.items.insert(
                        ItemKey::transit_gateway_vpn_routes(&a.vpc_id, &routes.vpn_connection_id),
                        value(V::TransitGatewayVpnRoutes(routes)),
                    );
                }
                for routes in transit_egress_routes_into(world, r, row, a, memo) {
                    c.items.insert(
                        ItemKey::transit_gateway_egress_routes(
                            &a.vpc_id,
                            &routes.egress_attachment_id,
                        ),
                        value(V::TransitGatewayEgressRoutes(routes)),
                    );
                }
            }
        }
        // A gateway route table's routes, scoped by the table's id: the hosts of the VPCs
        // whose attachments are associated with it hold them.
        "transit-gateway-route-table" => {
            if let Some(t) = r.transit_gateway_route_tables.get(id)
                && t.is_live()
            {
                c.vpc = Some(id.to_owned());
                for (destination, route) in gateway_routes(world, r, t) {
                    c.items.insert(
                        ItemKey::transit_gateway_route(
                            id,
                            destination.network(),
                            destination.prefix_len(),
                        ),
                        value(V::TransitGatewayRoute(route)),
                    );
                }
                for (destination, route) in gateway_routes6(world, r, t) {
                    c.items.insert(
                        ItemKey::transit_gateway_route6(
                            id,
                            destination.network(),
                            destination.prefix_len(),
                        ),
                        value(V::TransitGatewayRoute(route)),
                    );
                }
            }
        }
        "route-table" => {
            if let Some(t) = r.route_tables.get(id) {
                c.vpc = Some(t.vpc_id.to_string());
                // A route to a prefix list is a route to each of its IPv4 entries; a static
                // route to the same block wins over it (VPC guide, "Route priority").
                let statics: Vec<Ipv4Net> = t
                    .routes
                    .iter()
                    .filter_map(|route| match route.destination {
                        RouteDestination::Cidr(n) => Some(n),
                        _ => None,
                    })
                    .collect();
                let mut listed = Vec::new();
                let mut routes = Vec::new();
                // the table's own routes, then those its virtual private gateways propagate
                for route in &r.effective_routes(t) {
                    if let RouteDestination::Ipv6Cidr(text) = &route.destination {
                        routes.extend(route_v6(r, world, t, route, text));
                        continue;
                    }
                    let destinations = match &route.destination {
                        RouteDestination::Cidr(n) => vec![*n],
                        RouteDestination::PrefixList(pl) => prefix_list_v4(r, pl)
                            .filter(|n| !statics.contains(n) && !listed.contains(n))
                            .collect(),
                        _ => continue,
                    };
                    let target = if route_state(r, &world.global, t, route)
                        == fort_model::RouteState::Blackhole
                    {
                        Target::Blackhole(pb::Empty {})
                    } else {
                        route_target(r, &route.target)
                    };
                    if matches!(route.destination, RouteDestination::PrefixList(_)) {
                        listed.extend(destinations.iter().copied());
                    }
                    routes.extend(destinations.into_iter().map(|d| pb::Route {
                        destination_ipv6: None,
                        destination: Some(cidr(d)),
                        target: Some(pb::RouteTarget {
                            kind: Some(target.clone()),
                        }),
                    }));
                }
                c.items.insert(
                    ItemKey::route_table(&t.vpc_id, id),
                    value(V::RouteTable(pb::RouteTable {
                        id: t.id.to_string(),
                        routes,
                    })),
                );
            }
        }
        "network-acl" => {
            if let Some(a) = r.network_acls.get(id) {
                c.vpc = Some(a.vpc_id.to_string());
                let entries = a
                    .entries
                    .iter()
                    .filter_map(|e| {
                        let (v4, v6) = match (e.cidr, e.ipv6_cidr.as_deref()) {
                            (Some(n), _) => (Some(cidr(n)), None),
                            (None, Some(text)) => (None, Some(cidr6_text(text)?)),
                            (None, None) => return None,
                        };
                        Some(pb::NaclEntry {
                            rule_number: e.rule_number.into(),
                            egress: e.egress,
                            protocol: e.protocol.as_i16().into(),
                            allow: e.allow,
                            cidr: v4,
                            ipv6_cidr: v6,
                            port_range: e.port_range.map(|(from, to)| pb::PortRange {
                                from: clamp_port(from),
                                to: clamp_port(to),
                            }),
                            icmp: e
                                .icmp
                                .map(|(r#type, code)| pb::IcmpTypeCode { r#type, code }),
                        })
                    })
                    .collect();
                c.items.insert(
                    ItemKey::network_acl(&a.vpc_id, id),
                    value(V::NetworkAcl(pb::NetworkAcl {
                        id: a.id.to_string(),
                        entries,
                    })),
                );
            }
        }
        "security-group" => {
            if let Some(g) = r.security_groups.get(id) {
                c.vpc = Some(g.vpc_id.to_string());
                let mut item = pb::SecurityGroup {
                    id: g.id.to_string(),
                    ingress: Vec::new(),
                    egress: Vec::new(),
                };
                for rule in &g.rules {
                    // a rule naming a prefix list is a rule for each of its IPv4 entries
                    let peers: Vec<pb::sg_rule::Peer> = match &rule.peer {
                        RulePeer::Cidr(n) => vec![pb::sg_rule::Peer::Cidr(cidr(*n))],
                        RulePeer::Group { group_id, .. } => {
                            vec![pb::sg_rule::Peer::Group(group_id.to_string())]
                        }
                        RulePeer::PrefixList(pl) => prefix_list_v4(r, pl)
                            .map(|n| pb::sg_rule::Peer::Cidr(cidr(n)))
                            .collect(),
                        RulePeer::Ipv6Cidr(text) => match cidr6_text(text) {
                            Some(c) => vec![pb::sg_rule::Peer::Ipv6Cidr(c)],
                            None => continue,
                        },
                    };
                    let Some(protocol) = protocol_number(rule.protocol) else {
                        continue;
                    };
                    let rules = if rule.egress {
                        &mut item.egress
                    } else {
                        &mut item.ingress
                    };
                    rules.extend(peers.into_iter().map(|peer| pb::SgRule {
                        protocol: protocol.into(),
                        from_port: rule.from_port,
                        to_port: rule.to_port,
                        peer: Some(peer),
                    }));
                }
                c.items.insert(
                    ItemKey::security_group(&g.vpc_id, id),
                    value(V::SecurityGroup(item)),
                );
            }
        }
        // The edge's items: gateways attached and public addresses mapped.
        "internet-gateway" => {
            if let Some(g) = r.internet_gateways.get(id)
                && let Some(v) = g.vpc_id.as_ref().and_then(|v| r.vpcs.get(v))
            {
                c.vpc = Some(v.id.to_string());
                let item = pb::InternetGateway {
                    vpc_id: v.id.to_string(),
                    igw_id: g.id.to_string(),
                    vni: v.vni,
                    cidrs: v.cidrs().map(cidr).collect(),
                    ipv6_cidrs: v.ipv6_cidrs().map(cidr6).collect(),
                };
                c.items.insert(
                    ItemKey::internet_gateway(&v.id, &g.id),
                    value(V::InternetGateway(item)),
                );
            }
        }
        "egress-only-internet-gateway" => {
            if let Some(g) = r.egress_only_internet_gateways.get(id)
                && let Some(v) = r.vpcs.get(&g.vpc_id)
            {
                c.vpc = Some(v.id.to_string());
                let item = pb::EgressOnlyInternetGateway {
                    vpc_id: v.id.to_string(),
                    eigw_id: g.id.to_string(),
                    vni: v.vni,
                    ipv6_cidrs: v.ipv6_cidrs().map(cidr6).collect(),
                };
                c.items.insert(
                    ItemKey::egress_only_internet_gateway(&v.id, &g.id),
                    value(V::EgressOnlyInternetGateway(item)),
                );
            }
        }
        "natgateway" => {
            if let Some(n) = r.nat_gateways.get(id)
                && let Some(v) = r.vpcs.get(&n.vpc_id)
                && let Some((a, public_ip)) = n
                    .addresses
                    .iter()
                    .filter(|a| a.is_primary)
                    .find_map(|a| Some((a, a.public_ip?)))
            {
                c.vpc = Some(v.id.to_string());
                use pb::NatGatewayState as S;
                let state = match n.state.as_str() {
                    "pending" => S::Pending,
                    "available" => S::Available,
                    "deleting" => S::Deleting,
                    "deleted" => S::Deleted,
                    _ => S::Failed,
                };
                let item = pb::NatGateway {
                    vpc_id: v.id.to_string(),
                    nat_id: n.id.to_string(),
                    vni: v.vni,
                    subnet_id: n.subnet_id.to_string(),
                    private_ip: a.private_ip.into(),
                    public_ip: public_ip.into(),
                    state: state.into(),
                    secondary_public_ips: n
                        .addresses
                        .iter()
                        .filter(|a| !a.is_primary)
                        .filter_map(|a| a.public_ip.map(u32::from))
                        .collect(),
                };
                c.items.insert(
                    ItemKey::nat_gateway(&v.id, &n.id),
                    value(V::NatGateway(item)),
                );
            }
        }
        // A flow log is an item of the VPC it watches (directly, or through a subnet or
        // an interface of it): hosts match it to their ports.
        "flow-log" => {
            if let Some(f) = r.flow_logs.get(id)
                && let Some(vpc) = flow_log_vpc(r, f)
            {
                let traffic = match f.traffic_type {
                    TrafficType::All => pb::FlowLogTraffic::All,
                    TrafficType::Accept => pb::FlowLogTraffic::Accept,
                    TrafficType::Reject => pb::FlowLogTraffic::Reject,
                };
                let item = pb::FlowLog {
                    id: f.id.to_string(),
                    resource_id: f.resource_id.clone(),
                    traffic: traffic.into(),
                    window_seconds: f.max_aggregation_interval,
                };
                c.items
                    .insert(ItemKey::flow_log(&vpc, id), value(V::FlowLog(item)));
                c.vpc = Some(vpc);
            }
        }
        "network-interface" => {
            if let Some(e) = r.network_interfaces.get(id) {
                c.vpc = Some(e.vpc_id.to_string());
                for a in &e.associations {
                    let item = pb::PublicIp {
                        vpc_id: e.vpc_id.to_string(),
                        public_ip: a.public_ip.into(),
                        private_ip: a.private_ip.into(),
                        eni_id: e.id.to_string(),
                    };
                    c.items.insert(
                        ItemKey::public_ip(&e.vpc_id, a.public_ip),
                        value(V::PublicIp(item)),
                    );
                }
                // an instance's resource name, answered by its VPC's resolver on every host
                if let Some((i, options)) = named_instance(r, e) {
                    let item = pb::InstanceName {
                        instance_id: i.to_owned(),
                        ip: e.private_ip.map(u32::from),
                        hostname_type: hostname_type(options.hostname_type).into(),
                        a_record: options.enable_resource_name_dns_a_record,
                        aaaa_record: options.enable_resource_name_dns_aaaa_record,
                        ipv6: e
                            .ipv6_addresses
                            .first()
                            .map(|a| a.octets().to_vec())
                            .unwrap_or_default(),
                    };
                    c.items.insert(
                        ItemKey::instance_name(&e.vpc_id, i),
                        value(V::InstanceName(item)),
                    );
                }
                let member = value(V::Member(pb::Member {}));
                for ip in e.private_ips() {
                    for g in &e.security_groups {
                        c.items
                            .insert(ItemKey::member(&e.vpc_id, g, ip), member.clone());
                    }
                }
                interface_v6(world, r, e, &mut c);
                if let Some(host) = placement(world, r, e) {
                    let mac = mac_bytes(&e.mac_address).to_vec();
                    for ip in e.private_ips() {
                        let m = pb::V2p {
                            ip: ip.into(),
                            host: host.underlay.into(),
                            mac: mac.clone(),
                            eni_id: e.id.to_string(),
                            source_dest_check: e.source_dest_check,
                            ipv6: Vec::new(),
                        };
                        c.items
                            .insert(ItemKey::mapping(&e.vpc_id, ip), value(V::Mapping(m)));
                    }
                    let port = pb::Port {
                        id: e.id.to_string(),
                        vpc_id: e.vpc_id.to_string(),
                        subnet_id: e.subnet_id.to_string(),
                        mac,
                        primary_ip: e.private_ip.map(u32::from),
                        secondary_ips: e.secondary_ips.iter().map(|&a| a.into()).collect(),
                        security_groups: e
                            .security_groups
                            .iter()
                            .map(ToString::to_string)
                            .collect(),
                        source_dest_check: e.source_dest_check,
                        // The engine's defaults (AWS's).
                        conntrack: None,
                        hostname: Some(host_label(r, e)),
                        instance_id: e.attachment.as_ref().map(|a| a.instance_id.to_string()),
                        device_index: e.attachment.as_ref().map_or(0, |a| a.device_index),
                        endpoint: endpoint_of(r, e).map(|(v, _)| pb::EndpointPort {
                            vpc_endpoint_id: v.id.to_string(),
                            service: v.service_short(&r.name).to_owned(),
                        }),
                        ipv6_addresses: e
                            .ipv6_addresses
                            .iter()
                            .map(|a| a.octets().to_vec())
                            .collect(),
                    };
                    c.host_item = Some((host.id.clone(), ItemKey::port(id), value(V::Port(port))));
                }
            }
        }
        // An interface endpoint's names, answered by its VPC's resolver on every host; a
        // gateway endpoint's item, for the edge.
        "vpc-endpoint" => {
            if let Some(e) = r.vpc_endpoints.get(id)
                && let Some(item) = endpoint_names(r, e)
            {
                c.vpc = Some(e.vpc_id.to_string());
                c.items.insert(
                    ItemKey::vpc_endpoint(&e.vpc_id, id),
                    value(V::VpcEndpoint(item)),
                );
            }
            if let Some(e) = r.vpc_endpoints.get(id)
                && is_gateway_endpoint(e)
                && let Some(v) = r.vpcs.get(&e.vpc_id)
            {
                c.vpc = Some(v.id.to_string());
                let destinations = fort_model::aws_managed_prefix_lists(&r.name)
                    .into_iter()
                    .find(|l| l.name == e.service_name)
                    .map(|l| l.entries().to_vec())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|x| match x.cidr {
                        ipnet::IpNet::V4(n) => Some(cidr(n)),
                        ipnet::IpNet::V6(_) => None,
                    })
                    .collect();
                let item = pb::GatewayEndpoint {
                    vpc_id: v.id.to_string(),
                    vpc_endpoint_id: e.id.to_string(),
                    vni: v.vni,
                    cidrs: v.cidrs().map(cidr).collect(),
                    destinations,
                };
                c.items.insert(
                    ItemKey::gateway_endpoint(&v.id, id),
                    value(V::GatewayEndpoint(item)),
                );
            }
        }
        // A VPN connection whose virtual private gateway is attached: the edge's item.
        "vpn-connection" => {
            if let Some(conn) = r.vpn_connections.get(id)
                && conn.is_live()
                && let Some(item) =
                    vpn_connection(r, conn).or_else(|| transit_vpn_connection(world, r, conn))
            {
                c.vpc = Some(item.vpc_id.clone());
                c.items.insert(
                    ItemKey::vpn_connection(&item.vpc_id, id),
                    value(V::VpnConnection(item)),
                );
            }
        }
        "instance" => {
            if let Some(i) = r.instances.get(id)
                && let Some(host) = i.host_id.as_deref().and_then(|h| world.global.hosts.get(h))
                && matches!(i.state.as_str(), "pending" | "running")
            {
                let item = instance_item(r, row, i);
                c.host_item = Some((
                    host.id.clone(),
                    ItemKey::instance(id),
                    value(V::Instance(item)),
                ));
            }
        }
        _ => {}
    }
    c
}

/// A gateway endpoint that carries traffic: available (its routes are in its tables).
fn is_gateway_endpoint(e: &VpcEndpoint) -> bool {
    e.endpoint_type == VpcEndpointType::Gateway
        && e.state == fort_model::VpcEndpointState::Available
}

/// The names of an available interface endpoint with the addresses each answers: its
/// interfaces' (a zonal name: the one in that zone). None for one with no names.
fn endpoint_names(r: &Region, e: &VpcEndpoint) -> Option<pb::VpcEndpointNames> {
    let interfaces: Vec<(String, Ipv4Addr)> = e
        .interfaces
        .iter()
        .filter_map(|i| {
            let eni = r.network_interfaces.get(&i.network_interface_id)?;
            Some((eni.availability_zone.clone(), eni.private_ip?))
        })
        .collect();
    let zones: Vec<String> = interfaces.iter().map(|(z, _)| z.clone()).collect();
    let names: Vec<pb::EndpointName> = e
        .dns_names(&r.name, &zones)
        .into_iter()
        .map(|n| pb::EndpointName {
            ips: interfaces
                .iter()
                .filter(|(z, _)| n.zone.as_ref().is_none_or(|want| want == z))
                .map(|(_, ip)| u32::from(*ip))
                .collect(),
            name: n.name,
        })
        .collect();
    (!names.is_empty()).then(|| pb::VpcEndpointNames {
        vpc_endpoint_id: e.id.to_string(),
        names,
    })
}

/// The instance whose primary interface `e` is, and its hostname options, while it
/// lives (stopped too: it keeps its address and its name).
fn named_instance<'r>(
    r: &'r Region,
    e: &NetworkInterface,
) -> Option<(&'r str, &'r fort_model::dns_name::PrivateDnsNameOptions)> {
    let a = e.attachment.as_ref().filter(|a| a.device_index == 0)?;
    let i = r.instances.get(&a.instance_id)?;
    if matches!(
        i.state,
        fort_model::InstanceState::Terminated | fort_model::InstanceState::ShuttingDown
    ) {
        return None;
    }
    Some((i.id.as_str(), &i.private_dns_name_options))
}

/// The host name DHCP gives an interface: its instance's resource name's label (the
/// instance id) for a resource-named instance's primary interface, else its IP name.
fn host_label(r: &Region, e: &NetworkInterface) -> String {
    match named_instance(r, e) {
        Some((id, o)) => {
            fort_model::dns_name::instance_host_label(o.hostname_type, id, e.private_ip)
        }
        // an interface without IPv4 (of an IPv6-only subnet) is named by its id
        None => e.private_ip.map_or_else(|| e.id.to_string(), ip_name),
    }
}

fn hostname_type(t: fort_model::dns_name::HostnameType) -> pb::HostnameType {
    match t {
        fort_model::dns_name::HostnameType::IpName => pb::HostnameType::IpName,
        fort_model::dns_name::HostnameType::ResourceName => pb::HostnameType::ResourceName,
    }
}

/// A private hosted zone as hosts need it: names, types, TTLs and values.
fn private_zone(z: &fort_control::route53::HostedZone) -> pb::PrivateZone {
    pb::PrivateZone {
        name: z.name.to_ascii_lowercase(),
        records: z
            .records
            .iter()
            .map(|r| pb::ZoneRecordSet {
                name: r.name.to_ascii_lowercase(),
                r#type: r.rr_type.to_string(),
                ttl: r.ttl.and_then(|t| u32::try_from(t).ok()).unwrap_or(60),
                values: r.records.clone(),
                alias: r.alias.as_ref().map(|a| a.dns_name.to_ascii_lowercase()),
            })
            .collect(),
    }
}

/// What an instance's metadata service needs beyond the host's own items.
fn instance_item(r: &Region, row: &RowKey, i: &fort_model::Instance) -> pb::Instance {
    use base64::Engine as _;
    let o = &i.metadata_options;
    let tags = o.instance_metadata_tags == "enabled";
    let security_group_names = r
        .network_interfaces
        .values()
        .filter(|e| e.attachment.as_ref().is_some_and(|a| a.instance_id == i.id))
        .flat_map(|e| &e.security_groups)
        .filter_map(|g| r.security_groups.get(g.as_str()))
        .map(|g| (g.id.to_string(), g.name.clone()))
        .collect();
    let architecture = fort_control::image::find_instance_type(&i.instance_type)
        .and_then(|t| t.architectures.first())
        .map_or("x86_64", |a| a.trim_end_matches("_mac"));
    pb::Instance {
        id: i.id.to_string(),
        account_id: row.account.clone(),
        region: row.region.clone(),
        availability_zone: i.availability_zone.clone(),
        availability_zone_id: fort_control::zones::find_zone(&row.region, &i.availability_zone)
            .map(|z| z.id)
            .unwrap_or_default(),
        image_id: i.image_id.clone(),
        instance_type: i.instance_type.clone(),
        reservation_id: i.reservation_id.to_string(),
        ami_launch_index: i.ami_launch_index,
        launch_time: i.launch_time / 1000,
        architecture: architecture.to_owned(),
        dns_hostnames: r
            .vpcs
            .get(i.vpc_id.as_str())
            .is_some_and(|v| v.enable_dns_hostnames),
        key_name: i.key_name.clone(),
        public_key: i.key_name.as_ref().and_then(|k| {
            r.key_pairs
                .values()
                .find(|p| &p.name == k)
                .map(|p| p.public_key.clone())
        }),
        user_data: i.user_data.as_ref().map(|u| {
            base64::engine::general_purpose::STANDARD
                .decode(u.trim())
                .unwrap_or_else(|_| u.clone().into_bytes())
        }),
        metadata_options: Some(pb::InstanceMetadataOptions {
            http_endpoint: o.http_endpoint == "enabled",
            http_tokens_required: o.http_tokens == "required",
            http_put_response_hop_limit: o.http_put_response_hop_limit,
            tags,
            http_protocol_ipv6: o.http_protocol_ipv6 == "enabled",
        }),
        tags: if tags {
            i.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        } else {
            Default::default()
        },
        security_group_names,
        hostname_type: hostname_type(i.private_dns_name_options.hostname_type).into(),
    }
}

/// The VPC a flow log watches (`None` for a resource type hosts do not carry).
fn flow_log_vpc(r: &Region, f: &FlowLog) -> Option<String> {
    match f.resource_type {
        FlowLogResourceType::Vpc => Some(f.resource_id.clone()),
        FlowLogResourceType::Subnet => r
            .subnets
            .get(f.resource_id.as_str())
            .map(|s| s.vpc_id.to_string()),
        FlowLogResourceType::NetworkInterface => r
            .network_interfaces
            .get(f.resource_id.as_str())
            .map(|e| e.vpc_id.to_string()),
        FlowLogResourceType::TransitGateway | FlowLogResourceType::TransitGatewayAttachment => None,
    }
}

/// The IPv4 blocks of prefix list `id`'s current version (none once it is deleted: a
/// route or rule naming it then reaches nothing, as AWS's do).
fn prefix_list_v4(r: &Region, id: &str) -> impl Iterator<Item = Ipv4Net> {
    r.prefix_list(id)
        .filter(|l| !l.is_deleted())
        .map(|l| l.entries().to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e.cidr {
            ipnet::IpNet::V4(n) => Some(n),
            ipnet::IpNet::V6(_) => None,
        })
}

type Target = pb::route_target::Kind;

/// Where a route of the region sends packets, for the engine.
fn route_target(r: &Region, target: &RouteTarget) -> Target {
    match target {
        RouteTarget::Local => Target::Local(pb::Empty {}),
        RouteTarget::InternetGateway(g) => Target::InternetGateway(g.to_string()),
        RouteTarget::VpnGateway(g) => Target::VpnGateway(g.to_string()),
        RouteTarget::VpcEndpoint(g) => Target::VpcEndpoint(g.to_string()),
        RouteTarget::NatGateway(n) => Target::NatGateway(n.to_string()),
        RouteTarget::NetworkInterface(e) => Target::NetworkInterface(e.to_string()),
        RouteTarget::Instance(i) => match r.instance_route_interface(i) {
            Some(e) => Target::NetworkInterface(e),
            None => Target::Blackhole(pb::Empty {}),
        },
        RouteTarget::VpcPeeringConnection(p) => Target::VpcPeering(p.to_string()),
        RouteTarget::TransitGateway(g) => Target::TransitGateway(g.to_string()),
        RouteTarget::EgressOnlyInternetGateway(g) => {
            Target::EgressOnlyInternetGateway(g.to_string())
        }
        RouteTarget::CarrierGateway(_) | RouteTarget::LocalGateway(_) => {
            Target::Blackhole(pb::Empty {})
        }
    }
}

/// What one change's derivation computes once for many rows. Valid for one change (one
/// view of the world).
#[derive(Default)]
pub struct Memo {
    attached: Attached,
    /// (account, region, transit gateway) → attachment → the VPCs that send to it.
    senders: HashMap<(String, String, String), HashMap<String, Vec<String>>>,
    /// (account, region) → the VPCs with an available NAT gateway (centralised egress).
    egress: HashMap<(String, String), std::collections::BTreeSet<String>>,
}

impl Memo {
    /// The VPCs of `row`'s region with an available NAT gateway.
    fn egress_vpcs(&mut self, r: &Region, row: &RowKey) -> &std::collections::BTreeSet<String> {
        self.egress
            .entry((row.account.clone(), row.region.clone()))
            .or_insert_with(|| {
                r.nat_gateways
                    .values()
                    .filter(|n| n.state == fort_model::NatGatewayState::Available)
                    .map(|n| n.vpc_id.to_string())
                    .collect()
            })
    }

    /// The VPCs whose attachments to `a`'s gateway are associated with a table that has an
    /// active route to `a`. Worked out for the whole gateway at its first attachment: a
    /// propagation change derives every attachment of the gateway again, and each would
    /// otherwise walk every table's routes.
    fn senders(
        &mut self,
        world: &World,
        r: &Region,
        row: &RowKey,
        a: &fort_model::TransitGatewayVpcAttachment,
    ) -> Vec<String> {
        use fort_model::{TransitGatewayAttachmentState as State, TransitGatewayRouteState};
        let key = (
            row.account.clone(),
            row.region.clone(),
            a.transit_gateway_id.to_string(),
        );
        let of_gateway = self.senders.entry(key).or_insert_with(|| {
            let mut senders: HashMap<String, Vec<String>> = HashMap::new();
            for t in r
                .transit_gateway_route_tables
                .values()
                .filter(|t| t.is_live() && t.transit_gateway_id == a.transit_gateway_id)
            {
                let associated: Vec<&str> = t
                    .associations
                    .iter()
                    .filter_map(|x| r.transit_gateway_vpc_attachments.get(x.as_str()))
                    .filter(|x| x.state == State::Available)
                    .map(|x| x.vpc_id.as_str())
                    .collect();
                for route in fort_control::transit_gateway::routes(r, &world.global, t) {
                    if let (TransitGatewayRouteState::Active, Some(to)) =
                        (route.state, route.attachment)
                    {
                        senders
                            .entry(to.to_string())
                            .or_default()
                            .extend(associated.iter().map(|v| (*v).to_owned()));
                    }
                }
            }
            for (to, vpcs) in peering_senders(world, r, &a.transit_gateway_id) {
                senders.entry(to).or_default().extend(vpcs);
            }
            senders
        });
        let mut out: Vec<String> = of_gateway
            .get(a.id.as_str())
            .into_iter()
            .flatten()
            .filter(|v| **v != a.vpc_id.as_str())
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The interfaces attached to instances, for a change that touches many instances: a
/// launch of hundreds would otherwise scan every interface of the region once per
/// instance. A change of a few instances scans (building the index costs more).
#[derive(Default)]
struct Attached {
    scans: usize,
    region: Option<(String, String)>,
    by_instance: HashMap<String, Vec<String>>,
}

impl Attached {
    /// Scans before the index pays for itself.
    const SCANS: usize = 4;

    fn of(&mut self, r: &Region, row: &RowKey, instance: &str) -> Vec<String> {
        let here = (row.account.as_str(), row.region.as_str());
        let indexed = self
            .region
            .as_ref()
            .is_some_and(|(a, g)| (a.as_str(), g.as_str()) == here);
        if !indexed && self.scans < Self::SCANS {
            self.scans += 1;
            return r
                .network_interfaces
                .values()
                .filter(|e| {
                    e.attachment
                        .as_ref()
                        .is_some_and(|a| a.instance_id == instance)
                })
                .map(|e| e.id.to_string())
                .collect();
        }
        if !indexed {
            self.by_instance.clear();
            for e in r.network_interfaces.values() {
                if let Some(a) = &e.attachment {
                    self.by_instance
                        .entry(a.instance_id.to_string())
                        .or_default()
                        .push(e.id.to_string());
                }
            }
            self.region = Some((row.account.clone(), row.region.clone()));
        }
        self.by_instance.get(instance).cloned().unwrap_or_default()
    }
}

/// Rows whose contributions read `row` and so must be derived again when it changes.
/// `written`: the change wrote the row itself (else it is derived again because it reads
/// one that was: what others read of it did not change).
pub fn dependents(
    world: &World,
    row: &RowKey,
    old_vpc: Option<&str>,
    written: bool,
    memo: &mut Memo,
) -> Vec<RowKey> {
    let Some(r) = region(world, row) else {
        return Vec::new();
    };
    let id = row.id.as_str();
    let vpc_of = |new: Option<&str>| {
        new.map(str::to_owned)
            .or_else(|| old_vpc.map(str::to_owned))
    };
    match row.table.as_str() {
        // Associations decide which table and ACL each subnet uses.
        "route-table" | "network-acl" => {
            let vpc = vpc_of(
                r.route_tables
                    .get(id)
                    .map(|t| t.vpc_id.as_str())
                    .or(r.network_acls.get(id).map(|a| a.vpc_id.as_str())),
            );
            r.subnets
                .values()
                .filter(|s| Some(s.vpc_id.as_str()) == vpc.as_deref())
                .map(|s| row.sibling("subnet", &s.id))
                .collect()
        }
        // A route's state follows its target; a VPC's header names its gateways' edge.
        "internet-gateway" | "egress-only-internet-gateway" | "natgateway" => {
            let mut out = routes_through(r, row, id);
            let vpc = r
                .internet_gateways
                .get(id)
                .and_then(|g| g.vpc_id.clone())
                .or_else(|| r.nat_gateways.get(id).map(|n| n.vpc_id.clone()))
                .or_else(|| {
                    r.egress_only_internet_gateways
                        .get(id)
                        .map(|g| g.vpc_id.clone())
                });
            out.extend(vpc.iter().map(|v| row.sibling("vpc", v)));
            out.extend(old_vpc.map(|v| row.sibling("vpc", v)));
            out
        }
        // A route to a virtual private gateway is active while it is attached; the
        // tables it propagates into get its connections' routes while it is.
        // ... its connections' items name the VPC, which names the edge serving it.
        "vpn-gateway" => {
            let mut out = routes_through(r, row, id);
            out.extend(propagating_tables(r, row, id));
            out.extend(
                r.vpn_connections
                    .values()
                    .filter(|c| c.ends_at(id))
                    .map(|c| row.sibling("vpn-connection", &c.id)),
            );
            // (every VPC it was attached to: a detached one names it no more)
            out.extend(
                r.vpn_gateways
                    .get(id)
                    .into_iter()
                    .flat_map(|g| &g.attachments)
                    .map(|a| row.sibling("vpc", &a.vpc_id)),
            );
            out.extend(old_vpc.map(|v| row.sibling("vpc", v)));
            out
        }
        // ... and a transit gateway's connection the gateway's tables it propagates to
        "vpn-connection" => r
            .vpn_connections
            .get(id)
            .map(|c| {
                let mut out = propagating_tables(r, row, c.end());
                if let Some(a) = &c.transit_gateway_attachment_id {
                    out.extend(
                        r.transit_gateway_route_tables
                            .values()
                            .filter(|t| t.propagations.contains(a) || t.associations.contains(a))
                            .map(|t| row.sibling("transit-gateway-route-table", &t.id)),
                    );
                }
                // ... and the VPCs attached to that gateway name the edge its tunnels end at
                if let Some(tgw) = &c.transit_gateway_id {
                    out.extend(
                        r.transit_gateway_vpc_attachments
                            .values()
                            .filter(|a| a.transit_gateway_id == *tgw)
                            .map(|a| row.sibling("vpc", &a.vpc_id)),
                    );
                }
                out
            })
            .unwrap_or_default(),
        // Gateway items carry the VPC's number and blocks; transit gateway tables the
        // blocks its attachments propagate; its instances' metadata its DNS hostnames
        // attribute.
        "vpc" => r
            .internet_gateways
            .values()
            .filter(|g| g.vpc_id.as_deref() == Some(id))
            .map(|g| row.sibling("internet-gateway", &g.id))
            .chain(
                r.egress_only_internet_gateways
                    .values()
                    .filter(|g| g.vpc_id == id)
                    .map(|g| row.sibling("egress-only-internet-gateway", &g.id)),
            )
            .chain(
                r.nat_gateways
                    .values()
                    .filter(|n| n.vpc_id == id)
                    .map(|n| row.sibling("natgateway", &n.id)),
            )
            .chain(
                r.transit_gateway_vpc_attachments
                    .values()
                    .filter(|a| a.vpc_id == id)
                    .flat_map(|a| gateway_tables(r, row, &a.transit_gateway_id)),
            )
            .chain(
                r.instances
                    .values()
                    .filter(|i| i.vpc_id == id)
                    .map(|i| row.sibling("instance", &i.id)),
            )
            .chain(
                r.vpc_endpoints
                    .values()
                    .filter(|e| e.vpc_id == id && e.endpoint_type == VpcEndpointType::Gateway)
                    .map(|e| row.sibling("vpc-endpoint", &e.id)),
            )
            .chain(
                r.vpn_gateways
                    .values()
                    .filter(|g| g.attached_vpc().map(|v| v.as_str()) == Some(id))
                    .flat_map(|g| {
                        r.vpn_connections
                            .values()
                            .filter(move |c| c.ends_at(&g.id))
                            .map(|c| row.sibling("vpn-connection", &c.id))
                    }),
            )
            .collect(),
        // An instance's state and host decide its interfaces' ports and mappings, and the
        // state of routes through it.
        "instance" => {
            let mut out: Vec<RowKey> = memo
                .attached
                .of(r, row, id)
                .iter()
                .map(|eni| row.sibling("network-interface", eni))
                .collect();
            out.extend(routes_through(r, row, id));
            out
        }
        // ... and its groups are named in its instance's metadata
        "network-interface" => {
            let mut out = routes_through(r, row, id);
            out.extend(
                r.network_interfaces
                    .get(id)
                    .and_then(|e| e.attachment.as_ref())
                    .map(|a| row.sibling("instance", &a.instance_id)),
            );
            out
        }
        // A route to a transit gateway is active while the gateway has an attachment in
        // its VPC; every attachment of a gateway carries routes that may name any other
        // (its table's, propagated from the others).
        "transit-gateway" => {
            let mut out = routes_through(r, row, id);
            out.extend(gateway_rows(r, row, id));
            out
        }
        // (an attachment derived again for its table's sake changed nothing others read)
        "transit-gateway-vpc-attachment" if !written => Vec::new(),
        // an attachment's state and association decide its gateway's routes and senders
        "transit-gateway-vpc-attachment" => r
            .transit_gateway_vpc_attachments
            .get(id)
            .map(|a| {
                let mut out = routes_through(r, row, &a.transit_gateway_id);
                out.extend(gateway_rows(r, row, &a.transit_gateway_id));
                out.extend(transit_vpn_rows(r, row, &a.transit_gateway_id));
                out.extend(peer_gateway_rows(world, &a.transit_gateway_id));
                out.push(row.sibling("vpc", &a.vpc_id));
                out
            })
            .unwrap_or_default(),
        // a table's routes decide which attachments send to which
        "transit-gateway-route-table" => r
            .transit_gateway_route_tables
            .get(id)
            .map(|t| {
                let mut out: Vec<RowKey> = gateway_attachments(r, row, &t.transit_gateway_id)
                    .chain(transit_vpn_rows(r, row, &t.transit_gateway_id))
                    .collect();
                // its routes and associations decide what crosses its gateway's peerings
                if written {
                    out.extend(peer_gateway_rows(world, &t.transit_gateway_id));
                }
                out
            })
            .unwrap_or_default(),
        // Routes and rules naming a list carry its entries.
        "prefix-list" => r
            .prefix_list_associations(id)
            .into_iter()
            .map(|x| {
                let table = if x.starts_with("sg-") {
                    "security-group"
                } else {
                    "route-table"
                };
                row.sibling(table, &x)
            })
            .collect(),
        // An endpoint's interfaces carry its id and service in their ports; a VPC's
        // header names the edge serving its gateway endpoints.
        "vpc-endpoint" => {
            let mut out: Vec<RowKey> = r
                .vpc_endpoints
                .get(id)
                .map(|e| {
                    e.interfaces
                        .iter()
                        .map(|i| row.sibling("network-interface", &i.network_interface_id))
                        .collect()
                })
                .unwrap_or_default();
            let vpc = vpc_of(r.vpc_endpoints.get(id).map(|e| e.vpc_id.as_str()));
            out.extend(vpc.map(|v| row.sibling("vpc", &v)));
            out
        }
        "dhcp-options" => r
            .vpcs
            .values()
            .filter(|v| v.dhcp_options_id.as_deref() == Some(id))
            .map(|v| row.sibling("vpc", &v.id))
            .collect(),
        _ => Vec::new(),
    }
}

/// The route tables of transit gateway `tgw`.
fn gateway_tables<'a>(
    r: &'a Region,
    row: &'a RowKey,
    tgw: &'a str,
) -> impl Iterator<Item = RowKey> + 'a {
    r.transit_gateway_route_tables
        .values()
        .filter(move |t| t.transit_gateway_id == tgw)
        .map(|t| row.sibling("transit-gateway-route-table", &t.id))
}

/// The VPC attachments and route tables of transit gateway `tgw`.
fn gateway_rows<'a>(r: &'a Region, row: &'a RowKey, tgw: &'a str) -> Vec<RowKey> {
    gateway_attachments(r, row, tgw)
        .chain(gateway_tables(r, row, tgw))
        .collect()
}

/// The VPN connections ending at transit gateway `tgw` (their items follow its
/// attachments and tables).
fn transit_vpn_rows<'a>(
    r: &'a Region,
    row: &'a RowKey,
    tgw: &'a str,
) -> impl Iterator<Item = RowKey> + 'a {
    r.vpn_connections
        .values()
        .filter(move |c| c.transit_gateway_id.as_deref() == Some(tgw))
        .map(|c| row.sibling("vpn-connection", &c.id))
}

/// The VPC attachments of transit gateway `tgw`.
fn gateway_attachments<'a>(
    r: &'a Region,
    row: &'a RowKey,
    tgw: &'a str,
) -> impl Iterator<Item = RowKey> + 'a {
    r.transit_gateway_vpc_attachments
        .values()
        .filter(move |a| a.transit_gateway_id == tgw)
        .map(|a| row.sibling("transit-gateway-vpc-attachment", &a.id))
}

/// What hosts of an attachment's VPC need of it: its subnets, the table it is associated
/// with and the VPCs that send to it. Nothing while it or its gateway does not carry
/// traffic.
fn transit_gateway_attachment(
    r: &Region,
    a: &fort_model::TransitGatewayVpcAttachment,
    senders: Vec<String>,
) -> Option<pb::TransitGatewayAttachment> {
    use fort_control::transit_gateway::association;
    use fort_model::TransitGatewayAttachmentState as State;
    let live = r
        .transit_gateways
        .get(&a.transit_gateway_id)
        .is_some_and(|g| g.is_live());
    if a.state != State::Available || !live {
        return None;
    }
    Some(pb::TransitGatewayAttachment {
        id: a.id.to_string(),
        transit_gateway_id: a.transit_gateway_id.to_string(),
        subnet_ids: a.subnet_ids().map(ToString::to_string).collect(),
        appliance_mode: a.options.appliance_mode_support,
        route_table_id: association(r, &a.transit_gateway_id, &a.id)
            .map(|t| t.id.to_string())
            .unwrap_or_default(),
        senders,
        peer_route_table_ids: Vec::new(),
    })
}

/// The IPv4 routes of a gateway route table as hosts walk them: active routes to a VPC
/// attachment lead into its VPC; the rest drop.
fn gateway_routes(
    world: &World,
    r: &Region,
    t: &fort_model::TransitGatewayRouteTable,
) -> Vec<(Ipv4Net, pb::TransitGatewayRoute)> {
    use fort_model::TransitGatewayRouteState;
    use pb::transit_gateway_route::Target;
    fort_control::transit_gateway::routes(r, &world.global, t)
        .into_iter()
        .filter_map(|route| {
            let ipnet::IpNet::V4(destination) = route.destination else {
                return None;
            };
            let target = match (&route.state, &route.attachment) {
                (TransitGatewayRouteState::Active, Some(id)) => {
                    match r.transit_gateway_vpc_attachments.get(id.as_str()) {
                        Some(to) => Target::Vpc(pb::TransitGatewayVpcTarget {
                            attachment_id: to.id.to_string(),
                            vpc_id: to.vpc_id.to_string(),
                        }),
                        None => peering_target(world, &t.transit_gateway_id, id)
                            .unwrap_or_else(|| Target::Unsupported(id.to_string())),
                    }
                }
                _ => Target::Blackhole(pb::Empty {}),
            };
            let route = pb::TransitGatewayRoute {
                destination: Some(cidr(destination)),
                destination_ipv6: None,
                target: Some(target),
            };
            Some((destination, route))
        })
        .collect()
}

/// The IPv6 routes of a gateway route table as hosts walk them (as [`gateway_routes`]'s):
/// the value's `destination_ipv6` holds the destination.
fn gateway_routes6(
    world: &World,
    r: &Region,
    t: &fort_model::TransitGatewayRouteTable,
) -> Vec<(Ipv6Net, pb::TransitGatewayRoute)> {
    use fort_model::TransitGatewayRouteState;
    use pb::transit_gateway_route::Target;
    // (most tables have no IPv6 route: spare them a second walk of their routes)
    let static6 = t
        .routes
        .iter()
        .any(|x| matches!(x.destination, ipnet::IpNet::V6(_)));
    let propagated6 = t.propagations.iter().any(|a| {
        r.transit_gateway_vpc_attachments
            .get(a.as_str())
            .is_some_and(|a| a.options.ipv6_support)
    });
    if !static6 && !propagated6 {
        return Vec::new();
    }
    fort_control::transit_gateway::routes(r, &world.global, t)
        .into_iter()
        .filter_map(|route| {
            let ipnet::IpNet::V6(destination) = route.destination else {
                return None;
            };
            let target = match (&route.state, &route.attachment) {
                (TransitGatewayRouteState::Active, Some(id)) => {
                    match r.transit_gateway_vpc_attachments.get(id.as_str()) {
                        Some(to) => Target::Vpc(pb::TransitGatewayVpcTarget {
                            attachment_id: to.id.to_string(),
                            vpc_id: to.vpc_id.to_string(),
                        }),
                        None => peering_target(world, &t.transit_gateway_id, id)
                            .unwrap_or_else(|| Target::Unsupported(id.to_string())),
                    }
                }
                _ => Target::Blackhole(pb::Empty {}),
            };
            let route = pb::TransitGatewayRoute {
                destination: None,
                destination_ipv6: Some(cidr6(destination)),
                target: Some(target),
            };
            Some((destination, route))
        })
        .collect()
}

/// A route to peering attachment `id` of gateway `tgw`: across it, the peer gateway's
/// table associated with it decides (`None`: no such peering of `tgw`).
fn peering_target(world: &World, tgw: &str, id: &str) -> Option<pb::transit_gateway_route::Target> {
    let p = world.global.transit_gateway_peerings.get(id)?;
    let (_, theirs) = p.sides_of(tgw)?;
    let route_table_id = peer_region(world, theirs)
        .and_then(|r| fort_control::transit_gateway::association(r, &theirs.transit_gateway_id, id))
        .map(|t| t.id.to_string())
        .unwrap_or_default();
    Some(pb::transit_gateway_route::Target::Peering(
        pb::TransitGatewayPeeringTarget {
            attachment_id: id.to_owned(),
            route_table_id,
        },
    ))
}

/// The region of one side of a gateway peering.
fn peer_region<'w>(world: &'w World, side: &fort_model::PeeringTgwInfo) -> Option<&'w Region> {
    world
        .regions
        .get(&(side.owner_id.clone(), side.region.clone()))
}

/// The peer gateways' tables the table of `a` routes to across peerings: its hosts hold
/// their routes too. (Routes to a peering are static only, and a static route is the
/// table's own for its destination: no need to work out the propagated ones.)
fn peer_route_tables(
    world: &World,
    r: &Region,
    a: &fort_model::TransitGatewayVpcAttachment,
) -> Vec<String> {
    use fort_model::{TransitGatewayAttachmentState as State, TransitGatewayRouteTarget};
    let Some(t) = fort_control::transit_gateway::association(r, &a.transit_gateway_id, &a.id)
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = t
        .routes
        .iter()
        .filter_map(|route| match &route.target {
            TransitGatewayRouteTarget::Attachment(id) => Some(id.as_str()),
            TransitGatewayRouteTarget::Blackhole => None,
        })
        .filter(|id| {
            world
                .global
                .transit_gateway_peerings
                .get(id)
                .is_some_and(|p| p.state == State::Available)
        })
        .filter_map(
            |id| match peering_target(world, &a.transit_gateway_id, id)? {
                pb::transit_gateway_route::Target::Peering(p) => {
                    (!p.route_table_id.is_empty()).then_some(p.route_table_id)
                }
                _ => None,
            },
        )
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The VPCs across the peerings of gateway `tgw` (of region `r`) that send to its VPC
/// attachments, by attachment: a table of `tgw` associated with an available peering
/// carries, to every attachment it routes to, the packets of the VPCs whose attachments
/// the peer gateway associates with a table routing to that peering.
fn peering_senders(world: &World, r: &Region, tgw: &str) -> Vec<(String, Vec<String>)> {
    use fort_model::{TransitGatewayAttachmentState as State, TransitGatewayRouteState};
    let active_to = |region: &Region, t: &fort_model::TransitGatewayRouteTable| {
        fort_control::transit_gateway::routes(region, &world.global, t)
            .into_iter()
            .filter(|route| route.state == TransitGatewayRouteState::Active)
            .filter_map(|route| route.attachment)
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    for t in r
        .transit_gateway_route_tables
        .values()
        .filter(|t| t.is_live() && t.transit_gateway_id == tgw)
    {
        let mut vpcs: Vec<String> = Vec::new();
        for p in t
            .associations
            .iter()
            .filter_map(|x| world.global.transit_gateway_peerings.get(x.as_str()))
            .filter(|p| p.state == State::Available)
        {
            let Some((_, theirs)) = p.sides_of(tgw) else {
                continue;
            };
            let Some(pr) = peer_region(world, theirs) else {
                continue;
            };
            for pt in pr
                .transit_gateway_route_tables
                .values()
                .filter(|x| x.is_live() && x.transit_gateway_id == theirs.transit_gateway_id)
            {
                // (routes to a peering are static only; of either family)
                let routes_to_it = pt.routes.iter().any(|route| {
                    route.target == fort_model::TransitGatewayRouteTarget::Attachment(p.id.clone())
                });
                if !routes_to_it {
                    continue;
                }
                vpcs.extend(
                    pt.associations
                        .iter()
                        .filter_map(|x| pr.transit_gateway_vpc_attachments.get(x.as_str()))
                        .filter(|x| x.state == State::Available)
                        .map(|x| x.vpc_id.to_string()),
                );
            }
        }
        if vpcs.is_empty() {
            continue;
        }
        for to in active_to(r, t) {
            out.push((to.to_string(), vpcs.clone()));
        }
    }
    out
}

/// The attachments and tables of the gateways peered with `tgw` (any state of the
/// peering: one that just ended is still to be taken out of their items).
fn peer_gateway_rows(world: &World, tgw: &str) -> Vec<RowKey> {
    let mut out = Vec::new();
    for p in world.global.transit_gateway_peerings.values() {
        let Some((_, theirs)) = p.sides_of(tgw) else {
            continue;
        };
        let Some(pr) = peer_region(world, theirs) else {
            continue;
        };
        let at = RowKey {
            account: theirs.owner_id.clone(),
            region: theirs.region.clone(),
            table: String::new(),
            id: String::new(),
        };
        out.extend(gateway_rows(pr, &at, &theirs.transit_gateway_id));
    }
    out
}

/// The rows a gateway peering's state shows in: the attachments and tables of both its
/// gateways.
pub fn transit_gateway_peering_rows(world: &World, id: &str) -> Vec<RowKey> {
    let Some(p) = world.global.transit_gateway_peerings.get(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for side in [&p.requester, &p.accepter] {
        if let Some(r) = peer_region(world, side) {
            let at = RowKey {
                account: side.owner_id.clone(),
                region: side.region.clone(),
                table: String::new(),
                id: String::new(),
            };
            out.extend(gateway_rows(r, &at, &side.transit_gateway_id));
        }
    }
    out
}

/// What a transit gateway attachment's contribution joins, as (served, also served)
/// pairs: hosts of its VPC also serve its table's routes and the VPCs that send to it,
/// and hosts of those VPCs serve its VPC (their packets' way in), as for peers.
pub fn transit_links(c: &Contribution) -> Vec<(String, String)> {
    let Some(vpc) = &c.vpc else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for value in c.items.values() {
        let Some(V::TransitGatewayAttachment(a)) = &value.kind else {
            continue;
        };
        if !a.route_table_id.is_empty() {
            out.push((vpc.clone(), a.route_table_id.clone()));
        }
        for t in &a.peer_route_table_ids {
            out.push((vpc.clone(), t.clone()));
        }
        for sender in &a.senders {
            out.push((vpc.clone(), sender.clone()));
            out.push((sender.clone(), vpc.clone()));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn routes_through(r: &Region, row: &RowKey, target: &str) -> Vec<RowKey> {
    r.route_tables
        .values()
        .filter(|t| {
            t.routes
                .iter()
                .any(|route| route.target.id() == Some(target))
        })
        .map(|t| row.sibling("route-table", &t.id))
        .collect()
}

/// A live VPN connection's item for the edge, while its gateway is attached to a VPC.
fn vpn_connection(r: &Region, c: &fort_model::VpnConnection) -> Option<pb::VpnConnection> {
    let vgw = r.vpn_gateways.get(c.vpn_gateway_id.as_ref()?.as_str())?;
    let v = r.vpcs.get(vgw.attached_vpc()?)?;
    vpn_item(r, c, v, vgw.id.as_str(), vgw.amazon_side_asn)
}

/// A connection's item, as gateway `gateway` (with its ASN) of VPC `v` ends it.
fn vpn_item(
    r: &Region,
    c: &fort_model::VpnConnection,
    v: &fort_model::Vpc,
    gateway: &str,
    amazon_asn: u64,
) -> Option<pb::VpnConnection> {
    let cgw = r.customer_gateways.get(c.customer_gateway_id.as_str())?;
    let texts = |xs: &mut dyn Iterator<Item = &'static str>| xs.map(str::to_owned).collect();
    Some(pb::VpnConnection {
        vpc_id: v.id.to_string(),
        vpn_connection_id: c.id.to_string(),
        vpn_gateway_id: gateway.to_owned(),
        vni: v.vni,
        cidrs: v.cidrs().map(cidr).collect(),
        customer_gateway_ip: cgw.ip_address?.into(),
        customer_asn: cgw.bgp_asn,
        amazon_asn,
        static_routes_only: c.static_routes_only,
        // static routes, or what BGP learned
        routes: c.propagated_routes().into_iter().map(cidr).collect(),
        local_network: Some(cidr(c.local_ipv4_network_cidr)),
        remote_network: Some(cidr(c.remote_ipv4_network_cidr)),
        transit_drops: Vec::new(),
        tunnels: c
            .tunnels
            .iter()
            .map(|t| {
                let o = &t.options;
                pb::VpnTunnel {
                    outside_ip: t.outside_ip.into(),
                    inside_cidr: Some(cidr(t.inside_cidr)),
                    pre_shared_key: t.pre_shared_key.clone(),
                    ike_versions: texts(&mut o.ike_versions.iter().map(|x| x.as_str())),
                    phase1_encryption: texts(&mut o.phase1_encryption.iter().map(|x| x.as_str())),
                    phase2_encryption: texts(&mut o.phase2_encryption.iter().map(|x| x.as_str())),
                    phase1_integrity: texts(&mut o.phase1_integrity.iter().map(|x| x.as_str())),
                    phase2_integrity: texts(&mut o.phase2_integrity.iter().map(|x| x.as_str())),
                    phase1_dh_groups: o.phase1_dh_groups.iter().map(|&g| g.into()).collect(),
                    phase2_dh_groups: o.phase2_dh_groups.iter().map(|&g| g.into()).collect(),
                    phase1_lifetime_seconds: o.phase1_lifetime_seconds,
                    phase2_lifetime_seconds: o.phase2_lifetime_seconds,
                    rekey_margin_time_seconds: o.rekey_margin_time_seconds,
                    rekey_fuzz_percentage: o.rekey_fuzz_percentage,
                    replay_window_size: o.replay_window_size,
                    dpd_timeout_seconds: o.dpd_timeout_seconds,
                    dpd_timeout_action: o.dpd_timeout_action.as_str().to_owned(),
                    startup_action: o.startup_action.as_str().to_owned(),
                }
            })
            .collect(),
    })
}

/// The active IPv4 routes of the table associated with a transit gateway VPN
/// connection's attachment, as (destination, target attachment).
fn transit_vpn_table(
    world: &World,
    r: &Region,
    tgw: &str,
    attachment: &str,
) -> Vec<(Ipv4Net, Option<String>)> {
    use fort_model::TransitGatewayRouteState;
    fort_control::transit_gateway::association(r, tgw, attachment)
        .map(|t| fort_control::transit_gateway::routes(r, &world.global, t))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|route| match (route.destination, route.state) {
            (ipnet::IpNet::V4(d), TransitGatewayRouteState::Active) => {
                Some((d, route.attachment.map(|a| a.to_string())))
            }
            (ipnet::IpNet::V4(d), _) => Some((d, None)),
            _ => None,
        })
        .collect()
}

/// A live VPN connection's item for the edge when it ends at a transit gateway: its
/// tunnels end at the edge as a virtual private gateway's do. The item stands in one
/// VPC attached to the gateway, its *home* (the VPC of the first route of the table
/// associated with the connection's attachment that leads to a VPC attachment, else the
/// first VPC attached), only to give it a scope. Its blocks are every destination that
/// table sends to a VPC attachment (what BGP advertises); where each goes in is told by
/// the items of [`transit_vpn_routes_into`] in the VPCs reached, and the destinations
/// it sends elsewhere (blackholes, other VPN or peering attachments) are `transit_drops`,
/// which the edge's longest-prefix match drops. The transit gateway's table already
/// chose the connection for what goes out (`routes`: everything). The edge knows it by
/// its attachment (`vpn_gateway_id` holds `tgw-attach-…`), which hosts of the VPCs
/// attached to the gateway reach at the edge ([`edges`]).
fn transit_vpn_connection(
    world: &World,
    r: &Region,
    c: &fort_model::VpnConnection,
) -> Option<pb::VpnConnection> {
    use fort_model::TransitGatewayAttachmentState as State;
    let tgw = r
        .transit_gateways
        .get(c.transit_gateway_id.as_ref()?.as_str())?;
    if !tgw.is_live() {
        return None;
    }
    let attachment = c.transit_gateway_attachment_id.as_ref()?;
    let vpc_attachments: Vec<&fort_model::TransitGatewayVpcAttachment> = r
        .transit_gateway_vpc_attachments
        .values()
        .filter(|a| a.transit_gateway_id == tgw.id && a.state == State::Available)
        .collect();
    let routes = transit_vpn_table(world, r, &tgw.id, attachment);
    let to_vpc = |a: &Option<String>| {
        a.as_deref()
            .and_then(|a| vpc_attachments.iter().find(|x| x.id.as_str() == a))
    };
    let home = routes
        .iter()
        .find_map(|(_, a)| to_vpc(a))
        .or(vpc_attachments.first())?;
    let v = r.vpcs.get(&home.vpc_id)?;
    let mut item = vpn_item(
        r,
        c,
        v,
        attachment.as_str(),
        tgw.options.amazon_side_asn.into(),
    )?;
    item.cidrs = routes
        .iter()
        .filter(|(_, a)| to_vpc(a).is_some())
        .map(|(d, _)| cidr(*d))
        .collect();
    item.transit_drops = routes
        .iter()
        .filter(|(_, a)| to_vpc(a).is_none())
        .map(|(d, _)| cidr(*d))
        .collect();
    item.routes = vec![cidr(ipnet::Ipv4Net::default())];
    Some(item)
}

/// What the tables of the VPN attachments of `a`'s transit gateway send into `a`: one
/// item per live connection whose table routes somewhere to `a`, in `a`'s VPC (so the
/// edge serves that VPC, its mappings included).
fn transit_vpn_routes_into(
    world: &World,
    r: &Region,
    a: &fort_model::TransitGatewayVpcAttachment,
) -> Vec<pb::TransitGatewayVpnRoutes> {
    let Some(v) = r.vpcs.get(&a.vpc_id) else {
        return Vec::new();
    };
    r.vpn_connections
        .values()
        .filter(|c| c.is_live() && c.transit_gateway_id.as_ref() == Some(&a.transit_gateway_id))
        .filter_map(|c| {
            let attachment = c.transit_gateway_attachment_id.as_ref()?;
            let destinations: Vec<pb::Ipv4Cidr> =
                transit_vpn_table(world, r, &a.transit_gateway_id, attachment)
                    .into_iter()
                    .filter(|(_, to)| to.as_deref() == Some(a.id.as_str()))
                    .map(|(d, _)| cidr(d))
                    .collect();
            (!destinations.is_empty()).then(|| pb::TransitGatewayVpnRoutes {
                vpc_id: v.id.to_string(),
                vpn_connection_id: c.id.to_string(),
                vni: v.vni,
                transit_gateway_attachment_id: a.id.to_string(),
                destinations,
            })
        })
        .collect()
}

/// Centralised egress: for each other VPC attached to `a`'s transit gateway that has an
/// available NAT gateway (an egress VPC), the destinations the table associated with its
/// attachment sends to `a`, in `a`'s VPC (so the edge serves that VPC, its mappings
/// included), with what that table drops (blackholes, attachments of other kinds). The
/// edge sends the NAT gateways' replies for those destinations into `a`'s VPC. (A NAT
/// gateway that comes or goes derives its VPC again, which derives the tables of its
/// gateways again, which derive their attachments again: these items follow.)
fn transit_egress_routes_into(
    world: &World,
    r: &Region,
    row: &RowKey,
    a: &fort_model::TransitGatewayVpcAttachment,
    memo: &mut Memo,
) -> Vec<pb::TransitGatewayEgressRoutes> {
    use fort_model::{TransitGatewayAttachmentState as State, TransitGatewayRouteState};
    let Some(v) = r.vpcs.get(&a.vpc_id) else {
        return Vec::new();
    };
    let egress = memo.egress_vpcs(r, row);
    if egress.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in r.transit_gateway_vpc_attachments.values().filter(|e| {
        e.transit_gateway_id == a.transit_gateway_id
            && e.state == State::Available
            && e.vpc_id != a.vpc_id
            && egress.contains(e.vpc_id.as_str())
    }) {
        let Some(table) =
            fort_control::transit_gateway::association(r, &a.transit_gateway_id, &e.id)
        else {
            continue;
        };
        let (mut destinations, mut drops) = (Vec::new(), Vec::new());
        for route in fort_control::transit_gateway::routes(r, &world.global, table) {
            let ipnet::IpNet::V4(d) = route.destination else {
                continue;
            };
            let to = match (&route.state, &route.attachment) {
                (TransitGatewayRouteState::Active, Some(to)) => {
                    r.transit_gateway_vpc_attachments.get(to.as_str())
                }
                _ => None,
            };
            match to {
                Some(to) if to.id == a.id => destinations.push(cidr(d)),
                Some(_) => {}
                None => drops.push(cidr(d)),
            }
        }
        if !destinations.is_empty() {
            out.push(pb::TransitGatewayEgressRoutes {
                vpc_id: v.id.to_string(),
                vni: v.vni,
                transit_gateway_attachment_id: a.id.to_string(),
                egress_vpc_id: e.vpc_id.to_string(),
                egress_attachment_id: e.id.to_string(),
                destinations,
                drops,
            });
        }
    }
    out
}

/// The VPN attachments of the transit gateways VPC `v` is attached to: hosts send what
/// a gateway's table routes to one to the edge, where its tunnels end.
fn transit_vpn_attachments<'a>(
    r: &'a Region,
    v: &'a fort_model::Vpc,
) -> impl Iterator<Item = String> + 'a {
    r.vpn_connections.values().filter_map(move |c| {
        let tgw = c.transit_gateway_id.as_ref()?;
        let attached = r.transit_gateway_vpc_attachments.values().any(|a| {
            a.vpc_id == v.id
                && a.transit_gateway_id == *tgw
                && a.state == fort_model::TransitGatewayAttachmentState::Available
        });
        (attached && c.is_live())
            .then(|| {
                c.transit_gateway_attachment_id
                    .as_ref()
                    .map(ToString::to_string)
            })
            .flatten()
    })
}

/// The route tables that propagate virtual private gateway `vgw`'s routes.
fn propagating_tables(r: &Region, row: &RowKey, vgw: &str) -> Vec<RowKey> {
    r.route_tables
        .values()
        .filter(|t| t.propagating_vgws.iter().any(|g| g == vgw))
        .map(|t| row.sibling("route-table", &t.id))
        .collect()
}

/// The active peering connections of a VPC: (id, the other side).
pub fn active_peerings<'w>(
    world: &'w World,
    vpc_id: &'w str,
) -> impl Iterator<Item = (&'w str, &'w fort_model::PeeringVpcInfo)> + 'w {
    let now = fort_control::now_millis();
    world.global.peerings.values().filter_map(move |p| {
        let peer = p.peer_of(vpc_id)?;
        (fort_control::peering::status(p, now) == fort_model::PeeringStatus::Active)
            .then_some((p.id.as_str(), peer))
    })
}

/// The rows a peering connection's state shows in: both VPCs' headers and the route
/// tables that route through it.
pub fn peering_rows(world: &World, id: &str) -> Vec<RowKey> {
    let Some(p) = world.global.peerings.get(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for side in [&p.requester, &p.accepter] {
        let vpc = RowKey {
            account: side.owner_id.clone(),
            region: side.region.clone(),
            table: "vpc".into(),
            id: side.vpc_id.to_string(),
        };
        if let Some(r) = region(world, &vpc) {
            out.extend(routes_through(r, &vpc, id));
        }
        out.push(vpc);
    }
    out
}

/// The edge host serving gateways: the first registered host with the edge role.
pub fn edge_host(world: &World) -> Option<&Host> {
    world
        .global
        .hosts
        .values()
        .find(|h| h.role == fort_model::HostRole::Edge)
}

/// Where each gateway of a VPC is served: its internet and egress-only internet
/// gateways, NAT gateways, gateway endpoints and virtual private gateways.
fn edges(world: &World, r: &Region, v: &fort_model::Vpc) -> Vec<pb::Edge> {
    let Some(edge) = edge_host(world) else {
        return Vec::new();
    };
    let igws = r
        .internet_gateways
        .values()
        .filter(|g| g.vpc_id.as_deref() == Some(v.id.as_str()))
        .map(|g| g.id.to_string());
    let nats = r
        .nat_gateways
        .values()
        .filter(|n| n.vpc_id == v.id && n.state == fort_model::NatGatewayState::Available)
        .map(|n| n.id.to_string());
    let endpoints = r
        .vpc_endpoints
        .values()
        .filter(|e| e.vpc_id == v.id && is_gateway_endpoint(e))
        .map(|e| e.id.to_string());
    let vgws = r
        .vpn_gateways
        .values()
        .filter(|g| g.attached_vpc() == Some(&v.id))
        .map(|g| g.id.to_string());
    let eigws = r
        .egress_only_internet_gateways
        .values()
        .filter(|g| g.vpc_id == v.id)
        .map(|g| g.id.to_string());
    igws.chain(eigws)
        .chain(nats)
        .chain(endpoints)
        .chain(vgws)
        .chain(transit_vpn_attachments(r, v))
        .map(|gateway_id| pb::Edge {
            // a NAT gateway's subnet: centralised egress crosses its network ACL
            subnet_id: r
                .nat_gateways
                .get(gateway_id.as_str())
                .map(|n| n.subnet_id.to_string())
                .unwrap_or_default(),
            gateway_id,
            host: edge.underlay.into(),
        })
        .collect()
}

fn vpc_header(r: &Region, v: &fort_model::Vpc) -> pb::Vpc {
    let mut dhcp = pb::DhcpOptions {
        domain_name_servers: Vec::new(),
        domain_name: None,
        lease_time: 3600,
        ..Default::default()
    };
    let addresses = |values: &[String]| -> Vec<u32> {
        values
            .iter()
            .filter_map(|s| s.parse::<Ipv4Addr>().ok())
            .map(u32::from)
            .collect()
    };
    if let Some(set) = v
        .dhcp_options_id
        .as_ref()
        .and_then(|d| r.dhcp_options.get(d))
    {
        for (key, values) in &set.configurations {
            match key.as_str() {
                "domain-name-servers" => {
                    dhcp.domain_name_servers = values
                        .iter()
                        .filter_map(|s| {
                            let kind = if s == "AmazonProvidedDNS" {
                                pb::name_server::Kind::AmazonProvidedDns(pb::Empty {})
                            } else {
                                match s.parse::<std::net::IpAddr>().ok()? {
                                    std::net::IpAddr::V4(a) => {
                                        pb::name_server::Kind::Address(a.into())
                                    }
                                    std::net::IpAddr::V6(a) => {
                                        pb::name_server::Kind::Address6(a.octets().to_vec())
                                    }
                                }
                            };
                            Some(pb::NameServer { kind: Some(kind) })
                        })
                        .collect();
                }
                "domain-name" => dhcp.domain_name = values.first().cloned(),
                "ntp-servers" => dhcp.ntp_servers = addresses(values),
                "netbios-name-servers" => dhcp.netbios_name_servers = addresses(values),
                "netbios-node-type" => {
                    dhcp.netbios_node_type =
                        values.first().and_then(|v| v.parse().ok()).unwrap_or(0)
                }
                _ => {}
            }
        }
    }
    pb::Vpc {
        id: v.id.to_string(),
        vni: v.vni,
        cidrs: v.cidrs().map(cidr).collect(),
        router_mac: router_mac(v.vni).to_vec(),
        dhcp: Some(dhcp),
        edges: Vec::new(),
        peerings: Vec::new(),
        dns_support: v.enable_dns_support,
        dns_hostnames: v.enable_dns_hostnames,
        region: r.name.clone(),
        ipv6_cidrs: v.ipv6_cidrs().map(cidr6).collect(),
    }
}

/// An IPv6 route of a table (a space of its own: no prefix lists), as the contract has
/// it.
fn route_v6(
    r: &Region,
    world: &World,
    t: &fort_model::RouteTable,
    route: &fort_model::Route,
    text: &str,
) -> Option<pb::Route> {
    let target = if route_state(r, &world.global, t, route) == fort_model::RouteState::Blackhole {
        Target::Blackhole(pb::Empty {})
    } else {
        route_target(r, &route.target)
    };
    Some(pb::Route {
        destination: None,
        destination_ipv6: Some(cidr6_text(text)?),
        target: Some(pb::RouteTarget { kind: Some(target) }),
    })
}

/// An interface's IPv6 items: its addresses as members of its groups and, when it is
/// placed on a host, their V2P entries.
fn interface_v6(world: &World, r: &Region, e: &NetworkInterface, c: &mut Contribution) {
    let member = value(V::MemberV6(pb::Member {}));
    for &ip in &e.ipv6_addresses {
        for g in &e.security_groups {
            c.items
                .insert(ItemKey::member_v6(&e.vpc_id, g, ip), member.clone());
        }
    }
    let Some(host) = placement(world, r, e) else {
        return;
    };
    for &ip in &e.ipv6_addresses {
        let m = pb::V2p {
            ip: 0,
            host: host.underlay.into(),
            mac: mac_bytes(&e.mac_address).to_vec(),
            eni_id: e.id.to_string(),
            source_dest_check: e.source_dest_check,
            ipv6: ip.octets().to_vec(),
        };
        c.items
            .insert(ItemKey::mapping_v6(&e.vpc_id, ip), value(V::MappingV6(m)));
    }
}

fn clamp_port(p: i32) -> u32 {
    p.clamp(0, 65535).unsigned_abs()
}

/// The IP protocol number of a security group rule's protocol (ICMPv6's 58 included:
/// the engine matches IPv6 rules too).
fn protocol_number(p: fort_model::IpProtocol) -> Option<i16> {
    Some(p.as_i16())
}

/// EC2's IP-name host name: `ip-10-0-1-17`.
pub fn ip_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("ip-{a}-{b}-{c}-{d}")
}

/// Every row of the world that contributes items: the start of derivation.
pub fn all_rows(world: &World) -> Vec<RowKey> {
    let mut rows = Vec::new();
    for ((account, region), r) in &world.regions {
        let key = |table: &str, id: &str| RowKey {
            account: account.clone(),
            region: region.clone(),
            table: table.into(),
            id: id.into(),
        };
        rows.extend(r.vpcs.values().map(|x| key("vpc", &x.id)));
        rows.extend(r.subnets.values().map(|x| key("subnet", &x.id)));
        rows.extend(r.route_tables.values().map(|x| key("route-table", &x.id)));
        rows.extend(r.network_acls.values().map(|x| key("network-acl", &x.id)));
        rows.extend(
            r.security_groups
                .values()
                .map(|x| key("security-group", &x.id)),
        );
        rows.extend(
            r.network_interfaces
                .values()
                .map(|x| key("network-interface", &x.id)),
        );
        rows.extend(
            r.internet_gateways
                .values()
                .map(|x| key("internet-gateway", &x.id)),
        );
        rows.extend(r.nat_gateways.values().map(|x| key("natgateway", &x.id)));
        rows.extend(
            r.egress_only_internet_gateways
                .values()
                .map(|x| key("egress-only-internet-gateway", &x.id)),
        );
        rows.extend(r.instances.values().map(|x| key("instance", &x.id)));
        rows.extend(
            r.transit_gateway_vpc_attachments
                .values()
                .map(|x| key("transit-gateway-vpc-attachment", &x.id)),
        );
        rows.extend(
            r.transit_gateway_route_tables
                .values()
                .map(|x| key("transit-gateway-route-table", &x.id)),
        );
        rows.extend(r.vpc_endpoints.values().map(|x| key("vpc-endpoint", &x.id)));
        rows.extend(
            r.vpn_connections
                .values()
                .map(|x| key("vpn-connection", &x.id)),
        );
    }
    rows
}
