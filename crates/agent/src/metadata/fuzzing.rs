//! Fuzz entry points for what instances send the link-local services: frames through the
//! NAT, metadata paths, DNS queries to the resolver's own names, NTP requests to the time
//! sync service. Each must answer or
//! refuse, never panic. `crates/agent/fuzz` runs them under libFuzzer; the test below
//! replays the committed corpus (`tests/fuzz_corpus/TARGET/`) on every CI run.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::Message;

use super::nat;
use super::resolver::VpcView;
use super::tree::InstanceView;

/// The instance's IPv6 address in the frame target.
const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 1, 0, 0, 0, 5);

/// The fuzz targets, by name (each a directory of the corpus).
pub const TARGETS: &[&str] = &[
    "metadata_frame",
    "metadata_path",
    "resolver_query",
    "ntp_request",
];

/// Runs one input through `target`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "metadata_frame" => frame(data),
        "metadata_path" => path(data),
        "resolver_query" => query(data),
        "ntp_request" => ntp_request(data),
        _ => {}
    }
}

/// A frame from an instance toward the service, and the same bytes as an answer back.
pub fn frame(data: &[u8]) {
    let (vnet, rest) = data.split_at(data.len().min(12));
    let addresses = [Ipv4Addr::new(10, 0, 1, 5), Ipv4Addr::new(10, 0, 1, 6)];
    let addresses6 = [ME6];
    let port = nat::Port {
        mac: fort_dataplane::wire::MacAddr([2, 0, 0, 0, 0, 5]),
        addresses: &addresses,
        addresses6: &addresses6,
        router_mac: fort_dataplane::wire::MacAddr([6, 0, 0, 0, 0, 1]),
        resolver: Ipv4Addr::new(10, 0, 0, 2),
    };
    let _ = nat::to_service(&mut rest.to_vec(), vnet, 3, &port);
    let _ = nat::from_service(&mut rest.to_vec(), vnet, |_| Some(port));
}

/// A request path against an instance with everything set.
pub fn path(data: &[u8]) {
    if let Ok(p) = std::str::from_utf8(data) {
        let _ = InstanceView::example().get(p);
    }
}

/// A DNS message's question against a VPC's own names.
pub fn query(data: &[u8]) {
    let Ok(m) = Message::from_vec(data) else {
        return;
    };
    let v = VpcView::example();
    for q in &m.queries {
        let _ = v.answer_locally(&q.name().to_string(), q.query_type());
    }
}

/// An NTP request: answered with a header no larger than it, whose origin is its transmit
/// time, or refused; and a header's bytes round-trip.
pub fn ntp_request(data: &[u8]) {
    use super::ntp::{self, Header, ServerInfo, Timestamp};
    let rx = Timestamp {
        seconds: 0xeebc_8100,
        fraction: 1,
    };
    let tx = Timestamp {
        seconds: 0xeebc_8100,
        fraction: 2,
    };
    if let Ok(a) = ntp::answer(data, rx, &ServerInfo::amazon(Ipv4Addr::LOCALHOST), || tx) {
        assert!(a.len() <= data.len(), "an answer larger than its request");
        let (q, h) = (Header::parse(data), Header::parse(&a));
        assert_eq!(h.map(|h| h.origin), q.map(|q| q.transmit));
    }
    if let Ok(h) = Header::parse(data) {
        assert_eq!(&h.emit()[..], &data[..ntp::HEADER_LEN]);
    }
}

/// The seeds: a SYN to the metadata service, a DNS query to base + 2, paths, queries.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use fort_dataplane::fixtures;
    let me = Ipv4Addr::new(10, 0, 1, 5);
    let mac = fort_dataplane::wire::MacAddr([2, 0, 0, 0, 0, 5]);
    let router = fort_dataplane::wire::MacAddr([6, 0, 0, 0, 0, 1]);
    let mut syn = vec![0u8; 12];
    syn.extend(fixtures::tcp_frame(
        mac,
        router,
        me,
        nat::SERVICE_IP,
        40000,
        80,
        2,
        8,
    ));
    let mut dns = vec![0u8; 12];
    dns.extend(fixtures::udp_frame(
        mac,
        router,
        me,
        Ipv4Addr::new(10, 0, 0, 2),
        5353,
        53,
        b"q",
    ));
    // and over IPv6, to fd00:ec2::254 and fd00:ec2::253
    let mut syn6 = vec![0u8; 12];
    syn6.extend(fixtures::tcp6_frame(
        mac,
        router,
        ME6,
        nat::SERVICE_IP6,
        40000,
        80,
        2,
        8,
    ));
    let mut dns6 = vec![0u8; 12];
    dns6.extend(fixtures::udp6_frame(
        mac,
        router,
        ME6,
        nat::RESOLVER_IP6,
        5353,
        53,
        b"q",
    ));
    let mut out = vec![
        ("metadata_frame", "syn".to_owned(), syn),
        ("metadata_frame", "dns".to_owned(), dns),
        ("metadata_frame", "syn6".to_owned(), syn6),
        ("metadata_frame", "dns6".to_owned(), dns6),
    ];
    for (i, p) in [
        "/latest/meta-data/",
        "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/local-ipv4s",
        "/latest/meta-data/public-keys/0=k/openssh-key",
        "/latest/dynamic/instance-identity/document",
        "/",
        "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/ipv6s",
    ]
    .iter()
    .enumerate()
    {
        out.push(("metadata_path", format!("path-{i}"), p.as_bytes().to_vec()));
    }
    for (i, (name, t)) in [
        (
            "ip-10-0-1-5.ec2.internal.",
            hickory_proto::rr::RecordType::A,
        ),
        ("5.1.0.10.in-addr.arpa.", hickory_proto::rr::RecordType::PTR),
        (
            "ec2-198-51-100-7.compute-1.amazonaws.com.",
            hickory_proto::rr::RecordType::A,
        ),
        ("www.example.test.", hickory_proto::rr::RecordType::A),
        (
            "i-0123456789abcdef0.ec2.internal.",
            hickory_proto::rr::RecordType::A,
        ),
        (
            "i-0123456789abcdef0.ec2.internal.",
            hickory_proto::rr::RecordType::AAAA,
        ),
    ]
    .iter()
    .enumerate()
    {
        // a fixed id: the seeds are the same on every run
        let mut m = Message::new(
            0x4242,
            hickory_proto::op::MessageType::Query,
            hickory_proto::op::OpCode::Query,
        );
        m.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_ascii(name).expect("name"),
            *t,
        ));
        out.push((
            "resolver_query",
            format!("query-{i}"),
            m.to_vec().expect("encodes"),
        ));
    }
    // NTP: ntpdig's request (version 4), an ntpdate-style one (version 3, poll 6), a
    // control query (mode 6) and a monlist request (mode 7)
    let mut request = vec![0u8; 48];
    request[0] = 0x23;
    request[40..48].copy_from_slice(&[0xee, 0xbc, 0x81, 0x00, 0x12, 0x34, 0x56, 0x78]);
    let mut v3 = request.clone();
    v3[0] = 0x1b;
    v3[2] = 6;
    let readvar = vec![0x16, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut monlist = vec![0x17, 0x00, 0x03, 0x2a];
    monlist.resize(48, 0);
    for (name, bytes) in [
        ("client-v4", request),
        ("client-v3", v3),
        ("control-readvar", readvar),
        ("private-monlist", monlist),
    ] {
        out.push(("ntp_request", name.to_owned(), bytes));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn corpus() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus")
    }

    /// Every committed input through its target.
    #[test]
    fn replay_corpus() {
        let mut n = 0;
        for target in super::TARGETS {
            let Ok(entries) = std::fs::read_dir(corpus().join(target)) else {
                continue;
            };
            for e in entries {
                let data = std::fs::read(e.expect("entry").path()).expect("read");
                super::run(target, &data);
                n += 1;
            }
        }
        assert!(
            n >= super::seeds().len(),
            "the corpus is committed ({n} inputs)"
        );
    }

    /// Writes the seeds into the corpus (`FORT_WRITE_SEEDS=1 cargo test -p fort-agent seeds`).
    #[test]
    fn seeds_are_in_the_corpus() {
        for (target, name, bytes) in super::seeds() {
            let path = corpus().join(target).join(&name);
            if std::env::var_os("FORT_WRITE_SEEDS").is_some() {
                std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
                std::fs::write(&path, &bytes).expect("write");
            }
            assert_eq!(std::fs::read(&path).ok(), Some(bytes), "{}", path.display());
        }
    }
}
