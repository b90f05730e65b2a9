//! Keeping an in-memory view of one key prefix current: list, then follow
//! the store's watch; re-list if the watch falls behind a compaction. Used by
//! the RBAC index and the namespace lifecycle check, which must answer on
//! every request without a store round trip.

use std::sync::Arc;
use std::time::Duration;

use corral_store::{Event, KeyValue, RangeRequest, Revision, Store, StoreError};
use futures::StreamExt;

/// What a mirror does with what it sees.
pub trait Sink: Send + Sync + 'static {
    /// Replace everything with this full listing.
    fn reset(&self, kvs: Vec<KeyValue>);
    /// Apply a batch of changes, in revision order.
    fn apply(&self, events: &[Event]);
}

/// List `prefix` into `sink`, then follow changes in the background until `shutdown`.
/// Returns once the first listing is applied.
pub async fn start(
    store: Arc<dyn Store>,
    prefix: &'static str,
    sink: Arc<dyn Sink>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let rev = relist(&store, prefix, &sink).await?;
    tokio::spawn(async move {
        let mut next = rev + 1;
        loop {
            match follow(&store, prefix, &sink, next, &mut shutdown).await {
                Ok(()) => return,
                Err((StoreError::Compacted { .. }, _)) => match relist(&store, prefix, &sink).await
                {
                    Ok(rev) => next = rev + 1,
                    Err(e) => tracing::warn!(prefix, error = %e, "re-list failed"),
                },
                Err((e, last)) => {
                    tracing::warn!(prefix, error = %e, "watch ended; resuming");
                    next = last + 1;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
    Ok(())
}

async fn relist(
    store: &Arc<dyn Store>,
    prefix: &str,
    sink: &Arc<dyn Sink>,
) -> Result<Revision, StoreError> {
    let resp = store
        .range(RangeRequest {
            prefix: prefix.to_string(),
            ..Default::default()
        })
        .await?;
    sink.reset(resp.kvs);
    Ok(resp.revision)
}

async fn follow(
    store: &Arc<dyn Store>,
    prefix: &str,
    sink: &Arc<dyn Sink>,
    from: Revision,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), (StoreError, Revision)> {
    let mut last = from - 1;
    let mut stream = store.watch(prefix, from).await.map_err(|e| (e, last))?;
    loop {
        let batch = tokio::select! {
            b = stream.next() => b,
            _ = shutdown.changed() => return Ok(()),
        };
        match batch {
            None => return Ok(()),
            Some(Err(e)) => return Err((e, last)),
            Some(Ok(events)) => {
                sink.apply(&events);
                if let Some(ev) = events.last() {
                    last = ev.revision();
                }
            }
        }
    }
}
