//! `fort`: one binary for every part of Fort.
//!
//! * `fort up` runs everything on one machine: the control plane and, as root, host
//!   agents with real instances, the edge and the internet namespace;
//! * `fort server` runs the control plane (EC2 API and mapping service) alone;
//! * `fort agent` runs one host agent;
//! * `fort edge` runs the edge (internet and NAT gateways) and the simulated internet;
//! * `fort exec INSTANCE -- CMD` runs a command inside an instance.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use fort_auth::Credentials;
use fort_control::{Config, Control, Quotas};
use fort_store::{EmbeddedStore, EtcdStore, Store};

mod endpoint_tls;
mod flow_logs;
mod internet_dns;
mod sim;

/// The heap, counted while `fort sim` runs (it reports an agent's memory per mapping);
/// otherwise each allocation pays one relaxed load.
mod heap {
    #![allow(unsafe_code)]
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

    pub struct Counting;
    static ON: AtomicBool = AtomicBool::new(false);
    static LIVE: AtomicIsize = AtomicIsize::new(0);

    // SAFETY: every call is forwarded to the system allocator unchanged; the counter
    // has no effect on the memory handed out.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if ON.load(Ordering::Relaxed) {
                LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            }
            // SAFETY: the caller's contract is the system allocator's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if ON.load(Ordering::Relaxed) {
                LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
            }
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if ON.load(Ordering::Relaxed) {
                LIVE.fetch_add(
                    new_size as isize - layout.size() as isize,
                    Ordering::Relaxed,
                );
            }
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn start() {
        ON.store(true, Ordering::Relaxed);
    }

    /// Bytes allocated and not freed since [`start`] (frees of older blocks subtract).
    pub fn live() -> isize {
        LIVE.load(Ordering::Relaxed)
    }
}

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

#[derive(Parser)]
#[command(
    name = "fort",
    version,
    about = "Fort: an open virtual private cloud, the Amazon VPC model end to end"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs everything on this machine: the control plane and, as root, the data plane.
    Up(ServerArgs),
    /// Runs the control plane alone: the EC2 API over the store.
    Server(ServerArgs),
    /// Runs a host agent: instances placed on this host, the packet engine, the underlay.
    Agent(AgentArgs),
    /// Runs the edge: internet gateways, elastic IPs and NAT gateways between the
    /// underlay and a simulated internet (a network namespace).
    Edge(EdgeArgs),
    /// Runs a command inside an instance's network namespace (as `ip netns exec`).
    Exec(ExecArgs),
    /// Simulates many hosts against a real control plane and measures how fast their
    /// programs converge; ends with one line of key=value figures.
    Sim(SimArgs),
}

#[derive(Args, Clone)]
struct SimArgs {
    /// Simulated hosts (real gRPC sessions, no TAPs).
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Instances launched through the EC2 API before the timed changes.
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
    /// Instances of the one large VPC (default: 40% of --instances, at most 40,000).
    #[arg(long)]
    large_vpc: Option<usize>,
    /// Instances per small VPC.
    #[arg(long, default_value_t = 100)]
    small_vpc: usize,
    /// Changes timed one by one.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Join the small VPCs on one transit gateway (each reaching every other) and time
    /// its propagations leaving the table and coming back instead.
    #[arg(long)]
    transit_gateway: bool,
    /// `fort server` processes sharing `--store` (hosts spread over them, each knowing
    /// all).
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// The servers' store, `etcd://HOST:PORT[,…]` (use a fresh one: the simulation's
    /// resources stay in it); default: each server's embedded store.
    #[arg(long)]
    store: Option<String>,
    /// After this many timed changes, SIGKILL the leading server; the figures then
    /// include the time until the last host reconnected and the first write after.
    #[arg(long)]
    kill_server_after: Option<usize>,
}

#[derive(Args, Clone)]
struct AgentArgs {
    /// This host's id, unique in the region's set of hosts.
    #[arg(long, env = "FORT_HOST_ID")]
    host_id: String,
    /// The availability zone it serves, e.g. us-east-1a.
    #[arg(long, env = "FORT_ZONE")]
    zone: String,
    /// Its underlay (Geneve, UDP 6081) IPv4 address.
    #[arg(long, env = "FORT_UNDERLAY")]
    underlay: Ipv4Addr,
    /// The mapping service of the control plane: `URL[,URL…]` (names or addresses) for
    /// several servers on one etcd; the host moves to the next when its server goes.
    #[arg(long, default_value = "http://127.0.0.1:8774", env = "FORT_MAPPING")]
    mapping: String,
    /// Where /metrics is served (Prometheus text).
    #[arg(long, env = "FORT_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Where the agent keeps its scripts and DHCP state (default /run/fort/agent-HOST-ID).
    #[arg(long, env = "FORT_RUN_DIR")]
    run_dir: Option<PathBuf>,
    /// Leave instance namespaces and TAPs in place on shutdown.
    #[arg(long)]
    keep: bool,
    /// The underlay's MTU (largest unfragmented IPv4 datagram). Default: the MTU of the
    /// interface holding `--underlay`. Instances get 9001 when it is at least 9067 (a
    /// jumbo underlay, or loopback), else the underlay MTU less 66 (Geneve), e.g. 1434
    /// on a 1500 underlay. With 65000 or more (loopback) TCP bursts cross whole.
    #[arg(long, env = "FORT_UNDERLAY_MTU")]
    underlay_mtu: Option<u32>,
    /// The internet's DNS (`fort up` prints its loopback address), where the VPC
    /// resolver forwards names that are not the VPC's; without it they are NXDOMAIN.
    #[arg(long = "internet-dns", value_name = "ADDR:PORT")]
    internet_dns: Option<SocketAddr>,
    /// A directory with `endpoints.pem` (certificate chain) and `endpoints-key.pem`:
    /// interface endpoints then answer HTTPS on 443 too (`fort up` makes them in
    /// DATA/tls).
    #[arg(long, value_name = "DIR")]
    endpoint_tls: Option<PathBuf>,
    #[command(flatten)]
    mapping_tls: HostTlsArgs,
}

/// TLS to the mapping service, for `https://` servers.
#[derive(Args, Clone)]
struct HostTlsArgs {
    /// The CA (PEM) that signed the servers' certificates: needed for `--mapping
    /// https://…`.
    #[arg(long = "ca", value_name = "FILE", env = "FORT_CA")]
    ca: Option<PathBuf>,
    /// This host's certificate (PEM chain), for servers that require client
    /// certificates (`fort server --tls-client-ca`).
    #[arg(
        long = "tls-cert",
        value_name = "FILE",
        env = "FORT_HOST_TLS_CERT",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The key of `--tls-cert` (PEM).
    #[arg(
        long = "tls-key",
        value_name = "FILE",
        env = "FORT_HOST_TLS_KEY",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// The name the servers' certificates carry, when the URLs name them otherwise
    /// (e.g. by address).
    #[arg(
        long = "tls-server-name",
        value_name = "NAME",
        env = "FORT_TLS_SERVER_NAME"
    )]
    tls_server_name: Option<String>,
}

impl HostTlsArgs {
    fn client_tls(&self) -> anyhow::Result<Option<fort_sync::client::ClientTls>> {
        let Some(ca) = &self.ca else {
            if self.tls_cert.is_some() {
                bail!(
                    "--tls-cert authenticates this host to https:// servers: give their --ca too"
                );
            }
            return Ok(None);
        };
        let mut tls = fort_sync::client::ClientTls::from_files(
            ca,
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
        )
        .map_err(anyhow::Error::msg)?;
        tls.domain = self.tls_server_name.clone();
        Ok(Some(tls))
    }
}

#[derive(Args, Clone)]
struct EdgeArgs {
    /// This host's id, unique in the region's set of hosts.
    #[arg(long, default_value = "edge", env = "FORT_HOST_ID")]
    host_id: String,
    /// The availability zone it registers in (an edge serves every zone).
    #[arg(long, default_value = "us-east-1a", env = "FORT_ZONE")]
    zone: String,
    /// Its underlay (Geneve, UDP 6081) IPv4 address.
    #[arg(long, env = "FORT_UNDERLAY")]
    underlay: Ipv4Addr,
    /// The mapping service of the control plane: `URL[,URL…]` (names or addresses) for
    /// several servers on one etcd; the host moves to the next when its server goes.
    #[arg(long, default_value = "http://127.0.0.1:8774", env = "FORT_MAPPING")]
    mapping: String,
    /// Where /metrics is served (Prometheus text).
    #[arg(long, env = "FORT_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// The pool that elastic and public IPs come from (routed from the internet to the edge).
    #[arg(long, default_value = "198.51.100.0/24")]
    public_pool: ipnet_arg::Ipv4Net,
    /// The underlay's MTU. Default: the MTU of the interface holding `--underlay`. The
    /// internet link gets 1500, less on an underlay below 1566 (Geneve takes 66).
    #[arg(long, env = "FORT_UNDERLAY_MTU")]
    underlay_mtu: Option<u32>,
    /// A directory with `endpoints.pem` and `endpoints-key.pem` (as for `fort agent`):
    /// S3's addresses in the internet namespace then answer HTTPS on 443 too.
    #[arg(long, value_name = "DIR")]
    endpoint_tls: Option<PathBuf>,
    #[command(flatten)]
    internet: InternetArgs,
    #[command(flatten)]
    mapping_tls: HostTlsArgs,
}

/// The simulated internet the edge is attached to.
#[derive(Args, Clone)]
struct InternetArgs {
    /// The network namespace that plays the internet (created, and removed on shutdown).
    #[arg(long, default_value = "fort-internet")]
    internet_ns: String,
    /// The internet's test hosts: local addresses in the namespace (the first one on lo).
    #[arg(long, default_value = "203.0.113.0/24")]
    internet_hosts: ipnet_arg::Ipv4Net,
    /// A zone the internet's DNS serves: an RFC 1035 master file with $ORIGIN and one
    /// SOA (repeatable; a file for example.test. replaces the built-in zone).
    #[arg(long = "internet-dns-zone", value_name = "FILE")]
    internet_dns_zones: Vec<PathBuf>,
    /// An A record the internet's DNS serves, NAME=IPV4 (repeatable): added to the zone
    /// that holds NAME, else served as a zone of its own.
    #[arg(long = "internet-dns-record", value_name = "NAME=IPV4")]
    internet_dns_records: Vec<fort_dns::StaticRecord>,
    /// Where the internet's DNS also answers in this machine's namespace (UDP and TCP),
    /// for host agents to forward to. `fort up`'s default: the underlay address after the
    /// agents' and the edge's, port 53 (127.0.0.13:53 with 2 hosts); `fort edge`: none.
    #[arg(long, value_name = "ADDR:PORT")]
    internet_dns_listen: Option<SocketAddr>,
    /// Also start a company network for Site-to-Site VPN: a namespace whose hosts reach
    /// the internet through a customer gateway address.
    #[arg(long)]
    onprem: bool,
    /// The company network's namespace.
    #[arg(long, default_value = "fort-onprem")]
    onprem_ns: String,
    /// The company's hosts: local addresses in its namespace (the first one on lo).
    #[arg(long, default_value = "192.168.0.0/16")]
    onprem_hosts: ipnet_arg::Ipv4Net,
    /// The customer gateway's address on the internet (use it in CreateCustomerGateway).
    #[arg(long, default_value = "192.0.2.200")]
    customer_gateway_ip: Ipv4Addr,
}

impl InternetArgs {
    /// The company network, when asked for.
    fn onprem(&self) -> Option<fort_edge_host::onprem::OnpremConfig> {
        self.onprem.then(|| fort_edge_host::onprem::OnpremConfig {
            namespace: self.onprem_ns.clone(),
            hosts: self.onprem_hosts,
            gateway_ip: self.customer_gateway_ip,
        })
    }

    /// The internet's DNS: its zones, and `region`'s public instance names for `pool`.
    fn dns(&self, region: &str, pool: ipnet::Ipv4Net) -> internet_dns::DnsConfig<'_> {
        internet_dns::DnsConfig {
            hosts: self.internet_hosts,
            zone_files: &self.internet_dns_zones,
            records: &self.internet_dns_records,
            public_names: Some(fort_dns::PublicNames::for_region(region, pool)),
        }
    }
}

#[derive(Args, Clone)]
struct ExecArgs {
    /// The instance id (its namespace's name).
    instance: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QuotaSet {
    /// Fort's defaults: AWS's highest adjustable values.
    Generous,
    /// AWS's own default quotas.
    Aws,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ImagePolicy {
    /// RunInstances with an image id no one registered registers a generic Linux image
    /// of that id (for ids brought from AWS accounts and public modules).
    Open,
    /// Only registered images launch: others get EC2's InvalidAMIID.NotFound.
    Strict,
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// Where the EC2 API listens.
    #[arg(long, default_value = "127.0.0.1:8773", env = "FORT_LISTEN")]
    listen: SocketAddr,
    /// Where the mapping service (gRPC, for agents) listens. Default: the API's address
    /// and the next port (8773 → 8774), so servers side by side need only `--listen`.
    #[arg(long, env = "FORT_MAPPING_LISTEN")]
    mapping_listen: Option<SocketAddr>,
    /// Where the embedded store and generated credentials live.
    #[arg(long, default_value = "./fort-data", env = "FORT_DATA_DIR")]
    data_dir: PathBuf,
    /// The store: `embedded` (in the data directory) or `etcd://HOST:PORT[,…]`. Several
    /// servers may share one etcd: one leads, the others send it their writes.
    #[arg(long, default_value = "embedded", env = "FORT_STORE")]
    store: String,
    /// Where the other servers of an etcd cluster reach this server's API
    /// (`HOST:PORT`; default: `--listen`, with 127.0.0.1 for an unspecified address).
    #[arg(long, env = "FORT_ADVERTISE")]
    advertise: Option<String>,
    /// With etcd: the most bytes CloudWatch Logs keeps in it (beyond, writes answer
    /// LimitExceededException). Logs and S3 keep their data in etcd so that every server
    /// serves it and none is lost with a server.
    #[arg(long, default_value_t = 512 << 20, env = "FORT_LOGS_QUOTA")]
    logs_quota: u64,
    /// With etcd: the most bytes S3 keeps in it (beyond, writes answer 503
    /// ServiceUnavailable). With the Logs quota, half of etcd's default 2 GiB.
    #[arg(long, default_value_t = 512 << 20, env = "FORT_S3_QUOTA")]
    s3_quota: u64,
    /// An AWS credentials file whose profiles carry aws_access_key_id,
    /// aws_secret_access_key and aws_account_id.
    #[arg(long, env = "FORT_CREDENTIALS")]
    credentials: Option<PathBuf>,
    /// `off` runs the control plane as an API-faithful emulator: instances run without a host.
    #[arg(long, value_enum, env = "FORT_DATAPLANE")]
    dataplane: Option<OnOff>,
    /// Quotas per account and region.
    #[arg(long, value_enum, default_value = "generous")]
    quotas: QuotaSet,
    /// Which image ids RunInstances takes: `open` (any well-formed id) or `strict`.
    #[arg(long, value_enum, default_value = "open")]
    images: ImagePolicy,
    /// The pool that elastic and public IPs come from.
    #[arg(long, default_value = "198.51.100.0/24")]
    public_pool: ipnet_arg::Ipv4Net,
    /// In how many of the region's availability zones host agents run (the API offers
    /// every zone of the region).
    #[arg(long, default_value_t = 2, env = "FORT_ZONES")]
    zones: usize,
    /// Host agents to run (`fort up` as root), spread over the region's zones in turn.
    #[arg(long, default_value_t = 2)]
    hosts: u32,
    /// The region of `fort up`'s agents.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The underlay address of the first agent; the next ones count up from it.
    #[arg(long, default_value = "127.0.0.10")]
    underlay_base: Ipv4Addr,
    /// Leave instance namespaces and TAPs in place on shutdown.
    #[arg(long)]
    keep: bool,
    /// Run the edge and the internet namespace with the agents (`fort up` as root).
    #[arg(long, value_enum, default_value = "on")]
    edge: OnOff,
    #[command(flatten)]
    internet: InternetArgs,
    #[command(flatten)]
    tls: ServerTlsArgs,
}

/// TLS of the mapping service (`fort server`): hosts then connect with `https://`.
#[derive(Args, Clone)]
struct ServerTlsArgs {
    /// The mapping service's certificate (PEM chain): it then serves TLS only. Its
    /// names (or addresses) are those hosts put in `--mapping https://…`.
    #[arg(
        long = "tls-cert",
        value_name = "FILE",
        env = "FORT_TLS_CERT",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The key of `--tls-cert` (PEM).
    #[arg(
        long = "tls-key",
        value_name = "FILE",
        env = "FORT_TLS_KEY",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Require a client certificate signed by this CA (PEM) from every host.
    #[arg(
        long = "tls-client-ca",
        value_name = "FILE",
        env = "FORT_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    tls_client_ca: Option<PathBuf>,
}

impl ServerTlsArgs {
    /// The mapping service's TLS, when asked for.
    fn server_tls(&self) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let (cert, key) = (read(cert)?, read(key)?);
        if !String::from_utf8_lossy(&cert).contains("BEGIN CERTIFICATE") {
            bail!("--tls-cert holds no PEM certificate");
        }
        let mut tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(cert, key));
        if let Some(ca) = &self.tls_client_ca {
            tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        Ok(Some(tls))
    }
}

mod ipnet_arg {
    pub type Ipv4Net = ipnet::Ipv4Net;
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FORT_LOG")
                // hickory logs every query at info
                .unwrap_or_else(|_| "info,hickory_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Up(args) => runtime.block_on(up(args)),
        Command::Server(args) => runtime.block_on(server(args, false)),
        Command::Agent(args) => runtime.block_on(agent(args)),
        Command::Edge(args) => runtime.block_on(edge(args)),
        Command::Exec(args) => exec(args),
        Command::Sim(args) => runtime.block_on(sim(args)),
    }
}

async fn sim(args: SimArgs) -> anyhow::Result<()> {
    heap::start();
    let report = sim::run(sim::SimArgs {
        hosts: args.hosts,
        instances: args.instances,
        changes: args.changes,
        large_vpc: args
            .large_vpc
            .unwrap_or((args.instances * 2 / 5).min(40_000)),
        small_vpc: args.small_vpc,
        fort: std::env::current_exe()?,
        timeout: std::time::Duration::from_secs(10),
        transit_gateway: args.transit_gateway,
        heap: Some(heap::live),
        servers: args.servers,
        store: args.store,
        kill_server_after: args.kill_server_after,
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "sim: setup {:.1} s, {} mappings held by the hosts, new host took {} mappings",
        report.setup_s, report.mappings_held, report.new_host_mappings
    );
    println!("{}", report.line());
    Ok(())
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let run_dir = args
        .run_dir
        .unwrap_or_else(|| PathBuf::from(format!("/run/fort/agent-{}", args.host_id)));
    let agent = fort_agent::Agent::start(fort_agent::AgentConfig {
        host_id: args.host_id,
        zone: args.zone,
        underlay: args.underlay,
        mapping: args.mapping,
        mapping_tls: args.mapping_tls.client_tls()?,
        metrics_listen: args.metrics_listen,
        run_dir,
        keep: args.keep,
        underlay_mtu: args.underlay_mtu,
        internet_dns: args.internet_dns,
        endpoint_tls: args
            .endpoint_tls
            .as_deref()
            .map(endpoint_tls::server_config)
            .transpose()?,
    })
    .await?;
    if let Some(a) = agent.metrics_addr {
        println!("  metrics:       http://{a}/metrics");
    }
    shutdown_signal().await;
    agent.shutdown().await;
    Ok(())
}

async fn edge(args: EdgeArgs) -> anyhow::Result<()> {
    let region = args
        .zone
        .trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let mut dns = internet_dns::InternetDns::new(internet_dns::authority(
        &args.internet.dns(region, args.public_pool),
    )?);
    let e = fort_edge_host::EdgeProcess::start(fort_edge_host::EdgeHostConfig {
        host_id: args.host_id,
        zone: args.zone,
        underlay: args.underlay,
        mapping: args.mapping,
        mapping_tls: args.mapping_tls.client_tls()?,
        underlay_mtu: args.underlay_mtu,
        metrics_listen: args.metrics_listen,
        internet: fort_edge_host::InternetConfig {
            namespace: args.internet.internet_ns.clone(),
            public_pool: args.public_pool,
            hosts: args.internet.internet_hosts,
        },
        onprem: args.internet.onprem(),
        tls: args
            .endpoint_tls
            .as_deref()
            .map(endpoint_tls::server_config)
            .transpose()?,
    })
    .await?;
    println!(
        "  internet:      namespace {}, hosts {}, try: ip netns exec {} ping …",
        args.internet.internet_ns, args.internet.internet_hosts, args.internet.internet_ns
    );
    if let Err(err) =
        serve_internet_dns(&mut dns, &args.internet, args.internet.internet_dns_listen)
    {
        dns.shutdown().await;
        e.shutdown().await;
        return Err(err);
    }
    println!("  internet DNS:  {}", dns.summary());
    if let Some(a) = e.metrics_addr {
        println!("  metrics:       http://{a}/metrics");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    dns.shutdown().await;
    e.shutdown().await;
    Ok(())
}

/// Replaces this process with `ip netns exec INSTANCE CMD...`.
fn exec(args: ExecArgs) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    if !fort_agent::names::is_instance_id(&args.instance) {
        bail!("'{}' is not an instance id (i-…)", args.instance);
    }
    if !fort_host::netns::netns_exists(&args.instance) {
        bail!(
            "instance {} has no network namespace on this machine",
            args.instance
        );
    }
    let err = std::process::Command::new("ip")
        .args(["netns", "exec", &args.instance])
        .args(&args.command)
        .exec();
    Err(anyhow::anyhow!("running ip netns exec: {err}"))
}

/// The agents `fort up` runs: (host id, zone, underlay address).
fn up_hosts(
    region: &str,
    zones: usize,
    hosts: u32,
    base: Ipv4Addr,
) -> Vec<(String, String, Ipv4Addr)> {
    let mut names = fort_control::zones::zone_names(region);
    names.truncate(zones.max(1));
    (0..hosts)
        .map(|i| {
            (
                format!("h{}", u64::from(i) + 1),
                names[i as usize % names.len()].clone(),
                Ipv4Addr::from(u32::from(base).wrapping_add(i)),
            )
        })
        .collect()
}

async fn up(args: ServerArgs) -> anyhow::Result<()> {
    server(args, true).await
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// With `FORT_EXIT_WITH_PARENT` set (as `fort sim` sets it for its server), the process
/// ends when the one that started it does, however that ends (a signal, `kill -9`),
/// rather than living on orphaned.
fn exit_with_parent() {
    if std::env::var_os("FORT_EXIT_WITH_PARENT").is_none() {
        return;
    }
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            if std::os::unix::process::parent_id() != parent {
                eprintln!("fort: the process that started this server is gone; exiting");
                std::process::exit(0);
            }
        }
    });
}

async fn server(args: ServerArgs, up: bool) -> anyhow::Result<()> {
    exit_with_parent();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let (credentials, generated) = load_credentials(&args)?;

    let root = is_root();
    // `fort up` runs agents when it can; `fort server` never does.
    let agents = up && root && args.dataplane != Some(OnOff::Off) && args.hosts > 0;
    let dataplane = match args.dataplane {
        Some(OnOff::Off) => false,
        Some(OnOff::On) => true,
        None => agents,
    };
    if up && !root && args.dataplane != Some(OnOff::Off) {
        if args.dataplane == Some(OnOff::On) {
            bail!("--dataplane on with `fort up` runs host agents, which need root");
        }
        eprintln!(
            "fort: not running as root, so no host agents: running the control plane alone (--dataplane off)"
        );
    }
    if dataplane && !agents {
        eprintln!(
            "fort: --dataplane on: instances need a host agent (`fort agent`) in their zone; until one registers, RunInstances answers InsufficientInstanceCapacity"
        );
    }

    // the internet's zones, read first: a bad zone file stops `fort up` before it starts
    let mut dns = match agents {
        true => Some(internet_dns::InternetDns::new(internet_dns::authority(
            &args.internet.dns(&args.region, args.public_pool),
        )?)),
        false => None,
    };

    let store: Arc<dyn Store> = match args.store.as_str() {
        "embedded" => Arc::new(EmbeddedStore::open(&args.data_dir.join("store.redb"))?),
        s if s.starts_with("etcd://") => Arc::new(EtcdStore::connect(s).await?),
        s => bail!("unknown store '{s}': use 'embedded' or etcd://HOST:PORT"),
    };
    let config = Config {
        quotas: match args.quotas {
            QuotaSet::Generous => Quotas::generous(),
            QuotaSet::Aws => Quotas::aws(),
        },
        public_pool: args.public_pool,
        host_zones: args.zones.max(1),
        dataplane,
        strict_images: args.images == ImagePolicy::Strict,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding the EC2 API to {}", args.listen))?;
    // Logs and S3 follow the shared store's operation log (crates/store/src/oplog.rs)
    let shared = store.shared().then(|| store.clone());
    let control = if store.shared() {
        let bound = listener.local_addr()?;
        let advertise = args.advertise.clone().unwrap_or_else(|| {
            let ip = match bound.ip() {
                ip if ip.is_unspecified() => std::net::IpAddr::V4(Ipv4Addr::LOCALHOST),
                ip => ip,
            };
            SocketAddr::new(ip, bound.port()).to_string()
        });
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let me = fort_control::Member {
            id: format!("{advertise}-{}-{nanos:x}", std::process::id()),
            api: format!("http://{advertise}"),
        };
        println!(
            "  cluster member {} (etcd: one server leads, the others forward writes)",
            me.id
        );
        Control::open_cluster(store, config, me).await
    } else {
        Control::open(store, config).await
    }
    .map_err(|e| anyhow::anyhow!("loading the store: {e}"))?;
    let (logs, s3) = match shared {
        None => (
            fort_logs::Logs::open(&args.data_dir.join("logs")),
            fort_s3::S3::open(&args.data_dir.join("s3")).map(Arc::new),
        ),
        Some(store) => (
            fort_logs::Logs::open_shared(
                &args.data_dir.join("logs-replica"),
                store.clone(),
                args.logs_quota,
            )
            .await,
            fort_s3::S3::open_shared(&args.data_dir.join("s3-replica"), store, args.s3_quota).await,
        ),
    };
    let logs = logs.map_err(|e| anyhow::anyhow!("opening the logs store: {e}"))?;
    let s3 = s3.map_err(|e| anyhow::anyhow!("opening the S3 store: {e}"))?;
    let api = Arc::new(fort_ec2_api::Api {
        control,
        credentials: credentials.clone(),
        logs: Some(logs),
        s3: Some(s3),
    });
    let endpoint = format!("http://{}", listener.local_addr()?);

    println!("Fort is up.");
    println!("  EC2 endpoint:  {endpoint}");
    println!("  data dir:      {}", args.data_dir.display());
    if let Some((profile, c)) = credentials.profiles().next() {
        println!(
            "  credentials:   profile {profile}, account {}",
            c.account_id
        );
        println!("    export AWS_ACCESS_KEY_ID={}", c.access_key_id);
        println!("    export AWS_SECRET_ACCESS_KEY={}", c.secret_access_key);
        println!("    export AWS_DEFAULT_REGION=us-east-1");
    }
    if let Some(path) = generated {
        println!("  (generated; also written to {})", path.display());
    }
    println!("  try: aws --endpoint-url {endpoint} ec2 describe-vpcs");

    let mapping = fort_mapping::server::MappingService::start(api.control.clone()).await;
    if let (Some(logs), Some(s3)) = (&api.logs, &api.s3) {
        flow_logs::connect(api.control.clone(), logs.clone(), s3.clone(), &mapping);
    }
    let api_addr = listener.local_addr()?;
    // VPC endpoints forward to the API: on one machine, its loopback address (an API on
    // every address is reached at 127.0.0.1)
    if let SocketAddr::V4(a) = api_addr {
        let ip = if a.ip().is_unspecified() {
            Ipv4Addr::LOCALHOST
        } else {
            *a.ip()
        };
        mapping.set_api_address(std::net::SocketAddrV4::new(ip, a.port()));
    }
    let mapping_addr = args.mapping_listen.unwrap_or_else(|| {
        let port = match api_addr.port() {
            0 => 0,
            p => p.wrapping_add(1),
        };
        SocketAddr::new(api_addr.ip(), port)
    });
    let grpc = match tokio::net::TcpListener::bind(mapping_addr).await {
        Ok(g) => Some(g),
        // An emulator's mapping service only tells agents they are not wanted: without
        // the port it runs on all the same (say why).
        Err(e) if !dataplane && args.mapping_listen.is_none() => {
            eprintln!(
                "fort: no mapping service ({mapping_addr}: {e}); with --dataplane off no agent can join anyway"
            );
            None
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("binding the mapping service to {mapping_addr}"));
        }
    };
    let server_tls = args.tls.server_tls()?;
    let scheme = if server_tls.is_some() {
        "https"
    } else {
        "http"
    };
    if let Some(grpc) = &grpc {
        println!(
            "  mapping:       {scheme}://{} (gRPC, for agents{})",
            grpc.local_addr()?,
            match (&server_tls, &args.tls.tls_client_ca) {
                (Some(_), Some(_)) => "; TLS, client certificates required",
                (Some(_), None) => "; TLS",
                _ => "",
            }
        );
    }
    let mapping_url = match &grpc {
        Some(g) => format!("{scheme}://{}", g.local_addr()?),
        None => String::new(),
    };
    if up && server_tls.is_some() && agents {
        bail!(
            "`fort up`'s own agents reach the mapping service on loopback: run `fort server` for TLS"
        );
    }
    if let Some(grpc) = grpc {
        let grpc_service = mapping.grpc();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = server_tls {
            builder = builder
                .tls_config(tls)
                .context("the mapping service's TLS certificate or key")?;
        }
        tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc);
            if let Err(e) = builder
                .add_service(grpc_service)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!(error = %e, "mapping service stopped");
            }
        });
    }

    // The internet's DNS on loopback, before the agents: `dns.loopback` is where they
    // forward names outside their VPCs.
    if let Some(dns) = &mut dns {
        let addr = args
            .internet
            .internet_dns_listen
            .unwrap_or_else(|| internet_dns::default_loopback(args.underlay_base, args.hosts));
        match dns.listen_loopback(addr) {
            Ok(()) => {}
            Err(e) if args.internet.internet_dns_listen.is_none() => {
                eprintln!("fort: the internet's DNS does not answer on loopback: {e:#}");
            }
            Err(e) => return Err(e),
        }
    }
    let mut running = Vec::new();
    let mut s3_tls = None;
    if agents {
        let tls = endpoint_tls::ensure(&args.data_dir.join("tls"))?;
        let tls_config = endpoint_tls::server_config(&tls.dir)?;
        s3_tls = Some(tls_config.clone());
        println!(
            "  endpoint TLS:  interface endpoints and S3's addresses answer HTTPS; inside instances trust AWS_CA_BUNDLE={}",
            tls.ca.display()
        );
        let hosts = up_hosts(&args.region, args.zones, args.hosts, args.underlay_base);
        for (host_id, zone, underlay) in hosts {
            let started = fort_agent::Agent::start(fort_agent::AgentConfig {
                host_id: host_id.clone(),
                zone: zone.clone(),
                underlay,
                mapping: mapping_url.clone(),
                mapping_tls: None,
                metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                run_dir: args.data_dir.join("agents").join(&host_id),
                keep: args.keep,
                underlay_mtu: Some(65_535),
                internet_dns: dns.as_ref().and_then(|d| d.loopback),
                endpoint_tls: Some(tls_config.clone()),
            })
            .await;
            match started {
                Ok(a) => {
                    let metrics = a
                        .metrics_addr
                        .map(|m| format!("http://{m}/metrics"))
                        .unwrap_or_default();
                    println!(
                        "  agent {host_id}:      {zone}, underlay {underlay}, metrics {metrics}"
                    );
                    running.push(a);
                }
                Err(e) => {
                    for a in running {
                        a.shutdown().await;
                    }
                    return Err(e.context(format!("starting agent {host_id}")));
                }
            }
        }
        println!("  instances:     namespaces named by instance id; try: fort exec i-… -- ip addr");
    }
    let mut edge = None;
    if agents && args.edge == OnOff::On {
        let underlay = Ipv4Addr::from(u32::from(args.underlay_base).wrapping_add(args.hosts));
        let started = fort_edge_host::EdgeProcess::start(fort_edge_host::EdgeHostConfig {
            host_id: "edge".into(),
            zone: format!("{}a", args.region),
            underlay,
            mapping: mapping_url.clone(),
            mapping_tls: None,
            underlay_mtu: Some(65_535),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            internet: fort_edge_host::InternetConfig {
                namespace: args.internet.internet_ns.clone(),
                public_pool: args.public_pool,
                hosts: args.internet.internet_hosts,
            },
            onprem: args.internet.onprem(),
            tls: s3_tls.clone(),
        })
        .await;
        match started {
            Ok(e) => {
                let metrics = e
                    .metrics_addr
                    .map(|m| format!("http://{m}/metrics"))
                    .unwrap_or_default();
                println!("  edge:          underlay {underlay}, metrics {metrics}");
                println!(
                    "  internet:      namespace {}, hosts {}, elastic IPs {}; try: ip netns exec {} curl …",
                    args.internet.internet_ns,
                    args.internet.internet_hosts,
                    args.public_pool,
                    args.internet.internet_ns
                );
                if let Some(o) = args.internet.onprem() {
                    println!(
                        "  company:       namespace {}, hosts {}, customer gateway {}; try: ip netns exec {} ping …",
                        o.namespace, o.hosts, o.gateway_ip, o.namespace
                    );
                }
                edge = Some(e);
                if let Some(dns) = &mut dns
                    && let Err(e) = serve_internet_dns(dns, &args.internet, None)
                {
                    eprintln!("fort: the internet's DNS does not answer in the internet: {e:#}");
                }
            }
            Err(e) => {
                eprintln!("fort: no edge, so no internet or NAT gateways: {e:#}");
            }
        }
    }
    if let Some(dns) = &dns {
        println!("  internet DNS:  {}", dns.summary());
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();

    let app = fort_ec2_api::router_with(api, Some(mapping.clone()));
    // connections from VPC endpoints' forwarders start with a PROXY header naming the
    // endpoint, whose policy the API enforces
    let listener = fort_ec2_api::endpoint_policy::ProxiedListener::new(listener)?;
    let app = app.into_make_service_with_connect_info::<fort_ec2_api::endpoint_policy::Peer>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    if let Some(dns) = dns {
        dns.shutdown().await;
    }
    if let Some(e) = edge {
        e.shutdown().await;
    }
    for a in running {
        a.shutdown().await;
    }
    served?;
    Ok(())
}

/// Serves the internet's names inside its namespace (at [`internet_dns::nameserver_address`])
/// and, if given, at `loopback` in this namespace.
fn serve_internet_dns(
    dns: &mut internet_dns::InternetDns,
    internet: &InternetArgs,
    loopback: Option<SocketAddr>,
) -> anyhow::Result<()> {
    if let Some(ip) = internet_dns::nameserver_address(internet.internet_hosts) {
        dns.listen_in_namespace(
            &internet.internet_ns,
            SocketAddr::new(ip.into(), internet_dns::PORT),
        )?;
    }
    if let Some(addr) = loopback {
        dns.listen_loopback(addr)?;
    }
    Ok(())
}

/// The credentials Fort accepts: `--credentials`, else the environment, else the data
/// directory's `credentials` file, made fresh if missing.
fn load_credentials(args: &ServerArgs) -> anyhow::Result<(Credentials, Option<PathBuf>)> {
    if let Some(path) = &args.credentials {
        let c = Credentials::from_file(path)
            .with_context(|| format!("reading credentials from {}", path.display()))?;
        return Ok((c, None));
    }
    if let Some(c) = Credentials::from_env()? {
        return Ok((c, None));
    }
    let path = args.data_dir.join("credentials");
    if path.exists() {
        let c =
            Credentials::from_file(&path).with_context(|| format!("reading {}", path.display()))?;
        return Ok((c, None));
    }
    let c = Credentials::generate()?;
    write_private(&path, &c.to_file_string())?;
    Ok((c, Some(path)))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    eprintln!("fort: shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_spreads_hosts_over_zones_in_turn() {
        let h = up_hosts("us-east-1", 3, 4, Ipv4Addr::new(127, 0, 0, 10));
        let zones: Vec<&str> = h.iter().map(|x| x.1.as_str()).collect();
        assert_eq!(
            zones,
            ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a"]
        );
        assert_eq!(h[0].0, "h1");
        assert_eq!(h[3].2, Ipv4Addr::new(127, 0, 0, 13));
        let two = up_hosts("eu-west-1", 2, 4, Ipv4Addr::new(127, 0, 1, 10));
        assert_eq!(two[2].1, "eu-west-1a");
        assert_eq!(two[1].2, Ipv4Addr::new(127, 0, 1, 11));
        let tokyo = up_hosts("ap-northeast-1", 2, 2, Ipv4Addr::new(127, 0, 1, 10));
        assert_eq!(tokyo[1].1, "ap-northeast-1c");
    }
}
