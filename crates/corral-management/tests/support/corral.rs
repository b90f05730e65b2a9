//! An in-process Corral management server on loopback, wired as
//! `corral server` wires it (crates/corral/src/server_cmd.rs): the identity
//! plane's store decorator and views, an authenticator chain of static
//! tokens (an admin in `system:masters`, the management plane's own) and
//! Corral tokens, the API server over HTTPS with its own PKI, then the
//! identity plane (CRDs, bootstrap admin, `/v3`). Plus a small HTTP(S)
//! client that does not follow redirects, for browser-like flows.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use corral_apiserver::authn::token::StaticTokenAuthenticator;
use corral_apiserver::authn::{Chain, UserInfo};
use corral_apiserver::{ApiServer, ApiServerOptions, pki, server};
use corral_management::identity::endpoints::Endpoints;
use corral_management::identity::plane::{IdentityPlane, Options};
use corral_store::Store;
use corral_store::sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

pub struct Corral {
    pub url: String,
    pub port: u16,
    pub ca_pem: String,
    pub api: Arc<ApiServer>,
    pub endpoints: Arc<Endpoints>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    _identity_stop: tokio::sync::watch::Sender<bool>,
}

pub async fn start() -> Corral {
    start_with(Some(ADMIN_PASSWORD.to_string())).await
}

pub async fn start_with(bootstrap_password: Option<String>) -> Corral {
    let dir = tempfile::Builder::new()
        .prefix("corral-identity-")
        .tempdir()
        .expect("tempdir");
    let store: Arc<dyn Store> =
        SqliteStore::open(&dir.path().join("db"), SqliteOptions::default()).expect("store");
    let (identity, store) = IdentityPlane::new(store);
    let management_token = format!("corral-management:{}", hex(&rand_bytes()));
    let masters = |name: &str| UserInfo {
        name: name.into(),
        groups: vec!["system:masters".into()],
        ..Default::default()
    };
    let authenticator = Chain::new()
        .with(Arc::new(
            StaticTokenAuthenticator::new()
                .with_hash(
                    StaticTokenAuthenticator::hash(ADMIN_TOKEN),
                    masters("system:admin"),
                )
                .with_hash(
                    StaticTokenAuthenticator::hash(&management_token),
                    masters("system:corral-management"),
                ),
        ))
        .with(identity.authenticator.clone());
    let api = ApiServer::new(
        store,
        ApiServerOptions {
            service_ranges: None,
            audit: None,
            authenticator,
            sa_keys: None,
            allow_anonymous: false,
        },
    );
    api.start().await.expect("start");
    let (identity_stop, stopped) = tokio::sync::watch::channel(false);
    let endpoints = identity
        .start(
            &api,
            management_token,
            Options {
                bootstrap_password,
                ..Options::default()
            },
            stopped,
        )
        .await
        .expect("identity");
    let pki =
        pki::load_or_create(&dir.path().join("tls"), &["127.0.0.1".to_string()]).expect("pki");
    let tls = pki::server_tls_config(&pki).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = api.clone();
    tokio::spawn(async move {
        let _ = server::serve(listener, tls, serving, async {
            let _ = stop_rx.await;
        })
        .await;
    });
    Corral {
        url: format!("https://127.0.0.1:{}", addr.port()),
        port: addr.port(),
        ca_pem: pki.ca_cert_pem.clone(),
        api,
        endpoints,
        _dir: dir,
        _stop: stop,
        _identity_stop: identity_stop,
    }
}

/// Browser logins in progress on this server.
pub fn pending(c: &Corral) -> usize {
    corral_management::identity::flow::pending_logins(&c.endpoints)
}

fn rand_bytes() -> [u8; 32] {
    rand::random()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }

    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .unwrap_or_else(|| panic!("no Location (status {}): {}", self.status, self.body))
            .to_str()
            .expect("location")
            .to_string()
    }
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// One request to `url` (http, or https trusting `ca_pem`); redirects are not followed.
pub async fn fetch(
    ca_pem: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    use http_body_util::BodyExt;
    let uri: http::Uri = url.parse().expect("url");
    let host = uri.host().expect("host").to_string();
    let port = uri.port_u16().expect("port");
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .expect("connect");
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header("host", format!("{host}:{port}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.unwrap_or("").to_string(),
        )))
        .expect("request");
    let resp = if uri.scheme_str() == Some("https") {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(c.expect("cert")).expect("add");
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(
                rustls::pki_types::ServerName::try_from(host.clone()).expect("name"),
                tcp,
            )
            .await
            .expect("tls handshake");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        sender.send_request(req).await.expect("send")
    } else {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        sender.send_request(req).await.expect("send")
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

impl Corral {
    /// A request to this server (`path` absolute, e.g. `/v3/whoami`).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let body = body.map(|b| b.to_string());
        fetch(
            &self.ca_pem,
            method,
            &format!("{}{path}", self.url),
            &headers,
            body.as_deref(),
        )
        .await
    }

    /// Create (or replace) an object as the admin; panics on failure.
    pub async fn apply(&self, collection: &str, obj: &Value) {
        let r = self
            .call("POST", collection, Some(ADMIN_TOKEN), Some(obj))
            .await;
        if r.status == 409 {
            let name = obj["metadata"]["name"].as_str().expect("name");
            let path = format!("{collection}/{name}");
            let current = self
                .call("GET", &path, Some(ADMIN_TOKEN), None)
                .await
                .json();
            let mut next = obj.clone();
            next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
            let r = self
                .call("PUT", &path, Some(ADMIN_TOKEN), Some(&next))
                .await;
            assert_eq!(r.status, 200, "replace {path}: {}", r.body);
            return;
        }
        assert!(
            r.status == 201 || r.status == 200,
            "create in {collection}: {}",
            r.body
        );
    }

    /// A Secret in corral-system with one key.
    pub async fn secret(&self, name: &str, key: &str, value: &str) {
        self.apply(
            "/api/v1/namespaces/corral-system/secrets",
            &json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": "corral-system"},
                "stringData": {key: value}}),
        )
        .await;
    }

    /// An AuthConfig.
    pub async fn authconfig(&self, name: &str, spec: Value) {
        self.apply(
            "/apis/management.corral.dev/v1/authconfigs",
            &json!({"apiVersion": "management.corral.dev/v1", "kind": "AuthConfig",
                "metadata": {"name": name}, "spec": spec}),
        )
        .await;
    }

    /// Binds `subject` (a user or group name) to a ClusterRole.
    pub async fn bind(&self, binding: &str, kind: &str, subject: &str, role: &str) {
        self.apply(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": binding},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": subject}]}),
        )
        .await;
    }

    /// `GET /v3/whoami` with `token`: the JSON.
    pub async fn whoami(&self, token: &str) -> Value {
        let r = self.call("GET", "/v3/whoami", Some(token), None).await;
        assert_eq!(r.status, 200, "whoami: {}", r.body);
        r.json()
    }
}
