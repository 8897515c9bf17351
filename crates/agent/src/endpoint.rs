//! Interface VPC endpoints: each endpoint interface placed on this host is a port like an
//! instance's (the engine applies the VPC's network ACLs and the interface's security
//! groups to it), whose namespace — named by the interface id, `eni-…` — holds the
//! interface's address and, instead of an instance, a forwarder of the agent's: a
//! listener created inside the namespace on TCP port 80 whose connections are spliced to
//! the API (EC2, S3, Logs and STS on one HTTP endpoint) on the host's own network.
//!
//! With a certificate for the services' AWS names (`fort up` makes one, signed by a CA of
//! its own), the forwarder also ends TLS on port 443 and carries the plain HTTP inside to
//! the API, so SDKs and the AWS CLI reach `https://ec2.REGION.amazonaws.com` unchanged
//! (trusting that CA); without one, port 443 answers nothing.
//!
//! Before each connection's bytes the forwarder writes a PROXY v2 header
//! ([`fort_proto::proxy`]) naming the endpoint, the VPC and the client's address: the API
//! enforces the endpoint's policy by it.

pub use fort_host::forward::Forwarder;
use fort_host::forward::Listen;
use fort_sync::host_state::HostState;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The services whose endpoints the API answers (the ones Fort serves itself).
pub const API_SERVICES: &[&str] = &["ec2", "s3", "logs", "sts"];

/// The ports the forwarder listens on in the interface's namespace.
pub const HTTP_PORT: u16 = 80;
pub const HTTPS_PORT: u16 = 443;

/// What an endpoint interface placed on this host serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    pub vpc_endpoint_id: String,
    /// The interface's VPC (the client's, as the endpoint's policy sees it).
    pub vpc_id: String,
    /// The service's short name (`ec2`).
    pub service: String,
    /// Where its connections go: the API's address, for a service the API answers and a
    /// host that knows the address; else nothing answers in the namespace.
    pub target: Option<SocketAddrV4>,
}

/// The endpoint interfaces of the host's program, by ENI.
pub fn served(state: &HostState) -> BTreeMap<String, Served> {
    let api = state.service_address("api");
    let vpcs: BTreeMap<&str, &str> = state
        .ports()
        .map(|p| (p.id.as_str(), p.vpc_id.as_str()))
        .collect();
    state
        .endpoint_ports()
        .iter()
        .map(|(eni, p)| {
            let target = api.filter(|_| API_SERVICES.contains(&p.service.as_str()));
            (
                eni.clone(),
                Served {
                    vpc_endpoint_id: p.vpc_endpoint_id.clone(),
                    vpc_id: vpcs
                        .get(eni.as_str())
                        .copied()
                        .unwrap_or_default()
                        .to_owned(),
                    service: p.service.clone(),
                    target,
                },
            )
        })
        .collect()
}

/// The PROXY header of a connection from `peer` to `local` through endpoint `served`
/// (`tls`: over HTTPS).
pub fn preamble(served: &Served, peer: SocketAddr, local: SocketAddr, tls: bool) -> Vec<u8> {
    let addresses = match (peer, local) {
        (SocketAddr::V4(p), SocketAddr::V4(l)) => Some((p, l)),
        _ => None,
    };
    fort_proto::proxy::encode(&fort_proto::proxy::Origin {
        addresses,
        vpc_endpoint_id: Some(served.vpc_endpoint_id.clone()),
        vpc_id: Some(served.vpc_id.clone()).filter(|v| !v.is_empty()),
        tls,
    })
}

/// Starts the forwarder of an endpoint interface's namespace `ns`: port 80 on every
/// address there, and 443 ending `tls` when there is one, spliced to the API at `target`
/// after a PROXY header naming the endpoint `served`.
pub fn forward(
    ns: &str,
    served: &Served,
    target: SocketAddrV4,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    runtime: &tokio::runtime::Handle,
) -> io::Result<Forwarder> {
    let mut listen = vec![Listen::plain(SocketAddr::from((
        Ipv4Addr::UNSPECIFIED,
        HTTP_PORT,
    )))];
    if let Some(tls) = tls {
        listen.push(Listen {
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, HTTPS_PORT)),
            tls: Some(tls),
        });
    }
    let served = served.clone();
    let preamble: fort_host::forward::Preamble =
        std::sync::Arc::new(move |peer, local, tls| Some(preamble(&served, peer, local, tls)));
    Forwarder::start(ns, &listen, target, preamble, runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_proto::mapping::item_value::Kind as V;
    use fort_proto::mapping::{self as pb, Item, ItemKey, ItemValue, ProgramUpdate};

    fn item(key: ItemKey, value: V) -> Item {
        Item {
            key: Some(key),
            value: Some(ItemValue { kind: Some(value) }),
        }
    }

    fn port(id: &str, service: &str) -> Item {
        item(
            ItemKey::port(id),
            V::Port(pb::Port {
                id: id.into(),
                vpc_id: "vpc-1".into(),
                subnet_id: "subnet-1".into(),
                mac: vec![2, 0, 0, 0, 0, 9],
                primary_ip: Some(u32::from(Ipv4Addr::new(10, 0, 1, 9))),
                endpoint: Some(pb::EndpointPort {
                    vpc_endpoint_id: "vpce-1".into(),
                    service: service.into(),
                }),
                ..Default::default()
            }),
        )
    }

    #[test]
    fn endpoint_ports_forward_to_the_api_for_the_services_it_answers() {
        let api = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8773);
        let mut state = HostState::default();
        state
            .apply(ProgramUpdate {
                epoch: 1,
                base_generation: 0,
                generation: 1,
                snapshot: true,
                put: vec![
                    port("eni-a", "ec2"),
                    port("eni-b", "sqs"),
                    item(
                        ItemKey::service("api"),
                        V::Service(pb::ServiceAddress {
                            ip: u32::from(*api.ip()),
                            port: 8773,
                        }),
                    ),
                ],
                delete: vec![],
            })
            .unwrap();
        let s = served(&state);
        assert_eq!(s["eni-a"].target, Some(api));
        assert_eq!(s["eni-a"].vpc_endpoint_id, "vpce-1");
        assert_eq!(s["eni-a"].vpc_id, "vpc-1");
        // each connection's header names the endpoint, the VPC and the client
        let peer = SocketAddr::from((Ipv4Addr::new(10, 0, 1, 5), 40_000));
        let local = SocketAddr::from((Ipv4Addr::new(10, 0, 1, 9), 443));
        let header = preamble(&s["eni-a"], peer, local, true);
        let fort_proto::proxy::Parsed::Header { origin, len } = fort_proto::proxy::parse(&header)
        else {
            panic!("not a header")
        };
        assert_eq!(len, header.len());
        assert_eq!(origin.vpc_endpoint_id.as_deref(), Some("vpce-1"));
        assert_eq!(origin.vpc_id.as_deref(), Some("vpc-1"));
        assert!(origin.tls);
        assert_eq!(origin.addresses.map(|(p, _)| SocketAddr::V4(p)), Some(peer));
        assert_eq!(s["eni-b"].target, None, "Fort does not serve SQS");
        // the port is an ordinary port of the engine's program, with no instance
        let p = state.structure(Default::default());
        assert_eq!(p.ports.len(), 2);
        assert!(p.ports.iter().all(|p| p.instance_id.is_none()));
    }
}
