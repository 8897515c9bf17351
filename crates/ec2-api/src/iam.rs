//! IAM's Query API (`Action=CreateRole&Version=2010-05-08`, SigV4 service `iam`): roles,
//! inline and managed policies, attachments and instance profiles as the AWS SDKs, the CLI
//! and Terraform's aws provider use them. The documents are stored, never enforced (see
//! [`fort_control::iam`]). IAM is global: the account is the scope, whatever the region.

use std::fmt::Write;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fort_control::iam::{
    self, CreateInstanceProfile, CreatePolicy, CreateRole, Iam, InstanceProfile, ManagedPolicy,
    PolicyArn, PolicyVersion, Role, Taggable, UpdateRole,
};
use fort_control::{Control, Global, now_millis};
use fort_model::{ApiError, ErrorCode, Tags, format_time};

use crate::query::Params;
use crate::xml::Xml;

pub const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The most items one List call answers, and the default.
const MAX_ITEMS: usize = 1000;
const DEFAULT_ITEMS: usize = 100;

/// Answers one IAM request, already verified and decoded, for `account`.
pub async fn handle(
    control: &Control,
    account: &str,
    params: &Params,
    request_id: &str,
) -> Response {
    let Some(action) = params.get("Action") else {
        return error(
            &ApiError::new(
                ErrorCode::MissingAction,
                "The request must contain the parameter Action",
            ),
            request_id,
        );
    };
    let started = std::time::Instant::now();
    let result = dispatch(control, account, action, params).await;
    tracing::debug!(
        action,
        service = "iam",
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        ok = result.is_ok(),
        "request"
    );
    query_answer(NAMESPACE, action, result, request_id)
}

/// The document of a query service's answer to `action` (IAM's, RDS's, ElastiCache's,
/// Redshift's): `<{action}Result>` when the action returns something, then the request id;
/// or the error document.
pub fn query_answer(
    namespace: &str,
    action: &str,
    result: Result<Option<Xml>, ApiError>,
    request_id: &str,
) -> Response {
    match result {
        Ok(body) => {
            let mut out = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{namespace}\">"
            );
            if let Some(body) = body {
                let _ = write!(out, "<{action}Result>{}</{action}Result>", body.as_str());
            }
            let _ = write!(
                out,
                "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
            );
            xml_response(StatusCode::OK, out)
        }
        Err(e) => query_error(namespace, &e, request_id),
    }
}

/// IAM's error document: `<ErrorResponse>` with the error's type (Sender or Receiver).
pub fn error(e: &ApiError, request_id: &str) -> Response {
    query_error(NAMESPACE, e, request_id)
}

/// The error document of the query services other than EC2 (IAM, RDS, ElastiCache,
/// Redshift): `<ErrorResponse>` in the service's `namespace`, with the error's type.
pub fn query_error(namespace: &str, e: &ApiError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        e.code.as_str(),
        crate::xml::escape(&e.message)
    );
    xml_response(status, body)
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, Body::from(body)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

type Answer = Result<Option<Xml>, ApiError>;

async fn dispatch(control: &Control, account: &str, action: &str, p: &Params) -> Answer {
    match action {
        // ---- roles ----
        "CreateRole" => {
            let req = CreateRole {
                name: req(p, "RoleName")?,
                path: p.opt_str("Path"),
                assume_role_policy: req(p, "AssumeRolePolicyDocument")?,
                description: p.opt_str("Description"),
                max_session_duration: int(p, "MaxSessionDuration")?,
                permissions_boundary: p.opt_str("PermissionsBoundary"),
                tags: tags(p)?,
            };
            writing(control, account, move |iam| {
                let role = iam.create_role(req)?;
                Ok(Some(one("Role", |w| role_xml(w, &role, true, false))))
            })
            .await
        }
        "GetRole" => {
            let name = req(p, "RoleName")?;
            reading(control, |g| {
                let role = iam::role(g, account, &name)?;
                Ok(Some(one("Role", |w| role_xml(w, role, true, true))))
            })
            .await
        }
        "DeleteRole" => {
            let name = req(p, "RoleName")?;
            writing(control, account, move |iam| {
                iam.delete_role(&name).map(|()| None)
            })
            .await
        }
        "ListRoles" => {
            let prefix = path_prefix(p)?;
            let page = Paging::of(p)?;
            reading(control, |g| {
                let roles: Vec<&Role> = iam::roles(g, account)
                    .filter(|r| r.path.starts_with(&prefix))
                    .collect();
                let (items, marker) = page.apply(roles, |r| r.name.to_ascii_lowercase());
                let mut w = Xml::new();
                members(&mut w, "Roles", items, |w, r| {
                    w.el("member", |w| role_xml(w, r, false, false));
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        "UpdateRole" | "UpdateRoleDescription" => {
            let req = UpdateRole {
                name: req(p, "RoleName")?,
                description: if action == "UpdateRoleDescription" {
                    Some(req(p, "Description")?)
                } else {
                    p.opt_str("Description")
                },
                max_session_duration: int(p, "MaxSessionDuration")?,
            };
            let described = action == "UpdateRoleDescription";
            writing(control, account, move |iam| {
                let role = iam.update_role(req)?;
                Ok(described.then(|| one("Role", |w| role_xml(w, &role, true, false))))
            })
            .await
            .map(|x| x.or_else(|| Some(Xml::new())))
        }
        "UpdateAssumeRolePolicy" => {
            let name = req(p, "RoleName")?;
            let doc = req(p, "PolicyDocument")?;
            writing(control, account, move |iam| {
                iam.update_assume_role_policy(&name, doc).map(|()| None)
            })
            .await
        }
        "PutRolePermissionsBoundary" | "DeleteRolePermissionsBoundary" => {
            let name = req(p, "RoleName")?;
            let arn = if action == "PutRolePermissionsBoundary" {
                Some(req(p, "PermissionsBoundary")?)
            } else {
                None
            };
            writing(control, account, move |iam| {
                iam.put_role_permissions_boundary(&name, arn).map(|()| None)
            })
            .await
        }
        // ---- inline role policies ----
        "PutRolePolicy" => {
            let role = req(p, "RoleName")?;
            let name = req(p, "PolicyName")?;
            let doc = req(p, "PolicyDocument")?;
            writing(control, account, move |iam| {
                iam.put_role_policy(&role, &name, doc).map(|()| None)
            })
            .await
        }
        "GetRolePolicy" => {
            let role = req(p, "RoleName")?;
            let name = req(p, "PolicyName")?;
            reading(control, |g| {
                let r = iam::role(g, account, &role)?;
                let doc = r
                    .inline_policies
                    .get(&name)
                    .ok_or_else(|| iam::no_such_role_policy(&name))?;
                let mut w = Xml::new();
                w.leaf("RoleName", &r.name)
                    .leaf("PolicyName", &name)
                    .leaf("PolicyDocument", iam::url_encode(doc));
                Ok(Some(w))
            })
            .await
        }
        "DeleteRolePolicy" => {
            let role = req(p, "RoleName")?;
            let name = req(p, "PolicyName")?;
            writing(control, account, move |iam| {
                iam.delete_role_policy(&role, &name).map(|()| None)
            })
            .await
        }
        "ListRolePolicies" => {
            let role = req(p, "RoleName")?;
            let page = Paging::of(p)?;
            reading(control, |g| {
                let r = iam::role(g, account, &role)?;
                let names: Vec<&String> = r.inline_policies.keys().collect();
                let (items, marker) = page.apply(names, |n| (*n).clone());
                let mut w = Xml::new();
                members(&mut w, "PolicyNames", items, |w, n| {
                    w.leaf("member", n);
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        // ---- attachments ----
        "AttachRolePolicy" | "DetachRolePolicy" => {
            let role = req(p, "RoleName")?;
            let arn = req(p, "PolicyArn")?;
            let attach = action == "AttachRolePolicy";
            writing(control, account, move |iam| {
                if attach {
                    iam.attach_role_policy(&role, &arn)?;
                } else {
                    iam.detach_role_policy(&role, &arn)?;
                }
                Ok(None)
            })
            .await
        }
        "ListAttachedRolePolicies" => {
            let role = req(p, "RoleName")?;
            let prefix = path_prefix(p)?;
            let page = Paging::of(p)?;
            reading(control, |g| {
                let r = iam::role(g, account, &role)?;
                let mut arns: Vec<(&String, String)> = r
                    .attached
                    .iter()
                    .filter_map(|a| {
                        let parsed = PolicyArn::parse(a).ok()?;
                        let path = arn_path(a);
                        path.starts_with(&prefix)
                            .then(|| (a, parsed.name().to_owned()))
                    })
                    .collect();
                arns.sort();
                let (items, marker) = page.apply(arns, |(a, _)| (*a).clone());
                let mut w = Xml::new();
                members(&mut w, "AttachedPolicies", items, |w, (arn, name)| {
                    w.el("member", |w| {
                        w.leaf("PolicyName", name).leaf("PolicyArn", arn);
                    });
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        "ListEntitiesForPolicy" => {
            let arn = req(p, "PolicyArn")?;
            let filter = p.opt_str("EntityFilter");
            let prefix = path_prefix(p)?;
            let page = Paging::of(p)?;
            reading(control, |g| {
                if let PolicyArn::Customer { .. } = PolicyArn::parse(&arn)? {
                    iam::policy(g, account, &arn)?;
                }
                let wants_roles = filter.as_deref().is_none_or(|f| f == "Role");
                let roles: Vec<&Role> = iam::roles(g, account)
                    .filter(|r| wants_roles && r.path.starts_with(&prefix))
                    .filter(|r| r.attached.iter().any(|a| a == &arn))
                    .collect();
                let (items, marker) = page.apply(roles, |r| r.name.to_ascii_lowercase());
                let mut w = Xml::new();
                w.leaf("PolicyGroups", "").leaf("PolicyUsers", "");
                members(&mut w, "PolicyRoles", items, |w, r| {
                    w.el("member", |w| {
                        w.leaf("RoleName", &r.name).leaf("RoleId", &r.role_id);
                    });
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        // ---- managed policies ----
        "CreatePolicy" => {
            let req = CreatePolicy {
                name: req(p, "PolicyName")?,
                path: p.opt_str("Path"),
                document: req(p, "PolicyDocument")?,
                description: p.opt_str("Description"),
                tags: tags(p)?,
            };
            writing(control, account, move |iam| {
                let policy = iam.create_policy(req)?;
                Ok(Some(one("Policy", |w| policy_fields(w, &policy, 0, true))))
            })
            .await
        }
        "GetPolicy" => {
            let arn = req(p, "PolicyArn")?;
            reading(control, |g| {
                let policy = iam::readable_policy(g, account, &arn)?;
                let count = iam::attachment_count(g, account, &arn);
                Ok(Some(one("Policy", |w| {
                    policy_fields(w, policy, count, true)
                })))
            })
            .await
        }
        "DeletePolicy" => {
            let arn = req(p, "PolicyArn")?;
            writing(control, account, move |iam| {
                iam.delete_policy(&arn).map(|()| None)
            })
            .await
        }
        "ListPolicies" => {
            let scope = p.opt_str("Scope").unwrap_or_else(|| "All".into());
            if !matches!(scope.as_str(), "All" | "AWS" | "Local") {
                return Err(constraint_error(
                    &scope,
                    "scope",
                    "must satisfy enum value set: [All, AWS, Local]",
                ));
            }
            let only_attached = bool_param(p, "OnlyAttached")?.unwrap_or(false);
            let prefix = path_prefix(p)?;
            let page = Paging::of(p)?;
            reading(control, |g| {
                // AWS's own (the catalogued ones) and the account's, as Scope asks
                let aws = fort_control::iam_aws_policy::aws_managed_policies()
                    .iter()
                    .filter(|_| scope != "Local");
                let local = iam::policies(g, account).filter(|_| scope != "AWS");
                let policies: Vec<(&ManagedPolicy, usize)> = aws
                    .chain(local)
                    .filter(|pol| pol.path.starts_with(&prefix))
                    .map(|pol| (pol, iam::attachment_count(g, account, &pol.arn())))
                    .filter(|(_, n)| !only_attached || *n > 0)
                    .collect();
                let (items, marker) = page.apply(policies, |(pol, _)| {
                    format!("{} {}", pol.name.to_ascii_lowercase(), pol.arn())
                });
                let mut w = Xml::new();
                members(&mut w, "Policies", items, |w, (pol, n)| {
                    w.el("member", |w| policy_fields(w, pol, n, false));
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        "GetPolicyVersion" => {
            let arn = req(p, "PolicyArn")?;
            let version = req(p, "VersionId")?;
            reading(control, |g| {
                let policy = iam::readable_policy(g, account, &arn)?;
                let v = iam::parse_version_id(&version)
                    .and_then(|n| policy.version(n))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::NoSuchEntity,
                            format!("Policy {arn} version {version} does not exist or is not attachable."),
                        )
                    })?;
                Ok(Some(one("PolicyVersion", |w| version_xml(w, policy, v, true))))
            })
            .await
        }
        "ListPolicyVersions" => {
            let arn = req(p, "PolicyArn")?;
            let page = Paging::of(p)?;
            reading(control, |g| {
                let policy = iam::readable_policy(g, account, &arn)?;
                // newest first, as IAM lists them
                let versions: Vec<&PolicyVersion> = policy.versions.iter().rev().collect();
                let (items, marker) =
                    page.apply(versions, |v| format!("{:010}", u32::MAX - v.number));
                let mut w = Xml::new();
                members(&mut w, "Versions", items, |w, v| {
                    w.el("member", |w| version_xml(w, policy, v, false));
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        "CreatePolicyVersion" => {
            let arn = req(p, "PolicyArn")?;
            let doc = req(p, "PolicyDocument")?;
            let default = bool_param(p, "SetAsDefault")?.unwrap_or(false);
            writing(control, account, move |iam| {
                let v = iam.create_policy_version(&arn, doc, default)?;
                let policy = iam::policy(iam.global, iam.account, &arn)?;
                Ok(Some(one("PolicyVersion", |w| {
                    version_xml(w, policy, &v, false)
                })))
            })
            .await
        }
        "DeletePolicyVersion" | "SetDefaultPolicyVersion" => {
            let arn = req(p, "PolicyArn")?;
            let version = req(p, "VersionId")?;
            let delete = action == "DeletePolicyVersion";
            writing(control, account, move |iam| {
                if delete {
                    iam.delete_policy_version(&arn, &version)?;
                } else {
                    iam.set_default_policy_version(&arn, &version)?;
                }
                Ok(None)
            })
            .await
        }
        // ---- instance profiles ----
        "CreateInstanceProfile" => {
            let req = CreateInstanceProfile {
                name: req(p, "InstanceProfileName")?,
                path: p.opt_str("Path"),
                tags: tags(p)?,
            };
            writing(control, account, move |iam| {
                let profile = iam.create_instance_profile(req)?;
                let g: &Global = iam.global;
                Ok(Some(one("InstanceProfile", |w| {
                    profile_fields(w, g, &profile)
                })))
            })
            .await
        }
        "GetInstanceProfile" => {
            let name = req(p, "InstanceProfileName")?;
            reading(control, |g| {
                let profile = iam::instance_profile(g, account, &name)?;
                Ok(Some(one("InstanceProfile", |w| {
                    profile_fields(w, g, profile)
                })))
            })
            .await
        }
        "DeleteInstanceProfile" => {
            let name = req(p, "InstanceProfileName")?;
            writing(control, account, move |iam| {
                iam.delete_instance_profile(&name).map(|()| None)
            })
            .await
        }
        "AddRoleToInstanceProfile" | "RemoveRoleFromInstanceProfile" => {
            let profile = req(p, "InstanceProfileName")?;
            let role = req(p, "RoleName")?;
            let add = action == "AddRoleToInstanceProfile";
            writing(control, account, move |iam| {
                if add {
                    iam.add_role_to_instance_profile(&profile, &role)?;
                } else {
                    iam.remove_role_from_instance_profile(&profile, &role)?;
                }
                Ok(None)
            })
            .await
        }
        "ListInstanceProfiles" | "ListInstanceProfilesForRole" => {
            let role = if action == "ListInstanceProfilesForRole" {
                Some(req(p, "RoleName")?)
            } else {
                None
            };
            let prefix = if role.is_none() {
                path_prefix(p)?
            } else {
                "/".into()
            };
            let page = Paging::of(p)?;
            reading(control, |g| {
                let role_name = match &role {
                    Some(r) => Some(iam::role(g, account, r)?.name.clone()),
                    None => None,
                };
                let profiles: Vec<&InstanceProfile> = iam::instance_profiles(g, account)
                    .filter(|ip| ip.path.starts_with(&prefix))
                    .filter(|ip| role_name.as_ref().is_none_or(|r| ip.roles.contains(r)))
                    .collect();
                let (items, marker) = page.apply(profiles, |ip| ip.name.to_ascii_lowercase());
                let mut w = Xml::new();
                members(&mut w, "InstanceProfiles", items, |w, ip| {
                    w.el("member", |w| profile_fields(w, g, ip));
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        // ---- tags ----
        "TagRole" | "TagPolicy" | "TagInstanceProfile" => {
            let entity = taggable(p, action)?;
            let tags = tags(p)?;
            if tags.is_empty() {
                return Err(missing("tags"));
            }
            writing(control, account, move |iam| {
                iam.tag(&entity, tags).map(|()| None)
            })
            .await
        }
        "UntagRole" | "UntagPolicy" | "UntagInstanceProfile" => {
            let entity = taggable(p, action)?;
            let keys = member_strings(p, "TagKeys")?;
            writing(control, account, move |iam| {
                iam.untag(&entity, &keys).map(|()| None)
            })
            .await
        }
        "ListRoleTags" | "ListPolicyTags" | "ListInstanceProfileTags" => {
            let entity = taggable(p, action)?;
            let page = Paging::of(p)?;
            reading(control, |g| {
                let tags = match &entity {
                    Taggable::Role(n) => &iam::role(g, account, n)?.tags,
                    Taggable::Policy(a) => &iam::policy(g, account, a)?.tags,
                    Taggable::InstanceProfile(n) => &iam::instance_profile(g, account, n)?.tags,
                };
                let (items, marker) = page.apply(tags.iter().collect(), |(k, _)| (*k).clone());
                let mut w = Xml::new();
                members(&mut w, "Tags", items, |w, (k, v)| {
                    w.el("member", |w| {
                        w.leaf("Key", k).leaf("Value", v);
                    });
                });
                truncated(&mut w, marker);
                Ok(Some(w))
            })
            .await
        }
        other => Err(ApiError::new(
            ErrorCode::InvalidAction,
            format!(
                "Fort does not offer the IAM action '{other}': it serves roles, role policies, managed policies and instance profiles, stored and not enforced."
            ),
        )),
    }
}

/// A read of the shared records.
async fn reading(control: &Control, f: impl FnOnce(&Global) -> Answer) -> Answer {
    control.read_world(|w| f(&w.global)).await
}

/// A change to the shared records, answered once it is durable.
async fn writing(
    control: &Control,
    account: &str,
    f: impl FnOnce(&mut Iam<'_>) -> Answer + Send,
) -> Answer {
    control
        .write_global(|global| {
            let mut iam = Iam {
                global,
                account,
                now: now_millis(),
            };
            f(&mut iam)
        })
        .await
        .map(|(v, _)| v)
}

// ---- parameters ---------------------------------------------------------------------------

/// The field name IAM's validation messages use: the parameter in lower camel case.
fn field(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn constraint_error(value: &str, field: &str, what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ValidationError,
        format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member {what}"
        ),
    )
}

fn missing(field: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ValidationError,
        format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ),
    )
}

/// A required parameter, with IAM's message when it is absent.
fn req(p: &Params, name: &str) -> Result<String, ApiError> {
    p.opt_str(name).ok_or_else(|| missing(&field(name)))
}

fn int(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| constraint_error(v, &field(name), "must be a number")),
    }
}

fn bool_param(p: &Params, name: &str) -> Result<Option<bool>, ApiError> {
    match p.get(name) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(constraint_error(v, &field(name), "must be a boolean")),
    }
}

/// `Name.member.N` strings, in order.
fn member_strings(p: &Params, name: &str) -> Result<Vec<String>, ApiError> {
    p.child(name)
        .list("member")?
        .into_iter()
        .map(|m| {
            m.value()
                .map(str::to_owned)
                .ok_or_else(|| missing(&field(name)))
        })
        .collect()
}

/// `Tags.member.N.Key` and `.Value`.
fn tags(p: &Params) -> Result<Tags, ApiError> {
    let mut out = Tags::new();
    for m in p.child("Tags").list("member")? {
        let key = m.opt_str("Key").ok_or_else(|| missing("tags.member.key"))?;
        let value = m
            .opt_str("Value")
            .ok_or_else(|| missing("tags.member.value"))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn path_prefix(p: &Params) -> Result<String, ApiError> {
    let prefix = p.opt_str("PathPrefix").unwrap_or_else(|| "/".into());
    iam::check_path_prefix(&prefix)?;
    Ok(prefix)
}

/// The entity a Tag/Untag/List…Tags action names.
fn taggable(p: &Params, action: &str) -> Result<Taggable, ApiError> {
    Ok(
        if action.ends_with("Role") || action.ends_with("RoleTags") {
            Taggable::Role(req(p, "RoleName")?)
        } else if action.ends_with("Policy") || action.ends_with("PolicyTags") {
            Taggable::Policy(req(p, "PolicyArn")?)
        } else {
            Taggable::InstanceProfile(req(p, "InstanceProfileName")?)
        },
    )
}

/// The path part of an ARN (`/service-role/` of `…:policy/service-role/Name`).
fn arn_path(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
    match (resource.find('/'), resource.rfind('/')) {
        (Some(first), Some(last)) => resource[first..=last].to_owned(),
        _ => "/".into(),
    }
}

/// `Marker` and `MaxItems` of a List call.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Paging {
    marker: Option<String>,
    max_items: usize,
}

impl Paging {
    fn of(p: &Params) -> Result<Self, ApiError> {
        let max_items = match int(p, "MaxItems")? {
            None => DEFAULT_ITEMS,
            Some(n) if n < 1 => {
                return Err(constraint_error(
                    &n.to_string(),
                    "maxItems",
                    "must have value greater than or equal to 1",
                ));
            }
            Some(n) if n > MAX_ITEMS as i64 => {
                return Err(constraint_error(
                    &n.to_string(),
                    "maxItems",
                    "must have value less than or equal to 1000",
                ));
            }
            Some(n) => usize::try_from(n).unwrap_or(DEFAULT_ITEMS),
        };
        let marker = p.opt_str("Marker");
        if marker.as_deref() == Some("") {
            return Err(constraint_error(
                "",
                "marker",
                "must have length greater than or equal to 1",
            ));
        }
        Ok(Self { marker, max_items })
    }

    /// One page of `items`, ordered by `key`: the page starts at the marker (the key of the
    /// first item not yet seen, so a deletion between pages skips nothing) and the next
    /// marker is given when more remain.
    fn apply<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        items.sort_by_key(|i| key(i));
        let start = match &self.marker {
            Some(m) => items
                .iter()
                .position(|i| key(i) >= *m)
                .unwrap_or(items.len()),
            None => 0,
        };
        let mut rest: Vec<T> = items.into_iter().skip(start).collect();
        let next = if rest.len() > self.max_items {
            let tail = rest.split_off(self.max_items);
            tail.first().map(&key)
        } else {
            None
        };
        (rest, next)
    }
}

// ---- rendering ----------------------------------------------------------------------------

/// A time as IAM writes it: whole seconds (`2024-05-01T12:00:00Z`).
fn iam_time(ms: fort_model::Millis) -> String {
    let full = format_time(ms);
    match full.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => full,
    }
}

/// `<name>…</name>` around what `f` writes, as a fresh body.
fn one(name: &str, f: impl FnOnce(&mut Xml)) -> Xml {
    let mut w = Xml::new();
    w.el(name, f);
    w
}

/// `<name><member>…</member>…</name>`: `f` writes each member whole.
fn members<T>(w: &mut Xml, name: &str, items: Vec<T>, mut f: impl FnMut(&mut Xml, T)) {
    w.el(name, |w| {
        for item in items {
            f(w, item);
        }
    });
}

fn truncated(w: &mut Xml, marker: Option<String>) {
    w.leaf("IsTruncated", marker.is_some());
    w.opt("Marker", marker);
}

fn tag_members(w: &mut Xml, tags: &Tags) {
    if tags.is_empty() {
        return;
    }
    w.el("Tags", |w| {
        for (k, v) in tags {
            w.el("member", |w| {
                w.leaf("Key", k).leaf("Value", v);
            });
        }
    });
}

/// A role as IAM writes it; ListRoles leaves out its tags and last use.
fn role_xml(w: &mut Xml, r: &Role, with_tags: bool, last_used: bool) {
    w.leaf("Path", &r.path)
        .leaf("RoleName", &r.name)
        .leaf("RoleId", &r.role_id)
        .leaf("Arn", r.arn())
        .leaf("CreateDate", iam_time(r.create_date))
        .leaf(
            "AssumeRolePolicyDocument",
            iam::url_encode(&r.assume_role_policy),
        )
        .opt("Description", r.description.as_ref())
        .leaf("MaxSessionDuration", r.max_session_duration);
    if let Some(arn) = &r.permissions_boundary {
        w.el("PermissionsBoundary", |w| {
            w.leaf("PermissionsBoundaryType", "Policy")
                .leaf("PermissionsBoundaryArn", arn);
        });
    }
    if with_tags {
        tag_members(w, &r.tags);
    }
    if last_used {
        // Fort issues no sessions for roles: never used.
        w.leaf("RoleLastUsed", "");
    }
}

fn policy_fields(w: &mut Xml, p: &ManagedPolicy, attachments: usize, with_tags: bool) {
    w.leaf("PolicyName", &p.name)
        .leaf("PolicyId", &p.policy_id)
        .leaf("Arn", p.arn())
        .leaf("Path", &p.path)
        .leaf("DefaultVersionId", iam::version_id(p.default_version))
        .leaf("AttachmentCount", attachments)
        .leaf("PermissionsBoundaryUsageCount", 0)
        .leaf("IsAttachable", true)
        .opt("Description", p.description.as_ref())
        .leaf("CreateDate", iam_time(p.create_date))
        .leaf("UpdateDate", iam_time(p.update_date));
    if with_tags {
        tag_members(w, &p.tags);
    }
}

/// A policy version; the document only where IAM gives it (GetPolicyVersion).
fn version_xml(w: &mut Xml, p: &ManagedPolicy, v: &PolicyVersion, with_document: bool) {
    if with_document {
        w.leaf("Document", iam::url_encode(&v.document));
    }
    w.leaf("VersionId", iam::version_id(v.number))
        .leaf("IsDefaultVersion", v.number == p.default_version)
        .leaf("CreateDate", iam_time(v.create_date));
}

fn profile_fields(w: &mut Xml, g: &Global, ip: &InstanceProfile) {
    w.leaf("Path", &ip.path)
        .leaf("InstanceProfileName", &ip.name)
        .leaf("InstanceProfileId", &ip.profile_id)
        .leaf("Arn", ip.arn())
        .leaf("CreateDate", iam_time(ip.create_date));
    let roles: Vec<&Role> = ip
        .roles
        .iter()
        .filter_map(|r| iam::role(g, &ip.account, r).ok())
        .collect();
    members(w, "Roles", roles, |w, r| {
        w.el("member", |w| role_xml(w, r, false, false));
    });
    tag_members(w, &ip.tags);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(marker: Option<&str>, max_items: usize) -> Paging {
        Paging {
            marker: marker.map(Into::into),
            max_items,
        }
    }

    #[test]
    fn pages_follow_their_markers() {
        let items: Vec<String> = ["d", "a", "c", "b", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (first, m) = paging(None, 2).apply(items.clone(), Clone::clone);
        assert_eq!(first, ["a", "b"]);
        assert_eq!(m.as_deref(), Some("c"));
        let (second, m) = paging(m.as_deref(), 2).apply(items.clone(), Clone::clone);
        assert_eq!(second, ["c", "d"]);
        let (third, m) = paging(m.as_deref(), 2).apply(items.clone(), Clone::clone);
        assert_eq!((third, m), (vec!["e".to_owned()], None));
        // a marker whose item went away starts at the next one
        let fewer: Vec<String> = ["a", "b", "d"].iter().map(|s| s.to_string()).collect();
        let (rest, _) = paging(Some("c"), 10).apply(fewer, Clone::clone);
        assert_eq!(rest, ["d"]);
    }

    proptest::proptest! {
        /// Every item is listed exactly once, in order, whatever the page size.
        #[test]
        fn paging_lists_everything_once(
            names in proptest::collection::btree_set("[a-z]{1,6}", 0..40),
            size in 1usize..7,
        ) {
            let items: Vec<String> = names.iter().cloned().collect();
            let mut seen = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let (page, next) = paging(marker.as_deref(), size).apply(items.clone(), Clone::clone);
                proptest::prop_assert!(page.len() <= size);
                seen.extend(page);
                match next {
                    Some(m) => marker = Some(m),
                    None => break,
                }
            }
            proptest::prop_assert_eq!(seen, items);
        }
    }

    #[test]
    fn arn_paths_and_fields() {
        assert_eq!(
            arn_path("arn:aws:iam::aws:policy/service-role/X"),
            "/service-role/"
        );
        assert_eq!(arn_path("arn:aws:iam::123456789012:policy/X"), "/");
        assert_eq!(field("RoleName"), "roleName");
        assert_eq!(iam_time(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn errors_are_iam_documents() {
        let e = iam::no_such_role("r");
        let resp = error(&e, "req-1");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}
