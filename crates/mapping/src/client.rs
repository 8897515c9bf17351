//! The agent's side of the mapping service: a session that keeps a host's items current,
//! reconnecting and resuming when the server or the connection goes away.

use std::time::Duration;

use fort_proto::mapping::agent_message::Msg;
use fort_proto::mapping::mapping_client::MappingClient;
use fort_proto::mapping::{AgentMessage, Applied, Heartbeat, Hello, ProgramUpdate};
use tokio::sync::mpsc;

use crate::derive::Items;

/// Who the agent is.
#[derive(Clone, Debug)]
pub struct Identity {
    pub host_id: String,
    pub zone: String,
    pub underlay: std::net::Ipv4Addr,
    /// `instance` or `edge`.
    pub role: String,
}

/// The items a host holds, and which generation of which epoch they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cache {
    pub epoch: u64,
    pub generation: u64,
    pub items: Items,
}

/// An update that does not follow what the cache holds: the session must start over.
#[derive(Debug, PartialEq, Eq)]
pub struct Gap;

/// What an agent keeps of its program: where it stands and how it applies an update.
pub trait Programmed: Send {
    /// (epoch, generation) held.
    fn position(&self) -> (u64, u64);
    /// Applies one update in order; `Ok(false)` for a duplicate already applied.
    fn apply(&mut self, update: &ProgramUpdate) -> Result<bool, Gap>;
    /// Forgets everything: the next session starts from a snapshot.
    fn reset(&mut self);
}

impl Programmed for Cache {
    fn position(&self) -> (u64, u64) {
        (self.epoch, self.generation)
    }
    fn apply(&mut self, update: &ProgramUpdate) -> Result<bool, Gap> {
        Cache::apply(self, update)
    }
    fn reset(&mut self) {
        *self = Cache::default();
    }
}

impl Cache {
    /// Applies one update, in order. Duplicates (already applied) are ignored.
    pub fn apply(&mut self, u: &ProgramUpdate) -> Result<bool, Gap> {
        if !follows(self.epoch, self.generation, u)? {
            return Ok(false);
        }
        if u.snapshot {
            self.items.clear();
        }
        for key in &u.delete {
            self.items.remove(key);
        }
        for item in &u.put {
            self.items.insert(item.key.clone(), item.value.clone());
        }
        self.epoch = u.epoch;
        self.generation = u.generation;
        Ok(true)
    }
}

/// Whether `u` is the next update for a holder at (`epoch`, `generation`): `Ok(false)`
/// for a duplicate already applied, `Err(Gap)` when something is missing.
pub fn follows(epoch: u64, generation: u64, u: &ProgramUpdate) -> Result<bool, Gap> {
    if u.snapshot || (u.epoch == epoch && u.base_generation == generation) {
        Ok(true)
    } else if u.epoch == epoch && u.generation <= generation {
        Ok(false)
    } else {
        Err(Gap)
    }
}

/// Runs the session for ever: calls `on_update` with the items after each update
/// applied, then reports the generation as applied.
pub async fn run(
    endpoint: String,
    me: Identity,
    on_update: impl FnMut(&Cache, &ProgramUpdate) + Send,
) {
    run_with(endpoint, me, Cache::default(), on_update).await
}

/// [`run`] with the agent's own way of holding its program.
pub async fn run_with<P: Programmed>(
    endpoint: String,
    me: Identity,
    mut state: P,
    mut on_update: impl FnMut(&P, &ProgramUpdate) + Send,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(&endpoint, &me, &mut state, &mut on_update).await {
            Ok(()) => tracing::info!("mapping session ended; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "mapping session failed; reconnecting"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// One session: hello, then updates until the stream ends.
pub async fn session<P: Programmed>(
    endpoint: &str,
    me: &Identity,
    cache: &mut P,
    on_update: &mut (impl FnMut(&P, &ProgramUpdate) + Send),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (epoch, generation) = cache.position();
    let mut client = MappingClient::connect(endpoint.to_owned())
        .await?
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let (tx, rx) = mpsc::channel(64);
    tx.send(AgentMessage {
        msg: Some(Msg::Hello(Hello {
            host_id: me.host_id.clone(),
            zone: me.zone.clone(),
            underlay: me.underlay.to_string(),
            epoch,
            generation,
            role: me.role.clone(),
        })),
    })
    .await?;
    let mut updates = client
        .sync(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let beat = tx.clone();
    // Aborted when the session ends or is dropped: a heartbeat must not outlive it.
    let _heartbeat = AbortOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            if beat
                .send(AgentMessage {
                    msg: Some(Msg::Heartbeat(Heartbeat {})),
                })
                .await
                .is_err()
            {
                break;
            }
        }
    }));
    async {
        while let Some(update) = updates.message().await? {
            match cache.apply(&update) {
                Ok(true) => {
                    on_update(cache, &update);
                    let (epoch, generation) = cache.position();
                    tx.send(AgentMessage {
                        msg: Some(Msg::Applied(Applied { epoch, generation })),
                    })
                    .await?;
                }
                Ok(false) => {}
                Err(Gap) => {
                    // Start over with a snapshot.
                    cache.reset();
                    return Err("update out of sequence".into());
                }
            }
        }
        Ok(())
    }
    .await
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
