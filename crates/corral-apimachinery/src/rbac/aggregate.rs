//! ClusterRole aggregation (upstream clusterrole-aggregation controller).

use serde_json::Value;

use super::{PolicyRule, rules_from_json};
use crate::labels::Selector;

fn name_of(obj: &Value) -> &str {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The rules an aggregated ClusterRole should have, as the upstream
/// controller computes them: for each `aggregationRule.clusterRoleSelectors`
/// entry in order, the ClusterRoles whose labels it selects, sorted by name,
/// skipping the aggregating role itself; their rules in order, each rule
/// once (exact equality, empty = null).
///
/// A ClusterRole without `aggregationRule`, or with a selector that does not
/// parse, keeps its current rules (upstream leaves it untouched).
/// ClusterRoles whose `rules` are malformed contribute nothing.
pub fn aggregate_rules(aggregating: &Value, all_cluster_roles: &[Value]) -> Vec<PolicyRule> {
    let current = || rules_from_json(aggregating.get("rules")).unwrap_or_default();
    let selectors = match aggregating.get("aggregationRule") {
        None | Some(Value::Null) => return current(),
        Some(rule) => match rule.get("clusterRoleSelectors") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let parsed: Result<Vec<Selector>, _> = items
                    .iter()
                    .map(|s| match s {
                        // A null entry decodes to an empty LabelSelector upstream: everything.
                        Value::Null => Ok(Selector::everything()),
                        s => Selector::from_label_selector(s),
                    })
                    .collect();
                match parsed {
                    Ok(p) => p,
                    Err(_) => return current(),
                }
            }
            Some(_) => return current(),
        },
    };
    let own_name = name_of(aggregating);
    let mut out: Vec<PolicyRule> = Vec::new();
    for selector in &selectors {
        let mut selected: Vec<&Value> = all_cluster_roles
            .iter()
            .filter(|cr| {
                let labels = cr
                    .get("metadata")
                    .and_then(|m| m.get("labels"))
                    .and_then(Value::as_object);
                selector.matches(labels)
            })
            .collect();
        selected.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        for cr in selected {
            if name_of(cr) == own_name {
                continue;
            }
            let Some(rules) = rules_from_json(cr.get("rules")) else {
                continue;
            };
            for rule in rules {
                if !out.contains(&rule) {
                    out.push(rule);
                }
            }
        }
    }
    out
}
