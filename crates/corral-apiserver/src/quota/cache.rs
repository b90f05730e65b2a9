//! The ResourceQuotas of every namespace, mirrored in memory so that a
//! create in a namespace without quotas (nearly all of them) costs no store
//! round trip; on etcd that round trip was a consensus read per create.
//!
//! Like upstream's quota admission, which reads an informer, the mirror may
//! trail the store by the watch latency. Two things keep that harmless:
//! writes of quotas through this replica are recorded at once
//! ([`QuotaCache::observe`]), so a quota created here limits the very next
//! request; and a refusal computed from mirrored data is re-checked against
//! the store before it is returned (see `admit_create`). Charging is a
//! compare-and-swap on the stored quota, so a stale mirrored copy only costs
//! a retry.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use corral_store::{Event, EventKind, KeyValue, Revision};

pub(crate) const PREFIX: &str = "/registry/core/resourcequotas/";

/// One quota key: its latest known revision, and its value unless deleted
/// (the tombstone keeps an older write observed late from resurrecting it).
type Entry = (Revision, Option<KeyValue>);

#[derive(Default)]
pub struct QuotaCache {
    by_namespace: RwLock<HashMap<String, BTreeMap<String, Entry>>>,
}

fn namespace_of(key: &str) -> Option<&str> {
    key.strip_prefix(PREFIX)?.split('/').next()
}

impl QuotaCache {
    /// The live quotas of `namespace`, in key order.
    pub fn in_namespace(&self, namespace: &str) -> Vec<KeyValue> {
        let map = self.by_namespace.read().unwrap_or_else(|p| p.into_inner());
        map.get(namespace)
            .map(|keys| keys.values().filter_map(|(_, kv)| kv.clone()).collect())
            .unwrap_or_default()
    }

    /// A quota written through this replica, before the mirror sees it.
    pub fn observe(&self, kv: &KeyValue) {
        self.record(&kv.key, kv.mod_revision, Some(kv.clone()));
    }

    fn record(&self, key: &str, revision: Revision, kv: Option<KeyValue>) {
        let Some(ns) = namespace_of(key) else {
            return;
        };
        let mut map = self.by_namespace.write().unwrap_or_else(|p| p.into_inner());
        let keys = map.entry(ns.to_string()).or_default();
        match keys.get(key) {
            Some((known, _)) if *known >= revision => {}
            _ => {
                keys.insert(key.to_string(), (revision, kv));
            }
        }
    }
}

impl crate::mirror::Sink for QuotaCache {
    fn reset(&self, kvs: Vec<KeyValue>) {
        let mut fresh: HashMap<String, BTreeMap<String, Entry>> = HashMap::new();
        for kv in kvs {
            if let Some(ns) = namespace_of(&kv.key) {
                fresh
                    .entry(ns.to_string())
                    .or_default()
                    .insert(kv.key.clone(), (kv.mod_revision, Some(kv)));
            }
        }
        *self.by_namespace.write().unwrap_or_else(|p| p.into_inner()) = fresh;
    }

    fn apply(&self, events: &[Event]) {
        for ev in events {
            match ev.kind {
                EventKind::Put => self.observe(&ev.kv),
                EventKind::Delete => self.record(&ev.kv.key, ev.kv.mod_revision, None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::Sink;
    use bytes::Bytes;

    fn kv(name: &str, rev: Revision) -> KeyValue {
        KeyValue {
            key: format!("{PREFIX}ns/{name}"),
            value: Bytes::from(format!("{{\"rev\":{rev}}}")),
            create_revision: 1,
            mod_revision: rev,
        }
    }

    fn delete(name: &str, rev: Revision) -> Event {
        Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                value: Bytes::new(),
                ..kv(name, rev)
            },
            prev: Some(kv(name, rev - 1)),
        }
    }

    #[test]
    fn an_older_write_observed_late_neither_replaces_nor_resurrects() {
        let cache = QuotaCache::default();
        cache.observe(&kv("q", 5));
        cache.observe(&kv("q", 3));
        assert_eq!(cache.in_namespace("ns")[0].mod_revision, 5);
        cache.apply(&[delete("q", 7)]);
        cache.observe(&kv("q", 5));
        assert!(cache.in_namespace("ns").is_empty());
        assert!(cache.in_namespace("other").is_empty());
        cache.observe(&kv("q", 9));
        assert_eq!(cache.in_namespace("ns").len(), 1);
    }

    #[test]
    fn a_relist_replaces_everything() {
        let cache = QuotaCache::default();
        cache.observe(&kv("a", 2));
        cache.reset(vec![kv("b", 4)]);
        let live = cache.in_namespace("ns");
        assert_eq!(live.len(), 1);
        assert!(live[0].key.ends_with("/b"));
    }
}
