//! Deletion: DeleteOptions, preconditions, finalizers and `deletionTimestamp`,
//! single deletes and deletecollection.

use corral_store::{KeyValue, StoreError};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::Ctx;
use super::read;
use super::write::{MAX_CAS_RETRIES, conflict, finalizers_pending, now_rfc3339};
use crate::encoding::{self, meta_mut, meta_str};
use crate::error::{ApiError, ApiResult};
use crate::namespaces;
use crate::response::{self, Body};

/// The parts of DeleteOptions this server acts on.
#[derive(Default)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

fn delete_options(ctx: &Ctx, body: &[u8]) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions {
        dry_run: ctx.query.dry_run()?,
        ..Default::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(opts);
    }
    let v: Value = match encoding::body_format(ctx.content_type.as_deref())? {
        encoding::BodyFormat::Protobuf => corral_apimachinery::protobuf::decode_object(body)
            .map_err(|e| {
                ApiError::BadRequest(format!("the request body is not valid DeleteOptions: {e}"))
            })?,
        _ => serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the request body is not valid DeleteOptions: {e}"))
        })?,
    };
    if !v.is_object() {
        return Err(ApiError::BadRequest(
            "the request body is not valid DeleteOptions: not an object".into(),
        ));
    }
    if let Some(p) = v.get("preconditions") {
        opts.uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
        opts.resource_version = p
            .get("resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
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
    if let Some(policy) = v.get("propagationPolicy").and_then(Value::as_str)
        && !matches!(policy, "Background" | "Foreground" | "Orphan")
    {
        return Err(ApiError::BadRequest(format!(
            "propagationPolicy: Unsupported value: {policy:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
        )));
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

pub async fn delete_one(ctx: &Ctx, name: &str, opts: &DeleteOptions) -> ApiResult<Deleted> {
    let key = ctx.key(name);
    for _ in 0..MAX_CAS_RETRIES {
        let current: KeyValue = ctx
            .api
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::NotFound(ctx.target(name)))?;
        let mut obj = ctx.served_value(&current)?;
        if let Some(uid) = &opts.uid {
            let actual = meta_str(&obj, "uid").unwrap_or("");
            if uid != actual {
                return Err(ApiError::Conflict {
                    target: ctx.target(name),
                    message: format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    ),
                });
            }
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
        let is_namespace = ctx.def.plural == "namespaces";
        if is_namespace || finalizers_pending(ctx, &obj) {
            if encoding::meta(&obj).contains_key("deletionTimestamp") {
                return Ok(Deleted::Pending(obj));
            }
            {
                let meta = meta_mut(&mut obj)?;
                meta.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            if is_namespace {
                obj["status"] = json!({"phase": "Terminating"});
            }
            if opts.dry_run {
                return Ok(Deleted::Pending(obj));
            }
            let stored = encoding::encode_stored(&ctx.to_storage(obj.clone()))?;
            match ctx
                .api
                .store
                .update(&key, stored, current.mod_revision)
                .await
            {
                Ok(kv) => {
                    encoding::set_rv(&mut obj, kv.mod_revision);
                    if is_namespace {
                        namespaces::spawn_finalizer(ctx.api.clone(), name.to_string());
                    }
                    return Ok(Deleted::Pending(obj));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::NotFound(ctx.target(name)));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if opts.dry_run {
            return Ok(Deleted::Now(obj));
        }
        match ctx.api.store.delete(&key, Some(current.mod_revision)).await {
            Ok(kv) => {
                encoding::set_rv(&mut obj, kv.mod_revision);
                return Ok(Deleted::Now(obj));
            }
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
        Deleted::Pending(obj) => Ok(ctx.value_response(StatusCode::OK, &obj)),
        Deleted::Now(obj) => {
            let mut details = json!({"name": name, "kind": ctx.def.plural, "uid": meta_str(&obj, "uid").unwrap_or("")});
            if !ctx.def.group.is_empty() {
                details["group"] = Value::String(ctx.def.group.to_string());
            }
            Ok(response::value_response(
                StatusCode::OK,
                crate::encoding::Output::Json,
                &response::success_status(details),
            ))
        }
    }
}

pub async fn delete_collection(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let opts = delete_options(ctx, body)?;
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
    let mut deleted = Vec::with_capacity(page.items.len());
    for (kv, _) in page.items {
        let name = kv.key.rsplit('/').next().unwrap_or("").to_string();
        match delete_one(ctx, &name, &opts).await {
            Ok(Deleted::Now(v)) | Ok(Deleted::Pending(v)) => deleted.push(v),
            // Deleted concurrently: that is what we wanted.
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": ctx.def.list_kind(),
        "apiVersion": ctx.def.api_version(),
        "metadata": {"resourceVersion": page.revision.to_string()},
        "items": deleted,
    });
    Ok(response::value_response(StatusCode::OK, ctx.output, &list))
}
