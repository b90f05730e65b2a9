//! What the browser-redirect providers (OIDC, GitHub) share: the
//! [`RedirectProvider`] trait, PKCE (RFC 7636, S256) and the server-side
//! store of pending logins ([`PendingLogins`]).
//!
//! A pending login is created by `GET /v3/auth/<provider>/login` and consumed
//! by the callback: it is keyed by the `state` parameter (256 random bits),
//! lives at most [`STATE_TTL`], is removed on first use (a replayed callback
//! finds nothing), and the map holds at most [`MAX_PENDING`] entries (expired
//! ones are dropped first; when it is full of live ones, new logins are
//! refused rather than evicting someone's login in progress).
//!
//! Pending logins live in the memory of the replica that started them: with
//! several replicas behind a load balancer, the login and its callback must
//! reach the same replica (sticky sessions), or the callback is refused as
//! an unknown state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{AuthError, Identity};

/// How long a login may take between the redirect to the IdP and the callback.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// The most logins in progress at once (per replica).
pub const MAX_PENDING: usize = 10_000;

/// A login in progress (see the module docs).
#[derive(Clone, Debug)]
pub struct Pending {
    /// The AuthConfig name the login started with.
    pub provider: String,
    /// The callback URL given to the IdP (it must be sent again with the code).
    pub redirect_uri: String,
    /// The PKCE code verifier (43 characters of base64url).
    pub verifier: String,
    /// The OIDC nonce the ID token must carry.
    pub nonce: String,
    /// Where to send the browser with the token (a CLI's loopback listener), if anywhere.
    pub client_redirect: Option<String>,
    /// The Corral token's lifetime and description.
    pub ttl: Duration,
    pub description: String,
    created: Instant,
}

impl Pending {
    pub fn new(provider: &str, redirect_uri: String) -> Pending {
        Pending {
            provider: provider.to_string(),
            redirect_uri,
            verifier: random_b64(32),
            nonce: random_b64(16),
            client_redirect: None,
            ttl: Duration::from_secs(16 * 3600),
            description: String::new(),
            created: Instant::now(),
        }
    }

    /// The PKCE `code_challenge` for `code_challenge_method=S256`.
    pub fn challenge(&self) -> String {
        pkce_challenge(&self.verifier)
    }
}

/// `BASE64URL(SHA256(verifier))`, RFC 7636 section 4.2.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `n` random bytes as unpadded base64url.
pub fn random_b64(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An auth provider that sends the browser to an identity provider and gets
/// an authorization code back.
#[async_trait]
pub trait RedirectProvider: Send + Sync {
    /// The provider type (`oidc`, `github`), for logs.
    fn kind(&self) -> &'static str;
    /// The URL of the IdP's authorization endpoint for this login.
    async fn authorize_url(&self, state: &str, login: &Pending) -> Result<String, AuthError>;
    /// Exchange the code and establish who logged in (with their groups).
    /// `InvalidCredentials` for anything the IdP or the tokens got wrong;
    /// `Unavailable` when the IdP cannot be reached.
    async fn complete(&self, code: &str, login: &Pending) -> Result<Identity, AuthError>;
}

/// The store of logins in progress (see the module docs).
#[derive(Default)]
pub struct PendingLogins {
    map: Mutex<HashMap<String, Pending>>,
}

impl PendingLogins {
    /// Stores `login` under a fresh state; `None` when too many logins are in progress.
    pub fn insert(&self, login: Pending) -> Option<String> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_PENDING {
            map.retain(|_, p| p.created.elapsed() < STATE_TTL);
            if map.len() >= MAX_PENDING {
                return None;
            }
        }
        let state = random_b64(32);
        map.insert(state.clone(), login);
        Some(state)
    }

    /// The login for `state`, removed (single use); `None` when unknown, used or expired.
    pub fn take(&self, state: &str) -> Option<Pending> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let login = map.remove(state)?;
        (login.created.elapsed() < STATE_TTL).then_some(login)
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_b64(32).len(), 43);
    }

    #[test]
    fn states_are_single_use_and_bounded() {
        let logins = PendingLogins::default();
        let state = logins
            .insert(Pending::new("oidc", "https://x/cb".into()))
            .unwrap();
        assert!(logins.take("nope").is_none());
        assert_eq!(logins.take(&state).unwrap().provider, "oidc");
        assert!(logins.take(&state).is_none());
        {
            let mut map = logins.map.lock().unwrap();
            for i in 0..MAX_PENDING {
                map.insert(i.to_string(), Pending::new("oidc", String::new()));
            }
        }
        assert!(logins.insert(Pending::new("oidc", String::new())).is_none());
        {
            let mut map = logins.map.lock().unwrap();
            for p in map.values_mut() {
                p.created = Instant::now() - STATE_TTL - Duration::from_secs(1);
            }
        }
        let state = logins
            .insert(Pending::new("oidc", String::new()))
            .expect("expired ones make room");
        assert_eq!(logins.len(), 1);
        assert!(logins.take(&state).is_some());
    }
}
