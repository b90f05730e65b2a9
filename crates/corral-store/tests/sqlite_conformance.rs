//! The backend conformance suite, run on `SqliteStore`: one test per case,
//! each on a fresh database in its own temporary directory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corral_store::Store;
use corral_store::conformance;
use corral_store::sqlite::{SqliteOptions, SqliteStore};

macro_rules! sqlite_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = SqliteStore::open(&dir.path().join("store.db"), SqliteOptions::default())
                    .expect("open");
                conformance::$case(store.clone()).await;
                store.shutdown().await;
            }
        )*

        /// Fails when a case is added to the suite but not listed here.
        #[test]
        fn every_case_is_listed() {
            let listed = [$(stringify!($case)),*];
            let all: Vec<&str> = conformance::cases().into_iter().map(|(name, _)| name).collect();
            assert_eq!(listed.to_vec(), all);
        }
    };
}

sqlite_cases!(
    revisions_strictly_increase,
    create_existing_is_already_exists,
    stale_revision_conflicts,
    missing_key_not_found,
    get_latest,
    range_prefix_isolation,
    range_pagination,
    range_historic,
    range_future_revision,
    watch_replays_history_then_live,
    watch_prefix_filtering,
    watch_from_now,
    watch_future_revision,
    concurrent_writers_and_watchers,
    compaction,
    delete_event_carries_prev,
    count_prefix,
);

/// `run_all` itself, with stores that are dropped rather than shut down, and
/// with a one-event watch buffer so that watches are served from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_with_small_watch_buffer() {
    let root = tempfile::tempdir().expect("tempdir");
    let seq = AtomicUsize::new(0);
    conformance::run_all(|| {
        let path = root
            .path()
            .join(format!("{}.db", seq.fetch_add(1, Ordering::Relaxed)));
        async move {
            let options = SqliteOptions {
                watch_buffer: 1,
                ..SqliteOptions::default()
            };
            SqliteStore::open(&path, options).expect("open") as Arc<dyn Store>
        }
    })
    .await;
}
