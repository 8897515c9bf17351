//! The gRPC service agents connect to: a session per agent (hello, program, updates,
//! applied reports, heartbeats) and lookups.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fort_control::Control;
use fort_control::region::Host;
use fort_model::{ApiError, HostRole};
use fort_proto::CONTRACT_VERSION;
use fort_proto::mapping::host_message::Msg;
use fort_proto::mapping::{
    FlowLogAck, FlowLogReport, HostMessage, Item, LookupRequest, LookupResponse, ProgramUpdate,
    Role, VpnTunnelAck, VpnTunnelReport,
};
use fort_proto::server::mapping_server::{Mapping, MappingServer};
use fort_proto::wire::EncodedUpdate;
use futures::Stream;
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status, Streaming};

use crate::programs::{Programs, Update};

/// A host silent this long no longer holds changes back (and shows as unavailable).
pub const HOST_TIMEOUT: Duration = Duration::from_secs(10);
/// Updates queued for one agent before it is cut off (it reconnects and resumes).
const QUEUE: usize = 4096;

struct Shared {
    programs: Programs,
    /// host → (session number, where its updates go).
    sessions: HashMap<String, (u64, mpsc::Sender<Result<EncodedUpdate, Status>>)>,
    next_session: u64,
}

/// Where the flow-log windows hosts report go: the server's delivery to CloudWatch Logs
/// and S3. Answers how many of the report's windows are done with (delivered, or
/// undeliverable for good); the host sends the others again.
pub trait FlowLogSink: Send + Sync {
    fn deliver(
        &self,
        report: FlowLogReport,
    ) -> Pin<Box<dyn std::future::Future<Output = u32> + Send + '_>>;
    /// Appends the delivery's Prometheus metrics.
    fn metrics(&self, out: &mut String);
}

/// The mapping service of one control-plane server.
pub struct MappingService {
    control: Arc<Control>,
    shared: Mutex<Shared>,
    applied: watch::Sender<u64>,
    flow_logs: std::sync::OnceLock<Arc<dyn FlowLogSink>>,
}

impl MappingService {
    /// Tells hosts where the API is reached from them (for VPC endpoints): call before
    /// any host connects.
    pub fn set_api_address(&self, addr: std::net::SocketAddrV4) {
        self.shared
            .lock()
            .expect("mapping lock")
            .programs
            .set_api_address(addr);
    }

    /// Derives every host's program from the control plane and follows its changes.
    pub async fn start(control: Arc<Control>) -> Arc<Self> {
        let mut changes = control.subscribe();
        // A restarted server is a new epoch; servers sharing a store share theirs, and
        // number generations by store revision (see `Programs::revisioned`).
        let epoch = control.cluster_epoch().unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| u64::try_from(d.as_micros()).ok())
                .unwrap_or(1)
        });
        let clustered = control.clustered();
        let programs = control
            .read_world(|w| {
                let mut p = Programs::new(w, epoch);
                if clustered {
                    p.revisioned = Some(u64::try_from(w.revision).unwrap_or(0));
                }
                p
            })
            .await;
        let (applied, _) = watch::channel(control.last_change());
        let service = Arc::new(Self {
            control,
            shared: Mutex::new(Shared {
                programs,
                sessions: HashMap::new(),
                next_session: 0,
            }),
            applied,
            flow_logs: std::sync::OnceLock::new(),
        });
        let s = service.clone();
        tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                let now = Instant::now();
                let updates = {
                    let world = s.control.world().await;
                    let mut shared = s.shared.lock().expect("mapping lock");
                    let updates = shared
                        .programs
                        .change(&world, change.seq, &change.keys, now);
                    for (host, update) in &updates {
                        shared.send(host, update);
                    }
                    let through = shared.programs.applied_through;
                    drop(shared);
                    drop(world);
                    s.applied.send_replace(through);
                    updates.len()
                };
                tracing::trace!(seq = change.seq, hosts = updates, "change derived");
            }
        });
        // Hosts' reports that reach this server as leader (from followers, through the
        // store) are recorded here.
        let mut reports = service.control.take_reports();
        let s = Arc::downgrade(&service);
        tokio::spawn(async move {
            while let Some(body) = reports.recv().await {
                let Some(s) = s.upgrade() else { break };
                match serde_json::from_slice::<HostReport>(&body) {
                    Ok(report) => s.record(report).await,
                    Err(e) => tracing::warn!(error = %e, "unreadable host report, ignored"),
                }
            }
        });
        let s = Arc::downgrade(&service);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            // Hosts whose server is gone, since when (the leader judges them).
            let mut orphans = HashMap::<String, Instant>::new();
            loop {
                tick.tick().await;
                let Some(s) = s.upgrade() else { break };
                s.judge_orphans(&mut orphans).await;
                let (silent, through) = {
                    let mut shared = s.shared.lock().expect("mapping lock");
                    let silent = shared.programs.expire(Instant::now(), HOST_TIMEOUT);
                    (silent, shared.programs.applied_through)
                };
                for host in &silent {
                    tracing::warn!(host, "host silent: marked unavailable");
                }
                if !silent.is_empty() {
                    s.set_available(&silent, false).await;
                }
                s.applied.send_replace(through);
            }
        });
        service
    }

    /// Sets where flow-log reports go (once; without it they are refused, and hosts keep
    /// them until it is set).
    pub fn set_flow_log_sink(&self, sink: Arc<dyn FlowLogSink>) {
        let _ = self.flow_logs.set(sink);
    }

    /// The tonic service to mount on a server.
    pub fn grpc(self: &Arc<Self>) -> MappingServer<Grpc> {
        MappingServer::new(Grpc(self.clone()))
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    /// Waits until every host affected by change `seq` (and all before it) has applied
    /// it; false on timeout.
    pub async fn wait_applied(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|through| *through >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The highest change every affected host has applied.
    pub fn applied_through(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Reads the service's state (for metrics and the simulator).
    pub fn inspect<R>(&self, f: impl FnOnce(&Programs) -> R) -> R {
        f(&self.shared.lock().expect("mapping lock").programs)
    }

    /// This server's member id (empty on a store of its own).
    fn me(&self) -> String {
        self.control
            .member()
            .map(|m| m.id.clone())
            .unwrap_or_default()
    }

    /// Records a host's report: here if this server leads, else through the leader.
    async fn report(&self, report: HostReport) -> Result<(), ApiError> {
        if self.control.leads() {
            return self.apply(report).await;
        }
        let body = serde_json::to_vec(&report).map_err(ApiError::internal)?;
        self.control.report(body).await
    }

    /// Records a report that reached the leader.
    async fn record(&self, report: HostReport) {
        if let Err(e) = self.apply(report).await {
            tracing::warn!(error = %e, "host report not recorded");
        }
    }

    async fn apply(&self, report: HostReport) -> Result<(), ApiError> {
        match report {
            HostReport::Register {
                host_id,
                zone,
                underlay,
                role,
                server,
            } => {
                self.register_here(&host_id, &zone, underlay, role, &server)
                    .await
            }
            HostReport::Available {
                hosts,
                available,
                server,
            } => {
                self.set_available_here(&hosts, available, &server).await;
                Ok(())
            }
            HostReport::VpnTunnels { tunnels } => {
                self.record_vpn_tunnels_here(tunnels).await;
                Ok(())
            }
        }
    }

    /// Records hosts as (un)available for placement and instance status.
    async fn set_available(&self, hosts: &[String], available: bool) {
        let report = HostReport::Available {
            hosts: hosts.to_vec(),
            available,
            server: self.me(),
        };
        if let Err(e) = self.report(report).await {
            tracing::error!(error = %e, available, "recording host availability");
        }
    }

    /// On the leader: a host whose server is gone (its key expired) and that no other
    /// server took over within [`HOST_TIMEOUT`] is marked unavailable (it died with its
    /// server, or cannot reach another).
    async fn judge_orphans(&self, orphans: &mut HashMap<String, Instant>) {
        let Some(live) = self.control.live_servers() else {
            return;
        };
        if !self.control.leads() {
            orphans.clear();
            return;
        }
        let now = Instant::now();
        let hosts: Vec<(String, String)> = self
            .control
            .read_world(|w| {
                w.global
                    .hosts
                    .values()
                    .filter(|h| h.available && !h.server.is_empty() && !live.contains(&h.server))
                    .map(|h| (h.id.clone(), h.server.clone()))
                    .collect()
            })
            .await;
        orphans.retain(|id, _| hosts.iter().any(|(h, _)| h == id));
        for (host, server) in hosts {
            let since = *orphans.entry(host.clone()).or_insert(now);
            if now.duration_since(since) > HOST_TIMEOUT {
                tracing::warn!(
                    host,
                    server,
                    "the host's server is gone and no other holds it: marked unavailable"
                );
                self.set_available_here(std::slice::from_ref(&host), false, &server)
                    .await;
                orphans.remove(&host);
            }
        }
    }

    /// Only the server holding a host's session says whether it is available: a server
    /// that lost the host (to another server) must not mark it silent.
    async fn set_available_here(&self, hosts: &[String], available: bool, server: &str) {
        let result = self
            .control
            .write_global(|g| {
                for host in hosts {
                    if let Some(h) = g.hosts.get_mut(host)
                        && h.available != available
                        && h.server == server
                    {
                        h.available = available;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, available, "recording host availability");
        }
    }

    /// Records the host in the control plane (placement reads it there).
    async fn register(
        &self,
        host_id: &str,
        zone: &str,
        underlay: Ipv4Addr,
        role: HostRole,
    ) -> Result<(), ApiError> {
        // A zone is its region's name and a letter: `us-east-1a`.
        let zone_ok = zone.len() > 1
            && zone.ends_with(|c: char| c.is_ascii_lowercase())
            && zone[..zone.len() - 1].ends_with(|c: char| c.is_ascii_digit());
        if !zone_ok {
            return Err(ApiError::invalid_value(format!("unknown zone {zone}")));
        }
        self.report(HostReport::Register {
            host_id: host_id.to_owned(),
            zone: zone.to_owned(),
            underlay,
            role,
            server: self.me(),
        })
        .await
    }

    /// [`MappingService::register`] on the leader.
    async fn register_here(
        &self,
        host_id: &str,
        zone: &str,
        underlay: Ipv4Addr,
        role: HostRole,
        server: &str,
    ) -> Result<(), ApiError> {
        self.control
            .write_global(|g| {
                let instances = g.hosts.get(host_id).map_or(0, |h| h.instances);
                let host = Host {
                    id: host_id.into(),
                    zone: zone.into(),
                    underlay,
                    role,
                    instances,
                    available: true,
                    server: server.to_owned(),
                };
                if g.hosts.get(host_id) != Some(&host) {
                    g.hosts.insert(host);
                }
                Ok(())
            })
            .await?;
        // endpoint interfaces made while their zone had no host get this one
        if role == HostRole::Instance {
            let scopes: Vec<fort_control::Scope> = self
                .control
                .read_world(|w| {
                    w.regions
                        .iter()
                        .filter(|(_, r)| {
                            r.vpc_endpoints.values().any(|e| {
                                e.is_live() && e.interfaces.iter().any(|i| i.host_id.is_none())
                            })
                        })
                        .map(|((account, region), _)| fort_control::Scope {
                            account: account.clone(),
                            region: region.clone(),
                        })
                        .collect()
                })
                .await;
            for scope in scopes {
                match self
                    .control
                    .write(&scope, |tx| Ok(tx.place_endpoint_interfaces()))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(host_id, placed = n, "endpoint interfaces placed"),
                    Err(e) => {
                        tracing::warn!(host_id, error = %e, "cannot place endpoint interfaces")
                    }
                }
            }
        }
        Ok(())
    }
}

impl Shared {
    fn send(&mut self, host: &str, update: &Update) {
        if let Some((_, tx)) = self.sessions.get(host)
            && tx.try_send(Ok(to_wire(update))).is_err()
        {
            // Too far behind (or gone): cut the session; the agent reconnects and resumes.
            tracing::warn!(host, "agent too slow for its updates: session closed");
            self.sessions.remove(host);
            self.programs.disconnect(host);
        }
    }
}

/// An update as it travels: each value's encoding shared, not copied, and the pieces
/// several hosts receive alike encoded once.
pub fn to_wire(u: &Update) -> EncodedUpdate {
    EncodedUpdate {
        epoch: u.epoch,
        base_generation: u.base,
        generation: u.generation,
        snapshot: u.snapshot,
        put: u
            .put
            .iter()
            .map(|(k, v)| (k.clone(), v.wire().clone()))
            .collect(),
        delete: u.delete.clone(),
        encoded: u.shared.iter().map(|s| s.wire().clone()).collect(),
    }
}

/// An update as a host decodes it.
pub fn to_proto(u: &Update) -> ProgramUpdate {
    ProgramUpdate {
        epoch: u.epoch,
        base_generation: u.base,
        generation: u.generation,
        snapshot: u.snapshot,
        put: u
            .puts()
            .map(|(k, v)| Item {
                key: Some(k.clone()),
                value: Some(v.value().clone()),
            })
            .collect(),
        delete: u.deletes().cloned().collect(),
    }
}

/// The tonic face of the service.
pub struct Grpc(Arc<MappingService>);

type UpdateStream = Pin<Box<dyn Stream<Item = Result<EncodedUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl Mapping for Grpc {
    type SyncStream = UpdateStream;

    async fn sync(
        &self,
        request: Request<Streaming<HostMessage>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let service = self.0.clone();
        let mut inbound = request.into_inner();
        let Some(HostMessage {
            msg: Some(Msg::Hello(hello)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument("a session starts with Hello"));
        };
        if hello.contract_version != CONTRACT_VERSION {
            return Err(Status::failed_precondition(format!(
                "this host speaks version {} of the mapping contract and this server version {CONTRACT_VERSION}: run the same Fort release on hosts and servers",
                hello.contract_version
            )));
        }
        if hello.host_id.is_empty() || hello.host_id.len() > 128 {
            return Err(Status::invalid_argument(
                "host_id must be 1 to 128 characters",
            ));
        }
        let underlay = Ipv4Addr::from(hello.underlay);
        if underlay.is_unspecified() || underlay.is_broadcast() || underlay.is_multicast() {
            return Err(Status::invalid_argument(format!(
                "{underlay} cannot be an underlay address"
            )));
        }
        let role = match Role::try_from(hello.role) {
            Ok(Role::Instance) => HostRole::Instance,
            Ok(Role::Edge) => HostRole::Edge,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "unknown role {}",
                    hello.role
                )));
            }
        };
        service
            .register(&hello.host_id, &hello.zone, underlay, role)
            .await
            .map_err(|e| Status::invalid_argument(e.message))?;

        let (tx, rx) = mpsc::channel(QUEUE);
        let session = {
            let mut shared = service.shared.lock().expect("mapping lock");
            let initial = shared.programs.connect(
                &hello.host_id,
                hello.epoch,
                hello.generation,
                Instant::now(),
            );
            for u in &initial {
                tx.try_send(Ok(to_wire(u)))
                    .map_err(|_| Status::resource_exhausted("initial program too large"))?;
            }
            shared.next_session += 1;
            let session = shared.next_session;
            shared.sessions.insert(hello.host_id.clone(), (session, tx));
            session
        };
        tracing::info!(host = hello.host_id, zone = hello.zone, %underlay, role = role.as_str(), "host connected");
        let host = hello.host_id.clone();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = inbound.message().await {
                let now = Instant::now();
                let (through, turned, back) = {
                    let mut shared = service.shared.lock().expect("mapping lock");
                    // still this session's host (not one that reconnected since)
                    let current = shared
                        .sessions
                        .get(&host)
                        .is_some_and(|(s, _)| *s == session);
                    let back = current && shared.programs.heard(&host);
                    let turned = match msg.msg {
                        Some(Msg::Applied(a)) => {
                            shared.programs.applied(&host, a.epoch, a.generation, now);
                            None
                        }
                        Some(Msg::Heartbeat(h)) => {
                            let turned = shared.programs.seen(&host, h.healthy, now);
                            if turned == Some(false) {
                                tracing::warn!(host, problem = h.problem, "host unhealthy");
                            }
                            turned
                        }
                        _ => None,
                    };
                    let healthy = shared.programs.host(&host).is_none_or(|h| h.healthy);
                    (
                        shared.programs.applied_through,
                        turned,
                        back.then_some(healthy),
                    )
                };
                service.applied.send_replace(through);
                // A host found silent that speaks again was slow, not gone.
                if let Some(healthy) = back {
                    tracing::info!(host, "host heard again after it was found silent");
                    if healthy {
                        service
                            .set_available(std::slice::from_ref(&host), true)
                            .await;
                    }
                }
                // A host whose data path is stuck shows impaired, as a silent one does.
                if let Some(healthy) = turned {
                    service
                        .set_available(std::slice::from_ref(&host), healthy)
                        .await;
                }
            }
            let mut shared = service.shared.lock().expect("mapping lock");
            if shared
                .sessions
                .get(&host)
                .is_some_and(|(s, _)| *s == session)
            {
                shared.sessions.remove(&host);
                shared.programs.disconnect(&host);
            }
            tracing::info!(host, "agent disconnected");
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn lookup(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupResponse>, Status> {
        let req = request.into_inner();
        let shared = self.0.shared.lock().expect("mapping lock");
        let mapping = shared.programs.vpc_of_vni(req.vni).and_then(|vpc| {
            shared
                .programs
                .lookup(&vpc, Ipv4Addr::from(req.ip))
                .cloned()
        });
        Ok(Response::new(LookupResponse { mapping }))
    }

    async fn deliver_flow_logs(
        &self,
        request: Request<FlowLogReport>,
    ) -> Result<Response<FlowLogAck>, Status> {
        let Some(sink) = self.0.flow_logs.get() else {
            return Err(Status::unavailable("this server delivers no flow logs"));
        };
        let delivered = sink.deliver(request.into_inner()).await;
        Ok(Response::new(FlowLogAck { delivered }))
    }

    async fn report_vpn_tunnels(
        &self,
        request: Request<VpnTunnelReport>,
    ) -> Result<Response<VpnTunnelAck>, Status> {
        self.0.record_vpn_tunnels(request.into_inner()).await;
        Ok(Response::new(VpnTunnelAck {}))
    }
}

impl MappingService {
    /// Records what an edge saw of its tunnels (VgwTelemetry), on the leader.
    async fn record_vpn_tunnels(&self, report: VpnTunnelReport) {
        let tunnels = report.tunnels.into_iter().map(Tunnel::from).collect();
        if let Err(e) = self.report(HostReport::VpnTunnels { tunnels }).await {
            tracing::debug!(error = %e, "tunnel report not recorded");
        }
    }

    /// A connection is found by its id, which is unique across accounts and regions.
    async fn record_vpn_tunnels_here(&self, tunnels: Vec<Tunnel>) {
        let report = VpnTunnelReport {
            tunnels: tunnels.into_iter().map(Tunnel::into_proto).collect(),
            ..Default::default()
        };
        let scopes: Vec<(fort_control::Scope, fort_proto::mapping::VpnTunnelStatus)> = self
            .control
            .read_world(|w| {
                report
                    .tunnels
                    .into_iter()
                    .filter_map(|t| {
                        let (account, region) = w
                            .regions
                            .iter()
                            .find(|(_, r)| r.vpn_connections.contains(t.vpn_connection_id.as_str()))
                            .map(|(k, _)| k.clone())?;
                        Some((fort_control::Scope { account, region }, t))
                    })
                    .collect()
            })
            .await;
        for (scope, t) in scopes {
            // a prefix that makes no sense (a length over 32) is skipped
            let learned: Vec<ipnet::Ipv4Net> = t
                .learned_routes
                .iter()
                .filter_map(|c| {
                    let len = u8::try_from(c.prefix_len).ok()?;
                    ipnet::Ipv4Net::new(Ipv4Addr::from(c.address), len)
                        .ok()
                        .map(|n| n.trunc())
                })
                .collect();
            let result = self
                .control
                .write(&scope, |tx| {
                    tx.set_vpn_tunnel_status(
                        &t.vpn_connection_id,
                        Ipv4Addr::from(t.outside_ip),
                        t.up,
                        &t.message,
                        &learned,
                    )
                })
                .await;
            if let Err(e) = result {
                tracing::debug!(connection = t.vpn_connection_id, error = %e.message, "tunnel report not recorded");
            }
        }
    }
}

impl fort_ec2_api::Sidecar for MappingService {
    fn wait_applied(
        &self,
        change: u64,
        timeout: Duration,
    ) -> Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        Box::pin(MappingService::wait_applied(self, change, timeout))
    }

    fn metrics(&self, out: &mut String) {
        use std::fmt::Write;
        if let Some(sink) = self.flow_logs.get() {
            sink.metrics(out);
        }
        let shared = self.shared.lock().expect("mapping lock");
        let p = &shared.programs;
        let hosts = p.hosts().count();
        let connected = p.hosts().filter(|(_, h)| h.connected).count();
        let mut lat: Vec<f64> = p.latencies.iter().map(Duration::as_secs_f64).collect();
        lat.sort_by(f64::total_cmp);
        // the quantile in thousandths
        let q = |per_mille: usize| {
            lat.get((lat.len() * per_mille / 1000).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        let _ = writeln!(
            out,
            "# HELP fort_mapping_hosts Hosts that have connected since the server started."
        );
        let _ = writeln!(
            out,
            "# TYPE fort_mapping_hosts gauge\nfort_mapping_hosts {hosts}"
        );
        let _ = writeln!(
            out,
            "# TYPE fort_mapping_hosts_connected gauge\nfort_mapping_hosts_connected {connected}"
        );
        let _ = writeln!(
            out,
            "# TYPE fort_mapping_mappings gauge\nfort_mapping_mappings {}",
            p.mapping_count()
        );
        let _ = writeln!(
            out,
            "# TYPE fort_mapping_applied_through gauge\nfort_mapping_applied_through {}",
            p.applied_through
        );
        let _ = writeln!(
            out,
            "# HELP fort_mapping_programming_seconds From a change to its last host's applied report."
        );
        let _ = writeln!(out, "# TYPE fort_mapping_programming_seconds summary");
        for (label, per_mille) in [("0.5", 500), ("0.99", 990), ("1", 1000)] {
            let _ = writeln!(
                out,
                "fort_mapping_programming_seconds{{quantile=\"{label}\"}} {:.6}",
                q(per_mille)
            );
        }
        let _ = writeln!(out, "fort_mapping_programming_seconds_count {}", lat.len());
        for (id, h) in p.hosts() {
            let _ = writeln!(
                out,
                "fort_mapping_host_generation{{host=\"{id}\"}} {}\nfort_mapping_host_applied{{host=\"{id}\"}} {}\nfort_mapping_host_up{{host=\"{id}\"}} {}",
                h.generation,
                h.applied,
                u8::from(h.connected)
            );
        }
    }
}

/// What a host told a server's mapping service that the control plane records: made by the
/// leader, so a follower hands it on (through the store, as JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum HostReport {
    Register {
        host_id: String,
        zone: String,
        underlay: Ipv4Addr,
        role: HostRole,
        /// The server holding the host's session.
        server: String,
    },
    Available {
        hosts: Vec<String>,
        available: bool,
        /// The server that judged them: it must still hold their sessions.
        server: String,
    },
    VpnTunnels {
        tunnels: Vec<Tunnel>,
    },
}

/// One VPN tunnel's state as an edge reported it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Tunnel {
    vpn_connection_id: String,
    outside_ip: u32,
    up: bool,
    message: String,
    #[serde(default)]
    bgp_established: bool,
    /// The prefixes its BGP session learned, as (address, prefix length).
    #[serde(default)]
    learned_routes: Vec<(u32, u32)>,
}

impl From<fort_proto::mapping::VpnTunnelStatus> for Tunnel {
    fn from(t: fort_proto::mapping::VpnTunnelStatus) -> Self {
        Tunnel {
            vpn_connection_id: t.vpn_connection_id,
            outside_ip: t.outside_ip,
            up: t.up,
            message: t.message,
            bgp_established: t.bgp_established,
            learned_routes: t
                .learned_routes
                .into_iter()
                .map(|c| (c.address, c.prefix_len))
                .collect(),
        }
    }
}

impl Tunnel {
    fn into_proto(self) -> fort_proto::mapping::VpnTunnelStatus {
        fort_proto::mapping::VpnTunnelStatus {
            vpn_connection_id: self.vpn_connection_id,
            outside_ip: self.outside_ip,
            up: self.up,
            message: self.message,
            bgp_established: self.bgp_established,
            learned_routes: self
                .learned_routes
                .into_iter()
                .map(|(address, prefix_len)| fort_proto::mapping::Ipv4Cidr {
                    address,
                    prefix_len,
                })
                .collect(),
        }
    }
}
