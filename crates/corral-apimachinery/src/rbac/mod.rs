//! Kubernetes RBAC authorization, as kube-apiserver's RBAC authorizer means
//! it: rule matching (`RuleAllows`), subject matching, the rule resolver
//! behind `Authorize` / `RulesFor` (SelfSubjectRulesReview), escalation
//! prevention (`Covers` / `ConfirmNoEscalation`), ClusterRole aggregation and
//! the bootstrap policy of a fresh cluster.
//!
//! Pure: objects come in as Kubernetes JSON (`serde_json::Value`) and
//! decisions go out as values. [`RbacIndex`] is fed incrementally (from
//! watches) and answers by subject, so the cost of a decision does not grow
//! with the total number of bindings.
//!
//! Upstream semantics kept on purpose:
//! * RBAC never denies: when nothing allows, the decision is `NoOpinion`
//!   (its reason lists the role-resolution errors, as upstream).
//! * Resource matching knows `"*"`, exact `"res"` / `"res/sub"` and
//!   `"*/sub"`; a rule resource `"pods/*"` is *not* a wildcard upstream (it
//!   only matches a literal subresource named `*`).
//! * Non-resource URL rules match exactly, or by prefix when the rule URL
//!   ends in `*`.
//! * A binding to a missing role contributes nothing and is reported.

mod aggregate;
mod bootstrap;
mod covers;
mod index;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

pub use aggregate::aggregate_rules;
pub use bootstrap::bootstrap_policy;
pub use covers::{compact_string, covers};
pub use index::RbacIndex;

/// `rbac.authorization.k8s.io`, the API group of RBAC objects, User and Group subjects.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The prefix of service-account user names (`system:serviceaccount:<ns>:<name>`).
pub const SERVICE_ACCOUNT_USERNAME_PREFIX: &str = "system:serviceaccount:";
/// The group whose members may do anything, including escalate (upstream `user.SystemPrivilegedGroup`).
pub const SYSTEM_MASTERS: &str = "system:masters";

/// The authenticated user (upstream `user.Info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with a name and groups, no uid or extra.
    pub fn new(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserInfo::default()
        }
    }
}

/// What a request asks (upstream `authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    pub resource_request: bool,
    pub namespace: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The request path, for non-resource requests.
    pub path: String,
}

impl Attributes {
    /// A resource request. `resource` may carry a subresource as
    /// `"pods/log"`; it is split into `resource` and `subresource`.
    pub fn resource(
        user: UserInfo,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Attributes {
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r, s),
            None => (resource, ""),
        };
        Attributes {
            user,
            verb: verb.to_string(),
            resource_request: true,
            namespace: namespace.to_string(),
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.to_string(),
            name: name.to_string(),
            path: String::new(),
        }
    }

    /// A non-resource request (`GET /version`, `GET /healthz`, ...).
    pub fn non_resource(user: UserInfo, verb: &str, path: &str) -> Attributes {
        Attributes {
            user,
            verb: verb.to_string(),
            path: path.to_string(),
            ..Attributes::default()
        }
    }
}

/// An authorizer decision (upstream `authorizer.Decision` plus its reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow { reason: String },
    Deny { reason: String },
    NoOpinion { reason: String },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow { reason }
            | Decision::Deny { reason }
            | Decision::NoOpinion { reason } => reason,
        }
    }
}

/// An RBAC `PolicyRule` (JSON field names as upstream: `verbs`, `apiGroups`,
/// `resources`, `resourceNames`, `nonResourceURLs`; `null` reads as empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub verbs: Vec<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api_groups: Vec<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_names: Vec<String>,
    #[serde(
        rename = "nonResourceURLs",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl PolicyRule {
    /// A resource rule: verbs on resources of API groups.
    pub fn resource(verbs: &[&str], api_groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(api_groups),
            resources: strings(resources),
            ..PolicyRule::default()
        }
    }

    /// A non-resource rule: verbs on URLs.
    pub fn non_resource(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            non_resource_urls: strings(urls),
            ..PolicyRule::default()
        }
    }

    /// The same rule restricted to these resource names.
    pub fn with_names(mut self, names: &[&str]) -> PolicyRule {
        self.resource_names = strings(names);
        self
    }

    /// Reads one rule from JSON; `None` when it is not an object of string
    /// arrays (or nulls).
    pub fn from_json(v: &serde_json::Value) -> Option<PolicyRule> {
        if !v.is_object() {
            return None;
        }
        PolicyRule::deserialize(v).ok()
    }

    /// The JSON form (as upstream serializes it).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("PolicyRule serializes")
    }
}

/// Reads a `rules` array (`null` / absent = no rules); `None` when malformed.
pub(crate) fn rules_from_json(v: Option<&serde_json::Value>) -> Option<Vec<PolicyRule>> {
    match v {
        None | Some(serde_json::Value::Null) => Some(Vec::new()),
        Some(serde_json::Value::Array(items)) => items.iter().map(PolicyRule::from_json).collect(),
        Some(_) => None,
    }
}

const VERB_ALL: &str = "*";
const API_GROUP_ALL: &str = "*";
const RESOURCE_ALL: &str = "*";
const NON_RESOURCE_ALL: &str = "*";

/// String equality that settles most mismatches (and empty strings, such
/// as the core API group) without a `memcmp` call: rules are short strings
/// compared many times per decision.
#[inline(always)]
pub(crate) fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len()
        && match (a.first(), b.first()) {
            (None, _) | (_, None) => true,
            (Some(x), Some(y)) => x == y && a[a.len() - 1] == b[b.len() - 1] && a == b,
        }
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == VERB_ALL || str_eq(v, verb))
}

fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups
        .iter()
        .any(|g| g == API_GROUP_ALL || str_eq(g, group))
}

fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        if r == RESOURCE_ALL {
            return true;
        }
        let exact = if subresource.is_empty() {
            str_eq(r, resource)
        } else {
            // r == resource + "/" + subresource, without allocating.
            r.len() == resource.len() + 1 + subresource.len()
                && r.starts_with(resource)
                && r.as_bytes()[resource.len()] == b'/'
                && r.ends_with(subresource)
        };
        if exact {
            return true;
        }
        // "*/sub" matches that subresource of every resource.
        !subresource.is_empty()
            && r.len() == subresource.len() + 2
            && r.starts_with("*/")
            && r.ends_with(subresource)
    })
}

fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| str_eq(n, name))
}

/// Upstream `nonResourceURLCovers` / `NonResourceURLMatches`: exact, `"*"`,
/// or a prefix match when the rule URL ends in `*` (all trailing stars are
/// trimmed).
pub(crate) fn non_resource_url_matches(rule_url: &str, path: &str) -> bool {
    rule_url == NON_RESOURCE_ALL
        || rule_url == path
        || (rule_url.ends_with('*') && path.starts_with(rule_url.trim_end_matches('*')))
}

/// Upstream `RuleAllows`: does this rule allow the request?
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if attrs.resource_request {
        verb_matches(rule, &attrs.verb)
            && api_group_matches(rule, &attrs.api_group)
            && resource_matches(rule, &attrs.resource, &attrs.subresource)
            && resource_name_matches(rule, &attrs.name)
    } else {
        verb_matches(rule, &attrs.verb)
            && rule
                .non_resource_urls
                .iter()
                .any(|u| non_resource_url_matches(u, &attrs.path))
    }
}

/// Upstream `EscalationAllowed`: members of `system:masters` may grant
/// anything. (The API server also skips the escalation check when the user
/// may `escalate` the role, see [`escalate_attributes`], or `bind` it for
/// bindings, see [`bind_attributes`].)
pub fn escalation_allowed(user: &UserInfo) -> bool {
    user.groups.iter().any(|g| g == SYSTEM_MASTERS)
}

/// The request upstream authorizes before letting a user create or update a
/// Role (`namespace` non-empty) or ClusterRole without the escalation check:
/// verb `escalate` on `roles` / `clusterroles` named `role_name`.
pub fn escalate_attributes(user: &UserInfo, namespace: &str, role_name: &str) -> Attributes {
    let resource = if namespace.is_empty() {
        "clusterroles"
    } else {
        "roles"
    };
    Attributes::resource(
        user.clone(),
        "escalate",
        RBAC_GROUP,
        resource,
        namespace,
        role_name,
    )
}

/// Upstream `BindingAuthorized`: the request authorized before letting a user
/// create a binding to a role it does not fully hold — verb `bind` on the
/// referenced `roles` / `clusterroles` in the binding's namespace (""
/// for ClusterRoleBindings). `None` for a roleRef kind other than Role or
/// ClusterRole.
pub fn bind_attributes(
    user: &UserInfo,
    role_ref_kind: &str,
    role_ref_api_group: &str,
    role_ref_name: &str,
    binding_namespace: &str,
) -> Option<Attributes> {
    let resource = match role_ref_kind {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        _ => return None,
    };
    Some(Attributes::resource(
        user.clone(),
        "bind",
        role_ref_api_group,
        resource,
        binding_namespace,
        role_ref_name,
    ))
}
