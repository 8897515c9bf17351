//! The simulated internet: a network namespace with documentation addresses, whose one
//! link is a TAP held by the edge process.
//!
//! Inside the namespace (`fort-internet` by default):
//!
//! * `lo` carries the test hosts' network (203.0.113.1/24: every address of it is local),
//!   so a server bound there is "a host on the internet"; and their IPv6 network
//!   ([`HOSTS6`], 2001:db8:ffff::/48 of the documentation prefix, every address local,
//!   the first, 2001:db8:ffff::1, on `lo`): apart from the VPCs' Amazon-provided blocks
//!   (`fort_model::cidr6::amazon_pool`, 2600:1f00::/24);
//! * the link `edge0` (the edge's TAP, MAC [`INTERNET_MAC`]) carries the route to the
//!   elastic IP pool (198.51.100.0/24) and to the gateway endpoints' source address
//!   ([`fort_edge::ENDPOINT_SOURCE`]) through a next hop 192.0.2.1 with a permanent
//!   neighbour entry ([`EDGE_MAC`]), so no ARP crosses it; every other IPv6 address
//!   (the VPCs' blocks) goes the same way through [`NEXT_HOP6`], fe80::1, likewise
//!   permanent. The namespace's links make no IPv6 address of their own and send no
//!   router solicitation nor duplicate address detection: nothing of IPv6's link chatter
//!   reaches the edge;
//! * S3's addresses (its AWS-managed prefix list) are local routes on `lo`, where the
//!   edge's forwarder answers with the API.
//!
//! Nothing is routed to the machine's own interfaces. The TAP is created in the edge's
//! namespace (named after the namespace, `fie` + 8 hex digits) and moved in; it is not
//! persistent, so it goes with the edge process, and the namespace goes on shutdown.

use std::process::Command;

use fort_dataplane::wire::MacAddr;
use fort_host::netns::{netns_exists, remove_namespace};
use fort_host::sys::Tap;
use ipnet::Ipv4Net;

/// The internet side's MAC (the namespace's `edge0`).
pub const INTERNET_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x01]);
/// The edge's MAC, as the internet sees it.
pub const EDGE_MAC: MacAddr = MacAddr([0x02, 0x66, 0x6f, 0x72, 0x74, 0x02]);
/// The next hop the namespace routes the elastic IP pool through.
pub const NEXT_HOP: &str = "192.0.2.1";
/// The next hop of the namespace's IPv6 default route: the edge, by a permanent
/// neighbour entry.
pub const NEXT_HOP6: &str = "fe80::1";
/// The internet's IPv6 test hosts: a part of the documentation prefix 2001:db8::/32 that
/// no VPC block can be (Amazon-provided blocks come from 2600:1f00::/24).
pub const HOSTS6: &str = "2001:db8:ffff::/48";
/// The first of them, on the namespace's `lo`.
pub const HOST6: &str = "2001:db8:ffff::1";
/// The link's name inside the namespace.
pub const LINK: &str = "edge0";
/// The internet link's MTU (AWS's internet gateway MTU), on an underlay that carries it
/// whole (less on a smaller one: [`EdgeHostConfig`](crate::EdgeHostConfig)).
pub const MTU: u16 = 1500;

/// What the namespace holds.
#[derive(Clone, Debug)]
pub struct InternetConfig {
    /// The namespace's name.
    pub namespace: String,
    /// The elastic IP pool, routed to the edge.
    pub public_pool: Ipv4Net,
    /// The test hosts' network, local in the namespace (its first address on `lo`).
    pub hosts: Ipv4Net,
}

/// The TAP's name in the edge's namespace before it moves: unique per namespace name.
pub fn tap_name(namespace: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in namespace.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("fie{h:08x}")
}

/// The first address of a network: the test host (203.0.113.1).
pub fn first_host(n: Ipv4Net) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(n.network()).wrapping_add(1))
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        anyhow::bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Creates the namespace and the TAP whose other end is `edge0` in it. A namespace of
/// that name whose `edge0` is gone (its edge process died) is stale and goes first; one
/// with `edge0` is another edge's, and the call fails.
pub fn create(c: &InternetConfig, mtu: u16) -> anyhow::Result<Tap> {
    let ns = c.namespace.as_str();
    if netns_exists(ns) {
        if ip(&["-n", ns, "link", "show", "dev", LINK]).is_ok() {
            anyhow::bail!(
                "the namespace {ns} is in use by another edge (another `fort up`?): choose another with --internet-ns"
            );
        }
        remove(ns);
    }
    ip(&["netns", "add", ns])?;
    let made = (|| {
        // IPv6 without its link chatter: links (the edge's, the VPN sites' and the
        // company network's veths) make no address of their own and send no router
        // solicitation nor duplicate address detection
        quiet_ipv6(ns, "all");
        quiet_ipv6(ns, "default");
        ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
        let host = format!("{}/{}", first_host(c.hosts), c.hosts.prefix_len());
        ip(&["-n", ns, "addr", "add", &host, "dev", "lo"])?;
        ip(&[
            "-n",
            ns,
            "-6",
            "addr",
            "add",
            &format!("{HOST6}/128"),
            "dev",
            "lo",
        ])?;
        ip(&[
            "-n", ns, "-6", "route", "replace", "local", HOSTS6, "dev", "lo",
        ])?;
        let name = tap_name(ns);
        let _ = ip(&["link", "del", "dev", &name]);
        let tap = Tap::open(&name, false)?;
        // not persistent: the device goes with the edge process's descriptor
        tap.set_persist(false)?;
        ip(&["link", "set", "dev", &name, "netns", ns])?;
        ip(&["-n", ns, "link", "set", "dev", &name, "name", LINK])?;
        quiet_ipv6(ns, LINK);
        ip(&[
            "-n",
            ns,
            "link",
            "set",
            "dev",
            LINK,
            "address",
            &INTERNET_MAC.to_string(),
            "mtu",
            &mtu.to_string(),
            "up",
        ])?;
        ip(&[
            "-n",
            ns,
            "neigh",
            "replace",
            NEXT_HOP,
            "lladdr",
            &EDGE_MAC.to_string(),
            "dev",
            LINK,
            "nud",
            "permanent",
        ])?;
        ip(&[
            "-n",
            ns,
            "-6",
            "neigh",
            "replace",
            NEXT_HOP6,
            "lladdr",
            &EDGE_MAC.to_string(),
            "dev",
            LINK,
            "nud",
            "permanent",
        ])?;
        // every IPv6 address but the internet's own: the VPCs' blocks, through the edge
        ip(&[
            "-n", ns, "-6", "route", "replace", "default", "via", NEXT_HOP6, "dev", LINK, "src",
            HOST6,
        ])?;
        let src = first_host(c.hosts).to_string();
        // the elastic IPs, and the address gateway endpoints' flows come from
        let endpoint_source = format!("{}/32", fort_edge::ENDPOINT_SOURCE);
        for to in [c.public_pool.to_string(), endpoint_source] {
            ip(&[
                "-n", ns, "route", "replace", &to, "via", NEXT_HOP, "dev", LINK, "onlink", "src",
                &src,
            ])?;
        }
        // S3's addresses (its AWS-managed prefix list) are local: the edge's forwarder
        // answers there
        for block in fort_model::service_blocks("s3") {
            ip(&[
                "-n",
                ns,
                "route",
                "replace",
                "local",
                &block.to_string(),
                "dev",
                "lo",
            ])?;
        }
        Ok(tap)
    })();
    if made.is_err() {
        remove(ns);
    }
    made
}

/// IPv6 on `conf` (a link, `all` or `default`) of namespace `ns` without link chatter:
/// no link-local address, no router solicitation, no duplicate address detection, no
/// advertisements taken.
fn quiet_ipv6(ns: &str, conf: &str) {
    for (key, value) in [
        ("disable_ipv6", "0"),
        ("addr_gen_mode", "1"),
        ("accept_ra", "0"),
        ("router_solicitations", "0"),
        ("accept_dad", "0"),
        ("dad_transmits", "0"),
    ] {
        let _ = Command::new("ip")
            .args(["netns", "exec", ns, "sysctl", "-qw"])
            .arg(format!("net.ipv6.conf.{conf}.{key}={value}"))
            .output();
    }
}

/// Removes the namespace (its processes killed first) and everything in it.
pub fn remove(namespace: &str) {
    remove_namespace(namespace);
}

/// A veth pair between namespace `ns` (its end named `inner`) and the internet namespace
/// (its end `outside`, with `mac`, up): how a VPN site and the company network reach the
/// internet. A stale `outside` link from an earlier run is removed first.
pub(crate) fn veth_to_internet(
    ns: &str,
    inner: &str,
    internet_ns: &str,
    outside: &str,
    mac: fort_dataplane::wire::MacAddr,
) -> anyhow::Result<()> {
    let ip = |args: &[&str]| {
        fort_host::netns::ip(args)
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let _ = ip(&["link", "del", "dev", outside]);
    ip(&[
        "link", "add", "dev", outside, "type", "veth", "peer", "name", inner, "netns", ns,
    ])?;
    ip(&["link", "set", "dev", outside, "netns", internet_ns])?;
    ip(&[
        "-n",
        internet_ns,
        "link",
        "set",
        "dev",
        outside,
        "address",
        &mac.to_string(),
        "up",
    ])
}
