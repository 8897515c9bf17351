//! Fort's control plane: the desired state of every account and region, and the rules
//! every change obeys.
//!
//! The state lives in memory, loaded from the store at start; the store is the truth.
//! A change runs against the in-memory state under one lock ([`Control::write`]); if it
//! fails, its undo log restores every row it touched; if it succeeds, the rows it touched
//! are queued to the committer, which writes many changes in one store transaction (group
//! commit), and the caller is answered only once its change is durable.
//!
//! On a shared store (etcd), several servers run side by side: one leads and makes the
//! changes, all follow the store (see [`cluster`]).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fort_model::{ApiError, Millis};
use fort_store::{Compare, Event, Op, Revision, Store, StoreError, Txn};
use tokio::sync::{Notify, RwLock, mpsc, oneshot, watch};

use cluster::{Cluster, LEADER_KEY, Row};

pub mod address;
pub mod capacity_reservation;
pub mod carrier_gateway;
pub mod classic_link;
pub mod cluster;
pub mod config;
pub mod dedicated_host;
pub mod dhcp_options;
pub mod fleet;
pub mod flow_log;
pub mod iam;
pub mod iam_aws_policy;
pub mod iam_instance_profile;
pub mod idempotency;
pub mod image;
pub mod instance;
mod instance_types;
pub mod internet_gateway;
pub mod key_pair;
pub mod launch_template;
pub mod nat_gateway;
pub mod network_acl;
pub mod network_interface;
pub mod peering;
pub mod placement_group;
pub mod prefix_list;
pub mod region;
pub mod route53;
pub mod route_table;
pub mod security_group;
pub mod service_subnet_group;
pub mod snapshot;
pub mod spot;
pub mod spot_fleet;
pub mod ssm;
pub mod subnet;
pub mod subnet_cidr_reservation;
pub mod table;
pub mod tags;
pub mod traffic_mirror;
pub mod transit_gateway;
pub mod volume;
pub mod vpc;
pub mod vpc_block_public_access;
pub mod vpc_endpoint;
pub mod vpn;
pub mod vpn_connection;
pub mod zones;

pub use cluster::{Member, forwarded};
pub use config::{Config, Quotas};
pub use idempotency::ClientToken;
pub use region::{Global, Region};

/// Who asks and where: an account in a region.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

/// Everything the control plane holds.
#[derive(Debug, Default)]
pub struct World {
    pub regions: HashMap<(String, String), Region>,
    pub global: Global,
    /// On a shared store, the last store revision this memory follows (the leader's
    /// memory also holds its changes being committed).
    pub revision: Revision,
}

/// One change in progress: the region it is made in, the shared records, the clock.
pub struct Tx<'a> {
    pub region: &'a mut Region,
    pub global: &'a mut Global,
    /// Every other (account, region), to read.
    pub others: &'a HashMap<(String, String), Region>,
    pub config: &'a Config,
    pub now: Millis,
}

/// A read of one region.
pub struct View<'a> {
    pub region: &'a Region,
    pub global: &'a Global,
    /// Every (account, region), this one included, to read.
    pub regions: &'a HashMap<(String, String), Region>,
    pub config: &'a Config,
}

/// A change's writes, the incarnation it was computed in (see [`Cluster::incarnation`]),
/// and where its outcome goes.
type Commit = (Vec<Op>, u64, oneshot::Sender<Result<Revision, ApiError>>);
/// The committer's answer for one change: the store revision it was written at.
type Ack = oneshot::Receiver<Result<Revision, ApiError>>;

/// The rows one change touched, as store keys (`r/ACCOUNT/REGION/TABLE/ID`, `g/TABLE/ID`),
/// numbered in the order the changes were made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    pub keys: Vec<String>,
}

#[derive(Debug)]
pub struct Control {
    world: RwLock<World>,
    config: Config,
    commits: mpsc::UnboundedSender<Commit>,
    /// Set when the store refused a write the memory already holds: from then on the two
    /// may differ, so writes are refused until a restart reloads the store.
    poisoned: Arc<AtomicBool>,
    /// Who follows the changes (the mapping service), and the last change's number.
    feed: std::sync::Mutex<(u64, Vec<mpsc::UnboundedSender<Change>>)>,
    /// Where CreateFlowLogs asks whether an S3 bucket exists (see [`flow_log`]).
    flow_log_destinations: flow_log::DestinationHook,
    /// On a shared store: this server's place among the others.
    cluster: Option<Arc<Cluster>>,
    /// On a shared store: the installation's epoch, the same on every server.
    epoch: Option<u64>,
    /// Where hosts' reports that reach the leader go (its mapping service).
    reports: std::sync::Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
}

/// `v` as an `i32` if it lies in `range`: a request's number narrowed once it is checked.
pub(crate) fn within(v: i64, range: std::ops::RangeInclusive<i32>) -> Option<i32> {
    i32::try_from(v).ok().filter(|v| range.contains(v))
}

pub fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

impl Control {
    /// Loads the whole state from `store` and starts the committer: the only server of
    /// this store, always its leader.
    pub async fn open(store: Arc<dyn Store>, config: Config) -> Result<Arc<Self>, ApiError> {
        let (world, _) = load(&*store).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let poisoned = Arc::new(AtomicBool::new(false));
        let control = Arc::new(Self {
            world: RwLock::new(world),
            config,
            commits: tx,
            poisoned: poisoned.clone(),
            feed: std::sync::Mutex::new((0, Vec::new())),
            flow_log_destinations: flow_log::DestinationHook::default(),
            cluster: None,
            epoch: None,
            reports: std::sync::Mutex::new(None),
        });
        tokio::spawn(committer(store, rx, poisoned, None));
        Ok(control)
    }

    /// Loads the state from a store other servers share (etcd), follows it from there and
    /// stands for election as `me` (see [`cluster`]). Change numbers are store revisions.
    pub async fn open_cluster(
        store: Arc<dyn Store>,
        config: Config,
        me: Member,
    ) -> Result<Arc<Self>, ApiError> {
        let (world, revision) = load(&*store).await?;
        let leader = store
            .get(LEADER_KEY)
            .await
            .map_err(ApiError::internal)?
            .and_then(|kv| serde_json::from_slice(&kv.value).ok());
        let me_json = serde_json::to_vec(&me).map_err(ApiError::internal)?;
        let epoch = cluster_epoch(&*store).await?;
        let servers = store
            .range(cluster::SERVERS_PREFIX.as_bytes())
            .await
            .map_err(ApiError::internal)?
            .kvs
            .into_iter()
            .filter_map(|kv| {
                let key = String::from_utf8(kv.key).ok()?;
                Some(key.strip_prefix(cluster::SERVERS_PREFIX)?.to_owned())
            })
            .collect();
        let cluster = Arc::new(Cluster {
            store: store.clone(),
            me,
            me_json,
            leading: watch::channel(None).0,
            leader: std::sync::Mutex::new(leader),
            applied: watch::channel(revision).0,
            dirty: AtomicBool::new(false),
            incarnation: AtomicU64::new(0),
            wake: Notify::new(),
            elect: Notify::new(),
            store_down_since: std::sync::Mutex::new(None),
            lease: std::sync::Mutex::new(None),
            requests: AtomicU64::new(0),
            servers: std::sync::Mutex::new(servers),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let poisoned = Arc::new(AtomicBool::new(false));
        let seq = u64::try_from(revision).unwrap_or(0);
        let control = Arc::new(Self {
            world: RwLock::new(world),
            config,
            commits: tx,
            poisoned: poisoned.clone(),
            feed: std::sync::Mutex::new((seq, Vec::new())),
            flow_log_destinations: flow_log::DestinationHook::default(),
            cluster: Some(cluster.clone()),
            epoch: Some(epoch),
            reports: std::sync::Mutex::new(None),
        });
        tokio::spawn(committer(store, rx, poisoned, Some(cluster.clone())));
        tokio::spawn(follow(
            Arc::downgrade(&control),
            cluster.clone(),
            revision + 1,
        ));
        tokio::spawn(presence(Arc::downgrade(&control), cluster.clone()));
        tokio::spawn(compact(Arc::downgrade(&control), cluster.clone()));
        tokio::spawn(elect(Arc::downgrade(&control), cluster));
        Ok(control)
    }

    /// Refuses writes once the store has refused one (memory and store may differ); on a
    /// shared store, also while this server does not lead. Gives the incarnation the
    /// change is computed in.
    fn healthy(&self) -> Result<u64, ApiError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(ApiError::internal(
                "the store refused a write; restart Fort to reload its state",
            ));
        }
        let Some(c) = &self.cluster else {
            return Ok(0);
        };
        if c.dirty.load(Ordering::SeqCst) {
            return Err(cluster::unavailable(
                "The control plane is reloading its state from the store; retry shortly.",
            ));
        }
        let incarnation = c.incarnation.load(Ordering::SeqCst);
        if !c.leading() {
            return Err(cluster::not_leader());
        }
        Ok(incarnation)
    }

    /// Whether this server makes changes itself (always, on a store of its own).
    pub fn leads(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.leading())
    }

    /// The epoch every server of a shared store gives hosts (`None`: no shared store).
    pub fn cluster_epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// Whether this server is one of several on a shared store.
    pub fn clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// This server, on a shared store.
    pub fn member(&self) -> Option<&Member> {
        self.cluster.as_ref().map(|c| &c.me)
    }

    /// The leader as the store last showed it (`None`: none, or no shared store).
    pub fn leader(&self) -> Option<Member> {
        let c = self.cluster.as_ref()?;
        c.leader.lock().expect("leader lock").clone()
    }

    /// A follower's read: waits (a little) until memory holds every change the store had
    /// when the read arrived, so a write acknowledged by any server is seen. Without the
    /// store (no quorum) it returns at once and the read is answered from memory.
    pub async fn sync(&self) {
        let Some(c) = &self.cluster else { return };
        if c.leading() {
            return;
        }
        let down = *c.store_down_since.lock().expect("lock");
        if down.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
            return;
        }
        match c.store.revision().await {
            Ok(revision) => {
                *c.store_down_since.lock().expect("lock") = None;
                if !c.wait_applied(revision, cluster::SYNC_WAIT).await {
                    tracing::warn!(revision, "read answered before memory reached the store");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "store unreachable: reads are answered from memory");
                *c.store_down_since.lock().expect("lock") = Some(Instant::now());
            }
        }
    }

    /// The servers alive on a shared store, by member id (`None`: no shared store).
    pub fn live_servers(&self) -> Option<std::collections::BTreeSet<String>> {
        let c = self.cluster.as_ref()?;
        Some(c.servers.lock().expect("servers lock").clone())
    }

    /// The last store revision applied to memory (`None`: no shared store).
    pub fn applied_revision(&self) -> Option<Revision> {
        self.cluster.as_ref().map(|c| *c.applied.borrow())
    }

    /// Takes the hosts' reports that reach this server as leader (the mapping service
    /// executes them); followers' reports arrive through the store.
    pub fn take_reports(&self) -> mpsc::UnboundedReceiver<Vec<u8>> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.reports.lock().expect("reports lock") = Some(tx);
        rx
    }

    /// Hands a host's report (opaque bytes, the mapping service's) to the leader: to this
    /// server's own reports when it leads, else through the store.
    pub async fn report(&self, body: Vec<u8>) -> Result<(), ApiError> {
        let Some(c) = self.cluster.as_ref().filter(|c| !c.leading()) else {
            self.deliver_report(body);
            return Ok(());
        };
        let n = c.requests.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}{}-{n}", cluster::REQUESTS_PREFIX, c.me.id);
        c.store
            .txn(Txn {
                compares: Vec::new(),
                ops: vec![Op::Put {
                    key: key.into_bytes(),
                    value: body,
                }],
            })
            .await
            .map_err(|e| cluster::unavailable(&e.to_string()))?;
        Ok(())
    }

    fn deliver_report(&self, body: Vec<u8>) {
        if let Some(tx) = &*self.reports.lock().expect("reports lock") {
            let _ = tx.send(body);
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads a region (made with its defaults if this is its first use).
    pub async fn read<R>(
        &self,
        scope: &Scope,
        f: impl FnOnce(&View<'_>) -> R,
    ) -> Result<R, ApiError> {
        {
            let world = self.world.read().await;
            if let Some(region) = world
                .regions
                .get(&(scope.account.clone(), scope.region.clone()))
            {
                return Ok(f(&View {
                    region,
                    global: &world.global,
                    regions: &world.regions,
                    config: &self.config,
                }));
            }
        }
        self.write(scope, |_| Ok(())).await?;
        let world = self.world.read().await;
        let region = world
            .regions
            .get(&(scope.account.clone(), scope.region.clone()))
            .ok_or_else(|| ApiError::internal("region vanished after creation"))?;
        Ok(f(&View {
            region,
            global: &world.global,
            regions: &world.regions,
            config: &self.config,
        }))
    }

    /// The whole state, for reading while other work is done (the mapping service).
    pub async fn world(&self) -> tokio::sync::RwLockReadGuard<'_, World> {
        self.world.read().await
    }

    /// Reads every region of the installation (for placement, host programs and metrics).
    pub async fn read_world<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&*self.world.read().await)
    }

    /// Every row of the in-memory state as (store key, JSON): after a reload from the
    /// store it must be the same, which tests use to prove changes are all-or-nothing.
    pub async fn dump(&self) -> Result<std::collections::BTreeMap<String, Vec<u8>>, ApiError> {
        let world = self.world.read().await;
        let mut out = std::collections::BTreeMap::new();
        for region in world.regions.values() {
            region.dump(&mut out).map_err(ApiError::internal)?;
        }
        world.global.dump(&mut out).map_err(ApiError::internal)?;
        Ok(out)
    }

    /// Follows every change from now on, in order.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Change> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.feed.lock().expect("feed lock").1.push(tx);
        rx
    }

    /// The number of the last change made.
    pub fn last_change(&self) -> u64 {
        self.feed.lock().expect("feed lock").0
    }

    /// Makes a change in a region; answers once it is durable. A failed change leaves
    /// no trace.
    pub async fn write<R>(
        &self,
        scope: &Scope,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        self.write_numbered(scope, f).await.map(|(v, _)| v)
    }

    /// Makes a change outside any region (hosts, shared records); answers once durable.
    pub async fn write_global<R>(
        &self,
        f: impl FnOnce(&mut Global) -> Result<R, ApiError>,
    ) -> Result<(R, u64), ApiError> {
        self.write_global_reading(|global, _| f(global)).await
    }

    /// [`Control::write_global`] for a change that also reads the regions (a Route 53 zone
    /// names a VPC of some region): the regions are read, never changed.
    pub async fn write_global_reading<R>(
        &self,
        f: impl FnOnce(&mut Global, &HashMap<(String, String), Region>) -> Result<R, ApiError>,
    ) -> Result<(R, u64), ApiError> {
        let incarnation = self.healthy()?;
        let ack = {
            let mut guard = self.world.write().await;
            let world = &mut *guard;
            let value = match f(&mut world.global, &world.regions) {
                Ok(v) => v,
                Err(e) => {
                    world.global.rollback();
                    return Err(e);
                }
            };
            let mut changes = Vec::new();
            world
                .global
                .take_changes(&mut changes)
                .map_err(ApiError::internal)?;
            (value, self.commit(changes, incarnation)?)
        };
        Self::acked(ack).await
    }

    /// Publishes and queues a change's writes; `None` when it wrote nothing.
    fn commit(
        &self,
        changes: Vec<(String, Option<Vec<u8>>)>,
        incarnation: u64,
    ) -> Result<Option<(u64, Ack)>, ApiError> {
        if changes.is_empty() {
            return Ok(None);
        }
        // On a shared store, changes are announced as the store's watch shows them, each
        // numbered by its revision (the same on every server).
        let seq = match self.cluster {
            None => self.publish(&changes),
            Some(_) => 0,
        };
        Ok(Some((seq, self.queue(changes, incarnation)?)))
    }

    /// Waits for a change to be durable; gives its value and number.
    async fn acked<R>((value, pending): (R, Option<(u64, Ack)>)) -> Result<(R, u64), ApiError> {
        let Some((seq, ack)) = pending else {
            return Ok((value, 0));
        };
        let revision = ack
            .await
            .map_err(|_| ApiError::internal("committer dropped a change"))??;
        match seq {
            0 => Ok((value, u64::try_from(revision).unwrap_or(0))),
            seq => Ok((value, seq)),
        }
    }

    /// Announces a change to its followers; returns its number. Called under the world
    /// lock, so numbers follow the order of changes.
    fn publish(&self, changes: &[(String, Option<Vec<u8>>)]) -> u64 {
        let mut feed = self.feed.lock().expect("feed lock");
        feed.0 += 1;
        let change = Change {
            seq: feed.0,
            keys: changes.iter().map(|(k, _)| k.clone()).collect(),
        };
        feed.1.retain(|f| f.send(change.clone()).is_ok());
        feed.0
    }

    /// Announces a change the store's watch showed, numbered by its revision.
    fn publish_at(&self, revision: Revision, keys: Vec<String>) {
        let mut feed = self.feed.lock().expect("feed lock");
        let seq = u64::try_from(revision).unwrap_or(0);
        feed.0 = feed.0.max(seq);
        let change = Change { seq, keys };
        feed.1.retain(|f| f.send(change.clone()).is_ok());
    }

    fn queue(
        &self,
        changes: Vec<(String, Option<Vec<u8>>)>,
        incarnation: u64,
    ) -> Result<Ack, ApiError> {
        let ops = changes
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => Op::Put {
                    key: key.into_bytes(),
                    value,
                },
                None => Op::Delete {
                    key: key.into_bytes(),
                },
            })
            .collect();
        let (ack_tx, ack_rx) = oneshot::channel();
        self.commits
            .send((ops, incarnation, ack_tx))
            .map_err(|_| ApiError::internal("committer stopped"))?;
        Ok(ack_rx)
    }

    /// [`Control::write`], also giving the change's number (0 if nothing changed).
    pub async fn write_numbered<R>(
        &self,
        scope: &Scope,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, ApiError>,
    ) -> Result<(R, u64), ApiError> {
        let incarnation = self.healthy()?;
        let ack = {
            let mut guard = self.world.write().await;
            let world = &mut *guard;
            let key = (scope.account.clone(), scope.region.clone());
            let now = now_millis();
            // The region is taken out while it changes, so the change can read the others
            // (a peering names a VPC of another account or region).
            let mut changes = Vec::new();
            let mut region = match world.regions.remove(&key) {
                Some(r) => r,
                None => {
                    let mut region = Region::new(&scope.account, &scope.region);
                    let mut tx = Tx {
                        region: &mut region,
                        global: &mut world.global,
                        others: &world.regions,
                        config: &self.config,
                        now,
                    };
                    if let Err(e) = tx.create_region_defaults() {
                        world.global.rollback();
                        return Err(e);
                    }
                    // the defaults stand whatever becomes of the change itself
                    region
                        .take_changes(&mut changes)
                        .map_err(ApiError::internal)?;
                    world
                        .global
                        .take_changes(&mut changes)
                        .map_err(ApiError::internal)?;
                    region
                }
            };
            let mut tx = Tx {
                region: &mut region,
                global: &mut world.global,
                others: &world.regions,
                config: &self.config,
                now,
            };
            let result = f(&mut tx);
            let value = match result {
                Ok(v) => region
                    .take_changes(&mut changes)
                    .and_then(|()| world.global.take_changes(&mut changes))
                    .map(|()| v)
                    .map_err(ApiError::internal),
                Err(e) => {
                    region.rollback();
                    world.global.rollback();
                    Err(e)
                }
            };
            world.regions.insert(key, region);
            // a new region's defaults are written even when the change itself failed
            (value, self.commit(changes, incarnation)?)
        };
        match ack {
            (Ok(v), pending) => Self::acked((v, pending)).await,
            (Err(e), pending) => {
                // the error is answered once the defaults it left are durable, like any
                // other write (else a reader could see rows the store does not yet hold)
                Self::acked(((), pending)).await?;
                Err(e)
            }
        }
    }
}

/// Store operations per transaction at most: etcd refuses more than 128 by default, and
/// the etcd store adds two of its own to a transaction that writes (its commit record);
/// a change larger than that still goes whole, in a transaction of its own.
pub const MAX_TXN_OPS: usize = 126;

/// Writes queued changes, as many whole changes as are waiting and fit in one
/// transaction. A failed write poisons the control plane (see [`Control`]); on a shared
/// store it makes the server step down and reload instead, and each of the leader's
/// writes is fenced by its leader key (see [`cluster`]).
async fn committer(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Commit>,
    poisoned: Arc<AtomicBool>,
    cluster: Option<Arc<Cluster>>,
) {
    let mut next: Option<Commit> = None;
    loop {
        let first = match next.take() {
            Some(c) => c,
            None => match rx.recv().await {
                Some(c) => c,
                None => return,
            },
        };
        let mut size = first.0.len();
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            if size + more.0.len() > MAX_TXN_OPS {
                next = Some(more);
                break;
            }
            size += more.0.len();
            batch.push(more);
        }
        let mut compares = Vec::new();
        if let Some(c) = &cluster {
            // A change computed before a failure stands on memory that may differ from the
            // store: it is never written.
            let now = c.incarnation.load(Ordering::SeqCst);
            let (fresh, stale): (Vec<Commit>, Vec<Commit>) =
                batch.into_iter().partition(|(_, inc, _)| *inc == now);
            for (_, _, ack) in stale {
                let _ = ack.send(Err(cluster::unavailable(
                    "The control plane lost its leadership or its store while this change was made; it was not made. Retry.",
                )));
            }
            if fresh.is_empty() {
                continue;
            }
            batch = fresh;
            compares.push(Compare::Value(LEADER_KEY.to_vec(), Some(c.me_json.clone())));
        }
        let ops: Vec<Op> = batch
            .iter()
            .flat_map(|(ops, _, _)| ops.iter().cloned())
            .collect();
        let result = store.txn(Txn { compares, ops }).await;
        let result = match (&cluster, result) {
            (_, Ok(r)) if r.succeeded => Ok(r.revision),
            (Some(c), Ok(_)) => {
                c.step_down("fenced: another server holds the leader key");
                Err(cluster::unavailable(
                    "This server lost its leadership before the change was made; it was not made. Retry.",
                ))
            }
            (Some(c), Err(e)) => {
                tracing::error!(error = %e, "store commit failed: stepping down to reload the store");
                c.step_down("a commit failed");
                Err(cluster::unavailable(
                    "The store did not confirm the change in time; it may or may not have been made. Retry (with the same ClientToken).",
                ))
            }
            (None, Ok(_)) => Err(ApiError::internal("a transaction without compares failed")),
            (None, Err(e)) => {
                poisoned.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "store commit failed: writes are refused until a restart reloads the store");
                Err(ApiError::internal(e))
            }
        };
        for (_, _, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }
}

/// Reads every stored row into a fresh world; gives the revision it was read at.
async fn load(store: &dyn Store) -> Result<(World, Revision), ApiError> {
    let range = store.range(b"").await.map_err(ApiError::internal)?;
    let mut world = World {
        revision: range.revision,
        ..World::default()
    };
    for kv in &range.kvs {
        let key = String::from_utf8_lossy(&kv.key);
        apply_row(&mut world, &key, Some(&kv.value))
            .map_err(|e| ApiError::internal(format!("corrupt row {key}: {e}")))?;
    }
    Ok((world, range.revision))
}

/// Applies one stored row's state (`None`: deleted) to memory; other keys are ignored.
fn apply_row(world: &mut World, key: &str, value: Option<&[u8]>) -> Result<(), serde_json::Error> {
    match (cluster::row(key), value) {
        (
            Row::Region {
                account,
                region,
                table,
                ..
            },
            Some(json),
        ) => world
            .regions
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| Region::new(account, region))
            .load(table, json),
        (
            Row::Region {
                account,
                region,
                table,
                id,
            },
            None,
        ) => {
            if let Some(r) = world
                .regions
                .get_mut(&(account.to_owned(), region.to_owned()))
            {
                r.unload(table, id);
            }
            Ok(())
        }
        (Row::Global { table, .. }, Some(json)) => world.global.load(table, json),
        (Row::Global { table, id }, None) => {
            world.global.unload(table, id);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Every row of a world as (store key, JSON).
fn dump_world(world: &World) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for region in world.regions.values() {
        let _ = region.dump(&mut out);
    }
    let _ = world.global.dump(&mut out);
    out
}

/// A server's following of the shared store: applies every change other servers made to
/// memory, announces every change, and reloads the whole store when memory may differ.
async fn follow(control: std::sync::Weak<Control>, c: Arc<Cluster>, mut from: Revision) {
    loop {
        if c.dirty.load(Ordering::SeqCst) {
            let Some(control) = control.upgrade() else {
                return;
            };
            match reload(&control, &c).await {
                Ok(revision) => from = revision + 1,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reload the store yet; reads are answered from memory");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let mut events = match c.store.watch(b"", from).await {
            Ok(w) => w,
            Err(StoreError::Compacted { .. }) => {
                c.step_down("the store's history no longer reaches this server's memory");
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot watch the store; retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
        };
        loop {
            let first = tokio::select! {
                () = c.wake.notified() => {
                    if c.dirty.load(Ordering::SeqCst) { break } else { continue }
                }
                e = events.recv() => e,
            };
            let mut batch = match first {
                Some(Ok(e)) => vec![e],
                Some(Err(StoreError::Compacted { .. })) => {
                    c.step_down("the store's history no longer reaches this server's memory");
                    break;
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "store watch ended; watching again");
                    break;
                }
                None => break,
            };
            // A revision's events come together: take what is there, and what its
            // sender is about to put (one yield), so a revision is applied whole.
            loop {
                while let Ok(Ok(e)) = events.try_recv() {
                    batch.push(e);
                }
                tokio::task::yield_now().await;
                if events.is_empty() {
                    break;
                }
            }
            let Some(control) = control.upgrade() else {
                return;
            };
            from = apply_events(&control, &c, batch).await + 1;
        }
    }
}

/// Applies watched events to memory (but the leader's own) and announces each revision's
/// rows; gives the last revision.
async fn apply_events(control: &Control, c: &Cluster, batch: Vec<Event>) -> Revision {
    let leading_since = *c.leading.borrow();
    let mut last = 0;
    let mut changes: Vec<(Revision, Vec<String>)> = Vec::new();
    let mut requests = Vec::new();
    {
        let mut world = control.world.write().await;
        for event in &batch {
            let (key, revision) = cluster::event_key(event);
            last = revision;
            let key = String::from_utf8_lossy(key).into_owned();
            match cluster::row(&key) {
                Row::Region { .. } | Row::Global { .. } => {
                    let own = leading_since.is_some_and(|since| revision > since);
                    if !own {
                        let value = match event {
                            Event::Put(kv) => Some(kv.value.as_slice()),
                            Event::Delete { .. } => None,
                        };
                        if let Err(e) = apply_row(&mut world, &key, value) {
                            tracing::error!(key, error = %e, "corrupt row in the store, ignored");
                        }
                    }
                    match changes.last_mut() {
                        Some((r, keys)) if *r == revision => keys.push(key),
                        _ => changes.push((revision, vec![key])),
                    }
                }
                Row::Leader => {
                    let leader = match event {
                        Event::Put(kv) => serde_json::from_slice(&kv.value).ok(),
                        Event::Delete { .. } => None,
                    };
                    *c.leader.lock().expect("leader lock") = leader;
                    c.elect.notify_one();
                }
                Row::Request => {
                    if let Event::Put(kv) = event {
                        requests.push((key, kv.value.clone()));
                    }
                }
                Row::Server(id) => {
                    let mut servers = c.servers.lock().expect("servers lock");
                    match event {
                        Event::Put(_) => servers.insert(id.to_owned()),
                        Event::Delete { .. } => servers.remove(id),
                    };
                }
                Row::Other => {}
            }
        }
        world.revision = world.revision.max(last);
    }
    for (revision, keys) in changes {
        control.publish_at(revision, keys);
    }
    if c.leading() {
        take_requests(control, c, requests).await;
    }
    c.applied.send_replace(last);
    last
}

/// The leader executes hosts' reports left in the store, and deletes them.
async fn take_requests(control: &Control, c: &Cluster, requests: Vec<(String, Vec<u8>)>) {
    if requests.is_empty() {
        return;
    }
    let mut ops = Vec::new();
    for (key, body) in requests {
        control.deliver_report(body);
        ops.push(Op::Delete {
            key: key.into_bytes(),
        });
    }
    let store = c.store.clone();
    tokio::spawn(async move {
        let _ = store
            .txn(Txn {
                compares: Vec::new(),
                ops,
            })
            .await;
    });
}

/// Reads the whole store again into memory, announcing the rows that differ; gives the
/// revision read.
async fn reload(control: &Control, c: &Cluster) -> Result<Revision, ApiError> {
    let (fresh, revision) = load(&*c.store).await?;
    let changed: Vec<String> = {
        let mut world = control.world.write().await;
        let before = dump_world(&world);
        let after = dump_world(&fresh);
        *world = fresh;
        before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .chain(after.keys().filter(|k| !before.contains_key(*k)).cloned())
            .collect()
    };
    if !changed.is_empty() {
        control.publish_at(revision, changed);
    }
    c.dirty.store(false, Ordering::SeqCst);
    c.applied.send_replace(revision);
    tracing::info!(revision, "state reloaded from the store");
    c.elect.notify_one();
    Ok(revision)
}

/// Stands for election, and keeps the lease while leading (see [`cluster`]).
async fn elect(control: std::sync::Weak<Control>, c: Arc<Cluster>) {
    let mut renewed = Instant::now();
    loop {
        if control.strong_count() == 0 {
            return;
        }
        if c.leading() {
            let lease = *c.lease.lock().expect("lease lock");
            let Some(lease) = lease else {
                c.step_down("no lease");
                continue;
            };
            match tokio::time::timeout(cluster::RENEW, c.store.lease_keep_alive(lease)).await {
                Ok(Ok(ttl)) if !ttl.is_zero() => renewed = Instant::now(),
                Ok(Ok(_)) => c.step_down("the lease expired"),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew the leader's lease"),
                Err(_) => tracing::warn!("cannot renew the leader's lease in time"),
            }
            // Give up before the store can have let the lease go.
            if c.leading() && renewed.elapsed() + cluster::RENEW >= cluster::LEASE_TTL {
                c.step_down("the lease could not be renewed");
            }
            if !c.leading() {
                revoke(&c);
                continue;
            }
            tokio::time::sleep(cluster::RENEW).await;
            continue;
        }
        let someone = c.leader.lock().expect("leader lock").is_some();
        if someone || c.dirty.load(Ordering::SeqCst) {
            let _ = tokio::time::timeout(cluster::RENEW, c.elect.notified()).await;
            if c.leader.lock().expect("leader lock").is_some() || c.dirty.load(Ordering::SeqCst) {
                // the leader key is also read now and then, in case a watch event was missed
                if let Ok(kv) = c.store.get(LEADER_KEY).await {
                    *c.leader.lock().expect("leader lock") =
                        kv.and_then(|kv| serde_json::from_slice(&kv.value).ok());
                }
                continue;
            }
        }
        match stand(&c).await {
            Ok(Some((lease, revision))) => {
                // Caught up with every change before the election, this server leads.
                if c.wait_applied(revision, Duration::from_secs(5)).await
                    && !c.dirty.load(Ordering::SeqCst)
                {
                    *c.lease.lock().expect("lease lock") = Some(lease);
                    renewed = Instant::now();
                    c.leading.send_replace(Some(revision));
                    tracing::info!(revision, id = c.me.id, "leading");
                    if let Some(control) = control.upgrade()
                        && let Ok(range) = c.store.range(cluster::REQUESTS_PREFIX.as_bytes()).await
                    {
                        let requests = range
                            .kvs
                            .into_iter()
                            .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), kv.value))
                            .collect();
                        take_requests(&control, &c, requests).await;
                    }
                } else {
                    *c.lease.lock().expect("lease lock") = Some(lease);
                    revoke(&c);
                }
            }
            Ok(None) => tokio::time::sleep(cluster::RENEW / 2).await,
            Err(e) => {
                tracing::debug!(error = %e, "cannot stand for election");
                tokio::time::sleep(cluster::RENEW).await;
            }
        }
    }
}

/// The installation's epoch on a shared store: made once, by the first server.
async fn cluster_epoch(store: &dyn Store) -> Result<u64, ApiError> {
    const KEY: &[u8] = b"fort/epoch";
    let read = |kv: fort_store::KeyValue| {
        std::str::from_utf8(&kv.value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ApiError::internal("fort/epoch is not a number"))
    };
    if let Some(kv) = store.get(KEY).await.map_err(ApiError::internal)? {
        return read(kv);
    }
    let mine = u64::try_from(now_millis()).unwrap_or(1).max(1) * 1000;
    store
        .txn(Txn {
            compares: vec![Compare::Value(KEY.to_vec(), None)],
            ops: vec![Op::Put {
                key: KEY.to_vec(),
                value: mine.to_string().into_bytes(),
            }],
        })
        .await
        .map_err(ApiError::internal)?;
    let kv = store
        .get(KEY)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("fort/epoch vanished"))?;
    read(kv)
}

/// The leader compacts the store's history now and then, as etcd expects of its users:
/// it keeps [`cluster::KEEP_HISTORY`] revisions.
async fn compact(control: std::sync::Weak<Control>, c: Arc<Cluster>) {
    loop {
        tokio::time::sleep(cluster::COMPACT_EVERY).await;
        if control.strong_count() == 0 {
            return;
        }
        if !c.leading() {
            continue;
        }
        if let Ok(revision) = c.store.revision().await
            && revision > cluster::KEEP_HISTORY
        {
            let to = revision - cluster::KEEP_HISTORY;
            match c.store.compact_history(to).await {
                Ok(()) => tracing::debug!(to, "store history compacted"),
                Err(e) => tracing::debug!(error = %e, "cannot compact the store's history"),
            }
        }
    }
}

/// Keeps this server's key under [`cluster::SERVERS_PREFIX`] alive with a lease of its
/// own, for as long as the server runs.
async fn presence(control: std::sync::Weak<Control>, c: Arc<Cluster>) {
    let key = format!("{}{}", cluster::SERVERS_PREFIX, c.me.id);
    while control.strong_count() > 0 {
        let Ok(lease) = c.store.lease_grant(cluster::LEASE_TTL * 2).await else {
            tokio::time::sleep(cluster::RENEW).await;
            continue;
        };
        if !matches!(
            c.store
                .put_leased_if_absent(key.as_bytes(), &c.me_json, lease)
                .await,
            Ok(r) if r.succeeded
        ) {
            let _ = c.store.lease_revoke(lease).await;
            tokio::time::sleep(cluster::RENEW).await;
            continue;
        }
        while control.strong_count() > 0 {
            tokio::time::sleep(cluster::RENEW).await;
            if let Ok(Ok(ttl)) =
                tokio::time::timeout(cluster::RENEW, c.store.lease_keep_alive(lease)).await
                && ttl.is_zero()
            {
                break;
            }
        }
    }
}

/// Tries to take the leader key: the lease and the election's revision if won.
async fn stand(c: &Cluster) -> Result<Option<(fort_store::LeaseId, Revision)>, StoreError> {
    let lease = c.store.lease_grant(cluster::LEASE_TTL).await?;
    let result = c
        .store
        .put_leased_if_absent(LEADER_KEY, &c.me_json, lease)
        .await;
    match result {
        Ok(r) if r.succeeded => Ok(Some((lease, r.revision))),
        Ok(_) => {
            let _ = c.store.lease_revoke(lease).await;
            Ok(None)
        }
        Err(e) => {
            let _ = c.store.lease_revoke(lease).await;
            Err(e)
        }
    }
}

/// Lets the lease go (best effort: without the store it expires on its own).
fn revoke(c: &Cluster) {
    if let Some(lease) = c.lease.lock().expect("lease lock").take() {
        let store = c.store.clone();
        tokio::spawn(async move {
            let _ = store.lease_revoke(lease).await;
        });
    }
}
