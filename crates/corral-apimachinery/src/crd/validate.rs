//! Validation of a custom resource against its schema, with the field
//! paths and messages kube-apiserver returns (kube-openapi's
//! `SchemaValidator` results converted by apiextensions'
//! `kubeOpenAPIResultToFieldErrors`), followed by embedded-resource
//! metadata checks and `x-kubernetes-list-type` uniqueness.

use super::render::{child, go_float, go_json, unstructured_error};
use super::structural::{AdditionalProperties, Structural};
use super::{embedded, formats, listtype};
use crate::util::go_quote;
use crate::validation::{ErrorType, FieldError};
use serde_json::Value;

/// Validates custom resource `obj` against `schema`: the OpenAPI value
/// validations, then embedded resources' apiVersion/kind/metadata, then
/// list-set / list-map uniqueness, in upstream's order. The object's own
/// metadata, apiVersion and kind are the server's business.
pub fn validate(schema: &Structural, obj: &Value) -> Vec<FieldError> {
    let mut out = validate_values(schema, obj, None);
    out.extend(embedded::validate_embedded(schema, obj, "", false));
    out.extend(listtype::validate_lists(schema, obj));
    out
}

/// kube-openapi's part only. `base` is the field path of `data` (`None` at
/// a resource root, which upstream prints as `<nil>` for errors that are
/// not about one field).
pub(crate) fn validate_values(s: &Structural, data: &Value, base: Option<&str>) -> Vec<FieldError> {
    let v = Validator { base };
    v.node(s, data, "")
}

/// The JSON type name and format kube-openapi infers for a decoded value.
fn data_type(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) if n.as_i64().is_some() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// swag's `IsFloat64AJSONInteger`: finite, within ±(2^53-1), integral up
/// to a 1e-9 relative error.
fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    let g = f.trunc();
    if f == g {
        return true;
    }
    let diff = (f - g).abs();
    diff / (f.abs() + g.abs()) < 1e-9
}

struct Validator<'a> {
    base: Option<&'a str>,
}

impl Validator<'_> {
    /// Field path of an error about kube-openapi path `name`.
    fn path(&self, name: &str) -> String {
        if name.is_empty() || name == "." {
            return self.base.unwrap_or("<nil>").to_string();
        }
        let name = name.strip_prefix('.').unwrap_or(name);
        match self.base {
            Some(b) => child(b, name),
            None => name.to_string(),
        }
    }

    /// A composite (not field-specific) error: upstream's `field.Invalid`
    /// on the base path with an empty value.
    fn composite(&self, message: String) -> FieldError {
        FieldError::invalid(self.base.unwrap_or("<nil>"), "", message)
    }

    fn node(&self, s: &Structural, data: &Value, name: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        let types: Vec<&str> = if s.int_or_string {
            vec!["integer", "string"]
        } else if s.type_.is_empty() {
            Vec::new()
        } else {
            vec![s.type_.as_str()]
        };
        let format = if formats::is_supported(&s.format) {
            s.format.as_str()
        } else {
            ""
        };
        if data.is_null() {
            if !types.is_empty() && !s.nullable {
                out.push(self.type_error(name, &types.join(","), "null"));
            }
            self.enumeration(s, data, name, &mut out);
            return out;
        }
        if !types.is_empty() || !format.is_empty() {
            self.type_check(&types, format, data, name, &mut out);
        }
        self.combinators(s, data, name, &mut out);
        if let Value::String(text) = data {
            self.string(s, text, name, &mut out);
            if !format.is_empty() && !formats::is_valid(format, text) {
                out.push(self.type_error(name, format, text));
            }
        }
        if data.is_number() {
            self.number(s, data, name, &mut out);
        }
        if let Value::Array(items) = data {
            self.slice(s, items, name, &mut out);
        }
        self.enumeration(s, data, name, &mut out);
        if let Value::Object(m) = data {
            self.object(s, m, name, &mut out);
        }
        out
    }

    /// `errors.InvalidType` with a string value, as a `TypeInvalid` field error.
    fn type_error(&self, name: &str, expected: &str, got: &str) -> FieldError {
        FieldError::type_invalid(
            self.path(name),
            got,
            format!(
                "{name} in body must be of type {expected}: {}",
                go_quote(got)
            ),
        )
    }

    fn type_check(
        &self,
        types: &[&str],
        format: &str,
        data: &Value,
        name: &str,
        out: &mut Vec<FieldError>,
    ) {
        let (sch_type, data_format) = data_type(data);
        let contains = |t: &str| types.contains(&t);
        let is_float_int = sch_type == "number"
            && data.as_f64().is_some_and(is_json_integer)
            && contains("integer");
        let is_int_float = sch_type == "integer" && contains("number");
        let is_string_or_array = data.is_string() || data.is_array();
        let type_ok = contains(sch_type) || is_float_int || is_int_float;
        let numeric = contains("number") || contains("integer");
        if !is_string_or_array && !format.is_empty() && !type_ok && data_format != format {
            out.push(self.type_error(name, format, data_format));
            return;
        }
        if !numeric && !format.is_empty() && is_string_or_array {
            return;
        }
        if !type_ok {
            out.push(self.type_error(name, &types.join(","), sch_type));
        }
    }

    /// `allOf` / `anyOf` / `oneOf` / `not`, in kube-openapi's order.
    fn combinators(&self, s: &Structural, data: &Value, name: &str, out: &mut Vec<FieldError>) {
        if !s.any_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut succeeded = false;
            for branch in &s.any_of {
                let r = self.node(branch, data, name);
                if r.is_empty() {
                    succeeded = true;
                    best = None;
                    break;
                }
                // Upstream keeps the branch with the most passing checks;
                // the one with the fewest failures approximates it.
                if best.as_ref().is_none_or(|b| r.len() < b.len()) {
                    best = Some(r);
                }
            }
            if !succeeded {
                out.push(self.composite(format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(name)
                )));
            }
            out.extend(best.unwrap_or_default());
        }
        if !s.one_of.is_empty() {
            let mut best: Option<Vec<FieldError>> = None;
            let mut validated = 0usize;
            for branch in &s.one_of {
                let r = self.node(branch, data, name);
                if r.is_empty() {
                    validated += 1;
                    best = None;
                } else if validated == 0 && best.as_ref().is_none_or(|b| r.len() < b.len()) {
                    best = Some(r);
                }
            }
            if validated != 1 {
                let extra = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                out.push(self.composite(format!(
                    "{} must validate one and only one schema (oneOf). {extra}",
                    go_quote(name)
                )));
                out.extend(best.unwrap_or_default());
            }
        }
        if !s.all_of.is_empty() {
            let mut validated = 0usize;
            for branch in &s.all_of {
                let r = self.node(branch, data, name);
                if r.is_empty() {
                    validated += 1;
                }
                out.extend(r);
            }
            if validated != s.all_of.len() {
                let extra = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                out.push(self.composite(format!(
                    "{} must validate all the schemas (allOf){extra}",
                    go_quote(name)
                )));
            }
        }
        if let Some(not) = &s.not
            && self.node(not, data, name).is_empty()
        {
            out.push(self.composite(format!(
                "{} must not validate the schema (not)",
                go_quote(name)
            )));
        }
    }

    /// maxLength, minLength, pattern: the first failure only.
    fn string(&self, s: &Structural, text: &str, name: &str, out: &mut Vec<FieldError>) {
        let len = text.chars().count() as i64;
        if let Some(max) = s.max_length
            && len > max
        {
            out.push(FieldError::new(
                self.path(name),
                ErrorType::TooLong,
                Some(Value::from(text)),
                format!("may not be longer than {max}"),
            ));
            return;
        }
        if let Some(min) = s.min_length
            && len < min
        {
            out.push(FieldError::invalid(
                self.path(name),
                text,
                format!("{name} in body should be at least {min} chars long"),
            ));
            return;
        }
        if let Some(p) = &s.pattern
            && !p.is_match(text)
        {
            out.push(FieldError::invalid(
                self.path(name),
                text,
                format!("{name} in body should match '{}'", p.source()),
            ));
        }
    }

    /// multipleOf, minimum, maximum. Integers are compared with the bound
    /// truncated to an integer, as upstream's native-type checks do.
    fn number(&self, s: &Structural, data: &Value, name: &str, out: &mut Vec<FieldError>) {
        let as_int = data.as_i64();
        let f = data.as_f64().unwrap_or(0.0);
        if let Some(factor) = s.multiple_of {
            let int_factor = factor.trunc() as i64;
            match as_int {
                // A factor truncating to 0 would divide by zero; fall back
                // to the float check.
                Some(i) if int_factor != 0 => {
                    if int_factor < 0 {
                        out.push(self.not_positive(
                            name,
                            Value::from(int_factor),
                            &int_factor.to_string(),
                        ));
                    } else if i % int_factor != 0 {
                        out.push(FieldError::invalid(
                            self.path(name),
                            data.clone(),
                            format!("{name} in body should be a multiple of {int_factor}"),
                        ));
                    }
                }
                _ => {
                    if factor < 0.0 {
                        out.push(self.not_positive(name, Value::from(factor), &go_float(factor)));
                    } else {
                        let mult = if factor < 1.0 {
                            1.0 / factor * f
                        } else {
                            f / factor
                        };
                        if !is_json_integer(mult) {
                            out.push(FieldError::invalid(
                                self.path(name),
                                data.clone(),
                                format!(
                                    "{name} in body should be a multiple of {}",
                                    go_float(factor)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(min) = s.minimum {
            let (fails, shown) = match as_int {
                Some(i) => {
                    let m = min.trunc() as i64;
                    (
                        if s.exclusive_minimum { i <= m } else { i < m },
                        m.to_string(),
                    )
                }
                None => (
                    if s.exclusive_minimum {
                        f <= min
                    } else {
                        f < min
                    },
                    go_float(min),
                ),
            };
            if fails {
                let rel = if s.exclusive_minimum {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                out.push(FieldError::invalid(
                    self.path(name),
                    data.clone(),
                    format!("{name} in body should be {rel} {shown}"),
                ));
            }
        }
        if let Some(max) = s.maximum {
            let (fails, shown) = match as_int {
                Some(i) => {
                    let m = max.trunc() as i64;
                    (
                        if s.exclusive_maximum { i >= m } else { i > m },
                        m.to_string(),
                    )
                }
                None => (
                    if s.exclusive_maximum {
                        f >= max
                    } else {
                        f > max
                    },
                    go_float(max),
                ),
            };
            if fails {
                let rel = if s.exclusive_maximum {
                    "less than"
                } else {
                    "less than or equal to"
                };
                out.push(FieldError::invalid(
                    self.path(name),
                    data.clone(),
                    format!("{name} in body should be {rel} {shown}"),
                ));
            }
        }
    }

    /// `MultipleOfMustBePositive`: the bad value shown is the factor.
    fn not_positive(&self, name: &str, factor: Value, shown: &str) -> FieldError {
        FieldError::invalid(
            self.path(name),
            factor,
            format!("factor MultipleOf declared for {name} must be positive: {shown}"),
        )
    }

    /// items first, then minItems, maxItems, uniqueItems.
    fn slice(&self, s: &Structural, items: &[Value], name: &str, out: &mut Vec<FieldError>) {
        if let Some(item_schema) = &s.items {
            for (i, item) in items.iter().enumerate() {
                out.extend(self.node(item_schema, item, &format!("{name}[{i}]")));
            }
        }
        let size = items.len() as i64;
        if let Some(min) = s.min_items
            && size < min
        {
            out.push(FieldError::invalid(
                self.path(name),
                size,
                format!("{name} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = s.max_items
            && size > max
        {
            out.push(FieldError::too_many(
                self.path(name),
                items.len(),
                usize::try_from(max).unwrap_or(0),
            ));
        }
        if s.unique_items {
            let dup = items
                .iter()
                .enumerate()
                .any(|(i, a)| items[..i].iter().any(|b| b == a));
            if dup {
                out.push(FieldError::invalid(
                    self.path(name),
                    "",
                    format!("{name} in body shouldn't contain duplicates"),
                ));
            }
        }
    }

    fn enumeration(&self, s: &Structural, data: &Value, name: &str, out: &mut Vec<FieldError>) {
        let Some(values) = &s.enum_values else { return };
        if values.is_empty() || values.iter().any(|e| enum_matches(data, e)) {
            return;
        }
        let allowed: Vec<String> = values
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => go_json(other),
            })
            .collect();
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let detail = FieldError::not_supported("", "", &allowed).detail;
        out.push(unstructured_error(
            self.path(name),
            ErrorType::NotSupported,
            data,
            &detail,
        ));
    }

    fn object(
        &self,
        s: &Structural,
        m: &serde_json::Map<String, Value>,
        name: &str,
        out: &mut Vec<FieldError>,
    ) {
        let n = m.len() as i64;
        if let Some(min) = s.min_properties
            && n < min
        {
            out.push(FieldError::invalid(
                self.path(name),
                n,
                format!("{name} in body should have at least {min} properties"),
            ));
            return;
        }
        if let Some(max) = s.max_properties
            && n > max
        {
            out.push(FieldError::too_many(
                self.path(name),
                m.len(),
                usize::try_from(max).unwrap_or(0),
            ));
            return;
        }
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        match &s.additional_properties {
            Some(AdditionalProperties::Bool(false)) => {
                for k in keys
                    .iter()
                    .filter(|k| !s.properties.contains_key(k.as_str()))
                {
                    out.push(FieldError::invalid(
                        self.path(name),
                        k.as_str(),
                        format!("{name}.{k} in body is a forbidden property"),
                    ));
                }
            }
            Some(AdditionalProperties::Schema(ap)) => {
                for k in keys
                    .iter()
                    .filter(|k| !s.properties.contains_key(k.as_str()))
                {
                    out.extend(self.node(ap, &m[k.as_str()], &format!("{name}.{k}")));
                }
            }
            _ => {}
        }
        for (p_name, p_schema) in &s.properties {
            if let Some(v) = m.get(p_name) {
                let r_name = if name.is_empty() {
                    p_name.clone()
                } else {
                    format!("{name}.{p_name}")
                };
                out.extend(self.node(p_schema, v, &r_name));
            }
        }
        for k in &s.required {
            if !m.contains_key(k) {
                out.push(FieldError::required(self.path(&format!("{name}.{k}")), ""));
            }
        }
    }
}

/// kube-openapi's enum membership: equal after converting the value to the
/// enum entry's Go type (numbers convert between int64 and float64 with
/// truncation; other kinds must match exactly; null never matches).
fn enum_matches(data: &Value, entry: &Value) -> bool {
    match (data, entry) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(d), Value::Number(e)) => match e.as_i64() {
            Some(ei) => match d.as_i64() {
                Some(di) => di == ei,
                None => d.as_f64().is_some_and(|f| f.trunc() as i64 == ei),
            },
            None => d.as_f64() == e.as_f64(),
        },
        (a, b) => a == b,
    }
}
