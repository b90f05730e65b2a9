//! A WebSocket seen as a byte stream, which is what yamux runs on.
//!
//! After the HTTP upgrade (done by hyper on the server and by `agent.rs` on
//! the agent), this module speaks RFC 6455 framing itself instead of going
//! through tungstenite's message API, because the tunnel needs a byte stream,
//! not messages, and the message API costs two extra copies of every byte
//! plus a buffer sized to the largest message:
//!
//! - **Writing.** What yamux writes goes into one open binary frame (masked
//!   on the fly by the client, as RFC 6455 requires); the frame is sealed
//!   when yamux flushes (after every yamux frame) or when it reaches
//!   `max_message` bytes, then written to the socket. One copy.
//! - **Reading.** Frame headers are parsed from a small read buffer; frame
//!   payloads are handed to yamux as they arrive, and a large read (a yamux
//!   frame body) goes straight from the socket into yamux's buffer, bounded
//!   by the current frame so nothing past it is consumed. Nothing is
//!   buffered per message, so a peer's large messages cost no memory here.
//!
//! Message boundaries carry no meaning, so control frames (our keepalive
//! pings, the peer's pings and our pongs) sit between any two data frames.
//! The adapter also sends the keepalive pings and records when anything last
//! arrived ([`Liveness`]); the session's watchdog reads that to declare a
//! silent peer dead. Buffers are given back while a session is idle, so an
//! idle session costs little more than its read buffer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Interval, MissedTickBehavior};

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

/// Which end of the WebSocket we are: clients mask what they send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Largest WebSocket frame header: 2 bytes, 8 bytes of length, 4 of mask.
const MAX_HEADER: usize = 14;
/// Control frames queued beyond this are dropped (pongs) or deferred (our
/// pings) until the socket takes them.
const MAX_QUEUED_CONTROL: usize = 4 << 10;
/// Read buffer of a session that only exchanges pings and pongs.
const SMALL_READ_BUFFER: usize = 512;
/// Writes at least this big are sent from the caller's buffer (server).
const DIRECT_WRITE_MIN: usize = 4096;
/// Control frames carry at most this much (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// What the reader is in the middle of.
#[derive(Debug, Clone, Copy)]
enum ReadState {
    /// Expecting a frame header.
    Header,
    /// Inside a data frame's payload: `remaining` bytes still to come.
    Data {
        remaining: u64,
        mask: Option<[u8; 4]>,
        /// Offset into the payload (for the mask phase).
        offset: u64,
    },
    /// The peer sent a close frame (or the socket hit EOF): reads give EOF.
    Closed,
}

/// `futures::io::{AsyncRead, AsyncWrite}` over a WebSocket's raw byte
/// stream, with keepalive pings.
pub(crate) struct WsIo<S> {
    io: S,
    role: Role,
    liveness: Arc<Liveness>,

    // Reading.
    state: ReadState,
    /// Bytes read from the socket and not yet consumed: `rbuf[rpos..rend]`.
    /// Allocated on first use: `SMALL_READ_BUFFER` bytes (enough for the
    /// pings and pongs of an idle session), `rbuf_size` once data flows.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    rbuf_size: usize,

    // Writing.
    /// The current data frame: `MAX_HEADER` reserved bytes, then payload.
    /// Once sealed, the header is written right-aligned into the reserved
    /// space and `out[out_pos..]` is what remains to be sent.
    out: Vec<u8>,
    out_pos: usize,
    /// Where the sealed frame's header starts in `out`.
    out_start: usize,
    /// Whether `out` holds a sealed frame (being sent) rather than an open
    /// one (still taking bytes) or nothing.
    sealed: bool,
    /// The open frame's mask (client only).
    out_mask: [u8; 4],
    /// Largest payload of one outgoing data frame.
    max_message: usize,
    /// Complete control frames waiting to be sent: `ctrl[ctrl_pos..]`.
    /// Never interleaved with a data frame whose bytes have started going out.
    ctrl: Vec<u8>,
    ctrl_pos: usize,

    // Keepalive and idle housekeeping.
    ping: Interval,
    ping_due: bool,
    /// Whether data (not just pings and pongs) moved since the last
    /// keepalive tick; buffers are released after a tick with none.
    busy: bool,
    /// Whether data flowed recently: reads go through a full-size buffer.
    rbuf_big: bool,
}

impl<S> WsIo<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wrap `io`, whose upgrade handshake is done; `prefix` holds bytes that
    /// were read past the handshake (the start of the peer's first frames).
    pub(crate) fn new(
        io: S,
        prefix: Vec<u8>,
        role: Role,
        keepalive_interval: Duration,
        max_message: usize,
        read_buffer: usize,
        liveness: Arc<Liveness>,
    ) -> Self {
        let period = keepalive_interval.max(Duration::from_millis(10));
        let mut ping = tokio::time::interval_at(Instant::now() + period, period);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let rend = prefix.len();
        WsIo {
            io,
            role,
            liveness,
            state: ReadState::Header,
            rbuf: prefix,
            rpos: 0,
            rend,
            rbuf_size: read_buffer.max(MAX_HEADER + MAX_CONTROL_PAYLOAD),
            out: Vec::new(),
            out_pos: 0,
            out_start: 0,
            sealed: false,
            out_mask: [0; 4],
            max_message: max_message.max(1024),
            ctrl: Vec::new(),
            ctrl_pos: 0,
            ping,
            ping_due: false,
            busy: false,
            rbuf_big: false,
        }
    }

    /// Queue a ping when the interval has elapsed and push queued control
    /// frames out if the socket takes them. Never blocks the caller: what
    /// cannot be written now goes out on a later poll (every poll of the
    /// connection comes through here, and the interval wakes it).
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) {
        while self.ping.poll_tick(cx).is_ready() {
            self.ping_due = true;
            if !std::mem::take(&mut self.busy) {
                self.rbuf_big = false;
                self.release_idle_buffers();
            }
        }
        if self.ping_due && self.ctrl.len() < MAX_QUEUED_CONTROL {
            self.ping_due = false;
            self.queue_control(OP_PING, &[]);
        }
        if !self.ctrl.is_empty() {
            // Errors surface through the next read or write.
            let _ = self.poll_drain(cx);
        }
    }

    /// Give back buffers of an idle session (nothing moved for a whole
    /// keepalive interval).
    fn release_idle_buffers(&mut self) {
        if self.out.is_empty() {
            self.out = Vec::new();
        }
        if self.ctrl.is_empty() {
            self.ctrl = Vec::new();
        }
        if self.rpos == self.rend {
            self.rbuf = Vec::new();
            self.rpos = 0;
            self.rend = 0;
        }
    }

    fn mask_key(&self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(rand::random::<[u8; 4]>()),
            Role::Server => None,
        }
    }

    /// Append one complete control frame to the control queue.
    fn queue_control(&mut self, opcode: u8, payload: &[u8]) {
        let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        let mask = self.mask_key();
        let mut header = [0u8; MAX_HEADER];
        let n = encode_header(&mut header, opcode, payload.len() as u64, mask);
        self.ctrl.extend_from_slice(&header[..n]);
        let start = self.ctrl.len();
        self.ctrl.extend_from_slice(payload);
        if let Some(mask) = mask {
            apply_mask(&mut self.ctrl[start..], mask, 0);
        }
    }

    /// Seal the open data frame, if it has payload: write its header into
    /// the reserved space.
    fn seal(&mut self) {
        if self.sealed || self.out.len() <= MAX_HEADER {
            return;
        }
        let len = (self.out.len() - MAX_HEADER) as u64;
        let mask = (self.role == Role::Client).then_some(self.out_mask);
        let mut header = [0u8; MAX_HEADER];
        let n = encode_header(&mut header, OP_BINARY, len, mask);
        self.out_pos = MAX_HEADER - n;
        self.out_start = self.out_pos;
        self.out[self.out_pos..MAX_HEADER].copy_from_slice(&header[..n]);
        self.sealed = true;
    }

    /// Send what is open plus `buf` as one frame, with `buf` written from
    /// the caller's memory (server only: a client has to mask, which means
    /// a copy anyway). What the socket does not take at once is copied and
    /// finishes going out before anything else.
    fn poll_write_direct(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if !self.ctrl.is_empty() {
            ready!(self.poll_drain(cx))?;
        }
        let take = buf.len().min(self.max_message);
        if self.out.len() < MAX_HEADER {
            self.out.resize(MAX_HEADER, 0);
        }
        let open = self.out.len() - MAX_HEADER;
        let mut header = [0u8; MAX_HEADER];
        let n = encode_header(&mut header, OP_BINARY, (open + take) as u64, None);
        let start = MAX_HEADER - n;
        self.out[start..MAX_HEADER].copy_from_slice(&header[..n]);
        let head_len = self.out.len() - start;
        // Pending: nothing went out, and the open bytes stay open.
        let written = ready!(Pin::new(&mut self.io).poll_write_vectored(
            cx,
            &[
                io::IoSlice::new(&self.out[start..]),
                io::IoSlice::new(&buf[..take])
            ]
        ))?;
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        self.busy = true;
        if written < head_len {
            self.out.extend_from_slice(&buf[..take]);
            self.out_start = start;
            self.out_pos = start + written;
            self.sealed = true;
        } else if written - head_len < take {
            // The rest of the frame's payload, raw. `out_pos > out_start`
            // marks it as a frame in progress (no control frame may cut in).
            self.out.truncate(MAX_HEADER);
            self.out.extend_from_slice(&buf[written - head_len..take]);
            self.out_start = 0;
            self.out_pos = MAX_HEADER;
            self.sealed = true;
        } else {
            self.out.clear();
        }
        Poll::Ready(Ok(take))
    }

    /// Write out the queued control frames and the sealed data frame.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let data_started = self.sealed && self.out_pos > self.out_start;
            if !data_started && self.ctrl_pos < self.ctrl.len() {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.ctrl[self.ctrl_pos..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.ctrl_pos += n;
                if self.ctrl_pos == self.ctrl.len() {
                    self.ctrl.clear();
                    self.ctrl_pos = 0;
                }
                continue;
            }
            if self.sealed {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.out_pos += n;
                if self.out_pos == self.out.len() {
                    self.out.clear();
                    self.out_pos = 0;
                    self.sealed = false;
                }
                continue;
            }
            return Poll::Ready(Ok(()));
        }
    }

    /// Read more bytes from the socket into `rbuf`. `Ok(0)` is EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        } else if self.rpos > 0 && self.rbuf.len() - self.rend < MAX_HEADER + MAX_CONTROL_PAYLOAD {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        let size = if self.rbuf_big {
            self.rbuf_size
        } else {
            SMALL_READ_BUFFER
        };
        if self.rbuf.len() < size {
            self.rbuf.resize(size, 0);
        }
        if self.rend == self.rbuf.len() {
            // Full of unconsumed bytes (a prefix larger than the buffer).
            self.rbuf.resize(self.rend + SMALL_READ_BUFFER, 0);
        }
        let mut buf = ReadBuf::new(&mut self.rbuf[self.rend..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        if n > 0 {
            self.rend += n;
            self.liveness.touch();
        }
        Poll::Ready(Ok(n))
    }

    /// Parse frame headers (and handle control frames) until inside a data
    /// frame with payload left, or closed.
    fn poll_header(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.state {
                ReadState::Data { remaining, .. } if remaining > 0 => return Poll::Ready(Ok(())),
                ReadState::Closed => return Poll::Ready(Ok(())),
                _ => self.state = ReadState::Header,
            }
            let avail = &self.rbuf[self.rpos..self.rend];
            let parsed = match parse_header(avail) {
                Ok(parsed) => parsed,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let Some(header) = parsed else {
                if ready!(self.poll_fill(cx))? == 0 {
                    self.state = ReadState::Closed;
                    if self.rpos != self.rend {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "websocket closed inside a frame header",
                        )));
                    }
                }
                continue;
            };
            match header.opcode {
                OP_BINARY | OP_CONTINUATION => {
                    self.rpos += header.len;
                    self.state = ReadState::Data {
                        remaining: header.payload,
                        mask: header.mask,
                        offset: 0,
                    };
                }
                OP_PING | OP_PONG | OP_CLOSE => {
                    // Control frames are small; wait for the whole payload.
                    let total = header.len + header.payload as usize;
                    if self.rend - self.rpos < total {
                        if ready!(self.poll_fill(cx))? == 0 {
                            self.state = ReadState::Closed;
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "websocket closed inside a control frame",
                            )));
                        }
                        continue;
                    }
                    let start = self.rpos + header.len;
                    self.rpos += total;
                    match header.opcode {
                        OP_PING => {
                            let mut payload =
                                self.rbuf[start..start + header.payload as usize].to_vec();
                            if let Some(mask) = header.mask {
                                apply_mask(&mut payload, mask, 0);
                            }
                            // A peer that pings faster than we can answer
                            // gets some pongs skipped, not unbounded memory.
                            if self.ctrl.len() < MAX_QUEUED_CONTROL {
                                self.queue_control(OP_PONG, &payload);
                            }
                            // Sent by the next poll that gets this far;
                            // try now.
                            let _ = self.poll_drain(cx);
                        }
                        // Pongs only prove liveness, which `poll_fill`
                        // recorded.
                        OP_PONG => {}
                        _ => self.state = ReadState::Closed,
                    }
                }
                OP_TEXT => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "unexpected text message on the tunnel",
                    )));
                }
                other => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unknown websocket opcode {other:#x}"),
                    )));
                }
            }
        }
    }
}

/// A parsed frame header.
struct Header {
    opcode: u8,
    /// Header length in bytes.
    len: usize,
    payload: u64,
    mask: Option<[u8; 4]>,
}

/// Parse a frame header from the start of `buf`; `None` if incomplete.
fn parse_header(buf: &[u8]) -> io::Result<Option<Header>> {
    let invalid = |msg: &str| io::Error::new(io::ErrorKind::InvalidData, msg.to_string());
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(invalid("websocket frame uses reserved bits"));
    }
    let opcode = b0 & 0x0f;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    let (payload, mut len) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode & 0x8 != 0 && (payload > MAX_CONTROL_PAYLOAD as u64 || !fin) {
        return Err(invalid("invalid websocket control frame"));
    }
    let mask = if masked {
        if buf.len() < len + 4 {
            return Ok(None);
        }
        let mut m = [0u8; 4];
        m.copy_from_slice(&buf[len..len + 4]);
        len += 4;
        Some(m)
    } else {
        None
    };
    Ok(Some(Header {
        opcode,
        len,
        payload,
        mask,
    }))
}

/// Encode a final frame's header into `out`; returns its length.
fn encode_header(out: &mut [u8; MAX_HEADER], opcode: u8, len: u64, mask: Option<[u8; 4]>) -> usize {
    out[0] = 0x80 | opcode;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        out[1] = mask_bit | len as u8;
        2
    } else if len <= u64::from(u16::MAX) {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    if let Some(mask) = mask {
        out[n..n + 4].copy_from_slice(&mask);
        n += 4;
    }
    n
}

/// XOR `buf` with `mask`, `offset` bytes into the masked payload.
fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: u64) {
    let mut m = mask;
    m.rotate_left((offset % 4) as usize);
    let word = u32::from_ne_bytes(m);
    let wide = u64::from(word) | (u64::from(word) << 32);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut v = [0u8; 8];
        v.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(v) ^ wide;
        chunk.copy_from_slice(&x.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

impl<S> futures::io::AsyncRead for WsIo<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.poll_keepalive(cx);
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_header(cx))?;
        let ReadState::Data {
            remaining,
            mask,
            offset,
        } = this.state
        else {
            return Poll::Ready(Ok(0)); // closed
        };
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = if this.rpos < this.rend {
            let n = want.min(this.rend - this.rpos);
            buf[..n].copy_from_slice(&this.rbuf[this.rpos..this.rpos + n]);
            this.rpos += n;
            n
        } else if want >= this.rbuf_size / 2 {
            // A big read: straight from the socket, no further than this
            // frame.
            let mut rb = ReadBuf::new(&mut buf[..want]);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                this.state = ReadState::Closed;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "websocket closed inside a frame",
                )));
            }
            this.liveness.touch();
            this.busy = true;
            n
        } else {
            if ready!(this.poll_fill(cx))? == 0 {
                this.state = ReadState::Closed;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "websocket closed inside a frame",
                )));
            }
            let n = want.min(this.rend - this.rpos);
            buf[..n].copy_from_slice(&this.rbuf[this.rpos..this.rpos + n]);
            this.rpos += n;
            n
        };
        if let Some(mask) = mask {
            apply_mask(&mut buf[..n], mask, offset);
        }
        this.busy = true;
        this.rbuf_big = true;
        this.state = ReadState::Data {
            remaining: remaining - n as u64,
            mask,
            offset: offset + n as u64,
        };
        Poll::Ready(Ok(n))
    }
}

impl<S> futures::io::AsyncWrite for WsIo<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.poll_keepalive(cx);
        if this.sealed {
            ready!(this.poll_drain(cx))?;
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.role == Role::Server && buf.len() >= DIRECT_WRITE_MIN && this.io.is_write_vectored()
        {
            return this.poll_write_direct(cx, buf);
        }
        if this.out.is_empty() {
            // Open a frame: room for the largest header, then payload.
            this.out
                .reserve(MAX_HEADER + this.max_message.min(buf.len().max(4096)));
            this.out.resize(MAX_HEADER, 0);
            if let Some(mask) = this.mask_key() {
                this.out_mask = mask;
            }
        }
        let filled = this.out.len() - MAX_HEADER;
        let n = (this.max_message - filled).min(buf.len());
        this.out.extend_from_slice(&buf[..n]);
        if this.role == Role::Client {
            let mask = this.out_mask;
            apply_mask(&mut this.out[MAX_HEADER + filled..], mask, filled as u64);
        }
        this.busy = true;
        if filled + n == this.max_message {
            this.seal();
            // Start sending now; a full socket just means later.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.poll_keepalive(cx);
        this.seal();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.seal();
        ready!(this.poll_drain(cx))?;
        if !matches!(this.state, ReadState::Closed) {
            this.state = ReadState::Closed;
            this.queue_control(OP_CLOSE, &1000u16.to_be_bytes());
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
