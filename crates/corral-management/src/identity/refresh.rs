//! Periodic group refresh for directory providers (LDAP, Active Directory).
//!
//! Groups are always read afresh at login. A Token then carries its
//! `groupPrincipals` (RBAC and the cluster proxy's `Impersonate-Group` come
//! from them), so a membership change in the directory would otherwise only
//! show at the next login. This task re-reads the groups of every user who
//! holds an unexpired token of an enabled LDAP-type AuthConfig, every
//! `settings.groupRefreshIntervalSeconds` (default one hour, `0` disables),
//! and rewrites the tokens whose groups changed. When the directory says the
//! user is gone or disabled, their tokens of that provider are deleted.
//! A directory that cannot be reached changes nothing (tried again at the
//! next interval).
//!
//! OIDC and GitHub have no directory to ask later: their groups are
//! refreshed at each login only.
//!
//! Every replica runs this task; the writes are idempotent merge patches,
//! so concurrent refreshes converge.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;

use super::endpoints::Endpoints;
use super::providers::{Built, Kind, enabled, kind_of, refresh_interval};
use super::{AuthError, Principal, PrincipalKind};
use crate::crds::TOKENS;

/// The longest sleep between looks at the AuthConfigs (a login with a
/// directory provider wakes the task earlier).
pub const MAX_TICK: Duration = Duration::from_secs(60);
const MIN_TICK: Duration = Duration::from_secs(1);

/// What one refresh pass did (for tests and logs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub users: usize,
    pub updated_tokens: usize,
    pub deleted_tokens: usize,
    pub failures: usize,
}

/// Spawn the refresher; it ends when `shutdown` turns true.
pub fn spawn(endpoints: Arc<Endpoints>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut last: HashMap<String, Instant> = HashMap::new();
        loop {
            let tick = match endpoints.refresh_due(&mut last).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "group refresh: cannot read AuthConfigs");
                    MAX_TICK
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                // A directory login: its AuthConfig may be new to this task.
                _ = endpoints.refresh_wake.notified() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    });
}

impl Endpoints {
    /// Refresh every provider whose interval has passed; how long to sleep.
    async fn refresh_due(
        &self,
        last: &mut HashMap<String, Instant>,
    ) -> Result<Duration, AuthError> {
        let mut tick = MAX_TICK;
        for config in self.configured.configs().await? {
            let name = config["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if !enabled(&config)
                || !matches!(
                    kind_of(&name, &config),
                    Some(Kind::OpenLdap | Kind::ActiveDirectory)
                )
            {
                continue;
            }
            let Some(interval) = refresh_interval(&config) else {
                continue;
            };
            tick = tick.min(interval.max(MIN_TICK));
            let first = *last.entry(name.clone()).or_insert_with(Instant::now);
            if first.elapsed() < interval {
                continue;
            }
            last.insert(name.clone(), Instant::now());
            match self.refresh_provider(&name, &config).await {
                Ok(pass) if pass != Pass::default() => {
                    tracing::info!(provider = %name, ?pass, "group refresh")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(provider = %name, error = %e, "group refresh failed"),
            }
        }
        Ok(tick)
    }

    /// One refresh pass over the tokens of AuthConfig `name`.
    pub async fn refresh_provider(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<Pass, AuthError> {
        let Built::Password(provider) = self.configured.build(name, config).await? else {
            return Err(AuthError::Invalid(format!(
                "{name} is not a directory provider"
            )));
        };
        let now = OffsetDateTime::now_utc();
        let mut by_user: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for t in self.auth.tokens.find(|t| {
            t.provider == name
                && !t.user_principal.is_empty()
                && t.expires_at.is_none_or(|at| at > now)
        }) {
            by_user.entry(t.user_principal.clone()).or_default().push(t);
        }
        let mut pass = Pass {
            users: by_user.len(),
            ..Pass::default()
        };
        for (principal, tokens) in by_user {
            let user = Principal {
                id: principal.clone(),
                kind: PrincipalKind::User,
                provider: provider.name().to_string(),
                login_name: String::new(),
                display_name: String::new(),
            };
            match provider.refresh_groups(&user).await {
                Ok(groups) => {
                    let ids: Vec<String> = groups.into_iter().map(|g| g.id).collect();
                    for t in tokens.iter().filter(|t| t.groups != ids) {
                        let patch = json!({"spec": {"groupPrincipals": ids}});
                        match self
                            .client
                            .merge_patch(&format!("{TOKENS}/{}", t.name), &patch)
                            .await
                        {
                            Ok(_) => pass.updated_tokens += 1,
                            Err(e) if e.is_not_found() => {}
                            Err(e) => {
                                pass.failures += 1;
                                tracing::warn!(token = %t.name, error = %e, "group refresh: token not updated");
                            }
                        }
                    }
                }
                Err(AuthError::Unavailable(e)) => return Err(AuthError::Unavailable(e)),
                Err(e @ (AuthError::Invalid(_) | AuthError::LockedOut)) => {
                    pass.failures += 1;
                    tracing::warn!(user = %principal, error = %e, "group refresh: user not refreshed");
                }
                Err(e) => {
                    tracing::info!(user = %principal, reason = %e, "group refresh: user gone or disabled; revoking their tokens");
                    for t in &tokens {
                        match self.client.delete(&format!("{TOKENS}/{}", t.name)).await {
                            Ok(_) => pass.deleted_tokens += 1,
                            Err(e) if e.is_not_found() => {}
                            Err(_) => pass.failures += 1,
                        }
                    }
                }
            }
        }
        Ok(pass)
    }
}
