//! List and map types of built-in kinds, read from the strategic-merge patch
//! metadata: upstream derives both from the same struct tags, so a list
//! merged by key is a list-map on that key, a merged list of scalars is a
//! set, and anything else is atomic.

use super::fieldpath::PathElement;
use super::typed::{DefaultListTypes, ListType, ListTypes, MapType};
use crate::patch::meta::{ListStrategy, PatchSchema};

/// [`ListTypes`] of a built-in kind.
pub struct BuiltinListTypes(pub &'static PatchSchema);

impl BuiltinListTypes {
    /// The schema at `path`, `None` once the path leaves what is described.
    fn schema_at(&self, path: &[PathElement]) -> Option<&'static PatchSchema> {
        let mut cur = self.0;
        for el in path {
            cur = match (el, cur) {
                (PathElement::Field(name), PatchSchema::Object(_)) => cur.field_schema(name),
                (PathElement::Field(_), PatchSchema::Map(values)) => values,
                (
                    PathElement::Key(_) | PathElement::Value(_) | PathElement::Index(_),
                    PatchSchema::List(items, _),
                ) => items,
                _ => return None,
            };
        }
        Some(cur)
    }
}

impl ListTypes for BuiltinListTypes {
    fn list_type(&self, path: &[PathElement]) -> ListType {
        match self.schema_at(path) {
            Some(PatchSchema::List(_, strategy)) => match strategy {
                ListStrategy::Replace => ListType::Atomic,
                ListStrategy::MergeSet => ListType::Set,
                ListStrategy::MergeByKey(key) => ListType::Map {
                    keys: vec![(*key).to_string()],
                },
            },
            Some(_) => ListType::Atomic,
            // Beyond the described part (e.g. an Opaque field): ObjectMeta
            // rules still apply wherever metadata appears.
            None => DefaultListTypes.list_type(path),
        }
    }

    fn map_type(&self, path: &[PathElement]) -> MapType {
        match self.schema_at(path) {
            Some(PatchSchema::Map(_)) => MapType::Elements,
            Some(PatchSchema::Atomic) => MapType::Atomic,
            Some(PatchSchema::Object(_)) => MapType::Fields,
            _ => DefaultListTypes.map_type(path),
        }
    }
}
