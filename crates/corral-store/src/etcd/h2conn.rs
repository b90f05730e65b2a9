//! One HTTP/2 connection to an etcd member, driven with the `h2` crate.
//!
//! Why not hyper's HTTP/2 client (used before): for every request it queues
//! the request to the connection task through a channel, spawns a task to
//! await the response and, since a new stream takes no data until the
//! connection task has opened it, a second task to write the body. On the
//! create path that was about 4% of the server's instructions (callgrind,
//! `scripts/bench-instructions`) and two task wake-ups per etcd request.
//! With h2 the caller's task opens the stream and queues the body behind
//! the headers itself; the connection task writes both.
//!
//! What hyper did besides, done here: the connection's flow-control windows
//! (large responses must not stall on HTTP/2's 64 KiB default), keepalive
//! pings while streams are open, and streaming request bodies for
//! etcd-client's watch and lease streams.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http_body::{Body, Frame};
use http_body_util::BodyExt;

/// How long the connection may go without a ping while streams are open,
/// and how long the ping may go unanswered. etcd refuses pings more often
/// than every 5 s, and pings without open streams (grpc-go's policy).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// hyper's HTTP/2 client defaults, which the store was tuned with: range
/// responses of thousands of objects arrive without waiting for window
/// updates.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// A live connection's request handle. Cheap to clone.
#[derive(Clone)]
pub(super) struct Connection {
    sender: SendRequest<Bytes>,
    state: Arc<State>,
}

struct State {
    closed: AtomicBool,
    /// Streams whose response is still being read: pings only while any is.
    open_streams: AtomicUsize,
    /// Wakes the connection task to end the connection (a ping went unanswered).
    close: tokio::sync::Notify,
}

/// Counts a stream as open until dropped.
pub(super) struct OpenStream(Arc<State>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a request did not get a response.
pub(super) enum SendError {
    /// Certainly not written: the connection was already closed.
    NotSent(h2::Error),
    /// Possibly written (the connection failed while it was in flight).
    Failed(h2::Error),
}

impl Connection {
    /// HTTP/2 over an established stream; the connection runs as its own
    /// task and ends when the member closes it or stops answering pings.
    pub(super) async fn handshake<S>(stream: S) -> std::io::Result<Connection>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, mut connection) = h2::client::Builder::new()
            .enable_push(false)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(std::io::Error::other)?;
        let state = Arc::new(State {
            closed: AtomicBool::new(false),
            open_streams: AtomicUsize::new(0),
            close: tokio::sync::Notify::new(),
        });
        if let Some(ping_pong) = connection.ping_pong() {
            tokio::spawn(keepalive(ping_pong, Arc::downgrade(&state)));
        }
        let task_state = state.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = &mut connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "etcd connection ended");
                    }
                }
                _ = task_state.close.notified() => {
                    tracing::debug!("etcd connection closed: a keepalive ping went unanswered");
                }
            }
            task_state.closed.store(true, Ordering::Release);
        });
        Ok(Connection { sender, state })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Acquire)
    }

    /// Sends `head` with `body` as its only DATA frame and waits for the
    /// response head. The returned guard counts the stream as open while
    /// its response body is read.
    pub(super) async fn send(
        &self,
        head: http::Request<()>,
        body: Bytes,
    ) -> Result<(http::Response<h2::RecvStream>, OpenStream), SendError> {
        let (response, mut stream, open) = self.open(head, false).await?;
        // Queued behind the headers; the connection task writes both.
        stream.send_data(body, true).map_err(in_flight)?;
        let response = response.await.map_err(in_flight)?;
        Ok((response, open))
    }

    /// Sends `request`, streaming its body from a task of its own unless it
    /// is empty, and returns the response with a body that reads the
    /// stream (and counts it open until dropped).
    pub(super) async fn send_streaming<B>(
        &self,
        request: http::Request<B>,
    ) -> Result<http::Response<RecvBody>, SendError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        let (head, body) = request.into_parts();
        let end_of_stream = body.is_end_stream();
        let (response, stream, open) = self
            .open(http::Request::from_parts(head, ()), end_of_stream)
            .await?;
        if !end_of_stream {
            tokio::spawn(pipe(body, stream));
        }
        let response = response.await.map_err(in_flight)?;
        Ok(response.map(|recv| RecvBody {
            recv,
            data_done: false,
            _open: open,
        }))
    }

    async fn open(
        &self,
        head: http::Request<()>,
        end_of_stream: bool,
    ) -> Result<
        (
            h2::client::ResponseFuture,
            h2::SendStream<Bytes>,
            OpenStream,
        ),
        SendError,
    > {
        let mut sender = self
            .sender
            .clone()
            .ready()
            .await
            .map_err(SendError::NotSent)?;
        let (response, stream) = sender
            .send_request(head, end_of_stream)
            .map_err(SendError::NotSent)?;
        self.state.open_streams.fetch_add(1, Ordering::Relaxed);
        Ok((response, stream, OpenStream(self.state.clone())))
    }
}

/// An error of a stream that was opened: a refused stream (RST_STREAM or
/// GOAWAY with REFUSED_STREAM) was not processed, so it may be sent again.
fn in_flight(e: h2::Error) -> SendError {
    if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
        SendError::NotSent(e)
    } else {
        SendError::Failed(e)
    }
}

/// Pings every [`KEEPALIVE_INTERVAL`] while streams are open; a ping not
/// answered within [`KEEPALIVE_TIMEOUT`] closes the connection, so that the
/// next request goes to a member that answers.
async fn keepalive(mut ping_pong: h2::PingPong, state: std::sync::Weak<State>) {
    loop {
        tokio::time::sleep(KEEPALIVE_INTERVAL).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        if state.closed.load(Ordering::Acquire) {
            return;
        }
        if state.open_streams.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let answered =
            tokio::time::timeout(KEEPALIVE_TIMEOUT, ping_pong.ping(h2::Ping::opaque())).await;
        if !matches!(answered, Ok(Ok(_))) {
            state.close.notify_one();
            return;
        }
    }
}

/// Writes a streaming request body (etcd-client's watch and lease streams)
/// to its HTTP/2 stream until the body or the stream ends.
async fn pipe<B>(mut body: B, mut stream: h2::SendStream<Bytes>)
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            // The member reset the stream: nothing more will be read.
            _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => return,
        };
        match frame {
            None => {
                let _ = stream.send_data(Bytes::new(), true);
                return;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    if stream.send_data(data, false).is_err() {
                        return;
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        let _ = stream.send_trailers(trailers);
                        return;
                    }
                }
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "etcd request body failed");
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
        }
    }
}

/// A response body read from its HTTP/2 stream, returning flow-control
/// capacity as data is taken.
pub(super) struct RecvBody {
    recv: h2::RecvStream,
    data_done: bool,
    _open: OpenStream,
}

impl Body for RecvBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = &mut *self;
        if !this.data_done {
            match this.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => this.data_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match this.recv.poll_trailers(cx) {
            Poll::Ready(Ok(Some(trailers))) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}
