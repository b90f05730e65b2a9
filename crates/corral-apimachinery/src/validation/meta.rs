//! `metadata` validation on create and update, as upstream's
//! `ValidateObjectMeta` / `ValidateObjectMetaUpdate`, plus label selector
//! validation (`ValidateLabelSelector`).

use super::names::{NameRule, is_dns1123_label, is_qualified_name, is_valid_label_value};
use super::{FieldError, immutable};
use crate::util::{get, get_str, is_zero, parse_time};
use serde_json::{Map, Value};

/// Upstream `TotalAnnotationSizeLimitB` (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const FINALIZER_ORPHAN: &str = "orphan";
const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

fn meta_str<'a>(meta: &'a Value, key: &str) -> &'a str {
    get_str(meta, &[key]).unwrap_or("")
}

/// Pushes a TypeInvalid error when `v` is present, not null and not a string.
fn check_string(meta: &Value, key: &str, out: &mut Vec<FieldError>) {
    if let Some(v) = get(meta, &[key])
        && !v.is_null()
        && !v.is_string()
    {
        out.push(FieldError::type_invalid(
            format!("metadata.{key}"),
            v.clone(),
            "must be a string",
        ));
    }
}

/// A `map[string]string` field: returns its entries, reporting non-object
/// maps and non-string values as TypeInvalid.
fn string_map<'a>(
    v: Option<&'a Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) -> Vec<(&'a str, &'a str)> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => {
            let mut entries = Vec::with_capacity(m.len());
            for (k, val) in m {
                match val {
                    Value::String(s) => entries.push((k.as_str(), s.as_str())),
                    Value::Null => entries.push((k.as_str(), "")),
                    other => out.push(FieldError::type_invalid(
                        format!("{path}[{k}]"),
                        other.clone(),
                        "must be a string",
                    )),
                }
            }
            entries.sort();
            entries
        }
        Some(other) => {
            out.push(FieldError::type_invalid(
                path,
                other.clone(),
                "must be an object of strings",
            ));
            Vec::new()
        }
    }
}

/// A `[]string` field: returns its items, reporting type errors.
fn string_list<'a>(v: Option<&'a Value>, path: &str, out: &mut Vec<FieldError>) -> Vec<&'a str> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let mut items = Vec::with_capacity(a.len());
            for (i, item) in a.iter().enumerate() {
                match item.as_str() {
                    Some(s) => items.push(s),
                    None => out.push(FieldError::type_invalid(
                        format!("{path}[{i}]"),
                        item.clone(),
                        "must be a string",
                    )),
                }
            }
            items
        }
        Some(other) => {
            out.push(FieldError::type_invalid(
                path,
                other.clone(),
                "must be an array of strings",
            ));
            Vec::new()
        }
    }
}

/// `ValidateLabels`: keys are qualified names, values valid label values.
/// Errors are reported at `path` itself, as upstream does.
pub fn validate_labels(labels: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (k, v) in string_map(labels, path, &mut out) {
        for msg in is_qualified_name(k) {
            out.push(FieldError::invalid(path, k, msg));
        }
        for msg in is_valid_label_value(v) {
            out.push(FieldError::invalid(path, v, msg));
        }
    }
    out
}

fn validate_annotations(annotations: Option<&Value>, path: &str, out: &mut Vec<FieldError>) {
    let entries = string_map(annotations, path, out);
    let mut total = 0usize;
    for (k, v) in entries {
        for msg in is_qualified_name(&k.to_lowercase()) {
            out.push(FieldError::invalid(path, k, msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        out.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
}

fn validate_owner_references(refs: Option<&Value>, path: &str, out: &mut Vec<FieldError>) {
    let items = match refs {
        None | Some(Value::Null) => return,
        Some(Value::Array(a)) => a,
        Some(other) => {
            out.push(FieldError::type_invalid(
                path,
                other.clone(),
                "must be an array",
            ));
            return;
        }
    };
    let mut first_controller: Option<String> = None;
    for r in items {
        let api_version = get_str(r, &["apiVersion"]).unwrap_or("");
        let kind = get_str(r, &["kind"]).unwrap_or("");
        let name = get_str(r, &["name"]).unwrap_or("");
        let uid = get_str(r, &["uid"]).unwrap_or("");
        // schema.ParseGroupVersion: "v" or "g/v"; anything else is empty.
        let (group, version) = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => ("", *v),
            [g, v] => (*g, *v),
            _ => ("", ""),
        };
        if version.is_empty() {
            out.push(FieldError::invalid(
                format!("{path}.apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            out.push(FieldError::invalid(
                format!("{path}.kind"),
                kind,
                "must not be empty",
            ));
        }
        if name.is_empty() {
            out.push(FieldError::invalid(
                format!("{path}.name"),
                name,
                "must not be empty",
            ));
        }
        if uid.is_empty() {
            out.push(FieldError::invalid(
                format!("{path}.uid"),
                uid,
                "must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            out.push(FieldError::invalid(
                path,
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if get(r, &["controller"]).and_then(Value::as_bool) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => out.push(FieldError::invalid(
                    path,
                    Value::Array(items.clone()),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
}

fn validate_finalizers(finalizers: Option<&Value>, path: &str, out: &mut Vec<FieldError>) {
    let items = string_list(finalizers, path, out);
    for f in &items {
        for msg in is_qualified_name(f) {
            out.push(FieldError::invalid(path, *f, msg));
        }
    }
    if items.contains(&FINALIZER_ORPHAN) && items.contains(&FINALIZER_FOREGROUND) {
        let all: Vec<Value> = items.iter().map(|s| Value::from(*s)).collect();
        out.push(FieldError::invalid(
            path,
            Value::Array(all),
            format!("finalizer {FINALIZER_ORPHAN} and {FINALIZER_FOREGROUND} cannot be both set"),
        ));
    }
}

/// Upstream `IsStandardFinalizerName`: "kubernetes", "orphan", "foregroundDeletion".
pub const STANDARD_FINALIZERS: &[&str] = &["kubernetes", FINALIZER_ORPHAN, FINALIZER_FOREGROUND];

/// The extra finalizer rule built-in (in-tree) types apply on top of
/// [`validate_object_meta`] (core's `validateKubeFinalizerName`): a
/// finalizer without a '/' must be a standard one. Custom resources only
/// get a warning upstream, so this is separate.
pub fn validate_kube_finalizers(meta: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let items = string_list(
        get(meta, &["finalizers"]),
        "metadata.finalizers",
        &mut scratch,
    );
    for (i, f) in items.iter().enumerate() {
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(f) {
            out.push(FieldError::invalid(
                format!("metadata.finalizers[{i}]"),
                *f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    out
}

/// Common checks shared by create and update: labels, annotations (keys and
/// the 256 KiB total), ownerReferences, finalizers.
fn validate_common(meta: &Value, out: &mut Vec<FieldError>) {
    out.extend(validate_labels(get(meta, &["labels"]), "metadata.labels"));
    validate_annotations(get(meta, &["annotations"]), "metadata.annotations", out);
    validate_owner_references(
        get(meta, &["ownerReferences"]),
        "metadata.ownerReferences",
        out,
    );
    validate_finalizers(get(meta, &["finalizers"]), "metadata.finalizers", out);
}

/// Upstream `ValidateObjectMeta` for a new object's `metadata`.
///
/// `name` must satisfy `rule` (when empty, `generateName` must be set, and a
/// non-empty `generateName` must satisfy `rule` as a prefix); `namespace` is
/// required (a DNS-1123 label) when `namespaced`, forbidden otherwise;
/// `generation` >= 0; then labels, annotations, ownerReferences, finalizers.
pub fn validate_object_meta(meta: &Value, namespaced: bool, rule: NameRule) -> Vec<FieldError> {
    let mut out = Vec::new();
    if !meta.is_object() {
        out.push(FieldError::required("metadata", ""));
        return out;
    }
    for key in ["name", "generateName", "namespace"] {
        check_string(meta, key, &mut out);
    }
    let name = meta_str(meta, "name");
    let generate_name = meta_str(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.validate(generate_name, true) {
            out.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                msg,
            ));
        }
    }
    if name.is_empty() {
        if generate_name.is_empty() {
            out.push(FieldError::required(
                "metadata.name",
                "name or generateName is required",
            ));
        }
    } else {
        for msg in rule.validate(name, false) {
            out.push(FieldError::invalid("metadata.name", name, msg));
        }
    }
    let namespace = meta_str(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            out.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in is_dns1123_label(namespace) {
                out.push(FieldError::invalid("metadata.namespace", namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        out.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }
    if let Some(g) = get(meta, &["generation"]).and_then(Value::as_i64)
        && g < 0
    {
        out.push(FieldError::invalid(
            "metadata.generation",
            g,
            "must be greater than or equal to 0",
        ));
    }
    validate_common(meta, &mut out);
    out
}

fn same_time(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a.and_then(Value::as_str), b.and_then(Value::as_str)) {
        (Some(x), Some(y)) => match (parse_time(x), parse_time(y)) {
            (Some(tx), Some(ty)) => tx.unix_timestamp() == ty.unix_timestamp(),
            _ => x == y,
        },
        _ => is_zero(a) && is_zero(b) || a == b,
    }
}

/// Upstream `ValidateObjectMetaUpdate`: `name`, `namespace`, `uid`,
/// `creationTimestamp`, `deletionTimestamp` and `deletionGracePeriodSeconds`
/// are immutable ("field is immutable"), `generation` may not decrease, no
/// finalizer may be added once `deletionTimestamp` is set, and the new
/// labels / annotations / ownerReferences / finalizers are validated.
///
/// `resourceVersion` presence is not checked here (the server's
/// optimistic-concurrency logic owns it).
pub fn validate_object_meta_update(new_meta: &Value, old_meta: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    if !new_meta.is_object() {
        out.push(FieldError::required("metadata", ""));
        return out;
    }
    if !is_zero(get(old_meta, &["deletionTimestamp"])) {
        let mut scratch = Vec::new();
        let old_f = string_list(get(old_meta, &["finalizers"]), "", &mut scratch);
        let mut extra: Vec<&str> = string_list(get(new_meta, &["finalizers"]), "", &mut scratch)
            .into_iter()
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let quoted: Vec<String> = extra.iter().map(|f| crate::util::go_quote(f)).collect();
            out.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted.join(", ")
                ),
            ));
        }
    }
    let new_gen = get(new_meta, &["generation"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let old_gen = get(old_meta, &["generation"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if new_gen < old_gen {
        out.push(FieldError::invalid(
            "metadata.generation",
            new_gen,
            "must not be decremented",
        ));
    }
    for key in ["name", "namespace", "uid"] {
        immutable(
            get(new_meta, &[key]),
            get(old_meta, &[key]),
            &format!("metadata.{key}"),
            &mut out,
        );
    }
    for key in ["creationTimestamp", "deletionTimestamp"] {
        let (n, o) = (get(new_meta, &[key]), get(old_meta, &[key]));
        if !same_time(n, o) {
            out.push(FieldError::invalid(
                format!("metadata.{key}"),
                n.cloned().unwrap_or(Value::Null),
                super::FIELD_IMMUTABLE,
            ));
        }
    }
    immutable(
        get(new_meta, &["deletionGracePeriodSeconds"]),
        get(old_meta, &["deletionGracePeriodSeconds"]),
        "metadata.deletionGracePeriodSeconds",
        &mut out,
    );
    validate_common(new_meta, &mut out);
    out
}

/// Upstream `rest.BeforeUpdate` metadata fix-ups, to run before
/// [`validate_object_meta_update`]: an empty `uid` takes the old one, and
/// `creationTimestamp`, `deletionTimestamp` (once set) and
/// `deletionGracePeriodSeconds` (when the new one is unset) are carried over,
/// and `generation` starts from the old value (upstream strategies set it;
/// the server increments it when the type tracks generation).
pub fn prepare_object_meta_update(new_meta: &mut Value, old_meta: &Value) {
    if new_meta.is_null() {
        *new_meta = Value::Object(Map::new());
    }
    let Some(new) = new_meta.as_object_mut() else {
        return;
    };
    let new_uid_empty = new.get("uid").is_none_or(|v| is_zero(Some(v)));
    if new_uid_empty && let Some(v) = get(old_meta, &["uid"]) {
        new.insert("uid".into(), v.clone());
    }
    if !is_zero(get(old_meta, &["creationTimestamp"]))
        && let Some(v) = get(old_meta, &["creationTimestamp"])
    {
        new.insert("creationTimestamp".into(), v.clone());
    }
    if !is_zero(get(old_meta, &["deletionTimestamp"]))
        && let Some(v) = get(old_meta, &["deletionTimestamp"])
    {
        new.insert("deletionTimestamp".into(), v.clone());
    }
    // Generation is server-managed: start from the old one (the server
    // bumps it afterwards when the type tracks generation).
    if let Some(v) = get(old_meta, &["generation"])
        && !v.is_null()
    {
        new.insert("generation".into(), v.clone());
    }
    let new_grace_unset = new
        .get("deletionGracePeriodSeconds")
        .is_none_or(Value::is_null);
    if new_grace_unset
        && let Some(v) = get(old_meta, &["deletionGracePeriodSeconds"])
        && !v.is_null()
    {
        new.insert("deletionGracePeriodSeconds".into(), v.clone());
    }
}

/// Upstream `ValidateLabelSelector` for a `metav1.LabelSelector` at `path`:
/// matchLabels as labels; each matchExpression needs a valid operator
/// (`In`/`NotIn` with values, `Exists`/`DoesNotExist` without), a
/// qualified-name key and valid label values.
pub fn validate_label_selector(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if selector.is_null() {
        return out;
    }
    out.extend(validate_labels(
        get(selector, &["matchLabels"]),
        &format!("{path}.matchLabels"),
    ));
    let Some(exprs) = get(selector, &["matchExpressions"]).and_then(Value::as_array) else {
        return out;
    };
    for (i, expr) in exprs.iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let op = get_str(expr, &["operator"]).unwrap_or("");
        let mut scratch = Vec::new();
        let values = string_list(get(expr, &["values"]), &format!("{p}.values"), &mut scratch);
        out.append(&mut scratch);
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    out.push(FieldError::required(
                        format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    out.push(FieldError::forbidden(
                        format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => out.push(FieldError::invalid(
                format!("{p}.operator"),
                op,
                "not a valid selector operator",
            )),
        }
        let key = get_str(expr, &["key"]).unwrap_or("");
        for msg in is_qualified_name(key) {
            out.push(FieldError::invalid(format!("{p}.key"), key, msg));
        }
        for (vi, v) in values.iter().enumerate() {
            for msg in is_valid_label_value(v) {
                out.push(FieldError::invalid(format!("{p}.values[{vi}]"), *v, msg));
            }
        }
    }
    out
}
