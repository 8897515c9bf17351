//! Fort's gRPC definitions (generated from `proto/`): the mapping and sync service.
#![allow(clippy::all, unreachable_pub, missing_docs)]

pub mod mapping {
    tonic::include_proto!("fort.mapping.v1");
}
