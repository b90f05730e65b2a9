//! The structural-schema rules (upstream `schema.ValidateStructural`):
//! every field has a type, value validations under `allOf`/`anyOf`/`oneOf`/
//! `not` only restrict what the structure already specifies, metadata is
//! only restricted in name/generateName, and the extensions are coherent.

use super::render::{child, index, key};
use super::structural::{AdditionalProperties, Structural};
use crate::validation::FieldError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// All structural violations of `s` (rooted at `path`), sorted by message
/// as upstream does (its map iteration order is random).
pub(crate) fn validate_structural(s: &Structural, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    invariants(s, Level::Root, path, &mut out);
    // Upstream checks completeness of the root's value validations only.
    value_completeness(s, Some(s), path, path, &mut out);
    out.sort_by_key(|e| e.to_string());
    out
}

fn invariants(s: &Structural, lvl: Level, path: &str, out: &mut Vec<FieldError>) {
    if s.type_ == "array" && s.items.is_none() {
        out.push(FieldError::required(
            child(path, "items"),
            "must be specified",
        ));
    }
    if let Some(items) = &s.items {
        invariants(items, Level::Item, &child(path, "items"), out);
    }
    for (k, p) in &s.properties {
        invariants(p, Level::Field, &key(&child(path, "properties"), k), out);
    }
    if let Some(ap) = &s.additional_properties {
        if lvl == Level::Root {
            out.push(FieldError::forbidden(
                child(path, "additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let AdditionalProperties::Schema(ap) = ap {
            invariants(ap, Level::Field, &child(path, "additionalProperties"), out);
        }
    }
    if s.int_or_string && s.preserve_unknown_fields {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if s.int_or_string && s.embedded_resource {
        out.push(FieldError::invalid(
            child(path, "x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    let skip_any_of = is_int_or_string_any_of(s);
    let skip_first_all_of_any_of = s.all_of.first().is_some_and(is_int_or_string_any_of);
    value_validation(s, skip_any_of, skip_first_all_of_any_of, lvl, path, out);

    let check_metadata = lvl == Level::Root || s.embedded_resource;
    const EMBEDDED_TYPE: &str = "must be object if x-kubernetes-embedded-resource is true";
    if s.embedded_resource && s.type_ != "object" {
        if s.type_.is_empty() {
            out.push(FieldError::required(child(path, "type"), EMBEDDED_TYPE));
        } else {
            out.push(FieldError::invalid(
                child(path, "type"),
                s.type_.as_str(),
                EMBEDDED_TYPE,
            ));
        }
    } else if s.type_.is_empty() && !s.int_or_string && !s.preserve_unknown_fields {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(FieldError::required(child(path, "type"), detail));
    }
    if s.embedded_resource && s.additional_properties.is_some() {
        out.push(FieldError::forbidden(
            child(path, "additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !s.type_.is_empty() && s.type_ != "object" {
        out.push(FieldError::invalid(
            child(path, "type"),
            s.type_.as_str(),
            "must be object at the root",
        ));
    }
    let props = child(path, "properties");
    for meta_key in ["kind", "apiVersion"] {
        if let Some(p) = s.properties.get(meta_key)
            && check_metadata
            && p.type_ != "string"
        {
            out.push(FieldError::invalid(
                child(&key(&props, meta_key), "type"),
                p.type_.as_str(),
                "must be string",
            ));
        }
    }
    if let Some(meta) = s.properties.get("metadata") {
        let meta_path = key(&props, "metadata");
        if check_metadata && meta.type_ != "object" {
            out.push(FieldError::invalid(
                child(&meta_path, "type"),
                meta.type_.as_str(),
                "must be object",
            ));
        }
        if lvl == Level::Root && meta.restricts_more_than_names {
            out.push(FieldError::forbidden(
                meta_path,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if s.embedded_resource && !s.preserve_unknown_fields && s.properties.is_empty() {
        out.push(FieldError::required(
            props,
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// `anyOf: [{type: integer}, {type: string}]`, exactly.
fn is_int_or_string_any_of(s: &Structural) -> bool {
    match s.any_of.as_slice() {
        [a, b] => a.only_type && a.type_ == "integer" && b.only_type && b.type_ == "string",
        _ => false,
    }
}

fn value_validation(
    v: &Structural,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    lvl: Level,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, n) in v.any_of.iter().enumerate() {
            nested(n, false, false, lvl, &index(&child(path, "anyOf"), i), out);
        }
    }
    for (i, n) in v.all_of.iter().enumerate() {
        let skip = skip_first_all_of_any_of && i == 0;
        nested(n, skip, false, lvl, &index(&child(path, "allOf"), i), out);
    }
    for (i, n) in v.one_of.iter().enumerate() {
        nested(n, false, false, lvl, &index(&child(path, "oneOf"), i), out);
    }
    if let Some(n) = &v.not {
        nested(n, false, false, lvl, &child(path, "not"), out);
    }
    if let Some((source, err)) = &v.invalid_pattern {
        out.push(FieldError::invalid(
            child(path, "pattern"),
            source.as_str(),
            format!("must be a valid regular expression, but isn't: {err}"),
        ));
    }
}

/// A schema under a logical junctor may only carry value validations.
fn nested(
    v: &Structural,
    skip_any_of: bool,
    skip_all_of_any_of: bool,
    lvl: Level,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    value_validation(v, skip_any_of, skip_all_of_any_of, lvl, path, out);
    if let Some(items) = &v.items {
        nested(items, false, false, lvl, &child(path, "items"), out);
    }
    for (k, p) in &v.properties {
        nested(
            p,
            false,
            false,
            Level::Field,
            &key(&child(path, "properties"), k),
            out,
        );
    }
    let mut forbid = |name: &str, detail: &str| {
        out.push(FieldError::forbidden(child(path, name), detail));
    };
    const EMPTY: &str = "must be empty to be structural";
    const UNDEFINED: &str = "must be undefined to be structural";
    const FALSE: &str = "must be false to be structural";
    if !v.type_.is_empty() {
        forbid("type", EMPTY);
    }
    if v.additional_properties.is_some() {
        forbid("additionalProperties", UNDEFINED);
    }
    if v.default.is_some() {
        forbid("default", UNDEFINED);
    }
    if !v.title.is_empty() {
        forbid("title", EMPTY);
    }
    if !v.description.is_empty() {
        forbid("description", EMPTY);
    }
    if v.nullable {
        forbid("nullable", FALSE);
    }
    if v.has_external_docs {
        forbid("externalDocs", UNDEFINED);
    }
    if v.preserve_unknown_fields {
        forbid("x-kubernetes-preserve-unknown-fields", FALSE);
    }
    if v.embedded_resource {
        forbid("x-kubernetes-embedded-resource", FALSE);
    }
    if v.int_or_string {
        forbid("x-kubernetes-int-or-string", FALSE);
    }
    if !v.list_map_keys.is_empty() {
        forbid("x-kubernetes-list-map-keys", EMPTY);
    }
    if v.list_type.is_some() {
        forbid("x-kubernetes-list-type", UNDEFINED);
    }
    if v.map_type.is_some() {
        forbid("x-kubernetes-map-type", UNDEFINED);
    }
    if v.has_cel_rules {
        forbid("x-kubernetes-validations", EMPTY);
    }
    if v.properties.contains_key("metadata") {
        out.push(FieldError::forbidden(
            key(&child(path, "properties"), "metadata"),
            "must not be specified in a nested context",
        ));
    }
}

/// Every field or array a value validation mentions must also be
/// specified by the structure (`s`).
fn value_completeness(
    v: &Structural,
    s: Option<&Structural>,
    s_path: &str,
    v_path: &str,
    out: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        out.push(defined_in(s_path, v_path));
        return;
    };
    if let Some(n) = &v.not {
        nested_completeness(n, Some(s), s_path, &child(v_path, "not"), out);
    }
    for (name, list) in [
        ("allOf", &v.all_of),
        ("anyOf", &v.any_of),
        ("oneOf", &v.one_of),
    ] {
        for (i, n) in list.iter().enumerate() {
            nested_completeness(n, Some(s), s_path, &index(&child(v_path, name), i), out);
        }
    }
}

fn nested_completeness(
    v: &Structural,
    s: Option<&Structural>,
    s_path: &str,
    v_path: &str,
    out: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        out.push(defined_in(s_path, v_path));
        return;
    };
    value_completeness(v, Some(s), s_path, v_path, out);
    if let Some(items) = &v.items {
        nested_completeness(
            items,
            s.items.as_deref(),
            &child(s_path, "items"),
            &child(v_path, "items"),
            out,
        );
    }
    for (k, vp) in &v.properties {
        let sp = key(&child(s_path, "properties"), k);
        let vpp = key(&child(v_path, "properties"), k);
        match s.properties.get(k) {
            Some(sf) => nested_completeness(vp, Some(sf), &sp, &vpp, out),
            None => out.push(defined_in(&sp, &vpp)),
        }
    }
}

fn defined_in(s_path: &str, v_path: &str) -> FieldError {
    FieldError::required(s_path, format!("because it is defined in {v_path}"))
}
