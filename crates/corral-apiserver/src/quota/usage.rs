//! What one object consumes of a quota (upstream's quota evaluators), over
//! the object's JSON. Shared by admission and the quota controller.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::quantity::Quantity;

pub type ResourceList = BTreeMap<String, Quantity>;

/// The object-count resource of `plural` in `group`: `count/pods`, `count/deployments.apps`.
pub fn object_count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// The `(group, plural)` whose objects a quota resource name counts, or
/// `None` for names no evaluator here knows (extended resources, storage
/// class scoped storage, ...).
pub fn resource_source(name: &str) -> Option<(String, String)> {
    let core = |p: &str| Some((String::new(), p.to_string()));
    match name {
        "pods"
        | "cpu"
        | "memory"
        | "ephemeral-storage"
        | "requests.cpu"
        | "requests.memory"
        | "requests.ephemeral-storage"
        | "limits.cpu"
        | "limits.memory"
        | "limits.ephemeral-storage" => core("pods"),
        "services" | "services.nodeports" | "services.loadbalancers" => core("services"),
        "persistentvolumeclaims" | "requests.storage" => core("persistentvolumeclaims"),
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => core(name),
        _ => {
            let rest = name.strip_prefix("count/")?;
            match rest.split_once('.') {
                Some((plural, group)) if !plural.is_empty() && !group.is_empty() => {
                    Some((group.to_string(), plural.to_string()))
                }
                None if !rest.is_empty() => core(rest),
                _ => None,
            }
        }
    }
}

/// Legacy names counting objects of the core group (`configmaps`, ...).
const LEGACY_COUNTS: &[&str] = &[
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
];

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn one() -> Quantity {
    Quantity::from_units(1)
}

/// Everything `obj` (of `plural` in `group`) consumes.
pub fn usage(group: &str, plural: &str, obj: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert(object_count_name(group, plural), one());
    if !group.is_empty() {
        return out;
    }
    if LEGACY_COUNTS.contains(&plural) {
        out.insert(plural.to_string(), one());
    }
    match plural {
        "pods" if pod_counts_compute(obj) => {
            let spec = obj.get("spec").unwrap_or(&Value::Null);
            let requests = pod_resources(spec, "requests");
            let limits = pod_resources(spec, "limits");
            out.extend(compute_usage(&requests, &limits));
            out.insert("pods".into(), one());
        }
        "services" => {
            out.insert("services".into(), one());
            let spec = obj.get("spec").unwrap_or(&Value::Null);
            let ports = get(spec, &["ports"])
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut node_ports = 0i64;
            let mut lbs = 0i64;
            match get(spec, &["type"]).and_then(Value::as_str) {
                Some("NodePort") => node_ports = ports.len() as i64,
                Some("LoadBalancer") => {
                    lbs = 1;
                    node_ports = if get(spec, &["allocateLoadBalancerNodePorts"])
                        == Some(&Value::Bool(false))
                    {
                        ports
                            .iter()
                            .filter(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0)
                            .count() as i64
                    } else {
                        ports.len() as i64
                    };
                }
                _ => {}
            }
            out.insert(
                "services.nodeports".into(),
                Quantity::from_units(node_ports),
            );
            out.insert("services.loadbalancers".into(), Quantity::from_units(lbs));
        }
        "persistentvolumeclaims" => {
            if let Some(q) = get(obj, &["spec", "resources", "requests", "storage"])
                .and_then(Quantity::from_value)
            {
                out.insert("requests.storage".into(), q);
            }
        }
        _ => {}
    }
    out
}

/// Upstream's `QuotaV1Pod`: terminal pods (and ones whose grace period
/// ran out) no longer count compute resources or `pods`.
fn pod_counts_compute(pod: &Value) -> bool {
    let phase = get(pod, &["status", "phase"]).and_then(Value::as_str);
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    if let Some(ts) = get(pod, &["metadata", "deletionTimestamp"]).and_then(Value::as_str) {
        let grace = get(pod, &["metadata", "deletionGracePeriodSeconds"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Ok(t) =
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
            && time::OffsetDateTime::now_utc() > t + time::Duration::seconds(grace)
        {
            return false;
        }
    }
    true
}

fn container_resources(c: &Value, which: &str) -> ResourceList {
    get(c, &["resources", which])
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), Quantity::from_value(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

fn add_into(a: &mut ResourceList, b: &ResourceList) {
    for (k, v) in b {
        let e = a.entry(k.clone()).or_default();
        *e = *e + *v;
    }
}

fn max_into(a: &mut ResourceList, b: &ResourceList) {
    for (k, v) in b {
        let e = a.entry(k.clone()).or_insert(*v);
        if *v > *e {
            *e = *v;
        }
    }
}

/// Upstream's `PodRequests`/`PodLimits`: containers summed, sidecar init
/// containers (`restartPolicy: Always`) added to them, each ordinary init
/// container (plus the sidecars started before it) as a floor, plus the
/// pod overhead.
pub fn pod_resources(spec: &Value, which: &str) -> ResourceList {
    let mut sum = ResourceList::new();
    for c in get(spec, &["containers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add_into(&mut sum, &container_resources(c, which));
    }
    let mut sidecars = ResourceList::new();
    let mut init_floor = ResourceList::new();
    for c in get(spec, &["initContainers"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r = container_resources(c, which);
        if get(c, &["restartPolicy"]).and_then(Value::as_str) == Some("Always") {
            add_into(&mut sum, &r);
            add_into(&mut sidecars, &r);
        } else {
            let mut t = r;
            add_into(&mut t, &sidecars);
            max_into(&mut init_floor, &t);
        }
    }
    max_into(&mut sum, &init_floor);
    if let Some(overhead) = get(spec, &["overhead"]).and_then(Value::as_object) {
        let o: ResourceList = overhead
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), Quantity::from_value(v)?)))
            .collect();
        // Upstream adds overhead only to resources the pod already names for limits.
        if which == "limits" {
            for (k, v) in o {
                if let Some(e) = sum.get_mut(&k) {
                    *e = *e + v;
                }
            }
        } else {
            add_into(&mut sum, &o);
        }
    }
    sum
}

/// Upstream's `podComputeUsageHelper` (without `pods`).
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    for (name, q) in requests {
        match name.as_str() {
            "cpu" | "memory" | "ephemeral-storage" => {
                out.insert(name.clone(), *q);
                out.insert(format!("requests.{name}"), *q);
            }
            n if n.starts_with("hugepages-") => {
                out.insert(format!("requests.{n}"), *q);
            }
            n if n.contains('/') && !n.starts_with("kubernetes.io/") => {
                out.insert(format!("requests.{n}"), *q);
            }
            _ => {}
        }
    }
    for (name, q) in limits {
        if matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            out.insert(format!("limits.{name}"), *q);
        }
    }
    out
}

/// Resources whose quota obliges every container to state them.
const VALIDATION_SET: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// The pod evaluator's `Constraints`: with `hard` naming cpu or memory
/// (requests or limits), every container must specify it. The error
/// reads `must specify limits.cpu for: a,b; requests.cpu for: a`.
pub fn pod_constraints(hard: &BTreeSet<String>, pod: &Value) -> Option<String> {
    let required: BTreeSet<&str> = VALIDATION_SET
        .iter()
        .copied()
        .filter(|r| hard.contains(*r))
        .collect();
    if required.is_empty() {
        return None;
    }
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    for key in ["containers", "initContainers"] {
        for c in get(spec, &[key])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let have = compute_usage(
                &container_resources(c, "requests"),
                &container_resources(c, "limits"),
            );
            let name = get(c, &["name"]).and_then(Value::as_str).unwrap_or("");
            for r in &required {
                if !have.contains_key(*r) {
                    missing.entry(r).or_default().insert(name.to_string());
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Some(format!("must specify {}", parts.join("; ")))
}

/// The names of `m`'s keys (e.g. a quota's `status.hard`).
pub fn keys(m: Option<&Map<String, Value>>) -> BTreeSet<String> {
    m.map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn pod_sums_containers_and_floors_init_containers() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
            ],
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "1Mi"}}},
            ],
        }});
        let u = usage("", "pods", &pod);
        assert_eq!(u["pods"], q("1"));
        assert_eq!(u["count/pods"], q("1"));
        assert_eq!(u["requests.cpu"], q("1"));
        assert_eq!(u["cpu"], q("1"));
        assert_eq!(u["requests.memory"], q("128Mi"));
        assert_eq!(u["memory"], q("128Mi"));
        assert_eq!(u["limits.memory"], q("256Mi"));
        assert!(!u.contains_key("limits.cpu"));
    }

    #[test]
    fn sidecars_add_to_containers() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "120m"}}},
            ],
            "overhead": {"cpu": "10m"},
        }});
        // max(100m + 50m, 120m + 50m) + 10m overhead
        assert_eq!(pod_resources(&pod["spec"], "requests")["cpu"], q("180m"));
    }

    #[test]
    fn terminal_pods_count_only_objects() {
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": "Succeeded"}});
        let u = usage("", "pods", &pod);
        assert_eq!(u.len(), 1);
        assert_eq!(u["count/pods"], q("1"));
    }

    #[test]
    fn services_count_node_ports_and_load_balancers() {
        let svc = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 1}, {"port": 2}]}});
        let u = usage("", "services", &svc);
        assert_eq!(u["services"], q("1"));
        assert_eq!(u["services.nodeports"], q("2"));
        assert_eq!(u["services.loadbalancers"], q("1"));
        let u = usage(
            "",
            "services",
            &json!({"spec": {"type": "ClusterIP", "ports": [{"port": 1}]}}),
        );
        assert_eq!(u["services.nodeports"], q("0"));
    }

    #[test]
    fn object_counts() {
        let u = usage("apps", "deployments", &json!({}));
        assert_eq!(u.keys().collect::<Vec<_>>(), ["count/deployments.apps"]);
        let u = usage("", "configmaps", &json!({}));
        assert_eq!(u["configmaps"], q("1"));
        assert_eq!(u["count/configmaps"], q("1"));
        assert_eq!(
            resource_source("count/jobs.batch"),
            Some(("batch".into(), "jobs".into()))
        );
        assert_eq!(
            resource_source("count/pods"),
            Some((String::new(), "pods".into()))
        );
        assert_eq!(
            resource_source("limits.memory"),
            Some((String::new(), "pods".into()))
        );
        assert_eq!(resource_source("nvidia.com/gpu"), None);
    }

    #[test]
    fn constraints_name_missing_containers() {
        let hard: BTreeSet<String> = ["requests.cpu", "limits.memory", "pods"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let pod = json!({"spec": {"containers": [
            {"name": "b", "resources": {}},
            {"name": "a", "resources": {"requests": {"cpu": "1"}}},
        ]}});
        assert_eq!(
            pod_constraints(&hard, &pod).as_deref(),
            Some("must specify limits.memory for: a,b; requests.cpu for: b")
        );
        let ok = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}},
        ]}});
        assert_eq!(pod_constraints(&hard, &ok), None);
    }
}
