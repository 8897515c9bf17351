//! CloudWatch Logs filter patterns, as FilterLogEvents reads them: terms (`ERROR`,
//! `"a phrase"`, `-excluded`, `?either ?or`), space-delimited records
//! (`[version, account, eni, src, dst, srcport, dstport="22", ...]`) and JSON
//! (`{ $.level = "error" && $.latency > 100 }`).
//!
//! Matching is pure and bounded: a pattern never makes a match cost more than a fixed number of
//! steps per event, whatever the event or the pattern.

use std::fmt;

/// The longest pattern AWS accepts.
pub const MAX_PATTERN: usize = 1024;
/// Space-delimited matching gives up (no match) after this many steps: several ellipses
/// with conditions that refer to each other could otherwise take exponential time.
const MAX_STEPS: usize = 100_000;

/// A pattern that does not parse: the message says where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed filter pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// The empty pattern: every event.
    All,
    Terms(Terms),
    Delimited(Delimited),
    Json(Expr),
}

/// Plain terms, in groups: an event matches when one group matches. `?` starts a group,
/// so `?ERROR MainThread ?WARN Deadlock` is (ERROR and MainThread) or (WARN and Deadlock);
/// without `?` there is one group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Terms {
    pub groups: Vec<TermGroup>,
}

/// Every `required` term and none of the `excluded`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TermGroup {
    pub required: Vec<String>,
    pub excluded: Vec<String>,
}

/// A space-delimited pattern: one slot per field of the event.
#[derive(Clone, Debug, PartialEq)]
pub struct Delimited {
    pub slots: Vec<Slot>,
    /// Whether every condition names only its own slot's field (then matching is linear).
    local: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Slot {
    /// `...`: any number of fields, none included.
    Ellipsis,
    /// One field, named, with an optional condition.
    Field { name: String, cond: Option<Expr> },
}

/// A condition: comparisons joined by `&&` and `||`.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp { name: String, op: Op, value: Value },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number: compared numerically with a field that reads as one.
    Num(f64),
    /// A string, with `*` as a wildcard.
    Str(String),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.len() > MAX_PATTERN {
            return Err(PatternError(format!(
                "The filter pattern is longer than {MAX_PATTERN} characters."
            )));
        }
        let t = text.trim();
        if t.is_empty() {
            Ok(Pattern::All)
        } else if let Some(inner) = t.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| PatternError("A '[' pattern must end with ']'.".into()))?;
            parse_delimited(inner).map(Pattern::Delimited)
        } else if let Some(inner) = t.strip_prefix('{') {
            let inner = inner
                .strip_suffix('}')
                .ok_or_else(|| PatternError("A '{' pattern must end with '}'.".into()))?;
            let mut p = Parser::new(inner);
            let e = p.expr()?;
            p.end()?;
            if !names_all(&e, |n| n.starts_with('$')) {
                return Err(PatternError(
                    "A JSON pattern's selectors start with '$'.".into(),
                ));
            }
            Ok(Pattern::Json(e))
        } else {
            parse_terms(t).map(Pattern::Terms)
        }
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Terms(t) => t.matches(message),
            Pattern::Delimited(d) => d.matches(message),
            Pattern::Json(e) => match serde_json::from_str::<serde_json::Value>(message) {
                Ok(doc) => eval(e, &mut |name| json_field(&doc, name)),
                Err(_) => false,
            },
        }
    }
}

impl Terms {
    fn matches(&self, message: &str) -> bool {
        self.groups.iter().any(|g| {
            g.required.iter().all(|t| message.contains(t.as_str()))
                && !g.excluded.iter().any(|t| message.contains(t.as_str()))
        })
    }
}

fn parse_terms(text: &str) -> Result<Terms, PatternError> {
    let mut terms = Terms::default();
    let mut group = TermGroup::default();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        let kind = match first {
            '-' | '?' => {
                chars.next();
                first
            }
            _ => ' ',
        };
        let mut term = String::new();
        if chars.next_if_eq(&'"').is_some() {
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => term.extend(chars.next()),
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => term.push(c),
                }
            }
            if !closed {
                return Err(PatternError("A quoted term is not closed.".into()));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                term.push(c);
            }
        }
        if term.is_empty() {
            return Err(PatternError("The filter pattern has an empty term.".into()));
        }
        match kind {
            '-' => group.excluded.push(term),
            '?' => {
                if group != TermGroup::default() {
                    terms.groups.push(std::mem::take(&mut group));
                }
                group.required.push(term);
            }
            _ => group.required.push(term),
        }
    }
    terms.groups.push(group);
    Ok(terms)
}

fn parse_delimited(inner: &str) -> Result<Delimited, PatternError> {
    let mut slots = Vec::new();
    for part in split_top(inner)? {
        let part = part.trim();
        if part == "..." {
            // consecutive ellipses are one
            if slots.last() != Some(&Slot::Ellipsis) {
                slots.push(Slot::Ellipsis);
            }
            continue;
        }
        let mut p = Parser::new(part);
        let name = p.name()?;
        p.skip_ws();
        let cond = if p.at_end() {
            None
        } else {
            let mut p = Parser::new(part);
            let e = p.expr()?;
            p.end()?;
            Some(e)
        };
        slots.push(Slot::Field { name, cond });
    }
    if slots.is_empty() {
        return Err(PatternError(
            "A '[' pattern names at least one field.".into(),
        ));
    }
    let local = slots.iter().all(|s| match s {
        Slot::Field {
            name,
            cond: Some(c),
        } => names_all(c, |n| n == name),
        _ => true,
    });
    Ok(Delimited { slots, local })
}

/// Splits at commas outside quotes and parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, PatternError> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0usize);
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| PatternError("Unbalanced ')' in the filter pattern.".into()))?;
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted || depth != 0 {
        return Err(PatternError(
            "Unbalanced quotes or parentheses in the filter pattern.".into(),
        ));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn names_all(e: &Expr, f: impl Fn(&str) -> bool + Copy) -> bool {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => names_all(a, f) && names_all(b, f),
        Expr::Cmp { name, .. } => f(name),
    }
}

/// A recursive-descent parser of conditions: `||` binds looser than `&&`.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s,
            pos: 0,
            depth: 0,
        }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }

    fn at_end(&self) -> bool {
        self.rest().trim().is_empty()
    }

    fn end(&mut self) -> Result<(), PatternError> {
        self.skip_ws();
        if self.at_end() {
            Ok(())
        } else {
            Err(PatternError(format!(
                "Unexpected '{}' in the filter pattern.",
                self.rest()
            )))
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Expr, PatternError> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(PatternError("The filter pattern nests too deeply.".into()));
        }
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut e = self.atom()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.atom()?));
        }
        Ok(e)
    }

    fn atom(&mut self) -> Result<Expr, PatternError> {
        if self.eat("(") {
            let e = self.expr()?;
            if !self.eat(")") {
                return Err(PatternError("A '(' is not closed.".into()));
            }
            return Ok(e);
        }
        let name = self.name()?;
        self.skip_ws();
        let op = if self.eat("!=") {
            Op::Ne
        } else if self.eat("<=") {
            Op::Le
        } else if self.eat(">=") {
            Op::Ge
        } else if self.eat("=") {
            Op::Eq
        } else if self.eat("<") {
            Op::Lt
        } else if self.eat(">") {
            Op::Gt
        } else {
            return Err(PatternError(format!(
                "Expected a comparison after '{name}' in the filter pattern."
            )));
        };
        let value = self.value()?;
        if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) && !matches!(value, Value::Num(_)) {
            return Err(PatternError(format!(
                "'{name}' is compared with <, <=, > or >= to something that is not a number."
            )));
        }
        Ok(Expr::Cmp { name, op, value })
    }

    /// A field name (`srcport`) or a JSON selector (`$.a.b[0]`).
    fn name(&mut self) -> Result<String, PatternError> {
        self.skip_ws();
        let r = self.rest();
        let len = r
            .find(|c: char| !(c.is_alphanumeric() || "_$.[]-".contains(c)))
            .unwrap_or(r.len());
        if len == 0 {
            return Err(PatternError(format!(
                "Expected a field name at '{r}' in the filter pattern."
            )));
        }
        self.pos += len;
        Ok(r[..len].to_owned())
    }

    fn value(&mut self) -> Result<Value, PatternError> {
        self.skip_ws();
        let r = self.rest();
        if let Some(q) = r.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        self.pos += i + 2;
                        return Ok(Value::Str(out));
                    }
                    c => out.push(c),
                }
            }
            return Err(PatternError("A quoted value is not closed.".into()));
        }
        let len = r
            .find(|c: char| c.is_whitespace() || c == ')' || c == '&' || c == '|')
            .unwrap_or(r.len());
        if len == 0 {
            return Err(PatternError("A comparison has no value.".into()));
        }
        self.pos += len;
        let text = &r[..len];
        Ok(match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Value::Num(n),
            _ => Value::Str(text.to_owned()),
        })
    }
}

/// Evaluates `e`, reading each named field (as text) through `field`.
fn eval(e: &Expr, field: &mut dyn FnMut(&str) -> Option<String>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, field) && eval(b, field),
        Expr::Or(a, b) => eval(a, field) || eval(b, field),
        Expr::Cmp { name, op, value } => field(name).is_some_and(|f| compare(&f, *op, value)),
    }
}

fn compare(field: &str, op: Op, value: &Value) -> bool {
    match value {
        Value::Num(n) => {
            let Ok(f) = field.trim().parse::<f64>() else {
                return op == Op::Ne;
            };
            match op {
                Op::Eq => f == *n,
                Op::Ne => f != *n,
                Op::Lt => f < *n,
                Op::Le => f <= *n,
                Op::Gt => f > *n,
                Op::Ge => f >= *n,
            }
        }
        Value::Str(s) => match op {
            Op::Eq => wildcard(s, field),
            Op::Ne => !wildcard(s, field),
            _ => false,
        },
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The fields of a space-delimited event: runs of non-space characters, or a whole
/// `"quoted"` or `[bracketed]` run (without its delimiters).
pub fn fields(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = message;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            return out;
        };
        let close = match first {
            '"' => Some('"'),
            '[' => Some(']'),
            _ => None,
        };
        if let Some(end) = close.and_then(|c| rest[1..].find(c)) {
            out.push(&rest[1..1 + end]);
            rest = &rest[end + 2..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
}

impl Delimited {
    fn matches(&self, message: &str) -> bool {
        let fields = fields(message);
        let mut m = Matcher {
            slots: &self.slots,
            fields: &fields,
            local: self.local,
            bound: vec![None; self.slots.len()],
            failed: vec![false; (self.slots.len() + 1) * (fields.len() + 1)],
            steps: 0,
        };
        m.run(0, 0)
    }
}

struct Matcher<'a> {
    slots: &'a [Slot],
    fields: &'a [&'a str],
    local: bool,
    /// The field each slot took on the current path.
    bound: Vec<Option<usize>>,
    /// (slot, field) positions known not to lead to a match (used when conditions are local).
    failed: Vec<bool>,
    steps: usize,
}

impl Matcher<'_> {
    fn run(&mut self, si: usize, fi: usize) -> bool {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return false;
        }
        let key = si * (self.fields.len() + 1) + fi;
        if self.local && self.failed[key] {
            return false;
        }
        let ok = self.step(si, fi);
        if !ok && self.local {
            self.failed[key] = true;
        }
        ok
    }

    fn step(&mut self, si: usize, fi: usize) -> bool {
        let Some(slot) = self.slots.get(si) else {
            return fi == self.fields.len() && (self.local || self.check_all());
        };
        match slot {
            Slot::Ellipsis => (fi..=self.fields.len()).any(|k| self.run(si + 1, k)),
            Slot::Field { name, cond } => {
                let Some(&field) = self.fields.get(fi) else {
                    return false;
                };
                if self.local
                    && let Some(c) = cond
                    && !eval(c, &mut |n| (n == name).then(|| field.to_owned()))
                {
                    return false;
                }
                self.bound[si] = Some(fi);
                self.run(si + 1, fi + 1)
            }
        }
    }

    /// Every condition, with names resolved through the slots bound on this path.
    fn check_all(&self) -> bool {
        self.slots.iter().all(|s| match s {
            Slot::Field { cond: Some(c), .. } => eval(c, &mut |n| {
                self.slots
                    .iter()
                    .zip(&self.bound)
                    .find_map(|(s, b)| match s {
                        Slot::Field { name, .. } if name == n => {
                            b.and_then(|i| self.fields.get(i)).map(|f| (*f).to_owned())
                        }
                        _ => None,
                    })
            }),
            _ => true,
        })
    }
}

/// The value at a JSON selector (`$.a.b[1].c`) as text, for comparison.
fn json_field(doc: &serde_json::Value, selector: &str) -> Option<String> {
    let path = selector.strip_prefix('$')?;
    let mut v = doc;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut idx) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            v = v.get(key)?;
        }
        while let Some(r) = idx.strip_prefix('[') {
            let end = r.find(']')?;
            v = v.get(r[..end].parse::<usize>().ok()?)?;
            idx = &r[end + 1..];
        }
    }
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Null => Some("null".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, msg: &str) -> bool {
        Pattern::parse(p).unwrap().matches(msg)
    }

    const SSH: &str = "2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.7 49152 22 6 10 840 1700000000 1700000060 REJECT OK";
    const WEB: &str = "2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.7 49153 443 6 20 4000 1700000000 1700000060 ACCEPT OK";

    #[test]
    fn terms() {
        assert!(m("", "anything"));
        assert!(m("ERROR", "an ERROR here"));
        assert!(!m("ERROR", "an error here"), "terms are case sensitive");
        assert!(m("ERROR disk", "ERROR: disk full"));
        assert!(!m("ERROR disk", "ERROR: memory"));
        assert!(m("\"disk full\"", "ERROR: disk full"));
        assert!(!m("\"disk full\"", "full disk"));
        assert!(m("ERROR -retry", "ERROR once"));
        assert!(!m("ERROR -retry", "ERROR retry"));
        assert!(m("?ERROR ?WARN", "WARN low"));
        assert!(!m("?ERROR ?WARN", "INFO ok"));
        let groups = "?ERROR MainThread ?WARN Deadlock";
        assert!(m(groups, "ERROR in MainThread"));
        assert!(m(groups, "WARN Deadlock found"));
        assert!(!m(groups, "ERROR Deadlock"));
        assert!(m("?ERROR -retry ?WARN", "WARN retry"));
        assert!(!m("?ERROR -retry ?WARN", "ERROR retry"));
        assert!(Pattern::parse("\"open").is_err());
        assert!(Pattern::parse("-").is_err());
    }

    #[test]
    fn space_delimited_flow_logs() {
        let p = "[version, account, eni, source, destination, srcport, destport=\"22\", ...]";
        assert!(m(p, SSH));
        assert!(!m(p, WEB));
        assert!(m(
            "[version, account, eni, source, destination, srcport, destport=22, ...]",
            SSH
        ));
        assert!(m("[..., action=REJECT, status]", SSH));
        assert!(!m("[..., action=REJECT, status]", WEB));
        assert!(m(
            "[v, a, e, s, d, sp, dp, proto, packets, bytes>=1000, ...]",
            WEB
        ));
        assert!(!m(
            "[v, a, e, s, d, sp, dp, proto, packets, bytes>=1000, ...]",
            SSH
        ));
        assert!(m("[v, a, e, source=10.0.1.*, ...]", SSH));
        assert!(!m("[v, a, e, source=10.0.9.*, ...]", SSH));
        assert!(m("[v, a, e, s, d, sp, dp=22 || dp=443, ...]", WEB));
        assert!(m("[v, a, e, s, d, sp, dp>0 && dp<1024, ...]", SSH));
        assert!(!m("[v, a, e, s, d, sp, dp!=22, ...]", SSH));
        assert!(m(
            "[..., dp=22, proto, packets, bytes, start, end, action, status]",
            SSH
        ));
        // without an ellipsis the field count must be exact
        assert!(!m("[a, b]", SSH));
        assert!(m("[a, b]", "x y"));
        assert!(m("[..., x, ..., action=\"REJECT\", ...]", SSH));
        // a condition may name another field
        assert!(m(
            "[v, a, e, s, d, sp, dp, proto, packets, bytes, start, end, action=REJECT && dp=22, status]",
            SSH
        ));
        assert!(Pattern::parse("[a, b>x]").is_err());
        assert!(Pattern::parse("[a, b=1").is_err());
        assert!(Pattern::parse("[a, (b=1]").is_err());
        assert!(Pattern::parse("[]").is_err());
    }

    #[test]
    fn quoted_and_bracketed_fields() {
        let line = "127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 1534";
        assert_eq!(fields(line).len(), 7);
        assert!(m(
            "[ip, user, username, timestamp, request=\"*gif*\", status_code=2*, bytes]",
            line
        ));
        assert!(!m(
            "[ip, user, username, timestamp, request, status_code=4* || status_code=5*, bytes]",
            line
        ));
    }

    #[test]
    fn json() {
        let doc = r#"{"level":"error","latency":150,"user":{"id":"u1"},"tags":["a","b"]}"#;
        assert!(m("{ $.level = \"error\" }", doc));
        assert!(m("{ $.latency > 100 && $.user.id = u* }", doc));
        assert!(!m("{ $.latency > 200 }", doc));
        assert!(m("{ $.tags[1] = \"b\" }", doc));
        assert!(!m("{ $.level = \"error\" }", "not json"));
        assert!(Pattern::parse("{ level = 1 }").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", ""));
        assert!(wildcard("a*c", "abbbc"));
        assert!(!wildcard("a*c", "abbb"));
        assert!(wildcard("*.html*", "/index.html?x"));
    }

    proptest! {
        /// Parsing and matching never panic, whatever the pattern and the event.
        #[test]
        fn never_panics(p in ".{0,80}", msg in ".{0,200}") {
            if let Ok(pat) = Pattern::parse(&p) {
                let _ = pat.matches(&msg);
            }
        }

        /// Space-delimited patterns over generated fields: `[...]`-style shapes.
        #[test]
        fn delimited_shapes(p in "\\[(\\.\\.\\.|[a-c](=[0-9*]{1,3})?)(, ?(\\.\\.\\.|[a-c](=[0-9*]{1,3}|>[0-9]{1,2})?)){0,6}\\]",
                             msg in "([0-9]{1,3} ){0,10}") {
            let pat = Pattern::parse(&p).unwrap();
            let _ = pat.matches(&msg);
        }

        /// A pattern naming every field exactly matches the event it was made from.
        #[test]
        fn exact_fields_match(words in proptest::collection::vec("[a-z0-9.]{1,8}", 1..12)) {
            let msg = words.join(" ");
            let p = format!("[{}]", words.iter().enumerate()
                .map(|(i, w)| format!("f{i}=\"{w}\"")).collect::<Vec<_>>().join(", "));
            prop_assert!(Pattern::parse(&p).unwrap().matches(&msg));
            let with_ellipsis = format!("[..., last=\"{}\"]", words.last().unwrap());
            prop_assert!(Pattern::parse(&with_ellipsis).unwrap().matches(&msg));
        }

        /// A term that occurs in the event matches; excluding it does not.
        #[test]
        fn terms_contain(before in "[a-z ]{0,10}", term in "[A-Z]{1,6}", after in "[a-z ]{0,10}") {
            let msg = format!("{before}{term}{after}");
            prop_assert!(Pattern::parse(&term).unwrap().matches(&msg));
            let excluded = format!("-{term}");
            prop_assert!(!Pattern::parse(&excluded).unwrap().matches(&msg));
        }
    }
}
