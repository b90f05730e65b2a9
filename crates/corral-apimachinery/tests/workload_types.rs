//! Properties of the workload and cluster types (scope, name rule, status
//! subresource, generation) and cross-type checks of the shared pod
//! template rules. Their defaulting, validation and table cases are data in
//! `tests/data/types/` (run by `types.rs`).

use corral_apimachinery::types::{REGISTRY, rules_for};
use corral_apimachinery::validation::NameRule;
use serde_json::{Value, json};

#[test]
fn workload_type_properties() {
    // (group, kind, namespaced, name rule, status subresource, generation)
    let cases = [
        ("", "Pod", true, NameRule::Dns1123Subdomain, true, true),
        (
            "",
            "PodTemplate",
            true,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
        ("", "Service", true, NameRule::Dns1123Label, true, false),
        (
            "",
            "Endpoints",
            true,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
        ("", "Node", false, NameRule::Dns1123Subdomain, true, false),
        (
            "",
            "PersistentVolumeClaim",
            true,
            NameRule::Dns1123Subdomain,
            true,
            false,
        ),
        (
            "",
            "PersistentVolume",
            false,
            NameRule::Dns1123Subdomain,
            true,
            false,
        ),
        (
            "",
            "ResourceQuota",
            true,
            NameRule::Dns1123Subdomain,
            true,
            false,
        ),
        (
            "",
            "LimitRange",
            true,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
        (
            "apps",
            "Deployment",
            true,
            NameRule::Dns1123Subdomain,
            true,
            true,
        ),
        (
            "apps",
            "ReplicaSet",
            true,
            NameRule::Dns1123Subdomain,
            true,
            true,
        ),
        (
            "apps",
            "StatefulSet",
            true,
            NameRule::Dns1123Subdomain,
            true,
            true,
        ),
        (
            "apps",
            "DaemonSet",
            true,
            NameRule::Dns1123Subdomain,
            true,
            true,
        ),
        (
            "apps",
            "ControllerRevision",
            true,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
        ("batch", "Job", true, NameRule::Dns1123Subdomain, true, true),
        (
            "batch",
            "CronJob",
            true,
            NameRule::Dns1123Subdomain,
            true,
            true,
        ),
        (
            "networking.k8s.io",
            "NetworkPolicy",
            true,
            NameRule::Dns1123Subdomain,
            false,
            true,
        ),
        (
            "networking.k8s.io",
            "Ingress",
            true,
            NameRule::Dns1123Subdomain,
            true,
            true,
        ),
        (
            "networking.k8s.io",
            "IngressClass",
            false,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
        (
            "policy",
            "PodDisruptionBudget",
            true,
            NameRule::Dns1123Subdomain,
            true,
            true,
        ),
        (
            "storage.k8s.io",
            "StorageClass",
            false,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
        (
            "scheduling.k8s.io",
            "PriorityClass",
            false,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
        (
            "discovery.k8s.io",
            "EndpointSlice",
            true,
            NameRule::Dns1123Subdomain,
            false,
            false,
        ),
    ];
    for (group, kind, namespaced, rule, status, generation) in cases {
        let r = rules_for(group, kind).unwrap_or_else(|| panic!("{group}/{kind} registered"));
        assert_eq!(r.namespaced(), namespaced, "{group}/{kind}");
        assert_eq!(r.name_rule(), rule, "{group}/{kind}");
        assert_eq!(r.has_status_subresource(), status, "{group}/{kind}");
        assert_eq!(r.tracks_generation(), generation, "{group}/{kind}");
    }
    // 12 older types plus these.
    assert_eq!(REGISTRY.len(), 12 + cases.len());
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}})
}

/// Every controller applies the same PodSpec defaults to its template.
#[test]
fn every_pod_template_gets_pod_spec_defaults() {
    let cases: [(&str, &str, Value, &[&str]); 6] = [
        (
            "apps",
            "Deployment",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template()}}),
            &["spec", "template", "spec"],
        ),
        (
            "apps",
            "ReplicaSet",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template()}}),
            &["spec", "template", "spec"],
        ),
        (
            "apps",
            "StatefulSet",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template()}}),
            &["spec", "template", "spec"],
        ),
        (
            "apps",
            "DaemonSet",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template()}}),
            &["spec", "template", "spec"],
        ),
        (
            "batch",
            "Job",
            json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": template()}}),
            &["spec", "template", "spec"],
        ),
        (
            "batch",
            "CronJob",
            json!({"spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template()}}}}),
            &["spec", "jobTemplate", "spec", "template", "spec"],
        ),
    ];
    for (group, kind, mut obj, path) in cases {
        rules_for(group, kind)
            .expect("rules")
            .default_on_create(&mut obj);
        let mut spec = &obj;
        for p in path {
            spec = &spec[*p];
        }
        assert_eq!(spec["dnsPolicy"], "ClusterFirst", "{kind}");
        assert_eq!(spec["restartPolicy"], "Always", "{kind}");
        assert_eq!(spec["schedulerName"], "default-scheduler", "{kind}");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30, "{kind}");
        assert_eq!(spec["securityContext"], json!({}), "{kind}");
        assert!(spec.get("enableServiceLinks").is_none(), "{kind}");
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{kind}");
        assert_eq!(
            c["terminationMessagePath"], "/dev/termination-log",
            "{kind}"
        );
        assert_eq!(c["terminationMessagePolicy"], "File", "{kind}");
    }
}

/// Defaulting is idempotent: applying it to its own output changes nothing
/// (updates re-default what creates already defaulted).
#[test]
fn defaults_are_idempotent() {
    let objects = [
        (
            "",
            "Pod",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 1}]}], "volumes": [{"name": "v"}]}}),
        ),
        (
            "",
            "Service",
            json!({"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
        ),
        (
            "apps",
            "Deployment",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template()}}),
        ),
        (
            "apps",
            "StatefulSet",
            json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template()}}),
        ),
        (
            "batch",
            "Job",
            json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"template": template()}}),
        ),
        (
            "batch",
            "CronJob",
            json!({"spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template()}}}}),
        ),
        (
            "networking.k8s.io",
            "NetworkPolicy",
            json!({"spec": {"ingress": [{"ports": [{"port": 80}]}]}}),
        ),
    ];
    for (group, kind, mut obj) in objects {
        let r = rules_for(group, kind).expect("rules");
        r.default_on_create(&mut obj);
        let once = obj.clone();
        r.prepare_for_update(&mut obj, &once);
        assert_eq!(obj, once, "{group}/{kind}");
        assert!(
            r.validate_create(&obj).is_empty() || group == "batch",
            "{group}/{kind}: {:?}",
            r.validate_create(&obj)
        );
    }
}

/// The image pull policy follows the tag as upstream's parser reads it.
#[test]
fn image_pull_policy_from_the_tag() {
    let r = rules_for("", "Pod").expect("pod");
    for (image, want) in [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("nginx@sha256:0123", "IfNotPresent"),
        ("nginx:1.27@sha256:0123", "IfNotPresent"),
    ] {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": image}]}});
        r.default_on_create(&mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["imagePullPolicy"], want,
            "{image}"
        );
    }
}
