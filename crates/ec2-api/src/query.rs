//! The EC2 Query parameters of one request: a form (`Filter.1.Value.2=x`) decoded into a
//! tree, with typed getters that answer bad input with EC2's own errors.
//!
//! Lists are 1-based and flattened (`Name.1`, `Name.2`, ...). EC2 sends lists in order but
//! the numbers may have gaps; we read them in numeric order.

use std::collections::BTreeMap;

use fort_model::{ApiError, ErrorCode};

/// Most parameters a request may carry: generous for 1,000 rules, bounded against abuse.
pub const MAX_PARAMS: usize = 20_000;

/// One node of the parameter tree: maybe a value, maybe children by name or index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    value: Option<String>,
    children: BTreeMap<String, Params>,
    /// The dotted path of this node, for error messages.
    path: String,
}

impl Params {
    /// Decodes an `application/x-www-form-urlencoded` body or query string (`+` is a space).
    pub fn from_form(form: &[u8]) -> Result<Self, ApiError> {
        Self::from_pairs(
            form_urlencoded::parse(form).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
    }

    /// Builds the tree from (name, value) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, ApiError> {
        let mut root = Params::default();
        for (n, (key, value)) in pairs.into_iter().enumerate() {
            if n >= MAX_PARAMS {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    "The request has too many parameters.",
                ));
            }
            if key.is_empty() || key.split('.').any(str::is_empty) {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("The parameter name '{key}' is malformed."),
                ));
            }
            let mut node = &mut root;
            for part in key.split('.') {
                let path = if node.path.is_empty() {
                    part.to_owned()
                } else {
                    format!("{}.{part}", node.path)
                };
                node = node
                    .children
                    .entry(part.to_owned())
                    .or_insert_with(|| Params {
                        path,
                        ..Params::default()
                    });
            }
            if node.value.is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("The parameter {key} is given more than once."),
                ));
            }
            node.value = Some(value);
        }
        Ok(root)
    }

    /// The node under `name` (may be an empty node).
    pub fn child(&self, name: &str) -> &Params {
        static EMPTY: std::sync::OnceLock<Params> = std::sync::OnceLock::new();
        self.children
            .get(name)
            .unwrap_or_else(|| EMPTY.get_or_init(Params::default))
    }

    /// Whether anything was sent under this node.
    pub fn is_present(&self) -> bool {
        self.value.is_some() || !self.children.is_empty()
    }

    /// The raw value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.children.get(name).and_then(|p| p.value.as_deref())
    }

    /// This node's own value.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// Every parameter name present at the top level.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.children.keys().map(String::as_str)
    }

    /// A required string parameter.
    pub fn req(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::missing(name))
    }

    pub fn opt_str(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// An optional parameter where an empty value counts as not given, as EC2 reads
    /// optional ids and targets that SDKs serialize from an unset field as `Name=`.
    pub fn opt_nonempty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// A boolean: `true` or `false` (EC2 also accepts any case).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(self.bad_value(name, v, "boolean")),
        }
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.bad_value(name, v, "integer")),
        }
    }

    /// A timestamp (ISO 8601, as the SDKs send `DateTime` members), in milliseconds.
    pub fn time(&self, name: &str) -> Result<Option<fort_model::Millis>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => time::OffsetDateTime::parse(
                v.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .map(|t| Some(t.unix_timestamp() * 1000 + i64::from(t.millisecond())))
            .map_err(|_| self.bad_value(name, v, "timestamp")),
        }
    }

    /// A decimal number.
    pub fn float(&self, name: &str) -> Result<Option<f64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Some(f)),
                _ => Err(self.bad_value(name, v, "double")),
            },
        }
    }

    /// A `Name.Value` wrapped scalar of Modify* calls, as a boolean.
    pub fn attr_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.child(name).bool("Value")
    }

    fn bad_value(&self, name: &str, value: &str, ty: &str) -> ApiError {
        let full = if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        };
        ApiError::new(
            ErrorCode::InvalidParameterValue,
            format!("Invalid value '{value}' for {full}; expected {ty}."),
        )
    }

    /// The items of a flattened list `Name.1`, `Name.2`, ... in numeric order.
    pub fn list(&self, name: &str) -> Result<Vec<&Params>, ApiError> {
        let node = self.child(name);
        if node.value.is_some() && node.children.is_empty() {
            // `Name=x` where a list is expected.
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("The parameter {name} must be a list: use {name}.1, {name}.2, ..."),
            ));
        }
        let mut items = Vec::with_capacity(node.children.len());
        for (k, v) in &node.children {
            let n: u32 = k.parse().map_err(|_| {
                ApiError::new(
                    ErrorCode::UnknownParameter,
                    format!("The parameter {}.{k} is not recognized", node.path_or(name)),
                )
            })?;
            if n == 0 {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!("List indices start at 1: {name}.0"),
                ));
            }
            items.push((n, v));
        }
        items.sort_by_key(|(n, _)| *n);
        Ok(items.into_iter().map(|(_, v)| v).collect())
    }

    fn path_or<'a>(&'a self, name: &'a str) -> &'a str {
        if self.path.is_empty() {
            name
        } else {
            &self.path
        }
    }

    /// A list of plain strings: `VpcId.1=a&VpcId.2=b`.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, ApiError> {
        self.list(name)?
            .into_iter()
            .map(|p| {
                p.value.clone().ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidParameterValue,
                        format!("{} needs a value", p.path),
                    )
                })
            })
            .collect()
    }

    /// Every (dotted name, value) pair under this node, sorted: a request's fingerprint.
    pub fn flatten(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.walk(&mut out);
        out
    }

    /// Every (name, value) pair under this node, named from it (`ImageId`, `GroupSet.1.GroupId`).
    pub fn relative(&self) -> Vec<(String, String)> {
        let lead = format!("{}.", self.path);
        self.flatten()
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(&lead).map(|k| (k.to_owned(), v)))
            .collect()
    }

    fn walk(&self, out: &mut Vec<(String, String)>) {
        if let Some(v) = &self.value {
            out.push((self.path.clone(), v.clone()));
        }
        for c in self.children.values() {
            c.walk(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_nested_lists() {
        let p = Params::from_form(
            b"Action=DescribeVpcs&Filter.2.Name=tag%3AEnv&Filter.2.Value.1=prod&Filter.2.Value.2=dev+x&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1&Filter.10.Name=z",
        )
        .unwrap();
        assert_eq!(p.get("Action"), Some("DescribeVpcs"));
        let filters = p.list("Filter").unwrap();
        assert_eq!(filters.len(), 3);
        assert_eq!(filters[0].get("Name"), Some("vpc-id"));
        assert_eq!(filters[1].get("Name"), Some("tag:Env"));
        assert_eq!(filters[1].strings("Value").unwrap(), ["prod", "dev x"]);
        assert_eq!(filters[2].get("Name"), Some("z"), "10 sorts after 2");
    }

    #[test]
    fn deep_permissions() {
        let p = Params::from_form(
            b"IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8&IpPermissions.1.FromPort=22",
        )
        .unwrap();
        let perms = p.list("IpPermissions").unwrap();
        assert_eq!(
            perms[0].list("IpRanges").unwrap()[0].get("CidrIp"),
            Some("10.0.0.0/8")
        );
        assert_eq!(perms[0].int("FromPort").unwrap(), Some(22));
    }

    #[test]
    fn bad_input_gets_ec2_errors() {
        assert_eq!(
            Params::from_form(b"A=1&A=2").unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            Params::from_form(b"A..B=1").unwrap_err().code,
            "InvalidParameter"
        );
        let p = Params::from_form(b"VpcId.x=1&N=abc&B=maybe&L=1").unwrap();
        assert_eq!(p.strings("VpcId").unwrap_err().code, "UnknownParameter");
        assert_eq!(p.int("N").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(p.bool("B").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(p.list("L").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(p.req("Missing").unwrap_err().code, "MissingParameter");
        assert!(p.strings("Nothing").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(p) = Params::from_form(&body) {
                let _ = p.list("Filter");
                let _ = p.flatten();
            }
        }

        #[test]
        fn lists_round_trip(values in proptest::collection::vec("[a-zA-Z0-9 /:*?-]{0,12}", 0..20)) {
            let body: String = values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("X.{}={}&", i + 1, form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
                .collect();
            let p = Params::from_form(body.as_bytes()).unwrap();
            prop_assert_eq!(p.strings("X").unwrap(), values);
        }
    }
}
