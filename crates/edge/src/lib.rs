//! Fort's edge: the gateways that leave the VPC, as a pure library.
//!
//! No I/O, no clock, no async: the edge process feeds packets and the time in and gets
//! [`Verdict`]s and output packets back (STYLE.md: sans-IO, verdicts as values, time as
//! an argument). Wire views and checksum helpers are `fort_dataplane::wire`'s.
//!
//! * [`program`]: the edge program, the items the mapping service sends
//!   (`igw/<vpc>/<igw>`, `pub/<vpc>/<public-ip>`, `nat/<vpc>/<nat>`).
//! * [`Edge`]: internet gateway (stateless 1:1 NAT between private and public IPv4) and
//!   NAT gateway (source NAT to the elastic IP with per-destination port allocation,
//!   connection tracking with AWS's 350 s idle timeout and RST, inbound-initiated
//!   connections impossible), and gateway VPC endpoints (the same source NAT, to the
//!   service's addresses and without an internet gateway), both entry points in [`edge`].
//! * IPv6 ([`edge`]'s `v6`): the internet gateway routes the VPC's IPv6 addresses as
//!   they are (no NAT for IPv6, as AWS); the egress-only internet gateway lets
//!   connections out and only their replies in (stateful).
//! * [`nat`]: the NAT flow table and port allocator.
//! * [`rewrite`]: header rewrites with incremental checksums; RST and ICMP replies.
//!
//! Glossary: *inside* is the VPC (frames carried in Geneve with the VPC's VNI),
//! *outside* the internet (bare IPv4 packets); a *destination* is AWS's "unique
//! destination" (destination IP, destination port, protocol) of one NAT address.
#![forbid(unsafe_code)]
#![deny(unused_must_use, unreachable_patterns)]

pub mod edge;
/// Test support (frames, programs, the fuzz driver): for tests, benches and fuzz targets.
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
#[cfg(any(test, feature = "test-support"))]
pub mod fuzzing;
pub mod nat;
pub mod program;
pub mod rewrite;
pub mod verdict;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_egress;
#[cfg(test)]
mod tests_v6;

pub use edge::{Edge, EdgeConfig, EndpointFlow, Gateway};
pub use fort_dataplane::Time;
pub use program::{
    ENDPOINT_SOURCE, EdgeItem, EdgeProgram, EgressOnlyInternetGatewayItem, GatewayEndpointItem,
    InternetGatewayItem, NatGatewayItem, NatGatewayState, PublicIpItem,
    TransitGatewayEgressRoutesItem, TransitGatewayVpnRoutesItem, gateway_mac,
};
pub use rewrite::set_inner_macs;
pub use verdict::{DropReason, Stats, Verdict};
