//! The reverse tunnel between the Corral server and cluster agents.
//!
//! Downstream clusters need no inbound port: the agent dials out to the
//! server (`wss://<server>/v3/connect`), and the server then opens TCP
//! connections *through* the agent to addresses inside the cluster (its API
//! server, typically). Many such connections share the one WebSocket as
//! [yamux](https://docs.rs/yamux) streams, each with its own flow-control
//! window, so one slow reader never stalls the others.
//!
//! # Where to start
//!
//! - Server side: [`TunnelServer`]. From the hyper service that routes
//!   `/v3/connect`, authenticate the agent, then return
//!   [`TunnelServer::upgrade`]`(request, cluster_id)`'s response. Later,
//!   [`TunnelServer::dial`]`(cluster, "10.0.0.1:6443")` gives a
//!   [`TunnelStream`] (tokio `AsyncRead + AsyncWrite`) to hand to an HTTP
//!   client. [`TunnelServer::sessions`] and [`TunnelServer::subscribe`] tell
//!   who is connected, for health conditions and metrics.
//! - Agent side: [`Agent`] with an [`AgentConfig`] (URL, headers such as the
//!   bearer token and [`CLUSTER_ID_HEADER`], TLS trust, and the
//!   [`Allowlist`] of addresses the server may ask for), then
//!   [`Agent::run`] until shutdown. It reconnects by itself with
//!   exponential [`Backoff`] and jitter (capped at 5 s, each attempt bounded
//!   by [`AgentConfig::connect_timeout`], 5 s), so an agent is back within
//!   about 10 s of its network returning.
//!
//! # How a session works
//!
//! One task per session owns the yamux connection (`session.rs`). Under it,
//! `ws_io.rs` turns the WebSocket into a byte stream (binary messages of at
//! most [`TunnelConfig::ws_message_size`]; RFC 6455 framing done in place,
//! so payloads go between sockets and yamux's buffers without extra copies)
//! and sends WebSocket pings every [`TunnelConfig::keepalive_interval`]
//! (5 s); a session that hears nothing for
//! [`TunnelConfig::keepalive_timeout`] (20 s) is dropped, so a dead peer or
//! a silently partitioned link is noticed within 30 s. Streams are opened
//! only by the server; each starts with a small header naming the address
//! (`protocol.rs`), which the agent checks against its allowlist before
//! connecting and answering. Each stream's yamux receive window starts at
//! 256 KiB and grows (up to a per-session budget) for streams whose reader
//! keeps up; windows are permissions, not allocations, so idle streams and
//! sessions cost little memory.
//!
//! **Invariants.** The tunnel knows nothing about Kubernetes or Corral's
//! types: it moves bytes between a cluster id and `host:port` addresses. It
//! does not authenticate: callers pass an already-authenticated cluster id.
//! When a session ends, every stream on it fails promptly (no reader is
//! left waiting), and the server holds at most one session per cluster id
//! (a new connection replaces the old one).

mod agent;
mod config;
mod error;
mod protocol;
mod server;
mod session;
mod ws_io;

pub use agent::{Agent, AgentConfig, AgentEvent, Allowlist};
pub use config::{Backoff, TunnelConfig};
pub use error::TunnelError;
pub use server::{ServerConfig, SessionEvent, SessionInfo, TunnelServer, websocket_accept};
pub use session::TunnelStream;

/// The path the Corral server serves the tunnel on (a convention of the
/// callers; the tunnel itself does no routing).
pub const CONNECT_PATH: &str = "/v3/connect";

/// Conventional header naming the cluster an agent connects for (alongside
/// its bearer token, which proves it).
pub const CLUSTER_ID_HEADER: &str = "x-corral-cluster";
