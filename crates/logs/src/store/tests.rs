use super::*;

const A: &str = "123456789012";
const R: &str = "us-east-1";

fn open() -> (tempfile::TempDir, Arc<Logs>) {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::open(dir.path()).unwrap();
    (dir, logs)
}

fn ev(timestamp: i64, message: &str) -> LogEvent {
    LogEvent {
        timestamp,
        message: message.into(),
    }
}

fn get(logs: &Logs, stream: &str, q: &GetQuery) -> GetPage {
    logs.get_log_events(A, R, "g", stream, q, now_ms()).unwrap()
}

#[test]
fn groups_are_per_account_and_region_and_page_by_name() {
    let (_d, logs) = open();
    for n in ["b", "a", "c/x", "c/y"] {
        logs.create_group(A, R, n, None, None, BTreeMap::new())
            .unwrap();
    }
    logs.create_group("999999999999", R, "z", None, None, BTreeMap::new())
        .unwrap();
    logs.create_group(A, "eu-west-1", "y", None, None, BTreeMap::new())
        .unwrap();
    assert!(matches!(
        logs.create_group(A, R, "a", None, None, BTreeMap::new()),
        Err(LogsError::ResourceAlreadyExists(_))
    ));
    assert!(matches!(
        logs.create_group(A, R, "bad name", None, None, BTreeMap::new()),
        Err(LogsError::InvalidParameter(_))
    ));
    let (all, next) = logs
        .describe_groups(A, R, "", None, None, None, 50)
        .unwrap();
    let names: Vec<_> = all.iter().map(|g| g.name.as_str()).collect();
    assert_eq!((names, next), (vec!["a", "b", "c/x", "c/y"], None));
    assert_eq!(all[0].arn, format!("arn:aws:logs:{R}:{A}:log-group:a:*"));
    let (page, next) = logs.describe_groups(A, R, "", None, None, None, 2).unwrap();
    assert_eq!(page.len(), 2);
    let (rest, end) = logs
        .describe_groups(A, R, "", None, None, next.as_deref(), 2)
        .unwrap();
    assert_eq!(rest[0].name, "c/x");
    assert_eq!(end, None);
    let (c, _) = logs
        .describe_groups(A, R, "c/", None, None, None, 50)
        .unwrap();
    assert_eq!(c.len(), 2);
    let (y, _) = logs
        .describe_groups(A, R, "", Some("Y"), None, None, 50)
        .unwrap();
    assert_eq!(y.len(), 1);
    logs.create_group_if_missing(A, R, "a").unwrap();
    logs.delete_group(A, R, "a").unwrap();
    assert!(matches!(
        logs.delete_group(A, R, "a"),
        Err(LogsError::ResourceNotFound(_))
    ));
}

#[test]
fn get_log_events_pages_both_ways_and_ends_on_the_same_token() {
    let (_d, logs) = open();
    logs.create_group(A, R, "g", None, None, BTreeMap::new())
        .unwrap();
    logs.create_stream(A, R, "g", "s").unwrap();
    assert!(matches!(
        logs.create_stream(A, R, "g", "s"),
        Err(LogsError::ResourceAlreadyExists(_))
    ));
    let t0 = now_ms() - 60_000;
    let batch: Vec<LogEvent> = (0..10).map(|i| ev(t0 + i, &format!("e{i}"))).collect();
    let out = logs
        .put_log_events(A, R, "g", "s", &batch, now_ms())
        .unwrap();
    assert!(out.rejected.is_empty());

    // from the tail: the last `limit` events, in time order
    let tail = get(
        &logs,
        "s",
        &GetQuery {
            limit: 3,
            ..Default::default()
        },
    );
    let msgs: Vec<_> = tail.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(msgs, ["e7", "e8", "e9"]);
    let back = get(
        &logs,
        "s",
        &GetQuery {
            limit: 3,
            token: Some(Err(tail.next_backward)),
            ..Default::default()
        },
    );
    let msgs: Vec<_> = back.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(msgs, ["e4", "e5", "e6"]);

    // from the head, forward until the same token comes back
    let mut token = None;
    let mut seen = Vec::new();
    loop {
        let page = get(
            &logs,
            "s",
            &GetQuery {
                limit: 4,
                from_head: true,
                token: token.map(Ok),
                ..Default::default()
            },
        );
        seen.extend(page.events.iter().map(|e| e.message.clone()));
        if token == Some(page.next_forward) {
            break;
        }
        token = Some(page.next_forward);
    }
    assert_eq!(seen.len(), 10);
    // a later event appears on the last forward token
    logs.put_events(A, R, "g", "s", &[ev(t0 + 100, "late")])
        .unwrap();
    let more = get(
        &logs,
        "s",
        &GetQuery {
            limit: 4,
            token: token.map(Ok),
            ..Default::default()
        },
    );
    assert_eq!(more.events.len(), 1);
    // a time window: start inclusive, end exclusive
    let window = get(
        &logs,
        "s",
        &GetQuery {
            start: Some(t0 + 2),
            end: Some(t0 + 4),
            limit: 100,
            from_head: true,
            ..Default::default()
        },
    );
    assert_eq!(window.events.len(), 2);
    let stream = &logs
        .describe_streams(A, R, "g", "", StreamOrder::LogStreamName, false, 0, 50)
        .unwrap()
        .streams[0];
    assert_eq!(stream.first_event_timestamp, Some(t0));
    assert_eq!(stream.last_event_timestamp, Some(t0 + 100));
    assert_eq!(stream.stored_bytes, 10 * (2 + 26) + 4 + 26);
}

#[test]
fn filter_merges_streams_in_time_order_and_pages() {
    let (_d, logs) = open();
    logs.create_group_if_missing(A, R, "g").unwrap();
    let t0 = now_ms() - 60_000;
    for (s, off) in [("eni-a", 0), ("eni-b", 1), ("other", 2)] {
        let events: Vec<LogEvent> = (0..5)
            .map(|i| {
                ev(
                    t0 + i * 3 + off,
                    &format!("{s} {} {}", i, if i % 2 == 0 { "ACCEPT" } else { "REJECT" }),
                )
            })
            .collect();
        logs.put_events(A, R, "g", s, &events).unwrap();
    }
    let q = FilterQuery {
        limit: 100,
        ..Default::default()
    };
    let all = logs.filter_log_events(A, R, "g", &q, now_ms()).unwrap();
    assert_eq!(all.events.len(), 15);
    assert!(
        all.events
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp)
    );
    assert_eq!(all.next, None);
    let q = FilterQuery {
        streams: StreamSelection::Prefix("eni-".into()),
        pattern: Some(Pattern::parse("REJECT").unwrap()),
        limit: 100,
        ..Default::default()
    };
    let rejects = logs.filter_log_events(A, R, "g", &q, now_ms()).unwrap();
    assert_eq!(rejects.events.len(), 4);
    assert!(rejects.events.iter().all(|e| e.stream.starts_with("eni-")));
    // pages of 4 with tokens see every event once
    let mut after = None;
    let mut ids = Vec::new();
    loop {
        let q = FilterQuery {
            streams: StreamSelection::Names(vec!["eni-a".into(), "other".into(), "nope".into()]),
            limit: 4,
            after,
            ..Default::default()
        };
        let page = logs.filter_log_events(A, R, "g", &q, now_ms()).unwrap();
        ids.extend(page.events.iter().map(|e| e.event_id.clone()));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(ids.len(), 10);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    // a time window: both ends inclusive
    let q = FilterQuery {
        start: Some(t0),
        end: Some(t0 + 2),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        logs.filter_log_events(A, R, "g", &q, now_ms())
            .unwrap()
            .events
            .len(),
        3
    );
}

#[test]
fn events_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now_ms() - 1000;
    {
        let logs = Logs::open(dir.path()).unwrap();
        logs.create_group_if_missing(A, R, "g").unwrap();
        logs.put_events(A, R, "g", "s", &[ev(t0, "kept"), ev(t0 + 1, "too")])
            .unwrap();
        logs.tag_group(A, R, "g", BTreeMap::from([("k".into(), "v".into())]))
            .unwrap();
        // the sweeper holds a weak reference only: dropping the handle closes the file
        drop(logs);
    }
    let logs = loop {
        match Logs::open(dir.path()) {
            Ok(l) => break l,
            // the old sweeper may hold its handle for an instant
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let page = get(
        &logs,
        "s",
        &GetQuery {
            limit: 10,
            from_head: true,
            ..Default::default()
        },
    );
    assert_eq!(page.events.len(), 2);
    assert_eq!(logs.tags(A, R, "g").unwrap().get("k").unwrap(), "v");
    // ids keep growing after a restart: a new event sorts after the old ones
    logs.put_events(A, R, "g", "s", &[ev(t0 + 1, "third")])
        .unwrap();
    let page = get(
        &logs,
        "s",
        &GetQuery {
            limit: 10,
            from_head: true,
            ..Default::default()
        },
    );
    assert_eq!(page.events[2].message, "third");
}

#[test]
fn retention_deletes_old_events_and_their_bytes() {
    let (_d, logs) = open();
    logs.create_group_if_missing(A, R, "g").unwrap();
    let now = now_ms();
    logs.put_events(
        A,
        R,
        "g",
        "s",
        &[ev(now - 3 * DAY_MS, "old"), ev(now - 1000, "new")],
    )
    .unwrap();
    assert_eq!(logs.group(A, R, "g").unwrap().stored_bytes, 2 * 29);
    logs.put_retention(A, R, "g", 1).unwrap();
    assert!(logs.put_retention(A, R, "g", 2).is_err());
    let g = logs.group(A, R, "g").unwrap();
    assert_eq!((g.retention_days, g.stored_bytes), (Some(1), 29));
    let page = get(
        &logs,
        "s",
        &GetQuery {
            limit: 10,
            from_head: true,
            ..Default::default()
        },
    );
    assert_eq!(page.events.len(), 1);
    // PutLogEvents reports events older than the retention as expired
    let out = logs
        .put_log_events(
            A,
            R,
            "g",
            "s",
            &[ev(now - DAY_MS - 5, "x"), ev(now - 10, "y")],
            now,
        )
        .unwrap();
    assert_eq!(out.rejected.expired_end, Some(0));
    logs.delete_retention(A, R, "g").unwrap();
    assert_eq!(logs.group(A, R, "g").unwrap().retention_days, None);
    logs.sweep_expired(now + 10 * DAY_MS).unwrap();
}

#[test]
fn deleting_frees_everything_and_missing_things_are_not_found() {
    let (_d, logs) = open();
    assert!(matches!(
        logs.put_events(A, R, "gone", "s", &[ev(1, "x")]),
        Err(LogsError::ResourceNotFound(_))
    ));
    logs.create_group_if_missing(A, R, "g").unwrap();
    assert!(matches!(
        logs.put_log_events(A, R, "g", "nope", &[ev(now_ms(), "x")], now_ms()),
        Err(LogsError::ResourceNotFound(_))
    ));
    logs.put_events(A, R, "g", "s", &[ev(now_ms(), "x")])
        .unwrap();
    logs.delete_stream(A, R, "g", "s").unwrap();
    assert_eq!(logs.group(A, R, "g").unwrap().stored_bytes, 0);
    logs.put_events(A, R, "g", "s", &[ev(now_ms(), "x")])
        .unwrap();
    logs.delete_group(A, R, "g").unwrap();
    logs.create_group_if_missing(A, R, "g").unwrap();
    let page = logs
        .filter_log_events(
            A,
            R,
            "g",
            &FilterQuery {
                limit: 10,
                ..Default::default()
            },
            now_ms(),
        )
        .unwrap();
    assert!(page.events.is_empty());
    let mut m = String::new();
    logs.render_metrics(&mut m);
    assert!(m.contains("fort_logs_events_written_total 2"), "{m}");
}

#[test]
fn streams_order_by_last_event_time() {
    let (_d, logs) = open();
    logs.create_group_if_missing(A, R, "g").unwrap();
    let t = now_ms() - 10_000;
    logs.put_events(A, R, "g", "a", &[ev(t + 5, "x")]).unwrap();
    logs.put_events(A, R, "g", "b", &[ev(t + 1, "x")]).unwrap();
    logs.create_stream(A, R, "g", "c").unwrap();
    let page = logs
        .describe_streams(A, R, "g", "", StreamOrder::LastEventTime, true, 0, 2)
        .unwrap();
    let names: Vec<_> = page.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!((names, page.next), (vec!["a", "b"], Some(2)));
    let page = logs
        .describe_streams(A, R, "g", "", StreamOrder::LogStreamName, false, 2, 2)
        .unwrap();
    assert_eq!(page.streams[0].name, "c");
    assert_eq!(page.next, None);
}

#[test]
fn tags_are_limited() {
    let (_d, logs) = open();
    logs.create_group_if_missing(A, R, "g").unwrap();
    let many: BTreeMap<String, String> = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
    logs.tag_group(A, R, "g", many).unwrap();
    assert!(matches!(
        logs.tag_group(A, R, "g", BTreeMap::from([("one".into(), "more".into())])),
        Err(LogsError::TooManyTags(_))
    ));
    logs.tag_group(A, R, "g", BTreeMap::from([("k1".into(), "again".into())]))
        .unwrap();
    logs.untag_group(A, R, "g", &["k1".into()]).unwrap();
    assert_eq!(logs.tags(A, R, "g").unwrap().len(), 49);
    assert!(
        logs.tag_group(A, R, "g", BTreeMap::from([("aws:x".into(), "v".into())]))
            .is_err()
    );
}

mod paging {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever the events and the page size, paging FilterLogEvents and GetLogEvents
        /// (forward from the head, backward from the tail) sees every event exactly once, in
        /// time order.
        #[test]
        fn pages_see_every_event_once(
            batches in proptest::collection::vec((0usize..3, proptest::collection::vec(0i64..50, 1..20)), 1..6),
            page in 1usize..7,
        ) {
            let (_d, logs) = open();
            logs.create_group_if_missing(A, R, "g").unwrap();
            let t0 = now_ms() - 100_000;
            let mut want: Vec<(usize, i64)> = Vec::new();
            for (stream, offsets) in &batches {
                let events: Vec<LogEvent> = offsets.iter().map(|o| ev(t0 + o, "m")).collect();
                logs.put_events(A, R, "g", &format!("s{stream}"), &events).unwrap();
                want.extend(offsets.iter().map(|o| (*stream, t0 + o)));
            }
            // FilterLogEvents, merged
            let mut after = None;
            let mut got = Vec::new();
            loop {
                let q = FilterQuery { limit: page, after, ..Default::default() };
                let p = logs.filter_log_events(A, R, "g", &q, now_ms()).unwrap();
                prop_assert!(p.events.len() <= page);
                got.extend(p.events);
                match p.next { Some(c) => after = Some(c), None => break }
            }
            prop_assert_eq!(got.len(), want.len());
            prop_assert!(got.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
            let mut ids: Vec<_> = got.iter().map(|e| e.event_id.clone()).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), want.len());
            // GetLogEvents per stream, both directions
            for s in 0..3 {
                let mut times: Vec<i64> = want.iter().filter(|w| w.0 == s).map(|w| w.1).collect();
                times.sort_unstable();
                if times.is_empty() { continue; }
                let name = format!("s{s}");
                let mut token = None;
                let mut fwd = Vec::new();
                loop {
                    let q = GetQuery { limit: page, from_head: true, token: token.map(Ok), ..Default::default() };
                    let p = logs.get_log_events(A, R, "g", &name, &q, now_ms()).unwrap();
                    fwd.extend(p.events.iter().map(|e| e.timestamp));
                    if token == Some(p.next_forward) { break; }
                    token = Some(p.next_forward);
                }
                prop_assert_eq!(&fwd, &times);
                let mut token: Option<Cursor> = None;
                let mut back = Vec::new();
                loop {
                    let q = GetQuery { limit: page, token: token.map(Err), ..Default::default() };
                    let p = logs.get_log_events(A, R, "g", &name, &q, now_ms()).unwrap();
                    back.splice(0..0, p.events.iter().map(|e| e.timestamp));
                    if token == Some(p.next_backward) { break; }
                    token = Some(p.next_backward);
                }
                prop_assert_eq!(&back, &times);
            }
        }
    }
}
