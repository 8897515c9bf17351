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
