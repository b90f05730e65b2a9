//! The OpenID Connect provider: the authorization-code flow with PKCE (S256)
//! against any OpenID Provider that publishes a discovery document.
//!
//! - Discovery: `<issuer>/.well-known/openid-configuration`, whose `issuer`
//!   must equal the configured one exactly (OpenID Connect Discovery §4.3);
//!   cached for [`DISCOVERY_TTL`].
//! - Keys: the `jwks_uri` document, cached for [`JWKS_TTL`] and fetched
//!   again when an ID token names a key id not in the cache (key rotation),
//!   at most once per [`JWKS_MIN_REFRESH`].
//! - The code goes to the token endpoint with the PKCE verifier and the
//!   client's credentials (`client_secret_basic`, or `client_secret_post`
//!   when that is all the provider supports; none for a public client).
//! - The ID token: signature (RS256 or ES256 only — never `none` nor HMAC),
//!   `iss`, `aud` (the client id; with several audiences `azp` must be the
//!   client id), `exp` and `nbf` with [`OidcConfig::clock_skew_seconds`] of
//!   leeway, `sub` present, and `nonce` equal to the one sent.
//!
//! The user is `oidc_user://<issuer>#<sub>` (`sub` is stable and unique per
//! issuer; usernames and emails are not); groups are `oidc_group://<name>`
//! from the configured claim (`groups` by default) of the ID token. Groups
//! are refreshed at each login only (an ID token is a snapshot; there is no
//! directory to ask later): a Corral token keeps the groups of its login.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::HttpClient;
use super::redirect::{Pending, RedirectProvider};
use super::{AuthError, Identity, Principal, PrincipalKind};

pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
pub const JWKS_TTL: Duration = Duration::from_secs(3600);
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(1);
/// At most this many groups are taken from a token.
pub const MAX_GROUPS: usize = 1000;

/// A Secret holding a credential: `namespace` (default `corral-system`),
/// `name`, `key` in its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub name: String,
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_namespace() -> String {
    super::local::PASSWORD_NAMESPACE.into()
}

fn default_key() -> String {
    "clientSecret".into()
}

/// The `settings` of an OIDC `AuthConfig` (camelCase).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL, exactly as the provider's tokens carry it.
    pub issuer: String,
    pub client_id: String,
    /// The client secret; absent for a public client (PKCE alone).
    #[serde(default)]
    pub client_secret_ref: Option<SecretRef>,
    /// Requested scopes; `openid` is always added.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim listing the user's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The ID-token claim used as the login name (falls back to `email`, then `sub`).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The callback URL registered at the provider; by default
    /// `https://<Host of the login request>/v3/auth/<name>/callback`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// PEM CA certificate(s) for the provider's endpoints (empty: system roots).
    #[serde(default)]
    pub certificate: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Leeway for `exp` and `nbf`.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u64,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_skew() -> u64 {
    30
}

impl OidcConfig {
    pub fn from_settings(settings: &Value) -> Result<OidcConfig, AuthError> {
        let c: OidcConfig = serde_json::from_value(settings.clone())
            .map_err(|e| AuthError::Invalid(format!("oidc settings: {e}")))?;
        let invalid = |m: &str| Err(AuthError::Invalid(format!("oidc settings: {m}")));
        if let Err(e) = HttpClient::check_url(&c.issuer) {
            return invalid(&format!("issuer: {e}"));
        }
        if c.client_id.is_empty() {
            return invalid("clientId is required");
        }
        if c.groups_claim.is_empty() || c.username_claim.is_empty() {
            return invalid("groupsClaim and usernameClaim must not be empty");
        }
        if c.timeout_ms == 0 {
            return invalid("timeoutMs must be positive");
        }
        if c.clock_skew_seconds > 300 {
            return invalid("clockSkewSeconds is at most 300");
        }
        Ok(c)
    }
}

/// The parts of a discovery document used here.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

#[derive(Default)]
struct Keys {
    set: Option<JwkSet>,
    fetched: Option<Instant>,
}

/// See the module docs.
pub struct OidcProvider {
    config: OidcConfig,
    client_secret: Option<String>,
    http: HttpClient,
    discovery: tokio::sync::Mutex<Option<(Discovery, Instant)>>,
    keys: tokio::sync::Mutex<Keys>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("OidcProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn refused(why: impl std::fmt::Display) -> AuthError {
    tracing::info!(reason = %why, "oidc login refused");
    AuthError::InvalidCredentials
}

impl OidcProvider {
    pub fn new(config: OidcConfig, client_secret: Option<String>) -> Result<Self, AuthError> {
        let http = HttpClient::new(
            &config.certificate,
            Duration::from_millis(config.timeout_ms),
        )?;
        Ok(OidcProvider {
            config,
            client_secret,
            http,
            discovery: tokio::sync::Mutex::new(None),
            keys: tokio::sync::Mutex::new(Keys::default()),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The discovery document (cached).
    pub async fn discovery(&self) -> Result<Discovery, AuthError> {
        let mut cached = self.discovery.lock().await;
        if let Some((d, at)) = cached.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let resp = self
            .http
            .get(&url, &[])
            .await
            .map_err(AuthError::Unavailable)?;
        if resp.status != 200 {
            return Err(AuthError::Unavailable(format!(
                "{url}: HTTP {}",
                resp.status
            )));
        }
        let d: Discovery = serde_json::from_slice(&resp.body)
            .map_err(|e| AuthError::Unavailable(format!("{url}: {e}")))?;
        if d.issuer != self.config.issuer {
            return Err(AuthError::Unavailable(format!(
                "the discovery document names issuer {:?}, not {:?}",
                d.issuer, self.config.issuer
            )));
        }
        for (what, u) in [
            ("authorization_endpoint", &d.authorization_endpoint),
            ("token_endpoint", &d.token_endpoint),
            ("jwks_uri", &d.jwks_uri),
        ] {
            HttpClient::check_url(u).map_err(|e| AuthError::Unavailable(format!("{what}: {e}")))?;
        }
        *cached = Some((d.clone(), Instant::now()));
        Ok(d)
    }

    async fn fetch_keys(&self, keys: &mut Keys) -> Result<(), AuthError> {
        let d = self.discovery().await?;
        keys.fetched = Some(Instant::now());
        let resp = self
            .http
            .get(&d.jwks_uri, &[])
            .await
            .map_err(AuthError::Unavailable)?;
        if resp.status != 200 {
            return Err(AuthError::Unavailable(format!(
                "{}: HTTP {}",
                d.jwks_uri, resp.status
            )));
        }
        let set: JwkSet = serde_json::from_slice(&resp.body)
            .map_err(|e| AuthError::Unavailable(format!("{}: {e}", d.jwks_uri)))?;
        keys.set = Some(set);
        Ok(())
    }

    /// The verification key for a token's `kid` and `alg`: from the cache,
    /// or after fetching the key set again (rotation).
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let mut keys = self.keys.lock().await;
        let stale = keys.fetched.is_none_or(|at| at.elapsed() >= JWKS_TTL);
        if stale || keys.set.is_none() {
            self.fetch_keys(&mut keys).await?;
        }
        if let Some(k) = find_key(keys.set.as_ref(), kid, alg) {
            return k;
        }
        if keys
            .fetched
            .is_none_or(|at| at.elapsed() >= JWKS_MIN_REFRESH)
        {
            self.fetch_keys(&mut keys).await?;
            if let Some(k) = find_key(keys.set.as_ref(), kid, alg) {
                return k;
            }
        }
        Err(refused(format!("no signing key {kid:?} for {alg:?}")))
    }

    /// Validates an ID token (see the module docs); its claims.
    pub async fn validate_id_token(&self, token: &str, nonce: &str) -> Result<Value, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(refused)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(refused(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = self.config.clock_skew_seconds;
        v.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(refused)?;
        let claims = data.claims;
        let several_audiences = claims["aud"].as_array().is_some_and(|a| a.len() > 1);
        match claims["azp"].as_str() {
            Some(azp) if azp != self.config.client_id => {
                return Err(refused(format!("azp {azp:?} is not this client")));
            }
            None if several_audiences => {
                return Err(refused("several audiences and no azp"));
            }
            _ => {}
        }
        if claims["nonce"].as_str() != Some(nonce) {
            return Err(refused("nonce does not match"));
        }
        if claims["sub"].as_str().is_none_or(str::is_empty) {
            return Err(refused("no sub"));
        }
        Ok(claims)
    }

    /// The identity an ID token's claims describe.
    pub fn identity(&self, claims: &Value) -> Identity {
        let sub = claims["sub"].as_str().unwrap_or_default();
        let login = claims[&self.config.username_claim]
            .as_str()
            .or_else(|| claims["email"].as_str())
            .unwrap_or(sub)
            .to_string();
        let display = claims["name"].as_str().unwrap_or(&login).to_string();
        let names: Vec<&str> = match &claims[&self.config.groups_claim] {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => vec![s.as_str()],
            _ => Vec::new(),
        };
        if names.len() > MAX_GROUPS {
            tracing::warn!(
                groups = names.len(),
                "oidc: more than {MAX_GROUPS} groups; the rest are ignored"
            );
        }
        let mut groups: Vec<Principal> = Vec::new();
        for name in names.into_iter().filter(|n| !n.is_empty()).take(MAX_GROUPS) {
            let id = format!("oidc_group://{name}");
            if groups.iter().all(|g| g.id != id) {
                groups.push(Principal {
                    id,
                    kind: PrincipalKind::Group,
                    provider: "oidc".into(),
                    login_name: name.to_string(),
                    display_name: name.to_string(),
                });
            }
        }
        Identity {
            user: Principal {
                id: format!("oidc_user://{}#{sub}", self.config.issuer),
                kind: PrincipalKind::User,
                provider: "oidc".into(),
                login_name: login,
                display_name: display,
            },
            groups,
        }
    }

    fn scopes(&self) -> String {
        let mut scopes = vec!["openid".to_string()];
        for s in &self.config.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        scopes.join(" ")
    }
}

fn find_key(
    set: Option<&JwkSet>,
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<Result<DecodingKey, AuthError>> {
    let set = set?;
    let fits = |k: &&jsonwebtoken::jwk::Jwk| {
        !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption))
            && k.common
                .key_algorithm
                .is_none_or(|a| Algorithm::try_from(a).ok() == Some(alg))
            && match alg {
                Algorithm::RS256 => {
                    matches!(k.algorithm, jsonwebtoken::jwk::AlgorithmParameters::RSA(_))
                }
                _ => matches!(
                    k.algorithm,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_)
                ),
            }
    };
    let jwk = match kid {
        Some(kid) => set
            .keys
            .iter()
            .filter(fits)
            .find(|k| k.common.key_id.as_deref() == Some(kid))?,
        // Without a kid, only an unambiguous key will do.
        None => {
            let mut candidates = set.keys.iter().filter(fits);
            let first = candidates.next()?;
            if candidates.next().is_some() {
                return None;
            }
            first
        }
    };
    Some(DecodingKey::from_jwk(jwk).map_err(refused))
}

#[async_trait]
impl RedirectProvider for OidcProvider {
    fn kind(&self) -> &'static str {
        "oidc"
    }

    async fn authorize_url(&self, state: &str, login: &Pending) -> Result<String, AuthError> {
        let d = self.discovery().await?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &login.redirect_uri)
            .append_pair("scope", &self.scopes())
            .append_pair("state", state)
            .append_pair("nonce", &login.nonce)
            .append_pair("code_challenge", &login.challenge())
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{query}", d.authorization_endpoint))
    }

    async fn complete(&self, code: &str, login: &Pending) -> Result<Identity, AuthError> {
        let d = self.discovery().await?;
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", login.redirect_uri.as_str()),
            ("code_verifier", login.verifier.as_str()),
        ];
        let basic;
        let mut headers: Vec<(&str, &str)> = Vec::new();
        let post_only = !d.token_endpoint_auth_methods_supported.is_empty()
            && !d
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == "client_secret_basic")
            && d.token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == "client_secret_post");
        match &self.client_secret {
            Some(secret) if !post_only => {
                // RFC 6749 §2.3.1: both parts form-encoded before base64.
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        enc(&self.config.client_id),
                        enc(secret)
                    ))
                );
                headers.push(("authorization", basic.as_str()));
            }
            Some(secret) => {
                fields.push(("client_id", self.config.client_id.as_str()));
                fields.push(("client_secret", secret.as_str()));
            }
            None => fields.push(("client_id", self.config.client_id.as_str())),
        }
        let resp = self
            .http
            .post_form(&d.token_endpoint, &headers, &fields)
            .await
            .map_err(AuthError::Unavailable)?;
        let body = resp.json().unwrap_or(Value::Null);
        if resp.status >= 500 {
            return Err(AuthError::Unavailable(format!(
                "token endpoint: HTTP {}",
                resp.status
            )));
        }
        if resp.status != 200 {
            return Err(refused(format!(
                "token endpoint: HTTP {} {}",
                resp.status,
                body["error"].as_str().unwrap_or("")
            )));
        }
        let Some(id_token) = body["id_token"].as_str() else {
            return Err(refused("the token response has no id_token"));
        };
        let claims = self.validate_id_token(id_token, &login.nonce).await?;
        Ok(self.identity(&claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_defaults_and_checks() {
        let c = OidcConfig::from_settings(&json!({
            "issuer": "https://idp.example", "clientId": "corral",
            "clientSecretRef": {"name": "oidc"},
        }))
        .unwrap();
        assert_eq!(c.groups_claim, "groups");
        assert_eq!(c.username_claim, "preferred_username");
        assert_eq!(c.client_secret_ref.unwrap().namespace, "corral-system");
        assert!(
            OidcConfig::from_settings(&json!({"issuer": "http://idp.example", "clientId": "c"}))
                .is_err()
        );
        assert!(
            OidcConfig::from_settings(&json!({"issuer": "https://idp.example", "clientId": ""}))
                .is_err()
        );
        assert!(
            OidcConfig::from_settings(&json!({"issuer": "https://i", "clientId": "c", "bogus": 1}))
                .is_err()
        );
    }

    #[test]
    fn identity_from_claims() {
        let p = OidcProvider::new(
            OidcConfig::from_settings(&json!({
                "issuer": "https://idp.example", "clientId": "corral", "groupsClaim": "roles",
            }))
            .unwrap(),
            None,
        )
        .unwrap();
        let id = p.identity(&json!({
            "sub": "42", "preferred_username": "ann", "name": "Ann",
            "roles": ["admins", "devs", "admins", ""],
        }));
        assert_eq!(id.user.id, "oidc_user://https://idp.example#42");
        assert_eq!(id.user.login_name, "ann");
        assert_eq!(id.user.display_name, "Ann");
        let groups: Vec<&str> = id.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(groups, ["oidc_group://admins", "oidc_group://devs"]);
        let id = p.identity(&json!({"sub": "7", "email": "b@x", "roles": "solo"}));
        assert_eq!(id.user.login_name, "b@x");
        assert_eq!(id.groups.len(), 1);
    }
}
