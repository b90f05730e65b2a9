//! Real HTTPS API servers on loopback for the proxy's tests and benchmark:
//! an embedded store, static bearer tokens, and the server's own PKI.

use std::path::Path;
use std::sync::Arc;

use corral_apiserver::authn::token::StaticTokenAuthenticator;
use corral_apiserver::authn::{Chain, UserInfo};
use corral_apiserver::{ApiServer, ApiServerOptions, pki, server};
use corral_store::sqlite::{SqliteOptions, SqliteStore};

pub struct Served {
    pub url: String,
    pub ca_pem: String,
    pub api: Arc<ApiServer>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    }
}

pub async fn serve(dir: &Path, tokens: &[(&str, UserInfo)]) -> Served {
    std::fs::create_dir_all(dir).expect("dir");
    let store = SqliteStore::open(&dir.join("db"), SqliteOptions::default()).expect("store");
    let mut auth = StaticTokenAuthenticator::new();
    for (t, u) in tokens {
        auth = auth.with_hash(StaticTokenAuthenticator::hash(t), u.clone());
    }
    let api = ApiServer::new(
        store,
        ApiServerOptions {
            service_ranges: None,
            audit: None,
            authenticator: Chain::new().with(Arc::new(auth)),
            sa_keys: None,
            allow_anonymous: false,
        },
    );
    api.start().await.expect("start");
    let pki = pki::load_or_create(&dir.join("tls"), &["127.0.0.1".to_string()]).expect("pki");
    let tls = pki::server_tls_config(&pki).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = api.clone();
    tokio::spawn(async move {
        let _ = server::serve(listener, tls, serving, async {
            let _ = stopped.await;
        })
        .await;
    });
    Served {
        url: format!("https://{addr}"),
        ca_pem: pki.ca_cert_pem.clone(),
        api,
        _stop: stop,
    }
}
