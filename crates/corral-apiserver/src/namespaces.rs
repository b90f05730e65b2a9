//! Namespace lifecycle inside the API server: the system namespaces exist from
//! the first start, and content cannot be created in a missing or terminating
//! namespace.
//!
//! Deleting a namespace only marks it (see `handlers::delete`); emptying it is
//! the namespace controller's job in `corral-kube`, through the API like any
//! client, and the namespace goes once that controller has removed the
//! `kubernetes` finalizer with `PUT .../finalize`.

use std::sync::Arc;

use corral_store::StoreError;
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
