//! The auth proxy with real kubectl: a management API server and a
//! "downstream cluster" API server, both real HTTPS servers on loopback.
//! kubectl talks to `/k8s/clusters/c1` on the management server as Corral
//! users; the downstream cluster sees the proxy's credential impersonating
//! them, and its own RBAC decides.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use async_trait::async_trait;
use corral_management::proxy::{AuthProxy, ClusterDirectory, ClusterTarget, DirectDialer};

#[path = "support/servers.rs"]
mod servers;
use servers::{serve, user};

struct OneCluster(ClusterTarget);

#[async_trait]
impl ClusterDirectory for OneCluster {
    async fn target(&self, cluster: &str) -> Option<ClusterTarget> {
        (cluster == "c1").then(|| self.0.clone())
    }
}

fn kubectl_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/kubectl")
}

fn kubeconfig(dir: &Path, name: &str, server: &str, ca_pem: &str, token: &str) -> PathBuf {
    let ca = dir.join(format!("{name}-ca.crt"));
    std::fs::write(&ca, ca_pem).expect("ca");
    let path = dir.join(format!("{name}.kubeconfig"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
        ca.display()
    );
    std::fs::write(&path, text).expect("kubeconfig");
    path
}

async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(kubectl_path());
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl");
    if let Some(mut input) = child.stdin.take() {
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.expect("stdin");
        }
        drop(input);
    }
    child.wait_with_output().await.expect("kubectl output")
}

async fn ok(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(kubeconfig, args, stdin).await;
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const DOWNSTREAM_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: corral-impersonator}
rules:
- apiGroups: [""]
  resources: [users, groups]
  verbs: [impersonate]
- apiGroups: [authentication.k8s.io]
  resources: [userextras/principalid]
  verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: corral-impersonator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: corral-impersonator}
subjects:
- {kind: User, name: corral-agent, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-view, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
"#;

const MANAGEMENT_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: use-c1}
rules:
- apiGroups: [management.corral.dev]
  resources: [clusters/proxy]
  resourceNames: [c1]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ann-uses-c1}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-c1}
subjects:
- {kind: User, name: ann, apiGroup: rbac.authorization.k8s.io}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_through_the_proxy_as_corral_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = user("admin", &["system:masters"]);
    let downstream = serve(
        &dir.path().join("downstream"),
        &[
            ("down-admin", admin.clone()),
            ("agent-token", user("corral-agent", &[])),
        ],
    )
    .await;
    let management = serve(
        &dir.path().join("management"),
        &[
            ("mgmt-admin", admin),
            ("ann-token", user("ann", &["devs"])),
            ("bob-token", user("bob", &["others"])),
        ],
    )
    .await;
    let target = ClusterTarget {
        address: downstream.url.trim_start_matches("https://").to_string(),
        server_name: "127.0.0.1".into(),
        ca_pem: downstream.ca_pem.clone(),
        bearer_token: "agent-token".into(),
    };
    management.api.add_extension(Arc::new(AuthProxy::new(
        management.api.clone(),
        Arc::new(OneCluster(target)),
        Arc::new(DirectDialer),
    )));

    let down_admin = kubeconfig(
        dir.path(),
        "down-admin",
        &downstream.url,
        &downstream.ca_pem,
        "down-admin",
    );
    let mgmt_admin = kubeconfig(
        dir.path(),
        "mgmt-admin",
        &management.url,
        &management.ca_pem,
        "mgmt-admin",
    );
    ok(&down_admin, &["apply", "-f", "-"], Some(DOWNSTREAM_RBAC)).await;
    ok(&mgmt_admin, &["apply", "-f", "-"], Some(MANAGEMENT_RBAC)).await;
    ok(
        &down_admin,
        &[
            "create",
            "cm",
            "hello",
            "-n",
            "default",
            "--from-literal=a=1",
        ],
        None,
    )
    .await;

    let proxied = format!("{}/k8s/clusters/c1", management.url);
    let ann = kubeconfig(dir.path(), "ann", &proxied, &management.ca_pem, "ann-token");
    let bob = kubeconfig(dir.path(), "bob", &proxied, &management.ca_pem, "bob-token");

    // Ann reaches the cluster; downstream she is "ann" in group "devs".
    let names = ok(&ann, &["get", "cm", "-n", "default", "-o", "name"], None).await;
    assert!(names.contains("configmap/hello"), "{names}");
    let who = ok(&ann, &["auth", "whoami", "-o", "json"], None).await;
    let who: serde_json::Value = serde_json::from_str(&who).expect("json");
    assert_eq!(who["status"]["userInfo"]["username"], "ann", "{who}");
    assert!(
        who["status"]["userInfo"]["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x == "devs")),
        "{who}"
    );
    // Downstream RBAC decides: edit in default, nothing cluster-wide.
    ok(&ann, &["create", "cm", "by-ann", "-n", "default"], None).await;
    let denied = kubectl(&ann, &["get", "namespaces"], None).await;
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(err.contains("User \"ann\" cannot list"), "{err}");

    // A watch streams through the proxy.
    let mut watch = tokio::process::Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(&ann)
        .args([
            "get",
            "cm",
            "-n",
            "default",
            "-w",
            "-o",
            "name",
            "--request-timeout=20s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("watch");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    ok(
        &down_admin,
        &["create", "cm", "during-watch", "-n", "default"],
        None,
    )
    .await;
    let mut stdout = watch.stdout.take().expect("stdout");
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !seen.contains("configmap/during-watch") && tokio::time::Instant::now() < deadline {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(std::time::Duration::from_secs(1), stdout.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => {}
        }
    }
    let _ = watch.kill().await;
    assert!(
        seen.contains("configmap/during-watch"),
        "watch output: {seen}"
    );

    // Bob may not use the cluster at all: the proxy refuses before dialing.
    let out = kubectl(&bob, &["get", "cm", "-n", "default"], None).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forbidden") && err.contains("bob"), "{err}");
    // No credential: 401. Unknown cluster: 404.
    let anon = kubeconfig(
        dir.path(),
        "anon",
        &proxied,
        &management.ca_pem,
        "wrong-token",
    );
    let out = kubectl(&anon, &["get", "cm"], None).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"));
    let elsewhere = format!("{}/k8s/clusters/nope", management.url);
    let nope = kubeconfig(
        dir.path(),
        "nope",
        &elsewhere,
        &management.ca_pem,
        "mgmt-admin",
    );
    let out = kubectl(&nope, &["get", "cm", "-n", "default"], None).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ann's own Impersonate-* headers are dropped, not forwarded.
    let out = kubectl(
        &ann,
        &[
            "get",
            "secrets",
            "-A",
            "--as=admin",
            "--as-group=system:masters",
        ],
        None,
    )
    .await;
    assert!(
        !out.status.success(),
        "impersonation passed through the proxy"
    );
}

/// Counts the connections the proxy opens to the cluster.
struct CountingDialer(std::sync::atomic::AtomicUsize);

#[async_trait]
impl corral_management::proxy::Dialer for CountingDialer {
    async fn dial(
        &self,
        cluster: &str,
        address: &str,
    ) -> std::io::Result<Box<dyn corral_management::proxy::Stream>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        DirectDialer.dial(cluster, address).await
    }
}

/// Sequential requests share a connection to the cluster; a watch keeps its
/// own, so requests made meanwhile neither wait for it nor fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_but_a_watch_holds_its_own() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams, WatchEvent, WatchParams};
    use std::sync::atomic::Ordering;

    let dir = tempfile::tempdir().expect("tempdir");
    let admin = user("admin", &["system:masters"]);
    let downstream = serve(&dir.path().join("d"), &[("down", admin.clone())]).await;
    let management = serve(&dir.path().join("m"), &[("mgmt", admin)]).await;
    let dialer = Arc::new(CountingDialer(Default::default()));
    management.api.add_extension(Arc::new(AuthProxy::new(
        management.api.clone(),
        Arc::new(OneCluster(ClusterTarget {
            address: downstream.url.trim_start_matches("https://").to_string(),
            server_name: "127.0.0.1".into(),
            ca_pem: downstream.ca_pem.clone(),
            bearer_token: "down".into(),
        })),
        dialer.clone(),
    )));
    let mut config = kube::Config::new(
        format!("{}/k8s/clusters/c1", management.url)
            .parse()
            .expect("url"),
    );
    config.root_cert = Some(vec![
        rustls_pemfile::certs(&mut management.ca_pem.as_bytes())
            .next()
            .expect("CA")
            .expect("PEM")
            .to_vec(),
    ]);
    config.auth_info.token = Some("mgmt".to_string().into());
    let client = kube::Client::try_from(config).expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("pooled".into());
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    for _ in 0..30 {
        cms.get("pooled").await.expect("get through the proxy");
    }
    let after_gets = dialer.0.load(Ordering::SeqCst);
    assert!(
        after_gets <= 2,
        "{after_gets} connections for 31 sequential requests"
    );

    let mut watch = cms
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .expect("watch")
        .boxed();
    let first = watch.try_next().await.expect("event").expect("an event");
    assert!(matches!(first, WatchEvent::Added(_)), "{first:?}");
    for _ in 0..10 {
        tokio::time::timeout(std::time::Duration::from_secs(5), cms.get("pooled"))
            .await
            .expect("a GET is not held up by the open watch")
            .expect("get");
    }
    let during = dialer.0.load(Ordering::SeqCst);
    assert!(
        during > after_gets && during <= after_gets + 2,
        "the watch takes a connection of its own ({after_gets} -> {during})"
    );
    let mut next = cm.clone();
    next.metadata.name = Some("seen-by-the-watch".into());
    cms.create(&PostParams::default(), &next)
        .await
        .expect("create");
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
        .await
        .expect("the watch goes on")
        .expect("event")
        .expect("ok");
    assert!(
        matches!(event, WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("seen-by-the-watch"))
    );
}
