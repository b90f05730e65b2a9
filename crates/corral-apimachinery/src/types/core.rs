//! core/v1 Namespace, ConfigMap and ServiceAccount.

use super::{TypeRules, col, len_of, meta_field_value};
use crate::table::Column;
use crate::util::{ensure_obj, get, get_str, go_base64_decode, is_zero};
use crate::validation::{
    FieldError, NameRule, STANDARD_FINALIZERS, is_config_map_key, is_qualified_name,
};
use serde_json::{Map, Value};

/// Upstream `core.MaxSecretSize` (1 MiB), also the ConfigMap limit.
pub(crate) const MAX_SECRET_SIZE: usize = 1024 * 1024;

const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

/// Namespace: DNS-1123 label names; STATUS column; `status.phase` field label.
pub struct NamespaceRules;

impl TypeRules for NamespaceRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Label
    }

    fn namespaced(&self) -> bool {
        false
    }

    /// `SetDefaults_Namespace` (label `kubernetes.io/metadata.name` = name)
    /// and `SetDefaults_NamespaceStatus` (phase `Active`).
    fn apply_defaults(&self, obj: &mut Value) {
        let name = get_str(obj, &["metadata", "name"])
            .unwrap_or("")
            .to_string();
        if !name.is_empty()
            && let Some(labels) = ensure_obj(obj, &["metadata", "labels"])
        {
            labels.insert("kubernetes.io/metadata.name".into(), Value::from(name));
        }
        if is_zero(get(obj, &["status", "phase"]))
            && let Some(status) = ensure_obj(obj, &["status"])
        {
            status.insert("phase".into(), Value::from("Active"));
        }
    }

    /// Defaults, then `PrepareForCreate`: status is `{phase: Active}` and
    /// `spec.finalizers` gets "kubernetes" appended when missing.
    fn default_on_create(&self, obj: &mut Value) {
        self.apply_defaults(obj);
        if let Some(map) = obj.as_object_mut() {
            let mut status = Map::new();
            status.insert("phase".into(), Value::from("Active"));
            map.insert("status".into(), Value::Object(status));
        }
        if let Some(spec) = ensure_obj(obj, &["spec"]) {
            let finalizers = spec
                .entry("finalizers")
                .or_insert_with(|| Value::Array(Vec::new()));
            if !finalizers.is_array() {
                *finalizers = Value::Array(Vec::new());
            }
            if let Value::Array(list) = finalizers
                && !list.iter().any(|f| f.as_str() == Some("kubernetes"))
            {
                list.push(Value::from("kubernetes"));
            }
        }
    }

    /// Defaults, then `PrepareForUpdate`: `spec.finalizers` can only change
    /// through the `/finalize` subresource, so the old ones are kept.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.apply_defaults(new);
        let old_finalizers = get(old, &["spec", "finalizers"]).cloned();
        if let Some(spec) = ensure_obj(new, &["spec"]) {
            match old_finalizers {
                Some(f) => {
                    spec.insert("finalizers".into(), f);
                }
                None => {
                    spec.remove("finalizers");
                }
            }
        }
    }

    /// `spec.finalizers`: qualified names; a name without '/' must be a
    /// standard finalizer.
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let path = "spec.finalizers";
        if let Some(list) = get(obj, &["spec", "finalizers"]).and_then(Value::as_array) {
            for f in list {
                let Some(f) = f.as_str() else {
                    out.push(FieldError::type_invalid(
                        path,
                        f.clone(),
                        "must be a string",
                    ));
                    continue;
                };
                let msgs = is_qualified_name(f);
                if !msgs.is_empty() {
                    out.extend(msgs.into_iter().map(|m| FieldError::invalid(path, f, m)));
                } else if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
                    out.push(FieldError::invalid(
                        path,
                        f,
                        "name is neither a standard finalizer name nor is it fully qualified",
                    ));
                }
            }
        }
        out
    }

    /// `ValidateNamespaceUpdate` adds nothing beyond metadata.
    fn validate_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["status.phase"]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "status.phase" => Some(get_str(obj, &["status", "phase"]).unwrap_or("").into()),
            _ => meta_field_value(obj, field),
        }
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[col("Status", "The status of the namespace")];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![Value::from(
            get_str(obj, &["status", "phase"]).unwrap_or(""),
        )]
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}

/// Validates a `map[string]string` / `map[string][]byte` data field:
/// keys, value types, base64 (when `binary`); returns the total size.
pub(crate) fn validate_data_map(
    data: Option<&Value>,
    path: &str,
    binary: bool,
    out: &mut Vec<FieldError>,
) -> usize {
    let mut total = 0usize;
    let map = match data {
        None | Some(Value::Null) => return 0,
        Some(Value::Object(m)) => m,
        Some(other) => {
            out.push(FieldError::type_invalid(
                path,
                other.clone(),
                "must be an object",
            ));
            return 0;
        }
    };
    for (key, value) in map {
        let key_path = format!("{path}[{key}]");
        for msg in is_config_map_key(key) {
            out.push(FieldError::invalid(key_path.as_str(), key.as_str(), msg));
        }
        match value {
            Value::Null => {}
            Value::String(s) if binary => match go_base64_decode(s, false, true) {
                Ok(bytes) => total += bytes.len(),
                Err(e) => out.push(FieldError::invalid(
                    key_path.as_str(),
                    "<secret contents redacted>",
                    e,
                )),
            },
            Value::String(s) => total += s.len(),
            other => out.push(FieldError::type_invalid(
                key_path.as_str(),
                other.clone(),
                if binary {
                    "must be a base64-encoded string"
                } else {
                    "must be a string"
                },
            )),
        }
    }
    total
}

/// `immutable: true` update rules shared by ConfigMap and Secret.
pub(crate) fn validate_immutable_data(
    new: &Value,
    old: &Value,
    fields: &[&str],
    out: &mut Vec<FieldError>,
) {
    if get(old, &["immutable"]).and_then(Value::as_bool) != Some(true) {
        return;
    }
    if get(new, &["immutable"]).and_then(Value::as_bool) != Some(true) {
        out.push(FieldError::forbidden("immutable", IMMUTABLE_WHEN_SET));
    }
    for field in fields {
        let (n, o) = (get(new, &[field]), get(old, &[field]));
        let same = (is_zero(n) && is_zero(o)) || n == o;
        if !same {
            out.push(FieldError::forbidden(*field, IMMUTABLE_WHEN_SET));
        }
    }
}

/// ConfigMap: DATA column; data/binaryData keys valid and unique across
/// both, binaryData base64, total size at most 1 MiB; `immutable: true`
/// freezes data and binaryData.
pub struct ConfigMapRules;

impl TypeRules for ConfigMapRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let data = get(obj, &["data"]);
        let binary = get(obj, &["binaryData"]);
        let mut total = validate_data_map(data, "data", false, &mut out);
        total += validate_data_map(binary, "binaryData", true, &mut out);
        if let (Some(Value::Object(d)), Some(Value::Object(b))) = (data, binary) {
            for key in d.keys().filter(|k| b.contains_key(*k)) {
                out.push(FieldError::invalid(
                    format!("data[{key}]"),
                    key.as_str(),
                    "duplicate of key present in binaryData",
                ));
            }
        }
        if total > MAX_SECRET_SIZE {
            // Upstream reports the whole object with the path NewPath(""),
            // which prints as "[]".
            out.push(FieldError::too_long("[]", MAX_SECRET_SIZE));
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        validate_immutable_data(new, old, &["data", "binaryData"], &mut out);
        out.extend(self.validate_create(new));
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[col(
            "Data",
            "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
        )];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let n = len_of(get(obj, &["data"])) + len_of(get(obj, &["binaryData"]));
        vec![Value::from(n)]
    }
}

/// ServiceAccount: SECRETS column (number of `secrets` references).
pub struct ServiceAccountRules;

impl TypeRules for ServiceAccountRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    /// `ValidateServiceAccount` checks nothing beyond metadata.
    fn validate_create(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[col(
            "Secrets",
            "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
        )];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![Value::from(len_of(get(obj, &["secrets"])))]
    }
}
