//! The LDAP / Active Directory provider's settings, as they live in an
//! `AuthConfig` object (camelCase JSON, every field optional with the
//! flavor's defaults).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::identity::AuthError;

/// Which directory the provider talks to: decides the provider name in
/// principal IDs (`openldap_user://…`, `activedirectory_user://…`), the
/// defaults, the account-disabled check and how nested groups are found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// OpenLDAP, 389-ds and other RFC 4519 directories (`openldap`).
    #[default]
    OpenLdap,
    /// Microsoft Active Directory (`activedirectory`).
    ActiveDirectory,
}

impl Flavor {
    /// The provider name used in principal IDs.
    pub fn provider_name(self) -> &'static str {
        match self {
            Flavor::OpenLdap => "openldap",
            Flavor::ActiveDirectory => "activedirectory",
        }
    }
}

/// How the connection is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain LDAP (port 389 by default). Passwords cross the wire in clear:
    /// only for tests and loopback.
    #[default]
    None,
    /// LDAP over TLS from the first byte (port 636 by default).
    Ldaps,
    /// Plain LDAP upgraded with the StartTLS extended operation before any
    /// bind (port 389 by default); a server that refuses it is an error.
    StartTls,
}

/// Settings of an LDAP or Active Directory provider.
///
/// Missing fields take [`LdapConfig::openldap`]'s or
/// [`LdapConfig::active_directory`]'s defaults, chosen by `flavor`
/// (see [`LdapConfig::from_settings`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LdapConfig {
    pub flavor: Flavor,
    /// `host:port` (or `host`, taking the TLS mode's default port), tried in
    /// order until one answers.
    pub servers: Vec<String>,
    pub tls: TlsMode,
    /// PEM of the CA certificate(s) that sign the servers' certificates.
    /// Empty: the system's trust store.
    pub certificate: String,
    /// Bound on connecting (TCP + TLS/StartTLS) to one server and on each
    /// LDAP operation, in milliseconds.
    pub connection_timeout_ms: u64,
    /// The service account that searches users and groups. Empty DN:
    /// anonymous searches (the directory must allow them).
    pub service_account_distinguished_name: String,
    pub service_account_password: String,

    pub user_search_base: String,
    /// The attribute a person types as login name: `uid`, AD `sAMAccountName`.
    pub user_login_attribute: String,
    /// The attribute shown as display name: `cn`, AD `displayName`/`name`.
    pub user_name_attribute: String,
    pub user_object_class: String,
    /// Extra filter ANDed to user searches, e.g. `(employeeType=staff)`.
    pub user_search_filter: String,
    /// OpenLDAP: an attribute and value marking an account as disabled
    /// (e.g. `employeeType` = `disabled`, or `nsAccountLock` = `true`).
    /// Empty attribute: no such check. Independently, any
    /// `pwdAccountLockedTime` (ppolicy) refuses the account.
    pub user_disabled_attribute: String,
    pub user_disabled_value: String,
    /// AD: the `userAccountControl` bits that mean disabled (2: ACCOUNTDISABLE).
    pub user_disabled_bit_mask: u32,
    /// The attribute naming a user's groups on the user entry (`memberOf`).
    pub user_member_attribute: String,
    /// Read groups (and, with nesting, parent groups) from
    /// `user_member_attribute`, where the directory maintains it (AD;
    /// OpenLDAP with the memberof overlay).
    pub use_member_of: bool,

    pub group_search_base: String,
    pub group_object_class: String,
    pub group_name_attribute: String,
    /// The group attribute listing members: `member`, `uniqueMember`, `memberUid`.
    pub group_member_mapping_attribute: String,
    /// What `group_member_mapping_attribute` holds of a user: `dn` (the
    /// user's DN; `member`, `uniqueMember`) or an attribute of the user
    /// (`uid` for posixGroup's `memberUid`).
    pub group_member_user_attribute: String,
    /// Extra filter ANDed to group searches.
    pub group_search_filter: String,
    /// Follow group-in-group membership transitively.
    pub nested_group_membership_enabled: bool,
    /// Nested groups: how many levels to follow.
    pub max_nesting_depth: usize,
    /// At most this many groups per user (the rest is dropped with a warning).
    pub max_groups: usize,
}

impl fmt::Debug for LdapConfig {
    // By hand, so the service account's password never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConfig")
            .field("flavor", &self.flavor)
            .field("servers", &self.servers)
            .field("tls", &self.tls)
            .field(
                "certificate",
                &format_args!("<{} bytes>", self.certificate.len()),
            )
            .field("connection_timeout_ms", &self.connection_timeout_ms)
            .field(
                "service_account_distinguished_name",
                &self.service_account_distinguished_name,
            )
            .field("service_account_password", &"<redacted>")
            .field("user_search_base", &self.user_search_base)
            .field("user_login_attribute", &self.user_login_attribute)
            .field("user_object_class", &self.user_object_class)
            .field("group_search_base", &self.group_search_base)
            .field("group_object_class", &self.group_object_class)
            .field(
                "group_member_mapping_attribute",
                &self.group_member_mapping_attribute,
            )
            .field("use_member_of", &self.use_member_of)
            .field(
                "nested_group_membership_enabled",
                &self.nested_group_membership_enabled,
            )
            .finish_non_exhaustive()
    }
}

impl Default for LdapConfig {
    fn default() -> Self {
        Self::openldap()
    }
}

impl LdapConfig {
    /// OpenLDAP defaults: `inetOrgPerson` users by `uid`, `groupOfNames`
    /// groups by `member`.
    pub fn openldap() -> Self {
        LdapConfig {
            flavor: Flavor::OpenLdap,
            servers: Vec::new(),
            tls: TlsMode::None,
            certificate: String::new(),
            connection_timeout_ms: 5000,
            service_account_distinguished_name: String::new(),
            service_account_password: String::new(),
            user_search_base: String::new(),
            user_login_attribute: "uid".into(),
            user_name_attribute: "cn".into(),
            user_object_class: "inetOrgPerson".into(),
            user_search_filter: String::new(),
            user_disabled_attribute: String::new(),
            user_disabled_value: String::new(),
            user_disabled_bit_mask: 0,
            user_member_attribute: "memberOf".into(),
            use_member_of: false,
            group_search_base: String::new(),
            group_object_class: "groupOfNames".into(),
            group_name_attribute: "cn".into(),
            group_member_mapping_attribute: "member".into(),
            group_member_user_attribute: "dn".into(),
            group_search_filter: String::new(),
            nested_group_membership_enabled: true,
            max_nesting_depth: 10,
            max_groups: 1000,
        }
    }

    /// Active Directory defaults: `person` users by `sAMAccountName`,
    /// `group` groups by `member`, `userAccountControl` bit 2 disables,
    /// nested groups in one search with LDAP_MATCHING_RULE_IN_CHAIN.
    pub fn active_directory() -> Self {
        LdapConfig {
            flavor: Flavor::ActiveDirectory,
            user_login_attribute: "sAMAccountName".into(),
            user_name_attribute: "name".into(),
            user_object_class: "person".into(),
            user_disabled_bit_mask: 2,
            use_member_of: true,
            group_object_class: "group".into(),
            group_name_attribute: "name".into(),
            ..Self::openldap()
        }
    }

    /// Parses an `AuthConfig`'s settings: `flavor` (default `openldap`)
    /// picks the defaults, then the given fields override them.
    pub fn from_settings(settings: &serde_json::Value) -> Result<Self, AuthError> {
        let flavor = match settings.get("flavor") {
            None => Flavor::OpenLdap,
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| AuthError::Invalid(format!("ldap settings: flavor: {e}")))?,
        };
        let mut merged = serde_json::to_value(match flavor {
            Flavor::OpenLdap => Self::openldap(),
            Flavor::ActiveDirectory => Self::active_directory(),
        })
        .expect("config serializes");
        let (Some(base), Some(given)) = (merged.as_object_mut(), settings.as_object()) else {
            return Err(AuthError::Invalid("ldap settings: not an object".into()));
        };
        for (k, v) in given {
            if !base.contains_key(k) {
                return Err(AuthError::Invalid(format!(
                    "ldap settings: unknown field {k:?}"
                )));
            }
            base.insert(k.clone(), v.clone());
        }
        let config: LdapConfig = serde_json::from_value(merged)
            .map_err(|e| AuthError::Invalid(format!("ldap settings: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what a provider needs before it can talk to a directory.
    pub fn validate(&self) -> Result<(), AuthError> {
        let invalid = |m: &str| Err(AuthError::Invalid(format!("ldap settings: {m}")));
        if self.servers.is_empty() || self.servers.iter().any(|s| s.trim().is_empty()) {
            return invalid("servers must list at least one host[:port]");
        }
        if self.user_search_base.is_empty() {
            return invalid("userSearchBase is required");
        }
        if self.user_object_class.is_empty() || self.group_object_class.is_empty() {
            return invalid("userObjectClass and groupObjectClass are required");
        }
        if !self.service_account_distinguished_name.is_empty()
            && self.service_account_password.is_empty()
        {
            // A DN with an empty password is an "unauthenticated bind"
            // (RFC 4513 5.1.2): it "succeeds" without proving anything.
            return invalid("serviceAccountPassword is required with a service account DN");
        }
        for (name, attr, required) in [
            ("userLoginAttribute", &self.user_login_attribute, true),
            ("userNameAttribute", &self.user_name_attribute, false),
            ("userMemberAttribute", &self.user_member_attribute, false),
            (
                "userDisabledAttribute",
                &self.user_disabled_attribute,
                false,
            ),
            ("groupNameAttribute", &self.group_name_attribute, false),
            (
                "groupMemberMappingAttribute",
                &self.group_member_mapping_attribute,
                false,
            ),
            (
                "groupMemberUserAttribute",
                &self.group_member_user_attribute,
                false,
            ),
        ] {
            if (required || !attr.is_empty()) && !super::filter::is_attribute_name(attr) {
                return invalid(&format!("{name} {attr:?} is not an attribute name"));
            }
        }
        if self.use_member_of && self.user_member_attribute.is_empty() {
            return invalid("useMemberOf needs userMemberAttribute");
        }
        if self.connection_timeout_ms == 0 {
            return invalid("connectionTimeoutMs must be positive");
        }
        for (name, filter) in [
            ("userSearchFilter", &self.user_search_filter),
            ("groupSearchFilter", &self.group_search_filter),
        ] {
            if !filter.is_empty() && ldap3::parse_filter(super::filter::wrap(filter)).is_err() {
                return invalid(&format!("{name} is not a valid LDAP filter"));
            }
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.connection_timeout_ms)
    }

    /// The base that group searches use (the user search base when unset).
    pub fn group_base(&self) -> &str {
        if self.group_search_base.is_empty() {
            &self.user_search_base
        } else {
            &self.group_search_base
        }
    }
}
