//! A work queue with client-go's workqueue semantics: an item is queued at
//! most once, never handed to two workers at the same time (re-added while in
//! flight, it is queued again when its worker is done), and failures are
//! retried with a per-item exponential delay.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

struct State<T> {
    queue: VecDeque<T>,
    queued: HashSet<T>,
    processing: HashSet<T>,
    dirty: HashSet<T>,
    failures: HashMap<T, u32>,
}

pub struct WorkQueue<T> {
    state: Mutex<State<T>>,
    notify: Notify,
}

const BASE_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(30);

impl<T: Clone + Eq + Hash + Send + Sync + 'static> WorkQueue<T> {
    pub fn new() -> Arc<WorkQueue<T>> {
        Arc::new(WorkQueue {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued: HashSet::new(),
                processing: HashSet::new(),
                dirty: HashSet::new(),
                failures: HashMap::new(),
            }),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn add(&self, item: T) {
        let mut s = self.lock();
        if s.processing.contains(&item) {
            s.dirty.insert(item);
            return;
        }
        if s.queued.insert(item.clone()) {
            s.queue.push_back(item);
            drop(s);
            self.notify.notify_one();
        }
    }

    pub fn add_all(&self, items: impl IntoIterator<Item = T>) {
        for i in items {
            self.add(i);
        }
    }

    /// Wait for the next item; the caller must call [`WorkQueue::done`] with it.
    pub async fn get(&self) -> T {
        loop {
            {
                let mut s = self.lock();
                if let Some(item) = s.queue.pop_front() {
                    s.queued.remove(&item);
                    s.processing.insert(item.clone());
                    let more = !s.queue.is_empty();
                    drop(s);
                    if more {
                        // One stored permit wakes one worker; pass the baton on.
                        self.notify.notify_one();
                    }
                    return item;
                }
            }
            self.notify.notified().await;
        }
    }

    pub fn done(&self, item: &T) {
        let mut s = self.lock();
        s.processing.remove(item);
        if s.dirty.remove(item) && s.queued.insert(item.clone()) {
            s.queue.push_back(item.clone());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// The item succeeded: its next failure starts the backoff afresh.
    pub fn forget(&self, item: &T) {
        self.lock().failures.remove(item);
    }

    /// Retry after a delay that doubles with each consecutive failure.
    pub fn add_rate_limited(self: &Arc<Self>, item: T) {
        let delay = {
            let mut s = self.lock();
            let n = s.failures.entry(item.clone()).or_insert(0);
            *n = n.saturating_add(1);
            BASE_DELAY
                .saturating_mul(1u32 << (*n - 1).min(16))
                .min(MAX_DELAY)
        };
        self.add_after(item, delay);
    }

    pub fn add_after(self: &Arc<Self>, item: T, delay: Duration) {
        let q = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(q) = q.upgrade() {
                q.add(item);
            }
        });
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_are_deduplicated_and_never_handed_out_twice() {
        let q: Arc<WorkQueue<u32>> = WorkQueue::new();
        q.add(1);
        q.add(1);
        q.add(2);
        assert_eq!(q.len(), 2);
        let a = q.get().await;
        assert_eq!(a, 1);
        // Re-added while in flight: held back until done.
        q.add(1);
        assert_eq!(q.get().await, 2);
        assert!(q.is_empty());
        q.done(&1);
        assert_eq!(q.get().await, 1);
        q.done(&1);
        q.done(&2);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn waiting_workers_are_woken() {
        let q: Arc<WorkQueue<u32>> = WorkQueue::new();
        let mut handles = Vec::new();
        for _ in 0..4 {
            let q = q.clone();
            handles.push(tokio::spawn(async move {
                let i = q.get().await;
                q.done(&i);
                i
            }));
        }
        tokio::task::yield_now().await;
        q.add_all([1, 2, 3, 4]);
        let mut got = Vec::new();
        for h in handles {
            got.push(
                tokio::time::timeout(Duration::from_secs(5), h)
                    .await
                    .expect("a worker was never woken")
                    .expect("join"),
            );
        }
        got.sort();
        assert_eq!(got, [1, 2, 3, 4]);
    }
}
