//! Core controllers of a Corral cluster. Each is an ordinary kube-rs client of
//! the API (watch, then create or patch), exactly as an outside program would
//! be: none of them touches the store. Start them all with [`run`].
//!
//! - [`serviceaccounts`]: every namespace has the `default` ServiceAccount and
//!   the `kube-root-ca.crt` ConfigMap.
//! - [`tokens`]: `kubernetes.io/service-account-token` Secrets get a token,
//!   the CA and the namespace.
//! - [`aggregation`]: ClusterRoles with an `aggregationRule` hold the rules of
//!   the ClusterRoles their selectors match.
//! - [`crd_cleanup`]: a deleted CustomResourceDefinition's objects are
//!   deleted before the CRD goes.
//! - [`gc`]: the garbage collector — dependents of deleted owners are
//!   deleted (background, foreground) or orphaned, per ownerReferences.
//! - [`namespace`]: terminating namespaces are emptied, their status says what
//!   remains, and they are finalized.
//! - [`quota`]: ResourceQuotas' `status.hard` and `status.used`.

use std::sync::Arc;
use std::time::Duration;

use corral_apiserver::authn::serviceaccount::ServiceAccountKeys;

pub mod aggregation;
pub mod crd_cleanup;
pub mod discovery;
pub mod gc;
pub mod leader;
pub mod namespace;
pub mod quota;
pub mod serviceaccounts;
pub mod tokens;

/// What the controllers need besides an API client.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    /// PEM of the CA that signs the API server's serving certificate.
    pub root_ca_pem: String,
    pub sa_keys: Arc<ServiceAccountKeys>,
    /// Deletions of every collectable object, as the garbage collector's
    /// metadata watches see them. Controllers that only need to hear of
    /// deletions (the quota controller) listen here instead of holding
    /// watches of their own, as upstream's share one informer per resource.
    pub(crate) deletions: tokio::sync::broadcast::Sender<Deleted>,
}

/// One deleted object, as published on [`Context`]'s deletions channel.
#[derive(Clone, Debug)]
pub(crate) struct Deleted {
    pub namespace: Option<Arc<str>>,
}

/// Deletions buffered per listener before it lags (and then recounts everything).
const DELETIONS_BUFFER: usize = 4096;

impl Context {
    pub fn new(
        client: kube::Client,
        root_ca_pem: String,
        sa_keys: Arc<ServiceAccountKeys>,
    ) -> Context {
        Context {
            client,
            root_ca_pem,
            sa_keys,
            deletions: tokio::sync::broadcast::channel(DELETIONS_BUFFER).0,
        }
    }
}

/// Run the controllers on whichever replica holds the leader lease, until `shutdown` fires.
pub async fn run_elected(
    ctx: Context,
    identity: &str,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let client = ctx.client.clone();
    leader::run_while_leader(
        client,
        leader::ElectionConfig::new(identity),
        shutdown,
        move |stop| run(ctx.clone(), stop),
    )
    .await
}

/// Run every controller until `shutdown` fires. A controller whose watch
/// fails is restarted with backoff; none of them ends the others.
pub async fn run(ctx: Context, shutdown: tokio::sync::watch::Receiver<bool>) {
    let tasks = vec![
        tokio::spawn(supervise(
            "serviceaccounts",
            ctx.clone(),
            shutdown.clone(),
            |c| Box::pin(serviceaccounts::run(c)),
        )),
        tokio::spawn(supervise("tokens", ctx.clone(), shutdown.clone(), |c| {
            Box::pin(tokens::run(c))
        })),
        tokio::spawn(supervise(
            "aggregation",
            ctx.clone(),
            shutdown.clone(),
            |c| Box::pin(aggregation::run(c)),
        )),
        tokio::spawn(supervise(
            "garbagecollector",
            ctx.clone(),
            shutdown.clone(),
            |c| Box::pin(gc::run(c)),
        )),
        tokio::spawn(supervise("namespace", ctx.clone(), shutdown.clone(), |c| {
            Box::pin(namespace::run(c))
        })),
        tokio::spawn(supervise(
            "resourcequota",
            ctx.clone(),
            shutdown.clone(),
            |c| Box::pin(quota::run(c)),
        )),
        tokio::spawn(supervise(
            "crd-cleanup",
            ctx.clone(),
            shutdown.clone(),
            |c| Box::pin(crd_cleanup::run(c)),
        )),
    ];
    for t in tasks {
        let _ = t.await;
    }
}

type BoxFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), kube::Error>> + Send>>;

async fn supervise(
    name: &'static str,
    ctx: Context,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    body: fn(Context) -> BoxFuture,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        tokio::select! {
            result = body(ctx.clone()) => match result {
                Ok(()) => delay = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(controller = name, error = %e, "controller failed; restarting");
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            },
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Creating something that appeared meanwhile is success for a controller.
pub(crate) fn ignore_conflict<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
        // A namespace that started terminating refuses new content (403): nothing to do.
        Err(kube::Error::Api(e)) if e.code == 403 => Ok(()),
        Err(e) => Err(e),
    }
}
