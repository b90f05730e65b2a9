//! One live session: a yamux connection over a WebSocket, driven by one task.
//!
//! [`run`] owns the yamux `Connection` and polls everything in one place:
//! requests to open outbound streams, inbound streams, the keepalive
//! watchdog and a cancellation token. When it returns, the session is over:
//! it first records why ([`SessionShared::close`]), then drops the
//! connection, which wakes every stream (readers get EOF, which
//! [`TunnelStream`] turns into an error because the session died; writers get
//! an error).
//!
//! Invariant: the connection is always dropped, never gracefully
//! `poll_close`d: yamux 0.14's graceful close does not wake readers of open
//! streams, a drop does.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};
use tokio_util::sync::CancellationToken;

use crate::TunnelError;
use crate::config::{MAX_WS_MESSAGE, TunnelConfig};
use crate::ws_io::{Liveness, Role, WsIo};

/// How a request to open an outbound stream is answered.
type OpenReply = oneshot::Sender<Result<yamux::Stream, TunnelError>>;

/// The part of a session that outlives and is shared beyond its driver task.
#[derive(Debug)]
pub(crate) struct SessionShared {
    /// Unique per process; tells a replaced session from its successor.
    pub(crate) id: u64,
    pub(crate) liveness: Arc<Liveness>,
    /// Cancelled when the session ends, for whatever reason.
    pub(crate) cancel: CancellationToken,
    reason: OnceLock<String>,
    active_streams: AtomicUsize,
    max_streams: usize,
    open_tx: mpsc::Sender<OpenReply>,
}

impl SessionShared {
    /// A new session's shared half and the receiver its driver consumes.
    pub(crate) fn new(id: u64, cfg: &TunnelConfig) -> (Arc<Self>, mpsc::Receiver<OpenReply>) {
        let (open_tx, open_rx) = mpsc::channel(64);
        let shared = SessionShared {
            id,
            liveness: Arc::new(Liveness::new()),
            cancel: CancellationToken::new(),
            reason: OnceLock::new(),
            active_streams: AtomicUsize::new(0),
            max_streams: cfg.max_streams.max(1),
            open_tx,
        };
        (Arc::new(shared), open_rx)
    }

    /// End the session (if it is not over already) and record why. The first
    /// reason wins.
    pub(crate) fn close(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.cancel.cancel();
    }

    /// Why the session ended, if it has.
    pub(crate) fn closed_reason(&self) -> Option<&str> {
        if self.cancel.is_cancelled() {
            Some(self.reason.get().map_or("closed", String::as_str))
        } else {
            None
        }
    }

    /// Streams currently open through this session (dialed and not dropped).
    pub(crate) fn active_streams(&self) -> usize {
        self.active_streams.load(Ordering::Relaxed)
    }

    fn closed_error(&self) -> TunnelError {
        TunnelError::SessionClosed(self.closed_reason().unwrap_or("closed").to_string())
    }

    /// Open an outbound yamux stream, counted against `max_streams` until the
    /// returned slot is dropped.
    pub(crate) async fn open(self: &Arc<Self>) -> Result<(yamux::Stream, StreamSlot), TunnelError> {
        if self.cancel.is_cancelled() {
            return Err(self.closed_error());
        }
        let previous = self.active_streams.fetch_add(1, Ordering::Relaxed);
        let slot = StreamSlot(self.clone());
        if previous >= self.max_streams {
            return Err(TunnelError::TooManyStreams(self.max_streams));
        }
        let (tx, rx) = oneshot::channel();
        if self.open_tx.send(tx).await.is_err() {
            return Err(self.closed_error());
        }
        match rx.await {
            Ok(Ok(stream)) => Ok((stream, slot)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(self.closed_error()),
        }
    }
}

/// Holds one of a session's `max_streams` places; gives it back on drop.
#[derive(Debug)]
pub(crate) struct StreamSlot(Arc<SessionShared>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.active_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drive a session until it ends; returns why it ended. `io` is the
/// connection after the WebSocket upgrade, `prefix` what was read past the
/// upgrade response (agent side). `on_inbound` gets every stream the peer
/// opens.
pub(crate) async fn run<S, F>(
    io: S,
    prefix: Vec<u8>,
    mode: yamux::Mode,
    cfg: &TunnelConfig,
    shared: Arc<SessionShared>,
    mut open_rx: mpsc::Receiver<OpenReply>,
    mut on_inbound: F,
) -> TunnelError
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    F: FnMut(yamux::Stream),
{
    let max_message = cfg.ws_message_size.clamp(1024, MAX_WS_MESSAGE);
    let role = match mode {
        yamux::Mode::Client => Role::Client,
        yamux::Mode::Server => Role::Server,
    };
    let io = WsIo::new(
        io,
        prefix,
        role,
        cfg.keepalive_interval,
        max_message,
        cfg.ws_read_buffer,
        shared.liveness.clone(),
    );
    let mut conn = yamux::Connection::new(io, cfg.yamux(), mode);
    let timeout = cfg.keepalive_timeout;
    let mut watchdog = Box::pin(tokio::time::sleep(timeout));
    let mut cancelled = Box::pin(shared.cancel.cancelled());
    let mut waiting: Option<OpenReply> = None;
    let mut open_rx_done = false;

    let reason = std::future::poll_fn(|cx| {
        if cancelled.poll_unpin(cx).is_ready() {
            return Poll::Ready(shared.closed_error());
        }
        while watchdog.as_mut().poll(cx).is_ready() {
            let deadline = shared.liveness.last_rx() + timeout;
            if tokio::time::Instant::now() >= deadline {
                return Poll::Ready(TunnelError::KeepaliveTimeout(timeout));
            }
            watchdog.as_mut().reset(deadline);
        }
        // Outbound opens first: they only register the stream; the frames
        // go out when the connection is driven below.
        loop {
            if waiting.is_none() && !open_rx_done {
                match open_rx.poll_recv(cx) {
                    Poll::Ready(Some(reply)) => waiting = Some(reply),
                    Poll::Ready(None) => open_rx_done = true,
                    Poll::Pending => {}
                }
            }
            let Some(reply) = waiting.take() else { break };
            if reply.is_closed() {
                continue; // the dialer gave up (timeout); do not open for nobody
            }
            match conn.poll_new_outbound(cx) {
                Poll::Ready(Ok(stream)) => {
                    let _ = reply.send(Ok(stream));
                }
                Poll::Ready(Err(e)) => {
                    let e = TunnelError::from(e);
                    let _ = reply.send(Err(TunnelError::SessionClosed(e.to_string())));
                    return Poll::Ready(e);
                }
                Poll::Pending => {
                    // Too many streams awaiting the peer's ACK: yamux wakes
                    // us when one is acknowledged.
                    waiting = Some(reply);
                    break;
                }
            }
        }
        loop {
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => on_inbound(stream),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(TunnelError::from(e)),
                Poll::Ready(None) => {
                    return Poll::Ready(TunnelError::SessionClosed(
                        "connection closed by peer".into(),
                    ));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
    // Record the reason before the drop wakes the streams, so they report it.
    shared.close(reason.to_string());
    drop(conn);
    reason
}

/// One TCP connection through the tunnel, as seen by the server: bytes
/// written go to the address the agent dialed, bytes read come from it.
///
/// A clean end of stream (the far end closed) reads as EOF. If the session
/// dies instead, reads fail with `ConnectionAborted` and writes fail, so a
/// truncated response is never mistaken for a complete one. Drop without
/// `shutdown` resets the stream.
#[derive(Debug)]
pub struct TunnelStream {
    inner: Compat<yamux::Stream>,
    slot: StreamSlot,
}

impl TunnelStream {
    pub(crate) fn new(stream: yamux::Stream, slot: StreamSlot) -> Self {
        TunnelStream {
            inner: stream.compat(),
            slot,
        }
    }

    /// The inner stream, for the dial handshake.
    pub(crate) fn inner_mut(&mut self) -> &mut Compat<yamux::Stream> {
        &mut self.inner
    }

    fn session_error(&self) -> Option<io::Error> {
        self.slot.0.closed_reason().map(|reason| {
            io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("tunnel session closed: {reason}"),
            )
        })
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let wants = buf.remaining() > 0;
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if wants
            && buf.filled().len() == before
            && let Some(e) = self.session_error()
        {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = ready!(Pin::new(&mut self.inner).poll_write(cx, buf));
        Poll::Ready(result.map_err(|e| self.session_error().unwrap_or(e)))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = ready!(Pin::new(&mut self.inner).poll_flush(cx));
        Poll::Ready(result.map_err(|e| self.session_error().unwrap_or(e)))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = ready!(Pin::new(&mut self.inner).poll_shutdown(cx));
        Poll::Ready(result.map_err(|e| self.session_error().unwrap_or(e)))
    }
}
