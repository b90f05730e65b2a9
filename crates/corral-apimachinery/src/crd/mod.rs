//! CustomResourceDefinitions, as kube-apiserver's apiextensions server
//! implements them, over `serde_json::Value`:
//!
//! - [`Structural`]: a parsed `openAPIV3Schema`, checked against the
//!   structural-schema rules ([`Structural::parse`]);
//! - [`validate`]: a custom resource against its schema, with upstream's
//!   paths and messages;
//! - [`apply_defaults`] and [`prune`]: structural defaulting and pruning;
//! - [`validate_crd`] / [`validate_crd_update`] / [`defaults_crd`] and the
//!   create/update preparation of CRD objects;
//! - [`CrdInfo`]: the typed view the server registers endpoints from;
//! - [`JsonPath`], [`PrinterColumn`], [`ScaleSpec`]: printer columns and
//!   the scale subresource.
//!
//! Not reproduced: CEL `x-kubernetes-validations` rules (kept, never
//! evaluated), webhook conversion, ratcheting of unchanged invalid values.

mod defaults;
mod definition;
mod embedded;
mod formats;
mod info;
mod invariants;
mod jsonpath;
mod lifecycle;
mod listtype;
mod names;
mod pattern;
mod printer;
mod prune;
mod render;
mod scale;
mod schema_rules;
mod spec_parts;
mod structural;
mod validate;

pub use defaults::apply_defaults;
pub use definition::{validate_crd, validate_crd_update};
pub use info::{CrdInfo, CrdVersionInfo};
pub use jsonpath::{JsonPath, JsonPathError};
pub use lifecycle::{
    defaults_crd, is_established, mark_established, prepare_crd_for_create, prepare_crd_for_update,
};
pub use names::is_dns1035_label;
pub use pattern::Pattern;
pub use printer::{PrinterColumn, column_definitions, row_cells};
pub use prune::prune;
pub use scale::ScaleSpec;
pub use structural::{AdditionalProperties, DEFAULT_SCHEMA_PATH, MAX_SCHEMA_DEPTH, Structural};
pub use validate::validate;
