//! Objects every cluster has from its first start: the upstream default RBAC
//! policy (cluster-admin, admin, edit, view, system:discovery, ...).

use std::sync::Arc;

use corral_store::StoreError;
use serde_json::Value;

use crate::ApiServer;
use crate::encoding::{self, meta_str};
use crate::error::ApiResult;
use crate::handlers::write::now_rfc3339;

/// Create each bootstrap policy object that is missing. Existing ones are left
/// as the administrator may have changed them (upstream reconciles only those
/// annotated for auto-update; that reconciliation is not done yet).
pub async fn ensure_rbac_policy(api: &Arc<ApiServer>) -> ApiResult<()> {
    for mut obj in corral_apimachinery::rbac::bootstrap_policy() {
        let plural = match obj.get("kind").and_then(Value::as_str) {
            Some("ClusterRole") => "clusterroles",
            Some("ClusterRoleBinding") => "clusterrolebindings",
            Some("Role") => "roles",
            Some("RoleBinding") => "rolebindings",
            _ => continue,
        };
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        let namespace = meta_str(&obj, "namespace").map(str::to_string);
        let key = match &namespace {
            Some(ns) => format!("/registry/rbac.authorization.k8s.io/{plural}/{ns}/{name}"),
            None => format!("/registry/rbac.authorization.k8s.io/{plural}/{name}"),
        };
        if api.store.get(&key).await?.is_some() {
            continue;
        }
        let meta = encoding::meta_mut(&mut obj)?;
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        match api.store.create(&key, encoding::encode_stored(&obj)?).await {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
