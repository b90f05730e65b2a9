//! Identity: principals, auth providers and what a successful login yields.
//!
//! A principal ID names a user or group in one provider, as Rancher names
//! them: `local://u-abc12`, `openldap_user://uid=ann,ou=people,dc=example,dc=org`,
//! `openldap_group://cn=devs,ou=groups,dc=example,dc=org`, `github_user://1234`,
//! `github_org://42`, `github_team://5678`, `oidc_user://<issuer>#<sub>`,
//! `oidc_group://<name>`.
//!
//! Where things are:
//! - [`endpoints`]: the `/v3` extension (password login, tokens, users);
//!   [`flow`]: the browser-redirect login endpoints `/v3/auth/<provider>/…`;
//!   `issue` (private): what every login ends with (allowed principals,
//!   the User, the Token).
//! - Providers: [`local`], [`ldap`] (password), [`oidc`] and [`github`]
//!   (redirect, sharing [`redirect`]: PKCE and pending logins, and [`http`]:
//!   the back-channel client); [`providers`] builds them from AuthConfigs.
//! - [`tokens`]: the token authenticator; [`refresh`]: periodic LDAP group
//!   refresh of live tokens; [`plane`]: wiring it all into a server.

pub mod ldap;

pub mod endpoints;
pub mod flow;
pub mod github;
pub mod http;
mod issue;
pub mod local;
pub mod lockout;
pub mod oidc;
pub mod plane;
pub mod providers;
pub mod redirect;
pub mod refresh;
pub mod tokens;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Whether a principal is a person or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    Group,
}

/// A user or group as an auth provider knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// `<provider>_<kind>://<provider-specific id>`, e.g. `openldap_user://uid=ann,...`.
    pub id: String,
    pub kind: PrincipalKind,
    /// The provider's name: `local`, `openldap`, `activedirectory`, `oidc`, `github`.
    pub provider: String,
    /// What a person types to log in (users) or the group's short name.
    pub login_name: String,
    pub display_name: String,
}

/// The outcome of a successful authentication: one user and their groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user: Principal,
    pub groups: Vec<Principal>,
}

/// Why an authentication failed. Messages shown to the client must not reveal
/// whether a username exists: callers map `InvalidCredentials`,
/// `UnknownUser` and `Disabled` to the same response.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("unknown user")]
    UnknownUser,
    #[error("user is disabled")]
    Disabled,
    #[error("too many failed attempts; try again later")]
    LockedOut,
    /// The provider is misconfigured or unreachable (a server-side problem).
    #[error("auth provider unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Invalid(String),
}

/// A provider that checks a username and password (local, LDAP, Active Directory).
#[async_trait]
pub trait PasswordProvider: Send + Sync {
    /// The provider's name as used in principal IDs (`local`, `openldap`, `activedirectory`).
    fn name(&self) -> &str;
    async fn authenticate(&self, username: &str, password: &str) -> Result<Identity, AuthError>;
    /// Current groups of a known user principal (refresh on login and periodically).
    async fn refresh_groups(&self, user: &Principal) -> Result<Vec<Principal>, AuthError>;
}
