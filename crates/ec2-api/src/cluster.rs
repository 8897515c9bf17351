//! The endpoint of a server among several on one store (see `fort_control::cluster`).
//!
//! A follower answers reads from memory, once memory holds every change the store had
//! when the read arrived (so a write acknowledged by any server is seen: read-your-writes,
//! and more, across servers). A request that wants to write is sent on to the leader byte
//! for byte (method, path, query, headers with `Host`, body: its SigV4 signature stays
//! valid), and the leader's answer is given back once this server's memory holds the
//! change too. CloudWatch Logs and S3 on a shared store keep their data in it (an operation
//! log every server applies, see `fort_store::oplog`): every server serves them itself,
//! and none needs the leader. Were they kept in one server's data directory, a follower
//! would send those requests, reads too, to the leader.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use fort_model::{ApiError, ErrorCode};

use crate::server::Api;

/// Marks a request one server sent to another: a server that does not lead either
/// refuses it (503) rather than send it on again.
pub const FORWARDED: &str = "x-fort-forwarded";
/// The largest body sent on to the leader (S3 objects included).
const MAX_FORWARD: usize = 64 << 20;
/// How long the leader may take to answer a forwarded request.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// What a request is, kept to send it again.
struct Held {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    /// Who sent it (through a VPC endpoint: which one), kept for this server's answer and
    /// told to the leader in a PROXY header of this server's own, so the endpoint's
    /// policy holds wherever the request is served.
    peer: Option<crate::endpoint_policy::Peer>,
}

impl Held {
    fn request(&self) -> Request {
        let mut r = Request::new(Body::from(self.body.clone()));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers.clone();
        if let Some(p) = &self.peer {
            r.extensions_mut()
                .insert(axum::extract::ConnectInfo(p.clone()));
        }
        r
    }
}

/// Serves one request on a server of a cluster.
pub(crate) async fn handle(api: Arc<Api>, req: Request) -> Response {
    if served_by_any_server(&api, req.headers(), req.uri()) {
        return crate::server::serve(api, req).await;
    }
    let peer = crate::endpoint_policy::peer(&req).cloned();
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_FORWARD).await else {
        return unavailable(
            ErrorCode::RequestEntityTooLarge,
            &format!("Request bodies are limited to {MAX_FORWARD} bytes."),
        );
    };
    let held = Held {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body,
        peer,
    };
    let control = &api.control;
    if !control.leads() && kept_on_leader(&held) {
        return forward(&api, &held).await;
    }
    control.sync().await;
    let (response, wants_leader) =
        fort_control::forwarded(crate::server::serve(api.clone(), held.request())).await;
    if !wants_leader || control.leads() {
        return response;
    }
    forward(&api, &held).await
}

/// CloudWatch Logs and S3 whose data the store holds: any server serves them.
fn served_by_any_server(api: &Api, headers: &HeaderMap, uri: &Uri) -> bool {
    if fort_s3::signed_for_s3(headers, uri.query().unwrap_or("")) {
        return api.s3.as_ref().is_some_and(|s| s.shared());
    }
    signed_for_logs(headers) && api.logs.as_ref().is_some_and(|l| l.shared())
}

/// CloudWatch Logs and S3 whose data lives in the leader's data directory.
fn kept_on_leader(held: &Held) -> bool {
    if fort_s3::signed_for_s3(&held.headers, held.uri.query().unwrap_or("")) {
        return true;
    }
    signed_for_logs(&held.headers)
}

fn signed_for_logs(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|auth| {
            auth.split([',', ' '])
                .filter_map(|p| p.trim().strip_prefix("Credential="))
                .any(|c| c.split('/').nth(3) == Some("logs"))
        })
}

/// Sends the request to the leader and gives back its answer once this server's memory
/// holds what it changed.
async fn forward(api: &Api, held: &Held) -> Response {
    if held.headers.contains_key(FORWARDED) {
        return unavailable(
            ErrorCode::ServiceUnavailable,
            "The server this request was sent to no longer leads; retry.",
        );
    }
    let Some(leader) = api.control.leader() else {
        return unavailable(
            ErrorCode::ServiceUnavailable,
            "No server leads the control plane right now (one is being elected, or the store has lost its quorum); retry.",
        );
    };
    if api.control.member().is_some_and(|me| me.id == leader.id) {
        return unavailable(
            ErrorCode::ServiceUnavailable,
            "The control plane is taking over leadership; retry shortly.",
        );
    }
    let answer = tokio::time::timeout(FORWARD_TIMEOUT, send(&leader.api, held)).await;
    let response = match answer {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(leader = leader.api, error = %e, "cannot reach the leader");
            return unavailable(
                ErrorCode::ServiceUnavailable,
                "The leading server cannot be reached; retry.",
            );
        }
        Err(_) => {
            return unavailable(
                ErrorCode::ServiceUnavailable,
                "The leading server did not answer in time; the change may or may not have been made. Retry (with the same ClientToken).",
            );
        }
    };
    // Read-your-writes: what the leader acknowledged is in this server's memory before
    // its client hears of it.
    api.control.sync().await;
    response
}

/// One HTTP/1.1 exchange with `base` (`http://HOST:PORT`).
async fn send(base: &str, held: &Held) -> Result<Response, String> {
    use http_body_util::BodyExt as _;
    let authority = base
        .strip_prefix("http://")
        .unwrap_or(base)
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    if let Some(origin) = held.peer.as_ref().and_then(|p| p.origin.as_ref()) {
        use tokio::io::AsyncWriteExt as _;
        stream
            .write_all(&fort_proto::proxy::encode(origin))
            .await
            .map_err(|e| format!("writing to {authority}: {e}"))?;
    }
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let path = held
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let mut request = hyper::Request::builder()
        .method(held.method.clone())
        .uri(path)
        .body(http_body_util::Full::new(held.body.clone()))
        .map_err(|e| e.to_string())?;
    *request.headers_mut() = held.headers.clone();
    request
        .headers_mut()
        .insert(FORWARDED, HeaderValue::from_static("1"));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if name != header::TRANSFER_ENCODING && name != header::CONNECTION {
            out.headers_mut().append(name, value.clone());
        }
    }
    Ok(out)
}

/// A 503 (or another refusal) in EC2's XML.
fn unavailable(code: ErrorCode, message: &str) -> Response {
    let e = ApiError::new(code, message);
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = crate::xml::error_document(
        e.code.as_str(),
        &e.message,
        &uuid::Uuid::new_v4().to_string(),
    );
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    r
}
