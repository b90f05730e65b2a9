//! apiextensions.k8s.io/v1 CustomResourceDefinition: the object itself (its
//! custom resources get their rules from `crate::crd` at runtime).

use super::TypeRules;
use crate::crd;
use crate::table::Column;
use crate::util::get_str;
use crate::validation::{FieldError, NameRule};
use serde_json::Value;

/// CustomResourceDefinition: upstream's strategy (generation, storedVersions,
/// status only through `/status`), validation, and the `CREATED AT` column.
pub struct CustomResourceDefinitionRules;

static COLUMNS: &[Column] = &[
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: crate::table::NAME_DESCRIPTION,
        priority: 0,
    },
    Column {
        name: "Created At",
        type_: "date",
        format: "",
        description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
        priority: 0,
    },
];

impl TypeRules for CustomResourceDefinitionRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        false
    }

    fn apply_defaults(&self, obj: &mut Value) {
        crd::defaults_crd(obj);
    }

    fn default_on_create(&self, obj: &mut Value) {
        crd::prepare_crd_for_create(obj);
        crd::defaults_crd(obj);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        crd::defaults_crd(new);
        crd::prepare_crd_for_update(new, old);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        crd::validate_crd(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        crd::validate_crd_update(new, old)
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        // Upstream prints the creation time itself here, not an age.
        vec![
            Value::from(get_str(obj, &["metadata", "name"]).unwrap_or("")),
            Value::from(get_str(obj, &["metadata", "creationTimestamp"]).unwrap_or("")),
        ]
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn has_status_subresource(&self) -> bool {
        true
    }
}
