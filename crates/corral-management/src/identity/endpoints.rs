//! The identity endpoints, mounted on the API's port as an
//! [`Extension`](corral_apiserver::extension::Extension):
//!
//! | request | what |
//! |---|---|
//! | `POST /v3/login` | `{"provider","username","password","ttl"(s),"description"}` → `{"token":"<name>:<secret>","user",...,"expiresAt"}`; 401 with one body whether or not the user exists; 429 + `Retry-After` while locked out |
//! | `POST /v3/logout` | revoke the presenting token |
//! | `GET /v3/whoami` | user, groups, principals, provider |
//! | `GET /v3/tokens`, `DELETE /v3/tokens/<name>` | the caller's own tokens |
//! | `POST /v3/users` | create a local user (needs `create` on `users.management.corral.dev`) |
//! | `POST /v3/users?action=changepassword` | `{"currentPassword","newPassword"}` for the caller |
//! | `POST /v3/users/<name>?action=setpassword` | `{"newPassword"}` (needs `update` on users) |
//! | `GET /v3/auth/<provider>/login`, `.../callback` | browser logins (OIDC, GitHub): see [`super::flow`] |
//!
//! `provider` in `/v3/login` is an AuthConfig name: `local`, or one whose
//! AuthConfig is enabled and of a password type (`openldap`,
//! `activedirectory`; see [`super::providers`]).
//!
//! A local user whose `mustChangePassword` is true gets a token at login
//! (the response says `"mustChangePassword": true`), but until the password
//! is changed that token works only here, for `whoami`, `logout`, the
//! caller's tokens and `changepassword`: the API (and the cluster proxy)
//! refuse it as unauthenticated, and `/v3` endpoints that need the API's
//! authentication answer 403 saying why. Once changed, the same token works.
//!
//! Bodies are limited to 64 KiB; every error is a JSON
//! `{"type":"error","status","code","message"}`.

// Helpers return the finished error reply as their `Err`: one per request,
// never on a hot path, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use corral_apimachinery::rbac::Attributes;
use corral_apiserver::ApiServer;
use corral_apiserver::authn::{PeerIdentity, UserInfo, bearer_token};
use corral_apiserver::extension::{Extension, ExtensionBody, ExtensionFuture};
use corral_apiserver::response::{Body, full};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::local::{self, LocalProvider};
use super::lockout::Lockout;
use super::providers::{Built, Providers};
use super::redirect::PendingLogins;
use super::tokens::{self, TokenAuthenticator, TokenIdentity};
use super::{AuthError, PasswordProvider};
use crate::client::LocalClient;
use crate::crds::{GROUP, TOKENS, USERS};

pub const MAX_BODY: usize = 64 * 1024;
/// Default and largest token lifetimes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(16 * 3600);
pub const MAX_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// The one message for every failed login.
pub const LOGIN_FAILED: &str = "invalid username or password";

pub struct Endpoints {
    api: Weak<ApiServer>,
    pub(super) client: Arc<LocalClient>,
    pub(super) local: Arc<LocalProvider>,
    providers: RwLock<Vec<Arc<dyn PasswordProvider>>>,
    /// Providers built from AuthConfigs (LDAP, OIDC, GitHub).
    pub(super) configured: Providers,
    /// Browser logins in progress.
    pub(super) pending: PendingLogins,
    /// Wakes the group refresher (a login with a directory provider).
    pub(super) refresh_wake: tokio::sync::Notify,
    pub(super) auth: Arc<TokenAuthenticator>,
    by_username: Lockout,
    by_address: Lockout,
}

/// The [`Extension`] (a cheap handle on [`Endpoints`]).
#[derive(Clone)]
pub struct IdentityExtension(pub Arc<Endpoints>);

pub(super) type Reply = Response<Body>;
/// A request taken apart: the head (shared, `Sync`) and the body (read once).
type Req<'a> = (&'a Parts, ExtensionBody);

pub(super) fn reply(code: StatusCode, body: &Value) -> Reply {
    let mut resp = Response::new(full(serde_json::to_vec(body).unwrap_or_default()));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

pub(super) fn error(code: StatusCode, message: &str) -> Reply {
    let name = code.canonical_reason().unwrap_or("Error").replace(' ', "");
    reply(
        code,
        &json!({"type": "error", "status": code.as_u16(), "code": name, "message": message}),
    )
}

pub(super) fn unauthorized() -> Reply {
    error(StatusCode::UNAUTHORIZED, LOGIN_FAILED)
}

fn too_many(retry_after: Duration) -> Reply {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("too many failed attempts; try again in {secs} s"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> Reply {
    tracing::warn!(error = %e, "identity request failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the identity service is unavailable; try again",
    )
}

async fn read_json(parts: &Parts, body: ExtensionBody) -> Result<Value, Reply> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body is limited to {MAX_BODY} bytes"),
        )
    };
    if parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY)
    {
        return Err(too_large());
    }
    let mut body = body;
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "error reading the request body",
            ));
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not valid JSON: {e}"),
        )),
    }
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str, Reply> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("{name} is required (a string)"),
        )
    })
}

fn client_address(peer: &PeerIdentity) -> String {
    let addr = peer.remote_addr.as_str();
    addr.parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| addr.to_string())
}

fn query_action(parts: &Parts) -> Option<String> {
    parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "action")
            .map(|(_, v)| v.to_string())
    })
}

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn random_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes: [u8; 10] = rand::random();
    let tail: String = bytes
        .iter()
        .map(|b| ALPHABET[(*b % 32) as usize] as char)
        .collect();
    format!("{prefix}{tail}")
}

impl Endpoints {
    pub fn new(
        api: &Arc<ApiServer>,
        client: Arc<LocalClient>,
        local: Arc<LocalProvider>,
        auth: Arc<TokenAuthenticator>,
        by_username: Lockout,
        by_address: Lockout,
    ) -> Arc<Endpoints> {
        Arc::new(Endpoints {
            api: Arc::downgrade(api),
            configured: Providers::new(client.clone()),
            pending: PendingLogins::default(),
            refresh_wake: tokio::sync::Notify::new(),
            client,
            local,
            providers: RwLock::new(Vec::new()),
            auth,
            by_username,
            by_address,
        })
    }

    /// Another password provider, registered in code (it takes precedence
    /// over one built from the AuthConfig of the same name); used when its
    /// AuthConfig is enabled.
    pub fn add_provider(&self, p: Arc<dyn PasswordProvider>) {
        self.providers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(p);
    }

    /// The password provider called `name`: local, registered, or built
    /// from its AuthConfig (`config`).
    async fn provider(
        &self,
        name: &str,
        config: Option<&Value>,
    ) -> Result<Arc<dyn PasswordProvider>, Reply> {
        if name == local::PROVIDER {
            return Ok(self.local.clone());
        }
        let registered = self
            .providers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|p| p.name() == name)
            .cloned();
        let unknown = || {
            error(
                StatusCode::BAD_REQUEST,
                &format!("unknown auth provider {name:?}"),
            )
        };
        match (registered, config) {
            (Some(p), _) => Ok(p),
            (None, None) => Err(unknown()),
            (None, Some(config)) => match self.configured.build(name, config).await {
                Ok(Built::Password(p)) => Ok(p),
                Ok(Built::Redirect(_)) => Err(error(
                    StatusCode::BAD_REQUEST,
                    &format!("auth provider {name:?} logs in through GET /v3/auth/{name}/login"),
                )),
                Err(AuthError::Unavailable(e)) => Err(unavailable(e)),
                Err(e) => {
                    tracing::warn!(provider = %name, error = %e, "auth provider misconfigured");
                    Err(unknown())
                }
            },
        }
    }

    async fn serve(self: Arc<Self>, req: Request<ExtensionBody>) -> Reply {
        let (parts, body) = req.into_parts();
        let req = (&parts, body);
        let path = parts.uri.path().to_string();
        let method = parts.method.clone();
        match (method, path.as_str()) {
            (Method::POST, "/v3/login") => self.login(req).await,
            (Method::GET, p) if p.starts_with("/v3/auth/") => self.auth_flow(req.0).await,
            (Method::POST, "/v3/logout") => self.logout(req).await,
            (Method::GET, "/v3/whoami") => self.whoami(req).await,
            (Method::GET, "/v3/tokens") => self.list_tokens(req).await,
            (Method::DELETE, p) if p.starts_with("/v3/tokens/") => {
                let name = p["/v3/tokens/".len()..].to_string();
                self.delete_token(req, &name).await
            }
            (Method::POST, "/v3/users") => match query_action(&parts).as_deref() {
                Some("changepassword") => self.change_password(req).await,
                None => self.create_user(req).await,
                Some(other) => error(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown action {other:?}"),
                ),
            },
            (Method::POST, p) if p.starts_with("/v3/users/") => {
                let name = p["/v3/users/".len()..].to_string();
                match query_action(&parts).as_deref() {
                    Some("setpassword") => self.set_password(req, &name).await,
                    _ => error(
                        StatusCode::BAD_REQUEST,
                        "the only action here is setpassword",
                    ),
                }
            }
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this path",
            ),
        }
    }

    async fn login(&self, req: Req<'_>) -> Reply {
        let peer = req
            .0
            .extensions
            .get::<PeerIdentity>()
            .cloned()
            .unwrap_or_default();
        let address = format!("addr/{}", client_address(&peer));
        let body = match read_json(req.0, req.1).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let provider_name = body
            .get("provider")
            .and_then(Value::as_str)
            .unwrap_or(local::PROVIDER)
            .to_string();
        let (username, password) = match (field(&body, "username"), field(&body, "password")) {
            (Ok(u), Ok(p)) => (u.to_string(), p.to_string()),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let ttl = match body.get("ttl") {
            None | Some(Value::Null) => DEFAULT_TTL,
            Some(v) => match v.as_u64() {
                Some(0) => DEFAULT_TTL,
                Some(s) => Duration::from_secs(s.clamp(1, MAX_TTL.as_secs())),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "ttl must be a whole number of seconds",
                    );
                }
            },
        };
        let description = body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(256)
            .collect::<String>();
        let user_key = format!("user/{provider_name}/{username}");
        for key in [&user_key, &address] {
            let lock = if key == &user_key {
                &self.by_username
            } else {
                &self.by_address
            };
            if let Err(retry) = lock.check(key) {
                return too_many(retry);
            }
        }
        let config = match self.configured.config(&provider_name).await {
            Ok(c) => c,
            Err(e) => return unavailable(e),
        };
        let provider = match self.provider(&provider_name, config.as_ref()).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        let enabled = config
            .as_ref()
            .and_then(|c| c["spec"]["enabled"].as_bool())
            .unwrap_or(provider_name == local::PROVIDER);
        if !enabled {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("auth provider {provider_name:?} is not enabled"),
            );
        }
        let identity = match provider.authenticate(&username, &password).await {
            Ok(id) => id,
            Err(AuthError::Unavailable(e)) => return unavailable(e),
            Err(AuthError::LockedOut) => return too_many(Duration::from_secs(60)),
            Err(e) => {
                tracing::info!(provider = %provider_name, reason = %e, "login failed");
                let a = self.by_username.failure(&user_key);
                let b = self.by_address.failure(&address);
                if let Some(lock) = a.or(b) {
                    tracing::warn!(provider = %provider_name, lock_secs = lock.as_secs(), "login locked after repeated failures");
                }
                return unauthorized();
            }
        };
        self.by_username.success(&user_key);
        if provider_name != local::PROVIDER {
            self.refresh_wake.notify_one();
        }
        match self
            .issue(
                &identity,
                &provider_name,
                config.as_ref(),
                ttl,
                &description,
            )
            .await
        {
            Ok(v) => reply(StatusCode::OK, &v),
            Err(r) => r,
        }
    }

    /// The caller's Corral token, or the reply to send.
    async fn token_caller(&self, parts: &Parts) -> Result<TokenIdentity, Reply> {
        let Some(token) = bearer_token(&parts.headers) else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "a Corral token is required",
            ));
        };
        self.auth.validate(token).await.map_err(|e| {
            tracing::debug!(reason = %e, "token refused");
            error(StatusCode::UNAUTHORIZED, "the token is not valid")
        })
    }

    /// The caller as the API would see them (any credential the API accepts).
    async fn api_caller(&self, parts: &Parts) -> Result<(Arc<ApiServer>, UserInfo), Reply> {
        let api = self
            .api
            .upgrade()
            .ok_or_else(|| unavailable("the API server has stopped"))?;
        let peer = parts
            .extensions
            .get::<PeerIdentity>()
            .cloned()
            .unwrap_or_default();
        match api
            .authenticator()
            .authenticate(&parts.headers, &peer)
            .await
        {
            Ok(Some(u)) => Ok((api, u)),
            _ => match bearer_token(&parts.headers) {
                Some(t)
                    if self
                        .auth
                        .validate(t)
                        .await
                        .is_ok_and(|id| id.must_change_password()) =>
                {
                    Err(error(StatusCode::FORBIDDEN, tokens::MUST_CHANGE_PASSWORD))
                }
                _ => Err(error(StatusCode::UNAUTHORIZED, "authentication required")),
            },
        }
    }

    fn authorize(api: &ApiServer, user: &UserInfo, verb: &str, name: &str) -> Result<(), Reply> {
        let attrs = Attributes {
            user: user.clone(),
            verb: verb.into(),
            resource_request: true,
            namespace: String::new(),
            api_group: GROUP.into(),
            resource: "users".into(),
            subresource: String::new(),
            name: name.into(),
            path: String::new(),
        };
        if api.authorizer.authorize(&attrs).is_allowed() {
            Ok(())
        } else {
            Err(error(
                StatusCode::FORBIDDEN,
                &format!("{} cannot {verb} users.{GROUP}", user.name),
            ))
        }
    }

    async fn logout(&self, req: Req<'_>) -> Reply {
        let caller = match self.token_caller(req.0).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        match self
            .client
            .delete(&format!("{TOKENS}/{}", caller.token.name))
            .await
        {
            Ok(_) => reply(
                StatusCode::OK,
                &json!({"type": "logout", "token": caller.token.name}),
            ),
            Err(e) => unavailable(e),
        }
    }

    async fn whoami(&self, req: Req<'_>) -> Reply {
        if let Some(token) = bearer_token(&req.0.headers)
            && let Ok(id) = self.auth.validate(token).await
        {
            let info = id.user_info();
            return reply(
                StatusCode::OK,
                &json!({
                    "user": id.user.name,
                    "username": id.user.username,
                    "displayName": id.user.display_name,
                    "groups": info.groups,
                    "principalIds": info.extra.get("principalid"),
                    "authProvider": id.token.provider,
                    "token": id.token.name,
                    "expiresAt": id.token.expires_at.map(rfc3339),
                    "mustChangePassword": id.user.must_change_password,
                }),
            );
        }
        match self.api_caller(req.0).await {
            Ok((_, u)) => reply(
                StatusCode::OK,
                &json!({"user": u.name, "username": u.name, "groups": u.groups, "extra": u.extra}),
            ),
            Err(r) => r,
        }
    }

    async fn list_tokens(&self, req: Req<'_>) -> Reply {
        let caller = match self.token_caller(req.0).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let mut items: Vec<Value> = self
            .auth
            .tokens
            .find(|t| t.user_id == caller.user.name)
            .iter()
            .map(|t| {
                let mut v = t.public_json();
                v["current"] = json!(t.name == caller.token.name);
                v
            })
            .collect();
        items.sort_by(|a, b| a["createdAt"].as_str().cmp(&b["createdAt"].as_str()));
        reply(
            StatusCode::OK,
            &json!({"type": "collection", "data": items}),
        )
    }

    async fn delete_token(&self, req: Req<'_>, name: &str) -> Reply {
        let caller = match self.token_caller(req.0).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        let owned = self
            .auth
            .tokens
            .get(name)
            .is_some_and(|t| t.user_id == caller.user.name);
        if !owned || tokens::split_token(&format!("{name}:{}", "x".repeat(43))).is_none() {
            return error(StatusCode::NOT_FOUND, &format!("token {name:?} not found"));
        }
        match self.client.delete(&format!("{TOKENS}/{name}")).await {
            Ok(_) => reply(
                StatusCode::OK,
                &json!({"type": "token", "name": name, "deleted": true}),
            ),
            Err(e) => unavailable(e),
        }
    }

    async fn create_user(&self, req: Req<'_>) -> Reply {
        let (api, caller) = match self.api_caller(req.0).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        if let Err(r) = Self::authorize(&api, &caller, "create", "") {
            return r;
        }
        let body = match read_json(req.0, req.1).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let (username, password) = match (field(&body, "username"), field(&body, "password")) {
            (Ok(u), Ok(p)) => (u.to_string(), p.to_string()),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        if username.is_empty() || username.len() > 256 || username.chars().any(char::is_control) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "username must be 1 to 256 characters without control characters",
            );
        }
        if let Err(e) = local::check_password_policy(&password) {
            return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
        }
        if self.local.find(&username).is_some() {
            return error(
                StatusCode::CONFLICT,
                &format!("user {username:?} already exists"),
            );
        }
        let name = random_name("u-");
        if let Err(e) = self.local.set_password(&name, &password).await {
            return unavailable(e);
        }
        let obj = json!({
            "apiVersion": crate::crds::API_VERSION,
            "kind": "User",
            "metadata": {"name": name},
            "spec": {
                "username": username,
                "displayName": body.get("displayName").and_then(Value::as_str).unwrap_or(&username),
                "principalIds": [local::principal_id(&name)],
                "enabled": body.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                "mustChangePassword": body.get("mustChangePassword").and_then(Value::as_bool).unwrap_or(false),
            },
        });
        match self.client.create(USERS, &obj).await {
            Ok(created) => reply(StatusCode::CREATED, &created),
            Err(e) => unavailable(e),
        }
    }

    async fn change_password(&self, req: Req<'_>) -> Reply {
        let caller = match self.token_caller(req.0).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        if !caller
            .user
            .principal_ids
            .iter()
            .any(|p| p.starts_with("local://"))
        {
            return error(
                StatusCode::BAD_REQUEST,
                "only local users have a password here",
            );
        }
        let body = match read_json(req.0, req.1).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let (current, new) = match (field(&body, "currentPassword"), field(&body, "newPassword")) {
            (Ok(c), Ok(n)) => (c.to_string(), n.to_string()),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let key = format!("user/local/{}", caller.user.username);
        if let Err(retry) = self.by_username.check(&key) {
            return too_many(retry);
        }
        if let Err(e) = local::check_password_policy(&new) {
            return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
        }
        if new == current {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the new password must differ from the current one",
            );
        }
        match self
            .local
            .authenticate(&caller.user.username, &current)
            .await
        {
            Ok(_) => {}
            Err(AuthError::Unavailable(e)) => return unavailable(e),
            Err(_) => {
                self.by_username.failure(&key);
                return error(StatusCode::FORBIDDEN, "the current password is incorrect");
            }
        }
        self.store_new_password(&caller.user.name, &new, false)
            .await
    }

    async fn set_password(&self, req: Req<'_>, name: &str) -> Reply {
        let (api, caller) = match self.api_caller(req.0).await {
            Ok(c) => c,
            Err(r) => return r,
        };
        if let Err(r) = Self::authorize(&api, &caller, "update", name) {
            return r;
        }
        let body = match read_json(req.0, req.1).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let new = match field(&body, "newPassword") {
            Ok(n) => n.to_string(),
            Err(r) => return r,
        };
        if self.local.users().get(name).is_none() {
            return error(StatusCode::NOT_FOUND, &format!("user {name:?} not found"));
        }
        if let Err(e) = local::check_password_policy(&new) {
            return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
        }
        let must_change = body
            .get("mustChangePassword")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.store_new_password(name, &new, must_change).await
    }

    async fn store_new_password(&self, user: &str, password: &str, must_change: bool) -> Reply {
        if let Err(e) = self.local.set_password(user, password).await {
            return unavailable(e);
        }
        let patch = json!({"spec": {"mustChangePassword": must_change}});
        match self
            .client
            .merge_patch(&format!("{USERS}/{user}"), &patch)
            .await
        {
            Ok(_) => reply(
                StatusCode::OK,
                &json!({"type": "user", "name": user, "passwordChanged": true}),
            ),
            Err(e) => unavailable(e),
        }
    }
}

impl Extension for IdentityExtension {
    fn claims(&self, path: &str) -> bool {
        matches!(
            path,
            "/v3/login" | "/v3/logout" | "/v3/whoami" | "/v3/tokens" | "/v3/users"
        ) || path.starts_with("/v3/tokens/")
            || path.starts_with("/v3/users/")
            || path.starts_with("/v3/auth/")
    }

    fn handle(&self, req: Request<ExtensionBody>) -> ExtensionFuture {
        let this = self.0.clone();
        Box::pin(this.serve(req))
    }
}
