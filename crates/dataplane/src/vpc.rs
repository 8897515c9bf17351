//! A VPC as the engine holds it: subnets, compiled route tables and NACLs, V2P.

use crate::nacl::NetworkAcl;
use crate::prefix::Prefix;
use crate::program::{self, DhcpOptions};
use crate::route::RouteTable;
use crate::transit::Attachment;
use crate::v2p::{V2p, V2p6};
use crate::wire::MacAddr;
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

pub struct Subnet {
    pub id: String,
    /// Its IPv4 block; none for an IPv6-only subnet.
    pub cidr: Option<Ipv4Net>,
    /// Its IPv6 block (a /64), if it has one.
    pub cidr6: Option<Ipv6Net>,
    /// The router's IPv6 address (`…::1` of `cidr6`), kept: every new IPv6 flow asks
    /// whether it is addressed to the router.
    pub router6: Option<Ipv6Addr>,
    pub route_table: Option<u16>,
    pub network_acl: Option<u16>,
    pub zone: String,
    pub dep: u32,
}

impl Subnet {
    /// The router's address: base + 1 (none in an IPv6-only subnet).
    pub fn router_ip(&self) -> Option<Ipv4Addr> {
        self.cidr
            .map(|c| Ipv4Addr::from(u32::from(c.network()).wrapping_add(1)))
    }

    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.cidr.is_some_and(|c| c.covers(ip))
    }

    /// The router's IPv6 address in a subnet of block `cidr6`: base + 1 (`…::1`).
    pub fn router_ip6_of(cidr6: Option<Ipv6Net>) -> Option<Ipv6Addr> {
        cidr6.map(|c| Ipv6Addr::from(c.parts().1.wrapping_add(1)))
    }

    #[inline]
    pub fn contains6(&self, ip: Ipv6Addr) -> bool {
        self.cidr6.is_some_and(|c| c.covers(ip))
    }
}

pub struct Vpc {
    pub id: String,
    pub vni: u32,
    pub cidrs: Vec<Ipv4Net>,
    pub router_mac: MacAddr,
    /// The resolver: primary CIDR base + 2.
    pub dns: Ipv4Addr,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub network_acls: Vec<NetworkAcl>,
    pub v2p: V2p,
    /// IPv6 blocks and V2P.
    pub cidrs6: Vec<Ipv6Net>,
    pub v2p6: V2p6,
    pub edges: HashMap<String, Ipv4Addr>,
    pub edge_hosts: Vec<Ipv4Addr>,
    pub peerings: HashMap<String, u16>,
    pub peer_vpcs: Vec<u16>,
    /// Its transit gateway attachments, in the program's order.
    pub transits: Vec<Attachment>,
    /// The VPCs whose packets may reach it through a transit gateway (either side's
    /// table routes to the other).
    pub transit_vpcs: Vec<u16>,
    pub dhcp: DhcpOptions,
    pub dep: u32,
    /// Its NAT gateways that name their subnet (centralised egress).
    pub egress_nats: Vec<EgressNat>,
}

/// A NAT gateway of a VPC as centralised egress walks it: packets that entered the VPC
/// through a transit gateway attachment leave by it, and its replies come back from the
/// edge with [`EgressNat::mac`] as their inner source.
pub struct EgressNat {
    pub id: String,
    /// `overlay::gateway_mac` of its id.
    pub mac: MacAddr,
    /// Its subnet's index in the VPC's subnets (`None`: not among them).
    pub subnet: Option<u16>,
}

impl Vpc {
    /// The NAT gateway `id`, if it is one of the VPC's.
    pub fn egress_nat(&self, id: &str) -> Option<&EgressNat> {
        self.egress_nats.iter().find(|n| n.id == id)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.cidrs.iter().any(|c| c.covers(ip))
    }

    pub fn contains6(&self, ip: Ipv6Addr) -> bool {
        self.cidrs6.iter().any(|c| c.covers(ip))
    }

    /// The attachment of transit gateway `tgw`.
    pub fn transit(&self, tgw: &str) -> Option<&Attachment> {
        self.transits.iter().find(|a| a.transit_gateway_id == tgw)
    }

    pub fn subnet_of(&self, ip: Ipv4Addr) -> Option<u16> {
        self.subnets
            .iter()
            .position(|s| s.contains(ip))
            .and_then(|i| u16::try_from(i).ok())
    }
}

/// The primary CIDR's base + 2.
pub fn dns_address(spec: &program::Vpc) -> Ipv4Addr {
    spec.cidrs.first().map_or(Ipv4Addr::UNSPECIFIED, |c| {
        Ipv4Addr::from(u32::from(c.network()) + 2)
    })
}
