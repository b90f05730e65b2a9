//! The LDAP and Active Directory auth provider: [`LdapProvider`], a
//! [`PasswordProvider`] configured by an [`LdapConfig`].
//!
//! A login goes: connect (servers in order; plain, LDAPS or StartTLS, all
//! bounded by the connection timeout) → bind as the service account →
//! find the user by login attribute (input escaped per RFC 4515) → refuse
//! an empty password before any bind (an empty password is an
//! "unauthenticated bind" that many servers accept) → bind as the user's DN
//! with the password → check the account is enabled → bind as the service
//! account again → collect groups: groups whose member attribute names the
//! user, `memberOf` where enabled, and parents of those groups transitively
//! (depth- and size-capped; Active Directory in one search with
//! LDAP_MATCHING_RULE_IN_CHAIN).
//!
//! Principals are `openldap_user://<dn>`, `openldap_group://<dn>` (or
//! `activedirectory_user://…`, `activedirectory_group://…`).
//!
//! Passwords (the user's and the service account's) are never logged nor
//! part of an error message.

pub mod config;
pub mod filter;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions};
use tracing::{debug, warn};

pub use config::{Flavor, LdapConfig, TlsMode};

use super::{AuthError, Identity, PasswordProvider, Principal, PrincipalKind};

/// LDAP result codes this provider tells apart.
const RC_SUCCESS: u32 = 0;
const RC_SIZE_LIMIT: u32 = 4;
const RC_NO_SUCH_OBJECT: u32 = 32;
const RC_INVALID_CREDENTIALS: u32 = 49;
/// How many group DNs one nested-group search asks about.
const NESTED_BATCH: usize = 50;
/// ppolicy's lock marker on OpenLDAP.
const PWD_ACCOUNT_LOCKED_TIME: &str = "pwdAccountLockedTime";
const USER_ACCOUNT_CONTROL: &str = "userAccountControl";

/// An LDAP / Active Directory [`PasswordProvider`].
pub struct LdapProvider {
    config: LdapConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for LdapProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A group found while collecting a user's groups.
struct Group {
    dn: String,
    name: String,
    member_of: Vec<String>,
}

impl LdapProvider {
    /// A provider for `config` (validated; the CA PEM parsed now, so a bad
    /// certificate is a configuration error rather than a failed login).
    pub fn new(config: LdapConfig) -> Result<Self, AuthError> {
        config.validate()?;
        let tls = match config.tls {
            TlsMode::None => None,
            TlsMode::Ldaps | TlsMode::StartTls => Some(tls_config(&config.certificate)?),
        };
        Ok(LdapProvider { config, tls })
    }

    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    fn provider(&self) -> &'static str {
        self.config.flavor.provider_name()
    }

    /// The principal ID of the user with `dn`.
    pub fn user_id(&self, dn: &str) -> String {
        format!("{}_user://{dn}", self.provider())
    }

    /// The principal ID of the group with `dn`.
    pub fn group_id(&self, dn: &str) -> String {
        format!("{}_group://{dn}", self.provider())
    }

    fn url(&self, server: &str) -> String {
        let (scheme, port) = match self.config.tls {
            TlsMode::Ldaps => ("ldaps", 636),
            TlsMode::None | TlsMode::StartTls => ("ldap", 389),
        };
        let server = server.trim();
        let has_port = match server.rfind(']') {
            Some(i) => server[i..].contains(':'),
            None => server.contains(':'),
        };
        if has_port {
            format!("{scheme}://{server}")
        } else {
            format!("{scheme}://{server}:{port}")
        }
    }

    async fn connect_one(&self, server: &str) -> Result<Ldap, LdapError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout())
            .set_starttls(self.config.tls == TlsMode::StartTls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.url(server)).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                debug!("ldap connection ended: {e}");
            }
        });
        Ok(ldap)
    }

    /// A connection bound as the service account: the first server (in
    /// order) that answers.
    async fn connect(&self) -> Result<Ldap, AuthError> {
        let mut last = String::from("no servers");
        for server in &self.config.servers {
            match self.connect_one(server).await {
                Ok(mut ldap) => match self.bind_service(&mut ldap).await {
                    Ok(()) => return Ok(ldap),
                    Err(e) => {
                        warn!(server = %server, "ldap: {e}");
                        last = format!("{server}: {e}");
                    }
                },
                Err(e) => {
                    warn!(server = %server, "ldap: cannot connect: {e}");
                    last = format!("{server}: {e}");
                }
            }
        }
        Err(AuthError::Unavailable(format!(
            "no LDAP server answered ({last})"
        )))
    }

    async fn bind_service(&self, ldap: &mut Ldap) -> Result<(), AuthError> {
        let dn = &self.config.service_account_distinguished_name;
        if dn.is_empty() {
            return Ok(()); // anonymous searches
        }
        let result = ldap
            .with_timeout(self.config.timeout())
            .simple_bind(dn, &self.config.service_account_password)
            .await
            .map_err(|e| unavailable("service account bind", e))?;
        match result.rc {
            RC_SUCCESS => Ok(()),
            RC_INVALID_CREDENTIALS => Err(AuthError::Unavailable(
                "the directory rejected the service account's credentials".into(),
            )),
            _ => Err(AuthError::Unavailable(format!(
                "service account bind: {result}"
            ))),
        }
    }

    /// Attributes read from user entries.
    fn user_attributes(&self) -> Vec<String> {
        let c = &self.config;
        let mut attrs = vec![
            c.user_login_attribute.clone(),
            c.user_name_attribute.clone(),
        ];
        if c.use_member_of {
            attrs.push(c.user_member_attribute.clone());
        }
        if !c.user_disabled_attribute.is_empty() {
            attrs.push(c.user_disabled_attribute.clone());
        }
        if c.user_disabled_bit_mask != 0 {
            attrs.push(USER_ACCOUNT_CONTROL.into());
        }
        if c.flavor == Flavor::OpenLdap {
            attrs.push(PWD_ACCOUNT_LOCKED_TIME.into());
        }
        if !c.group_member_user_attribute.eq_ignore_ascii_case("dn") {
            attrs.push(c.group_member_user_attribute.clone());
        }
        attrs.retain(|a| !a.is_empty());
        attrs
    }

    /// Runs a search; `Ok(None)` when the base does not exist.
    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[String],
        size_limit: usize,
    ) -> Result<Option<(Vec<SearchEntry>, u32)>, AuthError> {
        let result = ldap
            .with_search_options(
                SearchOptions::new().sizelimit(size_limit.min(i32::MAX as usize) as i32),
            )
            .with_timeout(self.config.timeout())
            .search(base, scope, filter, attrs)
            .await
            .map_err(|e| unavailable("search", e))?;
        let ldap3::SearchResult(entries, res) = result;
        match res.rc {
            RC_SUCCESS | RC_SIZE_LIMIT => {}
            RC_NO_SUCH_OBJECT => return Ok(None),
            _ => {
                return Err(AuthError::Unavailable(format!(
                    "search under {base:?}: {res}"
                )));
            }
        }
        let entries = entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct)
            .collect();
        Ok(Some((entries, res.rc)))
    }

    async fn find_user(&self, ldap: &mut Ldap, username: &str) -> Result<SearchEntry, AuthError> {
        let filter = filter::user_filter(&self.config, username);
        let found = self
            .search(
                ldap,
                &self.config.user_search_base,
                Scope::Subtree,
                &filter,
                &self.user_attributes(),
                2,
            )
            .await?;
        let Some((mut entries, rc)) = found else {
            return Err(AuthError::Unavailable(format!(
                "user search base {:?} does not exist",
                self.config.user_search_base
            )));
        };
        if entries.len() > 1 || rc == RC_SIZE_LIMIT {
            warn!("ldap: more than one entry matches login name; refusing the login");
            return Err(AuthError::InvalidCredentials);
        }
        entries.pop().ok_or(AuthError::UnknownUser)
    }

    fn check_enabled(&self, entry: &SearchEntry) -> Result<(), AuthError> {
        let c = &self.config;
        if c.user_disabled_bit_mask != 0 {
            let uac = first(entry, USER_ACCOUNT_CONTROL).and_then(|v| v.trim().parse::<i64>().ok());
            if let Some(uac) = uac
                && (uac as u32) & c.user_disabled_bit_mask != 0
            {
                return Err(AuthError::Disabled);
            }
        }
        if !c.user_disabled_attribute.is_empty()
            && values(entry, &c.user_disabled_attribute)
                .iter()
                .any(|v| v.eq_ignore_ascii_case(&c.user_disabled_value))
        {
            return Err(AuthError::Disabled);
        }
        if c.flavor == Flavor::OpenLdap && !values(entry, PWD_ACCOUNT_LOCKED_TIME).is_empty() {
            return Err(AuthError::Disabled);
        }
        Ok(())
    }

    fn user_principal(&self, entry: &SearchEntry, username: &str) -> Principal {
        let login = first(entry, &self.config.user_login_attribute)
            .unwrap_or(username)
            .to_string();
        let display = first(entry, &self.config.user_name_attribute)
            .unwrap_or(&login)
            .to_string();
        Principal {
            id: self.user_id(&entry.dn),
            kind: PrincipalKind::User,
            provider: self.provider().into(),
            login_name: login,
            display_name: display,
        }
    }

    fn group_attributes(&self) -> Vec<String> {
        let mut attrs = vec![self.config.group_name_attribute.clone()];
        if self.config.use_member_of {
            attrs.push(self.config.user_member_attribute.clone());
        }
        attrs.retain(|a| !a.is_empty());
        attrs
    }

    fn to_group(&self, entry: SearchEntry) -> Group {
        let name = first(&entry, &self.config.group_name_attribute)
            .map(str::to_string)
            .unwrap_or_else(|| first_rdn_value(&entry.dn));
        let member_of = if self.config.use_member_of {
            values(&entry, &self.config.user_member_attribute).to_vec()
        } else {
            Vec::new()
        };
        Group {
            dn: entry.dn,
            name,
            member_of,
        }
    }

    /// Groups whose member attribute holds one of `members`.
    async fn groups_with_members(
        &self,
        ldap: &mut Ldap,
        members: &[&str],
    ) -> Result<Vec<Group>, AuthError> {
        let filter = filter::groups_with_members(&self.config, members);
        let found = self
            .search(
                ldap,
                self.config.group_base(),
                Scope::Subtree,
                &filter,
                &self.group_attributes(),
                self.config.max_groups + 1,
            )
            .await?;
        Ok(found
            .map(|(entries, _)| entries.into_iter().map(|e| self.to_group(e)).collect())
            .unwrap_or_default())
    }

    /// The group at `dn`, if it is one (and under the group search base).
    async fn read_group(&self, ldap: &mut Ldap, dn: &str) -> Result<Option<Group>, AuthError> {
        if !under(dn, self.config.group_base()) {
            return Ok(None);
        }
        let found = self
            .search(
                ldap,
                dn,
                Scope::Base,
                &filter::is_group(&self.config),
                &self.group_attributes(),
                1,
            )
            .await?;
        Ok(found
            .and_then(|(entries, _)| entries.into_iter().next())
            .map(|e| self.to_group(e)))
    }

    /// The user's groups, nested ones included when enabled.
    async fn collect_groups(
        &self,
        ldap: &mut Ldap,
        user: &SearchEntry,
    ) -> Result<Vec<Principal>, AuthError> {
        let c = &self.config;
        let by_dn = c.group_member_user_attribute.eq_ignore_ascii_case("dn");
        let member_search = !c.group_member_mapping_attribute.is_empty();
        let mut seen = HashSet::new();
        let mut groups = Vec::new();

        if c.flavor == Flavor::ActiveDirectory
            && c.nested_group_membership_enabled
            && member_search
            && by_dn
        {
            let filter = filter::groups_in_chain(c, &user.dn);
            let found = self
                .search(
                    ldap,
                    c.group_base(),
                    Scope::Subtree,
                    &filter,
                    &self.group_attributes(),
                    c.max_groups + 1,
                )
                .await?;
            for g in found.map(|(e, _)| e).unwrap_or_default() {
                let g = self.to_group(g);
                if seen.insert(g.dn.to_ascii_lowercase()) {
                    groups.push(g);
                }
            }
            return Ok(self.group_principals(groups));
        }

        // Direct groups.
        let mut level = Vec::new();
        if member_search {
            let value = if by_dn {
                Some(user.dn.as_str())
            } else {
                first(user, &c.group_member_user_attribute)
            };
            if let Some(value) = value {
                level.extend(self.groups_with_members(ldap, &[value]).await?);
            }
        }
        if c.use_member_of {
            for dn in values(user, &c.user_member_attribute) {
                if !level.iter().any(|g| g.dn.eq_ignore_ascii_case(dn))
                    && let Some(g) = self.read_group(ldap, dn).await?
                {
                    level.push(g);
                }
            }
        }
        let mut frontier = self.admit(level, &mut seen, &mut groups);

        // Parents of groups, level by level.
        let mut depth = 0;
        while c.nested_group_membership_enabled
            && !frontier.is_empty()
            && depth < c.max_nesting_depth
            && groups.len() < c.max_groups
        {
            depth += 1;
            let mut level = Vec::new();
            if member_search && by_dn {
                let dns: Vec<&str> = frontier.iter().map(|g| g.dn.as_str()).collect();
                for chunk in dns.chunks(NESTED_BATCH) {
                    level.extend(self.groups_with_members(ldap, chunk).await?);
                }
            }
            if c.use_member_of {
                for dn in frontier.iter().flat_map(|g| g.member_of.iter()) {
                    if !seen.contains(&dn.to_ascii_lowercase())
                        && !level.iter().any(|g| g.dn.eq_ignore_ascii_case(dn))
                        && let Some(g) = self.read_group(ldap, dn).await?
                    {
                        level.push(g);
                    }
                }
            }
            frontier = self.admit(level, &mut seen, &mut groups);
        }
        if c.nested_group_membership_enabled && !frontier.is_empty() && depth >= c.max_nesting_depth
        {
            warn!(user = %user.dn, "ldap: nested groups deeper than {} levels ignored", c.max_nesting_depth);
        }
        Ok(self.group_principals(groups))
    }

    /// Adds the groups not seen yet (up to the cap); returns a copy of the
    /// new ones, the next level's frontier.
    fn admit(
        &self,
        level: Vec<Group>,
        seen: &mut HashSet<String>,
        groups: &mut Vec<Group>,
    ) -> Vec<Group> {
        let mut new = Vec::new();
        for g in level {
            if groups.len() >= self.config.max_groups {
                warn!(
                    "ldap: more than {} groups; the rest are ignored",
                    self.config.max_groups
                );
                break;
            }
            if seen.insert(g.dn.to_ascii_lowercase()) {
                new.push(Group {
                    dn: g.dn.clone(),
                    name: g.name.clone(),
                    member_of: g.member_of.clone(),
                });
                groups.push(g);
            }
        }
        new
    }

    fn group_principals(&self, groups: Vec<Group>) -> Vec<Principal> {
        let mut principals: Vec<Principal> = groups
            .into_iter()
            .take(self.config.max_groups)
            .map(|g| Principal {
                id: self.group_id(&g.dn),
                kind: PrincipalKind::Group,
                provider: self.provider().into(),
                login_name: g.name.clone(),
                display_name: g.name,
            })
            .collect();
        principals.sort_by(|a, b| a.id.cmp(&b.id));
        principals
    }

    async fn authenticate_on(
        &self,
        ldap: &mut Ldap,
        username: &str,
        password: &str,
    ) -> Result<Identity, AuthError> {
        let entry = self.find_user(ldap, username).await?;
        let result = ldap
            .with_timeout(self.config.timeout())
            .simple_bind(&entry.dn, password)
            .await
            .map_err(|e| unavailable("user bind", e))?;
        match result.rc {
            RC_SUCCESS => {}
            // invalidCredentials; inappropriateAuthentication (48),
            // unwillingToPerform (53: e.g. a locked account) refuse too.
            RC_INVALID_CREDENTIALS | 48 | 53 => return Err(AuthError::InvalidCredentials),
            _ => {
                return Err(AuthError::Unavailable(format!(
                    "user bind: rc={}",
                    result.rc
                )));
            }
        }
        self.check_enabled(&entry)?;
        self.bind_service(ldap).await?;
        let groups = self.collect_groups(ldap, &entry).await?;
        Ok(Identity {
            user: self.user_principal(&entry, username),
            groups,
        })
    }

    async fn refresh_on(&self, ldap: &mut Ldap, dn: &str) -> Result<Vec<Principal>, AuthError> {
        let filter = format!(
            "(&(objectClass={}){})",
            filter::escape(&self.config.user_object_class),
            if self.config.user_search_filter.trim().is_empty() {
                String::new()
            } else {
                filter::wrap(&self.config.user_search_filter)
            }
        );
        let found = self
            .search(ldap, dn, Scope::Base, &filter, &self.user_attributes(), 1)
            .await?;
        let entry = found
            .and_then(|(entries, _)| entries.into_iter().next())
            .ok_or(AuthError::UnknownUser)?;
        self.check_enabled(&entry)?;
        self.collect_groups(ldap, &entry).await
    }
}

#[async_trait]
impl PasswordProvider for LdapProvider {
    fn name(&self) -> &str {
        self.provider()
    }

    async fn authenticate(&self, username: &str, password: &str) -> Result<Identity, AuthError> {
        // Before any network traffic: an empty password would make the user
        // bind an "unauthenticated bind" (RFC 4513 5.1.2), which servers may
        // accept as anonymous — a login without a password.
        if password.is_empty() {
            return Err(AuthError::InvalidCredentials);
        }
        if username.is_empty() || username.contains('\0') {
            return Err(AuthError::UnknownUser);
        }
        let mut ldap = self.connect().await?;
        let result = self.authenticate_on(&mut ldap, username, password).await;
        let _ = ldap.unbind().await;
        match &result {
            Ok(identity) => {
                debug!(user = %identity.user.id, groups = identity.groups.len(), "ldap login")
            }
            Err(e) => debug!("ldap login refused: {e}"),
        }
        result
    }

    async fn refresh_groups(&self, user: &Principal) -> Result<Vec<Principal>, AuthError> {
        let prefix = format!("{}_user://", self.provider());
        let dn = match user.id.strip_prefix(&prefix) {
            Some(dn) if user.kind == PrincipalKind::User && !dn.is_empty() => dn,
            _ => {
                return Err(AuthError::Invalid(format!(
                    "{} is not a {} user",
                    user.id,
                    self.provider()
                )));
            }
        };
        let mut ldap = self.connect().await?;
        let result = self.refresh_on(&mut ldap, dn).await;
        let _ = ldap.unbind().await;
        result
    }
}

/// A rustls client configuration trusting `ca_pem` (or, when empty, the
/// system's trust store), with the ring provider explicitly.
fn tls_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, AuthError> {
    let invalid = |m: String| AuthError::Invalid(format!("ldap settings: certificate: {m}"));
    let mut roots = rustls::RootCertStore::empty();
    if ca_pem.trim().is_empty() {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
    } else {
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| invalid(e.to_string()))?;
            roots.add(cert).map_err(|e| invalid(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(invalid("no PEM certificate found".into()));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connection-level failures (refused, timed out, TLS) are the directory's
/// problem, not the user's.
fn unavailable(what: &str, e: LdapError) -> AuthError {
    AuthError::Unavailable(format!("{what}: {e}"))
}

/// An attribute's values, by case-insensitive name.
fn values<'a>(entry: &'a SearchEntry, attr: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

fn first<'a>(entry: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    values(entry, attr).first().map(String::as_str)
}

/// Whether `dn` is `base` or below it (compared case-insensitively, with
/// spaces after separators ignored: an approximation of DN matching that is
/// enough to keep `memberOf` values within the group search base).
fn under(dn: &str, base: &str) -> bool {
    let norm = |s: &str| {
        s.split(',')
            .map(|rdn| rdn.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let (dn, base) = (norm(dn), norm(base));
    base.is_empty() || (dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..])
}

/// `cn=devs,ou=groups,…` → `devs` (for groups without a name attribute).
fn first_rdn_value(dn: &str) -> String {
    let rdn = dn.split(',').next().unwrap_or(dn);
    rdn.split_once('=')
        .map(|(_, v)| v.trim())
        .unwrap_or(rdn)
        .to_string()
}

#[cfg(test)]
mod tests;
