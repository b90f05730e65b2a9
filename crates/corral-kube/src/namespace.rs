//! The namespace controller (upstream kube-controller-manager's `namespace`
//! controller and its `NamespacedResourcesDeleter`), as a client of the API.
//!
//! A namespace marked for deletion (the API sets `deletionTimestamp` and phase
//! `Terminating`) is emptied with one deletecollection per discovered
//! namespaced resource (background propagation, so the garbage collector
//! never waits on it), its status conditions say what is left and why, and
//! once nothing is left the `kubernetes` finalizer is removed with
//! `PUT /api/v1/namespaces/<name>/finalize` — after which the API deletes the
//! namespace itself. A restart resumes because the watch re-lists.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PartialObjectMeta, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::task::JoinSet;

use crate::Context;
use crate::discovery::{self, Resources};
use crate::gc::queue::WorkQueue;

/// The token this controller owns in `spec.finalizers`.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";
/// Namespaces emptied at the same time.
const WORKERS: usize = 4;
/// Upstream's estimate for content held by finalizers.
const FINALIZER_ESTIMATE_SECONDS: u64 = 15;
/// Discovery is reused for this long across namespaces.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Content(String),
    #[error("namespace uid has changed across retries")]
    UidChanged,
}

struct Shared {
    client: kube::Client,
    queue: Arc<WorkQueue<String>>,
    discovery: Mutex<Option<(Instant, Arc<Resources>)>>,
    /// Consecutive passes that found content remaining, per namespace (for the requeue delay).
    waiting: Mutex<HashMap<String, u32>>,
}

pub async fn run(ctx: Context) -> Result<(), kube::Error> {
    let shared = Arc::new(Shared {
        client: ctx.client.clone(),
        queue: WorkQueue::new(),
        discovery: Mutex::new(None),
        waiting: Mutex::new(HashMap::new()),
    });
    let mut tasks = JoinSet::new();
    for _ in 0..WORKERS {
        tasks.spawn(worker(shared.clone()));
    }
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(ns)) | Ok(Event::InitApply(ns)) => {
                if ns.metadata.deletion_timestamp.is_some()
                    && let Some(name) = ns.metadata.name
                {
                    shared.queue.add(name);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "namespace controller: watch failed"),
        }
    }
    Ok(())
}

async fn worker(shared: Arc<Shared>) {
    loop {
        let name = shared.queue.get().await;
        match sync(&shared, &name).await {
            Ok(None) => {
                shared.queue.forget(&name);
                lock(&shared.waiting).remove(&name);
            }
            Ok(Some(estimate)) => {
                // Content is held by finalizers: look again soon, then less often,
                // never later than upstream's estimate/2 + 1 seconds.
                let n = {
                    let mut w = lock(&shared.waiting);
                    let n = w.entry(name.clone()).or_insert(0);
                    *n = n.saturating_add(1);
                    *n
                };
                let cap = Duration::from_secs(estimate / 2 + 1);
                let delay = Duration::from_millis(250)
                    .saturating_mul(1 << n.min(6))
                    .min(cap);
                shared.queue.add_after(name.clone(), delay);
            }
            Err(e) => {
                tracing::warn!(namespace = %name, error = %e, "namespace deletion will be retried");
                shared.queue.add_rate_limited(name.clone());
            }
        }
        shared.queue.done(&name);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// One pass over a namespace (upstream `Delete`). `Ok(Some(estimate))` when
/// content remains that finalizers hold.
async fn sync(shared: &Shared, name: &str) -> Result<Option<u64>, NamespaceError> {
    let api: Api<Namespace> = Api::all(shared.client.clone());
    let Some(mut ns) = api.get_opt(name).await? else {
        return Ok(None);
    };
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(None);
    }
    let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
    if phase != Some("Terminating") {
        ns = retry_on_conflict(
            &api,
            ns,
            |mut n| {
                n.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
                Some(n)
            },
            Write::Status,
        )
        .await?;
    }
    let finalized = !ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER_KUBERNETES));
    if finalized {
        return Ok(None);
    }
    let (estimate, errors, conditions) = delete_all_content(shared, name).await;
    // Always written when changed: a condition may go back from failing to fine.
    let updated = retry_on_conflict(
        &api,
        ns,
        |mut n| {
            let status = n.status.get_or_insert_with(Default::default);
            update_conditions(status, &conditions).then_some(n)
        },
        Write::Status,
    )
    .await;
    let ns = match updated {
        Ok(n) => n,
        Err(NamespaceError::Kube(e)) if code(&e) == Some(404) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !errors.is_empty() {
        return Err(NamespaceError::Content(errors.join(", ")));
    }
    if estimate > 0 {
        return Ok(Some(estimate));
    }
    let finalize = retry_on_conflict(
        &api,
        ns,
        |mut n| {
            let spec = n.spec.get_or_insert_with(Default::default);
            let mut kept: Vec<String> = spec
                .finalizers
                .iter()
                .flatten()
                .filter(|f| *f != FINALIZER_KUBERNETES)
                .cloned()
                .collect();
            kept.sort();
            kept.dedup();
            spec.finalizers = Some(kept);
            Some(n)
        },
        Write::Finalize,
    )
    .await;
    match finalize {
        Ok(_) => Ok(None),
        // Another controller finished first.
        Err(NamespaceError::Kube(e)) if code(&e) == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Clone, Copy)]
enum Write {
    Status,
    Finalize,
}

/// Upstream `retryOnConflictError`: apply `change` to the latest namespace
/// and write it; on a conflict re-read (same uid) and try again. `change`
/// returning `None` means nothing to write.
async fn retry_on_conflict(
    api: &Api<Namespace>,
    mut ns: Namespace,
    change: impl Fn(Namespace) -> Option<Namespace>,
    write: Write,
) -> Result<Namespace, NamespaceError> {
    let name = ns.metadata.name.clone().unwrap_or_default();
    loop {
        let Some(next) = change(ns.clone()) else {
            return Ok(ns);
        };
        let result = match write {
            Write::Status => {
                api.replace_status(&name, &PostParams::default(), &next)
                    .await
            }
            Write::Finalize => {
                api.replace_subresource("finalize", &name, &PostParams::default(), &next)
                    .await
            }
        };
        match result {
            Ok(n) => return Ok(n),
            Err(e) if code(&e) == Some(409) => {
                let latest = api.get(&name).await?;
                if latest.metadata.uid != ns.metadata.uid {
                    return Err(NamespaceError::UidChanged);
                }
                ns = latest;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The condition a failure (or its absence) produces.
#[derive(Default)]
struct Conditions {
    discovery_failure: Option<String>,
    content_failures: Vec<String>,
    /// `group_resource -> remaining`, `finalizer -> remaining`.
    remaining: BTreeMap<String, usize>,
    finalizers: BTreeMap<String, usize>,
}

/// Discovery, cached briefly: every namespace being emptied needs it.
async fn resources(
    shared: &Shared,
) -> Result<Arc<Resources>, (kube::Error, Option<Arc<Resources>>)> {
    let cached = lock(&shared.discovery).clone();
    if let Some((at, r)) = &cached
        && at.elapsed() < DISCOVERY_MAX_AGE
    {
        return Ok(r.clone());
    }
    match discovery::discover(&shared.client).await {
        Ok(r) => {
            let r = Arc::new(r);
            *lock(&shared.discovery) = Some((Instant::now(), r.clone()));
            Ok(r)
        }
        Err(e) => Err((e, cached.map(|(_, r)| r))),
    }
}

/// Upstream `deleteAllContent`: returns the estimate (seconds) until
/// finalizers release what remains, the errors, and the conditions to set.
async fn delete_all_content(shared: &Shared, namespace: &str) -> (u64, Vec<String>, Conditions) {
    let mut conditions = Conditions::default();
    let mut errors = Vec::new();
    let resources = match resources(shared).await {
        Ok(r) => r,
        Err((e, stale)) => {
            // Not fatal: what is known can still be deleted.
            conditions.discovery_failure = Some(e.to_string());
            errors.push(e.to_string());
            match stale {
                Some(r) => r,
                None => return (0, errors, conditions),
            }
        }
    };
    let mut estimate = 0;
    let deletable = resources
        .preferred
        .iter()
        .filter(|r| r.namespaced && r.supports("delete"));
    for res in deletable {
        match delete_resource(shared, namespace, res).await {
            Ok((remaining, finalizers)) => {
                if remaining > 0 {
                    conditions.remaining.insert(res.group_resource(), remaining);
                    for (f, n) in finalizers {
                        *conditions.finalizers.entry(f).or_insert(0) += n;
                    }
                    estimate = FINALIZER_ESTIMATE_SECONDS;
                }
            }
            Err(e) => {
                conditions.content_failures.push(e.clone());
                errors.push(e);
            }
        }
    }
    (estimate, errors, conditions)
}

/// Upstream `deleteAllContentForGroupVersionResource`: delete the collection
/// (or each item), then list what remains. `(remaining, finalizer -> count)`.
async fn delete_resource(
    shared: &Shared,
    namespace: &str,
    res: &discovery::Resource,
) -> Result<(usize, BTreeMap<String, usize>), String> {
    let api: Api<PartialObjectMeta<DynamicObject>> =
        Api::namespaced_with(shared.client.clone(), namespace, &res.ar);
    let gvr = format!(
        "{}/{}, Resource={}",
        res.ar.group, res.ar.version, res.ar.plural
    );
    // Background: the namespace controller never waits on the garbage collector.
    let background = DeleteParams::background();
    let unsupported = |e: &kube::Error| matches!(code(e), Some(404) | Some(405));
    if res.supports("deletecollection") {
        match api
            .delete_collection(&background, &ListParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if unsupported(&e) => {}
            Err(e) => return Err(format!("{gvr}: {e}")),
        }
    } else if res.supports("list") {
        let items = match api.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) if unsupported(&e) => Vec::new(),
            Err(e) => return Err(format!("{gvr}: {e}")),
        };
        for item in items {
            let Some(name) = item.metadata.name else {
                continue;
            };
            match api.delete(&name, &background).await {
                Ok(_) => {}
                Err(e) if unsupported(&e) => {}
                Err(e) => return Err(format!("{gvr}: {e}")),
            }
        }
    }
    if !res.supports("list") {
        return Ok((0, BTreeMap::new()));
    }
    let remaining = match api.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) if unsupported(&e) => return Ok((0, BTreeMap::new())),
        Err(e) => return Err(format!("{gvr}: {e}")),
    };
    if remaining.is_empty() {
        return Ok((0, BTreeMap::new()));
    }
    let mut finalizers = BTreeMap::new();
    for item in &remaining {
        for f in item.metadata.finalizers.iter().flatten() {
            *finalizers.entry(f.clone()).or_insert(0) += 1;
        }
    }
    if finalizers.is_empty() {
        // Nothing holds them, yet they are still there.
        return Err(format!(
            "unexpected items still remain in namespace: {namespace} for gvr: {gvr}"
        ));
    }
    Ok((remaining.len(), finalizers))
}

/// Upstream's condition types, with their reasons and messages when all is well.
const CONDITIONS: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

impl Conditions {
    /// `(type, reason, message)` of each failing condition.
    fn failing(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut out = Vec::new();
        if let Some(m) = &self.discovery_failure {
            out.push((
                "NamespaceDeletionDiscoveryFailure",
                "DiscoveryFailed",
                m.clone(),
            ));
        }
        if !self.content_failures.is_empty() {
            let mut msgs = self.content_failures.clone();
            msgs.sort();
            out.push((
                "NamespaceDeletionContentFailure",
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    msgs.len(),
                    msgs.join(", ")
                ),
            ));
        }
        if !self.remaining.is_empty() {
            let parts: Vec<String> = self
                .remaining
                .iter()
                .map(|(gr, n)| format!("{gr} has {n} resource instances"))
                .collect();
            out.push((
                "NamespaceContentRemaining",
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", parts.join(", ")),
            ));
        }
        if !self.finalizers.is_empty() {
            let parts: Vec<String> = self
                .finalizers
                .iter()
                .map(|(f, n)| format!("{f} in {n} resource instances"))
                .collect();
            out.push((
                "NamespaceFinalizersRemaining",
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    parts.join(", ")
                ),
            ));
        }
        out
    }
}

/// Upstream `updateConditions`: every condition type present, failing ones
/// `True` with their reason, the rest `False` with the "ok" text;
/// `lastTransitionTime` moves only when the status flips. `true` if changed.
fn update_conditions(status: &mut NamespaceStatus, conditions: &Conditions) -> bool {
    let failing = conditions.failing();
    let list = status.conditions.get_or_insert_with(Vec::new);
    let now = Time(Timestamp::now());
    let mut changed = false;
    for (type_, ok_reason, ok_message) in CONDITIONS {
        let (state, reason, message) = match failing.iter().find(|(t, _, _)| *t == type_) {
            Some((_, r, m)) => ("True", *r, m.clone()),
            None => ("False", ok_reason, ok_message.to_string()),
        };
        match list.iter_mut().find(|c| c.type_ == type_) {
            None => {
                list.push(NamespaceCondition {
                    type_: type_.into(),
                    status: state.into(),
                    reason: Some(reason.into()),
                    message: Some(message),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
            Some(c) => {
                if c.status != state
                    || c.reason.as_deref() != Some(reason)
                    || c.message.as_deref() != Some(message.as_str())
                {
                    if c.status != state {
                        c.last_transition_time = Some(now.clone());
                    }
                    c.status = state.into();
                    c.reason = Some(reason.into());
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_say_what_remains_and_why() {
        let mut c = Conditions::default();
        c.remaining.insert("configmaps.".into(), 1);
        c.finalizers.insert("example.com/x".into(), 1);
        let mut status = NamespaceStatus::default();
        assert!(update_conditions(&mut status, &c));
        let list = status.conditions.clone().unwrap_or_default();
        assert_eq!(list.len(), 5);
        let get = |t: &str| list.iter().find(|c| c.type_ == t).cloned().expect(t);
        let content = get("NamespaceContentRemaining");
        assert_eq!(content.status, "True");
        assert_eq!(
            content.message.as_deref(),
            Some("Some resources are remaining: configmaps. has 1 resource instances")
        );
        assert_eq!(
            get("NamespaceFinalizersRemaining").message.as_deref(),
            Some(
                "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances"
            )
        );
        assert_eq!(get("NamespaceDeletionDiscoveryFailure").status, "False");
        assert_eq!(
            get("NamespaceDeletionContentFailure").reason.as_deref(),
            Some("ContentDeleted")
        );
        // Same again: nothing to write.
        assert!(!update_conditions(&mut status, &c));
        // All gone: flips to False.
        assert!(update_conditions(&mut status, &Conditions::default()));
        let list = status.conditions.unwrap_or_default();
        assert!(list.iter().all(|c| c.status == "False"));
    }
}
