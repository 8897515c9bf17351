//! Route 53 hosted zones as data: record types, record sets, DNS names as Route 53 writes
//! them, and the per-type checks of record values. Pure: the control plane keeps zones in
//! its store ([`fort_control::route53`]), the API renders them.
//!
//! Names are kept the way Route 53 lists them: lower case, with a trailing dot, every byte
//! other than `a-z`, `0-9`, `-` and `_` written as a three-digit octal escape (`*` is
//! `\052`), so two spellings of one name compare equal as strings.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The record types Route 53 knows (its `RRType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RrType {
    A,
    Aaaa,
    Caa,
    Cname,
    Ds,
    Https,
    Mx,
    Naptr,
    Ns,
    Ptr,
    Soa,
    Spf,
    Srv,
    Sshfp,
    Svcb,
    Tlsa,
    Txt,
}

impl RrType {
    /// Every type, in alphabetical order of its name (the order Route 53 lists types in).
    pub const ALL: &'static [RrType] = &[
        RrType::A,
        RrType::Aaaa,
        RrType::Caa,
        RrType::Cname,
        RrType::Ds,
        RrType::Https,
        RrType::Mx,
        RrType::Naptr,
        RrType::Ns,
        RrType::Ptr,
        RrType::Soa,
        RrType::Spf,
        RrType::Srv,
        RrType::Sshfp,
        RrType::Svcb,
        RrType::Tlsa,
        RrType::Txt,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RrType::A => "A",
            RrType::Aaaa => "AAAA",
            RrType::Caa => "CAA",
            RrType::Cname => "CNAME",
            RrType::Ds => "DS",
            RrType::Https => "HTTPS",
            RrType::Mx => "MX",
            RrType::Naptr => "NAPTR",
            RrType::Ns => "NS",
            RrType::Ptr => "PTR",
            RrType::Soa => "SOA",
            RrType::Spf => "SPF",
            RrType::Srv => "SRV",
            RrType::Sshfp => "SSHFP",
            RrType::Svcb => "SVCB",
            RrType::Tlsa => "TLSA",
            RrType::Txt => "TXT",
        }
    }

    /// The type named `s` exactly as Route 53 spells it (upper case).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for RrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an alias record points: a record of another (or the same) zone, or an AWS
/// resource's name in AWS's own zone for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasTarget {
    /// The target's zone id, bare (`Z…`).
    pub hosted_zone_id: String,
    /// The target's name, normalized.
    pub dns_name: String,
    pub evaluate_target_health: bool,
}

/// One record set: every record of one name and type (and set identifier, for the routing
/// policies that need one). Stored without its empty fields: a zone's row holds them all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    /// Normalized (see [`normalize_name`]).
    pub name: String,
    pub rr_type: RrType,
    /// Distinguishes the record sets of a weighted, latency, failover or multivalue policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    /// `None` exactly for alias records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The values, as given (empty for alias records).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasTarget>,
    /// Routing-policy settings, stored and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_answer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
}

impl RecordSet {
    /// A plain record set: a name, a type, a TTL and its values.
    pub fn simple(name: &str, rr_type: RrType, ttl: i64, records: Vec<String>) -> Self {
        Self {
            name: name.to_owned(),
            rr_type,
            set_identifier: None,
            ttl: Some(ttl),
            records,
            alias: None,
            weight: None,
            region: None,
            failover: None,
            multi_value_answer: None,
            health_check_id: None,
        }
    }

    /// Where Route 53 lists it: name with labels reversed, then type, then set identifier.
    pub fn order(&self) -> (String, RrType, Option<&str>) {
        (
            sort_key(&self.name),
            self.rr_type,
            self.set_identifier.as_deref(),
        )
    }

    /// Whether this names the same record set as `other` (name, type, set identifier).
    pub fn same_set(&self, other: &RecordSet) -> bool {
        self.name == other.name
            && self.rr_type == other.rr_type
            && self.set_identifier == other.set_identifier
    }

    /// Route 53's description of it in InvalidChangeBatch messages:
    /// `[name='www.example.com.', type='A']`, with `set-identifier='…'` when it has one.
    pub fn describe(&self) -> String {
        match &self.set_identifier {
            Some(id) => format!(
                "[name='{}', type='{}', set-identifier='{}']",
                self.name, self.rr_type, id
            ),
            None => format!("[name='{}', type='{}']", self.name, self.rr_type),
        }
    }

    /// Whether a DELETE naming `self` matches the stored `current` exactly: the same TTL,
    /// the same values in any order, the same alias and routing settings.
    pub fn matches_for_delete(&self, current: &RecordSet) -> bool {
        let mut mine: Vec<&String> = self.records.iter().collect();
        let mut theirs: Vec<&String> = current.records.iter().collect();
        mine.sort();
        theirs.sort();
        self.same_set(current)
            && self.ttl == current.ttl
            && mine == theirs
            && self.alias == current.alias
            && self.weight == current.weight
            && self.region == current.region
            && self.failover == current.failover
            && self.multi_value_answer == current.multi_value_answer
            && self.health_check_id == current.health_check_id
    }
}

// ---- ids ----------------------------------------------------------------------------------

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_id(prefix: char) -> String {
    let mut rng = rand::rng();
    let mut out = String::with_capacity(21);
    out.push(prefix);
    for _ in 0..20 {
        out.push(char::from(
            ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())],
        ));
    }
    out
}

/// A fresh hosted zone id: `Z` and 20 upper-case letters or digits.
pub fn new_zone_id() -> String {
    random_id('Z')
}

/// A fresh change id: `C` and 20 upper-case letters or digits.
pub fn new_change_id() -> String {
    random_id('C')
}

/// The bare id of `input`, given bare (`Z…`) or as Route 53 answers it (`/hostedzone/Z…`,
/// `/change/C…`): the part after the last slash.
pub fn bare_id(input: &str) -> &str {
    input.rsplit('/').next().unwrap_or(input)
}

// ---- names --------------------------------------------------------------------------------

/// Why a DNS name cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    /// A label (between dots) is empty: `a..b`.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// A name longer than 255 bytes on the wire.
    TooLong,
    /// A `\` escape that is neither `\DDD` (octal, at most 255) nor `\` and one character.
    BadEscape,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::Empty => "the name is empty",
            NameError::EmptyLabel => "a label is empty",
            NameError::LabelTooLong => "a label is longer than 63 characters",
            NameError::TooLong => "the name is longer than 255 characters",
            NameError::BadEscape => "an escape is not \\DDD",
        })
    }
}

/// Whether a byte is written as itself in a normalized name.
fn plain(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

/// `input` as Route 53 keeps it: escapes decoded, ASCII letters lower-cased, every byte
/// but `a-z0-9-_` written `\DDD`, and a trailing dot. `WWW.Example.com`, `www.example.com.`
/// and `www.ex\141mple.com` are all `www.example.com.`; `*.example.com` is
/// `\052.example.com.`.
pub fn normalize_name(input: &str) -> Result<String, NameError> {
    let labels = decode_labels(input)?;
    let mut out = String::with_capacity(input.len() + 1);
    let mut wire = 1; // the root's zero length
    for label in &labels {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong);
        }
        wire += 1 + label.len();
        for &b in label {
            let b = b.to_ascii_lowercase();
            if plain(b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\{b:03o}"));
            }
        }
        out.push('.');
    }
    if wire > 255 {
        return Err(NameError::TooLong);
    }
    Ok(out)
}

/// The labels of a presentation-format name, as bytes, escapes decoded. One trailing dot
/// (the root) is dropped.
fn decode_labels(input: &str) -> Result<Vec<Vec<u8>>, NameError> {
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    let bytes = trimmed.as_bytes();
    let mut labels = Vec::new();
    let mut label = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                labels.push(std::mem::take(&mut label));
                i += 1;
            }
            b'\\' => {
                let digits = bytes.get(i + 1..i + 4);
                if let Some(d) = digits.filter(|d| d.iter().all(u8::is_ascii_digit)) {
                    let value = d
                        .iter()
                        .try_fold(0u16, |acc, &c| {
                            let digit = u16::from(c - b'0');
                            (digit < 8).then_some(acc * 8 + digit)
                        })
                        .ok_or(NameError::BadEscape)?;
                    label.push(u8::try_from(value).map_err(|_| NameError::BadEscape)?);
                    i += 4;
                } else {
                    let c = *bytes.get(i + 1).ok_or(NameError::BadEscape)?;
                    if c.is_ascii_digit() {
                        return Err(NameError::BadEscape);
                    }
                    label.push(c);
                    i += 2;
                }
            }
            b => {
                label.push(b);
                i += 1;
            }
        }
    }
    labels.push(label);
    Ok(labels)
}

/// The key Route 53 sorts names by: the labels reversed, with the trailing dot
/// (`www.example.com.` is `com.example.www.`), compared as escaped text.
pub fn sort_key(name: &str) -> String {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut labels: Vec<&str> = trimmed.split('.').collect();
    labels.reverse();
    let mut out = labels.join(".");
    out.push('.');
    out
}

/// Whether the normalized `name` lies in the zone `zone` (equal to it or below it).
pub fn within_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

// ---- record values ------------------------------------------------------------------------

/// Why a record's value is refused: Route 53's problem code and its explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    pub problem: &'static str,
    pub why: &'static str,
    pub value: String,
}

impl fmt::Display for ValueError {
    /// As Route 53 words it inside an InvalidChangeBatch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid Resource Record: 'FATAL problem: {} ({}) encountered with '{}''",
            self.problem, self.why, self.value
        )
    }
}

/// The most characters a record value may hold.
pub const MAX_VALUE: usize = 4000;

/// Checks one value of a record of type `rr_type`, as Route 53 does before it accepts it.
pub fn check_value(rr_type: RrType, value: &str) -> Result<(), ValueError> {
    let fail = |problem, why| ValueError {
        problem,
        why,
        value: value.to_owned(),
    };
    if value.is_empty() {
        return Err(fail("EmptyValue", "Value is empty"));
    }
    if value.chars().count() > MAX_VALUE {
        return Err(fail("ValueTooLong", "Value is too long"));
    }
    match rr_type {
        RrType::A => value.parse::<Ipv4Addr>().map(drop).map_err(|_| {
            fail(
                "ARRDATAIllegalIPv4Address",
                "Value is not a valid IPv4 address",
            )
        }),
        RrType::Aaaa => value.parse::<Ipv6Addr>().map(drop).map_err(|_| {
            fail(
                "AAAARRDATAIllegalIPv6Address",
                "Value is not a valid IPv6 address",
            )
        }),
        RrType::Cname | RrType::Ns | RrType::Ptr => {
            check_domain(value).map_err(|e| fail_name(e, value))
        }
        RrType::Mx => {
            let fields: Vec<&str> = value.split_ascii_whitespace().collect();
            let [priority, host] = fields.as_slice() else {
                return Err(fail(
                    "MXRRDATANotTwoFields",
                    "MX record doesn't have 2 fields",
                ));
            };
            if priority.parse::<u16>().is_err() {
                return Err(fail(
                    "MXRRDATAIllegalPriority",
                    "Priority is not a number between 0 and 65535",
                ));
            }
            check_domain(host).map_err(|e| fail_name(e, value))
        }
        RrType::Srv => {
            let fields: Vec<&str> = value.split_ascii_whitespace().collect();
            let [priority, weight, port, target] = fields.as_slice() else {
                return Err(fail(
                    "SRVRDATANotFourFields",
                    "SRV record doesn't have 4 fields",
                ));
            };
            for n in [priority, weight, port] {
                if n.parse::<u16>().is_err() {
                    return Err(fail(
                        "SRVRDATAIllegalNumber",
                        "Priority, weight and port must be numbers between 0 and 65535",
                    ));
                }
            }
            check_domain(target).map_err(|e| fail_name(e, value))
        }
        RrType::Txt | RrType::Spf => check_character_strings(value).map_err(|(p, w)| fail(p, w)),
        RrType::Soa => {
            let fields: Vec<&str> = value.split_ascii_whitespace().collect();
            let [mname, rname, numbers @ ..] = fields.as_slice() else {
                return Err(fail(
                    "SOARRDATANotSevenFields",
                    "SOA record doesn't have 7 fields",
                ));
            };
            if numbers.len() != 5 {
                return Err(fail(
                    "SOARRDATANotSevenFields",
                    "SOA record doesn't have 7 fields",
                ));
            }
            if numbers.iter().any(|n| n.parse::<u32>().is_err()) {
                return Err(fail(
                    "SOARRDATAIllegalNumber",
                    "Serial, refresh, retry, expire and minimum must be 32-bit numbers",
                ));
            }
            check_domain(mname)
                .and_then(|()| check_domain(rname))
                .map_err(|e| fail_name(e, value))
        }
        RrType::Caa => {
            let mut parts = value.splitn(3, ' ');
            let (Some(flags), Some(tag), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(fail(
                    "CAARRDATANotThreeFields",
                    "CAA record doesn't have 3 fields",
                ));
            };
            if flags.parse::<u8>().is_err()
                || tag.is_empty()
                || !tag.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(fail(
                    "CAARRDATAIllegalFlagsOrTag",
                    "Flags must be 0 to 255 and the tag letters and digits",
                ));
            }
            check_character_strings(rest).map_err(|(p, w)| fail(p, w))
        }
        RrType::Naptr
        | RrType::Ds
        | RrType::Tlsa
        | RrType::Sshfp
        | RrType::Svcb
        | RrType::Https => Ok(()),
    }
}

fn fail_name(e: NameError, value: &str) -> ValueError {
    let (problem, why) = match e {
        NameError::LabelTooLong => ("DomainLabelTooLong", "Domain label is too long"),
        NameError::TooLong => ("DomainNameTooLong", "Domain name is too long"),
        NameError::EmptyLabel | NameError::Empty => ("DomainLabelEmpty", "Domain label is empty"),
        NameError::BadEscape => ("IllegalEscape", "Escape sequence is not valid"),
    };
    ValueError {
        problem,
        why,
        value: value.to_owned(),
    }
}

/// A domain name inside a record's value: labels of 1 to 63 bytes, 255 in all, no spaces.
fn check_domain(name: &str) -> Result<(), NameError> {
    if name
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(NameError::EmptyLabel);
    }
    // The root itself ("." in an MX of a null mail exchanger) is a name too.
    if name == "." {
        return Ok(());
    }
    normalize_name(name).map(drop)
}

/// TXT and SPF values: one or more `"…"` character strings, each at most 255 characters,
/// separated by spaces; `\"` and `\\` escape inside them.
fn check_character_strings(value: &str) -> Result<(), (&'static str, &'static str)> {
    const UNQUOTED: (&str, &str) = (
        "InvalidCharacterString",
        "Value should be enclosed in quotation marks",
    );
    let mut chars = value.chars().peekable();
    let mut seen = false;
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        match chars.next() {
            None if seen => return Ok(()),
            None => return Err(UNQUOTED),
            Some('"') => {}
            Some(_) => return Err(UNQUOTED),
        }
        seen = true;
        let mut len = 0usize;
        loop {
            match chars.next() {
                None => return Err(UNQUOTED),
                Some('"') => break,
                Some('\\') => {
                    chars.next().ok_or(UNQUOTED)?;
                    len += 1;
                }
                Some(_) => len += 1,
            }
        }
        if len > 255 {
            return Err(("CharacterStringTooLong", "Value is too long"));
        }
        // strings are separated by a space (or end the value)
        if chars.peek().is_some_and(|c| *c != ' ') {
            return Err(UNQUOTED);
        }
    }
}

/// The name servers Route 53 puts in every private zone's apex NS record.
pub const PRIVATE_NAME_SERVERS: [&str; 4] = [
    "ns-1536.awsdns-00.co.uk.",
    "ns-0.awsdns-00.com.",
    "ns-1024.awsdns-00.org.",
    "ns-512.awsdns-00.net.",
];

/// The TTLs of a new zone's apex records, as Route 53 sets them.
pub const APEX_NS_TTL: i64 = 172_800;
pub const APEX_SOA_TTL: i64 = 900;

/// The apex SOA value of a zone whose first name server is `primary`.
pub fn apex_soa(primary: &str) -> String {
    format!("{primary} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_normalized_as_route53_lists_them() {
        assert_eq!(
            normalize_name("WWW.Example.com").unwrap(),
            "www.example.com."
        );
        assert_eq!(
            normalize_name("www.example.com.").unwrap(),
            "www.example.com."
        );
        assert_eq!(
            normalize_name("*.example.com").unwrap(),
            "\\052.example.com."
        );
        assert_eq!(
            normalize_name("\\052.example.com").unwrap(),
            "\\052.example.com."
        );
        assert_eq!(normalize_name("ex\\141mple.com").unwrap(), "example.com.");
        assert_eq!(
            normalize_name("_sip._tcp.example.com").unwrap(),
            "_sip._tcp.example.com."
        );
        assert_eq!(normalize_name(""), Err(NameError::Empty));
        assert_eq!(normalize_name("."), Err(NameError::Empty));
        assert_eq!(normalize_name("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(
            normalize_name(&"a".repeat(64)),
            Err(NameError::LabelTooLong)
        );
        assert_eq!(normalize_name("a\\999.com"), Err(NameError::BadEscape));
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(normalize_name(&long), Err(NameError::TooLong));
    }

    #[test]
    fn sorting_reverses_labels() {
        assert_eq!(sort_key("www.example.com."), "com.example.www.");
        let mut names = vec![
            "b.example.com.",
            "example.com.",
            "a.b.example.com.",
            "a.example.com.",
        ];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(
            names,
            [
                "example.com.",
                "a.example.com.",
                "b.example.com.",
                "a.b.example.com."
            ]
        );
        assert!(within_zone("www.example.com.", "example.com."));
        assert!(within_zone("example.com.", "example.com."));
        assert!(!within_zone("wwwexample.com.", "example.com."));
        assert!(!within_zone("example.org.", "example.com."));
    }

    #[test]
    fn values_per_type() {
        assert!(check_value(RrType::A, "192.0.2.1").is_ok());
        let e = check_value(RrType::A, "192.0.2").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '192.0.2''"
        );
        assert!(check_value(RrType::Aaaa, "2001:db8::1").is_ok());
        assert!(check_value(RrType::Aaaa, "192.0.2.1").is_err());
        assert!(check_value(RrType::Cname, "target.example.com").is_ok());
        assert!(check_value(RrType::Cname, "a b").is_err());
        assert!(check_value(RrType::Mx, "10 mail.example.com.").is_ok());
        assert!(check_value(RrType::Mx, "mail.example.com.").is_err());
        assert!(check_value(RrType::Mx, "70000 mail.example.com.").is_err());
        assert!(check_value(RrType::Srv, "1 10 5269 xmpp.example.com.").is_ok());
        assert!(check_value(RrType::Srv, "1 10 xmpp.example.com.").is_err());
        assert!(check_value(RrType::Txt, "\"v=spf1 -all\"").is_ok());
        assert!(check_value(RrType::Txt, "\"a\" \"b\\\"c\"").is_ok());
        assert_eq!(
            check_value(RrType::Txt, "unquoted").unwrap_err().problem,
            "InvalidCharacterString"
        );
        assert_eq!(
            check_value(RrType::Txt, &format!("\"{}\"", "x".repeat(256)))
                .unwrap_err()
                .problem,
            "CharacterStringTooLong"
        );
        assert!(check_value(RrType::Soa, &apex_soa(PRIVATE_NAME_SERVERS[0])).is_ok());
        assert!(check_value(RrType::Soa, "ns. host. 1 2 3").is_err());
        assert!(check_value(RrType::Caa, "0 issue \"amazon.com\"").is_ok());
        assert!(check_value(RrType::Caa, "issue amazon.com").is_err());
        assert!(check_value(RrType::Ptr, "host.example.com.").is_ok());
        assert!(check_value(RrType::Ns, "ns1.example.com.").is_ok());
    }

    #[test]
    fn delete_matches_values_in_any_order() {
        let a = RecordSet::simple(
            "a.example.com.",
            RrType::A,
            300,
            vec!["192.0.2.1".into(), "192.0.2.2".into()],
        );
        let mut b = a.clone();
        b.records.reverse();
        assert!(b.matches_for_delete(&a));
        b.ttl = Some(60);
        assert!(!b.matches_for_delete(&a));
        assert_eq!(a.describe(), "[name='a.example.com.', type='A']");
    }

    #[test]
    fn stored_rows_leave_out_what_is_empty() {
        let set = RecordSet::simple(
            "a.example.com.",
            RrType::Aaaa,
            60,
            vec!["2001:db8::1".into()],
        );
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(
            json,
            r#"{"name":"a.example.com.","rr_type":"AAAA","ttl":60,"records":["2001:db8::1"]}"#
        );
        assert_eq!(serde_json::from_str::<RecordSet>(&json).unwrap(), set);
    }

    #[test]
    fn ids_have_route53s_form() {
        let z = new_zone_id();
        assert_eq!(z.len(), 21);
        assert!(z.starts_with('Z'));
        assert!(
            z.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert!(new_change_id().starts_with('C'));
        assert_eq!(bare_id("/hostedzone/ZABC"), "ZABC");
        assert_eq!(bare_id("ZABC"), "ZABC");
        assert_eq!(bare_id("/change/C1"), "C1");
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_*-]{1,20}"
    }

    proptest! {
        /// Normalizing twice changes nothing, and case never matters.
        #[test]
        fn normalize_is_idempotent(labels in proptest::collection::vec(label(), 1..5)) {
            let name = labels.join(".");
            let once = normalize_name(&name).unwrap();
            prop_assert_eq!(normalize_name(&once).unwrap(), once.clone());
            prop_assert_eq!(normalize_name(&name.to_ascii_uppercase()).unwrap(), once.clone());
            prop_assert!(once.ends_with('.'));
            prop_assert!(once.bytes().all(|b| plain(b) || b == b'.' || b == b'\\'));
        }

        /// Any byte survives an escape and back.
        #[test]
        fn any_byte_escapes(bytes in proptest::collection::vec(1u8..=255, 1..30)) {
            let escaped: String = bytes.iter().map(|b| format!("\\{b:03o}")).collect();
            let name = normalize_name(&escaped).unwrap();
            let lowered: Vec<u8> = bytes.iter().map(u8::to_ascii_lowercase).collect();
            prop_assert_eq!(&decode_labels(&name).unwrap()[0], &lowered);
        }

        /// Every IPv4 address is a valid A value and no valid A value fails to parse.
        #[test]
        fn a_values(addr in any::<u32>(), junk in "[0-9.]{0,15}") {
            let ip = Ipv4Addr::from(addr).to_string();
            prop_assert!(check_value(RrType::A, &ip).is_ok());
            prop_assert_eq!(check_value(RrType::A, &junk).is_ok(), junk.parse::<Ipv4Addr>().is_ok());
        }

        /// Every IPv6 address is a valid AAAA value.
        #[test]
        fn aaaa_values(addr in any::<u128>()) {
            prop_assert!(check_value(RrType::Aaaa, &Ipv6Addr::from(addr).to_string()).is_ok());
        }

        /// Quoted strings of at most 255 characters are TXT values; the checker never panics.
        #[test]
        fn txt_values(parts in proptest::collection::vec("[a-z =;.-]{0,255}", 1..4), any_text in ".{0,300}") {
            let value = parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(" ");
            prop_assert!(check_value(RrType::Txt, &value).is_ok());
            for t in RrType::ALL {
                let _ = check_value(*t, &any_text);
            }
        }

        /// Sorting by the key puts a parent before its children.
        #[test]
        fn parents_sort_first(labels in proptest::collection::vec("[a-z0-9]{1,10}", 1..4), child in "[a-z0-9]{1,10}") {
            let parent = normalize_name(&labels.join(".")).unwrap();
            let name = normalize_name(&format!("{child}.{parent}")).unwrap();
            prop_assert!(sort_key(&parent) < sort_key(&name));
            prop_assert!(within_zone(&name, &parent));
        }
    }
}
