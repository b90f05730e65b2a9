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
    wait_can_i(&s, &["impersonate", "users/alice", "--as=ivan"], "yes");
    let out = s.kubectl_as(&kc, &["get", "cm", "-n", "team-a", "--as=alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

fn kubeconfig_with_token(s: &TestServer, token: &str) -> std::path::PathBuf {
    let kc = std::fs::read_to_string(s.kubeconfig()).expect("kubeconfig");
    let start = kc.find("token: ").expect("token line");
    let end = kc[start..]
        .find('\n')
        .map(|e| start + e)
        .unwrap_or(kc.len());
    let replaced = format!("{}token: {}{}", &kc[..start], token, &kc[end..]);
    let path = s.dir.path().join(format!("t{}.kubeconfig", rand_suffix()));
    std::fs::write(&path, replaced).expect("write");
    path
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn unauthorized(s: &TestServer, token: &str) -> bool {
    let out = s.kubectl_as(&kubeconfig_with_token(s, token), &["get", "--raw", "/api"]);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Unauthorized")
}

#[test]
fn bad_tokens_are_rejected_and_audited() {
    let mut s = TestServer::start();
    let audit = s.dir.path().join("audit.log");
    s.extra_args = vec!["--audit-log-path".into(), audit.display().to_string()];
    s.restart();
    s.ok(&["create", "sa", "temp", "-n", "default"]);
    let token = s
        .ok(&["create", "token", "temp", "-n", "default"])
        .trim()
        .to_string();
    assert!(!unauthorized(&s, &token), "a fresh token works");

    // Malformed and garbage tokens.
    assert!(unauthorized(&s, "not-a-token"));
    assert!(unauthorized(&s, "a.b.c"));
    // Tampered payload: the signature no longer matches.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert!(unauthorized(&s, &parts.join(".")));
    // Signed by another key.
    let other = rcgen::KeyPair::generate().expect("key");
    let claims = serde_json::json!({"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:default:temp", "aud": ["https://kubernetes.default.svc.cluster.local"], "exp": 4_000_000_000i64});
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(other.serialize_pem().as_bytes()).expect("ec key"),
    )
    .expect("sign");
    assert!(unauthorized(&s, &forged));
    // Expired: signed with the server's own key, but in the past.
    let server_key =
        std::fs::read_to_string(s.data_dir().join("tls/service-account.key")).expect("sa key");
    let sa = s.json(&["get", "sa", "temp", "-n", "default", "-o", "json"]);
    let expired_claims = serde_json::json!({
        "iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:default:temp",
        "aud": ["https://kubernetes.default.svc.cluster.local"], "exp": 1_000_000_000i64, "iat": 999_999_000i64,
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "temp", "uid": sa["metadata"]["uid"]}},
    });
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &expired_claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(server_key.as_bytes()).expect("server key"),
    )
    .expect("sign");
    assert!(unauthorized(&s, &expired));
    // Revoked: the service account is deleted, so its tokens die with it.
    s.ok(&["delete", "sa", "temp", "-n", "default"]);
    assert!(unauthorized(&s, &token));

    // Legacy token secrets are filled by the controller and die with the secret.
    s.ok(&["create", "sa", "legacy", "-n", "default"]);
    s.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"legacy-token","namespace":"default","annotations":{"kubernetes.io/service-account.name":"legacy"}},"type":"kubernetes.io/service-account-token"}"#);
    let deadline = Instant::now() + Duration::from_secs(10);
    let legacy = loop {
        let t = s.ok(&[
            "get",
            "secret",
            "legacy-token",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.token}",
        ]);
        if !t.trim().is_empty() {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .expect("base64");
            break String::from_utf8(raw).expect("utf8");
        }
        assert!(Instant::now() < deadline, "token secret never filled");
        std::thread::sleep(Duration::from_millis(100));
    };
    let ca = s.ok(&[
        "get",
        "secret",
        "legacy-token",
        "-n",
        "default",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    assert!(!ca.trim().is_empty());
    assert!(!unauthorized(&s, &legacy));
    s.ok(&["delete", "secret", "legacy-token", "-n", "default"]);
    assert!(unauthorized(&s, &legacy));

    // TokenReview answers for a valid token and refuses a bad one.
    let review = |t: &str| -> serde_json::Value {
        let body = serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": t}});
        serde_json::from_str(&s.ok_stdin(&["create", "-o", "json", "-f", "-"], &body.to_string()))
            .expect("json")
    };
    s.ok(&["create", "sa", "reviewed", "-n", "default"]);
    let good = s
        .ok(&["create", "token", "reviewed", "-n", "default"])
        .trim()
        .to_string();
    let r = review(&good);
    assert_eq!(r["status"]["authenticated"], true);
    assert_eq!(
        r["status"]["user"]["username"],
        "system:serviceaccount:default:reviewed"
    );
    assert_eq!(review("a.b.c")["status"]["authenticated"], false);

    // The failures are in the audit log with code 401.
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let unauthorized_events = events
        .iter()
        .filter(|e| e["responseStatus"]["code"] == 401)
        .count();
    assert!(
        unauthorized_events >= 6,
        "expected the rejected tokens in the audit log, found {unauthorized_events}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["apiVersion"] == "audit.k8s.io/v1" && e["auditID"].is_string())
    );
    // Default policy: Secret bodies never appear.
    assert!(
        !log.contains("requestObject"),
        "default policy logs no bodies"
    );
}

#[test]
fn audit_policy_levels() {
    let s0 = TestServer::start();
    let policy = s0.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [\"/api*\", \"/openapi*\", \"/version\"]\n- level: Metadata\n  resources: [{group: \"\", resources: [\"secrets\"]}]\n- level: RequestResponse\n  resources: [{group: \"\", resources: [\"configmaps\"]}]\n- level: Request\n",
    )
    .expect("policy");
    let audit = s0.dir.path().join("audit2.log");
    let s = TestServer::start_with(&[
        "--audit-log-path",
        &audit.display().to_string(),
        "--audit-policy-file",
        &policy.display().to_string(),
    ]);
    s.ok(&[
        "create",
        "cm",
        "audited",
        "-n",
        "default",
        "--from-literal=k=v",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "hidden",
        "-n",
        "default",
        "--from-literal=password=s3cret",
    ]);
    s.ok(&["create", "sa", "req-level", "-n", "default"]);
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let find = |resource: &str, verb: &str| {
        events
            .iter()
            .find(|e| {
                e["objectRef"]["resource"] == resource
                    && e["verb"] == verb
                    && e["user"]["username"] == "system:admin"
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {verb} {resource} event in {log}"))
    };
    let cm = find("configmaps", "create");
    assert_eq!(cm["level"], "RequestResponse");
    assert_eq!(cm["responseObject"]["data"]["k"], "v");
    assert_eq!(cm["requestObject"]["data"]["k"], "v");
    let secret = find("secrets", "create");
    assert_eq!(secret["level"], "Metadata");
    assert!(
        secret.get("requestObject").is_none()
            && !log.contains("s3cret")
            && !log.contains("czNjcmV0")
    );
    let sa = find("serviceaccounts", "create");
    assert_eq!(sa["level"], "Request");
    assert!(sa.get("requestObject").is_some() && sa.get("responseObject").is_none());
    assert!(
        !events.iter().any(|e| e["requestURI"]
            .as_str()
            .is_some_and(|u| u.starts_with("/api?") || u == "/api")),
        "None level drops discovery"
    );
}

#[test]
fn controllers_keep_namespaces_and_aggregated_roles_current() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "fresh"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sa = s.kubectl(&["get", "sa", "default", "-n", "fresh"]);
        let cm = s.kubectl(&[
            "get",
            "cm",
            "kube-root-ca.crt",
            "-n",
            "fresh",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ]);
        if sa.status.success() && String::from_utf8_lossy(&cm.stdout).contains("BEGIN CERTIFICATE")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "default SA / root CA never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Deleting the default SA brings it back.
    s.ok(&["delete", "sa", "default", "-n", "fresh"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s
        .kubectl(&["get", "sa", "default", "-n", "fresh"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "default SA not recreated");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A ClusterRole labelled to aggregate into view adds its rules to view.
    s.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"widgets-view","labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},"rules":[{"apiGroups":["example.com"],"resources":["widgets"],"verbs":["get","list"]}]}"#);
    let has_widgets = |s: &TestServer| {
        s.ok(&["get", "clusterrole", "view", "-o", "json"])
            .contains("widgets")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_widgets(&s) {
        assert!(
            Instant::now() < deadline,
            "aggregation did not add the rule"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.ok(&["delete", "clusterrole", "widgets-view"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while has_widgets(&s) {
        assert!(
            Instant::now() < deadline,
            "aggregation did not remove the rule"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn token_secret(name: &str, secret: &str, user: &str, groups: &str, expires_at: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "corral-system"},
        "type": "corral.dev/token",
        "stringData": {"tokenHash": hash, "user": user, "groups": groups, "expiresAt": expires_at},
    })
    .to_string()
}

#[test]
fn corral_tokens_authenticate_expire_and_revoke() {
    let s = TestServer::start();
    let secret = format!("{}{}", uuid_hex(), uuid_hex());
    s.ok_stdin(
        &["create", "-f", "-"],
        &token_secret(
            "alpha",
            &secret,
            "tok-user",
            "tok-group,ops",
            "2999-01-01T00:00:00Z",
        ),
    );
    let kc = kubeconfig_with_token(&s, &format!("alpha:{secret}"));
    let out = s.kubectl_as(&kc, &["auth", "whoami", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(who["status"]["userInfo"]["username"], "tok-user");
    let groups = who["status"]["userInfo"]["groups"].to_string();
    assert!(
        groups.contains("tok-group")
            && groups.contains("ops")
            && groups.contains("system:authenticated"),
        "{groups}"
    );
    // Only the hash is stored.
    let stored = s.ok(&[
        "get",
        "secret",
        "alpha",
        "-n",
        "corral-system",
        "-o",
        "json",
    ]);
    assert!(!stored.contains(&secret));
    // A wrong secret, an unknown name, an expired token: 401.
    assert!(unauthorized(&s, &format!("alpha:{}", "0".repeat(64))));
    assert!(unauthorized(&s, &format!("nobody:{secret}")));
    s.ok_stdin(
        &["create", "-f", "-"],
        &token_secret("old", &secret, "tok-user", "", "2001-01-01T00:00:00Z"),
    );
    assert!(unauthorized(&s, &format!("old:{secret}")));
    // Revocation is immediate: the next request after the delete fails.
    assert!(!unauthorized(&s, &format!("alpha:{secret}")));
    s.ok(&["delete", "secret", "alpha", "-n", "corral-system"]);
    assert!(unauthorized(&s, &format!("alpha:{secret}")));
}

fn uuid_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
