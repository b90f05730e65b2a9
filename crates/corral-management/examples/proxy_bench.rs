//! Proxy overhead: the same GET (one ConfigMap) straight to a cluster's API
//! and through `/k8s/clusters/<id>/` on a management server, interleaved,
//! sequential, after a warm-up. Prints p50/p99 of each and the difference.
//!
//!     cargo run --release -p corral-management --example proxy_bench [-- N]

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use corral_management::proxy::{AuthProxy, ClusterDirectory, ClusterTarget, DirectDialer};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

#[path = "../tests/support/servers.rs"]
mod servers;
use servers::{serve, user};

struct OneCluster(ClusterTarget);

#[async_trait]
impl ClusterDirectory for OneCluster {
    async fn target(&self, cluster: &str) -> Option<ClusterTarget> {
        (cluster == "c1").then(|| self.0.clone())
    }
}

async fn client(url: &str, ca_pem: &str, token: &str) -> kube::Client {
    let mut config = kube::Config::new(url.parse().expect("url"));
    config.root_cert = Some(vec![
        rustls_pemfile::certs(&mut ca_pem.as_bytes())
            .next()
            .expect("a CA certificate")
            .expect("PEM")
            .to_vec(),
    ]);
    config.auth_info.token = Some(token.to_string().into());
    kube::Client::try_from(config).expect("client")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = user("admin", &["system:masters"]);
    let downstream = serve(&dir.path().join("d"), &[("down", admin.clone())]).await;
    let management = serve(&dir.path().join("m"), &[("mgmt", admin)]).await;
    management.api.add_extension(Arc::new(AuthProxy::new(
        management.api.clone(),
        Arc::new(OneCluster(ClusterTarget {
            address: downstream.url.trim_start_matches("https://").to_string(),
            server_name: "127.0.0.1".into(),
            ca_pem: downstream.ca_pem.clone(),
            bearer_token: "down".into(),
        })),
        Arc::new(DirectDialer),
    )));
    let direct: Api<ConfigMap> = Api::namespaced(
        client(&downstream.url, &downstream.ca_pem, "down").await,
        "default",
    );
    let proxied: Api<ConfigMap> = Api::namespaced(
        client(
            &format!("{}/k8s/clusters/c1", management.url),
            &management.ca_pem,
            "mgmt",
        )
        .await,
        "default",
    );
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("bench".into());
    cm.data = Some([("k".to_string(), "v".repeat(512))].into_iter().collect());
    direct
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    for _ in 0..100 {
        direct.get("bench").await.expect("warm direct");
        proxied.get("bench").await.expect("warm proxied");
    }
    let (mut d, mut p) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        direct.get("bench").await.expect("direct");
        d.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        proxied.get("bench").await.expect("proxied");
        p.push(t.elapsed().as_secs_f64() * 1e3);
    }
    d.sort_by(f64::total_cmp);
    p.sort_by(f64::total_cmp);
    let (d50, d99, p50, p99) = (
        percentile(&d, 0.5),
        percentile(&d, 0.99),
        percentile(&p, 0.5),
        percentile(&p, 0.99),
    );
    println!("proxy GET, {n} sequential requests each, interleaved (ms):");
    println!("  direct   p50 {d50:.3}  p99 {d99:.3}");
    println!("  proxied  p50 {p50:.3}  p99 {p99:.3}");
    println!("  overhead p50 {:.3}  p99 {:.3}", p50 - d50, p99 - d99);
}
