//! The etcd backend: [`EtcdStore`] keeps Corral's key space in an etcd v3
//! cluster and uses etcd's own revisions, transactions and watches, so the
//! store adds no state of its own that could disagree with etcd. Several
//! `EtcdStore`s (several `corral server` replicas) on one cluster see each
//! other's writes and events with the same revisions.
//!
//! - `kv.rs`: single-key writes as compare-and-swap transactions, ranges,
//!   counts, revisions and compaction;
//! - `watch.rs`: watch streams that survive a broken etcd stream by
//!   re-opening it after the last delivered revision;
//! - `call.rs`: the deadline, retry and error-mapping rules every request
//!   follows;
//! - `channel.rs`: the client's transport, one HTTP/2 connection at a time;
//! - `unary.rs`: the transactions and ranges, sent on that transport without
//!   etcd-client's (tonic's) client stack;
//! - `leader.rs`: keeps that connection on the raft leader;
//! - `codec.rs`: the key prefix and key-value conversion.
//!
//! # Compaction
//!
//! `compact(R)` asks etcd to compact at `R - 1`, not `R`: a watch from `R`
//! must deliver the event at `R` with its previous value, which etcd looks
//! up at `R - 1` and would no longer have after compacting at `R`. The
//! store's compacted revision is therefore etcd's plus one, and a read at
//! exactly etcd's compacted revision (`R - 1`) is refused only by a store
//! that knows about the compaction: the one that made it, or one that has
//! since run into it (an error or [`Store::compacted_revision`], which asks
//! etcd). Another replica may still serve that single revision; the data
//! it returns is complete and correct, so this is harmless. Compactions made
//! directly in etcd (`etcdctl compact C`, or etcd's auto-compaction) are
//! seen the same way, as a store compaction at `C + 1`.

mod call;
mod channel;
mod codec;
mod h2conn;
mod kv;
mod leader;
mod unary;
mod watch;

pub use unary::UnaryKv;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{Client, ConnectOptions, KvClient, WatchClient};

use self::codec::Codec;
use crate::{
    KeyValue, RangeRequest, RangeResponse, Result, Revision, Store, StoreError, WatchStream,
};

/// Where the cluster is and how patient to be with it.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Client URLs of the members, `http://host:port` or `https://host:port`.
    /// Requests go to one member at a time and move to the next when it
    /// fails; list every member so that any one may be down.
    pub endpoints: Vec<String>,
    /// Every Corral key lives under this etcd key prefix (for example
    /// `"/corral"`), which is stripped from the keys the store returns.
    /// Prefixes are plain byte prefixes: installations sharing a cluster
    /// must not use one prefix that starts with another (`/corral` and
    /// `/corral2`), or a range over the whole key space of the first would
    /// include the second's keys.
    pub key_prefix: String,
    /// Client TLS, for `https://` endpoints.
    pub tls: Option<EtcdTls>,
    /// The longest any one call may take, retries included; then it fails
    /// with `Unavailable`. Watch streams are not bounded (they are long-lived)
    /// but opening one is.
    pub request_timeout: Duration,
    /// The longest a TCP (and TLS) connection attempt to one member may take,
    /// and the time [`EtcdStore::connect`] allows the cluster to answer.
    pub dial_timeout: Duration,
    /// How often the store checks that it talks to the raft leader (writes
    /// sent to a follower are forwarded, at a cost to both members), and
    /// moves to it if not. It also checks at once when a response carries a
    /// newer raft term (an election happened). Zero: never after connecting.
    pub leader_check_interval: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".to_string()],
            key_prefix: "/corral".to_string(),
            tls: None,
            request_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(2),
            leader_check_interval: Duration::from_secs(30),
        }
    }
}

/// PEM files for TLS to etcd, as `etcdctl --cacert --cert --key` take them.
#[derive(Clone, Debug)]
pub struct EtcdTls {
    /// The CA that signed the members' server certificates.
    pub ca_file: PathBuf,
    /// Client certificate and key, for clusters that check client
    /// certificates (`--client-cert-auth`); both or neither.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// The largest etcd response accepted. gRPC's default, 4 MiB, is less than
/// an unpaginated list of a few thousand objects (etcd itself sends up to
/// 2 GiB, and Kubernetes' API server accepts as much); a range that large
/// would otherwise fail with an error however often it is retried.
const MAX_RESPONSE: usize = i32::MAX as usize;

/// Watch batches buffered per stream before the watch stops reading from
/// etcd (etcd then holds further events for it; nothing is lost).
const WATCH_BUFFER: usize = 64;

/// The etcd-backed [`Store`]. Create it with [`EtcdStore::connect`].
pub struct EtcdStore {
    /// Compaction only: transactions and ranges go through `channel`.
    kv: KvClient,
    channel: channel::DirectChannel,
    /// Raft terms seen in responses, for `leader::follow`.
    terms: Arc<leader::Terms>,
    watch: WatchClient,
    codec: Codec,
    request_timeout: Duration,
    /// The newest store-level compacted revision this store made or learned
    /// of (see the module documentation); only ever grows.
    compacted: AtomicI64,
    closed: AtomicBool,
    /// Watch tasks end when this flips to `true` or is dropped with the store.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// One etcd watch per prefix, shared by this process's watchers.
    fanout: crate::fanout::Fanout,
}

/// An etcd-client [`Client`] on the store's transport (one HTTP/2
/// connection at a time, see `channel.rs`), connected within
/// `options.dial_timeout`. The store uses it; so do tools that must speak
/// to etcd the same way without the store (the raw benchmark).
pub async fn client(options: &EtcdOptions) -> Result<Client> {
    connect_client(options).await.map(|(client, _)| client)
}

/// The store's transport, to start on the raft leader.
async fn leader_first_channel(options: &EtcdOptions) -> Result<channel::DirectChannel> {
    let endpoints = leader::leader_first(options).await;
    channel::DirectChannel::new(&endpoints, options.tls.as_ref(), options.dial_timeout)
}

/// The client and its channel, which the store keeps on the leader.
async fn connect_client(options: &EtcdOptions) -> Result<(Client, channel::DirectChannel)> {
    let channel = leader_first_channel(options).await?;
    // A member cut off from the others fails requests and watches at once
    // ("no leader") instead of serving stale data or stalling; the channel
    // then moves to another member.
    let connect = ConnectOptions::new().with_require_leader(true);
    let connecting = Client::from_channel(channel.clone().into_etcd_channel(), Some(connect));
    match tokio::time::timeout(options.dial_timeout, connecting).await {
        Ok(Ok(client)) => Ok((client, channel)),
        Ok(Err(e)) => Err(call::classify(&e).into_store_error()),
        Err(_) => Err(StoreError::Unavailable(format!(
            "etcd at {:?}: no connection within {:?}",
            options.endpoints, options.dial_timeout
        ))),
    }
}

impl EtcdStore {
    /// Connects to the cluster and checks, within `dial_timeout`, that it
    /// answers: a wrong endpoint or certificate fails here rather than at the
    /// first request. After that, members may come and go: the client
    /// reconnects by itself and every call is bounded by `request_timeout`.
    pub async fn connect(options: EtcdOptions) -> Result<Arc<EtcdStore>> {
        if options.endpoints.is_empty() {
            return Err(StoreError::Internal("no etcd endpoints given".to_string()));
        }
        if options.request_timeout.is_zero() || options.dial_timeout.is_zero() {
            return Err(StoreError::Internal(
                "etcd request_timeout and dial_timeout must be positive".to_string(),
            ));
        }
        let (client, channel) = connect_client(&options).await?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let watch_client = client
            .watch_client()
            .max_decoding_message_size(MAX_RESPONSE);
        let codec = Codec::new(options.key_prefix.clone());
        let opener = watch::Opener {
            client: watch_client.clone(),
            codec: codec.clone(),
            timeout: options.request_timeout,
            shutdown: shutdown_rx,
        };
        let store = EtcdStore {
            kv: client.kv_client().max_decoding_message_size(MAX_RESPONSE),
            channel: channel.clone(),
            terms: Arc::default(),
            watch: watch_client,
            codec,
            fanout: crate::fanout::Fanout::new(Arc::new(move |prefix, next| {
                Box::pin(opener.clone().open(prefix, next))
            })),
            request_timeout: options.request_timeout,
            compacted: AtomicI64::new(0),
            closed: AtomicBool::new(false),
            shutdown,
        };
        let deadline = call::Deadline::after(options.dial_timeout);
        if let Err(e) = store.revision_within(deadline).await {
            return Err(StoreError::Unavailable(format!(
                "etcd at {:?} does not answer: {e}",
                options.endpoints
            )));
        }
        if options.endpoints.len() > 1 && !options.leader_check_interval.is_zero() {
            tokio::spawn(leader::follow(
                client.maintenance_client(),
                channel,
                store.terms.clone(),
                options,
                store.shutdown.subscribe(),
            ));
        }
        Ok(Arc::new(store))
    }

    /// Ends every watch stream cleanly; every later call fails with
    /// `Unavailable`. Dropping the store ends its watch streams too.
    pub fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        self.shutdown.send_replace(true);
    }

    /// The deadline of a call starting now.
    fn deadline(&self) -> call::Deadline {
        call::Deadline::after(self.request_timeout)
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Unavailable(
                "etcd store is shut down".to_string(),
            ))
        } else {
            Ok(())
        }
    }

    /// Records a store-level compacted revision learned from anywhere.
    fn saw_compaction(&self, revision: Revision) -> Revision {
        self.compacted
            .fetch_max(revision, Ordering::AcqRel)
            .max(revision)
    }

    fn known_compacted(&self) -> Revision {
        self.compacted.load(Ordering::Acquire)
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.ensure_open()?;
        self.get_key(key).await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        self.ensure_open()?;
        self.create_key(key, value).await
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        self.ensure_open()?;
        self.update_key(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.ensure_open()?;
        self.delete_key(key, expected).await
    }

    /// `revision: Some(r)` with `r <= 0` reads the latest state, as etcd does.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.ensure_open()?;
        self.range_keys(request).await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        self.ensure_open()?;
        self.count_keys(prefix).await
    }

    /// etcd's revision, from a linearizable read's response header: never
    /// behind a write acknowledged by any member before the call.
    async fn current_revision(&self) -> Result<Revision> {
        self.ensure_open()?;
        self.linearizable_revision().await
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        self.ensure_open()?;
        self.open_watch(prefix, from).await
    }

    /// Compacts etcd at `revision - 1` (see the module documentation) and
    /// returns once etcd has applied it; physical removal happens later in
    /// etcd's background. At or below the compacted revision it is a no-op;
    /// beyond the current revision, `FutureRevision`.
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.ensure_open()?;
        self.compact_to(revision).await
    }

    /// Asks etcd (a cheap read at revision 1, and only if that is compacted,
    /// a watch that etcd answers with its compacted revision), so that this
    /// includes compactions made by other replicas or by etcd itself.
    async fn compacted_revision(&self) -> Result<Revision> {
        self.ensure_open()?;
        self.probe_compacted().await
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
