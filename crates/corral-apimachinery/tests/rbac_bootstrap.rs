//! The bootstrap policy: its objects, and what the default roles allow.

use corral_apimachinery::rbac::{
    Attributes, Decision, PolicyRule, RbacIndex, UserInfo, aggregate_rules, bootstrap_policy,
};
use serde_json::{Value, json};

fn index() -> RbacIndex {
    let policy = bootstrap_policy();
    let mut index = RbacIndex::new();
    for obj in &policy {
        assert!(
            index.upsert(obj),
            "bootstrap object accepted: {}",
            obj["metadata"]["name"]
        );
    }
    index
}

fn find<'a>(policy: &'a [Value], kind: &str, name: &str) -> &'a Value {
    policy
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} in the bootstrap policy"))
}

fn res(user: &UserInfo, verb: &str, group: &str, resource: &str, ns: &str) -> Attributes {
    Attributes::resource(user.clone(), verb, group, resource, ns, "")
}

fn authenticated(name: &str) -> UserInfo {
    UserInfo::new(name, &["system:authenticated"])
}

#[test]
fn objects_carry_upstream_metadata() {
    let policy = bootstrap_policy();
    let mut names = Vec::new();
    for obj in &policy {
        assert_eq!(obj["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert_eq!(
            obj["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults",
            "{obj}"
        );
        assert_eq!(
            obj["metadata"]["annotations"],
            json!({"rbac.authorization.kubernetes.io/autoupdate": "true"})
        );
        names.push(format!(
            "{}/{}",
            obj["kind"].as_str().unwrap(),
            obj["metadata"]["name"].as_str().unwrap()
        ));
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no duplicates");
    for want in [
        "ClusterRole/cluster-admin",
        "ClusterRole/admin",
        "ClusterRole/edit",
        "ClusterRole/view",
        "ClusterRole/system:aggregate-to-admin",
        "ClusterRole/system:aggregate-to-edit",
        "ClusterRole/system:aggregate-to-view",
        "ClusterRole/system:discovery",
        "ClusterRole/system:basic-user",
        "ClusterRole/system:public-info-viewer",
        "ClusterRole/system:monitoring",
        "ClusterRole/system:auth-delegator",
        "ClusterRole/system:node",
        "ClusterRole/system:kube-scheduler",
        "ClusterRole/system:kube-controller-manager",
        "ClusterRole/system:service-account-issuer-discovery",
        "ClusterRoleBinding/cluster-admin",
        "ClusterRoleBinding/system:discovery",
        "ClusterRoleBinding/system:basic-user",
        "ClusterRoleBinding/system:public-info-viewer",
        "ClusterRoleBinding/system:monitoring",
        "ClusterRoleBinding/system:node",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing");
    }

    // The bindings as upstream writes them.
    assert_eq!(
        find(&policy, "ClusterRoleBinding", "cluster-admin"),
        &json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "cluster-admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]
        })
    );
    assert_eq!(
        find(&policy, "ClusterRoleBinding", "system:public-info-viewer")["subjects"],
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"},
               {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}])
    );
    for name in ["system:discovery", "system:basic-user"] {
        assert_eq!(
            find(&policy, "ClusterRoleBinding", name)["subjects"],
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}])
        );
    }
    assert_eq!(
        find(&policy, "ClusterRoleBinding", "system:kube-dns")["subjects"],
        json!([{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}])
    );
    assert!(
        find(&policy, "ClusterRoleBinding", "system:node")
            .get("subjects")
            .is_none()
    );

    // Aggregation rules and labels of the user-facing roles.
    let admin = find(&policy, "ClusterRole", "admin");
    assert_eq!(
        admin["aggregationRule"],
        json!({"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]})
    );
    assert!(
        admin["metadata"]["labels"]
            .get("rbac.authorization.k8s.io/aggregate-to-admin")
            .is_none()
    );
    assert_eq!(
        find(&policy, "ClusterRole", "edit")["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"],
        "true"
    );
    assert_eq!(
        find(&policy, "ClusterRole", "view")["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
    assert_eq!(
        find(&policy, "ClusterRole", "system:aggregate-to-view")["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    assert_eq!(
        find(&policy, "ClusterRole", "cluster-admin")["rules"],
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}])
    );
    assert_eq!(
        find(&policy, "ClusterRole", "system:discovery")["rules"],
        json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                                    "/readyz", "/version", "/version/"], "verbs": ["get"]}])
    );
}

#[test]
fn aggregated_roles_are_at_their_fixed_point() {
    let policy = bootstrap_policy();
    let roles: Vec<Value> = policy
        .iter()
        .filter(|o| o["kind"] == "ClusterRole")
        .cloned()
        .collect();
    let rules_of = |name: &str| -> Vec<PolicyRule> {
        serde_json::from_value(find(&policy, "ClusterRole", name)["rules"].clone()).unwrap()
    };
    for name in ["admin", "edit", "view"] {
        let stored = rules_of(name);
        assert!(!stored.is_empty(), "{name} has rules");
        assert_eq!(
            aggregate_rules(find(&policy, "ClusterRole", name), &roles),
            stored,
            "{name} is aggregated"
        );
    }
    // view = aggregate-to-view; edit = aggregate-to-edit then view; admin = edit then aggregate-to-admin.
    assert_eq!(rules_of("view"), rules_of("system:aggregate-to-view"));
    let mut edit = rules_of("system:aggregate-to-edit");
    edit.extend(rules_of("view"));
    assert_eq!(rules_of("edit"), edit);
    let mut admin = rules_of("edit");
    admin.extend(rules_of("system:aggregate-to-admin"));
    assert_eq!(rules_of("admin"), admin);
}

#[test]
fn system_masters_can_do_anything() {
    let index = index();
    let root = UserInfo::new("kube-admin", &["system:masters", "system:authenticated"]);
    for attrs in [
        res(&root, "delete", "", "secrets", "kube-system"),
        res(
            &root,
            "escalate",
            "rbac.authorization.k8s.io",
            "clusterroles",
            "",
        ),
        res(&root, "create", "example.com", "widgets/status", "x"),
        Attributes::non_resource(root.clone(), "get", "/metrics"),
        Attributes::non_resource(root.clone(), "post", "/anything"),
    ] {
        let d = index.authorize(&attrs);
        assert_eq!(
            d,
            Decision::Allow {
                reason: "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"".into()
            },
            "{attrs:?}"
        );
    }
}

#[test]
fn authenticated_users_get_discovery_only() {
    let index = index();
    let user = authenticated("jane");
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/version",
        "/version/",
        "/healthz",
        "/livez",
        "/readyz",
        "/openapi/v2",
    ] {
        assert!(
            index
                .authorize(&Attributes::non_resource(user.clone(), "get", path))
                .is_allowed(),
            "GET {path}"
        );
    }
    assert_eq!(
        index
            .authorize(&Attributes::non_resource(user.clone(), "get", "/api"))
            .reason(),
        "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\""
    );
    for path in ["/metrics", "/logs", "/healthz/etcd", "/debug/pprof"] {
        assert!(
            !index
                .authorize(&Attributes::non_resource(user.clone(), "get", path))
                .is_allowed(),
            "GET {path}"
        );
    }
    assert!(
        !index
            .authorize(&Attributes::non_resource(user.clone(), "post", "/api"))
            .is_allowed()
    );
    for (verb, resource, ns) in [
        ("list", "secrets", "default"),
        ("list", "secrets", ""),
        ("get", "pods", "default"),
        ("list", "namespaces", ""),
    ] {
        assert_eq!(
            index.authorize(&res(&user, verb, "", resource, ns)),
            Decision::NoOpinion {
                reason: String::new()
            }
        );
    }
    assert!(
        index
            .authorize(&res(
                &user,
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                ""
            ))
            .is_allowed()
    );
    assert!(
        index
            .authorize(&res(
                &user,
                "create",
                "authorization.k8s.io",
                "selfsubjectrulesreviews",
                ""
            ))
            .is_allowed()
    );
    assert!(
        index
            .authorize(&res(
                &user,
                "create",
                "authentication.k8s.io",
                "selfsubjectreviews",
                ""
            ))
            .is_allowed()
    );
    assert!(
        !index
            .authorize(&res(
                &user,
                "create",
                "authorization.k8s.io",
                "subjectaccessreviews",
                ""
            ))
            .is_allowed()
    );

    // Anonymous users only see public info.
    let anon = UserInfo::new("system:anonymous", &["system:unauthenticated"]);
    assert!(
        index
            .authorize(&Attributes::non_resource(anon.clone(), "get", "/version"))
            .is_allowed()
    );
    assert!(
        index
            .authorize(&Attributes::non_resource(anon.clone(), "get", "/healthz"))
            .is_allowed()
    );
    assert!(
        !index
            .authorize(&Attributes::non_resource(anon.clone(), "get", "/api"))
            .is_allowed()
    );
    assert!(
        !index
            .authorize(&res(
                &anon,
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                ""
            ))
            .is_allowed()
    );
}

fn bind(index: &mut RbacIndex, role: &str, user: &str, ns: &str) {
    assert!(index.upsert(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": format!("{user}-{role}"), "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    })));
}

#[test]
fn view_edit_admin_in_a_namespace() {
    let mut index = index();
    bind(&mut index, "view", "viewer", "team");
    bind(&mut index, "edit", "editor", "team");
    bind(&mut index, "admin", "owner", "team");
    let viewer = authenticated("viewer");
    let editor = authenticated("editor");
    let owner = authenticated("owner");
    let rbac = "rbac.authorization.k8s.io";

    // (user, verb, group, resource, namespace, allowed)
    let cases: Vec<(&UserInfo, &str, &str, &str, &str, bool)> = vec![
        (&viewer, "get", "", "pods", "team", true),
        (&viewer, "list", "apps", "deployments", "team", true),
        (&viewer, "get", "", "pods/log", "team", true),
        (&viewer, "get", "", "secrets", "team", false),
        (&viewer, "list", "", "secrets", "team", false),
        (&viewer, "create", "", "pods", "team", false),
        (&viewer, "create", "", "pods/exec", "team", false),
        (&viewer, "get", "", "pods", "other", false),
        (&viewer, "get", "", "pods", "", false),
        (&editor, "get", "", "secrets", "team", true),
        (&editor, "create", "", "secrets", "team", true),
        (&editor, "create", "", "pods/exec", "team", true),
        (&editor, "update", "apps", "deployments/scale", "team", true),
        (&editor, "get", "", "pods", "team", true),
        (&editor, "create", rbac, "roles", "team", false),
        (&editor, "create", rbac, "rolebindings", "team", false),
        (&editor, "update", "", "resourcequotas", "team", false),
        (&editor, "create", "", "secrets", "other", false),
        (&owner, "create", rbac, "roles", "team", true),
        (&owner, "create", rbac, "rolebindings", "team", true),
        (&owner, "delete", "", "secrets", "team", true),
        (
            &owner,
            "create",
            "authorization.k8s.io",
            "localsubjectaccessreviews",
            "team",
            true,
        ),
        (&owner, "create", rbac, "clusterroles", "", false),
        (&owner, "update", "", "resourcequotas", "team", false),
        (&owner, "create", rbac, "roles", "other", false),
    ];
    for (user, verb, group, resource, ns, want) in cases {
        let d = index.authorize(&res(user, verb, group, resource, ns));
        assert_eq!(
            d.is_allowed(),
            want,
            "{} {verb} {group}/{resource} in {ns:?}: {d:?}",
            user.name
        );
    }
    assert_eq!(
        index
            .authorize(&res(&editor, "create", "", "secrets", "team"))
            .reason(),
        "RBAC: allowed by RoleBinding \"editor-edit/team\" of ClusterRole \"edit\" to User \"editor\""
    );

    // An admin may grant edit in their namespace, but not cluster-admin.
    let edit_rules: Vec<PolicyRule> =
        serde_json::from_value(find(&bootstrap_policy(), "ClusterRole", "edit")["rules"].clone())
            .unwrap();
    assert_eq!(
        index.confirm_no_escalation(&owner, "team", &edit_rules),
        Ok(())
    );
    assert!(
        index
            .confirm_no_escalation(
                &editor,
                "team",
                &[PolicyRule::resource(&["*"], &[rbac], &["roles"])]
            )
            .is_err()
    );
    assert!(
        index
            .confirm_no_escalation(&owner, "", &edit_rules)
            .is_err()
    );
    assert!(
        index
            .confirm_no_escalation(
                &owner,
                "team",
                &[PolicyRule::resource(&["*"], &["*"], &["*"])]
            )
            .is_err()
    );
}

#[test]
fn system_components() {
    let index = index();
    let scheduler = authenticated("system:kube-scheduler");
    assert!(
        index
            .authorize(&res(&scheduler, "create", "", "pods/binding", "default"))
            .is_allowed()
    );
    assert!(
        index
            .authorize(&res(&scheduler, "update", "", "persistentvolumes", ""))
            .is_allowed()
    );
    assert!(
        !index
            .authorize(&res(&scheduler, "get", "", "secrets", "default"))
            .is_allowed()
    );
    let lease = Attributes::resource(
        scheduler.clone(),
        "update",
        "coordination.k8s.io",
        "leases",
        "kube-system",
        "kube-scheduler",
    );
    assert!(index.authorize(&lease).is_allowed());
    let other_lease = Attributes::resource(
        scheduler,
        "update",
        "coordination.k8s.io",
        "leases",
        "kube-system",
        "other",
    );
    assert!(!index.authorize(&other_lease).is_allowed());

    let kcm = authenticated("system:kube-controller-manager");
    assert!(
        index
            .authorize(&res(&kcm, "list", "whatever.io", "anything", ""))
            .is_allowed()
    );
    assert!(
        !index
            .authorize(&res(&kcm, "delete", "", "pods", "x"))
            .is_allowed()
    );

    let dns = UserInfo::new(
        "system:serviceaccount:kube-system:kube-dns",
        &["system:serviceaccounts", "system:authenticated"],
    );
    assert!(
        index
            .authorize(&res(&dns, "watch", "", "endpoints", ""))
            .is_allowed()
    );
    assert!(
        index
            .authorize(&Attributes::non_resource(
                dns.clone(),
                "get",
                "/openid/v1/jwks"
            ))
            .is_allowed()
    );

    let monitor = UserInfo::new("prom", &["system:monitoring"]);
    assert!(
        index
            .authorize(&Attributes::non_resource(
                monitor.clone(),
                "get",
                "/metrics"
            ))
            .is_allowed()
    );
    assert!(
        index
            .authorize(&Attributes::non_resource(monitor, "get", "/readyz/etcd"))
            .is_allowed()
    );

    // system:node keeps its binding without subjects: nodes get nothing from RBAC.
    let node = UserInfo::new("system:node:n1", &["system:nodes", "system:authenticated"]);
    assert!(
        !index
            .authorize(&res(&node, "get", "", "nodes", ""))
            .is_allowed()
    );
}
