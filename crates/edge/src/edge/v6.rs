//! IPv6 at the edge: no translation (an instance's IPv6 address is its public address,
//! as in AWS).
//!
//! * Internet gateway: packets from the VPC whose source is one of the VPC's IPv6
//!   addresses go out as they are; packets from the internet to an address of a VPC
//!   with an internet gateway go in (the instance's security groups and network ACLs
//!   decide on its host).
//! * Egress-only internet gateway: the same way out, remembering the connection
//!   (protocol, inside address and port, remote address and port, for AWS's idle
//!   timeout); in, only what belongs to a remembered connection: its replies, and ICMPv6
//!   errors quoting one of its packets. Connections cannot be initiated from outside.
//!   TCP connections end early: a RST from either side forgets the connection once the
//!   RST has passed; after both sides' FINs the connection lingers
//!   ([`EdgeConfig::eigw_linger_secs`], for the last ACK and retransmitted FINs), then is
//!   forgotten. A SYN from inside starts the connection afresh.
//!
//! A VPC with both gateways lets in what its internet gateway lets in: the egress-only
//! gateway filters only what would otherwise have no way in. Packets above the gateway
//! MTU (1500) get an ICMPv6 "packet too big" back (IPv6 routers never fragment).

use super::*;
use fort_dataplane::packet;
use fort_dataplane::wire::{icmpv6, ipv6, tcp};
use std::net::Ipv6Addr;

/// A connection through an egress-only internet gateway, as seen from inside: for ICMPv6
/// queries the ports are (identifier, 0); for protocols without ports, (0, 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EgressOnlyKey {
    pub vni: u32,
    pub protocol: u8,
    pub inside: Ipv6Addr,
    pub inside_port: u16,
    pub remote: Ipv6Addr,
    pub remote_port: u16,
}

/// The state of an egress-only connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressOnlyFlow {
    /// The last packet of the connection (either way; errors excluded).
    pub last: Time,
    /// TCP: a FIN went out / came in.
    pub fin_out: bool,
    pub fin_in: bool,
    /// TCP: when the second of the two FINs passed.
    pub closed: Option<Time>,
}

impl EgressOnlyFlow {
    fn new(now: Time, fin_out: bool) -> EgressOnlyFlow {
        EgressOnlyFlow {
            last: now,
            fin_out,
            fin_in: false,
            closed: None,
        }
    }

    /// Whether the connection still lets packets in at `now`: not idle for `idle`
    /// nanoseconds, and not closed for `linger` nanoseconds.
    pub fn live(&self, now: Time, idle: u64, linger: u64) -> bool {
        now.0.saturating_sub(self.last.0) < idle
            && self
                .closed
                .is_none_or(|c| now.0.saturating_sub(c.0) < linger)
    }

    /// Notes a FIN (`out`: from inside) at `now`.
    fn fin(&mut self, now: Time, out: bool) {
        if out {
            self.fin_out = true;
        } else {
            self.fin_in = true;
        }
        if self.fin_out && self.fin_in && self.closed.is_none() {
            self.closed = Some(now);
        }
    }
}

/// What the quote of an ICMPv6 error may hold at most (the minimum MTU of IPv6, 1280,
/// less the error's own headers).
const QUOTE_MAX: usize = 1280 - ipv6::HEADER_LEN - icmpv6::HEADER_LEN;

/// The VPCs' IPv6 blocks with their slots, most specific first.
pub(super) fn blocks(vpcs: &[Vpc]) -> Vec<(Ipv6Net, u32)> {
    let mut out: Vec<(Ipv6Net, u32)> = vpcs
        .iter()
        .enumerate()
        .filter(|(_, v)| v.igw.is_some() || v.eigw.is_some())
        .filter_map(|(i, v)| Some((v.ipv6_cidrs.clone(), u32::try_from(i).ok()?)))
        .flat_map(|(c, i)| c.into_iter().map(move |c| (c, i)))
        .collect();
    out.sort_by_key(|b| std::cmp::Reverse(b.0.prefix_len()));
    out
}

/// Whether the internet routes to `a`: a global unicast address.
fn routable(a: Ipv6Addr) -> bool {
    !(a.is_multicast()
        || a.is_unspecified()
        || a.is_loopback()
        || ipv6::is_link_local(a)
        || a.to_ipv4_mapped().is_some())
}

/// The (inside port, remote port) of a packet's ports as seen from the side that sent
/// it (`outbound`: from inside). ICMPv6 queries: (identifier, 0).
fn ports(m: &packet::Meta6, outbound: bool) -> (u16, u16) {
    let t = &m.tuple;
    if t.protocol == ip_proto::ICMPV6 {
        return (t.src_port, 0);
    }
    if outbound {
        (t.src_port, t.dst_port)
    } else {
        (t.dst_port, t.src_port)
    }
}

impl Edge {
    /// The slot of the VPC owning IPv6 address `a`, among those with a gateway here.
    fn vpc_of6(&self, a: Ipv6Addr) -> Option<u32> {
        self.v6_blocks
            .iter()
            .find(|(n, _)| n.contains(&a))
            .map(|&(_, s)| s)
    }

    /// An IPv6 frame from VPC slot `vs` toward the internet.
    pub(super) fn process_from_vpc6(
        &mut self,
        now: Time,
        vs: u32,
        gateway: Gateway<'_>,
        frame: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return self.drop(DropReason::Malformed);
        };
        let Ok(ip) = ipv6::Packet::new_checked(eth.payload()) else {
            return self.drop(DropReason::Malformed);
        };
        let len = usize::from(ip.total_len());
        let (src, dst) = (ip.src(), ip.dst());
        let v = &self.vpcs[vs as usize];
        let target = match gateway {
            Gateway::Id(id) => {
                if self.igw_by_id.get(id) == Some(&vs) {
                    Some(Target::Igw)
                } else if self.eigw_by_id.get(id) == Some(&vs) {
                    Some(Target::Eigw)
                } else if id.starts_with("igw-") || id.starts_with("eigw-") {
                    return self.drop(DropReason::NoInternetGateway);
                } else {
                    // a NAT gateway, an endpoint: no IPv6
                    return self.drop(DropReason::Ipv6);
                }
            }
            Gateway::Infer => self.by_mac.get(&(v.vni, eth.dst())).copied(),
        };
        let target = match target {
            Some(Target::Nat(_)) => return self.drop(DropReason::Ipv6),
            Some(t) => t,
            // no gateway named: the internet gateway, else the egress-only one
            None if v.igw.is_some() => Target::Igw,
            None if v.eigw.is_some() => Target::Eigw,
            None => return self.drop(DropReason::NoInternetGateway),
        };
        if !v.ipv6_cidrs.iter().any(|c| c.contains(&src)) {
            return self.drop(DropReason::Ipv6Source);
        }
        if !routable(dst) || v.ipv6_cidrs.iter().any(|c| c.contains(&dst)) {
            return self.drop(DropReason::Ipv6Destination);
        }
        let vni = v.vni;
        let pkt = &eth.payload()[..len];
        if len > usize::from(self.cfg.mtu) {
            packet_too_big(out, frame, pkt, self.cfg.mtu);
            self.stats.icmp_too_big_sent += 1;
            self.stats.drop(DropReason::TooBig);
            return Verdict::ToVpc6 { vni, dst: src };
        }
        if target == Target::Eigw {
            let Ok(m) = packet::parse_ipv6(pkt) else {
                return self.drop(DropReason::Malformed);
            };
            let (inside_port, remote_port) = ports(&m, true);
            let key = EgressOnlyKey {
                vni,
                protocol: m.tuple.protocol,
                inside: src,
                inside_port,
                remote: dst,
                remote_port,
            };
            let flags = if m.tuple.protocol == ip_proto::TCP {
                m.tcp_flags
            } else {
                0
            };
            let (idle, linger) = self.eigw_times();
            let fin = flags & tcp::flags::FIN != 0;
            if flags & tcp::flags::RST != 0 {
                // the RST goes out; the connection (if any) is forgotten
                if let Some(f) = self.eigw_flows.remove(&key) {
                    if f.live(now, idle, linger) {
                        self.stats.eigw_flows_closed += 1;
                    } else {
                        self.stats.eigw_flows_expired += 1;
                    }
                }
            } else {
                let syn = flags & (tcp::flags::SYN | tcp::flags::ACK) == tcp::flags::SYN;
                let full = self.eigw_flows.len() >= self.cfg.max_flows;
                match self.eigw_flows.get_mut(&key) {
                    Some(f) if f.live(now, idle, linger) && !syn => {
                        f.last = now;
                        if fin {
                            f.fin(now, true);
                        }
                    }
                    Some(f) => {
                        // gone (idle, closed) or a new SYN: a new connection
                        *f = EgressOnlyFlow::new(now, fin);
                        self.stats.eigw_flows_created += 1;
                    }
                    None if full => return self.drop(DropReason::EgressOnlyTableFull),
                    None => {
                        self.eigw_flows.insert(key, EgressOnlyFlow::new(now, fin));
                        self.stats.eigw_flows_created += 1;
                    }
                }
            }
            self.stats.eigw_outbound += 1;
        } else {
            self.stats.igw_outbound6 += 1;
        }
        out.clear();
        out.extend_from_slice(pkt);
        self.stats.bytes_outbound += len as u64;
        Verdict::ToInternet
    }

    /// An IPv6 packet from the internet.
    pub(super) fn process_from_internet6(
        &mut self,
        now: Time,
        pkt: &[u8],
        out: &mut Vec<u8>,
    ) -> Verdict {
        let Ok(ip) = ipv6::Packet::new_checked(pkt) else {
            return self.drop(DropReason::Malformed);
        };
        let len = usize::from(ip.total_len());
        let dst = ip.dst();
        let Some(vs) = self.vpc_of6(dst).filter(|_| routable(ip.src())) else {
            return self.drop(DropReason::Ipv6Destination);
        };
        let pkt = &pkt[..len];
        let v = &self.vpcs[vs as usize];
        let vni = v.vni;
        if v.igw.is_some() {
            self.stats.igw_inbound6 += 1;
        } else {
            // only through the egress-only gateway: a connection of the VPC's, or nothing
            let Some((key, own, flags)) = self.inbound_key(vni, pkt) else {
                return self.drop(DropReason::EgressOnlyNoFlow);
            };
            let (idle, linger) = self.eigw_times();
            let Some(f) = self
                .eigw_flows
                .get_mut(&key)
                .filter(|f| f.live(now, idle, linger))
            else {
                return self.drop(DropReason::EgressOnlyNoFlow);
            };
            // an error refreshes nothing: only the connection's own packets do
            if own {
                f.last = now;
                if flags & tcp::flags::RST != 0 {
                    // the RST goes in; the connection is forgotten
                    self.eigw_flows.remove(&key);
                    self.stats.eigw_flows_closed += 1;
                } else if flags & tcp::flags::FIN != 0 {
                    f.fin(now, false);
                }
            }
            self.stats.eigw_inbound += 1;
        }
        out.clear();
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&ethernet::ethertype::IPV6.to_be_bytes());
        out.extend_from_slice(pkt);
        self.stats.bytes_inbound += len as u64;
        Verdict::ToVpc6 { vni, dst }
    }

    /// The egress-only connection an inbound packet would belong to: its own tuple
    /// reversed (`true`: a packet of the connection), or for an ICMPv6 error, the tuple
    /// of the packet it quotes (`false`); with the packet's TCP flags (0 if not TCP).
    fn inbound_key(&self, vni: u32, pkt: &[u8]) -> Option<(EgressOnlyKey, bool, u16)> {
        let m = packet::parse_ipv6(pkt).ok()?;
        if m.tuple.protocol == ip_proto::ICMPV6 && m.icmp_type < 128 {
            // an error: the quoted packet went from the inside address out
            let ip = ipv6::Packet::new_checked(pkt).ok()?;
            let (_, at) = ip.upper_layer().ok()?;
            let quoted = ip.payload().get(at + icmpv6::HEADER_LEN..)?;
            let q = ipv6::Packet::new_unchecked(quoted);
            if quoted.len() < ipv6::HEADER_LEN || q.src() != m.tuple.dst {
                return None;
            }
            let protocol = q.next_header();
            let l4 = &quoted[ipv6::HEADER_LEN..];
            let rd = |at: usize| Some(u16::from_be_bytes([*l4.get(at)?, *l4.get(at + 1)?]));
            let (inside_port, remote_port) = match protocol {
                ip_proto::TCP | ip_proto::UDP => (rd(0)?, rd(2)?),
                ip_proto::ICMPV6 => (rd(4)?, 0),
                _ => (0, 0),
            };
            let key = EgressOnlyKey {
                vni,
                protocol,
                inside: q.src(),
                inside_port,
                remote: q.dst(),
                remote_port,
            };
            return Some((key, false, 0));
        }
        if m.tuple.protocol == ip_proto::ICMPV6 && !is_query_reply(pkt) {
            // an echo request (or other query) from outside starts nothing
            return None;
        }
        let (inside_port, remote_port) = ports(&m, false);
        let key = EgressOnlyKey {
            vni,
            protocol: m.tuple.protocol,
            inside: m.tuple.dst,
            inside_port,
            remote: m.tuple.src,
            remote_port,
        };
        let flags = if m.tuple.protocol == ip_proto::TCP {
            m.tcp_flags
        } else {
            0
        };
        Some((key, true, flags))
    }

    /// The egress-only gateways' idle timeout and TCP linger, in nanoseconds.
    fn eigw_times(&self) -> (u64, u64) {
        (
            self.cfg.idle_timeout_secs.saturating_mul(1_000_000_000),
            self.cfg.eigw_linger_secs.saturating_mul(1_000_000_000),
        )
    }

    /// Removes egress-only connections idle for the timeout or closed for the linger;
    /// returns how many.
    pub(super) fn expire_eigw(&mut self, now: Time) -> usize {
        let (idle, linger) = self.eigw_times();
        let (mut expired, mut closed) = (0, 0);
        self.eigw_flows.retain(|_, f| {
            let live = f.live(now, idle, linger);
            if !live {
                if f.closed.is_some() {
                    closed += 1;
                } else {
                    expired += 1;
                }
            }
            live
        });
        self.stats.eigw_flows_expired += expired;
        self.stats.eigw_flows_closed += closed;
        usize::try_from(expired + closed).unwrap_or(usize::MAX)
    }

    /// The egress-only gateways' connections (read-only), for diagnostics and tests.
    pub fn egress_only_flows(&self) -> usize {
        self.eigw_flows.len()
    }
}

/// Whether an ICMPv6 packet (its IPv6 packet) is the reply to a query (echo reply).
fn is_query_reply(pkt: &[u8]) -> bool {
    let Ok(ip) = ipv6::Packet::new_checked(pkt) else {
        return false;
    };
    let Ok((_, at)) = ip.upper_layer() else {
        return false;
    };
    ip.payload().get(at) == Some(&icmpv6::kind::ECHO_REPLY)
}

/// ICMPv6 "packet too big" (RFC 4443 §3.2) for the sender of `pkt` (from the frame
/// `frame`), from the address it wrote to, as much of `pkt` quoted as fits in 1280
/// bytes. `out` gets the frame, MACs swapped (the caller writes the right ones).
fn packet_too_big(out: &mut Vec<u8>, frame: &[u8], pkt: &[u8], mtu: u16) {
    let quote = pkt.len().min(QUOTE_MAX);
    let original = ipv6::Packet::new_unchecked(pkt);
    let (src, dst) = (original.dst(), original.src());
    out.clear();
    out.extend_from_slice(&frame[6..12]);
    out.extend_from_slice(&frame[0..6]);
    out.extend_from_slice(&ethernet::ethertype::IPV6.to_be_bytes());
    let start = out.len();
    let l4 = icmpv6::HEADER_LEN + quote;
    out.resize(start + ipv6::HEADER_LEN + l4, 0);
    let ip = &mut out[start..];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&u16::try_from(l4).unwrap_or(u16::MAX).to_be_bytes());
    ip[6] = ip_proto::ICMPV6;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    let msg = &mut ip[ipv6::HEADER_LEN..];
    msg[0] = icmpv6::kind::PACKET_TOO_BIG;
    msg[4..8].copy_from_slice(&u32::from(mtu).to_be_bytes());
    msg[icmpv6::HEADER_LEN..].copy_from_slice(&pkt[..quote]);
    icmpv6::Packet::new_unchecked(msg).fill_checksum(src, dst);
}
