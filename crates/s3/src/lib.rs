//! Fort's S3: buckets and objects kept in the data directory, served through S3's REST
//! API on Fort's one endpoint (path-style addressing, SigV4 with service `s3`), and
//! written in-process by Fort itself (flow-log delivery: [`S3::put_object`]).
//!
//! Hand-written rather than built on the `s3s` crates: Fort already verifies S3's
//! signatures, needs a dozen operations, and s3s's tree (pinned pre-release crypto
//! crates, ICU, its own SigV4) would cost more build time than this whole crate.

pub mod access;
pub mod chunked;
pub mod error;
pub mod list;
pub mod metrics;
pub mod names;
pub mod rest;
pub mod sigv2;
pub mod store;
pub mod xml;

pub use error::S3Error;
pub use rest::{serve, signed_for_s3};
pub use store::{BucketMeta, ByteRange, Caller, Created, ObjectAttrs, ObjectMeta, S3};
