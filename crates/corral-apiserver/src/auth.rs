//! Request authentication. For now one bootstrap credential: the admin's
//! bearer token, kept only as a SHA-256 hash. Full authentication (Corral
//! tokens, service-account JWTs, client certificates) and RBAC plug in here.

use sha2::{Digest, Sha256};

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

pub trait Authenticator: Send + Sync {
    /// `None` when the request carries no credential this authenticator accepts.
    fn authenticate(&self, headers: &http::HeaderMap) -> Option<UserInfo>;
}

/// Accepts one bearer token, compared by hash in constant time.
pub struct StaticTokenAuthenticator {
    token_sha256: [u8; 32],
    user: UserInfo,
}

impl StaticTokenAuthenticator {
    pub fn from_hash(token_sha256: [u8; 32], user: UserInfo) -> Self {
        StaticTokenAuthenticator { token_sha256, user }
    }

    pub fn hash(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }
}

impl Authenticator for StaticTokenAuthenticator {
    fn authenticate(&self, headers: &http::HeaderMap) -> Option<UserInfo> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let presented = Self::hash(token.trim());
        // Constant-time comparison so the response time says nothing about the token.
        let diff = presented
            .iter()
            .zip(self.token_sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then(|| self.user.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_bearer_token_authenticates() {
        let user = UserInfo {
            name: "admin".into(),
            uid: "u".into(),
            groups: vec!["system:masters".into()],
        };
        let auth = StaticTokenAuthenticator::from_hash(
            StaticTokenAuthenticator::hash("secret"),
            user.clone(),
        );
        let mut h = http::HeaderMap::new();
        assert_eq!(auth.authenticate(&h), None);
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer secret"),
        );
        assert_eq!(auth.authenticate(&h), Some(user));
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer secreT"),
        );
        assert_eq!(auth.authenticate(&h), None);
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Basic secret"),
        );
        assert_eq!(auth.authenticate(&h), None);
    }
}
