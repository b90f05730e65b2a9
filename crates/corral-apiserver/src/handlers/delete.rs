//! Deletion, as upstream's registry does it (`rest.BeforeDelete`,
//! `Store.Delete`, the namespace REST's two-step delete): DeleteOptions from
//! the body or the query, preconditions, the garbage collector's finalizers
//! (`orphan`, `foregroundDeletion`) chosen by the propagation policy,
//! `deletionTimestamp` while any finalizer is pending, single deletes and
//! deletecollection.
//!
//! The API only records intent here; dependents are removed (or orphaned) by
//! the garbage collector in `corral-kube`, and namespaces are emptied by the
//! namespace controller there.

use corral_apimachinery::validation::FieldError;
use corral_store::{KeyValue, StoreError};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::Ctx;
use super::read;
use super::write::{MAX_CAS_RETRIES, conflict, now_rfc3339};
use crate::encoding::{self, Output, meta_mut, meta_str};
use crate::error::{ApiError, ApiResult, Target};
use crate::response::{self, Body};

/// Upstream `metav1.FinalizerOrphanDependents`.
pub const FINALIZER_ORPHAN: &str = "orphan";
/// Upstream `metav1.FinalizerDeleteDependents`.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// `DeleteOptions.propagationPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

/// The parts of DeleteOptions this server acts on.
#[derive(Default)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
    pub propagation: Option<Propagation>,
    /// The deprecated `orphanDependents`, still honoured as upstream does.
    pub orphan_dependents: Option<bool>,
}

impl DeleteOptions {
    /// Upstream `shouldOrphanDependents`: explicit options win, then a GC
    /// finalizer already on the object; otherwise the default policy, which is
    /// "delete dependents in the background" for every type served here.
    fn should_orphan(&self, finalizers: &[String]) -> bool {
        if let Some(o) = self.orphan_dependents {
            return o;
        }
        if let Some(p) = self.propagation {
            return p == Propagation::Orphan;
        }
        for f in finalizers {
            match f.as_str() {
                FINALIZER_ORPHAN => return true,
                FINALIZER_FOREGROUND => return false,
                _ => {}
            }
        }
        false
    }

    /// Upstream `shouldDeleteDependents`.
    fn should_foreground(&self, finalizers: &[String]) -> bool {
        if self.orphan_dependents.is_some() {
            return false;
        }
        if let Some(p) = self.propagation {
            return p == Propagation::Foreground;
        }
        for f in finalizers {
            match f.as_str() {
                FINALIZER_FOREGROUND => return true,
                FINALIZER_ORPHAN => return false,
                _ => {}
            }
        }
        false
    }

    /// Upstream `deletionFinalizersForGarbageCollection`: the object's
    /// finalizers with the two GC ones re-decided, or `None` when the set is
    /// unchanged.
    fn gc_finalizers(&self, current: &[String]) -> Option<Vec<String>> {
        let orphan = self.should_orphan(current);
        let foreground = self.should_foreground(current);
        let mut new: Vec<String> = current
            .iter()
            .filter(|f| *f != FINALIZER_ORPHAN && *f != FINALIZER_FOREGROUND)
            .cloned()
            .collect();
        if orphan {
            new.push(FINALIZER_ORPHAN.into());
        }
        if foreground {
            new.push(FINALIZER_FOREGROUND.into());
        }
        let same =
            new.iter().all(|f| current.contains(f)) && current.iter().all(|f| new.contains(f));
        (!same).then_some(new)
    }
}

fn bad_options(detail: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!(
        "the request body is not valid DeleteOptions: {detail}"
    ))
}

/// A string option: absent and null are "unset"; anything but a string is a decoding error.
fn opt_string(v: &Value, field: &str) -> ApiResult<Option<String>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad_options(format!(
            "{field} must be a string, not {}",
            encoding::json_type_name(other)
        ))),
    }
}

fn delete_options(ctx: &Ctx, body: &[u8]) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions {
        dry_run: ctx.query.dry_run()?,
        ..Default::default()
    };
    let policy: Option<String>;
    if body.iter().all(u8::is_ascii_whitespace) {
        // Upstream reads the options from the query when there is no body.
        policy = ctx.query.non_empty("propagationPolicy").map(str::to_string);
        opts.orphan_dependents = match ctx.query.non_empty("orphanDependents") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "orphanDependents: invalid value {other:?}"
                )));
            }
        };
    } else {
        let v: Value = match encoding::body_format(ctx.content_type.as_deref())? {
            encoding::BodyFormat::Protobuf => {
                corral_apimachinery::protobuf::decode_object(body).map_err(bad_options)?
            }
            _ => serde_json::from_slice(body).map_err(bad_options)?,
        };
        if !v.is_object() {
            return Err(bad_options("not an object"));
        }
        if let Some(p) = v.get("preconditions").filter(|p| !p.is_null()) {
            opts.uid = opt_string(p, "uid")?;
            opts.resource_version = opt_string(p, "resourceVersion")?;
        }
        if let Some(dr) = v.get("dryRun").and_then(Value::as_array) {
            for d in dr {
                match d.as_str() {
                    Some("All") => opts.dry_run = true,
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "dryRun: Unsupported value: {other:?}: supported values: \"All\""
                        )));
                    }
                }
            }
        }
        policy = opt_string(&v, "propagationPolicy")?;
        opts.orphan_dependents = match v.get("orphanDependents") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                return Err(bad_options(format!(
                    "orphanDependents must be a boolean, not {}",
                    encoding::json_type_name(other)
                )));
            }
        };
    }
    // Upstream `ValidateDeleteOptions`: a 422 about the options themselves.
    let mut errors = Vec::new();
    if let Some(p) = &policy {
        if opts.orphan_dependents.is_some() {
            errors.push(FieldError::invalid(
                "propagationPolicy",
                p.as_str(),
                "orphanDependents and deletionPropagation cannot be both set",
            ));
        }
        opts.propagation = match p.as_str() {
            "Orphan" => Some(Propagation::Orphan),
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            other => {
                errors.push(FieldError::not_supported(
                    "propagationPolicy",
                    other,
                    &["Foreground", "Background", "Orphan", "nil"],
                ));
                None
            }
        };
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid {
            target: Target::new("meta.k8s.io", "", ""),
            kind: "DeleteOptions".into(),
            errors,
        });
    }
    Ok(opts)
}

/// The result of deleting one object.
pub enum Deleted {
    /// Gone from storage.
    Now(Value),
    /// Marked for deletion; finalizers (or namespace emptying) still pending.
    Pending(Value),
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn is_namespace(ctx: &Ctx) -> bool {
    ctx.def.group.is_empty() && ctx.def.plural == "namespaces"
}

/// `rest.BeforeDelete`'s precondition check, with its messages.
fn check_preconditions(
    ctx: &Ctx,
    name: &str,
    obj: &Value,
    current: &KeyValue,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    // Upstream names the kind, not the resource, in these conflicts.
    let target = Target::new(ctx.def.group, ctx.def.kind, name);
    let actual = meta_str(obj, "uid").unwrap_or("");
    if let Some(uid) = &opts.uid
        && uid != actual
    {
        return Err(ApiError::Conflict {
            target,
            message: format!(
                "the UID in the precondition ({uid}) does not match the UID in record ({actual}). The object might have been deleted and then recreated"
            ),
        });
    }
    if let Some(rv) = &opts.resource_version
        && *rv != current.mod_revision.to_string()
    {
        return Err(ApiError::Conflict {
            target,
            message: format!(
                "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                current.mod_revision
            ),
        });
    }
    Ok(())
}

/// The namespace REST's own precondition messages.
fn check_namespace_preconditions(
    ctx: &Ctx,
    name: &str,
    obj: &Value,
    current: &KeyValue,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    let actual = meta_str(obj, "uid").unwrap_or("");
    if let Some(uid) = &opts.uid
        && uid != actual
    {
        return Err(ApiError::Conflict {
            target: ctx.target(name),
            message: format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
            ),
        });
    }
    if let Some(rv) = &opts.resource_version
        && *rv != current.mod_revision.to_string()
    {
        return Err(ApiError::Conflict {
            target: ctx.target(name),
            message: format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.mod_revision
            ),
        });
    }
    Ok(())
}

/// What one compare-and-swap attempt decided.
enum Step {
    Done(Deleted),
    /// Write `obj` over `current` (it stays, marked for deletion).
    Mark(Value),
    /// Remove the object from storage.
    Remove(Value),
}

/// Upstream's namespace REST `Delete`: the first request only marks the
/// namespace (deletionTimestamp, phase Terminating, GC finalizers from
/// explicit options); it goes once `spec.finalizers` is empty, through the
/// ordinary path below.
fn namespace_step(
    ctx: &Ctx,
    name: &str,
    mut obj: Value,
    current: &KeyValue,
    opts: &DeleteOptions,
) -> ApiResult<Step> {
    check_namespace_preconditions(ctx, name, &obj, current, opts)?;
    if encoding::meta(&obj).contains_key("deletionTimestamp") {
        let spec_finalizers = obj
            .get("spec")
            .and_then(|s| s.get("finalizers"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if spec_finalizers {
            return Ok(Step::Done(Deleted::Pending(obj)));
        }
        return object_step(obj, opts);
    }
    {
        let meta = meta_mut(&mut obj)?;
        meta.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
        let current_finalizers = string_list(meta.get("finalizers"));
        // Only explicit options change the GC finalizers of a namespace.
        let orphan = match (opts.orphan_dependents, opts.propagation) {
            (Some(o), _) => o,
            (None, Some(p)) => p == Propagation::Orphan,
            (None, None) => current_finalizers.iter().any(|f| f == FINALIZER_ORPHAN),
        };
        let foreground = match (opts.orphan_dependents, opts.propagation) {
            (Some(o), _) => !o,
            (None, Some(p)) => p == Propagation::Foreground,
            (None, None) => current_finalizers.iter().any(|f| f == FINALIZER_FOREGROUND),
        };
        let mut finalizers: Vec<String> = current_finalizers
            .into_iter()
            .filter(|f| f != FINALIZER_ORPHAN && f != FINALIZER_FOREGROUND)
            .collect();
        if orphan {
            finalizers.push(FINALIZER_ORPHAN.into());
        }
        if foreground {
            finalizers.push(FINALIZER_FOREGROUND.into());
        }
        if finalizers.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), json!(finalizers));
        }
    }
    match obj.get_mut("status").and_then(Value::as_object_mut) {
        Some(status) => {
            status.insert("phase".into(), json!("Terminating"));
        }
        None => obj["status"] = json!({"phase": "Terminating"}),
    }
    Ok(Step::Mark(obj))
}

/// Upstream `Store.Delete` for an object that is not gracefully deleted:
/// re-decide the GC finalizers; with any finalizer left the object is marked
/// (`markAsDeleting`) and stays, otherwise it is removed now.
fn object_step(mut obj: Value, opts: &DeleteOptions) -> ApiResult<Step> {
    let current = string_list(encoding::meta(&obj).get("finalizers"));
    let new = opts.gc_finalizers(&current);
    let pending = new.as_ref().unwrap_or(&current);
    if pending.is_empty() {
        return Ok(Step::Remove(obj));
    }
    let meta = encoding::meta(&obj);
    let already = meta.contains_key("deletionTimestamp");
    let zero_grace = meta
        .get("deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        == Some(0);
    if new.is_none() && already && zero_grace {
        // Nothing to change: upstream's no-op update returns the object as it is.
        return Ok(Step::Done(Deleted::Pending(obj)));
    }
    let meta = meta_mut(&mut obj)?;
    if let Some(f) = new {
        meta.insert("finalizers".into(), json!(f));
    }
    if !already {
        // Upstream bumps the generation of types that track it when deletion starts.
        if let Some(g) = meta
            .get("generation")
            .and_then(Value::as_i64)
            .filter(|g| *g > 0)
        {
            meta.insert("generation".into(), json!(g + 1));
        }
        meta.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
    }
    meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    Ok(Step::Mark(obj))
}

pub async fn delete_one(ctx: &Ctx, name: &str, opts: &DeleteOptions) -> ApiResult<Deleted> {
    let key = ctx.key(name);
    for _ in 0..MAX_CAS_RETRIES {
        let current: KeyValue = ctx
            .api
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::NotFound(ctx.target(name)))?;
        let obj = ctx.served_value(&current)?;
        let step = if is_namespace(ctx) {
            namespace_step(ctx, name, obj, &current, opts)?
        } else {
            check_preconditions(ctx, name, &obj, &current, opts)?;
            let obj = if crate::crds::is_crd(&ctx.def) {
                crate::crds::with_cleanup_finalizer(obj)
            } else {
                obj
            };
            object_step(obj, opts)?
        };
        let result = match step {
            Step::Done(d) => return Ok(d),
            Step::Mark(obj) if opts.dry_run => return Ok(Deleted::Pending(obj)),
            Step::Remove(obj) if opts.dry_run => return Ok(Deleted::Now(obj)),
            Step::Mark(mut obj) => {
                let stored = ctx.encode_for_storage(&obj)?;
                match ctx
                    .api
                    .store
                    .update(&key, stored, current.mod_revision)
                    .await
                {
                    Ok(kv) => {
                        encoding::set_rv(&mut obj, kv.mod_revision);
                        Ok(Deleted::Pending(obj))
                    }
                    Err(e) => Err(e),
                }
            }
            Step::Remove(mut obj) => {
                match ctx.api.store.delete(&key, Some(current.mod_revision)).await {
                    Ok(kv) => {
                        crate::allocator::release_on_delete(&ctx.api.services, ctx, &obj).await;
                        encoding::set_rv(&mut obj, kv.mod_revision);
                        Ok(Deleted::Now(obj))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(d) => return Ok(d),
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound { .. }) => return Err(ApiError::NotFound(ctx.target(name))),
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict(ctx, name))
}

pub async fn delete(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let opts = delete_options(ctx, body)?;
    let name = ctx.info.name.clone().unwrap_or_default();
    match delete_one(ctx, &name, &opts).await? {
        Deleted::Pending(obj) => {
            // Upstream answers 202 only to the legacy "orphanDependents: false"
            // (changing it for everyone would break old clients).
            let code = if opts.orphan_dependents == Some(false) && !opts.dry_run {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            Ok(ctx.value_response(code, &obj))
        }
        Deleted::Now(obj) => {
            let mut details = json!({"name": name, "kind": ctx.def.plural, "uid": meta_str(&obj, "uid").unwrap_or("")});
            if !ctx.def.group.is_empty() {
                details["group"] = Value::String(ctx.def.group.to_string());
            }
            Ok(response::value_response(
                StatusCode::OK,
                Output::Json,
                &response::success_status(details),
            ))
        }
    }
}

pub async fn delete_collection(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let opts = delete_options(ctx, body)?;
    if ctx.output == Output::PartialObject {
        return Err(encoding::transform_mismatch(
            ctx.output,
            &ctx.go_type("List"),
        ));
    }
    let selectors = ctx.selectors()?;
    let page = read::collect(
        ctx,
        read::ListRequest {
            revision: None,
            start_after: None,
            limit: 0,
        },
        &selectors,
    )
    .await?;
    let partial = ctx.output == Output::PartialList;
    let mut deleted = Vec::with_capacity(page.items.len());
    for (kv, _) in page.items {
        let name = kv.key.rsplit('/').next().unwrap_or("").to_string();
        match delete_one(ctx, &name, &opts).await {
            Ok(Deleted::Now(v)) | Ok(Deleted::Pending(v)) if partial => {
                deleted.push(encoding::partial_object_metadata(&v))
            }
            Ok(Deleted::Now(v)) | Ok(Deleted::Pending(v)) => deleted.push(v),
            // Deleted concurrently: that is what we wanted.
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let list_meta = json!({"resourceVersion": page.revision.to_string()});
    let list = if partial {
        encoding::partial_object_metadata_list(list_meta, deleted)
    } else {
        json!({
            "kind": ctx.def.list_kind(),
            "apiVersion": ctx.def.api_version(),
            "metadata": list_meta,
            "items": deleted,
        })
    };
    Ok(response::value_response(StatusCode::OK, ctx.output, &list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(p: Option<Propagation>, orphan: Option<bool>) -> DeleteOptions {
        DeleteOptions {
            propagation: p,
            orphan_dependents: orphan,
            ..Default::default()
        }
    }

    fn f(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn propagation_policy_decides_the_gc_finalizers() {
        // Background (the default) adds nothing.
        assert_eq!(opts(None, None).gc_finalizers(&f(&["x"])), None);
        assert_eq!(
            opts(Some(Propagation::Background), None).gc_finalizers(&f(&[])),
            None
        );
        assert_eq!(
            opts(Some(Propagation::Orphan), None).gc_finalizers(&f(&[])),
            Some(f(&["orphan"]))
        );
        assert_eq!(
            opts(Some(Propagation::Foreground), None).gc_finalizers(&f(&["x"])),
            Some(f(&["x", "foregroundDeletion"]))
        );
        // Legacy orphanDependents.
        assert_eq!(
            opts(None, Some(true)).gc_finalizers(&f(&[])),
            Some(f(&["orphan"]))
        );
        assert_eq!(
            opts(None, Some(false)).gc_finalizers(&f(&["orphan"])),
            Some(f(&[]))
        );
    }

    #[test]
    fn a_second_delete_switches_the_gc_finalizer() {
        // Orphan, then Foreground: the orphan finalizer is replaced.
        assert_eq!(
            opts(Some(Propagation::Foreground), None).gc_finalizers(&f(&["a", "orphan"])),
            Some(f(&["a", "foregroundDeletion"]))
        );
        // Foreground, then Background: nothing holds the object any more.
        assert_eq!(
            opts(Some(Propagation::Background), None).gc_finalizers(&f(&["foregroundDeletion"])),
            Some(f(&[]))
        );
        // No policy: the finalizer already there decides, so nothing changes.
        assert_eq!(opts(None, None).gc_finalizers(&f(&["orphan"])), None);
        assert_eq!(
            opts(None, None).gc_finalizers(&f(&["foregroundDeletion"])),
            None
        );
    }

    #[test]
    fn object_step_marks_or_removes() {
        let obj =
            json!({"metadata": {"name": "a", "finalizers": ["example.com/x"], "generation": 3}});
        match object_step(obj, &opts(None, None)) {
            Ok(Step::Mark(v)) => {
                assert!(v["metadata"]["deletionTimestamp"].is_string());
                assert_eq!(v["metadata"]["deletionGracePeriodSeconds"], 0);
                assert_eq!(v["metadata"]["generation"], 4);
            }
            _ => panic!("expected the object to be marked"),
        }
        let obj = json!({"metadata": {"name": "a"}});
        assert!(matches!(
            object_step(obj, &opts(None, None)),
            Ok(Step::Remove(_))
        ));
        // Already marked, same finalizers: a no-op.
        let obj = json!({"metadata": {"name": "a", "finalizers": ["orphan"], "deletionTimestamp": "2024-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0}});
        assert!(matches!(
            object_step(obj, &opts(Some(Propagation::Orphan), None)),
            Ok(Step::Done(Deleted::Pending(_)))
        ));
    }
}
