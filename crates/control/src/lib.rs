//! Fort's control plane: the desired state of every account and region, and the rules
//! every change obeys.
//!
//! The state lives in memory, loaded from the store at start; the store is the truth.
//! A change runs against the in-memory state under one lock ([`Control::write`]); if it
//! fails, its undo log restores every row it touched; if it succeeds, the rows it touched
//! are queued to the committer, which writes many changes in one store transaction (group
//! commit), and the caller is answered only once its change is durable.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use fort_model::{ApiError, Millis};
use fort_store::{Op, Store, Txn};
use tokio::sync::{RwLock, mpsc, oneshot};

pub mod address;
pub mod classic_link;
pub mod config;
pub mod dhcp_options;
pub mod fleet;
pub mod flow_log;
pub mod iam;
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
pub mod snapshot;
pub mod spot;
pub mod ssm;
pub mod subnet;
pub mod subnet_cidr_reservation;
pub mod table;
pub mod tags;
pub mod transit_gateway;
pub mod volume;
pub mod vpc;
pub mod vpc_block_public_access;
pub mod vpc_endpoint;
pub mod vpn;
pub mod vpn_connection;
pub mod zones;

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
    pub config: &'a Config,
}

type Commit = (Vec<Op>, oneshot::Sender<Result<(), ApiError>>);
/// The committer's answer for one change.
type Ack = oneshot::Receiver<Result<(), ApiError>>;

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
    /// Loads the whole state from `store` and starts the committer.
    pub async fn open(store: Arc<dyn Store>, config: Config) -> Result<Arc<Self>, ApiError> {
        let world = load(&*store).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let poisoned = Arc::new(AtomicBool::new(false));
        let control = Arc::new(Self {
            world: RwLock::new(world),
            config,
            commits: tx,
            poisoned: poisoned.clone(),
            feed: std::sync::Mutex::new((0, Vec::new())),
            flow_log_destinations: flow_log::DestinationHook::default(),
        });
        tokio::spawn(committer(store, rx, poisoned));
        Ok(control)
    }

    /// Refuses writes once the store has refused one (memory and store may differ).
    fn healthy(&self) -> Result<(), ApiError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(ApiError::internal(
                "the store refused a write; restart Fort to reload its state",
            ));
        }
        Ok(())
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
        self.healthy()?;
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
            (value, self.commit(changes)?)
        };
        Self::acked(ack).await
    }

    /// Publishes and queues a change's writes; `None` when it wrote nothing.
    fn commit(
        &self,
        changes: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<Option<(u64, Ack)>, ApiError> {
        if changes.is_empty() {
            return Ok(None);
        }
        let seq = self.publish(&changes);
        Ok(Some((seq, self.queue(changes)?)))
    }

    /// Waits for a change to be durable; gives its value and number.
    async fn acked<R>((value, pending): (R, Option<(u64, Ack)>)) -> Result<(R, u64), ApiError> {
        let Some((seq, ack)) = pending else {
            return Ok((value, 0));
        };
        ack.await
            .map_err(|_| ApiError::internal("committer dropped a change"))??;
        Ok((value, seq))
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

    fn queue(&self, changes: Vec<(String, Option<Vec<u8>>)>) -> Result<Ack, ApiError> {
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
            .send((ops, ack_tx))
            .map_err(|_| ApiError::internal("committer stopped"))?;
        Ok(ack_rx)
    }

    /// [`Control::write`], also giving the change's number (0 if nothing changed).
    pub async fn write_numbered<R>(
        &self,
        scope: &Scope,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, ApiError>,
    ) -> Result<(R, u64), ApiError> {
        self.healthy()?;
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
            (value, self.commit(changes)?)
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

/// Store operations per transaction at most (etcd refuses more than 128 by default); a
/// change larger than that still goes whole, in a transaction of its own.
pub const MAX_TXN_OPS: usize = 128;

/// Writes queued changes, as many whole changes as are waiting and fit in one
/// transaction. A failed write poisons the control plane (see [`Control`]).
async fn committer(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Commit>,
    poisoned: Arc<AtomicBool>,
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
        let ops: Vec<Op> = batch
            .iter()
            .flat_map(|(ops, _)| ops.iter().cloned())
            .collect();
        let result = match store
            .txn(Txn {
                compares: Vec::new(),
                ops,
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                poisoned.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, "store commit failed: writes are refused until a restart reloads the store");
                Err(ApiError::internal(e))
            }
        };
        for (_, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }
}

/// Reads every stored row into a fresh world.
async fn load(store: &dyn Store) -> Result<World, ApiError> {
    let mut world = World::default();
    let range = store.range(b"").await.map_err(ApiError::internal)?;
    for kv in range.kvs {
        let key = String::from_utf8_lossy(&kv.key);
        // Ids may hold '/' (client tokens do): only the first separators delimit.
        let parts: Vec<&str> = if key.starts_with("g/") {
            key.splitn(3, '/').collect()
        } else {
            key.splitn(5, '/').collect()
        };
        let result = match parts.as_slice() {
            ["r", account, region, table, _id] => world
                .regions
                .entry(((*account).to_owned(), (*region).to_owned()))
                .or_insert_with(|| Region::new(account, region))
                .load(table, &kv.value),
            ["g", table, _id] => world.global.load(table, &kv.value),
            _ => Ok(()),
        };
        result.map_err(|e| ApiError::internal(format!("corrupt row {key}: {e}")))?;
    }
    Ok(world)
}
