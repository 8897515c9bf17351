//! What a member joining a group costs a host: the whole structure assembled and
//! installed again (what agents did before), or only the ports that read the group
//! recompiled (`Engine::set_group_members`, what they do now).
//!
//! A host with 50 ports of one VPC and a group of 40,000 members that one joins, in two
//! layouts: `default_group`, where every port is in that group and its rule admits its
//! own members (AWS's default group), so every port reads it; and `web_and_db`, where 45
//! ports are in that group (`sg-web`, rules by CIDR) and 5 in `sg-db`, whose rule admits
//! `sg-web`: only those 5 read it.
//!
//! `cargo bench -p fort-sync --bench apply`

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, criterion_group, criterion_main};
use fort_dataplane::Engine;
use fort_dataplane::program as dp;
use fort_proto::mapping::item_value::Kind as V;
use fort_proto::mapping::{self as pb, Item, ItemKey, ItemValue, ProgramUpdate};
use fort_sync::host_state::{HostState, engine_changes};

const MEMBERS: u32 = 40_000;
const PORTS: u32 = 50;

fn item(key: ItemKey, value: V) -> Item {
    Item {
        key: Some(key),
        value: Some(ItemValue { kind: Some(value) }),
    }
}

fn addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + 10 + i)
}

fn group(id: &str, from: pb::sg_rule::Peer) -> Item {
    let all = |peer| pb::SgRule {
        protocol: -1,
        from_port: -1,
        to_port: -1,
        peer: Some(peer),
    };
    item(
        ItemKey::security_group("vpc-1", id),
        V::SecurityGroup(pb::SecurityGroup {
            id: id.into(),
            ingress: vec![all(from)],
            egress: vec![all(pb::sg_rule::Peer::Cidr(pb::Ipv4Cidr {
                address: 0,
                prefix_len: 0,
            }))],
        }),
    )
}

/// The group members join, and the group of each port.
fn layout(web_and_db: bool) -> (&'static str, Vec<Item>, impl Fn(u32) -> &'static str) {
    let own = |g: &str| pb::sg_rule::Peer::Group(g.into());
    if web_and_db {
        let cidr = pb::sg_rule::Peer::Cidr(pb::Ipv4Cidr {
            address: 0x0a00_0000,
            prefix_len: 8,
        });
        let groups = vec![group("sg-web", cidr), group("sg-db", own("sg-web"))];
        (
            "sg-web",
            groups,
            (|i| if i < 45 { "sg-web" } else { "sg-db" }) as fn(u32) -> &'static str,
        )
    } else {
        (
            "sg-default",
            vec![group("sg-default", own("sg-default"))],
            (|_| "sg-default") as fn(u32) -> &'static str,
        )
    }
}

fn snapshot(web_and_db: bool) -> ProgramUpdate {
    let (joined, groups, group_of) = layout(web_and_db);
    let cidr = |a: u32, l| pb::Ipv4Cidr {
        address: a,
        prefix_len: l,
    };
    let mut put = vec![
        item(
            ItemKey::vpc("vpc-1"),
            V::Vpc(pb::Vpc {
                id: "vpc-1".into(),
                vni: 7,
                cidrs: vec![cidr(0x0a00_0000, 16)],
                router_mac: vec![6, 0, 0, 7, 0, 1],
                dhcp: Some(pb::DhcpOptions::default()),
                edges: vec![],
                peerings: vec![],
                ..Default::default()
            }),
        ),
        item(
            ItemKey::subnet("vpc-1", "subnet-1"),
            V::Subnet(pb::Subnet {
                id: "subnet-1".into(),
                cidr: Some(cidr(0x0a00_0000, 16)),
                route_table_id: String::new(),
                network_acl_id: String::new(),
                availability_zone: String::new(),
                ipv6_cidr: None,
            }),
        ),
    ];
    put.extend(groups);
    for i in 0..MEMBERS {
        put.push(item(
            ItemKey::member("vpc-1", joined, addr(i)),
            V::Member(pb::Member {}),
        ));
    }
    for i in 0..PORTS {
        let id = format!("eni-{i:017x}");
        put.push(item(
            ItemKey::port(&id),
            V::Port(pb::Port {
                id,
                vpc_id: "vpc-1".into(),
                subnet_id: "subnet-1".into(),
                mac: vec![2, 0, 0, 0, 0, i.to_le_bytes()[0]], // the low byte
                primary_ip: Some(addr(i).into()),
                secondary_ips: vec![],
                security_groups: vec![group_of(i).into()],
                source_dest_check: true,
                conntrack: None,
                hostname: None,
                instance_id: Some(format!("i-{i:017x}")),
                device_index: 0,
                endpoint: None,
                ipv6_addresses: vec![],
            }),
        ));
    }
    ProgramUpdate {
        epoch: 1,
        base_generation: 0,
        generation: 1,
        snapshot: true,
        put,
        delete: vec![],
    }
}

/// Generation `g`: one member joins (odd) or leaves (even) the group of 40,000.
fn member_update(joined: &str, g: u64) -> ProgramUpdate {
    let key = ItemKey::member("vpc-1", joined, addr(MEMBERS));
    let (put, delete) = if g.is_multiple_of(2) {
        (vec![item(key, V::Member(pb::Member {}))], vec![])
    } else {
        (vec![], vec![key])
    };
    ProgramUpdate {
        epoch: 1,
        base_generation: g,
        generation: g + 1,
        snapshot: false,
        put,
        delete,
    }
}

fn host(web_and_db: bool) -> (HostState, Engine) {
    let mut state = HostState::default();
    state.apply(snapshot(web_and_db)).unwrap();
    let engine = Engine::with_program(state.structure(dp::Underlay::default())).unwrap();
    (state, engine)
}

fn bench(c: &mut Criterion) {
    let underlay = dp::Underlay::default();
    for (name, web_and_db) in [("default_group", false), ("web_and_db", true)] {
        let joined = layout(web_and_db).0;
        let mut group = c.benchmark_group(format!("member_joins_40k_group_50_ports/{name}"));
        group.sample_size(20);
        let (mut state, mut engine) = host(web_and_db);
        let mut g = 1;
        group.bench_function("whole_structure", |b| {
            b.iter(|| {
                state.apply(member_update(joined, g)).unwrap();
                g += 1;
                engine
                    .set_structure(black_box(state.structure(underlay.clone())))
                    .unwrap();
            })
        });
        let (mut state, mut engine) = host(web_and_db);
        let mut g = 1;
        group.bench_function("readers_only", |b| {
            b.iter(|| {
                let applied = state.apply(member_update(joined, g)).unwrap().unwrap();
                g += 1;
                let (structure, lists) = engine_changes(&state, &applied, &underlay);
                assert!(structure.is_none());
                for (vpc, group, members) in lists {
                    black_box(engine.set_group_members(&vpc, &group, &members));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
