//! High availability: two `corral server` replicas on one real 3-member etcd
//! cluster (Debian's etcd, started by scripts/etcd-cluster).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::TestServer;

/// A 3-member etcd cluster on loopback, stopped (by PID) when dropped.
struct EtcdCluster {
    dir: tempfile::TempDir,
    endpoints: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/etcd-cluster")
}

/// Six consecutive free ports (three client, three peer). Tests in this
/// binary run in parallel, so each call takes its own slot: two clusters on
/// one port range would answer each other's health checks.
fn free_base() -> u16 {
    static NEXT_SLOT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let slot = NEXT_SLOT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    for attempt in 0..100u32 {
        let offset = (std::process::id() % 200) * 40 + u32::from(slot) * 10 + attempt * 8011;
        let base = (30000 + offset % 30000) as u16;
        if (base..base + 6).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range for etcd");
}

impl EtcdCluster {
    fn start() -> EtcdCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path().join("etcd"))
            .arg(free_base().to_string())
            .output()
            .expect("run scripts/etcd-cluster (scripts/setup installs etcd)");
        assert!(
            out.status.success(),
            "etcd cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let endpoints = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        assert!(
            endpoints.starts_with("http://"),
            "unexpected endpoints {endpoints:?}"
        );
        EtcdCluster { dir, endpoints }
    }

    fn datastore_endpoint(&self) -> String {
        format!("etcd://{}", self.endpoints.replace("http://", ""))
    }

    fn stop(&self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path().join("etcd"))
            .status();
    }

    fn restart(&self) {
        let out = Command::new(script())
            .arg("start")
            .arg(self.dir.path().join("etcd"))
            .output()
            .expect("restart etcd");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn replica(etcd: &EtcdCluster) -> TestServer {
    TestServer::start_with(&["--datastore-endpoint", &etcd.datastore_endpoint()])
}

fn rv(v: &serde_json::Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn lease_holder(s: &TestServer) -> String {
    let out = s.kubectl(&[
        "get",
        "lease",
        "corral-controllers",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn two_replicas_share_state_credentials_and_elect_one_controller_leader() {
    let etcd = EtcdCluster::start();
    let mut a = replica(&etcd);
    let b = replica(&etcd);
    // One CA and one admin credential: a's kubeconfig works against b.
    let ca = |s: &TestServer| std::fs::read(s.data_dir().join("tls/server-ca.crt")).expect("ca");
    assert_eq!(ca(&a), ca(&b));
    let a_kubeconfig_for_b = std::fs::read_to_string(a.kubeconfig())
        .expect("kc")
        .replace(&a.url(), &b.url());
    let cross = a.dir.path().join("cross.kubeconfig");
    std::fs::write(&cross, a_kubeconfig_for_b).expect("write");
    assert!(
        b.kubectl_as(&cross, &["get", "ns"]).status.success(),
        "a's credentials work on b"
    );

    // A write through one replica is readable and watchable through the other, with the same resourceVersion.
    let start = rv(&b.json(&["get", "--raw", "/api/v1/namespaces/default/configmaps"]));
    a.ok(&[
        "create",
        "cm",
        "shared",
        "-n",
        "default",
        "--from-literal=k=v",
    ]);
    let on_a = a.json(&["get", "cm", "shared", "-n", "default", "-o", "json"]);
    let on_b = b.json(&["get", "cm", "shared", "-n", "default", "-o", "json"]);
    assert_eq!(rv(&on_a), rv(&on_b));
    assert_eq!(on_b["data"]["k"], "v");
    let watched = b.ok(&[
        "get",
        "--raw",
        &format!(
            "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={start}&timeoutSeconds=2"
        ),
    ]);
    assert!(
        watched.lines().any(|l| l.contains("\"shared\"")
            && l.contains(&format!("\"resourceVersion\":\"{}\"", rv(&on_a)))),
        "b's watch did not deliver a's write: {watched}"
    );

    // Exactly one leader runs the controllers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder = loop {
        let h = lease_holder(&b);
        if !h.is_empty() {
            break h;
        }
        assert!(Instant::now() < deadline, "no controller leader elected");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Kill the leader, whichever it is; the other takes over within 15 s and its controllers work.
    let a_leads = holder.ends_with(&format!("-{}", a.port));
    let mut b = b;
    let survivor = if a_leads {
        a.kill9();
        &b
    } else {
        b.kill9();
        &a
    };
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(15);
    loop {
        let h = lease_holder(survivor);
        if !h.is_empty() && h != holder {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no takeover within 15 s (holder still {h:?})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let takeover = killed_at.elapsed();
    survivor.ok(&["create", "ns", "after-failover"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !survivor
        .kubectl(&["get", "sa", "default", "-n", "after-failover"])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "controllers did not run on the new leader"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("leader takeover after {takeover:?}");
}

#[test]
fn etcd_outage_fails_fast_and_recovers_without_restart() {
    use std::io::{BufRead, BufReader};
    let etcd = EtcdCluster::start();
    let s = replica(&etcd);
    s.ok(&["create", "cm", "before", "-n", "default"]);
    let start_rv = rv(&s.json(&["get", "--raw", "/api/v1/namespaces/default/configmaps"]));
    // A watch through the API, opened before the outage.
    let mut watch = Command::new(support::kubectl_path())
        .arg("--kubeconfig")
        .arg(s.kubeconfig())
        .args([
            "get",
            "--raw",
            &format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={start_rv}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("watch");
    let stdout = watch.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(Some(line));
        }
        let _ = tx.send(None);
    });

    etcd.stop();
    let outage = Instant::now();
    let started = Instant::now();
    let out = s.kubectl(&[
        "get",
        "cm",
        "before",
        "-n",
        "default",
        "--request-timeout=30s",
    ]);
    let elapsed = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a read with etcd down must fail");
    assert!(
        err.contains("ServiceUnavailable") || err.contains("unavailable") || err.contains("503"),
        "{err}"
    );
    assert!(
        elapsed < Duration::from_secs(12),
        "failing took {elapsed:?}"
    );
    // Keep etcd down for 20 s in all.
    std::thread::sleep(Duration::from_secs(20).saturating_sub(outage.elapsed()));
    etcd.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if s.kubectl(&["create", "cm", "after", "-n", "default"])
            .status
            .success()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not recover after etcd returned"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    s.ok(&["get", "cm", "before", "-n", "default"]);
    // The watch either delivers what was written after the outage, or has ended so the
    // client can re-watch — it never hangs silently.
    let deadline = Instant::now() + Duration::from_secs(15);
    let outcome = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(line)) if line.contains("\"after\"") => break "delivered",
            Ok(Some(_)) => {}
            Ok(None) => break "ended",
            Err(_) => assert!(
                Instant::now() < deadline,
                "the watch neither delivered nor ended"
            ),
        }
    };
    let _ = watch.kill();
    let _ = watch.wait();
    eprintln!("watch across a 20 s etcd outage: {outcome}");
}

impl EtcdCluster {
    fn kill_member(&self, n: u32) {
        let out = Command::new(script())
            .arg("kill-member")
            .arg(self.dir.path().join("etcd"))
            .arg(n.to_string())
            .output()
            .expect("kill-member");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// 32 kube-rs clients creating ConfigMaps through `server` until `stop`; returns (acked name → rv, errors).
async fn write_load(
    server: &TestServer,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (std::collections::HashMap<String, String>, usize) {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, PostParams};
    let client = server.kube_client().await;
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut errors = 0usize;
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let name = format!("load-{worker}-{i}");
                i += 1;
                let cm: ConfigMap = serde_json::from_value(
                    serde_json::json!({"metadata": {"name": name}, "data": {"v": "x"}}),
                )
                .expect("cm");
                match api.create(&PostParams::default(), &cm).await {
                    Ok(c) => acked.push((name, c.metadata.resource_version.unwrap_or_default())),
                    Err(_) => errors += 1,
                }
            }
            (acked, errors)
        }));
    }
    let mut acked = std::collections::HashMap::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((a, e)) = t.await {
            acked.extend(a);
            errors += e;
        }
    }
    (acked, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_member_killed_under_api_write_load_loses_nothing() {
    let etcd = EtcdCluster::start();
    let s = replica(&etcd);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let fut = write_load(&s, stop.clone());
        // Run the load while the main task kills a member.
        let killer = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            etcd.kill_member(0);
            tokio::time::sleep(Duration::from_millis(3000)).await;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let (result, ()) = tokio::join!(fut, killer);
        result
    };
    let (acked, errors) = load;
    assert!(
        acked.len() > 100,
        "the load did not get going: {} acked, {errors} errors",
        acked.len()
    );
    // The API kept serving: most requests succeeded despite the member loss.
    assert!(
        errors * 10 < acked.len(),
        "{errors} errors against {} acknowledged writes",
        acked.len()
    );
    s.assert_configmaps_present(&acked).await;
    eprintln!(
        "{} acknowledged writes, {errors} errors, all present after losing an etcd member",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_replica_does_not_disturb_clients_of_the_other() {
    let etcd = EtcdCluster::start();
    let mut a = replica(&etcd);
    let b = replica(&etcd);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            a.kill9();
            tokio::time::sleep(Duration::from_millis(2000)).await;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let ((acked, errors), ()) = tokio::join!(write_load(&b, stop.clone()), killer);
    assert!(acked.len() > 100, "the load did not get going");
    assert_eq!(errors, 0, "clients of the surviving replica saw errors");
    b.assert_configmaps_present(&acked).await;
}

/// An agent's tunnel ends on one replica; users of the other replica still
/// reach the cluster through the proxy (relayed via the holder), and the
/// Cluster's status names the holder.
#[test]
fn the_proxy_on_any_replica_reaches_an_agent_connected_to_another() {
    use base64::Engine;
    let etcd = EtcdCluster::start();
    let a = replica(&etcd);
    let b = replica(&etcd);
    let downstream = TestServer::start();
    a.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: management.corral.dev/v1\nkind: Cluster\nmetadata: {name: edge}\nspec: {connectionMode: agent}\n",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = loop {
        let out = a.kubectl(&[
            "get",
            "clusterregistrationtokens.management.corral.dev",
            "edge",
            "-o",
            "jsonpath={.status.token}",
        ]);
        let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !t.is_empty() {
            break t;
        }
        assert!(Instant::now() < deadline, "no registration token");
        std::thread::sleep(Duration::from_millis(200));
    };
    let ca = std::fs::read_to_string(a.data_dir().join("tls/server-ca.crt")).expect("CA");
    let log = std::fs::File::create(downstream.dir.path().join("agent.log")).expect("log");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_corral"))
        .arg("agent")
        .arg("--kubeconfig")
        .arg(downstream.kubeconfig())
        .env("CORRAL_SERVER", a.url())
        .env("CORRAL_CLUSTER", "edge")
        .env("CORRAL_TOKEN", &token)
        .env("CORRAL_CA", &ca)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("corral agent");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = b.json(&[
            "get",
            "clusters.management.corral.dev",
            "edge",
            "-o",
            "json",
        ]);
        let connected = c["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k["type"] == "Connected" && k["status"] == "True");
        if connected && c["status"]["connectedReplica"] == a.url() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "edge never connected via replica a: {c}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    downstream.ok(&["create", "configmap", "on-edge"]);
    for (name, replica) in [("a (holds the session)", &a), ("b (relays)", &b)] {
        let url = format!("{}/k8s/clusters/edge", replica.url());
        let out = replica.kubectl(&[
            "--server",
            &url,
            "get",
            "configmap",
            "on-edge",
            "-o",
            "name",
        ]);
        assert!(
            out.status.success(),
            "through replica {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "configmap/on-edge"
        );
    }
    // The registration the agent sent is the downstream credential.
    let secret = b.json(&[
        "-n",
        "corral-system",
        "get",
        "secret",
        "cluster-edge",
        "-o",
        "json",
    ]);
    let address = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["address"].as_str().unwrap_or(""))
        .expect("base64");
    assert_eq!(
        String::from_utf8_lossy(&address),
        downstream.url().trim_start_matches("https://")
    );
    let _ = agent.kill();
    let _ = agent.wait();
}
