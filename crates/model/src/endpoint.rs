//! Managed prefix lists and VPC endpoints, as the control plane stores them, and the
//! lists AWS manages in every region (computed, never stored).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::state::wire_enum;
use crate::{
    Millis, NetworkInterfaceId, PrefixListId, RouteTableId, SecurityGroupId, SubnetId, Tags,
    VpcEndpointId, VpcId,
};

wire_enum! {
    /// The addresses a prefix list holds.
    pub enum AddressFamily {
        V4 = "IPv4",
        V6 = "IPv6",
    }
}

wire_enum! {
    /// A managed prefix list's state: Fort completes every change at once.
    pub enum PrefixListState {
        CreateInProgress = "create-in-progress",
        CreateComplete = "create-complete",
        ModifyInProgress = "modify-in-progress",
        ModifyComplete = "modify-complete",
        /// A resize some referencing resource's quota cannot take: the size stays.
        ModifyFailed = "modify-failed",
        RestoreInProgress = "restore-in-progress",
        RestoreComplete = "restore-complete",
        DeleteInProgress = "delete-in-progress",
        DeleteComplete = "delete-complete",
        /// A delete that found the list still referenced: the list stays, usable.
        DeleteFailed = "delete-failed",
    }
}

impl PrefixListState {
    /// What the action that led to this state answers: EC2 works on a prefix list
    /// asynchronously, so the action's own answer shows the operation in progress and the
    /// next Describe shows where it settled.
    pub fn in_progress(self) -> Self {
        use PrefixListState::*;
        match self {
            CreateInProgress | CreateComplete => CreateInProgress,
            ModifyInProgress | ModifyComplete | ModifyFailed => ModifyInProgress,
            RestoreInProgress | RestoreComplete => RestoreInProgress,
            DeleteInProgress | DeleteComplete | DeleteFailed => DeleteInProgress,
        }
    }
}

wire_enum! {
    /// The kind of a VPC endpoint.
    pub enum VpcEndpointType {
        Gateway = "Gateway",
        Interface = "Interface",
        GatewayLoadBalancer = "GatewayLoadBalancer",
    }
}

wire_enum! {
    /// A VPC endpoint's state, as EC2 writes it (lowercase, unlike the SDK's enum).
    pub enum VpcEndpointState {
        Pending = "pending",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
        Failed = "failed",
    }
}

impl VpcEndpointType {
    /// The type a request names, in any case (`interface`, `Gateway`).
    pub fn parse_any_case(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// One entry of a prefix list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixListEntry {
    pub cidr: IpNet,
    #[serde(default)]
    pub description: Option<String>,
}

/// The entries of one version of a prefix list, ordered by CIDR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixListVersion {
    pub version: u64,
    pub entries: Vec<PrefixListEntry>,
}

/// A managed prefix list: a customer's, or one AWS manages (owner `AWS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPrefixList {
    pub id: PrefixListId,
    pub name: String,
    pub address_family: AddressFamily,
    pub max_entries: u32,
    pub state: PrefixListState,
    /// Why the last operation failed (`delete-failed`).
    #[serde(default)]
    pub state_message: Option<String>,
    /// The current version (1 when made; each change of entries adds one).
    pub version: u64,
    /// Every version kept, oldest first; the last is the current one.
    pub versions: Vec<PrefixListVersion>,
    pub owner_id: String,
    #[serde(default)]
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// The owner AWS-managed lists show.
pub const AWS_OWNER: &str = "AWS";

impl ManagedPrefixList {
    /// The entries of version `v`, if it is kept.
    pub fn entries_at(&self, v: u64) -> Option<&[PrefixListEntry]> {
        self.versions
            .iter()
            .find(|x| x.version == v)
            .map(|x| x.entries.as_slice())
    }

    /// The current entries.
    pub fn entries(&self) -> &[PrefixListEntry] {
        self.entries_at(self.version).unwrap_or_default()
    }

    pub fn is_aws_managed(&self) -> bool {
        self.owner_id == AWS_OWNER
    }

    pub fn is_deleted(&self) -> bool {
        self.state == PrefixListState::DeleteComplete
    }

    /// `arn:aws:ec2:REGION:OWNER:prefix-list/ID` (`aws` as the owner of AWS's lists).
    pub fn arn(&self, region: &str) -> String {
        let owner = if self.is_aws_managed() {
            "aws"
        } else {
            &self.owner_id
        };
        format!("arn:aws:ec2:{region}:{owner}:prefix-list/{}", self.id)
    }
}

/// The services with gateway endpoints, whose AWS-managed prefix lists every region has.
pub const GATEWAY_SERVICES: &[&str] = &["dynamodb", "s3"];

/// The address ranges Fort gives AWS's lists (illustrative: AWS's own us-east-1 ranges).
fn service_ranges(service: &str) -> &'static [&'static str] {
    match service {
        "s3" => &["3.5.0.0/19", "52.216.0.0/15", "54.231.0.0/16"],
        "dynamodb" => &["3.218.180.0/22", "52.94.0.0/22", "52.119.224.0/20"],
        _ => &[],
    }
}

/// The blocks of a gateway service's AWS-managed list (none for another service).
pub fn service_blocks(service: &str) -> Vec<ipnet::Ipv4Net> {
    service_ranges(service)
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// Where a gateway service Fort serves itself answers (S3): the first address of each
/// block of its list. Its regional name resolves to the first of them inside VPCs, and
/// the edge's internet namespace holds the blocks, its API answering there on port 80.
pub fn service_addresses(service: &str) -> Vec<std::net::Ipv4Addr> {
    service_blocks(service)
        .iter()
        .map(|n| std::net::Ipv4Addr::from(u32::from(n.network()).wrapping_add(1)))
        .collect()
}

/// A stable id of `pl-` and 8 hex digits (as AWS's own lists have) for `text`.
fn stable_id(text: &str) -> String {
    // FNV-1a: stable across releases, unlike the standard library's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("pl-{h:08x}")
}

/// The name of the AWS-managed list of `service` in `region`.
pub fn service_prefix_list_name(region: &str, service: &str) -> String {
    format!("com.amazonaws.{region}.{service}")
}

/// The lists AWS manages in `region` (the gateway services'), ordered by id.
pub fn aws_managed_prefix_lists(region: &str) -> Vec<ManagedPrefixList> {
    let mut lists: Vec<ManagedPrefixList> = GATEWAY_SERVICES
        .iter()
        .map(|service| {
            let name = service_prefix_list_name(region, service);
            let entries: Vec<PrefixListEntry> = service_ranges(service)
                .iter()
                .filter_map(|c| c.parse().ok())
                .map(|cidr| PrefixListEntry {
                    cidr,
                    description: None,
                })
                .collect();
            ManagedPrefixList {
                id: PrefixListId::stored(stable_id(&name)),
                max_entries: u32::try_from(entries.len()).unwrap_or(u32::MAX),
                name,
                address_family: AddressFamily::V4,
                state: PrefixListState::CreateComplete,
                state_message: None,
                version: 1,
                versions: vec![PrefixListVersion {
                    version: 1,
                    entries,
                }],
                owner_id: AWS_OWNER.to_owned(),
                client_token: None,
                tags: Tags::new(),
            }
        })
        .collect();
    lists.sort_by(|a, b| a.id.cmp(&b.id));
    lists
}

/// An interface endpoint's network interface in one subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInterface {
    pub subnet_id: SubnetId,
    pub network_interface_id: NetworkInterfaceId,
    /// The host whose agent answers for the interface (placed like an instance, on a host
    /// of the subnet's zone); none with the data plane off or no host in the zone.
    #[serde(default)]
    pub host_id: Option<String>,
}

/// A VPC endpoint: a gateway endpoint (routes to its service's prefix list in route
/// tables) or an interface endpoint (a requester-managed interface per subnet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcEndpoint {
    pub id: VpcEndpointId,
    pub vpc_id: VpcId,
    pub service_name: String,
    pub endpoint_type: VpcEndpointType,
    pub state: VpcEndpointState,
    pub policy_document: String,
    /// Gateway endpoints: the tables holding its route, in the order they were added.
    #[serde(default)]
    pub route_table_ids: Vec<RouteTableId>,
    /// Interface endpoints: one interface per subnet, in the order they were added.
    #[serde(default)]
    pub interfaces: Vec<EndpointInterface>,
    #[serde(default)]
    pub security_group_ids: Vec<SecurityGroupId>,
    pub private_dns_enabled: bool,
    /// The random part of its DNS names (`vpce-…-SUFFIX.service.region.vpce.amazonaws.com`).
    pub dns_suffix: String,
    pub create_time: Millis,
    #[serde(default)]
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// One DNS name of an interface endpoint (DescribeVpcEndpoints' `DnsEntries`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointDnsName {
    /// Lower case, without a trailing dot.
    pub name: String,
    /// The zone whose interface alone it names (the zonal names); none: every interface.
    pub zone: Option<String>,
    /// The service's own regional name, answered inside the VPC with private DNS on.
    pub private: bool,
}

impl VpcEndpoint {
    /// The service's short name (`ec2` of `com.amazonaws.us-east-1.ec2`).
    pub fn service_short<'a>(&'a self, region: &str) -> &'a str {
        self.service_name
            .strip_prefix("com.amazonaws.")
            .and_then(|s| s.strip_prefix(region))
            .and_then(|s| s.strip_prefix('.'))
            .unwrap_or(&self.service_name)
    }

    /// The DNS names of an available interface endpoint, as AWS forms them: the regional
    /// `vpce-ID-SUFFIX.SERVICE.REGION.vpce.amazonaws.com`, one `vpce-ID-SUFFIX-ZONE.…`
    /// per zone of `zones` (its subnets' zones, in order), then `SERVICE.REGION.amazonaws.com`
    /// with private DNS on.
    pub fn dns_names(&self, region: &str, zones: &[String]) -> Vec<EndpointDnsName> {
        if self.endpoint_type != VpcEndpointType::Interface
            || self.state != VpcEndpointState::Available
        {
            return Vec::new();
        }
        let short = self.service_short(region);
        let base = format!("{short}.{region}.vpce.amazonaws.com");
        let mut out = vec![EndpointDnsName {
            name: format!("{}-{}.{base}", self.id, self.dns_suffix),
            zone: None,
            private: false,
        }];
        for z in zones {
            out.push(EndpointDnsName {
                name: format!("{}-{}-{z}.{base}", self.id, self.dns_suffix),
                zone: Some(z.clone()),
                private: false,
            });
        }
        if self.private_dns_enabled {
            out.push(EndpointDnsName {
                name: format!("{short}.{region}.amazonaws.com"),
                zone: None,
                private: true,
            });
        }
        for n in &mut out {
            n.name.make_ascii_lowercase();
        }
        out
    }

    pub fn subnet_ids(&self) -> impl Iterator<Item = &SubnetId> {
        self.interfaces.iter().map(|i| &i.subnet_id)
    }

    pub fn is_live(&self) -> bool {
        !matches!(
            self.state,
            VpcEndpointState::Deleted | VpcEndpointState::Deleting | VpcEndpointState::Failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_lists_are_stable_per_region() {
        let a = aws_managed_prefix_lists("us-east-1");
        let b = aws_managed_prefix_lists("us-east-1");
        let c = aws_managed_prefix_lists("eu-west-1");
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|l| crate::Kind::PrefixList.matches(&l.id)));
        assert!(
            a.iter()
                .all(|l| l.is_aws_managed() && !l.entries().is_empty())
        );
        assert!(a.iter().all(|l| c.iter().all(|m| m.id != l.id)));
        let s3 = a
            .iter()
            .find(|l| l.name == "com.amazonaws.us-east-1.s3")
            .unwrap();
        assert_eq!(
            s3.arn("us-east-1"),
            format!("arn:aws:ec2:us-east-1:aws:prefix-list/{}", s3.id)
        );
    }

    #[test]
    fn endpoint_names_as_aws_forms_them() {
        let mut e = VpcEndpoint {
            id: VpcEndpointId::stored("vpce-0123456789abcdef0".into()),
            vpc_id: VpcId::stored("vpc-1".into()),
            service_name: "com.amazonaws.us-east-1.ec2".into(),
            endpoint_type: VpcEndpointType::Interface,
            state: VpcEndpointState::Available,
            policy_document: String::new(),
            route_table_ids: vec![],
            interfaces: vec![],
            security_group_ids: vec![],
            private_dns_enabled: true,
            dns_suffix: "abcd1234".into(),
            create_time: 0,
            client_token: None,
            tags: Tags::new(),
        };
        let names: Vec<String> = e
            .dns_names("us-east-1", &["us-east-1a".into()])
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(
            names,
            [
                "vpce-0123456789abcdef0-abcd1234.ec2.us-east-1.vpce.amazonaws.com",
                "vpce-0123456789abcdef0-abcd1234-us-east-1a.ec2.us-east-1.vpce.amazonaws.com",
                "ec2.us-east-1.amazonaws.com",
            ]
        );
        e.private_dns_enabled = false;
        assert_eq!(e.dns_names("us-east-1", &[]).len(), 1);
        e.state = VpcEndpointState::Deleted;
        assert!(e.dns_names("us-east-1", &[]).is_empty());
    }

    #[test]
    fn texts_round_trip() {
        for s in PrefixListState::ALL {
            assert_eq!(PrefixListState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            VpcEndpointType::parse_any_case("interface"),
            Some(VpcEndpointType::Interface)
        );
        assert_eq!(
            serde_json::to_string(&AddressFamily::V6).unwrap(),
            "\"IPv6\""
        );
    }
}
