//! Corral's own bearer tokens: `<name>:<secret>`, with at least 256 bits of
//! randomness in the secret, kept only as a SHA-256 hash with an optional
//! expiry. Until the management API has its Token type, each token lives as a
//! Secret of type `corral.dev/token` named `<name>` in the `corral-system`
//! namespace (which only administrators can read or write): deleting the
//! Secret revokes the token on the next request.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use corral_store::Store;
use serde_json::Value;

use super::token::{StaticTokenAuthenticator, constant_time_eq};
use super::{Authenticator, Outcome, PeerIdentity, UserInfo, bearer_token};

pub const TOKEN_NAMESPACE: &str = "corral-system";
pub const TOKEN_SECRET_TYPE: &str = "corral.dev/token";

pub struct CorralTokenAuthenticator {
    store: Arc<dyn Store>,
}

impl CorralTokenAuthenticator {
    pub fn new(store: Arc<dyn Store>) -> Self {
        CorralTokenAuthenticator { store }
    }
}

/// The hex SHA-256 a token Secret stores for `secret`.
pub fn secret_hash(secret: &str) -> String {
    StaticTokenAuthenticator::hash(secret)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn data_field(secret: &Value, key: &str) -> Option<String> {
    let b64 = secret.get("data")?.get(key)?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(raw).ok()
}

#[async_trait]
impl Authenticator for CorralTokenAuthenticator {
    async fn authenticate(&self, headers: &http::HeaderMap, _peer: &PeerIdentity) -> Outcome {
        let Some(token) = bearer_token(headers) else {
            return Outcome::NotMine;
        };
        let Some((name, secret)) = token.split_once(':') else {
            return Outcome::NotMine;
        };
        let valid_name = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_name || secret.len() < 43 {
            return Outcome::NotMine;
        }
        let key = format!("/registry/core/secrets/{TOKEN_NAMESPACE}/{name}");
        let stored: Value = match self.store.get(&key).await {
            Ok(Some(kv)) => match serde_json::from_slice(&kv.value) {
                Ok(v) => v,
                Err(_) => return Outcome::Rejected(format!("token {name} is corrupt")),
            },
            Ok(None) => return Outcome::Rejected(format!("token {name} is unknown or revoked")),
            Err(e) => return Outcome::Rejected(format!("token {name} could not be checked: {e}")),
        };
        if stored.get("type").and_then(Value::as_str) != Some(TOKEN_SECRET_TYPE) {
            return Outcome::Rejected(format!("secret {name} is not a Corral token"));
        }
        let expected = data_field(&stored, "tokenHash").unwrap_or_default();
        if !constant_time_eq(secret_hash(secret).as_bytes(), expected.as_bytes()) {
            return Outcome::Rejected(format!("token {name} does not match"));
        }
        if let Some(expires) = data_field(&stored, "expiresAt").filter(|s| !s.is_empty()) {
            let at = time::OffsetDateTime::parse(
                &expires,
                &time::format_description::well_known::Rfc3339,
            );
            match at {
                Ok(at) if at > time::OffsetDateTime::now_utc() => {}
                Ok(_) => return Outcome::Rejected(format!("token {name} has expired")),
                Err(_) => {
                    return Outcome::Rejected(format!("token {name} has an unreadable expiry"));
                }
            }
        }
        let user = data_field(&stored, "user").unwrap_or_default();
        if user.is_empty() {
            return Outcome::Rejected(format!("token {name} names no user"));
        }
        let groups = data_field(&stored, "groups")
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let uid = stored
            .get("metadata")
            .and_then(|m| m.get("uid"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Outcome::Authenticated(UserInfo {
            name: user,
            uid,
            groups,
            extra: Default::default(),
        })
    }
}
