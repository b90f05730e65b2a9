//! The server end: one session per cluster, `dial` through it, and the
//! WebSocket upgrade that brings agents in.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use hyper_util::rt::TokioIo;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::config::TunnelConfig;
use crate::session::{self, SessionShared, TunnelStream};
use crate::{TunnelError, protocol};

/// Settings of the server end.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Session settings (keepalive, stream limits, buffer sizes).
    pub tunnel: TunnelConfig,
    /// Bound on a whole `dial`: opening the stream, the agent's TCP connect
    /// and its reply.
    pub dial_timeout: Duration,
    /// Capacity of the event channel; a subscriber that falls further behind
    /// gets `Lagged` and should re-read [`TunnelServer::sessions`].
    pub event_capacity: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tunnel: TunnelConfig::default(),
            dial_timeout: Duration::from_secs(30),
            event_capacity: 1024,
        }
    }
}

/// A connected agent, as listed by [`TunnelServer::sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The authenticated cluster id the session was accepted for.
    pub cluster_id: String,
    /// Unique per server process; a reconnect gets a new one.
    pub session_id: u64,
    /// When the session was established.
    pub connected_at: SystemTime,
    /// When anything (data, ping or pong) last arrived from the agent.
    pub last_seen: SystemTime,
    /// Streams currently open through the session.
    pub active_streams: usize,
}

/// A session came or went. Within one cluster, events arrive in order: a
/// replaced session's `Disconnected` comes before its successor's
/// `Connected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// An agent connected (possibly replacing an older session).
    Connected {
        /// The cluster id.
        cluster_id: String,
        /// The new session's id.
        session_id: u64,
    },
    /// A session ended.
    Disconnected {
        /// The cluster id.
        cluster_id: String,
        /// The ended session's id.
        session_id: u64,
        /// Why: peer closed, keepalive timeout, replaced, ...
        reason: String,
    },
}

#[derive(Debug)]
struct Entry {
    shared: Arc<SessionShared>,
    connected_at: SystemTime,
}

#[derive(Debug)]
struct Inner {
    config: ServerConfig,
    sessions: Mutex<HashMap<String, Entry>>,
    events: broadcast::Sender<SessionEvent>,
    next_id: AtomicU64,
}

/// The server end of the tunnel: keeps exactly one session per cluster id
/// and dials TCP connections through them. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct TunnelServer {
    inner: Arc<Inner>,
}

impl Default for TunnelServer {
    fn default() -> Self {
        TunnelServer::new(ServerConfig::default())
    }
}

impl TunnelServer {
    /// A server with no sessions yet.
    pub fn new(config: ServerConfig) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        TunnelServer {
            inner: Arc::new(Inner {
                config,
                sessions: Mutex::new(HashMap::new()),
                events,
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Validate a WebSocket upgrade request, answer it, and run the session
    /// for `cluster_id` once hyper hands over the connection.
    ///
    /// `cluster_id` must already be authenticated by the caller (who checked
    /// the agent's token); the tunnel does not decide who may connect.
    /// Return the response (status 101) from the hyper service; the session
    /// runs in a spawned task until it ends. The connection must be served
    /// with upgrades enabled (`serve_connection_with_upgrades` or
    /// `http1::Builder::serve_connection(..).with_upgrades()`).
    pub fn upgrade<B>(
        &self,
        request: http::Request<B>,
        cluster_id: impl Into<String>,
    ) -> Result<http::Response<()>, TunnelError> {
        let response = websocket_accept(&request)?;
        let on_upgrade = hyper::upgrade::on(request);
        let server = self.clone();
        let cluster_id = cluster_id.into();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    server.accept(TokioIo::new(upgraded), cluster_id).await;
                }
                Err(e) => tracing::debug!(%cluster_id, error = %e, "tunnel upgrade failed"),
            }
        });
        Ok(response)
    }

    /// Run a session for `cluster_id` over `io`, a connection on which the
    /// WebSocket handshake has already been answered (the raw upgraded
    /// bytes). Returns when the session ends, with the reason. Any existing
    /// session of the same cluster is closed first.
    pub async fn accept<S>(&self, io: S, cluster_id: impl Into<String>) -> TunnelError
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    {
        let cluster_id = cluster_id.into();
        let cfg = &self.inner.config.tunnel;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (shared, open_rx) = SessionShared::new(id, cfg);
        self.register(&cluster_id, shared.clone());
        let reason = session::run(
            io,
            Vec::new(),
            yamux::Mode::Server,
            cfg,
            shared,
            open_rx,
            |stream: yamux::Stream| {
                // Agents never open streams; dropping resets it.
                tracing::debug!(stream = %stream.id(), "ignoring stream opened by agent");
            },
        )
        .await;
        self.unregister(&cluster_id, id, &reason.to_string());
        reason
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves the map itself consistent.
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, cluster_id: &str, shared: Arc<SessionShared>) {
        let session_id = shared.id;
        let mut sessions = self.lock();
        let entry = Entry {
            shared,
            connected_at: SystemTime::now(),
        };
        if let Some(old) = sessions.insert(cluster_id.to_string(), entry) {
            let reason = "replaced by a new connection from the same cluster";
            old.shared.close(reason);
            tracing::info!(%cluster_id, old = old.shared.id, new = session_id, "tunnel session replaced");
            let _ = self.inner.events.send(SessionEvent::Disconnected {
                cluster_id: cluster_id.to_string(),
                session_id: old.shared.id,
                reason: reason.to_string(),
            });
        } else {
            tracing::info!(%cluster_id, session_id, "tunnel session connected");
        }
        let _ = self.inner.events.send(SessionEvent::Connected {
            cluster_id: cluster_id.to_string(),
            session_id,
        });
    }

    fn unregister(&self, cluster_id: &str, session_id: u64, reason: &str) {
        let mut sessions = self.lock();
        let current = sessions
            .get(cluster_id)
            .is_some_and(|e| e.shared.id == session_id);
        if current {
            sessions.remove(cluster_id);
            tracing::info!(%cluster_id, session_id, %reason, "tunnel session disconnected");
            let _ = self.inner.events.send(SessionEvent::Disconnected {
                cluster_id: cluster_id.to_string(),
                session_id,
                reason: reason.to_string(),
            });
        }
    }

    /// Open a TCP connection to `address` (`host:port`) from inside
    /// `cluster`, through its agent. Fails with
    /// [`NotConnected`](TunnelError::NotConnected) when the cluster has no
    /// session, [`Refused`](TunnelError::Refused) when the agent's allowlist
    /// does not have the address, [`DialFailed`](TunnelError::DialFailed)
    /// when the agent cannot reach it, and
    /// [`Timeout`](TunnelError::Timeout) after `dial_timeout`.
    pub async fn dial(&self, cluster: &str, address: &str) -> Result<TunnelStream, TunnelError> {
        let shared = self
            .lock()
            .get(cluster)
            .map(|e| e.shared.clone())
            .ok_or_else(|| TunnelError::NotConnected {
                cluster: cluster.to_string(),
            })?;
        let attempt = async {
            let (stream, slot) = shared.open().await?;
            let mut stream = TunnelStream::new(stream, slot);
            protocol::write_request(stream.inner_mut(), address).await?;
            protocol::read_reply(stream.inner_mut())
                .await?
                .into_result(address)?;
            Ok(stream)
        };
        let result = match tokio::time::timeout(self.inner.config.dial_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(TunnelError::Timeout("dial through the tunnel")),
        };
        result.map_err(|e| match (e, shared.closed_reason()) {
            (TunnelError::Io(_), Some(reason)) => TunnelError::SessionClosed(reason.to_string()),
            (e, _) => e,
        })
    }

    /// The connected sessions, in no particular order.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.lock()
            .iter()
            .map(|(cluster_id, entry)| info(cluster_id, entry))
            .collect()
    }

    /// The session of one cluster, if connected.
    pub fn session(&self, cluster_id: &str) -> Option<SessionInfo> {
        self.lock().get(cluster_id).map(|e| info(cluster_id, e))
    }

    /// Whether the cluster has a connected session.
    pub fn is_connected(&self, cluster_id: &str) -> bool {
        self.lock().contains_key(cluster_id)
    }

    /// Connect and disconnect events from now on. Start from
    /// [`sessions`](Self::sessions) to know the current state.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    /// Close the cluster's session (for example when the cluster is removed);
    /// its streams fail. Returns whether there was one. The agent will try to
    /// reconnect; refuse it at authentication to keep it out.
    pub fn disconnect(&self, cluster_id: &str) -> bool {
        match self.lock().get(cluster_id) {
            Some(entry) => {
                entry.shared.close("disconnected by the server");
                true
            }
            None => false,
        }
    }

    /// Close every session (server shutdown).
    pub fn shutdown(&self) {
        for entry in self.lock().values() {
            entry.shared.close("server shutting down");
        }
    }
}

fn info(cluster_id: &str, entry: &Entry) -> SessionInfo {
    let liveness = &entry.shared.liveness;
    SessionInfo {
        cluster_id: cluster_id.to_string(),
        session_id: entry.shared.id,
        connected_at: entry.connected_at,
        last_seen: entry.connected_at + liveness.last_rx_offset(),
        active_streams: entry.shared.active_streams(),
    }
}

/// Check that `request` is a WebSocket upgrade (RFC 6455 over HTTP/1.1) and
/// build the `101 Switching Protocols` answer. Does not look at the path or
/// at credentials: that is the caller's routing and authentication.
pub fn websocket_accept<B>(request: &http::Request<B>) -> Result<http::Response<()>, TunnelError> {
    use http::header;
    if request.method() != http::Method::GET {
        return Err(TunnelError::BadUpgrade("method must be GET"));
    }
    if request.version() != http::Version::HTTP_11 {
        return Err(TunnelError::BadUpgrade("WebSocket upgrade needs HTTP/1.1"));
    }
    let headers = request.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(TunnelError::BadUpgrade(
            "Connection header must contain upgrade",
        ));
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Err(TunnelError::BadUpgrade("Upgrade header must be websocket"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(TunnelError::BadUpgrade("Sec-WebSocket-Version must be 13"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(TunnelError::BadUpgrade("missing Sec-WebSocket-Key"))?;
    let accept = derive_accept_key(key.as_bytes());
    http::Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(())
        .map_err(|_| TunnelError::BadUpgrade("unrepresentable accept key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> http::request::Builder {
        http::Request::builder()
            .method("GET")
            .uri("/v3/connect")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "WebSocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    }

    #[test]
    fn accepts_a_valid_upgrade_with_the_rfc_example_key() {
        let response = websocket_accept(&request().body(()).unwrap()).unwrap();
        assert_eq!(response.status(), 101);
        assert_eq!(
            response.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rejects_non_upgrades() {
        let plain = http::Request::builder()
            .uri("/v3/connect")
            .body(())
            .unwrap();
        assert!(websocket_accept(&plain).is_err());
        let post = request().method("POST").body(()).unwrap();
        assert!(websocket_accept(&post).is_err());
        let mut old = request().body(()).unwrap();
        old.headers_mut()
            .insert("sec-websocket-version", "8".parse().unwrap());
        assert!(websocket_accept(&old).is_err());
        let mut keyless = request().body(()).unwrap();
        keyless.headers_mut().remove("sec-websocket-key");
        assert!(websocket_accept(&keyless).is_err());
    }
}
