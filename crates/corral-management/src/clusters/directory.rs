//! How the proxy and the controllers find a cluster: its credential (from
//! the in-memory view of credential Secrets) and a dialer that picks the
//! agent's tunnel or a direct TCP connection by the Cluster's mode.

use std::sync::Arc;

use async_trait::async_trait;
use corral_tunnel::TunnelServer;

use super::types::{ClusterEntry, CredentialEntry, Mode};
use crate::proxy::{ClusterDirectory, ClusterTarget, Dialer, DirectDialer, Stream};
use crate::view::View;

pub struct Directory {
    pub clusters: Arc<View<ClusterEntry>>,
    pub credentials: Arc<View<CredentialEntry>>,
}

impl Directory {
    pub fn target_of(&self, cluster: &str) -> Option<ClusterTarget> {
        self.clusters.get(cluster)?;
        let cred = self
            .credentials
            .get(&super::types::credential_secret_name(cluster))?;
        let reg = &cred.registration;
        Some(ClusterTarget {
            address: reg.address.clone(),
            server_name: reg.effective_server_name(),
            ca_pem: reg.ca_cert.clone(),
            bearer_token: reg.token.clone(),
        })
    }
}

#[async_trait]
impl ClusterDirectory for Directory {
    async fn target(&self, cluster: &str) -> Option<ClusterTarget> {
        self.target_of(cluster)
    }
}

/// Dials `agent` clusters through their tunnel (here, or on the replica
/// that holds it) and `direct` ones over TCP.
pub struct RoutingDialer {
    pub clusters: Arc<View<ClusterEntry>>,
    pub tunnel: TunnelServer,
    pub peers: Option<Arc<super::peer::Peers>>,
    pub own_url: Arc<std::sync::OnceLock<String>>,
}

#[async_trait]
impl Dialer for RoutingDialer {
    async fn dial(&self, cluster: &str, address: &str) -> std::io::Result<Box<dyn Stream>> {
        let entry = self.clusters.get(cluster);
        let mode = entry.as_ref().map(|c| c.mode);
        let holder = entry
            .as_ref()
            .and_then(|c| c.connected_replica.clone())
            .filter(|url| self.own_url.get() != Some(url));
        match mode {
            Some(Mode::Direct) => DirectDialer.dial(cluster, address).await,
            Some(Mode::Agent) if !self.tunnel.is_connected(cluster) && holder.is_some() => {
                match (&self.peers, holder) {
                    (Some(peers), Some(url)) => peers.dial(&url, cluster, address).await,
                    _ => Err(std::io::Error::new(
                        std::io::ErrorKind::NotConnected,
                        format!("the agent of {cluster:?} is connected to another replica"),
                    )),
                }
            }
            Some(Mode::Agent) => {
                let stream = self.tunnel.dial(cluster, address).await.map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e.to_string())
                })?;
                Ok(Box::new(stream))
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no cluster {cluster:?}"),
            )),
        }
    }
}
