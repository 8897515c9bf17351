//! The catalog served over UDP and TCP: hickory's [`Server`] on sockets the caller binds.
//!
//! The caller binds ([`Listener::bind`]) where it must: `fort up` binds inside the
//! internet namespace on a thread that entered it, and on loopback in its own namespace.
//! [`DnsServer::start`] hands the sockets to tokio and serves until
//! [`DnsServer::shutdown`].
//!
//! In-flight work is bounded: at most [`MAX_IN_FLIGHT`] queries are answered at once
//! (a query beyond that is dropped unanswered, as a loaded server drops; the client
//! retries), and a TCP connection that sends nothing for [`TCP_IDLE`] is closed.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::Server;
use hickory_server::net::NetError;
use hickory_server::net::runtime::{Time, TokioTime};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::sync::Semaphore;

use crate::authority::Authority;

/// Queries answered at once, over every socket of one server.
pub const MAX_IN_FLIGHT: usize = 512;
/// A TCP connection idle this long is closed.
pub const TCP_IDLE: Duration = Duration::from_secs(5);
/// Responses queued per TCP connection.
const TCP_RESPONSE_QUEUE: usize = 32;

/// A UDP socket and a TCP listener on the same address, bound and not yet served.
#[derive(Debug)]
pub struct Listener {
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
}

impl Listener {
    /// Binds UDP and TCP on `addr`; with port 0, on one free port for both. Binding
    /// happens in the calling thread's network namespace, where the sockets stay.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let mut tries = 0;
        loop {
            let udp = std::net::UdpSocket::bind(addr)?;
            let local = udp.local_addr()?;
            match std::net::TcpListener::bind(local) {
                Ok(tcp) => {
                    udp.set_nonblocking(true)?;
                    tcp.set_nonblocking(true)?;
                    return Ok(Self { udp, tcp });
                }
                // the free UDP port is taken in TCP: another one
                Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                    tries += 1;
                    if tries == 16 {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The address both sockets are bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// A running server: the catalog on one or more listeners.
pub struct DnsServer {
    server: Server<Bounded>,
    addrs: Vec<SocketAddr>,
}

impl DnsServer {
    /// Serves `authority` on the listeners. Call inside a tokio runtime.
    pub fn start(authority: Arc<Authority>, listeners: Vec<Listener>) -> io::Result<Self> {
        let mut s = Self {
            server: Server::new(Bounded::new(authority)),
            addrs: Vec::with_capacity(listeners.len()),
        };
        for l in listeners {
            s.add(l)?;
        }
        Ok(s)
    }

    /// Serves one more listener as well.
    pub fn add(&mut self, l: Listener) -> io::Result<()> {
        let addr = l.local_addr()?;
        self.server
            .register_socket(tokio::net::UdpSocket::from_std(l.udp)?);
        self.server.register_listener(
            tokio::net::TcpListener::from_std(l.tcp)?,
            TCP_IDLE,
            TCP_RESPONSE_QUEUE,
        );
        self.addrs.push(addr);
        Ok(())
    }

    /// Where it listens (UDP and TCP on each).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting, closes every socket and waits for the server's tasks.
    pub async fn shutdown(mut self) {
        if let Err(error) = self.server.shutdown_gracefully().await {
            tracing::warn!(%error, "the internet's DNS server stopped with an error");
        }
    }
}

/// The authority behind a bound on the queries it answers at once.
pub struct Bounded {
    authority: Arc<Authority>,
    in_flight: Semaphore,
}

impl Bounded {
    pub fn new(authority: Arc<Authority>) -> Self {
        Self::with_limit(authority, MAX_IN_FLIGHT)
    }

    /// At most `limit` queries answered at once.
    pub fn with_limit(authority: Arc<Authority>, limit: usize) -> Self {
        Self {
            authority,
            in_flight: Semaphore::new(limit),
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Bounded {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            tracing::debug!("DNS query dropped: too many in flight");
            return failed(request);
        };
        self.authority
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

/// What a handler reports for a query it could not answer.
pub(crate) fn failed(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// Answers one query given as wire bytes, without a socket: the handler's path as a
/// server takes it once the message parsed (`None`: it does not parse, or no answer).
/// The answer is not truncated (as over TCP).
pub async fn answer(
    handler: &impl RequestHandler,
    query: &[u8],
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let request = Request::from_bytes(query.to_vec(), src, protocol).ok()?;
    let sink = Collect::default();
    handler
        .handle_request::<_, TokioTime>(&request, sink.clone())
        .await;
    sink.0.lock().ok()?.pop()
}

/// A response handler that keeps the encoded answers.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Vec<u8>>>>);

#[async_trait::async_trait]
impl ResponseHandler for Collect {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        let info = response
            .destructive_emit(&mut encoder)
            .map_err(|e| NetError::from(e.to_string()))?;
        self.0
            .lock()
            .map_err(|_| NetError::from("poisoned"))?
            .push(bytes);
        Ok(info)
    }
}
