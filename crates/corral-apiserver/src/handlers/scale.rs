//! The `/scale` subresource: an `autoscaling/v1` Scale view of a resource's
//! replicas. Custom resources map it to the paths their CRD names
//! (`specReplicasPath`, ...); the built-in workloads (Deployments,
//! ReplicaSets, StatefulSets) to `spec.replicas`, `status.replicas` and
//! `spec.selector`, as upstream's scale storages do. `kubectl scale` and
//! autoscalers use it.

use corral_apimachinery::crd::ScaleSpec;
use corral_apimachinery::labels::Selector;
use corral_apimachinery::validation::{self, FieldError};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::Ctx;
use super::write::update_object;
use crate::encoding::{self, Output, meta_str};
use crate::error::{ApiError, ApiResult};
use crate::response::{self, Body};

/// Where a resource keeps what its Scale shows.
enum ScaleSource<'a> {
    /// A custom resource's `subresources.scale`.
    Custom(&'a ScaleSpec),
    /// A built-in kind serving `scale`: `spec.replicas`, `status.replicas`
    /// and the label selector `spec.selector`.
    Builtin,
}

fn source_of(ctx: &Ctx) -> ApiResult<ScaleSource<'_>> {
    match &ctx.def.custom {
        Some(c) => c
            .scale
            .as_ref()
            .map(ScaleSource::Custom)
            .ok_or(ApiError::NoRoute),
        None if ctx.def.subresources.contains(&"scale") => Ok(ScaleSource::Builtin),
        None => Err(ApiError::NoRoute),
    }
}

fn internal(e: String) -> ApiError {
    ApiError::Internal(e)
}

impl ScaleSource<'_> {
    /// (spec replicas, status replicas, selector string if any).
    fn read(&self, obj: &Value) -> ApiResult<(i64, i64, Option<String>)> {
        match self {
            ScaleSource::Custom(spec) => Ok((
                spec.spec_replicas(obj).map_err(internal)?.unwrap_or(0),
                spec.status_replicas(obj).map_err(internal)?.unwrap_or(0),
                spec.label_selector(obj).map_err(internal)?,
            )),
            ScaleSource::Builtin => {
                let int = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
                // Upstream: `metav1.LabelSelectorAsSelector(spec.selector).String()`.
                let selector = match obj.pointer("/spec/selector") {
                    None | Some(Value::Null) => String::new(),
                    Some(sel) => Selector::from_label_selector(sel)
                        .map_err(|e| ApiError::Internal(e.0))?
                        .to_string(),
                };
                Ok((
                    int("/spec/replicas"),
                    int("/status/replicas"),
                    Some(selector),
                ))
            }
        }
    }

    fn set_replicas(&self, obj: &mut Value, replicas: i64) -> ApiResult<()> {
        match self {
            ScaleSource::Custom(spec) => spec
                .set_spec_replicas(obj, replicas)
                .map_err(ApiError::BadRequest),
            ScaleSource::Builtin => {
                let map = obj
                    .as_object_mut()
                    .ok_or_else(|| ApiError::Internal("object is not a JSON object".into()))?;
                let spec = map
                    .entry("spec")
                    .or_insert_with(|| Value::Object(Default::default()));
                if !spec.is_object() {
                    *spec = Value::Object(Default::default());
                }
                spec["replicas"] = Value::from(replicas);
                Ok(())
            }
        }
    }
}

/// The Scale object for a resource.
fn to_scale(source: &ScaleSource<'_>, obj: &Value) -> ApiResult<Value> {
    let meta = encoding::meta(obj);
    let mut m = serde_json::Map::new();
    for f in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(f) {
            m.insert(f.into(), v.clone());
        }
    }
    let (replicas, status_replicas, selector) = source.read(obj)?;
    let mut status = json!({"replicas": status_replicas});
    if let Some(sel) = selector {
        status["selector"] = Value::String(sel);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": replicas},
        "status": status,
    }))
}

fn respond(ctx: &Ctx, code: StatusCode, scale: &Value) -> Response<Body> {
    let output = match ctx.output {
        Output::Yaml => Output::Yaml,
        _ => Output::Json,
    };
    response::value_response(code, output, scale)
}

/// `spec.replicas` of a Scale sent by a client, validated as upstream.
fn requested_replicas(ctx: &Ctx, name: &str, scale: &Value) -> ApiResult<i64> {
    let invalid = |detail: &str, value: Value| ApiError::Invalid {
        target: ctx.target(name),
        kind: "Scale".into(),
        errors: vec![FieldError::new(
            "spec.replicas",
            validation::ErrorType::Invalid,
            Some(value),
            detail,
        )],
    };
    match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n < 0 => Err(invalid("must be greater than or equal to 0", v.clone())),
            Some(n) if n > i64::from(i32::MAX) => {
                Err(invalid("must be a 32-bit integer", v.clone()))
            }
            Some(n) => Ok(n),
            None => Err(ApiError::BadRequest(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: spec.replicas must be an integer, not {}",
                encoding::json_type_name(v)
            ))),
        },
    }
}

pub async fn get(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let spec = source_of(ctx)?;
    let name = ctx.info.name.clone().unwrap_or_default();
    let kv = ctx
        .api
        .store
        .get(&ctx.key(&name))
        .await?
        .ok_or_else(|| ApiError::NotFound(ctx.target(&name)))?;
    let obj = ctx.served_value(&kv)?;
    Ok(respond(ctx, StatusCode::OK, &to_scale(&spec, &obj)?))
}

/// Set the replicas the client's Scale (computed from the current one) asks for.
async fn write(
    ctx: &Ctx,
    compute_scale: impl Fn(&Value) -> ApiResult<Value>,
) -> ApiResult<Response<Body>> {
    let spec = source_of(ctx)?;
    let name = ctx.info.name.clone().unwrap_or_default();
    let updated = update_object(ctx, &name, |old| {
        let scale = compute_scale(&to_scale(&spec, old)?)?;
        let replicas = requested_replicas(ctx, &name, &scale)?;
        let rv = match meta_str(&scale, "resourceVersion").filter(|s| !s.is_empty()) {
            Some(s) if Some(s) != meta_str(old, "resourceVersion") => {
                Some(s.parse::<i64>().map_err(|_| {
                    ApiError::BadRequest("metadata.resourceVersion: must be an integer".into())
                })?)
            }
            _ => None,
        };
        let mut new = old.clone();
        spec.set_replicas(&mut new, replicas)?;
        // Replicas are spec: a change counts as a new generation, as upstream.
        if ctx.def.rules.tracks_generation() && spec.read(old)?.0 != replicas {
            let g = encoding::meta(old)
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            encoding::meta_mut(&mut new)?.insert("generation".into(), json!(g + 1));
        }
        Ok((new, rv))
    })
    .await?;
    let obj = updated.into_value(ctx)?;
    Ok(respond(ctx, StatusCode::OK, &to_scale(&spec, &obj)?))
}

pub async fn update(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let format = encoding::body_format(ctx.content_type.as_deref())?;
    let scale = encoding::decode_body(body, format, "Scale")?;
    write(ctx, |_| Ok(scale.clone())).await
}

pub async fn patch(ctx: &Ctx, body: &[u8]) -> ApiResult<Response<Body>> {
    let media = ctx
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let bad = |e: String| ApiError::BadRequest(format!("the patch is not valid: {e}"));
    match media.as_str() {
        "application/json-patch+json" => {
            let p: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
            write(ctx, |current| {
                let mut s = current.clone();
                json_patch::patch(&mut s, &p).map_err(|e| bad(e.to_string()))?;
                Ok(s)
            })
            .await
        }
        // Scale has no lists, so a strategic merge patch merges like a JSON merge patch.
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let p: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
            write(ctx, |current| {
                let mut s = current.clone();
                json_patch::merge(&mut s, &p);
                Ok(s)
            })
            .await
        }
        other => Err(ApiError::UnsupportedMediaType(other.to_string())),
    }
}
