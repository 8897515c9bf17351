//! `fort sim`: the real control plane (a `fort server` process) with many simulated
//! agents, measuring how fast hosts converge on their programs.
//!
//! Each simulated agent is a real gRPC session with the mapping service that applies every
//! update into an agent-side program store (the structural items, and the V2P mappings in
//! a compact table) and reports what it applied; no TAPs. The workload goes through the
//! real EC2 API over HTTP, signed with SigV4. Programming latency is measured from the API
//! answer to the moment the server says every affected host applied the change
//! (`/fort/applied`).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fort_auth::Credential;
use fort_proto::mapping::item_key::Kind;
use fort_proto::mapping::item_value::Kind as V;
use fort_proto::mapping::{ItemKey, ItemValue, ProgramUpdate, Role};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as TokioBufReader};
use tokio::net::TcpStream;

use fort_sync::client::{Gap, Identity, Programmed, Report as Reporting};
use fort_sync::host_state::{self, HostState, ProgramQueue};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimArgs {
    pub hosts: usize,
    pub instances: usize,
    /// Changes timed one by one after the build-up.
    pub changes: usize,
    /// Instances of the one large VPC (the rest go to VPCs of `small_vpc` instances).
    pub large_vpc: usize,
    pub small_vpc: usize,
    /// The `fort` binary to run as the server.
    pub fort: PathBuf,
    /// Stop waiting for one change after this long.
    pub timeout: Duration,
    /// Joins the small VPCs on one transit gateway and times propagation changes.
    pub transit_gateway: bool,
    /// Live heap bytes of this process, if the binary counts them.
    pub heap: Option<fn() -> isize>,
    /// `fort server` processes (more than one needs `store`: they share it).
    pub servers: usize,
    /// The servers' `--store` (`etcd://…`); none: the embedded store.
    pub store: Option<String>,
    /// After this many timed changes, SIGKILL the leading server and time the hosts'
    /// reconnection and the first write after it.
    pub kill_server_after: Option<usize>,
}

/// The figures `fort sim` prints.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub programming_p50_ms: f64,
    pub programming_p99_ms: f64,
    pub programming_max_ms: f64,
    pub new_host_ms: f64,
    pub new_host_mappings: usize,
    pub agent_bytes_per_mapping: f64,
    pub server_rss_mb: f64,
    pub setup_s: f64,
    pub mappings_held: u64,
    pub timeouts: usize,
    pub servers: usize,
    /// After the leader's SIGKILL: when the last host had a session again (on a survivor).
    pub failover_reconnect_ms: Option<f64>,
    /// After the leader's SIGKILL: when the first write was acknowledged again.
    pub failover_write_ms: Option<f64>,
    /// Writes refused (503) while the servers failed over.
    pub failover_refused_writes: usize,
}

impl Report {
    /// The closing line: `key=value` figures.
    pub fn line(&self) -> String {
        let mut line = format!(
            "programming_p50_ms={:.1} programming_p99_ms={:.1} programming_max_ms={:.1} new_host_ms={:.1} agent_bytes_per_mapping={:.1} server_rss_mb={:.0}",
            self.programming_p50_ms,
            self.programming_p99_ms,
            self.programming_max_ms,
            self.new_host_ms,
            self.agent_bytes_per_mapping,
            self.server_rss_mb
        );
        if self.servers > 1 {
            line.push_str(&format!(" servers={}", self.servers));
        }
        let ms = |v: Option<f64>| v.map_or("none".to_owned(), |v| format!("{v:.0}"));
        if self.failover_reconnect_ms.is_some() || self.failover_write_ms.is_some() {
            line.push_str(&format!(
                " failover_reconnect_ms={} failover_write_ms={} failover_refused_writes={}",
                ms(self.failover_reconnect_ms),
                ms(self.failover_write_ms),
                self.failover_refused_writes
            ));
        }
        line
    }
}

/// A V2P entry as an agent keeps it: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactMapping {
    pub host: Ipv4Addr,
    pub mac: [u8; 6],
    /// The ENI id's 17 hex digits, packed.
    pub eni: [u8; 9],
    pub source_dest_check: bool,
}

/// An agent's program: structural items as received, mappings compact.
#[derive(Debug, Default)]
pub struct AgentProgram {
    pub epoch: u64,
    pub generation: u64,
    pub items: BTreeMap<ItemKey, ItemValue>,
    vpc_slots: HashMap<String, u32>,
    pub mappings: HashMap<(u32, Ipv4Addr), CompactMapping>,
}

impl AgentProgram {
    /// The VPC's slot; `None` past u32::MAX VPCs.
    fn slot(&mut self, vpc: &str) -> Option<u32> {
        if let Some(&s) = self.vpc_slots.get(vpc) {
            return Some(s);
        }
        let next = u32::try_from(self.vpc_slots.len()).ok()?;
        self.vpc_slots.insert(vpc.to_owned(), next);
        Some(next)
    }

    /// Bytes the mapping table takes per mapping (buckets, their control bytes, keys and
    /// values).
    pub fn bytes_per_mapping(&self) -> f64 {
        if self.mappings.is_empty() {
            return 0.0;
        }
        let bucket = size_of::<(u32, Ipv4Addr)>() + size_of::<CompactMapping>() + 1;
        (self.mappings.capacity() * bucket) as f64 / self.mappings.len() as f64
    }
}

fn pack_eni(id: &str) -> [u8; 9] {
    let mut out = [0u8; 9];
    let hex = id.strip_prefix("eni-").unwrap_or(id).as_bytes();
    for (i, pair) in hex.rchunks(2).take(9).enumerate() {
        let text = std::str::from_utf8(pair).unwrap_or("0");
        out[8 - i] = u8::from_str_radix(text, 16).unwrap_or(0);
    }
    out
}

impl Programmed for AgentProgram {
    fn position(&self) -> (u64, u64) {
        (self.epoch, self.generation)
    }

    fn apply(&mut self, u: ProgramUpdate) -> Result<bool, Gap> {
        if u.snapshot {
            self.items.clear();
            self.mappings.clear();
        } else if u.epoch != self.epoch || u.base_generation != self.generation {
            if u.epoch == self.epoch && u.generation <= self.generation {
                return Ok(false);
            }
            return Err(Gap);
        }
        for key in &u.delete {
            if let Some(Kind::Mapping(a)) = &key.kind {
                if let Some(slot) = self.slot(&a.vpc_id) {
                    self.mappings.remove(&(slot, Ipv4Addr::from(a.ip)));
                }
            } else {
                self.items.remove(key);
            }
        }
        for item in u.put {
            let (Some(key), Some(value)) = (item.key, item.value) else {
                continue;
            };
            match (&key.kind, &value.kind) {
                (Some(Kind::Mapping(a)), Some(V::Mapping(m))) => {
                    let Some(slot) = self.slot(&a.vpc_id) else {
                        continue; // more VPCs than slots: not held
                    };
                    let mut mac = [0u8; 6];
                    if m.mac.len() == 6 {
                        mac.copy_from_slice(&m.mac);
                    }
                    self.mappings.insert(
                        (slot, Ipv4Addr::from(m.ip)),
                        CompactMapping {
                            host: Ipv4Addr::from(m.host),
                            mac,
                            eni: pack_eni(&m.eni_id),
                            source_dest_check: m.source_dest_check,
                        },
                    );
                }
                _ => {
                    self.items.insert(key, value);
                }
            }
        }
        self.epoch = u.epoch;
        self.generation = u.generation;
        Ok(true)
    }

    fn reset(&mut self) {
        *self = AgentProgram::default();
    }
}

/// The server process and how to reach it.
struct Server {
    child: Child,
    api: String,
    mapping: String,
    /// Killed by the simulation.
    dead: bool,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const KEY: &str = "AKIAFORTSIMULATOR001";
const SECRET: &str = "fort-simulator-secret-000000000000000000";

fn start_server(fort: &PathBuf, index: usize, store: Option<&str>) -> Result<Server, String> {
    let dir = std::env::temp_dir().join(format!("fort-sim-{}-{index}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // removed however this ends, a server that never came up included
    let guard = TempDir(dir.clone());
    let creds = dir.join("credentials");
    std::fs::write(&creds, format!("[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\naws_account_id = 123456789012\n"))
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(fort)
        .args([
            "server",
            "--dataplane",
            "on",
            "--listen",
            "127.0.0.1:0",
            "--mapping-listen",
            "127.0.0.1:0",
            "--zones",
            "3",
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .arg("--credentials")
        .arg(&creds)
        .args(store.map(|s| ["--store", s]).into_iter().flatten())
        .env("FORT_LOG", "warn")
        .env("FORT_EXIT_WITH_PARENT", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", fort.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut api, mut mapping) = (None, None);
    while api.is_none() || mapping.is_none() {
        let line = lines
            .next()
            .ok_or("the server exited before it was up")?
            .map_err(|e| e.to_string())?;
        if let Some(v) = line.trim().strip_prefix("EC2 endpoint:") {
            api = Some(v.trim().trim_start_matches("http://").to_owned());
        }
        if let Some(v) = line.trim().strip_prefix("mapping:") {
            mapping = v
                .split_whitespace()
                .next()
                .map(|m| m.trim_start_matches("http://").to_owned());
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server {
        child,
        api: api.expect("set"),
        mapping: mapping.expect("set"),
        dead: false,
        _dir: guard,
    })
}

/// One keep-alive HTTP/1.1 connection to the EC2 API.
struct Api {
    conn: TokioBufReader<TcpStream>,
    host: String,
    credential: Credential,
}

impl Api {
    async fn connect(host: &str) -> Result<Api, String> {
        let stream = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Api {
            conn: TokioBufReader::new(stream),
            host: host.to_owned(),
            credential: Credential {
                access_key_id: KEY.into(),
                secret_access_key: SECRET.into(),
                account_id: "123456789012".into(),
            },
        })
    }

    /// Sends a request; returns (status, x-fort-change, body).
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(u16, u64, String), String> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            self.host,
            body.len()
        );
        if method == "POST" {
            head.push_str(&format!(
                "content-type: {}\r\n",
                fort_auth::sign::CONTENT_TYPE
            ));
            for (k, v) in fort_auth::sign::sign_post(
                &self.credential,
                "us-east-1",
                "ec2",
                &self.host,
                body.as_bytes(),
                time::OffsetDateTime::now_utc(),
            ) {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        head.push_str("\r\n");
        head.push_str(body);
        self.conn
            .get_mut()
            .write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.conn
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (mut length, mut change) = (0usize, 0u64);
        loop {
            line.clear();
            self.conn
                .read_line(&mut line)
                .await
                .map_err(|e| e.to_string())?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if let Some(v) = lower.strip_prefix("x-fort-change:") {
                change = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0; length];
        self.conn
            .read_exact(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, change, String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Calls an action; returns (x-fort-change, body), or the EC2 error text.
    async fn call(&mut self, body: &str) -> Result<(u64, String), String> {
        let (status, change, text) = self
            .request("POST", "/", &format!("{body}&Version=2016-11-15"))
            .await?;
        if status != 200 {
            return Err(format!("{body} → {status}: {text}"));
        }
        Ok((change, text))
    }

    async fn wait_applied(&mut self, change: u64, timeout: Duration) -> Result<bool, String> {
        let path = format!(
            "/fort/applied?change={change}&timeout_ms={}",
            timeout.as_millis()
        );
        let (status, _, _) = self.request("GET", &path, "").await?;
        Ok(status == 200)
    }
}

fn first(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    Some(xml[start..start + xml[start..].find('<')?].to_owned())
}

fn all(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    xml.match_indices(&open)
        .filter_map(|(i, _)| {
            let start = i + open.len();
            Some(xml[start..start + xml[start..].find('<')?].to_owned())
        })
        .collect()
}

/// An agent program shared with the simulator, which inspects it.
struct SharedProgram(Arc<std::sync::Mutex<AgentProgram>>, Arc<AtomicU64>);

impl Programmed for SharedProgram {
    fn position(&self) -> (u64, u64) {
        self.0.lock().expect("agent lock").position()
    }
    fn apply(&mut self, update: ProgramUpdate) -> Result<bool, Gap> {
        let items = update.put.len() + update.delete.len();
        let applied = self.0.lock().expect("agent lock").apply(update)?;
        if applied {
            self.1.fetch_add(items as u64, Ordering::Relaxed);
        }
        Ok(applied)
    }
    fn reset(&mut self) {
        self.0.lock().expect("agent lock").reset();
    }
}

/// An agent that programs a real engine after every update, as `fort agent` does: the
/// structure kept in a [`HostState`], V2P handed to the engine. It also keeps the updates
/// it applied, so its memory can be measured by replaying them.
pub struct EngineAgent {
    pub state: HostState,
    pub engine: fort_dataplane::Engine,
    underlay: fort_dataplane::program::Underlay,
    pub received: Vec<ProgramUpdate>,
    /// When each applied update arrived and how long applying it took (`FORT_SIM_DEBUG`
    /// splits the new-host figure into delivery and apply with these).
    pub applies: Vec<(Instant, Duration)>,
}

impl EngineAgent {
    fn new(underlay: Ipv4Addr) -> EngineAgent {
        EngineAgent {
            state: HostState::default(),
            engine: fort_dataplane::Engine::new(fort_dataplane::EngineConfig::default()),
            underlay: fort_dataplane::program::Underlay {
                address: underlay,
                ..Default::default()
            },
            received: Vec::new(),
            applies: Vec::new(),
        }
    }

    fn apply(&mut self, update: ProgramUpdate) -> Result<bool, Gap> {
        let Some(applied) = self.state.apply(update)? else {
            return Ok(false);
        };
        let (structure, members) =
            host_state::engine_changes(&self.state, &applied, &self.underlay);
        let mut queue = ProgramQueue::default();
        queue.push_members(members);
        queue.push(applied.snapshot, applied.v2p);
        if let Err(e) = queue.apply_to(&mut self.engine, structure) {
            eprintln!("sim: the engine refused a program: {e}");
        }
        Ok(true)
    }
}

struct SharedEngine(Arc<std::sync::Mutex<EngineAgent>>);

impl Programmed for SharedEngine {
    fn position(&self) -> (u64, u64) {
        let a = self.0.lock().expect("agent lock");
        (a.state.epoch, a.state.generation)
    }
    fn apply(&mut self, update: ProgramUpdate) -> Result<bool, Gap> {
        let arrived = Instant::now();
        let mut a = self.0.lock().expect("agent lock");
        let kept = update.clone();
        let applied = a.apply(update)?;
        if applied {
            a.received.push(kept);
            a.applies.push((arrived, arrived.elapsed()));
        }
        Ok(applied)
    }
    fn reset(&mut self) {
        let mut a = self.0.lock().expect("agent lock");
        a.state.reset();
        a.received.clear();
    }
}

fn engine_agent(
    mapping: &str,
    id: String,
    zone: String,
    underlay: Ipv4Addr,
) -> Arc<std::sync::Mutex<EngineAgent>> {
    let agent = Arc::new(std::sync::Mutex::new(EngineAgent::new(underlay)));
    let me = Identity {
        host_id: id,
        zone,
        underlay,
        role: Role::Instance,
    };
    tokio::spawn(fort_sync::client::run_with(
        fort_sync::client::Servers::new(mapping, None),
        me,
        SharedEngine(agent.clone()),
        Reporting::OnApply,
    ));
    agent
}

fn own_rss_kb() -> f64 {
    rss_mb(std::process::id()) * 1024.0
}

/// Starts a simulated agent; returns a handle to its program.
fn agent(
    mapping: &str,
    id: String,
    zone: String,
    underlay: Ipv4Addr,
    applied: Arc<AtomicU64>,
) -> Arc<std::sync::Mutex<AgentProgram>> {
    let program = Arc::new(std::sync::Mutex::new(AgentProgram::default()));
    let me = Identity {
        host_id: id,
        zone,
        underlay,
        role: Role::Instance,
    };
    let state = SharedProgram(program.clone(), applied);
    tokio::spawn(fort_sync::client::run_with(
        fort_sync::client::Servers::new(mapping, None),
        me,
        state,
        Reporting::OnApply,
    ));
    program
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The live servers' mapping URLs, from the `first`-th on (hosts spread over them).
fn mapping_list(servers: &[Server], first: usize) -> String {
    let live: Vec<&Server> = servers.iter().filter(|s| !s.dead).collect();
    (0..live.len())
        .map(|k| format!("http://{}", live[(first + k) % live.len()].mapping))
        .collect::<Vec<_>>()
        .join(",")
}

/// Hosts with a session, summed over the live servers (each counts its own).
async fn connected(servers: &[Server]) -> Result<usize, String> {
    let apis: Vec<String> = servers
        .iter()
        .filter(|s| !s.dead)
        .map(|s| s.api.clone())
        .collect();
    connected_at(&apis).await
}

/// Hosts with a session on the servers whose APIs are `apis`.
async fn connected_at(apis: &[String]) -> Result<usize, String> {
    let mut n = 0;
    for api in apis {
        let (_, _, metrics) = Api::connect(api)
            .await?
            .request("GET", "/metrics", "")
            .await?;
        n += metrics
            .lines()
            .find_map(|l| l.strip_prefix("fort_mapping_hosts_connected "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
    }
    Ok(n)
}

/// Hosts with a session on the live servers, and how many of them have not applied all
/// they were sent (from each server's `/metrics`).
async fn caught_up(servers: &[Server]) -> Result<(usize, usize), String> {
    let (mut up, mut behind) = (0, 0);
    for s in servers.iter().filter(|s| !s.dead) {
        let (_, _, metrics) = Api::connect(&s.api)
            .await?
            .request("GET", "/metrics", "")
            .await?;
        // host → (generation, applied, up)
        let mut hosts: HashMap<&str, (u64, u64, bool)> = HashMap::new();
        for line in metrics.lines() {
            let Some((name, rest)) = line.split_once("{host=\"") else {
                continue;
            };
            let Some((host, value)) = rest.split_once("\"} ") else {
                continue;
            };
            let value: u64 = value.trim().parse().unwrap_or(0);
            let entry = hosts.entry(host).or_default();
            match name {
                "fort_mapping_host_generation" => entry.0 = value,
                "fort_mapping_host_applied" => entry.1 = value,
                "fort_mapping_host_up" => entry.2 = value == 1,
                _ => {}
            }
        }
        for (generation, applied, is_up) in hosts.values() {
            if *is_up {
                up += 1;
                behind += usize::from(applied < generation);
            }
        }
    }
    Ok((up, behind))
}

/// The live server that says it leads (`/fort/cluster`), if one does.
async fn leader(servers: &[Server]) -> Option<usize> {
    for (i, s) in servers.iter().enumerate().filter(|(_, s)| !s.dead) {
        let Ok(mut api) = Api::connect(&s.api).await else {
            continue;
        };
        if let Ok((200, _, body)) = api.request("GET", "/fort/cluster", "").await
            && body.replace(' ', "").contains("\"leading\":true")
        {
            return Some(i);
        }
    }
    None
}

/// Whether change `change` reached every host within `timeout`: each live server
/// waits for the hosts connected to it (`appliers`: one connection per server).
async fn wait_applied_all(
    appliers: &mut [(usize, Api)],
    servers: &[Server],
    change: u64,
    timeout: Duration,
) -> Result<bool, String> {
    let deadline = Instant::now() + timeout;
    for (i, api) in appliers.iter_mut() {
        if servers[*i].dead {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if !api.wait_applied(change, left).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs the simulation and returns its figures.
pub async fn run(args: SimArgs) -> Result<Report, String> {
    let started = Instant::now();
    if args.servers > 1 && args.store.is_none() {
        return Err("several servers share one store: give --store etcd://…".into());
    }
    let mut servers = Vec::new();
    for i in 0..args.servers.max(1) {
        servers.push(start_server(&args.fort, i, args.store.as_deref())?);
    }
    // Writes go to a follower (forwarded to the leader), so that the leader can die
    // under them; with one server, to it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let lead = loop {
        if servers.len() == 1 {
            break 0;
        }
        if let Some(l) = leader(&servers).await {
            break l;
        }
        if Instant::now() > deadline {
            return Err("no server leads".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let writer = (lead + 1) % servers.len();
    let mut appliers = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        appliers.push((i, Api::connect(&s.api).await?));
    }
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let items = Arc::new(AtomicU64::new(0));
    let mut agents = Vec::new();
    let hosts = u32::try_from(args.hosts).map_err(|_| format!("{} hosts: too many", args.hosts))?;
    for i in 0..hosts {
        let underlay = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 0)) + i + 1);
        agents.push(agent(
            &mapping_list(&servers, i as usize),
            format!("sim-{i:04}"),
            zones[i as usize % 3].into(),
            underlay,
            items.clone(),
        ));
    }
    let mut api = Api::connect(&servers[writer].api).await?;
    // Wait until every host has registered (placement needs them).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let connected = connected(&servers).await?;
        if connected >= args.hosts {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {connected} of {} hosts connected",
                args.hosts
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "sim: {} hosts connected in {:.1} s",
        args.hosts,
        started.elapsed().as_secs_f64()
    );

    // The large VPC lives in zone a (a third of the hosts); small VPCs anywhere.
    let large = args.large_vpc.min(args.instances);
    let (_, vpc) = api.call("Action=CreateVpc&CidrBlock=10.0.0.0/16").await?;
    let large_vpc = first(&vpc, "vpcId").ok_or("no vpc id")?;
    let mut large_subnets = Vec::new();
    for i in 0..4 {
        let (_, s) =
            api.call(&format!("Action=CreateSubnet&VpcId={large_vpc}&CidrBlock=10.0.{}.0/18&AvailabilityZone=us-east-1a", i * 64)).await?;
        large_subnets.push(first(&s, "subnetId").ok_or("no subnet id")?);
    }
    // A launch is one store transaction: on etcd, within its 128 operations (a few per
    // instance).
    let batch_max = if args.store.is_some() { 16 } else { 250 };
    let mut launched = 0;
    let mut batch = 0;
    while launched < large {
        let n = (large - launched).min(batch_max);
        let subnet = &large_subnets[batch % large_subnets.len()];
        api.call(&format!(
            "Action=RunInstances&ImageId=ami-12345678&MinCount={n}&MaxCount={n}&SubnetId={subnet}"
        ))
        .await?;
        launched += n;
        batch += 1;
    }
    let mut small = Vec::new();
    let mut remaining = args.instances - large;
    let mut v = 0;
    while remaining > 0 {
        let n = remaining.min(args.small_vpc.max(1));
        let (_, vpc) = api
            .call(&format!(
                "Action=CreateVpc&CidrBlock=10.{}.0.0/16",
                1 + v % 250
            ))
            .await?;
        let vpc_id = first(&vpc, "vpcId").ok_or("no vpc id")?;
        let (_, s) = api
            .call(&format!(
                "Action=CreateSubnet&VpcId={vpc_id}&CidrBlock=10.{}.0.0/20&AvailabilityZone={}",
                1 + v % 250,
                zones[v % 3]
            ))
            .await?;
        let subnet = first(&s, "subnetId").ok_or("no subnet id")?;
        let (mut group, mut ids) = (String::new(), Vec::new());
        let mut left = n;
        while left > 0 {
            let m = left.min(batch_max);
            let (_, out) = api.call(&format!("Action=RunInstances&ImageId=ami-12345678&MinCount={m}&MaxCount={m}&SubnetId={subnet}")).await?;
            if group.is_empty() {
                group = first(&out, "groupId").unwrap_or_default();
            }
            ids.extend(all(&out, "instanceId"));
            left -= m;
        }
        small.push((vpc_id, subnet, group, ids));
        remaining -= n;
        v += 1;
    }
    // With a transit gateway: every small VPC attached to one gateway, associated with its
    // default table and propagating to it, so that each VPC reaches every other.
    let transit = if args.transit_gateway {
        let (_, g) = api.call("Action=CreateTransitGateway").await?;
        let tgw = first(&g, "transitGatewayId").ok_or("no transit gateway id")?;
        let table = first(&g, "propagationDefaultRouteTableId").ok_or("no default table")?;
        let mut attachments = Vec::new();
        for (vpc, subnet, _, _) in &small {
            let (_, a) = api
                .call(&format!(
                    "Action=CreateTransitGatewayVpcAttachment&TransitGatewayId={tgw}&VpcId={vpc}&SubnetIds.1={subnet}"
                ))
                .await?;
            attachments.push(first(&a, "transitGatewayAttachmentId").ok_or("no attachment id")?);
        }
        eprintln!("sim: {} VPCs attached to {tgw}", attachments.len());
        Some((table, attachments))
    } else {
        None
    };
    // Let the build-up reach every host before timing single changes.
    let settle_deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (change, _) = api
            .call(&format!(
                "Action=CreateTags&ResourceId.1={large_vpc}&Tag.1.Key=settle&Tag.1.Value=1"
            ))
            .await?;
        // Every host up and holding all it was sent: none still digesting the build-up
        // (a host that fell silent under it and is still catching up would hold the
        // first timed changes back).
        let applied =
            wait_applied_all(&mut appliers, &servers, change, Duration::from_secs(30)).await?;
        let (up, behind) = caught_up(&servers).await?;
        if (applied && up >= args.hosts && behind == 0) || Instant::now() > settle_deadline {
            if behind > 0 || up < args.hosts {
                eprintln!("sim: after the build-up, {up} hosts up, {behind} still behind");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let setup_s = started.elapsed().as_secs_f64();
    eprintln!(
        "sim: {} instances launched and programmed in {setup_s:.1} s",
        args.instances
    );

    // Timed changes, one at a time: launches, terminations, security group rules moving.
    let mut latencies = Vec::new();
    let mut after_kill = Vec::new();
    let mut timeouts = 0;
    let mut killed_at: Option<Instant> = None;
    let mut reconnected = None;
    let mut first_write = None;
    let mut refused = 0;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..args.changes {
        if small.is_empty() {
            break;
        }
        let k = usize::try_from(next() % small.len() as u64).map_err(|e| e.to_string())?;
        if Some(i) == args.kill_server_after && servers.len() > 1 {
            let victim = leader(&servers).await.unwrap_or(lead);
            let s = &mut servers[victim];
            // SIGKILL: no goodbye to the hosts or to etcd
            let _ = s.child.kill();
            let at = Instant::now();
            let _ = s.child.wait();
            s.dead = true;
            killed_at = Some(at);
            eprintln!("sim: killed the leading server {victim} (SIGKILL) after {i} changes");
            // when the last host has a session on a survivor again
            let survivors: Vec<String> = servers
                .iter()
                .filter(|s| !s.dead)
                .map(|s| s.api.clone())
                .collect();
            let hosts = args.hosts;
            reconnected = Some(tokio::spawn(async move {
                while at.elapsed() < Duration::from_secs(60) {
                    if connected_at(&survivors).await.unwrap_or(0) >= hosts {
                        return Some(at.elapsed());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                None
            }));
        }
        let (_, subnet, group, instances) = &mut small[k];
        let body = match i % 4 {
            // propagations of the gateway's VPCs leaving its table and coming back
            n if transit.is_some() => {
                let (table, attachments) = transit.as_ref().expect("matched");
                format!(
                    "Action={}TransitGatewayRouteTablePropagation&TransitGatewayRouteTableId={table}&TransitGatewayAttachmentId={}",
                    if n % 2 == 0 { "Disable" } else { "Enable" },
                    attachments[(i / 2) % attachments.len()]
                )
            }
            0 => format!(
                "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={subnet}"
            ),
            1 if !instances.is_empty() => format!(
                "Action=TerminateInstances&InstanceId.1={}",
                instances.remove(0)
            ),
            2 => format!(
                "Action=AuthorizeSecurityGroupIngress&GroupId={group}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort={p}&IpPermissions.1.ToPort={p}&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8",
                p = 1000 + i
            ),
            _ => format!(
                "Action=RevokeSecurityGroupIngress&GroupId={group}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort={p}&IpPermissions.1.ToPort={p}&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8",
                p = 1000 + i - 1
            ),
        };
        // While the servers fail over, a write is refused (503) or its connection breaks:
        // the same change again until it is taken, for at most 30 s.
        let answer = loop {
            match api.call(&body).await {
                Ok(a) => break Some(a),
                // (an EC2 error of the change itself is not the failover's: skipped)
                Err(e)
                    if killed_at.is_some_and(|k| k.elapsed() < Duration::from_secs(30))
                        && (e.contains(" → 503") || !e.contains(" → ")) =>
                {
                    refused += 1;
                    if refused == 1 {
                        eprintln!("sim: a write refused during the failover: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    api = Api::connect(&servers[writer].api).await?;
                }
                Err(_) => break None,
            }
        };
        let Some((change, out)) = answer else {
            continue;
        };
        let acked = Instant::now();
        if let Some(k) = killed_at {
            first_write.get_or_insert(acked - k);
        }
        if body.contains("RunInstances") {
            instances.extend(all(&out, "instanceId"));
        }
        if change == 0 {
            continue;
        }
        let programmed = wait_applied_all(&mut appliers, &servers, change, args.timeout).await?;
        if std::env::var_os("FORT_SIM_DEBUG").is_some() {
            eprintln!(
                "sim: change {i} ({}) programmed: {programmed}, {:.1} ms after its answer",
                body.split('&').next().unwrap_or_default(),
                acked.elapsed().as_secs_f64() * 1e3
            );
        }
        if programmed {
            latencies.push(acked.elapsed());
            if killed_at.is_some() {
                after_kill.push(acked.elapsed());
            }
        } else {
            timeouts += 1;
        }
    }

    // A new host, then an instance of the large VPC placed on it (it is the least loaded):
    // the host must take the whole VPC.
    let new_underlay = Ipv4Addr::new(10, 201, 0, 1);
    // The newcomer runs a real engine: its programming time includes compiling it.
    let newcomer = engine_agent(
        &mapping_list(&servers, 0),
        "sim-new".into(),
        "us-east-1a".into(),
        new_underlay,
    );
    let wait_new = Instant::now() + Duration::from_secs(30);
    while newcomer.lock().expect("agent lock").state.generation == 0 && Instant::now() < wait_new {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (change, _) = api
        .call(&format!(
            "Action=RunInstances&ImageId=ami-12345678&MinCount=1&MaxCount=1&SubnetId={}",
            large_subnets[0]
        ))
        .await?;
    let acked = Instant::now();
    let programmed =
        wait_applied_all(&mut appliers, &servers, change, Duration::from_secs(60)).await?;
    let new_host_ms = acked.elapsed().as_secs_f64() * 1e3;
    if std::env::var_os("FORT_SIM_DEBUG").is_some() {
        for (arrived, took) in &newcomer.lock().expect("agent lock").applies {
            if *arrived >= acked {
                eprintln!(
                    "sim: newcomer update arrived {:.1} ms after the ack, applied (with a clone) in {:.1} ms",
                    (*arrived - acked).as_secs_f64() * 1e3,
                    took.as_secs_f64() * 1e3
                );
            }
        }
    }
    if !programmed {
        timeouts += 1;
    }
    // Memory per mapping of a real agent: what a fresh agent state and engine grow by when
    // they apply the updates the newcomer received (heap bytes still allocated after, and
    // the growth of this process), per V2P entry.
    let (new_host_mappings, heap_bytes, rss_bytes) = {
        let received = std::mem::take(&mut newcomer.lock().expect("agent lock").received);
        // the tables an empty engine starts with are not per mapping
        let mut fresh = EngineAgent::new(new_underlay);
        let heap_before = args.heap.map(|f| f());
        let rss_before = own_rss_kb();
        // (each update cloned: what it holds that the state keeps is counted, what it
        // does not is freed, and `received` stays as it was before)
        for u in &received {
            let _ = fresh.apply(u.clone());
        }
        let rss = (own_rss_kb() - rss_before).max(0.0) * 1024.0;
        let heap = heap_before
            .zip(args.heap)
            .map(|(b, f)| (f() - b).max(0) as f64);
        let n = fresh.engine.mappings_len().max(1);
        if std::env::var_os("FORT_SIM_DEBUG").is_some() {
            eprintln!(
                "sim: change {change}, newcomer generation {}, {} structure items, {} ports, {} mappings",
                fresh.state.generation,
                fresh.state.len(),
                fresh.engine.structure().ports.len(),
                n
            );
        }
        drop(fresh);
        (n, heap.map(|h| h / n as f64), rss / n as f64)
    };
    let bytes = heap_bytes.unwrap_or(rss_bytes);
    eprintln!(
        "sim: a real agent holds {} B of heap and {rss_bytes:.0} B of RSS per mapping; the compact table the simulated agents keep: {:.1} B",
        heap_bytes.map_or("(not counted)".to_string(), |b| format!("{b:.0}")),
        agents
            .first()
            .map_or(0.0, |a| a.lock().expect("agent lock").bytes_per_mapping())
    );

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // the percentile in thousandths
    let pct = |per_mille: usize| {
        latencies
            .get((latencies.len() * per_mille / 1000).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| ms(*d))
    };
    let report = Report {
        programming_p50_ms: pct(500),
        programming_p99_ms: pct(990),
        programming_max_ms: latencies.last().map_or(0.0, |d| ms(*d)),
        new_host_ms,
        new_host_mappings,
        agent_bytes_per_mapping: bytes,
        server_rss_mb: servers
            .iter()
            .find(|s| !s.dead)
            .map_or(0.0, |s| rss_mb(s.child.id())),
        setup_s,
        mappings_held: agents
            .iter()
            .map(|a| a.lock().expect("agent lock").mappings.len() as u64)
            .sum(),
        timeouts,
        servers: servers.len(),
        failover_reconnect_ms: match reconnected {
            Some(task) => task
                .await
                .map_err(|e| e.to_string())?
                .map(|d| d.as_secs_f64() * 1e3),
            None => None,
        },
        failover_write_ms: first_write.map(|d| d.as_secs_f64() * 1e3),
        failover_refused_writes: refused,
    };
    if !after_kill.is_empty() {
        after_kill.sort();
        eprintln!(
            "sim: after the kill, {} changes programmed: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            after_kill.len(),
            ms(after_kill[after_kill.len() / 2]),
            ms(after_kill[(after_kill.len() * 99 / 100).min(after_kill.len() - 1)]),
            ms(*after_kill.last().expect("not empty"))
        );
    }
    eprintln!(
        "sim: {} timed changes ({} timed out), new host took {} mappings, {} items applied in all",
        latencies.len(),
        report.timeouts,
        report.new_host_mappings,
        items.load(Ordering::Relaxed)
    );
    Ok(report)
}
