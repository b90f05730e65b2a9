//! The cluster plane's HTTP endpoints, on the API server's port:
//!
//! | path | who | what |
//! |---|---|---|
//! | `GET /v3/connect` (WebSocket) | an agent, `Authorization: Bearer <registration token>`, `X-Corral-Cluster`, `X-Corral-Registration` | stores the cluster's credential, then runs the tunnel session |
//! | `GET /v3/import/<token>.yaml` | anyone holding the token (it is the secret, as in the URL Rancher prints) | the import manifest |
//! | `GET /v3/kubeconfig[?ttl=<seconds>]` | a Corral user (Corral token) | a kubeconfig with one context per cluster the user may reach, with a new token |
//! | `GET /v3/peer/dial?cluster=&address=` (upgrade) | another replica (peer secret) | a stream through this replica's tunnel to the cluster (`peer.rs`) |
//!
//! Errors are Kubernetes `Status` objects, like the API's.

use std::sync::Arc;
use std::time::Duration;

use corral_apimachinery::rbac::Attributes;
use corral_apiserver::ApiServer;
use corral_apiserver::error::{ApiError, Target};
use corral_apiserver::extension::{Extension, ExtensionBody, ExtensionFuture};
use corral_apiserver::response::{Body, bytes_response, error_response};
use http::{HeaderMap, Request, Response, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::ClusterPlane;
use super::manifest::{self, ManifestParams};
use super::types::{self, Registration};
use crate::crds::{API_VERSION, GROUP, TOKENS};
use crate::identity::tokens::{self, TokenAuthenticator};

pub const IMPORT_PREFIX: &str = "/v3/import/";
pub const KUBECONFIG_PATH: &str = "/v3/kubeconfig";
/// Lifetime of a kubeconfig's token unless `?ttl=` says otherwise; at most [`MAX_KUBECONFIG_TTL`].
pub const DEFAULT_KUBECONFIG_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
pub const MAX_KUBECONFIG_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

pub struct ClusterEndpoints {
    pub plane: Arc<ClusterPlane>,
    pub api: Arc<ApiServer>,
    pub tokens: Arc<TokenAuthenticator>,
}

fn cluster_target(name: &str) -> Target {
    Target::new(GROUP, "clusters", name)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim().to_string())
}

/// Compares secrets without revealing where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    use sha2::Digest;
    let (ha, hb) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
        && !b.is_empty()
}

impl ClusterEndpoints {
    async fn serve(&self, req: Request<ExtensionBody>) -> Result<Response<Body>, ApiError> {
        let path = req.uri().path().to_string();
        if req.method() != http::Method::GET {
            return Err(ApiError::MethodNotAllowedMessage(format!(
                "{} is not allowed on {path}",
                req.method()
            )));
        }
        if path == corral_tunnel::CONNECT_PATH {
            return self.connect(req).await;
        }
        if path == super::peer::PEER_DIAL_PATH {
            let Some(peers) = self.plane.peers.clone() else {
                return Err(ApiError::NoRoute);
            };
            return match super::peer::serve(&self.plane.tunnel, &peers, req).await {
                Ok(resp) => {
                    let (parts, ()) = resp.into_parts();
                    Ok(Response::from_parts(
                        parts,
                        corral_apiserver::response::full(bytes::Bytes::new()),
                    ))
                }
                Err((StatusCode::UNAUTHORIZED, _)) => Err(ApiError::Unauthorized),
                Err((StatusCode::BAD_REQUEST, m)) => Err(ApiError::BadRequest(m)),
                Err((_, m)) => Err(ApiError::ServiceUnavailable(m)),
            };
        }
        if let Some(rest) = path.strip_prefix(IMPORT_PREFIX) {
            let host = header_str(req.headers(), "host");
            return self.import(rest, host.as_deref());
        }
        if path == KUBECONFIG_PATH {
            let host = header_str(req.headers(), "host");
            let query = req.uri().query().unwrap_or("").to_string();
            return self.kubeconfig(req.headers().clone(), host, &query).await;
        }
        Err(ApiError::NoRoute)
    }

    /// An agent connects: check its token, store what it reports, then hand
    /// the connection to the tunnel.
    async fn connect(&self, req: Request<ExtensionBody>) -> Result<Response<Body>, ApiError> {
        let headers = req.headers();
        let cluster = header_str(headers, corral_tunnel::CLUSTER_ID_HEADER).ok_or_else(|| {
            ApiError::BadRequest("the X-Corral-Cluster header is required".into())
        })?;
        let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
        let registration = self.plane.registrations.get(&cluster);
        let authentic = registration
            .as_ref()
            .is_some_and(|r| r.cluster == cluster && same_secret(&token, &r.token));
        let entry = self.plane.clusters.get(&cluster);
        if !authentic || entry.is_none() {
            tracing::info!(%cluster, "agent refused: unknown cluster or wrong registration token");
            return Err(ApiError::Unauthorized);
        }
        if entry.as_ref().is_some_and(|c| c.deleting) {
            return Err(ApiError::Forbidden {
                message: format!("cluster {cluster:?} is being removed"),
                target: cluster_target(&cluster),
                cause: None,
            });
        }
        let reported = header_str(headers, types::REGISTRATION_HEADER)
            .ok_or_else(|| {
                ApiError::BadRequest("the X-Corral-Registration header is required".into())
            })
            .and_then(|h| Registration::decode_header(&h).map_err(ApiError::BadRequest))?;
        // Before the upgrade, so the first probe after `Connected` finds it.
        self.plane
            .store_credential(&cluster, &reported)
            .await
            .map_err(|e| ApiError::ServiceUnavailable(format!("storing the credential: {e}")))?;
        let resp = self
            .plane
            .tunnel
            .upgrade(req, cluster.clone())
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        tracing::info!(%cluster, address = %reported.address, "agent connected");
        let (parts, ()) = resp.into_parts();
        Ok(Response::from_parts(
            parts,
            corral_apiserver::response::full(bytes::Bytes::new()),
        ))
    }

    fn import(&self, rest: &str, host: Option<&str>) -> Result<Response<Body>, ApiError> {
        let token = rest.strip_suffix(".yaml").unwrap_or(rest);
        let not_found = || ApiError::NotFound(Target::new(GROUP, "clusterregistrationtokens", ""));
        if token.is_empty() {
            return Err(not_found());
        }
        let found = self
            .plane
            .registrations
            .find(|r| same_secret(token, &r.token));
        let reg = found.first().ok_or_else(not_found)?;
        let cluster = self
            .plane
            .clusters
            .get(&reg.cluster)
            .ok_or_else(not_found)?;
        if cluster.deleting {
            return Err(not_found());
        }
        let server_url = self.plane.server_url(host);
        let yaml = manifest::render(&ManifestParams {
            cluster: &reg.cluster,
            server_url: &server_url,
            token,
            server_ca_pem: &self.plane.options.server_ca_pem,
            image: &self.plane.options.agent_image,
        });
        Ok(bytes_response(StatusCode::OK, "application/yaml", yaml))
    }

    async fn kubeconfig(
        &self,
        headers: HeaderMap,
        host: Option<String>,
        query: &str,
    ) -> Result<Response<Body>, ApiError> {
        let secret = bearer(&headers).ok_or(ApiError::Unauthorized)?;
        let caller = self.tokens.validate(&secret).await.map_err(|e| {
            tracing::debug!(reason = %e, "kubeconfig: not a valid Corral token");
            ApiError::Unauthorized
        })?;
        let ttl = parse_ttl(query)?;
        let user = caller.user_info();
        let mut clusters: Vec<String> = self
            .plane
            .clusters
            .find(|c| !c.deleting)
            .into_iter()
            .map(|c| c.name.clone())
            .filter(|name| {
                let attrs =
                    Attributes::resource(user.clone(), "get", GROUP, "clusters/proxy", "", name);
                self.api.authorizer.authorize(&attrs).is_allowed()
            })
            .collect();
        clusters.sort();

        let expires = OffsetDateTime::now_utc() + ttl;
        let (name, token_secret) = tokens::generate();
        let token = json!({
            "apiVersion": API_VERSION,
            "kind": "Token",
            "metadata": {"name": name, "labels": {"management.corral.dev/user": caller.user.name}},
            "spec": {
                "userId": caller.user.name,
                "userPrincipal": caller.token.user_principal,
                "description": "kubeconfig",
                "authProvider": caller.token.provider,
                "groupPrincipals": caller.token.groups,
                "expiresAt": expires.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                "tokenHash": tokens::format_hash(&tokens::hash_secret(&token_secret)),
            },
        });
        self.plane
            .client()?
            .create(TOKENS, &token)
            .await
            .map_err(|e| ApiError::ServiceUnavailable(format!("creating the token: {e}")))?;
        let doc = kubeconfig_document(
            &self.plane.server_url(host.as_deref()),
            &self.plane.options.server_ca_pem,
            &clusters,
            &caller.user.username,
            &format!("{name}:{token_secret}"),
        );
        let yaml = serde_yaml::to_string(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(bytes_response(StatusCode::OK, "application/yaml", yaml))
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn parse_ttl(query: &str) -> Result<Duration, ApiError> {
    let Some(raw) = query.split('&').find_map(|kv| kv.strip_prefix("ttl=")) else {
        return Ok(DEFAULT_KUBECONFIG_TTL);
    };
    let secs: u64 = raw.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "ttl must be a positive number of seconds, not {raw:?}"
        ))
    })?;
    let ttl = Duration::from_secs(secs);
    if ttl > MAX_KUBECONFIG_TTL {
        return Err(ApiError::BadRequest(format!(
            "ttl is at most {} seconds",
            MAX_KUBECONFIG_TTL.as_secs()
        )));
    }
    Ok(ttl)
}

/// One cluster entry and context per cluster, all through the proxy, all
/// with the same token; the first cluster is the current context.
pub fn kubeconfig_document(
    server_url: &str,
    ca_pem: &str,
    clusters: &[String],
    username: &str,
    token: &str,
) -> Value {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let user = format!("corral-{username}");
    let entries: Vec<Value> = clusters
        .iter()
        .map(|c| {
            json!({"name": c, "cluster": {
                "server": format!("{server_url}{}{c}", crate::proxy::PREFIX),
                "certificate-authority-data": ca,
            }})
        })
        .collect();
    let contexts: Vec<Value> = clusters
        .iter()
        .map(|c| json!({"name": c, "context": {"cluster": c, "user": user}}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": entries,
        "contexts": contexts,
        "current-context": clusters.first().cloned().unwrap_or_default(),
        "users": [{"name": user, "user": {"token": token}}],
        "preferences": {},
    })
}

impl Extension for ClusterEndpoints {
    fn claims(&self, path: &str) -> bool {
        path == corral_tunnel::CONNECT_PATH
            || path == super::peer::PEER_DIAL_PATH
            || path.starts_with(IMPORT_PREFIX)
            || path == KUBECONFIG_PATH
    }

    fn handle(&self, req: Request<ExtensionBody>) -> ExtensionFuture {
        let this = ClusterEndpoints {
            plane: self.plane.clone(),
            api: self.api.clone(),
            tokens: self.tokens.clone(),
        };
        Box::pin(async move {
            match this.serve(req).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_bounded() {
        assert_eq!(parse_ttl("").ok(), Some(DEFAULT_KUBECONFIG_TTL));
        assert_eq!(parse_ttl("ttl=60").ok(), Some(Duration::from_secs(60)));
        assert!(parse_ttl("ttl=0").is_err());
        assert!(parse_ttl("ttl=x").is_err());
        assert!(parse_ttl("ttl=999999999999").is_err());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", ""), "an unset token never matches");
    }

    #[test]
    fn kubeconfig_has_a_context_per_cluster_through_the_proxy() {
        let doc = kubeconfig_document(
            "https://corral:8443",
            "PEM",
            &["a".into(), "b".into()],
            "ann",
            "t-x:y",
        );
        assert_eq!(doc["current-context"], "a");
        assert_eq!(
            doc["clusters"][1]["cluster"]["server"],
            "https://corral:8443/k8s/clusters/b"
        );
        assert_eq!(doc["contexts"].as_array().map(Vec::len), Some(2));
        assert_eq!(doc["users"][0]["user"]["token"], "t-x:y");
    }
}
