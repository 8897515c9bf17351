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
//!
//! The VPC resolver ([`resolver`]) lives in the same namespace, at 169.254.169.253 and
//! 169.254.169.252 (what instances send to their VPC's base + 2), on hickory's server.
//! Both answer over IPv6 too, at Nitro's addresses (`fd00:ec2::254` for metadata, only
//! for instances whose HttpProtocolIpv6 is enabled; `fd00:ec2::253`).
//!
//! The Amazon Time Sync Service ([`time_sync`], NTP by [`ntp`]) answers there too, at
//! 169.254.169.123 and `fd00:ec2::123`, UDP 123, from the host's clock.

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod nat;
pub mod ntp;
pub mod resolver;
pub mod server;
pub mod time_sync;
pub mod tree;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use fort_host::netns::{ip, netns_exists, remove_namespace};
use fort_host::sys::{self, Tap};

use crate::names;
use fort_sync::host_state::HostState;
use tree::InstanceView;

/// Who answers for which port: the data path's slots, the session's views.
#[derive(Default)]
pub struct Directory {
    /// Port slot → ENI (the data path's numbering).
    slots: HashMap<u16, String>,
    /// ENI → its instance's view.
    views: BTreeMap<String, Arc<InstanceView>>,
    /// ENI → its VPC's view, for the resolver.
    vpcs: BTreeMap<String, Arc<resolver::VpcView>>,
}

/// Each port's VPC, as the resolver sees it: by ENI.
pub fn vpc_views(state: &HostState) -> BTreeMap<String, Arc<resolver::VpcView>> {
    let publics: Vec<(&str, std::net::Ipv4Addr, std::net::Ipv4Addr)> = state.public_ips().collect();
    let public_of = |vpc_id: &str| -> HashMap<std::net::Ipv4Addr, std::net::Ipv4Addr> {
        publics
            .iter()
            .filter(|(vpc, _, _)| *vpc == vpc_id)
            .map(|&(_, private, public)| (public, private))
            .collect()
    };
    let by_vpc: BTreeMap<&str, Arc<resolver::VpcView>> = state
        .vpc_headers()
        .filter_map(|v| {
            let dns = state.vpc_dns(&v.id)?;
            Some((
                v.id.as_str(),
                Arc::new(resolver::VpcView {
                    support: dns.support,
                    hostnames: dns.hostnames,
                    region: dns.region.clone(),
                    cidrs: v.cidrs.clone(),
                    public: public_of(&v.id),
                    peers: dns
                        .resolvable_peers
                        .iter()
                        .filter_map(|peer| {
                            let theirs = state.vpc_dns(peer)?;
                            (theirs.support && theirs.hostnames).then(|| resolver::PeerNames {
                                region: theirs.region.clone(),
                                public: public_of(peer),
                            })
                        })
                        .collect(),
                    zones: state
                        .private_zones(&v.id)
                        .map(resolver::Zone::from_item)
                        .collect(),
                    names: state
                        .instance_names(&v.id)
                        .map(|n| (n.instance_id.clone(), resolver::ResourceName::from_item(n)))
                        .collect(),
                    endpoints: resolver::endpoint_names(state.endpoint_names(&v.id)),
                }),
            ))
        })
        .collect();
    state
        .ports()
        .filter_map(|p| Some((p.id.clone(), by_vpc.get(p.vpc_id.as_str())?.clone())))
        .collect()
}

impl Directory {
    /// The VPC of the port in `slot`, for its resolver.
    pub fn vpc_by_slot(&self, slot: u16) -> Option<Arc<resolver::VpcView>> {
        self.vpcs.get(self.slots.get(&slot)?).cloned()
    }

    pub fn set_vpcs(&mut self, vpcs: BTreeMap<String, Arc<resolver::VpcView>>) {
        self.vpcs = vpcs;
    }

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
    dns: tokio::sync::Mutex<Option<hickory_server::Server<resolver::Resolver>>>,
    /// The time sync service's tasks, one a socket.
    time_sync: Vec<tokio::task::JoinHandle<()>>,
}

/// The resolver's UDP socket and TCP listener on one address.
struct DnsSockets {
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
}

impl DnsSockets {
    fn bind(addr: SocketAddr) -> std::io::Result<DnsSockets> {
        let udp = std::net::UdpSocket::bind(addr)?;
        let tcp = std::net::TcpListener::bind(addr)?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok(DnsSockets { udp, tcp })
    }
}

impl Metadata {
    /// Creates the namespace and its link, and starts the HTTP server, the resolver and
    /// the time sync service in it (counting its requests in `ntp_stats`).
    pub async fn start(
        underlay: std::net::Ipv4Addr,
        internet_dns: Option<SocketAddr>,
        ntp_stats: Arc<time_sync::Stats>,
    ) -> anyhow::Result<Metadata> {
        let ns = names::metadata_namespace(underlay);
        if netns_exists(&ns) {
            remove_namespace(&ns);
        }
        ip(&["netns", "add", &ns])?;
        type Sockets = (
            Tap,
            Vec<std::net::TcpListener>,
            Vec<DnsSockets>,
            Vec<std::net::UdpSocket>,
        );
        let setup = || -> anyhow::Result<Sockets> {
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
            let resolver = format!("{}/32", nat::RESOLVER_IP);
            let vpc_resolver = format!("{}/32", nat::VPC_RESOLVER_IP);
            let service6 = format!("{}/128", nat::SERVICE_IP6);
            let resolver6 = format!("{}/128", nat::RESOLVER_IP6);
            let ntp = format!("{}/32", time_sync::TIME_SYNC_IP);
            let ntp6 = format!("{}/128", time_sync::TIME_SYNC_IP6);
            let hop6 = nat::NEXT_HOP6.to_string();
            let aliases6 = format!("{}/{}", nat::ALIAS6_PREFIX, nat::ALIAS6_PREFIX_LEN);
            let path = std::path::Path::new("/run/netns").join(&ns);
            // the link speaks to the agent alone: no router solicitations, no duplicate
            // address detection (the addresses are usable at once)
            let link = tap_name.clone();
            sys::in_netns(&path, move || {
                for conf in ["default", link.as_str()] {
                    for knob in ["accept_ra", "accept_dad", "router_solicitations"] {
                        std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/{knob}"), "0")?;
                    }
                }
                Ok(())
            })
            .context("quieting IPv6 in the link-local services' namespace")?;
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
                &["addr", "add", &resolver, "dev", "imds0"],
                &["addr", "add", &vpc_resolver, "dev", "imds0"],
                &["addr", "add", &ntp, "dev", "imds0"],
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
                &["-6", "addr", "add", &service6, "dev", "imds0", "nodad"],
                &["-6", "addr", "add", &resolver6, "dev", "imds0", "nodad"],
                &["-6", "addr", "add", &ntp6, "dev", "imds0", "nodad"],
                &[
                    "-6",
                    "neigh",
                    "add",
                    &hop6,
                    "lladdr",
                    &agent_mac,
                    "dev",
                    "imds0",
                    "nud",
                    "permanent",
                ],
                &[
                    "-6", "route", "add", &aliases6, "via", &hop6, "dev", "imds0",
                ],
            ] {
                let mut full = vec!["-n", ns.as_str()];
                full.extend_from_slice(args);
                ip(&full)?;
            }
            let (listener, dns, ntp) = sys::in_netns(&path, || {
                let listeners = [
                    SocketAddr::from((nat::SERVICE_IP, 80)),
                    SocketAddr::from((nat::SERVICE_IP6, 80)),
                ]
                .into_iter()
                .map(|a| {
                    let l = std::net::TcpListener::bind(a)?;
                    l.set_nonblocking(true)?;
                    Ok(l)
                })
                .collect::<std::io::Result<Vec<_>>>()?;
                let dns = [
                    IpAddr::from(nat::RESOLVER_IP),
                    IpAddr::from(nat::VPC_RESOLVER_IP),
                    IpAddr::from(nat::RESOLVER_IP6),
                ]
                .into_iter()
                .map(|ip| DnsSockets::bind(SocketAddr::from((ip, 53))))
                .collect::<std::io::Result<Vec<_>>>()?;
                let ntp = time_sync::ADDRESSES
                    .into_iter()
                    .map(|a| {
                        let s = std::net::UdpSocket::bind(a)?;
                        s.set_nonblocking(true)?;
                        Ok(s)
                    })
                    .collect::<std::io::Result<Vec<_>>>()?;
                Ok((listeners, dns, ntp))
            })
            .context("binding the link-local services in their namespace")?;
            Ok((tap, listener, dns, ntp))
        };
        let (tap, listener, dns, ntp) = match setup() {
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
        let listener = server::MetadataListener::new(
            listener
                .into_iter()
                .map(tokio::net::TcpListener::from_std)
                .collect::<std::io::Result<Vec<_>>>()?,
        );
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(svc)
            .into_make_service_with_connect_info::<server::Peer>();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metadata service stopped");
            }
        });
        let mut dns_server =
            hickory_server::Server::new(resolver::Resolver::new(directory.clone(), internet_dns));
        for s in dns {
            dns_server.register_socket(tokio::net::UdpSocket::from_std(s.udp)?);
            dns_server.register_listener(
                tokio::net::TcpListener::from_std(s.tcp)?,
                std::time::Duration::from_secs(5),
                32,
            );
        }
        let info = ntp::ServerInfo::amazon(underlay);
        let time_sync = ntp
            .into_iter()
            .map(|s| {
                let s = tokio::net::UdpSocket::from_std(s)?;
                Ok(tokio::spawn(time_sync::serve(s, info, ntp_stats.clone())))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Metadata {
            namespace: ns,
            tap: Arc::new(tap),
            directory,
            task,
            dns: tokio::sync::Mutex::new(Some(dns_server)),
            time_sync,
        })
    }

    /// Stops the servers and removes the namespace (its link goes with the TAP).
    pub async fn stop(&self) {
        self.task.abort();
        for t in &self.time_sync {
            t.abort();
        }
        if let Some(mut s) = self.dns.lock().await.take() {
            let _ = s.shutdown_gracefully().await;
        }
        remove_namespace(&self.namespace);
    }
}
