//! Watches (replay, filtering, concurrency) and compaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::{
    STEP_TIMEOUT, assert_compacted, assert_increasing, events_until_sentinel, kv, must,
    next_events, prefix, range_all, val,
};
use bytes::Bytes;
use futures::StreamExt;

use crate::{Event, EventKind, KeyValue, RangeRequest, Revision, Store, StoreError};

/// A watch from an old revision replays history in order, then goes live.
pub async fn watch_replays_history_then_live(store: Arc<dyn Store>) {
    let p = prefix("watch_replay");
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    let a1 = must("create a", store.create(&a, val("a1"))).await;
    let a2 = must("update a", store.update(&a, val("a2"), a1.mod_revision)).await;
    let b1 = must("create b", store.create(&b, val("b1"))).await;
    let ad = must("delete a", store.delete(&a, None)).await;

    let mut w = must("watch", store.watch(&p, a1.mod_revision)).await;
    let events = next_events(&mut w, 4).await;
    let expected = vec![
        Event {
            kind: EventKind::Put,
            kv: a1.clone(),
            prev: None,
        },
        Event {
            kind: EventKind::Put,
            kv: a2.clone(),
            prev: Some(a1.clone()),
        },
        Event {
            kind: EventKind::Put,
            kv: b1.clone(),
            prev: None,
        },
        Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                value: Bytes::new(),
                ..ad.clone()
            },
            prev: Some(a2.clone()),
        },
    ];
    assert_eq!(events, expected, "replayed history");

    let b2 = must("update b", store.update(&b, val("b2"), b1.mod_revision)).await;
    let live = next_events(&mut w, 1).await;
    assert_eq!(
        live,
        vec![Event {
            kind: EventKind::Put,
            kv: b2.clone(),
            prev: Some(b1.clone())
        }]
    );

    let mut mid = must("watch", store.watch(&p, a2.mod_revision)).await;
    let revs: Vec<Revision> = next_events(&mut mid, 4)
        .await
        .iter()
        .map(Event::revision)
        .collect();
    assert_eq!(
        revs,
        vec![
            a2.mod_revision,
            b1.mod_revision,
            ad.mod_revision,
            b2.mod_revision
        ]
    );
}

pub async fn watch_prefix_filtering(store: Arc<dyn Store>) {
    let p = prefix("watch_prefix");
    let wp = format!("{p}x/");
    let mut w = must("watch", store.watch(&wp, 0)).await;
    for k in ["x/1", "y/1", "xy", "x/2", "x"] {
        must("create", store.create(&format!("{p}{k}"), val(k))).await;
    }
    let keys: Vec<String> = events_until_sentinel(&*store, &mut w, &format!("{wp}zz"))
        .await
        .into_iter()
        .map(|e| e.kv.key)
        .collect();
    assert_eq!(keys, vec![format!("{p}x/1"), format!("{p}x/2")]);
}

/// `from` <= 0 means "after the current revision".
pub async fn watch_from_now(store: Arc<dyn Store>) {
    let p = prefix("watch_now");
    must(
        "create before",
        store.create(&format!("{p}before"), val("b")),
    )
    .await;
    let mut w = must("watch", store.watch(&p, 0)).await;
    let after = must("create after", store.create(&format!("{p}after"), val("a"))).await;
    let got = events_until_sentinel(&*store, &mut w, &format!("{p}sentinel")).await;
    assert_eq!(
        got,
        vec![Event {
            kind: EventKind::Put,
            kv: after,
            prev: None
        }]
    );
}

/// A watch may start at a revision that does not exist yet.
pub async fn watch_future_revision(store: Arc<dyn Store>) {
    let p = prefix("watch_future");
    let current = must("current_revision", store.current_revision()).await;
    let mut w = must("watch", store.watch(&p, current + 3)).await;
    let mut revs = Vec::new();
    for i in 0..4 {
        revs.push(
            must("create", store.create(&format!("{p}{i}"), val("v")))
                .await
                .mod_revision,
        );
    }
    let got: Vec<Revision> = next_events(&mut w, 2)
        .await
        .iter()
        .map(Event::revision)
        .collect();
    assert_eq!(
        got,
        revs[2..].to_vec(),
        "only events at or after the requested revision"
    );
}

#[derive(Clone, Debug)]
struct Acked {
    key: String,
    kind: EventKind,
    value: Bytes,
}

/// 50 writers x 100 writes under 10 watchers: every watcher sees every
/// acknowledged write exactly once, in revision order, with correct prev values.
pub async fn concurrent_writers_and_watchers(store: Arc<dyn Store>) {
    const WRITERS: usize = 50;
    const WRITES: usize = 100;
    const WATCHERS: usize = 10;
    let total = WRITERS * WRITES;
    let p = prefix("concurrent");
    let start = must("current_revision", store.current_revision()).await + 1;

    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut stream = must("watch", store.watch(&p, start)).await;
        watchers.push(tokio::spawn(async move {
            next_events(&mut stream, total).await
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&store);
        let key = format!("{p}w{w}");
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::with_capacity(WRITES);
            let c = must("create", store.create(&key, val(format!("{w}-0")))).await;
            acked.push((
                c.mod_revision,
                Acked {
                    key: key.clone(),
                    kind: EventKind::Put,
                    value: c.value,
                },
            ));
            let mut last = c.mod_revision;
            for i in 1..WRITES - 1 {
                let u = must("update", store.update(&key, val(format!("{w}-{i}")), last)).await;
                assert!(u.mod_revision > last);
                last = u.mod_revision;
                acked.push((
                    last,
                    Acked {
                        key: key.clone(),
                        kind: EventKind::Put,
                        value: u.value,
                    },
                ));
            }
            let d = must("delete", store.delete(&key, Some(last))).await;
            acked.push((
                d.mod_revision,
                Acked {
                    key: key.clone(),
                    kind: EventKind::Delete,
                    value: Bytes::new(),
                },
            ));
            acked
        }));
    }
    let mut acked: BTreeMap<Revision, Acked> = BTreeMap::new();
    for writer in writers {
        let writes = writer
            .await
            .unwrap_or_else(|e| panic!("writer task failed: {e}"));
        for (rev, a) in writes {
            assert!(
                acked.insert(rev, a).is_none(),
                "revision {rev} acknowledged twice"
            );
        }
    }
    assert_eq!(acked.len(), total);
    let acked_revs: BTreeSet<Revision> = acked.keys().copied().collect();

    for (i, watcher) in watchers.into_iter().enumerate() {
        let events = watcher
            .await
            .unwrap_or_else(|e| panic!("watcher task failed: {e}"));
        assert_eq!(events.len(), total, "watcher {i}: event count");
        let revs: Vec<Revision> = events.iter().map(Event::revision).collect();
        assert_increasing(&revs, &format!("watcher {i}"));
        let watched: BTreeSet<Revision> = revs.iter().copied().collect();
        assert_eq!(
            watched, acked_revs,
            "watcher {i}: watched revisions != acknowledged ones"
        );
        let mut last_of_key: HashMap<&str, &Event> = HashMap::new();
        for ev in &events {
            let want = &acked[&ev.revision()];
            assert_eq!(
                (&ev.kv.key, ev.kind, &ev.kv.value),
                (&want.key, want.kind, &want.value)
            );
            match last_of_key.get(ev.kv.key.as_str()) {
                None => assert!(ev.prev.is_none(), "watcher {i}: a create has no prev"),
                Some(before) => {
                    let prev = ev
                        .prev
                        .as_ref()
                        .unwrap_or_else(|| panic!("watcher {i}: missing prev"));
                    assert_eq!(
                        prev, &before.kv,
                        "watcher {i}: prev is the key's previous value"
                    );
                }
            }
            last_of_key.insert(&ev.kv.key, ev);
        }
    }
}

/// After compaction, old revisions are refused but the latest state survives.
pub async fn compaction(store: Arc<dyn Store>) {
    let p = prefix("compaction");
    let (a, b, c) = (format!("{p}a"), format!("{p}b"), format!("{p}c"));
    let mut a_kv = must("create a", store.create(&a, val("a0"))).await;
    for i in 1..4 {
        a_kv = must(
            "update a",
            store.update(&a, val(format!("a{i}")), a_kv.mod_revision),
        )
        .await;
    }
    let b1 = must("create b", store.create(&b, val("b1"))).await;
    must("delete b", store.delete(&b, None)).await;
    let c1 = must("create c", store.create(&c, val("c1"))).await;
    let c2 = must("update c", store.update(&c, val("c2"), c1.mod_revision)).await;
    let c3 = must("update c", store.update(&c, val("c3"), c2.mod_revision)).await;
    // Compacting at an update: a watch from there still needs that update's prev.
    let at = c2.mod_revision;

    let current = must("current_revision", store.current_revision()).await;
    match store.compact(current + 10).await {
        Err(StoreError::FutureRevision { .. }) => {}
        other => panic!("compact ahead: expected FutureRevision, got {other:?}"),
    }
    must("compact", store.compact(at)).await;
    assert_eq!(
        must("compacted_revision", store.compacted_revision()).await,
        at
    );

    let below = RangeRequest {
        prefix: p.clone(),
        revision: Some(b1.mod_revision),
        ..Default::default()
    };
    assert_compacted(
        store.range(below).await,
        "range below the compacted revision",
    );
    let just_below = RangeRequest {
        prefix: p.clone(),
        revision: Some(at - 1),
        ..Default::default()
    };
    assert_compacted(
        store.range(just_below).await,
        "range just below the compacted revision",
    );
    match store.watch(&p, at - 1).await {
        Err(StoreError::Compacted { .. }) => {}
        Err(e) => panic!("watch below compaction: expected Compacted, got {e:?}"),
        Ok(mut stream) => match tokio::time::timeout(STEP_TIMEOUT, stream.next()).await {
            Ok(Some(Err(StoreError::Compacted { .. }))) => {}
            other => panic!("watch below compaction: expected a Compacted item, got {other:?}"),
        },
    }

    assert_eq!(
        must("get a", store.get(&a)).await,
        Some(a_kv.clone()),
        "latest a survives"
    );
    assert_eq!(
        must("get c", store.get(&c)).await,
        Some(c3.clone()),
        "latest c survives"
    );
    assert_eq!(must("get b", store.get(&b)).await, None);
    assert_eq!(
        range_all(&*store, &p, Some(at)).await,
        vec![a_kv.clone(), c2.clone()],
        "range at the compacted revision"
    );
    assert_eq!(
        range_all(&*store, &p, None).await,
        vec![a_kv.clone(), c3.clone()]
    );

    let mut w = must("watch at the compacted revision", store.watch(&p, at)).await;
    let events = next_events(&mut w, 2).await;
    assert_eq!(
        events,
        vec![
            Event {
                kind: EventKind::Put,
                kv: c2.clone(),
                prev: Some(c1.clone())
            },
            Event {
                kind: EventKind::Put,
                kv: c3.clone(),
                prev: Some(c2.clone())
            },
        ]
    );
    let a5 = must(
        "write after compaction",
        store.update(&a, val("a5"), a_kv.mod_revision),
    )
    .await;
    assert!(
        a5.mod_revision > current,
        "revisions continue after compaction"
    );
    assert_eq!(next_events(&mut w, 1).await[0].kv, a5);
}

pub async fn delete_event_carries_prev(store: Arc<dyn Store>) {
    let p = prefix("delete_event");
    let k = format!("{p}k");
    let v1 = must("create", store.create(&k, val("v1"))).await;
    let v2 = must("update", store.update(&k, val("v2"), v1.mod_revision)).await;
    let mut w = must("watch", store.watch(&p, 0)).await;
    let d = must("delete", store.delete(&k, Some(v2.mod_revision))).await;
    assert_eq!(
        d,
        KeyValue {
            mod_revision: d.mod_revision,
            ..v2.clone()
        }
    );
    let events = next_events(&mut w, 1).await;
    assert_eq!(
        events,
        vec![Event {
            kind: EventKind::Delete,
            kv: kv(&k, "", v1.create_revision, d.mod_revision),
            prev: Some(v2.clone()),
        }]
    );
}
