//! The instance metadata tree as EC2 serves it to a VPC instance: `/`, `/latest/`,
//! `meta-data/…`, `user-data`, `dynamic/instance-identity/document`. Pure: a view of
//! the instance in, the answer to one path out.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use fort_model::dns_name::{
    HostnameType, instance_private_dns_name, private_dns_name, public_dns_name,
};
use fort_proto::mapping as pb;
use fort_sync::host_state::HostState;
use ipnet::{Ipv4Net, Ipv6Net};

/// One interface of the instance, as `network/interfaces/macs/MAC/` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub eni: String,
    pub mac: String,
    pub device_number: u32,
    /// Primary first.
    pub local_ipv4s: Vec<Ipv4Addr>,
    /// (public, private) pairs.
    pub public: Vec<(Ipv4Addr, Ipv4Addr)>,
    pub subnet_id: String,
    pub subnet_cidr: Option<Ipv4Net>,
    pub vpc_id: String,
    pub vpc_cidrs: Vec<Ipv4Net>,
    pub security_group_ids: Vec<String>,
    /// Its IPv6 addresses, its subnet's and VPC's IPv6 blocks.
    pub ipv6s: Vec<Ipv6Addr>,
    pub subnet_ipv6_cidr: Option<Ipv6Net>,
    pub vpc_ipv6_cidrs: Vec<Ipv6Net>,
}

/// What the metadata service knows of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceView {
    pub item: pb::Instance,
    /// By device number.
    pub interfaces: Vec<Interface>,
}

/// The views of every instance `state` runs, by ENI (each interface answers for its
/// instance).
pub fn views(state: &HostState) -> BTreeMap<String, std::sync::Arc<InstanceView>> {
    let publics: Vec<(&str, Ipv4Addr, Ipv4Addr)> = state.public_ips().collect();
    let cidrs: BTreeMap<&str, (&Vec<Ipv4Net>, &Vec<Ipv6Net>)> = state
        .vpc_headers()
        .map(|v| (v.id.as_str(), (&v.cidrs, &v.ipv6_cidrs)))
        .collect();
    let mut out = BTreeMap::new();
    for (id, item) in state.instances() {
        let mut interfaces: Vec<Interface> = state
            .ports()
            .filter(|p| p.instance_id.as_deref() == Some(id.as_str()))
            .map(|p| {
                let local_ipv4s: Vec<Ipv4Addr> = p
                    .primary_ip
                    .into_iter()
                    .chain(p.secondary_ips.iter().copied())
                    .collect();
                Interface {
                    eni: p.id.clone(),
                    mac: p.mac.to_string(),
                    device_number: p.device_index,
                    public: publics
                        .iter()
                        .filter(|(v, private, _)| *v == p.vpc_id && local_ipv4s.contains(private))
                        .map(|&(_, private, public)| (public, private))
                        .collect(),
                    local_ipv4s,
                    subnet_id: p.subnet_id.clone(),
                    subnet_cidr: state.subnet(&p.vpc_id, &p.subnet_id).and_then(|s| s.cidr),
                    vpc_id: p.vpc_id.clone(),
                    vpc_cidrs: cidrs
                        .get(p.vpc_id.as_str())
                        .map(|c| c.0.to_vec())
                        .unwrap_or_default(),
                    security_group_ids: p.security_groups.clone(),
                    ipv6s: p.ipv6_addresses.clone(),
                    subnet_ipv6_cidr: state
                        .subnet(&p.vpc_id, &p.subnet_id)
                        .and_then(|s| s.ipv6_cidr),
                    vpc_ipv6_cidrs: cidrs
                        .get(p.vpc_id.as_str())
                        .map(|c| c.1.to_vec())
                        .unwrap_or_default(),
                }
            })
            .collect();
        if interfaces.is_empty() {
            continue;
        }
        interfaces.sort_by_key(|i| i.device_number);
        let view = std::sync::Arc::new(InstanceView {
            item: item.clone(),
            interfaces,
        });
        for i in &view.interfaces {
            out.insert(i.eni.clone(), view.clone());
        }
    }
    out
}

/// The hostname type the control plane gave an instance.
fn hostname_type(it: &pb::Instance) -> HostnameType {
    match it.hostname_type() {
        pb::HostnameType::IpName => HostnameType::IpName,
        pb::HostnameType::ResourceName => HostnameType::ResourceName,
    }
}

/// A node of the tree: a value, or a directory of named nodes.
enum Node {
    Value(Vec<u8>),
    Dir(Vec<(String, Node)>),
}

fn text(s: impl Into<String>) -> Node {
    Node::Value(s.into().into_bytes())
}

fn lines<T: ToString>(items: impl IntoIterator<Item = T>) -> Node {
    text(
        items
            .into_iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn dir(entries: Vec<(&str, Node)>) -> Node {
    Node::Dir(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

impl InstanceView {
    fn primary(&self) -> &Interface {
        // views() keeps only instances with an interface
        &self.interfaces[0]
    }

    fn public_ipv4(&self) -> Option<Ipv4Addr> {
        let p = self.primary();
        p.public
            .iter()
            .find(|(_, private)| Some(private) == p.local_ipv4s.first())
            .map(|(public, _)| *public)
    }

    fn public_hostname(&self, ip: Ipv4Addr) -> Option<String> {
        self.item
            .dns_hostnames
            .then(|| public_dns_name(&self.item.region, ip))
    }

    fn group_names<'a>(&'a self, ids: &'a [String]) -> impl Iterator<Item = &'a str> {
        ids.iter().map(|id| {
            self.item
                .security_group_names
                .get(id)
                .map_or(id.as_str(), String::as_str)
        })
    }

    fn interface_node(&self, i: &Interface) -> Node {
        let region = &self.item.region;
        let primary_ip = i.local_ipv4s.first().copied();
        let mut e = vec![("device-number", text(i.device_number.to_string()))];
        e.push(("interface-id", text(i.eni.clone())));
        if !i.public.is_empty() {
            e.push((
                "ipv4-associations",
                Node::Dir(
                    i.public
                        .iter()
                        .map(|(public, private)| (public.to_string(), text(private.to_string())))
                        .collect(),
                ),
            ));
        }
        if !i.ipv6s.is_empty() {
            e.push(("ipv6s", lines(&i.ipv6s)));
        }
        // an interface of an IPv6-only subnet has neither
        if let Some(ip) = primary_ip {
            e.push(("local-hostname", text(private_dns_name(region, ip))));
            e.push(("local-ipv4s", lines(&i.local_ipv4s)));
        }
        e.push(("mac", text(i.mac.clone())));
        e.push(("owner-id", text(self.item.account_id.clone())));
        if let Some((public, _)) = i.public.first()
            && let Some(name) = self.public_hostname(*public)
        {
            e.push(("public-hostname", text(name)));
        }
        if !i.public.is_empty() {
            e.push(("public-ipv4s", lines(i.public.iter().map(|(p, _)| p))));
        }
        e.push(("security-group-ids", lines(&i.security_group_ids)));
        e.push((
            "security-groups",
            lines(self.group_names(&i.security_group_ids)),
        ));
        e.push(("subnet-id", text(i.subnet_id.clone())));
        if let Some(c) = i.subnet_cidr {
            e.push(("subnet-ipv4-cidr-block", text(c.to_string())));
        }
        if let Some(c) = i.subnet_ipv6_cidr {
            e.push(("subnet-ipv6-cidr-blocks", text(c.to_string())));
        }
        e.push(("vpc-id", text(i.vpc_id.clone())));
        if let Some(c) = i.vpc_cidrs.first() {
            e.push(("vpc-ipv4-cidr-block", text(c.to_string())));
        }
        e.push(("vpc-ipv4-cidr-blocks", lines(&i.vpc_cidrs)));
        if !i.vpc_ipv6_cidrs.is_empty() {
            e.push(("vpc-ipv6-cidr-blocks", lines(&i.vpc_ipv6_cidrs)));
        }
        dir(e)
    }

    fn meta_data(&self) -> Node {
        let it = &self.item;
        let p = self.primary();
        let local = p.local_ipv4s.first().copied();
        // EC2's `hostname` and `local-hostname`: the resource name of a resource-named
        // instance, else its primary address's IP name.
        let hostname = instance_private_dns_name(&it.region, hostname_type(it), &it.id, local);
        let mut groups: Vec<&str> = self
            .interfaces
            .iter()
            .flat_map(|i| self.group_names(&i.security_group_ids))
            .collect();
        groups.dedup();
        let mut e = vec![
            ("ami-id", text(it.image_id.clone())),
            ("ami-launch-index", text(it.ami_launch_index.to_string())),
            ("ami-manifest-path", text("(unknown)")),
            (
                "block-device-mapping",
                dir(vec![
                    ("ami", text("/dev/xvda")),
                    ("root", text("/dev/xvda")),
                ]),
            ),
            (
                "events",
                dir(vec![(
                    "maintenance",
                    dir(vec![("history", text("[]")), ("scheduled", text("[]"))]),
                )]),
            ),
            ("hostname", text(hostname.clone())),
            ("instance-action", text("none")),
            ("instance-id", text(it.id.clone())),
            ("instance-life-cycle", text("on-demand")),
            ("instance-type", text(it.instance_type.clone())),
        ];
        // the primary interface's IPv6 address (Nitro instances')
        if let Some(six) = p.ipv6s.first() {
            e.push(("ipv6", text(six.to_string())));
        }
        e.push(("local-hostname", text(hostname)));
        // an instance of an IPv6-only subnet has no IPv4 address
        if let Some(ip) = local {
            e.push(("local-ipv4", text(ip.to_string())));
        }
        e.extend([
            ("mac", text(p.mac.clone())),
            (
                "network",
                dir(vec![(
                    "interfaces",
                    dir(vec![(
                        "macs",
                        Node::Dir(
                            self.interfaces
                                .iter()
                                .map(|i| (i.mac.clone(), self.interface_node(i)))
                                .collect(),
                        ),
                    )]),
                )]),
            ),
            (
                "placement",
                dir(vec![
                    ("availability-zone", text(it.availability_zone.clone())),
                    (
                        "availability-zone-id",
                        text(it.availability_zone_id.clone()),
                    ),
                    ("region", text(it.region.clone())),
                ]),
            ),
        ]);
        if let Some(ip) = self.public_ipv4() {
            if let Some(name) = self.public_hostname(ip) {
                e.push(("public-hostname", text(name)));
            }
            e.push(("public-ipv4", text(ip.to_string())));
        }
        if let (Some(name), Some(key)) = (&it.key_name, &it.public_key) {
            e.push((
                "public-keys",
                Node::Dir(vec![(
                    format!("0={name}"),
                    dir(vec![("openssh-key", text(key.clone()))]),
                )]),
            ));
        }
        e.push(("reservation-id", text(it.reservation_id.clone())));
        e.push(("security-groups", lines(groups)));
        e.push((
            "services",
            dir(vec![
                ("domain", text("amazonaws.com")),
                ("partition", text("aws")),
            ]),
        ));
        if it.metadata_options.as_ref().is_some_and(|o| o.tags) {
            e.push((
                "tags",
                dir(vec![(
                    "instance",
                    Node::Dir(
                        it.tags
                            .iter()
                            .map(|(k, v)| (k.clone(), text(v.clone())))
                            .collect(),
                    ),
                )]),
            ));
        }
        dir(e)
    }

    /// `dynamic/instance-identity/document`: JSON, as EC2 writes it.
    fn identity_document(&self) -> String {
        let it = &self.item;
        let launched = time::OffsetDateTime::from_unix_timestamp(it.launch_time)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let pending = launched
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let private_ip = self.primary().local_ipv4s.first().map(ToString::to_string);
        let doc = serde_json::json!({
            "accountId": it.account_id,
            "architecture": it.architecture,
            "availabilityZone": it.availability_zone,
            "billingProducts": null,
            "devpayProductCodes": null,
            "marketplaceProductCodes": null,
            "imageId": it.image_id,
            "instanceId": it.id,
            "instanceType": it.instance_type,
            "kernelId": null,
            "pendingTime": pending,
            "privateIp": private_ip,
            "ramdiskId": null,
            "region": it.region,
            "version": "2017-09-30",
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    fn latest(&self) -> Node {
        let mut e = vec![
            (
                "dynamic",
                dir(vec![(
                    "instance-identity",
                    dir(vec![("document", text(self.identity_document()))]),
                )]),
            ),
            ("meta-data", self.meta_data()),
        ];
        if let Some(u) = &self.item.user_data {
            e.push(("user-data", Node::Value(u.clone())));
        }
        dir(e)
    }

    /// The answer to `GET path`: the value, a directory's listing (subdirectories end
    /// in `/`), or `None` (404).
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let Some(version) = segments.next() else {
            return Some(VERSIONS.join("\n").into_bytes());
        };
        if !VERSIONS.contains(&version) {
            return None;
        }
        let mut node = self.latest();
        for s in segments {
            let Node::Dir(entries) = node else {
                return None;
            };
            node = entries.into_iter().find(|(k, _)| k == s)?.1;
        }
        Some(match node {
            Node::Value(v) => v,
            Node::Dir(entries) => entries
                .iter()
                .map(|(k, v)| match v {
                    Node::Dir(_) => format!("{k}/"),
                    Node::Value(_) => k.clone(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
        })
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl InstanceView {
    /// An instance with everything set: for tests and fuzzing.
    pub fn example() -> InstanceView {
        InstanceView {
            item: pb::Instance {
                id: "i-0123456789abcdef0".into(),
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                availability_zone: "us-east-1a".into(),
                availability_zone_id: "use1-az1".into(),
                image_id: "ami-0abcdef1234567890".into(),
                instance_type: "t3.micro".into(),
                reservation_id: "r-0123456789abcdef0".into(),
                ami_launch_index: 0,
                launch_time: 1_790_000_000,
                architecture: "x86_64".into(),
                dns_hostnames: true,
                key_name: Some("k".into()),
                public_key: Some("ssh-ed25519 AAAA k".into()),
                user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
                metadata_options: Some(pb::InstanceMetadataOptions {
                    http_endpoint: true,
                    http_tokens_required: false,
                    http_put_response_hop_limit: 1,
                    tags: true,
                    http_protocol_ipv6: true,
                }),
                tags: [("Name".to_owned(), "web".to_owned())].into(),
                security_group_names: [("sg-1".to_owned(), "default".to_owned())].into(),
                hostname_type: pb::HostnameType::IpName.into(),
            },
            interfaces: vec![Interface {
                eni: "eni-1".into(),
                mac: "02:00:00:00:00:01".into(),
                device_number: 0,
                local_ipv4s: vec![Ipv4Addr::new(10, 0, 1, 5), Ipv4Addr::new(10, 0, 1, 6)],
                public: vec![(Ipv4Addr::new(198, 51, 100, 7), Ipv4Addr::new(10, 0, 1, 5))],
                subnet_id: "subnet-1".into(),
                subnet_cidr: Some("10.0.1.0/24".parse().unwrap()),
                vpc_id: "vpc-1".into(),
                vpc_cidrs: vec!["10.0.0.0/16".parse().unwrap()],
                security_group_ids: vec!["sg-1".into()],
                ipv6s: vec!["2001:db8:1:1::5".parse().unwrap()],
                subnet_ipv6_cidr: Some("2001:db8:1:1::/64".parse().unwrap()),
                vpc_ipv6_cidrs: vec!["2001:db8:1::/56".parse().unwrap()],
            }],
        }
    }
}

/// The versions `/` lists; each serves the same tree.
const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
    "latest",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn get(v: &InstanceView, path: &str) -> Option<String> {
        v.get(path).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn values_listings_and_misses() {
        let v = InstanceView::example();
        assert_eq!(
            get(&v, "/latest/meta-data/instance-id").unwrap(),
            "i-0123456789abcdef0"
        );
        assert_eq!(get(&v, "/latest/meta-data/local-ipv4").unwrap(), "10.0.1.5");
        assert_eq!(
            get(&v, "/latest/meta-data/public-ipv4").unwrap(),
            "198.51.100.7"
        );
        assert_eq!(
            get(&v, "/latest/meta-data/public-hostname").unwrap(),
            "ec2-198-51-100-7.compute-1.amazonaws.com"
        );
        assert_eq!(
            get(&v, "/latest/meta-data/hostname").unwrap(),
            "ip-10-0-1-5.ec2.internal"
        );
        assert_eq!(
            get(&v, "/latest/meta-data/placement/availability-zone-id").unwrap(),
            "use1-az1"
        );
        assert_eq!(
            get(&v, "/latest/meta-data/security-groups").unwrap(),
            "default"
        );
        assert_eq!(
            get(&v, "/latest/meta-data/tags/instance/Name").unwrap(),
            "web"
        );
        assert_eq!(get(&v, "/latest/meta-data/public-keys/").unwrap(), "0=k/");
        assert_eq!(
            get(&v, "/latest/meta-data/public-keys/0=k/openssh-key").unwrap(),
            "ssh-ed25519 AAAA k"
        );
        let mac = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/";
        assert_eq!(
            get(&v, &format!("{mac}local-ipv4s")).unwrap(),
            "10.0.1.5\n10.0.1.6"
        );
        assert_eq!(
            get(&v, &format!("{mac}ipv4-associations/198.51.100.7")).unwrap(),
            "10.0.1.5"
        );
        assert_eq!(
            get(&v, &format!("{mac}subnet-ipv4-cidr-block")).unwrap(),
            "10.0.1.0/24"
        );
        // IPv6: the instance's address, its interface's, its subnet's and VPC's blocks
        assert_eq!(
            get(&v, "/latest/meta-data/ipv6").unwrap(),
            "2001:db8:1:1::5"
        );
        assert_eq!(get(&v, &format!("{mac}ipv6s")).unwrap(), "2001:db8:1:1::5");
        assert_eq!(
            get(&v, &format!("{mac}subnet-ipv6-cidr-blocks")).unwrap(),
            "2001:db8:1:1::/64"
        );
        assert_eq!(
            get(&v, &format!("{mac}vpc-ipv6-cidr-blocks")).unwrap(),
            "2001:db8:1::/56"
        );
        assert_eq!(
            get(&v, "/latest/user-data").unwrap(),
            "#!/bin/sh\necho hi\n"
        );
        // listings: directories end in `/`, with or without the request's own slash
        let listing = get(&v, "/latest/meta-data/").unwrap();
        assert!(
            listing.starts_with("ami-id\nami-launch-index\n"),
            "{listing}"
        );
        assert!(listing.contains("\nnetwork/\n") && listing.contains("\nplacement/\n"));
        assert_eq!(get(&v, "/latest/meta-data"), Some(listing));
        assert_eq!(
            get(&v, "/latest").unwrap(),
            "dynamic/\nmeta-data/\nuser-data"
        );
        assert!(get(&v, "/").unwrap().ends_with("\nlatest"));
        assert_eq!(get(&v, "/latest/meta-data/nope"), None);
        assert_eq!(get(&v, "/latest/meta-data/instance-id/more"), None);
        assert_eq!(get(&v, "/2099-01-01/meta-data/"), None);
        let doc: serde_json::Value =
            serde_json::from_slice(&v.get("/latest/dynamic/instance-identity/document").unwrap())
                .unwrap();
        assert_eq!(doc["instanceId"], "i-0123456789abcdef0");
        assert_eq!(doc["region"], "us-east-1");
        assert_eq!(doc["privateIp"], "10.0.1.5");
    }

    proptest::proptest! {
        /// Any path a client sends gets a value, a listing or a 404, never a panic.
        #[test]
        fn any_path_is_answered(path in "[/a-z0-9=:.%-]{0,60}") {
            let _ = InstanceView::example().get(&path);
        }
    }

    #[test]
    fn a_resource_named_instance_is_called_by_its_id() {
        let mut v = InstanceView::example();
        v.item.set_hostname_type(pb::HostnameType::ResourceName);
        for path in ["hostname", "local-hostname"] {
            assert_eq!(
                get(&v, &format!("/latest/meta-data/{path}")).unwrap(),
                "i-0123456789abcdef0.ec2.internal"
            );
        }
        v.item.region = "eu-west-1".into();
        assert_eq!(
            get(&v, "/latest/meta-data/local-hostname").unwrap(),
            "i-0123456789abcdef0.eu-west-1.compute.internal"
        );
        // the interface's own name stays its address's
        let mac = "/latest/meta-data/network/interfaces/macs/02:00:00:00:00:01/";
        assert_eq!(
            get(&v, &format!("{mac}local-hostname")).unwrap(),
            "ip-10-0-1-5.eu-west-1.compute.internal"
        );
    }

    #[test]
    fn what_the_instance_lacks_is_not_listed() {
        let mut v = InstanceView::example();
        v.item.user_data = None;
        v.item.key_name = None;
        v.item.dns_hostnames = false;
        v.item.metadata_options.as_mut().unwrap().tags = false;
        v.interfaces[0].public.clear();
        let listing = get(&v, "/latest/meta-data/").unwrap();
        for absent in ["public-ipv4", "public-hostname", "public-keys/", "tags/"] {
            assert!(
                !listing.split('\n').any(|l| l == absent),
                "{absent} in {listing}"
            );
        }
        assert_eq!(get(&v, "/latest/user-data"), None);
        assert_eq!(get(&v, "/latest/meta-data/tags/instance/Name"), None);
    }
}
