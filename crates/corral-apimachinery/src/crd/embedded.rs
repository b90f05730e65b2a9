//! Embedded resources (`x-kubernetes-embedded-resource: true`): their
//! apiVersion and kind are required and well-formed, their metadata is
//! validated like any object's (upstream `schema/objectmeta.Validate`).

use super::names::{is_dns1035_label, parse_group_version};
use super::render::{child, index, key};
use super::structural::{AdditionalProperties, Structural};
use crate::validation::{FieldError, NameRule, validate_object_meta};
use serde_json::{Map, Value};

/// Walks `data` along `schema` (rooted at field path `path`) and checks
/// every embedded resource. With `is_resource_root`, `data` itself is
/// treated as one (used for defaults of embedded objects).
pub(crate) fn validate_embedded(
    schema: &Structural,
    data: &Value,
    path: &str,
    is_resource_root: bool,
) -> Vec<FieldError> {
    let mut out = Vec::new();
    if is_resource_root
        && !schema.embedded_resource
        && let Value::Object(m) = data
    {
        resource(path, m, &mut out);
    }
    walk(path, data, Some(schema), &mut out);
    out
}

fn walk(path: &str, data: &Value, s: Option<&Structural>, out: &mut Vec<FieldError>) {
    let Some(s) = s else { return };
    match data {
        Value::Object(m) => {
            if s.embedded_resource {
                resource(path, m, out);
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                if let Some(p) = s.properties.get(k) {
                    walk(&child(path, k), &m[k], Some(p), out);
                } else if let Some(ap) = &s.additional_properties {
                    let ap_schema = match ap {
                        AdditionalProperties::Schema(a) => Some(a.as_ref()),
                        AdditionalProperties::Bool(_) => None,
                    };
                    walk(&key(path, k), &m[k], ap_schema, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(&index(path, i), item, s.items.as_deref(), out);
            }
        }
        _ => {}
    }
}

/// `validateEmbeddedResource`.
fn resource(path: &str, x: &Map<String, Value>, out: &mut Vec<FieldError>) {
    let api_version_path = child(path, "apiVersion");
    let kind_path = child(path, "kind");
    if !x.contains_key("apiVersion") {
        out.push(FieldError::required(api_version_path.clone(), ""));
    }
    if !x.contains_key("kind") {
        out.push(FieldError::required(kind_path.clone(), ""));
    }
    if let Some(v) = x.get("apiVersion") {
        match v.as_str() {
            None => out.push(FieldError::invalid(
                api_version_path,
                v.clone(),
                "must be a string",
            )),
            Some("") => out.push(FieldError::required(api_version_path, "")),
            Some(av) => {
                if let Err(e) = parse_group_version(av) {
                    out.push(FieldError::invalid(api_version_path, av, e));
                }
            }
        }
    }
    if let Some(v) = x.get("kind") {
        match v.as_str() {
            None => out.push(FieldError::invalid(
                kind_path,
                v.clone(),
                "must be a string",
            )),
            Some("") => out.push(FieldError::required(kind_path, "")),
            Some(kind) => {
                let errs = is_dns1035_label(&kind.to_lowercase());
                if !errs.is_empty() {
                    out.push(FieldError::invalid(
                        kind_path,
                        kind,
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            errs.join(",")
                        ),
                    ));
                }
            }
        }
    }
    if let Some(meta) = x.get("metadata") {
        let meta_path = child(path, "metadata");
        match meta {
            Value::Object(m) => {
                // A name is not required inside an embedded object.
                let mut meta = m.clone();
                if meta
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    meta.insert("name".into(), Value::from("fakename"));
                }
                let namespaced = meta
                    .get("namespace")
                    .and_then(Value::as_str)
                    .is_some_and(|n| !n.is_empty());
                let errs =
                    validate_object_meta(&Value::Object(meta), namespaced, NameRule::PathSegment);
                for mut e in errs {
                    e.path = match e.path.strip_prefix("metadata") {
                        Some(rest) => format!("{meta_path}{rest}"),
                        None => child(&meta_path, &e.path),
                    };
                    out.push(e);
                }
            }
            Value::Null => {}
            other => out.push(FieldError::invalid(
                meta_path,
                other.clone(),
                "must be an object",
            )),
        }
    }
}
