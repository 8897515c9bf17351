//! A TCP forwarder whose listeners live in another network namespace: each socket is
//! made by a short-lived thread that enters the namespace (the kernel keeps a socket in
//! the namespace it was made in), then served from the caller's tokio runtime, which
//! connects to the target from the process's own namespace. VPC endpoints use it to
//! reach the API from inside a namespace without routing the namespace anywhere. A
//! listener may end TLS first (HTTPS at an endpoint), so the target sees plain bytes.
//! Before a connection's bytes the forwarder writes what its [`Preamble`] gives for it
//! (the endpoints' PROXY header), so the target knows where the connection came from.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::sys;

/// Running listeners: their accept loops own every connection they spliced, so all end
/// when it is stopped (or dropped).
pub struct Forwarder {
    pub target: SocketAddrV4,
    tasks: Vec<JoinHandle<()>>,
}

/// One listener of a forwarder: its address, and the TLS it ends first, if any.
#[derive(Clone)]
pub struct Listen {
    pub addr: SocketAddr,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What the forwarder writes to the target before a connection's own bytes, given the
/// client's address, the address it reached and whether the listener ends TLS; `None`
/// refuses the connection (closed without a byte carried).
pub type Preamble = Arc<dyn Fn(SocketAddr, SocketAddr, bool) -> Option<Vec<u8>> + Send + Sync>;

/// A preamble that writes nothing.
pub fn no_preamble() -> Preamble {
    Arc::new(|_, _, _| Some(Vec::new()))
}

impl Listen {
    pub fn plain(addr: SocketAddr) -> Listen {
        Listen { addr, tls: None }
    }
}

impl Forwarder {
    /// Listens on `listen` inside namespace `ns` (`/run/netns/NS`) and splices each
    /// connection to `target`, after what `preamble` gives for it.
    pub fn start(
        ns: &str,
        listen: &[Listen],
        target: SocketAddrV4,
        preamble: Preamble,
        runtime: &tokio::runtime::Handle,
    ) -> io::Result<Forwarder> {
        let path = Path::new("/run/netns").join(ns);
        let addrs: Vec<SocketAddr> = listen.iter().map(|l| l.addr).collect();
        let listeners = sys::in_netns(&path, move || {
            addrs
                .iter()
                .map(|a| {
                    let l = std::net::TcpListener::bind(a)?;
                    l.set_nonblocking(true)?;
                    Ok(l)
                })
                .collect::<io::Result<Vec<_>>>()
        })?;
        let tasks = listeners
            .into_iter()
            .zip(listen)
            .map(|(l, how)| {
                let tls = how.tls.clone().map(TlsAcceptor::from);
                runtime.spawn(serve(l, ns.to_owned(), target, tls, preamble.clone()))
            })
            .collect();
        Ok(Forwarder { target, tasks })
    }

    /// Closes the listeners and every connection.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    ns: String,
    target: SocketAddrV4,
    tls: Option<TlsAcceptor>,
    preamble: Preamble,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(namespace = ns, error = %e, "forwarder cannot listen");
            return;
        }
    };
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((inbound, peer)) => {
                    let first = inbound
                        .local_addr()
                        .ok()
                        .and_then(|local| preamble(peer, local, tls.is_some()));
                    let Some(first) = first else {
                        tracing::debug!(namespace = ns, %peer, "connection refused by its preamble");
                        continue;
                    };
                    match (inbound.set_nodelay(true), tls.clone()).1 {
                        None => {
                            connections.spawn(splice(inbound, target, first));
                        }
                        Some(acceptor) => {
                            connections.spawn(async move {
                                match acceptor.accept(inbound).await {
                                    Ok(stream) => splice(stream, target, first).await,
                                    Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(namespace = ns, error = %e, "forwarder accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            // reap finished connections
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Carries one connection to `target`, after `first`, and back until either side closes.
async fn splice<S>(mut inbound: S, target: SocketAddrV4, first: Vec<u8>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut outbound = match tokio::net::TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%target, error = %e, "forwarder cannot reach its target");
            return;
        }
    };
    let _ = outbound.set_nodelay(true);
    if !first.is_empty() {
        use tokio::io::AsyncWriteExt;
        if let Err(e) = outbound.write_all(&first).await {
            tracing::debug!(%target, error = %e, "forwarder cannot write its preamble");
            return;
        }
    }
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

/// A TLS server configuration from PEM files: the certificate chain (leaf first) and its
/// private key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}
