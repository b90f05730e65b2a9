//! Pruning (upstream `schema/pruning`): fields a structural schema does
//! not specify are dropped, except under `x-kubernetes-preserve-unknown-fields`
//! and the apiVersion/kind/metadata of the root and of embedded resources.

use super::structural::{AdditionalProperties, Structural};
use serde_json::Value;

const META_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

/// Prunes custom resource `obj` in place and returns the removed fields'
/// paths, sorted (`spec.foo`, `spec.items[0].bar`): the server turns them
/// into `unknown field "spec.foo"` for `fieldValidation=Strict|Warn`.
/// The root's apiVersion, kind and metadata are never pruned.
pub fn prune(schema: &Structural, obj: &mut Value) -> Vec<String> {
    prune_value(obj, Some(schema), true)
}

/// Pruning of any value; `is_resource_root` keeps its TypeMeta/ObjectMeta
/// as if it were an embedded resource.
pub(crate) fn prune_value(
    v: &mut Value,
    s: Option<&Structural>,
    is_resource_root: bool,
) -> Vec<String> {
    let mut pruned = Vec::new();
    let mut path = String::new();
    node(v, s, is_resource_root, &mut path, &mut pruned);
    pruned.sort();
    pruned
}

fn ap_schema(s: &Structural) -> Option<&Structural> {
    s.additional_properties
        .as_ref()
        .and_then(AdditionalProperties::schema)
}

fn push_key(path: &mut String, k: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(k);
    len
}

fn push_index(path: &mut String, i: usize) -> usize {
    let len = path.len();
    path.push_str(&format!("[{i}]"));
    len
}

fn record(path: &mut String, k: &str, pruned: &mut Vec<String>) {
    let len = push_key(path, k);
    pruned.push(path.clone());
    path.truncate(len);
}

/// `embedded` forces this node's meta fields to be kept (the root).
fn node(
    x: &mut Value,
    s: Option<&Structural>,
    embedded: bool,
    path: &mut String,
    pruned: &mut Vec<String>,
) {
    if let Some(s) = s
        && s.preserve_unknown_fields
    {
        skip_prune(x, s, embedded, path, pruned);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                let mut keys: Vec<String> = m.keys().cloned().collect();
                keys.sort();
                for k in keys {
                    record(path, &k, pruned);
                }
                m.clear();
                return;
            };
            let keep_meta = embedded || s.embedded_resource;
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if keep_meta && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let sub = if let Some(p) = s.properties.get(&k) {
                    Some(Some(p))
                } else if s.additional_properties.is_some() {
                    Some(ap_schema(s))
                } else {
                    None
                };
                match sub {
                    Some(sub) => {
                        let len = push_key(path, &k);
                        if let Some(child) = m.get_mut(&k) {
                            node(child, sub, false, path, pruned);
                        }
                        path.truncate(len);
                    }
                    None => {
                        // Upstream does not report top-level meta fields.
                        if !path.is_empty() || !META_FIELDS.contains(&k.as_str()) {
                            record(path, &k, pruned);
                        }
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for (i, item) in items.iter_mut().enumerate() {
                let len = push_index(path, i);
                node(item, item_schema, false, path, pruned);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Under preserve-unknown-fields: unknown fields stay, specified ones are
/// pruned by their own schema.
fn skip_prune(
    x: &mut Value,
    s: &Structural,
    embedded: bool,
    path: &mut String,
    pruned: &mut Vec<String>,
) {
    match x {
        Value::Object(m) => {
            let keep_meta = embedded || s.embedded_resource;
            for (k, v) in m.iter_mut() {
                if keep_meta && META_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let sub = match s.properties.get(k) {
                    Some(p) => Some(p),
                    None if s.additional_properties.is_some() => ap_schema(s),
                    None => continue,
                };
                let len = push_key(path, k);
                match sub {
                    Some(sub) => node(v, Some(sub), false, path, pruned),
                    // `additionalProperties: true` under preserve: a nil
                    // schema prunes everything below, as upstream.
                    None => node(v, None, false, path, pruned),
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            // Items with a schema switch back to normal pruning; without
            // one, the preserved array is left as is.
            if let Some(item_schema) = s.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = push_index(path, i);
                    node(item, Some(item_schema), false, path, pruned);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}
