//! A small client of strongSwan's vici protocol (the versatile IKE control interface),
//! enough for the edge to load its tunnels into charon and read their state.
//!
//! The protocol (strongSwan's `src/libcharon/plugins/vici/README.md`): over a stream
//! socket, each packet is a 32-bit big-endian length and a payload; the payload is a
//! type byte, a name for commands and events (a length byte and the name), then a
//! message: a sequence of elements, each a type byte — section start (a name), section
//! end, key-value (a name, a 16-bit length, the value), list start (a name), list item
//! (a 16-bit length, the value), list end. A command answers one `CMD_RESPONSE`; a
//! streamed command (`list-sas`) answers with events of a name registered beforehand,
//! then its response.
//!
//! Why our own: no Rust vici client is packaged in Debian, and the one on crates.io
//! (rsvici) is async-only with one maintainer; the protocol is a page long and this
//! module encodes and decodes it with unit tests against the README's example.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const CMD_REQUEST: u8 = 0;
const CMD_RESPONSE: u8 = 1;
const CMD_UNKNOWN: u8 = 2;
const EVENT_REGISTER: u8 = 3;
const EVENT_UNREGISTER: u8 = 4;
const EVENT_CONFIRM: u8 = 5;
const EVENT_UNKNOWN: u8 = 6;
const EVENT: u8 = 7;

const SECTION_START: u8 = 1;
const SECTION_END: u8 = 2;
const KEY_VALUE: u8 = 3;
const LIST_START: u8 = 4;
const LIST_ITEM: u8 = 5;
const LIST_END: u8 = 6;

/// A vici message: named values, lists and sections, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message(pub Vec<(String, Value)>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    List(Vec<String>),
    Section(Message),
}

impl Message {
    pub fn new() -> Message {
        Message::default()
    }

    pub fn text(mut self, key: &str, value: impl ToString) -> Message {
        self.0
            .push((key.to_owned(), Value::Text(value.to_string())));
        self
    }

    pub fn list<S: ToString>(mut self, key: &str, values: impl IntoIterator<Item = S>) -> Message {
        let items = values.into_iter().map(|v| v.to_string()).collect();
        self.0.push((key.to_owned(), Value::List(items)));
        self
    }

    pub fn section(mut self, key: &str, m: Message) -> Message {
        self.0.push((key.to_owned(), Value::Section(m)));
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_text(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn get_section(&self, key: &str) -> Option<&Message> {
        match self.get(key)? {
            Value::Section(m) => Some(m),
            _ => None,
        }
    }

    /// The sections in order (a `list-sa` event holds one per IKE SA, by name).
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Message)> {
        self.0.iter().filter_map(|(k, v)| match v {
            Value::Section(m) => Some((k.as_str(), m)),
            _ => None,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> io::Result<()> {
        for (k, v) in &self.0 {
            match v {
                Value::Text(t) => {
                    out.push(KEY_VALUE);
                    name(out, k)?;
                    value(out, t.as_bytes())?;
                }
                Value::List(items) => {
                    out.push(LIST_START);
                    name(out, k)?;
                    for i in items {
                        out.push(LIST_ITEM);
                        value(out, i.as_bytes())?;
                    }
                    out.push(LIST_END);
                }
                Value::Section(m) => {
                    out.push(SECTION_START);
                    name(out, k)?;
                    m.encode(out)?;
                    out.push(SECTION_END);
                }
            }
        }
        Ok(())
    }

    pub fn decode(mut b: &[u8]) -> io::Result<Message> {
        let m = decode_elements(&mut b, false)?;
        if !b.is_empty() {
            return Err(bad("bytes after the message"));
        }
        Ok(m)
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("vici: {what}"))
}

fn name(out: &mut Vec<u8>, n: &str) -> io::Result<()> {
    let len = u8::try_from(n.len()).map_err(|_| bad("a name over 255 bytes"))?;
    out.push(len);
    out.extend_from_slice(n.as_bytes());
    Ok(())
}

fn value(out: &mut Vec<u8>, v: &[u8]) -> io::Result<()> {
    let len = u16::try_from(v.len()).map_err(|_| bad("a value over 65535 bytes"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(v);
    Ok(())
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if b.len() < n {
        return Err(bad("truncated"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn take_name(b: &mut &[u8]) -> io::Result<String> {
    let len = usize::from(take(b, 1)?[0]);
    Ok(String::from_utf8_lossy(take(b, len)?).into_owned())
}

fn take_value(b: &mut &[u8]) -> io::Result<String> {
    let l = take(b, 2)?;
    let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
    Ok(String::from_utf8_lossy(take(b, len)?).into_owned())
}

fn decode_elements(b: &mut &[u8], nested: bool) -> io::Result<Message> {
    let mut m = Message::new();
    while let Some((&kind, _)) = b.split_first() {
        *b = &b[1..];
        match kind {
            SECTION_START => {
                let k = take_name(b)?;
                let inner = decode_elements(b, true)?;
                m.0.push((k, Value::Section(inner)));
            }
            SECTION_END if nested => return Ok(m),
            KEY_VALUE => {
                let k = take_name(b)?;
                let v = take_value(b)?;
                m.0.push((k, Value::Text(v)));
            }
            LIST_START => {
                let k = take_name(b)?;
                let mut items = Vec::new();
                loop {
                    match take(b, 1)?[0] {
                        LIST_ITEM => items.push(take_value(b)?),
                        LIST_END => break,
                        _ => return Err(bad("a list holds items only")),
                    }
                }
                m.0.push((k, Value::List(items)));
            }
            _ => return Err(bad("unknown element")),
        }
    }
    if nested {
        return Err(bad("a section is not closed"));
    }
    Ok(m)
}

/// A session with one charon.
pub struct Client {
    stream: UnixStream,
}

impl Client {
    pub fn connect(socket: &Path) -> io::Result<Client> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Client { stream })
    }

    fn send(&mut self, kind: u8, name: Option<&str>, msg: Option<&Message>) -> io::Result<()> {
        let mut payload = vec![kind];
        if let Some(n) = name {
            self::name(&mut payload, n)?;
        }
        if let Some(m) = msg {
            m.encode(&mut payload)?;
        }
        let len = u32::try_from(payload.len()).map_err(|_| bad("packet too large"))?;
        self.stream.write_all(&len.to_be_bytes())?;
        self.stream.write_all(&payload)
    }

    /// The next packet: (type, name for events, message).
    fn receive(&mut self) -> io::Result<(u8, Option<String>, Message)> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = usize::try_from(u32::from_be_bytes(len)).map_err(|_| bad("length"))?;
        if len == 0 || len > 1 << 24 {
            return Err(bad("a packet's length"));
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf)?;
        let kind = buf[0];
        let mut rest = &buf[1..];
        let name = if kind == EVENT {
            Some(take_name(&mut rest)?)
        } else {
            None
        };
        let msg = match kind {
            CMD_RESPONSE | EVENT => Message::decode(rest)?,
            _ => Message::new(),
        };
        Ok((kind, name, msg))
    }

    /// A command and its answer; a `success = no` answer is an error with its message.
    pub fn call(&mut self, command: &str, msg: &Message) -> io::Result<Message> {
        self.send(CMD_REQUEST, Some(command), Some(msg))?;
        loop {
            match self.receive()? {
                (CMD_RESPONSE, _, m) => return check(command, m),
                (CMD_UNKNOWN, _, _) => return Err(bad(&format!("unknown command {command}"))),
                (EVENT, _, _) => continue,
                _ => return Err(bad("unexpected packet")),
            }
        }
    }

    /// A streamed command: the events named `event` it sends, then its answer.
    pub fn stream(
        &mut self,
        command: &str,
        event: &str,
        msg: &Message,
    ) -> io::Result<Vec<Message>> {
        self.send(EVENT_REGISTER, Some(event), None)?;
        match self.receive()? {
            (EVENT_CONFIRM, _, _) => {}
            (EVENT_UNKNOWN, _, _) => return Err(bad(&format!("unknown event {event}"))),
            _ => return Err(bad("unexpected packet")),
        }
        self.send(CMD_REQUEST, Some(command), Some(msg))?;
        let mut events = Vec::new();
        let answer = loop {
            match self.receive()? {
                (EVENT, Some(n), m) if n == event => events.push(m),
                (EVENT, _, _) => {}
                (CMD_RESPONSE, _, m) => break m,
                (CMD_UNKNOWN, _, _) => return Err(bad(&format!("unknown command {command}"))),
                _ => return Err(bad("unexpected packet")),
            }
        };
        self.send(EVENT_UNREGISTER, Some(event), None)?;
        let _ = self.receive()?;
        check(command, answer)?;
        Ok(events)
    }
}

fn check(command: &str, m: Message) -> io::Result<Message> {
    if m.get_text("success") == Some("no") {
        let why = m.get_text("errmsg").unwrap_or("no reason given");
        return Err(io::Error::other(format!("vici {command}: {why}")));
    }
    Ok(m)
}

/// The IKE SAs `list-sas` described: name → (state, whether a CHILD_SA is installed).
pub fn tunnel_states(events: &[Message]) -> BTreeMap<String, (String, bool)> {
    let mut out = BTreeMap::new();
    for e in events {
        for (name, sa) in e.sections() {
            let installed = sa.get_section("child-sas").is_some_and(|children| {
                children
                    .sections()
                    .any(|(_, c)| c.get_text("state") == Some("INSTALLED"))
            });
            let state = sa.get_text("state").unwrap_or("").to_owned();
            let entry = out.entry(name.to_owned()).or_insert((String::new(), false));
            // several SAs of one connection (a rekeying): the best counts
            if state == "ESTABLISHED" || entry.0.is_empty() {
                entry.0 = state;
            }
            entry.1 |= installed;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_readmes_example() {
        // key1 = value1, section1 { sub-section { key2 = value2 }, list1 = [item1, item2] }
        let m = Message::new().text("key1", "value1").section(
            "section1",
            Message::new()
                .section("sub-section", Message::new().text("key2", "value2"))
                .list("list1", ["item1", "item2"]),
        );
        let mut b = Vec::new();
        m.encode(&mut b).unwrap();
        let expected: Vec<u8> = [
            &[3, 4][..],
            b"key1",
            &[0, 6],
            b"value1",
            &[1, 8],
            b"section1",
            &[1, 11],
            b"sub-section",
            &[3, 4],
            b"key2",
            &[0, 6],
            b"value2",
            &[2, 4, 5],
            b"list1",
            &[5, 0, 5],
            b"item1",
            &[5, 0, 5],
            b"item2",
            &[6, 2],
        ]
        .concat();
        assert_eq!(b, expected);
        assert_eq!(Message::decode(&b).unwrap(), m);
    }

    #[test]
    fn refuses_broken_messages() {
        for b in [
            &[1u8, 3, b'a'][..],
            &[3, 1, b'k', 0, 9, b'v'],
            &[4, 1, b'l', 3],
            &[9],
        ] {
            assert!(Message::decode(b).is_err(), "{b:?}");
        }
    }

    #[test]
    fn reads_tunnel_states() {
        let child = Message::new().text("state", "INSTALLED");
        let e = Message::new().section(
            "tunnel1",
            Message::new()
                .text("state", "ESTABLISHED")
                .section("child-sas", Message::new().section("tunnel1-1", child)),
        );
        let e2 = Message::new().section("tunnel2", Message::new().text("state", "CONNECTING"));
        let s = tunnel_states(&[e, e2]);
        assert_eq!(s["tunnel1"], ("ESTABLISHED".to_owned(), true));
        assert_eq!(s["tunnel2"], ("CONNECTING".to_owned(), false));
    }
}
