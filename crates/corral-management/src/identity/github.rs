//! The GitHub provider: GitHub's OAuth web application flow.
//!
//! The browser goes to `<baseUrl>/login/oauth/authorize` (with `state` and a
//! PKCE challenge, which GitHub supports and verifies); the code comes back
//! to the callback and is exchanged at `<baseUrl>/login/oauth/access_token`
//! (client id and secret, the PKCE verifier, `Accept: application/json`);
//! then, with that access token, `GET <apiUrl>/user`, `/user/orgs` and
//! `/user/teams` (following `Link: rel="next"` pages, same origin only).
//! The access token is then dropped: Corral keeps nothing of GitHub's.
//!
//! Principals: `github_user://<id>`, `github_org://<id>`,
//! `github_team://<id>` with GitHub's numeric ids (logins and slugs can be
//! renamed and reused; ids cannot). Groups are refreshed at each login.
//!
//! For GitHub Enterprise Server: `baseUrl: https://ghe.example` and
//! `apiUrl: https://ghe.example/api/v3`.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::http::{HttpClient, HttpResponse};
use super::oidc::SecretRef;
use super::redirect::{Pending, RedirectProvider};
use super::{AuthError, Identity, Principal, PrincipalKind};

/// Pages of orgs or teams read per login (100 per page).
pub const MAX_PAGES: usize = 10;

/// The `settings` of a GitHub `AuthConfig` (camelCase).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubConfig {
    pub client_id: String,
    /// The OAuth app's client secret (key `clientSecret` by default).
    pub client_secret_ref: SecretRef,
    #[serde(default = "default_base")]
    pub base_url: String,
    #[serde(default = "default_api")]
    pub api_url: String,
    /// `read:org` is needed to see private org memberships and teams.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// See [`super::oidc::OidcConfig::redirect_url`].
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub certificate: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base() -> String {
    "https://github.com".into()
}
fn default_api() -> String {
    "https://api.github.com".into()
}
fn default_scopes() -> Vec<String> {
    vec!["read:user".into(), "read:org".into()]
}
fn default_timeout_ms() -> u64 {
    10_000
}

impl GithubConfig {
    pub fn from_settings(settings: &Value) -> Result<GithubConfig, AuthError> {
        let mut c: GithubConfig = serde_json::from_value(settings.clone())
            .map_err(|e| AuthError::Invalid(format!("github settings: {e}")))?;
        c.base_url = c.base_url.trim_end_matches('/').to_string();
        c.api_url = c.api_url.trim_end_matches('/').to_string();
        for (name, url) in [("baseUrl", &c.base_url), ("apiUrl", &c.api_url)] {
            HttpClient::check_url(url)
                .map_err(|e| AuthError::Invalid(format!("github settings: {name}: {e}")))?;
        }
        if c.client_id.is_empty() || c.timeout_ms == 0 {
            return Err(AuthError::Invalid(
                "github settings: clientId and a positive timeoutMs are required".into(),
            ));
        }
        Ok(c)
    }
}

/// See the module docs.
pub struct GithubProvider {
    config: GithubConfig,
    client_secret: String,
    http: HttpClient,
}

impl std::fmt::Debug for GithubProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn refused(why: impl std::fmt::Display) -> AuthError {
    tracing::info!(reason = %why, "github login refused");
    AuthError::InvalidCredentials
}

fn principal(kind: PrincipalKind, id: String, login: &str, display: &str) -> Principal {
    Principal {
        id,
        kind,
        provider: "github".into(),
        login_name: login.to_string(),
        display_name: if display.is_empty() { login } else { display }.to_string(),
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(resp: &HttpResponse) -> Option<String> {
    let link = resp.headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

impl GithubProvider {
    pub fn new(config: GithubConfig, client_secret: String) -> Result<Self, AuthError> {
        let http = HttpClient::new(
            &config.certificate,
            Duration::from_millis(config.timeout_ms),
        )?;
        Ok(GithubProvider {
            config,
            client_secret,
            http,
        })
    }

    async fn api(&self, url: &str, auth: &str) -> Result<HttpResponse, AuthError> {
        let resp = self
            .http
            .get(
                url,
                &[
                    ("authorization", auth),
                    ("accept", "application/vnd.github+json"),
                    ("x-github-api-version", "2022-11-28"),
                ],
            )
            .await
            .map_err(AuthError::Unavailable)?;
        match resp.status {
            200 => Ok(resp),
            401 | 403 => Err(refused(format!("{url}: HTTP {}", resp.status))),
            s => Err(AuthError::Unavailable(format!("{url}: HTTP {s}"))),
        }
    }

    /// Every item of a paginated list.
    async fn list(&self, path: &str, auth: &str) -> Result<Vec<Value>, AuthError> {
        let mut url = format!("{}{path}?per_page=100", self.config.api_url);
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.api(&url, auth).await?;
            let page = resp.json().map_err(AuthError::Unavailable)?;
            items.extend(page.as_array().cloned().unwrap_or_default());
            match next_link(&resp) {
                Some(next) if next.starts_with(&format!("{}/", self.config.api_url)) => url = next,
                _ => return Ok(items),
            }
        }
        tracing::warn!(
            path,
            "github: more than {MAX_PAGES} pages; the rest are ignored"
        );
        Ok(items)
    }

    /// The identity behind a GitHub access token.
    pub async fn identity(&self, access_token: &str) -> Result<Identity, AuthError> {
        let auth = format!("Bearer {access_token}");
        let user = self
            .api(&format!("{}/user", self.config.api_url), &auth)
            .await?
            .json()
            .map_err(AuthError::Unavailable)?;
        let (Some(id), Some(login)) = (user["id"].as_u64(), user["login"].as_str()) else {
            return Err(AuthError::Unavailable("/user has no id or login".into()));
        };
        let user = principal(
            PrincipalKind::User,
            format!("github_user://{id}"),
            login,
            user["name"].as_str().unwrap_or(""),
        );
        let mut groups = Vec::new();
        for org in self.list("/user/orgs", &auth).await? {
            if let (Some(id), Some(login)) = (org["id"].as_u64(), org["login"].as_str()) {
                groups.push(principal(
                    PrincipalKind::Group,
                    format!("github_org://{id}"),
                    login,
                    "",
                ));
            }
        }
        for team in self.list("/user/teams", &auth).await? {
            if let (Some(id), Some(slug)) = (team["id"].as_u64(), team["slug"].as_str()) {
                let org = team["organization"]["login"].as_str().unwrap_or("");
                let name = if org.is_empty() {
                    slug.to_string()
                } else {
                    format!("{org}/{slug}")
                };
                groups.push(principal(
                    PrincipalKind::Group,
                    format!("github_team://{id}"),
                    &name,
                    team["name"].as_str().unwrap_or(""),
                ));
            }
        }
        Ok(Identity { user, groups })
    }
}

#[async_trait]
impl RedirectProvider for GithubProvider {
    fn kind(&self) -> &'static str {
        "github"
    }

    async fn authorize_url(&self, state: &str, login: &Pending) -> Result<String, AuthError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &login.redirect_uri)
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", &login.challenge())
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "false")
            .finish();
        Ok(format!(
            "{}/login/oauth/authorize?{query}",
            self.config.base_url
        ))
    }

    async fn complete(&self, code: &str, login: &Pending) -> Result<Identity, AuthError> {
        let url = format!("{}/login/oauth/access_token", self.config.base_url);
        let resp = self
            .http
            .post_form(
                &url,
                &[],
                &[
                    ("client_id", &self.config.client_id),
                    ("client_secret", &self.client_secret),
                    ("code", code),
                    ("redirect_uri", &login.redirect_uri),
                    ("code_verifier", &login.verifier),
                ],
            )
            .await
            .map_err(AuthError::Unavailable)?;
        if resp.status >= 500 {
            return Err(AuthError::Unavailable(format!(
                "{url}: HTTP {}",
                resp.status
            )));
        }
        let body = resp.json().unwrap_or(Value::Null);
        // GitHub answers errors with 200 and an `error` field.
        let Some(token) = body["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(refused(format!(
                "code exchange: HTTP {} {}",
                resp.status,
                body["error"].as_str().unwrap_or("no access_token")
            )));
        };
        self.identity(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings() {
        let c = GithubConfig::from_settings(&json!({
            "clientId": "abc", "clientSecretRef": {"name": "gh"},
        }))
        .unwrap();
        assert_eq!(c.base_url, "https://github.com");
        assert_eq!(c.api_url, "https://api.github.com");
        assert!(GithubConfig::from_settings(&json!({"clientId": "abc"})).is_err());
        assert!(
            GithubConfig::from_settings(&json!({
                "clientId": "abc", "clientSecretRef": {"name": "gh"}, "apiUrl": "http://evil.example",
            }))
            .is_err()
        );
    }

    #[test]
    fn link_header_next() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "link",
            http::HeaderValue::from_static(
                "<https://api.github.com/user/orgs?page=2>; rel=\"next\", <https://api.github.com/user/orgs?page=5>; rel=\"last\"",
            ),
        );
        let resp = HttpResponse {
            status: 200,
            headers,
            body: Default::default(),
        };
        assert_eq!(
            next_link(&resp).as_deref(),
            Some("https://api.github.com/user/orgs?page=2")
        );
    }
}
