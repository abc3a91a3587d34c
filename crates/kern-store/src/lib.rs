//! Kern's durable store: run records, the event log, checkpoints, sessions, and the run queue.
//!
//! The [`Store`] trait is the only thing the engine knows about a database. Two backends
//! implement it and pass one conformance suite:
//!
//! - [`sqlite::SqliteStore`]: the embedded default (a file in WAL mode, nothing to install);
//! - [`postgres::PostgresStore`]: for several replicas sharing the work.
//!
//! This crate does **not** interpret events or checkpoints (they are opaque JSON), run anything,
//! or know about HTTP. Everything backend-specific (`FOR UPDATE SKIP LOCKED`, `LISTEN/NOTIFY`,
//! SQLite's single writer) stays inside its backend module.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kern_store::StoreError> {
//! // "kern.db", "sqlite://path/to.db" or "postgres://user@host/db"
//! let store = kern_store::connect("kern.db").await?;
//! assert_eq!(store.backend(), "sqlite");
//! # Ok(()) }
//! ```

mod batch;
mod error;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod json_eq;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod migrate;
pub mod model;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod payload;
mod store;
pub mod time;
mod util;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod write;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use error::{DriverError, StoreError, StoreResult};
pub use model::*;
pub use store::Store;

use std::sync::Arc;

/// Where a store lives: a SQLite file or a PostgreSQL server. Made from a URL or a path:
///
/// - `postgres://…` or `postgresql://…`: PostgreSQL;
/// - `sqlite://PATH`, `sqlite:PATH`, a plain path string, or a [`Path`](std::path::Path):
///   SQLite (the file is created on first use by [`connect`], never by [`connect_existing`]).
///
/// ```
/// use kern_store::Location;
/// assert!(matches!(Location::from("postgres://u@h/db"), Location::Postgres(_)));
/// assert!(matches!(Location::from(std::path::Path::new("runs.db")), Location::Sqlite(_)));
/// assert_eq!(Location::from("sqlite://tmp/k.db"), Location::Sqlite("tmp/k.db".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl From<&str> for Location {
    fn from(url: &str) -> Self {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::Postgres(url.to_owned());
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        Self::Sqlite(path.into())
    }
}

impl From<String> for Location {
    fn from(url: String) -> Self {
        Self::from(url.as_str())
    }
}

impl From<&String> for Location {
    fn from(url: &String) -> Self {
        Self::from(url.as_str())
    }
}

impl From<&std::path::Path> for Location {
    fn from(path: &std::path::Path) -> Self {
        Self::Sqlite(path.to_owned())
    }
}

impl From<std::path::PathBuf> for Location {
    fn from(path: std::path::PathBuf) -> Self {
        Self::Sqlite(path)
    }
}

impl From<&std::path::PathBuf> for Location {
    fn from(path: &std::path::PathBuf) -> Self {
        Self::Sqlite(path.clone())
    }
}

/// Opens the store at `location` (a URL, a path, or a [`Location`]), applying migrations. A
/// SQLite file that does not exist is created, with its directory.
pub async fn connect(location: impl Into<Location>) -> StoreResult<Arc<dyn Store>> {
    open(location.into(), true).await
}

/// Opens the store at `location` if it exists, applying migrations: what client tools (a
/// command that lists or inspects runs) want, so that a mistyped path is an error instead of a
/// new, empty database. A SQLite file that does not exist is refused with
/// [`StoreError::DatabaseNotFound`], and nothing is created (no file, no directory). A
/// PostgreSQL database is never created by Kern: [`connect`] and this function both fail to
/// connect to one that does not exist.
///
/// ```no_run
/// # async fn demo() {
/// match kern_store::connect_existing("no/such/kern.db").await {
///     Err(kern_store::StoreError::DatabaseNotFound(path)) => eprintln!("no database at {}", path.display()),
///     other => { other.unwrap(); }
/// }
/// # }
/// ```
pub async fn connect_existing(location: impl Into<Location>) -> StoreResult<Arc<dyn Store>> {
    open(location.into(), false).await
}

async fn open(location: Location, create: bool) -> StoreResult<Arc<dyn Store>> {
    match location {
        Location::Postgres(url) => {
            #[cfg(feature = "postgres")]
            return Ok(Arc::new(postgres::PostgresStore::connect(&url).await?));
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::Config(format!(
                "this build of Kern has no PostgreSQL support (feature `postgres`) for {url:?}"
            )));
        }
        Location::Sqlite(path) => {
            if path.as_os_str().is_empty() {
                return Err(StoreError::Config("empty database path".into()));
            }
            sqlite_store(path, create).await
        }
    }
}

#[cfg(feature = "sqlite")]
async fn sqlite_store(path: std::path::PathBuf, create: bool) -> StoreResult<Arc<dyn Store>> {
    let mut options = sqlite::SqliteOptions::new(path);
    options.create = create;
    Ok(Arc::new(sqlite::SqliteStore::open_with(options).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite_store(_path: std::path::PathBuf, _create: bool) -> StoreResult<Arc<dyn Store>> {
    Err(StoreError::Config(
        "this build of Kern has no SQLite support (feature `sqlite`)".into(),
    ))
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_existing_refuses_a_missing_sqlite_file_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing_dir = dir.path().join("typo");
        let path = missing_dir.join("kern.db");
        match connect_existing(path.as_path()).await {
            Err(StoreError::DatabaseNotFound(p)) => assert_eq!(p, path),
            Err(e) => panic!("expected DatabaseNotFound, got {e}"),
            Ok(_) => panic!("a missing database was opened"),
        }
        assert!(!missing_dir.exists(), "nothing is created");
        let in_dir = dir.path().join("kern.db");
        let err = connect_existing(format!("sqlite://{}", in_dir.display()))
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("no database at"), "{err}");
        assert!(!in_dir.exists());

        // `connect` creates it (directory included); `connect_existing` then opens it.
        let store = connect(path.as_path()).await.unwrap();
        store.close().await;
        assert!(path.exists());
        let store = connect_existing(path.as_path()).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        assert!(store.get_run(new_run_id()).await.unwrap().is_none());
        store.close().await;
    }
}
