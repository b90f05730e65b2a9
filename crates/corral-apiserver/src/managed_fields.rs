//! `metadata.managedFields` on every create, update and patch (the Update
//! operation of upstream's field manager): who last wrote which fields; and
//! what server-side apply (`handlers::apply`) shares with it.

use corral_apimachinery::fieldmanager::{
    self, BuiltinListTypes, DefaultListTypes, FieldSet, ListTypes, StructuralListTypes,
    UpdateOptions,
};
use corral_apimachinery::validation::FieldError;
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Target};
use crate::handlers::Ctx;
use crate::handlers::write::now_rfc3339;

/// The manager named by `fieldManager`, or derived from the User-Agent.
pub fn manager(ctx: &Ctx) -> ApiResult<String> {
    match ctx.query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => {
            let errors = fieldmanager::validate_field_manager(m, "fieldManager");
            if let Some(e) = errors.first() {
                return Err(ApiError::BadRequest(e.body()));
            }
            Ok(m.to_string())
        }
        None => Ok(fieldmanager::default_manager(&ctx.user_agent)),
    }
}

/// The list and map types of this request's kind: the patch metadata of a
/// built-in kind, the structural schema of a custom resource, ObjectMeta's
/// rules otherwise.
pub fn list_types(ctx: &Ctx) -> Box<dyn ListTypes + Send + Sync + '_> {
    if let Some(custom) = &ctx.def.custom {
        return match custom.schema.as_deref() {
            Some(schema) => Box::new(StructuralListTypes(schema)),
            None => Box::new(DefaultListTypes),
        };
    }
    match corral_apimachinery::patch::meta::schema_for(ctx.def.group, ctx.def.kind) {
        Some(schema) => Box::new(BuiltinListTypes(schema)),
        None => Box::new(DefaultListTypes),
    }
}

/// Fields this request cannot take: upstream's reset fields of the strategy.
pub fn ignored_fields(ctx: &Ctx) -> FieldSet {
    match ctx.info.subresource.as_deref() {
        Some("status") => FieldSet::from_dotted(&["spec"]),
        None if ctx.def.rules.has_status_subresource() => FieldSet::from_dotted(&["status"]),
        _ => FieldSet::default(),
    }
}

/// A `PatchOptions` validation failure (upstream `ValidatePatchOptions`):
/// `PatchOptions.meta.k8s.io "" is invalid: ...`.
pub fn patch_options_invalid(errors: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        target: Target::new("meta.k8s.io", "", ""),
        kind: "PatchOptions".into(),
        errors,
    }
}

/// Record this write in `new`'s managedFields (`live` is the object before
/// it, `None` on create). Failures leave the previous managedFields in place
/// and never fail the write, as upstream logs and carries on.
pub fn track(ctx: &Ctx, live: Option<&Value>, new: &mut Value) -> ApiResult<()> {
    let manager = manager(ctx)?;
    let types = list_types(ctx);
    let subresource = ctx.info.subresource.as_deref();
    let ignored = ignored_fields(ctx);
    let api_version = ctx.def.api_version();
    let now = now_rfc3339();
    let opts = UpdateOptions {
        manager: &manager,
        subresource,
        api_version: &api_version,
        now: &now,
        types: types.as_ref(),
        ignored: &ignored,
        zero_object: None,
    };
    if let Err(e) = fieldmanager::update_managed_fields(live, new, &opts) {
        tracing::debug!(error = %e, kind = ctx.def.kind, "managedFields not updated");
    }
    if let Some(live) = live {
        fieldmanager::revert_timestamp_only_changes(live, new);
    }
    Ok(())
}
