//! CustomResourceDefinitions: turning stored CRDs into served resources.
//!
//! Every replica keeps a mirror of the CRD objects and rebuilds its
//! [`Registry`] when they change, so a CRD created through any replica is
//! served by all of them without a restart. The replica that handled the
//! write also applies it at once ([`CrdRegistry::observe`]), so a client can
//! use the new kind right after its create returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use corral_apimachinery::crd::{self, CrdInfo, PrinterColumn, ScaleSpec, Structural};
use corral_apimachinery::table::{Column, since_cell};
use corral_apimachinery::types::TypeRules;
use corral_apimachinery::validation::{FieldError, NameRule};
use corral_store::{Event, EventKind, KeyValue};
use serde_json::{Value, json};

use crate::encoding::{self, meta_str};
use crate::registry::{Conversion, Registry, ResourceDef, Rules, intern, intern_all};

pub const GROUP: &str = "apiextensions.k8s.io";
pub const KIND: &str = "CustomResourceDefinition";
pub const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";
/// Held by a deleted CRD until all of its objects are gone (corral-kube's crd_cleanup).
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// What a CRD says about one served version beyond its [`TypeRules`].
#[derive(Debug, Default)]
pub struct CustomServing {
    /// `metadata.name` of the CRD (`<plural>.<group>`).
    pub crd_name: String,
    /// The CRD is being deleted: no new objects may be created.
    pub terminating: bool,
    /// This version's `schema.openAPIV3Schema` as written in the CRD (for OpenAPI documents).
    pub openapi_schema: Option<Arc<Value>>,
    /// The parsed schema: validation, defaulting and pruning.
    pub schema: Option<Arc<Structural>>,
    pub printer_columns: Vec<PrinterColumn>,
    pub scale: Option<ScaleSpec>,
    pub status_subresource: bool,
    /// `deprecated: true` versions warn on every request, as upstream.
    pub deprecation_warning: Option<String>,
}

/// Whether a resource is the CRD kind itself.
pub fn is_crd(def: &ResourceDef) -> bool {
    def.group == GROUP && def.kind == KIND
}

/// A CRD about to be deleted keeps the cleanup finalizer until its objects
/// are gone (upstream's CRD REST `Delete` adds it the same way).
pub fn with_cleanup_finalizer(mut crd_obj: Value) -> Value {
    if encoding::meta(&crd_obj).contains_key("deletionTimestamp") {
        return crd_obj;
    }
    if let Some(meta) = crd_obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let finalizers = meta
            .entry("finalizers")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !finalizers.is_array() {
            *finalizers = Value::Array(Vec::new());
        }
        if let Some(list) = finalizers.as_array_mut()
            && !list.iter().any(|f| f.as_str() == Some(CLEANUP_FINALIZER))
        {
            list.push(Value::from(CLEANUP_FINALIZER));
        }
    }
    crd_obj
}

/// Rules of one custom resource version, from its CRD.
struct CustomRules {
    namespaced: bool,
    serving: Arc<CustomServing>,
    columns: &'static [Column],
}

impl TypeRules for CustomRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        self.namespaced
    }

    fn apply_defaults(&self, obj: &mut Value) {
        if let Some(schema) = &self.serving.schema {
            crd::apply_defaults(schema, obj);
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errors = match &self.serving.schema {
            Some(schema) => crd::validate(schema, obj),
            None => Vec::new(),
        };
        if let Some(scale) = &self.serving.scale {
            errors.extend(scale.validate_spec(obj));
        }
        errors
    }

    fn columns(&self) -> &'static [Column] {
        self.columns
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let mut cells = vec![Value::from(meta_str(obj, "name").unwrap_or(""))];
        for c in &self.serving.printer_columns {
            let cell = c.cell(obj);
            // Dates show as ages, as upstream's table convertor renders them.
            cells.push(match (c.type_.as_str(), cell.as_str()) {
                ("date", Some(ts)) if ts != "<unknown>" && ts != "<invalid>" => {
                    since_cell(Some(ts))
                }
                _ => cell,
            });
        }
        cells
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        self.serving.status_subresource
    }
}

/// Table columns as `'static` data, stored once per distinct column set
/// (CRDs are re-registered on every change; their columns rarely change).
fn intern_columns(columns: &[PrinterColumn]) -> &'static [Column] {
    static CACHE: Mutex<Option<HashMap<String, &'static [Column]>>> = Mutex::new(None);
    let key = format!("{columns:?}");
    let mut guard = match CACHE.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let cache = guard.get_or_insert_with(HashMap::new);
    if let Some(existing) = cache.get(&key) {
        return existing;
    }
    let mut out = vec![Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: corral_apimachinery::table::NAME_DESCRIPTION,
        priority: 0,
    }];
    for c in columns {
        let def = c.definition();
        out.push(Column {
            name: intern(&c.name),
            type_: intern(&c.type_),
            format: intern(&c.format),
            description: intern(def["description"].as_str().unwrap_or("")),
            priority: c.priority,
        });
    }
    let leaked: &'static [Column] = Box::leak(out.into_boxed_slice());
    cache.insert(key, leaked);
    leaked
}

/// The served resources one CRD defines (one per served version).
pub fn resource_defs(crd_obj: &Value) -> Vec<ResourceDef> {
    let Ok(info) = CrdInfo::from_crd(crd_obj) else {
        return Vec::new();
    };
    if info.group.is_empty() || info.plural.is_empty() || info.kind.is_empty() {
        return Vec::new();
    }
    let crd_name = meta_str(crd_obj, "name").unwrap_or("").to_string();
    let terminating = encoding::meta(crd_obj).contains_key("deletionTimestamp");
    let group = intern(&info.group);
    let storage_version = info
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.clone())
        .unwrap_or_default();
    let storage = intern(&format!("{}/{}", info.group, info.plural));
    let raw_versions = crd_obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for v in info.versions.iter().filter(|v| v.served) {
        let openapi_schema = raw_versions
            .iter()
            .find(|rv| rv.get("name").and_then(Value::as_str) == Some(v.name.as_str()))
            .and_then(|rv| rv.pointer("/schema/openAPIV3Schema"))
            .cloned()
            .map(Arc::new);
        let serving = Arc::new(CustomServing {
            crd_name: crd_name.clone(),
            terminating,
            openapi_schema,
            schema: v.schema.clone(),
            printer_columns: v.printer_columns.clone(),
            scale: v.scale.clone(),
            status_subresource: v.status_subresource,
            deprecation_warning: v.deprecated.then(|| {
                v.deprecation_warning.clone().unwrap_or_else(|| {
                    format!("{}/{} {} is deprecated", info.group, v.name, info.kind)
                })
            }),
        });
        let mut subresources: Vec<&'static str> = Vec::new();
        if v.status_subresource {
            subresources.push("status");
        }
        if v.scale.is_some() {
            subresources.push("scale");
        }
        let version = intern(&v.name);
        let conversion = (v.name != storage_version).then(|| Conversion::ApiVersion {
            served: intern(&format!("{}/{}", info.group, v.name)),
            stored: intern(&format!("{}/{}", info.group, storage_version)),
        });
        out.push(ResourceDef {
            group,
            version,
            kind: intern(&info.kind),
            plural: intern(&info.plural),
            singular: intern(&info.singular),
            short_names: intern_all(&info.short_names),
            categories: intern_all(&info.categories),
            namespaced: info.namespaced,
            verbs: crate::registry::ALL_VERBS,
            subresources: intern_subresources(&subresources),
            storage,
            conversion,
            rules: Rules::Owned(Arc::new(CustomRules {
                namespaced: info.namespaced,
                serving: serving.clone(),
                columns: intern_columns(&v.printer_columns),
            })),
            review: None,
            custom: Some(serving),
        });
    }
    out
}

fn intern_subresources(subs: &[&'static str]) -> &'static [&'static str] {
    match subs {
        [] => &[],
        ["status"] => &["status"],
        ["scale"] => &["scale"],
        _ => &["status", "scale"],
    }
}

/// Names a new or changed CRD may not take: they belong to another served
/// resource of the same group. Upstream's naming controller checks the same.
pub fn name_conflicts(registry: &Registry, crd_obj: &Value) -> Option<(String, String)> {
    let own = meta_str(crd_obj, "name").unwrap_or("");
    let group = crd_obj.pointer("/spec/group").and_then(Value::as_str)?;
    let names = crd_obj.pointer("/spec/names")?;
    let plural = names.get("plural").and_then(Value::as_str).unwrap_or("");
    let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
    for r in registry.all().iter().filter(|r| r.group == group) {
        if r.custom.as_ref().is_some_and(|c| c.crd_name == own) {
            continue;
        }
        if r.plural == plural {
            return Some((
                "PluralConflict".into(),
                format!("{plural:?} is already in use"),
            ));
        }
        if r.kind == kind {
            return Some(("KindConflict".into(), format!("{kind:?} is already in use")));
        }
    }
    None
}

/// Status of a CRD being written: names accepted and established unless
/// another resource holds them (then `NamesAccepted=False` and not served).
pub fn set_name_status(registry: &Registry, crd_obj: &mut Value, now: &str) {
    match name_conflicts(registry, crd_obj) {
        None => {
            if !crd::is_established(crd_obj) {
                crd::mark_established(crd_obj, now);
            } else if let Some(names) = crd_obj.pointer("/spec/names").cloned()
                && let Some(status) = crd_obj.get_mut("status").and_then(Value::as_object_mut)
            {
                status.insert("acceptedNames".into(), names);
            }
        }
        Some((reason, message)) => {
            if let Some(status) = crd_obj.get_mut("status").and_then(Value::as_object_mut) {
                status.insert(
                    "conditions".into(),
                    json!([{
                        "type": "NamesAccepted",
                        "status": "False",
                        "lastTransitionTime": now,
                        "reason": reason,
                        "message": message,
                    }, {
                        "type": "Established",
                        "status": "False",
                        "lastTransitionTime": now,
                        "reason": "NotAccepted",
                        "message": "not all names are accepted",
                    }]),
                );
            }
        }
    }
}

/// The CRDs this replica knows, and the registry built from them.
pub struct CrdRegistry {
    target: Arc<ArcSwap<Registry>>,
    /// CRD name → (modification revision, the resources it defines).
    known: Mutex<BTreeMap<String, (i64, Vec<ResourceDef>)>>,
}

impl CrdRegistry {
    pub fn new(target: Arc<ArcSwap<Registry>>) -> CrdRegistry {
        CrdRegistry {
            target,
            known: Mutex::new(BTreeMap::new()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, (i64, Vec<ResourceDef>)>) -> R) -> R {
        let mut guard = match self.known.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let r = f(&mut guard);
        let defs: Vec<ResourceDef> = guard.values().flat_map(|(_, d)| d.clone()).collect();
        self.target.store(Arc::new(Registry::with_custom(defs)));
        r
    }

    /// A CRD written (or seen) at `rev`; older news than what is known is ignored.
    pub fn observe(&self, kv: &KeyValue) {
        let Ok(v) = serde_json::from_slice::<Value>(&kv.value) else {
            return;
        };
        let name = kv.key.rsplit('/').next().unwrap_or("").to_string();
        let rev = kv.mod_revision;
        let defs = resource_defs(&v);
        self.with(|m| {
            if m.get(&name).is_none_or(|(known, _)| *known < rev) {
                m.insert(name, (rev, defs));
            }
        });
    }

    /// A CRD removed at `rev`.
    pub fn forget(&self, key: &str, rev: i64) {
        let name = key.rsplit('/').next().unwrap_or("").to_string();
        self.with(|m| {
            if m.get(&name).is_some_and(|(known, _)| *known < rev) {
                m.remove(&name);
            }
        });
    }
}

impl crate::mirror::Sink for CrdRegistry {
    fn reset(&self, kvs: Vec<KeyValue>) {
        let fresh: BTreeMap<String, (i64, Vec<ResourceDef>)> = kvs
            .iter()
            .filter_map(|kv| {
                let v: Value = serde_json::from_slice(&kv.value).ok()?;
                let name = kv.key.rsplit('/').next()?.to_string();
                Some((name, (kv.mod_revision, resource_defs(&v))))
            })
            .collect();
        self.with(|m| *m = fresh);
    }

    fn apply(&self, events: &[Event]) {
        for ev in events {
            match ev.kind {
                EventKind::Put => self.observe(&ev.kv),
                EventKind::Delete => self.forget(&ev.kv.key, ev.kv.mod_revision),
            }
        }
    }
}
