//! `EtcdStore` against real etcd failures: a member killed with SIGKILL
//! under write load, and the whole cluster stopped and started again. Each
//! test has its own 3-member cluster (`scripts/etcd-cluster`); they run one
//! at a time, since both measure time on a 2-core machine.

mod etcd_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral_store::etcd::EtcdStore;
use corral_store::{Event, EventKind, KeyValue, RangeRequest, Revision, Store, StoreError};
use corral_store::{Result as StoreResult, WatchStream};
use etcd_support::EtcdCluster;
use futures::StreamExt;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WRITERS: usize = 32;

fn fresh_prefix() -> String {
    format!("/t-{}", uuid::Uuid::new_v4())
}

/// Reads `stream` until an event at or past `last` arrived.
async fn events_through(stream: &mut WatchStream, last: Revision, what: &str) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    while out.last().map(Event::revision) < Some(last) {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
            Ok(Some(Ok(batch))) => out.extend(batch),
            other => panic!(
                "{what}: watch gave {other:?} after {} events (waiting for revision {last})",
                out.len()
            ),
        }
    }
    out
}

fn assert_gap_free(events: &[Event], expected: &BTreeMap<Revision, KeyValue>, what: &str) {
    let revs: Vec<Revision> = events.iter().map(Event::revision).collect();
    assert!(
        revs.windows(2).all(|w| w[0] < w[1]),
        "{what}: revisions out of order or duplicated"
    );
    assert_eq!(
        revs.iter().copied().collect::<BTreeSet<_>>(),
        expected.keys().copied().collect::<BTreeSet<_>>(),
        "{what}: watched revisions differ from the written ones"
    );
    for ev in events {
        assert_eq!(ev.kind, EventKind::Put, "{what}");
        assert_eq!(Some(&ev.kv), expected.get(&ev.revision()), "{what}");
    }
}

/// SIGKILL the leader while 32 tasks create keys: writes go on (a write
/// that fails `Unavailable` is retried by the task; one whose retry finds
/// the key already there had an unknown outcome and is not counted), every
/// acknowledged write is there afterwards with its revision, and watches
/// (one on all members, one pinned to the killed member, which comes back)
/// deliver every write exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_write_load_loses_no_acknowledged_write() {
    let _serial = SERIAL.lock().await;
    let cluster = EtcdCluster::start();
    let prefix = fresh_prefix();
    // Writes that followers had forwarded to the killed leader are lost with
    // it and hang until the request timeout (etcd cannot tell they failed;
    // they are not re-sent, see call.rs), so that bounds the pause.
    let timeout = Duration::from_secs(2);
    let store = cluster.store(&prefix, timeout).await;
    let victim = cluster.leader().await;
    let pinned = cluster
        .store_on(vec![cluster.endpoints()[victim].clone()], &prefix, timeout)
        .await;
    let from = store.current_revision().await.expect("revision") + 1;
    let mut watch_all = store.watch("/load/", from).await.expect("watch");
    let mut watch_pinned = pinned.watch("/load/", from).await.expect("watch");

    let stop = Arc::new(AtomicBool::new(false));
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut writers = Vec::new();
    for task in 0..WRITERS {
        let (store, stop, retries) = (store.clone(), stop.clone(), retries.clone());
        writers.push(tokio::spawn(async move {
            let mut acked: Vec<(Duration, KeyValue)> = Vec::new();
            let mut unknown = 0;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("/load/t{task:02}/{i:06}");
                let value = Bytes::from(format!("{key}:{}", "x".repeat(1000)));
                let mut failed_before = false;
                loop {
                    match store.create(&key, value.clone()).await {
                        Ok(kv) => {
                            acked.push((started.elapsed(), kv));
                            break;
                        }
                        Err(StoreError::AlreadyExists { .. }) if failed_before => {
                            unknown += 1;
                            break;
                        }
                        Err(StoreError::Unavailable(_)) => {
                            failed_before = true;
                            retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => panic!("create {key}: {e:?}"),
                    }
                }
                i += 1;
            }
            (acked, unknown)
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = started.elapsed();
    cluster.kill_member(victim).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.start_member(victim).await;
    let restarted_at = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);

    let mut acked: Vec<(Duration, KeyValue)> = Vec::new();
    let mut unknown = 0;
    for writer in writers {
        let (a, u) = writer.await.expect("writer task");
        acked.extend(a);
        unknown += u;
    }
    acked.sort_by_key(|(at, _)| *at);
    let after_kill = acked.iter().filter(|(at, _)| *at > killed_at).count();
    let longest_pause = acked
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].0))
        .max()
        .unwrap_or_default();
    eprintln!(
        "killed m{victim} (the leader) at {killed_at:.2?}, restarted by {restarted_at:.2?}: \
         {} acknowledged writes ({after_kill} after the kill), {} retries, {unknown} unknown \
         outcomes, longest pause between acknowledgements {longest_pause:.2?}",
        acked.len(),
        retries.load(Ordering::Relaxed),
    );
    assert!(
        after_kill > 100,
        "writes must keep succeeding after the kill"
    );
    // The request timeout, a leader election (1-2 s), a retry, and slack
    // for a busy machine.
    assert!(
        longest_pause < timeout + Duration::from_secs(4),
        "writes stalled for {longest_pause:?}"
    );

    // Every acknowledged write is there, with its revisions, through the
    // balanced store and through the restarted member alone.
    let written: BTreeMap<Revision, KeyValue> = acked
        .iter()
        .map(|(_, kv)| (kv.mod_revision, kv.clone()))
        .collect();
    assert_eq!(
        written.len(),
        acked.len(),
        "a revision was acknowledged twice"
    );
    for reader in [&store, &pinned] {
        let listed = reader
            .range(RangeRequest {
                prefix: "/load/".to_string(),
                ..Default::default()
            })
            .await
            .expect("range");
        let found: BTreeMap<&str, &KeyValue> =
            listed.kvs.iter().map(|kv| (kv.key.as_str(), kv)).collect();
        assert_eq!(found.len(), acked.len() + unknown, "keys present");
        for kv in written.values() {
            assert_eq!(found.get(kv.key.as_str()), Some(&kv), "acknowledged write");
        }
    }

    // The watches saw every write that happened (acknowledged or not).
    let all: BTreeMap<Revision, KeyValue> = store
        .range(RangeRequest {
            prefix: "/load/".to_string(),
            ..Default::default()
        })
        .await
        .expect("range")
        .kvs
        .into_iter()
        .map(|kv| (kv.mod_revision, kv))
        .collect();
    let last = *all.keys().last().expect("writes happened");
    let on_all = events_through(&mut watch_all, last, "watch on all members").await;
    assert_gap_free(&on_all, &all, "watch on all members");
    let on_pinned = events_through(&mut watch_pinned, last, "watch on the killed member").await;
    assert_gap_free(&on_pinned, &all, "watch on the killed member");
}

/// Every store call, run once.
async fn every_call(store: Arc<EtcdStore>, round: usize) -> Vec<(&'static str, StoreResult<()>)> {
    let s = &store;
    let key = format!("/outage/{round}");
    let v = || Bytes::from_static(b"v");
    let calls: Vec<(
        &'static str,
        futures::future::BoxFuture<'_, StoreResult<()>>,
    )> = vec![
        ("get", Box::pin(async { s.get(&key).await.map(drop) })),
        (
            "create",
            Box::pin(async { s.create(&key, v()).await.map(drop) }),
        ),
        (
            "update",
            Box::pin(async { s.update(&key, v(), 5).await.map(drop) }),
        ),
        (
            "delete",
            Box::pin(async { s.delete(&key, None).await.map(drop) }),
        ),
        (
            "range",
            Box::pin(async {
                s.range(RangeRequest {
                    prefix: "/".to_string(),
                    ..Default::default()
                })
                .await
                .map(drop)
            }),
        ),
        ("count", Box::pin(async { s.count("/").await.map(drop) })),
        (
            "current_revision",
            Box::pin(async { s.current_revision().await.map(drop) }),
        ),
        ("watch", Box::pin(async { s.watch("/", 0).await.map(drop) })),
        ("compact", Box::pin(async { s.compact(2).await })),
        (
            "compacted_revision",
            Box::pin(async { s.compacted_revision().await.map(drop) }),
        ),
    ];
    futures::future::join_all(calls.into_iter().map(|(name, call)| async move {
        let started = Instant::now();
        let result = call.await;
        (name, result.map_err(|e| (e, started.elapsed())))
    }))
    .await
    .into_iter()
    .map(|(name, r)| match r {
        Ok(()) => (name, Ok(())),
        Err((e, took)) => {
            assert!(
                took < OUTAGE_TIMEOUT + Duration::from_millis(1500),
                "{name} took {took:?} to fail (request timeout {OUTAGE_TIMEOUT:?})"
            );
            (name, Err(e))
        }
    })
    .collect()
}

const OUTAGE_TIMEOUT: Duration = Duration::from_secs(2);

/// The whole cluster down for ~8 s: every call fails with `Unavailable`
/// within about the request timeout; once etcd is back the same store works
/// again by itself, and a watch opened before the outage goes on with every
/// event written after it, in order, nothing repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_cluster_outage_fails_fast_then_recovers() {
    let _serial = SERIAL.lock().await;
    let cluster = EtcdCluster::start();
    let store = cluster.store(&fresh_prefix(), OUTAGE_TIMEOUT).await;
    let mut watch = store.watch("/w/", 0).await.expect("watch");
    let mut before = BTreeMap::new();
    for i in 0..3 {
        let kv = store
            .create(&format!("/w/before-{i}"), Bytes::from("b"))
            .await
            .expect("create");
        before.insert(kv.mod_revision, kv);
    }
    let last_before = *before.keys().last().expect("written");
    assert_gap_free(
        &events_through(&mut watch, last_before, "before the outage").await,
        &before,
        "before the outage",
    );

    cluster.stop_all().await;
    let down = Instant::now();
    let mut rounds = 0;
    while down.elapsed() < Duration::from_secs(8) {
        for (name, result) in every_call(store.clone(), rounds).await {
            if rounds == 0 {
                eprintln!("during the outage, {name}: {result:?}");
            }
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{name} during the outage: expected Unavailable, got {result:?}"
            );
        }
        rounds += 1;
    }
    eprintln!(
        "{rounds} rounds of every call failed in time during {:.2?} of outage",
        down.elapsed()
    );

    cluster.start_all().await;
    let back = Instant::now();
    loop {
        match store.get("/w/before-0").await {
            Ok(found) => {
                assert_eq!(found.as_ref(), before.values().next());
                break;
            }
            Err(StoreError::Unavailable(e)) if back.elapsed() < Duration::from_secs(15) => {
                eprintln!("not yet: {e}");
            }
            Err(e) => panic!("store did not recover: {e:?}"),
        }
    }
    eprintln!(
        "same store answering again {:.2?} after the cluster was healthy",
        back.elapsed()
    );

    let mut after = BTreeMap::new();
    for i in 0..20 {
        let kv = store
            .create(&format!("/w/after-{i}"), Bytes::from("a"))
            .await
            .expect("create after the outage");
        after.insert(kv.mod_revision, kv);
    }
    let last = *after.keys().last().expect("written");
    let events = events_through(&mut watch, last, "after the outage").await;
    eprintln!(
        "watch resumed {:.2?} after the cluster was healthy",
        back.elapsed()
    );
    assert_gap_free(&events, &after, "watch across the outage");
}
