//! The OpenAPI subset a CRD schema may use (upstream
//! `ValidateCustomResourceDefinitionOpenAPISchema` and its
//! `specStandardValidatorV3`), checked on the schema as written: no `$ref`,
//! `definitions`, `patternProperties`..., valid types, defaults only where
//! they can apply, coherent list/map extensions.

use super::render::{child, index, key};
use super::structural::MAX_SCHEMA_DEPTH;
use crate::validation::FieldError;
use serde_json::{Map, Value};

const OPENAPI_V3_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];
const META_FIELDS: &[&str] = &["metadata", "kind", "apiVersion"];
const VALIDATION_REASONS: &[&str] = &[
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

/// What the enclosing schema allows at this node.
#[derive(Clone, Default)]
struct Ctx {
    /// Why defaults are forbidden here, when they are.
    forbidden_defaults: Option<String>,
    /// Inside the schema of TypeMeta/ObjectMeta (root or embedded).
    inside_resource_meta: bool,
}

impl Ctx {
    fn without_defaults(&self, reason: &str) -> Ctx {
        Ctx {
            forbidden_defaults: Some(reason.to_string()),
            ..self.clone()
        }
    }
}

/// All OpenAPI-subset violations of the schema `v` rooted at `path`.
pub(crate) fn validate_openapi_schema(v: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    rules(v, path, &Ctx::default(), true, 0, &mut out);
    out
}

fn get<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    m.get(k).filter(|v| !v.is_null())
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn non_empty_obj(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k)
        .and_then(Value::as_object)
        .is_some_and(|o| !o.is_empty())
}

fn rules(v: &Value, path: &str, ctx: &Ctx, is_root: bool, depth: usize, out: &mut Vec<FieldError>) {
    let Some(m) = v.as_object() else { return };
    if depth >= MAX_SCHEMA_DEPTH {
        // The decoder already reported the depth; do not recurse further.
        return;
    }
    standard(m, path, ctx, out);
    if m.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
        out.push(FieldError::forbidden(
            child(path, "uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    // Properties are for structs, additionalProperties for maps: both
    // would contradict the API convention of ignoring unknown fields.
    if let Some(ap) = get(m, "additionalProperties") {
        if non_empty_obj(m, "properties") && (ap.as_bool() == Some(false) || ap.is_object()) {
            out.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        let sub = if ctx.inside_resource_meta {
            // Pruning without an actual value would be ambiguous there.
            ctx.without_defaults("inside additionalProperties applying to object metadata")
        } else {
            ctx.clone()
        };
        rules(
            ap,
            &child(path, "additionalProperties"),
            &sub,
            false,
            depth + 1,
            out,
        );
    }
    let embedded = m
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        let mut names: Vec<&String> = props.keys().collect();
        names.sort();
        for name in names {
            let mut sub = ctx.clone();
            if (is_root || embedded) && META_FIELDS.contains(&name.as_str()) {
                sub.inside_resource_meta = true;
                if is_root {
                    sub = sub.without_defaults(&format!("in top-level {name}"));
                }
            }
            let p_path = key(&child(path, "properties"), name);
            rules(&props[name], &p_path, &sub, false, depth + 1, out);
        }
    }
    if let Some(not) = get(m, "not") {
        rules(not, &child(path, "not"), ctx, false, depth + 1, out);
    }
    for name in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = m.get(name).and_then(Value::as_array) {
            for (i, item) in list.iter().enumerate() {
                rules(
                    item,
                    &index(&child(path, name), i),
                    ctx,
                    false,
                    depth + 1,
                    out,
                );
            }
        }
    }
    if let Some(defs) = m.get("definitions").and_then(Value::as_object) {
        for (k, d) in sorted(defs) {
            rules(
                d,
                &key(&child(path, "definitions"), k),
                ctx,
                false,
                depth + 1,
                out,
            );
        }
    }
    match get(m, "items") {
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                rules(
                    item,
                    &index(&child(path, "items"), i),
                    ctx,
                    false,
                    depth + 1,
                    out,
                );
            }
        }
        Some(items) => rules(items, &child(path, "items"), ctx, false, depth + 1, out),
        None => {}
    }
    if let Some(deps) = m.get("dependencies").and_then(Value::as_object) {
        for (k, d) in sorted(deps) {
            if d.is_object() {
                rules(
                    d,
                    &key(&child(path, "dependencies"), k),
                    ctx,
                    false,
                    depth + 1,
                    out,
                );
            }
        }
    }
    extensions(m, path, out);
    map_list_keys_map_set(m, path, out);
    cel_rule_shapes(m, path, out);
}

fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<(&String, &Value)> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// `specStandardValidatorV3.validate`.
fn standard(m: &Map<String, Value>, path: &str, ctx: &Ctx, out: &mut Vec<FieldError>) {
    let type_ = str_of(m, "type");
    if !type_.is_empty() && !OPENAPI_V3_TYPES.contains(&type_) {
        out.push(FieldError::not_supported(
            child(path, "type"),
            type_,
            OPENAPI_V3_TYPES,
        ));
    }
    if get(m, "default").is_some()
        && let Some(reason) = &ctx.forbidden_defaults
    {
        out.push(FieldError::forbidden(
            child(path, "default"),
            format!("must not be set {reason}"),
        ));
    }
    if !str_of(m, "id").is_empty() {
        out.push(FieldError::forbidden(
            child(path, "id"),
            "id is not supported",
        ));
    }
    if get(m, "additionalItems").is_some() {
        out.push(FieldError::forbidden(
            child(path, "additionalItems"),
            "additionalItems is not supported",
        ));
    }
    if non_empty_obj(m, "patternProperties") {
        out.push(FieldError::forbidden(
            child(path, "patternProperties"),
            "patternProperties is not supported",
        ));
    }
    if non_empty_obj(m, "definitions") {
        out.push(FieldError::forbidden(
            child(path, "definitions"),
            "definitions is not supported",
        ));
    }
    if get(m, "dependencies").is_some() {
        out.push(FieldError::forbidden(
            child(path, "dependencies"),
            "dependencies is not supported",
        ));
    }
    if get(m, "$ref").is_some() {
        out.push(FieldError::forbidden(
            child(path, "$ref"),
            "$ref is not supported",
        ));
    }
    if type_ == "null" {
        out.push(FieldError::forbidden(
            child(path, "type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if m.get("items")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        out.push(FieldError::forbidden(
            child(path, "items"),
            "items must be a schema object and not an array",
        ));
    }
    if ctx.inside_resource_meta
        && m.get("x-kubernetes-embedded-resource")
            .and_then(Value::as_bool)
            == Some(true)
    {
        out.push(FieldError::forbidden(
            child(path, "x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
}

/// `x-kubernetes-preserve-unknown-fields`, `-map-type`, `-list-type`,
/// `-list-map-keys` coherence.
fn extensions(m: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    let type_ = str_of(m, "type");
    if m.get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(false)
    {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        ));
    }
    if let Some(map_type) = m.get("x-kubernetes-map-type").and_then(Value::as_str) {
        if type_ != "object" {
            type_must_be(
                type_,
                "must be object if x-kubernetes-map-type is specified",
                path,
                out,
            );
        }
        if map_type != "atomic" && map_type != "granular" {
            out.push(FieldError::not_supported(
                child(path, "x-kubernetes-map-type"),
                map_type,
                &["atomic", "granular"],
            ));
        }
    }
    let list_type = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    let items = m.get("items").and_then(Value::as_object);
    if let Some(lt) = list_type {
        if type_ != "array" {
            type_must_be(
                type_,
                "must be array if x-kubernetes-list-type is specified",
                path,
                out,
            );
        } else if lt == "set"
            && let Some(is) = items
        {
            set_items_atomic(is, path, out);
        }
        if !["atomic", "set", "map"].contains(&lt) {
            out.push(FieldError::not_supported(
                child(path, "x-kubernetes-list-type"),
                lt,
                &["atomic", "set", "map"],
            ));
        }
    }
    let keys: Vec<&str> = m
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let lt_path = child(path, "x-kubernetes-list-type");
    const KEYS_NEED_MAP: &str = "must be map if x-kubernetes-list-map-keys is non-empty";
    match (keys.is_empty(), list_type) {
        (false, None) => out.push(FieldError::required(lt_path, KEYS_NEED_MAP)),
        (false, Some(lt)) if lt != "map" => {
            out.push(FieldError::invalid(lt_path, lt, KEYS_NEED_MAP))
        }
        _ => {}
    }
    if list_type == Some("map") {
        list_map(m, &keys, path, out);
    }
}

fn type_must_be(type_: &str, detail: &str, path: &str, out: &mut Vec<FieldError>) {
    if type_.is_empty() {
        out.push(FieldError::required(child(path, "type"), detail));
    } else {
        out.push(FieldError::invalid(child(path, "type"), type_, detail));
    }
}

/// Items of a `set` must be atomic themselves.
fn set_items_atomic(is: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    const DETAIL: &str = "must be atomic as item of a list with x-kubernetes-list-type=set";
    let items_path = child(path, "items");
    let item_list_type = is.get("x-kubernetes-list-type").and_then(Value::as_str);
    match str_of(is, "type") {
        "array" => {
            if let Some(lt) = item_list_type
                && lt != "atomic"
            {
                out.push(FieldError::invalid(
                    child(&items_path, "x-kubernetes-list-type"),
                    lt,
                    DETAIL,
                ));
            }
        }
        "object" if is.get("x-kubernetes-map-type").and_then(Value::as_str) != Some("atomic") => {
            // Upstream reports the item's list type here (nil prints "null").
            let shown = item_list_type.map_or(Value::Null, Value::from);
            out.push(FieldError::invalid(
                child(&items_path, "x-kubernetes-map-type"),
                shown,
                DETAIL,
            ));
        }
        _ => {}
    }
}

fn list_map(m: &Map<String, Value>, keys: &[&str], path: &str, out: &mut Vec<FieldError>) {
    let items_path = child(path, "items");
    let keys_path = child(path, "x-kubernetes-list-map-keys");
    let keys_value = Value::Array(keys.iter().map(|k| Value::from(*k)).collect());
    if keys.is_empty() {
        out.push(FieldError::required(
            keys_path.clone(),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    match get(m, "items") {
        None => out.push(FieldError::required(
            items_path,
            "must have a schema if x-kubernetes-list-type is map",
        )),
        Some(items @ Value::Array(_)) => out.push(FieldError::invalid(
            items_path,
            items.clone(),
            "must only have a single schema if x-kubernetes-list-type is map",
        )),
        Some(Value::Object(is)) => {
            let item_type = str_of(is, "type");
            if item_type != "object" {
                out.push(FieldError::invalid(
                    child(&items_path, "type"),
                    item_type,
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
                return;
            }
            let props = is.get("properties").and_then(Value::as_object);
            let mut seen: Vec<&str> = Vec::new();
            for k in keys {
                match props.and_then(|p| p.get(*k)).and_then(Value::as_object) {
                    Some(p) => {
                        let t = str_of(p, "type");
                        if t == "array" || t == "object" {
                            // Upstream prints the item schema's type here.
                            out.push(FieldError::invalid(
                                child(&key(&child(&items_path, "properties"), k), "type"),
                                item_type,
                                "must be a scalar type if parent array's x-kubernetes-list-type is map",
                            ));
                        }
                    }
                    None => out.push(FieldError::invalid(
                        keys_path.clone(),
                        keys_value.clone(),
                        "entries must all be names of item properties",
                    )),
                }
                if seen.contains(k) {
                    out.push(FieldError::invalid(
                        keys_path.clone(),
                        keys_value.clone(),
                        "must not contain duplicate entries",
                    ));
                }
                seen.push(k);
            }
        }
        Some(_) => {}
    }
}

/// `validateMapListKeysMapSet`: set/map items are not nullable, map keys
/// are required or defaulted and not nullable.
fn map_list_keys_map_set(m: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    let Some(is) = m.get("items").and_then(Value::as_object) else {
        return;
    };
    let Some(lt) = m.get("x-kubernetes-list-type").and_then(Value::as_str) else {
        return;
    };
    if lt != "set" && lt != "map" {
        return;
    }
    let items_path = child(path, "items");
    if is.get("nullable").and_then(Value::as_bool) == Some(true) {
        out.push(FieldError::forbidden(
            child(&items_path, "nullable"),
            format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
        ));
    }
    if lt != "map" {
        return;
    }
    let required: Vec<&str> = is
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let keys = m
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let props = is.get("properties").and_then(Value::as_object);
    for k in keys {
        let Some(p) = props.and_then(|p| p.get(k)).and_then(Value::as_object) else {
            continue;
        };
        let p_path = key(&child(&items_path, "properties"), k);
        if !required.contains(&k) && get(p, "default").is_none() {
            out.push(FieldError::required(
                child(&p_path, "default"),
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ));
        }
        if p.get("nullable").and_then(Value::as_bool) == Some(true) {
            out.push(FieldError::forbidden(
                child(&p_path, "nullable"),
                "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
            ));
        }
    }
}

/// The shape checks of `x-kubernetes-validations` entries (the CEL
/// programs themselves are neither compiled nor evaluated by Corral).
fn cel_rule_shapes(m: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    let Some(rules) = m.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return;
    };
    let has_newline = |s: &str| s.contains('\n') || s.contains('\r');
    for (i, r) in rules.iter().enumerate() {
        let Some(r) = r.as_object() else { continue };
        let base = index(&child(path, "x-kubernetes-validations"), i);
        let rule = str_of(r, "rule");
        let message = str_of(r, "message");
        let trimmed_rule = rule.trim();
        let trimmed_msg = message.trim();
        if trimmed_rule.is_empty() {
            out.push(FieldError::required(
                child(&base, "rule"),
                "rule is not specified",
            ));
        } else if !message.is_empty() && trimmed_msg.is_empty() {
            out.push(FieldError::invalid(
                child(&base, "message"),
                message,
                "message must be non-empty if specified",
            ));
        } else if has_newline(trimmed_msg) {
            out.push(FieldError::invalid(
                child(&base, "message"),
                message,
                "message must not contain line breaks",
            ));
        } else if has_newline(trimmed_rule) && trimmed_msg.is_empty() {
            out.push(FieldError::required(
                child(&base, "message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        let msg_expr = str_of(r, "messageExpression");
        if !msg_expr.is_empty() && msg_expr.trim().is_empty() {
            out.push(FieldError::required(
                child(&base, "messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = r.get("reason").and_then(Value::as_str)
            && !VALIDATION_REASONS.contains(&reason)
        {
            out.push(FieldError::not_supported(
                child(&base, "reason"),
                reason,
                VALIDATION_REASONS,
            ));
        }
        let field_path = str_of(r, "fieldPath");
        if !field_path.is_empty() && field_path.trim().is_empty() {
            out.push(FieldError::invalid(
                child(&base, "fieldPath"),
                field_path,
                "fieldPath must be non-empty if specified",
            ));
        }
        if has_newline(field_path) {
            out.push(FieldError::invalid(
                child(&base, "fieldPath"),
                field_path,
                "fieldPath must not contain line breaks",
            ));
        }
    }
}
