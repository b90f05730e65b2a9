//! Service-account tokens: JWTs signed with the server's own key (ES256).
//! Bound tokens (TokenRequest) carry an audience and expiry; legacy tokens
//! (in `kubernetes.io/service-account-token` Secrets) do not expire but die
//! with their Secret. Either dies with its ServiceAccount (uid checked).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use corral_store::Store;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Authenticator, Outcome, PeerIdentity, UserInfo, bearer_token};
use crate::pki::{self, PkiError};

pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The signing key and the issuer/audience settings.
pub struct ServiceAccountKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    key_id: String,
    pub issuer: String,
    /// Audiences the API server accepts (a bound token must name one of them).
    pub api_audiences: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, Clone, Default)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: NamedUid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<NamedUid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<NamedUid>,
}

#[derive(Debug, Serialize, Deserialize, Clone, Default)]
pub struct NamedUid {
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aud: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(
        rename = "kubernetes.io",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kubernetes: Option<KubernetesClaims>,
    // Legacy (secret-based) token claims, as upstream names them.
    #[serde(
        rename = "kubernetes.io/serviceaccount/namespace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_namespace: Option<String>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/secret.name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_secret: Option<String>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/service-account.name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_sa_name: Option<String>,
    #[serde(
        rename = "kubernetes.io/serviceaccount/service-account.uid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    legacy_sa_uid: Option<String>,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl ServiceAccountKeys {
    /// Load the signing key from `dir`, creating it on first start.
    pub fn load_or_create(
        dir: &Path,
        issuer: &str,
        api_audiences: Vec<String>,
    ) -> Result<ServiceAccountKeys, PkiError> {
        let key_path = dir.join("service-account.key");
        let key_pem = match std::fs::read_to_string(&key_path) {
            Ok(k) => k,
            Err(_) => {
                let key = rcgen::KeyPair::generate()?;
                let pem = key.serialize_pem();
                pki::write_private(&key_path, &pem)?;
                pem
            }
        };
        Self::from_pem(&key_pem, issuer, api_audiences)
    }

    pub fn from_pem(
        key_pem: &str,
        issuer: &str,
        api_audiences: Vec<String>,
    ) -> Result<ServiceAccountKeys, PkiError> {
        let key = rcgen::KeyPair::from_pem(key_pem)?;
        let public_pem = key.public_key_pem();
        let encoding = EncodingKey::from_ec_pem(key_pem.as_bytes())
            .map_err(|e| PkiError::Tls(e.to_string()))?;
        let decoding = DecodingKey::from_ec_pem(public_pem.as_bytes())
            .map_err(|e| PkiError::Tls(e.to_string()))?;
        let key_id = ring::digest::digest(&ring::digest::SHA256, public_pem.as_bytes())
            .as_ref()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        let api_audiences = if api_audiences.is_empty() {
            vec![issuer.to_string()]
        } else {
            api_audiences
        };
        Ok(ServiceAccountKeys {
            encoding,
            decoding,
            key_id,
            issuer: issuer.to_string(),
            api_audiences,
        })
    }

    fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// A bound token (TokenRequest). Returns the token and its expiry (unix seconds).
    pub fn issue_bound(
        &self,
        kube: KubernetesClaims,
        audiences: Vec<String>,
        expiration_seconds: i64,
    ) -> Result<(String, i64), String> {
        let iat = now();
        let exp = iat + expiration_seconds;
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: format!(
                "system:serviceaccount:{}:{}",
                kube.namespace, kube.serviceaccount.name
            ),
            aud: if audiences.is_empty() {
                self.api_audiences.clone()
            } else {
                audiences
            },
            exp: Some(exp),
            iat: Some(iat),
            nbf: Some(iat),
            jti: Some(uuid::Uuid::new_v4().to_string()),
            kubernetes: Some(kube),
            legacy_namespace: None,
            legacy_secret: None,
            legacy_sa_name: None,
            legacy_sa_uid: None,
        };
        Ok((self.sign(&claims)?, exp))
    }

    /// A legacy token for a `kubernetes.io/service-account-token` Secret.
    pub fn issue_legacy(
        &self,
        namespace: &str,
        sa_name: &str,
        sa_uid: &str,
        secret_name: &str,
    ) -> Result<String, String> {
        let claims = Claims {
            iss: LEGACY_ISSUER.into(),
            sub: format!("system:serviceaccount:{namespace}:{sa_name}"),
            aud: vec![],
            exp: None,
            iat: None,
            nbf: None,
            jti: None,
            kubernetes: None,
            legacy_namespace: Some(namespace.into()),
            legacy_secret: Some(secret_name.into()),
            legacy_sa_name: Some(sa_name.into()),
            legacy_sa_uid: Some(sa_uid.into()),
        };
        self.sign(&claims)
    }

    /// Check signature, issuer, expiry and audience. Returns the claims; existence checks are separate.
    fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[self.issuer.as_str(), LEGACY_ISSUER]);
        v.validate_aud = false;
        v.required_spec_claims.clear();
        v.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map_err(|e| format!("invalid service account token: {e}"))?;
        let claims = data.claims;
        if claims.iss == self.issuer {
            let Some(exp) = claims.exp else {
                return Err("bound token without expiry".into());
            };
            if exp <= now() {
                return Err("service account token has expired".into());
            }
            if !claims.aud.iter().any(|a| self.api_audiences.contains(a)) {
                return Err("service account token audience is not accepted".into());
            }
        }
        Ok(claims)
    }
}

/// Validates service-account JWTs and checks that what they are bound to still exists.
pub struct ServiceAccountAuthenticator {
    keys: Arc<ServiceAccountKeys>,
    store: Arc<dyn Store>,
    /// Signature checks are the expensive part (ECDSA verify), so a token's
    /// verified claims are remembered by its hash. Expiry and the existence of
    /// the ServiceAccount (and bound Secret) are still checked on every
    /// request, so revocation takes effect immediately.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<Claims>>>,
}

/// Bound on remembered tokens; past it the cache starts over (cheap, and rare).
const VERIFIED_CACHE_LIMIT: usize = 10_000;

async fn stored(store: &Arc<dyn Store>, key: &str) -> Result<Option<Value>, String> {
    match store.get(key).await {
        Ok(Some(kv)) => serde_json::from_slice(&kv.value)
            .map(Some)
            .map_err(|e| e.to_string()),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn uid_of(v: &Value) -> &str {
    v.get("metadata")
        .and_then(|m| m.get("uid"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl ServiceAccountAuthenticator {
    pub fn new(keys: Arc<ServiceAccountKeys>, store: Arc<dyn Store>) -> Self {
        ServiceAccountAuthenticator {
            keys,
            store,
            verified: Default::default(),
        }
    }

    fn verified_claims(&self, token: &str) -> Result<Arc<Claims>, String> {
        let hash = super::token::StaticTokenAuthenticator::hash(token);
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|c| c.get(&hash).cloned());
        let claims = match cached {
            Some(c) => c,
            None => {
                let c = Arc::new(self.keys.verify(token)?);
                if let Ok(mut cache) = self.verified.lock() {
                    if cache.len() >= VERIFIED_CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(hash, c.clone());
                }
                c
            }
        };
        if claims.exp.is_some_and(|exp| exp <= now()) {
            return Err("service account token has expired".into());
        }
        Ok(claims)
    }

    pub async fn validate(&self, token: &str) -> Result<UserInfo, String> {
        let claims = self.verified_claims(token)?;
        let (namespace, sa_name, sa_uid, mut extra) = if let Some(k) = &claims.kubernetes {
            let mut extra = BTreeMap::new();
            if let Some(jti) = &claims.jti {
                extra.insert(
                    "authentication.kubernetes.io/credential-id".to_string(),
                    vec![format!("JTI={jti}")],
                );
            }
            if let Some(pod) = &k.pod {
                extra.insert(
                    "authentication.kubernetes.io/pod-name".to_string(),
                    vec![pod.name.clone()],
                );
                extra.insert(
                    "authentication.kubernetes.io/pod-uid".to_string(),
                    vec![pod.uid.clone()],
                );
            }
            if let Some(secret) = &k.secret {
                let key = format!("/registry/core/secrets/{}/{}", k.namespace, secret.name);
                match stored(&self.store, &key).await? {
                    Some(s) if uid_of(&s) == secret.uid => {}
                    _ => {
                        return Err(format!(
                            "the bound secret {}/{} no longer exists",
                            k.namespace, secret.name
                        ));
                    }
                }
            }
            (
                k.namespace.clone(),
                k.serviceaccount.name.clone(),
                k.serviceaccount.uid.clone(),
                extra,
            )
        } else {
            let ns = claims.legacy_namespace.clone().unwrap_or_default();
            let secret = claims.legacy_secret.clone().unwrap_or_default();
            let key = format!("/registry/core/secrets/{ns}/{secret}");
            let s = stored(&self.store, &key)
                .await?
                .ok_or_else(|| format!("the token secret {ns}/{secret} no longer exists"))?;
            let stored_token = s
                .get("data")
                .and_then(|d| d.get("token"))
                .and_then(Value::as_str)
                .unwrap_or("");
            use base64::Engine;
            let expected = base64::engine::general_purpose::STANDARD.encode(token);
            if !super::token::constant_time_eq(stored_token.as_bytes(), expected.as_bytes()) {
                return Err(format!(
                    "the token secret {ns}/{secret} holds another token"
                ));
            }
            (
                ns,
                claims.legacy_sa_name.clone().unwrap_or_default(),
                claims.legacy_sa_uid.clone().unwrap_or_default(),
                BTreeMap::new(),
            )
        };
        let sa_key = format!("/registry/core/serviceaccounts/{namespace}/{sa_name}");
        let sa = stored(&self.store, &sa_key)
            .await?
            .ok_or_else(|| format!("service account {namespace}/{sa_name} does not exist"))?;
        if uid_of(&sa) != sa_uid {
            return Err(format!(
                "service account {namespace}/{sa_name} was recreated; the token is for the old one"
            ));
        }
        extra.retain(|_, v| !v.is_empty());
        Ok(UserInfo {
            name: format!("system:serviceaccount:{namespace}:{sa_name}"),
            uid: sa_uid,
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
            ],
            extra,
        })
    }
}

#[async_trait]
impl Authenticator for ServiceAccountAuthenticator {
    async fn authenticate(&self, headers: &http::HeaderMap, _peer: &PeerIdentity) -> Outcome {
        let Some(token) = bearer_token(headers) else {
            return Outcome::NotMine;
        };
        if token.matches('.').count() != 2 {
            return Outcome::NotMine;
        }
        match self.validate(token).await {
            Ok(u) => Outcome::Authenticated(u),
            Err(why) => Outcome::Rejected(why),
        }
    }
}
