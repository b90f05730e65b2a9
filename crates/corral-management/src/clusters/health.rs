//! Cluster health: every `probe_interval`, and at once when an agent
//! connects, each cluster this replica can reach is probed (`/readyz`,
//! `/version`, the node count) and its `Connected`/`Ready` conditions,
//! version, node count and heartbeat are written. A session that ends sets
//! `Connected=False` immediately; a cluster whose session is on no replica
//! (its heartbeat is older than three intervals) is marked the same way.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_tunnel::SessionEvent;
use http::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Semaphore, broadcast};

use super::ClusterPlane;
use super::downstream::Downstream;
use super::types::{ClusterEntry, Mode};
use crate::client::ApiCallError;
use crate::crds::CLUSTERS;

/// Probes running at once (each holds one connection for a few calls).
const PARALLEL_PROBES: usize = 32;

pub async fn run(plane: Arc<ClusterPlane>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut events = plane.tunnel.subscribe();
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(PARALLEL_PROBES));
    let mut tick = tokio::time::interval(plane.options.probe_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                for cluster in plane.clusters.find(|c| !c.deleting) {
                    schedule(&plane, &in_flight, &permits, &cluster);
                }
            }
            event = events.recv() => match event {
                Ok(SessionEvent::Connected { cluster_id, .. }) => {
                    if let Some(cluster) = plane.clusters.get(&cluster_id) {
                        schedule(&plane, &in_flight, &permits, &cluster);
                    }
                }
                Ok(SessionEvent::Disconnected { cluster_id, reason, .. }) => {
                    if !plane.tunnel.is_connected(&cluster_id) {
                        let plane = plane.clone();
                        tokio::spawn(async move {
                            let message = format!("the agent's session ended: {reason}");
                            let observed = Observed::disconnected(message, plane.peer_url());
                            if let Err(e) = write_status(&plane, &cluster_id, observed).await {
                                tracing::debug!(cluster = %cluster_id, error = %e, "writing cluster status");
                            }
                        });
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = shutdown.changed() => return,
        }
    }
}

fn schedule(
    plane: &Arc<ClusterPlane>,
    in_flight: &Arc<Mutex<HashSet<String>>>,
    permits: &Arc<Semaphore>,
    cluster: &Arc<ClusterEntry>,
) {
    let name = cluster.name.clone();
    if cluster.mode == Mode::Agent && !plane.tunnel.is_connected(&name) {
        if cluster.connected && heartbeat_is_stale(cluster, plane.options.probe_interval) {
            let plane = plane.clone();
            tokio::spawn(async move {
                let observed =
                    Observed::disconnected("no agent session on any replica".into(), None);
                let _ = write_status(&plane, &name, observed).await;
            });
        }
        return;
    }
    if !in_flight
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.clone())
    {
        return;
    }
    let (plane, in_flight, permits) = (plane.clone(), in_flight.clone(), permits.clone());
    let mode = cluster.mode;
    tokio::spawn(async move {
        let _permit = permits.acquire_owned().await;
        let observed =
            match tokio::time::timeout(plane.options.probe_timeout, probe(&plane, &name, mode))
                .await
            {
                Ok(o) => o,
                Err(_) => Observed::unreachable(mode, "the probe timed out".into()),
            };
        if let Err(e) = write_status(&plane, &name, observed).await {
            tracing::debug!(cluster = %name, error = %e, "writing cluster status");
        }
        in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name);
    });
}

fn heartbeat_is_stale(cluster: &ClusterEntry, interval: Duration) -> bool {
    let Some(last) = cluster
        .last_heartbeat
        .as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    else {
        return true;
    };
    OffsetDateTime::now_utc() - last > interval * 3
}

/// What one probe found.
#[derive(Debug, Default)]
struct Observed {
    /// `(status, reason, message)` per condition type.
    conditions: Vec<(&'static str, &'static str, String, String)>,
    version: Option<String>,
    nodes: Option<u64>,
    endpoint: Option<String>,
    agent_version: Option<String>,
    heartbeat: bool,
    /// Record this replica as the session's holder (`Some(url)`), or clear
    /// the record if it still names `url` (a session here ended).
    replica: Option<(String, bool)>,
}

impl Observed {
    fn disconnected(message: String, own_url: Option<&str>) -> Observed {
        Observed {
            replica: own_url.map(|u| (u.to_string(), false)),
            conditions: vec![
                ("Connected", "False", "Disconnected".into(), message.clone()),
                ("Ready", "Unknown", "Disconnected".into(), message),
            ],
            ..Default::default()
        }
    }

    fn unreachable(mode: Mode, message: String) -> Observed {
        let reason = match mode {
            Mode::Agent => "TunnelError",
            Mode::Direct => "Unreachable",
        };
        Observed {
            conditions: vec![
                ("Connected", "False", reason.into(), message.clone()),
                ("Ready", "Unknown", reason.into(), message),
            ],
            ..Default::default()
        }
    }
}

async fn probe(plane: &ClusterPlane, name: &str, mode: Mode) -> Observed {
    let Some(target) = plane.directory().target_of(name) else {
        return Observed::unreachable(mode, "no credential for the cluster yet".into());
    };
    let dialer = plane.dialer();
    let mut d = match Downstream::connect(&*dialer, name, &target).await {
        Ok(d) => d,
        Err(e) => return Observed::unreachable(mode, e.to_string()),
    };
    let connected_reason = match mode {
        Mode::Agent => "AgentConnected",
        Mode::Direct => "Reachable",
    };
    let mut observed = Observed {
        endpoint: Some(target.address.clone()),
        heartbeat: true,
        ..Default::default()
    };
    observed
        .conditions
        .push(("Connected", "True", connected_reason.into(), String::new()));
    if mode == Mode::Agent {
        observed.replica = plane.peer_url().map(|u| (u.to_string(), true));
        observed.conditions.push((
            "AgentDeployed",
            "True",
            "AgentConnected".into(),
            String::new(),
        ));
        observed.agent_version = plane
            .credentials
            .get(&super::types::credential_secret_name(name))
            .map(|c| c.registration.agent_version.clone())
            .filter(|v| !v.is_empty());
    }
    match d.call(Method::GET, "/readyz", None, &[]).await {
        Ok(r) if r.status.is_success() => {
            observed
                .conditions
                .push(("Ready", "True", "ReadyzOK".into(), String::new()))
        }
        Ok(r) => {
            let body: String = String::from_utf8_lossy(&r.body).chars().take(300).collect();
            observed.conditions.push((
                "Ready",
                "False",
                "ReadyzFailed".into(),
                format!("/readyz answered {}: {body}", r.status.as_u16()),
            ));
        }
        Err(e) => {
            observed
                .conditions
                .push(("Ready", "Unknown", "ProbeFailed".into(), e.to_string()))
        }
    }
    if let Ok(r) = d.expect(Method::GET, "/version", None, &[], false).await {
        observed.version = r.json()["gitVersion"].as_str().map(str::to_string);
    }
    observed.nodes = count_nodes(&mut d).await;
    observed
}

/// `limit=1` and `remainingItemCount` when the server gives it; otherwise a
/// metadata-only list.
async fn count_nodes(d: &mut Downstream) -> Option<u64> {
    let first = d
        .expect(Method::GET, "/api/v1/nodes?limit=1", None, &[], false)
        .await
        .ok()?
        .json();
    let items = first["items"].as_array().map(Vec::len).unwrap_or(0) as u64;
    let more = first["metadata"]["continue"]
        .as_str()
        .is_some_and(|c| !c.is_empty());
    if !more {
        return Some(items);
    }
    if let Some(rest) = first["metadata"]["remainingItemCount"].as_u64() {
        return Some(items + rest);
    }
    let all = d
        .expect(
            Method::GET,
            "/api/v1/nodes",
            None,
            &[(
                "Accept",
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
            )],
            false,
        )
        .await
        .ok()?
        .json();
    all["items"].as_array().map(|a| a.len() as u64)
}

/// Merge the observation into the Cluster's status, keeping each
/// condition's `lastTransitionTime` while its status is unchanged.
async fn write_status(
    plane: &ClusterPlane,
    name: &str,
    observed: Observed,
) -> Result<(), ApiCallError> {
    let client = plane.client().map_err(|e| ApiCallError {
        status: 503,
        reason: "ServiceUnavailable".into(),
        message: e.to_string(),
    })?;
    let path = format!("{CLUSTERS}/{name}");
    let Some(current) = client.get(&path).await? else {
        return Ok(());
    };
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .format(&Rfc3339)
        .unwrap_or_default();
    let mut conditions: Vec<Value> = current["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (kind, status, reason, message) in &observed.conditions {
        let existing = conditions.iter_mut().find(|c| c["type"] == *kind);
        let transition = match &existing {
            Some(c) if c["status"] == *status => c["lastTransitionTime"].clone(),
            _ => json!(now),
        };
        let next = json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": transition, "lastUpdateTime": now,
        });
        match existing {
            Some(c) => *c = next,
            None => conditions.push(next),
        }
    }
    let mut status = json!({"conditions": conditions});
    if observed.heartbeat {
        status["lastHeartbeatTime"] = json!(now);
    }
    if let Some(v) = observed.version {
        status["kubernetesVersion"] = json!(v);
    }
    if let Some(n) = observed.nodes {
        status["nodeCount"] = json!(n);
    }
    if let Some(e) = observed.endpoint {
        status["apiEndpoint"] = json!(e);
    }
    if let Some(v) = observed.agent_version {
        status["agentVersion"] = json!(v);
    }
    let mut patch = json!({"status": status});
    match observed.replica {
        Some((url, true)) => patch["status"]["connectedReplica"] = json!(url),
        // Clear only our own record, and only if nobody changed the object
        // since we read it (a new session elsewhere may have just written).
        Some((url, false)) if current["status"]["connectedReplica"] == json!(url) => {
            patch["status"]["connectedReplica"] = Value::Null;
            patch["metadata"] = json!({"resourceVersion": current["metadata"]["resourceVersion"]});
        }
        _ => {}
    }
    match client.merge_patch(&format!("{path}/status"), &patch).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}
