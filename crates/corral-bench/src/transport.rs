//! HTTP transport to the API server under test.
//!
//! Two interchangeable clients:
//! * `hyper` (default): one dedicated hyper connection per worker, TLS via rustls/ring,
//!   HTTP/1.1 keep-alive (or HTTP/2 with `--http2`). Nothing but the request is on the
//!   hot path: no tower stack, no pool lookups.
//! * `kube`: a cloned `kube::Client` (tower stack over a hyper-util pooled HTTP/1.1
//!   client). Handy as a reference and for kubeconfigs with exec/auth-provider users.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::util::status_message;

const USER_AGENT: &str = concat!("corral-bench/", env!("CARGO_PKG_VERSION"));
const JSON: &str = "application/json";

/// Which HTTP client implementation to drive the server with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Hand-built hyper client: one dedicated connection per worker.
    Hyper,
    /// kube::Client (tower + hyper-util pool).
    Kube,
}

/// A fully-read response.
pub struct Resp {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Resp {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// "409 Conflict: AlreadyExists: configmaps "x" already exists"
    pub fn error_message(&self) -> String {
        status_message(self.status, &self.body)
    }
}

/// Where and how to connect; cheap to clone.
#[derive(Clone)]
pub struct Target {
    inner: TargetInner,
    pub url: String,
    request_timeout: Duration,
}

#[derive(Clone)]
enum TargetInner {
    Hyper(Arc<HyperShared>),
    Kube(kube::Client),
}

struct HyperShared {
    tls: Option<TlsConnector>,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    base_path: String,
    auth: Option<HeaderValue>,
    http2: bool,
    connect_timeout: Duration,
}

pub struct TargetOptions {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub kind: ClientKind,
    pub http2: bool,
    pub insecure: bool,
    pub request_timeout: Duration,
}

impl Target {
    /// Build a target from a kubeconfig (path list separated by ':' like $KUBECONFIG).
    pub async fn from_kubeconfig(opts: &TargetOptions) -> Result<Target> {
        let kubeconfig = match &opts.kubeconfig {
            Some(list) if !list.is_empty() => {
                let mut merged: Option<kube::config::Kubeconfig> = None;
                for p in list.split(':').filter(|p| !p.is_empty()) {
                    let kc = kube::config::Kubeconfig::read_from(PathBuf::from(p))
                        .with_context(|| format!("reading kubeconfig {p}"))?;
                    merged = Some(match merged {
                        None => kc,
                        Some(m) => m.merge(kc).context("merging kubeconfigs")?,
                    });
                }
                merged.ok_or_else(|| anyhow!("empty --kubeconfig"))?
            }
            _ => kube::config::Kubeconfig::read()
                .context("no --kubeconfig/$KUBECONFIG and reading ~/.kube/config failed")?,
        };
        let kopts = kube::config::KubeConfigOptions {
            context: opts.context.clone(),
            cluster: None,
            user: None,
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &kopts)
            .await
            .context("loading kubeconfig")?;
        if opts.insecure {
            config.accept_invalid_certs = true;
        }
        let url = config.cluster_url.to_string();
        let inner = match opts.kind {
            ClientKind::Kube => {
                // Measure the server, not kube's retry policy.
                config.default_retry = false;
                config.read_timeout = None;
                let client = kube::Client::try_from(config).context("building kube client")?;
                TargetInner::Kube(client)
            }
            ClientKind::Hyper => TargetInner::Hyper(Arc::new(HyperShared::from_kube_config(
                &config, opts.http2,
            )?)),
        };
        Ok(Target {
            inner,
            url,
            request_timeout: opts.request_timeout,
        })
    }

    /// An unauthenticated target for probing `/readyz` etc. (certificate not verified).
    pub fn from_url_insecure(url: &str, request_timeout: Duration) -> Result<Target> {
        let uri: Uri = url.parse().with_context(|| format!("bad url {url}"))?;
        let mut config = kube::Config::new(uri);
        config.accept_invalid_certs = true;
        let shared = HyperShared::from_kube_config(&config, false)?;
        Ok(Target {
            inner: TargetInner::Hyper(Arc::new(shared)),
            url: url.to_string(),
            request_timeout,
        })
    }

    /// A per-worker connection handle (connects lazily).
    pub fn conn(&self) -> Conn {
        match &self.inner {
            TargetInner::Hyper(shared) => Conn {
                inner: ConnInner::Hyper {
                    shared: shared.clone(),
                    sender: None,
                },
                timeout: self.request_timeout,
            },
            TargetInner::Kube(client) => Conn {
                inner: ConnInner::Kube(client.clone()),
                timeout: self.request_timeout,
            },
        }
    }
}

impl HyperShared {
    fn from_kube_config(config: &kube::Config, http2: bool) -> Result<HyperShared> {
        let uri = &config.cluster_url;
        let scheme = uri.scheme().cloned().unwrap_or(http::uri::Scheme::HTTPS);
        let https = scheme == http::uri::Scheme::HTTPS;
        if !https && scheme != http::uri::Scheme::HTTP {
            bail!("unsupported scheme in server url {uri}");
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("server url {uri} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| anyhow!("server url {uri} has no authority"))?;
        let base_path = uri.path().trim_end_matches('/').to_string();
        let sni = config
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host.clone());
        let server_name = ServerName::try_from(sni.clone())
            .with_context(|| format!("bad TLS server name {sni}"))?;

        let auth = auth_header(&config.auth_info)?;
        let tls = if https {
            Some(tls_connector(config, http2)?)
        } else {
            None
        };
        Ok(HyperShared {
            tls,
            host,
            port,
            server_name,
            scheme,
            authority,
            base_path,
            auth,
            http2,
            connect_timeout: config.connect_timeout.unwrap_or(Duration::from_secs(10)),
        })
    }
}

fn auth_header(ai: &kube::config::AuthInfo) -> Result<Option<HeaderValue>> {
    let token = if let Some(t) = &ai.token {
        Some(t.expose_secret().to_string())
    } else if let Some(f) = &ai.token_file {
        Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading token file {f}"))?
                .trim()
                .to_string(),
        )
    } else {
        None
    };
    let value = if let Some(t) = token {
        Some(format!("Bearer {t}"))
    } else if let (Some(u), Some(p)) = (&ai.username, &ai.password) {
        let raw = format!("{u}:{}", p.expose_secret());
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    } else {
        None
    };
    if value.is_none()
        && (ai.exec.is_some() || ai.auth_provider.is_some())
        && ai.client_certificate.is_none()
        && ai.client_certificate_data.is_none()
    {
        bail!("kubeconfig user uses exec/auth-provider credentials: run with --client kube");
    }
    match value {
        Some(v) => {
            let mut hv = HeaderValue::from_str(&v).context("credential is not a valid header")?;
            hv.set_sensitive(true);
            Ok(Some(hv))
        }
        None => Ok(None),
    }
}

fn load_b64_or_file(
    data: Option<&str>,
    file: Option<&String>,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    if let Some(d) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .with_context(|| format!("{what}: bad base64"))?;
        return Ok(Some(bytes));
    }
    if let Some(f) = file {
        return Ok(Some(
            std::fs::read(f).with_context(|| format!("{what}: reading {f}"))?,
        ));
    }
    Ok(None)
}

fn tls_connector(config: &kube::Config, http2: bool) -> Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if config.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for der in config.root_cert.iter().flatten() {
            roots
                .add(CertificateDer::from(der.clone()))
                .context("adding certificate-authority to trust store")?;
        }
        if roots.is_empty() {
            bail!(
                "kubeconfig has no certificate-authority(-data) for the cluster; pass --insecure to skip verification"
            );
        }
        builder.with_root_certificates(roots)
    };
    let ai = &config.auth_info;
    let cert_pem = load_b64_or_file(
        ai.client_certificate_data.as_deref(),
        ai.client_certificate.as_ref(),
        "client-certificate",
    )?;
    let key_pem = load_b64_or_file(
        ai.client_key_data.as_ref().map(|s| s.expose_secret()),
        ai.client_key.as_ref(),
        "client-key",
    )?;
    let mut tls = match (cert_pem, key_pem) {
        (Some(cert), Some(key)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow!("client-certificate PEM: {e:?}"))?;
            let key = PrivateKeyDer::from_pem_slice(&key)
                .map_err(|e| anyhow!("client-key PEM: {e:?}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .context("client certificate")?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("kubeconfig user has only one of client-certificate / client-key"),
    };
    tls.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsConnector::from(Arc::new(tls)))
}

#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
    fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }
}

async fn handshake<I>(io: I, h2: bool) -> Result<Sender>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if h2 {
        let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .context("HTTP/2 handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H1(sender))
    }
}

async fn connect(shared: &HyperShared) -> Result<Sender> {
    let addr = (shared.host.as_str(), shared.port);
    let tcp = tokio::time::timeout(shared.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connect to {}:{} timed out", shared.host, shared.port))?
        .with_context(|| format!("connect to {}:{}", shared.host, shared.port))?;
    let _ = tcp.set_nodelay(true);
    match &shared.tls {
        None => handshake(TokioIo::new(tcp), false).await,
        Some(tls) => {
            let stream = tokio::time::timeout(
                shared.connect_timeout,
                tls.connect(shared.server_name.clone(), tcp),
            )
            .await
            .map_err(|_| anyhow!("TLS handshake timed out"))?
            .context("TLS handshake")?;
            let h2 = shared.http2 && stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            handshake(TokioIo::new(stream), h2).await
        }
    }
}

/// A streaming response body (used by watches).
pub enum BodyStream {
    Hyper(Incoming),
    Kube(kube::client::Body),
}

impl BodyStream {
    /// Next data chunk; `None` at end of stream.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        loop {
            let frame = match self {
                BodyStream::Hyper(b) => b.frame().await.map(|r| r.map_err(anyhow::Error::from)),
                BodyStream::Kube(b) => b.frame().await.map(|r| r.map_err(anyhow::Error::from)),
            };
            match frame {
                None => return None,
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Some(Ok(data));
                    }
                }
            }
        }
    }

    /// Read the rest of the body, at most `limit` bytes (for error messages).
    pub async fn read_limited(&mut self, limit: usize) -> Bytes {
        let mut buf = Vec::new();
        while buf.len() < limit {
            match self.next_chunk().await {
                Some(Ok(b)) => buf.extend_from_slice(&b),
                _ => break,
            }
        }
        buf.truncate(limit);
        Bytes::from(buf)
    }
}

/// One worker's connection.
pub struct Conn {
    inner: ConnInner,
    timeout: Duration,
}

enum ConnInner {
    Hyper {
        shared: Arc<HyperShared>,
        sender: Option<Sender>,
    },
    Kube(kube::Client),
}

impl Conn {
    /// Send a request and read the whole response body, bounded by the request timeout.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Resp> {
        self.request_typed(method, path, body, JSON).await
    }

    /// [`Conn::request`] with the body's media type (e.g. `application/merge-patch+json`).
    pub async fn request_typed(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        content_type: &'static str,
    ) -> Result<Resp> {
        let timeout = self.timeout;
        let fut = async {
            let (status, mut stream) = self.send(method.clone(), path, body, content_type).await?;
            let mut buf = bytes::BytesMut::new();
            while let Some(chunk) = stream.next_chunk().await {
                buf.extend_from_slice(&chunk.context("reading response body")?);
            }
            Ok::<_, anyhow::Error>(Resp {
                status,
                body: buf.freeze(),
            })
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.with_context(|| format!("{method} {path}")),
            Err(_) => {
                self.reset();
                Err(anyhow!(
                    "{method} {path}: no complete response within {timeout:?}"
                ))
            }
        }
    }

    /// Send a request and return the status and the body as a stream (response
    /// headers bounded by the request timeout; the body is not).
    pub async fn stream(&mut self, path: &str) -> Result<(StatusCode, BodyStream)> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.send(Method::GET, path, None, JSON)).await {
            Ok(r) => r.with_context(|| format!("GET {path}")),
            Err(_) => {
                self.reset();
                Err(anyhow!(
                    "GET {path}: no response headers within {timeout:?}"
                ))
            }
        }
    }

    fn reset(&mut self) {
        if let ConnInner::Hyper { sender, .. } = &mut self.inner {
            *sender = None;
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        content_type: &'static str,
    ) -> Result<(StatusCode, BodyStream)> {
        match &mut self.inner {
            ConnInner::Kube(client) => {
                let mut b = Request::builder()
                    .method(method)
                    .uri(path)
                    .header(header::ACCEPT, "application/json")
                    .header(header::USER_AGENT, USER_AGENT);
                if body.is_some() {
                    b = b.header(header::CONTENT_TYPE, content_type);
                }
                let req = b
                    .body(kube::client::Body::from(body.unwrap_or_default()))
                    .context("building request")?;
                let resp = client.send(req).await.map_err(anyhow::Error::from)?;
                let status = resp.status();
                Ok((status, BodyStream::Kube(resp.into_body())))
            }
            ConnInner::Hyper { shared, sender } => {
                let body = body.unwrap_or_default();
                // At most one reconnect: when the kept-alive connection turned out to be
                // closed before anything was sent, or for an idempotent GET.
                for attempt in 0..2 {
                    if sender.as_ref().is_none_or(|s| s.is_closed()) {
                        *sender = Some(connect(shared).await?);
                    }
                    let Some(s) = sender.as_mut() else {
                        bail!("no connection");
                    };
                    let req = build_hyper_request(
                        shared,
                        s.is_h2(),
                        &method,
                        path,
                        body.clone(),
                        content_type,
                    )?;
                    let ready = match s {
                        Sender::H1(s) => s.ready().await,
                        Sender::H2(s) => s.ready().await,
                    };
                    if let Err(e) = ready {
                        *sender = None;
                        if attempt == 0 {
                            continue;
                        }
                        return Err(anyhow::Error::from(e).context("connection not ready"));
                    }
                    let res = match s {
                        Sender::H1(s) => s.send_request(req).await,
                        Sender::H2(s) => s.send_request(req).await,
                    };
                    match res {
                        Ok(resp) => {
                            let status = resp.status();
                            return Ok((status, BodyStream::Hyper(resp.into_body())));
                        }
                        Err(e) => {
                            *sender = None;
                            if attempt == 0 && method == Method::GET {
                                continue;
                            }
                            return Err(anyhow::Error::from(e));
                        }
                    }
                }
                bail!("request failed after reconnect")
            }
        }
    }
}

fn build_hyper_request(
    shared: &HyperShared,
    h2: bool,
    method: &Method,
    path: &str,
    body: Bytes,
    content_type: &'static str,
) -> Result<Request<Full<Bytes>>> {
    let full_path = format!("{}{}", shared.base_path, path);
    let mut b = Request::builder().method(method.clone());
    if h2 {
        let uri = Uri::builder()
            .scheme(shared.scheme.clone())
            .authority(shared.authority.clone())
            .path_and_query(full_path)
            .build()
            .context("building request uri")?;
        b = b.uri(uri);
    } else {
        b = b
            .uri(full_path)
            .header(header::HOST, shared.authority.as_str());
    }
    b = b
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, USER_AGENT);
    if !body.is_empty() {
        b = b.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(a) = &shared.auth {
        b = b.header(header::AUTHORIZATION, a.clone());
    }
    b.body(Full::new(body)).context("building request")
}
