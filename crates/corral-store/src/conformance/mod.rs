//! The behaviour every [`Store`] backend must show, as plain async functions.
//!
//! Each case takes a store that is fresh (no writes yet), panics with a
//! message on the first deviation, and keeps its keys under a prefix of its
//! own, so a backend whose test fixture cannot hand out a really empty store
//! still gets meaningful results for everything except absolute revisions.
//! [`run_all`] runs every case on its own fresh store; a backend's test file
//! can instead list the cases from [`cases`] (or by name) one test each.
//!
//! Cases use a multi-threaded runtime's worth of concurrency; run them under
//! `#[tokio::test(flavor = "multi_thread")]`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::{Event, KeyValue, RangeRequest, Revision, Store, StoreError, WatchStream};

mod kv;
mod range;
mod watch;

pub use kv::*;
pub use range::*;
pub use watch::*;

/// Longest wait for one watch batch before a case fails instead of hanging.
pub(super) const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A conformance case: takes a fresh store, panics on failure.
pub type Case = fn(Arc<dyn Store>) -> BoxFuture<'static, ()>;

/// Every case, by name.
pub fn cases() -> Vec<(&'static str, Case)> {
    macro_rules! case {
        ($name:ident) => {
            (stringify!($name), (|s| Box::pin($name(s))) as Case)
        };
    }
    vec![
        case!(revisions_strictly_increase),
        case!(create_existing_is_already_exists),
        case!(stale_revision_conflicts),
        case!(missing_key_not_found),
        case!(get_latest),
        case!(range_prefix_isolation),
        case!(range_pagination),
        case!(range_historic),
        case!(range_future_revision),
        case!(watch_replays_history_then_live),
        case!(watch_prefix_filtering),
        case!(watch_from_now),
        case!(watch_future_revision),
        case!(concurrent_writers_and_watchers),
        case!(compaction),
        case!(delete_event_carries_prev),
        case!(count_prefix),
    ]
}

/// Runs every case, each on a store freshly made by `new_store`.
pub async fn run_all<F, Fut>(new_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    for (name, case) in cases() {
        tracing::info!(case = name, "conformance case");
        case(new_store().await).await;
    }
}

// ---------------------------------------------------------------- helpers

pub(super) fn prefix(case: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("/conformance/{case}/{nanos:x}-{seq}/")
}

pub(super) fn val(s: impl Into<String>) -> Bytes {
    Bytes::from(s.into())
}

pub(super) fn kv(key: &str, value: &str, create: Revision, modified: Revision) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: val(value),
        create_revision: create,
        mod_revision: modified,
    }
}

pub(super) async fn must<T>(what: &str, fut: impl Future<Output = crate::Result<T>>) -> T {
    match fut.await {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error {e:?}"),
    }
}

pub(super) async fn range_all(
    store: &dyn Store,
    prefix: &str,
    revision: Option<Revision>,
) -> Vec<KeyValue> {
    let resp = must(
        "range",
        store.range(RangeRequest {
            prefix: prefix.to_string(),
            revision,
            ..Default::default()
        }),
    )
    .await;
    assert!(!resp.more, "an unlimited range must not report more");
    resp.kvs
}

/// Reads from `stream` until at least `n` events arrived.
pub(super) async fn next_events(stream: &mut WatchStream, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(STEP_TIMEOUT, stream.next()).await {
            Err(_) => panic!("watch: timed out with {} of {n} events", out.len()),
            Ok(None) => panic!("watch: stream ended after {} of {n} events", out.len()),
            Ok(Some(Err(e))) => panic!("watch: error {e:?} after {} events", out.len()),
            Ok(Some(Ok(batch))) => {
                assert!(!batch.is_empty(), "watch: empty batch delivered");
                out.extend(batch);
            }
        }
    }
    out
}

/// Writes `sentinel` and reads until its event, returning everything before
/// it: proves nothing else was (or will be) delivered in between.
pub(super) async fn events_until_sentinel(
    store: &dyn Store,
    stream: &mut WatchStream,
    sentinel: &str,
) -> Vec<Event> {
    let written = must("create sentinel", store.create(sentinel, val("s"))).await;
    let mut out = Vec::new();
    loop {
        let batch = next_events(stream, 1).await;
        for ev in batch {
            if ev.kv.key == sentinel {
                assert_eq!(ev.revision(), written.mod_revision, "sentinel revision");
                return out;
            }
            out.push(ev);
        }
    }
}

pub(super) fn assert_increasing(revs: &[Revision], what: &str) {
    for pair in revs.windows(2) {
        assert!(
            pair[0] < pair[1],
            "{what}: revisions not strictly increasing: {revs:?}"
        );
    }
}

pub(super) fn assert_compacted<T: std::fmt::Debug>(result: crate::Result<T>, what: &str) {
    match result {
        Err(StoreError::Compacted { .. }) => {}
        other => panic!("{what}: expected Compacted, got {other:?}"),
    }
}

// ---------------------------------------------------------------- cases
