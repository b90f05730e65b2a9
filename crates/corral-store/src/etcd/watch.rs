//! Watch streams on top of etcd watches, re-established transparently.
//!
//! [`Store::watch`](crate::Store::watch) subscribes to the shared watch of
//! its prefix (`crate::fanout`), which opens etcd watches through
//! [`Opener`]. Each etcd watch (`prev_kv` on) has a task that converts
//! etcd's responses into batches, one batch per etcd response. The task remembers `next`, the first
//! revision it has not delivered yet. When the etcd stream breaks (the
//! member died, the connection dropped, the member lost its leader) the task
//! opens a new etcd watch from `next`, retrying with backoff for as long as
//! the consumer keeps the stream, so the consumer sees one gap-free,
//! duplicate-free sequence and at most a pause. The stream ends with an
//! error only if etcd compacted `next` in the meantime (`Compacted`), and
//! ends cleanly when the store shuts down or is dropped.
//!
//! Every etcd watch is opened at `next - 1`, not `next`, and events below
//! `next` are dropped: etcd refuses a start revision below its compacted
//! revision `C`, so this refuses exactly the `next` below the store's
//! compacted revision `C + 1` (see the module documentation of
//! [`etcd`](super)), whether this store knows about the compaction or not.

use std::time::Duration;

use bytes::Bytes;
use etcd_client::{EventType, WatchClient, WatchOptions, WatchResponse};
use tokio::sync::{mpsc, watch};

use super::call::{self, Deadline, Retry};
use super::codec::Codec;
use super::{EtcdStore, WATCH_BUFFER};
use crate::{Event, EventKind, KeyValue, Result, Revision, StoreError, WatchStream};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl EtcdStore {
    pub(super) async fn open_watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let next = if from <= 0 {
            // Linearizable, so a write acknowledged before this call is never
            // delivered, whichever member serves the watch and however far
            // behind it is.
            self.revision_within(self.deadline()).await? + 1
        } else {
            let compacted = self.known_compacted();
            if from < compacted {
                return Err(StoreError::Compacted {
                    requested: from,
                    compacted,
                });
            }
            from
        };
        self.fanout.watch(prefix, next).await
    }
}

/// What opening a watch of its own needs; the shared watches (`fanout`)
/// call it for each backend watch.
#[derive(Clone)]
pub(super) struct Opener {
    pub(super) client: WatchClient,
    pub(super) codec: Codec,
    pub(super) timeout: Duration,
    pub(super) shutdown: watch::Receiver<bool>,
}

impl Opener {
    /// An etcd watch of `prefix` from `next` (`> 0`) with its pumping task.
    pub(super) async fn open(self, prefix: String, next: Revision) -> Result<WatchStream> {
        let (key, end) = self.codec.prefix_range(&prefix);
        let mut watcher = Watcher {
            client: self.client,
            codec: self.codec,
            key,
            end,
            next,
            timeout: self.timeout,
        };
        let opened = watcher.open(Deadline::after(self.timeout)).await?;
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(watcher.run(opened, tx, self.shutdown));
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })))
    }
}

/// One consumer's watch: what to (re-)open and where it got to.
struct Watcher {
    client: WatchClient,
    codec: Codec,
    key: Vec<u8>,
    end: Vec<u8>,
    /// The first revision not yet delivered.
    next: Revision,
    timeout: Duration,
}

/// An open etcd watch, with a first response that already carried events.
struct Opened {
    stream: etcd_client::WatchStream,
    pending: Option<WatchResponse>,
}

/// Why pumping one etcd stream stopped.
enum Stop {
    /// The consumer dropped the stream, or the store shut down.
    Done,
    /// The etcd stream broke; re-open from `next`.
    Broken(String),
    /// The watch cannot continue; tell the consumer and end.
    Fatal(StoreError),
}

/// What one etcd response means for the consumer.
enum Step {
    Batch(Vec<Event>),
    Stop(Stop),
}

impl Watcher {
    /// Opens an etcd watch at `next - 1` and waits for etcd to confirm it,
    /// within the request timeout (retrying unreachable members meanwhile).
    async fn open(&mut self, deadline: Deadline) -> Result<Opened> {
        let options = WatchOptions::new()
            .with_range(self.end.clone())
            .with_start_revision((self.next - 1).max(1))
            .with_prev_key();
        let (client, key) = (&self.client, &self.key);
        let attempt = || {
            let (mut client, key, options) = (client.clone(), key.clone(), options.clone());
            async move {
                let mut stream = client.watch(key, Some(options)).await?;
                let first = stream.message().await?;
                Ok((stream, first))
            }
        };
        let (stream, first) = call::bounded(deadline, Retry::Idempotent, attempt).await?;
        let Some(first) = first else {
            return Err(StoreError::Unavailable(
                "etcd closed the watch stream before confirming it".to_string(),
            ));
        };
        if first.canceled() {
            if let Step::Stop(Stop::Fatal(e)) = self.step(&first) {
                return Err(e);
            }
            return Err(StoreError::Unavailable(format!(
                "etcd refused the watch: {}",
                first.cancel_reason()
            )));
        }
        let pending = (!first.created() || !first.events().is_empty()).then_some(first);
        Ok(Opened { stream, pending })
    }

    async fn run(
        mut self,
        mut opened: Opened,
        tx: mpsc::Sender<Result<Vec<Event>>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            match self.pump(&mut opened, &tx, &mut shutdown).await {
                Stop::Done => return,
                Stop::Fatal(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                Stop::Broken(reason) => {
                    tracing::warn!(%reason, next = self.next, "etcd watch broke; re-establishing");
                }
            }
            let mut backoff = FIRST_BACKOFF;
            opened = loop {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = tx.closed() => return,
                    _ = shutdown.wait_for(|closed| *closed) => return,
                }
                match self.open(Deadline::after(self.timeout)).await {
                    Ok(opened) => {
                        tracing::info!(next = self.next, "etcd watch re-established");
                        break opened;
                    }
                    Err(e @ StoreError::Compacted { .. }) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, ?backoff, "etcd watch not re-established yet");
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            };
        }
    }

    /// Forwards one etcd stream's events until it breaks or is no longer wanted.
    async fn pump(
        &mut self,
        opened: &mut Opened,
        tx: &mpsc::Sender<Result<Vec<Event>>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Stop {
        loop {
            let resp = match opened.pending.take() {
                Some(resp) => resp,
                None => {
                    let message = tokio::select! {
                        biased;
                        _ = shutdown.wait_for(|closed| *closed) => return Stop::Done,
                        _ = tx.closed() => return Stop::Done,
                        message = opened.stream.message() => message,
                    };
                    match message {
                        Ok(Some(resp)) => resp,
                        Ok(None) => return Stop::Broken("etcd ended the watch stream".to_string()),
                        Err(e) => return Stop::Broken(e.to_string()),
                    }
                }
            };
            let batch = match self.step(&resp) {
                Step::Batch(batch) => batch,
                Step::Stop(stop) => return stop,
            };
            if batch.is_empty() {
                continue;
            }
            tokio::select! {
                sent = tx.send(Ok(batch)) => if sent.is_err() { return Stop::Done },
                _ = shutdown.wait_for(|closed| *closed) => return Stop::Done,
            }
        }
    }

    /// Converts one etcd response; advances `next` past what it delivers.
    fn step(&mut self, resp: &WatchResponse) -> Step {
        if resp.compact_revision() > 0 {
            return Step::Stop(Stop::Fatal(StoreError::Compacted {
                requested: self.next,
                compacted: resp.compact_revision() + 1,
            }));
        }
        if resp.canceled() {
            return Step::Stop(Stop::Broken(format!(
                "etcd cancelled the watch: {}",
                resp.cancel_reason()
            )));
        }
        let mut batch = Vec::with_capacity(resp.events().len());
        for ev in resp.events() {
            match self.event(ev) {
                // Opened at next - 1 (see the module documentation).
                Ok(event) if event.revision() < self.next => {}
                Ok(event) => batch.push(event),
                Err(e) => return Step::Stop(Stop::Fatal(e)),
            }
        }
        if let Some(last) = batch.last() {
            self.next = last.revision() + 1;
        }
        Step::Batch(batch)
    }

    fn event(&self, ev: &etcd_client::Event) -> Result<Event> {
        let kv = ev
            .kv()
            .ok_or_else(|| StoreError::Internal("etcd watch event without a key".to_string()))?;
        let prev = ev.prev_kv().map(|p| self.codec.kv(p)).transpose()?;
        Ok(match ev.event_type() {
            EventType::Put => Event {
                kind: EventKind::Put,
                kv: self.codec.kv(kv)?,
                prev,
            },
            // etcd's deletion event has no create_revision: the deleted value's.
            EventType::Delete => Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: self.codec.corral_key(kv.key())?,
                    value: Bytes::new(),
                    create_revision: prev.as_ref().map_or(0, |p| p.create_revision),
                    mod_revision: kv.mod_revision(),
                },
                prev,
            },
        })
    }
}
