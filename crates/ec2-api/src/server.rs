//! The HTTP endpoint: `POST /` with a form body or `GET /?Action=…`, SigV4-verified.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fort_auth::Credentials;
use fort_auth::sigv4::{self, HttpRequest, VerifyError};
use fort_control::{Control, Scope};
use fort_model::{ApiError, ErrorCode};

use crate::actions::{self, Ctx};
use crate::endpoint_policy;
use crate::query::Params;
use crate::services::{self, Protocol};
use crate::xml;

/// The largest request body accepted: far above any real EC2 request.
pub const MAX_BODY: usize = 1 << 20;

/// What the endpoint serves from.
pub struct Api {
    pub control: Arc<Control>,
    pub credentials: Credentials,
    /// CloudWatch Logs (`DATA_DIR/logs`); `None`: the service is not offered.
    pub logs: Option<Arc<fort_logs::Logs>>,
    /// Buckets and objects, served to requests signed for `s3`; None: S3 not offered.
    pub s3: Option<Arc<fort_s3::S3>>,
}

/// What runs beside the API and answers on the same endpoint: the mapping service
/// (whether a change has reached every host, and its metrics).
pub trait Sidecar: Send + Sync {
    /// Waits until every host affected by change `change` has applied it.
    fn wait_applied(
        &self,
        change: u64,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
    /// Appends Prometheus text.
    fn metrics(&self, out: &mut String);
}

pub fn router(api: Arc<Api>) -> Router {
    router_with(api, None)
}

/// The EC2 endpoint plus `GET /metrics` and `GET /fort/applied?change=N&timeout_ms=M`
/// (200 once change N is applied on every affected host, 504 on timeout).
pub fn router_with(api: Arc<Api>, sidecar: Option<Arc<dyn Sidecar>>) -> Router {
    let for_metrics = sidecar.clone();
    let logs_metrics = api.logs.clone();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let sidecar = for_metrics.clone();
                let logs = logs_metrics.clone();
                async move {
                    let mut out = String::new();
                    crate::metrics::API.render(&mut out);
                    if let Some(l) = logs {
                        l.render_metrics(&mut out);
                    }
                    fort_s3::metrics::METRICS.render(&mut out);
                    if let Some(s) = sidecar {
                        s.metrics(&mut out);
                    }
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
                }
            }),
        )
        .route(
            "/fort/applied",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let sidecar = sidecar.clone();
                async move {
                    let change: u64 = q.get("change").and_then(|c| c.parse().ok()).unwrap_or(0);
                    let timeout = Duration::from_millis(
                        q.get("timeout_ms")
                            .and_then(|t| t.parse().ok())
                            .unwrap_or(5000)
                            .min(60_000),
                    );
                    let applied = match &sidecar {
                        Some(s) => s.wait_applied(change, timeout).await,
                        None => true,
                    };
                    if applied {
                        (StatusCode::OK, "applied\n")
                    } else {
                        (StatusCode::GATEWAY_TIMEOUT, "not yet applied\n")
                    }
                }
            }),
        )
        .route(
            "/fort/cluster",
            get(|State(api): State<Arc<Api>>| async move {
                // This server's place among the servers of one etcd (for operators and tests).
                let c = &api.control;
                let body = serde_json::json!({
                    "clustered": c.clustered(),
                    "id": c.member().map(|m| m.id.clone()),
                    "leading": c.clustered() && c.leads(),
                    "leader": c.leader().map(|m| m.id),
                    "applied": c.applied_revision(),
                });
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
            }),
        )
        .fallback(handle)
        .with_state(api)
}

async fn handle(State(api): State<Arc<Api>>, req: Request) -> Response {
    if api.control.clustered() {
        return crate::cluster::handle(api, req).await;
    }
    serve(api, req).await
}

/// Answers one request from this server's state.
pub(crate) async fn serve(api: Arc<Api>, req: Request) -> Response {
    // through a VPC endpoint: its policy decides (checked below, per service)
    let gate = endpoint_policy::gate(&api, endpoint_policy::peer(&req)).await;
    // S3 before the EC2 body limit: objects are larger than any EC2 request
    if let Some(s3) = &api.s3
        && fort_s3::signed_for_s3(req.headers(), req.uri().query().unwrap_or(""))
    {
        return fort_s3::serve(s3.clone(), &api.credentials, req, gate.as_ref()).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let max_body = crate::logs::max_body(&parts.headers).unwrap_or(MAX_BODY);
    let Ok(body) = to_bytes(body, max_body).await else {
        return error_response(
            &ApiError::new(
                ErrorCode::RequestEntityTooLarge,
                format!("Request bodies are limited to {max_body} bytes."),
            ),
            &request_id,
        );
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let http = HttpRequest {
        method: parts.method.as_str(),
        path,
        query,
        headers: &headers,
        body: &body,
    };
    let verified = match sigv4::verify(&http, &api.credentials, time::OffsetDateTime::now_utc()) {
        Ok(v) => v,
        Err(e) if crate::route53::signed_for_route53(&parts.headers) => {
            return crate::route53::auth_error(&e, &request_id);
        }
        Err(e) => {
            return error_response(&auth_error(&e), &request_id);
        }
    };
    // the query protocol's parameters (IAM, the subnet-group services, EC2)
    let decoded = || {
        decode(
            parts.method.as_str(),
            query,
            &body,
            parts.headers.get(header::CONTENT_TYPE),
        )
    };
    if verified.service == "ssm" && parts.headers.contains_key("x-amz-target") {
        return crate::ssm::handle(&verified.region, &parts.headers, &body, &request_id);
    }
    if verified.service == "logs"
        && parts.headers.contains_key("x-amz-target")
        && let Some(logs) = &api.logs
    {
        let (account, region) = (verified.account_id.clone(), verified.region.clone());
        if let Some(gate) = &gate {
            let (action, resource) =
                crate::logs::iam_access(&parts.headers, &body, &account, &region);
            if let Err(r) = gate.check(&account, &action, &resource, &[]) {
                return crate::logs::access_denied(&r.message, &request_id);
            }
        }
        return crate::logs::handle(
            logs.clone(),
            account,
            region,
            &parts.headers,
            body,
            &request_id,
        )
        .await;
    }
    if verified.service == "iam" {
        if let Some(gate) = &gate {
            let action = decode(parts.method.as_str(), query, &body, None)
                .ok()
                .and_then(|p| p.get("Action").map(str::to_owned))
                .unwrap_or_default();
            if let Err(r) = gate.check(&verified.account_id, &format!("iam:{action}"), "*", &[]) {
                return endpoint_policy::query_refusal(
                    "https://iam.amazonaws.com/doc/2010-05-08/",
                    &r.message,
                    &request_id,
                );
            }
        }
        return match decoded() {
            Ok(params) => {
                crate::iam::handle(&api.control, &verified.account_id, &params, &request_id).await
            }
            Err(e) => crate::iam::error(&e, &request_id),
        };
    }
    if verified.service == "route53" {
        let req = crate::route53::Request {
            method: parts.method.as_str(),
            path,
            query,
            body: &body,
        };
        return crate::route53::handle(&api.control, &verified.account_id, &req, &request_id).await;
    }
    if let Some(service) = crate::subnet_groups::service(&verified.service)
        && Protocol::of(&verified.service, &parts.headers, query, &body) == Protocol::Query
    {
        let ns = crate::subnet_groups::namespace(service);
        let params = match decoded() {
            Ok(p) => p,
            Err(e) => return crate::subnet_groups::error(ns, &e, &request_id),
        };
        if let Some(gate) = &gate {
            let action = params.get("Action").unwrap_or_default();
            let iam_action = format!("{}:{action}", service.as_str());
            if let Err(r) = gate.check(&verified.account_id, &iam_action, "*", &[]) {
                return endpoint_policy::query_refusal(ns, &r.message, &request_id);
            }
        }
        let scope = Scope {
            account: verified.account_id.clone(),
            region: verified.region.clone(),
        };
        return crate::subnet_groups::handle(&api.control, &scope, service, &params, &request_id)
            .await;
    }
    if !matches!(verified.service.as_str(), "ec2" | "sts") {
        let protocol = Protocol::of(&verified.service, &parts.headers, query, &body);
        return services::not_offered(&verified.service, protocol, &request_id);
    }
    let params = match decoded() {
        Ok(p) => p,
        Err(e) => return error_response(&e, &request_id),
    };
    let scope = Scope {
        account: verified.account_id.clone(),
        region: verified.region.clone(),
    };
    let Some(action) = params.get("Action").map(str::to_owned) else {
        return error_response(
            &ApiError::new(
                ErrorCode::MissingAction,
                "The request must contain the parameter Action",
            ),
            &request_id,
        );
    };
    if let Some(gate) = &gate {
        let sts = verified.service == "sts" || action == "GetCallerIdentity";
        let iam_action = format!("{}:{action}", if sts { "sts" } else { "ec2" });
        if let Err(r) = gate.check(&verified.account_id, &iam_action, "*", &[]) {
            return if sts {
                endpoint_policy::query_refusal(
                    "https://sts.amazonaws.com/doc/2011-06-15/",
                    &r.message,
                    &request_id,
                )
            } else {
                crate::metrics::API.record(&action, "UnauthorizedOperation", Duration::ZERO);
                endpoint_policy::ec2_refusal(&r.message, &request_id)
            };
        }
    }
    let ctx = Ctx {
        control: &api.control,
        scope,
        params: &params,
        action: &action,
        verified: &verified,
        change: Default::default(),
    };
    let started = std::time::Instant::now();
    let result = if verified.service == "sts" || action == "GetCallerIdentity" {
        return sts(&ctx, &request_id);
    } else {
        actions::dispatch(&ctx).await
    };
    tracing::debug!(
        action,
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        ok = result.is_ok(),
        "request"
    );
    let code = result.as_ref().map_or_else(|e| e.code.as_str(), |_| "ok");
    crate::metrics::API.record(&action, code, started.elapsed());
    match result {
        Ok(body) => {
            let mut resp = xml_response(StatusCode::OK, body.into_response(&action, &request_id));
            let change = ctx.change.load(std::sync::atomic::Ordering::Relaxed);
            if change != 0 {
                resp.headers_mut()
                    .insert("x-fort-change", HeaderValue::from(change));
            }
            resp
        }
        Err(e) => error_response(&e, &request_id),
    }
}

/// The parameters of a request: the query string, plus the form body of a POST.
fn decode(
    method: &str,
    query: &str,
    body: &[u8],
    content_type: Option<&HeaderValue>,
) -> Result<Params, ApiError> {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // Presigned requests carry their signature in the query: not parameters of the action.
    pairs.retain(|(k, _)| !k.starts_with("X-Amz-"));
    if method == "POST" && !body.is_empty() {
        let is_form = content_type.and_then(|v| v.to_str().ok()).is_none_or(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !is_form {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                "The request body must be application/x-www-form-urlencoded.",
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::new(
                ErrorCode::MalformedQueryString,
                "The request body is not valid UTF-8.",
            ));
        }
        pairs.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    Params::from_pairs(pairs)
}

/// sts GetCallerIdentity: clients ask it who they are (the account id above all).
fn sts(ctx: &Ctx<'_>, request_id: &str) -> Response {
    if ctx.action != "GetCallerIdentity" {
        let body = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>Fort answers only GetCallerIdentity of STS.</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        );
        return xml_response(StatusCode::BAD_REQUEST, body);
    }
    let account = &ctx.verified.account_id;
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{account}:root</Arn><UserId>{account}</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    );
    xml_response(StatusCode::OK, body)
}

pub(crate) fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Body::from(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    resp
}

/// The EC2 error for a request whose signature was refused.
fn auth_error(e: &VerifyError) -> ApiError {
    let code = match e {
        VerifyError::MissingAuthenticationToken => ErrorCode::MissingAuthenticationToken,
        VerifyError::IncompleteSignature(_) => ErrorCode::IncompleteSignature,
        VerifyError::UnknownAccessKey
        | VerifyError::SignatureMismatch
        | VerifyError::InvalidScope(_)
        | VerifyError::PayloadHash(_) => ErrorCode::AuthFailure,
        VerifyError::RequestExpired(_) => ErrorCode::RequestExpired,
    };
    ApiError::new(code, e.to_string())
}

pub(crate) fn error_response(e: &ApiError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(
        status,
        xml::error_document(e.code.as_str(), &e.message, request_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The auth crate names a code and a status for each refusal: the table agrees.
    #[test]
    fn auth_errors_keep_their_code_and_status() {
        for e in [
            VerifyError::MissingAuthenticationToken,
            VerifyError::IncompleteSignature("x".into()),
            VerifyError::UnknownAccessKey,
            VerifyError::SignatureMismatch,
            VerifyError::InvalidScope("x".into()),
            VerifyError::PayloadHash("x".into()),
            VerifyError::RequestExpired("x".into()),
        ] {
            let api = auth_error(&e);
            assert_eq!(api.code.as_str(), e.code(), "{e:?}");
            assert_eq!(api.status(), e.http_status(), "{e:?}");
            assert_eq!(api.message, e.to_string());
        }
    }
}
