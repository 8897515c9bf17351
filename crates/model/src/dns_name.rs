//! The DNS names EC2 gives instances: private (`ip-10-0-1-5.ec2.internal`) and public
//! (`ec2-198-51-100-7.compute-1.amazonaws.com`), in us-east-1's old forms and every other
//! region's. The API shows them, the metadata service serves them, resolvers answer them.

use std::net::Ipv4Addr;

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
}
