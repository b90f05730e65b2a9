//! Component schemas: built-in kinds from `k8s-openapi` (generated once per
//! process, in upstream's names and OpenAPI v3 shapes), list kinds, and custom
//! resources from their CRD's `openAPIV3Schema`, shaped as upstream's CRD
//! OpenAPI builder shapes them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::kinds::{KINDS, META};
use crate::registry::ResourceDef;

pub const REF_V3: &str = "#/components/schemas/";
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
pub const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

// Upstream's TypeMeta and partial-object-metadata descriptions, which its
// CRD builder copies into every custom resource schema.
const API_VERSION_DESC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const EMBEDDED_API_VERSION_DESC: &str = "apiVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const EMBEDDED_KIND_DESC: &str = "kind is a string value representing the type of this object. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DESC: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Every built-in schema, in OpenAPI v3 form with `#/components/schemas/` refs.
pub struct Catalog {
    pub defs: BTreeMap<String, Value>,
    /// (group, version, kind, component name) of every kind in the table.
    by_gvk: Vec<(&'static str, &'static str, &'static str, String)>,
    pub meta: Vec<String>,
}

impl Catalog {
    /// The component name of a built-in kind, if `k8s-openapi` has it.
    pub fn component(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        // About a hundred entries, looked up only while building documents.
        self.by_gvk
            .iter()
            .find(|(g, v, k, _)| *g == group && *v == version && *k == kind)
            .map(|(.., name)| name.as_str())
    }
}

/// Generated on first use and kept for the process: the built-in types never change.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(build_catalog)
}

fn build_catalog() -> Catalog {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            // Shapes are fixed up below to upstream's, not to a JSON Schema draft.
            s.transforms.clear();
        })
        .into_generator();
    let mut by_gvk = Vec::new();
    let mut gvks: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for k in KINDS {
        let name = (k.add)(&mut generator);
        gvks.entry(name.clone())
            .or_default()
            .push(gvk(k.group, k.version, k.kind));
        by_gvk.push((k.group, k.version, k.kind, name));
    }
    let meta: Vec<String> = META.iter().map(|add| add(&mut generator)).collect();
    let mut defs: BTreeMap<String, Value> = generator.take_definitions(false).into_iter().collect();
    for (name, def) in defs.iter_mut() {
        shape_v3(def);
        drop_required_metadata(def);
        if let Some(list) = gvks.get(name) {
            set_ext(
                def,
                "x-kubernetes-group-version-kind",
                Value::Array(list.clone()),
            );
        }
    }
    // Upstream gives these their OpenAPI v3 forms (kube-openapi's OpenAPIV3OneOfTypes).
    if let Some(d) = defs.get_mut(INT_OR_STRING) {
        let description = d.get("description").cloned().unwrap_or(Value::Null);
        *d = json!({
            "description": description,
            "oneOf": [{"type": "integer"}, {"type": "string"}],
            "format": "int-or-string",
        });
    }
    if let Some(d) = defs.get_mut(QUANTITY) {
        let description = d.get("description").cloned().unwrap_or(Value::Null);
        *d = json!({
            "description": description,
            "oneOf": [{"type": "string"}, {"type": "number"}],
        });
    }
    if let Some(d) = defs.get_mut(STATUS) {
        set_ext(
            d,
            "x-kubernetes-group-version-kind",
            json!([gvk("", "v1", "Status")]),
        );
    }
    apply_patch_meta(&mut defs, &by_gvk);
    Catalog { defs, by_gvk, meta }
}

pub fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

pub fn set_ext(def: &mut Value, key: &str, value: Value) {
    if let Some(o) = def.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}

/// Upstream's v3 documents never put siblings next to `$ref` (OpenAPI 3.0
/// ignores them): a described reference becomes `allOf: [{$ref}]` with the
/// description beside it. kubectl explain and its strategic-merge patch
/// lookup both read that shape (`allOf[0]`).
pub fn shape_v3(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for child in o.values_mut() {
                shape_v3(child);
            }
            // A string `$ref` only: JSONSchemaProps has a *property* named `$ref`.
            if o.len() > 1
                && o.get("$ref").is_some_and(Value::is_string)
                && let Some(r) = o.remove("$ref")
            {
                o.insert("allOf".into(), json!([{"$ref": r}]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(shape_v3),
        _ => {}
    }
}

/// `k8s-openapi` marks `metadata` required because its Rust field is not an
/// `Option`; upstream never requires it, and kubectl would print `-required-`.
fn drop_required_metadata(def: &mut Value) {
    let Some(o) = def.as_object_mut() else { return };
    let remove = match o.get_mut("required").and_then(Value::as_array_mut) {
        Some(req) => {
            req.retain(|f| f != "metadata");
            req.is_empty()
        }
        None => false,
    };
    if remove {
        o.remove("required");
    }
}

/// Strategic-merge metadata (`x-kubernetes-patch-strategy`,
/// `x-kubernetes-patch-merge-key`) from the patch engine's own description of
/// each built-in kind (`corral_apimachinery::patch::meta`), so kubectl's
/// client-side apply computes the same list merges the server applies. The
/// kind's patch tree is walked alongside its schema: a tagged field marks the
/// property of the component that holds it (upstream's struct tags live on
/// struct fields, so shared components such as ObjectMeta are marked once).
fn apply_patch_meta(defs: &mut BTreeMap<String, Value>, by_gvk: &[(&str, &str, &str, String)]) {
    use corral_apimachinery::patch::meta::{self, ListStrategy, PatchSchema};
    let mut pending: Vec<(String, &'static PatchSchema)> = Vec::new();
    for (group, kind) in meta::KINDS {
        let Some(schema) = meta::schema_for(group, kind) else {
            continue;
        };
        for (g, _, k, name) in by_gvk {
            if g == group && k == kind {
                pending.push((name.clone(), schema));
            }
        }
    }
    let mut seen = BTreeSet::new();
    while let Some((component, patch)) = pending.pop() {
        let PatchSchema::Object(fields) = patch else {
            continue;
        };
        if !seen.insert((component.clone(), std::ptr::from_ref(patch) as usize)) {
            continue;
        }
        for f in fields.iter() {
            let Some(prop) = defs
                .get_mut(&component)
                .and_then(|d| d.get_mut("properties"))
                .and_then(|p| p.get_mut(f.name))
            else {
                continue;
            };
            let (strategy, key) = match f.schema {
                PatchSchema::List(_, ListStrategy::MergeByKey(key)) => (Some("merge"), Some(key)),
                PatchSchema::List(_, ListStrategy::MergeSet) => (Some("merge"), None),
                PatchSchema::Atomic => (Some("replace"), None),
                _ => (None, None),
            };
            let strategy = match (strategy, f.retain_keys) {
                (Some(s), true) => Some(format!("{s},retainKeys")),
                (None, true) => Some("retainKeys".to_string()),
                (s, false) => s.map(str::to_string),
            };
            if let Some(s) = strategy {
                set_ext(prop, "x-kubernetes-patch-strategy", Value::String(s));
            }
            if let Some(k) = key {
                set_ext(
                    prop,
                    "x-kubernetes-patch-merge-key",
                    Value::String(k.to_string()),
                );
            }
            // Follow the field into the component that describes its value.
            let (target, child) = match &f.schema {
                PatchSchema::List(items, _) => (prop.get("items"), *items),
                PatchSchema::Map(values) => (prop.get("additionalProperties"), *values),
                other => (Some(&*prop), other),
            };
            if let Some(name) = target.and_then(ref_name) {
                pending.push((name.to_string(), child));
            }
        }
    }
}

/// The component a (possibly `allOf`-wrapped) reference names.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")
        .or_else(|| v.pointer("/allOf/0/$ref"))
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(REF_V3))
}

/// Names referenced (`$ref`) anywhere in `v`, with `prefix` stripped.
pub fn refs<'a>(v: &'a Value, prefix: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            if let Some(name) = o
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(prefix))
            {
                out.push(name);
            }
            o.values().for_each(|c| refs(c, prefix, out));
        }
        Value::Array(items) => items.iter().for_each(|c| refs(c, prefix, out)),
        _ => {}
    }
}

/// Adds to `schemas` every catalog schema reachable from what it holds or
/// from `paths` (operations reference subresource kinds and meta types).
pub fn close_over(
    schemas: &mut BTreeMap<String, Value>,
    paths: &Map<String, Value>,
    catalog: &Catalog,
) {
    let mut pending: Vec<String> = Vec::new();
    for prefix in [REF_V3, "#/definitions/"] {
        let mut found = Vec::new();
        paths.values().for_each(|p| refs(p, prefix, &mut found));
        pending.extend(found.into_iter().map(str::to_string));
    }
    for def in schemas.values() {
        let mut found = Vec::new();
        refs(def, REF_V3, &mut found);
        pending.extend(found.into_iter().map(str::to_string));
    }
    let mut seen: BTreeSet<String> = schemas.keys().cloned().collect();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = catalog.defs.get(&name) else {
            continue;
        };
        let mut found = Vec::new();
        refs(def, REF_V3, &mut found);
        pending.extend(found.into_iter().map(str::to_string));
        schemas.insert(name, def.clone());
    }
}

/// Upstream's name for a custom resource's component: reversed group,
/// version, kind (`stable.example.com/v1 CronTab` → `com.example.stable.v1.CronTab`).
pub fn crd_component_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The component name for a served resource's kind: upstream's name for a
/// built-in kind, the CRD-style name for a custom resource.
pub fn component_name(r: &ResourceDef) -> String {
    if r.custom.is_none()
        && let Some(name) = catalog().component(r.group, r.version, r.kind)
    {
        return name.to_string();
    }
    if r.custom.is_some() {
        return crd_component_name(r.group, r.version, r.kind);
    }
    // A built-in kind k8s-openapi lacks (none today): upstream's naming pattern.
    let group = r.group.split('.').next().unwrap_or_default();
    let group = if group.is_empty() { "core" } else { group };
    format!("io.k8s.api.{group}.{}.{}", r.version, r.kind)
}

/// Which OpenAPI version a schema is being shaped for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Spec {
    V2,
    V3,
}

/// A described reference in v3's shape; the v2 document reshapes it with the rest.
fn meta_ref(name: &str, description: &str) -> Value {
    json!({"allOf": [{"$ref": format!("{REF_V3}{name}")}], "description": description})
}

/// A custom resource's kind schema as upstream's CRD OpenAPI builder makes it
/// (references in v3's shape whatever `spec`, which decides the content):
/// the version's schema plus `apiVersion`, `kind` and `metadata`, embedded
/// resources completed the same way, and the kind's GVK. Without a schema (or,
/// for v2, with one that preserves unknown fields at the root) only
/// `type: object`: kubectl would otherwise reject fields the schema allows.
pub fn crd_kind_schema(r: &ResourceDef, spec: Spec) -> Value {
    let schema = r.custom.as_ref().and_then(|c| c.openapi_schema.as_deref());
    let preserves_root = schema
        .and_then(|s| s.get("x-kubernetes-preserve-unknown-fields"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut out = match schema {
        Some(s) if !(spec == Spec::V2 && preserves_root) => {
            let mut s = s.clone();
            if spec == Spec::V2 {
                super::v2::structural_v2(&mut s);
            }
            add_embedded_properties(&mut s, spec);
            if let Some(o) = s.as_object_mut() {
                let props = o
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(p) = props.as_object_mut() {
                    p.insert(
                        "apiVersion".into(),
                        json!({"type": "string", "description": API_VERSION_DESC}),
                    );
                    p.insert(
                        "kind".into(),
                        json!({"type": "string", "description": KIND_DESC}),
                    );
                    p.insert("metadata".into(), meta_ref(OBJECT_META, METADATA_DESC));
                }
            }
            s
        }
        _ => json!({"type": "object"}),
    };
    set_ext(
        &mut out,
        "x-kubernetes-group-version-kind",
        json!([gvk(r.group, r.version, r.kind)]),
    );
    out
}

/// Nested `x-kubernetes-embedded-resource` objects get `apiVersion`, `kind`
/// and `metadata` too, as upstream's builder adds them (not in v2 where the
/// node preserves unknown fields: kubectl would then reject the unknown ones).
fn add_embedded_properties(s: &mut Value, spec: Spec) {
    let Some(o) = s.as_object_mut() else { return };
    if let Some(props) = o.get_mut("properties").and_then(Value::as_object_mut) {
        props
            .values_mut()
            .for_each(|p| add_embedded_properties(p, spec));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = o.get_mut(key) {
            add_embedded_properties(child, spec);
        }
    }
    let flag = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
    if spec == Spec::V2 && flag(o, "x-kubernetes-preserve-unknown-fields") {
        return;
    }
    if !flag(o, "x-kubernetes-embedded-resource") {
        return;
    }
    let props = o
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(p) = props.as_object_mut() {
        p.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": EMBEDDED_API_VERSION_DESC}),
        );
        p.insert(
            "kind".into(),
            json!({"type": "string", "description": EMBEDDED_KIND_DESC}),
        );
        p.insert("metadata".into(), meta_ref(OBJECT_META, METADATA_DESC));
    }
    let required = o
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(req) = required.as_array_mut() {
        for field in ["kind", "apiVersion"] {
            if !req.iter().any(|f| f == field) {
                req.push(Value::String(field.into()));
            }
        }
    }
}

/// The `<Kind>List` schema, as upstream's builder makes it for custom resources.
pub fn list_schema(r: &ResourceDef, item_component: &str) -> Value {
    let item_ref = format!("{REF_V3}{item_component}");
    let list_kind = r.list_kind();
    json!({
        "description": format!("{list_kind} is a list of {}", r.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": API_VERSION_DESC},
            "items": {
                "type": "array",
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", r.plural),
                "items": {"$ref": item_ref},
            },
            "kind": {"type": "string", "description": KIND_DESC},
            "metadata": meta_ref(LIST_META, LIST_METADATA_DESC),
        },
        "x-kubernetes-group-version-kind": [gvk(r.group, r.version, &list_kind)],
    })
}

/// A schema for a served kind that has none (a built-in k8s-openapi lacks).
pub fn open_schema(r: &ResourceDef) -> Value {
    json!({
        "description": format!("{} ({}).", r.kind, r.api_version()),
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-group-version-kind": [gvk(r.group, r.version, r.kind)],
    })
}
