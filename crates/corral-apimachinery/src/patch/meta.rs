//! Patch metadata: the shape of a kind as far as strategic merge patch cares,
//! i.e. upstream's Go struct tags `patchStrategy` / `patchMergeKey` (also
//! published as `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`
//! in the OpenAPI document).
//!
//! A schema only needs to describe the paths that lead to a list with a
//! strategy: everything not described is [`PatchSchema::Opaque`] and gets JSON
//! merge patch semantics (objects merge recursively, lists are replaced), which
//! is exactly upstream's default for fields without a tag. The tables are
//! `const` data built from the small constructors below, so describing a new
//! kind is adding data (see `kinds.rs`), never engine code.

/// How a list field is patched (upstream `patchStrategy` on a slice field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// No `patchStrategy` (upstream's default, `listType=atomic`): the
    /// patch's list replaces the original one.
    Replace,
    /// `patchStrategy:"merge"` without a merge key: a set of primitives
    /// (e.g. `metadata.finalizers`). The patch's values are added (no
    /// duplicates), `$deleteFromPrimitiveList/<field>` removes values.
    MergeSet,
    /// `patchStrategy:"merge" patchMergeKey:"<key>"`: objects matched on
    /// `key` are merged, unmatched ones added, `{"$patch": "delete", key: v}`
    /// removes entries (e.g. containers by `name`).
    MergeByKey(&'static str),
}

/// The type tree of a kind, with its patch strategies.
#[derive(Debug, Clone, Copy)]
pub enum PatchSchema {
    /// A Go struct: its described fields. Fields not listed are
    /// [`PatchSchema::Opaque`].
    Object(&'static [PatchField]),
    /// A Go `map[string]T`: every value has the given schema.
    Map(&'static PatchSchema),
    /// A Go slice: the element schema and how the list is patched.
    List(&'static PatchSchema, ListStrategy),
    /// `patchStrategy:"replace"` on a struct or map: the patch value replaces
    /// the original value as a whole instead of being merged into it.
    Atomic,
    /// A scalar (string, number, bool).
    Primitive,
    /// Nothing known: JSON merge patch semantics (RFC 7386) — objects merge,
    /// `null` deletes, lists are replaced. Patch directives are still honoured
    /// and never stored.
    Opaque,
}

/// One field of a [`PatchSchema::Object`].
#[derive(Debug, Clone, Copy)]
pub struct PatchField {
    /// The JSON field name.
    pub name: &'static str,
    /// The field's value schema (list strategy included).
    pub schema: PatchSchema,
    /// `patchStrategy` contains `retainKeys` (e.g. `DeploymentSpec.strategy`,
    /// `PodSpec.volumes` with `merge,retainKeys`). Applying a patch honours a
    /// `$retainKeys` directive wherever it appears, as upstream does, so this
    /// flag does not change [`strategic_merge`](super::strategic::strategic_merge);
    /// it records the tag for patch generation (diff) and documentation.
    pub retain_keys: bool,
}

/// A value nothing is known about: JSON merge patch semantics.
pub const OPAQUE: PatchSchema = PatchSchema::Opaque;
/// A scalar value.
pub const PRIMITIVE: PatchSchema = PatchSchema::Primitive;
/// `map[string]string` (labels, annotations, ConfigMap data, ...).
pub const STRING_MAP: PatchSchema = PatchSchema::Map(&PRIMITIVE);
/// A list without `patchStrategy`: replaced as a whole.
pub const ATOMIC_LIST: PatchSchema = PatchSchema::List(&OPAQUE, ListStrategy::Replace);
/// A list of primitives with `patchStrategy:"merge"` (no merge key).
pub const PRIMITIVE_SET: PatchSchema = PatchSchema::List(&PRIMITIVE, ListStrategy::MergeSet);

/// A list of objects with `patchStrategy:"merge" patchMergeKey:"<key>"`.
pub const fn merge_by(key: &'static str, items: &'static PatchSchema) -> PatchSchema {
    PatchSchema::List(items, ListStrategy::MergeByKey(key))
}

/// A field of an object.
pub const fn field(name: &'static str, schema: PatchSchema) -> PatchField {
    PatchField {
        name,
        schema,
        retain_keys: false,
    }
}

impl PatchField {
    /// Marks the field's `patchStrategy` as including `retainKeys`.
    pub const fn retain_keys(self) -> PatchField {
        PatchField {
            retain_keys: true,
            ..self
        }
    }
}

impl PatchSchema {
    /// The described field `name` of an object, if any.
    pub fn field_info(&self, name: &str) -> Option<&'static PatchField> {
        match *self {
            PatchSchema::Object(fields) => fields.iter().find(|f| f.name == name),
            _ => None,
        }
    }

    /// The schema of the value under `name`: the field's schema for an
    /// object, the value schema for a map, [`PatchSchema::Opaque`] otherwise
    /// (unknown paths fall back to JSON merge patch).
    pub fn field_schema(&self, name: &str) -> &'static PatchSchema {
        match *self {
            PatchSchema::Object(fields) => fields
                .iter()
                .find(|f| f.name == name)
                .map_or(&OPAQUE, |f| &f.schema),
            PatchSchema::Map(values) => values,
            _ => &OPAQUE,
        }
    }

    /// The element schema and strategy when this is a list; a replaced list
    /// of unknown elements otherwise (a value described as something else but
    /// sent as a list is replaced, like any untagged list).
    pub fn list_parts(&self) -> (&'static PatchSchema, ListStrategy) {
        match *self {
            PatchSchema::List(items, strategy) => (items, strategy),
            _ => (&OPAQUE, ListStrategy::Replace),
        }
    }
}

/// The patch schema of a built-in kind (`group` is "" for core/v1), or `None`
/// for kinds not described (the server should then refuse strategic merge
/// patch, as kube-apiserver does for custom resources: 415).
pub fn schema_for(group: &str, kind: &str) -> Option<&'static PatchSchema> {
    super::kinds::schema_for(group, kind)
}

pub use super::kinds::KINDS;
