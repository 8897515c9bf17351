//! Durable transaction rates with 1 and with 8 concurrent writers, and read latency under
//! write load. Ignored by default; run with
//! `cargo test -p fort-store --test bench -- --ignored --nocapture`
//! (add `--release` for optimized figures).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fort_store::{EmbeddedOptions, EmbeddedStore, Store};

const TOTAL: usize = 4000;

async fn rate(writers: usize, durable: bool) {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        durable,
        ..EmbeddedOptions::default()
    };
    let store =
        Arc::new(EmbeddedStore::open_with(&dir.path().join("store.redb"), options).unwrap());
    // 10k keys already there, as in a region with 10k objects.
    for chunk in 0..100 {
        let puts = (0..100)
            .map(|i| put(&format!("obj/{chunk:03}/{i:03}"), &"x".repeat(300)))
            .collect();
        store.txn(ops(puts)).await.unwrap();
    }
    let before = store.stats();

    // A reader measuring `get` latency while the writers run.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let start = Instant::now();
                store.get(b"obj/050/050").await.unwrap().unwrap();
                latencies.push(start.elapsed());
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            latencies
        })
    };

    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..TOTAL / writers {
                let t = Instant::now();
                store
                    .txn(ops(vec![
                        put(&format!("tag/{w}/{i}/a"), "value-a"),
                        put(&format!("tag/{w}/{i}/b"), "value-b"),
                    ]))
                    .await
                    .unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = reader.await.unwrap();
    let stats = store.stats();
    let commits = stats.commits - before.commits;
    latencies.sort();
    reads.sort();
    // `per_mille`: the percentile in thousandths
    let pct = |v: &[Duration], per_mille: usize| v[(v.len() * per_mille / 1000).min(v.len() - 1)];
    println!(
        "{writers} writer(s), durable={durable}: {TOTAL} txns in {:.2} s = {:.0} txn/s; \
         {commits} commits ({:.1} txns/commit); txn latency p50 {:?} p99 {:?}; \
         concurrent get p50 {:?} p99 {:?} ({} reads)",
        elapsed.as_secs_f64(),
        TOTAL as f64 / elapsed.as_secs_f64(),
        TOTAL as f64 / commits as f64,
        pct(&latencies, 500),
        pct(&latencies, 990),
        pct(&reads, 500),
        pct(&reads, 990),
        reads.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn txn_rates() {
    rate(1, true).await;
    rate(8, true).await;
    rate(1, false).await;
    rate(8, false).await;
}
