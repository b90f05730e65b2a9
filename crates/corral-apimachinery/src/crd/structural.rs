//! `Structural`: a decoded `openAPIV3Schema` (upstream's
//! `apiextensions.JSONSchemaProps` converted to `schema.Structural`, with
//! the value validations kept in the same tree so one type serves
//! validation, defaulting and pruning).
//!
//! [`Structural::parse_at`] decodes a schema and enforces every rule
//! kube-apiserver applies to a CustomResourceDefinition's schema: the
//! OpenAPI subset (`schema_rules`), the structural invariants
//! (`invariants`) and valid, pruned defaults (`defaults`).

use super::pattern::Pattern;
use super::render::{child, index, key};
use super::{defaults, invariants, schema_rules};
use crate::validation::FieldError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Deepest schema nesting accepted (properties, items, allOf, ...). Upstream
/// has no explicit cap (its JSON decoder stops at 10000 levels); this one
/// keeps recursion over hostile schemas bounded.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// The path upstream reports schema errors under for a v1 CRD whose
/// versions all share one schema (they are hoisted to `spec.validation`).
pub const DEFAULT_SCHEMA_PATH: &str = "spec.validation.openAPIV3Schema";

/// `additionalProperties`: a schema, or a boolean.
#[derive(Debug, Clone)]
pub enum AdditionalProperties {
    /// `additionalProperties: true|false`.
    Bool(bool),
    /// `additionalProperties: {...}`.
    Schema(Box<Structural>),
}

impl AdditionalProperties {
    /// The schema, when one is given.
    pub fn schema(&self) -> Option<&Structural> {
        match self {
            AdditionalProperties::Schema(s) => Some(s),
            AdditionalProperties::Bool(_) => None,
        }
    }
}

/// One schema node. Fields mirror the `JSONSchemaProps` keywords a CRD
/// may use; `""`/`None`/empty mean "not set".
#[derive(Debug, Clone, Default)]
pub struct Structural {
    /// `type` ("object", "array", "string", "integer", "number", "boolean").
    pub type_: String,
    /// `format`, as written (validation only checks the formats upstream supports).
    pub format: String,
    pub description: String,
    pub title: String,
    pub nullable: bool,
    /// `default` (a JSON `null` default is no default, as upstream).
    pub default: Option<Value>,
    pub properties: BTreeMap<String, Structural>,
    pub items: Option<Box<Structural>>,
    pub additional_properties: Option<AdditionalProperties>,
    pub required: Vec<String>,
    /// `enum`, when given.
    pub enum_values: Option<Vec<Value>>,
    pub pattern: Option<Pattern>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub multiple_of: Option<f64>,
    pub max_length: Option<i64>,
    pub min_length: Option<i64>,
    pub max_items: Option<i64>,
    pub min_items: Option<i64>,
    pub unique_items: bool,
    pub max_properties: Option<i64>,
    pub min_properties: Option<i64>,
    pub all_of: Vec<Structural>,
    pub any_of: Vec<Structural>,
    pub one_of: Vec<Structural>,
    pub not: Option<Box<Structural>>,
    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub preserve_unknown_fields: bool,
    /// `x-kubernetes-int-or-string: true`.
    pub int_or_string: bool,
    /// `x-kubernetes-embedded-resource: true`.
    pub embedded_resource: bool,
    /// `x-kubernetes-list-type` ("atomic", "set", "map").
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type` ("atomic", "granular").
    pub map_type: Option<String>,
    /// `externalDocs` is set (only its presence matters: forbidden in nested contexts).
    pub(crate) has_external_docs: bool,
    /// `x-kubernetes-validations` is non-empty. The CEL rules are kept by the
    /// API but not evaluated by Corral.
    pub(crate) has_cel_rules: bool,
    /// A `pattern` that does not compile: (source, error).
    pub(crate) invalid_pattern: Option<(String, String)>,
    /// The node sets nothing but `type` (the int-or-string `anyOf` pattern test).
    pub(crate) only_type: bool,
    /// Seen as the root's `metadata` schema, the node restricts more than
    /// `name` / `generateName` (upstream's metadata invariant).
    pub(crate) restricts_more_than_names: bool,
}

impl Structural {
    /// Decodes and checks an `openAPIV3Schema`, reporting errors under
    /// [`DEFAULT_SCHEMA_PATH`] (`spec.validation.openAPIV3Schema`), where
    /// kube-apiserver reports them for a CRD whose versions share a schema.
    pub fn parse(schema: &Value) -> Result<Structural, Vec<FieldError>> {
        Structural::parse_at(schema, DEFAULT_SCHEMA_PATH)
    }

    /// Decodes and checks an `openAPIV3Schema` whose field path is `path`
    /// (e.g. `spec.versions[1].schema.openAPIV3Schema`): the OpenAPI subset
    /// CRDs may use, the structural-schema rules, and that defaults validate
    /// and are pruned. Errors carry upstream's paths and messages.
    pub fn parse_at(schema: &Value, path: &str) -> Result<Structural, Vec<FieldError>> {
        let (parsed, errs) = check(schema, path);
        match parsed {
            Some(s) if errs.is_empty() => Ok(s),
            _ => Err(errs),
        }
    }

    /// Whether `type` is set (or implied by int-or-string).
    pub fn has_type(&self) -> bool {
        !self.type_.is_empty()
    }

    /// The schema applying to object key `k`: its property, else the
    /// `additionalProperties` schema.
    pub fn field_schema(&self, k: &str) -> Option<&Structural> {
        self.properties.get(k).or_else(|| {
            self.additional_properties
                .as_ref()
                .and_then(AdditionalProperties::schema)
        })
    }
}

/// Decodes `schema` and applies every CRD schema rule. Returns the decoded
/// schema (when it decodes) and the errors in upstream's order: root
/// `nullable`, then structural errors (sorted) or default errors, then the
/// OpenAPI-subset errors.
pub(crate) fn check(schema: &Value, path: &str) -> (Option<Structural>, Vec<FieldError>) {
    let mut decoder = Decoder { errors: Vec::new() };
    let decoded = decoder.node(schema, path, 0);
    if !decoder.errors.is_empty() {
        return (None, decoder.errors);
    }
    let mut errs = Vec::new();
    if decoded.nullable {
        errs.push(FieldError::forbidden(
            child(path, "nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let structural = invariants::validate_structural(&decoded, path);
    if structural.is_empty() {
        errs.extend(defaults::validate_defaults(&decoded, path));
    } else {
        errs.extend(structural);
    }
    errs.extend(schema_rules::validate_openapi_schema(schema, path));
    (Some(decoded), errs)
}

/// Turns JSON into [`Structural`], reporting keywords of the wrong JSON
/// type (upstream rejects those while decoding the request).
struct Decoder {
    errors: Vec<FieldError>,
}

impl Decoder {
    fn node(&mut self, v: &Value, path: &str, depth: usize) -> Structural {
        let mut s = Structural::default();
        let Some(m) = v.as_object() else {
            self.errors
                .push(FieldError::invalid(path, v.clone(), "must be an object"));
            return s;
        };
        if depth >= MAX_SCHEMA_DEPTH {
            self.errors.push(FieldError::forbidden(
                path,
                format!("must not be nested more than {MAX_SCHEMA_DEPTH} levels deep"),
            ));
            return s;
        }
        s.type_ = self.string(m, "type", path);
        s.format = self.string(m, "format", path);
        s.description = self.string(m, "description", path);
        s.title = self.string(m, "title", path);
        s.nullable = self.boolean(m, "nullable", path);
        s.default = m.get("default").filter(|d| !d.is_null()).cloned();
        if let Some(props) = self.object(m, "properties", path) {
            for (k, p) in props {
                let p_path = key(&child(path, "properties"), k);
                s.properties
                    .insert(k.clone(), self.node(p, &p_path, depth + 1));
            }
        }
        match m.get("items") {
            None | Some(Value::Null) => {}
            // An array of schemas is reported by the OpenAPI-subset rules.
            Some(Value::Array(_)) => {}
            Some(items) => {
                s.items = Some(Box::new(self.node(items, &child(path, "items"), depth + 1)));
            }
        }
        match m.get("additionalProperties") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => s.additional_properties = Some(AdditionalProperties::Bool(*b)),
            Some(ap) => {
                let node = self.node(ap, &child(path, "additionalProperties"), depth + 1);
                s.additional_properties = Some(AdditionalProperties::Schema(Box::new(node)));
            }
        }
        s.required = self.strings(m, "required", path);
        match m.get("enum") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => s.enum_values = Some(a.clone()),
            Some(other) => self.wrong(path, "enum", other, "must be an array"),
        }
        let pattern = self.string(m, "pattern", path);
        if !pattern.is_empty() {
            // An invalid pattern is reported by the structural invariants.
            match Pattern::new(&pattern) {
                Ok(p) => s.pattern = Some(p),
                Err(e) => s.invalid_pattern = Some((pattern, e)),
            }
        }
        s.maximum = self.number(m, "maximum", path);
        s.exclusive_maximum = self.boolean(m, "exclusiveMaximum", path);
        s.minimum = self.number(m, "minimum", path);
        s.exclusive_minimum = self.boolean(m, "exclusiveMinimum", path);
        s.multiple_of = self.number(m, "multipleOf", path);
        s.max_length = self.integer(m, "maxLength", path);
        s.min_length = self.integer(m, "minLength", path);
        s.max_items = self.integer(m, "maxItems", path);
        s.min_items = self.integer(m, "minItems", path);
        s.unique_items = self.boolean(m, "uniqueItems", path);
        s.max_properties = self.integer(m, "maxProperties", path);
        s.min_properties = self.integer(m, "minProperties", path);
        s.all_of = self.list(m, "allOf", path, depth);
        s.any_of = self.list(m, "anyOf", path, depth);
        s.one_of = self.list(m, "oneOf", path, depth);
        if let Some(not) = m.get("not").filter(|n| !n.is_null()) {
            s.not = Some(Box::new(self.node(not, &child(path, "not"), depth + 1)));
        }
        s.preserve_unknown_fields = self.boolean(m, "x-kubernetes-preserve-unknown-fields", path);
        s.int_or_string = self.boolean(m, "x-kubernetes-int-or-string", path);
        s.embedded_resource = self.boolean(m, "x-kubernetes-embedded-resource", path);
        s.list_type = self.opt_string(m, "x-kubernetes-list-type", path);
        s.list_map_keys = self.strings(m, "x-kubernetes-list-map-keys", path);
        s.map_type = self.opt_string(m, "x-kubernetes-map-type", path);
        s.has_external_docs = m.get("externalDocs").is_some_and(|d| !d.is_null());
        s.has_cel_rules = m
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        s.only_type = !s.type_.is_empty() && m.iter().all(|(k, v)| k == "type" || is_go_zero(v));
        s.restricts_more_than_names = restricts_more_than_names(m);
        s
    }

    fn wrong(&mut self, path: &str, k: &str, v: &Value, detail: &str) {
        self.errors
            .push(FieldError::invalid(child(path, k), v.clone(), detail));
    }

    fn string(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> String {
        self.opt_string(m, k, path).unwrap_or_default()
    }

    fn opt_string(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<String> {
        match m.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.wrong(path, k, other, "must be a string");
                None
            }
        }
    }

    fn boolean(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> bool {
        match m.get(k) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.wrong(path, k, other, "must be a boolean");
                false
            }
        }
    }

    fn number(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<f64> {
        match m.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(other) => {
                self.wrong(path, k, other, "must be a number");
                None
            }
        }
    }

    fn integer(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Option<i64> {
        match m.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(other) => {
                self.wrong(path, k, other, "must be an integer");
                None
            }
        }
    }

    fn object<'a>(
        &mut self,
        m: &'a Map<String, Value>,
        k: &str,
        path: &str,
    ) -> Option<&'a Map<String, Value>> {
        match m.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(other) => {
                self.wrong(path, k, other, "must be an object");
                None
            }
        }
    }

    fn strings(&mut self, m: &Map<String, Value>, k: &str, path: &str) -> Vec<String> {
        match m.get(k) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, item) in a.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.errors.push(FieldError::invalid(
                            index(&child(path, k), i),
                            item.clone(),
                            "must be a string",
                        )),
                    }
                }
                out
            }
            Some(other) => {
                self.wrong(path, k, other, "must be an array of strings");
                Vec::new()
            }
        }
    }

    fn list(
        &mut self,
        m: &Map<String, Value>,
        k: &str,
        path: &str,
        depth: usize,
    ) -> Vec<Structural> {
        match m.get(k) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, item)| self.node(item, &index(&child(path, k), i), depth + 1))
                .collect(),
            Some(other) => {
                self.wrong(path, k, other, "must be an array");
                Vec::new()
            }
        }
    }
}

/// Go's zero value for the keyword types that can be compared: absent,
/// null, false, "".
pub(crate) fn is_go_zero(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false)) || v.as_str() == Some("")
}

/// Upstream compares the root `metadata` schema, after dropping `type`,
/// `default` and a `properties` that names only `name`/`generateName`,
/// with an empty schema. Keywords that are not part of the structural
/// schema at all (`example`, `id`, `$schema`) do not count.
fn restricts_more_than_names(m: &Map<String, Value>) -> bool {
    m.iter().any(|(k, v)| {
        if is_go_zero(v) {
            return false;
        }
        match k.as_str() {
            "type" | "default" | "example" | "id" | "$schema" => false,
            "properties" => match v.as_object() {
                Some(props) => {
                    !props.is_empty() && !props.keys().all(|p| p == "name" || p == "generateName")
                }
                None => true,
            },
            _ => true,
        }
    })
}
