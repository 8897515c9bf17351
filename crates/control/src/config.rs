//! What an operator chooses: quotas, the public address pool, zones, the data plane.

use ipnet::Ipv4Net;

/// Per-account, per-region limits, with EC2's error codes when exceeded.
///
/// The defaults suit a private cloud whose operator owns the hardware: generous. AWS's
/// own defaults are [`Quotas::aws`], one setting away (`--quotas aws`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas {
    pub vpcs: usize,
    pub subnets_per_vpc: usize,
    pub cidr_blocks_per_vpc: usize,
    pub ipv6_cidr_blocks_per_vpc: usize,
    pub internet_gateways: usize,
    pub egress_only_internet_gateways: usize,
    pub nat_gateways_per_az: usize,
    /// Elastic IP addresses of one public NAT gateway, its primary included.
    pub elastic_ips_per_nat_gateway: usize,
    /// Private IPv4 addresses of one private NAT gateway, its primary included.
    pub private_ips_per_nat_gateway: usize,
    pub elastic_ips: usize,
    pub route_tables_per_vpc: usize,
    pub routes_per_table: usize,
    pub network_acls_per_vpc: usize,
    pub entries_per_network_acl: usize,
    pub security_groups: usize,
    pub rules_per_security_group: usize,
    pub security_groups_per_interface: usize,
    pub network_interfaces: usize,
    pub private_ips_per_interface: usize,
    pub tags_per_resource: usize,
    pub instances: usize,
    pub transit_gateways: usize,
    /// Virtual private gateways per region.
    pub vpn_gateways: usize,
    /// Customer gateways per region.
    pub customer_gateways: usize,
    /// Site-to-Site VPN connections per region, and per virtual private gateway.
    pub vpn_connections: usize,
    pub vpn_connections_per_vpn_gateway: usize,
    /// Static routes per VPN connection.
    pub routes_per_vpn_connection: usize,
}

impl Quotas {
    /// AWS's default quotas (reference §6).
    pub fn aws() -> Self {
        Self {
            vpcs: 5,
            subnets_per_vpc: 200,
            cidr_blocks_per_vpc: 5,
            ipv6_cidr_blocks_per_vpc: 5,
            internet_gateways: 5,
            egress_only_internet_gateways: 5,
            nat_gateways_per_az: 5,
            elastic_ips_per_nat_gateway: 2,
            private_ips_per_nat_gateway: 8,
            elastic_ips: 5,
            route_tables_per_vpc: 200,
            routes_per_table: 50,
            network_acls_per_vpc: 200,
            entries_per_network_acl: 20,
            security_groups: 2500,
            rules_per_security_group: 60,
            security_groups_per_interface: 5,
            network_interfaces: 5000,
            private_ips_per_interface: 50,
            tags_per_resource: 50,
            instances: 10_000,
            transit_gateways: 5,
            vpn_gateways: 5,
            customer_gateways: 50,
            vpn_connections: 50,
            vpn_connections_per_vpn_gateway: 10,
            routes_per_vpn_connection: 100,
        }
    }

    /// Fort's defaults: AWS's highest adjustable values, or far above where AWS has none.
    /// A VPC's CIDR blocks are the exception: AWS's default of five per family, because
    /// tools and tests recorded against AWS count on the sixth being refused
    /// (CidrLimitExceeded), and one VPC's blocks never pile up across a shared server.
    pub fn generous() -> Self {
        Self {
            vpcs: 1000,
            subnets_per_vpc: 1000,
            cidr_blocks_per_vpc: 5,
            ipv6_cidr_blocks_per_vpc: 5,
            internet_gateways: 1000,
            egress_only_internet_gateways: 1000,
            nat_gateways_per_az: 100,
            elastic_ips_per_nat_gateway: 8,
            private_ips_per_nat_gateway: 32,
            elastic_ips: 10_000,
            route_tables_per_vpc: 1000,
            routes_per_table: 1000,
            network_acls_per_vpc: 1000,
            entries_per_network_acl: 40,
            security_groups: 10_000,
            rules_per_security_group: 1000,
            security_groups_per_interface: 16,
            network_interfaces: 1_000_000,
            private_ips_per_interface: 50,
            tags_per_resource: 50,
            instances: 1_000_000,
            transit_gateways: 1000,
            vpn_gateways: 1000,
            customer_gateways: 1000,
            // AWS's per-gateway limit is hard, and the public pool is the real bound.
            vpn_connections: 1000,
            vpn_connections_per_vpn_gateway: 10,
            routes_per_vpn_connection: 1000,
        }
    }
}

impl Default for Quotas {
    fn default() -> Self {
        Self::generous()
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub quotas: Quotas,
    /// Public addresses that elastic and auto-assigned public IPs come from.
    pub public_pool: Ipv4Net,
    /// In how many of a region's zones `fort up` runs host agents (`--zones`): two by
    /// default, so that `fort up --hosts 4` puts hosts 1 and 3 in zone a (DESIGN.md). The
    /// API offers every zone of the region whatever this says ([`crate::zones`]).
    pub host_zones: usize,
    /// With the data plane off, instances run at once without a host.
    pub dataplane: bool,
    /// `--images strict`: RunInstances refuses an image id no one registered, as EC2
    /// does; by default (`open`) it registers a generic Linux image of that id.
    pub strict_images: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            quotas: Quotas::default(),
            public_pool: "198.51.100.0/24".parse().expect("literal"),
            host_zones: 2,
            dataplane: false,
            strict_images: false,
        }
    }
}

impl Config {
    /// The zone names of a region, all of AWS's: `us-east-1a` to `us-east-1f`.
    pub fn zones(&self, region: &str) -> Vec<String> {
        crate::zones::zone_names(region)
    }

    /// The zones hosts run in (`--zones`): the first `host_zones` of the region's.
    pub fn host_zone_names(&self, region: &str) -> Vec<String> {
        let mut z = self.zones(region);
        z.truncate(self.host_zones.max(1));
        z
    }

    /// EC2's zone id for a zone name: `use1-az6` for `us-east-1a`, as AWS recorded.
    pub fn zone_id(&self, zone: &str) -> String {
        let region = zone.trim_end_matches(|c: char| c.is_ascii_lowercase());
        crate::zones::zones_of(region)
            .into_iter()
            .find(|z| z.name == zone)
            .map(|z| z.id)
            .unwrap_or_else(|| format!("{}-az1", crate::zones::zone_id_prefix(region)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn zone_names_and_ids() {
        let c = super::Config::default();
        assert_eq!(c.zones("us-east-1").len(), 6);
        assert_eq!(c.host_zone_names("us-east-1"), ["us-east-1a", "us-east-1b"]);
        assert_eq!(c.zone_id("us-east-1a"), "use1-az6");
        assert_eq!(c.zone_id("eu-west-1c"), "euw1-az2");
        assert_eq!(c.zone_id("ap-northeast-1d"), "apne1-az2");
    }
}
