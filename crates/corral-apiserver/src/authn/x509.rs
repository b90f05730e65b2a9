//! Client certificates signed by the server's client CA: the subject's common
//! name is the user, its organizations are the groups (as upstream).

use std::sync::Arc;

use async_trait::async_trait;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

use super::{Authenticator, Outcome, PeerIdentity, UserInfo};

/// The identity a verified certificate carries. `None` if it names no user.
pub fn identity_from_der(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    if name.is_empty() {
        return None;
    }
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(UserInfo {
        name,
        groups,
        ..Default::default()
    })
}

/// Verifies client certificates against the client CA, but lets clients
/// without one through (they may authenticate with a bearer token instead).
pub fn client_verifier(client_ca_pem: &str) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut client_ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| e.to_string())?;
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())
}

/// Reads the identity the TLS layer verified for this connection.
pub struct X509Authenticator;

#[async_trait]
impl Authenticator for X509Authenticator {
    async fn authenticate(&self, _headers: &http::HeaderMap, peer: &PeerIdentity) -> Outcome {
        match &peer.certificate_user {
            Some(u) => Outcome::Authenticated(u.clone()),
            None => Outcome::NotMine,
        }
    }
}
