//! Describe filters (`Filter.N.Name`, `Filter.N.Value.M`) and pagination.
//!
//! Filters are ANDed, the values of one filter ORed; values take `*` and `?` wildcards
//! (escaped with `\`). Every Describe also takes `tag:KEY`, `tag-key` and `tag-value`.

use fort_model::{ApiError, ErrorCode, Tags};

use crate::query::Params;

/// EC2 refuses more than this many filters or values.
const MAX_FILTERS: usize = 50;
const MAX_VALUES: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// The filters of one Describe request, checked against the names it knows.
#[derive(Clone, Debug, Default)]
pub struct Filters(Vec<Filter>);

impl Filters {
    pub fn parse(p: &Params, known: &[&str]) -> Result<Self, ApiError> {
        let items = p.list("Filter")?;
        if items.len() > MAX_FILTERS {
            return Err(ApiError::new(
                ErrorCode::FilterLimitExceeded,
                format!("The maximum number of filters is {MAX_FILTERS}."),
            ));
        }
        let mut filters = Vec::with_capacity(items.len());
        for item in items {
            // EC2 reads a filter without a name as one named `null`, which it knows not.
            let given = item
                .get("Name")
                .ok_or_else(|| ApiError::invalid_value("The filter 'null' is invalid"))?;
            let is_tag = given.starts_with("tag:") || given == "tag-key" || given == "tag-value";
            // EC2 still takes its filters' older camelCase names (`isDefault`,
            // `availabilityZone`), and tools still send them.
            let name = if is_tag || known.contains(&given) {
                given.to_owned()
            } else {
                kebab(given)
            };
            if !is_tag && !known.contains(&name.as_str()) {
                return Err(ApiError::invalid_value(format!(
                    "The filter '{given}' is invalid"
                )));
            }
            let values = item.strings("Value")?;
            if values.len() > MAX_VALUES {
                return Err(ApiError::new(
                    ErrorCode::FilterLimitExceeded,
                    format!("The maximum number of filter values is {MAX_VALUES}."),
                ));
            }
            let values = if is_cidr_filter(&name) {
                values.into_iter().flat_map(with_masked_cidr).collect()
            } else {
                values
            };
            filters.push(Filter { name, values });
        }
        Ok(Self(filters))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values given for filter `name` (all of its occurrences).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |f| f.name == name)
            .flat_map(|f| f.values.iter().map(String::as_str))
    }

    /// Whether a resource passes: `field(name)` gives its values for a non-tag filter.
    pub fn matches(&self, tags: &Tags, field: impl Fn(&str) -> Vec<String>) -> bool {
        self.0.iter().all(|f| {
            if let Some(key) = f.name.strip_prefix("tag:") {
                tags.get(key).is_some_and(|v| any_match(&f.values, v))
            } else if f.name == "tag-key" {
                tags.keys().any(|k| any_match(&f.values, k))
            } else if f.name == "tag-value" {
                tags.values().any(|v| any_match(&f.values, v))
            } else {
                field(&f.name).iter().any(|v| any_match(&f.values, v))
            }
        })
    }
}

/// `availabilityZone` → `availability-zone`, `defaultForAz` → `default-for-az`; a
/// dotted name converts part by part (`attachment.instanceId` → `attachment.instance-id`).
fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('.') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a filter's values are CIDR blocks (`cidr`, `ip-permission.cidr`,
/// `ipv6-cidr-block-association.ipv6-cidr-block`, ...).
fn is_cidr_filter(name: &str) -> bool {
    !name.starts_with("tag:") && (name.ends_with("cidr") || name.ends_with("cidr-block"))
}

/// A CIDR filter value, and the block it names when host bits are set: EC2 stores
/// blocks masked (`10.0.1.0/16` is `10.0.0.0/16`) and matches them so.
fn with_masked_cidr(value: String) -> Vec<String> {
    if value.contains(['*', '?', '\\']) || !value.contains('/') {
        return vec![value];
    }
    let masked = if let Ok(n) = value.parse::<ipnet::Ipv4Net>() {
        n.trunc().to_string()
    } else if let Ok(n) = value.parse::<ipnet::Ipv6Net>() {
        n.trunc().to_string()
    } else {
        return vec![value];
    };
    if masked == value {
        vec![value]
    } else {
        vec![value, masked]
    }
}

fn any_match(patterns: &[String], value: &str) -> bool {
    patterns.iter().any(|p| wildcard(p, value))
}

/// EC2's filter match: `*` any run, `?` one character, `\` escapes the next.
pub fn wildcard(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Tokens: Some(c) is a literal, None for '?', and a star flag.
    #[derive(Clone, Copy, PartialEq)]
    enum T {
        Lit(char),
        One,
        Star,
    }
    let mut toks = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => {
                toks.push(T::Lit(p[i + 1]));
                i += 1;
            }
            '*' => toks.push(T::Star),
            '?' => toks.push(T::One),
            c => toks.push(T::Lit(c)),
        }
        i += 1;
    }
    // Greedy match with backtracking to the last star: linear in practice, no recursion.
    let (mut ti, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match toks.get(ti) {
            Some(T::Star) => {
                star = Some((ti, vi));
                ti += 1;
            }
            Some(T::One) => {
                ti += 1;
                vi += 1;
            }
            Some(T::Lit(c)) if *c == v[vi] => {
                ti += 1;
                vi += 1;
            }
            _ => match star {
                Some((st, sv)) => {
                    ti = st + 1;
                    vi = sv + 1;
                    star = Some((st, sv + 1));
                }
                None => return false,
            },
        }
    }
    toks[ti..].iter().all(|t| *t == T::Star)
}

/// A page of a Describe answer.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Cuts `items` (in a stable order, each with a unique key) at `NextToken`, `MaxResults`
/// long. `bounds` is the accepted MaxResults range of the call.
pub fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    p: &Params,
    bounds: (i64, i64),
) -> Result<Page<T>, ApiError> {
    let max = match p.int("MaxResults")? {
        None => None,
        Some(m) => Some(
            usize::try_from(m)
                .ok()
                .filter(|_| (bounds.0..=bounds.1).contains(&m))
                .ok_or_else(|| {
                    ApiError::invalid_value(format!(
                        "Value ( {m} ) for parameter maxResults is invalid. Expecting a value between {} and {}.",
                        bounds.0, bounds.1
                    ))
                })?,
        ),
    };
    let start = match p.get("NextToken") {
        None | Some("") => 0,
        Some(token) => {
            let after = hex::decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidNextToken,
                        format!("The token '{token}' is invalid"),
                    )
                })?;
            items
                .iter()
                .position(|t| key(t) >= after)
                .unwrap_or(items.len())
        }
    };
    let mut items: Vec<T> = items.into_iter().skip(start).collect();
    let next_token = match max {
        Some(m) if items.len() > m => {
            let rest = items.split_off(m);
            Some(hex::encode(key(&rest[0])))
        }
        _ => None,
    };
    Ok(Page { items, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn older_camel_case_names_are_the_same_filters() {
        assert_eq!(kebab("isDefault"), "is-default");
        assert_eq!(kebab("defaultForAz"), "default-for-az");
        assert_eq!(kebab("attachment.instanceId"), "attachment.instance-id");
        assert_eq!(kebab("state"), "state");
        let p = Params::from_pairs(vec![
            ("Filter.1.Name".into(), "isDefault".into()),
            ("Filter.1.Value.1".into(), "true".into()),
        ])
        .unwrap();
        let f = Filters::parse(&p, &["is-default"]).unwrap();
        assert_eq!(f.0[0].name, "is-default");
        assert!(Filters::parse(&p, &["state"]).is_err());
    }

    #[test]
    fn cidr_values_match_their_masked_block() {
        let p = Params::from_form(
            b"Filter.1.Name=cidr&Filter.1.Value.1=10.250.1.7/16&Filter.1.Value.2=10.*\
              &Filter.2.Name=ipv6-cidr-block-association.ipv6-cidr-block\
              &Filter.2.Value.1=2600:1f18:0:1::/56&Filter.3.Name=tag:cidr&Filter.3.Value.1=1.2.3.4/8",
        )
        .unwrap();
        let f =
            Filters::parse(&p, &["cidr", "ipv6-cidr-block-association.ipv6-cidr-block"]).unwrap();
        assert_eq!(f.0[0].values, ["10.250.1.7/16", "10.250.0.0/16", "10.*"]);
        assert_eq!(f.0[1].values, ["2600:1f18:0:1::/56", "2600:1f18::/56"]);
        assert_eq!(f.0[2].values, ["1.2.3.4/8"]);
        let mut tags = Tags::new();
        tags.insert("cidr".into(), "1.2.3.4/8".into());
        assert!(f.matches(&tags, |n| match n {
            "cidr" => vec!["10.250.0.0/16".into()],
            _ => vec!["2600:1f18::/56".into()],
        }));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", ""));
        assert!(wildcard("vpc-*", "vpc-123"));
        assert!(wildcard("v?c-*3", "vpc-123"));
        assert!(!wildcard("vpc-?", "vpc-12"));
        assert!(wildcard("a\\*b", "a*b"));
        assert!(!wildcard("a\\*b", "axb"));
        assert!(wildcard("*a*b*", "xxaxxbxx"));
        assert!(!wildcard("prod", "production"));
        assert!(wildcard("10.0.*", "10.0.1.0/24"));
    }

    #[test]
    fn tag_filters() {
        let p = Params::from_form(b"Filter.1.Name=tag:Env&Filter.1.Value.1=pr*&Filter.2.Name=tag-key&Filter.2.Value.1=Name").unwrap();
        let f = Filters::parse(&p, &[]).unwrap();
        let mut tags = Tags::new();
        tags.insert("Env".into(), "prod".into());
        assert!(!f.matches(&tags, |_| vec![]));
        tags.insert("Name".into(), "x".into());
        assert!(f.matches(&tags, |_| vec![]));
    }

    #[test]
    fn unknown_filter() {
        let p = Params::from_form(b"Filter.1.Name=nope&Filter.1.Value.1=x").unwrap();
        assert_eq!(
            Filters::parse(&p, &["vpc-id"]).unwrap_err().code,
            "InvalidParameterValue"
        );
    }

    #[test]
    fn pages() {
        let items: Vec<String> = (0..12).map(|i| format!("id-{i:02}")).collect();
        let p = Params::from_form(b"MaxResults=5").unwrap();
        let page = paginate(items.clone(), Clone::clone, &p, (5, 1000)).unwrap();
        assert_eq!(page.items.len(), 5);
        let token = page.next_token.unwrap();
        let p = Params::from_form(format!("MaxResults=5&NextToken={token}").as_bytes()).unwrap();
        let page = paginate(items.clone(), Clone::clone, &p, (5, 1000)).unwrap();
        assert_eq!(page.items[0], "id-05");
        let p = Params::from_form(b"MaxResults=4").unwrap();
        assert_eq!(
            paginate(items.clone(), Clone::clone, &p, (5, 1000))
                .err()
                .unwrap()
                .code,
            "InvalidParameterValue"
        );
        let p = Params::from_form(b"NextToken=zz").unwrap();
        assert_eq!(
            paginate(items, Clone::clone, &p, (5, 1000))
                .err()
                .unwrap()
                .code,
            "InvalidNextToken"
        );
    }

    proptest! {
        #[test]
        fn literal_patterns_match_themselves(s in "[a-z0-9./-]{0,20}") {
            prop_assert!(wildcard(&s, &s));
            prop_assert!(wildcard("*", &s));
            let star_prefix = format!("*{s}");
            let value = format!("xyz{s}");
            prop_assert!(wildcard(&star_prefix, &value));
        }

        #[test]
        fn never_panics(p in "\\PC{0,12}", v in "\\PC{0,12}") {
            let _ = wildcard(&p, &v);
        }
    }
}
