//! The backend conformance suite, run on `EtcdStore` against a real
//! 3-member etcd cluster (started by `scripts/etcd-cluster`, one cluster for
//! this test binary), plus what only a shared etcd can show: several stores
//! on one cluster agreeing on revisions, events and compaction.
//!
//! Every case gets a fresh store with its own key prefix (`/t-<uuid>`), the
//! way the SQLite suite gives each case a fresh database. etcd's revisions
//! are global to the cluster, though, and some cases assert exact revisions
//! ("the next write takes the next revision"), so the cases run one after
//! another inside one test, each in its own task so that one failure does
//! not hide the others. The cluster guard lives on this test's stack and
//! stops the cluster by PID when the test ends, pass or fail.

mod etcd_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral_store::conformance;
use corral_store::etcd::{EtcdOptions, EtcdStore};
use corral_store::{EventKind, RangeRequest, Store, StoreError};
use etcd_support::EtcdCluster;
use futures::StreamExt;
use futures::future::BoxFuture;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A case that takes longer has hung; conformance steps time out at 30 s.
const CASE_TIMEOUT: Duration = Duration::from_secs(90);

fn fresh_prefix() -> String {
    format!("/t-{}", uuid::Uuid::new_v4())
}

type Check = fn(Arc<EtcdCluster>) -> BoxFuture<'static, ()>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcd_store_conformance_and_replicas() {
    let cluster = Arc::new(EtcdCluster::start());
    let mut failures = Vec::new();

    for (name, case) in conformance::cases() {
        let store = cluster.store(&fresh_prefix(), REQUEST_TIMEOUT).await;
        let run = case(store.clone() as Arc<dyn Store>);
        if let Err(failure) = run_isolated(name, run).await {
            failures.push(failure);
        }
        store.shutdown();
    }

    let checks: [(&str, Check); 3] = [
        ("replicas_share_revisions_and_events", |c| {
            Box::pin(replicas_share_revisions_and_events(c))
        }),
        ("replicas_see_each_others_compaction", |c| {
            Box::pin(replicas_see_each_others_compaction(c))
        }),
        ("key_prefixes_isolate_stores", |c| {
            Box::pin(key_prefixes_isolate_stores(c))
        }),
    ];
    for (name, check) in checks {
        if let Err(failure) = run_isolated(name, check(Arc::clone(&cluster))).await {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "failed: {failures:#?}");
}

/// Runs one case in its own task; a panic or a hang becomes an `Err`.
async fn run_isolated(name: &str, case: BoxFuture<'static, ()>) -> Result<(), String> {
    let started = Instant::now();
    let outcome = tokio::time::timeout(CASE_TIMEOUT, tokio::spawn(case)).await;
    let took = started.elapsed();
    let result = match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(join)) => Err(format!("{name}: {join}")),
        Err(_) => Err(format!("{name}: no result after {CASE_TIMEOUT:?}")),
    };
    let verdict = if result.is_ok() { "ok" } else { "FAILED" };
    eprintln!("etcd conformance: {name} ... {verdict} ({took:.2?})");
    result
}

/// Two stores (two server replicas) on one prefix: each sees the other's
/// writes with the same revisions, and events written through one arrive on
/// the other's watch, with prev values.
async fn replicas_share_revisions_and_events(cluster: Arc<EtcdCluster>) {
    let prefix = fresh_prefix();
    let a = cluster.store(&prefix, REQUEST_TIMEOUT).await;
    // B talks to one member only, so requests really cross members.
    let b = cluster
        .store_on(
            vec![cluster.endpoints()[2].clone()],
            &prefix,
            REQUEST_TIMEOUT,
        )
        .await;
    let mut watch_b = b.watch("/pods/", 0).await.expect("watch on b");

    let created = a.create("/pods/x", Bytes::from("1")).await.expect("create");
    assert_eq!(
        b.get("/pods/x").await.expect("get on b"),
        Some(created.clone())
    );
    assert!(b.current_revision().await.expect("revision") >= created.mod_revision);
    let updated = b
        .update("/pods/x", Bytes::from("2"), created.mod_revision)
        .await
        .expect("update on b");
    match a
        .update("/pods/x", Bytes::from("3"), created.mod_revision)
        .await
    {
        Err(StoreError::Conflict { current, .. }) => {
            assert_eq!(current.as_deref(), Some(&updated), "a sees b's write");
        }
        other => panic!("stale update on a: expected Conflict, got {other:?}"),
    }
    let deleted = a.delete("/pods/x", None).await.expect("delete on a");

    let mut events = Vec::new();
    while events.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(10), watch_b.next()).await {
            Ok(Some(Ok(batch))) => events.extend(batch),
            other => panic!("watch on b: {other:?}"),
        }
    }
    let revs: Vec<_> = events.iter().map(|e| e.revision()).collect();
    assert_eq!(
        revs,
        vec![
            created.mod_revision,
            updated.mod_revision,
            deleted.mod_revision
        ]
    );
    assert_eq!(events[1].prev.as_ref(), Some(&created));
    assert_eq!(events[2].kind, EventKind::Delete);
    assert_eq!(events[2].prev.as_ref(), Some(&updated));
}

/// A compaction made through one store is reported by another, which has
/// never heard of it, both by `compacted_revision` and in errors.
async fn replicas_see_each_others_compaction(cluster: Arc<EtcdCluster>) {
    let prefix = fresh_prefix();
    let a = cluster.store(&prefix, REQUEST_TIMEOUT).await;
    let b = cluster.store(&prefix, REQUEST_TIMEOUT).await;
    let first = a.create("/k", Bytes::from("1")).await.expect("create");
    let second = a
        .update("/k", Bytes::from("2"), first.mod_revision)
        .await
        .expect("update");
    let third = a
        .update("/k", Bytes::from("3"), second.mod_revision)
        .await
        .expect("update");
    a.compact(third.mod_revision).await.expect("compact");

    assert_eq!(
        b.compacted_revision().await.expect("compacted_revision"),
        third.mod_revision,
        "b asks etcd"
    );
    let c = cluster.store(&prefix, REQUEST_TIMEOUT).await;
    match c
        .range(RangeRequest {
            prefix: "/".to_string(),
            revision: Some(first.mod_revision),
            ..Default::default()
        })
        .await
    {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => assert_eq!(
            (requested, compacted),
            (first.mod_revision, third.mod_revision)
        ),
        other => panic!("range below the compaction: expected Compacted, got {other:?}"),
    }
    let d = cluster.store(&prefix, REQUEST_TIMEOUT).await;
    let mut stream = d
        .watch("/", second.mod_revision)
        .await
        .expect("watch opens");
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Err(StoreError::Compacted {
            requested,
            compacted,
        }))) => assert_eq!(
            (requested, compacted),
            (second.mod_revision, third.mod_revision)
        ),
        other => panic!("watch below the compaction: expected Compacted, got {other:?}"),
    }
    // At the compacted revision itself the update's prev is still there.
    let mut at = d.watch("/", third.mod_revision).await.expect("watch");
    match tokio::time::timeout(Duration::from_secs(10), at.next()).await {
        Ok(Some(Ok(batch))) => assert_eq!(batch[0].prev.as_ref(), Some(&second)),
        other => panic!("watch at the compaction: {other:?}"),
    }
}

/// Stores with different key prefixes share nothing but the revision counter.
async fn key_prefixes_isolate_stores(cluster: Arc<EtcdCluster>) {
    let (p, q) = (fresh_prefix(), fresh_prefix());
    let a = cluster.store(&p, REQUEST_TIMEOUT).await;
    let b = cluster.store(&q, REQUEST_TIMEOUT).await;
    let mut watch_b = b.watch("", 0).await.expect("watch");
    a.create("/same", Bytes::from("a"))
        .await
        .expect("create on a");
    let on_b = b
        .create("/same", Bytes::from("b"))
        .await
        .expect("create on b");
    assert_eq!(a.count("").await.expect("count"), 1);
    let listed = a
        .range(RangeRequest::default())
        .await
        .expect("range everything");
    assert_eq!(listed.kvs.len(), 1);
    assert_eq!(listed.kvs[0].key, "/same", "the prefix is stripped");
    assert_eq!(listed.kvs[0].value, Bytes::from("a"));
    match tokio::time::timeout(Duration::from_secs(10), watch_b.next()).await {
        Ok(Some(Ok(batch))) => assert_eq!(batch.iter().map(|e| &e.kv).collect::<Vec<_>>(), [&on_b]),
        other => panic!("watch on b: {other:?}"),
    }
}

/// Nothing listens: `connect` says `Unavailable` within the dial timeout.
#[tokio::test]
async fn connect_to_nothing_fails_fast() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let started = Instant::now();
    let result = EtcdStore::connect(EtcdOptions {
        endpoints: vec![format!("http://127.0.0.1:{port}")],
        dial_timeout: Duration::from_secs(1),
        ..EtcdOptions::default()
    })
    .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
