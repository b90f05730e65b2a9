//! Many connected clusters against a real `corral server` process (started
//! by `scripts/bench-clusters`): creates Cluster objects, connects one
//! simulated agent per cluster (the real tunnel protocol and registration,
//! in this process; every agent forwards to the same downstream API), waits
//! until the server reports every cluster `Connected` and `Ready`, lets
//! health probes run, and prints the server's RSS. Then the proxy's
//! overhead through a tunnel: the same GET straight to the downstream API
//! and through `/k8s/clusters/<id>/`, interleaved, p50/p99.
//!
//!     cluster_bench --server URL --ca FILE --token TOKEN --pid PID \
//!         --downstream URL --downstream-ca FILE --downstream-token TOKEN \
//!         [--counts 100,1000] [--settle SECONDS] [--requests N]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral_management::clusters::types::{REGISTRATION_HEADER, Registration};
use corral_tunnel::{Agent, AgentConfig, Allowlist, CLUSTER_ID_HEADER};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use serde_json::{Value, json};

struct Args {
    server: String,
    ca: String,
    token: String,
    pid: u32,
    downstream: String,
    downstream_ca: String,
    downstream_token: String,
    counts: Vec<usize>,
    settle: u64,
    requests: usize,
}

fn args() -> Args {
    let mut map: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        map.insert(k.trim_start_matches("--").to_string(), v);
    }
    let get = |k: &str| {
        map.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("--{k} is required"))
    };
    let read = |k: &str| std::fs::read_to_string(get(k)).expect("read a CA file");
    Args {
        server: get("server"),
        ca: read("ca"),
        token: get("token"),
        pid: get("pid").parse().expect("--pid"),
        downstream: get("downstream"),
        downstream_ca: read("downstream-ca"),
        downstream_token: get("downstream-token"),
        counts: map
            .get("counts")
            .map(|c| c.split(',').map(|n| n.parse().expect("count")).collect())
            .unwrap_or_else(|| vec![100, 1000]),
        settle: map
            .get("settle")
            .map(|s| s.parse().expect("settle"))
            .unwrap_or(20),
        requests: map
            .get("requests")
            .map(|s| s.parse().expect("requests"))
            .unwrap_or(2000),
    }
}

fn tls(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(c.expect("PEM")).expect("CA");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    token: String,
}

impl Conn {
    async fn open(url: &str, ca_pem: &str, token: &str) -> Conn {
        let host = url.trim_start_matches("https://").to_string();
        let tcp = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = host
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(&host)
            .to_string();
        let stream = tokio_rustls::TlsConnector::from(tls(ca_pem))
            .connect(
                rustls::pki_types::ServerName::try_from(name).expect("name"),
                tcp,
            )
            .await
            .expect("TLS");
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP");
        tokio::spawn(conn);
        Conn {
            sender,
            host,
            token: token.to_string(),
        }
    }

    async fn call(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(
                body.map(Value::to_string).unwrap_or_default(),
            )))
            .expect("request");
        self.sender.ready().await.expect("connection");
        let resp = self.sender.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn condition_true(cluster: &Value, kind: &str) -> bool {
    cluster["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

const CLUSTERS: &str = "/apis/management.corral.dev/v1/clusters";
const CRTS: &str = "/apis/management.corral.dev/v1/clusterregistrationtokens";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let mut api = Conn::open(&a.server, &a.ca, &a.token).await;
    let downstream_address = a.downstream.trim_start_matches("https://").to_string();
    let registration = Registration {
        address: downstream_address.clone(),
        server_name: String::new(),
        ca_cert: a.downstream_ca.clone(),
        token: a.downstream_token.clone(),
        agent_version: "bench".into(),
    };
    let server_tls = tls(&a.ca);
    let connect_url = format!(
        "{}{}",
        a.server.replacen("https://", "wss://", 1),
        corral_tunnel::CONNECT_PATH
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    println!("server RSS with 0 clusters: {:.1} MiB", rss_mib(a.pid));
    let mut created = 0usize;
    let mut with_agents = 0usize;
    for &target in &a.counts {
        let started = Instant::now();
        while created < target {
            let name = format!("bench-{created:05}");
            let (status, body) = api
                .call(
                    "POST",
                    CLUSTERS,
                    Some(
                        &json!({"apiVersion": "management.corral.dev/v1", "kind": "Cluster",
                        "metadata": {"name": name}, "spec": {"connectionMode": "agent"}}),
                    ),
                )
                .await;
            assert!(
                status == 201 || status == 409,
                "creating {name}: {status} {body}"
            );
            created += 1;
        }
        // Registration tokens, then one agent per cluster not yet connected.
        let mut tokens: HashMap<String, String> = HashMap::new();
        while tokens.len() < target {
            let (_, list) = api.call("GET", CRTS, None).await;
            tokens = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    let t = i["status"]["token"].as_str().filter(|t| !t.is_empty())?;
                    Some((i["metadata"]["name"].as_str()?.to_string(), t.to_string()))
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for i in with_agents..target {
            let name = format!("bench-{i:05}");
            let mut config = AgentConfig::new(
                connect_url.clone(),
                Allowlist::addresses([downstream_address.clone()]),
            )
            .bearer_token(&tokens[&name])
            .expect("token")
            .header(CLUSTER_ID_HEADER, &name)
            .expect("header")
            .header(REGISTRATION_HEADER, &registration.encode_header())
            .expect("header");
            config.tls = Some(server_tls.clone());
            let agent = Agent::new(config).expect("agent");
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                agent
                    .run(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
            });
        }
        with_agents = target;
        // Every cluster Connected and Ready, as the server's probes say.
        loop {
            let (_, list) = api.call("GET", CLUSTERS, None).await;
            let ready = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| condition_true(c, "Connected") && condition_true(c, "Ready"))
                .count();
            if ready >= target {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "only {ready} of {target} clusters ready after 10 minutes"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let up = started.elapsed();
        tokio::time::sleep(Duration::from_secs(a.settle)).await;
        println!(
            "{target} clusters connected and ready in {:.1} s; server RSS after {} s of health probes: {:.1} MiB",
            up.as_secs_f64(),
            a.settle,
            rss_mib(a.pid)
        );
    }

    // Proxy overhead through the tunnel: GET /version straight to the
    // downstream API and through the proxy, interleaved, one connection each.
    let mut direct = Conn::open(&a.downstream, &a.downstream_ca, &a.downstream_token).await;
    let mut proxied = Conn::open(&a.server, &a.ca, &a.token).await;
    let path = "/api/v1/namespaces/default";
    let through = format!("/k8s/clusters/bench-00000{path}");
    for _ in 0..200 {
        assert_eq!(direct.call("GET", path, None).await.0, 200);
        let (s, b) = proxied.call("GET", &through, None).await;
        assert_eq!(s, 200, "{b}");
    }
    let (mut d, mut p) = (Vec::new(), Vec::new());
    for _ in 0..a.requests {
        let t = Instant::now();
        direct.call("GET", path, None).await;
        d.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        proxied.call("GET", &through, None).await;
        p.push(t.elapsed().as_secs_f64() * 1e3);
    }
    d.sort_by(f64::total_cmp);
    p.sort_by(f64::total_cmp);
    println!(
        "GET {path} ({} each): direct p50 {:.2} ms p99 {:.2} ms; through proxy+tunnel p50 {:.2} ms p99 {:.2} ms; overhead p50 {:.2} ms p99 {:.2} ms",
        a.requests,
        percentile(&d, 0.5),
        percentile(&d, 0.99),
        percentile(&p, 0.5),
        percentile(&p, 0.99),
        percentile(&p, 0.5) - percentile(&d, 0.5),
        percentile(&p, 0.99) - percentile(&d, 0.99),
    );
    let _ = stop_tx.send(true);
}
