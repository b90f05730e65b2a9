//! One request to a cluster: dial, TLS with the cluster's CA, HTTP/1.1 with
//! Corral's credential and impersonation headers, then stream the response
//! back — or, after `101 Switching Protocols`, splice the two connections.
//!
//! Connections come from a per-cluster pool (`pool.rs`) and go back only
//! when a response body ended cleanly; upgrades always get a connection of
//! their own.

use std::sync::Arc;

use bytes::Bytes;
use corral_apiserver::authn::UserInfo;
use corral_apiserver::error::ApiError;
use corral_apiserver::extension::ExtensionBody;
use corral_apiserver::response::Body;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use hyper::client::conn::http1::SendRequest;

use super::pool::{Pool, PoolKey};
use super::{ClusterTarget, Dialer, headers};

fn unavailable(cluster: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::ServiceUnavailable(format!("cluster {cluster:?} is unreachable: {why}"))
}

pub(crate) fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let mut reader = std::io::BufReader::new(ca_pem.as_bytes());
    for cert in rustls_pemfile::certs(&mut reader) {
        let cert = cert.map_err(|e| format!("bad CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CA certificate for the cluster".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn is_upgrade(req: &Request<ExtensionBody>) -> bool {
    req.headers()
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
}

/// A new HTTP/1.1 connection to the cluster's API over the dialer and TLS.
async fn connect(
    dialer: &dyn Dialer,
    cluster: &str,
    target: &ClusterTarget,
) -> Result<SendRequest<ExtensionBody>, ApiError> {
    let stream = dialer
        .dial(cluster, &target.address)
        .await
        .map_err(|e| unavailable(cluster, e))?;
    let tls = tls_config(&target.ca_pem).map_err(|e| unavailable(cluster, e))?;
    let server_name =
        ServerName::try_from(target.server_name.clone()).map_err(|e| unavailable(cluster, e))?;
    let tls_stream = tokio_rustls::TlsConnector::from(tls)
        .connect(server_name, stream)
        .await
        .map_err(|e| unavailable(cluster, e))?;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(tls_stream))
        .await
        .map_err(|e| unavailable(cluster, e))?;
    let cluster_name = cluster.to_string();
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(cluster = %cluster_name, error = %e, "proxied connection ended");
        }
    });
    Ok(sender)
}

pub async fn forward(
    dialer: &dyn Dialer,
    pool: &Arc<Pool>,
    cluster: &str,
    target: &ClusterTarget,
    user: &UserInfo,
    path: &str,
    mut req: Request<ExtensionBody>,
) -> Result<Response<Body>, ApiError> {
    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    // Upgraded connections are spliced for good: never from or to the pool.
    let key = PoolKey::new(cluster, target);
    let mut pooled = if upgrade { None } else { pool.checkout(&key) };
    if let Some(s) = pooled.as_mut() {
        let ready = tokio::time::timeout(std::time::Duration::from_secs(1), s.ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            pooled = None;
        }
    }
    let reused = pooled.is_some();
    let mut sender = match pooled {
        Some(s) => s,
        None => connect(dialer, cluster, target).await?,
    };

    let (mut parts, body) = req.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    parts.uri = path_and_query
        .parse()
        .map_err(|_| ApiError::BadRequest("invalid request path".into()))?;
    headers::strip(&mut parts.headers, upgrade);
    if let Ok(host) = HeaderValue::from_str(&target.address) {
        parts.headers.insert(http::header::HOST, host);
    }
    let bearer = HeaderValue::from_str(&format!("Bearer {}", target.bearer_token))
        .map_err(|_| unavailable(cluster, "the cluster credential is not a valid header"))?;
    parts.headers.insert(http::header::AUTHORIZATION, bearer);
    for (k, v) in headers::impersonation_headers(user) {
        parts.headers.append(k, v);
    }
    parts.version = http::Version::HTTP_11;
    let downstream_req = Request::from_parts(parts, body);

    let mut resp = match sender.try_send_request(downstream_req).await {
        Ok(r) => r,
        // The cluster closed an idle connection as we picked it: the
        // request was not sent, so it goes out once more on a new one.
        Err(mut e) if reused => match e.take_message() {
            Some(unsent) => {
                sender = connect(dialer, cluster, target).await?;
                sender
                    .send_request(unsent)
                    .await
                    .map_err(|e| unavailable(cluster, e))?
            }
            None => return Err(unavailable(cluster, e.into_error())),
        },
        Err(e) => return Err(unavailable(cluster, e.into_error())),
    };

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return Err(unavailable(cluster, "unexpected protocol switch"));
        };
        let server_upgrade = hyper::upgrade::on(&mut resp);
        let cluster_name = cluster.to_string();
        tokio::spawn(async move {
            match (client_upgrade.await, server_upgrade.await) {
                (Ok(client), Ok(server)) => {
                    let mut client = TokioIo::new(client);
                    let mut server = TokioIo::new(server);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
                (c, s) => tracing::debug!(
                    cluster = %cluster_name,
                    client_ok = c.is_ok(),
                    server_ok = s.is_ok(),
                    "upgrade failed"
                ),
            }
        });
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(
            parts,
            corral_apiserver::response::full(Bytes::new()),
        ));
    }

    let (mut parts, body) = resp.into_parts();
    for h in ["connection", "keep-alive", "transfer-encoding"] {
        parts.headers.remove(h);
    }
    // Stream frames as they come (watches); a downstream error ends the
    // body, which the client sees as the end of the stream and re-watches.
    let body: Body = BodyExt::boxed(PooledBody::new(body, pool.clone(), key, sender));
    Ok(Response::from_parts(parts, body))
}

/// The cluster's response body, passed on frame by frame. When it has been
/// read to its end the connection goes back to the pool; a downstream error
/// ends the body and drops the connection, and so does a client that goes
/// away mid-body (dropping this).
struct PooledBody {
    inner: hyper::body::Incoming,
    back: Option<(Arc<Pool>, PoolKey, SendRequest<ExtensionBody>)>,
}

impl PooledBody {
    fn new(
        inner: hyper::body::Incoming,
        pool: Arc<Pool>,
        key: PoolKey,
        sender: SendRequest<ExtensionBody>,
    ) -> PooledBody {
        let mut body = PooledBody {
            inner,
            back: Some((pool, key, sender)),
        };
        // A server that knows the length stops polling after the last byte
        // (or never polls an empty body): return the connection as soon as
        // the body is known to be complete.
        if body.inner.is_end_stream() {
            body.give_back();
        }
        body
    }

    fn give_back(&mut self) {
        if let Some((pool, key, sender)) = self.back.take() {
            pool.put(key, sender);
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.give_back();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "the cluster's response body failed");
                    this.back = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if this.inner.is_end_stream() {
                        this.give_back();
                    }
                    // Trailers are not passed on (HTTP/1.1 clients rarely ask for them).
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
