//! The EC2 Query API of Fort: what the AWS CLI, boto3 and every EC2 SDK talk to.
//!
//! HTTP only parses: [`server`] authenticates the request (SigV4) and decodes its
//! parameters ([`query`]); each action in [`actions`] turns them into a typed call on the
//! control plane and renders the answer as EC2's XML ([`xml`]). Every refusal is an
//! [`ApiError`](fort_model::ApiError) with EC2's code.
#![forbid(unsafe_code)]

pub mod actions;
pub mod filter;
pub mod query;
pub mod server;
pub mod xml;

pub use server::{Api, router};
