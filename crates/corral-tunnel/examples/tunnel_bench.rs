//! Tunnel benchmark: single-stream throughput through the tunnel versus
//! direct loopback TCP, and server memory per connected agent.
//!
//! ```text
//! cargo run --release -p corral-tunnel --example tunnel_bench -- [--bytes N] [--runs N] [--agents 100,1000] [--modes direct,relay,ws,wss]
//! ```
//!
//! Fairness: every column moves the same payload with the same 256 KiB
//! reads and writes at the client and the target; all tasks (client,
//! server, agent, target) run on the same two-worker runtime with the
//! allocator the `corral` binary uses (mimalloc); runs are interleaved
//! (direct, relay, ws, wss, direct, ...) so load from elsewhere on the
//! machine hits all columns alike. `relay` is the honest upper bound for
//! the tunnel: the same number of TCP hops (client -> hop -> target), with
//! no framing, multiplexing or user-space copies. `--agents ''` skips the
//! memory part and `--modes ws` measures one column (for profiling).
//!
//! Throughput: one stream moves `--bytes` (default 1 GiB) to a sink
//! (upload: server → agent → target) and from a source (download: target →
//! agent → server), `--runs` times each (median printed), interleaved with
//! the same transfer over a direct loopback TCP connection. The agent runs
//! in-process, over `ws://` and over `wss://` (TLS on both ends).
//!
//! Memory: a child process (this binary with `--child-agents`) connects N
//! agents over `wss://`; this process is only the server, so the growth of
//! its VmRSS (from /proc/self/status) is the server's cost of N idle
//! sessions. Measured before any throughput run, so the baseline is clean.
//! Then every session downloads 1 MiB once (from a target in the child) and
//! the RSS is measured again: the cost of sessions that have carried traffic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral_tunnel::{
    Agent, AgentConfig, Allowlist, CLUSTER_ID_HEADER, CONNECT_PATH, ServerConfig, TunnelServer,
};
use futures::StreamExt;
use http_body_util::Empty;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The allocator the `corral` binary runs on, so that allocation costs and
/// RSS figures are the product's (yamux allocates a buffer per frame).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SINK: u8 = 0;
const SOURCE: u8 = 1;
const CHUNK: usize = 256 << 10;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Session knobs, forwarded to the child so both ends agree.
    let mut tunnel = corral_tunnel::TunnelConfig::default();
    let mut knobs = Vec::new();
    for (flag, field) in [
        ("--split-send-size", &mut tunnel.split_send_size),
        ("--ws-message-size", &mut tunnel.ws_message_size),
        ("--ws-read-buffer", &mut tunnel.ws_read_buffer),
    ] {
        if let Some(v) = arg(flag) {
            *field = v.parse()?;
            knobs.extend([flag.to_string(), v]);
        }
    }
    if let Some(n) = arg("--child-agents") {
        let url = arg("--url").ok_or("--url")?;
        let ca = arg("--ca").ok_or("--ca")?;
        let prefix = arg("--prefix").unwrap_or_else(|| "agent".into());
        return runtime.block_on(child(n.parse()?, url, ca, prefix, tunnel));
    }
    let bytes: u64 = arg("--bytes").map_or(Ok(1 << 30), |v| v.parse())?;
    let runs: usize = arg("--runs").map_or(Ok(5), |v| v.parse())?;
    let agents: Vec<usize> = arg("--agents")
        .unwrap_or_else(|| "100,1000".into())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    // Which throughput columns to measure (others print as "-"); for
    // profiling one path at a time.
    let modes: Vec<String> = arg("--modes")
        .unwrap_or_else(|| "direct,relay,ws,wss".into())
        .split(',')
        .map(str::to_string)
        .collect();
    // On a worker like any server task (not on this thread via `block_on`,
    // which would make a third thread compete for the two cores).
    runtime.block_on(async move {
        tokio::spawn(parent(bytes, runs.max(1), agents, modes, tunnel, knobs))
            .await
            .map_err(|e| -> Error { e.to_string().into() })?
    })
}

/// The hyper front end: `/v3/connect` with the cluster id header, no auth.
async fn serve_connection<IO>(io: IO, tunnel: TunnelServer)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let tunnel = tunnel.clone();
        async move {
            let cluster = req
                .headers()
                .get(CLUSTER_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match (req.uri().path() == CONNECT_PATH, cluster) {
                (true, Some(cluster)) => match tunnel.upgrade(req, cluster) {
                    Ok(response) => Ok(response.map(|()| Empty::<Bytes>::new())),
                    Err(_) => http::Response::builder().status(400).body(Empty::new()),
                },
                _ => http::Response::builder().status(404).body(Empty::new()),
            }
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

async fn front(tunnel: TunnelServer, tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (tunnel, acceptor) = (tunnel.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(tls) = a.accept(tcp).await {
                            serve_connection(tls, tunnel).await;
                        }
                    }
                    None => serve_connection(tcp, tunnel).await,
                }
            });
        }
    });
    addr
}

/// A CA and a serving certificate for 127.0.0.1.
fn pki() -> Result<(CertificateDer<'static>, Arc<rustls::ServerConfig>), Error> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_cert.pem(), ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = vec![rcgen::SanType::IpAddress([127, 0, 0, 1].into())];
    let cert = params.signed_by(&key, &issuer)?;
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    Ok((ca_cert.der().clone(), Arc::new(server)))
}

fn client_tls(ca: CertificateDer<'static>) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca)?;
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn parent(
    bytes: u64,
    runs: usize,
    agent_counts: Vec<usize>,
    modes: Vec<String>,
    tunnel_cfg: corral_tunnel::TunnelConfig,
    knobs: Vec<String>,
) -> Result<(), Error> {
    let (ca, server_tls) = pki()?;
    let tunnel = TunnelServer::new(ServerConfig {
        tunnel: tunnel_cfg.clone(),
        ..ServerConfig::default()
    });
    let tls_addr = front(tunnel.clone(), Some(server_tls)).await;
    let plain_addr = front(tunnel.clone(), None).await;

    // Memory first, on a clean heap.
    let ca_path = std::env::temp_dir().join(format!("tunnel-bench-ca-{}.der", std::process::id()));
    std::fs::write(&ca_path, ca.as_ref())?;
    let url = format!("wss://{tls_addr}{CONNECT_PATH}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = rss_kib();
    println!("server RSS baseline: {:.1} MiB", baseline as f64 / 1024.0);
    let mut children = Vec::new();
    let mut batches: Vec<(String, usize, SocketAddr)> = Vec::new();
    let mut connected = 0;
    for (i, &target) in agent_counts.iter().enumerate() {
        if target <= connected {
            continue;
        }
        let more = target - connected;
        let started = Instant::now();
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["--child-agents", &more.to_string(), "--url", &url])
            .arg("--ca")
            .arg(&ca_path)
            .args(["--prefix", &format!("batch{i}")])
            .args(&knobs)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        // The child's first line names the target its agents may dial.
        let mut child = child;
        let stdout = child.stdout.take().ok_or("child stdout")?;
        let mut line = String::new();
        tokio::io::BufReader::new(stdout)
            .read_line(&mut line)
            .await?;
        let child_target: SocketAddr = line.trim().parse()?;
        batches.push((format!("batch{i}"), more, child_target));
        children.push(child);
        while tunnel.sessions().len() < target {
            if started.elapsed() > Duration::from_secs(120) {
                return Err(format!(
                    "only {} of {target} agents connected",
                    tunnel.sessions().len()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let connect_time = started.elapsed();
        // Let handshake garbage settle and a keepalive round pass.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = rss_kib();
        let delta = rss.saturating_sub(baseline);
        println!(
            "server RSS with {target:>5} idle agents (wss): {:7.1} MiB total, +{:6.1} MiB over baseline = {:5.1} KiB/session  ({more} connected in {:.2?})",
            rss as f64 / 1024.0,
            delta as f64 / 1024.0,
            delta as f64 / target as f64,
            connect_time
        );
        connected = target;
    }
    if connected > 0 {
        // Every session moves 1 MiB once (buffers grow), then goes idle again.
        let started = Instant::now();
        let work: Vec<(String, SocketAddr)> = batches
            .iter()
            .flat_map(|(prefix, n, addr)| (0..*n).map(move |j| (format!("{prefix}-{j}"), *addr)))
            .collect();
        let tunnel2 = tunnel.clone();
        futures::stream::iter(work)
            .for_each_concurrent(32, |(cluster, addr)| {
                let tunnel = tunnel2.clone();
                async move {
                    match tunnel.dial(&cluster, &addr.to_string()).await {
                        Ok(s) => {
                            if let Err(e) = transfer(s, SOURCE, 1 << 20).await {
                                eprintln!("{cluster}: {e}");
                            }
                        }
                        Err(e) => eprintln!("{cluster}: {e}"),
                    }
                }
            })
            .await;
        let took = started.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = rss_kib();
        let delta = rss.saturating_sub(baseline);
        println!(
            "server RSS with {connected:>5} agents after one 1 MiB download each, idle again: {:7.1} MiB total, +{:6.1} MiB = {:5.1} KiB/session  (downloads took {took:.2?})",
            rss as f64 / 1024.0,
            delta as f64 / 1024.0,
            delta as f64 / connected as f64,
        );
    }
    drop(children);
    let _ = std::fs::remove_file(&ca_path);
    while !tunnel.sessions().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Throughput.
    let target = start_target().await;
    let allow = Allowlist::addresses([target.to_string()]);
    let mut ws_cfg = AgentConfig::new(format!("ws://{plain_addr}{CONNECT_PATH}"), allow.clone())
        .header(CLUSTER_ID_HEADER, "bench-ws")?;
    ws_cfg.backoff.min = Duration::from_millis(50);
    ws_cfg.tunnel = tunnel_cfg.clone();
    let mut wss_cfg = AgentConfig::new(url, allow).header(CLUSTER_ID_HEADER, "bench-wss")?;
    wss_cfg.tls = Some(client_tls(ca)?);
    wss_cfg.backoff.min = Duration::from_millis(50);
    wss_cfg.tunnel = tunnel_cfg;
    for cfg in [ws_cfg, wss_cfg] {
        let agent = Agent::new(cfg)?;
        tokio::spawn(async move { agent.run(std::future::pending()).await });
    }
    while tunnel.sessions().len() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let relay = start_relay(target).await;
    println!(
        "\nsingle-stream throughput, {} MiB per transfer, median of {runs} runs (MiB/s);",
        bytes >> 20
    );
    println!(
        "relay = direct TCP through one extra in-process TCP hop (the tunnel's hop count, no mux):"
    );
    println!(
        "{:<10} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>9}",
        "direction", "direct", "relay", "tunnel-ws", "tunnel-wss", "ws/dir", "wss/dir", "ws/relay"
    );
    for (label, kind) in [("upload", SINK), ("download", SOURCE)] {
        let mut results: [Vec<f64>; 4] = Default::default();
        let mut cpu: [Vec<f64>; 4] = Default::default();
        for _ in 0..runs {
            for (mode, result) in results.iter_mut().enumerate() {
                let name = ["direct", "relay", "ws", "wss"][mode];
                if !modes.iter().any(|m| m == name) {
                    result.push(f64::NAN);
                    cpu[mode].push(f64::NAN);
                    continue;
                }
                let (cpu0, wall0) = (cpu_seconds(), Instant::now());
                let mbps = match mode {
                    0 | 1 => {
                        let tcp =
                            TcpStream::connect(if mode == 0 { target } else { relay }).await?;
                        tcp.set_nodelay(true)?;
                        transfer(tcp, kind, bytes).await?
                    }
                    _ => {
                        let cluster = if mode == 2 { "bench-ws" } else { "bench-wss" };
                        let s = tunnel.dial(cluster, &target.to_string()).await?;
                        transfer(s, kind, bytes).await?
                    }
                };
                result.push(mbps);
                cpu[mode].push(100.0 * (cpu_seconds() - cpu0) / wall0.elapsed().as_secs_f64());
            }
        }
        let [d, r, w, s] = results.map(median);
        let [cd, cr, cw, cs] = cpu.map(median);
        println!(
            "{label:<10} {d:>8.0} {r:>8.0} {w:>10.0} {s:>10.0} {:>7.0}% {:>7.0}% {:>8.0}%",
            100.0 * w / d,
            100.0 * s / d,
            100.0 * w / r
        );
        println!(
            "{:<10} {cd:>7.0}% {cr:>7.0}% {cw:>9.0}% {cs:>9.0}%   (CPU use of this process, 200% = both cores)",
            ""
        );
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Move `bytes` over `s` (to the sink or from the source); MiB/s.
async fn transfer<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    kind: u8,
    bytes: u64,
) -> Result<f64, Error> {
    let mut header = [0u8; 9];
    header[0] = kind;
    header[1..].copy_from_slice(&bytes.to_be_bytes());
    let started = Instant::now();
    s.write_all(&header).await?;
    let mut buf = vec![0x5a_u8; CHUNK];
    if kind == SINK {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            s.write_all(&buf[..n]).await?;
            left -= n as u64;
        }
        let mut ack = [0u8; 8];
        s.read_exact(&mut ack).await?;
        if u64::from_be_bytes(ack) != bytes {
            return Err("sink count mismatch".into());
        }
    } else {
        let mut got = 0u64;
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        if got != bytes {
            return Err(format!("source sent {got} of {bytes}").into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(bytes as f64 / (1 << 20) as f64 / secs)
}

/// Sink (read N, answer N) and source (send N, close) on one port.
async fn start_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let mut header = [0u8; 9];
                if tcp.read_exact(&mut header).await.is_err() {
                    return;
                }
                let mut len = [0u8; 8];
                len.copy_from_slice(&header[1..]);
                let len = u64::from_be_bytes(len);
                let mut buf = vec![0xa5_u8; CHUNK];
                if header[0] == SINK {
                    let mut got = 0u64;
                    while got < len {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got += n as u64,
                        }
                    }
                    let _ = tcp.write_all(&got.to_be_bytes()).await;
                } else {
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(CHUNK as u64) as usize;
                        if tcp.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        left -= n as u64;
                    }
                }
                let _ = tcp.shutdown().await;
            });
        }
    });
    addr
}

/// A plain TCP relay to `target` (one extra hop, no multiplexing).
async fn start_relay(target: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut down, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut up) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = (down.set_nodelay(true), up.set_nodelay(true));
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut down,
                    &mut up,
                    64 << 10,
                    64 << 10,
                )
                .await;
            });
        }
    });
    addr
}

/// Child mode: `n` agents over wss, idle, until stdin closes.
async fn child(
    n: usize,
    url: String,
    ca: String,
    prefix: String,
    tunnel: corral_tunnel::TunnelConfig,
) -> Result<(), Error> {
    let tls = client_tls(CertificateDer::from(std::fs::read(ca)?))?;
    let target = start_target().await;
    println!("{target}");
    for i in 0..n {
        let mut cfg = AgentConfig::new(url.clone(), Allowlist::addresses([target.to_string()]))
            .header(CLUSTER_ID_HEADER, &format!("{prefix}-{i}"))?;
        cfg.tls = Some(tls.clone());
        cfg.tunnel = tunnel.clone();
        cfg.backoff.min = Duration::from_millis(100);
        let agent = Agent::new(cfg)?;
        tokio::spawn(async move { agent.run(std::future::pending()).await });
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Parent closes stdin (or dies): exit.
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut buf = [0u8; 1];
        let _ = std::io::stdin().read(&mut buf);
    })
    .await;
    Ok(())
}
