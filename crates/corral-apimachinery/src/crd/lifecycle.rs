//! What the server does to a CustomResourceDefinition besides validating
//! it: scheme defaults, the strategy's create/update preparation, and the
//! status the naming/establishing controllers publish.

use crate::util::{ensure_obj, get, get_array, get_str};
use serde_json::{Map, Value, json};

/// `apiextensions.k8s.io/v1` scheme defaults: `names.singular` = lower-case
/// kind, `names.listKind` = kind + "List", `conversion.strategy` = None,
/// a webhook service port of 443, and `status.storedVersions` = the
/// storage version when empty.
pub fn defaults_crd(crd: &mut Value) {
    let kind = get_str(crd, &["spec", "names", "kind"])
        .unwrap_or("")
        .to_string();
    if let Some(names) = ensure_obj(crd, &["spec", "names"]) {
        let empty = |m: &Map<String, Value>, k: &str| {
            m.get(k).and_then(Value::as_str).unwrap_or("").is_empty()
        };
        if empty(names, "singular") {
            names.insert("singular".into(), Value::from(kind.to_lowercase()));
        }
        if empty(names, "listKind") && !kind.is_empty() {
            names.insert("listKind".into(), Value::from(format!("{kind}List")));
        }
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        if spec.get("conversion").is_none_or(Value::is_null) {
            spec.insert("conversion".into(), json!({"strategy": "None"}));
        }
        if let Some(service) = spec
            .get_mut("conversion")
            .and_then(|c| c.pointer_mut("/webhook/clientConfig/service"))
            .and_then(Value::as_object_mut)
            && service.get("port").is_none_or(Value::is_null)
        {
            service.insert("port".into(), Value::from(443));
        }
    }
    let stored_empty = get_array(crd, &["status", "storedVersions"]).is_none_or(Vec::is_empty);
    if stored_empty
        && let Some(storage) = storage_version(crd)
        && let Some(status) = ensure_obj(crd, &["status"])
    {
        status.insert("storedVersions".into(), json!([storage]));
    }
}

/// The first version marked `storage: true`.
fn storage_version(crd: &Value) -> Option<String> {
    get_array(crd, &["spec", "versions"])?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .map(str::to_string)
}

fn add_stored_version(crd: &mut Value) {
    let Some(storage) = storage_version(crd) else {
        return;
    };
    let Some(status) = ensure_obj(crd, &["status"]) else {
        return;
    };
    let stored = status
        .entry("storedVersions")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !stored.is_array() {
        *stored = Value::Array(Vec::new());
    }
    if let Some(list) = stored.as_array_mut()
        && !list.iter().any(|v| v.as_str() == Some(storage.as_str()))
    {
        list.push(Value::from(storage));
    }
}

/// The create strategy (`PrepareForCreate`): the client's status is
/// discarded, `generation` is 1, and the storage version is recorded in
/// `status.storedVersions`.
pub fn prepare_crd_for_create(crd: &mut Value) {
    if let Some(m) = crd.as_object_mut() {
        m.insert(
            "status".into(),
            json!({"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": []}),
        );
    }
    if let Some(meta) = ensure_obj(crd, &["metadata"]) {
        meta.insert("generation".into(), Value::from(1));
    }
    add_stored_version(crd);
}

/// The update strategy (`PrepareForUpdate`): status is kept from `old`,
/// `generation` increments when the spec changed, and a new storage
/// version is appended to `status.storedVersions`.
pub fn prepare_crd_for_update(new: &mut Value, old: &Value) {
    let old_generation = get(old, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let spec_changed = new.get("spec") != old.get("spec");
    if let Some(m) = new.as_object_mut() {
        match old.get("status") {
            Some(s) => m.insert("status".into(), s.clone()),
            None => m.remove("status"),
        };
    }
    if let Some(meta) = ensure_obj(new, &["metadata"]) {
        let g = if spec_changed {
            old_generation + 1
        } else {
            old_generation
        };
        meta.insert("generation".into(), Value::from(g));
    }
    add_stored_version(new);
}

/// What upstream's naming and establishing controllers publish once a
/// CRD's names are free: `status.acceptedNames` = `spec.names`, and the
/// `NamesAccepted` and `Established` conditions true (`now` is an RFC 3339
/// timestamp). `kubectl wait --for condition=established` waits for this.
pub fn mark_established(crd: &mut Value, now: &str) {
    let names = get(crd, &["spec", "names"]).cloned().unwrap_or(json!({}));
    let condition = |type_: &str, reason: &str, message: &str| {
        json!({
            "type": type_,
            "status": "True",
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        })
    };
    if let Some(status) = ensure_obj(crd, &["status"]) {
        status.insert("acceptedNames".into(), names);
        status.insert(
            "conditions".into(),
            json!([
                condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                condition(
                    "Established",
                    "InitialNamesAccepted",
                    "the initial names have been accepted"
                ),
            ]),
        );
    }
}

/// Whether `status.conditions` has `Established=True` (after which scope
/// and kind are immutable).
pub fn is_established(crd: &Value) -> bool {
    get_array(crd, &["status", "conditions"]).is_some_and(|conds| {
        conds.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Established")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    })
}
