//! What a caller may do through a VPC endpoint: the subset of the IAM policy language that
//! endpoint policies use, parsed once into types and evaluated as AWS evaluates it.
//!
//! * `Version` (`2012-10-17`, `2008-10-17`, or none), `Statement` (one object or a list),
//!   `Sid`, `Effect` `Allow`/`Deny`;
//! * `Principal` / `NotPrincipal`: `"*"`, or `{"AWS": "*" | ACCOUNT | ARN | [...]}` (an
//!   account id or its root ARN names every principal of the account);
//! * `Action` / `NotAction`: `service:Name` with `*` and `?`, case-insensitive;
//! * `Resource` / `NotResource`: ARNs with `*` and `?`, each of an ARN's six
//!   colon-separated parts matched on its own (`arn:aws:s3:::bucket/*`), or `"*"`;
//! * `Condition`: `String[Not]Equals[IgnoreCase]`, `String[Not]Like`, `Arn[Not]Equals`,
//!   `Arn[Not]Like`, `Bool`, `Null`, each with `…IfExists`, on the request's context keys
//!   (`aws:SourceVpce`, `aws:SourceVpc`, `aws:PrincipalAccount`, `aws:PrincipalArn`,
//!   `s3:prefix`, …; key names are case-insensitive). Operators AND, keys of one operator
//!   AND, values of one key OR (NOR for a negated operator). A key absent from the request
//!   fails a positive operator and passes a negated one, as AWS documents.
//!
//! Evaluation: an explicit `Deny` wins; otherwise an `Allow` that matches allows; otherwise
//! the request is denied by default. A document outside this subset (an operator such as
//! `DateLessThan`, a `ForAnyValue:` qualifier) does not parse: the caller then denies
//! everything, never reading the document more loosely than it was written.

use std::fmt;

use serde_json::Value;

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None`: no `Principal` (every principal).
    pub principal: Option<Matching<Principal>>,
    pub action: Matching<Pattern>,
    /// `None`: no `Resource` (every resource).
    pub resource: Option<Matching<Pattern>>,
    pub conditions: Vec<Condition>,
}

/// An element and its `Not…` twin: the values listed, and whether the statement is about
/// everything but them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matching<T> {
    pub not: bool,
    pub values: Vec<T>,
}

/// Who a statement names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`.
    Anyone,
    /// An account id (12 digits) or its root ARN: every principal of the account.
    Account(String),
    /// Any other ARN: that principal alone.
    Arn(String),
}

/// A value with `*` (any run of characters) and `?` (any one character).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(pub String);

/// One context key tested by one operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub operator: Operator,
    pub if_exists: bool,
    /// Lower case (context keys are case-insensitive).
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Bool,
    Null,
}

impl Operator {
    fn parse(name: &str) -> Option<Operator> {
        use Operator::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "ArnEquals" => ArnEquals,
            "ArnNotEquals" => ArnNotEquals,
            "ArnLike" => ArnLike,
            "ArnNotLike" => ArnNotLike,
            "Bool" => Bool,
            "Null" => Null,
            _ => return None,
        })
    }

    /// Whether it passes when the key does not match (`…Not…`).
    fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals | StringNotEqualsIgnoreCase | StringNotLike | ArnNotEquals | ArnNotLike
        )
    }

    /// Whether the request's `value` matches the policy's `wanted` (before negation).
    fn matches(self, wanted: &str, value: &str) -> bool {
        use Operator::*;
        match self {
            StringEquals | StringNotEquals => wanted == value,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
                wanted.eq_ignore_ascii_case(value)
            }
            StringLike | StringNotLike => glob(wanted.as_bytes(), value.as_bytes(), false),
            // ArnEquals behaves as ArnLike (AWS: "case-sensitive matching of the ARN ...
            // each of the six components is checked separately and may include wildcards")
            ArnEquals | ArnNotEquals | ArnLike | ArnNotLike => arn_matches(wanted, value),
            Bool => wanted.eq_ignore_ascii_case(value),
            Null => false,
        }
    }
}

/// Why a document is not a policy this evaluator reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

fn bad<T>(what: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(what.into()))
}

/// The request asked for, as the policy sees it.
#[derive(Clone, Debug, Default)]
pub struct Request<'a> {
    /// `service:Operation` (`s3:GetObject`, `ec2:DescribeVpcs`).
    pub action: &'a str,
    /// The resource's ARN, or `*` for an action with no resource of its own.
    pub resource: &'a str,
    /// The caller's account id.
    pub principal_account: &'a str,
    /// The caller's ARN.
    pub principal_arn: &'a str,
    /// Context keys (any case) and their values; `aws:PrincipalAccount` and
    /// `aws:PrincipalArn` are added from the two fields above.
    pub context: &'a [(&'a str, &'a str)],
}

impl Request<'_> {
    fn value(&self, key: &str) -> Option<&str> {
        if key.eq_ignore_ascii_case("aws:PrincipalAccount") {
            return Some(self.principal_account);
        }
        if key.eq_ignore_ascii_case("aws:PrincipalArn") {
            return Some(self.principal_arn);
        }
        self.context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }
}

/// What a policy says of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A `Deny` statement matched.
    ExplicitDeny,
    /// No statement allowed it.
    ImplicitDeny,
}

impl Policy {
    /// Parses a policy document (JSON text).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| PolicyError(format!("not JSON: {e}")))?;
        let Value::Object(doc) = doc else {
            return bad("a policy is a JSON object");
        };
        let mut statements = None;
        for (k, v) in &doc {
            match k.as_str() {
                "Version" => match v.as_str() {
                    Some("2012-10-17" | "2008-10-17") => {}
                    _ => return bad(format!("unknown Version {v}")),
                },
                "Id" => {}
                "Statement" => {
                    let list = match v {
                        Value::Array(l) => l.iter().collect(),
                        Value::Object(_) => vec![v],
                        _ => return bad("Statement is an object or a list of them"),
                    };
                    statements = Some(
                        list.into_iter()
                            .map(Statement::parse)
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                }
                other => return bad(format!("unknown element {other}")),
            }
        }
        match statements {
            Some(statements) => Ok(Policy { statements }),
            None => bad("a policy has a Statement"),
        }
    }

    /// Explicit deny wins, then any allow, else the default deny.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if s.applies(req) {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// One string or a list of strings (`"a"` or `["a", "b"]`); numbers and booleans read as
/// their text, as IAM reads condition values.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => bad(format!("{what} holds strings")),
    };
    match v {
        Value::Array(l) if !l.is_empty() => l.iter().map(one).collect(),
        Value::Array(_) => bad(format!("{what} is empty")),
        v => Ok(vec![one(v)?]),
    }
}

impl Statement {
    fn parse(v: &Value) -> Result<Statement, PolicyError> {
        let Value::Object(m) = v else {
            return bad("a statement is an object");
        };
        let mut sid = None;
        let mut effect = None;
        let mut principal = None;
        let mut action = None;
        let mut resource = None;
        let mut conditions = Vec::new();
        fn once<T>(slot: &mut Option<T>, value: T, what: &str) -> Result<(), PolicyError> {
            if slot.replace(value).is_some() {
                return bad(format!("{what} and Not{what} together"));
            }
            Ok(())
        }
        for (k, v) in m {
            match k.as_str() {
                "Sid" => {
                    sid = Some(
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or(PolicyError("Sid is a string".into()))?,
                    )
                }
                "Effect" => {
                    effect = Some(match v.as_str() {
                        Some("Allow") => Effect::Allow,
                        Some("Deny") => Effect::Deny,
                        _ => return bad(format!("Effect is Allow or Deny, not {v}")),
                    })
                }
                "Principal" | "NotPrincipal" => once(
                    &mut principal,
                    Matching {
                        not: k == "NotPrincipal",
                        values: principals(v)?,
                    },
                    "Principal",
                )?,
                "Action" | "NotAction" => once(
                    &mut action,
                    Matching {
                        not: k == "NotAction",
                        values: strings(v, k)?.into_iter().map(Pattern).collect(),
                    },
                    "Action",
                )?,
                "Resource" | "NotResource" => once(
                    &mut resource,
                    Matching {
                        not: k == "NotResource",
                        values: strings(v, k)?.into_iter().map(Pattern).collect(),
                    },
                    "Resource",
                )?,
                "Condition" => conditions = parse_conditions(v)?,
                other => return bad(format!("unknown statement element {other}")),
            }
        }
        let Some(effect) = effect else {
            return bad("a statement has an Effect");
        };
        let Some(action) = action else {
            return bad("a statement has an Action or NotAction");
        };
        Ok(Statement {
            sid,
            effect,
            principal,
            action,
            resource,
            conditions,
        })
    }

    /// Whether every element of the statement matches the request.
    pub fn applies(&self, req: &Request<'_>) -> bool {
        let principal = self.principal.as_ref().is_none_or(|p| {
            p.not
                != p.values.iter().any(|p| match p {
                    Principal::Anyone => true,
                    Principal::Account(a) => a == req.principal_account,
                    Principal::Arn(a) => a == req.principal_arn,
                })
        });
        let action = self.action.not
            != self
                .action
                .values
                .iter()
                .any(|p| glob(p.0.as_bytes(), req.action.as_bytes(), true));
        let resource = self.resource.as_ref().is_none_or(|r| {
            r.not
                != r.values
                    .iter()
                    .any(|p| p.0 == "*" || arn_matches(&p.0, req.resource))
        });
        principal && action && resource && self.conditions.iter().all(|c| c.holds(req))
    }
}

fn principals(v: &Value) -> Result<Vec<Principal>, PolicyError> {
    let of = |s: String| {
        if s == "*" {
            Principal::Anyone
        } else if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Principal::Account(s)
        } else if let Some(account) = s
            .strip_prefix("arn:aws:iam::")
            .and_then(|r| r.strip_suffix(":root"))
        {
            Principal::Account(account.to_owned())
        } else {
            Principal::Arn(s)
        }
    };
    match v {
        Value::String(s) if s == "*" => Ok(vec![Principal::Anyone]),
        Value::Object(m) => {
            let mut out = Vec::new();
            for (k, v) in m {
                if k != "AWS" {
                    // service and federated principals never call through an endpoint
                    // with Fort's credentials: they name no one here
                    strings(v, k)?;
                    continue;
                }
                out.extend(strings(v, "Principal")?.into_iter().map(of));
            }
            Ok(out)
        }
        _ => bad("Principal is \"*\" or {\"AWS\": ...}"),
    }
}

fn parse_conditions(v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = v else {
        return bad("Condition is an object");
    };
    let mut out = Vec::new();
    for (op, keys) in ops {
        let (name, if_exists) = match op.strip_suffix("IfExists") {
            Some(n) => (n, true),
            None => (op.as_str(), false),
        };
        let Some(operator) = Operator::parse(name) else {
            return bad(format!("condition operator {op} is not supported"));
        };
        if operator == Operator::Null && if_exists {
            return bad("NullIfExists is not an operator");
        }
        let Value::Object(keys) = keys else {
            return bad(format!("{op} maps keys to values"));
        };
        for (key, values) in keys {
            out.push(Condition {
                operator,
                if_exists,
                key: key.to_ascii_lowercase(),
                values: strings(values, key)?,
            });
        }
    }
    Ok(out)
}

impl Condition {
    pub fn holds(&self, req: &Request<'_>) -> bool {
        let value = req.value(&self.key);
        if self.operator == Operator::Null {
            // "true": the key is absent; "false": it is present
            return self
                .values
                .iter()
                .any(|w| w.eq_ignore_ascii_case("true") == value.is_none());
        }
        let Some(value) = value else {
            return self.if_exists || self.operator.negated();
        };
        let any = self.values.iter().any(|w| self.operator.matches(w, value));
        any != self.operator.negated()
    }
}

/// `*` and `?` over bytes (ASCII case folded when `fold`): iterative, with one point to
/// back up to, so linear-ish and never recursive however many stars.
fn glob(pattern: &[u8], text: &[u8], fold: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len()
            && (pattern[p] == b'?' || (pattern[p] != b'*' && eq(pattern[p], text[t])))
        {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// An ARN pattern against an ARN: each of the six colon-separated parts on its own (the
/// last one keeps its colons); a value that is no ARN only matches a pattern that is all
/// stars.
pub fn arn_matches(pattern: &str, value: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    if p.len() != 6 || v.len() != 6 {
        return pattern.bytes().all(|b| b == b'*') || pattern == value;
    }
    p.iter()
        .zip(&v)
        .all(|(p, v)| glob(p.as_bytes(), v.as_bytes(), false))
}

/// A request that came through a VPC endpoint: the endpoint's policy and where the
/// request came from, to decide each action the request needs.
#[derive(Clone, Debug)]
pub struct EndpointGate {
    pub vpc_endpoint_id: String,
    pub vpc_id: String,
    /// The endpoint's policy, or why it does not parse (then everything is denied).
    pub policy: Result<Policy, PolicyError>,
    /// Whether the client spoke TLS (`aws:SecureTransport`).
    pub secure: bool,
}

/// What a denied request is told, in AWS's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
}

impl EndpointGate {
    pub fn new(vpc_endpoint_id: &str, vpc_id: &str, document: &str) -> EndpointGate {
        EndpointGate {
            vpc_endpoint_id: vpc_endpoint_id.to_owned(),
            vpc_id: vpc_id.to_owned(),
            policy: Policy::parse(document),
            secure: false,
        }
    }

    /// The same gate for a client that spoke TLS (or not).
    pub fn secure(self, secure: bool) -> EndpointGate {
        EndpointGate { secure, ..self }
    }

    /// Whether `account` (its root, as Fort's callers are) may do `action` on `resource`
    /// through the endpoint, `context` adding the request's own keys (`s3:prefix`).
    pub fn check(
        &self,
        account: &str,
        action: &str,
        resource: &str,
        context: &[(&str, &str)],
    ) -> Result<(), Refusal> {
        let arn = format!("arn:aws:iam::{account}:root");
        let mut keys: Vec<(&str, &str)> = vec![
            ("aws:SourceVpce", &self.vpc_endpoint_id),
            ("aws:SourceVpc", &self.vpc_id),
            (
                "aws:SecureTransport",
                if self.secure { "true" } else { "false" },
            ),
        ];
        keys.extend_from_slice(context);
        let decision = match &self.policy {
            Ok(p) => p.evaluate(&Request {
                action,
                resource,
                principal_account: account,
                principal_arn: &arn,
                context: &keys,
            }),
            Err(_) => Decision::ImplicitDeny,
        };
        let why = match decision {
            Decision::Allow => return Ok(()),
            Decision::ExplicitDeny => "with an explicit deny in a VPC endpoint policy".to_owned(),
            Decision::ImplicitDeny => {
                format!("because no VPC endpoint policy allows the {action} action")
            }
        };
        let on = if resource == "*" {
            String::new()
        } else {
            format!(" on resource: \"{resource}\"")
        };
        Err(Refusal {
            message: format!("User: {arn} is not authorized to perform: {action}{on} {why}"),
        })
    }
}

/// An S3 resource's ARN: a bucket (`arn:aws:s3:::bucket`) or an object
/// (`arn:aws:s3:::bucket/key`).
pub fn s3_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";
    const ARN: &str = "arn:aws:iam::123456789012:root";

    fn decide(policy: &str, action: &str, resource: &str, context: &[(&str, &str)]) -> Decision {
        let p = Policy::parse(policy).unwrap_or_else(|e| panic!("{e}: {policy}"));
        p.evaluate(&Request {
            action,
            resource,
            principal_account: ACCOUNT,
            principal_arn: ARN,
            context,
        })
    }

    #[test]
    fn the_default_policies_allow_everything() {
        for doc in [
            r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
            "{\n  \"Statement\": [\n    {\n      \"Action\": \"*\", \n      \"Effect\": \"Allow\", \n      \"Principal\": \"*\", \n      \"Resource\": \"*\"\n    }\n  ]\n}",
        ] {
            assert_eq!(decide(doc, "ec2:DescribeVpcs", "*", &[]), Decision::Allow);
            assert_eq!(
                decide(doc, "s3:GetObject", "arn:aws:s3:::b/k", &[]),
                Decision::Allow
            );
        }
    }

    #[test]
    fn deny_wins_and_nothing_allowed_is_denied() {
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"*"},
            {"Sid":"no-vpcs","Effect":"Deny","Principal":{"AWS":"*"},"Action":"ec2:DescribeVpcs","Resource":"*"}]}"#;
        assert_eq!(
            decide(doc, "ec2:DescribeVpcs", "*", &[]),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(doc, "ec2:DescribeSubnets", "*", &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(doc, "sts:GetCallerIdentity", "*", &[]),
            Decision::ImplicitDeny
        );
        // action names are case-insensitive
        assert_eq!(
            decide(doc, "EC2:describevpcs", "*", &[]),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn a_single_statement_object_and_wildcards() {
        let doc = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":["s3:Get*","s3:List?ucket"],"Resource":["arn:aws:s3:::logs","arn:aws:s3:::logs/2026/*"]}}"#;
        assert_eq!(
            decide(doc, "s3:GetObject", "arn:aws:s3:::logs/2026/12/x", &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(doc, "s3:GetObject", "arn:aws:s3:::logs/2025/x", &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(doc, "s3:ListBucket", "arn:aws:s3:::logs", &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(doc, "s3:ListBucket", "arn:aws:s3:::logs2", &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(doc, "s3:PutObject", "arn:aws:s3:::logs/2026/x", &[]),
            Decision::ImplicitDeny
        );
        // the "*" resource matches no ARN pattern, only "*"
        assert_eq!(
            decide(doc, "s3:GetObject", "*", &[]),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_action_and_not_resource() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"s3:Delete*","NotResource":"arn:aws:s3:::secret/*"}]}"#;
        assert_eq!(
            decide(doc, "s3:GetObject", "arn:aws:s3:::b/k", &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(doc, "s3:DeleteObject", "arn:aws:s3:::b/k", &[]),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(doc, "s3:GetObject", "arn:aws:s3:::secret/k", &[]),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn principals_by_account_and_arn() {
        for (principal, allowed) in [
            (r#""*""#, true),
            (r#"{"AWS":"*"}"#, true),
            (r#"{"AWS":"123456789012"}"#, true),
            (
                r#"{"AWS":["111111111111","arn:aws:iam::123456789012:root"]}"#,
                true,
            ),
            (r#"{"AWS":"111111111111"}"#, false),
            (r#"{"AWS":"arn:aws:iam::123456789012:user/alice"}"#, false),
            (r#"{"Service":"ec2.amazonaws.com"}"#, false),
        ] {
            let doc = format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"*","Resource":"*"}}]}}"#
            );
            let want = if allowed {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            assert_eq!(
                decide(&doc, "ec2:DescribeVpcs", "*", &[]),
                want,
                "{principal}"
            );
        }
        let not = r#"{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"111111111111"},"Action":"*","Resource":"*"}]}"#;
        assert_eq!(decide(not, "ec2:DescribeVpcs", "*", &[]), Decision::Allow);
    }

    #[test]
    fn conditions_on_the_endpoint_and_the_principal() {
        let ctx = [("aws:SourceVpce", "vpce-1a"), ("aws:SourceVpc", "vpc-9")];
        let doc = |cond: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{cond}}}]}}"#
            )
        };
        for (cond, allowed) in [
            (r#"{"StringEquals":{"aws:SourceVpce":"vpce-1a"}}"#, true),
            (
                r#"{"StringEquals":{"AWS:SOURCEVPCE":["vpce-2","vpce-1a"]}}"#,
                true,
            ),
            (r#"{"StringEquals":{"aws:SourceVpce":"vpce-2"}}"#, false),
            (r#"{"StringNotEquals":{"aws:SourceVpc":"vpc-9"}}"#, false),
            (
                r#"{"StringNotEquals":{"aws:SourceVpc":["vpc-1","vpc-2"]}}"#,
                true,
            ),
            (r#"{"StringLike":{"aws:SourceVpce":"vpce-1*"}}"#, true),
            (
                r#"{"StringEqualsIgnoreCase":{"aws:SourceVpce":"VPCE-1A"}}"#,
                true,
            ),
            (
                r#"{"StringEquals":{"aws:PrincipalAccount":"123456789012"}}"#,
                true,
            ),
            (
                r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:root"}}"#,
                true,
            ),
            (
                r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:root"}}"#,
                true,
            ),
            (
                r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:*"}}"#,
                false,
            ),
            // several operators and keys: all must hold
            (
                r#"{"StringEquals":{"aws:SourceVpce":"vpce-1a","aws:SourceVpc":"vpc-8"}}"#,
                false,
            ),
            // a key the request lacks: positive fails, negated and IfExists pass
            (r#"{"StringEquals":{"s3:prefix":"a/"}}"#, false),
            (r#"{"StringNotEquals":{"s3:prefix":"a/"}}"#, true),
            (r#"{"StringEqualsIfExists":{"s3:prefix":"a/"}}"#, true),
            (r#"{"Null":{"s3:prefix":"true"}}"#, true),
            (r#"{"Null":{"aws:SourceVpce":"true"}}"#, false),
            (r#"{"Bool":{"aws:SecureTransport":"true"}}"#, false),
        ] {
            let want = if allowed {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            assert_eq!(
                decide(&doc(cond), "ec2:DescribeVpcs", "*", &ctx),
                want,
                "{cond}"
            );
        }
    }

    #[test]
    fn documents_outside_the_subset_do_not_parse() {
        for doc in [
            "not json",
            "[]",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Version":"2020-01-01","Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Maybe","Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"s3:*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"a"}}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":[]}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":"someone"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Extra":1}]}"#,
        ] {
            assert!(Policy::parse(doc).is_err(), "{doc}");
        }
    }

    #[test]
    fn the_gate_adds_the_endpoint_and_says_why_in_aws_words() {
        let doc = r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1","aws:SourceVpc":"vpc-1"}}},
            {"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let gate = EndpointGate::new("vpce-1", "vpc-1", doc);
        assert_eq!(
            gate.check(ACCOUNT, "s3:GetObject", "arn:aws:s3:::b/k", &[]),
            Ok(())
        );
        assert_eq!(
            gate.check(ACCOUNT, "s3:DeleteObject", "arn:aws:s3:::b/k", &[])
                .unwrap_err()
                .message,
            "User: arn:aws:iam::123456789012:root is not authorized to perform: s3:DeleteObject on resource: \"arn:aws:s3:::b/k\" with an explicit deny in a VPC endpoint policy"
        );
        assert_eq!(
            gate.check(ACCOUNT, "ec2:DescribeVpcs", "*", &[])
                .unwrap_err()
                .message,
            "User: arn:aws:iam::123456789012:root is not authorized to perform: ec2:DescribeVpcs because no VPC endpoint policy allows the ec2:DescribeVpcs action"
        );
        // HTTPS only
        let https = EndpointGate::new(
            "vpce-1",
            "vpc-1",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},
                {"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
        );
        assert!(https.check(ACCOUNT, "s3:GetObject", "*", &[]).is_err());
        assert_eq!(
            https.secure(true).check(ACCOUNT, "s3:GetObject", "*", &[]),
            Ok(())
        );
        let other = EndpointGate::new("vpce-2", "vpc-1", doc);
        assert!(
            other
                .check(ACCOUNT, "s3:GetObject", "arn:aws:s3:::b/k", &[])
                .is_err()
        );
        // a document the evaluator cannot read denies everything
        let unread = EndpointGate::new(
            "vpce-1",
            "vpc-1",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2100-01-01T00:00:00Z"}}}]}"#,
        );
        assert!(unread.check(ACCOUNT, "s3:GetObject", "*", &[]).is_err());
    }

    #[test]
    fn globs_and_arns() {
        assert!(glob(b"a*b?c", b"axxbyc", false));
        assert!(!glob(b"a*b?c", b"axxbc", false));
        assert!(glob(b"***", b"", false));
        assert!(glob(b"S3:get*", b"s3:GetObject", true));
        assert!(!glob(b"S3:get*", b"s3:GetObject", false));
        assert!(arn_matches(
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/k/with:colon"
        ));
        assert!(arn_matches(
            "arn:aws:ec2:*:*:vpc/*",
            "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"
        ));
        // a star does not cross a part of the ARN
        assert!(!arn_matches("arn:aws:*", "arn:aws:s3:::b"));
        assert!(arn_matches("*", "arn:aws:s3:::b"));
        assert!(!arn_matches("arn:aws:s3:::*", "*"));
        assert_eq!(s3_arn("b", Some("k/x")), "arn:aws:s3:::b/k/x");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// A naive recursive glob to check the iterative one against.
    fn reference(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            (Some(b'?'), Some(_)) => reference(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => reference(&p[1..], &t[1..]),
            _ => false,
        }
    }

    fn statement() -> impl Strategy<Value = (bool, String, String)> {
        (
            any::<bool>(),
            prop::sample::select(vec![
                "*",
                "s3:*",
                "s3:GetObject",
                "s3:Put*",
                "ec2:Describe*",
                "ec2:?escribeVpcs",
            ]),
            prop::sample::select(vec![
                "*",
                "arn:aws:s3:::b",
                "arn:aws:s3:::b/*",
                "arn:aws:s3:::*/k",
            ]),
        )
            .prop_map(|(deny, a, r)| (deny, a.to_owned(), r.to_owned()))
    }

    proptest! {
        #[test]
        fn glob_agrees_with_the_reference(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
            prop_assert_eq!(glob(p.as_bytes(), t.as_bytes(), false), reference(p.as_bytes(), t.as_bytes()));
        }

        /// The decision is what the statements say one by one: an explicit deny if any
        /// Deny applies, else allow if any Allow applies, else the default deny; and the
        /// order of statements never matters.
        #[test]
        fn deny_wins_whatever_the_order(
            stmts in prop::collection::vec(statement(), 1..6),
            action in prop::sample::select(vec!["s3:GetObject", "s3:PutObject", "ec2:DescribeVpcs", "sts:GetCallerIdentity"]),
            resource in prop::sample::select(vec!["*", "arn:aws:s3:::b", "arn:aws:s3:::b/k", "arn:aws:s3:::c/k"]),
            seed in 0usize..64,
        ) {
            let render = |s: &[(bool, String, String)]| {
                let list: Vec<String> = s.iter().map(|(deny, a, r)| format!(
                    r#"{{"Effect":"{}","Principal":"*","Action":"{a}","Resource":"{r}"}}"#,
                    if *deny { "Deny" } else { "Allow" })).collect();
                format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, list.join(","))
            };
            let req = Request { action, resource, principal_account: "1", principal_arn: "a", context: &[] };
            let p = Policy::parse(&render(&stmts)).unwrap();
            let got = p.evaluate(&req);
            let each: Vec<(bool, bool)> = p.statements.iter().zip(&stmts).map(|(s, (deny, _, _))| (*deny, s.applies(&req))).collect();
            let want = if each.iter().any(|&(d, a)| d && a) {
                Decision::ExplicitDeny
            } else if each.iter().any(|&(d, a)| !d && a) {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            prop_assert_eq!(got, want);
            let mut shuffled = stmts.clone();
            let n = shuffled.len();
            shuffled.rotate_left(seed % n);
            prop_assert_eq!(Policy::parse(&render(&shuffled)).unwrap().evaluate(&req), got);
            // adding a Deny for everything denies everything
            let mut denied = stmts.clone();
            denied.push((true, "*".into(), "*".into()));
            prop_assert_eq!(Policy::parse(&render(&denied)).unwrap().evaluate(&req), Decision::ExplicitDeny);
        }

        /// Any text at all: parsing never panics, and what parses evaluates.
        #[test]
        fn any_text_parses_or_not_without_panicking(text in ".{0,200}") {
            if let Ok(p) = Policy::parse(&text) {
                let _ = p.evaluate(&Request::default());
            }
        }
    }
}
