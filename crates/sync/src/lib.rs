//! The host side of the mapping contract (`fort-proto`): what agents and the edge use to
//! stay programmed. It links no control plane: only the contract and the engine's and
//! the edge's program types.
//!
//! * [`client`]: the session with the mapping service: registration (with the contract
//!   version), updates in order, applied reports once the host's engine runs with them,
//!   heartbeats carrying the host's health;
//! * [`host_state`]: what an instance host keeps of its program between updates, and what
//!   each update changed (V2P, group members, structure);
//! * [`journal`]: the host's local copy of its program, replayed when it restarts while
//!   no mapping service answers;
//! * [`assemble`]: contract items → the engine's [`HostProgram`](fort_dataplane::HostProgram)
//!   and the edge's [`EdgeProgram`](fort_edge::program::EdgeProgram).
#![forbid(unsafe_code)]

pub mod assemble;
pub mod client;
pub mod host_state;
pub mod journal;

pub use assemble::Malformed;
