//! Item keys: constructors, the VPC a key belongs to, and a readable form for logs.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::mapping::item_key::Kind;
use crate::mapping::{
    GroupMember, GroupMember6, ItemKey, TransitGatewayRoute6Key, TransitGatewayRouteKey,
    VpcAddress, VpcAddress6, VpcObject,
};

fn object(vpc_id: &str, id: &str) -> VpcObject {
    VpcObject {
        vpc_id: vpc_id.to_owned(),
        id: id.to_owned(),
    }
}

fn address(vpc_id: &str, ip: Ipv4Addr) -> VpcAddress {
    VpcAddress {
        vpc_id: vpc_id.to_owned(),
        ip: ip.into(),
    }
}

impl ItemKey {
    fn of(kind: Kind) -> ItemKey {
        ItemKey { kind: Some(kind) }
    }
    pub fn port(eni_id: &str) -> ItemKey {
        Self::of(Kind::Port(eni_id.to_owned()))
    }
    pub fn vpc(vpc_id: &str) -> ItemKey {
        Self::of(Kind::Vpc(vpc_id.to_owned()))
    }
    pub fn subnet(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::Subnet(object(vpc_id, id)))
    }
    pub fn route_table(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::RouteTable(object(vpc_id, id)))
    }
    pub fn network_acl(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::NetworkAcl(object(vpc_id, id)))
    }
    pub fn security_group(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::SecurityGroup(object(vpc_id, id)))
    }
    pub fn mapping(vpc_id: &str, ip: Ipv4Addr) -> ItemKey {
        Self::of(Kind::Mapping(address(vpc_id, ip)))
    }
    pub fn member(vpc_id: &str, group_id: &str, ip: Ipv4Addr) -> ItemKey {
        Self::of(Kind::Member(GroupMember {
            vpc_id: vpc_id.to_owned(),
            group_id: group_id.to_owned(),
            ip: ip.into(),
        }))
    }
    /// Where an IPv6 address of the VPC lives.
    pub fn mapping_v6(vpc_id: &str, ip: Ipv6Addr) -> ItemKey {
        Self::of(Kind::MappingV6(VpcAddress6 {
            vpc_id: vpc_id.to_owned(),
            ip: ip.octets().to_vec(),
        }))
    }
    /// An IPv6 address of a group's member.
    pub fn member_v6(vpc_id: &str, group_id: &str, ip: Ipv6Addr) -> ItemKey {
        Self::of(Kind::MemberV6(GroupMember6 {
            vpc_id: vpc_id.to_owned(),
            group_id: group_id.to_owned(),
            ip: ip.octets().to_vec(),
        }))
    }
    pub fn internet_gateway(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::InternetGateway(object(vpc_id, id)))
    }
    pub fn egress_only_internet_gateway(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::EgressOnlyInternetGateway(object(vpc_id, id)))
    }
    pub fn public_ip(vpc_id: &str, ip: Ipv4Addr) -> ItemKey {
        Self::of(Kind::PublicIp(address(vpc_id, ip)))
    }
    pub fn nat_gateway(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::NatGateway(object(vpc_id, id)))
    }
    pub fn flow_log(vpc_id: &str, id: &str) -> ItemKey {
        Self::of(Kind::FlowLog(object(vpc_id, id)))
    }
    pub fn private_zone(vpc_id: &str, zone_id: &str) -> ItemKey {
        Self::of(Kind::PrivateZone(object(vpc_id, zone_id)))
    }
    pub fn instance_name(vpc_id: &str, instance_id: &str) -> ItemKey {
        Self::of(Kind::InstanceName(object(vpc_id, instance_id)))
    }
    pub fn transit_gateway_attachment(vpc_id: &str, attachment_id: &str) -> ItemKey {
        Self::of(Kind::TransitGatewayAttachment(object(
            vpc_id,
            attachment_id,
        )))
    }
    /// A route to `address/prefix_len` of a transit gateway route table.
    pub fn transit_gateway_route(
        route_table_id: &str,
        address: Ipv4Addr,
        prefix_len: u8,
    ) -> ItemKey {
        Self::of(Kind::TransitGatewayRoute(TransitGatewayRouteKey {
            route_table_id: route_table_id.to_owned(),
            address: address.into(),
            prefix_len: prefix_len.into(),
        }))
    }
    /// An IPv6 route to `address/prefix_len` of a transit gateway route table.
    pub fn transit_gateway_route6(
        route_table_id: &str,
        address: Ipv6Addr,
        prefix_len: u8,
    ) -> ItemKey {
        Self::of(Kind::TransitGatewayRouteV6(TransitGatewayRoute6Key {
            route_table_id: route_table_id.to_owned(),
            address: address.octets().to_vec(),
            prefix_len: prefix_len.into(),
        }))
    }
    pub fn instance(instance_id: &str) -> ItemKey {
        Self::of(Kind::Instance(instance_id.to_owned()))
    }
    pub fn gateway_endpoint(vpc_id: &str, endpoint_id: &str) -> ItemKey {
        Self::of(Kind::GatewayEndpoint(object(vpc_id, endpoint_id)))
    }
    pub fn vpc_endpoint(vpc_id: &str, endpoint_id: &str) -> ItemKey {
        Self::of(Kind::VpcEndpoint(object(vpc_id, endpoint_id)))
    }
    pub fn vpn_connection(vpc_id: &str, vpn_connection_id: &str) -> ItemKey {
        Self::of(Kind::VpnConnection(object(vpc_id, vpn_connection_id)))
    }
    pub fn transit_gateway_vpn_routes(vpc_id: &str, vpn_connection_id: &str) -> ItemKey {
        Self::of(Kind::TransitGatewayVpnRoutes(object(
            vpc_id,
            vpn_connection_id,
        )))
    }
    /// Centralised egress: what egress attachment `egress_attachment_id`'s table sends
    /// into `vpc_id`.
    pub fn transit_gateway_egress_routes(vpc_id: &str, egress_attachment_id: &str) -> ItemKey {
        Self::of(Kind::TransitGatewayEgressRoutes(object(
            vpc_id,
            egress_attachment_id,
        )))
    }
    /// The address of a service Fort serves (`api`).
    pub fn service(name: &str) -> ItemKey {
        Self::of(Kind::Service(name.to_owned()))
    }

    /// The VPC whose items the key names (none for a port or an instance: those are
    /// their host's own; a transit gateway route's is its table's id, which scopes it).
    pub fn vpc_id(&self) -> Option<&str> {
        Some(match self.kind.as_ref()? {
            Kind::Port(_) | Kind::Instance(_) | Kind::Service(_) => return None,
            Kind::Vpc(v) => v,
            Kind::Subnet(o)
            | Kind::RouteTable(o)
            | Kind::NetworkAcl(o)
            | Kind::SecurityGroup(o)
            | Kind::InternetGateway(o)
            | Kind::EgressOnlyInternetGateway(o)
            | Kind::NatGateway(o)
            | Kind::FlowLog(o)
            | Kind::PrivateZone(o)
            | Kind::InstanceName(o)
            | Kind::TransitGatewayAttachment(o)
            | Kind::VpcEndpoint(o)
            | Kind::GatewayEndpoint(o)
            | Kind::VpnConnection(o)
            | Kind::TransitGatewayVpnRoutes(o)
            | Kind::TransitGatewayEgressRoutes(o) => &o.vpc_id,
            Kind::Mapping(a) | Kind::PublicIp(a) => &a.vpc_id,
            Kind::Member(m) => &m.vpc_id,
            Kind::MappingV6(a) => &a.vpc_id,
            Kind::MemberV6(m) => &m.vpc_id,
            Kind::TransitGatewayRoute(r) => &r.route_table_id,
            Kind::TransitGatewayRouteV6(r) => &r.route_table_id,
        })
    }

    /// A gateway the edge serves (internet or NAT gateway, gateway endpoint, VPN
    /// connection).
    pub fn is_gateway(&self) -> bool {
        matches!(
            self.kind,
            Some(
                Kind::InternetGateway(_)
                    | Kind::EgressOnlyInternetGateway(_)
                    | Kind::NatGateway(_)
                    | Kind::GatewayEndpoint(_)
                    | Kind::VpnConnection(_)
                    | Kind::TransitGatewayVpnRoutes(_)
                    | Kind::TransitGatewayEgressRoutes(_)
            )
        )
    }

    pub fn is_mapping(&self) -> bool {
        matches!(self.kind, Some(Kind::Mapping(_)))
    }
}

/// `kind/vpc/id`: the key as people read it in logs.
impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = |a: u32| Ipv4Addr::from(a);
        let ip6 = |b: &[u8]| {
            <[u8; 16]>::try_from(b).map_or_else(
                |_| "(bad address)".to_owned(),
                |o| Ipv6Addr::from(o).to_string(),
            )
        };
        match &self.kind {
            None => write!(f, "(empty)"),
            Some(Kind::Port(id)) => write!(f, "port/{id}"),
            Some(Kind::Vpc(id)) => write!(f, "vpc/{id}"),
            Some(Kind::Subnet(o)) => write!(f, "subnet/{}/{}", o.vpc_id, o.id),
            Some(Kind::RouteTable(o)) => write!(f, "rtb/{}/{}", o.vpc_id, o.id),
            Some(Kind::NetworkAcl(o)) => write!(f, "acl/{}/{}", o.vpc_id, o.id),
            Some(Kind::SecurityGroup(o)) => write!(f, "sg/{}/{}", o.vpc_id, o.id),
            Some(Kind::Mapping(a)) => write!(f, "map/{}/{}", a.vpc_id, ip(a.ip)),
            Some(Kind::Member(m)) => {
                write!(f, "member/{}/{}/{}", m.vpc_id, m.group_id, ip(m.ip))
            }
            Some(Kind::InternetGateway(o)) => write!(f, "igw/{}/{}", o.vpc_id, o.id),
            Some(Kind::EgressOnlyInternetGateway(o)) => write!(f, "eigw/{}/{}", o.vpc_id, o.id),
            Some(Kind::PublicIp(a)) => write!(f, "pub/{}/{}", a.vpc_id, ip(a.ip)),
            Some(Kind::NatGateway(o)) => write!(f, "nat/{}/{}", o.vpc_id, o.id),
            Some(Kind::FlowLog(o)) => write!(f, "fl/{}/{}", o.vpc_id, o.id),
            Some(Kind::Instance(id)) => write!(f, "instance/{id}"),
            Some(Kind::PrivateZone(o)) => write!(f, "zone/{}/{}", o.vpc_id, o.id),
            Some(Kind::InstanceName(o)) => write!(f, "name/{}/{}", o.vpc_id, o.id),
            Some(Kind::TransitGatewayAttachment(o)) => write!(f, "tgw/{}/{}", o.vpc_id, o.id),
            Some(Kind::TransitGatewayRoute(r)) => write!(
                f,
                "tgw-route/{}/{}/{}",
                r.route_table_id,
                ip(r.address),
                r.prefix_len
            ),
            Some(Kind::TransitGatewayRouteV6(r)) => write!(
                f,
                "tgw-route6/{}/{}/{}",
                r.route_table_id,
                ip6(&r.address),
                r.prefix_len
            ),
            Some(Kind::VpcEndpoint(o)) => write!(f, "vpce/{}/{}", o.vpc_id, o.id),
            Some(Kind::Service(name)) => write!(f, "service/{name}"),
            Some(Kind::GatewayEndpoint(o)) => write!(f, "gwvpce/{}/{}", o.vpc_id, o.id),
            Some(Kind::VpnConnection(o)) => write!(f, "vpn/{}/{}", o.vpc_id, o.id),
            Some(Kind::TransitGatewayVpnRoutes(o)) => write!(f, "tgw-vpn/{}/{}", o.vpc_id, o.id),
            Some(Kind::TransitGatewayEgressRoutes(o)) => {
                write!(f, "tgw-egress/{}/{}", o.vpc_id, o.id)
            }
            Some(Kind::MappingV6(a)) => write!(f, "map6/{}/{}", a.vpc_id, ip6(&a.ip)),
            Some(Kind::MemberV6(m)) => {
                write!(f, "member6/{}/{}/{}", m.vpc_id, m.group_id, ip6(&m.ip))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_and_name_their_vpc() {
        let a = ItemKey::mapping("vpc-1", Ipv4Addr::new(10, 0, 0, 5));
        let b = ItemKey::mapping("vpc-1", Ipv4Addr::new(10, 0, 0, 6));
        assert!(a < b);
        assert_eq!(a.vpc_id(), Some("vpc-1"));
        assert_eq!(ItemKey::port("eni-1").vpc_id(), None);
        assert_eq!(a.to_string(), "map/vpc-1/10.0.0.5");
        assert!(ItemKey::nat_gateway("vpc-1", "nat-1").is_gateway());
        let eigw = ItemKey::egress_only_internet_gateway("vpc-1", "eigw-1");
        assert!(eigw.is_gateway());
        assert_eq!(eigw.to_string(), "eigw/vpc-1/eigw-1");
        assert!(!a.is_gateway());
        let name = ItemKey::instance_name("vpc-1", "i-1");
        assert_eq!(name.vpc_id(), Some("vpc-1"));
        assert_eq!(name.to_string(), "name/vpc-1/i-1");
        let six = ItemKey::mapping_v6("vpc-1", "2001:db8::5".parse().unwrap());
        assert_eq!(six.vpc_id(), Some("vpc-1"));
        assert_eq!(six.to_string(), "map6/vpc-1/2001:db8::5");
        let m = ItemKey::member_v6("vpc-1", "sg-1", "2001:db8::5".parse().unwrap());
        assert_eq!(m.to_string(), "member6/vpc-1/sg-1/2001:db8::5");
    }
}
