//! IAM as stored documents: roles with their trust and inline policies, customer managed
//! policies with their versions, attachments, and instance profiles. Nothing here is
//! enforced (Fort's credentials file says who may call); the records exist so that the
//! tools which create them (Terraform's `aws_iam_role` for a flow log's
//! `DeliverLogsPermissionArn`, say) see IAM behave as AWS's does.
//!
//! IAM is global: its records belong to an account, not a region, and live in
//! [`Global`](crate::Global) under `ACCOUNT/lowercased-name` (IAM names are unique within
//! an account whatever their case, and found whatever the case of the request).

use std::collections::BTreeMap;

use fort_model::{ApiError, ErrorCode, Millis, Tags};
use rsa::rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Global;
use crate::table::Resource;

/// The most managed policies one role may have attached (IAM's default quota).
pub const MAX_ATTACHED_PER_ROLE: usize = 10;
/// The most versions a managed policy keeps.
pub const MAX_POLICY_VERSIONS: usize = 5;
/// The most tags an IAM entity carries.
pub const MAX_TAGS: usize = 50;
/// Quotas on document sizes, in characters other than whitespace, as IAM counts them.
pub const MAX_TRUST_POLICY: usize = 2048;
pub const MAX_MANAGED_POLICY: usize = 6144;
pub const MAX_INLINE_POLICIES_PER_ROLE: usize = 10240;
/// Session durations a role allows, in seconds.
pub const SESSION_DURATION: std::ops::RangeInclusive<i64> = 3600..=43200;

/// A role: who may assume it (the trust policy) and what it may do (inline and attached
/// policies).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// `ACCOUNT/lowercased name`.
    pub id: String,
    pub account: String,
    pub name: String,
    /// `AROA…`: the id IAM gives each role.
    pub role_id: String,
    pub path: String,
    pub create_date: Millis,
    /// The trust policy, as the caller sent it.
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub permissions_boundary: Option<String>,
    pub tags: Tags,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, String>,
    /// Attached managed policies' ARNs, in the order they were attached.
    pub attached: Vec<String>,
}

/// A customer managed policy and its versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    /// `ACCOUNT/lowercased name`.
    pub id: String,
    pub account: String,
    pub name: String,
    /// `ANPA…`.
    pub policy_id: String,
    pub path: String,
    pub description: Option<String>,
    pub create_date: Millis,
    pub update_date: Millis,
    /// The number of the default version (`v1` is 1).
    pub default_version: u32,
    /// The number the next version gets: numbers are never reused.
    pub next_version: u32,
    pub versions: Vec<PolicyVersion>,
    pub tags: Tags,
}

/// One version of a managed policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    pub number: u32,
    pub document: String,
    pub create_date: Millis,
}

/// An instance profile: what carries a role to an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceProfile {
    /// `ACCOUNT/lowercased name`.
    pub id: String,
    pub account: String,
    pub name: String,
    /// `AIPA…`.
    pub profile_id: String,
    pub path: String,
    pub create_date: Millis,
    /// The roles' names (one at most, IAM's quota).
    pub roles: Vec<String>,
    pub tags: Tags,
}

macro_rules! iam_resource {
    ($($t:ty),*) => {$(
        impl Resource for $t {
            type Id = String;
            fn id(&self) -> &String { &self.id }
            fn tags(&self) -> Option<&Tags> { None }
            fn tags_mut(&mut self) -> Option<&mut Tags> { None }
        }
    )*};
}

iam_resource!(Role, ManagedPolicy, InstanceProfile);

impl Role {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role{}{}",
            self.account, self.path, self.name
        )
    }
}

impl ManagedPolicy {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:policy{}{}",
            self.account, self.path, self.name
        )
    }

    pub fn version(&self, number: u32) -> Option<&PolicyVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// The document of the default version.
    pub fn document(&self) -> &str {
        self.version(self.default_version)
            .map_or("", |v| v.document.as_str())
    }
}

impl InstanceProfile {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:instance-profile{}{}",
            self.account, self.path, self.name
        )
    }
}

/// The table key of an entity named `name` in `account`.
pub fn key(account: &str, name: &str) -> String {
    format!("{account}/{}", name.to_ascii_lowercase())
}

/// `vN` as IAM names policy versions.
pub fn version_id(number: u32) -> String {
    format!("v{number}")
}

/// The number of a version id (`v3` is 3).
pub fn parse_version_id(id: &str) -> Option<u32> {
    let digits = id.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A fresh unique id as IAM writes them: a four-letter prefix and 17 upper-case letters or
/// digits.
pub fn unique_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 17];
    OsRng.fill_bytes(&mut bytes);
    let mut out = String::with_capacity(prefix.len() + 17);
    out.push_str(prefix);
    for b in bytes {
        out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
    }
    out
}

/// A document as IAM's Query answers carry it: percent-encoded (RFC 3986 unreserved
/// characters kept), which SDKs decode.
pub fn url_encode(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len() * 2);
    for b in doc.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---- validation -------------------------------------------------------------------------

fn validation(message: String) -> ApiError {
    ApiError::new(ErrorCode::ValidationError, message)
}

/// AWS's message for a value that breaks a field's constraint.
fn constraint(value: &str, field: &str, what: &str) -> ApiError {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member {what}"
    ))
}

/// A role, policy or instance profile name: 1 to `max` of `[\w+=,.@-]`.
pub fn check_name(name: &str, field: &str, max: usize) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(constraint(
            name,
            field,
            "must have length greater than or equal to 1",
        ));
    }
    if name.chars().count() > max {
        return Err(constraint(
            name,
            field,
            &format!("must have length less than or equal to {max}"),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(constraint(
            name,
            field,
            "must satisfy regular expression pattern: [\\w+=,.@-]+",
        ));
    }
    Ok(())
}

/// A path: `/` or `/a/b/`, printable ASCII, at most 512 characters.
pub fn check_path(path: &str) -> Result<(), ApiError> {
    let printable = path.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if path.len() > 512 || !path.starts_with('/') || !path.ends_with('/') || !printable {
        return Err(validation(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.".into(),
        ));
    }
    Ok(())
}

/// A path prefix of a List call: begins with `/`.
pub fn check_path_prefix(prefix: &str) -> Result<(), ApiError> {
    let printable = prefix.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if prefix.len() > 512 || !prefix.starts_with('/') || !printable {
        return Err(constraint(
            prefix,
            "pathPrefix",
            "must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*",
        ));
    }
    Ok(())
}

pub fn check_description(description: &str) -> Result<(), ApiError> {
    if description.chars().count() > 1000 {
        return Err(constraint(
            description,
            "description",
            "must have length less than or equal to 1000",
        ));
    }
    Ok(())
}

pub fn check_session_duration(seconds: i64) -> Result<(), ApiError> {
    if seconds < *SESSION_DURATION.start() {
        return Err(constraint(
            &seconds.to_string(),
            "maxSessionDuration",
            "must have value greater than or equal to 3600",
        ));
    }
    if seconds > *SESSION_DURATION.end() {
        return Err(constraint(
            &seconds.to_string(),
            "maxSessionDuration",
            "must have value less than or equal to 43200",
        ));
    }
    Ok(())
}

/// Tags as IAM allows them: at most 50, keys 1 to 128 characters, values up to 256.
pub fn check_tags(tags: &Tags) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            ErrorCode::LimitExceeded,
            format!("Cannot exceed quota for TagsPerRole: {MAX_TAGS}."),
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(constraint(
                k,
                "tags.member.key",
                "must have length less than or equal to 128",
            ));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "User is not authorized to perform: iam:TagRole on resource: tags with the aws: prefix are reserved.",
            ));
        }
        if v.chars().count() > 256 {
            return Err(constraint(
                v,
                "tags.member.value",
                "must have length less than or equal to 256",
            ));
        }
    }
    Ok(())
}

/// What a policy document is for: IAM checks each kind's statements differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    /// A role's trust policy: every statement names a principal.
    Trust,
    /// An inline or managed (identity) policy: none names a principal.
    Identity,
}

fn malformed(message: &str) -> ApiError {
    ApiError::new(ErrorCode::MalformedPolicyDocument, message)
}

/// Characters IAM counts toward a policy's size: all but whitespace.
pub fn policy_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

/// Checks that `doc` is a policy: a JSON object with statements, each with an effect,
/// naming principals exactly when `kind` asks for them. Fort stores it; it never enforces it.
pub fn check_document(doc: &str, kind: DocumentKind) -> Result<(), ApiError> {
    let Ok(value) = serde_json::from_str::<Value>(doc) else {
        return Err(malformed("Syntax errors in policy."));
    };
    let Some(object) = value.as_object() else {
        return Err(malformed("Syntax errors in policy."));
    };
    if let Some(version) = object.get("Version")
        && !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17"))
    {
        return Err(malformed("The policy failed legacy parsing"));
    }
    let statements: Vec<&Value> = match object.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err(malformed("Syntax errors in policy.")),
    };
    for statement in statements {
        let Some(s) = statement.as_object() else {
            return Err(malformed("Syntax errors in policy."));
        };
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            Some(_) => return Err(malformed("Invalid effect.")),
            None => return Err(malformed("Missing required field Effect")),
        }
        let names_principal = s.contains_key("Principal") || s.contains_key("NotPrincipal");
        match kind {
            DocumentKind::Trust if !names_principal => {
                return Err(malformed("Missing required field Principal"));
            }
            DocumentKind::Identity if names_principal => {
                return Err(malformed("Policy document should not specify a principal."));
            }
            _ => {}
        }
        if !s.contains_key("Action") && !s.contains_key("NotAction") {
            return Err(malformed("Missing required field Action"));
        }
        if kind == DocumentKind::Identity
            && !s.contains_key("Resource")
            && !s.contains_key("NotResource")
        {
            return Err(malformed("Policy statement must contain resources."));
        }
    }
    Ok(())
}

/// A policy ARN, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyArn {
    /// `arn:aws:iam::aws:policy/…`: AWS's own, which every account may attach.
    AwsManaged { arn: String, name: String },
    /// A customer managed policy of `account`.
    Customer {
        account: String,
        path: String,
        name: String,
    },
}

impl PolicyArn {
    /// Reads `arn:aws:iam::ACCOUNT:policy/PATH/NAME`; IAM's InvalidInput otherwise.
    pub fn parse(arn: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::new(ErrorCode::InvalidInput, format!("ARN {arn} is not valid."));
        let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(invalid)?;
        let (account, resource) = rest.split_once(':').ok_or_else(invalid)?;
        let path_name = resource.strip_prefix("policy").ok_or_else(invalid)?;
        if !path_name.starts_with('/') {
            return Err(invalid());
        }
        let (path, name) = path_name.rsplit_once('/').ok_or_else(invalid)?;
        if name.is_empty() {
            return Err(invalid());
        }
        if account == "aws" {
            return Ok(Self::AwsManaged {
                arn: arn.to_owned(),
                name: name.to_owned(),
            });
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        Ok(Self::Customer {
            account: account.to_owned(),
            path: format!("{path}/"),
            name: name.to_owned(),
        })
    }

    /// The policy's name: the ARN's last segment.
    pub fn name(&self) -> &str {
        match self {
            Self::AwsManaged { name, .. } | Self::Customer { name, .. } => name,
        }
    }
}

// ---- errors -----------------------------------------------------------------------------

pub fn no_such_role(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The role with name {name} cannot be found."),
    )
}

pub fn no_such_policy(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} was not found."),
    )
}

fn not_attachable(arn: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} does not exist or is not attachable."),
    )
}

pub fn no_such_instance_profile(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Instance Profile {name} cannot be found."),
    )
}

fn conflict(message: &str) -> ApiError {
    ApiError::new(ErrorCode::DeleteConflict, message)
}

fn limit(message: String) -> ApiError {
    ApiError::new(ErrorCode::LimitExceeded, message)
}

// ---- requests ---------------------------------------------------------------------------

/// CreateRole's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateRole {
    pub name: String,
    pub path: Option<String>,
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i64>,
    pub permissions_boundary: Option<String>,
    pub tags: Tags,
}

/// UpdateRole's parameters (UpdateRoleDescription sets only the description).
#[derive(Clone, Debug, Default)]
pub struct UpdateRole {
    pub name: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i64>,
}

/// CreatePolicy's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreatePolicy {
    pub name: String,
    pub path: Option<String>,
    pub document: String,
    pub description: Option<String>,
    pub tags: Tags,
}

/// CreateInstanceProfile's parameters.
#[derive(Clone, Debug, Default)]
pub struct CreateInstanceProfile {
    pub name: String,
    pub path: Option<String>,
    pub tags: Tags,
}

/// Which entity a tag call names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taggable {
    Role(String),
    Policy(String),
    InstanceProfile(String),
}

// ---- changes ----------------------------------------------------------------------------

/// IAM's changes, made for one account at one time.
pub struct Iam<'a> {
    pub global: &'a mut Global,
    pub account: &'a str,
    pub now: Millis,
}

impl Iam<'_> {
    pub fn create_role(&mut self, req: CreateRole) -> Result<Role, ApiError> {
        check_name(&req.name, "roleName", 64)?;
        let path = req.path.unwrap_or_else(|| "/".into());
        check_path(&path)?;
        check_document(&req.assume_role_policy, DocumentKind::Trust)?;
        if policy_size(&req.assume_role_policy) > MAX_TRUST_POLICY {
            return Err(limit(format!(
                "Cannot exceed quota for ACLSizePerRole: {MAX_TRUST_POLICY}"
            )));
        }
        if let Some(d) = &req.description {
            check_description(d)?;
        }
        let duration = req.max_session_duration.unwrap_or(3600);
        check_session_duration(duration)?;
        if let Some(arn) = &req.permissions_boundary {
            self.check_attachable(arn)?;
        }
        check_tags(&req.tags)?;
        let id = key(self.account, &req.name);
        if self.global.iam_roles.contains(&id) {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!("Role with name {} already exists.", req.name),
            ));
        }
        let role = Role {
            id,
            account: self.account.to_owned(),
            name: req.name,
            role_id: unique_id("AROA"),
            path,
            create_date: self.now,
            assume_role_policy: req.assume_role_policy,
            description: req.description,
            max_session_duration: duration,
            permissions_boundary: req.permissions_boundary,
            tags: req.tags,
            inline_policies: BTreeMap::new(),
            attached: Vec::new(),
        };
        self.global.iam_roles.insert(role.clone());
        Ok(role)
    }

    fn role_mut(&mut self, name: &str) -> Result<&mut Role, ApiError> {
        self.global
            .iam_roles
            .get_mut(&key(self.account, name))
            .ok_or_else(|| no_such_role(name))
    }

    pub fn delete_role(&mut self, name: &str) -> Result<(), ApiError> {
        let role = role(self.global, self.account, name)?;
        if !role.inline_policies.is_empty() {
            return Err(conflict(
                "Cannot delete entity, must delete policies first.",
            ));
        }
        if !role.attached.is_empty() {
            return Err(conflict(
                "Cannot delete entity, must detach all policies first.",
            ));
        }
        let role_name = role.name.clone();
        if self
            .global
            .iam_instance_profiles
            .values()
            .any(|p| p.account == self.account && p.roles.contains(&role_name))
        {
            return Err(conflict(
                "Cannot delete entity, must remove roles from instance profile first.",
            ));
        }
        self.global.iam_roles.remove(&key(self.account, name));
        Ok(())
    }

    pub fn update_role(&mut self, req: UpdateRole) -> Result<Role, ApiError> {
        if let Some(d) = &req.description {
            check_description(d)?;
        }
        if let Some(s) = req.max_session_duration {
            check_session_duration(s)?;
        }
        let role = self.role_mut(&req.name)?;
        if let Some(d) = req.description {
            role.description = Some(d);
        }
        if let Some(s) = req.max_session_duration {
            role.max_session_duration = s;
        }
        Ok(role.clone())
    }

    pub fn update_assume_role_policy(&mut self, name: &str, doc: String) -> Result<(), ApiError> {
        check_document(&doc, DocumentKind::Trust)?;
        if policy_size(&doc) > MAX_TRUST_POLICY {
            return Err(limit(format!(
                "Cannot exceed quota for ACLSizePerRole: {MAX_TRUST_POLICY}"
            )));
        }
        self.role_mut(name)?.assume_role_policy = doc;
        Ok(())
    }

    pub fn put_role_permissions_boundary(
        &mut self,
        name: &str,
        arn: Option<String>,
    ) -> Result<(), ApiError> {
        role(self.global, self.account, name)?;
        if let Some(arn) = &arn {
            self.check_attachable(arn)?;
        }
        self.role_mut(name)?.permissions_boundary = arn;
        Ok(())
    }

    pub fn put_role_policy(
        &mut self,
        role_name: &str,
        policy_name: &str,
        doc: String,
    ) -> Result<(), ApiError> {
        check_name(policy_name, "policyName", 128)?;
        check_document(&doc, DocumentKind::Identity)?;
        let role = self.role_mut(role_name)?;
        let total: usize = role
            .inline_policies
            .iter()
            .filter(|(n, _)| n.as_str() != policy_name)
            .map(|(_, d)| policy_size(d))
            .sum::<usize>()
            + policy_size(&doc);
        if total > MAX_INLINE_POLICIES_PER_ROLE {
            let name = role.name.clone();
            return Err(limit(format!(
                "Maximum policy size of {MAX_INLINE_POLICIES_PER_ROLE} bytes exceeded for role {name}"
            )));
        }
        role.inline_policies.insert(policy_name.to_owned(), doc);
        Ok(())
    }

    pub fn delete_role_policy(
        &mut self,
        role_name: &str,
        policy_name: &str,
    ) -> Result<(), ApiError> {
        let role = role(self.global, self.account, role_name)?;
        if !role.inline_policies.contains_key(policy_name) {
            return Err(no_such_role_policy(policy_name));
        }
        self.role_mut(role_name)?
            .inline_policies
            .remove(policy_name);
        Ok(())
    }

    /// Whether a policy ARN names a policy this account may attach; IAM's errors otherwise.
    fn check_attachable(&self, arn: &str) -> Result<(), ApiError> {
        match PolicyArn::parse(arn)? {
            PolicyArn::AwsManaged { .. } => Ok(()),
            PolicyArn::Customer { .. } => policy(self.global, self.account, arn)
                .map(|_| ())
                .map_err(|_| not_attachable(arn)),
        }
    }

    pub fn attach_role_policy(&mut self, role_name: &str, arn: &str) -> Result<(), ApiError> {
        role(self.global, self.account, role_name)?;
        self.check_attachable(arn)?;
        let role = self.role_mut(role_name)?;
        if role.attached.iter().any(|a| a == arn) {
            return Ok(());
        }
        if role.attached.len() >= MAX_ATTACHED_PER_ROLE {
            return Err(limit(format!(
                "Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED_PER_ROLE}"
            )));
        }
        role.attached.push(arn.to_owned());
        Ok(())
    }

    pub fn detach_role_policy(&mut self, role_name: &str, arn: &str) -> Result<(), ApiError> {
        PolicyArn::parse(arn)?;
        let role = role(self.global, self.account, role_name)?;
        if !role.attached.iter().any(|a| a == arn) {
            return Err(no_such_policy(arn));
        }
        self.role_mut(role_name)?.attached.retain(|a| a != arn);
        Ok(())
    }

    pub fn create_policy(&mut self, req: CreatePolicy) -> Result<ManagedPolicy, ApiError> {
        check_name(&req.name, "policyName", 128)?;
        let path = req.path.unwrap_or_else(|| "/".into());
        check_path(&path)?;
        check_document(&req.document, DocumentKind::Identity)?;
        check_managed_size(&req.document)?;
        if let Some(d) = &req.description {
            check_description(d)?;
        }
        check_tags(&req.tags)?;
        let id = key(self.account, &req.name);
        if self.global.iam_policies.contains(&id) {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!(
                    "A policy called {} already exists. Duplicate names are not allowed.",
                    req.name
                ),
            ));
        }
        let policy = ManagedPolicy {
            id,
            account: self.account.to_owned(),
            name: req.name,
            policy_id: unique_id("ANPA"),
            path,
            description: req.description,
            create_date: self.now,
            update_date: self.now,
            default_version: 1,
            next_version: 2,
            versions: vec![PolicyVersion {
                number: 1,
                document: req.document,
                create_date: self.now,
            }],
            tags: req.tags,
        };
        self.global.iam_policies.insert(policy.clone());
        Ok(policy)
    }

    fn policy_mut(&mut self, arn: &str) -> Result<&mut ManagedPolicy, ApiError> {
        let id = policy(self.global, self.account, arn)?.id.clone();
        self.global
            .iam_policies
            .get_mut(&id)
            .ok_or_else(|| no_such_policy(arn))
    }

    pub fn delete_policy(&mut self, arn: &str) -> Result<(), ApiError> {
        let p = policy(self.global, self.account, arn)?;
        if attachment_count(self.global, self.account, arn) > 0 {
            return Err(conflict("Cannot delete a policy attached to entities."));
        }
        if p.versions.len() > 1 {
            return Err(conflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
            ));
        }
        let id = p.id.clone();
        self.global.iam_policies.remove(&id);
        Ok(())
    }

    pub fn create_policy_version(
        &mut self,
        arn: &str,
        doc: String,
        set_as_default: bool,
    ) -> Result<PolicyVersion, ApiError> {
        check_document(&doc, DocumentKind::Identity)?;
        check_managed_size(&doc)?;
        let now = self.now;
        let p = self.policy_mut(arn)?;
        if p.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(limit(format!(
                "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version."
            )));
        }
        let version = PolicyVersion {
            number: p.next_version,
            document: doc,
            create_date: now,
        };
        p.next_version += 1;
        p.versions.push(version.clone());
        if set_as_default {
            p.default_version = version.number;
        }
        p.update_date = now;
        Ok(version)
    }

    pub fn delete_policy_version(&mut self, arn: &str, version: &str) -> Result<(), ApiError> {
        let number = parse_version_id(version).ok_or_else(|| bad_version_id(version))?;
        let p = policy(self.global, self.account, arn)?;
        if p.version(number).is_none() {
            return Err(no_such_version(arn, version));
        }
        if p.default_version == number {
            return Err(conflict("Cannot delete the default version of a policy."));
        }
        self.policy_mut(arn)?
            .versions
            .retain(|v| v.number != number);
        Ok(())
    }

    pub fn set_default_policy_version(&mut self, arn: &str, version: &str) -> Result<(), ApiError> {
        let number = parse_version_id(version).ok_or_else(|| bad_version_id(version))?;
        let now = self.now;
        let p = self.policy_mut(arn)?;
        if p.version(number).is_none() {
            return Err(no_such_version(arn, version));
        }
        p.default_version = number;
        p.update_date = now;
        Ok(())
    }

    pub fn create_instance_profile(
        &mut self,
        req: CreateInstanceProfile,
    ) -> Result<InstanceProfile, ApiError> {
        check_name(&req.name, "instanceProfileName", 128)?;
        let path = req.path.unwrap_or_else(|| "/".into());
        check_path(&path)?;
        check_tags(&req.tags)?;
        let id = key(self.account, &req.name);
        if self.global.iam_instance_profiles.contains(&id) {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!("Instance Profile {} already exists.", req.name),
            ));
        }
        let profile = InstanceProfile {
            id,
            account: self.account.to_owned(),
            name: req.name,
            profile_id: unique_id("AIPA"),
            path,
            create_date: self.now,
            roles: Vec::new(),
            tags: req.tags,
        };
        self.global.iam_instance_profiles.insert(profile.clone());
        Ok(profile)
    }

    fn instance_profile_mut(&mut self, name: &str) -> Result<&mut InstanceProfile, ApiError> {
        self.global
            .iam_instance_profiles
            .get_mut(&key(self.account, name))
            .ok_or_else(|| no_such_instance_profile(name))
    }

    pub fn delete_instance_profile(&mut self, name: &str) -> Result<(), ApiError> {
        let profile = instance_profile(self.global, self.account, name)?;
        if !profile.roles.is_empty() {
            return Err(conflict(
                "Cannot delete entity, must remove roles from instance profile first.",
            ));
        }
        self.global
            .iam_instance_profiles
            .remove(&key(self.account, name));
        Ok(())
    }

    pub fn add_role_to_instance_profile(
        &mut self,
        profile: &str,
        role_name: &str,
    ) -> Result<(), ApiError> {
        instance_profile(self.global, self.account, profile)?;
        let name = role(self.global, self.account, role_name)?.name.clone();
        let p = self.instance_profile_mut(profile)?;
        if p.roles.iter().any(|r| r.eq_ignore_ascii_case(&name)) {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!(
                    "Role {name} is already associated with instance profile {}.",
                    p.name
                ),
            ));
        }
        if !p.roles.is_empty() {
            return Err(limit(
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1".into(),
            ));
        }
        p.roles.push(name);
        Ok(())
    }

    pub fn remove_role_from_instance_profile(
        &mut self,
        profile: &str,
        role_name: &str,
    ) -> Result<(), ApiError> {
        let p = instance_profile(self.global, self.account, profile)?;
        if !p.roles.iter().any(|r| r.eq_ignore_ascii_case(role_name)) {
            return Err(no_such_role(role_name));
        }
        self.instance_profile_mut(profile)?
            .roles
            .retain(|r| !r.eq_ignore_ascii_case(role_name));
        Ok(())
    }

    fn tags_mut(&mut self, entity: &Taggable) -> Result<&mut Tags, ApiError> {
        Ok(match entity {
            Taggable::Role(name) => &mut self.role_mut(name)?.tags,
            Taggable::Policy(arn) => &mut self.policy_mut(arn)?.tags,
            Taggable::InstanceProfile(name) => &mut self.instance_profile_mut(name)?.tags,
        })
    }

    /// Adds or replaces tags; the result must stay within IAM's tag rules.
    pub fn tag(&mut self, entity: &Taggable, tags: Tags) -> Result<(), ApiError> {
        check_tags(&tags)?;
        let current = self.tags_mut(entity)?;
        let mut merged = current.clone();
        merged.extend(tags);
        check_tags(&merged)?;
        *current = merged;
        Ok(())
    }

    pub fn untag(&mut self, entity: &Taggable, keys: &[String]) -> Result<(), ApiError> {
        let current = self.tags_mut(entity)?;
        for k in keys {
            current.remove(k);
        }
        Ok(())
    }
}

fn check_managed_size(doc: &str) -> Result<(), ApiError> {
    if policy_size(doc) > MAX_MANAGED_POLICY {
        return Err(limit(format!(
            "Cannot exceed quota for PolicySize: {MAX_MANAGED_POLICY}"
        )));
    }
    Ok(())
}

fn bad_version_id(version: &str) -> ApiError {
    constraint(
        version,
        "versionId",
        "must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?",
    )
}

fn no_such_version(arn: &str, version: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} version {version} does not exist or is not attachable."),
    )
}

pub fn no_such_role_policy(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The role policy with name {name} cannot be found."),
    )
}

// ---- reads ------------------------------------------------------------------------------

pub fn role<'g>(global: &'g Global, account: &str, name: &str) -> Result<&'g Role, ApiError> {
    global
        .iam_roles
        .get(&key(account, name))
        .ok_or_else(|| no_such_role(name))
}

/// The role a role ARN (`arn:aws:iam::ACCOUNT:role/PATH/NAME`) names, if it exists in
/// `account` with that path: what a flow log's `DeliverLogsPermissionArn` should name.
pub fn role_by_arn<'g>(global: &'g Global, account: &str, arn: &str) -> Option<&'g Role> {
    let rest = arn.strip_prefix(&format!("arn:aws:iam::{account}:role/"))?;
    let name = rest.rsplit('/').next()?;
    global
        .iam_roles
        .get(&key(account, name))
        .filter(|r| r.arn() == arn)
}

/// The customer managed policy `arn` names in `account`.
pub fn policy<'g>(
    global: &'g Global,
    account: &str,
    arn: &str,
) -> Result<&'g ManagedPolicy, ApiError> {
    match PolicyArn::parse(arn)? {
        PolicyArn::Customer {
            account: owner,
            path,
            name,
        } if owner == account => global
            .iam_policies
            .get(&key(account, &name))
            .filter(|p| p.path == path && p.name == name)
            .ok_or_else(|| no_such_policy(arn)),
        _ => Err(no_such_policy(arn)),
    }
}

/// A policy the account can read: one of its own, or a catalogued AWS managed policy.
pub fn readable_policy<'g>(
    global: &'g Global,
    account: &str,
    arn: &str,
) -> Result<&'g ManagedPolicy, ApiError> {
    match PolicyArn::parse(arn)? {
        PolicyArn::AwsManaged { .. } => {
            crate::iam_aws_policy::aws_managed_policy(arn).ok_or_else(|| no_such_policy(arn))
        }
        PolicyArn::Customer { .. } => policy(global, account, arn),
    }
}

pub fn instance_profile<'g>(
    global: &'g Global,
    account: &str,
    name: &str,
) -> Result<&'g InstanceProfile, ApiError> {
    global
        .iam_instance_profiles
        .get(&key(account, name))
        .ok_or_else(|| no_such_instance_profile(name))
}

/// An account's roles, in name order.
pub fn roles<'g>(global: &'g Global, account: &str) -> impl Iterator<Item = &'g Role> {
    let prefix = format!("{account}/");
    global
        .iam_roles
        .values()
        .filter(move |r| r.id.starts_with(&prefix))
}

/// An account's managed policies, in name order.
pub fn policies<'g>(global: &'g Global, account: &str) -> impl Iterator<Item = &'g ManagedPolicy> {
    let prefix = format!("{account}/");
    global
        .iam_policies
        .values()
        .filter(move |p| p.id.starts_with(&prefix))
}

pub fn instance_profiles<'g>(
    global: &'g Global,
    account: &str,
) -> impl Iterator<Item = &'g InstanceProfile> {
    let prefix = format!("{account}/");
    global
        .iam_instance_profiles
        .values()
        .filter(move |p| p.id.starts_with(&prefix))
}

/// How many of the account's roles have `arn` attached.
pub fn attachment_count(global: &Global, account: &str, arn: &str) -> usize {
    roles(global, account)
        .filter(|r| r.attached.iter().any(|a| a == arn))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vpc-flow-logs.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#;

    fn iam(global: &mut Global) -> Iam<'_> {
        Iam {
            global,
            account: ACCOUNT,
            now: 1_700_000_000_000,
        }
    }

    fn make_role(g: &mut Global, name: &str) -> Role {
        iam(g)
            .create_role(CreateRole {
                name: name.into(),
                assume_role_policy: TRUST.into(),
                ..CreateRole::default()
            })
            .unwrap()
    }

    fn make_policy(g: &mut Global, name: &str) -> ManagedPolicy {
        iam(g)
            .create_policy(CreatePolicy {
                name: name.into(),
                path: Some("/team/".into()),
                document: POLICY.into(),
                ..CreatePolicy::default()
            })
            .unwrap()
    }

    #[test]
    fn roles_have_iam_ids_arns_and_unique_names_whatever_the_case() {
        let mut g = Global::default();
        let r = make_role(&mut g, "flow-logs");
        assert!(r.role_id.starts_with("AROA") && r.role_id.len() == 21);
        assert!(
            r.role_id[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(r.arn(), "arn:aws:iam::123456789012:role/flow-logs");
        assert_eq!(r.max_session_duration, 3600);
        let e = iam(&mut g)
            .create_role(CreateRole {
                name: "FLOW-LOGS".into(),
                assume_role_policy: TRUST.into(),
                ..CreateRole::default()
            })
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::EntityAlreadyExists);
        assert_eq!(e.message, "Role with name FLOW-LOGS already exists.");
        assert_eq!(role(&g, ACCOUNT, "Flow-Logs").unwrap().name, "flow-logs");
        assert_eq!(
            role(&g, ACCOUNT, "nope").unwrap_err().message,
            "The role with name nope cannot be found."
        );
        // another account's roles are its own
        assert!(role(&g, "210987654321", "flow-logs").is_err());
    }

    #[test]
    fn names_paths_and_durations_are_checked() {
        let mut g = Global::default();
        for (name, path, duration) in [
            ("bad name", None, None),
            (&"x".repeat(65)[..], None, None),
            ("", None, None),
            ("ok", Some("no-slash"), None),
            ("ok", Some("/a"), None),
            ("ok", None, Some(100)),
            ("ok", None, Some(50_000)),
        ] {
            let e = iam(&mut g)
                .create_role(CreateRole {
                    name: name.into(),
                    path: path.map(Into::into),
                    assume_role_policy: TRUST.into(),
                    max_session_duration: duration,
                    ..CreateRole::default()
                })
                .unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::ValidationError,
                "{name} {path:?} {duration:?}"
            );
        }
        assert!(g.iam_roles.is_empty());
        let r = iam(&mut g)
            .create_role(CreateRole {
                name: "a+b=c,d.e@f_g-h".into(),
                path: Some("/service-role/".into()),
                assume_role_policy: TRUST.into(),
                ..CreateRole::default()
            })
            .unwrap();
        assert_eq!(
            r.arn(),
            "arn:aws:iam::123456789012:role/service-role/a+b=c,d.e@f_g-h"
        );
    }

    #[test]
    fn documents_must_be_policies_of_their_kind() {
        assert!(check_document(TRUST, DocumentKind::Trust).is_ok());
        assert!(check_document(POLICY, DocumentKind::Identity).is_ok());
        for (doc, kind) in [
            ("not json", DocumentKind::Trust),
            ("[]", DocumentKind::Identity),
            (r#"{"Version":"2012-10-17"}"#, DocumentKind::Identity),
            (POLICY, DocumentKind::Trust),
            (TRUST, DocumentKind::Identity),
            (
                r#"{"Version":"2020-01-01","Statement":[]}"#,
                DocumentKind::Identity,
            ),
            (
                r#"{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#,
                DocumentKind::Identity,
            ),
        ] {
            let e = check_document(doc, kind).unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedPolicyDocument, "{doc}");
        }
        let mut g = Global::default();
        let e = iam(&mut g)
            .create_role(CreateRole {
                name: "r".into(),
                assume_role_policy: "{".into(),
                ..CreateRole::default()
            })
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedPolicyDocument);
        assert_eq!(e.message, "Syntax errors in policy.");
    }

    #[test]
    fn documents_are_url_encoded_as_iam_answers_them() {
        assert_eq!(
            url_encode(r#"{"A": "b c"}"#),
            "%7B%22A%22%3A%20%22b%20c%22%7D"
        );
        assert_eq!(url_encode("a-b_c.d~"), "a-b_c.d~");
    }

    #[test]
    fn roles_with_policies_cannot_be_deleted() {
        let mut g = Global::default();
        make_role(&mut g, "r");
        let p = make_policy(&mut g, "p");
        iam(&mut g)
            .put_role_policy("r", "inline", POLICY.into())
            .unwrap();
        iam(&mut g).attach_role_policy("r", &p.arn()).unwrap();
        // attaching twice changes nothing
        iam(&mut g).attach_role_policy("r", &p.arn()).unwrap();
        assert_eq!(attachment_count(&g, ACCOUNT, &p.arn()), 1);
        let e = iam(&mut g).delete_role("r").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                ErrorCode::DeleteConflict,
                "Cannot delete entity, must delete policies first."
            )
        );
        iam(&mut g).delete_role_policy("r", "inline").unwrap();
        let e = iam(&mut g).delete_role("r").unwrap_err();
        assert_eq!(
            e.message,
            "Cannot delete entity, must detach all policies first."
        );
        let e = iam(&mut g).delete_policy(&p.arn()).unwrap_err();
        assert_eq!(e.message, "Cannot delete a policy attached to entities.");
        iam(&mut g).detach_role_policy("r", &p.arn()).unwrap();
        let e = iam(&mut g).detach_role_policy("r", &p.arn()).unwrap_err();
        assert_eq!(e.code, ErrorCode::NoSuchEntity);
        iam(&mut g).delete_role("r").unwrap();
        iam(&mut g).delete_policy(&p.arn()).unwrap();
        assert!(g.iam_roles.is_empty() && g.iam_policies.is_empty());
    }

    #[test]
    fn aws_managed_policies_attach_without_existing() {
        let mut g = Global::default();
        make_role(&mut g, "r");
        let aws = "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM";
        iam(&mut g).attach_role_policy("r", aws).unwrap();
        assert_eq!(
            role(&g, ACCOUNT, "r").unwrap().attached,
            vec![aws.to_owned()]
        );
        let missing = "arn:aws:iam::123456789012:policy/missing";
        let e = iam(&mut g).attach_role_policy("r", missing).unwrap_err();
        assert_eq!(e.code, ErrorCode::NoSuchEntity);
        assert_eq!(
            e.message,
            format!("Policy {missing} does not exist or is not attachable.")
        );
        let e = iam(&mut g)
            .attach_role_policy("r", "not-an-arn")
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        let e = iam(&mut g).attach_role_policy("nobody", aws).unwrap_err();
        assert_eq!(e.message, "The role with name nobody cannot be found.");
    }

    #[test]
    fn policy_arns_name_their_path() {
        let mut g = Global::default();
        let p = make_policy(&mut g, "p");
        assert_eq!(p.arn(), "arn:aws:iam::123456789012:policy/team/p");
        assert!(policy(&g, ACCOUNT, &p.arn()).is_ok());
        assert!(policy(&g, ACCOUNT, "arn:aws:iam::123456789012:policy/p").is_err());
        assert!(policy(&g, ACCOUNT, "arn:aws:iam::210987654321:policy/team/p").is_err());
        assert_eq!(
            PolicyArn::parse("arn:aws:iam::aws:policy/AdministratorAccess")
                .unwrap()
                .name(),
            "AdministratorAccess"
        );
    }

    #[test]
    fn policy_versions_keep_five_and_the_default() {
        let mut g = Global::default();
        let arn = make_policy(&mut g, "p").arn();
        for n in 2..=5 {
            let v = iam(&mut g)
                .create_policy_version(&arn, POLICY.into(), n == 3)
                .unwrap();
            assert_eq!(v.number, n);
        }
        let e = iam(&mut g)
            .create_policy_version(&arn, POLICY.into(), false)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::LimitExceeded);
        assert_eq!(policy(&g, ACCOUNT, &arn).unwrap().default_version, 3);
        let e = iam(&mut g).delete_policy_version(&arn, "v3").unwrap_err();
        assert_eq!(e.code, ErrorCode::DeleteConflict);
        let e = iam(&mut g).delete_policy_version(&arn, "v9").unwrap_err();
        assert_eq!(e.code, ErrorCode::NoSuchEntity);
        let e = iam(&mut g).delete_policy_version(&arn, "3").unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationError);
        let e = iam(&mut g).delete_policy(&arn).unwrap_err();
        assert_eq!(e.code, ErrorCode::DeleteConflict);
        for v in ["v1", "v2", "v4", "v5"] {
            iam(&mut g).delete_policy_version(&arn, v).unwrap();
        }
        // numbers are not reused
        let v = iam(&mut g)
            .create_policy_version(&arn, POLICY.into(), true)
            .unwrap();
        assert_eq!(v.number, 6);
        iam(&mut g).delete_policy_version(&arn, "v3").unwrap();
        iam(&mut g).delete_policy(&arn).unwrap();
    }

    #[test]
    fn instance_profiles_hold_one_role() {
        let mut g = Global::default();
        make_role(&mut g, "r");
        make_role(&mut g, "s");
        iam(&mut g)
            .create_instance_profile(CreateInstanceProfile {
                name: "ip".into(),
                ..CreateInstanceProfile::default()
            })
            .unwrap();
        iam(&mut g).add_role_to_instance_profile("ip", "r").unwrap();
        let e = iam(&mut g)
            .add_role_to_instance_profile("ip", "s")
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::LimitExceeded);
        let e = iam(&mut g).delete_role("r").unwrap_err();
        assert_eq!(e.code, ErrorCode::DeleteConflict);
        let e = iam(&mut g).delete_instance_profile("ip").unwrap_err();
        assert_eq!(e.code, ErrorCode::DeleteConflict);
        iam(&mut g)
            .remove_role_from_instance_profile("ip", "r")
            .unwrap();
        iam(&mut g).delete_instance_profile("ip").unwrap();
        iam(&mut g).delete_role("r").unwrap();
        let e = iam(&mut g).delete_instance_profile("ip").unwrap_err();
        assert_eq!(e.message, "Instance Profile ip cannot be found.");
    }

    #[test]
    fn tags_merge_and_stay_within_fifty() {
        let mut g = Global::default();
        make_role(&mut g, "r");
        let entity = Taggable::Role("r".into());
        let many: Tags = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
        iam(&mut g).tag(&entity, many).unwrap();
        let e = iam(&mut g)
            .tag(&entity, [("one-more".to_owned(), "v".to_owned())].into())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::LimitExceeded);
        iam(&mut g).untag(&entity, &["k0".into()]).unwrap();
        assert_eq!(role(&g, ACCOUNT, "r").unwrap().tags.len(), 49);
    }

    #[test]
    fn inline_policies_share_a_size_quota() {
        let mut g = Global::default();
        make_role(&mut g, "r");
        let big = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"*","Resource":"{}"}}]}}"#,
            "a".repeat(6000)
        );
        iam(&mut g)
            .put_role_policy("r", "one", big.clone())
            .unwrap();
        // replacing a policy does not count it twice
        iam(&mut g)
            .put_role_policy("r", "one", big.clone())
            .unwrap();
        let e = iam(&mut g).put_role_policy("r", "two", big).unwrap_err();
        assert_eq!(e.code, ErrorCode::LimitExceeded);
    }

    #[test]
    fn roles_are_found_by_their_arn() {
        let mut g = Global::default();
        let r = make_role(&mut g, "flow-logs");
        assert_eq!(
            role_by_arn(&g, ACCOUNT, &r.arn()).map(|r| r.name.as_str()),
            Some("flow-logs")
        );
        assert!(
            role_by_arn(
                &g,
                ACCOUNT,
                "arn:aws:iam::123456789012:role/other/flow-logs"
            )
            .is_none()
        );
        assert!(role_by_arn(&g, "210987654321", &r.arn()).is_none());
        assert!(role_by_arn(&g, ACCOUNT, "flow-logs").is_none());
    }

    #[test]
    fn version_ids() {
        assert_eq!(parse_version_id("v12"), Some(12));
        assert_eq!(parse_version_id("v"), None);
        assert_eq!(parse_version_id("12"), None);
        assert_eq!(version_id(3), "v3");
    }
}
