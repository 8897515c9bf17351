//! Crash test: a child process (this test binary, re-executed) commits a stream of
//! transactions and prints each acknowledged one; the parent kills it with SIGKILL in the
//! middle, reopens the file, and checks that every acknowledged transaction is there and that
//! none is half-written. Several rounds on the same file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fort_store::{EmbeddedStore, Event, Op, Store, Txn};

const CHILD_ENV: &str = "FORT_STORE_CRASH_CHILD";
const START_ENV: &str = "FORT_STORE_CRASH_START";
/// Keys per transaction: after a crash, a transaction's keys are all there or none is.
const KEYS: usize = 4;
const WRITERS: u64 = 4;

fn key(id: u64, part: usize) -> Vec<u8> {
    format!("crash/{id:012}/{part}").into_bytes()
}

fn value(id: u64, part: usize) -> Vec<u8> {
    // Sizes vary from a few bytes to several pages, so commits touch many pages.
    let len = 8 + (usize::try_from(id).unwrap() * 397 + part * 1013) % 6000;
    let mut value = format!("{id}:{part}:").into_bytes();
    value.resize(len, b'a' + (id % 26) as u8);
    value
}

/// Kills the child if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child: writes until killed. Does nothing in a normal test run.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = Arc::new(EmbeddedStore::open(path.as_ref()).unwrap());
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut k = 0;
                while Instant::now() < deadline {
                    let id = start + w * 100_000 + k;
                    k += 1;
                    let txn = Txn {
                        compares: vec![],
                        ops: (0..KEYS)
                            .map(|part| Op::Put {
                                key: key(id, part),
                                value: value(id, part),
                            })
                            .collect(),
                    };
                    let result = store.txn(txn).await.unwrap();
                    // Printed only once acknowledged; stdout is flushed at each newline.
                    println!("ACK {id} {}", result.revision);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<u64, i64> = BTreeMap::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    for round in 0..5u64 {
        let stderr = std::fs::File::create(dir.path().join(format!("child{round}.err"))).unwrap();
        let mut child = KillOnDrop(
            Command::new(&exe)
                .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, &path)
                .env(START_ENV, (round * 1_000_000).to_string())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        );
        let kill_after = 150 + usize::try_from(round).unwrap() * 211;
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        let mut seen = 0;
        let mut record = |line: &str| {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (id, revision) = rest.split_once(' ').unwrap();
                acked.insert(id.parse().unwrap(), revision.parse().unwrap());
                true
            } else {
                false
            }
        };
        while seen < kill_after {
            let Some(line) = lines.next() else {
                let err = std::fs::read_to_string(dir.path().join(format!("child{round}.err")));
                panic!("child ended early after {seen} acks: {err:?}");
            };
            if record(&line.unwrap()) {
                seen += 1;
            }
        }
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        // What was printed before the kill was acknowledged too.
        for line in lines {
            let Ok(line) = line else { break };
            record(&line);
        }

        runtime.block_on(verify(&path, &acked, round));
    }
}

async fn verify(path: &std::path::Path, acked: &BTreeMap<u64, i64>, round: u64) {
    let store = EmbeddedStore::open(path).unwrap();
    let revision = store.revision().await.unwrap();
    let max_acked = acked.values().copied().max().unwrap();
    assert!(
        revision >= max_acked,
        "revision {revision} < acked {max_acked}"
    );

    // Every acknowledged transaction is there, whole, at its revision.
    for (&id, &rev) in acked {
        for part in 0..KEYS {
            let kv = store
                .get(&key(id, part))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acked txn {id} lost key {part}"));
            assert_eq!(kv.value, value(id, part));
            assert_eq!(kv.mod_revision, rev);
        }
    }

    // No transaction is half there, acknowledged or not.
    let range = store.range(b"crash/").await.unwrap();
    let mut by_id: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for kv in &range.kvs {
        let key = String::from_utf8(kv.key.clone()).unwrap();
        let id = key.split('/').nth(1).unwrap().to_string();
        assert_eq!(
            kv.value,
            value(
                id.parse().unwrap(),
                kv.key.last().map(|b| (b - b'0') as usize).unwrap()
            )
        );
        by_id.entry(id).or_default().push(kv.mod_revision);
    }
    for (id, revisions) in &by_id {
        assert_eq!(
            revisions.len(),
            KEYS,
            "round {round}: txn {id} half-written"
        );
        assert!(revisions.iter().all(|r| *r == revisions[0]));
    }
    // One transaction per revision, and the change log agrees with the keys.
    assert_eq!(by_id.len() as i64, revision);
    let mut watch = store.watch(b"", 1).await.unwrap();
    let mut logged = 0;
    for want in 1..=revision {
        for _ in 0..KEYS {
            let event = tokio::time::timeout(Duration::from_secs(20), watch.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let Event::Put(kv) = event else {
                panic!("only puts")
            };
            assert_eq!(kv.mod_revision, want);
            logged += 1;
        }
    }
    assert_eq!(logged, range.kvs.len());
    println!(
        "round {round}: {} acknowledged so far, {} transactions on disk, revision {revision}",
        acked.len(),
        by_id.len()
    );
    store.close().await.unwrap();
}
