//! The DNS names EC2 gives instances: private (`ip-10-0-1-5.ec2.internal`, or the
//! resource name `i-0123456789abcdef0.ec2.internal`) and public
//! (`ec2-198-51-100-7.compute-1.amazonaws.com`), in us-east-1's old forms and every other
//! region's. The API shows them, the metadata service serves them, resolvers answer them.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an instance's private hostname is made of (EC2's `HostnameType`): its primary
/// private IPv4 address (`ip-name`, the legacy form) or its instance id (`resource-name`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HostnameType {
    #[default]
    #[serde(rename = "ip-name")]
    IpName,
    #[serde(rename = "resource-name")]
    ResourceName,
}

impl HostnameType {
    pub fn as_str(self) -> &'static str {
        match self {
            HostnameType::IpName => "ip-name",
            HostnameType::ResourceName => "resource-name",
        }
    }
}

impl fmt::Display for HostnameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that is not `ip-name` or `resource-name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownHostnameType;

impl FromStr for HostnameType {
    type Err = UnknownHostnameType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ip-name" => Ok(HostnameType::IpName),
            "resource-name" => Ok(HostnameType::ResourceName),
            _ => Err(UnknownHostnameType),
        }
    }
}

/// An instance's hostname options (EC2's `PrivateDnsNameOptions`; a subnet holds the
/// ones its instances launch with, `PrivateDnsNameOptionsOnLaunch`). The two flags say
/// whether the VPC resolver answers the resource name's A and AAAA queries; the IP name's
/// A record is answered whatever they say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateDnsNameOptions {
    pub hostname_type: HostnameType,
    pub enable_resource_name_dns_a_record: bool,
    pub enable_resource_name_dns_aaaa_record: bool,
}

/// `ec2.internal` in us-east-1, `REGION.compute.internal` elsewhere.
pub fn private_domain(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_owned()
    } else {
        format!("{region}.compute.internal")
    }
}

/// `compute-1.amazonaws.com` in us-east-1, `REGION.compute.amazonaws.com` elsewhere.
pub fn public_domain(region: &str) -> String {
    if region == "us-east-1" {
        "compute-1.amazonaws.com".to_owned()
    } else {
        format!("{region}.compute.amazonaws.com")
    }
}

/// `ip-10-0-1-17.ec2.internal` in us-east-1, `ip-….REGION.compute.internal` elsewhere.
pub fn private_dns_name(region: &str, ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("ip-{a}-{b}-{c}-{d}.{}", private_domain(region))
}

/// `ec2-198-51-100-7.compute-1.amazonaws.com` in us-east-1, `ec2-….REGION.compute.amazonaws.com`.
pub fn public_dns_name(region: &str, ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("ec2-{a}-{b}-{c}-{d}.{}", public_domain(region))
}

/// `i-0123456789abcdef0.ec2.internal` in us-east-1, `i-….REGION.compute.internal`
/// elsewhere: an instance's resource name.
pub fn resource_dns_name(region: &str, instance_id: &str) -> String {
    format!("{instance_id}.{}", private_domain(region))
}

/// The private DNS name EC2 reports for an instance (`privateDnsName`, the metadata
/// service's `hostname` and `local-hostname`): its resource name when its hostname type
/// is `resource-name` or it has no IPv4 address (an IPv6-only subnet's), else the IP name
/// of its primary address.
pub fn instance_private_dns_name(
    region: &str,
    hostname_type: HostnameType,
    instance_id: &str,
    ip: Option<Ipv4Addr>,
) -> String {
    match (hostname_type, ip) {
        (HostnameType::IpName, Some(ip)) => private_dns_name(region, ip),
        _ => resource_dns_name(region, instance_id),
    }
}

/// The host part of an instance's hostname, as DHCP gives it (`ip-10-0-1-5`, or the
/// instance id, as for an instance without an IPv4 address).
pub fn instance_host_label(
    hostname_type: HostnameType,
    instance_id: &str,
    ip: Option<Ipv4Addr>,
) -> String {
    match (hostname_type, ip) {
        (HostnameType::IpName, Some(ip)) => {
            let [a, b, c, d] = ip.octets();
            format!("ip-{a}-{b}-{c}-{d}")
        }
        _ => instance_id.to_owned(),
    }
}

/// Whether a name's first label is an instance id as EC2 forms them (`i-` and 8 or 17
/// lower-case hex digits), so a resource name.
pub fn is_instance_label(label: &str) -> bool {
    label.strip_prefix("i-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The address in a name's first label after `prefix` (`ip-10-0-1-5` → 10.0.1.5).
pub fn dashed_address(label: &str, prefix: &str) -> Option<Ipv4Addr> {
    label.strip_prefix(prefix)?.replace('-', ".").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_region() {
        let ip = Ipv4Addr::new(10, 0, 1, 5);
        assert_eq!(
            private_dns_name("us-east-1", ip),
            "ip-10-0-1-5.ec2.internal"
        );
        assert_eq!(
            private_dns_name("eu-west-1", ip),
            "ip-10-0-1-5.eu-west-1.compute.internal"
        );
        assert_eq!(
            public_dns_name("us-east-1", ip),
            "ec2-10-0-1-5.compute-1.amazonaws.com"
        );
        assert_eq!(
            public_dns_name("eu-west-1", ip),
            "ec2-10-0-1-5.eu-west-1.compute.amazonaws.com"
        );
        assert_eq!(dashed_address("ip-10-0-1-5", "ip-"), Some(ip));
        assert_eq!(dashed_address("ip-10-0-1", "ip-"), None);
    }

    #[test]
    fn resource_names() {
        let ip = Some(Ipv4Addr::new(10, 0, 1, 5));
        let id = "i-0123456789abcdef0";
        assert_eq!(
            resource_dns_name("us-east-1", id),
            "i-0123456789abcdef0.ec2.internal"
        );
        assert_eq!(
            instance_private_dns_name("eu-west-1", HostnameType::ResourceName, id, ip),
            "i-0123456789abcdef0.eu-west-1.compute.internal"
        );
        assert_eq!(
            instance_private_dns_name("eu-west-1", HostnameType::IpName, id, ip),
            "ip-10-0-1-5.eu-west-1.compute.internal"
        );
        assert_eq!(
            instance_host_label(HostnameType::IpName, id, ip),
            "ip-10-0-1-5"
        );
        assert_eq!(instance_host_label(HostnameType::ResourceName, id, ip), id);
        // without an IPv4 address (an IPv6-only subnet's), the resource name whatever
        assert_eq!(instance_host_label(HostnameType::IpName, id, None), id);
        assert_eq!(
            instance_private_dns_name("us-east-1", HostnameType::IpName, id, None),
            "i-0123456789abcdef0.ec2.internal"
        );
        assert!(is_instance_label(id));
        assert!(is_instance_label("i-0123abcd"));
        assert!(!is_instance_label("i-0123456789ABCDEF0"));
        assert!(!is_instance_label("ip-10-0-1-5"));
    }

    #[test]
    fn hostname_types_read_and_write_as_ec2_spells_them() {
        assert_eq!("ip-name".parse(), Ok(HostnameType::IpName));
        assert_eq!("resource-name".parse(), Ok(HostnameType::ResourceName));
        assert_eq!("rbn".parse::<HostnameType>(), Err(UnknownHostnameType));
        assert_eq!(HostnameType::ResourceName.to_string(), "resource-name");
        // stored rows keep the API's spelling
        assert_eq!(
            serde_json::to_string(&HostnameType::ResourceName).unwrap(),
            "\"resource-name\""
        );
    }
}
