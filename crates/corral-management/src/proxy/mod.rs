//! The authenticating proxy: `https://<server>/k8s/clusters/<cluster>/<path>`
//! reaches that cluster's Kubernetes API as the calling Corral user.
//!
//! The user is authenticated and authorized here (RBAC: `get` on
//! `clusters/proxy` in `management.corral.dev`, named by the cluster);
//! downstream, the request carries the cluster's own credential plus
//! `Impersonate-User` / `Impersonate-Group` / `Impersonate-Extra-*`, so the
//! cluster's RBAC decides what the user may do there. Bodies stream both
//! ways (watches, `logs -f`), and upgraded connections (exec, attach,
//! port-forward over SPDY or WebSocket) are spliced after the 101.

pub(crate) mod forward;
mod headers;
pub mod pool;

use std::sync::Arc;

use async_trait::async_trait;
use corral_apimachinery::rbac::Attributes;
use corral_apiserver::ApiServer;
use corral_apiserver::authn::{PeerIdentity, UserInfo};
use corral_apiserver::error::ApiError;
use corral_apiserver::extension::{Extension, ExtensionBody, ExtensionFuture};
use corral_apiserver::response::{Body, error_response};
use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};

pub use headers::impersonation_headers;

/// Where a cluster's API is and how Corral authenticates to it.
#[derive(Clone, Debug)]
pub struct ClusterTarget {
    /// `host:port` of the cluster's API server, as the dialer reaches it.
    pub address: String,
    /// TLS server name to verify (usually the host part of `address`).
    pub server_name: String,
    /// PEM CA bundle that signs the cluster's serving certificate.
    pub ca_pem: String,
    /// The credential Corral holds for the cluster (an agent's service-account token).
    pub bearer_token: String,
}

/// Finds clusters by ID (management `Cluster` objects and their credential Secrets).
#[async_trait]
pub trait ClusterDirectory: Send + Sync {
    async fn target(&self, cluster: &str) -> Option<ClusterTarget>;
}

/// A byte stream to a cluster's API server.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Opens connections to clusters: through an agent's tunnel, or directly.
#[async_trait]
pub trait Dialer: Send + Sync {
    async fn dial(&self, cluster: &str, address: &str) -> std::io::Result<Box<dyn Stream>>;
}

/// Plain TCP, for clusters the server can reach (`direct` mode).
pub struct DirectDialer;

#[async_trait]
impl Dialer for DirectDialer {
    async fn dial(&self, _cluster: &str, address: &str) -> std::io::Result<Box<dyn Stream>> {
        let tcp = tokio::net::TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        Ok(Box::new(tcp))
    }
}

pub const PREFIX: &str = "/k8s/clusters/";

/// The proxy, mounted on the API server's port as an [`Extension`].
pub struct AuthProxy {
    api: Arc<ApiServer>,
    directory: Arc<dyn ClusterDirectory>,
    dialer: Arc<dyn Dialer>,
    admin_group: Option<Arc<str>>,
    pool: Arc<pool::Pool>,
}

impl AuthProxy {
    pub fn new(
        api: Arc<ApiServer>,
        directory: Arc<dyn ClusterDirectory>,
        dialer: Arc<dyn Dialer>,
    ) -> AuthProxy {
        AuthProxy {
            api,
            directory,
            dialer,
            admin_group: None,
            pool: Arc::default(),
        }
    }

    /// Users who may `update` the Cluster object in Corral (its owners and
    /// Corral's admins) are also sent downstream as members of `group`,
    /// which the import manifest binds to `cluster-admin` there.
    pub fn with_admin_group(mut self, group: &str) -> AuthProxy {
        self.admin_group = Some(Arc::from(group));
        self
    }

    async fn serve(
        api: Arc<ApiServer>,
        directory: Arc<dyn ClusterDirectory>,
        dialer: Arc<dyn Dialer>,
        admin_group: Option<Arc<str>>,
        pool: Arc<pool::Pool>,
        req: Request<ExtensionBody>,
    ) -> Result<Response<Body>, ApiError> {
        let path = req.uri().path().to_string();
        let rest = path.strip_prefix(PREFIX).unwrap_or("");
        let (cluster, downstream_path) = match rest.split_once('/') {
            Some((c, p)) => (c.to_string(), format!("/{p}")),
            None => (rest.to_string(), "/".to_string()),
        };
        if cluster.is_empty() {
            return Err(ApiError::NoRoute);
        }
        let peer = req
            .extensions()
            .get::<PeerIdentity>()
            .cloned()
            .unwrap_or_default();
        // The body type is not Sync: hold no reference to the request across awaits.
        let mut user = authenticate(&api, req.headers().clone(), peer).await?;
        let attrs = Attributes::resource(
            user.clone(),
            "get",
            "management.corral.dev",
            "clusters/proxy",
            "",
            &cluster,
        );
        if !api.authorizer.authorize(&attrs).is_allowed() {
            return Err(ApiError::Forbidden {
                message: format!(
                    "clusters.management.corral.dev \"{cluster}\" is forbidden: User \"{}\" cannot use the cluster through the proxy",
                    user.name
                ),
                target: corral_apiserver::error::Target::new(
                    "management.corral.dev",
                    "clusters",
                    &cluster,
                ),
                cause: None,
            });
        }
        if let Some(group) = admin_group {
            let owner = Attributes::resource(
                user.clone(),
                "update",
                "management.corral.dev",
                "clusters",
                "",
                &cluster,
            );
            if api.authorizer.authorize(&owner).is_allowed()
                && !user.groups.iter().any(|g| **g == *group)
            {
                user.groups.push(group.to_string());
            }
        }
        let target = directory.target(&cluster).await.ok_or_else(|| {
            ApiError::NotFound(corral_apiserver::error::Target::new(
                "management.corral.dev",
                "clusters",
                &cluster,
            ))
        })?;
        forward::forward(
            &*dialer,
            &pool,
            &cluster,
            &target,
            &user,
            &downstream_path,
            req,
        )
        .await
    }
}

impl Extension for AuthProxy {
    fn claims(&self, path: &str) -> bool {
        path.starts_with(PREFIX)
    }

    fn handle(&self, req: Request<ExtensionBody>) -> ExtensionFuture {
        let api = self.api.clone();
        let directory = self.directory.clone();
        let dialer = self.dialer.clone();
        let admin_group = self.admin_group.clone();
        let pool = self.pool.clone();
        Box::pin(async move {
            match AuthProxy::serve(api, directory, dialer, admin_group, pool, req).await {
                Ok(resp) => resp,
                Err(e) => error_response(&e),
            }
        })
    }
}

/// The Corral user behind the request: the same authenticators as the API.
async fn authenticate(
    api: &ApiServer,
    headers: http::HeaderMap,
    peer: PeerIdentity,
) -> Result<UserInfo, ApiError> {
    match api.authenticator().authenticate(&headers, &peer).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ApiError::Unauthorized),
        Err(why) => {
            tracing::debug!(reason = %why, "proxy authentication failed");
            Err(ApiError::Unauthorized)
        }
    }
}
