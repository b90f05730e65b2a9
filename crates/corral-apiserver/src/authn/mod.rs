//! Request authentication: who is calling. Each authenticator recognises one
//! kind of credential; [`Chain`] asks them in turn. A credential that one of
//! them recognises but rejects (expired, wrongly signed, revoked) fails the
//! request with 401, as upstream does.

use std::sync::Arc;

use async_trait::async_trait;

pub mod corral_token;
pub mod serviceaccount;
pub mod token;
pub mod x509;

/// The authenticated identity (upstream's user.Info); shared with the RBAC authorizer.
pub use corral_apimachinery::rbac::UserInfo;

pub const ANONYMOUS_USER: &str = "system:anonymous";
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
pub const MASTERS_GROUP: &str = "system:masters";

/// The user as TokenReview, SelfSubjectReview and audit events show it.
pub fn user_json(u: &UserInfo) -> serde_json::Value {
    let mut v = serde_json::json!({"username": u.name, "groups": u.groups});
    if !u.uid.is_empty() {
        v["uid"] = serde_json::json!(u.uid);
    }
    if !u.extra.is_empty() {
        v["extra"] = serde_json::json!(u.extra);
    }
    v
}

pub fn anonymous() -> UserInfo {
    UserInfo {
        name: ANONYMOUS_USER.into(),
        groups: vec![UNAUTHENTICATED_GROUP.into()],
        ..Default::default()
    }
}

/// Every authenticated user is in `system:authenticated` (upstream adds it once).
pub fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        user.groups.push(AUTHENTICATED_GROUP.into());
    }
    user
}

/// What the transport already established about the caller (a verified client certificate).
#[derive(Clone, Debug, Default)]
pub struct PeerIdentity {
    pub certificate_user: Option<UserInfo>,
    /// The client's address, for the audit log.
    pub remote_addr: String,
}

/// The outcome of one authenticator.
#[derive(Debug)]
pub enum Outcome {
    /// Not a credential this authenticator handles.
    NotMine,
    Authenticated(UserInfo),
    /// A credential of this kind, but not valid; the message goes to the audit log, never to the client.
    Rejected(String),
}

#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, headers: &http::HeaderMap, peer: &PeerIdentity) -> Outcome;
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Authenticators asked in order; the first that recognises the credential decides.
#[derive(Default)]
pub struct Chain {
    authenticators: Vec<Arc<dyn Authenticator>>,
}

impl Chain {
    pub fn new() -> Chain {
        Chain::default()
    }

    pub fn with(mut self, a: Arc<dyn Authenticator>) -> Chain {
        self.authenticators.push(a);
        self
    }

    /// `Ok(None)` when the request carries no credential at all (anonymous).
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        peer: &PeerIdentity,
    ) -> Result<Option<UserInfo>, String> {
        let mut rejection = None;
        for a in &self.authenticators {
            match a.authenticate(headers, peer).await {
                Outcome::NotMine => {}
                Outcome::Authenticated(u) => return Ok(Some(with_authenticated_group(u))),
                Outcome::Rejected(why) => rejection = Some(why),
            }
        }
        if let Some(why) = rejection {
            return Err(why);
        }
        if bearer_token(headers).is_some() {
            return Err("the bearer token is not recognised".into());
        }
        Ok(None)
    }
}
