//! The simulated internet's DNS.
//!
//! `fort up` runs one authoritative server for the names of its simulated internet: the
//! test hosts' built-in zone ([`authority::TEST_ZONE`]), zone files a user gives (RFC 1035
//! master files, read by hickory's parser) and single `NAME=IPV4` records. Every name
//! outside those zones is answered NXDOMAIN, with the AA bit off: the server plays the
//! whole internet, so a name nobody serves does not exist (a resolver that forwards to it
//! then tells its clients so, where REFUSED would make it try elsewhere and fail).
//!
//! * [`authority`]: the catalog of zones and how a query is answered;
//! * [`server`]: the catalog served over UDP and TCP on sockets the caller binds (possibly
//!   inside a network namespace), with bounded in-flight work.
//!
//! This crate links no control plane: host processes (agents) may link it.

pub mod authority;
pub mod server;

pub use authority::{Authority, PublicNames, StaticRecord, ZoneError, Zones};
pub use server::{DnsServer, Listener};
