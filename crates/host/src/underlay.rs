//! The underlay's MTU: detected from the interface that carries a host's underlay
//! address (or given), and the instance MTU derived from it
//! ([`fort_dataplane::dhcp::instance_mtu`]).

use std::net::Ipv4Addr;

/// The interface that holds `addr`, from `ip -o -4 addr show`: the one with exactly that
/// address, else the one whose prefix contains it (127.0.0.x on `lo`'s 127.0.0.1/8).
pub fn interface_of(ip_addr_output: &str, addr: Ipv4Addr) -> Option<String> {
    let mut containing = None;
    for line in ip_addr_output.lines() {
        // "2: eth0    inet 198.18.0.1/24 brd 198.18.0.255 scope global eth0\ ..."
        let mut words = line.split_whitespace();
        let (Some(_index), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name).trim_end_matches(':');
        let Some(cidr) = words.skip_while(|w| *w != "inet").nth(1) else {
            continue;
        };
        let Ok(net) = cidr.parse::<ipnet::Ipv4Net>() else {
            continue;
        };
        if net.addr() == addr {
            return Some(name.to_owned());
        }
        if containing.is_none() && net.contains(&addr) {
            containing = Some(name.to_owned());
        }
    }
    containing
}

/// The MTU in a line of `ip -o link show`.
pub fn mtu_in(ip_link_output: &str) -> Option<u32> {
    let mut words = ip_link_output.split_whitespace();
    words.find(|w| *w == "mtu")?;
    words.next()?.parse().ok()
}

/// The MTU of the interface carrying `addr` in this network namespace: (interface, MTU).
/// Asked of the kernel through `ip` (netlink), not /sys, which shows the namespace it
/// was mounted in.
pub fn detect_mtu(addr: Ipv4Addr) -> Result<(String, u32), String> {
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .map_err(|e| format!("running ip {}: {e}", args.join(" ")))
    };
    let listing = ip(&["-o", "-4", "addr", "show"])?;
    let name = interface_of(&listing, addr)
        .ok_or_else(|| format!("no interface has the underlay address {addr}"))?;
    let mtu = mtu_in(&ip(&["-o", "link", "show", "dev", &name])?)
        .ok_or_else(|| format!("no MTU for {name} in ip link"))?;
    Ok((name, mtu))
}

/// The underlay MTU the agent runs with (`given`, else detected) and the instance MTU
/// derived from it, or why there is none.
pub fn mtus(addr: Ipv4Addr, given: Option<u32>) -> Result<(u32, u16), String> {
    let underlay = match given {
        Some(m) => m,
        None => {
            let (name, mtu) = detect_mtu(addr)?;
            tracing::info!(interface = name, mtu, "underlay MTU detected");
            mtu
        }
    };
    let instance = fort_dataplane::dhcp::instance_mtu(underlay).ok_or_else(|| {
        format!(
            "the underlay MTU {underlay} is too small: instances need {} bytes and Geneve {} more",
            fort_dataplane::dhcp::MIN_INSTANCE_MTU,
            fort_dataplane::dhcp::UNDERLAY_OVERHEAD
        )
    })?;
    Ok((underlay, instance))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.1.2.3/16 brd 10.1.255.255 scope global eth0\\       valid_lft forever preferred_lft forever
7: ul0@if6    inet 198.18.0.1/24 scope global ul0\\       valid_lft forever preferred_lft forever
8: ul1    inet 198.18.0.9/32 scope global ul1\\       valid_lft forever preferred_lft forever
";

    #[test]
    fn the_interface_holding_the_address_is_found() {
        let at = |a: &str| interface_of(LISTING, a.parse().unwrap());
        assert_eq!(
            at("198.18.0.1").as_deref(),
            Some("ul0"),
            "a veth (name@peer)"
        );
        assert_eq!(at("198.18.0.9").as_deref(), Some("ul1"), "an exact /32");
        assert_eq!(at("10.1.2.3").as_deref(), Some("eth0"));
        // loopback holds the whole of 127/8 without listing each address
        assert_eq!(at("127.0.0.10").as_deref(), Some("lo"));
        // in the prefix of an interface but not its address: that interface
        assert_eq!(at("198.18.0.2").as_deref(), Some("ul0"));
        assert_eq!(at("192.0.2.1"), None);
    }

    #[test]
    fn the_mtu_is_read_from_ip_link() {
        let line = "7: ul0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 2a:5c:9e:0b:1f:11 brd ff:ff:ff:ff:ff:ff link-netns fu-h2";
        assert_eq!(mtu_in(line), Some(1500));
        assert_eq!(
            mtu_in("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue"),
            Some(65536)
        );
        assert_eq!(mtu_in(""), None);
    }

    #[test]
    fn loopback_gives_9001_and_a_given_mtu_is_used_as_is() {
        // detected: this machine's lo (65536)
        let (underlay, instance) = mtus(Ipv4Addr::new(127, 0, 0, 1), None).unwrap();
        assert!(underlay >= 65_535, "lo: {underlay}");
        assert_eq!(instance, 9001);
        assert_eq!(mtus(Ipv4Addr::LOCALHOST, Some(1500)).unwrap(), (1500, 1434));
        assert_eq!(mtus(Ipv4Addr::LOCALHOST, Some(9100)).unwrap(), (9100, 9001));
        let e = mtus(Ipv4Addr::LOCALHOST, Some(1280)).unwrap_err();
        assert!(e.contains("too small"), "{e}");
    }
}
