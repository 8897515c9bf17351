//! Placement with the data plane on: instances go to the least-loaded host of their
//! subnet's zone, hosts are freed on stop and terminate, and the chosen host is the one
//! that receives the instance's port.

use std::sync::Arc;

use fort_control::region::Host;
use fort_control::{Config, Control, Scope};
use fort_ec2_api::execute;
use fort_ec2_api::query::Params;
use fort_mapping::programs::Programs;
use fort_store::EmbeddedStore;

async fn call(control: &Control, scope: &Scope, body: &str) -> Result<String, String> {
    execute(control, scope, &Params::from_form(body.as_bytes()).unwrap())
        .await
        .map(|x| x.as_str().to_owned())
        .map_err(|e| e.code.as_str().to_owned())
}

fn ids(xml: &str, tag: &str) -> Vec<String> {
    xml.match_indices(&format!("<{tag}>"))
        .map(|(i, _)| {
            let rest = &xml[i + tag.len() + 2..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
        .collect()
}

async fn hosts_of(control: &Control) -> (Vec<(String, Option<String>)>, Vec<(String, u32)>) {
    control
        .read_world(|w| {
            let r = &w.regions[&("123456789012".to_owned(), "us-east-1".to_owned())];
            let mut placed: Vec<(String, Option<String>)> = r
                .instances
                .values()
                .map(|i| (i.id.to_string(), i.host_id.clone()))
                .collect();
            placed.sort();
            let counts: Vec<(String, u32)> = w
                .global
                .hosts
                .values()
                .map(|h| (h.id.clone(), h.instances))
                .collect();
            (placed, counts)
        })
        .await
}

#[tokio::test]
async fn instances_spread_over_their_zone_and_free_their_host() {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    let control = Control::open(store, config).await.unwrap();
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };

    let vpc = call(&control, &scope, "Action=CreateVpc&CidrBlock=10.0.0.0/16")
        .await
        .unwrap();
    let vpc = &ids(&vpc, "vpcId")[0];
    let subnet = call(
        &control,
        &scope,
        &format!(
            "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"
        ),
    )
    .await
    .unwrap();
    let subnet = &ids(&subnet, "subnetId")[0];
    let run =
        format!("Action=RunInstances&ImageId=ami-12345678&MinCount=4&MaxCount=4&SubnetId={subnet}");
    assert_eq!(
        call(&control, &scope, &run).await.unwrap_err(),
        "InsufficientInstanceCapacity",
        "no host yet"
    );

    for (id, zone, ip) in [
        ("h1", "us-east-1a", "127.0.0.11"),
        ("h2", "us-east-1a", "127.0.0.12"),
        ("h3", "us-east-1b", "127.0.0.13"),
    ] {
        control
            .write_global(|g| {
                g.hosts.insert(Host {
                    id: id.into(),
                    zone: zone.into(),
                    underlay: ip.parse().unwrap(),
                    role: fort_model::HostRole::Instance,
                    instances: 0,
                    available: true,
                    server: String::new(),
                });
                Ok(())
            })
            .await
            .unwrap();
    }
    let out = call(&control, &scope, &run).await.unwrap();
    let instances = ids(&out, "instanceId");
    assert_eq!(instances.len(), 4);
    let (placed, counts) = hosts_of(&control).await;
    assert!(
        placed
            .iter()
            .all(|(_, h)| matches!(h.as_deref(), Some("h1" | "h2"))),
        "zone a only: {placed:?}"
    );
    assert_eq!(
        counts,
        [("h1".into(), 2), ("h2".into(), 2), ("h3".into(), 0)],
        "spread evenly"
    );

    // The host an instance is placed on receives its port.
    let world = control.world().await;
    let programs = Programs::new(&world, 1);
    for (instance, host) in &placed {
        let host = host.as_ref().unwrap();
        let items = programs.items_of(host);
        assert!(
            items.values().any(|v| matches!(
                &v.kind,
                Some(fort_proto::mapping::item_value::Kind::Port(p))
                    if p.instance_id.as_deref() == Some(instance.as_str())
            )),
            "{host} has no port for {instance}"
        );
    }
    drop(world);

    call(
        &control,
        &scope,
        &format!("Action=StopInstances&InstanceId.1={}", instances[0]),
    )
    .await
    .unwrap();
    call(
        &control,
        &scope,
        &format!("Action=TerminateInstances&InstanceId.1={}", instances[1]),
    )
    .await
    .unwrap();
    let (_, counts) = hosts_of(&control).await;
    assert_eq!(
        counts.iter().map(|(_, n)| n).sum::<u32>(),
        2,
        "stop and terminate free their hosts: {counts:?}"
    );
    call(
        &control,
        &scope,
        &format!("Action=StartInstances&InstanceId.1={}", instances[0]),
    )
    .await
    .unwrap();
    let (placed, counts) = hosts_of(&control).await;
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u32>(), 3);
    assert!(
        placed
            .iter()
            .find(|(i, _)| *i == instances[0])
            .unwrap()
            .1
            .is_some(),
        "started again: placed again"
    );
}
