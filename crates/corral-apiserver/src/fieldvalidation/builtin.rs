//! Unknown fields of built-in kinds. Upstream finds them by decoding strictly
//! into its Go structs; the equivalent here is decoding into `k8s-openapi`'s
//! structs (generated from the same OpenAPI) and recording every key they
//! skip (`serde_ignored`). The table lists kinds beyond those served today so
//! new built-in types get the check by being served.

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
    policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling, storage::v1 as storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use serde_json::Value;

/// One step into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

type Check = fn(&Value) -> Option<Vec<Vec<Step>>>;

macro_rules! kinds {
    ($($ty:ty),* $(,)?) => {
        &[$((
            <$ty as k8s_openapi::Resource>::GROUP,
            <$ty as k8s_openapi::Resource>::VERSION,
            <$ty as k8s_openapi::Resource>::KIND,
            check::<$ty> as Check,
        )),*]
    };
}

static KINDS: &[(&str, &str, &str, Check)] = kinds![
    core::Namespace,
    core::ConfigMap,
    core::Secret,
    core::ServiceAccount,
    core::Event,
    core::Pod,
    core::PodTemplate,
    core::Service,
    core::Endpoints,
    core::Node,
    core::PersistentVolume,
    core::PersistentVolumeClaim,
    core::ResourceQuota,
    core::LimitRange,
    core::ReplicationController,
    apps::Deployment,
    apps::ReplicaSet,
    apps::StatefulSet,
    apps::DaemonSet,
    apps::ControllerRevision,
    batch::Job,
    batch::CronJob,
    networking::NetworkPolicy,
    networking::Ingress,
    networking::IngressClass,
    policy::PodDisruptionBudget,
    storage::StorageClass,
    scheduling::PriorityClass,
    discovery::EndpointSlice,
    coordination::Lease,
    events::Event,
    rbac::Role,
    rbac::ClusterRole,
    rbac::RoleBinding,
    rbac::ClusterRoleBinding,
    apiextensions::CustomResourceDefinition,
];

/// Whether the kind's fields are known (built-in kinds are; custom resources use their schema).
pub fn is_known_kind(group: &str, version: &str, kind: &str) -> bool {
    lookup(group, version, kind).is_some()
}

fn lookup(group: &str, version: &str, kind: &str) -> Option<Check> {
    KINDS
        .iter()
        .find(|(g, v, k, _)| *g == group && *v == version && *k == kind)
        .map(|(_, _, _, check)| *check)
}

/// Paths of fields the kind does not have (`spec.foo`, `spec.containers[0].imagee`).
/// Empty for kinds without a table entry and for objects that do not decode
/// at all (their type errors are validation's to report).
pub fn unknown_builtin_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    unknown_paths(group, version, kind, obj)
        .iter()
        .map(|p| render(p))
        .collect()
}

/// Like [`unknown_builtin_fields`], as paths for [`remove_path`].
pub fn unknown_paths(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<Vec<Step>> {
    lookup(group, version, kind)
        .and_then(|check| check(obj))
        .unwrap_or_default()
}

/// Unknown fields of `metadata` (custom resources: their schema covers the rest).
pub fn unknown_meta_paths(obj: &Value) -> Vec<Vec<Step>> {
    let Some(meta) = obj.get("metadata") else {
        return Vec::new();
    };
    check::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(meta)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let mut full = vec![Step::Key("metadata".into())];
            full.extend(p);
            full
        })
        .collect()
}

/// Drop one field, as upstream's typed decoding drops fields it does not know.
pub fn remove_path(obj: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for step in parents {
        let next = match (step, cur) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k),
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let (Step::Key(k), Value::Object(m)) = (last, cur) {
        m.remove(k);
    }
}

/// `spec.containers[0].name`, upstream's rendering of a field path.
pub fn render(path: &[Step]) -> String {
    render_steps(path.iter().map(|step| match step {
        Step::Key(k) => StepRef::Key(k),
        Step::Index(i) => StepRef::Index(*i),
    }))
}

/// A borrowed [`Step`], for paths whose keys are not owned strings.
pub(crate) enum StepRef<'a> {
    Key(&'a str),
    Index(usize),
}

/// [`render`] over borrowed steps.
pub(crate) fn render_steps<'a>(path: impl IntoIterator<Item = StepRef<'a>>) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            StepRef::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            StepRef::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn check<T: serde::de::DeserializeOwned>(obj: &Value) -> Option<Vec<Vec<Step>>> {
    let mut unknown = Vec::new();
    let decoded: Result<T, _> = serde_ignored::deserialize(obj, |path| unknown.push(steps(&path)));
    decoded.ok().map(|_| unknown)
}

fn steps(path: &serde_ignored::Path) -> Vec<Step> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut p = steps(parent);
            p.push(Step::Index(*index));
            p
        }
        Path::Map { parent, key } => {
            let mut p = steps(parent);
            p.push(Step::Key(key.clone()));
            p
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => steps(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_at_any_depth() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "bogus": 1}, "data": {"k": "v"}, "extra": true});
        let mut found = unknown_builtin_fields("", "v1", "ConfigMap", &cm);
        found.sort();
        assert_eq!(found, vec!["extra", "metadata.bogus"]);

        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "resources": ["pods"], "apiGroups": [""]},
            {"verbs": ["get"], "resourcez": ["x"]}]});
        assert_eq!(
            unknown_builtin_fields("rbac.authorization.k8s.io", "v1", "Role", &role),
            vec!["rules[1].resourcez"]
        );
    }

    #[test]
    fn removes_unknown_fields() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "bogus": 1}, "data": {"k": "v"}, "extra": true});
        for p in unknown_paths("", "v1", "ConfigMap", &cm.clone()) {
            remove_path(&mut cm, &p);
        }
        assert_eq!(
            cm,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn known_objects_and_unknown_kinds_report_nothing() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}});
        assert!(unknown_builtin_fields("", "v1", "ConfigMap", &cm).is_empty());
        assert!(unknown_builtin_fields("example.com", "v1", "Thing", &json!({"x": 1})).is_empty());
        // A type error is validation's business, not an unknown field.
        let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": 5, "zzz": 1});
        assert!(unknown_builtin_fields("", "v1", "ConfigMap", &bad).is_empty());
    }
}
