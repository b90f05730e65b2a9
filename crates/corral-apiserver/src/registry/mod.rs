//! The resources this server serves. Adding a built-in type is one entry in
//! `builtins::BUILTINS` plus its rules in `corral_apimachinery::types`. Custom
//! resources join at runtime: a [`Registry`] is immutable and the server swaps
//! in a new one (built by [`Registry::with_custom`]) when CRDs change.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use corral_apimachinery::types::{TypeRules, rules_for};
use serde_json::Value;

mod builtins;

pub(crate) use builtins::ALL_VERBS;
use builtins::BUILTINS;

/// Converts between the stored form and a served version.
#[derive(Clone, Copy)]
pub enum Conversion {
    /// Resources served in two API groups from one storage, like core/v1 and
    /// events.k8s.io/v1 Events.
    Fns {
        to_storage: fn(&Value) -> Value,
        from_storage: fn(&Value) -> Value,
    },
    /// Custom resources served in a version other than the storage version
    /// (conversion strategy `None`: only `apiVersion` changes).
    ApiVersion {
        served: &'static str,
        stored: &'static str,
    },
}

impl Conversion {
    pub fn to_storage(&self, v: &Value) -> Value {
        match self {
            Conversion::Fns { to_storage, .. } => to_storage(v),
            Conversion::ApiVersion { stored, .. } => with_api_version(v, stored),
        }
    }

    pub fn from_storage(&self, v: &Value) -> Value {
        match self {
            Conversion::Fns { from_storage, .. } => from_storage(v),
            Conversion::ApiVersion { served, .. } => with_api_version(v, served),
        }
    }
}

fn with_api_version(v: &Value, api_version: &str) -> Value {
    let mut out = v.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("apiVersion".into(), Value::String(api_version.to_string()));
    }
    out
}

/// A kind's rules: built-in rules live for the process, custom resources'
/// rules (built from a CRD's schema) are dropped with the registry that holds them.
#[derive(Clone)]
pub enum Rules {
    Static(&'static dyn TypeRules),
    Owned(Arc<dyn TypeRules>),
}

impl std::ops::Deref for Rules {
    type Target = dyn TypeRules;
    fn deref(&self) -> &Self::Target {
        match self {
            Rules::Static(r) => *r,
            Rules::Owned(r) => r.as_ref(),
        }
    }
}

/// One served resource in one group/version.
#[derive(Clone)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub subresources: &'static [&'static str],
    /// Storage key segment, e.g. `core/configmaps`; resources sharing storage share it.
    pub storage: &'static str,
    pub conversion: Option<Conversion>,
    pub rules: Rules,
    /// Create-only resources computed on request and never stored (reviews).
    pub review: Option<Review>,
    /// Set for custom resources: what their CRD says beyond the rules.
    pub custom: Option<Arc<crate::crds::CustomServing>>,
}

/// The virtual, create-only resources upstream serves for authentication and authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Review {
    TokenReview,
    SelfSubjectReview,
    SubjectAccessReview,
    SelfSubjectAccessReview,
    LocalSubjectAccessReview,
    SelfSubjectRulesReview,
}

/// Reviews are not stored, so they need no validation rules beyond what their handlers check.
struct ReviewRules;

impl TypeRules for ReviewRules {
    fn name_rule(&self) -> corral_apimachinery::validation::NameRule {
        corral_apimachinery::validation::NameRule::Dns1123Subdomain
    }
    fn namespaced(&self) -> bool {
        false
    }
    fn validate_create(&self, _obj: &Value) -> Vec<corral_apimachinery::validation::FieldError> {
        Vec::new()
    }
}

const REVIEWS: &[(&str, &str, &str, bool, Review)] = &[
    (
        "authentication.k8s.io",
        "TokenReview",
        "tokenreviews",
        false,
        Review::TokenReview,
    ),
    (
        "authentication.k8s.io",
        "SelfSubjectReview",
        "selfsubjectreviews",
        false,
        Review::SelfSubjectReview,
    ),
    (
        "authorization.k8s.io",
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
        Review::SubjectAccessReview,
    ),
    (
        "authorization.k8s.io",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
        Review::SelfSubjectAccessReview,
    ),
    (
        "authorization.k8s.io",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        true,
        Review::LocalSubjectAccessReview,
    ),
    (
        "authorization.k8s.io",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        false,
        Review::SelfSubjectRulesReview,
    ),
];

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `/registry/<storage>/` (+ `<namespace>/` when given): the prefix of a list.
    pub fn key_prefix(&self, namespace: Option<&str>) -> String {
        self.key(namespace, "")
    }

    /// Every request builds one; pushes cost a fifth of two `format!`s.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        const ROOT: &str = "/registry/";
        let namespace = namespace.filter(|_| self.namespaced);
        let len = ROOT.len() + self.storage.len() + 1 + namespace.map_or(0, |ns| ns.len() + 1);
        let mut key = String::with_capacity(len + name.len());
        key.push_str(ROOT);
        key.push_str(self.storage);
        key.push('/');
        if let Some(ns) = namespace {
            key.push_str(ns);
            key.push('/');
        }
        key.push_str(name);
        key
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

/// All served resources, looked up by group, version and plural.
pub struct Registry {
    resources: Vec<ResourceDef>,
    by_path: BTreeMap<(&'static str, &'static str, &'static str), usize>,
}

impl Registry {
    /// The built-in resources. A type whose rules are missing is a programming error caught by tests.
    pub fn builtin() -> Registry {
        let mut resources = Vec::new();
        for b in BUILTINS {
            let Some(rules) = rules_for(b.group, b.kind) else {
                tracing::error!(
                    group = b.group,
                    kind = b.kind,
                    "no type rules; resource not served"
                );
                continue;
            };
            resources.push(ResourceDef {
                group: b.group,
                version: b.version,
                kind: b.kind,
                plural: b.plural,
                singular: leak_lowercase(b.kind),
                short_names: b.short_names,
                categories: b.categories,
                namespaced: b.namespaced,
                verbs: b.verbs,
                subresources: b.subresources,
                storage: b.storage,
                conversion: b.conversion,
                rules: Rules::Static(rules),
                review: None,
                custom: None,
            });
        }
        for (group, kind, plural, namespaced, review) in REVIEWS {
            resources.push(ResourceDef {
                group,
                version: "v1",
                kind,
                plural,
                singular: leak_lowercase(kind),
                short_names: &[],
                categories: &[],
                namespaced: *namespaced,
                verbs: &["create"],
                subresources: &[],
                storage: "",
                conversion: None,
                rules: Rules::Static(&ReviewRules),
                review: Some(*review),
                custom: None,
            });
        }
        Registry::index(resources)
    }

    /// The built-in resources plus custom ones. A custom resource whose
    /// group/version/plural is already served is skipped (the CRD's
    /// `NamesAccepted` condition reports such conflicts).
    pub fn with_custom(custom: Vec<ResourceDef>) -> Registry {
        let mut resources = Registry::builtin().resources;
        for def in custom {
            let taken = resources.iter().any(|r| {
                r.group == def.group && r.version == def.version && r.plural == def.plural
            });
            if !taken {
                resources.push(def);
            }
        }
        Registry::index(resources)
    }

    fn index(resources: Vec<ResourceDef>) -> Registry {
        let by_path = resources
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.group, r.version, r.plural), i))
            .collect();
        Registry { resources, by_path }
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        // The map's keys shortened to the request's lifetime: looked up
        // without copying the request's strings.
        let by_path: &BTreeMap<(&str, &str, &str), usize> = &self.by_path;
        by_path
            .get(&(group, version, plural))
            .map(|&i| &self.resources[i])
    }

    pub fn all(&self) -> &[ResourceDef] {
        &self.resources
    }

    /// Groups in discovery order (core first), each with its versions.
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for r in &self.resources {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version)
                    }
                }
                None => out.push((r.group, vec![r.version])),
            }
        }
        for (_, versions) in &mut out {
            versions.sort_by_key(|v| version_priority(v));
        }
        out
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceDef> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.group == group && r.version == version)
    }

    /// Every namespaced resource's storage once (for emptying a namespace).
    pub fn namespaced_storages(&self) -> Vec<&ResourceDef> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for r in &self.resources {
            if r.namespaced
                && r.conversion.is_none()
                && r.review.is_none()
                && !seen.contains(&r.storage)
            {
                seen.push(r.storage);
                out.push(r);
            }
        }
        out
    }
}

/// Upstream's kube-aware version order (`CompareKubeAwareVersionStrings`):
/// GA before beta before alpha, higher numbers first, then anything else
/// alphabetically. The first is a group's preferred version.
fn version_priority(v: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    use std::cmp::Reverse;
    let parsed = v.strip_prefix('v').and_then(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((0, major, 0));
        }
        for (stage, prefix) in [(1u8, "beta"), (2u8, "alpha")] {
            if let Some(n) = tail.strip_prefix(prefix)
                && let Ok(minor) = n.parse::<u64>()
            {
                return Some((stage, major, minor));
            }
        }
        None
    });
    match parsed {
        Some((stage, major, minor)) => (stage, Reverse(major), Reverse(minor), String::new()),
        None => (3, Reverse(0), Reverse(0), v.to_string()),
    }
}

/// Singular names are derived once at start-up and live for the process.
fn leak_lowercase(kind: &str) -> &'static str {
    intern(&kind.to_lowercase())
}

/// Names of served resources as `&'static str`, each distinct string stored
/// once: custom resources come and go at runtime, so leaking per registration
/// would grow without bound, while the set of distinct names stays small.
pub fn intern(s: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut guard = match NAMES.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let set = guard.get_or_insert_with(HashSet::new);
    if let Some(existing) = set.get(s) {
        return existing;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// Interns a list of names (short names, categories).
pub fn intern_all(items: &[String]) -> &'static [&'static str] {
    if items.is_empty() {
        return &[];
    }
    let joined = items.join("\u{0}");
    static LISTS: Mutex<Option<BTreeMap<String, &'static [&'static str]>>> = Mutex::new(None);
    let mut guard = match LISTS.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let map = guard.get_or_insert_with(BTreeMap::new);
    if let Some(existing) = map.get(&joined) {
        return existing;
    }
    let list: Vec<&'static str> = items.iter().map(|s| intern(s)).collect();
    let leaked: &'static [&'static str] = Box::leak(list.into_boxed_slice());
    map.insert(joined, leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_rules() {
        let r = Registry::builtin();
        assert_eq!(r.all().len(), BUILTINS.len() + REVIEWS.len());
        assert!(r.lookup("", "v1", "configmaps").is_some());
        assert!(r.lookup("events.k8s.io", "v1", "events").is_some());
        assert!(r.lookup("", "v1", "pods").is_some());
        assert!(r.lookup("apps", "v1", "deployments").is_some());
        assert!(r.lookup("", "v1", "replicationcontrollers").is_none());
    }

    #[test]
    fn versions_sort_as_upstream() {
        let mut v = vec![
            "v1alpha1", "foo", "v1beta1", "v2", "v1", "v10beta3", "v1beta2", "bar",
        ];
        v.sort_by_key(|x| version_priority(x));
        assert_eq!(
            v,
            vec![
                "v2", "v1", "v10beta3", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo"
            ]
        );
    }

    #[test]
    fn keys_separate_namespaces() {
        let r = Registry::builtin();
        let cm = r.lookup("", "v1", "configmaps").expect("configmaps");
        assert_eq!(cm.key(Some("a"), "x"), "/registry/core/configmaps/a/x");
        assert_eq!(cm.key_prefix(None), "/registry/core/configmaps/");
        let ns = r.lookup("", "v1", "namespaces").expect("namespaces");
        assert_eq!(ns.key(Some("ignored"), "a"), "/registry/core/namespaces/a");
    }
}
