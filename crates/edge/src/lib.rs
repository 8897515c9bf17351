//! Fort's edge: the gateways that leave the VPC, as a pure library.
#![forbid(unsafe_code)]
