//! Churn: ENIs and VPCs come and go through one engine. Slots are reused, the tables
//! stay bounded, and nothing keyed by a slot (tracked flows, cached decisions,
//! counters, V2P) reaches the slot's next occupant.

use crate::counters::Action as FlowAction;
use crate::fixtures::{H1, H2, ROUTER_MAC, nacl_allow_all, net, sg_rule, tcp_frame};
use crate::program::*;
use crate::wire::MacAddr;
use crate::wire::tcp::flags::{ACK, SYN};
use crate::{DropReason, Engine, EngineConfig, Footprint, Time, Verdict, overlay};
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

/// One ENI of the churn.
#[derive(Clone)]
struct Eni {
    id: String,
    mac: MacAddr,
    ip: Ipv4Addr,
    /// Security group: open (TCP 22 and ICMP from 10/8) or closed (no ingress).
    open: bool,
}

/// A VPC of the churn: `vpc-N`, VNI N, 10.(N % 200).0.0/16, one subnet .1.0/24.
#[derive(Clone)]
struct Lane {
    n: u32,
    enis: VecDeque<Eni>,
    next_host: u8,
}

impl Lane {
    fn id(&self) -> String {
        format!("vpc-{}", self.n)
    }
    fn octet(&self) -> u8 {
        u8::try_from(self.n % 200).unwrap()
    }
}

fn eni(n: u32, lane: &mut Lane) -> Eni {
    // host addresses cycle through .10–.249: at most 6 live per lane, never a clash
    let host = 10 + lane.next_host % 240;
    lane.next_host = lane.next_host.wrapping_add(1) % 240;
    let b = n.to_be_bytes();
    Eni {
        id: format!("eni-{n:08x}"),
        mac: MacAddr([0x02, 0x01, b[0], b[1], b[2], b[3]]),
        ip: Ipv4Addr::new(10, lane.octet(), 1, host),
        open: true,
    }
}

fn vpc_of(lane: &Lane) -> Vpc {
    let o = lane.octet();
    Vpc {
        id: lane.id(),
        vni: lane.n,
        cidrs: vec![net(&format!("10.{o}.0.0/16"))],
        router_mac: ROUTER_MAC,
        subnets: vec![Subnet {
            id: format!("subnet-{}", lane.n),
            cidr: Some(net(&format!("10.{o}.1.0/24"))),
            route_table_id: "rtb-main".into(),
            network_acl_id: "acl-all".into(),
            availability_zone: String::new(),
            ipv6_cidr: None,
        }],
        route_tables: vec![RouteTable {
            id: "rtb-main".into(),
            routes: vec![Route {
                destination: net(&format!("10.{o}.0.0/16")),
                target: RouteTarget::Local,
            }],
            routes_v6: vec![],
        }],
        network_acls: vec![nacl_allow_all("acl-all")],
        security_groups: vec![
            SecurityGroup {
                id: "sg-open".into(),
                ingress: vec![
                    sg_rule(6, 22, 22, "10.0.0.0/8"),
                    sg_rule(1, -1, -1, "10.0.0.0/8"),
                ],
                egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
                members: vec![],
                members_v6: vec![],
            },
            SecurityGroup {
                id: "sg-closed".into(),
                ingress: vec![],
                egress: vec![sg_rule(-1, -1, -1, "0.0.0.0/0")],
                members: vec![],
                members_v6: vec![],
            },
        ],
        dhcp: DhcpOptions::default(),
        mappings: lane
            .enis
            .iter()
            .map(|e| Mapping {
                ip: e.ip,
                host: H2,
                mac: e.mac,
                eni_id: e.id.clone(),
                source_dest_check: true,
            })
            .chain(std::iter::once(Mapping {
                // a remote instance on host 1, for traffic from the underlay
                ip: Ipv4Addr::new(10, lane.octet(), 1, 250),
                host: H1,
                mac: MacAddr([0x02, 0x09, 0, 0, 0, lane.octet()]),
                eni_id: "eni-remote".into(),
                source_dest_check: true,
            }))
            .collect(),
        edges: vec![],
        peerings: vec![],
        transit_gateway_attachments: vec![],
        ipv6_cidrs: vec![],
        mappings_v6: vec![],
    }
}

fn program(lanes: &[Lane]) -> HostProgram {
    HostProgram {
        underlay: Underlay {
            address: H2,
            mac: MacAddr([2, 0xee, 0, 0, 0, 12]),
            next_hop_mac: MacAddr([2, 0xee, 0, 0, 0, 1]),
        },
        ports: lanes
            .iter()
            .flat_map(|l| {
                l.enis.iter().map(|e| Port {
                    id: e.id.clone(),
                    vpc_id: l.id(),
                    subnet_id: format!("subnet-{}", l.n),
                    mac: e.mac,
                    primary_ip: Some(e.ip),
                    secondary_ips: vec![],
                    security_groups: vec![if e.open { "sg-open" } else { "sg-closed" }.into()],
                    source_dest_check: true,
                    conntrack: ConntrackTimeouts::default(),
                    hostname: None,
                    instance_id: None,
                    device_index: 0,
                    flow_logs: true,
                    ipv6_addresses: vec![],
                })
            })
            .collect(),
        vpcs: lanes.iter().map(vpc_of).collect(),
    }
}

fn syn(from: &Eni, to: &Eni, sport: u16, flags: u16) -> Vec<u8> {
    tcp_frame(from.mac, to.mac, from.ip, to.ip, sport, 22, flags, 0)
}

/// `from` opens a connection to `to` on the same host: delivered to `to`'s port.
fn connect(e: &mut Engine, now: Time, from: &Eni, to: &Eni, sport: u16) {
    let mut out = Vec::new();
    let p = e.port_id(&from.id).expect("from's port");
    let q = e.port_id(&to.id).expect("to's port");
    let v = e.process_from_port(now, p, &syn(from, to, sport, SYN), &mut out);
    assert_eq!(v, Verdict::ToPort { port: q }, "{} -> {}", from.id, to.id);
    assert_eq!(&out[..6], &to.mac.0, "with its MAC");
    let back = tcp_frame(to.mac, from.mac, to.ip, from.ip, 22, sport, SYN | ACK, 0);
    let v = e.process_from_port(now, q, &back, &mut out);
    assert_eq!(v, Verdict::ToPort { port: p }, "the reply");
}

const LANES: u32 = 3;
const PER_LANE: usize = 6;
const ENIS: u32 = 100_000;

#[test]
fn churn_of_100k_enis_reuses_slots_and_stays_bounded() {
    let mut e = Engine::new(EngineConfig {
        conntrack_per_port: 64,
        flow_table_capacity: 1 << 12,
        ..EngineConfig::default()
    });
    let mut made = 0u32;
    let mut next_vpc = 1u32;
    let mut ip_of: HashMap<String, Ipv4Addr> = HashMap::new();
    let mut lanes: Vec<Lane> = Vec::new();
    let new_lane =
        |next_vpc: &mut u32, made: &mut u32, ip_of: &mut HashMap<String, Ipv4Addr>| -> Lane {
            let mut l = Lane {
                n: *next_vpc,
                enis: VecDeque::new(),
                next_host: 0,
            };
            *next_vpc += 1;
            for _ in 0..PER_LANE {
                let x = eni(*made, &mut l);
                ip_of.insert(x.id.clone(), x.ip);
                l.enis.push_back(x);
                *made += 1;
            }
            l
        };
    for _ in 0..LANES {
        lanes.push(new_lane(&mut next_vpc, &mut made, &mut ip_of));
    }
    e.set_program(program(&lanes)).unwrap();
    let mut now = Time::from_secs(1_000);
    let mut step = 0u32;
    let mut peak = Footprint::default();
    let mut records = 0u64;
    while made < ENIS {
        step += 1;
        now = Time(now.0 + 1_000_000_000);
        let li = usize::try_from(step % LANES).unwrap();
        if step.is_multiple_of(997) {
            // the whole VPC goes, a new one comes (its ports with it)
            lanes[li] = new_lane(&mut next_vpc, &mut made, &mut ip_of);
        } else {
            // the three oldest ENIs go, three new ones come
            let lane = &mut lanes[li];
            for _ in 0..3 {
                lane.enis.pop_front();
                let x = eni(made, lane);
                ip_of.insert(x.id.clone(), x.ip);
                lane.enis.push_back(x);
                made += 1;
            }
        }
        e.set_program(program(&lanes)).unwrap();
        // the newest ENI talks to the oldest: conntrack, flows, counters on both
        let lane = &lanes[li];
        let (from, to) = (lane.enis.back().unwrap(), lane.enis.front().unwrap());
        connect(
            &mut e,
            now,
            from,
            to,
            u16::try_from(1024 + step % 60_000).unwrap(),
        );
        if step.is_multiple_of(100) {
            // each record is of its own ENI's traffic, whichever slot the ENI had
            e.drain_flow_records(|r| {
                let ip = std::net::IpAddr::V4(ip_of[&*r.eni]);
                assert!(r.tuple.src == ip || r.tuple.dst == ip, "{r:?}");
                records += 1;
            });
            e.expire(now);
        }
        let f = e.footprint();
        peak = Footprint {
            port_slots: peak.port_slots.max(f.port_slots),
            vpc_slots: peak.vpc_slots.max(f.vpc_slots),
            epochs: peak.epochs.max(f.epochs),
            conntrack_slab: peak.conntrack_slab.max(f.conntrack_slab),
            conntrack_ports: peak.conntrack_ports.max(f.conntrack_ports),
            flows: peak.flows.max(f.flows),
            counters: peak.counters.max(f.counters),
            ..peak
        };
    }
    assert!(made >= ENIS && step > 30_000, "{made} ENIs in {step} steps");
    assert!(records > 0);
    let ports = usize::try_from(LANES).unwrap() * PER_LANE;
    // slot tables as long as the most ports and VPCs present at once
    assert_eq!(peak.port_slots, ports, "{peak:?}");
    assert_eq!(peak.vpc_slots, usize::try_from(LANES).unwrap(), "{peak:?}");
    assert!(peak.conntrack_ports <= ports, "{peak:?}");
    // state bounded by what is live, not by what ever was
    assert!(peak.epochs <= 200, "{peak:?}");
    assert!(peak.conntrack_slab <= 2 * ports + 8, "{peak:?}");
    assert!(peak.flows <= 4 * ports, "{peak:?}");
    assert!(peak.counters <= 4 * 100 + 4 * ports, "{peak:?}");
    let f = e.footprint();
    assert_eq!((f.ports, f.vpcs), (ports, usize::try_from(LANES).unwrap()));

    // after the churn: traffic between two ports gets the right verdicts
    let lane = lanes[0].clone();
    let (x, y) = (&lane.enis[0], &lane.enis[1]);
    connect(&mut e, now, x, y, 7);
    connect(&mut e, now, y, x, 8);

    // a port leaves and a newcomer takes its slot and its address, with a closed
    // security group: nothing of the old port reaches it
    let mut lanes2 = lanes.clone();
    let old = lanes2[0].enis.remove(1).unwrap();
    let slot = e.port_id(&old.id).unwrap();
    let mut newcomer = eni(made, &mut lanes2[0]);
    newcomer.ip = old.ip;
    newcomer.open = false;
    lanes2[0].enis.push_back(newcomer.clone());
    e.set_program(program(&lanes2)).unwrap();
    assert_eq!(e.port_id(&newcomer.id), Some(slot), "the lowest free slot");
    assert_eq!(e.port_id(&old.id), None);
    let mut out = Vec::new();
    let p = e.port_id(&x.id).unwrap();
    // the cached flow to the old port's MAC: not to the newcomer
    let v = e.process_from_port(now, p, &syn(x, &old, 7, ACK), &mut out);
    assert_eq!(
        v,
        Verdict::Drop {
            reason: DropReason::UnknownDestinationMac
        }
    );
    // the same connection to the newcomer: the old port's tracked flow is gone, so
    // the newcomer's own rules decide (no ingress at all)
    let v = e.process_from_port(now, p, &syn(x, &newcomer, 7, ACK), &mut out);
    assert_eq!(
        v,
        Verdict::Drop {
            reason: DropReason::SecurityGroupIngress
        }
    );
    // a frame the old port would have sent, on its slot: not the newcomer's
    let v = e.process_from_port(now, slot, &syn(&old, x, 22, ACK), &mut out);
    assert_eq!(
        v,
        Verdict::Drop {
            reason: DropReason::SourceMacMismatch
        }
    );
    // the old port's last counts are drained under its own ENI
    let mut of_old = 0;
    e.drain_flow_records(|r| {
        if &*r.eni == newcomer.id.as_str() {
            // only the refused packet is the newcomer's
            assert_eq!((r.action, r.packets), (FlowAction::Reject, 1), "{r:?}");
        }
        of_old += u32::from(&*r.eni == old.id.as_str());
    });
    assert!(of_old > 0);
}

#[test]
fn a_vpc_slot_reused_in_one_install_keeps_nothing_of_the_vpc_before() {
    let mk = |n: u32, hosts: &[u8]| {
        let mut l = Lane {
            n,
            enis: VecDeque::new(),
            next_host: 0,
        };
        for (i, &h) in hosts.iter().enumerate() {
            let mut x = eni(n * 100 + u32::try_from(i).unwrap(), &mut l);
            x.ip = Ipv4Addr::new(10, l.octet(), 1, h);
            l.enis.push_back(x);
        }
        l
    };
    let (a, b) = (mk(1, &[10, 11]), mk(2, &[10, 11]));
    let mut e = Engine::with_program(program(&[a.clone(), b.clone()])).unwrap();
    let now = Time::from_secs(10);
    // an established flow from the remote instance (host 1) into a's first port
    let remote = Eni {
        id: "eni-remote".into(),
        mac: MacAddr([0x02, 0x09, 0, 0, 0, a.octet()]),
        ip: Ipv4Addr::new(10, a.octet(), 1, 250),
        open: true,
    };
    let target = &a.enis[0];
    let inner = syn(&remote, target, 5000, SYN);
    let t = overlay::outer_template(
        &Underlay {
            address: H1,
            ..Underlay::default()
        },
        H2,
        a.n,
        0xc000,
    );
    let mut wire = Vec::new();
    overlay::encapsulate(&mut wire, &t, &inner).unwrap();
    let mut out = Vec::new();
    let into = e.port_id(&target.id).unwrap();
    assert_eq!(
        e.process_from_underlay(now, &wire, &mut out),
        Verdict::ToPort { port: into }
    );
    let vslot = e.footprint().vpc_slots;
    // a leaves, c comes with a's VNI and the same addresses, in one change of
    // structure (V2P not resent): c gets a's slot, and none of a's V2P
    let c = mk(3, &[10, 11]);
    let mut p = program(&[b.clone(), c.clone()]);
    p.vpcs[1].vni = a.n;
    for v in &mut p.vpcs {
        v.mappings.clear();
    }
    e.set_structure(p).unwrap();
    assert_eq!(e.footprint().vpc_slots, vslot, "a's slot reused");
    assert!(
        !e.is_mapped("vpc-3", remote.ip),
        "c starts with an empty V2P"
    );
    assert!(e.is_mapped("vpc-2", b.enis[0].ip), "b keeps its own");
    // a's cached flow from the underlay (same VNI, same slot) does not deliver to c
    let v = e.process_from_underlay(now, &wire, &mut out);
    assert_eq!(
        v,
        Verdict::Drop {
            reason: DropReason::AuthenticationFailed
        }
    );
}
