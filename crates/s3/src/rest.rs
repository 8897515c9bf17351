//! S3's REST protocol, path-style (`/bucket/key`), on Fort's one endpoint.
//!
//! A request comes here when its SigV4 credential scope names service `s3`
//! ([`signed_for_s3`]); Fort's verifier authenticates it (it knows S3's signing rules:
//! the raw path, `UNSIGNED-PAYLOAD`, `STREAMING-…`), then [`dispatch`] routes it by
//! method, path and sub-resource to the store. Operations Fort does not serve answer
//! S3's `NotImplemented` (501).

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use fort_auth::policy::EndpointGate;
use fort_auth::sigv4::{self, HttpRequest};
use fort_auth::{Credentials, Verified};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::error::S3Error;
use crate::metrics::METRICS;
use crate::store::{ByteRange, Caller, Created, ObjectAttrs, ObjectMeta, S3};
use crate::xml::{escape, leaves};
use crate::{chunked, store};

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The largest request body read: the largest object plus aws-chunked framing.
pub const MAX_REQUEST_BYTES: usize = store::MAX_OBJECT_BYTES + (store::MAX_OBJECT_BYTES >> 6);

/// MiB of request bodies held at once, all S3 requests together: beyond it S3's
/// `SlowDown` (503), which SDKs retry with backoff.
pub const BODY_BUDGET_MIB: u32 = 1024;
static BODY_BUDGET: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(BODY_BUDGET_MIB as usize);

/// The most keys one DeleteObjects names, as in S3.
const MAX_DELETE_KEYS: usize = 1000;
const MAX_KEYS: usize = 1000;

/// Whether the request's SigV4 credential scope (Authorization header, or the
/// `X-Amz-Credential` of a presigned URL) names service `s3`. Read before the body, so
/// S3's uploads escape the EC2 API's body limit.
pub fn signed_for_s3(headers: &HeaderMap, query: &str) -> bool {
    if crate::sigv2::is_presigned_v2(query) {
        return true;
    }
    let is_s3 = |credential: &str| credential.split('/').nth(3) == Some("s3");
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return auth
            .split([',', ' '])
            .filter_map(|p| p.trim().strip_prefix("Credential="))
            .any(is_s3);
    }
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == "X-Amz-Credential")
        .any(|(_, v)| percent_decode_str(v).decode_utf8().is_ok_and(|v| is_s3(&v)))
}

/// Answers one S3 request: reads the body (up to [`MAX_REQUEST_BYTES`]), verifies the
/// signature, and runs the operation off the async runtime (it touches the disk).
pub async fn serve(
    s3: Arc<S3>,
    credentials: &Credentials,
    req: Request<Body>,
    gate: Option<&EndpointGate>,
) -> Response {
    let request_id = new_request_id();
    let (parts, body) = req.into_parts();
    let head = parts.method == Method::HEAD;
    // bodies are read before the signature is checked: bound what they may hold at once
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES) {
        METRICS.request("unknown", S3Error::EntityTooLarge.code());
        return error_response(&S3Error::EntityTooLarge, &request_id, head);
    }
    let mib =
        u32::try_from(declared.unwrap_or(MAX_REQUEST_BYTES).div_ceil(1 << 20)).unwrap_or(u32::MAX);
    let Ok(_budget) = BODY_BUDGET.try_acquire_many(mib) else {
        METRICS.request("unknown", S3Error::SlowDown.code());
        return error_response(&S3Error::SlowDown, &request_id, head);
    };
    let Ok(body) = to_bytes(body, MAX_REQUEST_BYTES).await else {
        METRICS.request("unknown", S3Error::EntityTooLarge.code());
        return error_response(&S3Error::EntityTooLarge, &request_id, head);
    };
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let http = HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let now = time::OffsetDateTime::now_utc();
    let verified = if crate::sigv2::is_presigned_v2(http.query) {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        crate::sigv2::verify(
            http.method,
            http.path,
            http.query,
            header,
            credentials,
            now.unix_timestamp(),
        )
    } else {
        sigv4::verify(&http, credentials, now).map_err(|e| S3Error::from(&e))
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            METRICS.request("unknown", e.code());
            return error_response(&e, &request_id, head);
        }
    };
    drop(headers);
    // through a VPC endpoint: every action the request needs must pass its policy
    if let Some(gate) = gate {
        for a in crate::access::accesses(&parts, &body) {
            let context: Vec<(&str, &str)> =
                a.context.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Err(r) = gate.check(&verified.account_id, a.action, &a.resource, &context) {
                METRICS.request("unknown", "AccessDenied");
                return error_response(&S3Error::AccessDeniedBy(r.message), &request_id, head);
            }
        }
    }
    let rid = request_id.clone();
    let task = tokio::task::spawn_blocking(move || {
        let (op, result) = dispatch(&s3, &verified, &parts, &body);
        let code = result.as_ref().map_or_else(S3Error::code, |_| "ok");
        METRICS.request(op, code);
        match result {
            Ok(resp) => resp,
            Err(e) => {
                if let S3Error::Internal(detail) = &e {
                    tracing::warn!(operation = op, detail, "S3 internal error");
                }
                error_response(&e, &request_id, head)
            }
        }
    });
    let mut resp = task.await.unwrap_or_else(|_| {
        error_response(
            &S3Error::Internal("task failed".into()),
            &new_request_id(),
            head,
        )
    });
    add_ids(resp.headers_mut(), &rid);
    resp
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase()
}

fn add_ids(headers: &mut HeaderMap, request_id: &str) {
    if !headers.contains_key("x-amz-request-id")
        && let Ok(v) = HeaderValue::from_str(request_id)
    {
        headers.insert("x-amz-request-id", v.clone());
        headers.insert("x-amz-id-2", v);
    }
}

/// S3's error document (no body for HEAD, as S3 answers).
pub fn error_response(e: &S3Error, request_id: &str, head: bool) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
        e.code(),
        escape(&e.to_string())
    );
    if let Some(b) = e.bucket() {
        doc.push_str(&format!("<BucketName>{}</BucketName>", escape(b)));
    }
    if let Some(k) = e.key() {
        doc.push_str(&format!("<Key>{}</Key>", escape(k)));
    }
    doc.push_str(&format!(
        "<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
    ));
    let mut resp = if head {
        status.into_response()
    } else {
        (status, doc).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    resp
}

fn xml_ok(body: String) -> Response {
    let mut resp = (
        StatusCode::OK,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// The query string's parameters, decoded, without the presigning ones.
pub(crate) fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .filter(|(k, _)| !k.starts_with("X-Amz-") && !k.starts_with("x-amz-"))
        .collect()
}

pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Sub-resources Fort does not serve, with the operation each names (for the 501 text).
const UNSERVED: &[(&str, &str)] = &[
    ("uploads", "ListMultipartUploads"),
    ("uploadId", "ListParts"),
    ("acl", "ACLs"),
    ("policy", "bucket policies"),
    ("policyStatus", "bucket policies"),
    ("versioning", "versioning"),
    ("versions", "versioning"),
    ("versionId", "versioning"),
    ("tagging", "tagging"),
    ("lifecycle", "lifecycle configuration"),
    ("cors", "CORS configuration"),
    ("encryption", "encryption configuration"),
    ("website", "website configuration"),
    ("logging", "bucket logging"),
    ("notification", "notifications"),
    ("replication", "replication"),
    ("publicAccessBlock", "public access blocks"),
    ("ownershipControls", "ownership controls"),
    ("object-lock", "object lock"),
    ("retention", "object lock"),
    ("legal-hold", "object lock"),
    ("accelerate", "transfer acceleration"),
    ("requestPayment", "requester pays"),
    ("analytics", "analytics configuration"),
    ("inventory", "inventory configuration"),
    ("metrics", "metrics configuration"),
    ("intelligent-tiering", "intelligent tiering"),
    ("restore", "RestoreObject"),
    ("select", "SelectObjectContent"),
    ("attributes", "GetObjectAttributes"),
    ("torrent", "torrents"),
    ("session", "CreateSession"),
];

fn unserved(q: &Query) -> Result<(), S3Error> {
    match UNSERVED.iter().find(|(name, _)| q.has(name)) {
        Some((_, what)) => Err(S3Error::NotImplemented((*what).to_owned())),
        None => Ok(()),
    }
}

/// The bucket of a virtual-hosted style host name: `BUCKET.localhost` (what SDKs send to
/// a `localhost` endpoint), `BUCKET.s3.REGION.amazonaws.com` and `BUCKET.s3.amazonaws.com`
/// (S3's own names, which gateway endpoints reach).
fn virtual_host_bucket(host: &str) -> Option<&str> {
    let bucket = match host.strip_suffix(".localhost") {
        Some(b) => b,
        None => {
            let name = host.strip_suffix(".amazonaws.com")?;
            match name.strip_suffix(".s3") {
                Some(b) => b,
                None => name.rsplit_once('.')?.0.strip_suffix(".s3")?,
            }
        }
    };
    (!bucket.is_empty()).then_some(bucket)
}

/// The bucket and key a request addresses: path-style `/bucket/key`, or virtual-hosted
/// style ([`virtual_host_bucket`]).
pub(crate) fn address(parts: &Parts) -> Result<(String, Option<String>), S3Error> {
    let path = parts.uri.path();
    let decode = |s: &str| -> Result<String, S3Error> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| S3Error::InvalidUri)
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if let Some(bucket) = virtual_host_bucket(host) {
        let key = path.strip_prefix('/').unwrap_or(path);
        let key = (!key.is_empty()).then(|| decode(key)).transpose()?;
        return Ok((bucket.to_owned(), key));
    }
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then_some(k)),
        None => (rest, None),
    };
    Ok((decode(bucket)?, key.map(decode).transpose()?))
}

/// Routes a verified request to its operation; returns the operation's name (for
/// metrics) and the answer.
pub fn dispatch(
    s3: &S3,
    who: &Verified,
    parts: &Parts,
    body: &[u8],
) -> (&'static str, Result<Response, S3Error>) {
    let q = Query(query_params(parts.uri.query().unwrap_or("")));
    let (bucket, key) = match address(parts) {
        Ok(a) => a,
        Err(e) => return ("unknown", Err(e)),
    };
    let caller = Caller::Account(&who.account_id);
    let m = &parts.method;
    if bucket.is_empty() {
        return match *m {
            Method::GET => ("ListBuckets", Ok(list_buckets(s3, who))),
            _ => ("unknown", Err(S3Error::MethodNotAllowed)),
        };
    }
    let Some(key) = key else {
        if let Err(e) = unserved(&q) {
            return ("unknown", Err(e));
        }
        return match *m {
            Method::PUT => ("CreateBucket", create_bucket(s3, who, &bucket, body)),
            Method::HEAD => ("HeadBucket", head_bucket(s3, &bucket, caller)),
            Method::GET if q.has("location") => (
                "GetBucketLocation",
                get_bucket_location(s3, &bucket, caller),
            ),
            Method::GET if q.get("list-type") == Some("2") => {
                ("ListObjectsV2", list_objects(s3, &bucket, &q, true, caller))
            }
            Method::GET if q.has("list-type") => (
                "ListObjectsV2",
                Err(S3Error::InvalidArgument("Invalid list type".into())),
            ),
            Method::GET => ("ListObjects", list_objects(s3, &bucket, &q, false, caller)),
            Method::DELETE => ("DeleteBucket", delete_bucket(s3, &bucket, caller)),
            Method::POST if q.has("delete") => {
                ("DeleteObjects", delete_objects(s3, &bucket, body, caller))
            }
            _ => ("unknown", Err(S3Error::MethodNotAllowed)),
        };
    };
    let h = &parts.headers;
    if let Some(id) = q.get("uploadId") {
        let multipart = match *m {
            Method::PUT if h.contains_key("x-amz-copy-source") => None,
            Method::PUT => Some((
                "UploadPart",
                upload_part(s3, &bucket, &key, id, &q, h, body, caller),
            )),
            Method::POST => Some((
                "CompleteMultipartUpload",
                complete_upload(s3, &bucket, &key, id, body, caller),
            )),
            Method::DELETE => Some((
                "AbortMultipartUpload",
                s3.abort_upload(&bucket, &key, id, caller)
                    .map(|()| empty(StatusCode::NO_CONTENT)),
            )),
            _ => None,
        };
        if let Some(answer) = multipart {
            return answer;
        }
    }
    if *m == Method::POST && q.has("uploads") {
        return (
            "CreateMultipartUpload",
            create_upload(s3, &bucket, &key, h, caller),
        );
    }
    if let Err(e) = unserved(&q) {
        return ("unknown", Err(e));
    }
    match *m {
        Method::PUT if h.contains_key("x-amz-copy-source") => {
            ("CopyObject", copy_object(s3, &bucket, &key, h, caller))
        }
        Method::PUT => ("PutObject", put_object(s3, &bucket, &key, h, body, caller)),
        Method::GET => ("GetObject", get_object(s3, &bucket, &key, h, false, caller)),
        Method::HEAD => ("HeadObject", get_object(s3, &bucket, &key, h, true, caller)),
        Method::DELETE => ("DeleteObject", delete_object(s3, &bucket, &key, caller)),
        _ => ("unknown", Err(S3Error::MethodNotAllowed)),
    }
}

/// The canonical user id S3 shows for an account: 64 hex digits, stable.
fn canonical_id(account: &str) -> String {
    hex::encode(Sha256::digest(
        format!("fort-canonical-user:{account}").as_bytes(),
    ))
}

fn owner_xml(account: &str) -> String {
    format!(
        "<Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner>",
        canonical_id(account),
        escape(account)
    )
}

fn iso8601(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

fn http_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap_or_default()
}

fn parse_http_date(s: &str) -> Option<i64> {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = time::PrimitiveDateTime::parse(s.trim(), &f).ok()?;
    Some(t.assume_utc().unix_timestamp() * 1000)
}

fn list_buckets(s3: &S3, who: &Verified) -> Response {
    let mut out = format!(
        "<ListAllMyBucketsResult xmlns=\"{XMLNS}\">{}<Buckets>",
        owner_xml(&who.account_id)
    );
    for b in s3.list_buckets(&who.account_id) {
        out.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><BucketRegion>{}</BucketRegion></Bucket>",
            escape(&b.name),
            iso8601(b.created_ms),
            escape(&b.region)
        ));
    }
    out.push_str("</Buckets></ListAllMyBucketsResult>");
    xml_ok(out)
}

fn create_bucket(s3: &S3, who: &Verified, bucket: &str, body: &[u8]) -> Result<Response, S3Error> {
    crate::names::check_bucket_name(bucket)?;
    let constraint = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let l = leaves(body)?;
        l.into_iter()
            .find(|(p, _)| p == "CreateBucketConfiguration/LocationConstraint")
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let region = match constraint {
        // S3 refuses an explicit us-east-1: it is what no constraint means
        Some(c) if c == "us-east-1" => return Err(S3Error::InvalidLocationConstraint),
        Some(c) if c != who.region => {
            return Err(S3Error::InvalidRequest(format!(
                "The {c} location constraint is incompatible for the region specific endpoint this request was sent to."
            )));
        }
        Some(c) => c,
        None if who.region == "us-east-1" => "us-east-1".to_owned(),
        None => return Err(S3Error::IllegalLocationConstraint),
    };
    match s3.create_bucket(bucket, &who.account_id, &region)? {
        Created::New | Created::AlreadyOwned => {
            let mut resp = empty(StatusCode::OK);
            if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
    }
}

fn head_bucket(s3: &S3, bucket: &str, caller: Caller<'_>) -> Result<Response, S3Error> {
    let meta = s3.bucket(bucket, caller)?;
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&meta.region) {
        resp.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(resp)
}

fn get_bucket_location(s3: &S3, bucket: &str, caller: Caller<'_>) -> Result<Response, S3Error> {
    let meta = s3.bucket(bucket, caller)?;
    Ok(xml_ok(if meta.region == "us-east-1" {
        format!("<LocationConstraint xmlns=\"{XMLNS}\"/>")
    } else {
        format!(
            "<LocationConstraint xmlns=\"{XMLNS}\">{}</LocationConstraint>",
            escape(&meta.region)
        )
    }))
}

fn delete_bucket(s3: &S3, bucket: &str, caller: Caller<'_>) -> Result<Response, S3Error> {
    s3.delete_bucket(bucket, caller)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Characters `encoding-type=url` leaves as they are (botocore decodes with unquote_plus,
/// so `+` must be encoded).
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A continuation token: the name listing resumes after, opaque to clients.
fn encode_token(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name.as_bytes())
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::InvalidArgument("The continuation token provided is incorrect".into())
        })
}

fn list_objects(
    s3: &S3,
    bucket: &str,
    q: &Query,
    v2: bool,
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    let prefix = q.get("prefix").unwrap_or("");
    let delimiter = q.get("delimiter").unwrap_or("");
    let max_keys = match q.get("max-keys") {
        None => MAX_KEYS as i64,
        Some(m) => m.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
            S3Error::InvalidArgument(
                "Provided max-keys not an integer or within integer range".into(),
            )
        })?,
    };
    let max = usize::try_from(max_keys).unwrap_or(MAX_KEYS).min(MAX_KEYS);
    let url = match q.get("encoding-type") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::InvalidArgument(
                "Invalid Encoding Method specified in Request".into(),
            ));
        }
    };
    let enc = |s: &str| {
        if url {
            utf8_percent_encode(s, URL_ENCODE).to_string()
        } else {
            escape(s)
        }
    };
    let token = q.get("continuation-token");
    let start_after = if v2 {
        q.get("start-after")
    } else {
        q.get("marker")
    };
    let after = match (v2, token) {
        (true, Some(t)) => Some(decode_token(t)?),
        _ => start_after.filter(|s| !s.is_empty()).map(str::to_owned),
    };
    let listing = s3.list(bucket, prefix, delimiter, after.as_deref(), max, caller)?;
    let fetch_owner = !v2 || q.get("fetch-owner") == Some("true");
    let owner = s3.bucket_owner(bucket).unwrap_or_default();
    let mut out = format!(
        "<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        escape(bucket),
        enc(prefix)
    );
    if !v2 {
        out.push_str(&format!(
            "<Marker>{}</Marker>",
            enc(start_after.unwrap_or(""))
        ));
    }
    if !delimiter.is_empty() {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", enc(delimiter)));
    }
    out.push_str(&format!("<MaxKeys>{max_keys}</MaxKeys>"));
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    if v2 {
        out.push_str(&format!(
            "<KeyCount>{}</KeyCount>",
            listing.objects.len() + listing.common_prefixes.len()
        ));
    }
    out.push_str(&format!("<IsTruncated>{}</IsTruncated>", listing.truncated));
    if v2 {
        if let Some(t) = token {
            out.push_str(&format!(
                "<ContinuationToken>{}</ContinuationToken>",
                escape(t)
            ));
        }
        if let Some(s) = start_after {
            out.push_str(&format!("<StartAfter>{}</StartAfter>", enc(s)));
        }
        if listing.truncated
            && let Some(last) = &listing.last
        {
            out.push_str(&format!(
                "<NextContinuationToken>{}</NextContinuationToken>",
                encode_token(last)
            ));
        }
    } else if listing.truncated
        && !delimiter.is_empty()
        && let Some(last) = &listing.last
    {
        out.push_str(&format!("<NextMarker>{}</NextMarker>", enc(last)));
    }
    for (key, s) in &listing.objects {
        out.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size>{}<StorageClass>STANDARD</StorageClass></Contents>",
            enc(key),
            iso8601(s.last_modified_ms),
            s.etag,
            s.size,
            if fetch_owner { owner_xml(&owner) } else { String::new() }
        ));
    }
    for p in &listing.common_prefixes {
        out.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            enc(p)
        ));
    }
    out.push_str("</ListBucketResult>");
    Ok(xml_ok(out))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The object headers of a PutObject (or a CopyObject that replaces them).
fn attrs_from(h: &HeaderMap) -> ObjectAttrs {
    let s = |name| header_str(h, name).map(str::to_owned);
    // aws-chunked is the transfer framing, not the object's encoding
    let encoding = header_str(h, "content-encoding")
        .map(|e| {
            e.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .filter(|e| !e.is_empty());
    ObjectAttrs {
        content_type: s("content-type"),
        content_encoding: encoding,
        content_disposition: s("content-disposition"),
        content_language: s("content-language"),
        cache_control: s("cache-control"),
        metadata: h
            .iter()
            .filter_map(|(k, v)| {
                let name = k.as_str().strip_prefix("x-amz-meta-")?;
                Some((name.to_owned(), v.to_str().ok()?.to_owned()))
            })
            .collect(),
    }
}

/// The object bytes of a PutObject or UploadPart: aws-chunked framing removed, the
/// Content-MD5 (if any) checked.
fn payload<'a>(h: &HeaderMap, body: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, S3Error> {
    let chunked = header_str(h, "x-amz-content-sha256")
        .is_some_and(|v| v.starts_with("STREAMING-"))
        || header_str(h, "content-encoding").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("aws-chunked"))
        });
    let body = if chunked {
        let decoded = chunked::decode(body, store::MAX_OBJECT_BYTES).map_err(|e| match e {
            chunked::ChunkError::TooLarge => S3Error::EntityTooLarge,
            e @ chunked::ChunkError::Malformed(_) => S3Error::InvalidRequest(e.to_string()),
        })?;
        if let Some(declared) = header_str(h, "x-amz-decoded-content-length")
            && declared.trim().parse::<usize>().ok() != Some(decoded.len())
        {
            return Err(S3Error::IncompleteBody);
        }
        std::borrow::Cow::Owned(decoded)
    } else {
        std::borrow::Cow::Borrowed(body)
    };
    if let Some(md5) = header_str(h, "content-md5") {
        let want = base64::engine::general_purpose::STANDARD
            .decode(md5.trim())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or(S3Error::InvalidDigest)?;
        if hex::encode(want) != store::etag_of(&body) {
            return Err(S3Error::BadDigest);
        }
    }
    Ok(body)
}

fn etag_header(etag: &str) -> Response {
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn put_object(
    s3: &S3,
    bucket: &str,
    key: &str,
    h: &HeaderMap,
    body: &[u8],
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    let body = payload(h, body)?;
    let meta = s3.put(bucket, key, &body, attrs_from(h), caller)?;
    Ok(etag_header(&meta.etag))
}

fn create_upload(
    s3: &S3,
    bucket: &str,
    key: &str,
    h: &HeaderMap,
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    let id = s3.create_upload(bucket, key, attrs_from(h), caller)?;
    Ok(xml_ok(format!(
        "<InitiateMultipartUploadResult xmlns=\"{XMLNS}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
        escape(bucket),
        escape(key)
    )))
}

#[allow(clippy::too_many_arguments)]
fn upload_part(
    s3: &S3,
    bucket: &str,
    key: &str,
    id: &str,
    q: &Query,
    h: &HeaderMap,
    body: &[u8],
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    let n = q
        .get("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| {
            S3Error::InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive".into(),
            )
        })?;
    let body = payload(h, body)?;
    let etag = s3.upload_part(bucket, key, id, n, &body, caller)?;
    Ok(etag_header(&etag))
}

/// The parts a CompleteMultipartUpload body lists: (number, ETag).
pub fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    // each <Part> gives a PartNumber and an ETag, in either order: a field seen twice
    // starts the next part
    let mut parts = Vec::new();
    let (mut number, mut etag): (Option<u32>, Option<String>) = (None, None);
    for (path, text) in leaves(body)? {
        match path.as_str() {
            "CompleteMultipartUpload/Part/PartNumber" => {
                if number.is_some() {
                    parts.push((number.take(), etag.take()));
                }
                number = Some(text.trim().parse().map_err(|_| S3Error::MalformedXml)?);
            }
            "CompleteMultipartUpload/Part/ETag" => {
                if etag.is_some() {
                    parts.push((number.take(), etag.take()));
                }
                etag = Some(text);
            }
            p if p.starts_with("CompleteMultipartUpload/Part/") => {}
            _ => return Err(S3Error::MalformedXml),
        }
    }
    parts.push((number, etag));
    if parts.len() > store::MAX_PARTS as usize {
        return Err(S3Error::MalformedXml);
    }
    parts
        .into_iter()
        .map(|p| match p {
            (Some(n), Some(e)) => Ok((n, e)),
            _ => Err(S3Error::MalformedXml),
        })
        .collect()
}

fn complete_upload(
    s3: &S3,
    bucket: &str,
    key: &str,
    id: &str,
    body: &[u8],
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    let parts = parse_complete(body)?;
    let meta = s3.complete_upload(bucket, key, id, &parts, caller)?;
    Ok(xml_ok(format!(
        "<CompleteMultipartUploadResult xmlns=\"{XMLNS}\"><Location>/{}/{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>&quot;{}&quot;</ETag></CompleteMultipartUploadResult>",
        escape(bucket),
        escape(&utf8_percent_encode(key, URL_ENCODE).to_string()),
        escape(bucket),
        escape(key),
        meta.etag
    )))
}

fn copy_object(
    s3: &S3,
    bucket: &str,
    key: &str,
    h: &HeaderMap,
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    let source = header_str(h, "x-amz-copy-source").unwrap_or("");
    let source = source.split_once('?').map_or(source, |(s, _)| s);
    let source = percent_decode_str(source)
        .decode_utf8()
        .map_err(|_| S3Error::InvalidArgument("Invalid copy source encoding".into()))?;
    let source = source.strip_prefix('/').unwrap_or(&source);
    let Some((src_bucket, src_key)) = source
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
    else {
        return Err(S3Error::InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey".into(),
        ));
    };
    let replace = match header_str(h, "x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => {
            return Err(S3Error::InvalidArgument(
                "Unknown metadata directive.".into(),
            ));
        }
    };
    if src_bucket == bucket && src_key == key && !replace {
        return Err(S3Error::InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into(),
        ));
    }
    let attrs = replace.then(|| attrs_from(h));
    let meta = s3.copy((src_bucket, src_key), (bucket, key), attrs, caller)?;
    Ok(xml_ok(format!(
        "<CopyObjectResult xmlns=\"{XMLNS}\"><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag></CopyObjectResult>",
        iso8601(meta.last_modified_ms),
        meta.etag
    )))
}

/// A `Range` header, if it is one Fort serves (a single byte range). Any other form is
/// ignored, as HTTP allows: the whole object is sent.
fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => Some(ByteRange::Suffix(num(last)?)),
        (false, true) => Some(ByteRange::From {
            first: num(first)?,
            last: None,
        }),
        (false, false) => {
            let (a, b) = (num(first)?, num(last)?);
            (a <= b).then_some(ByteRange::From {
                first: a,
                last: Some(b),
            })
        }
        (true, true) => None,
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag)
}

/// The conditional headers of GetObject/HeadObject: Some(answer) when they decide it.
fn preconditions(h: &HeaderMap, meta: &ObjectMeta) -> Result<Option<Response>, S3Error> {
    let modified = meta.last_modified_ms.div_euclid(1000) * 1000;
    if let Some(v) = header_str(h, "if-match")
        && !etag_matches(v, &meta.etag)
    {
        return Err(S3Error::PreconditionFailed);
    }
    if header_str(h, "if-match").is_none()
        && let Some(t) = header_str(h, "if-unmodified-since").and_then(parse_http_date)
        && modified > t
    {
        return Err(S3Error::PreconditionFailed);
    }
    let not_modified = if let Some(v) = header_str(h, "if-none-match") {
        etag_matches(v, &meta.etag)
    } else if let Some(t) = header_str(h, "if-modified-since").and_then(parse_http_date) {
        modified <= t
    } else {
        false
    };
    if not_modified {
        let mut resp = empty(StatusCode::NOT_MODIFIED);
        if let Ok(v) = HeaderValue::from_str(&meta.quoted_etag()) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return Ok(Some(resp));
    }
    Ok(None)
}

fn object_headers(resp: &mut Response, meta: &ObjectMeta) {
    let h = resp.headers_mut();
    let mut set = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::try_from(name),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    };
    set("etag", &meta.quoted_etag());
    set("last-modified", &http_date(meta.last_modified_ms));
    set("accept-ranges", "bytes");
    set(
        "content-type",
        meta.attrs
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    for (name, value) in [
        ("content-encoding", &meta.attrs.content_encoding),
        ("content-disposition", &meta.attrs.content_disposition),
        ("content-language", &meta.attrs.content_language),
        ("cache-control", &meta.attrs.cache_control),
    ] {
        if let Some(v) = value {
            set(name, v);
        }
    }
    for (k, v) in &meta.attrs.metadata {
        set(&format!("x-amz-meta-{k}"), v);
    }
}

fn get_object(
    s3: &S3,
    bucket: &str,
    key: &str,
    h: &HeaderMap,
    head: bool,
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    let range = header_str(h, "range").and_then(parse_range);
    if head {
        let meta = s3.head(bucket, key, caller)?;
        if let Some(resp) = preconditions(h, &meta)? {
            return Ok(resp);
        }
        let (status, len, span) = match range {
            Some(r) => {
                let (a, b) = r.resolve(meta.size).ok_or(S3Error::InvalidRange)?;
                (StatusCode::PARTIAL_CONTENT, b - a + 1, Some((a, b)))
            }
            None => (StatusCode::OK, meta.size, None),
        };
        let mut resp = empty(status);
        object_headers(&mut resp, &meta);
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if let Some((a, b)) = span
            && let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{}", meta.size))
        {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(resp);
    }
    // check the preconditions before reading the body
    let meta = s3.head(bucket, key, caller)?;
    if let Some(resp) = preconditions(h, &meta)? {
        return Ok(resp);
    }
    let reader = s3.open_range(bucket, key, range, caller)?;
    let (meta, span, len) = (reader.meta.clone(), reader.span, reader.len);
    let status = if span.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut resp = (status, stream_body(reader.file, len)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    object_headers(&mut resp, &meta);
    if let Some((a, b)) = span
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{}", meta.size))
    {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

/// Streams `len` bytes of `file` in chunks read off the async runtime: objects may be
/// larger than Fort wants to hold in memory.
fn stream_body(file: std::fs::File, len: u64) -> Body {
    const CHUNK: u64 = 1 << 20;
    let stream = futures::stream::unfold((Some(file), len), |(file, left)| async move {
        let file = file?;
        if left == 0 {
            return None;
        }
        let want = left.min(CHUNK);
        let read = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut file = file;
            let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
            let n = (&mut file).take(want).read_to_end(&mut buf)?;
            if n == 0 {
                return Err(std::io::Error::other("object file is short"));
            }
            Ok((file, buf))
        })
        .await;
        match read {
            Ok(Ok((file, buf))) => {
                let n = buf.len() as u64;
                Some((Ok(bytes::Bytes::from(buf)), (Some(file), left - n)))
            }
            Ok(Err(e)) => Some((Err(e), (None, 0))),
            Err(e) => Some((Err(std::io::Error::other(e)), (None, 0))),
        }
    });
    Body::from_stream(stream)
}

fn delete_object(
    s3: &S3,
    bucket: &str,
    key: &str,
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    s3.delete(bucket, key, caller)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The keys a DeleteObjects body names, and whether it asks for quiet mode.
pub fn parse_delete(body: &[u8]) -> Result<(Vec<String>, bool), S3Error> {
    let mut keys = Vec::new();
    let mut quiet = false;
    for (path, text) in leaves(body)? {
        match path.as_str() {
            "Delete/Object/Key" => keys.push(text),
            "Delete/Quiet" => quiet = text.trim().eq_ignore_ascii_case("true"),
            p if p.starts_with("Delete/") => {}
            _ => return Err(S3Error::MalformedXml),
        }
    }
    if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
        return Err(S3Error::MalformedXml);
    }
    Ok((keys, quiet))
}

fn delete_objects(
    s3: &S3,
    bucket: &str,
    body: &[u8],
    caller: Caller<'_>,
) -> Result<Response, S3Error> {
    s3.bucket(bucket, caller)?;
    let (keys, quiet) = parse_delete(body)?;
    let mut out = format!("<DeleteResult xmlns=\"{XMLNS}\">");
    for key in keys {
        let result = crate::names::check_key(&key).and_then(|()| s3.delete(bucket, &key, caller));
        match result {
            Ok(()) if quiet => {}
            Ok(()) => out.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", escape(&key))),
            Err(e) => out.push_str(&format!(
                "<Error><Key>{}</Key><Code>{}</Code><Message>{}</Message></Error>",
                escape(&key),
                e.code(),
                escape(&e.to_string())
            )),
        }
    }
    out.push_str("</DeleteResult>");
    Ok(xml_ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_detection() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            ),
        );
        assert!(signed_for_s3(&h, ""));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00",
            ),
        );
        assert!(!signed_for_s3(&h, ""));
        assert!(signed_for_s3(
            &HeaderMap::new(),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
        ));
        assert!(!signed_for_s3(&HeaderMap::new(), "Action=DescribeVpcs"));
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("bytes=0-9"),
            Some(ByteRange::From {
                first: 0,
                last: Some(9)
            })
        );
        assert_eq!(
            parse_range("bytes=5-"),
            Some(ByteRange::From {
                first: 5,
                last: None
            })
        );
        assert_eq!(parse_range("bytes=-5"), Some(ByteRange::Suffix(5)));
        assert_eq!(parse_range("bytes=9-0"), None);
        assert_eq!(parse_range("bytes=0-1,3-4"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=-"), None);
    }

    #[test]
    fn complete_bodies() {
        let parts = parse_complete(
            b"<CompleteMultipartUpload><Part><ETag>\"aa\"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>bb</ETag><ChecksumCRC32>x</ChecksumCRC32></Part></CompleteMultipartUpload>",
        )
        .unwrap();
        assert_eq!(parts, [(1, "\"aa\"".to_owned()), (2, "bb".to_owned())]);
        for bad in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<Other/>",
        ] {
            assert_eq!(parse_complete(bad), Err(S3Error::MalformedXml));
        }
    }

    #[test]
    fn delete_bodies() {
        let (keys, quiet) = parse_delete(
            b"<Delete><Object><Key>a</Key></Object><Object><Key>b c</Key></Object><Quiet>true</Quiet></Delete>",
        )
        .unwrap();
        assert_eq!(keys, ["a", "b c"]);
        assert!(quiet);
        assert_eq!(
            parse_delete(b"<Delete></Delete>"),
            Err(S3Error::MalformedXml)
        );
        assert_eq!(
            parse_delete(b"<Other><Key>a</Key></Other>"),
            Err(S3Error::MalformedXml)
        );
        let many: String = (0..1001)
            .map(|i| format!("<Object><Key>{i}</Key></Object>"))
            .collect();
        assert_eq!(
            parse_delete(format!("<Delete>{many}</Delete>").as_bytes()),
            Err(S3Error::MalformedXml)
        );
    }

    #[test]
    fn dates_and_tokens() {
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            http_date(1_700_000_000_123),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(
            parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT"),
            Some(1_700_000_000_000)
        );
        for name in ["", "a/b/", "ünï", "x+y z"] {
            assert_eq!(decode_token(&encode_token(name)).unwrap(), name);
        }
        assert!(decode_token("!!").is_err());
        assert_eq!(
            utf8_percent_encode("a b+c/é", URL_ENCODE).to_string(),
            "a%20b%2Bc/%C3%A9"
        );
    }

    #[test]
    fn query_drops_presign_params() {
        let q = Query(query_params(
            "list-type=2&prefix=a%2Fb&X-Amz-Signature=00&delimiter=%2F&location",
        ));
        assert_eq!(q.get("prefix"), Some("a/b"));
        assert_eq!(q.get("delimiter"), Some("/"));
        assert!(q.has("location"));
        assert!(!q.has("X-Amz-Signature"));
    }
}
