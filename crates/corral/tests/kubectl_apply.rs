//! Client-side `kubectl apply` round trips, `kubectl patch` in its three
//! patch types, and `kubectl label` / `annotate` with and without
//! `--overwrite`, as against kube-apiserver.

mod support;

use support::TestServer;

fn cm(data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\n  labels:\n    tier: web\ndata:\n{data}"
    )
}

#[test]
fn apply_creates_updates_and_removes_fields_dropped_from_the_file() {
    let s = TestServer::start();
    let out = s.ok_stdin(&["apply", "-f", "-"], &cm("  a: \"1\"\n  b: \"2\"\n"));
    assert!(out.contains("configmap/app created"), "{out}");
    let obj = s.json(&["get", "cm", "app", "-n", "default", "-o", "json"]);
    let last = obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .expect("last-applied annotation");
    assert!(last.contains(r#""b":"2""#), "{last}");

    // Unchanged: nothing to do.
    let out = s.ok_stdin(&["apply", "-f", "-"], &cm("  a: \"1\"\n  b: \"2\"\n"));
    assert!(out.contains("configmap/app unchanged"), "{out}");

    // Someone else adds a key; the next apply changes a, drops b, keeps c.
    s.ok(&[
        "patch",
        "cm",
        "app",
        "-n",
        "default",
        "-p",
        r#"{"data":{"c":"3"}}"#,
    ]);
    let out = s.ok_stdin(&["apply", "-f", "-"], &cm("  a: \"10\"\n"));
    assert!(out.contains("configmap/app configured"), "{out}");
    let obj = s.json(&["get", "cm", "app", "-n", "default", "-o", "json"]);
    assert_eq!(obj["data"]["a"], "10");
    assert!(
        obj["data"].get("b").is_none(),
        "b was removed from the file: {obj}"
    );
    assert_eq!(
        obj["data"]["c"], "3",
        "c was never applied, so apply keeps it"
    );
    assert_eq!(obj["metadata"]["labels"]["tier"], "web");

    // Dropping the labels from the file removes them.
    let no_labels = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n  a: \"10\"\n";
    s.ok_stdin(&["apply", "-f", "-"], no_labels);
    let obj = s.json(&["get", "cm", "app", "-n", "default", "-o", "json"]);
    assert!(
        obj["metadata"]
            .get("labels")
            .is_none_or(|l| l.get("tier").is_none()),
        "{obj}"
    );

    // kubectl diff sees no difference after apply.
    let diff = s.kubectl_stdin(&["diff", "-f", "-"], no_labels);
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
}

#[test]
fn apply_of_rbac_and_service_accounts_merges_by_upstream_keys() {
    let s = TestServer::start();
    let sa = |secrets: &str| {
        format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: default\nsecrets:\n{secrets}"
        )
    };
    s.ok_stdin(&["apply", "-f", "-"], &sa("- name: one\n- name: two\n"));
    s.ok_stdin(&["apply", "-f", "-"], &sa("- name: two\n"));
    let obj = s.json(&["get", "sa", "robot", "-n", "default", "-o", "json"]);
    let names: Vec<&str> = obj["secrets"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["two"], "{obj}");

    let role = |verbs: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: default\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [{verbs}]\n"
        )
    };
    s.ok_stdin(&["apply", "-f", "-"], &role("get, list"));
    s.ok_stdin(&["apply", "-f", "-"], &role("get"));
    let obj = s.json(&["get", "role", "r", "-n", "default", "-o", "json"]);
    assert_eq!(obj["rules"][0]["verbs"], serde_json::json!(["get"]));
}

#[test]
fn patch_types_strategic_merge_and_json() {
    let s = TestServer::start();
    s.ok(&["create", "sa", "p", "-n", "default"]);
    // Strategic merge (kubectl's default): secrets merge by name.
    s.ok(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "-p",
        r#"{"secrets":[{"name":"a"}]}"#,
    ]);
    s.ok(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "-p",
        r#"{"secrets":[{"name":"b"}]}"#,
    ]);
    let obj = s.json(&["get", "sa", "p", "-n", "default", "-o", "json"]);
    let mut names: Vec<&str> = obj["secrets"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, vec!["a", "b"], "{obj}");
    // $patch: delete removes one element by its merge key.
    s.ok(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "-p",
        r#"{"secrets":[{"name":"a","$patch":"delete"}]}"#,
    ]);
    let obj = s.json(&["get", "sa", "p", "-n", "default", "-o", "json"]);
    assert_eq!(obj["secrets"], serde_json::json!([{"name": "b"}]));
    // Merge patch replaces lists whole.
    s.ok(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"secrets":[{"name":"c"}]}"#,
    ]);
    let obj = s.json(&["get", "sa", "p", "-n", "default", "-o", "json"]);
    assert_eq!(obj["secrets"], serde_json::json!([{"name": "c"}]));
    // JSON patch with a failing test op changes nothing.
    let err = s.fails(&[
        "patch", "sa", "p", "-n", "default", "--type=json", "-p",
        r#"[{"op":"test","path":"/secrets/0/name","value":"zzz"},{"op":"remove","path":"/secrets"}]"#,
    ]);
    assert!(!err.is_empty());
    let obj = s.json(&["get", "sa", "p", "-n", "default", "-o", "json"]);
    assert_eq!(obj["secrets"], serde_json::json!([{"name": "c"}]));
    // A malformed directive is a clear client error.
    let err = s.fails(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "-p",
        r#"{"secrets":[{"$patch":"explode","name":"c"}]}"#,
    ]);
    assert!(err.contains("explode"), "{err}");
    // Finalizers merge as a set.
    s.ok(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "-p",
        r#"{"metadata":{"finalizers":["x.io/a"]}}"#,
    ]);
    s.ok(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "-p",
        r#"{"metadata":{"finalizers":["x.io/b"]}}"#,
    ]);
    let obj = s.json(&["get", "sa", "p", "-n", "default", "-o", "json"]);
    let mut finalizers: Vec<&str> = obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str()).collect())
        .unwrap_or_default();
    finalizers.sort();
    assert_eq!(finalizers, vec!["x.io/a", "x.io/b"]);
    s.ok(&[
        "patch",
        "sa",
        "p",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
}

#[test]
fn label_and_annotate_with_and_without_overwrite() {
    let s = TestServer::start();
    s.ok(&["create", "cm", "l", "-n", "default"]);
    s.ok(&["label", "cm", "l", "-n", "default", "team=a"]);
    let err = s.fails(&["label", "cm", "l", "-n", "default", "team=b"]);
    assert!(err.contains("already has a value (a)"), "{err}");
    s.ok(&["label", "cm", "l", "-n", "default", "team=b", "--overwrite"]);
    let obj = s.json(&["get", "cm", "l", "-n", "default", "-o", "json"]);
    assert_eq!(obj["metadata"]["labels"]["team"], "b");
    s.ok(&["label", "cm", "l", "-n", "default", "team-"]);
    let obj = s.json(&["get", "cm", "l", "-n", "default", "-o", "json"]);
    assert!(
        obj["metadata"]
            .get("labels")
            .is_none_or(|l| l.get("team").is_none()),
        "{obj}"
    );
    let shown = s.ok(&["get", "cm", "-n", "default", "--show-labels", "-l", "team"]);
    assert!(shown.trim().is_empty() || !shown.contains(" l "), "{shown}");

    s.ok(&["annotate", "cm", "l", "-n", "default", "note=first"]);
    let err = s.fails(&["annotate", "cm", "l", "-n", "default", "note=second"]);
    assert!(err.contains("already has a value (first)"), "{err}");
    s.ok(&[
        "annotate",
        "cm",
        "l",
        "-n",
        "default",
        "note=second",
        "--overwrite",
    ]);
    let obj = s.json(&["get", "cm", "l", "-n", "default", "-o", "json"]);
    assert_eq!(obj["metadata"]["annotations"]["note"], "second");
    // Invalid label values are refused with the upstream message.
    let err = s.fails(&[
        "label",
        "cm",
        "l",
        "-n",
        "default",
        "bad=-x-",
        "--overwrite",
    ]);
    assert!(
        err.contains("must consist of alphanumeric characters")
            || err.contains("invalid label value"),
        "{err}"
    );
}

#[test]
fn dry_run_server_writes_nothing_on_any_verb() {
    let s = TestServer::start();
    let cm_json = |name: &str| s.kubectl(&["get", "cm", name, "-n", "default", "-o", "json"]);
    // create
    let out = s.ok(&[
        "create",
        "cm",
        "dry",
        "-n",
        "default",
        "--from-literal=a=1",
        "--dry-run=server",
        "-o",
        "json",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["data"]["a"], "1");
    assert!(
        !cm_json("dry").status.success(),
        "dry-run create stored the object"
    );
    // apply (create path) and the real object for the rest
    s.ok_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &cm("  a: \"1\"\n"),
    );
    assert!(!cm_json("app").status.success());
    s.ok_stdin(&["apply", "-f", "-"], &cm("  a: \"1\"\n"));
    let before = s.json(&["get", "cm", "app", "-n", "default", "-o", "json"]);
    // patch, label, replace, apply (update path)
    let out = s.ok(&[
        "patch",
        "cm",
        "app",
        "-n",
        "default",
        "--dry-run=server",
        "-p",
        r#"{"data":{"a":"2"}}"#,
        "-o",
        "json",
    ]);
    let shown: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["data"]["a"], "2", "the response shows the result");
    s.ok(&[
        "label",
        "cm",
        "app",
        "-n",
        "default",
        "x=y",
        "--dry-run=server",
    ]);
    s.ok_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &cm("  a: \"3\"\n"),
    );
    let mut replaced = before.clone();
    replaced["data"]["a"] = serde_json::json!("4");
    s.ok_stdin(
        &["replace", "--dry-run=server", "-f", "-"],
        &replaced.to_string(),
    );
    // delete
    s.ok(&["delete", "cm", "app", "-n", "default", "--dry-run=server"]);
    s.ok(&["delete", "cm", "--all", "-n", "default", "--dry-run=server"]);
    let after = s.json(&["get", "cm", "app", "-n", "default", "-o", "json"]);
    assert_eq!(after, before, "a dry run changed the stored object");
}

#[test]
fn managed_fields_record_each_writer() {
    let s = TestServer::start();
    s.ok(&["create", "cm", "mf", "-n", "default", "--from-literal=a=1"]);
    let obj = s.json(&[
        "get",
        "cm",
        "mf",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    let entries = obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "{obj}");
    assert_eq!(entries[0]["manager"], "kubectl-create");
    assert_eq!(entries[0]["operation"], "Update");
    assert_eq!(entries[0]["apiVersion"], "v1");
    assert_eq!(entries[0]["fieldsType"], "FieldsV1");
    assert!(
        entries[0]["fieldsV1"]["f:data"].get("f:a").is_some(),
        "{obj}"
    );

    s.ok(&["label", "cm", "mf", "-n", "default", "team=x"]);
    s.ok(&[
        "patch",
        "cm",
        "mf",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"2","b":"3"}}"#,
        "--field-manager=robot",
    ]);
    let obj = s.json(&[
        "get",
        "cm",
        "mf",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    let entries = obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by = |m: &str| {
        entries
            .iter()
            .find(|e| e["manager"] == m)
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        by("kubectl-label")["fieldsV1"]["f:metadata"]["f:labels"]
            .get("f:team")
            .is_some(),
        "{obj}"
    );
    // The robot changed a: it owns a and b now; kubectl-create keeps only the
    // data map itself (upstream renders that as `f:data: {}`).
    let robot = by("robot");
    assert!(robot["fieldsV1"]["f:data"].get("f:a").is_some(), "{obj}");
    assert!(robot["fieldsV1"]["f:data"].get("f:b").is_some(), "{obj}");
    assert_eq!(
        by("kubectl-create")["fieldsV1"],
        serde_json::json!({"f:data": {}}),
        "{obj}"
    );

    // A no-op update leaves managedFields (and the resourceVersion) alone.
    let rv = obj["metadata"]["resourceVersion"].clone();
    s.ok(&[
        "patch",
        "cm",
        "mf",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    let again = s.json(&[
        "get",
        "cm",
        "mf",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(again["metadata"]["resourceVersion"], rv);
    assert_eq!(
        again["metadata"]["managedFields"],
        obj["metadata"]["managedFields"]
    );
}
