//! Errors of the strategic merge patch engine with upstream's message texts
//! (k8s.io/apimachinery `util/mergepatch/errors.go` and `util/strategicpatch`),
//! including Go's `%v` rendering of the offending JSON so messages read the
//! same as kube-apiserver's (`map[$patch:foo name:a]`).

use serde_json::{Map, Number, Value};
use std::fmt::Write as _;
use thiserror::Error;

/// Why a strategic merge patch could not be applied.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The original object or the patch is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A `$patch` directive with a value other than `replace` / `delete`
    /// (`merge` too: upstream only knows it as a struct tag).
    #[error("unknown patch type: {patch_type} in map: {map}")]
    UnknownPatchType { patch_type: String, map: String },
    /// An element of a list merged by key lacks the key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// `{"$patch": "merge"}` as an element of a merging list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// A list described as a set of primitives holds objects.
    #[error("cannot merge lists without merge key for type {0}")]
    MergeWithoutKey(&'static str),
    /// `$retainKeys` is not a list of strings, or the patch sets a field it
    /// does not list.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// `$deleteFromPrimitiveList...` without `/<field>` or without a list.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// `$setElementOrder...` without `/<field>`.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    /// The patch's list names its items in another order than
    /// `$setElementOrder/<field>` (or names items the order list lacks).
    #[error("the order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}")]
    OrderMismatch { patch: String, order: String },
    /// A merging list contains lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A merging list mixes element types (objects and strings, ...).
    #[error("list element types are not identical: {0}")]
    MixedElementTypes(String),
    /// A value of the wrong JSON type where a list or object is required.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: &'static str,
    },
}

impl PatchError {
    /// The HTTP status kube-apiserver answers with
    /// (`interpretStrategicMergePatchError`): 400 for the malformed-format
    /// errors, 422 for lists of lists. Every other error is a plain Go error
    /// upstream and is answered 500 (reason `Unknown`, the message verbatim);
    /// the server may prefer 422 for those, they all describe a bad patch.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::BadJsonDoc
            | PatchError::BadRetainKeys
            | PatchError::BadPrimitiveList
            | PatchError::BadSetElementOrder => 400,
            PatchError::ListOfLists => 422,
            _ => 500,
        }
    }
}

/// Go's type name for a value decoded by k8s.io/apimachinery's JSON decoder
/// (integers become int64, other numbers float64).
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's name for `map[string]interface{}`, the element type merge-by-key
/// lists require.
pub(crate) const GO_MAP: &str = "map[string]interface {}";
/// Go's name for `[]interface{}`.
pub(crate) const GO_SLICE: &str = "[]interface {}";

/// Go's `%v` of a `map[string]interface{}`.
pub(crate) fn go_v_map(m: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_map(&mut out, m, false);
    out
}

/// Go's `%v` of a `[]interface{}`.
pub(crate) fn go_v_list(items: &[Value]) -> String {
    let mut out = String::new();
    write_list(&mut out, items, false);
    out
}

/// Go's `fmt.Sprintf("%s", v)`: strings as is, other scalars as
/// `%!s(type=value)`.
pub(crate) fn go_s(v: &Value) -> String {
    let mut out = String::new();
    write_go(&mut out, v, true);
    out
}

fn write_go(out: &mut String, v: &Value, verb_s: bool) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => write_list(out, items, verb_s),
        Value::Object(m) => write_map(out, m, verb_s),
        Value::Null if verb_s => out.push_str("%!s(<nil>)"),
        Value::Null => out.push_str("<nil>"),
        scalar => {
            let text = match scalar {
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => go_number(n),
                _ => String::new(),
            };
            if verb_s {
                let _ = write!(out, "%!s({}={text})", go_type(scalar));
            } else {
                out.push_str(&text);
            }
        }
    }
}

fn write_list(out: &mut String, items: &[Value], verb_s: bool) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_go(out, item, verb_s);
    }
    out.push(']');
}

// serde_json's Map iterates in key order, which is the order Go's fmt prints
// map keys in.
fn write_map(out: &mut String, m: &Map<String, Value>, verb_s: bool) {
    out.push_str("map[");
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        write_go(out, v, verb_s);
    }
    out.push(']');
}

/// Integers print as integers (the decoder made them int64); other numbers as
/// Go's `%v` of a float64: the shortest representation, in exponent form when
/// the exponent is below -4 or at least 6 (strconv's `'g'` with shortest
/// precision), e.g. `1.5`, `1e-05`, `1.2345675e+06`.
fn go_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return f.to_string();
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_formatting() {
        let map = json!({"name": "a", "$patch": "foo", "n": 1, "l": [true, null]});
        assert_eq!(
            go_v_map(map.as_object().expect("object")),
            "map[$patch:foo l:[true <nil>] n:1 name:a]"
        );
        assert_eq!(
            go_v_list(&[json!(1.5), json!(1234567.5), json!(0.00001), json!(-3)]),
            "[1.5 1.2345675e+06 1e-05 -3]"
        );
        assert_eq!(go_s(&json!(3)), "%!s(int64=3)");
        assert_eq!(go_s(&json!("x")), "x");
        assert_eq!(go_type(&json!(2.5)), "float64");
        assert_eq!(go_type(&json!([])), GO_SLICE);
    }
}
