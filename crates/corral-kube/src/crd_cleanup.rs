//! CustomResourceDefinition deletion (upstream's `crd-finalizer`): a CRD being
//! deleted keeps the `customresourcecleanup.apiextensions.k8s.io` finalizer
//! until every object of its kind is gone, with a `Terminating` condition
//! saying how far it got. The API server keeps serving the kind meanwhile
//! (refusing creates), so clients and finalizers of those objects can finish.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};

use crate::{Context, ignore_conflict};

pub const FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

pub async fn run(ctx: Context) -> Result<(), kube::Error> {
    let api: Api<CustomResourceDefinition> = Api::all(ctx.client.clone());
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    // CRDs whose objects still exist are retried on a timer, not only on events.
    let mut pending: BTreeMap<String, CustomResourceDefinition> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { return Ok(()) };
                match event.map_err(|e| kube::Error::Service(Box::new(e)))? {
                    Event::Apply(crd) | Event::InitApply(crd) => {
                        let name = crd.metadata.name.clone().unwrap_or_default();
                        if needs_cleanup(&crd) {
                            pending.insert(name, crd);
                        } else {
                            pending.remove(&name);
                        }
                    }
                    Event::Delete(crd) => {
                        pending.remove(&crd.metadata.name.clone().unwrap_or_default());
                    }
                    Event::Init | Event::InitDone => {}
                }
            }
            _ = tick.tick() => {}
        }
        let names: Vec<String> = pending.keys().cloned().collect();
        for name in names {
            let Some(crd) = pending.get(&name).cloned() else {
                continue;
            };
            match cleanup(&api, &ctx.client, &crd).await {
                Ok(true) => {
                    pending.remove(&name);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(crd = %name, error = %e, "custom resource cleanup will be retried")
                }
            }
        }
    }
}

fn needs_cleanup(crd: &CustomResourceDefinition) -> bool {
    crd.metadata.deletion_timestamp.is_some()
        && crd
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

/// One pass: delete the remaining objects; drop the finalizer once none are left.
/// `Ok(true)` when the CRD no longer needs this controller.
async fn cleanup(
    api: &Api<CustomResourceDefinition>,
    client: &kube::Client,
    crd: &CustomResourceDefinition,
) -> Result<bool, kube::Error> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let Some(version) = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .or_else(|| crd.spec.versions.first())
    else {
        remove_finalizer(api, crd).await?;
        return Ok(true);
    };
    let gvk = GroupVersionKind::gvk(&crd.spec.group, &version.name, &crd.spec.names.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
    let objects: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let list = objects.list_metadata(&ListParams::default()).await?;
    if list.items.is_empty() {
        set_terminating(
            api,
            &name,
            "InstanceDeletionCompleted",
            "removed all instances",
        )
        .await?;
        remove_finalizer(api, crd).await?;
        return Ok(true);
    }
    set_terminating(
        api,
        &name,
        "InstanceDeletionInProgress",
        "CustomResource deletion is in progress",
    )
    .await?;
    let mut delete = Vec::new();
    for item in &list.items {
        if item.metadata.deletion_timestamp.is_some() {
            continue; // waiting for its own finalizers
        }
        let Some(obj_name) = item.metadata.name.clone() else {
            continue;
        };
        let scoped: Api<DynamicObject> = match &item.metadata.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        delete.push(async move {
            match scoped.delete(&obj_name, &DeleteParams::background()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(e),
            }
        });
    }
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(delete)
        .buffer_unordered(32)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(false)
}

async fn set_terminating(
    api: &Api<CustomResourceDefinition>,
    name: &str,
    reason: &str,
    message: &str,
) -> Result<(), kube::Error> {
    let current = api.get_status(name).await?;
    let conditions = current
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    if conditions
        .iter()
        .any(|c| c.type_ == "Terminating" && c.reason.as_deref() == Some(reason))
    {
        return Ok(());
    }
    let mut conditions: Vec<Value> = conditions
        .into_iter()
        .filter(|c| c.type_ != "Terminating")
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    conditions.push(json!({
        "type": "Terminating",
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
    }));
    let patch = json!({"status": {"conditions": conditions}});
    ignore_conflict(
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ()),
    )
}

async fn remove_finalizer(
    api: &Api<CustomResourceDefinition>,
    crd: &CustomResourceDefinition,
) -> Result<(), kube::Error> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let remaining: Vec<String> = crd
        .metadata
        .finalizers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    // A JSON patch with a resourceVersion test: another writer's finalizer change is not lost.
    let patch = json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": crd.metadata.resource_version},
        {"op": "replace", "path": "/metadata/finalizers", "value": remaining},
    ]);
    let patch: json_patch::Patch = match serde_json::from_value(patch) {
        Ok(p) => p,
        Err(e) => return Err(kube::Error::SerdeError(e)),
    };
    match api
        .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 || e.code == 422 => Ok(()),
        Err(e) => Err(e),
    }
}
