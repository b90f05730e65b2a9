//! Every statement on the hot paths, in one place so that their query plans
//! can be checked: none of them may scan the log's history.

/// A live key's newest row, through `latest` (one b-tree probe each).
pub(crate) const GET_LATEST: &str = "SELECT log.rev, log.create_rev, log.value
     FROM latest JOIN log ON log.rev = latest.rev
     WHERE latest.key = ?1";

/// Existence only: a create need not read the value it is about to refuse.
pub(crate) const KEY_EXISTS: &str = "SELECT 1 FROM latest WHERE key = ?1";

pub(crate) const COUNT_LATEST: &str = "SELECT COUNT(*) FROM latest WHERE key >= ?1 AND key < ?2";

/// Walks `latest` in key order; each row costs one rowid probe into `log`.
pub(crate) const RANGE_LATEST: &str = "SELECT latest.key, latest.rev, log.value, log.create_rev
     FROM latest JOIN log ON log.rev = latest.rev
     WHERE latest.key >= ?1 AND latest.key < ?2
     ORDER BY latest.key LIMIT ?3";

/// Each key's newest row at or below a revision, answered from the covering
/// index `log_key_rev` alone; SQLite takes `deleted` from the MAX(rev) row.
pub(crate) const RANGE_HISTORIC_PICK: &str = "SELECT key, MAX(rev), deleted FROM log
     WHERE key >= ?1 AND key < ?2 AND rev <= ?3
     GROUP BY key HAVING deleted = 0
     ORDER BY key LIMIT ?4";

pub(crate) const ROW_BY_REV: &str = "SELECT value, create_rev FROM log WHERE rev = ?1";

/// A revision window with previous values. `+l.key` keeps SQLite on the rowid
/// range: the window is bounded, while the key index could drag in the
/// prefix's whole history.
pub(crate) const LOG_WINDOW: &str = "SELECT l.rev, l.key, l.value, l.create_rev, l.deleted,
            p.rev, p.value, p.create_rev
     FROM log l LEFT JOIN log p ON l.prev_rev > 0 AND p.rev = l.prev_rev
     WHERE l.rev >= ?1 AND l.rev <= ?2 AND +l.key >= ?3 AND +l.key < ?4
     ORDER BY l.rev";

pub(crate) const APPEND_LOG: &str =
    "INSERT INTO log(rev, key, value, create_rev, prev_rev, deleted)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(crate) const SET_LATEST: &str = "INSERT INTO latest(key, rev) VALUES (?1, ?2)
     ON CONFLICT(key) DO UPDATE SET rev = excluded.rev";

pub(crate) const DELETE_LATEST: &str = "DELETE FROM latest WHERE key = ?1";

/// Rows superseded by a newer row inside the swept window `[?1, ?2)`.
pub(crate) const COMPACT_SUPERSEDED: &str = "DELETE FROM log WHERE rev IN
     (SELECT prev_rev FROM log WHERE rev >= ?1 AND rev < ?2 AND prev_rev > 0)";

pub(crate) const COMPACT_TOMBSTONES: &str =
    "DELETE FROM log WHERE rev >= ?1 AND rev < ?2 AND deleted = 1";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sqlite::schema::open_writer;

    fn plan(conn: &rusqlite::Connection, sql: &str) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let count = stmt.parameter_count();
        let params: Vec<i64> = vec![0; count];
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |row| {
                row.get::<_, String>(3)
            })
            .expect("query plan");
        rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("\n")
    }

    /// No statement may walk a whole table or sort its output: every one is
    /// a bounded b-tree search, so latest reads do not grow with history.
    #[test]
    fn hot_statements_are_indexed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_writer(&dir.path().join("plan.db"), Duration::from_secs(1)).expect("open");
        let cases = [
            (
                GET_LATEST,
                vec![
                    "latest USING PRIMARY KEY (key=?)",
                    "log USING INTEGER PRIMARY KEY",
                ],
            ),
            (KEY_EXISTS, vec!["latest USING PRIMARY KEY (key=?)"]),
            (
                COUNT_LATEST,
                vec!["latest USING PRIMARY KEY (key>? AND key<?)"],
            ),
            (
                RANGE_LATEST,
                vec![
                    "latest USING PRIMARY KEY (key>? AND key<?)",
                    "log USING INTEGER PRIMARY KEY",
                ],
            ),
            (
                RANGE_HISTORIC_PICK,
                vec!["log USING COVERING INDEX log_key_rev (key>? AND key<?)"],
            ),
            (ROW_BY_REV, vec!["log USING INTEGER PRIMARY KEY (rowid=?)"]),
            (
                LOG_WINDOW,
                vec!["l USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"],
            ),
            (DELETE_LATEST, vec!["latest USING PRIMARY KEY (key=?)"]),
            (
                COMPACT_SUPERSEDED,
                vec!["log USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"],
            ),
            (
                COMPACT_TOMBSTONES,
                vec!["log USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"],
            ),
        ];
        for (sql, wanted) in cases {
            let plan = plan(&conn, sql);
            assert!(!plan.contains("SCAN"), "full scan in {sql}:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "sort in {sql}:\n{plan}");
            for w in wanted {
                assert!(
                    plan.contains(w),
                    "expected {w:?} in the plan of {sql}:\n{plan}"
                );
            }
        }
    }
}
