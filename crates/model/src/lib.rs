//! Fort's VPC model: the resources a user creates through the EC2 API, their ids, the
//! address rules they obey and the EC2 errors that say why a request was refused.
//!
//! Pure data and pure functions: the control plane keeps these in its store, the EC2 API
//! renders them, and nothing here does I/O.
#![forbid(unsafe_code)]

pub mod block_public_access;
pub mod cidr;
pub mod cidr6;
pub mod dns_name;
pub mod endpoint;
mod error;
pub mod flow_log;
pub mod hosted_zone;
pub mod id;
pub mod protocol;
pub mod resources;
pub mod snapshot;
mod state;
pub mod traffic_mirror;
pub mod transit_gateway;
pub mod vpn;

pub use block_public_access::*;
pub use endpoint::*;
pub use error::{ApiError, ErrorCode};
pub use flow_log::*;
pub use id::*;
pub use protocol::IpProtocol;
pub use resources::*;
pub use snapshot::*;
pub use state::*;
pub use traffic_mirror::*;
pub use transit_gateway::*;
pub use vpn::*;

/// The account every resource belongs to when no credentials file names another.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// Milliseconds since the Unix epoch: how resources record creation times.
pub type Millis = i64;

/// Formats a time as EC2 does in its XML: `2015-12-17T12:45:26.732Z`.
pub fn format_time(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_ec2_timestamps() {
        assert_eq!(
            super::format_time(1_450_356_326_732),
            "2015-12-17T12:45:26.732Z"
        );
        assert_eq!(super::format_time(0), "1970-01-01T00:00:00.000Z");
    }
}
