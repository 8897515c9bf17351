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
//! * runs the VPN connections' sites ([`vpn`]: a namespace per connection where
//!   strongSwan's charon terminates its tunnels) and reports their tunnels' state;
//! * serves `/metrics` (Prometheus text): the edge's counters and drops by reason.
//!
//! [`EdgeProcess::shutdown`] stops all that and removes the namespace. No `unsafe` here:
//! the TAP and epoll are `fort_agent::sys`'s.

pub mod bgp;
pub mod datapath;
pub mod internet;
pub mod metrics;
pub mod offload;
pub mod onprem;
pub mod vici;
pub mod vpn;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use std::collections::HashMap;

use anyhow::Context;
use fort_dataplane::wire::MacAddr;
use fort_proto::mapping::{ProgramUpdate, Role};
use fort_sync::client::{self, Gap, Identity, Programmed, Report, Status};
use fort_sync::host_state::{HostState, V2pChange};
use tokio::sync::watch;

pub use internet::InternetConfig;

/// How an edge is run.
#[derive(Clone, Debug)]
pub struct EdgeHostConfig {
    pub host_id: String,
    /// The zone it registers in (edges serve every zone).
    pub zone: String,
    /// Geneve is bound to `underlay:6081`.
    pub underlay: Ipv4Addr,
    /// The mapping service, e.g. `http://127.0.0.1:8774` (`URL,URL,…` for several
    /// servers).
    pub mapping: String,
    /// How `https://` servers of `mapping` are trusted (and this host authenticated).
    pub mapping_tls: Option<fort_sync::client::ClientTls>,
    /// The underlay's MTU; `None`: that of the interface holding `underlay`. The
    /// internet link gets 1500, or what one Geneve datagram carries whole when less
    /// (1434 on a 1500 underlay), so the internet's hosts never send more.
    pub underlay_mtu: Option<u32>,
    pub metrics_listen: Option<SocketAddr>,
    pub internet: InternetConfig,
    /// A company network beside the internet, for trying VPN connections.
    pub onprem: Option<onprem::OnpremConfig>,
    /// The certificate S3's addresses end TLS with on port 443 (the one interface
    /// endpoints serve, valid for S3's names); `None`: port 80 alone.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// A running edge.
pub struct EdgeProcess {
    pub host_id: String,
    pub metrics_addr: Option<SocketAddr>,
    pub namespace: String,
    onprem: Option<String>,
    session: tokio::task::JoinHandle<()>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    dp: Option<datapath::Handle>,
    vpn: Option<(
        std::sync::mpsc::Sender<vpn::Order>,
        std::thread::JoinHandle<()>,
    )>,
}

impl EdgeProcess {
    /// Creates the internet namespace, binds the underlay and metrics, starts the data
    /// path and the mapping session.
    pub async fn start(config: EdgeHostConfig) -> anyhow::Result<EdgeProcess> {
        if !fort_host::sys::is_root() {
            anyhow::bail!("the edge creates a network namespace and a TAP: it must run as root");
        }
        let servers = client::Servers::new(&config.mapping, config.mapping_tls.clone());
        servers.check().map_err(anyhow::Error::msg)?;
        let (underlay_mtu, carried) =
            fort_host::underlay::mtus(config.underlay, config.underlay_mtu)
                .map_err(anyhow::Error::msg)?;
        let internet_mtu = carried.min(internet::MTU);
        tracing::info!(
            underlay_mtu,
            internet_mtu,
            "the internet link's MTU fits the underlay"
        );
        let ns = config.internet.namespace.clone();
        let tap = internet::create(&config.internet, internet_mtu)
            .with_context(|| format!("creating the internet namespace {ns}"))?;
        if let Some(o) = &config.onprem
            && let Err(e) = onprem::create(o, &ns)
        {
            internet::remove(&ns);
            return Err(e.context(format!("creating the company network {}", o.namespace)));
        }
        let onprem_ns = config.onprem.as_ref().map(|o| o.namespace.clone());
        let shared: datapath::Shared = Arc::new(Mutex::new(datapath::Snapshot {
            host_id: config.host_id.clone(),
            ..Default::default()
        }));
        let (status, report) = watch::channel(Status::default());
        let endpoint_flows = datapath::EndpointFlows::default();
        let dp = match datapath::start(
            config.underlay,
            tap,
            &config.host_id,
            shared.clone(),
            status,
            endpoint_flows.clone(),
        ) {
            Ok(dp) => dp,
            Err(e) => {
                if let Some(o) = &onprem_ns {
                    onprem::remove(o);
                }
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
                    if let Some(o) = &onprem_ns {
                        onprem::remove(o);
                    }
                    internet::remove(&ns);
                    return Err(anyhow::Error::new(e).context(format!("binding metrics to {addr}")));
                }
            },
            None => (None, None),
        };
        // The VPN sites' thread: sites from the program, their TAPs to the data path,
        // their tunnels' state to the mapping service.
        let (vpn_tx, vpn_rx) = std::sync::mpsc::channel();
        let vpn_thread = {
            let send = dp.sender();
            let internet_ns = ns.clone();
            let endpoint = servers.clone();
            let host_id = config.host_id.clone();
            let rt = tokio::runtime::Handle::current();
            std::thread::Builder::new()
                .name("fort-edge-vpn".into())
                .spawn(move || {
                    vpn::run(vpn_rx, internet_ns, send, |tunnels| {
                        report_tunnels(&rt, &endpoint, &host_id, tunnels)
                    })
                })?
        };
        let me = Identity {
            host_id: config.host_id.clone(),
            zone: config.zone.clone(),
            underlay: config.underlay,
            role: Role::Edge,
        };
        let session = tokio::spawn(client::run_with(
            servers,
            me,
            EdgeSession {
                state: HostState::default(),
                mappings: HashMap::new(),
                send: Box::new(dp.sender()),
                namespace: ns.clone(),
                services: None,
                tls: config.tls.clone(),
                endpoint_flows,
                vpn: vpn_tx.clone(),
                vpn_connections: Vec::new(),
            },
            Report::Engine(report),
        ));
        tracing::info!(host = config.host_id, underlay = %config.underlay, namespace = ns, "edge started");
        Ok(EdgeProcess {
            host_id: config.host_id,
            metrics_addr,
            namespace: ns,
            onprem: onprem_ns,
            session,
            metrics_task,
            dp: Some(dp),
            vpn: Some((vpn_tx, vpn_thread)),
        })
    }

    /// Stops the session and the data path and removes the internet namespace.
    pub async fn shutdown(mut self) {
        self.session.abort();
        if let Some(t) = self.metrics_task.take() {
            t.abort();
        }
        if let Some((tx, thread)) = self.vpn.take() {
            let _ = tx.send(vpn::Order::Stop);
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        if let Some(dp) = self.dp.take() {
            let _ = tokio::task::spawn_blocking(move || drop(dp)).await;
        }
        let ns = self.namespace.clone();
        let onprem = self.onprem.take();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(o) = onprem {
                onprem::remove(&o);
            }
            internet::remove(&ns)
        })
        .await;
    }
}

/// The edge's side of the mapping session: its gateways and the V2P of the VPCs it
/// serves, handed whole to the data path after each update.
struct EdgeSession {
    state: HostState,
    /// (VPC, private address) → (host, MAC).
    mappings: HashMap<(String, std::net::Ipv4Addr), (std::net::Ipv4Addr, MacAddr)>,
    send: Box<dyn Fn(datapath::Command) + Send>,
    /// The internet namespace, where the services' addresses are.
    namespace: String,
    /// The forwarder answering at S3's addresses (for gateway endpoints, and the
    /// internet), once the program says where the API is.
    services: Option<fort_host::forward::Forwarder>,
    /// What port 443 there ends TLS with.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The gateway endpoints' flows, as the data path saw them open.
    endpoint_flows: datapath::EndpointFlows,
    /// The VPN sites' thread, and the connections it was last told of.
    vpn: std::sync::mpsc::Sender<vpn::Order>,
    vpn_connections: Vec<fort_edge::program::VpnConnectionItem>,
}

/// Sends the tunnels' state to the mapping service; whether it got there.
fn report_tunnels(
    rt: &tokio::runtime::Handle,
    endpoint: &fort_sync::client::Servers,
    host_id: &str,
    tunnels: Vec<(String, vpn::TunnelStatus)>,
) -> bool {
    use fort_proto::mapping::{Ipv4Cidr, VpnTunnelReport, VpnTunnelStatus};
    let report = VpnTunnelReport {
        host_id: host_id.to_owned(),
        tunnels: tunnels
            .into_iter()
            .map(|(id, t)| VpnTunnelStatus {
                vpn_connection_id: id,
                outside_ip: t.outside_ip.into(),
                up: t.up,
                message: t.message,
                bgp_established: t.bgp_established,
                learned_routes: t
                    .learned
                    .iter()
                    .map(|n| Ipv4Cidr {
                        address: n.network().into(),
                        prefix_len: n.prefix_len().into(),
                    })
                    .collect(),
            })
            .collect(),
    };
    let sent = rt.block_on(async move {
        let mut client = endpoint.connect_any().await?;
        client.report_vpn_tunnels(report).await?;
        Ok::<(), anyhow::Error>(())
    });
    if let Err(e) = &sent {
        tracing::debug!(error = %e, "tunnel report not sent");
    }
    sent.is_ok()
}

impl EdgeSession {
    /// Listens at S3's addresses in the internet namespace, spliced to the API (again
    /// when its address changes).
    fn serve_services(&mut self) {
        let api = self.state.service_address("api");
        if self.services.as_ref().map(|f| f.target) == api {
            return;
        }
        self.services = None;
        let Some(api) = api else { return };
        let mut listen = Vec::new();
        for ip in fort_model::service_addresses("s3") {
            listen.push(fort_host::forward::Listen::plain(SocketAddr::from((
                ip, 80,
            ))));
            if let Some(tls) = &self.tls {
                listen.push(fort_host::forward::Listen {
                    addr: SocketAddr::from((ip, 443)),
                    tls: Some(tls.clone()),
                });
            }
        }
        let flows = self.endpoint_flows.clone();
        let preamble: fort_host::forward::Preamble =
            Arc::new(move |peer, local, tls| endpoint_preamble(&flows, peer, local, tls));
        match fort_host::forward::Forwarder::start(
            &self.namespace,
            &listen,
            api,
            preamble,
            &tokio::runtime::Handle::current(),
        ) {
            Ok(f) => {
                tracing::info!(namespace = self.namespace, %api, "S3's addresses answer in the internet namespace");
                self.services = Some(f);
            }
            Err(e) => {
                tracing::error!(namespace = self.namespace, error = %e, "S3's addresses do not answer")
            }
        }
    }
}

/// What S3's forwarder writes before a connection from `peer` to `local`: from the
/// gateway endpoints' source, a PROXY header naming the endpoint, its VPC and the client
/// (the API enforces the endpoint's policy by it), or a refusal if the data path saw no
/// such flow; from anywhere else (the internet, through an internet gateway), nothing.
fn endpoint_preamble(
    flows: &datapath::EndpointFlows,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
) -> Option<Vec<u8>> {
    let (SocketAddr::V4(peer), SocketAddr::V4(local)) = (peer, local) else {
        return Some(Vec::new());
    };
    if *peer.ip() != fort_edge::ENDPOINT_SOURCE {
        return Some(Vec::new());
    }
    let Some(flow) = flows.take(local, peer.port()) else {
        tracing::warn!(%peer, %local, "a gateway endpoint's connection with no flow: refused");
        return None;
    };
    Some(fort_proto::proxy::encode(&fort_proto::proxy::Origin {
        addresses: Some((flow.client, local)),
        vpc_endpoint_id: Some(flow.vpc_endpoint_id),
        vpc_id: Some(flow.vpc_id),
        tls,
    }))
}

impl Programmed for EdgeSession {
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
        if applied.snapshot {
            self.mappings.clear();
        }
        for change in applied.v2p {
            match change {
                V2pChange::Put { vpc_id, mapping } => {
                    self.mappings
                        .insert((vpc_id, mapping.ip), (mapping.host, mapping.mac));
                }
                V2pChange::Delete { vpc_id, ip } => {
                    self.mappings.remove(&(vpc_id, ip));
                }
            }
        }
        let mut v2p = datapath::V2p::default();
        let vnis: HashMap<&str, u32> = self
            .state
            .vpc_headers()
            .map(|v| (v.id.as_str(), v.vni))
            .collect();
        for v in self.state.vpc_headers() {
            v2p.routers.insert(v.vni, v.router_mac);
        }
        for ((vpc, ip), at) in &self.mappings {
            if let Some(&vni) = vnis.get(vpc.as_str()) {
                v2p.hosts.insert((vni, *ip), *at);
            }
        }
        for (v, m) in self.state.mappings_v6() {
            v2p.hosts6.insert((v.vni, m.ip), (m.host, m.mac));
        }
        self.serve_services();
        let program = self.state.edge_program();
        if program.vpn_connections != self.vpn_connections {
            self.vpn_connections = program.vpn_connections.clone();
            let _ = self
                .vpn
                .send(vpn::Order::Connections(self.vpn_connections.clone()));
        }
        let position = (self.state.epoch, self.state.generation);
        (self.send)(datapath::Command::Program(
            Box::new((program, v2p)),
            position,
        ));
        Ok(true)
    }

    fn reset(&mut self) {
        self.state.reset();
        self.mappings.clear();
    }
}
