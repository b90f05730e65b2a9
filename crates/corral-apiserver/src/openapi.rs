//! OpenAPI v3 documents: the root index and one document per group-version.
//!
//! Today they describe operations (paths, the `x-kubernetes-group-version-kind`
//! of each, and the query parameters they accept) with open object schemas.
//! That is what kubectl reads to learn that the server validates fields
//! itself (`fieldValidation`), so it does not fall back to downloading the
//! legacy protobuf OpenAPI v2 document. Full per-type schemas (for `kubectl
//! explain` and validation) come with the CRD work.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::ApiServer;
use crate::encoding::Output;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceDef;
use crate::response::{self, Body};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable hash of a document, so clients can cache it until it changes.
fn doc_hash(doc: &Value) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .take(16)
        .map(|b| format!("{b:02X}"))
        .collect()
}

pub fn root(api: &Arc<ApiServer>) -> ApiResult<Response<Body>> {
    let mut paths = Map::new();
    for (group, versions) in api.registry().groups() {
        for version in versions {
            let path = gv_path(group, version);
            let hash = doc_hash(&group_version_doc(api, group, version));
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    Ok(response::value_response(
        StatusCode::OK,
        Output::Json,
        &json!({"paths": paths}),
    ))
}

/// `/openapi/v3/<api/v1 | apis/group/version>`
pub fn document(api: &Arc<ApiServer>, rest: &str) -> ApiResult<Response<Body>> {
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let (group, version) = match parts.as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return Err(ApiError::NoRoute),
    };
    if api
        .registry()
        .in_group_version(group, version)
        .next()
        .is_none()
    {
        return Err(ApiError::NoRoute);
    }
    Ok(response::value_response(
        StatusCode::OK,
        Output::Json,
        &group_version_doc(api, group, version),
    ))
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(r: &ResourceDef, action: &str, params: &[&str]) -> Value {
    let schema_ref = json!({"$ref": format!("#/components/schemas/{}", schema_name(r))});
    json!({
        "operationId": format!("{action}{}", r.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": params.iter().map(|p| query_param(p)).collect::<Vec<_>>(),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}},
    })
}

fn schema_name(r: &ResourceDef) -> String {
    let group = if r.group.is_empty() {
        "core".to_string()
    } else {
        r.group.to_string()
    };
    format!("io.corral.{group}.{}.{}", r.version, r.kind)
}

fn group_version_doc(api: &ApiServer, group: &str, version: &str) -> Value {
    let write_params = ["dryRun", "fieldManager", "fieldValidation", "pretty"];
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in api.registry().in_group_version(group, version) {
        let base = format!("/{}", gv_path(group, version));
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        paths.insert(collection.clone(), json!({
            "get": operation(r, "list", &["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "watch", "allowWatchBookmarks", "sendInitialEvents", "timeoutSeconds"]),
            "post": operation(r, "post", &write_params),
            "delete": operation(r, "deletecollection", &["labelSelector", "fieldSelector", "dryRun"]),
        }));
        paths.insert(format!("{collection}/{{name}}"), json!({
            "get": operation(r, "get", &["pretty"]),
            "put": operation(r, "put", &write_params),
            "patch": operation(r, "patch", &["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]),
            "delete": operation(r, "delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
        }));
        schemas.insert(schema_name(r), json!({
            "type": "object",
            "description": format!("{} ({}).", r.kind, r.api_version()),
            "x-kubernetes-preserve-unknown-fields": true,
            "x-kubernetes-group-version-kind": [{"group": r.group, "version": r.version, "kind": r.kind}],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
        }));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Corral", "version": format!("v1.{}.0", crate::KUBERNETES_MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
