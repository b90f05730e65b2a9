//! The one error type of the crate.

use std::io;

/// Everything that can go wrong in the tunnel, on either side.
///
/// Errors that come from the far side of the tunnel (the agent refused an
/// address, or could not reach it) are distinct variants so the server can
/// tell "not allowed" from "not reachable" from "no agent".
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// No agent session for this cluster is connected.
    #[error("cluster {cluster} has no connected agent")]
    NotConnected {
        /// The cluster id asked for.
        cluster: String,
    },
    /// The agent refused to dial the address (it is not on its allowlist).
    #[error("agent refused to dial {address}: {message}")]
    Refused {
        /// The address the server asked for.
        address: String,
        /// The agent's explanation.
        message: String,
    },
    /// The agent tried to dial the address and failed.
    #[error("agent could not dial {address}: {message}")]
    DialFailed {
        /// The address the server asked for.
        address: String,
        /// The agent's explanation (connection refused, timeout, ...).
        message: String,
    },
    /// The session ended (peer gone, keepalive timeout, replaced, shut down).
    #[error("tunnel session closed: {0}")]
    SessionClosed(String),
    /// The peer did not answer keepalives in time.
    #[error("no traffic from peer for {0:?}: keepalive timeout")]
    KeepaliveTimeout(std::time::Duration),
    /// An operation did not finish within its time limit.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The session already carries its maximum number of streams.
    #[error("too many streams on this session (limit {0})")]
    TooManyStreams(usize),
    /// The peer broke the tunnel's own framing (stream header or reply).
    #[error("tunnel protocol error: {0}")]
    Protocol(String),
    /// The HTTP request is not a valid WebSocket upgrade.
    #[error("bad WebSocket upgrade request: {0}")]
    BadUpgrade(&'static str),
    /// The server answered the agent's upgrade with a non-101 status.
    #[error("server rejected the tunnel connection with HTTP status {status}")]
    Rejected {
        /// The HTTP status code the server returned (401, 403, 404, ...).
        status: u16,
    },
    /// A WebSocket-level failure (handshake or framing).
    #[error("websocket: {0}")]
    WebSocket(String),
    /// The agent's configuration is unusable (bad URL, header, TLS name).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The yamux multiplexer failed.
    #[error("multiplexer: {0}")]
    Mux(String),
    /// Socket-level I/O failure.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

impl From<tokio_tungstenite::tungstenite::Error> for TunnelError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error as E;
        match e {
            E::Http(response) => TunnelError::Rejected {
                status: response.status().as_u16(),
            },
            E::Io(io) => TunnelError::Io(io),
            other => TunnelError::WebSocket(other.to_string()),
        }
    }
}

impl From<yamux::ConnectionError> for TunnelError {
    fn from(e: yamux::ConnectionError) -> Self {
        match e {
            yamux::ConnectionError::Io(io) => TunnelError::Io(io),
            yamux::ConnectionError::Closed => {
                TunnelError::SessionClosed("connection closed by peer".into())
            }
            other => TunnelError::Mux(other.to_string()),
        }
    }
}
