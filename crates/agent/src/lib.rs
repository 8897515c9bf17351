//! Fort's host agent: what turns a host program into instances that carry packets.
//!
//! * a session with the mapping service ([`fort_sync::client`]) registers the host and
//!   keeps its program current, reporting a generation applied only once the data path
//!   runs with it (and the host unhealthy when the data path does not answer);
//! * the [reconciler](reconcile) gives each ENI placed here a TAP, moved into the
//!   instance's namespace (named exactly the instance id) as `eth0`, MTU 9001, and runs a
//!   DHCP client in it; it removes both when the ENI leaves;
//! * an interface VPC endpoint's interface placed here gets a namespace named by its ENI
//!   id, its address, and a [forwarder](endpoint) to the API in it;
//! * the [data path](datapath) runs the engine between the TAPs and the Geneve underlay
//!   socket (`UNDERLAY:6081`);
//! * [`metrics`] serves `/metrics`.
//!
//! The host's I/O (TAP ioctls, epoll, namespaces) is `fort_host`'s.

pub mod datapath;
pub mod endpoint;
pub mod fastpath;
pub mod flow_log;
pub mod instance;
pub mod metadata;
pub mod metrics;
pub mod names;
pub mod reconcile;
pub use fort_host::underlay;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::Context;
use fort_dataplane::program::Underlay;
use fort_host::sys;
use fort_proto::mapping::{ProgramUpdate, Role};
use fort_sync::client::{self, Gap, Identity, Programmed, Report, Status};
use fort_sync::host_state::HostState;
use fort_sync::journal::{Journal, Journaled};
use tokio::sync::watch;

/// How an agent is run.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub host_id: String,
    /// The availability zone, e.g. `us-east-1a`.
    pub zone: String,
    /// The underlay address: Geneve is bound to `underlay:6081`.
    pub underlay: Ipv4Addr,
    /// The mapping service, e.g. `http://127.0.0.1:8774` (`URL,URL,…` for several
    /// servers).
    pub mapping: String,
    /// How `https://` servers of `mapping` are trusted (and this host authenticated).
    pub mapping_tls: Option<fort_sync::client::ClientTls>,
    pub metrics_listen: Option<SocketAddr>,
    /// Where the agent keeps its scripts and DHCP client state.
    pub run_dir: PathBuf,
    /// Leave instances (namespaces, TAPs) in place on shutdown.
    pub keep: bool,
    /// The largest IPv4 datagram the underlay carries unfragmented; `None`: the MTU of
    /// the interface that holds the underlay address. Loopback's 65,535 lets a whole TSO
    /// burst cross as one Geneve datagram; below [`instance::TSO_UNDERLAY_MTU`],
    /// segmentation offload is off and frames cross one by one. Instances get 9001 when
    /// it carries 9001 + 66 bytes of Geneve, else what fits ([`underlay::mtus`]).
    pub underlay_mtu: Option<u32>,
    /// The internet's DNS, where the VPC resolver forwards names that are not the VPC's
    /// (none: those are NXDOMAIN).
    pub internet_dns: Option<SocketAddr>,
    /// The TLS an endpoint interface ends on port 443 (a certificate for the services'
    /// AWS names); none: endpoints answer plain HTTP on port 80 only.
    pub endpoint_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// A running agent.
pub struct Agent {
    pub host_id: String,
    pub metrics_addr: Option<SocketAddr>,
    session: tokio::task::JoinHandle<()>,
    flow_logs: tokio::task::JoinHandle<()>,
    /// Tells the flow-log task to hand over its windows before the agent stops.
    stop_flow_logs: tokio::sync::oneshot::Sender<()>,
    metadata: Option<metadata::Metadata>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    tx: mpsc::Sender<reconcile::Msg>,
    reconciler: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    /// Binds the underlay and metrics, starts the data path and the mapping session.
    pub async fn start(config: AgentConfig) -> anyhow::Result<Agent> {
        if !sys::is_root() {
            anyhow::bail!(
                "the agent creates TAP devices and network namespaces: it must run as root"
            );
        }
        let servers = client::Servers::new(&config.mapping, config.mapping_tls.clone());
        servers.check().map_err(anyhow::Error::msg)?;
        let (underlay_mtu, instance_mtu) =
            underlay::mtus(config.underlay, config.underlay_mtu).map_err(anyhow::Error::msg)?;
        tracing::info!(
            host = config.host_id,
            underlay_mtu,
            instance_mtu,
            "instances get the MTU the underlay carries whole"
        );
        let flow_log_stats = Arc::new(flow_log::Stats::default());
        let time_sync_stats = Arc::new(metadata::time_sync::Stats::default());
        let shared: metrics::Shared = Arc::new(Mutex::new(metrics::Snapshot {
            host_id: config.host_id.clone(),
            flow_logs: flow_log_stats.clone(),
            time_sync: time_sync_stats.clone(),
            ..Default::default()
        }));
        let fast = fastpath::start(config.underlay);
        let (drained_tx, drained_rx) = tokio::sync::mpsc::channel(64);
        let flow_tap = flow_log::Tap {
            watched: Arc::default(),
            tx: drained_tx,
        };
        let (watched_tx, watched_rx) = watch::channel(Vec::new());
        let (stop_flow_logs, stop_flow_logs_rx) = tokio::sync::oneshot::channel();
        let flow_logs = tokio::spawn(flow_log::run(
            servers.clone(),
            config.host_id.clone(),
            watched_rx,
            drained_rx,
            flow_tap.watched.clone(),
            flow_log_stats,
            flow_log::Stop {
                signal: stop_flow_logs_rx,
                spool: config.run_dir.join("flow-logs.spool"),
            },
        ));
        // the link-local services (instance metadata, the VPC resolver, time sync): a
        // namespace of the agent's own (without it, 169.254.169.254 and 169.254.169.123 do
        // not answer and the engine answers DNS itself; the agent says why)
        let metadata =
            match metadata::Metadata::start(config.underlay, config.internet_dns, time_sync_stats)
                .await
            {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "instance metadata unavailable");
                    None
                }
            };
        let metadata_io = metadata.as_ref().map(|m| datapath::MetadataIo {
            tap: m.tap.clone(),
            directory: m.directory.clone(),
        });
        let dp = datapath::start(
            config.underlay,
            instance_mtu,
            &config.host_id,
            shared.clone(),
            fast.clone(),
            Some(flow_tap),
            metadata_io,
        )
        .with_context(|| {
            format!(
                "binding the underlay {}:{}",
                config.underlay,
                datapath::GENEVE_PORT
            )
        })?;
        let (metrics_addr, metrics_task) = match config.metrics_listen {
            Some(addr) => {
                let (a, t) = metrics::serve(addr, shared)
                    .await
                    .with_context(|| format!("binding metrics to {addr}"))?;
                (Some(a), Some(t))
            }
            None => (None, None),
        };
        let script = instance::write_dhcp_script(&config.run_dir)
            .with_context(|| format!("writing the DHCP script in {}", config.run_dir.display()))?;
        let dhcp = instance::find_dhcp_client();
        if dhcp.is_none() {
            tracing::info!(
                "no DHCP client installed (busybox udhcpc or dhclient): instances get their address set directly"
            );
        }
        let rec = reconcile::Reconciler {
            dp,
            fast: fast.map(|(fp, _)| fp),
            next_fast_port: 0,
            attached: Default::default(),
            dhcp,
            script,
            run_dir: config.run_dir.clone(),
            keep: config.keep,
            tso: underlay_mtu >= instance::TSO_UNDERLAY_MTU,
            instance_mtu,
            host_id: config.host_id.clone(),
            adopted: reconcile::load_adopted(&config.run_dir),
            runtime: tokio::runtime::Handle::current(),
            served: Default::default(),
            forwarders: Default::default(),
            endpoint_tls: config.endpoint_tls.clone(),
        };
        let (tx, rx) = mpsc::channel();
        let (status, report) = watch::channel(Status::default());
        let me = Identity {
            host_id: config.host_id.clone(),
            zone: config.zone.clone(),
            underlay: config.underlay,
            role: Role::Instance,
        };
        let underlay = Underlay {
            address: config.underlay,
            ..Underlay::default()
        };
        // the local copy of the program: with it, a restart while no mapping service
        // answers brings the instances' forwarding, metadata and flow logs back as they were
        let (journal, copy) = Journal::open(&config.run_dir.join("program.journal"));
        let state = Journaled::restore(
            Session {
                state: HostState::default(),
                underlay,
                to: tx.clone(),
                flow_logs: watched_tx,
                metadata: metadata.as_ref().map(|m| m.directory.clone()),
            },
            journal,
            copy,
        );
        // started after the copy is replayed, so that its first pass sees the whole
        // program: a partial one would remove the instances an earlier run left in place
        let reconciler = std::thread::Builder::new()
            .name(format!("fort-rec-{}", config.host_id))
            .spawn(move || rec.run(rx, status))?;
        let session = tokio::spawn(client::run_with(servers, me, state, Report::Engine(report)));
        tracing::info!(host = config.host_id, zone = config.zone, underlay = %config.underlay, mapping = config.mapping, "agent started");
        Ok(Agent {
            host_id: config.host_id,
            metrics_addr,
            session,
            flow_logs,
            stop_flow_logs,
            metadata,
            metrics_task,
            tx,
            reconciler: Some(reconciler),
        })
    }

    /// Stops the session and the data path and removes what the agent created (unless
    /// `keep`).
    pub async fn shutdown(mut self) {
        self.session.abort();
        // windows in progress are delivered or spooled (bounded by the task's own timeout)
        let _ = self.stop_flow_logs.send(());
        if tokio::time::timeout(Duration::from_secs(5), &mut self.flow_logs)
            .await
            .is_err()
        {
            self.flow_logs.abort();
        }
        if let Some(t) = self.metrics_task.take() {
            t.abort();
        }
        let _ = self.tx.send(reconcile::Msg::Stop);
        if let Some(r) = self.reconciler.take() {
            let _ = tokio::task::spawn_blocking(move || r.join()).await;
        }
        if let Some(m) = self.metadata.take() {
            m.stop().await;
        }
    }
}

/// The agent's side of the mapping session: keeps the program's structure, and passes
/// each update on to the reconciler (V2P changes go on to the engine, not kept here).
struct Session {
    state: HostState,
    underlay: Underlay,
    to: mpsc::Sender<reconcile::Msg>,
    /// The interfaces flow logs watch, for the flow-log task.
    flow_logs: watch::Sender<Vec<flow_log::Watched>>,
    /// What the metadata service answers, per ENI.
    metadata: Option<Arc<std::sync::RwLock<metadata::Directory>>>,
}

impl Programmed for Session {
    fn position(&self) -> (u64, u64) {
        (self.state.epoch, self.state.generation)
    }

    fn apply(&mut self, update: ProgramUpdate) -> Result<bool, Gap> {
        let Some(applied) = self.state.apply(update)? else {
            return Ok(false);
        };
        for m in &applied.malformed {
            tracing::error!(error = %m, "item skipped");
        }
        if applied.flow_logs || applied.structure {
            let watched = flow_log::watched(&self.state);
            self.flow_logs.send_if_modified(|w| {
                let changed = *w != watched;
                *w = watched;
                changed
            });
        }
        if (applied.instances || applied.structure || applied.edge || applied.dns)
            && let Some(d) = &self.metadata
        {
            let views = metadata::tree::views(&self.state);
            let vpcs = metadata::vpc_views(&self.state);
            if let Ok(mut d) = d.write() {
                d.set_views(views);
                d.set_vpcs(vpcs);
            }
        }
        let (structure, members) =
            fort_sync::host_state::engine_changes(&self.state, &applied, &self.underlay);
        let endpoints = structure.is_some().then(|| endpoint::served(&self.state));
        let update = reconcile::Msg::Update {
            epoch: self.state.epoch,
            generation: self.state.generation,
            endpoints,
            structure: structure.map(Box::new),
            members,
            snapshot: applied.snapshot,
            v2p: applied.v2p,
        };
        if self.to.send(update).is_err() {
            // The reconciler is gone (the agent is stopping): nothing will apply this,
            // so it is never reported applied.
            tracing::warn!("update dropped: the reconciler has stopped");
        }
        Ok(true)
    }

    fn reset(&mut self) {
        self.state.reset();
    }
}
