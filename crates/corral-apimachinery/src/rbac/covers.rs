//! Escalation prevention: upstream `Covers` (component-helpers
//! policy_comparator), `CompactRules`, `CompactString` and the
//! `ConfirmNoEscalation` message.

use std::collections::{BTreeSet, HashMap};

use super::{
    API_GROUP_ALL, PolicyRule, RESOURCE_ALL, UserInfo, VERB_ALL, non_resource_url_matches,
};
use crate::util::go_quote;

/// Upstream `BreakdownRule`: one rule per (group, resource, verb[, name]) and
/// per (URL, verb).
fn breakdown(rule: &PolicyRule, out: &mut Vec<PolicyRule>) {
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    verbs: vec![verb.clone()],
                    api_groups: vec![group.clone()],
                    resources: vec![resource.clone()],
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(base);
                } else {
                    for name in &rule.resource_names {
                        let mut r = base.clone();
                        r.resource_names = vec![name.clone()];
                        out.push(r);
                    }
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                verbs: vec![verb.clone()],
                non_resource_urls: vec![url.clone()],
                ..PolicyRule::default()
            });
        }
    }
}

fn has(set: &[String], ele: &str) -> bool {
    set.iter().any(|s| s == ele)
}

fn has_all(set: &[String], contains: &[String]) -> bool {
    contains.iter().all(|c| has(set, c))
}

fn resource_covers_all(owner: &[String], requested: &[String]) -> bool {
    if has(owner, RESOURCE_ALL) || has_all(owner, requested) {
        return true;
    }
    requested.iter().all(|path| {
        if has(owner, path) {
            return true;
        }
        match path.split_once('/') {
            // A subresource is covered by "*/<subresource>".
            Some((_, sub)) => owner.iter().any(|o| o.strip_prefix("*/") == Some(sub)),
            None => false,
        }
    })
}

fn non_resource_urls_cover_all(owner: &[String], requested: &[String]) -> bool {
    requested
        .iter()
        .all(|path| owner.iter().any(|o| non_resource_url_matches(o, path)))
}

/// Upstream `ruleCovers`: does `owner` cover the broken-down `sub`?
fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, VERB_ALL) || has_all(&owner.verbs, &sub.verbs);
    let groups =
        has(&owner.api_groups, API_GROUP_ALL) || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls = non_resource_urls_cover_all(&owner.non_resource_urls, &sub.non_resource_urls);
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && names && urls
}

/// Upstream `Covers`: whether `owner` covers every permission of
/// `requested`, and the broken-down rules it does not cover. `"*"` in the
/// owner covers anything; an enumeration never covers a requested `"*"`.
pub fn covers(owner: &[PolicyRule], requested: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let mut subrules = Vec::new();
    for rule in requested {
        breakdown(rule, &mut subrules);
    }
    let uncovered: Vec<PolicyRule> = subrules
        .into_iter()
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect();
    (uncovered.is_empty(), uncovered)
}

/// Upstream `CompactRules`: rules with exactly one API group and one
/// resource and nothing but verbs are merged per (group, resource).
fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut compacted = Vec::with_capacity(rules.len());
    let mut simple: HashMap<(&str, &str), PolicyRule> = HashMap::new();
    let mut simple_order = Vec::new();
    for rule in rules {
        let is_simple = rule.resource_names.is_empty()
            && rule.non_resource_urls.is_empty()
            && rule.api_groups.len() == 1
            && rule.resources.len() == 1;
        if is_simple {
            let key = (rule.api_groups[0].as_str(), rule.resources[0].as_str());
            match simple.get_mut(&key) {
                Some(existing) => existing.verbs.extend(rule.verbs.iter().cloned()),
                None => {
                    simple.insert(key, rule.clone());
                    simple_order.push(key);
                }
            }
        } else {
            compacted.push(rule.clone());
        }
    }
    for key in simple_order {
        if let Some(rule) = simple.remove(&key) {
            compacted.push(rule);
        }
    }
    compacted
}

fn go_string_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Upstream `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "list"]}`.
pub fn compact_string(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    if !rule.api_groups.is_empty() {
        parts.push(format!("APIGroups:{}", go_string_slice(&rule.api_groups)));
    }
    if !rule.resources.is_empty() {
        parts.push(format!("Resources:{}", go_string_slice(&rule.resources)));
    }
    if !rule.non_resource_urls.is_empty() {
        parts.push(format!(
            "NonResourceURLs:{}",
            go_string_slice(&rule.non_resource_urls)
        ));
    }
    if !rule.resource_names.is_empty() {
        parts.push(format!(
            "ResourceNames:{}",
            go_string_slice(&rule.resource_names)
        ));
    }
    if !rule.verbs.is_empty() {
        parts.push(format!("Verbs:{}", go_string_slice(&rule.verbs)));
    }
    format!("{{{}}}", parts.join(", "))
}

/// The upstream `ConfirmNoEscalation` check on already-resolved owner rules.
pub(crate) fn confirm(
    user: &UserInfo,
    owner: &[PolicyRule],
    resolution_errors: &[String],
    requested: &[PolicyRule],
) -> Result<(), String> {
    let (ok, missing) = covers(owner, requested);
    if ok {
        return Ok(());
    }
    let descriptions: BTreeSet<String> =
        compact_rules(&missing).iter().map(compact_string).collect();
    let mut msg = format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        go_quote(&user.name),
        go_string_slice(&user.groups),
        descriptions.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !resolution_errors.is_empty() {
        // Upstream formats a []error holding one aggregate error with %v.
        msg.push_str(&format!(
            "; resolution errors: [{}]",
            aggregate_error(resolution_errors)
        ));
    }
    Err(msg)
}

/// Upstream `utilerrors.NewAggregate(errs).Error()`: one message as is,
/// several (deduplicated) as `[a, b]`.
pub(crate) fn aggregate_error(errors: &[String]) -> String {
    if errors.len() == 1 {
        return errors[0].clone();
    }
    let mut seen = BTreeSet::new();
    let mut unique = Vec::new();
    for e in errors {
        if seen.insert(e.as_str()) {
            unique.push(e.as_str());
        }
    }
    if unique.len() == 1 {
        unique[0].to_string()
    } else {
        format!("[{}]", unique.join(", "))
    }
}
