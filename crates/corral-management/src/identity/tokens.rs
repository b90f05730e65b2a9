//! Corral's API tokens (`tokens.management.corral.dev`) and the authenticator
//! that accepts them as `Authorization: Bearer <name>:<secret>`.
//!
//! The secret is 256 random bits, shown once (the login response) and stored
//! only as `sha256:<hex>` in the Token's `spec.tokenHash`. A fast hash is
//! right here and argon2 would be wrong: argon2 makes *guessing* expensive,
//! which protects low-entropy passwords; a 256-bit random secret cannot be
//! guessed whatever the hash, and every API request verifies a token, so a
//! deliberately slow hash would cost ~20 ms of CPU and 19 MiB per request.
//!
//! Validation reads the in-memory [`View`]s of Tokens and Users (see
//! [`crate::view`] for how they stay current): a map lookup, one SHA-256 of
//! the presented secret and a constant-time compare — about a microsecond
//! with 100,000 tokens stored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use corral_apiserver::authn::token::constant_time_eq;
use corral_apiserver::authn::{Authenticator, Outcome, PeerIdentity, UserInfo, bearer_token};
use corral_store::Store;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::crds::{TOKENS, TOKENS_PREFIX, USERS_PREFIX};
use crate::view::{Parse, Sink, View};

/// `status.lastUsedAt` is written at most this often per token.
pub const LAST_USED_INTERVAL_SECS: i64 = 60;

/// A Token as the authenticator needs it.
pub struct TokenEntry {
    pub name: String,
    pub user_id: String,
    pub user_principal: String,
    pub hash: [u8; 32],
    pub expires_at: Option<OffsetDateTime>,
    pub groups: Vec<String>,
    pub provider: String,
    pub description: String,
    pub created: String,
    /// Unix seconds of the last `lastUsedAt` written or queued.
    last_used: AtomicI64,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hash.
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl TokenEntry {
    pub fn last_used_unix(&self) -> i64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// The token as its owner may see it (never the hash).
    pub fn public_json(&self) -> Value {
        let last = self.last_used_unix();
        json!({
            "name": self.name,
            "userId": self.user_id,
            "description": self.description,
            "authProvider": self.provider,
            "groupPrincipals": self.groups,
            "expiresAt": self.expires_at.and_then(|t| t.format(&Rfc3339).ok()),
            "lastUsedAt": (last > 0).then(|| rfc3339_unix(last)),
            "createdAt": self.created,
        })
    }
}

fn rfc3339_unix(secs: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}

fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `sha256:<hex>` → the 32 bytes.
pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let hex = s.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn format_hash(hash: &[u8; 32]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Parse for TokenEntry {
    fn parse(name: &str, value: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(value).ok()?;
        let spec = &v["spec"];
        let hash = parse_hash(spec["tokenHash"].as_str()?)?;
        let expires_at = match &spec["expiresAt"] {
            Value::Null => None,
            // An unreadable expiry makes the token unusable rather than eternal.
            other => Some(parse_time(other).unwrap_or(OffsetDateTime::UNIX_EPOCH)),
        };
        Some(TokenEntry {
            name: name.to_string(),
            user_id: spec["userId"].as_str()?.to_string(),
            user_principal: spec["userPrincipal"].as_str().unwrap_or("").to_string(),
            hash,
            expires_at,
            groups: strings(&spec["groupPrincipals"]),
            provider: spec["authProvider"].as_str().unwrap_or("").to_string(),
            description: spec["description"].as_str().unwrap_or("").to_string(),
            created: v["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            last_used: AtomicI64::new(
                parse_time(&v["status"]["lastUsedAt"]).map_or(0, |t| t.unix_timestamp()),
            ),
        })
    }
}

/// A User as authentication needs it.
#[derive(Clone, Debug)]
pub struct UserEntry {
    pub name: String,
    pub username: String,
    pub display_name: String,
    pub principal_ids: Vec<String>,
    pub enabled: bool,
    pub must_change_password: bool,
}

impl UserEntry {
    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "username": self.username,
            "displayName": self.display_name,
            "principalIds": self.principal_ids,
            "enabled": self.enabled,
            "mustChangePassword": self.must_change_password,
        })
    }
}

impl Parse for UserEntry {
    fn parse(name: &str, value: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(value).ok()?;
        let spec = &v["spec"];
        Some(UserEntry {
            name: name.to_string(),
            username: spec["username"].as_str()?.to_string(),
            display_name: spec["displayName"].as_str().unwrap_or("").to_string(),
            principal_ids: strings(&spec["principalIds"]),
            enabled: spec["enabled"].as_bool().unwrap_or(true),
            must_change_password: spec["mustChangePassword"].as_bool().unwrap_or(false),
        })
    }
}

pub type Tokens = View<TokenEntry>;
pub type Users = View<UserEntry>;

/// Why a token of a user who must change their password is refused.
pub const MUST_CHANGE_PASSWORD: &str = "the password must be changed before this token can be used: \
POST /v3/users?action=changepassword with {\"currentPassword\",\"newPassword\"}";

/// Whether `user` must change their (local) password before their tokens
/// work beyond `/v3` (see [`crate::identity::endpoints`]). Users of other
/// providers have no password here to change, so the flag does not bind them.
pub fn must_change(user: &UserEntry) -> bool {
    user.must_change_password && user.principal_ids.iter().any(|p| p.starts_with("local://"))
}

/// Who a validated token says the caller is.
#[derive(Clone, Debug)]
pub struct TokenIdentity {
    pub token: Arc<TokenEntry>,
    pub user: Arc<UserEntry>,
}

impl TokenIdentity {
    /// See [`must_change`].
    pub fn must_change_password(&self) -> bool {
        must_change(&self.user)
    }

    /// The identity RBAC sees: the User's name, the group principals plus
    /// `system:authenticated`, and the principals in `extra` so bindings can name them.
    pub fn user_info(&self) -> UserInfo {
        let mut groups = self.token.groups.clone();
        groups.push(corral_apiserver::authn::AUTHENTICATED_GROUP.to_string());
        let mut principals = self.user.principal_ids.clone();
        if !self.token.user_principal.is_empty() && !principals.contains(&self.token.user_principal)
        {
            principals.insert(0, self.token.user_principal.clone());
        }
        let mut extra = BTreeMap::new();
        extra.insert("principalid".to_string(), principals);
        extra.insert("username".to_string(), vec![self.user.username.clone()]);
        UserInfo {
            name: self.user.name.clone(),
            uid: String::new(),
            groups,
            extra,
        }
    }
}

/// Validates Corral tokens (see the module docs).
pub struct TokenAuthenticator {
    pub tokens: Arc<Tokens>,
    pub users: Arc<Users>,
    store: Option<Arc<dyn Store>>,
    last_used: Option<tokio::sync::mpsc::Sender<String>>,
}

/// Why a token was refused (for logs, never for clients).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("not a Corral token")]
    NotMine,
    #[error("token {0} is unknown or revoked")]
    Unknown(String),
    #[error("token {0} does not match")]
    Mismatch(String),
    #[error("token {0} has expired")]
    Expired(String),
    #[error("the owner of token {0} is unknown or disabled")]
    UserDisabled(String),
}

/// `name:secret` if `token` looks like a Corral token at all.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (name, secret) = token.split_once(':')?;
    let valid_name = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    (valid_name && secret.len() >= 43 && secret.len() <= 256).then_some((name, secret))
}

impl TokenAuthenticator {
    /// `store` serves cache misses (a token created on another replica whose
    /// watch event has not arrived yet); `last_used` receives token names
    /// whose `lastUsedAt` is due.
    pub fn new(
        tokens: Arc<Tokens>,
        users: Arc<Users>,
        store: Option<Arc<dyn Store>>,
        last_used: Option<tokio::sync::mpsc::Sender<String>>,
    ) -> TokenAuthenticator {
        TokenAuthenticator {
            tokens,
            users,
            store,
            last_used,
        }
    }

    /// Validate a bearer token value.
    pub async fn validate(&self, token: &str) -> Result<TokenIdentity, TokenError> {
        let (name, secret) = split_token(token).ok_or(TokenError::NotMine)?;
        let entry = match self.tokens.get(name) {
            Some(e) => e,
            None => self
                .read_through(name)
                .await
                .ok_or_else(|| TokenError::Unknown(name.to_string()))?,
        };
        if !constant_time_eq(&hash_secret(secret), &entry.hash) {
            return Err(TokenError::Mismatch(name.to_string()));
        }
        let now = OffsetDateTime::now_utc();
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Err(TokenError::Expired(name.to_string()));
        }
        let user = self
            .users
            .get(&entry.user_id)
            .filter(|u| u.enabled)
            .ok_or_else(|| TokenError::UserDisabled(name.to_string()))?;
        self.touch(&entry, now.unix_timestamp());
        Ok(TokenIdentity { token: entry, user })
    }

    async fn read_through(&self, name: &str) -> Option<Arc<TokenEntry>> {
        let store = self.store.as_ref()?;
        let kv = store
            .get(&format!("{TOKENS_PREFIX}{name}"))
            .await
            .ok()
            .flatten()?;
        self.tokens.insert_read(&kv);
        self.tokens.get(name)
    }

    /// Queue a `lastUsedAt` update if the last one is a minute old (never blocks).
    fn touch(&self, entry: &TokenEntry, now: i64) {
        let Some(tx) = &self.last_used else {
            return;
        };
        let last = entry.last_used.load(Ordering::Relaxed);
        if now - last < LAST_USED_INTERVAL_SECS {
            return;
        }
        if entry
            .last_used
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let _ = tx.try_send(entry.name.clone());
        }
    }
}

#[async_trait]
impl Authenticator for TokenAuthenticator {
    async fn authenticate(&self, headers: &http::HeaderMap, _peer: &PeerIdentity) -> Outcome {
        let Some(token) = bearer_token(headers) else {
            return Outcome::NotMine;
        };
        match self.validate(token).await {
            Ok(id) if id.must_change_password() => Outcome::Rejected(format!(
                "token {}: user {} must change their password first",
                id.token.name, id.user.name
            )),
            Ok(id) => Outcome::Authenticated(id.user_info()),
            Err(TokenError::NotMine) => Outcome::NotMine,
            Err(e) => Outcome::Rejected(e.to_string()),
        }
    }
}

/// A fresh token: `(name, secret)`; the name is `t-` and 12 random base-32
/// characters, the secret 256 random bits as 64 hex digits.
pub fn generate() -> (String, String) {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let name_bytes: [u8; 12] = rand::random();
    let name: String = name_bytes
        .iter()
        .map(|b| ALPHABET[(*b % 32) as usize] as char)
        .collect();
    let secret: [u8; 32] = rand::random();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    (format!("t-{name}"), hex)
}

/// Writes `status.lastUsedAt` off the request path: one merge patch per
/// queued token name (each token queues at most once a minute).
pub fn spawn_last_used_writer(
    client: Arc<crate::client::LocalClient>,
    mut rx: tokio::sync::mpsc::Receiver<String>,
) {
    tokio::spawn(async move {
        while let Some(name) = rx.recv().await {
            let now = OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default();
            let patch = json!({"status": {"lastUsedAt": now}});
            if let Err(e) = client
                .merge_patch(&format!("{TOKENS}/{name}/status"), &patch)
                .await
                && !e.is_not_found()
            {
                tracing::debug!(token = %name, error = %e, "lastUsedAt not updated");
            }
        }
    });
}

/// The views the identity system keeps, as sinks for [`crate::view::ViewedStore`].
pub fn sinks(tokens: &Arc<Tokens>, users: &Arc<Users>) -> Vec<Arc<dyn Sink>> {
    vec![tokens.clone(), users.clone()]
}

/// The store prefixes of the views (for documentation and tests).
pub const PREFIXES: [&str; 2] = [TOKENS_PREFIX, USERS_PREFIX];

#[cfg(test)]
mod tests {
    use super::*;
    use corral_store::KeyValue;

    fn kv(key: String, v: Value, rev: i64) -> KeyValue {
        KeyValue {
            key,
            value: serde_json::to_vec(&v).unwrap().into(),
            create_revision: rev,
            mod_revision: rev,
        }
    }

    fn setup(expires: Option<&str>, enabled: bool) -> (TokenAuthenticator, String) {
        let tokens: Arc<Tokens> = View::new(TOKENS_PREFIX);
        let users: Arc<Users> = View::new(USERS_PREFIX);
        let (name, secret) = generate();
        users.put(&kv(
            format!("{USERS_PREFIX}u-ann"),
            json!({"spec": {"username": "ann", "enabled": enabled, "principalIds": ["local://u-ann"]}}),
            1,
        ));
        tokens.put(&kv(
            format!("{TOKENS_PREFIX}{name}"),
            json!({"spec": {"userId": "u-ann", "tokenHash": format_hash(&hash_secret(&secret)),
                "groupPrincipals": ["openldap_group://cn=devs"], "expiresAt": expires}}),
            2,
        ));
        (
            TokenAuthenticator::new(tokens, users, None, None),
            format!("{name}:{secret}"),
        )
    }

    #[tokio::test]
    async fn valid_tokens_yield_the_user_and_principals() {
        let (auth, token) = setup(None, true);
        let id = auth.validate(&token).await.expect("valid");
        let info = id.user_info();
        assert_eq!(info.name, "u-ann");
        assert_eq!(
            info.groups,
            vec!["openldap_group://cn=devs", "system:authenticated"]
        );
        assert_eq!(info.extra["principalid"], vec!["local://u-ann"]);
        assert_eq!(info.extra["username"], vec!["ann"]);
        let wrong = format!("{}0", &token[..token.len() - 1]);
        let wrong = if wrong == token {
            format!("{}1", &token[..token.len() - 1])
        } else {
            wrong
        };
        assert!(matches!(
            auth.validate(&wrong).await,
            Err(TokenError::Mismatch(_))
        ));
        assert!(matches!(
            auth.validate("admin:short").await,
            Err(TokenError::NotMine)
        ));
        assert!(matches!(
            auth.validate(&format!("t-nope:{}", "a".repeat(64))).await,
            Err(TokenError::Unknown(_))
        ));
    }

    #[tokio::test]
    async fn expired_tokens_and_disabled_users_are_refused() {
        let (auth, token) = setup(Some("2000-01-01T00:00:00Z"), true);
        assert!(matches!(
            auth.validate(&token).await,
            Err(TokenError::Expired(_))
        ));
        let (auth, token) = setup(Some("2999-01-01T00:00:00Z"), false);
        assert!(matches!(
            auth.validate(&token).await,
            Err(TokenError::UserDisabled(_))
        ));
        let (auth, token) = setup(Some("garbage"), true);
        assert!(matches!(
            auth.validate(&token).await,
            Err(TokenError::Expired(_))
        ));
    }
}
