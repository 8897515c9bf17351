//! Contract values → the engine's and the edge's program types.
//!
//! Every value is checked once, when it arrives: a MAC that is not 6 bytes, a prefix
//! longer than 32 or a missing field makes the item [`Malformed`] and it is skipped (and
//! counted by the caller), never half-applied.

use std::net::{Ipv4Addr, Ipv6Addr};

use fort_dataplane::program as dp;
use fort_dataplane::wire::MacAddr;
use fort_edge::program::{
    DpdTimeoutAction, EgressOnlyInternetGatewayItem, EncryptionAlgorithm, GatewayEndpointItem,
    IkeVersion, IntegrityAlgorithm, InternetGatewayItem, NatGatewayItem, NatGatewayState,
    PublicIpItem, StartupAction, TransitGatewayEgressRoutesItem, TransitGatewayVpnRoutesItem,
    VpnConnectionItem, VpnTunnelItem,
};
use fort_proto::mapping as pb;

use crate::host_state::{FlowLogSpec, Traffic};
use ipnet::{Ipv4Net, Ipv6Net};

/// An item the contract's schema allows but whose value makes no sense.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed item {key}: {what}")]
pub struct Malformed {
    pub key: String,
    pub what: &'static str,
}

pub(crate) type Checked<T> = Result<T, &'static str>;

fn ip(a: u32) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

fn ips(a: &[u32]) -> Vec<Ipv4Addr> {
    a.iter().copied().map(ip).collect()
}

fn mac(b: &[u8]) -> Checked<MacAddr> {
    <[u8; 6]>::try_from(b)
        .map(MacAddr)
        .map_err(|_| "a MAC address is 6 bytes")
}

fn cidr(c: Option<&pb::Ipv4Cidr>) -> Checked<Ipv4Net> {
    let c = c.ok_or("a CIDR block is missing")?;
    let len = u8::try_from(c.prefix_len).map_err(|_| "prefix length over 32")?;
    Ipv4Net::new(ip(c.address), len).map_err(|_| "prefix length over 32")
}

fn cidrs(c: &[pb::Ipv4Cidr]) -> Checked<Vec<Ipv4Net>> {
    c.iter().map(|c| cidr(Some(c))).collect()
}

fn ip6(b: &[u8]) -> Checked<Ipv6Addr> {
    <[u8; 16]>::try_from(b)
        .map(Ipv6Addr::from)
        .map_err(|_| "an IPv6 address is 16 bytes")
}

fn cidr6(c: &pb::Ipv6Cidr) -> Checked<Ipv6Net> {
    let len = u8::try_from(c.prefix_len).map_err(|_| "prefix length over 128")?;
    Ipv6Net::new(ip6(&c.address)?, len).map_err(|_| "prefix length over 128")
}

/// A protocol number, ICMP type or ICMP code: 0 to 255, or -1 for every one.
fn byte_or_any(v: i32, what: &'static str) -> Checked<i16> {
    match v {
        -1..=255 => i16::try_from(v).map_err(|_| what),
        _ => Err(what),
    }
}

fn protocol(p: i32) -> Checked<i16> {
    byte_or_any(p, "protocol out of range")
}

pub(crate) fn flow_log(vpc_id: &str, f: &pb::FlowLog) -> Checked<FlowLogSpec> {
    let traffic = match pb::FlowLogTraffic::try_from(f.traffic) {
        Ok(pb::FlowLogTraffic::All) => Traffic::All,
        Ok(pb::FlowLogTraffic::Accept) => Traffic::Accept,
        Ok(pb::FlowLogTraffic::Reject) => Traffic::Reject,
        Err(_) => return Err("unknown flow-log traffic type"),
    };
    if f.window_seconds == 0 {
        return Err("a flow log's window is at least a second");
    }
    Ok(FlowLogSpec {
        id: f.id.clone(),
        vpc_id: vpc_id.to_owned(),
        resource_id: f.resource_id.clone(),
        traffic,
        window_seconds: f.window_seconds,
    })
}

pub(crate) fn port(p: &pb::Port) -> Checked<dp::Port> {
    let c = p.conntrack.unwrap_or_default();
    let defaults = dp::ConntrackTimeouts::default();
    let or = |v: u32, d: u32| if v == 0 { d } else { v };
    Ok(dp::Port {
        id: p.id.clone(),
        vpc_id: p.vpc_id.clone(),
        subnet_id: p.subnet_id.clone(),
        mac: mac(&p.mac)?,
        primary_ip: p.primary_ip.map(ip),
        secondary_ips: ips(&p.secondary_ips),
        security_groups: p.security_groups.clone(),
        source_dest_check: p.source_dest_check,
        conntrack: dp::ConntrackTimeouts {
            tcp_established: or(c.tcp_established, defaults.tcp_established),
            udp_stream: or(c.udp_stream, defaults.udp_stream),
            udp: or(c.udp, defaults.udp),
        },
        hostname: p.hostname.clone(),
        instance_id: p.instance_id.clone(),
        device_index: p.device_index,
        // the host state's flow logs decide (`HostState::structure`)
        flow_logs: false,
        ipv6_addresses: p
            .ipv6_addresses
            .iter()
            .map(|a| ip6(a))
            .collect::<Checked<_>>()?,
    })
}

/// A VPC's header: everything but its subnets, tables, ACLs, groups and mappings, which
/// are items of their own.
pub(crate) fn vpc(v: &pb::Vpc) -> Checked<dp::Vpc> {
    let vni = if v.vni < 1 << 24 {
        v.vni
    } else {
        return Err("a VNI has 24 bits");
    };
    let dhcp = v.dhcp.as_ref().ok_or("DHCP options are missing")?;
    let domain_name_servers = dhcp
        .domain_name_servers
        .iter()
        .map(|s| match s.kind {
            Some(pb::name_server::Kind::AmazonProvidedDns(_)) => {
                Ok(dp::NameServer::AmazonProvidedDns)
            }
            Some(pb::name_server::Kind::Address(a)) => Ok(dp::NameServer::Address(ip(a))),
            Some(pb::name_server::Kind::Address6(ref a)) => Ok(dp::NameServer::Address6(ip6(a)?)),
            None => Err("a name server is empty"),
        })
        .collect::<Checked<_>>()?;
    Ok(dp::Vpc {
        id: v.id.clone(),
        vni,
        cidrs: cidrs(&v.cidrs)?,
        router_mac: mac(&v.router_mac)?,
        subnets: Vec::new(),
        route_tables: Vec::new(),
        network_acls: Vec::new(),
        security_groups: Vec::new(),
        dhcp: dp::DhcpOptions {
            domain_name_servers,
            domain_name: dhcp.domain_name.clone(),
            lease_time: dhcp.lease_time,
            ntp_servers: dhcp.ntp_servers.iter().map(|&a| a.into()).collect(),
            netbios_name_servers: dhcp
                .netbios_name_servers
                .iter()
                .map(|&a| a.into())
                .collect(),
            netbios_node_type: u8::try_from(dhcp.netbios_node_type)
                .ok()
                .filter(|t| matches!(t, 1 | 2 | 4 | 8)),
        },
        mappings: Vec::new(),
        edges: v
            .edges
            .iter()
            .map(|e| dp::Edge {
                gateway_id: e.gateway_id.clone(),
                host: ip(e.host),
                subnet_id: (!e.subnet_id.is_empty()).then(|| e.subnet_id.clone()),
            })
            .collect(),
        peerings: v
            .peerings
            .iter()
            .map(|p| dp::Peering {
                id: p.id.clone(),
                peer_vpc_id: p.peer_vpc_id.clone(),
            })
            .collect(),
        transit_gateway_attachments: Vec::new(),
        ipv6_cidrs: v.ipv6_cidrs.iter().map(cidr6).collect::<Checked<_>>()?,
        // IPv6 mappings are items of their own (`HostState::structure` joins them)
        mappings_v6: Vec::new(),
    })
}

pub(crate) fn subnet(s: &pb::Subnet) -> Checked<dp::Subnet> {
    // an IPv6-only subnet has no IPv4 block; a subnet has one block at least
    if s.cidr.is_none() && s.ipv6_cidr.is_none() {
        return Err("a subnet has neither an IPv4 nor an IPv6 block");
    }
    Ok(dp::Subnet {
        id: s.id.clone(),
        cidr: s.cidr.as_ref().map(|c| cidr(Some(c))).transpose()?,
        route_table_id: s.route_table_id.clone(),
        network_acl_id: s.network_acl_id.clone(),
        availability_zone: s.availability_zone.clone(),
        ipv6_cidr: s.ipv6_cidr.as_ref().map(cidr6).transpose()?,
    })
}

pub(crate) fn transit_gateway_attachment(
    a: &pb::TransitGatewayAttachment,
) -> Checked<dp::TransitGatewayAttachment> {
    Ok(dp::TransitGatewayAttachment {
        id: a.id.clone(),
        transit_gateway_id: a.transit_gateway_id.clone(),
        subnet_ids: a.subnet_ids.clone(),
        appliance_mode: a.appliance_mode,
        route_table_id: a.route_table_id.clone(),
        // the table's routes are items of their own (`HostState::structure` joins them)
        routes: Vec::new(),
        routes_v6: Vec::new(),
        senders: a.senders.clone(),
    })
}

pub(crate) fn transit_gateway_route(
    r: &pb::TransitGatewayRoute,
) -> Checked<dp::TransitGatewayRoute> {
    Ok(dp::TransitGatewayRoute {
        destination: cidr(r.destination.as_ref())?,
        target: transit_gateway_target(r)?,
    })
}

/// An IPv6 route of a transit gateway route table.
pub(crate) fn transit_gateway_route6(
    r: &pb::TransitGatewayRoute,
) -> Checked<dp::TransitGatewayRoute6> {
    Ok(dp::TransitGatewayRoute6 {
        destination: cidr6(
            r.destination_ipv6
                .as_ref()
                .ok_or("an IPv6 transit gateway route has no IPv6 destination")?,
        )?,
        target: transit_gateway_target(r)?,
    })
}

fn transit_gateway_target(r: &pb::TransitGatewayRoute) -> Checked<dp::TransitGatewayTarget> {
    use pb::transit_gateway_route::Target as T;
    let target = match &r.target {
        Some(T::Vpc(v)) => dp::TransitGatewayTarget::Vpc {
            attachment_id: v.attachment_id.clone(),
            vpc_id: v.vpc_id.clone(),
        },
        Some(T::Unsupported(id)) => dp::TransitGatewayTarget::Unsupported(id.clone()),
        Some(T::Blackhole(_)) => dp::TransitGatewayTarget::Blackhole,
        // the peer table's routes are items of their own (`HostState::structure` joins them)
        Some(T::Peering(p)) => dp::TransitGatewayTarget::Peering {
            attachment_id: p.attachment_id.clone(),
            route_table_id: p.route_table_id.clone(),
            routes: Vec::new(),
            routes_v6: Vec::new(),
        },
        None => return Err("a transit gateway route has no target"),
    };
    Ok(target)
}

pub(crate) fn route_table(t: &pb::RouteTable) -> Checked<dp::RouteTable> {
    use pb::route_target::Kind as K;
    let mut routes = Vec::new();
    let mut routes_v6 = Vec::new();
    for r in &t.routes {
        let route = {
            match r.target.as_ref().and_then(|t| t.kind.as_ref()) {
                Some(K::Local(_)) => dp::RouteTarget::Local,
                Some(K::Blackhole(_)) => dp::RouteTarget::Blackhole,
                Some(K::InternetGateway(g)) => dp::RouteTarget::InternetGateway(g.clone()),
                Some(K::EgressOnlyInternetGateway(g)) => {
                    dp::RouteTarget::EgressOnlyInternetGateway(g.clone())
                }
                Some(K::NatGateway(g)) => dp::RouteTarget::NatGateway(g.clone()),
                Some(K::NetworkInterface(g)) => dp::RouteTarget::NetworkInterface(g.clone()),
                Some(K::VpcPeering(g)) => dp::RouteTarget::VpcPeering(g.clone()),
                Some(K::VpnGateway(g)) => dp::RouteTarget::VpnGateway(g.clone()),
                Some(K::VpcEndpoint(g)) => dp::RouteTarget::VpcEndpoint(g.clone()),
                Some(K::TransitGateway(g)) => dp::RouteTarget::TransitGateway(g.clone()),
                None => return Err("a route has no target"),
            }
        };
        match (&r.destination, &r.destination_ipv6) {
            (None, Some(d)) => routes_v6.push(dp::Route6 {
                destination: cidr6(d)?,
                target: route,
            }),
            (d, None) => routes.push(dp::Route {
                destination: cidr(d.as_ref())?,
                target: route,
            }),
            (Some(_), Some(_)) => return Err("a route has two destinations"),
        }
    }
    Ok(dp::RouteTable {
        id: t.id.clone(),
        routes,
        routes_v6,
    })
}

fn port_number(p: u32) -> Checked<u16> {
    u16::try_from(p).map_err(|_| "port over 65535")
}

fn icmp_part(v: i32) -> Checked<i16> {
    byte_or_any(v, "ICMP type or code out of range")
}

pub(crate) fn network_acl(a: &pb::NetworkAcl) -> Checked<dp::NetworkAcl> {
    let entries = a
        .entries
        .iter()
        .filter(|e| e.ipv6_cidr.is_none())
        .map(|e| {
            Ok(dp::NaclEntry {
                rule_number: u16::try_from(e.rule_number).map_err(|_| "rule number too large")?,
                egress: e.egress,
                protocol: protocol(e.protocol)?,
                allow: e.allow,
                cidr: cidr(e.cidr.as_ref())?,
                port_range: e
                    .port_range
                    .map(|r| Ok::<_, &'static str>((port_number(r.from)?, port_number(r.to)?)))
                    .transpose()?,
                icmp: e
                    .icmp
                    .map(|i| Ok::<_, &'static str>((icmp_part(i.r#type)?, icmp_part(i.code)?)))
                    .transpose()?,
            })
        })
        .collect::<Checked<_>>()?;
    let entries_v6 = a
        .entries
        .iter()
        .filter_map(|e| Some((e, e.ipv6_cidr.as_ref()?)))
        .map(|(e, block)| {
            if e.cidr.is_some() {
                return Err("an ACL entry has two blocks");
            }
            Ok(dp::NaclEntry6 {
                rule_number: u16::try_from(e.rule_number).map_err(|_| "rule number too large")?,
                egress: e.egress,
                protocol: protocol(e.protocol)?,
                allow: e.allow,
                cidr: cidr6(block)?,
                port_range: e
                    .port_range
                    .map(|r| Ok::<_, &'static str>((port_number(r.from)?, port_number(r.to)?)))
                    .transpose()?,
                icmp: e
                    .icmp
                    .map(|i| Ok::<_, &'static str>((icmp_part(i.r#type)?, icmp_part(i.code)?)))
                    .transpose()?,
            })
        })
        .collect::<Checked<_>>()?;
    Ok(dp::NetworkAcl {
        id: a.id.clone(),
        entries,
        entries_v6,
    })
}

pub(crate) fn security_group(g: &pb::SecurityGroup) -> Checked<dp::SecurityGroup> {
    let rules = |rules: &[pb::SgRule]| {
        rules
            .iter()
            .map(|r| {
                let peer = match &r.peer {
                    Some(pb::sg_rule::Peer::Cidr(c)) => dp::SgPeer::Cidr(cidr(Some(c))?),
                    Some(pb::sg_rule::Peer::Group(g)) => dp::SgPeer::Group(g.clone()),
                    Some(pb::sg_rule::Peer::Ipv6Cidr(c)) => dp::SgPeer::Cidr6(cidr6(c)?),
                    None => return Err("a rule has no peer"),
                };
                Ok(dp::SgRule {
                    protocol: protocol(r.protocol)?,
                    from_port: r.from_port,
                    to_port: r.to_port,
                    peer,
                })
            })
            .collect::<Checked<Vec<_>>>()
    };
    Ok(dp::SecurityGroup {
        id: g.id.clone(),
        ingress: rules(&g.ingress)?,
        egress: rules(&g.egress)?,
        members: Vec::new(),
        members_v6: Vec::new(),
    })
}

/// An IPv6 mapping (`ipv6` set, `ip` 0).
pub(crate) fn mapping6(m: &pb::V2p) -> Checked<dp::Mapping6> {
    if m.ip != 0 {
        return Err("an IPv6 mapping has an IPv4 address");
    }
    Ok(dp::Mapping6 {
        ip: ip6(&m.ipv6)?,
        host: ip(m.host),
        mac: mac(&m.mac)?,
        eni_id: m.eni_id.clone(),
        source_dest_check: m.source_dest_check,
    })
}

/// The address of an IPv6 key.
pub(crate) fn key_ip6(b: &[u8]) -> Checked<Ipv6Addr> {
    ip6(b)
}

pub(crate) fn mapping(m: &pb::V2p) -> Checked<dp::Mapping> {
    Ok(dp::Mapping {
        ip: ip(m.ip),
        host: ip(m.host),
        mac: mac(&m.mac)?,
        eni_id: m.eni_id.clone(),
        source_dest_check: m.source_dest_check,
    })
}

pub(crate) fn internet_gateway(g: &pb::InternetGateway) -> Checked<InternetGatewayItem> {
    Ok(InternetGatewayItem {
        vpc_id: g.vpc_id.clone(),
        igw_id: g.igw_id.clone(),
        vni: g.vni,
        cidrs: cidrs(&g.cidrs)?,
        ipv6_cidrs: g.ipv6_cidrs.iter().map(cidr6).collect::<Checked<_>>()?,
    })
}

pub(crate) fn egress_only_internet_gateway(
    g: &pb::EgressOnlyInternetGateway,
) -> Checked<EgressOnlyInternetGatewayItem> {
    Ok(EgressOnlyInternetGatewayItem {
        vpc_id: g.vpc_id.clone(),
        eigw_id: g.eigw_id.clone(),
        vni: g.vni,
        ipv6_cidrs: g.ipv6_cidrs.iter().map(cidr6).collect::<Checked<_>>()?,
    })
}

pub(crate) fn public_ip(p: &pb::PublicIp) -> PublicIpItem {
    PublicIpItem {
        vpc_id: p.vpc_id.clone(),
        public_ip: ip(p.public_ip),
        private_ip: ip(p.private_ip),
        eni_id: p.eni_id.clone(),
    }
}

pub(crate) fn nat_gateway(n: &pb::NatGateway) -> Checked<NatGatewayItem> {
    use pb::NatGatewayState as S;
    let state = match S::try_from(n.state) {
        Ok(S::Pending) => NatGatewayState::Pending,
        Ok(S::Available) => NatGatewayState::Available,
        Ok(S::Deleting) => NatGatewayState::Deleting,
        Ok(S::Deleted) => NatGatewayState::Deleted,
        Ok(S::Failed) => NatGatewayState::Failed,
        Ok(S::Unspecified) | Err(_) => return Err("unknown NAT gateway state"),
    };
    Ok(NatGatewayItem {
        vpc_id: n.vpc_id.clone(),
        nat_id: n.nat_id.clone(),
        vni: n.vni,
        subnet_id: n.subnet_id.clone(),
        private_ip: ip(n.private_ip),
        public_ip: ip(n.public_ip),
        state,
        secondary_public_ips: ips(&n.secondary_public_ips),
    })
}

pub(crate) fn gateway_endpoint(e: &pb::GatewayEndpoint) -> Checked<GatewayEndpointItem> {
    Ok(GatewayEndpointItem {
        vpc_id: e.vpc_id.clone(),
        vpce_id: e.vpc_endpoint_id.clone(),
        vni: e.vni,
        cidrs: cidrs(&e.cidrs)?,
        destinations: cidrs(&e.destinations)?,
    })
}

pub(crate) fn transit_gateway_egress_routes(
    r: &pb::TransitGatewayEgressRoutes,
) -> Checked<TransitGatewayEgressRoutesItem> {
    Ok(TransitGatewayEgressRoutesItem {
        vpc_id: r.vpc_id.clone(),
        vni: r.vni,
        attachment_id: r.transit_gateway_attachment_id.clone(),
        egress_vpc_id: r.egress_vpc_id.clone(),
        egress_attachment_id: r.egress_attachment_id.clone(),
        destinations: cidrs(&r.destinations)?,
        drops: cidrs(&r.drops)?,
    })
}

pub(crate) fn transit_gateway_vpn_routes(
    r: &pb::TransitGatewayVpnRoutes,
) -> Checked<TransitGatewayVpnRoutesItem> {
    Ok(TransitGatewayVpnRoutesItem {
        vpc_id: r.vpc_id.clone(),
        vpn_connection_id: r.vpn_connection_id.clone(),
        vni: r.vni,
        attachment_id: r.transit_gateway_attachment_id.clone(),
        destinations: cidrs(&r.destinations)?,
    })
}

fn names<T>(given: &[String], parse: fn(&str) -> Option<T>, what: &'static str) -> Checked<Vec<T>> {
    given.iter().map(|g| parse(g).ok_or(what)).collect()
}

fn groups(given: &[u32]) -> Checked<Vec<u8>> {
    given
        .iter()
        .map(|&g| u8::try_from(g).map_err(|_| "a DH group number over 255"))
        .collect()
}

pub(crate) fn vpn_connection(c: &pb::VpnConnection) -> Checked<VpnConnectionItem> {
    let tunnels = c
        .tunnels
        .iter()
        .map(|t| {
            Ok(VpnTunnelItem {
                outside_ip: ip(t.outside_ip),
                inside_cidr: cidr(t.inside_cidr.as_ref())?,
                pre_shared_key: t.pre_shared_key.clone(),
                ike_versions: names(&t.ike_versions, IkeVersion::parse, "an unknown IKE version")?,
                phase1_encryption: names(
                    &t.phase1_encryption,
                    EncryptionAlgorithm::parse,
                    "an unknown encryption algorithm",
                )?,
                phase2_encryption: names(
                    &t.phase2_encryption,
                    EncryptionAlgorithm::parse,
                    "an unknown encryption algorithm",
                )?,
                phase1_integrity: names(
                    &t.phase1_integrity,
                    IntegrityAlgorithm::parse,
                    "an unknown integrity algorithm",
                )?,
                phase2_integrity: names(
                    &t.phase2_integrity,
                    IntegrityAlgorithm::parse,
                    "an unknown integrity algorithm",
                )?,
                phase1_dh_groups: groups(&t.phase1_dh_groups)?,
                phase2_dh_groups: groups(&t.phase2_dh_groups)?,
                phase1_lifetime_seconds: t.phase1_lifetime_seconds,
                phase2_lifetime_seconds: t.phase2_lifetime_seconds,
                rekey_margin_time_seconds: t.rekey_margin_time_seconds,
                rekey_fuzz_percentage: t.rekey_fuzz_percentage,
                replay_window_size: t.replay_window_size,
                dpd_timeout_seconds: t.dpd_timeout_seconds,
                dpd_timeout_action: DpdTimeoutAction::parse(&t.dpd_timeout_action)
                    .ok_or("an unknown DPD timeout action")?,
                startup_action: StartupAction::parse(&t.startup_action)
                    .ok_or("an unknown startup action")?,
            })
        })
        .collect::<Checked<Vec<_>>>()?;
    if tunnels.len() != 2 {
        return Err("a VPN connection has two tunnels");
    }
    Ok(VpnConnectionItem {
        vpc_id: c.vpc_id.clone(),
        vpn_connection_id: c.vpn_connection_id.clone(),
        vpn_gateway_id: c.vpn_gateway_id.clone(),
        vni: c.vni,
        cidrs: cidrs(&c.cidrs)?,
        customer_gateway_ip: ip(c.customer_gateway_ip),
        customer_asn: c.customer_asn,
        amazon_asn: c.amazon_asn,
        static_routes_only: c.static_routes_only,
        routes: cidrs(&c.routes)?,
        local_network: cidr(c.local_network.as_ref())?,
        remote_network: cidr(c.remote_network.as_ref())?,
        tunnels,
        transit_drops: cidrs(&c.transit_drops)?,
    })
}
