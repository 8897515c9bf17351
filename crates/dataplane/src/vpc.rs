//! A VPC as the engine holds it: subnets, compiled route tables and NACLs, V2P.

use crate::nacl::NetworkAcl;
use crate::program::{self, DhcpOptions};
use crate::route::RouteTable;
use crate::transit::Attachment;
use crate::v2p::V2p;
use crate::wire::MacAddr;
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;

pub struct Subnet {
    pub id: String,
    pub cidr: Ipv4Net,
    pub route_table: Option<u16>,
    pub network_acl: Option<u16>,
    pub zone: String,
    pub dep: u32,
}

impl Subnet {
    /// The router's address: base + 1.
    pub fn router_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr.network()) + 1)
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
}

impl Vpc {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.cidrs.iter().any(|c| c.contains(&ip))
    }

    /// The attachment of transit gateway `tgw`.
    pub fn transit(&self, tgw: &str) -> Option<&Attachment> {
        self.transits.iter().find(|a| a.transit_gateway_id == tgw)
    }

    pub fn subnet_of(&self, ip: Ipv4Addr) -> Option<u16> {
        self.subnets
            .iter()
            .position(|s| s.cidr.contains(&ip))
            .and_then(|i| u16::try_from(i).ok())
    }
}

/// The primary CIDR's base + 2.
pub fn dns_address(spec: &program::Vpc) -> Ipv4Addr {
    spec.cidrs.first().map_or(Ipv4Addr::UNSPECIFIED, |c| {
        Ipv4Addr::from(u32::from(c.network()) + 2)
    })
}
