//! Wiring the identity system into a server: the views and the store
//! decorator before the API server exists, the authenticator for its chain,
//! then — once it runs — the CRDs, the `local` AuthConfig, the bootstrap
//! admin, the `/v3` endpoints and the LDAP group refresher. Other providers
//! need no wiring here: they are built from their AuthConfigs on demand
//! (see [`super::providers`]).

use std::sync::Arc;
use std::time::Duration;

use corral_apiserver::ApiServer;
use corral_store::Store;
use serde_json::json;

use super::endpoints::{Endpoints, IdentityExtension};
use super::local::{self, LocalProvider};
use super::lockout::{Lockout, Policy};
use super::refresh;
use super::tokens::{self, TokenAuthenticator, Tokens, Users};
use crate::client::LocalClient;
use crate::crds::{self, AUTHCONFIGS, TOKENS_PREFIX, USERS, USERS_PREFIX};
use crate::view::{self, View, ViewedStore};

/// The bootstrap admin's User name.
pub const ADMIN_USER: &str = "u-admin";
pub const ADMIN_USERNAME: &str = "admin";
/// Binds the bootstrap admin to `cluster-admin`.
pub const ADMIN_BINDING: &str = "corral-admin-user";

pub struct Options {
    /// The bootstrap admin's password; generated (and printed once) when absent.
    pub bootstrap_password: Option<String>,
    /// Per username: failures before a lockout, and its first duration.
    pub max_failures: u32,
    pub lockout: Duration,
    /// Per client address (higher: many users may share one address).
    pub max_failures_per_address: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bootstrap_password: None,
            max_failures: 5,
            lockout: Duration::from_secs(60),
            max_failures_per_address: 50,
        }
    }
}

pub struct IdentityPlane {
    pub tokens: Arc<Tokens>,
    pub users: Arc<Users>,
    pub authenticator: Arc<TokenAuthenticator>,
    store: Arc<dyn Store>,
    last_used_rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<String>>>,
}

impl IdentityPlane {
    /// The plane and the store the API server must write through (so this
    /// replica's own writes reach the views before they are acknowledged).
    pub fn new(store: Arc<dyn Store>) -> (Arc<IdentityPlane>, Arc<dyn Store>) {
        let tokens: Arc<Tokens> = View::new(TOKENS_PREFIX);
        let users: Arc<Users> = View::new(USERS_PREFIX);
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let authenticator = Arc::new(TokenAuthenticator::new(
            tokens.clone(),
            users.clone(),
            Some(store.clone()),
            Some(tx),
        ));
        let wrapped: Arc<dyn Store> = Arc::new(ViewedStore::new(
            store.clone(),
            tokens::sinks(&tokens, &users),
        ));
        (
            Arc::new(IdentityPlane {
                tokens,
                users,
                authenticator,
                store,
                last_used_rx: std::sync::Mutex::new(Some(rx)),
            }),
            wrapped,
        )
    }

    /// Install the types, fill the views, bootstrap the admin and mount the
    /// endpoints. `bearer` authenticates the management plane's in-process
    /// client (a member of `system:masters`).
    pub async fn start(
        &self,
        api: &Arc<ApiServer>,
        bearer: String,
        options: Options,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Arc<Endpoints>, String> {
        let client = Arc::new(LocalClient::new(api, bearer));
        crds::install(&client, api)
            .await
            .map_err(|e| format!("installing the management CRDs: {e}"))?;
        view::follow(self.store.clone(), self.tokens.clone(), shutdown.clone())
            .await
            .map_err(|e| format!("reading tokens: {e}"))?;
        view::follow(self.store.clone(), self.users.clone(), shutdown.clone())
            .await
            .map_err(|e| format!("reading users: {e}"))?;
        if let Some(rx) = self
            .last_used_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            tokens::spawn_last_used_writer(client.clone(), rx);
        }
        let local = Arc::new(
            LocalProvider::new(client.clone(), self.users.clone()).map_err(|e| e.to_string())?,
        );
        ensure_local_authconfig(&client).await?;
        bootstrap_admin(
            &client,
            &local,
            &self.users,
            options.bootstrap_password.clone(),
        )
        .await?;
        let endpoints = Endpoints::new(
            api,
            client,
            local,
            self.authenticator.clone(),
            Lockout::new(Policy {
                max_failures: options.max_failures.max(1),
                lock_for: options.lockout,
                window: Duration::from_secs(15 * 60),
            }),
            Lockout::new(Policy {
                max_failures: options.max_failures_per_address.max(1),
                lock_for: options.lockout,
                window: Duration::from_secs(15 * 60),
            }),
        );
        api.add_extension(Arc::new(IdentityExtension(endpoints.clone())));
        // LDAP groups of live tokens, every provider's groupRefreshIntervalSeconds.
        refresh::spawn(endpoints.clone(), shutdown);
        Ok(endpoints)
    }
}

async fn ensure_local_authconfig(client: &LocalClient) -> Result<(), String> {
    let obj = json!({
        "apiVersion": crds::API_VERSION,
        "kind": "AuthConfig",
        "metadata": {"name": local::PROVIDER},
        "spec": {"type": "localConfig", "enabled": true, "accessMode": "unrestricted"},
    });
    match client.create(AUTHCONFIGS, &obj).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(format!("creating the local AuthConfig: {e}")),
    }
}

fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let bytes: [u8; 24] = rand::random();
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// On the first start (no admin User yet): the password hash first (create
/// if absent: of several replicas starting at once, one wins), then the
/// User and its `cluster-admin` binding. A generated password is printed once,
/// by the replica whose hash was stored; a given one is never printed.
async fn bootstrap_admin(
    client: &LocalClient,
    local: &LocalProvider,
    users: &Users,
    password: Option<String>,
) -> Result<(), String> {
    if users.get(ADMIN_USER).is_some() {
        return Ok(());
    }
    let generated = password.is_none();
    let password = password.unwrap_or_else(generate_password);
    local::check_password_policy(&password).map_err(|e| format!("--bootstrap-password: {e}"))?;
    let phc = local.hash(&password).await.map_err(|e| e.to_string())?;
    let stored = local
        .store_hash(ADMIN_USER, &phc, true)
        .await
        .map_err(|e| format!("storing the admin password: {e}"))?;
    let user = json!({
        "apiVersion": crds::API_VERSION,
        "kind": "User",
        "metadata": {"name": ADMIN_USER},
        "spec": {
            "username": ADMIN_USERNAME,
            "displayName": "Default Admin",
            "principalIds": [local::principal_id(ADMIN_USER)],
            "enabled": true,
            "mustChangePassword": generated,
        },
    });
    match client.create(USERS, &user).await {
        Ok(_) => {}
        Err(e) if e.is_conflict() => {}
        Err(e) => return Err(format!("creating the admin user: {e}")),
    }
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": ADMIN_BINDING},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ADMIN_USER}],
    });
    match client
        .create(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            &binding,
        )
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_conflict() => {}
        Err(e) => return Err(format!("binding the admin user: {e}")),
    }
    if stored && generated {
        eprintln!(
            "\nCorral bootstrap admin created. Username: {ADMIN_USERNAME}  Password: {password}\n\
             (shown only this once; it must be changed: POST /v3/users?action=changepassword)\n"
        );
    }
    tracing::info!(generated, "bootstrap admin user created");
    Ok(())
}
