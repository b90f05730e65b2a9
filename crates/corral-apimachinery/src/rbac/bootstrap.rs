//! The bootstrap RBAC policy of a fresh cluster (upstream
//! plugin/pkg/auth/authorizer/rbac/bootstrappolicy `ClusterRoles()` and
//! `ClusterRoleBindings()` with default feature gates), following upstream's
//! golden testdata/cluster-roles.yaml of the v1.27-v1.32 era.
//!
//! Not included: the per-controller roles (`system:controller:*`, from
//! controller_policy.go), the namespaced bootstrap Roles (kube-system /
//! kube-public), and rules upstream adds behind feature gates or after that
//! snapshot (DRA `resource.k8s.io`, ClusterTrustBundle, kubelet fine-grained
//! authz, `servicecidrs` for the proxier, trailing-slash OIDC discovery URLs).

use serde_json::{Map, Value, json};

use super::{PolicyRule, RBAC_GROUP, aggregate_rules};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
const READ_UPDATE: &[&str] = &["get", "list", "watch", "update", "patch"];

const LEGACY: &str = "";
const APPS: &str = "apps";
const AUTHENTICATION: &str = "authentication.k8s.io";
const AUTHORIZATION: &str = "authorization.k8s.io";
const AUTOSCALING: &str = "autoscaling";
const BATCH: &str = "batch";
const CERTIFICATES: &str = "certificates.k8s.io";
const COORDINATION: &str = "coordination.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const EXTENSIONS: &str = "extensions";
const NETWORKING: &str = "networking.k8s.io";
const NODE: &str = "node.k8s.io";
const POLICY: &str = "policy";
const STORAGE: &str = "storage.k8s.io";
const EVENTS: &str = "events.k8s.io";

const AGGREGATE_TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const AGGREGATE_TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const AGGREGATE_TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Upstream `NewRule(verbs...).Groups(...).Resources(...).RuleOrDie()`: every
/// list sorted.
fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: sorted(verbs),
        api_groups: sorted(groups),
        resources: sorted(resources),
        ..PolicyRule::default()
    }
}

fn named(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        resource_names: sorted(names),
        ..rule(verbs, groups, resources)
    }
}

fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: sorted(verbs),
        non_resource_urls: sorted(urls),
        ..PolicyRule::default()
    }
}

/// Upstream `eventsRule()`.
fn events_rule() -> PolicyRule {
    rule(
        &["create", "update", "patch"],
        &[LEGACY, EVENTS],
        &["events"],
    )
}

struct Role {
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    aggregate_label: Option<&'static str>,
    rules: Vec<PolicyRule>,
}

fn role(name: &'static str, rules: Vec<PolicyRule>) -> Role {
    Role {
        name,
        labels: &[],
        aggregate_label: None,
        rules,
    }
}

fn node_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create"], &[AUTHENTICATION], &["tokenreviews"]),
        rule(
            &["create"],
            &[AUTHORIZATION],
            &["subjectaccessreviews", "localsubjectaccessreviews"],
        ),
        rule(READ, &[LEGACY], &["services"]),
        rule(&["create", "get", "list", "watch"], &[LEGACY], &["nodes"]),
        rule(&["update", "patch"], &[LEGACY], &["nodes/status"]),
        rule(&["update", "patch"], &[LEGACY], &["nodes"]),
        rule(&["create", "update", "patch"], &[LEGACY], &["events"]),
        rule(READ, &[LEGACY], &["pods"]),
        rule(&["create", "delete"], &[LEGACY], &["pods"]),
        rule(&["update", "patch"], &[LEGACY], &["pods/status"]),
        rule(&["create"], &[LEGACY], &["pods/eviction"]),
        rule(
            &["get", "list", "watch"],
            &[LEGACY],
            &["secrets", "configmaps"],
        ),
        rule(
            &["get"],
            &[LEGACY],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(&["get"], &[LEGACY], &["endpoints"]),
        rule(
            &["create", "get", "list", "watch"],
            &[CERTIFICATES],
            &["certificatesigningrequests"],
        ),
        rule(
            &["get", "create", "update", "patch", "delete"],
            &[COORDINATION],
            &["leases"],
        ),
        rule(&["get"], &[STORAGE], &["volumeattachments"]),
        rule(&["create"], &[LEGACY], &["serviceaccounts/token"]),
        rule(
            &["get", "update", "patch"],
            &[LEGACY],
            &["persistentvolumeclaims/status"],
        ),
        rule(&["get", "watch", "list"], &[STORAGE], &["csidrivers"]),
        rule(
            &["get", "create", "update", "patch", "delete"],
            &[STORAGE],
            &["csinodes"],
        ),
        rule(&["get", "list", "watch"], &[NODE], &["runtimeclasses"]),
    ]
}

fn cluster_roles() -> Vec<Role> {
    vec![
        role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        role(
            "system:discovery",
            vec![urls(
                &["get"],
                &[
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/version",
                    "/version/",
                    "/openapi",
                    "/openapi/*",
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                ],
            )],
        ),
        role(
            "system:monitoring",
            vec![urls(
                &["get"],
                &[
                    "/metrics",
                    "/metrics/slis",
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/livez/*",
                    "/readyz/*",
                    "/healthz/*",
                ],
            )],
        ),
        role(
            "system:basic-user",
            vec![
                rule(
                    &["create"],
                    &[AUTHORIZATION],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(&["create"], &[AUTHENTICATION], &["selfsubjectreviews"]),
            ],
        ),
        role(
            "system:public-info-viewer",
            vec![urls(
                &["get"],
                &["/livez", "/readyz", "/healthz", "/version", "/version/"],
            )],
        ),
        Role {
            name: "admin",
            labels: &[],
            aggregate_label: Some(AGGREGATE_TO_ADMIN),
            rules: Vec::new(),
        },
        Role {
            name: "edit",
            labels: &[(AGGREGATE_TO_ADMIN, "true")],
            aggregate_label: Some(AGGREGATE_TO_EDIT),
            rules: Vec::new(),
        },
        Role {
            name: "view",
            labels: &[(AGGREGATE_TO_EDIT, "true")],
            aggregate_label: Some(AGGREGATE_TO_VIEW),
            rules: Vec::new(),
        },
        Role {
            name: "system:aggregate-to-admin",
            labels: &[(AGGREGATE_TO_ADMIN, "true")],
            aggregate_label: None,
            rules: vec![
                rule(
                    &["create"],
                    &[AUTHORIZATION],
                    &["localsubjectaccessreviews"],
                ),
                rule(
                    READ_WRITE,
                    &["rbac.authorization.k8s.io"],
                    &["roles", "rolebindings"],
                ),
            ],
        },
        Role {
            name: "system:aggregate-to-edit",
            labels: &[(AGGREGATE_TO_EDIT, "true")],
            aggregate_label: None,
            rules: vec![
                // Read on escalating resources.
                rule(
                    READ,
                    &[LEGACY],
                    &[
                        "pods/attach",
                        "pods/proxy",
                        "pods/exec",
                        "pods/portforward",
                        "secrets",
                        "services/proxy",
                    ],
                ),
                rule(&["impersonate"], &[LEGACY], &["serviceaccounts"]),
                rule(
                    WRITE,
                    &[LEGACY],
                    &[
                        "pods",
                        "pods/attach",
                        "pods/proxy",
                        "pods/exec",
                        "pods/portforward",
                    ],
                ),
                rule(&["create"], &[LEGACY], &["pods/eviction"]),
                rule(
                    WRITE,
                    &[LEGACY],
                    &[
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                        "persistentvolumeclaims",
                        "configmaps",
                        "secrets",
                        "events",
                    ],
                ),
                rule(&["create"], &[LEGACY], &["serviceaccounts/token"]),
                rule(
                    WRITE,
                    &[APPS],
                    &[
                        "statefulsets",
                        "statefulsets/scale",
                        "daemonsets",
                        "deployments",
                        "deployments/scale",
                        "deployments/rollback",
                        "replicasets",
                        "replicasets/scale",
                    ],
                ),
                rule(WRITE, &[AUTOSCALING], &["horizontalpodautoscalers"]),
                rule(WRITE, &[BATCH], &["jobs", "cronjobs"]),
                rule(
                    WRITE,
                    &[EXTENSIONS],
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/scale",
                        "deployments/rollback",
                        "ingresses",
                        "replicasets",
                        "replicasets/scale",
                        "replicationcontrollers/scale",
                        "networkpolicies",
                    ],
                ),
                rule(WRITE, &[POLICY], &["poddisruptionbudgets"]),
                rule(WRITE, &[NETWORKING], &["networkpolicies", "ingresses"]),
                rule(READ_WRITE, &[COORDINATION], &["leases"]),
            ],
        },
        Role {
            name: "system:aggregate-to-view",
            labels: &[(AGGREGATE_TO_VIEW, "true")],
            aggregate_label: None,
            rules: vec![
                rule(
                    READ,
                    &[LEGACY],
                    &[
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "configmaps",
                    ],
                ),
                rule(
                    READ,
                    &[LEGACY],
                    &[
                        "limitranges",
                        "resourcequotas",
                        "bindings",
                        "events",
                        "pods/status",
                        "resourcequotas/status",
                        "namespaces/status",
                        "replicationcontrollers/status",
                        "pods/log",
                    ],
                ),
                // Reading namespaces at namespace scope means reading *this* namespace.
                rule(READ, &[LEGACY], &["namespaces"]),
                rule(READ, &[DISCOVERY], &["endpointslices"]),
                rule(
                    READ,
                    &[APPS],
                    &[
                        "controllerrevisions",
                        "statefulsets",
                        "statefulsets/status",
                        "statefulsets/scale",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/status",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/status",
                        "replicasets/scale",
                    ],
                ),
                rule(
                    READ,
                    &[AUTOSCALING],
                    &[
                        "horizontalpodautoscalers",
                        "horizontalpodautoscalers/status",
                    ],
                ),
                rule(
                    READ,
                    &[BATCH],
                    &["jobs", "cronjobs", "cronjobs/status", "jobs/status"],
                ),
                rule(
                    READ,
                    &[EXTENSIONS],
                    &[
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "ingresses",
                        "ingresses/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "replicationcontrollers/scale",
                        "networkpolicies",
                    ],
                ),
                rule(
                    READ,
                    &[POLICY],
                    &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                ),
                rule(
                    READ,
                    &[NETWORKING],
                    &["networkpolicies", "ingresses", "ingresses/status"],
                ),
            ],
        },
        role(
            "system:heapster",
            vec![
                rule(READ, &[LEGACY], &["events", "pods", "nodes", "namespaces"]),
                rule(READ, &[EXTENSIONS], &["deployments"]),
            ],
        ),
        role("system:node", node_rules()),
        role(
            "system:node-problem-detector",
            vec![
                rule(&["get"], &[LEGACY], &["nodes"]),
                rule(&["patch"], &[LEGACY], &["nodes/status"]),
                events_rule(),
            ],
        ),
        role(
            "system:kubelet-api-admin",
            vec![
                rule(&["get", "list", "watch"], &[LEGACY], &["nodes"]),
                rule(&["proxy"], &[LEGACY], &["nodes"]),
                rule(
                    &["*"],
                    &[LEGACY],
                    &["nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log"],
                ),
            ],
        ),
        role(
            "system:node-bootstrapper",
            vec![rule(
                &["create", "get", "list", "watch"],
                &[CERTIFICATES],
                &["certificatesigningrequests"],
            )],
        ),
        role(
            "system:auth-delegator",
            vec![
                rule(&["create"], &[AUTHENTICATION], &["tokenreviews"]),
                rule(&["create"], &[AUTHORIZATION], &["subjectaccessreviews"]),
            ],
        ),
        role(
            "system:kube-aggregator",
            vec![rule(READ, &[LEGACY], &["services", "endpoints"])],
        ),
        role(
            "system:kube-controller-manager",
            vec![
                events_rule(),
                rule(&["create"], &[COORDINATION], &["leases"]),
                named(
                    &["get", "update"],
                    &[COORDINATION],
                    &["leases"],
                    &["kube-controller-manager"],
                ),
                rule(&["create"], &[LEGACY], &["secrets", "serviceaccounts"]),
                rule(&["delete"], &[LEGACY], &["secrets"]),
                rule(
                    &["get"],
                    &[LEGACY],
                    &["namespaces", "secrets", "serviceaccounts", "configmaps"],
                ),
                rule(&["update"], &[LEGACY], &["secrets", "serviceaccounts"]),
                rule(&["create"], &[AUTHENTICATION], &["tokenreviews"]),
                rule(&["create"], &[AUTHORIZATION], &["subjectaccessreviews"]),
                rule(&["list", "watch"], &["*"], &["*"]),
                rule(&["create"], &[LEGACY], &["serviceaccounts/token"]),
            ],
        ),
        role(
            "system:kube-dns",
            vec![rule(
                &["list", "watch"],
                &[LEGACY],
                &["endpoints", "services"],
            )],
        ),
        role(
            "system:persistent-volume-provisioner",
            vec![
                rule(
                    &["get", "list", "watch", "create", "delete"],
                    &[LEGACY],
                    &["persistentvolumes"],
                ),
                rule(
                    &["get", "list", "watch", "update"],
                    &[LEGACY],
                    &["persistentvolumeclaims"],
                ),
                rule(READ, &[STORAGE], &["storageclasses"]),
                rule(&["watch"], &[LEGACY], &["events"]),
                events_rule(),
            ],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![rule(
                &["create"],
                &[CERTIFICATES],
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![rule(
                &["create"],
                &[CERTIFICATES],
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
        role(
            "system:volume-scheduler",
            vec![
                rule(READ_UPDATE, &[LEGACY], &["persistentvolumes"]),
                rule(READ, &[STORAGE], &["storageclasses"]),
                rule(READ_UPDATE, &[LEGACY], &["persistentvolumeclaims"]),
            ],
        ),
        role(
            "system:certificates.k8s.io:legacy-unknown-approver",
            vec![named(
                &["approve"],
                &[CERTIFICATES],
                &["signers"],
                &["kubernetes.io/legacy-unknown"],
            )],
        ),
        role(
            "system:certificates.k8s.io:kubelet-serving-approver",
            vec![named(
                &["approve"],
                &[CERTIFICATES],
                &["signers"],
                &["kubernetes.io/kubelet-serving"],
            )],
        ),
        role(
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            vec![named(
                &["approve"],
                &[CERTIFICATES],
                &["signers"],
                &["kubernetes.io/kube-apiserver-client"],
            )],
        ),
        role(
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            vec![named(
                &["approve"],
                &[CERTIFICATES],
                &["signers"],
                &["kubernetes.io/kube-apiserver-client-kubelet"],
            )],
        ),
        role(
            "system:service-account-issuer-discovery",
            vec![urls(
                &["get"],
                &["/.well-known/openid-configuration", "/openid/v1/jwks"],
            )],
        ),
        role(
            "system:node-proxier",
            vec![
                rule(&["list", "watch"], &[LEGACY], &["services", "endpoints"]),
                rule(&["get", "list", "watch"], &[LEGACY], &["nodes"]),
                events_rule(),
                rule(&["list", "watch"], &[DISCOVERY], &["endpointslices"]),
            ],
        ),
        role(
            "system:kube-scheduler",
            vec![
                events_rule(),
                rule(&["create"], &[COORDINATION], &["leases"]),
                named(
                    &["get", "update"],
                    &[COORDINATION],
                    &["leases"],
                    &["kube-scheduler"],
                ),
                rule(READ, &[LEGACY], &["nodes"]),
                rule(&["get", "list", "watch", "delete"], &[LEGACY], &["pods"]),
                rule(&["create"], &[LEGACY], &["pods/binding", "bindings"]),
                rule(&["patch", "update"], &[LEGACY], &["pods/status"]),
                rule(READ, &[LEGACY], &["services", "replicationcontrollers"]),
                rule(READ, &[APPS, EXTENSIONS], &["replicasets"]),
                rule(READ, &[APPS], &["statefulsets"]),
                rule(READ, &[POLICY], &["poddisruptionbudgets"]),
                rule(
                    READ,
                    &[LEGACY],
                    &["persistentvolumeclaims", "persistentvolumes"],
                ),
                rule(&["create"], &[AUTHENTICATION], &["tokenreviews"]),
                rule(&["create"], &[AUTHORIZATION], &["subjectaccessreviews"]),
                rule(READ, &[STORAGE], &["csinodes"]),
                rule(READ, &[LEGACY], &["namespaces"]),
                rule(READ, &[STORAGE], &["csidrivers"]),
                rule(READ, &[STORAGE], &["csistoragecapacities"]),
            ],
        ),
    ]
}

enum Subj {
    User(&'static str),
    Group(&'static str),
    ServiceAccount(&'static str, &'static str),
}

fn cluster_role_bindings() -> Vec<(&'static str, Vec<Subj>)> {
    use Subj::*;
    vec![
        ("cluster-admin", vec![Group("system:masters")]),
        ("system:monitoring", vec![Group("system:monitoring")]),
        ("system:discovery", vec![Group("system:authenticated")]),
        ("system:basic-user", vec![Group("system:authenticated")]),
        (
            "system:public-info-viewer",
            vec![
                Group("system:authenticated"),
                Group("system:unauthenticated"),
            ],
        ),
        ("system:node-proxier", vec![User("system:kube-proxy")]),
        (
            "system:kube-controller-manager",
            vec![User("system:kube-controller-manager")],
        ),
        (
            "system:kube-dns",
            vec![ServiceAccount("kube-system", "kube-dns")],
        ),
        ("system:kube-scheduler", vec![User("system:kube-scheduler")]),
        (
            "system:volume-scheduler",
            vec![User("system:kube-scheduler")],
        ),
        // Kept without subjects (the Node authorizer grants nodes instead).
        ("system:node", vec![]),
        (
            "system:service-account-issuer-discovery",
            vec![Group("system:serviceaccounts")],
        ),
    ]
}

/// Upstream `addDefaultMetadata`: the bootstrapping label and the
/// autoupdate annotation.
fn metadata(name: &str, extra_labels: &[(&str, &str)]) -> Value {
    let mut labels = Map::new();
    labels.insert("kubernetes.io/bootstrapping".into(), json!("rbac-defaults"));
    for (k, v) in extra_labels {
        labels.insert(k.to_string(), json!(v));
    }
    json!({
        "name": name,
        "labels": labels,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn rules_json(rules: &[PolicyRule]) -> Value {
    Value::Array(rules.iter().map(PolicyRule::to_json).collect())
}

/// The bootstrap RBAC objects of a fresh cluster: upstream's default
/// ClusterRoles (cluster-admin, admin/edit/view with their aggregation rules
/// and labels, the `system:aggregate-to-*` roles, system:discovery,
/// system:basic-user, system:public-info-viewer, system:monitoring,
/// system:auth-delegator, the node, scheduler, controller-manager, proxy,
/// DNS, CSR-approval and issuer-discovery roles) and ClusterRoleBindings,
/// with the `kubernetes.io/bootstrapping: rbac-defaults` label and the
/// `rbac.authorization.kubernetes.io/autoupdate: "true"` annotation.
///
/// The aggregated roles (admin, edit, view) already carry the rules the
/// aggregation controller gives them, so the policy authorizes correctly
/// before any controller runs. ClusterRoles come first, then
/// ClusterRoleBindings, each sorted by name.
pub fn bootstrap_policy() -> Vec<Value> {
    let mut roles = cluster_roles();
    roles.sort_by(|a, b| a.name.cmp(b.name));
    let mut role_objects: Vec<Value> = roles
        .iter()
        .map(|r| {
            let mut obj = json!({
                "apiVersion": format!("{RBAC_GROUP}/v1"),
                "kind": "ClusterRole",
                "metadata": metadata(r.name, r.labels),
                "rules": rules_json(&r.rules),
            });
            if let Some(label) = r.aggregate_label {
                obj["aggregationRule"] =
                    json!({"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]});
            }
            obj
        })
        .collect();

    // Run aggregation to its fixed point (edit includes view, admin includes edit).
    for _ in 0..role_objects.len() {
        let mut changed = false;
        for i in 0..role_objects.len() {
            if role_objects[i].get("aggregationRule").is_none() {
                continue;
            }
            let rules = rules_json(&aggregate_rules(&role_objects[i], &role_objects));
            if role_objects[i]["rules"] != rules {
                role_objects[i]["rules"] = rules;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    let mut bindings = cluster_role_bindings();
    bindings.sort_by(|a, b| a.0.cmp(b.0));
    let binding_objects = bindings.into_iter().map(|(name, subjects)| {
        let mut obj = json!({
            "apiVersion": format!("{RBAC_GROUP}/v1"),
            "kind": "ClusterRoleBinding",
            "metadata": metadata(name, &[]),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
        });
        if !subjects.is_empty() {
            let subjects: Vec<Value> = subjects
                .iter()
                .map(|s| match s {
                    Subj::User(n) => json!({"apiGroup": RBAC_GROUP, "kind": "User", "name": n}),
                    Subj::Group(n) => json!({"apiGroup": RBAC_GROUP, "kind": "Group", "name": n}),
                    Subj::ServiceAccount(ns, n) => {
                        json!({"kind": "ServiceAccount", "name": n, "namespace": ns})
                    }
                })
                .collect();
            obj["subjects"] = Value::Array(subjects);
        }
        obj
    });
    role_objects.extend(binding_objects);
    role_objects
}
