//! Logs on etcd: several servers (several [`Logs`] on one etcd) serve the same log groups,
//! streams and events; a server that starts (or restarts on an empty disk) rebuilds
//! everything from etcd; the byte quota answers LimitExceededException.

use std::collections::BTreeMap;
use std::sync::Arc;

use fort_logs::{FilterQuery, GetQuery, LogEvent, Logs, StreamOrder};
use fort_store::Store;

const A: &str = "111122223333";
const R: &str = "us-east-1";

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Runs blocking store calls off the async workers, as the servers do.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn all_events(logs: &Logs, stream: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut q = GetQuery {
        from_head: true,
        limit: 10_000,
        ..GetQuery::default()
    };
    loop {
        let page = logs.get_log_events(A, R, "g", stream, &q, now()).unwrap();
        if page.events.is_empty() {
            return out;
        }
        out.extend(page.events.into_iter().map(|e| (e.timestamp, e.message)));
        q.token = Some(Ok(page.next_forward));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_share_groups_streams_and_events() {
    let (_etcd, store) = fort_store::etcd!();
    let store: Arc<dyn Store> = Arc::new(store);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = Logs::open_shared(dirs[0].path(), store.clone(), 1 << 30)
        .await
        .unwrap();
    let b = Logs::open_shared(dirs[1].path(), store.clone(), 1 << 30)
        .await
        .unwrap();

    let t0 = now() - 60_000;
    // a batch of 1000 events of 300 bytes: well over one inline entry, stored in chunks
    let big: Vec<LogEvent> = (0..1000)
        .map(|i| LogEvent {
            timestamp: t0 + i,
            message: format!("{i:04} {}", "x".repeat(295)),
        })
        .collect();
    let expected: Vec<(i64, String)> = big
        .iter()
        .map(|e| (e.timestamp, e.message.clone()))
        .collect();
    let (a2, b2) = (a.clone(), b.clone());
    blocking(move || {
        a2.create_group(A, R, "g", None, None, BTreeMap::new())
            .unwrap();
        // the stream is created through the other server, right after
        b2.create_stream(A, R, "g", "s").unwrap();
        let out = a2.put_log_events(A, R, "g", "s", &big, now()).unwrap();
        assert_eq!(out.next_sequence_token, "2");
        // a second writer through b, and Fort's own delivery through a
        b2.put_log_events(
            A,
            R,
            "g",
            "s",
            &[LogEvent {
                timestamp: t0 + 5000,
                message: "from b".into(),
            }],
            now(),
        )
        .unwrap();
        a2.put_events(
            A,
            R,
            "g",
            "flow",
            &[LogEvent {
                timestamp: t0,
                message: "delivered".into(),
            }],
        )
        .unwrap();
        // a refusal answers the same through either server
        let again = b2
            .create_group(A, R, "g", None, None, BTreeMap::new())
            .unwrap_err();
        assert_eq!(again.code(), "ResourceAlreadyExistsException");
    })
    .await;

    let mut expected_s = expected.clone();
    expected_s.push((t0 + 5000, "from b".into()));
    for logs in [a.clone(), b.clone()] {
        let want = expected_s.clone();
        blocking(move || {
            assert_eq!(all_events(&logs, "s"), want);
            assert_eq!(
                all_events(&logs, "flow"),
                vec![(t0, "delivered".to_owned())]
            );
            let page = logs
                .describe_streams(A, R, "g", "", StreamOrder::LogStreamName, false, 0, 50)
                .unwrap();
            let names: Vec<_> = page.streams.iter().map(|s| s.name.clone()).collect();
            assert_eq!(names, ["flow", "s"]);
            let q = FilterQuery {
                pattern: Some(fort_logs::Pattern::parse("\"from b\"").unwrap()),
                limit: 100,
                ..FilterQuery::default()
            };
            let found = logs.filter_log_events(A, R, "g", &q, now()).unwrap();
            assert_eq!(found.events.len(), 1);
            assert_eq!(found.events[0].stream, "s");
        })
        .await;
    }
    // both copies agree on the event ids (the sequence numbers), so a follower of
    // `aws logs tail` switching servers sees no duplicate
    let (a2, b2) = (a.clone(), b.clone());
    blocking(move || {
        let q = FilterQuery {
            limit: 5000,
            ..FilterQuery::default()
        };
        let ids = |l: &Logs| -> Vec<String> {
            l.filter_log_events(A, R, "g", &q, now())
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.event_id)
                .collect()
        };
        assert_eq!(ids(&a2), ids(&b2));
        assert_eq!(ids(&a2).len(), 1002);
    })
    .await;

    // a server starting on an empty disk rebuilds everything from etcd
    let dir = tempfile::tempdir().unwrap();
    let c = Logs::open_shared(dir.path(), store.clone(), 1 << 30)
        .await
        .unwrap();
    let want = expected_s.clone();
    blocking(move || assert_eq!(all_events(&c, "s"), want)).await;
    // and so does a server restarting on its old directory
    drop(a);
    let a = Logs::open_shared(dirs[0].path(), store.clone(), 1 << 30)
        .await
        .unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    blocking(move || {
        assert_eq!(all_events(&a2, "s"), expected_s);
        b2.delete_group(A, R, "g").unwrap();
        assert_eq!(
            a2.group(A, R, "g").unwrap_err().code(),
            "ResourceNotFoundException"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_answers_limit_exceeded() {
    let (_etcd, store) = fort_store::etcd!();
    let store: Arc<dyn Store> = Arc::new(store);
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open_shared(dir.path(), store, 20_000).await.unwrap();
    blocking(move || {
        logs.create_group(A, R, "g", None, None, BTreeMap::new())
            .unwrap();
        logs.create_stream(A, R, "g", "s").unwrap();
        let batch = |i: i64| {
            vec![LogEvent {
                timestamp: now() - 1000 + i,
                message: "y".repeat(4000),
            }]
        };
        let mut stored = 0;
        let err = loop {
            match logs.put_log_events(A, R, "g", "s", &batch(stored), now()) {
                Ok(_) => stored += 1,
                Err(e) => break e,
            }
            assert!(stored < 10, "the quota never applied");
        };
        assert_eq!(err.code(), "LimitExceededException");
        assert!(stored >= 3, "only {stored} batches fit");
        // what was acknowledged stays readable
        assert_eq!(
            all_events(&logs, "s").len(),
            usize::try_from(stored).unwrap()
        );
    })
    .await;
}

/// Keys under `prefix` in the store once they number `want` (every server deletes what
/// it retired just after applying), or after 5 s.
async fn keys_in_store(store: &Arc<dyn Store>, prefix: &str, want: usize) -> usize {
    let mut n = 0;
    for _ in 0..250 {
        n = store.range(prefix.as_bytes()).await.unwrap().kvs.len();
        if n == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    n
}

fn stream_names(logs: &Logs) -> Vec<String> {
    logs.describe_streams(A, R, "g", "", StreamOrder::LogStreamName, false, 0, 50)
        .unwrap()
        .streams
        .into_iter()
        .map(|s| s.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_streams_and_groups_leave_the_store() {
    let (_etcd, store) = fort_store::etcd!();
    let store: Arc<dyn Store> = Arc::new(store);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = Logs::open_shared(dirs[0].path(), store.clone(), 1 << 30)
        .await
        .unwrap();
    let b = Logs::open_shared(dirs[1].path(), store.clone(), 1 << 30)
        .await
        .unwrap();
    let events = |n: i64| -> Vec<LogEvent> {
        (0..n)
            .map(|i| LogEvent {
                timestamp: now() - 1000 + i,
                message: format!("{i} {}", "y".repeat(200)),
            })
            .collect()
    };
    let (a2, b2) = (a.clone(), b.clone());
    blocking(move || {
        a2.create_group(A, R, "g", None, None, BTreeMap::new())
            .unwrap();
        b2.put_retention(A, R, "g", 7).unwrap();
        for s in ["keep", "drop"] {
            b2.create_stream(A, R, "g", s).unwrap();
            for _ in 0..3 {
                // 400 events of ~200 bytes: over one inline entry, in chunks
                a2.put_log_events(A, R, "g", s, &events(400), now())
                    .unwrap();
            }
        }
        // failed writes retire at once
        assert!(a2.create_stream(A, R, "g", "keep").is_err());
        b2.delete_stream(A, R, "g", "drop").unwrap();
        assert_eq!(stream_names(&a2), ["keep"]);
    })
    .await;
    // left: the group, its retention, the kept stream and its three batches
    assert_eq!(keys_in_store(&store, "/fort/logs/op/", 6).await, 6);
    // both servers up to date (a read waits for that), then they count the same bytes
    let (a2, b2) = (a.clone(), b.clone());
    blocking(move || (stream_names(&a2), stream_names(&b2))).await;
    assert_eq!(a.used_bytes(), b.used_bytes());
    // a server starting now rebuilds the same from what is left
    let dir = tempfile::tempdir().unwrap();
    let c = Logs::open_shared(dir.path(), store.clone(), 1 << 30)
        .await
        .unwrap();
    let c2 = c.clone();
    blocking(move || {
        assert_eq!(stream_names(&c2), ["keep"]);
        assert_eq!(all_events(&c2, "keep").len(), 1200);
        c2.delete_group(A, R, "g").unwrap();
    })
    .await;
    assert_eq!(keys_in_store(&store, "/fort/logs/op/", 0).await, 0);
    assert_eq!(keys_in_store(&store, "/fort/logs/blob/", 0).await, 0);
    let b2 = b.clone();
    blocking(move || {
        b2.describe_groups(A, R, "", None, None, None, 50)
            .map(|_| ())
    })
    .await
    .unwrap();
    assert_eq!(b.used_bytes(), 0);
    drop((a, b, c));
}
