//! The IP protocol of a security group rule or a network ACL entry: one type from the
//! request to the host programs.
//!
//! EC2 takes a name (`tcp`, `udp`, `icmp`, `icmpv6`), `-1`/`all`, or a number 0–255, and
//! shows it differently per resource: a security group rule by name when it has one
//! (`tcp`, `-1`, `50`), a network ACL entry by number (`6`, `-1`).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ApiError;

/// An IP protocol, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpProtocol {
    All,
    Icmp,
    Tcp,
    Udp,
    Icmpv6,
    /// Any other protocol number (never 1, 6, 17 or 58: those are the named variants).
    Other(u8),
}

impl IpProtocol {
    /// The protocol with IANA number `n`.
    pub const fn from_number(n: u8) -> Self {
        match n {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            58 => IpProtocol::Icmpv6,
            n => IpProtocol::Other(n),
        }
    }

    /// The IANA number; `None` for all protocols.
    pub const fn number(self) -> Option<u8> {
        match self {
            IpProtocol::All => None,
            IpProtocol::Icmp => Some(1),
            IpProtocol::Tcp => Some(6),
            IpProtocol::Udp => Some(17),
            IpProtocol::Icmpv6 => Some(58),
            IpProtocol::Other(n) => Some(n),
        }
    }

    /// The number with EC2's `-1` for all, as host programs carry it.
    pub fn as_i16(self) -> i16 {
        self.number().map_or(-1, i16::from)
    }

    /// The protocol a number names, `-1` being all; `None` outside -1..=255.
    pub fn from_i16(n: i16) -> Option<Self> {
        match n {
            -1 => Some(IpProtocol::All),
            n => u8::try_from(n).ok().map(Self::from_number),
        }
    }

    /// TCP or UDP: the protocols with ports.
    pub const fn has_ports(self) -> bool {
        matches!(self, IpProtocol::Tcp | IpProtocol::Udp)
    }

    /// ICMP or ICMPv6: the protocols with a type and a code.
    pub const fn is_icmp(self) -> bool {
        matches!(self, IpProtocol::Icmp | IpProtocol::Icmpv6)
    }

    /// A security group rule's `IpProtocol`: a name, `-1`/`all`, or a number 0–255 (case and
    /// surrounding spaces ignored).
    pub fn parse_security_group(text: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::invalid_value(format!(
                "Invalid value '{text}' for IP protocol. Unknown protocol."
            ))
        };
        let lower = text.trim().to_ascii_lowercase();
        match named(&lower) {
            Some(p) => Ok(p),
            None => {
                let n: i32 = lower.parse().map_err(|_| bad())?;
                u8::try_from(n).map(Self::from_number).map_err(|_| bad())
            }
        }
    }

    /// A network ACL entry's `Protocol`: a number -1..=255 (`-1` all), `all`, or a name.
    pub fn parse_network_acl(text: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::invalid_value(format!(
                "Invalid value '{text}' for protocol. Must be a protocol number (-1 for all, 0-255)."
            ))
        };
        let lower = text.to_ascii_lowercase();
        match named(&lower) {
            Some(p) => Ok(p),
            None => {
                let n: i16 = lower.parse().map_err(|_| bad())?;
                Self::from_i16(n).ok_or_else(bad)
            }
        }
    }

    /// As a security group rule shows it: `tcp`, `udp`, `icmp`, `icmpv6`, `-1` or a number.
    pub fn security_group_text(self) -> Cow<'static, str> {
        match self {
            IpProtocol::All => "-1".into(),
            IpProtocol::Icmp => "icmp".into(),
            IpProtocol::Tcp => "tcp".into(),
            IpProtocol::Udp => "udp".into(),
            IpProtocol::Icmpv6 => "icmpv6".into(),
            IpProtocol::Other(n) => n.to_string().into(),
        }
    }

    /// As a network ACL entry shows it: the number, `-1` for all.
    pub fn network_acl_text(self) -> String {
        self.as_i16().to_string()
    }
}

/// The names and the all-protocols forms both parsers accept.
fn named(lower: &str) -> Option<IpProtocol> {
    Some(match lower {
        "tcp" | "6" => IpProtocol::Tcp,
        "udp" | "17" => IpProtocol::Udp,
        "icmp" | "1" => IpProtocol::Icmp,
        "icmpv6" | "58" => IpProtocol::Icmpv6,
        "-1" | "all" => IpProtocol::All,
        _ => return None,
    })
}

/// Shown as a security group rule shows it.
impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.security_group_text())
    }
}

/// Stored as a security group rule has always stored it: its text (`tcp`, `-1`, `50`).
impl Serialize for IpProtocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.security_group_text())
    }
}

impl<'de> Deserialize<'de> for IpProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse_security_group(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Stores a network ACL entry's protocol as it has always been stored: a number, `-1` all.
pub mod acl_number {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::IpProtocol;

    pub fn serialize<S: Serializer>(p: &IpProtocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i16(p.as_i16())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpProtocol, D::Error> {
        let n = i16::deserialize(d)?;
        IpProtocol::from_i16(n)
            .ok_or_else(|| serde::de::Error::custom(format!("bad protocol number {n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_groups_parse_and_show_names() {
        let sg = |t| IpProtocol::parse_security_group(t).map(|p| p.security_group_text());
        assert_eq!(sg("TCP").unwrap(), "tcp");
        assert_eq!(sg(" 6 ").unwrap(), "tcp");
        assert_eq!(sg("17").unwrap(), "udp");
        assert_eq!(sg("58").unwrap(), "icmpv6");
        assert_eq!(sg("all").unwrap(), "-1");
        assert_eq!(sg("50").unwrap(), "50");
        for bad in ["256", "-2", "banana", ""] {
            assert_eq!(
                IpProtocol::parse_security_group(bad).unwrap_err().code,
                crate::ErrorCode::InvalidParameterValue,
                "{bad}"
            );
        }
    }

    #[test]
    fn network_acls_parse_and_show_numbers() {
        let acl = |t| IpProtocol::parse_network_acl(t).map(IpProtocol::network_acl_text);
        assert_eq!(acl("-1").unwrap(), "-1");
        assert_eq!(acl("tcp").unwrap(), "6");
        assert_eq!(acl("50").unwrap(), "50");
        assert!(acl("256").is_err());
        assert!(acl("-2").is_err());
        assert!(acl("banana").is_err());
    }

    #[test]
    fn stored_forms_are_unchanged() {
        assert_eq!(serde_json::to_string(&IpProtocol::Tcp).unwrap(), "\"tcp\"");
        assert_eq!(serde_json::to_string(&IpProtocol::All).unwrap(), "\"-1\"");
        assert_eq!(
            serde_json::from_str::<IpProtocol>("\"50\"").unwrap(),
            IpProtocol::Other(50)
        );
        for n in -1..=255i16 {
            assert_eq!(IpProtocol::from_i16(n).unwrap().as_i16(), n);
        }
    }
}
