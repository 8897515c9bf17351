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

    /// `<tagSet>`, written even when empty (`<tagSet/>`): EC2 does so for internet and NAT
    /// gateways, DHCP option sets, route tables, network ACLs, peering connections, VPC endpoints and flow
    /// logs, whose SDK shapes then show `Tags: []`.
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

/// An element of a request document (Route 53's bodies): its local name, its text and its
/// child elements, in order. Read with quick-xml; a document type declaration, a second
/// root or anything malformed is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

/// Elements nested deeper than this are refused (no request needs more than 8).
const MAX_DEPTH: usize = 32;

impl Element {
    /// The root element of `body`; `None` when it is not one well-formed document.
    pub fn parse(body: &[u8]) -> Option<Element> {
        use quick_xml::Reader;
        use quick_xml::events::Event;

        let text = std::str::from_utf8(body).ok()?;
        let mut reader = Reader::from_str(text);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        let open = |name: &str| Element {
            name: name.to_owned(),
            ..Element::default()
        };
        loop {
            match reader.read_event().ok()? {
                Event::Start(e) => {
                    if (stack.is_empty() && root.is_some()) || stack.len() >= MAX_DEPTH {
                        return None;
                    }
                    stack.push(open(e.local_name().as_ref()));
                }
                Event::Empty(e) => {
                    let el = open(e.local_name().as_ref());
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None if root.is_none() => root = Some(el),
                        None => return None,
                    }
                }
                Event::End(_) => {
                    let el = stack.pop()?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::Text(t) => match stack.last_mut() {
                    Some(top) => top.text.push_str(&t.xml10_content()),
                    None if t.xml10_content().trim().is_empty() => {}
                    None => return None,
                },
                Event::CData(c) => {
                    let top = stack.last_mut()?;
                    top.text.push_str(&c.into_inner());
                }
                Event::GeneralRef(r) => {
                    let top = stack.last_mut()?;
                    let c = match r.resolve_char_ref().ok()? {
                        Some(c) => c,
                        None => match r.into_inner().as_ref() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            _ => return None,
                        },
                    };
                    top.text.push(c);
                }
                Event::DocType(_) => return None,
                Event::Eof => break,
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            }
        }
        if !stack.is_empty() {
            return None;
        }
        root
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.clone())
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
    fn reads_request_documents() {
        let doc = Element::parse(
            b"<?xml version=\"1.0\"?>\n<R xmlns=\"urn:x\"><A>1 &amp; 2</A><L><M>x</M><M/><M>&#65;</M></L></R>",
        )
        .unwrap();
        assert_eq!(doc.name, "R");
        assert_eq!(doc.text_of("A").as_deref(), Some("1 & 2"));
        let items: Vec<&str> = doc
            .child("L")
            .unwrap()
            .all("M")
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(items, ["x", "", "A"]);
        assert!(Element::parse(b"<a><b></a>").is_none());
        assert!(Element::parse(b"<a/><b/>").is_none());
        assert!(Element::parse(b"").is_none());
        assert!(Element::parse(b"<!DOCTYPE a><a/>").is_none());
    }

    proptest::proptest! {
        /// Whatever the body, reading it never panics.
        #[test]
        fn reading_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = Element::parse(&body);
        }
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
