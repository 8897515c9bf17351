//! The internet's DNS answering real queries: through the handler's path without a
//! socket, and over UDP and TCP on loopback; arbitrary bytes never make it panic.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use fort_dns::authority::{Authority, TEST_ZONE, Zones};
use fort_dns::server::{self, Bounded, DnsServer, Listener};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_server::net::xfer::Protocol;
use proptest::prelude::*;

const HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const NS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
const SRC: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 5353);

const CORP_ZONE: &str = "\
$ORIGIN corp.test.
$TTL 60
@        IN SOA  ns hostmaster ( 2026112601 3600 600 86400 30 )
@        IN NS   ns
ns       IN A    203.0.113.53
app      IN A    203.0.113.10
app      IN A    203.0.113.11
web      IN CNAME app
portal   IN CNAME web
away     IN CNAME www.example.test.
mail     IN MX   10 app
@        IN TXT  \"v=fort\"
";

fn authority() -> Arc<Authority> {
    let mut z = Zones::new();
    z.insert_test_hosts(HOST, NS);
    z.add_zone_text(CORP_ZONE, None).unwrap();
    z.add_record(&"api.example.com=203.0.113.7".parse().unwrap())
        .unwrap();
    z.add_record(&"extra.corp.test=203.0.113.12".parse().unwrap())
        .unwrap();
    Arc::new(z.into_authority().unwrap())
}

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

fn ask(
    handler: &impl hickory_server::server::RequestHandler,
    name: &str,
    t: RecordType,
) -> Message {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bytes = rt
        .block_on(server::answer(handler, &query(name, t), SRC, Protocol::Udp))
        .expect("an answer");
    Message::from_vec(&bytes).unwrap()
}

fn addresses(m: &Message) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_test_hosts_zone_answers_with_the_test_host() {
    let a = authority();
    for name in ["www.example.test.", "example.test.", "WWW.Example.Test."] {
        let m = ask(a.as_ref(), name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.metadata.authoritative, "{name}");
        assert_eq!(m.metadata.id, 0x4242);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(addresses(&m), [HOST], "{name}");
    }
    let m = ask(a.as_ref(), "ns.example.test.", RecordType::A);
    assert_eq!(addresses(&m), [NS]);
    let m = ask(a.as_ref(), TEST_ZONE, RecordType::NS);
    assert_eq!(m.answers.len(), 1);
    assert!(matches!(&m.answers[0].data, RData::NS(ns) if ns.0.to_ascii() == "ns.example.test."));
}

#[test]
fn zone_files_and_records_answer() {
    let a = authority();
    let m = ask(a.as_ref(), "app.corp.test.", RecordType::A);
    assert_eq!(
        addresses(&m),
        [
            Ipv4Addr::new(203, 0, 113, 10),
            Ipv4Addr::new(203, 0, 113, 11)
        ]
    );
    assert!(m.answers.iter().all(|r| r.ttl == 60));
    let m = ask(a.as_ref(), "api.example.com.", RecordType::A);
    assert!(m.metadata.authoritative);
    assert_eq!(addresses(&m), [Ipv4Addr::new(203, 0, 113, 7)]);
    let m = ask(a.as_ref(), "extra.corp.test.", RecordType::A);
    assert_eq!(addresses(&m), [Ipv4Addr::new(203, 0, 113, 12)]);
    let m = ask(a.as_ref(), "corp.test.", RecordType::TXT);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::TXT);
    let m = ask(a.as_ref(), "mail.corp.test.", RecordType::MX);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn cnames_are_followed_inside_the_zones() {
    let a = authority();
    let m = ask(a.as_ref(), "portal.corp.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let types: Vec<RecordType> = m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(
        types,
        [
            RecordType::CNAME,
            RecordType::CNAME,
            RecordType::A,
            RecordType::A
        ]
    );
    assert_eq!(
        addresses(&m),
        [
            Ipv4Addr::new(203, 0, 113, 10),
            Ipv4Addr::new(203, 0, 113, 11)
        ]
    );
    // asked for the CNAME itself: only it
    let m = ask(a.as_ref(), "web.corp.test.", RecordType::CNAME);
    assert_eq!(m.answers.len(), 1);
    // a CNAME into another zone: the CNAME, the rest is the resolver's to follow
    let m = ask(a.as_ref(), "away.corp.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
}

#[test]
fn names_nobody_serves_do_not_exist() {
    let a = authority();
    // inside a zone: authoritative NXDOMAIN with the zone's SOA
    let m = ask(a.as_ref(), "nope.example.test.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    // a name that exists without that type: NODATA
    let m = ask(a.as_ref(), "www.example.test.", RecordType::AAAA);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    // outside every zone: NXDOMAIN, not authoritative, no records
    for name in ["www.google.com.", "example.com.", "com.", "test.", "."] {
        let m = ask(a.as_ref(), name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
        assert!(!m.metadata.authoritative, "{name}");
        assert!(m.answers.is_empty() && m.authorities.is_empty(), "{name}");
        assert_eq!(m.metadata.id, 0x4242);
        assert_eq!(m.queries.len(), 1, "{name}: the question is echoed");
    }
}

#[test]
fn transfers_and_updates_are_refused() {
    let a = authority();
    let m = ask(a.as_ref(), "corp.test.", RecordType::AXFR);
    assert_ne!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn queries_beyond_the_bound_are_dropped() {
    let full = Bounded::with_limit(authority(), 0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let q = query("www.example.test.", RecordType::A);
    assert!(
        rt.block_on(server::answer(&full, &q, SRC, Protocol::Udp))
            .is_none()
    );
    let one = Bounded::with_limit(authority(), 1);
    let m = ask(&one, "www.example.test.", RecordType::A);
    let m2 = ask(&one, "www.example.test.", RecordType::A);
    assert_eq!(addresses(&m), addresses(&m2), "the permit is given back");
}

/// A server on 127.0.0.1 (a free port), in a runtime of its own.
struct Running {
    rt: tokio::runtime::Runtime,
    server: Option<DnsServer>,
    addr: SocketAddr,
}

impl Running {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = Listener::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt
            .block_on(async { DnsServer::start(authority(), vec![listener]) })
            .unwrap();
        assert_eq!(server.addrs(), [addr]);
        Self {
            rt,
            server: Some(server),
            addr,
        }
    }

    fn udp(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s.send_to(bytes, self.addr).unwrap();
        let mut buf = [0u8; 65535];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        Some(buf[..n].to_vec())
    }

    fn tcp(&self, bytes: &[u8]) -> Vec<u8> {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let len = u16::try_from(bytes.len()).unwrap();
        s.write_all(&len.to_be_bytes()).unwrap();
        s.write_all(bytes).unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).unwrap();
        buf
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

#[test]
fn udp_and_tcp_answer_on_loopback() {
    let r = Running::start();
    for rtype in [RecordType::A, RecordType::CNAME] {
        let q = query("web.corp.test.", rtype);
        let udp = Message::from_vec(&r.udp(&q).expect("a UDP answer")).unwrap();
        let tcp = Message::from_vec(&r.tcp(&q)).unwrap();
        assert_eq!(udp.answers, tcp.answers);
        assert!(!udp.answers.is_empty());
    }
    let m = Message::from_vec(&r.udp(&query("www.example.test.", RecordType::A)).unwrap()).unwrap();
    assert_eq!(addresses(&m), [HOST]);
    let m = Message::from_vec(&r.tcp(&query("unknown.invalid.", RecordType::A))).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(!m.metadata.authoritative);
    // a malformed query whose header parses: FORMERR
    let mut bad = query("www.example.test.", RecordType::A);
    bad.truncate(bad.len() - 3);
    let m = Message::from_vec(&r.udp(&bad).expect("FORMERR")).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    // under twelve bytes: nothing to answer
    assert!(r.udp(&[1, 2, 3]).is_none());
}

#[test]
fn shutdown_closes_the_sockets() {
    let mut r = Running::start();
    let addr = r.addr;
    let s = r.server.take().unwrap();
    r.rt.block_on(s.shutdown());
    // the port is free again in both protocols
    let again = Listener::bind(addr).expect("rebinding after shutdown");
    drop(again);
}

/// Cases to run; failures are shown, not persisted (no source file to persist beside).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Valid queries with bytes changed: deeper into the parser than random bytes reach.
fn mutated_query() -> impl Strategy<Value = Vec<u8>> {
    let names = prop::sample::select(vec![
        "www.example.test.",
        "portal.corp.test.",
        "nope.corp.test.",
        "api.example.com.",
        "elsewhere.org.",
    ]);
    let types = prop::sample::select(vec![
        RecordType::A,
        RecordType::AAAA,
        RecordType::CNAME,
        RecordType::ANY,
        RecordType::AXFR,
        RecordType::SOA,
    ]);
    (
        names,
        types,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        0usize..4,
    )
        .prop_map(|(n, t, flips, cut)| {
            let mut q = query(n, t);
            for (i, b) in flips {
                let i = i.index(q.len());
                q[i] = b;
            }
            q.truncate(q.len() - cut);
            q
        })
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any bytes through the request path: no panic, and any answer is a response that
    /// parses and carries the query's id.
    #[test]
    fn the_request_path_never_panics(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        mutated_query(),
    ]) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let handler = Bounded::new(authority());
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            if let Some(out) = rt.block_on(server::answer(&handler, &bytes, SRC, protocol)) {
                let m = Message::from_vec(&out).expect("the answer parses");
                prop_assert_eq!(m.metadata.message_type, MessageType::Response);
                prop_assert_eq!(m.metadata.id, u16::from_be_bytes([bytes[0], bytes[1]]));
            }
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Garbage over real sockets: the server still answers the next query.
    #[test]
    fn garbage_on_the_wire_leaves_the_server_answering(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..600), mutated_query()],
    ) {
        let r = Running::start();
        let _ = r.udp(&bytes);
        {
            let mut s = TcpStream::connect(r.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let len = u16::try_from(bytes.len()).unwrap();
            let _ = s.write_all(&len.to_be_bytes());
            let _ = s.write_all(&bytes);
            let mut sink = [0u8; 1024];
            let _ = s.read(&mut sink);
        }
        let q = query("www.example.test.", RecordType::A);
        let m = Message::from_vec(&r.udp(&q).expect("still answering over UDP")).unwrap();
        prop_assert_eq!(addresses(&m), vec![HOST]);
        let m = Message::from_vec(&r.tcp(&q)).unwrap();
        prop_assert_eq!(addresses(&m), vec![HOST]);
    }
}

#[test]
fn public_instance_names_are_synthesized_for_the_pool() {
    let mut z = Zones::new();
    z.add_public_names(fort_dns::PublicNames::for_region(
        "us-east-1",
        "198.51.100.0/24".parse().unwrap(),
    ));
    z.add_public_names(fort_dns::PublicNames::for_region(
        "eu-west-1",
        "198.51.100.0/24".parse().unwrap(),
    ));
    let a = z.into_authority().unwrap();
    let m = ask(
        &a,
        "ec2-198-51-100-7.compute-1.amazonaws.com.",
        RecordType::A,
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&m), [Ipv4Addr::new(198, 51, 100, 7)]);
    let m = ask(
        &a,
        "EC2-198-51-100-9.eu-west-1.compute.amazonaws.com.",
        RecordType::A,
    );
    assert_eq!(addresses(&m), [Ipv4Addr::new(198, 51, 100, 9)]);
    let m = ask(
        &a,
        "ec2-198-51-100-7.compute-1.amazonaws.com.",
        RecordType::AAAA,
    );
    assert_eq!(
        (m.metadata.response_code, m.answers.len()),
        (ResponseCode::NoError, 0)
    );
    // outside the pool, or not such a name: nobody serves it
    for name in [
        "ec2-203-0-113-7.compute-1.amazonaws.com.",
        "ec2-198-51-100.compute-1.amazonaws.com.",
        "x.ec2-198-51-100-7.compute-1.amazonaws.com.",
    ] {
        let m = ask(&a, name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
    }
}
