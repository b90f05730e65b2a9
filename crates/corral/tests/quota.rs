//! ResourceQuota enforcement end to end with kubectl: admission refuses
//! creates over `status.hard` with upstream's messages, pods must state
//! the cpu/memory a quota limits, creates charge `status.used` at once,
//! the controller fills in new quotas and gives usage back on deletes,
//! `kubectl get quota` shows used/hard, and dry runs charge nothing.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::TestServer;

const NS: &str = "quota-test";

const QUOTA: &str = r#"
apiVersion: v1
kind: ResourceQuota
metadata:
  name: q
  namespace: quota-test
spec:
  hard:
    pods: "2"
    configmaps: "3"
    count/deployments.apps: "1"
    requests.cpu: 500m
    limits.memory: 1Gi
"#;

fn pod(name: &str, cpu: &str, memory_limit: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {NS}
spec:
  containers:
  - name: main
    image: busybox
    resources:
      requests: {{cpu: {cpu}}}
      limits: {{memory: {memory_limit}}}
"#
    )
}

fn deployment(name: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {NS}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: busybox
"#
    )
}

fn used(s: &TestServer) -> Value {
    s.json(&["get", "resourcequota", "q", "-n", NS, "-o", "json"])["status"]["used"].clone()
}

/// Wait until `status.used[resource]` reads `want` (the controller is asynchronous).
fn wait_used(s: &TestServer, resource: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let u = used(s);
        if u[resource] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "status.used.{resource} never became {want}: {u}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn create_fails(s: &TestServer, manifest: &str) -> String {
    let out = s.kubectl_stdin(&["create", "-f", "-"], manifest);
    assert!(
        !out.status.success(),
        "create unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn quota_is_enforced_charged_and_recounted() {
    let s = TestServer::start();
    s.ok(&["create", "namespace", NS]);
    // The root CA ConfigMap is in the namespace before the quota: it counts.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s
        .kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", NS])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "kube-root-ca.crt never appeared");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.ok_stdin(&["create", "-f", "-"], QUOTA);

    // The controller fills in status quickly.
    wait_used(&s, "configmaps", "1");
    let q = s.json(&["get", "resourcequota", "q", "-n", NS, "-o", "json"]);
    assert_eq!(q["status"]["hard"], q["spec"]["hard"], "{q}");
    let u = &q["status"]["used"];
    assert_eq!(u["pods"], "0", "{u}");
    assert_eq!(u["requests.cpu"], "0", "{u}");
    assert_eq!(u["limits.memory"], "0", "{u}");
    assert_eq!(u["count/deployments.apps"], "0", "{u}");

    // Pods must state what the quota limits.
    let bare = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: bare, namespace: {NS}}}\nspec:\n  containers:\n  - {{name: main, image: busybox}}\n"
    );
    let err = create_fails(&s, &bare);
    assert!(
        err.contains(
            r#"pods "bare" is forbidden: failed quota: q: must specify limits.memory for: main; requests.cpu for: main"#
        ),
        "{err}"
    );

    // A dry run is checked but charges nothing.
    s.ok_stdin(
        &["create", "--dry-run=server", "-f", "-"],
        &pod("p1", "200m", "256Mi"),
    );
    assert_eq!(used(&s)["pods"], "0");
    let err = create_fails(&s, &pod("big", "600m", "256Mi"));
    assert!(
        err.contains(r#"pods "big" is forbidden: exceeded quota: q, requested: requests.cpu=600m, used: requests.cpu=0, limited: requests.cpu=500m"#),
        "{err}"
    );

    // Creates charge the quota before they return.
    s.ok_stdin(&["create", "-f", "-"], &pod("p1", "200m", "256Mi"));
    let u = used(&s);
    assert_eq!(u["pods"], "1", "{u}");
    assert_eq!(u["requests.cpu"], "200m", "{u}");
    assert_eq!(u["limits.memory"], "256Mi", "{u}");
    s.ok_stdin(&["create", "-f", "-"], &pod("p2", "200m", "256Mi"));
    let err = create_fails(&s, &pod("p3", "100m", "256Mi"));
    assert!(
        err.contains(
            r#"pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"#
        ),
        "{err}"
    );
    // Dry run of an over-quota create is refused too.
    let out = s.kubectl_stdin(
        &["create", "--dry-run=server", "-f", "-"],
        &pod("p3", "100m", "256Mi"),
    );
    assert!(!out.status.success());

    // kube-root-ca.crt + 2 = 3 ConfigMaps.
    s.ok(&["create", "configmap", "cm1", "-n", NS]);
    s.ok(&["create", "configmap", "cm2", "-n", NS]);
    let err = s.fails(&["create", "configmap", "cm3", "-n", NS]);
    assert!(
        err.contains(
            r#"configmaps "cm3" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=3, limited: configmaps=3"#
        ),
        "{err}"
    );

    // count/<resource>.<group>.
    s.ok_stdin(&["create", "-f", "-"], &deployment("d1"));
    let err = create_fails(&s, &deployment("d2"));
    assert!(
        err.contains(
            r#"deployments.apps "d2" is forbidden: exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"#
        ),
        "{err}"
    );

    // kubectl shows used/hard.
    let table = s.ok(&["get", "quota", "q", "-n", NS]);
    assert!(
        table.contains(
            "configmaps: 3/3, count/deployments.apps: 1/1, pods: 2/2, requests.cpu: 400m/500m"
        ),
        "{table}"
    );
    assert!(table.contains("limits.memory: 512Mi/1Gi"), "{table}");

    // Deleting gives usage back (the controller recounts), and room returns.
    s.ok(&["delete", "pod", "p1", "-n", NS, "--wait=false"]);
    s.ok(&["delete", "configmap", "cm1", "-n", NS]);
    wait_used(&s, "pods", "1");
    wait_used(&s, "configmaps", "2");
    let u = used(&s);
    assert_eq!(u["requests.cpu"], "200m", "{u}");
    assert_eq!(u["limits.memory"], "256Mi", "{u}");
    s.ok_stdin(&["create", "-f", "-"], &pod("p3", "100m", "256Mi"));
    s.ok(&["create", "configmap", "cm3", "-n", NS]);
    let u = used(&s);
    assert_eq!(u["pods"], "2", "{u}");
    assert_eq!(u["requests.cpu"], "300m", "{u}");
    assert_eq!(u["configmaps"], "3", "{u}");

    // Namespaces without a quota are untouched.
    s.ok(&["create", "namespace", "free"]);
    for i in 0..4 {
        s.ok(&["create", "configmap", &format!("c{i}"), "-n", "free"]);
    }
}
