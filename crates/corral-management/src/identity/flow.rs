//! Browser logins through an identity provider (OIDC, GitHub): two
//! endpoints under `/v3/auth/<provider>/`, `<provider>` being the name of an
//! enabled AuthConfig of a redirect type (see [`super::providers`]).
//!
//! `GET /v3/auth/<provider>/login[?redirect=<url>][&ttl=<s>][&description=<text>]`
//! answers `302 Found` to the provider's authorization endpoint with a fresh
//! `state`, a PKCE challenge (S256) and, for OIDC, a nonce; the login is kept
//! server-side under its state (see [`super::redirect`]: ten minutes, single
//! use, bounded). `redirect`, if given, must be a loopback `http` URL with a
//! port (a CLI's one-shot listener, as `kubectl oidc-login` or `gh` do);
//! anything else is refused with 400.
//!
//! `GET /v3/auth/<provider>/callback?code=…&state=…` (where the provider
//! sends the browser back) takes the login by its state (an unknown, expired
//! or replayed state is 400), exchanges the code with the PKCE verifier,
//! validates what comes back (for OIDC the ID token: signature, issuer,
//! audience, expiry, nonce), applies the AuthConfig's allowed principals
//! (403), finds or creates the Corral User by principal id and issues a
//! Corral Token exactly as `POST /v3/login` does. The answer is:
//! - without `redirect`: `200` with the same JSON body as `/v3/login`
//!   (`token`, `user`, `groups`, `expiresAt`, ...);
//! - with `redirect`: `302` to `<redirect>?token=<name:secret>&expiresAt=…`
//!   — the token stays on the machine, handed to the listening CLI.
//!
//! A refusal by the provider (`?error=access_denied`) or a failed exchange is
//! 401; an unreachable provider is 503.
//!
//! The state is not bound to a browser cookie: the token goes back to
//! whoever completes the callback, who is the browser the provider just
//! authenticated. (A UI that stores the token would want such a binding
//! against login CSRF; the JSON and loopback answers here do not store it.)
//!
//! The callback URL given to the provider is the AuthConfig's
//! `settings.redirectUrl` when set (it must match what is registered with the
//! provider), otherwise `https://<Host of the login request>/v3/auth/<provider>/callback`.

#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{StatusCode, header};
use serde_json::{Value, json};

use super::AuthError;
use super::endpoints::{DEFAULT_TTL, Endpoints, MAX_TTL, Reply, error, reply, unavailable};
use super::http::is_loopback_host;
use super::providers::{Built, Kind, enabled, kind_of};
use super::redirect::{Pending, RedirectProvider};

fn found(location: &str) -> Reply {
    let mut r = reply(
        StatusCode::FOUND,
        &json!({"type": "redirect", "location": location}),
    );
    if let Ok(v) = http::HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(
        "referrer-policy",
        http::HeaderValue::from_static("no-referrer"),
    );
    r
}

/// A CLI's loopback listener URL, or why not.
fn loopback_redirect(url: &str) -> Result<String, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "redirect is not a URL".to_string())?;
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    let loopback = uri.scheme_str() == Some("http")
        && uri.host().is_some_and(is_loopback_host)
        && uri.port_u16().is_some()
        && !authority.contains('@');
    if loopback {
        Ok(url.to_string())
    } else {
        Err(
            "redirect must be a loopback URL with a port, e.g. http://127.0.0.1:8400/callback"
                .into(),
        )
    }
}

fn is_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-:[]_".contains(&c))
}

impl Endpoints {
    /// `GET /v3/auth/...`.
    pub(super) async fn auth_flow(&self, parts: &Parts) -> Reply {
        let rest = &parts.uri.path()["/v3/auth/".len()..];
        let query: HashMap<String, String> =
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let result = match rest.split_once('/') {
            Some((name, "login")) => self.flow_login(parts, name, &query).await,
            Some((name, "callback")) => self.flow_callback(name, &query).await,
            _ => Err(error(StatusCode::NOT_FOUND, "no such endpoint")),
        };
        result.unwrap_or_else(|r| r)
    }

    async fn redirect_provider(
        &self,
        name: &str,
    ) -> Result<(Value, Arc<dyn RedirectProvider>), Reply> {
        let unknown = || {
            error(
                StatusCode::NOT_FOUND,
                &format!("unknown auth provider {name:?}"),
            )
        };
        let config = match self.configured.config(name).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(unknown()),
            Err(e) => return Err(unavailable(e)),
        };
        let password = || {
            error(
                StatusCode::BAD_REQUEST,
                &format!("auth provider {name:?} takes a password: POST /v3/login"),
            )
        };
        match kind_of(name, &config) {
            Some(Kind::Oidc | Kind::Github) => {}
            Some(_) => return Err(password()),
            None => return Err(unknown()),
        }
        if !enabled(&config) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &format!("auth provider {name:?} is not enabled"),
            ));
        }
        match self.configured.build(name, &config).await {
            Ok(Built::Redirect(p)) => Ok((config, p)),
            Ok(Built::Password(_)) => Err(password()),
            Err(AuthError::Unavailable(e)) => Err(unavailable(e)),
            Err(e) => {
                tracing::warn!(provider = %name, error = %e, "auth provider misconfigured");
                Err(unavailable(format!("auth provider {name}: {e}")))
            }
        }
    }

    async fn flow_login(
        &self,
        parts: &Parts,
        name: &str,
        query: &HashMap<String, String>,
    ) -> Result<Reply, Reply> {
        let (config, provider) = self.redirect_provider(name).await?;
        let client_redirect = match query.get("redirect") {
            None => None,
            Some(r) => Some(loopback_redirect(r).map_err(|m| error(StatusCode::BAD_REQUEST, &m))?),
        };
        let ttl = match query.get("ttl").map(|t| t.parse::<u64>()) {
            None | Some(Ok(0)) => DEFAULT_TTL,
            Some(Ok(s)) => Duration::from_secs(s.min(MAX_TTL.as_secs())),
            Some(Err(_)) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "ttl must be a whole number of seconds",
                ));
            }
        };
        let callback = match config["spec"]["settings"]["redirectUrl"].as_str() {
            Some(url) if !url.is_empty() => url.to_string(),
            _ => {
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| parts.uri.authority().map(|a| a.as_str()))
                    .filter(|h| is_host(h))
                    .ok_or_else(|| error(StatusCode::BAD_REQUEST, "no usable Host header"))?;
                format!("https://{host}/v3/auth/{name}/callback")
            }
        };
        let mut login = Pending::new(name, callback);
        login.client_redirect = client_redirect;
        login.ttl = ttl;
        login.description = query
            .get("description")
            .map(|d| d.chars().take(256).collect())
            .unwrap_or_else(|| format!("{name} login"));
        let Some(state) = self.pending.insert(login.clone()) else {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many logins in progress; try again shortly",
            ));
        };
        match provider.authorize_url(&state, &login).await {
            Ok(url) => Ok(found(&url)),
            Err(e) => {
                self.pending.take(&state);
                Err(unavailable(e))
            }
        }
    }

    async fn flow_callback(
        &self,
        name: &str,
        query: &HashMap<String, String>,
    ) -> Result<Reply, Reply> {
        let Some(state) = query.get("state") else {
            return Err(error(StatusCode::BAD_REQUEST, "state is required"));
        };
        let login = self
            .pending
            .take(state)
            .filter(|l| l.provider == name)
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "unknown, expired or already used login state; start again",
                )
            })?;
        if let Some(e) = query.get("error") {
            let e: String = e
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            tracing::info!(provider = %name, error = %e, "the identity provider refused a login");
            return Err(error(
                StatusCode::UNAUTHORIZED,
                &format!("the identity provider refused the login ({e})"),
            ));
        }
        let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
            return Err(error(StatusCode::BAD_REQUEST, "code is required"));
        };
        let (config, provider) = self.redirect_provider(name).await?;
        let identity = match provider.complete(code, &login).await {
            Ok(id) => id,
            Err(AuthError::Unavailable(e)) => return Err(unavailable(e)),
            Err(e) => {
                tracing::info!(provider = %name, kind = provider.kind(), reason = %e, "login failed");
                return Err(error(StatusCode::UNAUTHORIZED, "the login failed"));
            }
        };
        let body = self
            .issue(
                &identity,
                name,
                Some(&config),
                login.ttl,
                &login.description,
            )
            .await?;
        match &login.client_redirect {
            None => Ok(reply(StatusCode::OK, &body)),
            Some(target) => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("token", body["token"].as_str().unwrap_or(""))
                    .append_pair("expiresAt", body["expiresAt"].as_str().unwrap_or(""))
                    .finish();
                let sep = if target.contains('?') { '&' } else { '?' };
                Ok(found(&format!("{target}{sep}{query}")))
            }
        }
    }
}

/// The number of logins in progress (for tests and metrics).
pub fn pending_logins(endpoints: &Endpoints) -> usize {
    endpoints.pending.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_redirects() {
        assert!(loopback_redirect("http://127.0.0.1:8400/cb").is_ok());
        assert!(loopback_redirect("http://localhost:8400/").is_ok());
        assert!(loopback_redirect("http://[::1]:8400/").is_ok());
        assert!(loopback_redirect("http://127.0.0.1/cb").is_err());
        assert!(loopback_redirect("https://evil.example:443/cb").is_err());
        assert!(loopback_redirect("http://evil.example:80/cb").is_err());
        assert!(loopback_redirect("http://127.0.0.1@evil.example:80/").is_err());
        assert!(loopback_redirect("javascript:alert(1)").is_err());
    }
}
