//! `fort`: one binary for every part of Fort.
//!
//! * `fort up` runs everything on one machine;
//! * `fort server` runs the control plane (EC2 API) alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use fort_auth::Credentials;
use fort_control::{Config, Control, Quotas};
use fort_store::{EmbeddedStore, Store};

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

#[derive(Args, Clone)]
struct ServerArgs {
    /// Where the EC2 API listens.
    #[arg(long, default_value = "127.0.0.1:8773", env = "FORT_LISTEN")]
    listen: SocketAddr,
    /// Where the mapping service (gRPC, for agents) listens.
    #[arg(long, default_value = "127.0.0.1:8774", env = "FORT_MAPPING_LISTEN")]
    mapping_listen: SocketAddr,
    /// Where the embedded store and generated credentials live.
    #[arg(long, default_value = "./fort-data", env = "FORT_DATA_DIR")]
    data_dir: PathBuf,
    /// The store: `embedded` (in the data directory) or `etcd://HOST:PORT[,…]`.
    #[arg(long, default_value = "embedded")]
    store: String,
    /// An AWS credentials file whose profiles carry aws_access_key_id,
    /// aws_secret_access_key and aws_account_id.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// `off` runs the control plane as an API-faithful emulator: instances run without a host.
    #[arg(long, value_enum)]
    dataplane: Option<OnOff>,
    /// Quotas per account and region.
    #[arg(long, value_enum, default_value = "generous")]
    quotas: QuotaSet,
    /// The pool that elastic and public IPs come from.
    #[arg(long, default_value = "198.51.100.0/24")]
    public_pool: ipnet_arg::Ipv4Net,
    /// Availability zones per region.
    #[arg(long, default_value_t = 3)]
    zones: usize,
    /// Host agents to run (`fort up` as root).
    #[arg(long, default_value_t = 2)]
    hosts: usize,
}

mod ipnet_arg {
    pub type Ipv4Net = ipnet::Ipv4Net;
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FORT_LOG")
                .unwrap_or_else(|_| "info".into()),
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
    }
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

async fn server(args: ServerArgs, up: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let (credentials, generated) = load_credentials(&args)?;

    let dataplane = match args.dataplane {
        Some(OnOff::Off) => false,
        Some(OnOff::On) => true,
        None => false,
    };
    if up && args.dataplane.is_none() {
        if is_root() {
            eprintln!(
                "fort: the data plane (host agents) is not part of this build yet; running the control plane with --dataplane off"
            );
        } else {
            eprintln!(
                "fort: not running as root, so no host agents: running the control plane alone (--dataplane off)"
            );
        }
    }
    if dataplane {
        eprintln!(
            "fort: --dataplane on: instances need a host agent in their zone; none is running, so RunInstances answers InsufficientInstanceCapacity"
        );
    }

    let store: Arc<dyn Store> = match args.store.as_str() {
        "embedded" => Arc::new(EmbeddedStore::open(&args.data_dir.join("store.redb"))?),
        s if s.starts_with("etcd://") => bail!("the etcd store is not part of this build yet"),
        s => bail!("unknown store '{s}': use 'embedded' or etcd://HOST:PORT"),
    };
    let config = Config {
        quotas: match args.quotas {
            QuotaSet::Generous => Quotas::generous(),
            QuotaSet::Aws => Quotas::aws(),
        },
        public_pool: args.public_pool,
        zones_per_region: args.zones.clamp(1, 26),
        dataplane,
        ..Config::default()
    };
    let control = Control::open(store, config)
        .await
        .map_err(|e| anyhow::anyhow!("loading the store: {e}"))?;
    let api = Arc::new(fort_ec2_api::Api {
        control,
        credentials: credentials.clone(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding the EC2 API to {}", args.listen))?;
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
    let grpc = tokio::net::TcpListener::bind(args.mapping_listen)
        .await
        .with_context(|| format!("binding the mapping service to {}", args.mapping_listen))?;
    println!("  mapping:       http://{} (gRPC, for agents)", grpc.local_addr()?);
    let grpc_service = mapping.grpc();
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc);
        if let Err(e) = tonic::transport::Server::builder().add_service(grpc_service).serve_with_incoming(incoming).await {
            tracing::error!(error = %e, "mapping service stopped");
        }
    });
    let app = fort_ec2_api::router(api);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
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
