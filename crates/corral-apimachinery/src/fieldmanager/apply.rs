//! Server-side apply (upstream structured-merge-diff `merge.Updater.Apply`
//! and the API server's apply chain: version check, last-applied updater and
//! manager, skip-non-applied, cap-managers, managed-fields updater,
//! strip-meta).
//!
//! [`apply`] merges an applied configuration into the live object:
//!
//! 1. the configuration is merged into the live object ([`merge`]): maps
//!    key by key, associative lists (`ListType::Map`) item by key, sets by
//!    value, atomic lists and maps replaced as a whole;
//! 2. the applier's Apply entry becomes exactly the fields of its
//!    configuration;
//! 3. fields the applier owned last time, does not apply now and nobody
//!    else owns are removed (upstream `prune`);
//! 4. the live and merged objects are compared: fields another manager owns
//!    that the apply adds or changes are conflicts (a 409, unless `force`,
//!    which moves them to the applier); removed fields leave every set.
//!
//! Everything is pure: the time comes in as an argument.

use super::FieldManagerError;
use super::conflict::{Conflict, conflicts};
use super::fieldpath::{FieldPath, FieldSet, PathElement, go_json};
use super::managed::{
    ManagedFieldsEntry, Operation, UpdateOptions, cap_update_managers, decode_managed_fields,
    encode_managed_fields, managed_fields_of, normalize_time, remove_managed_fields,
    stripped_fields, track,
};
use super::typed::{ListType, ListTypes, MapType, compare, field_set, item_elements};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The annotation client-side `kubectl apply` keeps its last configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager upstream gives the fields of an object that had no
/// managedFields when it was first applied to.
pub const BEFORE_FIRST_APPLY_MANAGER: &str = "before-first-apply";

/// The field manager `kubectl apply --server-side` uses by default; only its
/// applies upgrade from client-side apply (upstream `lastAppliedManager`
/// and `lastAppliedUpdater`).
pub const KUBECTL_MANAGER: &str = "kubectl";

/// What [`apply`] needs besides the two objects.
#[derive(Clone, Copy)]
pub struct ApplyOptions<'a> {
    /// The field manager (the required `fieldManager` parameter).
    pub manager: &'a str,
    /// The subresource applied through, `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// The group/version of the request (`v1`, `apps/v1`).
    pub api_version: &'a str,
    /// The current time, RFC 3339.
    pub now: &'a str,
    /// `force=true`: take conflicting fields from their owners.
    pub force: bool,
    /// List and map types of the kind.
    pub types: &'a dyn ListTypes,
    /// Fields this request never owns (upstream reset fields, e.g. `status`
    /// through the main resource of a kind with a status subresource).
    pub ignored: &'a FieldSet,
}

/// Why an apply failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (409 unless forced).
    #[error("{}", super::conflict::conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The configuration is not acceptable (400), e.g. it sets
    /// `metadata.managedFields`.
    #[error("{0}")]
    BadRequest(String),
    /// The configuration (or the live object) does not fit the kind's list
    /// types: upstream's `failed to create typed patch object` errors.
    #[error("{0}")]
    Typed(String),
}

impl From<FieldManagerError> for ApplyError {
    fn from(e: FieldManagerError) -> Self {
        ApplyError::Typed(e.to_string())
    }
}

/// Applies `config` to `live` (`None` when the object does not exist yet:
/// create-on-apply) and returns the new object with its managedFields.
/// The result still carries `live`'s system metadata; the caller restores
/// whatever a write may not change (uid, creationTimestamp, status through
/// the main resource, ...).
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    opts: &ApplyOptions<'_>,
) -> Result<Value, ApplyError> {
    if !config.is_object() {
        return Err(ApplyError::BadRequest(
            "the applied configuration must be an object".into(),
        ));
    }
    if config
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|mf| !mf.is_null())
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    check_unique_items(config, opts.types, &mut Vec::new())
        .map_err(|e| ApplyError::Typed(format!("failed to create typed patch object: {e}")))?;

    let mut live_obj = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    // Undecodable managed fields count as none, as in the Update workflow.
    let mut entries = decode_managed_fields(managed_fields_of(&live_obj)).unwrap_or_default();
    remove_managed_fields(&mut live_obj);
    let exists = !crate::util::str_or_empty(&live_obj, &["metadata", "uid"]).is_empty();

    // Upstream skip-non-applied: an object nobody tracked gets its current
    // fields recorded under `before-first-apply` so that apply conflicts on
    // them instead of silently taking them.
    if entries.is_empty() && exists {
        let before = UpdateOptions {
            manager: BEFORE_FIRST_APPLY_MANAGER,
            subresource: opts.subresource,
            api_version: opts.api_version,
            now: opts.now,
            types: opts.types,
            ignored: opts.ignored,
            zero_object: None,
        };
        let empty = Value::Object(Map::new());
        entries = track(
            &empty,
            &live_obj,
            Vec::new(),
            opts.subresource.filter(|s| !s.is_empty()),
            &before,
        )?;
    }

    let mut applier = ManagedFieldsEntry::update(opts.manager, opts.api_version, opts.subresource);
    applier.operation = Operation::Apply;
    let applier_id = applier.identifier();
    let previous = entries
        .iter()
        .rev()
        .find(|e| e.identifier() == applier_id)
        .cloned();
    let last_set = previous
        .as_ref()
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    let config_set = field_set(config, opts.types)?.recursive_difference(opts.ignored);
    let merged = merge_value(Some(&live_obj), config, opts.types, &mut Vec::new())?;

    // Everything owned once this apply is recorded, the applier's new set
    // included (with the identity fields its configuration names).
    let mut managed_all = config_set.clone();
    for e in entries.iter().filter(|e| e.identifier() != applier_id) {
        managed_all = managed_all.union(&e.fields);
    }
    let mut result = prune(merged, &last_set, &managed_all, opts.types)?;

    let cmp = compare(&live_obj, &result, opts.types)?.exclude_fields(opts.ignored);
    let changed = cmp.changed();
    let found = conflicts(&entries, opts.manager, opts.subresource, &changed);
    if !found.is_empty() && !opts.force {
        // Upstream lastAppliedManager: `kubectl apply --server-side` over an
        // object managed by client-side apply may take the fields its
        // last-applied configuration still describes.
        let allowed = if opts.manager == KUBECTL_MANAGER {
            allowed_from_last_applied(&live_obj, opts.types)
        } else {
            None
        };
        let remaining: Vec<Conflict> = match &allowed {
            Some(allowed) => found
                .into_iter()
                .filter(|c| !allowed.contains(&c.path.0))
                .collect(),
            None => found,
        };
        if !remaining.is_empty() {
            return Err(ApplyError::Conflicts(remaining));
        }
    }

    // Ownership: others lose what changed (forced or allowed conflicts) and
    // what is gone; the applier owns exactly its configuration.
    let mut managers: BTreeMap<String, ManagedFieldsEntry> = BTreeMap::new();
    for mut e in entries {
        let id = e.identifier();
        if id == applier_id {
            continue;
        }
        e.fields = e.fields.difference(&changed).difference(&cmp.removed);
        if !e.fields.is_empty() {
            managers.insert(id, e);
        }
    }
    let owned = config_set.difference(stripped_fields());

    strip_nulls(&mut result);
    if opts.manager == KUBECTL_MANAGER {
        update_last_applied(&mut result, config);
    }
    if !owned.is_empty() {
        let unchanged = live_obj == result;
        applier.time = match &previous {
            Some(p) if unchanged && p.fields == owned => p.time.clone(),
            _ => Some(normalize_time(opts.now)),
        };
        applier.fields = owned;
        managers.insert(applier_id, applier);
    }
    cap_update_managers(&mut managers);
    let entries: Vec<ManagedFieldsEntry> = managers.into_values().collect();
    if let Some(meta) = crate::util::ensure_obj(&mut result, &["metadata"]) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), encode_managed_fields(&entries));
        }
    }
    Ok(result)
}

/// Upstream typed conversion of an applied configuration: items of set and
/// map lists must be identifiable and unique.
fn check_unique_items(
    v: &Value,
    types: &dyn ListTypes,
    path: &mut Vec<PathElement>,
) -> Result<(), FieldManagerError> {
    match v {
        Value::Object(m) => {
            if types.map_type(path) == MapType::Atomic {
                return Ok(());
            }
            for (k, child) in m {
                path.push(PathElement::field(k.as_str()));
                let r = check_unique_items(child, types, path);
                path.pop();
                r?;
            }
        }
        Value::Array(items) => {
            let list_type = types.list_type(path);
            if list_type == ListType::Atomic {
                return Ok(());
            }
            let pes = item_elements(&list_type, items, path)?;
            let mut seen = BTreeSet::new();
            for pe in &pes {
                if !seen.insert(pe) {
                    return Err(FieldManagerError::Schema {
                        path: FieldPath(path.clone()).to_string(),
                        message: format!("duplicate entries for key {pe}"),
                    });
                }
            }
            for (pe, item) in pes.iter().zip(items) {
                path.push(pe.clone());
                let r = check_unique_items(item, types, path);
                path.pop();
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Merges `config` into `live` (upstream `TypedValue.Merge`): the
/// configuration wins on every scalar, atomic list and atomic map; maps merge
/// key by key; set and map lists merge item by item, keeping live-only items
/// where they were and shared items in the configuration's order. A `null`
/// in the configuration stays `null` (the caller drops it at the end).
pub fn merge(
    live: &Value,
    config: &Value,
    types: &dyn ListTypes,
) -> Result<Value, FieldManagerError> {
    merge_value(Some(live), config, types, &mut Vec::new())
}

fn merge_value(
    live: Option<&Value>,
    config: &Value,
    types: &dyn ListTypes,
    path: &mut Vec<PathElement>,
) -> Result<Value, FieldManagerError> {
    match (live, config) {
        (Some(Value::Object(l)), Value::Object(c)) if types.map_type(path) != MapType::Atomic => {
            let mut out = l.clone();
            for (k, cv) in c {
                path.push(PathElement::field(k.as_str()));
                let merged = merge_value(l.get(k), cv, types, path);
                path.pop();
                out.insert(k.clone(), merged?);
            }
            Ok(Value::Object(out))
        }
        (Some(Value::Array(l)), Value::Array(c)) => match types.list_type(path) {
            ListType::Atomic => Ok(config.clone()),
            list_type => merge_lists(l, c, &list_type, types, path).map(Value::Array),
        },
        _ => Ok(config.clone()),
    }
}

/// Upstream `mergingWalker.visitListItems`.
fn merge_lists(
    l: &[Value],
    c: &[Value],
    list_type: &ListType,
    types: &dyn ListTypes,
    path: &mut Vec<PathElement>,
) -> Result<Vec<Value>, FieldManagerError> {
    let lpes = item_elements(list_type, l, path)?;
    let cpes = item_elements(list_type, c, path)?;
    // Live items by element; a duplicated element has no single item.
    let mut observed_l: BTreeMap<&PathElement, Option<usize>> = BTreeMap::new();
    for (i, pe) in lpes.iter().enumerate() {
        observed_l
            .entry(pe)
            .and_modify(|slot| *slot = None)
            .or_insert(Some(i));
    }
    let observed_c: BTreeMap<&PathElement, usize> =
        cpes.iter().enumerate().map(|(i, pe)| (pe, i)).collect();
    let mut shared = cpes.iter().filter(|pe| observed_l.contains_key(pe));
    let mut next_shared = shared.next();
    let mut merged_c: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(l.len().max(c.len()));
    let item = |path: &mut Vec<PathElement>,
                pe: &PathElement,
                li: Option<usize>,
                ci: usize|
     -> Result<Value, FieldManagerError> {
        match list_type {
            ListType::Map { .. } => {
                path.push(pe.clone());
                let r = merge_value(li.map(|i| &l[i]), &c[ci], types, path);
                path.pop();
                r
            }
            _ => Ok(c[ci].clone()),
        }
    };
    let (ll, cl) = (lpes.len(), cpes.len());
    let (mut li, mut ci) = (0, 0);
    while li < ll || ci < cl {
        if li < ll && ci < cl {
            let pe = &lpes[li];
            if *pe == cpes[ci] {
                merged_c.insert(pe);
                let lchild = observed_l.get(pe).copied().flatten();
                out.push(item(path, pe, lchild, ci)?);
                li += 1;
                ci += 1;
                next_shared = shared.next();
                continue;
            }
            if observed_c.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < ll {
            let pe = &lpes[li];
            if !observed_c.contains_key(pe) {
                out.push(l[li].clone());
                li += 1;
                continue;
            } else if merged_c.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ci < cl {
            let pe = &cpes[ci];
            merged_c.insert(pe);
            let lchild = observed_l.get(pe).copied().flatten();
            out.push(item(path, pe, lchild, ci)?);
            ci += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
        }
    }
    Ok(out)
}

/// Upstream `Updater.prune` with `addBackOwnedItems` and
/// `addBackDanglingItems`: removes what `last` (the applier's previous set)
/// has and nobody (the applier's new set included) owns.
fn prune(
    merged: Value,
    last: &FieldSet,
    managed: &FieldSet,
    types: &dyn ListTypes,
) -> Result<Value, FieldManagerError> {
    if last.is_empty() {
        return Ok(merged);
    }
    let last = ensure_named(last, types);
    let managed = ensure_named(managed, types);
    if last.difference(&managed).is_empty() {
        return Ok(merged);
    }
    let named_set = |v: &Value| field_set(v, types).map(|s| ensure_named(&s, types));
    let merged_set = named_set(&merged)?;
    let pruned = remove_items(&merged, &last, types, &mut Vec::new());
    let pruned_set = named_set(&pruned)?;
    let pruned = remove_items(
        &merged,
        &merged_set.difference(&pruned_set.union(&managed)),
        types,
        &mut Vec::new(),
    );
    let pruned_set = named_set(&pruned)?;
    Ok(remove_items(
        &merged,
        &merged_set.difference(&pruned_set).intersection(&last),
        types,
        &mut Vec::new(),
    ))
}

/// Upstream `EnsureNamedFieldsAreMembers`: every declared struct field on
/// the way to a member becomes a member itself (map keys and list items are
/// not named fields).
pub fn ensure_named(set: &FieldSet, types: &dyn ListTypes) -> FieldSet {
    let mut out = set.clone();
    fn walk(
        set: &FieldSet,
        types: &dyn ListTypes,
        path: &mut Vec<PathElement>,
        out: &mut FieldSet,
    ) {
        let parent_is_struct = types.map_type(path) == MapType::Fields;
        for (pe, child) in set.children() {
            path.push(pe.clone());
            if parent_is_struct && matches!(pe, PathElement::Field(_)) {
                out.insert(path);
            }
            walk(child, types, path, out);
            path.pop();
        }
    }
    walk(set, types, &mut Vec::new(), &mut out);
    out
}

/// Upstream `RemoveItems`: a copy of `v` without the members of `set` (a
/// removed field or item goes with everything below it).
pub fn remove_items(
    v: &Value,
    set: &FieldSet,
    types: &dyn ListTypes,
    path: &mut Vec<PathElement>,
) -> Value {
    if set.is_empty() {
        return v.clone();
    }
    match v {
        Value::Object(m) => {
            if types.map_type(path) == MapType::Atomic {
                return v.clone();
            }
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::field(k.as_str());
                if set.has_member(&pe) {
                    continue;
                }
                let kept = match set.child(&pe) {
                    Some(sub) => {
                        path.push(pe);
                        let r = remove_items(child, sub, types, path);
                        path.pop();
                        r
                    }
                    None => child.clone(),
                };
                out.insert(k.clone(), kept);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let list_type = types.list_type(path);
            if list_type == ListType::Atomic {
                return v.clone();
            }
            let Ok(pes) = item_elements(&list_type, items, path) else {
                return v.clone();
            };
            let mut out = Vec::with_capacity(items.len());
            for (pe, item) in pes.into_iter().zip(items) {
                if set.has_member(&pe) {
                    continue;
                }
                match set.child(&pe) {
                    Some(sub) => {
                        let sub = sub.clone();
                        path.push(pe);
                        out.push(remove_items(item, &sub, types, path));
                        path.pop();
                    }
                    None => out.push(item.clone()),
                }
            }
            Value::Array(out)
        }
        _ => v.clone(),
    }
}

/// Drops `null` members of objects (a typed decode leaves such fields
/// unset), at any depth.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, child| !child.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Upstream `lastAppliedManager.allowedConflictsFromLastApplied`: the fields
/// of the client-side last-applied configuration whose values the live
/// object still has. `None` without a usable annotation.
fn allowed_from_last_applied(live: &Value, types: &dyn ListTypes) -> Option<FieldSet> {
    let text = live
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if !last.is_object() {
        return None;
    }
    let set = field_set(&last, types).ok()?;
    let cmp = compare(&last, live, types).ok()?;
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// Upstream `lastAppliedUpdater`: when kubectl's server-side apply meets an
/// object that carries a client-side last-applied annotation, the annotation
/// follows the applied configuration (without the annotation itself), so a
/// later client-side apply still computes the right patch.
fn update_last_applied(result: &mut Value, config: &Value) {
    let has = result
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .is_some();
    if !has {
        return;
    }
    let mut last = config.clone();
    if let Some(meta) = last.get_mut("metadata").and_then(Value::as_object_mut) {
        let now_empty = match meta.get_mut("annotations").and_then(Value::as_object_mut) {
            Some(a) => {
                a.remove(LAST_APPLIED_ANNOTATION);
                a.is_empty()
            }
            None => false,
        };
        if now_empty {
            meta.remove("annotations");
        }
    }
    let text = go_json(&last);
    if let Some(a) = result
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        a.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(text));
    }
}
