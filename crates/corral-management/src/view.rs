//! In-memory views of one kind of management object, consulted on every
//! request without a store round trip (token authentication, user lookup).
//!
//! A view is fed two ways:
//! - [`follow`]: list the store prefix, then follow its watch (re-list after a
//!   compaction) — this is how writes made by *other* replicas arrive, within
//!   the watch latency;
//! - [`ViewedStore`]: a decorator around the [`Store`] the API server writes
//!   through, which applies every successful write under a viewed prefix to
//!   the view *before* the write is acknowledged — so on the replica that
//!   deletes a token (kubectl, logout) or disables a user, the next request
//!   already sees it.
//!
//! Both paths may deliver the same change; items carry their `mod_revision`
//! and deletions leave a tombstone until the watch has passed them, so an
//! older event never resurrects or overwrites a newer state.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use corral_store::{
    EventKind, KeyValue, RangeRequest, RangeResponse, Result as StoreResult, Revision, Store,
    StoreError, WatchStream,
};
use futures::StreamExt;

/// How a view turns a stored object into what it keeps.
pub trait Parse: Sized + Send + Sync + 'static {
    /// `None` for an object that cannot be used (it is then treated as absent).
    fn parse(name: &str, value: &[u8]) -> Option<Self>;
}

struct Inner<T> {
    items: HashMap<String, (Revision, Arc<T>)>,
    tombstones: HashMap<String, Revision>,
}

/// Objects under one store prefix, by name.
pub struct View<T> {
    prefix: &'static str,
    inner: RwLock<Inner<T>>,
}

/// What [`ViewedStore`] and [`follow`] call; implemented by every [`View`].
pub trait Sink: Send + Sync + 'static {
    fn prefix(&self) -> &'static str;
    fn put(&self, kv: &KeyValue);
    fn delete(&self, key: &str, revision: Revision);
    fn reset(&self, kvs: &[KeyValue], revision: Revision);
    /// The watch has delivered everything up to `revision`.
    fn watched(&self, revision: Revision);
}

impl<T: Parse> View<T> {
    pub fn new(prefix: &'static str) -> Arc<View<T>> {
        Arc::new(View {
            prefix,
            inner: RwLock::new(Inner {
                items: HashMap::new(),
                tombstones: HashMap::new(),
            }),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<T>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.items.get(name).map(|(_, t)| t.clone())
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .items
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item matching `pred` (a scan: for rare operations such as logins and listings).
    pub fn find(&self, mut pred: impl FnMut(&T) -> bool) -> Vec<Arc<T>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .items
            .values()
            .filter(|(_, t)| pred(t))
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Apply a value read directly from the store (a cache miss).
    pub fn insert_read(&self, kv: &KeyValue) {
        self.put(kv);
    }

    fn name_of<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(self.prefix).filter(|n| !n.contains('/'))
    }
}

impl<T: Parse> Sink for View<T> {
    fn prefix(&self) -> &'static str {
        self.prefix
    }

    fn put(&self, kv: &KeyValue) {
        let Some(name) = self.name_of(&kv.key) else {
            return;
        };
        let parsed = T::parse(name, &kv.value);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner
            .tombstones
            .get(name)
            .is_some_and(|&rev| rev >= kv.mod_revision)
        {
            return;
        }
        if inner
            .items
            .get(name)
            .is_some_and(|(rev, _)| *rev >= kv.mod_revision)
        {
            return;
        }
        match parsed {
            Some(t) => {
                inner
                    .items
                    .insert(name.to_string(), (kv.mod_revision, Arc::new(t)));
            }
            None => {
                inner.items.remove(name);
            }
        }
    }

    fn delete(&self, key: &str, revision: Revision) {
        let Some(name) = self.name_of(key) else {
            return;
        };
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner
            .items
            .get(name)
            .is_some_and(|(rev, _)| *rev < revision)
        {
            inner.items.remove(name);
        }
        let tomb = inner.tombstones.entry(name.to_string()).or_insert(revision);
        *tomb = (*tomb).max(revision);
    }

    fn reset(&self, kvs: &[KeyValue], revision: Revision) {
        let mut items = HashMap::with_capacity(kvs.len());
        for kv in kvs {
            if let Some(name) = self.name_of(&kv.key)
                && let Some(t) = T::parse(name, &kv.value)
            {
                items.insert(name.to_string(), (kv.mod_revision, Arc::new(t)));
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Keep what this replica wrote after the listing's revision.
        for (name, (rev, t)) in inner.items.drain() {
            if rev > revision {
                items.insert(name, (rev, t));
            }
        }
        inner.tombstones.retain(|_, rev| *rev > revision);
        let tombstones: Vec<String> = inner.tombstones.keys().cloned().collect();
        for name in tombstones {
            items.remove(&name);
        }
        inner.items = items;
    }

    fn watched(&self, revision: Revision) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !inner.tombstones.is_empty() {
            inner.tombstones.retain(|_, rev| *rev > revision);
        }
    }
}

/// List `sink`'s prefix, then follow it in the background until `shutdown`
/// changes. Returns once the first listing is applied.
pub async fn follow(
    store: Arc<dyn Store>,
    sink: Arc<dyn Sink>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let rev = relist(&store, &sink).await?;
    tokio::spawn(async move {
        let mut next = rev + 1;
        loop {
            match follow_once(&store, &sink, next, &mut shutdown).await {
                Ok(()) => return,
                Err((StoreError::Compacted { .. }, _)) => match relist(&store, &sink).await {
                    Ok(rev) => next = rev + 1,
                    Err(e) => tracing::warn!(prefix = sink.prefix(), error = %e, "re-list failed"),
                },
                Err((e, last)) => {
                    tracing::warn!(prefix = sink.prefix(), error = %e, "watch ended; resuming");
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

async fn relist(store: &Arc<dyn Store>, sink: &Arc<dyn Sink>) -> Result<Revision, StoreError> {
    let resp = store
        .range(RangeRequest {
            prefix: sink.prefix().to_string(),
            ..Default::default()
        })
        .await?;
    sink.reset(&resp.kvs, resp.revision);
    Ok(resp.revision)
}

async fn follow_once(
    store: &Arc<dyn Store>,
    sink: &Arc<dyn Sink>,
    from: Revision,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), (StoreError, Revision)> {
    let mut last = from - 1;
    let mut stream = store
        .watch(sink.prefix(), from)
        .await
        .map_err(|e| (e, last))?;
    loop {
        let batch = tokio::select! {
            b = stream.next() => b,
            _ = shutdown.changed() => return Ok(()),
        };
        match batch {
            None => return Ok(()),
            Some(Err(e)) => return Err((e, last)),
            Some(Ok(events)) => {
                for ev in &events {
                    match ev.kind {
                        EventKind::Put => sink.put(&ev.kv),
                        EventKind::Delete => sink.delete(&ev.kv.key, ev.kv.mod_revision),
                    }
                }
                if let Some(ev) = events.last() {
                    last = ev.revision();
                    sink.watched(last);
                }
            }
        }
    }
}

/// The store decorator that applies this replica's own writes to the views
/// before acknowledging them (see the module docs). Every other call passes through.
pub struct ViewedStore {
    inner: Arc<dyn Store>,
    sinks: Vec<Arc<dyn Sink>>,
}

impl ViewedStore {
    pub fn new(inner: Arc<dyn Store>, sinks: Vec<Arc<dyn Sink>>) -> ViewedStore {
        ViewedStore { inner, sinks }
    }

    fn sink_for(&self, key: &str) -> Option<&Arc<dyn Sink>> {
        self.sinks.iter().find(|s| key.starts_with(s.prefix()))
    }
}

#[async_trait]
impl Store for ViewedStore {
    async fn get(&self, key: &str) -> StoreResult<Option<KeyValue>> {
        self.inner.get(key).await
    }

    async fn create(&self, key: &str, value: Bytes) -> StoreResult<KeyValue> {
        let kv = self.inner.create(key, value).await?;
        if let Some(s) = self.sink_for(key) {
            s.put(&kv);
        }
        Ok(kv)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> StoreResult<KeyValue> {
        let kv = self.inner.update(key, value, expected).await?;
        if let Some(s) = self.sink_for(key) {
            s.put(&kv);
        }
        Ok(kv)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> StoreResult<KeyValue> {
        let kv = self.inner.delete(key, expected).await?;
        if let Some(s) = self.sink_for(key) {
            s.delete(key, kv.mod_revision);
        }
        Ok(kv)
    }

    async fn range(&self, request: RangeRequest) -> StoreResult<RangeResponse> {
        self.inner.range(request).await
    }

    async fn count(&self, prefix: &str) -> StoreResult<i64> {
        self.inner.count(prefix).await
    }

    async fn current_revision(&self) -> StoreResult<Revision> {
        self.inner.current_revision().await
    }

    async fn watch(&self, prefix: &str, from: Revision) -> StoreResult<WatchStream> {
        self.inner.watch(prefix, from).await
    }

    async fn compact(&self, revision: Revision) -> StoreResult<()> {
        self.inner.compact(revision).await
    }

    async fn compacted_revision(&self) -> StoreResult<Revision> {
        self.inner.compacted_revision().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(String);
    impl Parse for Item {
        fn parse(_name: &str, value: &[u8]) -> Option<Self> {
            Some(Item(String::from_utf8_lossy(value).into_owned()))
        }
    }

    fn kv(name: &str, value: &str, rev: Revision) -> KeyValue {
        KeyValue {
            key: format!("/p/{name}"),
            value: Bytes::from(value.to_string()),
            create_revision: rev,
            mod_revision: rev,
        }
    }

    #[test]
    fn older_events_never_resurrect_or_overwrite() {
        let v: Arc<View<Item>> = View::new("/p/");
        v.put(&kv("a", "one", 5));
        v.put(&kv("a", "two", 7));
        // The watch delivers the older write after this replica applied the newer.
        v.put(&kv("a", "one", 5));
        assert_eq!(v.get("a").map(|i| i.0.clone()).as_deref(), Some("two"));
        v.delete("/p/a", 8);
        v.put(&kv("a", "two", 7));
        assert!(v.get("a").is_none(), "a tombstone blocks the older put");
        v.watched(8);
        v.put(&kv("a", "three", 9));
        assert!(v.get("a").is_some(), "a newer create is applied");
        v.reset(&[kv("b", "x", 3)], 9);
        assert!(v.get("a").is_none() && v.get("b").is_some());
        assert!(v.get("/nested/x").is_none());
    }
}
