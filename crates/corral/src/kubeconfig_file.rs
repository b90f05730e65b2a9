//! Reading a cluster's address, CA and bearer token out of a kubeconfig
//! (for `corral agent --kubeconfig` and `corral cluster add --direct`).
//! Parsed as plain YAML: only these fields matter, and client-certificate
//! or exec credentials cannot be handed to the server anyway.

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use corral_management::clusters::types::Registration;
use serde_json::Value;

fn named<'a>(list: &'a Value, name: &str, field: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e[field])
}

fn relative(base: &Path, file: &str) -> std::path::PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// `host:port` of an `https://` URL (port 443 when absent).
pub fn address_of(server: &str) -> anyhow::Result<String> {
    let uri: http::Uri = server
        .parse()
        .with_context(|| format!("invalid server URL {server:?}"))?;
    if uri.scheme_str() != Some("https") {
        bail!("the cluster's server URL must be https://, not {server:?}");
    }
    let host = uri.host().context("no host in the server URL")?;
    let port = uri.port_u16().unwrap_or(443);
    Ok(format!("{host}:{port}"))
}

/// The current context's cluster and bearer credential.
pub fn registration_from(path: &Path) -> anyhow::Result<Registration> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let context_name = doc["current-context"]
        .as_str()
        .context("the kubeconfig has no current-context")?;
    let context = named(&doc["contexts"], context_name, "context")
        .with_context(|| format!("no context {context_name:?}"))?;
    let cluster_name = context["cluster"]
        .as_str()
        .context("the context names no cluster")?;
    let user_name = context["user"]
        .as_str()
        .context("the context names no user")?;
    let cluster = named(&doc["clusters"], cluster_name, "cluster")
        .with_context(|| format!("no cluster {cluster_name:?}"))?;
    let user = named(&doc["users"], user_name, "user")
        .with_context(|| format!("no user {user_name:?}"))?;
    let server = cluster["server"]
        .as_str()
        .context("the cluster has no server")?;
    let ca_cert = match (
        cluster["certificate-authority-data"].as_str(),
        cluster["certificate-authority"].as_str(),
    ) {
        (Some(data), _) => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .context("certificate-authority-data is not base64")?,
        )
        .context("certificate-authority-data is not PEM")?,
        (None, Some(file)) => std::fs::read_to_string(relative(path, file))
            .with_context(|| format!("reading {file}"))?,
        (None, None) => {
            bail!("the cluster entry has no certificate authority (system trust is not supported)")
        }
    };
    let token = match (user["token"].as_str(), user["tokenFile"].as_str()) {
        (Some(t), _) => t.to_string(),
        (None, Some(file)) => std::fs::read_to_string(relative(path, file))
            .with_context(|| format!("reading {file}"))?
            .trim()
            .to_string(),
        _ => bail!(
            "the kubeconfig user must have a bearer token (client certificates and exec plugins cannot be handed to Corral)"
        ),
    };
    let tls_server_name = cluster["tls-server-name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let reg = Registration {
        address: address_of(server)?,
        server_name: tls_server_name,
        ca_cert,
        token,
        agent_version: String::new(),
    };
    reg.validate().map_err(|e| anyhow::anyhow!(e))?;
    Ok(reg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("ca.crt"), ca).expect("write");
        let kc = dir.path().join("config");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\ncurrent-context: b\n\
             clusters:\n- name: a\n  cluster: {server: 'https://x:1'}\n\
             - name: cb\n  cluster: {server: 'https://10.0.0.2:6443', certificate-authority: ca.crt}\n\
             contexts:\n- name: b\n  context: {cluster: cb, user: u}\n\
             users:\n- name: u\n  user: {token: tok}\n",
        )
        .expect("write");
        let reg = registration_from(&kc).expect("parses");
        assert_eq!(reg.address, "10.0.0.2:6443");
        assert_eq!(reg.token, "tok");
        assert_eq!(reg.ca_cert, ca);
        std::fs::write(
            &kc,
            "current-context: b\nclusters:\n- name: cb\n  cluster: {server: 'https://h', certificate-authority: ca.crt}\n\
             contexts:\n- name: b\n  context: {cluster: cb, user: u}\nusers:\n- name: u\n  user: {client-certificate-data: x}\n",
        )
        .expect("write");
        let err = registration_from(&kc).expect_err("no token");
        assert!(err.to_string().contains("bearer token"), "{err}");
        assert_eq!(address_of("https://h").expect("ok"), "h:443");
        assert!(address_of("http://h").is_err());
    }
}
