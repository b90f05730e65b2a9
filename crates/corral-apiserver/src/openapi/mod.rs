//! OpenAPI documents: `/openapi/v3` (a root index and one document per
//! group-version) and `/openapi/v2` (one swagger 2.0 document, JSON or
//! protobuf), describing every served kind with upstream's schemas.
//!
//! kubectl reads the v3 documents for `explain`, to learn that the server
//! validates fields itself (`fieldValidation` on PATCH), and for client-side
//! apply's strategic merge patches; it reads v2 (protobuf only) to validate
//! `kind: List` files client-side, for `explain --output=plaintext-openapiv2`,
//! and in apply when v3 offers no strategic merge patch for a kind (custom
//! resources).
//!
//! Documents are built once per registry snapshot (CRDs change the registry)
//! and served from cached bytes with ETags; v3 documents are addressed by
//! their hash and immutable, as upstream's.

mod kinds;
mod paths;
mod proto;
mod schemas;
mod v2;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::ApiServer;
use crate::error::{ApiError, ApiResult};
use crate::registry::Registry;
use crate::request::Query;
use crate::response::{self, Body};
use schemas::{Catalog, DELETE_OPTIONS, Spec, WATCH_EVENT};

const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
// client-go asks for the older spelling; upstream answers both with the same bytes.
const V2_PROTOBUF_DEPRECATED: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// A rendered document and its entity tag (uppercase hex SHA-512, as upstream's).
struct Rendered {
    bytes: Bytes,
    etag: String,
}

impl Rendered {
    fn new(bytes: Vec<u8>) -> Rendered {
        let etag = ring::digest::digest(&ring::digest::SHA512, &bytes)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Rendered {
            bytes: Bytes::from(bytes),
            etag,
        }
    }

    fn json(v: &Value) -> Rendered {
        Rendered::new(serde_json::to_vec(v).unwrap_or_default())
    }
}

/// Every document for one registry snapshot.
struct Documents {
    /// Weak, so the cache does not keep old snapshots alive; while it exists
    /// the snapshot's allocation cannot be reused, so pointer equality is identity.
    registry: Weak<Registry>,
    root: Rendered,
    /// `api/v1`, `apis/<group>/<version>` → document.
    group_versions: BTreeMap<String, Rendered>,
    /// Built on first request: few clients ask for it.
    v2: OnceLock<(Rendered, Rendered)>,
}

/// A few snapshots at most (one per ApiServer in the process; tests run several).
static CACHE: Mutex<Vec<Arc<Documents>>> = Mutex::new(Vec::new());

fn documents(registry: &Arc<Registry>) -> Arc<Documents> {
    let find = |cache: &mut Vec<Arc<Documents>>| {
        cache.retain(|d| d.registry.strong_count() > 0);
        cache
            .iter()
            .find(|d| std::ptr::eq(d.registry.as_ptr(), Arc::as_ptr(registry)))
            .cloned()
    };
    let lock = || CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(d) = find(&mut lock()) {
        return d;
    }
    // Built outside the lock; a concurrent builder's result wins if it landed first.
    let built = Arc::new(build(registry));
    let mut cache = lock();
    if let Some(d) = find(&mut cache) {
        return d;
    }
    cache.push(built.clone());
    built
}

fn gv_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn served_group_versions(registry: &Registry) -> Vec<(&'static str, &'static str)> {
    registry
        .groups()
        .into_iter()
        .flat_map(|(g, versions)| versions.into_iter().map(move |v| (g, v)))
        .collect()
}

/// Paths and schemas (v3-shaped references) for one group-version.
fn group_version_parts(
    registry: &Registry,
    group: &str,
    version: &str,
    spec: Spec,
    catalog: &Catalog,
) -> (Map<String, Value>, BTreeMap<String, Value>) {
    let mut paths = Map::new();
    let mut defs = BTreeMap::new();
    let discovery = paths::discovery_path(group, version);
    paths.insert(discovery.path.clone(), discovery.render(spec));
    for r in registry.in_group_version(group, version) {
        let component = schemas::component_name(r);
        let schema = if r.custom.is_some() {
            schemas::crd_kind_schema(r, spec)
        } else {
            catalog
                .defs
                .get(&component)
                .cloned()
                .unwrap_or_else(|| schemas::open_schema(r))
        };
        defs.insert(component.clone(), schema);
        if r.supports("list") {
            defs.insert(
                format!("{component}List"),
                schemas::list_schema(r, &component),
            );
        }
        for p in paths::resource_paths(r, &component) {
            paths.insert(p.path.clone(), p.render(spec));
        }
    }
    for name in &catalog.meta {
        if let Some(def) = catalog.defs.get(name) {
            defs.insert(name.clone(), def.clone());
        }
    }
    (paths, defs)
}

/// DeleteOptions and WatchEvent are every group's, as upstream lists them.
fn add_shared_gvks(defs: &mut BTreeMap<String, Value>, gvs: &[(&str, &str)]) {
    for (name, kind) in [
        (DELETE_OPTIONS, "DeleteOptions"),
        (WATCH_EVENT, "WatchEvent"),
    ] {
        if let Some(def) = defs.get_mut(name) {
            let list = gvs.iter().map(|(g, v)| schemas::gvk(g, v, kind)).collect();
            schemas::set_ext(def, "x-kubernetes-group-version-kind", Value::Array(list));
        }
    }
}

fn group_version_doc(
    registry: &Registry,
    group: &str,
    version: &str,
    gvs: &[(&str, &str)],
) -> Value {
    let catalog = schemas::catalog();
    let (paths, mut defs) = group_version_parts(registry, group, version, Spec::V3, catalog);
    schemas::close_over(&mut defs, &paths, catalog);
    add_shared_gvks(&mut defs, gvs);
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{}.0", crate::KUBERNETES_MINOR)},
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"},
            },
        },
    })
}

fn build(registry: &Arc<Registry>) -> Documents {
    let started = Instant::now();
    let gvs = served_group_versions(registry);
    let mut group_versions = BTreeMap::new();
    let mut index = Map::new();
    for (g, v) in &gvs {
        let key = gv_key(g, v);
        let doc = Rendered::json(&group_version_doc(registry, g, v, &gvs));
        index.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.etag)}),
        );
        group_versions.insert(key, doc);
    }
    let root = Rendered::json(&json!({"paths": index}));
    tracing::info!(
        group_versions = group_versions.len(),
        bytes = group_versions
            .values()
            .map(|d| d.bytes.len())
            .sum::<usize>(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "built OpenAPI v3 documents"
    );
    Documents {
        registry: Arc::downgrade(registry),
        root,
        group_versions,
        v2: OnceLock::new(),
    }
}

/// The swagger 2.0 document over everything served.
fn v2_document(registry: &Registry) -> Value {
    let catalog = schemas::catalog();
    let gvs = served_group_versions(registry);
    let mut all_paths = Map::new();
    let mut all_defs = BTreeMap::new();
    for (g, v) in &gvs {
        let (paths, defs) = group_version_parts(registry, g, v, Spec::V2, catalog);
        all_paths.extend(paths);
        all_defs.extend(defs);
    }
    schemas::close_over(&mut all_defs, &all_paths, catalog);
    add_shared_gvks(&mut all_defs, &gvs);
    let definitions: Map<String, Value> = all_defs
        .into_iter()
        .map(|(name, mut def)| {
            v2::schema_to_v2(&mut def);
            v2::special_v2(&name, &mut def);
            (name, def)
        })
        .collect();
    all_paths.values_mut().for_each(v2::refs_to_v2);
    v2::document(all_paths, definitions)
}

fn build_v2(registry: &Registry) -> (Rendered, Rendered) {
    let started = Instant::now();
    let doc = v2_document(registry);
    let json = Rendered::json(&doc);
    let pb = Rendered::new(proto::encode_document(&doc));
    tracing::info!(
        json_bytes = json.bytes.len(),
        protobuf_bytes = pb.bytes.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "built OpenAPI v2 document"
    );
    (json, pb)
}

/// Media types from an Accept header, highest quality first (q=0 dropped).
fn accepted(headers: &HeaderMap) -> Vec<String> {
    let raw = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let mut clauses: Vec<(f32, String)> = raw
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let media = parts.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0).then_some((q, media))
        })
        .collect();
    if clauses.is_empty() {
        return vec!["*/*".into()];
    }
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0));
    clauses.into_iter().map(|(_, m)| m).collect()
}

/// The first of `offered` that the Accept header takes (wildcards included).
fn negotiate(headers: &HeaderMap, offered: &[&'static str]) -> Option<&'static str> {
    for media in accepted(headers) {
        let (ty, sub) = media.split_once('/').unwrap_or((media.as_str(), ""));
        for offer in offered {
            let (oty, osub) = offer.split_once('/').unwrap_or((offer, ""));
            if (ty == "*" || ty == oty) && (sub == "*" || sub == osub) {
                return Some(offer);
            }
        }
    }
    None
}

/// `If-None-Match` matches this entity tag (weak comparison, as Go's ServeContent).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn serve(
    doc: &Rendered,
    content_type: &'static str,
    headers: &HeaderMap,
    immutable: bool,
) -> Response<Body> {
    let etag = format!("\"{}\"", doc.etag);
    let mut resp = if not_modified(headers, &etag) {
        let mut r = Response::new(response::full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        response::bytes_response(StatusCode::OK, content_type, doc.bytes.clone())
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if immutable {
        // The URL names the content by hash: it never changes.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, immutable"),
        );
        let expires = time::OffsetDateTime::now_utc() + time::Duration::days(365);
        let fmt = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        if let Ok(v) = expires.format(&fmt)
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            h.insert(header::EXPIRES, v);
        }
    }
    resp
}

/// `/openapi/v3`: where each group-version's document is, by hash.
pub fn root(api: &Arc<ApiServer>, headers: &HeaderMap) -> ApiResult<Response<Body>> {
    let docs = documents(&api.registry());
    Ok(serve(&docs.root, "application/json", headers, false))
}

/// `/openapi/v3/<api/v1 | apis/group/version>[?hash=...]`
pub fn document(
    api: &Arc<ApiServer>,
    rest: &str,
    headers: &HeaderMap,
    query: &Query,
) -> ApiResult<Response<Body>> {
    group_version_response(&documents(&api.registry()), rest, headers, query)
}

fn group_version_response(
    docs: &Documents,
    rest: &str,
    headers: &HeaderMap,
    query: &Query,
) -> ApiResult<Response<Body>> {
    let key = rest.trim_matches('/');
    let Some(doc) = docs.group_versions.get(key) else {
        return Err(ApiError::NoRoute);
    };
    if negotiate(headers, &["application/json"]).is_none() {
        return Err(ApiError::NotAcceptable(
            "only application/json is served for OpenAPI v3".into(),
        ));
    }
    let immutable = match query.non_empty("hash") {
        // An old hash: send the client to the current document, as upstream does.
        Some(hash) if hash != doc.etag => {
            let mut resp = Response::new(response::full(Bytes::new()));
            *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
            let location = format!("/openapi/v3/{key}?hash={}", doc.etag);
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            return Ok(resp);
        }
        Some(_) => true,
        None => false,
    };
    Ok(serve(doc, "application/json", headers, immutable))
}

/// `/openapi/v2`: JSON, or gnostic protobuf for client-go; 406 otherwise.
pub fn v2(api: &Arc<ApiServer>, headers: &HeaderMap) -> ApiResult<Response<Body>> {
    let registry = api.registry();
    v2_response(&documents(&registry), &registry, headers)
}

fn v2_response(
    docs: &Documents,
    registry: &Registry,
    headers: &HeaderMap,
) -> ApiResult<Response<Body>> {
    let media = negotiate(
        headers,
        &["application/json", V2_PROTOBUF_DEPRECATED, V2_PROTOBUF],
    )
    .ok_or_else(|| {
        ApiError::NotAcceptable(format!(
            "OpenAPI v2 is served as application/json or {V2_PROTOBUF}"
        ))
    })?;
    let (json, pb) = docs.v2.get_or_init(|| build_v2(registry));
    Ok(if media == "application/json" {
        serve(json, "application/json", headers, false)
    } else {
        serve(pb, V2_PROTOBUF, headers, false)
    })
}

#[cfg(test)]
mod tests;
