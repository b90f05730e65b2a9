//! The garbage collector (upstream kube-controller-manager's
//! `garbagecollector`), as a client of the API:
//!
//! - **discovery** every [`RESYNC`] (and at once when an ownerReference names
//!   a kind it does not know, or a watch finds its resource gone) selects every
//!   resource that supports list, watch and delete — built-ins and custom
//!   resources alike — and starts or stops one metadata-only watch per resource;
//! - **monitors** feed those watches into the [`graph::Graph`] of owners and
//!   dependents (uids, names and ownerReferences only);
//! - **workers** ([`DELETE_WORKERS`] of them, so a burst of dependents is
//!   deleted with that many requests in flight) delete dependents whose owners
//!   are all gone, release owners deleted in the foreground once no blocking
//!   dependent is left, and orphan dependents of owners deleted with `Orphan`.
//!
//! The API side (`corral-apiserver`'s `handlers::delete`) only adds the
//! `orphan` / `foregroundDeletion` finalizers the propagation policy asks for.

pub mod graph;
mod metawatch;
pub mod queue;
mod watched;
mod worker;

pub use metawatch::{MetadataWatch, MetadataWatchError};
pub use watched::Watched;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use kube::api::Api;
use kube::discovery::ApiResource;
use kube::runtime::watcher::Event;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};

use crate::Context;
use crate::discovery::{self, Resource, Resources};
use graph::{Graph, Uid, Work};
use queue::WorkQueue;
pub use worker::GcError;

/// How often discovery is re-read to pick up new or removed resources.
pub const RESYNC: Duration = Duration::from_secs(15);
/// Concurrent attempts to delete (each at most one request in flight).
pub const DELETE_WORKERS: usize = 32;
const ORPHAN_WORKERS: usize = 4;
/// Triggered rediscoveries come at most this often.
const MIN_REDISCOVERY_INTERVAL: Duration = Duration::from_secs(2);

/// Upstream's ignored resources: Events are never owners worth tracking, and
/// there are many of them.
fn collectable(r: &Resource) -> bool {
    let ignored =
        r.ar.plural == "events" && (r.ar.group.is_empty() || r.ar.group == "events.k8s.io");
    !ignored && r.supports("list") && r.supports("watch") && r.supports("delete")
}

/// State shared by the monitors and the workers.
pub(crate) struct Shared {
    client: kube::Client,
    graph: Mutex<Graph>,
    resources: RwLock<Arc<Resources>>,
    attempt_to_delete: Arc<WorkQueue<Uid>>,
    attempt_to_orphan: Arc<WorkQueue<Uid>>,
    rediscover: Notify,
    /// Where every deletion the monitors see is published (see [`crate::Context`]).
    deletions: tokio::sync::broadcast::Sender<crate::Deleted>,
}

impl Shared {
    /// Nobody listening is fine: the send only fails then.
    fn published_deletion(&self, namespace: Option<Arc<str>>) {
        let _ = self.deletions.send(crate::Deleted { namespace });
    }

    fn graph(&self) -> MutexGuard<'_, Graph> {
        match self.graph.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn resources(&self) -> Arc<Resources> {
        match self.resources.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_resources(&self, r: Resources) {
        match self.resources.write() {
            Ok(mut g) => *g = Arc::new(r),
            Err(p) => *p.into_inner() = Arc::new(r),
        }
    }

    fn enqueue(&self, work: Work) {
        self.attempt_to_delete.add_all(work.attempt_to_delete);
        self.attempt_to_orphan.add_all(work.attempt_to_orphan);
    }
}

/// Run the garbage collector until dropped (its tasks end with it).
pub async fn run(ctx: Context) -> Result<(), kube::Error> {
    let shared = Arc::new(Shared {
        client: ctx.client.clone(),
        graph: Mutex::new(Graph::default()),
        resources: RwLock::new(Arc::new(Resources::default())),
        attempt_to_delete: WorkQueue::new(),
        attempt_to_orphan: WorkQueue::new(),
        rediscover: Notify::new(),
        deletions: ctx.deletions.clone(),
    });
    // Dropping the set (when the controller stops) aborts every task in it.
    let mut tasks = JoinSet::new();
    for _ in 0..DELETE_WORKERS {
        tasks.spawn(delete_worker(shared.clone()));
    }
    for _ in 0..ORPHAN_WORKERS {
        tasks.spawn(orphan_worker(shared.clone()));
    }
    let mut monitors: HashMap<ApiResource, (u32, AbortHandle)> = HashMap::new();
    let mut next_monitor = 0u32;
    loop {
        match discovery::discover(&shared.client).await {
            Ok(resources) => {
                let wanted: Vec<Arc<Resource>> = resources
                    .preferred
                    .iter()
                    .filter(|r| collectable(r))
                    .cloned()
                    .collect();
                // Resolving ownerReferences needs the new kinds before their objects arrive.
                shared.set_resources(resources);
                for r in &wanted {
                    if !monitors.contains_key(&r.ar) {
                        let id = next_monitor;
                        next_monitor += 1;
                        tracing::debug!(resource = %r.group_resource(), "garbage collector: watching");
                        let handle = tasks.spawn(monitor(shared.clone(), id, r.clone()));
                        monitors.insert(r.ar.clone(), (id, handle));
                    }
                }
                monitors.retain(|ar, (id, handle)| {
                    if wanted.iter().any(|r| &r.ar == ar) {
                        return true;
                    }
                    tracing::debug!(resource = %ar.plural, "garbage collector: resource gone; stop watching");
                    handle.abort();
                    let work = shared.graph().forget_monitor(*id);
                    shared.enqueue(work);
                    false
                });
            }
            Err(e) => tracing::warn!(error = %e, "garbage collector: discovery failed"),
        }
        // Reap finished tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(RESYNC) => {}
            _ = shared.rediscover.notified() => {
                tokio::time::sleep(MIN_REDISCOVERY_INTERVAL).await;
            }
        }
    }
}

/// One resource's metadata watch, feeding the graph. Re-lists (after a
/// compaction or a broken watch) count whatever vanished meanwhile as deleted.
async fn monitor(shared: Arc<Shared>, id: u32, res: Arc<Resource>) {
    let api: Api<Watched> = Api::all_with(shared.client.clone(), &res.ar);
    let mut events = MetadataWatch::new(api, shared.client.clone());
    let mut relisting: Option<HashSet<Uid>> = None;
    let (api_version, kind) = (res.ar.api_version.as_str(), res.ar.kind.as_str());
    loop {
        let work = match events.next().await {
            Ok(Event::Init) => {
                relisting = Some(HashSet::new());
                continue;
            }
            Ok(Event::InitApply(o)) | Ok(Event::Apply(o)) => {
                notice_unknown_kinds(&shared, &o.metadata);
                let mut g = shared.graph();
                let Some(observed) = g.observed(api_version, kind, &o.metadata) else {
                    continue;
                };
                if let Some(seen) = relisting.as_mut() {
                    seen.insert(observed.identity.uid.clone());
                }
                g.upsert(id, observed)
            }
            Ok(Event::Delete(o)) => {
                shared.published_deletion(o.metadata.namespace.as_deref().map(Arc::from));
                match o.metadata.uid.as_deref() {
                    Some(uid) => shared.graph().remove(uid),
                    None => continue,
                }
            }
            Ok(Event::InitDone) => {
                let Some(seen) = relisting.take() else {
                    continue;
                };
                let mut g = shared.graph();
                let mut work = Work::default();
                for uid in g.missing_after_relist(id, &seen) {
                    let namespace = g.snapshot(&uid).and_then(|n| n.identity.namespace);
                    shared.published_deletion(namespace);
                    let w = g.remove(&uid);
                    work.attempt_to_delete.extend(w.attempt_to_delete);
                }
                work
            }
            Err(e) => {
                tracing::debug!(resource = %res.group_resource(), error = %e, "garbage collector: watch failed");
                if e.not_found() {
                    // The resource is no longer served (a CRD went away).
                    shared.rediscover.notify_one();
                }
                continue;
            }
        };
        shared.enqueue(work);
    }
}

/// An ownerReference to a kind discovery does not know yet: look again soon
/// (a CRD was probably just added).
fn notice_unknown_kinds(
    shared: &Shared,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) {
    let Some(refs) = meta.owner_references.as_ref() else {
        return;
    };
    let resources = shared.resources();
    if refs
        .iter()
        .any(|r| resources.resolve(&r.api_version, &r.kind).is_none())
    {
        shared.rediscover.notify_one();
    }
}

async fn delete_worker(shared: Arc<Shared>) {
    loop {
        let uid = shared.attempt_to_delete.get().await;
        match worker::attempt_to_delete(&shared, &uid).await {
            Ok(()) => shared.attempt_to_delete.forget(&uid),
            Err(e) => {
                tracing::debug!(%uid, error = %e, "garbage collector: will retry");
                shared.attempt_to_delete.add_rate_limited(uid.clone());
            }
        }
        shared.attempt_to_delete.done(&uid);
    }
}

async fn orphan_worker(shared: Arc<Shared>) {
    loop {
        let uid = shared.attempt_to_orphan.get().await;
        match worker::attempt_to_orphan(&shared, &uid).await {
            Ok(()) => shared.attempt_to_orphan.forget(&uid),
            Err(e) => {
                tracing::debug!(%uid, error = %e, "garbage collector: orphaning will be retried");
                shared.attempt_to_orphan.add_rate_limited(uid.clone());
            }
        }
        shared.attempt_to_orphan.done(&uid);
    }
}
