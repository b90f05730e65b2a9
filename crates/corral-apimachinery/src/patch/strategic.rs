//! The strategic merge patch engine: applies a patch to an object the way
//! kube-apiserver does for `application/strategic-merge-patch+json`
//! (upstream `strategicpatch.StrategicMergeMapPatch`: the server-side "apply"
//! direction, parallel lists merged, nulls for absent fields ignored).
//!
//! Semantics, in the order upstream's `mergeMap` applies them to each object:
//! 1. `$patch: replace` makes the patch object the result, `$patch: delete`
//!    makes it `{}` (an absent field stays absent), any other value is an error;
//! 2. `$retainKeys: [...]` drops the original's fields not listed (the patch
//!    must not set unlisted fields);
//! 3. `$setElementOrder/<list>: [...]` merges `<list>` and then orders it;
//! 4. every other field: `null` deletes, `$deleteFromPrimitiveList/<list>`
//!    removes values, objects merge recursively, lists follow their
//!    [`ListStrategy`], anything else (or a change of JSON type) replaces.
//!
//! Values added where the original has nothing are the patch values with
//! their directives applied against an empty original (so they never leak
//! into the stored object) and their nulls dropped.
//!
//! The order of a merged list follows upstream's `normalizeElementOrder`:
//! items named by the patch (or by `$setElementOrder`) keep that order,
//! the others keep their original order, and the two runs are interleaved by
//! original position — so an item that is new goes before the original items
//! that follow it in the patch, as kubectl users see (the docs' redis
//! container lands first).

pub use super::error::PatchError;
use super::error::{GO_MAP, GO_SLICE, go_s, go_type, go_v_list, go_v_map};
use super::meta::{ListStrategy, PatchSchema};
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

type Object = Map<String, Value>;

/// Applies the strategic merge `patch` to `original` as described by
/// `schema` (see [`schema_for`](super::meta::schema_for)) and returns the
/// patched object. Neither input is modified; the result is deterministic.
///
/// `original` must be a JSON object (or null, read as `{}`), `patch` a JSON
/// object (null is an empty patch). Directives (`$patch`, `$retainKeys`,
/// `$setElementOrder/...`, `$deleteFromPrimitiveList/...`) never appear in
/// the result.
pub fn strategic_merge(
    original: &Value,
    patch: &Value,
    schema: &PatchSchema,
) -> Result<Value, PatchError> {
    let original = match original {
        Value::Object(m) => m.clone(),
        Value::Null => Object::new(),
        _ => return Err(PatchError::BadJsonDoc),
    };
    let patch = match patch {
        Value::Object(m) => m,
        Value::Null => return Ok(Value::Object(original)),
        _ => return Err(PatchError::BadJsonDoc),
    };
    let merged = merge_map(original, patch, schema, true)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// Merges `patch` into `original`. `present` says whether the original value
/// exists: a `$patch: delete` object then becomes `{}` (upstream), while for
/// a value being added it means "add nothing" (`None`).
fn merge_map(
    original: Object,
    patch: &Object,
    schema: &PatchSchema,
    present: bool,
) -> Result<Option<Object>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            // The patch object itself, its own directives applied.
            Some("replace") => merge_fields(Object::new(), patch, schema).map(Some),
            Some("delete") => Ok(present.then(Object::new)),
            _ => Err(unknown_patch_type(directive, patch)),
        };
    }
    merge_fields(original, patch, schema).map(Some)
}

/// Steps 2–4 of the module docs. A `$patch` key in `patch` has been dealt
/// with by the caller and is skipped.
fn merge_fields(
    mut original: Object,
    patch: &Object,
    schema: &PatchSchema,
) -> Result<Object, PatchError> {
    apply_retain_keys(&mut original, patch)?;
    let ordered = apply_element_orders(&mut original, patch, schema)?;
    for (key, value) in patch {
        if key == DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(SET_ELEMENT_ORDER)
            || ordered.contains(&key.as_str())
        {
            continue;
        }
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_primitive_list(&mut original, key, value)?;
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let merged = merge_value(original.remove(key), value, schema.field_schema(key))?;
        if let Some(merged) = merged {
            original.insert(key.clone(), merged);
        }
    }
    Ok(original)
}

/// One field: recurse when both sides are objects (unless the field is
/// atomic) or both are lists; otherwise the patch value replaces.
fn merge_value(
    original: Option<Value>,
    patch: &Value,
    schema: &PatchSchema,
) -> Result<Option<Value>, PatchError> {
    match (original, patch) {
        (Some(Value::Object(o)), Value::Object(p)) if !matches!(schema, PatchSchema::Atomic) => {
            Ok(merge_map(o, p, schema, true)?.map(Value::Object))
        }
        (Some(Value::Array(o)), Value::Array(p)) => {
            Ok(Some(Value::Array(merge_list(o, p, schema)?)))
        }
        (_, patch) => clean(patch, schema),
    }
}

/// A patch value that lands where the original has nothing (or something of
/// another type, or an atomic field): its directives are applied against an
/// empty original and its nulls dropped.
fn clean(patch: &Value, schema: &PatchSchema) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Object(p) => Ok(merge_map(Object::new(), p, schema, false)?.map(Value::Object)),
        Value::Array(p) => Ok(Some(Value::Array(clean_list(p, schema.list_parts().0)?))),
        other => Ok(Some(other.clone())),
    }
}

/// A list taken from the patch as is: list-level markers
/// (`{"$patch": "replace"}`, `{"$patch": "delete", ...}`) have nothing to act
/// on and are dropped; object elements are cleaned.
fn clean_list(patch: &[Value], items: &PatchSchema) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(patch.len());
    for element in patch {
        let Value::Object(m) = element else {
            out.push(element.clone());
            continue;
        };
        match m.get(DIRECTIVE) {
            None => {
                if let Some(cleaned) = merge_map(Object::new(), m, items, false)? {
                    out.push(Value::Object(cleaned));
                }
            }
            Some(d) => check_list_directive(d, m)?,
        }
    }
    Ok(out)
}

/// Validates the `$patch` value of a list element: `delete` and `replace`
/// are list directives, `merge` is refused like upstream does.
fn check_list_directive(directive: &Value, element: &Object) -> Result<(), PatchError> {
    match directive.as_str() {
        Some("delete") | Some("replace") => Ok(()),
        Some("merge") => Err(PatchError::MergeDirectiveInList),
        _ => Err(unknown_patch_type(directive, element)),
    }
}

/// `$retainKeys`: a list of field names; the original keeps only those, and
/// the patch may set (non-null) only those.
fn apply_retain_keys(original: &mut Object, patch: &Object) -> Result<(), PatchError> {
    let Some(retain) = patch.get(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(names) = retain else {
        return Err(PatchError::BadRetainKeys);
    };
    let mut keep = Vec::with_capacity(names.len());
    for name in names {
        let Value::String(name) = name else {
            return Err(PatchError::BadRetainKeys);
        };
        keep.push(name.as_str());
    }
    for (key, value) in patch {
        let directive = key == DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER);
        if !directive && !value.is_null() && !keep.contains(&key.as_str()) {
            return Err(PatchError::BadRetainKeys);
        }
    }
    original.retain(|key, _| keep.contains(&key.as_str()));
    Ok(())
}

/// `$deleteFromPrimitiveList/<field>: [values]` removes every occurrence of
/// the values from the list `<field>` (nothing when it is absent).
fn delete_from_primitive_list(
    original: &mut Object,
    key: &str,
    value: &Value,
) -> Result<(), PatchError> {
    let field =
        directive_target(key, DELETE_FROM_PRIMITIVE_LIST).ok_or(PatchError::BadPrimitiveList)?;
    let Value::Array(doomed) = value else {
        return Err(PatchError::BadPrimitiveList);
    };
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|v| !doomed.contains(v));
    }
    Ok(())
}

/// `<prefix>/<field>` -> `<field>` (upstream `extractKey`).
fn directive_target<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Some(field),
        _ => None,
    }
}

/// Step 3: every `$setElementOrder/<field>` merges `<field>` (when the patch
/// has it) and orders the result. Returns the fields done, which the main
/// loop must not merge again.
fn apply_element_orders<'p>(
    original: &mut Object,
    patch: &'p Object,
    schema: &PatchSchema,
) -> Result<Vec<&'p str>, PatchError> {
    let mut done = Vec::new();
    for (key, order) in patch {
        if !key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        let Value::Array(order) = order else {
            return Err(bad_arg(GO_SLICE, order));
        };
        let field =
            directive_target(key, SET_ELEMENT_ORDER).ok_or(PatchError::BadSetElementOrder)?;
        let original_list = match original.get(field) {
            None => None,
            Some(Value::Array(list)) => Some(list),
            Some(other) => return Err(bad_arg(GO_SLICE, other)),
        };
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(list)) => Some(list.as_slice()),
            Some(other) => return Err(bad_arg(GO_SLICE, other)),
        };
        let field_schema = schema.field_schema(field);
        let (items, strategy) = field_schema.list_parts();
        let ident = Ident::for_strategy(strategy);
        check_order(patch_list.unwrap_or_default(), order, ident)?;
        if strategy == ListStrategy::Replace {
            // Only merging lists have an order to set: a replaced list is
            // the patch's list, in the patch's order (left to the main loop).
            continue;
        }
        let server_ids = match original_list {
            Some(list) => identities(list, ident)?,
            None => Vec::new(),
        };
        let merged = match (original.remove(field), patch_list) {
            (Some(Value::Array(o)), None) => o,
            (Some(Value::Array(o)), Some(p)) => merge_list(o, p, field_schema)?,
            (_, Some(p)) => clean_list(p, items)?,
            (_, None) => continue,
        };
        let order_ids = order
            .iter()
            .map(|item| ident.of(item))
            .collect::<Result<Vec<_>, _>>()?;
        let ordered = reorder(merged, &order_ids, &server_ids, ident)?;
        original.insert(field.to_string(), Value::Array(ordered));
        done.push(field);
    }
    Ok(done)
}

/// Upstream `validatePatchWithSetOrderList`: the patch's items (directive
/// items aside) must appear in the order list, in the same relative order.
fn check_order(patch_list: &[Value], order: &[Value], ident: Ident) -> Result<(), PatchError> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut named = Vec::with_capacity(patch_list.len());
    for item in patch_list {
        match item {
            Value::Object(m) if m.contains_key(DIRECTIVE) => {}
            Value::Object(_) => named.push(item),
            _ if matches!(ident, Ident::Key(_)) => return Err(bad_arg(GO_MAP, item)),
            _ => named.push(item),
        }
    }
    let (mut p, mut o) = (0, 0);
    while p < named.len() && o < order.len() {
        if ident.of(named[p])? == ident.of(&order[o])? {
            p += 1;
        }
        o += 1;
    }
    if p < named.len() {
        return Err(PatchError::OrderMismatch {
            patch: go_v_list(patch_list),
            order: go_v_list(order),
        });
    }
    Ok(())
}

/// Merges two lists per the field's strategy (upstream `mergeSlice`).
fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    schema: &PatchSchema,
) -> Result<Vec<Value>, PatchError> {
    let (items, strategy) = schema.list_parts();
    if strategy == ListStrategy::Replace {
        return clean_list(patch, items);
    }
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let objects = elements_are_objects(&original, patch)?;
    let ident = Ident::for_strategy(strategy);
    if !objects {
        // A set: the union without duplicates (the original's own duplicates
        // go too), then ordered.
        let server_ids = identities(&original, ident)?;
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.into_iter().chain(patch.iter().cloned()) {
            if !merged.contains(&v) {
                merged.push(v);
            }
        }
        let patch_ids: Vec<&Value> = patch.iter().collect();
        return reorder(merged, &patch_ids, &server_ids, ident);
    }
    let ListStrategy::MergeByKey(key) = strategy else {
        return Err(PatchError::MergeWithoutKey("map"));
    };
    merge_objects_by_key(original, patch, items, key)
}

/// Lists of objects merged on `key`: list directives first (`delete` removes
/// every entry with the key's value, `replace` makes the patch's other items
/// the whole list), then each item merges into the first original entry with
/// the same key value or is added.
fn merge_objects_by_key(
    mut list: Vec<Value>,
    patch: &[Value],
    items: &PatchSchema,
    key: &str,
) -> Result<Vec<Value>, PatchError> {
    let mut plain: Vec<&Object> = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(m) = item else {
            return Err(bad_arg(GO_MAP, item));
        };
        let Some(directive) = m.get(DIRECTIVE) else {
            plain.push(m);
            continue;
        };
        check_list_directive(directive, m)?;
        if directive.as_str() == Some("replace") {
            replace = true;
        } else {
            let doomed = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
            list.retain(|entry| entry.get(key) != Some(doomed));
        }
    }
    if replace {
        let mut out = Vec::with_capacity(plain.len());
        for m in plain {
            if let Some(cleaned) = merge_map(Object::new(), m, items, false)? {
                out.push(Value::Object(cleaned));
            }
        }
        return Ok(out);
    }
    let ident = Ident::Key(key);
    // Positions after deletions and before additions order the result.
    let server_ids = identities(&list, ident)?;
    for m in &plain {
        let wanted = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
        match list.iter().position(|entry| entry.get(key) == Some(wanted)) {
            Some(i) => {
                let merged = match std::mem::take(&mut list[i]) {
                    Value::Object(entry) => merge_map(entry, m, items, true)?,
                    _ => merge_map(Object::new(), m, items, true)?,
                };
                list[i] = Value::Object(merged.unwrap_or_default());
            }
            None => {
                if let Some(added) = merge_map(Object::new(), m, items, false)? {
                    list.push(Value::Object(added));
                }
            }
        }
    }
    // Every plain item has the key (checked above).
    let named: Vec<&Value> = plain.iter().filter_map(|m| m.get(key)).collect();
    reorder(list, &named, &server_ids, ident)
}

/// Whether the elements of both lists are objects (`false`: scalars), after
/// upstream's checks that they share one type and are not lists.
fn elements_are_objects(original: &[Value], patch: &[Value]) -> Result<bool, PatchError> {
    let class = |v: &Value| match v {
        Value::Object(_) => 0,
        Value::String(_) => 1,
        Value::Number(_) => 2,
        Value::Bool(_) => 3,
        Value::Null => 4,
        Value::Array(_) => 5,
    };
    let mut first = None;
    for v in original.iter().chain(patch) {
        let c = class(v);
        if c == 5 {
            return Err(PatchError::ListOfLists);
        }
        match first {
            None => first = Some(c),
            Some(f) if f != c => {
                let both = [
                    Value::Array(original.to_vec()),
                    Value::Array(patch.to_vec()),
                ];
                return Err(PatchError::MixedElementTypes(go_v_list(&both)));
            }
            Some(_) => {}
        }
    }
    Ok(first == Some(0))
}

/// What identifies a list item: its merge key's value, or (sets) itself.
#[derive(Clone, Copy)]
enum Ident<'k> {
    Key(&'k str),
    Value,
}

impl<'k> Ident<'k> {
    fn for_strategy(strategy: ListStrategy) -> Ident<'static> {
        match strategy {
            ListStrategy::MergeByKey(key) => Ident::Key(key),
            _ => Ident::Value,
        }
    }

    fn of(self, item: &Value) -> Result<&Value, PatchError> {
        match (self, item) {
            (Ident::Value, _) => Ok(item),
            (Ident::Key(key), Value::Object(m)) => m.get(key).ok_or_else(|| no_merge_key(m, key)),
            (Ident::Key(_), other) => Err(bad_arg(GO_MAP, other)),
        }
    }
}

fn identities(list: &[Value], ident: Ident) -> Result<Vec<Value>, PatchError> {
    list.iter().map(|item| ident.of(item).cloned()).collect()
}

/// Upstream `normalizeElementOrder` + `mergeSortedSlice`: the items of
/// `merged` whose identity is in `wanted_ids` come in that order, the others
/// in their order in the original (`server_ids`), and the two runs are
/// interleaved: an original item goes first only when both it and the next
/// wanted item are in the original and it was before that item.
fn reorder(
    merged: Vec<Value>,
    wanted_ids: &[&Value],
    server_ids: &[Value],
    ident: Ident,
) -> Result<Vec<Value>, PatchError> {
    // (rank in its run, position in the original, item)
    let mut named: Vec<(usize, Option<usize>, Value)> = Vec::new();
    let mut others: Vec<(usize, Option<usize>, Value)> = Vec::new();
    for item in merged {
        let id = ident.of(&item)?;
        let in_server = server_ids.iter().position(|s| s == id);
        match wanted_ids.iter().position(|w| *w == id) {
            Some(rank) => named.push((rank, in_server, item)),
            None => others.push((in_server.unwrap_or(usize::MAX), in_server, item)),
        }
    }
    // Stable: equal ranks (duplicates) keep their relative order.
    named.sort_by_key(|entry| entry.0);
    others.sort_by_key(|entry| entry.0);
    let mut out = Vec::with_capacity(named.len() + others.len());
    let mut left = others.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => matches!((l.1, r.1), (Some(a), Some(b)) if a < b),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((_, _, item)) = next {
            out.push(item);
        }
    }
    Ok(out)
}

fn unknown_patch_type(directive: &Value, map: &Object) -> PatchError {
    PatchError::UnknownPatchType {
        patch_type: go_s(directive),
        map: go_v_map(map),
    }
}

fn no_merge_key(map: &Object, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        map: go_v_map(map),
        key: key.to_string(),
    }
}

fn bad_arg(expected: &'static str, actual: &Value) -> PatchError {
    PatchError::BadArgType {
        expected,
        actual: go_type(actual),
    }
}
