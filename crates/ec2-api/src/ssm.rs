//! Systems Manager at Fort's endpoint: the reads of Parameter Store that find images
//! (GetParameter, GetParameters, GetParametersByPath) over AWS's public `/aws/service/`
//! image parameters, in SSM's own protocol (AWS JSON 1.1, `X-Amz-Target:
//! AmazonSSM.<Operation>`). Fort keeps no parameters of its own: every other name is
//! `ParameterNotFound`, every other operation unknown.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fort_control::ssm::{PublicParameter, public_parameter, public_parameters};
use serde_json::{Value, json};

/// The most parameters GetParameters takes in one call.
const MAX_NAMES: usize = 10;
/// GetParametersByPath's largest (and default) page.
const MAX_PAGE: usize = 10;

/// An SSM error: its `__type` and message.
#[derive(Debug, PartialEq, Eq)]
struct SsmError {
    code: &'static str,
    message: String,
}

impl SsmError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }
}

/// Answers one SSM request of `region`.
pub fn handle(region: &str, headers: &HeaderMap, body: &[u8], request_id: &str) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSSM."))
        .unwrap_or("");
    let result = serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body })
        .map_err(|_| SsmError::new("SerializationException", "The request body is not JSON."))
        .and_then(|input| answer(region, operation, &input));
    match result {
        Ok(v) => respond(StatusCode::OK, &v, request_id, None),
        Err(e) => respond(
            StatusCode::BAD_REQUEST,
            &json!({ "__type": e.code, "message": e.message }),
            request_id,
            Some(e.code),
        ),
    }
}

fn respond(status: StatusCode, v: &Value, request_id: &str, error: Option<&str>) -> Response {
    let mut resp = (status, Body::from(v.to_string())).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", id);
    }
    if let Some(code) = error.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("x-amzn-errortype", code);
    }
    resp
}

fn answer(region: &str, operation: &str, input: &Value) -> Result<Value, SsmError> {
    match operation {
        "GetParameter" => {
            let name = string(input, "Name")?.ok_or_else(|| missing("name"))?;
            let p = find(region, name).ok_or_else(|| not_found(name))?;
            Ok(json!({ "Parameter": render(region, &p) }))
        }
        "GetParameters" => {
            let names = match input.get("Names") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|n| n.as_str().ok_or_else(|| bad_type("Names")))
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err(bad_type("Names")),
                None => return Err(missing("names")),
            };
            if names.is_empty() || names.len() > MAX_NAMES {
                return Err(SsmError::validation(format!(
                    "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAMES} and greater than or equal to 1"
                )));
            }
            let mut found = Vec::new();
            let mut invalid = Vec::new();
            for name in names {
                match find(region, name) {
                    Some(p) => found.push(render(region, &p)),
                    None => invalid.push(name),
                }
            }
            Ok(json!({ "Parameters": found, "InvalidParameters": invalid }))
        }
        "GetParametersByPath" => by_path(region, input),
        other => Err(SsmError::new(
            "UnknownOperationException",
            format!(
                "Fort answers only GetParameter, GetParameters and GetParametersByPath of SSM (AWS's public /aws/service/ image parameters), not '{other}'."
            ),
        )),
    }
}

fn by_path(region: &str, input: &Value) -> Result<Value, SsmError> {
    let path = string(input, "Path")?.ok_or_else(|| missing("path"))?;
    if !path.starts_with('/') {
        return Err(SsmError::validation(
            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".",
        ));
    }
    let recursive = match input.get("Recursive") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad_type("Recursive")),
    };
    let page = match input.get("MaxResults") {
        None | Some(Value::Null) => MAX_PAGE,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=10) => usize::try_from(n).unwrap_or(MAX_PAGE),
            _ => {
                return Err(SsmError::validation(
                    "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10",
                ));
            }
        },
    };
    let start = match string(input, "NextToken")? {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| SsmError::validation("The specified token is not valid."))?,
    };
    let prefix = if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    let under: Vec<PublicParameter> = public_parameters(region)
        .into_iter()
        .filter(|p| {
            p.name
                .strip_prefix(&prefix)
                .is_some_and(|rest| recursive || !rest.contains('/'))
        })
        .collect();
    let items: Vec<Value> = under
        .iter()
        .skip(start)
        .take(page)
        .map(|p| render(region, p))
        .collect();
    let mut out = json!({ "Parameters": items });
    if start + page < under.len() {
        out["NextToken"] = Value::String((start + page).to_string());
    }
    Ok(out)
}

/// A parameter by name; a version or label selector (`NAME:N`) names its current value.
fn find(region: &str, name: &str) -> Option<PublicParameter> {
    let bare = name.rsplit_once(':').map_or(name, |(n, _)| n);
    public_parameter(region, name).or_else(|| public_parameter(region, bare))
}

fn render(region: &str, p: &PublicParameter) -> Value {
    json!({
        "Name": p.name,
        "Type": "String",
        "Value": p.value,
        "Version": p.version,
        "LastModifiedDate": epoch_seconds(&p.last_modified),
        "ARN": format!("arn:aws:ssm:{region}::parameter{}", p.name),
        "DataType": "text",
    })
}

/// An ISO 8601 time as the JSON protocol's timestamps are: seconds since the epoch.
fn epoch_seconds(iso: &str) -> f64 {
    time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339)
        .map_or(0.0, |t| {
            (t.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0
        })
}

fn string<'a>(input: &'a Value, key: &str) -> Result<Option<&'a str>, SsmError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_type(key)),
    }
}

fn missing(field: &str) -> SsmError {
    SsmError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn bad_type(field: &str) -> SsmError {
    SsmError::new(
        "SerializationException",
        format!("The value of {field} has the wrong type."),
    )
}

fn not_found(name: &str) -> SsmError {
    SsmError::new("ParameterNotFound", format!("Parameter {name} not found."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AL2023: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64";

    #[test]
    fn get_parameter_and_not_found() {
        let v = answer("us-east-1", "GetParameter", &json!({ "Name": AL2023 })).unwrap();
        let p = &v["Parameter"];
        assert_eq!(p["Name"], AL2023);
        assert!(p["Value"].as_str().unwrap().starts_with("ami-"));
        assert_eq!(
            p["ARN"],
            format!("arn:aws:ssm:us-east-1::parameter{AL2023}")
        );
        assert!(p["LastModifiedDate"].as_f64().unwrap() > 1.7e9);
        let e = answer("us-east-1", "GetParameter", &json!({ "Name": "/mine" })).unwrap_err();
        assert_eq!(e.code, "ParameterNotFound");
        let e = answer("us-east-1", "GetParameter", &json!({})).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        let e = answer("us-east-1", "PutParameter", &json!({})).unwrap_err();
        assert_eq!(e.code, "UnknownOperationException");
    }

    #[test]
    fn get_parameters_splits_found_and_invalid() {
        let v = answer(
            "us-east-1",
            "GetParameters",
            &json!({ "Names": [AL2023, "/nope"] }),
        )
        .unwrap();
        assert_eq!(v["Parameters"].as_array().unwrap().len(), 1);
        assert_eq!(v["InvalidParameters"], json!(["/nope"]));
    }

    #[test]
    fn by_path_pages_and_depth() {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut input =
                json!({ "Path": "/aws/service/ami-amazon-linux-latest", "MaxResults": 3 });
            if let Some(t) = &token {
                input["NextToken"] = json!(t);
            }
            let v = answer("us-east-1", "GetParametersByPath", &input).unwrap();
            for p in v["Parameters"].as_array().unwrap() {
                names.push(p["Name"].as_str().unwrap().to_owned());
            }
            match v.get("NextToken") {
                Some(t) => token = Some(t.as_str().unwrap().to_owned()),
                None => break,
            }
        }
        assert_eq!(names.len(), 12);
        assert!(names.contains(&AL2023.to_owned()));
        // Ubuntu's parameters are several levels down: only a recursive read finds them.
        let shallow = answer(
            "us-east-1",
            "GetParametersByPath",
            &json!({ "Path": "/aws/service/canonical" }),
        )
        .unwrap();
        assert!(shallow["Parameters"].as_array().unwrap().is_empty());
        let deep = answer(
            "us-east-1",
            "GetParametersByPath",
            &json!({ "Path": "/aws/service/canonical", "Recursive": true }),
        )
        .unwrap();
        assert_eq!(deep["Parameters"].as_array().unwrap().len(), 8);
    }
}
