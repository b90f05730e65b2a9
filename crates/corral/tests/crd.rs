//! CustomResourceDefinitions end to end with real kubectl: registration
//! without restart, conditions, validation (422 with upstream field paths),
//! defaulting, pruning, printer columns, short names and categories, several
//! versions, status and scale subresources, and deletion removing objects
//! and endpoints.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;

const CRD: &str = include_str!("data/crontab-crd.yaml");

fn cron(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n{spec}"
    )
}

fn install(s: &TestServer) {
    s.ok_stdin(&["apply", "-f", "-"], CRD);
    s.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=30s",
        "crd/crontabs.stable.example.com",
    ]);
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn registration_conditions_discovery_and_columns() {
    let s = TestServer::start();
    install(&s);
    let crd = s.json(&["get", "crd", "crontabs.stable.example.com", "-o", "json"]);
    let conditions = crd["status"]["conditions"].as_array().expect("conditions");
    for wanted in ["NamesAccepted", "Established"] {
        assert!(
            conditions
                .iter()
                .any(|c| c["type"] == wanted && c["status"] == "True"),
            "{wanted} missing: {conditions:?}"
        );
    }
    assert_eq!(crd["status"]["acceptedNames"]["kind"], "CronTab");
    assert_eq!(crd["status"]["storedVersions"], serde_json::json!(["v1"]));

    let resources = s.ok(&["api-resources", "--api-group=stable.example.com"]);
    assert!(resources.contains("crontabs"), "{resources}");
    assert!(resources.contains("ct "), "{resources}");

    s.ok_stdin(
        &["apply", "-f", "-"],
        &cron("a", "  cronSpec: '* * * * */5'\n  replicas: 3\n"),
    );
    // Short name, category and printer columns (IMAGE only with -o wide).
    let table = s.ok(&["get", "ct", "-n", "default"]);
    let header = table.lines().next().unwrap_or("");
    for col in ["NAME", "SPEC", "REPLICAS", "AGE"] {
        assert!(header.contains(col), "{table}");
    }
    assert!(!header.contains("IMAGE"), "{table}");
    assert!(table.contains("* * * * */5"), "{table}");
    let wide = s.ok(&["get", "all-crons", "-n", "default", "-o", "wide"]);
    assert!(wide.contains("IMAGE") && wide.contains("busybox"), "{wide}");

    // A second CRD claiming the same plural in the group is not accepted.
    let clash = CRD
        .replace(
            "name: crontabs.stable.example.com",
            "name: crontabs2.stable.example.com",
        )
        .replace("plural: crontabs", "plural: crontabs2")
        .replace("shortNames: [ct]", "shortNames: [ct2]");
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &clash);
    // Its name must match plural.group, and its kind clashes with CronTab.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c2 = s.json(&["get", "crd", "crontabs2.stable.example.com", "-o", "json"]);
    let names_accepted = c2["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "NamesAccepted"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(names_accepted["status"], "False", "{c2}");
    assert_eq!(names_accepted["reason"], "KindConflict", "{c2}");
}

#[test]
fn validation_errors_are_422_with_upstream_paths() {
    let s = TestServer::start();
    install(&s);
    let cases = [
        (
            "  cronSpec: '* * * * */5'\n  replicas: many\n",
            r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
        ),
        ("  replicas: 2\n", "spec.cronSpec: Required value"),
        (
            "  cronSpec: '* * * * */5'\n  replicas: 20\n",
            "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10",
        ),
        (
            "  cronSpec: '* * * * */5'\n  mode: Medium\n",
            r#"spec.mode: Unsupported value: "Medium": supported values: "Fast", "Slow""#,
        ),
        (
            "  cronSpec: 'not a cron'\n",
            r#"spec.cronSpec: Invalid value: "not a cron": spec.cronSpec in body should match"#,
        ),
    ];
    for (i, (spec, message)) in cases.iter().enumerate() {
        let name = format!("bad{i}");
        let out = s.kubectl_stdin(&["create", "-f", "-"], &cron(&name, spec));
        assert!(!out.status.success(), "case {i} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is invalid"), "case {i}: {err}");
        assert!(
            err.contains(message),
            "case {i}: wanted {message:?} in {err}"
        );
        s.fails(&["get", "ct", &name, "-n", "default"]);
    }
    // The same checks through the raw API give 422 Invalid with causes.
    let out = s.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/apis/stable.example.com/v1/namespaces/default/crontabs",
            "-f",
            "-",
        ],
        r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"raw"},"spec":{"replicas":0}}"#,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Invalid") || err.contains("422"), "{err}");
}

#[test]
fn defaulting_pruning_and_int_or_string() {
    let s = TestServer::start();
    install(&s);
    // Strict (kubectl's default) rejects unknown fields of a custom resource.
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        &cron("strict", "  cronSpec: '* * * * */5'\n  colour: red\n"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"unknown field "spec.colour""#), "{err}");

    s.ok_stdin(
        &["create", "--validate=false", "-f", "-"],
        &cron(
            "pruned",
            "  cronSpec: '* * * * */5'\n  colour: red\n  port: http\n  extra: {any: [1, 2]}\n",
        ),
    );
    let obj = s.json(&["get", "ct", "pruned", "-n", "default", "-o", "json"]);
    assert!(obj["spec"].get("colour").is_none(), "{obj}");
    assert_eq!(obj["spec"]["image"], "busybox", "defaulted: {obj}");
    assert_eq!(obj["spec"]["port"], "http");
    assert_eq!(obj["spec"]["extra"]["any"], serde_json::json!([1, 2]));
    assert_eq!(obj["metadata"]["generation"], 1);
    s.ok(&[
        "patch",
        "ct",
        "pruned",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"port":8080}}"#,
    ]);
    let obj = s.json(&["get", "ct", "pruned", "-n", "default", "-o", "json"]);
    assert_eq!(obj["spec"]["port"], 8080);
    assert_eq!(obj["metadata"]["generation"], 2);
    // Strategic merge patch is not served for custom resources (415, as upstream).
    let err = s.fails(&[
        "patch",
        "ct",
        "pruned",
        "-n",
        "default",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert!(
        err.contains("application/strategic-merge-patch+json is not supported"),
        "{err}"
    );
}

#[test]
fn versions_status_and_scale() {
    let s = TestServer::start();
    install(&s);
    s.ok_stdin(
        &["create", "-f", "-"],
        &cron("v", "  cronSpec: '* * * * */5'\n  replicas: 1\n"),
    );
    // Served in v1beta1 too, converted by apiVersion only, with the deprecation warning.
    let out = s.kubectl(&[
        "get",
        "crontabs.v1beta1.stable.example.com",
        "v",
        "-n",
        "default",
        "-o",
        "json",
    ]);
    assert!(out.status.success());
    let obj: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(obj["apiVersion"], "stable.example.com/v1beta1");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("v1beta1 CronTab is deprecated"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Status only through /status.
    s.ok(&[
        "patch",
        "ct",
        "v",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":7}}"#,
    ]);
    let obj = s.json(&["get", "ct", "v", "-n", "default", "-o", "json"]);
    assert!(
        obj.get("status").is_none(),
        "main resource wrote status: {obj}"
    );
    s.ok(&[
        "patch",
        "ct",
        "v",
        "-n",
        "default",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":1,"labelSelector":"app=v"}}"#,
    ]);
    let obj = s.json(&["get", "ct", "v", "-n", "default", "-o", "json"]);
    assert_eq!(obj["status"]["replicas"], 1);

    // kubectl scale goes through /scale.
    s.ok(&["scale", "ct", "v", "-n", "default", "--replicas=5"]);
    let obj = s.json(&["get", "ct", "v", "-n", "default", "-o", "json"]);
    assert_eq!(obj["spec"]["replicas"], 5);
    let scale = s.json(&[
        "get",
        "--raw",
        "/apis/stable.example.com/v1/namespaces/default/crontabs/v/scale",
    ]);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 5);
    assert_eq!(scale["status"]["selector"], "app=v");
    // Scaling past the schema's maximum is refused by the schema.
    let err = s.fails(&["scale", "ct", "v", "-n", "default", "--replicas=50"]);
    assert!(err.contains("less than or equal to 10"), "{err}");
}

#[test]
fn deleting_the_crd_removes_objects_and_endpoints() {
    let s = TestServer::start();
    install(&s);
    for i in 0..5 {
        s.ok_stdin(
            &["create", "-f", "-"],
            &cron(&format!("d{i}"), "  cronSpec: '* * * * */5'\n"),
        );
    }
    // One object holds a finalizer: the CRD waits for it.
    s.ok(&[
        "patch",
        "ct",
        "d0",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    s.ok(&[
        "delete",
        "crd",
        "crontabs.stable.example.com",
        "--wait=false",
    ]);
    wait_until("the CRD to report Terminating", || {
        let crd = s.json(&["get", "crd", "crontabs.stable.example.com", "-o", "json"]);
        crd["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Terminating" && c["status"] == "True")
        })
    });
    wait_until("unheld objects to go", || {
        s.ok(&["get", "ct", "-n", "default", "-o", "name"]).trim()
            == "crontab.stable.example.com/d0"
    });
    // No new objects while terminating.
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        &cron("late", "  cronSpec: '* * * * */5'\n"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("terminating"), "{err}");

    s.ok(&[
        "patch",
        "ct",
        "d0",
        "-n",
        "default",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    wait_until("the CRD to be gone", || {
        !s.kubectl(&["get", "crd", "crontabs.stable.example.com"])
            .status
            .success()
    });
    wait_until("the endpoints to be gone", || {
        let out = s.kubectl(&[
            "get",
            "--raw",
            "/apis/stable.example.com/v1/namespaces/default/crontabs",
        ]);
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
    });
    // Recreating the CRD starts empty.
    install(&s);
    assert_eq!(
        s.ok(&["get", "ct", "-n", "default", "-o", "name"]).trim(),
        ""
    );
}
