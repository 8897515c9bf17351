//! Route 53's REST-XML API (SigV4 service `route53`, version 2013-04-01) for hosted
//! zones, private ones above all: the paths, query strings and XML bodies boto3 and the AWS
//! CLI send, decoded into calls on [`fort_control::route53`], and answers and errors in
//! Route 53's XML. Route 53 is global: the account is the scope, whatever the region.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fort_auth::sigv4::VerifyError;
use fort_control::route53::{
    self, Change, ChangeAction, ChangeInfo, CreateHostedZone, HostedZone, Route53, VpcInput,
};
use fort_control::{Control, Global};
use fort_model::hosted_zone::{AliasTarget, RecordSet, RrType, bare_id, normalize_name, sort_key};
use fort_model::{ApiError, ErrorCode, Tags, format_time};

use crate::xml::{Element, Xml, escape};

pub const NAMESPACE: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
const VERSION: &str = "2013-04-01";

/// Items a List call answers at most, and by default.
const MAX_ZONES: usize = 100;
const MAX_RECORDS: usize = 300;

/// A request as the router hands it over.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
}

/// A successful answer: its status, document and `Location` header.
struct Answer {
    status: StatusCode,
    operation: &'static str,
    body: Xml,
    location: Option<String>,
}

impl Answer {
    fn ok(operation: &'static str, body: Xml) -> Self {
        Self {
            status: StatusCode::OK,
            operation,
            body,
            location: None,
        }
    }
}

/// Answers one Route 53 request, already verified, for `account`.
pub async fn handle(
    control: &Control,
    account: &str,
    req: &Request<'_>,
    request_id: &str,
) -> Response {
    let started = std::time::Instant::now();
    let result = dispatch(control, account, req).await;
    tracing::debug!(
        method = req.method,
        path = req.path,
        service = "route53",
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        ok = result.is_ok(),
        "request"
    );
    match result {
        Ok(a) => {
            let op = a.operation;
            let doc = format!(
                "<?xml version=\"1.0\"?>\n<{op}Response xmlns=\"{NAMESPACE}\">{}</{op}Response>",
                a.body.as_str()
            );
            let mut resp = xml_response(a.status, doc, request_id);
            if let Some(loc) = a.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
                resp.headers_mut().insert(header::LOCATION, loc);
            }
            resp
        }
        Err(e) => error(&e, request_id),
    }
}

/// Route 53's error document, with the status its code is sent with.
pub fn error(e: &ApiError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        e.code.as_str(),
        escape(&e.message)
    );
    xml_response(status, body, request_id)
}

/// Whether a request is signed for Route 53 (its credential scope names `route53`): its
/// signature's refusal is then said in Route 53's error document.
pub fn signed_for_route53(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|auth| {
            auth.split([',', ' '])
                .filter_map(|p| p.trim().strip_prefix("Credential="))
                .any(|c| c.split('/').nth(3) == Some("route53"))
        })
}

/// A refused signature as Route 53 answers it: its codes, all with 403.
pub fn auth_error(e: &VerifyError, request_id: &str) -> Response {
    let code = match e {
        VerifyError::MissingAuthenticationToken => "MissingAuthenticationToken",
        VerifyError::UnknownAccessKey => "InvalidClientTokenId",
        VerifyError::SignatureMismatch | VerifyError::PayloadHash(_) => "SignatureDoesNotMatch",
        VerifyError::IncompleteSignature(_) | VerifyError::InvalidScope(_) => "IncompleteSignature",
        VerifyError::RequestExpired(_) => "RequestExpired",
    };
    let body = format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(&e.to_string())
    );
    xml_response(StatusCode::FORBIDDEN, body, request_id)
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, Body::from(body)).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    resp
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, message)
}

/// `%XX` decoded (a path segment: `+` stays itself).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn dispatch(control: &Control, account: &str, req: &Request<'_>) -> Result<Answer, ApiError> {
    let rest = req
        .path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(VERSION))
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or("");
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let query: HashMap<String, String> = form_urlencoded::parse(req.query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| !k.starts_with("X-Amz-"))
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (req.method, segs.as_slice()) {
        ("POST", ["hostedzone"]) => create_hosted_zone(control, account, req.body).await,
        ("GET", ["hostedzone"]) => list_hosted_zones(control, account, &query).await,
        ("GET", ["hostedzone", id]) => get_hosted_zone(control, account, id).await,
        ("POST", ["hostedzone", id]) => update_comment(control, account, id, req.body).await,
        ("DELETE", ["hostedzone", id]) => {
            let id = bare_id(id).to_owned();
            let info = write(control, account, |r| r.delete_hosted_zone(&id)).await?;
            Ok(Answer::ok(
                "DeleteHostedZone",
                change_info(&info, "PENDING"),
            ))
        }
        ("POST", ["hostedzone", id, "rrset"]) => {
            change_record_sets(control, account, id, req.body).await
        }
        ("GET", ["hostedzone", id, "rrset"]) => {
            list_record_sets(control, account, id, &query).await
        }
        (
            "POST",
            [
                "hostedzone",
                id,
                which @ ("associatevpc" | "disassociatevpc"),
            ],
        ) => vpc_association(control, account, id, which, req.body).await,
        ("GET", ["hostedzonesbyname"]) => list_by_name(control, account, &query).await,
        ("GET", ["hostedzonesbyvpc"]) => list_by_vpc(control, account, &query).await,
        ("GET", ["hostedzonecount"]) => {
            let n = read(control, |g| Ok(route53::zones(g, account).count())).await?;
            let mut w = Xml::new();
            w.leaf("HostedZoneCount", n);
            Ok(Answer::ok("GetHostedZoneCount", w))
        }
        ("GET", ["change", id]) => {
            let info = read(control, |g| {
                route53::change(g, account, id).map(ChangeInfo::from)
            })
            .await?;
            Ok(Answer::ok("GetChange", change_info(&info, "INSYNC")))
        }
        ("POST", ["tags", kind, id]) => change_tags(control, account, kind, id, req.body).await,
        ("GET", ["tags", kind, id]) => list_tags(control, account, kind, id).await,
        _ => Err(ApiError::new(
            ErrorCode::InvalidAction,
            format!(
                "Fort does not offer the Route 53 operation {} {}; it serves hosted zones, their record sets, VPC associations, changes and tags.",
                req.method, req.path
            ),
        )),
    }
}

async fn read<R>(
    control: &Control,
    f: impl FnOnce(&Global) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    control.read_world(|w| f(&w.global)).await
}

async fn write<R>(
    control: &Control,
    account: &str,
    f: impl FnOnce(&mut Route53<'_>) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    control.route53(account, f).await.map(|(v, _)| v)
}

// ---- request documents --------------------------------------------------------------------

fn document(body: &[u8], root: &str) -> Result<Element, ApiError> {
    let doc = Element::parse(body).ok_or_else(|| {
        invalid("Invalid XML ; the request body could not be read as an XML document.")
    })?;
    if doc.name != root {
        return Err(invalid(format!(
            "Invalid XML ; the root element must be {root}, not {}.",
            doc.name
        )));
    }
    Ok(doc)
}

fn required(el: &Element, name: &str) -> Result<String, ApiError> {
    el.text_of(name).ok_or_else(|| {
        invalid(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn boolean(el: &Element, name: &str) -> Result<Option<bool>, ApiError> {
    match el.text_of(name).as_deref().map(str::trim) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(invalid(format!("Invalid value for {name}: {other}"))),
    }
}

fn integer(el: &Element, name: &str) -> Result<Option<i64>, ApiError> {
    el.text_of(name)
        .map(|t| {
            t.trim()
                .parse::<i64>()
                .map_err(|_| invalid(format!("Invalid value for {name}: {t}")))
        })
        .transpose()
}

fn vpc_of(el: &Element) -> Option<VpcInput> {
    el.child("VPC").map(|v| VpcInput {
        region: v.text_of("VPCRegion"),
        vpc_id: v.text_of("VPCId"),
    })
}

fn record_set(el: &Element) -> Result<RecordSet, ApiError> {
    for unsupported in [
        "GeoLocation",
        "CidrRoutingConfig",
        "GeoProximityLocation",
        "TrafficPolicyInstanceId",
    ] {
        if el.child(unsupported).is_some() {
            return Err(invalid(format!(
                "Fort does not support {unsupported} in resource record sets."
            )));
        }
    }
    let type_text = required(el, "Type")?;
    let rr_type = RrType::parse(type_text.trim()).ok_or_else(|| {
        invalid(format!(
            "1 validation error detected: Value '{type_text}' at 'changeBatch.changes.member.resourceRecordSet.type' failed to satisfy constraint: Member must satisfy enum value set: [SOA, A, TXT, NS, CNAME, MX, NAPTR, PTR, SRV, SPF, AAAA, CAA, DS, TLSA, SSHFP, SVCB, HTTPS]"
        ))
    })?;
    let records = el
        .child("ResourceRecords")
        .map(|rr| {
            rr.all("ResourceRecord")
                .map(|r| required(r, "Value"))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let alias = el
        .child("AliasTarget")
        .map(|a| -> Result<AliasTarget, ApiError> {
            Ok(AliasTarget {
                hosted_zone_id: required(a, "HostedZoneId")?,
                dns_name: required(a, "DNSName")?,
                evaluate_target_health: boolean(a, "EvaluateTargetHealth")?.unwrap_or(false),
            })
        })
        .transpose()?;
    Ok(RecordSet {
        name: required(el, "Name")?,
        rr_type,
        set_identifier: el.text_of("SetIdentifier"),
        ttl: integer(el, "TTL")?,
        records,
        alias,
        weight: integer(el, "Weight")?,
        region: el.text_of("Region"),
        failover: el.text_of("Failover"),
        multi_value_answer: boolean(el, "MultiValueAnswer")?,
        health_check_id: el.text_of("HealthCheckId"),
    })
}

// ---- answers ------------------------------------------------------------------------------

fn change_info(info: &ChangeInfo, status: &str) -> Xml {
    let mut w = Xml::new();
    change_info_el(&mut w, info, status);
    w
}

fn change_info_el(w: &mut Xml, info: &ChangeInfo, status: &str) {
    w.el("ChangeInfo", |w| {
        w.leaf("Id", format!("/change/{}", info.id))
            .leaf("Status", status)
            .leaf("SubmittedAt", format_time(info.submitted_at))
            .opt("Comment", info.comment.as_deref());
    });
}

fn zone_el(w: &mut Xml, z: &HostedZone) {
    w.el("HostedZone", |w| {
        w.leaf("Id", format!("/hostedzone/{}", z.id))
            .leaf("Name", &z.name)
            .leaf("CallerReference", &z.caller_reference)
            .el("Config", |w| {
                w.opt("Comment", z.comment.as_deref())
                    .leaf("PrivateZone", z.private);
            })
            .leaf("ResourceRecordSetCount", z.records.len());
    });
}

fn delegation_set_el(w: &mut Xml, z: &HostedZone) {
    if z.private {
        return;
    }
    w.el("DelegationSet", |w| {
        w.el("NameServers", |w| {
            for ns in &z.name_servers {
                w.leaf("NameServer", ns.trim_end_matches('.'));
            }
        });
    });
}

fn vpc_el(w: &mut Xml, v: &route53::ZoneVpc) {
    w.el("VPC", |w| {
        w.leaf("VPCRegion", &v.region).leaf("VPCId", &v.vpc_id);
    });
}

fn record_set_el(w: &mut Xml, r: &RecordSet) {
    w.el("ResourceRecordSet", |w| {
        w.leaf("Name", &r.name)
            .leaf("Type", r.rr_type)
            .opt("SetIdentifier", r.set_identifier.as_deref())
            .opt("Weight", r.weight)
            .opt("Region", r.region.as_deref())
            .opt("Failover", r.failover.as_deref())
            .opt("MultiValueAnswer", r.multi_value_answer)
            .opt("TTL", r.ttl);
        if !r.records.is_empty() {
            w.el("ResourceRecords", |w| {
                for v in &r.records {
                    w.el("ResourceRecord", |w| {
                        w.leaf("Value", v);
                    });
                }
            });
        }
        if let Some(a) = &r.alias {
            w.el("AliasTarget", |w| {
                w.leaf("HostedZoneId", &a.hosted_zone_id)
                    .leaf("DNSName", &a.dns_name)
                    .leaf("EvaluateTargetHealth", a.evaluate_target_health);
            });
        }
        w.opt("HealthCheckId", r.health_check_id.as_deref());
    });
}

/// `maxitems` of a List call: a positive number, at most `cap`.
fn max_items(query: &HashMap<String, String>, cap: usize) -> Result<(usize, String), ApiError> {
    match query.get("maxitems") {
        None => Ok((cap, cap.to_string())),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok((n.min(cap), text.clone())),
            _ => Err(invalid(format!(
                "1 validation error detected: Value '{text}' at 'maxItems' failed to satisfy constraint: Member must be a positive number"
            ))),
        },
    }
}

// ---- operations ---------------------------------------------------------------------------

async fn create_hosted_zone(
    control: &Control,
    account: &str,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let doc = document(body, "CreateHostedZoneRequest")?;
    let config = doc.child("HostedZoneConfig");
    let req = CreateHostedZone {
        name: required(&doc, "Name")?,
        caller_reference: required(&doc, "CallerReference")?,
        comment: config.and_then(|c| c.text_of("Comment")),
        private_zone: config
            .map(|c| boolean(c, "PrivateZone"))
            .transpose()?
            .flatten(),
        vpc: vpc_of(&doc),
        delegation_set_id: doc.text_of("DelegationSetId"),
    };
    let (zone, info) = write(control, account, |r| r.create_hosted_zone(req)).await?;
    let mut w = Xml::new();
    zone_el(&mut w, &zone);
    change_info_el(&mut w, &info, "PENDING");
    delegation_set_el(&mut w, &zone);
    if let Some(v) = zone.vpcs.first() {
        vpc_el(&mut w, v);
    }
    Ok(Answer {
        status: StatusCode::CREATED,
        operation: "CreateHostedZone",
        body: w,
        location: Some(format!(
            "https://route53.amazonaws.com/{VERSION}/hostedzone/{}",
            zone.id
        )),
    })
}

async fn get_hosted_zone(control: &Control, account: &str, id: &str) -> Result<Answer, ApiError> {
    read(control, |g| {
        let z = route53::zone(g, account, id)?;
        let mut w = Xml::new();
        zone_el(&mut w, z);
        delegation_set_el(&mut w, z);
        if z.private {
            w.el("VPCs", |w| {
                for v in &z.vpcs {
                    vpc_el(w, v);
                }
            });
        }
        Ok(Answer::ok("GetHostedZone", w))
    })
    .await
}

async fn update_comment(
    control: &Control,
    account: &str,
    id: &str,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let doc = document(body, "UpdateHostedZoneCommentRequest")?;
    let comment = doc.text_of("Comment");
    let id = bare_id(id).to_owned();
    let zone = write(control, account, |r| r.update_comment(&id, comment)).await?;
    let mut w = Xml::new();
    zone_el(&mut w, &zone);
    Ok(Answer::ok("UpdateHostedZoneComment", w))
}

async fn list_hosted_zones(
    control: &Control,
    account: &str,
    query: &HashMap<String, String>,
) -> Result<Answer, ApiError> {
    let (max, max_text) = max_items(query, MAX_ZONES)?;
    let marker = query.get("marker").map(|m| bare_id(m).to_owned());
    if query.contains_key("delegationsetid") {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "Fort has no reusable delegation sets.",
        ));
    }
    let private_only = match query.get("hostedzonetype").map(String::as_str) {
        None => false,
        Some("PrivateHostedZone") => true,
        Some(other) => {
            return Err(invalid(format!(
                "Invalid value for hostedzonetype: {other}"
            )));
        }
    };
    read(control, |g| {
        let zones: Vec<&HostedZone> = route53::zones(g, account)
            .filter(|z| !private_only || z.private)
            .filter(|z| marker.as_deref().is_none_or(|m| z.id.as_str() >= m))
            .collect();
        let mut w = Xml::new();
        w.el("HostedZones", |w| {
            for z in zones.iter().take(max) {
                zone_el(w, z);
            }
        });
        w.opt("Marker", query.get("marker"))
            .leaf("IsTruncated", zones.len() > max)
            .opt("NextMarker", zones.get(max).map(|z| &z.id))
            .leaf("MaxItems", &max_text);
        Ok(Answer::ok("ListHostedZones", w))
    })
    .await
}

async fn list_by_name(
    control: &Control,
    account: &str,
    query: &HashMap<String, String>,
) -> Result<Answer, ApiError> {
    let (max, max_text) = max_items(query, MAX_ZONES)?;
    let dns_name = query
        .get("dnsname")
        .map(|n| {
            normalize_name(n).map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidDomainName,
                    format!("{n} is not a valid domain name."),
                )
            })
        })
        .transpose()?;
    let zone_id = query.get("hostedzoneid").map(|z| bare_id(z).to_owned());
    if zone_id.is_some() && dns_name.is_none() {
        return Err(invalid(
            "Invalid request: hostedzoneid can only be given with dnsname.",
        ));
    }
    let start = (
        dns_name.as_deref().map(sort_key).unwrap_or_default(),
        zone_id.clone().unwrap_or_default(),
    );
    read(control, |g| {
        let mut zones: Vec<(String, &HostedZone)> = route53::zones(g, account)
            .map(|z| (sort_key(&z.name), z))
            .filter(|(key, z)| (key.clone(), z.id.clone()) >= start)
            .collect();
        zones.sort_by(|a, b| (&a.0, &a.1.id).cmp(&(&b.0, &b.1.id)));
        let mut w = Xml::new();
        w.el("HostedZones", |w| {
            for (_, z) in zones.iter().take(max) {
                zone_el(w, z);
            }
        });
        w.opt("DNSName", dns_name.as_deref())
            .opt("HostedZoneId", zone_id.as_deref())
            .leaf("IsTruncated", zones.len() > max);
        if let Some((_, next)) = zones.get(max) {
            w.leaf("NextDNSName", &next.name)
                .leaf("NextHostedZoneId", &next.id);
        }
        w.leaf("MaxItems", &max_text);
        Ok(Answer::ok("ListHostedZonesByName", w))
    })
    .await
}

async fn list_by_vpc(
    control: &Control,
    account: &str,
    query: &HashMap<String, String>,
) -> Result<Answer, ApiError> {
    let (max, max_text) = max_items(query, MAX_ZONES)?;
    let missing = |name: &str| {
        invalid(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    };
    let vpc_id = query.get("vpcid").ok_or_else(|| missing("vPCId"))?;
    let region = query.get("vpcregion").ok_or_else(|| missing("vPCRegion"))?;
    let token = query.get("nexttoken");
    read(control, |g| {
        let zones: Vec<&HostedZone> = route53::zones_for_vpc(g, account, region, vpc_id).collect();
        let start = match token {
            None => 0,
            Some(t) => zones.iter().position(|z| &z.id == t).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidPaginationToken,
                    "The value that you specified to get the second or subsequent page of results is invalid.",
                )
            })?,
        };
        let page = &zones[start..];
        let mut w = Xml::new();
        w.el("HostedZoneSummaries", |w| {
            for z in page.iter().take(max) {
                w.el("HostedZoneSummary", |w| {
                    w.leaf("HostedZoneId", &z.id)
                        .leaf("Name", &z.name)
                        .el("Owner", |w| {
                            w.leaf("OwningAccount", &z.account);
                        });
                });
            }
        });
        w.leaf("MaxItems", &max_text)
            .opt("NextToken", page.get(max).map(|z| &z.id));
        Ok(Answer::ok("ListHostedZonesByVPC", w))
    })
    .await
}

async fn change_record_sets(
    control: &Control,
    account: &str,
    id: &str,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let doc = document(body, "ChangeResourceRecordSetsRequest")?;
    let batch = doc.child("ChangeBatch").ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'changeBatch' failed to satisfy constraint: Member must not be null")
    })?;
    let comment = batch.text_of("Comment");
    let mut changes = Vec::new();
    for c in batch.child("Changes").iter().flat_map(|c| c.all("Change")) {
        let action_text = required(c, "Action")?;
        let action = ChangeAction::parse(action_text.trim()).ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value '{action_text}' at 'changeBatch.changes.member.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]"
            ))
        })?;
        let set = c.child("ResourceRecordSet").ok_or_else(|| {
            invalid("1 validation error detected: Value null at 'changeBatch.changes.member.resourceRecordSet' failed to satisfy constraint: Member must not be null")
        })?;
        changes.push(Change {
            action,
            record_set: record_set(set)?,
        });
    }
    let id = bare_id(id).to_owned();
    let info = write(control, account, |r| {
        r.change_record_sets(&id, changes, comment)
    })
    .await?;
    Ok(Answer::ok(
        "ChangeResourceRecordSets",
        change_info(&info, "PENDING"),
    ))
}

async fn list_record_sets(
    control: &Control,
    account: &str,
    id: &str,
    query: &HashMap<String, String>,
) -> Result<Answer, ApiError> {
    let (max, max_text) = max_items(query, MAX_RECORDS)?;
    let name = query
        .get("name")
        .map(|n| {
            normalize_name(n)
                .map_err(|e| invalid(format!("Invalid request: {n} is not a domain name: {e}")))
        })
        .transpose()?;
    let rr_type = query
        .get("type")
        .map(|t| RrType::parse(t).ok_or_else(|| invalid(format!("Invalid type: {t}"))))
        .transpose()?;
    if rr_type.is_some() && name.is_none() {
        return Err(invalid(
            "The input is not valid: StartRecordType requires StartRecordName.",
        ));
    }
    let identifier = query.get("identifier").cloned();
    read(control, |g| {
        let z = route53::zone(g, account, id)?;
        let start_key = name.as_deref().map(sort_key).unwrap_or_default();
        let sets: Vec<&RecordSet> = z
            .records
            .iter()
            .filter(|r| {
                // from the start name (and type, and identifier) on, in Route 53's order
                let (key, t, ident) = r.order();
                match key.cmp(&start_key) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => {
                        rr_type.is_none_or(|st| (t, ident) >= (st, identifier.as_deref()))
                    }
                }
            })
            .collect();
        let mut w = Xml::new();
        w.el("ResourceRecordSets", |w| {
            for r in sets.iter().take(max) {
                record_set_el(w, r);
            }
        });
        w.leaf("IsTruncated", sets.len() > max);
        if let Some(next) = sets.get(max) {
            w.leaf("NextRecordName", &next.name)
                .leaf("NextRecordType", next.rr_type)
                .opt("NextRecordIdentifier", next.set_identifier.as_deref());
        }
        w.leaf("MaxItems", &max_text);
        Ok(Answer::ok("ListResourceRecordSets", w))
    })
    .await
}

async fn vpc_association(
    control: &Control,
    account: &str,
    id: &str,
    which: &str,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let (root, operation) = if which == "associatevpc" {
        (
            "AssociateVPCWithHostedZoneRequest",
            "AssociateVPCWithHostedZone",
        )
    } else {
        (
            "DisassociateVPCFromHostedZoneRequest",
            "DisassociateVPCFromHostedZone",
        )
    };
    let doc = document(body, root)?;
    let vpc = vpc_of(&doc).ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'vPC' failed to satisfy constraint: Member must not be null")
    })?;
    let comment = doc.text_of("Comment");
    let id = bare_id(id).to_owned();
    let associate = which == "associatevpc";
    let info = write(control, account, |r| {
        if associate {
            r.associate_vpc(&id, &vpc, comment)
        } else {
            r.disassociate_vpc(&id, &vpc, comment)
        }
    })
    .await?;
    Ok(Answer::ok(operation, change_info(&info, "PENDING")))
}

/// The zone a tag call names; a health check is never found (Fort has none).
fn tag_target<'a>(kind: &str, id: &'a str) -> Result<&'a str, ApiError> {
    match kind {
        "hostedzone" => Ok(bare_id(id)),
        "healthcheck" => Err(ApiError::new(
            ErrorCode::NoSuchHealthCheck,
            format!("No health check exists with the specified ID {id}"),
        )),
        other => Err(invalid(format!(
            "1 validation error detected: Value '{other}' at 'resourceType' failed to satisfy constraint: Member must satisfy enum value set: [healthcheck, hostedzone]"
        ))),
    }
}

async fn change_tags(
    control: &Control,
    account: &str,
    kind: &str,
    id: &str,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let id = tag_target(kind, id)?.to_owned();
    let doc = document(body, "ChangeTagsForResourceRequest")?;
    let mut add = Tags::new();
    for t in doc.child("AddTags").iter().flat_map(|a| a.all("Tag")) {
        add.insert(required(t, "Key")?, t.text_of("Value").unwrap_or_default());
    }
    let remove: Vec<String> = doc
        .child("RemoveTagKeys")
        .iter()
        .flat_map(|r| r.all("Key"))
        .map(|k| k.text.clone())
        .collect();
    write(control, account, |r| r.change_tags(&id, add, &remove)).await?;
    Ok(Answer::ok("ChangeTagsForResource", Xml::new()))
}

async fn list_tags(
    control: &Control,
    account: &str,
    kind: &str,
    id: &str,
) -> Result<Answer, ApiError> {
    let id = tag_target(kind, id)?;
    read(control, |g| {
        let z = route53::zone(g, account, id)?;
        let mut w = Xml::new();
        w.el("ResourceTagSet", |w| {
            w.leaf("ResourceType", "hostedzone")
                .leaf("ResourceId", &z.id)
                .el("Tags", |w| {
                    for (k, v) in &z.tags {
                        w.el("Tag", |w| {
                            w.leaf("Key", k).leaf("Value", v);
                        });
                    }
                });
        });
        Ok(Answer::ok("ListTagsForResource", w))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_decode() {
        assert_eq!(percent_decode("%2Fhostedzone%2FZ1"), "/hostedzone/Z1");
        assert_eq!(bare_id(&percent_decode("%2Fhostedzone%2FZ1")), "Z1");
        assert_eq!(percent_decode("a+b%"), "a+b%");
    }

    #[test]
    fn record_sets_read_from_documents() {
        let doc = Element::parse(
            br#"<ResourceRecordSet><Name>*.example.com</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"a"</Value></ResourceRecord><ResourceRecord><Value>"b"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"#,
        )
        .unwrap();
        let set = record_set(&doc).unwrap();
        assert_eq!(set.rr_type, RrType::Txt);
        assert_eq!(set.ttl, Some(60));
        assert_eq!(set.records, ["\"a\"", "\"b\""]);
        let bad = Element::parse(
            b"<ResourceRecordSet><Name>x</Name><Type>BOGUS</Type></ResourceRecordSet>",
        )
        .unwrap();
        assert_eq!(record_set(&bad).unwrap_err().code, ErrorCode::InvalidInput);
    }
}
