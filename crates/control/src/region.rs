//! The state of one account in one region, and the few records shared by all of them.

use std::borrow::Borrow;
use std::net::Ipv4Addr;

use fort_model::*;
use serde::{Deserialize, Serialize};

use crate::table::{Resource, Table};

/// Calls `$m!` with every region table: (field, type, store name).
macro_rules! region_tables {
    ($m:ident) => {
        $m! {
            vpcs: Vpc => "vpc",
            subnets: Subnet => "subnet",
            subnet_cidr_reservations: SubnetCidrReservation => "subnet-cidr-reservation",
            route_tables: RouteTable => "route-table",
            internet_gateways: InternetGateway => "internet-gateway",
            egress_only_internet_gateways: EgressOnlyInternetGateway => "egress-only-internet-gateway",
            carrier_gateways: CarrierGateway => "carrier-gateway",
            nat_gateways: NatGateway => "natgateway",
            network_acls: NetworkAcl => "network-acl",
            security_groups: SecurityGroup => "security-group",
            dhcp_options: DhcpOptions => "dhcp-options",
            network_interfaces: NetworkInterface => "network-interface",
            addresses: Address => "elastic-ip",
            instances: Instance => "instance",
            spot_instance_requests: SpotInstanceRequest => "spot-instances-request",
            fleets: Fleet => "fleet",
            spot_fleet_requests: SpotFleetRequest => "spot-fleet-request",
            dedicated_hosts: DedicatedHost => "dedicated-host",
            key_pairs: KeyPair => "key-pair",
            placement_groups: PlacementGroup => "placement-group",
            capacity_reservations: CapacityReservation => "capacity-reservation",
            images: Image => "image",
            launch_templates: LaunchTemplate => "launch-template",
            volumes: Volume => "volume",
            snapshots: Snapshot => "snapshot",
            ebs_settings: EbsSettings => "ebs-settings",
            instance_metadata_defaults: InstanceMetadataDefaults => "instance-metadata-defaults",
            managed_prefix_lists: ManagedPrefixList => "prefix-list",
            vpc_endpoints: VpcEndpoint => "vpc-endpoint",
            transit_gateways: TransitGateway => "transit-gateway",
            transit_gateway_vpc_attachments: TransitGatewayVpcAttachment => "transit-gateway-vpc-attachment",
            transit_gateway_route_tables: TransitGatewayRouteTable => "transit-gateway-route-table",
            flow_logs: FlowLog => "flow-log",
            traffic_mirror_filters: TrafficMirrorFilter => "traffic-mirror-filter",
            traffic_mirror_filter_rules: TrafficMirrorFilterRule => "traffic-mirror-filter-rule",
            traffic_mirror_targets: TrafficMirrorTarget => "traffic-mirror-target",
            traffic_mirror_sessions: TrafficMirrorSession => "traffic-mirror-session",
            vpc_block_public_access_options: VpcBlockPublicAccessOptions => "vpc-block-public-access-options",
            vpc_block_public_access_exclusions: VpcBlockPublicAccessExclusion => "vpc-block-public-access-exclusion",
            vpn_gateways: VpnGateway => "vpn-gateway",
            customer_gateways: CustomerGateway => "customer-gateway",
            vpn_connections: VpnConnection => "vpn-connection",
            service_subnet_groups: crate::service_subnet_group::ServiceSubnetGroup => "service-subnet-group",
            client_tokens: ClientTokenRecord => "client-token",
        }
    };
}

macro_rules! define_region {
    ($($field:ident: $ty:ty => $name:literal,)*) => {
        /// Everything one account owns in one region.
        #[derive(Debug, Clone)]
        pub struct Region {
            pub account: String,
            pub name: String,
            $(pub $field: Table<$ty>,)*
        }

        impl Region {
            pub fn new(account: &str, name: &str) -> Self {
                Self { account: account.to_owned(), name: name.to_owned(), $($field: Table::default(),)* }
            }

            pub(crate) fn rollback(&mut self) {
                $(self.$field.rollback();)*
            }

            /// The store writes of the change just made: `(key, Some(json))` or `(key, None)`.
            pub(crate) fn take_changes(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) -> Result<(), serde_json::Error> {
                $(
                    for (id, row) in self.$field.take_changes() {
                        let key = format!("r/{}/{}/{}/{}", self.account, self.name, $name, id);
                        out.push((key, row.map(serde_json::to_vec).transpose()?));
                    }
                )*
                Ok(())
            }

            /// Every row as its store key and JSON: what the store should hold.
            pub fn dump(&self, out: &mut std::collections::BTreeMap<String, Vec<u8>>) -> Result<(), serde_json::Error> {
                $(
                    for row in self.$field.values() {
                        out.insert(format!("r/{}/{}/{}/{}", self.account, self.name, $name, row.id()), serde_json::to_vec(row)?);
                    }
                )*
                Ok(())
            }

            /// Loads one stored row given the table name and its JSON.
            pub(crate) fn load(&mut self, table: &str, json: &[u8]) -> Result<(), serde_json::Error> {
                match table {
                    $($name => self.$field.load(serde_json::from_slice(json)?),)*
                    _ => tracing::warn!(table, "unknown table in store, ignored"),
                }
                Ok(())
            }

            /// Forgets one row the store no longer holds, given its table name and id.
            pub(crate) fn unload(&mut self, table: &str, id: &str) {
                match table {
                    $($name => self.$field.unload(id),)*
                    _ => tracing::warn!(table, "unknown table in store, ignored"),
                }
            }

            /// The user tags of any taggable resource, by id.
            pub fn tags_of(&self, id: &str) -> Option<&Tags> {
                $(if let Some(r) = self.$field.get(id) { return r.tags(); })*
                // Security group rules live inside their group.
                self.security_groups.values().flat_map(|g| &g.rules).find(|r| r.id == id).map(|r| &r.tags)
            }

            /// Mutable tags of any taggable resource, by id.
            pub fn tags_of_mut(&mut self, id: &str) -> Option<&mut Tags> {
                $(if self.$field.contains(id) { return self.$field.get_mut(id).and_then(|r| r.tags_mut()); })*
                let group = self.security_groups.values().find(|g| g.rules.iter().any(|r| r.id == id))?.id.clone();
                self.security_groups.get_mut(&group)?.rules.iter_mut().find(|r| r.id == id).map(|r| &mut r.tags)
            }

            /// Every tagged resource: (id, tags).
            pub fn all_tags(&self) -> Vec<(&str, &Tags)> {
                let mut out = Vec::new();
                $(out.extend(self.$field.values().filter_map(|r| r.tags().map(|t| (Borrow::<str>::borrow(r.id()), t))));)*
                out.extend(self.security_groups.values().flat_map(|g| &g.rules).map(|r| (r.id.as_str(), &r.tags)));
                // a VPN's transit gateway attachment keeps its tags with its connection
                out.extend(self.vpn_connections.values().filter(|c| c.is_live()).filter_map(|c| {
                    c.transit_gateway_attachment_id.as_deref().map(|a| (a, &c.transit_gateway_attachment_tags))
                }));
                out
            }
        }
    };
}

region_tables!(define_region);

impl Region {
    /// The region's default VPC, if it has one (CreateDefaultVpc makes it again).
    pub fn default_vpc(&self) -> Option<&Vpc> {
        self.vpcs.values().find(|v| v.is_default)
    }

    /// The security groups named `names` in the default VPC, as `GroupName.N` of
    /// DescribeSecurityGroups selects them: `None` when no name is given; EC2's error when
    /// a name is not a group of the default VPC.
    pub fn default_vpc_groups_named(
        &self,
        names: &[String],
    ) -> Result<Option<Vec<&SecurityGroup>>, ApiError> {
        if names.is_empty() {
            return Ok(None);
        }
        let default_vpc = self.default_vpc().map(|v| v.id.as_str());
        let in_default = |g: &&SecurityGroup| Some(g.vpc_id.as_str()) == default_vpc;
        for name in names {
            if !self
                .security_groups
                .values()
                .filter(in_default)
                .any(|g| &g.name == name)
            {
                return Err(ApiError::new(
                    ErrorCode::InvalidGroupNotFound,
                    format!("The security group '{name}' does not exist in default VPC"),
                ));
            }
        }
        Ok(Some(
            self.security_groups
                .values()
                .filter(in_default)
                .filter(|g| names.contains(&g.name))
                .collect(),
        ))
    }
}

/// What an idempotent create remembers of its `ClientToken` (see [`crate::idempotency`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTokenRecord {
    /// `Action/token`.
    pub id: String,
    /// A digest of the request's parameters: a reuse with others is a mismatch.
    pub fingerprint: String,
    /// The resource (or reservation) the first request created.
    pub resource_id: String,
}

/// A public address in use somewhere: the pool is shared by every account and region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIpLease {
    /// The address, as text (the table's key).
    pub id: String,
    pub account: String,
    pub region: String,
    /// The allocation (eipalloc-) or interface (eni-) holding it.
    pub holder: String,
}

/// A named counter, such as the next VPC number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub id: String,
    pub value: u64,
}

/// A physical host an agent runs on: where instances of its zone may be placed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// The host id its agent registered with.
    pub id: String,
    /// The availability zone it serves, e.g. `us-east-1a`.
    pub zone: String,
    /// Its underlay (Geneve) address.
    pub underlay: Ipv4Addr,
    pub role: HostRole,
    /// Instances placed on it and not yet stopped or terminated.
    pub instances: u32,
    /// Whether its agent is in touch with the mapping service: a silent host's instances
    /// show an impaired system status.
    #[serde(default = "yes")]
    pub available: bool,
    /// The server holding its session (its member id; empty on a store of one server):
    /// only that server judges whether the host is silent.
    #[serde(default)]
    pub server: String,
}

fn yes() -> bool {
    true
}

/// Internal records: identified by id, never tagged.
macro_rules! untagged {
    ($($t:ty),*) => {$(
        impl Resource for $t {
            type Id = String;
            fn id(&self) -> &String { &self.id }
            fn tags(&self) -> Option<&Tags> { None }
            fn tags_mut(&mut self) -> Option<&mut Tags> { None }
        }
    )*};
}

untagged!(
    ClientTokenRecord,
    PublicIpLease,
    Counter,
    Host,
    EbsSettings,
    InstanceMetadataDefaults,
    VpcBlockPublicAccessOptions
);

macro_rules! define_global {
    ($($field:ident: $ty:ty => $name:literal,)*) => {
        /// Records shared across accounts and regions.
        #[derive(Debug, Default, Clone)]
        pub struct Global {
            $(pub $field: Table<$ty>,)*
        }

        impl Global {
            pub(crate) fn rollback(&mut self) {
                $(self.$field.rollback();)*
            }

            pub(crate) fn take_changes(&mut self, out: &mut Vec<(String, Option<Vec<u8>>)>) -> Result<(), serde_json::Error> {
                $(
                    for (id, row) in self.$field.take_changes() {
                        out.push((format!("g/{}/{id}", $name), row.map(serde_json::to_vec).transpose()?));
                    }
                )*
                Ok(())
            }

            pub(crate) fn load(&mut self, table: &str, json: &[u8]) -> Result<(), serde_json::Error> {
                match table {
                    $($name => self.$field.load(serde_json::from_slice(json)?),)*
                    _ => tracing::warn!(table, "unknown global table in store, ignored"),
                }
                Ok(())
            }

            pub(crate) fn unload(&mut self, table: &str, id: &str) {
                match table {
                    $($name => self.$field.unload(id),)*
                    _ => tracing::warn!(table, "unknown global table in store, ignored"),
                }
            }

            /// Every row as its store key and JSON.
            pub fn dump(&self, out: &mut std::collections::BTreeMap<String, Vec<u8>>) -> Result<(), serde_json::Error> {
                $(
                    for row in self.$field.values() {
                        out.insert(format!("g/{}/{}", $name, row.id()), serde_json::to_vec(row)?);
                    }
                )*
                Ok(())
            }
        }
    };
}

define_global! {
    leases: PublicIpLease => "lease",
    counters: Counter => "counter",
    hosts: Host => "host",
    peerings: VpcPeeringConnection => "peering",
    transit_gateway_peerings: TransitGatewayPeeringAttachment => "transit-gateway-peering",
    iam_roles: crate::iam::Role => "iam-role",
    iam_policies: crate::iam::ManagedPolicy => "iam-policy",
    iam_instance_profiles: crate::iam::InstanceProfile => "iam-instance-profile",
    hosted_zones: crate::route53::HostedZone => "route53-zone",
    route53_changes: crate::route53::ChangeRecord => "route53-change",
}

impl Global {
    /// Takes the next value of a counter (the first is `first`).
    pub fn next(&mut self, counter: &str, first: u64) -> u64 {
        if self.counters.get(counter).is_none() {
            self.counters.insert(Counter {
                id: counter.to_owned(),
                value: first,
            });
        }
        let c = self.counters.get_mut(counter).expect("inserted above");
        let v = c.value;
        c.value += 1;
        v
    }

    /// Places an instance in `zone`: the available instance host with the fewest instances
    /// (first by id on a tie), whose count goes up. `None` when the zone has no such host.
    pub fn place(&mut self, zone: &str) -> Option<String> {
        let host = self
            .hosts
            .values()
            .filter(|h| h.zone == zone && h.role == HostRole::Instance && h.available)
            .min_by_key(|h| (h.instances, h.id.clone()))?
            .id
            .clone();
        self.hosts.get_mut(&host).expect("found above").instances += 1;
        Some(host)
    }

    /// An instance left its host (stopped or terminated).
    pub fn unplace(&mut self, host: &str) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.instances = h.instances.saturating_sub(1);
        }
    }

    pub fn is_leased(&self, ip: Ipv4Addr) -> bool {
        self.leases.contains(&ip.to_string())
    }
}
