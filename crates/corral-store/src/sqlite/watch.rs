//! Push-based watches: an in-memory ring of recently committed batches,
//! with the revision log as the fallback for anything the ring no longer holds.
//!
//! Every watcher keeps a single cursor, `next`: the lowest revision it has not
//! yet looked at (matching its prefix or not). Revisions are dense and
//! published in order, so each step is either "the ring covers `next`: take
//! the events from there" or "it does not: read `[next, oldest_in_ring)` from
//! the log". Subscribing, replaying and lagging are all the same case, which
//! is why there is neither a gap nor a duplicate at the hand-over: a batch is
//! committed before it is published, so whatever is missing from the ring is
//! always in the log (or compacted, which ends the watch with `Compacted`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::reader::{ReadPool, log_events};
use super::schema::KeyRange;
use crate::{Event, Result, Revision, StoreError, WatchStream};

/// Revisions read from the log per step, bounding a catching-up watcher's memory.
const LOG_WINDOW: i64 = 2_048;

/// One committed transaction's events: revisions `first..=last`, all of them.
pub(crate) struct Batch {
    pub first: Revision,
    pub last: Revision,
    pub events: Vec<Event>,
}

struct Ring {
    batches: VecDeque<Arc<Batch>>,
    events: usize,
    /// The last published revision (also when the ring is empty, e.g. right after open).
    last: Revision,
}

#[derive(Clone, Copy, Debug)]
struct Signal {
    last: Revision,
    closed: bool,
}

pub(crate) struct Hub {
    ring: Mutex<Ring>,
    capacity: usize,
    signal: watch::Sender<Signal>,
    watchers: Arc<AtomicUsize>,
}

/// What a watcher sees of the ring under one short lock.
struct View {
    /// Batches whose `last >= next`, oldest first (refcounted, not copied).
    batches: Vec<Arc<Batch>>,
    oldest: Option<Revision>,
    last: Revision,
}

impl Hub {
    pub(crate) fn new(last: Revision, capacity: usize) -> Self {
        let (signal, _) = watch::channel(Signal {
            last,
            closed: false,
        });
        Self {
            ring: Mutex::new(Ring {
                batches: VecDeque::new(),
                events: 0,
                last,
            }),
            capacity: capacity.max(1),
            signal,
            watchers: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called by the writer after the batch is durable.
    pub(crate) fn publish(&self, batch: Batch) {
        let last = batch.last;
        {
            let mut ring = self.lock();
            ring.events += batch.events.len();
            ring.batches.push_back(Arc::new(batch));
            ring.last = last;
            // Keep the newest batch even if it alone exceeds the capacity.
            while ring.events > self.capacity && ring.batches.len() > 1 {
                if let Some(old) = ring.batches.pop_front() {
                    ring.events -= old.events.len();
                }
            }
        }
        self.signal.send_modify(|s| s.last = last);
    }

    /// Ends every watch stream once it has delivered what was published.
    pub(crate) fn close(&self) {
        self.signal.send_modify(|s| s.closed = true);
    }

    pub(crate) fn last(&self) -> Revision {
        self.lock().last
    }

    pub(crate) fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    pub(crate) fn buffered_events(&self) -> usize {
        self.lock().events
    }

    fn view(&self, next: Revision) -> View {
        let ring = self.lock();
        let start = ring.batches.partition_point(|b| b.last < next);
        View {
            batches: ring.batches.range(start..).cloned().collect(),
            oldest: ring.batches.front().map(|b| b.first),
            last: ring.last,
        }
    }
}

/// Decrements the watcher count however the stream ends.
struct WatcherGuard(Arc<AtomicUsize>);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Watcher {
    hub: Arc<Hub>,
    pool: ReadPool,
    prefix: String,
    range: KeyRange,
    next: Revision,
    signal: watch::Receiver<Signal>,
    done: bool,
    _guard: WatcherGuard,
}

pub(crate) fn stream(hub: Arc<Hub>, pool: ReadPool, prefix: &str, from: Revision) -> WatchStream {
    hub.watchers.fetch_add(1, Ordering::Relaxed);
    let watcher = Watcher {
        signal: hub.signal.subscribe(),
        _guard: WatcherGuard(Arc::clone(&hub.watchers)),
        hub,
        pool,
        prefix: prefix.to_string(),
        range: KeyRange::new(prefix, None),
        next: from,
        done: false,
    };
    Box::pin(futures::stream::unfold(watcher, |mut w| async move {
        w.step().await.map(|item| (item, w))
    }))
}

impl Watcher {
    async fn step(&mut self) -> Option<Result<Vec<Event>>> {
        while !self.done {
            // Mark the signal seen *before* looking, so a publish after the
            // look always wakes the wait below.
            let signal = *self.signal.borrow_and_update();
            let view = self.hub.view(self.next);
            if self.next <= view.last {
                let events = match view.oldest {
                    Some(oldest) if oldest <= self.next => self.take_from_ring(&view),
                    _ => {
                        let end = view.oldest.map_or(view.last, |o| o - 1);
                        match self.read_from_log(end).await {
                            Ok(events) => events,
                            Err(e) => {
                                self.done = true;
                                let closing = self.signal.borrow().closed;
                                if closing && matches!(e, StoreError::Unavailable(_)) {
                                    return None;
                                }
                                return Some(Err(e));
                            }
                        }
                    }
                };
                if !events.is_empty() {
                    return Some(Ok(events));
                }
                continue;
            }
            if signal.closed || self.signal.changed().await.is_err() {
                self.done = true;
            }
        }
        None
    }

    fn take_from_ring(&mut self, view: &View) -> Vec<Event> {
        let mut out = Vec::new();
        for batch in &view.batches {
            // Only matching events are cloned; the rest cost a comparison.
            out.extend(
                batch
                    .events
                    .iter()
                    .skip_while(|e| e.revision() < self.next)
                    .filter(|e| e.kv.key.starts_with(&self.prefix))
                    .cloned(),
            );
        }
        self.next = view.last + 1;
        out
    }

    async fn read_from_log(&mut self, end: Revision) -> Result<Vec<Event>> {
        let from = self.next;
        let to = end.min(from.saturating_add(LOG_WINDOW - 1));
        let range = self.range.clone();
        let events = self
            .pool
            .run(move |conn| log_events(conn, &range, from, to))
            .await?;
        self.next = to + 1;
        Ok(events)
    }
}
