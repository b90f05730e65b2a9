//! The `/scale` subresource of custom resources: an `autoscaling/v1` Scale
//! view of the paths the CRD names (`specReplicasPath`, ...). `kubectl scale`
//! and autoscalers use it.

use corral_apimachinery::crd::ScaleSpec;
use corral_apimachinery::validation::{self, FieldError};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::Ctx;
use super::write::update_object;
use crate::encoding::{self, Output, meta_str};
use crate::error::{ApiError, ApiResult};
use crate::response::{self, Body};

fn spec_of(ctx: &Ctx) -> ApiResult<&ScaleSpec> {
    ctx.def
        .custom
        .as_ref()
        .and_then(|c| c.scale.as_ref())
        .ok_or(ApiError::NoRoute)
}

fn internal(e: String) -> ApiError {
    ApiError::Internal(e)
}

/// The Scale object for a custom resource.
fn to_scale(spec: &ScaleSpec, obj: &Value) -> ApiResult<Value> {
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
    let replicas = spec.spec_replicas(obj).map_err(internal)?.unwrap_or(0);
    let mut status = json!({"replicas": spec.status_replicas(obj).map_err(internal)?.unwrap_or(0)});
    if let Some(sel) = spec.label_selector(obj).map_err(internal)? {
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
    let spec = spec_of(ctx)?;
    let name = ctx.info.name.clone().unwrap_or_default();
    let kv = ctx
        .api
        .store
        .get(&ctx.key(&name))
        .await?
        .ok_or_else(|| ApiError::NotFound(ctx.target(&name)))?;
    let obj = ctx.served_value(&kv)?;
    Ok(respond(ctx, StatusCode::OK, &to_scale(spec, &obj)?))
}

/// Set the replicas the client's Scale (computed from the current one) asks for.
async fn write(
    ctx: &Ctx,
    compute_scale: impl Fn(&Value) -> ApiResult<Value>,
) -> ApiResult<Response<Body>> {
    let spec = spec_of(ctx)?;
    let name = ctx.info.name.clone().unwrap_or_default();
    let updated = update_object(ctx, &name, |old| {
        let scale = compute_scale(&to_scale(spec, old)?)?;
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
        spec.set_spec_replicas(&mut new, replicas)
            .map_err(ApiError::BadRequest)?;
        Ok((new, rv))
    })
    .await?;
    let obj = updated.into_value(ctx)?;
    Ok(respond(ctx, StatusCode::OK, &to_scale(spec, &obj)?))
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
