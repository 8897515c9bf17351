//! Instances as network namespaces: the namespace named after the instance id, the ENI's
//! TAP inside it as `eth0`, its address by DHCP (or set directly when no DHCP client is
//! installed), and its own files in `/etc/netns/INSTANCE-ID/`.
//!
//! Namespaces and links are handled with `ip` (iproute2), as a user would.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fort_dataplane::program;

use fort_host::netns::{etc_dir, ip, netns_exists};
use fort_host::sys::{self, Tap};

use crate::names;

/// The largest TSO burst the instance may hand its TAP: a whole burst must fit in one
/// underlay datagram (65,507 bytes) with the Geneve header and option.
pub const GSO_MAX_SIZE: u32 = 62_000;
/// The underlay MTU from which TSO bursts are sent whole.
pub const TSO_UNDERLAY_MTU: u32 = 65_000;

pub use fort_host::HostError as InstanceError;

/// What the agent needs to know to give an ENI its place in an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub eni_id: String,
    /// The namespace: the instance id, or for an endpoint's interface its ENI id.
    pub instance_id: String,
    /// An interface endpoint's interface: its address is set directly, and the agent's
    /// forwarder answers in the namespace ([`crate::endpoint`]).
    pub endpoint: bool,
    pub device_index: u32,
    pub mac: String,
    /// Its IPv4 address; none in an IPv6-only subnet.
    pub ipv4: Option<Ipv4Link>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    /// The ENI's first IPv6 address, in a subnet with an IPv6 block: taken by DHCPv6.
    pub ipv6: Option<std::net::Ipv6Addr>,
}

/// An interface's IPv4 side: its address, its subnet's prefix length and router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Link {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// The subnet's router: base + 1.
    pub router: Ipv4Addr,
}

impl Attachment {
    /// The attachment of a program port, if it is placed in an instance.
    pub fn of(port: &program::Port, prog: &program::HostProgram) -> Option<Attachment> {
        let instance_id = port.instance_id.clone()?;
        if !names::is_instance_id(&instance_id) {
            return None;
        }
        Self::in_namespace(port, prog, instance_id, false)
    }

    /// The attachment of an interface endpoint's port: a namespace named by its ENI id.
    pub fn of_endpoint(port: &program::Port, prog: &program::HostProgram) -> Option<Attachment> {
        if port.instance_id.is_some() || !names::is_eni_id(&port.id) {
            return None;
        }
        Self::in_namespace(port, prog, port.id.clone(), true)
    }

    fn in_namespace(
        port: &program::Port,
        prog: &program::HostProgram,
        instance_id: String,
        endpoint: bool,
    ) -> Option<Attachment> {
        let vpc = prog.vpcs.iter().find(|v| v.id == port.vpc_id)?;
        let subnet = vpc.subnets.iter().find(|s| s.id == port.subnet_id)?;
        let ipv4 = match (port.primary_ip, subnet.cidr) {
            (Some(ip), Some(c)) => Some(Ipv4Link {
                ip,
                prefix: c.prefix_len(),
                router: Ipv4Addr::from(u32::from(c.network()).wrapping_add(1)),
            }),
            _ => None,
        };
        // an IPv6-only instance takes its servers from DHCPv6 alone
        let dns = vpc
            .dhcp
            .domain_name_servers
            .iter()
            .filter(|_| ipv4.is_some())
            .filter_map(|n| match n {
                program::NameServer::AmazonProvidedDns => {
                    Some(fort_dataplane::vpc::dns_address(vpc))
                }
                program::NameServer::Address(a) => Some(*a),
                // DHCPv6 hands these out (the client script adds them)
                program::NameServer::Address6(_) => None,
            })
            .collect();
        Some(Attachment {
            eni_id: port.id.clone(),
            instance_id,
            endpoint,
            device_index: port.device_index,
            mac: port.mac.to_string(),
            ipv4,
            dns,
            domain: vpc.dhcp.domain_name.clone(),
            ipv6: port
                .ipv6_addresses
                .first()
                .copied()
                .filter(|_| subnet.ipv6_cidr.is_some()),
        })
    }

    pub fn link(&self) -> String {
        names::link_name(self.device_index)
    }

    pub fn tap_name(&self) -> String {
        names::tap_name(&self.eni_id)
    }
}

fn resolv_conf(a: &Attachment) -> String {
    let mut s = String::from("# written by fort for this instance\n");
    if let Some(d) = &a.domain {
        s.push_str(&format!("search {d}\n"));
    }
    for d in &a.dns {
        s.push_str(&format!("nameserver {d}\n"));
    }
    s
}

/// The MAC of a link in a namespace.
fn link_mac(ns: &str, link: &str) -> Option<String> {
    let out = ip(&["-n", ns, "-o", "link", "show", "dev", link]).ok()?;
    let at = out.find("link/ether ")? + "link/ether ".len();
    out.get(at..at + 17).map(str::to_ascii_lowercase)
}

/// Re-attaches to the TAP an earlier run left in the instance (restart with `--keep`):
/// the instance keeps its link, address and connections.
fn reattach(a: &Attachment, tso: bool) -> Option<Arc<Tap>> {
    let ns = a.instance_id.as_str();
    let link = a.link();
    if !netns_exists(ns) || link_mac(ns, &link)? != a.mac.to_ascii_lowercase() {
        return None;
    }
    match sys::open_tap_in(&Path::new("/run/netns").join(ns), &link, tso) {
        Ok(tap) => Some(Arc::new(tap)),
        Err(e) => {
            tracing::warn!(instance = ns, link, error = %e, "cannot re-attach the TAP; making a new one");
            None
        }
    }
}

/// Creates the namespace (if missing), the TAP, moves it in as `ethN` with the ENI's MAC
/// and the instance MTU (9001, less on a small underlay), and brings it and `lo` up. The
/// TAP is returned persistent, and whether it was found in place (re-attached after a
/// restart). `tso`: see [`Tap::open`].
pub fn attach(a: &Attachment, tso: bool, mtu: u16) -> Result<(Arc<Tap>, bool), InstanceError> {
    if let Some(tap) = reattach(a, tso) {
        return Ok((tap, true));
    }
    let ns = a.instance_id.as_str();
    if !netns_exists(ns) {
        ip(&["netns", "add", ns])?;
    }
    let etc = etc_dir(ns);
    std::fs::create_dir_all(&etc)?;
    let resolv = etc.join("resolv.conf");
    if !resolv.exists() {
        std::fs::write(&resolv, resolv_conf(a))?;
    }
    let link = a.link();
    // A link of that name left in the namespace by an earlier run goes first.
    if ip(&["-n", ns, "link", "show", "dev", &link]).is_ok() {
        let _ = ip(&["-n", ns, "link", "del", "dev", &link]);
    }
    let name = a.tap_name();
    let tap = Tap::open(&name, tso)?;
    let setup = (|| {
        ip(&["link", "set", "dev", &name, "netns", ns])?;
        ip(&["-n", ns, "link", "set", "dev", &name, "name", &link])?;
        ip(&[
            "-n",
            ns,
            "link",
            "set",
            "dev",
            &link,
            "address",
            &a.mac,
            "mtu",
            &mtu.to_string(),
        ])?;
        let _ = ip(&[
            "-n",
            ns,
            "link",
            "set",
            "dev",
            &link,
            "gso_max_size",
            &GSO_MAX_SIZE.to_string(),
        ]);
        ip(&["-n", ns, "link", "set", "dev", &link, "up"])?;
        ip(&["-n", ns, "link", "set", "dev", "lo", "up"])
    })();
    if let Err(e) = setup {
        let _ = tap.set_persist(false);
        return Err(e);
    }
    Ok((Arc::new(tap), false))
}

/// Sets the address, mask, MTU and default route (via the router, .1) directly.
pub fn configure_static(a: &Attachment, mtu: u16) -> Result<(), InstanceError> {
    let ns = a.instance_id.as_str();
    let link = a.link();
    let Some(v4) = a.ipv4 else {
        // an IPv6-only interface: its address comes from DHCPv6 (or is set directly)
        return configure_v6_static(a);
    };
    let cidr = format!("{}/{}", v4.ip, v4.prefix);
    ip(&["-n", ns, "addr", "replace", &cidr, "dev", &link])?;
    ip(&[
        "-n",
        ns,
        "link",
        "set",
        "dev",
        &link,
        "mtu",
        &mtu.to_string(),
    ])?;
    if a.device_index == 0 {
        ip(&[
            "-n",
            ns,
            "route",
            "replace",
            "default",
            "via",
            &v4.router.to_string(),
            "dev",
            &link,
        ])?;
    }
    std::fs::write(etc_dir(ns).join("resolv.conf"), resolv_conf(a))?;
    Ok(())
}

/// The DHCP clients Fort knows how to drive, best first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhcpClient {
    /// `busybox udhcpc` (or a standalone `udhcpc`): the program and its leading args.
    Udhcpc(Vec<String>),
    Dhclient(String),
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
            .map(|p| p.to_string_lossy().into_owned())
    })
}

/// The installed DHCP client, if any.
pub fn find_dhcp_client() -> Option<DhcpClient> {
    if let Some(u) = which("udhcpc") {
        return Some(DhcpClient::Udhcpc(vec![u]));
    }
    if let Some(b) = which("busybox") {
        return Some(DhcpClient::Udhcpc(vec![b, "udhcpc".into()]));
    }
    which("dhclient").map(DhcpClient::Dhclient)
}

/// The script both clients call: it configures only the instance's own link and writes
/// only `/etc/netns/$FORT_INSTANCE/resolv.conf`.
pub const DHCP_SCRIPT: &str = r##"#!/bin/sh
# Fort's DHCP client script. Runs inside one instance's network namespace; it changes
# only that namespace's link and /etc/netns/$FORT_INSTANCE/resolv.conf, never the
# machine's own /etc/resolv.conf.
set -u
[ -n "${FORT_INSTANCE:-}" ] || exit 1
RESOLV="/etc/netns/$FORT_INSTANCE/resolv.conf"
# udhcpc: $1 is the event, values in $interface $ip $subnet $router $dns $domain $mtu
# dhclient: $reason, values in $new_ip_address $new_subnet_mask $new_routers ...
event="${1:-${reason:-}}"
if [ -n "${reason:-}" ]; then
    ip_addr="${new_ip_address:-}"; mask="${new_subnet_mask:-}"; routers="${new_routers:-}"
    dns="${new_domain_name_servers:-}"; domain="${new_domain_name:-}"; mtu="${new_interface_mtu:-}"
else
    ip_addr="${ip:-}"; mask="${subnet:-}"; routers="${router:-}"
    dns="${dns:-}"; domain="${domain:-}"; mtu="${mtu:-}"
fi
case "$event" in
    deconfig|PREINIT)
        ip link set dev "$interface" up
        ;;
    BOUND6|RENEW6|REBIND6|REBOOT6)
        # dhclient -6: the address alone (a /128: the router's advertisement makes the
        # subnet's /64 on-link and gives the default route, as on EC2)
        ip -6 addr replace "${new_ip6_address:-}/${new_ip6_prefixlen:-128}" dev "$interface"
        # DHCPv6's DNS servers (the Route 53 Resolver at fd00:ec2::253), after IPv4's
        for d in ${new_dhcp6_name_servers:-}; do
            grep -qx "nameserver $d" "$RESOLV" 2>/dev/null || echo "nameserver $d" >> "$RESOLV"
        done
        ;;
    bound|renew|BOUND|RENEW|REBIND|REBOOT)
        # IPv4 only: the link-local IPv6 address (and a DHCPv6 lease) stay
        ip -4 addr flush dev "$interface"
        ip addr add "$ip_addr/$mask" dev "$interface"
        [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
        for r in $routers; do
            ip route replace default via "$r" dev "$interface"
            break
        done
        {
            echo "# written by fort's DHCP client script"
            [ -n "$domain" ] && echo "search $domain"
            for d in $dns; do echo "nameserver $d"; done
            # DHCPv6's servers stay
            grep '^nameserver .*:' "$RESOLV" 2>/dev/null || true
        } > "$RESOLV.tmp" && mv "$RESOLV.tmp" "$RESOLV"
        ;;
esac
exit 0
"##;

/// Writes the DHCP client script into `dir`, executable.
pub fn write_dhcp_script(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("dhcp-script");
    std::fs::write(&path, DHCP_SCRIPT)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// Takes the instance's address by DHCP from its agent, as an EC2 instance does; falls
/// back to setting it directly when no client is installed or no lease came.
pub fn configure(
    a: &Attachment,
    client: Option<&DhcpClient>,
    script: &Path,
    run_dir: &Path,
    mtu: u16,
) {
    let ns = a.instance_id.as_str();
    let link = a.link();
    if a.ipv4.is_none() {
        // an IPv6-only instance: no DHCPv4 at all, as on EC2
        configure_v6(a, script, run_dir);
        return;
    }
    let leased = match client {
        Some(DhcpClient::Udhcpc(prog)) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).args(prog).args([
                "-i",
                &link,
                "-s",
                &script.to_string_lossy(),
                "-f",
                "-q",
                "-n",
                "-t",
                "5",
                "-T",
                "1",
                "-A",
                "1",
            ]);
            c.env("FORT_INSTANCE", ns)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            run_bounded(&mut c, Duration::from_secs(15))
        }
        Some(DhcpClient::Dhclient(prog)) => {
            let dir = run_dir.join(ns);
            let _ = std::fs::create_dir_all(&dir);
            let mut c = Command::new("ip");
            // dhclient gives its script an environment of its own: FORT_INSTANCE by -e
            c.args(["netns", "exec", ns, prog, "-1", "-e"])
                .arg(format!("FORT_INSTANCE={ns}"))
                .arg("-sf")
                .arg(script)
                .arg("-pf")
                .arg(dir.join("dhclient.pid"))
                .arg("-lf")
                .arg(dir.join("dhclient.leases"))
                .arg(&link);
            c.env("FORT_INSTANCE", ns)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            run_bounded(&mut c, Duration::from_secs(20))
        }
        None => false,
    };
    if leased && has_address(a) {
        tracing::info!(instance = ns, ip = ?a.ipv4.map(|v| v.ip), "address taken by DHCP");
    } else {
        if client.is_some() {
            tracing::warn!(instance = ns, "no DHCP lease: setting the address directly");
        }
        if let Err(e) = configure_static(a, mtu) {
            tracing::warn!(instance = ns, error = %e, "cannot configure the instance");
        }
    }
    configure_v6(a, script, run_dir);
}

/// Takes the instance's IPv6 address by DHCPv6 (dhclient -6, with the same script), as
/// an EC2 instance does after the router's advertisement says "managed"; without
/// dhclient, or without a lease, sets it directly (the route still comes from the
/// advertisement).
fn configure_v6(a: &Attachment, script: &Path, run_dir: &Path) {
    let Some(six) = a.ipv6 else {
        return;
    };
    let ns = a.instance_id.as_str();
    let link = a.link();
    // DHCPv6 speaks from the link-local address: wait for it to pass duplicate
    // address detection
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let ready = ip(&[
            "-n", ns, "-6", "-o", "addr", "show", "dev", &link, "scope", "link",
        ])
        .is_ok_and(|o| o.contains("fe80") && !o.contains("tentative"));
        if ready {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let dir = run_dir.join(ns);
    let log = dir.join("dhclient6.log");
    let leased = which("dhclient").is_some_and(|prog| {
        let _ = std::fs::create_dir_all(&dir);
        let mut c = Command::new("ip");
        // dhclient gives its script an environment of its own: FORT_INSTANCE by -e
        c.args(["netns", "exec", ns, &prog, "-6", "-1", "-e"])
            .arg(format!("FORT_INSTANCE={ns}"))
            .arg("-sf")
            .arg(script)
            .arg("-pf")
            .arg(dir.join("dhclient6.pid"))
            .arg("-lf")
            .arg(dir.join("dhclient6.leases"))
            .arg(&link);
        let err = std::fs::File::create(&log).map_or(Stdio::null(), Stdio::from);
        c.env("FORT_INSTANCE", ns).stdout(Stdio::null()).stderr(err);
        run_bounded(&mut c, Duration::from_secs(20))
    });
    // dhclient's script may still be adding the address when the parent returns
    let want = format!("inet6 {six}/");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut has = false;
    while !has && std::time::Instant::now() < deadline {
        has = ip(&["-n", ns, "-6", "-o", "addr", "show", "dev", &link])
            .is_ok_and(|o| o.contains(&want));
        if !has {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if has {
        tracing::info!(instance = ns, ip = %six, leased, "IPv6 address taken by DHCPv6");
        return;
    }
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = said.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
    tracing::warn!(
        instance = ns,
        dhclient = tail,
        "no DHCPv6 lease: setting the IPv6 address directly"
    );
    if let Err(e) = configure_v6_static(a) {
        tracing::warn!(instance = ns, error = %e, "cannot set the IPv6 address");
    }
}

/// Sets the interface's IPv6 address directly (a /128: the router's advertisement makes
/// the subnet's /64 on-link and gives the default route).
fn configure_v6_static(a: &Attachment) -> Result<(), InstanceError> {
    let Some(six) = a.ipv6 else {
        return Ok(());
    };
    let ns = a.instance_id.as_str();
    let link = a.link();
    ip(&[
        "-n",
        ns,
        "-6",
        "addr",
        "replace",
        &format!("{six}/128"),
        "dev",
        &link,
    ])?;
    Ok(())
}

/// Does the instance's link carry its address already?
pub fn has_address(a: &Attachment) -> bool {
    ip(&[
        "-n",
        &a.instance_id,
        "-4",
        "-o",
        "addr",
        "show",
        "dev",
        &a.link(),
    ])
    .is_ok_and(|o| match a.ipv4 {
        Some(v4) => o.contains(&format!("inet {}/", v4.ip)),
        // an IPv6-only interface has no IPv4 address to wait for
        None => true,
    })
}

/// Runs a command to completion or kills it after `limit`; true on success.
fn run_bounded(cmd: &mut Command, limit: Duration) -> bool {
    let Ok(mut child) = cmd.stdin(Stdio::null()).spawn() else {
        return false;
    };
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Destroys a TAP: persistence off, so it goes when its last descriptor closes.
pub fn detach(tap: Arc<Tap>) {
    if let Err(e) = tap.set_persist(false) {
        tracing::warn!(tap = tap.name(), error = %e, "cannot clear TAP persistence");
    }
    drop(tap);
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_dataplane::program::{HostProgram, Port, Subnet, Vpc};

    fn program(instance: Option<&str>) -> (Port, HostProgram) {
        let port = Port {
            id: "eni-0123456789abcdef0".into(),
            vpc_id: "vpc-1".into(),
            subnet_id: "subnet-1".into(),
            mac: fort_dataplane::wire::MacAddr([2, 0, 0, 0, 0, 5]),
            primary_ip: Some(Ipv4Addr::new(10, 0, 1, 5)),
            secondary_ips: vec![],
            security_groups: vec![],
            source_dest_check: true,
            conntrack: Default::default(),
            hostname: None,
            instance_id: instance.map(str::to_string),
            device_index: 0,
            flow_logs: false,
            ipv6_addresses: vec![],
        };
        let vpc = Vpc {
            id: "vpc-1".into(),
            vni: 7,
            cidrs: vec!["10.0.0.0/16".parse().unwrap()],
            router_mac: fort_dataplane::wire::MacAddr([6, 0, 0, 7, 0, 1]),
            subnets: vec![Subnet {
                id: "subnet-1".into(),
                cidr: Some("10.0.1.0/24".parse().unwrap()),
                route_table_id: String::new(),
                network_acl_id: String::new(),
                availability_zone: String::new(),
                ipv6_cidr: None,
            }],
            route_tables: vec![],
            network_acls: vec![],
            security_groups: vec![],
            dhcp: Default::default(),
            mappings: vec![],
            edges: vec![],
            peerings: vec![],
            transit_gateway_attachments: vec![],
            ipv6_cidrs: vec![],
            mappings_v6: vec![],
        };
        let p = HostProgram {
            ports: vec![port.clone()],
            vpcs: vec![vpc],
            ..HostProgram::default()
        };
        (port, p)
    }

    #[test]
    fn attachment_of_a_placed_port() {
        let (port, p) = program(Some("i-0123456789abcdef0"));
        let a = Attachment::of(&port, &p).unwrap();
        assert_eq!(a.instance_id, "i-0123456789abcdef0");
        assert_eq!(a.link(), "eth0");
        assert_eq!(a.tap_name(), "ft456789abcdef0");
        let v4 = a.ipv4.unwrap();
        assert_eq!((v4.ip, v4.prefix), (Ipv4Addr::new(10, 0, 1, 5), 24));
        assert_eq!(v4.router, Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(a.dns, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(a.mac, "02:00:00:00:00:05");
        assert!(resolv_conf(&a).contains("nameserver 10.0.0.2\n"));
    }

    #[test]
    fn an_endpoint_port_gets_a_namespace_named_by_its_interface() {
        let (port, p) = program(None);
        let a = Attachment::of_endpoint(&port, &p).unwrap();
        assert_eq!(a.instance_id, "eni-0123456789abcdef0");
        assert!(a.endpoint);
        assert_eq!(a.ipv4.unwrap().router, Ipv4Addr::new(10, 0, 1, 1));
        let (port, p) = program(Some("i-0123456789abcdef0"));
        assert!(Attachment::of_endpoint(&port, &p).is_none());
    }

    #[test]
    fn unplaced_or_oddly_named_ports_get_nothing() {
        let (port, p) = program(None);
        assert!(Attachment::of(&port, &p).is_none());
        let (port, p) = program(Some("../../etc"));
        assert!(Attachment::of(&port, &p).is_none());
    }

    #[test]
    fn the_dhcp_script_writes_only_the_instances_files() {
        assert!(DHCP_SCRIPT.contains(r#"RESOLV="/etc/netns/$FORT_INSTANCE/resolv.conf""#));
        assert!(!DHCP_SCRIPT.contains("> /etc/resolv.conf"));
        assert!(DHCP_SCRIPT.contains(r#"[ -n "${FORT_INSTANCE:-}" ] || exit 1"#));
    }
}
