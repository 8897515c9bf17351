//! VPC endpoint policies, enforced for the services Fort serves itself.
//!
//! A host's forwarder (the agent's at an interface endpoint, the edge's at S3's addresses
//! for a gateway endpoint) starts each connection it carries to the API with a PROXY v2
//! header naming the endpoint and the VPC ([`fort_proto::proxy`]). [`ProxiedListener`]
//! reads it before HTTP and hands it to the request as [`Peer`]; a request that came
//! through an endpoint is then checked against the endpoint's current policy (read from
//! the state at each request, so ModifyVpcEndpoint holds for the next one): its action
//! (`ec2:DescribeVpcs`, `logs:PutLogEvents`, `sts:GetCallerIdentity`; S3's per operation,
//! see `fort_s3::access`) and resource, by [`fort_auth::policy`]. A denied request gets
//! its service's own error: EC2 `UnauthorizedOperation` (403), STS `AccessDenied` (403),
//! Logs `AccessDeniedException` (400), S3 `AccessDenied` (403). A connection without the
//! header (a caller of the API itself) is not an endpoint's and is not checked.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::http::StatusCode;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use fort_auth::policy::EndpointGate;
use fort_proto::proxy::{self, Origin, Parsed};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::server::Api;

/// Who a connection is: its address and, through an endpoint, what the forwarder said.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub origin: Option<Origin>,
}

impl Connected<IncomingStream<'_, ProxiedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, ProxiedListener>) -> Peer {
        stream.remote_addr().clone()
    }
}

/// How long a connection may take to show whether it starts with a header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections may start with a PROXY v2 header: read (and taken
/// off) before the connection is handed to HTTP, each on a task of its own so a slow
/// client holds no other.
pub struct ProxiedListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TcpStream, Peer)>,
    _accepting: tokio::task::JoinHandle<()>,
}

impl ProxiedListener {
    pub fn new(listener: TcpListener) -> io::Result<ProxiedListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(256);
        let accepting =
            tokio::spawn(async move {
                loop {
                    let (mut stream, addr) = match listener.accept().await {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::debug!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let origin =
                            match tokio::time::timeout(HEADER_TIMEOUT, read_origin(&mut stream))
                                .await
                            {
                                Ok(Ok(o)) => o,
                                Ok(Err(e)) => {
                                    tracing::debug!(%addr, error = %e, "connection refused");
                                    return;
                                }
                                Err(_) => None,
                            };
                        let _ = tx.send((stream, Peer { addr, origin })).await;
                    });
                }
            });
        Ok(ProxiedListener {
            local,
            ready,
            _accepting: accepting,
        })
    }
}

impl Drop for ProxiedListener {
    fn drop(&mut self) {
        self._accepting.abort();
    }
}

impl Listener for ProxiedListener {
    type Io = TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (TcpStream, Peer) {
        match self.ready.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Peer> {
        Ok(Peer {
            addr: self.local,
            origin: None,
        })
    }
}

/// Reads the header a connection starts with, if it does: peeked until it is known not
/// to be one (the first byte of HTTP already says so), then taken off the stream.
async fn read_origin(stream: &mut TcpStream) -> io::Result<Option<Origin>> {
    let mut buf = vec![0u8; proxy::FIXED_LEN + proxy::MAX_LEN];
    let mut want = proxy::FIXED_LEN;
    let mut last = 0;
    loop {
        let n = stream.peek(&mut buf[..want]).await?;
        if n == 0 {
            return Ok(None);
        }
        match proxy::parse(&buf[..n]) {
            Parsed::NotProxy => return Ok(None),
            Parsed::Invalid(why) => return Err(io::Error::other(why)),
            Parsed::Incomplete(total) => {
                want = total;
                if n == last {
                    // the rest is on its way: peek returns at once with what is there
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                last = n;
            }
            Parsed::Header { origin, len } => {
                let mut header = vec![0u8; len];
                stream.read_exact(&mut header).await?;
                return Ok(Some(origin));
            }
        }
    }
}

/// The gate of a request's endpoint, if it came through one: the endpoint's current
/// policy. An endpoint no longer in the state denies everything.
pub(crate) async fn gate(api: &Api, peer: Option<&Peer>) -> Option<EndpointGate> {
    let origin = peer?.origin.as_ref()?;
    let id = origin.vpc_endpoint_id.as_deref()?;
    let found = api
        .control
        .read_world(|w| {
            w.regions.values().find_map(|r| {
                r.vpc_endpoints
                    .values()
                    .find(|e| e.id.as_str() == id)
                    .map(|e| (e.vpc_id.to_string(), e.policy_document.clone()))
            })
        })
        .await;
    let (vpc, document) = found.unwrap_or_default();
    let vpc = origin.vpc_id.clone().unwrap_or(vpc);
    Some(EndpointGate::new(id, &vpc, &document).secure(origin.tls))
}

/// The peer of a request served through [`ProxiedListener`].
pub(crate) fn peer(req: &axum::extract::Request) -> Option<&Peer> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<Peer>>()
        .map(|c| &c.0)
}

/// EC2's answer to a denied action.
pub(crate) fn ec2_refusal(message: &str, request_id: &str) -> Response {
    let e = fort_model::ApiError::new(
        fort_model::ErrorCode::UnauthorizedOperation,
        format!("You are not authorized to perform this operation. {message}"),
    );
    crate::server::error_response(&e, request_id)
}

/// STS's and IAM's answer: `AccessDenied` in their Query protocol's error document
/// (`namespace` is the service's).
pub(crate) fn query_refusal(namespace: &str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        crate::xml::escape(message)
    );
    crate::server::xml_response(StatusCode::FORBIDDEN, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A connection with a header gives its origin and then its own bytes; one without
    /// gives its bytes untouched; a header that makes no sense closes the connection.
    #[tokio::test]
    async fn headers_are_read_and_taken_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut l = ProxiedListener::new(listener).unwrap();
        let origin = Origin {
            addresses: None,
            vpc_endpoint_id: Some("vpce-1".into()),
            vpc_id: Some("vpc-1".into()),
            tls: false,
        };
        let mut header = proxy::encode(&origin);
        let mut c = TcpStream::connect(addr).await.unwrap();
        // the header in two pieces, then HTTP
        let rest = header.split_off(10);
        c.write_all(&header).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.write_all(&rest).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let (mut s, peer) = l.accept().await;
        assert_eq!(peer.origin, Some(origin));
        let mut got = [0u8; 16];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"GET / HTTP/1.1\r\n");

        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
        let (mut s, peer) = l.accept().await;
        assert_eq!(peer.origin, None);
        let mut got = [0u8; 17];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"POST / HTTP/1.1\r\n");

        let mut bad = proxy::encode(&Origin::default());
        bad[12] = 0x11;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&bad).await.unwrap();
        let mut one = [0u8; 1];
        assert_eq!(c.read(&mut one).await.unwrap_or(0), 0, "closed");
    }
}
