//! The read side: a few dedicated threads, each owning a read-only connection.
//!
//! Reads never touch the writer's connection, so a long range or a watch
//! catching up from the log cannot delay commits. In WAL mode every read
//! transaction is a consistent snapshot of the last commit, and the writer
//! answers a request only after its commit, so every read issued after an
//! acknowledgement sees that write.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::queries::{
    COUNT_LATEST, GET_LATEST, LOG_WINDOW, RANGE_HISTORIC_PICK, RANGE_LATEST, ROW_BY_REV,
};
use super::schema::{
    KeyRange, META_COMPACTED, META_REVISION, SqlResultExt, key_from_blob, meta, open_reader,
    unavailable,
};
use crate::{
    Event, EventKind, KeyValue, RangeRequest, RangeResponse, Result, Revision, StoreError,
};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Msg {
    Run(Job),
    Stop,
}

/// One reader thread's queue. Each thread has its own so that handing over a
/// job wakes exactly the thread that runs it.
struct Lane {
    tx: mpsc::Sender<Msg>,
    /// Jobs sent to this lane and not yet finished.
    queued: Arc<AtomicUsize>,
}

/// A cloneable handle to the reader threads (watch streams hold one too).
#[derive(Clone)]
pub(crate) struct ReadPool {
    lanes: Arc<[Lane]>,
    closed: Arc<AtomicBool>,
}

impl ReadPool {
    /// Opens every connection up front so a bad path fails `open`, not the first read.
    pub(crate) fn start(
        path: &Path,
        threads: usize,
        busy_timeout: Duration,
    ) -> Result<(Self, Vec<JoinHandle<()>>)> {
        let threads = threads.max(1);
        let mut conns = Vec::with_capacity(threads);
        for _ in 0..threads {
            conns.push(open_reader(path, busy_timeout)?);
        }
        let mut lanes = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for (i, conn) in conns.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Msg>();
            let queued = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&queued);
            let handle = std::thread::Builder::new()
                .name(format!("corral-store-read-{i}"))
                .spawn(move || reader_loop(conn, rx, counter))
                .map_err(|e| StoreError::Internal(format!("spawn reader thread: {e}")))?;
            handles.push(handle);
            lanes.push(Lane { tx, queued });
        }
        let pool = Self {
            lanes: lanes.into(),
            closed: Arc::new(AtomicBool::new(false)),
        };
        Ok((pool, handles))
    }

    /// Runs `f` on the least busy reader connection and hands back its result.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(unavailable());
        }
        // Ties go to the first lane, so a lightly loaded store keeps one
        // thread (and its page cache) hot instead of waking them in turn.
        let lane = self
            .lanes
            .iter()
            .min_by_key(|lane| lane.queued.load(Ordering::Relaxed))
            .ok_or_else(unavailable)?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        lane.queued.fetch_add(1, Ordering::Relaxed);
        if lane.tx.send(Msg::Run(job)).is_err() {
            lane.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(unavailable());
        }
        // A dropped sender means the pool stopped (or the job panicked).
        rx.await.map_err(|_| unavailable())?
    }

    /// Lets the threads finish queued jobs, then exit.
    pub(crate) fn stop(&self) {
        self.closed.store(true, Ordering::Release);
        for lane in self.lanes.iter() {
            let _ = lane.tx.send(Msg::Stop);
        }
    }
}

fn reader_loop(mut conn: Connection, rx: mpsc::Receiver<Msg>, queued: Arc<AtomicUsize>) {
    while let Ok(Msg::Run(job)) = rx.recv() {
        // A panicking job must not take the connection (and the thread) with it.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
            tracing::error!("a read job panicked");
        }
        queued.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn get(conn: &mut Connection, key: &str) -> Result<Option<KeyValue>> {
    let row = conn
        .prepare_cached(GET_LATEST)
        .and_then(|mut stmt| {
            stmt.query_row([key.as_bytes()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, i64>(1)?,
                ))
            })
            .optional()
        })
        .sql()?;
    Ok(row.map(|(rev, value, create)| KeyValue {
        key: key.to_string(),
        value: Bytes::from(value),
        create_revision: create,
        mod_revision: rev,
    }))
}

pub(crate) fn count(conn: &mut Connection, prefix: &str) -> Result<i64> {
    let range = KeyRange::new(prefix, None);
    conn.prepare_cached(COUNT_LATEST)
        .and_then(|mut stmt| stmt.query_row(params![range.lo, range.hi], |row| row.get(0)))
        .sql()
}

/// `limit` as SQLite wants it: one extra row tells whether there are `more`.
fn sql_limit(limit: Option<usize>) -> i64 {
    match limit {
        None | Some(0) => -1,
        Some(n) => i64::try_from(n).map_or(-1, |n| n.saturating_add(1)),
    }
}

pub(crate) fn range(conn: &mut Connection, req: &RangeRequest) -> Result<RangeResponse> {
    let tx = conn.transaction().sql()?;
    // Both counters come from the same snapshot as the rows, so the
    // response revision and the compaction check match what is returned.
    let current = meta(&tx, META_REVISION).sql()?;
    let compacted = meta(&tx, META_COMPACTED).sql()?;
    let at = match req.revision {
        Some(r) if r > 0 => r,
        _ => current,
    };
    if at > current {
        return Err(StoreError::FutureRevision {
            requested: at,
            current,
        });
    }
    if at < compacted {
        return Err(StoreError::Compacted {
            requested: at,
            compacted,
        });
    }
    let range = KeyRange::new(&req.prefix, req.start_after.as_deref());
    let limit = sql_limit(req.limit);
    let mut kvs = if at == current {
        range_latest(&tx, &range, limit)
    } else {
        range_historic(&tx, &range, at, limit)
    }?;
    let more = match req.limit {
        Some(n) if n > 0 && kvs.len() > n => {
            kvs.truncate(n);
            true
        }
        _ => false,
    };
    Ok(RangeResponse {
        kvs,
        revision: at,
        more,
    })
}

fn range_latest(conn: &Connection, range: &KeyRange, limit: i64) -> Result<Vec<KeyValue>> {
    let mut stmt = conn.prepare_cached(RANGE_LATEST).sql()?;
    let rows = stmt
        .query_map(params![range.lo, range.hi, limit], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Vec<u8>>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .sql()?;
    let mut out = Vec::new();
    for row in rows {
        let (key, rev, value, create) = row.sql()?;
        out.push(KeyValue {
            key: key_from_blob(key)?,
            value: Bytes::from(value),
            create_revision: create,
            mod_revision: rev,
        });
    }
    Ok(out)
}

/// Two steps on purpose: the grouped query is answered from `log_key_rev`
/// alone (no value blobs of superseded rows are read), then each surviving
/// row is fetched by its rowid.
fn range_historic(
    conn: &Connection,
    range: &KeyRange,
    at: Revision,
    limit: i64,
) -> Result<Vec<KeyValue>> {
    let mut pick = conn.prepare_cached(RANGE_HISTORIC_PICK).sql()?;
    let picked = pick
        .query_map(params![range.lo, range.hi, at, limit], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
        })
        .sql()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .sql()?;
    let mut fetch = conn.prepare_cached(ROW_BY_REV).sql()?;
    let mut out = Vec::with_capacity(picked.len());
    for (key, rev) in picked {
        let (value, create) = fetch
            .query_row([rev], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
            })
            .sql()?;
        out.push(KeyValue {
            key: key_from_blob(key)?,
            value: Bytes::from(value),
            create_revision: create,
            mod_revision: rev,
        });
    }
    Ok(out)
}

/// Every event in `[from, to]` on keys in `range`, rebuilt from the log.
/// `Compacted` if `from` is below the compacted revision in this snapshot.
pub(crate) fn log_events(
    conn: &mut Connection,
    range: &KeyRange,
    from: Revision,
    to: Revision,
) -> Result<Vec<Event>> {
    let tx = conn.transaction().sql()?;
    let compacted = meta(&tx, META_COMPACTED).sql()?;
    if from < compacted {
        return Err(StoreError::Compacted {
            requested: from,
            compacted,
        });
    }
    let mut stmt = tx.prepare_cached(LOG_WINDOW).sql()?;
    let rows = stmt
        .query_map(params![from, to, range.lo, range.hi], |row| {
            Ok(LogRow {
                rev: row.get(0)?,
                key: row.get(1)?,
                value: row.get(2)?,
                create_rev: row.get(3)?,
                deleted: row.get::<_, i64>(4)? != 0,
                prev_rev: row.get(5)?,
                prev_value: row.get(6)?,
                prev_create: row.get(7)?,
            })
        })
        .sql()?;
    let mut events = Vec::new();
    for row in rows {
        events.push(row.sql()?.into_event()?);
    }
    Ok(events)
}

struct LogRow {
    rev: i64,
    key: Vec<u8>,
    value: Vec<u8>,
    create_rev: i64,
    deleted: bool,
    prev_rev: Option<i64>,
    prev_value: Option<Vec<u8>>,
    prev_create: Option<i64>,
}

impl LogRow {
    fn into_event(self) -> Result<Event> {
        let key = key_from_blob(self.key)?;
        let prev = match (self.prev_rev, self.prev_value, self.prev_create) {
            (Some(rev), Some(value), Some(create)) => Some(KeyValue {
                key: key.clone(),
                value: Bytes::from(value),
                create_revision: create,
                mod_revision: rev,
            }),
            _ => None,
        };
        let (kind, value) = if self.deleted {
            (EventKind::Delete, Bytes::new())
        } else {
            (EventKind::Put, Bytes::from(self.value))
        };
        Ok(Event {
            kind,
            kv: KeyValue {
                key,
                value,
                create_revision: self.create_rev,
                mod_revision: self.rev,
            },
            prev,
        })
    }
}
