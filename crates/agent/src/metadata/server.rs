//! The HTTP side: IMDSv2 session tokens, IMDSv1 where allowed, and the PUT response hop
//! limit, as EC2's metadata service applies them. The caller is known by the alias it
//! arrives from ([`super::nat`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};

use super::Directory;
use super::nat;
use super::tree::InstanceView;

/// Token lifetimes EC2 accepts, in seconds.
const TTL_RANGE: std::ops::RangeInclusive<u64> = 1..=21600;
/// Live tokens kept at most (expired ones go first); beyond, the oldest is forgotten.
const MAX_TOKENS: usize = 100_000;
/// The TTL of every other answer.
const DEFAULT_TTL: u32 = 64;

const TOKEN: &str = "x-aws-ec2-metadata-token";
const TOKEN_TTL: &str = "x-aws-ec2-metadata-token-ttl-seconds";

/// Who is asking: the peer's address and its socket (to set the answer's IP TTL).
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    /// A duplicate of the connection's socket descriptor.
    socket: Option<Arc<std::net::TcpStream>>,
}

/// The service's listeners (its IPv4 and IPv6 addresses), handing each connection's
/// socket to its requests.
pub struct MetadataListener {
    listeners: Vec<tokio::net::TcpListener>,
    /// The listener polled first next time, so none starves the others.
    next: usize,
}

impl MetadataListener {
    pub fn new(listeners: Vec<tokio::net::TcpListener>) -> MetadataListener {
        MetadataListener { listeners, next: 0 }
    }

    /// The next connection on any listener.
    async fn accept_any(&mut self) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
        let n = self.listeners.len();
        if n == 0 {
            return std::future::pending().await;
        }
        let start = self.next % n;
        self.next = self.next.wrapping_add(1);
        let listeners = &self.listeners;
        std::future::poll_fn(|cx| {
            for i in 0..n {
                if let std::task::Poll::Ready(r) = listeners[(start + i) % n].poll_accept(cx) {
                    return std::task::Poll::Ready(r);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

impl Listener for MetadataListener {
    type Io = tokio::net::TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.accept_any().await {
                Ok((stream, addr)) => {
                    let socket = stream
                        .as_fd()
                        .try_clone_to_owned()
                        .ok()
                        .map(|fd| Arc::new(std::net::TcpStream::from(fd)));
                    return (stream, Peer { addr, socket });
                }
                // out of descriptors and the like: wait rather than spin
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        let first = self
            .listeners
            .first()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        Ok(Peer {
            addr: first.local_addr()?,
            socket: None,
        })
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, MetadataListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, MetadataListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Issued tokens: token → (instance, expiry).
#[derive(Default)]
pub struct Tokens(Mutex<HashMap<String, (String, Instant)>>);

impl Tokens {
    fn issue(&self, instance: &str, ttl: Duration) -> String {
        use base64::Engine as _;
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 42]>());
        let now = Instant::now();
        let mut t = self.0.lock().expect("tokens");
        if t.len() >= MAX_TOKENS {
            t.retain(|_, (_, exp)| *exp > now);
            if t.len() >= MAX_TOKENS
                && let Some(oldest) = t
                    .iter()
                    .min_by_key(|(_, (_, e))| *e)
                    .map(|(k, _)| k.clone())
            {
                t.remove(&oldest);
            }
        }
        t.insert(token.clone(), (instance.to_owned(), now + ttl));
        token
    }

    fn valid(&self, token: &str, instance: &str) -> bool {
        let t = self.0.lock().expect("tokens");
        t.get(token)
            .is_some_and(|(i, exp)| i == instance && *exp > Instant::now())
    }
}

/// What the handlers share.
pub struct Service {
    pub directory: Arc<RwLock<Directory>>,
    pub tokens: Tokens,
}

/// Sets the IP TTL (IPv6: the hop limit) of the connection's next segments (the hop
/// limit of a PUT's answer).
fn set_ttl(peer: &Peer, ttl: u32) {
    let Some(s) = &peer.socket else { return };
    let set = if peer.addr.is_ipv6() {
        fort_host::sys::set_unicast_hops(s.as_fd(), ttl)
    } else {
        s.set_ttl(ttl)
    };
    if let Err(e) = set {
        tracing::debug!(error = %e, "cannot set the metadata answer's TTL");
    }
}

/// The instance (its port's slot) an alias names, and whether it came over IPv6.
pub fn caller(addr: IpAddr) -> Option<(u16, bool)> {
    match addr {
        IpAddr::V4(ip) => nat::unalias(ip).map(|(slot, _)| (slot, false)),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => nat::unalias(v4).map(|(slot, _)| (slot, false)),
            None => nat::unalias6(ip).map(|(slot, _)| (slot, true)),
        },
    }
}

fn plain(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    (status, [("content-type", "text/plain")], body.into()).into_response()
}

/// EC2's answers carry a short HTML page for errors.
fn error(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("");
    let code = status.as_u16();
    (
        status,
        [("content-type", "text/html")],
        format!(
            "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n <head>\n  <title>{code} - {reason}</title>\n </head>\n <body>\n  <h1>{code} - {reason}</h1>\n </body>\n</html>\n"
        ),
    )
        .into_response()
}

/// Every request: who asks, whether it may, then the tree.
pub async fn handle(
    State(svc): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some((slot, over_ipv6)) = caller(peer.addr.ip()) else {
        return error(StatusCode::FORBIDDEN);
    };
    let view: Option<Arc<InstanceView>> = {
        let d = svc.directory.read().expect("metadata directory");
        d.by_slot(slot)
    };
    let Some(view) = view else {
        return error(StatusCode::FORBIDDEN);
    };
    let options = view.item.metadata_options.unwrap_or_default();
    // (the data path keeps IPv6 away when HttpProtocolIpv6 is disabled; a connection
    // opened before it was is refused here)
    if !options.http_endpoint || (over_ipv6 && !options.http_protocol_ipv6) {
        return error(StatusCode::FORBIDDEN);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if uri.path() == "/latest/api/token" {
        if method != Method::PUT {
            return error(StatusCode::METHOD_NOT_ALLOWED);
        }
        // a token asked for through a proxy is refused
        if headers.contains_key("x-forwarded-for") {
            return error(StatusCode::FORBIDDEN);
        }
        let Some(ttl) = header(TOKEN_TTL)
            .and_then(|t| t.trim().parse::<u64>().ok())
            .filter(|t| TTL_RANGE.contains(t))
        else {
            return error(StatusCode::BAD_REQUEST);
        };
        let token = svc.tokens.issue(&view.item.id, Duration::from_secs(ttl));
        set_ttl(&peer, options.http_put_response_hop_limit.clamp(1, 64));
        return (
            StatusCode::OK,
            [
                ("content-type", "text/plain".to_owned()),
                (TOKEN_TTL, ttl.to_string()),
            ],
            token,
        )
            .into_response();
    }
    set_ttl(&peer, DEFAULT_TTL);
    if method != Method::GET && method != Method::HEAD {
        return error(StatusCode::METHOD_NOT_ALLOWED);
    }
    match header(TOKEN) {
        Some(t) if !svc.tokens.valid(t, &view.item.id) => return error(StatusCode::UNAUTHORIZED),
        None if options.http_tokens_required => return error(StatusCode::UNAUTHORIZED),
        _ => {}
    }
    match view.get(uri.path()) {
        Some(body) => plain(StatusCode::OK, body),
        None => error(StatusCode::NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_one_instance_and_expire() {
        let t = Tokens::default();
        let a = t.issue("i-a", Duration::from_secs(60));
        assert!(t.valid(&a, "i-a"));
        assert!(!t.valid(&a, "i-b"), "another instance's token");
        assert!(!t.valid("forged", "i-a"));
        let short = t.issue("i-a", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!t.valid(&short, "i-a"), "expired");
        assert_ne!(
            a,
            t.issue("i-a", Duration::from_secs(60)),
            "fresh each time"
        );
    }
}
