//! Single-key writes, their errors and revisions; counting.

use std::sync::Arc;

use super::{assert_increasing, kv, must, prefix, val};
use crate::{Store, StoreError};

/// Every successful write gets a new revision above all earlier ones; failed
/// writes do not consume one.
pub async fn revisions_strictly_increase(store: Arc<dyn Store>) {
    let p = prefix("revisions");
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    let r0 = must("current_revision", store.current_revision()).await;
    let c1 = must("create a", store.create(&a, val("1"))).await;
    assert_eq!(
        c1.create_revision, c1.mod_revision,
        "a create's revisions agree"
    );
    let u1 = must("update a", store.update(&a, val("2"), c1.mod_revision)).await;
    assert_eq!(
        u1.create_revision, c1.create_revision,
        "update keeps create_revision"
    );
    let c2 = must("create b", store.create(&b, val("1"))).await;
    let d1 = must("delete a", store.delete(&a, Some(u1.mod_revision))).await;
    let revs = [
        r0,
        c1.mod_revision,
        u1.mod_revision,
        c2.mod_revision,
        d1.mod_revision,
    ];
    assert_increasing(&revs, "create/update/create/delete");
    assert_eq!(
        must("current_revision", store.current_revision()).await,
        d1.mod_revision
    );

    assert!(
        store.create(&b, val("x")).await.is_err(),
        "duplicate create must fail"
    );
    assert!(
        store.update(&b, val("x"), 1).await.is_err(),
        "stale update must fail"
    );
    assert!(
        store.delete(&a, None).await.is_err(),
        "delete of a missing key must fail"
    );
    assert_eq!(
        must("current_revision", store.current_revision()).await,
        d1.mod_revision,
        "failed writes must not consume revisions"
    );
    let c3 = must("recreate a", store.create(&a, val("3"))).await;
    assert_eq!(
        c3.mod_revision,
        d1.mod_revision + 1,
        "the next write takes the next revision"
    );
    assert_eq!(
        c3.create_revision, c3.mod_revision,
        "a re-create starts a new life"
    );
}

pub async fn create_existing_is_already_exists(store: Arc<dyn Store>) {
    let k = format!("{}k", prefix("already_exists"));
    let first = must("create", store.create(&k, val("one"))).await;
    match store.create(&k, val("two")).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, k),
        other => panic!("second create: expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        must("get", store.get(&k)).await,
        Some(first.clone()),
        "value unchanged"
    );
    must("delete", store.delete(&k, None)).await;
    let again = must("create after delete", store.create(&k, val("three"))).await;
    assert!(again.create_revision > first.create_revision);
}

/// Compare-and-swap: a stale expected revision is refused with the current value.
pub async fn stale_revision_conflicts(store: Arc<dyn Store>) {
    let k = format!("{}k", prefix("conflict"));
    let v1 = must("create", store.create(&k, val("v1"))).await;
    let v2 = must("update", store.update(&k, val("v2"), v1.mod_revision)).await;
    match store.update(&k, val("v3"), v1.mod_revision).await {
        Err(StoreError::Conflict { key, current }) => {
            assert_eq!(key, k);
            assert_eq!(
                current.as_deref(),
                Some(&v2),
                "conflict carries the current value"
            );
        }
        other => panic!("stale update: expected Conflict, got {other:?}"),
    }
    match store.delete(&k, Some(v1.mod_revision)).await {
        Err(StoreError::Conflict { key, current }) => {
            assert_eq!(key, k);
            assert_eq!(
                current.as_deref(),
                Some(&v2),
                "conflict carries the current value"
            );
        }
        other => panic!("stale delete: expected Conflict, got {other:?}"),
    }
    assert_eq!(
        must("get", store.get(&k)).await,
        Some(v2.clone()),
        "refused writes change nothing"
    );
    let gone = must("delete", store.delete(&k, Some(v2.mod_revision))).await;
    assert_eq!(gone.value, v2.value);
}

pub async fn missing_key_not_found(store: Arc<dyn Store>) {
    let k = format!("{}k", prefix("not_found"));
    match store.update(&k, val("x"), 1).await {
        Err(StoreError::NotFound { key }) => assert_eq!(key, k),
        other => panic!("update missing: expected NotFound, got {other:?}"),
    }
    for expected in [None, Some(1)] {
        match store.delete(&k, expected).await {
            Err(StoreError::NotFound { key }) => assert_eq!(key, k),
            other => panic!("delete missing ({expected:?}): expected NotFound, got {other:?}"),
        }
    }
    let c = must("create", store.create(&k, val("x"))).await;
    must("delete", store.delete(&k, None)).await;
    match store.update(&k, val("y"), c.mod_revision).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("update deleted: expected NotFound, got {other:?}"),
    }
    assert_eq!(must("get", store.get(&k)).await, None);
}

pub async fn get_latest(store: Arc<dyn Store>) {
    let k = format!("{}k", prefix("get"));
    assert_eq!(must("get missing", store.get(&k)).await, None);
    let c = must("create", store.create(&k, val("v1"))).await;
    assert_eq!(c, kv(&k, "v1", c.mod_revision, c.mod_revision));
    assert_eq!(must("get", store.get(&k)).await, Some(c.clone()));
    let u = must("update", store.update(&k, val("v2"), c.mod_revision)).await;
    assert_eq!(u, kv(&k, "v2", c.create_revision, u.mod_revision));
    assert_eq!(must("get", store.get(&k)).await, Some(u.clone()));
    let d = must("delete", store.delete(&k, None)).await;
    assert_eq!(d.value, u.value, "delete returns the deleted value");
    assert_eq!(d.create_revision, c.create_revision);
    assert!(
        d.mod_revision > u.mod_revision,
        "delete returns the deletion's revision"
    );
    assert_eq!(
        must("current_revision", store.current_revision()).await,
        d.mod_revision
    );
    assert_eq!(must("get deleted", store.get(&k)).await, None);
}

pub async fn count_prefix(store: Arc<dyn Store>) {
    let p = prefix("count");
    assert_eq!(must("count", store.count(&p)).await, 0);
    for i in 0..5 {
        must("create", store.create(&format!("{p}x/{i}"), val("v"))).await;
    }
    for i in 0..2 {
        must("create", store.create(&format!("{p}y/{i}"), val("v"))).await;
    }
    must("create", store.create(&format!("{p}xy"), val("v"))).await;
    assert_eq!(must("count", store.count(&format!("{p}x/"))).await, 5);
    assert_eq!(must("count", store.count(&p)).await, 8);
    must("delete", store.delete(&format!("{p}x/3"), None)).await;
    assert_eq!(must("count", store.count(&format!("{p}x/"))).await, 4);
    assert_eq!(must("count", store.count(&format!("{p}z/"))).await, 0);
}
