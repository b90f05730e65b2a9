//! Micro benchmark of `SqliteStore`:
//!
//! ```text
//! cargo run --release -p corral-store --example store_bench [-- --keys N --tasks N --watchers N --readers N]
//! ```
//!
//! Phases: concurrent 1 KiB creates (throughput, latency, group-commit
//! batches); random gets; latest range through the `latest` table against the
//! same answer computed from the log's `(key, rev)` index once keys have
//! history (the measurement behind the schema choice); updates under many
//! watchers.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral_store::sqlite::{SqliteOptions, SqliteStore};
use corral_store::{RangeRequest, Store};
use futures::StreamExt;

struct Args {
    keys: usize,
    tasks: usize,
    watchers: usize,
    readers: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        keys: 20_000,
        tasks: 32,
        watchers: 200,
        readers: SqliteOptions::default().read_connections,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--keys", Some(v)) => args.keys = v,
            ("--tasks", Some(v)) => args.tasks = v,
            ("--watchers", Some(v)) => args.watchers = v,
            ("--readers", Some(v)) => args.readers = v,
            (flag, _) => {
                eprintln!(
                    "usage: store_bench [--keys N] [--tasks N] [--watchers N] [--readers N] (bad {flag:?})"
                );
                std::process::exit(2);
            }
        }
    }
    args.tasks = args.tasks.max(1);
    args
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn key(i: usize) -> String {
    format!("/registry/pods/ns-{}/pod-{i:06}", i % 50)
}

/// xorshift: good enough to spread gets, no dependency needed.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn creates(store: &Arc<SqliteStore>, args: &Args) -> anyhow_free::Result<()> {
    let value = Bytes::from(vec![b'x'; 1024]);
    let before = store.stats();
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..args.tasks {
        let store = Arc::clone(store);
        let value = value.clone();
        let (keys, tasks) = (args.keys, args.tasks);
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (t..keys).step_by(tasks) {
                let began = Instant::now();
                store.create(&key(i), value.clone()).await?;
                latencies.push(began.elapsed());
            }
            Ok::<_, corral_store::StoreError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(args.keys);
    for h in handles {
        latencies.extend(h.await??);
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let after = store.stats();
    let commits = after.commits - before.commits;
    println!(
        "creates: {} x 1 KiB by {} tasks in {:.2?}: {:.0} creates/s, p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        args.keys,
        args.tasks,
        elapsed,
        args.keys as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    println!(
        "  commits (fsync'd batches): {commits}, {:.1} writes per commit",
        (after.writes - before.writes) as f64 / commits.max(1) as f64
    );
    Ok(())
}

async fn gets(store: &Arc<SqliteStore>, args: &Args) -> anyhow_free::Result<()> {
    let total = args.keys.max(1) * 2;
    let per_task = total / args.tasks;
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..args.tasks {
        let store = Arc::clone(store);
        let keys = args.keys.max(1);
        handles.push(tokio::spawn(async move {
            let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ (t as u64 + 1);
            let mut found = 0usize;
            for _ in 0..per_task {
                let i = (next_random(&mut rng) % keys as u64) as usize;
                found += usize::from(store.get(&key(i)).await?.is_some());
            }
            Ok::<_, corral_store::StoreError>(found)
        }));
    }
    let mut found = 0;
    for h in handles {
        found += h.await??;
    }
    let elapsed = start.elapsed();
    let done = per_task * args.tasks;
    assert_eq!(found, done, "every random key exists");
    println!(
        "gets: {done} random keys by {} tasks in {:.2?}: {:.0} gets/s",
        args.tasks,
        elapsed,
        done as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Gives a tenth of the keys 10 revisions of history, then lists one
/// namespace both ways.
async fn ranges(store: &Arc<SqliteStore>, path: &Path, args: &Args) -> anyhow_free::Result<()> {
    let small = Bytes::from_static(b"v");
    for i in (0..args.keys).step_by(10) {
        let mut kv = store.get(&key(i)).await?.ok_or("missing key")?;
        for _ in 0..10 {
            kv = store
                .update(&key(i), small.clone(), kv.mod_revision)
                .await?;
        }
    }
    let prefix = "/registry/pods/";
    let rounds = 20;
    let start = Instant::now();
    let mut listed = 0;
    for _ in 0..rounds {
        let resp = store
            .range(RangeRequest {
                prefix: prefix.to_string(),
                limit: Some(500),
                ..Default::default()
            })
            .await?;
        listed = resp.kvs.len();
    }
    let via_latest = start.elapsed() / rounds;

    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(
        "SELECT key, MAX(rev), deleted FROM log WHERE key >= ?1 AND key < ?2
         GROUP BY key HAVING deleted = 0 ORDER BY key LIMIT 500",
    )?;
    let mut fetch = conn.prepare("SELECT value, create_rev FROM log WHERE rev = ?1")?;
    let start = Instant::now();
    let mut from_log = 0;
    for _ in 0..rounds {
        let picked: Vec<(Vec<u8>, i64)> = stmt
            .query_map(
                rusqlite::params![prefix.as_bytes(), b"/registry/pods0".as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<Result<_, _>>()?;
        for (_, rev) in &picked {
            let _: (Vec<u8>, i64) = fetch.query_row([rev], |r| Ok((r.get(0)?, r.get(1)?)))?;
        }
        from_log = picked.len();
    }
    let via_log = start.elapsed() / rounds;
    println!(
        "list {listed} of {} keys (10% with 10 revisions of history): latest table {via_latest:.2?}, log (key, rev) index {via_log:.2?} ({from_log} rows)",
        args.keys
    );
    Ok(())
}

async fn watched_updates(store: &Arc<SqliteStore>, args: &Args) -> anyhow_free::Result<()> {
    let updates = 5_000.min(args.keys);
    let from = store.current_revision().await? + 1;
    let mut watchers = Vec::new();
    for _ in 0..args.watchers {
        let mut stream = store.watch("/registry/", from).await?;
        watchers.push(tokio::spawn(async move {
            let mut seen = 0;
            while seen < updates {
                match stream.next().await {
                    Some(Ok(batch)) => seen += batch.len(),
                    _ => break,
                }
            }
            (seen, Instant::now())
        }));
    }
    let value = Bytes::from(vec![b'y'; 1024]);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..args.tasks {
        let store = Arc::clone(store);
        let value = value.clone();
        let tasks = args.tasks;
        handles.push(tokio::spawn(async move {
            for i in (t..updates).step_by(tasks) {
                let kv = store
                    .get(&key(i))
                    .await?
                    .ok_or(corral_store::StoreError::NotFound { key: key(i) })?;
                store
                    .update(&key(i), value.clone(), kv.mod_revision)
                    .await?;
            }
            Ok::<_, corral_store::StoreError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let written = start.elapsed();
    let mut last = start;
    for w in watchers {
        let (seen, at) = w.await?;
        assert_eq!(seen, updates, "a watcher missed events");
        last = last.max(at);
    }
    println!(
        "updates under {} watchers: {updates} get+update in {written:.2?} ({:.0} updates/s); all watchers had every event after {:.2?}",
        args.watchers,
        updates as f64 / written.as_secs_f64(),
        last.duration_since(start)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow_free::Result<()> {
    let args = parse_args();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let options = SqliteOptions {
        read_connections: args.readers,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(&path, options)?;
    creates(&store, &args).await?;
    gets(&store, &args).await?;
    ranges(&store, &path, &args).await?;
    watched_updates(&store, &args).await?;
    let stats = store.stats();
    println!(
        "final: revision {}, {} commits for {} writes",
        stats.revision, stats.commits, stats.writes
    );
    store.shutdown().await;
    Ok(())
}

/// A boxed error is all a benchmark needs; avoids another dependency.
mod anyhow_free {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
