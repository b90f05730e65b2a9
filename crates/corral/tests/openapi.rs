//! OpenAPI documents through real kubectl: `explain` (OpenAPI v3, and v2 as
//! protobuf with `--output=plaintext-openapiv2`), client-side validation of
//! `kind: List` files (kubectl validates those itself, from v2), client-side
//! apply's strategic merge patch (computed from the v3 schema's patch
//! metadata), server-side `--validate=strict`, and the documents' caching.

mod support;

use support::TestServer;

fn explain(s: &TestServer, args: &[&str]) -> String {
    let mut full = vec!["explain"];
    full.extend_from_slice(args);
    s.ok(&full)
}

/// kubectl prints a field as `name\t<type>`, with ` -required-` when required.
fn has_field(out: &str, line: &str) -> bool {
    out.lines().any(|l| l.trim() == line)
}

#[test]
fn explain_shows_upstream_schemas() {
    let s = TestServer::start();

    let out = explain(&s, &["configmaps"]);
    assert!(out.contains("KIND:       ConfigMap"), "{out}");
    assert!(out.contains("VERSION:    v1"), "{out}");
    assert!(
        out.contains("ConfigMap holds configuration data for pods to consume."),
        "{out}"
    );
    for field in [
        "data\t<map[string]string>",
        "binaryData\t<map[string]string>",
        "immutable\t<boolean>",
        // Not `-required-`: upstream never requires metadata.
        "metadata\t<ObjectMeta>",
    ] {
        assert!(has_field(&out, field), "{field:?} missing:\n{out}");
    }

    let out = explain(&s, &["configmap.data"]);
    assert!(out.contains("FIELD: data <map[string]string>"), "{out}");
    assert!(
        out.contains("Data contains the configuration data."),
        "{out}"
    );

    let out = explain(&s, &["clusterrole.rules", "--recursive"]);
    assert!(
        out.contains("GROUP:      rbac.authorization.k8s.io"),
        "{out}"
    );
    assert!(out.contains("FIELD: rules <[]PolicyRule>"), "{out}");
    assert!(
        out.contains("PolicyRule holds information that describes a policy rule"),
        "{out}"
    );
    for field in [
        "apiGroups\t<[]string>",
        "nonResourceURLs\t<[]string>",
        "resourceNames\t<[]string>",
        "resources\t<[]string>",
        "verbs\t<[]string> -required-",
    ] {
        assert!(has_field(&out, field), "{field:?} missing:\n{out}");
    }

    let out = explain(&s, &["namespaces.spec.finalizers"]);
    assert!(out.contains("KIND:       Namespace"), "{out}");
    assert!(out.contains("FIELD: finalizers <[]string>"), "{out}");
    assert!(
        out.contains("Finalizers is an opaque list of values that must be empty"),
        "{out}"
    );

    // Nested through references (ObjectMeta → OwnerReference), recursively.
    let out = explain(&s, &["cm.metadata.ownerReferences", "--recursive"]);
    assert!(
        out.contains("FIELD: ownerReferences <[]OwnerReference>"),
        "{out}"
    );
    assert!(has_field(&out, "uid\t<string> -required-"), "{out}");

    // Another group serving a kind of the same name (core/v1 Event).
    let out = explain(&s, &["events", "--api-version=events.k8s.io/v1"]);
    assert!(out.contains("GROUP:      events.k8s.io"), "{out}");
    assert!(has_field(&out, "series\t<EventSeries>"), "{out}");

    let err = s.fails(&["explain", "configmap.nope"]);
    assert!(err.contains(r#"field "nope" does not exist"#), "{err}");
}

#[test]
fn explain_from_openapi_v2_protobuf() {
    let s = TestServer::start();
    let out = explain(&s, &["configmaps", "--output=plaintext-openapiv2"]);
    assert!(out.contains("KIND:     ConfigMap"), "{out}");
    assert!(
        out.contains("ConfigMap holds configuration data for pods to consume."),
        "{out}"
    );
    assert!(has_field(&out, "data\t<map[string]string>"), "{out}");
    let out = explain(
        &s,
        &[
            "clusterrolebinding.subjects",
            "--output=plaintext-openapiv2",
        ],
    );
    assert!(out.contains("RESOURCE: subjects <[]Object>"), "{out}");
    assert!(
        out.contains("Subjects holds references to the objects the role applies to."),
        "{out}"
    );
    assert!(has_field(&out, "name\t<string> -required-"), "{out}");
}

const LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed-1, namespace: default}
  data: {a: \"1\"}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: listed-2, namespace: default}
  rules:
  - apiGroups: [\"\"]
    resources: [configmaps]
    verbs: [get]
";

#[test]
fn lists_are_validated_client_side_from_openapi_v2() {
    let s = TestServer::start();
    // kubectl validates a `kind: List` itself (the server never sees the
    // List), from the protobuf v2 document.
    let out = s.kubectl_stdin(&["create", "-f", "-", "-v=6"], LIST);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("/openapi/v2"),
        "kubectl did not fetch v2:\n{log}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configmap/listed-1 created"), "{stdout}");
    assert!(
        stdout.contains("role.rbac.authorization.k8s.io/listed-2 created"),
        "{stdout}"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "listed-1",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.a}"
        ]),
        "1"
    );

    // An unknown field and a missing required one, in items: kube-apiserver's
    // kubectl reports both before sending anything.
    let bad = LIST
        .replace("data: {a: \"1\"}", "data: {a: \"1\"}\n  bogus: 1")
        .replace("listed-", "bad-")
        .replace("    verbs: [get]\n", "");
    let out = s.kubectl_stdin(&["create", "-f", "-"], &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error validating data"), "{err}");
    assert!(
        err.contains(r#"unknown field "bogus" in io.k8s.api.core.v1.ConfigMap"#),
        "{err}"
    );
    assert!(
        err.contains(r#"missing required field "verbs" in io.k8s.api.rbac.v1.PolicyRule"#),
        "{err}"
    );
    let missing = s.fails(&["get", "cm", "bad-1", "-n", "default"]);
    assert!(missing.contains("NotFound"), "{missing}");
}

#[test]
fn apply_strict_is_left_to_the_server() {
    let s = TestServer::start();
    let manifest = "apiVersion: v1
kind: ConfigMap
metadata: {name: strict, namespace: default}
data: {a: \"1\"}
bogus: 1
";
    let out = s.kubectl_stdin(&["apply", "--validate=strict", "-f", "-", "-v=6"], manifest);
    let err = String::from_utf8_lossy(&out.stderr);
    // The v3 document says the server validates fields: kubectl sends
    // fieldValidation=Strict instead of validating from v2.
    assert!(err.contains("fieldValidation=Strict"), "{err}");
    assert!(!err.contains("/openapi/v2"), "{err}");
    assert!(!out.status.success(), "created despite an unknown field");
    assert!(err.contains("strict decoding error"), "{err}");
    assert!(err.contains(r#"unknown field "bogus""#), "{err}");
}

#[test]
fn client_side_apply_merges_lists_by_the_v3_patch_metadata() {
    let s = TestServer::start();
    let v1 = "apiVersion: v1
kind: ConfigMap
metadata:
  name: applied
  namespace: default
  finalizers: [example.com/a]
data: {a: \"1\"}
";
    s.ok_stdin(&["apply", "-f", "-"], v1);
    let v2 = v1
        .replace("example.com/a", "example.com/b")
        .replace("a: \"1\"", "a: \"2\"");
    let out = s.kubectl_stdin(&["apply", "-f", "-", "-v=8"], &v2);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // metadata.finalizers is `patchStrategy: merge` upstream: kubectl learns
    // it from the v3 schema and sends a set-merge directive, not a new list.
    assert!(
        log.contains("application/strategic-merge-patch+json"),
        "{log}"
    );
    assert!(log.contains("$deleteFromPrimitiveList/finalizers"), "{log}");
    assert!(!log.contains("/openapi/v2"), "{log}");
    let got = s.ok(&[
        "get",
        "cm",
        "applied",
        "-n",
        "default",
        "-o",
        "jsonpath={.data.a} {.metadata.finalizers}",
    ]);
    assert_eq!(got, r#"2 ["example.com/b"]"#);
    s.ok(&[
        "patch",
        "cm",
        "applied",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
}

#[test]
fn documents_are_served_with_hashes_and_etags() {
    let s = TestServer::start();
    let root = s.json(&["get", "--raw", "/openapi/v3"]);
    let url = root["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .expect("api/v1 document URL")
        .to_string();
    assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
    for gv in [
        "apis/rbac.authorization.k8s.io/v1",
        "apis/coordination.k8s.io/v1",
        "apis/events.k8s.io/v1",
        "apis/authorization.k8s.io/v1",
    ] {
        assert!(root["paths"][gv]["serverRelativeURL"].is_string(), "{gv}");
    }
    let doc = s.json(&["get", "--raw", &url]);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.core.v1.ConfigMap"]["x-kubernetes-group-version-kind"][0]["kind"],
        "ConfigMap"
    );
    assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());
    assert!(schemas["io.k8s.api.core.v1.ConfigMapList"].is_object());

    let v2 = s.json(&["get", "--raw", "/openapi/v2"]);
    assert_eq!(v2["swagger"], "2.0");
    assert_eq!(
        v2["definitions"]["io.k8s.api.rbac.v1.ClusterRole"]["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );

    // Conditional requests and immutable hashed URLs, as upstream serves them.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = s.kube_client().await;
        let get = |path: &str, etag: Option<&str>, accept: Option<&str>| {
            let mut req = http::Request::get(path);
            if let Some(e) = etag {
                req = req.header(http::header::IF_NONE_MATCH, e);
            }
            if let Some(a) = accept {
                req = req.header(http::header::ACCEPT, a);
            }
            req.body(Vec::new()).expect("request")
        };
        let resp = client
            .send(get(&url, None, None).map(kube::client::Body::from))
            .await
            .expect("v3 document");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "public, immutable");
        let etag = resp.headers()["etag"].to_str().expect("etag").to_string();
        let resp = client
            .send(get(&url, Some(&etag), None).map(kube::client::Body::from))
            .await
            .expect("conditional");
        assert_eq!(resp.status(), 304);

        let stale = "/openapi/v3/api/v1?hash=0000";
        let resp = client
            .send(get(stale, None, None).map(kube::client::Body::from))
            .await
            .expect("stale hash");
        assert_eq!(resp.status(), 301);
        assert_eq!(resp.headers()["location"], url.as_str());

        let pb = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
        let resp = client
            .send(get("/openapi/v2", None, Some(pb)).map(kube::client::Body::from))
            .await
            .expect("v2");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        );
        let etag = resp.headers()["etag"].to_str().expect("etag").to_string();
        let resp = client
            .send(get("/openapi/v2", Some(&etag), Some(pb)).map(kube::client::Body::from))
            .await
            .expect("v2 conditional");
        assert_eq!(resp.status(), 304);
        let resp = client
            .send(get("/openapi/v2", None, Some("text/html")).map(kube::client::Body::from))
            .await
            .expect("v2 html");
        assert_eq!(resp.status(), 406);
    });
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A CronTab runs a command on a schedule.
        properties:
          spec:
            type: object
            description: The desired schedule.
            required: [cronSpec]
            properties:
              cronSpec: {type: string, description: Cron expression of the schedule.}
              replicas: {type: integer}
";

#[test]
fn custom_resources_are_explained_and_validated_from_their_schema() {
    let s = TestServer::start();
    s.ok_stdin(&["apply", "-f", "-"], CRD);
    // The CRD is served once the registry has taken it in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let out = loop {
        let out = s.kubectl(&["explain", "crontabs"]);
        if out.status.success() || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("GROUP:      stable.example.com"), "{text}");
    assert!(text.contains("KIND:       CronTab"), "{text}");
    assert!(
        text.contains("A CronTab runs a command on a schedule."),
        "{text}"
    );
    // apiVersion, kind and metadata are added as upstream's builder adds them.
    for field in [
        "apiVersion\t<string>",
        "kind\t<string>",
        "metadata\t<ObjectMeta>",
        "spec\t<Object>",
    ] {
        assert!(has_field(&text, field), "{field:?} missing:\n{text}");
    }
    let out = explain(&s, &["crontabs.spec.cronSpec"]);
    assert!(out.contains("FIELD: cronSpec <string>"), "{out}");
    assert!(out.contains("Cron expression of the schedule."), "{out}");

    // Client-side apply of a custom resource: no strategic merge patch in v3,
    // so kubectl consults v2 and sends a JSON merge patch, as against upstream.
    let ct = "apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: c1, namespace: default}
spec: {cronSpec: \"* * * * *\", replicas: 1}
";
    s.ok_stdin(&["apply", "-f", "-"], ct);
    let out = s.kubectl_stdin(
        &["apply", "-f", "-", "-v=8"],
        &ct.replace("replicas: 1", "replicas: 2"),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("application/merge-patch+json"), "{log}");
    assert_eq!(
        s.ok(&[
            "get",
            "crontabs",
            "c1",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "2"
    );

    // In a List, kubectl validates custom resources from their v2 schema.
    let list = "apiVersion: v1
kind: List
items:
- apiVersion: stable.example.com/v1
  kind: CronTab
  metadata: {name: c2, namespace: default}
  spec: {replicas: 1, bogus: 1}
";
    let out = s.kubectl_stdin(&["create", "-f", "-"], list);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"unknown field "bogus" in com.example.stable.v1.CronTab.spec"#),
        "{err}"
    );
    assert!(
        err.contains(r#"missing required field "cronSpec" in com.example.stable.v1.CronTab.spec"#),
        "{err}"
    );
}
