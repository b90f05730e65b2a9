//! Authorization: RBAC with upstream semantics, over an in-memory index of
//! the RBAC objects kept current from store watches. `system:masters` is
//! allowed everything before RBAC is asked, as upstream's privileged group.

use std::sync::{Arc, RwLock};

use corral_apimachinery::rbac::{Attributes, Decision, PolicyRule, RbacIndex};
use corral_store::{Event, EventKind, KeyValue, Store, StoreError};
use serde_json::Value;

use crate::authn::{MASTERS_GROUP, UserInfo};
use crate::error::{ApiError, Target};

/// All four RBAC kinds live under one prefix, so one watch keeps the index in
/// revision order and a re-list rebuilds it consistently.
const RBAC_PREFIX: &str = "/registry/rbac.authorization.k8s.io/";

/// The kind stored under `/registry/rbac.authorization.k8s.io/<resource>/...`.
fn kind_of_key(key: &str) -> Option<(&'static str, &str)> {
    let rest = key.strip_prefix(RBAC_PREFIX)?;
    let (resource, rest) = rest.split_once('/')?;
    let kind = match resource {
        "roles" => "Role",
        "clusterroles" => "ClusterRole",
        "rolebindings" => "RoleBinding",
        "clusterrolebindings" => "ClusterRoleBinding",
        _ => return None,
    };
    Some((kind, rest))
}

#[derive(Default)]
pub struct Authorizer {
    index: RwLock<RbacIndex>,
}

impl Authorizer {
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        if attrs.user.groups.iter().any(|g| g == MASTERS_GROUP) {
            return Decision::Allow {
                reason: "member of system:masters".into(),
            };
        }
        match self.index.read() {
            Ok(index) => index.authorize(attrs),
            Err(p) => p.into_inner().authorize(attrs),
        }
    }

    pub fn with_index<T>(&self, f: impl FnOnce(&RbacIndex) -> T) -> T {
        match self.index.read() {
            Ok(index) => f(&index),
            Err(p) => f(&p.into_inner()),
        }
    }

    fn update(&self, f: impl FnOnce(&mut RbacIndex)) {
        match self.index.write() {
            Ok(mut index) => f(&mut index),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Load every RBAC object, then follow changes in the background.
    /// Returns once the index reflects the store (so the server can report ready).
    pub async fn start(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), StoreError> {
        crate::mirror::start(store, RBAC_PREFIX, self.clone(), shutdown).await
    }
}

impl crate::mirror::Sink for Authorizer {
    fn reset(&self, kvs: Vec<KeyValue>) {
        let objects: Vec<Value> = kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
            .collect();
        let fresh = RbacIndex::from_objects(objects.iter());
        self.update(|index| *index = fresh);
    }

    fn apply(&self, events: &[Event]) {
        self.update(|index| {
            for ev in events {
                match ev.kind {
                    EventKind::Put => {
                        if let Ok(v) = serde_json::from_slice::<Value>(&ev.kv.value) {
                            index.upsert(&v);
                        }
                    }
                    EventKind::Delete => {
                        if let Some((kind, rest)) = kind_of_key(&ev.kv.key) {
                            let (ns, name) = rest.rsplit_once('/').unwrap_or(("", rest));
                            index.remove(kind, ns, name);
                        }
                    }
                }
            }
        });
    }
}

/// The 403 upstream returns when RBAC says no.
pub fn forbidden(attrs: &Attributes, reason: &str) -> ApiError {
    let user = &attrs.user.name;
    let suffix = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    if !attrs.resource_request {
        return ApiError::Forbidden {
            target: Target::default(),
            message: format!(
                "forbidden: User {user:?} cannot {} path {:?}{suffix}",
                attrs.verb, attrs.path
            ),
            cause: None,
        };
    }
    let resource = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let target = Target::new(&attrs.api_group, &attrs.resource, &attrs.name);
    let subject = if attrs.name.is_empty() {
        target.qualified()
    } else {
        format!("{} {:?}", target.qualified(), attrs.name)
    };
    let scope = if attrs.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", attrs.namespace)
    };
    ApiError::Forbidden {
        target,
        message: format!(
            "{subject} is forbidden: User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}{suffix}",
            attrs.verb, attrs.api_group
        ),
        cause: None,
    }
}

/// Refuse a Role/ClusterRole (or a binding's role) granting what `user` does not hold.
pub fn escalation_error(target: Target, user: &UserInfo, detail: &str) -> ApiError {
    ApiError::Forbidden {
        message: format!(
            "{} {:?} is forbidden: user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{detail}",
            target.qualified(),
            target.name,
            user.name,
            user.groups
        ),
        target,
        cause: None,
    }
}

/// The rules of a Role/ClusterRole object.
pub fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().filter_map(PolicyRule::from_json).collect())
        .unwrap_or_default()
}
