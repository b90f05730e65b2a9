//! `fieldValidation` through real kubectl: `--validate=strict` (kubectl's
//! default) fails on unknown and duplicate fields, `--validate=warn` creates
//! the object and prints the server's warnings, `--validate=false` ignores them.

mod support;

use support::TestServer;

const UNKNOWN_FIELD: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: NAME
  namespace: default
  labelz: {a: b}
data:
  k: v
bogus: 1
";

fn manifest(name: &str) -> String {
    UNKNOWN_FIELD.replace("NAME", name)
}

#[test]
fn strict_rejects_unknown_fields_and_writes_nothing() {
    let s = TestServer::start();
    let out = s.kubectl_stdin(&["create", "-f", "-"], &manifest("strict"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("strict decoding error"), "{err}");
    assert!(err.contains(r#"unknown field "bogus""#), "{err}");
    assert!(err.contains(r#"unknown field "metadata.labelz""#), "{err}");
    let missing = s.fails(&["get", "cm", "strict", "-n", "default"]);
    assert!(missing.contains("NotFound"), "{missing}");
}

#[test]
fn warn_creates_and_reports_each_unknown_field() {
    let s = TestServer::start();
    let out = s.kubectl_stdin(
        &["create", "--validate=warn", "-f", "-"],
        &manifest("warned"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"Warning: unknown field "bogus""#), "{err}");
    assert!(
        err.contains(r#"Warning: unknown field "metadata.labelz""#),
        "{err}"
    );
    let cm = s.json(&["get", "cm", "warned", "-n", "default", "-o", "json"]);
    assert_eq!(cm["data"]["k"], "v");
    // Unknown fields are dropped, as upstream's decoding drops them.
    assert!(cm.get("bogus").is_none(), "{cm}");
    assert!(cm["metadata"].get("labelz").is_none(), "{cm}");
}

#[test]
fn ignore_creates_silently() {
    let s = TestServer::start();
    let out = s.kubectl_stdin(
        &["create", "--validate=false", "-f", "-"],
        &manifest("ignored"),
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unknown field"), "{err}");
    s.ok(&["get", "cm", "ignored", "-n", "default"]);
}

#[test]
fn duplicate_fields_in_json_bodies() {
    let s = TestServer::start();
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup"},"data":{"a":"1","a":"2"}}"#;
    let out = s.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            "-f",
            "-",
        ],
        body,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"duplicate field \"metadata.name\""#)
            || err.contains(r#"duplicate field "metadata.name""#),
        "{err}"
    );
    assert!(err.contains("data.a"), "{err}");

    let out = s.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
            "-f",
            "-",
        ],
        body,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cm = s.json(&["get", "cm", "dup", "-n", "default", "-o", "json"]);
    assert_eq!(cm["data"]["a"], "2", "the last duplicate wins, as upstream");
}

#[test]
fn patches_are_checked_too() {
    let s = TestServer::start();
    s.ok(&["create", "cm", "p", "-n", "default", "--from-literal=a=1"]);
    // kubectl patch sends no directive: the server's default, Warn, applies.
    let out = s.kubectl(&[
        "patch",
        "cm",
        "p",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"dataa":{"x":"y"},"data":{"b":"2"}}"#,
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"unknown field "dataa""#), "{err}");
    let cm = s.json(&["get", "cm", "p", "-n", "default", "-o", "json"]);
    assert!(cm.get("dataa").is_none(), "{cm}");
    assert_eq!(cm["data"]["b"], "2");
}

#[test]
fn unsupported_directive_is_a_bad_request() {
    let s = TestServer::start();
    let out = s.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Loose",
            "-f",
            "-",
        ],
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fieldValidation"), "{err}");
}
