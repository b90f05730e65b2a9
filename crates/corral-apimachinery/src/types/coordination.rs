//! coordination.k8s.io/v1 Lease.

use super::{TypeRules, col};
use crate::table::Column;
use crate::util::{get, get_str};
use crate::validation::{FieldError, NameRule, is_qualified_name};
use serde_json::Value;

/// Upstream's known coordinated lease strategies.
const LEASE_STRATEGIES: &[&str] = &["OldestEmulationVersion"];

/// Lease: HOLDER column; `spec.leaseDurationSeconds` > 0 and
/// `spec.leaseTransitions` >= 0 when set; `spec.strategy` known or a
/// qualified name with a prefix; `spec.preferredHolder` needs a strategy.
pub struct LeaseRules;

fn int_field(spec: &Value, key: &str, path: &str, out: &mut Vec<FieldError>) -> Option<i64> {
    match get(spec, &[key]) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(n),
            None => {
                out.push(FieldError::type_invalid(
                    path,
                    v.clone(),
                    "must be an integer",
                ));
                None
            }
        },
    }
}

impl TypeRules for LeaseRules {
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Subdomain
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        let spec = get(obj, &["spec"]).cloned().unwrap_or(Value::Null);
        let dur_path = "spec.leaseDurationSeconds";
        if let Some(d) = int_field(&spec, "leaseDurationSeconds", dur_path, &mut out)
            && d <= 0
        {
            out.push(FieldError::invalid(dur_path, d, "must be greater than 0"));
        }
        let tr_path = "spec.leaseTransitions";
        if let Some(t) = int_field(&spec, "leaseTransitions", tr_path, &mut out)
            && t < 0
        {
            out.push(FieldError::invalid(
                tr_path,
                t,
                "must be greater than or equal to 0",
            ));
        }
        let strategy = get_str(&spec, &["strategy"]);
        if let Some(s) = strategy {
            // Upstream nests the path once more: spec.strategy.strategy.
            let path = "spec.strategy.strategy";
            if s.contains('/') {
                for msg in is_qualified_name(s) {
                    out.push(FieldError::invalid(path, s, msg));
                }
            } else if !LEASE_STRATEGIES.contains(&s) {
                out.push(FieldError::not_supported(path, s, LEASE_STRATEGIES));
            }
        }
        let preferred = get_str(&spec, &["preferredHolder"]).unwrap_or("");
        if !preferred.is_empty() && strategy.unwrap_or("").is_empty() {
            out.push(FieldError::forbidden(
                "spec.preferredHolder",
                "may only be specified if `strategy` is defined",
            ));
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[col(
            "Holder",
            "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
        )];
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        vec![Value::from(
            get_str(obj, &["spec", "holderIdentity"]).unwrap_or(""),
        )]
    }
}
