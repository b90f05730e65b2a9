//! Leader election over a `coordination.k8s.io/v1` Lease, so that with several
//! replicas exactly one runs the controllers. The holder renews the lease
//! every few seconds; if it stops (crash, partition), another replica takes
//! over once the lease has expired. Every change is a compare-and-swap on the
//! Lease's resourceVersion, so two replicas never both believe they lead.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};

pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "corral-controllers";

#[derive(Clone, Debug)]
pub struct ElectionConfig {
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_interval: Duration,
    pub retry_interval: Duration,
}

impl ElectionConfig {
    pub fn new(identity: &str) -> ElectionConfig {
        ElectionConfig {
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(10),
            renew_interval: Duration::from_secs(2),
            retry_interval: Duration::from_secs(2),
        }
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn expired(spec: &LeaseSpec, default_duration: Duration) -> bool {
    let duration = spec
        .lease_duration_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(default_duration);
    match &spec.renew_time {
        None => true,
        Some(MicroTime(t)) => {
            let deadline = t.as_millisecond() + duration.as_millis() as i64;
            Timestamp::now().as_millisecond() > deadline
        }
    }
}

/// Try once to become (or stay) the holder. `Ok(true)` when we hold the lease now.
pub async fn try_acquire_or_renew(
    api: &Api<Lease>,
    cfg: &ElectionConfig,
) -> Result<bool, kube::Error> {
    let spec_for_us = |transitions: i32, acquire: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(cfg.lease_duration.as_secs() as i32),
        acquire_time: acquire.or_else(|| Some(now())),
        renew_time: Some(now()),
        lease_transitions: Some(transitions),
        ..Default::default()
    };
    match api.get_opt(LEASE_NAME).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.into()),
                    ..Default::default()
                },
                spec: Some(spec_for_us(0, None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.clone().unwrap_or_default();
            let ours = spec.holder_identity.as_deref() == Some(cfg.identity.as_str());
            if !ours && !expired(&spec, cfg.lease_duration) {
                return Ok(false);
            }
            let transitions = spec.lease_transitions.unwrap_or(0) + if ours { 0 } else { 1 };
            let acquire = if ours {
                spec.acquire_time.clone()
            } else {
                None
            };
            lease.spec = Some(spec_for_us(transitions, acquire));
            // The resourceVersion we read makes this a compare-and-swap.
            match api
                .replace(LEASE_NAME, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Run `work` while this replica leads; stop it as soon as leadership is lost.
/// Returns when `shutdown` fires.
pub async fn run_while_leader<F, Fut>(
    client: kube::Client,
    cfg: ElectionConfig,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    work: F,
) where
    F: Fn(tokio::sync::watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let api: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
    loop {
        // Follower: retry until we acquire.
        loop {
            match try_acquire_or_renew(&api, &cfg).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "leader election: acquire failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(cfg.retry_interval) => {}
                _ = shutdown.changed() => return,
            }
        }
        tracing::info!(identity = %cfg.identity, "became leader; starting controllers");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(work(stop_rx));
        // Leader: renew until we cannot, with the lease's own duration as the bound.
        let mut last_renewed = tokio::time::Instant::now();
        let lost = loop {
            tokio::select! {
                _ = tokio::time::sleep(cfg.renew_interval) => {}
                _ = shutdown.changed() => break false,
            }
            match try_acquire_or_renew(&api, &cfg).await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => break true,
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: renew failed");
                    // Stop before the lease could have passed to someone else.
                    if last_renewed.elapsed() + cfg.renew_interval >= cfg.lease_duration {
                        break true;
                    }
                }
            }
        };
        let _ = stop_tx.send(true);
        let _ = task.await;
        if !lost {
            return;
        }
        tracing::warn!(identity = %cfg.identity, "lost leadership; controllers stopped");
    }
}
