//! The tunnel over wss:// with a CA and serving certificate made by rcgen.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use corral_tunnel::{AgentEvent, Allowlist, ServerConfig, TunnelServer};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Pki {
    ca: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

fn make_pki() -> Pki {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let ca_der = ca_cert.der().clone();
    let issuer = Issuer::from_ca_cert_pem(&ca_cert.pem(), ca_key).expect("issuer");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &issuer).expect("sign");
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    Pki {
        ca: ca_der,
        server: Arc::new(server),
    }
}

fn client_tls(ca: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_over_tls() {
    init_tracing();
    let pki = make_pki();
    let tunnel = TunnelServer::new(ServerConfig {
        tunnel: fast_tunnel(),
        ..ServerConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let front = start_front(listener, tunnel.clone(), Some(pki.server.clone())).await;
    let echo = echo_target().await;
    let url = format!("wss://127.0.0.1:{}/v3/connect", front.addr.port());

    let mut cfg = agent_config(&url, "c-tls", Allowlist::addresses([echo.to_string()]));
    cfg.tls = Some(client_tls(&pki.ca));
    let agent = spawn_agent(cfg);
    wait_connected(&tunnel, "c-tls").await;
    let mut stream = tunnel.dial("c-tls", &echo.to_string()).await.expect("dial");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = tokio::io::split(&mut stream);
    let send = async {
        w.write_all(&payload).await.expect("write");
    };
    let mut back = vec![0u8; payload.len()];
    let recv = async {
        r.read_exact(&mut back).await.expect("read");
    };
    tokio::join!(send, recv);
    assert_eq!(back, payload);
    agent.stop().await;

    // An agent that does not trust the server's CA never gets a session.
    let stranger = make_pki();
    let mut cfg = agent_config(&url, "c-untrusting", Allowlist::addresses(["x:1"]));
    cfg.tls = Some(client_tls(&stranger.ca));
    let mut agent = spawn_agent(cfg);
    let event = loop {
        let event = tokio::time::timeout(Duration::from_secs(5), agent.events.recv())
            .await
            .expect("event")
            .expect("event");
        if let AgentEvent::ConnectFailed { error, .. } = event {
            break error;
        }
    };
    assert!(event.to_lowercase().contains("certificate"), "{event}");
    assert!(tunnel.session("c-untrusting").is_none());
    agent.stop().await;
}
