//! Server-side apply: `PATCH` with `Content-Type: application/apply-patch+yaml`
//! (YAML or JSON bodies), as kube-apiserver serves it. The merge and the
//! ownership bookkeeping are `corral_apimachinery::fieldmanager::apply`;
//! this handler checks `PatchOptions`, decodes the configuration, runs the
//! apply inside the usual compare-and-swap loop (or creates the object when
//! it does not exist yet) and turns conflicts into upstream's 409.

use std::sync::Mutex;

use corral_apimachinery::fieldmanager::{self, ApplyError, ApplyOptions, Conflict};
use corral_apimachinery::validation::FieldError;
use http::{Response, StatusCode};
use serde_json::{Map, Value};

use super::Ctx;
use super::write::{self, Updated, now_rfc3339};
use crate::encoding::{self, meta_str};
use crate::error::{ApiError, ApiResult};
use crate::managed_fields;
use crate::response::{self, Body};

/// Marks the `ApiError` that carries conflicts out of the update loop; the
/// conflicts themselves travel beside it.
const CONFLICT_MARKER: &str = "server-side apply conflict";

/// How many times a create-on-apply that lost a race to a concurrent create
/// goes back to updating.
const MAX_CREATE_RACES: usize = 4;

pub async fn apply(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let manager = ctx.query.get("fieldManager").unwrap_or("").to_string();
    let mut errors = Vec::new();
    if manager.is_empty() {
        errors.push(FieldError::required(
            "fieldManager",
            "is required for apply patch",
        ));
    }
    errors.extend(fieldmanager::validate_field_manager(
        &manager,
        "fieldManager",
    ));
    if !errors.is_empty() {
        return Err(managed_fields::patch_options_invalid(errors));
    }
    let force = match ctx.query.get("force") {
        None | Some("") => false,
        Some(v) => parse_go_bool(v).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "force: strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))
        })?,
    };
    let mut config = decode_config(ctx, body)?;
    write::check_fields(
        ctx,
        || {
            json_text(body)
                .map(crate::fieldvalidation::duplicate_fields)
                .unwrap_or_default()
        },
        &mut config,
    )?;
    let requested_rv = write::requested_rv(ctx, &name, &config)?;

    let types = managed_fields::list_types(ctx);
    let ignored = managed_fields::ignored_fields(ctx);
    let api_version = ctx.def.api_version();
    let subresource = ctx.info.subresource.as_deref();
    let conflicts: Mutex<Vec<Conflict>> = Mutex::new(Vec::new());
    let run = |live: Option<&Value>| -> ApiResult<Value> {
        let now = now_rfc3339();
        let opts = ApplyOptions {
            manager: &manager,
            subresource,
            api_version: &api_version,
            now: &now,
            force,
            types: types.as_ref(),
            ignored: &ignored,
        };
        let new = fieldmanager::apply(live, &config, &opts).map_err(|e| match e {
            ApplyError::Conflicts(found) => {
                *conflicts.lock().unwrap_or_else(|p| p.into_inner()) = found;
                ApiError::Conflict {
                    target: ctx.target(&name),
                    message: CONFLICT_MARKER.into(),
                }
            }
            ApplyError::BadRequest(m) => ApiError::BadRequest(m),
            ApplyError::Typed(m) => ApiError::Internal(m),
        })?;
        check_name(&name, &new)?;
        Ok(new)
    };

    let mut races = 0;
    let result = loop {
        let updated = write::update_object_with(ctx, &name, false, |old| {
            let applied = run(Some(old))?;
            let mut new = write::updated_object(ctx, applied, old)?;
            fieldmanager::revert_timestamp_only_changes(old, &mut new);
            Ok((new, requested_rv))
        })
        .await;
        match updated {
            Ok(Updated::Stored(kv)) => break ctx.object_response(StatusCode::OK, &kv),
            Ok(Updated::Value(v)) => break Ok(ctx.value_response(StatusCode::OK, &v)),
            Err(ApiError::NotFound(_)) if ctx.info.subresource.is_none() => {}
            Err(e) => break Err(e),
        }
        // Create-on-apply (upstream forceAllowCreate for apply patches).
        if requested_rv.is_some() {
            break Err(write::conflict(ctx, &name));
        }
        let created = match run(None) {
            Ok(obj) => write::create_object(ctx, obj, false).await,
            Err(e) => Err(e),
        };
        match created {
            Err(ApiError::AlreadyExists(_)) if races < MAX_CREATE_RACES => races += 1,
            other => break other,
        }
    };
    match result {
        Err(ApiError::Conflict { message, .. }) if message == CONFLICT_MARKER => {
            let found = std::mem::take(&mut *conflicts.lock().unwrap_or_else(|p| p.into_inner()));
            Ok(response::value_response(
                StatusCode::CONFLICT,
                encoding::Output::Json,
                &fieldmanager::conflict_status(&found),
            ))
        }
        other => other,
    }
}

/// The applied configuration: YAML (JSON is YAML), an object of this
/// endpoint's kind and version (upstream's version-check manager), the
/// namespace agreeing with the request's.
fn decode_config(ctx: &Ctx, body: &[u8]) -> ApiResult<Value> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
    // JSON is YAML, but a JSON parser reads it several times faster.
    let as_json = json_text(body).and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let config: Value = if let Some(v) = as_json {
        v
    } else if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_yaml::from_str(text)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?
    };
    let mut config = match config {
        Value::Null => Value::Object(Map::new()),
        Value::Object(m) => Value::Object(m),
        _ => {
            return Err(ApiError::BadRequest(
                "error decoding YAML: the applied configuration must be an object".into(),
            ));
        }
    };
    let field = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version != ctx.def.api_version() || kind != ctx.def.kind {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        return Err(ApiError::BadRequest(format!(
            "invalid object type: {group}/{version}, Kind={kind}"
        )));
    }
    match config.get_mut("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(meta)) => {
            if !ctx.def.namespaced {
                meta.remove("namespace");
            } else {
                let url_ns = ctx.info.namespace.as_deref().unwrap_or("");
                if let Some(ns) = meta
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    && ns != url_ns
                {
                    return Err(ApiError::BadRequest(format!(
                        "the namespace of the object ({ns}) does not match the namespace on the request ({url_ns})"
                    )));
                }
            }
        }
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "{} in version {:?} cannot be handled as a {}: metadata must be an object",
                ctx.def.kind, ctx.def.version, ctx.def.kind
            )));
        }
    }
    Ok(config)
}

/// The body when it is JSON (duplicate keys are reported from it).
fn json_text(body: &[u8]) -> Option<&[u8]> {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .filter(|b| **b == b'{')
        .map(|_| body)
}

/// Upstream `checkName` on the applied result.
fn check_name(name: &str, obj: &Value) -> ApiResult<()> {
    let obj_name = meta_str(obj, "name").unwrap_or("");
    if obj_name != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
