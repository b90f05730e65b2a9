//! What the cluster plane keeps in memory about Clusters, their
//! registration tokens and their credentials, and the names that tie them
//! together in the management store.

use base64::Engine;
use serde_json::Value;

use crate::view::Parse;

/// Namespace (in the management server) of the cluster credential Secrets.
pub const MANAGEMENT_NAMESPACE: &str = "corral-system";
/// Keeps a Cluster until everything Corral put into it is removed.
pub const CLEANUP_FINALIZER: &str = "management.corral.dev/cluster-cleanup";
/// Set to `"true"` on a Cluster to delete it without touching the downstream
/// cluster (it is gone for good, or was cleaned up by hand).
pub const SKIP_CLEANUP_ANNOTATION: &str = "management.corral.dev/skip-cleanup";
pub const CREDENTIAL_SECRET_TYPE: &str = "management.corral.dev/cluster-credential";
/// Store prefix of the credential Secrets.
pub const CREDENTIALS_PREFIX: &str = "/registry/core/secrets/corral-system/";
/// Header carrying the agent's registration (base64 of [`Registration`] as JSON).
pub const REGISTRATION_HEADER: &str = "x-corral-registration";

/// The credential Secret of a cluster.
pub fn credential_secret_name(cluster: &str) -> String {
    format!("cluster-{cluster}")
}

fn cluster_of_secret(name: &str) -> Option<&str> {
    name.strip_prefix("cluster-")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reached through the agent's reverse tunnel.
    Agent,
    /// Reached directly by the server (hosted clusters, a reachable API).
    Direct,
}

/// A Cluster as the proxy, the tunnel endpoint and the controllers need it.
#[derive(Debug, Clone)]
pub struct ClusterEntry {
    pub name: String,
    pub uid: String,
    pub mode: Mode,
    pub deleting: bool,
    pub finalizers: Vec<String>,
    pub skip_cleanup: bool,
    /// `status.conditions[type=Connected].status == "True"`.
    pub connected: bool,
    pub last_heartbeat: Option<String>,
    /// Peer URL of the replica holding the agent's session.
    pub connected_replica: Option<String>,
}

impl Parse for ClusterEntry {
    fn parse(name: &str, value: &[u8]) -> Option<Self> {
        let obj: Value = serde_json::from_slice(value).ok()?;
        let meta = &obj["metadata"];
        let mode = match obj["spec"]["connectionMode"].as_str() {
            Some("direct") => Mode::Direct,
            _ => Mode::Agent,
        };
        let connected = obj["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Connected" && c["status"] == "True");
        Some(ClusterEntry {
            name: name.to_string(),
            uid: meta["uid"].as_str().unwrap_or_default().to_string(),
            mode,
            deleting: meta.get("deletionTimestamp").is_some_and(|t| !t.is_null()),
            finalizers: meta["finalizers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect(),
            skip_cleanup: meta["annotations"][SKIP_CLEANUP_ANNOTATION] == "true",
            connected,
            last_heartbeat: obj["status"]["lastHeartbeatTime"]
                .as_str()
                .map(str::to_string),
            connected_replica: obj["status"]["connectedReplica"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }
}

/// A ClusterRegistrationToken: the secret an agent of `cluster` presents.
#[derive(Debug, Clone)]
pub struct RegistrationEntry {
    pub cluster: String,
    /// Empty until the controller has written it.
    pub token: String,
}

impl Parse for RegistrationEntry {
    fn parse(_name: &str, value: &[u8]) -> Option<Self> {
        let obj: Value = serde_json::from_slice(value).ok()?;
        Some(RegistrationEntry {
            cluster: obj["spec"]["clusterName"].as_str()?.to_string(),
            token: obj["status"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }
}

/// What an agent reports about its cluster when it connects, and what a
/// `direct` cluster's kubeconfig provides: where the API is and how to
/// authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// `host:port` of the cluster's API server, as the agent reaches it.
    pub address: String,
    /// TLS name to verify; the host part of `address` when empty.
    #[serde(default)]
    pub server_name: String,
    /// PEM CA bundle of the cluster's API.
    pub ca_cert: String,
    /// Bearer token (the agent's service-account token).
    pub token: String,
    #[serde(default)]
    pub agent_version: String,
}

impl Registration {
    /// Checks what an agent sent (it is untrusted input).
    pub fn validate(&self) -> Result<(), String> {
        let (host, port) = self
            .address
            .rsplit_once(':')
            .ok_or("address must be host:port")?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("invalid address {:?}", self.address));
        }
        if !self.ca_cert.contains("-----BEGIN CERTIFICATE-----") {
            return Err("caCert must be a PEM certificate bundle".into());
        }
        if self.token.is_empty() || self.token.len() > 16 * 1024 {
            return Err("token must be set (at most 16 KiB)".into());
        }
        if self.ca_cert.len() > 256 * 1024 {
            return Err("caCert is larger than 256 KiB".into());
        }
        Ok(())
    }

    pub fn effective_server_name(&self) -> String {
        if !self.server_name.is_empty() {
            return self.server_name.clone();
        }
        let host = self
            .address
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(&self.address);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    }

    pub fn encode_header(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    pub fn decode_header(value: &str) -> Result<Registration, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| "registration header is not base64".to_string())?;
        let reg: Registration = serde_json::from_slice(&bytes)
            .map_err(|e| format!("registration header is not valid JSON: {e}"))?;
        reg.validate()?;
        Ok(reg)
    }

    /// The Secret data keys (values base64 as in any Secret).
    pub fn secret_data(&self) -> Value {
        let b64 = |s: &str| Value::String(base64::engine::general_purpose::STANDARD.encode(s));
        serde_json::json!({
            "address": b64(&self.address),
            "serverName": b64(&self.effective_server_name()),
            "ca.crt": b64(&self.ca_cert),
            "token": b64(&self.token),
            "agentVersion": b64(&self.agent_version),
        })
    }
}

/// A cluster's credential, from its Secret.
#[derive(Debug, Clone)]
pub struct CredentialEntry {
    pub cluster: String,
    pub registration: Registration,
}

impl Parse for CredentialEntry {
    fn parse(name: &str, value: &[u8]) -> Option<Self> {
        let obj: Value = serde_json::from_slice(value).ok()?;
        if obj["type"] != CREDENTIAL_SECRET_TYPE {
            return None;
        }
        let field = |k: &str| -> Option<String> {
            let raw = obj["data"][k].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
            String::from_utf8(bytes).ok()
        };
        Some(CredentialEntry {
            cluster: cluster_of_secret(name)?.to_string(),
            registration: Registration {
                address: field("address")?,
                server_name: field("serverName").unwrap_or_default(),
                ca_cert: field("ca.crt")?,
                token: field("token")?,
                agent_version: field("agentVersion").unwrap_or_default(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Registration {
        Registration {
            address: "10.0.0.1:6443".into(),
            server_name: String::new(),
            ca_cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            token: "abc".into(),
            agent_version: "0.1.0".into(),
        }
    }

    #[test]
    fn registration_round_trips_through_header_and_secret() {
        let r = reg();
        assert_eq!(
            Registration::decode_header(&r.encode_header()),
            Ok(r.clone())
        );
        let secret = serde_json::json!({
            "type": CREDENTIAL_SECRET_TYPE,
            "data": r.secret_data(),
        });
        let entry =
            CredentialEntry::parse("cluster-c1", secret.to_string().as_bytes()).expect("parses");
        assert_eq!(entry.cluster, "c1");
        assert_eq!(entry.registration.address, r.address);
        assert_eq!(entry.registration.effective_server_name(), "10.0.0.1");
    }

    #[test]
    fn bad_registrations_are_refused() {
        for (mutate, want) in [
            (
                Box::new(|r: &mut Registration| r.address = "nohost".into())
                    as Box<dyn Fn(&mut Registration)>,
                "host:port",
            ),
            (
                Box::new(|r| r.address = "h:99999".into()),
                "invalid address",
            ),
            (Box::new(|r| r.ca_cert = "junk".into()), "PEM"),
            (Box::new(|r| r.token.clear()), "token"),
        ] {
            let mut r = reg();
            mutate(&mut r);
            let err = Registration::decode_header(&r.encode_header()).expect_err("refused");
            assert!(err.contains(want), "{err}");
        }
        assert!(Registration::decode_header("!!!").is_err());
        let ipv6 = Registration {
            address: "[fd00::1]:6443".into(),
            ..reg()
        };
        assert_eq!(ipv6.effective_server_name(), "fd00::1");
    }
}
