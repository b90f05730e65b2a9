//! Multi-cluster end to end, on three hosts made of network namespaces: the
//! Corral server, and two downstream clusters (each a `corral server`
//! acting as that cluster's Kubernetes API) with their agents. Everything
//! runs as real processes: the clusters are imported with the manifest from
//! the import URL, users reach them with real kubectl through the proxy,
//! one cluster's link is cut for 30 s, and removal must leave the
//! downstream cluster clean.
//!
//! Needs root (network namespaces); `scripts/test` runs as root.

mod support;

use support::netns::{Net, Proc};

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

const PASSWORD: &str = "multi-cluster-admin-password";
const PORT: u16 = 6443;

struct Host<'a> {
    net: &'a Net,
    name: &'static str,
    dir: PathBuf,
    server: Proc,
}

impl<'a> Host<'a> {
    fn start(net: &'a Net, name: &'static str, root: &Path, extra: &[&str]) -> Host<'a> {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("host dir");
        let mut cmd = net.on(name, env!("CARGO_BIN_EXE_corral"));
        cmd.arg("server")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--bind")
            .arg(format!("{}:{PORT}", net.ip(name)))
            .args(extra)
            .env("CORRAL_LOG", "info,corral_management=debug");
        let server = Proc::spawn(cmd, dir.join("server.log"));
        let host = Host {
            net,
            name,
            dir,
            server,
        };
        wait_for(Duration::from_secs(60), "the server to start", || {
            host.kubeconfig().exists()
                && host.kubectl(&["get", "--raw", "/readyz"]).status.success()
        });
        host
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("data/admin.kubeconfig")
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("data/tls/server-ca.crt")
    }

    fn url(&self) -> String {
        format!("https://{}:{PORT}", self.net.ip(self.name))
    }

    /// kubectl as this host's admin, run from the management host.
    fn kubectl(&self, args: &[&str]) -> Output {
        kubectl(self.net, &self.kubeconfig(), args, None)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} on {} failed: {}\nserver log:\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr),
            tail(&self.server.log())
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).expect("kubectl JSON")
    }

    fn exists(&self, args: &[&str]) -> bool {
        let out = self.kubectl(args);
        if out.status.success() {
            return true;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("NotFound") || err.contains("not found"),
            "{err}"
        );
        false
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn kubectl(net: &Net, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = net.on("m", support::kubectl_path());
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--request-timeout", "20s"])
        .args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", kubeconfig.parent().unwrap_or(Path::new("/tmp")))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn kubectl");
    if let Some(input) = stdin
        && let Some(mut s) = child.stdin.take()
    {
        s.write_all(input.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("kubectl")
}

fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The `corral` CLI on the management host, with its own credential store.
fn corral(net: &Net, config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = net.on("m", env!("CARGO_BIN_EXE_corral"));
    cmd.args(args)
        .env("CORRAL_CONFIG_DIR", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn corral");
    if let Some(mut s) = child.stdin.take() {
        s.write_all(stdin.unwrap_or("").as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("corral");
    assert!(
        out.status.success(),
        "corral {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `corral login` on the management host, keeping the token in `config`.
fn login(net: &Net, m: &Host, config: &Path, user: &str, password: &str) {
    let ca = m.ca().display().to_string();
    let url = m.url();
    let args = [
        "login",
        &url,
        "-u",
        user,
        "--password-stdin",
        "--ca-file",
        &ca,
    ];
    corral(net, config, &args, Some(&format!("{password}\n")));
}

fn condition(cluster: &Value, kind: &str) -> String {
    cluster["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

fn cluster_object(m: &Host, name: &str) -> Value {
    m.json(&["get", "clusters.management.corral.dev", name])
}

fn is_connected(m: &Host, name: &str) -> bool {
    condition(&cluster_object(m, name), "Connected") == "True"
}

fn secret_field(secret: &Value, key: &str) -> String {
    let raw = secret["data"][key].as_str().unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

/// Import `host` as cluster `name`: the CLI prints the command, the
/// manifest is fetched from the import URL and applied to the cluster, and
/// the agent runs on the cluster's host the way its Deployment would (the
/// downstream `corral server` runs no pods): the manifest's Secret as
/// environment, the service-account token Secret as files.
fn import(net: &Net, m: &Host, admin_config: &Path, host: &Host, name: &str) -> Proc {
    let printed = corral(net, admin_config, &["cluster", "add", name], None);
    let url = printed
        .split_whitespace()
        .find(|w| w.contains("/v3/import/"))
        .unwrap_or_else(|| panic!("no import URL in {printed:?}"))
        .to_string();
    assert!(url.starts_with(&m.url()), "{url}");
    let fetched = net
        .on("m", "curl")
        .args(["-sfL", "--cacert"])
        .arg(m.ca())
        .arg(&url)
        .output()
        .expect("curl");
    assert!(fetched.status.success(), "fetching {url}");
    let manifest = String::from_utf8(fetched.stdout).expect("utf-8");
    let applied = kubectl(
        net,
        &host.kubeconfig(),
        &["apply", "-f", "-"],
        Some(&manifest),
    );
    assert!(
        applied.status.success(),
        "kubectl apply of the manifest: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let applied = String::from_utf8_lossy(&applied.stdout);
    for object in [
        "namespace/corral-system",
        "serviceaccount/corral-agent",
        "clusterrole.rbac.authorization.k8s.io/corral-agent",
        "deployment.apps/corral-agent",
    ] {
        assert!(applied.contains(object), "{object} not in {applied}");
    }

    let mut token_secret = Value::Null;
    wait_for(Duration::from_secs(30), "the agent's token", || {
        token_secret = host.json(&["-n", "corral-system", "get", "secret", "corral-agent-token"]);
        token_secret["data"]["token"].is_string()
    });
    let creds = host.dir.join("sa");
    std::fs::create_dir_all(&creds).expect("dir");
    for key in ["token", "ca.crt"] {
        std::fs::write(creds.join(key), secret_field(&token_secret, key)).expect("write");
    }
    start_agent(net, host, name)
}

/// `corral agent` on the cluster's host, configured as the manifest's
/// Deployment configures it.
fn start_agent(net: &Net, host: &Host, name: &str) -> Proc {
    let settings = host.json(&["-n", "corral-system", "get", "secret", "corral-agent"]);
    assert_eq!(secret_field(&settings, "cluster"), name);
    let mut cmd = net.on(host.name, env!("CARGO_BIN_EXE_corral"));
    cmd.arg("agent")
        .env("KUBERNETES_SERVICE_HOST", net.ip(host.name))
        .env("KUBERNETES_SERVICE_PORT", PORT.to_string())
        .env("CORRAL_CREDENTIAL_DIR", host.dir.join("sa"))
        .env("CORRAL_SERVER", secret_field(&settings, "server"))
        .env("CORRAL_CLUSTER", secret_field(&settings, "cluster"))
        .env("CORRAL_TOKEN", secret_field(&settings, "token"))
        .env("CORRAL_CA", secret_field(&settings, "ca.crt"))
        .env("CORRAL_LOG", "info,corral_tunnel=debug");
    Proc::spawn(cmd, host.dir.join(format!("agent-{name}.log")))
}

fn user_token(kubeconfig: &Path) -> String {
    let doc: Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig).expect("read")).expect("yaml");
    doc["users"][0]["user"]["token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// `(status, body)` of a GET through the proxy with a bearer token.
fn curl_get(net: &Net, m: &Host, path: &str, token: &str) -> (u16, String) {
    let out = net
        .on("m", "curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(m.ca())
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}{path}", m.url()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn three_hosts_import_proxy_partition_and_removal() {
    let net = Net::create(&["m", "a", "b"]);
    let root = tempfile::tempdir().expect("tempdir");
    let m = Host::start(
        &net,
        "m",
        root.path(),
        &[
            "--bootstrap-password",
            PASSWORD,
            "--cluster-probe-interval",
            "5",
        ],
    );
    let a = Host::start(&net, "a", root.path(), &[]);
    let b = Host::start(&net, "b", root.path(), &[]);

    let admin = root.path().join("admin-cli");
    login(&net, &m, &admin, "admin", PASSWORD);
    let mut agent_a = import(&net, &m, &admin, &a, "alpha");
    let _agent_b = import(&net, &m, &admin, &b, "beta");

    // Both clusters come up with their health in status.
    for name in ["alpha", "beta"] {
        wait_for(Duration::from_secs(30), "the cluster to be ready", || {
            let c = cluster_object(&m, name);
            condition(&c, "Connected") == "True"
                && condition(&c, "Ready") == "True"
                && condition(&c, "AgentDeployed") == "True"
        });
        let c = cluster_object(&m, name);
        assert!(
            c["status"]["kubernetesVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with('v')),
            "{c}"
        );
        assert_eq!(c["status"]["nodeCount"], 0, "{c}");
    }
    // The node count follows the cluster: two nodes on alpha only.
    for node in ["n1", "n2"] {
        let yaml = format!("apiVersion: v1\nkind: Node\nmetadata: {{name: {node}}}\n");
        let out = kubectl(&net, &a.kubeconfig(), &["create", "-f", "-"], Some(&yaml));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    wait_for(Duration::from_secs(20), "alpha to count its nodes", || {
        cluster_object(&m, "alpha")["status"]["nodeCount"] == 2
    });
    assert_eq!(cluster_object(&m, "beta")["status"]["nodeCount"], 0);
    for name in ["alpha", "beta"] {
        let c = cluster_object(&m, name);
        assert!(
            c["metadata"]["finalizers"]
                .to_string()
                .contains("management.corral.dev/cluster-cleanup")
        );
    }
    let table = m.ok(&["get", "clusters.management.corral.dev"]);
    assert!(
        table.contains("CONNECTED") && table.contains("True"),
        "{table}"
    );

    // The admin's kubeconfig reaches both clusters through the proxy, as a
    // cluster admin there (the group the manifest bound to cluster-admin).
    let admin_kc = root.path().join("admin.kubeconfig");
    corral(
        &net,
        &admin,
        &["kubeconfig", "-o", &admin_kc.display().to_string()],
        None,
    );
    for (context, host) in [("alpha", &a), ("beta", &b)] {
        host.ok(&["create", "configmap", &format!("only-on-{context}")]);
        let out = kubectl(
            &net,
            &admin_kc,
            &["--context", context, "get", "configmaps", "-o", "name"],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(listed.contains(&format!("only-on-{context}")), "{listed}");
        let other = if context == "alpha" { "beta" } else { "alpha" };
        assert!(!listed.contains(&format!("only-on-{other}")), "{listed}");
    }
    let who = kubectl(
        &net,
        &admin_kc,
        &["--context", "alpha", "auth", "whoami", "-o", "json"],
        None,
    );
    let who: Value = serde_json::from_slice(&who.stdout).unwrap_or(Value::Null);
    let groups = who["status"]["userInfo"]["groups"].to_string();
    assert!(groups.contains("corral:cluster-admins"), "{who}");

    // A user allowed to use alpha only.
    let admin_token = user_token(&admin_kc);
    let created = net
        .on("m", "curl")
        .args(["-sf", "--cacert"])
        .arg(m.ca())
        .args(["-H", &format!("Authorization: Bearer {admin_token}")])
        .args(["-H", "Content-Type: application/json"])
        .args([
            "-d",
            r#"{"username":"dev","password":"dev-password-long-enough"}"#,
        ])
        .arg(format!("{}/v3/users", m.url()))
        .output()
        .expect("curl");
    assert!(created.status.success(), "creating user dev");
    let dev_user: Value = serde_json::from_slice(&created.stdout).expect("user JSON");
    let dev_name = dev_user["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let grant = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: use-alpha}}\n\
         rules:\n- apiGroups: [management.corral.dev]\n  resources: [clusters/proxy]\n  resourceNames: [alpha]\n  verbs: [get]\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: dev-uses-alpha}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: use-alpha}}\n\
         subjects:\n- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: {dev_name}}}\n"
    );
    let out = kubectl(&net, &m.kubeconfig(), &["apply", "-f", "-"], Some(&grant));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev = root.path().join("dev-cli");
    login(&net, &m, &dev, "dev", "dev-password-long-enough");
    let dev_kc = root.path().join("dev.kubeconfig");
    corral(
        &net,
        &dev,
        &["kubeconfig", "-o", &dev_kc.display().to_string()],
        None,
    );
    let contexts = kubectl(
        &net,
        &dev_kc,
        &["config", "get-contexts", "-o", "name"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&contexts.stdout).trim(), "alpha");
    // On alpha the cluster's own RBAC decides (the user is impersonated and
    // has no binding there).
    let dev_token = user_token(&dev_kc);
    let out = kubectl(
        &net,
        &dev_kc,
        &["--context", "alpha", "get", "configmaps"],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "dev has no rights on alpha");
    assert!(
        err.contains(&format!(
            "User \"{dev_name}\" cannot list resource \"configmaps\""
        )),
        "{err}"
    );
    // beta is refused by Corral itself.
    let (code, body) = curl_get(&net, &m, "/k8s/clusters/beta/api/v1/namespaces", &dev_token);
    assert_eq!(code, 403, "{body}");
    let status: Value = serde_json::from_str(&body).expect("Status");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    let (code, _) = curl_get(
        &net,
        &m,
        "/k8s/clusters/beta/api/v1/namespaces",
        "t-nobody:nothing",
    );
    assert_eq!(code, 401);

    // An agent that stops is noticed at once, and one that comes back is
    // Connected again within 10 s.
    agent_a.stop();
    wait_for(Duration::from_secs(10), "alpha to be disconnected", || {
        !is_connected(&m, "alpha")
    });
    let mut agent_a = start_agent(&net, &a, "alpha");
    let took = wait_for(Duration::from_secs(10), "alpha to reconnect", || {
        is_connected(&m, "alpha")
    });
    eprintln!("agent restart: Connected=True after {took:?}");

    // A watch through the proxy, started before the partition.
    let watch_log = root.path().join("watch.log");
    let mut watch_cmd = net.on("m", support::kubectl_path());
    watch_cmd
        .arg("--kubeconfig")
        .arg(&admin_kc)
        .args([
            "--context",
            "alpha",
            "get",
            "configmaps",
            "-w",
            "-o",
            "name",
        ])
        .env("HOME", root.path());
    let mut watch = Proc::spawn(watch_cmd, watch_log.clone());
    a.ok(&["create", "configmap", "before-partition"]);
    wait_for(
        Duration::from_secs(10),
        "the watch to see the new object",
        || watch.log().contains("before-partition"),
    );

    // Partition alpha's host for 30 s.
    let cut = Instant::now();
    net.link("a", false);
    let detected = wait_for(Duration::from_secs(30), "alpha to be disconnected", || {
        !is_connected(&m, "alpha")
    });
    eprintln!("partition: Connected=False after {detected:?}");
    assert!(is_connected(&m, "beta"), "beta is unaffected");
    let (code, body) = curl_get(&net, &m, "/k8s/clusters/alpha/version", &admin_token);
    assert_eq!(code, 503, "{body}");
    std::thread::sleep(Duration::from_secs(30).saturating_sub(cut.elapsed()));
    net.link("a", true);
    let back = wait_for(Duration::from_secs(10), "alpha to reconnect", || {
        is_connected(&m, "alpha")
    });
    eprintln!("partition healed: Connected=True after {back:?}");
    // The watch either ended (kubectl can re-watch) or goes on.
    a.ok(&["create", "configmap", "after-partition"]);
    wait_for(
        Duration::from_secs(15),
        "the watch to end or continue",
        || watch.exited() || watch.log().contains("after-partition"),
    );
    watch.stop();
    let out = kubectl(
        &net,
        &admin_kc,
        &["--context", "alpha", "get", "configmap", "after-partition"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Removal leaves nothing behind downstream.
    m.ok(&[
        "delete",
        "clusters.management.corral.dev",
        "alpha",
        "--wait=false",
    ]);
    wait_for(
        Duration::from_secs(60),
        "alpha to be removed from Corral",
        || !m.exists(&["get", "clusters.management.corral.dev", "alpha"]),
    );
    wait_for(
        Duration::from_secs(60),
        "alpha's cluster to be clean",
        || {
            !a.exists(&["get", "namespace", "corral-system"])
                && !a.exists(&["get", "clusterrole", "corral-agent"])
                && !a.exists(&["get", "clusterrolebinding", "corral-agent"])
                && !a.exists(&["get", "clusterrolebinding", "corral-cluster-admins"])
        },
    );
    assert!(!m.exists(&[
        "get",
        "clusterregistrationtokens.management.corral.dev",
        "alpha"
    ]));
    assert!(!m.exists(&["-n", "corral-system", "get", "secret", "cluster-alpha"]));
    // The removed cluster's agent is refused from now on.
    wait_for(
        Duration::from_secs(20),
        "alpha's agent to be refused",
        || agent_a.log().contains("401"),
    );
    agent_a.stop();
    assert!(
        is_connected(&m, "beta"),
        "beta is unaffected by alpha's removal"
    );
}

/// `direct` mode: the management server registers its own API (Rancher's
/// "local" cluster) from a kubeconfig, with no agent; the proxy reaches it
/// over TCP, and removal takes back the one binding Corral installed.
#[test]
fn direct_cluster_from_a_kubeconfig() {
    let net = Net::create(&["m", "a", "b"]);
    let root = tempfile::tempdir().expect("tempdir");
    let m = Host::start(
        &net,
        "m",
        root.path(),
        &[
            "--bootstrap-password",
            PASSWORD,
            "--cluster-probe-interval",
            "2",
        ],
    );
    let admin = root.path().join("admin-cli");
    login(&net, &m, &admin, "admin", PASSWORD);
    let kc = m.kubeconfig().display().to_string();
    let printed = corral(
        &net,
        &admin,
        &["cluster", "add", "local", "--direct", "--kubeconfig", &kc],
        None,
    );
    assert!(printed.contains("registered (direct)"), "{printed}");
    wait_for(
        Duration::from_secs(20),
        "the direct cluster to be ready",
        || {
            let c = cluster_object(&m, "local");
            condition(&c, "Connected") == "True" && condition(&c, "Ready") == "True"
        },
    );
    let c = cluster_object(&m, "local");
    assert_eq!(c["spec"]["connectionMode"], "direct");
    assert_eq!(
        condition(&c, "AgentDeployed"),
        "",
        "no agent in direct mode"
    );
    assert!(
        !m.exists(&[
            "get",
            "clusterregistrationtokens.management.corral.dev",
            "local"
        ]),
        "no registration token in direct mode"
    );
    wait_for(Duration::from_secs(20), "the admins binding", || {
        m.exists(&["get", "clusterrolebinding", "corral-cluster-admins"])
    });
    let admin_kc = root.path().join("admin.kubeconfig");
    corral(
        &net,
        &admin,
        &["kubeconfig", "-o", &admin_kc.display().to_string()],
        None,
    );
    let out = kubectl(
        &net,
        &admin_kc,
        &[
            "--context",
            "local",
            "get",
            "clusters.management.corral.dev",
            "-o",
            "name",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "cluster.management.corral.dev/local"
    );

    m.ok(&[
        "delete",
        "clusters.management.corral.dev",
        "local",
        "--wait=false",
    ]);
    wait_for(
        Duration::from_secs(30),
        "the direct cluster to be removed",
        || !m.exists(&["get", "clusters.management.corral.dev", "local"]),
    );
    assert!(!m.exists(&["get", "clusterrolebinding", "corral-cluster-admins"]));
    assert!(!m.exists(&["-n", "corral-system", "get", "secret", "cluster-local"]));
}
