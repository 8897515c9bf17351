//! Who is calling Fort: AWS Signature Version 4 verification of EC2 Query
//! requests, and the accounts and access keys Fort knows; and what a caller may do
//! through a VPC endpoint ([`policy`]: endpoint policies, evaluated as IAM evaluates them).

pub mod credentials;
pub mod policy;
pub mod sign;
pub mod sigv4;

pub use credentials::{Account, Credential, Credentials, CredentialsError, DEFAULT_ACCOUNT_ID};
pub use sigv4::{HttpRequest, Verified, VerifyError, verify};
