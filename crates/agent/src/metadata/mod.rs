//! Instance metadata at 169.254.169.254, answered by the instance's own host, as AWS's
//! Nitro card answers it: never leaving the host, never filtered by security groups or
//! network ACLs.
//!
//! The engine hands the agent every frame an instance sends to 169.254.169.254
//! (`Verdict::Service`). The agent's data path rewrites it ([`nat`]) and writes it to a
//! TAP whose other end is `imds0` in a namespace of the agent's own
//! (`fort-imds-UNDERLAY`), where the kernel's TCP carries it to an HTTP server ([`server`])
//! listening on 169.254.169.254:80. So the connection is real TCP, and the answer to a
//! token request leaves with the instance's hop limit as its IP TTL: one hop too far and
//! it expires, as on EC2. The tree served is [`tree`]'s, rebuilt from the host program
//! whenever it changes (an elastic IP, a group, a tag shows within a second).

pub mod nat;
pub mod server;
pub mod tree;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use fort_host::netns::{ip, netns_exists, remove_namespace};
use fort_host::sys::{self, Tap};

use crate::names;
use tree::InstanceView;

/// Who answers for which port: the data path's slots, the session's views.
#[derive(Default)]
pub struct Directory {
    /// Port slot → ENI (the data path's numbering).
    slots: HashMap<u16, String>,
    /// ENI → its instance's view.
    views: BTreeMap<String, Arc<InstanceView>>,
}

impl Directory {
    /// The view of the instance whose port is in `slot`.
    pub fn by_slot(&self, slot: u16) -> Option<Arc<InstanceView>> {
        self.views.get(self.slots.get(&slot)?).cloned()
    }

    pub fn set_slots(&mut self, slots: HashMap<u16, String>) {
        self.slots = slots;
    }

    pub fn set_views(&mut self, views: BTreeMap<String, Arc<InstanceView>>) {
        self.views = views;
    }
}

/// The running service: its namespace, and the TAP the data path reads and writes.
pub struct Metadata {
    pub namespace: String,
    pub tap: Arc<Tap>,
    pub directory: Arc<RwLock<Directory>>,
    task: tokio::task::JoinHandle<()>,
}

impl Metadata {
    /// Creates the namespace and its link, and starts the HTTP server in it.
    pub async fn start(underlay: std::net::Ipv4Addr) -> anyhow::Result<Metadata> {
        let ns = names::metadata_namespace(underlay);
        if netns_exists(&ns) {
            remove_namespace(&ns);
        }
        ip(&["netns", "add", &ns])?;
        let setup = || -> anyhow::Result<(Tap, std::net::TcpListener)> {
            let tap_name = names::metadata_tap(underlay);
            // a TAP of ours that is not persistent: it goes with the agent
            let tap = Tap::open(&tap_name, false).context("creating the metadata TAP")?;
            tap.set_persist(false)?;
            ip(&["link", "set", &tap_name, "netns", &ns])?;
            let service_mac = nat::SERVICE_MAC.to_string();
            let agent_mac = nat::AGENT_MAC.to_string();
            let hop = nat::NEXT_HOP.to_string();
            let aliases = format!(
                "{}/{}",
                std::net::Ipv4Addr::from(nat::ALIAS_BASE),
                nat::ALIAS_PREFIX
            );
            let service = format!("{}/32", nat::SERVICE_IP);
            for args in [
                &["link", "set", &tap_name, "name", "imds0"][..],
                &[
                    "link",
                    "set",
                    "imds0",
                    "address",
                    &service_mac,
                    "mtu",
                    "9001",
                    "up",
                ],
                &["link", "set", "lo", "up"],
                &["addr", "add", &service, "dev", "imds0"],
                &[
                    "neigh",
                    "add",
                    &hop,
                    "lladdr",
                    &agent_mac,
                    "dev",
                    "imds0",
                    "nud",
                    "permanent",
                ],
                &[
                    "route", "add", &aliases, "via", &hop, "dev", "imds0", "onlink",
                ],
            ] {
                let mut full = vec!["-n", ns.as_str()];
                full.extend_from_slice(args);
                ip(&full)?;
            }
            let path = std::path::Path::new("/run/netns").join(&ns);
            let listener = sys::in_netns(&path, || {
                let l = std::net::TcpListener::bind(SocketAddr::from((nat::SERVICE_IP, 80)))?;
                l.set_nonblocking(true)?;
                Ok(l)
            })
            .context("binding 169.254.169.254:80 in the metadata namespace")?;
            Ok((tap, listener))
        };
        let (tap, listener) = match setup() {
            Ok(x) => x,
            Err(e) => {
                remove_namespace(&ns);
                return Err(e);
            }
        };
        let directory = Arc::new(RwLock::new(Directory::default()));
        let svc = Arc::new(server::Service {
            directory: directory.clone(),
            tokens: server::Tokens::default(),
        });
        let listener = server::MetadataListener(tokio::net::TcpListener::from_std(listener)?);
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(svc)
            .into_make_service_with_connect_info::<server::Peer>();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metadata service stopped");
            }
        });
        Ok(Metadata {
            namespace: ns,
            tap: Arc::new(tap),
            directory,
            task,
        })
    }

    /// Stops the server and removes the namespace (its link goes with the TAP).
    pub fn stop(&self) {
        self.task.abort();
        remove_namespace(&self.namespace);
    }
}
