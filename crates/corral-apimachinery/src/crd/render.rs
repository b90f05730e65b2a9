//! Go-compatible rendering of unstructured JSON values inside messages.
//!
//! Custom resources are `map[string]interface{}` trees upstream, so a bad
//! value in a message is printed by Go's `fmt` (`%v`, `%#v`) or
//! `encoding/json`, not as JSON. These helpers reproduce those spellings
//! for the JSON equivalents (int64 for integers, float64 for the rest).

use crate::util::{go_json_string, go_quote};
use crate::validation::{ErrorType, FieldError};
use serde_json::{Map, Value};

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): the
/// shortest digits, exponent form below 1e-4 and from 1e6 on ("1e+06").
pub(crate) fn go_float(f: f64) -> String {
    float_with(f, -4, 6, true)
}

/// `encoding/json`'s float64 spelling: plain decimal unless the exponent is
/// below -6 or at least 21, then "1e+21" / "1e-07" (two-digit minimum).
fn json_float(f: f64) -> String {
    float_with(f, -6, 21, true)
}

fn float_with(f: f64, low: i32, high: i32, two_digit_exp: bool) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` already gives the shortest round-tripping digits.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if exp < low || exp >= high {
        let mut m = String::new();
        m.push_str(&digits[..1]);
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        let e = exp.abs();
        let e = if two_digit_exp && e < 10 {
            format!("0{e}")
        } else {
            e.to_string()
        };
        return format!("{sign}{m}e{esign}{e}");
    }
    // Plain decimal: place the point `exp + 1` digits in.
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
    } else if (point as usize) >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

/// A JSON number as Go prints it with `%v`/`%d`: integers as integers,
/// everything else as a float64.
pub(crate) fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Go's `%v` of an unstructured value (strings unquoted, maps as
/// `map[k:v]`, slices as `[a b]`).
pub(crate) fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_v(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%#v` of an unstructured value, e.g.
/// `map[string]interface {}{"name":"a"}` or `[]interface {}{"a", 1}`.
pub(crate) fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_sharp_v).collect();
            format!("[]interface {{}}{{{}}}", parts.join(", "))
        }
        Value::Object(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_sharp_v(v)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
    }
}

/// Go's `json.Marshal` of an unstructured value: sorted keys, HTML-safe
/// string escaping, float64 spelling.
pub(crate) fn go_json(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => json_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => go_json_string(s),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_json).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let parts: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{}:{}", go_json_string(k), go_json(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// A field error whose bad value is an unstructured value. Scalars go in
/// `value` as usual; maps and slices are pre-rendered with `%#v` into the
/// detail (the shared renderer prints JSON, upstream prints Go syntax), so
/// the message text matches kube-apiserver byte for byte.
pub(crate) fn unstructured_error(
    path: impl Into<String>,
    error_type: ErrorType,
    value: &Value,
    detail: &str,
) -> FieldError {
    match value {
        Value::Array(_) | Value::Object(_) => {
            let rendered = go_sharp_v(value);
            let detail = if detail.is_empty() {
                rendered
            } else {
                format!("{rendered}: {detail}")
            };
            FieldError::new(path, error_type, None, detail)
        }
        Value::Null => FieldError::new(path, error_type, Some(Value::Null), detail),
        other => FieldError::new(path, error_type, Some(other.clone()), detail),
    }
}

/// Joins a field path and a child name the way `field.Path.Child` does.
pub(crate) fn child(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// `field.Path.Key`: `base[key]`.
pub(crate) fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

/// `field.Path.Index`: `base[i]`.
pub(crate) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_like_go() {
        let cases = [
            (10.0, "10"),
            (10.5, "10.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (123456789.0, "1.23456789e+08"),
            (-2.5, "-2.5"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(f), want, "{f}");
        }
        assert_eq!(json_float(1e6), "1000000");
        assert_eq!(json_float(1e21), "1e+21");
    }

    #[test]
    fn sharp_v_like_go() {
        assert_eq!(
            go_sharp_v(&json!({"name": "a", "port": 80})),
            "map[string]interface {}{\"name\":\"a\", \"port\":80}"
        );
        assert_eq!(go_sharp_v(&json!(["a", 1])), "[]interface {}{\"a\", 1}");
        assert_eq!(
            go_json(&json!({"b": [1, "<"], "a": 1.5})),
            "{\"a\":1.5,\"b\":[1,\"\\u003c\"]}"
        );
        assert_eq!(go_v(&json!({"a": [1, "x"]})), "map[a:[1 x]]");
    }
}
