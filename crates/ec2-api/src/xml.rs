//! Writing EC2's XML: `<xxxResponse xmlns=...>`, `<xxxSet><item>…</item></xxxSet>`, and
//! the error document. Hand-written because EC2's shapes are irregular and exactness is
//! the point.

use std::fmt::{Display, Write};

pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The body of a response, element by element.
#[derive(Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<name>value</name>`, with the value escaped.
    pub fn leaf(&mut self, name: &str, value: impl Display) -> &mut Self {
        let _ = write!(self.buf, "<{name}>");
        escape_into(&mut self.buf, &value.to_string());
        let _ = write!(self.buf, "</{name}>");
        self
    }

    /// A leaf only when there is a value.
    pub fn opt<V: Display>(&mut self, name: &str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.leaf(name, v);
        }
        self
    }

    /// `<name>…</name>` around what `f` writes.
    pub fn el(&mut self, name: &str, f: impl FnOnce(&mut Xml)) -> &mut Self {
        let _ = write!(self.buf, "<{name}>");
        f(self);
        let _ = write!(self.buf, "</{name}>");
        self
    }

    /// `<name><item>…</item>…</name>`, or `<name/>` when empty, as EC2 writes lists.
    pub fn set<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Xml, T),
    ) -> &mut Self {
        let mut items = items.into_iter().peekable();
        if items.peek().is_none() {
            let _ = write!(self.buf, "<{name}/>");
            return self;
        }
        let _ = write!(self.buf, "<{name}>");
        for item in items {
            self.buf.push_str("<item>");
            f(self, item);
            self.buf.push_str("</item>");
        }
        let _ = write!(self.buf, "</{name}>");
        self
    }

    /// A list of strings: `<name><item>a</item></name>`.
    pub fn strings<S: Display>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        self.set(name, items, |w, s| {
            escape_into(&mut w.buf, &s.to_string());
        })
    }

    /// `<tagSet>` of key/value items; left out when there are none, as EC2 does (SDKs
    /// then have no `Tags` at all, and code written against AWS checks for that).
    pub fn tags<'a>(
        &mut self,
        tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Self {
        // The caller's tags first, then those EC2 adds itself (`aws:…`, e.g. a launch
        // template's id and version).
        let (mut tags, system): (Vec<_>, Vec<_>) =
            tags.into_iter().partition(|(k, _)| !k.starts_with("aws:"));
        tags.extend(system);
        if tags.is_empty() {
            return self;
        }
        self.set("tagSet", tags, |w, (k, v)| {
            w.leaf("key", k).leaf("value", v);
        })
    }

    /// `<tagSet>`, written even when empty (`<tagSet/>`): EC2 does so for route tables,
    /// network ACLs and peering connections, whose SDK shapes then show `Tags: []`.
    pub fn tag_set<'a>(
        &mut self,
        tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Self {
        self.set("tagSet", tags, |w, (k, v)| {
            w.leaf("key", k).leaf("value", v);
        })
    }

    /// The whole response document for `action`.
    pub fn into_response(self, action: &str, request_id: &str) -> String {
        let mut out = String::with_capacity(self.buf.len() + 200);
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{NAMESPACE}\"><requestId>{request_id}</requestId>{}</{action}Response>",
            self.buf
        );
        out
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }
}

/// EC2's error document (root `Response`, `RequestID` with a capital D).
pub fn error_document(code: &str, message: &str, request_id: &str) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>");
    escape_into(&mut out, code);
    out.push_str("</Code><Message>");
    escape_into(&mut out, message);
    let _ = write!(
        out,
        "</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
    );
    out
}

/// `s` as XML text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are dropped, never emitted raw.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sets_and_escapes() {
        let mut w = Xml::new();
        w.el("vpc", |w| {
            w.leaf("vpcId", "vpc-1")
                .tags([(&"a<b".to_string(), &"x&y".to_string())])
                .tags(std::iter::empty())
                .strings("empty", Vec::<String>::new());
        });
        assert_eq!(
            w.as_str(),
            "<vpc><vpcId>vpc-1</vpcId><tagSet><item><key>a&lt;b</key><value>x&amp;y</value></item></tagSet><empty/></vpc>"
        );
        let doc = w.into_response("CreateVpc", "r-1");
        assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateVpcResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><vpc>"));
    }

    #[test]
    fn error_shape() {
        assert_eq!(
            error_document(
                "InvalidVpc.Range",
                "The CIDR '10.0.0.0/8' is invalid.",
                "id"
            ),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidVpc.Range</Code><Message>The CIDR &apos;10.0.0.0/8&apos; is invalid.</Message></Error></Errors><RequestID>id</RequestID></Response>"
        );
    }
}
