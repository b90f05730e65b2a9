//! kubectl end-to-end tests of lists (paging, selectors, resourceVersion) and watches.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::TestServer;

fn rv(v: &Value) -> i64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("resourceVersion")
}

fn raw(s: &TestServer, path: &str) -> Value {
    serde_json::from_str(&s.ok(&["get", "--raw", path])).expect("json")
}

/// The controllers put `kube-root-ca.crt` into every namespace; these tests look past it.
const ROOT_CA: &str = "kube-root-ca.crt";

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
        .filter(|n| n != ROOT_CA)
        .collect()
}

/// `kubectl -o name` output without the root CA bundle.
fn name_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.contains(ROOT_CA))
        .map(str::to_string)
        .collect()
}

#[test]
fn label_selectors_all_operators() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "sel"]);
    for (name, labels) in [
        ("a", "env=prod,tier=web"),
        ("b", "env=dev,tier=web"),
        ("c", "env=test"),
        ("d", "tier=db,version=3"),
        ("e", ""),
    ] {
        s.ok(&["create", "cm", name, "-n", "sel"]);
        if !labels.is_empty() {
            let mut args = vec!["label", "cm", name, "-n", "sel"];
            args.extend(labels.split(','));
            s.ok(&args);
        }
    }
    let q = |sel: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .ok(&["get", "cm", "-n", "sel", "-l", sel, "-o", "name"])
            .lines()
            .map(|l| l.trim_start_matches("configmap/").to_string())
            .filter(|n| n != ROOT_CA)
            .collect();
        v.sort();
        v
    };
    assert_eq!(q("env=prod"), ["a"]);
    assert_eq!(q("env==prod"), ["a"]);
    assert_eq!(q("env!=prod"), ["b", "c", "d", "e"]);
    assert_eq!(q("env in (dev,test)"), ["b", "c"]);
    assert_eq!(q("env notin (dev,test)"), ["a", "d", "e"]);
    assert_eq!(q("tier"), ["a", "b", "d"]);
    assert_eq!(q("!tier"), ["c", "e"]);
    assert_eq!(q("tier=web,env=dev"), ["b"]);
    assert_eq!(q("version>2"), ["d"]);
    assert_eq!(q("version<3"), Vec::<String>::new());
    let err = s.fails(&["get", "cm", "-n", "sel", "-l", "env in prod"]);
    assert!(
        err.contains("BadRequest") || err.contains("unable to parse"),
        "{err}"
    );
}

#[test]
fn field_selectors_per_type() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "fs"]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "plain",
        "-n",
        "fs",
        "--from-literal=a=b",
    ]);
    s.ok_stdin(&["create", "-f", "-"], r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"tls","namespace":"fs"},"type":"kubernetes.io/tls","data":{"tls.crt":"","tls.key":""}}"#);
    assert_eq!(
        s.ok(&[
            "get",
            "secrets",
            "-n",
            "fs",
            "--field-selector",
            "type=kubernetes.io/tls",
            "-o",
            "name"
        ])
        .trim(),
        "secret/tls"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "secrets",
            "-n",
            "fs",
            "--field-selector",
            "metadata.name=plain",
            "-o",
            "name"
        ])
        .trim(),
        "secret/plain"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "secrets",
            "-n",
            "fs",
            "--field-selector",
            "metadata.name!=plain",
            "-o",
            "name"
        ])
        .trim(),
        "secret/tls"
    );
    // Across namespaces by metadata.namespace.
    let all = s.ok(&[
        "get",
        "secrets",
        "-A",
        "--field-selector",
        "metadata.namespace=fs",
        "-o",
        "name",
    ]);
    assert_eq!(all.lines().count(), 2, "{all}");
    let ns = s.ok(&[
        "get",
        "ns",
        "--field-selector",
        "status.phase=Active",
        "-o",
        "name",
    ]);
    assert!(ns.contains("namespace/fs"), "{ns}");
    let err = s.fails(&["get", "secrets", "-n", "fs", "--field-selector", "data.a=b"]);
    assert!(
        err.contains("not a known field selector") || err.contains("field label not supported"),
        "{err}"
    );
}

#[test]
fn paging_with_limit_and_continue() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "page"]);
    for i in 0..7 {
        s.ok(&["create", "cm", &format!("cm{i}"), "-n", "page"]);
    }
    let first = raw(&s, "/api/v1/namespaces/page/configmaps?limit=3");
    assert_eq!(names(&first), ["cm0", "cm1", "cm2"]);
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("continue token")
        .to_string();
    let snapshot = rv(&first);
    // A write between pages must not show up: pages come from one snapshot.
    s.ok(&["create", "cm", "cm05", "-n", "page"]);
    let second = raw(
        &s,
        &format!("/api/v1/namespaces/page/configmaps?limit=3&continue={token}"),
    );
    assert_eq!(names(&second), ["cm3", "cm4", "cm5"]);
    assert_eq!(rv(&second), snapshot);
    let token = second["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let third = raw(
        &s,
        &format!("/api/v1/namespaces/page/configmaps?limit=3&continue={token}"),
    );
    assert_eq!(names(&third), ["cm6"]);
    assert!(
        third["metadata"]
            .get("continue")
            .is_none_or(|c| c.as_str() == Some(""))
    );
    // kubectl pages with --chunk-size and sees everything.
    let all = s.ok(&["get", "cm", "-n", "page", "--chunk-size=2", "-o", "name"]);
    assert_eq!(name_lines(&all).len(), 8, "{all}");
    // A garbage token is a clear 400.
    let err = s.fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/page/configmaps?limit=3&continue=garbage",
    ]);
    assert!(
        err.contains("BadRequest") || err.contains("continue"),
        "{err}"
    );
}

#[test]
fn list_at_exact_resource_version() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "hist"]);
    s.ok(&["create", "cm", "x", "-n", "hist", "--from-literal=v=1"]);
    let at = rv(&raw(&s, "/api/v1/namespaces/hist/configmaps"));
    s.ok(&["create", "cm", "y", "-n", "hist"]);
    s.ok(&["delete", "cm", "x", "-n", "hist"]);
    let now = raw(&s, "/api/v1/namespaces/hist/configmaps");
    assert_eq!(names(&now), ["y"]);
    let then = raw(
        &s,
        &format!(
            "/api/v1/namespaces/hist/configmaps?resourceVersion={at}&resourceVersionMatch=Exact"
        ),
    );
    assert_eq!(names(&then), ["x"]);
    assert_eq!(rv(&then), at);
    let err = s.fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/hist/configmaps?resourceVersionMatch=Exact",
    ]);
    assert!(
        err.contains("BadRequest") || err.contains("resourceVersionMatch"),
        "{err}"
    );
    let err = s.fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/hist/configmaps?resourceVersion=999999&resourceVersionMatch=Exact",
    ]);
    assert!(
        err.contains("Timeout") || err.contains("Too large resource version"),
        "{err}"
    );
}

/// Read watch lines from `kubectl get --raw` until `n` lines or the timeout.
fn watch_lines(s: &TestServer, path: &str, n: usize) -> Vec<Value> {
    let out = s.ok(&["get", "--raw", path]);
    let lines: Vec<Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("watch line is JSON"))
        .filter(|e| e["object"]["metadata"]["name"] != ROOT_CA)
        .collect();
    assert!(lines.len() >= n, "expected {n} events, got {lines:?}");
    lines
}

#[test]
fn watch_resumes_from_resource_version_without_gaps_or_duplicates() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "w"]);
    s.ok(&["create", "cm", "before", "-n", "w"]);
    let start = rv(&raw(&s, "/api/v1/namespaces/w/configmaps"));
    s.ok(&["create", "cm", "a", "-n", "w"]);
    s.ok(&["label", "cm", "a", "-n", "w", "x=y"]);
    s.ok(&["delete", "cm", "a", "-n", "w"]);
    s.ok(&["create", "cm", "b", "-n", "w"]);
    let events = watch_lines(
        &s,
        &format!(
            "/api/v1/namespaces/w/configmaps?watch=1&resourceVersion={start}&timeoutSeconds=2"
        ),
        4,
    );
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or(""),
                e["object"]["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("ADDED", "a"),
            ("MODIFIED", "a"),
            ("DELETED", "a"),
            ("ADDED", "b")
        ]
    );
    let rvs: Vec<i64> = events.iter().map(|e| rv(&e["object"])).collect();
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {rvs:?}"
    );
    assert!(rvs[0] > start);
    // Resuming from the middle delivers exactly the rest.
    let rest = watch_lines(
        &s,
        &format!(
            "/api/v1/namespaces/w/configmaps?watch=1&resourceVersion={}&timeoutSeconds=2",
            rvs[1]
        ),
        2,
    );
    let rest_rvs: Vec<i64> = rest.iter().map(|e| rv(&e["object"])).collect();
    assert_eq!(rest_rvs, rvs[2..]);
    // Without a resourceVersion, the current state arrives as ADDED events first.
    let initial = watch_lines(
        &s,
        "/api/v1/namespaces/w/configmaps?watch=1&timeoutSeconds=1",
        2,
    );
    let mut initial_names: Vec<&str> = initial
        .iter()
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap_or(""))
        .collect();
    initial_names.sort();
    assert_eq!(initial_names, ["b", "before"]);
}

#[test]
fn watch_with_bookmarks_and_initial_events_end() {
    let s = TestServer::start();
    s.ok(&["create", "cm", "one", "-n", "default"]);
    let lines = watch_lines(
        &s,
        "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
        2,
    );
    assert_eq!(lines[0]["type"], "ADDED");
    let bookmark = lines
        .iter()
        .find(|l| l["type"] == "BOOKMARK")
        .expect("bookmark");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[test]
fn kubectl_get_watch_streams_changes() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "live"]);
    let mut child = Command::new(support::kubectl_path())
        .args(["--kubeconfig"])
        .arg(s.kubeconfig())
        .args([
            "get",
            "cm",
            "-n",
            "live",
            "-w",
            "--output-watch-events",
            "--no-headers",
        ])
        .env("HOME", s.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl -w");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    s.ok(&["create", "cm", "w1", "-n", "live"]);
    s.ok(&["label", "cm", "w1", "-n", "live", "a=b"]);
    s.ok(&["delete", "cm", "w1", "-n", "live"]);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while got.len() < 3 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200))
            && !line.contains(ROOT_CA)
        {
            got.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // Table rows: EVENT NAME DATA AGE.
    let got: Vec<String> = got
        .iter()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(got, ["ADDED w1", "MODIFIED w1", "DELETED w1"]);
}

#[test]
fn watch_from_compacted_revision_is_gone() {
    let s = TestServer::start_with(&[
        "--compact-interval-seconds",
        "1",
        "--compact-min-retain",
        "2",
    ]);
    s.ok(&["create", "ns", "old"]);
    for i in 0..10 {
        s.ok(&["create", "cm", &format!("c{i}"), "-n", "old"]);
    }
    // Wait until background compaction has dropped the early revisions.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = s.kubectl(&[
            "get",
            "--raw",
            "/api/v1/namespaces/old/configmaps?watch=1&resourceVersion=2&timeoutSeconds=1",
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Not a bare "410": random uids in the output can contain it.
        if text.contains("too old resource version") || text.contains("Expired") {
            // As upstream: the watch itself succeeds and reports the
            // expiry as its one event, which watchers re-list on.
            assert!(out.status.success(), "{text}");
            let event: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("one JSON event");
            assert_eq!(event["type"], "ERROR", "{text}");
            assert_eq!(event["object"]["code"], 410, "{text}");
            assert_eq!(event["object"]["reason"], "Expired", "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "never compacted: {text}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let err = s.fails(&[
        "get",
        "--raw",
        "/api/v1/namespaces/old/configmaps?resourceVersion=2&resourceVersionMatch=Exact",
    ]);
    assert!(
        err.contains("too old") || err.contains("Expired") || err.contains("Gone"),
        "{err}"
    );
}

#[test]
fn delete_collection_by_selector() {
    let s = TestServer::start();
    s.ok(&["create", "ns", "dc"]);
    for (n, l) in [("a", "tier=web"), ("b", "tier=web"), ("c", "tier=db")] {
        s.ok(&["create", "cm", n, "-n", "dc"]);
        s.ok(&["label", "cm", n, "-n", "dc", l]);
    }
    s.ok(&["delete", "cm", "-n", "dc", "-l", "tier=web"]);
    assert_eq!(
        name_lines(&s.ok(&["get", "cm", "-n", "dc", "-o", "name"])),
        ["configmap/c"]
    );
    let out = s.ok(&[
        "delete",
        "--raw",
        "/api/v1/namespaces/dc/configmaps?labelSelector=tier%3Ddb",
    ]);
    let list: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(names(&list), ["c"]);
    assert!(name_lines(&s.ok(&["get", "cm", "-n", "dc", "-o", "name"])).is_empty());
}
