//! Object bytes: the stored form, request bodies, and response media types.
//!
//! Objects are stored as JSON *without* `metadata.resourceVersion` (the store
//! assigns the revision only when it commits) and always with `metadata` as
//! the first member. That lets reads, lists and watches inject the revision by
//! splicing bytes instead of parsing and re-serializing every object — the hot
//! path for lists of thousands of objects and for fan-out to many watchers.

use bytes::{BufMut, Bytes, BytesMut};
use corral_apimachinery::json_writer;
use corral_store::{KeyValue, Revision};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

const METADATA_PREFIX: &[u8] = b"{\"metadata\":{";

/// Serialize an object for storage: `metadata` first, no `resourceVersion`.
pub fn encode_stored(obj: &Value) -> ApiResult<Bytes> {
    let map = obj
        .as_object()
        .ok_or_else(|| ApiError::Internal("object is not a JSON object".into()))?;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"metadata\":{");
    let empty = serde_json::Map::new();
    let meta = map
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut first = true;
    for (k, v) in meta.iter().filter(|(k, _)| *k != "resourceVersion") {
        if !first {
            out.push(b',');
        }
        first = false;
        json_writer::write_str(&mut out, k);
        out.push(b':');
        json_writer::write_value(&mut out, v).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    out.push(b'}');
    for (k, v) in map {
        if k == "metadata" {
            continue;
        }
        out.push(b',');
        json_writer::write_str(&mut out, k);
        out.push(b':');
        json_writer::write_value(&mut out, v).map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    out.push(b'}');
    Ok(Bytes::from(out))
}

/// Append the stored object with `metadata.resourceVersion` set to `rv`.
pub fn write_with_rv(stored: &[u8], rv: Revision, out: &mut BytesMut) {
    if stored.starts_with(METADATA_PREFIX) {
        let rest = &stored[METADATA_PREFIX.len()..];
        out.put_slice(METADATA_PREFIX);
        out.put_slice(b"\"resourceVersion\":\"");
        out.put_slice(rv.to_string().as_bytes());
        out.put_u8(b'"');
        if rest.first() != Some(&b'}') {
            out.put_u8(b',');
        }
        out.put_slice(rest);
        return;
    }
    // Written by something else: take the slow, general path.
    match serde_json::from_slice::<Value>(stored) {
        Ok(mut v) => {
            set_rv(&mut v, rv);
            if let Ok(bytes) = serde_json::to_vec(&v) {
                out.put_slice(&bytes);
            }
        }
        Err(_) => out.put_slice(b"{}"),
    }
}

/// Append the `PartialObjectMetadata` of a stored object with
/// `metadata.resourceVersion` set to `rv`, copying the stored metadata's
/// bytes: only the metadata is scanned, never parsed into values, and the
/// rest of the object is not read. Metadata-only watches (the garbage
/// collector's, on every resource) send one of these per write. `false`
/// (nothing written) when the bytes were not written by
/// [`encode_stored`]; the caller then takes the general path.
pub fn write_partial_with_rv(stored: &[u8], rv: Revision, out: &mut BytesMut) -> bool {
    if !stored.starts_with(METADATA_PREFIX) {
        return false;
    }
    // The metadata object starts at the prefix's last byte (`{`).
    let start = METADATA_PREFIX.len() - 1;
    let Some(len) = corral_apimachinery::json_scan::object_len(&stored[start..]) else {
        return false;
    };
    let end = start + len;
    // Between the metadata's braces.
    let fields = &stored[METADATA_PREFIX.len()..end - 1];
    out.put_slice(b"{\"apiVersion\":\"");
    out.put_slice(META_V1.as_bytes());
    out.put_slice(b"\",\"kind\":\"PartialObjectMetadata\",\"metadata\":{\"resourceVersion\":\"");
    out.put_slice(rv.to_string().as_bytes());
    out.put_u8(b'"');
    if !fields.is_empty() {
        out.put_u8(b',');
        out.put_slice(fields);
    }
    out.put_slice(b"}}");
    true
}

/// Parse a stored object into a value with its resourceVersion.
pub fn decode_stored(kv: &KeyValue) -> ApiResult<Value> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("corrupt stored object at {}: {e}", kv.key)))?;
    set_rv(&mut v, kv.mod_revision);
    Ok(v)
}

pub fn set_rv(v: &mut Value, rv: Revision) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// The metadata map of an object (empty when absent).
pub fn meta(v: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    v.get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

pub fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    meta(v).get(field).and_then(Value::as_str)
}

/// Mutable metadata, created if missing. Fails only if `v` is not an object.
pub fn meta_mut(v: &mut Value) -> ApiResult<&mut Map<String, Value>> {
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("the request body must be a JSON object".into()))?;
    let entry = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        return Err(ApiError::BadRequest("metadata: must be an object".into()));
    }
    entry
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("metadata: must be an object".into()))
}

/// Request body formats we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    /// Kubernetes' protobuf envelope: kubectl's typed clients send built-in types this way.
    Protobuf,
}

pub fn body_format(content_type: Option<&str>) -> ApiResult<BodyFormat> {
    let media = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match media.as_str() {
        "" | "application/json" | "*/*" => Ok(BodyFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyFormat::Yaml),
        "application/vnd.kubernetes.protobuf" => Ok(BodyFormat::Protobuf),
        _ => Err(ApiError::UnsupportedMediaType(media)),
    }
}

/// Decode a request body into a JSON object, or explain why it is not one.
pub fn decode_body(body: &[u8], format: BodyFormat, kind: &str) -> ApiResult<Value> {
    let unrecognized = |detail: String| unrecognized(kind, detail);
    let value: Value = match format {
        BodyFormat::Json => serde_json::from_slice(body).map_err(|e| json_error(kind, e))?,
        BodyFormat::Yaml => {
            let text = std::str::from_utf8(body).map_err(|e| unrecognized(e.to_string()))?;
            serde_yaml::from_str(text)
                .map_err(|e| unrecognized(format!("error converting YAML to JSON: {e}")))?
        }
        BodyFormat::Protobuf => corral_apimachinery::protobuf::decode_object(body)
            .map_err(|e| unrecognized(e.to_string()))?,
    };
    must_be_object(value, kind)
}

/// [`decode_body`], and the keys a JSON body repeats (`metadata.labels.a`),
/// found in the same parse. Only JSON bodies are checked for repeated keys
/// (protobuf cannot repeat one); other formats report none.
pub fn decode_body_noting_duplicates(
    body: &[u8],
    format: BodyFormat,
    kind: &str,
) -> ApiResult<(Value, Vec<String>)> {
    match format {
        BodyFormat::Json => {
            let (value, duplicates) = crate::fieldvalidation::parse_noting_duplicates(body)
                .map_err(|e| json_error(kind, e))?;
            Ok((must_be_object(value, kind)?, duplicates))
        }
        _ => Ok((decode_body(body, format, kind)?, Vec::new())),
    }
}

fn unrecognized(kind: &str, detail: String) -> ApiError {
    ApiError::BadRequest(format!(
        "the object provided is unrecognized (must be of type {kind}): {detail}"
    ))
}

fn json_error(kind: &str, e: serde_json::Error) -> ApiError {
    unrecognized(
        kind,
        format!("couldn't get version/kind; json parse error: {e}"),
    )
}

fn must_be_object(value: Value, kind: &str) -> ApiResult<Value> {
    if !value.is_object() {
        return Err(unrecognized(
            kind,
            format!(
                "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct",
                json_type_name(&value)
            ),
        ));
    }
    Ok(value)
}

pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What the client asked the response to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    Table,
    /// `as=PartialObjectMetadata;g=meta.k8s.io;v=v1`: single objects (and
    /// watch events) reduced to their metadata, as metadata-only clients
    /// (kube-rs `metadata_watcher`, the garbage collector) ask for.
    PartialObject,
    /// `as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`: a list of the above.
    PartialList,
}

/// The group/version of the metadata-only transformations.
pub const META_V1: &str = "meta.k8s.io/v1";

/// Upstream `AsPartialObjectMetadata`: the object's metadata under
/// `kind: PartialObjectMetadata`.
pub fn partial_object_metadata(obj: &Value) -> Value {
    let mut out = Map::with_capacity(3);
    out.insert("kind".into(), Value::String("PartialObjectMetadata".into()));
    out.insert("apiVersion".into(), Value::String(META_V1.into()));
    out.insert(
        "metadata".into(),
        obj.get("metadata")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    Value::Object(out)
}

/// [`partial_object_metadata`] straight from stored bytes: only `metadata` is
/// parsed (the rest is skipped without being built), then the revision is set.
/// Conversions between served versions never touch metadata, so this holds
/// for every version of a resource.
pub fn partial_from_stored(kv: &KeyValue) -> ApiResult<Value> {
    #[derive(serde::Deserialize)]
    struct MetadataOnly {
        #[serde(default)]
        metadata: Map<String, Value>,
    }
    let parsed: MetadataOnly = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("corrupt stored object at {}: {e}", kv.key)))?;
    let mut v = partial_object_metadata(&Value::Null);
    v["metadata"] = Value::Object(parsed.metadata);
    set_rv(&mut v, kv.mod_revision);
    Ok(v)
}

/// A `PartialObjectMetadataList` with `list_meta` (resourceVersion, continue) and the items' metadata.
pub fn partial_object_metadata_list(list_meta: Value, items: Vec<Value>) -> Value {
    let mut out = Map::with_capacity(4);
    out.insert(
        "kind".into(),
        Value::String("PartialObjectMetadataList".into()),
    );
    out.insert("apiVersion".into(), Value::String(META_V1.into()));
    out.insert("metadata".into(), list_meta);
    out.insert("items".into(), Value::Array(items));
    Value::Object(out)
}

/// Upstream's 406 when the transformation does not fit the response (a list
/// asked for as one object's metadata, or the other way round). `what` is the
/// Go type upstream names, e.g. `*v1.ConfigMapList`.
pub fn transform_mismatch(output: Output, what: &str) -> ApiError {
    let message = match output {
        Output::PartialList => format!(
            "you requested PartialObjectMetadataList, but the requested object is not a list ({what})"
        ),
        _ => format!(
            "you requested PartialObjectMetadata, but the requested object is a list ({what})"
        ),
    };
    ApiError::TransformNotAcceptable(message)
}

/// Content negotiation over the `Accept` header, in the client's order of preference.
pub fn negotiate(accept: Option<&str>) -> ApiResult<Output> {
    let Some(accept) = accept else {
        return Ok(Output::Json);
    };
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        match media.as_str() {
            "application/json" | "*/*" | "application/*" => match param("as") {
                None => return Ok(Output::Json),
                Some(kind) if param("g") == Some("meta.k8s.io") && param("v") == Some("v1") => {
                    match kind {
                        "Table" => return Ok(Output::Table),
                        "PartialObjectMetadata" => return Ok(Output::PartialObject),
                        "PartialObjectMetadataList" => return Ok(Output::PartialList),
                        _ => continue,
                    }
                }
                // Other transformations (v1beta1 tables and metadata) are not served; try the next choice.
                Some(_) => continue,
            },
            "application/yaml" => return Ok(Output::Yaml),
            _ => continue,
        }
    }
    Err(ApiError::NotAcceptable(accept.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_form_round_trips_with_rv() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "9"}, "data": {"k": "v"}});
        let stored = encode_stored(&obj).expect("encode");
        assert!(stored.starts_with(METADATA_PREFIX));
        assert!(!String::from_utf8_lossy(&stored).contains("resourceVersion"));
        let mut out = BytesMut::new();
        write_with_rv(&stored, 42, &mut out);
        let back: Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(back["metadata"]["resourceVersion"], "42");
        assert_eq!(back["metadata"]["name"], "a");
        assert_eq!(back["data"]["k"], "v");
    }

    #[test]
    fn empty_metadata_splices_without_trailing_comma() {
        let stored = encode_stored(&json!({"kind": "X"})).expect("encode");
        let mut out = BytesMut::new();
        write_with_rv(&stored, 7, &mut out);
        let back: Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(back["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn foreign_stored_bytes_take_the_slow_path() {
        let mut out = BytesMut::new();
        write_with_rv(br#"{"kind":"X","metadata":{"name":"n"}}"#, 3, &mut out);
        let back: Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(back["metadata"]["resourceVersion"], "3");
    }

    #[test]
    fn partial_metadata_from_stored_bytes_equals_the_parsed_form() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "a", "namespace": "n", "uid": "u",
                                "labels": {"x": "}{\"]"}, "ownerReferences": [{"uid": "o"}],
                                "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {}}}]},
                   "data": {"k": "v", "metadata": "{\"not\": \"this\"}"}}),
            json!({"metadata": {"name": "q", "annotations": {"a\\\"}": "\\", "b": "\"{[\\"},
                                "finalizers": [], "generation": 2}, "spec": {}}),
            json!({"kind": "X"}),
            json!({"metadata": {"name": "only"}}),
        ];
        for obj in objects {
            let stored = encode_stored(&obj).expect("encode");
            let kv = KeyValue {
                key: "/k".into(),
                value: stored.clone(),
                create_revision: 5,
                mod_revision: 11,
            };
            let mut out = BytesMut::new();
            assert!(write_partial_with_rv(&stored, 11, &mut out));
            let spliced: Value = serde_json::from_slice(&out).expect("valid json");
            assert_eq!(spliced, partial_from_stored(&kv).expect("parse"), "{obj}");
        }
        let mut out = BytesMut::new();
        assert!(!write_partial_with_rv(
            br#"{"kind":"X","metadata":{}}"#,
            1,
            &mut out
        ));
        assert!(!write_partial_with_rv(
            br#"{"metadata":{"name":"#,
            1,
            &mut out
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn negotiation_follows_kubectl_accept_headers() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(kubectl_get)).ok(), Some(Output::Table));
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
            ))
            .ok(),
            Some(Output::PartialList)
        );
        // kube-rs metadata requests carry no fallback.
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
            ))
            .ok(),
            Some(Output::PartialObject)
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1,application/json"
            ))
            .ok(),
            Some(Output::Json)
        );
        assert_eq!(negotiate(Some("application/yaml")).ok(), Some(Output::Yaml));
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf")).is_err());
        assert_eq!(negotiate(None).ok(), Some(Output::Json));
    }

    #[test]
    fn partial_object_metadata_keeps_only_metadata() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "uid": "u"}, "data": {"k": "v"}});
        let p = partial_object_metadata(&obj);
        assert_eq!(p["kind"], "PartialObjectMetadata");
        assert_eq!(p["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(p["metadata"]["uid"], "u");
        assert!(p.get("data").is_none());
        let l = partial_object_metadata_list(json!({"resourceVersion": "5"}), vec![p]);
        assert_eq!(l["kind"], "PartialObjectMetadataList");
        assert_eq!(l["items"][0]["metadata"]["name"], "a");
    }

    #[test]
    fn bodies_that_are_not_objects_are_rejected() {
        assert!(decode_body(b"[1,2]", BodyFormat::Json, "ConfigMap").is_err());
        assert!(decode_body(b"{not json", BodyFormat::Json, "ConfigMap").is_err());
        assert!(
            decode_body(
                b"kind: ConfigMap\nmetadata:\n  name: a\n",
                BodyFormat::Yaml,
                "ConfigMap"
            )
            .is_ok()
        );
    }
}
