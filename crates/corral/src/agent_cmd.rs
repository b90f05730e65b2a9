//! `corral agent`: runs in (or next to) a downstream cluster and keeps a
//! tunnel to the Corral server open, so the server can reach the cluster's
//! API without any inbound port.
//!
//! In a pod it uses the standard in-cluster settings
//! (`KUBERNETES_SERVICE_HOST`/`_PORT`, the service-account token and CA
//! under `--credential-dir`); elsewhere, `--kubeconfig`. Either way it
//! tells the server the API address, CA and token at every connect, and
//! lets the server dial that one address and nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use corral_management::clusters::types::{REGISTRATION_HEADER, Registration};
use corral_tunnel::{Agent, AgentConfig, AgentEvent, Allowlist, CLUSTER_ID_HEADER, CONNECT_PATH};

#[derive(clap::Args)]
pub struct AgentArgs {
    /// The Corral server, e.g. https://corral.example.com:8443
    #[arg(long, env = "CORRAL_SERVER")]
    server: String,
    /// The cluster's name in Corral.
    #[arg(long, env = "CORRAL_CLUSTER")]
    cluster: String,
    /// The cluster registration token.
    #[arg(long, env = "CORRAL_TOKEN", hide_env_values = true)]
    token: String,
    /// PEM of the CA that signs the Corral server's certificate.
    #[arg(long, env = "CORRAL_CA", hide_env_values = true)]
    ca: Option<String>,
    /// File with that PEM (instead of --ca).
    #[arg(long, env = "CORRAL_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Reach the cluster as this kubeconfig's current context says (instead
    /// of the in-cluster settings).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Where the in-cluster service-account `token` and `ca.crt` are.
    #[arg(
        long,
        env = "CORRAL_CREDENTIAL_DIR",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount"
    )]
    credential_dir: PathBuf,
}

fn in_cluster(dir: &std::path::Path) -> anyhow::Result<Registration> {
    let host = std::env::var("KUBERNETES_SERVICE_HOST")
        .context("not in a pod (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig")?;
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let reg = Registration {
        address,
        server_name: String::new(),
        ca_cert: read("ca.crt")?,
        token: read("token")?.trim().to_string(),
        agent_version: String::new(),
    };
    reg.validate().map_err(|e| anyhow::anyhow!(e))?;
    Ok(reg)
}

fn server_tls(args: &AgentArgs) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let pem = match (&args.ca, &args.ca_file) {
        (Some(pem), _) => Some(pem.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        ),
        (None, None) => None,
    };
    let mut roots = rustls::RootCertStore::empty();
    match pem {
        Some(pem) => {
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                roots.add(cert?)?;
            }
            if roots.is_empty() {
                bail!("the Corral CA holds no PEM certificate");
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

fn connect_url(server: &str) -> anyhow::Result<String> {
    let server = server.trim_end_matches('/');
    let rest = if let Some(r) = server.strip_prefix("https://") {
        format!("wss://{r}")
    } else if let Some(r) = server.strip_prefix("http://") {
        format!("ws://{r}")
    } else {
        bail!("--server must start with https:// (got {server:?})");
    };
    Ok(format!("{rest}{CONNECT_PATH}"))
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let mut reg = match &args.kubeconfig {
        Some(path) => crate::kubeconfig_file::registration_from(path)?,
        None => in_cluster(&args.credential_dir)?,
    };
    reg.agent_version = env!("CARGO_PKG_VERSION").to_string();
    let mut config = AgentConfig::new(
        connect_url(&args.server)?,
        Allowlist::addresses([reg.address.clone()]),
    )
    .bearer_token(&args.token)?
    .header(CLUSTER_ID_HEADER, &args.cluster)?
    .header(REGISTRATION_HEADER, &reg.encode_header())?;
    config.tls = Some(server_tls(&args)?);
    let agent = Agent::new(config)?;
    let mut events = agent.subscribe();
    let cluster = args.cluster.clone();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                AgentEvent::Connected => tracing::info!(%cluster, "connected to Corral"),
                AgentEvent::Disconnected { reason } => {
                    tracing::warn!(%cluster, %reason, "disconnected from Corral")
                }
                AgentEvent::ConnectFailed { attempt, error } => {
                    tracing::warn!(%cluster, attempt, %error, "cannot connect to Corral")
                }
                AgentEvent::Backoff { delay, .. } => {
                    tracing::debug!(%cluster, delay_ms = delay.as_millis() as u64, "reconnecting")
                }
                AgentEvent::Connecting { .. } => {}
            }
        }
    });
    tracing::info!(cluster = %args.cluster, server = %args.server, api = %reg.address, "corral agent starting");
    agent.run(crate::shutdown_signal()).await;
    tracing::info!("corral agent stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_urls() {
        assert_eq!(
            connect_url("https://c:8443/").expect("ok"),
            "wss://c:8443/v3/connect"
        );
        assert!(connect_url("c:8443").is_err());
    }
}
