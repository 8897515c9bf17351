//! The VPC resolver (base + 2 and 169.254.169.253), as Route 53 Resolver answers an
//! instance: its VPC's own names, and everything else forwarded to the internet's DNS.
//! Built on hickory: the namespace's kernel carries UDP and TCP to hickory's server,
//! whose handler is this.
//!
//! * enableDnsSupport off: no answer at all.
//! * A name inside a private hosted zone associated with the VPC is answered from the
//!   most specific such zone (CNAMEs and aliases followed within it; a name it lacks is
//!   NXDOMAIN, never forwarded), as Route 53 Resolver gives private zones precedence.
//! * `ip-A-B-C-D.ec2.internal` (us-east-1) or `ip-A-B-C-D.REGION.compute.internal`, for
//!   an address in the VPC's blocks: A; its reverse (`D.C.B.A.in-addr.arpa`): PTR. Other
//!   names in that domain: NXDOMAIN.
//! * An instance's resource name (`i-….ec2.internal`, `i-….REGION.compute.internal`):
//!   A when the instance has EnableResourceNameDnsARecord on, AAAA (its primary
//!   interface's first IPv6 address) when it has EnableResourceNameDnsAAAARecord on and
//!   an IPv6 address, NODATA for the other types of a name with either record on,
//!   NXDOMAIN when both are off. The IP name of a resource-named instance still answers,
//!   and its address's PTR is still the IP name: "DNS queries for both IP names and
//!   resource names coexist [...] For private DNS hostnames based on IP names, [...] DNS
//!   A record queries are always responded to irrespective of the guest OS hostname
//!   settings" (EC2 user guide, "Amazon EC2 instance hostname types"). That page says
//!   nothing of reverse lookups for resource names, so they keep the IP name every
//!   address of the VPC has.
//! * With enableDnsHostnames, an instance's public DNS name answers its private address
//!   inside the VPC (outside, the internet's DNS does not know it).
//! * The rest goes to the internet's DNS (`fort up` runs one), or is NXDOMAIN when the
//!   agent has none.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fort_model::dns_name::{dashed_address, is_instance_label, private_domain, public_domain};
use hickory_proto::op::{Header, HeaderCounts, Message, Metadata, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use ipnet::Ipv4Net;
use tokio::sync::Semaphore;

use super::Directory;

/// TTL of the VPC's own answers, in seconds.
const TTL: u32 = 60;
/// How long a forwarded query waits for the internet's answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// Queries answered at once (beyond, dropped: the client retries).
const MAX_IN_FLIGHT: usize = 512;

/// What the resolver knows of one VPC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VpcView {
    pub support: bool,
    pub hostnames: bool,
    pub region: String,
    pub cidrs: Vec<Ipv4Net>,
    /// Public address → private, for the VPC's public DNS names.
    pub public: HashMap<Ipv4Addr, Ipv4Addr>,
    /// The same for each peer VPC whose side of an active peering allows DNS resolution
    /// from this VPC (AllowDnsResolutionFromRemoteVpc), and has DNS hostnames.
    pub peers: Vec<PeerNames>,
    /// The private hosted zones associated with the VPC.
    pub zones: Vec<Zone>,
    /// The resource names of the VPC's instances (on every host), by instance id.
    pub names: HashMap<String, ResourceName>,
    /// The names of the VPC's interface endpoints (lower case, no trailing dot) and
    /// their interfaces' addresses: the `vpce-…` names and, with private DNS, the
    /// service's own name, which so answers differently inside this VPC only.
    pub endpoints: HashMap<String, Vec<Ipv4Addr>>,
}

/// A peer VPC's public DNS names as this VPC's resolver answers them: their private
/// addresses, as Route 53 Resolver does across a peering that allows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerNames {
    /// The peer's region (its names' domain: peerings cross regions).
    pub region: String,
    /// Public address → private.
    pub public: HashMap<Ipv4Addr, Ipv4Addr>,
}

/// What the resolver answers for an instance's resource name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceName {
    /// The instance's primary private address (none in an IPv6-only subnet).
    pub ip: Option<Ipv4Addr>,
    /// EnableResourceNameDnsARecord.
    pub a_record: bool,
    /// EnableResourceNameDnsAAAARecord.
    pub aaaa_record: bool,
    /// The primary interface's first IPv6 address: the AAAA record's.
    pub ipv6: Option<Ipv6Addr>,
}

impl ResourceName {
    pub fn from_item(n: &fort_proto::mapping::InstanceName) -> ResourceName {
        ResourceName {
            ip: n.ip.map(Ipv4Addr::from),
            a_record: n.a_record,
            aaaa_record: n.aaaa_record,
            // 16 bytes or none (checked on arrival)
            ipv6: <[u8; 16]>::try_from(&n.ipv6[..]).ok().map(Ipv6Addr::from),
        }
    }
}

/// The names of a VPC's interface endpoints as the resolver keeps them: each name with
/// the addresses of every endpoint naming it.
pub fn endpoint_names<'a>(
    items: impl Iterator<Item = &'a fort_proto::mapping::VpcEndpointNames>,
) -> HashMap<String, Vec<Ipv4Addr>> {
    let mut out: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
    for e in items {
        for n in &e.names {
            let ips = out
                .entry(n.name.trim_end_matches('.').to_ascii_lowercase())
                .or_default();
            ips.extend(n.ips.iter().map(|&ip| Ipv4Addr::from(ip)));
            ips.sort_unstable();
            ips.dedup();
        }
    }
    out
}

/// A private hosted zone: its record sets by (name, type), names lower case with their
/// trailing dot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub sets: HashMap<(String, String), ZoneSet>,
}

/// One record set: TTL and values as Route 53 keeps them, or an alias target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSet {
    pub ttl: u32,
    pub values: Vec<String>,
    pub alias: Option<String>,
}

impl Zone {
    pub fn from_item(z: &fort_proto::mapping::PrivateZone) -> Zone {
        Zone {
            name: z.name.clone(),
            sets: z
                .records
                .iter()
                .map(|r| {
                    let set = ZoneSet {
                        ttl: r.ttl,
                        values: r.values.clone(),
                        alias: r.alias.clone(),
                    };
                    ((r.name.clone(), r.r#type.clone()), set)
                })
                .collect(),
        }
    }

    fn holds(&self, fqdn: &str) -> bool {
        fqdn == self.name || fqdn.ends_with(&format!(".{}", self.name))
    }

    /// The answer for `fqdn` (inside the zone): its records of `qtype`, a CNAME chain
    /// followed within the zone, NODATA, or NXDOMAIN.
    fn answer(&self, fqdn: &str, qtype: RecordType) -> Local {
        let mut records = Vec::new();
        let mut name = fqdn.to_owned();
        for _ in 0..8 {
            let wanted = qtype.to_string();
            if let Some(set) = self.sets.get(&(name.clone(), wanted)) {
                records.extend(self.records_of(&name, qtype, set));
                return Local::Records(records);
            }
            let Some(cname) = self.sets.get(&(name.clone(), "CNAME".to_owned())) else {
                break;
            };
            records.extend(self.records_of(&name, RecordType::CNAME, cname));
            let Some(target) = cname.values.first().map(|t| fqdn_of(t)) else {
                break;
            };
            if !self.holds(&target) {
                // the client's resolver follows a target outside the zone
                return Local::Records(records);
            }
            name = target;
        }
        if !records.is_empty() {
            Local::Records(records)
        } else if self.sets.keys().any(|(n, _)| *n == name) {
            Local::NoData
        } else {
            Local::NxDomain
        }
    }

    /// A set's records under `owner` (an alias answers its target's records).
    fn records_of(&self, owner: &str, qtype: RecordType, set: &ZoneSet) -> Vec<Record> {
        let Ok(owner_name) = Name::from_ascii(owner) else {
            return Vec::new();
        };
        if let Some(target) = &set.alias {
            let target = fqdn_of(target);
            return match self.sets.get(&(target.clone(), qtype.to_string())) {
                Some(t) if t.alias.is_none() => self
                    .records_of(&target, qtype, t)
                    .into_iter()
                    .map(|mut r| {
                        r.name = owner_name.clone();
                        r
                    })
                    .collect(),
                _ => Vec::new(),
            };
        }
        set.values
            .iter()
            .filter_map(|v| rdata(qtype, v))
            .map(|d| Record::from_rdata(owner_name.clone(), set.ttl, d))
            .collect()
    }
}

/// `Name.` lower case with its trailing dot.
fn fqdn_of(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// A value as Route 53 keeps it, as record data of `qtype`.
fn rdata(qtype: RecordType, v: &str) -> Option<RData> {
    let name = |s: &str| Name::from_ascii(fqdn_of(s)).ok();
    let mut words = v.split_whitespace();
    Some(match qtype {
        RecordType::A => RData::A(A(v.trim().parse().ok()?)),
        RecordType::AAAA => RData::AAAA(AAAA(v.trim().parse().ok()?)),
        RecordType::CNAME => RData::CNAME(CNAME(name(v.trim())?)),
        RecordType::PTR => RData::PTR(PTR(name(v.trim())?)),
        RecordType::NS => RData::NS(NS(name(v.trim())?)),
        RecordType::MX => RData::MX(MX::new(words.next()?.parse().ok()?, name(words.next()?)?)),
        RecordType::SRV => RData::SRV(SRV::new(
            words.next()?.parse().ok()?,
            words.next()?.parse().ok()?,
            words.next()?.parse().ok()?,
            name(words.next()?)?,
        )),
        RecordType::TXT => RData::TXT(TXT::new(
            v.split('"').skip(1).step_by(2).map(str::to_owned).collect(),
        )),
        _ => return None,
    })
}

/// The public address a public DNS name of `region` spells (`ec2-A-B-C-D.DOMAIN`).
fn public_name_address(name: &str, region: &str) -> Option<Ipv4Addr> {
    let label = name.strip_suffix(public_domain(region).as_str())?;
    dashed_address(label.strip_suffix('.')?, "ec2-")
}

/// A local answer.
#[derive(Debug, PartialEq, Eq)]
enum Local {
    Records(Vec<Record>),
    NoData,
    NxDomain,
}

impl VpcView {
    fn has(&self, ip: Ipv4Addr) -> bool {
        self.cidrs.iter().any(|c| c.contains(&ip))
    }

    /// The answer from the VPC's own names; `None`: not a name of the VPC (forward it).
    fn local(&self, name: &str, qtype: RecordType) -> Option<Local> {
        let fqdn = fqdn_of(name);
        // an endpoint's names first: AWS keeps them in a zone of the name itself, more
        // specific than any the user associates
        if let Some(ips) = self.endpoints.get(fqdn.trim_end_matches('.')) {
            let owner = Name::from_ascii(&fqdn).ok()?;
            return Some(if qtype == RecordType::A && !ips.is_empty() {
                Local::Records(
                    ips.iter()
                        .map(|ip| Record::from_rdata(owner.clone(), TTL, RData::A(A(*ip))))
                        .collect(),
                )
            } else {
                Local::NoData
            });
        }
        if let Some(zone) = self
            .zones
            .iter()
            .filter(|z| z.holds(&fqdn))
            .max_by_key(|z| z.name.len())
        {
            return Some(zone.answer(&fqdn, qtype));
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        // S3's regional names answer an address of its prefix list, where Fort's S3
        // answers (through a gateway endpoint, or an internet gateway), as AWS's public
        // DNS answers one of S3's addresses; so do its virtual-hosted names
        // (`BUCKET.s3.REGION.amazonaws.com`, `BUCKET.s3.amazonaws.com`)
        let regional = format!("s3.{}.amazonaws.com", self.region);
        let is_s3 = |n: &str, base: &str| {
            n == base
                || n.strip_suffix(base)
                    .is_some_and(|b| b.len() > 1 && b.ends_with('.'))
        };
        if is_s3(&name, "s3.amazonaws.com") || is_s3(&name, &regional) {
            let ip = *fort_model::service_addresses("s3").first()?;
            let owner = Name::from_ascii(format!("{name}.")).ok()?;
            return Some(if qtype == RecordType::A {
                Local::Records(vec![Record::from_rdata(owner, TTL, RData::A(A(ip)))])
            } else {
                Local::NoData
            });
        }
        let domain = private_domain(&self.region);
        let record = |rdata: RData| {
            let owner = Name::from_ascii(format!("{name}.")).ok()?;
            Some(Local::Records(vec![Record::from_rdata(owner, TTL, rdata)]))
        };
        if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
            let o: Vec<u8> = rest.split('.').filter_map(|p| p.parse().ok()).collect();
            let [d, c, b, a] = o[..] else { return None };
            let ip = Ipv4Addr::new(a, b, c, d);
            if !self.has(ip) {
                return None;
            }
            if qtype != RecordType::PTR {
                return Some(Local::NoData);
            }
            let target = Name::from_ascii(format!("ip-{a}-{b}-{c}-{d}.{domain}.")).ok()?;
            return record(RData::PTR(PTR(target)));
        }
        if let Some(label) = name.strip_suffix(&format!(".{domain}")) {
            // the VPC's domain is answered here, never forwarded
            if is_instance_label(label) {
                return Some(match self.names.get(label) {
                    Some(ResourceName {
                        a_record: true,
                        ip: Some(ip),
                        ..
                    }) if qtype == RecordType::A => record(RData::A(A(*ip)))?,
                    Some(ResourceName {
                        aaaa_record: true,
                        ipv6: Some(six),
                        ..
                    }) if qtype == RecordType::AAAA => record(RData::AAAA(AAAA(*six)))?,
                    Some(n) if n.a_record || n.aaaa_record => Local::NoData,
                    _ => Local::NxDomain,
                });
            }
            return Some(match dashed_address(label, "ip-") {
                Some(ip) if self.has(ip) && qtype == RecordType::A => record(RData::A(A(ip)))?,
                Some(ip) if self.has(ip) => Local::NoData,
                _ => Local::NxDomain,
            });
        }
        if self.hostnames {
            let own = std::iter::once((&self.region, &self.public));
            let peers = self.peers.iter().map(|p| (&p.region, &p.public));
            if let Some(private) = own
                .chain(peers)
                .find_map(|(region, public)| public.get(&public_name_address(&name, region)?))
            {
                return Some(if qtype == RecordType::A {
                    record(RData::A(A(*private)))?
                } else {
                    Local::NoData
                });
            }
        }
        None
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl VpcView {
    /// A VPC with a public address: for tests and fuzzing.
    pub fn example() -> VpcView {
        VpcView {
            support: true,
            hostnames: true,
            region: "us-east-1".into(),
            cidrs: vec!["10.0.0.0/16".parse().expect("cidr")],
            public: [(Ipv4Addr::new(198, 51, 100, 7), Ipv4Addr::new(10, 0, 1, 5))].into(),
            peers: Vec::new(),
            zones: Vec::new(),
            names: [(
                "i-0123456789abcdef0".to_owned(),
                ResourceName {
                    ip: Some(Ipv4Addr::new(10, 0, 1, 5)),
                    a_record: true,
                    aaaa_record: false,
                    ipv6: None,
                },
            )]
            .into(),
            endpoints: [(
                "ec2.us-east-1.amazonaws.com".to_owned(),
                vec![Ipv4Addr::new(10, 0, 1, 9)],
            )]
            .into(),
        }
    }

    /// Whether the VPC answers `name` itself (else it is forwarded).
    pub fn answer_locally(&self, name: &str, qtype: RecordType) -> bool {
        self.local(name, qtype).is_some()
    }
}

/// The handler hickory's server calls for each query.
pub struct Resolver {
    pub directory: Arc<RwLock<Directory>>,
    /// The internet's DNS, for names that are not the VPC's.
    pub upstream: Option<SocketAddr>,
    in_flight: Semaphore,
}

impl Resolver {
    pub fn new(directory: Arc<RwLock<Directory>>, upstream: Option<SocketAddr>) -> Resolver {
        Resolver {
            directory,
            upstream,
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
        }
    }

    /// The internet's answer to the query as sent.
    async fn forward(&self, query: &[u8]) -> Option<Message> {
        let upstream = self.upstream?;
        let sock = tokio::net::UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
            .await
            .ok()?;
        sock.connect(upstream).await.ok()?;
        sock.send(query).await.ok()?;
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(FORWARD_TIMEOUT, sock.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        Message::from_vec(&buf[..n]).ok()
    }
}

fn no_answer(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Resolver {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return no_answer(request);
        };
        let vpc = super::server::caller(request.src().ip()).and_then(|(slot, _)| {
            let d = self.directory.read().ok()?;
            d.vpc_by_slot(slot)
        });
        // enableDnsSupport off (or a stranger): silence, as Route 53 Resolver
        let Some(vpc) = vpc.filter(|v| v.support) else {
            return no_answer(request);
        };
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let Ok(info) = request.request_info() else {
            let r = builder.error_msg(&request.metadata, ResponseCode::FormErr);
            return response_handle
                .send_response(r)
                .await
                .unwrap_or_else(|_| no_answer(request));
        };
        let local = vpc.local(&info.query.name().to_string(), info.query.query_type());
        let sent = match local {
            Some(Local::Records(records)) => {
                let r = builder.build(metadata, records.iter(), [], [], []);
                response_handle.send_response(r).await
            }
            Some(Local::NoData) => {
                let r = builder.build_no_records(metadata);
                response_handle.send_response(r).await
            }
            Some(Local::NxDomain) => {
                metadata.response_code = ResponseCode::NXDomain;
                let r = builder.build_no_records(metadata);
                response_handle.send_response(r).await
            }
            None => match self.forward(request.as_slice()).await {
                Some(m) => {
                    metadata.response_code = m.metadata.response_code;
                    metadata.truncation = m.metadata.truncation;
                    let r = builder.build(
                        metadata,
                        m.answers.iter(),
                        m.authorities.iter(),
                        [],
                        m.additionals.iter(),
                    );
                    response_handle.send_response(r).await
                }
                None if self.upstream.is_none() => {
                    metadata.response_code = ResponseCode::NXDomain;
                    let r = builder.build_no_records(metadata);
                    response_handle.send_response(r).await
                }
                None => {
                    metadata.response_code = ResponseCode::ServFail;
                    let r = builder.build_no_records(metadata);
                    response_handle.send_response(r).await
                }
            },
        };
        sent.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "cannot send a DNS answer");
            no_answer(request)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vpc(region: &str) -> VpcView {
        VpcView {
            support: true,
            hostnames: true,
            region: region.into(),
            cidrs: vec!["10.0.0.0/16".parse().unwrap()],
            public: [(Ipv4Addr::new(198, 51, 100, 7), Ipv4Addr::new(10, 0, 1, 5))].into(),
            peers: Vec::new(),
            zones: Vec::new(),
            names: HashMap::new(),
            endpoints: HashMap::new(),
        }
    }

    fn a_records(l: Option<Local>) -> Vec<Ipv4Addr> {
        match l {
            Some(Local::Records(r)) => r
                .iter()
                .filter_map(|r| match r.data {
                    RData::A(A(ip)) => Some(ip),
                    _ => None,
                })
                .collect(),
            other => panic!("not records: {other:?}"),
        }
    }

    /// An endpoint's `vpce-…` names and, with private DNS, the service's own name answer
    /// its interfaces' addresses in its VPC (and are forwarded as usual elsewhere).
    #[test]
    fn endpoint_names_answer_their_interfaces() {
        use fort_proto::mapping::{EndpointName, VpcEndpointNames};
        let a = Ipv4Addr::new(10, 0, 1, 9);
        let b = Ipv4Addr::new(10, 0, 2, 9);
        let item = VpcEndpointNames {
            vpc_endpoint_id: "vpce-1".into(),
            names: vec![
                EndpointName {
                    name: "vpce-1-abcd.ec2.us-east-1.vpce.amazonaws.com".into(),
                    ips: vec![a.into(), b.into()],
                },
                EndpointName {
                    name: "vpce-1-abcd-us-east-1a.ec2.us-east-1.vpce.amazonaws.com".into(),
                    ips: vec![a.into()],
                },
                EndpointName {
                    name: "ec2.us-east-1.amazonaws.com".into(),
                    ips: vec![a.into(), b.into()],
                },
            ],
        };
        let mut v = vpc("us-east-1");
        v.endpoints = endpoint_names([&item].into_iter());
        assert_eq!(
            a_records(v.local("EC2.us-east-1.amazonaws.com.", RecordType::A)),
            [a, b]
        );
        assert_eq!(
            a_records(v.local(
                "vpce-1-abcd-us-east-1a.ec2.us-east-1.vpce.amazonaws.com",
                RecordType::A
            )),
            [a]
        );
        assert_eq!(
            v.local("ec2.us-east-1.amazonaws.com", RecordType::AAAA),
            Some(Local::NoData)
        );
        // another service's name, and the same name in a VPC without the endpoint: forwarded
        assert_eq!(v.local("sts.us-east-1.amazonaws.com", RecordType::A), None);
        assert_eq!(
            vpc("us-east-1").local("ec2.us-east-1.amazonaws.com", RecordType::A),
            None
        );
    }

    /// S3's regional name answers the first address of its prefix list in every VPC.
    #[test]
    fn s3_names_answer_an_address_of_its_list() {
        let v = vpc("us-east-1");
        let ips = a_records(v.local("s3.us-east-1.amazonaws.com", RecordType::A));
        let blocks = fort_model::service_blocks("s3");
        assert_eq!(ips.len(), 1);
        assert!(blocks.iter().any(|b| b.contains(&ips[0])), "{ips:?}");
        assert_eq!(a_records(v.local("S3.amazonaws.com.", RecordType::A)), ips);
        // the virtual-hosted style: a bucket's own name
        for n in [
            "my-bucket.s3.us-east-1.amazonaws.com",
            "my.dotted.bucket.s3.amazonaws.com",
        ] {
            assert_eq!(a_records(v.local(n, RecordType::A)), ips, "{n}");
        }
        assert_eq!(v.local("xs3.amazonaws.com", RecordType::A), None);
        assert_eq!(v.local("b.s3.eu-west-1.amazonaws.com", RecordType::A), None);
        assert_eq!(v.local("s3.eu-west-1.amazonaws.com", RecordType::A), None);
    }

    fn set(values: &[&str]) -> ZoneSet {
        ZoneSet {
            ttl: 300,
            values: values.iter().map(|v| v.to_string()).collect(),
            alias: None,
        }
    }

    #[test]
    fn private_zones_come_first_and_chains_resolve() {
        let mut v = vpc("us-east-1");
        let mut corp = Zone {
            name: "corp.test.".into(),
            sets: HashMap::new(),
        };
        let mut put = |n: &str, t: &str, s: ZoneSet| corp.sets.insert((n.into(), t.into()), s);
        put("db.corp.test.", "A", set(&["10.0.1.9"]));
        put("www.corp.test.", "CNAME", set(&["web.corp.test"]));
        put("web.corp.test.", "CNAME", set(&["db.corp.test."]));
        put("mail.corp.test.", "MX", set(&["10 db.corp.test"]));
        put("txt.corp.test.", "TXT", set(&["\"v=spf1 -all\" \"two\""]));
        put(
            "apex.corp.test.",
            "A",
            ZoneSet {
                ttl: 60,
                values: vec![],
                alias: Some("db.corp.test.".into()),
            },
        );
        // a more specific zone wins for its names
        let mut inner = Zone {
            name: "in.corp.test.".into(),
            sets: HashMap::new(),
        };
        inner
            .sets
            .insert(("x.in.corp.test.".into(), "A".into()), set(&["10.0.2.2"]));
        v.zones = vec![corp, inner];
        assert_eq!(
            a(v.local("DB.corp.test", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 9))
        );
        let Some(Local::Records(chain)) = v.local("www.corp.test.", RecordType::A) else {
            panic!("no chain");
        };
        assert_eq!(chain.len(), 3, "two CNAMEs and the address: {chain:?}");
        assert_eq!(chain[2].data.to_string(), "10.0.1.9");
        assert_eq!(
            a(v.local("apex.corp.test.", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 9))
        );
        let Some(Local::Records(mx)) = v.local("mail.corp.test.", RecordType::MX) else {
            panic!("no MX");
        };
        assert_eq!(mx[0].data.to_string(), "10 db.corp.test.");
        let Some(Local::Records(txt)) = v.local("txt.corp.test.", RecordType::TXT) else {
            panic!("no TXT");
        };
        assert!(txt[0].data.to_string().contains("v=spf1 -all"));
        assert_eq!(
            v.local("db.corp.test.", RecordType::AAAA),
            Some(Local::NoData)
        );
        assert_eq!(
            v.local("nope.corp.test.", RecordType::A),
            Some(Local::NxDomain)
        );
        assert_eq!(
            a(v.local("x.in.corp.test.", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 2, 2))
        );
        assert_eq!(
            v.local("db.in.corp.test.", RecordType::A),
            Some(Local::NxDomain)
        );
        assert_eq!(v.local("www.example.test.", RecordType::A), None);
    }

    fn a(l: Option<Local>) -> Option<Ipv4Addr> {
        match l? {
            Local::Records(r) => match &r[0].data {
                RData::A(a) => Some(a.0),
                _ => None,
            },
            _ => None,
        }
    }

    /// A peer's public names answer its private addresses where the peering allows it
    /// (the peer is in `peers`), in the peer's region's domain; other public names are
    /// forwarded, as without the option.
    #[test]
    fn a_peers_public_names_answer_privately_where_the_peering_allows() {
        let mut v = vpc("us-east-1");
        v.peers = vec![PeerNames {
            region: "us-west-2".into(),
            public: [(Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(10, 1, 1, 7))].into(),
        }];
        assert_eq!(
            a(v.local(
                "ec2-203-0-113-9.us-west-2.compute.amazonaws.com.",
                RecordType::A
            )),
            Some(Ipv4Addr::new(10, 1, 1, 7))
        );
        assert_eq!(
            v.local(
                "ec2-203-0-113-9.us-west-2.compute.amazonaws.com",
                RecordType::AAAA
            ),
            Some(Local::NoData)
        );
        // the peer's address under this region's domain is not its name
        assert_eq!(
            v.local("ec2-203-0-113-9.compute-1.amazonaws.com", RecordType::A),
            None
        );
        // the VPC's own public names still answer
        assert_eq!(
            a(v.local("ec2-198-51-100-7.compute-1.amazonaws.com", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        // without DNS hostnames here, no public name answers privately
        v.hostnames = false;
        assert_eq!(
            v.local(
                "ec2-203-0-113-9.us-west-2.compute.amazonaws.com",
                RecordType::A
            ),
            None
        );
    }

    #[test]
    fn the_vpcs_own_names() {
        let v = vpc("us-east-1");
        assert_eq!(
            a(v.local("ip-10-0-1-5.ec2.internal.", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        assert_eq!(
            a(v.local("IP-10-0-1-5.EC2.Internal", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        assert_eq!(
            v.local("ip-10-0-1-5.ec2.internal.", RecordType::AAAA),
            Some(Local::NoData)
        );
        assert_eq!(
            v.local("ip-10-9-1-5.ec2.internal", RecordType::A),
            Some(Local::NxDomain)
        );
        assert_eq!(
            v.local("other.ec2.internal", RecordType::A),
            Some(Local::NxDomain)
        );
        assert_eq!(
            v.local("www.example.test.", RecordType::A),
            None,
            "forwarded"
        );
        let Some(Local::Records(ptr)) = v.local("5.1.0.10.in-addr.arpa.", RecordType::PTR) else {
            panic!("no PTR");
        };
        assert_eq!(ptr[0].data.to_string(), "ip-10-0-1-5.ec2.internal.");
        assert_eq!(
            v.local("5.1.0.11.in-addr.arpa.", RecordType::PTR),
            None,
            "not the VPC's"
        );
        // public names answer the private address inside the VPC
        assert_eq!(
            a(v.local("ec2-198-51-100-7.compute-1.amazonaws.com", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        let mut off = vpc("us-east-1");
        off.hostnames = false;
        assert_eq!(
            off.local("ec2-198-51-100-7.compute-1.amazonaws.com", RecordType::A),
            None
        );
        // elsewhere: REGION.compute.internal
        let w = vpc("eu-west-1");
        assert_eq!(
            a(w.local("ip-10-0-1-5.eu-west-1.compute.internal", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        assert_eq!(
            a(w.local(
                "ec2-198-51-100-7.eu-west-1.compute.amazonaws.com",
                RecordType::A
            )),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
    }

    #[test]
    fn resource_names_answer_as_their_instances_ask() {
        let mut v = vpc("us-east-1");
        let name = |ip: [u8; 4], a_record: bool, aaaa_record: bool| ResourceName {
            ip: Some(Ipv4Addr::from(ip)),
            a_record,
            aaaa_record,
            ipv6: None,
        };
        v.names = [
            (
                "i-0aaaaaaaaaaaaaaa1".to_owned(),
                name([10, 0, 1, 5], true, false),
            ),
            (
                "i-0aaaaaaaaaaaaaaa2".to_owned(),
                name([10, 0, 2, 7], false, false),
            ),
            (
                "i-0aaaaaaaaaaaaaaa3".to_owned(),
                name([10, 0, 2, 8], false, true),
            ),
        ]
        .into();
        assert_eq!(
            a(v.local("i-0aaaaaaaaaaaaaaa1.ec2.internal.", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        assert_eq!(
            a(v.local("I-0AAAAAAAAAAAAAAA1.EC2.INTERNAL", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        assert_eq!(
            v.local("i-0aaaaaaaaaaaaaaa1.ec2.internal.", RecordType::AAAA),
            Some(Local::NoData)
        );
        // A records off: the name does not exist
        assert_eq!(
            v.local("i-0aaaaaaaaaaaaaaa2.ec2.internal.", RecordType::A),
            Some(Local::NxDomain)
        );
        // AAAA only (no IPv6 address): the name exists without an A record
        assert_eq!(
            v.local("i-0aaaaaaaaaaaaaaa3.ec2.internal.", RecordType::A),
            Some(Local::NoData)
        );
        // with an IPv6 address: AAAA as its own flag says, whatever A's says
        let six: Ipv6Addr = "2001:db8:1:2::8".parse().unwrap();
        for (id, a_record, aaaa_record) in [
            ("i-0aaaaaaaaaaaaaaa4", false, true),
            ("i-0aaaaaaaaaaaaaaa5", true, true),
            ("i-0aaaaaaaaaaaaaaa6", true, false),
        ] {
            let mut n = name([10, 0, 2, 9], a_record, aaaa_record);
            n.ipv6 = Some(six);
            v.names.insert(id.to_owned(), n);
        }
        let aaaa = |l: Option<Local>| match l {
            Some(Local::Records(r)) => r
                .iter()
                .filter_map(|r| match r.data {
                    RData::AAAA(AAAA(ip)) => Some(ip),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            other => panic!("not records: {other:?}"),
        };
        for id in ["i-0aaaaaaaaaaaaaaa4", "i-0aaaaaaaaaaaaaaa5"] {
            let fqdn = format!("{id}.ec2.internal.");
            assert_eq!(aaaa(v.local(&fqdn, RecordType::AAAA)), [six], "{id}");
        }
        assert_eq!(
            v.local("i-0aaaaaaaaaaaaaaa4.ec2.internal.", RecordType::A),
            Some(Local::NoData)
        );
        assert_eq!(
            a(v.local("i-0aaaaaaaaaaaaaaa5.ec2.internal.", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 2, 9))
        );
        assert_eq!(
            v.local("i-0aaaaaaaaaaaaaaa6.ec2.internal.", RecordType::AAAA),
            Some(Local::NoData)
        );
        // an IPv6-only instance (no IPv4 address): AAAA only
        let mut only6 = name([0, 0, 0, 0], true, true);
        only6.ip = None;
        only6.ipv6 = Some(six);
        v.names.insert("i-0aaaaaaaaaaaaaaa7".to_owned(), only6);
        assert_eq!(
            v.local("i-0aaaaaaaaaaaaaaa7.ec2.internal.", RecordType::A),
            Some(Local::NoData)
        );
        assert_eq!(
            aaaa(v.local("i-0aaaaaaaaaaaaaaa7.ec2.internal.", RecordType::AAAA)),
            [six]
        );
        // an instance of another VPC, or none
        assert_eq!(
            v.local("i-0bbbbbbbbbbbbbbb1.ec2.internal.", RecordType::A),
            Some(Local::NxDomain)
        );
        // the IP names and the reverse stay
        assert_eq!(
            a(v.local("ip-10-0-2-7.ec2.internal.", RecordType::A)),
            Some(Ipv4Addr::new(10, 0, 2, 7))
        );
        let Some(Local::Records(ptr)) = v.local("5.1.0.10.in-addr.arpa.", RecordType::PTR) else {
            panic!("no PTR");
        };
        assert_eq!(ptr[0].data.to_string(), "ip-10-0-1-5.ec2.internal.");
        // elsewhere: REGION.compute.internal, and only there
        let mut w = vpc("eu-west-1");
        w.names = v.names.clone();
        assert_eq!(
            a(w.local(
                "i-0aaaaaaaaaaaaaaa1.eu-west-1.compute.internal",
                RecordType::A
            )),
            Some(Ipv4Addr::new(10, 0, 1, 5))
        );
        assert_eq!(
            w.local("i-0aaaaaaaaaaaaaaa1.ec2.internal", RecordType::A),
            None
        );
    }

    proptest::proptest! {
        /// Any name: an answer or "forward it", never a panic.
        #[test]
        fn any_name_is_answered_or_forwarded(name in "[a-zA-Z0-9.-]{0,80}") {
            let _ = vpc("us-east-1").local(&name, RecordType::A);
        }
    }
}
