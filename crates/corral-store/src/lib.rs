//! Corral's storage layer: an MVCC key space with etcd's semantics.
//!
//! The store knows keys, bytes and revisions — nothing about Kubernetes.
//! Every write gets a new, strictly increasing global revision. Readers can
//! range over a prefix at any retained revision, and watchers receive every
//! change after a revision, in order, with the previous value.
//!
//! Start with [`Store`]; [`sqlite::SqliteStore`] is the embedded backend and
//! [`conformance`] is the test suite every backend must pass unchanged.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;

pub mod conformance;
pub mod etcd;
mod fanout;
pub mod sqlite;

/// A global, strictly increasing write counter. Revision 0 means "none yet".
pub type Revision = i64;

/// One key's value as of some revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this key (the first write after it was absent).
    pub create_revision: Revision,
    /// Revision of the write that produced this value.
    pub mod_revision: Revision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created (`prev` is `None`) or updated (`prev` is `Some`).
    Put,
    /// The key was deleted; `kv.value` is empty and `prev` holds the last value.
    Delete,
}

/// One change, delivered to watchers in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For a put: the new value. For a delete: the key with an empty value,
    /// `mod_revision` set to the deletion's revision and the deleted value's
    /// `create_revision`.
    pub kv: KeyValue,
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A range read over keys starting with `prefix`, in key order.
#[derive(Clone, Debug, Default)]
pub struct RangeRequest {
    pub prefix: String,
    /// Only keys strictly greater than this one (for continuation).
    pub start_after: Option<String>,
    /// Read at this revision; `None` reads the latest state.
    pub revision: Option<Revision>,
    /// At most this many keys; `None` or 0 means no limit.
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
    /// The revision the read was served at (the store's current revision for latest reads).
    pub revision: Revision,
    /// More keys matched than `limit` allowed.
    pub more: bool,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("key {key:?} not found")]
    NotFound { key: String },
    /// A compare-and-swap failed: the key's modification revision was not the
    /// expected one. `current` is the key's value now (`None` if it is gone).
    #[error("key {key:?} was modified concurrently")]
    Conflict {
        key: String,
        current: Option<Box<KeyValue>>,
    },
    #[error("revision {requested} has been compacted; oldest available is {compacted}")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    /// The backend cannot be reached or is shutting down; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Events are delivered in batches (all events of one revision range, in order).
/// The stream ends with an error item if the watch can no longer continue
/// (for example the watcher fell behind a compaction), or ends cleanly when
/// the store shuts down.
pub type WatchStream = Pin<Box<dyn futures::Stream<Item = Result<Vec<Event>>> + Send>>;

/// The storage contract. Backends: [`sqlite::SqliteStore`], and etcd.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest value of `key`, if present.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Create `key` only if it is absent. Returns the stored value with its revisions.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replace `key`'s value only if its current `mod_revision` equals `expected`.
    /// `NotFound` if the key is absent; `Conflict` (with the current value) if the revision differs.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue>;

    /// Delete `key`, only if its current `mod_revision` equals `expected` when given.
    /// Returns the deleted value, with `mod_revision` set to the deletion's revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Keys under a prefix, in key order, at a revision.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse>;

    /// The number of keys currently under `prefix`.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// The revision of the latest write (0 for an empty store).
    async fn current_revision(&self) -> Result<Revision>;

    /// Every event on keys under `prefix` with revision >= `from`, in order,
    /// then every later one as it happens. `Compacted` if `from` is no longer retained.
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream>;

    /// Drop history older than `revision` (the latest value of every live key is kept).
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The oldest revision still readable (0 if nothing was ever compacted).
    async fn compacted_revision(&self) -> Result<Revision>;
}
