//! The FieldsV1 of a new object's writer, built in one walk.
//!
//! On create every field the object sets is added, so the writer's entry is
//! `compare({}, obj).added` minus the ignored (reset) fields and the fields
//! nobody owns ([`super::managed::stripped_fields`]). Computing that through
//! [`FieldSet`] builds the trie, copies it once per set operation and then
//! serializes it; creates are the most frequent write, so this module walks
//! the object once and writes the FieldsV1 JSON directly, consulting the
//! ignored and stripped tries alongside. The result equals the generic path
//! (a test below compares both over varied objects).

use super::FieldManagerError;
use super::fieldpath::{FieldSet, PathElement, field_key};
use super::typed::{ListType, ListTypes, MapType, item_elements};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The FieldsV1 value (`{"f:data":{".":{},"f:k":{}}}`) of the fields `obj`
/// sets, without `ignored` (and everything below it) and without the members
/// of `stripped` (their children stay). `None` when the generic path must
/// decide: the root is not a non-empty object, or the kind declares its
/// root atomic.
pub(crate) fn created_fields_v1(
    obj: &Value,
    types: &dyn ListTypes,
    ignored: &FieldSet,
    stripped: &FieldSet,
) -> Option<Result<Map<String, Value>, FieldManagerError>> {
    let root = obj.as_object().filter(|m| !m.is_empty())?;
    if types.map_type(&[]) == MapType::Atomic {
        return None;
    }
    let mut walker = Walker {
        types,
        path: Vec::new(),
    };
    let mut out = Map::new();
    let result = walker
        .object_fields(root, Some(ignored), Some(stripped), &mut out)
        .map(|()| out);
    Some(result)
}

struct Walker<'a> {
    types: &'a dyn ListTypes,
    path: Vec<PathElement>,
}

impl Walker<'_> {
    fn object_fields(
        &mut self,
        fields: &Map<String, Value>,
        ignored: Option<&FieldSet>,
        stripped: Option<&FieldSet>,
        out: &mut Map<String, Value>,
    ) -> Result<(), FieldManagerError> {
        for (name, child) in fields {
            self.field(name, child, ignored, stripped, out)?;
        }
        Ok(())
    }

    /// [`Walker::element`] for the field `name`: the sets are searched by
    /// name, and a leaf (most fields) is written without entering the path.
    fn field(
        &mut self,
        name: &str,
        value: &Value,
        ignored: Option<&FieldSet>,
        stripped: Option<&FieldSet>,
        out: &mut Map<String, Value>,
    ) -> Result<(), FieldManagerError> {
        if !is_leaf(value) {
            return self.element(PathElement::field(name), value, ignored, stripped, out);
        }
        if ignored.is_some_and(|set| set.has_field_member(name))
            || stripped.is_some_and(|set| set.has_field_member(name))
        {
            return Ok(());
        }
        out.insert(field_key(name), Value::Object(Map::new()));
        Ok(())
    }

    /// Writes the entry of `value`, reached through `pe`, into `out`: the
    /// element is added (a member) and so is everything below it.
    fn element(
        &mut self,
        pe: PathElement,
        value: &Value,
        ignored: Option<&FieldSet>,
        stripped: Option<&FieldSet>,
        out: &mut Map<String, Value>,
    ) -> Result<(), FieldManagerError> {
        if ignored.is_some_and(|set| set.has_member(&pe)) {
            return Ok(());
        }
        let child_ignored = ignored.and_then(|set| set.child(&pe));
        let child_stripped = stripped.and_then(|set| set.child(&pe));
        let is_member = !stripped.is_some_and(|set| set.has_member(&pe));
        let key = pe.serialize();
        self.path.push(pe);
        let mut below = Map::new();
        let walked = self.below(value, child_ignored, child_stripped, &mut below);
        self.path.pop();
        walked?;
        if below.is_empty() {
            if is_member {
                out.insert(key, Value::Object(Map::new()));
            }
        } else {
            if is_member {
                below.insert(".".to_string(), Value::Object(Map::new()));
            }
            out.insert(key, Value::Object(below));
        }
        Ok(())
    }

    /// The entries below the value at `self.path`: none for leaves (scalars,
    /// null, empty or atomic containers).
    fn below(
        &mut self,
        value: &Value,
        ignored: Option<&FieldSet>,
        stripped: Option<&FieldSet>,
        out: &mut Map<String, Value>,
    ) -> Result<(), FieldManagerError> {
        match value {
            Value::Object(fields) if !fields.is_empty() => {
                if self.types.map_type(&self.path) == MapType::Atomic {
                    return Ok(());
                }
                self.object_fields(fields, ignored, stripped, out)
            }
            Value::Array(items) if !items.is_empty() => {
                let list_type = self.types.list_type(&self.path);
                if list_type == ListType::Atomic {
                    return Ok(());
                }
                let elements = item_elements(&list_type, items, &self.path)?;
                // An element whose key occurs more than once cannot be told
                // apart from its twin: it is recorded once, as a leaf.
                let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
                for pe in &elements {
                    *counts.entry(pe).or_default() += 1;
                }
                let duplicated: Vec<bool> = elements
                    .iter()
                    .map(|pe| counts.get(pe).copied().unwrap_or(0) > 1)
                    .collect();
                drop(counts);
                for ((pe, item), duplicated) in elements.into_iter().zip(items).zip(duplicated) {
                    if duplicated {
                        self.element(pe, &Value::Null, ignored, stripped, out)?;
                    } else {
                        self.element(pe, item, ignored, stripped, out)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A value with nothing below it whatever its type says: a scalar, null or
/// an empty container. (A non-empty atomic container is also a leaf, but
/// telling that needs its path.)
fn is_leaf(value: &Value) -> bool {
    match value {
        Value::Object(fields) => fields.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fieldmanager::managed::stripped_fields;
    use crate::fieldmanager::typed::{DefaultListTypes, TypeTable, compare};
    use serde_json::json;

    fn generic(obj: &Value, types: &dyn ListTypes, ignored: &FieldSet) -> Value {
        compare(&json!({}), obj, types)
            .expect("compare")
            .exclude_fields(ignored)
            .added
            .recursive_difference(ignored)
            .difference(stripped_fields())
            .to_fields_v1()
    }

    fn direct(obj: &Value, types: &dyn ListTypes, ignored: &FieldSet) -> Value {
        let map = created_fields_v1(obj, types, ignored, stripped_fields())
            .expect("a non-empty object")
            .expect("walk");
        Value::Object(map)
    }

    #[test]
    fn equals_the_generic_comparison() {
        let table = TypeTable::new()
            .list("spec.containers", ListType::map(&["name"]))
            .list(
                "spec.containers[].ports",
                ListType::map(&["containerPort", "protocol"]),
            )
            .list("spec.hosts", ListType::Set)
            .map("spec.selector", MapType::Atomic)
            .map("data", MapType::Elements);
        let objects = [
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "a", "namespace": "b", "uid": "u",
                                "labels": {"x": "1", "y": ""}, "annotations": {},
                                "finalizers": ["f1", "f2"],
                                "ownerReferences": [{"uid": "o1", "name": "n", "kind": "K"}]},
                   "data": {"k1": "v", "k2": ""}, "immutable": true}),
            json!({"metadata": {"name": "p", "generation": 3, "creationTimestamp": null},
                   "spec": {"containers": [
                                {"name": "c", "image": "i",
                                 "ports": [{"containerPort": 80, "protocol": "TCP"},
                                           {"containerPort": 81, "protocol": "TCP", "name": "x"}]},
                                {"name": "d", "env": [{"name": "E", "value": "1"}]}],
                            "hosts": ["a", "b", "a"],
                            "selector": {"matchLabels": {"app": "x"}},
                            "empty": {}, "nothing": null, "list": [], "atomic": [1, 2]},
                   "status": {"phase": "Running", "conditions": [{"type": "Ready"}]}}),
            json!({"spec": {"containers": [{"name": "dup", "image": "1"},
                                           {"name": "dup", "image": "2"},
                                           {"name": "one", "resources": {}}]},
                   "metadata": {"labels": {"a": "b"}}}),
            json!({"metadata": {"name": "only-stripped", "resourceVersion": "1"}}),
            json!({"kind": "X", "data": {"nested": {"deep": {"deeper": 1}}}}),
        ];
        let ignored_sets = [
            FieldSet::new(),
            FieldSet::from_dotted(&["status"]),
            FieldSet::from_dotted(&["spec", "metadata.labels"]),
            FieldSet::from_dotted(&["spec.containers", "data.nested.deep"]),
            // Leaves and containers beside each other, at every depth.
            FieldSet::from_dotted(&[
                "immutable",
                "kind",
                "metadata.name",
                "data.k1",
                "spec.hosts",
            ]),
        ];
        for obj in &objects {
            for ignored in &ignored_sets {
                for types in [&table as &dyn ListTypes, &DefaultListTypes] {
                    assert_eq!(
                        direct(obj, types, ignored),
                        generic(obj, types, ignored),
                        "object {obj} ignoring {:?}",
                        ignored.paths()
                    );
                }
            }
        }
    }

    #[test]
    fn unidentifiable_items_are_the_same_error() {
        let table = TypeTable::new().list("spec.items", ListType::map(&["name"]));
        let obj = json!({"spec": {"items": [{"name": "a"}, {"value": 1}]}});
        let direct_err = created_fields_v1(&obj, &table, &FieldSet::new(), stripped_fields())
            .expect("a non-empty object")
            .expect_err("an item without its key");
        let generic_err = compare(&json!({}), &obj, &table).expect_err("same object");
        assert_eq!(direct_err.to_string(), generic_err.to_string());
    }

    #[test]
    fn the_generic_path_decides_empty_and_non_object_roots() {
        for obj in [json!({}), json!([]), json!("x")] {
            assert!(
                created_fields_v1(&obj, &DefaultListTypes, &FieldSet::new(), stripped_fields())
                    .is_none()
            );
        }
    }
}
