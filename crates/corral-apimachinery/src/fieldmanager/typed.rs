//! The little schema knowledge field management needs, and the two walks
//! over objects built on it: the set of fields an object sets (upstream
//! `TypedValue.ToFieldSet`) and the difference between two objects (upstream
//! `TypedValue.Compare`).
//!
//! Upstream walks a full OpenAPI-derived schema. Corral only asks the caller
//! the questions that change the result: how a list's items are identified
//! ([`ListType`]) and whether a map is atomic or holds arbitrary keys
//! ([`MapType`]). Everything else is read off the JSON values.

use super::FieldManagerError;
use super::fieldpath::{FieldPath, FieldSet, PathElement, value_eq};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// How a list's items are identified (`x-kubernetes-list-type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// The list is one value, owned and replaced as a whole (the default).
    Atomic,
    /// A set of scalars; items are `v:<value>` elements.
    Set,
    /// A list of objects identified by key fields
    /// (`x-kubernetes-list-map-keys`); items are `k:{...}` elements.
    Map {
        /// The key field names.
        keys: Vec<String>,
    },
}

impl ListType {
    /// A list-map with the given key fields.
    pub fn map(keys: &[&str]) -> ListType {
        ListType::Map {
            keys: keys.iter().map(|k| (*k).to_string()).collect(),
        }
    }
}

/// How an object's keys are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    /// A struct with declared fields (the default): each field is tracked
    /// separately; a field holding a non-empty object is not itself a leaf.
    Fields,
    /// A map with arbitrary keys (`labels`, `data`, `additionalProperties`):
    /// each key is tracked separately and is itself a member of the set.
    Elements,
    /// `x-kubernetes-map-type: atomic`: the whole object is one value.
    Atomic,
}

/// The caller's answers about the type of the object being tracked. Paths
/// are full paths from the object root (use [`schema_path`] to match them
/// against a table). The defaults are the CRD defaults: every list atomic,
/// every map granular with declared fields.
pub trait ListTypes {
    /// The type of the list at `path`.
    fn list_type(&self, path: &[PathElement]) -> ListType {
        let _ = path;
        ListType::Atomic
    }

    /// The type of the object at `path`.
    fn map_type(&self, path: &[PathElement]) -> MapType {
        let _ = path;
        MapType::Fields
    }
}

/// The CRD defaults plus what every object shares through `ObjectMeta`
/// (wherever a `metadata` field appears): `finalizers` is a set,
/// `ownerReferences` a list-map keyed by `uid`, `labels` and `annotations`
/// maps of arbitrary keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultListTypes;

impl DefaultListTypes {
    fn meta_field(path: &[PathElement]) -> Option<&str> {
        match path {
            [.., PathElement::Field(m), PathElement::Field(f)] if m == "metadata" => Some(f),
            _ => None,
        }
    }
}

impl ListTypes for DefaultListTypes {
    fn list_type(&self, path: &[PathElement]) -> ListType {
        match DefaultListTypes::meta_field(path) {
            Some("finalizers") => ListType::Set,
            Some("ownerReferences") => ListType::map(&["uid"]),
            _ => ListType::Atomic,
        }
    }

    fn map_type(&self, path: &[PathElement]) -> MapType {
        match DefaultListTypes::meta_field(path) {
            Some("labels" | "annotations") => MapType::Elements,
            _ => MapType::Fields,
        }
    }
}

/// A table of list and map types keyed by [`schema_path`]
/// (`"spec.template.spec.containers"`, `"spec.ports"`), falling back to
/// [`DefaultListTypes`]: how built-in kinds describe themselves.
#[derive(Clone, Debug, Default)]
pub struct TypeTable {
    lists: HashMap<String, ListType>,
    maps: HashMap<String, MapType>,
}

impl TypeTable {
    /// An empty table (everything falls back to [`DefaultListTypes`]).
    pub fn new() -> TypeTable {
        TypeTable::default()
    }

    /// Declares the list at `path`.
    pub fn list(mut self, path: &str, list_type: ListType) -> TypeTable {
        self.lists.insert(path.to_string(), list_type);
        self
    }

    /// Declares the object at `path`.
    pub fn map(mut self, path: &str, map_type: MapType) -> TypeTable {
        self.maps.insert(path.to_string(), map_type);
        self
    }
}

impl ListTypes for TypeTable {
    fn list_type(&self, path: &[PathElement]) -> ListType {
        match self.lists.get(&schema_path(path)) {
            Some(t) => t.clone(),
            None => DefaultListTypes.list_type(path),
        }
    }

    fn map_type(&self, path: &[PathElement]) -> MapType {
        match self.maps.get(&schema_path(path)) {
            Some(t) => *t,
            None => DefaultListTypes.map_type(path),
        }
    }
}

/// The schema-level name of a path: field names joined with `.`, list items
/// written `[]` (`spec.containers[].ports`), so one entry covers every item.
pub fn schema_path(path: &[PathElement]) -> String {
    let mut out = String::new();
    for pe in path {
        match pe {
            PathElement::Field(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            _ => out.push_str("[]"),
        }
    }
    out
}

/// The result of [`compare`]: which fields the new object added, changed or
/// removed. No path is in more than one set, except list items that turn
/// into or out of duplicates (upstream marks those both ways).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Fields only in the new object.
    pub added: FieldSet,
    /// Leaf fields in both objects with different values.
    pub modified: FieldSet,
    /// Fields only in the old object.
    pub removed: FieldSet,
}

impl Comparison {
    /// Whether nothing changed.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Added and modified fields: what a writer takes ownership of, and what
    /// an apply conflicts on.
    pub fn changed(&self) -> FieldSet {
        self.modified.union(&self.added)
    }

    /// Drops `fields` and everything below them from all three sets
    /// (upstream `ExcludeFields`), e.g. `status` for a main-resource update.
    pub fn exclude_fields(self, fields: &FieldSet) -> Comparison {
        if fields.is_empty() {
            return self;
        }
        Comparison {
            added: self.added.recursive_difference(fields),
            modified: self.modified.recursive_difference(fields),
            removed: self.removed.recursive_difference(fields),
        }
    }
}

/// The fields set by `obj` (upstream `ToFieldSet`): every scalar, every
/// atomic list or map, every list item (and its fields), every key of an
/// [`MapType::Elements`] map, and fields holding `null` or `{}`. A struct
/// field holding a non-empty object is not itself a member. An item whose
/// key occurs more than once is recorded once, as a leaf.
pub fn field_set(obj: &Value, types: &dyn ListTypes) -> Result<FieldSet, FieldManagerError> {
    let mut w = SetWalker {
        types,
        path: Vec::new(),
        set: FieldSet::new(),
    };
    w.walk(obj)?;
    Ok(w.set)
}

struct SetWalker<'a> {
    types: &'a dyn ListTypes,
    path: Vec<PathElement>,
    set: FieldSet,
}

impl SetWalker<'_> {
    fn walk(&mut self, v: &Value) -> Result<(), FieldManagerError> {
        match v {
            Value::Object(m) => {
                let map_type = self.types.map_type(&self.path);
                if map_type == MapType::Atomic {
                    self.set.insert(&self.path);
                    return Ok(());
                }
                for (k, child) in m {
                    self.path.push(PathElement::field(k.as_str()));
                    self.walk(child)?;
                    let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                    if empty || map_type == MapType::Elements {
                        self.set.insert(&self.path);
                    }
                    self.path.pop();
                }
            }
            Value::Array(items) => {
                let list_type = self.types.list_type(&self.path);
                if list_type == ListType::Atomic {
                    self.set.insert(&self.path);
                    return Ok(());
                }
                let pes = item_elements(&list_type, items, &self.path)?;
                let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
                for pe in &pes {
                    *counts.entry(pe).or_default() += 1;
                }
                for (pe, item) in pes.iter().zip(items) {
                    self.path.push(pe.clone());
                    // A duplicated item cannot be told apart from its twin:
                    // record it once, as a whole.
                    if counts.get(pe).copied().unwrap_or(0) < 2 {
                        self.walk(item)?;
                    }
                    self.set.insert(&self.path);
                    self.path.pop();
                }
            }
            _ => self.set.insert(&self.path),
        }
        Ok(())
    }
}

/// The path element of every item of a `Set` or `Map` list, with upstream's
/// errors for items that cannot be identified.
pub(crate) fn item_elements(
    list_type: &ListType,
    items: &[Value],
    path: &[PathElement],
) -> Result<Vec<PathElement>, FieldManagerError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item_element(list_type, item).map_err(|message| FieldManagerError::Schema {
                path: FieldPath(path.to_vec()).to_string(),
                message: format!("element {i}: {message}"),
            })
        })
        .collect()
}

fn item_element(list_type: &ListType, item: &Value) -> Result<PathElement, String> {
    match list_type {
        ListType::Map { keys } => {
            let obj = match item {
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into());
                }
                Value::Object(m) => m,
                _ => {
                    return Err("associative list with keys may not have non-map elements".into());
                }
            };
            let mut fields = Vec::with_capacity(keys.len());
            for k in keys {
                match obj.get(k) {
                    Some(v) => fields.push((k.clone(), v.clone())),
                    None => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {} (and doesn't have default value)",
                            crate::util::go_quote(k)
                        ));
                    }
                }
            }
            Ok(PathElement::key(fields))
        }
        ListType::Set | ListType::Atomic => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            v => Ok(PathElement::Value(v.clone())),
        },
    }
}

/// Compares two versions of an object (upstream `Compare`). Leaves (scalars,
/// atomic lists and maps, and lists or maps empty on both sides) are
/// modified when their values differ; containers appear only when they are
/// added or removed as a whole. A list item whose key is duplicated is
/// compared as one atomic value.
pub fn compare(
    old: &Value,
    new: &Value,
    types: &dyn ListTypes,
) -> Result<Comparison, FieldManagerError> {
    let mut w = CompareWalker {
        types,
        path: Vec::new(),
        out: Comparison::default(),
    };
    w.node(Some(old), Some(new))?;
    Ok(w.out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    List,
    Map,
}

/// The kind of a value; `None` for absent or null, which take the kind of
/// the other side (a typed schema gives `null` the field's own type).
fn kind_of(v: Option<&Value>) -> Option<Kind> {
    match v? {
        Value::Null => None,
        Value::Object(_) => Some(Kind::Map),
        Value::Array(_) => Some(Kind::List),
        _ => Some(Kind::Scalar),
    }
}

struct CompareWalker<'a> {
    types: &'a dyn ListTypes,
    path: Vec<PathElement>,
    out: Comparison,
}

impl CompareWalker<'_> {
    fn node(&mut self, lhs: Option<&Value>, rhs: Option<&Value>) -> Result<(), FieldManagerError> {
        if let (Some(l), Some(r)) = (lhs, rhs)
            && l == r
        {
            // Identical subtrees have nothing to report, however large.
            return Ok(());
        }
        let (kl, kr) = (kind_of(lhs), kind_of(rhs));
        let mut in_leaf = false;
        match (kl, kr) {
            (Some(a), Some(b)) if a != b => {
                // Both sides present with different shapes: upstream handles
                // each side with its own shape; only the second one's leaf
                // flag counts.
                let mut first = false;
                self.handle(a, lhs, rhs, &mut first)?;
                self.handle(b, lhs, rhs, &mut in_leaf)?;
            }
            _ => {
                let kind = kr.or(kl).unwrap_or(Kind::Scalar);
                self.handle(kind, lhs, rhs, &mut in_leaf)?;
            }
        }
        if !in_leaf {
            if lhs.is_none() {
                self.out.added.insert(&self.path);
            } else if rhs.is_none() {
                self.out.removed.insert(&self.path);
            }
        }
        Ok(())
    }

    fn leaf(&mut self, lhs: Option<&Value>, rhs: Option<&Value>, in_leaf: &mut bool) {
        if *in_leaf {
            return;
        }
        *in_leaf = true;
        match (lhs, rhs) {
            (None, _) => self.out.added.insert(&self.path),
            (_, None) => self.out.removed.insert(&self.path),
            (Some(l), Some(r)) if !value_eq(l, r) => self.out.modified.insert(&self.path),
            _ => {}
        }
    }

    fn handle(
        &mut self,
        kind: Kind,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        in_leaf: &mut bool,
    ) -> Result<(), FieldManagerError> {
        match kind {
            Kind::Scalar => self.leaf(lhs, rhs, in_leaf),
            Kind::Map => {
                let lm = lhs.and_then(Value::as_object);
                let rm = rhs.and_then(Value::as_object);
                let both_empty = lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty);
                if both_empty || self.types.map_type(&self.path) == MapType::Atomic {
                    self.leaf(lhs, rhs, in_leaf);
                } else {
                    self.map_items(lm, rm)?;
                }
            }
            Kind::List => {
                let la = lhs.and_then(Value::as_array);
                let ra = rhs.and_then(Value::as_array);
                let both_empty = la.is_none_or(Vec::is_empty) && ra.is_none_or(Vec::is_empty);
                let list_type = self.types.list_type(&self.path);
                if both_empty || list_type == ListType::Atomic {
                    self.leaf(lhs, rhs, in_leaf);
                } else {
                    self.list_items(&list_type, la, ra)?;
                }
            }
        }
        Ok(())
    }

    fn map_items(
        &mut self,
        lm: Option<&Map<String, Value>>,
        rm: Option<&Map<String, Value>>,
    ) -> Result<(), FieldManagerError> {
        let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
        if let Some(r) = rm {
            keys.extend(r.keys().filter(|k| !lm.is_some_and(|l| l.contains_key(*k))));
        }
        for k in keys {
            self.path.push(PathElement::field(k.as_str()));
            let res = self.node(lm.and_then(|m| m.get(k)), rm.and_then(|m| m.get(k)));
            self.path.pop();
            res?;
        }
        Ok(())
    }

    fn list_items(
        &mut self,
        list_type: &ListType,
        la: Option<&Vec<Value>>,
        ra: Option<&Vec<Value>>,
    ) -> Result<(), FieldManagerError> {
        let empty = Vec::new();
        let (la, ra) = (la.unwrap_or(&empty), ra.unwrap_or(&empty));
        let lpes = item_elements(list_type, la, &self.path)?;
        let rpes = item_elements(list_type, ra, &self.path)?;
        let mut groups: BTreeMap<&PathElement, (Vec<&Value>, Vec<&Value>)> = BTreeMap::new();
        for (pe, item) in lpes.iter().zip(la) {
            groups.entry(pe).or_default().0.push(item);
        }
        for (pe, item) in rpes.iter().zip(ra) {
            groups.entry(pe).or_default().1.push(item);
        }
        for (pe, (l, r)) in groups {
            self.path.push(pe.clone());
            let res = self.list_item(&l, &r);
            self.path.pop();
            res?;
        }
        Ok(())
    }

    /// One list element, given every occurrence of its key on each side.
    fn list_item(&mut self, l: &[&Value], r: &[&Value]) -> Result<(), FieldManagerError> {
        match (l.len(), r.len()) {
            (0..=1, 0..=1) => self.node(l.first().copied(), r.first().copied())?,
            (2.., 2..) => {
                let same = l.len() == r.len() && l.iter().zip(r).all(|(a, b)| value_eq(a, b));
                if !same {
                    self.out.modified.insert(&self.path);
                }
            }
            (2.., _) => {
                // Duplicates resolved: the surviving item is new, the
                // duplicated element is gone.
                if let Some(item) = r.first() {
                    self.node(None, Some(item))?;
                }
                self.out.removed.insert(&self.path);
            }
            (_, _) => {
                if let Some(item) = l.first() {
                    self.node(Some(item), None)?;
                }
                self.out.added.insert(&self.path);
            }
        }
        Ok(())
    }
}
