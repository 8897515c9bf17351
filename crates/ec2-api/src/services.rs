//! One endpoint, several AWS services: a request belongs to the service its signature is
//! scoped to. A service Fort does not serve (yet) is answered in that service's own
//! protocol, with an error its SDK raises as such: a 401 "wrong service" would send users
//! hunting for a credentials problem they do not have.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The wire protocols of AWS services, as their SDKs speak them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Form-encoded `Action=...`, XML answers (IAM, SNS, STS, ELB, ...).
    Query,
    /// `X-Amz-Target` names the operation, JSON both ways (CloudWatch Logs, SSM, KMS, ...).
    Json,
    /// Smithy RPC v2 with CBOR bodies (CloudWatch metrics in recent SDKs).
    Cbor,
    /// REST with XML bodies (S3, Route 53, CloudFront).
    RestXml,
    /// REST with JSON bodies (Lambda, EKS, ...).
    RestJson,
}

/// Services whose REST protocol speaks XML; every other REST service speaks JSON.
const REST_XML: &[&str] = &["s3", "route53", "cloudfront"];

impl Protocol {
    /// The protocol a request was sent in, read from its shape: the SDK chose it from the
    /// service's model, so the answer in the same protocol is one it can parse.
    pub fn of(service: &str, headers: &HeaderMap, query: &str, body: &[u8]) -> Protocol {
        let has = |name: &str| headers.contains_key(name);
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        let names_action = |s: &[u8]| form_urlencoded::parse(s).any(|(k, _)| k == "Action");
        if headers
            .get("smithy-protocol")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"rpc-v2-cbor"))
        {
            Protocol::Cbor
        } else if has("x-amz-target") {
            Protocol::Json
        } else if (form && names_action(body)) || names_action(query.as_bytes()) {
            Protocol::Query
        } else if REST_XML.contains(&service) {
            Protocol::RestXml
        } else {
            Protocol::RestJson
        }
    }
}

/// The answer to a request for `service`, which Fort does not offer at this endpoint.
pub fn not_offered(service: &str, protocol: Protocol, request_id: &str) -> Response {
    let message = format!(
        "Fort does not offer the '{service}' service at this endpoint; it serves EC2 (with STS GetCallerIdentity and SSM's public image parameters)."
    );
    let (status, content_type, body) = match protocol {
        Protocol::Query => (
            StatusCode::BAD_REQUEST,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                crate::xml::escape(&message)
            )
            .into_bytes(),
        ),
        Protocol::Json => (
            StatusCode::BAD_REQUEST,
            "application/x-amz-json-1.1",
            json_error(&message).into_bytes(),
        ),
        Protocol::RestJson => (
            StatusCode::BAD_REQUEST,
            "application/json",
            json_error(&message).into_bytes(),
        ),
        Protocol::Cbor => (
            StatusCode::BAD_REQUEST,
            "application/cbor",
            cbor_error(&message),
        ),
        // S3's own error document; 501 as S3 answers an operation it does not implement
        Protocol::RestXml if service == "s3" => (
            StatusCode::NOT_IMPLEMENTED,
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NotImplemented</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                crate::xml::escape(&message)
            )
            .into_bytes(),
        ),
        Protocol::RestXml => (
            StatusCode::BAD_REQUEST,
            "text/xml",
            format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                crate::xml::escape(&message)
            )
            .into_bytes(),
        ),
    };
    let mut resp = (status, Body::from(body)).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id.clone());
        headers.insert("x-amz-request-id", id);
    }
    if matches!(protocol, Protocol::RestJson | Protocol::Json) {
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(UNKNOWN_OPERATION),
        );
    }
    if protocol == Protocol::Cbor {
        headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    resp
}

/// The code JSON and CBOR services give an operation they do not know.
const UNKNOWN_OPERATION: &str = "UnknownOperationException";

fn json_error(message: &str) -> String {
    serde_json::json!({ "__type": UNKNOWN_OPERATION, "message": message }).to_string()
}

/// `{"__type": ..., "message": ...}` in CBOR (RFC 8949): a map of two text strings.
fn cbor_error(message: &str) -> Vec<u8> {
    let mut out = vec![0xa2]; // map of 2 pairs
    for text in ["__type", UNKNOWN_OPERATION, "message", message] {
        cbor_text(text, &mut out);
    }
    out
}

/// A CBOR text string: major type 3, then its length in the shortest form.
fn cbor_text(text: &str, out: &mut Vec<u8>) {
    let len = text.len();
    match (u8::try_from(len), u16::try_from(len), u32::try_from(len)) {
        (Ok(n), _, _) if n < 24 => out.push(0x60 | n),
        (Ok(n), _, _) => out.extend([0x78, n]),
        (_, Ok(n), _) => {
            out.push(0x79);
            out.extend(n.to_be_bytes());
        }
        (_, _, Ok(n)) => {
            out.push(0x7a);
            out.extend(n.to_be_bytes());
        }
        // a message is never 4 GiB long
        _ => out.push(0x60),
    }
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn protocols_from_the_request_shape() {
        let form = headers(&[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )]);
        assert_eq!(
            Protocol::of("iam", &form, "", b"Action=ListUsers&Version=2010-05-08"),
            Protocol::Query
        );
        assert_eq!(
            Protocol::of("sns", &HeaderMap::new(), "Action=ListTopics", b""),
            Protocol::Query
        );
        let json = headers(&[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "Logs_20140328.DescribeLogGroups"),
        ]);
        assert_eq!(Protocol::of("logs", &json, "", b"{}"), Protocol::Json);
        let cbor = headers(&[("smithy-protocol", "rpc-v2-cbor")]);
        assert_eq!(Protocol::of("monitoring", &cbor, "", b""), Protocol::Cbor);
        assert_eq!(
            Protocol::of("s3", &HeaderMap::new(), "list-type=2", b""),
            Protocol::RestXml
        );
        assert_eq!(
            Protocol::of("route53", &HeaderMap::new(), "", b""),
            Protocol::RestXml
        );
        assert_eq!(
            Protocol::of("lambda", &HeaderMap::new(), "", b""),
            Protocol::RestJson
        );
    }

    #[test]
    fn cbor_text_lengths() {
        let mut out = Vec::new();
        cbor_text("abc", &mut out);
        assert_eq!(out, b"\x63abc");
        let long = "x".repeat(300);
        out.clear();
        cbor_text(&long, &mut out);
        assert_eq!(&out[..3], &[0x79, 0x01, 0x2c]);
        assert_eq!(out.len(), 303);
        let error = cbor_error("no");
        assert_eq!(error[0], 0xa2);
        assert!(error.ends_with(b"\x67message\x62no"));
    }
}
