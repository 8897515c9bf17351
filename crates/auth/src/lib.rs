//! Who is calling Fort: AWS Signature Version 4 verification of EC2 Query
//! requests, and the accounts and access keys Fort knows.

pub mod credentials;
pub mod sign;
pub mod sigv4;

pub use credentials::{Account, Credential, Credentials, CredentialsError, DEFAULT_ACCOUNT_ID};
pub use sigv4::{HttpRequest, Verified, VerifyError, verify};
