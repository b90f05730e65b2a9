//! One request to a cluster: dial, TLS with the cluster's CA, HTTP/1.1 with
//! Corral's credential and impersonation headers, then stream the response
//! back — or, after `101 Switching Protocols`, splice the two connections.
//!
//! Each request gets its own connection: simple and isolating (a slow watch
//! never holds a pooled connection another request waits for). Pooling per
//! cluster is the next step if the overhead figure asks for it.

use std::sync::Arc;

use bytes::Bytes;
use corral_apiserver::authn::UserInfo;
use corral_apiserver::error::ApiError;
use corral_apiserver::extension::ExtensionBody;
use corral_apiserver::response::Body;
use futures::StreamExt;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use super::{ClusterTarget, Dialer, headers};

fn unavailable(cluster: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::ServiceUnavailable(format!("cluster {cluster:?} is unreachable: {why}"))
}

fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
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

pub async fn forward(
    dialer: &dyn Dialer,
    cluster: &str,
    target: &ClusterTarget,
    user: &UserInfo,
    path: &str,
    mut req: Request<ExtensionBody>,
) -> Result<Response<Body>, ApiError> {
    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

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
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(tls_stream))
        .await
        .map_err(|e| unavailable(cluster, e))?;
    let cluster_name = cluster.to_string();
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(cluster = %cluster_name, error = %e, "proxied connection ended");
        }
    });

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

    let mut resp = sender
        .send_request(downstream_req)
        .await
        .map_err(|e| unavailable(cluster, e))?;

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
    // Stream frames as they come (watches); a downstream error ends the body,
    // which the client sees as the end of the stream and re-watches.
    let frames = body.into_data_stream().take_while(|r| {
        let ok = r.is_ok();
        async move { ok }
    });
    let frames = frames.filter_map(|r| async move { r.ok().map(|b| Ok(Frame::data(b))) });
    let body: Body = BodyExt::boxed(StreamBody::new(frames));
    Ok(Response::from_parts(parts, body))
}
