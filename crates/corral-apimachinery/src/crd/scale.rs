//! The scale subresource of a custom resource: reading and writing the
//! replica counts and label selector at the paths the CRD declares, and
//! upstream's checks of those values on every write.

use super::render::go_v;
use crate::util::ensure_obj;
use crate::validation::FieldError;
use serde_json::Value;

/// `subresources.scale` of a CRD version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSpec {
    /// e.g. `.spec.replicas`.
    pub spec_replicas_path: String,
    /// e.g. `.status.replicas`.
    pub status_replicas_path: String,
    /// e.g. `.status.labelSelector`.
    pub label_selector_path: Option<String>,
}

/// Go's `%T` for an unstructured value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.as_i64().is_some() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn fields(path: &str) -> Vec<&str> {
    path.strip_prefix('.').unwrap_or(path).split('.').collect()
}

fn json_path(fields: &[&str]) -> String {
    format!(".{}", fields.join("."))
}

/// `unstructured.NestedFieldNoCopy`: `Ok(None)` when absent.
fn nested<'a>(obj: &'a Value, fields: &[&str]) -> Result<Option<&'a Value>, String> {
    let mut cur = obj;
    for (i, f) in fields.iter().enumerate() {
        match cur {
            Value::Null => return Ok(None),
            Value::Object(m) => match m.get(*f) {
                Some(v) => cur = v,
                None => return Ok(None),
            },
            other => {
                return Err(format!(
                    "{} accessor error: {} is of the type {}, expected map[string]interface{{}}",
                    json_path(&fields[..=i]),
                    go_v(other),
                    go_type(other)
                ));
            }
        }
    }
    Ok(Some(cur))
}

/// `unstructured.NestedInt64` at a scale path.
fn nested_int(obj: &Value, path: &str) -> Result<Option<i64>, String> {
    let f = fields(path);
    match nested(obj, &f)? {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            format!(
                "{} accessor error: {} is of the type {}, expected int64",
                json_path(&f),
                go_v(v),
                go_type(v)
            )
        }),
    }
}

impl ScaleSpec {
    /// Reads a `subresources.scale` object.
    pub fn from_value(v: &Value) -> ScaleSpec {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        ScaleSpec {
            spec_replicas_path: s("specReplicasPath").unwrap_or_default(),
            status_replicas_path: s("statusReplicasPath").unwrap_or_default(),
            label_selector_path: s("labelSelectorPath").filter(|p| !p.is_empty()),
        }
    }

    /// The desired replicas; `Ok(None)` when unset (upstream reads 0).
    pub fn spec_replicas(&self, obj: &Value) -> Result<Option<i64>, String> {
        nested_int(obj, &self.spec_replicas_path)
    }

    /// The observed replicas; `Ok(None)` when unset.
    pub fn status_replicas(&self, obj: &Value) -> Result<Option<i64>, String> {
        nested_int(obj, &self.status_replicas_path)
    }

    /// The label selector string, when a path is declared and set.
    pub fn label_selector(&self, obj: &Value) -> Result<Option<String>, String> {
        let Some(path) = &self.label_selector_path else {
            return Ok(None);
        };
        let f = fields(path);
        match nested(obj, &f)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(format!(
                "{} accessor error: {} is of the type {}, expected string",
                json_path(&f),
                go_v(v),
                go_type(v)
            )),
        }
    }

    /// The `autoscaling/v1` `Scale` status/spec view of `obj`:
    /// `(spec.replicas, status.replicas, status.selector)` with unset
    /// counts as 0 and an unset selector as "".
    pub fn read(&self, obj: &Value) -> Result<(i64, i64, String), String> {
        Ok((
            self.spec_replicas(obj)?.unwrap_or(0),
            self.status_replicas(obj)?.unwrap_or(0),
            self.label_selector(obj)?.unwrap_or_default(),
        ))
    }

    /// Writes the desired replicas (`unstructured.SetNestedField`),
    /// creating intermediate objects.
    pub fn set_spec_replicas(&self, obj: &mut Value, replicas: i64) -> Result<(), String> {
        let f = fields(&self.spec_replicas_path);
        let Some((last, parents)) = f.split_last() else {
            return Err("empty specReplicasPath".to_string());
        };
        let parent = ensure_obj(obj, parents).ok_or_else(|| {
            format!(
                "value cannot be set because {} is not a map",
                json_path(parents)
            )
        })?;
        parent.insert((*last).to_string(), Value::from(replicas));
        Ok(())
    }

    /// Upstream's `ValidateScaleSpec`: the spec replicas are an int64 in
    /// 0..=2147483647.
    pub fn validate_spec(&self, obj: &Value) -> Vec<FieldError> {
        check_replicas(
            &self.spec_replicas_path,
            nested_int(obj, &self.spec_replicas_path),
        )
    }

    /// Upstream's `ValidateScaleStatus`: status replicas as for the spec,
    /// and the label selector (if declared) a string.
    pub fn validate_status(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = check_replicas(
            &self.status_replicas_path,
            nested_int(obj, &self.status_replicas_path),
        );
        if let (Some(path), Err(e)) = (&self.label_selector_path, self.label_selector(obj)) {
            out.push(FieldError::invalid(path.as_str(), "", e));
        }
        out
    }
}

fn check_replicas(path: &str, got: Result<Option<i64>, String>) -> Vec<FieldError> {
    match got {
        Err(e) => vec![FieldError::invalid(path, 0, e)],
        Ok(Some(n)) if n < 0 => vec![FieldError::invalid(
            path,
            n,
            "should be a non-negative integer",
        )],
        Ok(Some(n)) if n > i64::from(i32::MAX) => vec![FieldError::invalid(
            path,
            n,
            format!("should be less than or equal to {}", i32::MAX),
        )],
        _ => Vec::new(),
    }
}
