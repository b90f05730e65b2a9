//! The Cluster controller: registration tokens and the cleanup finalizer
//! for live clusters; for deleted ones, removal of everything Corral put
//! into the cluster, then of the token and credential, then the finalizer.
//!
//! It scans the in-memory view once a second (cheap: no store reads while
//! nothing needs doing) and runs each removal as its own task, so one
//! unreachable cluster never delays another.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use super::ClusterPlane;
use super::downstream::{Downstream, DownstreamError};
use super::manifest::{self, AGENT_NAMESPACE};
use super::types::{
    CLEANUP_FINALIZER, ClusterEntry, MANAGEMENT_NAMESPACE, Mode, credential_secret_name,
};
use crate::client::{ApiCallError, LocalClient};
use crate::crds::{API_VERSION, CLUSTER_REGISTRATION_TOKENS, CLUSTERS};
use crate::proxy::Dialer;

/// The identity Corral uses downstream for removal: a member of
/// `system:masters`, by impersonation (the agent's RBAC allows it), so that
/// deleting the agent's own RBAC does not cut the removal short.
const CLEANUP_IMPERSONATION: [(&str, &str); 2] = [
    ("Impersonate-User", "corral:cleanup"),
    ("Impersonate-Group", "system:masters"),
];

pub async fn run(plane: Arc<ClusterPlane>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let removing: Arc<Mutex<HashSet<String>>> = Arc::default();
    // `direct` clusters whose downstream binding this replica has installed
    // (by uid: a re-created cluster of the same name installs again).
    let installed: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let Ok(client) = plane.client() else { continue };
        for cluster in plane.clusters.find(|_| true) {
            if cluster.deleting {
                if cluster.finalizers.iter().any(|f| f == CLEANUP_FINALIZER)
                    && claim(&removing, &cluster.name)
                {
                    let (plane, client, removing) =
                        (plane.clone(), client.clone(), removing.clone());
                    tokio::spawn(async move {
                        if let Err(e) = remove(&plane, &client, &cluster).await {
                            tracing::info!(cluster = %cluster.name, error = %e, "cluster removal will be retried");
                        }
                        removing
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&cluster.name);
                    });
                }
                continue;
            }
            if let Err(e) = prepare(&plane, &client, &cluster).await {
                tracing::debug!(cluster = %cluster.name, error = %e, "cluster preparation will be retried");
            }
            let has_finalizer = cluster.finalizers.iter().any(|f| f == CLEANUP_FINALIZER);
            if cluster.mode == Mode::Direct && has_finalizer && claim(&installed, &cluster.uid) {
                let (plane, installed) = (plane.clone(), installed.clone());
                tokio::spawn(async move {
                    if let Err(e) = install_direct(&plane, &cluster).await {
                        tracing::info!(cluster = %cluster.name, error = %e, "installing the admins binding will be retried");
                        installed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&cluster.uid);
                    }
                });
            }
        }
    }
}

fn claim(set: &Mutex<HashSet<String>>, name: &str) -> bool {
    set.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string())
}

/// Finalizer first (so nothing is created downstream without it), then the
/// registration token.
async fn prepare(
    plane: &ClusterPlane,
    client: &LocalClient,
    cluster: &ClusterEntry,
) -> Result<(), ApiCallError> {
    if !cluster.finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        edit_finalizers(client, &cluster.name, |f| f.push(CLEANUP_FINALIZER.into())).await?;
        return Ok(());
    }
    if cluster.mode != Mode::Agent {
        return Ok(());
    }
    ensure_registration(plane, client, cluster).await
}

/// A `direct` cluster gets the one object the manifest would have given it
/// for the proxy: the binding of Corral's cluster admins to `cluster-admin`.
async fn install_direct(plane: &ClusterPlane, cluster: &ClusterEntry) -> Result<(), RemovalError> {
    let Some(target) = plane.directory().target_of(&cluster.name) else {
        return Ok(());
    };
    let dialer = plane.dialer();
    let mut d = Downstream::connect(&*dialer, &cluster.name, &target).await?;
    let binding = manifest::cluster_admins_binding(&cluster.name);
    let path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    let reply = d.call(Method::POST, path, Some(&binding), &[]).await?;
    if reply.status.is_success() || reply.status == http::StatusCode::CONFLICT {
        return Ok(());
    }
    Err(DownstreamError::Status {
        status: reply.status.as_u16(),
        path: path.into(),
        message: reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
    .into())
}

async fn ensure_registration(
    plane: &ClusterPlane,
    client: &LocalClient,
    cluster: &ClusterEntry,
) -> Result<(), ApiCallError> {
    match plane.registrations.get(&cluster.name) {
        None => {
            let crt = json!({
                "apiVersion": API_VERSION,
                "kind": "ClusterRegistrationToken",
                "metadata": {
                    "name": cluster.name,
                    "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Cluster",
                        "name": cluster.name, "uid": cluster.uid}],
                },
                "spec": {"clusterName": cluster.name},
            });
            match client.create(CLUSTER_REGISTRATION_TOKENS, &crt).await {
                Ok(created) => write_token(plane, client, &cluster.name, &created).await,
                Err(e) if e.is_conflict() => Ok(()),
                Err(e) => Err(e),
            }
        }
        Some(reg) if reg.token.is_empty() => {
            let path = format!("{CLUSTER_REGISTRATION_TOKENS}/{}", cluster.name);
            match client.get(&path).await? {
                Some(current) => write_token(plane, client, &cluster.name, &current).await,
                None => Ok(()),
            }
        }
        Some(_) => Ok(()),
    }
}

/// The token goes into status with the object's resourceVersion as a
/// precondition: when two replicas race, one token wins and the other
/// write fails (409) instead of replacing it.
async fn write_token(
    plane: &ClusterPlane,
    client: &LocalClient,
    name: &str,
    current: &Value,
) -> Result<(), ApiCallError> {
    let secret: [u8; 32] = rand::random();
    let token: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let url = format!(
        "{}{}{token}.yaml",
        plane.server_url(None),
        super::endpoints::IMPORT_PREFIX
    );
    let patch = json!({
        "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
        "status": {
            "token": token,
            "manifestUrl": url,
            "command": format!("curl -sfL --cacert <corral-ca.crt> {url} | kubectl apply -f -"),
        },
    });
    let path = format!("{CLUSTER_REGISTRATION_TOKENS}/{name}/status");
    match client.merge_patch(&path, &patch).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}

async fn edit_finalizers(
    client: &LocalClient,
    name: &str,
    edit: impl FnOnce(&mut Vec<Value>),
) -> Result<(), ApiCallError> {
    let path = format!("{CLUSTERS}/{name}");
    let Some(mut obj) = client.get(&path).await? else {
        return Ok(());
    };
    let mut finalizers = obj["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    edit(&mut finalizers);
    obj["metadata"]["finalizers"] = Value::Array(finalizers);
    match client.replace(&path, &obj).await {
        Ok(_) => Ok(()),
        // Someone else changed it; the next scan sees the new state.
        Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
enum RemovalError {
    #[error("waiting for the agent of cluster {0:?} to connect to this replica")]
    NoSession(String),
    #[error(transparent)]
    Downstream(#[from] DownstreamError),
    #[error(transparent)]
    Api(#[from] ApiCallError),
}

async fn remove(
    plane: &ClusterPlane,
    client: &LocalClient,
    cluster: &ClusterEntry,
) -> Result<(), RemovalError> {
    let name = &cluster.name;
    let target = plane
        .directory()
        .target_of(name)
        .filter(|_| !cluster.skip_cleanup);
    match (cluster.mode, target) {
        // The one object Corral put into a `direct` cluster.
        (Mode::Direct, Some(target)) => {
            let dialer = plane.dialer();
            let mut d = Downstream::connect(&*dialer, name, &target).await?;
            let path = format!(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{}",
                manifest::CLUSTER_ADMINS_BINDING
            );
            d.expect(Method::DELETE, &path, None, &[], true).await?;
        }
        (Mode::Agent, Some(target)) => {
            if !plane.tunnel.is_connected(name) {
                return Err(RemovalError::NoSession(name.clone()));
            }
            let dialer = plane.dialer();
            tokio::time::timeout(
                Duration::from_secs(60),
                clean_downstream(&*dialer, name, &target),
            )
            .await
            .map_err(|_| DownstreamError::Unreachable("removal timed out after 60 s".into()))??;
            tracing::info!(cluster = %name, "removed Corral's objects from the cluster");
        }
        // Never registered, or told to skip: nothing to do downstream.
        (_, None) => {}
    }
    plane.tunnel.disconnect(name);
    let crt = format!("{CLUSTER_REGISTRATION_TOKENS}/{name}");
    client.delete(&crt).await?;
    let secret = format!(
        "/api/v1/namespaces/{MANAGEMENT_NAMESPACE}/secrets/{}",
        credential_secret_name(name)
    );
    client.delete(&secret).await?;
    edit_finalizers(client, name, |f| f.retain(|v| v != CLEANUP_FINALIZER)).await?;
    tracing::info!(cluster = %name, "cluster removed");
    Ok(())
}

/// Deletes the agent's namespace; its cluster-scoped RBAC is first made a
/// dependent of that namespace, so the cluster's own garbage collector
/// removes it after the namespace is gone — no request ever needs a
/// permission an earlier one removed.
async fn clean_downstream(
    dialer: &dyn Dialer,
    cluster: &str,
    target: &crate::proxy::ClusterTarget,
) -> Result<(), DownstreamError> {
    let mut d = Downstream::connect(dialer, cluster, target).await?;
    let ns_path = format!("/api/v1/namespaces/{AGENT_NAMESPACE}");
    let ns = d
        .expect(Method::GET, &ns_path, None, &CLEANUP_IMPERSONATION, true)
        .await?;
    let uid = ns.json()["metadata"]["uid"].as_str().map(str::to_string);
    let Some(uid) = uid.filter(|_| ns.status.is_success()) else {
        // The namespace is gone already: delete what may be left directly.
        for (prefix, object) in manifest::cluster_scoped_objects() {
            d.expect(
                Method::DELETE,
                &format!("{prefix}/{object}"),
                None,
                &CLEANUP_IMPERSONATION,
                true,
            )
            .await?;
        }
        return Ok(());
    };
    let owned = json!({"metadata": {"ownerReferences": [{
        "apiVersion": "v1", "kind": "Namespace", "name": AGENT_NAMESPACE, "uid": uid,
    }]}});
    let mut headers = CLEANUP_IMPERSONATION.to_vec();
    headers.push(("Content-Type", "application/merge-patch+json"));
    for (prefix, object) in manifest::cluster_scoped_objects() {
        d.expect(
            Method::PATCH,
            &format!("{prefix}/{object}"),
            Some(&owned),
            &headers,
            true,
        )
        .await?;
    }
    let delete =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
    d.expect(
        Method::DELETE,
        &ns_path,
        Some(&delete),
        &CLEANUP_IMPERSONATION,
        true,
    )
    .await?;
    Ok(())
}
