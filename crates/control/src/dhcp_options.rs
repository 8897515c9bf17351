//! DHCP options sets: what instances of a VPC learn by DHCP (DNS servers, domain, NTP).
//! Sets are immutable; a VPC has exactly one (or `default`: none).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fort_model::cidr;
use fort_model::*;

use crate::Tx;
use crate::tags::check_tags;

/// The keys EC2 accepts.
pub const KEYS: &[&str] = &[
    "domain-name-servers",
    "domain-name",
    "ntp-servers",
    "netbios-name-servers",
    "netbios-node-type",
    "ipv6-address-preferred-lease-time",
];

fn bad(key: &str, value: &str, why: &str) -> ApiError {
    ApiError::invalid_value(format!(
        "Value ({value}) for parameter {key} is invalid. {why}"
    ))
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(v4) = cidr::parse_addr(s) {
        return Some(IpAddr::V4(v4));
    }
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    None
}

/// Up to `max_v4` IPv4 and `max_v6` IPv6 addresses (`AmazonProvidedDNS` counts as IPv4
/// when `amazon` allows it).
fn check_addresses(
    key: &str,
    values: &[String],
    max_v4: usize,
    max_v6: usize,
    amazon: bool,
) -> Result<(), ApiError> {
    let (mut v4, mut v6) = (0, 0);
    for v in values {
        if amazon && v == "AmazonProvidedDNS" {
            v4 += 1;
            continue;
        }
        match parse_ip(v) {
            Some(IpAddr::V4(_)) => v4 += 1,
            Some(IpAddr::V6(_)) if max_v6 > 0 => v6 += 1,
            _ => return Err(bad(key, v, "Must be a valid IP address.")),
        }
    }
    if v4 > max_v4 || v6 > max_v6 {
        return Err(ApiError::invalid_value(format!(
            "Too many values for {key}: at most {max_v4} IPv4 and {max_v6} IPv6 addresses."
        )));
    }
    Ok(())
}

fn check_domain_name(value: &str) -> Result<(), ApiError> {
    let ok = !value.trim().is_empty()
        && value.len() <= 255
        && value.split(' ').filter(|d| !d.is_empty()).all(|d| {
            let d = d.strip_suffix('.').unwrap_or(d);
            d.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
        });
    if ok {
        Ok(())
    } else {
        Err(bad("domain-name", value, "Must be a valid domain name."))
    }
}

/// Validates one key and its values as EC2 does (reference §5.11).
pub fn check_configuration(key: &str, values: &[String]) -> Result<(), ApiError> {
    if values.is_empty() {
        return Err(ApiError::invalid_value(format!(
            "Value for parameter {key} is missing: each DHCP option needs at least one value."
        )));
    }
    let one = || {
        if values.len() > 1 {
            Err(ApiError::invalid_value(format!(
                "The option {key} takes exactly one value."
            )))
        } else {
            Ok(&values[0])
        }
    };
    match key {
        "domain-name-servers" => {
            if values.iter().any(|v| v == "AmazonProvidedDNS") {
                // AmazonProvidedDNS with at most three other IPv4 servers (and IPv6 ones).
                check_addresses(key, values, 4, 4, true)
            } else {
                check_addresses(key, values, 4, 4, false)
            }
        }
        "domain-name" => check_domain_name(one()?),
        "ntp-servers" => check_addresses(key, values, 4, 4, false),
        "netbios-name-servers" => check_addresses(key, values, 4, 0, false),
        "netbios-node-type" => {
            let v = one()?;
            if ["1", "2", "4", "8"].contains(&v.as_str()) {
                Ok(())
            } else {
                Err(bad(key, v, "Valid values: 1, 2, 4, 8."))
            }
        }
        "ipv6-address-preferred-lease-time" => {
            let v = one()?;
            match v.parse::<i64>() {
                Ok(n) if (140..=2_147_483_647).contains(&n) => Ok(()),
                _ => Err(bad(
                    key,
                    v,
                    "Must be an integer between 140 and 2147483647 seconds.",
                )),
            }
        }
        other => Err(ApiError::invalid_value(format!(
            "Invalid DHCP option: '{other}'. Valid options: {}.",
            KEYS.join(", ")
        ))),
    }
}

impl Tx<'_> {
    pub fn create_dhcp_options(
        &mut self,
        configurations: Vec<(String, Vec<String>)>,
        tags: Tags,
    ) -> Result<DhcpOptions, ApiError> {
        if configurations.is_empty() {
            return Err(ApiError::missing("DhcpConfiguration"));
        }
        for (i, (key, values)) in configurations.iter().enumerate() {
            if configurations[..i].iter().any(|(k, _)| k == key) {
                return Err(ApiError::invalid_value(format!(
                    "The DHCP option '{key}' is specified more than once."
                )));
            }
            check_configuration(key, values)?;
        }
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        let d = DhcpOptions {
            id: DhcpOptionsId::new(),
            configurations,
            tags,
        };
        self.region.dhcp_options.insert(d.clone());
        Ok(d)
    }

    pub fn delete_dhcp_options(&mut self, id: &DhcpOptionsId) -> Result<(), ApiError> {
        self.region.dhcp_options.lookup(id)?;
        if self
            .region
            .vpcs
            .values()
            .any(|v| v.dhcp_options_id.as_ref() == Some(id))
        {
            return Err(ApiError::new(
                ErrorCode::DependencyViolation,
                format!("The dhcpOptions '{id}' has dependencies and cannot be deleted."),
            ));
        }
        self.region.dhcp_options.remove(id);
        Ok(())
    }

    /// AssociateDhcpOptions: a set's id, or `None` (the API's `default`) for none.
    pub fn associate_dhcp_options(
        &mut self,
        dhcp_id: Option<&DhcpOptionsId>,
        vpc_id: &str,
    ) -> Result<(), ApiError> {
        if let Some(id) = dhcp_id {
            self.region.dhcp_options.lookup(id)?;
        }
        let vpc = self.region.vpcs.find(Kind::Vpc, vpc_id)?;
        if vpc.dhcp_options_id.as_ref() != dhcp_id {
            self.region
                .vpcs
                .get_mut(vpc_id)
                .expect("found above")
                .dhcp_options_id = dhcp_id.cloned();
        }
        Ok(())
    }
}

/// The DNS servers a VPC's instances get (used by the data plane's DHCP answers).
pub fn dns_servers(options: Option<&DhcpOptions>, vpc_primary: ipnet::Ipv4Net) -> Vec<Ipv4Addr> {
    let Some(options) = options else {
        return Vec::new();
    };
    options
        .configurations
        .iter()
        .filter(|(k, _)| k == "domain-name-servers")
        .flat_map(|(_, vs)| vs.iter())
        .filter_map(|v| {
            if v == "AmazonProvidedDNS" {
                Some(cidr::dns_server(vpc_primary))
            } else {
                cidr::parse_addr(v)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn values_are_checked_per_key() {
        assert!(
            check_configuration(
                "domain-name-servers",
                &v(&["10.0.0.2", "AmazonProvidedDNS"])
            )
            .is_ok()
        );
        assert!(check_configuration("domain-name-servers", &v(&["10.0.0.2", "fd00::1"])).is_ok());
        assert!(
            check_configuration(
                "domain-name-servers",
                &v(&["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5"])
            )
            .is_err()
        );
        assert!(
            check_configuration(
                "domain-name-servers",
                &v(&[
                    "1.1.1.1",
                    "1.1.1.2",
                    "1.1.1.3",
                    "1.1.1.4",
                    "AmazonProvidedDNS"
                ])
            )
            .is_err()
        );
        assert!(check_configuration("domain-name-servers", &v(&["banana"])).is_err());
        assert!(check_configuration("domain-name", &v(&["example.com"])).is_ok());
        assert!(check_configuration("domain-name", &v(&["a.example.com b.example.com"])).is_ok());
        assert!(check_configuration("domain-name", &v(&["bad_domain!"])).is_err());
        assert!(check_configuration("domain-name", &v(&["a.com", "b.com"])).is_err());
        assert!(check_configuration("netbios-node-type", &v(&["2"])).is_ok());
        assert!(check_configuration("netbios-node-type", &v(&["3"])).is_err());
        assert!(check_configuration("netbios-name-servers", &v(&["fd00::1"])).is_err());
        assert!(check_configuration("ipv6-address-preferred-lease-time", &v(&["139"])).is_err());
        assert!(check_configuration("ipv6-address-preferred-lease-time", &v(&["140"])).is_ok());
        assert!(
            check_configuration("ntp-servers", &v(&["169.254.169.123", "fd00:ec2::123"])).is_ok()
        );
        assert!(check_configuration("no-such-key", &v(&["x"])).is_err());
        assert!(check_configuration("ntp-servers", &[]).is_err());
    }
}
