//! The contract between the mapping service and hosts, generated from
//! `proto/fort/mapping/v1/mapping.proto`, with the key helpers both sides share.
//!
//! Bump [`CONTRACT_VERSION`] with every change to the `.proto` that a peer of the
//! previous version would misread; hosts of another version are refused at `Hello`.
#![allow(clippy::all, unreachable_pub, missing_docs)]

pub mod mapping {
    tonic::include_proto!("fort.mapping.v1");
}

/// The service's side of the `Mapping` service: as generated, but sending
/// [`wire::EncodedUpdate`]s, which hosts decode as [`mapping::ProgramUpdate`]s.
pub mod server {
    tonic::include_proto!("server/fort.mapping.v1");
}

mod key;
pub mod proxy;
pub mod wire;

/// The version of the mapping contract this build speaks. 1 was the JSON-in-protobuf
/// contract; 2 has typed keys and values; 3 adds flow logs; 4 adds instances (for their
/// metadata service); 5 adds instance names (resource names the VPC resolver answers)
/// and instances' hostname types; 6 adds VPC endpoints (endpoint ports, the names the
/// VPC resolver answers for them, gateway endpoints for the edge), the service address
/// they forward to, transit gateway attachments and routes, and subnets' zones; 7 adds
/// Site-to-Site VPN connections for the edge and its tunnel reports
/// (`ReportVpnTunnels`), and
/// IPv6 (VPCs', subnets' and ENIs' blocks and addresses, IPv6 routes, NACL entries and
/// rules, IPv6 mappings and group members as items of their own); 8 adds NAT gateways'
/// secondary public addresses; 9 adds BGP for dynamic VPN connections: the edge reports
/// each tunnel's session and the prefixes it learned, which come back to it as the
/// connection's routes; 10 adds IPv6 through the edge (the VPC's IPv6 blocks in its
/// internet gateway's item, egress-only internet gateways as route targets and edge
/// items); 11 adds what a transit gateway VPN attachment's table sends into each VPC
/// (`transit_gateway_vpn_routes`), so the edge carries its tunnels' packets into every
/// VPC the table routes to, through that VPC's attachment; 12 adds centralised egress
/// through a transit gateway (`transit_gateway_egress_routes`: what an egress VPC's
/// attachment table sends into each VPC, for the edge; a NAT gateway's subnet in its
/// VPC's `Edge`) and IPv6 through transit gateways (`transit_gateway_route_v6`: a gateway
/// table's IPv6 routes, the value a `TransitGatewayRoute` with `destination_ipv6`).
/// 13 adds an instance's HttpProtocolIpv6 (metadata at `fd00:ec2::254`), its IPv6 address
/// in its resource name's item (the resolver's AAAA answer) and IPv6 name servers in a
/// VPC's DHCP options (for DHCPv6); 14 adds transit gateway peering (a route's `peering`
/// target naming the peer gateway's table, and an attachment's `peer_route_table_ids`),
/// so hosts walk two peered gateways. 15: the forwarders of VPC endpoints (the agent's
/// at interface endpoints, the edge's at S3's addresses for gateway endpoints) write a
/// PROXY v2 header naming the endpoint and the VPC ([`proxy`]) before each connection
/// they carry to the API, which enforces the endpoint's policy by it.
pub const CONTRACT_VERSION: u32 = 15;
