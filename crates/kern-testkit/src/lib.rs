//! Test support shared by the workspace's tests: a fresh, isolated store per test on each
//! backend ([`TestDb`], [`both_backends!`]), waiting on a condition with a deadline
//! ([`wait_until`], [`wait_for`] and their blocking twins), an engine for tests and what they
//! read back from it ([`engine`], [`stored`], [`finished`], [`assert_gapless`]), checks on a
//! run's log ([`assert_joined_content`]), a store that counts what is asked of it
//! ([`CountingStore`]), and the plumbing of crash tests ([`crash`]).
//!
//! It does not start servers or the `kern` binary, and knows no HTTP or SSE: those helpers
//! belong to `kern-server` and `kern-cli`, whose tests keep them in their own `tests/common`
//! (this crate depends on `kern-store` and `kern-core` only, the layers every crate's tests
//! share).
//!
//! PostgreSQL tests use the server named by `KERN_TEST_PG_URL` (the repo's `scripts/test`
//! starts one and sets it). Each test gets its own schema, so tests run in parallel without
//! seeing each other. When the variable is unset, PostgreSQL tests print a notice and pass
//! vacuously, unless `KERN_REQUIRE_PG=1` (set by `scripts/test` and CI), which makes a missing
//! server a failure.

mod counting;
pub mod crash;
mod events;
mod runs;
mod wait;
pub use counting::CountingStore;
pub use events::{assert_joined_content, kept_events};
pub use runs::{
    assert_gapless, assert_gapless_payloads, children, collect, engine, engine_on, finished, json,
    names, stored, RUN_TIMEOUT,
};
pub use wait::{wait_for, wait_for_blocking, wait_until, wait_until_blocking};

use kern_store::postgres::{PostgresOptions, PostgresStore};
use kern_store::sqlite::SqliteStore;
use kern_store::Store;
use std::sync::Arc;

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh schema in the test PostgreSQL server.
    Postgres,
}

/// A store for one test, and what keeps it alive.
pub struct TestDb {
    /// The store.
    pub store: Arc<dyn Store>,
    /// A URL another process can open to reach the same data (a file path for SQLite; a
    /// PostgreSQL URL with the test's schema in `options`).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The test PostgreSQL server's URL, or `None` (after printing why) when tests should skip.
///
/// # Panics
/// When `KERN_REQUIRE_PG=1` and `KERN_TEST_PG_URL` is unset.
pub fn pg_url() -> Option<String> {
    match std::env::var("KERN_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("KERN_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("KERN_REQUIRE_PG=1 but KERN_TEST_PG_URL is unset: start PostgreSQL with scripts/pg start");
            }
            eprintln!("note: KERN_TEST_PG_URL is unset; skipping the PostgreSQL variant (run scripts/test for the full suite)");
            None
        }
    }
}

/// Creates an empty schema for one test and returns a URL whose connections use it.
pub async fn pg_schema_url(base: &str) -> String {
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL server");
    let handle = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create test schema");
    drop(client);
    let _ = handle.await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

impl TestDb {
    /// A fresh store on `backend`, or `None` when PostgreSQL is not configured (see
    /// [`pg_url`]).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("kern.db");
                let store = SqliteStore::open(&path).await.expect("open sqlite");
                Some(Self {
                    store: Arc::new(store),
                    url: path.display().to_string(),
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let url = pg_schema_url(&pg_url()?).await;
                let store = PostgresStore::connect_with(PostgresOptions::new(&url))
                    .await
                    .expect("open postgres store");
                Some(Self {
                    store: Arc::new(store),
                    url,
                    _dir: None,
                })
            }
        }
    }

    /// Opens a second, independent store on the same data (as another process would).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        kern_store::connect(&self.url).await.expect("reopen store")
    }
}

/// Generates one `#[tokio::test]` per backend from an `async fn(Backend)`.
///
/// ```ignore
/// async fn claims_once(backend: Backend) { /* … */ }
/// kern_testkit::both_backends!(claims_once);
/// ```
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name($crate::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name($crate::Backend::Postgres).await }
            )*
        }
    };
}
