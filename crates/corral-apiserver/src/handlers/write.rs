//! create, update, delete and deletecollection.

use corral_apimachinery::patch::PatchError;
use corral_apimachinery::patch::meta::PatchSchema;
use corral_apimachinery::validation::{self, FieldError};
use corral_store::StoreError;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::crds;
use crate::encoding::{self, meta_mut, meta_str};
use crate::error::{ApiError, ApiResult};
use crate::fieldvalidation::{self, Problem};
use crate::namespaces;
use crate::response::Body;

/// How many times a delete retries a lost compare-and-swap.
pub(crate) const MAX_CAS_RETRIES: usize = 32;

/// How long an update or patch without a client-supplied resourceVersion
/// keeps retrying lost compare-and-swaps. Upstream's GuaranteedUpdate retries
/// without a count limit (bounded by the request timeout): a hot object under
/// many writers must not turn into 409s that `kubectl patch` reports.
const CAS_RETRY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

pub fn now_rfc3339() -> String {
    corral_apimachinery::util::format_rfc3339_utc(time::OffsetDateTime::now_utc())
}

/// Decode the body and check (or default) its apiVersion and kind against the endpoint.
/// Also returns the keys the body repeats, for [`check_fields`].
fn decode_object(ctx: &Ctx, body: &[u8]) -> ApiResult<(Value, Vec<String>)> {
    let format = encoding::body_format(ctx.content_type.as_deref())?;
    let (mut obj, duplicates) =
        encoding::decode_body_noting_duplicates(body, format, ctx.def.kind)?;
    let expected_version = ctx.def.api_version();
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("the request body must be a JSON object".into()))?;
    let api_version = match map.get("apiVersion") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "apiVersion: must be a string, not {}",
                encoding::json_type_name(other)
            )));
        }
    };
    let kind = match map.get("kind") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "kind: must be a string, not {}",
                encoding::json_type_name(other)
            )));
        }
    };
    if let Some(v) = &api_version
        && *v != expected_version
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({v}) does not match the expected API version ({expected_version})"
        )));
    }
    if let Some(k) = &kind
        && k != ctx.def.kind
    {
        return Err(ApiError::BadRequest(format!(
            "{k} in version {:?} cannot be handled as a {}: the kind in the data does not match the endpoint",
            ctx.def.version, ctx.def.kind
        )));
    }
    map.insert("apiVersion".into(), Value::String(expected_version));
    map.insert("kind".into(), Value::String(ctx.def.kind.to_string()));
    if let Some(m) = map.get("metadata")
        && !m.is_object()
    {
        return Err(ApiError::BadRequest(format!(
            "{} in version {:?} cannot be handled as a {}: metadata must be an object",
            ctx.def.kind, ctx.def.version, ctx.def.kind
        )));
    }
    Ok((obj, duplicates))
}

/// Make the body's namespace agree with the URL (upstream rejects a mismatch).
pub(crate) fn reconcile_namespace(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let meta = meta_mut(obj)?;
    if !ctx.def.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let url_ns = ctx.info.namespace.clone().unwrap_or_default();
    match meta.get("namespace") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) if *s == url_ns => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
    }
    meta.insert("namespace".into(), Value::String(url_ns));
    Ok(())
}

pub(crate) fn invalid(ctx: &Ctx, name: &str, errors: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        target: ctx.target(name),
        kind: ctx.def.kind.to_string(),
        errors,
    }
}

fn random_suffix() -> String {
    // Upstream's alphabet: no vowels (no accidental words) and no look-alike characters.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `fieldValidation`: drop the object's unknown fields, and report them and
/// the body's duplicate keys (asked for only when they will be reported) as
/// an error or as warnings.
pub(crate) fn check_fields(
    ctx: &Ctx,
    duplicates: impl FnOnce() -> Vec<String>,
    obj: &mut Value,
) -> ApiResult<()> {
    let directive = fieldvalidation::Directive::from_query(&ctx.query)?;
    let unknown = match &ctx.def.custom {
        Some(c) => fieldvalidation::drop_unknown_custom_fields(c.schema.as_deref(), obj),
        None => {
            fieldvalidation::drop_unknown_fields(ctx.def.group, ctx.def.version, ctx.def.kind, obj)
        }
    };
    if directive == fieldvalidation::Directive::Ignore {
        return Ok(());
    }
    let mut problems: Vec<Problem> = duplicates().into_iter().map(Problem::Duplicate).collect();
    problems.extend(unknown);
    let warnings = fieldvalidation::enforce(directive, problems)?;
    ctx.warn(warnings);
    Ok(())
}

pub async fn create(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let (mut obj, duplicates) = decode_object(ctx, body)?;
    check_fields(ctx, || duplicates, &mut obj)?;
    create_object(ctx, obj, true).await
}

/// Create a decoded object (fields already checked): system metadata,
/// defaults, validation, admission, managedFields (the Update workflow when
/// `track_fields`; an apply brings its own) and the store.
pub(crate) async fn create_object(
    ctx: &Ctx,
    mut obj: Value,
    track_fields: bool,
) -> ApiResult<Response<Body>> {
    let dry_run = ctx.query.dry_run()?;
    reconcile_namespace(ctx, &mut obj)?;
    {
        let meta = meta_mut(&mut obj)?;
        let name_empty = meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if name_empty
            && let Some(prefix) = meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        {
            let name = format!("{prefix}{}", random_suffix());
            meta.insert("name".into(), Value::String(name));
        }
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        for f in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "generation",
        ] {
            meta.remove(f);
        }
        if ctx.def.rules.tracks_generation() {
            meta.insert("generation".into(), json!(1));
        }
    }
    ctx.def.rules.default_on_create(&mut obj);
    let name = meta_str(&obj, "name").unwrap_or("").to_string();
    let mut errors = validation::validate_object_meta(
        obj.get("metadata").unwrap_or(&Value::Null),
        ctx.def.namespaced,
        ctx.def.rules.name_rule(),
    );
    errors.extend(ctx.def.rules.validate_create(&obj));
    if !errors.is_empty() {
        return Err(invalid(ctx, &name, errors));
    }
    super::escalation::check(ctx, &obj)?;
    if let Some(ns) = ctx.namespace() {
        namespaces::check_allows_create(&ctx.api, ns, &ctx.target(&name)).await?;
    }
    if ctx.def.custom.as_ref().is_some_and(|c| c.terminating) {
        return Err(ApiError::MethodNotAllowedMessage(
            "create not allowed while custom resource definition is terminating".into(),
        ));
    }
    let is_crd = crds::is_crd(&ctx.def);
    if is_crd {
        crds::set_name_status(&ctx.api.registry(), &mut obj, &now_rfc3339());
    }
    if track_fields {
        crate::managed_fields::track(ctx, None, &mut obj)?;
    }
    crate::quota::admit_create(ctx, &obj, dry_run).await?;
    if dry_run {
        ctx.encode_for_storage(&obj)?;
        return Ok(ctx.value_response(StatusCode::CREATED, &obj));
    }
    // After managedFields, as upstream: allocated addresses belong to no manager.
    let taken = crate::allocator::allocate_on_create(&ctx.api.services, ctx, &mut obj).await?;
    let created = match ctx.encode_for_storage(&obj) {
        Ok(stored) => ctx.api.store.create(&ctx.key(&name), stored).await,
        Err(e) => {
            let _ = ctx.api.services.release(&taken).await;
            return Err(e);
        }
    };
    let kv = match created {
        Ok(kv) => kv,
        Err(e) => {
            let _ = ctx.api.services.release(&taken).await;
            return match e {
                StoreError::AlreadyExists { .. } => Err(ApiError::AlreadyExists(ctx.target(&name))),
                e => Err(e.into()),
            };
        }
    };
    observe_write(ctx, &kv);
    ctx.object_response(StatusCode::CREATED, &kv)
}

/// What an update of `old` by `body` produces, per subresource.
pub(crate) fn updated_object(ctx: &Ctx, mut body: Value, old: &Value) -> ApiResult<Value> {
    let mut new = match ctx.info.subresource.as_deref() {
        Some("status") => {
            let mut n = old.clone();
            n["status"] = body.get("status").cloned().unwrap_or(Value::Null);
            n
        }
        Some("finalize") => {
            let mut n = old.clone();
            let finalizers = body
                .get("spec")
                .and_then(|s| s.get("finalizers"))
                .cloned()
                .unwrap_or(json!([]));
            if let Some(spec) = n.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("finalizers".into(), finalizers);
            } else {
                n["spec"] = json!({"finalizers": finalizers});
            }
            n
        }
        _ => {
            if ctx.def.rules.has_status_subresource() {
                match old.get("status") {
                    Some(s) => body["status"] = s.clone(),
                    None => {
                        if let Some(m) = body.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            body
        }
    };
    // System-owned metadata comes from the stored object, whatever the client sent.
    let old_meta = encoding::meta(old).clone();
    let meta = meta_mut(&mut new)?;
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    meta.remove("selfLink");
    if ctx.def.rules.tracks_generation() && spec_changed(&new, old) {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        meta_mut(&mut new)?.insert("generation".into(), json!(g + 1));
    }
    Ok(new)
}

/// Anything other than metadata and status changed (what upstream's generation counts).
fn spec_changed(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m
    };
    strip(new) != strip(old)
}

pub(crate) fn finalizers_pending(ctx: &Ctx, obj: &Value) -> bool {
    let meta_finalizers = encoding::meta(obj)
        .get("finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let spec_finalizers = ctx.def.plural == "namespaces"
        && obj
            .get("spec")
            .and_then(|s| s.get("finalizers"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
    meta_finalizers || spec_finalizers
}

pub async fn update(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let (mut obj, duplicates) = decode_object(ctx, body)?;
    check_fields(ctx, || duplicates, &mut obj)?;
    reconcile_namespace(ctx, &mut obj)?;
    let body_name = meta_str(&obj, "name").unwrap_or("");
    if body_name != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let requested_rv = requested_rv(ctx, &name, &obj)?;
    guaranteed_update(ctx, &name, |old| {
        Ok((updated_object(ctx, obj.clone(), old)?, requested_rv))
    })
    .await
}

/// The resourceVersion a client sent as a precondition, if any.
pub(crate) fn requested_rv(ctx: &Ctx, name: &str, obj: &Value) -> ApiResult<Option<i64>> {
    match meta_str(obj, "resourceVersion").filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            invalid(
                ctx,
                name,
                vec![FieldError {
                    path: "metadata.resourceVersion".into(),
                    error_type: validation::ErrorType::Invalid,
                    value: Some(Value::String(s.to_string())),
                    detail: "must be an integer".into(),
                }],
            )
        }),
    }
}

/// PATCH with a JSON patch (RFC 6902), a JSON merge patch (RFC 7386) or a
/// strategic merge patch (built-in kinds).
pub async fn patch(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let media = ctx
        .content_type
        .as_deref()
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if media == "application/apply-patch+yaml" {
        return super::apply::apply(ctx, body).await;
    }
    enum Kind {
        Json(json_patch::Patch),
        Merge(Value),
        Strategic(Value, &'static PatchSchema),
    }
    let patch = match media.as_str() {
        "application/json-patch+json" => Kind::Json(
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("the JSON patch is not valid: {e}")))?,
        ),
        "application/merge-patch+json" => {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::BadRequest(format!("the merge patch is not valid JSON: {e}"))
            })?;
            if !v.is_object() {
                return Err(ApiError::BadRequest(
                    "a merge patch must be a JSON object".into(),
                ));
            }
            Kind::Merge(v)
        }
        "application/strategic-merge-patch+json" => {
            // Upstream serves strategic merge patch for built-in kinds only.
            let schema = match ctx.def.custom {
                Some(_) => None,
                None => corral_apimachinery::patch::meta::schema_for(ctx.def.group, ctx.def.kind),
            }
            .ok_or_else(|| ApiError::UnsupportedMediaType(media.clone()))?;
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::BadRequest(format!("the strategic merge patch is not valid JSON: {e}"))
            })?;
            if !v.is_object() {
                return Err(ApiError::BadRequest(
                    "a strategic merge patch must be a JSON object".into(),
                ));
            }
            Kind::Strategic(v, schema)
        }
        other => return Err(ApiError::UnsupportedMediaType(other.to_string())),
    };
    if ctx.query.get("force").is_some() {
        // Upstream ValidatePatchOptions: force belongs to apply alone.
        return Err(crate::managed_fields::patch_options_invalid(vec![
            FieldError::new(
                "force",
                validation::ErrorType::Forbidden,
                None,
                "may not be specified for non-apply patch",
            ),
        ]));
    }
    guaranteed_update(ctx, &name, |old| {
        let mut patched = old.clone();
        match &patch {
            Kind::Json(p) => apply_json_patch(&mut patched, p)
                .map_err(|e| ApiError::Invalid {
                    target: ctx.target(&name),
                    kind: ctx.def.kind.to_string(),
                    errors: vec![FieldError {
                        path: "".into(),
                        error_type: validation::ErrorType::Invalid,
                        value: None,
                        detail: format!("the JSON patch could not be applied: {e}"),
                    }],
                })?,
            Kind::Merge(p) => json_patch::merge(&mut patched, p),
            Kind::Strategic(p, schema) => {
                patched = corral_apimachinery::patch::strategic::strategic_merge(old, p, schema)
                    .map_err(|e| strategic_error(ctx, &name, e))?;
            }
        }
        if !patched.is_object() {
            return Err(ApiError::BadRequest("the patched object is not a JSON object".into()));
        }
        // A retried compare-and-swap computes the patch again: keep one round's warnings.
        ctx.take_warnings();
        check_fields(ctx, || fieldvalidation::duplicate_fields(body), &mut patched)?;
        // A patch that sets resourceVersion makes it a precondition, as upstream.
        let old_rv = meta_str(old, "resourceVersion");
        let rv = match meta_str(&patched, "resourceVersion") {
            Some(v) if Some(v) != old_rv => requested_rv(ctx, &name, &patched)?,
            _ => None,
        };
        let patched_name = meta_str(&patched, "name").unwrap_or("");
        if patched_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({patched_name}) does not match the name on the URL ({name})"
            )));
        }
        for field in ["apiVersion", "kind"] {
            if patched.get(field) != old.get(field) {
                return Err(ApiError::BadRequest(format!("{field} cannot be changed by a patch")));
            }
        }
        Ok((updated_object(ctx, patched, old)?, rv))
    })
    .await
}

/// RFC 6902 as upstream applies it (evanphx/json-patch): a `test` of `null`
/// passes on a missing path. kube-rs' finalizer helper relies on that to add
/// the first finalizer only when there were none.
fn apply_json_patch(
    doc: &mut Value,
    patch: &json_patch::Patch,
) -> Result<(), json_patch::PatchError> {
    let missing_null_test = |op: &json_patch::PatchOperation, doc: &Value| match op {
        json_patch::PatchOperation::Test(t) => {
            t.value.is_null() && doc.pointer(t.path.as_str()).is_none()
        }
        _ => false,
    };
    if !patch.0.iter().any(|op| missing_null_test(op, doc)) {
        return json_patch::patch(doc, patch);
    }
    // Operation by operation, on a copy, so a failure leaves `doc` untouched.
    let mut work = doc.clone();
    for op in &patch.0 {
        if missing_null_test(op, &work) {
            continue;
        }
        json_patch::patch(&mut work, std::slice::from_ref(op))?;
    }
    *doc = work;
    Ok(())
}

/// Malformed patches are the client's fault: 400 for a body that is not a
/// patch, 422 for directives that cannot apply to this object.
fn strategic_error(ctx: &Ctx, name: &str, e: PatchError) -> ApiError {
    if e.http_status() == 400 {
        return ApiError::BadRequest(e.to_string());
    }
    invalid(
        ctx,
        name,
        vec![FieldError::new(
            "",
            validation::ErrorType::Invalid,
            None,
            format!("the strategic merge patch could not be applied: {e}"),
        )],
    )
}

/// Read, compute the new object from the current one, validate, and write with
/// compare-and-swap — retrying on a lost race unless the client pinned a resourceVersion.
async fn guaranteed_update(
    ctx: &Ctx,
    name: &str,
    compute: impl Fn(&Value) -> ApiResult<(Value, Option<i64>)>,
) -> ApiResult<Response<Body>> {
    match update_object(ctx, name, compute).await? {
        Updated::Stored(kv) => ctx.object_response(StatusCode::OK, &kv),
        Updated::Value(v) => Ok(ctx.value_response(StatusCode::OK, &v)),
    }
}

/// The outcome of [`update_object`].
pub(crate) enum Updated {
    /// Written (or unchanged): the stored object.
    Stored(corral_store::KeyValue),
    /// Not stored as such: a dry run's result, or an object whose last finalizer went (deleted).
    Value(Value),
}

impl Updated {
    /// The object in served form with its resourceVersion.
    pub(crate) fn into_value(self, ctx: &Ctx) -> ApiResult<Value> {
        match self {
            Updated::Stored(kv) => ctx.served_value(&kv),
            Updated::Value(v) => Ok(v),
        }
    }
}

/// The compare-and-swap loop of every update, patch and subresource write.
pub(crate) async fn update_object(
    ctx: &Ctx,
    name: &str,
    compute: impl Fn(&Value) -> ApiResult<(Value, Option<i64>)>,
) -> ApiResult<Updated> {
    update_object_with(ctx, name, true, compute).await
}

/// [`update_object`], recording the write in managedFields with the Update
/// workflow only when `track_fields` (an apply computes its own).
pub(crate) async fn update_object_with(
    ctx: &Ctx,
    name: &str,
    track_fields: bool,
    compute: impl Fn(&Value) -> ApiResult<(Value, Option<i64>)>,
) -> ApiResult<Updated> {
    let dry_run = ctx.query.dry_run()?;
    let key = ctx.key(name);
    let deadline = std::time::Instant::now() + CAS_RETRY_DEADLINE;
    let mut attempt: u32 = 0;
    while std::time::Instant::now() < deadline {
        if attempt >= 8 {
            // Many writers on one object: spread the retries out a little.
            let jitter = rand::random_range(0..=u64::from(attempt.min(64)));
            tokio::time::sleep(std::time::Duration::from_micros(200 * jitter)).await;
        }
        attempt += 1;
        let current = ctx
            .api
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::NotFound(ctx.target(name)))?;
        let old = ctx.served_value(&current)?;
        let (mut new, requested_rv) = compute(&old)?;
        if requested_rv.is_some_and(|rv| rv != current.mod_revision) {
            return Err(conflict(ctx, name));
        }
        encoding::meta_mut(&mut new)?.remove("resourceVersion");
        if ctx.info.subresource.is_none() {
            ctx.def.rules.prepare_for_update(&mut new, &old);
        }
        let mut errors = validation::validate_object_meta(
            new.get("metadata").unwrap_or(&Value::Null),
            ctx.def.namespaced,
            ctx.def.rules.name_rule(),
        );
        errors.extend(validation::validate_object_meta_update(
            new.get("metadata").unwrap_or(&Value::Null),
            old.get("metadata").unwrap_or(&Value::Null),
        ));
        errors.extend(ctx.def.rules.validate_update(&new, &old));
        if !errors.is_empty() {
            return Err(invalid(ctx, name, errors));
        }
        super::escalation::check(ctx, &new)?;
        let is_crd = crds::is_crd(&ctx.def);
        if is_crd && ctx.info.subresource.is_none() {
            crds::set_name_status(&ctx.api.registry(), &mut new, &now_rfc3339());
        }
        if track_fields {
            crate::managed_fields::track(ctx, Some(&old), &mut new)?;
        }
        let alloc = if dry_run {
            crate::allocator::UpdateAllocations::default()
        } else {
            crate::allocator::allocate_on_update(&ctx.api.services, ctx, &old, &mut new).await?
        };
        let stored = match ctx.encode_for_storage(&new) {
            Ok(s) => s,
            Err(e) => {
                let _ = ctx.api.services.release(&alloc.allocated).await;
                return Err(e);
            }
        };
        if stored == current.value {
            // Nothing changed: upstream does not write, and the resourceVersion stays.
            let _ = ctx.api.services.release(&alloc.allocated).await;
            return Ok(Updated::Stored(current));
        }
        if dry_run {
            encoding::set_rv(&mut new, current.mod_revision);
            return Ok(Updated::Value(new));
        }
        let deleting = encoding::meta(&new).contains_key("deletionTimestamp");
        let result = if deleting && !finalizers_pending(ctx, &new) {
            // The last finalizer is gone from an object being deleted: finish the deletion.
            ctx.api
                .store
                .delete(&key, Some(current.mod_revision))
                .await
                .map(|kv| {
                    encoding::set_rv(&mut new, kv.mod_revision);
                    None
                })
        } else {
            ctx.api
                .store
                .update(&key, stored, current.mod_revision)
                .await
                .map(Some)
        };
        let services = &ctx.api.services;
        match &result {
            Ok(Some(_)) => {
                let _ = services.release(&alloc.freed).await;
            }
            Ok(None) => {
                let _ = services.release(&alloc.allocated).await;
                crate::allocator::release_on_delete(services, ctx, &new).await;
            }
            Err(_) => {
                let _ = services.release(&alloc.allocated).await;
            }
        }
        match result {
            Ok(Some(kv)) => {
                observe_write(ctx, &kv);
                return Ok(Updated::Stored(kv));
            }
            Ok(None) => return Ok(Updated::Value(new)),
            Err(StoreError::Conflict { .. }) if requested_rv.is_none() => continue,
            Err(StoreError::Conflict { .. }) => return Err(conflict(ctx, name)),
            Err(StoreError::NotFound { .. }) => return Err(ApiError::NotFound(ctx.target(name))),
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict(ctx, name))
}

/// Tell this replica's in-memory views about a write before their watch
/// does, so the writer's next request already sees it: a CRD is served, a
/// quota limits.
fn observe_write(ctx: &Ctx, kv: &corral_store::KeyValue) {
    if crds::is_crd(&ctx.def) {
        ctx.api.crds.observe(kv);
    } else if ctx.def.group.is_empty() && ctx.def.plural == "resourcequotas" {
        ctx.api.quotas.observe(kv);
    }
}

pub(crate) fn conflict(ctx: &Ctx, name: &str) -> ApiError {
    ApiError::Conflict {
        target: ctx.target(name),
        message: "the object has been modified; please apply your changes to the latest version and try again".into(),
    }
}
