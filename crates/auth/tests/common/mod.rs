//! Shared by the integration tests: an owned request, signed with the real
//! `aws-sigv4` crate, verified with ours.
#![allow(dead_code)]

use std::borrow::Cow;
use std::time::{Duration as StdDuration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use fort_auth::{Credential, Credentials, HttpRequest, Verified, VerifyError, verify};
use time::OffsetDateTime;
use time::macros::datetime;

pub const AKID: &str = "AKIAFORTTEST00000001";
pub const SECRET: &str = "fortTestSecret/abcdefghij+klmnopqrstuvw";
pub const ACCOUNT: &str = "123456789012";
pub const HOST: &str = "127.0.0.1:8773";
pub const T0: OffsetDateTime = datetime!(2026-11-26 12:00:00 UTC);

pub fn credentials() -> Credentials {
    let mut c = Credentials::new();
    c.insert(
        "default",
        Credential {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            account_id: ACCOUNT.into(),
        },
    )
    .unwrap();
    c.insert(
        "other",
        Credential {
            access_key_id: "AKIAFORTTEST00000002".into(),
            secret_access_key: "second secret".into(),
            account_id: "210987654321".into(),
        },
    )
    .unwrap();
    c
}

#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: &str, query: &str, body: &[u8]) -> Self {
        Req {
            method: method.into(),
            path: "/".into(),
            query: query.into(),
            headers: vec![("host".into(), HOST.into())],
            body: body.to_vec(),
        }
    }

    /// What botocore sends for an EC2 call.
    pub fn botocore_post(body: &str) -> Self {
        Req::new("POST", "", body.as_bytes()).header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.as_bytes().to_vec()));
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn set_header(self, name: &str, value: &str) -> Self {
        self.without_header(name).header(name, value)
    }

    pub fn header_value(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn verify_at(
        &self,
        creds: &Credentials,
        now: OffsetDateTime,
    ) -> Result<Verified, VerifyError> {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        verify(
            &HttpRequest {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &headers,
                body: &self.body,
            },
            creds,
            now,
        )
    }

    pub fn verify(&self) -> Result<Verified, VerifyError> {
        self.verify_at(&credentials(), T0)
    }

    pub fn code(&self) -> &'static str {
        match self.verify() {
            Ok(_) => "Ok",
            Err(e) => e.code(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub token: Option<String>,
    pub region: String,
    pub service: String,
    pub time: OffsetDateTime,
    /// Presign into the query string, valid for this long.
    pub presign: Option<StdDuration>,
    /// Send `X-Amz-Content-SHA256`.
    pub content_sha256: bool,
    pub body: BodyMode,
    pub exclude_headers: Vec<&'static str>,
    /// S3's rules: the path signed as sent, neither normalized nor encoded again.
    pub s3: bool,
}

#[derive(Clone, Debug)]
pub enum BodyMode {
    Signed,
    Unsigned,
    Precomputed(String),
}

impl Default for Signer {
    fn default() -> Self {
        Signer {
            access_key_id: AKID.into(),
            secret: SECRET.into(),
            token: None,
            region: "us-east-1".into(),
            service: "ec2".into(),
            time: T0,
            presign: None,
            content_sha256: false,
            body: BodyMode::Signed,
            exclude_headers: vec![],
            s3: false,
        }
    }
}

impl Signer {
    /// Signs `req` in place with `aws-sigv4`, adding its headers or query parameters.
    pub fn sign(&self, mut req: Req) -> Req {
        let identity = aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret,
            self.token.clone(),
            None,
            "fort-auth-tests",
        )
        .into();
        let mut settings = SigningSettings::default();
        if let Some(expires) = self.presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(expires);
        }
        if self.content_sha256 {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        if self.s3 {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        if let Some(excluded) = settings.excluded_headers.as_mut() {
            excluded.extend(self.exclude_headers.iter().map(|h| Cow::Borrowed(*h)));
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::from(self.time))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let uri = if req.query.is_empty() {
            format!("http://{HOST}{}", req.path)
        } else {
            format!("http://{HOST}{}?{}", req.path, req.query)
        };
        let header_strings: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), String::from_utf8(v.clone()).unwrap()))
            .collect();
        let body = match &self.body {
            BodyMode::Signed => SignableBody::Bytes(&req.body),
            BodyMode::Unsigned => SignableBody::UnsignedPayload,
            BodyMode::Precomputed(h) => SignableBody::Precomputed(h.clone()),
        };
        let signable = SignableRequest::new(
            &req.method,
            uri,
            header_strings.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            body,
        )
        .unwrap();
        let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
        let (headers, query_params) = instructions.into_parts();
        for h in headers {
            req.headers
                .push((h.name().to_owned(), h.value().as_bytes().to_vec()));
        }
        for (name, value) in query_params {
            if !req.query.is_empty() {
                req.query.push('&');
            }
            req.query.push_str(name);
            req.query.push('=');
            req.query.push_str(&encode(&value));
        }
        req
    }
}

/// Strict RFC 3986 query encoding for the parameters we append.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
