//! The one error type of the API: an EC2 error code and the message the user sees.

use std::borrow::Cow;
use std::fmt;

/// An EC2 error: `code` is what SDKs branch on, `message` is for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: Cow<'static, str>,
    pub message: String,
}

impl ApiError {
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The HTTP status EC2 answers this code with.
    pub fn status(&self) -> u16 {
        match &*self.code {
            "AuthFailure"
            | "MissingAuthenticationToken"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch" => 401,
            "UnauthorizedOperation" => 403,
            "DryRunOperation" => 412,
            "InternalError" | "InternalFailure" => 500,
            "RequestLimitExceeded" | "Unavailable" | "ServiceUnavailable" => 503,
            _ => 400,
        }
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request must contain the parameter {param}"),
        )
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", message)
    }

    /// `Value (x) for parameter y is invalid. ...`, EC2's usual wording.
    pub fn bad_param(param: &str, value: &str, why: &str) -> Self {
        Self::invalid_value(format!(
            "Value ({value}) for parameter {param} is invalid. {why}"
        ))
    }

    pub fn combination(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterCombination", message)
    }

    pub fn dependency(kind: &str, id: &str) -> Self {
        Self::new(
            "DependencyViolation",
            format!("The {kind} '{id}' has dependencies and cannot be deleted."),
        )
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing_free_log(&detail);
        Self::new("InternalError", "An internal error has occurred")
    }

    pub fn dry_run() -> Self {
        Self::new(
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        )
    }
}

/// Internal details never reach the user; they go to standard error for the operator.
fn tracing_free_log(detail: &dyn fmt::Display) {
    eprintln!("internal error: {detail}");
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
