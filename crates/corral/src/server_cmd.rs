//! `corral server`: data directory, store, certificates, admin credential,
//! admin kubeconfig, then serve until SIGTERM/SIGINT.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use corral_apiserver::audit::{AuditLog, Policy};
use corral_apiserver::authn::corral_token::CorralTokenAuthenticator;
use corral_apiserver::authn::serviceaccount::{
    DEFAULT_ISSUER, ServiceAccountAuthenticator, ServiceAccountKeys,
};
use corral_apiserver::authn::token::StaticTokenAuthenticator;
use corral_apiserver::authn::x509::X509Authenticator;
use corral_apiserver::authn::{Chain, UserInfo};
use corral_apiserver::{ApiServer, ApiServerOptions, pki};
use corral_management::clusters::{ClusterPlane, Options as ClusterOptions};
use corral_management::identity::plane::{IdentityPlane, Options as IdentityOptions};
use tokio::net::TcpListener;

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    datastore: crate::datastore::DatastoreArgs,
    /// Where the server keeps its database, certificates and kubeconfig.
    #[arg(long, env = "CORRAL_DATA_DIR", default_value = "./corral-data")]
    data_dir: PathBuf,
    /// Address for the HTTPS API (port 0 picks a free port).
    #[arg(long, env = "CORRAL_BIND", default_value = "127.0.0.1:8443")]
    bind: SocketAddr,
    /// Extra names or addresses for the serving certificate.
    #[arg(long = "tls-san", env = "CORRAL_TLS_SAN", value_delimiter = ',')]
    tls_sans: Vec<String>,
    /// Treat requests without credentials as system:anonymous (authorized by RBAC)
    /// instead of rejecting them. /healthz, /livez and /readyz never need credentials.
    #[arg(long, env = "CORRAL_ANONYMOUS_AUTH", default_value_t = false)]
    anonymous_auth: bool,
    /// Write an audit log (JSON lines, audit.k8s.io/v1 Events) to this file.
    #[arg(long, env = "CORRAL_AUDIT_LOG_PATH")]
    audit_log_path: Option<PathBuf>,
    /// Audit policy (audit.k8s.io/v1 Policy YAML). Default: Metadata for every
    /// request but health probes, so no request or response bodies are logged.
    #[arg(long, env = "CORRAL_AUDIT_POLICY_FILE")]
    audit_policy_file: Option<PathBuf>,
    /// The `iss` of service-account tokens this server issues.
    #[arg(long, env = "CORRAL_SERVICE_ACCOUNT_ISSUER", default_value = DEFAULT_ISSUER)]
    service_account_issuer: String,
    /// Audiences the API accepts in service-account tokens (default: the issuer).
    #[arg(
        long = "api-audiences",
        env = "CORRAL_API_AUDIENCES",
        value_delimiter = ','
    )]
    api_audiences: Vec<String>,
    /// The bootstrap admin's password (username `admin`), used on the first
    /// start only. Default: a generated one, printed once to stderr.
    #[arg(long, env = "CORRAL_BOOTSTRAP_PASSWORD", hide_env_values = true)]
    bootstrap_password: Option<String>,
    /// Failed logins for one username before it is locked out.
    #[arg(long, env = "CORRAL_AUTH_MAX_FAILURES", default_value_t = 5)]
    auth_max_failures: u32,
    /// Failed logins from one client address before it is locked out.
    #[arg(
        long,
        env = "CORRAL_AUTH_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 50
    )]
    auth_max_failures_per_address: u32,
    /// The first lockout's length in seconds (doubling with each further lockout, up to 16x).
    #[arg(long, env = "CORRAL_AUTH_LOCKOUT_SECONDS", default_value_t = 60)]
    auth_lockout_seconds: u64,
    /// The URL agents and users reach this server at (import manifests and
    /// kubeconfigs name it). Default: the host the request came to.
    #[arg(long, env = "CORRAL_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// The URL other replicas reach this one at (they relay to agents
    /// connected here through it). Default: https://<bind address>.
    #[arg(long, env = "CORRAL_PEER_URL")]
    peer_url: Option<String>,
    /// Image of the agent Deployment in import manifests.
    #[arg(long, env = "CORRAL_AGENT_IMAGE")]
    agent_image: Option<String>,
    /// Range of Service cluster IPs.
    #[arg(long, env = "CORRAL_SERVICE_CIDR", default_value = "10.96.0.0/12")]
    service_cidr: String,
    /// Range of Service node ports.
    #[arg(
        long,
        env = "CORRAL_SERVICE_NODE_PORT_RANGE",
        default_value = "30000-32767"
    )]
    service_node_port_range: String,
    /// Seconds between health probes of each downstream cluster.
    #[arg(long, env = "CORRAL_CLUSTER_PROBE_INTERVAL", default_value_t = 15)]
    cluster_probe_interval: u64,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;

    let datastore = crate::datastore::Datastore::open(&args.datastore, &data_dir).await?;
    let store = datastore.store();
    let sans = serving_sans(&args);
    let tls_dir = data_dir.join("tls");
    crate::shared_bootstrap::sync(&store, &tls_dir, || {
        pki::load_or_create(&tls_dir, &sans)?;
        ServiceAccountKeys::load_or_create(&tls_dir, &args.service_account_issuer, vec![])?;
        admin_token(&data_dir)?;
        Ok(())
    })
    .await?;
    let pki = pki::load_or_create(&tls_dir, &sans)?;
    let tls = pki::server_tls_config(&pki)?;

    let token = admin_token(&data_dir)?;
    let admin = UserInfo {
        name: "system:admin".into(),
        uid: "corral-bootstrap-admin".into(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    };
    let sa_keys = Arc::new(ServiceAccountKeys::load_or_create(
        &data_dir.join("tls"),
        &args.service_account_issuer,
        args.api_audiences.clone(),
    )?);
    // Identity: the views of Users and Tokens are fed by the API server's own
    // writes (through `store`, the decorated store) and by the store's watch.
    let (identity, store) = IdentityPlane::new(store.clone());
    let mut cluster_options = ClusterOptions::new(pki.ca_cert_pem.clone(), client_url(args.bind));
    cluster_options.advertise_url = args.advertise_url.clone();
    if let Some(image) = &args.agent_image {
        cluster_options.agent_image = image.clone();
    }
    cluster_options.peer_secret = Some(corral_management::clusters::peer::derive_secret(&token));
    cluster_options.probe_interval =
        std::time::Duration::from_secs(args.cluster_probe_interval.max(1));
    let (clusters, store) = ClusterPlane::new(store, cluster_options);
    let management_token = format!(
        "corral-management:{}",
        hex::encode(rand::random::<[u8; 32]>())
    );
    let management = UserInfo {
        name: "system:corral-management".into(),
        uid: "corral-management".into(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    };
    let authenticator = Chain::new()
        .with(Arc::new(X509Authenticator))
        .with(Arc::new(
            StaticTokenAuthenticator::new()
                .with_hash(StaticTokenAuthenticator::hash(&token), admin)
                .with_hash(
                    StaticTokenAuthenticator::hash(&management_token),
                    management,
                ),
        ))
        .with(identity.authenticator.clone())
        .with(Arc::new(ServiceAccountAuthenticator::new(
            sa_keys.clone(),
            store.clone(),
        )))
        // Superseded by Token objects; kept for Secret-based tokens made before them.
        .with(Arc::new(CorralTokenAuthenticator::new(store.clone())));
    let sa_keys_for_controllers = sa_keys.clone();
    let service_ranges = (
        corral_apiserver::allocator::CidrRange::parse(&args.service_cidr)
            .map_err(|e| anyhow::anyhow!("--service-cidr: {e}"))?,
        corral_apiserver::allocator::PortRange::parse(&args.service_node_port_range)
            .map_err(|e| anyhow::anyhow!("--service-node-port-range: {e}"))?,
    );
    let options = ApiServerOptions {
        service_ranges: Some(service_ranges),
        authenticator,
        sa_keys: Some(sa_keys),
        allow_anonymous: args.anonymous_auth,
        audit: match &args.audit_log_path {
            None => None,
            Some(path) => {
                let policy = match &args.audit_policy_file {
                    Some(p) => Policy::load(p).map_err(|e| anyhow::anyhow!("audit policy: {e}"))?,
                    None => Policy::default_policy(),
                };
                Some(
                    AuditLog::open(path, policy)
                        .with_context(|| format!("opening audit log {}", path.display()))?,
                )
            }
        },
    };
    let api = ApiServer::new(store.clone(), options);
    api.start()
        .await
        .map_err(|e| anyhow::anyhow!("starting the API: {}", e.message()))?;
    // Management types, the bootstrap admin and /v3 (login, tokens, users),
    // all through the API in-process, before the port opens.
    let (stop_identity, identity_stop) = tokio::sync::watch::channel(false);
    let identity_stop_clusters = identity_stop.clone();
    identity
        .start(
            &api,
            management_token.clone(),
            IdentityOptions {
                bootstrap_password: args.bootstrap_password.clone(),
                max_failures: args.auth_max_failures,
                lockout: std::time::Duration::from_secs(args.auth_lockout_seconds),
                max_failures_per_address: args.auth_max_failures_per_address,
            },
            identity_stop,
        )
        .await
        .map_err(|e| anyhow::anyhow!("starting identity: {e}"))?;
    // Clusters: the agent endpoint, import manifests, the auth proxy, health.
    clusters
        .start(
            &api,
            management_token,
            identity.authenticator.clone(),
            identity_stop_clusters,
        )
        .await
        .map_err(|e| anyhow::anyhow!("starting the cluster plane: {e}"))?;

    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let local = listener.local_addr()?;
    clusters.set_peer_url(args.peer_url.clone().unwrap_or_else(|| client_url(local)));
    let kubeconfig = data_dir.join("admin.kubeconfig");
    write_kubeconfig(&kubeconfig, &client_url(local), &pki.ca_cert_pem, &token)?;
    tracing::info!(datastore = datastore.describe(), elapsed_ms = started.elapsed().as_millis() as u64, address = %local, "corral server ready");
    println!(
        "Corral is serving the Kubernetes API at {}",
        client_url(local)
    );
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl get namespaces");

    let (stop_controllers, controllers_stop) = tokio::sync::watch::channel(false);
    let ca_pem = pki.ca_cert_pem.clone();
    let controllers = crate::controllers_client::in_process_client(&api);
    // With several replicas on one etcd, only the lease holder runs controllers.
    let identity = format!("{}-{}", hostname(), local.port());
    let controllers = tokio::spawn(async move {
        corral_kube::run_elected(
            corral_kube::Context::new(controllers, ca_pem, sa_keys_for_controllers),
            &identity,
            controllers_stop,
        )
        .await
    });

    corral_apiserver::server::serve(listener, tls, api, crate::shutdown_signal()).await?;
    let _ = stop_controllers.send(true);
    let _ = stop_identity.send(true);
    let _ = controllers.await;
    datastore.shutdown().await;
    tracing::info!("corral server stopped");
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "corral".into())
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
