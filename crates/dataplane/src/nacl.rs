//! Network ACLs: stateless, ordered, first match decides, implicit final deny. Applied
//! only where a packet crosses a subnet boundary (§5.9).
//!
//! IPv6 entries (`Ipv6CidrBlock`) are a list of their own, with their own final deny
//! (32768): an IPv4 entry never matches an IPv6 packet, nor the reverse.

use crate::program;
use crate::wire::ip_proto;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `proto` value meaning "all protocols".
pub(crate) const ANY: u16 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    proto: u16,
    net: u32,
    mask: u32,
    lo: u16,
    hi: u16,
    allow: bool,
}

/// An IPv6 entry: as [`Entry`], with 128-bit network and mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry6 {
    proto: u16,
    net: u128,
    mask: u128,
    lo: u16,
    hi: u16,
    allow: bool,
}

/// A compiled NACL: entries per direction and family, sorted by rule number.
pub struct NetworkAcl {
    pub id: String,
    ingress: Vec<Entry>,
    egress: Vec<Entry>,
    ingress6: Vec<Entry6>,
    egress6: Vec<Entry6>,
    pub dep: u32,
}

/// The port range an entry matches, in the engine's rule-port space
/// ([`crate::packet::Meta::rule_port`]).
pub(crate) fn icmp_range(t: i16, c: i16) -> (u16, u16) {
    match (t, c) {
        (t, _) if t < 0 => (0, 0xffff),
        (t, c) if c < 0 => ((t as u16 & 0xff) << 8, ((t as u16 & 0xff) << 8) | 0xff),
        (t, c) => {
            let v = ((t as u16 & 0xff) << 8) | (c as u16 & 0xff);
            (v, v)
        }
    }
}

/// An entry's protocol and the range of rule ports it covers, in either family (`icmp`:
/// ICMP's protocol number there).
fn protocol_range(
    protocol: i16,
    port_range: Option<(u16, u16)>,
    icmp_type_code: Option<(i16, i16)>,
    icmp: u8,
) -> (u16, u16, u16) {
    let proto = if protocol < 0 {
        ANY
    } else {
        protocol as u16 & 0xff
    };
    // ANY (256) is no protocol number: `Err`
    let (lo, hi) = match u8::try_from(proto) {
        Err(_) => (0, 0xffff),
        Ok(ip_proto::TCP | ip_proto::UDP) => port_range.unwrap_or((0, 0xffff)),
        Ok(p) if p == icmp => icmp_type_code.map_or((0, 0xffff), |(t, c)| icmp_range(t, c)),
        _ => (0, 0xffff),
    };
    (proto, lo, hi)
}

fn compile_entry(e: &program::NaclEntry) -> Entry {
    let (proto, lo, hi) = protocol_range(e.protocol, e.port_range, e.icmp, ip_proto::ICMP);
    let mask = u32::from(e.cidr.netmask());
    Entry {
        proto,
        net: u32::from(e.cidr.network()) & mask,
        mask,
        lo,
        hi,
        allow: e.allow,
    }
}

fn compile_entry6(e: &program::NaclEntry6) -> Entry6 {
    let (proto, lo, hi) = protocol_range(e.protocol, e.port_range, e.icmp, ip_proto::ICMPV6);
    let mask = u128::from(e.cidr.netmask());
    Entry6 {
        proto,
        net: u128::from(e.cidr.network()) & mask,
        mask,
        lo,
        hi,
        allow: e.allow,
    }
}

impl NetworkAcl {
    pub fn compile(spec: &program::NetworkAcl, dep: u32) -> NetworkAcl {
        let mut entries6: Vec<&program::NaclEntry6> = spec.entries_v6.iter().collect();
        entries6.sort_by_key(|e| e.rule_number);
        let dir6 = |egress: bool| {
            entries6
                .iter()
                .filter(|e| e.egress == egress)
                .map(|e| compile_entry6(e))
                .collect()
        };
        let mut entries: Vec<&program::NaclEntry> = spec.entries.iter().collect();
        entries.sort_by_key(|e| e.rule_number);
        let dir = |egress: bool| {
            entries
                .iter()
                .filter(|e| e.egress == egress)
                .map(|e| compile_entry(e))
                .collect()
        };
        NetworkAcl {
            id: spec.id.clone(),
            ingress: dir(false),
            egress: dir(true),
            ingress6: dir6(false),
            egress6: dir6(true),
            dep,
        }
    }

    /// [`NetworkAcl::allows`] for an IPv6 packet: its entries only.
    #[inline]
    pub fn allows6(&self, egress: bool, proto: u8, peer: Ipv6Addr, port: u16) -> bool {
        let entries = if egress {
            &self.egress6
        } else {
            &self.ingress6
        };
        let a = u128::from(peer);
        for e in entries {
            if (e.proto == ANY || e.proto == u16::from(proto))
                && a & e.mask == e.net
                && (e.lo..=e.hi).contains(&port)
            {
                return e.allow;
            }
        }
        false
    }

    /// Ingress: `peer` is the source address; egress: the destination.
    #[inline]
    pub fn allows(&self, egress: bool, proto: u8, peer: Ipv4Addr, port: u16) -> bool {
        let entries = if egress { &self.egress } else { &self.ingress };
        let a = u32::from(peer);
        for e in entries {
            if (e.proto == ANY || e.proto == u16::from(proto))
                && a & e.mask == e.net
                && (e.lo..=e.hi).contains(&port)
            {
                return e.allow;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u16, egress: bool, proto: i16, allow: bool, cidr: &str) -> program::NaclEntry {
        program::NaclEntry {
            rule_number: n,
            egress,
            protocol: proto,
            allow,
            cidr: cidr.parse().unwrap(),
            port_range: None,
            icmp: None,
        }
    }

    #[test]
    fn first_match_by_rule_number() {
        let mut deny_ssh = entry(90, false, 6, false, "0.0.0.0/0");
        deny_ssh.port_range = Some((22, 22));
        let acl = NetworkAcl::compile(
            &program::NetworkAcl {
                id: "acl-1".into(),
                entries: vec![entry(100, false, -1, true, "0.0.0.0/0"), deny_ssh],
                entries_v6: vec![],
            },
            0,
        );
        let any = Ipv4Addr::new(192, 0, 2, 1);
        assert!(!acl.allows(false, 6, any, 22));
        assert!(acl.allows(false, 6, any, 80));
        assert!(acl.allows(false, 17, any, 22));
        // no egress rules: the final deny
        assert!(!acl.allows(true, 6, any, 80));
    }

    #[test]
    fn icmp_type_code() {
        let mut e = entry(10, true, 1, true, "10.0.0.0/8");
        e.icmp = Some((3, 4));
        let acl = NetworkAcl::compile(
            &program::NetworkAcl {
                id: "acl-1".into(),
                entries: vec![e],
                entries_v6: vec![],
            },
            0,
        );
        let ip = Ipv4Addr::new(10, 1, 2, 3);
        assert!(acl.allows(true, 1, ip, 0x0304));
        assert!(!acl.allows(true, 1, ip, 0x0303));
        assert!(!acl.allows(true, 1, Ipv4Addr::new(11, 0, 0, 1), 0x0304));
    }

    fn entry6(n: u16, egress: bool, proto: i16, allow: bool, cidr: &str) -> program::NaclEntry6 {
        program::NaclEntry6 {
            rule_number: n,
            egress,
            protocol: proto,
            allow,
            cidr: cidr.parse().unwrap(),
            port_range: None,
            icmp: None,
        }
    }

    #[test]
    fn families_are_apart() {
        // the default ACL of a dual-stack VPC: 100 allow 0.0.0.0/0, 101 allow ::/0
        let mut deny = entry6(50, false, 58, false, "2001:db8:1::/64");
        deny.icmp = Some((128, -1));
        let acl = NetworkAcl::compile(
            &program::NetworkAcl {
                id: "acl-1".into(),
                entries: vec![entry(100, false, -1, true, "0.0.0.0/0")],
                entries_v6: vec![entry6(101, false, -1, true, "::/0"), deny],
            },
            0,
        );
        let v6: Ipv6Addr = "2001:db8:1::5".parse().unwrap();
        let other: Ipv6Addr = "2001:db8:2::5".parse().unwrap();
        // echo request from the denied block, any other ICMPv6 from it, echo elsewhere
        assert!(!acl.allows6(false, 58, v6, 0x8000));
        assert!(acl.allows6(false, 58, v6, 0x8100));
        assert!(acl.allows6(false, 58, other, 0x8000));
        // no IPv6 egress entries: the final deny, whatever IPv4 allows
        assert!(!acl.allows6(true, 6, v6, 80));
        let only_v4 = NetworkAcl::compile(
            &program::NetworkAcl {
                id: "acl-2".into(),
                entries: vec![entry(100, false, -1, true, "0.0.0.0/0")],
                entries_v6: vec![],
            },
            0,
        );
        assert!(!only_v4.allows6(false, 6, v6, 80));
        assert!(only_v4.allows(false, 6, Ipv4Addr::new(192, 0, 2, 1), 80));
    }
}
