//! Escalation prevention: upstream Covers semantics (data-driven from the
//! documented cases) and ConfirmNoEscalation over an index.

use corral_apimachinery::rbac::{
    PolicyRule, RbacIndex, UserInfo, bootstrap_policy, compact_string, covers,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/rbac/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn rules(v: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn covers_cases() {
    for case in fixture("covers.json").as_array().unwrap() {
        let (ok, uncovered) = covers(&rules(&case["owner"]), &rules(&case["requested"]));
        assert_eq!(ok, case["covered"].as_bool().unwrap(), "{}", case["name"]);
        assert_eq!(uncovered, rules(&case["uncovered"]), "{}", case["name"]);
    }
}

#[test]
fn non_resource_url_covers() {
    // (owner URL, requested URL, covered) as upstream documents nonResourceURLCovers.
    let cases = [
        ("*", "", true),
        ("*", "/", true),
        ("*", "/api", true),
        ("/*", "", false),
        ("/*", "/", true),
        ("/*", "/foo", true),
        ("/api", "/api", true),
        ("/apis", "/api", false),
        ("/api/v1", "/api", false),
        ("/api/v1", "/api/v1", true),
        ("/api/*", "/api/v1", true),
        ("/api/*", "/api", false),
        ("/api/*/*", "/api/v1", false),
        ("/*/v1/*", "/api/v1", false),
    ];
    for (owner, requested, want) in cases {
        let (ok, _) = covers(
            &[PolicyRule::non_resource(&["get"], &[owner])],
            &[PolicyRule::non_resource(&["get"], &[requested])],
        );
        assert_eq!(ok, want, "{owner:?} covers {requested:?}");
    }
}

#[test]
fn compact_string_format() {
    let rule =
        PolicyRule::resource(&["get", "list"], &["", "apps"], &["pods"]).with_names(&["a\"b"]);
    assert_eq!(
        compact_string(&rule),
        r#"{APIGroups:["" "apps"], Resources:["pods"], ResourceNames:["a\"b"], Verbs:["get" "list"]}"#
    );
    assert_eq!(
        compact_string(&PolicyRule::non_resource(&["get"], &["/x"])),
        r#"{NonResourceURLs:["/x"], Verbs:["get"]}"#
    );
}

fn index_with_bootstrap(extra: &[Value]) -> RbacIndex {
    let mut index = RbacIndex::from_objects(&bootstrap_policy());
    for obj in extra {
        assert!(index.upsert(obj));
    }
    index
}

#[test]
fn confirm_no_escalation() {
    let index = index_with_bootstrap(&[
        json!({"kind": "RoleBinding", "metadata": {"name": "alice-edit", "namespace": "dev"},
               "roleRef": {"kind": "ClusterRole", "name": "edit"}, "subjects": [{"kind": "User", "name": "alice"}]}),
        json!({"kind": "RoleBinding", "metadata": {"name": "alice-broken", "namespace": "dev"},
               "roleRef": {"kind": "Role", "name": "gone"}, "subjects": [{"kind": "User", "name": "alice"}]}),
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "bob-view"},
               "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "bob"}]}),
    ]);
    let alice = UserInfo::new("alice", &["system:authenticated"]);
    let bob = UserInfo::new("bob", &["system:authenticated"]);
    let root = UserInfo::new("root", &["system:masters"]);

    // Within what she holds in dev: fine.
    let pods_rw = PolicyRule::resource(
        &["get", "list", "create", "delete"],
        &[""],
        &["pods", "configmaps"],
    );
    assert_eq!(
        index.confirm_no_escalation(&alice, "dev", std::slice::from_ref(&pods_rw)),
        Ok(())
    );
    // Cluster-wide, or in another namespace, she holds no such rights.
    let err = index
        .confirm_no_escalation(&alice, "prod", std::slice::from_ref(&pods_rw))
        .unwrap_err();
    assert_eq!(
        err,
        "user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"get\" \"list\" \"create\" \"delete\"]}\n\
         {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\" \"list\" \"create\" \"delete\"]}"
    );
    // edit cannot grant RBAC powers; the resolution error is appended.
    let roles_rule = PolicyRule::resource(&["create"], &["rbac.authorization.k8s.io"], &["roles"]);
    let named = PolicyRule::resource(&["get"], &[""], &["secrets"]).with_names(&["a", "b"]);
    let err = index.confirm_no_escalation(&alice, "dev", &[roles_rule.clone(), named.clone()]);
    assert_eq!(
        err,
        Err("user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"rbac.authorization.k8s.io\"], Resources:[\"roles\"], Verbs:[\"create\"]}; \
         resolution errors: [role.rbac.authorization.k8s.io \"gone\" not found]"
            .to_string())
    );
    // (edit holds get on secrets, so the named secrets were covered.)

    // view cannot grant secrets; non-resource URLs and names are listed one by one.
    let err = index
        .confirm_no_escalation(
            &bob,
            "",
            &[
                named,
                PolicyRule::non_resource(&["get"], &["/metrics", "/version"]),
                PolicyRule::resource(&["get"], &[""], &["pods"]),
            ],
        )
        .unwrap_err();
    assert_eq!(
        err,
        "user \"bob\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"secrets\"], ResourceNames:[\"a\"], Verbs:[\"get\"]}\n\
         {APIGroups:[\"\"], Resources:[\"secrets\"], ResourceNames:[\"b\"], Verbs:[\"get\"]}\n\
         {NonResourceURLs:[\"/metrics\"], Verbs:[\"get\"]}"
    );

    // cluster-admin covers everything, including "*".
    let everything = [
        PolicyRule::resource(&["*"], &["*"], &["*"]),
        PolicyRule::non_resource(&["*"], &["*"]),
    ];
    assert_eq!(index.confirm_no_escalation(&root, "", &everything), Ok(()));
    assert_eq!(
        index.confirm_no_escalation(&root, "any", &everything),
        Ok(())
    );
    // Nobody else holds "*".
    assert!(
        index
            .confirm_no_escalation(&alice, "dev", &everything[..1])
            .is_err()
    );
    // An empty request never escalates.
    assert_eq!(
        index.confirm_no_escalation(&UserInfo::default(), "", &[]),
        Ok(())
    );
    let err = index
        .confirm_no_escalation(
            &UserInfo::default(),
            "",
            &[PolicyRule::resource(&["get"], &[""], &["pods"])],
        )
        .unwrap_err();
    assert!(
        err.starts_with("user \"\" (groups=[]) is attempting"),
        "{err}"
    );
}
