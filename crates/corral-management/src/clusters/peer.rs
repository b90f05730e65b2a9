//! Reaching an agent whose session is on another replica. With several
//! `corral server` replicas, an agent's tunnel ends on the replica it
//! reached; the others relay through that one: an HTTPS request to
//! `/v3/peer/dial?cluster=&address=` on the holder (authenticated with a
//! secret every replica derives from the shared admin credential), which
//! dials the tunnel and, after `101 Switching Protocols`, splices the
//! connection to the tunnel stream.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::proxy::Stream;
use crate::proxy::forward::tls_config;

pub const PEER_DIAL_PATH: &str = "/v3/peer/dial";
const UPGRADE_PROTOCOL: &str = "corral-peer";

/// The shared secret replicas present to each other, derived from a
/// credential every replica already shares (the bootstrap admin token).
pub fn derive_secret(shared: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("corral-peer\0{shared}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// How this replica reaches its peers.
pub struct Peers {
    /// Presented to, and expected from, peers.
    pub secret: String,
    /// CA of the replicas' serving certificates (one CA for all replicas).
    pub ca_pem: String,
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e.to_string())
}

impl Peers {
    /// A stream to `address` in `cluster`, through the tunnel held by the
    /// replica at `peer_url` (`https://host:port`).
    pub async fn dial(
        &self,
        peer_url: &str,
        cluster: &str,
        address: &str,
    ) -> std::io::Result<Box<dyn Stream>> {
        let authority = peer_url
            .strip_prefix("https://")
            .ok_or_else(|| io_error(format!("peer URL {peer_url:?} is not https://")))?
            .trim_end_matches('/');
        let host = match authority.rsplit_once(':') {
            Some((h, _)) => h,
            None => authority,
        }
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
        let tcp = tokio::net::TcpStream::connect(authority).await?;
        tcp.set_nodelay(true)?;
        let tls = tls_config(&self.ca_pem).map_err(io_error)?;
        let name = ServerName::try_from(host).map_err(io_error)?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io_error)?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let req = Request::builder()
            .uri(format!(
                "{PEER_DIAL_PATH}?cluster={}&address={}",
                percent(cluster),
                percent(address)
            ))
            .header(http::header::HOST, authority)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.secret),
            )
            .header(http::header::CONNECTION, "upgrade")
            .header(http::header::UPGRADE, UPGRADE_PROTOCOL)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(io_error)?;
        let resp = sender.send_request(req).await.map_err(io_error)?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(io_error(format!(
                "replica {peer_url} refused to relay to cluster {cluster:?}: {}",
                resp.status()
            )));
        }
        let upgraded = hyper::upgrade::on(resp).await.map_err(io_error)?;
        Ok(Box::new(TokioIo::new(upgraded)))
    }
}

/// The holder's side: `Ok(101 response)` after the tunnel dial succeeded;
/// the splice runs in a task once the client's connection is handed over.
pub async fn serve<B: Send + 'static>(
    tunnel: &corral_tunnel::TunnelServer,
    peers: &Arc<Peers>,
    mut req: Request<B>,
) -> Result<Response<()>, (StatusCode, String)> {
    let token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !super::endpoints::same_secret(token, &peers.secret) {
        return Err((StatusCode::UNAUTHORIZED, "not a peer".into()));
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let (Some(cluster), Some(address)) = (param("cluster"), param("address")) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "cluster and address are required".into(),
        ));
    };
    let stream = tunnel
        .dial(&cluster, &address)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut client = TokioIo::new(upgraded);
            let mut stream = stream;
            let _ = tokio::io::copy_bidirectional(&mut client, &mut stream).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "upgrade")
        .header(http::header::UPGRADE, UPGRADE_PROTOCOL)
        .body(())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_derived_not_reused() {
        let s = derive_secret("admin:abc");
        assert_eq!(s.len(), 64);
        assert_ne!(s, "admin:abc");
        assert_eq!(s, derive_secret("admin:abc"));
        assert_ne!(s, derive_secret("admin:abd"));
        assert_eq!(percent("a b/c"), "a%20b%2Fc");
    }
}
