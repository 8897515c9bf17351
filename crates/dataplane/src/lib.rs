//! Fort's packet engine: the VPC data plane as a pure library.
#![forbid(unsafe_code)]
#![deny(unused_must_use, unreachable_patterns)]

pub mod wire;
