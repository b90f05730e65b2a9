//! Field-level validation errors (upstream `field.Error`), name format checks
//! (`k8s.io/apimachinery/pkg/util/validation`) and common `metadata` checks.

mod meta;
mod names;

pub use meta::{
    STANDARD_FINALIZERS, TOTAL_ANNOTATION_SIZE_LIMIT, prepare_object_meta_update,
    validate_kube_finalizers, validate_label_selector, validate_labels, validate_object_meta,
    validate_object_meta_update,
};
pub use names::{
    NameRule, is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    is_valid_label_value, is_valid_path_segment_name,
};

use crate::util::go_quote;
use serde_json::{Value, json};
use std::fmt;

/// Upstream `metav1.StatusCause` message used for immutable fields.
pub const FIELD_IMMUTABLE: &str = "field is immutable";

/// Kind of a field error, as upstream `field.ErrorType`.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorType {
    Required,
    Invalid,
    Forbidden,
    TooLong,
    TooMany,
    NotSupported,
    Duplicate,
    TypeInvalid,
}

impl ErrorType {
    /// The human text upstream prints ("Required value", "Invalid value", ...).
    pub fn text(&self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::TypeInvalid => "Invalid value",
        }
    }

    /// The `metav1.CauseType` string ("FieldValueRequired", ...).
    pub fn reason(&self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One validation failure (upstream `field.Error`). `value` is the bad value
/// shown in the message; `None` omits it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub error_type: ErrorType,
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    /// `metav1.CauseType` of this error.
    pub fn reason(&self) -> &'static str {
        self.error_type.reason()
    }

    pub fn new(
        path: impl Into<String>,
        error_type: ErrorType,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            path: path.into(),
            error_type,
            value,
            detail: detail.into(),
        }
    }

    /// `field.Required(path, detail)`.
    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(path, ErrorType::Required, None, detail)
    }

    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(
        path: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError::new(path, ErrorType::Invalid, Some(value.into()), detail)
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(path, ErrorType::Forbidden, None, detail)
    }

    /// `field.TooLong(path, value, max)`: "must have at most N bytes".
    pub fn too_long(path: impl Into<String>, max_bytes: usize) -> FieldError {
        FieldError::new(
            path,
            ErrorType::TooLong,
            None,
            format!("must have at most {max_bytes} bytes"),
        )
    }

    /// `field.TooMany(path, actual, max)`: "must have at most N items".
    pub fn too_many(path: impl Into<String>, actual: usize, max: usize) -> FieldError {
        FieldError::new(
            path,
            ErrorType::TooMany,
            Some(Value::from(actual)),
            format!("must have at most {max} items"),
        )
    }

    /// `field.NotSupported(path, value, valid)`: "supported values: \"a\", \"b\"".
    pub fn not_supported(
        path: impl Into<String>,
        value: impl Into<Value>,
        valid: &[&str],
    ) -> FieldError {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError::new(path, ErrorType::NotSupported, Some(value.into()), detail)
    }

    /// `field.Duplicate(path, value)`.
    pub fn duplicate(path: impl Into<String>, value: impl Into<Value>) -> FieldError {
        FieldError::new(path, ErrorType::Duplicate, Some(value.into()), "")
    }

    /// `field.TypeInvalid(path, value, detail)`.
    pub fn type_invalid(
        path: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError::new(path, ErrorType::TypeInvalid, Some(value.into()), detail)
    }

    /// The message without the field path (upstream `ErrorBody`), used as the
    /// `message` of a `StatusCause`.
    pub fn body(&self) -> String {
        let mut s = String::from(self.error_type.text());
        let shows_value = !matches!(
            self.error_type,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong
        );
        if shows_value && let Some(v) = &self.value {
            s.push_str(": ");
            s.push_str(&render_value(v));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

/// Renders a bad value the way upstream's `%q` / `%v` / `%#v` would for the
/// JSON equivalents of the Go values.
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => go_quote("null"),
        Value::Array(items) if items.is_empty() => "[]string(nil)".to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let quoted: Vec<String> = items
                .iter()
                .map(|i| go_quote(i.as_str().unwrap_or_default()))
                .collect();
            format!("[]string{{{}}}", quoted.join(", "))
        }
        other => canonical_json(other),
    }
}

/// Compact JSON with object keys sorted, so messages do not depend on map
/// ordering features.
fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    let key = Value::from(k.as_str()).to_string();
                    format!("{key}:{}", canonical_json(&m[k]))
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(canonical_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.body())
    }
}

impl std::error::Error for FieldError {}

/// Upstream `ErrorList.ToAggregate().Error()`: one message as is, several as
/// `[a, b]`, duplicates removed.
pub fn aggregate_message(errs: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        let m = e.to_string();
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

/// The 422 `Status` object kube-apiserver returns for invalid objects
/// (`apierrors.NewInvalid`): message `Kind.group "name" is invalid: ...`,
/// reason `Invalid`, one cause per error.
pub fn invalid_status(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> Value {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let agg = aggregate_message(errs);
    let message = if agg.is_empty() {
        format!("{qualified} {} is invalid", go_quote(name))
    } else {
        format!("{qualified} {} is invalid: {agg}", go_quote(name))
    };
    let causes: Vec<Value> = errs
        .iter()
        .map(|e| json!({"reason": e.reason(), "message": e.body(), "field": e.path}))
        .collect();
    let mut details = serde_json::Map::new();
    details.insert("name".into(), Value::from(name));
    if !group.is_empty() {
        details.insert("group".into(), Value::from(group));
    }
    details.insert("kind".into(), Value::from(kind));
    details.insert("causes".into(), Value::Array(causes));
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Invalid",
        "details": Value::Object(details),
        "code": 422
    })
}

/// `ValidateImmutableField`: an `Invalid` "field is immutable" error when the
/// values differ.
pub(crate) fn immutable(
    new: Option<&Value>,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let both_zero = crate::util::is_zero(new) && crate::util::is_zero(old);
    if !both_zero && new != old {
        out.push(FieldError::invalid(
            path,
            new.cloned().unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }
}
