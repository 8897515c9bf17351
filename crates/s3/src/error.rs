//! S3's errors: each a code, an HTTP status and AWS's message, answered as S3's XML
//! error document (`<Error><Code>…`), which every S3 SDK parses.

use fort_auth::VerifyError;

/// Why an S3 operation failed. The variants are the codes S3 answers with; the texts
/// follow S3's own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    #[error(
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )]
    BucketAlreadyExists(String),
    #[error("The specified bucket is not valid.")]
    InvalidBucketName(String),
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty(String),
    #[error("Access Denied")]
    AccessDenied,
    /// Denied by a policy (a VPC endpoint's), with AWS's explanation.
    #[error("{0}")]
    AccessDeniedBy(String),
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload,
    #[error(
        "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."
    )]
    InvalidPart,
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("Your metadata headers exceed the maximum allowed metadata size.")]
    MetadataTooLarge,
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedXml,
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    #[error("The specified location-constraint is not valid")]
    InvalidLocationConstraint,
    #[error(
        "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to."
    )]
    IllegalLocationConstraint,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("Fort's S3 does not implement {0}.")]
    NotImplemented(String),
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed,
    #[error("Couldn't parse the specified URI.")]
    InvalidUri,
    // Authentication, from Fort's SigV4 verifier, in S3's words.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    SignatureDoesNotMatch,
    #[error("{0}")]
    AuthorizationHeaderMalformed(String),
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    #[error("{0}")]
    RequestTimeTooSkewed(String),
    #[error("Request has expired")]
    ExpiredPresign,
    #[error("{0}")]
    AuthorizationQueryParametersError(String),
    #[error("Please reduce your request rate.")]
    SlowDown,
    /// The shared store (etcd) is unreachable or full: S3's 503.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// A disk failure: the text goes to the log, not to the client.
    #[error("We encountered an internal error. Please try again.")]
    Internal(String),
}

impl S3Error {
    /// The `<Code>` of the error document.
    pub fn code(&self) -> &'static str {
        match self {
            S3Error::NoSuchBucket(_) => "NoSuchBucket",
            S3Error::NoSuchKey(_) => "NoSuchKey",
            S3Error::BucketAlreadyOwnedByYou(_) => "BucketAlreadyOwnedByYou",
            S3Error::BucketAlreadyExists(_) => "BucketAlreadyExists",
            S3Error::InvalidBucketName(_) => "InvalidBucketName",
            S3Error::BucketNotEmpty(_) => "BucketNotEmpty",
            S3Error::AccessDenied | S3Error::AccessDeniedBy(_) => "AccessDenied",
            S3Error::NoSuchUpload => "NoSuchUpload",
            S3Error::InvalidPart => "InvalidPart",
            S3Error::InvalidPartOrder => "InvalidPartOrder",
            S3Error::EntityTooSmall => "EntityTooSmall",
            S3Error::KeyTooLong => "KeyTooLongError",
            S3Error::InvalidArgument(_) => "InvalidArgument",
            S3Error::MetadataTooLarge => "MetadataTooLarge",
            S3Error::MalformedXml => "MalformedXML",
            S3Error::InvalidRange => "InvalidRange",
            S3Error::PreconditionFailed => "PreconditionFailed",
            S3Error::BadDigest => "BadDigest",
            S3Error::InvalidDigest => "InvalidDigest",
            S3Error::EntityTooLarge => "EntityTooLarge",
            S3Error::IncompleteBody => "IncompleteBody",
            S3Error::InvalidLocationConstraint => "InvalidLocationConstraint",
            S3Error::IllegalLocationConstraint => "IllegalLocationConstraintException",
            S3Error::InvalidRequest(_) => "InvalidRequest",
            S3Error::NotImplemented(_) => "NotImplemented",
            S3Error::MethodNotAllowed => "MethodNotAllowed",
            S3Error::InvalidUri => "InvalidURI",
            S3Error::InvalidAccessKeyId => "InvalidAccessKeyId",
            S3Error::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            S3Error::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            S3Error::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
            S3Error::RequestTimeTooSkewed(_) => "RequestTimeTooSkewed",
            S3Error::SlowDown => "SlowDown",
            S3Error::ServiceUnavailable(_) => "ServiceUnavailable",
            S3Error::ExpiredPresign => "AccessDenied",
            S3Error::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            S3Error::Internal(_) => "InternalError",
        }
    }

    /// The HTTP status S3 answers the error with.
    pub fn status(&self) -> u16 {
        match self {
            S3Error::NoSuchBucket(_) | S3Error::NoSuchKey(_) | S3Error::NoSuchUpload => 404,
            S3Error::BucketAlreadyOwnedByYou(_)
            | S3Error::BucketAlreadyExists(_)
            | S3Error::BucketNotEmpty(_) => 409,
            S3Error::AccessDenied
            | S3Error::AccessDeniedBy(_)
            | S3Error::ExpiredPresign
            | S3Error::InvalidAccessKeyId
            | S3Error::SignatureDoesNotMatch
            | S3Error::RequestTimeTooSkewed(_) => 403,
            S3Error::InvalidRange => 416,
            S3Error::PreconditionFailed => 412,
            S3Error::NotImplemented(_) => 501,
            S3Error::MethodNotAllowed => 405,
            S3Error::Internal(_) => 500,
            S3Error::SlowDown | S3Error::ServiceUnavailable(_) => 503,
            S3Error::InvalidBucketName(_)
            | S3Error::KeyTooLong
            | S3Error::InvalidArgument(_)
            | S3Error::MetadataTooLarge
            | S3Error::InvalidPart
            | S3Error::InvalidPartOrder
            | S3Error::EntityTooSmall
            | S3Error::MalformedXml
            | S3Error::BadDigest
            | S3Error::InvalidDigest
            | S3Error::EntityTooLarge
            | S3Error::IncompleteBody
            | S3Error::InvalidLocationConstraint
            | S3Error::IllegalLocationConstraint
            | S3Error::InvalidRequest(_)
            | S3Error::InvalidUri
            | S3Error::AuthorizationHeaderMalformed(_)
            | S3Error::AuthorizationQueryParametersError(_)
            | S3Error::ContentSha256Mismatch => 400,
        }
    }

    /// The bucket the error names (`<BucketName>` in the document), if any.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            S3Error::NoSuchBucket(b)
            | S3Error::BucketAlreadyOwnedByYou(b)
            | S3Error::BucketAlreadyExists(b)
            | S3Error::InvalidBucketName(b)
            | S3Error::BucketNotEmpty(b) => Some(b),
            _ => None,
        }
    }

    /// The key the error names (`<Key>` in the document), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            S3Error::NoSuchKey(k) => Some(k),
            _ => None,
        }
    }

    pub(crate) fn io(context: &str, e: &std::io::Error) -> S3Error {
        S3Error::Internal(format!("{context}: {e}"))
    }
}

impl From<&VerifyError> for S3Error {
    /// Fort's verifier refuses in EC2's terms; S3 clients expect S3's codes.
    fn from(e: &VerifyError) -> S3Error {
        match e {
            VerifyError::MissingAuthenticationToken => S3Error::AccessDenied,
            VerifyError::UnknownAccessKey => S3Error::InvalidAccessKeyId,
            VerifyError::SignatureMismatch => S3Error::SignatureDoesNotMatch,
            VerifyError::IncompleteSignature(m) | VerifyError::InvalidScope(m) => {
                S3Error::AuthorizationHeaderMalformed(m.clone())
            }
            VerifyError::PayloadHash(_) => S3Error::ContentSha256Mismatch,
            VerifyError::RequestExpired(m) => S3Error::RequestTimeTooSkewed(m.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_s3() {
        assert_eq!(S3Error::NoSuchBucket("b".into()).status(), 404);
        assert_eq!(S3Error::BucketNotEmpty("b".into()).status(), 409);
        assert_eq!(S3Error::AccessDenied.status(), 403);
        assert_eq!(S3Error::InvalidRange.status(), 416);
        assert_eq!(S3Error::KeyTooLong.code(), "KeyTooLongError");
        assert_eq!(
            S3Error::from(&VerifyError::SignatureMismatch).code(),
            "SignatureDoesNotMatch"
        );
        assert_eq!(S3Error::from(&VerifyError::UnknownAccessKey).status(), 403);
    }
}
