//! `corral cluster add` and `corral kubeconfig`: the cluster side of the
//! CLI, as the user stored by `corral login`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use corral_management::clusters::types::{
    CREDENTIAL_SECRET_TYPE, MANAGEMENT_NAMESPACE, credential_secret_name,
};
use corral_management::crds::{API_VERSION, CLUSTER_REGISTRATION_TOKENS, CLUSTERS};
use http::Method;
use serde_json::json;

use crate::login_cmd::{call, call_raw, message, stored, tls_config};

#[derive(clap::Args)]
pub struct ClusterAddArgs {
    /// The cluster's name in Corral (a DNS label).
    name: String,
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Register a cluster the server reaches directly, with the credential
    /// of this kubeconfig's current context (no agent).
    #[arg(long, requires = "kubeconfig")]
    direct: bool,
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Which stored server (default: the last one logged in to).
    #[arg(long)]
    server: Option<String>,
}

#[derive(clap::Args)]
pub struct KubeconfigArgs {
    /// Write here instead of standard output (mode 0600).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Lifetime of the kubeconfig's token in seconds (default: the server's, 30 days).
    #[arg(long)]
    ttl: Option<u64>,
    #[arg(long)]
    server: Option<String>,
}

pub async fn add(args: ClusterAddArgs) -> anyhow::Result<()> {
    let (_, server, entry) = stored(args.server.as_deref())?;
    let tls = tls_config(entry.ca_file.as_ref(), entry.insecure_skip_tls_verify)?;
    let token = Some(entry.token.as_str());
    let mode = if args.direct { "direct" } else { "agent" };
    if args.direct {
        let path = args
            .kubeconfig
            .as_ref()
            .context("--direct needs --kubeconfig")?;
        let reg = crate::kubeconfig_file::registration_from(path)?;
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": CREDENTIAL_SECRET_TYPE,
            "metadata": {"name": credential_secret_name(&args.name), "namespace": MANAGEMENT_NAMESPACE,
                "labels": {"management.corral.dev/cluster": args.name}},
            "data": reg.secret_data(),
        });
        let path = format!("/api/v1/namespaces/{MANAGEMENT_NAMESPACE}/secrets");
        let (status, resp) = call(&server, &tls, Method::POST, &path, token, Some(secret)).await?;
        if status >= 300 {
            bail!("storing the credential: {}", message(&resp, status));
        }
    }
    let cluster = json!({
        "apiVersion": API_VERSION, "kind": "Cluster",
        "metadata": {"name": args.name},
        "spec": {
            "displayName": args.display_name.clone().unwrap_or_else(|| args.name.clone()),
            "description": args.description.clone().unwrap_or_default(),
            "connectionMode": mode,
        },
    });
    let (status, resp) = call(&server, &tls, Method::POST, CLUSTERS, token, Some(cluster)).await?;
    if status >= 300 {
        bail!("creating the cluster: {}", message(&resp, status));
    }
    if args.direct {
        println!("Cluster {} registered (direct).", args.name);
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = format!("{CLUSTER_REGISTRATION_TOKENS}/{}", args.name);
    let reg_token = loop {
        let (status, resp) = call(&server, &tls, Method::GET, &path, token, None).await?;
        if status == 200
            && let Some(t) = resp["status"]["token"].as_str().filter(|t| !t.is_empty())
        {
            break t.to_string();
        }
        if Instant::now() > deadline {
            bail!("the server made no registration token within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let url = format!("{server}/v3/import/{reg_token}.yaml");
    let ca = entry
        .ca_file
        .as_ref()
        .map(|p| format!("--cacert {}", p.display()))
        .unwrap_or_else(|| "--cacert <corral-ca.crt>".into());
    println!("Cluster {} created. On the cluster, run:", args.name);
    println!("  curl -sfL {ca} {url} | kubectl apply -f -");
    Ok(())
}

pub async fn kubeconfig(args: KubeconfigArgs) -> anyhow::Result<()> {
    let (_, server, entry) = stored(args.server.as_deref())?;
    let tls = tls_config(entry.ca_file.as_ref(), entry.insecure_skip_tls_verify)?;
    let path = match args.ttl {
        Some(ttl) => format!("/v3/kubeconfig?ttl={ttl}"),
        None => "/v3/kubeconfig".to_string(),
    };
    let (status, body) =
        call_raw(&server, &tls, Method::GET, &path, Some(&entry.token), None).await?;
    if status != 200 {
        let v = serde_json::from_slice(&body).unwrap_or_default();
        bail!("{server}: {}", message(&v, status));
    }
    match args.output {
        Some(path) => {
            corral_apiserver::pki::write_private(&path, &String::from_utf8_lossy(&body))?;
            eprintln!("Wrote {}", path.display());
        }
        None => print!("{}", String::from_utf8_lossy(&body)),
    }
    Ok(())
}
