//! Names the agent gives to what it creates, so it (and tests) can find them again.

/// The TAP device of an ENI: `ft` and the last 13 hex digits of the ENI id (15
/// characters at most, the kernel's limit).
pub fn tap_name(eni_id: &str) -> String {
    let hex: String = eni_id
        .strip_prefix("eni-")
        .unwrap_or(eni_id)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let tail = &hex[hex.len().saturating_sub(13)..];
    format!("ft{tail}")
}

/// Is `id` an instance id we will name a namespace after (`i-` and 8 to 17 hex digits)?
pub fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-")
        .is_some_and(|h| (1..=32).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Is `id` an ENI id we will name a namespace after (an interface endpoint's: `eni-` and
/// hex digits)?
pub fn is_eni_id(id: &str) -> bool {
    id.strip_prefix("eni-")
        .is_some_and(|h| (1..=32).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The link name of an ENI inside its instance: `eth` and the device index.
pub fn link_name(device_index: u32) -> String {
    format!("eth{device_index}")
}

/// The namespace of the host's metadata service: `fort-imds-` and the agent's underlay
/// address (unique on the machine, as every agent binds its own).
pub fn metadata_namespace(underlay: std::net::Ipv4Addr) -> String {
    format!("fort-imds-{underlay}")
}

/// The metadata service's TAP before it moves into its namespace: `fmd` and the
/// underlay address in hex.
pub fn metadata_tap(underlay: std::net::Ipv4Addr) -> String {
    format!("fmd{:08x}", u32::from(underlay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names() {
        let u = std::net::Ipv4Addr::new(127, 0, 0, 10);
        assert_eq!(metadata_namespace(u), "fort-imds-127.0.0.10");
        assert_eq!(metadata_tap(u), "fmd7f00000a");
    }

    #[test]
    fn tap_names_fit_the_kernel_limit() {
        assert_eq!(tap_name("eni-0123456789abcdef0"), "ft456789abcdef0");
        assert_eq!(tap_name("eni-0123456789abcdef0").len(), 15);
        assert_eq!(tap_name("eni-12345678"), "ft12345678");
        assert_eq!(tap_name("eni-a/b c"), "ftabc");
    }

    #[test]
    fn instance_ids() {
        assert!(is_instance_id("i-0123456789abcdef0"));
        assert!(is_instance_id("i-12345678"));
        assert!(!is_instance_id("i-"));
        assert!(!is_instance_id("i-../../etc"));
        assert!(!is_instance_id("eni-1234"));
        assert!(!is_instance_id("i-123 45"));
        assert!(is_eni_id("eni-0123456789abcdef0"));
        assert!(!is_eni_id("eni-../x"));
        assert!(!is_eni_id("i-0123"));
    }

    #[test]
    fn link_names() {
        assert_eq!(link_name(0), "eth0");
        assert_eq!(link_name(1), "eth1");
    }
}
