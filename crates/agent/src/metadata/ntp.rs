//! The Network Time Protocol's packet (RFC 5905, section 7.3) and the server's answer
//! to a client's request (SNTP semantics, RFC 4330 section 5): what the Amazon Time Sync
//! Service answers at 169.254.169.123 and `fd00:ec2::123`. Pure: no sockets, no clock;
//! the caller hands in the times ([`answer`]).
//!
//! Only a client's request (mode 3) is answered, with one 48-byte packet: never larger
//! than the request, so the service amplifies nothing. Control (mode 6) and private
//! (mode 7, ntpd's `monlist`) queries, the other modes and anything malformed (shorter
//! than a header, version 0 or above 4, no transmit timestamp) are refused, and the
//! caller counts why ([`Refused`]).
//!
//! Contract: [`Header::parse`] answers for any bytes (an error below 48 bytes), never
//! panics; [`Header::emit`] writes exactly [`HEADER_LEN`] bytes; `parse(emit(h)) == h`
//! and `emit(parse(b)) == b[..48]` for every `h` and every `b` of 48 bytes or more.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The header without extension fields or MAC: what every request carries and every
/// answer is.
pub const HEADER_LEN: usize = 48;

/// Seconds from NTP's epoch (1900-01-01) to Unix's (1970-01-01).
const UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp: seconds since 1900 (modulo 2^32: era 0 ends in 2036 and the
/// next begins, as RFC 5905 numbers them) and fractions of a second in 2^-32 s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    pub seconds: u32,
    pub fraction: u32,
}

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp {
        seconds: 0,
        fraction: 0,
    };

    /// The timestamp of `t` (a time before 1970 is taken as 1970).
    pub fn from_system(t: SystemTime) -> Timestamp {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_unix(since)
    }

    /// The timestamp of a time given as its distance from the Unix epoch.
    pub fn from_unix(since: Duration) -> Timestamp {
        // the era wraps every 2^32 s: the low 32 bits are the field
        let seconds =
            u32::try_from(since.as_secs().wrapping_add(UNIX_OFFSET) & 0xffff_ffff).unwrap_or(0);
        // nanos < 10^9, so nanos * 2^32 / 10^9 < 2^32
        let fraction =
            u32::try_from((u64::from(since.subsec_nanos()) << 32) / 1_000_000_000).unwrap_or(0);
        Timestamp { seconds, fraction }
    }

    /// The distance from the Unix epoch of a timestamp of era 0 or 1 (1968 to 2104),
    /// the inverse of [`Timestamp::from_unix`] to within a nanosecond.
    pub fn to_unix(self) -> Duration {
        let s = u64::from(self.seconds);
        // era 0 reaches back to 1900; a value below 1968's means era 1 (from 2036)
        let ntp = if s < 0x8000_0000 { s + (1 << 32) } else { s };
        let nanos = (u64::from(self.fraction) * 1_000_000_000 + (1 << 31)) >> 32;
        Duration::new(ntp.saturating_sub(UNIX_OFFSET), 0) + Duration::from_nanos(nanos)
    }

    fn read(b: &[u8]) -> Timestamp {
        Timestamp {
            seconds: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            fraction: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    fn write(self, b: &mut [u8]) {
        b[..4].copy_from_slice(&self.seconds.to_be_bytes());
        b[4..8].copy_from_slice(&self.fraction.to_be_bytes());
    }
}

/// The leap indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leap {
    NoWarning,
    /// The last minute of the day has 61 seconds.
    Insert,
    /// The last minute of the day has 59 seconds.
    Delete,
    /// The clock is unsynchronized.
    Unknown,
}

impl Leap {
    fn from_bits(b: u8) -> Leap {
        match b & 3 {
            0 => Leap::NoWarning,
            1 => Leap::Insert,
            2 => Leap::Delete,
            _ => Leap::Unknown,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::Insert => 1,
            Leap::Delete => 2,
            Leap::Unknown => 3,
        }
    }
}

/// The association mode (all eight values of the field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Reserved,
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    /// NTP control messages (RFC 9327: ntpq's `readvar`, `mrulist`).
    Control,
    /// Reserved for private use (ntpd's `monlist`, the classic amplifier).
    Private,
}

impl Mode {
    fn from_bits(b: u8) -> Mode {
        match b & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }
}

/// The packet header (RFC 5905, figure 8), every field as it is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub leap: Leap,
    /// 0..=7 (the field has 3 bits; [`Header::emit`] writes its low 3).
    pub version: u8,
    pub mode: Mode,
    pub stratum: u8,
    /// log2 of the poll interval in seconds.
    pub poll: i8,
    /// log2 of the clock's precision in seconds.
    pub precision: i8,
    /// NTP short format: 16.16 seconds.
    pub root_delay: u32,
    pub root_dispersion: u32,
    pub reference_id: [u8; 4],
    pub reference: Timestamp,
    pub origin: Timestamp,
    pub receive: Timestamp,
    pub transmit: Timestamp,
}

/// Fewer bytes than a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Short;

impl Header {
    /// The header at the start of `b` (extension fields and a MAC after it are left
    /// alone).
    pub fn parse(b: &[u8]) -> Result<Header, Short> {
        let b = b.get(..HEADER_LEN).ok_or(Short)?;
        Ok(Header {
            leap: Leap::from_bits(b[0] >> 6),
            version: (b[0] >> 3) & 7,
            mode: Mode::from_bits(b[0]),
            stratum: b[1],
            poll: i8::from_be_bytes([b[2]]),
            precision: i8::from_be_bytes([b[3]]),
            root_delay: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            root_dispersion: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            reference_id: [b[12], b[13], b[14], b[15]],
            reference: Timestamp::read(&b[16..24]),
            origin: Timestamp::read(&b[24..32]),
            receive: Timestamp::read(&b[32..40]),
            transmit: Timestamp::read(&b[40..48]),
        })
    }

    /// The header's 48 bytes.
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.leap.bits() << 6 | (self.version & 7) << 3 | self.mode.bits();
        b[1] = self.stratum;
        b[2] = self.poll.to_be_bytes()[0];
        b[3] = self.precision.to_be_bytes()[0];
        b[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id);
        self.reference.write(&mut b[16..24]);
        self.origin.write(&mut b[24..32]);
        self.receive.write(&mut b[32..40]);
        self.transmit.write(&mut b[40..48]);
        b
    }
}

/// What the server says of itself in every answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    pub stratum: u8,
    /// For a server of stratum 2 and above, the IPv4 address of its own reference.
    pub reference_id: [u8; 4],
    pub precision: i8,
    pub root_delay: u32,
    pub root_dispersion: u32,
}

impl ServerInfo {
    /// As the Amazon Time Sync Service answers at 169.254.169.123: stratum 3 (its
    /// clients show stratum 4), no leap warning ever (leap seconds are smeared), a
    /// microsecond's precision, and the host whose clock is served (`host`) as the
    /// reference. The root delay and dispersion are small fixed values (about a quarter
    /// and half a millisecond), as a host disciplined by its own NTP has.
    pub fn amazon(host: Ipv4Addr) -> ServerInfo {
        ServerInfo {
            stratum: 3,
            reference_id: host.octets(),
            precision: -20,
            root_delay: 16,
            root_dispersion: 32,
        }
    }
}

/// Why a datagram got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refused {
    /// Shorter than a header, version 0 or above 4, or no transmit timestamp to echo.
    Malformed,
    /// Mode 6 or 7: control and private queries are never answered.
    Control,
    /// Any other mode but a client's (3).
    NotClient,
}

impl Refused {
    pub const ALL: [Refused; 3] = [Refused::Malformed, Refused::Control, Refused::NotClient];

    /// A stable name for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::Control => "control",
            Refused::NotClient => "not_client",
        }
    }
}

/// The server's answer to the datagram `request`, received at `received`; `transmit`
/// reads the clock once more as the answer leaves. The answer has the request's version
/// and poll, mode 4, the request's transmit timestamp as its origin, and the reference
/// time at the receive time's second.
pub fn answer(
    request: &[u8],
    received: Timestamp,
    info: &ServerInfo,
    transmit: impl FnOnce() -> Timestamp,
) -> Result<[u8; HEADER_LEN], Refused> {
    let q = Header::parse(request).map_err(|Short| Refused::Malformed)?;
    match q.mode {
        Mode::Control | Mode::Private => return Err(Refused::Control),
        Mode::Client => {}
        _ => return Err(Refused::NotClient),
    }
    if !(1..=4).contains(&q.version) || q.transmit == Timestamp::ZERO {
        return Err(Refused::Malformed);
    }
    let mut a = Header {
        leap: Leap::NoWarning,
        version: q.version,
        mode: Mode::Server,
        stratum: info.stratum,
        poll: q.poll,
        precision: info.precision,
        root_delay: info.root_delay,
        root_dispersion: info.root_dispersion,
        reference_id: info.reference_id,
        reference: Timestamp {
            seconds: received.seconds,
            fraction: 0,
        },
        origin: q.transmit,
        receive: received,
        transmit: Timestamp::ZERO,
    };
    a.transmit = transmit();
    Ok(a.emit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

    /// What `ntpdig` (ntpsec 1.2.2) sends: version 4, mode 3, poll 0, its transmit time.
    const NTPDIG: [u8; 48] = [
        0x23, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
        0, 0, 0, 0, 0, 0, 0, 0, 0xec, 0xdc, 0x8c, 0x2a, 0x12, 0x34, 0x56, 0x78,
    ];

    fn at(seconds: u32, fraction: u32) -> Timestamp {
        Timestamp { seconds, fraction }
    }

    #[test]
    fn a_client_request_is_answered_as_a_stratum_3_server() {
        let rx = at(0xecdc_8c2b, 0x8000_0000);
        let tx = at(0xecdc_8c2b, 0x8000_1000);
        let a = answer(&NTPDIG, rx, &ServerInfo::amazon(HOST), || tx).unwrap();
        // LI 0, VN 4, mode 4; stratum 3; poll copied (0); precision -20
        assert_eq!(&a[..4], &[0x24, 3, 0, 0xec]);
        assert_eq!(&a[4..8], &[0, 0, 0, 16]);
        assert_eq!(&a[8..12], &[0, 0, 0, 32]);
        assert_eq!(&a[12..16], &[127, 0, 0, 11]);
        // reference: the receive time's second
        assert_eq!(&a[16..24], &[0xec, 0xdc, 0x8c, 0x2b, 0, 0, 0, 0]);
        // origin: the client's transmit timestamp, as it sent it
        assert_eq!(&a[24..32], &NTPDIG[40..48]);
        assert_eq!(&a[32..40], &[0xec, 0xdc, 0x8c, 0x2b, 0x80, 0, 0, 0]);
        assert_eq!(&a[40..48], &[0xec, 0xdc, 0x8c, 0x2b, 0x80, 0, 0x10, 0]);
    }

    #[test]
    fn the_answer_keeps_the_requests_version_and_poll() {
        let mut q = NTPDIG;
        q[0] = 0x1b; // version 3
        q[2] = 6; // poll 64 s
        let a = answer(&q, at(1, 0), &ServerInfo::amazon(HOST), || at(1, 1)).unwrap();
        let h = Header::parse(&a).unwrap();
        assert_eq!((h.version, h.mode, h.poll), (3, Mode::Server, 6));
        assert_eq!(h.leap, Leap::NoWarning);
    }

    #[test]
    fn a_request_with_a_mac_or_extensions_gets_the_plain_header() {
        let mut q = NTPDIG.to_vec();
        q.extend_from_slice(&[0, 0, 0, 1]);
        q.extend_from_slice(&[0xaa; 16]);
        let a = answer(&q, at(1, 0), &ServerInfo::amazon(HOST), || at(1, 1)).unwrap();
        assert_eq!(a.len(), HEADER_LEN);
        assert!(a.len() <= q.len());
    }

    #[test]
    fn control_private_and_other_modes_are_refused() {
        let info = ServerInfo::amazon(HOST);
        let with_mode = |m: u8| {
            let mut q = NTPDIG;
            q[0] = 0x20 | m;
            answer(&q, at(1, 0), &info, || at(1, 1))
        };
        assert_eq!(with_mode(6), Err(Refused::Control));
        assert_eq!(with_mode(7), Err(Refused::Control));
        for m in [0, 1, 2, 4, 5] {
            assert_eq!(with_mode(m), Err(Refused::NotClient), "mode {m}");
        }
        assert!(with_mode(3).is_ok());
        // ntpq's readvar (mode 6, 12 bytes) and a monlist request (mode 7, 8 bytes):
        // shorter than a header, so malformed before their mode is even read
        let readvar = [0x16, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            answer(&readvar, at(1, 0), &info, || at(1, 1)),
            Err(Refused::Malformed)
        );
        let mut monlist = vec![0x17, 0x00, 0x03, 0x2a];
        monlist.resize(48, 0);
        assert_eq!(
            answer(&monlist, at(1, 0), &info, || at(1, 1)),
            Err(Refused::Control)
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        let info = ServerInfo::amazon(HOST);
        for cut in [0, 1, 47] {
            assert_eq!(
                answer(&NTPDIG[..cut], at(1, 0), &info, || at(1, 1)),
                Err(Refused::Malformed)
            );
        }
        for version in [0u8, 5, 7] {
            let mut q = NTPDIG;
            q[0] = version << 3 | 3;
            assert_eq!(
                answer(&q, at(1, 0), &info, || at(1, 1)),
                Err(Refused::Malformed),
                "version {version}"
            );
        }
        let mut q = NTPDIG;
        q[40..48].fill(0);
        assert_eq!(
            answer(&q, at(1, 0), &info, || at(1, 1)),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn timestamps_convert_to_and_from_unix_time() {
        // 2026-12-04 00:00:00 UTC
        let unix = Duration::new(1_796_342_400, 500_000_000);
        let t = Timestamp::from_unix(unix);
        assert_eq!(t.seconds, 0xeebc_8100);
        assert_eq!(t.fraction, 0x8000_0000);
        assert_eq!(t.to_unix(), unix);
        // past 2036-02-07 06:28:16 the era wraps: seconds start again from 0
        let wrap = Duration::new((1 << 32) - UNIX_OFFSET + 5, 0);
        assert_eq!(Timestamp::from_unix(wrap), at(5, 0));
        assert_eq!(at(5, 0).to_unix(), wrap);
        assert_eq!(Timestamp::from_system(UNIX_EPOCH), at(0x83aa_7e80, 0));
    }

    fn timestamp() -> impl Strategy<Value = Timestamp> {
        (any::<u32>(), any::<u32>()).prop_map(|(seconds, fraction)| Timestamp { seconds, fraction })
    }

    fn header() -> impl Strategy<Value = Header> {
        (
            (
                0u8..4,
                0u8..8,
                0u8..8,
                any::<u8>(),
                any::<i8>(),
                any::<i8>(),
            ),
            (any::<u32>(), any::<u32>(), any::<[u8; 4]>()),
            (timestamp(), timestamp(), timestamp(), timestamp()),
        )
            .prop_map(
                |(
                    (leap, version, mode, stratum, poll, precision),
                    (root_delay, root_dispersion, reference_id),
                    (reference, origin, receive, transmit),
                )| Header {
                    leap: Leap::from_bits(leap),
                    version,
                    mode: Mode::from_bits(mode),
                    stratum,
                    poll,
                    precision,
                    root_delay,
                    root_dispersion,
                    reference_id,
                    reference,
                    origin,
                    receive,
                    transmit,
                },
            )
    }

    proptest! {
        #[test]
        fn headers_round_trip(h in header()) {
            prop_assert_eq!(Header::parse(&h.emit()), Ok(h));
        }

        #[test]
        fn bytes_round_trip(b in proptest::collection::vec(any::<u8>(), 0..120)) {
            match Header::parse(&b) {
                Ok(h) => prop_assert_eq!(&h.emit()[..], &b[..HEADER_LEN]),
                Err(Short) => prop_assert!(b.len() < HEADER_LEN),
            }
        }

        /// Whatever arrives: an answer of 48 bytes to a request at least as long, whose
        /// origin is the request's transmit time, or a refusal; never a panic.
        #[test]
        fn any_datagram_is_answered_no_larger_or_refused(
            b in proptest::collection::vec(any::<u8>(), 0..120),
            rx in timestamp(), tx in timestamp(),
        ) {
            match answer(&b, rx, &ServerInfo::amazon(HOST), || tx) {
                Ok(a) => {
                    prop_assert!(a.len() <= b.len());
                    let q = Header::parse(&b).unwrap();
                    let h = Header::parse(&a).unwrap();
                    prop_assert_eq!(q.mode, Mode::Client);
                    prop_assert_eq!(h.mode, Mode::Server);
                    prop_assert_eq!(h.origin, q.transmit);
                    prop_assert_eq!((h.receive, h.transmit), (rx, tx));
                }
                Err(Refused::Control) => {
                    prop_assert!(b.len() >= HEADER_LEN && b[0] & 7 >= 6);
                }
                Err(_) => {}
            }
        }

        #[test]
        fn unix_times_round_trip(secs in 0u64..(1 << 32) + 0x7fff_ffff - UNIX_OFFSET, nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(Timestamp::from_unix(d).to_unix(), d);
        }
    }
}
