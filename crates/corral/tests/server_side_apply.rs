//! Server-side apply end to end: `kubectl apply --server-side` (conflicts,
//! `--force-conflicts`, `--dry-run=server`, no-op re-applies, migration from
//! client-side apply, fields dropped from the file) and kube-rs
//! `Patch::Apply` (create-on-apply, conflicts with `details.causes`, force,
//! dry run, PatchOptions errors), on ConfigMaps, RBAC Roles,
//! ServiceAccounts and a CRD with list-type markers.

mod support;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use support::TestServer;

fn cm(data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\ndata:\n{data}"
    )
}

fn get_cm(s: &TestServer) -> Value {
    s.json(&[
        "get",
        "cm",
        "app",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    ])
}

fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `manager/operation` of every managedFields entry, with its fieldsV1.
fn owners(obj: &Value) -> Vec<(String, Value)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                format!(
                    "{}/{}",
                    e["manager"].as_str().unwrap_or(""),
                    e["operation"].as_str().unwrap_or("")
                ),
                e["fieldsV1"].clone(),
            )
        })
        .collect()
}

fn fields(obj: &Value, who: &str) -> Option<Value> {
    owners(obj)
        .into_iter()
        .find(|(m, _)| m == who)
        .map(|(_, f)| f)
}

fn ssa(s: &TestServer, extra: &[&str], manifest: &str) -> std::process::Output {
    let mut args = vec!["apply", "--server-side", "-f", "-"];
    args.extend_from_slice(extra);
    s.kubectl_stdin(&args, manifest)
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "kubectl unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn kubectl_server_side_apply_owns_conflicts_forces_and_prunes() {
    let s = TestServer::start();
    let out = ok(&ssa(&s, &[], &cm("  a: \"1\"\n  b: \"2\"\n")));
    assert!(out.contains("configmap/app serverside-applied"), "{out}");
    let obj = get_cm(&s);
    assert_eq!(
        fields(&obj, "kubectl/Apply"),
        Some(json!({"f:data": {"f:a": {}, "f:b": {}}})),
        "{obj}"
    );
    assert_eq!(owners(&obj).len(), 1, "{obj}");

    // The same file again: nothing written, resourceVersion unchanged.
    let out = ok(&ssa(&s, &[], &cm("  a: \"1\"\n  b: \"2\"\n")));
    assert!(out.contains("configmap/app serverside-applied"), "{out}");
    let again = get_cm(&s);
    assert_eq!(rv(&again), rv(&obj));
    assert_eq!(
        again["metadata"]["managedFields"],
        obj["metadata"]["managedFields"]
    );

    // --dry-run=server shows the change and writes nothing.
    let out = ok(&ssa(
        &s,
        &["--dry-run=server", "-o", "json"],
        &cm("  a: \"9\"\n  b: \"2\"\n"),
    ));
    let dry: Value = serde_json::from_str(&out).expect("dry-run output is JSON");
    assert_eq!(dry["data"]["a"], "9");
    let after = get_cm(&s);
    assert_eq!(
        (after["data"]["a"].as_str(), rv(&after)),
        (Some("1"), rv(&obj))
    );

    // Another manager: the same value is shared, a different one conflicts.
    ok(&ssa(&s, &["--field-manager=other"], &cm("  a: \"1\"\n")));
    let err = failed(&ssa(
        &s,
        &["--field-manager=other"],
        &cm("  a: \"1\"\n  b: \"20\"\n"),
    ));
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .data.b"#),
        "{err}"
    );
    assert_eq!(get_cm(&s)["data"]["b"], "2");

    // --force-conflicts takes b from kubectl.
    ok(&ssa(
        &s,
        &["--field-manager=other", "--force-conflicts"],
        &cm("  a: \"1\"\n  b: \"20\"\n"),
    ));
    let obj = get_cm(&s);
    assert_eq!(obj["data"], json!({"a": "1", "b": "20"}));
    assert_eq!(
        fields(&obj, "kubectl/Apply"),
        Some(json!({"f:data": {"f:a": {}}}))
    );
    assert_eq!(
        fields(&obj, "other/Apply"),
        Some(json!({"f:data": {"f:a": {}, "f:b": {}}}))
    );

    // kubectl drops everything: a stays (other owns it too); kubectl adds c,
    // then drops it again: c goes.
    ok(&ssa(&s, &[], &cm("  c: \"3\"\n")));
    assert_eq!(get_cm(&s)["data"], json!({"a": "1", "b": "20", "c": "3"}));
    ok(&ssa(&s, &[], &cm("  d: \"4\"\n")));
    assert_eq!(get_cm(&s)["data"], json!({"a": "1", "b": "20", "d": "4"}));
}

#[test]
fn updates_by_other_managers_take_fields_from_the_applier() {
    let s = TestServer::start();
    ok(&ssa(&s, &[], &cm("  a: \"1\"\n  b: \"2\"\n")));
    s.ok(&[
        "patch",
        "cm",
        "app",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"data":{"a":"10"}}"#,
    ]);
    let obj = get_cm(&s);
    assert_eq!(
        fields(&obj, "kubectl/Apply"),
        Some(json!({"f:data": {"f:b": {}}}))
    );
    assert_eq!(
        fields(&obj, "kubectl-patch/Update"),
        Some(json!({"f:data": {"f:a": {}}}))
    );
    // Re-applying the old value conflicts with the updater ("using v1").
    let err = failed(&ssa(&s, &[], &cm("  a: \"1\"\n  b: \"2\"\n")));
    assert!(
        err.contains(r#"conflict with "kubectl-patch" using v1: .data.a"#),
        "{err}"
    );
    // Applying the updater's value is shared ownership, no conflict.
    ok(&ssa(&s, &[], &cm("  a: \"10\"\n  b: \"2\"\n")));
    let obj = get_cm(&s);
    assert_eq!(
        fields(&obj, "kubectl/Apply"),
        Some(json!({"f:data": {"f:a": {}, "f:b": {}}}))
    );
}

#[test]
fn kubectl_migrates_from_client_side_apply() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], &cm("  a: \"1\"\n  b: \"2\"\n"));
    let csa = get_cm(&s);
    assert!(
        fields(&csa, "kubectl-client-side-apply/Update").is_some(),
        "{csa}"
    );

    // Server-side apply of a changed file: no conflict with the client-side
    // manager (its last-applied configuration allows it), b dropped.
    let out = ssa(&s, &[], &cm("  a: \"10\"\n"));
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("arning"), "{stderr}");
    let obj = get_cm(&s);
    assert_eq!(obj["data"], json!({"a": "10"}), "{obj}");
    assert!(
        fields(&obj, "kubectl-client-side-apply/Update").is_none(),
        "client-side manager migrated: {obj}"
    );
    assert_eq!(
        fields(&obj, "kubectl/Apply"),
        Some(json!({"f:data": {"f:a": {}}})),
        "{obj}"
    );
    // The last-applied annotation is kept (kubectl's own manager for it) and
    // follows the file, so client-side apply still works afterwards.
    let last = obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .expect("last-applied kept");
    assert!(
        last.contains(r#""a":"10""#) && !last.contains(r#""b""#),
        "{last}"
    );
    assert!(
        fields(&obj, "kubectl-last-applied/Apply").is_some(),
        "{obj}"
    );

    // A second server-side apply is a no-op.
    ok(&ssa(&s, &[], &cm("  a: \"10\"\n")));
    assert_eq!(rv(&get_cm(&s)), rv(&obj));
}

#[test]
fn kubectl_server_side_apply_of_rbac_and_service_accounts() {
    let s = TestServer::start();
    let role = |rules: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\n  namespace: default\nrules:\n{rules}"
        )
    };
    let get_pods = "- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n";
    let list_cms = "- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [list]\n";
    ok(&ssa(&s, &[], &role(get_pods)));
    // rules is atomic: another manager's different rules conflict as a whole.
    let err = failed(&ssa(&s, &["--field-manager=ops"], &role(list_cms)));
    assert!(err.contains(r#"conflict with "kubectl": .rules"#), "{err}");
    ok(&ssa(
        &s,
        &["--field-manager=ops", "--force-conflicts"],
        &role(list_cms),
    ));
    let obj = s.json(&[
        "get",
        "role",
        "reader",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(obj["rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(obj["rules"][0]["resources"], json!(["configmaps"]));

    // ServiceAccount secrets merge by name between managers.
    let sa = |secrets: &str| {
        format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  namespace: default\nsecrets:\n{secrets}"
        )
    };
    ok(&ssa(&s, &[], &sa("- name: one\n")));
    ok(&ssa(&s, &["--field-manager=ops"], &sa("- name: two\n")));
    let obj = s.json(&[
        "get",
        "sa",
        "robot",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(obj["secrets"], json!([{"name": "one"}, {"name": "two"}]));
    assert_eq!(
        fields(&obj, "ops/Apply"),
        Some(json!({"f:secrets": {"k:{\"name\":\"two\"}": {".": {}, "f:name": {}}}}))
    );
    ok(&ssa(&s, &[], &sa("  []\n")));
    let obj = s.json(&[
        "get",
        "sa",
        "robot",
        "-n",
        "default",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(obj["secrets"], json!([{"name": "two"}]));
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [port, protocol]
                items:
                  type: object
                  required: [port, protocol]
                  properties:
                    port: {type: integer}
                    protocol: {type: string}
                    name: {type: string}
              tags:
                type: array
                x-kubernetes-list-type: set
                items: {type: string}
              args:
                type: array
                items: {type: string}
              selector:
                type: object
                x-kubernetes-map-type: atomic
                additionalProperties: {type: string}
"#;

fn widget(spec: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n{spec}"
    )
}

#[test]
fn custom_resources_merge_by_their_list_type_markers() {
    let s = TestServer::start();
    ok(&ssa(&s, &[], WIDGET_CRD));
    s.ok(&[
        "wait",
        "--for=condition=established",
        "--timeout=30s",
        "crd/widgets.example.com",
    ]);
    ok(&ssa(
        &s,
        &[],
        &widget(
            "  ports:\n  - {port: 80, protocol: TCP, name: http}\n  tags: [a]\n  args: [--x]\n  selector: {app: w}\n",
        ),
    ));
    ok(&ssa(
        &s,
        &["--field-manager=ops"],
        &widget("  ports:\n  - {port: 80, protocol: UDP}\n  tags: [b]\n"),
    ));
    let get = || {
        s.json(&[
            "get",
            "widget",
            "w",
            "-n",
            "default",
            "-o",
            "json",
            "--show-managed-fields",
        ])
    };
    let obj = get();
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"port": 80, "protocol": "TCP", "name": "http"}, {"port": 80, "protocol": "UDP"}])
    );
    assert_eq!(obj["spec"]["tags"], json!(["a", "b"]));
    assert_eq!(
        fields(&obj, "ops/Apply"),
        Some(json!({"f:spec": {
            "f:ports": {"k:{\"port\":80,\"protocol\":\"UDP\"}": {".": {}, "f:port": {}, "f:protocol": {}}},
            "f:tags": {"v:\"b\"": {}}}}))
    );
    // Atomic list and map conflict as a whole.
    let err = failed(&ssa(
        &s,
        &["--field-manager=ops"],
        &widget("  args: [--y]\n  selector: {app: w, extra: x}\n"),
    ));
    assert!(
        err.contains("Apply failed with 2 conflicts")
            && err.contains(".spec.args")
            && err.contains(".spec.selector"),
        "{err}"
    );
    // kubectl drops its port and tag: ops' stay.
    ok(&ssa(
        &s,
        &[],
        &widget("  args: [--x]\n  selector: {app: w}\n"),
    ));
    let obj = get();
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"port": 80, "protocol": "UDP"}])
    );
    assert_eq!(obj["spec"]["tags"], json!(["b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_patch_apply() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    let gvk = GroupVersionKind::gvk("", "v1", "ConfigMap");
    let cms: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk));
    let config = |v: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "kr", "namespace": "default"}, "data": {"k": v}})
    };

    // Dry run of a create-on-apply stores nothing.
    let dry = cms
        .patch(
            "kr",
            &PatchParams::apply("mgr-a").dry_run(),
            &Patch::Apply(config("1")),
        )
        .await
        .expect("dry-run apply");
    assert_eq!(dry.data["data"]["k"], "1");
    assert!(cms.get_opt("kr").await.expect("get").is_none());

    // Create-on-apply.
    let created = cms
        .patch(
            "kr",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(config("1")),
        )
        .await
        .expect("apply creates");
    let mf = created.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(mf.len(), 1);
    assert_eq!(
        (mf[0].manager.as_deref(), mf[0].operation.as_deref()),
        (Some("mgr-a"), Some("Apply"))
    );

    // A conflicting apply: 409 with upstream's message and causes.
    match cms
        .patch(
            "kr",
            &PatchParams::apply("mgr-b"),
            &Patch::Apply(config("2")),
        )
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
            assert_eq!(
                e.message,
                r#"Apply failed with 1 conflict: conflict with "mgr-a": .data.k"#
            );
            let causes = e
                .details
                .as_ref()
                .map(|d| d.causes.clone())
                .unwrap_or_default();
            assert_eq!(causes.len(), 1, "{e:?}");
            assert_eq!(causes[0].reason, "FieldManagerConflict");
            assert_eq!(causes[0].field, ".data.k");
            assert_eq!(causes[0].message, r#"conflict with "mgr-a""#);
        }
        other => panic!("expected a conflict: {other:?}"),
    }

    // force takes the field.
    let forced = cms
        .patch(
            "kr",
            &PatchParams::apply("mgr-b").force(),
            &Patch::Apply(config("2")),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.data["data"]["k"], "2");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.manager)
        .collect();
    assert_eq!(managers, ["mgr-b"], "mgr-a owned nothing else");

    // An unchanged re-apply keeps the resourceVersion.
    let again = cms
        .patch(
            "kr",
            &PatchParams::apply("mgr-b"),
            &Patch::Apply(config("2")),
        )
        .await
        .expect("re-apply");
    assert_eq!(
        again.metadata.resource_version,
        forced.metadata.resource_version
    );

    // A typed create-on-apply of a ServiceAccount.
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "default");
    let sa = sas
        .patch(
            "bot",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": "bot"},
                                 "automountServiceAccountToken": false})),
        )
        .await
        .expect("apply a ServiceAccount");
    assert_eq!(sa.automount_service_account_token, Some(false));
    assert_eq!(sa.metadata.namespace.as_deref(), Some("default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_options_are_checked_like_upstream() {
    let s = TestServer::start();
    let client = s.kube_client().await;
    let send = |query: &'static str, content_type: &'static str, body: Value| {
        let client = client.clone();
        async move {
            let req =
                http::Request::patch(format!("/api/v1/namespaces/default/configmaps/x{query}"))
                    .header("Content-Type", content_type)
                    .body(serde_json::to_vec(&body).expect("json"))
                    .expect("request");
            client.request_text(req).await
        }
    };
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let status = |r: Result<String, kube::Error>| match r {
        Err(kube::Error::Api(e)) => (e.code, e.reason.clone(), e.message.clone()),
        other => panic!("expected an error: {other:?}"),
    };

    // Apply needs a field manager.
    assert_eq!(
        status(send("", "application/apply-patch+yaml", body.clone()).await),
        (
            422,
            "Invalid".into(),
            r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#.into()
        )
    );
    // force is for apply only.
    assert_eq!(
        status(send("?force=true", "application/merge-patch+json", json!({})).await),
        (
            422,
            "Invalid".into(),
            r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#.into()
        )
    );
    // The configuration must be of the endpoint's kind and name.
    let wrong_kind = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}});
    assert_eq!(
        status(
            send(
                "?fieldManager=m",
                "application/apply-patch+yaml",
                wrong_kind
            )
            .await
        ),
        (
            400,
            "BadRequest".into(),
            "invalid object type: /v1, Kind=Secret".into()
        )
    );
    let wrong_name = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}});
    assert_eq!(
        status(
            send(
                "?fieldManager=m",
                "application/apply-patch+yaml",
                wrong_name
            )
            .await
        ),
        (
            400,
            "BadRequest".into(),
            "the name of the object (y) does not match the name on the URL (x)".into()
        )
    );
    let with_mf = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "x", "managedFields": [{"manager": "m"}]}});
    assert_eq!(
        status(send("?fieldManager=m", "application/apply-patch+yaml", with_mf).await),
        (
            400,
            "BadRequest".into(),
            "metadata.managedFields must be nil".into()
        )
    );
    // A YAML body works too (kubectl sends YAML-compatible JSON, others YAML).
    let req = http::Request::patch("/api/v1/namespaces/default/configmaps/x?fieldManager=m")
        .header("Content-Type", "application/apply-patch+yaml")
        .body(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: v\n".to_vec())
        .expect("request");
    let text = client.request_text(req).await.expect("YAML apply");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["data"]["k"], "v");
}

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: app\n        image: {image}\n"
    )
}

#[test]
fn deployments_conflict_with_client_side_apply_until_kubectl_migrates() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], &deployment(1, "nginx:1.27"));
    let err = failed(&ssa(
        &s,
        &["--field-manager=ops"],
        &deployment(3, "nginx:1.27"),
    ));
    assert!(
        err.contains(
            r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
        ),
        "{err}"
    );
    // kubectl itself may take over what its last-applied configuration says.
    ok(&ssa(&s, &[], &deployment(2, "nginx:1.28")));
    let get = || {
        s.json(&[
            "get",
            "deploy",
            "web",
            "-n",
            "default",
            "-o",
            "json",
            "--show-managed-fields",
        ])
    };
    let obj = get();
    assert_eq!(obj["spec"]["replicas"], 2);
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    let mine = fields(&obj, "kubectl/Apply").expect("kubectl owns its file");
    assert!(
        mine["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]
            .get("f:image")
            .is_some(),
        "{mine}"
    );
    // A second apply changes nothing (controllers may still write status, so
    // compare the spec's generation and kubectl's entry, not the resourceVersion).
    ok(&ssa(&s, &[], &deployment(2, "nginx:1.28")));
    let again = get();
    assert_eq!(
        again["metadata"]["generation"],
        obj["metadata"]["generation"]
    );
    let entry = |o: &Value| {
        o["metadata"]["managedFields"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["manager"] == "kubectl").cloned())
    };
    assert_eq!(entry(&again), entry(&obj));
}
