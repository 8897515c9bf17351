//! The little XML S3 requests carry (CreateBucketConfiguration, Delete), read with
//! quick-xml, and escaping for the XML Fort writes.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::S3Error;

/// Escapes text for an XML element or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // carriage returns would be normalized away by a reader
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// The leaf elements of a document, in order: (path of local names joined by `/`, text).
/// Any malformation is S3's MalformedXML.
pub fn leaves(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::MalformedXml)?;
    let mut reader = Reader::from_str(text);
    // (local name, text, has a child element)
    let mut stack: Vec<(String, String, bool)> = Vec::new();
    let mut out = Vec::new();
    let path = |stack: &[(String, String, bool)], last: &str| {
        let mut p: Vec<&str> = stack.iter().map(|(n, _, _)| n.as_str()).collect();
        p.push(last);
        p.join("/")
    };
    let mut seen_root = false;
    loop {
        match reader.read_event().map_err(|_| S3Error::MalformedXml)? {
            Event::Start(e) => {
                if stack.is_empty() && seen_root {
                    return Err(S3Error::MalformedXml);
                }
                seen_root = true;
                if stack.len() > 16 {
                    return Err(S3Error::MalformedXml);
                }
                if let Some(top) = stack.last_mut() {
                    top.2 = true;
                }
                stack.push((e.local_name().as_ref().to_owned(), String::new(), false));
            }
            Event::Empty(e) => {
                if stack.is_empty() && seen_root {
                    return Err(S3Error::MalformedXml);
                }
                seen_root = true;
                if let Some(top) = stack.last_mut() {
                    top.2 = true;
                }
                out.push((path(&stack, e.local_name().as_ref()), String::new()));
            }
            Event::End(_) => {
                let (name, text, has_child) = stack.pop().ok_or(S3Error::MalformedXml)?;
                if !has_child {
                    out.push((path(&stack, &name), text));
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&t.xml10_content());
                } else if !t.xml10_content().trim().is_empty() {
                    return Err(S3Error::MalformedXml);
                }
            }
            Event::CData(c) => {
                let top = stack.last_mut().ok_or(S3Error::MalformedXml)?;
                top.1.push_str(&c.into_inner());
            }
            Event::GeneralRef(r) => {
                let top = stack.last_mut().ok_or(S3Error::MalformedXml)?;
                let c = match r.resolve_char_ref().map_err(|_| S3Error::MalformedXml)? {
                    Some(c) => c,
                    None => match r.into_inner().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(S3Error::MalformedXml),
                    },
                };
                top.1.push(c);
            }
            Event::DocType(_) => return Err(S3Error::MalformedXml),
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() || !seen_root {
        return Err(S3Error::MalformedXml);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_leaves_with_entities() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Object><Key>a &amp; b&#x2F;c</Key></Object>
  <Object><Key><![CDATA[<raw>]]></Key><VersionId/></Object>
  <Quiet>true</Quiet>
</Delete>"#;
        let l = leaves(doc).unwrap();
        assert_eq!(
            l,
            [
                ("Delete/Object/Key".to_owned(), "a & b/c".to_owned()),
                ("Delete/Object/Key".to_owned(), "<raw>".to_owned()),
                ("Delete/Object/VersionId".to_owned(), String::new()),
                ("Delete/Quiet".to_owned(), "true".to_owned()),
            ]
        );
    }

    #[test]
    fn refuses_malformed_documents() {
        for bad in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"<a>&bogus;</a>",
            b"<a/><b/>",
            b"text",
            b"\xff",
            b"<!DOCTYPE x [<!ENTITY e 'x'>]><a>&e;</a>",
        ] {
            assert_eq!(leaves(bad), Err(S3Error::MalformedXml), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any bytes: an answer, never a panic; escaped text reads back as itself.
        #[test]
        fn never_panics_and_round_trips(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                                        text in "[ -~é\n\t]{0,40}") {
            let _ = leaves(&body);
            let doc = format!("<a><b>{}</b></a>", escape(&text));
            proptest::prop_assert_eq!(leaves(doc.as_bytes()).unwrap(), vec![("a/b".to_owned(), text)]);
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a<&>\"'\rb"), "a&lt;&amp;&gt;&quot;&apos;&#13;b");
    }
}
