//! List and map types of custom resources, read from the CRD's structural
//! schema as upstream's type converter does: `x-kubernetes-list-type`
//! (`atomic`, the default; `set`; `map` keyed by
//! `x-kubernetes-list-map-keys`), `x-kubernetes-map-type: atomic`, and
//! `additionalProperties` maps whose keys are elements rather than declared
//! fields. `metadata` keeps the ObjectMeta rules of [`DefaultListTypes`].

use super::fieldpath::PathElement;
use super::typed::{DefaultListTypes, ListType, ListTypes, MapType};
use crate::crd::Structural;

/// [`ListTypes`] of a custom resource with a structural schema.
pub struct StructuralListTypes<'a>(pub &'a Structural);

impl StructuralListTypes<'_> {
    /// The schema at `path`; `None` inside the root `metadata` (ObjectMeta
    /// rules apply there) or once the path leaves what the schema describes.
    fn schema_at(&self, path: &[PathElement]) -> Option<&Structural> {
        if matches!(path.first(), Some(PathElement::Field(f)) if f == "metadata") {
            return None;
        }
        let mut cur = self.0;
        for el in path {
            cur = match el {
                PathElement::Field(name) => cur.field_schema(name)?,
                _ => cur.items.as_deref()?,
            };
        }
        Some(cur)
    }
}

impl ListTypes for StructuralListTypes<'_> {
    fn list_type(&self, path: &[PathElement]) -> ListType {
        match self.schema_at(path) {
            Some(s) => match s.list_type.as_deref() {
                Some("set") => ListType::Set,
                Some("map") => ListType::Map {
                    keys: s.list_map_keys.clone(),
                },
                _ => ListType::Atomic,
            },
            None => DefaultListTypes.list_type(path),
        }
    }

    fn map_type(&self, path: &[PathElement]) -> MapType {
        match self.schema_at(path) {
            Some(s) if s.map_type.as_deref() == Some("atomic") => MapType::Atomic,
            Some(s) if s.properties.is_empty() && s.additional_properties.is_some() => {
                MapType::Elements
            }
            Some(_) => MapType::Fields,
            None => DefaultListTypes.map_type(path),
        }
    }
}
