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

// ---------------------------------------------------------------------------------------
// The same on etcd, with several servers: a three-member etcd on loopback, several writer
// processes (each a server's store client, each talking to another member first) writing
// at once and contending for one shared sequence, as servers contend for ids. Writers and
// etcd members are killed with SIGKILL mid-stream, and new writers take their place.
// Every acknowledged transaction must be there whole at its revision, none half-written,
// no number handed out twice and no transaction applied twice (etcd's history shows each
// once).

const ETCD_CHILD_ENV: &str = "FORT_STORE_CRASH_ETCD";
const WRITER_ENV: &str = "FORT_STORE_CRASH_WRITER";
/// Concurrent writers in each writer process.
const TASKS: usize = 2;
const NEXT: &[u8] = b"etcd-crash/next";

fn txn_key(n: u64, part: usize) -> Vec<u8> {
    format!("etcd-crash/txn/{n:012}/{part}").into_bytes()
}

/// The key a writer's `k`-th write records its number under (`writer/task/k`).
fn by_key(tag: &str) -> Vec<u8> {
    format!("etcd-crash/by/{tag}").into_bytes()
}

fn txn_value(n: u64, part: usize, tag: &str) -> Vec<u8> {
    let mut value = format!("{n}:{part}:{tag}:").into_bytes();
    let len = value.len() + (usize::try_from(n).unwrap() * 397 + part * 1013) % 3000;
    value.resize(len, b'a' + (n % 26) as u8);
    value
}

fn parse_u64(kv: Option<&fort_store::KeyValue>) -> u64 {
    kv.map_or(0, |kv| {
        String::from_utf8_lossy(&kv.value).parse().unwrap_or(0)
    })
}

/// One writer process: writes until killed. Does nothing in a normal test run.
#[test]
fn etcd_crash_child() {
    let Ok(url) = std::env::var(ETCD_CHILD_ENV) else {
        return;
    };
    let writer = std::env::var(WRITER_ENV).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = fort_store::EtcdStore::connect(&url).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let store = store.clone();
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut k = 0u64;
                while Instant::now() < deadline {
                    let tag = format!("{writer}/{t}/{k}");
                    if let Some((n, revision)) = write_once(&store, &tag).await {
                        // Printed only once acknowledged; stdout is flushed at each newline.
                        println!("ACK {tag} {n} {revision}");
                        k += 1;
                    } else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Claims the next number of the shared sequence and writes transaction `tag` under it,
/// as a server does: compare-and-write on the sequence's revision. An attempt whose
/// outcome is unknown (an error) or whose compare failed (another writer, or this very
/// attempt sent twice) is looked up by its tag before it is tried again, so a write is
/// made once. `None`: not known to be made yet (try again).
async fn write_once(store: &fort_store::EtcdStore, tag: &str) -> Option<(u64, i64)> {
    let made =
        |kv: Option<fort_store::KeyValue>| kv.map(|kv| (parse_u64(Some(&kv)), kv.mod_revision));
    let next = store.get(NEXT).await.ok()?;
    let n = parse_u64(next.as_ref());
    let mut ops: Vec<Op> = (0..KEYS)
        .map(|part| Op::Put {
            key: txn_key(n, part),
            value: txn_value(n, part, tag),
        })
        .collect();
    ops.push(Op::Put {
        key: by_key(tag),
        value: n.to_string().into_bytes(),
    });
    ops.push(Op::Put {
        key: NEXT.to_vec(),
        value: (n + 1).to_string().into_bytes(),
    });
    let txn = Txn {
        compares: vec![
            fort_store::Compare::ModRevision(
                NEXT.to_vec(),
                next.as_ref().map_or(0, |kv| kv.mod_revision),
            ),
            // an earlier attempt of this write, applied late, wins
            fort_store::Compare::ModRevision(by_key(tag), 0),
        ],
        ops,
    };
    match store.txn(txn).await {
        Ok(r) if r.succeeded => Some((n, r.revision)),
        _ => made(store.get(&by_key(tag)).await.ok()?),
    }
}

/// A three-member etcd cluster on loopback, killed (and its directory removed) on drop.
struct EtcdCluster {
    dir: tempfile::TempDir,
    binary: std::path::PathBuf,
    client: Vec<u16>,
    peer: Vec<u16>,
    members: Vec<Option<Child>>,
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl EtcdCluster {
    /// `None` (the test is skipped, saying so) without etcd installed.
    fn start() -> Option<EtcdCluster> {
        let binary = std::env::var_os("FORT_ETCD")
            .map_or_else(|| "/usr/bin/etcd".into(), std::path::PathBuf::from);
        if !binary.exists() {
            println!(
                "skipping: no etcd at {} (apt-get install etcd-server, or set FORT_ETCD)",
                binary.display()
            );
            return None;
        }
        let mut cluster = EtcdCluster {
            dir: tempfile::tempdir().unwrap(),
            binary,
            client: (0..3).map(|_| free_port()).collect(),
            peer: (0..3).map(|_| free_port()).collect(),
            members: (0..3).map(|_| None).collect(),
        };
        for i in 0..3 {
            cluster.spawn(i, "new");
        }
        Some(cluster)
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let initial: Vec<String> = (0..3)
            .map(|j| format!("m{j}=http://127.0.0.1:{}", self.peer[j]))
            .collect();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("m{i}.log")))
            .unwrap();
        let client = format!("http://127.0.0.1:{}", self.client[i]);
        let peer = format!("http://127.0.0.1:{}", self.peer[i]);
        let child = Command::new(&self.binary)
            .args(["--name", &format!("m{i}"), "--data-dir"])
            .arg(self.dir.path().join(format!("m{i}")))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", state])
            .args(["--heartbeat-interval", "100", "--election-timeout", "1000"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning etcd");
        self.members[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// The endpoints, member `first` first.
    fn url(&self, first: usize) -> String {
        let list: Vec<String> = (0..3)
            .map(|k| format!("127.0.0.1:{}", self.client[(first + k) % 3]))
            .collect();
        format!("etcd://{}", list.join(","))
    }

    fn logs(&self) -> String {
        (0..3)
            .map(|i| {
                std::fs::read_to_string(self.dir.path().join(format!("m{i}.log")))
                    .unwrap_or_default()
            })
            .map(|log| log.lines().rev().take(5).collect::<Vec<_>>().join("\n"))
            .collect::<Vec<_>>()
            .join("\n--\n")
    }
}

/// An acknowledged write: (number, revision).
type Acked = BTreeMap<String, (u64, i64)>;

fn record_ack(line: &str, acked: &mut Acked) -> bool {
    let Some(rest) = line.strip_prefix("ACK ") else {
        return false;
    };
    let mut parts = rest.split(' ');
    let (Some(tag), Some(n), Some(revision)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (n, revision) = (n.parse().unwrap(), revision.parse().unwrap());
    // One tag, one number: a writer never acknowledges a write twice.
    if let Some(before) = acked.insert(tag.to_owned(), (n, revision)) {
        assert_eq!(before, (n, revision), "{tag} acknowledged twice");
    }
    true
}

/// A writer process and the lines it printed (read by a thread).
struct Writer {
    child: KillOnDrop,
    lines: std::sync::mpsc::Receiver<String>,
}

fn spawn_writer(exe: &std::path::Path, url: &str, id: &str, dir: &std::path::Path) -> Writer {
    let stderr = std::fs::File::create(dir.join(format!("{id}.err"))).unwrap();
    let mut child = KillOnDrop(
        Command::new(exe)
            .args([
                "etcd_crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ETCD_CHILD_ENV, url)
            .env(WRITER_ENV, id)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let out = child.0.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Writer { child, lines }
}

/// Takes what the writers printed so far; the count of new acknowledgements.
fn drain(writers: &[Writer], acked: &mut Acked) -> usize {
    let mut new = 0;
    for w in writers {
        while let Ok(line) = w.lines.try_recv() {
            new += usize::from(record_ack(&line, acked));
        }
    }
    new
}

/// Waits until the writers have acknowledged `more` writes (panics after a minute).
fn wait_acks(writers: &[Writer], acked: &mut Acked, more: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while seen < more {
        assert!(
            Instant::now() < deadline,
            "{what}: only {seen} of {more} writes acknowledged"
        );
        seen += drain(writers, acked);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_on_etcd_with_several_writers() {
    let Some(mut etcd) = EtcdCluster::start() else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match fort_store::EtcdStore::connect(&etcd.url(0)).await {
                Ok(s) if s.revision().await.is_ok() => break s,
                _ if Instant::now() > deadline => panic!("etcd did not start:\n{}", etcd.logs()),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    let start = runtime.block_on(store.revision()).unwrap();
    let mut acked = Acked::new();
    // Three writers, each on another member first.
    let mut next_id = 0;
    let mut writers: Vec<Writer> = (0..3)
        .map(|i| {
            next_id += 1;
            spawn_writer(&exe, &etcd.url(i), &format!("w{next_id}"), dir.path())
        })
        .collect();
    wait_acks(&writers, &mut acked, 100, "before any kill");
    for round in 0..3 {
        // A writer killed mid-stream, and a new one in its place.
        let victim = round % writers.len();
        drain(&writers, &mut acked);
        let mut dead = writers.remove(victim);
        dead.child.0.kill().unwrap(); // SIGKILL
        dead.child.0.wait().unwrap();
        // What it printed before the kill was acknowledged too.
        while let Ok(line) = dead.lines.recv_timeout(Duration::from_secs(1)) {
            record_ack(&line, &mut acked);
        }
        next_id += 1;
        writers.push(spawn_writer(
            &exe,
            &etcd.url(round),
            &format!("w{next_id}"),
            dir.path(),
        ));
        wait_acks(&writers, &mut acked, 60, "after a writer's kill");
        // An etcd member killed under the writers (its clients move to the others),
        // brought back on its data.
        let member = (round + 1) % 3;
        etcd.kill(member);
        wait_acks(&writers, &mut acked, 60, "with a member down");
        etcd.spawn(member, "existing");
        wait_acks(&writers, &mut acked, 60, "after the member came back");
    }
    for mut w in writers {
        w.child.0.kill().unwrap();
        w.child.0.wait().unwrap();
        while let Ok(line) = w.lines.recv_timeout(Duration::from_secs(1)) {
            record_ack(&line, &mut acked);
        }
    }
    runtime.block_on(verify_etcd(&store, &acked, start));
}

async fn verify_etcd(store: &fort_store::EtcdStore, acked: &Acked, start: i64) {
    let next = parse_u64(store.get(NEXT).await.unwrap().as_ref());
    // Every number handed out was written whole, once, by one write.
    let txns = store.range(b"etcd-crash/txn/").await.unwrap();
    let mut by_number: BTreeMap<u64, Vec<&fort_store::KeyValue>> = BTreeMap::new();
    for kv in &txns.kvs {
        let key = String::from_utf8(kv.key.clone()).unwrap();
        let n: u64 = key.split('/').nth(2).unwrap().parse().unwrap();
        by_number.entry(n).or_default().push(kv);
    }
    assert_eq!(
        by_number.keys().copied().collect::<Vec<_>>(),
        (0..next).collect::<Vec<_>>(),
        "the numbers written are not exactly 0..{next}"
    );
    let mut tags = BTreeMap::new();
    for (n, kvs) in &by_number {
        assert_eq!(kvs.len(), KEYS, "transaction {n} half-written");
        let tag = String::from_utf8_lossy(&kvs[0].value)
            .split(':')
            .nth(2)
            .unwrap()
            .to_owned();
        for (part, kv) in kvs.iter().enumerate() {
            assert_eq!(
                kv.value,
                txn_value(*n, part, &tag),
                "transaction {n} part {part}"
            );
            assert_eq!(kv.mod_revision, kvs[0].mod_revision, "transaction {n} torn");
            // written once: a second write of the number would show as version 2
            assert_eq!(kv.version, 1, "number {n} written twice");
        }
        assert!(
            tags.insert(tag.clone(), (*n, kvs[0].mod_revision))
                .is_none(),
            "write {tag} made twice"
        );
    }
    // Each write's record names its number, and each number its write.
    let by = store.range(b"etcd-crash/by/").await.unwrap();
    assert_eq!(by.kvs.len(), tags.len());
    for kv in &by.kvs {
        let tag = String::from_utf8(kv.key["etcd-crash/by/".len()..].to_vec()).unwrap();
        assert_eq!(kv.version, 1, "{tag} recorded twice");
        assert_eq!(
            Some(&(parse_u64(Some(kv)), kv.mod_revision)),
            tags.get(&tag)
        );
    }
    // Every acknowledged write is there, at its number and revision.
    for (tag, at) in acked {
        assert_eq!(tags.get(tag), Some(at), "acknowledged {tag} lost or moved");
    }
    // etcd's history: each revision since the start is one whole transaction.
    let mut watch = store.watch(b"etcd-crash/", start + 1).await.unwrap();
    let revision = store.revision().await.unwrap();
    let mut seen = BTreeMap::<i64, usize>::new();
    // every event up to the last revision, then nothing more for a while
    loop {
        let wait = if seen.get(&revision).is_some_and(|n| *n >= KEYS + 2) {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(20)
        };
        let Ok(event) = tokio::time::timeout(wait, watch.recv()).await else {
            break;
        };
        let Event::Put(kv) = event.unwrap().unwrap() else {
            panic!("only puts")
        };
        *seen.entry(kv.mod_revision).or_default() += 1;
    }
    assert_eq!(
        seen.keys().last(),
        Some(&revision),
        "the history ended early"
    );
    assert_eq!(
        seen.len(),
        tags.len(),
        "revisions that are not one write each"
    );
    for (r, n) in &seen {
        assert_eq!(*n, KEYS + 2, "revision {r} is not one whole write");
    }
    println!(
        "etcd: {} writes acknowledged, {} made (the rest unacknowledged when their writer died), {} revisions",
        acked.len(),
        tags.len(),
        seen.len()
    );
}
