//! The host's side of the mapping service: a session that keeps a host's program
//! current, reconnecting and resuming when the server or the connection goes away.
//!
//! "Applied" means applied: with [`Report::Engine`] the session reports a generation only
//! when the host says its engine runs with it (a [`Status`] on a watch channel, written by
//! the data path after it installed the program), and a host whose data path is stuck or
//! dead says so in every heartbeat instead.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fort_proto::CONTRACT_VERSION;
use fort_proto::mapping::host_message::Msg;
use fort_proto::mapping::mapping_client::MappingClient;
use fort_proto::mapping::{
    Applied, Heartbeat, Hello, HostMessage, ItemKey, ItemValue, ProgramUpdate, Role,
};
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;

/// How often a host says it is alive (the service marks a host silent after 10 s).
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long the host's engine may lag behind the updates received before the host
/// reports itself unhealthy.
pub const STALL: Duration = Duration::from_secs(5);

/// Who the host is.
#[derive(Clone, Debug)]
pub struct Identity {
    pub host_id: String,
    pub zone: String,
    pub underlay: Ipv4Addr,
    pub role: Role,
}

/// Every item a host holds, and which generation of which epoch they are: what tests and
/// the simulator keep (agents keep less: [`crate::host_state::HostState`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cache {
    pub epoch: u64,
    pub generation: u64,
    pub items: BTreeMap<ItemKey, ItemValue>,
}

/// An update that does not follow what the host holds: the session must start over.
#[derive(Debug, PartialEq, Eq)]
pub struct Gap;

/// What a host keeps of its program: where it stands and how it applies an update.
pub trait Programmed: Send {
    /// (epoch, generation) held.
    fn position(&self) -> (u64, u64);
    /// Applies one update in order; `Ok(false)` for a duplicate already applied.
    fn apply(&mut self, update: ProgramUpdate) -> Result<bool, Gap>;
    /// Forgets everything: the next session starts from a snapshot.
    fn reset(&mut self);
}

impl Programmed for Cache {
    fn position(&self) -> (u64, u64) {
        (self.epoch, self.generation)
    }
    fn apply(&mut self, update: ProgramUpdate) -> Result<bool, Gap> {
        Cache::apply(self, update)
    }
    fn reset(&mut self) {
        *self = Cache::default();
    }
}

impl Cache {
    /// Applies one update, in order. Duplicates (already applied) are ignored.
    pub fn apply(&mut self, u: ProgramUpdate) -> Result<bool, Gap> {
        if !follows(self.epoch, self.generation, &u)? {
            return Ok(false);
        }
        if u.snapshot {
            self.items.clear();
        }
        for key in &u.delete {
            self.items.remove(key);
        }
        for item in u.put {
            if let (Some(k), Some(v)) = (item.key, item.value) {
                self.items.insert(k, v);
            }
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

/// What a host's engine runs with, as its data path reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub epoch: u64,
    pub generation: u64,
    /// Why the host cannot apply programs (its data path is stuck or gone): reported in
    /// heartbeats, and no generation is reported applied meanwhile.
    pub problem: Option<String>,
}

/// When a generation counts as applied.
pub enum Report {
    /// As soon as [`Programmed::apply`] returns (tests, the simulator, hosts whose
    /// `apply` programs the engine itself).
    OnApply,
    /// When the host's status says so.
    Engine(watch::Receiver<Status>),
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The service refused this host (another contract version, a bad identity): retrying
    /// will not help until someone changes the host or the service.
    #[error("refused by the mapping service: {0}")]
    Refused(String),
    /// The server ended the TLS session before the first call (a client certificate
    /// missing or not trusted, most likely).
    #[error("the mapping service ended the session at once: {0}")]
    Handshake(String),
    #[error("update out of sequence")]
    OutOfSequence,
    #[error("the mapping service is unreachable: {0}")]
    Connect(#[from] ConnectError),
    #[error("the session broke: {}{}", .0, tls_hint(&format!("{:?}", .0)))]
    Stream(tonic::Status),
    #[error("the session's sender is gone")]
    Closed,
}

impl From<tonic::Status> for SessionError {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument => {
                SessionError::Refused(s.message().to_owned())
            }
            _ => SessionError::Stream(s),
        }
    }
}

/// The servers of `--mapping URL,URL,…` (names or addresses), in order.
pub fn endpoints(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How a host trusts the mapping service over `https://` (and proves who it is, if the
/// service asks): PEM read from files.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// The CA (PEM, one or more certificates) that signed the servers' certificates.
    pub ca: Vec<u8>,
    /// The host's own certificate chain and key (PEM), for servers that require client
    /// certificates (`fort server --tls-client-ca`).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the servers' certificates must carry, when not the one in the URL.
    pub domain: Option<String>,
}

impl ClientTls {
    /// Reads `--ca` and, for client authentication, `--tls-cert` and `--tls-key`.
    pub fn from_files(
        ca: &std::path::Path,
        cert: Option<&std::path::Path>,
        key: Option<&std::path::Path>,
    ) -> Result<ClientTls, String> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))
        };
        let ca = read(ca)?;
        if !String::from_utf8_lossy(&ca).contains("BEGIN CERTIFICATE") {
            return Err("the CA file holds no PEM certificate".into());
        }
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            (None, None) => None,
            _ => return Err("a client certificate needs both --tls-cert and --tls-key".into()),
        };
        Ok(ClientTls {
            ca,
            identity,
            domain: None,
        })
    }

    fn config(&self) -> tonic::transport::ClientTlsConfig {
        let mut c = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca));
        if let Some((cert, key)) = &self.identity {
            c = c.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        if let Some(d) = &self.domain {
            c = c.domain_name(d.clone());
        }
        c
    }
}

/// The mapping service as a host reaches it: its servers, in order, and the TLS for
/// those given as `https://`.
#[derive(Clone, Debug)]
pub struct Servers {
    pub urls: Vec<String>,
    pub tls: Option<ClientTls>,
}

impl Servers {
    /// The servers of `URL,URL,…`, reached with `tls` when their URL says `https://`.
    pub fn new(list: &str, tls: Option<ClientTls>) -> Servers {
        let urls = match endpoints(list) {
            u if u.is_empty() => vec![list.to_owned()],
            u => u,
        };
        Servers { urls, tls }
    }

    /// Whether every server can be reached as given: an `https://` server needs a CA.
    pub fn check(&self) -> Result<(), String> {
        let https = self.urls.iter().any(|u| u.starts_with("https://"));
        if https && self.tls.is_none() {
            return Err(
                "the mapping service is https:// but no CA was given (--ca FILE)".to_owned(),
            );
        }
        Ok(())
    }

    /// A client of `url` (one of [`Servers::urls`]).
    pub async fn connect(&self, url: &str) -> Result<MappingClient<Channel>, ConnectError> {
        let fail = |e: tonic::transport::Error| ConnectError::new(url, &e);
        let mut endpoint = Channel::from_shared(url.to_owned()).map_err(|e| ConnectError {
            message: format!("{url}: not a URL: {e}"),
        })?;
        if url.starts_with("https://") {
            let tls = self.tls.as_ref().ok_or_else(|| ConnectError {
                message: format!("{url}: https:// needs the CA of the servers (--ca FILE)"),
            })?;
            endpoint = endpoint.tls_config(tls.config()).map_err(fail)?;
        }
        let channel = endpoint.connect().await.map_err(fail)?;
        Ok(MappingClient::new(channel))
    }

    /// A client of the first server that accepts a connection.
    pub async fn connect_any(&self) -> Result<MappingClient<Channel>, ConnectError> {
        let mut last = None;
        for url in &self.urls {
            match self.connect(url).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ConnectError {
            message: "no mapping service given".to_owned(),
        }))
    }
}

/// Why a host could not connect to a server: the whole chain of causes (a refused
/// certificate says which, not just "transport error").
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub message: String,
}

impl ConnectError {
    fn new(url: &str, e: &(dyn std::error::Error + 'static)) -> ConnectError {
        let mut message = format!("{url}: {e}");
        let mut cause = e.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            cause = c.source();
        }
        let hint = tls_hint(&message);
        message.push_str(hint);
        ConnectError { message }
    }
}

/// What a TLS failure in `error` means for the one who runs the host (empty if none).
fn tls_hint(error: &str) -> &'static str {
    if error.contains("UnknownIssuer") {
        " (the server's certificate is not signed by the CA given with --ca)"
    } else if error.contains("NotValidForName") {
        " (the server's certificate is for another name: see --tls-server-name)"
    } else if error.contains("CertificateRequired") {
        " (the server requires a client certificate: give --tls-cert and --tls-key)"
    } else if error.contains("UnknownCA") || error.contains("BadCertificate") {
        " (the server does not trust this host's client certificate)"
    } else {
        ""
    }
}

/// A client of the first of the servers (`URL,URL,…`, plain `http://`) that accepts a
/// connection.
pub async fn connect_any(list: &str) -> Result<MappingClient<Channel>, ConnectError> {
    Servers::new(list, None).connect_any().await
}

/// Runs the session for ever, reconnecting after failures (slowly after a refusal).
///
/// `endpoint` may name several servers (`URL,URL,…`): when the session with one ends or
/// fails, the next is tried at once, and only after a whole round without a session does
/// the host wait. Servers that share a store number generations alike (by store
/// revision), so the next server resumes the host where it was, without a snapshot,
/// when nothing it holds changed meanwhile or its recent updates still reach back.
pub async fn run_with<P: Programmed>(
    servers: Servers,
    me: Identity,
    mut state: P,
    mut report: Report,
) {
    let mut backoff = Duration::from_millis(100);
    let mut at = 0;
    let mut failed_in_a_row = 0;
    loop {
        let server = &servers.urls[at % servers.urls.len()];
        let started = Instant::now();
        let wait = match session_with(&servers, server, &me, &mut state, &mut report).await {
            Ok(()) => {
                tracing::info!(server, "mapping session ended; reconnecting");
                backoff
            }
            Err(e @ SessionError::Refused(_)) => {
                tracing::error!(host = me.host_id, server, error = %e, "not programmed");
                Duration::from_secs(30)
            }
            Err(e) => {
                tracing::warn!(server, error = %e, "mapping session failed; reconnecting");
                backoff
            }
        };
        // A session that lasted was a success: start the count again.
        if started.elapsed() > Duration::from_secs(10) {
            failed_in_a_row = 0;
            backoff = Duration::from_millis(100);
        }
        failed_in_a_row += 1;
        at += 1;
        if servers.urls.len() > 1 && failed_in_a_row % servers.urls.len() != 0 {
            // another server may answer now
            continue;
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

fn applied(epoch: u64, generation: u64) -> HostMessage {
    HostMessage {
        msg: Some(Msg::Applied(Applied { epoch, generation })),
    }
}

fn heartbeat(problem: Option<&str>) -> HostMessage {
    HostMessage {
        msg: Some(Msg::Heartbeat(Heartbeat {
            healthy: problem.is_none(),
            problem: problem.unwrap_or_default().to_owned(),
        })),
    }
}

/// One session with `endpoint` (plain `http://`): hello, then updates until the stream
/// ends.
pub async fn session<P: Programmed>(
    endpoint: &str,
    me: &Identity,
    state: &mut P,
    report: &mut Report,
) -> Result<(), SessionError> {
    session_with(&Servers::new(endpoint, None), endpoint, me, state, report).await
}

/// One session with `endpoint`, one of `servers`: hello, then updates until the stream
/// ends.
pub async fn session_with<P: Programmed>(
    servers: &Servers,
    endpoint: &str,
    me: &Identity,
    state: &mut P,
    report: &mut Report,
) -> Result<(), SessionError> {
    let (epoch, generation) = state.position();
    let mut client = servers
        .connect(endpoint)
        .await?
        .max_decoding_message_size(256 << 20)
        .max_encoding_message_size(256 << 20);
    let (tx, rx) = mpsc::channel(64);
    let hello = HostMessage {
        msg: Some(Msg::Hello(Hello {
            contract_version: CONTRACT_VERSION,
            host_id: me.host_id.clone(),
            zone: me.zone.clone(),
            underlay: me.underlay.into(),
            role: me.role.into(),
            epoch,
            generation,
        })),
    };
    tx.send(hello).await.map_err(|_| SessionError::Closed)?;
    let mut updates = match client
        .sync(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    {
        Ok(u) => u.into_inner(),
        // Over TLS 1.3 a server that refuses the host's certificate (or its lack of
        // one) does so after the client's handshake: the first call fails, often with
        // the connection closed before the alert could be read.
        Err(status)
            if endpoint.starts_with("https://")
                && status.code() != tonic::Code::FailedPrecondition
                && status.code() != tonic::Code::InvalidArgument =>
        {
            let text = format!("{status:?}");
            let hint = match tls_hint(&text) {
                "" if servers.tls.as_ref().is_some_and(|t| t.identity.is_none()) => {
                    " (if the server requires client certificates, give --tls-cert and --tls-key)"
                }
                "" => " (if the server requires client certificates, it may not trust this host's)",
                h => h,
            };
            return Err(SessionError::Handshake(format!(
                "{endpoint}: {}{hint}",
                status.message()
            )));
        }
        Err(status) => return Err(status.into()),
    };
    // What the engine runs with now, said again on every new session.
    let mut sent = (0, 0);
    if let Report::Engine(status) = report {
        let s = status.borrow_and_update().clone();
        if s.problem.is_none() && s.generation > 0 {
            sent = (s.epoch, s.generation);
            tx.send(applied(s.epoch, s.generation))
                .await
                .map_err(|_| SessionError::Closed)?;
        }
    }
    let mut beat = tokio::time::interval(HEARTBEAT);
    // Since when the engine has lagged behind the updates received without progress.
    let mut lagging: Option<Instant> = None;
    loop {
        let status_changed = async {
            match report {
                Report::Engine(status) => status.changed().await.is_ok(),
                Report::OnApply => std::future::pending().await,
            }
        };
        tokio::select! {
            update = updates.message() => {
                let Some(update) = update? else { return Ok(()) };
                match state.apply(update) {
                    Ok(true) => match report {
                        Report::OnApply => {
                            let (epoch, generation) = state.position();
                            tx.send(applied(epoch, generation)).await.map_err(|_| SessionError::Closed)?;
                        }
                        Report::Engine(_) => {
                            lagging.get_or_insert_with(Instant::now);
                        }
                    },
                    Ok(false) => {}
                    Err(Gap) => {
                        // Start over with a snapshot.
                        state.reset();
                        return Err(SessionError::OutOfSequence);
                    }
                }
            }
            alive = status_changed => {
                if !alive {
                    return Err(SessionError::Closed);
                }
                let Report::Engine(status) = report else { continue };
                let s = status.borrow_and_update().clone();
                // Caught up, or at least moving: the engine is not stuck.
                lagging = ((s.epoch, s.generation) != state.position()).then(Instant::now);
                if let Some(problem) = &s.problem {
                    tx.send(heartbeat(Some(problem))).await.map_err(|_| SessionError::Closed)?;
                } else if (s.epoch, s.generation) != sent {
                    sent = (s.epoch, s.generation);
                    tx.send(applied(s.epoch, s.generation)).await.map_err(|_| SessionError::Closed)?;
                }
            }
            _ = beat.tick() => {
                let problem = match report {
                    Report::Engine(status) => status.borrow().problem.clone().or_else(|| {
                        let since = lagging?;
                        (since.elapsed() > STALL).then(|| {
                            format!(
                                "the data path has not applied generation {} for {} s",
                                state.position().1,
                                since.elapsed().as_secs()
                            )
                        })
                    }),
                    Report::OnApply => None,
                };
                tx.send(heartbeat(problem.as_deref())).await.map_err(|_| SessionError::Closed)?;
            }
        }
    }
}
