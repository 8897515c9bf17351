//! A TCP forwarder whose listeners live in another network namespace: each socket is
//! made by a short-lived thread that enters the namespace (the kernel keeps a socket in
//! the namespace it was made in), then served from the caller's tokio runtime, which
//! connects to the target from the process's own namespace. VPC endpoints use it to
//! reach the API from inside a namespace without routing the namespace anywhere.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;

use tokio::task::{JoinHandle, JoinSet};

use crate::sys;

/// Running listeners: their accept loops own every connection they spliced, so all end
/// when it is stopped (or dropped).
pub struct Forwarder {
    pub target: SocketAddrV4,
    tasks: Vec<JoinHandle<()>>,
}

impl Forwarder {
    /// Listens on `listen` inside namespace `ns` (`/run/netns/NS`) and splices each
    /// connection to `target`.
    pub fn start(
        ns: &str,
        listen: &[SocketAddr],
        target: SocketAddrV4,
        runtime: &tokio::runtime::Handle,
    ) -> io::Result<Forwarder> {
        let path = Path::new("/run/netns").join(ns);
        let addrs = listen.to_vec();
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
            .map(|l| runtime.spawn(serve(l, ns.to_owned(), target)))
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

async fn serve(listener: std::net::TcpListener, ns: String, target: SocketAddrV4) {
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
                Ok((inbound, _)) => {
                    connections.spawn(splice(inbound, target));
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

/// Carries one connection to `target` and back until either side closes.
async fn splice(mut inbound: tokio::net::TcpStream, target: SocketAddrV4) {
    let mut outbound = match tokio::net::TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%target, error = %e, "forwarder cannot reach its target");
            return;
        }
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}
