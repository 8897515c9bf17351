//! The internet's zones and how a query is answered.
//!
//! [`Zones`] collects zones from three sources, in this order of strength:
//!
//! 1. the built-in zone of the test hosts ([`Zones::insert_test_hosts`]): [`TEST_ZONE`]
//!    with `example.test` and `www.example.test` at the test host (the first address of
//!    the hosts' network, 203.0.113.1) and `ns.example.test` at the server itself;
//! 2. zone files ([`Zones::add_zone_file`]): RFC 1035 master files parsed by hickory's
//!    parser; each must set `$ORIGIN` (or name every owner absolutely and still set it)
//!    and hold exactly one SOA, whose owner is the zone's apex. A file for the built-in
//!    zone's apex replaces it; two files for one apex are refused;
//! 3. records ([`Zones::add_record`], `NAME=IPV4`): an A record added to the innermost
//!    zone that holds the name, or, when no zone does, a zone of its own whose apex is the
//!    name (with a synthesized SOA).
//!
//! [`Zones::into_authority`] turns them into hickory in-memory zones in a catalog.
//! [`Authority`] answers inside a zone as hickory's catalog does (answers with AA,
//! CNAME chains followed inside the zone, NXDOMAIN or NODATA with the zone's SOA), and
//! every name outside all zones with NXDOMAIN without AA and without records.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::op::{MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_proto::serialize::txt::Parser;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, Catalog, MessageResponseBuilder, ZoneHandler, ZoneType,
};

/// The test hosts' built-in zone.
pub const TEST_ZONE: &str = "example.test.";
/// The TTL of built-in and command-line records (seconds).
pub const DEFAULT_TTL: u32 = 300;

/// Why a zone or a record cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    #[error("reading the zone file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("zone file {source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("zone {zone}: {message}")]
    Invalid { zone: String, message: String },
    #[error("'{0}' is not NAME=IPV4 (e.g. api.example.com=203.0.113.7)")]
    Record(String),
}

/// A record given on the command line: `NAME=IPV4`, an A record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticRecord {
    /// The owner name, fully qualified.
    pub name: Name,
    /// Its IPv4 address.
    pub address: Ipv4Addr,
}

impl FromStr for StaticRecord {
    type Err = ZoneError;

    fn from_str(s: &str) -> Result<Self, ZoneError> {
        let bad = || ZoneError::Record(s.to_string());
        let (name, address) = s.split_once('=').ok_or_else(bad)?;
        let address: Ipv4Addr = address.trim().parse().map_err(|_| bad())?;
        let name = name.trim();
        if name.is_empty() || name == "." {
            return Err(bad());
        }
        let mut name = Name::from_ascii(name).map_err(|_| bad())?;
        name.set_fqdn(true);
        Ok(Self { name, address })
    }
}

impl fmt::Display for StaticRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.address)
    }
}

/// Where a zone came from: a file's zone is not replaced by another file's.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    BuiltIn,
    File(String),
    Records,
}

struct Zone {
    origin: Name,
    records: BTreeMap<RrKey, RecordSet>,
    source: Source,
}

/// The public DNS names of a region's instances, `ec2-A-B-C-D.compute-1.amazonaws.com`
/// (us-east-1) or `ec2-A-B-C-D.REGION.compute.amazonaws.com`: an A record for every
/// address of the public pool, synthesized as AWS's DNS answers them from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicNames {
    /// `.` and the public domain, lower case, with its trailing dot.
    suffix: String,
    pool: ipnet::Ipv4Net,
}

impl PublicNames {
    pub fn for_region(region: &str, pool: ipnet::Ipv4Net) -> PublicNames {
        let suffix = format!(".{}.", fort_model::dns_name::public_domain(region));
        PublicNames { suffix, pool }
    }

    /// The address a name stands for, if it is one of these names.
    fn address(&self, name: &Name) -> Option<Ipv4Addr> {
        let name = name.to_ascii().to_ascii_lowercase();
        let label = name.strip_suffix(&self.suffix)?;
        let ip = fort_model::dns_name::dashed_address(label, "ec2-")?;
        self.pool.contains(&ip).then_some(ip)
    }
}

/// The zones the internet's server will hold, before they are served.
#[derive(Default)]
pub struct Zones {
    zones: BTreeMap<LowerName, Zone>,
    public: Vec<PublicNames>,
}

impl Zones {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the built-in zone [`TEST_ZONE`]: `example.test` and `www.example.test` at
    /// `host` (the test host), `ns.example.test` (the zone's name server) at `nameserver`.
    /// A zone file for the same apex, given before or after, wins.
    pub fn insert_test_hosts(&mut self, host: Ipv4Addr, nameserver: Ipv4Addr) {
        let text = test_zone_text(host, nameserver);
        let (origin, records) = Parser::new(text, None, None)
            .parse()
            .expect("the built-in zone parses");
        let key = LowerName::new(&origin);
        if self.zones.contains_key(&key) {
            return;
        }
        self.zones.insert(
            key,
            Zone {
                origin,
                records,
                source: Source::BuiltIn,
            },
        );
    }

    /// Reads an RFC 1035 master file and adds its zone; returns the zone's apex.
    pub fn add_zone_file(&mut self, path: &Path) -> Result<Name, ZoneError> {
        let text = std::fs::read_to_string(path).map_err(|source| ZoneError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.add_zone_text(&text, Some(path))
    }

    /// Adds the zone of a master file's text (`path`, if any, resolves relative
    /// `$INCLUDE`s and names the source in errors); returns the zone's apex.
    pub fn add_zone_text(&mut self, text: &str, path: Option<&Path>) -> Result<Name, ZoneError> {
        let source_name = path.map_or_else(|| "<text>".to_string(), |p| p.display().to_string());
        let parsed = Parser::new(text, path.map(Path::to_path_buf), None).parse();
        let (_, records) = parsed.map_err(|e| ZoneError::Parse {
            source_name: source_name.clone(),
            message: e.to_string(),
        })?;
        let mut soas = records
            .values()
            .filter(|r| r.record_type() == RecordType::SOA);
        let origin = match (soas.next(), soas.next()) {
            (Some(soa), None) => soa.name().clone(),
            (None, _) => {
                return Err(ZoneError::Parse {
                    source_name,
                    message: "no SOA record: a zone file needs exactly one, at its apex".into(),
                });
            }
            (Some(_), Some(_)) => {
                return Err(ZoneError::Parse {
                    source_name,
                    message: "more than one SOA record: give each zone its own file".into(),
                });
            }
        };
        if let Some(outside) = records.values().find(|r| !origin.zone_of(r.name())) {
            return Err(ZoneError::Invalid {
                zone: origin.to_string(),
                message: format!(
                    "{} (in {source_name}) is outside the zone's apex",
                    outside.name()
                ),
            });
        }
        check_cnames(&origin, &records)?;
        let key = LowerName::new(&origin);
        if let Some(Zone {
            source: Source::File(other),
            ..
        }) = self.zones.get(&key)
        {
            return Err(ZoneError::Invalid {
                zone: origin.to_string(),
                message: format!("given twice ({other} and {source_name})"),
            });
        }
        let mut zone = Zone {
            origin: origin.clone(),
            records,
            source: Source::File(source_name),
        };
        // records given earlier for names in this zone stay served
        if let Some(old) = self.zones.remove(&key)
            && old.source == Source::Records
        {
            for rrset in old.records.into_values() {
                if rrset.record_type() == RecordType::SOA {
                    continue;
                }
                for record in rrset.records_without_rrsigs() {
                    if let RData::A(a) = &record.data {
                        add_address(&mut zone, &record.name, a.0)?;
                    }
                }
            }
        }
        self.zones.insert(key, zone);
        Ok(origin)
    }

    /// Adds an A record to the innermost zone holding its name, or to a zone of its own.
    pub fn add_record(&mut self, record: &StaticRecord) -> Result<(), ZoneError> {
        let name = LowerName::new(&record.name);
        let mut at = Some(name.clone());
        while let Some(candidate) = at {
            if let Some(zone) = self.zones.get_mut(&candidate) {
                return add_address(zone, &record.name, record.address);
            }
            at = (!candidate.is_root()).then(|| candidate.base_name());
        }
        let mut zone = Zone {
            origin: record.name.clone(),
            records: BTreeMap::new(),
            source: Source::Records,
        };
        let soa = SOA::new(
            record.name.clone(),
            Name::from_ascii("hostmaster")
                .and_then(|h| h.append_domain(&record.name))
                .unwrap_or_else(|_| record.name.clone()),
            1,
            3600,
            600,
            86_400,
            60,
        );
        let soa = Record::from_rdata(record.name.clone(), DEFAULT_TTL, RData::SOA(soa));
        zone.records.insert(
            RrKey::new(name.clone(), RecordType::SOA),
            RecordSet::from(soa),
        );
        add_address(&mut zone, &record.name, record.address)?;
        self.zones.insert(name, zone);
        Ok(())
    }

    /// The apexes of the zones, in order.
    pub fn origins(&self) -> impl Iterator<Item = &Name> + '_ {
        self.zones.values().map(|z| &z.origin)
    }

    /// Answers a region's public instance names as well.
    pub fn add_public_names(&mut self, names: PublicNames) {
        self.public.push(names);
    }

    /// The catalog that serves them.
    pub fn into_authority(self) -> Result<Authority, ZoneError> {
        let mut catalog = Catalog::new();
        let mut origins = Vec::with_capacity(self.zones.len());
        for (key, zone) in self.zones {
            let handler = InMemoryZoneHandler::<TokioRuntimeProvider>::new(
                zone.origin.clone(),
                zone.records,
                ZoneType::Primary,
                AxfrPolicy::Deny,
            )
            .map_err(|message| ZoneError::Invalid {
                zone: zone.origin.to_string(),
                message,
            })?;
            let handler: Arc<dyn ZoneHandler> = Arc::new(handler);
            catalog.upsert(key, vec![handler]);
            origins.push(zone.origin);
        }
        Ok(Authority {
            catalog,
            origins,
            public: self.public,
        })
    }
}

/// The built-in zone as a master file: the same parser reads it as a user's file.
fn test_zone_text(host: Ipv4Addr, nameserver: Ipv4Addr) -> String {
    format!(
        "$ORIGIN {TEST_ZONE}\n\
         $TTL {DEFAULT_TTL}\n\
         @    IN SOA ns hostmaster 1 3600 600 86400 60\n\
         @    IN NS  ns\n\
         @    IN A   {host}\n\
         www  IN A   {host}\n\
         ns   IN A   {nameserver}\n"
    )
}

/// A name that owns a CNAME owns nothing else (RFC 1034 §3.6.2).
fn check_cnames(origin: &Name, records: &BTreeMap<RrKey, RecordSet>) -> Result<(), ZoneError> {
    let mut by_name: BTreeMap<&Name, (bool, bool)> = BTreeMap::new();
    for rrset in records.values() {
        let e = by_name.entry(rrset.name()).or_default();
        if rrset.record_type() == RecordType::CNAME {
            e.0 = true;
        } else {
            e.1 = true;
        }
    }
    match by_name.into_iter().find(|(_, (c, other))| *c && *other) {
        Some((name, _)) => Err(ZoneError::Invalid {
            zone: origin.to_string(),
            message: format!("{name} has a CNAME and other records"),
        }),
        None => Ok(()),
    }
}

fn add_address(zone: &mut Zone, name: &Name, address: Ipv4Addr) -> Result<(), ZoneError> {
    let lower = LowerName::new(name);
    if zone
        .records
        .contains_key(&RrKey::new(lower.clone(), RecordType::CNAME))
    {
        return Err(ZoneError::Invalid {
            zone: zone.origin.to_string(),
            message: format!("{name} is a CNAME: it cannot also have an address"),
        });
    }
    let record = Record::from_rdata(name.clone(), DEFAULT_TTL, RData::A(A(address)));
    match zone.records.entry(RrKey::new(lower, RecordType::A)) {
        Entry::Vacant(e) => {
            e.insert(RecordSet::from(record));
        }
        Entry::Occupied(mut e) => {
            e.get_mut().insert(record, 0);
        }
    }
    Ok(())
}

/// The catalog of the internet's zones, answering queries (a hickory [`RequestHandler`]).
pub struct Authority {
    catalog: Catalog,
    origins: Vec<Name>,
    public: Vec<PublicNames>,
}

impl Authority {
    /// The apexes of the zones served.
    pub fn origins(&self) -> &[Name] {
        &self.origins
    }

    /// Is the name inside one of the zones?
    pub fn serves(&self, name: &LowerName) -> bool {
        self.catalog.find(name).is_some()
    }
}

#[async_trait::async_trait]
impl RequestHandler for Authority {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let meta = &request.metadata;
        // a public instance name: its address, synthesized
        if let Ok(info) = request.request_info()
            && let Some(ip) = self
                .public
                .iter()
                .find_map(|p| p.address(info.query.original().name()))
        {
            let mut metadata = Metadata::response_from_request(meta);
            metadata.authoritative = true;
            let builder = MessageResponseBuilder::from_message_request(request);
            let sent = if info.query.query_type() == RecordType::A {
                let owner = info.query.original().name().clone();
                let records = [Record::from_rdata(owner, DEFAULT_TTL, RData::A(A(ip)))];
                response_handle
                    .send_response(builder.build(metadata, records.iter(), [], [], []))
                    .await
            } else {
                response_handle
                    .send_response(builder.build_no_records(metadata))
                    .await
            };
            return sent.unwrap_or_else(|error| {
                tracing::debug!(%error, "cannot send a DNS answer");
                crate::server::failed(request)
            });
        }
        let outside = meta.message_type == MessageType::Query
            && meta.op_code == OpCode::Query
            && request
                .request_info()
                .is_ok_and(|info| !self.serves(info.query.name()));
        if !outside {
            return self
                .catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        }
        // a name no zone holds does not exist on this internet (not authoritative: no
        // zone, so no SOA either)
        let response = MessageResponseBuilder::from_message_request(request)
            .error_msg(meta, ResponseCode::NXDomain);
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "cannot send a DNS answer");
                crate::server::failed(request)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_records_parse_name_equals_ipv4() {
        let r: StaticRecord = "api.example.com=203.0.113.7".parse().unwrap();
        assert_eq!(r.name, Name::from_ascii("api.example.com.").unwrap());
        assert!(r.name.is_fqdn());
        assert_eq!(r.address, Ipv4Addr::new(203, 0, 113, 7));
        assert_eq!(r.to_string(), "api.example.com.=203.0.113.7");
        for bad in [
            "api.example.com",
            "=1.2.3.4",
            ".=1.2.3.4",
            "a.b=1.2.3",
            "a.b=::1",
            "a..b=1.2.3.4",
        ] {
            assert!(bad.parse::<StaticRecord>().is_err(), "{bad}");
        }
    }

    #[test]
    fn zone_files_are_read_by_hickorys_parser_and_named_by_their_soa() {
        let mut z = Zones::new();
        let origin = z
            .add_zone_text(
                "$ORIGIN corp.test.\n$TTL 60\n@ IN SOA ns admin 7 1 1 1 1\n\
                 ns A 203.0.113.53\napp A ( 203.0.113.9\n ) ; a comment\nweb CNAME app\n",
                None,
            )
            .unwrap();
        assert_eq!(origin, Name::from_ascii("corp.test.").unwrap());
        let errors = [
            ("$ORIGIN a.test.\n$TTL 60\nwww A 1.2.3.4\n", "no SOA"),
            (
                "$ORIGIN a.test.\n$TTL 60\n@ SOA ns admin 1 1 1 1 1\nb SOA ns admin 1 1 1 1 1\n",
                "more than one SOA",
            ),
            (
                "$ORIGIN a.test.\n$TTL 60\n@ SOA ns admin 1 1 1 1 1\nwww.b.test. A 1.2.3.4\n",
                "outside the zone",
            ),
            (
                "$ORIGIN a.test.\n$TTL 60\n@ SOA ns admin 1 1 1 1 1\nx CNAME y\nx A 1.2.3.4\n",
                "CNAME and other",
            ),
            ("$ORIGIN a.test.\n$TTL 60\n@ SOA ns admin\n", ""),
            ("www A 1.2.3.4\n", ""),
        ];
        for (text, want) in errors {
            let e = Zones::new().add_zone_text(text, None).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
        let e = z
            .add_zone_text("$ORIGIN corp.test.\n$TTL 1\n@ SOA a b 1 1 1 1 1\n", None)
            .unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn records_join_the_innermost_zone_or_make_their_own() {
        let mut z = Zones::new();
        z.insert_test_hosts(
            Ipv4Addr::new(203, 0, 113, 1),
            Ipv4Addr::new(203, 0, 113, 53),
        );
        z.add_record(&"api.example.test=203.0.113.7".parse().unwrap())
            .unwrap();
        z.add_record(&"api.example.com=203.0.113.8".parse().unwrap())
            .unwrap();
        z.add_record(&"v1.api.example.com=203.0.113.9".parse().unwrap())
            .unwrap();
        let origins: Vec<String> = z.origins().map(ToString::to_string).collect();
        assert_eq!(origins, ["api.example.com.", "example.test."]);
        // a file for the records' own zone takes them in
        z.add_zone_text(
            "$ORIGIN api.example.com.\n$TTL 5\n@ SOA ns x 1 1 1 1 1\nns A 203.0.113.53\n",
            None,
        )
        .unwrap();
        let zone = &z.zones[&LowerName::from_str("api.example.com.").unwrap()];
        assert_eq!(zone.records.len(), 4, "SOA, ns, apex A, v1 A");
        // a user's file replaces the built-in zone
        z.add_zone_text(
            "$ORIGIN example.test.\n$TTL 5\n@ SOA ns x 1 1 1 1 1\nonly A 203.0.113.2\n",
            None,
        )
        .unwrap();
        z.insert_test_hosts(
            Ipv4Addr::new(203, 0, 113, 1),
            Ipv4Addr::new(203, 0, 113, 53),
        );
        let zone = &z.zones[&LowerName::from_str("example.test.").unwrap()];
        assert!(matches!(zone.source, Source::File(_)));
        assert!(z.into_authority().is_ok());

        let mut z = Zones::new();
        z.add_zone_text(
            "$ORIGIN c.test.\n$TTL 5\n@ SOA ns x 1 1 1 1 1\nalias CNAME c.test.\n",
            None,
        )
        .unwrap();
        let e = z
            .add_record(&"alias.c.test=1.2.3.4".parse().unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("is a CNAME"), "{e}");
    }
}
