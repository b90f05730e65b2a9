//! ResourceQuota status (upstream's resourcequota controller): every
//! unscoped quota gets `status.hard` = `spec.hard` and a `status.used`
//! recounted from the namespace's objects, with the same per-object usage
//! as the API server's quota admission (`corral_apiserver::quota`).
//!
//! When a namespace is recounted (all its quotas, one list per kind of
//! object they limit):
//! - a quota appears, or its `spec.hard` differs from `status.hard`, or a
//!   hard resource has no `used` yet (so a new quota shows usage within a
//!   round trip; charges admission writes to `status.used` do not trigger a
//!   recount, as upstream, since a recount racing a create would undo them);
//! - an object in it is deleted (heard from the garbage collector's
//!   watches, which cover every resource), or a pod reaches a terminal
//!   phase (usage given back);
//! - every 30 s for every namespace with a quota (covers `count/<r>.<g>` of
//!   any resource, charges of creates that then failed, and anything missed).
//!
//! Quotas with `scopes` or a `scopeSelector` are not maintained.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use corral_apiserver::quota::{self, Quantity, quantity};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, ResourceQuotaStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use crate::Context;
use crate::discovery;

/// Full recount of every namespace with a quota.
pub const RESYNC: Duration = Duration::from_secs(30);

enum Work {
    /// Recount this namespace.
    Namespace(String),
    /// A quota was seen: recount its namespace if its status is not in sync.
    Quota(Box<ResourceQuota>),
    /// Recount every namespace known to hold a quota.
    Resync,
}

fn deleted_ns<K: kube::Resource>(
    e: Result<Event<K>, watcher::Error>,
) -> Option<Result<Work, watcher::Error>> {
    match e {
        Ok(Event::Delete(o)) => o.meta().namespace.clone().map(|n| Ok(Work::Namespace(n))),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

pub async fn run(ctx: Context) -> Result<(), kube::Error> {
    let client = ctx.client.clone();
    let quotas = watcher::watcher(
        Api::<ResourceQuota>::all(client.clone()),
        watcher::Config::default(),
    )
    .filter_map(|e| async move {
        match e {
            Ok(Event::Apply(q) | Event::InitApply(q)) => Some(Ok(Work::Quota(Box::new(q)))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    })
    .boxed();
    let pods = watcher::watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .filter_map(|e| async move {
            match e {
                Ok(Event::Apply(p)) => {
                    let terminal = p
                        .status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        .is_some_and(|ph| ph == "Succeeded" || ph == "Failed");
                    terminal
                        .then(|| p.metadata.namespace.clone().map(|n| Ok(Work::Namespace(n))))
                        .flatten()
                }
                other => deleted_ns(other),
            }
        })
        .boxed();
    // Deletions come from the garbage collector's watches (one per
    // resource, shared); a listener that fell behind recounts everything.
    let deletions = futures::stream::unfold(ctx.deletions.subscribe(), |mut rx| async move {
        let work = match rx.recv().await {
            Ok(d) => d.namespace.map(|ns| Work::Namespace(ns.to_string())),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some(Work::Resync),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((work, rx))
    })
    .filter_map(|w| async move { w.map(Ok) })
    .boxed();
    let ticks = futures::stream::unfold((), |()| async {
        tokio::time::sleep(RESYNC).await;
        Some((Ok(Work::Resync), ()))
    })
    .boxed();
    let mut events = futures::stream::select_all(vec![quotas, pods, deletions, ticks]);
    let mut with_quota: HashSet<String> = HashSet::new();
    let mut resources: Option<discovery::Resources> = None;
    while let Some(first) = events.next().await {
        // Take whatever else is ready too: a burst of deletes is one recount.
        let mut batch = vec![first];
        while let Some(Some(more)) = events.next().now_or_never() {
            batch.push(more);
            if batch.len() >= 1024 {
                break;
            }
        }
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        for w in batch {
            match w.map_err(|e| kube::Error::Service(Box::new(e)))? {
                Work::Namespace(ns) => {
                    if with_quota.contains(&ns) {
                        dirty.insert(ns);
                    }
                }
                Work::Quota(q) => {
                    if let Some(ns) = q.metadata.namespace.clone() {
                        with_quota.insert(ns.clone());
                        if needs_sync(&q) {
                            dirty.insert(ns);
                        }
                    }
                }
                Work::Resync => {
                    resources = None;
                    dirty.extend(with_quota.iter().cloned());
                }
            }
        }
        for ns in dirty {
            match sync_namespace(&client, &mut resources, &ns).await {
                Ok(0) => {
                    with_quota.remove(&ns);
                }
                Ok(_) => {}
                Err(e) => {
                    // Retried by the next resync.
                    tracing::debug!(namespace = %ns, error = %e, "quota recount failed");
                }
            }
        }
    }
    Ok(())
}

fn is_scoped(q: &ResourceQuota) -> bool {
    q.spec.as_ref().is_some_and(|s| {
        s.scopes.as_ref().is_some_and(|v| !v.is_empty()) || s.scope_selector.is_some()
    })
}

/// Upstream's `addQuota` test: hard differs from spec, or a hard resource has no usage.
fn needs_sync(q: &ResourceQuota) -> bool {
    if is_scoped(q) {
        return false;
    }
    let spec_hard = q
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    let status = q.status.clone().unwrap_or_default();
    let status_hard = status.hard.unwrap_or_default();
    let used = status.used.unwrap_or_default();
    spec_hard != status_hard || spec_hard.keys().any(|k| !used.contains_key(k))
}

/// Recount every quota of `ns`; the number of quotas there.
async fn sync_namespace(
    client: &kube::Client,
    resources: &mut Option<discovery::Resources>,
    ns: &str,
) -> Result<usize, kube::Error> {
    let api: Api<ResourceQuota> = Api::namespaced(client.clone(), ns);
    // A quota updated meanwhile (a create charged it) is recounted again.
    for _attempt in 0..3 {
        let quotas = api.list(&ListParams::default()).await?.items;
        let count = quotas.len();
        let quotas: Vec<ResourceQuota> = quotas.into_iter().filter(|q| !is_scoped(q)).collect();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for q in &quotas {
            if let Some(h) = q.spec.as_ref().and_then(|s| s.hard.as_ref()) {
                wanted.extend(h.keys().cloned());
            }
        }
        let totals = count_usage(client, resources, ns, &wanted).await?;
        let mut conflict = false;
        for q in quotas {
            match write_status(&api, q, &totals).await {
                Ok(()) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => conflict = true,
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        if !conflict {
            return Ok(count);
        }
    }
    Ok(1)
}

/// Usage of the resources in `wanted` (the ones this server can count) in `ns`.
async fn count_usage(
    client: &kube::Client,
    resources: &mut Option<discovery::Resources>,
    ns: &str,
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, Quantity>, kube::Error> {
    let mut totals: BTreeMap<String, Quantity> = BTreeMap::new();
    for ((group, plural), names) in quota::sources(wanted) {
        let Some(ar) = api_resource(client, resources, &group, &plural).await? else {
            continue;
        };
        let content = group.is_empty()
            && matches!(
                plural.as_str(),
                "pods" | "services" | "persistentvolumeclaims"
            );
        let objects: Vec<Value> = if content {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            api.list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect()
        } else {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            let list = api.list_metadata(&ListParams::default()).await?;
            list.items
                .into_iter()
                .map(|o| serde_json::json!({ "metadata": o.metadata }))
                .collect()
        };
        for name in &names {
            totals.entry(name.clone()).or_default();
        }
        for o in &objects {
            for (k, v) in quota::usage(&group, &plural, o) {
                if names.contains(&k) {
                    let e = totals.entry(k).or_default();
                    *e = *e + v;
                }
            }
        }
    }
    Ok(totals)
}

/// The API resource for `(group, plural)`: core kinds directly, others by discovery.
async fn api_resource(
    client: &kube::Client,
    resources: &mut Option<discovery::Resources>,
    group: &str,
    plural: &str,
) -> Result<Option<ApiResource>, kube::Error> {
    let find = |r: &discovery::Resources| {
        r.preferred
            .iter()
            .find(|x| x.ar.group == group && x.ar.plural == plural && x.namespaced)
            .map(|x| x.ar.clone())
    };
    if let Some(r) = resources.as_ref()
        && let Some(ar) = find(r)
    {
        return Ok(Some(ar));
    }
    let fresh = discovery::discover(client).await?;
    let found = find(&fresh);
    *resources = Some(fresh);
    Ok(found)
}

/// Write `status.hard` = `spec.hard` and the recounted `status.used` when they differ.
async fn write_status(
    api: &Api<ResourceQuota>,
    mut q: ResourceQuota,
    totals: &BTreeMap<String, Quantity>,
) -> Result<(), kube::Error> {
    let hard = q
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    let old = q.status.clone().unwrap_or_default();
    let old_used = old.used.clone().unwrap_or_default();
    let mut used = BTreeMap::new();
    for (k, h) in &hard {
        let binary = quantity::is_binary(&h.0);
        let v = match totals.get(k) {
            Some(t) => K8sQuantity(t.format(binary)),
            // Nothing here counts it: keep what is there, or zero.
            None => old_used
                .get(k)
                .cloned()
                .unwrap_or_else(|| K8sQuantity("0".into())),
        };
        used.insert(k.clone(), v);
    }
    let same_used = used.len() == old_used.len()
        && used.iter().all(|(k, v)| {
            old_used
                .get(k)
                .is_some_and(|o| Quantity::parse(&o.0).ok() == Quantity::parse(&v.0).ok())
        });
    if old.hard.as_ref() == Some(&hard) && same_used {
        return Ok(());
    }
    let name = q.metadata.name.clone().unwrap_or_default();
    q.status = Some(ResourceQuotaStatus {
        hard: Some(hard),
        used: Some(used),
    });
    api.replace_status(&name, &PostParams::default(), &q)
        .await?;
    Ok(())
}
