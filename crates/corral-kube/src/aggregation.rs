//! ClusterRole aggregation: a ClusterRole with an `aggregationRule` holds the
//! rules of every ClusterRole its label selectors match, kept current as they
//! change (upstream's clusterrole-aggregation controller).

use futures::StreamExt;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use crate::{Context, ignore_conflict};

pub async fn run(ctx: Context) -> Result<(), kube::Error> {
    let api: Api<ClusterRole> = Api::all(ctx.client.clone());
    let (reader, writer) = reflector::store::<ClusterRole>();
    let mut events = reflector::reflector(
        writer,
        watcher::watcher(api.clone(), watcher::Config::default()),
    )
    .boxed();
    let mut ready = false;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| kube::Error::Service(Box::new(e)))?;
        match event {
            Event::InitDone => ready = true,
            Event::Init | Event::InitApply(_) => continue,
            Event::Apply(_) | Event::Delete(_) => {}
        }
        if !ready {
            continue;
        }
        // Any change may affect any aggregated role; there are few of them.
        let all: Vec<Value> = reader
            .state()
            .iter()
            .filter_map(|r| serde_json::to_value(r.as_ref()).ok())
            .collect();
        for role in &all {
            if role.get("aggregationRule").is_none_or(Value::is_null) {
                continue;
            }
            let wanted: Vec<Value> = corral_apimachinery::rbac::aggregate_rules(role, &all)
                .iter()
                .map(|r| r.to_json())
                .collect();
            let current = role.get("rules").cloned().unwrap_or(Value::Array(vec![]));
            let current = if current.is_null() {
                Value::Array(vec![])
            } else {
                current
            };
            if current == Value::Array(wanted.clone()) {
                continue;
            }
            let Some(name) = role
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let patch = serde_json::json!({"rules": wanted});
            ignore_conflict(
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await,
            )?;
        }
    }
    Ok(())
}
