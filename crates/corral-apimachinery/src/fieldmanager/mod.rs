//! Field management: who owns which fields of an object, recorded in
//! `metadata.managedFields` (upstream `sigs.k8s.io/structured-merge-diff` and
//! `k8s.io/apimachinery/pkg/util/managedfields`).
//!
//! * [`fieldpath`]: paths, sets of paths and the FieldsV1 format.
//! * [`typed`]: the list/map types the caller supplies, the field set of an
//!   object and the comparison of two objects.
//! * [`managed`]: managedFields entries and the Update workflow run on every
//!   create, update and non-apply patch.
//! * [`apply`]: server-side apply: merging an applied configuration,
//!   pruning what its manager stopped applying, ownership and conflicts.
//! * [`conflict`]: apply conflicts and their messages.
//! * [`structural_types`]: list and map types of custom resources.
//!
//! Everything is pure: times come in as arguments.

pub mod apply;
pub mod builtin_types;
pub mod conflict;
mod created;
pub mod fieldpath;
pub mod managed;
pub mod structural_types;
pub mod typed;

pub use apply::{ApplyError, ApplyOptions, apply};
pub use builtin_types::BuiltinListTypes;
pub use conflict::{Conflict, conflict_message, conflict_status, conflicts};
pub use fieldpath::{FieldPath, FieldSet, PathElement};
pub use managed::{
    ManagedFieldsEntry, Operation, UpdateOptions, decode_managed_fields, encode_managed_fields,
    revert_timestamp_only_changes, update_managed_fields, validate_managed_fields,
};
pub use structural_types::StructuralListTypes;
pub use typed::{
    Comparison, DefaultListTypes, ListType, ListTypes, MapType, TypeTable, compare, field_set,
    schema_path,
};

use crate::validation::FieldError;

/// Upstream `FieldManagerMaxLength`, in bytes.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// Why field management failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldManagerError {
    /// A FieldsV1 document is malformed.
    #[error("{0}")]
    FieldsV1(String),
    /// `metadata.managedFields` cannot be decoded (upstream's
    /// `DecodeManagedFields` messages).
    #[error("{0}")]
    Decode(String),
    /// An object does not fit its list types, e.g. a list-map item without
    /// its key field.
    #[error("{path}: {message}")]
    Schema {
        /// Where, displayed like a field path (`.spec.ports`).
        path: String,
        /// What is wrong (`element 0: ...`).
        message: String,
    },
}

/// The field manager used when a request names none (upstream
/// `prefixFromUserAgent`): the User-Agent up to its first `/`, without
/// non-printable characters, cut to 128 bytes on a character boundary.
/// `kubectl/v1.37.0 (linux/amd64) kubernetes/abc` gives `kubectl`.
pub fn default_manager(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("");
    // Nearly every user agent is printable ASCII: no per-character check.
    if prefix.len() <= FIELD_MANAGER_MAX_LENGTH
        && prefix.bytes().all(|b| (b' '..=b'~').contains(&b))
    {
        return prefix.to_string();
    }
    let mut out = String::new();
    for c in prefix.chars().filter(|c| is_go_print(*c)) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// Upstream `ValidateFieldManager` for the `fieldManager` parameter (path
/// `fieldManager`) or an entry's manager: at most 128 bytes, every
/// character printable. Empty is valid (it gets defaulted).
pub fn validate_field_manager(manager: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(FieldError::too_long(path, FIELD_MANAGER_MAX_LENGTH));
    }
    for (i, c) in manager.char_indices() {
        if !is_go_print(c) {
            errs.push(FieldError::invalid(
                path,
                manager,
                format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    errs
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols
/// and the ASCII space. Approximated without Unicode tables: controls,
/// other spaces, format characters, surrogates' neighbours, private use and
/// noncharacters are rejected; unassigned code points are accepted.
fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF | 0xE000..=0xF8FF
        | 0xE0001 | 0xE0020..=0xE007F | 0xF0000..=0x10FFFF)
}
