//! Auth providers built from `AuthConfig` objects.
//!
//! One AuthConfig per provider; its name is the provider name used in
//! `/v3/login`'s `provider`, in `/v3/auth/<name>/...` and in Tokens'
//! `authProvider`. `spec.type` picks the implementation (or, without it, the
//! name does):
//!
//! | `spec.type` | name | provider | login |
//! |---|---|---|---|
//! | `openLdapConfig` | `openldap` | [`LdapProvider`] (OpenLDAP flavor) | `POST /v3/login` |
//! | `activeDirectoryConfig` | `activedirectory` | [`LdapProvider`] (AD flavor) | `POST /v3/login` |
//! | `oidcConfig` | `oidc` | [`OidcProvider`] | `GET /v3/auth/<name>/login` |
//! | `githubConfig` | `github` | [`GithubProvider`] | `GET /v3/auth/<name>/login` |
//!
//! `spec.settings` is the provider's configuration; secrets are not inline
//! but referenced: `clientSecretRef` (OIDC, GitHub) and, for LDAP,
//! `serviceAccountPasswordRef` (or the inline `serviceAccountPassword`),
//! each `{namespace (default corral-system), name, key}` of a Secret. LDAP
//! settings also take `groupRefreshIntervalSeconds` (see [`super::refresh`]).
//!
//! Built providers are cached by the AuthConfig's `resourceVersion` for at
//! most [`CACHE_TTL`] (so a rotated Secret is picked up within that time);
//! the cache keeps OIDC's discovery document and keys between logins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use super::github::{GithubConfig, GithubProvider};
use super::ldap::{LdapConfig, LdapProvider};
use super::oidc::{OidcConfig, OidcProvider, SecretRef};
use super::redirect::RedirectProvider;
use super::{AuthError, PasswordProvider};
use crate::client::LocalClient;
use crate::crds::AUTHCONFIGS;

pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// The LDAP setting read by the group refresher (not by the provider).
pub const REFRESH_SETTING: &str = "groupRefreshIntervalSeconds";
/// Group refresh interval when the setting is absent.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// A provider built from an AuthConfig.
#[derive(Clone)]
pub enum Built {
    Password(Arc<dyn PasswordProvider>),
    Redirect(Arc<dyn RedirectProvider>),
}

/// What kind of provider an AuthConfig describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Local,
    OpenLdap,
    ActiveDirectory,
    Oidc,
    Github,
}

/// The provider kind of AuthConfig `name` (by `spec.type`, else by name).
pub fn kind_of(name: &str, config: &Value) -> Option<Kind> {
    match config["spec"]["type"].as_str() {
        Some("localConfig") => Some(Kind::Local),
        Some("openLdapConfig" | "ldapConfig") => Some(Kind::OpenLdap),
        Some("activeDirectoryConfig") => Some(Kind::ActiveDirectory),
        Some("oidcConfig" | "genericOIDCConfig") => Some(Kind::Oidc),
        Some("githubConfig") => Some(Kind::Github),
        Some(_) => None,
        None => match name {
            "local" => Some(Kind::Local),
            "openldap" => Some(Kind::OpenLdap),
            "activedirectory" => Some(Kind::ActiveDirectory),
            "oidc" => Some(Kind::Oidc),
            "github" => Some(Kind::Github),
            _ => None,
        },
    }
}

pub fn enabled(config: &Value) -> bool {
    config["spec"]["enabled"].as_bool().unwrap_or(false)
}

/// The principals an AuthConfig restricts logins to (`accessMode`
/// `restricted` or `required` with `allowedPrincipalIds`).
pub fn restricted_to(config: &Value) -> Option<Vec<String>> {
    if !matches!(
        config["spec"]["accessMode"].as_str(),
        Some("restricted" | "required")
    ) {
        return None;
    }
    Some(
        config["spec"]["allowedPrincipalIds"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// The LDAP group refresh interval of an AuthConfig (`None`: disabled).
pub fn refresh_interval(config: &Value) -> Option<Duration> {
    match config["spec"]["settings"][REFRESH_SETTING].as_u64() {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
        None => Some(DEFAULT_REFRESH),
    }
}

struct Cached {
    version: String,
    at: Instant,
    built: Built,
}

/// Builds and caches providers (see the module docs).
pub struct Providers {
    client: Arc<LocalClient>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Providers {
    pub fn new(client: Arc<LocalClient>) -> Providers {
        Providers {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The AuthConfig named `name`, if any.
    pub async fn config(&self, name: &str) -> Result<Option<Value>, AuthError> {
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
            && !name.starts_with('.');
        if !valid {
            return Ok(None);
        }
        self.client
            .get(&format!("{AUTHCONFIGS}/{name}"))
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))
    }

    /// Every AuthConfig.
    pub async fn configs(&self) -> Result<Vec<Value>, AuthError> {
        let list = self
            .client
            .get(AUTHCONFIGS)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        Ok(list
            .and_then(|l| l["items"].as_array().cloned())
            .unwrap_or_default())
    }

    /// The provider AuthConfig `name` describes (`config` is that object).
    pub async fn build(&self, name: &str, config: &Value) -> Result<Built, AuthError> {
        let version = config["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if let Some(c) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            && c.version == version
            && c.at.elapsed() < CACHE_TTL
        {
            return Ok(c.built.clone());
        }
        let built = self.build_uncached(name, config).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 64 {
            cache.clear();
        }
        cache.insert(
            name.to_string(),
            Cached {
                version,
                at: Instant::now(),
                built: built.clone(),
            },
        );
        Ok(built)
    }

    async fn build_uncached(&self, name: &str, config: &Value) -> Result<Built, AuthError> {
        let settings = config["spec"]["settings"].clone();
        let settings = if settings.is_null() {
            Value::Object(Default::default())
        } else {
            settings
        };
        match kind_of(name, config) {
            None | Some(Kind::Local) => Err(AuthError::Invalid(format!(
                "AuthConfig {name:?} is not a provider this server builds"
            ))),
            Some(kind @ (Kind::OpenLdap | Kind::ActiveDirectory)) => {
                let mut s = settings;
                let Some(map) = s.as_object_mut() else {
                    return Err(AuthError::Invalid("ldap settings: not an object".into()));
                };
                map.remove(REFRESH_SETTING);
                if let Some(r) = map.remove("serviceAccountPasswordRef") {
                    let r: SecretRef = serde_json::from_value(r).map_err(|e| {
                        AuthError::Invalid(format!("serviceAccountPasswordRef: {e}"))
                    })?;
                    let pw = self.secret(&r).await?;
                    map.insert("serviceAccountPassword".into(), Value::String(pw));
                }
                if !map.contains_key("flavor") {
                    let flavor = if kind == Kind::ActiveDirectory {
                        "activedirectory"
                    } else {
                        "openldap"
                    };
                    map.insert("flavor".into(), Value::String(flavor.into()));
                }
                let provider = LdapProvider::new(LdapConfig::from_settings(&s)?)?;
                Ok(Built::Password(Arc::new(provider)))
            }
            Some(Kind::Oidc) => {
                let c = OidcConfig::from_settings(&settings)?;
                let secret = match &c.client_secret_ref {
                    Some(r) => Some(self.secret(r).await?),
                    None => None,
                };
                Ok(Built::Redirect(Arc::new(OidcProvider::new(c, secret)?)))
            }
            Some(Kind::Github) => {
                let c = GithubConfig::from_settings(&settings)?;
                let secret = self.secret(&c.client_secret_ref).await?;
                Ok(Built::Redirect(Arc::new(GithubProvider::new(c, secret)?)))
            }
        }
    }

    /// The value of a Secret's key.
    async fn secret(&self, r: &SecretRef) -> Result<String, AuthError> {
        let path = format!("/api/v1/namespaces/{}/secrets/{}", r.namespace, r.name);
        let secret = self
            .client
            .get(&path)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                AuthError::Invalid(format!("secret {}/{} not found", r.namespace, r.name))
            })?;
        let encoded = secret["data"][&r.key].as_str().ok_or_else(|| {
            AuthError::Invalid(format!(
                "secret {}/{} has no key {:?}",
                r.namespace, r.name, r.key
            ))
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| AuthError::Invalid(format!("secret {}: {e}", r.name)))?;
        String::from_utf8(bytes)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|_| AuthError::Invalid(format!("secret {} is not UTF-8", r.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_and_access() {
        assert_eq!(kind_of("oidc", &json!({})), Some(Kind::Oidc));
        assert_eq!(
            kind_of("keycloak", &json!({"spec": {"type": "oidcConfig"}})),
            Some(Kind::Oidc)
        );
        assert_eq!(kind_of("keycloak", &json!({})), None);
        assert_eq!(
            kind_of("corp", &json!({"spec": {"type": "activeDirectoryConfig"}})),
            Some(Kind::ActiveDirectory)
        );
        assert_eq!(
            restricted_to(&json!({"spec": {"accessMode": "unrestricted"}})),
            None
        );
        assert_eq!(
            restricted_to(
                &json!({"spec": {"accessMode": "restricted", "allowedPrincipalIds": ["a"]}})
            ),
            Some(vec!["a".to_string()])
        );
        assert_eq!(
            restricted_to(&json!({"spec": {"accessMode": "required"}})),
            Some(vec![])
        );
        assert_eq!(refresh_interval(&json!({})), Some(DEFAULT_REFRESH));
        assert_eq!(
            refresh_interval(&json!({"spec": {"settings": {"groupRefreshIntervalSeconds": 0}}})),
            None
        );
    }
}
