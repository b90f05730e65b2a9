//! Structural defaulting (upstream `schema/defaulting`): applying `default`
//! values to a custom resource, dropping nulls the schema does not allow,
//! and checking, when a CRD is written, that every default validates and
//! is already pruned.

use super::render::{child, key, unstructured_error};
use super::structural::{AdditionalProperties, Structural};
use super::{embedded, prune, validate};
use crate::validation::{ErrorType, FieldError};
use serde_json::Value;

/// Defaults custom resource `obj` in place, as the server does after
/// decoding a request (and when reading from storage): first nulls in
/// non-nullable fields without a default are removed, then every missing
/// field with a default gets it (as does a non-nullable null), recursively
/// through properties, `additionalProperties` and array items. Defaults of
/// nested fields apply inside defaulted objects too.
pub fn apply_defaults(schema: &Structural, obj: &mut Value) {
    prune_non_nullable_nulls(obj, Some(schema));
    default(obj, schema);
}

fn is_non_nullable_null(x: &Value, s: Option<&Structural>) -> bool {
    x.is_null() && s.is_some_and(|s| !s.nullable)
}

fn ap_schema(s: &Structural) -> Option<&Structural> {
    s.additional_properties
        .as_ref()
        .and_then(AdditionalProperties::schema)
}

/// `PruneNonNullableNullsWithoutDefaults`.
fn prune_non_nullable_nulls(x: &mut Value, s: Option<&Structural>) {
    match x {
        Value::Object(m) => {
            m.retain(|k, v| {
                let field = s.and_then(|s| s.field_schema(k));
                let drop = v.is_null() && field.is_some_and(|f| !f.nullable && f.default.is_none());
                if !drop {
                    prune_non_nullable_nulls(v, field);
                }
                !drop
            });
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for item in items {
                prune_non_nullable_nulls(item, item_schema);
            }
        }
        _ => {}
    }
}

/// `Default`.
fn default(x: &mut Value, s: &Structural) {
    match x {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else { continue };
                let missing = match m.get(k) {
                    None => true,
                    Some(v) => is_non_nullable_null(v, Some(prop)),
                };
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            for (k, v) in m.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    default(v, prop);
                } else if let Some(ap) = ap_schema(s) {
                    if is_non_nullable_null(v, Some(ap)) {
                        *v = ap.default.clone().unwrap_or(Value::Null);
                    }
                    default(v, ap);
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = s.items.as_deref() else {
                return;
            };
            for item in items.iter_mut() {
                if is_non_nullable_null(item, Some(item_schema)) {
                    *item = item_schema.default.clone().unwrap_or(Value::Null);
                }
                default(item, item_schema);
            }
        }
        _ => {}
    }
}

/// `ValidateDefaults` for a CRD schema rooted at `path`: each default must
/// be pruned (no unknown fields), well-formed if it is an embedded
/// resource, and valid against the schema it sits in.
pub(crate) fn validate_defaults(s: &Structural, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    // The schema root is a resource root: treat it as embedded.
    walk(s, path, false, true, &mut out);
    out
}

fn walk(s: &Structural, path: &str, inside_meta: bool, is_root: bool, out: &mut Vec<FieldError>) {
    let embedded = s.embedded_resource || is_root;
    let inside_meta = inside_meta && !embedded;
    if let Some(d) = &s.default
        && !inside_meta
    {
        let default_path = child(path, "default");
        let mut pruned = d.clone();
        prune::prune_value(&mut pruned, Some(s), embedded);
        if &pruned != d {
            out.push(unstructured_error(
                default_path.clone(),
                ErrorType::Invalid,
                d,
                "must not have unknown fields",
            ));
        }
        let meta_errs = embedded::validate_embedded(s, d, &default_path, embedded);
        if meta_errs.is_empty() {
            out.extend(validate::validate_values(s, d, Some(&default_path)));
        } else {
            out.extend(meta_errs);
        }
    }
    // Defaults inside additionalProperties are never applied to
    // metadata, and upstream does not follow them here either.
    if let Some(items) = &s.items {
        walk(items, &child(path, "items"), inside_meta, false, out);
    }
    for (k, p) in &s.properties {
        let sub_meta =
            inside_meta || (embedded && matches!(k.as_str(), "metadata" | "apiVersion" | "kind"));
        walk(p, &key(&child(path, "properties"), k), sub_meta, false, out);
    }
}
