//! Bad input gets the upstream code and a clear Status; nothing is half-written.

mod support;

use serde_json::Value;
use support::TestServer;

fn write_file(s: &TestServer, name: &str, contents: &[u8]) -> String {
    let p = s.dir.path().join(name);
    std::fs::write(&p, contents).expect("write");
    p.display().to_string()
}

/// `kubectl create --raw` prints the server's Status on failure; pull out code and reason.
fn raw_create_error(s: &TestServer, path: &str, body: &[u8]) -> String {
    let f = write_file(s, "body", body);
    s.fails(&["create", "--raw", path, "-f", &f])
}

#[test]
fn malformed_and_mismatched_bodies() {
    let s = TestServer::start();
    let cms = "/api/v1/namespaces/default/configmaps";
    let err = raw_create_error(&s, cms, b"{not json");
    assert!(
        err.contains("BadRequest") || err.contains("unrecognized"),
        "{err}"
    );
    let err = raw_create_error(&s, cms, b"[1,2,3]");
    assert!(
        err.contains("BadRequest") || err.contains("unrecognized"),
        "{err}"
    );
    let err = raw_create_error(
        &s,
        cms,
        br#"{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"a"}}"#,
    );
    assert!(
        err.contains("does not match the expected API version"),
        "{err}"
    );
    let err = raw_create_error(
        &s,
        cms,
        br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}"#,
    );
    assert!(err.contains("cannot be handled as a ConfigMap"), "{err}");
    let err = raw_create_error(&s, cms, br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"kube-system"}}"#);
    assert!(err.contains("does not match the namespace"), "{err}");
    let err = raw_create_error(
        &s,
        cms,
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}"#,
    );
    assert!(
        err.contains("Invalid value") && err.contains("RFC 1123"),
        "{err}"
    );
    let err = raw_create_error(
        &s,
        cms,
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}"#,
    );
    assert!(err.contains("name or generateName is required"), "{err}");
    let err = raw_create_error(&s, cms, br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"bad key!":"v"}}"#);
    assert!(err.contains("Invalid value"), "{err}");
    // None of those left anything behind (only the controller's root CA bundle is there).
    let list: Value = serde_json::from_str(&s.ok(&["get", "--raw", cms])).expect("json");
    let names: Vec<&str> = list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(names.iter().all(|n| *n == "kube-root-ca.crt"), "{list}");
}

#[test]
fn oversized_bodies_are_refused() {
    let s = TestServer::start();
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"k":"{}"}}}}"#,
        "x".repeat(3 * 1024 * 1024 + 10)
    );
    let err = raw_create_error(&s, "/api/v1/namespaces/default/configmaps", big.as_bytes());
    assert!(
        err.contains("too large") || err.contains("RequestEntityTooLarge") || err.contains("413"),
        "{err}"
    );
    s.fails(&["get", "cm", "big", "-n", "default"]);
}

#[test]
fn unknown_resources_and_unsupported_verbs() {
    let s = TestServer::start();
    let err = s.fails(&["get", "--raw", "/api/v1/widgets"]);
    assert!(
        err.contains("NotFound") || err.contains("could not find"),
        "{err}"
    );
    let err = s.fails(&["get", "--raw", "/apis/nope.example.com/v1"]);
    assert!(
        err.contains("NotFound") || err.contains("could not find"),
        "{err}"
    );
    let err = s.fails(&["get", "widgets"]);
    assert!(err.contains("doesn't have a resource type"), "{err}");
    // deletecollection is not a namespace verb.
    let err = s.fails(&["delete", "--raw", "/api/v1/namespaces"]);
    assert!(
        err.contains("MethodNotAllowed") || err.contains("not supported") || err.contains("405"),
        "{err}"
    );
    // Unsupported patch type.
    let err = s.fails(&[
        "patch",
        "cm",
        "nope",
        "-n",
        "default",
        "--type=strategic",
        "-p",
        "{}",
    ]);
    assert!(
        err.contains("NotFound") || err.contains("UnsupportedMediaType") || err.contains("415"),
        "{err}"
    );
}

#[test]
fn graceful_shutdown_ends_watches_and_exits_zero() {
    let mut s = TestServer::start();
    let kubeconfig = s.kubeconfig();
    let watch = std::process::Command::new(support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "get",
            "--raw",
            "/api/v1/namespaces/default/configmaps?watch=1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    assert_eq!(s.terminate(), Some(0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "shutdown took {:?}",
        started.elapsed()
    );
    let out = watch.wait_with_output().expect("watch ends");
    // The stream was closed by the server, not left hanging.
    let _ = out.status;
}
