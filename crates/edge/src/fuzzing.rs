//! Entry points for the fuzz targets (`fuzz/`), shared with the stable test that
//! replays the committed corpus (`tests/fuzz_corpus/<target>/`), so every past input
//! runs as an ordinary test. None may panic, whatever the bytes.
//!
//! Input format of [`edge`]: the first byte picks the entry point (0: from the VPC,
//! gateway inferred; 1: from the VPC for the NAT gateway; 2: from the VPC for the
//! internet gateway; 3: from the internet; 4: from the VPC with an egress-only internet
//! gateway, gateway inferred), the rest is the frame or packet. The edge already holds a
//! TCP, a UDP and an ICMP flow of [`crate::fixtures`]' APP instance, and an IPv6 TCP
//! connection of APP6 through the egress-only gateway, so replies reach the established
//! paths.

use crate::fixtures::{self, APP, APP6, NAT, REMOTE, REMOTE6, VNI, VNI2};
use crate::{Edge, EdgeConfig, Gateway, Time, Verdict};
use fort_dataplane::wire::{ipv4, ipv6, tcp};

/// The edge the fuzz target starts from, with its flows.
pub fn seeded_edge() -> Edge {
    let mut e = Edge::new(EdgeConfig::default());
    e.set_program(fixtures::program6());
    let mut out = Vec::new();
    for p in [
        fixtures::tcp_packet(APP, 40000, REMOTE, 80, tcp::flags::SYN, b""),
        fixtures::udp_packet(APP, 5000, REMOTE, 53, b"q"),
        fixtures::icmp_echo(APP, REMOTE, false, 9, 1),
    ] {
        let v = e.process_from_vpc(
            Time::from_secs(1),
            VNI,
            Gateway::Id(NAT),
            &fixtures::from_instance(&p),
            &mut out,
        );
        assert_eq!(v, Verdict::ToInternet);
    }
    let syn6 = fixtures::tcp6_packet(APP6, 40000, REMOTE6, 443, tcp::flags::SYN, b"");
    let v = e.process_from_vpc(
        Time::from_secs(1),
        VNI2,
        Gateway::Infer,
        &fixtures::from_instance6(&syn6, fixtures::EIGW),
        &mut out,
    );
    assert_eq!(v, Verdict::ToInternet);
    e
}

/// Feeds one input to a seeded edge and checks the output: it parses as IPv4 (or IPv6,
/// which passes untranslated), and a translated packet whose input had valid checksums
/// has valid checksums.
pub fn edge(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut e = seeded_edge();
    let mut out = Vec::new();
    let now = Time::from_secs(2);
    let (v, input) = match mode % 5 {
        0 => (
            e.process_from_vpc(now, VNI, Gateway::Infer, rest, &mut out),
            rest.get(14..),
        ),
        1 => (
            e.process_from_vpc(now, VNI, Gateway::Id(NAT), rest, &mut out),
            rest.get(14..),
        ),
        2 => (
            e.process_from_vpc(now, VNI, Gateway::Id(fixtures::IGW), rest, &mut out),
            rest.get(14..),
        ),
        3 => (e.process_from_internet(now, rest, &mut out), Some(rest)),
        _ => (
            e.process_from_vpc(now, VNI2, Gateway::Infer, rest, &mut out),
            rest.get(14..),
        ),
    };
    let valid_in = input.is_some_and(fixtures::checksums_ok);
    let translated = match v {
        Verdict::ToInternet | Verdict::ToVpn { .. } => &out[..],
        Verdict::ToVpc { .. } | Verdict::ToVpc6 { .. } | Verdict::ToVpcThroughAttachment { .. } => {
            &out[14..]
        }
        Verdict::Drop { .. } => return,
    };
    if translated.first().is_some_and(|b| b >> 4 == 6) {
        assert!(
            ipv6::Packet::new_checked(translated).is_ok(),
            "output is IPv6"
        );
        // IPv6 is carried as it is, or answered with an error of the edge's making
        if input.is_some_and(fixtures::checksums6_ok) {
            assert!(fixtures::checksums6_ok(translated), "checksums stay valid");
        }
        return;
    }
    assert!(
        ipv4::Packet::new_checked(translated).is_ok(),
        "output is IPv4"
    );
    if valid_in {
        assert!(
            fixtures::checksums_ok(translated),
            "checksums stay valid: {v:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use std::path::PathBuf;

    fn corpus(target: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_corpus")
            .join(target)
    }

    /// The seeds: one input per path through the edge.
    fn seeds() -> Vec<Vec<u8>> {
        let with = |mode: u8, b: Vec<u8>| [vec![mode], b].concat();
        let port = |proto_pkt: Vec<u8>| {
            let mut e = seeded_edge();
            let mut out = Vec::new();
            e.process_from_vpc(
                Time::from_secs(1),
                VNI,
                Gateway::Id(NAT),
                &from_instance(&proto_pkt),
                &mut out,
            );
            tuple(&out).1
        };
        let tport = port(tcp_packet(APP, 40000, REMOTE, 80, tcp::flags::ACK, b""));
        let uport = port(udp_packet(APP, 5000, REMOTE, 53, b""));
        let iid = port(icmp_echo(APP, REMOTE, false, 9, 2));
        vec![
            with(
                0,
                from_instance(&tcp_packet(WEB, 1234, REMOTE, 80, tcp::flags::SYN, b"x")),
            ),
            with(0, from_instance(&udp_packet(APP, 6000, REMOTE, 53, b"q"))),
            with(
                1,
                from_instance(&tcp_packet(APP, 40000, REMOTE, 80, tcp::flags::ACK, b"GET")),
            ),
            with(
                1,
                from_instance(&tcp_packet(APP, 40001, REMOTE, 80, tcp::flags::ACK, b"")),
            ),
            with(1, from_instance(&icmp_echo(APP, REMOTE, false, 9, 3))),
            with(
                2,
                from_instance(&udp_packet(WEB, 5353, REMOTE, 53, b"fort")),
            ),
            with(
                2,
                from_instance(&udp_packet(WEB, 5353, REMOTE, 53, &[0; 1600])),
            ),
            with(
                3,
                tcp_packet(REMOTE, 80, NAT_PUBLIC, tport, tcp::flags::ACK, b"ok"),
            ),
            with(3, udp_packet(REMOTE, 53, NAT_PUBLIC, uport, b"a")),
            with(3, icmp_echo(REMOTE, NAT_PUBLIC, true, iid, 1)),
            with(
                3,
                tcp_packet(REMOTE, 5, WEB_PUBLIC, 22, tcp::flags::SYN, b""),
            ),
            // IPv6: through the internet gateway both ways, through the egress-only
            // gateway out and back, too big for the gateway
            with(
                2,
                from_instance6(
                    &tcp6_packet(WEB6, 1234, REMOTE6, 80, tcp::flags::SYN, b"x"),
                    IGW,
                ),
            ),
            with(3, tcp6_packet(REMOTE6, 5, WEB6, 22, tcp::flags::SYN, b"")),
            with(
                4,
                from_instance6(&icmp6_echo(APP6, REMOTE6, false, 9, 1), EIGW),
            ),
            with(
                3,
                tcp6_packet(
                    REMOTE6,
                    443,
                    APP6,
                    40000,
                    tcp::flags::SYN | tcp::flags::ACK,
                    b"",
                ),
            ),
            with(
                4,
                from_instance6(&udp6_packet(APP6, 5353, REMOTE6, 53, &[0; 1600]), EIGW),
            ),
        ]
    }

    #[test]
    fn seeds_run() {
        for s in seeds() {
            edge(&s);
        }
    }

    /// Regenerates the committed seed corpus: `cargo test -p fort-edge -- --ignored write_seed_corpus`.
    #[test]
    #[ignore]
    fn write_seed_corpus() {
        let dir = corpus("edge");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (i, s) in seeds().into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), s).expect("write");
        }
    }

    #[test]
    fn replay_corpus() {
        let dir = corpus("edge");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus dir") {
            let data = std::fs::read(entry.expect("entry").path()).expect("read");
            edge(&data);
            n += 1;
        }
        assert!(n > 0, "empty corpus in {}", dir.display());
    }
}
