//! Agent sessions over real gRPC: a first snapshot, deltas, a reconnect that resumes
//! without a full resend, a restarted control plane (new epoch: a fresh snapshot, nothing
//! lost), duplicate and out-of-order updates, a host that goes silent, a host of another
//! contract version, and "applied" that waits for the host's engine.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fort_control::{Config, Control, Scope};
use fort_ec2_api::execute;
use fort_ec2_api::query::Params;
use fort_mapping::programs::Programs;
use fort_mapping::server::MappingService;
use fort_proto::mapping::item_key::Kind;
use fort_proto::mapping::item_value::Kind as V;
use fort_proto::mapping::{Item, ItemKey, ItemValue, ProgramUpdate, Role};
use fort_store::{EmbeddedStore, Store};
use fort_sync::client::{Cache, Gap, Identity, Programmed, Report, Status, session};
use tokio::sync::watch;

/// A cache shared with the test, and a log of the updates it received.
#[derive(Clone, Default)]
struct Probe {
    cache: Arc<Mutex<Cache>>,
    updates: Arc<Mutex<Vec<(bool, usize)>>>,
}

impl Programmed for Probe {
    fn position(&self) -> (u64, u64) {
        let c = self.cache.lock().unwrap();
        (c.epoch, c.generation)
    }
    fn apply(&mut self, u: ProgramUpdate) -> Result<bool, Gap> {
        let (snapshot, len) = (u.snapshot, u.put.len() + u.delete.len());
        let applied = self.cache.lock().unwrap().apply(u)?;
        if applied {
            self.updates.lock().unwrap().push((snapshot, len));
        }
        Ok(applied)
    }
    fn reset(&mut self) {
        *self.cache.lock().unwrap() = Cache::default();
    }
}

async fn serve(
    control: Arc<Control>,
) -> (Arc<MappingService>, String, tokio::task::JoinHandle<()>) {
    let service = MappingService::start(control).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let grpc = service.grpc();
    let task = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(grpc)
            .serve_with_incoming(incoming)
            .await;
    });
    (service, format!("http://{addr}"), task)
}

async fn call(control: &Control, body: &str) -> String {
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    execute(
        control,
        &scope,
        &Params::from_form(body.as_bytes()).unwrap(),
    )
    .await
    .unwrap_or_else(|e| panic!("{body}: {e}"))
    .as_str()
    .to_owned()
}

fn tag(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap() + open.len();
    xml[start..start + xml[start..].find('<').unwrap()].to_owned()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A VPC with a subnet in zone a (where the test host lives); gives the subnet id.
async fn subnet_in_zone_a(control: &Control) -> String {
    let vpc = tag(
        &call(control, "Action=CreateVpc&CidrBlock=10.0.0.0/16").await,
        "vpcId",
    );
    let body = format!(
        "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"
    );
    tag(&call(control, &body).await, "subnetId")
}

async fn registered(service: &MappingService) {
    until("the host to register", || {
        service.inspect(|p| p.host("h1").is_some_and(|h| h.connected))
    })
    .await;
}

fn me() -> Identity {
    Identity {
        host_id: "h1".into(),
        zone: "us-east-1a".into(),
        underlay: "127.0.0.21".parse().unwrap(),
        role: Role::Instance,
    }
}

fn start_agent(endpoint: String, probe: Probe) -> tokio::task::JoinHandle<()> {
    start_reporting(endpoint, probe, || Report::OnApply)
}

fn start_reporting(
    endpoint: String,
    probe: Probe,
    report: impl Fn() -> Report + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut state = probe;
        let mut report = report();
        loop {
            let _ = session(&endpoint, &me(), &mut state, &mut report).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

fn is_port(k: &ItemKey) -> bool {
    matches!(k.kind, Some(Kind::Port(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_and_survive_a_restarted_server() {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    let control = Control::open(store.clone(), config.clone()).await.unwrap();
    let (service, endpoint, server) = serve(control.clone()).await;
    let probe = Probe::default();
    let agent = start_agent(endpoint.clone(), probe.clone());
    registered(&service).await;

    let subnet = subnet_in_zone_a(&control).await;
    call(
        &control,
        &format!(
            "Action=RunInstances&ImageId=ami-12345678&MinCount=3&MaxCount=3&SubnetId={subnet}"
        ),
    )
    .await;
    let expected = |service: &MappingService| {
        service.inspect(|p: &Programs| {
            p.items_of("h1")
                .into_iter()
                .map(|(k, v)| (k, ItemValue::clone(&v)))
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    };
    let ports = |service: &MappingService| {
        service.inspect(|p: &Programs| p.items_of("h1").keys().filter(|k| is_port(k)).count())
    };
    until("the service to derive the launch", || ports(&service) == 3).await;
    until("the program to arrive", || {
        probe.cache.lock().unwrap().items == expected(&service)
    })
    .await;
    assert_eq!(
        probe
            .cache
            .lock()
            .unwrap()
            .items
            .keys()
            .filter(|k| is_port(k))
            .count(),
        3
    );
    // Lookup: where an address of the VPC lives, by VNI.
    let (vni, ip) = {
        let c = probe.cache.lock().unwrap();
        let vni = c
            .items
            .values()
            .find_map(|v| match &v.kind {
                Some(V::Vpc(h)) => Some(h.vni),
                _ => None,
            })
            .unwrap();
        let ip = c
            .items
            .keys()
            .find_map(|k| match &k.kind {
                Some(Kind::Mapping(a)) => Some(a.ip),
                _ => None,
            })
            .unwrap();
        (vni, ip)
    };
    let mut client = fort_proto::mapping::mapping_client::MappingClient::connect(endpoint.clone())
        .await
        .unwrap();
    let found = client
        .lookup(fort_proto::mapping::LookupRequest { vni, ip })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found.mapping.map(|m| m.ip),
        Some(ip),
        "lookup of {ip} in VNI {vni}"
    );
    let missing = client
        .lookup(fort_proto::mapping::LookupRequest {
            vni,
            ip: u32::from(std::net::Ipv4Addr::new(10, 9, 9, 9)),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(missing.mapping.is_none());
    assert!(
        service
            .wait_applied(control.last_change(), Duration::from_secs(5))
            .await,
        "applied is reported"
    );

    // The agent goes away; changes go on; it comes back and resumes from its generation.
    agent.abort();
    let _ = agent.await;
    until("the server to see the agent gone", || {
        service.inspect(|p| p.host("h1").is_some_and(|h| !h.connected))
    })
    .await;
    call(
        &control,
        &format!(
            "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
        ),
    )
    .await;
    until("the service to derive the change", || ports(&service) == 4).await;
    let before = probe.updates.lock().unwrap().len();
    let agent = start_agent(endpoint.clone(), probe.clone());
    until("the agent to catch up", || {
        probe.cache.lock().unwrap().items == expected(&service)
    })
    .await;
    assert_eq!(
        probe
            .cache
            .lock()
            .unwrap()
            .items
            .keys()
            .filter(|k| is_port(k))
            .count(),
        4
    );
    let resumed: Vec<(bool, usize)> = probe.updates.lock().unwrap()[before..].to_vec();
    assert!(
        !resumed.is_empty() && resumed.iter().all(|(snapshot, _)| !snapshot),
        "resumed with deltas only: {resumed:?}"
    );
    agent.abort();
    let _ = agent.await;

    // The control plane restarts on the same store: a new epoch, a fresh snapshot, equal.
    server.abort();
    let _ = server.await;
    drop(service);
    let control2 = Control::open(store, config).await.unwrap();
    let (service2, endpoint2, _server2) = serve(control2.clone()).await;
    let held = probe.cache.lock().unwrap().items.clone();
    let before = probe.updates.lock().unwrap().len();
    let _agent = start_agent(endpoint2, probe.clone());
    until("the agent to resync", || {
        probe.updates.lock().unwrap().len() > before
    })
    .await;
    until("the same program", || {
        probe.cache.lock().unwrap().items == expected(&service2)
    })
    .await;
    assert_eq!(
        probe.cache.lock().unwrap().items,
        held,
        "nothing lost or invented across the restart"
    );
    assert!(
        probe.updates.lock().unwrap()[before].0,
        "a new epoch starts with a snapshot"
    );
}

fn update(epoch: u64, base: u64, generation: u64, vpc: &str) -> ProgramUpdate {
    ProgramUpdate {
        epoch,
        base_generation: base,
        generation,
        snapshot: base == 0,
        put: vec![Item {
            key: Some(ItemKey::vpc(vpc)),
            value: Some(ItemValue::default()),
        }],
        delete: vec![],
    }
}

#[test]
fn duplicates_are_ignored_and_gaps_detected() {
    let mut c = Cache::default();
    assert_eq!(c.apply(update(5, 0, 1, "a")), Ok(true));
    assert_eq!(c.apply(update(5, 1, 2, "b")), Ok(true));
    assert_eq!(c.apply(update(5, 1, 2, "b")), Ok(false), "a duplicate");
    assert_eq!(
        c.apply(update(5, 0, 1, "a")),
        Ok(true),
        "a snapshot always applies"
    );
    assert_eq!(c.apply(update(5, 3, 4, "d")), Err(Gap), "out of order");
    assert_eq!(
        c.apply(update(6, 1, 2, "x")),
        Err(Gap),
        "another epoch without a snapshot"
    );
}

#[tokio::test]
async fn a_silent_host_stops_holding_changes_back() {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store, Config::default()).await.unwrap();
    let world = control.world().await;
    let mut p = Programs::new(&world, 1);
    let t0 = Instant::now();
    p.connect("h1", 0, 0, t0);
    p.expire(t0 + Duration::from_secs(3), Duration::from_secs(10));
    assert!(p.host("h1").unwrap().connected);
    let silent = p.expire(t0 + Duration::from_secs(11), Duration::from_secs(10));
    assert_eq!(silent, ["h1"]);
    assert!(!p.host("h1").unwrap().connected);
    p.connect("h1", 1, 1, t0 + Duration::from_secs(12));
    assert!(p.host("h1").unwrap().connected, "back again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_host_is_reported_impaired_and_gets_no_new_instances() {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    let control = Control::open(store, config).await.unwrap();
    let (service, endpoint, _server) = serve(control.clone()).await;
    let probe = Probe::default();
    let agent = start_agent(endpoint, probe.clone());
    registered(&service).await;
    let subnet = subnet_in_zone_a(&control).await;
    let run =
        format!("Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}");
    let instance = tag(&call(&control, &run).await, "instanceId");
    let status = call(
        &control,
        &format!("Action=DescribeInstanceStatus&InstanceId.1={instance}"),
    )
    .await;
    assert!(
        status.contains("<systemStatus><status>ok</status>"),
        "{status}"
    );

    // The agent stops answering: after the timeout the host is unavailable.
    agent.abort();
    let _ = agent.await;
    let deadline = Instant::now() + fort_mapping::server::HOST_TIMEOUT + Duration::from_secs(5);
    loop {
        let status = call(
            &control,
            &format!("Action=DescribeInstanceStatus&InstanceId.1={instance}"),
        )
        .await;
        if status.contains("<systemStatus><status>impaired</status>") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the silent host was never reported: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let scope = Scope {
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let Err(err) = execute(
        &control,
        &scope,
        &Params::from_form(run.as_bytes()).unwrap(),
    )
    .await
    else {
        panic!("an instance was placed on an unavailable host");
    };
    assert_eq!(err.code, "InsufficientInstanceCapacity");
}

#[tokio::test]
async fn a_host_of_another_contract_version_is_refused() {
    use fort_proto::CONTRACT_VERSION;
    use fort_proto::mapping::host_message::Msg;
    use fort_proto::mapping::{Hello, HostMessage};

    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    let control = Control::open(store, config).await.unwrap();
    let (_service, endpoint, _server) = serve(control.clone()).await;
    let mut client = fort_proto::mapping::mapping_client::MappingClient::connect(endpoint)
        .await
        .unwrap();
    let hello = |version| HostMessage {
        msg: Some(Msg::Hello(Hello {
            contract_version: version,
            host_id: "old".into(),
            zone: "us-east-1a".into(),
            underlay: u32::from(std::net::Ipv4Addr::new(127, 0, 0, 30)),
            role: Role::Instance.into(),
            epoch: 0,
            generation: 0,
        })),
    };
    let refused = client
        .sync(tokio_stream::iter(vec![hello(CONTRACT_VERSION - 1)]))
        .await
        .expect_err("a host of another version is refused");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    let message = refused.message();
    assert!(
        message.contains(&format!("version {}", CONTRACT_VERSION - 1))
            && message.contains(&format!("version {CONTRACT_VERSION}")),
        "the message names both versions: {message}"
    );
    assert!(
        control
            .read_world(|w| w.global.hosts.get("old").is_none())
            .await,
        "a refused host is not registered"
    );
    // The same host speaking this version is welcome.
    let accepted = client
        .sync(tokio_stream::iter(vec![hello(CONTRACT_VERSION)]))
        .await;
    assert!(accepted.is_ok(), "{accepted:?}");
}

/// "Applied" means the host's engine runs with the change: a host whose data path has not
/// taken it holds the change back, and one whose data path is stuck reports itself
/// unhealthy, which shows as an impaired instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_waits_for_the_engine_and_a_stuck_one_is_impaired() {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    let control = Control::open(store, config).await.unwrap();
    let (service, endpoint, _server) = serve(control.clone()).await;
    let (engine, status) = watch::channel(Status::default());
    let probe = Probe::default();
    let _agent = start_reporting(endpoint, probe.clone(), move || {
        Report::Engine(status.clone())
    });
    registered(&service).await;
    let subnet = subnet_in_zone_a(&control).await;
    let run =
        format!("Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}");
    let instance = tag(&call(&control, &run).await, "instanceId");
    let change = control.last_change();
    let holds_ports = |n: usize| {
        let probe = probe.clone();
        move || {
            probe
                .cache
                .lock()
                .unwrap()
                .items
                .keys()
                .filter(|k| is_port(k))
                .count()
                == n
        }
    };
    until("the program to reach the host", holds_ports(1)).await;
    assert!(
        !service.wait_applied(change, Duration::from_secs(1)).await,
        "received is not applied: the engine has not run it"
    );
    let position = || probe.position();
    let (epoch, generation) = position();
    engine.send_replace(Status {
        epoch,
        generation,
        problem: None,
    });
    assert!(
        service.wait_applied(change, Duration::from_secs(5)).await,
        "applied once the engine runs it"
    );

    // The data path stops taking programs: the next change is never applied, and the host
    // says it is unhealthy, so its instances show impaired.
    let describe = format!("Action=DescribeInstanceStatus&InstanceId.1={instance}");
    assert!(
        call(&control, &describe)
            .await
            .contains("<systemStatus><status>ok</status>")
    );
    call(&control, &run).await;
    let stuck = control.last_change();
    until("the second program to reach the host", holds_ports(2)).await;
    let deadline = Instant::now() + fort_sync::client::STALL + Duration::from_secs(10);
    while !call(&control, &describe)
        .await
        .contains("<systemStatus><status>impaired</status>")
    {
        assert!(Instant::now() < deadline, "a stuck host was never reported");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !service
            .wait_applied(stuck, Duration::from_millis(500))
            .await,
        "a stuck host never reports the change applied"
    );

    // The data path catches up: applied, and the host is healthy again.
    let (epoch, generation) = position();
    engine.send_replace(Status {
        epoch,
        generation,
        problem: None,
    });
    assert!(service.wait_applied(stuck, Duration::from_secs(5)).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !call(&control, &describe)
        .await
        .contains("<systemStatus><status>ok</status>")
    {
        assert!(Instant::now() < deadline, "the host never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An interface endpoint made while its zone has no host keeps its interface unplaced;
/// the first host of the zone to register gets it as a port (an endpoint's, no
/// instance), and every host learns where the API is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_interfaces_wait_for_a_host_of_their_zone() {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    let control = Control::open(store, config).await.unwrap();
    let (service, endpoint, server) = serve(control.clone()).await;
    service.set_api_address("127.0.0.1:8773".parse().unwrap());
    let subnet = subnet_in_zone_a(&control).await;
    let vpc = control
        .read_world(|w| {
            w.regions
                .values()
                .find_map(|r| r.subnets.get(&subnet).map(|s| s.vpc_id.to_string()))
        })
        .await
        .unwrap();
    let made = call(
        &control,
        &format!(
            "Action=CreateVpcEndpoint&VpcEndpointType=Interface&ServiceName=com.amazonaws.us-east-1.ec2&VpcId={vpc}&SubnetId.1={subnet}&PrivateDnsEnabled=false"
        ),
    )
    .await;
    let at = made.find(">eni-").expect("the endpoint's interface") + 1;
    let eni = made[at..at + made[at..].find('<').unwrap()].to_owned();
    let probe = Probe::default();
    let agent = start_agent(endpoint, probe.clone());
    registered(&service).await;
    until("the endpoint's port on the new host", || {
        probe
            .cache
            .lock()
            .unwrap()
            .items
            .iter()
            .any(|(k, v)| match (&k.kind, &v.kind) {
                (Some(Kind::Port(id)), Some(V::Port(p))) => {
                    *id == eni && p.instance_id.is_none() && p.endpoint.is_some()
                }
                _ => false,
            })
    })
    .await;
    let api = probe
        .cache
        .lock()
        .unwrap()
        .items
        .get(&ItemKey::service("api"))
        .cloned();
    assert!(
        matches!(api, Some(ItemValue { kind: Some(V::Service(a)) }) if a.port == 8773),
        "{api:?}"
    );
    agent.abort();
    server.abort();
}
