//! Namespace lifecycle inside the API server: the system namespaces exist from
//! the first start, content cannot be created in a missing or terminating
//! namespace, and a deleted namespace is emptied before it disappears.
//!
//! Emptying runs here, against the store, because it is part of what the
//! `namespaces` resource promises; the richer upstream namespace controller
//! (status conditions, waiting for content finalizers) belongs to the
//! controllers layer and will replace the loop below.

use std::sync::Arc;
use std::time::Duration;

use corral_store::{RangeRequest, StoreError};
use serde_json::{Value, json};

use crate::ApiServer;
use crate::encoding::{self, meta_str};
use crate::error::{ApiError, ApiResult, Target};
use crate::handlers::write::now_rfc3339;

pub const SYSTEM_NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "corral-system",
];

fn namespace_key(name: &str) -> String {
    format!("/registry/core/namespaces/{name}")
}

pub fn new_namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": now_rfc3339(),
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

pub async fn ensure_system_namespaces(api: &Arc<ApiServer>) -> ApiResult<()> {
    for name in SYSTEM_NAMESPACES {
        let key = namespace_key(name);
        if api.store.get(&key).await?.is_some() {
            continue;
        }
        match api
            .store
            .create(&key, encoding::encode_stored(&new_namespace(name))?)
            .await
        {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Finish deletions that a previous run of the server started.
pub async fn resume_terminating(api: &Arc<ApiServer>) -> ApiResult<()> {
    let resp = api
        .store
        .range(RangeRequest {
            prefix: "/registry/core/namespaces/".into(),
            ..Default::default()
        })
        .await?;
    for kv in resp.kvs {
        let v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if encoding::meta(&v).contains_key("deletionTimestamp")
            && let Some(name) = meta_str(&v, "name")
        {
            spawn_finalizer(api.clone(), name.to_string());
        }
    }
    Ok(())
}

/// Which namespaces exist and whether they are terminating, mirrored from the
/// store so that every namespaced create does not pay a store round trip (on
/// etcd that is a consensus read). A name the mirror does not know yet (just
/// created) is looked up in the store.
#[derive(Default)]
pub struct NamespaceCache {
    terminating: std::sync::RwLock<std::collections::HashMap<String, bool>>,
}

fn is_terminating(v: &Value) -> bool {
    encoding::meta(v).contains_key("deletionTimestamp")
        || v.get("status")
            .and_then(|s| s.get("phase"))
            .and_then(Value::as_str)
            == Some("Terminating")
}

impl NamespaceCache {
    fn get(&self, name: &str) -> Option<bool> {
        self.terminating
            .read()
            .ok()
            .and_then(|m| m.get(name).copied())
    }

    fn with(&self, f: impl FnOnce(&mut std::collections::HashMap<String, bool>)) {
        match self.terminating.write() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

impl crate::mirror::Sink for NamespaceCache {
    fn reset(&self, kvs: Vec<corral_store::KeyValue>) {
        let fresh = kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
            .filter_map(|v| meta_str(&v, "name").map(|n| (n.to_string(), is_terminating(&v))))
            .collect();
        self.with(|m| *m = fresh);
    }

    fn apply(&self, events: &[corral_store::Event]) {
        self.with(|m| {
            for ev in events {
                let name = ev.kv.key.rsplit('/').next().unwrap_or("").to_string();
                match ev.kind {
                    corral_store::EventKind::Put => {
                        let v: Value = serde_json::from_slice(&ev.kv.value).unwrap_or(Value::Null);
                        m.insert(name, is_terminating(&v));
                    }
                    corral_store::EventKind::Delete => {
                        m.remove(&name);
                    }
                }
            }
        });
    }
}

fn terminating_error(namespace: &str, target: &Target) -> ApiError {
    ApiError::Forbidden {
        target: target.clone(),
        message: format!(
            "{} {:?} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            target.qualified(),
            target.name
        ),
        cause: Some(Box::new((
            "NamespaceTerminating".into(),
            format!("namespace {namespace} is being terminated"),
        ))),
    }
}

/// Namespaced content may only be created in a namespace that exists and is not terminating.
pub async fn check_allows_create(
    api: &Arc<ApiServer>,
    namespace: &str,
    target: &Target,
) -> ApiResult<()> {
    match api.namespaces.get(namespace) {
        Some(false) => return Ok(()),
        Some(true) => return Err(terminating_error(namespace, target)),
        None => {}
    }
    let kv = api
        .store
        .get(&namespace_key(namespace))
        .await?
        .ok_or_else(|| ApiError::NotFound(Target::new("", "namespaces", namespace)))?;
    let v: Value =
        serde_json::from_slice(&kv.value).map_err(|e| ApiError::Internal(e.to_string()))?;
    if is_terminating(&v) {
        return Err(terminating_error(namespace, target));
    }
    Ok(())
}

/// Empty a terminating namespace, then remove it. Idempotent; one task per namespace.
pub fn spawn_finalizer(api: Arc<ApiServer>, name: String) {
    {
        let mut running = match api.finalizing.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !running.insert(name.clone()) {
            return;
        }
    }
    tokio::spawn(async move {
        let mut shutdown = api.shutdown_signal();
        let mut delay = Duration::from_millis(50);
        loop {
            match finalize_once(&api, &name).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(namespace = %name, error = %e.message(), "namespace deletion will be retried")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => break,
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        if let Ok(mut running) = api.finalizing.lock() {
            running.remove(&name);
        }
    });
}

/// One pass: delete what is inside; remove the namespace once nothing is left. `Ok(true)` when done.
async fn finalize_once(api: &Arc<ApiServer>, name: &str) -> ApiResult<bool> {
    let mut remaining = 0usize;
    for def in api.registry().namespaced_storages() {
        let prefix = def.key_prefix(Some(name));
        let resp = api
            .store
            .range(RangeRequest {
                prefix,
                ..Default::default()
            })
            .await?;
        for kv in resp.kvs {
            let v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            let has_finalizers = encoding::meta(&v)
                .get("finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if has_finalizers {
                // Its owners must remove their finalizers first; mark it so they know.
                remaining += 1;
                if !encoding::meta(&v).contains_key("deletionTimestamp") {
                    let mut marked = v.clone();
                    if let Ok(meta) = encoding::meta_mut(&mut marked) {
                        meta.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
                        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                    }
                    let _ = api
                        .store
                        .update(&kv.key, encoding::encode_stored(&marked)?, kv.mod_revision)
                        .await;
                }
                continue;
            }
            match api.store.delete(&kv.key, Some(kv.mod_revision)).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(StoreError::Conflict { .. }) => remaining += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    if remaining > 0 {
        return Ok(false);
    }
    let key = namespace_key(name);
    let Some(kv) = api.store.get(&key).await? else {
        return Ok(true);
    };
    let mut ns: Value =
        serde_json::from_slice(&kv.value).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(f) = ns
        .get_mut("spec")
        .and_then(|s| s.get_mut("finalizers"))
        .and_then(Value::as_array_mut)
    {
        f.retain(|x| x.as_str() != Some("kubernetes"));
    }
    let spec_left = ns
        .get("spec")
        .and_then(|s| s.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let meta_left = encoding::meta(&ns)
        .get("finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let result = if spec_left || meta_left {
        api.store
            .update(&key, encoding::encode_stored(&ns)?, kv.mod_revision)
            .await
            .map(|_| ())
    } else {
        api.store
            .delete(&key, Some(kv.mod_revision))
            .await
            .map(|_| ())
    };
    match result {
        Ok(()) => Ok(!(spec_left || meta_left)),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(StoreError::NotFound { .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}
