//! Table layout, connection setup and the small helpers every SQLite module shares.
//!
//! Layout (kine-style):
//! - `log` is the append-only revision log. Its `rev` is the rowid, so a
//!   replay of a revision window is a contiguous b-tree walk. `prev_rev`
//!   points at the row this one superseded (0 for a create), which is what
//!   lets watch events carry previous values and lets compaction find
//!   superseded rows without scanning history.
//! - `log_key_rev` on `(key, rev, deleted)` answers "the value of each key as
//!   of revision R" from the index alone (historic ranges, i.e. Kubernetes'
//!   paginated lists).
//! - `latest` maps every live key to its newest `rev`, maintained in the same
//!   transaction as the log. Latest gets, ranges and counts walk only this
//!   table, so their cost does not grow with the amount of retained history.
//! - `meta` persists the revision counter (which must survive compaction of
//!   the newest rows), the compacted revision and compaction progress.
//!
//! Keys are stored as BLOBs so that prefix ranges are plain byte ranges
//! (`key >= prefix AND key < successor(prefix)`), which SQLite serves from an
//! index; UTF-8 guarantees the successor never overflows.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use crate::{Revision, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        BLOB    NOT NULL,
    value      BLOB    NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    deleted    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_rev ON log(key, rev, deleted);
CREATE TABLE IF NOT EXISTS latest (
    key BLOB PRIMARY KEY,
    rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(name, value) VALUES
    ('schema_version', 1),
    ('revision', 0),
    ('compacted', 0),
    ('compact_done', 0);
";

pub(crate) const META_REVISION: &str = "revision";
pub(crate) const META_COMPACTED: &str = "compacted";
pub(crate) const META_COMPACT_DONE: &str = "compact_done";

/// Opens the single read-write connection and brings the schema up to date.
pub(crate) fn open_writer(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(sql_err)?;
    conn.busy_timeout(busy_timeout).map_err(sql_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sql_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!(
            "could not enable WAL journal mode (got {mode:?})"
        )));
    }
    // FULL makes SQLite fsync the WAL at every commit, so an acknowledged
    // write survives power loss; group commit is what keeps this affordable.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql_err)?;
    // Bound the WAL file after checkpoints instead of letting it keep its
    // high-water size forever.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(sql_err)?;
    // The writer's cache holds the hot index pages it updates; 8 MiB is plenty.
    conn.pragma_update(None, "cache_size", -8_192)
        .map_err(sql_err)?;
    conn.execute_batch(SCHEMA).map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Two stores on one file would each hand out revisions from their own
/// counter. SQLite's own locks only serialise the transactions, so an
/// advisory lock beside the database makes a second open fail instead.
/// The writer holds the returned file until it has closed its connection.
pub(crate) fn lock_exclusive(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            StoreError::Unavailable(format!("open {}: {e}", Path::new(&lock_path).display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "{} is already open in another store",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "lock {}: {e}",
            Path::new(&lock_path).display()
        ))),
    }
}

/// Opens a read-only connection; the writer must have created the database first.
pub(crate) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(sql_err)?;
    conn.busy_timeout(busy_timeout).map_err(sql_err)?;
    // Readers map the file instead of copying pages into a private cache per
    // connection: the pages live once, in the kernel's page cache, shared by
    // every reader and reclaimable under memory pressure. A private cache of
    // 16 MiB per reader made server memory grow with read traffic.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)
        .map_err(sql_err)?;
    conn.pragma_update(None, "cache_size", -1_024)
        .map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Busy/locked and I/O-level failures may go away on retry, so callers see
/// them as `Unavailable`; anything else points at a bug or corruption.
pub(crate) fn sql_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        match failure.code {
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::OutOfMemory => {
                return StoreError::Unavailable(format!("sqlite: {e}"));
            }
            _ => {}
        }
    }
    StoreError::Internal(format!("sqlite: {e}"))
}

/// `.sql()?` instead of `.map_err(sql_err)?` on every statement.
pub(crate) trait SqlResultExt<T> {
    fn sql(self) -> Result<T, StoreError>;
}

impl<T> SqlResultExt<T> for rusqlite::Result<T> {
    fn sql(self) -> Result<T, StoreError> {
        self.map_err(sql_err)
    }
}

pub(crate) fn unavailable() -> StoreError {
    StoreError::Unavailable("the store is shut down".to_string())
}

pub(crate) fn meta(conn: &Connection, name: &str) -> rusqlite::Result<Revision> {
    let value = conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([name], |row| row.get::<_, i64>(0))
        .optional()?;
    Ok(value.unwrap_or(0))
}

pub(crate) fn set_meta(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    )?
    .execute(rusqlite::params![name, value])?;
    Ok(())
}

/// Stored keys are written from `&str`, so a non-UTF-8 key means corruption.
pub(crate) fn key_from_blob(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes)
        .map_err(|_| StoreError::Internal("stored key is not valid UTF-8".to_string()))
}

/// A half-open byte range `[lo, hi)` of keys.
#[derive(Clone, Debug)]
pub(crate) struct KeyRange {
    pub lo: Vec<u8>,
    pub hi: Vec<u8>,
}

impl KeyRange {
    /// Keys under `prefix`, and strictly after `start_after` when given.
    pub(crate) fn new(prefix: &str, start_after: Option<&str>) -> Self {
        let mut lo = prefix.as_bytes().to_vec();
        if let Some(after) = start_after {
            // The smallest byte string greater than `after` is `after` + NUL.
            let mut succ = after.as_bytes().to_vec();
            succ.push(0);
            if succ > lo {
                lo = succ;
            }
        }
        Self {
            lo,
            hi: prefix_end(prefix),
        }
    }
}

/// The first byte string greater than every string starting with `prefix`.
/// UTF-8 never contains 0xFF, so `[0xFF]` bounds every key when the prefix is empty.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xFF]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_range_bounds() {
        let r = KeyRange::new("/a/", None);
        assert_eq!(r.lo, b"/a/".to_vec());
        assert_eq!(r.hi, b"/a0".to_vec());
        assert!(b"/ab/x".as_slice() >= r.hi.as_slice());
        let r = KeyRange::new("", None);
        assert_eq!(r.hi, vec![0xFF]);
        let r = KeyRange::new("/a/", Some("/a/k"));
        assert_eq!(r.lo, b"/a/k\0".to_vec());
        let r = KeyRange::new("/b/", Some("/a/k"));
        assert_eq!(r.lo, b"/b/".to_vec());
    }
}
