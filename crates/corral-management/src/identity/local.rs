//! The `local` provider: users are `users.management.corral.dev` objects,
//! their passwords argon2id hashes (PHC strings) in Secrets
//! `corral-system/password-<user>` of type `corral.dev/password` — never in
//! the User object, and in a namespace only administrators can read.
//!
//! Cost parameters: argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's
//! recommendation); see the README for the measured time per hash. Hashing
//! runs on the blocking pool, at most `available_parallelism` at a time, so a
//! login storm cannot use unbounded memory or stall the async workers.
//!
//! An unknown username costs the same as a known one: the password is
//! verified against a dummy hash made with the same parameters at start.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use serde_json::json;

use super::tokens::{UserEntry, Users};
use super::{AuthError, Identity, PasswordProvider, Principal, PrincipalKind};
use crate::client::LocalClient;

pub const PROVIDER: &str = "local";
pub const MIN_PASSWORD_LENGTH: usize = 12;
pub const MAX_PASSWORD_LENGTH: usize = 1024;
pub const PASSWORD_NAMESPACE: &str = "corral-system";
pub const PASSWORD_SECRET_TYPE: &str = "corral.dev/password";

/// argon2id cost: memory in KiB, iterations, lanes.
pub const ARGON2_M_KIB: u32 = 19 * 1024;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;

pub fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Unavailable(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Unavailable(e.to_string()))
}

/// Whether `password` matches the PHC string (the parameters come from the string).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The minimum-length rule (and a maximum, so nobody hashes megabytes).
pub fn check_password_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LENGTH {
        return Err(AuthError::Invalid(format!(
            "password must be at least {MIN_PASSWORD_LENGTH} characters long"
        )));
    }
    if password.len() > MAX_PASSWORD_LENGTH {
        return Err(AuthError::Invalid(format!(
            "password must be at most {MAX_PASSWORD_LENGTH} bytes long"
        )));
    }
    Ok(())
}

pub fn password_secret_name(user: &str) -> String {
    format!("password-{user}")
}

pub fn principal_id(user: &str) -> String {
    format!("local://{user}")
}

fn secrets_path() -> String {
    format!("/api/v1/namespaces/{PASSWORD_NAMESPACE}/secrets")
}

pub struct LocalProvider {
    client: Arc<LocalClient>,
    users: Arc<Users>,
    dummy: String,
    hashing: Arc<tokio::sync::Semaphore>,
}

impl LocalProvider {
    pub fn new(client: Arc<LocalClient>, users: Arc<Users>) -> Result<LocalProvider, AuthError> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(LocalProvider {
            client,
            users,
            dummy: hash_password("corral-dummy-password-for-unknown-users")?,
            hashing: Arc::new(tokio::sync::Semaphore::new(workers)),
        })
    }

    pub fn users(&self) -> &Arc<Users> {
        &self.users
    }

    /// The local user with this username (usernames compare exactly).
    pub fn find(&self, username: &str) -> Option<Arc<UserEntry>> {
        self.users
            .find(|u| {
                u.username == username && u.principal_ids.iter().any(|p| p.starts_with("local://"))
            })
            .into_iter()
            .next()
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))
    }

    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let password = password.to_string();
        self.run_blocking(move || hash_password(&password)).await?
    }

    async fn stored_hash(&self, user: &str) -> Result<Option<String>, AuthError> {
        let path = format!("{}/{}", secrets_path(), password_secret_name(user));
        let secret = self
            .client
            .get(&path)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        Ok(secret.and_then(|s| {
            use base64_lite::decode;
            s["data"]["hash"].as_str().and_then(decode)
        }))
    }

    /// Write (create or replace) a user's password hash.
    pub async fn set_password(&self, user: &str, password: &str) -> Result<(), AuthError> {
        check_password_policy(password)?;
        let phc = self.hash(password).await?;
        self.store_hash(user, &phc, false).await.map(|_| ())
    }

    /// Store a PHC string; with `only_if_absent`, `Ok(false)` when a hash already exists.
    pub async fn store_hash(
        &self,
        user: &str,
        phc: &str,
        only_if_absent: bool,
    ) -> Result<bool, AuthError> {
        let name = password_secret_name(user);
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": PASSWORD_NAMESPACE,
                "labels": {"management.corral.dev/user": user}},
            "type": PASSWORD_SECRET_TYPE,
            "stringData": {"hash": phc},
        });
        match self.client.create(&secrets_path(), &secret).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() && only_if_absent => Ok(false),
            Err(e) if e.is_conflict() => {
                let path = format!("{}/{name}", secrets_path());
                self.client
                    .merge_patch(&path, &json!({"stringData": {"hash": phc}}))
                    .await
                    .map(|_| true)
                    .map_err(|e| AuthError::Unavailable(e.to_string()))
            }
            Err(e) => Err(AuthError::Unavailable(e.to_string())),
        }
    }

    pub fn identity(user: &UserEntry) -> Identity {
        Identity {
            user: Principal {
                id: principal_id(&user.name),
                kind: PrincipalKind::User,
                provider: PROVIDER.into(),
                login_name: user.username.clone(),
                display_name: user.display_name.clone(),
            },
            groups: vec![],
        }
    }
}

#[async_trait]
impl PasswordProvider for LocalProvider {
    fn name(&self) -> &str {
        PROVIDER
    }

    async fn authenticate(&self, username: &str, password: &str) -> Result<Identity, AuthError> {
        if password.len() > MAX_PASSWORD_LENGTH || username.len() > 256 {
            return Err(AuthError::InvalidCredentials);
        }
        let user = self.find(username);
        let stored = match &user {
            Some(u) => self.stored_hash(&u.name).await?,
            None => None,
        };
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.clone());
        let password = password.to_string();
        // Always one full verification, whether or not the user exists.
        let matches = self
            .run_blocking(move || verify_password(&password, &phc))
            .await?;
        match user {
            None => Err(AuthError::UnknownUser),
            Some(_) if !known || !matches => Err(AuthError::InvalidCredentials),
            Some(u) if !u.enabled => Err(AuthError::Disabled),
            Some(u) => Ok(Self::identity(&u)),
        }
    }

    async fn refresh_groups(&self, _user: &Principal) -> Result<Vec<Principal>, AuthError> {
        Ok(vec![])
    }
}

/// Standard base64 decoding of a Secret's `data` value to text, without another dependency.
mod base64_lite {
    pub fn decode(s: &str) -> Option<String> {
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let mut buf = 0u32;
        let mut bits = 0;
        for c in s.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => break,
                b'\n' | b'\r' => continue,
                _ => return None,
            };
            buf = (buf << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        String::from_utf8(out).ok()
    }

    #[cfg(test)]
    #[test]
    fn decodes() {
        assert_eq!(decode("aGVsbG8gd29ybGQ=").as_deref(), Some("hello world"));
        assert_eq!(decode("YQ==").as_deref(), Some("a"));
        assert_eq!(decode("!!"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_policy_holds() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterx", &phc));
        assert!(!verify_password("x", "not a phc string"));
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("twelve chars").is_ok());
    }
}
