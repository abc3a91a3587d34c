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

#![warn(missing_docs)]

mod batch;
mod error;
pub mod model;
mod store;
mod util;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use error::{StoreError, StoreResult};
pub use model::*;
pub use store::Store;

use std::sync::Arc;

/// Opens the store a database URL names, applying migrations:
///
/// - `postgres://…` or `postgresql://…`: PostgreSQL;
/// - `sqlite://PATH`, `sqlite:PATH` or a plain file path: SQLite (created on first use).
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(Arc::new(postgres::PostgresStore::connect(url).await?));
        #[cfg(not(feature = "postgres"))]
        return Err(StoreError::Config(
            "this build of Kern has no PostgreSQL support (feature `postgres`)".into(),
        ));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() {
        return Err(StoreError::Config("empty database path".into()));
    }
    #[cfg(feature = "sqlite")]
    return Ok(Arc::new(sqlite::SqliteStore::open(path).await?));
    #[cfg(not(feature = "sqlite"))]
    return Err(StoreError::Config(
        "this build of Kern has no SQLite support (feature `sqlite`)".into(),
    ));
}
