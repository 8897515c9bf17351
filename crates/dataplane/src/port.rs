//! Ports: the ENIs of this host, compiled from the host program.

use crate::program;
use crate::security_group::{Members, Members6, PortSecurity, PortSecurity6};
use crate::wire::MacAddr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub struct Port {
    /// The ENI's id (shared with the flow-log counters of its traffic).
    pub id: Arc<str>,
    pub vpc: u16,
    /// Index into the VPC's subnets; `None` if the program names an unknown subnet (the
    /// port then drops everything it sends as unroutable).
    pub subnet: Option<u16>,
    pub mac: MacAddr,
    pub addresses: Vec<Ipv4Addr>,
    pub source_dest_check: bool,
    pub security: PortSecurity,
    /// The ENI's IPv6 addresses (the first is what DHCPv6 hands out).
    pub addresses6: Vec<Ipv6Addr>,
    /// Its groups' IPv6 rules.
    pub security6: PortSecurity6,
    pub timeouts: crate::conntrack::Timeouts,
    /// None for an interface of an IPv6-only subnet.
    pub primary_ip: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    /// Flow logs record the port: its flows are counted.
    pub flow_logs: bool,
    /// Dependency slot of the port's configuration (including its groups' rules).
    pub dep: u32,
    /// Dependency slot bumped when the port starts tracking a flow.
    pub ct_dep: u32,
}

impl Port {
    #[inline]
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.addresses.contains(&ip)
    }

    #[inline]
    pub fn owns6(&self, ip: Ipv6Addr) -> bool {
        self.addresses6.contains(&ip)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn compile(
        spec: &program::Port,
        vpc: u16,
        subnet: Option<u16>,
        groups: &[program::SecurityGroup],
        members: &Members<'_>,
        members6: &Members6<'_>,
        dep: u32,
        ct_dep: u32,
    ) -> Port {
        let mine: Vec<&program::SecurityGroup> = spec
            .security_groups
            .iter()
            .filter_map(|id| groups.iter().find(|g| &g.id == id))
            .collect();
        Port {
            id: Arc::from(spec.id.as_str()),
            vpc,
            subnet,
            mac: spec.mac,
            addresses: spec.addresses().collect(),
            source_dest_check: spec.source_dest_check,
            security: PortSecurity::compile_with(&mine, members),
            addresses6: spec.ipv6_addresses.clone(),
            security6: PortSecurity6::compile_with(&mine, members6),
            timeouts: spec.conntrack.into(),
            primary_ip: spec.primary_ip,
            hostname: spec.hostname.clone(),
            flow_logs: spec.flow_logs,
            dep,
            ct_dep,
        }
    }
}
