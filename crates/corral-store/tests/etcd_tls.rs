//! `EtcdStore` over TLS with client certificates, against a real
//! single-member etcd started with `--client-cert-auth` (the 3-member script
//! serves plain HTTP; TLS needs only one member to prove the wiring).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corral_store::Store;
use corral_store::StoreError;
use corral_store::etcd::{EtcdOptions, EtcdStore, EtcdTls};
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Kills the member by PID (and waits for it) however the test ends.
struct Member(Child);

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write(dir: &Path, name: &str, pem: &str) {
    std::fs::write(dir.join(name), pem).expect("write PEM");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
fn make_pki(dir: &Path) {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "corral-test-etcd-ca");
    ca.distinguished_name = dn;
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    write(dir, "ca.crt", &ca_cert.pem());
    let issuer = Issuer::from_ca_cert_pem(&ca_cert.pem(), ca_key).expect("issuer");

    for (name, usage) in [
        ("server", ExtendedKeyUsagePurpose::ServerAuth),
        ("client", ExtendedKeyUsagePurpose::ClientAuth),
    ] {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("corral-test-{name}"));
        params.distinguished_name = dn;
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).expect("sign");
        write(dir, &format!("{name}.crt"), &cert.pem());
        write(dir, &format!("{name}.key"), &key.serialize_pem());
    }
}

/// Two distinct free ports (both held while asking, so never the same one).
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("a free port");
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("local address").port();
    (port(&a), port(&b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    make_pki(d);
    let (client_port, peer_port) = free_ports();
    let endpoint = format!("https://127.0.0.1:{client_port}");
    let path = |name: &str| d.join(name).to_string_lossy().into_owned();
    let spawned = Command::new("etcd")
        .arg(format!("--data-dir={}", path("data")))
        .arg(format!("--listen-client-urls={endpoint}"))
        .arg(format!("--advertise-client-urls={endpoint}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
        ))
        .arg(format!(
            "--initial-cluster=default=http://127.0.0.1:{peer_port}"
        ))
        .arg(format!("--cert-file={}", path("server.crt")))
        .arg(format!("--key-file={}", path("server.key")))
        .arg(format!("--trusted-ca-file={}", path("ca.crt")))
        .arg("--client-cert-auth")
        .args(["--logger=zap", "--log-outputs=stderr"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("etcd.log")).expect("log file"))
        .spawn();
    let _member = match spawned {
        Ok(child) => Member(child),
        Err(e) => panic!("cannot start etcd (install Debian's etcd-server): {e}"),
    };

    let tls = |cert: bool| EtcdOptions {
        endpoints: vec![endpoint.clone()],
        key_prefix: "/tls".to_string(),
        tls: Some(EtcdTls {
            ca_file: d.join("ca.crt"),
            cert_file: cert.then(|| d.join("client.crt")),
            key_file: cert.then(|| d.join("client.key")),
        }),
        ..EtcdOptions::default()
    };
    // Wait for the member, connecting the way a server would.
    let started = Instant::now();
    let store = loop {
        match EtcdStore::connect(tls(true)).await {
            Ok(store) => break store,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = e;
            }
            Err(e) => panic!(
                "no TLS connection to etcd: {e:?}\n{}",
                std::fs::read_to_string(d.join("etcd.log")).unwrap_or_default()
            ),
        }
    };
    let mut watch = store.watch("/", 0).await.expect("watch");
    let created = store.create("/k", Bytes::from("v")).await.expect("create");
    assert_eq!(store.get("/k").await.expect("get"), Some(created.clone()));
    match tokio::time::timeout(Duration::from_secs(10), watch.next()).await {
        Ok(Some(Ok(batch))) => assert_eq!(batch[0].kv, created),
        other => panic!("watch over TLS: {other:?}"),
    }

    // Without a client certificate the member refuses us: not a hang.
    match EtcdStore::connect(tls(false)).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("connect without a client certificate: {:?}", other.err()),
    }
    // A plain-HTTP client cannot talk to it either.
    let plain = EtcdStore::connect(EtcdOptions {
        endpoints: vec![endpoint.replace("https://", "http://")],
        ..EtcdOptions::default()
    })
    .await;
    assert!(plain.is_err(), "plain HTTP to a TLS member must fail");
}
