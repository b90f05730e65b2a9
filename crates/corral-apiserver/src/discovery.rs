//! API discovery: the legacy per-group documents and the aggregated format
//! (`apidiscovery.k8s.io/v2`) that current kubectl asks for first.

use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::ApiServer;
use crate::encoding::Output;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceDef;
use crate::response::{self, Body};

/// Which aggregated discovery version the client accepts, if any.
fn aggregated_version(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    for item in accept.split(',') {
        let params: Vec<&str> = item.split(';').map(str::trim).collect();
        if params.contains(&"as=APIGroupDiscoveryList") && params.contains(&"g=apidiscovery.k8s.io")
        {
            if params.contains(&"v=v2") {
                return Some("v2");
            }
            if params.contains(&"v=v2beta1") {
                return Some("v2beta1");
            }
        }
        if params.first() == Some(&"application/json") && params.len() == 1 {
            return None;
        }
    }
    None
}

fn aggregated_response(version: &str, items: Vec<Value>) -> Response<Body> {
    let doc = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    });
    let mut resp = response::value_response(StatusCode::OK, Output::Json, &doc);
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn aggregated_group(api: &ApiServer, group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = api
                .registry()
                .in_group_version(group, v)
                .map(aggregated_resource)
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut meta = json!({});
    if !group.is_empty() {
        meta["name"] = Value::String(group.to_string());
    }
    json!({"metadata": meta, "versions": versions})
}

fn aggregated_resource(r: &ResourceDef) -> Value {
    let response_kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| json!({"subresource": s, "responseKind": response_kind, "verbs": subresource_verbs(s)}))
        .collect();
    let mut v = json!({
        "resource": r.plural,
        "responseKind": response_kind,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        v["subresources"] = Value::Array(subresources);
    }
    v
}

fn subresource_verbs(sub: &str) -> &'static [&'static str] {
    match sub {
        "finalize" => &["update"],
        "token" => &["create"],
        _ => &["get", "patch", "update"],
    }
}

pub fn core_versions(
    api: &Arc<ApiServer>,
    accept: Option<&str>,
    headers: &http::HeaderMap,
) -> ApiResult<Response<Body>> {
    if let Some(v) = aggregated_version(accept) {
        return Ok(aggregated_response(
            v,
            vec![aggregated_group(api, "", &["v1"])],
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    Ok(response::value_response(
        StatusCode::OK,
        Output::Json,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }),
    ))
}

fn group_doc(group: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn groups(api: &Arc<ApiServer>, accept: Option<&str>) -> ApiResult<Response<Body>> {
    let groups: Vec<(&str, Vec<&str>)> = api
        .registry()
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .collect();
    if let Some(v) = aggregated_version(accept) {
        let items = groups
            .iter()
            .map(|(g, vs)| aggregated_group(api, g, vs))
            .collect();
        return Ok(aggregated_response(v, items));
    }
    let list: Vec<Value> = groups.iter().map(|(g, vs)| group_doc(g, vs)).collect();
    Ok(response::value_response(
        StatusCode::OK,
        Output::Json,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
    ))
}

pub fn group(api: &Arc<ApiServer>, name: &str) -> ApiResult<Response<Body>> {
    let (g, vs) = api
        .registry()
        .groups()
        .into_iter()
        .find(|(g, _)| !g.is_empty() && *g == name)
        .ok_or(ApiError::NoRoute)?;
    let mut doc = group_doc(g, &vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Ok(response::value_response(StatusCode::OK, Output::Json, &doc))
}

pub fn resource_list(
    api: &Arc<ApiServer>,
    group: &str,
    version: &str,
) -> ApiResult<Response<Body>> {
    let registry = api.registry();
    let defs: Vec<&ResourceDef> = registry.in_group_version(group, version).collect();
    if defs.is_empty() {
        return Err(ApiError::NoRoute);
    }
    let mut resources = Vec::new();
    for r in defs {
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        resources.push(v);
        for s in r.subresources {
            resources.push(json!({
                "name": format!("{}/{}", r.plural, s),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": subresource_verbs(s),
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(response::value_response(
        StatusCode::OK,
        Output::Json,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    ))
}
