//! kubectl end-to-end tests of the API core: health, discovery, CRUD on every
//! built-in type, namespaces, optimistic concurrency and restart persistence.

mod support;

use support::TestServer;

#[test]
fn health_version_and_discovery() {
    let s = TestServer::start();
    for path in ["/healthz", "/livez", "/readyz"] {
        assert_eq!(s.ok(&["get", "--raw", path]).trim(), "ok", "{path}");
    }
    let v = s.json(&["version", "-o", "json"]);
    assert_eq!(v["serverVersion"]["major"], "1");
    assert!(
        v["serverVersion"]["gitVersion"]
            .as_str()
            .is_some_and(|g| g.contains("corral"))
    );

    let versions = s.ok(&["api-versions"]);
    for gv in [
        "v1",
        "coordination.k8s.io/v1",
        "events.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
    ] {
        assert!(
            versions.lines().any(|l| l == gv),
            "api-versions lacks {gv}: {versions}"
        );
    }
    let resources = s.ok(&["api-resources", "--no-headers"]);
    for r in [
        "namespaces",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "events",
        "leases",
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
    ] {
        assert!(
            resources.lines().any(|l| l.starts_with(&format!("{r} "))),
            "api-resources lacks {r}: {resources}"
        );
    }
    // Short names resolve through discovery.
    s.ok(&["get", "cm", "-n", "default"]);
    s.ok(&["get", "ns", "kube-system"]);
    // Legacy (non-aggregated) discovery documents.
    let core: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "--raw", "/api/v1"])).expect("json");
    assert_eq!(core["kind"], "APIResourceList");
    let groups: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "--raw", "/apis"])).expect("json");
    assert!(
        groups["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["name"] == "coordination.k8s.io"))
    );
}

#[test]
fn unauthenticated_requests_are_rejected() {
    let s = TestServer::start();
    let kc = std::fs::read_to_string(s.kubeconfig()).expect("kubeconfig");
    let bad = kc.replace("token: admin:", "token: wrong:");
    let path = s.dir.path().join("bad.kubeconfig");
    std::fs::write(&path, bad).expect("write");
    let out = support::kubectl_at(&path, &["get", "ns"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unauthorized") || err.contains("must be logged in"),
        "{err}"
    );
}

#[test]
fn namespaces_lifecycle_and_system_namespaces() {
    let s = TestServer::start();
    let names = s.ok(&["get", "ns", "-o", "name"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.contains(&format!("namespace/{ns}")), "{names}");
    }
    s.ok(&["create", "namespace", "team-a"]);
    let ns = s.json(&["get", "ns", "team-a", "-o", "json"]);
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
    assert!(
        ns["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
    assert!(
        ns["metadata"]["creationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let table = s.ok(&["get", "ns", "team-a"]);
    assert!(
        table.contains("STATUS") && table.contains("Active"),
        "{table}"
    );

    // Content of a deleted namespace goes with it.
    s.ok(&[
        "create",
        "configmap",
        "c1",
        "-n",
        "team-a",
        "--from-literal=a=b",
    ]);
    s.ok(&["delete", "ns", "team-a", "--wait=true", "--timeout=30s"]);
    s.fails(&["get", "ns", "team-a"]);
    let err = s.fails(&["get", "cm", "c1", "-n", "team-a"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );

    // Nothing can be created in a namespace that does not exist.
    let err = s.fails(&[
        "create",
        "configmap",
        "c2",
        "-n",
        "nope",
        "--from-literal=a=b",
    ]);
    assert!(err.contains("namespaces \"nope\" not found"), "{err}");
}

#[test]
fn terminating_namespace_refuses_new_content() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "doomed"]);
    // A finalizer keeps this object (and so the namespace) around.
    s.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","namespace":"doomed","finalizers":["example.com/hold"]}}"#,
    );
    s.ok(&["delete", "ns", "doomed", "--wait=false"]);
    let ns = s.json(&["get", "ns", "doomed", "-o", "json"]);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    let err = s.fails(&["create", "configmap", "late", "-n", "doomed"]);
    assert!(err.contains("because it is being terminated"), "{err}");
    // Releasing the finalizer lets the namespace go.
    let mut held = s.json(&["get", "cm", "held", "-n", "doomed", "-o", "json"]);
    assert!(
        held["metadata"]["deletionTimestamp"].is_string(),
        "content is marked for deletion"
    );
    held["metadata"]["finalizers"] = serde_json::json!([]);
    s.ok_stdin(&["replace", "-f", "-"], &held.to_string());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.kubectl(&["get", "ns", "doomed"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "namespace was never removed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn crud_on_every_builtin_type() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", "crud"]);
    let objects = [
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm1","labels":{"app":"x"}},"data":{"key":"value"}}"#,
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s1"},"stringData":{"password":"hunter2"}}"#,
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s2"},"type":"kubernetes.io/basic-auth","data":{"username":"YWRtaW4="}}"#,
        r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"robot"}}"#,
        r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"leader"},"spec":{"holderIdentity":"a","leaseDurationSeconds":15}}"#,
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"ev1"},"involvedObject":{"kind":"ConfigMap","name":"cm1","namespace":"crud"},"reason":"Tested","message":"hello","type":"Normal","source":{"component":"test"}}"#,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"reader"},"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]}"#,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"reader"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"reader"},"subjects":[{"kind":"ServiceAccount","name":"robot","namespace":"crud"}]}"#,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"crud-viewer"},"rules":[{"nonResourceURLs":["/healthz"],"verbs":["get"]}]}"#,
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"crud-viewer"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"crud-viewer"},"subjects":[{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"viewers"}]}"#,
    ];
    for o in objects {
        s.ok_stdin(&["create", "-n", "crud", "-f", "-"], o);
    }
    assert_eq!(
        s.json(&["get", "cm", "cm1", "-n", "crud", "-o", "json"])["data"]["key"],
        "value"
    );
    let secret = s.json(&["get", "secret", "s1", "-n", "crud", "-o", "json"]);
    assert_eq!(secret["type"], "Opaque", "type defaults to Opaque");
    assert_eq!(
        secret["data"]["password"], "aHVudGVyMg==",
        "stringData is folded into data"
    );
    assert!(secret.get("stringData").is_none());
    assert_eq!(
        s.json(&["get", "lease", "leader", "-n", "crud", "-o", "json"])["spec"]["holderIdentity"],
        "a"
    );
    assert_eq!(
        s.json(&["get", "rolebinding", "reader", "-n", "crud", "-o", "json"])["roleRef"]["name"],
        "reader"
    );
    assert!(
        s.ok(&["get", "clusterrole", "crud-viewer"])
            .contains("crud-viewer")
    );
    // The same Event through events.k8s.io/v1: another representation of one object.
    let ev = s.json(&[
        "get",
        "events.v1.events.k8s.io",
        "ev1",
        "-n",
        "crud",
        "-o",
        "json",
    ]);
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["note"], "hello");
    assert_eq!(ev["regarding"]["name"], "cm1");

    // Tables have the upstream columns.
    let secrets = s.ok(&["get", "secrets", "-n", "crud"]);
    assert!(
        secrets.contains("TYPE") && secrets.contains("kubernetes.io/basic-auth"),
        "{secrets}"
    );
    let cms = s.ok(&["get", "cm", "-n", "crud"]);
    assert!(cms.contains("DATA"), "{cms}");

    // Update through replace, then delete each.
    let mut cm = s.json(&["get", "cm", "cm1", "-n", "crud", "-o", "json"]);
    let rv1: i64 = cm["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("rv");
    cm["data"]["key"] = serde_json::json!("changed");
    let replaced: serde_json::Value =
        serde_json::from_str(&s.ok_stdin(&["replace", "-o", "json", "-f", "-"], &cm.to_string()))
            .expect("json");
    let rv2: i64 = replaced["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("rv");
    assert!(rv2 > rv1);
    assert_eq!(replaced["metadata"]["uid"], cm["metadata"]["uid"]);
    assert_eq!(
        replaced["metadata"]["creationTimestamp"],
        cm["metadata"]["creationTimestamp"]
    );
    // A stale resourceVersion is a conflict.
    let err = String::from_utf8_lossy(
        &s.kubectl_stdin(&["replace", "-f", "-"], &cm.to_string())
            .stderr,
    )
    .into_owned();
    assert!(err.contains("the object has been modified"), "{err}");
    for (kind, name) in [
        ("cm", "cm1"),
        ("secret", "s1"),
        ("sa", "robot"),
        ("lease", "leader"),
        ("event", "ev1"),
        ("role", "reader"),
        ("rolebinding", "reader"),
    ] {
        s.ok(&["delete", kind, name, "-n", "crud"]);
        s.fails(&["get", kind, name, "-n", "crud"]);
    }
    s.ok(&["delete", "clusterrole", "crud-viewer"]);
    s.ok(&["delete", "clusterrolebinding", "crud-viewer"]);
}

#[test]
fn restart_reuses_data_certificates_and_credentials() {
    let mut s = TestServer::start();
    s.ok(&[
        "create",
        "configmap",
        "keep",
        "-n",
        "default",
        "--from-literal=a=b",
    ]);
    let before = s.json(&["get", "cm", "keep", "-n", "default", "-o", "json"]);
    let ca_before = std::fs::read(s.data_dir().join("tls/server-ca.crt")).expect("ca");
    assert_eq!(s.terminate(), Some(0), "graceful exit code");
    s.spawn();
    let after = s.json(&["get", "cm", "keep", "-n", "default", "-o", "json"]);
    assert_eq!(before["metadata"]["uid"], after["metadata"]["uid"]);
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert_eq!(
        ca_before,
        std::fs::read(s.data_dir().join("tls/server-ca.crt")).expect("ca")
    );
    // New writes continue the revision sequence.
    s.ok(&["create", "configmap", "next", "-n", "default"]);
    let next = s.json(&["get", "cm", "next", "-n", "default", "-o", "json"]);
    let rv = |v: &serde_json::Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .expect("rv")
    };
    assert!(rv(&next) > rv(&after));
}
