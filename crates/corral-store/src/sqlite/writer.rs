//! The single writer: group commit, revision assignment, event publication
//! and incremental compaction.
//!
//! SQLite serialises writers anyway; owning the only read-write connection on
//! one thread turns that into an advantage. Everything queued while the
//! previous commit was fsyncing is applied in one transaction, so N
//! concurrent writers cost one fsync instead of N. Each request still gets its
//! own revision and its own answer: a failed compare-and-swap is just a
//! result, not an error that aborts the batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::Shared;
use super::queries::{
    APPEND_LOG, COMPACT_SUPERSEDED, COMPACT_TOMBSTONES, DELETE_LATEST, GET_LATEST, KEY_EXISTS,
    SET_LATEST,
};
use super::schema::{
    META_COMPACT_DONE, META_COMPACTED, META_REVISION, SqlResultExt, meta, set_meta, sql_err,
};
use super::watch::{Batch, Hub};
use crate::{Event, EventKind, KeyValue, Result, Revision, StoreError};

/// Revisions swept per compaction transaction, so that a large compaction
/// never holds the write lock (and queued writers) for long.
const COMPACT_CHUNK: i64 = 5_000;

pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

pub(crate) enum WriterMsg {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<KeyValue>>,
    },
    /// `reply` is `None` for the background compactor.
    Compact {
        revision: Revision,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

struct PendingCompaction {
    target: Revision,
    waiters: Vec<oneshot::Sender<Result<()>>>,
}

pub(crate) struct Writer {
    conn: Connection,
    /// Released only after `conn` is closed, when the thread ends.
    lock: std::fs::File,
    rx: mpsc::Receiver<WriterMsg>,
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    max_batch: usize,
    revision: Revision,
    compacted: Revision,
    /// Every row below this revision has already been swept.
    compact_done: Revision,
    compaction: Option<PendingCompaction>,
}

/// The persisted counters a writer resumes from.
pub(crate) struct Recovered {
    pub revision: Revision,
    pub compacted: Revision,
    pub compact_done: Revision,
}

/// Reads the counters; the revision is the larger of the persisted counter and
/// the log so it can never go backwards, even if the newest rows were compacted.
pub(crate) fn recover(conn: &Connection) -> Result<Recovered> {
    let stored = meta(conn, META_REVISION).sql()?;
    let in_log: Option<i64> = conn
        .query_row("SELECT MAX(rev) FROM log", [], |row| row.get(0))
        .optional()
        .sql()?
        .flatten();
    Ok(Recovered {
        revision: stored.max(in_log.unwrap_or(0)),
        compacted: meta(conn, META_COMPACTED).sql()?,
        compact_done: meta(conn, META_COMPACT_DONE).sql()?,
    })
}

/// The key's newest live row.
struct Current {
    rev: Revision,
    create_rev: Revision,
    value: Bytes,
}

impl Current {
    fn kv(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: self.value.clone(),
            create_revision: self.create_rev,
            mod_revision: self.rev,
        }
    }
}

/// A request's answer, held back until its batch is durable.
enum Reply {
    Write(oneshot::Sender<Result<KeyValue>>, Result<KeyValue>),
    Compact(oneshot::Sender<Result<()>>, Result<()>),
}

impl Reply {
    fn send(self) {
        // A caller that stopped waiting is no reason to fail the others.
        match self {
            Reply::Write(tx, r) => drop(tx.send(r)),
            Reply::Compact(tx, r) => drop(tx.send(r)),
        }
    }

    /// The batch was rolled back: whatever this request's own outcome was,
    /// it did not happen.
    fn fail(self, err: &StoreError) {
        match self {
            Reply::Write(tx, _) => drop(tx.send(Err(err.clone()))),
            Reply::Compact(tx, _) => drop(tx.send(Err(err.clone()))),
        }
    }
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        lock: std::fs::File,
        rx: mpsc::Receiver<WriterMsg>,
        shared: Arc<Shared>,
        hub: Arc<Hub>,
        max_batch: usize,
        recovered: Recovered,
    ) -> Self {
        // A compaction interrupted by a restart resumes where it stopped.
        let compaction =
            (recovered.compact_done < recovered.compacted).then(|| PendingCompaction {
                target: recovered.compacted,
                waiters: Vec::new(),
            });
        Self {
            conn,
            lock,
            rx,
            shared,
            hub,
            max_batch: max_batch.max(1),
            revision: recovered.revision,
            compacted: recovered.compacted,
            compact_done: recovered.compact_done,
            compaction,
        }
    }

    pub(crate) fn run(mut self) {
        let mut shutdown: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            let first = if self.compaction.is_some() {
                // Sweep between batches, but never make a waiting writer wait for it.
                match self.rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                match self.rx.blocking_recv() {
                    Some(msg) => Some(msg),
                    None => break,
                }
            };
            let mut batch = Vec::new();
            if let Some(msg) = first {
                route(msg, &mut batch, &mut shutdown);
            }
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(msg) => route(msg, &mut batch, &mut shutdown),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit_batch(batch);
            }
            if !shutdown.is_empty() {
                break;
            }
            if self.compaction.is_some() {
                self.compact_step();
            }
        }
        // Finish what was already queued (and what senders holding a permit
        // still deliver), then refuse the rest.
        self.rx.close();
        loop {
            let mut batch = Vec::new();
            while batch.len() < self.max_batch {
                match self.rx.blocking_recv() {
                    Some(msg) => route(msg, &mut batch, &mut shutdown),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            self.commit_batch(batch);
        }
        // An unfinished sweep resumes at the next open; the compacted
        // revision itself is already durable, so its callers may proceed.
        if let Some(pending) = self.compaction.take() {
            for waiter in pending.waiters {
                let _ = waiter.send(Ok(()));
            }
        }
        drop(self.conn);
        drop(self.lock);
        for done in shutdown {
            let _ = done.send(());
        }
    }

    fn commit_batch(&mut self, batch: Vec<WriterMsg>) {
        let base = self.revision;
        match self.apply_batch(batch) {
            Ok((replies, events, compacted)) => {
                let first = base + 1;
                self.shared.revision.store(self.revision, Ordering::Release);
                if let Some(c) = compacted {
                    self.compacted = c;
                    self.shared.compacted.store(c, Ordering::Release);
                }
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .writes
                    .fetch_add((self.revision - base) as u64, Ordering::Relaxed);
                // Publish before answering: a caller that saw its write
                // acknowledged and then starts a watch from "now" must not
                // receive that write again.
                if !events.is_empty() {
                    self.hub.publish(Batch {
                        first,
                        last: self.revision,
                        events,
                    });
                }
                replies.into_iter().for_each(Reply::send);
            }
            Err((replies, err)) => {
                tracing::error!(error = %err, "write batch failed and was rolled back");
                for reply in replies {
                    reply.fail(&err);
                }
            }
        }
    }

    /// Applies every request in one transaction. On a storage error nothing is
    /// committed and every request of the batch gets that error.
    #[allow(clippy::type_complexity)]
    fn apply_batch(
        &mut self,
        batch: Vec<WriterMsg>,
    ) -> Result<(Vec<Reply>, Vec<Event>, Option<Revision>), (Vec<Reply>, StoreError)> {
        let mut replies = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut new_compacted: Option<Revision> = None;
        let mut new_waiters = Vec::new();
        let mut msgs = batch.into_iter();
        let tx = match self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(e) => return Err((not_applied(msgs), sql_err(e))),
        };
        let mut rev = self.revision;
        let mut failure = None;
        for msg in msgs.by_ref() {
            match msg {
                WriterMsg::Write { op, reply } => match apply(&tx, op, &mut rev, &mut events) {
                    Ok(result) => replies.push(Reply::Write(reply, result)),
                    Err(e) => {
                        let err = sql_err(e);
                        replies.push(Reply::Write(reply, Err(err.clone())));
                        failure = Some(err);
                        break;
                    }
                },
                WriterMsg::Compact { revision, reply } => {
                    let floor = new_compacted.unwrap_or(self.compacted);
                    if revision > rev {
                        let err = StoreError::FutureRevision {
                            requested: revision,
                            current: rev,
                        };
                        if let Some(reply) = reply {
                            replies.push(Reply::Compact(reply, Err(err)));
                        }
                    } else if revision <= floor {
                        if let Some(reply) = reply {
                            replies.push(Reply::Compact(reply, Ok(())));
                        }
                    } else {
                        if let Err(e) = set_meta(&tx, META_COMPACTED, revision) {
                            let err = sql_err(e);
                            if let Some(reply) = reply {
                                replies.push(Reply::Compact(reply, Err(err.clone())));
                            }
                            failure = Some(err);
                            break;
                        }
                        new_compacted = Some(revision);
                        new_waiters.extend(reply);
                    }
                }
                WriterMsg::Shutdown { .. } => {}
            }
        }
        if failure.is_none() && rev != self.revision {
            failure = set_meta(&tx, META_REVISION, rev).err().map(sql_err);
        }
        if failure.is_none() {
            failure = tx.commit().err().map(sql_err);
        }
        if let Some(err) = failure {
            replies.extend(not_applied(msgs));
            for waiter in new_waiters {
                replies.push(Reply::Compact(waiter, Err(err.clone())));
            }
            return Err((replies, err));
        }
        self.revision = rev;
        if let Some(target) = new_compacted {
            // The sweep answers these once the superseded rows are gone.
            let pending = self.compaction.get_or_insert(PendingCompaction {
                target,
                waiters: Vec::new(),
            });
            pending.target = pending.target.max(target);
            pending.waiters.extend(new_waiters);
        }
        Ok((replies, events, new_compacted))
    }

    /// Sweeps one chunk of `[compact_done, target)`.
    ///
    /// A row is garbage once a newer row of its key exists below the target:
    /// those are exactly the `prev_rev`s of rows in the swept range. Tombstones
    /// below the target go too. Rows at or after the target, and the row each
    /// of them supersedes, stay: watches from the compacted revision need their
    /// previous values.
    fn compact_step(&mut self) {
        let Some(pending) = self.compaction.as_mut() else {
            return;
        };
        let lo = self.compact_done;
        let hi = pending.target.min(lo.saturating_add(COMPACT_CHUNK));
        let result = (|| -> rusqlite::Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(COMPACT_SUPERSEDED)?
                .execute(params![lo, hi])?;
            tx.prepare_cached(COMPACT_TOMBSTONES)?
                .execute(params![lo, hi])?;
            set_meta(&tx, META_COMPACT_DONE, hi)?;
            tx.commit()
        })();
        match result {
            Ok(()) => {
                self.compact_done = hi;
                if hi >= pending.target {
                    self.shared.compactions.fetch_add(1, Ordering::Relaxed);
                    if let Some(done) = self.compaction.take() {
                        for waiter in done.waiters {
                            let _ = waiter.send(Ok(()));
                        }
                    }
                }
            }
            Err(e) => {
                // Give up on this sweep; the next compaction resumes from
                // `compact_done`, so nothing is lost but time.
                let err = sql_err(e);
                tracing::warn!(error = %err, "compaction sweep failed");
                if let Some(failed) = self.compaction.take() {
                    for waiter in failed.waiters {
                        let _ = waiter.send(Err(err.clone()));
                    }
                }
            }
        }
    }
}

fn route(msg: WriterMsg, batch: &mut Vec<WriterMsg>, shutdown: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        WriterMsg::Shutdown { done } => shutdown.push(done),
        other => batch.push(other),
    }
}

/// Requests a failed batch never reached; they are answered with its error.
fn not_applied(msgs: impl Iterator<Item = WriterMsg>) -> Vec<Reply> {
    let skipped = || StoreError::Unavailable("batch rolled back".to_string());
    msgs.filter_map(|msg| match msg {
        WriterMsg::Write { reply, .. } => Some(Reply::Write(reply, Err(skipped()))),
        WriterMsg::Compact {
            reply: Some(reply), ..
        } => Some(Reply::Compact(reply, Err(skipped()))),
        _ => None,
    })
    .collect()
}

fn lookup(conn: &Connection, key: &str) -> rusqlite::Result<Option<Current>> {
    conn.prepare_cached(GET_LATEST)?
        .query_row([key.as_bytes()], |row| {
            Ok(Current {
                rev: row.get(0)?,
                create_rev: row.get(1)?,
                value: Bytes::from(row.get::<_, Vec<u8>>(2)?),
            })
        })
        .optional()
}

fn exists(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(KEY_EXISTS)?.exists([key.as_bytes()])
}

fn append(
    conn: &Connection,
    rev: Revision,
    key: &str,
    value: &[u8],
    create_rev: Revision,
    prev_rev: Revision,
    deleted: bool,
) -> rusqlite::Result<()> {
    conn.prepare_cached(APPEND_LOG)?.execute(params![
        rev,
        key.as_bytes(),
        value,
        create_rev,
        prev_rev,
        deleted
    ])?;
    if deleted {
        conn.prepare_cached(DELETE_LATEST)?
            .execute([key.as_bytes()])?;
    } else {
        conn.prepare_cached(SET_LATEST)?
            .execute(params![key.as_bytes(), rev])?;
    }
    Ok(())
}

/// The outer error is a storage failure (aborts the batch); the inner one is
/// this request's own outcome.
fn apply(
    conn: &Connection,
    op: WriteOp,
    rev: &mut Revision,
    events: &mut Vec<Event>,
) -> rusqlite::Result<Result<KeyValue>> {
    let conflict = |key: &str, current: &Current| StoreError::Conflict {
        key: key.to_string(),
        current: Some(Box::new(current.kv(key))),
    };
    match op {
        WriteOp::Create { key, value } => {
            if exists(conn, &key)? {
                return Ok(Err(StoreError::AlreadyExists { key }));
            }
            let next = *rev + 1;
            append(conn, next, &key, &value, next, 0, false)?;
            *rev = next;
            let kv = KeyValue {
                key,
                value,
                create_revision: next,
                mod_revision: next,
            };
            events.push(Event {
                kind: EventKind::Put,
                kv: kv.clone(),
                prev: None,
            });
            Ok(Ok(kv))
        }
        WriteOp::Update {
            key,
            value,
            expected,
        } => {
            let Some(current) = lookup(conn, &key)? else {
                return Ok(Err(StoreError::NotFound { key }));
            };
            if current.rev != expected {
                return Ok(Err(conflict(&key, &current)));
            }
            let next = *rev + 1;
            append(
                conn,
                next,
                &key,
                &value,
                current.create_rev,
                current.rev,
                false,
            )?;
            *rev = next;
            let prev = current.kv(&key);
            let kv = KeyValue {
                key,
                value,
                create_revision: current.create_rev,
                mod_revision: next,
            };
            events.push(Event {
                kind: EventKind::Put,
                kv: kv.clone(),
                prev: Some(prev),
            });
            Ok(Ok(kv))
        }
        WriteOp::Delete { key, expected } => {
            let Some(current) = lookup(conn, &key)? else {
                return Ok(Err(StoreError::NotFound { key }));
            };
            if expected.is_some_and(|e| e != current.rev) {
                return Ok(Err(conflict(&key, &current)));
            }
            let next = *rev + 1;
            append(conn, next, &key, &[], current.create_rev, current.rev, true)?;
            *rev = next;
            let prev = current.kv(&key);
            let deleted = KeyValue {
                mod_revision: next,
                ..prev.clone()
            };
            events.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    value: Bytes::new(),
                    create_revision: current.create_rev,
                    mod_revision: next,
                },
                prev: Some(prev),
            });
            Ok(Ok(deleted))
        }
    }
}
