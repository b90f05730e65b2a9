//! Validators for the individual parts of a CRD spec and status (upstream
//! `apiextensions/validation`): names, a version's schema/subresources/
//! printer columns/deprecation warning, conversion, stored versions and
//! the API-approval annotation of protected groups.

use super::names::is_dns1035_label;
use super::render::{child, index};
use super::structural;
use crate::validation::FieldError;
use serde_json::{Map, Value};

const PRINTER_COLUMN_TYPES: &str = "boolean,date,integer,number,string";
const PRINTER_COLUMN_TYPE_LIST: &[&str] = &["boolean", "date", "integer", "number", "string"];
const PRINTER_COLUMN_FORMATS: &[&str] = &[
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];
const API_APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";

pub(crate) fn str_at<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn strings_at<'a>(v: &'a Value, k: &str) -> Vec<&'a str> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap_or("")).collect())
        .unwrap_or_default()
}

/// `ValidateCustomResourceDefinitionNames` (spec.names or status.acceptedNames).
pub(crate) fn validate_names(names: &Value, path: &str, out: &mut Vec<FieldError>) {
    let label = |field: &str, value: &str, out: &mut Vec<FieldError>| {
        let errs = is_dns1035_label(value);
        if !value.is_empty() && !errs.is_empty() {
            out.push(FieldError::invalid(
                child(path, field),
                value,
                errs.join(","),
            ));
        }
    };
    label("plural", str_at(names, "plural"), out);
    label("singular", str_at(names, "singular"), out);
    for field in ["kind", "listKind"] {
        let value = str_at(names, field);
        let errs = is_dns1035_label(&value.to_lowercase());
        if !value.is_empty() && !errs.is_empty() {
            out.push(FieldError::invalid(
                child(path, field),
                value,
                format!(
                    "may have mixed case, but should otherwise match: {}",
                    errs.join(",")
                ),
            ));
        }
    }
    for (i, short) in strings_at(names, "shortNames").into_iter().enumerate() {
        let errs = is_dns1035_label(short);
        if !errs.is_empty() {
            out.push(FieldError::invalid(
                index(&child(path, "shortNames"), i),
                short,
                errs.join(","),
            ));
        }
    }
    let kind = str_at(names, "kind");
    if !kind.is_empty() && kind == str_at(names, "listKind") {
        out.push(FieldError::invalid(
            child(path, "listKind"),
            kind,
            "kind and listKind may not be the same",
        ));
    }
    for (i, cat) in strings_at(names, "categories").into_iter().enumerate() {
        let errs = is_dns1035_label(cat);
        if !errs.is_empty() {
            out.push(FieldError::invalid(
                index(&child(path, "categories"), i),
                cat,
                errs.join(","),
            ));
        }
    }
}

/// `validateDeprecationWarning` on one version.
pub(crate) fn validate_deprecation(version: &Value, path: &str, out: &mut Vec<FieldError>) {
    let deprecated = version.get("deprecated").and_then(Value::as_bool) == Some(true);
    let Some(warning) = version.get("deprecationWarning").and_then(Value::as_str) else {
        return;
    };
    let p = child(path, "deprecationWarning");
    if !deprecated {
        out.push(FieldError::invalid(
            p,
            warning,
            "can only be set for deprecated versions",
        ));
        return;
    }
    if warning.len() > 256 {
        out.push(FieldError::invalid(
            p.clone(),
            warning,
            "must be <= 256 characters long",
        ));
    }
    if warning.is_empty() {
        out.push(FieldError::invalid(
            p.clone(),
            warning,
            "must not be an empty string",
        ));
    }
    if let Some((i, _)) = warning
        .char_indices()
        .find(|(_, c)| c.is_control() || (c.is_whitespace() && *c != ' '))
    {
        out.push(FieldError::invalid(
            p,
            warning,
            format!("must only contain printable UTF-8 characters; non-printable character found at index {i}"),
        ));
    }
}

/// The `JSONSchemaProps` keywords in Go field order, and whether each may
/// appear at the root of a schema whose resource has a status subresource.
const ROOT_FIELDS: &[(&str, bool)] = &[
    ("id", false),
    ("$schema", false),
    ("$ref", false),
    ("description", true),
    ("type", true),
    ("nullable", false),
    ("format", true),
    ("title", true),
    ("default", false),
    ("maximum", true),
    ("exclusiveMaximum", true),
    ("minimum", true),
    ("exclusiveMinimum", true),
    ("maxLength", true),
    ("minLength", true),
    ("pattern", true),
    ("maxItems", true),
    ("minItems", true),
    ("uniqueItems", true),
    ("multipleOf", true),
    ("enum", false),
    ("maxProperties", false),
    ("minProperties", false),
    ("required", true),
    ("items", true),
    ("allOf", false),
    ("oneOf", false),
    ("anyOf", false),
    ("not", false),
    ("properties", true),
    ("additionalProperties", false),
    ("patternProperties", false),
    ("dependencies", false),
    ("additionalItems", false),
    ("definitions", false),
    ("externalDocs", true),
    ("example", true),
    ("x-kubernetes-preserve-unknown-fields", true),
    ("x-kubernetes-embedded-resource", false),
    ("x-kubernetes-int-or-string", false),
    ("x-kubernetes-list-map-keys", false),
    ("x-kubernetes-list-type", false),
    ("x-kubernetes-map-type", false),
    ("x-kubernetes-validations", true),
];

const ALLOWED_AT_ROOT: &str = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]";

/// `validateCustomResourceDefinitionValidation`: `validation` is a
/// version's `schema` object (`{openAPIV3Schema: ...}`) at `path`.
pub(crate) fn validate_schema(
    validation: Option<&Value>,
    status_enabled: bool,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let Some(schema) = validation
        .and_then(|v| v.get("openAPIV3Schema"))
        .filter(|s| !s.is_null())
    else {
        return;
    };
    if status_enabled && let Some(m) = schema.as_object() {
        status_root_restrictions(m, schema, path, out);
    }
    let (_, errs) = structural::check(schema, &child(path, "openAPIV3Schema"));
    out.extend(errs);
}

/// With a status subresource, status is extracted as `properties.status`,
/// so the root may only carry keywords that survive that.
fn status_root_restrictions(
    m: &Map<String, Value>,
    schema: &Value,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    for (k, allowed) in ROOT_FIELDS {
        let Some(v) = m.get(*k) else { continue };
        if structural::is_go_zero(v) {
            continue;
        }
        if *k == "type" {
            let t = v.as_str().unwrap_or("");
            if t != "object" {
                out.push(FieldError::invalid(
                    child(path, "openAPIV3Schema.type"),
                    t,
                    r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
                ));
                return;
            }
            continue;
        }
        if !allowed {
            out.push(FieldError::invalid(
                child(path, "openAPIV3Schema"),
                schema.clone(),
                format!("only {ALLOWED_AT_ROOT} fields are allowed at the root of the schema if the status subresource is enabled"),
            ));
            return;
        }
    }
}

/// `validateSimpleJSONPath`.
fn simple_json_path(s: &str, path: &str, out: &mut Vec<FieldError>) -> bool {
    if s.is_empty() {
        out.push(FieldError::invalid(path, s, "must not be empty"));
        false
    } else if !s.starts_with('.') {
        out.push(FieldError::invalid(
            path,
            s,
            "must be a simple json path starting with .",
        ));
        false
    } else {
        true
    }
}

/// `ValidateCustomResourceDefinitionSubresources`.
pub(crate) fn validate_subresources(sub: Option<&Value>, path: &str, out: &mut Vec<FieldError>) {
    let Some(scale) = sub.and_then(|s| s.get("scale")).filter(|s| !s.is_null()) else {
        return;
    };
    for (field, prefix, under) in [
        ("specReplicasPath", ".spec.", ".spec"),
        ("statusReplicasPath", ".status.", ".status"),
    ] {
        let p = child(path, &format!("scale.{field}"));
        let value = str_at(scale, field);
        if value.is_empty() {
            out.push(FieldError::required(p, ""));
        } else if simple_json_path(value, &p, out) && !value.starts_with(prefix) {
            out.push(FieldError::invalid(
                p,
                value,
                format!("should be a json path under {under}"),
            ));
        }
    }
    let selector = str_at(scale, "labelSelectorPath");
    if !selector.is_empty() {
        let p = child(path, "scale.labelSelectorPath");
        if simple_json_path(selector, &p, out)
            && !selector.starts_with(".spec.")
            && !selector.starts_with(".status.")
        {
            out.push(FieldError::invalid(
                p,
                selector,
                "should be a json path under either .spec or .status",
            ));
        }
    }
}

/// `ValidateCustomResourceColumnDefinition` for every column at `path`.
pub(crate) fn validate_columns(columns: &[Value], path: &str, out: &mut Vec<FieldError>) {
    for (i, col) in columns.iter().enumerate() {
        let p = index(path, i);
        if str_at(col, "name").is_empty() {
            out.push(FieldError::required(child(&p, "name"), ""));
        }
        let type_ = str_at(col, "type");
        let type_detail = format!("must be one of {PRINTER_COLUMN_TYPES}");
        if type_.is_empty() {
            out.push(FieldError::required(child(&p, "type"), type_detail));
        } else if !PRINTER_COLUMN_TYPE_LIST.contains(&type_) {
            out.push(FieldError::invalid(child(&p, "type"), type_, type_detail));
        }
        let format = str_at(col, "format");
        if !format.is_empty() && !PRINTER_COLUMN_FORMATS.contains(&format) {
            out.push(FieldError::invalid(
                child(&p, "format"),
                format,
                format!("must be one of {}", PRINTER_COLUMN_FORMATS.join(",")),
            ));
        }
        // Upstream's internal field name (`JSONPath`) is what it reports.
        let json_path = str_at(col, "jsonPath");
        if json_path.is_empty() {
            out.push(FieldError::required(child(&p, "JSONPath"), ""));
        } else {
            simple_json_path(json_path, &child(&p, "JSONPath"), out);
        }
    }
}

/// `validateCustomResourceConversion`. Corral serves every version from
/// one stored representation, so only the `None` strategy is supported.
pub(crate) fn validate_conversion(spec: &Value, out: &mut Vec<FieldError>) {
    let Some(conv) = spec.get("conversion").filter(|c| !c.is_null()) else {
        return;
    };
    let path = "spec.conversion";
    let strategy = str_at(conv, "strategy");
    match strategy {
        "" => out.push(FieldError::required(child(path, "strategy"), "")),
        "None" => {
            let webhook = conv.get("webhook").filter(|w| !w.is_null());
            if webhook
                .and_then(|w| w.get("clientConfig"))
                .is_some_and(|c| !c.is_null())
            {
                out.push(FieldError::forbidden(
                    child(path, "webhookClientConfig"),
                    "should not be set when strategy is not set to Webhook",
                ));
            }
            if webhook
                .and_then(|w| w.get("conversionReviewVersions"))
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                out.push(FieldError::forbidden(
                    child(path, "conversionReviewVersions"),
                    "should not be set when strategy is not set to Webhook",
                ));
            }
        }
        other => out.push(FieldError::not_supported(
            child(path, "strategy"),
            other,
            &["None"],
        )),
    }
}

/// `ValidateCustomResourceDefinitionStoredVersions`.
pub(crate) fn validate_stored_versions(crd: &Value, versions: &[Value], out: &mut Vec<FieldError>) {
    let path = "status.storedVersions";
    let stored = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let stored_value = Value::Array(stored.clone());
    if stored.is_empty() {
        out.push(FieldError::invalid(
            path,
            stored_value,
            "must have at least one stored version",
        ));
        return;
    }
    let stored_names: Vec<&str> = stored.iter().map(|v| v.as_str().unwrap_or("")).collect();
    let mut remaining: Vec<(usize, &str)> = Vec::new();
    for (i, s) in stored_names.iter().enumerate() {
        // Later duplicates win, as in upstream's map.
        remaining.retain(|(_, n)| n != s);
        remaining.push((i, s));
    }
    for v in versions {
        let name = str_at(v, "name");
        let present = stored_names.contains(&name);
        if v.get("storage").and_then(Value::as_bool) == Some(true) && !present {
            out.push(FieldError::invalid(
                path,
                stored_value.clone(),
                format!("must have the storage version {name}"),
            ));
        }
        remaining.retain(|(_, n)| *n != name);
    }
    for (i, v) in remaining {
        out.push(FieldError::invalid(
            index(path, i),
            v,
            format!("missing from spec.versions; {v} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {v} and removes {v} from status.storedVersions"),
        ));
    }
}

#[derive(PartialEq, Eq)]
enum Approval {
    Invalid,
    Approved,
    Bypassed,
    Missing,
}

fn approval_state(crd: &Value) -> (Approval, String, String) {
    let annotation = crd
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(API_APPROVAL_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let quoted = crate::util::go_quote(API_APPROVAL_ANNOTATION);
    let (state, reason) = if annotation.is_empty() {
        (
            Approval::Missing,
            format!(
                "protected groups must have approval annotation {quoted}, see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        )
    } else if annotation.starts_with("unapproved") {
        (Approval::Bypassed, String::new())
    } else if is_url_with_host(&annotation) {
        (Approval::Approved, String::new())
    } else {
        (
            Approval::Invalid,
            format!(
                "protected groups must have approval annotation {quoted} with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111"
            ),
        )
    };
    (state, reason, annotation)
}

/// `url.ParseRequestURI` succeeding with a scheme and a host.
fn is_url_with_host(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !host.is_empty()
        && !s.contains(char::is_whitespace)
}

/// `validateAPIApproval`: groups under `k8s.io` / `kubernetes.io` need the
/// `api-approved.kubernetes.io` annotation (unchanged state is fine on update).
pub(crate) fn validate_api_approval(new: &Value, old: Option<&Value>, out: &mut Vec<FieldError>) {
    let group = new
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let protected = group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io");
    if !protected {
        return;
    }
    let (state, reason, annotation) = approval_state(new);
    if let Some(old) = old
        && approval_state(old).0 == state
    {
        return;
    }
    let path = format!("metadata.annotations[{API_APPROVAL_ANNOTATION}]");
    match state {
        Approval::Missing => out.push(FieldError::required(path, reason)),
        Approval::Invalid => out.push(FieldError::invalid(path, annotation, reason)),
        Approval::Approved | Approval::Bypassed => {}
    }
}
