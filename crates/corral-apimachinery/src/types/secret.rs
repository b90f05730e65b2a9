//! core/v1 Secret.

use super::core::{MAX_SECRET_SIZE, validate_data_map, validate_immutable_data};
use super::{TypeRules, col, len_of, meta_field_value};
use crate::table::Column;
use crate::util::{ensure_obj, get, get_obj, get_str, go_base64_decode, is_zero};
use crate::validation::{FieldError, NameRule, immutable};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

const SERVICE_ACCOUNT_NAME_KEY: &str = "kubernetes.io/service-account.name";

/// Secret: TYPE and DATA columns; `type` defaults to Opaque and is
/// immutable; data keys valid, values base64, total at most 1 MiB;
/// per-type required keys; `stringData` merged into `data`.
pub struct SecretRules;

impl SecretRules {
    /// Decoded bytes of `data[key]`, if present and valid base64.
    fn data_bytes(obj: &Value, key: &str) -> Option<Vec<u8>> {
        let v = get_obj(obj, &["data"])?.get(key)?;
        match v {
            Value::Null => Some(Vec::new()),
            Value::String(s) => go_base64_decode(s, false, true).ok(),
            _ => None,
        }
    }

    fn has_data_key(obj: &Value, key: &str) -> bool {
        get_obj(obj, &["data"]).is_some_and(|m| m.contains_key(key))
    }

    /// The dockercfg / dockerconfigjson content check: a JSON object.
    fn check_json_key(obj: &Value, key: &str, out: &mut Vec<FieldError>) {
        let path = format!("data[{key}]");
        if !Self::has_data_key(obj, key) {
            out.push(FieldError::required(path, ""));
            return;
        }
        let Some(bytes) = Self::data_bytes(obj, key) else {
            return; // already reported by the base64 check
        };
        if let Some(msg) = json_object_error(&bytes) {
            out.push(FieldError::invalid(path, "<secret contents redacted>", msg));
        }
    }
}

/// Go's `json.Unmarshal(b, &map[string]interface{}{})` error, if any.
fn json_object_error(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some("unexpected end of JSON input".into());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) | Ok(Value::Null) => None,
        Ok(other) => {
            let kind = match other {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                _ => "array",
            };
            Some(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".into()),
        Err(e) => Some(e.to_string()),
    }
}

impl TypeRules for SecretRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    /// `SetDefaults_Secret` (type Opaque) and the v1 → internal conversion
    /// that merges `stringData` into `data` (overwriting) and drops it.
    fn apply_defaults(&self, obj: &mut Value) {
        let string_data = obj
            .as_object_mut()
            .and_then(|m| m.remove("stringData"))
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            });
        if let Some(string_data) = string_data
            && !string_data.is_empty()
            && let Some(data) = ensure_obj(obj, &["data"])
        {
            for (k, v) in string_data {
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                data.insert(k, Value::from(STANDARD.encode(text.as_bytes())));
            }
        }
        if is_zero(get(obj, &["type"]))
            && let Some(map) = obj.as_object_mut()
        {
            map.insert("type".into(), Value::from("Opaque"));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let total = validate_data_map(get(obj, &["data"]), "data", true, &mut out);
        if total > MAX_SECRET_SIZE {
            out.push(FieldError::too_long("data", MAX_SECRET_SIZE));
        }
        let has = |key: &str| Self::has_data_key(obj, key);
        match get_str(obj, &["type"]).unwrap_or("") {
            "kubernetes.io/service-account-token"
                if get_str(obj, &["metadata", "annotations", SERVICE_ACCOUNT_NAME_KEY])
                    .unwrap_or("")
                    .is_empty() =>
            {
                out.push(FieldError::required(
                    format!("metadata.annotations[{SERVICE_ACCOUNT_NAME_KEY}]"),
                    "",
                ));
            }
            "kubernetes.io/dockercfg" => Self::check_json_key(obj, ".dockercfg", &mut out),
            "kubernetes.io/dockerconfigjson" => {
                Self::check_json_key(obj, ".dockerconfigjson", &mut out)
            }
            "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                out.push(FieldError::required("data[username]", ""));
                out.push(FieldError::required("data[password]", ""));
            }
            "kubernetes.io/ssh-auth"
                if Self::data_bytes(obj, "ssh-privatekey").is_none_or(|b| b.is_empty()) =>
            {
                out.push(FieldError::required("data[ssh-privatekey]", ""));
            }
            "kubernetes.io/tls" => {
                for key in ["tls.crt", "tls.key"] {
                    if !has(key) {
                        out.push(FieldError::required(format!("data[{key}]"), ""));
                    }
                }
            }
            _ => {}
        }
        out
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        immutable(get(new, &["type"]), get(old, &["type"]), "type", &mut out);
        validate_immutable_data(new, old, &["data"], &mut out);
        out.extend(self.validate_create(new));
        out
    }

    fn field_labels(&self) -> &'static [&'static str] {
        &["type"]
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "type" => Some(get_str(obj, &["type"]).unwrap_or("").into()),
            _ => meta_field_value(obj, field),
        }
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            col(
                "Type",
                "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
            ),
            col(
                "Data",
                "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
            ),
        ];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![
            Value::from(get_str(obj, &["type"]).unwrap_or("")),
            Value::from(len_of(get(obj, &["data"]))),
        ]
    }
}
