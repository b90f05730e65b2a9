//! Shared harness: a hyper 1 server routing `/v3/connect` to a
//! `TunnelServer` (plain or TLS), agents, target services and a freezable
//! TCP proxy — all on 127.0.0.1.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use corral_tunnel::{
    Agent, AgentConfig, AgentEvent, Allowlist, Backoff, CLUSTER_ID_HEADER, CONNECT_PATH,
    TunnelConfig, TunnelServer,
};
use http_body_util::Empty;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-token";

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Short keepalives so dead peers are found within about a second.
pub fn fast_tunnel() -> TunnelConfig {
    TunnelConfig {
        keepalive_interval: Duration::from_millis(200),
        keepalive_timeout: Duration::from_millis(1000),
        ..TunnelConfig::default()
    }
}

pub fn fast_backoff() -> Backoff {
    Backoff {
        min: Duration::from_millis(50),
        max: Duration::from_millis(400),
        multiplier: 2.0,
        jitter: 0.3,
        reset_after: Duration::from_secs(60),
    }
}

/// The hyper service that fronts the tunnel: path, bearer token, cluster id.
pub async fn serve_connection<IO>(io: IO, tunnel: TunnelServer)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let tunnel = tunnel.clone();
        async move {
            let status = |code: u16| {
                http::Response::builder()
                    .status(code)
                    .body(Empty::<Bytes>::new())
            };
            if req.uri().path() != CONNECT_PATH {
                return status(404);
            }
            let authorized = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
            if !authorized {
                return status(401);
            }
            let Some(cluster) = req
                .headers()
                .get(CLUSTER_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
            else {
                return status(400);
            };
            match tunnel.upgrade(req, cluster) {
                Ok(response) => Ok(response.map(|()| Empty::new())),
                Err(_) => status(400),
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let _ = conn.await;
}

/// A listening front end; abort `task` to stop accepting (existing
/// connections keep running).
pub struct Front {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

impl Front {
    pub fn url(&self) -> String {
        format!("ws://{}{CONNECT_PATH}", self.addr)
    }
}

pub async fn start_front(
    listener: TcpListener,
    tunnel: TunnelServer,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Front {
    let addr = listener.local_addr().expect("addr");
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let tunnel = tunnel.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            serve_connection(tls, tunnel).await;
                        }
                    }
                    None => serve_connection(tcp, tunnel).await,
                }
            });
        }
    });
    Front { addr, task }
}

pub async fn plain_front(tunnel: TunnelServer) -> Front {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    start_front(listener, tunnel, None).await
}

/// A running agent and the means to stop it.
pub struct RunningAgent {
    pub agent: Arc<Agent>,
    pub events: broadcast::Receiver<AgentEvent>,
    stop: Arc<Notify>,
    pub task: JoinHandle<()>,
}

impl RunningAgent {
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

pub fn agent_config(url: &str, cluster: &str, allow: Allowlist) -> AgentConfig {
    let mut cfg = AgentConfig::new(url, allow)
        .bearer_token(TOKEN)
        .expect("token")
        .header(CLUSTER_ID_HEADER, cluster)
        .expect("header");
    cfg.tunnel = fast_tunnel();
    cfg.backoff = fast_backoff();
    cfg.connect_timeout = Duration::from_secs(5);
    cfg
}

pub fn spawn_agent(cfg: AgentConfig) -> RunningAgent {
    let agent = Arc::new(Agent::new(cfg).expect("agent"));
    let events = agent.subscribe();
    let stop = Arc::new(Notify::new());
    let task = {
        let agent = agent.clone();
        let stop = stop.clone();
        tokio::spawn(async move { agent.run(stop.notified()).await })
    };
    RunningAgent {
        agent,
        events,
        stop,
        task,
    }
}

/// Wait until `cluster` has a session on `tunnel`; returns its session id.
pub async fn wait_connected(tunnel: &TunnelServer, cluster: &str) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(info) = tunnel.session(cluster) {
            return info.session_id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{cluster} did not connect"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A TCP echo service.
pub async fn echo_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tcp.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A TCP proxy whose forwarding can be frozen: while frozen it neither reads
/// nor writes and keeps both sockets open — a peer that vanished without a
/// FIN or RST, or a network partition that silently drops every packet.
/// New connections made while frozen are accepted (the kernel does that) but
/// carry nothing, like a handshake into a partition. [`thaw`](Self::thaw)
/// heals the network for new connections; a connection that lived through a
/// freeze stays a black hole (its bytes were lost: its endpoints must have
/// given up on it) and is closed when either end closes it.
pub struct FreezableProxy {
    pub addr: SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl FreezableProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let frozen = Arc::new(AtomicBool::new(false));
        let f = frozen.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let Ok(up) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let dead = Arc::new(AtomicBool::new(f.load(Ordering::SeqCst)));
                let (dr, dw) = down.into_split();
                let (ur, uw) = up.into_split();
                tokio::spawn(pump(dr, uw, f.clone(), dead.clone()));
                tokio::spawn(pump(ur, dw, f.clone(), dead));
            }
        });
        FreezableProxy { addr, frozen }
    }

    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Heal the network: new connections work again.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }
}

async fn pump(
    mut r: impl AsyncRead + Unpin,
    mut w: impl AsyncWrite + Unpin,
    frozen: Arc<AtomicBool>,
    dead: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        while frozen.load(Ordering::SeqCst) {
            // Hold both sockets, move nothing.
            dead.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            dead.store(true, Ordering::SeqCst);
        }
        if dead.load(Ordering::SeqCst) {
            // Drop what arrived after the freeze, like a dead link would.
            continue;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), for checksummed payloads.
pub struct Pattern(u64);

impl Pattern {
    pub fn new(seed: u64) -> Self {
        Pattern(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// FNV-1a over a byte stream.
#[derive(Clone, Copy)]
pub struct Checksum(pub u64);

impl Default for Checksum {
    fn default() -> Self {
        Checksum(0xcbf2_9ce4_8422_2325)
    }
}

impl Checksum {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Checksum of `len` bytes of `Pattern::new(seed)`, produced in 8 KiB
/// chunks exactly as writers produce them.
pub fn expected_checksum(seed: u64, len: usize) -> u64 {
    let mut p = Pattern::new(seed);
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 8 << 10];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        p.fill(&mut buf[..n]);
        sum.update(&buf[..n]);
        left -= n;
    }
    sum.0
}

/// Write `len` bytes of `Pattern::new(seed)` in 8 KiB chunks.
pub async fn write_pattern(
    w: &mut (impl AsyncWrite + Unpin),
    seed: u64,
    len: usize,
) -> std::io::Result<()> {
    let mut p = Pattern::new(seed);
    let mut buf = vec![0u8; 8 << 10];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        p.fill(&mut buf[..n]);
        w.write_all(&buf[..n]).await?;
        left -= n;
    }
    Ok(())
}
