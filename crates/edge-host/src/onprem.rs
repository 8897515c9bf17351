//! A company network for trying Site-to-Site VPN: a namespace (`fort-onprem` by
//! default) whose `lo` holds the company's hosts (192.168.0.0/16: every address of it is
//! local, as the internet's test hosts are) and whose one link, `wan0`, a veth into the
//! internet namespace, holds the customer gateway's address (192.0.2.200 by default).
//! The customer runs their IPsec software (strongSwan) in it, configured from the VPN
//! connection's customer gateway configuration. Removed with the edge.

use std::net::Ipv4Addr;

use fort_dataplane::wire::MacAddr;
use fort_host::netns::{ip, netns_exists, remove_namespace};
use ipnet::Ipv4Net;

/// The internet side of `wan0`, and `wan0`.
const INTERNET_SIDE_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x06]);
const WAN_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x07]);
const NEXT_HOP: &str = "192.0.2.1";

#[derive(Clone, Debug)]
pub struct OnpremConfig {
    pub namespace: String,
    /// The company's hosts, local in the namespace.
    pub hosts: Ipv4Net,
    /// The customer gateway's address on the internet.
    pub gateway_ip: Ipv4Addr,
}

fn run_ip(args: &[&str]) -> anyhow::Result<()> {
    ip(args).map(|_| ()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn link_name(namespace: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in namespace.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("fop{h:08x}")
}

/// Creates the company network beside the internet namespace `internet_ns`.
pub fn create(c: &OnpremConfig, internet_ns: &str) -> anyhow::Result<()> {
    let ns = c.namespace.as_str();
    if netns_exists(ns) {
        if run_ip(&["-n", ns, "link", "show", "dev", "wan0"]).is_ok() {
            anyhow::bail!(
                "the namespace {ns} is in use (another `fort up`?): choose another with --onprem-ns"
            );
        }
        remove_namespace(ns);
    }
    run_ip(&["netns", "add", ns])?;
    let made = (|| {
        for conf in ["all", "default"] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw"])
                .arg(format!("net.ipv6.conf.{conf}.disable_ipv6=1"))
                .arg(format!("net.ipv4.conf.{conf}.rp_filter=0"))
                .output();
        }
        run_ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
        // the internet namespace forwards between the customer gateway and the VPN sites
        let _ = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                internet_ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .output();
        let first = Ipv4Addr::from(u32::from(c.hosts.network()).wrapping_add(1));
        let hosts = format!("{first}/{}", c.hosts.prefix_len());
        run_ip(&["-n", ns, "addr", "add", &hosts, "dev", "lo"])?;
        let outside = link_name(ns);
        crate::internet::veth_to_internet(ns, "wan0", internet_ns, &outside, INTERNET_SIDE_MAC)?;
        let gw = format!("{}/32", c.gateway_ip);
        run_ip(&["-n", internet_ns, "route", "replace", &gw, "dev", &outside])?;
        run_ip(&[
            "-n",
            ns,
            "link",
            "set",
            "dev",
            "wan0",
            "address",
            &WAN_MAC.to_string(),
            "up",
        ])?;
        run_ip(&["-n", ns, "addr", "add", &gw, "dev", "wan0"])?;
        run_ip(&[
            "-n",
            ns,
            "neigh",
            "replace",
            NEXT_HOP,
            "lladdr",
            &INTERNET_SIDE_MAC.to_string(),
            "dev",
            "wan0",
            "nud",
            "permanent",
        ])?;
        run_ip(&[
            "-n",
            ns,
            "route",
            "replace",
            "default",
            "via",
            NEXT_HOP,
            "dev",
            "wan0",
            "onlink",
            "src",
            &c.gateway_ip.to_string(),
        ])?;
        Ok(())
    })();
    if made.is_err() {
        remove_namespace(ns);
    }
    made
}

/// Removes the company network (its processes killed first).
pub fn remove(namespace: &str) {
    remove_namespace(namespace);
}
