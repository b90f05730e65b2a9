//! A WebSocket seen as a byte stream, which is what yamux runs on.
//!
//! What yamux writes between two flushes (a frame, usually) goes out as
//! binary messages of at most `ws_message_size` bytes;
//! inbound binary messages are concatenated. Message boundaries carry no
//! meaning, so control frames (our keepalive pings, the peer's pongs) can sit
//! between any two messages. The adapter also sends the keepalive pings and
//! records when anything last arrived ([`Liveness`]); the session's watchdog
//! reads that to declare a silent peer dead.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::{Sink, Stream};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// When the peer was last heard from. Shared by the adapter (writer), the
/// session watchdog and `sessions()` (readers).
#[derive(Debug)]
pub(crate) struct Liveness {
    start: Instant,
    last_rx_ms: AtomicU64,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Liveness {
            start: Instant::now(),
            last_rx_ms: AtomicU64::new(0),
        }
    }

    /// Record that something arrived now.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_rx_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// When something last arrived (the session start if nothing has).
    pub(crate) fn last_rx(&self) -> Instant {
        self.start + Duration::from_millis(self.last_rx_ms.load(Ordering::Relaxed))
    }

    /// Offset of the last arrival from the session start.
    pub(crate) fn last_rx_offset(&self) -> Duration {
        Duration::from_millis(self.last_rx_ms.load(Ordering::Relaxed))
    }
}

/// `futures::io::{AsyncRead, AsyncWrite}` over a WebSocket, with keepalive
/// pings.
pub(crate) struct WsIo<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the current inbound message.
    read_buf: Bytes,
    /// Bytes written but not yet sent as a message.
    write_buf: Vec<u8>,
    /// `write_buf` is sent as soon as it reaches this size.
    max_message: usize,
    ping: Interval,
    ping_due: bool,
    liveness: std::sync::Arc<Liveness>,
}

impl<S> WsIo<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    pub(crate) fn new(
        ws: WebSocketStream<S>,
        keepalive_interval: Duration,
        max_message: usize,
        liveness: std::sync::Arc<Liveness>,
    ) -> Self {
        let period = keepalive_interval.max(Duration::from_millis(10));
        let mut ping = tokio::time::interval_at(Instant::now() + period, period);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        WsIo {
            ws,
            read_buf: Bytes::new(),
            write_buf: Vec::new(),
            max_message: max_message.max(1024),
            ping,
            ping_due: false,
            liveness,
        }
    }

    /// Queue a ping when the interval has elapsed, and push it out if the
    /// socket can take it. Never blocks the caller: a ping that cannot be
    /// written now is retried on the next poll.
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) {
        while self.ping.poll_tick(cx).is_ready() {
            self.ping_due = true;
        }
        if !self.ping_due {
            return;
        }
        match Pin::new(&mut self.ws).poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                if Pin::new(&mut self.ws)
                    .start_send(Message::Ping(Bytes::new()))
                    .is_ok()
                {
                    self.ping_due = false;
                    let _ = Pin::new(&mut self.ws).poll_flush(cx);
                }
            }
            // Errors surface through the next read or write.
            Poll::Ready(Err(_)) | Poll::Pending => {}
        }
    }

    /// Send `write_buf` as one binary message (not yet flushed).
    fn poll_send_buffered(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(ws_to_io)?;
        // Hand the Vec over without copying; the next write starts a fresh
        // one, so an idle session keeps no write buffer.
        let message = Bytes::from(std::mem::take(&mut self.write_buf));
        Pin::new(&mut self.ws)
            .start_send(Message::Binary(message))
            .map_err(ws_to_io)?;
        Poll::Ready(Ok(()))
    }
}

fn ws_to_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "websocket closed")
        }
        other => io::Error::other(other),
    }
}

impl<S> futures::io::AsyncRead for WsIo<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.poll_keepalive(cx);
        loop {
            if !this.read_buf.is_empty() {
                let n = buf.len().min(this.read_buf.len());
                buf[..n].copy_from_slice(&this.read_buf[..n]);
                this.read_buf.advance(n);
                return Poll::Ready(Ok(n));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                None => return Poll::Ready(Ok(0)),
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return Poll::Ready(Ok(0));
                }
                Some(Err(e)) => return Poll::Ready(Err(ws_to_io(e))),
                Some(Ok(message)) => {
                    this.liveness.touch();
                    match message {
                        Message::Binary(data) => this.read_buf = data,
                        // Tungstenite answers pings itself; pongs only prove
                        // liveness, which `touch` recorded.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        Message::Close(_) => return Poll::Ready(Ok(0)),
                        Message::Text(_) => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "unexpected text message on the tunnel",
                            )));
                        }
                    }
                }
            }
        }
    }
}

impl<S> futures::io::AsyncWrite for WsIo<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.poll_keepalive(cx);
        if this.write_buf.len() >= this.max_message {
            ready!(this.poll_send_buffered(cx))?;
        }
        let room = this.max_message - this.write_buf.len();
        let n = room.min(buf.len());
        this.write_buf.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.poll_keepalive(cx);
        ready!(this.poll_send_buffered(cx))?;
        Pin::new(&mut this.ws).poll_flush(cx).map_err(ws_to_io)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_buffered(cx))?;
        Pin::new(&mut this.ws).poll_close(cx).map_err(ws_to_io)
    }
}
