//! DNS messages (RFC 1035 §4): the header, questions and resource records the VPC
//! resolver ([`crate::dns`]) reads and writes.
//!
//! Hand-written, like the other views, so the fuzz targets cover it. Names are read
//! with compression pointers followed (RFC 1035 §4.1.4), each pointer strictly
//! backwards from the segment it interrupts and never into the header, so reading
//! always ends; names are written uncompressed, except that a record name equal to the
//! first question's name is written as a pointer to it (offset 12), as resolvers do.
//!
//! Contract (the one of [`crate::wire`]): after [`Packet::new_checked`] no accessor
//! panics, whatever the bytes; [`Repr::parse`] never panics on a checked packet;
//! [`Repr::emit`] never panics on a buffer of at least [`Repr::buffer_len`] bytes.

use super::{Error, Field, Result, read_u16, read_u32, write_u16, write_u32};
use std::fmt;
use std::net::Ipv4Addr;

mod field {
    use super::Field;
    pub const ID: Field = 0..2;
    pub const FLAGS: Field = 2..4;
    pub const QDCOUNT: Field = 4..6;
    pub const ANCOUNT: Field = 6..8;
    pub const NSCOUNT: Field = 8..10;
    pub const ARCOUNT: Field = 10..12;
    pub const BODY: usize = 12;
}

pub const HEADER_LEN: usize = field::BODY;
/// The resolver's port, UDP and TCP.
pub const PORT: u16 = 53;
/// Longest name on the wire, length octets included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;
/// A question's fixed part after the name: type and class.
const QUESTION_FIXED: usize = 4;
/// A record's fixed part after the name: type, class, TTL, data length.
const RECORD_FIXED: usize = 10;
/// The first question's name, as a compression pointer.
const POINTER_TO_QUESTION: [u8; 2] = [0xc0, 0x0c];

/// Flag bits of the header's second word (opcode and rcode have their own fields).
pub mod flags {
    pub const QR: u16 = 0x8000;
    pub const OPCODE: u16 = 0x7800;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const RCODE: u16 = 0x000f;
}

/// Record types used by name here.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const PTR: u16 = 12;
    pub const AAAA: u16 = 28;
    pub const OPT: u16 = 41;
}

/// Classes.
pub mod class {
    pub const IN: u16 = 1;
}

/// Response codes (RFC 1035 §4.1.1).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
}

/// A view of a DNS message (a UDP payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// The header must be present; sections are read on demand.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn id(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ID.start)
    }
    /// The whole second word: flags, opcode and rcode.
    pub fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS.start)
    }
    pub fn is_response(&self) -> bool {
        self.flags() & flags::QR != 0
    }
    pub fn opcode(&self) -> u8 {
        // 4 bits once shifted: the cast cannot truncate
        ((self.flags() & flags::OPCODE) >> 11).to_be_bytes()[1]
    }
    pub fn recursion_desired(&self) -> bool {
        self.flags() & flags::RD != 0
    }
    pub fn rcode(&self) -> u8 {
        (self.flags() & flags::RCODE).to_be_bytes()[1]
    }
    pub fn qdcount(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::QDCOUNT.start)
    }
    pub fn ancount(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ANCOUNT.start)
    }
    pub fn nscount(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NSCOUNT.start)
    }
    pub fn arcount(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ARCOUNT.start)
    }
    /// Everything after the header.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY..]
    }

    /// Reads the name at `at`: the name and the offset just after it (after the first
    /// pointer, if it is compressed).
    pub fn name_at(&self, at: usize) -> Result<(Name, usize)> {
        read_name(self.buffer.as_ref(), at)
    }

    /// The first question and the bytes it spans (from offset 12), if the message
    /// has one. Reads nothing else, so a query whose later sections are damaged still
    /// has its question.
    pub fn first_question(&self) -> Result<(Question, std::ops::Range<usize>)> {
        if self.qdcount() == 0 {
            return Err(Error);
        }
        let (q, end) = read_question(self.buffer.as_ref(), field::BODY)?;
        Ok((q, field::BODY..end))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_id(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::ID.start, v);
    }
    pub fn set_flags(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::FLAGS.start, v);
    }
    pub fn set_qdcount(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::QDCOUNT.start, v);
    }
    pub fn set_ancount(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::ANCOUNT.start, v);
    }
    pub fn set_nscount(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::NSCOUNT.start, v);
    }
    pub fn set_arcount(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::ARCOUNT.start, v);
    }
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::BODY..]
    }
}

/// A domain name in wire form, uncompressed: length-prefixed labels ending with the
/// root's zero. Always valid: labels of 1 to 63 bytes, at most 255 bytes in all.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Name {
    /// Without the final zero (the root is empty).
    wire: Vec<u8>,
}

impl Name {
    /// The root, `.`.
    pub fn root() -> Name {
        Name::default()
    }

    /// A name from its labels; each must be 1 to 63 bytes, the whole at most 255.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> Result<Name> {
        let mut n = Name::root();
        for l in labels {
            n.push(l)?;
        }
        Ok(n)
    }

    /// A name from dotted text; empty labels (`a..b`, a final dot) are skipped.
    pub fn from_dotted(s: &str) -> Result<Name> {
        Name::from_labels(s.split('.').filter(|l| !l.is_empty()).map(str::as_bytes))
    }

    /// Appends a label.
    pub fn push(&mut self, label: &[u8]) -> Result<()> {
        let len = u8::try_from(label.len()).map_err(|_| Error)?;
        if label.is_empty()
            || label.len() > MAX_LABEL_LEN
            || self.wire_len() + 1 + label.len() > MAX_NAME_LEN
        {
            return Err(Error);
        }
        self.wire.push(len);
        self.wire.extend_from_slice(label);
        Ok(())
    }

    /// Bytes on the wire, uncompressed, the root's zero included.
    pub fn wire_len(&self) -> usize {
        self.wire.len() + 1
    }

    /// The labels, first to last.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.wire }
    }

    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// Equal but for ASCII case (RFC 4343).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }

    /// Writes the name uncompressed at the start of `buf`; returns the length written.
    /// `buf` must hold [`Name::wire_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let n = self.wire.len();
        buf[..n].copy_from_slice(&self.wire);
        buf[n] = 0;
        n + 1
    }
}

/// Iterator over a [`Name`]'s labels.
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let (label, tail) = tail.split_at_checked(usize::from(len))?;
        self.rest = tail;
        Some(label)
    }
}

impl fmt::Display for Name {
    /// Dotted, with `.`, `\` and bytes outside printable ASCII escaped (`\DDD`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wire.is_empty() {
            return f.write_str(".");
        }
        for (i, l) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in l {
                match b {
                    b'.' | b'\\' => write!(f, "\\{}", char::from(b))?,
                    0x21..=0x7e => write!(f, "{}", char::from(b))?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Reads a name at `at` in `msg`, following compression pointers: each must point
/// before the segment it interrupts (so reading ends) and past the header.
fn read_name(msg: &[u8], at: usize) -> Result<(Name, usize)> {
    let mut name = Name::root();
    let mut pos = at;
    let mut segment = at;
    let mut end = None;
    loop {
        let len = *msg.get(pos).ok_or(Error)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(len)).ok_or(Error)?;
                name.push(label)?;
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(Error)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                if target < HEADER_LEN || target >= segment {
                    return Err(Error);
                }
                end.get_or_insert(pos + 2);
                segment = target;
                pos = target;
            }
            // 0x40 and 0x80 are reserved (RFC 6891 retired the extended labels)
            _ => return Err(Error),
        }
    }
}

fn read_question(msg: &[u8], at: usize) -> Result<(Question, usize)> {
    let (name, at) = read_name(msg, at)?;
    let fixed = msg.get(at..at + QUESTION_FIXED).ok_or(Error)?;
    let q = Question {
        name,
        qtype: read_u16(fixed, 0),
        qclass: read_u16(fixed, 2),
    };
    Ok((q, at + QUESTION_FIXED))
}

fn read_record(msg: &[u8], at: usize) -> Result<(Record, usize)> {
    let (name, at) = read_name(msg, at)?;
    let fixed = msg.get(at..at + RECORD_FIXED).ok_or(Error)?;
    let rtype = read_u16(fixed, 0);
    let class = read_u16(fixed, 2);
    let ttl = read_u32(fixed, 4);
    let len = usize::from(read_u16(fixed, 8));
    let start = at + RECORD_FIXED;
    let data = msg.get(start..start + len).ok_or(Error)?;
    let data = match rtype {
        rtype::A => {
            let [a, b, c, d] = *data else {
                return Err(Error);
            };
            RData::A(Ipv4Addr::new(a, b, c, d))
        }
        rtype::NS | rtype::CNAME | rtype::PTR => {
            // the name may be compressed; it must fill the data exactly
            let (n, after) = read_name(msg, start)?;
            if after != start + len {
                return Err(Error);
            }
            RData::Name(n)
        }
        _ => RData::Raw(data.to_vec()),
    };
    Ok((
        Record {
            name,
            rtype,
            class,
            ttl,
            data,
        },
        start + len,
    ))
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// A record's data: addresses and names understood, anything else kept as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    /// NS, CNAME, PTR.
    Name(Name),
    /// Other types; at most 65,535 bytes are emitted.
    Raw(Vec<u8>),
}

impl RData {
    fn len(&self) -> usize {
        match self {
            RData::A(_) => 4,
            RData::Name(n) => n.wire_len(),
            RData::Raw(b) => b.len().min(usize::from(u16::MAX)),
        }
    }
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

/// A DNS message as owned values. Each section holds at most 65,535 entries on emit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Repr {
    pub id: u16,
    /// QR, AA, TC, RD, RA and the Z/AD/CD bits ([`flags`]); opcode and rcode bits are
    /// ignored here, they have their own fields.
    pub flags: u16,
    /// 4 bits.
    pub opcode: u8,
    /// 4 bits.
    pub rcode: u8,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// Entries of a section that fit its 16-bit count.
fn capped<T>(v: &[T]) -> &[T] {
    &v[..v.len().min(usize::from(u16::MAX))]
}

fn count_of<T>(v: &[T]) -> u16 {
    u16::try_from(capped(v).len()).unwrap_or(u16::MAX)
}

impl Repr {
    /// Parses the whole message: every section its counts announce, nothing after.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        let msg = p.buffer.as_ref();
        let mut at = HEADER_LEN;
        let mut questions = Vec::new();
        for _ in 0..p.qdcount() {
            let (q, next) = read_question(msg, at)?;
            questions.push(q);
            at = next;
        }
        let mut sections: [Vec<Record>; 3] = Default::default();
        for (section, count) in sections
            .iter_mut()
            .zip([p.ancount(), p.nscount(), p.arcount()])
        {
            for _ in 0..count {
                let (r, next) = read_record(msg, at)?;
                section.push(r);
                at = next;
            }
        }
        if at != msg.len() {
            return Err(Error);
        }
        let [answers, authorities, additionals] = sections;
        let f = p.flags();
        Ok(Repr {
            id: p.id(),
            flags: f & !(flags::OPCODE | flags::RCODE),
            opcode: p.opcode(),
            rcode: p.rcode(),
            questions,
            answers,
            authorities,
            additionals,
        })
    }

    /// Whether a record's name is written as a pointer to the first question's.
    fn compressed(&self, name: &Name) -> bool {
        self.questions.first().is_some_and(|q| &q.name == name)
    }

    fn record_len(&self, r: &Record) -> usize {
        let name = if self.compressed(&r.name) {
            POINTER_TO_QUESTION.len()
        } else {
            r.name.wire_len()
        };
        name + RECORD_FIXED + r.data.len()
    }

    pub fn buffer_len(&self) -> usize {
        let q: usize = capped(&self.questions)
            .iter()
            .map(|q| q.name.wire_len() + QUESTION_FIXED)
            .sum();
        let r: usize = [&self.answers, &self.authorities, &self.additionals]
            .into_iter()
            .flat_map(|s| capped(s))
            .map(|r| self.record_len(r))
            .sum();
        HEADER_LEN + q + r
    }

    /// Writes the message; the packet's buffer must hold [`Repr::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_id(self.id);
        p.set_flags(
            (self.flags & !(flags::OPCODE | flags::RCODE))
                | (u16::from(self.opcode & 0x0f) << 11)
                | u16::from(self.rcode & 0x0f),
        );
        p.set_qdcount(count_of(&self.questions));
        p.set_ancount(count_of(&self.answers));
        p.set_nscount(count_of(&self.authorities));
        p.set_arcount(count_of(&self.additionals));
        let buf = p.buffer.as_mut();
        let mut at = HEADER_LEN;
        for q in capped(&self.questions) {
            at += q.name.emit(&mut buf[at..]);
            write_u16(buf, at, q.qtype);
            write_u16(buf, at + 2, q.qclass);
            at += QUESTION_FIXED;
        }
        for r in [&self.answers, &self.authorities, &self.additionals]
            .into_iter()
            .flat_map(|s| capped(s))
        {
            if self.compressed(&r.name) {
                buf[at..at + 2].copy_from_slice(&POINTER_TO_QUESTION);
                at += 2;
            } else {
                at += r.name.emit(&mut buf[at..]);
            }
            let len = r.data.len();
            write_u16(buf, at, r.rtype);
            write_u16(buf, at + 2, r.class);
            write_u32(buf, at + 4, r.ttl);
            // RData::len is at most 65,535 (a name is at most 255)
            write_u16(buf, at + 8, u16::try_from(len).unwrap_or(u16::MAX));
            at += RECORD_FIXED;
            match &r.data {
                RData::A(a) => buf[at..at + 4].copy_from_slice(&a.octets()),
                RData::Name(n) => {
                    n.emit(&mut buf[at..]);
                }
                RData::Raw(b) => buf[at..at + len].copy_from_slice(&b[..len]),
            }
            at += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // id 0x1234, RD, one question: ip-10-0-1-5.ec2.internal A IN
    static QUERY: [u8; 42] = [
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        11, b'i', b'p', b'-', b'1', b'0', b'-', b'0', b'-', b'1', b'-', b'5', //
        3, b'e', b'c', b'2', 8, b'i', b'n', b't', b'e', b'r', b'n', b'a', b'l', 0, //
        0x00, 0x01, 0x00, 0x01,
    ];

    // the answer: QR AA RD RA, one question, one answer by pointer, TTL 60, 10.0.1.5
    static ANSWER: [u8; 58] = [
        0x12, 0x34, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, //
        11, b'i', b'p', b'-', b'1', b'0', b'-', b'0', b'-', b'1', b'-', b'5', //
        3, b'e', b'c', b'2', 8, b'i', b'n', b't', b'e', b'r', b'n', b'a', b'l', 0, //
        0x00, 0x01, 0x00, 0x01, //
        0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 10, 0, 1, 5,
    ];

    fn name(s: &str) -> Name {
        Name::from_dotted(s).unwrap()
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&QUERY[..]).unwrap();
        assert_eq!(p.id(), 0x1234);
        assert!(!p.is_response());
        assert!(p.recursion_desired());
        assert_eq!((p.opcode(), p.rcode()), (0, 0));
        assert_eq!(
            (p.qdcount(), p.ancount(), p.nscount(), p.arcount()),
            (1, 0, 0, 0)
        );
        let (q, range) = p.first_question().unwrap();
        assert_eq!(q.name, name("ip-10-0-1-5.ec2.internal"));
        assert_eq!((q.qtype, q.qclass), (rtype::A, class::IN));
        assert_eq!(range, 12..42);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.questions, vec![q]);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn parse_answer_with_pointer() {
        let p = Packet::new_checked(&ANSWER[..]).unwrap();
        assert!(p.is_response());
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.rcode, rcode::NOERROR);
        assert_eq!(r.flags, flags::QR | flags::AA | flags::RD | flags::RA);
        assert_eq!(
            r.answers,
            vec![Record {
                name: name("ip-10-0-1-5.ec2.internal"),
                rtype: rtype::A,
                class: class::IN,
                ttl: 60,
                data: RData::A(Ipv4Addr::new(10, 0, 1, 5)),
            }]
        );
    }

    #[test]
    fn construct() {
        let r = Repr {
            id: 0x1234,
            flags: flags::QR | flags::AA | flags::RD | flags::RA,
            opcode: 0,
            rcode: rcode::NOERROR,
            questions: vec![Question {
                name: name("ip-10-0-1-5.ec2.internal"),
                qtype: rtype::A,
                qclass: class::IN,
            }],
            answers: vec![Record {
                name: name("ip-10-0-1-5.ec2.internal"),
                rtype: rtype::A,
                class: class::IN,
                ttl: 60,
                data: RData::A(Ipv4Addr::new(10, 0, 1, 5)),
            }],
            ..Repr::default()
        };
        assert_eq!(r.buffer_len(), ANSWER.len());
        let mut b = [0u8; 58];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, ANSWER);
    }

    #[test]
    fn ptr_round_trip_uncompressed_data() {
        let r = Repr {
            id: 7,
            flags: flags::QR,
            opcode: 0,
            rcode: 0,
            questions: vec![Question {
                name: name("5.1.0.10.in-addr.arpa"),
                qtype: rtype::PTR,
                qclass: class::IN,
            }],
            answers: vec![Record {
                name: name("5.1.0.10.in-addr.arpa"),
                rtype: rtype::PTR,
                class: class::IN,
                ttl: 60,
                data: RData::Name(name("ip-10-0-1-5.ec2.internal")),
            }],
            additionals: vec![Record {
                name: Name::root(),
                rtype: rtype::OPT,
                class: 1232,
                ttl: 0,
                data: RData::Raw(vec![]),
            }],
            ..Repr::default()
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(),
            r
        );
        // the OPT record: root name, type 41, class = payload size 1232, no data
        assert_eq!(
            &b[b.len() - 11..],
            &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn checks() {
        assert!(Packet::new_checked(&QUERY[..11]).is_err());
        // truncated question
        let p = Packet::new_checked(&QUERY[..40]).unwrap();
        assert!(p.first_question().is_err());
        assert!(Repr::parse(&p).is_err());
        // trailing bytes after the announced sections
        let mut long = QUERY.to_vec();
        long.push(0);
        assert!(Repr::parse(&Packet::new_checked(&long[..]).unwrap()).is_err());
        // no question announced
        let mut none = QUERY;
        none[5] = 0;
        assert!(
            Packet::new_checked(&none[..])
                .unwrap()
                .first_question()
                .is_err()
        );
        // a label with the reserved 0x40 bits
        let mut ext = QUERY;
        ext[12] = 0x41;
        assert!(
            Packet::new_checked(&ext[..])
                .unwrap()
                .first_question()
                .is_err()
        );
        // an A record of 3 bytes
        let mut short_a = ANSWER.to_vec();
        short_a[53] = 3;
        short_a.pop();
        assert!(Repr::parse(&Packet::new_checked(&short_a[..]).unwrap()).is_err());
    }

    #[test]
    fn pointers_go_backwards_only() {
        // a question whose name is a pointer to itself, to the header, and forwards
        for target in [0x0c, 0x00, 0x20] {
            let mut m = QUERY[..12].to_vec();
            m.extend_from_slice(&[0xc0, target, 0, 1, 0, 1]);
            let p = Packet::new_checked(&m[..]).unwrap();
            assert!(p.first_question().is_err(), "pointer to {target}");
        }
        // two names pointing at each other never loop
        let mut m = ANSWER.to_vec();
        m[42..44].copy_from_slice(&[0xc0, 0x2a]);
        assert!(Repr::parse(&Packet::new_checked(&m[..]).unwrap()).is_err());
    }

    #[test]
    fn names() {
        let n = name("Ip-10-0-1-5.EC2.internal.");
        assert_eq!(n.label_count(), 3);
        assert!(n.eq_ignore_case(&name("ip-10-0-1-5.ec2.internal")));
        assert_eq!(n.to_string(), "Ip-10-0-1-5.EC2.internal");
        assert_eq!(Name::root().to_string(), ".");
        assert_eq!(
            Name::from_labels([&b"a.b"[..], b"\x01"])
                .unwrap()
                .to_string(),
            "a\\.b.\\001"
        );
        assert!(Name::from_dotted(&"a".repeat(64)).is_err());
        // 127 labels of one byte: 255 bytes with the root; one more is too long
        let max = vec!["a"; 127].join(".");
        assert_eq!(name(&max).wire_len(), 255);
        assert!(Name::from_dotted(&format!("{max}.a")).is_err());
    }
}
