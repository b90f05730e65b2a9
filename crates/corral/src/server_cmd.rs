//! `corral server`: data directory, store, certificates, admin credential,
//! admin kubeconfig, then serve until SIGTERM/SIGINT.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use corral_apiserver::auth::{StaticTokenAuthenticator, UserInfo};
use corral_apiserver::{ApiServer, pki};
use corral_store::sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// Where the server keeps its database, certificates and kubeconfig.
    #[arg(long, env = "CORRAL_DATA_DIR", default_value = "./corral-data")]
    data_dir: PathBuf,
    /// Address for the HTTPS API (port 0 picks a free port).
    #[arg(long, env = "CORRAL_BIND", default_value = "127.0.0.1:8443")]
    bind: SocketAddr,
    /// Extra names or addresses for the serving certificate.
    #[arg(long = "tls-san", env = "CORRAL_TLS_SAN", value_delimiter = ',')]
    tls_sans: Vec<String>,
    /// How often old revisions are compacted away (0 disables compaction).
    #[arg(long, env = "CORRAL_COMPACT_INTERVAL_SECONDS", default_value_t = 300)]
    compact_interval_seconds: u64,
    /// Compaction always keeps at least this many of the latest revisions.
    #[arg(long, env = "CORRAL_COMPACT_MIN_RETAIN", default_value_t = 10_000)]
    compact_min_retain: i64,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;

    let db_dir = data_dir.join("db");
    std::fs::create_dir_all(&db_dir)?;
    let store = SqliteStore::open(
        &db_dir.join("state.db"),
        SqliteOptions {
            compact_interval: std::time::Duration::from_secs(args.compact_interval_seconds),
            compact_min_retain: args.compact_min_retain,
            ..SqliteOptions::default()
        },
    )
    .context("opening the SQLite store")?;

    let sans = serving_sans(&args);
    let pki = pki::load_or_create(&data_dir.join("tls"), &sans)?;
    let tls = pki::server_tls_config(&pki)?;

    let token = admin_token(&data_dir)?;
    let admin = UserInfo {
        name: "system:admin".into(),
        uid: "corral-bootstrap-admin".into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    };
    let authenticator = Arc::new(StaticTokenAuthenticator::from_hash(
        StaticTokenAuthenticator::hash(&token),
        admin,
    ));

    let api = ApiServer::new(store.clone(), authenticator);
    api.start()
        .await
        .map_err(|e| anyhow::anyhow!("starting the API: {}", e.message()))?;

    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let local = listener.local_addr()?;
    let kubeconfig = data_dir.join("admin.kubeconfig");
    write_kubeconfig(&kubeconfig, &client_url(local), &pki.ca_cert_pem, &token)?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, address = %local, "corral server ready");
    println!(
        "Corral is serving the Kubernetes API at {}",
        client_url(local)
    );
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl get namespaces");

    corral_apiserver::server::serve(listener, tls, api, shutdown_signal()).await?;
    store.shutdown().await;
    tracing::info!("corral server stopped");
    Ok(())
}

fn client_url(local: SocketAddr) -> String {
    let ip = match local.ip() {
        ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    format!("https://{}", SocketAddr::new(ip, local.port()))
}

fn serving_sans(args: &ServerArgs) -> Vec<String> {
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let ip = args.bind.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        sans.push(ip.to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            sans.push(host.to_string());
        }
    }
    for s in &args.tls_sans {
        if !sans.contains(s) {
            sans.push(s.clone());
        }
    }
    sans
}

/// The bootstrap admin's bearer token: made once, reused on restart.
fn admin_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("tls").join("admin.token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let secret: [u8; 32] = rand::random();
    let token = format!("admin:{}", hex::encode(secret));
    pki::write_private(&path, &token)?;
    Ok(token)
}

fn write_kubeconfig(path: &Path, server: &str, ca_pem: &str, token: &str) -> anyhow::Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "corral", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "corral", "context": {"cluster": "corral", "user": "admin"}}],
        "current-context": "corral",
        "preferences": {},
    });
    pki::write_private(path, &serde_yaml::to_string(&doc)?)?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
