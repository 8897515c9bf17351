//! Fort's packet engine: the VPC data plane as a pure library.
//!
//! No I/O, no clock, no async: the agent feeds frames and the time in, and gets
//! [`Verdict`]s and output frames back. See [`engine`] for the entry points and
//! [`program`] for the configuration (the host program).
//!
//! Glossary (AWS's vocabulary): a *port* is an ENI on this host; *V2P* maps a VPC's
//! private address to the host, MAC and ENI that hold it; the *fast path* serves a
//! cached flow decision, the *slow path* walks every stage and caches the result.
#![forbid(unsafe_code)]
#![deny(unused_must_use, unreachable_patterns)]

pub mod arp;
pub mod conntrack;
pub mod counters;
pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod engine;
pub mod flow_table;
pub mod nacl;
pub mod ndp;
pub mod offload;
pub mod overlay;
pub mod packet;
pub mod port;
pub mod prefix;
pub mod program;
pub mod route;
pub mod security_group;
pub mod slots;
pub mod transit;
pub mod v2p;
pub mod verdict;
pub mod vpc;
pub mod wire;

// Test support (feature `test-support`): builders, fuzz entry points, the reference
// evaluator. Not part of the production API.
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
#[cfg(any(test, feature = "test-support"))]
pub mod fuzzing;
#[cfg(any(test, feature = "test-support"))]
pub mod reference;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use engine::{Engine, EngineConfig, Footprint, InstallError, PortLink};
pub use offload::{Arrival, CachedFlow, CachedFlow6, Offload, Offload6, OffloadAction};
pub use program::HostProgram;
pub use verdict::{DropReason, Output, PortId, Processed, Service, Time, Verdict};
