//! Idempotent creates: EC2's `ClientToken`.
//!
//! A create that carries a client token is made at most once per token. Asked again with
//! the same token and the same parameters, it answers with what the first request made;
//! with the same token and other parameters, it fails with `IdempotentParameterMismatch`.
//! Once the resource the token made is gone, the token starts afresh.
//!
//! Every idempotent create goes through [`Tx::idempotent`], inside the change that creates
//! the resource, so two racing requests with one token make one resource.

use fort_model::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};

use crate::Tx;
use crate::region::{ClientTokenRecord, Region};

/// The longest token EC2 accepts.
const MAX_LEN: usize = 64;

/// The `ClientToken` of a create request, with a digest of the request's other parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientToken {
    /// The token as the caller gave it (shown back, and kept on some resources).
    token: String,
    /// `Action/token`: the record's key (one token may serve different actions).
    key: String,
    /// A digest of every other parameter of the request.
    fingerprint: String,
}

impl ClientToken {
    /// The `token` of a request for `action`, whose parameters are `params` (dotted name and
    /// value, in a stable order); `ClientToken` and `DryRun` themselves are left out of the
    /// fingerprint.
    pub fn new<'a>(
        action: &str,
        token: &str,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ApiError> {
        if token.len() > MAX_LEN || !token.is_ascii() {
            return Err(ApiError::invalid_value(
                "ClientToken must be at most 64 ASCII characters.",
            ));
        }
        let mut h = Sha256::new();
        for (k, v) in params {
            if k != "ClientToken" && k != "DryRun" {
                h.update(k.as_bytes());
                h.update([0]);
                h.update(v.as_bytes());
                h.update([0]);
            }
        }
        let fingerprint = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            token: token.to_owned(),
            key: format!("{action}/{token}"),
            fingerprint,
        })
    }

    /// The token as given.
    pub fn as_str(&self) -> &str {
        &self.token
    }
}

fn mismatch() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotentParameterMismatch,
        "The client token you have provided is associated with a resource that was created with different parameters.",
    )
}

/// What a token recorded earlier says about a request: the id it made, if the parameters
/// match; a mismatch error if they do not.
fn recorded(region: &Region, token: &ClientToken) -> Result<Option<String>, ApiError> {
    match region.client_tokens.get(&token.key) {
        None => Ok(None),
        Some(r) if r.fingerprint == token.fingerprint => Ok(Some(r.resource_id.clone())),
        Some(_) => Err(mismatch()),
    }
}

impl Tx<'_> {
    /// Makes a create idempotent under `token`. `existing` finds what the first request
    /// made from the id it recorded (`None` once it is gone); `create` makes the resource
    /// and `id` names it for the record. Without a token, this is just `create`.
    pub fn idempotent<R>(
        &mut self,
        token: Option<&ClientToken>,
        existing: impl FnOnce(&Region, &str) -> Option<R>,
        create: impl FnOnce(&mut Self) -> Result<R, ApiError>,
        id: impl FnOnce(&R) -> String,
    ) -> Result<R, ApiError> {
        let Some(token) = token else {
            return create(self);
        };
        if let Some(made) = recorded(self.region, token)?
            && let Some(found) = existing(self.region, &made)
        {
            return Ok(found);
        }
        let created = create(self)?;
        self.region.client_tokens.insert(ClientTokenRecord {
            id: token.key.clone(),
            fingerprint: token.fingerprint.clone(),
            resource_id: id(&created),
        });
        Ok(created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_ignores_the_token_and_dry_run_only() {
        let a = ClientToken::new("CreateVpc", "t", [("Action", "CreateVpc"), ("A", "1")]).unwrap();
        let b = ClientToken::new(
            "CreateVpc",
            "t",
            [
                ("Action", "CreateVpc"),
                ("A", "1"),
                ("ClientToken", "t"),
                ("DryRun", "false"),
            ],
        )
        .unwrap();
        let c = ClientToken::new("CreateVpc", "t", [("Action", "CreateVpc"), ("A", "2")]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.key, "CreateVpc/t");
        assert_eq!(a.fingerprint.len(), 64);
    }

    #[test]
    fn long_or_non_ascii_tokens_are_refused() {
        let long = "x".repeat(65);
        for bad in [long.as_str(), "é"] {
            assert_eq!(
                ClientToken::new("CreateVpc", bad, []).unwrap_err().code,
                ErrorCode::InvalidParameterValue
            );
        }
        assert!(ClientToken::new("CreateVpc", &"x".repeat(64), []).is_ok());
    }
}
