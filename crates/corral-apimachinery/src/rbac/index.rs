//! The RBAC rule resolver (upstream `DefaultRuleResolver` + `RBACAuthorizer`)
//! over an incrementally maintained, subject-indexed store of Roles,
//! ClusterRoles, RoleBindings and ClusterRoleBindings.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::covers::{aggregate_error, confirm};
use super::{
    Attributes, Decision, PolicyRule, RBAC_GROUP, SERVICE_ACCOUNT_USERNAME_PREFIX, UserInfo,
    rule_allows, rules_from_json,
};
use crate::util::go_quote;

/// One subject of a binding, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Subject {
    kind: String,
    name: String,
    namespace: String,
}

/// A RoleBinding (`namespace` non-empty) or ClusterRoleBinding.
#[derive(Debug)]
struct Binding {
    name: String,
    namespace: String,
    role_ref_kind: String,
    role_ref_name: String,
    subjects: Vec<Subject>,
}

impl Binding {
    /// Upstream `appliesTo`: the first subject that applies to `user`.
    fn first_applying_subject(&self, user: &UserInfo) -> Option<&Subject> {
        self.subjects
            .iter()
            .find(|s| applies_to_user(user, s, &self.namespace))
    }

    /// The index keys of a subject: which map and which key. Service-account
    /// subjects are keyed by the user name they match
    /// (`system:serviceaccount:<ns>:<name>`), so a lookup is exact even for
    /// names with colons.
    fn subject_keys(&self) -> impl Iterator<Item = (SubjectMap, String)> + '_ {
        self.subjects.iter().filter_map(|s| match s.kind.as_str() {
            "User" => Some((SubjectMap::User, s.name.clone())),
            "Group" => Some((SubjectMap::Group, s.name.clone())),
            "ServiceAccount" => {
                let ns = if s.namespace.is_empty() {
                    &self.namespace
                } else {
                    &s.namespace
                };
                if ns.is_empty() {
                    None
                } else {
                    Some((
                        SubjectMap::ServiceAccount,
                        format!("{SERVICE_ACCOUNT_USERNAME_PREFIX}{ns}:{}", s.name),
                    ))
                }
            }
            _ => None,
        })
    }
}

/// Upstream `appliesToUser`. The subject's apiGroup is not consulted (as
/// upstream: validation already fixed it); a ServiceAccount subject without
/// a namespace means the binding's namespace, and never matches in a
/// ClusterRoleBinding.
fn applies_to_user(user: &UserInfo, subject: &Subject, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                binding_namespace
            } else {
                &subject.namespace
            };
            !ns.is_empty() && sa_username_matches(&user.name, ns, &subject.name)
        }
        _ => false,
    }
}

/// `user == "system:serviceaccount:" + ns + ":" + name`, without allocating.
fn sa_username_matches(user: &str, ns: &str, name: &str) -> bool {
    user.strip_prefix(SERVICE_ACCOUNT_USERNAME_PREFIX)
        .and_then(|rest| rest.strip_prefix(ns))
        .and_then(|rest| rest.strip_prefix(':'))
        == Some(name)
}

/// Appends Go's `%q` of `s`; printable ASCII without quotes or backslashes
/// (nearly every Kubernetes name) takes the fast path.
fn push_quoted(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&go_quote(s));
    }
}

/// Appends Go's `%q` of `a + "/" + b`.
fn push_quoted_pair(out: &mut String, a: &str, b: &str) {
    let mut joined = String::with_capacity(a.len() + b.len() + 1);
    joined.push_str(a);
    joined.push('/');
    joined.push_str(b);
    push_quoted(out, &joined);
}

/// Upstream `describeSubject`.
fn push_subject(out: &mut String, s: &Subject, binding_namespace: &str) {
    out.push_str(&s.kind);
    out.push(' ');
    if s.kind == "ServiceAccount" {
        let ns = if s.namespace.is_empty() {
            binding_namespace
        } else {
            &s.namespace
        };
        push_quoted_pair(out, &s.name, ns);
    } else {
        push_quoted(out, &s.name);
    }
}

/// The allow reason: `RBAC: allowed by ` and upstream's
/// `clusterRoleBindingDescriber` / `roleBindingDescriber`.
fn allow_reason(b: &Binding, s: &Subject) -> String {
    let mut out = String::with_capacity(
        64 + b.name.len()
            + b.namespace.len()
            + b.role_ref_kind.len()
            + b.role_ref_name.len()
            + s.name.len()
            + s.namespace.len(),
    );
    out.push_str("RBAC: allowed by ");
    if b.namespace.is_empty() {
        out.push_str("ClusterRoleBinding ");
        push_quoted(&mut out, &b.name);
    } else {
        out.push_str("RoleBinding ");
        push_quoted_pair(&mut out, &b.name, &b.namespace);
    }
    out.push_str(" of ");
    out.push_str(&b.role_ref_kind);
    out.push(' ');
    push_quoted(&mut out, &b.role_ref_name);
    out.push_str(" to ");
    push_subject(&mut out, s, &b.namespace);
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SubjectMap {
    User,
    Group,
    ServiceAccount,
}

/// Bindings of one scope (cluster, or one namespace) by name.
type BindingSet = BTreeMap<String, Arc<Binding>>;

/// A namespace name interned by the index (namespaces holding RoleBindings).
type NsId = u64;

/// The bindings naming one subject: ClusterRoleBindings, and RoleBindings
/// by namespace. One hash lookup of the subject serves both scopes.
#[derive(Debug, Default)]
struct SubjectBindings {
    cluster: BindingSet,
    namespaced: BTreeMap<NsId, BindingSet>,
}

impl SubjectBindings {
    fn is_empty(&self) -> bool {
        self.cluster.is_empty() && self.namespaced.is_empty()
    }

    fn scope(&self, namespace: Option<NsId>) -> Option<&BindingSet> {
        match namespace {
            None => Some(&self.cluster),
            Some(ns) => self.namespaced.get(&ns),
        }
        .filter(|set| !set.is_empty())
    }
}

/// Subject -> bindings: user name, group, and service account (keyed by the
/// user name it matches).
#[derive(Debug, Default)]
struct SubjectIndex {
    users: HashMap<String, SubjectBindings>,
    groups: HashMap<String, SubjectBindings>,
    service_accounts: HashMap<String, SubjectBindings>,
    /// namespace -> (id, number of RoleBindings in it)
    namespace_ids: HashMap<String, (NsId, usize)>,
    next_namespace_id: NsId,
}

impl SubjectIndex {
    fn map_mut(&mut self, m: SubjectMap) -> &mut HashMap<String, SubjectBindings> {
        match m {
            SubjectMap::User => &mut self.users,
            SubjectMap::Group => &mut self.groups,
            SubjectMap::ServiceAccount => &mut self.service_accounts,
        }
    }

    fn add(&mut self, b: &Arc<Binding>) {
        let ns_id = if b.namespace.is_empty() {
            None
        } else {
            let next = &mut self.next_namespace_id;
            let (id, refs) = self
                .namespace_ids
                .entry(b.namespace.clone())
                .or_insert_with(|| {
                    *next += 1;
                    (*next, 0)
                });
            *refs += 1;
            Some(*id)
        };
        for (m, key) in b.subject_keys() {
            let entry = self.map_mut(m).entry(key).or_default();
            let set = match ns_id {
                None => &mut entry.cluster,
                Some(id) => entry.namespaced.entry(id).or_default(),
            };
            set.insert(b.name.clone(), b.clone());
        }
    }

    fn remove(&mut self, b: &Binding) {
        let ns_id = if b.namespace.is_empty() {
            None
        } else {
            let Some((id, refs)) = self.namespace_ids.get_mut(&b.namespace) else {
                return;
            };
            let id = *id;
            *refs -= 1;
            if *refs == 0 {
                self.namespace_ids.remove(&b.namespace);
            }
            Some(id)
        };
        for (m, key) in b.subject_keys() {
            let map = self.map_mut(m);
            let Some(entry) = map.get_mut(&key) else {
                continue;
            };
            match ns_id {
                None => {
                    entry.cluster.remove(&b.name);
                }
                Some(id) => {
                    if let Some(set) = entry.namespaced.get_mut(&id) {
                        set.remove(&b.name);
                        if set.is_empty() {
                            entry.namespaced.remove(&id);
                        }
                    }
                }
            }
            if entry.is_empty() {
                map.remove(&key);
            }
        }
    }

    fn namespace_id(&self, namespace: &str) -> Option<NsId> {
        self.namespace_ids.get(namespace).map(|(id, _)| *id)
    }

    /// The index entries of this user: its name, its service account (for a
    /// service-account user name) and its groups. Each is hashed once.
    fn sources<'a>(&'a self, user: &UserInfo, out: &mut Vec<&'a SubjectBindings>) {
        out.extend(self.users.get(&user.name));
        if user.name.starts_with(SERVICE_ACCOUNT_USERNAME_PREFIX) {
            out.extend(self.service_accounts.get(&user.name));
        }
        for g in &user.groups {
            out.extend(self.groups.get(g));
        }
    }
}

/// The bindings of one scope (`None` = ClusterRoleBindings) naming any of
/// `sources`; sorted by binding name, each once.
fn candidates<'a>(
    sources: &[&'a SubjectBindings],
    namespace: Option<NsId>,
    out: &mut Vec<&'a Arc<Binding>>,
) {
    out.clear();
    let mut sets = 0;
    for source in sources {
        if let Some(set) = source.scope(namespace) {
            sets += 1;
            out.extend(set.values());
        }
    }
    if sets > 1 {
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
    }
}

/// What the resolver hands its visitor (upstream `VisitRulesFor`'s
/// `(source, rule, err)`).
enum Visit<'a> {
    Rule {
        binding: &'a Binding,
        subject: &'a Subject,
        rule: &'a PolicyRule,
    },
    Error(String),
}

/// An index of Roles, ClusterRoles, RoleBindings and ClusterRoleBindings,
/// updated incrementally, answering RBAC questions by subject.
///
/// Lookups go user name / group / service account -> bindings (cluster
/// scope, and the request's namespace), so a decision costs in the number of
/// bindings naming the user, not in the total number of bindings. Bindings
/// are visited ClusterRoleBindings first, then the namespace's RoleBindings,
/// each by name (upstream visits in lister order, which is unspecified; only
/// the reason text can depend on it).
#[derive(Debug, Default)]
pub struct RbacIndex {
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    /// namespace -> name -> rules
    roles: HashMap<String, HashMap<String, Vec<PolicyRule>>>,
    cluster_role_bindings: HashMap<String, Arc<Binding>>,
    /// namespace -> name -> binding
    role_bindings: HashMap<String, HashMap<String, Arc<Binding>>>,
    subjects: SubjectIndex,
}

/// The pieces of an RBAC object `upsert` needs.
struct Parsed<'a> {
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
}

fn identify(obj: &Value) -> Option<Parsed<'_>> {
    let kind = obj.get("kind")?.as_str()?;
    if !matches!(
        kind,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
    ) {
        return None;
    }
    // A kind of the same name in another API group is not RBAC.
    match obj.get("apiVersion") {
        None | Some(Value::Null) => {}
        Some(Value::String(av)) => {
            let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            if group != RBAC_GROUP {
                return None;
            }
        }
        Some(_) => return None,
    }
    let meta = obj.get("metadata")?.as_object()?;
    let name = meta.get("name")?.as_str()?;
    if name.is_empty() {
        return None;
    }
    let namespace = match kind {
        "Role" | "RoleBinding" => meta.get("namespace").and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    Some(Parsed {
        kind,
        namespace,
        name,
    })
}

fn parse_binding(obj: &Value, namespace: &str, name: &str) -> Option<Binding> {
    let role_ref = obj.get("roleRef")?.as_object()?;
    let role_ref_kind = role_ref.get("kind")?.as_str()?.to_string();
    let role_ref_name = role_ref.get("name")?.as_str()?.to_string();
    let subjects = match obj.get("subjects") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                let s = s.as_object()?;
                let field = |k: &str| -> Option<String> {
                    match s.get(k) {
                        None | Some(Value::Null) => Some(String::new()),
                        Some(Value::String(v)) => Some(v.clone()),
                        Some(_) => None,
                    }
                };
                Some(Subject {
                    kind: field("kind")?,
                    name: field("name")?,
                    namespace: field("namespace")?,
                })
            })
            .collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    Some(Binding {
        name: name.to_string(),
        namespace: namespace.to_string(),
        role_ref_kind,
        role_ref_name,
        subjects,
    })
}

impl RbacIndex {
    pub fn new() -> Self {
        RbacIndex::default()
    }

    /// An index holding these objects (others are skipped).
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut index = RbacIndex::new();
        for obj in objects {
            index.upsert(obj);
        }
        index
    }

    /// Inserts or replaces a Role, ClusterRole, RoleBinding or
    /// ClusterRoleBinding (keyed by kind, namespace and name). Returns false
    /// for other kinds (or the same kinds of another API group) and for
    /// malformed objects; a malformed replacement of a known object removes
    /// the old one, so a stale grant never outlives its update.
    pub fn upsert(&mut self, obj: &Value) -> bool {
        let Some(Parsed {
            kind,
            namespace,
            name,
        }) = identify(obj)
        else {
            return false;
        };
        let namespaced = matches!(kind, "Role" | "RoleBinding");
        if namespaced && namespace.is_empty() {
            return false;
        }
        match kind {
            "Role" | "ClusterRole" => {
                let Some(rules) = rules_from_json(obj.get("rules")) else {
                    self.remove(kind, namespace, name);
                    return false;
                };
                if kind == "Role" {
                    self.roles
                        .entry(namespace.to_string())
                        .or_default()
                        .insert(name.to_string(), rules);
                } else {
                    self.cluster_roles.insert(name.to_string(), rules);
                }
                true
            }
            _ => {
                let Some(binding) = parse_binding(obj, namespace, name) else {
                    self.remove(kind, namespace, name);
                    return false;
                };
                self.remove(kind, namespace, name);
                let binding = Arc::new(binding);
                self.subjects.add(&binding);
                if kind == "RoleBinding" {
                    self.role_bindings
                        .entry(namespace.to_string())
                        .or_default()
                        .insert(name.to_string(), binding);
                } else {
                    self.cluster_role_bindings.insert(name.to_string(), binding);
                }
                true
            }
        }
    }

    /// Removes an object by kind, namespace (ignored for cluster-scoped
    /// kinds) and name; unknown objects are ignored.
    pub fn remove(&mut self, kind: &str, namespace: &str, name: &str) {
        match kind {
            "ClusterRole" => {
                self.cluster_roles.remove(name);
            }
            "ClusterRoleBinding" => {
                if let Some(old) = self.cluster_role_bindings.remove(name) {
                    self.subjects.remove(&old);
                }
            }
            "Role" => {
                if let Some(roles) = self.roles.get_mut(namespace) {
                    roles.remove(name);
                    if roles.is_empty() {
                        self.roles.remove(namespace);
                    }
                }
            }
            "RoleBinding" => {
                if let Some(bindings) = self.role_bindings.get_mut(namespace) {
                    if let Some(old) = bindings.remove(name) {
                        self.subjects.remove(&old);
                    }
                    if bindings.is_empty() {
                        self.role_bindings.remove(namespace);
                    }
                }
            }
            _ => {}
        }
    }

    /// True when the index holds nothing (objects nor subject entries).
    pub fn is_empty(&self) -> bool {
        self.cluster_roles.is_empty()
            && self.roles.is_empty()
            && self.cluster_role_bindings.is_empty()
            && self.role_bindings.is_empty()
            && self.subjects.users.is_empty()
            && self.subjects.groups.is_empty()
            && self.subjects.service_accounts.is_empty()
            && self.subjects.namespace_ids.is_empty()
    }

    /// (ClusterRoles, ClusterRoleBindings, Roles, RoleBindings) held.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.cluster_roles.len(),
            self.cluster_role_bindings.len(),
            self.roles.values().map(HashMap::len).sum(),
            self.role_bindings.values().map(HashMap::len).sum(),
        )
    }

    /// Upstream `GetRoleReferenceRules`: the rules a roleRef grants in a
    /// binding of `binding_namespace` ("" for a ClusterRoleBinding), or the
    /// upstream error text.
    pub fn role_ref_rules(
        &self,
        kind: &str,
        name: &str,
        binding_namespace: &str,
    ) -> Result<&[PolicyRule], String> {
        match kind {
            "Role" => self
                .roles
                .get(binding_namespace)
                .and_then(|roles| roles.get(name))
                .map(Vec::as_slice)
                .ok_or_else(|| format!("role.{RBAC_GROUP} {} not found", go_quote(name))),
            "ClusterRole" => self
                .cluster_roles
                .get(name)
                .map(Vec::as_slice)
                .ok_or_else(|| format!("clusterrole.{RBAC_GROUP} {} not found", go_quote(name))),
            other => Err(format!(
                "unsupported role reference kind: {}",
                go_quote(other)
            )),
        }
    }

    /// Upstream `VisitRulesFor`: every rule for `user` from the
    /// ClusterRoleBindings, then (when `namespace` is set and
    /// `include_namespace`) the namespace's RoleBindings; stops when the
    /// visitor returns false.
    fn visit_rules_for<'a>(
        &'a self,
        user: &UserInfo,
        namespace: &str,
        include_namespace: bool,
        mut visitor: impl FnMut(Visit<'a>) -> bool,
    ) {
        let mut sources = Vec::with_capacity(user.groups.len() + 2);
        self.subjects.sources(user, &mut sources);
        if sources.is_empty() {
            return;
        }
        let mut bindings = Vec::new();
        candidates(&sources, None, &mut bindings);
        if !self.visit_bindings(user, &bindings, &mut visitor) {
            return;
        }
        if include_namespace
            && !namespace.is_empty()
            && let Some(ns_id) = self.subjects.namespace_id(namespace)
        {
            candidates(&sources, Some(ns_id), &mut bindings);
            self.visit_bindings(user, &bindings, &mut visitor);
        }
    }

    fn visit_bindings<'a>(
        &'a self,
        user: &UserInfo,
        bindings: &[&'a Arc<Binding>],
        visitor: &mut impl FnMut(Visit<'a>) -> bool,
    ) -> bool {
        for binding in bindings {
            // A binding found through the index names the user: with a
            // single subject, that is the one.
            let subject = match binding.subjects.as_slice() {
                [only] => only,
                _ => match binding.first_applying_subject(user) {
                    Some(s) => s,
                    None => continue,
                },
            };
            match self.role_ref_rules(
                &binding.role_ref_kind,
                &binding.role_ref_name,
                &binding.namespace,
            ) {
                Ok(rules) => {
                    for rule in rules {
                        if !visitor(Visit::Rule {
                            binding,
                            subject,
                            rule,
                        }) {
                            return false;
                        }
                    }
                }
                Err(e) => {
                    if !visitor(Visit::Error(e)) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Upstream `RBACAuthorizer.Authorize`: `Allow` with the first binding
    /// and rule that allow, else `NoOpinion` (never `Deny`) whose reason is
    /// `"RBAC: <role resolution errors>"` or empty. Non-resource requests
    /// are checked against ClusterRoleBindings only.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        let mut allowed: Option<(&Binding, &Subject)> = None;
        let mut errors: Vec<String> = Vec::new();
        self.visit_rules_for(
            &attrs.user,
            &attrs.namespace,
            attrs.resource_request,
            |v| match v {
                Visit::Rule {
                    binding,
                    subject,
                    rule,
                } => {
                    if rule_allows(rule, attrs) {
                        allowed = Some((binding, subject));
                        false
                    } else {
                        true
                    }
                }
                Visit::Error(e) => {
                    errors.push(e);
                    true
                }
            },
        );
        if let Some((binding, subject)) = allowed {
            return Decision::Allow {
                reason: allow_reason(binding, subject),
            };
        }
        let reason = if errors.is_empty() {
            String::new()
        } else {
            format!("RBAC: {}", aggregate_error(&errors))
        };
        Decision::NoOpinion { reason }
    }

    /// Upstream `RulesFor`: every rule that applies to `user` in
    /// `namespace` ("" = cluster-wide rules only), ClusterRoleBinding rules
    /// first, with the errors of bindings whose role could not be resolved.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        self.visit_rules_for(user, namespace, true, |v| {
            match v {
                Visit::Rule { rule, .. } => rules.push(rule.clone()),
                Visit::Error(e) => errors.push(e),
            }
            true
        });
        (rules, errors)
    }

    /// Upstream `ConfirmNoEscalation`: Ok when `user` already holds every
    /// permission of `rules` in `namespace` ("" = cluster-wide), else the
    /// upstream message listing the missing permissions (compacted, sorted)
    /// and any role-resolution errors.
    pub fn confirm_no_escalation(
        &self,
        user: &UserInfo,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Result<(), String> {
        let (owner, errors) = self.rules_for(user, namespace);
        confirm(user, &owner, &errors, rules)
    }
}
