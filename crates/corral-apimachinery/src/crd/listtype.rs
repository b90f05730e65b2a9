//! `x-kubernetes-list-type: set|map` invariants on a custom resource:
//! set items and map keys are unique (upstream `listtype.ValidateListSetsAndMaps`).

use super::render::{child, go_json, index, key, unstructured_error};
use super::structural::Structural;
use crate::validation::{ErrorType, FieldError};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Duplicate-item and duplicate-key errors for every set/map list in `obj`.
pub(crate) fn validate_lists(schema: &Structural, obj: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Value::Object(m) = obj {
        object(None, schema, m, &mut out);
    }
    out
}

/// `path` is `None` at the root: upstream's nil `field.Path`, whose `Key`
/// prints `[k]` and whose `Child` prints `k`.
fn object(path: Option<&str>, s: &Structural, m: &Map<String, Value>, out: &mut Vec<FieldError>) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    if let Some(ap) = s.additional_properties.as_ref().and_then(|a| a.schema()) {
        for k in &keys {
            let p = key(path.unwrap_or(""), k);
            value(&p, ap, &m[k.as_str()], out);
        }
    }
    for k in &keys {
        if let Some(p_schema) = s.properties.get(k.as_str()) {
            let p = child(path.unwrap_or(""), k);
            value(&p, p_schema, &m[k.as_str()], out);
        }
    }
}

fn value(path: &str, s: &Structural, v: &Value, out: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => array(path, s, items, out),
        Value::Object(m) => object(Some(path), s, m, out),
        _ => {}
    }
}

fn array(path: &str, s: &Structural, items: &[Value], out: &mut Vec<FieldError>) {
    match s.list_type.as_deref() {
        Some("set") => {
            for i in non_unique(items.iter().map(identity)) {
                out.push(unstructured_error(
                    index(path, i),
                    ErrorType::Duplicate,
                    &items[i],
                    "",
                ));
            }
        }
        Some("map") => list_map(path, s, items, out),
        _ => {}
    }
    if let Some(item_schema) = &s.items {
        for (i, item) in items.iter().enumerate() {
            value(&index(path, i), item_schema, item, out);
        }
    }
}

/// A comparable identity mirroring Go's map keys: scalars by type and
/// value (int64 1 and float64 1 differ), compounds by their JSON encoding.
fn identity(v: &Value) -> String {
    match v {
        Value::Null => "n".to_string(),
        Value::Bool(b) => format!("b{b}"),
        Value::Number(n) => match n.as_i64() {
            Some(i) => format!("i{i}"),
            None => format!("f{}", n.as_f64().unwrap_or(0.0).to_bits()),
        },
        Value::String(s) => format!("s{s}"),
        other => format!("j{}", go_json(other)),
    }
}

/// Indices of each value's second occurrence (later repeats are not reported).
fn non_unique(ids: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, id) in ids.enumerate() {
        let count = seen.entry(id).or_insert(0);
        *count += 1;
        if *count == 2 {
            out.push(i);
        }
    }
    out
}

fn list_map(path: &str, s: &Structural, items: &[Value], out: &mut Vec<FieldError>) {
    // Only objects (and nulls) are allowed; report the first offender only.
    if let Some((i, bad)) = items
        .iter()
        .enumerate()
        .find(|(_, x)| !x.is_null() && !x.is_object())
    {
        out.push(unstructured_error(
            index(path, i),
            ErrorType::Invalid,
            bad,
            "must be an object for an array of list-type map",
        ));
        return;
    }
    if items.len() <= 1 {
        return;
    }
    if let [key_field] = s.list_map_keys.as_slice() {
        // A missing key (or a null item) is its own value: "unspecified".
        let keys: Vec<Option<&Value>> = items.iter().map(|x| x.get(key_field)).collect();
        let ids = keys.iter().map(|k| match k {
            Some(v) => identity(v),
            None => "u".to_string(),
        });
        for i in non_unique(ids) {
            let mut shown = Map::new();
            if let Some(k) = keys[i] {
                shown.insert(key_field.clone(), k.clone());
            }
            out.push(unstructured_error(
                index(path, i),
                ErrorType::Duplicate,
                &Value::Object(shown),
                "",
            ));
        }
        return;
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut k = Map::new();
            for f in &s.list_map_keys {
                if let Some(v) = x.get(f) {
                    k.insert(f.clone(), v.clone());
                }
            }
            Value::Object(k)
        })
        .collect();
    for i in non_unique(keys.iter().map(identity)) {
        out.push(unstructured_error(
            index(path, i),
            ErrorType::Duplicate,
            &keys[i],
            "",
        ));
    }
}
