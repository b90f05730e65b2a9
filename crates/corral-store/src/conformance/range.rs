//! Range reads: prefixes, pagination, historic and future revisions.

use std::sync::Arc;

use super::{must, prefix, range_all, val};
use crate::{KeyValue, RangeRequest, Revision, Store, StoreError};

pub async fn range_prefix_isolation(store: Arc<dyn Store>) {
    let p = prefix("range_prefix");
    for k in ["a/2", "ab/x", "a", "a/1", "b/1", "a/sub/3", "a0"] {
        must("create", store.create(&format!("{p}{k}"), val(k))).await;
    }
    let keys: Vec<String> = range_all(&*store, &format!("{p}a/"), None)
        .await
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    let want: Vec<String> = ["a/1", "a/2", "a/sub/3"]
        .iter()
        .map(|k| format!("{p}{k}"))
        .collect();
    assert_eq!(
        keys, want,
        "prefix {p}a/ must match exactly its own keys, in order"
    );
    let all = range_all(&*store, &p, None).await;
    assert_eq!(all.len(), 7);
    for kv in &all {
        assert_eq!(
            kv.value,
            val(kv.key.trim_start_matches(&p)),
            "value of {}",
            kv.key
        );
    }
}

async fn pages(
    store: &dyn Store,
    p: &str,
    limit: usize,
    revision: Option<Revision>,
) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = Vec::new();
    let mut start_after = None;
    loop {
        let resp = must(
            "range page",
            store.range(RangeRequest {
                prefix: p.to_string(),
                start_after: start_after.clone(),
                revision,
                limit: Some(limit),
            }),
        )
        .await;
        assert!(resp.kvs.len() <= limit, "page larger than the limit");
        if let Some(r) = revision {
            assert_eq!(
                resp.revision, r,
                "a page is served at the requested revision"
            );
        }
        out.extend(resp.kvs.iter().cloned());
        if !resp.more {
            return out;
        }
        assert_eq!(resp.kvs.len(), limit, "a page with more must be full");
        start_after = resp.kvs.last().map(|kv| kv.key.clone());
    }
}

/// limit + start_after visit every key exactly once, in key order, with `more` exact.
pub async fn range_pagination(store: Arc<dyn Store>) {
    let p = prefix("pagination");
    let mut names: Vec<String> = (0..25).map(|i| format!("{p}k{i}")).collect();
    names.reverse(); // insertion order differs from key order
    for name in &names {
        must("create", store.create(name, val(name.clone()))).await;
    }
    must(
        "create outside",
        store.create(&format!("{p}j"), val("not under")),
    )
    .await;
    let sub = format!("{p}k");
    let mut sorted = names.clone();
    sorted.sort();
    let first = must(
        "range",
        store.range(RangeRequest {
            prefix: sub.clone(),
            limit: Some(4),
            ..Default::default()
        }),
    )
    .await;
    assert!(first.more);
    let at = first.revision;
    assert_eq!(at, must("current_revision", store.current_revision()).await);
    for limit in [1, 4, 7, 25, 100] {
        let keys: Vec<String> = pages(&*store, &sub, limit, None)
            .await
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        assert_eq!(keys, sorted, "paging with limit {limit}");
    }
    let exact = must(
        "range",
        store.range(RangeRequest {
            prefix: sub.clone(),
            limit: Some(25),
            ..Default::default()
        }),
    )
    .await;
    assert!(!exact.more, "limit == matches must not report more");
    let unlimited = must(
        "range",
        store.range(RangeRequest {
            prefix: sub.clone(),
            limit: Some(0),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(unlimited.kvs.len(), 25, "limit 0 means no limit");

    // Continuing at the first page's revision ignores later changes.
    let snapshot = pages(&*store, &sub, 4, None).await;
    must(
        "create early key",
        store.create(&format!("{p}k00"), val("new")),
    )
    .await;
    must("delete a key", store.delete(&sorted[20], None)).await;
    let target = &snapshot[10];
    must(
        "update a key",
        store.update(&target.key, val("changed"), target.mod_revision),
    )
    .await;
    assert_eq!(
        pages(&*store, &sub, 4, Some(at)).await,
        snapshot,
        "pages at a fixed revision"
    );
}

/// A historic range shows the state at that revision.
pub async fn range_historic(store: Arc<dyn Store>) {
    let p = prefix("historic");
    let (a, b, c) = (format!("{p}a"), format!("{p}b"), format!("{p}c"));
    let a1 = must("create a", store.create(&a, val("a1"))).await;
    let b1 = must("create b", store.create(&b, val("b1"))).await;
    let a2 = must("update a", store.update(&a, val("a2"), a1.mod_revision)).await;
    let bd = must("delete b", store.delete(&b, None)).await;
    let c1 = must("create c", store.create(&c, val("c1"))).await;

    let at = |r| range_all(&*store, &p, Some(r));
    assert_eq!(
        at(a1.mod_revision).await,
        vec![a1.clone()],
        "before b and c existed"
    );
    assert_eq!(
        at(b1.mod_revision).await,
        vec![a1.clone(), b1.clone()],
        "deleted-later b is there"
    );
    assert_eq!(
        at(a2.mod_revision).await,
        vec![a2.clone(), b1.clone()],
        "old value replaced"
    );
    assert_eq!(
        at(bd.mod_revision).await,
        vec![a2.clone()],
        "b gone at its deletion"
    );
    assert_eq!(at(c1.mod_revision).await, vec![a2.clone(), c1.clone()]);
    assert_eq!(
        range_all(&*store, &p, None).await,
        vec![a2.clone(), c1.clone()]
    );

    let resp = must(
        "range",
        store.range(RangeRequest {
            prefix: p.clone(),
            revision: Some(b1.mod_revision),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(
        resp.revision, b1.mod_revision,
        "served at the requested revision"
    );
    let latest = must(
        "range",
        store.range(RangeRequest {
            prefix: p.clone(),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(
        latest.revision, c1.mod_revision,
        "latest reads report the current revision"
    );
    let paged = must(
        "range",
        store.range(RangeRequest {
            prefix: p.clone(),
            revision: Some(b1.mod_revision),
            limit: Some(1),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(
        (paged.kvs, paged.more),
        (vec![a1.clone()], true),
        "historic limit"
    );
}

pub async fn range_future_revision(store: Arc<dyn Store>) {
    let p = prefix("future");
    let w = must("create", store.create(&format!("{p}k"), val("v"))).await;
    let current = must("current_revision", store.current_revision()).await;
    assert_eq!(current, w.mod_revision);
    for ahead in [1, 100] {
        match store
            .range(RangeRequest {
                prefix: p.clone(),
                revision: Some(current + ahead),
                ..Default::default()
            })
            .await
        {
            Err(StoreError::FutureRevision {
                requested,
                current: c,
            }) => {
                assert_eq!((requested, c), (current + ahead, current));
            }
            other => panic!("range ahead by {ahead}: expected FutureRevision, got {other:?}"),
        }
    }
}
