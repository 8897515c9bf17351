//! Fort's mapping service: every agent's host program, derived from the control plane
//! and kept current.
//!
//! * [`derive`]: which items (ports, VPC headers, subnets, route tables, ACLs, groups and
//!   their members, V2P mappings) each stored row contributes;
//! * [`programs`]: the items of every host, one update per affected host per change, the
//!   generations agents have applied;
//! * [`server`]: the gRPC service agents connect to;
//! * [`client`]: the agent's side: a session that keeps a host program current.
#![forbid(unsafe_code)]

pub mod client;
pub mod derive;
pub mod host_state;
pub mod programs;
pub mod server;
pub mod sim;
