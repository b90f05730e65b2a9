//! The embedded backend: one SQLite file in WAL mode.
//!
//! Threads and their jobs:
//! - one writer (`writer.rs`) owns the only read-write connection. It commits
//!   everything queued in one transaction (group commit: one fsync per
//!   batch, `synchronous=FULL`, so an acknowledged write is on disk), then
//!   publishes the batch's events and answers each request;
//! - a few readers (`reader.rs`) serve gets, ranges, counts and watch replays
//!   from read-only connections, so reads never queue behind commits;
//! - an optional compactor wakes up every `compact_interval` and asks the
//!   writer to compact, so history stays bounded without anyone calling
//!   [`Store::compact`].
//!
//! Watches (`watch.rs`) are pushed by the writer through an in-memory ring of
//! recent batches and fall back to the revision log for anything older;
//! nothing polls the database. `schema.rs` documents the tables.
//!
//! A `<database>.lock` file beside the database keeps a second store (in this
//! or another process) from opening the same file and handing out revisions
//! of its own.

mod queries;
mod reader;
mod schema;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use self::reader::ReadPool;
use self::schema::unavailable;
use self::watch::Hub;
use self::writer::{WriteOp, Writer, WriterMsg};
use crate::{
    KeyValue, RangeRequest, RangeResponse, Result, Revision, Store, StoreError, WatchStream,
};

/// Tuning knobs; [`Default`] suits a control plane.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// How often the background compactor runs; `Duration::ZERO` disables it.
    /// Each run keeps every revision written since the previous run, so a
    /// client that lists and then watches within one interval never sees
    /// `Compacted`.
    pub compact_interval: Duration,
    /// Background compaction always keeps at least this many revisions.
    pub compact_min_retain: i64,
    /// Events kept in memory for watchers. A watcher that falls further behind
    /// (or starts further back) catches up from the log instead.
    pub watch_buffer: usize,
    /// Number of read-only connections (and reader threads).
    pub read_connections: usize,
    /// Most write requests committed in one transaction.
    pub max_batch: usize,
    /// Queued write requests before writers wait (back-pressure).
    pub write_queue: usize,
    /// How long a connection waits on a lock held by another process before
    /// the operation fails with `Unavailable`.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            compact_interval: Duration::from_secs(5 * 60),
            compact_min_retain: 10_000,
            watch_buffer: 4_096,
            read_connections: 4,
            max_batch: 1_024,
            write_queue: 8_192,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Counters for monitoring and for tests that need to see group commit work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SqliteStats {
    /// The latest committed revision.
    pub revision: Revision,
    pub compacted_revision: Revision,
    /// Successful writes (one revision each) since open.
    pub writes: u64,
    /// Write transactions committed since open; `writes / commits` is the
    /// average group-commit batch size.
    pub commits: u64,
    /// Compactions whose sweep completed since open.
    pub compactions: u64,
    /// Open watch streams.
    pub watchers: usize,
    /// Events currently held in the in-memory watch ring.
    pub buffered_events: usize,
}

/// State the writer updates and everyone else reads without a query.
#[derive(Default)]
pub(crate) struct Shared {
    revision: AtomicI64,
    compacted: AtomicI64,
    writes: AtomicU64,
    commits: AtomicU64,
    compactions: AtomicU64,
}

/// Threads to join at shutdown, and the compactor's stop switch.
struct Workers {
    writer: Option<JoinHandle<()>>,
    others: Vec<JoinHandle<()>>,
    compactor_stop: Option<std_mpsc::Sender<()>>,
}

/// The SQLite-backed [`Store`]. Open it with [`SqliteStore::open`].
pub struct SqliteStore {
    path: PathBuf,
    writer: mpsc::Sender<WriterMsg>,
    pool: ReadPool,
    hub: Arc<Hub>,
    shared: Arc<Shared>,
    closed: AtomicBool,
    workers: Mutex<Workers>,
    shutdown_lock: tokio::sync::Mutex<()>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and starts the writer,
    /// reader and compactor threads. Needs no async runtime.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Arc<Self>> {
        let lock = schema::lock_exclusive(path)?;
        let conn = schema::open_writer(path, options.busy_timeout)?;
        let recovered = writer::recover(&conn)?;
        let shared = Arc::new(Shared::default());
        shared.revision.store(recovered.revision, Ordering::Release);
        shared
            .compacted
            .store(recovered.compacted, Ordering::Release);
        let hub = Arc::new(Hub::new(recovered.revision, options.watch_buffer));
        let (pool, mut others) =
            ReadPool::start(path, options.read_connections, options.busy_timeout)?;

        let (tx, rx) = mpsc::channel(options.write_queue.max(1));
        let writer = Writer::new(
            conn,
            lock,
            rx,
            Arc::clone(&shared),
            Arc::clone(&hub),
            options.max_batch,
            recovered,
        );
        let spawned = std::thread::Builder::new()
            .name("corral-store-writer".to_string())
            .spawn(move || writer.run());
        let writer_handle = match spawned {
            Ok(handle) => handle,
            Err(e) => {
                pool.stop();
                return Err(StoreError::Internal(format!("spawn writer thread: {e}")));
            }
        };

        let mut compactor_stop = None;
        if !options.compact_interval.is_zero() {
            let (stop_tx, stop_rx) = std_mpsc::channel();
            let job = Compactor {
                writer: tx.clone(),
                shared: Arc::clone(&shared),
                interval: options.compact_interval,
                min_retain: options.compact_min_retain.max(1),
            };
            match std::thread::Builder::new()
                .name("corral-store-compactor".to_string())
                .spawn(move || job.run(stop_rx))
            {
                Ok(handle) => {
                    others.push(handle);
                    compactor_stop = Some(stop_tx);
                }
                Err(e) => tracing::warn!(error = %e, "no background compaction: spawn failed"),
            }
        }

        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            writer: tx,
            pool,
            hub,
            shared,
            closed: AtomicBool::new(false),
            workers: Mutex::new(Workers {
                writer: Some(writer_handle),
                others,
                compactor_stop,
            }),
            shutdown_lock: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> SqliteStats {
        SqliteStats {
            revision: self.shared.revision.load(Ordering::Acquire),
            compacted_revision: self.shared.compacted.load(Ordering::Acquire),
            writes: self.shared.writes.load(Ordering::Relaxed),
            commits: self.shared.commits.load(Ordering::Relaxed),
            compactions: self.shared.compactions.load(Ordering::Relaxed),
            watchers: self.hub.watchers(),
            buffered_events: self.hub.buffered_events(),
        }
    }

    /// Stops accepting requests, commits everything already queued, ends
    /// every watch stream cleanly once it has delivered what was committed,
    /// and closes the database. Later calls (and concurrent ones, once the
    /// first finishes) return immediately; every other method then fails
    /// with `Unavailable`.
    pub async fn shutdown(&self) {
        let _serialised = self.shutdown_lock.lock().await;
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (compactor_stop, writer, others) = {
            let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
            (
                workers.compactor_stop.take(),
                workers.writer.take(),
                std::mem::take(&mut workers.others),
            )
        };
        drop(compactor_stop);
        let (done_tx, done_rx) = oneshot::channel();
        if self
            .writer
            .send(WriterMsg::Shutdown { done: done_tx })
            .await
            .is_ok()
        {
            // Err only if the writer thread died, which join reports below.
            let _ = done_rx.await;
        }
        self.hub.close();
        self.pool.stop();
        let joined = tokio::task::spawn_blocking(move || {
            writer
                .into_iter()
                .chain(others)
                .filter_map(|handle| handle.join().err())
                .count()
        })
        .await;
        match joined {
            Ok(0) => {}
            Ok(panicked) => tracing::error!(panicked, "store threads panicked"),
            Err(e) => tracing::error!(error = %e, "could not join store threads"),
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(unavailable())
        } else {
            Ok(())
        }
    }

    async fn write(&self, op: WriteOp) -> Result<KeyValue> {
        self.ensure_open()?;
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(WriterMsg::Write { op, reply })
            .await
            .map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())?
    }
}

impl Drop for SqliteStore {
    /// Without an explicit [`SqliteStore::shutdown`] nothing is joined, but
    /// the threads still wind down: the writer drains its queue once the
    /// senders are gone, readers exit, and watch streams end.
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.compactor_stop.take();
        self.hub.close();
        self.pool.stop();
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.ensure_open()?;
        let key = key.to_string();
        self.pool.run(move |conn| reader::get(conn, &key)).await
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let key = key.to_string();
        self.write(WriteOp::Create { key, value }).await
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let key = key.to_string();
        self.write(WriteOp::Update {
            key,
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let key = key.to_string();
        self.write(WriteOp::Delete { key, expected }).await
    }

    /// `revision: Some(r)` with `r <= 0` reads the latest state, as etcd does.
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.ensure_open()?;
        self.pool
            .run(move |conn| reader::range(conn, &request))
            .await
    }

    async fn count(&self, prefix: &str) -> Result<i64> {
        self.ensure_open()?;
        let prefix = prefix.to_string();
        self.pool
            .run(move |conn| reader::count(conn, &prefix))
            .await
    }

    /// Served from memory: the writer updates it after each commit and before
    /// answering, so it is never behind an acknowledged write.
    async fn current_revision(&self) -> Result<Revision> {
        self.ensure_open()?;
        Ok(self.shared.revision.load(Ordering::Acquire))
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream> {
        self.ensure_open()?;
        // "Now" is the last *published* revision, so a write acknowledged
        // before this call is never delivered to a watch from now.
        let from = if from <= 0 { self.hub.last() + 1 } else { from };
        let compacted = self.shared.compacted.load(Ordering::Acquire);
        if from < compacted {
            return Err(StoreError::Compacted {
                requested: from,
                compacted,
            });
        }
        Ok(watch::stream(
            Arc::clone(&self.hub),
            self.pool.clone(),
            prefix,
            from,
        ))
    }

    /// Returns once the superseded rows are gone. Compacting at or below the
    /// compacted revision is a no-op (etcd would answer `Compacted`);
    /// beyond the current revision it is `FutureRevision`.
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.ensure_open()?;
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(WriterMsg::Compact {
                revision,
                reply: Some(reply),
            })
            .await
            .map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())?
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        self.ensure_open()?;
        Ok(self.shared.compacted.load(Ordering::Acquire))
    }
}

/// Background compaction policy: at each tick, compact to the revision seen
/// at the previous tick (so a whole interval of history stays readable),
/// but never leave fewer than `min_retain` revisions.
struct Compactor {
    writer: mpsc::Sender<WriterMsg>,
    shared: Arc<Shared>,
    interval: Duration,
    min_retain: i64,
}

impl Compactor {
    fn run(self, stop: std_mpsc::Receiver<()>) {
        let mut previous_tick = self.shared.revision.load(Ordering::Acquire);
        loop {
            match stop.recv_timeout(self.interval) {
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let current = self.shared.revision.load(Ordering::Acquire);
            let target = previous_tick.min(current - self.min_retain + 1);
            previous_tick = current;
            if target <= self.shared.compacted.load(Ordering::Acquire) {
                continue;
            }
            let msg = WriterMsg::Compact {
                revision: target,
                reply: None,
            };
            if self.writer.blocking_send(msg).is_err() {
                return;
            }
            tracing::debug!(target, "background compaction requested");
        }
    }
}
