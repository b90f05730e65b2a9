//! The garbage collector's workers: upstream's `attemptToDeleteItem`,
//! `processDeletingDependentsItem` and `attemptToOrphanWorker`. Decisions are
//! made from the graph, but every deletion is checked against the API first:
//! an owner counts as absent only once a live GET by name finds nothing, or
//! finds another uid (or its deletion was observed), and writes carry the
//! uid and resourceVersion the decision was made on as preconditions.

use std::sync::Arc;

use futures::{StreamExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, DeleteParams, DynamicObject, PartialObjectMeta, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use serde_json::{Value, json};

use super::Shared;
use super::graph::{
    FINALIZER_FOREGROUND, FINALIZER_ORPHAN, Flags, Identity, OwnerRef, Snapshot, Uid,
};

/// Metadata-only access to any resource: GETs and PATCH responses carry
/// `PartialObjectMetadata`, never whole objects.
type MetaApi = Api<PartialObjectMeta<DynamicObject>>;

/// Dependents whose owner references are removed concurrently when orphaning.
const ORPHAN_CONCURRENCY: usize = 32;
/// Attempts for a write that keeps losing the compare-and-swap.
const MAX_CONFLICTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("no served resource has apiVersion {api_version:?} and kind {kind:?}")]
    UnknownKind { api_version: String, kind: String },
    #[error("{0} kept changing; will retry")]
    Conflicts(String),
}

fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The API for `identity`'s kind, and the namespace its name lives in (`None` when cluster-scoped).
fn api_for(
    shared: &Shared,
    api_version: &str,
    kind: &str,
    namespace: Option<&Arc<str>>,
) -> Result<(MetaApi, Option<Arc<str>>), GcError> {
    let Some(res) = shared.resources().resolve(api_version, kind) else {
        shared.rediscover.notify_one();
        return Err(GcError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    };
    Ok(match (res.namespaced, namespace) {
        (true, Some(ns)) => (
            Api::namespaced_with(shared.client.clone(), ns, &res.ar),
            Some(ns.clone()),
        ),
        _ => (Api::all_with(shared.client.clone(), &res.ar), None),
    })
}

/// The object at `identity`, if it is still the same object (same uid).
async fn get_live(shared: &Shared, identity: &Identity) -> Result<Option<ObjectMeta>, GcError> {
    let (api, _) = api_for(
        shared,
        &identity.api_version,
        &identity.kind,
        identity.namespace.as_ref(),
    )?;
    Ok(api
        .get_opt(&identity.name)
        .await?
        .map(|p| p.metadata)
        .filter(|m| m.uid.as_deref() == Some(&*identity.uid)))
}

/// What a worker knows about an item: from the graph first, from a live GET after a conflict.
struct ItemState {
    owners: Vec<OwnerRef>,
    flags: Flags,
    resource_version: Option<String>,
}

impl ItemState {
    fn from_snapshot(s: &Snapshot) -> ItemState {
        ItemState {
            owners: s.owners.clone(),
            flags: s.flags,
            resource_version: s.resource_version.map(|v| v.to_string()),
        }
    }

    fn from_live(shared: &Shared, identity: &Identity, meta: &ObjectMeta) -> Option<ItemState> {
        let o = shared
            .graph()
            .observed(&identity.api_version, &identity.kind, meta)?;
        Some(ItemState {
            owners: o.owners,
            flags: o.flags,
            resource_version: meta.resource_version.clone(),
        })
    }
}

enum OwnerState {
    /// Exists and is not waiting for its dependents.
    Solid,
    /// Verified absent (or its reference cannot be valid).
    Dangling,
    /// Being deleted in the foreground.
    Waiting,
}

/// Upstream `isDangling` and the owner half of `classifyReferences`.
async fn owner_state(
    shared: &Shared,
    dependent: &Identity,
    r: &OwnerRef,
) -> Result<OwnerState, GcError> {
    let Some(res) = shared.resources().resolve(&r.api_version, &r.kind) else {
        shared.rediscover.notify_one();
        return Err(GcError::UnknownKind {
            api_version: r.api_version.to_string(),
            kind: r.kind.to_string(),
        });
    };
    let namespace = match (res.namespaced, &dependent.namespace) {
        (true, Some(ns)) => Some(ns.clone()),
        // A cluster-scoped object cannot be owned by a namespaced one.
        (true, None) => return Ok(OwnerState::Dangling),
        (false, _) => None,
    };
    if shared.graph().is_absent(&r.uid, &namespace) {
        return Ok(OwnerState::Dangling);
    }
    let api: MetaApi = match &namespace {
        Some(ns) => Api::namespaced_with(shared.client.clone(), ns, &res.ar),
        None => Api::all_with(shared.client.clone(), &res.ar),
    };
    match api.get_opt(&r.name).await? {
        Some(p) if p.metadata.uid.as_deref() == Some(&*r.uid) => {
            if Flags::from_meta(&p.metadata).deleting_dependents() {
                Ok(OwnerState::Waiting)
            } else {
                Ok(OwnerState::Solid)
            }
        }
        // Gone, or a different object now has the name: absent either way.
        _ => {
            shared.graph().mark_absent(r.uid.clone(), namespace);
            Ok(OwnerState::Dangling)
        }
    }
}

enum Outcome {
    Done,
    /// A precondition failed: the object changed under us.
    Conflict,
}

fn outcome(r: Result<(), kube::Error>) -> Result<Outcome, GcError> {
    match r {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if code(&e) == Some(404) => Ok(Outcome::Done),
        Err(e) if code(&e) == Some(409) => Ok(Outcome::Conflict),
        Err(e) => Err(e.into()),
    }
}

async fn delete_object(
    shared: &Shared,
    identity: &Identity,
    resource_version: Option<String>,
    policy: PropagationPolicy,
) -> Result<Outcome, GcError> {
    let (api, _) = api_for(
        shared,
        &identity.api_version,
        &identity.kind,
        identity.namespace.as_ref(),
    )?;
    tracing::debug!(kind = %identity.kind, namespace = ?identity.namespace, name = %identity.name, ?policy, "garbage collecting");
    let dp = DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(identity.uid.to_string()),
            resource_version,
        }),
        ..Default::default()
    };
    outcome(api.delete(&identity.name, &dp).await.map(|_| ()))
}

/// A JSON merge patch of metadata, made conditional on `resource_version`.
async fn patch_metadata(
    shared: &Shared,
    identity: &Identity,
    resource_version: Option<String>,
    field: &str,
    value: Value,
) -> Result<Outcome, GcError> {
    let (api, _) = api_for(
        shared,
        &identity.api_version,
        &identity.kind,
        identity.namespace.as_ref(),
    )?;
    let body = json!({"metadata": {"resourceVersion": resource_version, field: value}});
    outcome(
        api.patch(
            &identity.name,
            &PatchParams::default(),
            &Patch::Merge(&body),
        )
        .await
        .map(|_| ()),
    )
}

/// Remove the references to `owners` from the object at `identity` (upstream
/// `deleteOwnerRefJSONMergePatch` / orphaning), read-modify-write on its live state.
async fn remove_references(
    shared: &Shared,
    identity: &Identity,
    owners: &[Uid],
) -> Result<(), GcError> {
    for _ in 0..MAX_CONFLICTS {
        let Some(meta) = get_live(shared, identity).await? else {
            return Ok(());
        };
        let refs = meta.owner_references.unwrap_or_default();
        let kept: Vec<_> = refs
            .iter()
            .filter(|r| !owners.iter().any(|o| **o == *r.uid))
            .cloned()
            .collect();
        if kept.len() == refs.len() {
            return Ok(());
        }
        let value = if kept.is_empty() {
            Value::Null
        } else {
            serde_json::to_value(&kept).unwrap_or(Value::Null)
        };
        match patch_metadata(
            shared,
            identity,
            meta.resource_version,
            "ownerReferences",
            value,
        )
        .await?
        {
            Outcome::Done => return Ok(()),
            Outcome::Conflict => continue,
        }
    }
    Err(GcError::Conflicts(format!(
        "ownerReferences of {}",
        identity.name
    )))
}

/// Upstream `removeFinalizer`.
async fn remove_finalizer(
    shared: &Shared,
    identity: &Identity,
    finalizer: &str,
) -> Result<(), GcError> {
    for _ in 0..MAX_CONFLICTS {
        let Some(meta) = get_live(shared, identity).await? else {
            return Ok(());
        };
        let finalizers = meta.finalizers.unwrap_or_default();
        if !finalizers.iter().any(|f| f == finalizer) {
            return Ok(());
        }
        let kept: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
        let value = if kept.is_empty() {
            Value::Null
        } else {
            json!(kept)
        };
        tracing::debug!(kind = %identity.kind, name = %identity.name, finalizer, "removing finalizer");
        match patch_metadata(shared, identity, meta.resource_version, "finalizers", value).await? {
            Outcome::Done => return Ok(()),
            Outcome::Conflict => continue,
        }
    }
    Err(GcError::Conflicts(format!(
        "finalizers of {}",
        identity.name
    )))
}

/// Upstream `attemptToDeleteItem`.
pub(super) async fn attempt_to_delete(shared: &Shared, uid: &Uid) -> Result<(), GcError> {
    let Some(item) = shared.graph().snapshot(uid) else {
        return Ok(());
    };
    // "Being deleted" is a one-way trip; its dependents are handled when it is gone.
    if item.flags.being_deleted && !item.flags.deleting_dependents() {
        return Ok(());
    }
    let mut state = if item.is_virtual {
        // Known only from a dependent's reference: ask the API whether it exists.
        let (_, namespace) = api_for(
            shared,
            &item.identity.api_version,
            &item.identity.kind,
            item.identity.namespace.as_ref(),
        )?;
        match get_live(shared, &item.identity).await? {
            None => {
                let work = shared.graph().absent_verified(uid, namespace);
                shared.enqueue(work);
                return Ok(());
            }
            Some(meta) => match ItemState::from_live(shared, &item.identity, &meta) {
                Some(s) => s,
                None => return Ok(()),
            },
        }
    } else {
        ItemState::from_snapshot(&item)
    };
    if item.flags.deleting_dependents() || state.flags.deleting_dependents() {
        return process_deleting_dependents(shared, uid, &item.identity).await;
    }
    for _ in 0..MAX_CONFLICTS {
        if state.owners.is_empty() {
            return Ok(());
        }
        let (mut solid, mut dangling, mut waiting) = (0usize, Vec::new(), Vec::new());
        for r in &state.owners {
            match owner_state(shared, &item.identity, r).await? {
                OwnerState::Solid => solid += 1,
                OwnerState::Dangling => dangling.push(r.uid.clone()),
                OwnerState::Waiting => waiting.push(r.uid.clone()),
            }
        }
        let result = if solid > 0 {
            if dangling.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            // Keep the object for its live owners; drop the references that
            // dangle, and those that would keep a foreground owner waiting.
            dangling.extend(waiting);
            return remove_references(shared, &item.identity, &dangling).await;
        } else if !waiting.is_empty() && item.has_dependents {
            // Its owner waits for it, and it has dependents of its own: delete
            // it in the foreground so the wait covers them too.
            delete_object(
                shared,
                &item.identity,
                state.resource_version.clone(),
                PropagationPolicy::Foreground,
            )
            .await?
        } else {
            let policy = if state.flags.orphan_finalizer {
                PropagationPolicy::Orphan
            } else if state.flags.foreground_finalizer {
                PropagationPolicy::Foreground
            } else {
                PropagationPolicy::Background
            };
            delete_object(
                shared,
                &item.identity,
                state.resource_version.clone(),
                policy,
            )
            .await?
        };
        match result {
            Outcome::Done => return Ok(()),
            Outcome::Conflict => {
                // Decide again on what the object is now.
                let Some(meta) = get_live(shared, &item.identity).await? else {
                    return Ok(());
                };
                state = match ItemState::from_live(shared, &item.identity, &meta) {
                    Some(s) => s,
                    None => return Ok(()),
                };
                if state.flags.being_deleted && !state.flags.deleting_dependents() {
                    return Ok(());
                }
            }
        }
    }
    Err(GcError::Conflicts(format!("{}", item.identity.name)))
}

/// Upstream `processDeletingDependentsItem`: release a foreground owner once
/// no dependent blocks it; until then, make sure its blockers are being deleted.
async fn process_deleting_dependents(
    shared: &Shared,
    uid: &Uid,
    identity: &Identity,
) -> Result<(), GcError> {
    let blocking = shared.graph().blocking_dependents(uid);
    if blocking.is_empty() {
        return remove_finalizer(shared, identity, FINALIZER_FOREGROUND).await;
    }
    for (dep, deleting_dependents) in blocking {
        if !deleting_dependents {
            shared.attempt_to_delete.add(dep);
        }
    }
    Ok(())
}

/// Upstream `attemptToOrphanWorker`: remove the owner from every dependent's
/// ownerReferences, then its `orphan` finalizer.
pub(super) async fn attempt_to_orphan(shared: &Shared, uid: &Uid) -> Result<(), GcError> {
    let Some(owner) = shared.graph().snapshot(uid) else {
        return Ok(());
    };
    let dependents = shared.graph().dependents(uid);
    let owners = [uid.clone()];
    let owners = &owners;
    let results: Vec<Result<(), GcError>> = stream::iter(dependents)
        .map(|d| async move { remove_references(shared, &d, owners).await })
        .buffer_unordered(ORPHAN_CONCURRENCY)
        .collect()
        .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(e);
    }
    remove_finalizer(shared, &owner.identity, FINALIZER_ORPHAN).await
}
