//! One backend watch per key prefix, shared by every local watcher of it.
//!
//! Without this, each watch of a prefix is its own backend watch: on etcd,
//! every write is sent by etcd, and decoded here, once per watcher (the API
//! server's clients, the controllers' informers, the in-memory mirrors).
//! A [`Fanout`] keeps one *hub* per prefix: a backend watch feeding a short
//! ring of recent events that any number of subscribers read at their own
//! pace, as upstream's watch cache does in front of etcd.
//!
//! * A hub starts at the revision its first subscriber asks for, and serves
//!   later subscribers whose start revision is still in its ring (a watch
//!   started right after a list is, by milliseconds).
//! * A subscriber asking for older revisions, one that falls out of the ring
//!   (too slow), or one whose hub broke, continues on a watch of its own
//!   from the first revision it has not seen: the sequence it gets stays
//!   gap-free and duplicate-free, and a compacted revision is reported as
//!   the backend reports it. Once it has caught up with a live hub's ring
//!   it goes back to the hub and its own watch ends: otherwise one watcher
//!   that was late once (two watchers starting together, a burst it read
//!   slowly) has every later event sent and decoded twice, for good.
//! * A hub stops, and its backend watch with it, when its last subscriber
//!   goes. The ring is bounded in events and bytes, and emptied of events
//!   older than [`RING_MAX_AGE`] so an idle prefix holds no memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::{Event, Result, Revision, StoreError, WatchStream};

/// Opens a backend watch of `prefix` from a revision (never `<= 0`).
pub(crate) type Open =
    Arc<dyn Fn(String, Revision) -> BoxFuture<'static, Result<WatchStream>> + Send + Sync>;

/// Most events a hub's ring keeps.
const RING_MAX_EVENTS: usize = 2048;
/// Most bytes of values (and previous values) a hub's ring keeps.
const RING_MAX_BYTES: usize = 4 << 20;
/// Events older than this leave the ring even without newer ones.
pub(crate) const RING_MAX_AGE: Duration = Duration::from_secs(30);
/// Most events handed to a subscriber in one batch.
const MAX_BATCH: usize = 1024;

/// The shared watches of one store.
pub(crate) struct Fanout {
    hubs: Arc<Mutex<HashMap<String, Arc<Hub>>>>,
    open: Open,
}

struct Hub {
    prefix: String,
    state: Mutex<Ring>,
    /// Bumped after every change of `state`; subscribers wait on it, and the
    /// hub stops when no subscriber holds a receiver any more.
    changed: watch::Sender<u64>,
    open: Open,
}

struct Ring {
    events: VecDeque<(Instant, Event)>,
    bytes: usize,
    /// Every event of the prefix with a revision `>= first` is in `events`
    /// or has not reached the hub yet.
    first: Revision,
    ended: Option<End>,
}

#[derive(Clone)]
enum End {
    /// The store shut down: subscribers end cleanly once drained.
    Clean,
    /// The backend watch failed or the hub stopped: subscribers continue
    /// on watches of their own.
    Reopen,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn event_bytes(ev: &Event) -> usize {
    ev.kv.key.len() + ev.kv.value.len() + ev.prev.as_ref().map_or(0, |p| p.value.len())
}

impl Fanout {
    pub(crate) fn new(open: Open) -> Fanout {
        Fanout {
            hubs: Arc::default(),
            open,
        }
    }

    /// A watch of `prefix` from `from` (a resolved revision, `> 0`).
    pub(crate) async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        let existing = lock(&self.hubs).get(prefix).cloned();
        if let Some(hub) = existing {
            return match hub.subscribe(from) {
                Some(stream) => Ok(stream),
                // Older than the ring: this watcher replays history alone.
                None => {
                    let own = (self.open)(prefix.to_string(), from).await?;
                    Ok(own_subscriber(own, Some(hub), from))
                }
            };
        }
        let backend = (self.open)(prefix.to_string(), from).await?;
        let (changed, first_receiver) = watch::channel(0);
        let hub = Arc::new(Hub {
            prefix: prefix.to_string(),
            state: Mutex::new(Ring {
                events: VecDeque::new(),
                bytes: 0,
                first: from,
                ended: None,
            }),
            changed,
            open: self.open.clone(),
        });
        {
            let mut hubs = lock(&self.hubs);
            if let Some(other) = hubs.get(prefix) {
                // Another watcher started a hub meanwhile; this one starts on
                // its own backend watch and joins that hub once it can.
                return Ok(own_subscriber(backend, Some(other.clone()), from));
            }
            hubs.insert(prefix.to_string(), hub.clone());
        }
        tokio::spawn(pump(hub.clone(), backend, self.hubs.clone()));
        Ok(subscriber(hub, from, first_receiver))
    }
}

impl Hub {
    fn subscribe(self: &Arc<Self>, from: Revision) -> Option<WatchStream> {
        let receiver = self.serves(from)?;
        Some(subscriber(self.clone(), from, receiver))
    }

    /// A receiver of changes when the ring holds every event from `from`
    /// (or will: they have not reached it yet) and the hub is live.
    fn serves(&self, from: Revision) -> Option<watch::Receiver<u64>> {
        let ring = lock(&self.state);
        if ring.ended.is_some() || from < ring.first {
            return None;
        }
        Some(self.changed.subscribe())
    }

    fn ended(&self) -> bool {
        lock(&self.state).ended.is_some()
    }

    fn push(&self, batch: Vec<Event>) {
        let now = Instant::now();
        let mut ring = lock(&self.state);
        for ev in batch {
            ring.bytes += event_bytes(&ev);
            ring.events.push_back((now, ev));
        }
        trim(&mut ring, now);
        drop(ring);
        self.changed.send_modify(|n| *n += 1);
    }

    fn end(&self, end: End) {
        lock(&self.state).ended = Some(end);
        self.changed.send_modify(|n| *n += 1);
    }
}

/// Drop what is over the ring's bounds or too old, advancing `first`.
fn trim(ring: &mut Ring, now: Instant) {
    while let Some((at, ev)) = ring.events.front() {
        let over = ring.events.len() > RING_MAX_EVENTS || ring.bytes > RING_MAX_BYTES;
        if !over && now.duration_since(*at) < RING_MAX_AGE {
            break;
        }
        ring.bytes -= event_bytes(ev);
        ring.first = ring.first.max(ev.revision() + 1);
        ring.events.pop_front();
    }
}

/// Feeds the hub from its backend watch until the backend ends or nobody
/// subscribes any more.
async fn pump(
    hub: Arc<Hub>,
    mut backend: WatchStream,
    hubs: Arc<Mutex<HashMap<String, Arc<Hub>>>>,
) {
    let mut tick = tokio::time::interval(RING_MAX_AGE / 2);
    tick.tick().await;
    let end = loop {
        tokio::select! {
            item = backend.next() => match item {
                Some(Ok(batch)) => hub.push(batch),
                Some(Err(e)) => {
                    tracing::debug!(prefix = %hub.prefix, error = %e, "shared watch failed; subscribers continue alone");
                    break End::Reopen;
                }
                None => break End::Clean,
            },
            _ = tick.tick() => trim(&mut lock(&hub.state), Instant::now()),
            _ = hub.changed.closed() => break End::Reopen,
        }
    };
    {
        let mut map = lock(&hubs);
        if map.get(&hub.prefix).is_some_and(|h| Arc::ptr_eq(h, &hub)) {
            map.remove(&hub.prefix);
        }
    }
    hub.end(end);
}

enum Sub {
    Shared {
        hub: Arc<Hub>,
        next: Revision,
        changed: watch::Receiver<u64>,
    },
    /// On a backend watch of its own, `next` the first revision not yet
    /// delivered; back on `hub` as soon as its ring serves `next`.
    Own {
        stream: WatchStream,
        hub: Option<Arc<Hub>>,
        next: Revision,
    },
    Done,
}

/// What a shared subscriber finds in the ring.
enum Found {
    Batch(Vec<Event>),
    Wait,
    Ended(End),
    Behind,
}

/// A subscriber starting on its own backend watch `stream` (from `from`),
/// moving to `hub` once that hub serves where it has got to.
fn own_subscriber(stream: WatchStream, hub: Option<Arc<Hub>>, from: Revision) -> WatchStream {
    let start = Sub::Own {
        stream,
        hub,
        next: from,
    };
    Box::pin(futures::stream::unfold(start, next_batch))
}

fn subscriber(hub: Arc<Hub>, from: Revision, changed: watch::Receiver<u64>) -> WatchStream {
    let start = Sub::Shared {
        hub,
        next: from,
        changed,
    };
    Box::pin(futures::stream::unfold(start, next_batch))
}

async fn next_batch(mut sub: Sub) -> Option<(Result<Vec<Event>>, Sub)> {
    loop {
        sub = match sub {
            Sub::Done => return None,
            Sub::Own {
                mut stream,
                hub,
                next,
            } => {
                let item = stream.next().await?;
                let next = match &item {
                    Ok(batch) => batch.last().map_or(next, |ev| ev.revision() + 1),
                    Err(_) => next,
                };
                let hub = hub.filter(|h| !h.ended());
                let back = match (&item, &hub) {
                    (Ok(_), Some(h)) => h.serves(next),
                    _ => None,
                };
                let sub = match (back, hub) {
                    // The own watch is dropped here, and ends.
                    (Some(changed), Some(hub)) => Sub::Shared { hub, next, changed },
                    (_, hub) => Sub::Own { stream, hub, next },
                };
                return Some((item, sub));
            }
            Sub::Shared {
                hub,
                next,
                mut changed,
            } => {
                // Marks the current state seen before reading it, so a
                // change after the read wakes the wait below.
                changed.borrow_and_update();
                match find(&hub, next) {
                    Found::Batch(batch) => {
                        let next = batch.last().map_or(next, |ev| ev.revision() + 1);
                        return Some((Ok(batch), Sub::Shared { hub, next, changed }));
                    }
                    Found::Wait => {
                        if changed.changed().await.is_err() {
                            // The hub is gone without a word: go alone.
                            reopen(&hub, next).await
                        } else {
                            Sub::Shared { hub, next, changed }
                        }
                    }
                    Found::Ended(End::Clean) => Sub::Done,
                    Found::Ended(End::Reopen) | Found::Behind => reopen(&hub, next).await,
                }
            }
        };
    }
}

fn find(hub: &Hub, next: Revision) -> Found {
    let ring = lock(&hub.state);
    if next < ring.first {
        return Found::Behind;
    }
    let start = ring.events.partition_point(|(_, ev)| ev.revision() < next);
    if start < ring.events.len() {
        let batch = ring
            .events
            .range(start..)
            .take(MAX_BATCH)
            .map(|(_, ev)| ev.clone())
            .collect();
        return Found::Batch(batch);
    }
    match &ring.ended {
        Some(end) => Found::Ended(end.clone()),
        None => Found::Wait,
    }
}

/// Continue on a backend watch of its own from `next`; a failure to open
/// is the stream's last item.
async fn reopen(hub: &Arc<Hub>, next: Revision) -> Sub {
    match (hub.open)(hub.prefix.clone(), next).await {
        Ok(stream) => Sub::Own {
            stream,
            hub: Some(hub.clone()),
            next,
        },
        Err(e) => Sub::Own {
            stream: Box::pin(futures::stream::once(async move {
                Err::<Vec<Event>, StoreError>(e)
            })),
            hub: None,
            next,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fan-out in front of a real SQLite store, counting backend watches
    /// opened.
    fn fanout_over(store: &Arc<SqliteStore>) -> (Fanout, Arc<AtomicUsize>) {
        let (fanout, opens, _) = fanout_counting_live(store);
        (fanout, opens)
    }

    /// Backend watches that are still open.
    struct Live(Arc<AtomicUsize>);

    impl Drop for Live {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// [`fanout_over`], also counting the backend watches still open.
    fn fanout_counting_live(
        store: &Arc<SqliteStore>,
    ) -> (Fanout, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let opens = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(AtomicUsize::new(0));
        let (store, counted, open_now) = (store.clone(), opens.clone(), live.clone());
        let open: Open = Arc::new(move |prefix, from| {
            counted.fetch_add(1, Ordering::SeqCst);
            let (store, open_now) = (store.clone(), open_now.clone());
            Box::pin(async move {
                // Opening takes a moment, as on etcd: two watchers started
                // together both open one before either hub exists.
                tokio::task::yield_now().await;
                let stream = store.watch(&prefix, from).await?;
                open_now.fetch_add(1, Ordering::SeqCst);
                let guard = Live(open_now);
                let counted: WatchStream = Box::pin(stream.map(move |item| {
                    let _open = &guard;
                    item
                }));
                Ok(counted)
            })
        });
        (Fanout::new(open), opens, live)
    }

    async fn write(store: &SqliteStore, n: usize, tag: &str) -> Vec<Revision> {
        let mut revs = Vec::with_capacity(n);
        for i in 0..n {
            let kv = store
                .create(&format!("/p/{tag}-{i}"), Bytes::from(vec![b'x'; 64]))
                .await
                .expect("create");
            revs.push(kv.mod_revision);
        }
        revs
    }

    async fn take(stream: &mut WatchStream, n: usize) -> Vec<Revision> {
        let mut seen = Vec::with_capacity(n);
        while seen.len() < n {
            let batch = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("events within 10 s")
                .expect("stream open")
                .expect("no error");
            seen.extend(batch.iter().map(Event::revision));
        }
        seen
    }

    fn temp_store() -> (tempfile::TempDir, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("db"), SqliteOptions::default())
            .expect("open store");
        (dir, store)
    }

    #[tokio::test]
    async fn watchers_of_a_prefix_share_one_backend_watch_and_see_the_same_sequence() {
        let (_dir, store) = temp_store();
        let (fanout, opens) = fanout_over(&store);
        let from = store.current_revision().await.expect("revision") + 1;
        let mut a = fanout.watch("/p/", from).await.expect("watch a");
        let mut b = fanout.watch("/p/", from).await.expect("watch b");
        let revs = write(&store, 100, "k").await;
        let mut c = fanout
            .watch("/p/", from)
            .await
            .expect("watch c, started late");
        assert_eq!(take(&mut a, 100).await, revs);
        assert_eq!(take(&mut b, 100).await, revs);
        assert_eq!(take(&mut c, 100).await, revs);
        assert_eq!(opens.load(Ordering::SeqCst), 1, "one backend watch");
        let mut other = fanout
            .watch("/q/", from)
            .await
            .expect("watch of another prefix");
        assert_eq!(
            opens.load(Ordering::SeqCst),
            2,
            "one backend watch per prefix"
        );
        store
            .create("/q/x", Bytes::from_static(b"{}"))
            .await
            .expect("create");
        assert_eq!(take(&mut other, 1).await.len(), 1);
    }

    #[tokio::test]
    async fn slow_and_late_watchers_continue_on_their_own_watch_without_gaps() {
        let (_dir, store) = temp_store();
        let (fanout, opens, live) = fanout_counting_live(&store);
        let from = store.current_revision().await.expect("revision") + 1;
        let mut fast = fanout.watch("/p/", from).await.expect("watch");
        let mut slow = fanout.watch("/p/", from).await.expect("watch");
        // More than the ring holds, read by the fast watcher only.
        let n = RING_MAX_EVENTS + 500;
        let writer = {
            let store = store.clone();
            tokio::spawn(async move { write(&store, n, "k").await })
        };
        let seen_fast = take(&mut fast, n).await;
        let revs = writer.await.expect("writer");
        assert_eq!(seen_fast, revs);
        // The slow one fell out of the ring; it still sees every event once, in order.
        assert_eq!(take(&mut slow, n).await, revs);
        assert_eq!(
            opens.load(Ordering::SeqCst),
            2,
            "the slow watcher reopened alone"
        );
        // Older than the ring: a watch of its own from the start.
        let mut late = fanout.watch("/p/", from).await.expect("late watch");
        assert_eq!(take(&mut late, n).await, revs);
        assert_eq!(opens.load(Ordering::SeqCst), 3);
        // Caught up, both are back on the hub: their own watches ended, and
        // what comes next reaches all three once, through the one watch left.
        let more = write(&store, 10, "more").await;
        assert_eq!(take(&mut fast, 10).await, more);
        assert_eq!(take(&mut slow, 10).await, more);
        assert_eq!(take(&mut late, 10).await, more);
        assert_eq!(
            live.load(Ordering::SeqCst),
            1,
            "only the hub's watch is open"
        );
        assert_eq!(opens.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_watcher_that_lost_the_race_to_start_the_hub_joins_it() {
        let (_dir, store) = temp_store();
        let (fanout, opens, live) = fanout_counting_live(&store);
        let from = store.current_revision().await.expect("revision") + 1;
        let (a, b) = tokio::join!(fanout.watch("/p/", from), fanout.watch("/p/", from));
        let (mut a, mut b) = (a.expect("watch a"), b.expect("watch b"));
        let revs = write(&store, 20, "k").await;
        assert_eq!(take(&mut a, 20).await, revs);
        assert_eq!(take(&mut b, 20).await, revs);
        let more = write(&store, 5, "more").await;
        assert_eq!(take(&mut a, 5).await, more);
        assert_eq!(take(&mut b, 5).await, more);
        assert_eq!(opens.load(Ordering::SeqCst), 2, "both opened one");
        assert_eq!(live.load(Ordering::SeqCst), 1, "both on one backend watch");
    }

    #[tokio::test]
    async fn the_backend_watch_ends_with_its_last_watcher() {
        let (_dir, store) = temp_store();
        let (fanout, opens) = fanout_over(&store);
        let from = store.current_revision().await.expect("revision") + 1;
        let a = fanout.watch("/p/", from).await.expect("watch");
        let b = fanout.watch("/p/", from).await.expect("watch");
        assert_eq!(lock(&fanout.hubs).len(), 1);
        drop(a);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(lock(&fanout.hubs).len(), 1, "one watcher left");
        drop(b);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !lock(&fanout.hubs).is_empty() {
            assert!(Instant::now() < deadline, "the hub outlived its watchers");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A new watcher starts a new hub and sees new writes.
        let now = store.current_revision().await.expect("revision") + 1;
        let mut c = fanout.watch("/p/", now).await.expect("watch");
        let revs = write(&store, 3, "n").await;
        assert_eq!(take(&mut c, 3).await, revs);
        assert_eq!(opens.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_ring_forgets_old_events_and_advances_its_first_revision() {
        let ev = |rev: Revision| Event {
            kind: crate::EventKind::Put,
            kv: crate::KeyValue {
                key: format!("/p/{rev}"),
                value: Bytes::from_static(b"v"),
                create_revision: rev,
                mod_revision: rev,
            },
            prev: None,
        };
        let now = Instant::now();
        let mut ring = Ring {
            events: VecDeque::new(),
            bytes: 0,
            first: 1,
            ended: None,
        };
        for rev in 1..=3 {
            let e = ev(rev);
            ring.bytes += event_bytes(&e);
            ring.events.push_back((now, e));
        }
        trim(&mut ring, now);
        assert_eq!((ring.events.len(), ring.first), (3, 1));
        trim(&mut ring, now + RING_MAX_AGE);
        assert_eq!((ring.events.len(), ring.first, ring.bytes), (0, 4, 0));
    }
}
