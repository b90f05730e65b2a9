//! Swagger 2.0 (`/openapi/v2`): the same schemas and operations as the v3
//! documents, in v2's shapes. kubectl still reads it (as protobuf) for
//! client-side validation of `kind: List` files, for `kubectl explain
//! --output=plaintext-openapiv2`, and in apply when a v3 document does not
//! offer strategic merge patch for a kind.

use serde_json::{Map, Value, json};

use super::schemas::{INT_OR_STRING, QUANTITY, REF_V3};

const REF_V2: &str = "#/definitions/";

/// Removes from a CRD's schema what OpenAPI v2 (and kubectl's parser of it)
/// cannot express, as upstream's `ToStructuralOpenAPIV2` does: `allOf`,
/// `anyOf`, `oneOf`, `not`; nullable and unknown-field-preserving nodes lose
/// their properties and items (kubectl would reject what they allow), arrays
/// left without items lose their type.
pub fn structural_v2(s: &mut Value) {
    let Some(o) = s.as_object_mut() else { return };
    for key in ["allOf", "anyOf", "oneOf", "not"] {
        o.remove(key);
    }
    let flag = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag(o, "nullable") {
        o.remove("type");
        o.remove("nullable");
        o.remove("items");
        o.remove("properties");
    }
    if flag(o, "x-kubernetes-preserve-unknown-fields") {
        o.remove("items");
        o.remove("properties");
    }
    if !o.contains_key("items") && o.get("type").and_then(Value::as_str) == Some("array") {
        o.remove("type");
    }
    // A nullable field may be sent as null, which kubectl would call missing.
    let nullable_fields: Vec<String> = o
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter(|(_, p)| flag_value(p, "nullable"))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(req) = o.get_mut("required").and_then(Value::as_array_mut) {
        req.retain(|f| !nullable_fields.iter().any(|n| f == n.as_str()));
    }
    if o.get("additionalProperties")
        .is_some_and(|a| flag_value(a, "nullable"))
    {
        o.remove("required");
    }
    if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(structural_v2);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = o.get_mut(key) {
            structural_v2(child);
        }
    }
}

fn flag_value(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Reshapes a v3-shaped schema for v2: `allOf: [{$ref}]` becomes `$ref` with
/// its siblings (as upstream's v2 document has them), refs point into
/// `#/definitions/`, and v3-only keywords go. Walks only schema positions, so
/// a property that happens to be named `not` or `oneOf` stays.
pub fn schema_to_v2(s: &mut Value) {
    let Some(o) = s.as_object_mut() else { return };
    let single_ref = match o.get("allOf").and_then(Value::as_array) {
        Some(all) if all.len() == 1 => all[0]
            .as_object()
            .filter(|r| r.len() == 1)
            .and_then(|r| r.get("$ref"))
            .cloned(),
        _ => None,
    };
    if let Some(r) = single_ref {
        o.remove("allOf");
        o.insert("$ref".into(), r);
    }
    if let Some(Value::String(r)) = o.get_mut("$ref")
        && let Some(name) = r.strip_prefix(REF_V3)
    {
        *r = format!("{REF_V2}{name}");
    }
    for key in ["allOf", "anyOf", "oneOf", "not", "nullable"] {
        o.remove(key);
    }
    if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(schema_to_v2);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = o.get_mut(key) {
            schema_to_v2(child);
        }
    }
}

/// Definitions whose v2 shape upstream fixes by hand (OpenAPISchemaType).
pub fn special_v2(name: &str, def: &mut Value) {
    let description = def.get("description").cloned().unwrap_or(Value::Null);
    match name {
        INT_OR_STRING => {
            *def = json!({"description": description, "type": "string", "format": "int-or-string"})
        }
        QUANTITY => *def = json!({"description": description, "type": "string"}),
        _ => {}
    }
}

/// Rewrites `$ref`s anywhere (operations' parameters and responses) to v2's prefix.
pub fn refs_to_v2(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(name) = r.strip_prefix(REF_V3)
            {
                *r = format!("{REF_V2}{name}");
            }
            o.values_mut().for_each(refs_to_v2);
        }
        Value::Array(items) => items.iter_mut().for_each(refs_to_v2),
        _ => {}
    }
}

/// The swagger document around already-built paths and v2 definitions.
pub fn document(paths: Map<String, Value>, definitions: Map<String, Value>) -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{}.0", crate::KUBERNETES_MINOR)},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "type": "apiKey",
                "name": "authorization",
                "in": "header",
            },
        },
        "security": [{"BearerToken": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structural_v2_drops_what_v2_cannot_say() {
        let mut s = json!({
            "type": "object",
            "required": ["a", "n"],
            "properties": {
                "a": {"type": "string", "anyOf": [{"type": "string"}]},
                "n": {"type": "object", "nullable": true, "properties": {"x": {"type": "string"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"y": {"type": "string"}}},
                "not": {"type": "array", "x-kubernetes-preserve-unknown-fields": true, "items": {"type": "string"}},
            },
        });
        structural_v2(&mut s);
        assert_eq!(s["required"], json!(["a"]));
        assert!(s["properties"]["a"].get("anyOf").is_none());
        assert_eq!(s["properties"]["n"], json!({}));
        assert!(s["properties"]["free"].get("properties").is_none());
        // An array whose items were dropped is no longer typed; the field named `not` stays.
        assert!(s["properties"]["not"].get("type").is_none());
    }

    #[test]
    fn v3_refs_become_v2_refs() {
        let mut s = json!({
            "properties": {
                "metadata": {"allOf": [{"$ref": "#/components/schemas/M"}], "description": "d"},
                "oneOf": {"type": "string"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/I"}},
            },
        });
        schema_to_v2(&mut s);
        assert_eq!(
            s["properties"]["metadata"],
            json!({"$ref": "#/definitions/M", "description": "d"})
        );
        assert_eq!(s["properties"]["oneOf"], json!({"type": "string"}));
        assert_eq!(s["properties"]["items"]["items"]["$ref"], "#/definitions/I");
    }
}
