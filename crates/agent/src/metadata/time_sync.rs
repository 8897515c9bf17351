//! The Amazon Time Sync Service: NTP at 169.254.169.123 and `fd00:ec2::123`, UDP 123,
//! answered from the host's clock by sockets in the link-local services' namespace
//! (frames reach them as the resolver's do: [`super::nat`]). What is answered and what
//! is refused is [`super::ntp`]'s; this module reads the clock, moves the datagrams and
//! counts them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::ntp::{self, Refused, ServerInfo, Timestamp};

/// The service's addresses and port.
pub const ADDRESSES: [SocketAddr; 2] = [
    SocketAddr::new(std::net::IpAddr::V4(TIME_SYNC_IP), 123),
    SocketAddr::new(std::net::IpAddr::V6(TIME_SYNC_IP6), 123),
];
/// Amazon's IPv4 address for the service.
pub const TIME_SYNC_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 169, 123);
/// Nitro's IPv6 address for it.
pub const TIME_SYNC_IP6: std::net::Ipv6Addr = fort_dataplane::route::TIME_SYNC6;

/// Requests answered and refused (by [`Refused`]), for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub answered: AtomicU64,
    refused: [AtomicU64; Refused::ALL.len()],
}

impl Stats {
    fn refused(&self, r: Refused) -> &AtomicU64 {
        &self.refused[r as usize]
    }

    /// The requests refused for `r`.
    pub fn refused_for(&self, r: Refused) -> u64 {
        self.refused(r).load(Ordering::Relaxed)
    }

    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

fn now() -> Timestamp {
    Timestamp::from_system(SystemTime::now())
}

/// Answers on `socket` until the task is dropped.
pub async fn serve(socket: tokio::net::UdpSocket, info: ServerInfo, stats: Arc<Stats>) {
    // room for a header with extension fields or a MAC; longer requests are cut, and
    // only their header is read
    let mut buf = [0u8; 1024];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "time sync receive failed");
                continue;
            }
        };
        let received = now();
        match ntp::answer(&buf[..n], received, &info, now) {
            Ok(a) => {
                if let Err(e) = socket.send_to(&a, peer).await {
                    tracing::debug!(error = %e, %peer, "time sync answer not sent");
                } else {
                    stats.answered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(r) => {
                stats.refused(r).fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A request over a real socket on loopback: answered with the origin echoed and
    /// the host's time; a control query gets nothing and is counted.
    #[tokio::test]
    async fn answers_over_udp_and_counts_refusals() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(serve(
            server,
            ServerInfo::amazon(std::net::Ipv4Addr::new(127, 0, 0, 1)),
            stats.clone(),
        ));
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sent = now();
        let mut q = [0u8; 48];
        q[0] = 0x23;
        q[40..44].copy_from_slice(&sent.seconds.to_be_bytes());
        q[44..48].copy_from_slice(&sent.fraction.to_be_bytes());
        client.send_to(&q, addr).await.unwrap();
        let mut a = [0u8; 100];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut a))
            .await
            .unwrap()
            .unwrap();
        let back = now();
        assert_eq!(n, 48);
        let h = ntp::Header::parse(&a[..n]).unwrap();
        assert_eq!((h.mode, h.stratum, h.version), (ntp::Mode::Server, 3, 4));
        assert_eq!(h.origin, sent);
        assert!(sent <= h.receive && h.receive <= h.transmit && h.transmit <= back);

        let mut control = q;
        control[0] = 0x26;
        client.send_to(&control, addr).await.unwrap();
        client.send_to(&q[..20], addr).await.unwrap();
        let silent =
            tokio::time::timeout(Duration::from_millis(300), client.recv_from(&mut a)).await;
        assert!(
            silent.is_err(),
            "no answer to a control query or a short one"
        );
        assert_eq!(stats.answered(), 1);
        assert_eq!(stats.refused_for(Refused::Control), 1);
        assert_eq!(stats.refused_for(Refused::Malformed), 1);
        task.abort();
    }
}
