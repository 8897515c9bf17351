//! The VPC resolver (VPC base + 2 and 169.254.169.253, UDP 53), answered by the
//! instance's own host, beside the DHCP responder.
//!
//! It knows the VPC's own names, as AWS's resolver does: `ip-A-B-C-D.DOMAIN` (or the
//! bare `ip-A-B-C-D`) → A.B.C.D and the reverse (`D.C.B.A.in-addr.arpa` → PTR) for
//! every private address V2P maps in the VPC; `DOMAIN` is the VPC's DHCP option
//! `domain-name`, `ec2.internal` by default. Every other name gets NXDOMAIN at once: no
//! query ever leaves for a real resolver, and nothing inside an instance waits for a
//! timeout. A message that is a query but not one question gets FORMERR; one that is
//! no query at all (shorter than a header, or a response) is dropped, as is DNS over
//! TCP (`DropReason::DnsUnanswered`).
//!
//! The query's UDP checksum is not verified: with TAP offloads on, an instance's
//! kernel hands over frames whose checksum it left to the device. The answer's is
//! complete.

use crate::packet::Meta;
use crate::verdict::DropReason;
use crate::vpc::Vpc;
use crate::wire::dns::{self, Name, Question, RData, Record, Repr, class, flags, rcode, rtype};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{ip_proto, ipv4, udp};
use std::net::Ipv4Addr;

/// The resolver's link-local address.
pub const LINK_LOCAL: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 253);
/// A VPC's domain when its DHCP options name none.
pub const DEFAULT_DOMAIN: &str = "ec2.internal";
/// TTL of every answer, in seconds.
pub const TTL: u32 = 60;

/// What the resolver knows about one VPC.
pub trait Zone {
    /// Is this a private address of the VPC?
    fn has(&self, ip: Ipv4Addr) -> bool;
    /// The VPC's domain, e.g. `ec2.internal`.
    fn domain(&self) -> &str;
}

impl Zone for Vpc {
    fn has(&self, ip: Ipv4Addr) -> bool {
        self.v2p.get(ip).is_some()
    }
    fn domain(&self) -> &str {
        self.dhcp.domain_name.as_deref().unwrap_or(DEFAULT_DOMAIN)
    }
}

/// Is this packet for the resolver: to the VPC's resolver address (`vpc_dns`, base + 2)
/// or 169.254.169.253, TCP or UDP, port 53?
pub fn is_dns(vpc_dns: Ipv4Addr, m: &Meta) -> bool {
    let dst = m.tuple.dst;
    let l4 = m.tuple.protocol == ip_proto::UDP || m.tuple.protocol == ip_proto::TCP;
    (dst == vpc_dns || dst == LINK_LOCAL) && l4 && m.tuple.dst_port == dns::PORT
}

/// `ip-10-0-1-5` → 10.0.1.5 (case-insensitive).
fn host_label_ip(label: &[u8]) -> Option<Ipv4Addr> {
    let label = std::str::from_utf8(label).ok()?.to_ascii_lowercase();
    let rest = label.strip_prefix("ip-")?;
    let mut parts = rest.split('-').map(|p| p.parse::<u8>().ok());
    let ip = Ipv4Addr::new(
        parts.next()??,
        parts.next()??,
        parts.next()??,
        parts.next()??,
    );
    parts.next().is_none().then_some(ip)
}

fn octet(label: &[u8]) -> Option<u8> {
    std::str::from_utf8(label).ok()?.parse().ok()
}

/// The VPC's name for `ip`: `ip-A-B-C-D.DOMAIN` (labels longer than 63 bytes cut).
fn host_name(ip: Ipv4Addr, domain: &str) -> Option<Name> {
    let [a, b, c, d] = ip.octets();
    let host = format!("ip-{a}-{b}-{c}-{d}");
    let labels = std::iter::once(host.as_bytes()).chain(
        domain
            .split('.')
            .filter(|l| !l.is_empty())
            .map(|l| &l.as_bytes()[..l.len().min(dns::MAX_LABEL_LEN)]),
    );
    Name::from_labels(labels).ok()
}

/// Whether the question names an address of the zone, and the data to answer it with
/// (none for a known name asked of another type).
fn lookup(q: &Question, zone: &(impl Zone + ?Sized)) -> (bool, Option<RData>) {
    if q.qclass != class::IN {
        return (false, None);
    }
    let labels: Vec<&[u8]> = q.name.labels().collect();
    // forward: ip-a-b-c-d[.domain]
    if let Some(ip) = labels.first().and_then(|l| host_label_ip(l)) {
        let mut domain = zone.domain().split('.').filter(|l| !l.is_empty());
        let in_domain = labels.len() == 1
            || (labels[1..].iter().all(|l| {
                domain
                    .next()
                    .is_some_and(|d| l.eq_ignore_ascii_case(d.as_bytes()))
            }) && domain.next().is_none());
        if in_domain && zone.has(ip) {
            return (true, (q.qtype == rtype::A).then_some(RData::A(ip)));
        }
    }
    // reverse: d.c.b.a.in-addr.arpa
    if let [d, c, b, a, inaddr, arpa] = labels[..]
        && inaddr.eq_ignore_ascii_case(b"in-addr")
        && arpa.eq_ignore_ascii_case(b"arpa")
        && let (Some(a), Some(b), Some(c), Some(d)) = (octet(a), octet(b), octet(c), octet(d))
    {
        let ip = Ipv4Addr::new(a, b, c, d);
        if zone.has(ip) {
            let data = (q.qtype == rtype::PTR)
                .then(|| host_name(ip, zone.domain()).map(RData::Name))
                .flatten();
            return (true, data);
        }
    }
    (false, None)
}

/// The answer to one DNS message (a UDP payload); `None` for what is not a query at
/// all (shorter than a header, or a response), which gets no answer.
pub fn answer(query: &[u8], zone: &(impl Zone + ?Sized)) -> Option<Repr> {
    let p = dns::Packet::new_checked(query).ok()?;
    if p.is_response() {
        return None;
    }
    let mut reply = Repr {
        id: p.id(),
        flags: flags::QR | flags::AA | flags::RA | (p.flags() & flags::RD),
        opcode: 0,
        rcode: rcode::NOERROR,
        ..Repr::default()
    };
    let question = (p.qdcount() == 1)
        .then(|| p.first_question().ok())
        .flatten();
    let Some((q, _)) = question else {
        reply.rcode = rcode::FORMERR;
        return Some(reply);
    };
    let (known, data) = lookup(&q, zone);
    if let (true, Some(data)) = (known, data) {
        reply.answers.push(Record {
            name: q.name.clone(),
            rtype: q.qtype,
            class: class::IN,
            ttl: TTL,
            data,
        });
    }
    if !known {
        reply.rcode = rcode::NXDOMAIN;
    }
    reply.questions.push(q);
    Some(reply)
}

/// Answers the DNS query `frame` (Ethernet/IPv4/UDP, sent by an instance to the
/// resolver) into `out`: the reply frame, to be sent back to the asking port. Returns
/// the answer's rcode.
pub fn respond(
    zone: &(impl Zone + ?Sized),
    frame: &[u8],
    out: &mut Vec<u8>,
) -> Result<u8, DropReason> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
    let ip = ipv4::Packet::new_checked(eth.payload()).map_err(|_| DropReason::Malformed)?;
    if ip.protocol() != ip_proto::UDP {
        return Err(DropReason::DnsUnanswered);
    }
    let u = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::Malformed)?;
    let reply = answer(u.payload(), zone).ok_or(DropReason::DnsUnanswered)?;
    let dlen = reply.buffer_len();
    let udp_len = u16::try_from(udp::HEADER_LEN + dlen)
        .ok()
        .filter(|&l| usize::from(l) <= ipv4::MAX_PAYLOAD)
        .ok_or(DropReason::DnsUnanswered)?;
    out.clear();
    out.resize(
        ethernet::HEADER_LEN + ipv4::HEADER_LEN + usize::from(udp_len),
        0,
    );
    let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
    ethernet::Repr {
        src: eth.dst(),
        dst: eth.src(),
        ethertype: ethertype::IPV4,
    }
    .emit(&mut f);
    let mut ipp = ipv4::Packet::new_unchecked(f.payload_mut());
    ipv4::Repr {
        src: ip.dst(),
        dst: ip.src(),
        protocol: ip_proto::UDP,
        payload_len: usize::from(udp_len),
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut ipp);
    let mut up = udp::Packet::new_unchecked(ipp.payload_mut());
    up.set_len(udp_len);
    reply.emit(&mut dns::Packet::new_unchecked(up.payload_mut()));
    udp::Repr {
        src_port: u.dst_port(),
        dst_port: u.src_port(),
        payload_len: dlen,
    }
    .emit(&mut up, ip.dst(), ip.src(), true);
    Ok(reply.rcode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::udp_frame;
    use crate::wire::MacAddr;
    use crate::wire::checksum;
    use proptest::prelude::*;

    struct Z(&'static str);
    impl Zone for Z {
        fn has(&self, ip: Ipv4Addr) -> bool {
            ip == Ipv4Addr::new(10, 0, 1, 5) || ip == Ipv4Addr::new(10, 0, 200, 1)
        }
        fn domain(&self) -> &str {
            self.0
        }
    }
    const EC2: Z = Z("ec2.internal");

    fn write_name(out: &mut Vec<u8>, name: &str) {
        for l in name.split('.').filter(|l| !l.is_empty()) {
            out.push(u8::try_from(l.len().min(63)).unwrap());
            out.extend_from_slice(&l.as_bytes()[..l.len().min(63)]);
        }
        out.push(0);
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        write_name(&mut q, name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&class::IN.to_be_bytes());
        q
    }

    fn bytes(r: &Repr) -> Vec<u8> {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut dns::Packet::new_unchecked(&mut b[..]));
        b
    }

    fn answered(q: &[u8], z: &Z) -> Vec<u8> {
        bytes(&answer(q, z).expect("a query"))
    }

    /// The agent's resolver before it moved here (`crates/agent/src/dns.rs`,
    /// `answer`), kept as the oracle: the engine must answer byte for byte the same.
    mod agent {
        use super::Zone;
        use std::net::Ipv4Addr;

        fn read_name(msg: &[u8], mut at: usize) -> Option<(Vec<String>, usize)> {
            let mut labels = Vec::new();
            loop {
                let len = usize::from(*msg.get(at)?);
                at += 1;
                if len == 0 {
                    return Some((labels, at));
                }
                if len & 0xc0 != 0 || labels.len() > 127 {
                    return None;
                }
                let l = msg.get(at..at + len)?;
                labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
                at += len;
            }
        }

        fn host_label_ip(label: &str) -> Option<Ipv4Addr> {
            let rest = label.strip_prefix("ip-")?;
            let parts: Vec<u8> = rest
                .split('-')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let [a, b, c, d] = parts[..] else { return None };
            Some(Ipv4Addr::new(a, b, c, d))
        }

        pub fn answer(query: &[u8], zone: &dyn Zone) -> Option<Vec<u8>> {
            if query.len() < 12 || query[2] & 0x80 != 0 {
                return None;
            }
            let rd = u16::from(query[2] & 0x01) << 8;
            let qdcount = u16::from_be_bytes([query[4], query[5]]);
            let mut out = Vec::with_capacity(512);
            out.extend_from_slice(&query[0..2]);
            let header = |rcode: u16, an: u16, qd: u16| {
                let flags: u16 = 0x8000 | 0x0400 | rd | 0x0080 | rcode;
                let mut h = Vec::with_capacity(10);
                h.extend_from_slice(&flags.to_be_bytes());
                h.extend_from_slice(&qd.to_be_bytes());
                h.extend_from_slice(&an.to_be_bytes());
                h.extend_from_slice(&[0, 0, 0, 0]);
                h
            };
            let parsed = (qdcount == 1)
                .then(|| read_name(query, 12))
                .flatten()
                .and_then(|(labels, at)| {
                    let t = query.get(at..at + 4)?;
                    Some((
                        labels,
                        at + 4,
                        u16::from_be_bytes([t[0], t[1]]),
                        u16::from_be_bytes([t[2], t[3]]),
                    ))
                });
            let Some((labels, end, qtype, qclass)) = parsed else {
                out.extend_from_slice(&header(1, 0, 0));
                return Some(out);
            };
            let question = &query[12..end];
            let domain: Vec<String> = zone
                .domain()
                .split('.')
                .filter(|l| !l.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            let mut rdata: Option<Vec<u8>> = None;
            let mut known = false;
            if qclass == 1 {
                if let Some(ip) = labels.first().and_then(|l| host_label_ip(l))
                    && (labels.len() == 1 || labels[1..] == domain[..])
                    && zone.has(ip)
                {
                    known = true;
                    if qtype == 1 {
                        rdata = Some(ip.octets().to_vec());
                    }
                }
                if labels.len() == 6 && labels[4] == "in-addr" && labels[5] == "arpa" {
                    let o: Option<Vec<u8>> =
                        labels[..4].iter().rev().map(|l| l.parse().ok()).collect();
                    if let Some(o) = o {
                        let ip = Ipv4Addr::new(o[0], o[1], o[2], o[3]);
                        if zone.has(ip) {
                            known = true;
                            if qtype == 12 {
                                let [a, b, c, d] = ip.octets();
                                let mut name = Vec::new();
                                super::write_name(
                                    &mut name,
                                    &format!("ip-{a}-{b}-{c}-{d}.{}", zone.domain()),
                                );
                                rdata = Some(name);
                            }
                        }
                    }
                }
            }
            match (known, rdata) {
                (true, Some(r)) => {
                    out.extend_from_slice(&header(0, 1, 1));
                    out.extend_from_slice(question);
                    out.extend_from_slice(&[0xc0, 0x0c]);
                    out.extend_from_slice(&qtype.to_be_bytes());
                    out.extend_from_slice(&1u16.to_be_bytes());
                    out.extend_from_slice(&60u32.to_be_bytes());
                    out.extend_from_slice(&u16::try_from(r.len()).unwrap().to_be_bytes());
                    out.extend_from_slice(&r);
                }
                (true, None) => {
                    out.extend_from_slice(&header(0, 0, 1));
                    out.extend_from_slice(question);
                }
                (false, _) => {
                    out.extend_from_slice(&header(3, 0, 1));
                    out.extend_from_slice(question);
                }
            }
            Some(out)
        }
    }

    #[test]
    fn forward_and_reverse_names_of_the_vpc() {
        let a = answered(&query("ip-10-0-1-5.ec2.internal", rtype::A), &EC2);
        let mut expect = vec![0x12, 0x34, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        write_name(&mut expect, "ip-10-0-1-5.ec2.internal");
        expect.extend_from_slice(&[0, 1, 0, 1]);
        expect.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 1, 5]);
        assert_eq!(a, expect);

        // the bare host name, in any case
        let a = answered(&query("IP-10-0-1-5", rtype::A), &EC2);
        assert_eq!(&a[a.len() - 4..], &[10, 0, 1, 5]);

        let p = answered(&query("5.1.0.10.in-addr.arpa", rtype::PTR), &EC2);
        assert_eq!(u16::from_be_bytes([p[6], p[7]]), 1);
        let mut name = Vec::new();
        write_name(&mut name, "ip-10-0-1-5.ec2.internal");
        assert!(p.ends_with(&name));

        // the VPC's own domain from its DHCP options
        let corp = Z("corp.example");
        let a = answered(&query("ip-10-0-200-1.corp.example", rtype::A), &corp);
        assert_eq!(a[3] & 0x0f, rcode::NOERROR);
        assert_eq!(&a[a.len() - 4..], &[10, 0, 200, 1]);
        let a = answered(&query("ip-10-0-200-1.ec2.internal", rtype::A), &corp);
        assert_eq!(a[3] & 0x0f, rcode::NXDOMAIN);
    }

    #[test]
    fn everything_else_is_nxdomain_at_once() {
        for q in [
            query("example.com", rtype::A),
            query("6.1.0.10.in-addr.arpa", rtype::PTR),
            query("ip-10-0-1-6.ec2.internal", rtype::A),
            query("ip-10-0-1-5.ec2.internal.evil", rtype::A),
        ] {
            let a = answered(&q, &EC2);
            assert_eq!(a[3] & 0x0f, rcode::NXDOMAIN);
            assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0);
        }
        // a known name of another type: no data, no error
        let a = answered(&query("ip-10-0-1-5.ec2.internal", rtype::AAAA), &EC2);
        assert_eq!(a[3] & 0x0f, rcode::NOERROR);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0);
        // not queries: no answer at all
        assert!(answer(&[0; 5], &EC2).is_none());
        let mut response = query("example.com", rtype::A);
        response[2] |= 0x80;
        assert!(answer(&response, &EC2).is_none());
    }

    #[test]
    fn garbage_is_formerr() {
        let mut two = query("example.com", rtype::A);
        two[5] = 2;
        let mut truncated = query("example.com", rtype::A);
        truncated.truncate(truncated.len() - 1);
        let mut pointer = query("example.com", rtype::A);
        pointer[12] = 0xc0;
        for q in [
            two,
            truncated,
            pointer,
            vec![0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let a = answered(&q, &EC2);
            assert_eq!(a, agent::answer(&q, &EC2).unwrap());
            assert_eq!(&a[..2], &q[..2]);
            assert_eq!(a[3] & 0x0f, rcode::FORMERR);
            assert_eq!(a.len(), dns::HEADER_LEN);
        }
    }

    #[test]
    fn reply_frame_goes_back_to_the_asker() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let router = MacAddr([2, 0, 0, 0, 0, 9]);
        let q = query("ip-10-0-1-5.ec2.internal", rtype::A);
        for server in [Ipv4Addr::new(10, 0, 0, 2), LINK_LOCAL] {
            let f = udp_frame(
                mac,
                router,
                Ipv4Addr::new(10, 0, 1, 5),
                server,
                40000,
                53,
                &q,
            );
            let mut out = Vec::new();
            assert_eq!(respond(&EC2, &f, &mut out), Ok(rcode::NOERROR));
            let eth = ethernet::Frame::new_checked(&out[..]).unwrap();
            assert_eq!((eth.src(), eth.dst()), (router, mac));
            let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!((ip.src(), ip.dst()), (server, Ipv4Addr::new(10, 0, 1, 5)));
            assert_eq!((ip.ttl(), ip.dont_frag(), ip.ident()), (64, true, 0));
            let u = udp::Packet::new_checked(ip.payload()).unwrap();
            assert_ne!(u.checksum(), 0);
            assert!(u.verify_checksum(ip.src(), ip.dst()));
            assert_eq!((u.src_port(), u.dst_port()), (53, 40000));
            assert_eq!(u.payload(), agent::answer(&q, &EC2).unwrap());
            let seg = &ip.payload()[..usize::from(u.len())];
            assert_eq!(
                checksum::fold(
                    checksum::pseudo_header(ip.src(), ip.dst(), ip_proto::UDP, u.len())
                        + checksum::sum(seg)
                ),
                0xffff
            );
        }
        // not a query: nothing sent
        let f = udp_frame(
            mac,
            router,
            Ipv4Addr::new(10, 0, 1, 5),
            LINK_LOCAL,
            1,
            53,
            b"q",
        );
        assert_eq!(
            respond(&EC2, &f, &mut Vec::new()),
            Err(DropReason::DnsUnanswered)
        );
    }

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("ip-10-0-1-5".to_string()),
            Just("IP-10-0-200-1".to_string()),
            Just("ip-10-0-1-6".to_string()),
            Just("ip-+10-0-1-5".to_string()),
            Just("ip-10-0-1".to_string()),
            Just("ec2".to_string()),
            Just("Internal".to_string()),
            Just("in-addr".to_string()),
            Just("ARPA".to_string()),
            Just("5".to_string()),
            Just("1".to_string()),
            Just("0".to_string()),
            Just("10".to_string()),
            Just("200".to_string()),
            "[a-z0-9-]{1,8}",
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(label(), 0..7).prop_map(|l| l.join("."))
    }

    fn record() -> impl Strategy<Value = Record> {
        (
            name(),
            any::<u16>(),
            any::<u32>(),
            prop_oneof![
                any::<[u8; 4]>().prop_map(|o| (rtype::A, RData::A(Ipv4Addr::from(o)))),
                name().prop_map(|n| (rtype::PTR, RData::Name(Name::from_dotted(&n).unwrap()))),
                prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| (rtype::OPT, RData::Raw(b))),
            ],
        )
            .prop_map(|(n, class, ttl, (rtype, data))| Record {
                name: Name::from_dotted(&n).unwrap(),
                rtype,
                class,
                ttl,
                data,
            })
    }

    proptest! {
        /// parse(emit(r)) == r, with names shared between questions and records (so
        /// some records are written as pointers).
        #[test]
        fn repr_round_trip(
            id: u16, fl: u16, opcode in 0u8..16, rc in 0u8..16,
            questions in prop::collection::vec((name(), any::<u16>(), any::<u16>()), 0..3),
            answers in prop::collection::vec(record(), 0..4),
            authorities in prop::collection::vec(record(), 0..2),
            additionals in prop::collection::vec(record(), 0..2),
            echo: bool,
        ) {
            let questions: Vec<Question> = questions
                .into_iter()
                .map(|(n, qtype, qclass)| Question { name: Name::from_dotted(&n).unwrap(), qtype, qclass })
                .collect();
            let mut answers = answers;
            if echo && let (Some(q), Some(a)) = (questions.first(), answers.first_mut()) {
                a.name = q.name.clone();
            }
            let r = Repr {
                id,
                flags: fl & !(flags::OPCODE | flags::RCODE),
                opcode,
                rcode: rc,
                questions,
                answers,
                authorities,
                additionals,
            };
            let b = bytes(&r);
            prop_assert_eq!(b.len(), r.buffer_len());
            let back = Repr::parse(&dns::Packet::new_checked(&b[..]).unwrap()).unwrap();
            prop_assert_eq!(back, r);
        }

        /// The resolver answers mapped and unmapped names exactly as the agent did.
        #[test]
        fn answers_as_the_agent_did(
            n in name(), qtype in prop_oneof![Just(rtype::A), Just(rtype::PTR), Just(rtype::AAAA), any::<u16>()],
            qclass in prop_oneof![Just(class::IN), any::<u16>()],
            rd: bool, domain in prop_oneof![Just("ec2.internal"), Just("Internal"), Just("")],
        ) {
            let mut q = query(&n, qtype);
            let len = q.len();
            q[len - 2..].copy_from_slice(&qclass.to_be_bytes());
            q[2] = u8::from(rd);
            let z = Z(domain);
            let expect = agent::answer(&q, &z).unwrap();
            prop_assert_eq!(answered(&q, &z), expect);
        }

        /// Any bytes: the resolver answers, or declines, as the agent did.
        #[test]
        fn any_bytes_as_the_agent_did(b in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(answer(&b, &EC2).map(|r| bytes(&r)), agent::answer(&b, &EC2));
        }
    }
}
