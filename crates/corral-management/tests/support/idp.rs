//! Test identity providers on loopback that speak the real protocols over
//! HTTP: an OpenID Provider (discovery, an auto-approving authorization
//! endpoint, a token endpoint that checks the client secret and the PKCE
//! verifier, JWKS) and GitHub's OAuth web flow and REST endpoints. Tests
//! turn knobs in their shared state to make them misbehave.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

type Handler = Arc<dyn Fn(Req) -> Response<Full<Bytes>> + Send + Sync>;

/// A request as the fake servers see it.
pub struct Req {
    pub method: http::Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: http::HeaderMap,
    pub form: HashMap<String, String>,
}

fn respond(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("ct"));
    r
}

fn redirect(location: &str) -> Response<Full<Bytes>> {
    let mut r = respond(302, json!({}));
    r.headers_mut()
        .insert("location", location.parse().expect("location"));
    r
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

/// A self-signed certificate for 127.0.0.1: (its PEM, a rustls server config).
pub fn tls_identity() -> (String, Arc<rustls::ServerConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .expect("server config");
    (ck.cert.pem(), Arc::new(config))
}

/// Serve `handler` on 127.0.0.1, over HTTPS with `tls` or plain HTTP; the base URL.
async fn serve(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let scheme = if tls.is_some() { "https" } else { "http" };
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let req = Req {
                            method: parts.method.clone(),
                            path: parts.uri.path().to_string(),
                            query: form_urlencoded::parse(
                                parts.uri.query().unwrap_or("").as_bytes(),
                            )
                            .into_owned()
                            .collect(),
                            headers: parts.headers.clone(),
                            form: form_urlencoded::parse(&bytes).into_owned().collect(),
                        };
                        Ok::<_, Infallible>(handler(req))
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = builder
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                            .await;
                    }
                    Some(tls) => {
                        let Ok(stream) = tokio_rustls::TlsAcceptor::from(tls).accept(tcp).await
                        else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    }
                }
            });
        }
    });
    format!("{scheme}://{addr}")
}

/// A signing key of the fake OpenID Provider.
#[derive(Clone)]
pub struct SigningKey {
    pub alg: Algorithm,
    pub kid: String,
    pub key: EncodingKey,
    pub jwk: Jwk,
}

impl SigningKey {
    /// A fresh 2048-bit RSA key (made by the openssl command, fast at any opt level).
    pub fn rsa(kid: &str) -> SigningKey {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl is needed to make test RSA keys");
        assert!(out.status.success(), "openssl genpkey failed");
        let key = EncodingKey::from_rsa_pem(&out.stdout).expect("rsa pem");
        Self::finish(Algorithm::RS256, kid, key)
    }

    /// A fresh P-256 key.
    pub fn ec(kid: &str) -> SigningKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ec key");
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("ec pem");
        Self::finish(Algorithm::ES256, kid, key)
    }

    fn finish(alg: Algorithm, kid: &str, key: EncodingKey) -> SigningKey {
        let mut jwk = Jwk::from_encoding_key(&key, alg).expect("jwk");
        jwk.common.key_id = Some(kid.to_string());
        SigningKey {
            alg,
            kid: kid.to_string(),
            key,
            jwk,
        }
    }
}

/// A user of the fake providers.
#[derive(Clone, Debug)]
pub struct User {
    pub sub: String,
    pub username: String,
    pub name: String,
    pub groups: Vec<String>,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

/// Knobs and records of the fake OpenID Provider.
pub struct OidcState {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub user: User,
    /// Signs ID tokens.
    pub signer: SigningKey,
    /// What `jwks_uri` serves.
    pub published: Vec<Jwk>,
    /// `exp` = now + this many seconds.
    pub exp_in: i64,
    /// Replace the audience, issuer or nonce of ID tokens.
    pub aud: Option<Value>,
    pub iss: Option<String>,
    pub nonce: Option<String>,
    /// Sent with every ID token.
    pub extra_claims: Value,
    /// The authorization endpoint answers `error=access_denied`.
    pub deny: bool,
    pub jwks_fetches: usize,
    pub token_requests: usize,
    /// Why the token endpoint last refused (for asserts).
    pub last_token_error: Option<String>,
    grants: HashMap<String, Grant>,
}

pub struct Oidc {
    pub issuer: String,
    /// The CA of its HTTPS certificate (empty over plain HTTP).
    pub ca_pem: String,
    pub state: Arc<Mutex<OidcState>>,
}

impl Oidc {
    pub async fn start(user: User, signer: SigningKey) -> Oidc {
        Self::start_on(user, signer, None).await
    }

    /// Over HTTPS with a certificate of its own.
    pub async fn start_tls(user: User, signer: SigningKey) -> Oidc {
        let (pem, config) = tls_identity();
        let mut idp = Self::start_on(user, signer, Some(config)).await;
        idp.ca_pem = pem;
        idp
    }

    async fn start_on(
        user: User,
        signer: SigningKey,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Oidc {
        let state = Arc::new(Mutex::new(OidcState {
            issuer: String::new(),
            client_id: "corral".into(),
            client_secret: "s3cret with spaces & symbols".into(),
            user,
            published: vec![signer.jwk.clone()],
            signer,
            exp_in: 300,
            aud: None,
            iss: None,
            nonce: None,
            extra_claims: json!({}),
            deny: false,
            jwks_fetches: 0,
            token_requests: 0,
            last_token_error: None,
            grants: HashMap::new(),
        }));
        let s = state.clone();
        let base = serve(Arc::new(move |req| oidc_handle(&s, req)), tls).await;
        let issuer = format!("{base}/realms/test");
        state.lock().unwrap().issuer = issuer.clone();
        Oidc {
            issuer,
            ca_pem: String::new(),
            state,
        }
    }

    pub fn set(&self, f: impl FnOnce(&mut OidcState)) {
        f(&mut self.state.lock().unwrap());
    }

    pub fn get<T>(&self, f: impl FnOnce(&OidcState) -> T) -> T {
        f(&self.state.lock().unwrap())
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `Basic base64(urlencode(id):urlencode(secret))` → (id, secret).
fn basic_auth(headers: &http::HeaderMap) -> Option<(String, String)> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let decoded = STANDARD.decode(v.strip_prefix("Basic ")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

fn oidc_handle(state: &Arc<Mutex<OidcState>>, req: Req) -> Response<Full<Bytes>> {
    let mut s = state.lock().unwrap();
    let issuer = s.issuer.clone();
    let path = req
        .path
        .strip_prefix("/realms/test")
        .unwrap_or("")
        .to_string();
    match (req.method.as_str(), path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => respond(
            200,
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
                "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }),
        ),
        ("GET", "/protocol/openid-connect/certs") => {
            s.jwks_fetches += 1;
            respond(200, json!({"keys": s.published}))
        }
        ("GET", "/protocol/openid-connect/auth") => {
            let q = &req.query;
            let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
            let state_param = q.get("state").cloned().unwrap_or_default();
            let ok = q.get("response_type").map(String::as_str) == Some("code")
                && q.get("client_id") == Some(&s.client_id)
                && q.get("code_challenge_method").map(String::as_str) == Some("S256")
                && q.get("code_challenge").is_some_and(|c| c.len() == 43)
                && q.get("scope")
                    .is_some_and(|sc| sc.split(' ').any(|x| x == "openid"))
                && redirect_uri.starts_with("https://127.0.0.1:");
            if !ok {
                return respond(
                    400,
                    json!({"error": "invalid_request", "query": format!("{q:?}")}),
                );
            }
            if s.deny {
                return redirect(&with_query(
                    &redirect_uri,
                    &[("error", "access_denied"), ("state", &state_param)],
                ));
            }
            let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
            let client_id = s.client_id.clone();
            s.grants.insert(
                code.clone(),
                Grant {
                    client_id,
                    redirect_uri: redirect_uri.clone(),
                    challenge: q["code_challenge"].clone(),
                    nonce: q.get("nonce").cloned().unwrap_or_default(),
                },
            );
            redirect(&with_query(
                &redirect_uri,
                &[("code", &code), ("state", &state_param)],
            ))
        }
        ("POST", "/protocol/openid-connect/token") => {
            s.token_requests += 1;
            let f = &req.form;
            let (id, secret) = basic_auth(&req.headers)
                .or_else(|| Some((f.get("client_id")?.clone(), f.get("client_secret")?.clone())))
                .unwrap_or_default();
            let refuse = |s: &mut OidcState, status: u16, error: &str| {
                s.last_token_error = Some(error.to_string());
                respond(status, json!({"error": error}))
            };
            if id != s.client_id || secret != s.client_secret {
                return refuse(&mut s, 401, "invalid_client");
            }
            if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
                return refuse(&mut s, 400, "unsupported_grant_type");
            }
            let Some(grant) = f.get("code").and_then(|c| s.grants.remove(c)) else {
                return refuse(&mut s, 400, "invalid_grant");
            };
            if grant.client_id != id || f.get("redirect_uri") != Some(&grant.redirect_uri) {
                return refuse(&mut s, 400, "invalid_grant");
            }
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
                return refuse(&mut s, 400, "invalid_grant: PKCE verification failed");
            }
            let t = now();
            let mut claims = json!({
                "iss": s.iss.clone().unwrap_or_else(|| issuer.clone()),
                "sub": s.user.sub,
                "aud": s.aud.clone().unwrap_or_else(|| json!(s.client_id)),
                "exp": t + s.exp_in,
                "iat": t,
                "nonce": s.nonce.clone().unwrap_or(grant.nonce),
                "preferred_username": s.user.username,
                "name": s.user.name,
                "groups": s.user.groups,
            });
            if let (Some(c), Some(extra)) = (claims.as_object_mut(), s.extra_claims.as_object()) {
                for (k, v) in extra {
                    c.insert(k.clone(), v.clone());
                }
            }
            let mut header = Header::new(s.signer.alg);
            header.kid = Some(s.signer.kid.clone());
            let id_token = jsonwebtoken::encode(&header, &claims, &s.signer.key).expect("sign");
            respond(
                200,
                json!({"access_token": "opaque-access", "token_type": "Bearer",
                    "expires_in": 300, "id_token": id_token}),
            )
        }
        _ => respond(404, json!({"error": "not_found", "path": req.path})),
    }
}

/// Knobs and records of the fake GitHub.
pub struct GithubState {
    pub client_id: String,
    pub client_secret: String,
    pub user: Value,
    pub orgs: Vec<Value>,
    pub teams: Vec<Value>,
    /// The authorize endpoint answers `error=access_denied`.
    pub deny: bool,
    codes: HashMap<String, (String, String)>,
    tokens: HashMap<String, ()>,
    pub last_token_error: Option<String>,
}

pub struct Github {
    pub base: String,
    pub api: String,
    pub state: Arc<Mutex<GithubState>>,
}

impl Github {
    pub async fn start(user: Value, orgs: Vec<Value>, teams: Vec<Value>) -> Github {
        let state = Arc::new(Mutex::new(GithubState {
            client_id: "Iv1.corral".into(),
            client_secret: "gh-secret".into(),
            user,
            orgs,
            teams,
            deny: false,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            last_token_error: None,
        }));
        let s = state.clone();
        let base = serve(Arc::new(move |req| github_handle(&s, req)), None).await;
        Github {
            api: format!("{base}/api/v3"),
            base,
            state,
        }
    }

    pub fn set(&self, f: impl FnOnce(&mut GithubState)) {
        f(&mut self.state.lock().unwrap());
    }
}

/// A page of `items` with GitHub's `Link` header (2 per page here, to exercise paging).
fn page(base: &str, path: &str, items: &[Value], page: usize) -> Response<Full<Bytes>> {
    const PER: usize = 2;
    let chunk: Vec<Value> = items
        .iter()
        .skip((page - 1) * PER)
        .take(PER)
        .cloned()
        .collect();
    let mut r = respond(200, Value::Array(chunk));
    if page * PER < items.len() {
        let link = format!(
            "<{base}{path}?per_page=100&page={}>; rel=\"next\"",
            page + 1
        );
        r.headers_mut().insert("link", link.parse().expect("link"));
    }
    r
}

fn github_handle(state: &Arc<Mutex<GithubState>>, req: Req) -> Response<Full<Bytes>> {
    let mut s = state.lock().unwrap();
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/login/oauth/authorize") => {
            let q = &req.query;
            let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
            let st = q.get("state").cloned().unwrap_or_default();
            if q.get("client_id") != Some(&s.client_id)
                || !redirect_uri.starts_with("https://127.0.0.1:")
            {
                return respond(400, json!({"error": "invalid_request"}));
            }
            if s.deny {
                return redirect(&with_query(
                    &redirect_uri,
                    &[("error", "access_denied"), ("state", &st)],
                ));
            }
            let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
            let challenge = q.get("code_challenge").cloned().unwrap_or_default();
            s.codes
                .insert(code.clone(), (redirect_uri.clone(), challenge));
            redirect(&with_query(
                &redirect_uri,
                &[("code", &code), ("state", &st)],
            ))
        }
        ("POST", "/login/oauth/access_token") => {
            let f = &req.form;
            // GitHub answers errors with 200 and an `error` field.
            let refuse = |s: &mut GithubState, e: &str| {
                s.last_token_error = Some(e.to_string());
                respond(200, json!({"error": e}))
            };
            if req.headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
                return respond(200, json!("access_token=wrong-format"));
            }
            if f.get("client_id") != Some(&s.client_id)
                || f.get("client_secret") != Some(&s.client_secret)
            {
                return refuse(&mut s, "incorrect_client_credentials");
            }
            let Some((redirect_uri, challenge)) = f.get("code").and_then(|c| s.codes.remove(c))
            else {
                return refuse(&mut s, "bad_verification_code");
            };
            if f.get("redirect_uri") != Some(&redirect_uri) {
                return refuse(&mut s, "redirect_uri_mismatch");
            }
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
                return refuse(&mut s, "bad_verification_code");
            }
            let token = format!("gho_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()));
            s.tokens.insert(token.clone(), ());
            respond(
                200,
                json!({"access_token": token, "token_type": "bearer", "scope": "read:org,read:user"}),
            )
        }
        ("GET", p) if p.starts_with("/api/v3/") => {
            let token = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !s.tokens.contains_key(token) {
                return respond(401, json!({"message": "Bad credentials"}));
            }
            let n: usize = req
                .query
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let host = req
                .headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let base = format!("http://{host}");
            match &p["/api/v3".len()..] {
                "/user" => respond(200, s.user.clone()),
                "/user/orgs" => page(&base, p, &s.orgs, n),
                "/user/teams" => page(&base, p, &s.teams, n),
                _ => respond(404, json!({"message": "Not Found"})),
            }
        }
        _ => respond(404, json!({"message": "Not Found"})),
    }
}
