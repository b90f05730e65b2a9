//! Validation of `apiextensions.k8s.io/v1` CustomResourceDefinition
//! objects on create and update (upstream `ValidateCustomResourceDefinition`
//! and `...Update`), with upstream's field paths.
//!
//! Upstream validates the internal version, into which a v1 object is
//! converted by hoisting per-version `schema`, `subresources` and
//! `additionalPrinterColumns` to `spec.validation`, `spec.subresources`
//! and `spec.additionalPrinterColumns` when all versions agree. Errors
//! about those fields therefore read `spec.validation.openAPIV3Schema...`
//! for the usual single-schema CRD and `spec.versions[i].schema...` when
//! the versions differ; [`SpecView`] reproduces that.

use super::lifecycle::is_established;
use super::names::is_dns1035_label;
use super::render::{child, index};
use super::spec_parts::{
    str_at, validate_api_approval, validate_columns, validate_conversion, validate_deprecation,
    validate_names, validate_schema, validate_stored_versions, validate_subresources,
};
use crate::validation::{
    FieldError, NameRule, immutable, is_dns1123_subdomain, validate_object_meta,
    validate_object_meta_update,
};
use serde_json::Value;

const NAME_MISMATCH: &str = "must be spec.names.plural+\".\"+spec.group";

/// A version field that is absent, null or (for lists) empty.
fn present(v: Option<&Value>) -> Option<&Value> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        other => other,
    }
}

/// The v1 spec as upstream's internal version sees it.
pub(crate) struct SpecView<'a> {
    pub versions: &'a [Value],
    /// Hoisted `schema` object (`spec.validation`), when all versions agree.
    pub validation: Option<&'a Value>,
    pub subresources: Option<&'a Value>,
    pub columns: Option<&'a Value>,
    schemas_hoisted: bool,
    subresources_hoisted: bool,
    columns_hoisted: bool,
}

impl<'a> SpecView<'a> {
    pub(crate) fn new(spec: &'a Value) -> SpecView<'a> {
        let versions = spec
            .get("versions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let field = |v: &'a Value, k: &str| present(v.get(k));
        let identical = |k: &str| {
            versions
                .first()
                .is_some_and(|first| versions.iter().all(|v| field(v, k) == field(first, k)))
        };
        let (schemas_hoisted, subresources_hoisted, columns_hoisted) = (
            identical("schema"),
            identical("subresources"),
            identical("additionalPrinterColumns"),
        );
        let first = |k: &str, hoisted: bool| {
            if hoisted {
                versions.first().and_then(|v| field(v, k))
            } else {
                None
            }
        };
        SpecView {
            versions,
            validation: first("schema", schemas_hoisted),
            subresources: first("subresources", subresources_hoisted),
            columns: first("additionalPrinterColumns", columns_hoisted),
            schemas_hoisted,
            subresources_hoisted,
            columns_hoisted,
        }
    }

    /// Version `i`'s own schema object, unless hoisted.
    pub(crate) fn version_schema(&self, i: usize) -> Option<&'a Value> {
        if self.schemas_hoisted {
            None
        } else {
            present(self.versions.get(i)?.get("schema"))
        }
    }

    /// Version `i`'s own subresources, unless hoisted.
    fn version_subresources(&self, i: usize) -> Option<&'a Value> {
        if self.subresources_hoisted {
            None
        } else {
            present(self.versions.get(i)?.get("subresources"))
        }
    }

    fn version_columns(&self, i: usize) -> Option<&'a Value> {
        if self.columns_hoisted {
            None
        } else {
            present(self.versions.get(i)?.get("additionalPrinterColumns"))
        }
    }

    /// The subresources that apply to version `i` (hoisted or its own).
    pub(crate) fn subresources_for(&self, i: usize) -> Option<&'a Value> {
        if self.subresources_hoisted {
            self.subresources
        } else {
            self.version_subresources(i)
        }
    }

    /// The schema object that applies to version `i` (hoisted or its own).
    pub(crate) fn schema_for(&self, i: usize) -> Option<&'a Value> {
        if self.schemas_hoisted {
            self.validation
        } else {
            self.version_schema(i)
        }
    }

    /// The printer columns that apply to version `i`.
    pub(crate) fn columns_for(&self, i: usize) -> Option<&'a Value> {
        if self.columns_hoisted {
            self.columns
        } else {
            self.version_columns(i)
        }
    }
}

fn has_status(sub: Option<&Value>) -> bool {
    sub.and_then(|s| s.get("status"))
        .is_some_and(|s| !s.is_null())
}

/// Validates a CustomResourceDefinition for create: metadata (name must be
/// `<plural>.<group>`), spec (group, scope, names, versions with their
/// structural schemas, subresources and printer columns, conversion),
/// status names and stored versions, and API approval for protected
/// groups. Expects [`defaults_crd`](super::defaults_crd) and
/// [`prepare_crd_for_create`](super::prepare_crd_for_create) applied.
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut out = validate_crd_meta(crd);
    let spec = crd.get("spec").unwrap_or(&Value::Null);
    validate_spec(spec, &mut out);
    validate_status(crd, spec, &mut out);
    validate_api_approval(crd, None, &mut out);
    preserve_unknown_fields(crd, None, &mut out);
    out
}

/// Validates a CustomResourceDefinition update: metadata update rules, the
/// spec as on create, `group` and `names.plural` immutable, and, once the
/// old object is Established, `scope` and `names.kind` immutable too.
/// (Removing a version that still has stored objects is caught through
/// `status.storedVersions`, which the caller keeps from the old object.)
pub fn validate_crd_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let null = Value::Null;
    let mut out = validate_object_meta_update(
        new.get("metadata").unwrap_or(&null),
        old.get("metadata").unwrap_or(&null),
    );
    let spec = new.get("spec").unwrap_or(&null);
    let old_spec = old.get("spec").unwrap_or(&null);
    validate_spec(spec, &mut out);
    if is_established(old) {
        immutable(
            spec.get("scope"),
            old_spec.get("scope"),
            "spec.scope",
            &mut out,
        );
        immutable(
            spec.pointer("/names/kind"),
            old_spec.pointer("/names/kind"),
            "spec.names.kind",
            &mut out,
        );
    }
    immutable(
        spec.get("group"),
        old_spec.get("group"),
        "spec.group",
        &mut out,
    );
    immutable(
        spec.pointer("/names/plural"),
        old_spec.pointer("/names/plural"),
        "spec.names.plural",
        &mut out,
    );
    validate_status(new, spec, &mut out);
    validate_api_approval(new, Some(old), &mut out);
    preserve_unknown_fields(new, Some(old), &mut out);
    out
}

/// `ValidateObjectMeta` with the CRD name rule: a DNS subdomain equal to
/// `<spec.names.plural>.<spec.group>` (the mismatch is reported right
/// after the name's own format errors, as upstream's name function does).
fn validate_crd_meta(crd: &Value) -> Vec<FieldError> {
    let null = Value::Null;
    let meta = crd.get("metadata").unwrap_or(&null);
    let mut errs = validate_object_meta(meta, false, NameRule::Dns1123Subdomain);
    let required = format!(
        "{}.{}",
        crd.pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or(""),
        crd.pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    for field in ["generateName", "name"] {
        let value = str_at(meta, field);
        if value.is_empty() || value == required {
            continue;
        }
        let path = format!("metadata.{field}");
        // Insert after the last error about this field, or after the
        // fields validated before it.
        let pos = errs
            .iter()
            .rposition(|e| e.path == path)
            .map(|p| p + 1)
            .unwrap_or_else(|| {
                errs.iter()
                    .rposition(|e| e.path == "metadata.generateName")
                    .map_or(0, |p| p + 1)
            });
        errs.insert(pos, FieldError::invalid(path, value, NAME_MISMATCH));
    }
    errs
}

fn validate_spec(spec: &Value, out: &mut Vec<FieldError>) {
    let group = str_at(spec, "group");
    if group.is_empty() {
        out.push(FieldError::required("spec.group", ""));
    } else {
        let errs = is_dns1123_subdomain(group);
        if !errs.is_empty() {
            out.push(FieldError::invalid("spec.group", group, errs.join(",")));
        } else if !group.contains('.') {
            out.push(FieldError::invalid(
                "spec.group",
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match str_at(spec, "scope") {
        "" => out.push(FieldError::required("spec.scope", "")),
        "Cluster" | "Namespaced" => {}
        other => out.push(FieldError::not_supported(
            "spec.scope",
            other,
            &["Cluster", "Namespaced"],
        )),
    }
    let view = SpecView::new(spec);
    let preserve = spec.get("preserveUnknownFields").and_then(Value::as_bool) == Some(true);
    if view
        .validation
        .and_then(|v| present(v.get("openAPIV3Schema")))
        .is_none()
    {
        for i in 0..view.versions.len() {
            if view
                .version_schema(i)
                .and_then(|s| present(s.get("openAPIV3Schema")))
                .is_none()
            {
                out.push(FieldError::required(
                    format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "schemas are required",
                ));
            }
        }
    }
    if preserve && spec_has_defaults(&view) {
        out.push(FieldError::invalid(
            "spec.preserveUnknownFields",
            true,
            "must be false in order to use defaults in the schema",
        ));
    }
    let mut storage_count = 0;
    let mut names: Vec<&str> = Vec::new();
    let mut unique = true;
    for (i, v) in view.versions.iter().enumerate() {
        let path = index("spec.versions", i);
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage_count += 1;
        }
        let name = str_at(v, "name");
        if names.contains(&name) {
            unique = false;
        }
        names.push(name);
        let errs = is_dns1035_label(name);
        if !errs.is_empty() {
            out.push(FieldError::invalid(
                child(&path, "name"),
                name,
                errs.join(","),
            ));
        }
        validate_deprecation(v, &path, out);
        let status = has_status(view.subresources_for(i));
        validate_schema(view.version_schema(i), status, &child(&path, "schema"), out);
        validate_subresources(
            view.version_subresources(i),
            &child(&path, "subresources"),
            out,
        );
        if let Some(cols) = view.version_columns(i).and_then(Value::as_array) {
            validate_columns(cols, &child(&path, "additionalPrinterColumns"), out);
        }
    }
    let versions_value = Value::Array(view.versions.to_vec());
    if !unique {
        out.push(FieldError::invalid(
            "spec.versions",
            versions_value.clone(),
            "must contain unique version names",
        ));
    }
    if storage_count != 1 {
        out.push(FieldError::invalid(
            "spec.versions",
            versions_value,
            "must have exactly one version marked as storage version",
        ));
    }
    // The internal `spec.version` is the first version's name.
    if let Some(first) = view.versions.first().map(|v| str_at(v, "name"))
        && !first.is_empty()
    {
        let errs = is_dns1035_label(first);
        if !errs.is_empty() {
            out.push(FieldError::invalid("spec.version", first, errs.join(",")));
        }
    }
    let names_v = spec.get("names").unwrap_or(&Value::Null);
    for field in ["plural", "singular", "kind", "listKind"] {
        if str_at(names_v, field).is_empty() {
            out.push(FieldError::required(format!("spec.names.{field}"), ""));
        }
    }
    validate_names(names_v, "spec.names", out);
    let any_status = has_status(view.subresources)
        || (0..view.versions.len()).any(|i| has_status(view.version_subresources(i)));
    validate_schema(view.validation, any_status, "spec.validation", out);
    validate_subresources(view.subresources, "spec.subresources", out);
    if let Some(cols) = view.columns.and_then(Value::as_array) {
        validate_columns(cols, "spec.additionalPrinterColumns", out);
    }
    let strategy = spec.pointer("/conversion/strategy").and_then(Value::as_str);
    if preserve && strategy.is_some_and(|s| s != "None") {
        out.push(FieldError::invalid(
            "spec.conversion.strategy",
            strategy.unwrap_or(""),
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    validate_conversion(spec, out);
}

/// Whether any schema of the CRD sets a `default` (upstream `SchemaHas`
/// over every sub-schema).
fn spec_has_defaults(view: &SpecView) -> bool {
    fn has_default(v: &Value, depth: usize) -> bool {
        let Some(m) = v.as_object() else {
            return false;
        };
        if depth > super::structural::MAX_SCHEMA_DEPTH {
            return false;
        }
        if m.get("default").is_some_and(|d| !d.is_null()) {
            return true;
        }
        let single = ["items", "not", "additionalProperties", "additionalItems"];
        let lists = ["items", "allOf", "anyOf", "oneOf"];
        let maps = [
            "properties",
            "patternProperties",
            "definitions",
            "dependencies",
        ];
        single
            .iter()
            .filter_map(|k| m.get(*k))
            .any(|c| has_default(c, depth + 1))
            || lists
                .iter()
                .filter_map(|k| m.get(*k).and_then(Value::as_array))
                .flatten()
                .any(|c| has_default(c, depth + 1))
            || maps
                .iter()
                .filter_map(|k| m.get(*k).and_then(Value::as_object))
                .flat_map(|o| o.values())
                .any(|c| has_default(c, depth + 1))
    }
    (0..view.versions.len())
        .filter_map(|i| view.schema_for(i))
        .any(|s| s.get("openAPIV3Schema").is_some_and(|o| has_default(o, 0)))
}

fn validate_status(crd: &Value, spec: &Value, out: &mut Vec<FieldError>) {
    if let Some(accepted) = crd.pointer("/status/acceptedNames") {
        validate_names(accepted, "status.acceptedNames", out);
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    validate_stored_versions(crd, versions, out);
}

/// `validatePreserveUnknownFields`: v1 CRDs may not turn it on (existing
/// objects that had it keep it).
fn preserve_unknown_fields(crd: &Value, old: Option<&Value>, out: &mut Vec<FieldError>) {
    let on = |c: &Value| {
        c.pointer("/spec/preserveUnknownFields")
            .and_then(Value::as_bool)
            == Some(true)
    };
    if old.is_some_and(on) {
        return;
    }
    if on(crd) {
        out.push(FieldError::invalid(
            "spec.preserveUnknownFields",
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
}
