//! Several servers on one shared store (etcd): one leader makes every change, every
//! server follows the store.
//!
//! * **Election.** A server becomes the leader by putting [`LEADER_KEY`] (its id and where
//!   its API is reached) with a lease of [`LEASE_TTL`] if nobody holds it, and keeps the
//!   lease alive. It steps down when it cannot renew the lease for [`LEASE_TTL`] (the key is
//!   gone by then), when a commit fails, or when it is fenced off.
//! * **Fencing.** Each of the leader's commits compares [`LEADER_KEY`] with its own value:
//!   a deposed leader (its lease expired, someone else won) can never write.
//! * **Following.** Every server loads the store at a revision, then watches it from there
//!   and applies each row's put or delete to its memory, in revision order, and tells the
//!   change feed (the mapping service) with the revision as the change's number. The
//!   leader's memory is ahead of the store (it makes changes there first), so once it has
//!   caught up with the store at its election it applies none of its own events, only
//!   announces them.
//! * **Recovery.** After a commit whose outcome is unknown (an error, a timeout, the fence),
//!   or a watch that fell behind compaction, memory may differ from the store: writes are
//!   refused (503) until the server has read the whole store again (it keeps answering
//!   reads from memory meanwhile), and the rows that differ are announced.
//! * **Followers' writes.** A follower runs nothing that writes: [`crate::Control`]'s write
//!   calls fail with [`ErrorCode::NotLeader`] and mark the request (see [`forwarded`]),
//!   which the API then sends on, byte for byte, to the leader. Hosts' reports to a
//!   follower's mapping service travel through the store ([`REQUESTS_PREFIX`]).

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fort_model::{ApiError, ErrorCode};
use fort_store::{Event, LeaseId, Revision, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

/// The key the leader holds with its lease.
pub const LEADER_KEY: &[u8] = b"fort/leader";
/// Where each server says it is alive (a key with a lease of its own): the leader judges
/// the hosts of a server that is gone.
pub const SERVERS_PREFIX: &str = "fort/servers/";
/// Where followers leave the hosts' reports for the leader (one key each, deleted when done).
pub const REQUESTS_PREFIX: &str = "fort/requests/";
/// The leader's lease: a dead leader's key is gone this long after its last renewal, and
/// another server takes over then.
pub const LEASE_TTL: Duration = Duration::from_secs(3);
/// How often the leader renews its lease, and a follower looks for a free leadership.
pub const RENEW: Duration = Duration::from_millis(700);
/// How many revisions of history the leader leaves in the store when it compacts it
/// (every [`COMPACT_EVERY`]): a server whose watch falls further behind reloads.
pub const KEEP_HISTORY: i64 = 100_000;
pub const COMPACT_EVERY: Duration = Duration::from_secs(60);
/// How long a follower waits for its memory to reach the store's revision before it
/// answers a read from what it has.
pub const SYNC_WAIT: Duration = Duration::from_secs(2);

/// Who a server is, as the leader key shows it to the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Unique per process (a restarted server is a new member).
    pub id: String,
    /// Where its API is reached by the other servers: `http://HOST:PORT`.
    pub api: String,
}

tokio::task_local! {
    /// Set when a write of the request was refused because this server is not the leader.
    static FORWARD: Cell<bool>;
}

/// Runs `f` (one request) and says whether it wanted to write on a follower: then its
/// answer must be thrown away and the request sent to the leader.
pub async fn forwarded<F: Future>(f: F) -> (F::Output, bool) {
    FORWARD
        .scope(Cell::new(false), async move {
            let out = f.await;
            (out, FORWARD.with(Cell::get))
        })
        .await
}

/// The error a follower's write gets (never shown: the request goes to the leader).
pub(crate) fn not_leader() -> ApiError {
    let _ = FORWARD.try_with(|f| f.set(true));
    ApiError::new(
        ErrorCode::NotLeader,
        "This server does not make changes; retry (the request goes to the leader).",
    )
}

/// The 503 of a write that cannot be made now.
pub(crate) fn unavailable(why: &str) -> ApiError {
    ApiError::new(ErrorCode::ServiceUnavailable, why.to_owned())
}

/// A server's place in the cluster, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub store: std::sync::Arc<dyn Store>,
    pub me: Member,
    /// The leader key's value when this server holds it.
    pub me_json: Vec<u8>,
    /// `Some(revision of the election)` while this server leads and has caught up.
    pub leading: watch::Sender<Option<Revision>>,
    /// The leader as the store last showed it.
    pub leader: Mutex<Option<Member>>,
    /// The last revision applied to memory (and announced).
    pub applied: watch::Sender<Revision>,
    /// Memory may differ from the store: writes are refused until a reload.
    pub dirty: AtomicBool,
    /// Bumped at every failure: a change computed before it is never committed after it.
    pub incarnation: AtomicU64,
    /// Wakes the follower task (a reload is needed) and the election task.
    pub wake: Notify,
    pub elect: Notify,
    /// When reading the store's revision last failed (reads then skip waiting for a while).
    pub store_down_since: Mutex<Option<Instant>>,
    /// The lease this server holds as leader.
    pub lease: Mutex<Option<LeaseId>>,
    /// Numbers the requests this server leaves for the leader.
    pub requests: AtomicU64,
    /// The servers alive (their keys under [`SERVERS_PREFIX`]), by id.
    pub servers: Mutex<std::collections::BTreeSet<String>>,
}

impl Cluster {
    pub fn leading(&self) -> bool {
        self.leading.borrow().is_some()
    }

    /// Gives up leadership (after a failure): memory is reloaded, the lease revoked so
    /// another server need not wait for it to expire.
    pub fn step_down(&self, why: &str) {
        let was = self.leading.send_replace(None).is_some();
        self.incarnation.fetch_add(1, Ordering::SeqCst);
        self.dirty.store(true, Ordering::SeqCst);
        if was {
            tracing::warn!(why, "leadership given up");
        }
        self.wake.notify_one();
        self.elect.notify_one();
    }

    /// Waits until memory holds revision `revision` of the store; false on timeout.
    pub async fn wait_applied(&self, revision: Revision, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// What a watched key is to the control plane.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Row<'a> {
    Region {
        account: &'a str,
        region: &'a str,
        table: &'a str,
        id: &'a str,
    },
    Global {
        table: &'a str,
        id: &'a str,
    },
    Leader,
    Request,
    Server(&'a str),
    Other,
}

/// Parses a store key. Ids may hold '/' (client tokens do): only the first separators
/// delimit.
pub(crate) fn row(key: &str) -> Row<'_> {
    if key.as_bytes() == LEADER_KEY {
        return Row::Leader;
    }
    if key.starts_with(REQUESTS_PREFIX) {
        return Row::Request;
    }
    if let Some(id) = key.strip_prefix(SERVERS_PREFIX) {
        return Row::Server(id);
    }
    if let Some(rest) = key.strip_prefix("g/") {
        if let Some((table, id)) = rest.split_once('/') {
            return Row::Global { table, id };
        }
    } else if let Some(rest) = key.strip_prefix("r/") {
        let mut parts = rest.splitn(4, '/');
        if let (Some(account), Some(region), Some(table), Some(id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            return Row::Region {
                account,
                region,
                table,
                id,
            };
        }
    }
    Row::Other
}

/// The key and revision of a watch event.
pub(crate) fn event_key(event: &Event) -> (&[u8], Revision) {
    match event {
        Event::Put(kv) => (&kv.key, kv.mod_revision),
        Event::Delete { key, revision } => (key, *revision),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_rows() {
        assert_eq!(
            row("r/123/us-east-1/client-token/RunInstances/a/b"),
            Row::Region {
                account: "123",
                region: "us-east-1",
                table: "client-token",
                id: "RunInstances/a/b"
            }
        );
        assert_eq!(
            row("g/host/h1"),
            Row::Global {
                table: "host",
                id: "h1"
            }
        );
        assert_eq!(row("fort/leader"), Row::Leader);
        assert_eq!(row("fort/requests/x-1"), Row::Request);
        assert_eq!(
            row("fort/servers/10.0.0.1:8773-7"),
            Row::Server("10.0.0.1:8773-7")
        );
        assert_eq!(row("r/123/us-east-1"), Row::Other);
        assert_eq!(row("zzz"), Row::Other);
    }

    #[tokio::test]
    async fn a_follower_write_marks_the_request() {
        let (err, marked) = forwarded(async { not_leader() }).await;
        assert!(marked);
        assert_eq!(err.code, ErrorCode::NotLeader);
        let ((), marked) = forwarded(async {}).await;
        assert!(!marked);
        // Outside a request, nothing to mark (and no panic).
        assert_eq!(not_leader().status(), 503);
    }
}
