//! The agent end: dial out to the server, keep the session up (reconnecting
//! with backoff), and serve the server's dial requests within an allowlist.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::TunnelError;
use crate::config::{Backoff, TunnelConfig};
use crate::protocol::{self, Reply};
use crate::session::{self, SessionShared};

/// Which addresses the agent will connect to on the server's behalf.
///
/// Anything else is refused, and the server's `dial` gets
/// [`TunnelError::Refused`].
#[derive(Clone)]
pub struct Allowlist(Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl fmt::Debug for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Allowlist(..)")
    }
}

impl Allowlist {
    /// Exactly these `host:port` strings (hosts compared case-insensitively,
    /// no name resolution: `localhost:80` does not allow `127.0.0.1:80`).
    pub fn addresses<I, S>(addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allowed: Vec<String> = addresses
            .into_iter()
            .map(|a| a.as_ref().to_ascii_lowercase())
            .collect();
        Allowlist(Arc::new(move |address: &str| {
            allowed.iter().any(|a| a.eq_ignore_ascii_case(address))
        }))
    }

    /// Whatever `allow` says yes to.
    pub fn predicate(allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Allowlist(Arc::new(allow))
    }

    /// Whether `address` may be dialed.
    pub fn allows(&self, address: &str) -> bool {
        (self.0)(address)
    }
}

/// Everything the agent needs to reach the server.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `ws://` or `wss://` URL of the server's connect endpoint, for example
    /// `wss://corral.example:443/v3/connect`.
    pub url: String,
    /// Headers sent with the upgrade request: credentials and identity
    /// (see [`bearer_token`](Self::bearer_token) and
    /// [`CLUSTER_ID_HEADER`](crate::CLUSTER_ID_HEADER)). Never logged.
    pub headers: HeaderMap,
    /// TLS client settings for `wss://` (trust anchors: usually the Corral
    /// CA). The ALPN list is replaced by `http/1.1`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// What the server may ask the agent to dial.
    pub allowlist: Allowlist,
    /// Session settings (keepalive, limits, buffers).
    pub tunnel: TunnelConfig,
    /// Reconnect pacing.
    pub backoff: Backoff,
    /// Bound on TCP connect + TLS + WebSocket handshake to the server
    /// (default 5 s, so an attempt into a partitioned network gives up soon
    /// and the next one starts; with the default backoff cap of 5 s an agent
    /// is back within about 10 s of its network returning).
    pub connect_timeout: Duration,
    /// Bound on the agent's TCP connect to a dialed address.
    pub dial_timeout: Duration,
}

impl AgentConfig {
    /// A config with default timings, no headers and no TLS settings.
    pub fn new(url: impl Into<String>, allowlist: Allowlist) -> Self {
        AgentConfig {
            url: url.into(),
            headers: HeaderMap::new(),
            tls: None,
            allowlist,
            tunnel: TunnelConfig::default(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(10),
        }
    }

    /// Send `Authorization: Bearer <token>` (marked sensitive).
    pub fn bearer_token(self, token: &str) -> Result<Self, TunnelError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| TunnelError::Config("token is not a valid header value".into()))?;
        value.set_sensitive(true);
        let mut this = self;
        this.headers.insert(http::header::AUTHORIZATION, value);
        Ok(this)
    }

    /// Send one more header with the upgrade request.
    pub fn header(self, name: &str, value: &str) -> Result<Self, TunnelError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| TunnelError::Config(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| TunnelError::Config(format!("invalid value for header {name}")))?;
        let mut this = self;
        this.headers.insert(name, value);
        Ok(this)
    }
}

/// What the agent's reconnect loop is doing; for logs, status and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A connection attempt starts (`attempt` counts failures since the last
    /// stable session).
    Connecting {
        /// Attempt number.
        attempt: u32,
    },
    /// The session is up.
    Connected,
    /// The attempt failed before a session was up.
    ConnectFailed {
        /// Attempt number.
        attempt: u32,
        /// What went wrong.
        error: String,
    },
    /// An established session ended.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Waiting before the next attempt.
    Backoff {
        /// Attempt number the delay was computed for.
        attempt: u32,
        /// How long.
        delay: Duration,
    },
}

/// The agent end of the tunnel. [`run`](Self::run) keeps a session to the
/// server up until told to stop.
#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    target: Target,
    events: broadcast::Sender<AgentEvent>,
    connected: watch::Sender<bool>,
    next_session: AtomicU64,
}

#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// What the session runs on: plain TCP or TLS over TCP.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

impl Agent {
    /// Check the URL (and TLS settings for `wss://`) and make an agent.
    pub fn new(config: AgentConfig) -> Result<Self, TunnelError> {
        let uri: http::Uri = config
            .url
            .parse()
            .map_err(|e| TunnelError::Config(format!("bad url {:?}: {e}", config.url)))?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => return Err(TunnelError::Config("url scheme must be ws or wss".into())),
        };
        let host = uri
            .host()
            .ok_or_else(|| TunnelError::Config("url has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = if secure {
            let base = config.tls.clone().ok_or_else(|| {
                TunnelError::Config("wss:// needs TLS client settings (AgentConfig::tls)".into())
            })?;
            let mut tls = (*base).clone();
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsConnector::from(Arc::new(tls)))
        } else {
            None
        };
        let (events, _) = broadcast::channel(256);
        let (connected, _) = watch::channel(false);
        Ok(Agent {
            config,
            target: Target { host, port, tls },
            events,
            connected,
            next_session: AtomicU64::new(1),
        })
    }

    /// Reconnect-loop events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.events.subscribe()
    }

    /// Whether a session is up, as a watch.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    fn emit(&self, event: AgentEvent) {
        let _ = self.events.send(event);
    }

    /// Keep a session up until `shutdown` completes: connect, serve the
    /// server's dials, and after any failure wait per the backoff and try
    /// again. Returns only on shutdown; closes the session on the way out.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut attempt: u32 = 0;
        loop {
            self.emit(AgentEvent::Connecting { attempt });
            let result = tokio::select! {
                r = self.connect() => r,
                () = &mut shutdown => return,
            };
            match result {
                Ok((io, prefix)) => {
                    let started = tokio::time::Instant::now();
                    self.connected.send_replace(true);
                    self.emit(AgentEvent::Connected);
                    tracing::info!(url = %self.config.url, "tunnel connected");
                    let reason = tokio::select! {
                        r = self.serve(io, prefix) => r,
                        () = &mut shutdown => {
                            self.connected.send_replace(false);
                            return;
                        }
                    };
                    self.connected.send_replace(false);
                    tracing::warn!(%reason, "tunnel session ended");
                    self.emit(AgentEvent::Disconnected {
                        reason: reason.to_string(),
                    });
                    if started.elapsed() >= self.config.backoff.reset_after {
                        attempt = 0;
                    }
                }
                Err(e) => {
                    tracing::warn!(url = %self.config.url, error = %e, attempt, "tunnel connect failed");
                    self.emit(AgentEvent::ConnectFailed {
                        attempt,
                        error: e.to_string(),
                    });
                }
            }
            let delay = self.config.backoff.delay(attempt);
            self.emit(AgentEvent::Backoff { attempt, delay });
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// TCP (+ TLS) + WebSocket handshake, bounded by `connect_timeout`.
    /// Returns the upgraded connection and whatever was read past the
    /// server's `101` response.
    async fn connect(&self) -> Result<(Box<dyn Transport>, Vec<u8>), TunnelError> {
        let attempt = async {
            let target = &self.target;
            let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
            let _ = tcp.set_nodelay(true);
            let mut io: Box<dyn Transport> = match &target.tls {
                Some(tls) => {
                    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                        .map_err(|e| TunnelError::Config(format!("TLS server name: {e}")))?;
                    Box::new(tls.connect(name, tcp).await?)
                }
                None => Box::new(tcp),
            };
            let prefix =
                websocket_handshake(&mut io, &self.config.url, &self.config.headers).await?;
            Ok((io, prefix))
        };
        tokio::time::timeout(self.config.connect_timeout, attempt)
            .await
            .unwrap_or(Err(TunnelError::Timeout("connecting to the tunnel server")))
    }

    /// Serve one session until it ends; returns why.
    async fn serve(&self, io: Box<dyn Transport>, prefix: Vec<u8>) -> TunnelError {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let (shared, open_rx) = SessionShared::new(id, &self.config.tunnel);
        // If this future is dropped (shutdown), stream handlers stop too.
        let _stop_handlers = shared.cancel.clone().drop_guard();
        let ctx = Arc::new(DialContext {
            allowlist: self.config.allowlist.clone(),
            dial_timeout: self.config.dial_timeout,
        });
        let cancel = shared.cancel.clone();
        session::run(
            io,
            prefix,
            yamux::Mode::Client,
            &self.config.tunnel,
            shared,
            open_rx,
            move |stream| {
                let ctx = ctx.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = handle_dial(stream, &ctx) => {}
                        () = cancel.cancelled() => {}
                    }
                });
            },
        )
        .await
    }
}

/// Largest HTTP response head accepted from the server during the upgrade.
const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// The client side of the WebSocket upgrade (RFC 6455 section 4.1) on `io`:
/// send the request (with `headers`), check the `101` answer and its accept
/// key. Returns the bytes read past the response head: the server may start
/// sending frames right after it.
async fn websocket_handshake(
    io: &mut Box<dyn Transport>,
    url: &str,
    headers: &HeaderMap,
) -> Result<Vec<u8>, TunnelError> {
    use tokio_tungstenite::tungstenite::handshake::{client::generate_request, derive_accept_key};
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let (bytes, key) = generate_request(request)?;
    io.write_all(&bytes).await?;
    io.flush().await?;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        buf.reserve(1024);
        if io.read_buf(&mut buf).await? == 0 {
            return Err(TunnelError::WebSocket(
                "connection closed during the upgrade".into(),
            ));
        }
        let mut parsed = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut parsed);
        let head_len = match response.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() < MAX_RESPONSE_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(TunnelError::WebSocket("upgrade response too large".into()));
            }
            Err(e) => {
                return Err(TunnelError::WebSocket(format!("bad upgrade response: {e}")));
            }
        };
        let status = response.code.unwrap_or(0);
        if status != 101 {
            return Err(TunnelError::Rejected { status });
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket")) {
            return Err(TunnelError::WebSocket(
                "upgrade response lacks Upgrade: websocket".into(),
            ));
        }
        if header("sec-websocket-accept") != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
            return Err(TunnelError::WebSocket(
                "upgrade response has a wrong Sec-WebSocket-Accept".into(),
            ));
        }
        return Ok(buf.split_off(head_len));
    }
}

/// What a stream handler needs.
struct DialContext {
    allowlist: Allowlist,
    dial_timeout: Duration,
}

/// Time the server gets to send its dial request on a new stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Buffer for the target-to-server direction while a dialed connection is
/// active (the other direction writes yamux's own buffers, no copy buffer).
const COPY_BUFFER: usize = 64 << 10;

/// Serve one stream the server opened: read the dial request, check the
/// allowlist, connect, answer, then relay bytes both ways.
async fn handle_dial(stream: yamux::Stream, ctx: &DialContext) {
    let mut stream = stream.compat();
    let address =
        match tokio::time::timeout(REQUEST_TIMEOUT, protocol::read_request(&mut stream)).await {
            Ok(Ok(address)) => address,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "bad dial request");
                finish(&mut stream, Reply::BadRequest(e.to_string())).await;
                return;
            }
            Err(_) => return,
        };
    if !ctx.allowlist.allows(&address) {
        tracing::warn!(%address, "refusing dial: address is not on the allowlist");
        let reply = Reply::Refused("address is not on the agent's allowlist".into());
        finish(&mut stream, reply).await;
        return;
    }
    let mut tcp = match tokio::time::timeout(ctx.dial_timeout, TcpStream::connect(&address)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            tracing::debug!(%address, error = %e, "dial failed");
            finish(&mut stream, Reply::DialFailed(e.to_string())).await;
            return;
        }
        Err(_) => {
            let message = format!("connect timed out after {:?}", ctx.dial_timeout);
            finish(&mut stream, Reply::DialFailed(message)).await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    if protocol::write_reply(&mut stream, &Reply::Ok)
        .await
        .is_err()
    {
        return;
    }
    match relay(stream.into_inner(), &mut tcp).await {
        Ok((up, down)) => tracing::trace!(%address, up, down, "dialed connection finished"),
        Err(e) => tracing::debug!(%address, error = %e, "dialed connection ended with error"),
    }
}

/// Move bytes both ways between a stream and the connection dialed for it
/// until both directions are done; returns the bytes moved (up = to the
/// target, down = from it). Like `tokio::io::copy_bidirectional`, an EOF on
/// one side shuts down the write half of the other, but data from the
/// server is written to the target straight from the frames yamux received
/// (no copy into an intermediate buffer).
async fn relay(mut stream: yamux::Stream, tcp: &mut TcpStream) -> std::io::Result<(u64, u64)> {
    use futures::{AsyncWrite as _, Stream as _};
    use std::pin::Pin;
    use std::task::Poll;

    // Server -> target: a frame's bytes being written, and how far.
    let mut pending: Option<(yamux::Packet, usize)> = None;
    let mut up_done = false;
    let mut up = 0u64;
    // Target -> server: `buf[start..end]` still to be written to the stream.
    let mut buf = vec![0u8; COPY_BUFFER];
    let (mut start, mut end) = (0usize, 0usize);
    let mut target_eof = false;
    let mut down_done = false;
    let mut down = 0u64;

    std::future::poll_fn(|cx| {
        let mut progress = true;
        while progress {
            progress = false;
            // Server -> target.
            while !up_done {
                if let Some((packet, pos)) = &mut pending {
                    let data = &packet.as_ref()[*pos..];
                    if data.is_empty() {
                        pending = None;
                        continue;
                    }
                    match Pin::new(&mut *tcp).poll_write(cx, data) {
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                        }
                        Poll::Ready(Ok(n)) => {
                            *pos += n;
                            up += n as u64;
                            progress = true;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => break,
                    }
                    continue;
                }
                match Pin::new(&mut stream).poll_next(cx) {
                    Poll::Ready(Some(Ok(packet))) => pending = Some((packet, 0)),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Ready(None) => match Pin::new(&mut *tcp).poll_shutdown(cx) {
                        Poll::Ready(_) => {
                            up_done = true;
                            progress = true;
                        }
                        Poll::Pending => break,
                    },
                    Poll::Pending => break,
                }
            }
            // Target -> server.
            while !down_done {
                if start < end {
                    match Pin::new(&mut stream).poll_write(cx, &buf[start..end]) {
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                        }
                        Poll::Ready(Ok(n)) => {
                            start += n;
                            down += n as u64;
                            progress = true;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => break,
                    }
                    continue;
                }
                if target_eof {
                    match Pin::new(&mut stream).poll_close(cx) {
                        Poll::Ready(Ok(())) => {
                            down_done = true;
                            progress = true;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => break,
                    }
                    continue;
                }
                let mut read = tokio::io::ReadBuf::new(&mut buf);
                match Pin::new(&mut *tcp).poll_read(cx, &mut read) {
                    Poll::Ready(Ok(())) => {
                        let n = read.filled().len();
                        (start, end) = (0, n);
                        target_eof = n == 0;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
        }
        if up_done && down_done {
            Poll::Ready(Ok((up, down)))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Send a failure reply and close our side of the stream.
async fn finish<S: AsyncWrite + Unpin>(stream: &mut S, reply: Reply) {
    if protocol::write_reply(stream, &reply).await.is_ok() {
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_exact_addresses_only() {
        let allow = Allowlist::addresses(["Kubernetes.default.svc:443", "10.0.0.1:6443"]);
        assert!(allow.allows("kubernetes.default.svc:443"));
        assert!(allow.allows("10.0.0.1:6443"));
        assert!(!allow.allows("10.0.0.1:22"));
        assert!(!allow.allows("10.0.0.1:64430"));
        assert!(!allow.allows(""));
        let pred = Allowlist::predicate(|a| a.ends_with(":443"));
        assert!(pred.allows("x:443") && !pred.allows("x:80"));
    }

    /// An agent whose network comes back reconnects within 10 s: at worst
    /// the attempt in flight times out and the capped backoff runs once.
    #[test]
    fn default_reconnect_bound() {
        let cfg = AgentConfig::new("ws://x/", Allowlist::predicate(|_| true));
        assert!(cfg.connect_timeout + cfg.backoff.max <= Duration::from_secs(10));
    }

    #[test]
    fn config_validation() {
        let allow = Allowlist::addresses(Vec::<String>::new());
        assert!(Agent::new(AgentConfig::new("http://x/v3/connect", allow.clone())).is_err());
        assert!(Agent::new(AgentConfig::new("wss://x/v3/connect", allow.clone())).is_err());
        let agent = Agent::new(AgentConfig::new("ws://[::1]/v3/connect", allow.clone())).unwrap();
        assert_eq!(agent.target.host, "::1");
        assert_eq!(agent.target.port, 80);
        let cfg = AgentConfig::new("ws://x/", allow)
            .bearer_token("secret")
            .unwrap()
            .header("x-corral-cluster", "c-1")
            .unwrap();
        assert!(cfg.headers["authorization"].is_sensitive());
        assert!(
            AgentConfig::new("ws://x/", Allowlist::predicate(|_| true))
                .header("bad header", "v")
                .is_err()
        );
    }
}
