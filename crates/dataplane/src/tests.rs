//! Pipeline tests: the seed's two walks through two engines, and each stage's decisions.

use crate::conntrack::Direction;
use crate::counters::Action as FlowAction;
use crate::fixtures::*;
use crate::overlay;
use crate::program::*;
use crate::wire::dhcp::{self, MessageType};
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::{arp, icmp, ipv4, tcp};
use crate::{
    Arrival, CachedFlow, DropReason, Engine, EngineConfig, Output, PortId, Service, Time, Verdict,
};
use std::net::Ipv4Addr;

mod churn;
mod transit;
mod transit_egress;
mod transit_inspection;
mod transit_peering;
mod transit_v6;
mod v6;

fn t(s: u64) -> Time {
    Time::from_secs(s)
}

fn engines() -> (Engine, Engine) {
    (
        Engine::with_program(host1()).unwrap(),
        Engine::with_program(host2()).unwrap(),
    )
}

fn pid(e: &Engine, eni: &str) -> PortId {
    e.port_id(eni).expect("port")
}

fn drop_of(v: Verdict) -> DropReason {
    match v {
        Verdict::Drop { reason } => reason,
        other => panic!("expected a drop, got {other:?}"),
    }
}

#[test]
fn arp_is_answered_locally() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    // for a peer in the subnet: the peer's MAC
    let v = h1.process_from_port(t(1), a, &arp_request(A_MAC, A_IP, B_IP), &mut out);
    assert_eq!(v, Verdict::Hairpin { port: a });
    let mut expect = vec![0u8; 42];
    expect[..6].copy_from_slice(&A_MAC.0);
    expect[6..12].copy_from_slice(&B_MAC.0);
    expect[12..14].copy_from_slice(&[0x08, 0x06]);
    expect[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    expect[22..28].copy_from_slice(&B_MAC.0);
    expect[28..32].copy_from_slice(&B_IP.octets());
    expect[32..38].copy_from_slice(&A_MAC.0);
    expect[38..42].copy_from_slice(&A_IP.octets());
    assert_eq!(out, expect);
    // for the gateway: the router's MAC
    h1.process_from_port(
        t(1),
        a,
        &arp_request(A_MAC, A_IP, Ipv4Addr::new(10, 0, 1, 1)),
        &mut out,
    );
    let reply = arp::Packet::new_checked(&out[14..]).unwrap();
    assert_eq!(reply.sender_mac(), ROUTER_MAC);
    assert_eq!(reply.sender_ip(), Ipv4Addr::new(10, 0, 1, 1));
    // another subnet's address: never answered, never broadcast
    let v = h1.process_from_port(t(1), a, &arp_request(A_MAC, A_IP, C_IP), &mut out);
    assert_eq!(drop_of(v), DropReason::ArpUnanswered);
    // spoofed sender
    let v = h1.process_from_port(
        t(1),
        a,
        &arp_request(A_MAC, B_IP, Ipv4Addr::new(10, 0, 1, 1)),
        &mut out,
    );
    assert_eq!(drop_of(v), DropReason::SourceCheck);
}

#[test]
fn dhcp_offers_the_address_of_record() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let v = h1.process_from_port(
        t(1),
        a,
        &dhcp_frame(A_MAC, MessageType::Discover, None),
        &mut out,
    );
    assert_eq!(v, Verdict::Hairpin { port: a });
    let eth = ethernet::Frame::new_checked(&out[..]).unwrap();
    assert_eq!(eth.src(), ROUTER_MAC);
    assert_eq!(eth.dst(), MacAddr::BROADCAST);
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.src(), Ipv4Addr::new(10, 0, 1, 1));
    let u = crate::wire::udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum(ip.src(), ip.dst()));
    assert_eq!((u.src_port(), u.dst_port()), (67, 68));
    let r = dhcp::Repr::parse(&dhcp::Packet::new_checked(u.payload()).unwrap()).unwrap();
    assert_eq!(r.message_type, Some(MessageType::Offer));
    assert_eq!(r.xid, 0x3903_f326);
    assert_eq!(r.yiaddr, Some(A_IP));
    assert_eq!(r.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(r.router, Some(Ipv4Addr::new(10, 0, 1, 1)));
    assert_eq!(r.dns_servers, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    assert_eq!(r.domain_name.as_deref(), Some("ec2.internal"));
    assert_eq!(r.interface_mtu, Some(9001));
    assert_eq!(r.lease_time, Some(3600));
    assert_eq!(r.server_id, Some(Ipv4Addr::new(10, 0, 1, 1)));
    // request for the right address: ACK; for another: NAK
    h1.process_from_port(
        t(2),
        a,
        &dhcp_frame(A_MAC, MessageType::Request, Some(A_IP)),
        &mut out,
    );
    let r = dhcp::Repr::parse(&dhcp::Packet::new_checked(&out[42..]).unwrap()).unwrap();
    assert_eq!(r.message_type, Some(MessageType::Ack));
    h1.process_from_port(
        t(2),
        a,
        &dhcp_frame(A_MAC, MessageType::Request, Some(B_IP)),
        &mut out,
    );
    let r = dhcp::Repr::parse(&dhcp::Packet::new_checked(&out[42..]).unwrap()).unwrap();
    assert_eq!(r.message_type, Some(MessageType::Nak));
    // someone else's MAC
    let v = h1.process_from_port(
        t(2),
        a,
        &dhcp_frame(B_MAC, MessageType::Discover, None),
        &mut out,
    );
    assert_eq!(drop_of(v), DropReason::SourceMacMismatch);
}

/// Seed walk 1: same subnet, layer 2, A on host 1 to B on host 2.
#[test]
fn walk_same_subnet_across_hosts() {
    let (mut h1, mut h2) = engines();
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let syn = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 0);
    let mut wire = Vec::new();
    let v = h1.process_from_port(t(10), a, &syn, &mut wire);
    assert_eq!(v, Verdict::ToUnderlay { host: H2, vni: VNI });
    // outer headers from V2P, inner frame untouched
    let d = overlay::decapsulate(&wire).unwrap();
    assert_eq!((d.outer_src, d.outer_dst, d.vni), (H1, H2, VNI));
    assert_eq!(&wire[overlay::OUTER_LEN..], &syn[..]);
    let mut out = Vec::new();
    let v = h2.process_from_underlay(t(10), &wire, &mut out);
    assert_eq!(v, Verdict::ToPort { port: b });
    // layer 2: the frame arrives exactly as sent
    assert_eq!(out, syn);

    // the reply passes B's egress (all) and A's ingress by connection tracking
    let synack = tcp_frame(
        B_MAC,
        A_MAC,
        B_IP,
        A_IP,
        22,
        40000,
        tcp::flags::SYN | tcp::flags::ACK,
        0,
    );
    let v = h2.process_from_port(t(11), b, &synack, &mut wire);
    assert_eq!(v, Verdict::ToUnderlay { host: H1, vni: VNI });
    let v = h1.process_from_underlay(t(11), &wire, &mut out);
    assert_eq!(v, Verdict::ToPort { port: a });
    assert_eq!(out, synack);

    // established: later packets take the fast path both ways
    let fast_before = h1.stats().fast_path;
    let ack = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::ACK, 100);
    assert_eq!(
        h1.process_from_port(t(12), a, &ack, &mut wire),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    assert_eq!(
        h2.process_from_underlay(t(12), &wire, &mut out),
        Verdict::ToPort { port: b }
    );
    assert_eq!(out, ack);
    assert_eq!(h1.stats().fast_path, fast_before + 1);
    // flow-log counters on each side
    let tuple = crate::packet::parse_ipv4(&syn[14..]).unwrap().tuple;
    assert_eq!(
        h1.counter(a, tuple, FlowAction::Accept),
        Some((2, 40 + 140))
    );
    assert_eq!(
        h2.counter(b, tuple, FlowAction::Accept),
        Some((2, 40 + 140))
    );
}

/// Seed walk 2: another subnet, layer 3 through the router.
#[test]
fn walk_other_subnet_routed() {
    let (mut h1, mut h2) = engines();
    let (a, c) = (pid(&h1, "eni-a"), pid(&h2, "eni-c"));
    let mut out = Vec::new();
    h1.process_from_port(
        t(1),
        a,
        &arp_request(A_MAC, A_IP, Ipv4Addr::new(10, 0, 1, 1)),
        &mut out,
    );
    let router = arp::Packet::new_checked(&out[14..]).unwrap().sender_mac();
    assert_eq!(router, ROUTER_MAC);

    let ping = icmp_frame(A_MAC, router, A_IP, C_IP, icmp::kind::ECHO_REQUEST, 0, 7);
    let mut wire = Vec::new();
    assert_eq!(
        h1.process_from_port(t(2), a, &ping, &mut wire),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    assert_eq!(
        h2.process_from_underlay(t(2), &wire, &mut out),
        Verdict::ToPort { port: c }
    );
    // MAC swap: source = router, destination = C; TTL and everything else untouched
    let mut expect = ping.clone();
    expect[0..6].copy_from_slice(&C_MAC.0);
    expect[6..12].copy_from_slice(&ROUTER_MAC.0);
    assert_eq!(out, expect);
    assert_eq!(ipv4::Packet::new_checked(&out[14..]).unwrap().ttl(), 64);

    // the echo reply comes back by tracking (C's ingress allows ICMP, A's too; the
    // reply matches the tracked id)
    let pong = icmp_frame(C_MAC, ROUTER_MAC, C_IP, A_IP, icmp::kind::ECHO_REPLY, 0, 7);
    assert_eq!(
        h2.process_from_port(t(3), c, &pong, &mut wire),
        Verdict::ToUnderlay { host: H1, vni: VNI }
    );
    assert_eq!(
        h1.process_from_underlay(t(3), &wire, &mut out),
        Verdict::ToPort { port: a }
    );
    assert_eq!(&out[0..6], &A_MAC.0);
    assert_eq!(&out[6..12], &ROUTER_MAC.0);
}

#[test]
fn local_delivery_on_one_host() {
    let (_, mut h2) = engines();
    let (b, c) = (pid(&h2, "eni-b"), pid(&h2, "eni-c"));
    let syn = tcp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 40000, 22, tcp::flags::SYN, 0);
    let mut out = Vec::new();
    assert_eq!(
        h2.process_from_port(t(1), b, &syn, &mut out),
        Verdict::ToPort { port: c }
    );
    assert_eq!(&out[0..6], &C_MAC.0);
    assert_eq!(&out[6..12], &ROUTER_MAC.0);
    // not allowed in by C's group: port 23
    let telnet = tcp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 40001, 23, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h2.process_from_port(t(1), b, &telnet, &mut out)),
        DropReason::SecurityGroupIngress
    );
    let tuple = crate::packet::parse_ipv4(&telnet[14..]).unwrap().tuple;
    assert_eq!(h2.counter(c, tuple, FlowAction::Reject), Some((1, 40)));
    assert_eq!(h2.counter(b, tuple, FlowAction::Accept), Some((1, 40)));
}

#[test]
fn origin_is_authenticated() {
    let (mut h1, mut h2) = engines();
    let a = pid(&h1, "eni-a");
    let syn = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 0);
    let mut wire = Vec::new();
    h1.process_from_port(t(1), a, &syn, &mut wire);
    // the same packet claiming to come from another host
    let mut forged = wire.clone();
    forged[26..30].copy_from_slice(&Ipv4Addr::new(127, 0, 0, 66).octets());
    let mut ip = ipv4::Packet::new_unchecked(&mut forged[14..34]);
    ip.fill_checksum();
    let mut out = Vec::new();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
    // unknown VNI
    let mut other = wire.clone();
    other[46] ^= 0xff;
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &other, &mut out)),
        DropReason::UnknownVni
    );
    // the genuine one passes, and a forged copy of a cached flow still fails
    assert!(matches!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { .. }
    ));
    assert_eq!(
        drop_of(h2.process_from_underlay(t(2), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
    assert_eq!(h2.stats().drops(DropReason::AuthenticationFailed), 2);
}

#[test]
fn checks_at_the_port() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let spoof = tcp_frame(
        A_MAC,
        B_MAC,
        Ipv4Addr::new(10, 0, 1, 99),
        B_IP,
        1,
        22,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &spoof, &mut out)),
        DropReason::SourceCheck
    );
    let other_mac = tcp_frame(B_MAC, B_MAC, A_IP, B_IP, 1, 22, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &other_mac, &mut out)),
        DropReason::SourceMacMismatch
    );
    let bcast = udp_frame(
        A_MAC,
        MacAddr::BROADCAST,
        A_IP,
        Ipv4Addr::new(10, 0, 1, 255),
        1,
        9,
        b"x",
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &bcast, &mut out)),
        DropReason::BroadcastOrMulticast
    );
    // an IPv4 packet under IPv6's ethertype is no IPv6 packet
    let mut v6 = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 1, 22, 0, 0);
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &v6, &mut out)),
        DropReason::Malformed
    );
    let mut bad = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 1, 22, 0, 0);
    bad[24] ^= 0x55;
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &bad, &mut out)),
        DropReason::BadChecksum
    );
    // switched to a MAC that does not own the address
    let wrong = tcp_frame(A_MAC, C_MAC, A_IP, B_IP, 1, 22, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &wrong, &mut out)),
        DropReason::UnknownDestinationMac
    );
}

#[test]
fn routes_decide_the_target() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let web = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(198, 51, 100, 7),
        40000,
        443,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        h1.process_from_port(t(1), a, &web, &mut out),
        Verdict::ToEdge {
            host: EDGE,
            vni: VNI
        }
    );
    // the edge gets the instance's frame (it does the NAT), addressed from the router to
    // the gateway the route chose, so the edge need not guess which one
    let inner = &out[overlay::OUTER_LEN..];
    assert_eq!(&inner[0..6], &overlay::gateway_mac("igw-1").0);
    assert_eq!(&inner[6..12], &ROUTER_MAC.0);
    assert_eq!(&inner[12..], &web[12..]);
    let hole = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(192, 0, 2, 7),
        40000,
        443,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &hole, &mut out)),
        DropReason::Blackhole
    );
    let nobody = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(10, 0, 3, 3),
        40000,
        443,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &nobody, &mut out)),
        DropReason::NoMapping
    );
    // the gateway answers ping
    let ping = icmp_frame(A_MAC, ROUTER_MAC, A_IP, Ipv4Addr::new(10, 0, 1, 1), 8, 0, 3);
    assert_eq!(
        h1.process_from_port(t(1), a, &ping, &mut out),
        Verdict::Hairpin { port: a }
    );
    let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (Ipv4Addr::new(10, 0, 1, 1), A_IP));
    assert!(ip.verify_checksum());
    assert!(
        icmp::Packet::new_checked(ip.payload())
            .unwrap()
            .verify_checksum()
    );
    // DNS to base + 2 is the engine's resolver, unfiltered: what is not a query is
    // not answered (see `the_resolver_answers_from_v2p`)
    let dns = udp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(10, 0, 0, 2),
        5353,
        53,
        b"q",
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &dns, &mut out)),
        DropReason::DnsUnanswered
    );
    // metadata is still the agent's
    let imds = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(169, 254, 169, 254),
        40000,
        80,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        h1.process_from_port(t(1), a, &imds, &mut out),
        Verdict::Service {
            port: a,
            service: Service::InstanceMetadata
        }
    );
    // no route at all once the default route is gone
    let mut p = host1();
    p.vpcs[0].route_tables[0]
        .routes
        .retain(|r| r.target != RouteTarget::InternetGateway("igw-1".into()));
    h1.set_program(p).unwrap();
    assert_eq!(
        drop_of(h1.process_from_port(t(2), a, &web, &mut out)),
        DropReason::NoRoute
    );
}

#[test]
fn nacls_apply_only_across_subnets() {
    let mut p1 = host1();
    let mut p2 = host2();
    for p in [&mut p1, &mut p2] {
        // deny everything in both directions
        p.vpcs[0].network_acls[0].entries.clear();
    }
    let mut h1 = Engine::with_program(p1).unwrap();
    let mut h2 = Engine::with_program(p2).unwrap();
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let mut wire = Vec::new();
    let mut out = Vec::new();
    // same subnet: no NACL
    let syn = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 0);
    assert!(matches!(
        h1.process_from_port(t(1), a, &syn, &mut wire),
        Verdict::ToUnderlay { .. }
    ));
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: b }
    );
    // across subnets: the source subnet's egress NACL
    let routed = tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 40000, 22, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &routed, &mut wire)),
        DropReason::NaclEgress
    );
    let tuple = crate::packet::parse_ipv4(&routed[14..]).unwrap().tuple;
    assert_eq!(h1.counter(a, tuple, FlowAction::Reject), Some((1, 40)));
}

#[test]
fn rule_changes_keep_tracked_flows_and_cut_untracked_ones() {
    let mut prog = host2();
    // C: ingress ssh from anywhere, egress all: ssh into C is untracked (§5.10)
    prog.vpcs[0].security_groups[0].ingress = vec![
        sg_rule(6, 22, 22, "0.0.0.0/0"),
        sg_rule(6, 80, 80, "10.0.0.0/16"),
    ];
    prog.vpcs[0].security_groups[0].egress = vec![sg_rule(-1, -1, -1, "0.0.0.0/0")];
    let mut h2 = Engine::with_program(prog.clone()).unwrap();
    let (b, c) = (pid(&h2, "eni-b"), pid(&h2, "eni-c"));
    let mut out = Vec::new();
    let ssh = tcp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 40000, 22, tcp::flags::SYN, 0);
    let web = tcp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 40001, 80, tcp::flags::SYN, 0);
    assert_eq!(
        h2.process_from_port(t(1), b, &ssh, &mut out),
        Verdict::ToPort { port: c }
    );
    assert_eq!(
        h2.process_from_port(t(1), b, &web, &mut out),
        Verdict::ToPort { port: c }
    );
    let tracked = h2.conntrack_len();
    // remove both ingress rules
    prog.vpcs[0].security_groups[0].ingress.clear();
    h2.set_program(prog).unwrap();
    // the tracked web flow continues; the untracked ssh flow is cut at once
    let web2 = tcp_frame(
        B_MAC,
        ROUTER_MAC,
        B_IP,
        C_IP,
        40001,
        80,
        tcp::flags::ACK,
        10,
    );
    assert_eq!(
        h2.process_from_port(t(2), b, &web2, &mut out),
        Verdict::ToPort { port: c }
    );
    let ssh2 = tcp_frame(
        B_MAC,
        ROUTER_MAC,
        B_IP,
        C_IP,
        40000,
        22,
        tcp::flags::ACK,
        10,
    );
    assert_eq!(
        drop_of(h2.process_from_port(t(2), b, &ssh2, &mut out)),
        DropReason::SecurityGroupIngress
    );
    // and new flows see the new rules
    let web3 = tcp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 40002, 80, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h2.process_from_port(t(2), b, &web3, &mut out)),
        DropReason::SecurityGroupIngress
    );
    // B's egress tracked web3 before C's ingress refused it (as on two hosts)
    assert_eq!(h2.conntrack_len(), tracked + 1);
}

#[test]
fn conntrack_times_out_and_fills() {
    let mut h2 = Engine::new(EngineConfig {
        conntrack_per_port: 4,
        flow_table_capacity: 1024,
        ..EngineConfig::default()
    });
    h2.set_program(host2()).unwrap();
    let (b, c) = (pid(&h2, "eni-b"), pid(&h2, "eni-c"));
    let mut out = Vec::new();
    // B -> C ping: C answers by tracking
    let ping = icmp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 8, 0, 1);
    assert_eq!(
        h2.process_from_port(t(100), b, &ping, &mut out),
        Verdict::ToPort { port: c }
    );
    let pong = icmp_frame(C_MAC, ROUTER_MAC, C_IP, B_IP, 0, 0, 1);
    // C has no ICMP egress restriction (egress all) but B's ingress allows ICMP anyway;
    // take a UDP flow instead, which B's ingress does not allow
    assert_eq!(
        h2.process_from_port(t(101), c, &pong, &mut out),
        Verdict::ToPort { port: b }
    );
    let q = udp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 5000, 22, b"q");
    // C's ingress has no UDP rule
    assert_eq!(
        drop_of(h2.process_from_port(t(100), b, &q, &mut out)),
        DropReason::SecurityGroupIngress
    );
    let r = udp_frame(C_MAC, ROUTER_MAC, C_IP, B_IP, 7000, 5000, b"r");
    // C -> B udp: C egress allows and tracks; B's ingress has no UDP rule -> dropped
    assert_eq!(
        drop_of(h2.process_from_port(t(100), c, &r, &mut out)),
        DropReason::SecurityGroupIngress
    );
    // B -> C:7000 is a reply for C's tracked flow (C's entry), but B's egress tracks anew
    let back = udp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 5000, 7000, b"b");
    assert_eq!(
        h2.process_from_port(t(110), b, &back, &mut out),
        Verdict::ToPort { port: c }
    );
    // C's entry saw a reply, so it is a stream (180 s): alive 170 s later, gone 181 s later
    assert_eq!(
        h2.process_from_port(t(280), b, &back, &mut out),
        Verdict::ToPort { port: c }
    );
    assert_eq!(
        drop_of(h2.process_from_port(t(461), b, &back, &mut out)),
        DropReason::SecurityGroupIngress
    );

    // fill B's table: 4 tracked flows max
    let mut full = 0;
    for i in 0..6u16 {
        let f = tcp_frame(
            B_MAC,
            ROUTER_MAC,
            B_IP,
            C_IP,
            30000 + i,
            22,
            tcp::flags::SYN,
            0,
        );
        if let Verdict::Drop { reason } = h2.process_from_port(t(2000), b, &f, &mut out) {
            assert_eq!(reason, DropReason::ConntrackFull);
            full += 1;
        }
    }
    assert_eq!(full, 2);
    assert_eq!(h2.stats().drops(DropReason::ConntrackFull), 2);
}

#[test]
fn v2p_changes_invalidate_only_what_they_touch() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let to_b = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 0);
    let to_c = tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 40000, 22, tcp::flags::SYN, 0);
    h1.process_from_port(t(1), a, &to_b, &mut out);
    h1.process_from_port(t(1), a, &to_c, &mut out);
    // C moves to another host
    let moved = Ipv4Addr::new(127, 0, 0, 13);
    assert!(h1.upsert_mapping(
        "vpc-1",
        Mapping {
            ip: C_IP,
            host: moved,
            mac: C_MAC,
            eni_id: "eni-c".into(),
            source_dest_check: true,
        }
    ));
    let fast = h1.stats().fast_path;
    assert_eq!(
        h1.process_from_port(t(2), a, &to_b, &mut out),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    assert_eq!(h1.stats().fast_path, fast + 1, "flow to B untouched");
    assert_eq!(
        h1.process_from_port(t(2), a, &to_c, &mut out),
        Verdict::ToUnderlay {
            host: moved,
            vni: VNI
        }
    );
    assert_eq!(h1.stats().fast_path, fast + 1, "flow to C re-decided");
    assert!(h1.remove_mapping("vpc-1", C_IP));
    assert_eq!(
        drop_of(h1.process_from_port(t(3), a, &to_c, &mut out)),
        DropReason::NoMapping
    );
}

#[test]
fn middlebox_eni_target() {
    // route 10.0.9.0/24 through a NAT instance M (source/dest check off) on host 2
    let m_ip = Ipv4Addr::new(10, 0, 2, 50);
    let m_mac = MacAddr([2, 0, 0, 0, 2, 50]);
    let add = |p: &mut HostProgram| {
        p.vpcs[0].route_tables[0].routes.push(Route {
            destination: net("10.0.9.0/24"),
            target: RouteTarget::NetworkInterface("eni-m".into()),
        });
        p.vpcs[0].mappings.push(Mapping {
            ip: m_ip,
            host: H2,
            mac: m_mac,
            eni_id: "eni-m".into(),
            source_dest_check: false,
        });
    };
    let mut p1 = host1();
    add(&mut p1);
    let mut p2 = host2();
    add(&mut p2);
    p2.ports.push(Port {
        id: "eni-m".into(),
        vpc_id: "vpc-1".into(),
        subnet_id: "subnet-b".into(),
        mac: m_mac,
        primary_ip: Some(m_ip),
        secondary_ips: vec![],
        security_groups: vec!["sg-app".into()],
        source_dest_check: false,
        conntrack: ConntrackTimeouts::default(),
        hostname: None,
        instance_id: None,
        device_index: 0,
        flow_logs: true,
        ipv6_addresses: vec![],
    });
    let mut h1 = Engine::with_program(p1).unwrap();
    let mut h2 = Engine::with_program(p2).unwrap();
    let a = pid(&h1, "eni-a");
    let m = pid(&h2, "eni-m");
    let f = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(10, 0, 9, 9),
        40000,
        22,
        tcp::flags::SYN,
        0,
    );
    let mut wire = Vec::new();
    let mut out = Vec::new();
    assert_eq!(
        h1.process_from_port(t(1), a, &f, &mut wire),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: m }
    );
    assert_eq!(&out[0..6], &m_mac.0);
}

#[test]
fn flow_records_drain() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let f = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 0);
    for i in 0..3 {
        h1.process_from_port(t(10 + i), a, &f, &mut out);
    }
    let mut recs = Vec::new();
    h1.drain_flow_records(|r| recs.push(r));
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].packets, recs[0].bytes), (3, 120));
    assert_eq!((recs[0].first, recs[0].last), (t(10), t(12)));
    assert_eq!(recs[0].action.as_str(), "ACCEPT");
    assert_eq!(recs[0].direction, Direction::Outbound);
    assert_eq!(recs[0].tcp_flags, tcp::flags::SYN);
    recs.clear();
    h1.drain_flow_records(|r| recs.push(r));
    assert!(recs.is_empty());
}

#[test]
fn flow_records_carry_direction_and_flags() {
    let (mut h1, mut h2) = engines();
    let a = pid(&h1, "eni-a");
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    for flags in [
        tcp::flags::SYN,
        tcp::flags::ACK,
        tcp::flags::FIN | tcp::flags::ACK,
    ] {
        let f = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, flags, 0);
        wire.clear();
        h1.process_from_port(t(1), a, &f, &mut wire);
        out.clear();
        h2.process_from_underlay(t(1), &wire, &mut out);
    }
    let mut sent = Vec::new();
    h1.drain_flow_records(|r| sent.push(r));
    let mut received = Vec::new();
    h2.drain_flow_records(|r| received.push(r));
    assert_eq!(sent.len(), 1);
    assert_eq!(received.len(), 1);
    assert_eq!(sent[0].direction, Direction::Outbound);
    assert_eq!(received[0].direction, Direction::Inbound);
    assert_eq!(&*received[0].eni, "eni-b");
    let all = tcp::flags::SYN | tcp::flags::ACK | tcp::flags::FIN;
    assert_eq!((sent[0].tcp_flags, received[0].tcp_flags), (all, all));
    assert_eq!(sent[0].packets, 3);
}

#[test]
fn only_ports_flow_logs_record_are_counted_and_turning_them_on_counts_cached_flows() {
    let mut p1 = host1();
    p1.ports.iter_mut().for_each(|p| p.flow_logs = false);
    let mut h1 = Engine::with_program(p1.clone()).unwrap();
    let a = pid(&h1, "eni-a");
    let mut wire = Vec::new();
    let send = |h: &mut Engine, wire: &mut Vec<u8>, flags| {
        let f = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, flags, 0);
        wire.clear();
        h.process_from_port(t(1), a, &f, wire)
    };
    assert!(matches!(
        send(&mut h1, &mut wire, tcp::flags::SYN),
        Verdict::ToUnderlay { .. }
    ));
    send(&mut h1, &mut wire, tcp::flags::ACK);
    let mut sent = Vec::new();
    h1.drain_flow_records(|r| sent.push(r));
    assert!(sent.is_empty(), "no flow log, no counter: {sent:?}");
    // a flow log now covers the port: the cached flow is decided again, and counted
    p1.ports.iter_mut().for_each(|p| p.flow_logs = true);
    h1.set_program(p1).unwrap();
    send(&mut h1, &mut wire, tcp::flags::ACK);
    send(&mut h1, &mut wire, tcp::flags::ACK);
    h1.drain_flow_records(|r| sent.push(r));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].packets, 2);
}

/// A cached flow's tally outlives its entry: when the entry is dropped idle, or its
/// port leaves the host, what it counted reaches the next drain under its own ENI.
#[test]
fn cached_tallies_survive_their_entries() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let send = |h: &mut Engine, out: &mut Vec<u8>, sport, now| {
        let f = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, sport, 22, tcp::flags::ACK, 0);
        h.process_from_port(now, a, &f, out)
    };
    for _ in 0..3 {
        send(&mut h1, &mut out, 40000, t(1));
    }
    assert!(h1.stats().fast_path >= 2, "the flow is cached");
    // idle past the flow table's timeout: the entry goes, its tally stays
    h1.expire(t(1000));
    assert_eq!(h1.flow_table_len(), 0);
    send(&mut h1, &mut out, 40001, t(1000));
    // eni-a leaves the host with the second flow cached
    let mut p1 = host1();
    p1.ports.retain(|p| p.id != "eni-a");
    h1.set_program(p1).unwrap();
    let mut recs = Vec::new();
    h1.drain_flow_records(|r| recs.push((r.eni.to_string(), r.tuple.src_port, r.packets)));
    recs.sort();
    assert_eq!(
        recs,
        [("eni-a".into(), 40000, 3), ("eni-a".into(), 40001, 1)]
    );
}

/// Flow-log memory is bounded: a cached flow counts in its flow-table entry (the table
/// is bounded), the flows the table cannot hold in counters (bounded too), and the
/// packets of flows beyond both are skipped, per ENI (flow logs' SKIPDATA).
#[test]
fn a_full_counter_table_skips_new_flows_and_says_so() {
    let mut h1 = Engine::new(EngineConfig {
        flow_table_capacity: 1,
        flow_log_counters: 1,
        ..EngineConfig::default()
    });
    h1.set_program(host1()).unwrap();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    for sport in 0..5u16 {
        let f = tcp_frame(
            A_MAC,
            B_MAC,
            A_IP,
            B_IP,
            40000 + sport,
            22,
            tcp::flags::SYN,
            0,
        );
        // the tables bound counting, not traffic: every flow is forwarded
        assert_eq!(
            h1.process_from_port(t(1), a, &f, &mut out),
            Verdict::ToUnderlay { host: H2, vni: VNI }
        );
    }
    assert_eq!((h1.flow_table_len(), h1.footprint().counters), (1, 1));
    let mut recs = Vec::new();
    h1.drain_flow_records(|r| recs.push(r));
    assert_eq!(recs.len(), 2);
    let mut skipped = Vec::new();
    h1.drain_skipped(|eni, n| skipped.push((eni.to_string(), n)));
    assert_eq!(skipped, vec![("eni-a".to_string(), 3)]);
}

#[test]
fn program_round_trips_through_json() {
    let p = host2();
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"02:00:00:00:01:14\""));
    let back: HostProgram = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
}

/// P, an instance of vpc-2 (10.1.0.0/16) on host 2, peered with vpc-1 by pcx-1.
const P_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 5, 5);
const P_MAC: MacAddr = MacAddr([2, 0, 0, 1, 5, 5]);

/// vpc-2, routing vpc-1's block to pcx-1, with P's mapping.
fn peer_vpc() -> Vpc {
    let mut v = vpc();
    v.id = "vpc-2".into();
    v.vni = 0x2222;
    v.cidrs = vec![net("10.1.0.0/16")];
    v.router_mac = MacAddr([2, 0, 0, 0, 0, 2]);
    v.subnets = vec![Subnet {
        id: "subnet-p".into(),
        cidr: Some(net("10.1.5.0/24")),
        route_table_id: "rtb-main".into(),
        network_acl_id: "acl-default".into(),
        availability_zone: String::new(),
        ipv6_cidr: None,
    }];
    v.route_tables[0].routes = vec![
        Route {
            destination: net("10.1.0.0/16"),
            target: RouteTarget::Local,
        },
        Route {
            destination: net("10.0.0.0/16"),
            target: RouteTarget::VpcPeering("pcx-1".into()),
        },
    ];
    v.mappings = vec![Mapping {
        ip: P_IP,
        host: H2,
        mac: P_MAC,
        eni_id: "eni-p".into(),
        source_dest_check: true,
    }];
    v.peerings = vec![Peering {
        id: "pcx-1".into(),
        peer_vpc_id: "vpc-1".into(),
    }];
    v
}

/// A host's program with vpc-1 peered with vpc-2 (both ways routed).
fn with_peering(mut p: HostProgram) -> HostProgram {
    p.vpcs[0].route_tables[0].routes.push(Route {
        destination: net("10.1.0.0/16"),
        target: RouteTarget::VpcPeering("pcx-1".into()),
    });
    p.vpcs[0].peerings = vec![Peering {
        id: "pcx-1".into(),
        peer_vpc_id: "vpc-2".into(),
    }];
    p.vpcs.push(peer_vpc());
    p
}

/// P's port, in groups `groups`.
fn peer_port(groups: &[&str]) -> Port {
    Port {
        id: "eni-p".into(),
        vpc_id: "vpc-2".into(),
        subnet_id: "subnet-p".into(),
        mac: P_MAC,
        primary_ip: Some(P_IP),
        secondary_ips: vec![],
        security_groups: groups.iter().map(|g| (*g).into()).collect(),
        source_dest_check: true,
        conntrack: ConntrackTimeouts::default(),
        hostname: None,
        instance_id: None,
        device_index: 0,
        flow_logs: true,
        ipv6_addresses: vec![],
    }
}

#[test]
fn peering_crosses_vpcs_and_authenticates_by_the_peer_mapping() {
    let (p_ip, p_mac) = (P_IP, P_MAC);
    let mut p2 = with_peering(host2());
    p2.ports.push(peer_port(&["sg-app"]));
    let mut h1 = Engine::with_program(with_peering(host1())).unwrap();
    let mut h2 = Engine::with_program(p2).unwrap();
    let a = pid(&h1, "eni-a");
    let pp = pid(&h2, "eni-p");
    let syn = tcp_frame(A_MAC, ROUTER_MAC, A_IP, p_ip, 40000, 22, tcp::flags::SYN, 0);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    // encapsulated with the peer VPC's VNI, to the peer ENI's host
    assert_eq!(
        h1.process_from_port(t(1), a, &syn, &mut wire),
        Verdict::ToUnderlay {
            host: H2,
            vni: 0x2222
        }
    );
    assert_eq!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { port: pp }
    );
    assert_eq!(&out[0..6], &p_mac.0);
    assert_eq!(&out[6..12], &[2, 0, 0, 0, 0, 2]);
    // A's address sent from the wrong host is refused
    let mut forged = wire.clone();
    forged[26..30].copy_from_slice(&H2.octets());
    ipv4::Packet::new_unchecked(&mut forged[14..34]).fill_checksum();
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &forged, &mut out)),
        DropReason::AuthenticationFailed
    );
}

/// A rule may name a security group of a peered VPC (same region, as AWS allows): the
/// receiving host matches the peer group's members, and a member joining or leaving
/// changes what passes without a new structure.
#[test]
fn a_rule_naming_a_peer_vpc_group_matches_its_members() {
    let mut p2 = with_peering(host2());
    // P admits SSH only from members of vpc-1's sg-src
    p2.vpcs[1].security_groups = vec![SecurityGroup {
        id: "sg-p".into(),
        ingress: vec![SgRule {
            protocol: 6,
            from_port: 22,
            to_port: 22,
            peer: SgPeer::Group("sg-src".into()),
        }],
        egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
        members: vec![P_IP],
        members_v6: vec![],
    }];
    p2.vpcs[0].security_groups.push(SecurityGroup {
        id: "sg-src".into(),
        ingress: vec![],
        egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
        members: vec![],
        members_v6: vec![],
    });
    p2.ports.push(peer_port(&["sg-p"]));
    let mut h1 = Engine::with_program(with_peering(host1())).unwrap();
    let mut h2 = Engine::with_program(p2.clone()).unwrap();
    let (a, pp) = (pid(&h1, "eni-a"), pid(&h2, "eni-p"));
    let mut out = Vec::new();
    // A (vpc-1, host 1) opens SSH to P through the peering
    let mut syn = |sport| {
        let frame = tcp_frame(A_MAC, ROUTER_MAC, A_IP, P_IP, sport, 22, tcp::flags::SYN, 0);
        let mut wire = Vec::new();
        h1.process_from_port(t(1), a, &frame, &mut wire);
        wire
    };
    assert_eq!(
        drop_of(h2.process_from_underlay(t(1), &syn(40000), &mut out)),
        DropReason::SecurityGroupIngress,
        "A is not in sg-src yet"
    );
    assert_eq!(
        h2.set_group_members("vpc-1", "sg-src", &[A_IP]),
        1,
        "P's port, in the other VPC, reads sg-src"
    );
    assert_eq!(
        h2.process_from_underlay(t(2), &syn(40001), &mut out),
        Verdict::ToPort { port: pp },
        "A joined sg-src"
    );
    // the same as a host given the whole structure with A in the group
    let mut whole = p2.clone();
    whole.vpcs[0].security_groups.last_mut().unwrap().members = vec![A_IP];
    let mut fresh = Engine::with_program(whole.clone()).unwrap();
    assert_eq!(h2.structure(), fresh.structure());
    assert_eq!(
        fresh.process_from_underlay(t(2), &syn(40002), &mut out),
        Verdict::ToPort { port: pp }
    );
    // and as the reference evaluator judges it, with A in the group and without
    let mut reference = crate::reference::Reference::new(whole, 16);
    assert_eq!(
        reference.process_from_underlay(t(2), &syn(40004), &mut out),
        Verdict::ToPort { port: pp }
    );
    reference.set_program(p2.clone());
    assert_eq!(
        drop_of(reference.process_from_underlay(t(2), &syn(40005), &mut out)),
        DropReason::SecurityGroupIngress
    );
    assert_eq!(h2.set_group_members("vpc-1", "sg-src", &[]), 1);
    assert_eq!(
        drop_of(h2.process_from_underlay(t(3), &syn(40003), &mut out)),
        DropReason::SecurityGroupIngress,
        "A left sg-src"
    );
}

#[test]
fn edge_traffic_comes_back_authenticated_by_the_edge() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    let internet = Ipv4Addr::new(198, 51, 100, 7);
    let syn = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        internet,
        40000,
        443,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        h1.process_from_port(t(1), a, &syn, &mut wire),
        Verdict::ToEdge {
            host: EDGE,
            vni: VNI
        }
    );
    // the edge returns the reply (after its NAT) addressed to A's MAC
    let reply = tcp_frame(
        ROUTER_MAC,
        A_MAC,
        internet,
        A_IP,
        443,
        40000,
        tcp::flags::SYN | tcp::flags::ACK,
        0,
    );
    let from = |host: Ipv4Addr| {
        let t = overlay::outer_template(
            &Underlay {
                address: host,
                mac: MacAddr::ZERO,
                next_hop_mac: MacAddr::ZERO,
            },
            H1,
            VNI,
            0xc000,
        );
        let mut w = Vec::new();
        overlay::encapsulate(&mut w, &t, &reply).unwrap();
        w
    };
    assert_eq!(
        h1.process_from_underlay(t(2), &from(EDGE), &mut out),
        Verdict::ToPort { port: a }
    );
    assert_eq!(out, reply);
    // an outside address from an ordinary host is not believed
    assert_eq!(
        drop_of(h1.process_from_underlay(t(2), &from(H2), &mut out)),
        DropReason::AuthenticationFailed
    );
    // the reply was let in by tracking: nothing in sg-app allows 443 inbound
    let fresh = tcp_frame(
        ROUTER_MAC,
        A_MAC,
        internet,
        A_IP,
        443,
        40001,
        tcp::flags::SYN,
        0,
    );
    let t2 = overlay::outer_template(
        &Underlay {
            address: EDGE,
            mac: MacAddr::ZERO,
            next_hop_mac: MacAddr::ZERO,
        },
        H1,
        VNI,
        0xc000,
    );
    let mut w = Vec::new();
    overlay::encapsulate(&mut w, &t2, &fresh).unwrap();
    assert_eq!(
        drop_of(h1.process_from_underlay(t(3), &w, &mut out)),
        DropReason::SecurityGroupIngress
    );
}

#[test]
fn geneve_from_a_udp_socket() {
    let (mut h1, mut h2) = engines();
    let a = pid(&h1, "eni-a");
    let b = pid(&h2, "eni-b");
    let syn = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 0);
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    h1.process_from_port(t(1), a, &syn, &mut wire);
    // what a UDP socket sends and receives: the Geneve header onwards
    let datagram = &wire[overlay::GENEVE_OFFSET..];
    assert_eq!(
        h2.process_geneve(t(1), H1, datagram, &mut out),
        Verdict::ToPort { port: b }
    );
    assert_eq!(out, syn);
    assert_eq!(
        h2.process_geneve(t(2), H1, datagram, &mut out),
        Verdict::ToPort { port: b }
    );
    assert_eq!(h2.stats().fast_path, 1);
    assert_eq!(
        drop_of(h2.process_geneve(t(2), Ipv4Addr::new(127, 0, 0, 50), datagram, &mut out)),
        DropReason::AuthenticationFailed
    );
}

/// An untracked cached flow must notice when the same 5-tuple becomes tracked (here by
/// the reply, which AWS's rule tracks), so its packets keep that entry alive.
#[test]
fn untracked_cache_sees_new_tracking() {
    let mut prog = host2();
    prog.vpcs[0].security_groups[0].ingress = vec![sg_rule(6, 22, 22, "0.0.0.0/0")];
    prog.vpcs[0].security_groups[0].egress = vec![sg_rule(-1, -1, -1, "0.0.0.0/0")];
    let mut h2 = Engine::with_program(prog.clone()).unwrap();
    let (b, c) = (pid(&h2, "eni-b"), pid(&h2, "eni-c"));
    let mut out = Vec::new();
    let fwd = |flags| tcp_frame(B_MAC, ROUTER_MAC, B_IP, C_IP, 40000, 22, flags, 0);
    let back = tcp_frame(C_MAC, ROUTER_MAC, C_IP, B_IP, 22, 40000, tcp::flags::ACK, 0);
    assert_eq!(
        h2.process_from_port(t(1), b, &fwd(tcp::flags::SYN), &mut out),
        Verdict::ToPort { port: c }
    );
    assert_eq!(
        h2.process_from_port(t(2), c, &back, &mut out),
        Verdict::ToPort { port: b }
    );
    assert_eq!(
        h2.process_from_port(t(100), b, &fwd(tcp::flags::ACK), &mut out),
        Verdict::ToPort { port: c }
    );
    prog.vpcs[0].security_groups[0].ingress.clear();
    h2.set_program(prog).unwrap();
    // nearly 5 days after the last packet: C's entry is alive only if that packet touched it
    let late = t(100 + 432_000 - 10);
    assert_eq!(
        h2.process_from_port(late, b, &fwd(tcp::flags::ACK), &mut out),
        Verdict::ToPort { port: c }
    );
}

#[test]
fn a_secondary_address_moves_between_enis() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let to_c = tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 40000, 22, tcp::flags::SYN, 0);
    assert_eq!(
        h1.process_from_port(t(1), a, &to_c, &mut out),
        Verdict::ToUnderlay { host: H2, vni: VNI }
    );
    // C's address is reassigned to eni-d on another host (AllowReassignment)
    let d_host = Ipv4Addr::new(127, 0, 0, 14);
    let d_mac = MacAddr([2, 0, 0, 0, 0xd, 0xd]);
    h1.upsert_mapping(
        "vpc-1",
        Mapping {
            ip: C_IP,
            host: d_host,
            mac: d_mac,
            eni_id: "eni-d".into(),
            source_dest_check: true,
        },
    );
    assert_eq!(
        h1.process_from_port(t(2), a, &to_c, &mut out),
        Verdict::ToUnderlay {
            host: d_host,
            vni: VNI
        }
    );
    assert_eq!(&out[overlay::OUTER_LEN..overlay::OUTER_LEN + 6], &d_mac.0);
    // eni-c has no address left: a route through it now drops
    let mut p = h1.program().clone();
    p.vpcs[0].route_tables[0].routes.push(Route {
        destination: net("10.0.9.0/24"),
        target: RouteTarget::NetworkInterface("eni-c".into()),
    });
    h1.set_program(p).unwrap();
    let via_c = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        Ipv4Addr::new(10, 0, 9, 1),
        40000,
        22,
        tcp::flags::SYN,
        0,
    );
    assert_eq!(
        drop_of(h1.process_from_port(t(3), a, &via_c, &mut out)),
        DropReason::NoMapping
    );
}

/// The slow path takes the headers the fast path parsed (it does not parse again): a
/// frame that does not parse is dropped for that reason where the slow path parses, after
/// the checks that come before it, whether or not its flow is cached, on every entry point.
#[test]
fn parse_errors_are_reported_where_the_slow_path_parses() {
    let (mut h1, mut h2) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let syn = tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, tcp::flags::SYN, 0);
    let corrupt = |f: &[u8], ip: usize| {
        let mut f = f.to_vec();
        f[ip + 10] ^= 0x55; // the header checksum
        f
    };
    let from_port = |h1: &mut Engine, f: &[u8], out: &mut Vec<u8>| {
        let copied = drop_of(h1.process_from_port(t(1), a, f, out));
        let (v, _, flow) = sent_in_place(h1, t(1), a, f);
        assert_eq!(flow, None);
        assert_eq!(drop_of(v), copied, "in place as copied");
        copied
    };
    // from a port: before the flow is cached, and after
    let bad = corrupt(&syn, 14);
    assert_eq!(from_port(&mut h1, &bad, &mut out), DropReason::BadChecksum);
    let mut wire = Vec::new();
    h1.process_from_port(t(1), a, &syn, &mut wire);
    assert_eq!(from_port(&mut h1, &bad, &mut out), DropReason::BadChecksum);
    // a check before the parse still comes first
    let mut not_mine = bad.clone();
    not_mine[6..12].copy_from_slice(&B_MAC.0);
    assert_eq!(
        from_port(&mut h1, &not_mine, &mut out),
        DropReason::SourceMacMismatch
    );
    // truncated inside the TCP header
    assert_eq!(
        from_port(&mut h1, &syn[..14 + 20 + 10], &mut out),
        DropReason::Malformed
    );
    assert_eq!(h1.stats().drops(DropReason::BadChecksum), 4);

    // from the underlay, whole frames and Geneve payloads in place
    let from_underlay = |h2: &mut Engine, w: &[u8], out: &mut Vec<u8>| {
        let whole = drop_of(h2.process_from_underlay(t(1), w, out));
        let (v, flow) = received_in_place(h2, t(1), H1, w);
        assert_eq!(flow, None);
        assert_eq!(drop_of(v), whole, "in place as whole");
        whole
    };
    let bad_wire = corrupt(&wire, overlay::OUTER_LEN + 14);
    assert_eq!(
        from_underlay(&mut h2, &bad_wire, &mut out),
        DropReason::BadChecksum
    );
    assert!(matches!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { .. }
    ));
    assert_eq!(
        from_underlay(&mut h2, &bad_wire, &mut out),
        DropReason::BadChecksum
    );
    // an unknown VNI is found before the inner frame is parsed
    let mut other = bad_wire.clone();
    other[46] ^= 0xff;
    assert_eq!(
        from_underlay(&mut h2, &other, &mut out),
        DropReason::UnknownVni
    );
    assert_eq!(h2.stats().drops(DropReason::BadChecksum), 4);
}

/// `frame` sent by the instance behind `port`, through the in-place API as the agent
/// calls it: the verdict, the packet sent and the flow a cached decision handed back.
fn sent_in_place(
    e: &mut Engine,
    now: Time,
    port: PortId,
    frame: &[u8],
) -> (Verdict, Vec<u8>, Option<CachedFlow>) {
    let mut buf = vec![0u8; overlay::OUTER_LEN];
    buf.extend_from_slice(frame);
    let end = buf.len();
    let mut out = Vec::new();
    let p = e.process_from_port_in_place(now, port, &mut buf, overlay::OUTER_LEN..end, &mut out);
    let sent = match p.output {
        Output::InPlace(r) => buf[r].to_vec(),
        Output::Out => out,
    };
    (p.verdict, sent, p.cached)
}

/// The Geneve payload of `wire` (a whole underlay frame) received from `outer_src`,
/// through the in-place API as the agent calls it.
fn received_in_place(
    e: &mut Engine,
    now: Time,
    outer_src: Ipv4Addr,
    wire: &[u8],
) -> (Verdict, Option<CachedFlow>) {
    let mut buf = wire.to_vec();
    let mut out = Vec::new();
    let end = buf.len();
    let p = e.process_geneve_in_place(
        now,
        outer_src,
        &mut buf,
        overlay::GENEVE_OFFSET..end,
        &mut out,
    );
    (p.verdict, p.cached)
}

/// An established TCP flow's cached decisions, described for a kernel fast path from
/// the flow the in-place calls hand back (the frame parsed once): the sender's
/// encapsulation, the receiver's authenticated delivery; traffic reported back keeps the
/// flow alive; a program change or a closing connection withdraws them.
#[test]
fn established_tcp_flows_offload_both_ways() {
    let mut p1 = host1();
    p1.ports[0].conntrack.tcp_established = 60;
    let (mut h1, mut h2) = (
        Engine::with_program(p1.clone()).unwrap(),
        Engine::with_program(host2()).unwrap(),
    );
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let (mut wire, mut out) = (Vec::new(), Vec::new());
    let frame = |f: u16, len: usize| tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, f, len);
    let back = |f: u16| tcp_frame(B_MAC, A_MAC, B_IP, A_IP, 22, 40000, f, 0);
    let (v, syn, first) = sent_in_place(&mut h1, t(10), a, &frame(tcp::flags::SYN, 0));
    assert!(matches!(v, Verdict::ToUnderlay { .. }));
    assert_eq!(
        first, None,
        "decided by the slow path: no cached decision served it"
    );
    h2.process_from_underlay(t(10), &syn, &mut out);
    let (_, _, early) = sent_in_place(&mut h1, t(10), a, &frame(tcp::flags::ACK, 100));
    let early = early.expect("served by the cached decision");
    assert_eq!(h1.offload(&early, t(10)), None, "not established yet");
    h2.process_from_port(
        t(10),
        b,
        &back(tcp::flags::SYN | tcp::flags::ACK),
        &mut wire,
    );
    h1.process_from_underlay(t(10), &wire, &mut out);
    let data = frame(tcp::flags::ACK, 100);
    let tuple = crate::packet::parse_ipv4(&data[14..]).unwrap().tuple;
    let (v, wire, flow) = sent_in_place(&mut h1, t(11), a, &data);
    assert_eq!(v, Verdict::ToUnderlay { host: H2, vni: VNI });
    let flow = flow.expect("served by the cached decision");
    assert_eq!(
        (flow.tuple, flow.tcp_flags, flow.ip_options, flow.arrival),
        (tuple, tcp::flags::ACK, false, Arrival::Port(a))
    );
    let (v, inbound) = received_in_place(&mut h2, t(11), H1, &wire);
    assert_eq!(v, Verdict::ToPort { port: b });

    let o = h1.offload(&flow, t(11)).expect("egress offload");
    match o.action {
        crate::OffloadAction::Encap {
            port,
            outer,
            host,
            vni,
        } => {
            assert_eq!((port, host, vni), (a, H2, VNI));
            // the headers the engine wrote, lengths and IPv4 checksum aside
            for r in [0..14, 26..38, 42..50] {
                assert_eq!(outer[r.clone()], wire[r.clone()], "bytes {r:?}");
            }
        }
        other => panic!("expected an encapsulation, got {other:?}"),
    }
    assert_eq!(
        (o.tuple, o.src_mac, o.dst_mac, o.rewrite),
        (tuple, A_MAC, B_MAC, None)
    );
    let inbound = inbound.expect("served by the cached decision");
    assert_eq!(
        inbound.arrival,
        Arrival::Underlay {
            vni: VNI,
            outer_src: H1
        }
    );
    let i = h2.offload(&inbound, t(11)).expect("ingress offload");
    assert_eq!(
        i.action,
        crate::OffloadAction::Deliver {
            vni: VNI,
            outer_src: H1,
            port: b
        }
    );
    // only from the host V2P names: the engine refuses the packet, and the decision
    let (v, elsewhere) = received_in_place(&mut h2, t(11), EDGE, &wire);
    assert_eq!(
        (drop_of(v), elsewhere),
        (DropReason::AuthenticationFailed, None)
    );
    let from_edge = CachedFlow {
        arrival: Arrival::Underlay {
            vni: VNI,
            outer_src: EDGE,
        },
        ..inbound
    };
    assert_eq!(h2.offload(&from_edge, t(11)), None);
    // SYN, FIN and RST always take the engine's path; so does all but TCP
    for f in [
        tcp::flags::SYN,
        tcp::flags::FIN | tcp::flags::ACK,
        tcp::flags::RST,
    ] {
        let with = CachedFlow {
            tcp_flags: f,
            ..flow
        };
        assert_eq!(h1.offload(&with, t(11)), None, "flags {f:#x}");
    }
    let udp = CachedFlow {
        tuple: crate::packet::FiveTuple {
            protocol: 17,
            ..tuple
        },
        tcp_flags: 0,
        ..flow
    };
    assert!(!udp.may_offload());
    assert_eq!(h1.offload(&udp, t(11)), None);
    // a SYN of the established flow, through the engine (its state stays established)
    let (_, _, syn) = sent_in_place(&mut h1, t(11), a, &frame(tcp::flags::SYN, 0));
    let syn = syn.expect("served by the cached decision");
    assert_eq!(h1.offload(&syn, t(11)), None, "a SYN stays with the engine");
    assert_eq!(
        h1.offload(&flow, t(11)),
        Some(o),
        "the flow itself still may"
    );

    // what the kernel carried keeps tracking and flow logs going
    let (packets, bytes) = h1.counter(a, tuple, FlowAction::Accept).unwrap();
    h1.offloaded(&o, 10, 10_000, t(60));
    assert_eq!(
        h1.counter(a, tuple, FlowAction::Accept),
        Some((packets + 10, bytes + 10_000))
    );
    assert!(
        h1.offload_current(&o, t(100)),
        "touched at 60: alive until 120"
    );
    assert!(!h1.offload_current(&o, t(200)), "idle past the timeout");

    // a change of the program withdraws it (the engine decides again)
    let i_before = h2.offload_current(&i, t(12));
    h2.set_program({
        let mut q = host2();
        q.vpcs[0].security_groups[0]
            .egress
            .push(sg_rule(6, 9999, 9999, "10.0.0.0/8"));
        q
    })
    .unwrap();
    assert!(i_before && !h2.offload_current(&i, t(12)));
}

/// A port with source/dest check off (a middlebox) forwards others' packets: its flows,
/// sent or received, stay with the engine even once established and cached.
#[test]
fn middlebox_flows_are_never_offloaded() {
    let (mut p1, mut p2) = (host1(), host2());
    p1.ports[0].source_dest_check = false;
    p2.ports[0].source_dest_check = false;
    let (mut h1, mut h2) = (
        Engine::with_program(p1).unwrap(),
        Engine::with_program(p2).unwrap(),
    );
    let (a, b) = (pid(&h1, "eni-a"), pid(&h2, "eni-b"));
    let mut out = Vec::new();
    let frame = |f: u16| tcp_frame(A_MAC, B_MAC, A_IP, B_IP, 40000, 22, f, 10);
    let (_, syn, _) = sent_in_place(&mut h1, t(10), a, &frame(tcp::flags::SYN));
    h2.process_from_underlay(t(10), &syn, &mut out);
    let mut wire = Vec::new();
    let syn_ack = tcp_frame(
        B_MAC,
        A_MAC,
        B_IP,
        A_IP,
        22,
        40000,
        tcp::flags::SYN | tcp::flags::ACK,
        0,
    );
    h2.process_from_port(t(10), b, &syn_ack, &mut wire);
    h1.process_from_underlay(t(10), &wire, &mut out);
    let (_, wire, sent) = sent_in_place(&mut h1, t(11), a, &frame(tcp::flags::ACK));
    let (v, received) = received_in_place(&mut h2, t(11), H1, &wire);
    assert_eq!(v, Verdict::ToPort { port: b });
    let (sent, received) = (sent.expect("cached"), received.expect("cached"));
    assert!(sent.may_offload() && received.may_offload());
    assert_eq!(h1.offload(&sent, t(11)), None, "sent by a middlebox");
    assert_eq!(h2.offload(&received, t(11)), None, "for a middlebox");
}

/// A member joining or leaving a group recompiles only the ports whose rules name the
/// group, and they decide as a whole reinstall would.
#[test]
fn group_members_change_only_what_reads_them() {
    let mut program = host2();
    let db = SecurityGroup {
        id: "sg-db".into(),
        ingress: vec![SgRule {
            protocol: 6,
            from_port: 5432,
            to_port: 5432,
            peer: SgPeer::Group("sg-web".into()),
        }],
        egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
        members: vec![C_IP],
        members_v6: vec![],
    };
    let web = SecurityGroup {
        id: "sg-web".into(),
        ingress: vec![],
        egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
        members: vec![],
        members_v6: vec![],
    };
    program.vpcs[0].security_groups.extend([db, web]);
    program.ports[1].security_groups = vec!["sg-db".into()];
    let mut h2 = Engine::with_program(program.clone()).unwrap();
    let (b, c) = (pid(&h2, "eni-b"), pid(&h2, "eni-c"));
    let mut out = Vec::new();
    let syn = |sport| {
        tcp_frame(
            B_MAC,
            ROUTER_MAC,
            B_IP,
            C_IP,
            sport,
            5432,
            tcp::flags::SYN,
            0,
        )
    };
    assert_eq!(
        drop_of(h2.process_from_port(t(1), b, &syn(40000), &mut out)),
        DropReason::SecurityGroupIngress,
        "B is not in sg-web yet"
    );

    assert_eq!(
        h2.set_group_members("vpc-1", "sg-web", &[B_IP]),
        1,
        "only C's port reads sg-web"
    );
    assert_eq!(
        h2.set_group_members("vpc-1", "sg-web", &[B_IP]),
        0,
        "no change"
    );
    assert_eq!(
        h2.process_from_port(t(2), b, &syn(40001), &mut out),
        Verdict::ToPort { port: c },
        "B joined sg-web"
    );
    let mut whole = program.clone();
    whole.vpcs[0]
        .security_groups
        .iter_mut()
        .find(|g| g.id == "sg-web")
        .unwrap()
        .members = vec![B_IP];
    let reinstalled = Engine::with_program(whole).unwrap();
    assert_eq!(h2.structure(), reinstalled.structure());

    assert_eq!(h2.set_group_members("vpc-1", "sg-web", &[]), 1);
    assert_eq!(
        drop_of(h2.process_from_port(t(3), b, &syn(40002), &mut out)),
        DropReason::SecurityGroupIngress,
        "B left sg-web"
    );
    assert_eq!(
        h2.set_group_members("vpc-1", "sg-app", &[A_IP]),
        0,
        "no rule names sg-app: nothing to recompile"
    );
}

/// A broken invariant of the engine's own tables, or a caller's range outside its
/// buffer, drops the packet with `internal`, counted; nothing panics.
#[test]
fn broken_invariants_drop_and_count_never_panic() {
    let internal = Verdict::Drop {
        reason: DropReason::Internal,
    };
    let (mut h1, mut h2) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    // ranges outside the buffer
    let syn = tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 40000, 22, tcp::flags::SYN, 0);
    let mut buf = vec![0u8; 64];
    let p = h1.process_from_port_in_place(t(1), a, &mut buf, 60..160, &mut out);
    assert_eq!(p.verdict, internal);
    #[allow(clippy::reversed_empty_ranges)]
    let p = h1.process_from_port_in_place(t(1), a, &mut buf, 70..60, &mut out);
    assert_eq!(p.verdict, internal);
    let p = h2.process_geneve_in_place(t(1), H1, &mut buf, 8..100, &mut out);
    assert_eq!(p.verdict, internal);
    assert_eq!(h1.stats().drops(DropReason::Internal), 2);
    assert_eq!(h2.stats().drops(DropReason::Internal), 1);

    // a flow from host 1 to C on host 2, cached on both sides
    let mut wire = Vec::new();
    assert!(matches!(
        h1.process_from_port(t(1), a, &syn, &mut wire),
        Verdict::ToUnderlay { .. }
    ));
    assert!(matches!(
        h2.process_from_underlay(t(1), &wire, &mut out),
        Verdict::ToPort { .. }
    ));
    // tables that no longer hold what they name
    h1.break_subnets();
    let other = tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 40001, 22, tcp::flags::SYN, 0);
    assert_eq!(h1.process_from_port(t(2), a, &other, &mut out), internal);
    h1.break_vpcs();
    assert_eq!(h1.process_from_port(t(2), a, &other, &mut out), internal);
    h2.break_ports();
    // a new flow to C (the inner frame as host 1 rewrites it: from the router to C)
    let t1 = overlay::outer_template(&host1().underlay, H2, VNI, 0xc001);
    let inner = tcp_frame(ROUTER_MAC, C_MAC, A_IP, C_IP, 40002, 22, tcp::flags::SYN, 0);
    let mut wire2 = Vec::new();
    overlay::encapsulate(&mut wire2, &t1, &inner).unwrap();
    assert_eq!(h2.process_from_underlay(t(2), &wire2, &mut out), internal);
    h2.break_vpcs();
    assert_eq!(h2.process_from_underlay(t(2), &wire2, &mut out), internal);
    assert_eq!(h1.stats().drops(DropReason::Internal), 4);
    assert_eq!(h2.stats().drops(DropReason::Internal), 3);
    assert_eq!(DropReason::Internal.as_str(), "internal");
}

fn dns_query(name: &str, qtype: u16) -> Vec<u8> {
    use crate::wire::dns;
    let r = dns::Repr {
        id: 0xbeef,
        flags: dns::flags::RD,
        questions: vec![dns::Question {
            name: dns::Name::from_dotted(name).unwrap(),
            qtype,
            qclass: dns::class::IN,
        }],
        ..dns::Repr::default()
    };
    let mut b = vec![0u8; r.buffer_len()];
    r.emit(&mut dns::Packet::new_unchecked(&mut b[..]));
    b
}

/// The reply's DNS message, checked to come back to A from `server`.
fn dns_reply(out: &[u8], server: Ipv4Addr) -> crate::wire::dns::Repr {
    use crate::wire::{dns, udp};
    let eth = ethernet::Frame::new_checked(out).unwrap();
    assert_eq!((eth.src(), eth.dst()), (ROUTER_MAC, A_MAC));
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src(), ip.dst()), (server, A_IP));
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum(ip.src(), ip.dst()));
    assert_eq!((u.src_port(), u.dst_port()), (53, 5353));
    dns::Repr::parse(&dns::Packet::new_checked(u.payload()).unwrap()).unwrap()
}

/// The VPC resolver is the engine's: names of V2P's addresses (forward and reverse)
/// under the VPC's domain, NXDOMAIN for the rest, FORMERR for garbage; on base + 2 and
/// 169.254.169.253, UDP; answered back to the asking port, counted.
#[test]
fn the_resolver_answers_from_v2p() {
    use crate::wire::dns::{RData, rcode, rtype};
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let base2 = Ipv4Addr::new(10, 0, 0, 2);
    let ask = |h: &mut Engine, server: Ipv4Addr, q: &[u8], out: &mut Vec<u8>| {
        let f = udp_frame(A_MAC, ROUTER_MAC, A_IP, server, 5353, 53, q);
        h.process_from_port(t(1), a, &f, out)
    };
    // C (another subnet, another host) by name, from both addresses
    for server in [base2, Ipv4Addr::new(169, 254, 169, 253)] {
        let q = dns_query("ip-10-0-2-30.ec2.internal", rtype::A);
        assert_eq!(
            ask(&mut h1, server, &q, &mut out),
            Verdict::Hairpin { port: a }
        );
        let r = dns_reply(&out, server);
        assert_eq!((r.id, r.rcode), (0xbeef, rcode::NOERROR));
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].data, RData::A(C_IP));
    }
    // the reverse
    let q = dns_query("20.1.0.10.in-addr.arpa", rtype::PTR);
    assert_eq!(
        ask(&mut h1, base2, &q, &mut out),
        Verdict::Hairpin { port: a }
    );
    let r = dns_reply(&out, base2);
    let name = crate::wire::dns::Name::from_dotted("ip-10-0-1-20.ec2.internal").unwrap();
    assert_eq!(r.answers[0].data, RData::Name(name));
    // an address V2P does not hold, a name outside the VPC: NXDOMAIN
    for q in [
        dns_query("ip-10-0-2-31.ec2.internal", rtype::A),
        dns_query("example.com", rtype::A),
    ] {
        assert_eq!(
            ask(&mut h1, base2, &q, &mut out),
            Verdict::Hairpin { port: a }
        );
        assert_eq!(dns_reply(&out, base2).rcode, rcode::NXDOMAIN);
    }
    // garbage: FORMERR
    let mut two = dns_query("example.com", rtype::A);
    two[5] = 2;
    assert_eq!(
        ask(&mut h1, base2, &two, &mut out),
        Verdict::Hairpin { port: a }
    );
    assert_eq!(dns_reply(&out, base2).rcode, rcode::FORMERR);
    // TCP, and a response: not answered
    let tcp53 = tcp_frame(A_MAC, ROUTER_MAC, A_IP, base2, 5353, 53, tcp::flags::SYN, 0);
    assert_eq!(
        drop_of(h1.process_from_port(t(1), a, &tcp53, &mut out)),
        DropReason::DnsUnanswered
    );
    let mut response = dns_query("example.com", rtype::A);
    response[2] |= 0x80;
    assert_eq!(
        drop_of(ask(&mut h1, base2, &response, &mut out)),
        DropReason::DnsUnanswered
    );
    let s = h1.stats();
    assert_eq!((s.dns.answers, s.dns.nxdomain, s.dns.formerr), (6, 2, 1));
    assert_eq!(s.drops(DropReason::DnsUnanswered), 2);

    // the VPC's own domain, from its DHCP options; V2P changes are seen at once
    let mut p = host1();
    p.vpcs[0].dhcp.domain_name = Some("corp.example".into());
    h1.set_program(p).unwrap();
    let q = dns_query("ip-10-0-2-30.corp.example", rtype::A);
    ask(&mut h1, base2, &q, &mut out);
    assert_eq!(dns_reply(&out, base2).answers[0].data, RData::A(C_IP));
    h1.remove_mapping("vpc-1", C_IP);
    ask(&mut h1, base2, &q, &mut out);
    assert_eq!(dns_reply(&out, base2).rcode, rcode::NXDOMAIN);
}

/// A frame too large for one encapsulated IPv4 packet (a TAP super-frame near 64 KiB)
/// is dropped as `too_large`, counted, on the slow and the fast path, copying or in
/// place; it never gets lengths that wrapped.
#[test]
fn frames_too_large_to_encapsulate_are_dropped() {
    let (mut h1, _) = engines();
    let a = pid(&h1, "eni-a");
    let mut out = Vec::new();
    let too_large = Verdict::Drop {
        reason: DropReason::TooLarge,
    };
    let big = |flags| tcp_frame(A_MAC, ROUTER_MAC, A_IP, C_IP, 40000, 22, flags, 65_495);
    assert!(big(tcp::flags::SYN).len() > overlay::MAX_INNER);
    // the first packet (slow path), then the flow's next ones (fast path)
    assert_eq!(
        h1.process_from_port(t(1), a, &big(tcp::flags::SYN), &mut out),
        too_large
    );
    assert_eq!(
        h1.process_from_port(t(1), a, &big(tcp::flags::ACK), &mut out),
        too_large
    );
    let f = big(tcp::flags::ACK);
    let mut buf = vec![0u8; overlay::OUTER_LEN];
    buf.extend_from_slice(&f);
    let end = buf.len();
    let p = h1.process_from_port_in_place(t(1), a, &mut buf, overlay::OUTER_LEN..end, &mut out);
    assert_eq!((p.verdict, p.output), (too_large, crate::Output::Out));
    assert!(p.cached.is_some(), "the cached decision dropped it");
    assert_eq!(h1.stats().drops(DropReason::TooLarge), 3);
    assert!(h1.stats().fast_path >= 2, "decided once, then cached");
    // a frame that fits still goes
    let small = tcp_frame(
        A_MAC,
        ROUTER_MAC,
        A_IP,
        C_IP,
        40000,
        22,
        tcp::flags::ACK,
        100,
    );
    assert!(matches!(
        h1.process_from_port(t(1), a, &small, &mut out),
        Verdict::ToUnderlay { .. }
    ));
}
