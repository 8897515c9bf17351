//! Fort's edge process: the pure [`fort_edge`] library between the Geneve underlay and
//! the simulated internet.
//!
//! [`EdgeProcess::start`]:
//!
//! * creates the internet namespace ([`internet`]: `fort-internet` by default, test hosts
//!   in 203.0.113.0/24 on its `lo`, the elastic IP pool routed to the edge's TAP);
//! * binds Geneve on `UNDERLAY:6081` and runs the [data path](datapath) thread;
//! * holds a mapping session as role `edge`: the items of every VPC with an internet or
//!   NAT gateway (`igw/`, `pub/`, `nat/` → [`fort_edge::EdgeProgram`]; `vpc/` and `map/`
//!   → V2P: the host and ENI MAC of each private address, the router MAC);
//! * serves `/metrics` (Prometheus text): the edge's counters and drops by reason.
//!
//! [`EdgeProcess::shutdown`] stops all that and removes the namespace. No `unsafe` here:
//! the TAP and epoll are `fort_agent::sys`'s.

pub mod datapath;
pub mod internet;
pub mod metrics;
pub mod offload;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use fort_dataplane::program::Underlay;
use fort_edge::{EdgeItem, EdgeProgram};
use fort_mapping::client::{self, Identity};
use fort_mapping::derive::Items;

pub use internet::InternetConfig;

/// How an edge is run.
#[derive(Clone, Debug)]
pub struct EdgeHostConfig {
    pub host_id: String,
    /// The zone it registers in (edges serve every zone).
    pub zone: String,
    /// Geneve is bound to `underlay:6081`.
    pub underlay: Ipv4Addr,
    /// The mapping service, e.g. `http://127.0.0.1:8774`.
    pub mapping: String,
    pub metrics_listen: Option<SocketAddr>,
    pub internet: InternetConfig,
}

/// A running edge.
pub struct EdgeProcess {
    pub host_id: String,
    pub metrics_addr: Option<SocketAddr>,
    pub namespace: String,
    session: tokio::task::JoinHandle<()>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    dp: Option<datapath::Handle>,
}

impl EdgeProcess {
    /// Creates the internet namespace, binds the underlay and metrics, starts the data
    /// path and the mapping session.
    pub async fn start(config: EdgeHostConfig) -> anyhow::Result<EdgeProcess> {
        if !fort_agent::sys::is_root() {
            anyhow::bail!("the edge creates a network namespace and a TAP: it must run as root");
        }
        let ns = config.internet.namespace.clone();
        let tap = internet::create(&config.internet)
            .with_context(|| format!("creating the internet namespace {ns}"))?;
        let shared: datapath::Shared = Arc::new(Mutex::new(datapath::Snapshot {
            host_id: config.host_id.clone(),
            ..Default::default()
        }));
        let dp = match datapath::start(config.underlay, tap, &config.host_id, shared.clone()) {
            Ok(dp) => dp,
            Err(e) => {
                internet::remove(&ns);
                return Err(anyhow::Error::new(e).context(format!(
                    "binding the underlay {}:{}",
                    config.underlay,
                    datapath::GENEVE_PORT
                )));
            }
        };
        let (metrics_addr, metrics_task) = match config.metrics_listen {
            Some(addr) => match metrics::serve(addr, shared).await {
                Ok((a, t)) => (Some(a), Some(t)),
                Err(e) => {
                    drop(dp);
                    internet::remove(&ns);
                    return Err(anyhow::Error::new(e).context(format!("binding metrics to {addr}")));
                }
            },
            None => (None, None),
        };
        let me = Identity {
            host_id: config.host_id.clone(),
            zone: config.zone.clone(),
            underlay: config.underlay,
            role: "edge".into(),
        };
        let tx = dp.sender();
        let host = config.host_id.clone();
        let session =
            tokio::spawn(client::run(
                config.mapping.clone(),
                me,
                move |cache, _| match program_of(&cache.items) {
                    Ok(p) => tx(datapath::Command::Program(Box::new(p))),
                    Err(e) => tracing::error!(host, error = %e, "cannot read the edge's items"),
                },
            ));
        tracing::info!(host = config.host_id, underlay = %config.underlay, namespace = ns, "edge started");
        Ok(EdgeProcess {
            host_id: config.host_id,
            metrics_addr,
            namespace: ns,
            session,
            metrics_task,
            dp: Some(dp),
        })
    }

    /// Stops the session and the data path and removes the internet namespace.
    pub async fn shutdown(mut self) {
        self.session.abort();
        if let Some(t) = self.metrics_task.take() {
            t.abort();
        }
        if let Some(dp) = self.dp.take() {
            let _ = tokio::task::spawn_blocking(move || drop(dp)).await;
        }
        let ns = self.namespace.clone();
        let _ = tokio::task::spawn_blocking(move || internet::remove(&ns)).await;
    }
}

/// The edge program and V2P of an edge host's items.
pub fn program_of(items: &Items) -> anyhow::Result<(EdgeProgram, datapath::V2p)> {
    let mut edge_items = Vec::new();
    for (key, value) in items {
        let item = match key.split('/').next() {
            Some("igw") => EdgeItem::InternetGateway(serde_json::from_slice(value)?),
            Some("pub") => EdgeItem::PublicIp(serde_json::from_slice(value)?),
            Some("nat") => EdgeItem::NatGateway(serde_json::from_slice(value)?),
            _ => continue,
        };
        edge_items.push(item);
    }
    let hp = fort_mapping::derive::assemble(Underlay::default(), items)?;
    let mut v2p = datapath::V2p::default();
    for vpc in &hp.vpcs {
        v2p.routers.insert(vpc.vni, vpc.router_mac);
        for m in &vpc.mappings {
            v2p.hosts.insert((vpc.vni, m.ip), (m.host, m.mac));
        }
    }
    Ok((EdgeProgram::from_items(edge_items), v2p))
}
