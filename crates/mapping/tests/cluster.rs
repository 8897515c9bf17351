//! A host between two servers on one etcd: it moves to the second when the first's
//! mapping service goes, and resumes there from its generation, without a snapshot (the
//! servers share an epoch and number generations by store revision); the host stays
//! available and its row names the server that now holds its session; and when the host
//! dies with its server, the leader marks it unavailable.
//!
//! Starts its own etcd (`/usr/bin/etcd` or `$FORT_ETCD`) and kills it at the end; without
//! etcd the test says so and passes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fort_control::{Config, Control, Member, Scope};
use fort_ec2_api::execute;
use fort_ec2_api::query::Params;
use fort_mapping::server::MappingService;
use fort_proto::mapping::item_key::Kind;
use fort_proto::mapping::{ItemValue, ProgramUpdate, Role};
use fort_store::EtcdStore;
use fort_sync::client::{Cache, Gap, Identity, Programmed, Report};

/// A running etcd, killed when dropped; its data directory goes with it.
struct Etcd(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn etcd() -> Option<(Etcd, String)> {
    let binary =
        std::env::var_os("FORT_ETCD").map_or_else(|| "/usr/bin/etcd".into(), PathBuf::from);
    if !binary.exists() {
        eprintln!("skipping: no etcd at {}", binary.display());
        return None;
    }
    let (client, peer) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(&binary)
        .args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &format!("http://127.0.0.1:{client}"),
        ])
        .args([
            "--advertise-client-urls",
            &format!("http://127.0.0.1:{client}"),
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
        ])
        .args(["--initial-cluster", &format!("t=http://127.0.0.1:{peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("etcd://127.0.0.1:{client}");
    let etcd = Etcd(child, dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    while EtcdStore::connect(&url).await.is_err() {
        assert!(Instant::now() < deadline, "etcd did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some((etcd, url))
}

#[derive(Clone, Default)]
struct Probe {
    cache: Arc<Mutex<Cache>>,
    updates: Arc<Mutex<Vec<bool>>>,
}

impl Programmed for Probe {
    fn position(&self) -> (u64, u64) {
        let c = self.cache.lock().unwrap();
        (c.epoch, c.generation)
    }
    fn apply(&mut self, u: ProgramUpdate) -> Result<bool, Gap> {
        let snapshot = u.snapshot;
        let applied = self.cache.lock().unwrap().apply(u)?;
        if applied {
            self.updates.lock().unwrap().push(snapshot);
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

/// A TCP relay to `target` that the test can cut, connections and all (aborting a tonic
/// server leaves its connections running).
async fn relay(target: String) -> (String, impl FnOnce()) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = target.trim_start_matches("http://").to_owned();
    let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let held = conns.clone();
    let accept = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            let task = tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
            held.lock().unwrap().push(task);
        }
    });
    let cut = move || {
        accept.abort();
        for c in conns.lock().unwrap().drain(..) {
            c.abort();
        }
    };
    (format!("http://{addr}"), cut)
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
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_moves_to_another_server_and_resumes_without_a_snapshot() {
    let Some((_etcd, url)) = etcd().await else {
        return;
    };
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    let open = |id: &'static str| {
        let (url, config) = (url.clone(), config.clone());
        async move {
            let store = Arc::new(EtcdStore::connect(&url).await.unwrap());
            let me = Member {
                id: id.into(),
                api: format!("http://{id}"),
            };
            Control::open_cluster(store, config, me).await.unwrap()
        }
    };
    let a = open("a").await;
    until("a to lead", || a.leads()).await;
    let b = open("b").await;
    let (service_a, direct_a, _server_a) = serve(a.clone()).await;
    let (endpoint_a, cut_a) = relay(direct_a).await;
    let (service_b, endpoint_b, server_b) = serve(b.clone()).await;

    let probe = Probe::default();
    let me = Identity {
        host_id: "h1".into(),
        zone: "us-east-1a".into(),
        underlay: "127.0.0.21".parse().unwrap(),
        role: Role::Instance,
    };
    let agent = tokio::spawn(fort_sync::client::run_with(
        fort_sync::client::Servers::new(&format!("{endpoint_a},{endpoint_b}"), None),
        me,
        probe.clone(),
        Report::OnApply,
    ));
    let host_row = |c: &Arc<Control>| {
        let c = c.clone();
        async move { c.read_world(|w| w.global.hosts.get("h1").cloned()).await }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_row(&a).await.is_none() {
        assert!(Instant::now() < deadline, "the host never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(host_row(&a).await.unwrap().server, "a");

    let vpc = tag(
        &call(&a, "Action=CreateVpc&CidrBlock=10.0.0.0/16").await,
        "vpcId",
    );
    let subnet = tag(
        &call(
            &a,
            &format!(
                "Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0/24&AvailabilityZone=us-east-1a"
            ),
        )
        .await,
        "subnetId",
    );
    let run =
        format!("Action=RunInstances&ImageId=ami-12345678&MinCount=2&MaxCount=2&SubnetId={subnet}");
    call(&a, &run).await;
    let items = |s: &MappingService| {
        s.inspect(|p| {
            p.items_of("h1")
                .into_iter()
                .map(|(k, v)| (k, ItemValue::clone(&v)))
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    };
    let ports = |c: &Cache| {
        c.items
            .keys()
            .filter(|k| matches!(k.kind, Some(Kind::Port(_))))
            .count()
    };
    until("the program through a", || {
        let c = probe.cache.lock().unwrap();
        ports(&c) == 2 && c.items == items(&service_a)
    })
    .await;
    // Both servers hold the same program for the host, under the same epoch.
    until("b to derive the same", || {
        items(&service_b) == items(&service_a)
    })
    .await;
    assert_eq!(
        service_a.inspect(|p| p.epoch),
        service_b.inspect(|p| p.epoch)
    );

    // a's mapping service goes; a change is made meanwhile; the host moves to b.
    // (a's control plane, which leads, and its service stay: only its sessions go)
    cut_a();
    let before = probe.updates.lock().unwrap().len();
    call(&a, &run).await;
    until("the host to catch up through b", || {
        let c = probe.cache.lock().unwrap();
        ports(&c) == 4 && c.items == items(&service_b)
    })
    .await;
    let since: Vec<bool> = probe.updates.lock().unwrap()[before..].to_vec();
    assert!(
        !since.is_empty() && since.iter().all(|snapshot| !snapshot),
        "resumed on b with deltas only: {since:?}"
    );
    // The host's row now names b, and it is still available for placement.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = host_row(&a).await.unwrap();
        if row.server == "b" {
            assert!(row.available);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the host row never named b: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The host dies with its server: nobody holds its session, so the leader judges it
    // once the server's key is gone and nobody took the host over.
    agent.abort();
    let _ = agent.await;
    server_b.abort();
    let _ = server_b.await;
    drop(service_b);
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let row = host_row(&a).await.unwrap();
        if !row.available {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a host whose server died stayed available"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
