//! `metadata.managedFields` on every create, update and patch (the Update
//! operation of upstream's field manager): who last wrote which fields.

use corral_apimachinery::fieldmanager::{
    self, BuiltinListTypes, DefaultListTypes, FieldSet, ListTypes, UpdateOptions,
};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
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

/// Record this write in `new`'s managedFields (`live` is the object before
/// it, `None` on create). Failures leave the previous managedFields in place
/// and never fail the write, as upstream logs and carries on.
pub fn track(ctx: &Ctx, live: Option<&Value>, new: &mut Value) -> ApiResult<()> {
    let manager = manager(ctx)?;
    let builtin;
    let types: &dyn ListTypes =
        match corral_apimachinery::patch::meta::schema_for(ctx.def.group, ctx.def.kind) {
            Some(schema) if ctx.def.custom.is_none() => {
                builtin = BuiltinListTypes(schema);
                &builtin
            }
            _ => &DefaultListTypes,
        };
    let subresource = ctx.info.subresource.as_deref();
    // Fields this request cannot take: upstream's reset fields of the strategy.
    let ignored = match subresource {
        Some("status") => FieldSet::from_dotted(&["spec"]),
        None if ctx.def.rules.has_status_subresource() => FieldSet::from_dotted(&["status"]),
        _ => FieldSet::default(),
    };
    let api_version = ctx.def.api_version();
    let now = now_rfc3339();
    let opts = UpdateOptions {
        manager: &manager,
        subresource,
        api_version: &api_version,
        now: &now,
        types,
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
