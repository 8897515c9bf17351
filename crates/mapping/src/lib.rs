//! Fort's mapping service: every host's program, derived from the control plane and
//! kept current. The server side of the contract in `fort-proto`; hosts use `fort-sync`.
//!
//! * [`derive`]: which items (ports, VPC headers, subnets, route tables, ACLs, groups and
//!   their members, V2P mappings, the edge's gateways) each stored row contributes;
//! * [`programs`]: the items of every host, one update per affected host per change, the
//!   generations hosts have applied;
//! * [`server`]: the gRPC service hosts connect to.
#![forbid(unsafe_code)]

pub mod derive;
pub mod programs;
pub mod server;
