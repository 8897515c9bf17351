//! The DHCPv6 responder: an instance gets its IPv6 address from its own host, as an EC2
//! instance gets it from the VPC's DHCPv6 server (the router's RA has the managed flag
//! set). Stateful address assignment only (IA_NA, RFC 8415): Solicit is answered with
//! an Advertise (a Reply with rapid commit), Request, Renew, Rebind and Confirm with a
//! Reply holding the ENI's first IPv6 address, Release and Decline with a success
//! status, Information-request with the server's identity. Replies but to Release and
//! Decline name the DHCP options set's IPv6 DNS servers: the Route 53 Resolver's IPv6
//! address (`fd00:ec2::253`) for AmazonProvidedDNS, and the set's own IPv6 servers.
//! Nothing is relayed or multicast on the fabric.

use crate::ndp;
use crate::packet::Meta6;
use crate::port::Port;
use crate::program::NameServer;
use crate::route;
use crate::verdict::DropReason;
use crate::vpc::Vpc;
use crate::wire::dhcpv6::{self, Message, Options, Writer, message, option, status};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{ip_proto, ipv6, udp};
use std::net::Ipv6Addr;

/// All DHCP relay agents and servers: where clients send.
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// The address lifetimes EC2 hands out: a preferred lifetime of 140 s (the DHCP option
/// set's `ipv6-address-preferred-lease-time` default) and a valid one of 450 s; the
/// client renews at half the preferred lifetime.
pub const PREFERRED_LIFETIME: u32 = 140;
pub const VALID_LIFETIME: u32 = 450;
pub const T1: u32 = PREFERRED_LIFETIME / 2;
pub const T2: u32 = PREFERRED_LIFETIME * 4 / 5;

/// Is this packet for the DHCPv6 server?
pub fn is_dhcpv6(m: &Meta6) -> bool {
    m.tuple.protocol == ip_proto::UDP
        && m.tuple.dst_port == dhcpv6::SERVER_PORT
        && m.tuple.src_port == dhcpv6::CLIENT_PORT
}

/// The server's DUID: DUID-LL (type 3) of the router's MAC.
pub fn server_duid(vpc: &Vpc) -> [u8; 10] {
    let m = vpc.router_mac.0;
    [0, 3, 0, 1, m[0], m[1], m[2], m[3], m[4], m[5]]
}

/// Answers a DHCPv6 message from `port` into `out`.
pub fn respond(
    port: &Port,
    vpc: &Vpc,
    frame: &[u8],
    m: &Meta6,
    out: &mut Vec<u8>,
) -> Result<(), DropReason> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::Malformed)?;
    let ip = ipv6::Packet::new_checked(eth.payload()).map_err(|_| DropReason::Malformed)?;
    let (_, at) = ip.upper_layer().map_err(|_| DropReason::Malformed)?;
    let seg = ip.payload().get(at..).ok_or(DropReason::Malformed)?;
    // The UDP checksum is not checked: a TAP with offloads hands over the instance's
    // datagrams with a partial checksum (the pseudo-header's sum only), as the DHCP
    // responder gets them; the frame comes from the instance's own link.
    let u = udp::Packet::new_checked(seg).map_err(|_| DropReason::Malformed)?;
    let src = m.tuple.src;
    if !src.is_unspecified()
        && !ipv6::is_link_local(src)
        && port.source_dest_check
        && !port.owns6(src)
    {
        return Err(DropReason::SourceCheck);
    }
    let req = Message::new_checked(u.payload()).map_err(|_| DropReason::Dhcpv6Ignored)?;
    let ignored = |_| DropReason::Dhcpv6Ignored;
    let client_id = req
        .option(option::CLIENT_ID)
        .map_err(ignored)?
        .ok_or(DropReason::Dhcpv6Ignored)?;
    let duid = server_duid(vpc);
    if let Some(sid) = req.option(option::SERVER_ID).map_err(ignored)?
        && sid != duid
    {
        // for another server (RFC 8415 §16): not ours to answer
        return Err(DropReason::Dhcpv6Ignored);
    }
    let rapid = req.option(option::RAPID_COMMIT).map_err(ignored)?.is_some();
    let (reply, with_address) = match req.msg_type() {
        message::SOLICIT if rapid => (message::REPLY, true),
        message::SOLICIT => (message::ADVERTISE, true),
        message::REQUEST | message::RENEW | message::REBIND | message::CONFIRM => {
            (message::REPLY, true)
        }
        message::RELEASE | message::DECLINE | message::INFORMATION_REQUEST => {
            (message::REPLY, false)
        }
        _ => return Err(DropReason::Dhcpv6Ignored),
    };
    let iaid = match req.option(option::IA_NA).map_err(ignored)? {
        Some(ia) => Some(dhcpv6::ia_na_iaid(ia).map_err(ignored)?),
        None => None,
    };
    let address = port.addresses6.first().copied();
    // the message: built first, then framed (its length is needed by the headers)
    let mut msg = Vec::with_capacity(128);
    let mut w = Writer::new(&mut msg, reply, req.transaction_id());
    w.option(option::CLIENT_ID, client_id)
        .option(option::SERVER_ID, &duid);
    if rapid && req.msg_type() == message::SOLICIT {
        w.option(option::RAPID_COMMIT, &[]);
    }
    match (req.msg_type(), with_address, iaid) {
        (message::CONFIRM, _, _) => {
            // the client's addresses are on this link only if they are the ENI's
            let on_link = match req.option(option::IA_NA).map_err(ignored)? {
                Some(ia) => addresses_in(ia)?.iter().all(|a| port.owns6(*a)),
                None => true,
            };
            let code = if on_link && address.is_some() {
                status::SUCCESS
            } else {
                status::NOT_ON_LINK
            };
            w.option(option::STATUS_CODE, &code.to_be_bytes());
        }
        (_, true, Some(iaid)) => {
            w.nested(option::IA_NA, |o| {
                o.extend_from_slice(&iaid.to_be_bytes());
                match address {
                    Some(a) => {
                        o.extend_from_slice(&T1.to_be_bytes());
                        o.extend_from_slice(&T2.to_be_bytes());
                        let mut addr = [0u8; 24];
                        addr[..16].copy_from_slice(&a.octets());
                        addr[16..20].copy_from_slice(&PREFERRED_LIFETIME.to_be_bytes());
                        addr[20..24].copy_from_slice(&VALID_LIFETIME.to_be_bytes());
                        dhcpv6::push_option(o, option::IA_ADDR, &addr);
                    }
                    None => {
                        o.extend_from_slice(&[0; 8]);
                        let mut st = status::NO_ADDRS_AVAIL.to_be_bytes().to_vec();
                        st.extend_from_slice(b"no IPv6 address");
                        dhcpv6::push_option(o, option::STATUS_CODE, &st);
                    }
                }
            });
        }
        (_, true, None) => {
            // asked for no address (no IA_NA): the server's identity only
        }
        (_, false, _) => {
            w.option(option::STATUS_CODE, &status::SUCCESS.to_be_bytes());
        }
    }
    if req.msg_type() != message::RELEASE && req.msg_type() != message::DECLINE {
        // the DHCP options set's IPv6 servers, in its order: AmazonProvidedDNS is the
        // Route 53 Resolver, at its IPv6 address for IPv6 clients
        let servers: Vec<u8> = vpc
            .dhcp
            .domain_name_servers
            .iter()
            .filter_map(|n| match n {
                NameServer::AmazonProvidedDns => Some(route::RESOLVER6),
                NameServer::Address6(a) => Some(*a),
                NameServer::Address(_) => None,
            })
            .flat_map(|a| a.octets())
            .collect();
        if !servers.is_empty() {
            w.option(option::DNS_SERVERS, &servers);
        }
    }
    // to the client's link-local address, from the router's
    let from = ndp::router_link_local(vpc);
    let to = if src.is_unspecified() {
        ndp::ALL_NODES
    } else {
        src
    };
    let udp_len = udp::HEADER_LEN + msg.len();
    out.clear();
    out.resize(ethernet::HEADER_LEN + ipv6::HEADER_LEN + udp_len, 0);
    let mut f = ethernet::Frame::new_unchecked(&mut out[..]);
    ethernet::Repr {
        src: vpc.router_mac,
        dst: port.mac,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut f);
    ipv6::Repr {
        src: from,
        dst: to,
        next_header: ip_proto::UDP,
        hop_limit: 64,
        payload_len: udp_len,
    }
    .emit(&mut ipv6::Packet::new_unchecked(
        &mut out[ethernet::HEADER_LEN..],
    ));
    let seg = &mut out[ethernet::HEADER_LEN + ipv6::HEADER_LEN..];
    seg[udp::HEADER_LEN..].copy_from_slice(&msg);
    let mut up = udp::Packet::new_unchecked(&mut seg[..]);
    up.set_src_port(dhcpv6::SERVER_PORT);
    up.set_dst_port(dhcpv6::CLIENT_PORT);
    up.set_len(u16::try_from(udp_len).map_err(|_| DropReason::Internal)?);
    up.set_checksum(0);
    let c = ipv6::l4_checksum(from, to, ip_proto::UDP, seg);
    // a computed 0 is sent as 0xffff (RFC 8200 §8.1)
    let c = if c == 0 { 0xffff } else { c };
    udp::Packet::new_unchecked(&mut seg[..]).set_checksum(c);
    Ok(())
}

/// The addresses of an IA_NA option's IA Address options.
fn addresses_in(ia: &[u8]) -> Result<Vec<Ipv6Addr>, DropReason> {
    let mut v = Vec::new();
    let opts = Options::inside(ia, dhcpv6::IA_NA_LEN).map_err(|_| DropReason::Dhcpv6Ignored)?;
    for o in opts {
        let (code, data) = o.map_err(|_| DropReason::Dhcpv6Ignored)?;
        if code == option::IA_ADDR {
            let a: [u8; 16] = data
                .get(..16)
                .and_then(|b| b.try_into().ok())
                .ok_or(DropReason::Dhcpv6Ignored)?;
            v.push(Ipv6Addr::from(a));
        }
    }
    Ok(v)
}
