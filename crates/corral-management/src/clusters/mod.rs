//! Downstream clusters: the `Cluster` and `ClusterRegistrationToken` types'
//! behaviour, the agent endpoint (`/v3/connect`) on top of `corral-tunnel`,
//! the import manifest, health, per-user kubeconfigs and removal.
//!
//! # How a cluster comes and goes
//!
//! 1. An admin creates a `Cluster` (mode `agent`). [`lifecycle`] adds the
//!    cleanup finalizer and a `ClusterRegistrationToken` of the same name
//!    whose status holds a random token and the import URL.
//! 2. The operator applies `GET /v3/import/<token>.yaml` to the cluster
//!    (namespace `corral-system`, the agent's service account, its RBAC —
//!    impersonation and read-only health calls — and a Deployment).
//! 3. The agent dials `/v3/connect` with the token and its cluster's API
//!    address, CA and service-account token ([`types::Registration`]); the
//!    server keeps that as a Secret (`corral-system/cluster-<name>`, owned by
//!    the Cluster) and runs the tunnel session.
//! 4. The auth proxy (`/k8s/clusters/<name>/`) and [`health`] reach the
//!    cluster through [`directory::RoutingDialer`]: the tunnel for `agent`
//!    clusters, TCP for `direct` ones (registered with a kubeconfig's
//!    credential by `corral cluster add --direct`).
//! 5. Deleting the Cluster: [`lifecycle`] removes what the manifest created
//!    downstream, closes the session, deletes the token and credential and
//!    only then releases the finalizer.
//!
//! # Several replicas
//!
//! Every replica serves `/v3/connect`; an agent's session lives on the
//! replica it reached. That replica probes the cluster, records its peer
//! URL in `status.connectedReplica` and, for `agent` clusters, performs
//! removal. Other replicas reach the cluster through it ([`peer`]).

pub mod directory;
pub mod downstream;
pub mod endpoints;
pub mod health;
pub mod lifecycle;
pub mod manifest;
pub mod peer;
pub mod types;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use corral_apiserver::ApiServer;
use corral_apiserver::error::ApiError;
use corral_store::Store;
use corral_tunnel::{ServerConfig, TunnelServer};
use serde_json::{Value, json};

use crate::client::{ApiCallError, LocalClient};
use crate::crds::{CLUSTER_REGISTRATION_TOKENS_PREFIX, CLUSTERS_PREFIX};
use crate::identity::tokens::TokenAuthenticator;
use crate::proxy::AuthProxy;
use crate::view::{self, Sink, View, ViewedStore};
use types::{
    CREDENTIAL_SECRET_TYPE, CREDENTIALS_PREFIX, ClusterEntry, CredentialEntry,
    MANAGEMENT_NAMESPACE, Registration, RegistrationEntry, credential_secret_name,
};

pub struct Options {
    /// `https://host:port` agents and kubeconfigs use; when unset, the
    /// `Host` of the request that fetches the manifest or kubeconfig.
    pub advertise_url: Option<String>,
    /// Used when neither the above nor a `Host` header is known.
    pub fallback_url: String,
    /// PEM of the CA that signs the server's certificate (agents and
    /// kubeconfigs trust it).
    pub server_ca_pem: String,
    /// The image the import manifest's Deployment runs.
    pub agent_image: String,
    /// How often each cluster's `/readyz` is probed.
    pub probe_interval: Duration,
    /// Bound on one probe (dial, TLS, three calls).
    pub probe_timeout: Duration,
    pub tunnel: ServerConfig,
    /// Secret shared by the replicas (see [`peer::derive_secret`]); without
    /// it, clusters whose agent is on another replica are unreachable here.
    pub peer_secret: Option<String>,
}

impl Options {
    pub fn new(server_ca_pem: String, fallback_url: String) -> Options {
        Options {
            advertise_url: None,
            fallback_url,
            server_ca_pem,
            agent_image: format!("ghcr.io/corral-dev/corral:{}", env!("CARGO_PKG_VERSION")),
            probe_interval: Duration::from_secs(15),
            probe_timeout: Duration::from_secs(10),
            tunnel: ServerConfig::default(),
            peer_secret: None,
        }
    }
}

pub struct ClusterPlane {
    pub clusters: Arc<View<ClusterEntry>>,
    pub registrations: Arc<View<RegistrationEntry>>,
    pub credentials: Arc<View<CredentialEntry>>,
    pub tunnel: TunnelServer,
    pub options: Options,
    pub peers: Option<Arc<peer::Peers>>,
    /// This replica's URL as peers reach it (set once it listens).
    peer_url: Arc<OnceLock<String>>,
    store: Arc<dyn Store>,
    client: OnceLock<Arc<LocalClient>>,
}

impl ClusterPlane {
    /// The plane and the store the API server must write through (so this
    /// replica's writes reach the views before they are acknowledged).
    pub fn new(store: Arc<dyn Store>, options: Options) -> (Arc<ClusterPlane>, Arc<dyn Store>) {
        let clusters: Arc<View<ClusterEntry>> = View::new(CLUSTERS_PREFIX);
        let registrations: Arc<View<RegistrationEntry>> =
            View::new(CLUSTER_REGISTRATION_TOKENS_PREFIX);
        let credentials: Arc<View<CredentialEntry>> = View::new(CREDENTIALS_PREFIX);
        let sinks: Vec<Arc<dyn Sink>> =
            vec![clusters.clone(), registrations.clone(), credentials.clone()];
        let wrapped: Arc<dyn Store> = Arc::new(ViewedStore::new(store.clone(), sinks));
        let peers = options.peer_secret.clone().map(|secret| {
            Arc::new(peer::Peers {
                secret,
                ca_pem: options.server_ca_pem.clone(),
            })
        });
        let plane = Arc::new(ClusterPlane {
            clusters,
            registrations,
            credentials,
            tunnel: TunnelServer::new(options.tunnel.clone()),
            options,
            peers,
            peer_url: Arc::default(),
            store,
            client: OnceLock::new(),
        });
        (plane, wrapped)
    }

    /// Fill the views, mount the proxy and the endpoints, start the controllers.
    pub async fn start(
        self: &Arc<Self>,
        api: &Arc<ApiServer>,
        bearer: String,
        tokens: Arc<TokenAuthenticator>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), String> {
        let client = Arc::new(LocalClient::new(api, bearer));
        let _ = self.client.set(client.clone());
        view::follow(self.store.clone(), self.clusters.clone(), shutdown.clone())
            .await
            .map_err(|e| format!("reading clusters: {e}"))?;
        view::follow(
            self.store.clone(),
            self.registrations.clone(),
            shutdown.clone(),
        )
        .await
        .map_err(|e| format!("reading cluster registration tokens: {e}"))?;
        view::follow(
            self.store.clone(),
            self.credentials.clone(),
            shutdown.clone(),
        )
        .await
        .map_err(|e| format!("reading cluster credentials: {e}"))?;
        ensure_namespace(&client)
            .await
            .map_err(|e| format!("creating namespace {MANAGEMENT_NAMESPACE}: {e}"))?;

        api.add_extension(Arc::new(
            AuthProxy::new(api.clone(), self.directory(), self.dialer())
                .with_admin_group(manifest::CLUSTER_ADMINS_GROUP),
        ));
        api.add_extension(Arc::new(endpoints::ClusterEndpoints {
            plane: self.clone(),
            api: api.clone(),
            tokens,
        }));
        tokio::spawn(lifecycle::run(self.clone(), shutdown.clone()));
        tokio::spawn(health::run(self.clone(), shutdown.clone()));
        let tunnel = self.tunnel.clone();
        let mut stop = shutdown;
        tokio::spawn(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
            tunnel.shutdown();
        });
        Ok(())
    }

    pub fn directory(&self) -> Arc<directory::Directory> {
        Arc::new(directory::Directory {
            clusters: self.clusters.clone(),
            credentials: self.credentials.clone(),
        })
    }

    pub fn dialer(&self) -> Arc<directory::RoutingDialer> {
        Arc::new(directory::RoutingDialer {
            clusters: self.clusters.clone(),
            tunnel: self.tunnel.clone(),
            peers: self.peers.clone(),
            own_url: self.peer_url.clone(),
        })
    }

    /// Where peers reach this replica (`https://host:port`); set once the
    /// server listens. Until then no agent session is advertised to peers.
    pub fn set_peer_url(&self, url: String) {
        let _ = self.peer_url.set(url);
    }

    pub fn peer_url(&self) -> Option<&str> {
        self.peer_url.get().map(String::as_str)
    }

    pub(crate) fn client(&self) -> Result<Arc<LocalClient>, ApiError> {
        self.client
            .get()
            .cloned()
            .ok_or_else(|| ApiError::ServiceUnavailable("the cluster plane is starting".into()))
    }

    /// Where agents and kubeconfigs reach this server.
    pub fn server_url(&self, host: Option<&str>) -> String {
        if let Some(url) = &self.options.advertise_url {
            return url.trim_end_matches('/').to_string();
        }
        match host {
            Some(h) if !h.is_empty() && !h.contains(['/', ' ', '@']) => format!("https://{h}"),
            _ => self.options.fallback_url.clone(),
        }
    }

    /// Keep what an agent reported as the cluster's credential Secret
    /// (written only when it changed).
    pub async fn store_credential(
        &self,
        cluster: &str,
        reg: &Registration,
    ) -> Result<(), ApiCallError> {
        let name = credential_secret_name(cluster);
        if self
            .credentials
            .get(&name)
            .is_some_and(|c| &c.registration == reg)
        {
            return Ok(());
        }
        let client = self.client().map_err(|e| ApiCallError {
            status: 503,
            reason: "ServiceUnavailable".into(),
            message: e.to_string(),
        })?;
        let uid = self
            .clusters
            .get(cluster)
            .map(|c| c.uid.clone())
            .unwrap_or_default();
        let secret = credential_secret(cluster, &uid, reg);
        let collection = format!("/api/v1/namespaces/{MANAGEMENT_NAMESPACE}/secrets");
        match client.create(&collection, &secret).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_conflict() => {
                let path = format!("{collection}/{name}");
                let patch = json!({"data": reg.secret_data(), "type": CREDENTIAL_SECRET_TYPE});
                client.merge_patch(&path, &patch).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}

fn credential_secret(cluster: &str, uid: &str, reg: &Registration) -> Value {
    let mut meta = json!({
        "name": credential_secret_name(cluster),
        "namespace": MANAGEMENT_NAMESPACE,
        "labels": {"management.corral.dev/cluster": cluster},
    });
    if !uid.is_empty() {
        meta["ownerReferences"] = json!([{
            "apiVersion": crate::crds::API_VERSION,
            "kind": "Cluster",
            "name": cluster,
            "uid": uid,
        }]);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": CREDENTIAL_SECRET_TYPE,
        "metadata": meta,
        "data": reg.secret_data(),
    })
}

async fn ensure_namespace(client: &LocalClient) -> Result<(), ApiCallError> {
    let ns = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": MANAGEMENT_NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "corral"}},
    });
    match client.create("/api/v1/namespaces", &ns).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}
