//! Starts a real etcd for a test (the etcd backends' tests of Logs, S3…) (`/usr/bin/etcd`, Debian's etcd-server, or `$FORT_ETCD`)
//! on free loopback ports with a temporary data directory, killed when dropped. Without
//! etcd installed, tests say so and pass.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::EtcdStore;
use tempfile::TempDir;

/// A running etcd, killed (and its data directory removed) when dropped, also when the
/// test panics.
pub struct Etcd {
    child: Child,
    /// The client address, `127.0.0.1:PORT`.
    pub addr: String,
    dir: TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    /// Starts etcd and waits until it answers; `None` if etcd is not installed.
    pub async fn start() -> Option<(Etcd, EtcdStore)> {
        let binary =
            std::env::var_os("FORT_ETCD").map_or_else(|| "/usr/bin/etcd".into(), PathBuf::from);
        if !binary.exists() {
            eprintln!(
                "skipping: no etcd at {} (apt-get install etcd-server, or set FORT_ETCD)",
                binary.display()
            );
            return None;
        }
        // A port found free may be taken again before etcd binds it: try a few times.
        for _ in 0..3 {
            let (client, peer) = (free_port(), free_port());
            let dir = tempfile::tempdir().unwrap();
            let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let child = Command::new(&binary)
                .args(["--name", "test", "--data-dir"])
                .arg(dir.path().join("data"))
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &format!("test={peer_url}")])
                .args(["--logger", "zap", "--log-outputs", "stderr"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawning etcd");
            let mut etcd = Etcd {
                child,
                addr: format!("127.0.0.1:{client}"),
                dir,
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(store) = EtcdStore::connect(&format!("etcd://{}", etcd.addr)).await {
                    return Some((etcd, store));
                }
                if etcd.child.try_wait().unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!(
                "etcd did not start:\n{}",
                std::fs::read_to_string(etcd.dir.path().join("etcd.log")).unwrap_or_default()
            );
        }
        panic!("could not start etcd");
    }

    /// The store URL of this etcd, for [`EtcdStore::connect`].
    pub fn url(&self) -> String {
        format!("etcd://{}", self.addr)
    }
}

/// Starts etcd for one test, or skips the test (returns) without it.
#[macro_export]
macro_rules! etcd {
    () => {
        match $crate::testing::Etcd::start().await {
            Some(started) => started,
            None => return,
        }
    };
}
