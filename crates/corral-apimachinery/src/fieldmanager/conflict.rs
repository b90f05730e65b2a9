//! Apply conflicts (upstream `merge.Conflict` and the API server's
//! `NewConflictError`): which other managers own fields an apply would
//! change, and the 409 message and Status built from them.

use super::fieldpath::{FieldPath, FieldSet};
use super::managed::{ManagedFieldsEntry, Operation};
use crate::util::go_quote;
use serde_json::{Value, json};

/// A field an apply would change that another manager owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager's name.
    pub manager: String,
    /// How the owner wrote the field.
    pub operation: Operation,
    /// The owner's API version.
    pub api_version: String,
    /// The owner's subresource, if any.
    pub subresource: Option<String>,
    /// The conflicting field.
    pub path: FieldPath,
}

impl Conflict {
    fn owner(&self) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: self.manager.clone(),
            operation: self.operation,
            api_version: self.api_version.clone(),
            time: None,
            fields_type: super::managed::FIELDS_V1.to_string(),
            fields: FieldSet::new(),
            subresource: self.subresource.clone(),
        }
    }

    /// Upstream `printManager`: `"name"` for an applier, `"name" using v1`
    /// for an updater, with ` with subresource "status"` after the name
    /// when there is one.
    pub fn manager_description(&self) -> String {
        let mut s = go_quote(&self.manager);
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            s.push_str(&format!(" with subresource {}", go_quote(sub)));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// The conflicts of an apply by `manager` (through `subresource`) that
/// changes `changed` (the added and modified fields of the comparison
/// between the live object and the merged result): every field of
/// `changed` owned by another entry. The applier's own Apply entry never
/// conflicts; its Update entries do, as upstream. Ordered by owner
/// identifier, then path.
pub fn conflicts(
    managers: &[ManagedFieldsEntry],
    manager: &str,
    subresource: Option<&str>,
    changed: &FieldSet,
) -> Vec<Conflict> {
    let mut applier = ManagedFieldsEntry::update(manager, "", subresource);
    applier.operation = Operation::Apply;
    let me = applier.identifier();
    let mut owners: Vec<(String, &ManagedFieldsEntry)> = managers
        .iter()
        .map(|e| (e.identifier(), e))
        .filter(|(id, _)| *id != me)
        .collect();
    owners.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (_, owner) in owners {
        for path in owner.fields.intersection(changed).paths() {
            out.push(Conflict {
                manager: owner.manager.clone(),
                operation: owner.operation,
                api_version: owner.api_version.clone(),
                subresource: owner.subresource.clone(),
                path,
            });
        }
    }
    out
}

/// Upstream's conflict message: `Apply failed with 1 conflict: conflict
/// with "m" using v1: .data.key`, or for several, one `conflicts with ...:`
/// line per owner (sorted by identifier) followed by `- <path>` lines.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_description(),
            only.path
        );
    }
    let mut groups: Vec<(String, &Conflict, Vec<&FieldPath>)> = Vec::new();
    for c in conflicts {
        let id = c.owner().identifier();
        match groups.iter_mut().find(|g| g.0 == id) {
            Some(g) => g.2.push(&c.path),
            None => groups.push((id, c, vec![&c.path])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (_, c, paths) in groups {
        lines.push(format!("conflicts with {}:", c.manager_description()));
        lines.extend(paths.iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The 409 `Status` upstream returns for apply conflicts
/// (`NewApplyConflict`): reason `Conflict`, one `FieldManagerConflict`
/// cause per conflict.
pub fn conflict_status(conflicts: &[Conflict]) -> Value {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", c.manager_description()),
                "field": c.path.to_string(),
            })
        })
        .collect();
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": conflict_message(conflicts),
        "reason": "Conflict",
        "details": {"causes": causes},
        "code": 409
    })
}
