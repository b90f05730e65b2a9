//! A small HTTP/1.1 client for the redirect providers' back channel
//! (discovery, JWKS, token endpoints, GitHub's REST API): one connection per
//! request, rustls with the ring provider (like the rest of the workspace),
//! every request bounded by a timeout and every response body by a size cap.
//!
//! Plain `http://` is accepted only for loopback hosts (tests, a local IdP):
//! client secrets and authorization codes never cross a network in clear.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::AuthError;

/// The largest response body read (discovery documents, JWKS, API pages).
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// A response: status, headers and the whole body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("response is not JSON: {e}"))
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct HttpClient {
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Whether `host` (as in a URI, IPv6 in brackets) is this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A rustls client configuration trusting `ca_pem`, or the system's roots when empty.
fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, AuthError> {
    let invalid = |m: String| AuthError::Invalid(format!("certificate: {m}"));
    let mut roots = rustls::RootCertStore::empty();
    if ca_pem.trim().is_empty() {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
    } else {
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| invalid(e.to_string()))?;
            roots.add(cert).map_err(|e| invalid(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(invalid("no PEM certificate found".into()));
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl HttpClient {
    /// `ca_pem`: the CA(s) to trust (empty: the system's trust store).
    pub fn new(ca_pem: &str, timeout: Duration) -> Result<HttpClient, AuthError> {
        Ok(HttpClient {
            tls: tls_config(ca_pem)?,
            timeout,
        })
    }

    /// Checks that `url` is one this client will call.
    pub fn check_url(url: &str) -> Result<Uri, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?;
        match uri.scheme_str() {
            Some("https") => Ok(uri),
            Some("http") if is_loopback_host(host) => Ok(uri),
            Some("http") => Err(format!(
                "{url:?}: plain http is only allowed to loopback addresses"
            )),
            _ => Err(format!("{url:?} is not an http(s) URL")),
        }
    }

    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, String> {
        self.send(Method::GET, url, headers, None).await
    }

    /// A POST of `application/x-www-form-urlencoded` fields.
    pub async fn post_form(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        fields: &[(&str, &str)],
    ) -> Result<HttpResponse, String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(Method::POST, url, headers, Some(body.into_bytes()))
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        form: Option<Vec<u8>>,
    ) -> Result<HttpResponse, String> {
        let uri = Self::check_url(url)?;
        match tokio::time::timeout(self.timeout, self.send_inner(method, &uri, headers, form)).await
        {
            Ok(r) => r.map_err(|e| format!("{}: {e}", redact(&uri))),
            Err(_) => Err(format!(
                "{}: no answer within {:?}",
                redact(&uri),
                self.timeout
            )),
        }
    }

    async fn send_inner(
        &self,
        method: Method,
        uri: &Uri,
        headers: &[(&str, &str)],
        form: Option<Vec<u8>>,
    ) -> Result<HttpResponse, String> {
        let host = uri.host().unwrap_or_default().to_string();
        let tls = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut req = Request::builder()
            .method(method)
            .uri(
                uri.path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into()),
            )
            .header(
                header::HOST,
                uri.authority().map(|a| a.as_str()).unwrap_or(&host),
            )
            .header(header::USER_AGENT, "corral")
            .header(header::ACCEPT, "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if form.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let req = req
            .body(Full::new(Bytes::from(form.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        if tls {
            let name = rustls::pki_types::ServerName::try_from(bare.clone())
                .map_err(|e| format!("server name: {e}"))?;
            let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(stream, req).await
        } else {
            exchange(tcp, req).await
        }
    }
}

async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<HttpResponse, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = Limited::new(resp.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| format!("reading the response: {e}"))?
        .to_bytes();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// The URI without its query (which may hold codes or secrets), for messages.
fn redact(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(HttpClient::check_url("https://idp.example/x").is_ok());
        assert!(HttpClient::check_url("http://127.0.0.1:8080/x").is_ok());
        assert!(HttpClient::check_url("http://[::1]:8080/x").is_ok());
        assert!(HttpClient::check_url("http://localhost/x").is_ok());
        assert!(HttpClient::check_url("http://idp.example/x").is_err());
        assert!(HttpClient::check_url("ftp://idp.example/x").is_err());
        assert!(HttpClient::check_url("/relative").is_err());
    }
}
