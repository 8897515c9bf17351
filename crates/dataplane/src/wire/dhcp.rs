//! DHCPv4 (RFC 2131/2132): the fixed BOOTP header and the options the VPC's responder
//! reads and writes. Hand-written rather than a crate so the fuzz targets cover it and
//! the parser never allocates for options it does not need.

use super::ethernet::MacAddr;
use super::{Error, Field, Result, read_u16, read_u32, write_u16, write_u32};
use std::net::Ipv4Addr;

mod field {
    use super::Field;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: Field = 4..8;
    pub const SECS: Field = 8..10;
    pub const FLAGS: Field = 10..12;
    pub const CIADDR: Field = 12..16;
    pub const YIADDR: Field = 16..20;
    pub const SIADDR: Field = 20..24;
    pub const GIADDR: Field = 24..28;
    pub const CHADDR: Field = 28..44;
    pub const MAGIC: Field = 236..240;
    pub const OPTIONS: usize = 240;
}

pub const HEADER_LEN: usize = field::OPTIONS;
pub const MAGIC_COOKIE: u32 = 0x6382_5363;
pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

pub mod op {
    pub const BOOTREQUEST: u8 = 1;
    pub const BOOTREPLY: u8 = 2;
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }

    pub fn to_u8(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
        }
    }
}

/// Option codes used here.
pub mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const INTERFACE_MTU: u8 = 26;
    pub const BROADCAST: u8 = 28;
    pub const NTP_SERVERS: u8 = 42;
    pub const NETBIOS_NAME_SERVERS: u8 = 44;
    pub const NETBIOS_NODE_TYPE: u8 = 46;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAM_REQUEST: u8 = 55;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// The fixed header and the magic cookie must be present; options are walked lazily.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN || read_u32(b, field::MAGIC.start) != MAGIC_COOKIE {
            return Err(Error);
        }
        Ok(Packet { buffer })
    }

    pub fn op(&self) -> u8 {
        self.buffer.as_ref()[field::OP]
    }
    pub fn htype(&self) -> u8 {
        self.buffer.as_ref()[field::HTYPE]
    }
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    pub fn hops(&self) -> u8 {
        self.buffer.as_ref()[field::HOPS]
    }
    pub fn xid(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::XID.start)
    }
    pub fn secs(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SECS.start)
    }
    pub fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS.start)
    }
    /// The client asks for broadcast replies (it cannot receive unicast before it has
    /// an address).
    pub fn broadcast(&self) -> bool {
        self.flags() & 0x8000 != 0
    }
    fn ip(&self, f: Field) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[f];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    pub fn ciaddr(&self) -> Ipv4Addr {
        self.ip(field::CIADDR)
    }
    pub fn yiaddr(&self) -> Ipv4Addr {
        self.ip(field::YIADDR)
    }
    pub fn siaddr(&self) -> Ipv4Addr {
        self.ip(field::SIADDR)
    }
    pub fn giaddr(&self) -> Ipv4Addr {
        self.ip(field::GIADDR)
    }
    pub fn chaddr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::CHADDR])
    }

    /// Options as (code, value); stops at END, at a truncated option, or at the end.
    pub fn options(&self) -> Options<'_> {
        Options {
            rest: &self.buffer.as_ref()[field::OPTIONS..],
        }
    }

    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options().find(|(c, _)| *c == code).map(|(_, v)| v)
    }
}

/// Iterator over DHCP options.
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        loop {
            let (&code, tail) = self.rest.split_first()?;
            match code {
                opt::PAD => self.rest = tail,
                opt::END => {
                    self.rest = &[];
                    return None;
                }
                _ => {
                    let (&len, tail) = tail.split_first()?;
                    let len = usize::from(len);
                    if tail.len() < len {
                        self.rest = &[];
                        return None;
                    }
                    let (value, tail) = tail.split_at(len);
                    self.rest = tail;
                    return Some((code, value));
                }
            }
        }
    }
}

fn ip_of(v: &[u8]) -> Option<Ipv4Addr> {
    (v.len() == 4).then(|| Ipv4Addr::new(v[0], v[1], v[2], v[3]))
}

/// A DHCP message as owned values: the fields and options the responder uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Repr {
    pub op: u8,
    pub message_type: Option<MessageType>,
    pub xid: u32,
    pub secs: u16,
    pub broadcast: bool,
    pub ciaddr: Option<Ipv4Addr>,
    pub yiaddr: Option<Ipv4Addr>,
    pub siaddr: Option<Ipv4Addr>,
    pub chaddr: MacAddr,
    pub requested_ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub dns_servers: Vec<Ipv4Addr>,
    pub ntp_servers: Vec<Ipv4Addr>,
    pub netbios_name_servers: Vec<Ipv4Addr>,
    /// 1 (B-node), 2 (P), 4 (M) or 8 (H).
    pub netbios_node_type: Option<u8>,
    pub domain_name: Option<String>,
    pub hostname: Option<String>,
    pub interface_mtu: Option<u16>,
    pub broadcast_addr: Option<Ipv4Addr>,
    pub lease_time: Option<u32>,
    pub renewal_time: Option<u32>,
    pub rebinding_time: Option<u32>,
    pub parameter_request_list: Vec<u8>,
}

fn nonzero(a: Ipv4Addr) -> Option<Ipv4Addr> {
    (!a.is_unspecified()).then_some(a)
}

fn u32_of(v: &[u8]) -> Option<u32> {
    (v.len() == 4).then(|| read_u32(v, 0))
}

impl Repr {
    /// Only Ethernet clients (htype 1, hlen 6) are understood.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        if p.htype() != 1 || p.hlen() != 6 {
            return Err(Error);
        }
        let mut r = Repr {
            op: p.op(),
            xid: p.xid(),
            secs: p.secs(),
            broadcast: p.broadcast(),
            ciaddr: nonzero(p.ciaddr()),
            yiaddr: nonzero(p.yiaddr()),
            siaddr: nonzero(p.siaddr()),
            chaddr: p.chaddr(),
            ..Repr::default()
        };
        for (code, v) in p.options() {
            match code {
                opt::MESSAGE_TYPE if v.len() == 1 => r.message_type = MessageType::from_u8(v[0]),
                opt::REQUESTED_IP => r.requested_ip = ip_of(v),
                opt::SERVER_ID => r.server_id = ip_of(v),
                opt::SUBNET_MASK => r.subnet_mask = ip_of(v),
                opt::ROUTER => r.router = v.get(..4).and_then(ip_of),
                opt::BROADCAST => r.broadcast_addr = ip_of(v),
                opt::DNS => r.dns_servers = v.chunks_exact(4).filter_map(ip_of).collect(),
                opt::NTP_SERVERS => r.ntp_servers = v.chunks_exact(4).filter_map(ip_of).collect(),
                opt::NETBIOS_NAME_SERVERS => {
                    r.netbios_name_servers = v.chunks_exact(4).filter_map(ip_of).collect()
                }
                opt::NETBIOS_NODE_TYPE if v.len() == 1 => r.netbios_node_type = Some(v[0]),
                opt::DOMAIN_NAME => r.domain_name = Some(String::from_utf8_lossy(v).into_owned()),
                opt::HOSTNAME => r.hostname = Some(String::from_utf8_lossy(v).into_owned()),
                opt::INTERFACE_MTU if v.len() == 2 => r.interface_mtu = Some(read_u16(v, 0)),
                opt::LEASE_TIME => r.lease_time = u32_of(v),
                opt::RENEWAL_TIME => r.renewal_time = u32_of(v),
                opt::REBINDING_TIME => r.rebinding_time = u32_of(v),
                opt::PARAM_REQUEST => r.parameter_request_list = v.to_vec(),
                _ => {}
            }
        }
        Ok(r)
    }

    fn options_len(&self) -> usize {
        let mut n = 1; // END
        let ip = |o: &Option<Ipv4Addr>| if o.is_some() { 6 } else { 0 };
        let u = |o: &Option<u32>| if o.is_some() { 6 } else { 0 };
        let s = |o: &Option<String>| o.as_ref().map_or(0, |s| 2 + s.len().min(255));
        n += if self.message_type.is_some() { 3 } else { 0 };
        n += ip(&self.requested_ip) + ip(&self.server_id) + ip(&self.subnet_mask);
        n += ip(&self.router) + ip(&self.broadcast_addr);
        let list = |l: &[Ipv4Addr]| {
            if l.is_empty() {
                0
            } else {
                2 + 4 * l.len().min(63)
            }
        };
        n += list(&self.dns_servers) + list(&self.ntp_servers) + list(&self.netbios_name_servers);
        n += if self.netbios_node_type.is_some() {
            3
        } else {
            0
        };
        n += s(&self.domain_name) + s(&self.hostname);
        n += if self.interface_mtu.is_some() { 4 } else { 0 };
        n += u(&self.lease_time) + u(&self.renewal_time) + u(&self.rebinding_time);
        if !self.parameter_request_list.is_empty() {
            n += 2 + self.parameter_request_list.len().min(255);
        }
        n
    }

    /// BOOTP requires at least 300 bytes; short messages are padded to that.
    pub fn buffer_len(&self) -> usize {
        (HEADER_LEN + self.options_len()).max(300)
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        let len = self.buffer_len();
        let b = &mut p.buffer.as_mut()[..len];
        b.fill(0);
        b[field::OP] = self.op;
        b[field::HTYPE] = 1;
        b[field::HLEN] = 6;
        write_u32(b, field::XID.start, self.xid);
        write_u16(b, field::SECS.start, self.secs);
        write_u16(
            b,
            field::FLAGS.start,
            if self.broadcast { 0x8000 } else { 0 },
        );
        let unspec = Ipv4Addr::UNSPECIFIED;
        b[field::CIADDR].copy_from_slice(&self.ciaddr.unwrap_or(unspec).octets());
        b[field::YIADDR].copy_from_slice(&self.yiaddr.unwrap_or(unspec).octets());
        b[field::SIADDR].copy_from_slice(&self.siaddr.unwrap_or(unspec).octets());
        b[field::CHADDR.start..field::CHADDR.start + 6].copy_from_slice(&self.chaddr.0);
        write_u32(b, field::MAGIC.start, MAGIC_COOKIE);
        let mut w = OptWriter {
            buf: &mut b[field::OPTIONS..],
            at: 0,
        };
        if let Some(t) = self.message_type {
            w.put(opt::MESSAGE_TYPE, &[t.to_u8()]);
        }
        let put_ip = |w: &mut OptWriter<'_>, code, v: &Option<Ipv4Addr>| {
            if let Some(a) = v {
                w.put(code, &a.octets());
            }
        };
        put_ip(&mut w, opt::SERVER_ID, &self.server_id);
        put_ip(&mut w, opt::REQUESTED_IP, &self.requested_ip);
        if let Some(v) = self.lease_time {
            w.put(opt::LEASE_TIME, &v.to_be_bytes());
        }
        if let Some(v) = self.renewal_time {
            w.put(opt::RENEWAL_TIME, &v.to_be_bytes());
        }
        if let Some(v) = self.rebinding_time {
            w.put(opt::REBINDING_TIME, &v.to_be_bytes());
        }
        put_ip(&mut w, opt::SUBNET_MASK, &self.subnet_mask);
        put_ip(&mut w, opt::BROADCAST, &self.broadcast_addr);
        put_ip(&mut w, opt::ROUTER, &self.router);
        // address lists: at most 63 addresses fit an option's 255 bytes
        let put_list = |w: &mut OptWriter<'_>, code, l: &[Ipv4Addr]| {
            if !l.is_empty() {
                let mut v = [0u8; 252];
                let n = l.len().min(63);
                for (i, a) in l.iter().take(n).enumerate() {
                    v[i * 4..i * 4 + 4].copy_from_slice(&a.octets());
                }
                w.put(code, &v[..n * 4]);
            }
        };
        put_list(&mut w, opt::DNS, &self.dns_servers);
        put_list(&mut w, opt::NTP_SERVERS, &self.ntp_servers);
        put_list(
            &mut w,
            opt::NETBIOS_NAME_SERVERS,
            &self.netbios_name_servers,
        );
        if let Some(t) = self.netbios_node_type {
            w.put(opt::NETBIOS_NODE_TYPE, &[t]);
        }
        if let Some(d) = &self.domain_name {
            w.put(opt::DOMAIN_NAME, &d.as_bytes()[..d.len().min(255)]);
        }
        if let Some(h) = &self.hostname {
            w.put(opt::HOSTNAME, &h.as_bytes()[..h.len().min(255)]);
        }
        if let Some(m) = self.interface_mtu {
            w.put(opt::INTERFACE_MTU, &m.to_be_bytes());
        }
        if !self.parameter_request_list.is_empty() {
            let l = &self.parameter_request_list;
            w.put(opt::PARAM_REQUEST, &l[..l.len().min(255)]);
        }
        w.buf[w.at] = opt::END;
    }
}

struct OptWriter<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl OptWriter<'_> {
    /// Writes one option; a value longer than 255 bytes (the length octet) is cut, as
    /// `options_len` counts it.
    fn put(&mut self, code: u8, value: &[u8]) {
        let len = u8::try_from(value.len()).unwrap_or(u8::MAX);
        let value = &value[..usize::from(len)];
        self.buf[self.at] = code;
        self.buf[self.at + 1] = len;
        self.buf[self.at + 2..self.at + 2 + value.len()].copy_from_slice(value);
        self.at += 2 + value.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discover() -> Vec<u8> {
        let mut b = vec![0u8; 300];
        b[0] = 1;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        b[10] = 0x80;
        b[28..34].copy_from_slice(&[2, 0, 0, 0, 0, 0x0a]);
        b[236..240].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        b[240..250].copy_from_slice(&[53, 1, 1, 55, 3, 1, 3, 6, 0, 255]);
        b
    }

    #[test]
    fn deconstruct() {
        let b = discover();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.op(), op::BOOTREQUEST);
        assert_eq!(p.xid(), 0xdead_beef);
        assert!(p.broadcast());
        assert_eq!(p.chaddr(), MacAddr([2, 0, 0, 0, 0, 0x0a]));
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.message_type, Some(MessageType::Discover));
        assert_eq!(r.parameter_request_list, vec![1, 3, 6]);
    }

    #[test]
    fn round_trip() {
        let r = Repr {
            op: op::BOOTREPLY,
            message_type: Some(MessageType::Offer),
            xid: 7,
            yiaddr: Some(Ipv4Addr::new(10, 0, 1, 10)),
            chaddr: MacAddr([2, 0, 0, 0, 0, 0x0a]),
            server_id: Some(Ipv4Addr::new(10, 0, 1, 1)),
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            router: Some(Ipv4Addr::new(10, 0, 1, 1)),
            dns_servers: vec![Ipv4Addr::new(10, 0, 0, 2)],
            domain_name: Some("ec2.internal".into()),
            interface_mtu: Some(9001),
            lease_time: Some(3600),
            ntp_servers: vec![Ipv4Addr::new(169, 254, 169, 123)],
            netbios_name_servers: vec![Ipv4Addr::new(10, 0, 1, 200), Ipv4Addr::new(10, 0, 1, 201)],
            netbios_node_type: Some(2),
            ..Repr::default()
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        let back = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(back, r);
        // option 26 = 9001 and 46 = 2 (P-node) are on the wire byte for byte
        assert!(b.windows(4).any(|w| w == [26, 2, 0x23, 0x29]));
        assert!(b.windows(3).any(|w| w == [46, 1, 2]));
    }

    #[test]
    fn truncated_options_stop() {
        let mut b = discover();
        b[240..243].copy_from_slice(&[53, 9, 1]);
        let p = Packet::new_checked(&b[..243]).unwrap();
        assert_eq!(p.options().count(), 0);
        b[236] = 0;
        assert!(Packet::new_checked(&b[..]).is_err());
    }
}
