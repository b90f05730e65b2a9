//! Behaviour specific to the SQLite backend: durability across reopen,
//! the persisted revision counter, lagging watchers, group commit, shutdown
//! and background compaction.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corral_store::sqlite::{SqliteOptions, SqliteStore};
use corral_store::{Event, EventKind, RangeRequest, Revision, Store, StoreError, WatchStream};
use futures::StreamExt;

fn open(path: &Path, options: SqliteOptions) -> Arc<SqliteStore> {
    SqliteStore::open(path, options).expect("open")
}

fn val(s: impl Into<String>) -> Bytes {
    Bytes::from(s.into())
}

async fn collect(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            Ok(Some(Ok(batch))) => out.extend(batch),
            other => panic!("after {} of {n} events: {other:?}", out.len()),
        }
    }
    out
}

fn log_rows(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    conn.query_row("SELECT COUNT(*) FROM log", [], |r| r.get(0))
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_and_revision_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let store = open(&path, SqliteOptions::default());
    let a = store.create("/a", val("a1")).await.expect("create");
    let a = store
        .update("/a", val("a2"), a.mod_revision)
        .await
        .expect("update");
    store.create("/b", val("b1")).await.expect("create");
    let gone = store.delete("/b", None).await.expect("delete");
    store.shutdown().await;
    assert!(matches!(
        store.get("/a").await,
        Err(StoreError::Unavailable(_))
    ));
    drop(store);

    let store = open(&path, SqliteOptions::default());
    assert_eq!(
        store.current_revision().await.expect("rev"),
        gone.mod_revision
    );
    assert_eq!(store.get("/a").await.expect("get"), Some(a.clone()));
    assert_eq!(store.get("/b").await.expect("get"), None);
    let c = store.create("/c", val("c")).await.expect("create");
    assert_eq!(c.mod_revision, gone.mod_revision + 1);
    // History is still there: a watch from the beginning replays it all.
    let mut w = store.watch("/", 1).await.expect("watch");
    let revs: Vec<Revision> = collect(&mut w, 5)
        .await
        .iter()
        .map(Event::revision)
        .collect();
    assert_eq!(revs, vec![1, 2, 3, 4, 5]);
    store.shutdown().await;
    assert!(
        w.next().await.is_none(),
        "shutdown ends watch streams cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_open_of_the_same_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let store = open(&path, SqliteOptions::default());
    store.create("/k", val("v")).await.expect("create");
    match SqliteStore::open(&path, SqliteOptions::default()) {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!(
            "second open: expected Unavailable, got {:?}",
            other.map(|_| ())
        ),
    }
    store.shutdown().await;
    let again = open(&path, SqliteOptions::default());
    assert!(again.get("/k").await.expect("get").is_some());
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revision_never_goes_backwards_after_compaction_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let store = open(&path, SqliteOptions::default());
    for i in 0..20 {
        let k = format!("/k{i}");
        store.create(&k, val("v")).await.expect("create");
        store.delete(&k, None).await.expect("delete");
    }
    let top = store.current_revision().await.expect("rev");
    store.compact(top).await.expect("compact");
    store.shutdown().await;
    drop(store);
    // Left: the tombstone at the compacted revision and the value it deleted,
    // which a watch from that revision needs as the delete's prev.
    assert_eq!(log_rows(&path), 2);

    // Even with the whole log gone, the persisted counter holds.
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute("DELETE FROM log", []).expect("wipe log");
    }
    let store = open(&path, SqliteOptions::default());
    assert_eq!(store.current_revision().await.expect("rev"), top);
    assert_eq!(store.compacted_revision().await.expect("compacted"), top);
    let next = store.create("/new", val("v")).await.expect("create");
    assert_eq!(next.mod_revision, top + 1);
    store.shutdown().await;
}

/// A watcher that does not poll while far more than the in-memory buffer is
/// written still receives every event, in order, from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_watcher_gets_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SqliteOptions {
        watch_buffer: 64,
        ..SqliteOptions::default()
    };
    let store = open(&dir.path().join("store.db"), options);
    let mut lagging = store.watch("/lag/", 0).await.expect("watch");
    let mut writers = Vec::new();
    for w in 0..8 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            // 8 x 400 exceeds one log read window (2048), so catch-up
            // windows end inside group-commit batches.
            for i in 0..400 {
                let kv = store
                    .create(&format!("/lag/{w}/{i}"), val("x"))
                    .await
                    .expect("create");
                revs.push(kv.mod_revision);
            }
            revs
        }));
    }
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer"));
    }
    acked.sort_unstable();
    let stats = store.stats();
    assert!(
        stats.buffered_events < acked.len(),
        "the ring must not hold everything: {stats:?}"
    );

    let got: Vec<Revision> = collect(&mut lagging, acked.len())
        .await
        .iter()
        .map(Event::revision)
        .collect();
    assert_eq!(got, acked);
    // A new watch from before the ring also replays everything.
    let mut late = store.watch("/lag/", acked[0]).await.expect("watch");
    let got: Vec<Revision> = collect(&mut late, acked.len())
        .await
        .iter()
        .map(Event::revision)
        .collect();
    assert_eq!(got, acked);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_batches_concurrent_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("store.db"), SqliteOptions::default());
    let mut tasks = Vec::new();
    for t in 0..32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                store
                    .create(&format!("/g/{t}/{i}"), val("v"))
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let stats = store.stats();
    assert_eq!(stats.writes, 32 * 50);
    assert!(
        stats.commits < stats.writes,
        "no batching happened: {stats:?}"
    );
    assert_eq!(store.count("/g/").await.expect("count"), 32 * 50);
    store.shutdown().await;
}

/// One request's failed compare-and-swap inside a batch leaves the others alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_failures_do_not_affect_the_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("store.db"), SqliteOptions::default());
    let base = store.create("/cas", val("0")).await.expect("create");
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                store
                    .update("/cas", val(format!("{i}")), base.mod_revision)
                    .await
                    .map(|_| ())
            } else {
                store
                    .create(&format!("/other/{i}"), val("v"))
                    .await
                    .map(|_| ())
            }
        }));
    }
    let mut won = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match (i % 2, t.await.expect("task")) {
            (0, Ok(())) => won += 1,
            (
                0,
                Err(StoreError::Conflict {
                    current: Some(_), ..
                }),
            ) => {}
            (1, Ok(())) => {}
            other => panic!("request {i}: {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one compare-and-swap wins");
    assert_eq!(store.count("/other/").await.expect("count"), 32);
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_queued_writes_and_ends_watches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let store = open(&path, SqliteOptions::default());
    let mut watch = store.watch("/", 0).await.expect("watch");
    let mut acked = Vec::new();
    for i in 0..10 {
        let kv = store
            .create(&format!("/s/p{i}"), val("v"))
            .await
            .expect("create");
        acked.push(kv.mod_revision);
    }
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.create(&format!("/s/{i:03}"), val("v")).await
        }));
    }
    tokio::task::yield_now().await;
    store.shutdown().await;
    for t in tasks {
        match t.await.expect("task") {
            Ok(kv) => acked.push(kv.mod_revision),
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    acked.sort_unstable();
    // The stream delivers what was committed, then ends without an error.
    let mut watched = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("stream ends")
    {
        watched.extend(
            item.expect("no error at shutdown")
                .iter()
                .map(Event::revision),
        );
    }
    assert_eq!(watched, acked);
    assert!(matches!(
        store.create("/late", val("v")).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.watch("/", 0).await,
        Err(StoreError::Unavailable(_))
    ));
    drop(store);

    let store = open(&path, SqliteOptions::default());
    assert_eq!(
        store.count("/s/").await.expect("count"),
        acked.len() as i64,
        "every acknowledged write is durable"
    );
    store.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn background_compaction_bounds_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let options = SqliteOptions {
        compact_interval: Duration::from_millis(100),
        compact_min_retain: 10,
        ..SqliteOptions::default()
    };
    let store = open(&path, options);
    let mut kv = store.create("/hot", val("0")).await.expect("create");
    for i in 1..500 {
        kv = store
            .update("/hot", val(format!("{i}")), kv.mod_revision)
            .await
            .expect("update");
    }
    // Two ticks: the first records the revision, the second compacts to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.stats().compactions == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no background compaction: {:?}",
            store.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let compacted = store.compacted_revision().await.expect("compacted");
    assert!(
        compacted > 1 && compacted <= kv.mod_revision - 9,
        "keeps min_retain: {compacted}"
    );
    assert_eq!(store.get("/hot").await.expect("get"), Some(kv.clone()));
    let below = RangeRequest {
        prefix: "/".into(),
        revision: Some(compacted - 1),
        ..Default::default()
    };
    assert!(matches!(
        store.range(below).await,
        Err(StoreError::Compacted { .. })
    ));
    let rows = log_rows(&path);
    assert!(
        rows <= kv.mod_revision - compacted + 2,
        "log holds {rows} rows after compacting to {compacted}"
    );
    store.shutdown().await;
}

/// Watch streams see deletes with the full previous value, also from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replayed_delete_events_carry_prev() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(
        &dir.path().join("store.db"),
        SqliteOptions {
            watch_buffer: 1,
            ..SqliteOptions::default()
        },
    );
    let a = store.create("/d/a", val("1")).await.expect("create");
    let d = store.delete("/d/a", None).await.expect("delete");
    store.create("/d/b", val("2")).await.expect("create");
    let mut w = store.watch("/d/", a.mod_revision).await.expect("watch");
    let events = collect(&mut w, 3).await;
    assert_eq!(events[1].kind, EventKind::Delete);
    assert_eq!(events[1].prev.as_ref(), Some(&a));
    assert_eq!(events[1].kv.mod_revision, d.mod_revision);
    assert!(events[1].kv.value.is_empty());
    store.shutdown().await;
}

/// A watch may start in the middle of a group-commit batch: it gets exactly
/// the events from its revision on, whether the ring or the log serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_from_inside_a_batch() {
    for buffer in [1, 16_384] {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SqliteOptions {
            watch_buffer: buffer,
            ..SqliteOptions::default()
        };
        let store = open(&dir.path().join("store.db"), options);
        let mut tasks = Vec::new();
        for t in 0..16 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let mut revs = Vec::new();
                for i in 0..8 {
                    revs.push(
                        store
                            .create(&format!("/m/{t}/{i}"), val("v"))
                            .await
                            .expect("create")
                            .mod_revision,
                    );
                }
                revs
            }));
        }
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await.expect("task"));
        }
        acked.sort_unstable();
        let stats = store.stats();
        assert!(
            stats.commits < stats.writes,
            "writes were not batched: {stats:?}"
        );
        for (i, &from) in acked.iter().enumerate() {
            let mut w = store.watch("/m/", from).await.expect("watch");
            let got: Vec<Revision> = collect(&mut w, acked.len() - i)
                .await
                .iter()
                .map(Event::revision)
                .collect();
            assert_eq!(
                got,
                acked[i..].to_vec(),
                "watch from {from} (buffer {buffer})"
            );
        }
        store.shutdown().await;
    }
}

/// A storage error inside a batch rolls the whole batch back: its requests
/// fail, no revision is consumed and nothing is published, and later writes
/// carry on densely.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_batch_rolls_back_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let store = open(&path, SqliteOptions::default());
    store.create("/ok", val("v")).await.expect("create");
    store.shutdown().await;
    drop(store);
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute_batch(
            "CREATE TRIGGER fail_bad BEFORE INSERT ON log WHEN NEW.key = CAST('/bad' AS BLOB)
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .expect("trigger");
    }
    let store = open(&path, SqliteOptions::default());
    let mut watch = store.watch("/", 0).await.expect("watch");
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = Arc::clone(&store);
        let key = if i == 16 {
            "/bad".to_string()
        } else {
            format!("/k/{i}")
        };
        tasks.push(tokio::spawn(
            async move { store.create(&key, val("v")).await },
        ));
    }
    let mut ok = Vec::new();
    let mut failed = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.expect("task") {
            Ok(kv) => ok.push(kv.mod_revision),
            Err(StoreError::Internal(_) | StoreError::Unavailable(_)) => failed += 1,
            Err(e) => panic!("request {i}: {e:?}"),
        }
    }
    assert!(failed >= 1, "the injected failure must surface");
    ok.sort_unstable();
    let expected: Vec<Revision> = (2..2 + ok.len() as Revision).collect();
    assert_eq!(ok, expected, "no revision was consumed by the failed batch");
    assert_eq!(
        store.current_revision().await.expect("rev"),
        1 + ok.len() as Revision
    );
    let next = store.create("/after", val("v")).await.expect("create");
    assert_eq!(next.mod_revision, 2 + ok.len() as Revision);
    let mut all = ok.clone();
    all.push(next.mod_revision);
    let got: Vec<Revision> = collect(&mut watch, all.len())
        .await
        .iter()
        .map(Event::revision)
        .collect();
    assert_eq!(got, all, "rolled-back writes are never published");
    store.shutdown().await;
}

/// A compaction whose sweep was interrupted (recorded, rows not yet deleted)
/// is finished after the next open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interrupted_compaction_resumes_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let store = open(&path, SqliteOptions::default());
    let mut kv = store.create("/k", val("0")).await.expect("create");
    for i in 1..100 {
        kv = store
            .update("/k", val(format!("{i}")), kv.mod_revision)
            .await
            .expect("update");
    }
    store.shutdown().await;
    drop(store);
    assert_eq!(log_rows(&path), 100);
    {
        // What a crash right after recording the compaction leaves behind.
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute("UPDATE meta SET value = 90 WHERE name = 'compacted'", [])
            .expect("meta");
    }
    let store = open(&path, SqliteOptions::default());
    assert_eq!(store.compacted_revision().await.expect("compacted"), 90);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.stats().compactions == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sweep never resumed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Revisions 90..=100 stay, plus 89, which 90 superseded.
    assert_eq!(log_rows(&path), 12);
    assert_eq!(store.get("/k").await.expect("get"), Some(kv));
    let mut w = store.watch("/k", 90).await.expect("watch");
    let first = collect(&mut w, 1).await;
    assert_eq!(first[0].prev.as_ref().map(|p| p.mod_revision), Some(89));
    store.shutdown().await;
}
