//! The HTTP endpoint: `POST /` with a form body or `GET /?Action=…`, SigV4-verified.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fort_auth::Credentials;
use fort_auth::sigv4::{self, HttpRequest};
use fort_control::{Control, Scope};
use fort_model::ApiError;

use crate::actions::{self, Ctx};
use crate::query::Params;
use crate::xml;

/// The largest request body accepted: far above any real EC2 request.
pub const MAX_BODY: usize = 1 << 20;

/// What the endpoint serves from.
pub struct Api {
    pub control: Arc<Control>,
    pub credentials: Credentials,
}

pub fn router(api: Arc<Api>) -> Router {
    Router::new().fallback(handle).with_state(api)
}

async fn handle(State(api): State<Arc<Api>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return error_response(
            &ApiError::new(
                "RequestEntityTooLarge",
                format!("Request bodies are limited to {MAX_BODY} bytes."),
            ),
            &request_id,
            Some(StatusCode::PAYLOAD_TOO_LARGE),
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
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            return error_response(
                &ApiError::new(e.code(), e.to_string()),
                &request_id,
                Some(status),
            );
        }
    };
    let params = match decode(
        parts.method.as_str(),
        query,
        &body,
        parts.headers.get(header::CONTENT_TYPE),
    ) {
        Ok(p) => p,
        Err(e) => return error_response(&e, &request_id, None),
    };
    let scope = Scope {
        account: verified.account_id.clone(),
        region: verified.region.clone(),
    };
    let Some(action) = params.get("Action").map(str::to_owned) else {
        return error_response(
            &ApiError::new(
                "MissingAction",
                "The request must contain the parameter Action",
            ),
            &request_id,
            None,
        );
    };
    let ctx = Ctx {
        control: &api.control,
        scope,
        params: &params,
        action: &action,
        verified: &verified,
    };
    let started = std::time::Instant::now();
    let result = if verified.service == "sts" || action == "GetCallerIdentity" {
        return sts(&ctx, &request_id);
    } else {
        actions::dispatch(&ctx).await
    };
    tracing::debug!(
        action,
        elapsed_us = started.elapsed().as_micros() as u64,
        ok = result.is_ok(),
        "request"
    );
    match result {
        Ok(body) => xml_response(StatusCode::OK, body.into_response(&action, &request_id)),
        Err(e) => error_response(&e, &request_id, None),
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
                "InvalidParameterValue",
                "The request body must be application/x-www-form-urlencoded.",
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::new(
                "MalformedQueryString",
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

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Body::from(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    resp
}

fn error_response(e: &ApiError, request_id: &str, status: Option<StatusCode>) -> Response {
    let status = status
        .unwrap_or_else(|| StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST));
    xml_response(status, xml::error_document(&e.code, &e.message, request_id))
}
