//! Shared helpers of the `crd_*` tests: fixture loading, JSON-pointer
//! edits and message comparison.

#![allow(dead_code)]

use corral_apimachinery::validation::FieldError;
use serde_json::Value;
use std::path::PathBuf;

/// A fixture from `tests/data/crd/`.
pub fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/crd")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The CronTab CRD from the Kubernetes docs.
pub fn crontab() -> Value {
    load("crontab.json")
}

/// The CronTab `openAPIV3Schema`.
pub fn crontab_schema() -> Value {
    crontab()
        .pointer("/spec/versions/0/schema/openAPIV3Schema")
        .cloned()
        .expect("crontab schema")
}

/// Error messages as kube-apiserver prints them (`path: body`).
pub fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

/// `want` may contain `…`, matching any text.
pub fn matches(want: &str, got: &str) -> bool {
    let parts: Vec<&str> = want.split('…').collect();
    if parts.len() == 1 {
        return want == got;
    }
    let mut rest = got;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Compares message lists; returns a description of the mismatch.
pub fn compare(case: &str, want: &[String], got: &[String]) -> Option<String> {
    let ok = want.len() == got.len() && want.iter().zip(got).all(|(w, g)| matches(w, g));
    if ok {
        None
    } else {
        Some(format!(
            "case {case:?}\n  want: {want:#?}\n  got:  {got:#?}"
        ))
    }
}

/// The strings of a JSON array.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `pointer` to `value`, creating objects on the way; an array index
/// equal to the length appends.
pub fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = pointer.rsplit_once('/').expect("pointer");
    let target = if parent.is_empty() {
        doc
    } else {
        if doc.pointer(parent).is_none() {
            set(doc, parent, Value::Object(Default::default()));
        }
        doc.pointer_mut(parent).expect("parent")
    };
    match target {
        Value::Object(m) => {
            m.insert(last.to_string(), value);
        }
        Value::Array(a) => {
            let i: usize = last.parse().expect("index");
            if i == a.len() {
                a.push(value);
            } else {
                a[i] = value;
            }
        }
        other => panic!("cannot set {pointer} in {other}"),
    }
}

/// Removes `pointer`.
pub fn remove(doc: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').expect("pointer");
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(last);
        }
        Some(Value::Array(a)) => {
            a.remove(last.parse::<usize>().expect("index"));
        }
        _ => panic!("cannot remove {pointer}"),
    }
}

/// Applies a case's `set` (pointer → value) and `remove` (pointers) edits.
pub fn edit(doc: &mut Value, case: &Value) {
    if let Some(sets) = case.get("set").and_then(Value::as_object) {
        for (p, v) in sets {
            set(doc, p, v.clone());
        }
    }
    for p in strings(case.get("remove")) {
        remove(doc, &p);
    }
}
