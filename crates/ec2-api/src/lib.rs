//! The EC2 Query API of Fort: what the AWS CLI, boto3 and every EC2 SDK talk to.
//!
//! HTTP only parses: [`server`] authenticates the request (SigV4) and decodes its
//! parameters ([`query`]); each action in [`actions`] turns them into a typed call on the
//! control plane and renders the answer as EC2's XML ([`xml`]). Every refusal is an
//! [`ApiError`](fort_model::ApiError) with EC2's code.
#![forbid(unsafe_code)]

pub mod actions;
pub mod cluster;
pub mod endpoint_policy;
pub mod filter;
pub mod iam;
pub mod logs;
pub mod metrics;
pub mod query;
pub mod route53;
pub mod server;
pub mod services;
pub mod ssm;
pub mod subnet_groups;
pub mod xml;

pub use server::{Api, Sidecar, router, router_with};

use fort_control::{Control, Scope};
use fort_model::ApiError;

/// Runs one action for `scope` as if a signed request had carried `params`: the request
/// path past authentication, for tests, fuzzing and benchmarks.
pub async fn execute(
    control: &Control,
    scope: &Scope,
    params: &query::Params,
) -> Result<xml::Xml, ApiError> {
    let action = params.req("Action")?;
    let verified = fort_auth::Verified {
        access_key_id: String::new(),
        account_id: scope.account.clone(),
        region: scope.region.clone(),
        service: "ec2".into(),
        date: time::OffsetDateTime::UNIX_EPOCH,
    };
    let ctx = actions::Ctx {
        control,
        scope: scope.clone(),
        params,
        action,
        verified: &verified,
        change: Default::default(),
    };
    actions::dispatch(&ctx).await
}
