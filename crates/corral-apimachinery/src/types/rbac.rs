//! rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and
//! ClusterRoleBinding.

use super::{TypeRules, col, wide};
use crate::labels::Selector;
use crate::table::{AGE_COLUMN, Column, NAME_COLUMN, since_cell};
use crate::util::{ensure_obj, get, get_array, get_str, is_zero, parse_time, str_or_empty};
use crate::validation::{
    FieldError, NameRule, is_dns1123_subdomain, is_valid_path_segment_name, validate_label_selector,
};
use serde_json::Value;

const GROUP: &str = "rbac.authorization.k8s.io";

fn list_len(rule: &Value, key: &str) -> usize {
    get_array(rule, &[key]).map_or(0, Vec::len)
}

/// upstream `ValidatePolicyRule`.
fn validate_rules(obj: &Value, namespaced: bool, out: &mut Vec<FieldError>) {
    let Some(rules) = get_array(obj, &["rules"]) else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        let p = format!("rules[{i}]");
        if list_len(rule, "verbs") == 0 {
            out.push(FieldError::required(
                format!("{p}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        if list_len(rule, "nonResourceURLs") > 0 {
            let urls = get(rule, &["nonResourceURLs"])
                .cloned()
                .unwrap_or(Value::Null);
            if namespaced {
                out.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    urls.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            let mixed = ["apiGroups", "resources", "resourceNames"]
                .iter()
                .any(|k| list_len(rule, k) > 0);
            if mixed {
                out.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if list_len(rule, "apiGroups") == 0 {
            out.push(FieldError::required(
                format!("{p}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if list_len(rule, "resources") == 0 {
            out.push(FieldError::required(
                format!("{p}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

/// upstream `ValidateRoleBindingSubject`.
fn validate_subject(subject: &Value, namespaced: bool, p: &str, out: &mut Vec<FieldError>) {
    let name = str_or_empty(subject, &["name"]);
    let api_group = str_or_empty(subject, &["apiGroup"]);
    let kind = str_or_empty(subject, &["kind"]);
    if name.is_empty() {
        out.push(FieldError::required(format!("{p}.name"), ""));
    }
    match kind {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in is_dns1123_subdomain(name) {
                    out.push(FieldError::invalid(format!("{p}.name"), name, msg));
                }
            }
            if !api_group.is_empty() {
                out.push(FieldError::not_supported(
                    format!("{p}.apiGroup"),
                    api_group,
                    &[""],
                ));
            }
            if !namespaced && str_or_empty(subject, &["namespace"]).is_empty() {
                out.push(FieldError::required(format!("{p}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if api_group != GROUP {
                out.push(FieldError::not_supported(
                    format!("{p}.apiGroup"),
                    api_group,
                    &[GROUP],
                ));
            }
        }
        _ => out.push(FieldError::not_supported(
            format!("{p}.kind"),
            kind,
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

/// upstream `ValidateRoleBinding` / `ValidateClusterRoleBinding` (minus metadata).
fn validate_binding(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut out = Vec::new();
    let api_group = str_or_empty(obj, &["roleRef", "apiGroup"]);
    if api_group != GROUP {
        out.push(FieldError::not_supported(
            "roleRef.apiGroup",
            api_group,
            &[GROUP],
        ));
    }
    let kind = str_or_empty(obj, &["roleRef", "kind"]);
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        out.push(FieldError::not_supported("roleRef.kind", kind, kinds));
    }
    let name = str_or_empty(obj, &["roleRef", "name"]);
    if name.is_empty() {
        out.push(FieldError::required("roleRef.name", ""));
    } else {
        for msg in is_valid_path_segment_name(name) {
            out.push(FieldError::invalid("roleRef.name", name, msg));
        }
    }
    if let Some(subjects) = get_array(obj, &["subjects"]) {
        for (i, s) in subjects.iter().enumerate() {
            validate_subject(s, namespaced, &format!("subjects[{i}]"), &mut out);
        }
    }
    out
}

/// Binding update: everything as on create, and `roleRef` may not change.
fn validate_binding_update(new: &Value, old: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut out = validate_binding(new, namespaced);
    let (n, o) = (get(new, &["roleRef"]), get(old, &["roleRef"]));
    let same = ["apiGroup", "kind", "name"].iter().all(|k| {
        let a = n.map_or("", |v| str_or_empty(v, &[k]));
        let b = o.map_or("", |v| str_or_empty(v, &[k]));
        a == b
    });
    if !same {
        out.push(FieldError::invalid(
            "roleRef",
            n.cloned().unwrap_or(Value::Null),
            "cannot change roleRef",
        ));
    }
    out
}

/// `SetDefaults_RoleBinding` / `SetDefaults_ClusterRoleBinding` /
/// `SetDefaults_Subject`: empty apiGroups default to the RBAC group (User,
/// Group subjects) or "" (ServiceAccount subjects).
fn default_binding(obj: &mut Value) {
    if is_zero(get(obj, &["roleRef", "apiGroup"]))
        && let Some(role_ref) = ensure_obj(obj, &["roleRef"])
    {
        role_ref.insert("apiGroup".into(), Value::from(GROUP));
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects.iter_mut() {
            let kind = get_str(s, &["kind"]).unwrap_or("");
            let default = match kind {
                "User" | "Group" => GROUP,
                _ => continue,
            };
            if is_zero(get(s, &["apiGroup"]))
                && let Some(m) = s.as_object_mut()
            {
                m.insert("apiGroup".into(), Value::from(default));
            }
        }
    }
}

/// upstream `rbac.SubjectsStrings`, joined with ", " as the printer does.
fn subjects_cells(obj: &Value) -> [Value; 3] {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in get_array(obj, &["subjects"]).into_iter().flatten() {
        let name = str_or_empty(s, &["name"]);
        match str_or_empty(s, &["kind"]) {
            "ServiceAccount" => sas.push(format!("{}/{}", str_or_empty(s, &["namespace"]), name)),
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            _ => {}
        }
    }
    [
        Value::from(users.join(", ")),
        Value::from(groups.join(", ")),
        Value::from(sas.join(", ")),
    ]
}

const ROLE_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    Column {
        name: "Created At",
        type_: "date",
        format: "",
        description: crate::table::CREATION_TIMESTAMP_DESCRIPTION,
        priority: 0,
    },
];

const BINDING_COLUMNS: &[Column] = &[
    NAME_COLUMN,
    col(
        "Role",
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
    ),
    AGE_COLUMN,
    wide("Users", "Users in the roleBinding"),
    wide("Groups", "Groups in the roleBinding"),
    wide("ServiceAccounts", "ServiceAccounts in the roleBinding"),
];

fn role_cells(obj: &Value) -> Vec<Value> {
    let created = get_str(obj, &["metadata", "creationTimestamp"])
        .and_then(parse_time)
        .map(crate::util::format_rfc3339_utc)
        .unwrap_or_default();
    vec![
        Value::from(str_or_empty(obj, &["metadata", "name"])),
        Value::from(created),
    ]
}

fn binding_cells(obj: &Value) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_or_empty(obj, &["roleRef", "kind"]),
        str_or_empty(obj, &["roleRef", "name"])
    );
    let [users, groups, sas] = subjects_cells(obj);
    vec![
        Value::from(str_or_empty(obj, &["metadata", "name"])),
        Value::from(role),
        since_cell(get_str(obj, &["metadata", "creationTimestamp"])),
        users,
        groups,
        sas,
    ]
}

/// Role: path-segment names; each rule needs verbs and apiGroups +
/// resources (no nonResourceURLs); columns NAME, CREATED AT.
pub struct RoleRules;

impl TypeRules for RoleRules {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        validate_rules(obj, true, &mut out);
        out
    }

    fn columns(&self) -> &'static [Column] {
        ROLE_COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        role_cells(obj)
    }
}

/// ClusterRole: as Role, nonResourceURLs allowed (alone); an
/// aggregationRule needs valid clusterRoleSelectors.
pub struct ClusterRoleRules;

impl TypeRules for ClusterRoleRules {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn namespaced(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        validate_rules(obj, false, &mut out);
        if let Some(agg) = get(obj, &["aggregationRule"]).filter(|v| !v.is_null()) {
            let selectors = get_array(agg, &["clusterRoleSelectors"]);
            if selectors.is_none_or(Vec::is_empty) {
                out.push(FieldError::required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
            for (i, sel) in selectors.into_iter().flatten().enumerate() {
                let p = format!("aggregationRule.clusterRoleSelectors[{i}]");
                out.extend(validate_label_selector(sel, &p));
                if Selector::from_label_selector(sel).is_err() {
                    out.push(FieldError::invalid(
                        p,
                        sel.clone(),
                        "invalid label selector.",
                    ));
                }
            }
        }
        out
    }

    fn columns(&self) -> &'static [Column] {
        ROLE_COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        role_cells(obj)
    }
}

/// RoleBinding: roleRef apiGroup rbac.authorization.k8s.io, kind Role or
/// ClusterRole, a valid name, immutable; subjects User/Group (apiGroup
/// rbac.authorization.k8s.io) or ServiceAccount (apiGroup "", DNS name);
/// columns NAME, ROLE, AGE, wide USERS, GROUPS, SERVICEACCOUNTS.
pub struct RoleBindingRules;

impl TypeRules for RoleBindingRules {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn namespaced(&self) -> bool {
        true
    }

    fn apply_defaults(&self, obj: &mut Value) {
        default_binding(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_binding(obj, true)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_binding_update(new, old, true)
    }

    fn columns(&self) -> &'static [Column] {
        BINDING_COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        binding_cells(obj)
    }
}

/// ClusterRoleBinding: as RoleBinding, but roleRef kind only ClusterRole
/// and ServiceAccount subjects need a namespace.
pub struct ClusterRoleBindingRules;

impl TypeRules for ClusterRoleBindingRules {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn namespaced(&self) -> bool {
        false
    }

    fn apply_defaults(&self, obj: &mut Value) {
        default_binding(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_binding(obj, false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        validate_binding_update(new, old, false)
    }

    fn columns(&self) -> &'static [Column] {
        BINDING_COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        binding_cells(obj)
    }
}
