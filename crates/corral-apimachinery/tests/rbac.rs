//! RBAC authorization: rule matching, the permission matrix over a fixture
//! of roles and bindings, rules_for, incremental index updates and
//! ClusterRole aggregation.

use corral_apimachinery::rbac::{
    Attributes, Decision, PolicyRule, RbacIndex, UserInfo, aggregate_rules, bind_attributes,
    escalate_attributes, escalation_allowed, rule_allows,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/rbac/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn fixture_index() -> RbacIndex {
    let objects = fixture("fixture.json");
    let mut index = RbacIndex::new();
    for obj in objects.as_array().unwrap() {
        assert!(index.upsert(obj), "fixture object accepted: {obj}");
    }
    index
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn case_attributes(case: &Value) -> Attributes {
    let groups = strs(case, "groups");
    let user = UserInfo {
        name: s(case, "user").to_string(),
        groups,
        ..UserInfo::default()
    };
    if case.get("path").is_some() {
        let mut a = Attributes::non_resource(user, s(case, "verb"), s(case, "path"));
        a.namespace = s(case, "ns").to_string();
        a
    } else {
        Attributes::resource(
            user,
            s(case, "verb"),
            s(case, "group"),
            s(case, "resource"),
            s(case, "ns"),
            s(case, "name"),
        )
    }
}

#[test]
fn permission_matrix() {
    let index = fixture_index();
    let cases = fixture("matrix.json");
    let mut failures = Vec::new();
    for case in cases.as_array().unwrap() {
        let attrs = case_attributes(case);
        let decision = index.authorize(&attrs);
        let want_allow = case["allow"].as_bool().unwrap();
        if decision.is_allowed() != want_allow {
            failures.push(format!("{case}\n  got {decision:?}"));
            continue;
        }
        if matches!(decision, Decision::Deny { .. }) {
            failures.push(format!("{case}\n  RBAC never denies, got {decision:?}"));
        }
        if let Some(reason) = case.get("reason").and_then(Value::as_str)
            && decision.reason() != reason
        {
            failures.push(format!(
                "{case}\n  reason {:?}, want {reason:?}",
                decision.reason()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} matrix failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn rule_allows_wildcards_and_subresources() {
    let user = UserInfo::new("u", &[]);
    let res = |verb: &str, group: &str, resource: &str, name: &str| {
        Attributes::resource(user.clone(), verb, group, resource, "ns", name)
    };
    let url = |verb: &str, path: &str| Attributes::non_resource(user.clone(), verb, path);
    let r = |v: Value| serde_json::from_value::<PolicyRule>(v).unwrap();

    // (rule, request, allowed)
    let cases: Vec<(PolicyRule, Attributes, bool)> = vec![
        (
            r(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})),
            res("escalate", "x.io", "things/status", "n"),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*"]})),
            res("list", "", "pods", ""),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})),
            res("get", "", "pods", "p"),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]})),
            res("get", "", "pods/log", "p"),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]})),
            res("get", "", "pods/log", "p"),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]})),
            res("get", "", "pods", "p"),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]})),
            res("get", "", "pods/log", ""),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]})),
            res("get", "", "nodes/log", ""),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]})),
            res("get", "", "pods", ""),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]})),
            res("get", "", "pods/logs", ""),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/*"]})),
            res("get", "", "pods/log", ""),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["*"]})),
            res("get", "", "pods/log", ""),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]})),
            res("get", "", "pods", ""),
            false,
        ),
        (
            r(
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a", "b"]}),
            ),
            res("get", "", "pods", "b"),
            true,
        ),
        (
            r(
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a", "b"]}),
            ),
            res("get", "", "pods", "c"),
            false,
        ),
        (
            r(
                json!({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}),
            ),
            res("list", "", "pods", ""),
            false,
        ),
        (
            r(
                json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": null}),
            ),
            res("get", "", "pods", "any"),
            true,
        ),
        // A resource rule never allows a non-resource request and vice versa.
        (
            r(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})),
            url("get", "/healthz"),
            false,
        ),
        (
            r(json!({"verbs": ["*"], "nonResourceURLs": ["*"]})),
            res("get", "", "pods", ""),
            false,
        ),
        (
            r(json!({"verbs": ["*"], "nonResourceURLs": ["*"]})),
            url("delete", "/anything/at/all"),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]})),
            url("get", "/healthz"),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz"]})),
            url("get", "/healthz/etcd"),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]})),
            url("get", "/healthz/etcd"),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]})),
            url("get", "/healthz"),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz*"]})),
            url("get", "/healthzzz"),
            true,
        ),
        (
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/api/*/v1"]})),
            url("get", "/api/x/v1"),
            false,
        ),
        (
            r(json!({"verbs": ["get"], "nonResourceURLs": ["/api/*/v1"]})),
            url("get", "/api/*/v1"),
            true,
        ),
    ];
    for (i, (rule, attrs, want)) in cases.iter().enumerate() {
        assert_eq!(
            rule_allows(rule, attrs),
            *want,
            "case {i}: {rule:?} vs {attrs:?}"
        );
    }
}

#[test]
fn policy_rule_json_round_trip() {
    let v = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": null, "nonResourceURLs": ["/x"]});
    let rule = PolicyRule::from_json(&v).unwrap();
    assert_eq!(rule.non_resource_urls, vec!["/x"]);
    assert!(rule.resource_names.is_empty());
    assert_eq!(
        rule.to_json(),
        json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "nonResourceURLs": ["/x"]})
    );
    assert_eq!(PolicyRule::default().to_json(), json!({"verbs": []}));
    assert!(PolicyRule::from_json(&json!({"verbs": [1]})).is_none());
    assert!(PolicyRule::from_json(&json!("get")).is_none());
}

#[test]
fn upsert_rejects_other_kinds_and_malformed_objects() {
    let mut index = RbacIndex::new();
    let rejected = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "d"}}),
        json!({"apiVersion": "example.com/v1", "kind": "Role", "metadata": {"name": "x", "namespace": "d"}, "rules": []}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "x"}, "rules": []}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {}, "rules": []}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}, "rules": {}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}, "rules": [{"verbs": "get"}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"},
               "roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": [42]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "x"},
               "roleRef": {"kind": "ClusterRole", "name": "r"}}),
        json!("not an object"),
    ];
    for obj in &rejected {
        assert!(!index.upsert(obj), "rejected: {obj}");
    }
    assert_eq!(index.counts(), (0, 0, 0, 0));
    assert!(index.is_empty());
    // Older RBAC versions and objects without subjects or rules are fine.
    assert!(index.upsert(&json!({"apiVersion": "rbac.authorization.k8s.io/v1beta1", "kind": "ClusterRole", "metadata": {"name": "empty"}})));
    assert!(index.upsert(&json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "empty"}})));
    assert_eq!(index.counts(), (1, 1, 0, 0));
    let index = fixture_index();
    assert_eq!(index.counts(), (10, 10, 2, 8));
}

fn allowed(index: &RbacIndex, user: &UserInfo, verb: &str, resource: &str, ns: &str) -> bool {
    index
        .authorize(&Attributes::resource(
            user.clone(),
            verb,
            "",
            resource,
            ns,
            "",
        ))
        .is_allowed()
}

#[test]
fn index_updates_change_decisions() {
    let mut index = RbacIndex::new();
    let alice = UserInfo::new("alice", &["team-a"]);
    let bob = UserInfo::new("bob", &[]);
    let role = |verbs: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "ns1"},
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}]})
    };
    let binding = |subjects: Value| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "ns1"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": subjects})
    };
    assert!(index.upsert(&role(json!(["get"]))));
    assert!(index.upsert(&binding(json!([{"kind": "User", "name": "alice"}]))));
    assert!(allowed(&index, &alice, "get", "configmaps", "ns1"));
    assert!(!allowed(&index, &alice, "delete", "configmaps", "ns1"));
    assert!(!allowed(&index, &bob, "get", "configmaps", "ns1"));

    // Replacing the role changes what the binding grants.
    assert!(index.upsert(&role(json!(["get", "delete"]))));
    assert!(allowed(&index, &alice, "delete", "configmaps", "ns1"));

    // Replacing the binding's subjects moves the grant.
    assert!(index.upsert(&binding(json!([{"kind": "User", "name": "bob"}]))));
    assert!(!allowed(&index, &alice, "get", "configmaps", "ns1"));
    assert!(allowed(&index, &bob, "get", "configmaps", "ns1"));
    assert_eq!(index.counts(), (0, 0, 1, 1));

    // ... to a group.
    assert!(index.upsert(&binding(json!([{"kind": "Group", "name": "team-a"}]))));
    assert!(allowed(&index, &alice, "get", "configmaps", "ns1"));
    assert!(!allowed(&index, &bob, "get", "configmaps", "ns1"));

    // Removing the role: the binding contributes nothing and is reported.
    index.remove("Role", "ns1", "r");
    let d = index.authorize(&Attributes::resource(
        alice.clone(),
        "get",
        "",
        "configmaps",
        "ns1",
        "",
    ));
    assert_eq!(
        d,
        Decision::NoOpinion {
            reason: "RBAC: role.rbac.authorization.k8s.io \"r\" not found".into()
        }
    );
    assert!(index.upsert(&role(json!(["get"]))));
    assert!(allowed(&index, &alice, "get", "configmaps", "ns1"));

    // Removing the binding.
    index.remove("RoleBinding", "ns1", "b");
    assert!(!allowed(&index, &alice, "get", "configmaps", "ns1"));
    assert_eq!(
        index
            .authorize(&Attributes::resource(
                alice.clone(),
                "get",
                "",
                "configmaps",
                "ns1",
                ""
            ))
            .reason(),
        ""
    );

    // A malformed replacement removes the old grant.
    assert!(index.upsert(&binding(json!([{"kind": "User", "name": "alice"}]))));
    assert!(allowed(&index, &alice, "get", "configmaps", "ns1"));
    assert!(!index.upsert(&binding(json!("alice"))));
    assert!(!allowed(&index, &alice, "get", "configmaps", "ns1"));

    // Removing what is not there is harmless; removing everything empties the index.
    index.remove("RoleBinding", "ns1", "b");
    index.remove("RoleBinding", "nope", "b");
    index.remove("Pod", "ns1", "r");
    index.remove("Role", "ns1", "r");
    assert_eq!(index.counts(), (0, 0, 0, 0));
    assert!(index.is_empty());

    // Cluster scope: ClusterRoleBinding to a service account, then its ClusterRole removed.
    let sa = UserInfo::new(
        "system:serviceaccount:kube-system:ctrl",
        &["system:serviceaccounts"],
    );
    assert!(
        index.upsert(&json!({"kind": "ClusterRole", "metadata": {"name": "cr"},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]}))
    );
    assert!(index.upsert(
        &json!({"kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
        "roleRef": {"kind": "ClusterRole", "name": "cr"},
        "subjects": [{"kind": "ServiceAccount", "name": "ctrl", "namespace": "kube-system"}]})
    ));
    assert!(allowed(&index, &sa, "list", "nodes", ""));
    assert!(allowed(&index, &sa, "list", "nodes", "any-namespace"));
    assert!(index.upsert(
        &json!({"kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
        "roleRef": {"kind": "ClusterRole", "name": "cr"},
        "subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "kube-system"}]})
    ));
    assert!(!allowed(&index, &sa, "list", "nodes", ""));
    index.remove("ClusterRoleBinding", "", "crb");
    index.remove("ClusterRole", "", "cr");
    assert_eq!(index.counts(), (0, 0, 0, 0));
    assert!(index.is_empty());
}

#[test]
fn service_account_names_with_colons_match_exactly() {
    // Upstream MatchesUsername compares "system:serviceaccount:<ns>:<name>" exactly.
    let index = RbacIndex::from_objects(&[
        json!({"kind": "ClusterRole", "metadata": {"name": "cr"},
               "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "crb"}, "roleRef": {"kind": "ClusterRole", "name": "cr"},
               "subjects": [{"kind": "ServiceAccount", "namespace": "a", "name": "b:c"}]}),
    ]);
    for (user, want) in [
        ("system:serviceaccount:a:b:c", true),
        ("system:serviceaccount:a:b", false),
        ("system:serviceaccount:a:b:c:d", false),
        ("system:serviceaccount:a", false),
    ] {
        assert_eq!(
            allowed(&index, &UserInfo::new(user, &[]), "get", "pods", "x"),
            want,
            "{user}"
        );
    }
}

#[test]
fn rules_for_collects_cluster_then_namespace_rules_and_errors() {
    let index = fixture_index();
    let r = |v: Value| serde_json::from_value::<PolicyRule>(v).unwrap();

    let alice = UserInfo::new("alice", &[]);
    let (rules, errors) = index.rules_for(&alice, "dev");
    assert_eq!(
        rules,
        vec![r(
            json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]})
        )]
    );
    assert!(errors.is_empty());
    assert_eq!(index.rules_for(&alice, ""), (vec![], vec![]));

    // Cluster-wide rules first (bindings by name: "ghost" then "metrics"), then the namespace's.
    let dave = UserInfo::new("dave", &["ops", "system:serviceaccounts"]);
    let (rules, errors) = index.rules_for(&dave, "prod");
    assert_eq!(
        rules,
        vec![
            r(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]})),
            r(json!({"nonResourceURLs": ["/metrics", "/logs/*"], "verbs": ["get"]})),
        ]
    );
    assert_eq!(
        errors,
        vec![
            "clusterrole.rbac.authorization.k8s.io \"ghost\" not found".to_string(),
            "role.rbac.authorization.k8s.io \"nonexistent\" not found".to_string(),
        ]
    );

    // RoleBindings to ClusterRoles with URL rules are listed (as upstream RulesFor does)
    // even though authorize only honours URL rules from ClusterRoleBindings.
    let erin = UserInfo::new("erin", &[]);
    let (rules, _) = index.rules_for(&erin, "prod");
    assert_eq!(
        rules,
        vec![r(
            json!({"nonResourceURLs": ["/healthz"], "verbs": ["get"]})
        )]
    );

    // role_ref_rules is upstream GetRoleReferenceRules.
    assert_eq!(
        index
            .role_ref_rules("Role", "deployer", "dev")
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        index
            .role_ref_rules("Role", "deployer", "prod")
            .unwrap_err(),
        "role.rbac.authorization.k8s.io \"deployer\" not found"
    );
    assert_eq!(
        index.role_ref_rules("Group", "x", "dev").unwrap_err(),
        "unsupported role reference kind: \"Group\""
    );
}

#[test]
fn escalation_shortcut_attributes() {
    let masters = UserInfo::new("root", &["system:masters"]);
    assert!(escalation_allowed(&masters));
    assert!(!escalation_allowed(&UserInfo::new(
        "system:masters",
        &["system:authenticated"]
    )));

    let u = UserInfo::new("u", &[]);
    let a = escalate_attributes(&u, "dev", "my-role");
    assert_eq!(
        (
            a.verb.as_str(),
            a.api_group.as_str(),
            a.resource.as_str(),
            a.namespace.as_str(),
            a.name.as_str()
        ),
        (
            "escalate",
            "rbac.authorization.k8s.io",
            "roles",
            "dev",
            "my-role"
        )
    );
    assert_eq!(escalate_attributes(&u, "", "cr").resource, "clusterroles");
    let b = bind_attributes(
        &u,
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "view",
        "dev",
    )
    .unwrap();
    assert_eq!(
        (
            b.verb.as_str(),
            b.resource.as_str(),
            b.namespace.as_str(),
            b.name.as_str()
        ),
        ("bind", "clusterroles", "dev", "view")
    );
    assert!(bind_attributes(&u, "User", "", "x", "").is_none());

    // A user allowed to bind a specific ClusterRole in one namespace.
    let index = RbacIndex::from_objects(&[
        json!({"kind": "ClusterRole", "metadata": {"name": "binder"},
               "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["view"]}]}),
        json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "dev"}, "roleRef": {"kind": "ClusterRole", "name": "binder"},
               "subjects": [{"kind": "User", "name": "u"}]}),
    ]);
    assert!(index.authorize(&b).is_allowed());
    let edit = bind_attributes(
        &u,
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "edit",
        "dev",
    )
    .unwrap();
    assert!(!index.authorize(&edit).is_allowed());
    let other_ns = bind_attributes(
        &u,
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "view",
        "prod",
    )
    .unwrap();
    assert!(!index.authorize(&other_ns).is_allowed());
}

#[test]
fn aggregation() {
    let data = fixture("aggregation.json");
    let roles = data["clusterRoles"].as_array().unwrap();
    for case in data["cases"].as_array().unwrap() {
        let name = case["aggregating"].as_str().unwrap();
        let aggregating = roles
            .iter()
            .find(|r| r["metadata"]["name"] == name)
            .unwrap();
        let expected: Vec<PolicyRule> = serde_json::from_value(case["expected"].clone()).unwrap();
        assert_eq!(
            aggregate_rules(aggregating, roles),
            expected,
            "{}",
            case["why"]
        );
    }
}

#[test]
fn aggregated_rules_authorize_once_stored() {
    // The server's aggregation loop stores aggregate_rules() into the role; the
    // index then authorizes from the stored rules (as upstream).
    let data = fixture("aggregation.json");
    let roles = data["clusterRoles"].as_array().unwrap();
    let mut monitoring = roles[0].clone();
    let user = UserInfo::new("m", &[]);
    let mut index = RbacIndex::from_objects(&[
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "m"},
        "roleRef": {"kind": "ClusterRole", "name": "monitoring"}, "subjects": [{"kind": "User", "name": "m"}]}),
    ]);
    index.upsert(&monitoring);
    let metrics = Attributes::non_resource(user.clone(), "get", "/metrics");
    assert!(!index.authorize(&metrics).is_allowed());
    monitoring["rules"] = serde_json::to_value(aggregate_rules(&monitoring, roles)).unwrap();
    index.upsert(&monitoring);
    assert!(index.authorize(&metrics).is_allowed());
    assert!(
        index
            .authorize(&Attributes::resource(
                user,
                "list",
                "metrics.k8s.io",
                "nodes",
                "",
                ""
            ))
            .is_allowed()
    );
}
