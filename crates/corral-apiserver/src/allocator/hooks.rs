//! The write path's calls into the allocator (see the module docs of
//! `allocator` for where each one sits); they do nothing for resources
//! other than core/v1 Services.

use serde_json::Value;

use super::{Allocated, ServiceAllocator, UpdateAllocations};

/// Whether a request's resource is the built-in core/v1 Service.
fn is_service(ctx: &crate::handlers::Ctx) -> bool {
    ctx.def.group.is_empty() && ctx.def.kind == "Service" && ctx.def.custom.is_none()
}

/// Write-path hook for create: after defaulting and validation, before the
/// store write (not on dry run). Returns what to [`ServiceAllocator::release`]
/// if the store write then fails. Does nothing for other resources.
pub(crate) async fn allocate_on_create(
    alloc: &ServiceAllocator,
    ctx: &crate::handlers::Ctx,
    obj: &mut Value,
) -> crate::error::ApiResult<Vec<Allocated>> {
    if !is_service(ctx) {
        return Ok(Vec::new());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    alloc
        .allocate_service(obj)
        .await
        .map_err(|e| e.into_api_error(ctx.target(&name)))
}

/// Write-path hook for update (main resource only, not `/status`): after
/// validation, before the compare-and-swap. Release `allocated` if the
/// write fails (or is retried), `freed` once it succeeded.
pub(crate) async fn allocate_on_update(
    alloc: &ServiceAllocator,
    ctx: &crate::handlers::Ctx,
    old: &Value,
    new: &mut Value,
) -> crate::error::ApiResult<UpdateAllocations> {
    if !is_service(ctx) || ctx.info.subresource.is_some() {
        return Ok(UpdateAllocations::default());
    }
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    alloc
        .update_service(old, new)
        .await
        .map_err(|e| e.into_api_error(ctx.target(&name)))
}

/// Delete-path hook: once the Service is gone from the store (not when a
/// deletion is only marked pending finalizers). Failures are logged; the
/// repair loop frees what is left.
pub(crate) async fn release_on_delete(
    alloc: &ServiceAllocator,
    ctx: &crate::handlers::Ctx,
    obj: &Value,
) {
    if !is_service(ctx) {
        return;
    }
    if let Err(e) = alloc.release_service(obj).await {
        tracing::warn!(error = %e, "releasing a deleted Service's cluster IP and node ports failed; repair will free them");
    }
}
