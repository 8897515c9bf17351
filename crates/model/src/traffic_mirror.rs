//! Traffic Mirroring: filters (which packets to copy, by rules and network services),
//! targets (where copies go: a network interface, a Network Load Balancer or a Gateway Load
//! Balancer endpoint) and sessions (a source interface, a target, a filter).

use serde::{Deserialize, Serialize};

use crate::state::wire_enum;
use crate::{
    NetworkInterfaceId, Tags, TrafficMirrorFilterId, TrafficMirrorFilterRuleId,
    TrafficMirrorSessionId, TrafficMirrorTargetId, VpcEndpointId,
};

wire_enum! {
    /// Which way the packets a filter rule matches travel.
    pub enum TrafficDirection {
        Ingress = "ingress",
        Egress = "egress",
    }
}

wire_enum! {
    /// Whether packets a filter rule matches are mirrored.
    pub enum TrafficMirrorRuleAction {
        Accept = "accept",
        Reject = "reject",
    }
}

wire_enum! {
    /// What a target sends the mirrored packets to.
    pub enum TrafficMirrorTargetType {
        NetworkInterface = "network-interface",
        NetworkLoadBalancer = "network-load-balancer",
        GatewayLoadBalancerEndpoint = "gateway-load-balancer-endpoint",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficMirrorFilter {
    pub id: TrafficMirrorFilterId,
    pub description: Option<String>,
    /// Network services whose traffic is mirrored besides the rules' (`amazon-dns`).
    pub network_services: Vec<String>,
    pub tags: Tags,
}

/// A port range of a filter rule (TCP and UDP rules only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficMirrorFilterRule {
    pub id: TrafficMirrorFilterRuleId,
    pub filter_id: TrafficMirrorFilterId,
    pub direction: TrafficDirection,
    pub rule_number: u16,
    pub action: TrafficMirrorRuleAction,
    /// An IP protocol number; `None`: all protocols.
    pub protocol: Option<u8>,
    pub destination_ports: Option<PortRange>,
    pub source_ports: Option<PortRange>,
    pub destination_cidr: String,
    pub source_cidr: String,
    pub description: Option<String>,
    pub tags: Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficMirrorTarget {
    pub id: TrafficMirrorTargetId,
    pub network_interface_id: Option<NetworkInterfaceId>,
    pub network_load_balancer_arn: Option<String>,
    pub gateway_load_balancer_endpoint_id: Option<VpcEndpointId>,
    pub description: Option<String>,
    pub tags: Tags,
}

impl TrafficMirrorTarget {
    pub fn target_type(&self) -> TrafficMirrorTargetType {
        if self.network_interface_id.is_some() {
            TrafficMirrorTargetType::NetworkInterface
        } else if self.network_load_balancer_arn.is_some() {
            TrafficMirrorTargetType::NetworkLoadBalancer
        } else {
            TrafficMirrorTargetType::GatewayLoadBalancerEndpoint
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficMirrorSession {
    pub id: TrafficMirrorSessionId,
    /// The source: the interface whose packets are copied.
    pub network_interface_id: NetworkInterfaceId,
    pub target_id: TrafficMirrorTargetId,
    pub filter_id: TrafficMirrorFilterId,
    /// Bytes of each packet copied; `None`: the whole packet.
    pub packet_length: Option<u16>,
    /// Order among the sessions of one source interface (1-32766, lowest first).
    pub session_number: u16,
    /// The VXLAN network identifier the copies carry.
    pub virtual_network_id: u32,
    pub description: Option<String>,
    pub tags: Tags,
}
