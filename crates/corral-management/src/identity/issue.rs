//! What every successful login ends with, whatever the provider (password
//! or browser redirect): the AuthConfig's allowed principals, the Corral
//! User (found by principal id, created on a first login), then a Token.

#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Identity;
use super::endpoints::{Endpoints, Reply, error, rfc3339, unauthorized, unavailable};
use super::providers::restricted_to;
use super::tokens::{self, UserEntry};
use crate::crds::{TOKENS, USERS};

impl Endpoints {
    /// Issue a token for `identity`, authenticated by AuthConfig `provider`
    /// (`config`): the body of the login response, or the reply to send.
    pub(super) async fn issue(
        &self,
        identity: &Identity,
        provider: &str,
        config: Option<&Value>,
        ttl: Duration,
        description: &str,
    ) -> Result<Value, Reply> {
        if let Some(allowed) = config.and_then(restricted_to)
            && !std::iter::once(&identity.user)
                .chain(identity.groups.iter())
                .any(|p| allowed.contains(&p.id))
        {
            tracing::info!(provider, user = %identity.user.id, "login refused: not an allowed principal");
            return Err(error(
                StatusCode::FORBIDDEN,
                "this user is not allowed to log in",
            ));
        }
        let user = self.user_for(identity).await?;
        if !user.enabled {
            return Err(unauthorized());
        }
        let expires = OffsetDateTime::now_utc() + ttl;
        let (name, secret) = tokens::generate();
        let groups: Vec<String> = identity.groups.iter().map(|g| g.id.clone()).collect();
        let token = json!({
            "apiVersion": crate::crds::API_VERSION,
            "kind": "Token",
            "metadata": {"name": name, "labels": {"management.corral.dev/user": user.name}},
            "spec": {
                "userId": user.name,
                "userPrincipal": identity.user.id,
                "description": description,
                "authProvider": provider,
                "groupPrincipals": groups,
                "expiresAt": rfc3339(expires),
                "tokenHash": tokens::format_hash(&tokens::hash_secret(&secret)),
            },
        });
        if let Err(e) = self.client.create(TOKENS, &token).await {
            return Err(unavailable(e));
        }
        let mut body = json!({
            "type": "token",
            "token": format!("{name}:{secret}"),
            "name": name,
            "user": user.json(),
            "groups": groups,
            "authProvider": provider,
            "expiresAt": rfc3339(expires),
            "mustChangePassword": user.must_change_password,
        });
        if tokens::must_change(&user) {
            body["message"] = json!(tokens::MUST_CHANGE_PASSWORD);
        }
        Ok(body)
    }

    /// The User of an identity: local users are their own objects; users of
    /// other providers get one on first login, named after their principal.
    pub(super) async fn user_for(&self, identity: &Identity) -> Result<Arc<UserEntry>, Reply> {
        let users = self.local.users();
        if let Some(name) = identity.user.id.strip_prefix("local://") {
            return users.get(name).ok_or_else(unauthorized);
        }
        if let Some(u) = users
            .find(|u| u.principal_ids.contains(&identity.user.id))
            .into_iter()
            .next()
        {
            return Ok(u);
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(identity.user.id.as_bytes());
        let name = format!(
            "u-{}",
            digest[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let obj = json!({
            "apiVersion": crate::crds::API_VERSION,
            "kind": "User",
            "metadata": {"name": name},
            "spec": {
                "username": identity.user.login_name,
                "displayName": identity.user.display_name,
                "principalIds": [identity.user.id],
                "enabled": true,
            },
        });
        match self.client.create(USERS, &obj).await {
            Ok(_) => {}
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(unavailable(e)),
        }
        users
            .get(&name)
            .ok_or_else(|| unavailable("user not visible after create"))
    }
}
