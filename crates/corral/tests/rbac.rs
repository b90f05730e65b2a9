//! Authentication, RBAC, escalation prevention, impersonation and audit,
//! through real kubectl against a real server.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;

fn apply(s: &TestServer, json: &str) {
    s.ok_stdin(&["create", "-f", "-"], json);
}

/// Poll until `kubectl auth can-i` gives the wanted answer (the RBAC index follows a watch).
fn wait_can_i(s: &TestServer, args: &[&str], want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = s.kubectl(&[&["auth", "can-i"], args].concat());
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "auth can-i {args:?}: got {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn setup_policy(s: &TestServer) {
    s.ok(&["create", "ns", "team-a"]);
    s.ok(&["create", "ns", "team-b"]);
    // alice: view in team-a.
    s.ok(&[
        "create",
        "rolebinding",
        "alice-view",
        "-n",
        "team-a",
        "--clusterrole=view",
        "--user=alice",
    ]);
    // bob: edit everywhere.
    s.ok(&[
        "create",
        "clusterrolebinding",
        "bob-edit",
        "--clusterrole=edit",
        "--user=bob",
    ]);
    // carol: get one named configmap in team-a.
    apply(
        s,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"one-cm","namespace":"team-a"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"resourceNames":["allowed"],"verbs":["get"]}]}"#,
    );
    s.ok(&[
        "create",
        "rolebinding",
        "carol-one",
        "-n",
        "team-a",
        "--role=one-cm",
        "--user=carol",
    ]);
    // group auditors: list secrets cluster-wide; and /metrics.
    apply(
        s,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"secret-lister"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["list"]},{"nonResourceURLs":["/metrics"],"verbs":["get"]}]}"#,
    );
    s.ok(&[
        "create",
        "clusterrolebinding",
        "auditors",
        "--clusterrole=secret-lister",
        "--group=auditors",
    ]);
    // service account robot in team-b: manage leases there.
    s.ok(&["create", "sa", "robot", "-n", "team-b"]);
    apply(
        s,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"leases","namespace":"team-b"},"rules":[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["*"]}]}"#,
    );
    s.ok(&[
        "create",
        "rolebinding",
        "robot-leases",
        "-n",
        "team-b",
        "--role=leases",
        "--serviceaccount=team-b:robot",
    ]);
    wait_can_i(
        s,
        &[
            "create",
            "leases",
            "-n",
            "team-b",
            "--as=system:serviceaccount:team-b:robot",
        ],
        "yes",
    );
}

#[test]
fn permission_matrix_through_kubectl() {
    let s = TestServer::start();
    setup_policy(&s);
    // (identity flags, verb, resource, namespace, expected)
    let cases: &[(&[&str], &str, &str, &str, &str)] = &[
        (&["--as=alice"], "get", "configmaps", "team-a", "yes"),
        (&["--as=alice"], "list", "configmaps", "team-a", "yes"),
        (&["--as=alice"], "watch", "configmaps", "team-a", "yes"),
        (
            &["--as=alice"],
            "get",
            "leases.coordination.k8s.io",
            "team-a",
            "no",
        ),
        (&["--as=alice"], "create", "configmaps", "team-a", "no"),
        (&["--as=alice"], "delete", "configmaps", "team-a", "no"),
        (&["--as=alice"], "get", "secrets", "team-a", "no"),
        (&["--as=alice"], "get", "configmaps", "team-b", "no"),
        (&["--as=alice"], "list", "namespaces", "", "no"),
        (&["--as=bob"], "create", "configmaps", "team-b", "yes"),
        (&["--as=bob"], "delete", "secrets", "team-a", "yes"),
        (&["--as=bob"], "update", "serviceaccounts", "team-a", "yes"),
        (
            &["--as=bob"],
            "create",
            "roles.rbac.authorization.k8s.io",
            "team-a",
            "no",
        ),
        (
            &["--as=bob"],
            "create",
            "clusterrolebindings.rbac.authorization.k8s.io",
            "",
            "no",
        ),
        (&["--as=bob"], "delete", "namespaces", "", "no"),
        (
            &["--as=carol"],
            "get",
            "configmaps/allowed",
            "team-a",
            "yes",
        ),
        (&["--as=carol"], "get", "configmaps/other", "team-a", "no"),
        (&["--as=carol"], "list", "configmaps", "team-a", "no"),
        (
            &["--as=dave", "--as-group=auditors"],
            "list",
            "secrets",
            "team-b",
            "yes",
        ),
        (
            &["--as=dave", "--as-group=auditors"],
            "get",
            "secrets",
            "team-b",
            "no",
        ),
        (
            &["--as=system:serviceaccount:team-b:robot"],
            "delete",
            "leases.coordination.k8s.io",
            "team-b",
            "yes",
        ),
        (
            &["--as=system:serviceaccount:team-b:robot"],
            "create",
            "leases.coordination.k8s.io",
            "team-a",
            "no",
        ),
        (
            &["--as=system:serviceaccount:team-b:robot"],
            "get",
            "configmaps",
            "team-b",
            "no",
        ),
        (&["--as=nobody"], "get", "configmaps", "default", "no"),
        (
            &["--as=nobody", "--as-group=system:masters"],
            "delete",
            "namespaces",
            "",
            "yes",
        ),
    ];
    let mut failures = Vec::new();
    for (who, verb, resource, ns, want) in cases {
        let mut args: Vec<&str> = vec!["auth", "can-i", verb, resource];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        args.extend(who.iter());
        let out = s.kubectl(&args);
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if got != *want {
            failures.push(format!(
                "{who:?} {verb} {resource} in {ns:?}: got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Non-resource URLs.
    assert_eq!(
        s.ok(&[
            "auth",
            "can-i",
            "get",
            "/metrics",
            "--as=dave",
            "--as-group=auditors"
        ])
        .trim(),
        "yes"
    );
    assert_eq!(
        String::from_utf8_lossy(
            &s.kubectl(&["auth", "can-i", "get", "/metrics", "--as=alice"])
                .stdout
        )
        .trim(),
        "no"
    );
    // Every authenticated user may discover the API.
    assert_eq!(
        s.ok(&["auth", "can-i", "get", "/api", "--as=alice"]).trim(),
        "yes"
    );

    // Real requests get 403 Forbidden Status objects with upstream messages.
    let err = s.fails(&["get", "secrets", "-n", "team-a", "--as=alice"]);
    assert!(err.contains(r#"secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "team-a""#), "{err}");
    let err = s.fails(&["delete", "ns", "team-b", "--as=bob"]);
    assert!(
        err.contains(
            r#"User "bob" cannot delete resource "namespaces" in API group "" at the cluster scope"#
        ),
        "{err}"
    );
    s.ok(&["get", "cm", "-n", "team-a", "--as=alice"]);
    s.ok(&["create", "cm", "from-bob", "-n", "team-b", "--as=bob"]);

    // --list shows what a user may do.
    let list = s.ok(&["auth", "can-i", "--list", "-n", "team-a", "--as=carol"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("configmaps") && l.contains("[allowed]") && l.contains("[get]")),
        "{list}"
    );

    // Client certificates: CN is the user, O the groups.
    let kc = s.client_cert_kubeconfig("erin", &["auditors"]);
    let out = s.kubectl_as(&kc, &["get", "secrets", "-n", "team-b"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.kubectl_as(&kc, &["auth", "whoami", "-o", "json"]);
    let who: serde_json::Value = serde_json::from_slice(&out.stdout).expect("whoami json");
    assert_eq!(who["status"]["userInfo"]["username"], "erin");
    assert!(
        who["status"]["userInfo"]["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x == "auditors"))
    );
    let out = s.kubectl_as(&kc, &["get", "cm", "-n", "team-b"]);
    assert!(!out.status.success());
}

#[test]
fn escalation_and_impersonation_are_refused() {
    let s = TestServer::start();
    setup_policy(&s);
    // frank may manage roles and rolebindings in team-a (not `*`, which would include
    // `escalate` and `bind`), and holds view there, nothing more.
    apply(
        &s,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"rbac-manager","namespace":"team-a"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles","rolebindings"],"verbs":["get","list","create","update","delete"]}]}"#,
    );
    s.ok(&[
        "create",
        "rolebinding",
        "frank-rbac",
        "-n",
        "team-a",
        "--role=rbac-manager",
        "--user=frank",
    ]);
    s.ok(&[
        "create",
        "rolebinding",
        "frank-view",
        "-n",
        "team-a",
        "--clusterrole=view",
        "--user=frank",
    ]);
    wait_can_i(
        &s,
        &[
            "create",
            "roles.rbac.authorization.k8s.io",
            "-n",
            "team-a",
            "--as=frank",
        ],
        "yes",
    );
    wait_can_i(
        &s,
        &["get", "configmaps", "-n", "team-a", "--as=frank"],
        "yes",
    );

    // A role within what frank holds is fine.
    s.ok_stdin(&["create", "-f", "-", "--as=frank"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"cm-reader","namespace":"team-a"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]}"#);
    // A broader one is not.
    let out = s.kubectl_stdin(&["create", "-f", "-", "--as=frank"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"secret-deleter","namespace":"team-a"},"rules":[{"apiGroups":[""],"resources":["secrets"],"verbs":["delete"]}]}"#);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("attempting to grant RBAC permissions not currently held"),
        "{err}"
    );
    s.fails(&["get", "role", "secret-deleter", "-n", "team-a"]);
    // Binding cluster-admin (which frank does not hold) is refused.
    let err = s.fails(&[
        "create",
        "rolebinding",
        "frank-admin",
        "-n",
        "team-a",
        "--clusterrole=cluster-admin",
        "--user=frank",
        "--as=frank",
    ]);
    assert!(
        err.contains("attempting to grant RBAC permissions not currently held"),
        "{err}"
    );
    // Binding a role he holds entirely is allowed.
    s.ok(&[
        "create",
        "rolebinding",
        "gina-reader",
        "-n",
        "team-a",
        "--role=cm-reader",
        "--user=gina",
        "--as=frank",
    ]);
    // With `bind` on cluster-admin, binding it is allowed without holding it (upstream semantics).
    apply(
        &s,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"bind-admin","namespace":"team-a"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["bind"],"resourceNames":["admin"]}]}"#,
    );
    s.ok(&[
        "create",
        "rolebinding",
        "frank-bind",
        "-n",
        "team-a",
        "--role=bind-admin",
        "--user=frank",
    ]);
    wait_can_i(
        &s,
        &[
            "bind",
            "clusterroles.rbac.authorization.k8s.io/admin",
            "-n",
            "team-a",
            "--as=frank",
        ],
        "yes",
    );
    s.ok(&[
        "create",
        "rolebinding",
        "hank-admin",
        "-n",
        "team-a",
        "--clusterrole=admin",
        "--user=hank",
        "--as=frank",
    ]);

    // Impersonation needs `impersonate`.
    // The admin may impersonate anyone; the request then has only alice's rights.
    let err = s.fails(&[
        "get",
        "secrets",
        "-n",
        "team-a",
        "--as=alice",
        "--as-group=x",
    ]);
    assert!(
        err.contains(r#"User "alice" cannot list resource "secrets""#),
        "{err}"
    );
    let kc = s.client_cert_kubeconfig("ivan", &[]);
    let out = s.kubectl_as(
        &kc,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/team-a/configmaps",
            "--as=alice",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(r#"users \"alice\" is forbidden: User \"ivan\" cannot impersonate resource \"users\""#) || err.contains(r#"users "alice" is forbidden: User "ivan" cannot impersonate resource "users""#), "{err}");
    // Granted impersonate on users/alice only.
    apply(
        &s,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"impersonate-alice"},"rules":[{"apiGroups":[""],"resources":["users"],"verbs":["impersonate"],"resourceNames":["alice"]}]}"#,
    );
    s.ok(&[
        "create",
        "clusterrolebinding",
        "ivan-imp",
        "--clusterrole=impersonate-alice",
        "--user=ivan",
    ]);
    // Polled through the impersonated request itself: `kubectl auth can-i
    // impersonate users` would resolve `users` to management.corral.dev/users
    // now that the management API serves that kind.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = s.kubectl_as(&kc, &["get", "cm", "-n", "team-a", "--as=alice"]);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = s.kubectl_as(&kc, &["get", "cm", "-n", "team-a", "--as=bob"]);
    assert!(!out.status.success());
    let out = s.kubectl_as(
        &kc,
        &[
            "get",
            "cm",
            "-n",
            "team-a",
            "--as=alice",
            "--as-group=system:masters",
        ],
    );
    assert!(
        !out.status.success(),
        "impersonating a group needs its own grant"
    );
}

/// Every verb on every built-in resource, for users whose grants make the
/// expected answer unambiguous: nobody, a system:masters member, and a user
/// holding one custom Role in one namespace.
#[test]
fn full_verb_resource_matrix() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "grid"]);
    s.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"custom","namespace":"grid"},"rules":[{"apiGroups":[""],"resources":["configmaps","secrets"],"verbs":["get","list","watch"]},{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create","delete"]}]}"#,
    );
    s.ok(&[
        "create",
        "rolebinding",
        "custom",
        "-n",
        "grid",
        "--role=custom",
        "--user=matrix-user",
    ]);
    wait_can_i(
        &s,
        &["get", "secrets", "-n", "grid", "--as=matrix-user"],
        "yes",
    );
    let verbs = [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];
    let resources = [
        ("configmaps", true),
        ("secrets", true),
        ("serviceaccounts", true),
        ("events", true),
        ("events.events.k8s.io", true),
        ("leases.coordination.k8s.io", true),
        ("roles.rbac.authorization.k8s.io", true),
        ("rolebindings.rbac.authorization.k8s.io", true),
        ("clusterroles.rbac.authorization.k8s.io", false),
        ("clusterrolebindings.rbac.authorization.k8s.io", false),
        ("namespaces", false),
    ];
    let custom_allows = |verb: &str, resource: &str| match resource {
        "configmaps" | "secrets" => matches!(verb, "get" | "list" | "watch"),
        "leases.coordination.k8s.io" => matches!(verb, "create" | "delete"),
        _ => false,
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for (resource, namespaced) in resources {
        for verb in verbs {
            let ns: &[&str] = if namespaced { &["-n", "grid"] } else { &[] };
            for (who, want) in [
                (vec!["--as=nobody"], false),
                (vec!["--as=root-like", "--as-group=system:masters"], true),
                (
                    vec!["--as=matrix-user"],
                    namespaced && custom_allows(verb, resource),
                ),
            ] {
                let args: Vec<&str> = [&["auth", "can-i", verb, resource][..], ns, &who].concat();
                let out = s.kubectl(&args);
                let got = String::from_utf8_lossy(&out.stdout).trim() == "yes";
                checked += 1;
                if got != want {
                    failures.push(format!("{who:?} {verb} {resource}: got {got}, want {want}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 264);
    // And real requests: allowed ones succeed, denied ones get 403 Forbidden.
    assert!(
        s.kubectl(&["get", "secrets", "-n", "grid", "--as=matrix-user"])
            .status
            .success()
    );
    let err = s.fails(&["delete", "secret", "x", "-n", "grid", "--as=matrix-user"]);
    assert!(
        err.contains("(Forbidden)") && err.contains("cannot delete resource \"secrets\""),
        "{err}"
    );
    let err = s.fails(&["get", "serviceaccounts", "-n", "grid", "--as=matrix-user"]);
    assert!(err.contains("(Forbidden)"), "{err}");
}
