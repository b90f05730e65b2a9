//! Keeps the store's connection on the raft leader. The channel talks to
//! one member at a time, and a write sent to a follower is forwarded to the
//! leader: one more network hop, and CPU on both members. The store starts
//! on the leader and checks that it still is one now and then, and at once
//! when a response shows a new raft term (an election happened).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::{Client, MaintenanceClient};
use tokio::sync::{Notify, watch};

use super::EtcdOptions;
use super::channel::DirectChannel;

/// The endpoints, the current leader's first. Members that do not answer
/// within the dial timeout keep their place.
pub(super) async fn leader_first(options: &EtcdOptions) -> Vec<String> {
    let mut ordered = options.endpoints.clone();
    if let Some(leader) = find_leader(options).await {
        let endpoint = ordered.remove(leader);
        ordered.insert(0, endpoint);
    }
    ordered
}

/// The index of the endpoint whose member says it leads, asking every
/// member on a connection of its own; `None` with fewer than two
/// endpoints, during an election, or if none answers in time.
async fn find_leader(options: &EtcdOptions) -> Option<usize> {
    if options.endpoints.len() < 2 {
        return None;
    }
    let probes = options
        .endpoints
        .iter()
        .enumerate()
        .map(|(index, endpoint)| async move {
            let channel = DirectChannel::new(
                std::slice::from_ref(endpoint),
                options.tls.as_ref(),
                options.dial_timeout,
            )
            .ok()?;
            let status = tokio::time::timeout(options.dial_timeout, async {
                let mut client = Client::from_channel(channel.into_etcd_channel(), None).await?;
                client.status().await
            })
            .await
            .ok()?
            .ok()?;
            (status.header()?.member_id() == status.leader()).then_some(index)
        });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .next()
}

/// The newest raft term the store's responses carried. Every etcd
/// response header names the term; a newer one means there was an
/// election, so the leader may have moved.
#[derive(Default)]
pub(super) struct Terms {
    newest: AtomicU64,
    elected: Notify,
}

impl Terms {
    /// Called with every response's term: one atomic load unless it is new.
    pub(super) fn saw(&self, term: u64) {
        if term <= self.newest.load(Ordering::Relaxed) {
            return;
        }
        let before = self.newest.fetch_max(term, Ordering::Relaxed);
        // The first term seen is the one the store connected in.
        if before != 0 && term > before {
            self.elected.notify_one();
        }
    }
}

/// Every `leader_check_interval`, and whenever `terms` sees an election,
/// asks the member the store talks to whether it leads (one small request
/// on the open connection); if it does not, finds the member that does and
/// sends new requests there. Ends when the store shuts down or is dropped.
pub(super) async fn follow(
    mut maintenance: MaintenanceClient,
    channel: DirectChannel,
    terms: std::sync::Arc<Terms>,
    options: EtcdOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(options.leader_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = terms.elected.notified() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
        }
        if leads(&mut maintenance, options.dial_timeout).await {
            continue;
        }
        let Some(leader) = find_leader(&options).await else {
            continue;
        };
        let endpoint = &options.endpoints[leader];
        if channel.connected_endpoint().as_deref() != Some(endpoint.as_str()) {
            tracing::info!(%endpoint, "etcd: moving to the leader");
            channel.prefer(endpoint);
        }
    }
}

/// Whether the member on the store's connection is the leader.
async fn leads(maintenance: &mut MaintenanceClient, timeout: Duration) -> bool {
    match tokio::time::timeout(timeout, maintenance.status()).await {
        Ok(Ok(status)) => status
            .header()
            .is_some_and(|h| h.member_id() == status.leader()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_newer_term_after_the_first_is_an_election() {
        let terms = Terms::default();
        let elected = || futures::FutureExt::now_or_never(terms.elected.notified()).is_some();
        terms.saw(7);
        assert!(!elected(), "the first term seen is where the store started");
        terms.saw(7);
        terms.saw(6);
        assert!(!elected(), "the same or an older term");
        terms.saw(8);
        assert!(elected());
        assert!(!elected(), "one election, one check");
    }
}
